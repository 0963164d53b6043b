// driver.mjs: drives real socket.io-client sockets for the Go tests.
//
// The Go test writes one JSON command per line on stdin and reads one JSON
// reply per line on stdout: {"id": N, "ok": true, ...} or
// {"id": N, "ok": false, "error": "..."}. Sockets are named by the test.
//
// Commands (op):
//   connect     {name, url, opts}          connect; reply {sid, recovered, transport}
//                                          or ok:false with the connect_error as JSON
//                                          {message, data, description} (description: the
//                                          HTTP status of a failed polling request, the
//                                          WebSocket error's message). opts.localAddress
//                                          binds both transports to that local IP.
//   emit        {name, event, args, ack, timeout}
//                                          emit; with ack, reply {ack: [...]}
//   wait        {name, count, timeout}     wait until `count` events were
//                                          received; reply {events: [...]} (all, then cleared)
//   events      {name}                     reply {events} received so far (cleared)
//   engineClose {name}                     drop the engine connection (socket.io.engine.close())
//   waitConnect {name, timeout}            wait for the next connect; reply {sid, recovered, transport}
//   waitUpgrade {name, timeout}            wait until the transport is websocket
//   disconnect  {name}
//   waitDisconnect {name, timeout}         wait for the next disconnect; reply {reason, code,
//                                          description} (code: the WebSocket close code)
//   burst       {name, event, args, timeout} emit event once per element of args (each an
//                                          argument list) with an ack, without waiting
//   burstAcks   {name, count, timeout}     wait until `count` acks (or ack timeouts) of the
//                                          bursts arrived; reply {acks: [{i, ack} | {i, error}]}
//                                          in arrival order (all, then cleared)
//   reconnect   {name, auth, timeout}      after a server disconnect: set socket.auth and
//                                          socket.connect(); reply as connect
//   serverAck   {name, event, reply}       answer the server's `event` acks with `reply`
// Every received event is recorded as {event, args} with Buffers as {"$buffer": base64}.
import { io } from "socket.io-client";
import http from "node:http";
import https from "node:https";
import readline from "node:readline";

const sockets = new Map(); // name -> {socket, events, waiters, connects}

function encode(v) {
  if (v instanceof ArrayBuffer) v = Buffer.from(v);
  if (ArrayBuffer.isView(v)) return { $buffer: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  if (Array.isArray(v)) return v.map(encode);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x)]));
  return v;
}

function decode(v) {
  if (Array.isArray(v)) return v.map(decode);
  if (v && typeof v === "object") {
    if (typeof v.$buffer === "string" && Object.keys(v).length === 1) return Buffer.from(v.$buffer, "base64");
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
  }
  return v;
}

function withTimeout(p, ms, what) {
  return Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);
}

function get(name) {
  const s = sockets.get(name);
  if (!s) throw new Error(`no socket ${name}`);
  return s;
}

function nextConnect(s, ms) {
  return withTimeout(
    new Promise((resolve, reject) => {
      s.connectWaiters.push({ resolve, reject });
    }),
    ms,
    "connect",
  );
}

function info(s) {
  return { sid: s.socket.id, recovered: s.socket.recovered, transport: s.socket.io.engine?.transport?.name };
}

