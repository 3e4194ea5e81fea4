//! Checks of request fields; each refusal is an [`Error::Invalid`] naming the field.

use crate::Error;
use crate::cpf::Cpf;

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

/// The roles a user can hold in a city, from most to least powerful.
pub const ROLES: [&str; 3] = ["admin", "operator", "viewer"];

/// A lower-cased e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces,
/// at most 254 characters.
pub fn email(value: &str) -> Result<String, Error> {
    let v = value.trim().to_lowercase();
    let ok = v.len() <= 254
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && match v.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(|l| !l.is_empty())
            }
            None => false,
        };
    if !ok {
        return Err(Error::invalid("email", "is not an e-mail address"));
    }
    Ok(v)
}

/// A valid CPF (see [`Cpf`]).
pub fn cpf(value: &str) -> Result<Cpf, Error> {
    Cpf::parse(value).map_err(|m| Error::invalid("cpf", m))
}

/// A password of at least [`MIN_PASSWORD`] characters mixing letters and digits or symbols.
pub fn password(value: &str) -> Result<(), Error> {
    let letters = value.chars().any(char::is_alphabetic);
    let others = value.chars().any(|c| !c.is_alphabetic());
    if value.chars().count() < MIN_PASSWORD || !letters || !others {
        return Err(Error::invalid(
            "password",
            format!(
                "must have at least {MIN_PASSWORD} characters, with letters and digits or symbols"
            ),
        ));
    }
    Ok(())
}

/// A display name: 1 to 200 characters, no control characters.
pub fn name(value: &str) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 200 || v.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must have 1 to 200 printable characters",
        ));
    }
    Ok(v.to_owned())
}

/// One of [`ROLES`]; `field` is where it was found (`roles[0].role`).
pub fn role(field: &str, value: &str) -> Result<String, Error> {
    if !ROLES.contains(&value) {
        return Err(Error::invalid(field, "must be admin, operator or viewer"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<T>(r: Result<T, Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            _ => "ok".into(),
        }
    }

    #[test]
    fn cases() {
        assert_eq!(
            email(" Ana@Prefeitura.SP.gov.br ").unwrap(),
            "ana@prefeitura.sp.gov.br"
        );
        for bad in [
            "ana", "ana@", "@x.br", "ana@x", "a b@x.br", "a@b@x.br", "a@x..br",
        ] {
            assert_eq!(field(email(bad)), "email", "{bad}");
        }
        assert_eq!(field(password("curta1")), "password");
        assert_eq!(field(password("somenteletras")), "password");
        assert_eq!(field(password("s3nha-forte!")), "ok");
        assert_eq!(field(cpf("529.982.247-26")), "cpf");
        assert_eq!(field(role("roles[0].role", "root")), "roles[0].role");
        assert_eq!(field(name("")), "name");
    }
}
