//! Login, refresh and logout.
//!
//! A login answers a short-lived access token (a JWT, see [`crate::tokens`]) and an opaque
//! refresh token: 32 random bytes, base64url, stored only as their SHA-256. A refresh consumes
//! its token (one use: it is revoked in the same statement that finds it) and answers a new
//! pair; the old refresh token is refused from then on. A logout revokes the refresh token and
//! puts the access token's `jti` on the denylist until it expires, which the `authMethod: http`
//! callback checks. A refresh token presented again after its use (a sign it was stolen: RFC
//! 9700 §4.14.2) revokes every token of its user.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::state::State;
use crate::tokens::{self, Claims};
use crate::{Error, cameras, users};

/// A login or refresh answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    /// The JWT for Vigia and this API.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The one-use refresh token.
    pub refresh_token: String,
}

/// Checks the credentials and answers a token pair.
pub async fn login(
    s: &State,
    email: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<Tokens, Error> {
    let email = email.trim().to_lowercase();
    s.charge(&format!("login:{email}"))?;
    let id = users::authenticate(&s.pool, &email, password).await?;
    issue(s, id, now).await
}

/// Consumes `refresh_token` and answers a new pair.
pub async fn refresh(s: &State, refresh_token: &str, now: DateTime<Utc>) -> Result<Tokens, Error> {
    let hash = digest(refresh_token);
    let owner: Option<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM refresh_tokens WHERE hash = $1")
            .bind(&hash)
            .fetch_optional(&s.pool)
            .await?;
    s.charge(&owner.unwrap_or_default().to_string())?;
    let user: Option<Uuid> = sqlx::query_scalar(
        "UPDATE refresh_tokens SET revoked_at = $2 \
         WHERE hash = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING user_id",
    )
    .bind(&hash)
    .bind(now)
    .fetch_optional(&s.pool)
    .await?;
    let Some(user) = user else {
        if let Some(owner) = owner {
            tracing::warn!(user = %owner, "a used or revoked refresh token was presented; revoking the user's tokens");
            revoke_user(s, owner).await?;
        }
        return Err(Error::Unauthorized(
            "refresh token invalid, used or revoked",
        ));
    };
    issue(s, user, now).await
}

/// Revokes the caller's access token (by `jti`, until it expires) and, when given, its
/// refresh token.
pub async fn logout(s: &State, claims: &Claims, refresh_token: Option<&str>) -> Result<(), Error> {
    revoke_access(s, claims).await?;
    if let Some(token) = refresh_token {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = now() \
             WHERE hash = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(digest(token))
        .bind(claims.sub)
        .execute(&s.pool)
        .await?;
    }
    Ok(())
}

/// Puts an access token's `jti` on the denylist until it expires.
pub async fn revoke_access(s: &State, claims: &Claims) -> Result<(), Error> {
    let expires = DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
    sqlx::query(
        "INSERT INTO revoked_access (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(claims.jti)
    .bind(expires)
    .execute(&s.pool)
    .await?;
    Ok(())
}

/// Revokes every token of a user: its refresh tokens, and its access tokens issued until now
/// (refused by the callback from now on). Returns the number of refresh tokens revoked.
pub async fn revoke_user(s: &State, user: Uuid) -> Result<u64, Error> {
    let mut tx = s.pool.begin().await?;
    sqlx::query("UPDATE users SET tokens_valid_after = now() WHERE id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// The claims of a fresh access token for `user` issued at `now`: its cities' roles and the
/// permissions they give on those cities' cameras.
pub async fn claims(s: &State, user: Uuid, now: DateTime<Utc>) -> Result<Claims, Error> {
    let (email, superadmin) = users::identity(&s.pool, user).await?;
    let roles = users::roles(&s.pool, user).await?;
    let cities: Vec<Uuid> = roles.keys().copied().collect();
    let cameras = cameras::by_city(&s.pool, &cities).await?;
    let ttl = s.config.access_ttl.as_secs() as i64;
    Ok(Claims {
        iss: s.config.issuer.clone(),
        sub: user,
        email,
        iat: now.timestamp(),
        exp: now.timestamp() + ttl,
        jti: Uuid::new_v4(),
        mediamtx_permissions: tokens::permissions(&roles, &cameras, superadmin),
        cities: roles,
        superadmin,
    })
}

/// Signs an access token for `user` at `now` with the current key.
pub async fn access_token(s: &State, user: Uuid, now: DateTime<Utc>) -> Result<String, Error> {
    let claims = claims(s, user, now).await?;
    let keys = s.keys();
    let (kid, key) = keys
        .current
        .as_ref()
        .ok_or(Error::Crypto("no signing key".into()))?;
    tokens::sign(&claims, kid, key)
}

async fn issue(s: &State, user: Uuid, now: DateTime<Utc>) -> Result<Tokens, Error> {
    let access_token = access_token(s, user, now).await?;
    let refresh_token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let ttl = chrono::TimeDelta::from_std(s.config.refresh_ttl).unwrap_or(chrono::TimeDelta::MAX);
    sqlx::query("INSERT INTO refresh_tokens (hash, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(digest(&refresh_token))
        .bind(user)
        .bind(now + ttl)
        .execute(&s.pool)
        .await?;
    Ok(Tokens {
        access_token,
        token_type: "Bearer",
        expires_in: s.config.access_ttl.as_secs(),
        refresh_token,
    })
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
