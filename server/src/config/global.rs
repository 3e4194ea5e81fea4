//! Global settings: typed fields, MediaMTX's defaults, and parsing of each key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml::Value;

use super::auth::{
    AuthAction, AuthUser, Credential, HttpAuthConf, JwtAuthConf, PathPattern, Permission,
};
use super::error::ConfigError;
use super::hls::HlsConf;
use super::hooks::ConnHookConf;
use super::lines::KeyPath;
use super::parse::{Ctx, keyword, show};
use super::path::{PathConf, PathEntry};
use super::values::{self, IpNet};
use super::webrtc::WebrtcConf;

/// `logLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// The default.
    Info,
    /// Everything.
    Debug,
}

/// One of `logDestinations`. MediaMTX's third one, `syslog`, is refused at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogDestination {
    /// Standard output.
    Stdout,
    /// The file named by `logFile`, appended to (created if missing).
    File,
}

/// One of `rtspTransports`: what RTSP clients may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RtspTransport {
    /// RTP/RTCP over UDP unicast.
    Udp,
    /// RTP/RTCP over UDP multicast.
    Multicast,
    /// RTP interleaved in the TCP connection.
    Tcp,
}

/// `rtspEncryption` (and MediaMTX's other `*Encryption` keys that take no/strict/optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encryption {
    /// Plain RTSP only.
    No,
    /// RTSPS only.
    Strict,
    /// Both.
    Optional,
}

/// One of `rtspAuthMethods`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RtspAuthMethod {
    /// HTTP Basic.
    Basic,
    /// HTTP Digest (MD5).
    Digest,
}

/// `authMethod`: who decides whether a request may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// Users listed in `authInternalUsers`.
    Internal,
    /// An external HTTP server, asked for each request (`authHTTP*`).
    Http,
    /// JSON Web Tokens signed by keys of a JWKS URL (`authJWT*`).
    Jwt,
}

