//! `GET /metrics` after a few requests: the counters by method, route template and status, the
//! duration histogram and the pool's active connections.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use common::{Harness, str_of};

async fn scrape(h: &Harness) -> String {
    let req = Request::get("/metrics").body(Body::empty()).unwrap();
    let resp = h.app.router().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"));
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The value of the sample `name` (with its labels, as printed), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
}

#[tokio::test]
async fn requests_are_counted_by_route_template() {
    let h = Harness::start().await;
    let root = str_of(&h.login("root@test.br").await["accessToken"]);
    h.login("ana@test.br").await;
    let wrong = json!({"email": "root@test.br", "password": "not the password"});
    let (status, _) = h.call(Method::POST, "/v1/auth/login", Some(wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let missing = uuid::Uuid::new_v4();
    let (status, _, _) = h
        .send(
            Method::GET,
            &format!("/v1/users/{missing}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.call(Method::GET, "/v1/no/such/route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let held = h.app.state.pool.acquire().await.unwrap();
    let text = scrape(&h).await;
    let get = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("{name} in:\n{text}"));
    let login = r#"{method="POST",route="/v1/auth/login""#;
    assert_eq!(
        get(&format!(r#"http_requests_total{login},status="200"}}"#)),
        2.0
    );
    assert_eq!(
        get(&format!(r#"http_requests_total{login},status="401"}}"#)),
        1.0
    );
    assert_eq!(
        get(&format!("http_request_duration_seconds_count{login}}}")),
        3.0
    );
    assert_eq!(
        get(r#"http_requests_total{method="GET",route="/v1/users/{id}",status="404"}"#),
        1.0
    );
    assert_eq!(
        get(r#"http_requests_total{method="GET",route="unmatched",status="404"}"#),
        1.0
    );
    assert!(
        !text.contains(&missing.to_string()),
        "raw URL as a label:\n{text}"
    );
    assert!(get("database_connections_active") >= 1.0);
    drop(held);
    // A dropped connection goes back to the pool from a task of its own.
    let mut active = None;
    for _ in 0..50 {
        active = sample(&scrape(&h).await, "database_connections_active");
        if active == Some(0.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(active, Some(0.0));
    h.finish().await;
}
