//! The HLS server's keys (`hls*`), with MediaMTX's defaults.

use std::time::Duration;

use serde_yaml::Value;

use super::error::ConfigError;
use super::global::{address, ip_list, positive_duration};
use super::lines::KeyPath;
use super::parse::{Ctx, keyword};
use super::values::IpNet;

/// `hlsVariant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HlsVariant {
    /// `lowLatency`: LL-HLS with parts, blocking reload and delta updates (default).
    LowLatency,
    /// `fmp4`: classic HLS with fMP4 segments, for old players.
    Fmp4,
    /// `mpegts`: accepted for compatibility; served as `fmp4` (a warning says so).
    MpegTs,
}

const VARIANTS: &[(&str, HlsVariant)] = &[
    ("lowLatency", HlsVariant::LowLatency),
    ("fmp4", HlsVariant::Fmp4),
    ("mpegts", HlsVariant::MpegTs),
];

/// The HLS server's configuration.
#[derive(Debug, Clone)]
pub(crate) struct HlsConf {
    /// `hls`: run the HLS server (true).
    pub enabled: bool,
    /// `hlsAddress` (:8888).
    pub address: String,
    /// `hlsEncryption` (false): serve HTTPS with the two files below (see `tls.rs`).
    pub encryption: bool,
    /// `hlsServerKey` (server.key).
    pub server_key: String,
    /// `hlsServerCert` (server.crt).
    pub server_cert: String,
    /// `hlsAllowOrigins` (["*"]): CORS origins, `*` wildcards allowed.
    pub allow_origins: Vec<String>,
    /// `hlsTrustedProxies` ([]): proxies whose X-Forwarded-For is believed in logs.
    pub trusted_proxies: Vec<IpNet>,
    /// `hlsAlwaysRemux` (false): mux even when nobody requests.
    pub always_remux: bool,
    /// `hlsVariant` (lowLatency).
    pub variant: HlsVariant,
    /// `hlsSegmentCount` (7): segments in the playlist window.
    pub segment_count: usize,
    /// `hlsSegmentDuration` (1s): minimum segment length, stretched to the next keyframe.
    pub segment_duration: Duration,
    /// `hlsPartDuration` (200ms): LL-HLS part length.
    pub part_duration: Duration,
    /// `hlsSegmentMaxSize` (50M): a segment that grows past this is ended; the next starts at
    /// the next keyframe.
    pub segment_max_size: u64,
    /// `hlsDirectory` (""): where complete segments are written instead of kept in memory
    /// (`hls::store`); empty keeps them in memory.
    pub directory: String,
    /// `hlsMuxerCloseAfter` (60s): a muxer nobody requested for this long is closed.
    pub muxer_close_after: Duration,
    /// `hlsCDNSecret` (""): a CDN's bearer secret (not used yet).
    pub cdn_secret: String,
}

impl Default for HlsConf {
    fn default() -> Self {
        HlsConf {
            enabled: true,
            address: ":8888".to_owned(),
            encryption: false,
            server_key: "server.key".to_owned(),
            server_cert: "server.crt".to_owned(),
            allow_origins: vec!["*".to_owned()],
            trusted_proxies: Vec::new(),
            always_remux: false,
            variant: HlsVariant::LowLatency,
            segment_count: 7,
            segment_duration: Duration::from_secs(1),
            part_duration: Duration::from_millis(200),
            segment_max_size: 50 * 1024 * 1024,
            directory: String::new(),
            muxer_close_after: Duration::from_secs(60),
            cdn_secret: String::new(),
        }
    }
}

/// The global keys this module parses.
pub(crate) const KEYS: &[&str] = &[
    "hls",
    "hlsAddress",
    "hlsEncryption",
    "hlsServerKey",
    "hlsServerCert",
    "hlsAllowOrigins",
    "hlsTrustedProxies",
    "hlsAlwaysRemux",
    "hlsVariant",
    "hlsSegmentCount",
    "hlsSegmentDuration",
    "hlsPartDuration",
    "hlsSegmentMaxSize",
    "hlsDirectory",
    "hlsMuxerCloseAfter",
    "hlsCDNSecret",
];

/// Sets one `hls*` key; `Ok(false)` if `key` is not one of them.
pub(crate) fn set_key(
    ctx: &mut Ctx,
    hls: &mut HlsConf,
    key: &str,
    kp: &KeyPath,
    v: &Value,
) -> Result<bool, ConfigError> {
    match key {
        "hls" => hls.enabled = ctx.boolean(kp, v)?,
        "hlsAddress" => hls.address = address(ctx, kp, v)?,
        "hlsEncryption" => hls.encryption = ctx.boolean(kp, v)?,
        "hlsServerKey" => hls.server_key = ctx.string(kp, v)?,
        "hlsServerCert" => hls.server_cert = ctx.string(kp, v)?,
        "hlsAllowOrigins" => hls.allow_origins = ctx.string_list(kp, v)?,
        "hlsTrustedProxies" => hls.trusted_proxies = ip_list(ctx, kp, v)?,
        "hlsAlwaysRemux" => hls.always_remux = ctx.boolean(kp, v)?,
        "hlsVariant" => hls.variant = variant(ctx, kp, v)?,
        "hlsSegmentCount" => hls.segment_count = segment_count(ctx, kp, v)?,
        "hlsSegmentDuration" => hls.segment_duration = positive_duration(ctx, kp, v)?,
        "hlsPartDuration" => hls.part_duration = positive_duration(ctx, kp, v)?,
        "hlsSegmentMaxSize" => hls.segment_max_size = ctx.size(kp, v)?,
        "hlsDirectory" => hls.directory = ctx.string(kp, v)?,
        "hlsMuxerCloseAfter" => hls.muxer_close_after = positive_duration(ctx, kp, v)?,
        "hlsCDNSecret" => hls.cdn_secret = ctx.string(kp, v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Checks that need several keys: parts must fit in segments.
pub(crate) fn check(ctx: &Ctx, hls: &HlsConf) -> Result<(), ConfigError> {
    if hls.part_duration > hls.segment_duration {
        let kp = KeyPath::default().key("hlsPartDuration");
        return Err(ctx.invalid(&kp, "must not be longer than hlsSegmentDuration"));
    }
    Ok(())
}

fn variant(ctx: &mut Ctx, kp: &KeyPath, v: &Value) -> Result<HlsVariant, ConfigError> {
    let variant = keyword(ctx, kp, v, VARIANTS)?;
    if variant == HlsVariant::MpegTs {
        ctx.warn(
            kp,
            "mpegts segments are not supported yet; serving fmp4 (classic HLS) instead",
        );
    }
    Ok(variant)
}

fn segment_count(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<usize, ConfigError> {
    match ctx.uint(kp, v, 1000)? {
        n if n < 3 => Err(ctx.invalid(kp, format!("must be at least 3, got {n}"))),
        n => Ok(n as usize),
    }
}
