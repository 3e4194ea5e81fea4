//! The REST API against a real PostgreSQL: bad input names the field and stores nothing, the
//! rate limit answers 429 with Retry-After, the callback writes the audit log.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use common::{CPFS, Harness, PASSWORD, str_of, user};
use vigia_admin::users::{self, RoleInput};

#[tokio::test]
async fn bad_user_input_names_the_field_and_stores_nothing() {
    let h = Harness::start().await;
    let root = str_of(&h.login("root@test.br").await["accessToken"]);
    let good = json!({"email": "bia@test.br", "cpf": CPFS[2], "name": "Bia",
        "password": PASSWORD, "roles": [{"cityId": h.city_a.0, "role": "operator"}]});
    let with = |key: &str, v: Value| {
        let mut b = good.clone();
        b[key] = v;
        b
    };
    let cases = [
        (
            with("cpf", "123.456.789-00".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cpf",
        ),
        (
            with("email", "bia@".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "email",
        ),
        (
            with("password", "curta".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password",
        ),
        (
            with("email", "ana@test.br".into()),
            StatusCode::CONFLICT,
            "email",
        ),
        (with("cpf", CPFS[1].into()), StatusCode::CONFLICT, "cpf"),
        (
            with("roles", json!([{"cityId": h.city_a.0, "role": "root"}])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "roles[0].role",
        ),
        (
            with("roles", json!([{"cityId": "x", "role": "viewer"}])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "roles[0].cityId",
        ),
        (
            with("extra", json!(1)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "extra",
        ),
    ];
    for (body, want, field) in cases {
        let (status, v, _) = h
            .send(Method::POST, "/v1/users", Some(&root), Some(body))
            .await;
        assert_eq!((status, v["field"].as_str()), (want, Some(field)), "{v}");
    }
    assert_eq!(h.count("users").await, 2);
    assert_eq!(h.count("roles").await, 1);
    let (status, v, _) = h
        .send(Method::POST, "/v1/users", Some(&root), Some(good.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["cpf"], "123.456.789-09");
    assert!(v.get("passwordHash").is_none());
    let viewer = str_of(&h.login("ana@test.br").await["accessToken"]);
    let (status, _, _) = h
        .send(Method::POST, "/v1/users", Some(&viewer), Some(good))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a viewer cannot create users"
    );
    let (status, _) = h.call(Method::POST, "/v1/users", Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong = json!({"email": "ana@test.br", "password": "errada-123"});
    assert_eq!(
        h.call(Method::POST, "/v1/auth/login", Some(wrong)).await.0,
        StatusCode::UNAUTHORIZED
    );
    h.finish().await;
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let h = Harness::start_with(|c| c.rate_limit = 5).await;
    let ana = h.login("ana@test.br").await;
    let token = str_of(&ana["accessToken"]);
    let me = str_of(&h.login("root@test.br").await["accessToken"]);
    let id: String = {
        let (_, v, _) = h
            .send(Method::GET, "/v1/users?perPage=10", Some(&me), None)
            .await;
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "ana@test.br")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let path = format!("/v1/users/{id}");
    for n in 0..5 {
        let (status, v, _) = h.send(Method::GET, &path, Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "request {n}: {v}");
    }
    let (status, _, retry) = h.send(Method::GET, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    let (status, _, _) = h.send(Method::GET, &path, Some(&me), None).await;
    assert_eq!(status, StatusCode::OK, "another user has its own budget");
    h.finish().await;
}

#[tokio::test]
async fn the_callback_writes_audit_rows_for_reads_and_playback() {
    let h = Harness::start().await;
    let ana = str_of(&h.login("ana@test.br").await["accessToken"]);
    let (a, b) = (h.city_a.1.clone(), h.city_b.1.clone());
    assert_eq!(h.callback(&ana, "read", &a).await, StatusCode::OK);
    assert_eq!(h.callback(&ana, "playback", &a).await, StatusCode::OK);
    assert_eq!(h.callback(&ana, "read", &b).await, StatusCode::FORBIDDEN);
    assert_eq!(h.callback(&ana, "publish", &a).await, StatusCode::FORBIDDEN);
    let root = str_of(&h.login("root@test.br").await["accessToken"]);
    let (status, rows, _) = h.send(Method::GET, "/v1/audit", Some(&root), None).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let rows = rows.as_array().unwrap().clone();
    assert_eq!(rows.len(), 3, "publish is not audited: {rows:?}");
    let denied = &rows[0];
    assert_eq!(
        (denied["path"].as_str(), denied["allowed"].as_bool()),
        (Some(b.as_str()), Some(false))
    );
    let watched = &rows[2];
    assert_eq!(watched["email"], "ana@test.br");
    assert_eq!(watched["ip"], "10.1.2.3");
    assert_eq!(watched["protocol"], "rtsp");
    assert_eq!(
        (watched["action"].as_str(), watched["allowed"].as_bool()),
        (Some("read"), Some(true))
    );
    let (_, only_a, _) = h
        .send(
            Method::GET,
            &format!("/v1/audit?path={a}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(only_a.as_array().unwrap().len(), 2);
    let role = RoleInput {
        city_id: h.city_a.0,
        role: "admin".into(),
    };
    let input = users::check(user("adm@test.br", CPFS[2], vec![role])).unwrap();
    users::create(&h.app.state.pool, input, false)
        .await
        .unwrap();
    let city_admin = str_of(&h.login("adm@test.br").await["accessToken"]);
    let (status, mine, _) = h
        .send(Method::GET, "/v1/audit", Some(&city_admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let paths: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [a.as_str(), a.as_str()],
        "a city admin sees only its cities' cameras"
    );
    let (status, _, _) = h.send(Method::GET, "/v1/audit", Some(&ana), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer sees no audit log");
    h.finish().await;
}

#[tokio::test]
async fn bootstrap_creates_the_first_superadmin_only_once() {
    let h = Harness::start().await;
    let input = user("boot@test.br", CPFS[2], vec![]);
    assert!(
        !h.app.bootstrap(input).await.unwrap(),
        "users exist already"
    );
    assert_eq!(h.count("users").await, 2);
    sqlx::query("DELETE FROM users")
        .execute(&h.app.state.pool)
        .await
        .unwrap();
    let bad = user("boot@", CPFS[2], vec![]);
    assert!(
        h.app.bootstrap(bad).await.is_err(),
        "a bad bootstrap user is refused"
    );
    assert!(
        h.app
            .bootstrap(user("boot@test.br", CPFS[2], vec![]))
            .await
            .unwrap()
    );
    let tokens = h.login("boot@test.br").await;
    let me = str_of(&tokens["accessToken"]);
    let (status, list, _) = h.send(Method::GET, "/v1/users", Some(&me), None).await;
    assert_eq!(
        (status, list["total"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{list}"
    );
    h.finish().await;
}
