//! `authMethod: http`: each attempt is posted to `authHTTPAddress` as MediaMTX posts it (its
//! JSON fields, a `readTimeout` limit); a 2xx answer allows it, anything else refuses it.
//! Attempts whose action and path `authHTTPExclude` lists are allowed without asking.

use serde::Serialize;

use super::{Attempt, Presented};
use crate::config::{Config, any_allows};

/// The longest part of a refusing answer's body quoted in the log.
const QUOTED_BODY: usize = 256;

/// The JSON body MediaMTX posts (`id` is the session's id, which Vigia does not send: null).
/// `token` is the Bearer or query token, else the password, as MediaMTX fills it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    ip: String,
    user: &'a str,
    password: &'a str,
    token: &'a str,
    action: &'static str,
    path: &'a str,
    protocol: &'static str,
    id: Option<&'a str>,
    query: &'a str,
    user_agent: &'a str,
}

impl<'a> Request<'a> {
    /// The request for `attempt` with what the client presented.
    fn new(attempt: &'a Attempt<'a>, presented: &'a Presented) -> Self {
        Request {
            ip: attempt.ip.to_string(),
            user: &presented.user,
            password: &presented.pass,
            token: presented.token(),
            action: attempt.action.name(),
            path: attempt.path,
            protocol: attempt.protocol.name(),
            id: None,
            query: attempt.query,
            user_agent: attempt.user_agent,
        }
    }
}

/// Asks the authentication server about `attempt`; `Err` says why it refused.
pub(super) async fn ask(
    client: &reqwest::Client,
    config: &Config,
    attempt: &Attempt<'_>,
    presented: &Presented,
) -> Result<(), String> {
    let conf = &config.auth_http;
    if any_allows(&conf.exclude, attempt.action, Some(attempt.path)) {
        return Ok(());
    }
    let response = client
        .post(&conf.address)
        .timeout(config.read_timeout)
        .json(&Request::new(attempt, presented))
        .send()
        .await
        .map_err(|e| format!("the authentication server did not answer: {e}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let quoted: String = body.chars().take(QUOTED_BODY).collect();
    if quoted.trim().is_empty() {
        return Err(format!("the authentication server answered {status}"));
    }
    Err(format!(
        "the authentication server answered {status}: {}",
        quoted.trim()
    ))
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::auth::Protocol;
    use crate::config::AuthAction;

    #[test]
    fn the_body_has_mediamtx_fields() {
        let attempt = Attempt {
            authorization: None,
            method: "DESCRIBE",
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
            action: AuthAction::Read,
            path: "cam1",
            nonce: "",
            protocol: Protocol::Rtsp,
            query: "token=x",
            user_agent: "ffmpeg",
        };
        let presented = Presented {
            user: "ana".into(),
            pass: "pw".into(),
            token: "x".into(),
            digest: None,
        };
        let json = serde_json::to_value(Request::new(&attempt, &presented)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "ip": "10.0.0.7", "user": "ana", "password": "pw", "token": "x",
                "action": "read", "path": "cam1", "protocol": "rtsp", "id": null,
                "query": "token=x", "userAgent": "ffmpeg"
            })
        );
    }
}
