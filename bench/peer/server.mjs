// The reference Node Socket.IO server rtbroker is benchmarked against
// (bench/run.sh). It is what a Socket.IO tutorial user would write for
// rtbroker's join/publish/receive contract, with Socket.IO's own connection
// state recovery, and nothing tuned beyond the settings a fair comparison
// needs (noted where they are set):
//
//   room:join {room, after?}  → ack {ok: true, room, head}; with `after`, the
//                               room's stored events after that offset first
//   room:leave {room}         → ack {ok: true, room}
//   <type> {room, ...data}    → broadcast to the room as (data, meta), ack
//                               {ok: true, offset, id}; meta = {room, offset,
//                               id, time, from}; offsets come from one counter
//   POST /api/rooms/R/events  {type, data} → 201 {offset, id, room, type,
//                               data, time, from}; a JSON array → 201 {events}
//   GET /api/rooms            → 200 {rooms: [{room, head, first, count}], head}:
//                               what each room holds (rtbench replay reads it)
//   GET /healthz              → 200 {status: "ok", head}
//
// Events live in memory only (the last --history per room): unlike rtbroker
// nothing is durable, and a restart loses every event and session.
//
//   node server.mjs [--port 3000] [--host 127.0.0.1] [--history 100000]
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values: opts } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "3000" },
    host: { type: "string", default: process.env.HOST ?? "127.0.0.1" },
    history: { type: "string", default: process.env.HISTORY ?? "100000" },
  },
});
const historySize = Number(opts.history);
const maxBodySize = 1e6; // rtbroker's --max-body-size
const replayChunk = 1000; // events written before waiting for the socket to drain
const reserved = new Set(["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]);

let head = 0; // the last offset given out, for all rooms
const rooms = new Map(); // room → its last events, oldest first

// publish gives the next offset to an event, stores it and sends it to the room.
function publish(room, type, data, from) {
  const event = { offset: ++head, id: randomUUID(), room, type, data, time: new Date().toISOString(), from };
  let events = rooms.get(room);
  if (!events) rooms.set(room, (events = []));
  events.push(event);
  if (events.length > historySize + historySize / 10) events.splice(0, events.length - historySize);
  io.to(room).emit(type, data, meta(event));
  return event;
}

const meta = (e) => ({ room: e.room, offset: e.offset, id: e.id, time: e.time, from: e.from });

// check returns what is wrong with a publish of type to room, or "".
function check(room, type) {
  if (typeof room !== "string" || room === "") return "room must be a non-empty string";
  if (typeof type !== "string" || type === "") return "type must be a non-empty string";
  if (reserved.has(type) || type.startsWith("room:")) return `type ${JSON.stringify(type)} is reserved`;
  return "";
}

// --- HTTP ------------------------------------------------------------------

const httpServer = createServer(async (req, res) => {
  const reply = (status, body) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const url = new URL(req.url, "http://peer");
  if (req.method === "GET" && url.pathname === "/healthz") return reply(200, { status: "ok", head });
  if (url.pathname === "/api/rooms") {
    if (req.method !== "GET") return reply(405, { error: { code: "method_not_allowed", message: "GET only" } });
    return reply(200, { rooms: listRooms(), head });
  }
  const m = url.pathname.match(/^\/api\/rooms\/([^/]+)\/events$/);
  if (!m) return reply(404, { error: { code: "not_found", message: "not found" } });
  if (req.method !== "POST") return reply(405, { error: { code: "method_not_allowed", message: "POST only" } });
  const room = decodeURIComponent(m[1]);
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch (err) {
    const status = err.status ?? 400;
    return reply(status, { error: { code: status === 413 ? "too_large" : "bad_request", message: err.message } });
  }
  const batch = Array.isArray(body);
  const items = batch ? body : [body];
  for (const it of items) {
    const problem = check(room, it?.type);
    if (problem) return reply(400, { error: { code: "bad_request", message: problem } });
  }
  const from = `http:${req.socket.remoteAddress}`;
  const events = items.map((it) => publish(room, it.type, it.data ?? null, from));
  reply(201, batch ? { events } : events[0]);
});

// listRooms describes each room's stored events, as rtbroker's GET /api/rooms
// does: its newest and oldest offsets and how many it holds.
function listRooms() {
  return [...rooms].map(([room, events]) => ({
    room,
    head: events.at(-1)?.offset ?? 0,
    first: events[0]?.offset ?? 0,
    count: events.length,
  }));
}

// readBody resolves to the request body as a string, at most maxBodySize bytes.
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    const onData = (c) => {
      size += c.length;
      chunks.push(c);
      if (size > maxBodySize) {
        req.off("data", onData).resume(); // read the rest, so the answer gets through
        reject(Object.assign(new Error(`body over ${maxBodySize} bytes`), { status: 413 }));
      }
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks).toString()));
    req.on("error", reject);
  });
}

