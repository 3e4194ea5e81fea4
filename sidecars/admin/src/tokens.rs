//! Access tokens: ES256 JWTs whose claims carry what Vigia's `authMethod: jwt` needs.
//!
//! ```json
//! {"iss": "vigia-admin", "sub": "<user id>", "email": "ana@pref.sp.gov.br",
//!  "iat": 1764690000, "exp": 1764690300, "jti": "<uuid>",
//!  "cities": {"<city id>": "viewer"},
//!  "mediamtx_permissions": [{"action": "read", "path": "<camera id>"},
//!                           {"action": "playback", "path": "<camera id>"}]}
//! ```
//!
//! `mediamtx_permissions` is MediaMTX's default `authJWTClaimKey`: a list of `{action, path}`
//! (`internal/auth/jwt_claims.go`). A Vigia path is a camera id, and camera ids are not
//! prefixed by their city, so the claim lists every camera of the user's cities (see
//! [`permissions`]). A superadmin's permissions have no path (MediaMTX: any path) and add
//! `api` and `metrics`.

use std::collections::BTreeMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

/// The claim key Vigia reads (MediaMTX's `authJWTClaimKey` default).
pub const PERMISSIONS_CLAIM: &str = "mediamtx_permissions";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Issuer (`ADMIN_ISSUER`).
    pub iss: String,
    /// The user id.
    pub sub: Uuid,
    /// The user's e-mail (for logs and the audit log).
    pub email: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Token id, the key of the revocation denylist.
    pub jti: Uuid,
    /// The user's role per city id.
    pub cities: BTreeMap<Uuid, String>,
    /// Whether the user administers every city.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superadmin: bool,
    /// What Vigia allows the bearer to do.
    pub mediamtx_permissions: Vec<Permission>,
}

/// One MediaMTX permission: an action on a path (`None`: every path).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    /// `publish`, `read`, `playback`, `api`, `metrics` or `pprof`.
    pub action: String,
    /// A path name or `~regex`; absent for every path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// What each role may do on its cities' cameras. `playback` is downloading recordings.
pub fn role_actions(role: &str) -> &'static [&'static str] {
    match role {
        "admin" | "operator" => &["read", "playback", "publish"],
        "viewer" => &["read", "playback"],
        _ => &[],
    }
}

/// The permissions of a user holding `roles` (city id → role), given the camera paths of each
/// city; a superadmin gets every action on every path plus `api` and `metrics`.
pub fn permissions(
    roles: &BTreeMap<Uuid, String>,
    cameras: &BTreeMap<Uuid, Vec<String>>,
    superadmin: bool,
) -> Vec<Permission> {
    if superadmin {
        let all = ["read", "playback", "publish", "api", "metrics"];
        return all.iter().map(|a| permission(a, None)).collect();
    }
    let mut out = Vec::new();
    for (city, role) in roles {
        for path in cameras.get(city).into_iter().flatten() {
            for action in role_actions(role) {
                out.push(permission(action, Some(path.clone())));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether `perms` allow `action` on `path`: a permission of the same action with no path (every
/// path) or exactly this path. Admin never issues `~regex` paths, so a regex never matches here.
pub fn allows(perms: &[Permission], action: &str, path: &str) -> bool {
    perms
        .iter()
        .any(|p| p.action == action && p.path.as_deref().is_none_or(|pp| pp == path))
}

/// Signs `claims` with `key` under `kid`.
pub fn sign(claims: &Claims, kid: &str, key: &EncodingKey) -> Result<String, Error> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).map_err(|e| Error::Crypto(e.to_string()))
}

/// The `kid` of a token's header.
pub fn kid(token: &str) -> Result<String, Error> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| Error::Unauthorized("malformed token"))?;
    header.kid.ok_or(Error::Unauthorized("token without kid"))
}

/// The claims of `token` if its signature verifies with `key`, its issuer is `issuer` and it
/// has not expired at `now` (Unix seconds, no leeway).
pub fn verify(token: &str, key: &DecodingKey, issuer: &str, now: i64) -> Result<Claims, Error> {
    let mut v = Validation::new(Algorithm::ES256);
    v.set_issuer(&[issuer]);
    v.validate_exp = false;
    v.set_required_spec_claims(&["exp", "iss", "sub"]);
    let data = jsonwebtoken::decode::<Claims>(token, key, &v)
        .map_err(|_| Error::Unauthorized("invalid token"))?;
    if data.claims.exp <= now {
        return Err(Error::Unauthorized("token expired"));
    }
    Ok(data.claims)
}

fn permission(action: &str, path: Option<String>) -> Permission {
    Permission {
        action: action.to_owned(),
        path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_follow_roles_and_cities() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let roles = BTreeMap::from([(a, "viewer".to_owned())]);
        let cameras =
            BTreeMap::from([(a, vec!["cam-a".to_owned()]), (b, vec!["cam-b".to_owned()])]);
        let p = permissions(&roles, &cameras, false);
        assert!(allows(&p, "read", "cam-a") && allows(&p, "playback", "cam-a"));
        assert!(!allows(&p, "publish", "cam-a") && !allows(&p, "read", "cam-b"));
        let admin = permissions(&BTreeMap::new(), &cameras, true);
        assert!(allows(&admin, "read", "anything") && allows(&admin, "api", ""));
        assert!(!allows(&admin, "pprof", ""));
    }
}
