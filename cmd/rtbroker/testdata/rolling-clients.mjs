// rolling-clients.mjs URL ROOM_A ROOM_B: the Socket.IO side of
// TestRollingRestart, with the real socket.io-client. Two subscriber
// sockets (WebSocket only, and HTTP long-polling only) join both rooms
// from the start and record every chat:message (offset and id) and every
// reconnection (socket.recovered); a third socket publishes to ROOM_B on
// command, each publish awaiting its ack. Commands on stdin:
//   publish           start publishing (one at a time, acked or timed out)
//   stop              stop publishing; prints {phase: "published", acked, lost}
//   expect OFFSET     once every subscriber has received OFFSET, prints
//                     {phase: "received", sockets: [{name, events, reconnects}]}
// It prints {phase: "ready"} once the subscribers have joined.
import { io } from "socket.io-client";
import readline from "node:readline";

const [url, roomA, roomB] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const opts = { reconnectionDelay: 100, reconnectionDelayMax: 400, randomizationFactor: 0 };

const subs = ["websocket", "polling"].map((transport) => {
  const s = { name: transport, events: [], reconnects: [], socket: io(url, { ...opts, transports: [transport], forceNew: true }) };
  s.joined = new Promise((resolve) => {
    s.socket.on("connect", async () => {
      if (s.events.length === 0 && !s.socket.recovered && !s.didJoin) {
        s.didJoin = true;
        for (const room of [roomA, roomB]) {
          const ack = await s.socket.emitWithAck("room:join", { room, after: 0 });
          if (!ack.ok) out({ phase: "error", name: s.name, ack });
        }
        resolve();
      } else {
        s.reconnects.push({ recovered: s.socket.recovered });
      }
    });
  });
  s.socket.on("chat:message", (data, meta) => s.events.push([meta.offset, meta.id]));
  s.socket.on("reset", (r) => out({ phase: "error", name: s.name, reset: r }));
  return s;
});

const pub = io(url, { ...opts, transports: ["websocket"], forceNew: true });
let publishing = false;
let loopDone = Promise.resolve();
const acked = [];
let lost = 0;
async function publishLoop() {
  for (let n = 0; publishing; n++) {
    if (!pub.connected) {
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    try {
      const ack = await pub.timeout(3000).emitWithAck("chat:message", { room: roomB, from: "sio", n });
      if (ack.ok) acked.push([ack.offset, ack.id]);
      else lost++;
    } catch {
      lost++; // no ack: the event may or may not be in the log
    }
  }
}

await Promise.all(subs.map((s) => s.joined));
out({ phase: "ready" });

let expecting = 0;
const check = () => {
  if (expecting && subs.every((s) => s.events.some(([o]) => o >= expecting))) {
    out({ phase: "received", sockets: subs.map((s) => ({ name: s.name, events: s.events, reconnects: s.reconnects })) });
    expecting = 0;
  }
};
setInterval(check, 20);
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, arg] = line.split(" ");
  if (cmd === "publish") {
    publishing = true;
    loopDone = publishLoop();
  } else if (cmd === "stop") {
    publishing = false;
    loopDone.then(() => out({ phase: "published", acked, lost })); // after the last publish's ack or timeout
  } else if (cmd === "expect") {
    expecting = Number(arg);
  } else if (cmd === "quit") {
    process.exit(0);
  }
});
