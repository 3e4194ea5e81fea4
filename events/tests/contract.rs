//! The event contract without a broker: schemas, parsing, malformed cases, docs, correlation.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use vigia_events::{
    Camera, Event, EventData, EventType, HealthReason, ParseError, example_keyring, examples,
    with_correlation,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn validator(ty: EventType) -> jsonschema::Validator {
    let path = root().join("schemas").join(format!("{ty}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{ty}: bad schema: {e}"))
}

fn assert_valid(event_json: &Value) {
    let ty = EventType::from_name(event_json["type"].as_str().unwrap()).unwrap();
    let v = validator(ty);
    let errors: Vec<String> = v
        .iter_errors(event_json)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{ty}: {errors:?}\n{event_json:#}");
}

#[test]
fn every_type_has_an_example_and_a_schema() {
    let ex = examples();
    let types: Vec<EventType> = ex.iter().map(Event::event_type).collect();
    assert_eq!(types, EventType::ALL);
    for ty in EventType::ALL {
        let _ = validator(ty);
    }
}

#[test]
fn produced_events_validate_against_their_schemas() {
    for e in examples() {
        assert_valid(&e.to_json());
        // Freshly built events (new id, time now, own correlation id) too.
        let fresh = Event::new("/vigia/test", e.data.clone());
        assert_valid(&fresh.to_json());
        assert_eq!(fresh.correlation_id, fresh.id);
    }
}

#[test]
fn examples_round_trip() {
    for e in examples() {
        let parsed = Event::from_slice(&e.to_bytes()).unwrap();
        assert_eq!(parsed, e);
    }
}

/// Mutates the first example (camera.created) and names the expected parse error kind.
fn malformed_cases() -> Vec<(&'static str, Vec<u8>, &'static str, &'static str)> {
    let base = examples()[0].to_json();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    vec![
        ("not json", b"{not json".to_vec(), "bad_json", "bad JSON"),
        ("empty", Vec::new(), "bad_json", "bad JSON"),
        (
            "array",
            b"[1,2]".to_vec(),
            "invalid_envelope",
            "not a JSON object",
        ),
        (
            "specversion 0.3",
            with(&|v| v["specversion"] = json!("0.3")),
            "invalid_envelope",
            "specversion",
        ),
        (
            "missing id",
            with(&|v| {
                v.as_object_mut().unwrap().remove("id");
            }),
            "invalid_envelope",
            "\"id\"",
        ),
        (
            "bad time",
            with(&|v| v["time"] = json!("yesterday")),
            "invalid_envelope",
            "\"time\"",
        ),
        (
            "xml content",
            with(&|v| v["datacontenttype"] = json!("text/xml")),
            "invalid_envelope",
            "datacontenttype",
        ),
        (
            "unknown type",
            with(&|v| v["type"] = json!("camera.exploded")),
            "unknown_type",
            "camera.exploded",
        ),
        (
            "version 3",
            with(&|v| v["dataversion"] = json!(3)),
            "unsupported_version",
            "version 3 of camera.created (supported: [1, 2])",
        ),
        (
            "clear password",
            with(&|v| v["data"]["credentials"]["password"] = json!("s3cret")),
            "clear_secret",
            "data.credentials.password is a password in clear",
        ),
        (
            "clear password v1",
            with(&|v| {
                v["dataversion"] = json!(1);
                v["data"]["credentials"]["password"] = json!("s3cret");
            }),
            "clear_secret",
            "data.credentials.password",
        ),
        (
            "login in url",
            with(&|v| v["data"]["rtspUrl"] = json!("rtsp://admin:s3cret@10.0.0.1/live")),
            "clear_secret",
            "data.rtspUrl carries credentials",
        ),
        (
            "user in url",
            with(&|v| v["data"]["rtspUrl"] = json!("rtsp://admin@10.0.0.1/live")),
            "clear_secret",
            "data.rtspUrl",
        ),
        (
            "sealed alg",
            with(&|v| v["data"]["credentials"]["password"]["alg"] = json!("A128GCM")),
            "schema_violation",
            "alg",
        ),
        (
            "sealed key id",
            with(&|v| v["data"]["credentials"]["password"]["keyId"] = json!("k 1")),
            "schema_violation",
            "key id",
        ),
        (
            "sealed nonce",
            with(&|v| v["data"]["credentials"]["password"]["nonce"] = json!("AAAAAAAAAAAA")),
            "schema_violation",
            "nonce",
        ),
        (
            "sealed short",
            with(&|v| v["data"]["credentials"]["password"]["ciphertext"] = json!("AAAAAAAA")),
            "schema_violation",
            "ciphertext",
        ),
        (
            "sealed non-canonical",
            with(&|v| {
                v["data"]["credentials"]["password"]["ciphertext"] =
                    json!("AAAAAAAAAAAAAAAAAAAAAB==")
            }),
            "schema_violation",
            "ciphertext",
        ),
        (
            "sealed missing",
            with(&|v| {
                let p = v["data"]["credentials"]["password"]
                    .as_object_mut()
                    .unwrap();
                p.remove("nonce");
            }),
            "schema_violation",
            "nonce",
        ),
        (
            "missing field",
            with(&|v| {
                v["data"].as_object_mut().unwrap().remove("cityId");
            }),
            "schema_violation",
            "cityId",
        ),
        (
            "wrong type",
            with(&|v| v["data"]["record"] = json!("yes")),
            "schema_violation",
            "camera.created",
        ),
        (
            "bad url",
            with(&|v| v["data"]["rtspUrl"] = json!("http://x")),
            "schema_violation",
            "rtspUrl",
        ),
        (
            "bad retention",
            with(&|v| v["data"]["storagePlan"]["retentionDays"] = json!(0)),
            "schema_violation",
            "retentionDays",
        ),
    ]
}

#[test]
fn malformed_messages_are_rejected_with_a_reason_naming_the_problem() {
    for (name, bytes, kind, mention) in malformed_cases() {
        let err = Event::from_slice(&bytes).expect_err(name);
        assert_eq!(err.kind(), kind, "{name}: {err}");
        assert!(
            err.to_string().contains(mention),
            "{name}: {err:?} lacks {mention:?}"
        );
    }
}

#[test]
fn schema_and_parser_agree_on_payload_violations() {
    for (name, bytes, kind, _) in malformed_cases() {
        if !["schema_violation", "unsupported_version", "clear_secret"].contains(&kind) {
            continue;
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(
            !validator(EventType::CameraCreated).is_valid(&v),
            "schema accepts {name}"
        );
    }
}

#[test]
fn invalid_cnpj_and_plate_are_schema_violations() {
    let ex = examples();
    let mut plan = ex[3].to_json();
    plan["data"]["cityHallCnpj"] = json!("11222333000182");
    let err = Event::from_json(plan).unwrap_err();
    assert!(matches!(err, ParseError::SchemaViolation { .. }), "{err}");
    assert!(err.to_string().contains("check digits"), "{err}");
    let mut lpr = ex[7].to_json();
    lpr["data"]["plate"] = json!("AB12345");
    assert_eq!(
        Event::from_json(lpr).unwrap_err().kind(),
        "schema_violation"
    );
}

/// Schema and parser agree, value by value, on what a plate or CNPJ may look like: lower case
/// is accepted by both and read as upper case; punctuation is refused by both.
#[test]
fn schemas_and_code_agree_on_plate_and_cnpj_case() {
    let ex = examples();
    let cases: &[(usize, &str, &str, Option<&str>)] = &[
        (7, "plate", "BRA2E19", Some("BRA2E19")),
        (7, "plate", "bra2e19", Some("BRA2E19")),
        (7, "plate", "Abc1234", Some("ABC1234")),
        (7, "plate", "ABC-1234", None),
        (7, "plate", "AB12345", None),
        (3, "cityHallCnpj", "11222333000181", Some("11222333000181")),
        (3, "cityHallCnpj", "12abc34501de35", Some("12ABC34501DE35")),
        (3, "cityHallCnpj", "12ABC34501dE35", Some("12ABC34501DE35")),
        (3, "cityHallCnpj", "11.222.333/0001-81", None),
        (9, "cityHallCnpj", "12abc34501de35", Some("12ABC34501DE35")),
    ];
    for &(example, field, value, want) in cases {
        let mut v = ex[example].to_json();
        v["data"][field] = json!(value);
        let ty = ex[example].event_type();
        let schema_ok = validator(ty).is_valid(&v);
        let parsed = Event::from_json(v);
        assert_eq!(
            schema_ok,
            parsed.is_ok(),
            "{ty} {field}={value:?}: {parsed:?}"
        );
        let Some(want) = want else { continue };
        let read = parsed.unwrap().data.to_json()[field].clone();
        assert_eq!(read, json!(want), "{ty} {field}={value:?}");
    }
}

/// `stream.health_check`'s optional fields: schema and parser agree, value by value; a payload
/// without them (what earlier producers send) is still valid, and every reason kind reads back.
#[test]
fn schema_and_code_agree_on_health_check_fields() {
    let health = examples()[6].to_json();
    assert_eq!(health["type"], "stream.health_check");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/stream.health_check.json")).unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = HealthReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        schema["properties"]["data"]["properties"]["reason"]["enum"],
        json!(names),
        "the schema lists every reason, in order"
    );
    let mut cases: Vec<(&str, Value, bool)> =
        names.iter().map(|r| ("reason", json!(r), true)).collect();
    cases.extend([
        ("reason", json!("flaky"), false),
        ("reason", json!(3), false),
        (
            "detail",
            json!("unsupported codec: the source offers only MJPEG"),
            true,
        ),
        ("detail", json!(7), false),
        ("reconnects", json!(0), true),
        ("reconnects", json!(-1), false),
        ("lastFrameAgeMs", json!(1.5), false),
        ("recorderBacklogSegments", json!("2"), false),
        ("recorderBacklogBytes", json!(u64::MAX), true),
        ("recorderBacklogAgeMs", json!(-5), false),
    ]);
    for (field, value, ok) in cases {
        let mut v = health.clone();
        v["data"][field] = value.clone();
        let schema_ok = validator(EventType::StreamHealthCheck).is_valid(&v);
        let parsed = Event::from_json(v);
        assert_eq!(schema_ok, ok, "schema, {field}={value}");
        assert_eq!(parsed.is_ok(), ok, "parser, {field}={value}: {parsed:?}");
        if ok {
            assert_eq!(parsed.unwrap().data.to_json()[field], value, "{field}");
        }
    }
    let mut bare = health;
    let data = bare["data"].as_object_mut().unwrap();
    for field in [
        "lastFrameAgeMs",
        "reason",
        "detail",
        "reconnects",
        "recorderBacklogSegments",
        "recorderBacklogBytes",
        "recorderBacklogAgeMs",
    ] {
        assert!(data.remove(field).is_some(), "the example has {field}");
    }
    assert_valid(&bare);
    assert_eq!(Event::from_json(bare.clone()).unwrap().to_json(), bare);
}

/// The examples' camera password opens with the example keyring (a test vector for other
/// languages), only for its own camera, URL and username.
#[test]
fn camera_password_opens_for_pulling_and_only_in_its_context() {
    let keys = example_keyring();
    let EventData::CameraCreated(camera) = examples().remove(0).data else {
        panic!("example 0 is camera.created");
    };
    let login = camera.login(Some(&keys)).unwrap().unwrap();
    assert_eq!(
        (login.username.as_str(), login.password.as_str()),
        ("vigia", "s3cret")
    );
    let url = camera.pull_url(Some(&keys)).unwrap();
    assert_eq!(
        url.expose(),
        "rtsp://vigia:s3cret@10.20.0.42:554/Streaming/Channels/101"
    );
    assert_eq!(
        url.to_string(),
        "rtsp://vigia:***@10.20.0.42:554/Streaming/Channels/101"
    );
    // Moved to another camera or another URL, the sealed password does not open.
    for f in [
        &|c: &mut Camera| c.camera_id = "cam-0043".into(),
        &|c: &mut Camera| c.rtsp_url = "rtsp://203.0.113.9/steal".into(),
    ] as [&dyn Fn(&mut Camera); 2]
    {
        let mut moved = camera.clone();
        f(&mut moved);
        let err = moved.pull_url(Some(&keys)).unwrap_err().to_string();
        assert!(err.contains("authentication failed"), "{err}");
    }
    let err = camera.pull_url(None).unwrap_err().to_string();
    assert!(
        err.contains("camera cam-0042 password") && err.contains("\"example\""),
        "{err}"
    );
    assert!(err.contains("VIGIA_EVENTS_KEYS"), "{err}");
    // set_login seals a fresh value that opens, with URL-special characters percent-encoded.
    let mut fresh = camera.clone();
    fresh.set_login(&keys, "ad:min", "p@ss/w:rd");
    let sealed = fresh.credentials.as_ref().unwrap().password.clone();
    assert_ne!(
        Some(&sealed),
        camera.credentials.as_ref().map(|c| &c.password)
    );
    assert_eq!(
        fresh.pull_url(Some(&keys)).unwrap().expose(),
        "rtsp://ad%3Amin:p%40ss%2Fw%3Ard@10.20.0.42:554/Streaming/Channels/101"
    );
    let event = Event::new("/cidades", EventData::CameraUpdated(fresh));
    assert_valid(&event.to_json());
    assert!(!event.to_bytes().windows(4).any(|w| w == b"p@ss"));
    // Without credentials no keyring is needed.
    let mut open = camera;
    open.credentials = None;
    assert_eq!(
        open.pull_url(None).unwrap().expose(),
        "rtsp://10.20.0.42:554/Streaming/Channels/101"
    );
}

/// Version 1 of a camera event without credentials (what credential-less producers send) is
/// still valid for schema and code; with a sealed password too. Only a clear one is refused.
#[test]
fn camera_version_1_is_read_without_a_clear_password() {
    for keep_credentials in [false, true] {
        let mut v = examples()[0].to_json();
        v["dataversion"] = json!(1);
        if !keep_credentials {
            v["data"].as_object_mut().unwrap().remove("credentials");
        }
        assert_valid(&v);
        let e = Event::from_json(v).unwrap();
        assert_eq!(
            e.to_json()["dataversion"],
            2,
            "re-encoded as the current version"
        );
    }
}

#[test]
fn docs_have_a_valid_example_per_type() {
    let doc = std::fs::read_to_string(root().join("../docs/events.md")).unwrap();
    let mut seen = Vec::new();
    for block in doc.split("```json").skip(1) {
        let body = block.split("```").next().unwrap();
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_valid(&v);
        let e = Event::from_json(v).unwrap();
        seen.push(e.event_type());
    }
    for ty in EventType::ALL {
        assert!(seen.contains(&ty), "docs/events.md has no example of {ty}");
    }
}

#[tokio::test]
async fn events_built_inside_a_handler_scope_inherit_the_correlation_id() {
    let parent = examples().remove(7);
    let data = examples().remove(8).data;
    let child = with_correlation(parent.correlation_id.clone(), async {
        Event::new("/ai", data.clone())
    })
    .await;
    assert_eq!(child.correlation_id, parent.correlation_id);
    assert_ne!(child.id, parent.id);
    let outside = Event::new("/ai", data);
    assert_eq!(outside.correlation_id, outside.id);
    let caused = Event::caused_by(&parent, "/ai", EventData::clone(&examples()[8].data));
    assert_eq!(caused.correlation_id, parent.correlation_id);
}

#[test]
fn fuzz_seed_corpus_replays_without_panic() {
    let dir = root().join("../fuzz/corpus/events_envelope");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        vigia_events::fuzz_envelope(&data);
        n += 1;
    }
    assert!(n >= 20, "only {n} seeds in {}", dir.display());
}

