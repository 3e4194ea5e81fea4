//! Who may do what: a vigia with every listener that asks for permission on (RTSP, HLS, API,
//! metrics, playback), and one attempt of each MediaMTX action through each of them with
//! given credentials, answered by a status code (200 allowed, 401 refused).

use base64::Engine as _;

use crate::rtsp_client::RtspClient;
use crate::{Ports, Vigia, free_port, http};

/// An SDP with one H.264 track (parameter sets in band), for ANNOUNCE.
const SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";

/// One action through one listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// `publish`: RTSP ANNOUNCE.
    RtspPublish,
    /// `read`: RTSP DESCRIBE.
    RtspRead,
    /// `read`: HLS `GET /<path>/index.m3u8`.
    Hls,
    /// `api`: `GET /v3/paths/list`.
    Api,
    /// `metrics`: `GET /metrics`.
    Metrics,
    /// `playback`: the playback server's page of a path, `GET /<path>/`.
    Playback,
}

impl Door {
    /// Every door.
    pub const ALL: [Door; 6] = [
        Door::RtspPublish,
        Door::RtspRead,
        Door::Hls,
        Door::Api,
        Door::Metrics,
        Door::Playback,
    ];

    /// MediaMTX's name of the action.
    pub fn action(self) -> &'static str {
        match self {
            Door::RtspPublish => "publish",
            Door::RtspRead | Door::Hls => "read",
            Door::Api => "api",
            Door::Metrics => "metrics",
            Door::Playback => "playback",
        }
    }

    /// The path [`Listeners::expect_all`] tries it on: `pub` to publish, else `cam` (which the
    /// test's config gives a stream).
    pub fn path(self) -> &'static str {
        match self {
            Door::RtspPublish => "pub",
            _ => "cam",
        }
    }

    /// The `protocol` MediaMTX names in `authMethod: http` requests (empty for the API, metrics
    /// and playback listeners).
    pub fn protocol(self) -> &'static str {
        match self {
            Door::RtspPublish | Door::RtspRead => "rtsp",
            Door::Hls => "hls",
            Door::Api | Door::Metrics | Door::Playback => "",
        }
    }
}

/// What a client presents: an `Authorization` header value and a URL query (without `?`).
#[derive(Clone, Debug, Default)]
pub struct Presented {
    /// The `Authorization` header's value, if any.
    pub authorization: Option<String>,
    /// The URL's query.
    pub query: String,
}

impl Presented {
    /// Nothing: the client has not been asked for credentials yet.
    pub fn nothing() -> Self {
        Presented::default()
    }

    /// `Authorization: Basic` with `user` and `pass`.
    pub fn basic(user: &str, pass: &str) -> Self {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        Presented {
            authorization: Some(format!("Basic {encoded}")),
            query: String::new(),
        }
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: &str) -> Self {
        Presented {
            authorization: Some(format!("Bearer {token}")),
            query: String::new(),
        }
    }

    /// Only a URL query.
    pub fn query(query: &str) -> Self {
        Presented {
            authorization: None,
            query: query.to_owned(),
        }
    }

    fn header(&self) -> Option<String> {
        let value = self.authorization.as_deref()?;
        Some(format!("Authorization: {value}"))
    }

    fn suffix(&self) -> String {
        match self.query.as_str() {
            "" => String::new(),
            query => format!("?{query}"),
        }
    }
}

/// The ports of a vigia with RTSP, HLS, the API, metrics and playback on.
#[derive(Clone, Copy, Debug)]
pub struct Listeners {
    /// RTSP, RTP and HLS.
    pub ports: Ports,
    /// The API.
    pub api: u16,
    /// Metrics.
    pub metrics: u16,
    /// Playback.
    pub playback: u16,
}

impl Listeners {
    /// Fresh free ports.
    pub fn fresh() -> Self {
        Listeners {
            ports: Ports::fresh(),
            api: free_port(),
            metrics: free_port(),
            playback: free_port(),
        }
    }

