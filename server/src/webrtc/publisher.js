"use strict";

// Vigia's WHIP publisher, served (after webrtc.js) at /<path>/publisher.js and used by the
// publish page /<path>/publish. Usable from other pages too, under MediaMTX's name and options:
//
//   const publisher = new MediaMTXWebRTCPublisher({
//     url: "http://host:8889/cam/whip",   // the WHIP endpoint (a query such as ?jwt=… is kept)
//     stream,                             // a MediaStream (getUserMedia, getDisplayMedia…)
//     videoCodec: "h264/90000",           // optional: the one video codec offered
//     videoBitrate: 2000,                 // optional: kbit/s
//     audioCodec: "opus/48000",           // optional: the one audio codec offered
//     audioBitrate: 32,                   // optional: kbit/s
//     user: "", pass: "", token: "",      // optional: Basic or Bearer credentials
//     onError: (message) => {},           // every failure; the publisher retries 2 s later
//     onConnected: () => {},              // media flows
//   });
//   publisher.close();                    // ends the session (DELETE) and stops retrying
//
// The offer is sent once the browser has gathered its ICE candidates (at most 2 s), so no
// trickle ICE (PATCH) is needed.
(() => {
  const { authHeaders, iceServersOf, gathered, preferCodecs, problemOf } = window.VigiaWebRTC;
  const RETRY_PAUSE_MS = 2000;
  const DISCONNECTED_LIMIT_MS = 5000;
  const GATHER_LIMIT_MS = 2000;

  // "h264/90000" -> "video/h264"; an empty or missing choice keeps the browser's list.
  const mimeOf = (kind, codec) => (codec ? `${kind}/${String(codec).split("/")[0]}` : null);

  const applyBitrate = async (sender, kbps) => {
    const bps = Math.round(Number(kbps) * 1000);
    if (!sender || !(bps > 0)) {
      return;
    }
    try {
      const params = sender.getParameters();
      if (!params.encodings || params.encodings.length === 0) {
        params.encodings = [{}];
      }
      params.encodings[0].maxBitrate = bps;
      await sender.setParameters(params);
    } catch (_) {
      // the browser's own rate control stays
    }
  };

  class VigiaWhipPublisher {
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

    /** Ends the session and stops retrying (the stream's tracks are left to the caller). */
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
        const senders = { video: null, audio: null };
        const stream = this.#conf.stream;
        for (const track of stream.getTracks()) {
          const transceiver = pc.addTransceiver(track, {
            direction: "sendonly",
            streams: [stream],
          });
          const codec = track.kind === "video" ? this.#conf.videoCodec : this.#conf.audioCodec;
          const mime = mimeOf(track.kind, codec);
          if (mime !== null) {
            // Chromium checks preferences against the receive capabilities in older versions.
            preferCodecs(transceiver, RTCRtpSender, track.kind, [mime]) ||
              preferCodecs(transceiver, RTCRtpReceiver, track.kind, [mime]);
          }
          senders[track.kind] = senders[track.kind] || transceiver.sender;
        }
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
          if (session !== null) {
            fetch(session, { method: "DELETE", headers: authHeaders(this.#conf) }).catch(() => {});
          }
          return;
        }
        this.#session = session;
        await pc.setRemoteDescription({ type: "answer", sdp: answer });
        await applyBitrate(senders.video, this.#conf.videoBitrate);
        await applyBitrate(senders.audio, this.#conf.audioBitrate);
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

  window.VigiaWhipPublisher = VigiaWhipPublisher;
  window.MediaMTXWebRTCPublisher = VigiaWhipPublisher;
})();
