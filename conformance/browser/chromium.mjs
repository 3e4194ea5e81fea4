// Debian's Chromium, headless, with a fresh profile, for the WebRTC page scripts (whep.mjs,
// whip.mjs). The caller runs it inside a network namespace of its own (WebRTC in Chromium never
// uses loopback candidates), so local addresses are announced as they are, not as mDNS names.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function launch(extraFlags = []) {
  const profile = mkdtempSync(join(tmpdir(), 'vigia-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      ...extraFlags,
    ],
  });
  const page = context.pages()[0] ?? await context.newPage();
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, close };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Records the page's fetches of WHEP/WHIP endpoints and sessions: method, URL, status, Location.
export const recordFetches = () => {
  const native = window.fetch;
  window.__vigiaFetches = [];
  window.fetch = async (input, init = {}) => {
    const url = String(input instanceof Request ? input.url : input);
    const entry = { method: init.method || 'GET', url };
    window.__vigiaFetches.push(entry);
    const res = await native(input, init);
    entry.status = res.status;
    entry.location = res.headers.get('Location');
    return res;
  };
};

// The RTCStats of `type` (and `kind`) of every peer connection the page made, with the codec.
export const statsOf = async (page, type, kind) => page.evaluate(async ([type, kind]) => {
  const out = [];
  for (const pc of window.__vigiaPcs || []) {
    if (pc.connectionState === 'closed') continue;
    const report = await pc.getStats();
    for (const s of report.values()) {
      if (s.type !== type || (kind && s.kind !== kind)) continue;
      const codec = s.codecId ? report.get(s.codecId) : null;
      out.push({ ...s, codec: codec ? `${codec.mimeType} ${codec.sdpFmtpLine || ''}`.trim() : null });
    }
  }
  return out;
}, [type, kind]);
