//! A plain HTTP/1.1 client for tests: one request per connection, bounded by a read timeout.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// An answer: status, raw head (status line and headers) and body.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// Status code (0 if the answer could not be read).
    pub status: u16,
    /// Status line and headers, as sent.
    pub head: String,
    /// The body, with a chunked transfer coding removed.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// `GET target` on `127.0.0.1:port` with extra header lines (`"Range: bytes=0-99"`); `None`
/// when the connection fails.
pub fn get(port: u16, target: &str, headers: &[&str]) -> Option<Response> {
    request(port, "GET", target, headers, None)
}

/// `method target` on `127.0.0.1:port` with extra header lines and, if given, a body (sent
/// with its `Content-Length`); `None` when the connection fails.
pub fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[&str],
    body: Option<&[u8]>,
) -> Option<Response> {
    let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    exchange(stream, port, method, target, headers, body)
}

/// [`get`] from the local address `source` (any of 127.0.0.0/8 on loopback), so that one test
/// can be several clients to the server.
pub fn get_from(source: Ipv4Addr, port: u16, target: &str, headers: &[&str]) -> Option<Response> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    socket.bind(&SocketAddr::from((source, 0)).into()).ok()?;
    let server = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    socket
        .connect_timeout(&server.into(), Duration::from_secs(5))
        .ok()?;
    exchange(socket.into(), port, "GET", target, headers, None)
}

/// Sends one request on `stream` and reads the answer until the server closes.
fn exchange(
    mut stream: TcpStream,
    port: u16,
    method: &str,
    target: &str,
    headers: &[&str],
    body: Option<&[u8]>,
) -> Option<Response> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut request = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    // A `Host` among `headers` replaces the default one.
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        request.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    stream.write_all(&bytes).ok()?;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    Some(Response::parse(&raw))
}

impl Response {
    /// Parses everything a server sent on a `Connection: close` exchange.
    pub fn parse(raw: &[u8]) -> Response {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(raw.len(), |p| p + 4);
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut answer = Response {
            status,
            head,
            body: raw[split..].to_vec(),
        };
        if answer.header("transfer-encoding") == Some("chunked") {
            answer.body = dechunk(&answer.body);
        }
        answer
    }
}

/// The payload of a chunked body (RFC 9112 §7.1); stops at the last chunk or at a malformed one.
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size, 16) else {
            break;
        };
        let Some(chunk) = data.get(eol + 2..eol + 2 + size) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.extend_from_slice(chunk);
        data = data.get(eol + 4 + size..).unwrap_or_default();
    }
    out
}

/// The sum of the samples on `127.0.0.1:port/metrics` whose series starts with `series` (a
/// name, or a name and the first labels: `limit_refusals_total{listener="hls"`); 0 when none.
pub fn metric_sum(port: u16, series: &str) -> f64 {
    let scrape = get(port, "/metrics", &[]).expect("metrics").text();
    scrape
        .lines()
        .filter(|line| line.starts_with(series))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