const handlers = {
  async connect({ name, url, opts = {}, timeout = 10000 }) {
    if (opts.localAddress) {
      // The WebSocket transport binds by itself; polling needs an agent.
      opts = { ...opts, agent: new (url.startsWith("https:") ? https : http).Agent({ localAddress: opts.localAddress }) };
    }
    const socket = io(url, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500, ...opts });
    const s = { socket, events: [], waiters: [], connectWaiters: [], disconnects: [], disconnectWaiters: [], acks: [], ackWaiters: [] };
    sockets.set(name, s);
    socket.onAny((event, ...args) => {
      s.events.push({ event, args: encode(args) });
      s.waiters = s.waiters.filter((w) => !w());
    });
    socket.on("connect", () => {
      for (const w of s.connectWaiters.splice(0)) w.resolve(info(s));
    });
    socket.on("disconnect", (reason, details) => {
      const d = details?.description;
      s.disconnects.push({ reason, code: details?.context?.code ?? null, description: typeof d === "number" || typeof d === "string" ? d : null });
      for (const w of s.disconnectWaiters.splice(0)) w();
    });
    socket.on("connect_error", (err) => {
      const d = err.description;
      const description = typeof d === "number" ? d : (d?.message ?? null);
      for (const w of s.connectWaiters.splice(0)) w.reject(new Error(JSON.stringify({ message: err.message, data: err.data ?? null, description })));
    });
    return nextConnect(s, timeout);
  },
  async emit({ name, event, args = [], ack = false, timeout = 5000 }) {
    const s = get(name);
    if (!ack) {
      s.socket.emit(event, ...decode(args));
      return {};
    }
    const reply = await s.socket.timeout(timeout).emitWithAck(event, ...decode(args));
    return { ack: encode([reply]) };
  },
  async wait({ name, count, timeout = 10000 }) {
    const s = get(name);
    await withTimeout(
      new Promise((resolve) => {
        const check = () => {
          if (s.events.length >= count) {
            resolve();
            return true;
          }
          return false;
        };
        if (!check()) s.waiters.push(check);
      }),
      timeout,
      `${count} events on ${name} (have ${s.events.length})`,
    );
    return { events: s.events.splice(0) };
  },
  async events({ name }) {
    return { events: get(name).events.splice(0) };
  },
  async engineClose({ name }) {
    get(name).socket.io.engine.close();
    return {};
  },
  async waitConnect({ name, timeout = 10000 }) {
    const s = get(name);
    return nextConnect(s, timeout);
  },
  async waitUpgrade({ name, timeout = 10000 }) {
    const s = get(name);
    const engine = s.socket.io.engine;
    if (engine.transport.name !== "websocket") {
      await withTimeout(new Promise((resolve) => engine.once("upgrade", resolve)), timeout, "upgrade");
    }
    return info(s);
  },
  async waitDisconnect({ name, timeout = 10000 }) {
    const s = get(name);
    if (s.disconnects.length === 0) {
      await withTimeout(new Promise((resolve) => s.disconnectWaiters.push(resolve)), timeout, "disconnect");
    }
    return s.disconnects.shift();
  },
  async reconnect({ name, auth, timeout = 10000 }) {
    const s = get(name);
    s.socket.auth = auth;
    const p = nextConnect(s, timeout);
    s.socket.connect();
    return p;
  },
  async disconnect({ name }) {
    get(name).socket.disconnect();
    sockets.delete(name);
    return {};
  },
  async burst({ name, event, args, timeout = 10000 }) {
    const s = get(name);
    args.forEach((a, i) => {
      s.socket
        .timeout(timeout)
        .emitWithAck(event, ...decode(a))
        .then((reply) => s.acks.push({ i, ack: encode(reply) }), (err) => s.acks.push({ i, error: err.message }))
        .finally(() => (s.ackWaiters = s.ackWaiters.filter((w) => !w())));
    });
    return {};
  },
  async burstAcks({ name, count, timeout = 10000 }) {
    const s = get(name);
    await withTimeout(
      new Promise((resolve) => {
        const check = () => s.acks.length >= count && (resolve(), true);
        if (!check()) s.ackWaiters.push(check);
      }),
      timeout,
      `${count} acks on ${name} (have ${s.acks.length})`,
    );
    return { acks: s.acks.splice(0) };
  },
  async serverAck({ name, event, reply }) {
    get(name).socket.on(event, (...args) => {
      const cb = args[args.length - 1];
      if (typeof cb === "function") cb(decode(reply));
    });
    return {};
  },
};

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    process.stdout.write(JSON.stringify({ id: -1, ok: false, error: `bad command: ${err.message}` }) + "\n");
    return;
  }
  try {
    const h = handlers[cmd.op];
    if (!h) throw new Error(`unknown op ${cmd.op}`);
    const res = await h(cmd);
    process.stdout.write(JSON.stringify({ id: cmd.id, ok: true, ...res }) + "\n");
  } catch (err) {
    process.stdout.write(JSON.stringify({ id: cmd.id, ok: false, error: err.message }) + "\n");
  }
});
rl.on("close", () => {
  for (const s of sockets.values()) s.socket.disconnect();
  process.exit(0);
});
