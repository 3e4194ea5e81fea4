//! CTC decoding constrained to a Brazilian plate: the most probable path through the
//! recogniser's output that spells exactly seven characters, letters where a plate has letters
//! and digits where it has digits (`LLL N X NN`, the 5th a letter on Mercosul plates and a digit
//! on old ones). When the plate's colours tell its format (`ocr/colour.rs`), the 5th position
//! is held to that format's letter or digit.
//!
//! Greedy decoding takes the best class at each step and can only be checked afterwards: a
//! blurred plate whose `0` reads as `O`, whose two `A`s run together into one, or whose dash
//! comes out as a stray character gives text that is not a plate, and the pass is missed. Here
//! the plate's grammar is part of the search (a Viterbi pass over CTC's states: each of the
//! seven characters, and the blank after each), so every step is spent on the best character
//! the position allows. What the search cannot tell is whether the box held a plate at all: the
//! caller gates on [`PlatePath::min`], the least probability of the seven characters (a word
//! on a sign forced into the grammar has a digit position the model gave almost nothing).
//!
//! Separators printed on plates (`-`, `·`, `.`, space) are not characters of the plate: they
//! count as blank.

use vigia_events::PlateFormat;

/// What a plate position may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Letter,
    Digit,
    Either,
}

/// The seven positions of a Brazilian plate whose format is `format` (None: either).
fn slots(format: Option<PlateFormat>) -> [Slot; 7] {
    let fifth = match format {
        None => Slot::Either,
        Some(PlateFormat::Mercosul) => Slot::Letter,
        Some(PlateFormat::Old) => Slot::Digit,
    };
    [
        Slot::Letter,
        Slot::Letter,
        Slot::Letter,
        Slot::Digit,
        fifth,
        Slot::Digit,
        Slot::Digit,
    ]
}

/// Characters in a plate.
const PLATE_LEN: usize = 7;

/// The formats a search can be held to, in the order of [`PlateClasses::layouts`].
const FORMATS: [Option<PlateFormat>; 3] =
    [None, Some(PlateFormat::Mercosul), Some(PlateFormat::Old)];

/// Characters that separate parts of a printed plate and are read as blank.
const SEPARATORS: [&str; 4] = ["-", "·", ".", " "];

/// The classes of a recogniser's character list that the plate search uses, and the search's
/// state layout over them (made once per character list, not per box).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PlateClasses {
    /// (class index, ASCII upper-case letter).
    letters: Vec<(usize, u8)>,
    /// (class index, ASCII digit).
    digits: Vec<(usize, u8)>,
    /// Separator classes, read as blank.
    separators: Vec<usize>,
    /// The Viterbi states over these classes, per entry of [`FORMATS`].
    layouts: Vec<Layout>,
}

impl PlateClasses {
    /// The plate classes of `charset` (index 0 the blank, as [`super::rec::charset`] gives).
    pub(crate) fn new(charset: &[String]) -> PlateClasses {
        let mut classes = PlateClasses::default();
        for (i, c) in charset.iter().enumerate().skip(1) {
            match c.as_bytes() {
                [b] if b.is_ascii_uppercase() => classes.letters.push((i, *b)),
                [b] if b.is_ascii_digit() => classes.digits.push((i, *b)),
                _ if SEPARATORS.contains(&c.as_str()) => classes.separators.push(i),
                _ => {}
            }
        }
        classes.layouts = FORMATS
            .iter()
            .map(|&f| Layout::new(&classes, slots(f)))
            .collect();
        classes
    }

    /// The state layout of a search held to `format`.
    fn layout(&self, format: Option<PlateFormat>) -> Option<&Layout> {
        let i = FORMATS.iter().position(|&f| f == format)?;
        self.layouts.get(i)
    }

    /// The (class, character) pairs a slot allows.
    fn allowed(&self, slot: Slot) -> impl Iterator<Item = (usize, u8)> + '_ {
        let (letters, digits) = match slot {
            Slot::Letter => (&self.letters[..], &[][..]),
            Slot::Digit => (&[][..], &self.digits[..]),
            Slot::Either => (&self.letters[..], &self.digits[..]),
        };
        letters.iter().chain(digits).copied()
    }
}

/// The best plate-shaped path: its seven characters and their probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatePath {
    /// Seven characters, upper case, no separator.
    pub text: String,
    /// Mean of the characters' probabilities (each its best step), 0..1.
    pub mean: f32,
    /// The least of them, 0..1.
    pub min: f32,
}

