//! Which keyframes of a camera are worth reading: at most a few per second, and none of a scene
//! that has not changed.
//!
//! The stream reader asks [`KeyframeSampler::due`] before decoding a keyframe (decoding is the
//! first cost, so a keyframe that comes too soon after the last decoded one is not decoded at
//! all), then gives the decoded picture's [`Thumbnail`] to [`KeyframeSampler::offer`], which
//! says whether to run plate detection on it:
//!
//! - **rate**: keyframes are decoded at most [`SamplerConfig::max_per_second`] times a second
//!   (default 2), by frame time, with [`RATE_TOLERANCE`]: a keyframe up to 10 % early counts as
//!   on time, so a camera with a keyframe every 480 ms (GOP 12 at 25 fps), or every 500 ms dated
//!   by arrival with jitter, has each one decoded, not every other one at random;
//! - **static scene**: a picture whose thumbnail differs from the last *processed* one by less
//!   than [`SamplerConfig::static_threshold`] is skipped: nothing moved, so no new plate. The
//!   difference is that of the [`CHANGED_CELLS`]-th most changed of the 32×18 cells (luma
//!   averages, 0–255; default threshold 6): a car is small in a street camera's picture, and
//!   the *mean* over all 576 cells of one crossing at night, or far away, stayed under any
//!   threshold that noise passes (the accuracy test missed 24 of 60 passes that way). Cell
//!   averages wash out sensor noise (a night picture's noise of σ 9 per pixel becomes about 0.2
//!   per cell at 720p) while a car changes the cells it covers by tens;
//! - **refresh**: a static scene is still processed once every [`SamplerConfig::refresh`]
//!   (default 10 s), so a slow change that never crosses the threshold in one step (dusk, a car
//!   creeping in) is not missed for long;
//! - **where**: a picture processed because it changed is read only where it changed
//!   ([`Decision::Process`] carries the [`CellRect`] of the cells that moved by the threshold,
//!   grown by one cell each side): plate detection costs in proportion to the pixels it
//!   looks at, and a car covers a fraction of a street camera's picture. The first picture,
//!   a refresh, and a change over more than [`WHOLE_PICTURE_SHARE`] of the picture are read
//!   whole.
//!
//! Sans-IO: times are frame times; pictures come in as luma planes.

use chrono::{DateTime, TimeDelta, Utc};

/// The fraction of the minimum gap between decoded keyframes by which one may come early.
pub const RATE_TOLERANCE: f64 = 0.1;

/// How many cells must change for a picture to differ: [`Thumbnail::difference`] is the
/// difference of the 4th most changed cell, so one flickering cell (a blinking light, a
/// compression artefact) does not make a scene move, and a car (several cells) does.
pub const CHANGED_CELLS: usize = 4;

/// A changed region covering more than this share of the cells is read as the whole picture.
pub const WHOLE_PICTURE_SHARE: f64 = 0.6;

/// Thumbnail width in cells.
pub const THUMB_W: usize = 32;
/// Thumbnail height in cells.
pub const THUMB_H: usize = 18;
/// Cells in a thumbnail.
const CELLS: usize = THUMB_W * THUMB_H;

/// The sampling rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerConfig {
    /// Keyframes decoded per second at most (default 2).
    pub max_per_second: f64,
    /// Cell difference ([`Thumbnail::difference`]) below which a scene is static (default 6).
    pub static_threshold: f64,
    /// A static scene is processed again after this long (default 10 s).
    pub refresh: TimeDelta,
}

impl Default for SamplerConfig {
    fn default() -> SamplerConfig {
        SamplerConfig {
            max_per_second: 2.0,
            static_threshold: 6.0,
            refresh: TimeDelta::seconds(10),
        }
    }
}

/// What to do with a decoded keyframe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Run plate detection on it: on the cells given, or on the whole picture (None).
    Process(Option<CellRect>),
    /// Skip it: the scene has not changed (the difference is given).
    Static(f64),
}

/// A rectangle of thumbnail cells: columns `x0..x1`, rows `y0..y1` (ends exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellRect {
    /// Left column.
    pub x0: usize,
    /// Top row.
    pub y0: usize,
    /// One past the right column.
    pub x1: usize,
    /// One past the bottom row.
    pub y1: usize,
}

