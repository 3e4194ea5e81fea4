//! MediaMTX's RTSP connection, RTSP session, WebRTC session and HLS muxer families, from the
//! RTSP and WebRTC registries and the HLS listener's muxers.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::family::{Kind, Labels, labels, write};
use crate::hls::MuxerView;
use crate::registry::ConnView;
use crate::webrtc::sessions::WebrtcView;

/// What a connection-like family reads from its items: bytes in and out.
trait ByteCounts {
    fn inbound(&self) -> u64;
    fn outbound(&self) -> u64;
}

impl ByteCounts for ConnView {
    fn inbound(&self) -> u64 {
        self.inbound_bytes
    }
    fn outbound(&self) -> u64 {
        self.outbound_bytes
    }
}

impl ByteCounts for WebrtcView {
    fn inbound(&self) -> u64 {
        self.inbound_bytes
    }
    fn outbound(&self) -> u64 {
        self.outbound_bytes
    }
}

/// MediaMTX's RTSP connection and session families. A session lives on one connection, so
/// its byte counts are its connection's (requests and responses included).
pub(super) fn encode_rtsp(encoder: &mut DescriptorEncoder<'_>, conns: &[ConnView]) -> fmt::Result {
    let by_conn: Vec<(Labels, &ConnView)> = conns
        .iter()
        .map(|c| (labels([("id", &c.id.to_string())]), c))
        .collect();
    let by_session: Vec<(Labels, &ConnView)> = conns
        .iter()
        .filter_map(|c| {
            let s = c.session.as_ref()?;
            let labels = labels([
                ("id", &s.id.to_string()),
                ("path", &s.path),
                ("remoteAddr", &c.remote_addr.to_string()),
                ("state", s.state.as_str()),
            ]);
            Some((labels, c))
        })
        .collect();
    let help = "RTSP connections, 1 each";
    encode_conn_families(encoder, "rtsp_conns", help, &by_conn)?;
    let help = "RTSP sessions, 1 each; state is idle, read or publish";
    encode_conn_families(encoder, "rtsp_sessions", help, &by_session)
}

/// MediaMTX's WebRTC session families (`webrtc_sessions*`); bytes are whole datagrams (ICE,
/// DTLS, SRTP and SRTCP).
pub(super) fn encode_webrtc(
    encoder: &mut DescriptorEncoder<'_>,
    sessions: &[WebrtcView],
) -> fmt::Result {
    let items: Vec<(Labels, &WebrtcView)> = sessions
        .iter()
        .map(|s| {
            let e = &s.entry;
            let labels = labels([
                ("id", &e.id.to_string()),
                ("path", &e.path),
                ("remoteAddr", &e.remote_addr.to_string()),
                ("state", e.state()),
            ]);
            (labels, s)
        })
        .collect();
    let help = "WebRTC sessions, 1 each; state is read or publish";
    encode_conn_families(encoder, "webrtc_sessions", help, &items)
}

/// A connection byte family: name suffix, help, and how to read its value.
type ConnFamily = (&'static str, &'static str, fn(&dyn ByteCounts) -> u64);

/// `<prefix>` (1 each), `<prefix>_inbound_bytes`, `<prefix>_outbound_bytes`, and MediaMTX's
/// deprecated names of the latter two, `<prefix>_bytes_received` and `<prefix>_bytes_sent`.
fn encode_conn_families<T: ByteCounts>(
    encoder: &mut DescriptorEncoder<'_>,
    prefix: &str,
    help: &str,
    items: &[(Labels, &T)],
) -> fmt::Result {
    let each = |value: fn(&dyn ByteCounts) -> u64| -> Vec<(Labels, u64)> {
        items.iter().map(|(l, c)| (l.clone(), value(*c))).collect()
    };
    write(encoder, prefix, help, Kind::Gauge, &each(|_| 1))?;
    let families: [ConnFamily; 4] = [
        ("inbound_bytes", "Bytes received", |c| c.inbound()),
        (
            "bytes_received",
            "Deprecated MediaMTX name of *_inbound_bytes",
            |c| c.inbound(),
        ),
        ("outbound_bytes", "Bytes sent", |c| c.outbound()),
        (
            "bytes_sent",
            "Deprecated MediaMTX name of *_outbound_bytes",
            |c| c.outbound(),
        ),
    ];
    for (suffix, help, value) in families {
        let name = format!("{prefix}_{suffix}");
        write(encoder, &name, help, Kind::Unsuffixed, &each(value))?;
    }
    Ok(())
}

/// MediaMTX's HLS muxer families.
pub(super) fn encode_hls(encoder: &mut DescriptorEncoder<'_>, muxers: &[MuxerView]) -> fmt::Result {
    let each = |value: fn(&MuxerView) -> u64| -> Vec<(Labels, u64)> {
        muxers
            .iter()
            .map(|m| (labels([("name", &m.path)]), value(m)))
            .collect()
    };
    write(
        encoder,
        "hls_muxers",
        "HLS muxers, 1 each",
        Kind::Gauge,
        &each(|_| 1),
    )?;
    let sent = each(|m| m.bytes_sent);
    let help = "Bytes of playlists and media the muxer answered to viewers";
    write(
        encoder,
        "hls_muxers_outbound_bytes",
        help,
        Kind::Unsuffixed,
        &sent,
    )?;
    let help = "Deprecated MediaMTX name of hls_muxers_outbound_bytes";
    write(
        encoder,
        "hls_muxers_bytes_sent",
        help,
        Kind::Unsuffixed,
        &sent,
    )?;
    let discarded = each(|m| m.units_discarded);
    let help = "Access units the muxer lost by falling behind its stream";
    write(
        encoder,
        "hls_muxers_outbound_frames_discarded",
        help,
        Kind::Unsuffixed,
        &discarded,
    )
}
