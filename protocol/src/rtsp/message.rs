//! RTSP 1.0 messages (RFC 2326 §4, §6, §7) and interleaved binary frames (§10.12).
//!
//! [`parse`] is incremental: it looks at the front of a receive buffer and either returns one
//! complete item with the number of bytes it used, [`ParseError::Incomplete`] when more bytes are
//! needed, or [`ParseError::Invalid`] with the offset of the offending byte. It tolerates what real
//! peers send: LF-only line endings, stray empty lines between messages, folded header lines,
//! header names in any case.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;

/// Largest request/status line plus headers accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest body accepted (an SDP or a GET_PARAMETER body), in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest number of header lines accepted in one message.
pub const MAX_HEADERS: usize = 64;

/// Why [`parse`] could not return an item.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The buffer holds the start of a valid item; read more bytes and call again.
    #[error("incomplete RTSP message")]
    Incomplete,
    /// The bytes cannot become a valid item; `pos` is the offset of the problem in the buffer.
    #[error("invalid RTSP message at byte {pos}: {what}")]
    Invalid {
        /// Offset into the buffer passed to [`parse`].
        pos: usize,
        /// What was wrong, naming the limit when one was exceeded.
        what: &'static str,
    },
}

/// One item taken from the front of a receive buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A request; `consumed` bytes were used.
    Request(Request, usize),
    /// A response; `consumed` bytes were used.
    Response(Response, usize),
    /// An interleaved frame `$ channel len payload` (RFC 2326 §10.12).
    Interleaved {
        /// Channel number, as negotiated by `Transport: interleaved=`.
        channel: u8,
        /// Where the payload lies in the buffer, so the caller can slice its own `Bytes`.
        payload: Range<usize>,
        /// Bytes used, header included.
        consumed: usize,
    },
}

impl Parsed {
    /// Number of bytes of the buffer this item used.
    pub fn consumed(&self) -> usize {
        match self {
            Parsed::Request(_, n) | Parsed::Response(_, n) => *n,
            Parsed::Interleaved { consumed, .. } => *consumed,
        }
    }
}

/// An RTSP method (RFC 2326 §6.1, §10).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `OPTIONS` (§10.1).
    Options,
    /// `DESCRIBE` (§10.2).
    Describe,
    /// `ANNOUNCE` (§10.3).
    Announce,
    /// `SETUP` (§10.4).
    Setup,
    /// `PLAY` (§10.5).
    Play,
    /// `PAUSE` (§10.6).
    Pause,
    /// `TEARDOWN` (§10.7).
    Teardown,
    /// `GET_PARAMETER` (§10.8).
    GetParameter,
    /// `SET_PARAMETER` (§10.9).
    SetParameter,
    /// `REDIRECT` (§10.10).
    Redirect,
    /// `RECORD` (§10.11).
    Record,
    /// Any other token; answered with 501 by the server.
    Other(String),
}