/// The whole configuration, with MediaMTX's defaults for every key not set.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `logLevel` (info).
    pub log_level: LogLevel,
    /// `logDestinations` ([stdout]).
    pub log_destinations: Vec<LogDestination>,
    /// `logStructured` (false): one JSON object per line (JSONL) instead of text.
    pub log_structured: bool,
    /// `logFile` (mediamtx.log): the file the `file` destination appends to, relative to
    /// the working directory; not empty when `file` is a destination.
    pub log_file: String,
    /// `readTimeout` (10s).
    pub read_timeout: Duration,
    /// `writeTimeout` (10s).
    pub write_timeout: Duration,
    /// `writeQueueSize`: packets queued per reader (512; a power of two).
    pub write_queue_size: usize,
    /// `udpMaxPayloadSize`: largest UDP payload sent (1452; at most 1472).
    pub udp_max_payload_size: usize,
    /// `rtsp`: run the RTSP server (true).
    pub rtsp: bool,
    /// `rtspTransports` ([udp, multicast, tcp]).
    pub rtsp_transports: Vec<RtspTransport>,
    /// `rtspEncryption` (no).
    pub rtsp_encryption: Encryption,
    /// `rtspAddress` (:8554).
    pub rtsp_address: String,
    /// `rtspsAddress` (:8322).
    pub rtsps_address: String,
    /// `rtspServerKey` (server.key): the RTSPS listener's private key (see `tls.rs`).
    pub rtsp_server_key: String,
    /// `rtspServerCert` (server.crt): the RTSPS listener's certificate chain.
    pub rtsp_server_cert: String,
    /// `rtpAddress` (:8000).
    pub rtp_address: String,
    /// `rtcpAddress` (:8001).
    pub rtcp_address: String,
    /// `multicastIPRange` (224.1.0.0/16).
    pub multicast_ip_range: IpNet,
    /// `multicastRTPPort` (8002).
    pub multicast_rtp_port: u16,
    /// `multicastRTCPPort` (8003).
    pub multicast_rtcp_port: u16,
    /// `rtspAuthMethods` ([basic]).
    pub rtsp_auth_methods: Vec<RtspAuthMethod>,
    /// `authMethod` (internal).
    pub auth_method: AuthMethod,
    /// `authInternalUsers` (MediaMTX's two `any` users).
    pub auth_internal_users: Vec<AuthUser>,
    /// `authHTTP*`: the external HTTP authenticator.
    pub auth_http: HttpAuthConf,
    /// `authJWT*`: the JWT authenticator.
    pub auth_jwt: JwtAuthConf,
    /// The HLS server's keys (`hls*`).
    pub hls: HlsConf,
    /// The WebRTC server's keys (`webrtc*`).
    pub webrtc: WebrtcConf,
    /// `runOnConnect`, `runOnConnectRestart`, `runOnDisconnect`: hooks of client connections.
    pub conn_hooks: ConnHookConf,
    /// `playback`: run the playback server, which serves recordings (false).
    pub playback: bool,
    /// `playbackAddress` (:9996).
    pub playback_address: String,
    /// `playbackEncryption` (false): serve HTTPS with the two files below (see `tls.rs`).
    pub playback_encryption: bool,
    /// `playbackServerKey` (server.key).
    pub playback_server_key: String,
    /// `playbackServerCert` (server.crt).
    pub playback_server_cert: String,
    /// `playbackAllowOrigins` (["*"]): CORS origins, `*` wildcards allowed.
    pub playback_allow_origins: Vec<String>,
    /// `playbackTrustedProxies` ([]): proxies whose X-Forwarded-For is believed in logs.
    pub playback_trusted_proxies: Vec<IpNet>,
    /// `api`: run the control API, MediaMTX's v3 (false).
    pub api: bool,
    /// `apiAddress` (:9997).
    pub api_address: String,
    /// `apiEncryption` (false): serve HTTPS with the two files below (see `tls.rs`).
    pub api_encryption: bool,
    /// `apiServerKey` (server.key).
    pub api_server_key: String,
    /// `apiServerCert` (server.crt).
    pub api_server_cert: String,
    /// `apiAllowOrigins` (["*"]): CORS origins, `*` wildcards allowed.
    pub api_allow_origins: Vec<String>,
    /// `apiTrustedProxies` ([]): proxies whose X-Forwarded-For is believed in logs.
    pub api_trusted_proxies: Vec<IpNet>,
    /// `metrics`: run the Prometheus metrics server (false).
    pub metrics: bool,
    /// `metricsAddress` (:9998).
    pub metrics_address: String,
    /// `metricsEncryption` (false): serve HTTPS with the two files below (see `tls.rs`).
    pub metrics_encryption: bool,
    /// `metricsServerKey` (server.key).
    pub metrics_server_key: String,
    /// `metricsServerCert` (server.crt).
    pub metrics_server_cert: String,
    /// `metricsAllowOrigins` (["*"]): CORS origins, `*` wildcards allowed.
    pub metrics_allow_origins: Vec<String>,
    /// `metricsTrustedProxies` ([]): proxies whose X-Forwarded-For is believed in logs.
    pub metrics_trusted_proxies: Vec<IpNet>,
    // ---- Vigia's own keys. S3/object storage, AMQP and retention keys go here
    // ---- (and in `keys::GLOBAL_VIGIA`), each with a `VIGIA_*` environment override.
    /// `eventsURL`: the AMQP broker for events (`amqp://…`); none by default.
    pub events_url: Option<String>,
    /// `eventsHealthInterval`: how often each pulled camera's `stream.health_check` is
    /// published when `eventsURL` is set (10s; > 0). A camera going offline or coming back is
    /// reported at once besides.
    pub events_health_interval: Duration,
    /// `recordSpoolDirectory`: the local directory where the recorder writes and fsyncs
    /// parts before they are uploaded (`./vigia-spool`; not empty).
    pub record_spool_directory: String,
    /// `recordSpoolMaxSize`: bytes the spool may hold; past it the oldest data not yet
    /// uploaded is dropped (2G; > 0).
    pub record_spool_max_size: u64,
    /// `maxConnectionsPerIP`: connections one client IP may hold open on each listener (RTSP,
    /// HLS, playback, API, metrics); past it new ones are closed at accept (256; 0: no cap).
    pub max_connections_per_ip: usize,
    /// `httpRateLimit`: requests per second one client IP may make to each HTTP listener (HLS,
    /// playback, API, metrics); past it, 429 with `Retry-After` (100; 0: no limit). A player's
    /// LL-HLS traffic is about 12 requests per second (see `docs/limits.md`).
    pub http_rate_limit: u32,
    /// `httpRateBurst`: requests one client IP may make at once above `httpRateLimit` before
    /// being held to the rate (100; > 0).
    pub http_rate_burst: u32,
    /// `apiUserRateLimit`: API requests per minute one authenticated user may make, over all
    /// the IPs it comes from; past it, 429 with `Retry-After` (60; 0: no limit).
    pub api_user_rate_limit: u32,
    // ---- Paths.
    /// `pathDefaults`, merged with MediaMTX's defaults.
    pub path_defaults: PathConf,
    /// `paths`, in file order.
    pub paths: Vec<PathEntry>,
    /// MediaMTX global keys accepted but not implemented yet, as written.
    pub unimplemented: BTreeMap<String, Value>,
}

