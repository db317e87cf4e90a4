// Drives callcore's browser phone page (/phone.html) in headless Chromium with
// playwright-core, for callcore-premise/tests/webrtc_agent.rs and the load figures
// of docs/webrtc.md. The fake microphone plays WAV; the page answers by itself.
// Prints one JSON object per line: {"event":"online"}, {"event":"answered"} (the
// call's connection is up; HANGUP_AFTER_MS counts from there),
// {"event":"level","max":…,"codec":…,"sentCodec":…} (codecs: getStats() mimeType of
// the inbound and outbound audio), {"event":"ended","by":…}.
// Usage: node phone_driver.js URL WAV PROFILE_DIR [HANGUP_AFTER_MS] [PAGES]
// With PAGES > 1, `{i}` in URL is each page's number (0, 1, ...).
'use strict';
const { chromium } = require('playwright-core');

const [url, wav, profile, hangupArg, pagesArg] = process.argv.slice(2);
const hangupAfter = Number(hangupArg || 0);
const pages = Number(pagesArg || 1);
const emit = (o) => console.log(JSON.stringify(o));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function phone(ctx, i) {
  const page = await ctx.newPage();
  page.on('console', (m) => console.error(`page ${i}: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page ${i} error: ${e}`));
  await page.goto(url.replaceAll('{i}', String(i)));
  await page.waitForFunction(() => document.getElementById('status').textContent !== 'connecting…',
    null, { timeout: 15000 });
  const status = await page.evaluate(() => document.getElementById('status').textContent);
  emit({ event: status, page: i });
  if (status !== 'online') return;
  // answered: the page sent its answer and the call's connection is up (where
  // the center's conversation begins), not merely the offer's track applied
  await page.waitForFunction(() => {
    const call = Array.from(window.phone.calls.values())[0];
    return window.phoneLog.includes('audio') && window.phoneLog.includes('answered')
      && call && call.pc && call.pc.connectionState === 'connected';
  }, null, { timeout: 120000 });
  emit({ event: 'answered', page: i });
  // what arrived over RTP, for diagnosis, and the codecs the call negotiated
  // (getStats() mimeType), read while the call is up
  const readStats = () => page.evaluate(async () => {
    const call = Array.from(window.phone.calls.values())[0];
    if (!call || !call.pc) return null;
    const stats = await call.pc.getStats();
    const out = { packets: null, codec: null, sentCodec: null };
    const mime = (id) => (id && stats.get(id) ? stats.get(id).mimeType : null);
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        out.packets = r.packetsReceived;
        out.codec = mime(r.codecId);
      }
      if (r.type === 'outbound-rtp' && r.kind === 'audio') out.sentCodec = mime(r.codecId);
    });
    return out;
  });
  let stats = { packets: null, codec: null, sentCodec: null };
  // the level of what the call brings, until it ends (or we hang up)
  let max = 0;
  const t0 = Date.now();
  for (;;) {
    const [level, ended] = await page.evaluate(
      () => [window.receivedLevel(), window.phoneLog.some((e) => e.startsWith('ended:'))]);
    max = Math.max(max, level);
    if (!ended) stats = (await readStats()) || stats;
    if (ended || (hangupAfter && Date.now() - t0 >= hangupAfter)) break;
    if (Date.now() - t0 > 120000) break;
    await sleep(100);
  }
  emit({ event: 'level', max, packets: stats.packets, codec: stats.codec, sentCodec: stats.sentCodec, page: i });
  if (hangupAfter) {
    await page.evaluate(() => { const id = Array.from(window.phone.calls.keys())[0]; if (id) window.phone.hangup(id); });
  }
  await page.waitForFunction(() => window.phoneLog.some((e) => e.startsWith('ended:')), null,
    { timeout: 60000 });
  const by = await page.evaluate(() => window.phoneLog.find((e) => e.startsWith('ended:')));
  emit({ event: 'ended', by: by.slice('ended:'.length), page: i });
}

(async () => {
  const ctx = await chromium.launchPersistentContext(profile, {
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
  try {
    await Promise.all(Array.from({ length: pages }, (_, i) => phone(ctx, i)));
  } finally {
    await ctx.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
