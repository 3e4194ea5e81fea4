//! SDP (RFC 8866) parsing and serialization for RTSP (RFC 2326 Appendix C), and conversion
//! between SDP media descriptions and Vigia's [`Track`] model.
//!
//! [`Sdp`] keeps every line in order, so what a camera sent re-encodes byte for byte (CRLF input);
//! typed accessors read `m=`, `c=`, `b=`, `a=rtpmap`, `a=fmtp`, `a=control` and the direction.
//! [`tracks_from_sdp`] reads H.264 (RFC 6184 §8.1), H.265 (RFC 7798 §7.1), AAC (RFC 3640 §4.1),
//! G.711 (RFC 3551 §4.5.14) and Opus (RFC 7587 §6.1); other codecs are kept as
//! [`SdpCodec::Unsupported`] so one odd track (ONVIF metadata…) does not reject the whole stream.
//! [`sdp_for_tracks`] writes the SDP Vigia serves, shaped like MediaMTX's (`trackID=N` controls).

use std::fmt::Write as _;

use base64::Engine as _;
use bytes::Bytes;
use vigia_media::model::{AacParams, CodecParams, G711Params, OpusParams, Track, VideoParams};

/// Largest SDP accepted, in bytes.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Largest number of media descriptions accepted.
pub const MAX_MEDIA: usize = 16;
/// Largest number of lines accepted.
pub const MAX_LINES: usize = 1024;

/// Why an SDP could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid SDP at byte {pos}: {what}")]
pub struct SdpError {
    /// Offset of the offending line in the input.
    pub pos: usize,
    /// What was wrong, naming the limit when one was exceeded.
    pub what: &'static str,
}

/// One `x=value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The type letter (`v`, `o`, `a`…).
    pub kind: u8,
    /// Everything after `=`.
    pub value: String,
}

/// A session description: session-level lines, then media descriptions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sdp {
    /// Session-level lines in order, `v=` first.
    pub session: Vec<Line>,
    /// Media descriptions in order.
    pub media: Vec<Media>,
}

/// The parsed `m=` line (RFC 8866 §5.14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaLine {
    /// `video`, `audio`, `application`…
    pub media: String,
    /// Transport port (0 in RTSP).
    pub port: u16,
    /// Number of ports after `/`, if any.
    pub num_ports: Option<u16>,
    /// Protocol, e.g. `RTP/AVP`.
    pub proto: String,
    /// Format list: RTP payload type numbers for RTP/AVP.
    pub formats: Vec<String>,
}

/// One media description: its `m=` line and the lines after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// The `m=` line.
    pub line: MediaLine,
    /// Media-level lines (`c=`, `b=`, `a=`…) in order.
    pub lines: Vec<Line>,
}

/// Media direction attribute (RFC 8866 §6.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    SendRecv,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=sendonly`.
    SendOnly,
    /// `a=inactive`.
    Inactive,
}

/// An `a=rtpmap:` value (RFC 8866 §6.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written (compare case-insensitively).
    pub encoding: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters (audio: channel count).
    pub params: Option<String>,
}

impl Sdp {
    /// Parses an SDP body; tolerates LF-only line endings and blank lines.
    pub fn parse(input: &[u8]) -> Result<Sdp, SdpError> {
        if input.len() > MAX_SDP_BYTES {
            return Err(SdpError {
                pos: MAX_SDP_BYTES,
                what: "SDP exceeds MAX_SDP_BYTES (64 KiB)",
            });
        }
        let text = std::str::from_utf8(input).map_err(|e| SdpError {
            pos: e.valid_up_to(),
            what: "SDP is not UTF-8",
        })?;
        let mut sdp = Sdp::default();
        let mut pos = 0;
        for (n, raw) in text.split('\n').enumerate() {
            let at = pos;
            pos += raw.len() + 1;
            if n >= MAX_LINES {
                return Err(SdpError {
                    pos: at,
                    what: "more than MAX_LINES (1024) lines",
                });
            }
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if !line.trim().is_empty() {
                sdp.push_line(line, at)?;
            }
        }
        if sdp.session.first().map(|l| l.kind) != Some(b'v') {
            return Err(SdpError {
                pos: 0,
                what: "SDP does not start with v=",
            });
        }
        Ok(sdp)
    }

