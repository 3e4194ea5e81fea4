//! Sealed secrets: camera passwords cross the bus encrypted, never in clear.
//!
//! A [`SealedSecret`] is AES-256-GCM (NIST SP 800-38D) ciphertext with its 16-byte tag, a random
//! 96-bit nonce drawn for every encryption, and the id of the key that sealed it. A [`Keyring`]
//! holds the keys of a process, from the environment ([`Keyring::from_env`]): the first key seals,
//! every key opens, so keys rotate without a flag day (add the new key first, then remove the old
//! one once everything sealed with it was re-sent).
//!
//! Every secret is bound to its context by the GCM associated data, so a sealed value copied
//! elsewhere does not open: a camera password is bound to the camera id, the RTSP URL and the
//! username ([`camera_password_context`]). Without that, anyone allowed to publish could move a
//! camera's sealed password onto a camera whose URL points at their own server, and Vigia would
//! hand them the password at the next connection.
//!
//! Nothing here logs or prints a key or a clear secret: [`Keyring`], [`Login`] and [`PullUrl`]
//! redact themselves in `Debug` and `Display`.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Environment variable with every key: `id1:base64,id2:base64`; the first seals, all open.
pub const KEYS_ENV: &str = "VIGIA_EVENTS_KEYS";
/// Environment variable with a single key, base64 of 32 bytes (with [`KEY_ID_ENV`]).
pub const KEY_ENV: &str = "VIGIA_EVENTS_KEY";
/// Environment variable with the id of the key in [`KEY_ENV`].
pub const KEY_ID_ENV: &str = "VIGIA_EVENTS_KEY_ID";

/// The only algorithm: AES-256-GCM with a 96-bit nonce and a 128-bit tag (JOSE name `A256GCM`).
pub const ALG: &str = "A256GCM";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// A secret encrypted with AES-256-GCM under a named key: the wire form of a camera password.
///
/// On the wire: `{"alg": "A256GCM", "keyId": "k2026", "nonce": <base64, 12 bytes>,
/// "ciphertext": <base64, ciphertext then 16-byte tag>}` (standard base64 with padding,
/// canonical). A value that exists has a valid shape; whether it opens is for
/// [`Keyring::decrypt_secret`] to say.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SealedWire", into = "SealedWire")]
pub struct SealedSecret {
    key_id: String,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl SealedSecret {
    /// The id of the key that sealed it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedSecret({ALG}, key {:?}, {} bytes)",
            self.key_id,
            self.ciphertext.len().saturating_sub(TAG_LEN)
        )
    }
}

/// The keys this process seals and opens secrets with. The first seals; all open. Never empty.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Aes256Gcm)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.key_ids().collect();
        write!(
            f,
            "Keyring(key ids {ids:?}; sealing with {:?})",
            self.sealing_key_id()
        )
    }
}

impl Keyring {
    /// A keyring of `(key id, 32-byte key)` pairs, the first one sealing. Fails on no keys, a
    /// key id outside `[A-Za-z0-9._-]{1,64}` or a repeated id.
    pub fn new(keys: impl IntoIterator<Item = (String, [u8; KEY_LEN])>) -> Result<Keyring, Error> {
        let mut out: Vec<(String, Aes256Gcm)> = Vec::new();
        for (id, key) in keys {
            check_key_id(&id).map_err(Error::Keys)?;
            if out.iter().any(|(have, _)| *have == id) {
                return Err(Error::Keys(format!("key id {id:?} appears twice")));
            }
            out.push((id, Aes256Gcm::new(&key.into())));
        }
        if out.is_empty() {
            return Err(Error::Keys("no keys".into()));
        }
        Ok(Keyring { keys: out })
    }

