// stress.mjs URL SOCKETS ROOMS SEED DROPS
// Opens SOCKETS socket.io-client connections to URL; socket i joins room
// "stress-(i % ROOMS)" from the beginning (after: 0) and records the offset
// of every "stress:msg" event it receives. While the test publishes, it
// drops DROPS random connections (socket.io.engine.close()) at random
// moments; each reconnects by itself and must be recovered (or re-joins
// from its last offset when the server says it could not recover). When a
// socket has received the "stress:end" event of its room it is done; when
// all are, the script prints one JSON line:
//   {"sockets": [{"room", "offsets": [...], "recovered": n, "rejoined": n}], "connectErrors": n}
import { io } from "socket.io-client";

const [url, nSockets, nRooms, seed, drops] = process.argv.slice(2);
const N = Number(nSockets), R = Number(nRooms), D = Number(drops);
let rnd = Number(seed) >>> 0;
const random = () => ((rnd = (rnd * 1664525 + 1013904223) >>> 0) / 2 ** 32);

let connectErrors = 0;
const results = [];
const done = [];

function run(i) {
  const room = `stress-${i % R}`;
  const res = { room, offsets: [], recovered: 0, rejoined: 0 };
  results.push(res);
  let last = 0;
  let joined = false;
  res.finished = false;
  return new Promise((resolve) => {
    const socket = io(url, { forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 300, transports: i % 3 === 0 ? ["polling", "websocket"] : ["websocket"] });
    const join = async () => {
      for (;;) {
        try {
          const ack = await socket.timeout(5000).emitWithAck("room:join", { room, after: last });
          if (ack && ack.ok) return;
        } catch {}
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    socket.on("connect", async () => {
      if (!joined) {
        joined = true;
        await join();
        return;
      }
      if (socket.recovered) {
        res.recovered++;
      } else {
        res.rejoined++;
        await join();
      }
    });
    socket.on("connect_error", () => connectErrors++);
    // engine.close() is not a network drop: packets the old transport had
    // already read are kept in socket.io-client's receive buffer and
    // emitted after the reconnect, after the client has sent its offset
    // (which does not count them), so they would arrive twice. A real drop
    // loses them; drop them here too, when the new transport opens and
    // before the CONNECT answer, so the test measures the server's recovery.
    socket.io.on("open", () => {
      socket.receiveBuffer.length = 0;
    });
    socket.on("stress:msg", (data, meta) => {
      if (meta.offset <= last) {
        res.offsets.push(-meta.offset); // a duplicate or out of order: recorded negative, the checker fails it
        return;
      }
      last = meta.offset;
      res.offsets.push(meta.offset);
    });
    socket.on("stress:end", (data, meta) => {
      if (meta.offset <= last) return;
      last = meta.offset;
      res.finished = true;
      socket.disconnect();
      resolve();
    });
    done.push(socket);
  });
}

const all = [];
const STALL = Number(process.env.STRESS_STALL_MS || 60000);
setTimeout(() => {
  const stuck = results
    .map((r, i) => ({ i, sid: done[i]?.id, room: r.room, last: r.offsets.at(-1), n: r.offsets.length, recovered: r.recovered, rejoined: r.rejoined, connected: done[i]?.connected, finished: r.finished }))
    .filter((r) => !r.finished);
  process.stdout.write(JSON.stringify({ stuck }) + "\n");
}, STALL).unref();
for (let i = 0; i < N; i++) all.push(run(i));
process.stdout.write(JSON.stringify({ ready: true }) + "\n");
for (let d = 0; d < D; d++) {
  setTimeout(() => {
    const s = done[Math.floor(random() * done.length)];
    if (s && s.connected) s.io.engine.close();
  }, 100 + random() * 1400);
}
await Promise.all(all);
// Exit once the (large) line is flushed: process.exit would cut a pipe write.
process.stdout.write(JSON.stringify({ sockets: results, connectErrors }) + "\n", () => process.exit(0));
