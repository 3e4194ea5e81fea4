//! The WebRTC server's keys (`webrtc*`) that Vigia serves, with MediaMTX's defaults. The other
//! `webrtc*` keys are accepted and warned about (`keys.rs`, `GLOBAL_UNIMPLEMENTED`).

use serde_yaml::Value;

use super::error::ConfigError;
use std::time::Duration;

use super::global::{address, ip_list, list_of, positive_duration};
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
    /// `webrtcIPsFromInterfaces` (true): when the client reached the server by a host name,
    /// announce the IP of a network interface as the host candidate.
    pub ips_from_interfaces: bool,
    /// `webrtcIPsFromInterfacesList` ([]): the interfaces to take it from (all when empty).
    pub ips_from_interfaces_list: Vec<String>,
    /// `webrtcICEServers2` ([]): STUN/TURN servers handed to clients in `Link` headers.
    pub ice_servers: Vec<IceServer>,
    /// `webrtcHandshakeTimeout` (10s): a session not connected by then is dropped.
    pub handshake_timeout: Duration,
}

/// One entry of `webrtcICEServers2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IceServer {
    /// `url`: `stun:`, `turn:` or `turns:` URL.
    pub url: String,
    /// `username`; `AUTH_SECRET` asks for time-limited TURN credentials made from `password`
    /// as the shared secret (the TURN REST API convention, as MediaMTX).
    pub username: String,
    /// `password`, or the shared secret under `AUTH_SECRET`.
    pub password: String,
    /// `clientOnly`: meant for clients only (Vigia itself uses no ICE server).
    pub client_only: bool,
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
            ips_from_interfaces: true,
            ips_from_interfaces_list: Vec::new(),
            ice_servers: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
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
    "webrtcICEServers2",
    "webrtcHandshakeTimeout",
    "webrtcIPsFromInterfaces",
    "webrtcIPsFromInterfacesList",
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
        // An empty environment value (`MTX_WEBRTCICESERVERS2=`) is the empty list.
        "webrtcICEServers2" if v.as_str() == Some("") => webrtc.ice_servers = Vec::new(),
        "webrtcICEServers2" => {
            let expected = "expected a list of ICE servers (- url: stun:host:port)";
            webrtc.ice_servers = list_of(ctx, kp, v, expected, ice_server)?;
        }
        "webrtcIPsFromInterfaces" => webrtc.ips_from_interfaces = ctx.boolean(kp, v)?,
        "webrtcIPsFromInterfacesList" => {
            webrtc.ips_from_interfaces_list = ctx.string_list(kp, v)?
        }
        "webrtcHandshakeTimeout" => webrtc.handshake_timeout = positive_duration(ctx, kp, v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn ice_server(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<IceServer, ConfigError> {
    let mut server = IceServer {
        url: String::new(),
        username: String::new(),
        password: String::new(),
        client_only: false,
    };
    for (key, val) in ctx.mapping(kp, v)? {
        let k = kp.key(&key);
        match key.as_str() {
            "url" => server.url = ctx.string(&k, val)?,
            "username" => server.username = ctx.string(&k, val)?,
            "password" => server.password = ctx.string(&k, val)?,
            "clientOnly" => server.client_only = ctx.boolean(&k, val)?,
            _ => return Err(ctx.unknown(&k)),
        }
    }
    let schemes = ["stun:", "turn:", "turns:"];
    if !schemes.iter().any(|s| server.url.starts_with(s)) {
        let problem = format!("{:?} is not a stun:, turn: or turns: URL", server.url);
        return Err(ctx.invalid(&kp.key("url"), problem));
    }
    if server.username.is_empty() != server.password.is_empty() {
        return Err(ctx.invalid(kp, "username and password go together"));
    }
    Ok(server)
}
