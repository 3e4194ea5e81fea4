//! RTSP Basic and Digest authentication (RFC 2617 / RFC 7616), server side, and the Bearer
//! tokens (RFC 6750) that HTTP clients send for JWT authentication.
//!
//! The server issues challenges with [`challenge_headers`] (a Digest MD5 challenge, which ffmpeg,
//! VLC, GStreamer and cameras pick, and a Basic one, like MediaMTX), parses what the client sends
//! with [`parse_authorization`] and checks it with [`verify`]. Realm and nonce come from the
//! caller: this module draws no randomness and keeps no state.

use base64::Engine as _;
use md5::{Digest as _, Md5};

/// Why an `Authorization` header could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid Authorization header: {0}")]
pub struct AuthError(pub &'static str);

/// What a client presented in its `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// `Basic base64(user:pass)` (RFC 7617).
    Basic {
        /// User name.
        user: String,
        /// Password in clear.
        pass: String,
    },
    /// `Digest username=..., response=...` (RFC 2617 §3.2.2).
    Digest(DigestResponse),
    /// `Bearer <token>` (RFC 6750 §2.1): a token, typically a JWT.
    Bearer(String),
}

impl Credentials {
    /// The user name the client claims.
    pub fn user(&self) -> &str {
        match self {
            Credentials::Basic { user, .. } => user,
            Credentials::Digest(d) => &d.username,
            Credentials::Bearer(_) => "",
        }
    }
}

/// The parameters of a Digest `Authorization` header (RFC 2617 §3.2.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestResponse {
    /// `username`.
    pub username: String,
    /// `realm` echoed from the challenge.
    pub realm: String,
    /// `nonce` echoed from the challenge.
    pub nonce: String,
    /// `uri` the client hashed (may differ from the Request-URI in case or trailing slash).
    pub uri: String,
    /// `response`: 32 lowercase hex digits.
    pub response: String,
    /// `algorithm`, if stated (only MD5 is accepted by [`verify`]).
    pub algorithm: Option<String>,
    /// `qop`, if any (`auth`).
    pub qop: Option<String>,
    /// `nc` nonce count with `qop`.
    pub nc: Option<String>,
    /// `cnonce` with `qop`.
    pub cnonce: Option<String>,
    /// `opaque` echoed from the challenge.
    pub opaque: Option<String>,
}

/// The challenge the server issued, needed to check a Digest answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Challenge<'a> {
    /// Realm sent in `WWW-Authenticate`.
    pub realm: &'a str,
    /// Nonce sent in `WWW-Authenticate`.
    pub nonce: &'a str,
}

/// `WWW-Authenticate` values for a 401 answer: Digest (MD5) first, then Basic.
pub fn challenge_headers(realm: &str, nonce: &str) -> Vec<String> {
    vec![
        format!("Digest realm=\"{realm}\", nonce=\"{nonce}\""),
        format!("Basic realm=\"{realm}\""),
    ]
}

/// Parses an `Authorization` header value.
pub fn parse_authorization(header: &str) -> Result<Credentials, AuthError> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("Basic") {
        return parse_basic(rest.trim());
    }
    if scheme.eq_ignore_ascii_case("Digest") {
        return parse_digest(rest).map(Credentials::Digest);
    }
    if scheme.eq_ignore_ascii_case("Bearer") {
        return parse_bearer(rest.trim());
    }
    Err(AuthError("unknown scheme"))
}

/// RFC 6750's `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn parse_bearer(token: &str) -> Result<Credentials, AuthError> {
    let body = token.trim_end_matches('=');
    let valid = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !valid {
        return Err(AuthError("a Bearer token must be one b64token"));
    }
    Ok(Credentials::Bearer(token.to_owned()))
}

/// Fuzz entry point: parses `data` as an `Authorization` value; whatever parses must check
/// against a challenge without panicking, and a Basic user and password must come back from
/// their own encoding unchanged.
pub fn fuzz_authorization(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(credentials) = parse_authorization(header) else {
        return;
    };
    let issued = Challenge {
        realm: "IPCAM",
        nonce: "0123456789abcdef",
    };
    verify(&credentials, "DESCRIBE", "user", "pass", &issued);
    if let Credentials::Basic { user, pass } = &credentials {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let again = parse_authorization(&format!("Basic {encoded}"));
        if !user.contains(':') {
            assert_eq!(again.as_ref(), Ok(&credentials), "Basic round trip");
        }
    }
}

