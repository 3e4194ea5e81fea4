//! Cross-origin reads for the operator console, which Admin serves from another origin.
//!
//! Only `GET` and `HEAD` answers carry `Access-Control-Allow-Origin`, and only for an origin of
//! `CIDADES_ALLOW_ORIGINS` (exact `scheme://host:port`, or `*` for any). A preflight is
//! answered only for such a read (the console's reads carry `Authorization`, which needs one),
//! allowing the `Authorization` and `X-Correlation-Id` headers; a write (`POST`, `PUT`, `DELETE`) carrying an `Origin` header is refused with
//! `403` before it runs: only browsers send `Origin`, and Cidades serves no page, so such a
//! write comes from some other site's page — including the "simple" `text/plain` POSTs a browser
//! sends without a preflight (cross-site request forgery). Services and scripts send no
//! `Origin` and are unaffected.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, CONTENT_TYPE, ORIGIN, VARY,
};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The origins allowed to read, from `CIDADES_ALLOW_ORIGINS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowOrigins(Arc<[String]>);

impl AllowOrigins {
    /// Parses a comma-separated list (`*`, or origins like `http://10.0.0.5:8082`).
    pub fn parse(list: &str) -> AllowOrigins {
        let origins: Vec<String> = list
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        AllowOrigins(origins.into())
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`, if it may read.
    pub fn allow(&self, origin: &str) -> Option<HeaderValue> {
        let listed = self.0.iter().any(|o| o == origin);
        if listed {
            return HeaderValue::from_str(origin).ok();
        }
        self.0
            .iter()
            .any(|o| o == "*")
            .then(|| HeaderValue::from_static("*"))
    }
}

/// How long a browser may reuse a preflight's answer, seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Middleware (`from_fn_with_state`): refuses writes from browser pages, answers the
/// preflights of allowed cross-origin reads, and adds the header to their answers.
pub async fn middleware(State(origins): State<AllowOrigins>, req: Request, next: Next) -> Response {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let origin = req.headers().get(ORIGIN).and_then(|o| o.to_str().ok());
    if req.method() == Method::OPTIONS {
        return preflight(&origins, &req, origin);
    }
    if origin.is_some() && !read && req.method() != Method::OPTIONS {
        let body = r#"{"error":"writes from a browser page are not accepted"}"#;
        let json = [(CONTENT_TYPE, "application/json")];
        return (StatusCode::FORBIDDEN, json, body).into_response();
    }
    let allow = origin.filter(|_| read).and_then(|o| origins.allow(o));
    let mut resp = next.run(req).await;
    if let Some(value) = allow {
        resp.headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        resp.headers_mut()
            .append(VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

/// The answer to a preflight: `204` with the allowances when it asks to read from an allowed
/// origin, a bare `204` (which the browser takes as a refusal) otherwise.
fn preflight(origins: &AllowOrigins, req: &Request, origin: Option<&str>) -> Response {
    let asks_read = req
        .headers()
        .get(ACCESS_CONTROL_REQUEST_METHOD)
        .is_some_and(|m| m == "GET" || m == "HEAD");
    let allow = origin.filter(|_| asks_read).and_then(|o| origins.allow(o));
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let headers = resp.headers_mut();
    headers.append(VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = allow {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD"),
        );
        headers.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, x-correlation-id"),
        );
        headers.insert(
            ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_origins_are_echoed_a_star_allows_any_and_nothing_else_is() {
        let any = AllowOrigins::parse("*");
        assert_eq!(any.allow("http://x:1").unwrap(), "*");
        let some = AllowOrigins::parse(" http://a:8082/ , https://b ");
        assert_eq!(some.allow("http://a:8082").unwrap(), "http://a:8082");
        assert_eq!(some.allow("https://b").unwrap(), "https://b");
        assert!(some.allow("http://c").is_none());
        assert!(AllowOrigins::parse("").allow("http://a:8082").is_none());
    }

    #[tokio::test]
    async fn reads_are_shared_and_writes_from_pages_refused() {
        use tower::ServiceExt;
        let router = axum::Router::new()
            .route(
                "/x",
                axum::routing::get(|| async { "r" }).post(|| async { "w" }),
            )
            .layer(axum::middleware::from_fn_with_state(
                AllowOrigins::parse("http://console:8082"),
                middleware,
            ));
        let send = |method: &str, origin: Option<&str>| {
            let mut req = Request::builder().method(method).uri("/x");
            if let Some(o) = origin {
                req = req.header(ORIGIN, o);
            }
            router
                .clone()
                .oneshot(req.body(axum::body::Body::empty()).unwrap())
        };
        let read = send("GET", Some("http://console:8082")).await.unwrap();
        assert_eq!(
            read.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://console:8082"
        );
        let other = send("GET", Some("http://evil")).await.unwrap();
        assert!(!other.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        assert_eq!(
            send("POST", Some("http://console:8082"))
                .await
                .unwrap()
                .status(),
            403
        );
        assert_eq!(
            send("POST", Some("http://evil")).await.unwrap().status(),
            403
        );
        assert_eq!(send("POST", None).await.unwrap().status(), 200);
        let ask = |origin: &str, method: &str| {
            let req = Request::builder()
                .method("OPTIONS")
                .uri("/x")
                .header(ORIGIN, origin)
                .header(ACCESS_CONTROL_REQUEST_METHOD, method);
            router
                .clone()
                .oneshot(req.body(axum::body::Body::empty()).unwrap())
        };
        let ok = ask("http://console:8082", "GET").await.unwrap();
        assert_eq!(ok.status(), 204);
        assert_eq!(
            ok.headers()[ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization, x-correlation-id"
        );
        for (origin, method) in [("http://evil", "GET"), ("http://console:8082", "POST")] {
            let no = ask(origin, method).await.unwrap();
            assert!(!no.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        }
    }
}