// --- Socket.IO -------------------------------------------------------------

const io = new Server(httpServer, {
  // Socket.IO's defaults, spelled out because the comparison depends on them:
  // no compression (as rtbroker), the same largest message as rtbroker's
  // --sio-max-payload, rtbroker's heartbeat.
  perMessageDeflate: false,
  maxHttpBufferSize: 1e6,
  pingInterval: 25000,
  pingTimeout: 20000,
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true },
});

io.on("connection", (socket) => {
  const from = `sio:${socket.id}`;
  socket.on("room:join", (payload, ack) => {
    ack = typeof ack === "function" ? ack : () => {};
    const { room, after } = payload ?? {};
    if (typeof room !== "string" || room === "") return ack({ ok: false, error: { code: "bad_request", message: "room must be a non-empty string" } });
    ack({ ok: true, room, head });
    if (socket.rooms.has(room)) return; // already in: keeps its position
    if (typeof after === "number") replay(socket, room, after);
    else socket.join(room);
  });
  socket.on("room:leave", (payload, ack) => {
    ack = typeof ack === "function" ? ack : () => {};
    const room = payload?.room;
    socket.leave(room);
    ack({ ok: true, room });
  });
  socket.onAny((type, payload, ...rest) => {
    if (type === "room:join" || type === "room:leave") return;
    const ack = typeof rest.at(-1) === "function" ? rest.at(-1) : () => {};
    const { room, ...data } = payload ?? {};
    const problem = check(room, type);
    if (problem) return ack({ ok: false, error: { code: "bad_request", message: problem } });
    const e = publish(room, type, data, from);
    ack({ ok: true, offset: e.offset, id: e.id });
  });
});

// replay sends socket the stored events of room after offset `after`, a chunk
// at a time, waiting for each to be written so that a slow reader does not
// pile every event up in memory, then joins the room in the same tick as it
// finds nothing left to send, so live events follow with no gap.
async function replay(socket, room, after) {
  for (;;) {
    if (socket.disconnected) return;
    const events = rooms.get(room) ?? [];
    let i = firstAfter(events, after);
    if (i === events.length) {
      socket.join(room);
      return;
    }
    const end = Math.min(i + replayChunk, events.length);
    for (; i < end; i++) socket.emit(events[i].type, events[i].data, meta(events[i]));
    after = events[end - 1].offset;
    await drained(socket.conn);
  }
}

// firstAfter is the index of the first event of events with an offset above after.
function firstAfter(events, after) {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (events[mid].offset <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// drained resolves once the Engine.IO connection has handed its buffered
// packets to the transport (or closed).
function drained(conn) {
  if (conn.writeBuffer.length === 0) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const done = () => {
      conn.off("drain", done);
      conn.off("close", done);
      resolve();
    };
    conn.on("drain", done);
    conn.on("close", done);
  });
}

// rtbroker's idle timeout for kept-alive HTTP connections: with Node's 5 s
// default a publisher's pooled connection can be closed as it sends on it.
httpServer.keepAliveTimeout = 120_000;

// A large backlog, as Go's listener has (the kernel caps it at somaxconn):
// Node's default of 511 drops the SYNs of a reconnect storm.
httpServer.listen({ port: Number(opts.port), host: opts.host, backlog: 65535 }, () => {
  const { address, port } = httpServer.address();
  console.log(`peer listening on http://${address}:${port}`);
});
