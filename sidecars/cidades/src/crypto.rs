//! Camera passwords at rest: AES-256-GCM under Cidades' own keys, never in clear in PostgreSQL.
//!
//! The sealing is [`vigia_events::Keyring`]'s (a fresh 96-bit nonce per encryption, key ids for
//! rotation: the first key seals, every key opens), with a keyring of its own read from
//! [`KEYS_VAR`] — a different key from the bus key that seals passwords in events — and the
//! associated data bound to the camera id, so a sealed value copied onto another row does not
//! open. Rotation: put the new key first, restart, and re-save cameras (a PUT re-seals).

use vigia_events::{Keyring, SealedSecret};

use crate::Error;

/// Environment variable with the at-rest keys, `id1:base64,id2:base64` (32-byte keys).
pub const KEYS_VAR: &str = "CIDADES_SECRET_KEYS";

/// Seals and opens camera passwords for storage.
#[derive(Debug, Clone)]
pub struct AtRest {
    keyring: Keyring,
}

impl AtRest {
    /// A sealer over `keyring`.
    pub fn new(keyring: Keyring) -> AtRest {
        AtRest { keyring }
    }

    /// The keys of [`KEYS_VAR`]; `Ok(None)` when it is unset or empty.
    pub fn from_env() -> Result<Option<AtRest>, Error> {
        let Some(list) = std::env::var(KEYS_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
        else {
            return Ok(None);
        };
        let keyring = Keyring::parse(&list).map_err(|e| Error::Config {
            var: KEYS_VAR,
            message: e.to_string(),
        })?;
        Ok(Some(AtRest::new(keyring)))
    }

    /// `password` sealed for camera `camera_id`, as the JSON stored in `password_sealed`.
    pub fn seal(&self, camera_id: &str, password: &str) -> serde_json::Value {
        let sealed = self.keyring.encrypt_secret(password, &context(camera_id));
        // A SealedSecret always serializes.
        serde_json::to_value(sealed).unwrap_or_default()
    }

    /// The clear password of camera `camera_id` from its stored JSON.
    pub fn open(&self, camera_id: &str, stored: &serde_json::Value) -> Result<String, Error> {
        let sealed: SealedSecret = serde_json::from_value(stored.clone())
            .map_err(|e| Error::Secret(format!("camera {camera_id} stored password: {e}")))?;
        let what = format!("camera {camera_id} stored password");
        self.keyring
            .decrypt_secret(&what, &sealed, &context(camera_id))
            .map_err(|e| Error::Secret(e.to_string()))
    }
}

fn context(camera_id: &str) -> Vec<u8> {
    format!("vigia-cidades/camera-password/v1/{camera_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_rest(list: &str) -> AtRest {
        AtRest::new(Keyring::parse(list).unwrap())
    }

    const K1: &str = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const K2: &str = "k2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    #[test]
    fn seals_without_the_clear_text_and_opens_only_for_its_camera() {
        let a = at_rest(K1);
        let stored = a.seal("cam-1", "s3cr3t");
        assert!(!stored.to_string().contains("s3cr3t"));
        assert_ne!(stored, a.seal("cam-1", "s3cr3t"), "fresh nonce each time");
        assert_eq!(a.open("cam-1", &stored).unwrap(), "s3cr3t");
        assert!(a.open("cam-2", &stored).is_err());
    }

    #[test]
    fn rotation_opens_with_an_older_key() {
        let old = at_rest(K1).seal("cam-1", "pw");
        let rotated = at_rest(&format!("{K2},{K1}"));
        assert_eq!(rotated.open("cam-1", &old).unwrap(), "pw");
        assert_eq!(rotated.seal("cam-1", "pw")["keyId"], "k2");
        assert!(at_rest(K2).open("cam-1", &old).is_err());
    }
}
