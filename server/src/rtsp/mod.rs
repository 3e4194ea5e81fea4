//! The RTSP listener (`:8554`): publishers (ANNOUNCE/RECORD over TCP-interleaved or UDP) and
//! readers (DESCRIBE/SETUP/PLAY over TCP-interleaved, UDP unicast or UDP multicast); and the
//! RTSPS listener (`:8322`, `rtspEncryption: optional` or `strict`, the latter without the plain
//! one), where media travels only interleaved in the TLS connection: a SETUP asking for UDP or
//! multicast gets 461 Unsupported Transport, since Vigia has no SRTP to protect it.
//!
//! Protocol decisions live in `vigia_protocol::rtsp::ServerConnection`; this module owns the
//! sockets and tasks: one reading task and one writing task per connection, the shared UDP
//! sockets, and one multicast sender per stream.

mod conn;
mod multicast;
mod publisher;
mod reports;
mod udp;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use vigia_protocol::rtsp::ServerConfig;

use crate::config::{Config, Encryption, RtspAuthMethod, RtspTransport};
use crate::cores;
use crate::limits::bind_tcp;
use crate::limits::{ConnLimiter, Summary};
use crate::paths::PathManager;
use crate::tls::ServerTls;

pub(crate) use multicast::Multicast;
pub(crate) use udp::UdpTransport;

/// What every connection of one listener (RTSP or RTSPS) shares.
pub(crate) struct RtspServer {
    /// All paths.
    pub(crate) paths: Arc<PathManager>,
    /// Settings of the per-connection state machine.
    pub(crate) machine: ServerConfig,
    /// The UDP RTP/RTCP sockets, when UDP is among `rtspTransports`.
    pub(crate) udp: Option<Arc<UdpTransport>>,
    /// Multicast groups, when multicast is among `rtspTransports`.
    pub(crate) multicast: Option<Arc<Multicast>>,
    /// `readTimeout`: a publisher silent this long is disconnected.
    pub(crate) read_timeout: Duration,
    /// `writeTimeout`: a reader whose socket accepts nothing this long is disconnected.
    pub(crate) write_timeout: Duration,
    /// Kernel send buffer of a playing connection: `writeQueueSize` packets of
    /// `udpMaxPayloadSize` bytes.
    pub(crate) send_buffer: usize,
    /// Whether Digest challenges are offered (`rtspAuthMethods` has `digest`).
    pub(crate) digest: bool,
    /// Connections closed for sending no complete request in time, summarized in the log.
    pub(crate) idle_closes: Arc<Summary>,
    /// `maxConnectionsPerIP` on this listener.
    pub(crate) per_ip: Arc<ConnLimiter>,
    /// The RTSPS listener's TLS; `None` on the plain one.
    pub(crate) tls: Option<Rtsps>,
}

/// The TLS side of the RTSPS listener.
pub(crate) struct Rtsps {
    /// Handshakes with the current certificate.
    tls: ServerTls,
    /// Connections whose handshake failed or took longer than `readTimeout`.
    failed: Arc<Summary>,
}

/// Binds the RTSP listener (and UDP sockets) unless `rtspEncryption` is `strict`, and the
/// RTSPS listener when it is `strict` or `optional`, and starts accepting. Returns the tasks to
/// stop at shutdown.
pub(crate) async fn start(paths: Arc<PathManager>) -> Result<Vec<JoinHandle<()>>, String> {
    let config = paths.config().clone();
    let mut tasks = Vec::new();
    if config.rtsp_encryption != Encryption::Strict {
        tasks.extend(start_plain(&config, paths.clone()).await?);
    }
    if let Some(files) = config.rtsps_tls() {
        let listener = bind_tcp(&config.rtsps_address, "rtspsAddress").await?;
        let tls = ServerTls::start("RTSPS", &files, &[])
            .map_err(|e| format!("[RTSPS] can't serve TLS: {e}"))?;
        let failed = Summary::start(
            "RTSPS",
            "tlsHandshake",
            format!(
                "closed connections whose TLS handshake failed or did not finish within {:?} (readTimeout)",
                config.read_timeout
            ),
        );
        let tls = Some(Rtsps { tls, failed });
        let server = Arc::new(RtspServer::new("RTSPS", &config, paths, None, None, tls));
        tracing::info!(
            "[RTSPS] listener opened on {} (TCP; media interleaved only)",
            config.rtsps_address
        );
        tasks.push(tokio::spawn(accept_loop(listener, server)));
    }
    Ok(tasks)
}

