//! [`BrokerProxy`] stands between a service and the local broker (127.0.0.1:5672) so a test can
//! take the broker away and give it back without stopping RabbitMQ, which other tests share:
//! point the service at [`BrokerProxy::url`], then [`BrokerProxy::cut`] and
//! [`BrokerProxy::restore`]. While cut, every connection through it is closed and new ones are
//! closed on accept, as when the broker is killed; the service sees a dropped TCP connection,
//! not an AMQP close.
//!
//! `events/tests/support/proxy.rs` (which also records the broker-side ports, for closing them
//! with rabbitmqctl) and `conformance/src/tcp_proxy.rs` (threads, no runtime; a port that
//! refuses while down) do more; this one is the small common case.
//!
//! [`BrokerProxy`]: crate::test_support::BrokerProxy
//! [`BrokerProxy::url`]: crate::test_support::BrokerProxy::url
//! [`BrokerProxy::cut`]: crate::test_support::BrokerProxy::cut
//! [`BrokerProxy::restore`]: crate::test_support::BrokerProxy::restore

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The broker the proxy forwards to: the local RabbitMQ the project's tests use.
pub const LOCAL_BROKER: &str = "127.0.0.1:5672";

/// A TCP proxy in front of the local broker that can be cut and restored; see the module docs.
///
/// Dropping it cuts every connection and stops accepting.
pub struct BrokerProxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    cut: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl BrokerProxy {
    /// Starts forwarding from an ephemeral port on 127.0.0.1 to [`LOCAL_BROKER`]. Must run
    /// inside a tokio runtime; panics if it cannot listen (a test set-up failure).
    pub async fn start() -> BrokerProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("broker proxy: listen on 127.0.0.1");
        let port = listener
            .local_addr()
            .expect("broker proxy: local address")
            .port();
        let (cut, watch) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watch.borrow() {
                    continue; // dropped: closed at once
                }
                tokio::spawn(forward(client, watch.clone()));
            }
        });
        BrokerProxy { port, cut, task }
    }

    /// The AMQP URL through the proxy (guest/guest, vhost `/`).
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Closes every connection and refuses new ones until [`BrokerProxy::restore`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for BrokerProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

/// Copies both ways between `client` and the broker until either side closes or the proxy
/// is cut.
async fn forward(mut client: TcpStream, mut cut: watch::Receiver<bool>) {
    let Ok(mut broker) = TcpStream::connect(LOCAL_BROKER).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut broker) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}
