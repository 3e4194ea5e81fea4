//! A plate's format told by its colours. A Mercosul plate is white with a blue band across its
//! top ("BRASIL"), directly above the characters; an old plate is grey, its top a grey strip
//! with the town's name. The recogniser cannot tell the two apart where their grammars differ:
//! the 5th character is a letter on Mercosul plates and a digit on old ones, and `O`/`0`,
//! `Q`/`0`, `D`/`0`, `I`/`1`, `B`/`8` look alike there. The band can: rows just above the line
//! of characters that are much bluer than the plate between the characters (its bright pixels)
//! mean Mercosul; rows no bluer mean old.
//!
//! Blueness is `B - (R + G) / 2`, so a night picture's blue cast (it raises the whole plate)
//! cancels in the difference. A band is looked for only within [`BAND_ABOVE`] line heights
//! above the line (and [`BAND_INSIDE`] into it): a blue car's body starts further up, above an
//! old plate's grey strip. No band is a verdict (old) only when none is within
//! [`NO_BAND_ABOVE`]: a wrong verdict would override a right read.

use vigia_events::PlateFormat;

use super::{BBox, Frame, PixelFormat};

/// How far above the line of characters (in line heights) the band is looked for. Only just
/// above: an old plate's grey strip is as little as 0.1–0.15 line heights tall, and a blue car
/// above it must not count (tuning seeds 1 and 5, 120 passes: 0.3 gave 89 right, 0.15 94, 0.1
/// 95, 0.05 93).
pub(crate) const BAND_ABOVE: f32 = 0.1;
/// How far above the line no band must be for an old plate: a band a little higher than
/// [`BAND_ABOVE`] (a box whose top is lower on the characters) must not make a Mercosul plate
/// old, so a blue car above an old plate leaves the format unsaid rather than wrong.
pub(crate) const NO_BAND_ABOVE: f32 = 0.4;
/// How far into the line the band is looked for, for a box that took the band in.
pub(crate) const BAND_INSIDE: f32 = 0.3;
/// Rows this much bluer than the plate between the characters are a Mercosul band.
pub(crate) const BAND_BLUER_BY: f32 = 40.0;
/// Rows (up to [`NO_BAND_ABOVE`]) at most this much bluer mean no band: an old plate. Between
/// the two, no verdict.
pub(crate) const NO_BAND_UNDER: f32 = 15.0;
/// How many of the bluest rows make the band's blueness (chroma is stored per two rows, and
/// one row may be noise).
const BAND_ROWS: usize = 4;

/// The format the colours around the line of characters `line` of `frame` say, or None when
/// they say neither (a grey picture, a line at the top edge, a blueness between the bounds).
pub(crate) fn format_by_colour(frame: &Frame<'_>, line: BBox) -> Option<PlateFormat> {
    let line = frame.clamp(line);
    let (w, h) = (line.width(), line.height());
    if frame.format == PixelFormat::Gray || h < 4 || w < 6 {
        return None;
    }
    let (x0, x1) = (line.x0 + w / 6, line.x1 - w / 6);
    let row = |y: u32| row_blueness(frame, y, x0, x1);
    let rows = |share: f32| (h as f32 * share).round() as u32;
    let between = background_blueness(frame, line.y0 + h / 4..line.y1 - h / 4, x0..x1)?;
    let bluest = |above: f32| {
        let top = line.y0.checked_sub(rows(above))?;
        let mut candidates: Vec<f32> = (top..line.y0 + rows(BAND_INSIDE)).map(row).collect();
        candidates.sort_by(|a, b| b.total_cmp(a));
        mean(candidates.into_iter().take(BAND_ROWS)).map(|band| band - between)
    };
    if bluest(BAND_ABOVE)? >= BAND_BLUER_BY {
        Some(PlateFormat::Mercosul)
    } else if bluest(NO_BAND_ABOVE)? <= NO_BAND_UNDER {
        Some(PlateFormat::Old)
    } else {
        None
    }
}

/// Mean blueness of the plate between the characters: of the pixels of `rows` x `columns`
/// at least as bright as their mean (the dark characters left out).
fn background_blueness(
    frame: &Frame<'_>,
    rows: std::ops::Range<u32>,
    columns: std::ops::Range<u32>,
) -> Option<f32> {
    let pixels: Vec<[f32; 3]> = rows
        .flat_map(|y| columns.clone().map(move |x| (x, y)))
        .map(|(x, y)| frame.bgr(x as usize, y as usize).map(f32::from))
        .collect();
    let brightness = |p: &[f32; 3]| p[0] + p[1] + p[2];
    let threshold = mean(pixels.iter().map(brightness))?;
    mean(
        pixels
            .iter()
            .filter(|p| brightness(p) >= threshold)
            .map(blueness),
    )
}

