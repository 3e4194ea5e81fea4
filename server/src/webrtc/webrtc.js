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

  const RETRY_PAUSE_MS = 2000;
  const DISCONNECTED_LIMIT_MS = 5000;
  const GATHER_LIMIT_MS = 2000;

  // The life of one WHEP or WHIP client: OPTIONS for the ICE servers (Link headers), an offer
  // sent once the browser has gathered its candidates (at most 2 s, so no trickle ICE), the
  // answer, DELETE on close, and a new attempt 2 s after any failure (an HTTP error, ICE
  // failed/closed, or disconnected for 5 s). A subclass adds its media in `setUp(pc)`, may act
  // once answered in `answered()`, and calls `begin()` at the end of its constructor.
  class Session {
    #state = "running";
    #pc = null;
    #session = null;
    #retry = null;
    #disconnected = null;

    constructor(conf) {
      this.conf = conf;
    }

    /** Starts the first attempt. */
    begin() {
      this.#start();
    }

    /** Whether `pc` is the live attempt's peer connection (events of old ones are ignored). */
    isCurrent(pc) {
      return this.#pc === pc;
    }

    /** Ends the session and stops retrying. */
    close() {
      this.#state = "closed";
      clearTimeout(this.#retry);
      this.#teardown();
    }

    #teardown() {
      clearTimeout(this.#disconnected);
      this.#disconnected = null;
      if (this.#pc !== null) {
        this.#pc.close();
        this.#pc = null;
      }
      if (this.#session !== null) {
        // keepalive: the DELETE still leaves when the page is being unloaded.
        fetch(this.#session, {
          method: "DELETE",
          headers: authHeaders(this.conf),
          keepalive: true,
        }).catch(() => {});
        this.#session = null;
      }
    }

    #fail(message) {
      if (this.#state !== "running") {
        return;
      }
      this.#teardown();
      this.#state = "restarting";
      if (this.conf.onError) {
        this.conf.onError(`${message}, retrying in ${RETRY_PAUSE_MS / 1000} s`);
      }
      this.#retry = setTimeout(() => {
        this.#retry = null;
        if (this.#state === "restarting") {
          this.#state = "running";
          this.#start();
        }
      }, RETRY_PAUSE_MS);
    }

    async #start() {
      try {
        const options = await fetch(this.conf.url, {
          method: "OPTIONS",
          headers: authHeaders(this.conf),
        });
        if (this.#state !== "running") {
          return;
        }
        const pc = new RTCPeerConnection({
          iceServers: iceServersOf(options.headers.get("Link")),
        });
        this.#pc = pc;
        this.setUp(pc);
        pc.onconnectionstatechange = () => this.#onConnectionState(pc);
        await this.#negotiate(pc);
      } catch (err) {
        this.#fail(err && err.message ? err.message : String(err));
      }
    }

    async #negotiate(pc) {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, GATHER_LIMIT_MS);
      if (this.#pc !== pc) {
        return;
      }
      const res = await fetch(this.conf.url, {
        method: "POST",
        headers: { ...authHeaders(this.conf), "Content-Type": "application/sdp" },
        body: pc.localDescription.sdp,
      });
      if (res.status !== 201) {
        throw new Error(await problemOf(res));
      }
      const location = res.headers.get("Location");
      const session = location ? new URL(location, this.conf.url).toString() : null;
      const answer = await res.text();
      if (this.#pc !== pc) {
        // closed while the offer was on its way: end the session it made
        if (session !== null) {
          fetch(session, { method: "DELETE", headers: authHeaders(this.conf) }).catch(() => {});
        }
        return;
      }
      this.#session = session;
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      await this.answered();
    }

    #onConnectionState(pc) {
      if (this.#pc !== pc || this.#state !== "running") {
        return;
      }
      const state = pc.connectionState;
      if (state === "failed" || state === "closed") {
        this.#fail(`peer connection ${state}`);
      } else if (state === "disconnected") {
        if (this.#disconnected === null) {
          this.#disconnected = setTimeout(() => {
            this.#disconnected = null;
            if (this.#pc === pc && pc.connectionState === "disconnected") {
              this.#fail("peer connection lost");
            }
          }, DISCONNECTED_LIMIT_MS);
        }
      } else {
        clearTimeout(this.#disconnected);
        this.#disconnected = null;
        if (state === "connected" && this.conf.onConnected) {
          this.conf.onConnected();
        }
      }
    }

    /** Adds the session's media to `pc` (overridden). */
    setUp(_pc) {}

    /** Runs once the answer is applied (overridden when needed). */
    async answered() {}
  }

  return { authHeaders, iceServersOf, gathered, preferCodecs, problemOf, Session };
})();