impl Method {
    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Options => "OPTIONS",
            Method::Describe => "DESCRIBE",
            Method::Announce => "ANNOUNCE",
            Method::Setup => "SETUP",
            Method::Play => "PLAY",
            Method::Pause => "PAUSE",
            Method::Teardown => "TEARDOWN",
            Method::GetParameter => "GET_PARAMETER",
            Method::SetParameter => "SET_PARAMETER",
            Method::Redirect => "REDIRECT",
            Method::Record => "RECORD",
            Method::Other(s) => s,
        }
    }

    /// Maps a wire token to a method (methods are case-sensitive, RFC 2326 §6.1).
    pub fn from_token(token: &str) -> Method {
        match token {
            "OPTIONS" => Method::Options,
            "DESCRIBE" => Method::Describe,
            "ANNOUNCE" => Method::Announce,
            "SETUP" => Method::Setup,
            "PLAY" => Method::Play,
            "PAUSE" => Method::Pause,
            "TEARDOWN" => Method::Teardown,
            "GET_PARAMETER" => Method::GetParameter,
            "SET_PARAMETER" => Method::SetParameter,
            "REDIRECT" => Method::Redirect,
            "RECORD" => Method::Record,
            other => Method::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status code (RFC 2326 §7.1.1) with the standard reason phrases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// 200 OK.
    pub const OK: StatusCode = StatusCode(200);
    /// 400 Bad Request.
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    /// 401 Unauthorized.
    pub const UNAUTHORIZED: StatusCode = StatusCode(401);
    /// 403 Forbidden.
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    /// 404 Not Found.
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    /// 405 Method Not Allowed.
    pub const METHOD_NOT_ALLOWED: StatusCode = StatusCode(405);
    /// 406 Not Acceptable.
    pub const NOT_ACCEPTABLE: StatusCode = StatusCode(406);
    /// 413 Request Entity Too Large.
    pub const REQUEST_ENTITY_TOO_LARGE: StatusCode = StatusCode(413);
    /// 415 Unsupported Media Type.
    pub const UNSUPPORTED_MEDIA_TYPE: StatusCode = StatusCode(415);
    /// 453 Not Enough Bandwidth.
    pub const NOT_ENOUGH_BANDWIDTH: StatusCode = StatusCode(453);
    /// 454 Session Not Found.
    pub const SESSION_NOT_FOUND: StatusCode = StatusCode(454);
    /// 455 Method Not Valid in This State.
    pub const METHOD_NOT_VALID_IN_THIS_STATE: StatusCode = StatusCode(455);
    /// 457 Invalid Range.
    pub const INVALID_RANGE: StatusCode = StatusCode(457);
    /// 459 Aggregate Operation Not Allowed.
    pub const AGGREGATE_OPERATION_NOT_ALLOWED: StatusCode = StatusCode(459);
    /// 460 Only Aggregate Operation Allowed.
    pub const ONLY_AGGREGATE_OPERATION_ALLOWED: StatusCode = StatusCode(460);
    /// 461 Unsupported Transport.
    pub const UNSUPPORTED_TRANSPORT: StatusCode = StatusCode(461);
    /// 500 Internal Server Error.
    pub const INTERNAL_SERVER_ERROR: StatusCode = StatusCode(500);
    /// 501 Not Implemented.
    pub const NOT_IMPLEMENTED: StatusCode = StatusCode(501);
    /// 503 Service Unavailable.
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(503);
    /// 551 Option not supported.
    pub const OPTION_NOT_SUPPORTED: StatusCode = StatusCode(551);
    /// 505 RTSP Version Not Supported.
    pub const RTSP_VERSION_NOT_SUPPORTED: StatusCode = StatusCode(505);

    /// The reason phrase of RFC 2326 §7.1.1, or `"Unknown"`.
    pub fn reason(self) -> &'static str {
        match self.0 {
            100 => "Continue",
            200 => "OK",
            201 => "Created",
            250 => "Low on Storage Space",
            300 => "Multiple Choices",
            301 => "Moved Permanently",
            302 => "Moved Temporarily",
            304 => "Not Modified",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            408 => "Request Time-out",
            413 => "Request Entity Too Large",
            414 => "Request-URI Too Large",
            415 => "Unsupported Media Type",
            451 => "Parameter Not Understood",
            453 => "Not Enough Bandwidth",
            454 => "Session Not Found",
            455 => "Method Not Valid in This State",
            456 => "Header Field Not Valid for Resource",
            457 => "Invalid Range",
            458 => "Parameter Is Read-Only",
            459 => "Aggregate operation not allowed",
            460 => "Only aggregate operation allowed",
            461 => "Unsupported transport",
            462 => "Destination unreachable",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Time-out",
            505 => "RTSP Version not supported",
            551 => "Option not supported",
            _ => "Unknown",
        }
    }

    /// Whether the code is 2xx.
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }
}

