// browser-chat.mjs drives the chat page (/chat.html) in Debian's Chromium
// with playwright-core.
//
//   MODE=token ADA=JWT BOB=JWT node browser-chat.mjs BASE_URL SCREENSHOT_PATH
//   MODE=anonymous node browser-chat.mjs BASE_URL SCREENSHOT_PATH
//
// MODE=token (a server with --jwt-secret and --presence-events): two
// browser contexts, Ada and Bob, sign in with their tokens (a bad token is
// refused with the server's reason first; there is no anonymous choice).
// Ada's "general" opens with the last 50 of its 55 earlier events and
// "Load older" brings the first 5. They see each other in the presence
// list; Bob types and Ada reads "bob is typing…" (Ada, up the list, is
// offered "New messages below" for his message); Ada's message gets "Seen
// by bob"; Ada edits it and deletes another, and Bob sees both; a message
// <img src=x onerror=alert(1)> is shown as text in both pages (no img
// element, no dialog). Ada's session is forgotten and her connection
// dropped: she re-joins after her last offset and gets what Bob wrote
// meanwhile, once. Bob leaves the room (Ada's presence list loses him),
// joins again and is sent what Ada wrote meanwhile. Ada's connection drops
// while Bob writes, and her page says "recovered" with Bob's message there
// once. Bob writes Ada a direct message: her room list shows it with 1
// unread, she opens it and answers. Text contrasts with its background as
// WCAG AA asks, in the light theme (Ada) and the dark one (Bob).
// Screenshots: SCREENSHOT_PATH (Ada, 1280 px) and, with "-phone", 375 px
// wide, where nothing scrolls sideways.
//
// MODE=anonymous (a server without credentials): the sign-in card offers
// "Continue anonymously"; the page says it is anonymous, joins a room,
// sends a message shown as from anonymous:…, offers no edit and no DM,
// names every control, keeps WCAG AA contrast, does not scroll sideways at
// 375 px (a long word, a long room name), and a reload goes straight back
// in. Screenshot: SCREENSHOT_PATH.
//
// It prints one JSON line: {"ok", "failures", "steps", "screenshot"}; the
// exit code is 0 when it was printed, 2 on bad usage.
import { launchChromium } from './chromium.mjs';

const [base, screenshot] = process.argv.slice(2);
const mode = process.env.MODE ?? 'token';
if (!base || !screenshot) {
  console.error('usage: MODE=token|anonymous node browser-chat.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}
const WAIT_MS = 20000;
const XSS = '<img src=x onerror=alert(1)>';

const result = { ok: false, failures: [], steps: [], console: [], screenshot: '' };
const fail = (msg) => result.failures.push(msg);
const step = (msg) => result.steps.push(msg);

/** check runs one named step; a failure is recorded and the script goes on. */
async function check(what, fn) {
  try {
    await fn();
    step(what);
    return true;
  } catch (err) {
    fail(`${what}: ${err.message.split('\n')[0]}`);
    return false;
  }
}

/** waitText waits until the element's text (trimmed) satisfies want. */
async function waitText(page, sel, want, what) {
  try {
    await page.waitForFunction(([sel, src]) => {
      const n = document.querySelector(sel);
      return n && new RegExp(src).test(n.textContent.trim());
    }, [sel, want.source], { timeout: WAIT_MS });
  } catch {
    const got = await page.$eval(sel, (n) => n.textContent.trim()).catch(() => '(missing)');
    throw new Error(`${what}: ${sel} says ${JSON.stringify(got)}, want ${want}`);
  }
}

/** messages reads the open room's messages as the page shows them. */
const messages = (page) => page.$$eval('#messages > li', (lis) => lis.map((li) => ({
  offset: Number(li.dataset.offset),
  from: li.dataset.from,
  text: li.querySelector('.msg-text').textContent,
  edited: !li.querySelector('.msg-edited').hidden,
  seen: li.querySelector('.msg-seen').hidden ? '' : li.querySelector('.msg-seen').textContent,
  canEdit: !!li.querySelector('.msg-edit'),
})));

/** waitMessage waits for a message whose text is text in the open room. */
async function waitMessage(page, text, what) {
  try {
    await page.waitForFunction((t) => [...document.querySelectorAll('#messages .msg-text')].some((n) => n.textContent === t), text, { timeout: WAIT_MS });
  } catch {
    throw new Error(`${what}: no message ${JSON.stringify(text)}; shown: ${JSON.stringify((await messages(page)).map((m) => m.text).slice(-8))}`);
  }
}

const li = (page, text) => page.locator('#messages > li', { has: page.locator('.msg-text', { hasText: text }) }).last();

/** noSideScroll checks that the page does not scroll sideways at its width. */
async function noSideScroll(page, what) {
  const w = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth, body: document.body.scrollWidth }));
  if (w.scroll > w.inner || w.body > w.inner) throw new Error(`${what}: scrollWidth ${w.scroll} (body ${w.body}) > ${w.inner}`);
}

