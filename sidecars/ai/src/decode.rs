//! Keyframes to pictures: H.264 IDR access units decoded with OpenH264 (the `openh264` crate,
//! built from its bundled source).
//!
//! [`KeyframeDecoder::decode`] takes one access unit in Annex B form with its SPS and PPS (what
//! [`crate::stream`] hands out) and gives a [`Picture`]: the luma plane (for the sampler's
//! thumbnail, [`Picture::thumbnail`]) and RGB (for the OCR stage, [`Picture::rgb_frame`]), both
//! packed (no row padding). Each keyframe stands alone (an IDR refers to no other frame), so
//! only keyframes are fed and every other frame is never decoded.
//!
//! Peer bytes never panic the process: a keyframe that does not decode to a picture is a
//! [`DecodeError`] naming the path, keyframe and size; the decoder is then rebuilt, so a
//! corrupt keyframe cannot leave state that spoils the next one. OpenH264 is C; a panic in its
//! Rust wrapper (which builds slices from the decoder's pointers) is caught for the same reason.

use std::panic::AssertUnwindSafe;

use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

use crate::ocr::{Frame, OcrError, PixelFormat};
use crate::sampler::{PlaneError, Thumbnail};

/// Why a keyframe gave no picture. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} keyframe {index} ({bytes} bytes): {cause}")]
pub struct DecodeError {
    /// The Vigia path.
    pub path: String,
    /// The keyframe's index (see [`crate::stream::Keyframe::index`]).
    pub index: u64,
    /// The access unit's size.
    pub bytes: usize,
    /// What went wrong: OpenH264's message, or no picture.
    pub cause: String,
}

/// A decoded picture: `width` x `height`, luma and RGB, rows top down, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// The Y plane, one byte per pixel.
    pub luma: Vec<u8>,
    /// R, G, B per pixel (BT.601, as OpenH264 converts).
    pub rgb: Vec<u8>,
}

impl Picture {
    /// The sampler's thumbnail of the luma plane.
    pub fn thumbnail(&self) -> Result<Thumbnail, PlaneError> {
        Thumbnail::from_luma(self.width, self.height, self.width, &self.luma)
    }

    /// The picture in colour, for the OCR stage.
    pub fn rgb_frame(&self) -> Result<Frame<'_>, OcrError> {
        Frame::new(self.width, self.height, PixelFormat::Rgb, &self.rgb)
    }

    /// The picture in grey (luma), for the OCR stage.
    pub fn luma_frame(&self) -> Result<Frame<'_>, OcrError> {
        Frame::new(self.width, self.height, PixelFormat::Gray, &self.luma)
    }
}

/// One camera's decoder; see the module doc. Not shared: each camera has its own.
#[derive(Default)]
pub struct KeyframeDecoder {
    /// None before the first keyframe and after a failure.
    decoder: Option<Decoder>,
}

impl KeyframeDecoder {
    /// A decoder; OpenH264 is set up at the first keyframe.
    pub fn new() -> KeyframeDecoder {
        KeyframeDecoder::default()
    }

    /// Decodes one keyframe of `path` (`index` and `path` name it in errors).
    pub fn decode(&mut self, path: &str, index: u64, data: &[u8]) -> Result<Picture, DecodeError> {
        let err = |cause: String| DecodeError {
            path: path.to_owned(),
            index,
            bytes: data.len(),
            cause,
        };
        let decoder = match &mut self.decoder {
            Some(d) => d,
            None => self
                .decoder
                .insert(Decoder::new().map_err(|e| err(format!("OpenH264 init: {e}")))?),
        };
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| decode_one(decoder, data)));
        let outcome = match result {
            Ok(Ok(picture)) => return Ok(picture),
            Ok(Err(cause)) => cause,
            Err(_) => "the decoder panicked".to_owned(),
        };
        self.decoder = None;
        Err(err(outcome))
    }
}

