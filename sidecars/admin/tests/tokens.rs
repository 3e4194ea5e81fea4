//! Tokens against a real PostgreSQL: a login's access token verifies with the JWKS and grants
//! exactly the user's cities' cameras; expired and revoked tokens are refused by Vigia's
//! callback; refresh tokens are one-use; a rotated key stays in the JWKS.

mod common;

use axum::http::{Method, StatusCode};
use chrono::{TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use common::{Harness, str_of};
use vigia_admin::auth;
use vigia_admin::tokens::{Claims, allows};

/// Verifies `token` with the key of its `kid` taken from the served JWKS.
async fn verify_with_jwks(h: &Harness, token: &str) -> Claims {
    let (status, jwks) = h.call(Method::GET, "/jwks", None).await;
    assert_eq!(status, StatusCode::OK);
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the token's kid is in the JWKS");
    assert_eq!(
        (jwk["kty"].as_str(), jwk["alg"].as_str()),
        (Some("EC"), Some("ES256"))
    );
    let key =
        DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::ES256);
    v.set_issuer(&["vigia-admin"]);
    jsonwebtoken::decode::<Claims>(token, &key, &v)
        .unwrap()
        .claims
}

/// The `kid` of a token's header.
fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// The kids of the served JWKS.
async fn jwks_kids(h: &Harness) -> Vec<String> {
    let (_, jwks) = h.call(Method::GET, "/jwks", None).await;
    let keys = jwks["keys"].as_array().unwrap().iter();
    keys.map(|k| str_of(&k["kid"])).collect()
}

#[tokio::test]
async fn login_token_verifies_with_the_jwks_and_grants_only_the_users_cities() {
    let h = Harness::start().await;
    let tokens = h.login("ana@test.br").await;
    let access = str_of(&tokens["accessToken"]);
    let claims = verify_with_jwks(&h, &access).await;
    assert_eq!(claims.email, "ana@test.br");
    assert_eq!(claims.exp - claims.iat, 300);
    let (a, b) = (&h.city_a.1, &h.city_b.1);
    let perms = &claims.mediamtx_permissions;
    assert!(allows(perms, "read", a) && allows(perms, "playback", a));
    assert!(!allows(perms, "read", b) && !allows(perms, "publish", a));
    let raw: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            access.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        raw["mediamtx_permissions"]
            .as_array()
            .unwrap()
            .contains(&json!({"action": "read", "path": a}))
    );
    let (status, same) = h.call(Method::GET, "/.well-known/jwks.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same, h.call(Method::GET, "/jwks", None).await.1);
    assert_eq!(h.callback(&access, "read", a).await, StatusCode::OK);
    assert_eq!(h.callback(&access, "read", b).await, StatusCode::FORBIDDEN);
    h.finish().await;
}