    fn push_line(&mut self, line: &str, at: usize) -> Result<(), SdpError> {
        let bad = |what| SdpError { pos: at, what };
        let bytes = line.as_bytes();
        let (Some(&kind), Some(b'=')) = (bytes.first(), bytes.get(1)) else {
            return Err(bad("line is not 'x=value'"));
        };
        if !kind.is_ascii_alphabetic() {
            return Err(bad("line type is not a letter"));
        }
        let value = line.get(2..).unwrap_or_default().to_owned();
        if self.session.is_empty() && kind != b'v' {
            return Err(bad("SDP does not start with v="));
        }
        if kind == b'm' {
            if self.media.len() >= MAX_MEDIA {
                return Err(bad("more than MAX_MEDIA (16) media descriptions"));
            }
            let line = MediaLine::parse(&value).ok_or_else(|| bad("malformed m= line"))?;
            self.media.push(Media {
                line,
                lines: Vec::new(),
            });
            return Ok(());
        }
        let line = Line { kind, value };
        match self.media.last_mut() {
            Some(m) => m.lines.push(line),
            None => self.session.push(line),
        }
        Ok(())
    }

    /// Serializes with CRLF line endings.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for l in &self.session {
            l.write_to(out);
        }
        for m in &self.media {
            out.extend_from_slice(format!("m={}\r\n", m.line).as_bytes());
            for l in &m.lines {
                l.write_to(out);
            }
        }
    }

    /// The serialized SDP as `Bytes` (an RTSP body).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::new();
        self.write_to(&mut out);
        Bytes::from(out)
    }

    /// Session-level `a=name[:value]` values.
    pub fn attributes<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        attributes(&self.session, name)
    }

    /// Session-level `a=control:` (the aggregate control URL), if any.
    pub fn control(&self) -> Option<&str> {
        self.attributes("control").next()
    }

    /// Session-level `c=` value, if any.
    pub fn connection(&self) -> Option<&str> {
        first_of(&self.session, b'c')
    }
}

impl Line {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.push(self.kind);
        out.push(b'=');
        out.extend_from_slice(self.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

impl MediaLine {
    /// Parses the value of an `m=` line: `<media> <port>[/<n>] <proto> <fmt>...`.
    pub fn parse(value: &str) -> Option<MediaLine> {
        let mut parts = value.split_ascii_whitespace();
        let media = parts.next()?.to_owned();
        let port_spec = parts.next()?;
        let (port, num_ports) = match port_spec.split_once('/') {
            Some((p, n)) => (p.parse().ok()?, Some(n.parse().ok()?)),
            None => (port_spec.parse().ok()?, None),
        };
        let proto = parts.next()?.to_owned();
        let formats = parts.map(str::to_owned).collect();
        Some(MediaLine {
            media,
            port,
            num_ports,
            proto,
            formats,
        })
    }
}

impl std::fmt::Display for MediaLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.media, self.port)?;
        if let Some(n) = self.num_ports {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt in &self.formats {
            write!(f, " {fmt}")?;
        }
        Ok(())
    }
}

impl Media {
    /// Media-level `a=name[:value]` values (value is `""` for flag attributes).
    pub fn attributes<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        attributes(&self.lines, name)
    }

    /// `a=control:` value (RFC 2326 §C.1.1), if any.
    pub fn control(&self) -> Option<&str> {
        self.attributes("control").next()
    }

    /// Media-level `c=` value, if any.
    pub fn connection(&self) -> Option<&str> {
        first_of(&self.lines, b'c')
    }

    /// `b=` values (`AS:64`…).
    pub fn bandwidths(&self) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .filter(|l| l.kind == b'b')
            .map(|l| l.value.as_str())
    }

    /// The direction attribute, `SendRecv` when none is present.
    pub fn direction(&self) -> Direction {
        for l in self.lines.iter().filter(|l| l.kind == b'a') {
            match l.value.as_str() {
                "recvonly" => return Direction::RecvOnly,
                "sendonly" => return Direction::SendOnly,
                "inactive" => return Direction::Inactive,
                "sendrecv" => return Direction::SendRecv,
                _ => {}
            }
        }
        Direction::SendRecv
    }

    /// The `a=rtpmap:` for payload type `pt`, if any and well formed.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.attributes("rtpmap")
            .find_map(|v| RtpMap::parse(v).filter(|r| r.payload_type == pt))
    }

    /// The `a=fmtp:` parameters for payload type `pt` as `(key, value)` pairs, if any.
    pub fn fmtp(&self, pt: u8) -> Option<Vec<(String, String)>> {
        self.attributes("fmtp").find_map(|v| {
            let (p, params) = v.split_once(' ').unwrap_or((v, ""));
            (p.trim().parse::<u8>().ok() == Some(pt)).then(|| parse_fmtp(params))
        })
    }
}

