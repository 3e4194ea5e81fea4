//! Which keys exist: implemented by Vigia, MediaMTX's not implemented yet, deprecated, Vigia's own.
//!
//! The lists of MediaMTX keys are those of MediaMTX v1.20's default `mediamtx.yml`
//! (`server/testdata/mediamtx.yml`). When Vigia implements one, move it from an
//! `*_UNIMPLEMENTED` list to the typed structs in `global.rs` / `path.rs`.

/// Global keys Vigia implements (parsed into typed fields of `Config`).
pub(crate) const GLOBAL_IMPLEMENTED: &[&str] = &[
    "logLevel",
    "logDestinations",
    "logStructured",
    "logFile",
    "sysLogPrefix",
    "readTimeout",
    "writeTimeout",
    "writeQueueSize",
    "udpMaxPayloadSize",
    "rtsp",
    "rtspTransports",
    "rtspEncryption",
    "rtspAddress",
    "rtspsAddress",
    "rtspServerKey",
    "rtspServerCert",
    "rtpAddress",
    "rtcpAddress",
    "multicastIPRange",
    "multicastRTPPort",
    "multicastRTCPPort",
    "rtspAuthMethods",
    "authMethod",
    "authInternalUsers",
    "playback",
    "playbackAddress",
    "playbackEncryption",
    "playbackServerKey",
    "playbackServerCert",
    "playbackAllowOrigins",
    "playbackTrustedProxies",
    "api",
    "apiAddress",
    "apiEncryption",
    "apiServerKey",
    "apiServerCert",
    "apiAllowOrigins",
    "apiTrustedProxies",
    "metrics",
    "metricsAddress",
    "metricsEncryption",
    "metricsServerKey",
    "metricsServerCert",
    "metricsAllowOrigins",
    "metricsTrustedProxies",
    "runOnConnect",
    "runOnConnectRestart",
    "runOnDisconnect",
];

/// Vigia's own global keys (not in MediaMTX).
///
/// Reserved here so they are never reported as unknown. S3/object storage (`s3*`),
/// AMQP and retention keys go in this list, with a typed field in `global.rs`
/// (section "Vigia's own keys") when their feature lands.
pub(crate) const GLOBAL_VIGIA: &[&str] = &[
    "eventsURL",
    "eventsHealthInterval",
    "recordSpoolDirectory",
    "recordSpoolMaxSize",
    "maxConnectionsPerIP",
    "httpRateLimit",
    "httpRateBurst",
    "apiUserRateLimit",
];

/// Path keys Vigia implements (parsed into typed fields of `PathConf`).
pub(crate) const PATH_IMPLEMENTED: &[&str] = &[
    "source",
    "sourceOnDemand",
    "sourceOnDemandStartTimeout",
    "sourceOnDemandCloseAfter",
    "rtspTransport",
    "overridePublisher",
    "maxReaders",
    "record",
    "recordPath",
    "recordFormat",
    "recordPartDuration",
    "recordMaxPartSize",
    "recordSegmentDuration",
    "recordDeleteAfter",
];

