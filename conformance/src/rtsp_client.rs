//! A deliberately small RTSP client for tests that need to see raw RTP: DESCRIBE, SETUP every
//! track over TCP-interleaved, PLAY, then read interleaved frames. Blocking std I/O.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// An RTSP response: status, headers, body.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines as `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One RTP packet received over the interleaved connection.
#[derive(Clone, Debug)]
pub struct RtpFrame {
    /// Interleaved channel.
    pub channel: u8,
    /// The RTP packet.
    pub packet: Vec<u8>,
}

impl RtpFrame {
    /// RTP sequence number.
    pub fn seq(&self) -> u16 {
        u16::from_be_bytes([self.packet[2], self.packet[3]])
    }

    /// RTP payload (after the fixed header and CSRCs; extensions not expected here).
    pub fn payload(&self) -> &[u8] {
        let csrc = usize::from(self.packet[0] & 0x0f) * 4;
        &self.packet[12 + csrc..]
    }
}

/// A connection to an RTSP server.
pub struct RtspClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    cseq: u32,
    session: Option<String>,
    /// The URL requests are made for.
    pub url: String,
    /// The `RTP-Info` header of the last PLAY response.
    pub rtp_info: Option<String>,
}

impl RtspClient {
    /// Connects to `host:port` for `url`.
    pub fn connect(port: u16, url: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let writer = stream.try_clone()?;
        Ok(Self {
            reader: BufReader::new(stream),
            writer,
            cseq: 0,
            session: None,
            url: url.into(),
            rtp_info: None,
        })
    }

