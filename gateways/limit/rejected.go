package limit

// Rejected returns how many requests Allow refused since the start; 0 for
// nil (no limit). Safe for concurrent use; for metrics.
func (b *Buckets) Rejected() int64 {
	if b == nil {
		return 0
	}
	return b.rejected.Load()
}

// Rejected returns how many connections Acquire refused since the start;
// 0 for nil (no cap). Safe for concurrent use; for metrics.
func (c *Conns) Rejected() int64 {
	if c == nil {
		return 0
	}
	return c.rejected.Load()
}

// Rejected returns how many requests were refused because their
// connection was over the per-IP cap since the start; 0 for nil (no cap).
// Safe for concurrent use; for metrics.
func (s *Sockets) Rejected() int64 {
	if s == nil {
		return 0
	}
	return s.conns.Rejected()
}
