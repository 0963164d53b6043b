package sse

// Delivered returns how many events were written to streams since the
// start (one atomic add per batch a stream writes, none per event). Safe
// for concurrent use; for metrics.
func (h *Handler) Delivered() int64 { return h.deliveries.Events() }

// DeliveredBytes returns how many bytes of events were written to streams
// since the start (their frames; not heartbeats and hints). Safe for
// concurrent use; for metrics.
func (h *Handler) DeliveredBytes() int64 { return h.deliveries.Bytes() }