impl CellRect {
    /// The rectangle in the pixels of a `width`×`height` picture, as `(x0, y0, x1, y1)` with
    /// exclusive ends (the cells' pixel bounds, as [`Thumbnail::from_luma`] cuts them).
    pub fn pixels(&self, width: usize, height: usize) -> (usize, usize, usize, usize) {
        (
            self.x0 * width / THUMB_W,
            self.y0 * height / THUMB_H,
            self.x1 * width / THUMB_W,
            self.y1 * height / THUMB_H,
        )
    }

    /// How many cells it covers.
    fn cells(&self) -> usize {
        (self.x1 - self.x0) * (self.y1 - self.y0)
    }
}

/// A picture reduced to 32×18 cell averages of its luma.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail([u8; THUMB_W * THUMB_H]);

/// Why a luma plane cannot be thumbnailed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("luma plane {width}x{height} (stride {stride}, {len} bytes): {reason}")]
pub struct PlaneError {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Bytes per row.
    pub stride: usize,
    /// Bytes given.
    pub len: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl Thumbnail {
    /// The thumbnail of a luma (Y) plane of `width`×`height` pixels, rows `stride` bytes apart
    /// (as a decoder gives it). The picture must be at least 32×18.
    pub fn from_luma(
        width: usize,
        height: usize,
        stride: usize,
        data: &[u8],
    ) -> Result<Thumbnail, PlaneError> {
        let err = |reason| PlaneError {
            width,
            height,
            stride,
            len: data.len(),
            reason,
        };
        if width < THUMB_W || height < THUMB_H {
            return Err(err("smaller than the 32x18 thumbnail"));
        }
        if stride < width {
            return Err(err("stride shorter than a row"));
        }
        if data.len() < stride * (height - 1) + width {
            return Err(err("fewer bytes than the rows need"));
        }
        let mut cells = [0u8; THUMB_W * THUMB_H];
        for (i, cell) in cells.iter_mut().enumerate() {
            let (cx, cy) = (i % THUMB_W, i / THUMB_W);
            let (x0, x1) = (cx * width / THUMB_W, (cx + 1) * width / THUMB_W);
            let (y0, y1) = (cy * height / THUMB_H, (cy + 1) * height / THUMB_H);
            let sum: u64 = (y0..y1)
                .flat_map(|y| &data[y * stride + x0..y * stride + x1])
                .map(|&v| u64::from(v))
                .sum();
            let n = ((x1 - x0) * (y1 - y0)) as u64;
            *cell = (sum / n.max(1)) as u8;
        }
        Ok(Thumbnail(cells))
    }

    /// The absolute difference of the [`CHANGED_CELLS`]-th most changed cell, 0–255.
    pub fn difference(&self, other: &Thumbnail) -> f64 {
        let mut diffs = [0u8; THUMB_W * THUMB_H];
        for ((d, a), b) in diffs.iter_mut().zip(&self.0).zip(&other.0) {
            *d = a.abs_diff(*b);
        }
        let (_, kth, _) = diffs.select_nth_unstable_by(CHANGED_CELLS - 1, |a, b| b.cmp(a));
        f64::from(*kth)
    }

    /// The cells that differ from `other` by at least `threshold`, as their bounding rectangle
    /// grown by one cell on each side (clamped to the thumbnail); None when no cell does.
    pub fn changed_cells(&self, other: &Thumbnail, threshold: f64) -> Option<CellRect> {
        let mut rect: Option<CellRect> = None;
        for (i, (a, b)) in self.0.iter().zip(&other.0).enumerate() {
            if f64::from(a.abs_diff(*b)) < threshold {
                continue;
            }
            let (x, y) = (i % THUMB_W, i / THUMB_W);
            let r = rect.get_or_insert(CellRect {
                x0: x,
                y0: y,
                x1: x + 1,
                y1: y + 1,
            });
            r.x0 = r.x0.min(x);
            r.y0 = r.y0.min(y);
            r.x1 = r.x1.max(x + 1);
            r.y1 = r.y1.max(y + 1);
        }
        rect.map(|r| CellRect {
            x0: r.x0.saturating_sub(1),
            y0: r.y0.saturating_sub(1),
            x1: (r.x1 + 1).min(THUMB_W),
            y1: (r.y1 + 1).min(THUMB_H),
        })
    }
}

/// Counters of a sampler, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SamplerStats {
    /// Keyframes not decoded because they came too soon.
    pub too_soon: u64,
    /// Decoded keyframes skipped as static.
    pub static_skipped: u64,
    /// Keyframes processed.
    pub processed: u64,
}

