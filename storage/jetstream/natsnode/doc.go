// Package natsnode runs a NATS server with JetStream inside the rtbroker
// process, so that several rtbroker processes form a JetStream cluster of
// their own with nothing else deployed (rtbroker serve --store jetstream
// without --nats-url; --cluster-listen and --cluster-peers for a cluster).
// It is configuration and lifecycle only: replication, leader election
// and storage are nats-server's.
//
// Start returns once the server accepts connections and, in a cluster,
// once JetStream has a meta leader (a majority of the peers up), or fails
// within Config.StartTimeout with an error that says what is missing; a
// fatal error of the server (a port in use) fails it at once. Connect
// gives an in-process connection; Shutdown stops the server and waits.
package natsnode