impl Default for Config {
    /// MediaMTX's defaults, with no paths.
    fn default() -> Config {
        Config {
            log_level: LogLevel::Info,
            log_destinations: vec![LogDestination::Stdout],
            log_structured: false,
            log_file: "mediamtx.log".to_owned(),
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            write_queue_size: 512,
            udp_max_payload_size: 1452,
            rtsp: true,
            rtsp_transports: vec![
                RtspTransport::Udp,
                RtspTransport::Multicast,
                RtspTransport::Tcp,
            ],
            rtsp_encryption: Encryption::No,
            rtsp_address: ":8554".to_owned(),
            rtsps_address: ":8322".to_owned(),
            rtsp_server_key: "server.key".to_owned(),
            rtsp_server_cert: "server.crt".to_owned(),
            rtp_address: ":8000".to_owned(),
            rtcp_address: ":8001".to_owned(),
            multicast_ip_range: "224.1.0.0/16".parse().unwrap_or_else(|_| unreachable!()),
            multicast_rtp_port: 8002,
            multicast_rtcp_port: 8003,
            rtsp_auth_methods: vec![RtspAuthMethod::Basic],
            auth_method: AuthMethod::Internal,
            auth_internal_users: default_users(),
            auth_http: HttpAuthConf::default(),
            auth_jwt: JwtAuthConf::default(),
            hls: HlsConf::default(),
            webrtc: WebrtcConf::default(),
            conn_hooks: ConnHookConf::default(),
            playback: false,
            playback_address: ":9996".to_owned(),
            playback_encryption: false,
            playback_server_key: "server.key".to_owned(),
            playback_server_cert: "server.crt".to_owned(),
            playback_allow_origins: vec!["*".to_owned()],
            playback_trusted_proxies: Vec::new(),
            api: false,
            api_address: ":9997".to_owned(),
            api_encryption: false,
            api_server_key: "server.key".to_owned(),
            api_server_cert: "server.crt".to_owned(),
            api_allow_origins: vec!["*".to_owned()],
            api_trusted_proxies: Vec::new(),
            metrics: false,
            metrics_address: ":9998".to_owned(),
            metrics_encryption: false,
            metrics_server_key: "server.key".to_owned(),
            metrics_server_cert: "server.crt".to_owned(),
            metrics_allow_origins: vec!["*".to_owned()],
            metrics_trusted_proxies: Vec::new(),
            events_url: None,
            events_health_interval: Duration::from_secs(10),
            record_spool_directory: "./vigia-spool".to_owned(),
            record_spool_max_size: 2 << 30,
            max_connections_per_ip: 256,
            http_rate_limit: 100,
            http_rate_burst: 100,
            api_user_rate_limit: 60,
            path_defaults: PathConf::default(),
            paths: Vec::new(),
            unimplemented: BTreeMap::new(),
        }
    }
}

/// MediaMTX's default users: `any` may publish, read and play back anything; `any`
/// from localhost may use the API, metrics and pprof.
fn default_users() -> Vec<AuthUser> {
    let any = |ips: &[&str], actions: &[AuthAction]| AuthUser {
        user: Credential::Plain("any".to_owned()),
        pass: Credential::Plain(String::new()),
        ips: ips.iter().filter_map(|s| s.parse().ok()).collect(),
        permissions: actions
            .iter()
            .map(|a| Permission {
                action: *a,
                path: PathPattern::Any,
            })
            .collect(),
    };
    vec![
        any(
            &[],
            &[AuthAction::Publish, AuthAction::Read, AuthAction::Playback],
        ),
        any(
            &["127.0.0.1", "::1"],
            &[AuthAction::Api, AuthAction::Metrics, AuthAction::Pprof],
        ),
    ]
}

