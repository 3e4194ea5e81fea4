//! The media playlist's delivery directives (RFC 8216bis §6.2.5): `_HLS_msn`, `_HLS_part`,
//! `_HLS_skip`.

use std::fmt::Write as _;

/// How many bytes of a bad value an error repeats (a query is peer input of any length).
const MAX_ECHO: usize = 32;

/// A media playlist request's delivery directives, parsed from its query string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlaylistRequest {
    /// Blocking reload (RFC 8216bis §6.2.5.2): hold the answer until this segment or part exists.
    pub block: Option<BlockingRequest>,
    /// Delta update (RFC 8216bis §6.2.5.1).
    pub skip: SkipRequest,
}

/// `_HLS_msn` and the optional `_HLS_part` of a blocking playlist reload (RFC 8216bis §6.2.5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockingRequest {
    /// Media sequence number the playlist must contain (`_HLS_msn`).
    pub msn: u64,
    /// Part index within `msn` the playlist must contain (`_HLS_part`).
    pub part: Option<u64>,
}

/// The `_HLS_skip` directive (RFC 8216bis §6.2.5.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SkipRequest {
    /// No delta update: the whole playlist.
    #[default]
    No,
    /// `_HLS_skip=YES`: skip old media segments.
    Yes,
    /// `_HLS_skip=v2`: skip old media segments and date ranges (Vigia writes none).
    V2,
}

/// Why a playlist query is invalid; the server answers 400 Bad Request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A number directive whose value is not a decimal integer that fits 64 bits.
    #[error("{param}: {value:?} is not a non-negative integer")]
    BadNumber {
        /// The directive (`_HLS_msn` or `_HLS_part`).
        param: &'static str,
        /// The value as received (truncated).
        value: String,
    },
    /// `_HLS_skip` with a value other than `YES` or `v2`.
    #[error("_HLS_skip: {0:?} is neither YES nor v2")]
    BadSkip(String),
    /// `_HLS_part` without `_HLS_msn` (RFC 8216bis §6.2.5.2).
    #[error("_HLS_part given without _HLS_msn")]
    PartWithoutMsn,
    /// A directive given twice.
    #[error("{0} given more than once")]
    Repeated(&'static str),
}

impl PlaylistRequest {
    /// Parses a query string (with or without its leading `?`); unknown parameters are ignored.
    ///
    /// Values are not percent-decoded: the directives' valid values never need escaping, so an
    /// escaped value is reported as invalid.
    pub fn parse(query: &str) -> Result<PlaylistRequest, QueryError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let (mut msn, mut part, mut skip) = (None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "_HLS_msn" => set_once(&mut msn, "_HLS_msn", number("_HLS_msn", value)?)?,
                "_HLS_part" => set_once(&mut part, "_HLS_part", number("_HLS_part", value)?)?,
                "_HLS_skip" => set_once(&mut skip, "_HLS_skip", skip_value(value)?)?,
                _ => {}
            }
        }
        let block = match (msn, part) {
            (None, Some(_)) => return Err(QueryError::PartWithoutMsn),
            (None, None) => None,
            (Some(msn), part) => Some(BlockingRequest { msn, part }),
        };
        Ok(PlaylistRequest {
            block,
            skip: skip.unwrap_or_default(),
        })
    }

    /// The query string this request parses from (without `?`; empty for a plain request).
    pub fn to_query(&self) -> String {
        let mut q = String::new();
        if let Some(b) = self.block {
            let _ = write!(q, "_HLS_msn={}", b.msn);
            if let Some(p) = b.part {
                let _ = write!(q, "&_HLS_part={p}");
            }
        }
        let skip = match self.skip {
            SkipRequest::No => return q,
            SkipRequest::Yes => "YES",
            SkipRequest::V2 => "v2",
        };
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str("_HLS_skip=");
        q.push_str(skip);
        q
    }
}

