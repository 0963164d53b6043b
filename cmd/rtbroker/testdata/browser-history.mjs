// browser-history.mjs drives the history browser (/history.html) in
// Debian's Chromium with playwright-core.
//
//   node browser-history.mjs BASE_URL SCREENSHOT_PATH
//
// The server keeps rooms "trimmed-*" to their last 3 events (retention
// every second). Node publishes 45 events to room "hist" (one every tenth
// followed by one in room "other", so the room's offsets have holes), one
// of them <img src=x onerror=…>, and 6 to "trimmed-a".
// 1. The newest page of "hist" (page size 10) ends at the room's head;
//    "Older" pages back through several pages to offset 1, each page the
//    10 offsets before the last one, until the start marker shows and
//    "Older" is disabled; together the pages hold every event once.
//    "Newer" from the start continues after the last offset shown.
// 2. The <img> event is shown as text: no img element, no dialog.
// 3. Jumping to offset N shows N first (marked); jumping to an offset of
//    "other" shows the next event of "hist" and says so; the URL names the
//    page (after=, epoch=).
// 4. "Follow live" from the jumped page: the events after it arrive over
//    SSE, then 3 published by Node appear marked live; the list holds every
//    offset from the jump on, once each, in order.
// 5. Resets: "trimmed-a" opened after its first offset shows a "trimmed"
//    reset row; "hist" opened with another epoch in the URL shows an
//    "epoch_mismatch" reset row; the start marker of "trimmed-a" says
//    events were removed by retention. A room named with ':' and '@' is
//    read; a room name the server refuses shows its error.
// 6. Every control is labelled and text contrast is WCAG AA, light and
//    dark (a11y.mjs). At 375 px wide nothing scrolls sideways. Screenshots: SCREENSHOT_PATH
//    (1440 px) and SCREENSHOT_PATH with "-phone" (375 px).
//
// With RTBROKER_TEST_API_KEY (a server with that API key, no anonymous
// access): without a credential the page shows the 401; with the key in
// its Token field it reads room "ops", lists it, and follows it live.
// Screenshot: none.
//
// It prints one JSON line: {"ok", "failures", "steps", "offsets",
// "screenshot"}; the exit code is 0 when it was printed, 2 on bad usage.
import { auditBoth } from './a11y.mjs';
import { launchChromium } from './chromium.mjs';

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error('usage: node browser-history.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}

const API_KEY = process.env.RTBROKER_TEST_API_KEY ?? '';
const WAIT_MS = 20000;
const XSS = '<img src=x onerror=alert(1)>';
const result = { ok: false, failures: [], steps: [], offsets: {}, console: [], screenshot: '' };
const fail = (msg) => result.failures.push(msg);
const step = (msg) => result.steps.push(msg);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** publish publishes from Node, outside the page; returns the offset. */
async function publish(room, data) {
  const res = await fetch(`${base}/api/rooms/${room}/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'chat:message', data }),
  });
  if (res.status !== 201) throw new Error(`publish: status ${res.status}: ${await res.text()}`);
  return (await res.json()).offset;
}

/** view reads what the page shows. */
const view = (page) => page.evaluate(() => ({
  offsets: [...document.querySelectorAll('#events .hevent')].map((li) => Number(li.dataset.offset)),
  live: [...document.querySelectorAll('#events .hevent-live')].map((li) => Number(li.dataset.offset)),
  target: [...document.querySelectorAll('#events .hevent-target')].map((li) => Number(li.dataset.offset)),
  resets: [...document.querySelectorAll('#events .hreset')].map((li) => li.dataset.reason),
  marks: [...document.querySelectorAll('#events .hmark')].map((li) => `${li.dataset.mark}: ${li.textContent}`),
  status: document.querySelector('#log-status').textContent,
  olderDisabled: document.querySelector('#older-btn').disabled,
  newerDisabled: document.querySelector('#newer-btn').disabled,
  follow: document.body.dataset.follow,
  url: location.search,
}));

/** settled waits for the page's request to finish and returns the view. */
async function settled(page) {
  await page.waitForFunction(() => document.body.dataset.loading === '0', null, { timeout: WAIT_MS });
  return view(page);
}

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

let expect400 = false; // a refused request is logged by the browser

/** openServer is the test on an open server (steps 1–6 above). */
async function openServer(page) {
  // The rooms: "hist" with holes in its offsets, "trimmed-a" past its retention.
  const hist = [];
  const other = [];
  for (let i = 1; i <= 45; i++) {
    hist.push(await publish('hist', i === 7 ? { text: XSS, n: i } : { text: `message ${i}`, n: i }));
    if (i % 10 === 0) other.push(await publish('other', { text: `elsewhere ${i}` }));
  }
  const trimmed = [];
  for (let i = 1; i <= 6; i++) trimmed.push(await publish('trimmed-a', { n: i }));
  for (const deadline = Date.now() + WAIT_MS; ;) { // retention runs every second
    const rooms = await (await fetch(`${base}/api/rooms`)).json();
    const t = rooms.rooms.find((r) => r.room === 'trimmed-a');
    if (t && t.trimmed >= 3) break;
    if (Date.now() > deadline) throw new Error(`retention did not trim trimmed-a: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  step(`published ${hist.length} events to hist (offsets ${hist[0]}–${hist.at(-1)}), ${other.length} to other, 6 to trimmed-a (3 removed by retention)`);

  // 1. Newest page, then older pages back to offset 1.
  await page.goto(`${base}/history.html?room=hist&limit=10`);
  let v = await settled(page);
  if (!same(v.offsets, hist.slice(-10))) fail(`newest page: offsets ${v.offsets}, want ${hist.slice(-10)}`);
  if (!v.newerDisabled) fail('newest page: "Newer" is enabled');
  if (!v.marks.some((m) => m.startsWith('head'))) fail(`newest page: no head marker: ${v.marks}`);
  const seen = [...v.offsets];
  let pages = 1;
  while (!v.olderDisabled && pages < 20) {
    const before = v.offsets[0];
    await page.click('#older-btn');
    v = await settled(page);
    pages++;
    const want = hist.filter((o) => o < before).slice(-10);
    if (!same(v.offsets, want)) fail(`page ${pages}: offsets ${v.offsets}, want ${want}`);
    seen.unshift(...v.offsets);
  }
  result.offsets.pagedBack = seen;
  if (v.offsets[0] !== 1) fail(`paged back to offset ${v.offsets[0]}, want 1`);
  if (!v.marks.some((m) => m.startsWith('start'))) fail(`at the start, no start marker: ${v.marks}`);
  if (!same(seen, hist)) fail(`the pages together hold ${seen.length} offsets, want every event of hist once: ${seen}`);
  if (pages < 5) fail(`paged back in ${pages} pages, want at least 5`);
  const focused = await page.evaluate(() => document.activeElement?.id);
  if (focused !== 'newer-btn') fail(`at the start "Older" is disabled and the focus is on #${focused}, want "Newer"`);
  step(`paged back from the head to offset 1 in ${pages} pages of 10, "Older" disabled at the start marker, the focus handed to "Newer"`);

  const firstPage = v.offsets;
  await page.click('#newer-btn');
  v = await settled(page);
  const wantNewer = hist.filter((o) => o > firstPage.at(-1)).slice(0, 10);
  if (!same(v.offsets, wantNewer)) fail(`"Newer" from the start: offsets ${v.offsets}, want ${wantNewer}`);
  else step(`"Newer" from the start (${firstPage.length} events) shows the next 10 events`);

  // 2. The <img> text: the 7th event, on this page.
  const xss = await page.evaluate((o) => {
    const li = document.querySelector(`#events .hevent[data-offset="${o}"]`);
    return { text: li?.querySelector('.ev-data')?.textContent ?? null, imgs: document.querySelectorAll('#events img').length };
  }, hist[6]);
  if (!xss.text?.includes(XSS) || xss.imgs !== 0) fail(`the <img> event: text ${xss.text}, ${xss.imgs} img elements`);
  else step('an event holding <img src=x onerror=alert(1)> is shown as text');

  // 3. Jump to an offset, and to one of another room.
  const target = hist[34];
  await page.fill('#jump-input', String(target));
  await page.click('#jump-btn');
  v = await settled(page);
  if (v.offsets[0] !== target || !same(v.target, [target])) fail(`jump to ${target}: offsets ${v.offsets}, marked ${v.target}`);
  if (!v.url.includes(`after=${target - 1}`) || !v.url.includes('epoch=')) fail(`jump to ${target}: the URL is ${v.url}`);
  await page.fill('#jump-input', String(other[1]));
  await page.click('#jump-btn');
  v = await settled(page);
  const nextHist = hist.find((o) => o > other[1]);
  if (v.offsets[0] !== nextHist || !v.status.includes('not an event of hist')) fail(`jump to ${other[1]} (room other): offsets ${v.offsets}, status ${v.status}`);
  await page.fill('#jump-input', String(target));
  await page.press('#jump-input', 'Enter');
  v = await settled(page);
  if (v.offsets[0] !== target) fail(`jump with Enter to ${target}: offsets ${v.offsets}`);
  step(`jumped to offset ${target}; an offset of another room shows the next one of hist (${nextHist}) and says so`);

  // 4. Follow live from the jumped page.
  await page.click('#follow-btn');
  await page.waitForFunction(() => document.body.dataset.follow === 'live', null, { timeout: WAIT_MS });
  const live = [];
  for (let i = 1; i <= 3; i++) live.push(await publish('hist', { text: `live ${i}` }));
  hist.push(...live);
  const wantFollow = hist.filter((o) => o >= target);
  v = await until(page, 'following live: the rest of the room and 3 new events arrive over SSE, once each, in order', (x) => (same(x.offsets, wantFollow) ? '' : `offsets ${x.offsets}, want ${wantFollow}`));
  if (!live.every((o) => v.live.includes(o))) fail(`the live events ${live} are not all marked live: ${v.live}`);
  result.offsets.followed = v.offsets;
  await auditBoth(page, 'history page, following', fail, step);
  await page.screenshot({ path: screenshot, fullPage: true });
  result.screenshot = screenshot;

  // 6. Phone width, still following.
  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) fail(`at 375px the page scrolls sideways by ${overflow}px`);
  else step('375px wide: no sideways scroll');
  await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-phone.png', fullPage: false });
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.click('#follow-btn');
  await page.waitForFunction(() => document.body.dataset.follow === 'off', null, { timeout: WAIT_MS });

  // 5. Resets.
  await page.goto(`${base}/history.html?room=trimmed-a&limit=10&after=${trimmed[0]}`);
  v = await settled(page);
  if (!same(v.resets, ['trimmed']) || !same(v.offsets, trimmed.slice(3))) fail(`trimmed-a after ${trimmed[0]}: resets ${v.resets}, offsets ${v.offsets}`);
  if (!v.marks.some((m) => m.startsWith('start') && /removed by retention/.test(m))) fail(`trimmed-a: no start marker naming retention: ${v.marks}`);
  step('a position retention removed shows a "trimmed" reset row and the start marker says events were removed');
  await page.goto(`${base}/history.html?room=hist&limit=10&after=5&epoch=01AAAAAAAAAAAAAAAAAAAAAAAA`);
  v = await settled(page);
  if (!same(v.resets, ['epoch_mismatch'])) fail(`hist with another epoch: resets ${v.resets}`);
  else step('a position from another epoch shows an "epoch_mismatch" reset row');
  await auditBoth(page, 'history page, with a reset', fail, step);
  await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-reset.png', fullPage: false });

  // A room whose name has ':' and '@' (legal in a path, sent as they are).
  const colon = [await publish('chat:ops@hist', { text: 'colon' }), await publish('chat:ops@hist', { text: 'at' })];
  await page.goto(`${base}/history.html?room=${encodeURIComponent('chat:ops@hist')}`);
  v = await settled(page);
  if (!same(v.offsets, colon)) fail(`room chat:ops@hist: offsets ${v.offsets}, want ${colon}; status ${v.status}`);
  else step('a room named with ":" and "@" (chat:ops@hist) is read');

  // A room name the server refuses: its message, no rows, no crash.
  expect400 = true;
  await page.goto(`${base}/history.html?room=${encodeURIComponent('no such/room')}`);
  await page.waitForFunction(() => document.querySelector('#log-status').dataset.state === 'error', null, { timeout: WAIT_MS });
  v = await view(page);
  if (!/^Could not read no such\/room: 4\d\d /.test(v.status) || v.offsets.length) fail(`a bad room name: status ${v.status}, offsets ${v.offsets}`);
  else step(`a room name the server refuses: "${v.status}"`);
}

/**
 * secured is the test on a server with API_KEY (and no anonymous access):
 * refused without a credential, then the key typed in the field reads the
 * room and follows it live (SSE with the key in a header).
 */
async function secured(page) {
  const key = { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' };
  const post = async (data) => {
    const res = await fetch(`${base}/api/rooms/ops/events`, { method: 'POST', headers: key, body: JSON.stringify({ type: 'ops:note', data }) });
    if (res.status !== 201) throw new Error(`publish: status ${res.status}: ${await res.text()}`);
    return (await res.json()).offset;
  };
  const first = [await post({ n: 1 }), await post({ n: 2 })];
  expect400 = true;
  await page.goto(`${base}/history.html?room=ops`);
  await page.waitForFunction(() => document.querySelector('#log-status').dataset.state === 'error', null, { timeout: WAIT_MS });
  let v = await view(page);
  if (!/^Could not read ops: 401 /.test(v.status)) fail(`without a credential: status ${v.status}`);
  else step(`without a credential: "${v.status}"`);
  expect400 = false;
  await page.fill('#token-input', API_KEY);
  await page.click('#room-form button[type="submit"]');
  v = await settled(page);
  if (!same(v.offsets, first)) fail(`with the API key: offsets ${v.offsets}, want ${first}; status ${v.status}`);
  const rooms = await page.evaluate(() => [...document.querySelectorAll('#rooms-body tr[data-room]')].map((r) => r.dataset.room));
  if (!rooms.includes('ops')) fail(`with the API key the room list is ${rooms}`);
  await page.click('#follow-btn');
  await page.waitForFunction(() => document.body.dataset.follow === 'live', null, { timeout: WAIT_MS });
  const live = await post({ n: 3 });
  await until(page, 'with the API key in the Token field: the room is read, listed and followed live (the key in a header)', (x) => (same(x.offsets, [...first, live]) ? '' : `offsets ${x.offsets}`));
}

let browser;
try {
  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', (err) => fail(`page error: ${err.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !(expect400 && /status of 40[01]/.test(m.text()))) result.console.push(m.text()); });
  page.on('dialog', (d) => { fail(`a dialog opened: ${d.message()}`); d.dismiss().catch(() => {}); });
  if (API_KEY) await secured(page);
  else await openServer(page);
  for (const m of result.console) fail(`console error: ${m}`);
} catch (err) {
  fail(`${err.stack || err}`);
} finally {
  await browser?.close().catch(() => {});
}
result.ok = result.failures.length === 0;
console.log(JSON.stringify(result));
