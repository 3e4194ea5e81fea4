//! Test harness: a Cidades on its own PostgreSQL database (created and dropped per test, so
//! tests run in parallel), its own service queue and Redis key prefix, the real broker; and a
//! listener on `vigia.events` through an exclusive queue.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use futures::StreamExt;
use http_body_util::BodyExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio::sync::mpsc;
use tower::ServiceExt;
use vigia_cidades::App;
use vigia_cidades::auth::AuthConfig;
use vigia_cidades::config::Config;
use vigia_cidades::crypto::AtRest;
use vigia_cidades::events::Keys;
use vigia_events::{CONTENT_TYPE, EXCHANGE, Event, Keyring};

/// The cuttable proxy in front of the broker (`vigia-events`' test support), for the outage
/// tests of `tests/bus.rs`; the other test files that share this module do not use it.
#[allow(unused_imports)]
pub use vigia_events::test_support::BrokerProxy;

/// The local broker.
pub const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The local PostgreSQL, a database every test may connect to for admin work.
pub const ADMIN_DB: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// A valid CNPJ.
pub const CNPJ: &str = "11222333000181";

/// A running Cidades for one test.
pub struct Harness {
    /// The service.
    pub app: App,
    /// Its database name.
    pub db: String,
    /// The bus keyring (to open passwords in events).
    pub bus_keys: Keyring,
    /// Its config.
    pub config: Config,
    router: axum::Router,
}

/// A unique suffix.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn key(id: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    use base64::Engine;
    format!(
        "{id}:{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

impl Harness {
    /// A Cidades relaying to the real broker.
    pub async fn start() -> Harness {
        Harness::start_with_broker(Some(BROKER)).await
    }

    /// A Cidades whose relay and consumer use `broker` (`None`: no bus at all), with
    /// authentication disabled (every request a superadmin's; `tests/auth.rs` covers tokens).
    pub async fn start_with_broker(broker: Option<&str>) -> Harness {
        Harness::start_with(broker, AuthConfig::Disabled).await
    }

    /// A Cidades with `broker` and `auth`.
    pub async fn start_with(broker: Option<&str>, auth: AuthConfig) -> Harness {
        let id = unique();
        let db = format!("cidades_test_{id}");
        let mut admin = sqlx::PgConnection::connect(ADMIN_DB)
            .await
            .expect("admin db");
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        let state_dir = std::env::temp_dir().join(format!("cidades-test-{id}"));
        let mut config = config(&db, &id, broker, state_dir);
        config.auth = auth;
        let bus_keys = Keyring::parse(&key(&format!("bus-{id}"))).unwrap();
        let keys = Keys {
            at_rest: Some(AtRest::new(Keyring::parse(&key("rest")).unwrap())),
            bus: Some(bus_keys.clone()),
        };
        let app = App::start(&config, keys).await.expect("start cidades");
        let router = app.router();
        Harness {
            app,
            db,
            bus_keys,
            config,
            router,
        }
    }

    /// Sends a request, returning the status and the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_correlated(method, path, body, None).await
    }

    /// `call` with an `x-correlation-id` header.
    pub async fn call_correlated(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        correlation: Option<&str>,
    ) -> (StatusCode, Value) {
        let headers: Vec<(&str, &str)> = correlation
            .map(|id| ("x-correlation-id", id))
            .into_iter()
            .collect();
        self.call_with(method, path, body, &headers).await
    }

    /// `call` with `Authorization: Bearer <token>`.
    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bearer = format!("Bearer {token}");
        self.call_with(method, path, body, &[("authorization", &bearer)])
            .await
    }

    /// `call` with extra request headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
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
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    /// `call`, asserting `want` as the status.
    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        want: StatusCode,
    ) -> Value {
        let (status, json) = self.call(method, path, body).await;
        assert_eq!(status, want, "{path}: {json}");
        json
    }

    /// A plan, a city on it and a camera of the city: (plan id, city id).
    pub async fn seed_city(&self) -> (String, String) {
        let plan = self
            .ok(
                Method::POST,
                "/v1/plans",
                Some(plan_body("Básico", 30)),
                StatusCode::CREATED,
            )
            .await;
        let city = json!({"ibgeCode": "3550308", "name": "São Paulo", "uf": "SP",
            "cnpj": CNPJ, "storagePlanId": plan["id"]});
        let city = self
            .ok(Method::POST, "/v1/cities", Some(city), StatusCode::CREATED)
            .await;
        (str_of(&plan["id"]), str_of(&city["id"]))
    }

    /// Rows of `table`.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(self.app.pool())
            .await
            .unwrap()
    }

    /// Deletes the cameras left (so no Vigia on the shared broker keeps pulling them), waits
    /// for their `camera.deleted` to be relayed when the real broker is in use, stops the
    /// service, drops its database and deletes its queues.
    pub async fn finish(self) {
        self.delete_cameras().await;
        let queue = self.config.queue.clone();
        let pool = self.app.pool().clone();
        self.app.stop().await;
        pool.close().await;
        let mut admin = sqlx::PgConnection::connect(ADMIN_DB)
            .await
            .expect("admin db");
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db);
        let _ = sqlx::query(&drop).execute(&mut admin).await;
        delete_service_queues(&queue).await;
        delete_cache_keys(&self.config).await;
        let _ = std::fs::remove_dir_all(&self.config.state_dir);
    }
}

