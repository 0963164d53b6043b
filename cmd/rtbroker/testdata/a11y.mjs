// a11y.mjs: accessibility checks the page tests share, run in the page.
//
// audit(page) returns a list of problems (empty: none):
//   - a visible input, select or textarea without a label (a <label for>,
//     a wrapping label, aria-label or aria-labelledby);
//   - a visible button or link without a name;
//   - visible text whose contrast with its background is below WCAG AA
//     (4.5:1, or 3:1 for large text: 24 px, or 18.66 px bold). The
//     background is the first opaque one up the tree; text over an image
//     or a gradient is not judged.
// Run it in light and dark (page.emulateMedia({colorScheme})).

export function audit(page) {
  return page.evaluate(() => {
    const problems = [];
    const visible = (e) => {
      const r = e.getBoundingClientRect();
      const cs = getComputedStyle(e);
      return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none' && !e.closest('[hidden]');
    };
    const describe = (e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className && typeof e.className === 'string' ? `.${e.className.trim().split(/\s+/).join('.')}` : ''}`;

    for (const c of document.querySelectorAll('input, select, textarea')) {
      if (c.type === 'hidden' || !visible(c)) continue;
      const named = c.labels?.length || c.getAttribute('aria-label') || c.getAttribute('aria-labelledby');
      if (!named) problems.push(`${describe(c)} has no label`);
    }
    for (const b of document.querySelectorAll('button, a[href]')) {
      if (!visible(b)) continue;
      if (!(b.textContent.trim() || b.getAttribute('aria-label') || b.getAttribute('title'))) problems.push(`${describe(b)} has no name`);
    }

    const rgba = (s) => {
      const m = /rgba?\(([^)]+)\)/.exec(s);
      if (!m) return null;
      const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const mix = (fg, bg) => ({ r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a), a: 1 });
    /** background is the colour behind e: its own and its ancestors' layered, null over an image. */
    const background = (e) => {
      const layers = [];
      for (let n = e; n; n = n.parentElement) {
        const cs = getComputedStyle(n);
        if (cs.backgroundImage !== 'none' && !n.matches('html, body')) return null;
        const c = rgba(cs.backgroundColor);
        if (c && c.a > 0) {
          layers.push(c);
          if (c.a >= 1) break;
        }
      }
      let bg = { r: 255, g: 255, b: 255, a: 1 };
      for (const c of layers.reverse()) bg = mix(c, bg);
      return bg;
    };
    const seen = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let t = walker.nextNode(); t; t = walker.nextNode()) {
      if (!t.textContent.trim()) continue;
      const e = t.parentElement;
      if (!e || seen.has(e) || !visible(e) || e.closest('svg, canvas, .u-legend .u-marker')) continue;
      seen.add(e);
      const cs = getComputedStyle(e);
      const fg = rgba(cs.color);
      const bg = background(e);
      if (!fg || !bg) continue;
      const op = Number(cs.opacity) * (e.closest('button:disabled, [aria-disabled="true"]') ? 0 : 1);
      if (op === 0) continue; // disabled controls are exempt (WCAG 1.4.3)
      const c = mix(fg, bg);
      const [hi, lo] = [lum(c), lum(bg)].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      const size = parseFloat(cs.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
      const need = large ? 3 : 4.5;
      if (ratio < need) problems.push(`${describe(e)} "${t.textContent.trim().slice(0, 30)}": contrast ${ratio.toFixed(2)}:1, want ${need}:1`);
    }
    return problems;
  });
}

/** checkBoth audits the page in light and dark colour schemes, reporting with fail. */
export async function auditBoth(page, what, fail, step) {
  let bad = 0;
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    await page.waitForTimeout(1000); // transitions and the rows' arrival animation end
    const problems = await audit(page);
    bad += problems.length;
    for (const p of problems.slice(0, 10)) fail(`${what}, ${colorScheme}: ${p}`);
    if (problems.length > 10) fail(`${what}, ${colorScheme}: ${problems.length - 10} more problems`);
  }
  await page.emulateMedia({ colorScheme: null });
  await page.waitForTimeout(500); // transitions back
  if (!bad) step(`${what}: every control labelled, every button and link named, text contrast at least WCAG AA, light and dark`);
}