/**
 * lowContrast lists the page's visible text whose colour contrasts with
 * its background (the first opaque one up the tree) less than WCAG AA
 * asks: 4.5:1, or 3:1 for large text (24 px, or 18.7 px bold). Disabled
 * controls are exempt, as WCAG says.
 */
const lowContrast = (page) => page.evaluate(() => {
  const parse = (c) => {
    let m = /^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/.exec(c);
    if (m) return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])];
    m = /^color\(srgb ([\d.]+) ([\d.]+) ([\d.]+)(?: \/ ([\d.]+))?\)$/.exec(c);
    if (m) return [m[1] * 255, m[2] * 255, m[3] * 255, m[4] === undefined ? 1 : Number(m[4])];
    return null;
  };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (n) => {
    for (; n && n.nodeType === 1; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] >= 0.99) return c;
    }
    return [255, 255, 255, 1];
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const n = t.parentElement;
    if (!t.textContent.trim() || !n || n.closest('[hidden], .visually-hidden, :disabled, option')) continue;
    const r = n.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const st = getComputedStyle(n);
    const fg = parse(st.color);
    if (!fg) continue;
    const bg = background(n);
    const a = fg[3];
    const mixed = [0, 1, 2].map((i) => fg[i] * a + bg[i] * (1 - a));
    const [l1, l2] = [lum(mixed), lum(bg)].sort((x, y) => y - x);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`"${t.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}:1`);
  }
  return out;
});