impl RtpMap {
    /// Parses `96 H264/90000` or `97 MPEG4-GENERIC/48000/2`.
    pub fn parse(value: &str) -> Option<RtpMap> {
        let (pt, rest) = value.trim().split_once([' ', '\t'])?;
        let mut parts = rest.trim().splitn(3, '/');
        let encoding = parts.next()?.trim().to_owned();
        let clock_rate = parts.next()?.trim().parse().ok()?;
        let params = parts.next().map(|p| p.trim().to_owned());
        Some(RtpMap {
            payload_type: pt.parse().ok()?,
            encoding,
            clock_rate,
            params,
        })
    }
}

/// How a media description maps to the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdpCodec {
    /// A codec Vigia carries.
    Supported(Track),
    /// Anything else; the driver ignores it (but keeps the track index).
    Unsupported {
        /// The encoding name, or the media type when there is no rtpmap.
        encoding: String,
        /// Why it was not understood.
        reason: &'static str,
    },
}

/// One media description of an SDP read as a track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdpTrack {
    /// Index of the media description in [`Sdp::media`].
    pub media_index: usize,
    /// RTP payload type chosen (the first format Vigia understands).
    pub payload_type: u8,
    /// `a=control:` value, if any.
    pub control: Option<String>,
    /// The codec.
    pub codec: SdpCodec,
}

impl SdpTrack {
    /// The track, if the codec is supported.
    pub fn track(&self) -> Option<&Track> {
        match &self.codec {
            SdpCodec::Supported(t) => Some(t),
            SdpCodec::Unsupported { .. } => None,
        }
    }
}

/// Reads every media description as a track, in order (one entry per `m=` line).
///
/// Fails only when there is no media description at all.
pub fn tracks_from_sdp(sdp: &Sdp) -> Result<Vec<SdpTrack>, SdpError> {
    if sdp.media.is_empty() {
        return Err(SdpError {
            pos: 0,
            what: "SDP has no media description",
        });
    }
    Ok(sdp
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| media_to_track(i, m))
        .collect())
}

/// The RTP payload type Vigia uses for `track` at index `index` in [`sdp_for_tracks`].
///
/// G.711 at 8000 Hz mono uses the static types 0 (PCMU) and 8 (PCMA); everything else a dynamic
/// type `96 + index`.
pub fn payload_type_for(track: &Track, index: usize) -> u8 {
    match &track.codec {
        CodecParams::G711(g) if g.sample_rate == 8000 && g.channels == 1 => {
            if g.mu_law {
                0
            } else {
                8
            }
        }
        _ => 96u8
            .saturating_add(u8::try_from(index).unwrap_or(u8::MAX))
            .min(127),
    }
}

/// Builds the SDP Vigia answers DESCRIBE with: one `m=` per track, `a=control:trackID=N`.
pub fn sdp_for_tracks(tracks: &[Track], session_name: &str) -> Sdp {
    let mut sdp = Sdp::default();
    for (kind, value) in [
        (b'v', "0".to_owned()),
        (b'o', "- 0 0 IN IP4 127.0.0.1".to_owned()),
        (b's', session_name.to_owned()),
        (b'c', "IN IP4 0.0.0.0".to_owned()),
        (b't', "0 0".to_owned()),
    ] {
        sdp.session.push(Line { kind, value });
    }
    for (i, t) in tracks.iter().enumerate() {
        sdp.media.push(media_for_track(t, i));
    }
    sdp
}

#[doc(hidden)]
/// Fuzz entry point: parse, convert, re-serialize, re-parse; panics on a broken invariant.
pub fn fuzz_sdp(data: &[u8]) {
    let Ok(sdp) = Sdp::parse(data) else {
        return;
    };
    assert!(sdp.media.len() <= MAX_MEDIA);
    let bytes = sdp.to_bytes();
    let again = Sdp::parse(&bytes).expect("serialized SDP must parse");
    assert_eq!(again.to_bytes(), bytes, "re-serialization must be stable");
    if let Ok(tracks) = tracks_from_sdp(&sdp) {
        assert_eq!(tracks.len(), sdp.media.len());
        let supported: Vec<Track> = tracks.iter().filter_map(|t| t.track().cloned()).collect();
        let out = sdp_for_tracks(&supported, "fuzz");
        let back = tracks_from_sdp(&out).map(|v| v.len()).unwrap_or(0);
        assert_eq!(back, supported.len());
    }
}

