// presence-member.mjs URL TOKEN ROOM: one socket.io-client socket
// (WebSocket) that joins ROOM, prints {"phase":"joined"} and stays until
// the process is killed (the tests kill it: a disconnect without a goodbye).
import { io } from "socket.io-client";

const [url, token, room] = process.argv.slice(2);
const socket = io(url, { transports: ["websocket"], auth: { token }, reconnection: false });
socket.on("connect", async () => {
  const ack = await socket.emitWithAck("room:join", { room });
  process.stdout.write(JSON.stringify({ phase: "joined", ack }) + "\n");
});
socket.on("connect_error", (err) => {
  process.stdout.write(JSON.stringify({ phase: "error", error: err.message }) + "\n");
});
