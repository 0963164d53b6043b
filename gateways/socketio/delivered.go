package socketio

// Delivered returns how many events were written to sockets since the
// start (one atomic add per batch a socket writes, none per event). Safe
// for concurrent use; for metrics.
func (g *Gateway) Delivered() int64 { return g.deliveries.Events() }

// DeliveredBytes returns how many bytes of event packets were written to
// sockets since the start (without Engine.IO's framing). Safe for
// concurrent use; for metrics.
func (g *Gateway) DeliveredBytes() int64 { return g.deliveries.Bytes() }

// SocketsByEngine returns how many sockets are connected in each
// namespace over each Engine.IO transport (polling, websocket): for
// metrics scrapes (a pass over the connections), not for a hot path.
func (g *Gateway) SocketsByEngine() map[[2]string]int {
	out := make(map[[2]string]int)
	for _, e := range g.conns.Snapshot() {
		out[[2]string{e.Namespace(), e.Engine()}]++
	}
	return out
}

// SocketsByNamespace returns how many sockets are connected in each
// namespace that has any: for metrics scrapes (a pass over the
// connections), not for a hot path.
func (g *Gateway) SocketsByNamespace() map[string]int {
	out := make(map[string]int)
	for _, e := range g.conns.Snapshot() {
		out[e.Namespace()]++
	}
	return out
}
