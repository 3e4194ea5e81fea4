//! The control API (`api: yes`) against a running server: the JSON of paths, RTSP connections
//! and sessions validates against the schemas of the repository's `api/openapi.yaml` and of
//! MediaMTX's own API document (`testdata/mediamtx-openapi.yaml`); a kicked session's connection closes and the session is gone; bad
//! input gets MediaMTX's 400 error body; a path added through the API is still there, and
//! streaming, after a restart on the same state directory; paths of the config file patched,
//! replaced and deleted through the API stay so across a restart and a reload of the file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigia_conformance::http::{Response, get, request};
use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::tools::tool_bin;
use vigia_conformance::{Background, TempDir, Vigia, eventually, free_port, free_udp_pair};

/// Ports and state directory of one server, kept across its restart.
struct Setup {
    api: u16,
    rtsp: u16,
    hls: u16,
    rtp: u16,
    state: TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            api: free_port(),
            rtsp: free_port(),
            hls: free_port(),
            rtp: free_udp_pair(),
            state: TempDir::new("vigia-api-state"),
        }
    }

    /// The config: the API on, the synthetic `demo`, anything else publishable.
    fn yaml(&self) -> String {
        format!(
            "api: yes\napiAddress: 127.0.0.1:{}\nrtspAddress: 127.0.0.1:{}\nrtpAddress: :{}\nrtcpAddress: :{}\nrtspTransports: [tcp, udp]\nhlsAddress: 127.0.0.1:{}\nrecordSpoolDirectory: {}\npaths:\n  demo:\n    source: synthetic\n  all_others:\n",
            self.api,
            self.rtsp,
            self.rtp,
            self.rtp + 1,
            self.hls,
            self.spool().display()
        )
    }

    fn spool(&self) -> PathBuf {
        self.state.path().join("spool")
    }

    /// Starts vigia and waits for its RTSP port: vigia opens RTSP last, so every listener is
    /// open then (the API's opens first; a test that waited for it found RTSP refused).
    fn start(&self) -> Vigia {
        Vigia::start(&self.yaml(), self.rtsp)
    }

    fn rtsp_url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{path}", self.rtsp)
    }

    /// `method /v3/<route>` with a JSON body; the status and the parsed JSON answer.
    fn call(&self, method: &str, route: &str, body: Option<&str>) -> (u16, Value) {
        let target = format!("/v3/{route}");
        let headers = ["Content-Type: application/json"];
        let answer: Response =
            request(self.api, method, &target, &headers, body.map(str::as_bytes))
                .unwrap_or_else(|| panic!("{method} {target}: no answer"));
        let value = serde_json::from_slice(&answer.body)
            .unwrap_or_else(|e| panic!("{method} {target}: not JSON ({e}): {}", answer.text()));
        (answer.status, value)
    }

    /// `GET /v3/<route>`, which must answer 200.
    fn get(&self, route: &str) -> Value {
        let (status, value) = self.call("GET", route, None);
        assert_eq!(status, 200, "GET {route}: {value}");
        value
    }
}

/// Validates `value` against `#/components/schemas/<schema>` of Vigia's `api/openapi.yaml`.
fn assert_shape(schema: &str, value: &Value) {
    let document = openapi("../api/openapi.yaml");
    validate(document, "api/openapi.yaml", schema, value);
}

/// Validates `value` against `#/components/schemas/<schema>` of MediaMTX's own API document
/// (`conformance/testdata/mediamtx-openapi.yaml`, OpenAPI 3.0: `nullable` is rewritten as JSON
/// Schema's `null` type).
fn assert_mediamtx_shape(schema: &str, value: &Value) {
    let mut document = openapi("testdata/mediamtx-openapi.yaml");
    rewrite_nullable(&mut document);
    validate(document, "MediaMTX's openapi.yaml", schema, value);
}

