//! The keys of the external authentication methods (`authMethod: http` and `jwt`): parsing
//! each `authHTTP*` / `authJWT*` key, and the checks MediaMTX makes of them at load.

use serde_yaml::Value;

use super::auth::{HttpAuthConf, JwtAuthConf, Permission};
use super::error::ConfigError;
use super::global::{AuthMethod, permissions};
use super::lines::KeyPath;
use super::parse::Ctx;

/// The global keys parsed here.
pub(crate) const KEYS: &[&str] = &[
    "authHTTPAddress",
    "authHTTPFingerprint",
    "authHTTPExclude",
    "authJWTJWKS",
    "authJWTJWKSFingerprint",
    "authJWTClaimKey",
    "authJWTExclude",
    "authJWTIssuer",
    "authJWTAudience",
    "authJWTInHTTPQuery",
];

/// Sets `key` when it is one of [`KEYS`]; `Ok(false)` when it is not.
pub(crate) fn set_key(
    ctx: &mut Ctx,
    http: &mut HttpAuthConf,
    jwt: &mut JwtAuthConf,
    key: &str,
    kp: &KeyPath,
    v: &Value,
) -> Result<bool, ConfigError> {
    match key {
        "authHTTPAddress" => http.address = ctx.string(kp, v)?,
        "authHTTPExclude" => http.exclude = exclude(ctx, kp, v)?,
        "authJWTJWKS" => jwt.jwks = ctx.string(kp, v)?,
        "authJWTClaimKey" => jwt.claim_key = ctx.string(kp, v)?,
        "authJWTExclude" => jwt.exclude = exclude(ctx, kp, v)?,
        "authJWTIssuer" => jwt.issuer = ctx.string(kp, v)?,
        "authJWTAudience" => jwt.audience = ctx.string(kp, v)?,
        "authJWTInHTTPQuery" => {
            jwt.in_http_query = ctx.boolean(kp, v)?;
            ctx.warn(kp, "is deprecated in MediaMTX and will be removed: send the token in the Authorization header");
        }
        "authHTTPFingerprint" | "authJWTJWKSFingerprint" => fingerprint_unsupported(ctx, kp, v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// An `auth*Exclude` list; from an environment variable it comes as text, JSON as MediaMTX
/// reads it (`[{"action":"read"}]`), an empty text being the empty list.
fn exclude(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<Vec<Permission>, ConfigError> {
    let Value::String(text) = v else {
        return permissions(ctx, kp, v);
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let parsed: Value = serde_yaml::from_str(text)
        .map_err(|e| ctx.invalid(kp, format!("expected a JSON list of permissions: {e}")))?;
    permissions(ctx, kp, &parsed)
}

/// Certificate pinning by fingerprint is not implemented: an empty value is accepted, any other
/// is refused rather than ignored (ignoring it would trust whatever certificate the system
/// trusts, not the one the operator pinned).
fn fingerprint_unsupported(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<(), ConfigError> {
    if ctx.string(kp, v)?.is_empty() {
        return Ok(());
    }
    Err(ctx.invalid(
        kp,
        "certificate fingerprints are not supported by Vigia yet: use a certificate the system trusts",
    ))
}

/// MediaMTX's checks of the keys the chosen method needs.
pub(crate) fn validate(
    ctx: &Ctx,
    root: &KeyPath,
    method: AuthMethod,
    http: &HttpAuthConf,
    jwt: &JwtAuthConf,
) -> Result<(), ConfigError> {
    match method {
        AuthMethod::Internal => Ok(()),
        AuthMethod::Http => http_url(ctx, &root.key("authHTTPAddress"), &http.address),
        AuthMethod::Jwt => {
            http_url(ctx, &root.key("authJWTJWKS"), &jwt.jwks)?;
            if jwt.claim_key.is_empty() {
                return Err(ctx.invalid(&root.key("authJWTClaimKey"), "must not be empty"));
            }
            Ok(())
        }
    }
}

fn http_url(ctx: &Ctx, kp: &KeyPath, url: &str) -> Result<(), ConfigError> {
    if url.is_empty() {
        return Err(ctx.invalid(kp, "must be set for this authMethod"));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ctx.invalid(kp, "must be an http:// or https:// URL"));
    }
    Ok(())
}