    /// Starts vigia listening on these ports with `config` (YAML) after the lines that set them.
    /// HLS muxers run from the start (`hlsAlwaysRemux`), so a playlist is there when asked for.
    pub fn start(&self, config: &str) -> Vigia {
        let listeners = format!(
            "{}api: yes\napiAddress: 127.0.0.1:{}\nmetrics: yes\nmetricsAddress: 127.0.0.1:{}\nplayback: yes\nplaybackAddress: 127.0.0.1:{}\nhlsAlwaysRemux: yes\n",
            self.ports.yaml(),
            self.api,
            self.metrics,
            self.playback
        );
        Vigia::start(&format!("{listeners}{config}"), self.ports.rtsp)
    }

    /// Tries `door` on `path` (ignored by the API and metrics) presenting `presented`; the status
    /// of the answer (0 when there was none).
    pub fn attempt(&self, door: Door, path: &str, presented: &Presented) -> u16 {
        let header = presented.header();
        let headers: Vec<&str> = header.iter().map(String::as_str).collect();
        let suffix = presented.suffix();
        let get = |port, target: String| http::get(port, &target, &headers).map_or(0, |r| r.status);
        match door {
            Door::RtspPublish | Door::RtspRead => self.rtsp(door, path, &suffix, &headers),
            Door::Hls => get(self.ports.hls, format!("/{path}/index.m3u8{suffix}")),
            Door::Api => get(self.api, format!("/v3/paths/list{suffix}")),
            Door::Metrics => get(self.metrics, format!("/metrics{suffix}")),
            Door::Playback => get(self.playback, format!("/{path}/{suffix}")),
        }
    }

    /// Tries every `(door, path, presented)` at once, since a refused attempt that carried
    /// credentials is answered only after a pause of up to 4 s; the status of each answer.
    pub fn attempt_all(&self, tries: &[(Door, &str, Presented)]) -> Vec<u16> {
        std::thread::scope(|scope| {
            let running: Vec<_> = tries
                .iter()
                .map(|(door, path, presented)| {
                    scope.spawn(move || self.attempt(*door, path, presented))
                })
                .collect();
            let joined = running.into_iter().map(|t| t.join().expect("an attempt"));
            joined.collect()
        })
    }

    /// Tries every `(door, presented)` at once on [`Door::path`] and asserts each is answered
    /// `status` (showing `vigia`'s log when not).
    pub fn expect_all(&self, vigia: &Vigia, tries: &[(Door, Presented)], status: u16) {
        let tries: Vec<_> = tries
            .iter()
            .map(|(door, presented)| (*door, door.path(), presented.clone()))
            .collect();
        let answers = self.attempt_all(&tries).into_iter().enumerate();
        let wrong: Vec<_> = answers
            .filter(|(_, got)| *got != status)
            .map(|(i, got)| (i, tries[i].0, got))
            .collect();
        assert!(
            wrong.is_empty(),
            "expected {status}, got (try, door, status) {wrong:?}\n{}",
            vigia.logs()
        );
    }

    fn rtsp(&self, door: Door, path: &str, suffix: &str, headers: &[&str]) -> u16 {
        let url = format!("{}{suffix}", self.ports.rtsp_url(path));
        let Ok(mut client) = RtspClient::connect(self.ports.rtsp, &url) else {
            return 0;
        };
        let answer = if door == Door::RtspPublish {
            let mut all = headers.to_vec();
            let length = format!("Content-Length: {}", SDP.len());
            all.extend(["Content-Type: application/sdp", length.as_str()]);
            client.request_with_body("ANNOUNCE", &url, &all, SDP.as_bytes())
        } else {
            let mut all = headers.to_vec();
            all.push("Accept: application/sdp");
            client.request("DESCRIBE", &url, &all)
        };
        answer.map_or(0, |a| a.status)
    }
}
