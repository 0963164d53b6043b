// browser-token.mjs drives rtbroker's UI in Debian's Chromium, with
// playwright-core, on a server that requires a token (--jwt-secret).
//
//   RTBROKER_TEST_TOKEN=<jwt> node browser-token.mjs BASE_URL SCREENSHOT_PATH
//
// The token's sub is "ada"; it may subscribe to and publish in the room
// "secure-room" only. Without a token the panels show "unauthorized";
// with it (typed into the Token field) every panel goes live, the page
// sends it as ?token= on the SSE and long-poll requests, as
// Authorization: Bearer on fetch, and as auth.token on Socket.IO, and
// what the form publishes (over HTTP and Socket.IO) shows `from` ada. A
// room the token does not allow shows "forbidden". After a reload the tab
// still has its token. The screenshot is taken last; one of the refused
// page ("-refused.png") beside it.
//
// It prints one JSON line: {"ok", "failures": [...], "steps": [...],
// "screenshot"}. The exit code is 0 when the line was printed (the Go test
// judges "ok"), 2 on bad usage.
import { launchChromium } from './chromium.mjs';

const [base, screenshot] = process.argv.slice(2);
const token = process.env.RTBROKER_TEST_TOKEN;
if (!base || !screenshot || !token) {
  console.error('usage: RTBROKER_TEST_TOKEN=<jwt> node browser-token.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}

const ROOM = 'secure-room';
const TYPE = 'chat:message';
const WAIT_MS = 15000;
const PANELS = ['sse', 'longpoll', 'socketio'];

const result = { ok: false, failures: [], steps: [], console: [], screenshot: '' };
const fail = (msg) => result.failures.push(msg);
const step = (msg) => result.steps.push(msg);

/** panelState reads what a panel shows. */
function panelState(page, id) {
  return page.evaluate((id) => {
    const p = document.querySelector(`.panel[data-transport="${id}"]`);
    if (!p) return null;
    const note = p.querySelector('.panel-note');
    return {
      status: p.dataset.status,
      note: note.hidden ? '' : note.querySelector('.note-text')?.textContent ?? '',
      noteKind: note.hidden ? '' : note.dataset.kind,
      room: p.querySelector('.stat-room').textContent,
      rows: [...p.querySelectorAll('.events > li')].map((li) => ({
        offset: Number(li.dataset.offset || 0),
        text: li.querySelector('.ev-data').textContent,
        from: li.querySelector('.ev-from').textContent,
      })),
    };
  }, id);
}

/** waitPanels waits until check(state, id) returns '' for the panels ids. */
async function waitPanels(page, what, check, ids = PANELS) {
  const deadline = Date.now() + WAIT_MS;
  const last = {};
  for (;;) {
    let pending = '';
    for (const id of ids) {
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

const live = (room) => (st) => (st.status === 'live' && st.room === room ? '' : `status ${st.status} room ${st.room} note ${JSON.stringify(st.note)}`);

/** sendForm publishes the form's text (Enter) and returns the form's status. */
async function sendForm(page, text) {
  await page.fill('#text-input', text);
  await page.press('#text-input', 'Enter');
  await page.waitForFunction(() => !document.querySelector('#send-btn').disabled, null, { timeout: WAIT_MS });
  return page.evaluate(() => {
    const st = document.querySelector('#publish-status');
    return { state: st.dataset.state, text: st.textContent, offset: Number(st.dataset.offset || 0) };
  });
}

let browser;
try {
  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
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
    // Refused requests (no token yet, a room not allowed) are logged by Chromium.
    if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) result.console.push(m.text());
  });
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), authorization: r.headers().authorization ?? '' }));

  // No token: refused, and said so.
  await page.goto(`${base}/?room=${ROOM}`, { waitUntil: 'load' });
  await waitPanels(page, 'without a token every panel says unauthorized', (st) =>
    st.status !== 'live' && st.noteKind === 'error' && st.note.includes('unauthorized') ? '' : `status ${st.status}, note ${JSON.stringify(st.note)}`);
  if (await page.textContent('#identity') !== 'anonymous') fail(`identity ${await page.textContent('#identity')}, want anonymous`);
  try {
    await page.waitForSelector('#rooms-error:not([hidden])', { timeout: WAIT_MS });
    const text = await page.textContent('#rooms-error');
    if (!text.includes('unauthorized')) fail(`rooms error ${JSON.stringify(text)}`);
    else step('rooms list says unauthorized');
  } catch {
    fail('no rooms list error without a token');
  }
  await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-refused.png' });

  // The token, typed into the Token field (Enter connects).
  requests.length = 0;
  await page.fill('#token-input', token);
  await page.press('#token-input', 'Enter');
  await waitPanels(page, `with the token every panel is live in ${ROOM}`, live(ROOM));
  // From here on every fetch is made with the token (before, a rooms
  // refresh or a history retry could still be on its way without it).
  const withToken = requests.length;
  const identity = await page.textContent('#identity');
  if (identity !== 'ada') fail(`identity ${JSON.stringify(identity)}, want ada`);
  else step('the app bar shows the token subject, ada');
  if (!await page.isHidden('#rooms-error')) {
    try {
      await page.waitForSelector('#rooms-error', { state: 'hidden', timeout: WAIT_MS });
    } catch {
      fail(`rooms list error with the token: ${await page.textContent('#rooms-error')}`);
    }
  }

  // Publish over HTTP and over Socket.IO: from is the token's subject.
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/rooms/${ROOM}/events`) && r.request().method() === 'POST', { timeout: WAIT_MS }),
    sendForm(page, 'hello with a token'),
  ]);
  const httpEv = await res.json();
  if (res.status() !== 201 || httpEv.from !== 'ada') fail(`HTTP publish: ${res.status()} ${JSON.stringify(httpEv)}`);
  await page.click('label[for="via-socketio"]');
  const sio = await sendForm(page, 'and over Socket.IO');
  if (sio.state !== 'ok' || !(sio.offset > httpEv.offset)) fail(`Socket.IO publish: ${JSON.stringify(sio)}`);
  await page.click('label[for="via-http"]');
  const want = [`${httpEv.offset}:hello with a token:ada`, `${sio.offset}:and over Socket.IO:ada`];
  await waitPanels(page, 'every panel shows both events, from ada', (st) => {
    const got = st.rows.filter((r) => r.offset).map((r) => `${r.offset}:${r.text}:${r.from}`);
    return JSON.stringify(got) === JSON.stringify(want) ? '' : `rows ${JSON.stringify(got)}`;
  });

  // How the token travelled.
  const tokenParam = (u) => new URL(u).searchParams.get('token');
  const sse = requests.filter((r) => new URL(r.url).pathname === '/sse');
  const poll = requests.filter((r) => new URL(r.url).pathname === '/poll');
  const post = requests.filter((r) => r.method === 'POST' && new URL(r.url).pathname.startsWith('/api/rooms/'));
  const history = requests.slice(withToken).filter((r) => r.method === 'GET' && new URL(r.url).pathname.startsWith('/api/rooms'));
  if (sse.length === 0 || sse.some((r) => tokenParam(r.url) !== token)) fail(`SSE requests without ?token=: ${JSON.stringify(sse.map((r) => r.url.slice(0, 80)))}`);
  else step(`SSE sends ?token= (${sse.length} requests)`);
  if (poll.length === 0 || poll.some((r) => tokenParam(r.url) !== token)) fail('long-poll requests without ?token=');
  else step(`long-poll sends ?token= (${poll.length} requests)`);
  if (post.length !== 1 || post[0].authorization !== `Bearer ${token}` || tokenParam(post[0].url)) fail(`HTTP publish headers ${JSON.stringify(post.map((r) => r.authorization.slice(0, 20)))}`);
  else step('HTTP publish sends Authorization: Bearer');
  if (history.length === 0 || history.some((r) => r.authorization !== `Bearer ${token}`)) fail(`rooms list requests without Authorization: Bearer: ${JSON.stringify(history.map((r) => [r.url, r.authorization.slice(0, 12)]))}`);
  else step(`the rooms list is fetched with Authorization: Bearer (${history.length} requests)`);
  const sioAuth = await page.evaluate(() => new Promise((resolve) => {
    const s = window.__sockets[0];
    if (typeof s.auth === 'function') s.auth(resolve);
    else resolve(s.auth);
  }));
  if (sioAuth?.token !== token) fail(`Socket.IO auth ${JSON.stringify(sioAuth)?.slice(0, 60)}, want {token}`);
  else step('Socket.IO sends auth.token');

  // A room the token does not allow.
  await page.fill('#room-input', 'other-room');
  await page.press('#room-input', 'Enter');
  await waitPanels(page, 'a room the token does not allow says forbidden', (st) =>
    st.room === 'other-room' && st.status !== 'live' && st.noteKind === 'error' && st.note.includes('forbidden') ? '' : `room ${st.room} status ${st.status}, note ${JSON.stringify(st.note)}`);

  // The tab keeps its token across a reload.
  await page.goto(`${base}/?room=${ROOM}`, { waitUntil: 'load' });
  await waitPanels(page, 'after a reload the token is still used', live(ROOM));
  if (await page.inputValue('#token-input') !== token) fail('the token field is empty after a reload');
  await waitPanels(page, 'the history shows the two events from ada', (st) =>
    st.rows.length === 2 && st.rows.every((r) => r.from === 'ada') ? '' : `rows ${JSON.stringify(st.rows)}`);

  await page.fill('#text-input', '');
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
