//! Tests of the whole loader: MediaMTX's default file, defaults, errors, path matching,
//! environment overrides and authorization.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde_yaml::Value;

use super::path::check_path_name;
use super::*;

/// MediaMTX v1.20's default configuration file, unchanged (the shared compatibility fixture).
const MEDIAMTX_YML: &str = include_str!("../../testdata/mediamtx.yml");

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(text: &str) -> Result<Loaded, ConfigError> {
    Config::from_yaml_str(text, "test.yml", &no_env())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn mediamtx_default_file_loads_with_one_warning_per_unimplemented_key() {
    let loaded = Config::from_yaml_str(MEDIAMTX_YML, "mediamtx.yml", &no_env()).unwrap();
    let expected = keys::GLOBAL_UNIMPLEMENTED.len() + keys::PATH_UNIMPLEMENTED.len();
    assert_eq!(loaded.warnings.len(), expected, "{:#?}", loaded.warnings);
    let mut named: Vec<&str> = loaded
        .warnings
        .iter()
        .map(|w| w.split('"').nth(1).unwrap())
        .collect();
    for key in &named {
        let known =
            keys::GLOBAL_UNIMPLEMENTED.contains(key) || keys::PATH_UNIMPLEMENTED.contains(key);
        assert!(
            known,
            "warning about a key that is implemented or unknown: {key}"
        );
    }
    named.sort();
    named.dedup();
    assert_eq!(named.len(), expected, "a key was warned about twice");
    let hls = loaded
        .warnings
        .iter()
        .find(|w| w.contains("\"webrtcLocalTCPAddress\""))
        .unwrap();
    assert!(hls.contains("line 404 of mediamtx.yml"), "{hls}");
    let run = loaded
        .warnings
        .iter()
        .find(|w| w.contains("\"runOnOnline\""))
        .unwrap();
    assert!(run.contains("line 820"), "{run}");
}

#[test]
fn hooks_are_typed_and_old_names_are_read_with_a_warning() {
    let yaml = "pathDefaults:\n  runOnInit: a $MTX_PATH\n  runOnInitRestart: yes\npaths:\n  cam:\n    runOnReady: ffmpeg -i x\n    runOnReadyRestart: yes\n    runOnNotReady: gone\n    runOnRead: r\n    runOnUnread: u\n    runOnRecordSegmentCreate: c\n    runOnRecordSegmentComplete: d\n";
    let loaded = load(yaml).unwrap();
    let cam = &loaded.config.path_config("cam").unwrap().entry.conf.hooks;
    assert_eq!(cam.run_on_init, "a $MTX_PATH");
    assert!(cam.run_on_init_restart);
    assert_eq!(cam.run_on_available, "ffmpeg -i x");
    assert!(cam.run_on_available_restart);
    assert_eq!(cam.run_on_unavailable, "gone");
    assert_eq!(
        (cam.run_on_read.as_str(), cam.run_on_unread.as_str()),
        ("r", "u")
    );
    assert_eq!(cam.run_on_record_segment_create, "c");
    assert_eq!(cam.run_on_record_segment_complete, "d");
    let warned: Vec<&String> = loaded
        .warnings
        .iter()
        .filter(|w| w.contains("deprecated"))
        .collect();
    assert_eq!(warned.len(), 3, "{:?}", loaded.warnings);
    assert!(warned[0].contains("runOnReady") && warned[0].contains("runOnAvailable"));
}

#[test]
fn run_on_demand_keys_are_typed_and_need_a_publisher_source() {
    let yaml = "paths:\n  cam:\n    runOnDemand: ffmpeg -i x\n    runOnDemandRestart: yes\n    runOnDemandStartTimeout: 3s\n    runOnDemandCloseAfter: 1500ms\n    runOnUnDemand: gone\n  plain:\n";
    let loaded = load(yaml).unwrap();
    let cam = &loaded.config.path_config("cam").unwrap().entry.conf.hooks;
    assert_eq!(cam.run_on_demand, "ffmpeg -i x");
    assert!(cam.run_on_demand_restart);
    assert_eq!(cam.run_on_demand_start_timeout, Duration::from_secs(3));
    assert_eq!(cam.run_on_demand_close_after, Duration::from_millis(1500));
    assert_eq!(cam.run_on_un_demand, "gone");
    let plain = &loaded.config.path_config("plain").unwrap().entry.conf.hooks;
    assert_eq!(plain.run_on_demand_start_timeout, Duration::from_secs(10));
    assert_eq!(plain.run_on_demand_close_after, Duration::from_secs(10));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let err = load("paths:\n  cam:\n    source: synthetic\n    runOnUnDemand: x\n").unwrap_err();
    let err = err.to_string();
    assert!(
        err.contains("runOnUnDemand") && err.contains("publisher"),
        "{err}"
    );
}

#[test]
fn mediamtx_default_file_gives_mediamtx_defaults() {
    let cfg = Config::from_yaml_str(MEDIAMTX_YML, "mediamtx.yml", &no_env())
        .unwrap()
        .config;
    let d = Config::default();
    assert_eq!(cfg.log_level, LogLevel::Info);
    assert_eq!(cfg.log_destinations, vec![LogDestination::Stdout]);
    assert_eq!(cfg.read_timeout, Duration::from_secs(10));
    assert_eq!(cfg.write_timeout, Duration::from_secs(10));
    assert_eq!(cfg.write_queue_size, 512);
    assert_eq!(cfg.udp_max_payload_size, 1452);
    assert!(cfg.rtsp);
    assert_eq!(
        cfg.rtsp_transports,
        vec![
            RtspTransport::Udp,
            RtspTransport::Multicast,
            RtspTransport::Tcp
        ]
    );
    assert_eq!(cfg.rtsp_encryption, Encryption::No);
    assert_eq!(
        (cfg.rtsp_address.as_str(), cfg.rtsps_address.as_str()),
        (":8554", ":8322")
    );
    assert_eq!(
        (cfg.rtp_address.as_str(), cfg.rtcp_address.as_str()),
        (":8000", ":8001")
    );
    assert_eq!(cfg.multicast_ip_range.to_string(), "224.1.0.0/16");
    assert_eq!(
        (cfg.multicast_rtp_port, cfg.multicast_rtcp_port),
        (8002, 8003)
    );
    assert_eq!(cfg.rtsp_auth_methods, vec![RtspAuthMethod::Basic]);
    assert_eq!(cfg.auth_method, AuthMethod::Internal);
    assert_eq!(cfg.auth_internal_users.len(), 2);
    assert!(cfg.auth_internal_users.iter().all(AuthUser::is_any));
    // The file spells out MediaMTX's defaults; the built-in ones must agree.
    assert_eq!(format!("{:?}", cfg.log_level), format!("{:?}", d.log_level));
    assert_eq!(cfg.read_timeout, d.read_timeout);
    assert_eq!(cfg.udp_max_payload_size, d.udp_max_payload_size);
    assert_eq!(cfg.rtsp_address, d.rtsp_address);
    assert_eq!(cfg.multicast_ip_range, d.multicast_ip_range);
    let pd = &cfg.path_defaults;
    assert_eq!(pd.source, Source::Publisher);
    assert!(!pd.source_on_demand && pd.override_publisher);
    assert_eq!(pd.source_on_demand_start_timeout, Duration::from_secs(10));
    assert_eq!(pd.source_on_demand_close_after, Duration::from_secs(10));
    assert_eq!(pd.rtsp_transport, SourceTransport::Automatic);
    assert_eq!(pd.max_readers, 0);
    // Unimplemented keys are kept as written.
    assert_eq!(cfg.hls.address, ":8888");
    assert_eq!(cfg.hls.part_duration, Duration::from_millis(200));
    assert_eq!(cfg.webrtc.address, ":8889");
    assert_eq!(cfg.webrtc.local_udp_address, ":8189");
    assert!(cfg.webrtc.enabled);
    assert_eq!(
        cfg.unimplemented["webrtcLocalTCPAddress"],
        Value::String("".into())
    );
    assert_eq!(
        pd.unimplemented["rtspAnyPort"],
        Value::Bool(false),
        "unimplemented path keys are kept as written"
    );
    // Recording and playback: the file spells out MediaMTX's defaults, ours must agree.
    assert!(!pd.record);
    assert_eq!(pd.record_path, "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f");
    assert_eq!(pd.record_format, RecordFormat::Fmp4);
    assert_eq!(pd.record_part_duration, Duration::from_secs(1));
    assert_eq!(pd.record_max_part_size, 50 << 20);
    assert_eq!(pd.record_segment_duration, Duration::from_secs(3600));
    assert_eq!(pd.record_delete_after, Duration::from_secs(86_400));
    let dpd = &d.path_defaults;
    assert_eq!(
        (
            &pd.record_path,
            pd.record_max_part_size,
            pd.record_delete_after
        ),
        (
            &dpd.record_path,
            dpd.record_max_part_size,
            dpd.record_delete_after
        )
    );
    assert!(!cfg.playback && !cfg.playback_encryption);
    assert_eq!(cfg.playback_address, ":9996");
    assert_eq!(cfg.playback_address, d.playback_address);
    assert_eq!(cfg.playback_allow_origins, vec!["*".to_owned()]);
    assert_eq!(
        (
            cfg.playback_server_key.as_str(),
            cfg.playback_server_cert.as_str()
        ),
        ("server.key", "server.crt")
    );
    assert!(cfg.playback_trusted_proxies.is_empty());
    assert!(!cfg.metrics && !cfg.metrics_encryption);
    assert_eq!(cfg.metrics_address, ":9998");
    assert_eq!(cfg.metrics_address, d.metrics_address);
    assert_eq!(cfg.metrics_allow_origins, vec!["*".to_owned()]);
    assert!(cfg.metrics_trusted_proxies.is_empty());
    // Vigia's own keys are not in MediaMTX's file: their defaults.
    assert_eq!(cfg.record_spool_directory, "./vigia-spool");
    assert_eq!(cfg.record_spool_max_size, 2 << 30);
    assert_eq!(cfg.max_connections_per_ip, 256);
    // Paths are exactly the file's: one all_others, a publisher.
    assert_eq!(cfg.paths.len(), 1);
    assert_eq!(cfg.paths[0].name, "all_others");
    let m = cfg.path_config("anything/at/all").unwrap();
    assert_eq!(m.entry.name, "all_others");
    assert_eq!(m.entry.conf.source, Source::Publisher);
}

#[test]
fn built_in_defaults_serve_a_synthetic_demo() {
    let loaded = Config::built_in(&no_env()).unwrap();
    assert_eq!(loaded.source, ConfigSource::BuiltIn);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let cfg = &loaded.config;
    assert_eq!(cfg.paths.len(), 2);
    let demo = cfg.path_config("demo").unwrap();
    assert_eq!(
        demo.entry.conf.source,
        Source::Synthetic(SyntheticProfile::Default)
    );
    let other = cfg
        .path_config("cam1")
        .expect("all_others takes any other name");
    assert_eq!(other.entry.name, "all_others");
    assert_eq!(other.entry.conf.source, Source::Publisher);
    assert_eq!(cfg.rtsp_address, ":8554");
}

#[test]
fn file_lookup_order_in_working_directory() {
    let dir = std::env::temp_dir().join(format!("vigia-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    let cleanup = |name: &str| {
        let _ = std::fs::remove_file(dir.join(name));
    };
    cleanup("vigia.yml");
    cleanup("mediamtx.yml");
    let l = Config::load_in(None, &dir, &no_env()).unwrap();
    assert_eq!(l.source, ConfigSource::BuiltIn);
    write("mediamtx.yml", "rtspAddress: :1111\n");
    let l = Config::load_in(None, &dir, &no_env()).unwrap();
    assert_eq!(l.source, ConfigSource::File(dir.join("mediamtx.yml")));
    assert_eq!(l.config.rtsp_address, ":1111");
    assert!(
        l.config.paths.is_empty(),
        "a file's paths are exactly its own"
    );
    write("vigia.yml", "rtspAddress: :2222\n");
    let l = Config::load_in(None, &dir, &no_env()).unwrap();
    assert_eq!(l.config.rtsp_address, ":2222");
    let l = Config::load_in(Some(Path::new("mediamtx.yml")), &dir, &no_env()).unwrap();
    assert_eq!(l.config.rtsp_address, ":1111");
    let err = Config::load_in(Some(Path::new("missing.yml")), &dir, &no_env()).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err}");
    cleanup("vigia.yml");
    cleanup("mediamtx.yml");
    let _ = std::fs::remove_dir(&dir);
}

/// (what, yaml, key named in the error, line)
const BAD: &[(&str, &str, &str, usize)] = &[
    ("unknown global key", "logLevel: info\nfoo: 1\n", "foo", 2),
    (
        "unknown path key",
        "paths:\n  cam1:\n    sorce: publisher\n",
        "paths.cam1.sorce",
        3,
    ),
    (
        "unknown pathDefaults key",
        "pathDefaults:\n  bogus: 1\n",
        "pathDefaults.bogus",
        2,
    ),
    ("bad duration", "readTimeout: 10x\n", "readTimeout", 1),
    (
        "duration without unit",
        "writeTimeout: 10\n",
        "writeTimeout",
        1,
    ),
    ("zero timeout", "readTimeout: 0s\n", "readTimeout", 1),
    (
        "bad path duration",
        "paths:\n  a:\n    sourceOnDemandCloseAfter: soon\n",
        "paths.a.sourceOnDemandCloseAfter",
        3,
    ),
    ("bad bool", "\nrtsp: maybe\n", "rtsp", 2),
    (
        "bad path bool",
        "pathDefaults:\n  overridePublisher: perhaps\n",
        "pathDefaults.overridePublisher",
        2,
    ),
    ("bad log level", "logLevel: loud\n", "logLevel", 1),
    (
        "bad log destination",
        "logDestinations: [stdout, printer]\n",
        "logDestinations[1]",
        1,
    ),
    (
        "syslog destination",
        "logDestinations:\n  - stdout\n  - syslog\n",
        "logDestinations[1]",
        3,
    ),
    (
        "bad logStructured",
        "logStructured: maybe\n",
        "logStructured",
        1,
    ),
    ("logFile as a list", "logFile: [a.log]\n", "logFile", 1),
    (
        "file destination without logFile",
        "logDestinations: [file]\nlogFile: \"\"\n",
        "logFile",
        2,
    ),
    (
        "sysLogPrefix as a map",
        "sysLogPrefix: {a: 1}\n",
        "sysLogPrefix",
        1,
    ),
    (
        "bad transport",
        "rtspTransports: [udp, carrier-pigeon]\n",
        "rtspTransports[1]",
        1,
    ),
    (
        "bad encryption",
        "rtspEncryption: maybe\n",
        "rtspEncryption",
        1,
    ),
    (
        "queue not power of two",
        "writeQueueSize: 500\n",
        "writeQueueSize",
        1,
    ),
    (
        "payload too big",
        "udpMaxPayloadSize: 9000\n",
        "udpMaxPayloadSize",
        1,
    ),
    (
        "bad port",
        "multicastRTPPort: 70000\n",
        "multicastRTPPort",
        1,
    ),
    ("bad address", "rtspAddress: 8554\n", "rtspAddress", 1),
    (
        "bad CIDR",
        "multicastIPRange: 224.1.0.0/40\n",
        "multicastIPRange",
        1,
    ),
    (
        "bad regex path",
        "paths:\n  ok:\n  \"~^cam(\":\n",
        "paths.~^cam(",
        3,
    ),
    (
        "bad path name",
        "paths:\n  \"bad name\":\n",
        "paths.bad name",
        2,
    ),
    (
        "bad source",
        "paths:\n  cam:\n    source: carrier-pigeon\n",
        "paths.cam.source",
        3,
    ),
    (
        "rtsp source without host",
        "paths:\n  cam:\n    source: rtsp:///x\n",
        "paths.cam.source",
        3,
    ),
    (
        "regex path pulling eagerly",
        "paths:\n  ~^c:\n    source: rtsp://h/x\n",
        "paths.~^c.source",
        3,
    ),
    (
        "on demand publisher",
        "paths:\n  p:\n    sourceOnDemand: yes\n",
        "paths.p.sourceOnDemand",
        3,
    ),
    (
        "bad source transport",
        "paths:\n  c:\n    rtspTransport: smoke\n",
        "paths.c.rtspTransport",
        3,
    ),
    (
        "negative maxReaders",
        "pathDefaults:\n  maxReaders: -1\n",
        "pathDefaults.maxReaders",
        2,
    ),
    (
        "two all_others",
        "paths:\n  all_others:\n  all:\n",
        "paths.all",
        3,
    ),
    (
        "deprecated key",
        "paths:\n  cam:\n    readUser: bob\n",
        "paths.cam.readUser",
        3,
    ),
    ("deprecated global", "protocols: [tcp]\n", "protocols", 1),
    (
        "http auth URL",
        "authMethod: http\nauthHTTPAddress: ftp://auth\n",
        "authHTTPAddress",
        2,
    ),
    (
        "jwt with digest",
        "authMethod: jwt\nauthJWTJWKS: http://idp/jwks\nrtspAuthMethods: [basic, digest]\n",
        "rtspAuthMethods",
        3,
    ),
    (
        "jwt claim key",
        "authMethod: jwt\nauthJWTJWKS: http://idp/jwks\nauthJWTClaimKey: ''\n",
        "authJWTClaimKey",
        3,
    ),
    (
        "pinned fingerprint",
        "authHTTPFingerprint: 33949e05fffb5ff3e8aa16f8213a6251b4d9363804ba53233c4da9a46d6f2739\n",
        "authHTTPFingerprint",
        1,
    ),
    (
        "bad exclude",
        "authJWTExclude:\n- action: fly\n",
        "authJWTExclude[0].action",
        2,
    ),
    (
        "bad user CIDR",
        "authInternalUsers:\n- user: a\n  pass: b\n  ips: [10.0.0.0/99]\n",
        "authInternalUsers[0].ips[0]",
        4,
    ),
    (
        "bad permission regex",
        "authInternalUsers:\n  - user: any\n    permissions:\n      - action: read\n        path: ~^(\n",
        "authInternalUsers[0].permissions[0].path",
        5,
    ),
    (
        "bad action",
        "authInternalUsers:\n- user: any\n  permissions:\n  - action: dance\n",
        "authInternalUsers[0].permissions[0].action",
        4,
    ),
    (
        "unknown user key",
        "authInternalUsers:\n- user: any\n  password: x\n",
        "authInternalUsers[0].password",
        3,
    ),
    (
        "any with password",
        "authInternalUsers:\n- user: any\n  pass: secret\n",
        "authInternalUsers[0].pass",
        3,
    ),
    (
        "bad sha256",
        "authInternalUsers:\n- user: u\n  pass: sha256:%%%\n",
        "authInternalUsers[0].pass",
        3,
    ),
    ("list where value", "logLevel: [info]\n", "logLevel", 1),
    // Recording (path keys).
    (
        "bad record",
        "pathDefaults:\n  record: often\n",
        "pathDefaults.record",
        2,
    ),
    (
        "recordPath without %path",
        "pathDefaults:\n  recordPath: ./rec/%Y-%m-%d_%H-%M-%S\n",
        "pathDefaults.recordPath",
        2,
    ),
    (
        "recordPath without unique time",
        "paths:\n  cam:\n    recordPath: ./rec/%path/%Y-%m-%d\n",
        "paths.cam.recordPath",
        3,
    ),
    (
        "s3 recordPath without bucket",
        "pathDefaults:\n  recordPath: s3:///%path/%s\n",
        "pathDefaults.recordPath",
        2,
    ),
    (
        "s3 recordPath with variable bucket",
        "pathDefaults:\n  recordPath: s3://%path/%s\n",
        "pathDefaults.recordPath",
        2,
    ),
    (
        "recordFormat mpegts",
        "pathDefaults:\n  recordFormat: mpegts\n",
        "pathDefaults.recordFormat",
        2,
    ),
    (
        "unknown recordFormat",
        "pathDefaults:\n  recordFormat: avi\n",
        "pathDefaults.recordFormat",
        2,
    ),
    (
        "zero recordPartDuration",
        "pathDefaults:\n  recordPartDuration: 0s\n",
        "pathDefaults.recordPartDuration",
        2,
    ),
    (
        "bad recordMaxPartSize",
        "pathDefaults:\n  recordMaxPartSize: 50Q\n",
        "pathDefaults.recordMaxPartSize",
        2,
    ),
    (
        "zero recordMaxPartSize",
        "pathDefaults:\n  recordMaxPartSize: 0\n",
        "pathDefaults.recordMaxPartSize",
        2,
    ),
    (
        "zero recordSegmentDuration",
        "pathDefaults:\n  recordSegmentDuration: 0\n",
        "pathDefaults.recordSegmentDuration",
        2,
    ),
    (
        "recordSegmentDuration over a day",
        "pathDefaults:\n  recordSegmentDuration: 1d1s\n",
        "pathDefaults.recordSegmentDuration",
        2,
    ),
    (
        "segment shorter than part",
        "pathDefaults:\n  recordPartDuration: 2s\n  recordSegmentDuration: 1s\n",
        "pathDefaults.recordSegmentDuration",
        3,
    ),
    (
        "path segment shorter than default part",
        "pathDefaults:\n  recordPartDuration: 2s\npaths:\n  cam:\n    recordSegmentDuration: 1s\n",
        "paths.cam.recordSegmentDuration",
        5,
    ),
    (
        "bad recordDeleteAfter",
        "pathDefaults:\n  recordDeleteAfter: never\n",
        "pathDefaults.recordDeleteAfter",
        2,
    ),
    (
        "deleted before the segment ends",
        "pathDefaults:\n  recordDeleteAfter: 30m\n",
        "pathDefaults.recordDeleteAfter",
        2,
    ),
    (
        "old global spelling of a path key",
        "recordPath: ./r/%path/%s\n",
        "recordPath",
        1,
    ),
    // Playback server and Vigia's spool.
    ("bad playback", "playback: sometimes\n", "playback", 1),
    (
        "bad playbackAddress",
        "playbackAddress: 9996\n",
        "playbackAddress",
        1,
    ),
    (
        "playback over HTTPS without a key file",
        "playback: yes\nplaybackEncryption: yes\nplaybackServerKey: \"\"\n",
        "playbackServerKey",
        3,
    ),
    ("bad metrics", "metrics: often\n", "metrics", 1),
    (
        "bad metricsAddress",
        "metricsAddress: 9998\n",
        "metricsAddress",
        1,
    ),
    (
        "bad metricsEncryption",
        "metricsEncryption: often\n",
        "metricsEncryption",
        1,
    ),
    (
        "RTSPS without tcp",
        "rtspEncryption: strict\nrtspTransports: [udp]\n",
        "rtspTransports",
        2,
    ),
    (
        "webrtcEncryption on (no WebRTC TLS yet)",
        "webrtcEncryption: yes\n",
        "webrtcEncryption",
        1,
    ),
    (
        "rtmpEncryption strict (no RTMPS yet)",
        "rtmpEncryption: strict\n",
        "rtmpEncryption",
        1,
    ),
    (
        "bad metricsTrustedProxies",
        "metricsTrustedProxies: [10.0.0.0/99]\n",
        "metricsTrustedProxies[0]",
        1,
    ),
    (
        "bad playbackTrustedProxies",
        "playbackTrustedProxies: [10.0.0.0/99]\n",
        "playbackTrustedProxies[0]",
        1,
    ),
    (
        "playbackAllowOrigins not a list",
        "playbackAllowOrigins: {a: b}\n",
        "playbackAllowOrigins",
        1,
    ),
    (
        "playback without %f",
        "playback: yes\npathDefaults:\n  recordPath: ./r/%path/%s\n",
        "pathDefaults.recordPath",
        3,
    ),
    (
        "empty recordSpoolDirectory",
        "recordSpoolDirectory: \"\"\n",
        "recordSpoolDirectory",
        1,
    ),
    (
        "bad recordSpoolMaxSize",
        "recordSpoolMaxSize: lots\n",
        "recordSpoolMaxSize",
        1,
    ),
    (
        "zero recordSpoolMaxSize",
        "recordSpoolMaxSize: 0\n",
        "recordSpoolMaxSize",
        1,
    ),
    (
        "negative maxConnectionsPerIP",
        "maxConnectionsPerIP: -1\n",
        "maxConnectionsPerIP",
        1,
    ),
    // Unsafe path names.
    (
        "dot-dot path name",
        "paths:\n  ../etc:\n",
        "paths.../etc",
        2,
    ),
    (
        "dot-dot inside a name",
        "paths:\n  cam..1:\n",
        "paths.cam..1",
        2,
    ),
    (
        "double slash in a name",
        "paths:\n  a//b:\n",
        "paths.a//b",
        2,
    ),
    (
        "backslash in a name",
        "paths:\n  'a\\b':\n",
        "paths.a\\b",
        2,
    ),
    (
        "leading slash in a name",
        "paths:\n  /cam:\n",
        "paths./cam",
        2,
    ),
];

#[test]
fn bad_inputs_name_key_and_line() {
    for (what, yaml, key, line) in BAD {
        let err = match load(yaml) {
            Ok(_) => panic!("{what}: loaded without error"),
            Err(e) => e,
        };
        assert_eq!(err.key(), Some(*key), "{what}: {err}");
        assert_eq!(err.line(), Some(*line), "{what}: {err}");
        let text = err.to_string();
        assert!(text.contains(&format!("\"{key}\"")), "{what}: {text}");
        assert!(
            text.contains(&format!("line {line} of test.yml")),
            "{what}: {text}"
        );
    }
}

#[test]
fn error_messages_read_well() {
    let e = load("logLevel: info\nfoo: 1\n").unwrap_err();
    assert_eq!(e.to_string(), "unknown key \"foo\" at line 2 of test.yml");
    let e = load("readTimeout: 10x\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid value for \"readTimeout\" at line 1 of test.yml: \"10x\" is not a duration (use e.g. 10s, 1m30s, 500ms, 1h, 1d)"
    );
    let e = load("a: [\n").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
    assert!(
        e.to_string().starts_with("test.yml is not valid YAML"),
        "{e}"
    );
}

#[test]
fn yaml_spellings_mediamtx_accepts() {
    let cfg = load("rtsp: no\nrtspEncryption: no\nreadTimeout: 1m30s\nwriteTimeout: 1d\n")
        .unwrap()
        .config;
    assert!(!cfg.rtsp);
    assert_eq!(cfg.rtsp_encryption, Encryption::No);
    assert_eq!(cfg.read_timeout, Duration::from_secs(90));
    assert_eq!(cfg.write_timeout, Duration::from_secs(86_400));
    let cfg =
        load("logLevel: info\nwriteQueueSize: 1024\npaths: {cam: {source: synthetic:1080p}}\n")
            .unwrap()
            .config;
    assert_eq!(cfg.write_queue_size, 1024);
    let m = cfg.path_config("cam").unwrap();
    assert_eq!(
        m.entry.conf.source,
        Source::Synthetic(SyntheticProfile::P1080)
    );
}

#[test]
fn unsupported_sources_warn_and_load() {
    let loaded = load("paths:\n  r:\n    source: rtmp://h/app\n").unwrap();
    let conf = &loaded.config.path_config("r").unwrap().entry.conf;
    assert_eq!(conf.source, Source::Unsupported("rtmp://h/app".into()));
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0].contains("line 3"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn warnings_once_per_key_not_per_occurrence() {
    let yaml = "pathDefaults:\n  rtspAnyPort: yes\npaths:\n  a:\n    rtspAnyPort: no\n  b:\n    rtspAnyPort: yes\n";
    let loaded = load(yaml).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("\"rtspAnyPort\" at line 2"));
    let a = &loaded.config.path_config("a").unwrap().entry.conf;
    // Kept as written; YAML 1.2 reads `no` as a string (typed keys accept it as false).
    assert_eq!(a.unimplemented["rtspAnyPort"], Value::String("no".into()));
}

const PATHS: &str = r#"
pathDefaults:
  maxReaders: 5
paths:
  all_others:
    maxReaders: 1
  '~^cam(\d+)$':
    source: rtsp://10.0.0.$G1/stream
    sourceOnDemand: yes
  cam7:
    source: synthetic
  "~^b":
    maxReaders: 2
  "~^a":
    maxReaders: 3
  "~^(shop)/(.*)?$":
    overridePublisher: no
"#;

#[test]
fn path_matching_and_precedence() {
    let cfg = load(PATHS).unwrap().config;
    // Exact names win over regexes.
    let m = cfg.path_config("cam7").unwrap();
    assert_eq!((m.entry.name.as_str(), m.groups.len()), ("cam7", 0));
    assert_eq!(
        m.entry.conf.max_readers, 5,
        "pathDefaults apply to named paths"
    );
    // Regexes give groups.
    let m = cfg.path_config("cam12").unwrap();
    assert_eq!(m.entry.name, "~^cam(\\d+)$");
    assert_eq!(m.groups, vec!["12".to_owned()]);
    assert!(m.entry.conf.source_on_demand);
    // Among regexes, MediaMTX's order: by name ("~^a" before "~^b"), all_others last.
    let m = cfg.path_config("ab").unwrap();
    assert_eq!(m.entry.conf.max_readers, 3);
    let m = cfg.path_config("ba").unwrap();
    assert_eq!(m.entry.conf.max_readers, 2);
    assert!(
        cfg.path_config("shop/").is_none(),
        "a trailing slash is an invalid name"
    );
    let m = cfg.path_config("shop/x").unwrap();
    assert_eq!(m.groups, vec!["shop".to_owned(), "x".to_owned()]);
    assert!(!m.entry.conf.override_publisher);
    // all_others takes the rest; invalid names match nothing.
    let m = cfg.path_config("zzz").unwrap();
    assert_eq!(
        (m.entry.name.as_str(), m.entry.conf.max_readers),
        ("all_others", 1)
    );
    assert!(cfg.path_config("bad name").is_none());
    assert!(cfg.path_config("/lead").is_none());
    assert!(cfg.path_config("").is_none());
    // File order is kept in `paths`.
    let names: Vec<&str> = cfg.paths.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names[0], "all_others");
}

