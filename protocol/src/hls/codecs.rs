//! RFC 6381 codec strings and picture sizes for the multivariant playlist's `CODECS`,
//! `RESOLUTION` and `FRAME-RATE` (RFC 8216bis §4.4.6.2).

use vigia_media::CodecParams;
use vigia_media::codec::aac::AudioSpecificConfig;
use vigia_media::codec::{h264, h265};

/// The RFC 6381 `codecs` value of a track as the fMP4 muxer writes it, or `None` when the
/// parameters needed to name it (SPS, AudioSpecificConfig) are missing or unreadable.
///
/// H.264 `avc1.PPCCLL`, H.265 `hvc1.…` (ISO 14496-15 Annex E), AAC `mp4a.40.<object type>`,
/// Opus `opus`; G.711 is repackaged losslessly as FLAC, which browsers play in fMP4, so `flac`.
pub fn codec_string(codec: &CodecParams) -> Option<String> {
    match codec {
        CodecParams::H264(p) => Some(h264::SpsInfo::parse(p.sps.as_deref()?).ok()?.codec_string()),
        CodecParams::H265(p) => Some(h265::SpsInfo::parse(p.sps.as_deref()?).ok()?.codec_string()),
        CodecParams::Aac(p) => Some(AudioSpecificConfig::parse(&p.config).ok()?.codec_string()),
        CodecParams::Opus(_) => Some("opus".to_owned()),
        // Chromium and Firefox accept `flac` in `audio/mp4` (the sample entry is `fLaC`).
        CodecParams::G711(_) => Some("flac".to_owned()),
    }
}

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
    use vigia_media::model::{G711Params, OpusParams, VideoParams};

    use super::*;

    #[test]
    fn builtin_clip_codecs() {
        let clip = vigia_media::synthetic::builtin_360p();
        let tracks = clip.tracks();
        let video = tracks.first().map(|t| &t.codec);
        let audio = tracks.get(1).map(|t| &t.codec);
        assert!(
            video
                .and_then(codec_string)
                .is_some_and(|s| s.starts_with("avc1."))
        );
        assert_eq!(audio.and_then(codec_string).as_deref(), Some("mp4a.40.2"));
        let (w, h, _) = video.and_then(picture).unwrap_or_default();
        assert_eq!((w, h), (640, 360));
    }

    #[test]
    fn missing_parameters_name_nothing() {
        let empty = CodecParams::H264(VideoParams::default());
        assert_eq!(codec_string(&empty), None);
        let junk = CodecParams::H265(VideoParams {
            sps: Some(Bytes::from_static(&[0x42, 0x01])),
            ..VideoParams::default()
        });
        assert_eq!(codec_string(&junk), None);
        assert_eq!(
            codec_string(&CodecParams::Opus(OpusParams { channels: 2 })).as_deref(),
            Some("opus")
        );
        let g711 = CodecParams::G711(G711Params {
            mu_law: false,
            sample_rate: 8000,
            channels: 1,
        });
        assert_eq!(codec_string(&g711).as_deref(), Some("flac"));
    }
}