/// Checks credentials against the expected user and password.
///
/// `method` is the request's method (`DESCRIBE`…). For Digest, the realm and nonce the client
/// echoed must be the ones of `issued` (so old nonces cannot be replayed). All comparisons of
/// secrets run in constant time.
pub fn verify(
    credentials: &Credentials,
    method: &str,
    expected_user: &str,
    expected_pass: &str,
    issued: &Challenge<'_>,
) -> bool {
    match credentials {
        Credentials::Basic { user, pass } => {
            let u = ct_eq(user.as_bytes(), expected_user.as_bytes());
            let p = ct_eq(pass.as_bytes(), expected_pass.as_bytes());
            u & p
        }
        Credentials::Digest(d) => verify_digest(d, method, expected_user, expected_pass, issued),
        Credentials::Bearer(_) => false,
    }
}

/// Computes a Digest `response` (RFC 2617 §3.2.2.1), MD5, with or without `qop=auth`.
pub fn digest_response(d: &DigestResponse, method: &str, pass: &str) -> String {
    let ha1 = md5_hex(&format!("{}:{}:{}", d.username, d.realm, pass));
    let ha2 = md5_hex(&format!("{method}:{}", d.uri));
    match (&d.qop, &d.nc, &d.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", d.nonce))
        }
        _ => md5_hex(&format!("{ha1}:{}:{ha2}", d.nonce)),
    }
}

fn verify_digest(
    d: &DigestResponse,
    method: &str,
    user: &str,
    pass: &str,
    issued: &Challenge<'_>,
) -> bool {
    if d.algorithm
        .as_deref()
        .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
    {
        return false;
    }
    let expected = digest_response(d, method, pass);
    let ok_user = ct_eq(d.username.as_bytes(), user.as_bytes());
    let ok_realm = ct_eq(d.realm.as_bytes(), issued.realm.as_bytes());
    let ok_nonce = ct_eq(d.nonce.as_bytes(), issued.nonce.as_bytes());
    let ok_resp = ct_eq(
        d.response.to_ascii_lowercase().as_bytes(),
        expected.as_bytes(),
    );
    ok_user & ok_realm & ok_nonce & ok_resp
}

fn parse_basic(b64: &str) -> Result<Credentials, AuthError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| AuthError("Basic credentials are not base64"))?;
    let text = String::from_utf8(raw).map_err(|_| AuthError("Basic credentials are not UTF-8"))?;
    let (user, pass) = text
        .split_once(':')
        .ok_or(AuthError("Basic credentials without ':'"))?;
    Ok(Credentials::Basic {
        user: user.to_owned(),
        pass: pass.to_owned(),
    })
}

fn parse_digest(params: &str) -> Result<DigestResponse, AuthError> {
    let mut d = DigestResponse::default();
    for (key, value) in parse_params(params)? {
        match key.to_ascii_lowercase().as_str() {
            "username" => d.username = value,
            "realm" => d.realm = value,
            "nonce" => d.nonce = value,
            "uri" => d.uri = value,
            "response" => d.response = value,
            "algorithm" => d.algorithm = Some(value),
            "qop" => d.qop = Some(value),
            "nc" => d.nc = Some(value),
            "cnonce" => d.cnonce = Some(value),
            "opaque" => d.opaque = Some(value),
            _ => {}
        }
    }
    if d.username.is_empty() || d.nonce.is_empty() || d.response.is_empty() {
        return Err(AuthError(
            "Digest credentials lack username, nonce or response",
        ));
    }
    Ok(d)
}

/// Splits `k=v, k="quoted \" value", ...` (RFC 2617 §1.2 auth-param list).
fn parse_params(s: &str) -> Result<Vec<(String, String)>, AuthError> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or(AuthError("parameter without '='"))?;
        let key = rest.get(..eq).unwrap_or_default().trim().to_owned();
        let after = rest.get(eq + 1..).unwrap_or_default().trim_start();
        let (value, tail) = match after.strip_prefix('"') {
            Some(q) => take_quoted(q)?,
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (
                    after.get(..end).unwrap_or_default().trim().to_owned(),
                    after.get(end..).unwrap_or_default(),
                )
            }
        };
        out.push((key, value));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Ok(out)
}

/// Reads a quoted-string body (after the opening quote); returns it unescaped and the tail.
fn take_quoted(s: &str) -> Result<(String, &str), AuthError> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, s.get(i + 1..).unwrap_or_default())),
            '\\' => value.extend(chars.next().map(|(_, c)| c)),
            c => value.push(c),
        }
    }
    Err(AuthError("unterminated quoted string"))
}