#[test]
fn path_names_like_mediamtx() {
    for ok in [
        "cam1",
        "a/b",
        "x.y~z-w_v",
        "site:cam",
        "a.b/c.d",
        ".hidden",
        "~x",
    ] {
        assert_eq!(check_path_name(ok), Ok(()), "{ok}");
    }
    for bad in ["", "/a", "a/", "a b", "a?b", "ção", "a%b"] {
        assert!(check_path_name(bad).is_err(), "{bad}");
    }
}

/// (name, what the refusal says)
const UNSAFE_NAMES: &[(&str, &str)] = &[
    ("..", "\"..\""),
    ("../etc", "\"..\""),
    ("a/../b", "\"..\""),
    ("a/..", "\"..\""),
    ("cam..1", "\"..\""),
    ("...", "\"..\""),
    ("a\\b", "backslash"),
    ("..\\x", "backslash"),
    ("a\u{0}b", "control"),
    ("a\nb", "control"),
    ("a\u{1f}", "control"),
    ("a\u{7f}", "control"),
    ("/etc/passwd", "slash"),
    ("cam/", "slash"),
    ("/", "slash"),
    ("a//b", "\"//\""),
    ("", "empty"),
];

#[test]
fn unsafe_path_names_are_refused_with_the_reason() {
    for (name, reason) in UNSAFE_NAMES {
        let problem = check_path_name(name).expect_err(name);
        assert!(problem.contains(reason), "{name:?}: {problem}");
    }
    // Whatever the entries, a lookup by an unsafe name finds nothing.
    let cfg = load("paths:\n  all_others:\n  ~^.*etc$:\n").unwrap().config;
    for (name, _) in UNSAFE_NAMES {
        assert!(cfg.path_config(name).is_none(), "{name:?}");
    }
    assert!(cfg.path_config("etc").is_some());
}

