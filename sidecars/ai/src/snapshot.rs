//! The picture of a detection: a JPEG crop of the frame around the plate, stored in an object
//! store and referenced by key in `lpr.detected`'s `snapshotKey`.
//!
//! - **Crop** ([`context_box`], [`plate_snapshot`]): the OCR box of the plate's text grown by
//!   [`GROW_X`] times its width on each side and [`GROW_Y`] times its height above and below,
//!   clamped to the picture, so the crop shows the plate and the front of the car around it. A
//!   720p frame's plate (~120x35 px) gives a crop of about 480x315 px, ~25 KB at quality
//!   [`QUALITY`]. Encoded by the OCR thread ([`crate::live`]) for every line that is a plate,
//!   with `jpeg-encoder` (pure Rust, baseline, 4:2:0).
//! - **Which one**: each read carries its crop ([`crate::pipeline::OcrRead::snapshot`]); a pass
//!   keeps the crop of its best read (the one its `detectedAt` and frame come from, see
//!   [`crate::pass`]), and the pipeline hands it out with the detection
//!   ([`crate::pipeline::Output`]).
//! - **Key** ([`snapshot_key`]): `[<prefix>/]lpr/<cameraId>/<YYYY-MM-DD>/<eventId>.jpg`, the date
//!   being `detectedAt`'s in UTC (the same date the event carries), each segment percent-encoded
//!   where S3 keys need it (a `/` in a camera id becomes `%2F`), so the key in the event is
//!   exactly the object's.
//! - **Store** ([`store::SnapshotStore`]): the binary stores the crop before publishing the
//!   detection and sets the key only once the store said yes. A store that fails, after a short
//!   bounded retry, never holds the event back: it goes out without `snapshotKey`, the failure
//!   is logged and counted.
//!
//! Everything here but [`store`] is pure (no clock, no I/O).

pub mod store;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path;

use crate::decode::Picture;
use crate::ocr::BBox;

/// How many times the text box's width the crop adds on each side.
pub const GROW_X: f64 = 1.5;
/// How many times the text box's height the crop adds above and below.
pub const GROW_Y: f64 = 4.0;
/// JPEG quality, 1..=100.
pub const QUALITY: u8 = 85;

/// A JPEG picture (cheap to clone; printed as its size, not its bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct Jpeg(pub Bytes);

impl std::fmt::Debug for Jpeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Jpeg({} bytes)", self.0.len())
    }
}

/// Why a snapshot was not made or not stored. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The crop is empty (a box outside the picture) or the encoder refused it.
    #[error("JPEG crop {crop:?} of a {width}x{height} picture: {cause}")]
    Encode {
        /// The crop asked for.
        crop: BBox,
        /// The picture's width.
        width: usize,
        /// The picture's height.
        height: usize,
        /// What went wrong.
        cause: String,
    },
    /// The object store did not take the object.
    #[error("store {location}: {cause}")]
    Store {
        /// `<store>/<key>`.
        location: String,
        /// The store's error with its cause chain, or the time limit.
        cause: String,
    },
}

/// The crop around the text box `text` in a `width` x `height` picture (see the module doc);
/// `None` when nothing of it is inside the picture.
pub fn context_box(text: BBox, width: usize, height: usize) -> Option<BBox> {
    let inside = text.x0 < text.x1
        && text.y0 < text.y1
        && (text.x0 as usize) < width
        && (text.y0 as usize) < height;
    if !inside {
        return None;
    }
    let (w, h) = (f64::from(text.width()), f64::from(text.height()));
    let (dx, dy) = ((w * GROW_X).round(), (h * GROW_Y).round());
    let clamp = |v: f64, max: usize| v.clamp(0.0, max as f64) as u32;
    let crop = BBox {
        x0: clamp(f64::from(text.x0) - dx, width),
        y0: clamp(f64::from(text.y0) - dy, height),
        x1: clamp(f64::from(text.x1) + dx, width),
        y1: clamp(f64::from(text.y1) + dy, height),
    };
    (crop.width() > 0 && crop.height() > 0).then_some(crop)
}

/// The JPEG of the context around the text box `text` of `picture` ([`context_box`]).
pub fn plate_snapshot(picture: &Picture, text: BBox) -> Result<Jpeg, SnapshotError> {
    let err = |crop, cause: &str| SnapshotError::Encode {
        crop,
        width: picture.width,
        height: picture.height,
        cause: cause.to_owned(),
    };
    let crop = context_box(text, picture.width, picture.height)
        .ok_or_else(|| err(text, "nothing of the box is inside the picture"))?;
    encode_crop(picture, crop).map_err(|cause| err(crop, &cause))
}

/// `crop` (inside the picture) of `picture`'s RGB, as a JPEG of quality [`QUALITY`].
fn encode_crop(picture: &Picture, crop: BBox) -> Result<Jpeg, String> {
    let (w, h) = (crop.width() as usize, crop.height() as usize);
    let too_big = || format!("{w}x{h} is larger than JPEG's 65535x65535");
    let (w16, h16) = (
        u16::try_from(w).map_err(|_| too_big())?,
        u16::try_from(h).map_err(|_| too_big())?,
    );
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in crop.y0 as usize..crop.y1 as usize {
        let start = (y * picture.width + crop.x0 as usize) * 3;
        let row = picture
            .rgb
            .get(start..start + w * 3)
            .ok_or("the RGB plane is shorter than the picture")?;
        rgb.extend_from_slice(row);
    }
    let mut out = Vec::with_capacity(w * h / 4);
    let encoder = jpeg_encoder::Encoder::new(&mut out, QUALITY);
    encoder
        .encode(&rgb, w16, h16, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| e.to_string())?;
    Ok(Jpeg(Bytes::from(out)))
}

