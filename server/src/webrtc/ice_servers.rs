//! `webrtcICEServers2` as `Link` headers (RFC 9725 §4.6, `rel="ice-server"`) on WHEP/WHIP
//! preflights and answers, so clients behind NAT use the operator's STUN/TURN servers. A
//! username of `AUTH_SECRET` gets time-limited TURN credentials made from the configured
//! shared secret (the TURN REST API convention coturn implements, as MediaMTX does):
//! `<expiry unix time>:<random>` and `base64(HMAC-SHA1(secret, username))`.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::config::IceServer;

/// How long generated TURN credentials stay valid (MediaMTX's 24 h).
const TURN_SECRET_VALIDITY_SECS: i64 = 24 * 3600;
/// The username that asks for generated credentials.
const AUTH_SECRET: &str = "AUTH_SECRET";

/// One `Link` header value per ICE server, credentials generated where asked, at `now` (UNIX
/// seconds).
pub(super) fn links(servers: &[IceServer], now: i64) -> Vec<String> {
    servers.iter().map(|s| link(s, now)).collect()
}

fn link(server: &IceServer, now: i64) -> String {
    let mut out = format!("<{}>; rel=\"ice-server\"", server.url);
    if server.username.is_empty() {
        return out;
    }
    let (username, credential) = if server.username == AUTH_SECRET {
        let username = format!(
            "{}:{:016x}",
            now + TURN_SECRET_VALIDITY_SECS,
            rand::random::<u64>()
        );
        let credential = turn_credential(&server.password, &username);
        (username, credential)
    } else {
        (server.username.clone(), server.password.clone())
    };
    out.push_str(&format!(
        "; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
        quote(&username),
        quote(&credential)
    ));
    out
}

/// `base64(HMAC-SHA1(secret, username))`.
fn turn_credential(secret: &str, username: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Escapes `\` and `"` inside a quoted header parameter.
fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str, username: &str, password: &str) -> IceServer {
        IceServer {
            url: url.into(),
            username: username.into(),
            password: password.into(),
            client_only: false,
        }
    }

    #[test]
    fn stun_and_turn_servers_become_link_headers() {
        let servers = [
            server("stun:stun.example:3478", "", ""),
            server("turn:turn.example:3478", "user", "pa\"ss"),
        ];
        let links = links(&servers, 0);
        assert_eq!(links[0], "<stun:stun.example:3478>; rel=\"ice-server\"");
        assert_eq!(
            links[1],
            "<turn:turn.example:3478>; rel=\"ice-server\"; username=\"user\"; \
             credential=\"pa\\\"ss\"; credential-type=\"password\""
        );
    }

    #[test]
    fn auth_secret_makes_expiring_turn_rest_credentials() {
        let link = link(&server("turn:t:3478", AUTH_SECRET, "secret"), 1_000);
        let username = link
            .split("username=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(username.starts_with("87400:"), "{username}");
        let credential = turn_credential("secret", username);
        assert!(
            link.contains(&format!("credential=\"{credential}\"")),
            "{link}"
        );
        // RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?").
        assert_eq!(
            turn_credential("Jefe", "what do ya want for nothing?"),
            base64::engine::general_purpose::STANDARD
                .encode(hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"))
        );
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }
}
