// cluster-sio.mjs URL COUNT ROOMS [POLLING]: COUNT socket.io-client
// sockets that each join the comma-separated ROOMS and record every "chat"
// and "end" event. The last POLLING of them (default 0) use Engine.IO
// HTTP long-polling only, with a cookie jar (withCredentials), so that a
// load balancer can keep each session on one node by cookie; the others
// use WebSocket only, which needs no stickiness.
// Prints {"phase":"ready"} once all have joined, {"phase":"connect", ...}
// for every reconnection (with socket.recovered), and, once every socket
// has received an "end" event in every room, one report:
// {"phase":"report","sockets":[{"events":[{room,offset,id}],"connects":[...]}]}.
// A socket that reconnects without recovery joins its rooms again from the
// last offset it received (the test then fails on recovered === false, but
// still sees what arrived).
import { io } from "socket.io-client";

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const [url, count, roomList, pollingArg = "0"] = process.argv.slice(2);
const polling = Number(pollingArg);
const rooms = roomList.split(",");
const states = [];
let joined = 0;

let reported = false;
function maybeReport() {
  if (!reported && states.every((s) => s.ends.size === rooms.length)) {
    reported = true;
    for (const s of states) s.socket.disconnect();
    // exit once the report is written: a pipe is written asynchronously
    const report = JSON.stringify({ phase: "report", sockets: states.map((s) => ({ events: s.events, connects: s.connects })) });
    process.stdout.write(report + "\n", () => process.exit(0));
  }
}

for (let i = 0; i < Number(count); i++) {
  const transport = i >= Number(count) - polling ? { transports: ["polling"], withCredentials: true } : { transports: ["websocket"] };
  const socket = io(url, { ...transport, forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500 });
  const s = { socket, events: [], connects: [], ends: new Set(), last: {} };
  states.push(s);
  socket.on("connect", async () => {
    const first = s.connects.length === 0;
    s.connects.push({ sid: socket.id, recovered: socket.recovered, transport: socket.io.engine.transport.name });
    if (!first) out({ phase: "connect", socket: i, recovered: socket.recovered });
    if (first || !socket.recovered) {
      for (const room of rooms) {
        const arg = s.last[room] !== undefined ? { room, after: s.last[room] } : { room };
        // As an application would: a join refused "unavailable" (the
        // cluster electing a leader) is tried again, for up to 30 s.
        let ack;
        for (let tries = 0; tries < 60; tries++) {
          ack = await socket.timeout(20000).emitWithAck("room:join", arg).catch((err) => ({ error: err.message }));
          if (ack?.error?.code !== "unavailable") break;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        if (!ack || ack.ok !== true) out({ phase: "join-error", socket: i, room, ack });
      }
      if (first && ++joined === states.length) out({ phase: "ready" });
    }
  });
  const record = (event) => (data, meta) => {
    if (!meta || typeof meta.offset !== "number") return;
    s.events.push({ event, room: meta.room, offset: meta.offset, id: meta.id });
    s.last[meta.room] = meta.offset;
    if (event === "end") {
      s.ends.add(meta.room);
      maybeReport();
    }
  };
  socket.on("chat", record("chat"));
  socket.on("end", record("end"));
}
