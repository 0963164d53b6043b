// presence-watch.mjs URL TOKEN ROOM: one socket.io-client socket
// (WebSocket, reconnecting) that joins ROOM asking for its presence
// events, and prints a JSON line for each connection ({phase: "connect",
// recovered}), the join's ack ({phase: "joined", ack}) and each presence
// event ({phase: "presence", type, user, count}) until it is killed.
import { io } from "socket.io-client";

const [url, token, room] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const socket = io(url, { transports: ["websocket"], auth: { token }, reconnectionDelay: 100, reconnectionDelayMax: 300 });
let joined = false;
socket.on("connect", async () => {
  out({ phase: "connect", recovered: socket.recovered });
  if (!joined) {
    joined = true;
    out({ phase: "joined", ack: await socket.emitWithAck("room:join", { room, presence: true }) });
  }
});
for (const type of ["presence:join", "presence:leave"]) {
  socket.on(type, (data) => out({ phase: "presence", type, user: data.user, count: data.count }));
}
