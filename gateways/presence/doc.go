// Package presence tracks who is in which room over every transport that
// holds a connection (Socket.IO sockets, SSE streams, long-poll clients
// whose polls keep coming) and announces arrivals and departures as
// ephemeral presence:join and presence:leave events to the subscriptions
// of the room that asked for them (OptIn; room:join {presence: true},
// presence=1 on SSE and long-poll), or to all with Config.Events. One Registry
// is built by the command and given to each gateway; it counts
// connections per room, user and transport in a Store (in memory on one
// node: a restart starts empty; across nodes, a Cluster that sums every
// live node's entries on a shared Board), keeps long-poll clients present for a
// grace after their last poll with one deadline scheduler, and answers
// the presence lists of GET /api/rooms/{room}/presence and Socket.IO's
// room:presence. The gateways check the auth.Presence permission.
package presence
