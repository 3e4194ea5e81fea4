//! End to end with a real `vigia` (target/release/vigia, or `$VIGIA_BIN`; `test.sh` builds it
//! before the tests): a camera created through the Cidades API reaches Vigia as `camera.created`
//! through the outbox, Vigia pulls it (the "camera" is Vigia's own synthetic `demo` path) and
//! reports `stream.health_check`, and the camera shows `online` in Cidades within 10 s; deleting
//! it removes Vigia's path.

mod common;
#[path = "../../test-support/vigia.rs"]
mod vigia;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::json;

use common::{BROKER, Harness, str_of, unique};
use vigia::Vigia;

/// The queue of vigia node `node` (see server/src/bus.rs).
fn node_queue(node: &str) -> String {
    format!("vigia.streaming.{node}")
}

#[tokio::test]
async fn a_camera_created_in_cidades_is_pulled_by_vigia_and_shows_online() {
    let (listeners, rtsp, _) = vigia::listeners();
    let config = format!(
        "{listeners}eventsURL: {BROKER}\neventsHealthInterval: 2s\n\
         paths:\n  demo:\n    source: synthetic\n"
    );
    let node = format!("cidades-e2e-{}", unique());
    let vigia = Vigia::spawn("cidades-vigia", &config, &[("VIGIA_NODE", &node)]);
    assert!(
        vigia
            .logs_soon_contain("events: cameras from queue", Duration::from_secs(15))
            .await,
        "vigia's camera consumer did not start:\n{}",
        vigia.logs()
    );
    let h = Harness::start().await;
    let (_, city) = h.seed_city().await;
    let body = json!({"cityId": city, "name": "Demo", "rtspUrl": format!("rtsp://127.0.0.1:{rtsp}/demo"), "record": false});
    let corr = format!("cidades-e2e-{}", unique());
    let (created, cam) = h
        .call_correlated(Method::POST, "/v1/cameras", Some(body), Some(&corr))
        .await;
    assert_eq!(created, StatusCode::CREATED, "{cam}");
    let id = str_of(&cam["id"]);
    let path = format!("/v1/cameras/{id}");
    let start = Instant::now();
    let mut status = String::new();
    while start.elapsed() < Duration::from_secs(10) && status != "online" {
        tokio::time::sleep(Duration::from_millis(200)).await;
        status = h.ok(Method::GET, &path, None, StatusCode::OK).await["status"]
            .as_str()
            .unwrap_or("")
            .to_owned();
    }
    assert_eq!(
        status,
        "online",
        "the camera is online in Cidades within 10 s:\n{}",
        vigia.logs()
    );

    assert!(
        vigia.logs().contains(&corr),
        "the request's correlation id is on vigia's log lines:\n{}",
        vigia.logs()
    );

    h.ok(Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    let removed = format!("path removed path={id}");
    assert!(
        vigia
            .logs_soon_contain(&removed, Duration::from_secs(5))
            .await,
        "vigia removes the path within 5 s:\n{}",
        vigia.logs()
    );
    h.finish().await;
    drop(vigia);
    common::delete_service_queues(&node_queue(&node)).await;
}