#[test]
fn unsafe_names_in_the_file_name_key_and_line() {
    let e = load("paths:\n  ok:\n  ../etc:\n    source: synthetic\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid value for \"paths.../etc\" at line 3 of test.yml: invalid path name: a path name cannot contain \"..\""
    );
    // A control character can only be written escaped; the key is still named.
    let e = load("paths:\n  \"a\\tb\":\n").unwrap_err();
    assert_eq!(e.key(), Some("paths.a\tb"), "{e}");
    assert!(e.to_string().contains("control characters"), "{e}");
    // A path created by an environment variable is checked too.
    let vars = env(&[("MTX_PATHS_A..B_SOURCE", "synthetic")]);
    let e = Config::from_yaml_str("", "test.yml", &vars).unwrap_err();
    assert_eq!(e.key(), Some("paths.a..b"), "{e}");
}

#[test]
fn recording_keys_are_typed() {
    let yaml = "\
pathDefaults:
  record: yes
  recordPath: s3://city-video/recordings/%path/%s
  recordFormat: fmp4
  recordPartDuration: 500ms
  recordMaxPartSize: 8M
  recordSegmentDuration: 10m
  recordDeleteAfter: 0
paths:
  cam1:
    record: no
    recordPath: /var/rec/%path/%Y/%m/%d/%H-%M-%S-%f
    recordSegmentDuration: 1d
    recordDeleteAfter: 7d
  cam2:
";
    let cfg = load(yaml).unwrap().config;
    let pd = &cfg.path_defaults;
    assert!(pd.record);
    assert_eq!(pd.record_path, "s3://city-video/recordings/%path/%s");
    assert_eq!(pd.record_format, RecordFormat::Fmp4);
    assert_eq!(pd.record_part_duration, Duration::from_millis(500));
    assert_eq!(pd.record_max_part_size, 8 << 20);
    assert_eq!(pd.record_segment_duration, Duration::from_secs(600));
    assert_eq!(
        pd.record_delete_after,
        Duration::ZERO,
        "0 means never delete"
    );
    let cam1 = &cfg.path_config("cam1").unwrap().entry.conf;
    assert!(!cam1.record);
    assert_eq!(cam1.record_path, "/var/rec/%path/%Y/%m/%d/%H-%M-%S-%f");
    assert_eq!(cam1.record_segment_duration, Duration::from_secs(86_400));
    assert_eq!(cam1.record_delete_after, Duration::from_secs(7 * 86_400));
    assert_eq!(cam1.record_part_duration, Duration::from_millis(500));
    let cam2 = &cfg.path_config("cam2").unwrap().entry.conf;
    assert_eq!(cam2.record_path, pd.record_path, "pathDefaults apply");
}

