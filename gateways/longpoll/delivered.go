package longpoll

// Delivered returns how many events were answered to polls since the
// start (one atomic add per answer, none per event). Safe for concurrent
// use; for metrics.
func (h *Handler) Delivered() int64 { return h.deliveries.Events() }

// DeliveredBytes returns how many bytes of events were answered to polls
// since the start (the events' JSON). Safe for concurrent use; for
// metrics.
func (h *Handler) DeliveredBytes() int64 { return h.deliveries.Bytes() }
