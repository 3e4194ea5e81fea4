//! Cameras from Cidades' `camera.*` events: a created camera of city A is granted to city A's
//! viewer, a deleted one no longer is, a late older update does not bring it back; through the
//! real broker too.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use chrono::{TimeDelta, Utc};
use lapin::options::QueueDeleteOptions;
use lapin::{Connection, ConnectionProperties};
use uuid::Uuid;
use vigia_admin::cameras;
use vigia_admin::tokens::Claims;
use vigia_events::{
    Camera, CameraDeleted, Event, EventData, Publisher, PublisherConfig, StoragePlan,
};

use common::{Harness, str_of, unique};

const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn created(camera: &str, city: Uuid) -> EventData {
    EventData::CameraCreated(Camera {
        camera_id: camera.into(),
        city_id: city.to_string(),
        name: "Praça da Sé".into(),
        rtsp_url: "rtsp://127.0.0.1:1/none".into(),
        credentials: None,
        record: false,
        storage_plan: StoragePlan {
            plan_id: "p1".into(),
            retention_days: 7,
        },
    })
}

fn deleted(camera: &str, city: Uuid) -> EventData {
    EventData::CameraDeleted(CameraDeleted {
        camera_id: camera.into(),
        city_id: city.to_string(),
    })
}

/// The paths Ana's fresh token grants `read` on.
async fn ana_reads(h: &Harness) -> Vec<String> {
    let token = str_of(&h.login("ana@test.br").await["accessToken"]);
    let payload = token.split('.').nth(1).unwrap();
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    let claims: Claims = serde_json::from_slice(&bytes).unwrap();
    claims
        .mediamtx_permissions
        .into_iter()
        .filter(|p| p.action == "read")
        .filter_map(|p| p.path)
        .collect()
}

#[tokio::test]
async fn camera_events_grant_and_withdraw_paths_in_event_order() {
    let h = Harness::start().await;
    let (city, cam) = (h.city_a.0, format!("cam-{}", unique()));
    let s = &h.app.state;
    let t0 = Utc::now();
    let event = |data, at| {
        let mut e = Event::new("test", data);
        e.time = at;
        e
    };
    cameras::apply(s, &event(created(&cam, city), t0))
        .await
        .unwrap();
    cameras::apply(s, &event(created(&cam, city), t0))
        .await
        .unwrap();
    assert!(ana_reads(&h).await.contains(&cam));
    cameras::apply(s, &event(deleted(&cam, city), t0 + TimeDelta::seconds(2)))
        .await
        .unwrap();
    assert!(!ana_reads(&h).await.contains(&cam));
    let late = event(created(&cam, city), t0 + TimeDelta::seconds(1));
    cameras::apply(s, &late).await.unwrap();
    assert!(
        !ana_reads(&h).await.contains(&cam),
        "a late older event changes nothing"
    );
    let other_city = event(created(&cam, h.city_b.0), t0 + TimeDelta::seconds(3));
    cameras::apply(s, &other_city).await.unwrap();
    assert!(
        !ana_reads(&h).await.contains(&cam),
        "a camera of city B is not granted"
    );
    h.finish().await;
}

#[tokio::test]
async fn a_camera_created_on_the_bus_is_granted_to_its_citys_viewer() {
    let id = unique();
    let queue = format!("admin-test-{id}");
    let state_dir = std::env::temp_dir().join(format!("admin-test-{id}"));
    let (q, dir) = (queue.clone(), state_dir.clone());
    let h = Harness::start_with(move |c| {
        c.events_url = Some(BROKER.into());
        c.queue = q;
        c.state_dir = dir;
    })
    .await;
    let publisher = Publisher::start(PublisherConfig::new(
        Some(BROKER.into()),
        state_dir.join("pub"),
    ))
    .unwrap();
    let cam = format!("cam-{id}");
    publisher
        .publish_durable(Event::new("test", created(&cam, h.city_a.0)))
        .await
        .unwrap();
    let granted = wait_for(&h, &cam, true).await;
    let status = match granted {
        true => {
            let token = str_of(&h.login("ana@test.br").await["accessToken"]);
            h.callback(&token, "read", &cam).await
        }
        false => StatusCode::NOT_FOUND,
    };
    publisher
        .publish_durable(Event::new("test", deleted(&cam, h.city_a.0)))
        .await
        .unwrap();
    let _ = publisher.flush().await;
    let withdrawn = wait_for(&h, &cam, false).await;
    assert!(granted, "camera.created reached Admin within 10 s");
    assert_eq!(status, StatusCode::OK);
    assert!(withdrawn, "camera.deleted reached Admin within 10 s");
    h.finish().await;
    delete_queues(&queue).await;
    let _ = std::fs::remove_dir_all(&state_dir);
}

/// Whether, within 10 s, Ana's token comes to grant (`want`) or not grant `cam`.
async fn wait_for(h: &Harness, cam: &str, want: bool) -> bool {
    for _ in 0..100 {
        if ana_reads(h).await.iter().any(|p| p == cam) == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Deletes the service queue with its retry queues (1, 2, 4 s) and dead-letter queue.
async fn delete_queues(queue: &str) {
    let mut queues = vec![vigia_events::topology::dlq(queue), queue.to_owned()];
    for d in [1, 2, 4] {
        queues.push(vigia_events::topology::retry_queue(
            queue,
            Duration::from_secs(d),
        ));
    }
    let Ok(conn) = Connection::connect(BROKER, ConnectionProperties::default()).await else {
        return;
    };
    let Ok(ch) = conn.create_channel().await else {
        return;
    };
    for q in queues {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = conn.close(200, "bye".into()).await;
}
