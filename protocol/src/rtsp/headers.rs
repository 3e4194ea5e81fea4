//! Typed RTSP header values: `Transport` (RFC 2326 §12.39), `Session` (§12.37), `Range` (§12.29,
//! npt only, §3.6) and `RTP-Info` (§12.33). Each parses leniently (unknown parameters ignored,
//! keywords in any case) and serializes in the canonical form clients expect.

use std::fmt;

/// Why a header value could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {header} header: {what}")]
pub struct HeaderError {
    /// Which header.
    pub header: &'static str,
    /// What was wrong.
    pub what: &'static str,
}

/// Lower transport of RTP (RFC 2326 §12.39 `lower-transport`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LowerTransport {
    /// RTP over UDP (`RTP/AVP` or `RTP/AVP/UDP`), the default.
    #[default]
    Udp,
    /// RTP interleaved in the RTSP TCP connection (`RTP/AVP/TCP`).
    Tcp,
}

/// Whether a UDP transport is unicast or multicast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// `unicast`.
    Unicast,
    /// `multicast`.
    Multicast,
}

/// The `mode` parameter (RFC 2326 §12.39).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportMode {
    /// `mode=play` (the default): the server sends media.
    Play,
    /// `mode=record`: the client sends media.
    Record,
}

/// One transport specification of a `Transport` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transport {
    /// `RTP/AVP[/UDP]` or `RTP/AVP/TCP`; `None` is read as UDP.
    pub lower: Option<LowerTransport>,
    /// `unicast` or `multicast`, if stated.
    pub delivery: Option<Delivery>,
    /// `destination=` address.
    pub destination: Option<String>,
    /// `source=` address.
    pub source: Option<String>,
    /// `ttl=` for multicast.
    pub ttl: Option<u8>,
    /// `port=` RTP/RTCP pair for multicast.
    pub port: Option<(u16, u16)>,
    /// `client_port=` RTP/RTCP pair.
    pub client_port: Option<(u16, u16)>,
    /// `server_port=` RTP/RTCP pair.
    pub server_port: Option<(u16, u16)>,
    /// `interleaved=` RTP/RTCP channel pair.
    pub interleaved: Option<(u8, u8)>,
    /// `ssrc=` (8 hex digits).
    pub ssrc: Option<u32>,
    /// `mode=`; `None` means play.
    pub mode: Option<TransportMode>,
}

impl Transport {
    /// Parses one transport-spec (no commas).
    pub fn parse(spec: &str) -> Result<Transport, HeaderError> {
        let mut parts = spec.split(';').map(str::trim);
        let profile = parts.next().unwrap_or_default();
        let mut t = Transport {
            lower: Some(parse_profile(profile)?),
            ..Transport::default()
        };
        for param in parts.filter(|p| !p.is_empty()) {
            t.apply_param(param)?;
        }
        Ok(t)
    }

    /// Parses a whole header value: one or more specs separated by commas, in preference order.
    pub fn parse_list(value: &str) -> Result<Vec<Transport>, HeaderError> {
        let specs: Vec<_> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if specs.is_empty() {
            return Err(err("empty"));
        }
        specs.into_iter().map(Transport::parse).collect()
    }

    /// The lower transport, UDP when unstated.
    pub fn lower_transport(&self) -> LowerTransport {
        self.lower.unwrap_or_default()
    }

    /// Whether this asks for multicast delivery.
    pub fn is_multicast(&self) -> bool {
        self.delivery == Some(Delivery::Multicast)
    }

    /// The mode, play when unstated.
    pub fn mode(&self) -> TransportMode {
        self.mode.unwrap_or(TransportMode::Play)
    }

    fn apply_param(&mut self, param: &str) -> Result<(), HeaderError> {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "unicast" => self.delivery = Some(Delivery::Unicast),
            "multicast" => self.delivery = Some(Delivery::Multicast),
            "destination" => self.destination = Some(value.to_owned()),
            "source" => self.source = Some(value.to_owned()),
            "ttl" => self.ttl = Some(value.parse().map_err(|_| err("bad ttl"))?),
            "port" => self.port = Some(parse_pair(value)?),
            "client_port" => self.client_port = Some(parse_pair(value)?),
            "server_port" => self.server_port = Some(parse_pair(value)?),
            "interleaved" => self.interleaved = Some(parse_pair(value)?),
            "ssrc" => self.ssrc = Some(parse_ssrc(value)?),
            "mode" => self.mode = Some(parse_mode(value)?),
            _ => {} // append, layers and vendor extensions are ignored.
        }
        Ok(())
    }
}

