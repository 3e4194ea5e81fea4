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
  const { preferCodecs, Session } = window.VigiaWebRTC;

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

  class VigiaWhipPublisher extends Session {
    #senders = { video: null, audio: null };

    constructor(conf) {
      super(conf);
      this.begin();
    }

    setUp(pc) {
      this.#senders = { video: null, audio: null };
      const stream = this.conf.stream;
      for (const track of stream.getTracks()) {
        const transceiver = pc.addTransceiver(track, {
          direction: "sendonly",
          streams: [stream],
        });
        const codec = track.kind === "video" ? this.conf.videoCodec : this.conf.audioCodec;
        const mime = mimeOf(track.kind, codec);
        if (mime !== null) {
          // Chromium checks preferences against the receive capabilities in older versions.
          preferCodecs(transceiver, RTCRtpSender, track.kind, [mime]) ||
            preferCodecs(transceiver, RTCRtpReceiver, track.kind, [mime]);
        }
        this.#senders[track.kind] = this.#senders[track.kind] || transceiver.sender;
      }
    }

    async answered() {
      await applyBitrate(this.#senders.video, this.conf.videoBitrate);
      await applyBitrate(this.#senders.audio, this.conf.audioBitrate);
    }
  }

  window.VigiaWhipPublisher = VigiaWhipPublisher;
  window.MediaMTXWebRTCPublisher = VigiaWhipPublisher;
})();
