"use strict";

// Vigia's WHEP reader, served at /<path>/reader.js and used by the player page /<path>/.
// Usable from other pages too, under MediaMTX's name and options:
//
//   const reader = new MediaMTXWebRTCReader({
//     url: "http://host:8889/cam/whep",   // the WHEP endpoint (a query such as ?jwt=… is kept)
//     user: "", pass: "", token: "",      // optional: Basic or Bearer credentials
//     onError: (message) => {},           // every failure; the reader retries 2 s later
//     onTrack: (event) => {},             // an RTCTrackEvent (video, then audio)
//   });
//   reader.close();                       // ends the session (DELETE) and stops retrying
//
// The offer asks to receive video and audio, video as H.264 only (Chromium would otherwise
// offer VP8 first). It is sent once the browser has gathered its ICE candidates (at most 2 s),
// so no trickle ICE (PATCH) is needed.
(() => {
  const { authHeaders, iceServersOf, gathered, preferCodecs, problemOf } = window.VigiaWebRTC;
  const RETRY_PAUSE_MS = 2000;
  const DISCONNECTED_LIMIT_MS = 5000;
  const GATHER_LIMIT_MS = 2000;

  class VigiaWhepReader {
    #conf;
    #state = "running";
    #pc = null;
    #session = null;
    #retry = null;
    #disconnected = null;

    constructor(conf) {
      this.#conf = conf;
      this.#start();
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
          headers: authHeaders(this.#conf),
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
      if (this.#conf.onError) {
        this.#conf.onError(`${message}, retrying in ${RETRY_PAUSE_MS / 1000} s`);
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
        const options = await fetch(this.#conf.url, {
          method: "OPTIONS",
          headers: authHeaders(this.#conf),
        });
        if (this.#state !== "running") {
          return;
        }
        const pc = new RTCPeerConnection({
          iceServers: iceServersOf(options.headers.get("Link")),
        });
        this.#pc = pc;
        const video = pc.addTransceiver("video", { direction: "recvonly" });
        preferCodecs(video, RTCRtpReceiver, "video", ["video/H264"]);
        pc.addTransceiver("audio", { direction: "recvonly" });
        pc.ontrack = (evt) => {
          if (this.#pc === pc && this.#conf.onTrack) {
            this.#conf.onTrack(evt);
          }
        };
        pc.ondatachannel = (evt) => {
          if (this.#pc === pc && this.#conf.onDataChannel) {
            this.#conf.onDataChannel(evt);
          }
        };
        pc.onconnectionstatechange = () => this.#onConnectionState(pc);

        await pc.setLocalDescription(await pc.createOffer());
        await gathered(pc, GATHER_LIMIT_MS);
        if (this.#pc !== pc) {
          return;
        }
        const res = await fetch(this.#conf.url, {
          method: "POST",
          headers: { ...authHeaders(this.#conf), "Content-Type": "application/sdp" },
          body: pc.localDescription.sdp,
        });
        if (res.status !== 201) {
          throw new Error(await problemOf(res));
        }
        const location = res.headers.get("Location");
        const session = location ? new URL(location, this.#conf.url).toString() : null;
        const answer = await res.text();
        if (this.#pc !== pc) {
          // closed while the offer was on its way: end the session it made
          if (session !== null) {
            fetch(session, { method: "DELETE", headers: authHeaders(this.#conf) }).catch(() => {});
          }
          return;
        }
        this.#session = session;
        await pc.setRemoteDescription({ type: "answer", sdp: answer });
      } catch (err) {
        this.#fail(err && err.message ? err.message : String(err));
      }
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
        if (state === "connected" && this.#conf.onConnected) {
          this.#conf.onConnected();
        }
      }
    }
  }

  window.VigiaWhepReader = VigiaWhepReader;
  window.MediaMTXWebRTCReader = VigiaWhepReader;
})();
