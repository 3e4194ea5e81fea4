//! RTSP credentials are checked against `authInternalUsers`: Basic and Digest, per action and
//! path, with ffmpeg as the client.

use std::time::Duration;

use vigia_conformance::clips::Clip;
use vigia_conformance::probe::ffprobe;
use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::{Ports, Vigia, eventually, run_with_timeout};

fn server(methods: &str) -> (Vigia, Ports) {
    Vigia::start_on_fresh_ports(&format!(
        "rtspAuthMethods: [{methods}]
authInternalUsers:
- user: any
  pass:
  ips: []
  permissions:
  - action: read
- user: cam
  pass: secret
  ips: []
  permissions:
  - action: publish
    path: cam1
paths:
  all_others:
"
    ))
}

/// Runs ffmpeg publishing 2 s of the clip to `url`; returns whether it succeeded and its stderr.
fn publish_briefly(url: &str) -> (bool, String) {
    let clip = Clip::H264Aac.path();
    let clip = clip.display().to_string();
    let args = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-i",
        &clip,
        "-t",
        "2",
        "-c",
        "copy",
        "-f",
        "rtsp",
        "-rtsp_transport",
        "tcp",
        url,
    ];
    let out = run_with_timeout("ffmpeg", &args, Duration::from_secs(30));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn with_credentials(ports: &Ports, user_pass: &str, path: &str) -> String {
    format!("rtsp://{user_pass}@127.0.0.1:{}/{path}", ports.rtsp)
}

#[test]
fn publishing_needs_the_right_credentials_with_basic() {
    let (vigia, ports) = server("basic");
    let (ok, err) = publish_briefly(&ports.rtsp_url("cam1"));
    assert!(!ok, "publishing without credentials must fail");
    assert!(err.contains("401"), "ffmpeg reports 401: {err}");
    let (ok, _) = publish_briefly(&with_credentials(&ports, "cam:wrong", "cam1"));
    assert!(!ok, "a wrong password must fail");
    let (ok, _) = publish_briefly(&with_credentials(&ports, "cam:secret", "cam2"));
    assert!(!ok, "cam may only publish to cam1");
    let (ok, err) = publish_briefly(&with_credentials(&ports, "cam:secret", "cam1"));
    assert!(ok, "the right credentials publish: {err}\n{}", vigia.logs());
    assert!(
        vigia.logs().contains("authentication failed"),
        "failures are logged"
    );
}

#[test]
fn challenge_offers_basic_only_unless_digest_is_enabled() {
    let (_vigia, ports) = server("basic");
    let mut client = RtspClient::connect(ports.rtsp, &ports.rtsp_url("cam1")).unwrap();
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";
    let answer = client.announce(&ports.rtsp_url("cam1"), sdp).unwrap();
    assert_eq!(answer.status, 401);
    let challenges: Vec<&str> = answer
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    assert!(challenges[0].starts_with("Basic realm="), "{challenges:?}");
}

#[test]
fn digest_credentials_publish_and_anyone_reads() {
    let (vigia, ports) = server("basic, digest");
    let (ok, _) = publish_briefly(&with_credentials(&ports, "cam:wrong", "cam1"));
    assert!(!ok, "a wrong password must fail with Digest too");
    let url = with_credentials(&ports, "cam:secret", "cam1");
    let _publisher = Clip::H264Aac.publish(&url, "tcp");
    let probe = eventually(Duration::from_secs(20), || {
        let p = ffprobe(&ports.rtsp_url("cam1"), &["-rtsp_transport", "tcp"], None);
        (p.streams.len() == 2).then_some(p)
    });
    assert!(
        probe.is_some(),
        "Digest publisher readable without credentials:\n{}",
        vigia.logs()
    );
}