fn attributes<'a>(lines: &'a [Line], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    lines
        .iter()
        .filter(|l| l.kind == b'a')
        .filter_map(move |l| {
            let (n, v) = l.value.split_once(':').unwrap_or((&l.value, ""));
            n.eq_ignore_ascii_case(name).then_some(v)
        })
}

fn first_of(lines: &[Line], kind: u8) -> Option<&str> {
    lines
        .iter()
        .find(|l| l.kind == kind)
        .map(|l| l.value.as_str())
}

/// `key=value; key2=value2` with or without spaces; keys lowercased.
fn parse_fmtp(params: &str) -> Vec<(String, String)> {
    params
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect()
}

fn fmtp_get<'a>(fmtp: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fmtp.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn media_to_track(index: usize, m: &Media) -> SdpTrack {
    let control = m.control().map(str::to_owned);
    let pts: Vec<u8> = m
        .line
        .formats
        .iter()
        .filter_map(|f| f.parse().ok())
        .collect();
    let mut first: Option<(u8, SdpCodec)> = None;
    for &pt in &pts {
        let codec = codec_for(m, pt);
        if matches!(codec, SdpCodec::Supported(_)) {
            return SdpTrack {
                media_index: index,
                payload_type: pt,
                control,
                codec,
            };
        }
        first.get_or_insert((pt, codec));
    }
    let (payload_type, codec) = first.unwrap_or((
        0,
        SdpCodec::Unsupported {
            encoding: m.line.media.clone(),
            reason: "no RTP payload type",
        },
    ));
    SdpTrack {
        media_index: index,
        payload_type,
        control,
        codec,
    }
}

fn unsupported(encoding: &str, reason: &'static str) -> SdpCodec {
    SdpCodec::Unsupported {
        encoding: encoding.to_owned(),
        reason,
    }
}

fn codec_for(m: &Media, pt: u8) -> SdpCodec {
    if !m.line.proto.to_ascii_uppercase().starts_with("RTP/AVP") {
        return unsupported(&m.line.proto, "not an RTP/AVP media");
    }
    let Some(map) = m.rtpmap(pt).or_else(|| static_rtpmap(pt)) else {
        return unsupported(&m.line.media, "dynamic payload type without rtpmap");
    };
    let fmtp = m.fmtp(pt).unwrap_or_default();
    let enc = map.encoding.to_ascii_uppercase();
    let codec = match enc.as_str() {
        "H264" => Ok(h264_params(&fmtp)),
        "H265" | "HEVC" => Ok(h265_params(&fmtp)),
        "MPEG4-GENERIC" => aac_params(&map, &fmtp),
        "PCMU" | "PCMA" => g711_params(&map, enc == "PCMU"),
        "OPUS" => opus_params(&map, &fmtp),
        _ => Err("codec not supported"),
    };
    match codec {
        Ok(codec) => SdpCodec::Supported(Track {
            codec,
            clock_rate: map.clock_rate,
        }),
        Err(reason) => unsupported(&map.encoding, reason),
    }
}

/// RFC 3551 §6 static payload types Vigia understands.
fn static_rtpmap(pt: u8) -> Option<RtpMap> {
    let encoding = match pt {
        0 => "PCMU",
        8 => "PCMA",
        _ => return None,
    };
    Some(RtpMap {
        payload_type: pt,
        encoding: encoding.to_owned(),
        clock_rate: 8000,
        params: None,
    })
}

fn b64(s: &str) -> Option<Bytes> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    (!raw.is_empty()).then(|| Bytes::from(raw))
}

/// RFC 6184 §8.1: parameter sets from `sprop-parameter-sets`, sorted by NAL type (7 SPS, 8 PPS).
fn h264_params(fmtp: &[(String, String)]) -> CodecParams {
    let mut p = VideoParams::default();
    for nal in fmtp_get(fmtp, "sprop-parameter-sets")
        .unwrap_or("")
        .split(',')
        .filter_map(b64)
    {
        match nal.first().map(|b| b & 0x1f) {
            Some(7) if p.sps.is_none() => p.sps = Some(nal),
            Some(8) if p.pps.is_none() => p.pps = Some(nal),
            _ => {}
        }
    }
    CodecParams::H264(p)
}