/// Sets one implemented global key.
pub(crate) fn set_key(
    ctx: &Ctx,
    cfg: &mut Config,
    key: &str,
    kp: &KeyPath,
    v: &Value,
) -> Result<(), ConfigError> {
    match key {
        "logLevel" => cfg.log_level = keyword(ctx, kp, v, LOG_LEVELS)?,
        "logDestinations" => cfg.log_destinations = log_destinations(ctx, kp, v)?,
        "logStructured" => cfg.log_structured = ctx.boolean(kp, v)?,
        "logFile" => cfg.log_file = ctx.string(kp, v)?,
        // Only read by the `syslog` destination, which is refused: checked, then dropped.
        "sysLogPrefix" => {
            ctx.string(kp, v)?;
        }
        "readTimeout" => cfg.read_timeout = positive_duration(ctx, kp, v)?,
        "writeTimeout" => cfg.write_timeout = positive_duration(ctx, kp, v)?,
        "writeQueueSize" => cfg.write_queue_size = write_queue_size(ctx, kp, v)?,
        "udpMaxPayloadSize" => cfg.udp_max_payload_size = ctx.uint(kp, v, 1472)? as usize,
        "rtsp" => cfg.rtsp = ctx.boolean(kp, v)?,
        "rtspTransports" => cfg.rtsp_transports = keyword_list(ctx, kp, v, RTSP_TRANSPORTS)?,
        "rtspEncryption" => cfg.rtsp_encryption = keyword(ctx, kp, v, ENCRYPTIONS)?,
        "rtspAddress" => cfg.rtsp_address = address(ctx, kp, v)?,
        "rtspsAddress" => cfg.rtsps_address = address(ctx, kp, v)?,
        "rtspServerKey" => cfg.rtsp_server_key = ctx.string(kp, v)?,
        "rtspServerCert" => cfg.rtsp_server_cert = ctx.string(kp, v)?,
        "rtpAddress" => cfg.rtp_address = address(ctx, kp, v)?,
        "rtcpAddress" => cfg.rtcp_address = address(ctx, kp, v)?,
        "multicastIPRange" => cfg.multicast_ip_range = ip_net(ctx, kp, v)?,
        "multicastRTPPort" => cfg.multicast_rtp_port = port(ctx, kp, v)?,
        "multicastRTCPPort" => cfg.multicast_rtcp_port = port(ctx, kp, v)?,
        "rtspAuthMethods" => cfg.rtsp_auth_methods = keyword_list(ctx, kp, v, AUTH_METHODS)?,
        "authMethod" => cfg.auth_method = auth_method(ctx, kp, v)?,
        "authInternalUsers" => cfg.auth_internal_users = users(ctx, kp, v)?,
        "playback" => cfg.playback = ctx.boolean(kp, v)?,
        "playbackAddress" => cfg.playback_address = address(ctx, kp, v)?,
        "playbackEncryption" => cfg.playback_encryption = ctx.boolean(kp, v)?,
        "playbackServerKey" => cfg.playback_server_key = ctx.string(kp, v)?,
        "playbackServerCert" => cfg.playback_server_cert = ctx.string(kp, v)?,
        "playbackAllowOrigins" => cfg.playback_allow_origins = ctx.string_list(kp, v)?,
        "playbackTrustedProxies" => cfg.playback_trusted_proxies = ip_list(ctx, kp, v)?,
        "api" => cfg.api = ctx.boolean(kp, v)?,
        "apiAddress" => cfg.api_address = address(ctx, kp, v)?,
        "apiEncryption" => cfg.api_encryption = ctx.boolean(kp, v)?,
        "apiServerKey" => cfg.api_server_key = ctx.string(kp, v)?,
        "apiServerCert" => cfg.api_server_cert = ctx.string(kp, v)?,
        "apiAllowOrigins" => cfg.api_allow_origins = ctx.string_list(kp, v)?,
        "apiTrustedProxies" => cfg.api_trusted_proxies = ip_list(ctx, kp, v)?,
        "metrics" => cfg.metrics = ctx.boolean(kp, v)?,
        "metricsAddress" => cfg.metrics_address = address(ctx, kp, v)?,
        "metricsEncryption" => cfg.metrics_encryption = ctx.boolean(kp, v)?,
        "metricsServerKey" => cfg.metrics_server_key = ctx.string(kp, v)?,
        "metricsServerCert" => cfg.metrics_server_cert = ctx.string(kp, v)?,
        "metricsAllowOrigins" => cfg.metrics_allow_origins = ctx.string_list(kp, v)?,
        "metricsTrustedProxies" => cfg.metrics_trusted_proxies = ip_list(ctx, kp, v)?,
        "eventsURL" => cfg.events_url = Some(ctx.string(kp, v)?).filter(|s| !s.is_empty()),
        "eventsHealthInterval" => cfg.events_health_interval = positive_duration(ctx, kp, v)?,
        "recordSpoolDirectory" => cfg.record_spool_directory = non_empty(ctx, kp, v)?,
        "recordSpoolMaxSize" => cfg.record_spool_max_size = positive_size(ctx, kp, v)?,
        "maxConnectionsPerIP" => {
            cfg.max_connections_per_ip = ctx.uint(kp, v, u64::from(u32::MAX))? as usize
        }
        "httpRateLimit" => cfg.http_rate_limit = whole_u32(ctx, kp, v)?,
        "httpRateBurst" => cfg.http_rate_burst = positive_u32(ctx, kp, v)?,
        "apiUserRateLimit" => cfg.api_user_rate_limit = whole_u32(ctx, kp, v)?,
        _ => return Err(ctx.unknown(kp)),
    }
    Ok(())
}

