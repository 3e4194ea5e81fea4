// Opens Vigia's WebRTC publish page (/<path>/publish, WHIP) in headless Chromium with its fake
// camera and microphone, presses "publish", and keeps publishing for SECONDS once connected.
// Prints one JSON line when the peer connection is up ({"connected":…}) and one at the end:
// the outbound-rtp statistics (codec, frames encoded, bytes sent), the page's WHIP requests and
// messages.
//
// The page needs a secure context for getUserMedia: the caller passes the page's origin, which
// this script declares secure (--unsafely-treat-insecure-origin-as-secure).
//
// usage: node whip.mjs URL SECONDS
import { launch, sleep, recordFetches, statsOf } from './chromium.mjs';

const [url, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 20);

function trackPeerConnections() {
  const Native = window.RTCPeerConnection;
  window.__vigiaPcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__vigiaPcs.push(this);
    }
  };
}

const report = { url, samples: [], console: [] };
const { page, close } = await launch([
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  `--unsafely-treat-insecure-origin-as-secure=${new URL(url).origin}`,
]);
try {
  page.on('console', (msg) => { if (msg.type() === 'error') report.console.push(msg.text()); });
  page.on('pageerror', (err) => report.console.push(String(err)));
  await page.addInitScript(trackPeerConnections);
  await page.addInitScript(recordFetches);
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  await page.locator('#publish-button').click({ timeout: 15000 });
  const started = Date.now();
  await page.waitForFunction(
    () => (window.__vigiaPcs || []).some((pc) => pc.connectionState === 'connected'),
    null, { timeout: 20000 },
  );
  report.connectMs = Date.now() - started;
  report.form = await page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('#fields input, #fields select')]
      .map((e) => [e.id, e.type === 'checkbox' ? e.checked : e.value]),
  ));
  console.log(JSON.stringify({ connected: report.connectMs }));
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    const out = await statsOf(page, 'outbound-rtp', 'video');
    const s = out[0] ?? {};
    report.samples.push({
      wall: Date.now(), framesEncoded: s.framesEncoded, bytesSent: s.bytesSent,
      width: s.frameWidth, height: s.frameHeight, fps: s.framesPerSecond,
      nackCount: s.nackCount, pliCount: s.pliCount,
    });
    await sleep(1000);
  }
  const video = await statsOf(page, 'outbound-rtp', 'video');
  const audio = await statsOf(page, 'outbound-rtp', 'audio');
  report.outboundVideo = video[0] ?? null;
  report.outboundAudio = audio[0] ?? null;
  report.fetches = await page.evaluate(() => window.__vigiaFetches);
  report.message = await page.evaluate(() => document.getElementById('message').innerText);
} catch (e) {
  report.failure = String(e);
  report.fetches = await page.evaluate(() => window.__vigiaFetches).catch(() => null);
  report.message = await page.evaluate(() => document.getElementById('message').innerText)
    .catch(() => null);
} finally {
  await close();
}
console.log(JSON.stringify(report));
