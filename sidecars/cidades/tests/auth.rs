//! Admin's access tokens decide what a caller reads and changes (`src/auth.rs`): a JWKS served
//! by the test stands in for Admin's, tokens are ES256 JWTs signed with its keys.

mod common;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Harness, camera_body, plan_body, str_of};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use vigia_cidades::auth::AuthConfig;

const ISSUER: &str = "vigia-admin";

/// A signing key: its `kid`, private key and public JWK.
struct Key {
    kid: String,
    private: EncodingKey,
    jwk: Value,
}

impl Key {
    fn new(kid: &str) -> Key {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = &pair.public_key().as_ref()[1..];
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[..32]), "y": URL_SAFE_NO_PAD.encode(&point[32..])});
        Key {
            kid: kid.to_owned(),
            private: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk,
        }
    }

    /// A token for `cities` (id → role), expiring `ttl` seconds from now (negative: expired).
    fn token(&self, cities: &[(&str, &str)], superadmin: bool, ttl: i64, iss: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let cities: serde_json::Map<String, Value> = cities
            .iter()
            .map(|(c, r)| ((*c).into(), json!(r)))
            .collect();
        let claims = json!({"iss": iss, "sub": uuid::Uuid::new_v4(), "iat": now,
            "exp": now + ttl, "jti": uuid::Uuid::new_v4(), "cities": cities,
            "superadmin": superadmin, "mediamtx_permissions": []});
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.private).unwrap()
    }

    fn viewer(&self, city: &str) -> String {
        self.token(&[(city, "viewer")], false, 300, ISSUER)
    }

    fn root(&self) -> String {
        self.token(&[], true, 300, ISSUER)
    }
}

/// Admin's JWKS as the test serves it: the keys can be replaced while it runs.
struct Jwks {
    url: String,
    keys: Arc<RwLock<Vec<Value>>>,
}

