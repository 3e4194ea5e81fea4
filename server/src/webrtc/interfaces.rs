//! `webrtcIPsFromInterfaces`: the address announced as host candidate when the client reached
//! the server by a host name (no IP literal in `Host`) and the ICE socket is bound to all
//! addresses: the first IPv4 address (else IPv6) of an interface that is up and not loopback,
//! among `webrtcIPsFromInterfacesList` when that is set.

use std::net::IpAddr;

use nix::net::if_::InterfaceFlags;

/// The interface IP to announce, if any qualifies.
pub(super) fn announced_ip(only: &[String]) -> Option<IpAddr> {
    let addresses = nix::ifaddrs::getifaddrs().ok()?;
    let candidates: Vec<(String, IpAddr)> = addresses
        .filter(|a| a.flags.contains(InterfaceFlags::IFF_UP))
        .filter(|a| !a.flags.contains(InterfaceFlags::IFF_LOOPBACK))
        .filter_map(|a| {
            let address = a.address?;
            let ip = address
                .as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))?;
            Some((a.interface_name, ip))
        })
        .collect();
    pick(&candidates, only)
}

/// The first usable IPv4, else IPv6 (not link-local: it needs a scope), of the interfaces in
/// `only` (all when empty).
fn pick(candidates: &[(String, IpAddr)], only: &[String]) -> Option<IpAddr> {
    let allowed = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let usable = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_unspecified() && !v4.is_link_local(),
        IpAddr::V6(v6) => !v6.is_loopback() && !v6.is_unspecified() && !v6.is_unicast_link_local(),
    };
    let mut ips = candidates
        .iter()
        .filter(|(name, ip)| allowed(name) && usable(ip))
        .map(|(_, ip)| *ip);
    let all: Vec<IpAddr> = ips.by_ref().collect();
    all.iter()
        .find(|ip| ip.is_ipv4())
        .or_else(|| all.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_usable_ipv4_of_the_allowed_interfaces_is_announced() {
        let candidates = vec![
            ("eth0".to_string(), ip("fe80::1")),
            ("eth0".to_string(), ip("2001:db8::5")),
            ("eth1".to_string(), ip("169.254.3.4")),
            ("eth1".to_string(), ip("10.0.0.7")),
            ("wlan0".to_string(), ip("192.168.1.9")),
        ];
        assert_eq!(pick(&candidates, &[]), Some(ip("10.0.0.7")));
        assert_eq!(
            pick(&candidates, &["wlan0".into()]),
            Some(ip("192.168.1.9"))
        );
        assert_eq!(pick(&candidates, &["eth0".into()]), Some(ip("2001:db8::5")));
        assert_eq!(pick(&candidates, &["tun9".into()]), None);
    }

    #[test]
    fn this_machine_has_an_answer_or_none_without_panicking() {
        if let Some(found) = announced_ip(&[]) {
            assert!(!found.is_loopback());
        }
    }
}