/// Keys MediaMTX still reads but has deprecated, with their replacement.
///
/// Vigia refuses them with an error naming the replacement: silently ignoring, say,
/// `readUser` would leave a stream open that the operator meant to protect.
pub(crate) const DEPRECATED: &[(&str, &str)] = &[
    ("readBufferCount", "writeQueueSize"),
    (
        "externalAuthenticationURL",
        "authMethod: http and authHTTPAddress",
    ),
    ("apiAllowOrigin", "apiAllowOrigins"),
    ("metricsAllowOrigin", "metricsAllowOrigins"),
    ("pprofAllowOrigin", "pprofAllowOrigins"),
    ("playbackAllowOrigin", "playbackAllowOrigins"),
    ("rtspDisable", "rtsp"),
    ("protocols", "rtspTransports"),
    ("encryption", "rtspEncryption"),
    ("serverKey", "rtspServerKey"),
    ("serverCert", "rtspServerCert"),
    ("authMethods", "rtspAuthMethods"),
    ("rtspUDPReadBufferSize", "udpReadBufferSize"),
    ("rtmpDisable", "rtmp"),
    ("hlsDisable", "hls"),
    ("hlsAllowOrigin", "hlsAllowOrigins"),
    ("webrtcDisable", "webrtc"),
    ("webrtcAllowOrigin", "webrtcAllowOrigins"),
    ("webrtcICEUDPMuxAddress", "webrtcLocalUDPAddress"),
    ("webrtcICETCPMuxAddress", "webrtcLocalTCPAddress"),
    ("webrtcICEHostNAT1To1IPs", "webrtcAdditionalHosts"),
    ("webrtcICEServers", "webrtcICEServers2"),
    ("moqHTTPS2Address", "moqHTTP2Address"),
    ("moqHTTPS3Address", "moqHTTP3Address"),
    ("publishUser", "authInternalUsers"),
    ("publishPass", "authInternalUsers"),
    ("publishIPs", "authInternalUsers"),
    ("readUser", "authInternalUsers"),
    ("readPass", "authInternalUsers"),
    ("readIPs", "authInternalUsers"),
    ("disablePublisherOverride", "overridePublisher"),
    ("sourceProtocol", "rtspTransport"),
    ("sourceAnyPortEnable", "rtspAnyPort"),
    ("fallback", "alwaysAvailable"),
];

/// Keys MediaMTX accepted globally in old versions and now reads under `pathDefaults`.
///
/// Like the keys of [`DEPRECATED`], Vigia refuses them at the top level with an error
/// saying to write the same key under `pathDefaults`, where it is typed.
pub(crate) const DEPRECATED_GLOBAL_PATH_KEYS: &[&str] = &[
    "record",
    "recordPath",
    "recordFormat",
    "recordPartDuration",
    "recordSegmentDuration",
    "recordDeleteAfter",
];

/// Global keys of MediaMTX v1.20 that Vigia accepts but does not implement yet.
pub(crate) const GLOBAL_UNIMPLEMENTED: &[&str] = &[
    "dumpPackets",
    "udpReadBufferSize",
    "pprof",
    "pprofAddress",
    "pprofEncryption",
    "pprofServerKey",
    "pprofServerCert",
    "pprofAllowOrigins",
    "pprofTrustedProxies",
    "srtpAddress",
    "srtcpAddress",
    "multicastSRTPPort",
    "multicastSRTCPPort",
    "rtspTrustedProxies",
    "rtmp",
    "rtmpEncryption",
    "rtmpAddress",
    "rtmpsAddress",
    "rtmpServerKey",
    "rtmpServerCert",
    "rtmpTrustedProxies",
    "webrtcEncryption",
    "webrtcServerKey",
    "webrtcServerCert",
    "webrtcLocalTCPAddress",
    "webrtcSTUNGatherTimeout",
    "webrtcTrackGatherTimeout",
    "srt",
    "srtAddress",
    "moq",
    "moqHTTP2Address",
    "moqHTTP3Address",
    "moqQUICAddress",
    "moqServerKey",
    "moqServerCert",
    "moqAllowOrigins",
    "moqTrustedProxies",
];

/// Path keys of MediaMTX v1.20 that Vigia accepts but does not implement yet.
pub(crate) const PATH_UNIMPLEMENTED: &[&str] = &[
    "sourceFingerprint",
    "srtReadPassphrase",
    "useAbsoluteTimestamp",
    "alwaysAvailable",
    "alwaysAvailableTracks",
    "alwaysAvailableFile",
    "forward",
    "srtPublishPassphrase",
    "rtspDemuxMpegts",
    "rtspAnyPort",
    "rtspRangeType",
    "rtspRangeStart",
    "rtspScale",
    "rtspUDPSourcePortRange",
    "rtpSDP",
    "moqTransport",
    "whepBearerToken",
    "whepSTUNGatherTimeout",
    "whepHandshakeTimeout",
    "whepTrackGatherTimeout",
    "sourceRedirect",
    "rpiCameraCamID",
    "rpiCameraSecondary",
    "rpiCameraWidth",
    "rpiCameraHeight",
    "rpiCameraHFlip",
    "rpiCameraVFlip",
    "rpiCameraBrightness",
    "rpiCameraContrast",
    "rpiCameraSaturation",
    "rpiCameraSharpness",
    "rpiCameraExposure",
    "rpiCameraAWB",
    "rpiCameraAWBGains",
    "rpiCameraDenoise",
    "rpiCameraShutter",
    "rpiCameraMetering",
    "rpiCameraGain",
    "rpiCameraEV",
    "rpiCameraROI",
    "rpiCameraHDR",
    "rpiCameraTuningFile",
    "rpiCameraMode",
    "rpiCameraFPS",
    "rpiCameraAfMode",
    "rpiCameraAfRange",
    "rpiCameraAfSpeed",
    "rpiCameraLensPosition",
    "rpiCameraAfWindow",
    "rpiCameraFlickerPeriod",
    "rpiCameraTextOverlayEnable",
    "rpiCameraTextOverlay",
    "rpiCameraCodec",
    "rpiCameraIDRPeriod",
    "rpiCameraBitrate",
    "rpiCameraH264Profile",
    "rpiCameraH264Level",
    "rpiCameraMJPEGQuality",
    "runOnOnline",
    "runOnOnlineRestart",
    "runOnOffline",
];

