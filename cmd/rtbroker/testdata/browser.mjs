// browser.mjs drives rtbroker's UI in Debian's Chromium with playwright-core.
//
//   node browser.mjs BASE_URL SCREENSHOT_PATH
//
// It prints one JSON line: {"ok", "failures": [...], "steps": [...],
// "offsets": {...}, "screenshot"}. The exit code is 0 when the line was
// printed (the Go test judges "ok"), 2 on bad usage.
//
// Chromium is launched by chromium.launch with the flags this machine's
// closed network needs. Playwright refuses a --user-data-dir argument in
// launch(); it makes a fresh, empty profile directory of its own with
// mkdtemp under os.tmpdir() for every launch and removes it on close (the
// Go test points TMPDIR at a test temp dir).
import { chromium } from 'playwright-core';

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

const PANELS = ['sse', 'longpoll'];

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

const live = (room) => (st) => (st.status === 'live' && st.room === room ? '' : `status ${st.status} room ${st.room}`);

let browser;
try {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    timeout: 60000,
  });
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
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
  await waitPanels(page, 'each panel shows all 6 events', rowsMatch(published));

  // The rooms list counts them.
  try {
    await page.waitForFunction((room) => {
      const tr = document.querySelector(`#rooms-body tr[data-room="${room}"]`);
      return tr && tr.getAttribute('aria-current') === 'true' && tr.children[2].textContent === '6';
    }, ROOM, { timeout: WAIT_MS });
    step('rooms list shows the room with 6 events');
  } catch {
    fail(`rooms list: ${await page.textContent('#rooms-body')}`);
  }

  // An ephemeral event reaches the SSE panel without an offset.
  await page.check('#ephemeral-input');
  await page.fill('#text-input', 'typing…');
  await page.press('#text-input', 'Enter');
  try {
    await page.waitForSelector('.panel[data-transport="sse"] li.event-ephemeral', { timeout: WAIT_MS });
    step('ephemeral event shown in the SSE panel');
  } catch {
    fail('the ephemeral event did not reach the SSE panel');
  }
  await page.uncheck('#ephemeral-input');
  await page.fill('#text-input', '');

  for (const id of PANELS) {
    const st = await panelState(page, id);
    const want = String(published.at(-1).offset);
    if (st.lastOffset !== want) fail(`${id} panel last offset ${st.lastOffset}, want ${want}`);
    if (st.status !== 'live') fail(`${id} panel ${st.status} at the end`);
  }

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
