//! Brazilian licence plates read from raw OCR text.
//!
//! Two formats exist, seven characters each:
//!
//! | format | shape | printed | example |
//! |---|---|---|---|
//! | Mercosul (since 2018) | `LLLNLNN` | `ABC1D23` | letter in the 5th position |
//! | old (grey plate) | `LLLNNNN` | `ABC-1234` | digit in the 5th position |
//!
//! [`read_plate`] normalises the text (upper case; spaces, `-`, `.` and `·` dropped), then fixes
//! characters that OCR confuses, by position: where a letter is expected a digit becomes the
//! letter it looks like, and where a digit is expected a letter becomes the digit. The table
//! ([`CONFUSABLE`]) pairs each digit with the letters it is mistaken for:
//!
//! | digit | letters |
//! |---|---|
//! | `0` | `O`, `Q`, `D`, `U` |
//! | `1` | `I`, `L`, `J` |
//! | `2` | `Z` |
//! | `4` | `A` |
//! | `5` | `S` |
//! | `6` | `G` |
//! | `7` | `T` |
//! | `8` | `B` |
//!
//! A digit in a letter position becomes the first letter of its row (`0`→`O`, `1`→`I`); `3` and
//! `9` have no look-alike letter, so a `3` or `9` where a letter must be rejects the text. The 5th
//! position is never fixed: a letter there is a Mercosul plate and a digit an old one, and both
//! are valid. Each fix costs confidence ([`PlateRead::penalised`]).
//!
//! Old plates converted to Mercosul keep their characters except the 5th, whose digit `d`
//! becomes the letter `A + d` (`ABC1234` → `ABC1C34`). [`vehicle_key`] maps both forms of one
//! vehicle to the same key, so a watch list entry typed in the old form still matches the car
//! after its plate was replaced.

use vigia_events::Plate;

/// Digits and the letters OCR mistakes them for (see the module table). The first letter of
/// each row is the one a digit becomes where a letter is expected.
pub const CONFUSABLE: [(u8, &[u8]); 8] = [
    (b'0', b"OQDU"),
    (b'1', b"ILJ"),
    (b'2', b"Z"),
    (b'4', b"A"),
    (b'5', b"S"),
    (b'6', b"G"),
    (b'7', b"T"),
    (b'8', b"B"),
];

/// Which of the two Brazilian formats a plate has (the contract's, carried in `lpr.detected`).
pub use vigia_events::PlateFormat;

/// A plate made from OCR text: the plate, its format and how many characters were fixed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlateRead {
    /// The plate, seven characters, upper case, no dash.
    pub plate: Plate,
    /// Mercosul or old.
    pub format: PlateFormat,
    /// Characters changed by the positional fixes (0 when the text was already a plate).
    pub fixes: u8,
}

impl PlateRead {
    /// `confidence` lowered for the fixes: multiplied by [`FIX_PENALTY`] once per fixed
    /// character. A fixed character is a guess, right most of the time but not always.
    pub fn penalised(&self, confidence: f64) -> f64 {
        confidence * FIX_PENALTY.powi(i32::from(self.fixes))
    }
}

/// The factor [`PlateRead::penalised`] applies per fixed character.
pub const FIX_PENALTY: f64 = 0.9;

/// Why OCR text is not a plate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlateError {
    /// Not seven characters once spaces and punctuation are dropped.
    #[error("{text:?}: {len} characters after normalising, a plate has 7")]
    Length {
        /// The normalised text.
        text: String,
        /// Its length in characters.
        len: usize,
    },
    /// A character that is neither an ASCII letter nor a digit.
    #[error("{text:?}: {found:?} at position {pos} is not a letter or digit")]
    Character {
        /// The normalised text.
        text: String,
        /// 1-based position.
        pos: usize,
        /// The character.
        found: char,
    },
    /// A character that cannot be fixed into what its position needs.
    #[error("{text:?}: {found:?} at position {pos} cannot be a {expected}")]
    Position {
        /// The normalised text.
        text: String,
        /// 1-based position.
        pos: usize,
        /// The character.
        found: char,
        /// `letter` or `digit`.
        expected: &'static str,
    },
}

/// Reads a plate from raw OCR text: normalise, fix by position, tell the format apart.
pub fn read_plate(raw: &str) -> Result<PlateRead, PlateError> {
    let text = normalise(raw);
    let chars: Vec<char> = text.chars().collect();
    if chars.len() != 7 {
        let len = chars.len();
        return Err(PlateError::Length { text, len });
    }
    let mut out = [0u8; 7];
    let mut fixes = 0u8;
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            let (pos, found, text) = (i + 1, c, text.clone());
            return Err(PlateError::Character { text, pos, found });
        }
        let (fixed, changed) = fix_at(i, c as u8).ok_or_else(|| PlateError::Position {
            text: text.clone(),
            pos: i + 1,
            found: c,
            expected: if is_letter_position(i) {
                "letter"
            } else {
                "digit"
            },
        })?;
        out[i] = fixed;
        fixes += u8::from(changed);
    }
    let plate = to_plate(&out);
    let format = PlateFormat::of(&plate);
    Ok(PlateRead {
        plate,
        format,
        fixes,
    })
}

