// browser-transports.mjs drives the transports page (/transports.html) in
// Debian's Chromium with playwright-core.
//
//   node browser-transports.mjs BASE_URL SCREENSHOT_PATH
//
// 1. The five panels go live; a burst sent with the page's "Send burst"
//    reaches every panel: every event once, in offset order, none marked
//    replayed, and each panel's check says "no gap, no duplicate".
// 2. While Node publishes events one after another, "Drop connection" is
//    pressed on every panel in turn; then "Offline" on every panel, and
//    once all of them say offline, Node publishes more. In the end every
//    panel has every event published (by the page and by Node) once, in
//    order; the events published while the panels were offline are marked
//    replayed in every panel, and the events of the burst are not.
// 3. At 375 px wide the page does not scroll sideways. Screenshots:
//    SCREENSHOT_PATH (1440 px) and SCREENSHOT_PATH with "-phone" (375 px).
//
// It prints one JSON line: {"ok", "failures", "steps", "offsets",
// "screenshot"}; the exit code is 0 when it was printed, 2 on bad usage.
import { launchChromium } from './chromium.mjs';

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error('usage: node browser-transports.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}

const ROOM = 'transports-test';
const TYPE = 'transports:ping';
const PANELS = ['sio-websocket', 'sio-polling', 'sse', 'longpoll', 'shortpoll'];
const WAIT_MS = 20000;

const result = { ok: false, failures: [], steps: [], offsets: {}, console: [], screenshot: '' };
const fail = (msg) => result.failures.push(msg);
const step = (msg) => result.steps.push(msg);

/** publishAPI publishes from Node, outside the page; returns the offset. */
async function publishAPI(text) {
  const res = await fetch(`${base}/api/rooms/${ROOM}/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: TYPE, data: { text, sent: Date.now() } }),
  });
  if (res.status !== 201) throw new Error(`publish: status ${res.status}: ${await res.text()}`);
  return (await res.json()).offset;
}

/** panels reads what every panel shows. */
const panels = (page) => page.evaluate(() => Object.fromEntries([...document.querySelectorAll('.tpanel')].map((p) => [p.dataset.transport, {
  status: p.dataset.status,
  check: p.dataset.check,
  checkText: p.querySelector('.check-line').textContent,
  requests: Number(p.querySelector('.st-requests').textContent),
  reconnects: Number(p.querySelector('.st-reconnects').textContent),
  rows: [...p.querySelectorAll('.events > li')].map((li) => ({ offset: Number(li.dataset.offset), replayed: li.dataset.replayed === '1' })),
}])));

/** waitAll waits until check(panel) is '' for every panel. */
async function waitAll(page, what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const st = await panels(page);
    let pending = '';
    for (const id of PANELS) {
      const why = st[id] ? check(st[id], id) : 'panel missing';
      if (why) pending += `${id}: ${why}; `;
    }
    if (!pending) {
      step(what);
      return st;
    }
    if (Date.now() > deadline) {
      fail(`${what}: ${pending}`);
      return st;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** hasExactly checks that a panel shows want's offsets, each once, in order. */
const hasExactly = (want) => (p) => {
  const got = p.rows.map((r) => r.offset);
  if (JSON.stringify(got) !== JSON.stringify(want)) return `offsets ${JSON.stringify(got)}, want ${JSON.stringify(want)}`;
  if (p.check !== 'ok') return `check ${p.check}: ${p.checkText}`;
  return '';
};

let browser;
try {
  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', (err) => fail(`page error: ${err.message}`));
  page.on('console', (m) => { if (m.type() === 'error') result.console.push(m.text()); });
  await page.goto(`${base}/transports.html?room=${ROOM}`);
  await page.waitForSelector('body[data-ready="1"]', { timeout: WAIT_MS });
  await waitAll(page, 'five panels live', (p) => (p.status === 'live' ? '' : `status ${p.status}`));

  // 1. A burst from the page's own control.
  await page.fill('#burst-input', '20');
  await page.click('#burst-btn');
  await page.waitForFunction(() => /Burst of 20 committed/.test(document.querySelector('#publish-status').textContent), null, { timeout: WAIT_MS });
  const burst = await page.evaluate(() => [...globalThis.rtTransports.known.offsets]);
  if (burst.length !== 20) fail(`the page knows ${burst.length} offsets after a burst of 20`);
  const afterBurst = await waitAll(page, 'a burst of 20 reached every panel, once each, in order', hasExactly(burst));
  for (const id of PANELS) {
    if (afterBurst[id]?.rows.some((r) => r.replayed)) fail(`${id}: a burst event is marked replayed before any drop`);
  }

  // 2. Drop every panel in turn while Node publishes.
  const published = [...burst];
  let publishing = true;
  const publisher = (async () => {
    for (let i = 1; publishing; i++) {
      published.push(await publishAPI(`during drops ${i}`));
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
  for (const id of PANELS) {
    await page.click(`.tpanel[data-transport="${id}"] .btn-drop`);
    await page.waitForFunction((id) => document.querySelector(`.tpanel[data-transport="${id}"]`).dataset.status === 'live', id, { timeout: WAIT_MS });
  }
  publishing = false;
  await publisher;
  step(`dropped each panel's connection while ${published.length - burst.length} events were published`);

  // Offline for 2 s, every panel at once; publish while all are offline.
  await page.fill('#offline-input', '2');
  await page.dispatchEvent('#offline-input', 'change');
  for (const id of PANELS) await page.click(`.tpanel[data-transport="${id}"] .btn-offline`);
  await waitAll(page, 'every panel offline', (p) => (p.status === 'offline' ? '' : `status ${p.status}`));
  const whileOffline = [];
  for (let i = 1; i <= 5; i++) whileOffline.push(await publishAPI(`while offline ${i}`));
  published.push(...whileOffline);
  const final = await waitAll(page, 'every panel has every event once, in order, after the drops', (p) => hasExactly(published)(p) || (p.status === 'live' ? '' : `status ${p.status}`)
    || (p.reconnects >= 2 ? '' : `${p.reconnects} reconnects counted after a drop and an offline period`));
  for (const id of PANELS) {
    const p = final[id];
    if (!p) continue;
    const replayed = new Set(p.rows.filter((r) => r.replayed).map((r) => r.offset));
    const unmarked = whileOffline.filter((o) => !replayed.has(o));
    if (unmarked.length) fail(`${id}: events published while offline not marked replayed: ${unmarked}`);
    const early = burst.filter((o) => replayed.has(o));
    if (early.length) fail(`${id}: burst events marked replayed: ${early}`);
    step(`${id}: ${p.reconnects} reconnects, ${p.requests} requests`);
    result.offsets[id] = p.rows.map((r) => r.offset);
    result.offsets[`${id}-replayed`] = [...replayed];
  }
  step(`the ${whileOffline.length} events published while offline are marked replayed in every panel`);

  // 3. Phone width: no sideways scrolling; screenshots.
  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForTimeout(300); // the chart follows its container's size
  const lay = await page.evaluate(() => ({
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    lefts: [...document.querySelectorAll('.tpanel')].map((p) => Math.round(p.getBoundingClientRect().left)),
  }));
  if (lay.overflow > 0) fail(`at 375px the page scrolls sideways by ${lay.overflow}px`);
  else if (new Set(lay.lefts).size !== 1) fail(`at 375px the panels are not stacked: ${lay.lefts}`);
  else step('375px wide: panels stacked, no sideways scroll');
  await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-phone.png', fullPage: true });
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.waitForTimeout(300);
  await page.screenshot({ path: screenshot, fullPage: true });
  result.screenshot = screenshot;
  for (const m of result.console) fail(`console error: ${m}`);
} catch (err) {
  fail(`${err.stack || err}`);
} finally {
  await browser?.close().catch(() => {});
}
result.ok = result.failures.length === 0;
console.log(JSON.stringify(result));