function watch(page, who) {
  page.on('pageerror', (err) => fail(`${who}: page error: ${err.message}`));
  page.on('dialog', (d) => { fail(`${who}: a ${d.type()} dialog opened: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on('console', (m) => { if (m.type() === 'error') result.console.push(`${who}: ${m.text()}`); });
}

/** signIn opens the page and signs in with token. */
async function signIn(page, token, room) {
  await page.goto(`${base}/chat.html?room=${room}`);
  await page.waitForSelector('#signin:not([hidden])', { timeout: WAIT_MS });
  await page.fill('#token-input', token);
  await page.press('#token-input', 'Enter'); // Enter signs in (a token has no new lines)
  await page.waitForSelector('#chat:not([hidden])', { timeout: WAIT_MS });
  await waitText(page, '#conn-text', /connected|recovered/, 'connection');
  await waitText(page, '#room-title', new RegExp(`^#${room}$`), 'room open');
  await page.waitForSelector('#send-input:not([disabled])', { timeout: WAIT_MS });
}

async function sendText(page, text) {
  await page.fill('#send-input', text);
  await page.press('#send-input', 'Enter');
}

async function tokenMode(browser) {
  // 55 events in general before anyone opens it.
  for (let i = 1; i <= 55; i++) {
    const res = await fetch(`${base}/api/rooms/general/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${process.env.BOB}` },
      body: JSON.stringify({ type: 'chat:message', data: { text: `earlier ${i}` } }),
    });
    if (res.status !== 201) throw new Error(`publish: ${res.status} ${await res.text()}`);
  }
  const adaCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const bobCtx = await browser.newContext({ viewport: { width: 1100, height: 800 }, colorScheme: 'dark' });
  const ada = await adaCtx.newPage();
  const bob = await bobCtx.newPage();
  watch(ada, 'ada');
  watch(bob, 'bob');

  await check('a server that needs a token offers no anonymous mode, and refuses a bad token with its reason', async () => {
    await ada.goto(`${base}/chat.html?room=general`);
    await ada.waitForSelector('#signin:not([hidden])', { timeout: WAIT_MS });
    await waitText(ada, '#mode-text', /requires a token/, 'mode text');
    if (await ada.isVisible('#anon-btn')) throw new Error('"Continue anonymously" is offered');
    await ada.fill('#token-input', 'not-a-token');
    await ada.click('#signin-btn');
    await waitText(ada, '#signin-error', /Token refused/, 'bad token');
    const forged = process.env.ADA.slice(0, -4) + (process.env.ADA.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await ada.fill('#token-input', forged);
    await ada.click('#signin-btn');
    await waitText(ada, '#signin-error', /Token refused: unauthorized/, 'forged token');
  });

  await check('ada signs in with her token; general opens with its last 50 events', async () => {
    await signIn(ada, process.env.ADA, 'general');
    await waitText(ada, '#me-name', /^ada$/, 'me');
    await waitMessage(ada, 'earlier 55', 'history');
    const got = (await messages(ada)).map((m) => m.text);
    if (got.length !== 50 || got[0] !== 'earlier 6') throw new Error(`history shows ${got.length} messages from ${got[0]}`);
  });

  await check('"Load older" brings the first 5, then says it is the beginning', async () => {
    await ada.click('#older-btn');
    await waitText(ada, '#older-note', /beginning of the room/, 'older note');
    const got = (await messages(ada)).map((m) => m.text);
    const want = Array.from({ length: 55 }, (_, i) => `earlier ${i + 1}`);
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`shows ${got.length}: ${got.slice(0, 6)}…`);
    if (await ada.isVisible('#older-btn')) throw new Error('"Load older" still offered');
  });

  await check('bob signs in; each sees the other in the presence list', async () => {
    await signIn(bob, process.env.BOB, 'general');
    await ada.waitForSelector('#people-list li[data-user="bob"]', { timeout: WAIT_MS });
    await bob.waitForSelector('#people-list li[data-user="ada"]', { timeout: WAIT_MS });
  });

  await check('bob types: ada reads "bob is typing…", gone once he sends', async () => {
    await bob.click('#send-input');
    await bob.keyboard.type('hi ad', { delay: 30 });
    await waitText(ada, '#typing', /^bob is typing…$/, 'typing');
    await bob.keyboard.type('a');
    await bob.keyboard.press('Enter');
    await waitMessage(ada, 'hi ada', 'bob\'s message');
    await waitText(ada, '#typing', /^$/, 'typing after send');
  });

  await check('ada, scrolled up to the older messages, is offered "New messages below", which takes her there', async () => {
    await ada.waitForSelector('#newer-btn:visible', { timeout: WAIT_MS });
    await ada.click('#newer-btn');
    const gap = await ada.$eval('#log-wrap', (w) => w.scrollHeight - w.scrollTop - w.clientHeight);
    if (gap > 80) throw new Error(`${gap} px from the bottom`);
    if (await ada.isVisible('#newer-btn')) throw new Error('the button stays');
  });

  await check('ada writes (Enter sends); bob has it open, so ada sees "Seen by bob"', async () => {
    await sendText(ada, 'helo bob');
    await waitMessage(bob, 'helo bob', 'at bob');
    await ada.waitForFunction(() => [...document.querySelectorAll('#messages > li')].some((li) => li.querySelector('.msg-text').textContent === 'helo bob' && li.querySelector('.msg-seen').textContent === 'Seen by bob'), null, { timeout: WAIT_MS });
  });

  await check('ada edits her message; bob sees the new text marked edited and cannot edit it', async () => {
    const mine = li(ada, 'helo bob');
    await mine.locator('.msg-edit').click();
    await ada.fill('#messages textarea.edit-input', 'hello bob');
    await ada.press('#messages textarea.edit-input', 'Enter');
    await waitMessage(bob, 'hello bob', 'edit at bob');
    const m = (await messages(bob)).find((x) => x.text === 'hello bob');
    if (!m.edited) throw new Error('not marked edited at bob');
    if (m.canEdit) throw new Error('bob is offered to edit ada\'s message');
    if ((await messages(bob)).some((x) => x.text === 'helo bob')) throw new Error('the old text is still shown');
  });

  await check('ada deletes a message (two clicks); it goes from bob\'s page', async () => {
    await sendText(ada, 'oops, wrong room');
    await waitMessage(bob, 'oops, wrong room', 'at bob');
    const del = li(ada, 'oops, wrong room').locator('.msg-delete');
    await del.click();
    await del.click();
    await bob.waitForFunction(() => ![...document.querySelectorAll('#messages .msg-text')].some((n) => n.textContent === 'oops, wrong room'), null, { timeout: WAIT_MS });
  });

  await check(`"${XSS}" is shown as text in both pages: no img element, no dialog`, async () => {
    await sendText(bob, XSS);
    await waitMessage(ada, XSS, 'at ada');
    await waitMessage(bob, XSS, 'at bob');
    await new Promise((r) => setTimeout(r, 300));
    for (const [who, page] of [['ada', ada], ['bob', bob]]) {
      const imgs = await page.$$eval('img', (n) => n.length);
      if (imgs) throw new Error(`${who}: ${imgs} img elements`);
    }
  });

  await check('ada\'s session is forgotten and her connection drops: she re-joins after her last offset, nothing missed or twice', async () => {
    await ada.evaluate(() => {
      // CONNECT carries {pid, offset, ...auth}: a pid the server never
      // gave out means no recovery, as if the session had expired.
      const s = globalThis.rtChat.socket;
      const auth = s.auth;
      s.auth = (cb) => auth((a) => cb({ ...a, pid: 'forgotten-session' }));
      s.once('connect', () => { s.auth = auth; });
    });
    await ada.click('#drop-btn');
    await sendText(bob, 'while your session was gone');
    await waitText(ada, '#conn-text', /^reconnected$/, 'connection state');
    await waitMessage(ada, 'while your session was gone', 'after re-joining');
    await waitText(ada, '#conn-note', /re-joined 1 room/, 'connection note');
    const offs = (await messages(ada)).map((m) => m.offset);
    for (let i = 1; i < offs.length; i++) if (offs[i] <= offs[i - 1]) throw new Error(`offsets not increasing: ${offs}`);
  });

  await check('bob leaves general (ada sees him go) and joins again: what was said meanwhile is there', async () => {
    await bob.click('#leave-btn');
    await bob.waitForSelector('#join-btn:visible', { timeout: WAIT_MS });
    if (!await bob.isDisabled('#send-input')) throw new Error('bob can still write after leaving');
    await ada.waitForSelector('#people-list li[data-user="bob"]', { state: 'detached', timeout: WAIT_MS });
    await sendText(ada, 'did you leave?');
    await waitMessage(ada, 'did you leave?', 'own message');
    await bob.click('#join-btn');
    await waitMessage(bob, 'did you leave?', 'after re-joining');
    await ada.waitForSelector('#people-list li[data-user="bob"]', { timeout: WAIT_MS });
    const offs = (await messages(bob)).map((m) => m.offset);
    if (new Set(offs).size !== offs.length) throw new Error(`bob shows an offset twice: ${offs}`);
  });

  await check('ada\'s connection drops while bob writes: "recovered", his message there once', async () => {
    await ada.click('#drop-btn');
    await sendText(bob, 'while you were away');
    await waitText(ada, '#conn-text', /^recovered$/, 'connection state');
    await waitMessage(ada, 'while you were away', 'after recovery');
    const offs = (await messages(ada)).map((m) => m.offset);
    for (let i = 1; i < offs.length; i++) if (offs[i] <= offs[i - 1]) throw new Error(`offsets not increasing: ${offs}`);
  });

  await check('bob writes ada a DM: her room list shows it with 1 unread; she opens it and answers', async () => {
    await bob.fill('#dm-input', 'ada');
    await bob.click('#dm-form button[type="submit"]');
    await waitText(bob, '#room-title', /^@ada$/, 'bob\'s DM');
    await sendText(bob, 'lunch at noon?');
    await waitMessage(bob, 'lunch at noon?', 'own DM');
    // The page asks me:rooms every 10 s.
    await ada.waitForSelector('#room-list [data-room="dm:ada:bob"] .unread[data-count="1"]', { timeout: 2 * WAIT_MS });
    await ada.screenshot({ path: screenshot });
    result.screenshot = screenshot;
    await ada.click('#room-list [data-room="dm:ada:bob"]');
    await waitText(ada, '#room-title', /^@bob$/, 'ada\'s DM');
    await waitMessage(ada, 'lunch at noon?', 'DM at ada');
    await ada.waitForSelector('#room-list [data-room="dm:ada:bob"]:not(:has(.unread))', { timeout: WAIT_MS });
    await sendText(ada, 'yes!');
    await waitMessage(bob, 'yes!', 'answer at bob');
  });

  await check('text contrasts with its background as WCAG AA asks, in the light (ada) and dark (bob) themes', async () => {
    const low = [...(await lowContrast(ada)).map((x) => `ada: ${x}`), ...(await lowContrast(bob)).map((x) => `bob: ${x}`)];
    if (low.length) throw new Error(low.join('; '));
  });

  await check('at 375 px wide nothing scrolls sideways', async () => {
    await ada.click('#room-list [data-room="general"]');
    await waitMessage(ada, 'while you were away', 'general again');
    await ada.setViewportSize({ width: 375, height: 812 });
    await new Promise((r) => setTimeout(r, 200));
    await noSideScroll(ada, 'ada');
    await ada.screenshot({ path: screenshot.replace(/\.png$/, '-phone.png') });
  });
}

async function anonymousMode(browser) {
  const ctx = await browser.newContext({ viewport: { width: 375, height: 812 } });
  const page = await ctx.newPage();
  watch(page, 'anonymous');
  await check('a server without credentials offers "Continue anonymously"', async () => {
    await page.goto(`${base}/chat.html`);
    await page.waitForSelector('#signin:not([hidden])', { timeout: WAIT_MS });
    await page.waitForSelector('#anon-btn:visible', { timeout: WAIT_MS });
    await noSideScroll(page, 'sign-in card');
    await page.click('#anon-btn');
    await page.waitForSelector('#chat:not([hidden])', { timeout: WAIT_MS });
    await waitText(page, '#me-name', /^anonymous$/, 'me');
    if (!await page.isVisible('#anon-note')) throw new Error('no anonymous-mode note');
    if (!await page.isDisabled('#dm-input')) throw new Error('the DM form is enabled');
    await waitText(page, '#conn-text', /connected/, 'connection');
  });
  await check('anonymous: join a room, send, shown as from anonymous:…, no edit', async () => {
    await page.fill('#join-input', 'lobby');
    await page.press('#join-input', 'Enter');
    await waitText(page, '#room-title', /^#lobby$/, 'room');
    await page.waitForSelector('#send-input:not([disabled])', { timeout: WAIT_MS });
    await sendText(page, `hi from nobody ${XSS}`);
    await waitMessage(page, `hi from nobody ${XSS}`, 'own message');
    const [m] = await messages(page);
    if (!m.from.startsWith('anonymous:')) throw new Error(`from ${m.from}`);
    if (m.canEdit) throw new Error('edit offered to an anonymous user');
    if (await page.$$eval('img', (n) => n.length)) throw new Error('an img element');
  });
  await check('every control has a name and every field a label', async () => {
    const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, textarea, select, button, a[href]')].filter((n) => {
      if (n.closest('[hidden]')) return false;
      const label = n.labels?.length ? [...n.labels].map((l) => l.textContent).join('') : '';
      return !(label.trim() || n.getAttribute('aria-label')?.trim() || (n.matches('button, a') && n.textContent.trim()));
    }).map((n) => n.outerHTML.slice(0, 80)));
    if (unnamed.length) throw new Error(`without a name: ${unnamed.join(' | ')}`);
  });
  await check('anonymous: text contrasts with its background as WCAG AA asks', async () => {
    const low = await lowContrast(page);
    if (low.length) throw new Error(low.join('; '));
  });
  await check('anonymous at 375 px: nothing scrolls sideways, with a long word and a long room name', async () => {
    await sendText(page, 'x'.repeat(300));
    await waitMessage(page, 'x'.repeat(300), 'long word');
    await noSideScroll(page, 'chat');
    const long = `a-room-with-a-rather-long-name-${'z'.repeat(60)}`;
    await page.fill('#join-input', long);
    await page.press('#join-input', 'Enter');
    await waitText(page, '#room-title', new RegExp(`^#${long}$`), 'long room');
    await noSideScroll(page, 'long room name');
    await page.click('#room-list [data-room="lobby"]');
    await waitText(page, '#room-title', /^#lobby$/, 'back in lobby');
    await noSideScroll(page, 'chat');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: screenshot });
    result.screenshot = screenshot;
  });
  await check('the choice is kept for the tab: a reload goes straight in', async () => {
    await page.reload();
    await page.waitForSelector('#chat:not([hidden])', { timeout: WAIT_MS });
    await waitText(page, '#room-title', /^#lobby$/, 'room after reload');
  });
}

let browser;
try {
  browser = await launchChromium();
  if (mode === 'anonymous') await anonymousMode(browser);
  else await tokenMode(browser);
} catch (err) {
  fail(`unexpected: ${err.stack ?? err}`);
} finally {
  await browser?.close().catch(() => {});
}
result.ok = result.failures.length === 0;
console.log(JSON.stringify(result));
