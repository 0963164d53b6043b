// Package limit holds the abuse limits the gateways share: token buckets
// that cap how fast an identity publishes and how often a client IP
// address opens connections (Buckets, Connects), and a count of open
// connections per client IP address (Conns). A command builds one of each
// and hands it to every gateway, so that a client's publishes over REST
// and Socket.IO draw from one bucket and its SSE streams, long-polls and
// Socket.IO sessions count against one cap and one connect rate. All keep
// memory bounded: buckets are evicted once idle (lazily, no goroutine),
// and a connection count is removed when it drops to zero.
package limit
