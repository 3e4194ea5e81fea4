//! Connection limits shared by every listener (RTSP, HLS, playback, API, metrics): idle and
//! header-read timeouts, a cap on connections per client IP (`maxConnectionsPerIP`), request
//! rate limits on the HTTP listeners ([`rate`]) with the client behind a trusted proxy
//! ([`proxy`]), and the log lines and `limit_refusals_total` counts that say when a limit bites. The HTTP listeners share one accept loop,
//! [`serve_http`], which also runs the TLS handshake of an HTTPS listener (see `crate::tls`).
//!
//! A limit that bites under abuse bites thousands of times a second; logging each socket would
//! turn an attack on the listener into one on the log. [`Summary`] counts per client IP and logs
//! one line per IP every [`SUMMARY_PERIOD`], as MediaMTX summarizes repeated warnings.

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tower_service::Service;

use crate::config::{Config, IpNet, TlsFiles};
use crate::metrics::security::limit_counter;
use crate::paths::lock;
use crate::rtsp::{listen_addr, peer_ip};
use crate::served_body::ServedBody;
use crate::tls::ServerTls;

pub(crate) use self::rate::KeyedRateLimit;

mod proxy;
pub(crate) mod rate;

/// How often a [`Summary`] logs what it counted.
pub(crate) const SUMMARY_PERIOD: Duration = Duration::from_secs(10);

/// Counts, per client IP (or per user: any key `K`), the connections or requests a limit closed
/// or refused, adds each to `limit_refusals_total`, and logs the counts once per
/// [`SUMMARY_PERIOD`] (a warning per key with how many), never once per socket.
pub(crate) struct Summary<K = IpAddr> {
    /// The listener's log prefix, e.g. `RTSP`.
    listener: &'static str,
    /// What happened to the connections, e.g. `closed idle connections (readTimeout 10s)`.
    what: String,
    counts: Mutex<HashMap<K, u64>>,
    /// `limit_refusals_total{listener,limit}`.
    counter: Counter,
}

impl<K: Eq + Hash + Display + Send + 'static> Summary<K> {
    /// A summary of `limit` (the config key that bites, for the metric) that logs every
    /// [`SUMMARY_PERIOD`] while it is alive (its flushing task holds only a weak reference).
    /// Must be called inside the tokio runtime.
    pub(crate) fn start(listener: &'static str, limit: &'static str, what: String) -> Arc<Self> {
        let summary = Arc::new(Self {
            listener,
            what,
            counts: Mutex::new(HashMap::new()),
            counter: limit_counter(listener, limit),
        });
        tokio::spawn(flush_every_period(Arc::downgrade(&summary)));
        summary
    }

    /// Counts one connection or request of `key`.
    pub(crate) fn note_key(&self, key: K) {
        self.counter.inc();
        *lock(&self.counts).entry(key).or_default() += 1;
    }

    /// Logs and clears the counts.
    fn flush(&self) {
        let counts = std::mem::take(&mut *lock(&self.counts));
        for (key, count) in counts {
            tracing::warn!(
                "[{}] {} from {key}: {count} in the last {}s",
                self.listener,
                self.what,
                SUMMARY_PERIOD.as_secs()
            );
        }
    }
}

impl Summary {
    /// Counts one connection of `peer`.
    pub(crate) fn note(&self, peer: SocketAddr) {
        self.note_key(peer_ip(peer));
    }
}

async fn flush_every_period<K: Eq + Hash + Display + Send + 'static>(summary: Weak<Summary<K>>) {
    let mut ticks = tokio::time::interval(SUMMARY_PERIOD);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(summary) = summary.upgrade() else {
            return;
        };
        summary.flush();
    }
}

/// The per-IP connection cap of one listener (`maxConnectionsPerIP`): connections past it are
/// closed right after accept, and the refusals summarized in the log.
pub(crate) struct ConnLimiter {
    /// Open connections allowed per client IP; 0: no cap.
    max_per_ip: usize,
    /// Open connections per client IP; an IP leaves the map with its last connection.
    open: Mutex<HashMap<IpAddr, usize>>,
    refused: Arc<Summary>,
}

impl ConnLimiter {
    /// The cap of listener `listener` (a log prefix such as `HLS`). Must be called inside the
    /// tokio runtime.
    pub(crate) fn new(listener: &'static str, max_per_ip: usize) -> Arc<Self> {
        let what = format!("refused connections past maxConnectionsPerIP ({max_per_ip})");
        Arc::new(Self {
            max_per_ip,
            open: Mutex::new(HashMap::new()),
            refused: Summary::start(listener, "maxConnectionsPerIP", what),
        })
    }

