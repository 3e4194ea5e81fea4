//! A TCP proxy for outage tests: forwards a local port to an upstream address (the broker, say)
//! and can be taken down — every proxied connection closed, nothing listening, so new
//! connections are refused as by a dead server — and brought back on the same port.
//!
//! Plain threads, no runtime: one accept thread (a non-blocking listener polled every 20 ms, so
//! [`TcpProxy::down`] can stop it and close the port at once) and two copy threads per
//! connection.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A proxy from `127.0.0.1:<port>` to an upstream address; taken down on drop.
pub struct TcpProxy {
    port: u16,
    upstream: SocketAddr,
    running: Option<Running>,
}

/// The accept thread and the connections of one period up.
struct Running {
    stop: Arc<AtomicBool>,
    accept: JoinHandle<()>,
    /// Both ends of every proxied connection, to close them on [`TcpProxy::down`].
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl TcpProxy {
    /// Starts forwarding a free port below 32768 (see [`crate::free_port`]) to `upstream`.
    pub fn start(upstream: SocketAddr) -> Self {
        let port = crate::free_port();
        Self {
            port,
            upstream,
            running: Some(listen(port, upstream)),
        }
    }

    /// The local port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes the port and every proxied connection (both sides see the connection end); new
    /// connections are refused until [`TcpProxy::up`]. Does nothing if already down.
    pub fn down(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.stop.store(true, Ordering::SeqCst);
        let _ = running.accept.join();
        for stream in lock(&running.conns).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Listens on the same port again. Does nothing if already up.
    pub fn up(&mut self) {
        if self.running.is_none() {
            self.running = Some(listen(self.port, self.upstream));
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.down();
    }
}

/// Binds `127.0.0.1:port` (retrying for up to 5 s) and starts the accept thread.
fn listen(port: u16, upstream: SocketAddr) -> Running {
    let deadline = Instant::now() + Duration::from_secs(5);
    let listener = loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => break l,
            Err(e) if Instant::now() >= deadline => panic!("proxy: bind port {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    listener
        .set_nonblocking(true)
        .expect("proxy: non-blocking listener");
    let stop = Arc::new(AtomicBool::new(false));
    let conns = Arc::new(Mutex::new(Vec::new()));
    let (s, c) = (stop.clone(), conns.clone());
    let accept = std::thread::spawn(move || accept_loop(&listener, upstream, &s, &c));
    Running {
        stop,
        accept,
        conns,
    }
}

fn accept_loop(
    listener: &TcpListener,
    upstream: SocketAddr,
    stop: &Arc<AtomicBool>,
    conns: &Arc<Mutex<Vec<TcpStream>>>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let (conns, stop) = (conns.clone(), stop.clone());
                std::thread::spawn(move || forward(client, upstream, &stop, &conns));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Connects `client` to `upstream` and copies both ways until either side ends. A connection
/// accepted just before [`TcpProxy::down`] is closed here, since `down` may have emptied `conns`
/// before it was added.
fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    stop: &AtomicBool,
    conns: &Mutex<Vec<TcpStream>>,
) {
    let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
        return; // dropping `client` closes it
    };
    let _ = client.set_nonblocking(false);
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    {
        let mut list = lock(conns);
        if stop.load(Ordering::SeqCst) {
            return; // dropping both ends closes them
        }
        for s in [&client, &server] {
            if let Ok(s) = s.try_clone() {
                list.push(s);
            }
        }
    }
    std::thread::spawn(move || pipe(s2, c2));
    pipe(client, server);
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// An upstream that echoes every connection, on its own thread.
    fn echo_server() -> SocketAddr {
        let addr = SocketAddr::from(([127, 0, 0, 1], crate::free_port()));
        let listener = TcpListener::bind(addr).expect("bind echo");
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut r = s.try_clone().expect("clone");
                    let _ = std::io::copy(&mut r, &mut s);
                });
            }
        });
        addr
    }

    fn echoes(stream: &mut TcpStream) -> bool {
        let mut buf = [0u8; 4];
        stream.write_all(b"ping").is_ok() && stream.read_exact(&mut buf).is_ok() && &buf == b"ping"
    }

    #[test]
    fn forwards_goes_down_and_comes_back_on_the_same_port() {
        let mut proxy = TcpProxy::start(echo_server());
        let addr = SocketAddr::from(([127, 0, 0, 1], proxy.port()));
        let mut before = TcpStream::connect(addr).expect("connect through the proxy");
        before
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        assert!(echoes(&mut before));

        proxy.down();
        let mut buf = [0u8; 1];
        assert_eq!(
            before.read(&mut buf).ok(),
            Some(0),
            "the connection was closed"
        );
        assert!(TcpStream::connect(addr).is_err(), "refused while down");

        proxy.up();
        let mut after = TcpStream::connect(addr).expect("connect after up");
        after
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        assert!(echoes(&mut after));
    }
}
