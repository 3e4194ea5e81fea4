//! Text detection around PP-OCRv4's DB model: the input size, and the post-processing of its
//! probability map into boxes (PP-OCR's `DBPostProcess`, with axis-aligned boxes instead of
//! rotated rectangles: plates in city cameras lean a few degrees at most).

use super::BBox;

/// The detection input's size for a `width` x `height` frame: scaled down (never up) so the
/// long side is at most `limit`, then by `scale` (x, y; each 0.05–1), each side rounded to a multiple of 32
/// (the network's stride), at least 32 (PP-OCR's `DetResizeForTest`, `limit_type: max`, with
/// the extra scale).
pub(crate) fn input_size(
    width: usize,
    height: usize,
    limit: usize,
    (scale_x, scale_y): (f64, f64),
) -> (usize, usize) {
    let long = width.max(height).max(1);
    let ratio = if long > limit {
        limit as f64 / long as f64
    } else {
        1.0
    };
    let side = |v: usize, scale: f64| {
        (((v as f64 * ratio * scale.clamp(0.05, 1.0) / 32.0).round() as usize) * 32).max(32)
    };
    (side(width, scale_x), side(height, scale_y))
}

/// The post-processing's settings; the defaults are PP-OCR's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DbParams {
    /// A map pixel is text when its probability exceeds this.
    pub(crate) thresh: f32,
    /// A component is kept when its mean probability reaches this.
    pub(crate) box_thresh: f32,
    /// Boxes grow by `area * unclip_ratio / perimeter` on each side: the model predicts shrunk
    /// text kernels.
    pub(crate) unclip_ratio: f32,
    /// Components whose shorter side is below this many map pixels are dropped.
    pub(crate) min_size: usize,
}

impl Default for DbParams {
    fn default() -> DbParams {
        DbParams {
            thresh: 0.3,
            box_thresh: 0.5,
            unclip_ratio: 1.6,
            min_size: 3,
        }
    }
}

/// A detected text box in probability-map pixels, with the component's mean probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MapBox {
    /// The unclipped box, clamped to the map.
    pub(crate) bbox: BBox,
    /// Mean probability over the component's pixels.
    pub(crate) score: f32,
}

/// Boxes from a `width` x `height` probability map (row-major): threshold, 8-connected
/// components, each component's bounding box if large and confident enough, unclipped and
/// clamped to the map. Ordered top to bottom, then left to right. A `prob` of the wrong length
/// gives no boxes.
pub(crate) fn find_boxes(prob: &[f32], width: usize, height: usize, p: &DbParams) -> Vec<MapBox> {
    if prob.len() != width * height {
        return Vec::new();
    }
    let mut seen = vec![false; prob.len()];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    for start in 0..prob.len() {
        if seen[start] || prob[start] <= p.thresh {
            continue;
        }
        let c = component(prob, width, height, p.thresh, start, &mut seen, &mut stack);
        if let Some(b) = keep(&c, width, height, p) {
            out.push(b);
        }
    }
    out.sort_by_key(|b| (b.bbox.y0, b.bbox.x0));
    out
}

/// A connected component: its bounding box (inclusive) and probability sum and count.
struct Component {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    sum: f32,
    count: usize,
}