impl fmt::Display for Transport {
    /// Canonical form, e.g. `RTP/AVP/TCP;unicast;interleaved=0-1;mode=record`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lower_transport() {
            LowerTransport::Udp => f.write_str("RTP/AVP")?,
            LowerTransport::Tcp => f.write_str("RTP/AVP/TCP")?,
        }
        match self.delivery {
            Some(Delivery::Unicast) => f.write_str(";unicast")?,
            Some(Delivery::Multicast) => f.write_str(";multicast")?,
            None => {}
        }
        if let Some(d) = &self.destination {
            write!(f, ";destination={d}")?;
        }
        if let Some(s) = &self.source {
            write!(f, ";source={s}")?;
        }
        if let Some(t) = self.ttl {
            write!(f, ";ttl={t}")?;
        }
        write_pair(f, "port", self.port)?;
        write_pair(f, "client_port", self.client_port)?;
        write_pair(f, "server_port", self.server_port)?;
        write_pair(f, "interleaved", self.interleaved)?;
        if let Some(s) = self.ssrc {
            write!(f, ";ssrc={s:08X}")?;
        }
        match self.mode {
            Some(TransportMode::Play) => f.write_str(";mode=play"),
            Some(TransportMode::Record) => f.write_str(";mode=record"),
            None => Ok(()),
        }
    }
}

fn write_pair<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    key: &str,
    pair: Option<(T, T)>,
) -> fmt::Result {
    match pair {
        Some((a, b)) => write!(f, ";{key}={a}-{b}"),
        None => Ok(()),
    }
}

fn err(what: &'static str) -> HeaderError {
    HeaderError {
        header: "Transport",
        what,
    }
}

fn parse_profile(profile: &str) -> Result<LowerTransport, HeaderError> {
    match profile.to_ascii_uppercase().as_str() {
        "RTP/AVP" | "RTP/AVP/UDP" => Ok(LowerTransport::Udp),
        "RTP/AVP/TCP" => Ok(LowerTransport::Tcp),
        _ => Err(err("unsupported profile (only RTP/AVP)")),
    }
}

/// `a-b` or a single `a`, which means `a-(a+1)` (RFC 2326 §12.39 port ranges).
fn parse_pair<T>(value: &str) -> Result<(T, T), HeaderError>
where
    T: std::str::FromStr + Copy + TryFrom<u32>,
    u32: From<T>,
{
    let bad = || err("bad port or channel pair");
    let (a, b) = match value.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (value, None),
    };
    let a: T = a.trim().parse().map_err(|_| bad())?;
    let b: T = match b {
        Some(b) => b.trim().parse().map_err(|_| bad())?,
        None => T::try_from(u32::from(a) + 1).map_err(|_| bad())?,
    };
    Ok((a, b))
}

fn parse_ssrc(value: &str) -> Result<u32, HeaderError> {
    if value.is_empty() || value.len() > 8 {
        return Err(err("bad ssrc"));
    }
    u32::from_str_radix(value, 16).map_err(|_| err("bad ssrc"))
}

fn parse_mode(value: &str) -> Result<TransportMode, HeaderError> {
    match value.to_ascii_lowercase().as_str() {
        "play" => Ok(TransportMode::Play),
        "record" | "receive" => Ok(TransportMode::Record),
        _ => Err(err("bad mode")),
    }
}

/// A `Session` header value: `id[;timeout=secs]` (RFC 2326 §12.37).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionHeader {
    /// Opaque session identifier.
    pub id: String,
    /// Seconds of inactivity after which the server drops the session.
    pub timeout_secs: Option<u32>,
}

impl SessionHeader {
    /// Parses `id[;timeout=N]`, ignoring other parameters.
    pub fn parse(value: &str) -> Result<SessionHeader, HeaderError> {
        let mut parts = value.split(';').map(str::trim);
        let id = parts.next().unwrap_or_default();
        if id.is_empty() {
            return Err(HeaderError {
                header: "Session",
                what: "empty id",
            });
        }
        let mut timeout_secs = None;
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("timeout")
            {
                timeout_secs = v.trim().parse().ok();
            }
        }
        Ok(SessionHeader {
            id: id.to_owned(),
            timeout_secs,
        })
    }
}

impl fmt::Display for SessionHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)?;
        match self.timeout_secs {
            Some(t) => write!(f, ";timeout={t}"),
            None => Ok(()),
        }
    }
}