/// One camera's keyframe sampling; see the module doc.
#[derive(Debug, Clone)]
pub struct KeyframeSampler {
    config: SamplerConfig,
    last_decoded: Option<DateTime<Utc>>,
    last_processed: Option<(DateTime<Utc>, Thumbnail)>,
    stats: SamplerStats,
}

impl KeyframeSampler {
    /// A sampler that has seen nothing yet.
    pub fn new(config: SamplerConfig) -> KeyframeSampler {
        KeyframeSampler {
            config,
            last_decoded: None,
            last_processed: None,
            stats: SamplerStats::default(),
        }
    }

    /// Whether a keyframe at `at` should be decoded (counts it when not).
    pub fn due(&mut self, at: DateTime<Utc>) -> bool {
        let gap_ms = (1000.0 * (1.0 - RATE_TOLERANCE)
            / self.config.max_per_second.max(f64::MIN_POSITIVE)) as i64;
        let due = self
            .last_decoded
            .is_none_or(|last| at - last >= TimeDelta::milliseconds(gap_ms));
        if !due {
            self.stats.too_soon += 1;
        }
        due
    }

    /// Takes the thumbnail of the keyframe decoded at `at` and decides.
    pub fn offer(&mut self, at: DateTime<Utc>, thumb: Thumbnail) -> Decision {
        self.last_decoded = Some(at);
        let mut region = None;
        if let Some((when, last)) = &self.last_processed {
            let threshold = self.config.static_threshold;
            let diff = thumb.difference(last);
            if diff >= threshold {
                region = thumb
                    .changed_cells(last, threshold)
                    .filter(|r| (r.cells() as f64) <= WHOLE_PICTURE_SHARE * CELLS as f64);
            } else if at - *when < self.config.refresh {
                self.stats.static_skipped += 1;
                return Decision::Static(diff);
            }
        }
        self.last_processed = Some((at, thumb));
        self.stats.processed += 1;
        Decision::Process(region)
    }