fn openapi(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `{…, nullable: true}` → `{anyOf: [{type: null}, {…}]}`, everywhere in `node`.
fn rewrite_nullable(node: &mut Value) {
    match node {
        Value::Object(map) => {
            map.values_mut().for_each(rewrite_nullable);
            if map.remove("nullable") == Some(json!(true)) {
                let inner = Value::Object(std::mem::take(map));
                map.insert("anyOf".into(), json!([{"type": "null"}, inner]));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_nullable),
        _ => {}
    }
}

fn validate(mut document: Value, name: &str, schema: &str, value: &Value) {
    document["$ref"] = json!(format!("#/components/schemas/{schema}"));
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&document)
        .unwrap_or_else(|e| panic!("{name}: {schema}: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{name}: {schema}: {errors:?}\n{value:#}");
}

/// The session of `list` (an `RTSPSessionList`) on `path` in `state`.
fn session_id(list: &Value, path: &str, state: &str) -> Option<String> {
    list["items"].as_array()?.iter().find_map(|s| {
        (s["path"] == path && s["state"] == state).then(|| s["id"].as_str().map(str::to_owned))?
    })
}

#[test]
fn live_state_matches_the_shapes_a_kicked_session_is_gone_and_api_paths_survive_a_restart() {
    let setup = Setup::new();
    let mut vigia = setup.start();
    let _publisher = Background::start(
        "ffmpeg",
        &[
            "-loglevel",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            &setup.rtsp_url("demo"),
            "-c",
            "copy",
            "-f",
            "rtsp",
            "-rtsp_transport",
            "tcp",
            &setup.rtsp_url("cam1"),
        ],
    );
    let online = eventually(Duration::from_secs(20), || {
        let (status, path) = setup.call("GET", "paths/get/cam1", None);
        (status == 200 && path["online"] == true).then_some(())
    });
    assert!(
        online.is_some(),
        "cam1 never came online:\n{}",
        vigia.logs()
    );
    let mut reader = RtspClient::connect(setup.rtsp, &setup.rtsp_url("cam1")).expect("connect");
    reader.play_tcp().expect("play cam1");
    reader.read_frame().expect("a first frame");

    let sessions = eventually(Duration::from_secs(5), || {
        let list = setup.get("rtspsessions/list");
        session_id(&list, "cam1", "read").map(|_| list)
    })
    .expect("the reader's session is listed");
    check_shapes(&setup, &sessions);
    check_bad_input(&setup);

    let reader_session = session_id(&sessions, "cam1", "read").unwrap();
    kick(&setup, &reader_session, &mut reader);

    add_path(&setup);
    vigia.stop();
    let _vigia = setup.start();
    restored(&setup);
}

/// schemathesis (installed by `scripts/install-deps.sh`) against a running server: every
/// operation of `api/openapi.yaml` with generated valid and invalid input (a fixed seed, so a
/// run is repeatable); the answers must have the documented status codes, content type and
/// schemas, invalid input must get a 4xx, and nothing may fail with a 5xx. Schema-valid bodies
/// the server refuses are not counted as failures (`positive_data_acceptance` is off): path keys
/// are checked by the config loader, which refuses unknown keys and names already taken, as
/// the 400 answers in the document say.
#[test]
fn schemathesis_finds_nothing_against_api_openapi_yaml() {
    let bin = tool_bin("schemathesis", "VIGIA_SCHEMATHESIS", "schemathesis 4.32.5");
    let setup = Setup::new();
    // Schemathesis calls far faster than httpRateLimit lets one client (the limits have their
    // own test, rate_limits.rs): its 429s would hide what it is here to find.
    let _vigia = Vigia::start(&format!("httpRateLimit: 0\n{}", setup.yaml()), setup.rtsp);
    let document = Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/openapi.yaml");
    let url = format!("http://127.0.0.1:{}", setup.api);
    let args = [
        "run",
        document.to_str().unwrap(),
        "--url",
        &url,
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--seed",
        "1",
        "--max-examples",
        "25",
        "--generation-database",
        "none",
    ];
    // In a scratch directory: schemathesis and hypothesis leave caches in their working one.
    let scratch = TempDir::new("vigia-schemathesis");
    let out = std::process::Command::new("timeout")
        .arg("180")
        .arg(&bin)
        .args(args)
        .current_dir(scratch.path())
        .output()
        .expect("run schemathesis");
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every request needs the `api` action of `authInternalUsers`: without credentials a 401
/// with MediaMTX's error body and a Basic challenge, with the user's a 200.
#[test]
fn the_api_needs_the_api_permission() {
    let setup = Setup::new();
    let users =
        "authInternalUsers:\n- user: admin\n  pass: secret\n  permissions:\n  - action: api\n";
    let _vigia = Vigia::start(&format!("{}{users}", setup.yaml()), setup.rtsp);
    let anonymous = request(setup.api, "GET", "/v3/paths/list", &[], None).expect("answer");
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    assert!(
        anonymous
            .header("www-authenticate")
            .is_some_and(|c| c.starts_with("Basic"))
    );
    let body: Value = serde_json::from_slice(&anonymous.body).expect("JSON");
    assert_shape("Error", &body);
    // admin:secret
    let admin = ["Authorization: Basic YWRtaW46c2VjcmV0"];
    let allowed = request(setup.api, "GET", "/v3/paths/list", &admin, None).expect("answer");
    assert_eq!(allowed.status, 200, "{}", allowed.text());
}

/// A recorded path is listed with its segments (both documents' `Recording` shape), and one
/// segment deleted by the API leaves the list; deleting it again is a 404.
#[test]
fn recordings_are_listed_and_a_segment_is_deleted() {
    let setup = Setup::new();
    let store = setup.state.path().join("recordings");
    let recorded = format!(
        "  rec:\n    source: synthetic\n    record: yes\n    recordSegmentDuration: 1s\n    recordPath: {}/%path/%Y-%m-%d_%H-%M-%S-%f\n",
        store.display()
    );
    let _vigia = Vigia::start(&format!("{}{recorded}", setup.yaml()), setup.rtsp);
    let recording = eventually(Duration::from_secs(30), || {
        let (status, value) = setup.call("GET", "recordings/get/rec", None);
        let count = value["segments"].as_array().map_or(0, Vec::len);
        (status == 200 && count >= 2).then_some(value)
    })
    .expect("two segments of rec are listed");
    assert_shape("Recording", &recording);
    assert_mediamtx_shape("Recording", &recording);
    let list = setup.get("recordings/list");
    assert_shape("RecordingList", &list);
    assert_mediamtx_shape("RecordingList", &list);
    let start = recording["segments"][0]["start"]
        .as_str()
        .unwrap()
        .to_string();
    let route = format!("recordings/deletesegment?path=rec&start={start}");
    let (status, value) = setup.call("DELETE", &route, None);
    assert_eq!((status, &value), (200, &json!({"status": "ok"})));
    let after = setup.get("recordings/get/rec");
    let starts: Vec<&Value> = after["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["start"])
        .collect();
    assert!(!starts.contains(&&json!(start)), "{after}");
    let (status, _) = setup.call("DELETE", &route, None);
    assert_eq!(status, 404);
}

/// Paths, connections and sessions validate, and point at each other.
fn check_shapes(setup: &Setup, sessions: &Value) {
    assert_shape("RTSPSessionList", sessions);
    assert_mediamtx_shape("RTSPSessionList", sessions);
    let publisher = session_id(sessions, "cam1", "publish").expect("the publisher's session");
    let reader = session_id(sessions, "cam1", "read").unwrap();
    let session = setup.get(&format!("rtspsessions/get/{reader}"));
    assert_shape("RTSPSession", &session);
    assert_mediamtx_shape("RTSPSession", &session);
    assert_eq!(session["transport"], "TCP");

    let paths = setup.get("paths/list");
    assert_shape("PathList", &paths);
    let cam1 = setup.get("paths/get/cam1");
    assert_shape("Path", &cam1);
    assert_mediamtx_shape("Path", &cam1);
    assert_eq!(cam1["confName"], "all_others");
    assert_eq!(
        cam1["source"],
        json!({"type": "rtspSession", "id": publisher})
    );
    assert_eq!(
        cam1["readers"],
        json!([{"type": "rtspSession", "id": reader}])
    );
    assert!(cam1["inboundBytes"].as_u64().unwrap() > 0, "{cam1}");

    let conns = setup.get("rtspconns/list");
    assert_shape("RTSPConnList", &conns);
    assert_mediamtx_shape("RTSPConnList", &conns);
    let conn_id = session["conns"][0].as_str().unwrap();
    let conn = setup.get(&format!("rtspconns/get/{conn_id}"));
    assert_shape("RTSPConn", &conn);
    assert_mediamtx_shape("RTSPConn", &conn);
    assert_eq!(conn["session"], json!(reader));
    assert!(conn["outboundBytes"].as_u64().unwrap() > 0, "{conn}");

    let page = setup.get("paths/list?itemsPerPage=1&page=1");
    assert_shape("PathList", &page);
    assert_eq!(page["itemCount"], paths["itemCount"]);
    assert_eq!(page["pageCount"], paths["itemCount"]);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    check_hls_muxer(setup);
    assert_shape("PathConfList", &setup.get("config/paths/list"));
    assert_shape("GlobalConf", &setup.get("config/global/get"));
    assert_shape("PathDefaults", &setup.get("config/pathdefaults/get"));
}

/// An HLS viewer's request makes a muxer, listed with MediaMTX's shape.
fn check_hls_muxer(setup: &Setup) {
    let playlist = get(setup.hls, "/cam1/index.m3u8", &[]).expect("HLS answers");
    assert_eq!(playlist.status, 200, "{}", playlist.text());
    let muxers = setup.get("hlsmuxers/list");
    assert_shape("HLSMuxerList", &muxers);
    assert_mediamtx_shape("HLSMuxerList", &muxers);
    let muxer = setup.get("hlsmuxers/get/cam1");
    assert_shape("HLSMuxer", &muxer);
    assert!(muxer["outboundBytes"].as_u64().unwrap() > 0, "{muxer}");
}

/// MediaMTX's error body, 400 naming what was wrong, 404 for what does not exist.
fn check_bad_input(setup: &Setup) {
    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        (
            "GET",
            "paths/list?itemsPerPage=0",
            None,
            400,
            "itemsPerPage",
        ),
        ("GET", "paths/list?page=x", None, 400, "page"),
        ("GET", "paths/get/nothing-here", None, 404, "path not found"),
        (
            "GET",
            "rtspsessions/get/not-a-uuid",
            None,
            400,
            "invalid id",
        ),
        (
            "POST",
            "rtspsessions/kick/8c4a3a1e-1cc7-4d0e-9f4e-3d3ff6e0b6a1",
            None,
            404,
            "session not found",
        ),
        (
            "POST",
            "config/paths/add/bad1",
            Some("{\"source\":"),
            400,
            "invalid JSON",
        ),
        (
            "POST",
            "config/paths/add/bad2",
            Some("[1]"),
            400,
            "JSON object",
        ),
        (
            "POST",
            "config/paths/add/bad3",
            Some("{\"sorce\":\"synthetic\"}"),
            400,
            "sorce",
        ),
        (
            "POST",
            "config/paths/add/bad4",
            Some("{\"maxReaders\":\"many\"}"),
            400,
            "maxReaders",
        ),
        (
            "POST",
            "config/paths/add/a..b",
            Some("{}"),
            400,
            "invalid path name",
        ),
        (
            "POST",
            "config/paths/add/demo",
            Some("{}"),
            400,
            "already exists",
        ),
        (
            "PATCH",
            "config/paths/patch/demo",
            Some("{\"nope\":1}"),
            400,
            "nope",
        ),
        (
            "DELETE",
            "config/paths/delete/nothing-here",
            None,
            404,
            "not found",
        ),
        (
            "DELETE",
            "recordings/deletesegment?path=cam1",
            None,
            400,
            "start",
        ),
    ];
    for (method, route, body, status, message) in cases {
        let (got, value) = setup.call(method, route, *body);
        assert_eq!(got, *status, "{method} {route}: {value}");
        assert_shape("Error", &value);
        let error = value["error"].as_str().unwrap();
        assert!(error.contains(message), "{method} {route}: {error}");
    }
}

/// Kicks the reader: its connection closes and the session is no longer listed.
fn kick(setup: &Setup, id: &str, reader: &mut RtspClient) {
    let (status, value) = setup.call("POST", &format!("rtspsessions/kick/{id}"), None);
    assert_eq!((status, &value), (200, &json!({"status": "ok"})));
    // Frames already in the socket buffers still arrive; then the connection ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    while reader.read_frame().is_ok() {
        assert!(
            Instant::now() < deadline,
            "the kicked reader's connection stayed open"
        );
    }
    let (status, _) = setup.call("GET", &format!("rtspsessions/get/{id}"), None);
    assert_eq!(status, 404);
    let gone = eventually(Duration::from_secs(5), || {
        session_id(&setup.get("rtspsessions/list"), "cam1", "read")
            .is_none()
            .then_some(())
    });
    assert!(gone.is_some(), "the kicked session is still listed");
}

/// Adds `api1` (synthetic) and changes it: it streams at once and is in the state file. Changes
/// `pathDefaults` and a global key for the next start (a bad value is refused).
fn add_path(setup: &Setup) {
    let (status, value) = setup.call(
        "POST",
        "config/paths/add/api1",
        Some("{\"source\":\"synthetic\"}"),
    );
    assert_eq!((status, &value), (200, &json!({"status": "ok"})));
    let (status, _) = setup.call(
        "PATCH",
        "config/paths/patch/api1",
        Some("{\"maxReaders\":5}"),
    );
    assert_eq!(status, 200);
    let conf = setup.get("config/paths/get/api1");
    assert_shape("PathConf", &conf);
    assert_eq!(
        (&conf["source"], &conf["maxReaders"]),
        (&json!("synthetic"), &json!(5))
    );
    streams(setup, "api1");
    let patches = [
        ("config/pathdefaults/patch", "{\"maxReaders\":7}", 200),
        ("config/global/patch", "{\"readTimeout\":\"7s\"}", 200),
        ("config/global/patch", "{\"readTimeout\":\"soon\"}", 400),
        (
            "config/global/patch",
            "{\"recordSpoolDirectory\":\"/x\"}",
            400,
        ),
    ];
    for (route, body, status) in patches {
        let (got, value) = setup.call("PATCH", route, Some(body));
        assert_eq!(got, status, "PATCH {route} {body}: {value}");
    }
    let file = PathBuf::from(format!("{}.state/api-paths.json", setup.spool().display()));
    let saved = std::fs::read_to_string(&file).expect("the API's state file");
    assert!(saved.contains("api1"), "{saved}");
}

/// After the restart: `api1` is configured as it was left and streams; the global and
/// `pathDefaults` changes are in force.
fn restored(setup: &Setup) {
    assert_eq!(setup.get("config/global/get")["readTimeout"], "7s");
    assert_eq!(setup.get("config/pathdefaults/get")["maxReaders"], 7);
    let conf = setup.get("config/paths/get/api1");
    assert_eq!(
        (&conf["source"], &conf["maxReaders"]),
        (&json!("synthetic"), &json!(5))
    );
    streams(setup, "api1");
    let (status, _) = setup.call("DELETE", "config/paths/delete/api1", None);
    assert_eq!(status, 200);
    let (status, _) = setup.call("GET", "config/paths/get/api1", None);
    assert_eq!(status, 404);
}

fn streams(setup: &Setup, path: &str) {
    let online = eventually(Duration::from_secs(10), || {
        let (status, value) = setup.call("GET", &format!("paths/get/{path}"), None);
        (status == 200 && value["online"] == true).then_some(value)
    })
    .unwrap_or_else(|| panic!("{path} is not streaming"));
    assert_shape("Path", &online);
    assert_eq!(online["source"]["type"], "synthetic");
    let mut reader = RtspClient::connect(setup.rtsp, &setup.rtsp_url(path)).expect("connect");
    reader.play_tcp().expect("play");
    reader.read_frame().expect("a frame");
}

/// `Setup`'s listeners with the config file's paths `fixed` and `gone` (synthetic), written to
/// `dir/vigia.yml`, plus `extra` lines under `fixed`.
fn file_paths_yaml(setup: &Setup, extra: &str) -> String {
    format!(
        "api: yes\napiAddress: 127.0.0.1:{}\nrtspAddress: 127.0.0.1:{}\nrtpAddress: :{}\nrtcpAddress: :{}\nhlsAddress: 127.0.0.1:{}\nrecordSpoolDirectory: {}\npaths:\n  fixed:\n    source: synthetic\n    maxReaders: 1\n{extra}  gone:\n    source: synthetic\n",
        setup.api,
        setup.rtsp,
        setup.rtp,
        setup.rtp + 1,
        setup.hls,
        setup.spool().display()
    )
}

/// Starts vigia on `yaml` in a fresh directory; the config file's path too.
fn start_with_file(setup: &Setup, yaml: &str) -> (Vigia, PathBuf) {
    let dir = TempDir::new("vigia-api-file");
    let file = dir.path().join("vigia.yml");
    std::fs::write(&file, yaml).expect("write config");
    (Vigia::spawn(dir, &["vigia.yml"], &[], setup.rtsp), file)
}

/// The RTSP status of a DESCRIBE of `path`.
fn describe(setup: &Setup, path: &str) -> u16 {
    let url = setup.rtsp_url(path);
    let mut client = RtspClient::connect(setup.rtsp, &url).expect("connect");
    let answer = client.request("DESCRIBE", &url, &["Accept: application/sdp"]);
    answer.map(|r| r.status).unwrap_or(0)
}

/// MediaMTX lets the API patch, replace and delete the config file's paths; Vigia keeps those
/// changes as an override of the file's entries, applied at once, after a restart and after
/// a reload of the file (a patch is laid over the file's keys, a deleted path stays deleted
/// until the API adds it again).
#[test]
fn config_file_paths_changed_through_the_api_stay_changed() {
    let setup = Setup::new();
    let (mut vigia, _) = start_with_file(&setup, &file_paths_yaml(&setup, ""));
    let call = |method: &str, route: &str, body: Option<&str>| {
        let (status, value) = setup.call(method, route, body);
        assert_eq!(status, 200, "{method} {route}: {value}");
    };
    call(
        "PATCH",
        "config/paths/patch/fixed",
        Some("{\"maxReaders\":3}"),
    );
    call("DELETE", "config/paths/delete/gone", None);
    let conf = setup.get("config/paths/get/fixed");
    assert_eq!(
        (&conf["maxReaders"], &conf["source"]),
        (&json!(3), &json!("synthetic"))
    );
    assert_eq!(setup.call("GET", "config/paths/get/gone", None).0, 404);
    assert_eq!(describe(&setup, "gone"), 404, "{}", vigia.logs());
    streams(&setup, "fixed");

    vigia.stop();
    let (vigia, file) = start_with_file(&setup, &file_paths_yaml(&setup, ""));
    assert_eq!(setup.get("config/paths/get/fixed")["maxReaders"], 3);
    assert_eq!(setup.call("GET", "config/paths/get/gone", None).0, 404);

    std::fs::write(
        &file,
        file_paths_yaml(&setup, "    overridePublisher: no\n"),
    )
    .unwrap();
    let reloaded = eventually(Duration::from_secs(15), || {
        let conf = setup.get("config/paths/get/fixed");
        (conf["overridePublisher"] == false).then_some(conf)
    });
    let conf = reloaded.unwrap_or_else(|| panic!("not reloaded:\n{}", vigia.logs()));
    assert_eq!(
        conf["maxReaders"], 3,
        "the patch still lies over the file's keys"
    );
    assert_eq!(setup.call("GET", "config/paths/get/gone", None).0, 404);

    call(
        "POST",
        "config/paths/add/gone",
        Some("{\"source\":\"synthetic\"}"),
    );
    streams(&setup, "gone");
    call(
        "POST",
        "config/paths/replace/fixed",
        Some("{\"source\":\"synthetic\"}"),
    );
    let conf = setup.get("config/paths/get/fixed");
    assert_eq!(
        (&conf["maxReaders"], &conf["overridePublisher"]),
        (&json!(0), &json!(true))
    );
}
