// nginx-sio.mjs URL ROOM: one socket.io-client socket with the default
// transports (polling, then the upgrade to WebSocket) through a proxy. It
// waits for the upgrade, joins ROOM, publishes an event and waits for it
// to come back, then prints one JSON line and exits 0; on failure it
// prints the error and exits 1.
import { io } from "socket.io-client";

const [url, room] = process.argv.slice(2);
const socket = io(url, { reconnection: false, timeout: 10000 });
const fail = (err) => { console.log(JSON.stringify({ error: String(err) })); process.exit(1); };
setTimeout(() => fail("timed out"), 20000);
socket.on("connect_error", fail);
let first, upgraded = false;
socket.io.on("open", () => {
  first = socket.io.engine.transport.name;
  socket.io.engine.once("upgrade", () => { upgraded = true; });
});
socket.on("connect", () => {
  const go = async () => {
    const joined = await socket.emitWithAck("room:join", { room });
    const received = new Promise((resolve) => socket.on("chat:message", (data, meta) => resolve({ data, meta })));
    const ack = await socket.emitWithAck("chat:message", { room, text: "through nginx" });
    const got = await received;
    console.log(JSON.stringify({ first, transport: socket.io.engine.transport.name, joined, ack, got }));
    socket.close();
    process.exit(0);
  };
  if (upgraded) go().catch(fail);
  else socket.io.engine.once("upgrade", () => go().catch(fail));
});
