//! Test harness: an Admin on its own PostgreSQL database (created and dropped per test, so
//! tests run in parallel), with a superadmin, two cities each with a camera, and a viewer of the
//! first city.

#![allow(dead_code, unreachable_pub)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::Connection as _;
use tower::ServiceExt;
use uuid::Uuid;
use vigia_admin::config::Config;
use vigia_admin::users::{self, RoleInput, UserInput};
use vigia_admin::{App, cameras};
use vigia_events::Keyring;

/// The local PostgreSQL, a database every test may connect to for admin work.
pub const ADMIN_DB: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Every test user's password.
pub const PASSWORD: &str = "s3nha-muito-forte";
/// Valid CPFs.
pub const CPFS: [&str; 3] = ["529.982.247-25", "111.444.777-35", "123.456.789-09"];

/// A running Admin for one test.
pub struct Harness {
    /// The service.
    pub app: App,
    /// Its database name.
    pub db: String,
    /// City A and its camera path.
    pub city_a: (Uuid, String),
    /// City B and its camera path.
    pub city_b: (Uuid, String),
    router: axum::Router,
}

/// A unique suffix.
pub fn unique() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

impl Harness {
    /// An Admin with the default configuration.
    pub async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    /// An Admin whose configuration `edit` changes; seeded with `root@test.br` (superadmin),
    /// `ana@test.br` (viewer of city A) and a camera in each city.
    pub async fn start_with(edit: impl FnOnce(&mut Config)) -> Harness {
        let db = format!("admin_test_{}", unique());
        let mut admin = sqlx::PgConnection::connect(ADMIN_DB)
            .await
            .expect("admin db");
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        let mut config = Config::from_vars(|_| None).unwrap();
        config.database_url = format!("postgres://postgres@127.0.0.1:5432/{db}");
        config.events_url = None;
        edit(&mut config);
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        let keyring = Keyring::parse(&format!("t1:{key}")).unwrap();
        let app = App::start(config, keyring).await.expect("start admin");
        let router = app.router();
        let city_a = (Uuid::new_v4(), format!("cam-a-{}", unique()));
        let city_b = (Uuid::new_v4(), format!("cam-b-{}", unique()));
        let h = Harness {
            app,
            db,
            city_a,
            city_b,
            router,
        };
        h.seed().await;
        h
    }

    async fn seed(&self) {
        let pool = &self.app.state.pool;
        let root = user("root@test.br", CPFS[0], vec![]);
        users::create(pool, users::check(root).unwrap(), true)
            .await
            .unwrap();
        let role = RoleInput {
            city_id: self.city_a.0,
            role: "viewer".into(),
        };
        let ana = user("ana@test.br", CPFS[1], vec![role]);
        users::create(pool, users::check(ana).unwrap(), false)
            .await
            .unwrap();
        for (city, path) in [&self.city_a, &self.city_b] {
            let now = chrono::Utc::now();
            cameras::upsert(&self.app.state, path, *city, false, now)
                .await
                .unwrap();
        }
    }

    /// Sends a request with an optional bearer token, returning the status, the JSON body
    /// (`Null` when empty) and the `Retry-After` header.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, Option<String>) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            retry,
        )
    }

    /// `send` without a token, status and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, v, _) = self.send(method, path, None, body).await;
        (s, v)
    }

    /// Logs in, asserting success; the token pair.
    pub async fn login(&self, email: &str) -> Value {
        let body = json!({"email": email, "password": PASSWORD});
        let (status, v) = self.call(Method::POST, "/v1/auth/login", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }

    /// The callback's answer for `action` on `path` with `token`.
    pub async fn callback(&self, token: &str, action: &str, path: &str) -> StatusCode {
        let body = json!({"ip": "10.1.2.3", "user": "", "password": "", "token": token,
            "action": action, "path": path, "protocol": "rtsp",
            "id": "6a1d43d3-4e1a-4f43-9e0b-4c5a2c4b7a10", "query": "", "userAgent": "ffplay"});
        self.call(Method::POST, "/v1/auth/mediamtx", Some(body))
            .await
            .0
    }

    /// Rows of `table`.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.app.state.pool)
            .await
            .unwrap()
    }

    /// Stops the service and drops its database.
    pub async fn finish(self) {
        self.app.stop().await;
        let mut admin = sqlx::PgConnection::connect(ADMIN_DB)
            .await
            .expect("admin db");
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db);
        let _ = sqlx::query(&drop).execute(&mut admin).await;
    }
}

/// A user body.
pub fn user(email: &str, cpf: &str, roles: Vec<RoleInput>) -> UserInput {
    UserInput {
        email: email.into(),
        cpf: cpf.into(),
        name: "Teste".into(),
        password: PASSWORD.into(),
        roles,
    }
}

/// A JSON string's contents.
pub fn str_of(v: &Value) -> String {
    v.as_str().expect("a string").to_owned()
}
