//! The client behind a reverse proxy. When the TCP peer of an HTTP listener is one of its
//! `*TrustedProxies`, the client is read from `X-Forwarded-For` (then `X-Real-IP`) as MediaMTX
//! (gin's `ClientIP`) reads it: from the right, the first address that is not itself a trusted
//! proxy, or the leftmost when all are. A header with a malformed entry is not believed. From any
//! other peer the headers are ignored, so a client cannot pick the IP that limits and logs see.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use crate::config::IpNet;
use crate::rtsp::peer_ip;

/// The headers a trusted proxy names the client in, in the order they are believed.
const CLIENT_HEADERS: [&str; 2] = ["x-forwarded-for", "x-real-ip"];

/// The client's address: `peer` itself, or, when `peer` is a trusted proxy that names the client
/// in its headers, the client's IP (with the proxy's port, which says nothing about the client).
pub(crate) fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> SocketAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer_ip(peer)) {
        return peer;
    }
    CLIENT_HEADERS
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .find_map(|value| named_client(value, is_trusted))
        .map_or(peer, |ip| SocketAddr::new(ip, peer.port()))
}

/// The client a forwarding header's comma-separated list names, `None` when an entry is not an IP.
fn named_client(value: &str, is_trusted: impl Fn(IpAddr) -> bool) -> Option<IpAddr> {
    let hops: Vec<IpAddr> = value
        .split(',')
        .map(|hop| hop.trim().parse().ok())
        .collect::<Option<_>>()?;
    let untrusted = hops.iter().rev().find(|ip| !is_trusted(ip.to_canonical()));
    untrusted.or(hops.first()).map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn client(peer: &str, headers: &[(&'static str, &str)], trusted: &[&str]) -> String {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, value.parse().unwrap());
        }
        let peer = SocketAddr::new(peer.parse().unwrap(), 5000);
        client_addr(peer, &map, &nets(trusted)).ip().to_string()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let said = [("x-forwarded-for", "1.2.3.4")];
        assert_eq!(client("10.0.0.9", &said, &[]), "10.0.0.9");
        assert_eq!(client("10.0.0.9", &said, &["192.168.0.0/16"]), "10.0.0.9");
    }

    #[test]
    fn a_trusted_proxy_names_the_client_rightmost_untrusted_first() {
        let trusted = ["10.0.0.0/8"];
        let one = [("x-forwarded-for", "1.2.3.4")];
        assert_eq!(client("10.0.0.9", &one, &trusted), "1.2.3.4");
        let chain = [("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.5")];
        assert_eq!(
            client("10.0.0.9", &chain, &trusted),
            "1.2.3.4",
            "spoofed left"
        );
        let all_trusted = [("x-forwarded-for", "10.1.1.1, 10.0.0.5")];
        assert_eq!(client("10.0.0.9", &all_trusted, &trusted), "10.1.1.1");
    }

    #[test]
    fn x_real_ip_is_read_when_x_forwarded_for_is_missing_or_malformed() {
        let trusted = ["127.0.0.0/8"];
        let real = [("x-real-ip", "5.6.7.8")];
        assert_eq!(client("127.0.0.1", &real, &trusted), "5.6.7.8");
        let bad = [
            ("x-forwarded-for", "1.2.3.4, junk"),
            ("x-real-ip", "5.6.7.8"),
        ];
        assert_eq!(client("127.0.0.1", &bad, &trusted), "5.6.7.8");
        let none_good = [("x-forwarded-for", "junk")];
        assert_eq!(client("127.0.0.1", &none_good, &trusted), "127.0.0.1");
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let said = [("x-forwarded-for", "::ffff:1.2.3.4")];
        assert_eq!(client("::ffff:10.0.0.9", &said, &["10.0.0.0/8"]), "1.2.3.4");
    }
}