/// RFC 7798 §7.1: `sprop-vps`, `sprop-sps`, `sprop-pps` (first of each list).
fn h265_params(fmtp: &[(String, String)]) -> CodecParams {
    let first = |key| fmtp_get(fmtp, key).and_then(|v| v.split(',').find_map(b64));
    CodecParams::H265(VideoParams {
        vps: first("sprop-vps"),
        sps: first("sprop-sps"),
        pps: first("sprop-pps"),
    })
}

/// RFC 3640 §4.1 with mode=AAC-hbr / AAC-lbr; the AudioSpecificConfig is in `config` (hex).
fn aac_params(map: &RtpMap, fmtp: &[(String, String)]) -> Result<CodecParams, &'static str> {
    let mode = fmtp_get(fmtp, "mode").unwrap_or("");
    if !mode.eq_ignore_ascii_case("AAC-hbr") && !mode.eq_ignore_ascii_case("AAC-lbr") {
        return Err("MPEG4-GENERIC mode is not AAC-hbr or AAC-lbr");
    }
    let config = fmtp_get(fmtp, "config")
        .and_then(hex)
        .ok_or("AAC config missing or not hex")?;
    let (sample_rate, channels) = aac_config_summary(&config).unwrap_or((
        map.clock_rate,
        map.params
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
    ));
    Ok(CodecParams::Aac(AacParams {
        config,
        sample_rate,
        channels,
    }))
}

/// ISO 14496-3 §1.6.2.1: sampling rate and channel count of an AudioSpecificConfig.
fn aac_config_summary(config: &[u8]) -> Option<(u32, u16)> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let bits = u32::from(*config.first()?) << 8 | u32::from(*config.get(1)?);
    let object_type = bits >> 11;
    let freq_index = (bits >> 7) & 0x0f;
    let channels = (bits >> 3) & 0x0f;
    if object_type == 31 || freq_index == 15 || channels == 0 {
        return None; // Escapes and PCE-defined layouts: trust the rtpmap instead.
    }
    let rate = *RATES.get(usize::try_from(freq_index).ok()?)?;
    Some((rate, u16::try_from(channels).ok()?))
}

fn g711_params(map: &RtpMap, mu_law: bool) -> Result<CodecParams, &'static str> {
    let channels = match map.params.as_deref() {
        None => 1,
        Some(c) => c.parse().map_err(|_| "bad G.711 channel count")?,
    };
    Ok(CodecParams::G711(G711Params {
        mu_law,
        sample_rate: map.clock_rate,
        channels,
    }))
}

/// RFC 7587 §6.1: `opus/48000/2` always; `sprop-stereo` tells whether the sender is stereo.
fn opus_params(map: &RtpMap, fmtp: &[(String, String)]) -> Result<CodecParams, &'static str> {
    if map.clock_rate != 48000 {
        return Err("Opus clock rate is not 48000");
    }
    let channels = match fmtp_get(fmtp, "sprop-stereo") {
        Some("1") => 2,
        Some(_) => 1,
        None => map
            .params
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(2),
    };
    Ok(CodecParams::Opus(OpusParams { channels }))
}

fn hex(s: &str) -> Option<Bytes> {
    let s = s.trim();
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    bytes.map(Bytes::from)
}

fn to_hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02X}");
        s
    })
}

fn to_b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn media_for_track(track: &Track, index: usize) -> Media {
    let pt = payload_type_for(track, index);
    let kind = match track.kind() {
        vigia_media::MediaKind::Video => "video",
        vigia_media::MediaKind::Audio => "audio",
    };
    let line = MediaLine {
        media: kind.to_owned(),
        port: 0,
        num_ports: None,
        proto: "RTP/AVP".to_owned(),
        formats: vec![pt.to_string()],
    };
    let mut lines = vec![Line {
        kind: b'a',
        value: format!("control:trackID={index}"),
    }];
    let (rtpmap, fmtp) = rtpmap_fmtp(track);
    lines.push(Line {
        kind: b'a',
        value: format!("rtpmap:{pt} {rtpmap}"),
    });
    if let Some(f) = fmtp {
        lines.push(Line {
            kind: b'a',
            value: format!("fmtp:{pt} {f}"),
        });
    }
    Media { line, lines }
}

