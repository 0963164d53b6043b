// Command bench runs rtbroker side by side with the reference Node
// Socket.IO server (peer/server.mjs, with its own package.json): every
// scenario of cmd/rtbench against both servers in turn, three repetitions,
// server pinned to core 0 and load to core 1, and writes the medians as a
// markdown table to results/<date>.md with the raw results beside it.
// Start it with bench/run.sh (or make bench) from anywhere; --help lists
// its flags.
//
// bench/cluster.sh, a script beside it, runs cmd/rtbench against three
// rtbroker nodes with NATS embedded (R3) and one node on bbolt in the same
// run (README: "Three nodes against one").
//
// Its tests check that the peer keeps the same join/publish/receive
// contract as rtbroker, with the real socket.io-client, and the report
// arithmetic; the benchmark itself never runs in tests.
package main