/// A point of normal play time (RFC 2326 §3.6).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NptTime {
    /// `now`: the live edge.
    Now,
    /// Seconds from the start of the presentation.
    Seconds(f64),
}

/// A `Range: npt=start-[end]` header (RFC 2326 §12.29). Other units (smpte, clock) are rejected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NptRange {
    /// Start point.
    pub start: NptTime,
    /// End point, open when `None`.
    pub end: Option<NptTime>,
}

impl NptRange {
    /// Parses `npt=0.000-`, `npt=now-`, `npt=10-20.5`, `npt=00:01:02.5-`.
    pub fn parse(value: &str) -> Result<NptRange, HeaderError> {
        let bad = |what| HeaderError {
            header: "Range",
            what,
        };
        let spec = value.split(';').next().unwrap_or_default().trim();
        let Some(spec) = spec.strip_prefix("npt=") else {
            return Err(bad("only npt ranges are supported"));
        };
        let (start, end) = spec.split_once('-').ok_or(bad("missing '-'"))?;
        let start = if start.trim().is_empty() {
            Ok(NptTime::Seconds(0.0))
        } else {
            parse_npt(start)
        };
        let start = start.map_err(|_| bad("bad start"))?;
        let end = match end.trim() {
            "" => None,
            e => Some(parse_npt(e).map_err(|_| bad("bad end"))?),
        };
        Ok(NptRange { start, end })
    }
}

impl fmt::Display for NptRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("npt=")?;
        write_npt(f, self.start)?;
        f.write_str("-")?;
        match self.end {
            Some(e) => write_npt(f, e),
            None => Ok(()),
        }
    }
}

fn write_npt(f: &mut fmt::Formatter<'_>, t: NptTime) -> fmt::Result {
    match t {
        NptTime::Now => f.write_str("now"),
        NptTime::Seconds(s) => write!(f, "{s:.3}"),
    }
}

fn parse_npt(s: &str) -> Result<NptTime, ()> {
    let s = s.trim();
    if s == "now" {
        return Ok(NptTime::Now);
    }
    let mut secs = 0.0f64;
    for part in s.split(':') {
        let v: f64 = part.parse().map_err(|_| ())?;
        if !v.is_finite() || v < 0.0 {
            return Err(());
        }
        secs = secs * 60.0 + v;
    }
    Ok(NptTime::Seconds(secs))
}

/// One entry of an `RTP-Info` header (RFC 2326 §12.33).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RtpInfoEntry {
    /// Track URL.
    pub url: String,
    /// Sequence number of the first packet sent after PLAY.
    pub seq: Option<u16>,
    /// RTP timestamp of that packet.
    pub rtptime: Option<u32>,
}

