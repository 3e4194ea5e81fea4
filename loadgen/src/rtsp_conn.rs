//! A minimal RTSP client connection for cameras and readers, on `vigia-protocol`'s message
//! writer and parser: send a request, read its response, then read interleaved frames.

use std::net::IpAddr;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vigia_protocol::rtsp::message::{self, Method, ParseError, Parsed, Request, Response};

use crate::Error;
use crate::error::Context;

/// One item read from the connection after the handshake.
#[derive(Debug)]
pub enum Item {
    /// An interleaved frame: channel and payload (a zero-copy slice of the receive buffer).
    Frame(u8, Bytes),
    /// A response (e.g. to a keep-alive).
    Response(Response),
}

/// An RTSP connection: the socket, a receive buffer, the CSeq counter and the session id.
#[derive(Debug)]
pub struct RtspConn {
    stream: TcpStream,
    buf: BytesMut,
    cseq: u32,
    session: Option<String>,
    who: String,
}

impl RtspConn {
    /// Connects to `host:port` (from `source` if given, see [`crate::net`]); `who` names the
    /// connection in errors (`camera 3`).
    pub async fn connect(
        host: &str,
        port: u16,
        source: Option<IpAddr>,
        who: String,
    ) -> Result<Self, Error> {
        let stream = crate::net::connect(host, port, source)
            .await
            .context(|| format!("{who} connect {host}:{port}"))?;
        Ok(Self {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            cseq: 0,
            session: None,
            who,
        })
    }

    /// Sends `method uri` with `headers` and `body` and waits for a 2xx response (any
    /// interleaved frame before it is dropped). Remembers the `Session` id it returns.
    pub async fn request(
        &mut self,
        method: Method,
        uri: &str,
        headers: &[(&str, String)],
        body: Option<(&str, Bytes)>,
    ) -> Result<Response, Error> {
        let what = format!("{} {method}", self.who);
        self.send(method, uri, headers, body).await?;
        let resp = loop {
            if let Item::Response(r) = self.read_item().await? {
                break r;
            }
        };
        if !resp.status.is_success() {
            return Err(Error::protocol(what, format!("answered {}", resp.status.0)));
        }
        if let Some(s) = resp.headers.get("Session") {
            self.session = Some(s.split(';').next().unwrap_or(s).trim().to_owned());
        }
        Ok(resp)
    }

    /// Sends a request without waiting for its response (keep-alives during PLAY/RECORD).
    pub async fn send(
        &mut self,
        method: Method,
        uri: &str,
        headers: &[(&str, String)],
        body: Option<(&str, Bytes)>,
    ) -> Result<(), Error> {
        let req = self.build(method, uri, headers, body);
        let mut out = Vec::new();
        req.write_to(&mut out);
        self.write_all(&out).await
    }

    /// Reads the next response or interleaved frame.
    pub async fn read_item(&mut self) -> Result<Item, Error> {
        loop {
            if let Some(item) = self.take_item()? {
                return Ok(item);
            }
            self.buf.reserve(32 * 1024);
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .context(|| format!("{} read", self.who))?;
            if n == 0 {
                return Err(Error::protocol(&self.who, "server closed the connection"));
            }
        }
    }

    /// Writes raw bytes (interleaved frames built by the caller).
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), Error> {
        self.stream
            .write_all(data)
            .await
            .context(|| format!("{} write", self.who))
    }

    fn build(
        &mut self,
        method: Method,
        uri: &str,
        headers: &[(&str, String)],
        body: Option<(&str, Bytes)>,
    ) -> Request {
        self.cseq += 1;
        let mut req = Request::new(method, uri);
        req.headers.append("CSeq", self.cseq.to_string());
        req.headers.append("User-Agent", "vigia-loadgen");
        if let Some(s) = &self.session {
            req.headers.append("Session", s.clone());
        }
        for (name, value) in headers {
            req.headers.append(*name, value.clone());
        }
        if let Some((content_type, body)) = body {
            req.headers.append("Content-Type", content_type);
            req.body = body;
        }
        req
    }

    fn take_item(&mut self) -> Result<Option<Item>, Error> {
        let parsed = match message::parse(&self.buf) {
            Ok(p) => p,
            Err(ParseError::Incomplete) => return Ok(None),
            Err(e) => return Err(Error::protocol(&self.who, e.to_string())),
        };
        let taken = self.buf.split_to(parsed.consumed()).freeze();
        Ok(Some(match parsed {
            Parsed::Interleaved {
                channel, payload, ..
            } => Item::Frame(channel, taken.slice(payload)),
            Parsed::Response(r, _) => Item::Response(r),
            Parsed::Request(r, _) => {
                return Err(Error::protocol(
                    &self.who,
                    format!("server sent {}", r.method),
                ));
            }
        }))
    }
}
