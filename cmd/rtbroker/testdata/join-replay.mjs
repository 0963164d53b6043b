// join-replay.mjs URL TOKEN RUNS ROOM…: the flow of a chat client that opens
// its rooms where it stopped reading, RUNS times. Each run publishes 3
// events to each room (HTTP, as the token's user), connects a fresh
// socket (the handler registered before any emit), reads me:rooms, joins
// every room with after = its read position (sequentially or all at once,
// alternately; polling-then-upgrade or WebSocket only, alternately), waits
// for the new events of each room, then marks them read and disconnects.
// Variants: more events published while the joins are in flight, and the
// emits made before the socket is connected (socket.io-client buffers
// them). It prints one JSON line per run: {run, mode, got: [[room,
// offset]…], want: {room: [offsets]}, rooms, acks[, hang]}.
import { io } from "socket.io-client";

const [url, token, runsArg, ...rooms] = process.argv.slice(2);
const runs = Number(runsArg);
const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

async function publish(room, n) {
  const res = await fetch(`${url}/api/rooms/${room}/events`, { method: "POST", headers, body: JSON.stringify({ type: "chat:message", data: { n } }) });
  if (res.status !== 201) throw new Error(`publish ${room}: ${res.status} ${await res.text()}`);
  return (await res.json()).offset;
}

for (let run = 0; run < runs; run++) {
  const want = Object.fromEntries(rooms.map((room) => [room, []]));
  for (const room of rooms) for (let k = 0; k < 3; k++) want[room].push(await publish(room, run * 3 + k));
  const concurrent = run % 2 === 1;
  const transports = run % 4 < 2 ? ["polling", "websocket"] : ["websocket"];
  const during = run % 8 >= 4; // 1 more event per room published while the joins are in flight
  const noWait = run % 16 >= 8; // emit at once: socket.io-client buffers until connected
  const mode = `${concurrent ? "concurrent" : "sequential"} ${transports.join("+")}${during ? " publishing" : ""}${noWait ? " buffered" : ""}`;
  const socket = io(url, { auth: { token }, transports, forceNew: true, reconnection: false });
  const got = [];
  let done = () => {};
  const check = () => { if (rooms.every((room) => want[room].every((o) => got.some((g) => g[1] === o)))) done(); };
  socket.onAny((type, data, meta) => {
    if (type !== "chat:message") return;
    got.push([meta.room, meta.offset]);
    check();
  });
  if (!noWait) await new Promise((resolve, reject) => { socket.once("connect", resolve); socket.once("connect_error", reject); });
  const mine = await socket.timeout(10000).emitWithAck("me:rooms");
  const read = Object.fromEntries(mine.rooms.map((r) => [r.room, r.read]));
  const join = (room) => socket.timeout(10000).emitWithAck("room:join", { room, after: read[room] ?? 0 });
  const extra = during ? Promise.all(rooms.map(async (room) => [room, await publish(room, -1)])) : Promise.resolve([]);
  let acks;
  if (concurrent) {
    acks = await Promise.all(rooms.map(join));
  } else {
    acks = [];
    for (const room of rooms) acks.push(await join(room));
  }
  for (const [room, off] of await extra) want[room].push(off);
  const all = new Promise((resolve) => { done = resolve; });
  check();
  let timer;
  const hang = await Promise.race([all.then(() => false), new Promise((r) => { timer = setTimeout(() => r(true), 10000); })]);
  clearTimeout(timer);
  const line = { run, mode, got, want, rooms: mine.rooms, acks: acks.map((a) => ({ ok: a.ok, start: a.start, recovered: a.recovered, reset: a.reset })) };
  if (hang) line.hang = true;
  process.stdout.write(JSON.stringify(line) + "\n");
  for (const room of rooms) await socket.timeout(10000).emitWithAck("room:read", { room, offset: Math.max(...want[room]) });
  socket.disconnect();
}