#[tokio::test]
async fn expired_and_revoked_tokens_are_refused_by_the_callback() {
    let h = Harness::start().await;
    let path = h.city_a.1.clone();
    let ana = sqlx::query_scalar("SELECT id FROM users WHERE email = 'ana@test.br'")
        .fetch_one(&h.app.state.pool)
        .await
        .unwrap();
    let old = auth::access_token(&h.app.state, ana, Utc::now() - TimeDelta::minutes(6))
        .await
        .unwrap();
    assert_eq!(
        h.callback(&old, "read", &path).await,
        StatusCode::UNAUTHORIZED
    );
    let tokens = h.login("ana@test.br").await;
    let access = str_of(&tokens["accessToken"]);
    assert_eq!(h.callback(&access, "read", &path).await, StatusCode::OK);
    let body = json!({"refreshToken": tokens["refreshToken"]});
    let (status, _, _) = h
        .send(Method::POST, "/v1/auth/logout", Some(&access), Some(body))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.callback(&access, "read", &path).await,
        StatusCode::UNAUTHORIZED
    );
    let refresh = json!({"refreshToken": tokens["refreshToken"]});
    let (status, _) = h
        .call(Method::POST, "/v1/auth/refresh", Some(refresh))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "logout revokes the refresh token"
    );
    assert_eq!(
        h.callback("not.a.jwt", "read", &path).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.callback("", "read", &path).await,
        StatusCode::UNAUTHORIZED
    );
    h.finish().await;
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_is_refused() {
    let h = Harness::start().await;
    let first = h.login("ana@test.br").await;
    let body = json!({"refreshToken": first["refreshToken"]});
    let (status, second) = h
        .call(Method::POST, "/v1/auth/refresh", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["refreshToken"], first["refreshToken"]);
    verify_with_jwks(&h, &str_of(&second["accessToken"])).await;
    let (status, v) = h.call(Method::POST, "/v1/auth/refresh", Some(body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    h.finish().await;
}

#[tokio::test]
async fn a_reused_refresh_token_or_an_admin_revocation_revokes_every_token_of_the_user() {
    let h = Harness::start().await;
    let cam = h.city_a.1.clone();
    let first = h.login("ana@test.br").await;
    let reuse = json!({"refreshToken": first["refreshToken"]});
    let (_, second) = h
        .call(Method::POST, "/v1/auth/refresh", Some(reuse.clone()))
        .await;
    let (status, _) = h.call(Method::POST, "/v1/auth/refresh", Some(reuse)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let next = json!({"refreshToken": second["refreshToken"]});
    let (status, _) = h.call(Method::POST, "/v1/auth/refresh", Some(next)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the reuse revoked the newer refresh token"
    );
    for access in [&first["accessToken"], &second["accessToken"]] {
        assert_eq!(
            h.callback(&str_of(access), "read", &cam).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Tokens issued in the second of a revocation are refused too (iat has second precision).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let third = str_of(&h.login("ana@test.br").await["accessToken"]);
    assert_eq!(h.callback(&third, "read", &cam).await, StatusCode::OK);
    let ana = verify_with_jwks(&h, &third).await.sub;
    let root = str_of(&h.login("root@test.br").await["accessToken"]);
    let path = format!("/v1/users/{ana}/revoke");
    let (status, v, _) = h.send(Method::POST, &path, Some(&root), None).await;
    assert_eq!(
        (status, v["revokedRefreshTokens"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    assert_eq!(
        h.callback(&third, "read", &cam).await,
        StatusCode::UNAUTHORIZED
    );
    h.finish().await;
}

#[tokio::test]
async fn rotation_publishes_the_next_kid_ahead_and_keeps_the_old_one_until_its_tokens_expire() {
    let h = Harness::start().await;
    let s = &h.app.state;
    let before = str_of(&h.login("ana@test.br").await["accessToken"]);
    let old_kid = kid_of(&before);
    let t0 = Utc::now();
    assert!(!s.rotate_keys(t0).await.unwrap(), "not due yet");
    // Default rotation 1 d, published 2 h ahead: the next key is made at 22 h.
    let t1 = t0 + TimeDelta::hours(22);
    assert!(s.rotate_keys(t1).await.unwrap());
    assert_eq!(
        jwks_kids(&h).await.len(),
        2,
        "the next key is published at once"
    );
    let ahead = str_of(&h.login("ana@test.br").await["accessToken"]);
    assert_eq!(kid_of(&ahead), old_kid, "but does not sign yet");
    let t2 = t1 + TimeDelta::hours(2);
    assert!(!s.rotate_keys(t2).await.unwrap());
    let after = str_of(&h.login("ana@test.br").await["accessToken"]);
    let new_kid = kid_of(&after);
    assert_ne!(new_kid, old_kid, "the next key signs from its activation");
    assert!(
        jwks_kids(&h).await.contains(&old_kid),
        "the old key stays for its tokens"
    );
    verify_with_jwks(&h, &before).await;
    let cam = h.city_a.1.clone();
    assert_eq!(h.callback(&before, "read", &cam).await, StatusCode::OK);
    let t3 = t2 + TimeDelta::seconds(301);
    assert!(!s.rotate_keys(t3).await.unwrap());
    assert_eq!(
        jwks_kids(&h).await,
        [new_kid],
        "gone one access lifetime after retirement"
    );
    let sealed: String =
        sqlx::query_scalar("SELECT private_sealed::text FROM signing_keys LIMIT 1")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert!(
        !sealed.contains("BEGIN") && sealed.contains("keyId"),
        "sealed at rest: {sealed}"
    );
    h.finish().await;
}