#[test]
fn playback_and_spool_keys_are_typed() {
    let yaml = "\
playback: yes
playbackAddress: 127.0.0.1:9000
playbackEncryption: no
playbackServerKey: /etc/vigia/key.pem
playbackServerCert: /etc/vigia/cert.pem
playbackAllowOrigins: [https://ops.example]
playbackTrustedProxies: [10.0.0.0/8]
recordSpoolDirectory: /var/spool/vigia
recordSpoolMaxSize: 500M
maxConnectionsPerIP: 0
";
    let cfg = load(yaml).unwrap().config;
    assert!(cfg.playback && !cfg.playback_encryption);
    assert_eq!(cfg.playback_address, "127.0.0.1:9000");
    assert_eq!(cfg.playback_server_key, "/etc/vigia/key.pem");
    assert_eq!(cfg.playback_server_cert, "/etc/vigia/cert.pem");
    assert_eq!(cfg.playback_allow_origins, vec!["https://ops.example"]);
    assert_eq!(cfg.playback_trusted_proxies.len(), 1);
    assert_eq!(cfg.record_spool_directory, "/var/spool/vigia");
    assert_eq!(cfg.record_spool_max_size, 500 << 20);
    assert_eq!(cfg.max_connections_per_ip, 0, "0: no cap");
}

#[test]
fn recording_errors_read_well() {
    let e = load("pathDefaults:\n  recordFormat: mpegts\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid value for \"pathDefaults.recordFormat\" at line 2 of test.yml: mpegts is not supported yet by Vigia; use fmp4"
    );
    let e = load("pathDefaults:\n  recordFormat: avi\n").unwrap_err();
    assert!(
        e.to_string()
            .ends_with("\"avi\" is not one of: fmp4, mpegts"),
        "{e}"
    );
    let e = load("paths:\n  cam:\n    recordPath: ./r/%Y-%m-%d_%H-%M-%S\n").unwrap_err();
    assert!(e.to_string().contains("must contain %path"), "{e}");
    let e = load("pathDefaults:\n  recordPath: ./r/%path/%Y%m%d\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("either %s or all of %Y %m %d %H %M %S"),
        "{e}"
    );
    let e = load("pathDefaults:\n  recordPath: s3:///%path/%s\n").unwrap_err();
    assert!(e.to_string().contains("must name a bucket"), "{e}");
    let e = load("pathDefaults:\n  recordSegmentDuration: 0\n").unwrap_err();
    assert!(e.to_string().ends_with("must be greater than zero"), "{e}");
    let e = load("rtspEncryption: optional\nrtspTransports: [udp, multicast]\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("RTSPS carries media only interleaved"),
        "{e}"
    );
    let e = load("recordPath: ./r/%path/%s\n").unwrap_err();
    assert!(
        e.to_string()
            .ends_with("use the same key under pathDefaults instead"),
        "{e}"
    );
}

/// (what, yaml, environment, (logStructured, logDestinations, logFile))
type LogCase = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    (bool, &'static [LogDestination], &'static str),
);

