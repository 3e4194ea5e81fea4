//! The CPF (Cadastro de Pessoas Físicas) value object: eleven digits whose last two are check
//! digits (mod 11, weights 10..2 then 11..2). Kept in this sidecar: a CPF is not an event field
//! of the contract (unlike `vigia_events::Cnpj`).

use std::fmt;

/// A valid CPF, stored as its eleven digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cpf(String);

impl Cpf {
    /// Parses `123.456.789-09` or `12345678909`; refuses a wrong length, non-digits, a repeated
    /// digit (`111.111.111-11`, valid by the arithmetic but never issued) and bad check digits.
    pub fn parse(text: &str) -> Result<Cpf, &'static str> {
        let digits: String = text.chars().filter(|c| !matches!(c, '.' | '-')).collect();
        if digits.len() != 11 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must have 11 digits");
        }
        let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
        if d.iter().all(|&x| x == d[0]) {
            return Err("is not a valid CPF");
        }
        if check_digit(&d[..9]) != d[9] || check_digit(&d[..10]) != d[10] {
            return Err("has wrong check digits");
        }
        Ok(Cpf(digits))
    }

    /// The eleven digits.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Cpf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        write!(f, "{}.{}.{}-{}", &s[..3], &s[3..6], &s[6..9], &s[9..])
    }
}

/// The check digit of `digits` (weights from `len + 1` down to 2).
fn check_digit(digits: &[u32]) -> u32 {
    let weight = digits.len() as u32 + 1;
    let sum: u32 = digits
        .iter()
        .zip((2..=weight).rev())
        .map(|(d, w)| d * w)
        .sum();
    match sum % 11 {
        0 | 1 => 0,
        r => 11 - r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        let cases = [
            ("529.982.247-25", Ok("52998224725")),
            ("52998224725", Ok("52998224725")),
            ("111.444.777-35", Ok("11144477735")),
            ("529.982.247-26", Err("has wrong check digits")),
            ("11111111111", Err("is not a valid CPF")),
            ("5299822472", Err("must have 11 digits")),
            ("5299822472a", Err("must have 11 digits")),
            ("", Err("must have 11 digits")),
        ];
        for (text, want) in cases {
            assert_eq!(
                Cpf::parse(text).as_ref().map(Cpf::digits).map_err(|e| *e),
                want,
                "{text}"
            );
        }
        assert_eq!(
            Cpf::parse("52998224725").unwrap().to_string(),
            "529.982.247-25"
        );
    }
}
