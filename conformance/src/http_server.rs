//! A small HTTP/1.1 server run by a test, standing in for the services vigia calls: a JWKS
//! endpoint (`authJWTJWKS`), an authentication endpoint (`authHTTPAddress`). It keeps every
//! request it received, in order, and answers each with the test's handler. One request per
//! connection (`Connection: close`), a thread per connection, blocking std I/O.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::free_port;

/// The longest request body read; a larger one is cut there.
const MAX_BODY: usize = 1 << 20;

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// When its head was read.
    pub at: Instant,
    /// `GET`, `POST`…
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// Header lines as `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// The body (read by `Content-Length`).
    pub body: Vec<u8>,
}

impl Received {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        values.next().map(|(_, v)| v.as_str())
    }
}

/// The answer a handler gives: status, `Content-Type` and body.
pub type Answer = (u16, &'static str, String);

type Handler = dyn Fn(&Received) -> Answer + Send + Sync;

/// A running server on `127.0.0.1:<port>` (a port from the harness's test range), stopped on
/// drop.
pub struct HttpServer {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl HttpServer {
    /// Starts a server answering every request with `handler`.
    pub fn start(handler: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> Self {
        let port = free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the test server");
        let server = HttpServer {
            port,
            received: Arc::default(),
            stop: Arc::default(),
        };
        let (received, stop) = (server.received.clone(), server.stop.clone());
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (received, handler) = (received.clone(), handler.clone());
                std::thread::spawn(move || serve(stream, &received, &*handler));
            }
        });
        server
    }

    /// `http://127.0.0.1:<port><target>`.
    pub fn url(&self, target: &str) -> String {
        format!("http://127.0.0.1:{}{target}", self.port)
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let received = self.received.lock().unwrap_or_else(PoisonError::into_inner);
        received.clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one request, records it, and writes the handler's answer.
fn serve(stream: TcpStream, received: &Mutex<Vec<Received>>, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let Some(request) = read_request(&mut BufReader::new(stream)) else {
        return;
    };
    let (status, content_type, body) = handler(&request);
    received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = writer.write_all(head.as_bytes());
    let _ = writer.write_all(body.as_bytes());
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Received> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let at = Instant::now();
    let mut words = line.split_whitespace();
    let (method, target) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut request = Received {
        at,
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let length = request
        .header("content-length")
        .and_then(|v| v.parse().ok());
    let mut body = reader.take(length.unwrap_or(0).min(MAX_BODY as u64));
    body.read_to_end(&mut request.body).ok()?;
    Some(request)
}