impl RtpInfoEntry {
    /// Parses a whole `RTP-Info` value (comma-separated entries).
    pub fn parse_list(value: &str) -> Result<Vec<RtpInfoEntry>, HeaderError> {
        let bad = |what| HeaderError {
            header: "RTP-Info",
            what,
        };
        let mut out = Vec::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let mut e = RtpInfoEntry::default();
            for p in entry.split(';').map(str::trim) {
                let (k, v) = p.split_once('=').ok_or(bad("parameter without '='"))?;
                match k.trim() {
                    "url" => e.url = v.trim().to_owned(),
                    "seq" => e.seq = Some(v.trim().parse().map_err(|_| bad("bad seq"))?),
                    "rtptime" => {
                        e.rtptime = Some(v.trim().parse().map_err(|_| bad("bad rtptime"))?)
                    }
                    _ => {}
                }
            }
            out.push(e);
        }
        Ok(out)
    }

    /// Serializes a list as one header value.
    pub fn write_list(entries: &[RtpInfoEntry]) -> String {
        entries
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for RtpInfoEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "url={}", self.url)?;
        if let Some(s) = self.seq {
            write!(f, ";seq={s}")?;
        }
        if let Some(t) = self.rtptime {
            write!(f, ";rtptime={t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(input, decoded, canonical re-encoding)`; `None` means the input is already canonical.
    fn transport_cases() -> Vec<(&'static str, Transport, Option<&'static str>)> {
        let tcp = Some(LowerTransport::Tcp);
        let udp = Some(LowerTransport::Udp);
        let uni = Some(Delivery::Unicast);
        vec![
            (
                "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record",
                Transport {
                    lower: tcp,
                    delivery: uni,
                    interleaved: Some((0, 1)),
                    mode: Some(TransportMode::Record),
                    ..Default::default()
                },
                None,
            ),
            (
                "RTP/AVP/TCP;unicast;interleaved=0-1;mode=RECORD",
                Transport {
                    lower: tcp,
                    delivery: uni,
                    interleaved: Some((0, 1)),
                    mode: Some(TransportMode::Record),
                    ..Default::default()
                },
                Some("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"),
            ),
            (
                "RTP/AVP/UDP;unicast;client_port=25320-25321",
                Transport {
                    lower: udp,
                    delivery: uni,
                    client_port: Some((25320, 25321)),
                    ..Default::default()
                },
                Some("RTP/AVP;unicast;client_port=25320-25321"),
            ),
            (
                "RTP/AVP;unicast;client_port=5000-5001;server_port=8000-8001;ssrc=0000ABCD",
                Transport {
                    lower: udp,
                    delivery: uni,
                    client_port: Some((5000, 5001)),
                    server_port: Some((8000, 8001)),
                    ssrc: Some(0xabcd),
                    ..Default::default()
                },
                None,
            ),
            (
                "RTP/AVP;multicast;destination=224.1.0.1;ttl=16;port=9000-9001",
                Transport {
                    lower: udp,
                    delivery: Some(Delivery::Multicast),
                    destination: Some("224.1.0.1".into()),
                    ttl: Some(16),
                    port: Some((9000, 9001)),
                    ..Default::default()
                },
                None,
            ),
            (
                "RTP/AVP/TCP;interleaved=4;mode=\"PLAY\"",
                Transport {
                    lower: tcp,
                    interleaved: Some((4, 5)),
                    mode: Some(TransportMode::Play),
                    ..Default::default()
                },
                Some("RTP/AVP/TCP;interleaved=4-5;mode=play"),
            ),
        ]
    }

    #[test]
    fn transport_decode_encode() {
        for (input, decoded, canonical) in transport_cases() {
            let t = Transport::parse(input).unwrap();
            assert_eq!(t, decoded, "{input}");
            assert_eq!(t.to_string(), canonical.unwrap_or(input), "{input}");
        }
    }

    #[test]
    fn transport_list_and_errors() {
        let list =
            Transport::parse_list("RTP/AVP/TCP;interleaved=0-1, RTP/AVP;unicast;client_port=1-2")
                .unwrap();
        assert_eq!(list.len(), 2);
        for bad in [
            "",
            "RTP/SAVP;unicast",
            "RTP/AVP;client_port=x",
            "RTP/AVP;interleaved=255",
            "RTP/AVP;ssrc=123456789",
            "RTP/AVP;mode=foo",
        ] {
            assert!(Transport::parse_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn session_header() {
        let s = SessionHeader::parse("12345678;timeout=60").unwrap();
        assert_eq!(
            s,
            SessionHeader {
                id: "12345678".into(),
                timeout_secs: Some(60)
            }
        );
        assert_eq!(s.to_string(), "12345678;timeout=60");
        assert_eq!(SessionHeader::parse(" abc ").unwrap().id, "abc");
        assert!(SessionHeader::parse(";timeout=3").is_err());
    }

    #[test]
    fn range() {
        let cases = [
            (
                "npt=0.000-",
                NptRange {
                    start: NptTime::Seconds(0.0),
                    end: None,
                },
                "npt=0.000-",
            ),
            (
                "npt=now-",
                NptRange {
                    start: NptTime::Now,
                    end: None,
                },
                "npt=now-",
            ),
            (
                "npt=10-20.5",
                NptRange {
                    start: NptTime::Seconds(10.0),
                    end: Some(NptTime::Seconds(20.5)),
                },
                "npt=10.000-20.500",
            ),
            (
                "npt=00:01:02.5-",
                NptRange {
                    start: NptTime::Seconds(62.5),
                    end: None,
                },
                "npt=62.500-",
            ),
        ];
        for (input, decoded, out) in cases {
            let r = NptRange::parse(input).unwrap();
            assert_eq!(r, decoded, "{input}");
            assert_eq!(r.to_string(), out);
        }
        for bad in ["clock=19961108T143720.25Z-", "npt=abc-", "npt=5", "npt=-1-"] {
            assert!(NptRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rtp_info() {
        let v = "url=rtsp://h/a/trackID=0;seq=100;rtptime=12345,url=rtsp://h/a/trackID=1;seq=7";
        let list = RtpInfoEntry::parse_list(v).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].seq, Some(100));
        assert_eq!(list[1].rtptime, None);
        assert_eq!(RtpInfoEntry::write_list(&list), v);
    }
}