impl Harness {
    /// Deletes every camera (their `camera.deleted` go to the outbox) and, when this instance
    /// relays to the real broker, waits until the outbox is empty.
    pub async fn delete_cameras(&self) {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM cameras")
            .fetch_all(self.app.pool())
            .await
            .unwrap_or_default();
        for id in ids {
            let _ = self.app.state.delete_camera(id).await;
        }
        if self.config.events_url.as_deref() != Some(BROKER) {
            return;
        }
        for _ in 0..50 {
            if vigia_cidades::outbox::pending(self.app.pool())
                .await
                .unwrap_or(0)
                == 0
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The configuration of a test instance.
fn config(db: &str, id: &str, broker: Option<&str>, state_dir: PathBuf) -> Config {
    let mut c = Config::from_vars(|_| None).unwrap();
    c.database_url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    c.events_url = broker.map(str::to_owned);
    c.queue = format!("cidades-test-{id}");
    c.state_dir = state_dir;
    c.redis_prefix = format!("cidades-test-{id}");
    c
}

/// A plan body.
pub fn plan_body(name: &str, days: i64) -> Value {
    json!({"name": name, "retentionDays": days, "quotaGb": 500})
}

/// A camera body.
pub fn camera_body(city: &str, name: &str, url: &str) -> Value {
    json!({"cityId": city, "name": name, "location": "Av. Paulista, 1000", "rtspUrl": url,
        "username": "admin", "password": "s3nh@forte", "record": true})
}

/// A JSON string's contents.
pub fn str_of(v: &Value) -> String {
    v.as_str().expect("a string").to_owned()
}

/// Events read from `vigia.events` through an exclusive, auto-deleted queue.
pub struct Bus {
    rx: mpsc::UnboundedReceiver<Event>,
    _conn: Connection,
}

impl Bus {
    /// Binds a queue with `patterns` and starts reading.
    pub async fn listen(patterns: &[&str]) -> Bus {
        let conn = connect().await;
        let ch = conn.create_channel().await.unwrap();
        // A fresh broker has no exchange until a publisher declares it (idempotent).
        vigia_events::topology::declare_exchange(&ch, EXCHANGE)
            .await
            .unwrap();
        let opts = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        let q = ch
            .queue_declare("".into(), opts, FieldTable::default())
            .await
            .unwrap();
        for p in patterns {
            ch.queue_bind(
                q.name().clone(),
                EXCHANGE.into(),
                (*p).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        }
        let opts = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let mut stream = ch
            .basic_consume(q.name().clone(), "".into(), opts, FieldTable::default())
            .await
            .unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(d)) = stream.next().await {
                if let Ok(e) = Event::from_slice(&d.data) {
                    let _ = tx.send(e);
                }
            }
        });
        Bus { rx, _conn: conn }
    }

    /// The next event for which `keep` holds, within `secs` seconds.
    pub async fn next(&mut self, secs: u64, keep: impl Fn(&Event) -> bool) -> Event {
        let wait = async {
            loop {
                let e = self.rx.recv().await.expect("bus listener ended");
                if keep(&e) {
                    return e;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(secs), wait)
            .await
            .expect("no such event on the bus in time")
    }

    /// Whether an event for which `keep` holds arrives within `ms` milliseconds.
    pub async fn any_within(&mut self, ms: u64, keep: impl Fn(&Event) -> bool) -> bool {
        let wait = async {
            while let Some(e) = self.rx.recv().await {
                if keep(&e) {
                    return true;
                }
            }
            false
        };
        tokio::time::timeout(Duration::from_millis(ms), wait)
            .await
            .unwrap_or(false)
    }
}

/// Publishes `event` to `vigia.events` with its type as routing key, confirmed. A channel the
/// broker closes is retried on a new connection (3 tries): a quorum queue bound to the exchange
/// by another test that is being deleted at that moment makes RabbitMQ close the publishing
/// channel with INTERNAL_ERROR (seen in a full run: `register_enqueuer` on a queue in `delete`).
pub async fn publish(event: &Event) {
    let mut last = None;
    for _ in 0..3 {
        match try_publish(event).await {
            Ok(()) => return,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("publishing {}: {last:?}", event.event_type().as_str());
}

/// One confirmed publish of `event` on a connection of its own.
async fn try_publish(event: &Event) -> Result<(), lapin::Error> {
    let conn = connect().await;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let props = BasicProperties::default().with_content_type(CONTENT_TYPE.into());
    let key = event.event_type().as_str();
    let confirm = ch
        .basic_publish(
            EXCHANGE.into(),
            key.into(),
            BasicPublishOptions::default(),
            &event.to_bytes(),
            props,
        )
        .await?;
    assert!(confirm.await?.is_ack(), "the broker refused the event");
    let _ = conn.close(200, "bye".into()).await;
    Ok(())
}

async fn connect() -> Connection {
    let connect = Connection::connect(BROKER, ConnectionProperties::default());
    tokio::time::timeout(Duration::from_secs(15), connect)
        .await
        .expect("broker timed out")
        .expect("connect to the broker")
}

/// Deletes the cache keys of a test instance.
async fn delete_cache_keys(config: &Config) {
    let Some(url) = &config.redis_url else {
        return;
    };
    let Ok(client) = redis::Client::open(url.as_str()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let pattern = format!("{}:*", config.redis_prefix);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

/// Deletes a service queue of `vigia_events` with its retry queues (the default 1, 2, 4 s) and DLQ.
pub async fn delete_service_queues(queue: &str) {
    let mut queues = vec![vigia_events::topology::dlq(queue), queue.to_owned()];
    for d in [1, 2, 4] {
        queues.push(vigia_events::topology::retry_queue(
            queue,
            Duration::from_secs(d),
        ));
    }
    delete_queues(&queues).await;
}

async fn delete_queues(queues: &[String]) {
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