/// Mean blueness of row `y` from column `x0` to `x1` (exclusive).
fn row_blueness(frame: &Frame<'_>, y: u32, x0: u32, x1: u32) -> f32 {
    mean((x0..x1).map(|x| blueness(&frame.bgr(x as usize, y as usize).map(f32::from))))
        .unwrap_or(0.0)
}

/// How much bluer than grey a pixel (B, G, R) is: `B - (R + G) / 2`.
fn blueness([b, g, r]: &[f32; 3]) -> f32 {
    b - (r + g) / 2.0
}

/// The mean of `values`, None when there are none.
fn mean(values: impl Iterator<Item = f32>) -> Option<f32> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 200;
    const H: usize = 120;
    /// The line of characters in the test pictures.
    const LINE: BBox = BBox {
        x0: 40,
        y0: 60,
        x1: 160,
        y1: 100,
    };

    /// A picture: `car` everywhere, a plate of `plate` from row 44, its top 15 rows `band`
    /// (ending just above the line), and dark characters (every 10th column) on the line.
    fn picture(car: [u8; 3], plate: [u8; 3], band: [u8; 3]) -> Vec<u8> {
        picture_with_band_to(car, plate, band, 59)
    }

    /// [`picture`] with the band ending at row `band_end` (exclusive).
    fn picture_with_band_to(
        car: [u8; 3],
        plate: [u8; 3],
        band: [u8; 3],
        band_end: usize,
    ) -> Vec<u8> {
        let mut rgb = Vec::with_capacity(3 * W * H);
        for y in 0..H {
            for x in 0..W {
                let on_plate = (30..170).contains(&x) && (44..110).contains(&y);
                let px = if !on_plate {
                    car
                } else if y < band_end {
                    band
                } else if (62..98).contains(&y) && x % 10 < 3 {
                    [10, 10, 10]
                } else {
                    plate
                };
                rgb.extend(px);
            }
        }
        rgb
    }

    fn format_of(rgb: &[u8]) -> Option<PlateFormat> {
        format_by_colour(&Frame::new(W, H, PixelFormat::Rgb, rgb).unwrap(), LINE)
    }

    /// A night picture: dimmed, blue cast, the plate relit (as the clip generator does).
    fn night(rgb: &[u8]) -> Vec<u8> {
        rgb.chunks(3)
            .flat_map(|p| {
                [0.28, 0.3, 0.38]
                    .iter()
                    .zip(p)
                    .map(|(k, &v)| (f32::from(v) * k * 2.6).min(255.0) as u8)
            })
            .collect()
    }

    #[test]
    fn a_blue_band_above_the_characters_is_mercosul() {
        let mercosul = picture([200, 30, 30], [250, 250, 250], [20, 60, 160]);
        assert_eq!(format_of(&mercosul), Some(PlateFormat::Mercosul));
        assert_eq!(format_of(&night(&mercosul)), Some(PlateFormat::Mercosul));
    }

    #[test]
    fn a_grey_plate_is_old_even_on_a_blue_car() {
        let grey = [185, 185, 180];
        for car in [[200, 30, 30], [30, 40, 200]] {
            let old = picture(car, grey, grey);
            assert_eq!(format_of(&old), Some(PlateFormat::Old), "car {car:?}");
            assert_eq!(
                format_of(&night(&old)),
                Some(PlateFormat::Old),
                "car {car:?}"
            );
        }
    }

    #[test]
    fn a_band_higher_above_the_line_is_no_verdict_rather_than_old() {
        // The band ends 8 rows (0.2 line heights) above the line: too far to say Mercosul,
        // too near to say old.
        let mercosul = picture_with_band_to([200, 30, 30], [250, 250, 250], [20, 60, 160], 52);
        assert_eq!(format_of(&mercosul), None);
    }

    #[test]
    fn no_verdict_without_colour_or_room_above() {
        let mercosul = picture([200, 30, 30], [250, 250, 250], [20, 60, 160]);
        let frame = Frame::new(W, H, PixelFormat::Rgb, &mercosul).unwrap();
        let at_the_top = BBox {
            y0: 2,
            y1: 42,
            ..LINE
        };
        assert_eq!(format_by_colour(&frame, at_the_top), None);
        let luma = vec![128u8; W * H];
        let grey = Frame::new(W, H, PixelFormat::Gray, &luma).unwrap();
        assert_eq!(format_by_colour(&grey, LINE), None);
        let faint = picture([200, 30, 30], [250, 250, 250], [215, 215, 245]);
        assert_eq!(format_of(&faint), None, "a band only a little bluer");
    }
}