/// The rtpmap encoding (after the payload type) and fmtp parameters for a track.
fn rtpmap_fmtp(track: &Track) -> (String, Option<String>) {
    let rate = track.clock_rate;
    match &track.codec {
        CodecParams::H264(p) => (format!("H264/{rate}"), Some(h264_fmtp(p))),
        CodecParams::H265(p) => (format!("H265/{rate}"), h265_fmtp(p)),
        CodecParams::Aac(a) => (
            format!("MPEG4-GENERIC/{}/{}", a.sample_rate, a.channels),
            Some(format!(
                "profile-level-id=1; mode=AAC-hbr; sizelength=13; indexlength=3; \
                 indexdeltalength=3; config={}",
                to_hex(&a.config)
            )),
        ),
        CodecParams::G711(g) => {
            let name = if g.mu_law { "PCMU" } else { "PCMA" };
            match g.channels {
                1 => (format!("{name}/{}", g.sample_rate), None),
                c => (format!("{name}/{}/{c}", g.sample_rate), None),
            }
        }
        CodecParams::Opus(o) => {
            let stereo = u8::from(o.channels >= 2);
            (
                "opus/48000/2".to_owned(),
                Some(format!("sprop-stereo={stereo}")),
            )
        }
    }
}

fn h264_fmtp(p: &VideoParams) -> String {
    let mut f = "packetization-mode=1".to_owned();
    if let (Some(sps), Some(pps)) = (&p.sps, &p.pps) {
        let _ = write!(f, "; sprop-parameter-sets={},{}", to_b64(sps), to_b64(pps));
        if let Some(pli) = sps.get(1..4) {
            let _ = write!(f, "; profile-level-id={}", to_hex(pli));
        }
    }
    f
}

