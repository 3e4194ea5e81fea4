//! End to end with a real `vigia` (target/release/vigia, or `$VIGIA_BIN`; issue 14): the tokens
//! Admin issues let a viewer of city A read city A's camera over RTSP and HLS and are refused for
//! city B's; an expired token and a revoked one are refused; the audit log records each read.
//!
//! Both ways docs/admin.md configures Vigia run side by side against one Admin, served on
//! 127.0.0.1 by this test from its own database: (b) `authMethod: http` at the callback, which
//! decides and writes the audit log, and (a) `authMethod: jwt` at the JWKS, where Vigia decides
//! alone (no audit log; a revocation is seen there only at expiry, so nothing is asserted about
//! it). The cameras are Vigia static paths named by camera ids with `source: synthetic`, given
//! their cities with `PUT /v1/cameras/{path}`. Access tokens live [`TTL`]: the allowed reads
//! start at once after the login, and the same token is tried again once it has expired. Vigia
//! answers a refusal of presented credentials after a pause of up to 4 s, so the reads run
//! concurrently.

mod common;
#[path = "../../test-support/vigia.rs"]
mod vigia;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use uuid::Uuid;

use common::{Harness, str_of};
use vigia::Vigia;

/// Admin's `ADMIN_ACCESS_TTL` here: long enough for a read's requests to start, short enough to
/// wait for.
const TTL: Duration = Duration::from_secs(4);
/// The viewer of city A (seeded by the harness).
const VIEWER: &str = "ana@test.br";
/// The superadmin (seeded by the harness).
const ROOT: &str = "root@test.br";
/// How long a read may take once allowed.
const READ_WITHIN: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_tokens_open_their_city_cameras_in_vigia_and_every_read_is_audited() {
    let h = Harness::start_with(|c| c.access_ttl = TTL).await;
    let admin = serve(&h).await;
    let (cam_a, cam_b) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    let root = access(&h.login(ROOT).await);
    for (cam, city) in [(&cam_a, h.city_a.0), (&cam_b, h.city_b.0)] {
        let body = json!({"cityId": city});
        let uri = format!("/v1/cameras/{cam}");
        let (status, v, _) = h.send(Method::PUT, &uri, Some(&root), Some(body)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    }
    let paths = format!(
        "hlsAlwaysRemux: yes\npaths:\n  {cam_a}:\n    source: synthetic\n  {cam_b}:\n    source: synthetic\n"
    );
    let http = Server::start(
        "http",
        &format!("authMethod: http\nauthHTTPAddress: http://{admin}/v1/auth/mediamtx\n{paths}"),
    )
    .await;
    let jwt = Server::start(
        "jwt",
        &format!(
            "authMethod: jwt\nauthJWTJWKS: http://{admin}/jwks\n\
             authJWTClaimKey: mediamtx_permissions\n{paths}"
        ),
    )
    .await;
    for server in [&http, &jwt] {
        server.warm_up(&h, [&cam_a, &cam_b]).await;
    }

    let revoked = h.login(VIEWER).await;
    let body = json!({"refreshToken": revoked["refreshToken"]});
    let revoked = access(&revoked);
    let logout = h.send(Method::POST, "/v1/auth/logout", Some(&revoked), Some(body));
    assert_eq!(logout.await.0, StatusCode::NO_CONTENT);
    let pair = h.login(VIEWER).await;
    let token = access(&pair);
    let claims = claims_of(&token);

    let mut reads = JoinSet::new();
    for server in [&http, &jwt] {
        for how in How::ALL {
            server.spawn(
                &mut reads,
                how,
                &cam_a,
                &token,
                Ok(()),
                "city A, valid token",
            );
            server.spawn(&mut reads, how, &cam_b, &token, Err(401), "city B");
        }
    }
    for how in How::ALL {
        http.spawn(&mut reads, how, &cam_a, &revoked, Err(401), "revoked token");
    }
    let exp = claims["exp"].as_u64().expect("exp");
    tokio::time::sleep(until_unix(exp) + Duration::from_millis(300)).await;
    for server in [&http, &jwt] {
        for how in How::ALL {
            server.spawn(&mut reads, how, &cam_a, &token, Err(401), "expired token");
        }
    }
    let mut wrong = Vec::new();
    while let Some(done) = reads.join_next().await {
        let (what, got, expected) = done.expect("a read task");
        if got != expected {
            wrong.push(format!("{what}: {got:?}, expected {expected:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n--- http vigia:\n{}\n--- jwt vigia:\n{}",
        wrong.join("\n"),
        http.vigia.logs(),
        jwt.vigia.logs()
    );

    let viewer = str_of(&claims["sub"]);
    check_audit(&h, &cam_a, &cam_b, &viewer).await;
    drop((http, jwt));
    h.finish().await;
}

/// Serves the harness's Admin on a free port of 127.0.0.1; its `host:port`.
async fn serve(h: &Harness) -> String {
    let port = vigia::free_port(false);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("admin listener");
    let router = h.app.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("127.0.0.1:{port}")
}

/// The audit log of the `authMethod: http` Vigia: the viewer's allowed reads of camera A over
/// each protocol, and its refusals (expired, revoked, camera B) with their reasons.
async fn check_audit(h: &Harness, cam_a: &str, cam_b: &str, viewer: &str) {
    let root = access(&h.login(ROOT).await);
    let (a, b) = (audit(h, &root, cam_a).await, audit(h, &root, cam_b).await);
    let everything = format!("camera A: {a:#?}\ncamera B: {b:#?}");
    for protocol in ["rtsp", "hls"] {
        let allowed = a.iter().any(|r| {
            r["allowed"] == true
                && r["email"] == VIEWER
                && r["userId"] == viewer
                && r["action"] == "read"
                && r["protocol"] == protocol
                && r["ip"] == "127.0.0.1"
        });
        assert!(
            allowed,
            "an allowed {protocol} read of A by the viewer: {everything}"
        );
        let refused = |rows: &[Value], reason: &str| {
            rows.iter().any(|r| {
                r["allowed"] == false
                    && r["protocol"] == protocol
                    && r["reason"].as_str().is_some_and(|s| s.contains(reason))
            })
        };
        for reason in ["token expired", "token revoked"] {
            assert!(refused(&a, reason), "{protocol}, {reason}: {everything}");
        }
        assert!(refused(&b, "no permission"), "{protocol}, B: {everything}");
        let named = b
            .iter()
            .any(|r| r["protocol"] == protocol && r["email"] == VIEWER && r["userId"] == viewer);
        assert!(
            named,
            "a refusal of a valid token names the user: {everything}"
        );
    }
}

/// The audit rows of `cam`, newest first.
async fn audit(h: &Harness, root: &str, cam: &str) -> Vec<Value> {
    let uri = format!("/v1/audit?path={cam}&perPage=500");
    let (status, v, _) = h.send(Method::GET, &uri, Some(root), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v.as_array().expect("a list of rows").clone()
}

/// How a read presents the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// RTSP, the token as the Basic password.
    RtspPassword,
    /// RTSP, the token as `?jwt=`.
    RtspQuery,
    /// HLS, `Authorization: Bearer`.
    HlsBearer,
}

impl How {
    const ALL: [How; 3] = [How::RtspPassword, How::RtspQuery, How::HlsBearer];
}

/// A read's outcome: `Ok` once media arrived, `Err` with the status that refused it.
type Outcome = Result<(), u16>;

/// A running Vigia of one `authMethod`.
struct Server {
    vigia: Vigia,
    mode: &'static str,
    rtsp: u16,
    hls: u16,
}

impl Server {
    async fn start(mode: &'static str, auth_and_paths: &str) -> Server {
        let (listeners, rtsp, hls) = vigia::listeners();
        let config = format!("{listeners}{auth_and_paths}");
        let vigia = Vigia::spawn(&format!("admin-vigia-{mode}"), &config, &[]);
        vigia.wait_listening(rtsp, Duration::from_secs(10)).await;
        vigia.wait_listening(hls, Duration::from_secs(10)).await;
        Server {
            vigia,
            mode,
            rtsp,
            hls,
        }
    }

    /// Reads each camera over HLS as the superadmin until its playlists are ready (and, in jwt
    /// mode, Vigia has the JWKS), so the timed reads that follow start at once.
    async fn warm_up(&self, h: &Harness, cams: [&str; 2]) {
        let start = std::time::Instant::now();
        for cam in cams {
            loop {
                let root = access(&h.login(ROOT).await);
                let got = read(self.rtsp, self.hls, cam, How::HlsBearer, &root).await;
                if got.is_ok() {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "{} vigia: the superadmin cannot read {cam} over HLS ({got:?}):\n{}",
                    self.mode,
                    self.vigia.logs()
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    /// Starts reading `cam` with `token`, `how`; the task answers what, what happened and what
    /// was expected.
    fn spawn(
        &self,
        set: &mut JoinSet<(String, Outcome, Outcome)>,
        how: How,
        cam: &str,
        token: &str,
        expected: Outcome,
        case: &str,
    ) {
        let what = format!("{} vigia, {how:?}, {case}", self.mode);
        let (rtsp, hls, cam, token) = (self.rtsp, self.hls, cam.to_owned(), token.to_owned());
        set.spawn(async move { (what, read(rtsp, hls, &cam, how, &token).await, expected) });
    }
}

/// Reads `cam` from the Vigia at `rtsp` / `hls` with `token`, `how`.
async fn read(rtsp: u16, hls: u16, cam: &str, how: How, token: &str) -> Outcome {
    let reading = async {
        match how {
            How::HlsBearer => hls_read(hls, cam, token).await,
            _ => rtsp_read(rtsp, cam, how, token).await,
        }
    };
    tokio::time::timeout(READ_WITHIN, reading)
        .await
        .unwrap_or_else(|_| panic!("{how:?} read of {cam}: nothing within {READ_WITHIN:?}"))
}

/// The multivariant playlist, then the media playlist it names.
async fn hls_read(port: u16, cam: &str, token: &str) -> Outcome {
    let client = reqwest::Client::new();
    let get = |file: String| {
        let url = format!("http://127.0.0.1:{port}/{cam}/{file}");
        let request = client.get(url).bearer_auth(token).send();
        async move {
            let response = request.await.expect("vigia answers over HLS");
            let status = response.status().as_u16();
            if status != 200 {
                return Err(status);
            }
            Ok(response.text().await.expect("a playlist"))
        }
    };
    let index = get("index.m3u8".into()).await?;
    let media = index
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("a media playlist in {index}"));
    let playlist = get(media.to_owned()).await?;
    assert!(playlist.contains("#EXTINF"), "segments in {playlist}");
    Ok(())
}

/// DESCRIBE, SETUP (interleaved TCP) and PLAY, then the first RTP packet.
async fn rtsp_read(port: u16, cam: &str, how: How, token: &str) -> Outcome {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to vigia's RTSP");
    let mut rtsp = Rtsp {
        io: BufReader::new(stream),
        cseq: 0,
        authorization: None,
    };
    let mut url = format!("rtsp://127.0.0.1:{port}/{cam}");
    match how {
        How::RtspQuery => url = format!("{url}?jwt={token}"),
        _ => {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("viewer:{token}"));
            rtsp.authorization = Some(format!("Basic {basic}"));
        }
    }
    let (headers, sdp) = rtsp.request("DESCRIBE", &url, "").await?;
    let base = header(&headers, "content-base").unwrap_or_else(|| format!("{url}/"));
    let control = sdp
        .lines()
        .skip_while(|l| !l.starts_with("m="))
        .find_map(|l| l.strip_prefix("a=control:"))
        .unwrap_or_else(|| panic!("a track control in {sdp}"));
    let track = if control.starts_with("rtsp://") {
        control.to_owned()
    } else {
        format!("{base}{control}")
    };
    let transport = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n";
    let (headers, _) = rtsp.request("SETUP", &track, transport).await?;
    let session = header(&headers, "session").expect("a session");
    let session = session.split(';').next().unwrap_or_default();
    rtsp.request("PLAY", &url, &format!("Session: {session}\r\n"))
        .await?;
    rtsp.first_rtp().await;
    Ok(())
}

/// A minimal RTSP client over one connection.
struct Rtsp {
    io: BufReader<TcpStream>,
    cseq: u32,
    authorization: Option<String>,
}

impl Rtsp {
    /// Sends a request with `extra` header lines; the headers and body of a 200, else `Err`
    /// with the status.
    async fn request(
        &mut self,
        method: &str,
        url: &str,
        extra: &str,
    ) -> Result<(Vec<(String, String)>, String), u16> {
        self.cseq += 1;
        let auth = self
            .authorization
            .as_ref()
            .map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        let request = format!(
            "{method} {url} RTSP/1.0\r\nCSeq: {}\r\n{auth}{extra}\r\n",
            self.cseq
        );
        let io = self.io.get_mut();
        io.write_all(request.as_bytes()).await.expect("send");
        let mut line = String::new();
        self.io.read_line(&mut line).await.expect("a status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{method}: bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.io.read_line(&mut line).await.expect("a header");
            let Some((k, v)) = line.trim_end().split_once(':') else {
                break;
            };
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let length = header(&headers, "content-length").map_or(0, |l| l.parse().unwrap_or(0));
        let mut body = vec![0; length];
        self.io.read_exact(&mut body).await.expect("the body");
        if status != 200 {
            return Err(status);
        }
        Ok((headers, String::from_utf8_lossy(&body).into_owned()))
    }

    /// Reads interleaved frames until one on channel 0 (RTP of the first track).
    async fn first_rtp(&mut self) {
        loop {
            let mut head = [0u8; 4];
            self.io.read_exact(&mut head).await.expect("a frame");
            assert_eq!(head[0], b'$', "an interleaved frame");
            let mut frame = vec![0; usize::from(u16::from_be_bytes([head[2], head[3]]))];
            self.io.read_exact(&mut frame).await.expect("a frame");
            if head[1] == 0 {
                assert!(frame.len() > 12, "an RTP packet");
                return;
            }
        }
    }
}

/// The value of header `name` (lower case).
fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The access token of a login's answer.
fn access(pair: &Value) -> String {
    str_of(&pair["accessToken"])
}

/// A JWT's claims, unverified.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&json).expect("JSON claims")
}

/// How long until the Unix time `secs`.
fn until_unix(secs: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(secs).saturating_sub(now)
}
