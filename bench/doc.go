// Package bench holds the side-by-side benchmark of rtbroker against the
// reference Node Socket.IO server: peer/ is that server (server.mjs, its own
// package.json), run.sh runs every scenario of cmd/rtbench against both and
// writes results/<date>.md. The package's tests check the peer keeps the
// same join/publish/receive contract as rtbroker, with the real
// socket.io-client; the benchmark itself never runs in tests.
package bench
