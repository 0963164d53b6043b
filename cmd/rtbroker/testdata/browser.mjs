// browser.mjs drives rtbroker's UI in Debian's Chromium with playwright-core.
//
//   node browser.mjs BASE_URL SCREENSHOT_PATH
//
// It checks the UI's three panels (SSE, long-polling, Socket.IO) against
// each other, publishing through the form over HTTP and over Socket.IO,
// drops the UI's Socket.IO connection to see it recover (and, with its
// session forgotten, re-join), runs a plain EventSource and a plain
// socket.io-client in pages of their own, checks the narrow layout, and
// takes the screenshot last (a narrow one beside it, "-narrow.png").
//
// It prints one JSON line: {"ok", "failures": [...], "steps": [...],
// "offsets": {...}, "screenshot"}. The exit code is 0 when the line was
// printed (the Go test judges "ok"), 2 on bad usage.
//
// Chromium is launched by launchChromium (chromium.mjs) with the flags
// this machine's closed network needs. Playwright refuses a
// --user-data-dir argument in launch(); it makes a fresh, empty profile
// directory of its own with mkdtemp under os.tmpdir() for every launch
// and removes it on close (the Go test points TMPDIR at a test temp dir).
import { launchChromium } from './chromium.mjs';

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error('usage: node browser.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}

const ROOM = 'browser-test';
const TYPE = 'chat:message';
const WAIT_MS = 15000;

const result = { ok: false, failures: [], steps: [], offsets: {}, console: [], screenshot: '' };
const fail = (msg) => result.failures.push(msg);
const step = (msg) => result.steps.push(msg);

/** publishAPI publishes from Node, outside the page. */
async function publishAPI(room, type, text) {
  const res = await fetch(`${base}/api/rooms/${room}/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ type, data: { text } }),
  });
  if (res.status !== 201) throw new Error(`publish to ${room}: status ${res.status}: ${await res.text()}`);
  return res.json();
}

/** panelState reads what a panel shows. */
function panelState(page, id) {
  return page.evaluate((id) => {
    const p = document.querySelector(`.panel[data-transport="${id}"]`);
    if (!p) return null;
    return {
      status: p.dataset.status,
      wire: p.dataset.wire || '',
      note: p.querySelector('.panel-note').hidden ? '' : p.querySelector('.panel-note .note-text').textContent,
      room: p.querySelector('.stat-room').textContent,
      lastOffset: p.querySelector('.stat-offset').textContent,
      notice: p.querySelector('.notice').hidden ? '' : p.querySelector('.notice').textContent,
      rows: [...p.querySelectorAll('.events > li')].map((li) => ({
        offset: Number(li.dataset.offset || 0),
        type: li.dataset.type,
        text: li.querySelector('.ev-data').textContent,
        from: li.querySelector('.ev-from').textContent,
        history: li.classList.contains('event-history'),
      })),
    };
  }, id);
}

const PANELS = ['sse', 'longpoll', 'socketio'];

/** waitPanels waits until check(state) returns '' for every panel. */
async function waitPanels(page, what, check) {
  const deadline = Date.now() + WAIT_MS;
  const last = {};
  for (;;) {
    let pending = '';
    for (const id of PANELS) {
      const st = await panelState(page, id);
      last[id] = st;
      const why = st ? check(st, id) : 'panel missing';
      if (why) pending += `${id}: ${why}; `;
    }
    if (!pending) {
      step(what);
      return true;
    }
    if (Date.now() > deadline) {
      fail(`${what}: ${pending} panels: ${JSON.stringify(last)}`);
      return false;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** rowsMatch checks that the panel's committed live rows are want, in order. */
function rowsMatch(want) {
  return (st) => {
    const got = st.rows.filter((r) => r.offset && !r.history).map((r) => `${r.offset}:${r.type}:${r.text}`);
    const exp = want.map((e) => `${e.offset}:${e.type}:${e.data.text}`);
    return JSON.stringify(got) === JSON.stringify(exp) ? '' : `rows ${JSON.stringify(got)}, want ${JSON.stringify(exp)}`;
  };
}

/** waitPanel waits until check(state) returns '' for one panel. */
async function waitPanel(page, id, what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const st = await panelState(page, id);
    const why = st ? check(st) : 'panel missing';
    if (!why) {
      step(what);
      return st;
    }
    if (Date.now() > deadline) {
      fail(`${what}: ${id}: ${why}; panel: ${JSON.stringify(st)}`);
      return null;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * sendForm publishes the form's current fields (Enter in the text field)
 * and returns what the form reports: {state, text, offset}.
 */
async function sendForm(page, text) {
  await page.fill('#text-input', text);
  await page.press('#text-input', 'Enter');
  await page.waitForFunction(() => !document.querySelector('#send-btn').disabled, null, { timeout: WAIT_MS });
  return page.evaluate(() => {
    const st = document.querySelector('#publish-status');
    return { state: st.dataset.state, text: st.textContent, offset: Number(st.dataset.offset || 0) };
  });
}

const live = (room) => (st) => (st.status === 'live' && st.room === room ? '' : `status ${st.status} room ${st.room}`);

/**
 * plainSocketIO runs socket.io-client, from the bundle the server serves,
 * in a page of its own: io({transports: ['websocket']}) joins a room and
 * receives an event; then the connection is dropped, two events are
 * published with fetch while it reconnects, and the session must be
 * recovered with exactly those two events, once each, in order.
 */
async function plainSocketIO(browser) {
  const room = 'plain-socketio';
  const page = await browser.newPage();
  page.on('pageerror', (err) => fail(`plain page error: ${err.message}`));
  // A document of the server's origin, replaced by a bare page. (A page
  // made up by page.route has no network origin of its own, and
  // Chromium's local network access checks then refuse its WebSocket.)
  await page.goto(`${base}/healthz`, { waitUntil: 'load' });
  await page.setContent('<!doctype html><meta charset="utf-8"><title>plain socket.io-client</title><script src="/socket.io/socket.io.js"></script>', { waitUntil: 'load' });
  const out = await page.evaluate(async ({ room, type }) => {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const within = (p, ms, what) => Promise.race([p, sleep(ms).then(() => { throw new Error(`${what}: timed out`); })]);
    const until = async (f, ms, what) => {
      const end = Date.now() + ms;
      while (!f()) {
        if (Date.now() > end) throw new Error(`${what}: timed out`);
        await sleep(20);
      }
    };
    const post = async (text) => {
      const res = await fetch(`/api/rooms/${room}/events`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type, data: { text } }),
      });
      return res.json();
    };
    const out = { got: [], connects: [], published: [] };
    const s = io({ transports: ['websocket'] });
    try {
      s.onAny((t, data, meta, token) => out.got.push({ type: t, offset: meta?.offset, room: meta?.room, text: data?.text, token }));
      s.on('connect', () => out.connects.push({ recovered: s.recovered, transport: s.io.engine.transport.name }));
      await within(new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); }), 10000, 'connect');
      out.join = await s.timeout(5000).emitWithAck('room:join', { room });
      out.published.push(await post('before the drop'));
      await until(() => out.got.length >= 1, 5000, 'the first event');
      const back = new Promise((resolve) => s.once('connect', resolve));
      s.io.engine.close();
      out.connectedAfterClose = s.connected;
      out.published.push(await post('missed one'), await post('missed two'));
      out.publishedWhileDown = !s.connected;
      await within(back, 10000, 'reconnect');
      out.recovered = s.recovered;
      await until(() => out.got.length >= 3, 5000, 'the missed events');
      await sleep(500); // anything extra would arrive by now
    } catch (err) {
      out.error = String(err);
    } finally {
      s.disconnect();
    }
    return out;
  }, { room, type: TYPE });
  await page.close();
  result.plainSocketIO = out;
  if (out.error) {
    fail(`plain socket.io-client: ${out.error}: ${JSON.stringify(out)}`);
    return;
  }
  if (!out.join?.ok || out.join.room !== room) fail(`plain socket.io-client: room:join ack ${JSON.stringify(out.join)}`);
  if (out.connectedAfterClose) fail('plain socket.io-client: still connected after engine.close()');
  if (!out.publishedWhileDown) fail('plain socket.io-client: reconnected before the missed events were published; the check proves nothing');
  if (out.recovered !== true) fail(`plain socket.io-client: socket.recovered = ${out.recovered} after the drop`);
  const want = out.published.map((e) => `${e.offset}:${e.data.text}`);
  const got = out.got.map((e) => `${e.offset}:${e.text}`);
  if (JSON.stringify(got) !== JSON.stringify(want)) fail(`plain socket.io-client got ${JSON.stringify(got)}, want exactly ${JSON.stringify(want)}`);
  else step(`plain socket.io-client over websocket recovered its session with exactly ${JSON.stringify(want.slice(1))}`);
  if (out.connects.some((c) => c.transport !== 'websocket')) fail(`plain socket.io-client transports ${JSON.stringify(out.connects)}`);
  if (out.got.some((e) => e.room !== room || e.type !== TYPE || typeof e.token !== 'string')) fail(`plain socket.io-client: want meta.room, the type and an offset token on every event: ${JSON.stringify(out.got)}`);
  result.offsets.plainSocketIO = out.got.map((e) => e.offset);
}

let browser;
try {
  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  // Keep the sockets the UI makes with io(), to drop their connection later.
  await page.addInitScript(() => {
    let real;
    window.__sockets = [];
    Object.defineProperty(window, 'io', {
      configurable: true,
      get() { return real; },
      set(v) {
        real = typeof v !== 'function' ? v : Object.assign((...args) => {
          const s = v(...args);
          window.__sockets.push(s);
          return s;
        }, v);
      },
    });
  });
  page.on('pageerror', (err) => fail(`page error: ${err.message}`));
  page.on('console', (m) => {
    // The invalid publish below is answered 400, which Chromium logs.
    if (m.type() === 'error' && !m.text().includes('status of 400')) result.console.push(m.text());
  });

  // Other rooms, for the rooms list.
  await publishAPI('lobby', TYPE, 'welcome to the lobby');
  await publishAPI('ops', 'deploy:started', 'v1.4.2 rolling out');
  await publishAPI('ops', 'deploy:finished', 'v1.4.2 live');

  await page.goto(base + '/', { waitUntil: 'load' });
  await waitPanels(page, 'panels live in lobby', live('lobby'));
  await waitPanels(page, 'lobby history shown', (st) =>
    st.rows.length === 1 && st.rows[0].history && st.rows[0].text === 'welcome to the lobby' ? '' : `rows ${JSON.stringify(st.rows)}`);

  // Switch by clicking a room in the rooms list.
  await page.locator('#rooms-body tr[data-room="ops"] button').click({ timeout: WAIT_MS });
  await waitPanels(page, 'switched to ops from the rooms list', (st) =>
    live('ops')(st) || (st.rows.length === 2 ? '' : `${st.rows.length} rows`));

  // Connect to the test room through the room form (Enter submits).
  await page.fill('#room-input', ROOM);
  await page.press('#room-input', 'Enter');
  await waitPanels(page, `panels live in ${ROOM}`, live(ROOM));
  await waitPanel(page, 'socketio', 'Socket.IO panel upgraded to websocket', (st) =>
    st.wire === 'websocket' ? '' : `transport ${JSON.stringify(st.wire)}`);
  if (await page.evaluate(() => window.__sockets.length) !== 1) fail(`the UI made ${await page.evaluate(() => window.__sockets.length)} sockets, want 1 for the page's lifetime`);

  // A publish error is shown inline.
  await page.fill('#type-input', 'bad type!');
  await page.fill('#text-input', 'never stored');
  await page.click('#send-btn');
  try {
    await page.waitForSelector('#publish-status[data-state="error"]', { timeout: WAIT_MS });
    const text = await page.textContent('#publish-status');
    if (!text.includes('invalid_argument')) fail(`publish error shown as ${JSON.stringify(text)}, want the invalid_argument code`);
    else step('publish error shown inline');
  } catch {
    fail('no inline error after publishing an invalid type');
  }
  await page.fill('#type-input', TYPE);

  // Three messages through the form: Enter in the text field submits.
  const published = [];
  for (const text of ['hello from the form', 'second message', 'third: <b>not bold</b> & escaped']) {
    await page.fill('#text-input', text);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/rooms/${ROOM}/events`) && r.request().method() === 'POST', { timeout: WAIT_MS }),
      page.press('#text-input', 'Enter'),
    ]);
    if (res.status() !== 201) fail(`form publish: status ${res.status()}`);
    published.push(await res.json());
    await page.waitForFunction(() => !document.querySelector('#send-btn').disabled);
  }
  result.offsets.form = published.map((e) => e.offset);
  for (let i = 1; i < published.length; i++) {
    if (!(published[i].offset > published[i - 1].offset)) fail(`form offsets not increasing: ${result.offsets.form}`);
  }
  await waitPanels(page, 'each panel shows the 3 form messages in order', rowsMatch(published));
  if (await page.locator('.ev-data b').count() > 0) fail('event text was inserted as HTML');

  // Now through Socket.IO: an error first, then two messages.
  await page.click('label[for="via-socketio"]');
  await page.fill('#type-input', 'bad type!');
  const sioErr = await sendForm(page, 'never stored either');
  if (sioErr.state !== 'error' || !sioErr.text.includes('invalid_argument') || !sioErr.text.includes('Socket.IO')) {
    fail(`Socket.IO publish error shown as ${JSON.stringify(sioErr)}, want invalid_argument via Socket.IO`);
  } else step('Socket.IO publish error (ack {ok:false}) shown inline');
  await page.fill('#type-input', TYPE);
  for (const text of ['sent over Socket.IO', 'and acked with an offset']) {
    const r = await sendForm(page, text);
    const last = published.at(-1).offset;
    if (r.state !== 'ok' || !(r.offset > last) || r.text !== `Published #${r.offset} via Socket.IO`) {
      fail(`Socket.IO form publish ${JSON.stringify(text)}: status ${JSON.stringify(r)}, want an offset above ${last}`);
      continue;
    }
    published.push({ offset: r.offset, type: TYPE, data: { text } });
  }
  result.offsets.socketioForm = published.slice(3).map((e) => e.offset);
  await waitPanels(page, 'each panel shows the 2 Socket.IO form messages in order', rowsMatch(published));
  await page.click('label[for="via-http"]');

  // One more, published with fetch from the page itself.
  const viaFetch = await page.evaluate(async ({ room, type }) => {
    const res = await fetch(`/api/rooms/${room}/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ type, data: { text: 'published with fetch' } }),
    });
    return { status: res.status, body: await res.json() };
  }, { room: ROOM, type: TYPE });
  if (viaFetch.status !== 201) fail(`fetch publish: status ${viaFetch.status}: ${JSON.stringify(viaFetch.body)}`);
  published.push(viaFetch.body);
  await waitPanels(page, 'each panel shows the fetch publish', rowsMatch(published));

  // A plain EventSource in the page: replay from 0, then resume after the
  // last id, then an epoch mismatch.
  const es = await page.evaluate(async ({ room, type, count }) => {
    const out = { first: [], missed: [], published: [], reset: null, afterReset: [], errors: [] };
    const collect = (url, into, n, extraMs, opts = {}) => new Promise((resolve) => {
      const src = new EventSource(url);
      let timer = setTimeout(() => { out.errors.push(`${url}: timed out with ${into.length} of ${n}`); done(); }, 10000);
      const done = () => { clearTimeout(timer); src.close(); resolve(); };
      src.addEventListener(type, (e) => {
        const data = JSON.parse(e.data);
        into.push({ lastEventId: e.lastEventId, offset: data.offset, type: data.type, text: data.data?.text });
        if (into.length === n) {
          clearTimeout(timer);
          timer = setTimeout(done, extraMs); // catch anything extra
        }
      });
      src.addEventListener('reset', (e) => { out.reset = { lastEventId: e.lastEventId, ...JSON.parse(e.data) }; });
      if (opts.onOpen) src.onopen = opts.onOpen;
    });
    const enc = encodeURIComponent(room);
    await collect(`/sse?room=${enc}&after=0`, out.first, count, 300);
    const lastId = out.first.at(-1)?.lastEventId ?? '0';
    for (const text of ['missed one', 'missed two']) {
      const res = await fetch(`/api/rooms/${enc}/events`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type, data: { text } }),
      });
      out.published.push(await res.json());
    }
    out.resumeAfter = lastId;
    await collect(`/sse?room=${enc}&after=${lastId}`, out.missed, 2, 700);
    await collect(`/sse?room=${enc}&after=2&epoch=not-this-log`, out.afterReset, count + 2, 300);
    return out;
  }, { room: ROOM, type: TYPE, count: published.length });
  result.eventsource = es;
  for (const e of es.errors) fail(`EventSource: ${e}`);
  const firstWant = published.map((e) => e.offset);
  const firstGot = es.first.map((e) => e.offset);
  if (JSON.stringify(firstGot) !== JSON.stringify(firstWant)) fail(`EventSource after=0 offsets ${JSON.stringify(firstGot)}, want ${JSON.stringify(firstWant)}`);
  for (const e of es.first) {
    if (e.lastEventId !== String(e.offset)) fail(`EventSource lastEventId ${JSON.stringify(e.lastEventId)} for offset ${e.offset}`);
  }
  const missedWant = es.published.map((e) => e.offset);
  const missedGot = es.missed.map((e) => e.offset);
  if (JSON.stringify(missedGot) !== JSON.stringify(missedWant)) fail(`EventSource resume after=${es.resumeAfter}: offsets ${JSON.stringify(missedGot)}, want exactly ${JSON.stringify(missedWant)}`);
  else step(`EventSource resumed after ${es.resumeAfter} with exactly ${JSON.stringify(missedGot)}`);
  if (es.missed.some((e) => e.lastEventId !== String(e.offset))) fail(`EventSource resume: lastEventId differs from offset: ${JSON.stringify(es.missed)}`);
  if (!es.reset || es.reset.reason !== 'epoch_mismatch') fail(`EventSource with a foreign epoch: reset ${JSON.stringify(es.reset)}, want reason epoch_mismatch`);
  else if (es.afterReset.length !== published.length + 2) fail(`after the reset: ${es.afterReset.length} events, want ${published.length + 2}`);
  else step('EventSource with a foreign epoch got event: reset, then the retained events');
  result.offsets.eventsource = firstGot;
  result.offsets.resumed = missedGot;

  // The UI's panels got the two as well.
  published.push(...es.published);
  await waitPanels(page, `each panel shows all ${published.length} events`, rowsMatch(published));

  // Drop the UI's Socket.IO connection: the session is recovered and the
  // events published meanwhile are replayed, once.
  const dropUI = (forget) => page.evaluate((forget) => {
    const s = window.__sockets[0];
    if (forget) {
      // CONNECT carries {pid, offset, ...auth}: a pid the server never
      // gave out means no recovery, as if the session had expired.
      const auth = s.auth;
      s.auth = { ...auth, pid: 'forgotten-session' };
      s.once('connect', () => { s.auth = auth; });
    }
    s.io.engine.close();
    return s.connected;
  }, forget);
  if (await dropUI(false)) fail('the UI socket still connected after engine.close()');
  await waitPanel(page, 'socketio', 'Socket.IO panel reconnecting after the drop', (st) =>
    st.status === 'reconnecting' ? '' : `status ${st.status}`);
  for (const text of ['missed by Socket.IO 1', 'missed by Socket.IO 2']) published.push(await publishAPI(ROOM, TYPE, text));
  await waitPanel(page, 'socketio', 'Socket.IO panel recovered its session with the 2 missed events', (st) =>
    st.status === 'live' && st.note === 'recovered — 2 missed events replayed' ? '' : `status ${st.status}, note ${JSON.stringify(st.note)}`);
  if (!await page.evaluate(() => window.__sockets[0].recovered)) fail('UI socket: socket.recovered is false after the drop');
  await waitPanels(page, 'each panel shows the events published during the drop', rowsMatch(published));

  // Again without the session id: a new session, re-joined after the
  // panel's last offset.
  const lastBefore = published.at(-1).offset;
  await dropUI(true);
  published.push(await publishAPI(ROOM, TYPE, 'missed by a forgotten session'));
  // The panel re-joins after the last offset it has: lastBefore, or the new
  // event when socket.io-client still delivered it from the old transport
  // (packets already read are emitted after the reconnect).
  const rejoinNotes = [lastBefore, published.at(-1).offset].map((o) => `new session — re-joined from offset ${o}`);
  await waitPanel(page, 'socketio', 'Socket.IO panel re-joined its room in a new session', (st) =>
    st.status === 'live' && rejoinNotes.includes(st.note) ? '' : `status ${st.status}, note ${JSON.stringify(st.note)}`);
  await waitPanels(page, 'each panel shows the event published before the re-join', rowsMatch(published));
  await waitPanel(page, 'socketio', 'Socket.IO panel upgraded to websocket again', (st) =>
    st.wire === 'websocket' ? '' : `transport ${JSON.stringify(st.wire)}`);

  // The rooms list counts them.
  try {
    await page.waitForFunction(({ room, n }) => {
      const tr = document.querySelector(`#rooms-body tr[data-room="${room}"]`);
      return tr && tr.getAttribute('aria-current') === 'true' && tr.children[2].textContent === String(n);
    }, { room: ROOM, n: published.length }, { timeout: WAIT_MS });
    step(`rooms list shows the room with ${published.length} events`);
  } catch {
    fail(`rooms list: ${await page.textContent('#rooms-body')}`);
  }

  // Ephemeral events, over HTTP and over Socket.IO, reach the SSE and
  // Socket.IO panels without an offset.
  await page.check('#ephemeral-input');
  for (const via of ['http', 'socketio']) {
    await page.click(`label[for="via-${via}"]`);
    const r = await sendForm(page, `typing… (${via})`);
    if (r.state !== 'ok' || r.offset) fail(`ephemeral publish via ${via}: ${JSON.stringify(r)}`);
  }
  for (const id of ['sse', 'socketio']) {
    try {
      await page.waitForFunction((id) => {
        const rows = [...document.querySelectorAll(`.panel[data-transport="${id}"] li.event-ephemeral`)];
        return rows.length === 2 && rows.every((li) => !li.dataset.offset);
      }, id, { timeout: WAIT_MS });
      step(`2 ephemeral events shown in the ${id} panel`);
    } catch {
      fail(`the ephemeral events did not reach the ${id} panel`);
    }
  }
  await page.uncheck('#ephemeral-input');
  await page.click('label[for="via-http"]');
  await page.fill('#text-input', '');

  for (const id of PANELS) {
    const st = await panelState(page, id);
    const want = String(Math.max(...published.map((e) => e.offset)));
    if (st.lastOffset !== want) fail(`${id} panel last offset ${st.lastOffset}, want ${want}`);
    if (st.status !== 'live') fail(`${id} panel ${st.status} at the end`);
  }

  result.offsets.published = published.map((e) => e.offset);

  // A plain page with only the socket.io-client bundle: join, receive,
  // drop the connection, and recover exactly the missed events.
  await plainSocketIO(browser);

  // Narrow screens: the panels stack and nothing scrolls sideways.
  for (const width of [1200, 390]) {
    await page.setViewportSize({ width, height: 900 });
    const lay = await page.evaluate(() => ({
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      panels: [...document.querySelectorAll('.panel')].map((p) => Math.round(p.getBoundingClientRect().left)),
      rooms: document.querySelector('.rooms').getBoundingClientRect().width,
    }));
    const stacked = new Set(lay.panels).size === 1;
    if (lay.overflow > 0) fail(`at ${width}px the page scrolls sideways by ${lay.overflow}px`);
    else if (width < 900 && !stacked) fail(`at ${width}px the panels are not stacked: ${JSON.stringify(lay)}`);
    else if (width >= 900 && new Set(lay.panels).size !== 3) fail(`at ${width}px the panels are not side by side: ${JSON.stringify(lay)}`);
    else step(`${width}px wide: panels ${stacked ? 'stacked' : 'side by side'}, rooms list ${Math.round(lay.rooms)}px wide, no sideways scroll`);
    if (width < 900) await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-narrow.png', fullPage: true });
  }
  await page.setViewportSize({ width: 1440, height: 900 });

  await page.evaluate(() => { for (const w of document.querySelectorAll('.events-wrap')) w.scrollTop = w.scrollHeight; });
  await page.waitForTimeout(700); // let the arrival highlight fade
  await page.screenshot({ path: screenshot });
  result.screenshot = screenshot;
  for (const m of result.console) fail(`console error: ${m}`);
} catch (err) {
  fail(`${err.stack || err}`);
} finally {
  await browser?.close().catch(() => {});
}
result.ok = result.failures.length === 0;
console.log(JSON.stringify(result));