const LOG_CASES: &[LogCase] = &[
    (
        "defaults",
        "",
        &[],
        (false, &[LogDestination::Stdout], "mediamtx.log"),
    ),
    (
        "MediaMTX's spellings",
        "logStructured: yes\nlogDestinations: [stdout, file]\nlogFile: /var/log/vigia.log\nsysLogPrefix: vigia\n",
        &[],
        (
            true,
            &[LogDestination::Stdout, LogDestination::File],
            "/var/log/vigia.log",
        ),
    ),
    (
        "file only, duplicates dropped",
        "logStructured: false\nlogDestinations: [file, file]\n",
        &[],
        (false, &[LogDestination::File], "mediamtx.log"),
    ),
    (
        "no destination",
        "logDestinations: []\n",
        &[],
        (false, &[], "mediamtx.log"),
    ),
    (
        "MTX_ overrides",
        "logStructured: no\n",
        &[
            ("MTX_LOGSTRUCTURED", "yes"),
            ("MTX_LOGDESTINATIONS", "stdout,file"),
            ("MTX_LOGFILE", "/tmp/v.log"),
        ],
        (
            true,
            &[LogDestination::Stdout, LogDestination::File],
            "/tmp/v.log",
        ),
    ),
    (
        "VIGIA_ wins over MTX_",
        "",
        &[("MTX_LOGSTRUCTURED", "no"), ("VIGIA_LOGSTRUCTURED", "true")],
        (true, &[LogDestination::Stdout], "mediamtx.log"),
    ),
];

