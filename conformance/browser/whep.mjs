// Opens Vigia's WebRTC player page (/<path>/, WHEP) in headless Chromium and reports, as one
// JSON line on stdout, how playback went over SECONDS after the first second of video:
//
// - every video frame presented (requestVideoFrameCallback): wall time, RTP timestamp and
//   expected display time, from which the caller finds freezes;
// - glass-to-glass latency: Chromium's encoded insertable streams read each received H.264
//   frame before decoding; a frame carrying Vigia's wall-clock SEI stamp (user data
//   unregistered, UUID 46034d6f-…, big-endian UNIX µs; media/src/codec/sei.rs) is matched by
//   RTP timestamp to its presentation, and latency = display time - stamp (same machine clock);
// - the inbound-rtp statistics (frames decoded, freezes, NACK/PLI sent, packets lost, codec);
// - the page's own WHEP requests, its video element's options, and what a second DELETE of the
//   session gets once the page is gone (404: the page ended it itself);
// - then, with NOTFOUND_URL, the message the page shows for a path with nothing to play.
//
// The measurement is injected by this script (addInitScript), not shipped in the page.
//
// usage: node whep.mjs URL SECONDS [NOTFOUND_URL]
import { launch, sleep, recordFetches, statsOf } from './chromium.mjs';

const [url, secondsArg, notFoundUrl] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 20);

// Runs in the page before its scripts: every RTCPeerConnection gets encoded insertable streams
// and is kept in window.__vigiaPcs; received video frames are scanned for the SEI stamp.
function probe() {
  const UUID = [0x46, 0x03, 0x4d, 0x6f, 0xa7, 0x31, 0x4a, 0xec,
    0x88, 0x39, 0xe6, 0xfa, 0xd8, 0x1d, 0x58, 0xef];
  const state = { stamps: {}, stampCount: 0, encodedFrames: 0, frames: [], probeErrors: [] };
  window.__vigiaProbe = state;
  window.__vigiaPcs = [];
  // The stamp in an SEI NAL (`nal` without start code), or null.
  const seiStamp = (nal) => {
    const rbsp = [];
    for (let i = 1, zeros = 0; i < nal.length; i++) {
      if (zeros >= 2 && nal[i] === 3) { zeros = 0; continue; }
      zeros = nal[i] === 0 ? zeros + 1 : 0;
      rbsp.push(nal[i]);
    }
    let at = 0;
    const ffCoded = () => {
      let v = 0;
      while (at < rbsp.length && rbsp[at] === 0xff) { v += 255; at++; }
      return at < rbsp.length ? v + rbsp[at++] : -1;
    };
    while (at < rbsp.length && rbsp[at] !== 0x80) {
      const type = ffCoded();
      const size = ffCoded();
      if (type < 0 || size < 0 || at + size > rbsp.length) return null;
      if (type === 5 && size === 24 && UUID.every((b, k) => rbsp[at + k] === b)) {
        let us = 0n;
        for (let k = 16; k < 24; k++) us = (us << 8n) | BigInt(rbsp[at + k]);
        return Number(BigInt.asIntN(64, us));
      }
      at += size;
    }
    return null;
  };
  // The stamp of an Annex B access unit, or null.
  const frameStamp = (data) => {
    for (let i = 0; i + 3 < data.length; i++) {
      if (data[i] !== 0 || data[i + 1] !== 0 || data[i + 2] !== 1) continue;
      const start = i + 3;
      if ((data[start] & 0x1f) === 6) {
        let end = start;
        while (end + 2 < data.length && !(data[end] === 0 && data[end + 1] === 0
          && (data[end + 2] === 1 || data[end + 2] === 0))) end++;
        const us = seiStamp(data.subarray(start, end + 2 < data.length ? end : data.length));
        if (us !== null) return us;
      }
      i = start;
    }
    return null;
  };
  const Native = window.RTCPeerConnection;
  class Probed extends Native {
    constructor(conf = {}, ...rest) {
      super({ ...conf, encodedInsertableStreams: true }, ...rest);
      window.__vigiaPcs.push(this);
      this.addEventListener('track', (evt) => {
        const kind = evt.track.kind;
        const { readable, writable } = evt.receiver.createEncodedStreams();
        readable.pipeThrough(new TransformStream({
          transform(frame, controller) {
            if (kind === 'video') {
              state.encodedFrames++;
              try {
                const us = frameStamp(new Uint8Array(frame.data));
                if (us !== null) {
                  const rtp = frame.getMetadata().rtpTimestamp ?? frame.timestamp;
                  state.stamps[rtp] = us;
                  state.stampCount++;
                }
              } catch (e) {
                if (state.probeErrors.length < 5) state.probeErrors.push(String(e));
              }
            }
            controller.enqueue(frame);
          },
        })).pipeTo(writable).catch(() => {});
      });
    }
  }
  window.RTCPeerConnection = Probed;
}

