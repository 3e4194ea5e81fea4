// Opens a Vigia player page in headless Chromium and reports, as one JSON line on stdout, how
// playback went: currentTime samples, stalls, hls.js errors, decoded audio bytes, and the
// latency of the frame on screen (now minus its EXT-X-PROGRAM-DATE-TIME, which Vigia takes from
// the wall-clock stamp of the stream's SEI/RTCP timing).
//
// Measurement starts once a second of media has played (start-up buffering is not a stall).
//
// usage: node play.mjs URL SECONDS [CHROMIUM_FLAG...]
// (extra flags, e.g. --ignore-certificate-errors-spki-list=… to trust a test certificate)
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, secondsArg, ...extraFlags] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 20);
const profile = mkdtempSync(join(tmpdir(), 'vigia-chromium-'));

const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
    ...extraFlags,
  ],
});

const report = { url, samples: [], latencies: [], errors: [], console: [], stalls: 0 };
try {
  const page = browser.pages()[0] ?? await browser.newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') report.console.push(msg.text()); });
  page.on('pageerror', (err) => report.console.push(String(err)));
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  // A live stream starts playing somewhere inside the playlist's window, not at 0.
  const playingFrom = await page.waitForFunction(() => {
    const v = document.getElementById('video');
    return v && !v.paused && v.currentTime > 0 && v.currentTime;
  }, null, { timeout: 20000 }).then((h) => h.jsonValue());
  await page.waitForFunction((from) => document.getElementById('video').currentTime > from + 1,
    playingFrom, { timeout: 20000 });
  report.warmupEnd = await page.evaluate(() => document.getElementById('video').currentTime);
  const started = Date.now();
  let last = -1;
  while (Date.now() - started < seconds * 1000) {
    const s = await page.evaluate(() => {
      const v = document.getElementById('video');
      const hls = window.vigia && window.vigia.hls;
      const date = hls && hls.playingDate ? hls.playingDate.getTime() : null;
      return {
        t: v.currentTime,
        latencyMs: date ? Date.now() - date : null,
        audioBytes: v.webkitAudioDecodedByteCount || 0,
        videoFrames: v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0,
        paused: v.paused,
        ahead: v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0,
        hlsLatency: hls ? hls.latency : null,
        targetLatency: hls ? hls.targetLatency : null,
      };
    });
    if (s.t <= last) report.stalls += 1;
    last = s.t;
    report.samples.push(s);
    if (s.latencyMs !== null) report.latencies.push(s.latencyMs);
    await new Promise((r) => setTimeout(r, 500));
  }
  report.errors = await page.evaluate(() => (window.vigia ? window.vigia.errors : []));
} catch (e) {
  report.failure = String(e);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
