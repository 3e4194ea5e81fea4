//! The operator console: one page (plain HTML, CSS and JavaScript, embedded in the binary) where
//! a prefeitura's operator logs in, sees the cameras of their cities with live status, watches
//! them live and plays their recordings (docs/platform.md).
//!
//! Admin serves it because the console's session is Admin's: login, refresh and logout stay
//! same-origin, so the endpoints that take passwords and refresh tokens never answer another
//! origin. The page then reads, cross-origin and with simple `GET`s only:
//!
//! - Cidades' camera list (`ADMIN_CONSOLE_CIDADES_URL`; Cidades allows `GET` from any origin);
//! - Vigia's WHEP (`ADMIN_CONSOLE_WEBRTC_URL`): each live view is a WebRTC session, its offer
//!   posted with the access token as `Authorization: Bearer` (Vigia's WHEP answers the
//!   preflight); a view that WHEP cannot start within 8 s falls back to LL-HLS;
//! - Vigia's LL-HLS (`ADMIN_CONSOLE_HLS_URL`): hls.js is loaded from Vigia and every playlist,
//!   part and segment request carries the access token as `?jwt=` (Vigia passes it to Admin's
//!   callback, or checks it itself with `authJWTInHTTPQuery`);
//! - Vigia's playback server (`ADMIN_CONSOLE_PLAYBACK_URL`): `/list` for the timeline, `/get`
//!   for the `<video>`, with the same `?jwt=`.
//!
//! Each URL may be written as `:port` (the console's own host name on that port), or in full.
//! `ADMIN_CONSOLE_WEBRTC_URL=none` makes every live view LL-HLS (as `?live=hls` does for one
//! page), for networks that block WebRTC's UDP.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Serialize;

/// The page.
const INDEX: &str = include_str!("../console/index.html");
/// The script: session, i18n, lists, mosaic, timeline.
const SCRIPT: &str = include_str!("../console/console.js");
/// The style sheet.
const STYLE: &str = include_str!("../console/console.css");
/// Scripts from this origin and from Vigia (hls.js, which runs its demuxer in a `blob:` worker
/// and feeds `<video>` through a `blob:` media source); no inline script.
const POLICY: &str = "default-src 'self'; script-src 'self' http: https:; \
    worker-src 'self' blob:; connect-src 'self' http: https:; \
    media-src 'self' http: https: blob:; img-src 'self' data:; style-src 'self'; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Where the console's browser finds the other services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Links {
    /// `ADMIN_CONSOLE_CIDADES_URL`, default `:8081`: Cidades' API.
    pub cidades: String,
    /// `ADMIN_CONSOLE_HLS_URL`, default `:8888`: Vigia's HLS listener.
    pub hls: String,
    /// `ADMIN_CONSOLE_WEBRTC_URL`, default `:8889`: Vigia's WebRTC (WHEP) listener; empty
    /// (`none`) for LL-HLS only.
    pub webrtc: String,
    /// `ADMIN_CONSOLE_PLAYBACK_URL`, default `:9996`: Vigia's playback server.
    pub playback: String,
}

impl Links {
    /// The links from `var` (an environment), with the defaults of Vigia and the sidecars.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Links {
        let or = |name: &str, default: &str| {
            var(name)
                .map(|v| v.trim().trim_end_matches('/').to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Links {
            cidades: or("ADMIN_CONSOLE_CIDADES_URL", ":8081"),
            hls: or("ADMIN_CONSOLE_HLS_URL", ":8888"),
            playback: or("ADMIN_CONSOLE_PLAYBACK_URL", ":9996"),
            webrtc: match or("ADMIN_CONSOLE_WEBRTC_URL", ":8889") {
                off if off.eq_ignore_ascii_case("none") => String::new(),
                url => url,
            },
        }
    }
}

/// The console's routes: `/` redirects to `/console/`, which serves the page, its script and
/// style, and `config.json` (the [`Links`]).
pub fn routes<S: Clone + Send + Sync + 'static>(links: Links) -> Router<S> {
    let config = serde_json::to_string(&links).unwrap_or_default();
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route(
            "/console/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/console/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/console/console.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/console/config.json",
            get(move || async move { asset("application/json", config) }),
        )
}

/// A static answer with its type, the content policy, and no caching (the files change with
/// the binary).
fn asset(content_type: &'static str, body: impl Into<String>) -> Response {
    let headers = [
        (CONTENT_TYPE, content_type),
        (CACHE_CONTROL, "no-cache"),
        (CONTENT_SECURITY_POLICY, POLICY),
    ];
    (headers, body.into()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_default_to_the_standard_ports_and_take_overrides() {
        let l = Links::from_vars(|_| None);
        assert_eq!((l.cidades.as_str(), l.hls.as_str()), (":8081", ":8888"));
        assert_eq!(l.playback, ":9996");
        let l = Links::from_vars(|n| {
            (n == "ADMIN_CONSOLE_HLS_URL").then(|| " https://video.pref.br/ ".into())
        });
        assert_eq!(l.hls, "https://video.pref.br");
        assert_eq!(l.webrtc, ":8889");
        let off = Links::from_vars(|n| (n == "ADMIN_CONSOLE_WEBRTC_URL").then(|| "none".into()));
        assert_eq!(off.webrtc, "");
    }

    #[tokio::test]
    async fn serves_the_page_with_its_policy_the_links_and_a_redirect() {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let links =
            Links::from_vars(|n| (n == "ADMIN_CONSOLE_CIDADES_URL").then(|| "http://c".into()));
        let get = |uri: &str| {
            let req = axum::http::Request::get(uri).body(axum::body::Body::empty());
            routes::<()>(links.clone()).oneshot(req.unwrap())
        };
        let root = get("/").await.unwrap();
        assert!(root.status().is_redirection());
        assert_eq!(root.headers()["location"], "/console/");
        let page = get("/console/").await.unwrap();
        assert_eq!(page.headers()[CONTENT_SECURITY_POLICY], POLICY);
        assert!(
            page.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let config = get("/console/config.json").await.unwrap();
        let body = config.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"cidades": "http://c", "hls": ":8888", "playback": ":9996",
                "webrtc": ":8889"})
        );
    }

    #[test]
    fn the_script_never_builds_markup_from_strings() {
        for banned in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
        ] {
            assert!(!SCRIPT.contains(banned), "console.js uses {banned}");
        }
    }
}