/// One access unit through `decoder`, to a packed picture.
fn decode_one(decoder: &mut Decoder, data: &[u8]) -> Result<Picture, String> {
    let yuv = decoder
        .decode(data)
        .map_err(|e| format!("OpenH264: {e}"))?
        .ok_or_else(|| "no picture (not a whole IDR access unit with SPS and PPS?)".to_owned())?;
    let (width, height) = yuv.dimensions();
    let (stride, _, _) = yuv.strides();
    let y = yuv.y();
    if width == 0 || height == 0 || stride < width || y.len() < stride * (height - 1) + width {
        return Err(format!(
            "a {width}x{height} picture with a Y plane of {} bytes, stride {stride}",
            y.len()
        ));
    }
    let mut luma = Vec::with_capacity(width * height);
    for row in y.chunks(stride).take(height) {
        luma.extend_from_slice(&row[..width]);
    }
    let mut rgb = vec![0; width * height * 3];
    yuv.write_rgb8(&mut rgb);
    Ok(Picture {
        width,
        height,
        luma,
        rgb,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::process::Command;
    use std::time::Instant;

    use super::*;

    /// ffmpeg's test pattern at `size`, one frame encoded as x264 would for a camera (main
    /// profile, no B-frames): the Annex B access unit (SPS, PPS, SEI, IDR).
    fn keyframe(size: &str) -> Vec<u8> {
        lavfi_keyframe(&format!("testsrc2=size={size}:rate=25"))
    }

    /// The first frame of the lavfi source `source` as [`keyframe`] encodes it.
    pub(crate) fn lavfi_keyframe(source: &str) -> Vec<u8> {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i", source])
            .args(["-frames:v", "1", "-c:v", "libx264", "-profile:v", "main"])
            .args(["-pix_fmt", "yuv420p", "-bf", "0", "-f", "h264", "-"])
            .output()
            .expect("ffmpeg runs (scripts/install-deps.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// ffmpeg's own decoding of `au`: its packed Y plane.
    fn reference_luma(au: &[u8]) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("vigia-ai-decode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kf.h264");
        std::fs::write(&file, au).unwrap();
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-f", "h264", "-i"])
            .arg(&file)
            .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(out.status.success());
        // The Y plane comes first (`gray` would be rescaled to full range).
        let mut y = out.stdout;
        y.truncate(y.len() * 2 / 3);
        y
    }

    /// Start of the last NAL unit's payload (the IDR slice: it comes last).
    fn last_nal_start(au: &[u8]) -> usize {
        au.windows(3).rposition(|w| w == [0, 0, 1]).unwrap() + 3
    }

    #[test]
    fn decodes_an_ffmpeg_keyframe_like_ffmpeg() {
        let au = keyframe("1280x720");
        let mut d = KeyframeDecoder::new();
        let started = Instant::now();
        let p = d.decode("cam1", 0, &au).expect("decodes");
        let first = started.elapsed();
        assert_eq!((p.width, p.height), (1280, 720));
        assert_eq!((p.luma.len(), p.rgb.len()), (1280 * 720, 1280 * 720 * 3));
        let reference = reference_luma(&au);
        assert_eq!(reference.len(), p.luma.len());
        let diff: u64 = p
            .luma
            .iter()
            .zip(&reference)
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        // Both decoders are exact (H.264 decoding is bit-exact): the same plane.
        assert_eq!(diff, 0, "luma differs from ffmpeg's");
        p.thumbnail().unwrap();
        p.rgb_frame().unwrap();
        p.luma_frame().unwrap();
        // The same decoder takes the next keyframe (here the same one again).
        let started = Instant::now();
        let again = d.decode("cam1", 1, &au).expect("decodes again");
        eprintln!(
            "1280x720 keyframe ({} bytes): first decode {:.1} ms (with set-up), next {:.1} ms",
            au.len(),
            first.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!(again.luma, p.luma);
    }

    #[test]
    fn a_corrupt_keyframe_is_an_error_and_the_next_good_one_decodes() {
        let au = keyframe("640x360");
        let idr = last_nal_start(&au);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            (
                "noise",
                (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            ),
            ("parameter sets only", au[..idr - 4].to_vec()),
            ("IDR slice cut after 20 bytes", au[..idr + 20].to_vec()),
            (
                "IDR slice overwritten",
                au.iter()
                    .enumerate()
                    .map(|(i, &b)| if i > idr + 8 { 0xff } else { b })
                    .collect(),
            ),
        ];
        let mut d = KeyframeDecoder::new();
        for (name, data) in cases {
            let err = d.decode("cam1", 7, &data).unwrap_err();
            eprintln!("{name}: {err}");
            assert!(
                err.to_string().starts_with("cam1 keyframe 7 ("),
                "{name}: {err}"
            );
            // The decoder recovers at the next good keyframe.
            let p = d
                .decode("cam1", 8, &au)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((p.width, p.height), (640, 360));
        }
    }
}