    /// The keys of the environment: [`KEYS_ENV`] (`id1:base64,id2:base64`, the first sealing),
    /// or [`KEY_ENV`] with [`KEY_ID_ENV`] for a single key; `Ok(None)` when none is set. Errors
    /// name the variable and the entry, never the key material.
    pub fn from_env() -> Result<Option<Keyring>, Error> {
        Keyring::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Keyring::from_env`] over any source of variables (for tests and config layers).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Keyring>, Error> {
        let set = |name| var(name).filter(|v| !v.trim().is_empty());
        match (set(KEYS_ENV), set(KEY_ENV), set(KEY_ID_ENV)) {
            (None, None, None) => Ok(None),
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(Error::Keys(format!(
                "set either {KEYS_ENV} or {KEY_ENV} with {KEY_ID_ENV}, not both"
            ))),
            (Some(list), None, None) => Keyring::parse(&list).map(Some),
            (None, Some(key), Some(id)) => {
                let key = decode_key(key.trim()).map_err(|why| {
                    Error::Keys(format!("{KEY_ENV} (key id {:?}): {why}", id.trim()))
                })?;
                Keyring::new([(id.trim().to_owned(), key)]).map(Some)
            }
            (None, Some(_), None) => Err(Error::Keys(format!(
                "{KEY_ENV} is set but {KEY_ID_ENV} is not: every key needs an id, carried in \
                 the events it seals"
            ))),
            (None, None, Some(_)) => Err(Error::Keys(format!(
                "{KEY_ID_ENV} is set but {KEY_ENV} is not"
            ))),
        }
    }

    /// Parses the [`KEYS_ENV`] form: `id1:base64,id2:base64` (spaces around entries allowed).
    pub fn parse(list: &str) -> Result<Keyring, Error> {
        let mut keys = Vec::new();
        for (n, entry) in list.split(',').map(str::trim).enumerate() {
            let n = n + 1;
            let Some((id, key)) = entry.split_once(':') else {
                return Err(Error::Keys(format!(
                    "{KEYS_ENV} entry {n}: expected <key id>:<base64 of 32 bytes>"
                )));
            };
            let key = decode_key(key.trim()).map_err(|why| {
                Error::Keys(format!(
                    "{KEYS_ENV} entry {n} (key id {:?}): {why}",
                    id.trim()
                ))
            })?;
            keys.push((id.trim().to_owned(), key));
        }
        Keyring::new(keys).map_err(|e| match e {
            Error::Keys(why) => Error::Keys(format!("{KEYS_ENV}: {why}")),
            other => other,
        })
    }

    /// The id of the key that seals.
    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// The ids of every key, the sealing one first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }

    /// Seals `plaintext` with the sealing key and a fresh random nonce, bound to `context` (the
    /// associated data: the same bytes must be given to open it).
    pub fn encrypt_secret(&self, plaintext: &str, context: &[u8]) -> SealedSecret {
        self.seal_with_nonce(rand::random(), plaintext, context)
    }

    /// Opens `sealed` with the key it names, checking it was sealed for `context`. `what` names
    /// the secret in the error (`camera cam-12 password`).
    pub fn decrypt_secret(
        &self,
        what: &str,
        sealed: &SealedSecret,
        context: &[u8],
    ) -> Result<String, Error> {
        let err = |reason: String| Error::Secret {
            what: what.to_owned(),
            key_id: sealed.key_id.clone(),
            reason,
        };
        let Some((_, cipher)) = self.keys.iter().find(|(id, _)| *id == sealed.key_id) else {
            let have: Vec<&str> = self.key_ids().collect();
            return Err(err(format!(
                "no such key among the configured ones ({}); keep a key configured until \
                 everything sealed with it was re-sent",
                have.join(", ")
            )));
        };
        let payload = Payload {
            msg: &sealed.ciphertext,
            aad: context,
        };
        let clear = cipher
            .decrypt(Nonce::from_slice(&sealed.nonce), payload)
            .map_err(|_| {
                err(
                    "authentication failed: the key configured under this id is not the one \
                     that sealed it, or the value was altered or copied from another camera, \
                     URL or username"
                        .into(),
                )
            })?;
        String::from_utf8(clear).map_err(|_| err("the opened secret is not UTF-8".into()))
    }

    /// `sealed` again under the sealing key if another key sealed it (for state kept across a
    /// key rotation); `None` if it already uses the sealing key.
    pub fn reseal(
        &self,
        what: &str,
        sealed: &SealedSecret,
        context: &[u8],
    ) -> Result<Option<SealedSecret>, Error> {
        if sealed.key_id == self.sealing_key_id() {
            return Ok(None);
        }
        let clear = self.decrypt_secret(what, sealed, context)?;
        Ok(Some(self.encrypt_secret(&clear, context)))
    }

    /// [`Keyring::encrypt_secret`] with a given nonce: only for fixed examples and tests (a nonce
    /// must never be used twice with one key).
    pub(crate) fn seal_with_nonce(
        &self,
        nonce: [u8; NONCE_LEN],
        plaintext: &str,
        context: &[u8],
    ) -> SealedSecret {
        let (key_id, cipher) = &self.keys[0];
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: context,
        };
        // AES-GCM encryption fails only for inputs over 64 GiB.
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        SealedSecret {
            key_id: key_id.clone(),
            nonce,
            ciphertext,
        }
    }
}

/// The associated data a camera password is sealed with: the camera id, its RTSP URL (without
/// credentials) and the username, so the sealed value opens only for that camera, URL and user.
///
/// Byte layout, for producers in other languages: for each of the four strings
/// `"vigia camera password v1"`, `cameraId`, `rtspUrl`, `username`, its UTF-8 length as a 4-byte
/// big-endian integer followed by its UTF-8 bytes.
pub fn camera_password_context(camera_id: &str, rtsp_url: &str, username: &str) -> Vec<u8> {
    let parts = ["vigia camera password v1", camera_id, rtsp_url, username];
    let mut out = Vec::new();
    for p in parts {
        let len = u32::try_from(p.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(p.as_bytes());
    }
    out
}

/// A camera's username and clear password, opened for pulling. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// User name.
    pub username: String,
    /// Password in clear: give it to the RTSP client, never to a log.
    pub password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Login({:?}, password hidden)", self.username)
    }
}

/// The URL to pull a camera from, with its credentials in it (`rtsp://user:pass@host/...`,
/// percent-encoded). `Display` and `Debug` hide the password; [`PullUrl::expose`] gives it.
#[derive(Clone, PartialEq, Eq)]
pub struct PullUrl(String);

impl PullUrl {
    pub(crate) fn new(url: String) -> PullUrl {
        PullUrl(url)
    }

    /// The URL with the password, for the RTSP client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PullUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_userinfo(&self.0))
    }
}

impl fmt::Debug for PullUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PullUrl({:?})", redact_userinfo(&self.0))
    }
}

