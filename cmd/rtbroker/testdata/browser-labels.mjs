// browser-labels.mjs opens rtbroker's UI in Debian's Chromium, with
// playwright-core, on a room whose events the Go test published (the
// README's quick start: an event published with curl is seen in the UI).
//
//   ROOM=<room> TYPES=<type,type,…> node browser-labels.mjs BASE_URL SCREENSHOT_PATH
//
// At 1440 px and at 1000 px wide, every panel (SSE, long-polling,
// Socket.IO) must show each event with its type label in full (not cut:
// its scrollWidth fits its width, and at least as wide as its text) and
// its time inside the row. The
// screenshot is taken at 1440 px; one at 1000 px ("-narrow.png") beside it.
//
// It prints one JSON line: {"ok", "failures": [...], "steps": [...],
// "screenshot"}. The exit code is 0 when the line was printed (the Go test
// judges "ok"), 2 on bad usage.
import { launchChromium } from './chromium.mjs';

const [base, screenshot] = process.argv.slice(2);
const room = process.env.ROOM;
const types = (process.env.TYPES || '').split(',').filter(Boolean);
if (!base || !screenshot || !room || types.length === 0) {
  console.error('usage: ROOM=<room> TYPES=<t1,t2> node browser-labels.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}
const WAIT_MS = 15000;
const PANELS = ['sse', 'longpoll', 'socketio'];
const result = { ok: false, failures: [], steps: [], screenshot: '' };
const fail = (msg) => result.failures.push(msg);
const step = (msg) => result.steps.push(msg);

/** labels reads the type labels of every panel's rows. */
function labels(page) {
  return page.evaluate((ids) => ids.map((id) => {
    const p = document.querySelector(`.panel[data-transport="${id}"]`);
    return {
      id,
      status: p?.dataset.status,
      rows: [...(p?.querySelectorAll('.events > li') ?? [])].map((li) => {
        const el = li.querySelector('.ev-type');
        const probe = el.cloneNode(true);
        probe.style.cssText = 'position:absolute;visibility:hidden;width:auto;max-width:none';
        el.parentElement.append(probe); // same font as the label
        const natural = probe.getBoundingClientRect().width;
        probe.remove();
        const time = li.querySelector('.ev-time').getBoundingClientRect();
        const box = li.getBoundingClientRect();
        return {
          type: el.textContent, width: el.getBoundingClientRect().width, natural, cut: el.scrollWidth > el.clientWidth + 1,
          timeOut: time.right > box.right + 0.5 || time.left < box.left - 0.5,
        };
      }),
    };
  }), PANELS);
}

async function check(page, width) {
  await page.setViewportSize({ width, height: 900 });
  const deadline = Date.now() + WAIT_MS;
  let last;
  for (;;) {
    last = await labels(page);
    if (last.every((p) => p.status === 'live' && p.rows.length === types.length)) break;
    if (Date.now() > deadline) {
      fail(`${width}px: panels did not show the ${types.length} events: ${JSON.stringify(last)}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  let bad = 0;
  for (const p of last) {
    for (const r of p.rows) {
      if (!types.includes(r.type)) fail(`${width}px ${p.id}: unexpected type ${JSON.stringify(r.type)}`);
      if (r.cut || r.width + 0.5 < r.natural) {
        bad++;
        fail(`${width}px ${p.id}: label ${JSON.stringify(r.type)} squeezed to ${r.width.toFixed(1)} px of ${r.natural.toFixed(1)}`);
      }
      if (r.timeOut) {
        bad++;
        fail(`${width}px ${p.id}: the time of ${JSON.stringify(r.type)} sticks out of its row`);
      }
    }
  }
  if (!bad) step(`${width}px: every panel shows the events with their type labels in full`);
}

let browser;
try {
  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', (err) => fail(`page error: ${err.message}`));
  await page.goto(`${base}/?room=${encodeURIComponent(room)}`, { waitUntil: 'load' });
  await check(page, 1000);
  await page.waitForTimeout(700); // let the arrival highlight fade
  await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-narrow.png' });
  await check(page, 1440);
  await page.screenshot({ path: screenshot });
  result.screenshot = screenshot;
} catch (err) {
  fail(`${err.stack || err}`);
} finally {
  await browser?.close().catch(() => {});
}
result.ok = result.failures.length === 0;
console.log(JSON.stringify(result));
