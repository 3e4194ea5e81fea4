//! Value syntaxes shared by many keys: durations, sizes, booleans, IP networks, addresses.
//!
//! Each parser returns a short problem description; the caller adds key and line.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

/// Parses a MediaMTX duration: Go's `time.ParseDuration` syntax (`10s`, `1m30s`,
/// `500ms`, `1.5h`, units `ns us µs ms s m h`) optionally preceded by whole days
/// (`1d`, `2d12h`), as MediaMTX's `conf.Duration` does. A bare `0` means zero;
/// other bare numbers are rejected because their unit would be a guess. Negative
/// durations are rejected (no Vigia key accepts one).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let hint = || format!("\"{text}\" is not a duration (use e.g. 10s, 1m30s, 500ms, 1h, 1d)");
    let s = text.trim();
    if s.starts_with('-') {
        return Err(format!(
            "\"{text}\" is negative; durations must be positive"
        ));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(hint());
    }
    let (days, rest) = split_days(s).ok_or_else(hint)?;
    let mut total = days * 86_400.0;
    if !rest.is_empty() {
        total += parse_go_duration(rest).ok_or_else(hint)?;
    }
    Duration::try_from_secs_f64(total).map_err(|_| hint())
}

/// Parses a size: a plain number of bytes, or a number with a binary unit
/// (`1K`, `50M`, `2G`, `1T`, optionally followed by `B`/`iB`, any case),
/// as MediaMTX's `conf.StringSize` accepts.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let bad = || format!("\"{text}\" is not a size (use e.g. 1048576, 512K, 50M, 1G)");
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let number: f64 = s[..digits_end].parse().map_err(|_| bad())?;
    let unit = s[digits_end..].trim().to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(bad()),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 || bytes.fract() != 0.0 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Parses a boolean the way MediaMTX's YAML and environment loaders do:
/// `true`/`false`/`yes`/`no`, any case.
pub(crate) fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(format!("\"{text}\" is not a boolean (use true or false)")),
    }
}

/// Checks a listener address such as `:8554`, `0.0.0.0:8554` or `[::1]:8554`.
/// An empty string is allowed (it disables the listener where MediaMTX allows that).
pub(crate) fn check_listen_address(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    let bad = || format!("\"{text}\" is not a listen address (use e.g. :8554 or 0.0.0.0:8554)");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.contains(char::is_whitespace)
        || (host.contains(':') && host.parse::<Ipv6Addr>().is_err())
    {
        return Err(bad());
    }
    Ok(())
}

/// An IP network: an address and a prefix length. A plain address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The network address (host bits cleared).
    pub(crate) fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub(crate) fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:10.0.0.1`) count as their IPv4 address.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_v4(ip, self.prefix) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_v6(ip, self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(text: &str) -> Result<IpNet, String> {
        let bad =
            || format!("\"{text}\" is not an IP address or CIDR network (use e.g. 10.0.0.0/8)");
        let (ip_text, prefix_text) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let ip: IpAddr = ip_text.parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        let addr = match ip {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(mask_v4(a, prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(mask_v6(a, prefix))),
        };
        Ok(IpNet { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask_v4(a: Ipv4Addr, prefix: u8) -> u32 {
    let bits = u32::from(a);
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask_v6(a: Ipv6Addr, prefix: u8) -> u128 {
    let bits = u128::from(a);
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

/// Splits a leading `<n>d` off a duration; returns whole days and the rest.
fn split_days(s: &str) -> Option<(f64, &str)> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits > 0 && s[digits..].starts_with('d') {
        let days: u64 = s[..digits].parse().ok()?;
        return Some((days as f64, &s[digits + 1..]));
    }
    Some((0.0, s))
}

/// Go's `time.ParseDuration` without sign handling; returns seconds.
fn parse_go_duration(mut s: &str) -> Option<f64> {
    let mut total = 0.0;
    while !s.is_empty() {
        let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = s[..num_end].parse().ok()?;
        s = &s[num_end..];
        let unit_end = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let scale = match &s[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * scale;
        s = &s[unit_end..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_mediamtx() {
        let ok = [
            ("10s", 10_000),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("1h", 3_600_000),
            ("1d", 86_400_000),
            ("2d12h", 216_000_000),
            ("1.5s", 1_500),
            ("0", 0),
            ("0s", 0),
        ];
        for (text, ms) in ok {
            assert_eq!(parse_duration(text).unwrap().as_millis(), ms, "{text}");
        }
        for bad in ["10x", "10", "", "s", "1d2", "-1s", "1 s", "d", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("50M"), Ok(50 * 1024 * 1024));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("1kb"), Ok(1024));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1234"), Ok(1234));
        for bad in ["", "M", "5X", "-1M", "0.3"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("yes"), Ok(true));
        assert_eq!(parse_bool("FALSE"), Ok(false));
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn ip_networks() {
        let net: IpNet = "10.1.2.3/8".parse().unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(net.contains("10.200.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.0.0.9".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let host: IpNet = "::1".parse().unwrap();
        assert!(host.contains("::1".parse().unwrap()));
        assert!(!host.contains("127.0.0.1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        for bad in ["10.0.0.0/33", "300.0.0.1", "abc", "10.0.0.0/x", ""] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn listen_addresses() {
        for ok in [":8554", "0.0.0.0:8554", "[::]:8554", "localhost:80", ""] {
            assert!(check_listen_address(ok).is_ok(), "{ok}");
        }
        for bad in ["8554", ":99999", ":abc", "a b:1"] {
            assert!(check_listen_address(bad).is_err(), "{bad}");
        }
    }
}