impl Jwks {
    async fn serve(keys: &[&Key]) -> Jwks {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        let keys = Arc::new(RwLock::new(keys));
        let shared = keys.clone();
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let keys = shared.read().unwrap().clone();
                async move { axum::Json(json!({ "keys": keys })) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Jwks { url, keys }
    }

    fn publish(&self, key: &Key) {
        self.keys.write().unwrap().push(key.jwk.clone());
    }

    fn config(&self) -> AuthConfig {
        AuthConfig::Jwt {
            jwks_url: self.url.clone(),
            issuer: ISSUER.into(),
        }
    }
}

/// Two cities on one plan, made by `root`: (city a, city b).
async fn two_cities(h: &Harness, root: &str) -> (String, String) {
    let (status, plan) = h
        .call_as(
            root,
            Method::POST,
            "/v1/plans",
            Some(plan_body("Básico", 30)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    let mut ids = Vec::new();
    for (ibge, name, cnpj) in [
        ("3550308", "São Paulo", common::CNPJ),
        ("3509502", "Campinas", "11444777000161"),
    ] {
        let body = json!({"ibgeCode": ibge, "name": name, "uf": "SP", "cnpj": cnpj,
            "storagePlanId": plan["id"]});
        let (status, city) = h
            .call_as(root, Method::POST, "/v1/cities", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{city}");
        ids.push(str_of(&city["id"]));
    }
    (ids[0].clone(), ids[1].clone())
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let key = Key::new("k1");
    let jwks = Jwks::serve(&[&key]).await;
    let h = Harness::start_with(None, jwks.config()).await;
    let (status, body) = h.call(Method::GET, "/v1/cameras", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
    let stranger = Key::new("stranger");
    let refused = [
        ("not-a-jwt".to_owned(), "not a JWT"),
        (key.token(&[], true, -5, ISSUER), "expired"),
        (key.token(&[], true, 300, "someone-else"), "issuer"),
        (stranger.root(), "not in Admin's JWKS"),
    ];
    for (token, why) in refused {
        let (status, body) = h.call_as(&token, Method::GET, "/v1/plans", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert!(body["error"].as_str().unwrap().contains(why), "{body}");
    }
    let (status, _) = h.call_as(&key.root(), Method::GET, "/v1/plans", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.call(Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "health needs no token");
    h.finish().await;
}

#[tokio::test]
async fn roles_scope_what_each_city_sees_and_changes() {
    let key = Key::new("k1");
    let jwks = Jwks::serve(&[&key]).await;
    let h = Harness::start_with(None, jwks.config()).await;
    let root = key.root();
    let (a, b) = two_cities(&h, &root).await;
    for (city, name, n) in [(&a, "Praça", 1), (&b, "Terminal", 2)] {
        let body = camera_body(city, name, &format!("rtsp://10.0.0.{n}/s"));
        let (status, cam) = h
            .call_as(&root, Method::POST, "/v1/cameras", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{cam}");
    }
    // The superadmin's list is cached first: a scoped caller must not get it.
    let (_, all) = h.call_as(&root, Method::GET, "/v1/cameras", None).await;
    assert_eq!(all["total"], 2);

    let viewer = key.viewer(&a);
    let (_, mine) = h.call_as(&viewer, Method::GET, "/v1/cameras", None).await;
    assert_eq!(mine["total"], 1, "{mine}");
    assert_eq!(mine["items"][0]["cityId"], json!(a));
    let (_, cities) = h.call_as(&viewer, Method::GET, "/v1/cities", None).await;
    assert_eq!(cities["total"], 1, "{cities}");
    let other = format!("/v1/cameras?cityId={b}");
    let (status, body) = h.call_as(&viewer, Method::GET, &other, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"].as_str().unwrap().contains(&b), "{body}");
    let b_camera = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cityId"] == json!(b))
        .unwrap()["id"]
        .clone();
    let hidden = [
        format!("/v1/cities/{b}"),
        format!("/v1/cities/{b}/occurrences"),
        format!("/v1/cameras/{}", str_of(&b_camera)),
    ];
    for path in hidden {
        let (status, _) = h.call_as(&viewer, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = h
        .call_as(&viewer, Method::GET, &format!("/v1/cities/{a}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Writes: a viewer changes nothing, a city's admin changes its cameras only.
    let new_cam = |city: &str| Some(camera_body(city, "Nova", "rtsp://10.0.0.9/s"));
    let (status, _) = h
        .call_as(&viewer, Method::POST, "/v1/cameras", new_cam(&a))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = key.token(&[(&a, "admin"), (&b, "viewer")], false, 300, ISSUER);
    let (status, _) = h
        .call_as(&admin, Method::POST, "/v1/cameras", new_cam(&b))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h
        .call_as(
            &admin,
            Method::DELETE,
            &format!("/v1/cameras/{}", str_of(&b_camera)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = h
        .call_as(&admin, Method::POST, "/v1/cameras", new_cam(&a))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = h
        .call_as(&admin, Method::POST, "/v1/plans", Some(plan_body("X", 1)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"].as_str().unwrap().contains("superadmin"));
    assert_eq!(h.count("storage_plans").await, 1, "nothing stored");
    h.finish().await;
}

#[tokio::test]
async fn a_rotated_key_is_fetched_and_an_unreachable_admin_is_a_503() {
    let old = Key::new("old");
    let jwks = Jwks::serve(&[&old]).await;
    let h = Harness::start_with(None, jwks.config()).await;
    let (status, _) = h.call_as(&old.root(), Method::GET, "/v1/plans", None).await;
    assert_eq!(status, StatusCode::OK);
    let new = Key::new("new");
    jwks.publish(&new);
    tokio::time::sleep(vigia_cidades::auth::REFETCH_AFTER + Duration::from_millis(100)).await;
    let (status, body) = h.call_as(&new.root(), Method::GET, "/v1/plans", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.finish().await;

    let gone = AuthConfig::Jwt {
        jwks_url: "http://127.0.0.1:9/.well-known/jwks.json".into(),
        issuer: ISSUER.into(),
    };
    let h = Harness::start_with(None, gone).await;
    for _ in 0..2 {
        // The second request comes within the refetch interval: still a 503, not a 401.
        let (status, body) = h.call_as(&old.root(), Method::GET, "/v1/plans", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("127.0.0.1:9"),
            "{body}"
        );
    }
    h.finish().await;
}
