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
  const { preferCodecs, Session } = window.VigiaWebRTC;

  class VigiaWhepReader extends Session {
    constructor(conf) {
      super(conf);
      this.begin();
    }

    setUp(pc) {
      const video = pc.addTransceiver("video", { direction: "recvonly" });
      preferCodecs(video, RTCRtpReceiver, "video", ["video/H264"]);
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.ontrack = (evt) => {
        if (this.isCurrent(pc) && this.conf.onTrack) {
          this.conf.onTrack(evt);
        }
      };
      pc.ondatachannel = (evt) => {
        if (this.isCurrent(pc) && this.conf.onDataChannel) {
          this.conf.onDataChannel(evt);
        }
      };
    }
  }

  window.VigiaWhepReader = VigiaWhepReader;
  window.MediaMTXWebRTCReader = VigiaWhepReader;
})();
