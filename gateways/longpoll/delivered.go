package longpoll

// Delivered returns how many events were read for polls to be sent since
// the start (one atomic add per batch a connection reads, none per event).
// Safe for concurrent use; for metrics.
func (h *Handler) Delivered() int64 { return h.delivered.Load() }
