// browser-binary.mjs checks binary events in Debian's Chromium, with
// playwright-core: socket.io-client from the bundle the server serves,
// over WebSocket and over HTTP long-polling, in a page of the server's
// origin.
//
//   node browser-binary.mjs BASE_URL SCREENSHOT_PATH
//
// Per transport, a sender emits an event whose data holds an ArrayBuffer,
// a Uint8Array nested in an array and an empty ArrayBuffer; a receiver in
// the room gets ArrayBuffers equal byte for byte, and so does a socket
// that joins afterwards with after: 0. Bytes published with fetch as
// {"$binary": base64} arrive as an ArrayBuffer too. No screenshot is
// taken (the argument is accepted for runBrowserScript).
//
// It prints one JSON line: {"ok", "failures": [...], "steps": [...]}.
import { launchChromium } from './chromium.mjs';

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error('usage: node browser-binary.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}

const result = { ok: false, failures: [], steps: [], screenshot: '' };
const fail = (msg) => result.failures.push(msg);
const step = (msg) => result.steps.push(msg);

let browser;
try {
  browser = await launchChromium();
  const page = await browser.newPage();
  page.on('pageerror', (err) => fail(`page error: ${err.message}`));
  // Failed responses, but for the favicon Chromium asks /healthz for.
  page.on('response', (r) => r.status() >= 400 && !r.url().endsWith('/favicon.ico') && fail(`${r.status()} for ${r.url()}`));
  // A document of the server's origin (see browser.mjs), replaced by a bare page.
  await page.goto(`${base}/healthz`, { waitUntil: 'load' });
  await page.setContent('<!doctype html><meta charset="utf-8"><title>binary events</title><script src="/socket.io/socket.io.js"></script>', { waitUntil: 'load' });
  for (const transport of ['websocket', 'polling']) {
    const out = await page.evaluate(async ({ transport }) => {
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const within = (p, ms, what) => Promise.race([p, sleep(ms).then(() => { throw new Error(`${what}: timed out`); })]);
      const connect = async () => {
        const s = io({ transports: [transport], forceNew: true });
        await within(new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); }), 10000, 'connect');
        return s;
      };
      const bytes = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
      const hex = (v) => {
        if (!(v instanceof ArrayBuffer)) return `not an ArrayBuffer: ${Object.prototype.toString.call(v)}`;
        return [...new Uint8Array(v)].map((b) => b.toString(16).padStart(2, '0')).join('');
      };
      const room = `binary-${transport}`;
      const got = { live: [], late: [] };
      const out = { transport };
      const sockets = [];
      try {
        const [sender, receiver] = [await connect(), await connect()];
        sockets.push(sender, receiver);
        receiver.onAny((type, data) => got.live.push({ type, data }));
        await receiver.timeout(5000).emitWithAck('room:join', { room });
        const a = bytes(1000, 1), b = bytes(3, 7);
        out.sent = { a: hex(a.buffer), b: hex(b.buffer), empty: '' };
        out.ack = await sender.timeout(5000).emitWithAck('file:chunk', { room, a: a.buffer, list: [1, { b }], empty: new ArrayBuffer(0) });
        const res = await fetch(`/api/rooms/${room}/events`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ type: 'file:http', data: { c: { $binary: btoa(String.fromCharCode(...bytes(10, 3))) } } }),
        });
        out.httpStatus = res.status;
        out.sentHTTP = hex(bytes(10, 3).buffer);
        const end = Date.now() + 5000;
        while (got.live.length < 2 && Date.now() < end) await sleep(20);
        const late = await connect();
        sockets.push(late);
        late.onAny((type, data) => got.late.push({ type, data }));
        await late.timeout(5000).emitWithAck('room:join', { room, after: 0 });
        while (got.late.length < 2 && Date.now() < end + 5000) await sleep(20);
        out.got = {};
        for (const k of ['live', 'late']) {
          out.got[k] = got[k].map((e) => e.type === 'file:chunk'
            ? { type: e.type, a: hex(e.data.a), b: hex(e.data.list?.[1]?.b), empty: hex(e.data.empty) }
            : { type: e.type, c: hex(e.data.c) });
        }
      } catch (err) {
        out.error = String(err);
      } finally {
        sockets.forEach((s) => s.disconnect());
      }
      return out;
    }, { transport });
    if (out.error) {
      fail(`${transport}: ${out.error}: ${JSON.stringify(out).slice(0, 500)}`);
      continue;
    }
    if (out.ack?.ok !== true) fail(`${transport}: publish ack ${JSON.stringify(out.ack)}`);
    if (out.httpStatus !== 201) fail(`${transport}: HTTP publish status ${out.httpStatus}`);
    const want = JSON.stringify([{ type: 'file:chunk', ...out.sent }, { type: 'file:http', c: out.sentHTTP }]);
    for (const k of ['live', 'late']) {
      const got = JSON.stringify(out.got[k]);
      if (got !== want) fail(`${transport} ${k}: got ${got.slice(0, 300)}, want ${want.slice(0, 300)}`);
      else step(`${transport}: ${k === 'live' ? 'a live receiver' : 'a socket joining with after: 0'} gets ArrayBuffers equal to what was sent (from socket.io-client and from fetch as $binary)`);
    }
  }
} catch (err) {
  fail(`${err.stack || err}`);
} finally {
  await browser?.close().catch(() => {});
}
result.ok = result.failures.length === 0;
console.log(JSON.stringify(result));
