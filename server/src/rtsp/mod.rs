//! The RTSP listener (`:8554`): publishers (ANNOUNCE/RECORD over TCP-interleaved or UDP) and
//! readers (DESCRIBE/SETUP/PLAY over TCP-interleaved, UDP unicast or UDP multicast).
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

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use vigia_protocol::rtsp::ServerConfig;

use crate::config::{Config, RtspAuthMethod, RtspTransport};
use crate::limits::{ConnLimiter, Summary};
use crate::paths::PathManager;

pub(crate) use multicast::Multicast;
pub(crate) use udp::UdpTransport;

/// What every connection of the RTSP listener shares.
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
}

/// Binds the RTSP listener (and UDP sockets) and starts accepting. Returns the tasks to stop at
/// shutdown.
pub(crate) async fn start(paths: Arc<PathManager>) -> Result<Vec<JoinHandle<()>>, String> {
    let config = paths.config().clone();
    let listener = TcpListener::bind(listen_addr(&config.rtsp_address))
        .await
        .map_err(|e| format!("can't listen on {} (rtspAddress): {e}", config.rtsp_address))?;
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
        .then(|| Multicast::new(&config));
    let server = Arc::new(RtspServer {
        machine: machine_config(&config, udp.as_deref()),
        paths,
        udp,
        multicast,
        read_timeout: config.read_timeout,
        write_timeout: config.write_timeout,
        send_buffer: config.write_queue_size * config.udp_max_payload_size,
        digest: config.rtsp_auth_methods.contains(&RtspAuthMethod::Digest),
        idle_closes: Summary::start(
            "RTSP",
            format!(
                "closed connections that sent no complete request for {:?} (readTimeout)",
                config.read_timeout
            ),
        ),
        per_ip: ConnLimiter::new("RTSP", config.max_connections_per_ip),
    });
    tracing::info!(
        "[RTSP] listener opened on {} (TCP{})",
        config.rtsp_address,
        transports_note(&server)
    );
    tasks.push(tokio::spawn(accept_loop(listener, server)));
    Ok(tasks)
}

/// `:8554` → `0.0.0.0:8554`; anything with a host is kept.
pub(crate) fn listen_addr(address: &str) -> String {
    match address.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => address.to_string(),
    }
}

fn machine_config(config: &Config, udp: Option<&UdpTransport>) -> ServerConfig {
    ServerConfig {
        session_timeout: Duration::from_secs(60),
        allow_udp: udp.is_some(),
        allow_tcp: config.rtsp_transports.contains(&RtspTransport::Tcp),
        allow_multicast: config.rtsp_transports.contains(&RtspTransport::Multicast),
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
                let conn = conn::run(server.clone(), socket, peer);
                tokio::spawn(async move {
                    conn.await;
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

/// The peer's address as the IP auth and UDP routing use.
pub(crate) fn peer_ip(peer: SocketAddr) -> std::net::IpAddr {
    match peer.ip() {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer.ip(), std::net::IpAddr::V4),
        ip => ip,
    }
}