#[test]
fn log_keys_are_typed() {
    for (what, yaml, vars, (structured, destinations, file)) in LOG_CASES {
        let loaded = Config::from_yaml_str(yaml, "test.yml", &env(vars)).unwrap();
        let cfg = &loaded.config;
        assert_eq!(cfg.log_structured, *structured, "{what}");
        assert_eq!(cfg.log_destinations, *destinations, "{what}");
        assert_eq!(cfg.log_file, *file, "{what}");
        assert!(loaded.warnings.is_empty(), "{what}: {:?}", loaded.warnings);
    }
    let mediamtx = Config::from_yaml_str(MEDIAMTX_YML, "mediamtx.yml", &no_env()).unwrap();
    let d = Config::default();
    assert_eq!(mediamtx.config.log_structured, d.log_structured);
    assert_eq!(mediamtx.config.log_file, d.log_file);
}

#[test]
fn log_errors_read_well() {
    let e = load("logDestinations: [syslog]\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid value for \"logDestinations[0]\" at line 1 of test.yml: syslog is not supported by Vigia yet; use stdout or file (with logStructured: yes for JSON lines)"
    );
    let vars = env(&[("MTX_LOGDESTINATIONS", "file,syslog")]);
    let e = Config::built_in(&vars).unwrap_err();
    assert!(e.to_string().contains("MTX_LOGDESTINATIONS"), "{e}");
    let vars = env(&[("MTX_LOGSTRUCTURED", "jsonl")]);
    let e = Config::built_in(&vars).unwrap_err();
    assert_eq!(e.key(), Some("logStructured"), "{e}");
    assert!(e.to_string().contains("MTX_LOGSTRUCTURED"), "{e}");
}