/// Checks that need several keys at once (MediaMTX's `Conf.Validate`).
pub(crate) fn check(ctx: &Ctx, cfg: &Config) -> Result<(), ConfigError> {
    let root = KeyPath::default();
    if cfg.log_destinations.contains(&LogDestination::File) && cfg.log_file.is_empty() {
        return Err(ctx.invalid(
            &root.key("logFile"),
            "must be set when logDestinations contains file",
        ));
    }
    if cfg.rtsp && cfg.rtsp_encryption != Encryption::Strict && cfg.rtsp_address.is_empty() {
        return Err(ctx.invalid(&root.key("rtspAddress"), "must be set when RTSP is enabled"));
    }
    if cfg.rtsp && cfg.rtsp_encryption != Encryption::No && cfg.rtsps_address.is_empty() {
        return Err(ctx.invalid(
            &root.key("rtspsAddress"),
            "must be set when rtspEncryption is strict or optional",
        ));
    }
    if cfg.playback && cfg.playback_address.is_empty() {
        return Err(ctx.invalid(
            &root.key("playbackAddress"),
            "must be set when playback is enabled",
        ));
    }
    if cfg.api && cfg.api_address.is_empty() {
        return Err(ctx.invalid(
            &root.key("apiAddress"),
            "must be set when the API is enabled",
        ));
    }
    if cfg.metrics && cfg.metrics_address.is_empty() {
        return Err(ctx.invalid(
            &root.key("metricsAddress"),
            "must be set when metrics are enabled",
        ));
    }
    if cfg.rtsp && cfg.rtsp_auth_methods.is_empty() {
        return Err(ctx.invalid(
            &root.key("rtspAuthMethods"),
            "at least one method is needed",
        ));
    }
    let digest = cfg.rtsp_auth_methods.contains(&RtspAuthMethod::Digest);
    let hashed = cfg.auth_internal_users.iter().any(|u| {
        !matches!(u.user, Credential::Plain(_)) || !matches!(u.pass, Credential::Plain(_))
    });
    if cfg.rtsp && digest && cfg.auth_method != AuthMethod::Internal {
        return Err(ctx.invalid(
            &root.key("rtspAuthMethods"),
            "digest can be used only with authMethod internal (http and jwt need the password or token itself)",
        ));
    }
    super::external_auth::validate(ctx, &root, cfg.auth_method, &cfg.auth_http, &cfg.auth_jwt)?;
    if cfg.rtsp && digest && hashed {
        return Err(ctx.invalid(
            &root.key("rtspAuthMethods"),
            "digest authentication cannot be used with hashed (sha256:/argon2:) credentials",
        ));
    }
    Ok(())
}

