// sio-recover.mjs URL: one socket.io-client socket (WebSocket) that joins
// room "recover", prints what happens as JSON lines, and waits for
// commands on stdin: "expect N" prints the offsets of the next N
// "chat:message" events once they have all arrived, and the base64 of
// every Buffer received in data.bin (binary events).
import { io } from "socket.io-client";
import readline from "node:readline";

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const socket = io(process.argv[2], { transports: ["websocket"], reconnectionDelay: 100, reconnectionDelayMax: 300 });
const got = [];
const bins = [];
let want = 0;
socket.on("connect", async () => {
  if (!socket.recovered && got.length === 0) {
    const ack = await socket.emitWithAck("room:join", { room: "recover" });
    out({ phase: "joined", sid: socket.id, ack });
  } else {
    out({ phase: "reconnected", sid: socket.id, recovered: socket.recovered });
  }
});
socket.on("chat:message", (data, meta) => {
  got.push(meta.offset);
  if (data && data.bin !== undefined) bins.push(Buffer.isBuffer(data.bin) ? data.bin.toString("base64") : "not a Buffer");
  if (want && got.length >= want) {
    out({ phase: "events", offsets: got.splice(0, want), bins: bins.splice(0) });
    want = 0;
  }
});
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, n] = line.split(" ");
  if (cmd === "expect") {
    want = Number(n);
    if (got.length >= want) {
      out({ phase: "events", offsets: got.splice(0, want), bins: bins.splice(0) });
      want = 0;
    }
  }
  if (cmd === "quit") process.exit(0);
});
