//! `authMethod: jwt` against a JWKS the test serves, with ES256 tokens the test signs. Through
//! every listener (RTSP with `?jwt=` and as the Basic password, HLS, API, metrics, playback) a
//! good token is allowed; an expired one, one signed by a key not in the set and one whose
//! `mediamtx_permissions` do not cover the action and path are refused, as is no token at all.
//! When the identity server rotates to a new key (a new `kid`), a token signed with it is
//! accepted at once, since vigia fetches the set again for an unknown `kid`, and the withdrawn
//! key's tokens are refused; the set is not fetched for every request. Tokens in an HTTP
//! query count only with `authJWTInHTTPQuery`; `authJWTExclude` lets an action through.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use vigia_conformance::access::{Door, Listeners, Presented};
use vigia_conformance::clips::Clip;
use vigia_conformance::http_server::HttpServer;
use vigia_conformance::{Vigia, eventually, http};

#[test]
fn good_tokens_pass_every_listener_bad_ones_none_and_a_rotated_key_is_taken_at_once() {
    let first = Key::new("first");
    let jwks = Jwks::serving(&first);
    let listeners = Listeners::fresh();
    let vigia = listeners.start(&config(&jwks, ""));
    let good = first.sign(&permissions(GOOD_PATHS), 600);
    listeners.expect_all(&vigia, &tokens(&good), 200);
    publish_with_ffmpeg(&listeners, &vigia, &good);
    assert_eq!(
        jwks.fetches().len(),
        1,
        "the JWKS is read once, not per request"
    );

    let mut refused = Vec::new();
    for bad in [
        first.sign(&permissions(GOOD_PATHS), -60),
        Key::new("first").sign(&permissions(GOOD_PATHS), 600),
        first.sign(&elsewhere(), 600),
    ] {
        refused.extend(tokens(&bad));
    }
    refused.extend(Door::ALL.map(|door| (door, Presented::nothing())));
    let in_query = Presented::query(&format!("jwt={good}"));
    let http_doors = [Door::Hls, Door::Api, Door::Metrics, Door::Playback];
    refused.extend(http_doors.map(|door| (door, in_query.clone())));
    listeners.expect_all(&vigia, &refused, 401);
    assert_eq!(jwks.fetches().len(), 1, "a known kid does not refetch");

    let second = Key::new("second");
    jwks.rotate_to(&second);
    let rotated = second.sign(&permissions(GOOD_PATHS), 600);
    listeners.expect_all(&vigia, &tokens(&rotated), 200);
    assert_eq!(
        jwks.fetches().len(),
        2,
        "the unknown kid fetched the set once"
    );
    listeners.expect_all(&vigia, &tokens(&good), 401);
}

#[test]
fn tokens_in_an_http_query_count_only_with_auth_jwt_in_http_query() {
    let key = Key::new("only");
    let jwks = Jwks::serving(&key);
    let listeners = Listeners::fresh();
    let extra = "authJWTInHTTPQuery: yes\nauthJWTExclude: [{action: playback}]\n";
    let vigia = listeners.start(&config(&jwks, extra));
    let good = key.sign(&permissions(GOOD_PATHS), 600);
    let expired = key.sign(&permissions(GOOD_PATHS), -60);
    let http_doors = [Door::Hls, Door::Api, Door::Metrics];
    let mut allowed: Vec<_> = http_doors
        .iter()
        .flat_map(|&door| {
            let legacy = Presented::query(&format!("jwt={good}"));
            [
                (door, legacy),
                (door, Presented::query(&format!("token={good}"))),
            ]
        })
        .collect();
    allowed.push((Door::Playback, Presented::nothing()));
    listeners.expect_all(&vigia, &allowed, 200);
    let refused = http_doors.map(|door| (door, Presented::query(&format!("jwt={expired}"))));
    listeners.expect_all(&vigia, &refused, 401);
}

/// An ES256 signing key and its public JWK.
struct Key {
    kid: &'static str,
    pkcs8: Vec<u8>,
    jwk: Value,
}

impl Key {
    /// A fresh P-256 key named `kid`.
    fn new(kid: &'static str) -> Key {
        let pair = rcgen::KeyPair::generate().expect("a P-256 key");
        // The uncompressed point: 0x04, x, y.
        let point = pair.public_key_raw();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Key {
            kid,
            pkcs8: pair.serialize_der(),
            jwk,
        }
    }