/// Flood-fills the 8-connected component of above-threshold pixels containing `start`.
fn component(
    prob: &[f32],
    width: usize,
    height: usize,
    thresh: f32,
    start: usize,
    seen: &mut [bool],
    stack: &mut Vec<usize>,
) -> Component {
    let (sx, sy) = (start % width, start / width);
    let mut c = Component {
        x0: sx,
        y0: sy,
        x1: sx,
        y1: sy,
        sum: 0.0,
        count: 0,
    };
    seen[start] = true;
    stack.push(start);
    while let Some(i) = stack.pop() {
        let (x, y) = (i % width, i / width);
        c.x0 = c.x0.min(x);
        c.x1 = c.x1.max(x);
        c.y0 = c.y0.min(y);
        c.y1 = c.y1.max(y);
        c.sum += prob[i];
        c.count += 1;
        for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
            for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                let j = ny * width + nx;
                if !seen[j] && prob[j] > thresh {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    c
}

/// The component's unclipped box, or None when it is too small or not confident enough.
fn keep(c: &Component, width: usize, height: usize, p: &DbParams) -> Option<MapBox> {
    let (w, h) = (c.x1 - c.x0 + 1, c.y1 - c.y0 + 1);
    let score = c.sum / c.count as f32;
    if w.min(h) < p.min_size || score < p.box_thresh {
        return None;
    }
    let (wf, hf) = (w as f32, h as f32);
    let d = wf * hf * p.unclip_ratio / (2.0 * (wf + hf));
    if (wf + 2.0 * d).min(hf + 2.0 * d) < (p.min_size + 2) as f32 {
        return None;
    }
    let grow = d.round() as usize;
    let bbox = BBox {
        x0: c.x0.saturating_sub(grow) as u32,
        y0: c.y0.saturating_sub(grow) as u32,
        x1: (c.x1 + 1 + grow).min(width) as u32,
        y1: (c.y1 + 1 + grow).min(height) as u32,
    };
    Some(MapBox { bbox, score })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w` x `h` map at 0.05 with rectangles (x0, y0, x1, y1 exclusive) set to `v`.
    fn map(w: usize, h: usize, rects: &[(usize, usize, usize, usize, f32)]) -> Vec<f32> {
        let mut m = vec![0.05; w * h];
        for &(x0, y0, x1, y1, v) in rects {
            for y in y0..y1 {
                for x in x0..x1 {
                    m[y * w + x] = v;
                }
            }
        }
        m
    }

    #[test]
    fn input_size_scales_the_long_side_down_to_the_limit_in_multiples_of_32() {
        assert_eq!(input_size(1280, 720, 960, (1.0, 1.0)), (960, 544)); // 720 * 0.75 = 540 → 544
        assert_eq!(input_size(1920, 1080, 960, (1.0, 1.0)), (960, 544));
        assert_eq!(input_size(640, 360, 960, (1.0, 1.0)), (640, 352)); // never scaled up
        assert_eq!(input_size(10, 5, 960, (1.0, 1.0)), (32, 32));
        assert_eq!(input_size(720, 1280, 960, (1.0, 1.0)), (544, 960));
        // Half: 1280 x 720 → 960 x 540 → 480 x 270 → 480 x 256; a 600 x 400 region → 288 x 192.
        assert_eq!(input_size(1280, 720, 960, (0.5, 0.5)), (480, 256));
        assert_eq!(input_size(600, 400, 960, (0.5, 0.5)), (288, 192));
        // Squeezed sideways: 600 x 0.35 = 210 → 224.
        assert_eq!(input_size(600, 400, 960, (0.35, 0.5)), (224, 192));
    }

    #[test]
    fn two_text_regions_become_two_unclipped_boxes_in_reading_order() {
        let (w, h) = (100, 60);
        let m = map(w, h, &[(60, 10, 90, 20, 0.9), (10, 40, 50, 48, 0.8)]);
        let boxes = find_boxes(&m, w, h, &DbParams::default());
        assert_eq!(boxes.len(), 2);
        // 30 x 10: d = 300 * 1.6 / 80 = 6.
        assert_eq!(
            boxes[0].bbox,
            BBox {
                x0: 54,
                y0: 4,
                x1: 96,
                y1: 26
            }
        );
        assert!((boxes[0].score - 0.9).abs() < 1e-4);
        // 40 x 8: d = 320 * 1.6 / 96 = 5.33 → 5.
        assert_eq!(
            boxes[1].bbox,
            BBox {
                x0: 5,
                y0: 35,
                x1: 55,
                y1: 53
            }
        );
    }

    #[test]
    fn diagonal_neighbours_join_one_component() {
        let (w, h) = (20, 20);
        let m = map(w, h, &[(2, 2, 6, 6, 0.9), (6, 6, 10, 10, 0.9)]);
        let boxes = find_boxes(&m, w, h, &DbParams::default());
        assert_eq!(boxes.len(), 1);
        // 8 x 8 from (2, 2): d = 64 * 1.6 / 32 = 3.2 → 3, clamped at the map's top left.
        assert_eq!(
            boxes[0].bbox,
            BBox {
                x0: 0,
                y0: 0,
                x1: 13,
                y1: 13
            }
        );
    }

    #[test]
    fn thin_faint_and_empty_regions_give_no_box() {
        let (w, h) = (50, 50);
        let p = DbParams::default();
        // 2 pixels tall: below min_size.
        assert!(find_boxes(&map(w, h, &[(5, 5, 40, 7, 0.9)]), w, h, &p).is_empty());
        // Above the pixel threshold but below the box threshold.
        assert!(find_boxes(&map(w, h, &[(5, 5, 40, 20, 0.4)]), w, h, &p).is_empty());
        assert!(find_boxes(&map(w, h, &[]), w, h, &p).is_empty());
        // A map of the wrong size.
        assert!(find_boxes(&[0.9; 10], w, h, &p).is_empty());
    }
}
