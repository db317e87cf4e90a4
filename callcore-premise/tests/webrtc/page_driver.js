// Drives Chromium pages for callcore's browser tests (desktop_browser.rs) with
// playwright-core, one JSON command per stdin line, one JSON answer per stdout
// line ({"ok":true,...} or {"ok":false,"error":...}). Each page is its own
// headless Chromium (its own cookies, and its own fake microphone: the WAV
// given to `open`). Elements are named by their data-testid.
// Usage: node page_driver.js
// Commands ({"op": ..., "page": NAME, ...}):
//   open {url, wav}                 launch a browser with `wav` as microphone, load url
//   open {url, shared: true}        a new context (own cookies and storage) of one
//                                   browser shared by such pages (no microphone)
//   wait {js, timeout_ms}           wait until the expression is truthy
//   files {testid, path}            set a file input's file
//   fill {testid, value}  click {testid}  select {testid, value}
//   visible {testid, timeout_ms}    wait until the element is shown
//   hidden {testid, timeout_ms}     wait until it is not
//   text {testid}                   its text content
//   log {entry, timeout_ms}         wait until window.desktop.log has an entry starting with it
//   level {ms}                      highest window.desktop.level() sampled over ms
//   eval {js}                       the value of an expression
//   screenshot {path}               a PNG of the page
//   close                           close every browser and exit
'use strict';
const { chromium } = require('playwright-core');
const readline = require('readline');

const pages = new Map();
let shared = null;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const by = (page, id) => page.locator(`[data-testid="${id}"]`);

async function openShared(name, url) {
  if (!shared) {
    shared = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
  }
  const context = await shared.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.on('console', (m) => console.error(`page ${name}: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page ${name} error: ${e}`));
  await page.goto(url);
  pages.set(name, { browser: null, context, page });
}

async function open(name, url, wav) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`, '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.on('console', (m) => console.error(`page ${name}: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page ${name} error: ${e}`));
  await page.goto(url);
  pages.set(name, { browser, page });
}

async function run(c) {
  if (c.op === 'close') {
    for (const { browser } of pages.values()) if (browser) await browser.close();
    if (shared) await shared.close();
    shared = null;
    pages.clear();
    return {};
  }
  if (c.op === 'open' && c.shared) { await openShared(c.page, c.url); return {}; }
  if (c.op === 'open') { await open(c.page, c.url, c.wav); return {}; }
  const entry = pages.get(c.page);
  if (!entry) throw new Error(`no page ${c.page}`);
  const { page } = entry;
  const timeout = c.timeout_ms || 30000;
  switch (c.op) {
    case 'fill': await by(page, c.testid).fill(String(c.value)); return {};
    case 'click': await by(page, c.testid).click({ timeout }); return {};
    case 'select': await by(page, c.testid).selectOption(String(c.value)); return {};
    case 'visible': await by(page, c.testid).waitFor({ state: 'visible', timeout }); return {};
    case 'hidden': await by(page, c.testid).waitFor({ state: 'hidden', timeout }); return {};
    case 'text': return { text: await by(page, c.testid).textContent() };
    case 'log':
      await page.waitForFunction((e) => window.desktop && window.desktop.log.some((l) => l.startsWith(e)),
        c.entry, { timeout });
      return { log: await page.evaluate(() => window.desktop.log) };
    case 'level': {
      let max = 0;
      const until = Date.now() + (c.ms || 2000);
      while (Date.now() < until) {
        max = Math.max(max, await page.evaluate(() => window.desktop.level()));
        await sleep(50);
      }
      return { max };
    }
    case 'eval': return { value: await page.evaluate(c.js) };
    case 'wait': {
      // polled with evaluate (CDP), not waitForFunction: the pages' CSP forbids eval
      const until = Date.now() + timeout;
      for (;;) {
        if (await page.evaluate(c.js)) return {};
        if (Date.now() > until) throw new Error(`not true within ${timeout} ms: ${c.js}`);
        await sleep(50);
      }
    }
    case 'files': await by(page, c.testid).setInputFiles(c.path); return {};
    case 'screenshot': await page.screenshot({ path: c.path, fullPage: true }); return {};
    default: throw new Error(`unknown op ${c.op}`);
  }
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let c;
    try { c = JSON.parse(line); } catch (e) { console.log(JSON.stringify({ ok: false, error: `bad JSON: ${e}` })); return; }
    try {
      const answer = await run(c);
      console.log(JSON.stringify(Object.assign({ ok: true }, answer)));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, error: String(e && e.message || e) }));
    }
    if (c.op === 'close') process.exit(0);
  });
});
lines.on('close', async () => {
  await queue;
  for (const { browser } of pages.values()) if (browser) await browser.close().catch(() => {});
  if (shared) await shared.close().catch(() => {});
  process.exit(0);
});
