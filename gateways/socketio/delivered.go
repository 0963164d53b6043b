package socketio

// Delivered returns how many events were read for sockets to be sent since
// the start (one atomic add per batch a connection reads, none per event).
// Safe for concurrent use; for metrics.
func (g *Gateway) Delivered() int64 { return g.delivered.Load() }

// SocketsByNamespace returns how many sockets are connected in each
// namespace that has any. It takes the gateway's lock for a pass over the
// sockets: for metrics scrapes, not for a hot path.
func (g *Gateway) SocketsByNamespace() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int)
	for _, m := range g.members {
		out[m.ns.name]++
	}
	return out
}