fn md5_hex(s: &str) -> String {
    let digest = Md5::digest(s.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without an early exit, so timing does not reveal where secrets differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_roundtrip() {
        let c = parse_authorization("Basic dXNlcjpwYXNz").unwrap();
        assert_eq!(
            c,
            Credentials::Basic {
                user: "user".into(),
                pass: "pass".into()
            }
        );
        let ch = Challenge {
            realm: "IPCAM",
            nonce: "n",
        };
        assert!(verify(&c, "DESCRIBE", "user", "pass", &ch));
        assert!(!verify(&c, "DESCRIBE", "user", "pasS", &ch));
        assert!(!verify(&c, "DESCRIBE", "use", "pass", &ch));
    }

    /// RFC 2617 §3.5 example, without qop (the form ffmpeg and most cameras use).
    #[test]
    fn digest_without_qop() {
        let mut d = DigestResponse {
            username: "admin".into(),
            realm: "IPCAM".into(),
            nonce: "0123456789abcdef".into(),
            uri: "rtsp://127.0.0.1:8554/cam".into(),
            ..DigestResponse::default()
        };
        d.response = digest_response(&d, "DESCRIBE", "secret");
        let header = format!(
            "Digest username=\"admin\", realm=\"IPCAM\", nonce=\"0123456789abcdef\", \
             uri=\"rtsp://127.0.0.1:8554/cam\", response=\"{}\"",
            d.response
        );
        let c = parse_authorization(&header).unwrap();
        assert_eq!(c, Credentials::Digest(d));
        let ch = Challenge {
            realm: "IPCAM",
            nonce: "0123456789abcdef",
        };
        assert!(verify(&c, "DESCRIBE", "admin", "secret", &ch));
        assert!(!verify(&c, "SETUP", "admin", "secret", &ch));
        assert!(!verify(&c, "DESCRIBE", "admin", "wrong", &ch));
        let stale = Challenge {
            realm: "IPCAM",
            nonce: "other",
        };
        assert!(!verify(&c, "DESCRIBE", "admin", "secret", &stale));
    }

    /// RFC 2617 §3.5: the published response for "Mufasa" / "Circle Of Life" with qop=auth.
    #[test]
    fn digest_rfc2617_example() {
        let header = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let c = parse_authorization(header).unwrap();
        let ch = Challenge {
            realm: "testrealm@host.com",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        };
        assert!(verify(&c, "GET", "Mufasa", "Circle Of Life", &ch));
    }

    /// Responses ffmpeg (Lavf59) actually sent to `challenge_headers("vigia", "n0nce42")`.
    #[test]
    fn digest_from_ffmpeg_capture() {
        let ch = Challenge {
            realm: "vigia",
            nonce: "n0nce42",
        };
        for (method, response) in [
            ("ANNOUNCE", "cc6931335b7c7ca759eaf6ded34e077a"),
            ("DESCRIBE", "f52ef8c6d693da579bddbbbf6b721f89"),
        ] {
            let header = format!(
                "Digest username=\"u\", realm=\"vigia\", nonce=\"n0nce42\", \
                 uri=\"rtsp://127.0.0.1:18601/cam1\", response=\"{response}\""
            );
            let c = parse_authorization(&header).unwrap();
            assert!(verify(&c, method, "u", "p", &ch), "{method}");
            assert!(!verify(&c, method, "u", "wrong", &ch), "{method}");
        }
    }

    #[test]
    fn challenges_like_mediamtx() {
        assert_eq!(
            challenge_headers("IPCAM", "abc"),
            vec![
                "Digest realm=\"IPCAM\", nonce=\"abc\"".to_owned(),
                "Basic realm=\"IPCAM\"".to_owned()
            ]
        );
    }

    #[test]
    fn bearer_tokens() {
        let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_x";
        assert_eq!(
            parse_authorization(&format!("Bearer {jwt}")),
            Ok(Credentials::Bearer(jwt.to_owned()))
        );
        assert_eq!(
            parse_authorization("bearer abc=="),
            Ok(Credentials::Bearer("abc==".to_owned()))
        );
        let c = Credentials::Bearer("abc".to_owned());
        assert_eq!(c.user(), "");
        let issued = Challenge {
            realm: "r",
            nonce: "n",
        };
        assert!(!verify(&c, "GET", "", "abc", &issued));
    }

    #[test]
    fn malformed_headers() {
        for h in [
            "",
            "Bearer",
            "Bearer a b",
            "Bearer =",
            "Bearer a=b",
            "Basic !!!",
            "Basic dXNlcg==",
            "Digest username=\"a",
            "Digest x",
        ] {
            assert!(parse_authorization(h).is_err(), "{h}");
        }
    }
}