/// The key under which both forms of one vehicle's plate meet: the Mercosul form, an old
/// plate's 5th digit `d` turned into the letter `A + d` (`ABC1234` → `ABC1C34`).
pub fn vehicle_key(plate: &Plate) -> Plate {
    let mut b = bytes7(plate);
    if b[4].is_ascii_digit() {
        b[4] = b'A' + (b[4] - b'0');
    }
    to_plate(&b)
}

/// The old form of a converted Mercosul plate (5th letter `A`..=`J` back to `0`..=`9`), or
/// `None` when the plate is old already or its 5th letter is past `J` (never an old plate).
pub fn old_form(plate: &Plate) -> Option<Plate> {
    let mut b = bytes7(plate);
    if !(b'A'..=b'J').contains(&b[4]) {
        return None;
    }
    b[4] = b'0' + (b[4] - b'A');
    Some(to_plate(&b))
}

/// The look-alike class of a character: the digit of its [`CONFUSABLE`] row, or the character
/// itself. Two characters are confusable when they differ and share a class (`O`, `Q`, `D`,
/// `U` and `0` all do).
pub fn confusion_class(c: u8) -> u8 {
    CONFUSABLE
        .iter()
        .find(|(digit, letters)| *digit == c || letters.contains(&c))
        .map_or(c, |(digit, _)| *digit)
}

/// The seven characters of a plate as bytes.
pub fn bytes7(plate: &Plate) -> [u8; 7] {
    let mut b = [0u8; 7];
    b.copy_from_slice(plate.as_str().as_bytes());
    b
}

