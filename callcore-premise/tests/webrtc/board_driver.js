// Drives one page of headless Chromium with playwright-core, a command at a time, for
// the browser tests of callcore-premise (tests/browser_support/mod.rs, `Page`; the wallboard test).
// The fake microphone plays WAV. Reads one JSON command per line on stdin, answers
// one JSON line on stdout each ({"ok":true,...} or {"ok":false,"error":"..."});
// the first line is {"event":"open"} once URL is loaded.
// Commands (elements by data-testid):
//   {"cmd":"fill","testid","value"}   {"cmd":"click","testid"}   {"cmd":"select","testid","value"}
//   {"cmd":"wait_text","testid","text","timeout"} -> {"ms"}  (the time it took)
//   {"cmd":"wait_js","js","timeout"}   {"cmd":"eval","js"} -> {"value"}
//   {"cmd":"screenshot","path"}   {"cmd":"close"}
// Usage: node page_driver.js URL WAV PROFILE_DIR
'use strict';
const readline = require('readline');
const { chromium } = require('playwright-core');

const [url, wav, profile] = process.argv.slice(2);
const emit = (o) => console.log(JSON.stringify(o));
const byId = (id) => `[data-testid="${id}"]`;

async function run(page, c) {
  const timeout = c.timeout || 15000;
  switch (c.cmd) {
    case 'fill': await page.fill(byId(c.testid), c.value, { timeout }); return {};
    case 'click': await page.click(byId(c.testid), { timeout }); return {};
    case 'select': await page.selectOption(byId(c.testid), c.value, { timeout }); return {};
    case 'wait_text': {
      const t0 = Date.now();
      await page.waitForFunction(([sel, text]) => {
        const e = document.querySelector(sel);
        return e && e.textContent.trim() === text;
      }, [byId(c.testid), c.text], { timeout, polling: 10 });
      return { ms: Date.now() - t0 };
    }
    case 'wait_js': await page.waitForFunction(c.js, null, { timeout, polling: 50 }); return {};
    case 'eval': return { value: await page.evaluate(c.js) };
    case 'screenshot': await page.screenshot({ path: c.path, fullPage: true }); return {};
    default: throw new Error(`unknown command ${c.cmd}`);
  }
}

(async () => {
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    // the commands' expressions are evaluated in the page: a page whose
    // Content-Security-Policy forbids eval (the wallboard's) still runs them
    bypassCSP: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`, '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('console', (m) => console.error(`page: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page error: ${e}`));
  await page.goto(url);
  emit({ event: 'open' });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let c;
    try { c = JSON.parse(line); } catch (e) { emit({ ok: false, error: `not JSON: ${line}` }); continue; }
    if (c.cmd === 'close') { emit({ ok: true }); break; }
    try {
      emit({ ok: true, ...(await run(page, c)) });
    } catch (e) {
      emit({ ok: false, error: String(e.message || e).split('\n')[0] });
    }
  }
  await ctx.close();
})().catch((e) => { console.error(e); process.exit(1); });