const LOG_LEVELS: &[(&str, LogLevel)] = &[
    ("error", LogLevel::Error),
    ("warn", LogLevel::Warn),
    ("info", LogLevel::Info),
    ("debug", LogLevel::Debug),
];

const LOG_DESTINATIONS: &[(&str, LogDestination)] = &[
    ("stdout", LogDestination::Stdout),
    ("file", LogDestination::File),
];

/// `logDestinations`: `stdout` and `file`; MediaMTX's `syslog` is refused with a way out,
/// since ignoring it would lose every log line.
fn log_destinations(
    ctx: &Ctx,
    kp: &KeyPath,
    v: &Value,
) -> Result<Vec<LogDestination>, ConfigError> {
    if let Value::Sequence(items) = v
        && let Some(i) = items.iter().position(|it| it.as_str() == Some("syslog"))
    {
        return Err(ctx.invalid(
            &kp.index(i),
            "syslog is not supported by Vigia yet; use stdout or file (with logStructured: yes for JSON lines)",
        ));
    }
    keyword_list(ctx, kp, v, LOG_DESTINATIONS)
}

const RTSP_TRANSPORTS: &[(&str, RtspTransport)] = &[
    ("udp", RtspTransport::Udp),
    ("multicast", RtspTransport::Multicast),
    ("tcp", RtspTransport::Tcp),
];

const ENCRYPTIONS: &[(&str, Encryption)] = &[
    ("no", Encryption::No),
    ("strict", Encryption::Strict),
    ("optional", Encryption::Optional),
];

const AUTH_METHODS: &[(&str, RtspAuthMethod)] = &[
    ("basic", RtspAuthMethod::Basic),
    ("digest", RtspAuthMethod::Digest),
];