/// Where the user info of `url` is: `Some((start, end))` byte offsets of `user[:pass]` (without
/// the `@`) when the authority (after `scheme://`, up to the first `/`, `?` or `#`) contains an
/// `@`. The same rule as the schemas' `rtspUrl` pattern.
pub(crate) fn userinfo_span(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let at = authority.rfind('@')?;
    Some((start, start + at))
}

fn redact_userinfo(url: &str) -> String {
    let Some((start, end)) = userinfo_span(url) else {
        return url.to_owned();
    };
    let user = url[start..end].split(':').next().unwrap_or("");
    format!("{}{user}:***{}", &url[..start], &url[end..])
}

fn check_key_id(id: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        return Ok(());
    }
    Err(format!("key id {id:?} is not 1 to 64 of A-Z a-z 0-9 . _ -"))
}

/// A 32-byte key from standard or URL-safe base64, padded or not.
fn decode_key(text: &str) -> Result<[u8; KEY_LEN], String> {
    use base64::alphabet;
    use base64::engine::DecodePaddingMode;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    let lenient =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let engines = [
        GeneralPurpose::new(&alphabet::STANDARD, lenient),
        GeneralPurpose::new(&alphabet::URL_SAFE, lenient),
    ];
    let bytes = engines
        .iter()
        .find_map(|e| e.decode(text).ok())
        .ok_or("key is not base64")?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "key is {} bytes after base64 decoding, expected {KEY_LEN} (AES-256)",
            bytes.len()
        )
    })
}

/// The wire form of [`SealedSecret`], checked on the way in.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SealedWire {
    alg: String,
    key_id: String,
    nonce: String,
    ciphertext: String,
}

impl TryFrom<SealedWire> for SealedSecret {
    type Error = String;

    fn try_from(w: SealedWire) -> Result<SealedSecret, String> {
        if w.alg != ALG {
            return Err(format!("alg {:?} is not {ALG:?}", w.alg));
        }
        check_key_id(&w.key_id)?;
        let nonce = STANDARD
            .decode(&w.nonce)
            .ok()
            .and_then(|n| <[u8; NONCE_LEN]>::try_from(n).ok())
            .ok_or("nonce is not canonical base64 of 12 bytes")?;
        let ciphertext = STANDARD
            .decode(&w.ciphertext)
            .ok()
            .filter(|c| c.len() >= TAG_LEN)
            .ok_or("ciphertext is not canonical base64 of at least 16 bytes (the GCM tag)")?;
        Ok(SealedSecret {
            key_id: w.key_id,
            nonce,
            ciphertext,
        })
    }
}

