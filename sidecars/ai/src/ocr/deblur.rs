//! Horizontal motion deblurring: a car crossing the picture smears its plate along the road by
//! a box of `length` pixels (the distance it moves while the shutter is open). Each row's luma
//! is restored by Wiener deconvolution with that box, `X = Y·conj(H) / (|H|² + K)`, in the
//! frequency domain (`rustfft`, two real rows packed in one complex transform),
//! and the change in luma is added to R, G and B alike (the detector and recogniser read shapes,
//! not colours). The length is the caller's guess: estimating it from the picture (the cepstrum
//! of the rows' mean log spectrum, or the spacing of the box's spectral zeros) found the right
//! length for 3 and 8 of 99 blurred plates of the tuning clips (H.264 removes the high
//! frequencies where the zeros show, and the street around the car is sharp), so `Ocr` tries a
//! few lengths instead.

use std::cell::RefCell;
use std::sync::Arc;

use rustfft::num_complex::Complex32 as C;
use rustfft::{Fft, FftDirection, FftPlanner};

use super::{BBox, Frame};

/// The longest blur undone, in pixels (longer lengths are cut to it).
pub(crate) const MAX_LENGTH: usize = 20;
/// Wiener's noise-to-signal ratio `K`: H.264's quantisation and a night scene's noise would
/// otherwise be amplified without bound near the box's zeros.
pub(crate) const NOISE_TO_SIGNAL: f32 = 0.02;

/// A region deblurred: packed RGB, `width` x `height`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Deblurred {
    pub(crate) rgb: Vec<u8>,
    pub(crate) width: usize,
    pub(crate) height: usize,
}

/// A region of a frame to be deblurred with several lengths: its pixels, luma and rows'
/// spectra are computed once, and each length costs one inverse transform per row pair.
pub(crate) struct Blurred {
    /// The region's pixels as R, G, B, row-major.
    rgb: Vec<[u8; 3]>,
    luma: Vec<f32>,
    spectra: RowSpectra,
}

impl Blurred {
    /// `region` of `frame` (callers keep it inside the frame); None when the region is empty.
    pub(crate) fn of(frame: &Frame<'_>, region: BBox) -> Option<Blurred> {
        let (w, h) = (region.width() as usize, region.height() as usize);
        if w == 0 || h == 0 {
            return None;
        }
        let rgb: Vec<[u8; 3]> = (region.y0..region.y1)
            .flat_map(|y| (region.x0..region.x1).map(move |x| (x as usize, y as usize)))
            .map(|(x, y)| {
                let [b, g, r] = frame.bgr(x, y);
                [r, g, b]
            })
            .collect();
        let luma: Vec<f32> = rgb
            .iter()
            .map(|&[r, g, b]| 0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b))
            .collect();
        let spectra = RowSpectra::new(&luma, w, h);
        Some(Blurred { rgb, luma, spectra })
    }

    /// The region with a horizontal box blur of `length` pixels (1..=[`MAX_LENGTH`]; longer
    /// is cut to it) undone.
    pub(crate) fn undo(&self, length: usize) -> Deblurred {
        let restored = self
            .spectra
            .wiener(length.clamp(1, MAX_LENGTH), NOISE_TO_SIGNAL);
        let mut rgb = Vec::with_capacity(3 * self.rgb.len());
        for ((pixel, before), after) in self.rgb.iter().zip(&self.luma).zip(&restored) {
            let delta = after - before;
            // Clamped, then rounded by truncating v + 0.5: round() is a libm call per byte.
            rgb.extend(pixel.map(|v| ((f32::from(v) + delta).clamp(0.0, 255.0) + 0.5) as u8));
        }
        Deblurred {
            rgb,
            width: self.spectra.width,
            height: self.spectra.height,
        }
    }
}

/// The rows' spectra: rows `2i` and `2i + 1` packed as the real and imaginary parts of one
/// transform of `n` points (the row, then a linear blend back to its first value, so the
/// periodic extension has no step).
struct RowSpectra {
    n: usize,
    width: usize,
    height: usize,
    spectra: Vec<Vec<C>>,
}