/// Writes the seed corpus from the case tables: `cargo test -p vigia-events --test contract
/// -- --ignored write_fuzz_corpus`.
#[test]
#[ignore]
fn write_fuzz_corpus() {
    let dir = root().join("../fuzz/corpus/events_envelope");
    std::fs::create_dir_all(&dir).unwrap();
    for e in examples() {
        std::fs::write(dir.join(format!("ok-{}", e.event_type())), e.to_bytes()).unwrap();
    }
    for (name, bytes, _, _) in malformed_cases() {
        std::fs::write(dir.join(format!("bad-{}", name.replace(' ', "-"))), bytes).unwrap();
    }
}

/// Prints the examples for docs/events.md: `-- --ignored print_examples --nocapture`.
#[test]
#[ignore]
fn print_examples() {
    for e in examples() {
        println!(
            "### `{}`\n\n```json\n{}\n```\n",
            e.event_type(),
            serde_json::to_string_pretty(&e.to_json()).unwrap()
        );
    }
}

/// A small deterministic fuzz pass in the normal test run: every truncation and 300 random
/// byte mutations of each seed must parse or fail without panicking (and round-trip if they
/// parse, which `fuzz_envelope` asserts).
#[test]
fn mutated_seeds_never_panic() {
    let dir = root().join("../fuzz/corpus/events_envelope");
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for entry in std::fs::read_dir(&dir).unwrap() {
        let seed = std::fs::read(entry.unwrap().path()).unwrap();
        for len in 0..seed.len() {
            vigia_events::fuzz_envelope(&seed[..len]);
        }
        if seed.is_empty() {
            continue;
        }
        for _ in 0..300 {
            let mut m = seed.clone();
            let i = (next() % m.len() as u64) as usize;
            m[i] = match next() % 4 {
                0 => next() as u8,
                1 => m[i] ^ 1 << (next() % 8),
                2 => b"{}[]\",:0\\"[(next() % 9) as usize],
                _ => 0xff,
            };
            vigia_events::fuzz_envelope(&m);
        }
    }
}

#[test]
fn events_url_resolution() {
    if std::env::var(vigia_events::URL_ENV).is_ok() {
        return; // the environment overrides the config key; covered by the cases below otherwise
    }
    let cases = [
        (None, None),
        (Some(""), None),
        (Some("  "), None),
        (
            Some(" amqp://guest:guest@127.0.0.1:5672/%2f "),
            Some("amqp://guest:guest@127.0.0.1:5672/%2f"),
        ),
    ];
    for (config, want) in cases {
        assert_eq!(
            vigia_events::resolve_url(config).as_deref(),
            want,
            "{config:?}"
        );
    }
}
