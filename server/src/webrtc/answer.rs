//! What an SDP answer str0m wrote says about each media: its `mid`, kind, direction and the
//! codec it lists first. It reads Vigia's own answer, never peer input: str0m reports opened
//! media only once connected, and the HTTP answer must say before that what will flow.

/// Which way a media of the answer carries media, from Vigia's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// `a=sendonly`: Vigia sends (WHEP).
    Send,
    /// `a=recvonly`: Vigia receives (WHIP).
    Receive,
    /// Anything else (`inactive`, `sendrecv`, a rejected media).
    Other,
}

/// One `m=` section of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AnswerMedia {
    /// Its `a=mid`.
    pub(super) mid: String,
    /// `true` for `m=video`, `false` for `m=audio`.
    pub(super) video: bool,
    /// Its direction; a port of 0 (rejected) is [`Direction::Other`].
    pub(super) direction: Direction,
    /// The first payload format it lists (the one the peer sends by).
    pub(super) codec: Option<AnswerCodec>,
}

/// A payload format of an answer media, from its `a=rtpmap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AnswerCodec {
    /// Payload type.
    pub(super) pt: u8,
    /// Encoding name, upper case (`H264`, `OPUS`, `PCMU`, `PCMA`).
    pub(super) name: String,
    /// Clock rate.
    pub(super) clock_rate: u32,
    /// Channels (1 when not given).
    pub(super) channels: u16,
}

/// The audio and video media of `answer`, in order.
pub(super) fn media(answer: &str) -> Vec<AnswerMedia> {
    answer.split("\nm=").skip(1).filter_map(section).collect()
}

fn section(m: &str) -> Option<AnswerMedia> {
    let mut words = m.lines().next()?.split_whitespace();
    let video = match words.next()? {
        "video" => true,
        "audio" => false,
        _ => return None,
    };
    let rejected = words.next()? == "0";
    let _proto = words.next();
    let first_pt: u8 = words.next().and_then(|pt| pt.parse().ok())?;
    let attributes: Vec<&str> = m.lines().map(str::trim_end).collect();
    let mid = attributes.iter().find_map(|l| l.strip_prefix("a=mid:"))?;
    let direction = if rejected {
        Direction::Other
    } else if attributes.contains(&"a=sendonly") {
        Direction::Send
    } else if attributes.contains(&"a=recvonly") {
        Direction::Receive
    } else {
        Direction::Other
    };
    let codec = attributes
        .iter()
        .find_map(|l| rtpmap(l).filter(|c| c.pt == first_pt));
    Some(AnswerMedia {
        mid: mid.to_string(),
        video,
        direction,
        codec,
    })
}

/// `a=rtpmap:<pt> <name>/<clock>[/<channels>]`.
fn rtpmap(line: &str) -> Option<AnswerCodec> {
    let (pt, format) = line.strip_prefix("a=rtpmap:")?.split_once(' ')?;
    let mut parts = format.split('/');
    let name = parts.next()?.to_ascii_uppercase();
    let clock_rate = parts.next()?.parse().ok()?;
    let channels = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
    Some(AnswerCodec {
        pt: pt.parse().ok()?,
        name,
        clock_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\ns=-\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=mid:0\r\na=recvonly\r\n\
        a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:1\r\na=sendonly\r\n\
        a=rtpmap:102 H264/90000\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n";

    #[test]
    fn each_media_gives_its_mid_direction_and_first_codec() {
        let found = media(ANSWER);
        assert_eq!(found.len(), 2, "the data channel is not a media");
        assert_eq!(found[0].mid, "0");
        assert!(!found[0].video);
        assert_eq!(found[0].direction, Direction::Receive);
        let opus = found[0].codec.as_ref().unwrap();
        assert_eq!((opus.pt, opus.name.as_str()), (111, "OPUS"));
        assert_eq!((opus.clock_rate, opus.channels), (48_000, 2));
        assert_eq!(found[1].direction, Direction::Send);
        let h264 = found[1].codec.as_ref().unwrap();
        assert_eq!((h264.name.as_str(), h264.channels), ("H264", 1));
    }

    #[test]
    fn rejected_and_inactive_media_carry_nothing() {
        let rejected = ANSWER.replace("m=video 9", "m=video 0");
        assert_eq!(media(&rejected)[1].direction, Direction::Other);
        let inactive = ANSWER.replace("a=sendonly", "a=inactive");
        assert_eq!(media(&inactive)[1].direction, Direction::Other);
        assert!(media("").is_empty());
        assert!(media("v=0\r\nm=video\r\n").is_empty());
    }
}
