//! A TCP proxy in front of the broker, and closing broker connections with rabbitmqctl: the two
//! ways the outage test breaks the link.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy in front of the broker that can drop every connection and refuse new ones.
pub(crate) struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// Local ports of the proxy's connections to the broker (how rabbitmqctl names them).
    pub(crate) upstream_ports: Arc<Mutex<Vec<u16>>>,
}

impl Proxy {
    /// Listens on an ephemeral local port and forwards to 127.0.0.1:5672.
    pub(crate) async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let upstream_ports: Arc<Mutex<Vec<u16>>> = Arc::default();
        let (u, c, ports) = (up.clone(), conns.clone(), upstream_ports.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !u.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused in effect
                }
                let ports = ports.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut broker) = TcpStream::connect("127.0.0.1:5672").await {
                        if let Ok(a) = broker.local_addr() {
                            ports.lock().unwrap().push(a.port());
                        }
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                    }
                });
                c.lock().unwrap().push(task);
            }
        });
        Proxy {
            addr,
            up,
            conns,
            upstream_ports,
        }
    }

    /// The AMQP URL that goes through the proxy.
    pub(crate) fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// Drops every connection and refuses new ones until [`Proxy::restore`].
    pub(crate) fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// Accepts connections again.
    pub(crate) fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Closes, with rabbitmqctl, the broker connections coming from these local ports.
pub(crate) fn rabbitmqctl_close(ports: &[u16]) -> usize {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["list_connections", "pid", "name", "--silent"])
        .output()
        .expect("rabbitmqctl");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut closed = 0;
    for line in text.lines() {
        let Some((pid, name)) = line.trim().split_once('\t') else {
            continue;
        };
        if ports
            .iter()
            .any(|p| name.starts_with(&format!("127.0.0.1:{p} -> ")))
        {
            let status = std::process::Command::new("rabbitmqctl")
                .args(["close_connection", pid, "vigia outage test"])
                .status()
                .expect("rabbitmqctl");
            closed += usize::from(status.success());
        }
    }
    closed
}
