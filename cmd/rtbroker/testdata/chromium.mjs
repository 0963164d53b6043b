// chromium.mjs: what every browser test script shares — Debian's
// Chromium launched headless through playwright-core with the flags this
// machine's tests use. playwright-core makes a fresh, empty profile
// directory for every launch and removes it on close.
import { chromium } from 'playwright-core';

/** launchChromium launches /usr/bin/chromium headless (60 s to start). */
export function launchChromium() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    timeout: 60000,
  });
}