/// Ordered header fields; names keep their original spelling and compare case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// The first value of `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (any case), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Adds a field after the existing ones, even if the name is already present.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Replaces every field called `name` with one field, kept at the first one's place.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .0
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = value;
                }
                let mut seen = 0usize;
                self.0.retain(|(n, _)| {
                    let same = n.eq_ignore_ascii_case(name);
                    seen += usize::from(same);
                    !same || seen == 1
                });
            }
            None => self.append(name, value),
        }
    }

    /// Removes every field called `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no field.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `CSeq` value (RFC 2326 §12.17), if present and numeric.
    pub fn cseq(&self) -> Option<u32> {
        self.get("CSeq").and_then(|v| v.trim().parse().ok())
    }

    fn write_to(&self, body_len: usize, out: &mut Vec<u8>) {
        let mut wrote_length = false;
        for (name, value) in &self.0 {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            if name.eq_ignore_ascii_case("Content-Length") {
                // Always the real length, whatever the stored value says.
                out.extend_from_slice(body_len.to_string().as_bytes());
                wrote_length = true;
            } else {
                out.extend_from_slice(value.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        if !wrote_length && body_len > 0 {
            out.extend_from_slice(format!("Content-Length: {body_len}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// An RTSP request (RFC 2326 §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI as sent (`rtsp://host/path`, or `*` for OPTIONS).
    pub uri: String,
    /// Header fields in order.
    pub headers: Headers,
    /// The body (`Content-Length` bytes), empty if none.
    pub body: Bytes,
}

impl Request {
    /// A request with no header and no body.
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Request {
            method,
            uri: uri.into(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// The `CSeq` value, if present and numeric.
    pub fn cseq(&self) -> Option<u32> {
        self.headers.cseq()
    }

    /// Serializes with CRLF line endings; `Content-Length` always states the body's length.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.uri.as_bytes());
        out.extend_from_slice(b" RTSP/1.0\r\n");
        self.headers.write_to(self.body.len(), out);
        out.extend_from_slice(&self.body);
    }
}

/// An RTSP response (RFC 2326 §7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase as sent (or the standard one for responses built here).
    pub reason: String,
    /// Header fields in order.
    pub headers: Headers,
    /// The body, empty if none.
    pub body: Bytes,
}

impl Response {
    /// A response with the standard reason phrase, no header and no body.
    pub fn new(status: StatusCode) -> Self {
        Response {
            status,
            reason: status.reason().to_owned(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header field (builder style).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets the body and its `Content-Type` (builder style).
    pub fn with_body(mut self, content_type: &str, body: Bytes) -> Self {
        self.headers.set("Content-Type", content_type);
        self.body = body;
        self
    }

    /// Serializes with CRLF line endings; `Content-Length` always states the body's length.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("RTSP/1.0 {} {}\r\n", self.status.0, self.reason).as_bytes());
        self.headers.write_to(self.body.len(), out);
        out.extend_from_slice(&self.body);
    }
}

/// The 4-byte header of an interleaved frame of `len` payload bytes (RFC 2326 §10.12), for
/// writers that send the payload from its own buffers; `None` if `len` exceeds 65535.
pub fn interleaved_header(channel: u8, len: usize) -> Option<[u8; 4]> {
    let len = u16::try_from(len).ok()?.to_be_bytes();
    Some([b'$', channel, len[0], len[1]])
}

/// Writes an interleaved frame header and payload (RFC 2326 §10.12).
///
/// Returns `false` and writes nothing if the payload is longer than 65535 bytes.
pub fn write_interleaved(channel: u8, payload: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(header) = interleaved_header(channel, payload.len()) else {
        return false;
    };
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    true
}

/// Takes one request, response or interleaved frame from the front of `buf`.
///
/// Leading CR/LF bytes (keep-alives some clients send) are skipped and counted in `consumed`.
pub fn parse(buf: &[u8]) -> Result<Parsed, ParseError> {
    parse_with(buf, |range| {
        Bytes::copy_from_slice(buf.get(range).unwrap_or_default())
    })
}

/// Like [`parse`], but the body is a zero-copy slice of `buf`.
pub fn parse_bytes(buf: &Bytes) -> Result<Parsed, ParseError> {
    parse_with(buf, |range| buf.slice(range))
}

/// [`parse`] with the body made by `body` from its range in the buffer.
fn parse_with(buf: &[u8], body: impl FnOnce(Range<usize>) -> Bytes) -> Result<Parsed, ParseError> {
    let start = buf
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    if start > MAX_HEADER_BYTES {
        return Err(invalid(
            start,
            "empty lines exceed MAX_HEADER_BYTES (16 KiB)",
        ));
    }
    let rest = buf.get(start..).unwrap_or_default();
    match rest.first() {
        None => Err(ParseError::Incomplete),
        Some(b'$') => parse_interleaved(rest, start),
        Some(_) => parse_message(rest, start, body),
    }
}

fn parse_interleaved(buf: &[u8], off: usize) -> Result<Parsed, ParseError> {
    let (Some(&channel), Some(&hi), Some(&lo)) = (buf.get(1), buf.get(2), buf.get(3)) else {
        return Err(ParseError::Incomplete);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if buf.len() < 4 + len {
        return Err(ParseError::Incomplete);
    }
    Ok(Parsed::Interleaved {
        channel,
        payload: off + 4..off + 4 + len,
        consumed: off + 4 + len,
    })
}

/// Head of a message: the first line and the header fields.
struct Head<'a> {
    first: &'a str,
    headers: Headers,
    /// Offset just past the empty line ending the head.
    end: usize,
}

fn parse_message(
    buf: &[u8],
    off: usize,
    body: impl FnOnce(Range<usize>) -> Bytes,
) -> Result<Parsed, ParseError> {
    let head = parse_head(buf, off)?;
    let body_len = content_length(&head.headers, off)?;
    let total = head.end + body_len;
    if buf.len() < total {
        return Err(ParseError::Incomplete);
    }
    let body = body(off + head.end..off + total);
    let consumed = off + total;
    if head.first.starts_with("RTSP/") {
        let (status, reason) = parse_status_line(head.first, off)?;
        let resp = Response {
            status,
            reason,
            headers: head.headers,
            body,
        };
        Ok(Parsed::Response(resp, consumed))
    } else {
        let (method, uri) = parse_request_line(head.first, off)?;
        let req = Request {
            method,
            uri,
            headers: head.headers,
            body,
        };
        Ok(Parsed::Request(req, consumed))
    }
}

/// Finds the end of the head (an empty line), enforcing [`MAX_HEADER_BYTES`].
fn find_head_end(buf: &[u8], off: usize) -> Result<(usize, usize), ParseError> {
    let window = &buf[..buf.len().min(MAX_HEADER_BYTES)];
    let mut i = 0;
    while let Some(nl) = window
        .get(i..)
        .and_then(|w| w.iter().position(|&b| b == b'\n'))
    {
        let lf = i + nl;
        let next = window.get(lf + 1..).unwrap_or_default();
        if next.first() == Some(&b'\n') {
            return Ok((lf, lf + 2));
        }
        if next.starts_with(b"\r\n") {
            return Ok((lf, lf + 3));
        }
        i = lf + 1;
    }
    if buf.len() >= MAX_HEADER_BYTES {
        return Err(invalid(
            off + MAX_HEADER_BYTES,
            "header section exceeds MAX_HEADER_BYTES (16 KiB)",
        ));
    }
    Err(ParseError::Incomplete)
}

fn parse_head(buf: &[u8], off: usize) -> Result<Head<'_>, ParseError> {
    let (last_lf, end) = find_head_end(buf, off)?;
    let text = buf.get(..last_lf).unwrap_or_default();
    let text = std::str::from_utf8(text)
        .map_err(|e| invalid(off + e.valid_up_to(), "header section is not UTF-8"))?;
    let mut lines = split_lines(text);
    let (_, first) = lines
        .next()
        .ok_or_else(|| invalid(off, "missing first line"))?;
    if first.starts_with([' ', '\t']) {
        // Also keeps `" $ x RTSP/1.0"` from re-encoding into an interleaved frame.
        return Err(invalid(off, "first line starts with whitespace"));
    }
    let mut headers = Headers::new();
    for (pos, line) in lines {
        add_header_line(&mut headers, line, off + pos)?;
    }
    Ok(Head {
        first,
        headers,
        end,
    })
}

/// Lines with their offsets, CR stripped.
fn split_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut pos = 0;
    text.split('\n').map(move |line| {
        let at = pos;
        pos += line.len() + 1;
        (at, line.strip_suffix('\r').unwrap_or(line))
    })
}

fn add_header_line(headers: &mut Headers, line: &str, pos: usize) -> Result<(), ParseError> {
    if line.starts_with([' ', '\t']) {
        // Folded continuation of the previous field (RFC 2326 §4.2 via RFC 2616 §2.2).
        let Some(last) = headers.0.last_mut() else {
            return Err(invalid(pos, "continuation line before any header"));
        };
        last.1.push(' ');
        last.1.push_str(line.trim());
        return Ok(());
    }
    if headers.len() >= MAX_HEADERS {
        return Err(invalid(pos, "more than MAX_HEADERS (64) header fields"));
    }
    let Some((name, value)) = line.split_once(':') else {
        return Err(invalid(pos, "header line without ':'"));
    };
    let name = name.trim_end();
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(invalid(pos, "header name is not a token"));
    }
    headers.append(name, value.trim());
    Ok(())
}

fn content_length(headers: &Headers, off: usize) -> Result<usize, ParseError> {
    let mut found: Option<usize> = None;
    for v in headers.get_all("Content-Length") {
        let n: usize = v
            .parse()
            .map_err(|_| invalid(off, "Content-Length is not a number"))?;
        if found.is_some_and(|f| f != n) {
            return Err(invalid(off, "conflicting Content-Length headers"));
        }
        found = Some(n);
    }
    let n = found.unwrap_or(0);
    if n > MAX_BODY_BYTES {
        return Err(invalid(
            off,
            "Content-Length exceeds MAX_BODY_BYTES (64 KiB)",
        ));
    }
    Ok(n)
}

fn parse_request_line(line: &str, off: usize) -> Result<(Method, String), ParseError> {
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(off, "request line is not 'METHOD URI RTSP/1.0'"));
    };
    if !method.bytes().all(is_token_byte) {
        return Err(invalid(off, "method is not a token"));
    }
    if version != "RTSP/1.0" {
        return Err(invalid(
            off + line.len() - version.len(),
            "unsupported RTSP version",
        ));
    }
    Ok((Method::from_token(method), uri.to_owned()))
}

fn parse_status_line(line: &str, off: usize) -> Result<(StatusCode, String), ParseError> {
    let Some(rest) = line.strip_prefix("RTSP/1.0 ") else {
        return Err(invalid(off, "unsupported RTSP version"));
    };
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code
        .parse()
        .map_err(|_| invalid(off + 9, "status code is not a number"))?;
    if !(100..=999).contains(&code) {
        return Err(invalid(off + 9, "status code out of range"));
    }
    Ok((StatusCode(code), reason.to_owned()))
}

/// RFC 2616 §2.2 `token` characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

fn invalid(pos: usize, what: &'static str) -> ParseError {
    ParseError::Invalid { pos, what }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