impl From<SealedSecret> for SealedWire {
    fn from(s: SealedSecret) -> SealedWire {
        SealedWire {
            alg: ALG.into(),
            key_id: s.key_id,
            nonce: STANDARD.encode(s.nonce),
            ciphertext: STANDARD.encode(s.ciphertext),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> [u8; KEY_LEN] {
        [b; KEY_LEN]
    }

    fn b64(b: u8) -> String {
        STANDARD.encode(key(b))
    }

    #[test]
    fn seals_and_opens_with_fresh_nonces_bound_to_the_context() {
        let ring = Keyring::new([("k1".to_owned(), key(1))]).unwrap();
        let ctx = camera_password_context("cam-1", "rtsp://h/1", "admin");
        let a = ring.encrypt_secret("pa:ss@word é", &ctx);
        let b = ring.encrypt_secret("pa:ss@word é", &ctx);
        assert_ne!(a.nonce, b.nonce, "a nonce per encryption");
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(a.key_id(), "k1");
        assert_eq!(ring.decrypt_secret("p", &a, &ctx).unwrap(), "pa:ss@word é");
        for other in [
            camera_password_context("cam-2", "rtsp://h/1", "admin"),
            camera_password_context("cam-1", "rtsp://evil/1", "admin"),
            camera_password_context("cam-1", "rtsp://h/1", "root"),
        ] {
            let err = ring
                .decrypt_secret("p", &a, &other)
                .unwrap_err()
                .to_string();
            assert!(err.contains("authentication failed"), "{err}");
        }
        let mut tampered = a.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(ring.decrypt_secret("p", &tampered, &ctx).is_err());
    }

    #[test]
    fn context_parts_cannot_run_into_each_other() {
        assert_ne!(
            camera_password_context("ab", "c", "d"),
            camera_password_context("a", "bc", "d")
        );
    }

    #[test]
    fn rotation_first_key_seals_every_key_opens() {
        let old = Keyring::parse(&format!("k1:{}", b64(1))).unwrap();
        let sealed_old = old.encrypt_secret("s", b"ctx");
        let both = Keyring::parse(&format!("k2:{}, k1:{}", b64(2), b64(1))).unwrap();
        assert_eq!(both.sealing_key_id(), "k2");
        assert_eq!(both.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
        assert_eq!(both.decrypt_secret("s", &sealed_old, b"ctx").unwrap(), "s");
        let resealed = both.reseal("s", &sealed_old, b"ctx").unwrap().unwrap();
        assert_eq!(resealed.key_id(), "k2");
        assert!(both.reseal("s", &resealed, b"ctx").unwrap().is_none());
        let new_only = Keyring::parse(&format!("k2:{}", b64(2))).unwrap();
        assert_eq!(
            new_only.decrypt_secret("s", &resealed, b"ctx").unwrap(),
            "s"
        );
        let err = new_only
            .decrypt_secret("camera c password", &sealed_old, b"ctx")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("camera c password") && err.contains("\"k1\""),
            "{err}"
        );
        assert!(err.contains("no such key") && err.contains("(k2)"), "{err}");
        // Same id, different key material: refused, not garbage.
        let impostor = Keyring::parse(&format!("k1:{}", b64(9))).unwrap();
        let err = impostor
            .decrypt_secret("s", &sealed_old, b"ctx")
            .unwrap_err();
        assert!(err.to_string().contains("authentication failed"), "{err}");
    }

    #[test]
    fn environment_cases() {
        let k = b64(7);
        let unpadded = k.trim_end_matches('=').to_owned();
        let short = STANDARD.encode([0u8; 31]);
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, String)>,
            Result<Option<&'a [&'a str]>, &'a str>,
        );
        let cases: Vec<Case> = vec![
            ("nothing", vec![], Ok(None)),
            ("blank", vec![(KEYS_ENV, " ".into())], Ok(None)),
            (
                "list",
                vec![(KEYS_ENV, format!("a:{k},b.2:{unpadded}"))],
                Ok(Some(&["a", "b.2"])),
            ),
            (
                "single",
                vec![(KEY_ENV, k.clone()), (KEY_ID_ENV, "k".into())],
                Ok(Some(&["k"])),
            ),
            (
                "both",
                vec![(KEYS_ENV, format!("a:{k}")), (KEY_ENV, k.clone())],
                Err("not both"),
            ),
            (
                "no id",
                vec![(KEY_ENV, k.clone())],
                Err("VIGIA_EVENTS_KEY_ID is not"),
            ),
            (
                "id only",
                vec![(KEY_ID_ENV, "k".into())],
                Err("VIGIA_EVENTS_KEY is not"),
            ),
            (
                "no colon",
                vec![(KEYS_ENV, format!("a:{k},{k}"))],
                Err("entry 2: expected"),
            ),
            (
                "short",
                vec![(KEYS_ENV, format!("a:{short}"))],
                Err("31 bytes"),
            ),
            (
                "not b64",
                vec![(KEYS_ENV, "a:!!!".into())],
                Err("entry 1 (key id \"a\"): key is not base64"),
            ),
            (
                "dup",
                vec![(KEYS_ENV, format!("a:{k},a:{k}"))],
                Err("\"a\" appears twice"),
            ),
            (
                "bad id",
                vec![(KEYS_ENV, format!("a b:{k}"))],
                Err("key id \"a b\""),
            ),
            (
                "empty entry",
                vec![(KEYS_ENV, format!("a:{k},"))],
                Err("entry 2"),
            ),
        ];
        for (name, vars, want) in cases {
            let got =
                Keyring::from_vars(|n| vars.iter().find(|(v, _)| *v == n).map(|(_, x)| x.clone()));
            match (got, want) {
                (Ok(None), Ok(None)) => {}
                (Ok(Some(r)), Ok(Some(ids))) => {
                    assert_eq!(r.key_ids().collect::<Vec<_>>(), ids, "{name}")
                }
                (Err(e), Err(text)) => {
                    let e = e.to_string();
                    assert!(e.contains(text), "{name}: {e}");
                    assert!(
                        !e.contains(&k) && !e.contains(&short),
                        "{name} leaks the key: {e}"
                    );
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn wire_form_round_trips_and_is_checked() {
        let ring = Keyring::new([("k".to_owned(), key(3))]).unwrap();
        let sealed = ring.encrypt_secret("x", b"");
        let json = serde_json::to_value(&sealed).unwrap();
        assert_eq!(json["alg"], ALG);
        assert_eq!(
            serde_json::from_value::<SealedSecret>(json.clone()).unwrap(),
            sealed
        );
        let bad = |field: &str, value: &str| {
            let mut j = json.clone();
            j[field] = value.into();
            serde_json::from_value::<SealedSecret>(j)
                .unwrap_err()
                .to_string()
        };
        assert!(bad("alg", "A128GCM").contains("alg"));
        assert!(bad("keyId", "").contains("key id"));
        assert!(bad("nonce", "AAAA").contains("nonce"));
        assert!(bad("ciphertext", "AAAA").contains("ciphertext"));
        assert!(
            bad("ciphertext", "AAAAAAAAAAAAAAAAAAAAAB==").contains("ciphertext"),
            "non-canonical"
        );
    }

    #[test]
    fn nothing_secret_in_debug_or_display() {
        let ring = Keyring::new([("k".to_owned(), key(4))]).unwrap();
        assert_eq!(
            format!("{ring:?}"),
            "Keyring(key ids [\"k\"]; sealing with \"k\")"
        );
        let login = Login {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
        let url = PullUrl::new("rtsp://u:hunter2@h:554/x?a@b".into());
        assert_eq!(url.to_string(), "rtsp://u:***@h:554/x?a@b");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.expose(), "rtsp://u:hunter2@h:554/x?a@b");
    }

    #[test]
    fn userinfo_cases() {
        let cases = [
            ("rtsp://h/p", None),
            ("rtsp://u:p@h/p", Some("u:p")),
            ("rtsp://u@h", Some("u")),
            ("rtsp://a@b@h/p", Some("a@b")),
            ("rtsp://h/p@q", None),
            ("rtsp://h?x@y", None),
            ("rtsp://h#@", None),
            ("nonsense", None),
        ];
        for (url, want) in cases {
            let got = userinfo_span(url).map(|(s, e)| &url[s..e]);
            assert_eq!(got, want, "{url}");
        }
    }
}
