// browser-dashboard.mjs drives the dashboard (/dashboard.html) in Debian's
// Chromium with playwright-core.
//
//   node browser-dashboard.mjs BASE_URL SCREENSHOT_PATH
//
// Without RTBROKER_TEST_ADMIN_KEY (an open server):
// 1. The page scrapes /metrics: before any load, events/s is 0.
// 2. Under load — Node publishes to rooms "dash-a" and "dash-b", four
//    publishes at a time, while two SSE streams read "dash-a" — events/s,
//    deliveries/s and commits/s rise above 0, the SSE connections are
//    counted, the fsync p99 and batch figures have values, and the rooms
//    table's heads of dash-a and dash-b move between two reads. A
//    Socket.IO client joining from an offset, and from one retention
//    removed (the server keeps room "dash-t" to 2 events), moves
//    "Recovered" and "Refused", and its connection is counted (with its
//    Engine.IO transport); bytes/s, the sampled publish → deliver p99 and
//    the largest subscriber lag have values.
// 3. Every control is labelled and text contrast is WCAG AA, light and
//    dark (a11y.mjs). At 375 px wide nothing scrolls sideways. Screenshots: SCREENSHOT_PATH
//    (1440 px) and SCREENSHOT_PATH with "-phone" (375 px), under load.
//
// With RTBROKER_TEST_ADMIN_KEY (a server with that API key and
// RTBROKER_TEST_TOKEN, a valid token that is not an admin credential):
// the page says 401 and asks for an admin key, naming --metrics-addr; a
// wrong key is 401 again; the token is 403 "not an admin key"; the admin
// key makes it live: the rooms table lists the room Node published to.
// Screenshot: SCREENSHOT_PATH (the 401 message).
//
// It prints one JSON line: {"ok", "failures", "steps", "offsets",
// "screenshot"}; the exit code is 0 when it was printed, 2 on bad usage.
import { auditBoth } from './a11y.mjs';
import { io } from 'socket.io-client';
import { launchChromium } from './chromium.mjs';

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error('usage: node browser-dashboard.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}
const ADMIN_KEY = process.env.RTBROKER_TEST_ADMIN_KEY ?? '';
const TOKEN = process.env.RTBROKER_TEST_TOKEN ?? '';

const WAIT_MS = 20000;
const result = { ok: false, failures: [], steps: [], offsets: {}, console: [], screenshot: '' };
const fail = (msg) => result.failures.push(msg);
const step = (msg) => result.steps.push(msg);

/** publish publishes from Node, outside the page; returns the offset. */
async function publish(room, data, key = '') {
  const res = await fetch(`${base}/api/rooms/${room}/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ type: 'dash:tick', data }),
  });
  if (res.status !== 201) throw new Error(`publish: status ${res.status}: ${await res.text()}`);
  return (await res.json()).offset;
}

/** view reads the figures and tables the page shows. */
const view = (page) => page.evaluate(() => {
  const tiles = Object.fromEntries([...document.querySelectorAll('.tile')].map((t) => {
    const v = t.querySelector('.tile-value').dataset.value;
    return [t.dataset.metric, v === undefined || v === '' ? null : Number(v)];
  }));
  const rooms = Object.fromEntries([...document.querySelectorAll('#rooms-body tr[data-room]')].map((r) => [r.dataset.room, Number(r.dataset.head)]));
  const transports = Object.fromEntries([...document.querySelectorAll('#transports-body tr[data-transport]')].map((r) => [r.dataset.transport, Number(r.children[1].textContent)]));
  const hints = Object.fromEntries([...document.querySelectorAll('.tile')].map((t) => [t.dataset.metric, t.querySelector('.tile-hint').textContent]));
  return {
    tiles,
    hints,
    rooms,
    transports,
    scrapes: Number(document.body.dataset.scrapes ?? 0),
    access: document.body.dataset.access ?? '',
    status: document.querySelector('#scrape-status').textContent,
    keyHidden: document.querySelector('#key-form').hidden,
    keyMessage: document.querySelector('#key-message').textContent,
  };
});

/** until polls the view until check(view) is '' or fails with its last answer. */
async function until(page, what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await view(page);
    const why = check(v);
    if (!why) { step(what); return v; }
    if (Date.now() > deadline) { fail(`${what}: ${why}`); return v; }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** openSSE holds an SSE stream of room open, reading it, until abort. */
function openSSE(room, ctl) {
  return fetch(`${base}/sse?room=${room}`, { signal: ctl.signal }).then(async (res) => {
    for await (const _ of res.body) { /* read, so the server is not held up */ }
  }).catch(() => {});
}

async function openServer(page) {
  await page.goto(`${base}/dashboard.html`);
  let v = await until(page, 'the page scrapes /metrics', (x) => (x.scrapes >= 2 ? '' : `${x.scrapes} scrapes; status ${x.status}`));
  if (v.tiles.events !== 0) fail(`before any load events/s is ${v.tiles.events}`);

  // dash-t keeps its last 2 events (the server's retention rule).
  const dashT = [];
  for (let i = 1; i <= 4; i++) dashT.push(await publish('dash-t', { i }));

  // 2. Load: publishes, two SSE readers.
  const ctl = new AbortController();
  const streams = [openSSE('dash-a', ctl), openSSE('dash-a', ctl)];
  let publishing = true;
  let n = 0;
  // Four publishers at once, so commits are shared (group commit).
  const publisher = Promise.all([0, 1, 2, 3].map(async () => {
    while (publishing) {
      n++;
      await publish(n % 2 ? 'dash-a' : 'dash-b', { n });
      await new Promise((r) => setTimeout(r, 15));
    }
  }));
  v = await until(page, 'under load events/s, deliveries/s and commits/s rise above 0, two SSE connections are counted and the rooms are listed', (x) => {
    const t = x.tiles;
    if (!(t.events > 0)) return `events/s ${t.events}`;
    if (!(t.deliveries > 0)) return `deliveries/s ${t.deliveries}`;
    if (!(t.commits > 0)) return `commits/s ${t.commits}`;
    if (!(x.transports.sse >= 2)) return `transports ${JSON.stringify(x.transports)}`;
    if (!(t.connections >= 2)) return `connections ${t.connections}`;
    if (t.fsync === null || t.batch === null) return `fsync p99 ${t.fsync}, batch ${t.batch}`;
    if (!(x.rooms['dash-a'] > 0 && x.rooms['dash-b'] > 0)) return `rooms table ${JSON.stringify(x.rooms)}`;
    return '';
  });
  const heads1 = v.rooms;
  const tiles1 = v.tiles;
  v = await until(page, 'the heads of dash-a and dash-b move in the rooms table, and the log head with them', (x) => {
    if (!(x.rooms['dash-a'] > heads1['dash-a'] && x.rooms['dash-b'] > heads1['dash-b'])) return `heads ${JSON.stringify(x.rooms)}, were ${JSON.stringify(heads1)}`;
    if (!(x.tiles.head > tiles1.head)) return `log head ${x.tiles.head}, was ${tiles1.head}`;
    return '';
  });
  step(`events/s ${v.tiles.events}, deliveries/s ${v.tiles.deliveries}, commits/s ${v.tiles.commits}, events per commit ${v.tiles.batch}, fsync p99 ${v.tiles.fsync} ms`);

  // Recoveries: a Socket.IO client joins dash-a from offset 1 (recovered)
  // and dash-t from an offset retention removed (refused: trimmed).
  for (const deadline = Date.now() + WAIT_MS; ;) {
    const t = (await (await fetch(`${base}/api/rooms`)).json()).rooms.find((r) => r.room === 'dash-t');
    if (t?.trimmed >= 2) break;
    if (Date.now() > deadline) throw new Error(`retention did not trim dash-t: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const socket = io(base, { transports: ['websocket'] });
  const okJoin = await socket.timeout(WAIT_MS).emitWithAck('room:join', { room: 'dash-a', after: 1 });
  const badJoin = await socket.timeout(WAIT_MS).emitWithAck('room:join', { room: 'dash-t', after: dashT[0] });
  if (okJoin?.recovered !== true || badJoin?.reset?.reason !== 'trimmed') fail(`joins: ${JSON.stringify(okJoin)}, ${JSON.stringify(badJoin)}`);
  await until(page, 'a Socket.IO join from an offset counts as recovered, one from a trimmed offset as refused, and its connection is counted', (x) => {
    if (!(x.tiles.recovered >= 1 && x.tiles.refused >= 1)) return `recovered ${x.tiles.recovered}, refused ${x.tiles.refused}`;
    if (!(x.transports.socketio >= 1)) return `transports ${JSON.stringify(x.transports)}`;
    return '';
  });
  // The figures the newer metrics give (bytes, sampled latency, lag, replays, Engine.IO transport).
  v = await until(page, 'bytes/s, the sampled publish → deliver p99, the largest lag and the Socket.IO connection\'s Engine.IO transport are shown', (x) => {
    const t = x.tiles;
    if (!(t.bytes > 0)) return `bytes/s ${t.bytes}`;
    if (t.deliver === null) return `publish → deliver p99 ${t.deliver}`;
    if (t.lag === null) return `largest lag ${t.lag}`;
    if (!/socketio 1 \(websocket 1\)/.test(x.hints.connections)) return `connections hint ${x.hints.connections}`;
    return '';
  });
  step(`bytes/s ${Math.round(v.tiles.bytes)}, publish → deliver p99 ${v.tiles.deliver} ms, largest lag ${v.tiles.lag}, replayed/s ${v.tiles.replayed}`);
  await auditBoth(page, 'dashboard under load', fail, step);
  await page.waitForTimeout(4000); // a few more points on the charts
  await page.screenshot({ path: screenshot, fullPage: true });
  result.screenshot = screenshot;

  // 3. Phone width, still under load.
  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForTimeout(1500);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) fail(`at 375px the page scrolls sideways by ${overflow}px`);
  else step('375px wide: no sideways scroll');
  await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-phone.png', fullPage: true });

  socket.close();
  publishing = false;
  await publisher;
  ctl.abort();
  await Promise.all(streams);
  result.offsets.published = [n];
}

async function secured(page) {
  await publish('dash-secure', { n: 1 }, ADMIN_KEY);
  await page.goto(`${base}/dashboard.html`);
  let v = await until(page, 'without a key the page says 401 and asks for an admin key', (x) => (x.access === '401' && !x.keyHidden ? '' : `access ${x.access}, key form hidden ${x.keyHidden}`));
  if (!/admin API key/.test(v.keyMessage) || !/--metrics-addr/.test(v.keyMessage)) fail(`the 401 message: ${v.keyMessage}`);
  const focused = await page.evaluate(() => document.activeElement?.id);
  if (focused !== 'key-input') fail(`after a 401 the focus is on #${focused}, want the key field`);
  await page.screenshot({ path: screenshot, fullPage: false });
  result.screenshot = screenshot;
  await auditBoth(page, 'dashboard asking for a key', fail, step);

  await page.fill('#key-input', 'not-the-key');
  await page.press('#key-input', 'Enter');
  v = await until(page, 'a wrong key: 401 again', (x) => (x.access === '401' && /401/.test(x.status) ? '' : `access ${x.access}, status ${x.status}`));
  await page.evaluate(() => { document.body.dataset.access = ''; });
  await page.fill('#key-input', TOKEN);
  await page.click('#key-form button[type="submit"]');
  v = await until(page, 'a token that is no admin credential: 403, "not an admin key"', (x) => (x.access === '403' && /not an admin key/.test(x.keyMessage) ? '' : `access ${x.access}, message ${x.keyMessage}`));

  await page.fill('#key-input', ADMIN_KEY);
  await page.click('#key-form button[type="submit"]');
  v = await until(page, 'the admin key: live, the rooms table lists the room', (x) => (x.access === 'ok' && x.rooms['dash-secure'] > 0 && x.tiles.head > 0 ? '' : `access ${x.access}, rooms ${JSON.stringify(x.rooms)}, head ${x.tiles.head}`));
  const kept = await page.evaluate(() => sessionStorage.getItem('rtbroker.adminKey'));
  if (kept !== ADMIN_KEY) fail('the admin key is not kept in sessionStorage');
  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForTimeout(500);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) fail(`at 375px (key form shown) the page scrolls sideways by ${overflow}px`);
}

let browser;
try {
  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', (err) => fail(`page error: ${err.message}`));
  page.on('console', (m) => {
    // The refused scrapes are expected on the secured server.
    if (m.type() === 'error' && !(ADMIN_KEY && /status of 40[13]/.test(m.text()))) result.console.push(m.text());
  });
  if (ADMIN_KEY) await secured(page);
  else await openServer(page);
  for (const m of result.console) fail(`console error: ${m}`);
} catch (err) {
  fail(`${err.stack || err}`);
} finally {
  await browser?.close().catch(() => {});
}
result.ok = result.failures.length === 0;
console.log(JSON.stringify(result));