/// The plain RTSP listener with its UDP sockets and multicast groups.
async fn start_plain(
    config: &Config,
    paths: Arc<PathManager>,
) -> Result<Vec<JoinHandle<()>>, String> {
    let listener = bind_tcp(&config.rtsp_address, "rtspAddress").await?;
    let mut tasks = Vec::new();
    let udp = if config.rtsp_transports.contains(&RtspTransport::Udp) {
        let udp = UdpTransport::bind(
            &listen_addr(&config.rtp_address),
            &listen_addr(&config.rtcp_address),
        )
        .await?;
        tasks.extend(udp.clone().spawn_receivers());
        Some(udp)
    } else {
        None
    };
    let multicast = config
        .rtsp_transports
        .contains(&RtspTransport::Multicast)
        .then(|| Multicast::new(config));
    let server = Arc::new(RtspServer::new("RTSP", config, paths, udp, multicast, None));
    tracing::info!(
        "[RTSP] listener opened on {} (TCP{})",
        config.rtsp_address,
        transports_note(&server)
    );
    tasks.push(tokio::spawn(accept_loop(listener, server)));
    Ok(tasks)
}

impl RtspServer {
    /// The shared state of listener `name` (`RTSP` or `RTSPS`, a log prefix); UDP and multicast
    /// are offered only when given.
    fn new(
        name: &'static str,
        config: &Config,
        paths: Arc<PathManager>,
        udp: Option<Arc<UdpTransport>>,
        multicast: Option<Arc<Multicast>>,
        tls: Option<Rtsps>,
    ) -> Self {
        Self {
            machine: machine_config(config, udp.as_deref(), multicast.is_some()),
            paths,
            udp,
            multicast,
            read_timeout: config.read_timeout,
            write_timeout: config.write_timeout,
            send_buffer: config.write_queue_size * config.udp_max_payload_size,
            digest: config.rtsp_auth_methods.contains(&RtspAuthMethod::Digest),
            idle_closes: Summary::start(
                name,
                "readTimeout",
                format!(
                    "closed connections that sent no complete request for {:?} (readTimeout)",
                    config.read_timeout
                ),
            ),
            per_ip: ConnLimiter::new(name, config.max_connections_per_ip),
            tls,
        }
    }
}

/// `:8554` → `0.0.0.0:8554`; anything with a host is kept.
pub(crate) fn listen_addr(address: &str) -> String {
    match address.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => address.to_string(),
    }
}

fn machine_config(config: &Config, udp: Option<&UdpTransport>, multicast: bool) -> ServerConfig {
    ServerConfig {
        session_timeout: Duration::from_secs(60),
        allow_udp: udp.is_some(),
        allow_tcp: config.rtsp_transports.contains(&RtspTransport::Tcp),
        allow_multicast: multicast,
        udp_server_ports: udp.map_or((0, 0), UdpTransport::ports),
        server_name: format!("Vigia/{}", env!("CARGO_PKG_VERSION")),
    }
}

fn transports_note(server: &RtspServer) -> String {
    let mut note = String::new();
    if let Some(udp) = &server.udp {
        let (rtp, rtcp) = udp.ports();
        note.push_str(&format!(", UDP/RTP :{rtp}, UDP/RTCP :{rtcp}"));
    }
    if server.multicast.is_some() {
        note.push_str(", multicast");
    }
    note
}

async fn accept_loop(listener: TcpListener, server: Arc<RtspServer>) {
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                let Some(permit) = server.per_ip.admit(peer) else {
                    continue;
                };
                let _ = socket.set_nodelay(true);
                // Handed to a connection runtime, whose poller the socket moves to.
                let Ok(socket) = socket.into_std() else {
                    continue;
                };
                let server = server.clone();
                cores::spawn(async move {
                    if let Ok(socket) = TcpStream::from_std(socket) {
                        serve_accepted(server, socket, peer).await;
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!("[RTSP] accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves one admitted connection, after its TLS handshake on the RTSPS listener.
///
/// The TLS side is boxed: its handshake and stream are large (about 10 KB), and inline they
/// would make every plain connection's task as large (issue 13: memory per idle connection).
async fn serve_accepted(server: Arc<RtspServer>, socket: TcpStream, peer: SocketAddr) {
    if server.tls.is_none() {
        return conn::run(server, socket, peer).await;
    }
    Box::pin(serve_tls(server, socket, peer)).await;
}

/// [`serve_accepted`] on the RTSPS listener.
async fn serve_tls(server: Arc<RtspServer>, socket: TcpStream, peer: SocketAddr) {
    let Some(rtsps) = &server.tls else {
        return;
    };
    // The TLS stream's halves give no access to the socket: bound its send buffer now rather
    // than when playing starts (see `writer::run`; the kernel allocates it only as data waits).
    let _ = SockRef::from(&socket).set_send_buffer_size(server.send_buffer);
    match rtsps.tls.accept(socket, server.read_timeout).await {
        Ok(stream) => conn::run(server, stream, peer).await,
        Err(e) => {
            rtsps.failed.note(peer);
            tracing::debug!("[RTSPS] TLS handshake with {peer} failed: {e}");
        }
    }
}

/// The peer's address as the IP auth and UDP routing use.
pub(crate) fn peer_ip(peer: SocketAddr) -> std::net::IpAddr {
    match peer.ip() {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer.ip(), std::net::IpAddr::V4),
        ip => ip,
    }
}
