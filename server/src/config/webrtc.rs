//! The WebRTC server's keys (`webrtc*`) that Vigia serves, with MediaMTX's defaults. The other
//! `webrtc*` keys are accepted and warned about (`keys.rs`, `GLOBAL_UNIMPLEMENTED`).

use serde_yaml::Value;

use super::error::ConfigError;
use super::global::{address, ip_list};
use super::lines::KeyPath;
use super::parse::Ctx;
use super::values::IpNet;

/// The WebRTC server's configuration.
#[derive(Debug, Clone)]
pub(crate) struct WebrtcConf {
    /// `webrtc`: run the WebRTC server (true).
    pub enabled: bool,
    /// `webrtcAddress` (:8889): the HTTP listener of WHEP.
    pub address: String,
    /// `webrtcAllowOrigins` (["*"]): CORS origins, `*` wildcards allowed.
    pub allow_origins: Vec<String>,
    /// `webrtcTrustedProxies` ([]): proxies whose X-Forwarded-For names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// `webrtcLocalUDPAddress` (:8189): the single UDP port every session's ICE, DTLS and SRTP
    /// use.
    pub local_udp_address: String,
    /// `webrtcAdditionalHosts` ([]): more IPs (or host names) to announce as candidates, for
    /// a server behind a 1:1 NAT.
    pub additional_hosts: Vec<String>,
}

impl Default for WebrtcConf {
    fn default() -> Self {
        WebrtcConf {
            enabled: true,
            address: ":8889".to_owned(),
            allow_origins: vec!["*".to_owned()],
            trusted_proxies: Vec::new(),
            local_udp_address: ":8189".to_owned(),
            additional_hosts: Vec::new(),
        }
    }
}

/// The global keys this module parses.
pub(crate) const KEYS: &[&str] = &[
    "webrtc",
    "webrtcAddress",
    "webrtcAllowOrigins",
    "webrtcTrustedProxies",
    "webrtcLocalUDPAddress",
    "webrtcAdditionalHosts",
];

/// Sets one `webrtc*` key; `Ok(false)` if `key` is not one of them.
pub(crate) fn set_key(
    ctx: &mut Ctx,
    webrtc: &mut WebrtcConf,
    key: &str,
    kp: &KeyPath,
    v: &Value,
) -> Result<bool, ConfigError> {
    match key {
        "webrtc" => webrtc.enabled = ctx.boolean(kp, v)?,
        "webrtcAddress" => webrtc.address = address(ctx, kp, v)?,
        "webrtcAllowOrigins" => webrtc.allow_origins = ctx.string_list(kp, v)?,
        "webrtcTrustedProxies" => webrtc.trusted_proxies = ip_list(ctx, kp, v)?,
        "webrtcLocalUDPAddress" => webrtc.local_udp_address = address(ctx, kp, v)?,
        "webrtcAdditionalHosts" => webrtc.additional_hosts = ctx.string_list(kp, v)?,
        _ => return Ok(false),
    }
    Ok(true)
}
