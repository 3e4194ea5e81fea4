// Drives the operator console in Debian's headless Chromium (playwright-core, installed in
// conformance/browser by scripts/install-deps.sh) and reports, as one JSON line on stdout:
// the camera rows and their status after login, whether a name holding HTML stayed text, how far
// the first online camera's live view advanced in LIVE_S seconds (and whether it is WebRTC or
// LL-HLS), and how the timeline played a
// recorded minute (at PLAYBACK_RATE, so a minute of media takes a quarter of one).
//
// usage: node console.mjs CONSOLE_URL EMAIL PASSWORD SEEDED_CAMERAS HTML_NAME
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(new URL('../../../../conformance/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const [url, email, password, seededArg, htmlName] = process.argv.slice(2);
const seeded = Number(seededArg);
const LIVE_S = 12;
const PLAYBACK_RATE = 4;
const RECORDED_S = 62;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const profile = mkdtempSync(join(tmpdir(), 'vigia-console-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
    // Real addresses in ICE candidates, not mDNS names (the test runs Chromium in its own
    // network namespace, which resolves no .local names).
    '--disable-features=WebRtcHideLocalIpsWithMdns'],
});
const report = { console: [], steps: [] };
const step = (name) => report.steps.push({ name, at: new Date().toISOString() });
try {
  const page = browser.pages()[0] ?? await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') report.console.push(m.text()); });
  page.on('pageerror', (e) => report.console.push(String(e)));
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#sign-in');
  await page.waitForSelector('#app:not([hidden])', { timeout: 10000 });
  step('logged in');
  report.who = await page.textContent('#who');
  report.labels = { signOut: await page.textContent('#logout'), lang: await page.getAttribute('html', 'lang') };
  await page.waitForFunction((n) => document.querySelectorAll('#cameras tbody .status[data-status="online"]').length >= n,
    seeded, { timeout: 30000 });
  step('cameras online');
  report.rows = await page.$$eval('#cameras tbody tr', (rows) => rows.map((r) => ({
    id: r.dataset.camera, name: r.querySelector('.name').textContent,
    status: r.querySelector('.status').dataset.status, label: r.querySelector('.status').textContent,
  })));
  report.html = await page.evaluate((name) => ({
    rowText: [...document.querySelectorAll('#cameras tbody .name')].some((e) => e.textContent === name),
    tileText: [...document.querySelectorAll('#mosaic .name')].some((e) => e.textContent === name),
    elementsMade: document.querySelectorAll('#app img, #app script, #app b').length,
    pwned: window.pwned === true,
  }), htmlName);

  const cam = report.rows.find((r) => r.status === 'online').id;
  const video = `.tile[data-camera="${cam}"] video`;
  await page.waitForFunction((sel) => { const v = document.querySelector(sel); return v && !v.paused && v.currentTime > 1; },
    video, { timeout: 30000 });
  step('live playing');
  const samples = [];
  const started = Date.now();
  while (Date.now() - started < LIVE_S * 1000) {
    samples.push(await page.$eval(video, (v) => v.currentTime));
    await sleep(500);
  }
  samples.push(await page.$eval(video, (v) => v.currentTime));
  report.live = { camera: cam, kind: await page.$eval(`.tile[data-camera="${cam}"]`, (f) => f.dataset.live),
    seconds: (Date.now() - started) / 1000, from: samples[0], to: samples.at(-1),
    stalls: samples.filter((t, i) => i > 0 && t <= samples[i - 1]).length,
    errors: await page.evaluate((id) => window.vigiaConsole.view.tiles.get(id).errors, cam) };

  await page.click(`#cameras tr[data-camera="${cam}"] .open-recordings`);
  const recorded = () => page.evaluate(() => window.vigiaConsole.rec.spans.reduce((s, x) => s + (x.end - x.start) / 1000, 0));
  const waitUntil = Date.now() + 120000;
  while ((await recorded()) < RECORDED_S && Date.now() < waitUntil) {
    await sleep(5000);
    await page.click('#rec-refresh');
    await sleep(500);
  }
  report.recordedSeconds = await recorded();
  report.spanButtons = await page.$$eval('#spans button', (bs) => bs.map((b) => b.textContent));
  step('recorded');
  await page.selectOption('#rec-minutes', '1');
  await page.click('#spans button.span-play');
  await page.waitForFunction(() => { const v = document.getElementById('playback'); return v.currentTime > 0.5; }, null, { timeout: 20000 });
  await page.$eval('#playback', (v, rate) => { v.playbackRate = rate; }, PLAYBACK_RATE);
  step('playback started');
  await page.waitForFunction(() => document.getElementById('playback').ended, null, { timeout: 60000 * 1.5 / PLAYBACK_RATE + 20000 });
  step('playback ended');
  report.playback = await page.$eval('#playback', (v) => {
    let played = 0;
    for (let i = 0; i < v.played.length; i += 1) played += v.played.end(i) - v.played.start(i);
    return { ended: v.ended, currentTime: v.currentTime, duration: v.duration, played,
      frames: v.getVideoPlaybackQuality().totalVideoFrames, src: v.currentSrc.replace(/jwt=[^&]+/, 'jwt=…'),
      status: document.getElementById('rec-status').textContent, error: v.error && v.error.message };
  });
} catch (e) {
  report.failure = String(e);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
