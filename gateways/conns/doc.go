// Package conns keeps the list of a gateway's open client connections
// (SSE streams, held long-polls, Socket.IO sockets) for the operators'
// admin API: who is connected, to which rooms, how far behind, and a way
// to end one connection the transport's normal way, so that the client
// reconnects and resumes.
//
// Each client-facing gateway owns one Registry and exposes it; cmd wires
// the registries of every gateway into the admin routes, so no gateway
// imports another. A connection costs one map entry while it is open;
// nothing is done per event. Deliveries counts what the gateways send
// (events, bytes, a sampled publish→deliver latency) for the metrics.
package conns
