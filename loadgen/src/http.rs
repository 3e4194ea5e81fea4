//! A minimal HTTP/1.1 client connection (keep-alive requests, `Content-Length` or chunked
//! bodies), enough for LL-HLS playlists and parts and WHEP offers without a client stack.

use std::net::IpAddr;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;
use crate::error::Context;

/// Largest response header block accepted.
const MAX_HEAD: usize = 16 * 1024;

/// One keep-alive connection to `host:port`.
#[derive(Debug)]
pub struct HttpConn {
    stream: TcpStream,
    buf: BytesMut,
    host: String,
    who: String,
}

/// A response: status, headers and body.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Bytes,
}

impl HttpResponse {
    /// The first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl HttpConn {
    /// Connects, from `source` if given; `who` names the connection in errors.
    pub async fn connect(
        host: &str,
        port: u16,
        source: Option<IpAddr>,
        who: String,
    ) -> Result<Self, Error> {
        let ctx = || format!("{who} connect {host}:{port}");
        let stream = crate::net::connect(host, port, source).await.context(ctx)?;
        Ok(Self {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            host: format!("{host}:{port}"),
            who,
        })
    }

    /// `GET path` (path and query) and its response.
    pub async fn get(&mut self, path: &str) -> Result<HttpResponse, Error> {
        self.request("GET", path, &[], &[]).await
    }

    /// `method path` with extra `headers` and `body` (`Content-Length` added when not empty).
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse, Error> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: vigia-loadgen\r\n",
            self.host
        );
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let ctx = || format!("{} {method} {path}", self.who);
        self.stream.write_all(req.as_bytes()).await.context(ctx)?;
        self.stream.write_all(body).await.context(ctx)?;
        let head = self.read_head(path).await?;
        let body = match head.len {
            BodyLen::Length(n) => self.read_exact(n, path).await?,
            BodyLen::Chunked => self.read_chunked(path).await?,
        };
        Ok(HttpResponse {
            status: head.status,
            headers: head.headers,
            body,
        })
    }

    async fn fill(&mut self, path: &str) -> Result<(), Error> {
        self.buf.reserve(32 * 1024);
        let n = self
            .stream
            .read_buf(&mut self.buf)
            .await
            .context(|| format!("{} GET {path}", self.who))?;
        if n == 0 {
            return Err(Error::protocol(&self.who, "server closed the connection"));
        }
        Ok(())
    }

    async fn read_head(&mut self, path: &str) -> Result<Head, Error> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = self.buf.split_to(end + 4);
                return parse_head(&head)
                    .ok_or_else(|| Error::protocol(&self.who, "bad HTTP head"));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Error::protocol(&self.who, "HTTP head too long"));
            }
            self.fill(path).await?;
        }
    }

    async fn read_exact(&mut self, n: usize, path: &str) -> Result<Bytes, Error> {
        while self.buf.len() < n {
            self.fill(path).await?;
        }
        Ok(self.buf.split_to(n).freeze())
    }

    async fn read_chunked(&mut self, path: &str) -> Result<Bytes, Error> {
        let mut body = BytesMut::new();
        loop {
            let line_end = loop {
                match find(&self.buf, b"\r\n") {
                    Some(i) => break i,
                    None => self.fill(path).await?,
                }
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| Error::protocol(&self.who, "bad chunk size"))?;
            self.buf.advance(line_end + 2);
            let chunk = self.read_exact(size + 2, path).await?;
            if size == 0 {
                return Ok(body.freeze());
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
}

/// How the body's length is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyLen {
    Length(usize),
    Chunked,
}

/// A response head: status, headers and how the body's length is given.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    len: BodyLen,
}

/// Parses a response head (status line and headers).
fn parse_head(head: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut len = BodyLen::Length(0);
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            len = BodyLen::Length(value.parse().ok()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.eq_ignore_ascii_case("chunked")
        {
            len = BodyLen::Chunked;
        }
        headers.push((name.to_owned(), value.to_owned()));
    }
    Some(Head {
        status,
        headers,
        len,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let cases: &[(&str, Option<(u16, BodyLen)>)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n",
                Some((200, BodyLen::Length(12))),
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                Some((200, BodyLen::Chunked)),
            ),
            (
                "HTTP/1.1 404 Not Found\r\n\r\n",
                Some((404, BodyLen::Length(0))),
            ),
            ("garbage", None),
        ];
        for (text, want) in cases {
            let got = parse_head(text.as_bytes()).map(|h| (h.status, h.len));
            assert_eq!(got, *want, "{text:?}");
        }
        let head = parse_head(b"HTTP/1.1 201 Created\r\nLocation: /a/whep/1\r\n\r\n").unwrap();
        let resp = HttpResponse {
            status: head.status,
            headers: head.headers,
            body: Bytes::new(),
        };
        assert_eq!(resp.header("location"), Some("/a/whep/1"));
        assert_eq!(resp.header("etag"), None);
    }
}
