//! The command line: `vigia-loadgen --target HOST --cameras N --readers-per-camera M
//! --protocol rtsp|hls|webrtc --duration 60s --report out.json` plus tuning flags.

use std::path::PathBuf;
use std::time::Duration;

use crate::Error;

/// What readers use to pull the cameras back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// RTSP, RTP interleaved over TCP.
    Rtsp,
    /// LL-HLS: blocking playlist reloads and parts, as a player at the live edge.
    Hls,
    /// WHEP: an SDP offer POSTed to `/<path>/whep`, then ICE, DTLS and SRTP over UDP.
    Webrtc,
}

/// How cameras carry RTP to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// RTP interleaved in the RTSP TCP connection.
    Tcp,
    /// RTP over UDP to the server's RTP port.
    Udp,
}

/// Everything the command line sets.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Options {
    /// Server host (name or IP), without port.
    pub target: String,
    /// RTSP port.
    pub rtsp_port: u16,
    /// HLS HTTP port.
    pub hls_port: u16,
    /// WHEP HTTP port (`webrtcAddress`).
    #[serde(default = "default_webrtc_port")]
    pub webrtc_port: u16,
    /// The clip cameras play: `360p`, `1080p` (built in) or the path of an Annex B H.264 file.
    #[serde(default = "default_clip")]
    pub clip: String,
    /// Number of synthetic cameras.
    pub cameras: usize,
    /// Readers per camera.
    pub readers_per_camera: usize,
    /// Reader protocol.
    pub protocol: Protocol,
    /// Camera transport.
    pub transport: Transport,
    /// How long to run once every camera has been started.
    #[serde(with = "secs")]
    pub duration: Duration,
    /// Cameras are started evenly over this time.
    #[serde(with = "secs")]
    pub ramp: Duration,
    /// Camera `i` publishes to `<path_prefix><i>`.
    pub path_prefix: String,
    /// Server process to sample; `None`: the process named `vigia` on this host, if any.
    pub server_pid: Option<u32>,
    /// JSON report path; the HTML report goes next to it with `.html`.
    pub report: PathBuf,
    /// No live progress line.
    pub quiet: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            target: "127.0.0.1".into(),
            rtsp_port: 8554,
            hls_port: 8888,
            webrtc_port: default_webrtc_port(),
            clip: default_clip(),
            cameras: 1,
            readers_per_camera: 1,
            protocol: Protocol::Rtsp,
            transport: Transport::Tcp,
            duration: Duration::from_secs(60),
            ramp: Duration::from_secs(5),
            path_prefix: "loadgen-cam".into(),
            server_pid: None,
            report: PathBuf::from("loadgen-report.json"),
            quiet: false,
        }
    }
}

/// The usage text printed by `--help` and on a usage error.
pub const USAGE: &str = "\
usage: vigia-loadgen --target HOST --cameras N --readers-per-camera M
                     --protocol rtsp|hls|webrtc --duration 60s --report out.json
  --rtsp-port P        RTSP port (8554)
  --hls-port P         LL-HLS port (8888)
  --webrtc-port P      WHEP port (8889)
  --clip C             360p, 1080p (built in) or an Annex B H.264 file (360p)
  --transport tcp|udp  how cameras send RTP (tcp)
  --ramp 5s            start cameras evenly over this time
  --path-prefix S      camera i publishes to <S><i> (loadgen-cam)
  --server-pid PID     sample this process (default: the process named vigia, if any)
  --quiet              no progress line
The HTML report is written next to the JSON one (out.html).";

impl Options {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, Error> {
        let mut o = Options::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--quiet" {
                o.quiet = true;
                continue;
            }
            let value = args
                .next()
                .ok_or_else(|| Error::usage(format!("{flag} needs a value")))?;
            o.set(&flag, &value)?;
        }
        if o.cameras == 0 {
            return Err(Error::usage("--cameras must be at least 1"));
        }
        Ok(o)
    }

    /// The HTML report's path: the JSON one with the extension `html`.
    pub fn html_path(&self) -> PathBuf {
        self.report.with_extension("html")
    }

    fn set(&mut self, flag: &str, v: &str) -> Result<(), Error> {
        match flag {
            "--target" => self.target = v.to_owned(),
            "--rtsp-port" => self.rtsp_port = number(flag, v)?,
            "--hls-port" => self.hls_port = number(flag, v)?,
            "--webrtc-port" => self.webrtc_port = number(flag, v)?,
            "--clip" => self.clip = v.to_owned(),
            "--cameras" => self.cameras = number(flag, v)?,
            "--readers-per-camera" => self.readers_per_camera = number(flag, v)?,
            "--protocol" => self.protocol = protocol(v)?,
            "--transport" => self.transport = transport(v)?,
            "--duration" => self.duration = parse_duration(v)?,
            "--ramp" => self.ramp = parse_duration(v)?,
            "--path-prefix" => self.path_prefix = v.to_owned(),
            "--server-pid" => self.server_pid = Some(number(flag, v)?),
            "--report" => self.report = PathBuf::from(v),
            _ => return Err(Error::usage(format!("unknown flag {flag}"))),
        }
        Ok(())
    }
}

fn default_webrtc_port() -> u16 {
    8889
}

fn default_clip() -> String {
    "360p".into()
}

/// Parses `60s`, `2m`, `500ms`, `1h` or a plain number of seconds.
pub fn parse_duration(v: &str) -> Result<Duration, Error> {
    let bad = || Error::usage(format!("bad duration {v:?} (use 60s, 2m, 500ms)"));
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, Error> {
    v.parse()
        .map_err(|_| Error::usage(format!("{flag}: {v:?} is not a number")))
}

fn protocol(v: &str) -> Result<Protocol, Error> {
    match v {
        "rtsp" => Ok(Protocol::Rtsp),
        "hls" => Ok(Protocol::Hls),
        "webrtc" => Ok(Protocol::Webrtc),
        _ => Err(Error::usage(format!(
            "--protocol {v:?}: use rtsp, hls or webrtc"
        ))),
    }
}

fn transport(v: &str) -> Result<Transport, Error> {
    match v {
        "tcp" => Ok(Transport::Tcp),
        "udp" => Ok(Transport::Udp),
        _ => Err(Error::usage(format!("--transport {v:?}: use tcp or udp"))),
    }
}

/// Durations as (fractional) seconds in the JSON report.
mod secs {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Duration, D::Error> {
        let v = <f64 as serde::Deserialize>::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_documented_command_line_parses() {
        let o = Options::parse(args(
            "--target 10.0.0.2 --cameras 500 --readers-per-camera 1 --protocol hls \
             --duration 60s --report out.json --webrtc-port 18889 --clip /tmp/720p.h264",
        ))
        .unwrap();
        assert_eq!((o.webrtc_port, o.clip.as_str()), (18889, "/tmp/720p.h264"));
        assert_eq!(o.target, "10.0.0.2");
        assert_eq!((o.cameras, o.readers_per_camera), (500, 1));
        assert_eq!(o.protocol, Protocol::Hls);
        assert_eq!(o.duration, Duration::from_secs(60));
        assert_eq!(o.html_path(), PathBuf::from("out.html"));
    }

    #[test]
    fn durations() {
        let cases = [
            ("60s", 60_000),
            ("2m", 120_000),
            ("500ms", 500),
            ("1.5", 1500),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_millis(ms),
                "{text}"
            );
        }
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        assert!(Options::parse(args("--cameras")).is_err());
        assert!(Options::parse(args("--cameras 0")).is_err());
        assert!(Options::parse(args("--protocol quic")).is_err());
        assert!(Options::parse(args("--frobnicate 1")).is_err());
    }
}