/// Log of a probability, floored so that a zero does not make every path equal.
fn ln(p: f32) -> f32 {
    p.max(1e-9).ln()
}

/// One Viterbi state: its score and where it came from (for the backtrack).
#[derive(Debug, Clone, Copy)]
struct Cell {
    score: f32,
    /// Index of the previous state (in the same layout), or usize::MAX at the start.
    from: usize,
}

const START: usize = usize::MAX;

/// The state layout: blank before the first character (0), then per position k the blank after
/// it and its allowed characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Layout {
    /// Per position: (index of its first character state, (class, char) pairs).
    chars: Vec<(usize, Vec<(usize, u8)>)>,
    /// Per position: index of the blank after it.
    blanks: Vec<usize>,
    len: usize,
}

impl Layout {
    fn new(classes: &PlateClasses, slots: [Slot; PLATE_LEN]) -> Layout {
        let mut next = 1; // 0: the blank before the first character
        let mut chars = Vec::with_capacity(PLATE_LEN);
        let mut blanks = Vec::with_capacity(PLATE_LEN);
        for slot in slots {
            let allowed: Vec<(usize, u8)> = classes.allowed(slot).collect();
            chars.push((next, allowed.clone()));
            next += allowed.len();
            blanks.push(next);
            next += 1;
        }
        Layout {
            chars,
            blanks,
            len: next,
        }
    }
}

/// The most probable seven-character plate path of `format` (None: either) through a `steps` x
/// `classes` probability matrix (row-major, class 0 the blank), or None when the matrix is
/// malformed, has fewer steps than a plate needs, or `classes` lacks letters or digits.
pub(crate) fn ctc_plate(
    probs: &[f32],
    steps: usize,
    classes: usize,
    plate: &PlateClasses,
    format: Option<PlateFormat>,
) -> Option<PlatePath> {
    if classes == 0 || probs.len() != steps * classes || steps < PLATE_LEN {
        return None;
    }
    if plate.letters.is_empty() || plate.digits.is_empty() {
        return None;
    }
    let layout = plate.layout(format)?;
    let dead = Cell {
        score: f32::NEG_INFINITY,
        from: START,
    };
    // trellis[t * layout.len + s]
    let mut trellis = vec![dead; steps * layout.len];
    let row = |t: usize| &probs[t * classes..(t + 1) * classes];
    let blank_p = |r: &[f32]| r[0] + plate.separators.iter().map(|&i| r[i]).sum::<f32>();
    let first = row(0);
    trellis[0] = Cell {
        score: ln(blank_p(first)),
        from: START,
    };
    let (first_char, allowed) = &layout.chars[0];
    for (j, &(class, _)) in allowed.iter().enumerate() {
        trellis[first_char + j] = Cell {
            score: ln(first[class]),
            from: START,
        };
    }
    for t in 1..steps {
        let (prev, cur) = trellis.split_at_mut(t * layout.len);
        let prev = &prev[(t - 1) * layout.len..];
        step(
            layout,
            prev,
            &mut cur[..layout.len],
            row(t),
            blank_p(row(t)),
        );
    }
    backtrack(layout, &trellis, probs, classes, steps)
}

/// One time step: every state's best predecessor plus its emission.
fn step(layout: &Layout, prev: &[Cell], cur: &mut [Cell], probs: &[f32], blank: f32) {
    let better = |a: Cell, score: f32, from: usize| {
        if score > a.score {
            Cell { score, from }
        } else {
            a
        }
    };
    let ln_blank = ln(blank);
    // The blank before the first character: only from itself.
    cur[0] = Cell {
        score: prev[0].score + ln_blank,
        from: 0,
    };
    for (k, (first, allowed)) in layout.chars.iter().enumerate() {
        let blank_before = if k == 0 { 0 } else { layout.blanks[k - 1] };
        // The best previous character state of position k - 1 (and the second best, for
        // when the best is the same character: CTC needs a blank between repeats).
        let prev_chars = (k > 0).then(|| {
            let (pf, pa) = &layout.chars[k - 1];
            best_two(&prev[*pf..*pf + pa.len()])
        });
        for (j, &(class, c)) in allowed.iter().enumerate() {
            let s = first + j;
            let mut best = Cell {
                score: prev[s].score,
                from: s,
            };
            best = better(best, prev[blank_before].score, blank_before);
            if let Some(((b1, s1), (b2, s2))) = prev_chars {
                let (pf, pa) = &layout.chars[k - 1];
                let pick = if pa[b1].1 != c {
                    Some((b1, s1))
                } else {
                    b2.map(|b| (b, s2))
                };
                if let Some((b, score)) = pick {
                    best = better(best, score, pf + b);
                }
            }
            cur[s] = Cell {
                score: best.score + ln(probs[class]),
                from: best.from,
            };
        }
        // The blank after position k: from itself or any of k's characters.
        let b = layout.blanks[k];
        let (bi, bs) = best_two(&prev[*first..*first + allowed.len()]).0;
        let mut best = Cell {
            score: prev[b].score,
            from: b,
        };
        best = better(best, bs, first + bi);
        cur[b] = Cell {
            score: best.score + ln_blank,
            from: best.from,
        };
    }
}

