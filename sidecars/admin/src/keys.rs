//! Signing keys: ES256 (P-256) key pairs with a `kid` each, rotated on a schedule, published
//! as a JWKS for Vigia's `authJWTJWKS`.
//!
//! **At rest.** A private key is stored in PostgreSQL (`signing_keys.private_sealed`) sealed with
//! AES-256-GCM by [`vigia_events::Keyring`] under the keys of `ADMIN_SECRET_KEYS` (never the bus
//! key), with the `kid` as associated data; the database alone never holds a usable key.
//!
//! **Rotation.** [`rotate_if_due`] makes the next key `ADMIN_KEY_PUBLISH_AHEAD` (default 2 h)
//! before the current one reaches the rotation period (`ADMIN_KEY_ROTATION`, default a day):
//! the next key is in the JWKS at once but signs only from its `active_from`, because a verifier
//! may cache the JWKS (MediaMTX re-reads `authJWTJWKS` once an hour). The old key is retired at
//! that moment and stays in the JWKS for one access-token lifetime more, so every token it
//! signed verifies until it expires. Instances serialize rotation with a transaction-scoped
//! advisory lock, so two instances never both rotate.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use sqlx::PgPool;
use vigia_events::{Keyring, SealedSecret};

use crate::Error;

/// The advisory lock id serializing rotation across instances.
const ROTATION_LOCK: i64 = 0x7669_6769_615f_6b65;

/// The signing key and every key whose tokens may still be valid.
pub struct KeySet {
    /// The key new tokens are signed with: its `kid` and private key.
    pub current: Option<(String, EncodingKey)>,
    public: Vec<PublicKey>,
}

/// A public key of the JWKS.
struct PublicKey {
    kid: String,
    x: String,
    y: String,
    decoding: DecodingKey,
}

impl KeySet {
    /// An empty set (before the first load).
    pub fn empty() -> KeySet {
        KeySet {
            current: None,
            public: Vec::new(),
        }
    }

    /// The key that verifies tokens signed under `kid`.
    pub fn decoding(&self, kid: &str) -> Option<&DecodingKey> {
        self.public
            .iter()
            .find(|k| k.kid == kid)
            .map(|k| &k.decoding)
    }

    /// The JWKS document (RFC 7517 §5; EC keys as RFC 7518 §6.2).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .public
            .iter()
            .map(|k| {
                json!({"kty": "EC", "crv": "P-256", "x": k.x, "y": k.y, "kid": k.kid,
                    "use": "sig", "alg": "ES256"})
            })
            .collect();
        json!({ "keys": keys })
    }
}

/// Makes the first signing key (active at once) when there is none, or the next one (active
/// `ahead` from `now`, the current one retired then) when the newest key's `active_from` is
/// `rotation - ahead` old. Returns whether it made a key.
pub async fn rotate_if_due(
    pool: &PgPool,
    keyring: &Keyring,
    (rotation, ahead): (Duration, Duration),
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ROTATION_LOCK)
        .execute(&mut *tx)
        .await?;
    let newest: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT max(active_from) FROM signing_keys")
            .fetch_one(&mut *tx)
            .await?;
    let active_from = match newest {
        None => Some(now),
        Some(at) if now - at >= chrono_duration(rotation.saturating_sub(ahead)) => {
            Some(now + chrono_duration(ahead))
        }
        Some(_) => None,
    };
    if let Some(active_from) = active_from {
        insert_new(&mut tx, keyring, now, active_from).await?;
    }
    tx.commit().await?;
    Ok(active_from.is_some())
}

/// The keys of the JWKS at `now` (the next one, the current one, and those retired less than
/// `access_ttl` ago), with the current private key (the newest active at `now`) unsealed.
pub async fn load(
    pool: &PgPool,
    keyring: &Keyring,
    access_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<KeySet, Error> {
    let rows: Vec<KeyRow> = sqlx::query_as(
        "SELECT kid, private_sealed, public_x, public_y, active_from FROM signing_keys \
         WHERE retired_at IS NULL OR retired_at > $1 ORDER BY active_from DESC",
    )
    .bind(now - chrono_duration(access_ttl))
    .fetch_all(pool)
    .await?;
    let mut set = KeySet::empty();
    for (kid, sealed, x, y, active_from) in rows {
        if active_from <= now && set.current.is_none() {
            set.current = Some((kid.clone(), unseal(keyring, &kid, sealed)?));
        }
        let decoding = DecodingKey::from_ec_components(&x, &y).map_err(crypto)?;
        set.public.push(PublicKey {
            kid,
            x,
            y,
            decoding,
        });
    }
    Ok(set)
}

/// A `signing_keys` row: kid, sealed private key, x, y, start of signing.
type KeyRow = (String, Value, String, String, DateTime<Utc>);

/// A shared, swappable key set.
pub type SharedKeys = Arc<std::sync::RwLock<Arc<KeySet>>>;

async fn insert_new(
    tx: &mut sqlx::PgConnection,
    keyring: &Keyring,
    now: DateTime<Utc>,
    active_from: DateTime<Utc>,
) -> Result<(), Error> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| Error::Crypto("key generation failed".into()))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|e| Error::Crypto(e.to_string()))?;
    let (x, y) = coordinates(pair.public_key().as_ref())?;
    let kid = format!(
        "{}-{}",
        now.format("%Y%m%dT%H%M%S"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let sealed = keyring.encrypt_secret(&STANDARD.encode(pkcs8.as_ref()), &context(&kid));
    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
        .bind(active_from)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO signing_keys (kid, private_sealed, public_x, public_y, created_at, \
         active_from) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&kid)
    .bind(serde_json::to_value(sealed).unwrap_or_default())
    .bind(x)
    .bind(y)
    .bind(now)
    .bind(active_from)
    .execute(&mut *tx)
    .await?;
    tracing::info!(kid, %active_from, "signing key made");
    Ok(())
}

/// The base64url x and y of an uncompressed SEC1 point (`04 || x || y`).
fn coordinates(point: &[u8]) -> Result<(String, String), Error> {
    match point {
        [4, rest @ ..] if rest.len() == 64 => Ok((
            URL_SAFE_NO_PAD.encode(&rest[..32]),
            URL_SAFE_NO_PAD.encode(&rest[32..]),
        )),
        _ => Err(Error::Crypto("unexpected public key encoding".into())),
    }
}

fn unseal(keyring: &Keyring, kid: &str, stored: Value) -> Result<EncodingKey, Error> {
    let sealed: SealedSecret = serde_json::from_value(stored).map_err(crypto)?;
    let what = format!("signing key {kid}");
    let b64 = keyring
        .decrypt_secret(&what, &sealed, &context(kid))
        .map_err(crypto)?;
    let der = STANDARD.decode(b64).map_err(crypto)?;
    Ok(EncodingKey::from_ec_der(&der))
}

fn context(kid: &str) -> Vec<u8> {
    format!("vigia-admin/signing-key/v1/{kid}").into_bytes()
}

fn chrono_duration(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

fn crypto(e: impl std::fmt::Display) -> Error {
    Error::Crypto(e.to_string())
}
