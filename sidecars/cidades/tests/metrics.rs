//! `GET /metrics` after a few requests: the counters by method, route template and status, the
//! duration histogram, the pool's active connections; and the Redis circuit breaker, which
//! when open sends reads to PostgreSQL and shows as `circuit_breaker_open{target="redis"} 1`.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use common::Harness;

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
    let h = Harness::start_with_broker(None).await;
    let (_plan, city) = h.seed_city().await;
    for _ in 0..2 {
        h.ok(
            Method::GET,
            &format!("/v1/cities/{city}"),
            None,
            StatusCode::OK,
        )
        .await;
    }
    let missing = uuid::Uuid::new_v4();
    let (status, _) = h
        .call(Method::GET, &format!("/v1/cities/{missing}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.call(Method::GET, "/no/such/route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The requests' connections go back to the pool from tasks of their own: wait for them,
    // so the two held below are the only ones in use.
    assert_eq!(active_connections_settle_at(&h, 0.0).await, Some(0.0));
    let held = [
        h.app.pool().acquire().await.unwrap(),
        h.app.pool().acquire().await.unwrap(),
    ];
    let text = scrape(&h).await;
    let get = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("{name} in:\n{text}"));
    assert_eq!(
        get(r#"http_requests_total{method="POST",route="/v1/plans",status="201"}"#),
        1.0
    );
    assert_eq!(
        get(r#"http_requests_total{method="POST",route="/v1/cities",status="201"}"#),
        1.0
    );
    assert_eq!(
        get(r#"http_requests_total{method="GET",route="/v1/cities/{id}",status="200"}"#),
        2.0
    );
    assert_eq!(
        get(r#"http_requests_total{method="GET",route="/v1/cities/{id}",status="404"}"#),
        1.0
    );
    assert_eq!(
        get(r#"http_requests_total{method="GET",route="unmatched",status="404"}"#),
        1.0
    );
    assert_eq!(
        get(r#"http_request_duration_seconds_count{method="GET",route="/v1/cities/{id}"}"#),
        3.0
    );
    assert!(
        get(r#"http_request_duration_seconds_sum{method="GET",route="/v1/cities/{id}"}"#) > 0.0
    );
    assert_eq!(
        get(
            r#"http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/v1/cities/{id}"}"#
        ),
        3.0
    );
    assert!(
        !text.contains(&city) && !text.contains(&missing.to_string()),
        "raw URLs as labels:\n{text}"
    );
    assert_eq!(get("database_connections_active"), 2.0);
    assert_eq!(get(r#"circuit_breaker_open{target="redis"}"#), 0.0);
    drop(held);
    assert_eq!(active_connections_settle_at(&h, 0.0).await, Some(0.0));
    h.finish().await;
}

/// Scrapes `database_connections_active` until it reads `want` (for at most a second) and
/// returns the last reading: a dropped connection goes back to the pool from a task of its own.
async fn active_connections_settle_at(h: &Harness, want: f64) -> Option<f64> {
    let mut active = None;
    for _ in 0..50 {
        active = sample(&scrape(h).await, "database_connections_active");
        if active == Some(want) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    active
}

#[tokio::test]
async fn an_open_redis_breaker_reads_postgresql() {
    let h = Harness::start_with_broker(None).await;
    let (_plan, city) = h.seed_city().await;
    let cache = &h.app.state.cache;
    assert!(cache.enabled(), "the tests need the local Redis");
    // A value only Redis has: answered while the breaker is closed, skipped while it is open.
    let key = cache.city_key(city.parse().unwrap());
    cache.put(&key, r#"{"fromRedis":true}"#).await;
    let path = format!("/v1/cities/{city}");
    let body = h.ok(Method::GET, &path, None, StatusCode::OK).await;
    assert_eq!(body["fromRedis"], true);

    for _ in 0..5 {
        assert!(cache.breaker().allow());
        cache.breaker().record(false);
    }
    let body = h.ok(Method::GET, &path, None, StatusCode::OK).await;
    assert_eq!(
        body["id"].as_str(),
        Some(city.as_str()),
        "read from PostgreSQL: {body}"
    );
    assert_eq!(body.get("fromRedis"), None);
    let (status, _) = h.call(Method::GET, "/v1/cameras", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = scrape(&h).await;
    assert_eq!(
        sample(&text, r#"circuit_breaker_open{target="redis"}"#),
        Some(1.0),
        "{text}"
    );
    cache.delete(&key).await; // skipped while open; the key expires by its TTL
    h.finish().await;
}
