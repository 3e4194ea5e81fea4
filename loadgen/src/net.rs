//! Where the load generator's TCP connections come from.
//!
//! A server counts `maxConnectionsPerIP` (256), `httpRateLimit` (100/s) and similar limits per
//! client IP, so hundreds of cameras and readers from 127.0.0.1 alone would be refused as one
//! abusive client. Against an IPv4 loopback target every connection instead binds a source
//! address of its own from 127.0.0.2..=127.0.0.254 ([`loopback_source`]; all of 127/8 is local
//! on Linux), so a server with its default limits can be load-tested from the same host.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

/// A source address for connection number `i` to `target`: when `target` is an IPv4 loopback
/// address, one of 127.0.0.2..=127.0.0.254 in turn; otherwise `None` (the kernel picks).
pub fn loopback_source(target: &str, i: usize) -> Option<IpAddr> {
    let ip: Ipv4Addr = target.parse().ok()?;
    if !ip.is_loopback() {
        return None;
    }
    let last = 2 + (i % 253) as u8;
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
}

/// A TCP connection to `host:port`, from `source` when given, with `TCP_NODELAY`.
pub async fn connect(host: &str, port: u16, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let stream = match source {
        None => TcpStream::connect((host, port)).await?,
        Some(source) => connect_from(host, port, source).await?,
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// A TCP connection to `host:port` from `source` (any port).
async fn connect_from(host: &str, port: u16, source: IpAddr) -> std::io::Result<TcpStream> {
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .find(|a| a.is_ipv4() == source.is_ipv4())
        .ok_or_else(|| std::io::Error::other("no address of the source's family"))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_sources_cycle_over_127_0_0_x() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(loopback_source("127.0.0.1", 0), ip("127.0.0.2"));
        assert_eq!(loopback_source("127.0.0.1", 252), ip("127.0.0.254"));
        assert_eq!(loopback_source("127.0.0.1", 253), ip("127.0.0.2"));
        assert_eq!(loopback_source("10.0.0.2", 0), None);
        assert_eq!(loopback_source("localhost", 0), None);
    }
}