/// What a key is, wherever it appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// Parsed into a typed field.
    Implemented,
    /// Accepted, stored loosely, warned about once.
    Unimplemented,
    /// A deprecated MediaMTX key; the string names its replacement.
    Deprecated(&'static str),
    /// Neither MediaMTX's nor Vigia's.
    Unknown,
}

/// Global keys parsed into typed fields, in all their lists.
const GLOBAL_TYPED: [&[&str]; 5] = [
    GLOBAL_IMPLEMENTED,
    GLOBAL_VIGIA,
    super::hls::KEYS,
    super::webrtc::KEYS,
    super::external_auth::KEYS,
];

/// Every top-level key Vigia reads, typed or kept loosely (what environment variables
/// may override).
pub(crate) fn global_keys() -> impl Iterator<Item = &'static str> {
    GLOBAL_TYPED
        .into_iter()
        .chain([GLOBAL_UNIMPLEMENTED])
        .flatten()
        .copied()
}

/// Encryption keys of listeners Vigia does not serve yet: accepted when they ask for no TLS
/// (MediaMTX's sample config sets them so), refused when they ask for it, never ignored.
const UNSERVED_ENCRYPTION: &[&str] = &["webrtcEncryption", "rtmpEncryption", "pprofEncryption"];

/// Whether `key: value` asks for TLS on a listener Vigia does not serve (`yes`, `true`,
/// `optional`, `strict`…; anything but `no`/`false`/empty).
pub(crate) fn asks_for_unserved_tls(key: &str, value: &serde_yaml::Value) -> bool {
    use serde_yaml::Value;
    UNSERVED_ENCRYPTION.contains(&key)
        && match value {
            Value::Bool(on) => *on,
            Value::String(s) => !matches!(s.trim(), "" | "no" | "false"),
            Value::Null => false,
            _ => true,
        }
}

/// Classifies a top-level key.
pub(crate) fn global_kind(key: &str) -> KeyKind {
    if GLOBAL_TYPED.iter().any(|keys| keys.contains(&key)) {
        return KeyKind::Implemented;
    }
    if GLOBAL_UNIMPLEMENTED.contains(&key) {
        return KeyKind::Unimplemented;
    }
    if DEPRECATED_GLOBAL_PATH_KEYS.contains(&key) {
        return KeyKind::Deprecated("the same key under pathDefaults");
    }
    deprecated(key)
}

/// Classifies a key of `pathDefaults` or of a path.
pub(crate) fn path_kind(key: &str) -> KeyKind {
    if PATH_IMPLEMENTED.contains(&key) || super::hooks::KEYS.contains(&key) {
        return KeyKind::Implemented;
    }
    if PATH_UNIMPLEMENTED.contains(&key) {
        return KeyKind::Unimplemented;
    }
    deprecated(key)
}

fn deprecated(key: &str) -> KeyKind {
    DEPRECATED
        .iter()
        .find(|(old, _)| *old == key)
        .map_or(KeyKind::Unknown, |(_, new)| KeyKind::Deprecated(new))
}
