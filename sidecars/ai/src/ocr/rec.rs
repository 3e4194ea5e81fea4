//! Text recognition around PP-OCRv4's CRNN/SVTR model: the input size of a crop, the character
//! list from the model's metadata, and greedy CTC decoding of its output.

/// The recognition input's height, fixed by the model.
pub(crate) const HEIGHT: usize = 48;
/// The narrowest input (PP-OCR's `rec_image_shape` 3 x 48 x 320); narrower crops are padded.
pub(crate) const MIN_WIDTH: usize = 320;
/// The widest input: text wider than 40 heights is squeezed (plates are about 3 heights wide).
pub(crate) const MAX_WIDTH: usize = 1920;

/// (content width, padded tensor width) for a `width` x `height` crop scaled to [`HEIGHT`]:
/// the aspect is kept, the tensor is at least [`MIN_WIDTH`] wide and the rest is padding (PP-OCR's
/// `resize_norm_img`).
pub(crate) fn input_width(width: usize, height: usize) -> (usize, usize) {
    let scaled = (HEIGHT as f64 * width as f64 / height.max(1) as f64).ceil() as usize;
    let content = scaled.clamp(1, MAX_WIDTH);
    (content, content.max(MIN_WIDTH))
}

/// The model's classes from its `character` metadata (one character per line): index 0 is the
/// CTC blank, then the listed characters, then a space (PP-OCR's `use_space_char`).
pub(crate) fn charset(metadata: &str) -> Vec<String> {
    let mut chars = vec![String::new()];
    chars.extend(metadata.lines().map(str::to_owned));
    chars.push(" ".to_owned());
    chars
}

/// Greedy CTC decoding of a `steps` x `classes` probability matrix (row-major): the most likely
/// class per step, repeats collapsed, blanks (class 0) dropped. Returns the text and the mean
/// probability of the kept steps (0 for empty text). Classes past the end of `charset` are
/// dropped like blanks; a matrix of the wrong length decodes to nothing.
pub(crate) fn ctc_greedy(
    probs: &[f32],
    steps: usize,
    classes: usize,
    charset: &[String],
) -> (String, f32) {
    let mut text = String::new();
    let (mut sum, mut kept) = (0.0f32, 0usize);
    if classes == 0 || probs.len() != steps * classes {
        return (text, 0.0);
    }
    let mut previous = 0usize;
    for row in probs.chunks_exact(classes) {
        let (best, p) = row
            .iter()
            .copied()
            .enumerate()
            .fold(
                (0usize, f32::MIN),
                |acc, (i, v)| if v > acc.1 { (i, v) } else { acc },
            );
        if best != 0
            && best != previous
            && let Some(c) = charset.get(best)
        {
            text.push_str(c);
            sum += p;
            kept += 1;
        }
        previous = best;
    }
    let confidence = if kept == 0 { 0.0 } else { sum / kept as f32 };
    (text, confidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars() -> Vec<String> {
        charset("A\nB\nC")
    }

    #[test]
    fn charset_has_the_blank_first_and_the_space_last() {
        assert_eq!(chars(), vec!["", "A", "B", "C", " "]);
    }

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        // Steps: A A blank A B B space C → "AA B C"... with the blank separating the two As.
        #[rustfmt::skip]
        let m = [
            0.1, 0.8, 0.05, 0.05, 0.0,  // A 0.8
            0.1, 0.6, 0.1, 0.1, 0.1,    // A (repeat, collapsed)
            0.9, 0.05, 0.05, 0.0, 0.0,  // blank
            0.0, 0.7, 0.1, 0.1, 0.1,    // A again after the blank: kept, 0.7
            0.0, 0.0, 1.0, 0.0, 0.0,    // B 1.0
            0.0, 0.1, 0.5, 0.4, 0.0,    // B (repeat)
            0.0, 0.0, 0.0, 0.1, 0.9,    // space 0.9
            0.1, 0.0, 0.0, 0.6, 0.3,    // C 0.6
        ];
        let (text, conf) = ctc_greedy(&m, 8, 5, &chars());
        assert_eq!(text, "AAB C");
        assert!(
            (conf - (0.8 + 0.7 + 1.0 + 0.9 + 0.6) / 5.0).abs() < 1e-6,
            "{conf}"
        );
    }

    #[test]
    fn all_blank_or_malformed_input_decodes_to_nothing() {
        let blank = [1.0, 0.0, 0.0, 0.0, 0.0].repeat(4);
        assert_eq!(ctc_greedy(&blank, 4, 5, &chars()), (String::new(), 0.0));
        assert_eq!(ctc_greedy(&blank, 3, 5, &chars()), (String::new(), 0.0));
        assert_eq!(ctc_greedy(&[], 0, 0, &chars()), (String::new(), 0.0));
        // A class the charset does not have is dropped.
        assert_eq!(
            ctc_greedy(&[0.0, 1.0], 1, 2, &[String::new()]),
            (String::new(), 0.0)
        );
    }

    #[test]
    fn input_width_keeps_the_aspect_and_pads_to_the_minimum() {
        assert_eq!(input_width(150, 50), (144, 320));
        assert_eq!(input_width(1000, 48), (1000, 1000));
        assert_eq!(input_width(100_000, 10), (MAX_WIDTH, MAX_WIDTH));
        assert_eq!(input_width(10, 0), (480, 480));
    }
}