/// The best and second best of `cells` by score: ((index, score), (index or None, score)).
#[allow(clippy::type_complexity)]
fn best_two(cells: &[Cell]) -> ((usize, f32), (Option<usize>, f32)) {
    let mut first = (0usize, f32::NEG_INFINITY);
    let mut second = (None, f32::NEG_INFINITY);
    for (i, c) in cells.iter().enumerate() {
        if c.score > first.1 {
            second = (Some(first.0), first.1);
            first = (i, c.score);
        } else if c.score > second.1 {
            second = (Some(i), c.score);
        }
    }
    if second.1 == f32::NEG_INFINITY {
        second.0 = None;
    }
    (first, second)
}

/// Follows the best final state back to the start: the seven characters and, for each, its
/// best step's probability.
fn backtrack(
    layout: &Layout,
    trellis: &[Cell],
    probs: &[f32],
    classes: usize,
    steps: usize,
) -> Option<PlatePath> {
    let last = (steps - 1) * layout.len;
    let (lf, la) = &layout.chars[PLATE_LEN - 1];
    let end_blank = layout.blanks[PLATE_LEN - 1];
    let mut state = (*lf..*lf + la.len())
        .chain([end_blank])
        .max_by(|&a, &b| trellis[last + a].score.total_cmp(&trellis[last + b].score))?;
    if trellis[last + state].score == f32::NEG_INFINITY {
        return None;
    }
    // (position, class, char) → best probability, filled from the end.
    let mut found: [(u8, f32); 7] = [(0, 0.0); 7];
    for t in (0..steps).rev() {
        if let Some((k, class, c)) = char_of(layout, state) {
            found[k] = (c, found[k].1.max(probs[t * classes + class]));
        }
        let from = trellis[t * layout.len + state].from;
        if from == START {
            break;
        }
        state = from;
    }
    if found.iter().any(|f| f.0 == 0) {
        return None;
    }
    let text: String = found.iter().map(|f| f.0 as char).collect();
    let sum: f32 = found.iter().map(|f| f.1).sum();
    let min = found.iter().map(|f| f.1).fold(1.0f32, f32::min);
    Some(PlatePath {
        text,
        mean: sum / 7.0,
        min,
    })
}