    /// Wraps an already connected stream.
    pub fn from_stream(stream: TcpStream, url: &str) -> Self {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let writer = stream.try_clone().expect("clone a TCP stream");
        Self {
            reader: BufReader::new(stream),
            writer,
            cseq: 0,
            session: None,
            url: url.into(),
            rtp_info: None,
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Sends `method` for `url` with extra header lines and reads the response.
    pub fn request(&mut self, method: &str, url: &str, headers: &[&str]) -> io::Result<Response> {
        self.request_with_body(method, url, headers, &[])
    }

    /// Like [`RtspClient::request`], with a body after the headers (give its Content-Length).
    pub fn request_with_body(
        &mut self,
        method: &str,
        url: &str,
        headers: &[&str],
        body: &[u8],
    ) -> io::Result<Response> {
        self.cseq += 1;
        let mut text = format!("{method} {url} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        if let Some(session) = &self.session {
            text.push_str(&format!("Session: {session}\r\n"));
        }
        for h in headers {
            text.push_str(h);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(body);
        self.writer.write_all(&bytes)?;
        let response = self.read_response()?;
        if let Some(s) = response.header("Session") {
            self.session = Some(s.split(';').next().unwrap_or(s).trim().to_string());
        }
        Ok(response)
    }

    /// ANNOUNCE of `sdp` for `url`, with its Content-Type and Content-Length.
    pub fn announce(&mut self, url: &str, sdp: &str) -> io::Result<Response> {
        let len = format!("Content-Length: {}", sdp.len());
        let headers = ["Content-Type: application/sdp", len.as_str()];
        self.request_with_body("ANNOUNCE", url, &headers, sdp.as_bytes())
    }

    /// Reads one response, skipping interleaved frames that arrive first.
    pub fn read_response(&mut self) -> io::Result<Response> {
        loop {
            let first = self.peek_byte()?;
            if first == b'$' {
                self.read_frame()?;
                continue;
            }
            return self.read_message();
        }
    }

    fn peek_byte(&mut self) -> io::Result<u8> {
        let buf = self.reader.fill_buf()?;
        buf.first()
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "closed"))
    }

    fn read_message(&mut self) -> io::Result<Response> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut response = Response {
            status,
            ..Default::default()
        };
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                response
                    .headers
                    .push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = response
            .header("Content-Length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        response.body = vec![0; len];
        self.reader.read_exact(&mut response.body)?;
        Ok(response)
    }

    /// Reads the next interleaved frame.
    pub fn read_frame(&mut self) -> io::Result<RtpFrame> {
        let mut head = [0u8; 4];
        self.reader.read_exact(&mut head)?;
        if head[0] != b'$' {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "expected an interleaved frame",
            ));
        }
        let mut packet = vec![0; usize::from(u16::from_be_bytes([head[2], head[3]]))];
        self.reader.read_exact(&mut packet)?;
        Ok(RtpFrame {
            channel: head[1],
            packet,
        })
    }

    /// ANNOUNCE of a one-media `sdp` (control `trackID=0`), SETUP over TCP-interleaved
    /// (channels 0-1) for recording, RECORD; fails unless each is answered 200.
    pub fn record_tcp(&mut self, sdp: &str) -> io::Result<()> {
        let url = self.url.clone();
        let setup_url = format!("{url}/trackID=0");
        let transport = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record";
        let answers = [
            ("ANNOUNCE", self.announce(&url, sdp)?),
            ("SETUP", self.request("SETUP", &setup_url, &[transport])?),
            (
                "RECORD",
                self.request("RECORD", &url, &["Range: npt=0.000-"])?,
            ),
        ];
        match answers.into_iter().find(|(_, a)| a.status != 200) {
            Some((method, answer)) => Err(io::Error::other(format!("{method}: {answer:?}"))),
            None => Ok(()),
        }
    }

    /// Sends one interleaved frame on `channel`.
    pub fn send_frame(&mut self, channel: u8, packet: &[u8]) -> io::Result<()> {
        let mut frame = Vec::with_capacity(packet.len() + 4);
        if !vigia_protocol::rtsp::write_interleaved(channel, packet, &mut frame) {
            return Err(io::Error::other("packet too long for an interleaved frame"));
        }
        self.send_raw(&frame)
    }

    /// DESCRIBE, SETUP of every `m=` section over TCP-interleaved, PLAY. Returns the SDP.
    pub fn play_tcp(&mut self) -> io::Result<String> {
        self.play_with(|i| format!("RTP/AVP/TCP;unicast;interleaved={}-{}", 2 * i, 2 * i + 1))
    }

    /// DESCRIBE, SETUP of every `m=` section with the `Transport` that `transport(index)` gives,
    /// PLAY. Returns the SDP.
    pub fn play_with(&mut self, transport: impl Fn(usize) -> String) -> io::Result<String> {
        let url = self.url.clone();
        let describe = self.request("DESCRIBE", &url, &["Accept: application/sdp"])?;
        if describe.status != 200 {
            return Err(io::Error::other(format!(
                "DESCRIBE answered {}",
                describe.status
            )));
        }
        let sdp = String::from_utf8_lossy(&describe.body).into_owned();
        let base = describe.header("Content-Base").unwrap_or(&url).to_string();
        for (i, control) in controls(&sdp).iter().enumerate() {
            let track_url = absolute_control(&base, control);
            let transport = format!("Transport: {}", transport(i));
            let setup = self.request("SETUP", &track_url, &[&transport])?;
            if setup.status != 200 {
                return Err(io::Error::other(format!("SETUP answered {}", setup.status)));
            }
        }
        let play = self.request("PLAY", &base, &["Range: npt=0.000-"])?;
        if play.status != 200 {
            return Err(io::Error::other(format!("PLAY answered {}", play.status)));
        }
        self.rtp_info = play.header("RTP-Info").map(str::to_string);
        Ok(sdp)
    }
}

/// The `a=control:` values of each media section of `sdp`.
pub fn controls(sdp: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_media = false;
    for line in sdp.lines() {
        if line.starts_with("m=") {
            in_media = true;
            out.push(String::new());
        } else if let (true, Some(c), Some(last)) =
            (in_media, line.strip_prefix("a=control:"), out.last_mut())
        {
            *last = c.trim().to_string();
        }
    }
    out
}

fn absolute_control(base: &str, control: &str) -> String {
    if control.starts_with("rtsp://") {
        return control.to_string();
    }
    format!("{}/{}", base.trim_end_matches('/'), control)
}