/// The query parser's case table: `(name, query, expected)`; also the fuzz seed corpus.
#[doc(hidden)]
pub fn query_cases() -> Vec<(
    &'static str,
    &'static str,
    Result<PlaylistRequest, QueryError>,
)> {
    let block = |msn, part| PlaylistRequest {
        block: Some(BlockingRequest { msn, part }),
        skip: SkipRequest::No,
    };
    let bad = |param: &'static str, value: &str| QueryError::BadNumber {
        param,
        value: value.to_owned(),
    };
    vec![
        ("empty", "", Ok(PlaylistRequest::default())),
        ("question_mark", "?", Ok(PlaylistRequest::default())),
        ("msn", "_HLS_msn=12", Ok(block(12, None))),
        (
            "msn_part",
            "_HLS_msn=12&_HLS_part=3",
            Ok(block(12, Some(3))),
        ),
        (
            "part_first",
            "?_HLS_part=0&_HLS_msn=7",
            Ok(block(7, Some(0))),
        ),
        (
            "skip_yes",
            "_HLS_msn=5&_HLS_part=1&_HLS_skip=YES",
            Ok(PlaylistRequest {
                skip: SkipRequest::Yes,
                ..block(5, Some(1))
            }),
        ),
        (
            "skip_v2",
            "_HLS_skip=v2",
            Ok(PlaylistRequest {
                skip: SkipRequest::V2,
                block: None,
            }),
        ),
        (
            "unknown_ignored",
            "token=abc&_HLS_msn=1&x",
            Ok(block(1, None)),
        ),
        (
            "max_msn",
            "_HLS_msn=18446744073709551615",
            Ok(block(u64::MAX, None)),
        ),
        (
            "msn_overflow",
            "_HLS_msn=18446744073709551616",
            Err(bad("_HLS_msn", "18446744073709551616")),
        ),
        ("msn_negative", "_HLS_msn=-1", Err(bad("_HLS_msn", "-1"))),
        ("msn_empty", "_HLS_msn=", Err(bad("_HLS_msn", ""))),
        ("msn_plus", "_HLS_msn=+1", Err(bad("_HLS_msn", "+1"))),
        (
            "part_text",
            "_HLS_msn=1&_HLS_part=x",
            Err(bad("_HLS_part", "x")),
        ),
        ("part_alone", "_HLS_part=2", Err(QueryError::PartWithoutMsn)),
        (
            "skip_lower",
            "_HLS_skip=yes",
            Err(QueryError::BadSkip("yes".to_owned())),
        ),
        (
            "skip_repeated",
            "_HLS_skip=YES&_HLS_skip=YES",
            Err(QueryError::Repeated("_HLS_skip")),
        ),
        (
            "msn_repeated",
            "_HLS_msn=1&_HLS_msn=2",
            Err(QueryError::Repeated("_HLS_msn")),
        ),
        ("escaped", "_HLS_msn=%31", Err(bad("_HLS_msn", "%31"))),
    ]
}

/// Fuzz entry point: parsing never panics, and a parsed request round-trips through
/// [`PlaylistRequest::to_query`].
#[doc(hidden)]
pub fn fuzz_query(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(request) = PlaylistRequest::parse(query) {
        let again = PlaylistRequest::parse(&request.to_query());
        assert_eq!(again, Ok(request), "round trip of {query:?}");
    }
}

fn set_once<T>(slot: &mut Option<T>, param: &'static str, value: T) -> Result<(), QueryError> {
    if slot.replace(value).is_some() {
        return Err(QueryError::Repeated(param));
    }
    Ok(())
}

fn number(param: &'static str, value: &str) -> Result<u64, QueryError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse() {
        Ok(n) if digits => Ok(n),
        _ => Err(QueryError::BadNumber {
            param,
            value: echo(value),
        }),
    }
}

fn skip_value(value: &str) -> Result<SkipRequest, QueryError> {
    match value {
        "YES" => Ok(SkipRequest::Yes),
        "v2" => Ok(SkipRequest::V2),
        other => Err(QueryError::BadSkip(echo(other))),
    }
}

fn echo(value: &str) -> String {
    let end = (0..=MAX_ECHO.min(value.len()))
        .rev()
        .find(|&i| value.is_char_boundary(i))
        .unwrap_or(0);
    value.get(..end).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_table() {
        for (name, query, expected) in query_cases() {
            let got = PlaylistRequest::parse(query);
            assert_eq!(got, expected, "{name}: {query:?}");
            if let Ok(r) = got {
                assert_eq!(
                    PlaylistRequest::parse(&r.to_query()),
                    Ok(r),
                    "{name} round trip"
                );
            }
            fuzz_query(query.as_bytes());
        }
    }

    #[test]
    fn long_values_are_truncated_in_errors() {
        let long = format!("_HLS_skip={}", "é".repeat(100));
        let Err(QueryError::BadSkip(v)) = PlaylistRequest::parse(&long) else {
            panic!("expected BadSkip");
        };
        assert!(v.len() <= MAX_ECHO && v.chars().all(|c| c == 'é'));
    }
}
