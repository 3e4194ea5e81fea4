//! Brazilian identifiers that appear in payloads, as validated value objects.
//!
//! A value that exists is valid: construction checks the format and the check digits, and
//! deserialization goes through the same check, so an invalid CNPJ in a message is a schema
//! violation, not a string a handler has to re-check.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A CNPJ (Cadastro Nacional da Pessoa Jurídica), the tax id of a company or public body such as
/// a city hall.
///
/// Accepts the classic numeric form and the alphanumeric form introduced by the Receita Federal
/// in 2026 (12 characters `0-9A-Z`, then 2 numeric check digits). Check digits follow the
/// Receita's modulo-11 rule, with each character valued as its ASCII code minus 48. On the wire it
/// is the 14 characters without punctuation (`11222333000181`); [`Cnpj::parse`] also accepts the
/// formatted form (`11.222.333/0001-81`). Letters are kept upper case; lower case input (on the
/// wire too, as the JSON Schema allows) is normalized.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cnpj(String);

/// Why a CNPJ or plate was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {input:?}: {reason}")]
pub struct IdError {
    /// `CNPJ` or `plate`.
    pub what: &'static str,
    /// The rejected input (truncated to 40 characters).
    pub input: String,
    /// What was wrong.
    pub reason: &'static str,
}

impl Cnpj {
    /// Parses a CNPJ, formatted or not, checking both check digits.
    pub fn parse(input: &str) -> Result<Cnpj, IdError> {
        let err = |reason| IdError {
            what: "CNPJ",
            input: input.chars().take(40).collect(),
            reason,
        };
        let raw: String = input
            .chars()
            .filter(|c| !matches!(c, '.' | '/' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let chars = raw.as_bytes();
        if chars.len() != 14 {
            return Err(err("must have 14 characters"));
        }
        if !chars[..12]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        {
            return Err(err("first 12 characters must be 0-9 or A-Z"));
        }
        if !chars[12..].iter().all(u8::is_ascii_digit) {
            return Err(err("check digits must be numeric"));
        }
        if chars.iter().all(|&c| c == chars[0]) {
            return Err(err("all characters equal"));
        }
        let dv1 = cnpj_check_digit(&chars[..12]);
        let dv2 = cnpj_check_digit(&chars[..13]);
        if chars[12] != b'0' + dv1 || chars[13] != b'0' + dv2 {
            return Err(err("check digits do not match"));
        }
        Ok(Cnpj(raw))
    }

    /// The 14 characters without punctuation.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The usual display form `AA.AAA.AAA/AAAA-DD`.
    pub fn formatted(&self) -> String {
        let s = &self.0;
        format!(
            "{}.{}.{}/{}-{}",
            &s[0..2],
            &s[2..5],
            &s[5..8],
            &s[8..12],
            &s[12..14]
        )
    }
}

/// A Brazilian vehicle licence plate, old (`ABC1234`) or Mercosul (`ABC1D23`) format.
///
/// Stored upper case without the hyphen; [`Plate::parse`] accepts `abc-1234` too. On the wire
/// (deserialization) lower case is accepted and normalized, as the JSON Schema allows; the hyphen
/// is not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Plate(String);

impl Plate {
    /// Parses a plate in either format.
    pub fn parse(input: &str) -> Result<Plate, IdError> {
        let raw: String = input
            .chars()
            .filter(|&c| c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let b = raw.as_bytes();
        let shape_ok = b.len() == 7
            && b[..3].iter().all(u8::is_ascii_uppercase)
            && b[3].is_ascii_digit()
            && (b[4].is_ascii_digit() || b[4].is_ascii_uppercase())
            && b[5..].iter().all(u8::is_ascii_digit);
        if !shape_ok {
            return Err(IdError {
                what: "plate",
                input: input.chars().take(40).collect(),
                reason: "expected LLLNNNN or LLLNLNN",
            });
        }
        Ok(Plate(raw))
    }

    /// The 7 characters, upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the Mercosul format (a letter in the fifth position).
    pub fn is_mercosul(&self) -> bool {
        self.0.as_bytes()[4].is_ascii_uppercase()
    }
}

/// One CNPJ check digit over `chars` (12 for the first, 13 for the second).
fn cnpj_check_digit(chars: &[u8]) -> u8 {
    let sum: u32 = chars
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &c)| u32::from(c - b'0') * (2 + (i as u32 % 8)))
        .sum();
    let rest = sum % 11;
    if rest < 2 { 0 } else { (11 - rest) as u8 }
}

macro_rules! string_value_object {
    ($ty:ty) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                // The wire form is the bare characters; punctuation is an operator convenience.
                if s.contains(['.', '/', '-']) {
                    return Err(serde::de::Error::custom(format!(
                        "{} must be sent without punctuation: {s:?}",
                        stringify!($ty)
                    )));
                }
                <$ty>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_value_object!(Cnpj);
string_value_object!(Plate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cnpj_cases() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("11.222.333/0001-81", Ok("11222333000181")),
            ("11222333000181", Ok("11222333000181")),
            ("12.ABC.345/01DE-35", Ok("12ABC34501DE35")),
            ("12abc34501de35", Ok("12ABC34501DE35")),
            ("11222333000182", Err("check digits do not match")),
            ("00000000000000", Err("all characters equal")),
            ("1122233300018", Err("must have 14 characters")),
            ("11222333000I8A", Err("check digits must be numeric")),
            (
                "11#22333000181",
                Err("first 12 characters must be 0-9 or A-Z"),
            ),
        ];
        for (input, want) in cases {
            let got = Cnpj::parse(input).map(|c| c.0).map_err(|e| e.reason);
            assert_eq!(got.as_deref().map_err(|e| *e), *want, "{input}");
        }
    }

    #[test]
    fn cnpj_formats_and_rejects_punctuation_on_the_wire() {
        let c = Cnpj::parse("11222333000181").unwrap();
        assert_eq!(c.formatted(), "11.222.333/0001-81");
        assert!(serde_json::from_str::<Cnpj>("\"11.222.333/0001-81\"").is_err());
        assert_eq!(
            serde_json::from_str::<Cnpj>("\"11222333000181\"").unwrap(),
            c
        );
    }

    #[test]
    fn plate_cases() {
        let cases: &[(&str, Option<(&str, bool)>)] = &[
            ("ABC1234", Some(("ABC1234", false))),
            ("abc-1234", Some(("ABC1234", false))),
            ("BRA2E19", Some(("BRA2E19", true))),
            ("AB12345", None),
            ("ABC12345", None),
            ("ABC1DE3", None),
            ("", None),
            ("ÁBC1234", None),
        ];
        for (input, want) in cases {
            let got = Plate::parse(input).ok();
            let got = got.as_ref().map(|p| (p.as_str(), p.is_mercosul()));
            assert_eq!(got, *want, "{input}");
        }
    }
}