impl RowSpectra {
    fn new(luma: &[f32], width: usize, height: usize) -> RowSpectra {
        let n = (width + 2 * MAX_LENGTH).next_power_of_two();
        let forward = plan(n, FftDirection::Forward);
        let mut scratch = vec![C::default(); forward.get_inplace_scratch_len()];
        let row = |y: usize| luma.get(y * width..(y + 1) * width);
        let spectra = (0..height.div_ceil(2))
            .map(|i| {
                let a = row(2 * i).unwrap_or(&[]);
                let b = row(2 * i + 1).unwrap_or(&[]);
                let mut z: Vec<C> = padded(a, n)
                    .zip(padded(b, n))
                    .map(|(re, im)| C { re, im })
                    .collect();
                forward.process_with_scratch(&mut z, &mut scratch);
                z
            })
            .collect();
        RowSpectra {
            n,
            width,
            height,
            spectra,
        }
    }

    /// Every row deconvolved by a box of `length` with Wiener's `k`, row-major.
    fn wiener(&self, length: usize, k: f32) -> Vec<f32> {
        let n = self.n;
        // The inverse transform is unscaled: its 1/n goes into the gain.
        let gain: Vec<C> = box_response(length, n)
            .into_iter()
            .map(|h| h.conj() * (1.0 / ((h.norm_sqr() + k) * n as f32)))
            .collect();
        let inverse = plan(n, FftDirection::Inverse);
        let mut scratch = vec![C::default(); inverse.get_inplace_scratch_len()];
        let mut out = vec![0.0f32; self.width * self.height];
        let mut z = vec![C::default(); n];
        for (i, spectrum) in self.spectra.iter().enumerate() {
            for ((v, s), g) in z.iter_mut().zip(spectrum).zip(&gain) {
                *v = s * g;
            }
            inverse.process_with_scratch(&mut z, &mut scratch);
            for (part, y) in [(0, 2 * i), (1, 2 * i + 1)] {
                let Some(dst) = out.get_mut(y * self.width..(y + 1) * self.width) else {
                    continue;
                };
                for (d, v) in dst.iter_mut().zip(&z) {
                    *d = if part == 0 { v.re } else { v.im };
                }
            }
        }
        out
    }
}

thread_local! {
    /// Plans by size and direction, reused across crops (a plan's twiddles cost more than a
    /// row's transform).
    static PLANNER: RefCell<FftPlanner<f32>> = RefCell::new(FftPlanner::new());
}

/// The FFT of `n` points in `direction` (unscaled both ways).
fn plan(n: usize, direction: FftDirection) -> Arc<dyn Fft<f32>> {
    PLANNER.with_borrow_mut(|planner| planner.plan_fft(n, direction))
}

/// `row` extended to `n` points by a linear blend from its last value back to its first (an
/// empty row gives zeros).
fn padded(row: &[f32], n: usize) -> impl Iterator<Item = f32> + '_ {
    let (first, last) = (
        row.first().copied().unwrap_or(0.0),
        row.last().copied().unwrap_or(0.0),
    );
    let pad = n.saturating_sub(row.len()) + 1;
    row.iter()
        .copied()
        .chain((1..pad).map(move |i| last + (first - last) * i as f32 / pad as f32))
}

