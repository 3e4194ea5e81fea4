// Opens a stock hls.js page (stock.html, served by the test from its own origin) in headless
// Chromium and reports, as one JSON line on stdout, how SECONDS of playback went from the moment
// the video first plays:
// - latencies: every 250 ms, Date.now() minus hls.playingDate, in ms. hls.playingDate is the
//   EXT-X-PROGRAM-DATE-TIME of the fragment on screen plus the playhead's offset into it, and
//   Vigia dates a segment by the wall-clock time at which its first frame reached the server
//   (the synthetic source stamps each frame with the clock as it produces it). Source, server
//   and browser share this machine's clock, so the difference is glass-to-glass latency, less
//   only the decode-to-display time.
// - stalls: the video's `waiting` events and hls.js's `bufferStalledError`s after the start. A
//   `waiting` during a seek is not one: hls.js may start at the keyframe before its start
//   position and then jump forward to it, which the viewer sees as a skip, not a stall;
// - errors: every hls.js error after the start; samples: hls.js's own view (latency, target
//   latency, buffer ahead, playback rate) for diagnosis.
//
// The page is left as written: the instrumentation is added from here once it has loaded.
//
// usage: node stock.mjs PAGE_URL SECONDS
import { launch, sleep } from './chromium.mjs';

const [url, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 30);
const SAMPLE_MS = 250;

// Runs in the page: listens to the page's `hls` and video, samples every `sampleMs`.
const instrument = (sampleMs) => {
  const video = document.getElementById('video');
  const hls = window.hls;
  const rec = { startedAt: null, samples: [], waiting: [], errors: [] };
  window.__stock = rec;
  hls.on(Hls.Events.ERROR, (_, d) => {
    rec.errors.push({ at: Date.now(), type: d.type, details: d.details, fatal: d.fatal });
  });
  video.addEventListener('waiting', () => {
    rec.waiting.push({ at: Date.now(), t: video.currentTime, seeking: video.seeking });
  });
  setInterval(() => {
    const now = Date.now();
    if (rec.startedAt === null) {
      if (video.paused || !(video.currentTime > 0)) return;
      rec.startedAt = now;
    }
    const b = video.buffered;
    rec.samples.push({
      at: now,
      t: video.currentTime,
      latencyMs: hls.playingDate ? now - hls.playingDate.getTime() : null,
      hlsLatency: hls.latency,
      targetLatency: hls.targetLatency,
      ahead: b.length ? b.end(b.length - 1) - video.currentTime : 0,
      rate: video.playbackRate,
    });
  }, sampleMs);
};

// The page's record, keeping only what happened from the start of playback.
const collect = () => {
  const rec = window.__stock;
  const from = rec.startedAt;
  const after = (e) => e.at >= from;
  const samples = rec.samples.filter((s) => s.at - from <= window.__seconds * 1000);
  const stalled = rec.errors.filter((e) => after(e) && e.details === 'bufferStalledError');
  return {
    startedAt: from,
    samples,
    latencies: samples.map((s) => s.latencyMs).filter((l) => l !== null),
    stalls: rec.waiting.filter((w) => after(w) && !w.seeking).length + stalled.length,
    waiting: rec.waiting.filter(after),
    errors: rec.errors.filter(after),
    startupErrors: rec.errors.filter((e) => !after(e)),
  };
};

const browser = await launch();
let report = { url };
try {
  const { page } = browser;
  page.on('pageerror', (err) => { report.pageError = String(err); });
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  await page.evaluate(instrument, SAMPLE_MS);
  await page.evaluate((s) => { window.__seconds = s; }, seconds);
  await page.waitForFunction(() => window.__stock.startedAt !== null, null, { timeout: 20000 });
  await sleep(seconds * 1000 + SAMPLE_MS);
  report = { ...report, ...(await page.evaluate(collect)) };
} catch (e) {
  report.failure = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