    /// A permit for a connection of `peer`, held as long as the connection is open; `None`
    /// (counted in the log summary) when the IP already has `maxConnectionsPerIP` open.
    pub(crate) fn admit(self: &Arc<Self>, peer: SocketAddr) -> Option<ConnPermit> {
        let ip = peer_ip(peer);
        let mut open = lock(&self.open);
        let count = open.entry(ip).or_default();
        if self.max_per_ip > 0 && *count >= self.max_per_ip {
            drop(open);
            self.refused.note(peer);
            return None;
        }
        *count += 1;
        Some(ConnPermit {
            limiter: self.clone(),
            ip,
        })
    }
}

/// One admitted connection; dropping it frees its place under the cap.
pub(crate) struct ConnPermit {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut open = lock(&self.limiter.open);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Connections the kernel queues for a listener before Vigia accepts them (Go's, so MediaMTX's,
/// value; the kernel caps it at `net.core.somaxconn`). With the usual 128, a burst of
/// connections overflows the queue and each dropped SYN costs its client a 1 s retransmit.
const ACCEPT_BACKLOG: u32 = 4096;

/// Binds the TCP listener of config key `key` on `address` (`:8554` means every interface),
/// with an accept queue of [`ACCEPT_BACKLOG`]; the error names the key and the address.
pub(crate) async fn bind_tcp(address: &str, key: &str) -> Result<TcpListener, String> {
    let failed = |e: std::io::Error| format!("can't listen on {address} ({key}): {e}");
    let mut last = None;
    for addr in tokio::net::lookup_host(listen_addr(address))
        .await
        .map_err(failed)?
    {
        match listen(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    let none = || std::io::Error::new(std::io::ErrorKind::NotFound, "no address to listen on");
    Err(failed(last.unwrap_or_else(none)))
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Serves `app` on `listener` (an HTTP listener named `name` in logs: `HLS`, `API`…) until
/// aborted; over HTTPS when `tls` names key and certificate files (an error if they do not
/// load). Every connection is admitted under `maxConnectionsPerIP`, then its TLS handshake (if
/// any) must finish within `readTimeout`, then hyper serves it with a header-read timeout of
/// `readTimeout`: a client that does not finish a request head in that time is closed, whether
/// it is new, trickles bytes (slowloris) or idles between keep-alive requests. A request whose
/// head is read may take as long as its handler needs (blocking LL-HLS playlist reloads wait
/// for the next part).
pub(crate) fn serve_http(
    name: &'static str,
    config: &Config,
    listener: TcpListener,
    app: Router,
    tls: Option<TlsFiles>,
    trusted_proxies: &[IpNet],
) -> Result<JoinHandle<()>, String> {
    let tls = match tls {
        Some(files) => Some(Arc::new(
            ServerTls::start(name, &files, &[b"http/1.1"])
                .map_err(|e| format!("[{name}] can't serve HTTPS: {e}"))?,
        )),
        None => None,
    };
    let limiter = ConnLimiter::new(name, config.max_connections_per_ip);
    let limits = Arc::new(HttpLimits::start(name, config, trusted_proxies));
    Ok(tokio::spawn(async move {
        loop {
            let (socket, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("[{name}] accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(permit) = limiter.admit(peer) else {
                continue;
            };
            let conn = serve_accepted(socket, peer, app.clone(), tls.clone(), limits.clone());
            tokio::spawn(async move {
                conn.await;
                drop(permit);
            });
        }
    }))
}

/// The limits of an HTTP listener and the summaries of what they refused.
struct HttpLimits {
    /// `readTimeout`: for the TLS handshake, then for each request head.
    read_timeout: Duration,
    /// Connections that sent no complete request head in time.
    timeouts: Arc<Summary>,
    /// Connections whose TLS handshake failed or took too long.
    handshakes: Arc<Summary>,
    /// `httpRateLimit` per client IP; `None` when off.
    rate: Option<Arc<KeyedRateLimit<IpAddr>>>,
    /// `*TrustedProxies` of the listener: peers whose forwarding headers name the client.
    trusted_proxies: Vec<IpNet>,
}

impl HttpLimits {
    fn start(name: &'static str, config: &Config, trusted_proxies: &[IpNet]) -> Self {
        let read_timeout = config.read_timeout;
        let (rate, burst) = (config.http_rate_limit, config.http_rate_burst);
        Self {
            read_timeout,
            timeouts: Summary::start(
                name,
                "readTimeout",
                format!(
                    "closed connections that sent no complete request head for {read_timeout:?} (readTimeout)"
                ),
            ),
            handshakes: Summary::start(
                name,
                "tlsHandshake",
                format!(
                    "closed connections whose TLS handshake failed or did not finish within {read_timeout:?} (readTimeout)"
                ),
            ),
            rate: KeyedRateLimit::start(
                name,
                "httpRateLimit",
                rate::per_second(rate, burst),
                format!("answered 429 to requests past httpRateLimit ({rate}/s, burst {burst})"),
            ),
            trusted_proxies: trusted_proxies.to_vec(),
        }
    }

    /// The 429 for a request of `client` past `httpRateLimit`, `None` when it may go on.
    fn refusal(&self, client: SocketAddr) -> Option<axum::response::Response> {
        self.rate.as_ref()?.check(&peer_ip(client))
    }
}

/// The TCP peer of an HTTP request, which handlers see in a request extension: it differs from
/// the `ConnectInfo` address when a trusted proxy named the client (see [`proxy`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpPeer(pub(crate) SocketAddr);

/// Runs the TLS handshake of an HTTPS listener's connection, then serves it.
async fn serve_accepted(
    socket: TcpStream,
    peer: SocketAddr,
    app: Router,
    tls: Option<Arc<ServerTls>>,
    limits: Arc<HttpLimits>,
) {
    let Some(tls) = tls else {
        return serve_http_conn(socket, peer, app, limits).await;
    };
    match tls.accept(socket, limits.read_timeout).await {
        Ok(stream) => serve_http_conn(stream, peer, app, limits).await,
        Err(e) => {
            limits.handshakes.note(peer);
            tracing::debug!("[HTTP] TLS handshake with {peer} failed: {e}");
        }
    }
}

/// Serves one HTTP/1.1 connection. Each request is checked against `httpRateLimit` for its
/// client (the peer, or the client a trusted proxy names), which handlers see as
/// `ConnectInfo<SocketAddr>` (as `axum::serve` gives it), the peer itself as [`TcpPeer`].
async fn serve_http_conn<S>(socket: S, peer: SocketAddr, app: Router, limits: Arc<HttpLimits>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn_limits = limits.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let client = proxy::client_addr(peer, request.headers(), &conn_limits.trusted_proxies);
        let refusal = conn_limits.refusal(client);
        request.extensions_mut().insert(ConnectInfo(client));
        request.extensions_mut().insert(TcpPeer(peer));
        let mut app = app.clone();
        async move {
            let response = match refusal {
                Some(too_many) => too_many,
                None => app.call(request).await?,
            };
            Ok::<_, std::convert::Infallible>(ServedBody::from_response(response))
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout);
    let conn = builder.serve_connection(TokioIo::new(socket), service);
    if let Err(e) = conn.with_upgrades().await {
        if e.is_timeout() {
            limits.timeouts.note(peer);
        } else {
            tracing::debug!("[HTTP] connection from {peer} ended: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::ConnLimiter;

    fn peer(ip: [u8; 4], port: u16) -> SocketAddr {
        (ip, port).into()
    }

    #[tokio::test]
    async fn the_cap_counts_per_ip_and_frees_a_place_on_close() {
        let limiter = ConnLimiter::new("test", 2);
        let first = limiter.admit(peer([10, 0, 0, 1], 1000));
        let second = limiter.admit(peer([10, 0, 0, 1], 1001));
        assert!(first.is_some() && second.is_some());
        assert!(limiter.admit(peer([10, 0, 0, 1], 1002)).is_none());
        assert!(limiter.admit(peer([10, 0, 0, 2], 1000)).is_some());
        assert_eq!(
            super::lock(&limiter.refused.counts).values().sum::<u64>(),
            1
        );
        drop(first);
        let third = limiter.admit(peer([10, 0, 0, 1], 1003));
        assert!(third.is_some());
        drop((second, third));
        assert!(
            super::lock(&limiter.open).is_empty(),
            "an IP leaves with its last connection"
        );
    }

    #[tokio::test]
    async fn zero_means_no_cap() {
        let limiter = ConnLimiter::new("test", 0);
        let permits: Vec<_> = (0..1000)
            .map(|port| limiter.admit(peer([10, 0, 0, 1], port)))
            .collect();
        assert!(permits.iter().all(Option::is_some));
    }
}