fn keyword_list<T: Copy + PartialEq>(
    ctx: &Ctx,
    kp: &KeyPath,
    v: &Value,
    choices: &[(&str, T)],
) -> Result<Vec<T>, ConfigError> {
    let all = list_of(
        ctx,
        kp,
        v,
        "expected a list, e.g. [a, b]",
        |ctx, k, item| keyword(ctx, k, item, choices),
    )?;
    let mut out = Vec::new();
    for t in all {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Parses each item of a list with `item`; `null` is the empty list, anything else that is not
/// a list is an error saying `expected`.
pub(super) fn list_of<T>(
    ctx: &Ctx,
    kp: &KeyPath,
    v: &Value,
    expected: &str,
    item: impl Fn(&Ctx, &KeyPath, &Value) -> Result<T, ConfigError>,
) -> Result<Vec<T>, ConfigError> {
    let Value::Sequence(items) = v else {
        if v.is_null() {
            return Ok(Vec::new());
        }
        return Err(ctx.invalid(kp, expected));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, it)| item(ctx, &kp.index(i), it))
        .collect()
}

pub(super) fn positive_duration(
    ctx: &Ctx,
    kp: &KeyPath,
    v: &Value,
) -> Result<Duration, ConfigError> {
    let d = ctx.duration(kp, v)?;
    if d.is_zero() {
        return Err(ctx.invalid(kp, "must be greater than zero"));
    }
    Ok(d)
}

/// A size in bytes greater than zero.
pub(super) fn positive_size(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<u64, ConfigError> {
    match ctx.size(kp, v)? {
        0 => Err(ctx.invalid(kp, "must be greater than zero")),
        n => Ok(n),
    }
}

/// A whole number that fits in 32 bits.
fn whole_u32(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<u32, ConfigError> {
    Ok(ctx.uint(kp, v, u64::from(u32::MAX))? as u32)
}

/// A whole number from 1 that fits in 32 bits.
fn positive_u32(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<u32, ConfigError> {
    match whole_u32(ctx, kp, v)? {
        0 => Err(ctx.invalid(kp, "must be greater than zero")),
        n => Ok(n),
    }
}

fn non_empty(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<String, ConfigError> {
    let s = ctx.string(kp, v)?;
    if s.is_empty() {
        return Err(ctx.invalid(kp, "must not be empty"));
    }
    Ok(s)
}

fn write_queue_size(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<usize, ConfigError> {
    let n = ctx.uint(kp, v, 1 << 20)?;
    if !n.is_power_of_two() {
        return Err(ctx.invalid(
            kp,
            format!("must be a power of two (e.g. 512, 1024), got {n}"),
        ));
    }
    Ok(n as usize)
}

pub(super) fn address(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<String, ConfigError> {
    let s = ctx.string(kp, v)?;
    values::check_listen_address(&s).map_err(|p| ctx.invalid(kp, p))?;
    Ok(s)
}

fn port(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<u16, ConfigError> {
    match ctx.uint(kp, v, u64::from(u16::MAX))? {
        0 => Err(ctx.invalid(kp, "port 0 is not allowed")),
        p => Ok(p as u16),
    }
}

fn ip_net(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<IpNet, ConfigError> {
    ctx.string(kp, v)?.parse().map_err(|p| ctx.invalid(kp, p))
}

fn auth_method(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<AuthMethod, ConfigError> {
    match ctx.string(kp, v)?.as_str() {
        "internal" => Ok(AuthMethod::Internal),
        "http" => Ok(AuthMethod::Http),
        "jwt" => Ok(AuthMethod::Jwt),
        other => Err(ctx.invalid(
            kp,
            format!("\"{other}\" is not one of: internal, http, jwt"),
        )),
    }
}

fn users(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<Vec<AuthUser>, ConfigError> {
    list_of(ctx, kp, v, "expected a list of users (- user: …)", user)
}

fn user(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<AuthUser, ConfigError> {
    let mut u = AuthUser {
        user: Credential::Plain(String::new()),
        pass: Credential::Plain(String::new()),
        ips: Vec::new(),
        permissions: Vec::new(),
    };
    for (key, val) in ctx.mapping(kp, v)? {
        let k = kp.key(&key);
        match key.as_str() {
            "user" => u.user = credential(ctx, &k, val)?,
            "pass" => u.pass = credential(ctx, &k, val)?,
            "ips" => u.ips = ip_list(ctx, &k, val)?,
            "permissions" => u.permissions = permissions(ctx, &k, val)?,
            _ => return Err(ctx.unknown(&k)),
        }
    }
    if u.user == Credential::Plain(String::new()) {
        return Err(ctx.invalid(&kp.key("user"), "empty usernames are not supported"));
    }
    if u.is_any() && !u.pass.is_empty() {
        return Err(ctx.invalid(&kp.key("pass"), "the 'any' user cannot have a password"));
    }
    Ok(u)
}

fn credential(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<Credential, ConfigError> {
    let c = Credential::parse(&ctx.string(kp, v)?).map_err(|p| ctx.invalid(kp, p))?;
    Ok(c)
}

pub(super) fn ip_list(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<Vec<IpNet>, ConfigError> {
    let list = ctx.string_list(kp, v)?;
    list.iter()
        .enumerate()
        .map(|(i, s)| s.parse().map_err(|p| ctx.invalid(&kp.index(i), p)))
        .collect()
}

/// Parses a list of permissions (`authInternalUsers[].permissions`, `auth*Exclude`).
pub(super) fn permissions(
    ctx: &Ctx,
    kp: &KeyPath,
    v: &Value,
) -> Result<Vec<Permission>, ConfigError> {
    list_of(
        ctx,
        kp,
        v,
        "expected a list of permissions (- action: …)",
        permission,
    )
}

fn permission(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<Permission, ConfigError> {
    let mut action = None;
    let mut path = PathPattern::Any;
    for (key, val) in ctx.mapping(kp, v)? {
        let k = kp.key(&key);
        match key.as_str() {
            "action" => {
                let text = ctx.string(&k, val)?;
                action = Some(AuthAction::parse(&text).ok_or_else(|| {
                    ctx.invalid(
                        &k,
                        format!(
                            "{} is not one of: publish, read, playback, api, metrics, pprof",
                            show(val)
                        ),
                    )
                })?);
            }
            "path" => path = path_pattern(ctx, &k, val)?,
            _ => return Err(ctx.unknown(&k)),
        }
    }
    let action = action.ok_or_else(|| ctx.invalid(kp, "a permission needs an action"))?;
    Ok(Permission { action, path })
}

fn path_pattern(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<PathPattern, ConfigError> {
    PathPattern::parse(&ctx.string(kp, v)?).map_err(|p| ctx.invalid(kp, p))
}
