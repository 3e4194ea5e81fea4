//! Cidades and the bus, against the real PostgreSQL and RabbitMQ: every change is an event on
//! `vigia.events` through the outbox (also after a broker outage), passwords travel sealed, and
//! consumed health checks, plates and alerts are applied once.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::Utc;
use serde_json::json;
use vigia_cidades::outbox::{self, Relay, RelayConfig};
use vigia_events::{
    AlertTriggered, Event, EventData, HealthReason, HealthStatus, LprDetected, Plate, Severity,
    StreamHealthCheck,
};

use common::{BROKER, BrokerProxy, Bus, Harness, camera_body, plan_body, publish, str_of};

fn about_camera(e: &Event, id: &str) -> bool {
    match &e.data {
        EventData::CameraCreated(c) | EventData::CameraUpdated(c) => c.camera_id == id,
        EventData::CameraDeleted(d) => d.camera_id == id,
        _ => false,
    }
}

#[tokio::test]
async fn camera_changes_are_events_with_the_password_sealed() {
    let mut bus = Bus::listen(&["camera.*"]).await;
    let h = Harness::start().await;
    let (plan, city) = h.seed_city().await;
    let body = camera_body(&city, "Paulista", "rtsp://10.1.0.1:554/live");
    let (status, cam) = h
        .call_correlated(
            Method::POST,
            "/v1/cameras",
            Some(body.clone()),
            Some("req-42"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cam}");
    let id = str_of(&cam["id"]);
    assert!(!cam.to_string().contains("s3nh@forte"), "{cam}");

    let created = bus.next(10, |e| about_camera(e, &id)).await;
    let EventData::CameraCreated(c) = &created.data else {
        panic!("first event is {:?}", created.event_type());
    };
    assert_eq!((c.city_id.as_str(), c.record), (city.as_str(), true));
    assert_eq!(
        created.correlation_id, "req-42",
        "the request's correlation id"
    );
    assert_eq!(c.storage_plan.plan_id, plan);
    assert_eq!(c.storage_plan.retention_days, 30);
    assert!(!created.to_bytes().windows(10).any(|w| w == b"s3nh@forte"));
    let login = c.login(Some(&h.bus_keys)).unwrap().unwrap();
    assert_eq!(
        (login.username.as_str(), login.password.as_str()),
        ("admin", "s3nh@forte")
    );
    let stored: String = sqlx::query_scalar("SELECT password_sealed::text FROM cameras")
        .fetch_one(h.app.pool())
        .await
        .unwrap();
    assert!(!stored.contains("s3nh@forte") && stored.contains("A256GCM"));

    let mut renamed = body.clone();
    renamed["name"] = "Paulista x Augusta".into();
    renamed.as_object_mut().unwrap().remove("password");
    h.ok(
        Method::PUT,
        &format!("/v1/cameras/{id}"),
        Some(renamed),
        StatusCode::OK,
    )
    .await;
    let updated = bus.next(10, |e| about_camera(e, &id)).await;
    let EventData::CameraUpdated(u) = &updated.data else {
        panic!("second event is {:?}", updated.event_type());
    };
    assert_eq!(u.name, "Paulista x Augusta");
    let login = u.login(Some(&h.bus_keys)).unwrap().unwrap();
    assert_eq!(
        login.password, "s3nh@forte",
        "a PUT without password keeps it"
    );
    let mut moved = body.clone();
    moved["rtspUrl"] = "rtsp://203.0.113.9/live".into();
    moved.as_object_mut().unwrap().remove("password");
    let (status, json) = h
        .call(Method::PUT, &format!("/v1/cameras/{id}"), Some(moved))
        .await;
    assert_eq!(
        (status, json["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password")),
        "a new URL needs the password again"
    );

    h.ok(
        Method::DELETE,
        &format!("/v1/cameras/{id}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let deleted = bus.next(10, |e| about_camera(e, &id)).await;
    assert!(matches!(&deleted.data, EventData::CameraDeleted(d) if d.city_id == city));
    let (status, _) = h
        .call(Method::GET, &format!("/v1/cameras/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    wait_sent(&h).await;
    h.finish().await;
}

#[tokio::test]
async fn plan_changes_are_city_storage_plan_changed() {
    let mut bus = Bus::listen(&["city.storage_plan_changed"]).await;
    let h = Harness::start().await;
    let (plan, city) = h.seed_city().await;
    let of_city =
        |e: &Event| matches!(&e.data, EventData::CityStoragePlanChanged(p) if p.city_id == city);

    let gold = h
        .ok(
            Method::POST,
            "/v1/plans",
            Some(plan_body("Ouro", 90)),
            StatusCode::CREATED,
        )
        .await;
    let mut body = h
        .ok(
            Method::GET,
            &format!("/v1/cities/{city}"),
            None,
            StatusCode::OK,
        )
        .await;
    for k in ["id", "createdAt", "updatedAt"] {
        body.as_object_mut().unwrap().remove(k);
    }
    body["storagePlanId"] = gold["id"].clone();
    h.ok(
        Method::PUT,
        &format!("/v1/cities/{city}"),
        Some(body.clone()),
        StatusCode::OK,
    )
    .await;
    let e = bus.next(10, of_city).await;
    let EventData::CityStoragePlanChanged(p) = &e.data else {
        unreachable!()
    };
    assert_eq!(
        (
            p.storage_plan.plan_id.as_str(),
            p.storage_plan.retention_days
        ),
        (gold["id"].as_str().unwrap(), 90)
    );
    assert_eq!(p.city_hall_cnpj.as_str(), common::CNPJ);
    let cached = h
        .ok(
            Method::GET,
            &format!("/v1/cities/{city}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        cached["storagePlanId"], gold["id"],
        "the cached city was invalidated"
    );

    let gold_id = str_of(&gold["id"]);
    h.ok(
        Method::PUT,
        &format!("/v1/plans/{gold_id}"),
        Some(plan_body("Ouro", 120)),
        StatusCode::OK,
    )
    .await;
    let e = bus.next(10, of_city).await;
    let EventData::CityStoragePlanChanged(p) = &e.data else {
        unreachable!()
    };
    assert_eq!(p.storage_plan.retention_days, 120);
    body["name"] = "São Paulo (capital)".into();
    h.ok(
        Method::PUT,
        &format!("/v1/cities/{city}"),
        Some(body),
        StatusCode::OK,
    )
    .await;
    h.ok(
        Method::PUT,
        &format!("/v1/plans/{plan}"),
        Some(plan_body("Básico", 15)),
        StatusCode::OK,
    )
    .await;
    assert!(
        !bus.any_within(1500, of_city).await,
        "no plan change, no event"
    );
    h.finish().await;
}

#[tokio::test]
async fn outbox_delivers_after_a_broker_outage() {
    let mut bus = Bus::listen(&["camera.created"]).await;
    // A relay pointed at a port where no broker listens: the change still commits.
    let h = Harness::start_with_broker(Some("amqp://guest:guest@127.0.0.1:1/%2f")).await;
    let (_, city) = h.seed_city().await;
    let body = camera_body(&city, "Outage", "rtsp://10.2.0.1/live");
    let cam = h
        .ok(Method::POST, "/v1/cameras", Some(body), StatusCode::CREATED)
        .await;
    let id = str_of(&cam["id"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(outbox::pending(h.app.pool()).await.unwrap(), 1);
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM outbox")
        .fetch_one(h.app.pool())
        .await
        .unwrap();
    assert_eq!(attempts, 0, "nothing was published, so nothing was marked");

    let relay = Relay::spawn(h.app.pool().clone(), RelayConfig::new(BROKER));
    let e = bus.next(10, |e| about_camera(e, &id)).await;
    assert!(matches!(e.data, EventData::CameraCreated(_)));
    h.delete_cameras().await;
    wait_sent(&h).await;
    relay.stop().await;
    h.finish().await;
}

/// The broker goes away while cameras are created (every connection of the relay and the
/// consumer closed, new ones refused) and comes back: the creates answer 201 during the outage
/// and their `camera.created` are delivered once the relay reconnects (at least once: consumers
/// drop copies by event id).
#[tokio::test]
async fn a_broker_killed_during_creates_loses_nothing() {
    let mut bus = Bus::listen(&["camera.created"]).await;
    let proxy = BrokerProxy::start().await;
    let h = Harness::start_with_broker(Some(&proxy.url())).await;
    let (_, city) = h.seed_city().await;
    let before = camera_body(&city, "Antes", "rtsp://10.4.0.1/live");
    let cam = h
        .ok(
            Method::POST,
            "/v1/cameras",
            Some(before),
            StatusCode::CREATED,
        )
        .await;
    let first = str_of(&cam["id"]);
    bus.next(10, |e| about_camera(e, &first)).await;

    proxy.cut();
    let mut during = Vec::new();
    for n in 0..3 {
        let body = camera_body(
            &city,
            &format!("Durante {n}"),
            &format!("rtsp://10.4.1.{n}/live"),
        );
        let cam = h
            .ok(Method::POST, "/v1/cameras", Some(body), StatusCode::CREATED)
            .await;
        during.push(str_of(&cam["id"]));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        outbox::pending(h.app.pool()).await.unwrap() >= 3,
        "kept in the outbox"
    );

    proxy.restore();
    let mut seen = Vec::new();
    while seen.len() < during.len() {
        let e = bus
            .next(20, |e| during.iter().any(|id| about_camera(e, id)))
            .await;
        let EventData::CameraCreated(c) = &e.data else {
            unreachable!()
        };
        if !seen.contains(&c.camera_id) {
            seen.push(c.camera_id.clone());
        }
    }
    wait_sent(&h).await;
    h.finish().await;
}

#[tokio::test]
async fn health_checks_set_status_once_and_in_order() {
    let h = Harness::start().await;
    let (_, city) = h.seed_city().await;
    let body = camera_body(&city, "Saúde", "rtsp://10.3.0.1/live");
    let cam = h
        .ok(Method::POST, "/v1/cameras", Some(body), StatusCode::CREATED)
        .await;
    let id = str_of(&cam["id"]);
    let list = format!("/v1/cameras?status=online&cityId={city}");
    let before = h.ok(Method::GET, &list, None, StatusCode::OK).await;
    assert_eq!(before["total"], 0, "and cached, when Redis runs");
    let online = Event::new(
        "/vigia/test",
        EventData::StreamHealthCheck(health(&id, HealthStatus::Online)),
    );
    publish(&online).await;
    let path = format!("/v1/cameras/{id}");
    let got = wait_status(&h, &path, "online").await;
    assert_eq!(got["statusReason"], serde_json::Value::Null);
    wait_list_total(&h, &list, 1).await;

    publish(&online).await;
    let mut older = health(&id, HealthStatus::Offline);
    older.reason = Some(HealthReason::Timeout);
    let mut older = Event::new("/vigia/test", EventData::StreamHealthCheck(older));
    older.time = online.time - chrono::Duration::seconds(30);
    publish(&older).await;
    wait_consumed(&h, 2, 1).await;
    let got = h.ok(Method::GET, &path, None, StatusCode::OK).await;
    assert_eq!(
        got["status"], "online",
        "an older health check changes nothing"
    );
    assert_eq!(
        got["statusAt"]
            .as_str()
            .map(|t| t.parse::<chrono::DateTime<Utc>>().unwrap()),
        Some(online.time.trunc_subsecs_ms())
    );
    h.finish().await;
}

#[tokio::test]
async fn plates_and_alerts_become_occurrences_once() {
    let h = Harness::start().await;
    let (_, city) = h.seed_city().await;
    let body = camera_body(&city, "LPR", "rtsp://10.4.0.1/live");
    let cam = h
        .ok(Method::POST, "/v1/cameras", Some(body), StatusCode::CREATED)
        .await;
    let id = str_of(&cam["id"]);
    let lpr = Event::new(
        "/ai/test",
        EventData::LprDetected(LprDetected {
            camera_id: id.clone(),
            plate: Plate::parse("BRA2E19").unwrap(),
            confidence: 0.97,
            detected_at: Utc::now(),
            snapshot_key: None,
            format: None,
            bounding_box: None,
        }),
    );
    let alert = Event::new(
        "/ai/test",
        EventData::AlertTriggered(AlertTriggered {
            alert_id: "a-1".into(),
            camera_id: id.clone(),
            kind: "plate_watchlist".into(),
            severity: Severity::Critical,
            message: "placa em lista".into(),
            cause_event_id: Some(lpr.id.clone()),
        }),
    );
    for e in [&lpr, &alert, &lpr, &alert] {
        publish(e).await;
    }
    wait_consumed(&h, 2, 2).await;
    // Past the consumer's dedupe window too: the database has what it applied.
    for e in [&lpr, &alert] {
        vigia_cidades::consume::apply(&h.app.state, e)
            .await
            .unwrap();
    }
    let path = format!("/v1/cities/{city}/occurrences");
    let list = h.ok(Method::GET, &path, None, StatusCode::OK).await;
    assert_eq!(list["total"], 2, "{list}");
    let kinds: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"lpr") && kinds.contains(&"alert"),
        "{kinds:?}"
    );
    assert_eq!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == "lpr")
            .unwrap()["detail"]["plate"],
        json!("BRA2E19")
    );
    h.finish().await;
}

fn health(id: &str, status: HealthStatus) -> StreamHealthCheck {
    StreamHealthCheck {
        camera_id: id.to_owned(),
        path: id.to_owned(),
        status,
        bitrate_kbps: 2000,
        fps: 25.0,
        readers: 0,
        last_frame_at: None,
        last_frame_age_ms: None,
        reason: None,
        detail: None,
        reconnects: None,
        recorder_backlog_segments: None,
        recorder_backlog_bytes: None,
        recorder_backlog_age_ms: None,
    }
}

trait TruncMs {
    fn trunc_subsecs_ms(self) -> Self;
}

impl TruncMs for chrono::DateTime<Utc> {
    /// Events carry their time to the millisecond.
    fn trunc_subsecs_ms(self) -> Self {
        chrono::DurationRound::duration_trunc(self, chrono::Duration::milliseconds(1)).unwrap()
    }
}

async fn wait_status(h: &Harness, path: &str, want: &str) -> serde_json::Value {
    for _ in 0..100 {
        let got = h.ok(Method::GET, path, None, StatusCode::OK).await;
        if got["status"] == want {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never became {want}");
}

/// Waits until the camera list at `list` counts `want` cameras. The consumer bumps the list
/// cache's generation just after its commit, so for a moment the camera reads as changed while
/// its list page is still the cached one; 2 s is far below that page's 30 s TTL, so only an
/// invalidation makes this pass.
async fn wait_list_total(h: &Harness, list: &str, want: u64) {
    let mut total = serde_json::Value::Null;
    for _ in 0..20 {
        total = h.ok(Method::GET, list, None, StatusCode::OK).await["total"].clone();
        if total == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the cached list was not invalidated: {list} still counts {total}");
}

/// Waits until the consumer handled `handled` events and skipped `duplicates` copies.
async fn wait_consumed(h: &Harness, handled: u64, duplicates: u64) {
    for _ in 0..100 {
        let s = h.app.consumer_stats();
        if s.handled >= handled && s.duplicates >= duplicates {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("consumer stats: {:?}", h.app.consumer_stats());
}

async fn wait_sent(h: &Harness) {
    for _ in 0..50 {
        if outbox::pending(h.app.pool()).await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("outbox rows still unsent");
}

#[tokio::test]
async fn two_relays_publish_each_event_exactly_once() {
    let mut bus = Bus::listen(&["camera.created"]).await;
    let h = Harness::start_with_broker(None).await;
    let (_, city) = h.seed_city().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let body = camera_body(&city, &format!("R{i:02}"), &format!("rtsp://10.5.0.{i}/s"));
        let cam = h
            .ok(Method::POST, "/v1/cameras", Some(body), StatusCode::CREATED)
            .await;
        ids.push(str_of(&cam["id"]));
    }
    let relays = [(); 2].map(|()| Relay::spawn(h.app.pool().clone(), RelayConfig::new(BROKER)));
    let mut seen = Vec::new();
    while seen.len() < ids.len() {
        let e = bus
            .next(10, |e| ids.iter().any(|id| about_camera(e, id)))
            .await;
        let EventData::CameraCreated(c) = e.data else {
            unreachable!()
        };
        seen.push(c.camera_id);
    }
    assert!(
        !bus.any_within(1000, |e| ids.iter().any(|id| about_camera(e, id)))
            .await,
        "no event twice"
    );
    let mut sorted = seen.clone();
    sorted.sort_by_key(|id| ids.iter().position(|x| x == id));
    sorted.dedup();
    assert_eq!(sorted, ids, "every event once");
    h.delete_cameras().await;
    wait_sent(&h).await;
    for r in relays {
        r.stop().await;
    }
    h.finish().await;
}