/// The object key of the snapshot of detection `event_id` (see the module doc); `prefix` is
/// the store's key prefix (`""` for none, else segments separated by `/`).
pub fn snapshot_key(
    prefix: &str,
    camera_id: &str,
    detected_at: DateTime<Utc>,
    event_id: &str,
) -> Path {
    let date = detected_at.format("%Y-%m-%d").to_string();
    let file = format!("{event_id}.jpg");
    Path::from(prefix)
        .join("lpr")
        .join(camera_id)
        .join(date.as_str())
        .join(file.as_str())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn b(x0: u32, y0: u32, x1: u32, y1: u32) -> BBox {
        BBox { x0, y0, x1, y1 }
    }

    /// A `width` x `height` picture whose red is x, green y and blue 128.
    pub(crate) fn gradient(width: usize, height: usize) -> Picture {
        let mut rgb = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                rgb.extend_from_slice(&[x as u8, y as u8, 128]);
            }
        }
        Picture {
            width,
            height,
            luma: vec![0; width * height],
            rgb,
        }
    }

    /// (width, height) from a JPEG's start-of-frame segment, after checking SOI and EOI.
    pub(crate) fn jpeg_size(jpeg: &[u8]) -> (usize, usize) {
        assert_eq!(&jpeg[..2], [0xFF, 0xD8], "SOI");
        assert_eq!(&jpeg[jpeg.len() - 2..], [0xFF, 0xD9], "EOI");
        let mut i = 2;
        while i + 9 < jpeg.len() {
            assert_eq!(jpeg[i], 0xFF, "a marker at {i}");
            let marker = jpeg[i + 1];
            let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
            if (0xC0..=0xC2).contains(&marker) {
                let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
                let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
                return (usize::from(w), usize::from(h));
            }
            i += 2 + len;
        }
        panic!("no SOF segment");
    }

    #[test]
    fn the_crop_grows_around_the_plate_and_stays_in_the_picture() {
        // (text box, picture size, crop): a 120x35 plate grows by 180 px a side and 140 px
        // above and below, cut where the picture ends.
        let cases = [
            (
                "middle",
                b(580, 340, 700, 375),
                (1280, 720),
                Some(b(400, 200, 880, 515)),
            ),
            (
                "top left",
                b(10, 5, 130, 40),
                (1280, 720),
                Some(b(0, 0, 310, 180)),
            ),
            (
                "bottom right",
                b(1200, 700, 1280, 720),
                (1280, 720),
                Some(b(1080, 620, 1280, 720)),
            ),
            (
                "bigger than the picture",
                b(0, 0, 640, 360),
                (640, 360),
                Some(b(0, 0, 640, 360)),
            ),
            ("outside", b(700, 400, 800, 420), (640, 360), None),
            ("empty", b(100, 100, 100, 100), (640, 360), None),
        ];
        for (name, text, (w, h), want) in cases {
            assert_eq!(context_box(text, w, h), want, "{name}");
        }
    }

    #[test]
    fn the_snapshot_is_a_jpeg_of_the_crop() {
        let picture = gradient(320, 180);
        let jpeg = plate_snapshot(&picture, b(100, 80, 160, 96)).unwrap();
        // 60x16 grown by 90 a side and 64 above and below: 10..250, 16..160.
        assert_eq!(jpeg_size(&jpeg.0), (240, 144));
        assert_eq!(format!("{jpeg:?}"), format!("Jpeg({} bytes)", jpeg.0.len()));
        let err = plate_snapshot(&picture, b(400, 10, 420, 20)).unwrap_err();
        assert!(err.to_string().contains("nothing of the box"), "{err}");
        let short = Picture {
            rgb: vec![0; 30],
            ..gradient(320, 180)
        };
        let err = plate_snapshot(&short, b(100, 80, 160, 96)).unwrap_err();
        assert!(err.to_string().contains("shorter"), "{err}");
    }

    #[test]
    fn keys_name_the_camera_the_day_and_the_event() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T23:59:59.900-03:00")
            .unwrap()
            .to_utc();
        let id = "0b7f3c5e-7c1e-4c3a-9b0e-8d9f2a1b3c4d";
        let cases = [
            (
                "",
                "cam-12",
                "lpr/cam-12/2026-12-03/0b7f3c5e-7c1e-4c3a-9b0e-8d9f2a1b3c4d.jpg",
            ),
            (
                "vigia/snaps",
                "cam-12",
                "vigia/snaps/lpr/cam-12/2026-12-03/0b7f3c5e-7c1e-4c3a-9b0e-8d9f2a1b3c4d.jpg",
            ),
            (
                "/p/",
                "rua-2/norte",
                "p/lpr/rua-2%2Fnorte/2026-12-03/0b7f3c5e-7c1e-4c3a-9b0e-8d9f2a1b3c4d.jpg",
            ),
        ];
        for (prefix, camera, want) in cases {
            assert_eq!(snapshot_key(prefix, camera, at, id).as_ref(), want);
        }
    }
}