fn h265_fmtp(p: &VideoParams) -> Option<String> {
    let parts: Vec<String> = [
        ("sprop-vps", &p.vps),
        ("sprop-sps", &p.sps),
        ("sprop-pps", &p.pps),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", to_b64(v))))
    .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One SDP case: name, bytes, expected tracks (summary), whether it re-encodes byte for byte.
    struct Case {
        name: &'static str,
        input: Vec<u8>,
        tracks: &'static [(u8, Option<&'static str>, &'static str)],
        exact: bool,
    }

    fn summary(t: &SdpTrack) -> String {
        let track = match &t.codec {
            SdpCodec::Unsupported { encoding, .. } => return format!("unsupported {encoding}"),
            SdpCodec::Supported(t) => t,
        };
        let detail = match &track.codec {
            CodecParams::H264(v) | CodecParams::H265(v) => {
                format!(
                    "vps={} sps={} pps={}",
                    v.vps.is_some(),
                    v.sps.is_some(),
                    v.pps.is_some()
                )
            }
            CodecParams::Aac(a) => format!(
                "{}Hz {}ch config={}",
                a.sample_rate,
                a.channels,
                to_hex(&a.config)
            ),
            CodecParams::G711(g) => format!("mu={} {}Hz {}ch", g.mu_law, g.sample_rate, g.channels),
            CodecParams::Opus(o) => format!("{}ch", o.channels),
        };
        format!("{}/{} {detail}", track.codec.name(), track.clock_rate)
    }

    fn cases() -> Vec<Case> {
        let mut absurd = b"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\n".to_vec();
        for _ in 0..=MAX_MEDIA {
            absurd.extend_from_slice(b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n");
        }
        let opus = b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 sprop-stereo=1\r\na=control:trackID=0\r\n";
        vec![
            Case {
                name: "hikvision",
                input: include_bytes!("rtsp/testdata/hikvision.sdp").to_vec(),
                tracks: &[
                    (
                        96,
                        Some(
                            "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast",
                        ),
                        "H264/90000 vps=false sps=true pps=true",
                    ),
                    (
                        0,
                        Some(
                            "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=2?transportmode=unicast",
                        ),
                        "G711/8000 mu=true 8000Hz 1ch",
                    ),
                ],
                exact: true,
            },
            Case {
                name: "dahua",
                input: include_bytes!("rtsp/testdata/dahua.sdp").to_vec(),
                tracks: &[
                    (
                        96,
                        Some("trackID=0"),
                        "H265/90000 vps=true sps=true pps=true",
                    ),
                    (8, Some("trackID=1"), "G711/16000 mu=false 16000Hz 1ch"),
                    (107, Some("trackID=4"), "unsupported vnd.onvif.metadata"),
                ],
                exact: true,
            },
            Case {
                name: "axis",
                input: include_bytes!("rtsp/testdata/axis.sdp").to_vec(),
                tracks: &[
                    (
                        96,
                        Some("rtsp://192.168.0.90/axis-media/media.amp/stream=0?videocodec=h264"),
                        "H264/90000 vps=false sps=true pps=true",
                    ),
                    (
                        97,
                        Some("rtsp://192.168.0.90/axis-media/media.amp/stream=1?videocodec=h264"),
                        "MPEG-4 Audio/16000 16000Hz 1ch config=1408",
                    ),
                ],
                exact: true,
            },
            Case {
                name: "intelbras",
                input: include_bytes!("rtsp/testdata/intelbras.sdp").to_vec(),
                tracks: &[
                    (
                        96,
                        Some("trackID=0"),
                        "H264/90000 vps=false sps=true pps=true",
                    ),
                    (0, Some("trackID=1"), "G711/8000 mu=true 8000Hz 1ch"),
                ],
                exact: true,
            },
            Case {
                name: "ffmpeg_announce",
                input: include_bytes!("rtsp/testdata/ffmpeg_announce.sdp").to_vec(),
                tracks: &[
                    (
                        96,
                        Some("streamid=0"),
                        "H264/90000 vps=false sps=true pps=true",
                    ),
                    (
                        97,
                        Some("streamid=1"),
                        "MPEG-4 Audio/48000 48000Hz 1ch config=118856E500",
                    ),
                ],
                exact: true,
            },
            Case {
                name: "gstreamer_announce",
                input: include_bytes!("rtsp/testdata/gstreamer_announce.sdp").to_vec(),
                tracks: &[(
                    96,
                    Some("stream=0"),
                    "H264/90000 vps=false sps=true pps=true",
                )],
                exact: true,
            },
            Case {
                name: "opus",
                input: opus.to_vec(),
                tracks: &[(111, Some("trackID=0"), "Opus/48000 2ch")],
                exact: true,
            },
            Case {
                name: "absurd_media_count",
                input: absurd,
                tracks: &[],
                exact: false,
            },
            Case {
                name: "garbage",
                input: b"\x00\xffnot sdp".to_vec(),
                tracks: &[],
                exact: false,
            },
            Case {
                name: "no_version",
                input: b"o=- 0 0 IN IP4 0\r\nm=video 0 RTP/AVP 96\r\n".to_vec(),
                tracks: &[],
                exact: false,
            },
            Case {
                name: "bad_m_line",
                input: b"v=0\r\nm=video x RTP/AVP 96\r\n".to_vec(),
                tracks: &[],
                exact: false,
            },
            Case {
                name: "no_media",
                input: b"v=0\r\ns=x\r\n".to_vec(),
                tracks: &[],
                exact: true,
            },
        ]
    }

    #[test]
    fn decode_cases() {
        for c in cases() {
            let got = Sdp::parse(&c.input)
                .ok()
                .and_then(|s| tracks_from_sdp(&s).ok());
            let Some(tracks) = got else {
                assert!(c.tracks.is_empty(), "{} failed to decode", c.name);
                continue;
            };
            let summaries: Vec<_> = tracks
                .iter()
                .map(|t| (t.payload_type, t.control.clone(), summary(t)))
                .collect();
            let expected: Vec<_> = c
                .tracks
                .iter()
                .map(|(pt, ctl, s)| (*pt, ctl.map(str::to_owned), (*s).to_owned()))
                .collect();
            assert_eq!(summaries, expected, "{}", c.name);
        }
    }

    #[test]
    fn encode_cases() {
        for c in cases().iter().filter(|c| c.exact) {
            let sdp = Sdp::parse(&c.input).unwrap();
            assert_eq!(sdp.to_bytes(), c.input, "{}", c.name);
        }
    }

    #[test]
    fn limits_are_named() {
        let c = cases()
            .into_iter()
            .find(|c| c.name == "absurd_media_count")
            .unwrap();
        let e = Sdp::parse(&c.input).unwrap_err();
        assert_eq!(e.what, "more than MAX_MEDIA (16) media descriptions");
        let big = vec![b'a'; MAX_SDP_BYTES + 1];
        assert_eq!(
            Sdp::parse(&big).unwrap_err().what,
            "SDP exceeds MAX_SDP_BYTES (64 KiB)"
        );
    }

    #[test]
    fn accessors() {
        let sdp = Sdp::parse(include_bytes!("rtsp/testdata/hikvision.sdp")).unwrap();
        let m = &sdp.media[0];
        assert_eq!(m.direction(), Direction::RecvOnly);
        assert_eq!(m.bandwidths().collect::<Vec<_>>(), ["AS:5000"]);
        assert_eq!(m.connection(), Some("IN IP4 0.0.0.0"));
        assert_eq!(m.rtpmap(96).unwrap().encoding, "H264");
        assert!(
            sdp.control()
                .unwrap()
                .ends_with("Channels/101/?transportmode=unicast")
        );
    }

    /// Tracks → SDP → tracks is the identity, for every codec.
    #[test]
    fn sdp_for_tracks_roundtrip() {
        let sps = Bytes::from_static(&[0x67, 0x64, 0x00, 0x32, 0xac]);
        let pps = Bytes::from_static(&[0x68, 0xee, 0x3c, 0x30]);
        let tracks = vec![
            Track {
                codec: CodecParams::H264(VideoParams {
                    vps: None,
                    sps: Some(sps.clone()),
                    pps: Some(pps.clone()),
                }),
                clock_rate: 90000,
            },
            Track {
                codec: CodecParams::H265(VideoParams {
                    vps: Some(Bytes::from_static(&[0x40, 1])),
                    sps: Some(Bytes::from_static(&[0x42, 1])),
                    pps: Some(Bytes::from_static(&[0x44, 1])),
                }),
                clock_rate: 90000,
            },
            Track {
                codec: CodecParams::Aac(AacParams {
                    config: Bytes::from_static(&[0x11, 0x90]),
                    sample_rate: 48000,
                    channels: 2,
                }),
                clock_rate: 48000,
            },
            Track {
                codec: CodecParams::G711(G711Params {
                    mu_law: true,
                    sample_rate: 8000,
                    channels: 1,
                }),
                clock_rate: 8000,
            },
            Track {
                codec: CodecParams::G711(G711Params {
                    mu_law: false,
                    sample_rate: 16000,
                    channels: 2,
                }),
                clock_rate: 16000,
            },
            Track {
                codec: CodecParams::Opus(OpusParams { channels: 2 }),
                clock_rate: 48000,
            },
            Track {
                codec: CodecParams::Opus(OpusParams { channels: 1 }),
                clock_rate: 48000,
            },
        ];
        let sdp = sdp_for_tracks(&tracks, "Stream");
        let bytes = sdp.to_bytes();
        let back = tracks_from_sdp(&Sdp::parse(&bytes).unwrap()).unwrap();
        let got: Vec<Track> = back.iter().map(|t| t.track().cloned().unwrap()).collect();
        assert_eq!(got, tracks);
        let pts: Vec<u8> = back.iter().map(|t| t.payload_type).collect();
        assert_eq!(pts, [96, 97, 98, 0, 100, 101, 102]);
        let controls: Vec<_> = back.iter().map(|t| t.control.clone().unwrap()).collect();
        assert_eq!(controls[6], "trackID=6");
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.contains("a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QAMqw=,aO48MA==; profile-level-id=640032\r\n"), "{text}");
        assert!(text.starts_with("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=Stream\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n"));
    }

    #[test]
    fn unsupported_kept() {
        let sdp = b"v=0\r\nm=audio 0 RTP/AVP 97 0\r\na=rtpmap:97 MP4A-LATM/44100/2\r\nm=video 0 RTP/AVP 26\r\nm=audio 0 RTP/AVP 98\r\na=rtpmap:98 MPEG4-GENERIC/44100/2\r\na=fmtp:98 mode=AAC-hbr\r\n";
        let tracks = tracks_from_sdp(&Sdp::parse(sdp).unwrap()).unwrap();
        // The first m= offers LATM then PCMU: PCMU is picked.
        assert_eq!(summary(&tracks[0]), "G711/8000 mu=true 8000Hz 1ch");
        assert_eq!(summary(&tracks[1]), "unsupported video");
        assert_eq!(summary(&tracks[2]), "unsupported MPEG4-GENERIC");
    }

    #[test]
    fn seeds_are_in_the_fuzz_corpus() {
        let seeds: Vec<(String, Vec<u8>)> = cases()
            .into_iter()
            .map(|c| (c.name.to_owned(), c.input))
            .collect();
        crate::rtsp::testutil::check_seeds("sdp", &seeds);
    }
}