/// The `n`-point DFT of a box of `length` taps, 1/length each, centred as numpy's
/// `convolve(.., mode="same")` centres it: taps at offsets `-(length-1)/2 ..= length/2`. Each
/// bin sums its taps' phases by rotating one phase step at a time (two sines per bin, not two
/// per tap).
fn box_response(length: usize, n: usize) -> Vec<C> {
    let length = length.max(1);
    let first = -(((length - 1) / 2) as f64);
    (0..n)
        .map(|k| {
            let omega = -2.0 * std::f64::consts::PI * k as f64 / n as f64;
            let (step_im, step_re) = omega.sin_cos();
            let (mut im, mut re) = (omega * first).sin_cos();
            let (mut sum_re, mut sum_im) = (0.0f64, 0.0f64);
            for _ in 0..length {
                sum_re += re;
                sum_im += im;
                (re, im) = (re * step_re - im * step_im, re * step_im + im * step_re);
            }
            C {
                re: (sum_re / length as f64) as f32,
                im: (sum_im / length as f64) as f32,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of bars of several widths (a plate's strokes), values 40 and 220.
    fn bars(width: usize, seed: usize) -> Vec<f32> {
        (0..width)
            .map(|x| {
                let period = 7 + (x / 37 + seed) % 9;
                if (x / period).is_multiple_of(2) {
                    220.0
                } else {
                    40.0
                }
            })
            .collect()
    }

    /// `row` box-blurred over `length` as numpy's `convolve(.., mode="same")` does (zeros
    /// outside the row).
    fn blur(row: &[f32], length: usize) -> Vec<f32> {
        let first = (length - 1) / 2;
        (0..row.len())
            .map(|i| {
                (0..length)
                    .filter_map(|m| (i + first).checked_sub(m).and_then(|j| row.get(j)))
                    .sum::<f32>()
                    / length as f32
            })
            .collect()
    }

    #[test]
    fn a_one_pixel_box_without_noise_term_gives_the_rows_back() {
        // An odd number of rows: the last pair has no second row.
        let (width, height) = (37, 5);
        let rows: Vec<f32> = (0..width * height).map(|i| (i * 37 % 251) as f32).collect();
        let restored = RowSpectra::new(&rows, width, height).wiener(1, 0.0);
        for (a, b) in rows.iter().zip(&restored) {
            assert!((a - b).abs() < 1e-2, "{a} came back as {b}");
        }
    }

    #[test]
    fn rows_blurred_by_a_known_length_are_restored() {
        let (width, height) = (240, 24);
        for length in [6, 9, 12, 14] {
            let sharp: Vec<f32> = (0..height).flat_map(|y| bars(width, y)).collect();
            let blurred: Vec<f32> = sharp
                .chunks(width)
                .flat_map(|row| blur(row, length))
                .collect();
            let restored = RowSpectra::new(&blurred, width, height).wiener(length, 1e-3);
            // Away from the row's ends (numpy's zero padding is not the blend assumed here).
            let error = |a: &[f32]| {
                let (mut sum, mut count) = (0.0, 0);
                for y in 0..height {
                    for x in 2 * length..width - 2 * length {
                        sum += (a[y * width + x] - sharp[y * width + x]).abs();
                        count += 1;
                    }
                }
                sum / count as f32
            };
            let (before, after) = (error(&blurred), error(&restored));
            assert!(
                after < before / 2.0,
                "length {length}: mean error {before:.1} blurred, {after:.1} restored"
            );
        }
    }

    #[test]
    fn the_box_response_is_the_sum_of_its_taps_phases() {
        let n = 64;
        for length in 1..=MAX_LENGTH {
            let first = -(((length - 1) / 2) as i64);
            for (k, got) in box_response(length, n).into_iter().enumerate() {
                let (mut re, mut im) = (0.0f64, 0.0f64);
                for d in first..first + length as i64 {
                    let angle = -2.0 * std::f64::consts::PI * (k as f64) * (d as f64) / n as f64;
                    re += angle.cos() / length as f64;
                    im += angle.sin() / length as f64;
                }
                assert!(
                    (f64::from(got.re) - re).abs() < 1e-5 && (f64::from(got.im) - im).abs() < 1e-5,
                    "length {length}, bin {k}: {got:?} against {re} {im}"
                );
            }
        }
    }

    #[test]
    fn a_frame_region_is_restored_for_each_length_from_one_transform() {
        let (width, height, length) = (200, 12, 9);
        let rows: Vec<Vec<f32>> = (0..height).map(|y| bars(width, y)).collect();
        let blurred: Vec<u8> = rows
            .iter()
            .flat_map(|row| blur(row, length))
            .flat_map(|v| [v.round() as u8; 3])
            .collect();
        let frame = Frame::new(width, height, super::super::PixelFormat::Rgb, &blurred)
            .expect("a whole frame");
        let region = BBox {
            x0: 0,
            y0: 0,
            x1: width as u32,
            y1: height as u32,
        };
        let once = Blurred::of(&frame, region).expect("a region");
        let error = |d: &Deblurred| {
            let mut sum = 0.0;
            for (y, row) in rows.iter().enumerate() {
                let inner = (2 * length..width - 2 * length).zip(&row[2 * length..]);
                for (x, want) in inner {
                    sum += (f32::from(d.rgb[3 * (y * width + x)]) - want).abs();
                }
            }
            sum
        };
        let (none, short, right) = (once.undo(1), once.undo(3), once.undo(length));
        // Measured: 84,877 undone by 1 px (the blurred picture), 82,397 by 3, 42,673 by 9.
        assert!(error(&right) < error(&none) * 0.6 && error(&right) < error(&short));
        let fresh = Blurred::of(&frame, region).expect("a region").undo(length);
        assert_eq!(right, fresh, "each length starts from the same spectra");
        assert_eq!((right.width, right.height), (width, height));
        let empty = BBox { x1: 0, ..region };
        assert!(Blurred::of(&frame, empty).is_none());
    }
}
