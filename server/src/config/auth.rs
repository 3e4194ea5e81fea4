//! Internal authentication (`authMethod: internal`): users, credentials, permissions,
//! and the check MediaMTX performs for each request.

use std::net::IpAddr;

use regex::Regex;

use super::values::IpNet;

/// What a client wants to do; MediaMTX's `action` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AuthAction {
    /// Publish a stream to a path.
    Publish,
    /// Read a stream from a path.
    Read,
    /// Download recordings through the playback server.
    Playback,
    /// Use the control API.
    Api,
    /// Read metrics.
    Metrics,
    /// Read profiling data.
    Pprof,
}

impl AuthAction {
    /// Parses MediaMTX's spelling (`publish`, `read`, …).
    pub(crate) fn parse(text: &str) -> Option<AuthAction> {
        Some(match text {
            "publish" => AuthAction::Publish,
            "read" => AuthAction::Read,
            "playback" => AuthAction::Playback,
            "api" => AuthAction::Api,
            "metrics" => AuthAction::Metrics,
            "pprof" => AuthAction::Pprof,
            _ => return None,
        })
    }

    /// Whether permissions for this action are restricted by path.
    pub(crate) fn is_per_path(self) -> bool {
        matches!(
            self,
            AuthAction::Publish | AuthAction::Read | AuthAction::Playback
        )
    }
}

/// The paths a permission covers.
#[derive(Debug, Clone)]
pub(crate) enum PathPattern {
    /// Empty `path`: every path.
    Any,
    /// A path name that must match exactly.
    Exact(String),
    /// `~regex`: paths the regular expression matches (unanchored, like Go's).
    Regex(Regex),
}

impl PathPattern {
    /// Whether `path` is covered.
    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Any => true,
            PathPattern::Exact(p) => p == path,
            PathPattern::Regex(r) => r.is_match(path),
        }
    }
}

/// One entry of a user's `permissions`.
#[derive(Debug, Clone)]
pub(crate) struct Permission {
    /// The allowed action.
    pub action: AuthAction,
    /// The paths it applies to (ignored for api, metrics and pprof).
    pub path: PathPattern,
}

/// A username or password as written in the config: plain, `sha256:<base64 digest>`
/// or `argon2:<encoded hash>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// Compared as is.
    Plain(String),
    /// Base64 (standard alphabet, padded) of the SHA-256 of the secret, as MediaMTX.
    Sha256(String),
    /// Argon2 hash: accepted in the file, but not verifiable yet, so it never matches.
    Argon2(String),
}

impl Credential {
    /// Parses the config form. Fails on a `sha256:` value that is not base64.
    pub(crate) fn parse(text: &str) -> Result<Credential, String> {
        if let Some(digest) = text.strip_prefix("sha256:") {
            let valid = !digest.is_empty()
                && digest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
            if !valid {
                return Err("a sha256 credential must be base64-encoded".to_owned());
            }
            return Ok(Credential::Sha256(digest.to_owned()));
        }
        if let Some(hash) = text.strip_prefix("argon2:") {
            return Ok(Credential::Argon2(hash.to_owned()));
        }
        Ok(Credential::Plain(text.to_owned()))
    }

    /// Whether `guess` is this credential.
    pub(crate) fn check(&self, guess: &str) -> bool {
        match self {
            Credential::Plain(p) => constant_time_eq(p.as_bytes(), guess.as_bytes()),
            Credential::Sha256(d) => {
                constant_time_eq(d.as_bytes(), base64(&sha256(guess.as_bytes())).as_bytes())
            }
            Credential::Argon2(_) => false,
        }
    }

    /// Whether the credential is empty (no password required).
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Credential::Plain(p) if p.is_empty())
    }
}

/// One entry of `authInternalUsers`.
#[derive(Debug, Clone)]
pub(crate) struct AuthUser {
    /// The username; `any` (see [`AuthUser::is_any`]) matches everyone, even anonymous clients.
    pub user: Credential,
    /// The password; ignored for `any`.
    pub pass: Credential,
    /// Networks the user may connect from; empty means any address.
    pub ips: Vec<IpNet>,
    /// What the user may do.
    pub permissions: Vec<Permission>,
}

