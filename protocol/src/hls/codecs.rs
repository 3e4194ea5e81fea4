//! Picture sizes for the multivariant playlist's `RESOLUTION` and `FRAME-RATE`
//! (RFC 8216bis §4.4.6.2); `CODECS` comes from `vigia_media::fmp4::codec_string`, so it names
//! exactly what the muxer writes (G.711 as `flac`).

use vigia_media::CodecParams;
use vigia_media::codec::{h264, h265};

/// Picture size and frame rate of a video track, from its SPS.
pub(crate) fn picture(codec: &CodecParams) -> Option<(u32, u32, Option<f64>)> {
    match codec {
        CodecParams::H264(p) => {
            let sps = h264::SpsInfo::parse(p.sps.as_deref()?).ok()?;
            Some((sps.width, sps.height, sps.fps()))
        }
        CodecParams::H265(p) => {
            let sps = h265::SpsInfo::parse(p.sps.as_deref()?).ok()?;
            Some((sps.width, sps.height, None))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use vigia_media::model::VideoParams;

    use super::*;

    #[test]
    fn builtin_clip_picture() {
        let clip = vigia_media::synthetic::builtin_360p();
        let video = clip.tracks().first().map(|t| &t.codec);
        let (w, h, fps) = video.and_then(picture).unwrap_or_default();
        assert_eq!((w, h), (640, 360));
        assert!(fps.is_none_or(|f| (f - 25.0).abs() < 0.01), "{fps:?}");
        let empty = CodecParams::H264(VideoParams::default());
        assert_eq!(picture(&empty), None);
        let junk = CodecParams::H265(VideoParams {
            sps: Some(Bytes::from_static(&[0x42, 0x01])),
            ..VideoParams::default()
        });
        assert_eq!(picture(&junk), None);
    }
}