    /// A token granting `permissions` that expires `expires_in` seconds from now (in the past
    /// when negative).
    fn sign(&self, permissions: &Value, expires_in: i64) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let claims = json!({
            "sub": "tester",
            "exp": now.as_secs() as i64 + expires_in,
            "mediamtx_permissions": permissions,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.to_owned());
        let key = EncodingKey::from_ec_der(&self.pkcs8);
        jsonwebtoken::encode(&header, &claims, &key).expect("sign a JWT")
    }
}

/// The test's identity server: the JWKS of its current key at `/jwks`.
struct Jwks {
    current: Arc<Mutex<Value>>,
    server: HttpServer,
}

impl Jwks {
    fn serving(key: &Key) -> Jwks {
        let current = Arc::new(Mutex::new(json!({"keys": [key.jwk]})));
        let served = current.clone();
        let server = HttpServer::start(move |_| {
            let keys = served.lock().unwrap_or_else(PoisonError::into_inner);
            (200, "application/json", keys.to_string())
        });
        Jwks { current, server }
    }

    /// Replaces the key, once vigia may fetch the set again (it waits 2 s between fetches).
    fn rotate_to(&self, key: &Key) {
        let last = self.fetches().last().copied();
        let since = last.map_or(Duration::MAX, |at| at.elapsed());
        std::thread::sleep(Duration::from_millis(2200).saturating_sub(since));
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = json!({"keys": [key.jwk]});
    }

    /// When vigia fetched the set.
    fn fetches(&self) -> Vec<Instant> {
        self.server.received().iter().map(|r| r.at).collect()
    }
}

fn config(jwks: &Jwks, extra: &str) -> String {
    format!(
        "authMethod: jwt\nauthJWTJWKS: {}\n{extra}paths:\n  cam:\n    source: synthetic\n  all_others:\n",
        jwks.server.url("/jwks")
    )
}

/// The paths the good tokens cover: `pub` to publish, the synthetic `cam` to read.
const GOOD_PATHS: &str = "~^(pub|cam)$";

/// Publishing, reading and playing back `path`, the API and metrics.
fn permissions(path: &str) -> Value {
    json!([
        {"action": "publish", "path": path},
        {"action": "read", "path": path},
        {"action": "playback", "path": path},
        {"action": "api"},
        {"action": "metrics"},
    ])
}

/// Every action on a path no door is tried on, and neither the API nor metrics.
fn elsewhere() -> Value {
    json!([
        {"action": "publish", "path": "elsewhere"},
        {"action": "read", "path": "elsewhere"},
        {"action": "playback", "path": "elsewhere"},
    ])
}

/// `token` through every door as a client sends it: `?jwt=` to RTSP (and as the Basic password
/// of a read), a Bearer token to the HTTP listeners.
fn tokens(token: &str) -> Vec<(Door, Presented)> {
    let mut cases: Vec<_> = Door::ALL
        .into_iter()
        .map(|door| match door {
            Door::RtspPublish | Door::RtspRead => (door, Presented::query(&format!("jwt={token}"))),
            _ => (door, Presented::bearer(token)),
        })
        .collect();
    cases.push((Door::RtspRead, Presented::basic("anyone", token)));
    cases
}

/// ffmpeg publishes with the token in the URL's query, and the API sees the path ready.
fn publish_with_ffmpeg(listeners: &Listeners, vigia: &Vigia, token: &str) {
    let url = format!("{}?jwt={token}", listeners.ports.rtsp_url("pub"));
    let _publisher = Clip::H264Aac.publish(&url, "tcp");
    let bearer = format!("Authorization: Bearer {token}");
    let ready = eventually(Duration::from_secs(20), || {
        let answer = http::get(listeners.api, "/v3/paths/get/pub", &[&bearer])?;
        let body: Value = serde_json::from_slice(&answer.body).ok()?;
        (body["ready"] == true).then_some(())
    });
    assert!(
        ready.is_some(),
        "ffmpeg published with ?jwt=\n{}",
        vigia.logs()
    );
}
