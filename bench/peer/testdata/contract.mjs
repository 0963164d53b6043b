// contract.mjs URL: drives the bench peer (server.mjs) at URL with the real
// socket.io-client through the join/publish/receive contract and prints one
// JSON line per step with what it saw; bench/peer_test.go checks the lines.
import { io } from "socket.io-client";

const url = process.argv[2];
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const opts = { forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 100 };

// next resolves to the arguments of the next `type` event socket receives.
const next = (socket, type) => new Promise((resolve) => socket.once(type, (...args) => resolve(args)));
const connected = (socket) => new Promise((resolve) => (socket.connected ? resolve() : socket.once("connect", resolve)));
const withTimeout = (p, what) =>
  Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), 10000).unref())]);
// seen keeps what a socket received, for the steps that look back.
const record = (socket) => {
  const seen = [];
  socket.onAny((type, data, meta) => seen.push({ type, data, meta }));
  return seen;
};

const a = io(url, { ...opts, transports: ["websocket"] });
const b = io(url, { ...opts, transports: ["polling"] });
const aSeen = record(a);
await withTimeout(Promise.all([connected(a), connected(b)]), "connect");

out({ step: "join", a: await a.emitWithAck("room:join", { room: "r1" }), b: await b.emitWithAck("room:join", { room: "r1" }) });

// Published over Socket.IO: acked with an offset, delivered to both with meta.
let got = Promise.all([next(a, "chat:message"), next(b, "chat:message")]);
const ack = await a.emitWithAck("chat:message", { room: "r1", text: "hi" });
let [[aData, aMeta, aToken], [bData, bMeta]] = await withTimeout(got, "socket publish delivery");
out({ step: "publish", ack, a: { data: aData, meta: aMeta, token: typeof aToken }, b: { data: bData, meta: bMeta } });

// Published over HTTP: the same broadcast.
got = next(b, "chat:message");
const res = await fetch(`${url}/api/rooms/r1/events`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ type: "chat:message", data: { text: "over http" } }),
});
const body = await res.json();
[bData, bMeta] = await withTimeout(got, "http publish delivery");
out({ step: "http", status: res.status, body, b: { data: bData, meta: bMeta } });

// A dropped connection comes back recovered: same id, rooms kept, and the
// events published while it was away.
const sid = a.id;
a.io.reconnection(false);
const dropped = next(a, "disconnect");
a.io.engine.close();
const [reason] = await withTimeout(dropped, "disconnect");
const missed = [];
for (const n of [1, 2]) missed.push((await b.emitWithAck("chat:message", { room: "r1", n })).offset);
got = new Promise((resolve) => {
  const offsets = [];
  a.on("chat:message", (data, meta) => {
    offsets.push(meta.offset);
    if (offsets.length === missed.length) resolve(offsets);
  });
});
a.connect();
await withTimeout(connected(a), "reconnect");
out({ step: "recover", reason, recovered: a.recovered, sameId: a.id === sid, missed, got: await withTimeout(got, "missed events") });
a.off("chat:message");

// Joining with `after` replays the room's stored events first, in order.
const c = io(url, { ...opts, transports: ["websocket"] });
const replayed = [];
const all = new Promise((resolve) =>
  c.on("chat:message", (data, meta) => {
    replayed.push(meta.offset);
    if (replayed.length === 4) resolve();
  }),
);
await withTimeout(connected(c), "connect c");
const cJoin = await c.emitWithAck("room:join", { room: "r1", after: 0 });
await withTimeout(all, "replay");
out({ step: "replay", ack: cJoin, offsets: replayed });

// After room:leave a socket gets nothing more from that room: it sees the
// event of the room it is still in, and not the one published before it.
const leave = await a.emitWithAck("room:leave", { room: "r1" });
await a.emitWithAck("room:join", { room: "r2" });
got = next(a, "chat:message");
await b.emitWithAck("chat:message", { room: "r1", text: "gone" });
await b.emitWithAck("chat:message", { room: "r2", text: "here" });
const [r2Data] = await withTimeout(got, "r2 delivery");
out({ step: "leave", ack: leave, next: r2Data, sawGone: aSeen.some((e) => e.data?.text === "gone") });

// A publish without a room is refused in its ack; the connection stays.
out({ step: "bad", ack: await a.emitWithAck("chat:message", { text: "no room" }), connected: a.connected });

for (const s of [a, b, c]) s.disconnect();
