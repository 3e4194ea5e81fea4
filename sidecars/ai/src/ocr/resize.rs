//! Bilinear resampling of a frame region into a normalised planar (CHW) `f32` tensor: the input
//! layout of both PP-OCR models.

use super::{BBox, Frame};

/// Per-channel normalisation `(v / 255 - mean) / std`, channels in the models' order (B, G, R:
/// PP-OCR was trained on OpenCV's BGR images).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Normalise {
    pub(crate) mean: [f32; 3],
    pub(crate) std: [f32; 3],
}

/// Detection: ImageNet mean and deviation (PP-OCR's `NormalizeImage`), in BGR order.
pub(crate) const DET_NORMALISE: Normalise = Normalise {
    mean: [0.406, 0.456, 0.485],
    std: [0.225, 0.224, 0.229],
};

/// Recognition: `(v / 255 - 0.5) / 0.5`, values in -1..1.
pub(crate) const REC_NORMALISE: Normalise = Normalise {
    mean: [0.5; 3],
    std: [0.5; 3],
};

/// Writes `region` of `frame` resized to `out_w` x `out_h` into `dst`, a CHW tensor of
/// 3 x `out_h` x `dst_w` (`dst_w` ≥ `out_w`; columns past `out_w` are left as they are: the
/// recognition input's padding). Pixel centres are aligned as OpenCV's `INTER_LINEAR` does.
pub(crate) fn resize_into(
    frame: &Frame<'_>,
    region: BBox,
    out_w: usize,
    out_h: usize,
    norm: Normalise,
    dst: &mut [f32],
    dst_w: usize,
) {
    let plane = out_h * dst_w;
    if out_w == 0 || out_h == 0 || dst.len() < 3 * plane || dst_w < out_w {
        return;
    }
    let sx = region.width() as f32 / out_w as f32;
    let sy = region.height() as f32 / out_h as f32;
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * norm.std[c]));
    let offset: [f32; 3] = std::array::from_fn(|c| norm.mean[c] / norm.std[c]);
    let columns: Vec<(usize, usize, f32)> = (0..out_w)
        .map(|x| {
            let fx = region.x0 as f32 + ((x as f32 + 0.5) * sx - 0.5).max(0.0);
            taps(fx, frame.width)
        })
        .collect();
    for y in 0..out_h {
        let fy = region.y0 as f32 + ((y as f32 + 0.5) * sy - 0.5).max(0.0);
        let (y0, y1, wy) = taps(fy, frame.height);
        for (x, &(x0, x1, wx)) in columns.iter().enumerate() {
            let p00 = frame.bgr(x0, y0);
            let p01 = frame.bgr(x1, y0);
            let p10 = frame.bgr(x0, y1);
            let p11 = frame.bgr(x1, y1);
            for c in 0..3 {
                let top = p00[c] as f32 * (1.0 - wx) + p01[c] as f32 * wx;
                let bottom = p10[c] as f32 * (1.0 - wx) + p11[c] as f32 * wx;
                let v = top * (1.0 - wy) + bottom * wy;
                dst[c * plane + y * dst_w + x] = v * scale[c] - offset[c];
            }
        }
    }
}

/// The two source indices around coordinate `f` (≥ 0, clamped to `0..len`) and the weight of
/// the second.
fn taps(f: f32, len: usize) -> (usize, usize, f32) {
    let last = len.saturating_sub(1);
    // Truncation is the floor of a coordinate that is never negative (and no libm call).
    let i = (f as usize).min(last);
    (i, (i + 1).min(last), (f - i as f32).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::PixelFormat;

    #[test]
    fn a_uniform_frame_gives_a_uniform_normalised_tensor() {
        let data = vec![255u8; 8 * 4];
        let frame = Frame::new(8, 4, PixelFormat::Gray, &data).expect("frame");
        let mut dst = vec![9.0f32; 3 * 2 * 5];
        resize_into(&frame, frame.full(), 4, 2, REC_NORMALISE, &mut dst, 5);
        for c in 0..3 {
            for y in 0..2 {
                for x in 0..4 {
                    assert!((dst[c * 10 + y * 5 + x] - 1.0).abs() < 1e-6);
                }
                assert_eq!(dst[c * 10 + y * 5 + 4], 9.0, "padding column untouched");
            }
        }
    }

    #[test]
    fn channels_come_out_in_bgr_order() {
        let data = [10u8, 20, 30]; // one RGB pixel
        let frame = Frame::new(1, 1, PixelFormat::Rgb, &data).expect("frame");
        let norm = Normalise {
            mean: [0.0; 3],
            std: [1.0 / 255.0; 3],
        };
        let mut dst = vec![0.0f32; 3];
        resize_into(&frame, frame.full(), 1, 1, norm, &mut dst, 1);
        assert_eq!(dst, vec![30.0, 20.0, 10.0]);
    }
}
