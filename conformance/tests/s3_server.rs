//! The S3 test harness itself: `s3s-fs` stores and lists objects through the S3 API, checks
//! signatures, refuses requests while stopped, and keeps its objects across a restart.

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use vigia_conformance::s3::S3Server;

#[test]
fn put_list_get_round_trip() {
    let s3 = S3Server::start("recordings");
    assert!(s3.objects("").is_empty(), "a new bucket is empty");

    let part = vec![7u8; 200_000];
    s3.put("cam1/2024-05-01_10-00-00.mp4", &part);
    s3.put("cam1/2024-05-01_10-01-00.mp4", b"second");
    s3.put("cam10/2024-05-01_10-00-00.mp4", b"other camera");
    s3.put("top.txt", b"top");

    assert_eq!(
        s3.objects("cam1/"),
        vec![
            ("cam1/2024-05-01_10-00-00.mp4".to_string(), 200_000),
            ("cam1/2024-05-01_10-01-00.mp4".to_string(), 6),
        ]
    );
    assert_eq!(
        s3.objects("cam1"),
        vec![
            ("cam1/2024-05-01_10-00-00.mp4".to_string(), 200_000),
            ("cam1/2024-05-01_10-01-00.mp4".to_string(), 6),
            ("cam10/2024-05-01_10-00-00.mp4".to_string(), 12),
        ],
        "a prefix is a string prefix, as in S3"
    );
    assert_eq!(s3.objects("cam1/2024-05-01_10-01").len(), 1);
    assert_eq!(s3.objects("").len(), 4);
    assert!(s3.objects("nothing/").is_empty());

    assert_eq!(s3.get("cam1/2024-05-01_10-00-00.mp4"), part);
    assert_eq!(s3.get("top.txt"), b"top");
    assert!(
        s3.client().try_get("cam1/missing.mp4").is_err(),
        "a missing object is an error"
    );
}

#[test]
fn env_names_what_object_store_reads() {
    let s3 = S3Server::start("recordings");
    let env = s3.env();
    let value = |name: &str| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| panic!("{name} missing from env()"))
    };
    assert_eq!(value("AWS_ACCESS_KEY_ID"), "vigia");
    assert_eq!(value("AWS_SECRET_ACCESS_KEY"), "vigia-secret");
    assert_eq!(
        value("AWS_ENDPOINT_URL"),
        format!("http://127.0.0.1:{}", s3.port())
    );
    assert_eq!(value("AWS_REGION"), "us-east-1");
    assert_eq!(value("AWS_ALLOW_HTTP"), "true");

    // Every name is a key object_store's `AmazonS3Builder::from_env` understands, and a store
    // configured from exactly these pairs reaches the server.
    let (store, runtime) = store_from_env(&s3);
    s3.put("from-env/probe", b"probe");
    let got = runtime.block_on(async {
        let path = ObjectPath::from("from-env/probe");
        store.get(&path).await?.bytes().await
    });
    assert_eq!(
        got.expect("get through the env-configured store"),
        &b"probe"[..]
    );
}

/// What the recorder will use besides plain puts: multipart uploads and create-only puts.
#[test]
fn multipart_and_conditional_create() {
    let s3 = S3Server::start("recordings");
    let (store, runtime) = store_from_env(&s3);
    let path = ObjectPath::from("cam1/long.mp4");
    let part = vec![1u8; 5 * 1024 * 1024];
    runtime
        .block_on(async {
            let mut upload = store.put_multipart(&path).await?;
            upload.put_part(part.clone().into()).await?;
            upload.put_part(part.clone().into()).await?;
            upload.put_part(b"tail".to_vec().into()).await?;
            upload.complete().await
        })
        .expect("multipart upload");
    assert_eq!(
        s3.objects("cam1/"),
        vec![("cam1/long.mp4".to_string(), 2 * part.len() as u64 + 4)]
    );

    let create = |bytes: &'static [u8]| {
        let opts = PutOptions::from(PutMode::Create);
        runtime.block_on(store.put_opts(&ObjectPath::from("cam1/once"), bytes.into(), opts))
    };
    create(b"first").expect("create-only put of a new key");
    let second = create(b"second");
    assert!(
        matches!(second, Err(object_store::Error::AlreadyExists { .. })),
        "a create-only put of an existing key is refused: {second:?}"
    );
    assert_eq!(s3.get("cam1/once"), b"first");
}

/// An `object_store` S3 client configured only from `s3.env()`, the way `from_env` configures
/// vigia's, plus a runtime to drive it.
fn store_from_env(s3: &S3Server) -> (AmazonS3, tokio::runtime::Runtime) {
    let mut builder = AmazonS3Builder::new().with_bucket_name(s3.bucket());
    for (name, value) in s3.env() {
        let key = name
            .to_ascii_lowercase()
            .parse()
            .unwrap_or_else(|e| panic!("{name} is not an object_store S3 setting: {e}"));
        builder = builder.with_config(key, value);
    }
    let store = builder.build().expect("object_store from env()");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    (store, runtime)
}

#[test]
fn wrong_secret_is_refused() {
    let s3 = S3Server::start("recordings");
    s3.put("cam1/a.mp4", b"a");
    let intruder = s3.client_with_secret("not-the-secret");
    let err = intruder
        .try_put("cam1/b.mp4", b"b")
        .expect_err("a put signed with a wrong secret must fail");
    assert!(
        err.to_string().contains("403") || err.to_string().contains("SignatureDoesNotMatch"),
        "expected a signature refusal, got: {err}"
    );
    assert!(
        intruder.try_get("cam1/a.mp4").is_err(),
        "get with a wrong secret"
    );
    assert!(
        intruder.try_objects("").is_err(),
        "list with a wrong secret"
    );
    assert_eq!(s3.objects(""), vec![("cam1/a.mp4".to_string(), 1)]);
}

#[test]
fn stop_refuses_and_restart_keeps_objects() {
    let mut s3 = S3Server::start("recordings");
    s3.put("cam1/before.mp4", b"recorded before the outage");
    let port = s3.port();

    s3.stop();
    assert!(!s3.is_running());
    assert!(s3.client().try_objects("").is_err(), "list while stopped");
    assert!(
        s3.client().try_put("cam1/during.mp4", b"x").is_err(),
        "put while stopped"
    );

    s3.restart();
    assert!(s3.is_running());
    assert_eq!(s3.port(), port, "a restart keeps the port");
    assert_eq!(s3.get("cam1/before.mp4"), b"recorded before the outage");
    s3.put("cam1/after.mp4", b"after");
    assert_eq!(
        s3.objects("cam1/"),
        vec![
            ("cam1/after.mp4".to_string(), 5),
            ("cam1/before.mp4".to_string(), 26),
        ]
    );
}