#[test]
fn env_overrides_like_mediamtx() {
    let vars = env(&[
        ("MTX_RTSPADDRESS", ":9554"),
        ("MTX_RTSPTRANSPORTS", "tcp,udp"),
        ("MTX_RTSP", "no"),
        ("MTX_READTIMEOUT", "3s"),
        ("MTX_PATHDEFAULTS_MAXREADERS", "9"),
        ("MTX_PATHS_CAM1_SOURCE", "rtsp://cam1.local/s"),
        ("MTX_PATHS_CAM_2_SOURCE", "synthetic"),
        ("MTX_PATHS_EXISTING_OVERRIDEPUBLISHER", "false"),
        ("MTX_WEBRTCLOCALTCPADDRESS", ":9889"),
        ("MTX_UNRELATED_THING", "ignored"),
        ("MTX_PATHDEFAULTS_RECORD", "yes"),
        ("MTX_PATHS_CAM1_RECORDSEGMENTDURATION", "30m"),
        ("MTX_PLAYBACK", "yes"),
        (
            "MTX_PLAYBACKALLOWORIGINS",
            "https://a.example,https://b.example",
        ),
        ("MTX_HLSTRUSTEDPROXIES", "10.0.0.0/8,192.168.0.0/16"),
        ("VIGIA_RECORDSPOOLMAXSIZE", "10G"),
        ("VIGIA_EVENTSURL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
        ("VIGIA_RTSPADDRESS", ":7554"),
    ]);
    let yaml = "rtspAddress: :8554\npaths:\n  Existing:\n  all_others:\n";
    let loaded = Config::from_yaml_str(yaml, "test.yml", &vars).unwrap();
    let cfg = &loaded.config;
    assert_eq!(cfg.rtsp_address, ":7554", "VIGIA_ wins over MTX_");
    assert_eq!(
        cfg.rtsp_transports,
        vec![RtspTransport::Tcp, RtspTransport::Udp]
    );
    assert!(!cfg.rtsp);
    assert_eq!(cfg.read_timeout, Duration::from_secs(3));
    assert_eq!(
        cfg.events_url.as_deref(),
        Some("amqp://guest:guest@127.0.0.1:5672/%2f")
    );
    let cam1 = cfg.path_config("cam1").unwrap();
    assert_eq!(cam1.entry.name, "cam1");
    assert_eq!(
        cam1.entry.conf.source,
        Source::Rtsp("rtsp://cam1.local/s".into())
    );
    assert_eq!(cam1.entry.conf.max_readers, 9);
    assert!(cam1.entry.conf.record, "from MTX_PATHDEFAULTS_RECORD");
    assert_eq!(
        cam1.entry.conf.record_segment_duration,
        Duration::from_secs(1800)
    );
    assert!(cfg.playback);
    assert_eq!(
        cfg.playback_allow_origins,
        vec!["https://a.example", "https://b.example"]
    );
    assert_eq!(cfg.hls.trusted_proxies.len(), 2);
    assert_eq!(cfg.record_spool_max_size, 10 << 30);
    let cam2 = cfg.path_config("cam_2").unwrap();
    assert_eq!(
        cam2.entry.conf.source,
        Source::Synthetic(SyntheticProfile::Default)
    );
    let existing = cfg.path_config("Existing").unwrap();
    assert!(!existing.entry.conf.override_publisher);
    assert_eq!(
        cfg.unimplemented["webrtcLocalTCPAddress"],
        Value::String(":9889".into())
    );
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("environment variable MTX_WEBRTCLOCALTCPADDRESS"));
}

#[test]
fn env_errors_name_the_variable() {
    let vars = env(&[("MTX_READTIMEOUT", "soon")]);
    let err = Config::from_yaml_str("readTimeout: 10s\n", "test.yml", &vars).unwrap_err();
    assert_eq!(err.key(), Some("readTimeout"));
    assert!(
        err.to_string()
            .contains("in environment variable MTX_READTIMEOUT"),
        "{err}"
    );
    let vars = env(&[("MTX_RTSPTRANSPORTS", "tcp,bogus")]);
    let err = Config::built_in(&vars).unwrap_err();
    assert!(err.to_string().contains("MTX_RTSPTRANSPORTS"), "{err}");
    let vars = env(&[("MTX_PATHDEFAULTS_RECORDFORMAT", "mpegts")]);
    let err = Config::built_in(&vars).unwrap_err();
    assert_eq!(err.key(), Some("pathDefaults.recordFormat"));
    assert!(
        err.to_string()
            .contains("in environment variable MTX_PATHDEFAULTS_RECORDFORMAT"),
        "{err}"
    );
}

#[test]
fn env_edits_default_users() {
    let vars = env(&[
        ("MTX_AUTHINTERNALUSERS_0_USER", "admin"),
        ("MTX_AUTHINTERNALUSERS_0_PASS", "secret"),
        ("MTX_AUTHINTERNALUSERS_0_IPS", "10.0.0.0/8,192.168.1.1"),
    ]);
    let cfg = Config::built_in(&vars).unwrap().config;
    assert_eq!(cfg.auth_internal_users.len(), 2);
    let u = &cfg.auth_internal_users[0];
    assert_eq!(u.user, Credential::Plain("admin".into()));
    assert_eq!(u.ips.len(), 2);
    assert_eq!(
        u.permissions.len(),
        3,
        "the default user's permissions are kept"
    );
    assert!(cfg.auth_internal_users[1].is_any());
}

const USERS: &str = r#"
authInternalUsers:
  - user: any
    permissions:
      - action: read
        path: ~^public/
  - user: any
    ips: ["127.0.0.1", "::1"]
    permissions:
      - action: api
  - user: cam
    pass: sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=
    ips: [10.0.0.0/8]
    permissions:
      - action: publish
        path: cam1
  - user: ops
    pass: plainpass
    permissions:
      - action: read
      - action: playback
        path:
"#;

fn req<'a>(
    user: Option<&'a str>,
    pass: Option<&'a str>,
    from: &str,
    action: AuthAction,
    path: Option<&'a str>,
) -> AuthRequest<'a> {
    AuthRequest {
        user,
        pass,
        ip: ip(from),
        action,
        path,
    }
}