    /// The counters so far.
    pub fn stats(&self) -> SamplerStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_790_000_000_000 + ms).unwrap()
    }

    /// A 1280x720 plane (stride 1280 + 32) of grey `level`, with a `box_level` box at `box_x`.
    fn plane(level: u8, box_x: Option<usize>) -> Vec<u8> {
        let stride = 1312;
        let mut p = vec![level; stride * 720];
        if let Some(x0) = box_x {
            for y in 400..650 {
                p[y * stride + x0..y * stride + x0 + 400].fill(230);
            }
        }
        p
    }

    fn thumb(p: &[u8]) -> Thumbnail {
        Thumbnail::from_luma(1280, 720, 1312, p).unwrap()
    }

    #[test]
    fn thumbnails_average_cells() {
        let th = thumb(&plane(100, None));
        assert!(th.0.iter().all(|&v| v == 100));
        // A 400x250 box of +130 covers whole 40x40 cells: they change by 130.
        let moved = thumb(&plane(100, Some(200)));
        assert_eq!(th.difference(&moved), 130.0);
        assert_eq!(th.difference(&th), 0.0);
        // A car far away: a 120x60 box, about 4 cells' worth of the 576, changes them by tens
        // (its mean over the picture would be 0.5, under any noise threshold).
        let mut far = plane(100, None);
        for y in 300..360 {
            far[y * 1312 + 600..y * 1312 + 720].fill(160);
        }
        assert!(th.difference(&thumb(&far)) >= 20.0);
        // One cell changed alone (a blinking light) is not a change.
        let mut blink = plane(100, None);
        for y in 0..40 {
            blink[y * 1312..y * 1312 + 40].fill(255);
        }
        assert_eq!(th.difference(&thumb(&blink)), 0.0);
    }

    #[test]
    fn bad_planes_are_refused() {
        let cases = [
            (16, 720, 16, 16 * 720, "smaller than the 32x18 thumbnail"),
            (1280, 720, 1000, 1000 * 720, "stride shorter than a row"),
            (
                1280,
                720,
                1280,
                1280 * 719,
                "fewer bytes than the rows need",
            ),
        ];
        for (w, h, stride, len, reason) in cases {
            let err = Thumbnail::from_luma(w, h, stride, &vec![0; len]).unwrap_err();
            assert_eq!(err.reason, reason);
        }
        // The last row needs only its width, not a whole stride.
        assert!(Thumbnail::from_luma(1280, 720, 1312, &vec![0; 1312 * 719 + 1280]).is_ok());
    }

    #[test]
    fn at_most_two_keyframes_a_second() {
        let mut s = KeyframeSampler::new(SamplerConfig::default());
        let mut decoded = Vec::new();
        // A keyframe every 200 ms (GOP 5 at 25 fps) for 2 s.
        for k in 0..10 {
            if s.due(t(k * 200)) {
                s.offer(t(k * 200), thumb(&plane(100, Some(k as usize * 80))));
                decoded.push(k * 200);
            }
        }
        assert_eq!(decoded, vec![0, 600, 1200, 1800]);
        assert_eq!(s.stats().too_soon, 6);
    }

    #[test]
    fn keyframes_a_little_early_are_on_time() {
        let mut s = KeyframeSampler::new(SamplerConfig::default());
        // A keyframe every 480 ms, dated by arrival with ±10 ms of jitter: each one is decoded.
        let times = [0, 490, 960, 1450, 1920];
        for (k, &ms) in times.iter().enumerate() {
            assert!(s.due(t(ms)), "keyframe {k} at {ms} ms");
            s.offer(t(ms), thumb(&plane(100, Some(k * 80))));
        }
        // 440 ms after the last one is more than 10 % early.
        assert!(!s.due(t(1920 + 440)));
    }

    #[test]
    fn static_scenes_are_skipped_until_something_moves_or_refresh() {
        let mut s = KeyframeSampler::new(SamplerConfig::default());
        let empty = plane(100, None);
        // Sensor noise: a few levels up and down on every pixel, different each time.
        let noisy = |seed: u8| -> Vec<u8> {
            empty
                .iter()
                .enumerate()
                .map(|(i, &v)| v.wrapping_add(((i as u8).wrapping_mul(seed) % 9).wrapping_sub(4)))
                .collect()
        };
        assert_eq!(s.offer(t(0), thumb(&empty)), Decision::Process(None));
        assert!(matches!(s.offer(t(1000), thumb(&noisy(7))), Decision::Static(d) if d < 6.0));
        assert!(matches!(
            s.offer(t(2000), thumb(&noisy(13))),
            Decision::Static(_)
        ));
        // A car comes in: read where it is (its 400x250 box at (0, 400) covers cells 0..10 x
        // 10..17; one more each side, clamped).
        let car = CellRect {
            x0: 0,
            y0: 9,
            x1: 11,
            y1: 18,
        };
        assert_eq!(
            s.offer(t(3000), thumb(&plane(100, Some(0)))),
            Decision::Process(Some(car))
        );
        assert_eq!(car.pixels(1280, 720), (0, 360, 440, 720));
        assert!(matches!(
            s.offer(t(4000), thumb(&plane(100, Some(0)))),
            Decision::Static(_)
        ));
        // Static, but 10 s after the last processed picture: processed again.
        assert!(matches!(
            s.offer(t(12_999), thumb(&plane(100, Some(0)))),
            Decision::Static(_)
        ));
        assert_eq!(
            s.offer(t(13_000), thumb(&plane(100, Some(0)))),
            Decision::Process(None)
        );
        let st = s.stats();
        assert_eq!((st.processed, st.static_skipped), (3, 4));
    }

    #[test]
    fn a_change_over_most_of_the_picture_is_read_whole() {
        let mut s = KeyframeSampler::new(SamplerConfig::default());
        s.offer(t(0), thumb(&plane(100, None)));
        // The lights come on: every cell changes.
        assert_eq!(
            s.offer(t(1000), thumb(&plane(160, None))),
            Decision::Process(None)
        );
        // Two cars at opposite corners: their one bounding rectangle is the picture.
        let mut two = plane(160, Some(0));
        for y in 0..120 {
            two[y * 1312 + 1200..y * 1312 + 1280].fill(20);
        }
        assert_eq!(s.offer(t(2000), thumb(&two)), Decision::Process(None));
        // The first car leaves, the other stays: where the first was is read.
        let mut one = plane(160, None);
        for y in 0..120 {
            one[y * 1312 + 1200..y * 1312 + 1280].fill(20);
        }
        let Decision::Process(Some(r)) = s.offer(t(3000), thumb(&one)) else {
            panic!("one car leaving is a region")
        };
        assert_eq!((r.x0, r.y0, r.x1, r.y1), (0, 9, 11, 18));
    }
}