/// The (position, class, character) of a character state, None for a blank.
fn char_of(layout: &Layout, state: usize) -> Option<(usize, usize, u8)> {
    layout
        .chars
        .iter()
        .enumerate()
        .find_map(|(k, (first, allowed))| {
            state
                .checked_sub(*first)
                .and_then(|j| allowed.get(j))
                .map(|&(class, c)| (k, class, c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blank, A–Z, 0–9, `-`, space, and a character that is neither (`你`).
    fn charset() -> Vec<String> {
        let mut c = vec![String::new()];
        c.extend((b'A'..=b'Z').map(|b| (b as char).to_string()));
        c.extend((b'0'..=b'9').map(|b| (b as char).to_string()));
        c.extend(["-", " ", "你"].map(str::to_owned));
        c
    }

    /// A matrix with one row per step: `(class text, p)` puts `p` on that class ("" the blank),
    /// optionally a second class, and spreads the rest evenly.
    fn matrix(steps: &[&[(&str, f32)]]) -> (Vec<f32>, usize, usize) {
        let cs = charset();
        let n = cs.len();
        let mut m = Vec::with_capacity(steps.len() * n);
        for row in steps {
            let given: f32 = row.iter().map(|r| r.1).sum();
            let rest = (1.0 - given) / (n - row.len()) as f32;
            let mut r = vec![rest; n];
            for (c, p) in row.iter() {
                let i = cs.iter().position(|x| x == c).expect("class");
                r[i] = *p;
            }
            m.extend(r);
        }
        (m, steps.len(), n)
    }

    fn decode(steps: &[&[(&str, f32)]]) -> Option<PlatePath> {
        let (m, t, n) = matrix(steps);
        ctc_plate(&m, t, n, &PlateClasses::new(&charset()), None)
    }

    #[test]
    fn a_clean_plate_decodes_as_greedy_would() {
        let p = decode(&[
            &[("A", 0.9)],
            &[("", 0.9)],
            &[("B", 0.8)],
            &[("C", 0.9)],
            &[("C", 0.7)], // a repeat of C: collapsed
            &[("1", 0.9)],
            &[("D", 0.6)],
            &[("", 0.9)],
            &[("2", 0.9)],
            &[("3", 0.9)],
        ])
        .expect("a plate");
        assert_eq!(p.text, "ABC1D23");
        assert!((p.min - 0.6).abs() < 1e-6, "{p:?}");
        assert!((p.mean - (0.9 + 0.8 + 0.9 + 0.9 + 0.6 + 0.9 + 0.9) / 7.0).abs() < 1e-5);
    }

    #[test]
    fn positions_take_the_best_character_they_allow_and_the_dash_is_blank() {
        // Greedy reads "ABC-12O4" (an O in the 6th position, a digit's) — not a plate.
        let p = decode(&[
            &[("A", 0.9)],
            &[("B", 0.9)],
            &[("C", 0.9)],
            &[("-", 0.8)],
            &[("1", 0.9)],
            &[("2", 0.9)],
            &[("O", 0.6), ("0", 0.3)],
            &[("4", 0.9)],
        ])
        .expect("a plate");
        assert_eq!(p.text, "ABC1204");
        assert!((p.min - 0.3).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn two_equal_characters_run_together_are_split_at_the_weakest_step() {
        // "AAB1234" blurred: the two As are one run; greedy reads "AB1234".
        let p = decode(&[
            &[("A", 0.9)],
            &[("A", 0.6), ("", 0.35)],
            &[("A", 0.9)],
            &[("B", 0.9)],
            &[("1", 0.9)],
            &[("2", 0.9)],
            &[("3", 0.9)],
            &[("4", 0.9)],
        ])
        .expect("a plate");
        assert_eq!(p.text, "AAB1234");
    }

    #[test]
    fn a_word_forced_into_the_grammar_has_a_weak_position() {
        // "DEVAGAR" on a sign: seven letters, three of them where digits must be.
        let word: Vec<[(&str, f32); 1]> = ["D", "E", "V", "A", "G", "A", "R"]
            .iter()
            .map(|c| [(*c, 0.95)])
            .collect();
        let rows: Vec<&[(&str, f32)]> = word.iter().map(|r| &r[..]).collect();
        let p = decode(&rows).expect("a path");
        assert!(p.min < 0.01, "{p:?}");
    }

    #[test]
    fn too_few_steps_or_a_malformed_matrix_give_nothing() {
        let a: &[(&str, f32)] = &[("A", 0.9)];
        assert_eq!(decode(&[a; 6]), None);
        let classes = PlateClasses::new(&charset());
        assert_eq!(ctc_plate(&[0.5; 10], 7, 3, &classes, None), None);
        assert_eq!(ctc_plate(&[], 0, 0, &classes, None), None);
        // A character list without digits cannot spell a plate.
        let letters = PlateClasses::new(&["".into(), "A".into()]);
        assert_eq!(ctc_plate(&[0.5; 14], 7, 2, &letters, None), None);
    }

    #[test]
    fn a_known_format_holds_the_fifth_position_to_it() {
        // A Mercosul `Q` blurred: the model says `0` more than `Q`, then `O`.
        let (m, t, n) = matrix(&[
            &[("V", 0.9)],
            &[("M", 0.9)],
            &[("O", 0.9)],
            &[("4", 0.9)],
            &[("0", 0.5), ("Q", 0.3)],
            &[("1", 0.9)],
            &[("3", 0.9)],
        ]);
        let classes = PlateClasses::new(&charset());
        let text = |format| ctc_plate(&m, t, n, &classes, format).map(|p| p.text);
        assert_eq!(text(None).as_deref(), Some("VMO4013"));
        assert_eq!(text(Some(PlateFormat::Old)).as_deref(), Some("VMO4013"));
        assert_eq!(
            text(Some(PlateFormat::Mercosul)).as_deref(),
            Some("VMO4Q13")
        );
    }
}