#[test]
fn authorization_like_mediamtx() {
    use AuthAction::*;
    let cfg = load(USERS).unwrap().config;
    let allow = |r: AuthRequest<'_>| cfg.authorize(&r) == AuthDecision::Allow;
    // `any` needs no credentials, but only where its permissions reach.
    assert!(allow(req(None, None, "8.8.8.8", Read, Some("public/cam"))));
    assert!(allow(req(
        Some("x"),
        Some("y"),
        "8.8.8.8",
        Read,
        Some("public/cam")
    )));
    assert!(!allow(req(
        None,
        None,
        "8.8.8.8",
        Read,
        Some("private/cam")
    )));
    assert_eq!(
        cfg.authorize(&req(None, None, "8.8.8.8", Read, Some("private"))),
        AuthDecision::Deny {
            ask_credentials: true
        }
    );
    // IP-restricted `any`.
    assert!(allow(req(None, None, "127.0.0.1", Api, None)));
    assert!(allow(req(None, None, "::1", Api, None)));
    assert!(!allow(req(None, None, "10.1.1.1", Api, None)));
    // sha256 password, CIDR, exact path.
    assert!(allow(req(
        Some("cam"),
        Some("abc"),
        "10.9.8.7",
        Publish,
        Some("cam1")
    )));
    assert!(!allow(req(
        Some("cam"),
        Some("abd"),
        "10.9.8.7",
        Publish,
        Some("cam1")
    )));
    assert!(!allow(req(
        Some("cam"),
        Some("abc"),
        "11.0.0.1",
        Publish,
        Some("cam1")
    )));
    assert!(!allow(req(
        Some("cam"),
        Some("abc"),
        "10.9.8.7",
        Publish,
        Some("cam2")
    )));
    assert_eq!(
        cfg.authorize(&req(
            Some("cam"),
            Some("bad"),
            "10.0.0.1",
            Publish,
            Some("cam1")
        )),
        AuthDecision::Deny {
            ask_credentials: false
        }
    );
    // Plain password; empty permission path = any path.
    assert!(allow(req(
        Some("ops"),
        Some("plainpass"),
        "1.2.3.4",
        Read,
        Some("x/y")
    )));
    assert!(allow(req(
        Some("ops"),
        Some("plainpass"),
        "1.2.3.4",
        Playback,
        Some("z")
    )));
    assert!(!allow(req(
        Some("ops"),
        Some("nope"),
        "1.2.3.4",
        Read,
        Some("x")
    )));
    assert!(!allow(req(
        Some("ops"),
        Some("plainpass"),
        "1.2.3.4",
        Publish,
        Some("x")
    )));
}

#[test]
fn default_users_allow_everyone_to_publish_and_localhost_to_use_api() {
    use AuthAction::*;
    let cfg = Config::default();
    let allow = |r: AuthRequest<'_>| cfg.authorize(&r) == AuthDecision::Allow;
    assert!(allow(req(None, None, "203.0.113.9", Publish, Some("cam"))));
    assert!(allow(req(None, None, "203.0.113.9", Playback, Some("cam"))));
    assert!(!allow(req(None, None, "203.0.113.9", Metrics, None)));
    assert!(allow(req(None, None, "127.0.0.1", Metrics, None)));
}

#[test]
fn unquoted_regex_and_numeric_path_names() {
    let cfg = load("paths:\n  ~^live/(.+)$:\n  123:\n    source: synthetic\n")
        .unwrap()
        .config;
    let m = cfg.path_config("live/a").unwrap();
    assert_eq!(m.groups, vec!["a".to_owned()]);
    let m = cfg.path_config("123").unwrap();
    assert_eq!(
        m.entry.conf.source,
        Source::Synthetic(SyntheticProfile::Default)
    );
}

#[test]
fn source_variables_are_substituted_per_request() {
    let yaml = "paths:\n  '~^cam(\\d+)_(\\d+)$':\n    source: rtsp://10.0.$G1.$G2/s?p=$MTX_PATH&$MTX_QUERY\n    sourceOnDemand: yes\n";
    let cfg = load(yaml).unwrap().config;
    let m = cfg.path_config("cam3_10").unwrap();
    let conf = m.conf_for("cam3_10", "a=1");
    assert_eq!(
        conf.source,
        Source::Rtsp("rtsp://10.0.3.10/s?p=cam3_10&a=1".into())
    );
}

#[test]
fn events_health_interval_defaults_to_10s_and_must_be_positive() {
    let cfg = load("").unwrap().config;
    assert_eq!(cfg.events_health_interval, Duration::from_secs(10));
    let cfg = load("eventsHealthInterval: 2500ms\n").unwrap().config;
    assert_eq!(cfg.events_health_interval, Duration::from_millis(2500));
    let env = HashMap::from([("VIGIA_EVENTSHEALTHINTERVAL".to_owned(), "30s".to_owned())]);
    let cfg = Config::from_yaml_str("", "test.yml", &env).unwrap().config;
    assert_eq!(cfg.events_health_interval, Duration::from_secs(30));
    for bad in ["eventsHealthInterval: 0s\n", "eventsHealthInterval: soon\n"] {
        let err = load(bad).unwrap_err().to_string();
        assert!(err.contains("eventsHealthInterval"), "{bad}: {err}");
    }
}

/// `value` as an environment variable gives it: scalars as written, lists of scalars
/// comma-separated; `None` for lists of objects and mappings (set through indexed variables).
fn env_text(value: &Value) -> Option<String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match value {
        Value::Sequence(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        other => scalar(other),
    }
}

#[test]
fn every_key_of_the_mediamtx_file_takes_an_env_override() {
    let tree: serde_yaml::Mapping = serde_yaml::from_str(MEDIAMTX_YML).unwrap();
    let mut vars = HashMap::new();
    let mut add = |prefix: &str, map: &serde_yaml::Mapping| {
        for (key, value) in map {
            let (Some(key), Some(text)) = (key.as_str(), env_text(value)) else {
                continue;
            };
            vars.insert(format!("{prefix}{}", key.to_ascii_uppercase()), text);
        }
    };
    add("MTX_", &tree);
    add(
        "MTX_PATHDEFAULTS_",
        tree["pathDefaults"].as_mapping().unwrap(),
    );
    assert!(vars.len() > 150, "{} variables", vars.len());
    let typed = |vars: &HashMap<String, String>| {
        let mut cfg = Config::from_yaml_str(MEDIAMTX_YML, "mediamtx.yml", vars)
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
        // Keys Vigia does not implement are kept as the YAML gave them: strings from the
        // environment, typed from the file.
        cfg.unimplemented.clear();
        cfg.path_defaults.unimplemented.clear();
        cfg.paths
            .iter_mut()
            .for_each(|p| p.conf.unimplemented.clear());
        format!("{cfg:?}")
    };
    assert_eq!(
        typed(&vars),
        typed(&no_env()),
        "every key set to its own value through the environment changes nothing"
    );
}

#[test]
fn webrtc_ice_servers_and_handshake_timeout_are_read_and_checked() {
    let text = "webrtcHandshakeTimeout: 3s\nwebrtcICEServers2:\n  - url: stun:stun.example:3478\n  \
                - url: turn:turn.example:3478\n    username: AUTH_SECRET\n    password: s3cret\n    \
                clientOnly: true\n";
    let cfg = load(text).unwrap().config;
    let servers = &cfg.webrtc.ice_servers;
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[0].url, "stun:stun.example:3478");
    assert!(servers[1].client_only);
    assert_eq!(cfg.webrtc.handshake_timeout, Duration::from_secs(3));

    let err = load("webrtcICEServers2:\n  - url: http://x\n")
        .err()
        .unwrap();
    assert!(err.to_string().contains("stun:"), "{err}");
    let err = load("webrtcICEServers2:\n  - url: turn:x\n    username: u\n")
        .err()
        .unwrap();
    assert!(err.to_string().contains("username and password"), "{err}");
    let err = load("webrtcICEServers2:\n  - url: stun:x\n    port: 1\n")
        .err()
        .unwrap();
    assert!(err.to_string().contains("port"), "{err}");
    let err = load("webrtcHandshakeTimeout: 0s\n").err().unwrap();
    assert!(err.to_string().contains("webrtcHandshakeTimeout"), "{err}");
}
