"use strict";

// Helpers shared by Vigia's WHEP reader and WHIP publisher (served in front of each of them).
window.VigiaWebRTC = window.VigiaWebRTC || (() => {
  const authHeaders = (conf) => {
    if (conf.user) {
      return { Authorization: `Basic ${btoa(`${conf.user}:${conf.pass || ""}`)}` };
    }
    if (conf.token) {
      return { Authorization: `Bearer ${conf.token}` };
    }
    return {};
  };

  // The ICE servers of a WHIP/WHEP answer's Link headers (RFC 9725 §4.6).
  const iceServersOf = (links) => {
    if (!links) {
      return [];
    }
    const servers = [];
    for (const link of links.split(/,\s*(?=<)/)) {
      const m = link.match(/^<([^>]+)>;\s*rel="ice-server"(.*)$/i);
      if (!m) {
        continue;
      }
      const server = { urls: [m[1]] };
      const user = m[2].match(/username="((?:[^"\\]|\\.)*)"/i);
      const credential = m[2].match(/credential="((?:[^"\\]|\\.)*)"/i);
      if (user && credential) {
        server.username = JSON.parse(`"${user[1]}"`);
        server.credential = JSON.parse(`"${credential[1]}"`);
      }
      servers.push(server);
    }
    return servers;
  };

  // Resolves once ICE gathering completes or `limit` ms have passed.
  const gathered = (pc, limit) =>
    new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") {
        resolve();
        return;
      }
      const done = () => {
        clearTimeout(timer);
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      };
      const check = () => {
        if (pc.iceGatheringState === "complete") {
          done();
        }
      };
      const timer = setTimeout(done, limit);
      pc.addEventListener("icegatheringstatechange", check);
    });

  // Restricts `transceiver` to the codecs whose MIME type is in `wanted` (plus the
  // retransmission and FEC formats that go with them), taken from `capabilities`
  // (RTCRtpReceiver or RTCRtpSender). H.264 packetization-mode=1 comes first.
  // Returns whether a wanted codec was found.
  const preferCodecs = (transceiver, capabilities, kind, wanted) => {
    if (!transceiver.setCodecPreferences || !capabilities.getCapabilities) {
      return false;
    }
    const all = (capabilities.getCapabilities(kind) || { codecs: [] }).codecs;
    const lower = wanted.map((w) => w.toLowerCase());
    const chosen = all.filter((c) => lower.includes(c.mimeType.toLowerCase()));
    if (chosen.length === 0) {
      return false;
    }
    const mode1 = (c) => /packetization-mode=1/.test(c.sdpFmtpLine || "");
    chosen.sort((a, b) => Number(mode1(b)) - Number(mode1(a)));
    const helpers = all.filter((c) =>
      /\/(rtx|red|ulpfec|flexfec-03)$/i.test(c.mimeType),
    );
    try {
      transceiver.setCodecPreferences([...chosen, ...helpers]);
    } catch (_) {
      try {
        transceiver.setCodecPreferences(chosen);
      } catch (_) {
        return false;
      }
    }
    return true;
  };

  // The message of an HTTP error answer: MediaMTX's JSON `error`, else the status.
  const problemOf = async (res) => {
    let detail = "";
    try {
      const body = await res.json();
      detail = body && body.error ? body.error : "";
    } catch (_) {
      // not JSON
    }
    if (res.status === 404) {
      return `stream not found${detail ? ` (${detail})` : ""}`;
    }
    if (res.status === 401) {
      return "authentication error";
    }
    return detail || `bad status code ${res.status}`;
  };

  return { authHeaders, iceServersOf, gathered, preferCodecs, problemOf };
})();