// Starts keeping every presented frame (in the page).
const watchFrames = () => {
  const video = document.getElementById('video');
  const state = window.__vigiaProbe;
  state.frames = [];
  const onFrame = (_now, meta) => {
    state.frames.push({
      wall: Date.now(),
      presented: meta.presentedFrames,
      rtp: meta.rtpTimestamp ?? null,
      display: performance.timeOrigin + meta.expectedDisplayTime,
    });
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
};

const report = { url, samples: [], console: [] };
const { page, close } = await launch();
try {
  page.on('console', (msg) => { if (msg.type() === 'error') report.console.push(msg.text()); });
  page.on('pageerror', (err) => report.console.push(String(err)));
  await page.addInitScript(probe);
  await page.addInitScript(recordFetches);
  const started = Date.now();
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  await page.waitForFunction(() => {
    const v = document.getElementById('video');
    return v && !v.paused && v.currentTime > 0 && v.videoWidth > 0;
  }, null, { timeout: 20000 });
  report.startupMs = Date.now() - started;
  report.video = await page.evaluate(() => {
    const v = document.getElementById('video');
    return {
      controls: v.controls, muted: v.muted, autoplay: v.autoplay, playsInline: v.playsInline,
      disablePictureInPicture: v.disablePictureInPicture, width: v.videoWidth, height: v.videoHeight,
    };
  });
  await sleep(1000);
  await page.evaluate(watchFrames);
  const t0 = Date.now();
  report.measureStart = t0;
  while (Date.now() - t0 < seconds * 1000) {
    report.samples.push(await page.evaluate(() => {
      const v = document.getElementById('video');
      const q = v.getVideoPlaybackQuality();
      return { wall: Date.now(), t: v.currentTime, total: q.totalVideoFrames, dropped: q.droppedVideoFrames };
    }));
    await sleep(1000);
  }
  report.measureEnd = Date.now();
  const inbound = await statsOf(page, 'inbound-rtp');
  report.inboundVideo = inbound.find((s) => s.kind === 'video') ?? null;
  report.inboundAudio = inbound.find((s) => s.kind === 'audio') ?? null;
  const probed = await page.evaluate(() => {
    const s = window.__vigiaProbe;
    return { frames: s.frames, stamps: s.stamps, stampCount: s.stampCount,
      encodedFrames: s.encodedFrames, probeErrors: s.probeErrors };
  });
  Object.assign(report, probed);
  report.latencies = probed.frames
    .filter((f) => f.rtp !== null && probed.stamps[f.rtp] !== undefined)
    .map((f) => f.display - probed.stamps[f.rtp] / 1000);
  report.fetches = await page.evaluate(() => window.__vigiaFetches);
  report.message = await page.evaluate(() => document.getElementById('message').innerText);

  // Leaving the page ends the session; a second DELETE then finds nothing.
  const session = report.fetches.find((f) => f.method === 'POST' && f.status === 201);
  await page.goto('about:blank');
  if (session && session.location) {
    await sleep(500);
    const again = await fetch(new URL(session.location, session.url), { method: 'DELETE' });
    report.deleteAfterLeaving = again.status;
  }

  if (notFoundUrl) {
    await page.goto(notFoundUrl, { waitUntil: 'load', timeout: 15000 });
    await page.waitForFunction(
      () => /stream not found/.test(document.getElementById('message').innerText),
      null, { timeout: 10000 },
    ).catch(() => {});
    report.notFoundMessage = await page.evaluate(() => document.getElementById('message').innerText);
  }
} catch (e) {
  report.failure = String(e);
} finally {
  await close();
}
console.log(JSON.stringify(report));