/// Upper case, without the separators OCR and people put in plates.
fn normalise(raw: &str) -> String {
    raw.chars()
        .filter(|c| !(c.is_whitespace() || matches!(c, '-' | '.' | '·')))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Positions 1-3 are letters; 5 may be either.
fn is_letter_position(i: usize) -> bool {
    i < 3
}

/// The character fixed for position `i`, and whether it changed; `None` when it cannot fit.
fn fix_at(i: usize, c: u8) -> Option<(u8, bool)> {
    let fixed = match i {
        4 => Some(c),
        _ if is_letter_position(i) => as_letter(c),
        _ => as_digit(c),
    }?;
    Some((fixed, fixed != c))
}

fn as_letter(c: u8) -> Option<u8> {
    if c.is_ascii_uppercase() {
        return Some(c);
    }
    CONFUSABLE
        .iter()
        .find(|(digit, _)| *digit == c)
        .map(|(_, letters)| letters[0])
}

fn as_digit(c: u8) -> Option<u8> {
    if c.is_ascii_digit() {
        return Some(c);
    }
    CONFUSABLE
        .iter()
        .find(|(_, letters)| letters.contains(&c))
        .map(|(digit, _)| *digit)
}

/// Builds a plate from seven bytes this module made valid.
fn to_plate(b: &[u8; 7]) -> Plate {
    let s: String = b.iter().map(|&c| c as char).collect();
    // Every caller passes letters in 1-3, digits in 4, 6, 7 and a letter or digit in 5.
    Plate::parse(&s).unwrap_or_else(|e| unreachable!("built an invalid plate: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (raw OCR text, Ok((plate, format, fixes)) or Err(the error's start)).
    type Case = (
        &'static str,
        Result<(&'static str, PlateFormat, u8), &'static str>,
    );

    const CASES: &[Case] = &[
        ("ABC1D23", Ok(("ABC1D23", PlateFormat::Mercosul, 0))),
        ("abc1d23", Ok(("ABC1D23", PlateFormat::Mercosul, 0))),
        ("ABC-1234", Ok(("ABC1234", PlateFormat::Old, 0))),
        (" abc 1234 ", Ok(("ABC1234", PlateFormat::Old, 0))),
        ("ABC.1234", Ok(("ABC1234", PlateFormat::Old, 0))),
        ("ABC·1D23", Ok(("ABC1D23", PlateFormat::Mercosul, 0))),
        // Digits where letters must be, letters where digits must be.
        ("A8C1D23", Ok(("ABC1D23", PlateFormat::Mercosul, 1))),
        ("0BC-1234", Ok(("OBC1234", PlateFormat::Old, 1))),
        ("ABCID23", Ok(("ABC1D23", PlateFormat::Mercosul, 1))),
        ("ABC1DZS", Ok(("ABC1D25", PlateFormat::Mercosul, 2))),
        ("ABC-O0QD", Ok(("ABC0000", PlateFormat::Old, 3))),
        ("5T4-L2B7", Ok(("STA1287", PlateFormat::Old, 4))),
        ("6AB-1G34", Ok(("GAB1G34", PlateFormat::Mercosul, 1))),
        // The 5th position is kept whatever it is.
        ("ABC1O23", Ok(("ABC1O23", PlateFormat::Mercosul, 0))),
        ("ABC1023", Ok(("ABC1023", PlateFormat::Old, 0))),
        // Not plates.
        ("ABC123", Err("\"ABC123\": 6 characters")),
        ("ABC12345", Err("\"ABC12345\": 8 characters")),
        ("", Err("\"\": 0 characters")),
        ("ABÇ1234", Err("\"ABÇ1234\": 'Ç' at position 3")),
        ("AB_1234", Err("\"AB_1234\": '_' at position 3")),
        (
            "3BC1234",
            Err("\"3BC1234\": '3' at position 1 cannot be a letter"),
        ),
        (
            "AB91234",
            Err("\"AB91234\": '9' at position 3 cannot be a letter"),
        ),
        (
            "ABCX234",
            Err("\"ABCX234\": 'X' at position 4 cannot be a digit"),
        ),
        (
            "ABC1D2K",
            Err("\"ABC1D2K\": 'K' at position 7 cannot be a digit"),
        ),
    ];

    #[test]
    fn read_plate_cases() {
        for (raw, want) in CASES {
            let got = read_plate(raw);
            match (want, &got) {
                (Ok((plate, format, fixes)), Ok(r)) => {
                    assert_eq!(
                        (r.plate.as_str(), r.format, r.fixes),
                        (*plate, *format, *fixes)
                    )
                }
                (Err(start), Err(e)) => {
                    let msg = e.to_string();
                    assert!(msg.starts_with(start), "{raw:?}: {msg}");
                }
                _ => panic!("{raw:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn every_fix_is_undone_by_its_reverse() {
        // A digit turned into a letter turns back into the same digit, so a fix never loops.
        for (digit, letters) in CONFUSABLE {
            assert_eq!(as_letter(digit), Some(letters[0]));
            for &l in letters {
                assert_eq!(as_digit(l), Some(digit), "{}", l as char);
                assert_eq!(confusion_class(l), digit);
            }
        }
        assert_eq!(as_letter(b'3'), None);
        assert_eq!(as_letter(b'9'), None);
        assert_eq!(confusion_class(b'K'), b'K');
    }

    #[test]
    fn no_letter_belongs_to_two_digits() {
        let mut seen = std::collections::HashSet::new();
        for (_, letters) in CONFUSABLE {
            for l in letters.iter() {
                assert!(seen.insert(*l), "{} listed twice", *l as char);
            }
        }
    }

    #[test]
    fn any_text_is_a_valid_plate_or_an_error_and_fixing_is_idempotent() {
        // Deterministic pseudo-random texts over the characters OCR gives, plus noise.
        let alphabet: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -.·_Çé"
            .chars()
            .collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut plates, mut errors) = (0, 0);
        for _ in 0..20_000 {
            let len = 5 + (next() % 5) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            match read_plate(&text) {
                Ok(r) => {
                    plates += 1;
                    let again = read_plate(r.plate.as_str()).unwrap();
                    assert_eq!((again.plate, again.fixes), (r.plate.clone(), 0), "{text:?}");
                    assert_eq!(r.format, PlateFormat::of(&r.plate));
                }
                Err(_) => errors += 1,
            }
        }
        assert!(
            plates > 100 && errors > 100,
            "{plates} plates, {errors} errors"
        );
    }

    #[test]
    fn penalty_compounds_per_fix() {
        let clean = read_plate("ABC1D23").unwrap();
        let fixed = read_plate("A8C1DZ3").unwrap();
        assert_eq!(clean.penalised(0.8), 0.8);
        assert!((fixed.penalised(0.8) - 0.8 * 0.81).abs() < 1e-12);
    }

    #[test]
    fn old_and_converted_forms_share_a_vehicle_key() {
        let p = |s: &str| Plate::parse(s).unwrap();
        assert_eq!(vehicle_key(&p("ABC1234")), p("ABC1C34"));
        assert_eq!(vehicle_key(&p("ABC1C34")), p("ABC1C34"));
        assert_eq!(vehicle_key(&p("ABC1034")), p("ABC1A34"));
        assert_eq!(vehicle_key(&p("ABC1934")), p("ABC1J34"));
        assert_eq!(old_form(&p("ABC1C34")), Some(p("ABC1234")));
        assert_eq!(old_form(&p("ABC1J34")), Some(p("ABC1934")));
        assert_eq!(old_form(&p("ABC1K34")), None);
        assert_eq!(old_form(&p("ABC1234")), None);
        for d in 0..10u8 {
            let old = p(&format!("XYZ9{d}00"));
            assert_eq!(old_form(&vehicle_key(&old)), Some(old));
        }
    }
}
