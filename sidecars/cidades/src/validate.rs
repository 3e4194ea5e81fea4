//! Field checks of the REST API, each returning the [`Error::Invalid`] that names the field.
//!
//! Values are checked here and then only bound as SQL parameters, so quotes, semicolons and
//! other SQL metacharacters in names are plain data.

use crate::Error;

/// The 27 federative units (26 states and the Distrito Federal).
pub const UFS: [&str; 27] = [
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA", "PB", "PR",
    "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
];

/// Longest accepted name or location, in characters.
pub const MAX_TEXT: usize = 200;

/// The IBGE municipality code: 7 digits, the first (the region) 1 to 5.
pub fn ibge_code(value: &str) -> Result<String, Error> {
    let ok = value.len() == 7
        && value.bytes().all(|b| b.is_ascii_digit())
        && matches!(value.as_bytes()[0], b'1'..=b'5');
    if !ok {
        return Err(Error::invalid(
            "ibgeCode",
            "must be the 7-digit IBGE municipality code",
        ));
    }
    Ok(value.to_owned())
}

/// A federative unit, upper-cased (`sp` → `SP`).
pub fn uf(value: &str) -> Result<String, Error> {
    let upper = value.trim().to_ascii_uppercase();
    if !UFS.contains(&upper.as_str()) {
        return Err(Error::invalid("uf", "must be one of the 27 UFs (e.g. SP)"));
    }
    Ok(upper)
}

/// A non-empty text of at most [`MAX_TEXT`] characters without control characters, trimmed.
pub fn text(field: &'static str, value: &str, required: bool) -> Result<String, Error> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(Error::invalid(
            field,
            format!("must have at most {MAX_TEXT} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// A camera's RTSP URL: `rtsp://` or `rtsps://`, a host, no user info (the login goes in
/// `username`/`password`, so it can be encrypted), at most 2048 characters.
pub fn rtsp_url(value: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::invalid("rtspUrl", why);
    if value.len() > 2048 {
        return Err(bad("must have at most 2048 characters"));
    }
    let url = url::Url::parse(value).map_err(|_| bad("is not a URL"))?;
    if !matches!(url.scheme(), "rtsp" | "rtsps") {
        return Err(bad("must start with rtsp:// or rtsps://"));
    }
    if !url.username().is_empty() || url.password().is_some() || value.contains('@') {
        return Err(bad(
            "must not carry credentials; send username and password instead",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(value.to_owned())
}

/// Retention in days, 1..=3650 (the contract's range).
pub fn retention_days(value: i64) -> Result<i32, Error> {
    match i32::try_from(value) {
        Ok(days) if (1..=3650).contains(&days) => Ok(days),
        _ => Err(Error::invalid("retentionDays", "must be 1 to 3650")),
    }
}

/// Storage quota in GB, at least 1.
pub fn quota_gb(value: i64) -> Result<i64, Error> {
    if value < 1 {
        return Err(Error::invalid("quotaGb", "must be at least 1"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<String, Error>) -> Result<String, String> {
        r.map_err(|e| match e {
            Error::Invalid { field, .. } => field,
            _ => "other".into(),
        })
    }

    #[test]
    fn ibge_cases() {
        let cases = [
            ("3550308", true),
            ("5300108", true),
            ("355030", false),
            ("35503080", false),
            ("0550308", false),
            ("35503O8", false),
            ("", false),
        ];
        for (input, ok) in cases {
            assert_eq!(field(ibge_code(input)).is_ok(), ok, "{input}");
        }
    }

    #[test]
    fn uf_cases() {
        assert_eq!(field(uf("sp")), Ok("SP".into()));
        assert_eq!(field(uf("XX")), Err("uf".into()));
        assert_eq!(field(uf("")), Err("uf".into()));
    }

    #[test]
    fn rtsp_url_cases() {
        let cases = [
            ("rtsp://10.0.0.1:554/stream1", true),
            ("rtsps://cam.example/live", true),
            ("http://10.0.0.1/stream", false),
            ("rtsp://admin:secret@10.0.0.1/stream", false),
            ("rtsp://admin@10.0.0.1/stream", false),
            ("rtsp://", false),
            ("not a url", false),
        ];
        for (input, ok) in cases {
            let got = field(rtsp_url(input));
            assert_eq!(got.is_ok(), ok, "{input}: {got:?}");
            if !ok {
                assert_eq!(got, Err("rtspUrl".into()));
            }
        }
    }

    #[test]
    fn text_cases() {
        assert_eq!(field(text("name", "  Praça ", true)), Ok("Praça".into()));
        assert_eq!(field(text("name", " ", true)), Err("name".into()));
        assert_eq!(field(text("location", "", false)), Ok(String::new()));
        assert_eq!(field(text("name", "a\u{0}b", true)), Err("name".into()));
        assert_eq!(
            field(text("name", &"x".repeat(201), true)),
            Err("name".into())
        );
        let sql = "'; DROP TABLE cameras; --";
        assert_eq!(field(text("name", sql, true)), Ok(sql.into()));
    }

    #[test]
    fn number_cases() {
        assert!(retention_days(1).is_ok() && retention_days(3650).is_ok());
        assert!(retention_days(0).is_err() && retention_days(3651).is_err());
        assert!(retention_days(i64::MAX).is_err());
        assert!(quota_gb(1).is_ok() && quota_gb(0).is_err());
    }
}
