//! The REST API against a real PostgreSQL: validation errors naming the field with nothing
//! stored, duplicates, SQL metacharacters as data, pagination and filters.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use common::{CNPJ, Harness, camera_body, plan_body, str_of};

#[tokio::test]
async fn bad_input_names_the_field_and_stores_nothing() {
    let h = Harness::start_with_broker(None).await;
    let (plan, city) = h.seed_city().await;
    let good_city = json!({"ibgeCode": "3304557", "name": "Rio", "uf": "RJ", "cnpj": CNPJ,
        "storagePlanId": plan});
    let with = |base: &Value, key: &str, v: Value| {
        let mut b = base.clone();
        b[key] = v;
        b
    };
    let cam = camera_body(&city, "Cam 1", "rtsp://10.0.0.1/stream");
    let unknown = "00000000-0000-0000-0000-000000000000";
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "/v1/cities",
            with(&good_city, "cnpj", "11222333000182".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cnpj",
        ),
        (
            "/v1/cities",
            with(&good_city, "uf", "XX".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "uf",
        ),
        (
            "/v1/cities",
            with(&good_city, "ibgeCode", "12345".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "ibgeCode",
        ),
        (
            "/v1/cities",
            with(&good_city, "ibgeCode", "3550308".into()),
            StatusCode::CONFLICT,
            "ibgeCode",
        ),
        (
            "/v1/cities",
            with(&good_city, "storagePlanId", unknown.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "storagePlanId",
        ),
        (
            "/v1/cities",
            with(&good_city, "storagePlanId", "x".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "storagePlanId",
        ),
        (
            "/v1/plans",
            plan_body("P", 0),
            StatusCode::UNPROCESSABLE_ENTITY,
            "retentionDays",
        ),
        (
            "/v1/plans",
            plan_body("Básico", 10),
            StatusCode::CONFLICT,
            "name",
        ),
        (
            "/v1/cameras",
            with(&cam, "rtspUrl", "http://10.0.0.1/x".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rtspUrl",
        ),
        (
            "/v1/cameras",
            with(&cam, "rtspUrl", "rtsp://u:p@10.0.0.1/x".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rtspUrl",
        ),
        (
            "/v1/cameras",
            with(&cam, "cityId", unknown.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cityId",
        ),
        (
            "/v1/cameras",
            with(&cam, "name", "".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "/v1/cameras",
            with(&cam, "record", "yes".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "record",
        ),
        (
            "/v1/cameras",
            with(&cam, "username", Value::Null),
            StatusCode::UNPROCESSABLE_ENTITY,
            "username",
        ),
    ];
    for (path, body, status, field) in cases {
        let (got, json) = h.call(Method::POST, path, Some(body.clone())).await;
        assert_eq!(
            (got, json["field"].as_str()),
            (status, Some(field)),
            "{path} {body}: {json}"
        );
        assert!(json["error"].is_string(), "{json}");
    }
    assert_eq!(
        (h.count("cities").await, h.count("storage_plans").await),
        (1, 1)
    );
    assert_eq!((h.count("cameras").await, h.count("outbox").await), (0, 0));

    h.ok(
        Method::POST,
        "/v1/cameras",
        Some(cam.clone()),
        StatusCode::CREATED,
    )
    .await;
    let again = with(&cam, "rtspUrl", "rtsp://10.0.0.2/other".into());
    let (status, json) = h.call(Method::POST, "/v1/cameras", Some(again)).await;
    assert_eq!(
        (status, json["field"].as_str()),
        (StatusCode::CONFLICT, Some("name"))
    );
    let same_url = with(&cam, "name", "Cam 2".into());
    let (status, json) = h.call(Method::POST, "/v1/cameras", Some(same_url)).await;
    assert_eq!(
        (status, json["field"].as_str()),
        (StatusCode::CONFLICT, Some("rtspUrl"))
    );
    assert_eq!((h.count("cameras").await, h.count("outbox").await), (1, 1));
    let (status, _) = h
        .call(Method::GET, &format!("/v1/cameras/{}", "nope"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    h.finish().await;
}

#[tokio::test]
async fn sql_metacharacters_are_data() {
    let h = Harness::start_with_broker(None).await;
    let (_, city) = h.seed_city().await;
    let name = "x'); DROP TABLE cameras; -- <b>%_\\";
    let body = camera_body(&city, name, "rtsp://10.0.0.9/a");
    let cam = h
        .ok(Method::POST, "/v1/cameras", Some(body), StatusCode::CREATED)
        .await;
    assert_eq!(cam["name"], name);
    let got = h
        .ok(
            Method::GET,
            &format!("/v1/cameras/{}", str_of(&cam["id"])),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(got["name"], name);
    let list = h
        .ok(
            Method::GET,
            "/v1/cameras?name=%25_%5C",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(list["total"], 1, "% _ \\ match literally");
    let list = h
        .ok(Method::GET, "/v1/cameras?name=%25%25", None, StatusCode::OK)
        .await;
    assert_eq!(list["total"], 0);
    assert_eq!(h.count("cameras").await, 1);
    h.finish().await;
}

#[tokio::test]
async fn lists_page_and_filter() {
    let h = Harness::start_with_broker(None).await;
    let (_, city) = h.seed_city().await;
    for i in 0..7 {
        let body = camera_body(
            &city,
            &format!("Praça {i}"),
            &format!("rtsp://10.0.1.{i}/s"),
        );
        h.ok(Method::POST, "/v1/cameras", Some(body), StatusCode::CREATED)
            .await;
    }
    let other = camera_body(&city, "Escola", "rtsp://10.0.2.1/s");
    h.ok(
        Method::POST,
        "/v1/cameras",
        Some(other),
        StatusCode::CREATED,
    )
    .await;
    let page = h
        .ok(
            Method::GET,
            "/v1/cameras?name=pra%C3%A7a&perPage=3&page=3",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (
            page["total"].as_i64(),
            page["page"].as_i64(),
            page["perPage"].as_i64()
        ),
        (Some(7), Some(3), Some(3))
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["name"], "Praça 6");
    assert_eq!(page["items"][0]["hasPassword"], true);
    assert!(page["items"][0].get("password").is_none());
    let q = format!("/v1/cameras?cityId={city}&status=unknown");
    assert_eq!(
        h.ok(Method::GET, &q, None, StatusCode::OK).await["total"],
        8
    );
    let q = "/v1/cameras?status=online";
    assert_eq!(h.ok(Method::GET, q, None, StatusCode::OK).await["total"], 0);
    let (status, json) = h.call(Method::GET, "/v1/cameras?perPage=1000", None).await;
    assert_eq!(
        (status, json["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("perPage"))
    );
    let cities = h
        .ok(Method::GET, "/v1/cities?uf=sp", None, StatusCode::OK)
        .await;
    assert_eq!(cities["total"], 1);
    assert_eq!(
        h.ok(Method::GET, "/v1/cities?uf=RJ", None, StatusCode::OK)
            .await["total"],
        0
    );
    h.finish().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let h = Harness::start_with_broker(None).await;
    let (status, _) = h.call(Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.call(Method::GET, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    h.finish().await;
}