impl AuthUser {
    /// Whether this is the `any` user, which needs no credentials.
    pub(crate) fn is_any(&self) -> bool {
        self.user == Credential::Plain("any".to_owned())
    }

    /// Whether this user entry allows `req` (MediaMTX's internal check).
    pub(crate) fn allows(&self, req: &AuthRequest<'_>) -> bool {
        if !self.is_any() {
            let user = req.user.unwrap_or("");
            let pass = req.pass.unwrap_or("");
            if !self.user.check(user) || !(self.pass.is_empty() || self.pass.check(pass)) {
                return false;
            }
        }
        if !self.ips.is_empty() && !self.ips.iter().any(|n| n.contains(req.ip)) {
            return false;
        }
        self.permissions.iter().any(|p| {
            p.action == req.action
                && (!p.action.is_per_path() || p.path.matches(req.path.unwrap_or("")))
        })
    }
}

/// A request to authorize: who, from where, doing what, on which path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthRequest<'a> {
    /// Username given by the client, if any.
    pub user: Option<&'a str>,
    /// Password given by the client, if any.
    pub pass: Option<&'a str>,
    /// The client's address.
    pub ip: IpAddr,
    /// The action requested.
    pub action: AuthAction,
    /// The path, for publish/read/playback.
    pub path: Option<&'a str>,
}

/// The result of an authorization check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthDecision {
    /// Go ahead.
    Allow,
    /// Refuse; when `ask_credentials` is true the client sent none, so the server
    /// should challenge (RTSP/HTTP 401) rather than simply refuse.
    Deny {
        /// The client sent no credentials.
        ask_credentials: bool,
    },
}

/// Checks `req` against `users` in order; the first user that allows it wins.
pub(crate) fn authorize(users: &[AuthUser], req: &AuthRequest<'_>) -> AuthDecision {
    if users.iter().any(|u| u.allows(req)) {
        return AuthDecision::Allow;
    }
    AuthDecision::Deny {
        ask_credentials: req.user.is_none_or(str::is_empty),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// SHA-256 (FIPS 180-4), used only to check `sha256:` credentials.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks_exact(64) {
        sha256_block(&mut h, block);
    }
    let mut out = [0u8; 32];
    for (o, v) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&v.to_be_bytes());
    }
    out
}

fn sha256_block(h: &mut [u32; 8], block: &[u8]) {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut w = [0u32; 64];
    for (i, word) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16]
            .wrapping_add(s0)
            .wrapping_add(w[i - 7])
            .wrapping_add(s1);
    }
    let mut v = *h;
    for i in 0..64 {
        let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
        let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
        let t1 = v[7]
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[i])
            .wrapping_add(w[i]);
        let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
        let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        let t2 = s0.wrapping_add(maj);
        v = [
            t1.wrapping_add(t2),
            v[0],
            v[1],
            v[2],
            v[3].wrapping_add(t1),
            v[4],
            v[5],
            v[6],
        ];
    }
    for (hi, vi) in h.iter_mut().zip(v) {
        *hi = hi.wrapping_add(vi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_and_base64_known_answers() {
        // FIPS 180-4 example "abc"; base64 as `echo -n abc | openssl dgst -binary -sha256 | base64`.
        assert_eq!(
            base64(&sha256(b"abc")),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        assert_eq!(
            base64(&sha256(b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
        // Two-block message (56 bytes).
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            base64(&sha256(long)),
            "JI1qYdIGOLjlwCaTDD5gOaM85Flk/yFn9uzt1BnbBsE="
        );
    }

    #[test]
    fn credentials() {
        let c = Credential::parse("sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=").unwrap();
        assert!(c.check("abc"));
        assert!(!c.check("abd"));
        assert!(Credential::parse("sha256:not base64!").is_err());
        assert!(Credential::parse("plain").unwrap().check("plain"));
        assert!(
            !Credential::parse("argon2:$argon2id$v=19$m=4096,t=3,p=1$x$y")
                .unwrap()
                .check("x")
        );
    }
}
