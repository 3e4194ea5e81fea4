//! The queries of `/list` and `/get`, parsed as MediaMTX reads them, with errors that name the
//! parameter (`invalid start: …`); the first occurrence of a repeated parameter wins. And the
//! `Range` header of an MP4 `/get`.

use std::ops::Range;

use vigia_storage::playback::list::parse_rfc3339;

use crate::config::{check_path_name, parse_duration};

/// `GET /list?path=&start=&end=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListQuery {
    pub(crate) path: String,
    /// UNIX µs; the beginning of time when absent.
    pub(crate) start_us: Option<i64>,
    /// UNIX µs; the end of time when absent.
    pub(crate) end_us: Option<i64>,
}

/// `GET /get?path=&start=&duration=&format=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GetQuery {
    pub(crate) path: String,
    /// UNIX µs.
    pub(crate) start_us: i64,
    /// µs, positive.
    pub(crate) duration_us: i64,
    pub(crate) format: Format,
}

/// `format=`: the container of `/get`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Fragmented MP4, streamed (the default).
    Fmp4,
    /// Plain MP4, `moov` first, with byte ranges.
    Mp4,
}

/// A malformed query: which parameter, and why. Shown as `invalid <param>: <why>`, as MediaMTX
/// words it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {param}: {what}")]
pub(crate) struct QueryError {
    pub(crate) param: &'static str,
    pub(crate) what: String,
}

/// What a `Range` header asks of a file (RFC 9110 §14.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// No range, or one this server ignores (several ranges, a malformed header): `200`.
    Whole,
    /// These bytes: `206`.
    Part(Range<u64>),
    /// Nothing of the file: `416`.
    Unsatisfiable,
}

/// Longest window `/get` accepts: far beyond any retention, far below where µs overflow.
const MAX_DURATION_S: f64 = 100.0 * 365.0 * 86_400.0;

impl ListQuery {
    /// Parses the raw query string of `/list`.
    pub(crate) fn parse(query: &str) -> Result<Self, QueryError> {
        let q = Params::new(query);
        Ok(ListQuery {
            path: path(&q)?,
            start_us: q.optional("start").map(|t| time("start", t)).transpose()?,
            end_us: q.optional("end").map(|t| time("end", t)).transpose()?,
        })
    }
}

impl GetQuery {
    /// Parses the raw query string of `/get`.
    pub(crate) fn parse(query: &str) -> Result<Self, QueryError> {
        let q = Params::new(query);
        let path = path(&q)?;
        let start_us = time("start", q.get("start"))?;
        let duration_us = duration(q.get("duration"))?;
        let format = match q.get("format") {
            "" | "fmp4" => Format::Fmp4,
            "mp4" => Format::Mp4,
            other => return Err(error("format", other.to_owned())),
        };
        Ok(GetQuery {
            path,
            start_us,
            duration_us,
            format,
        })
    }
}

/// The range a `Range` header asks of `total` bytes: `bytes=first-last`, `bytes=first-` or
/// `bytes=-suffix`; a header that is not one such range is ignored, as RFC 9110 allows.
pub(crate) fn byte_range(header: Option<&str>, total: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    let Some((first, last)) = spec.split_once('-').filter(|_| !spec.contains(',')) else {
        return ByteRange::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        match last.parse::<u64>() {
            Ok(suffix) if suffix > 0 => total.saturating_sub(suffix)..total,
            Ok(_) => return ByteRange::Unsatisfiable,
            Err(_) => return ByteRange::Whole,
        }
    } else {
        let Ok(start) = first.parse::<u64>() else {
            return ByteRange::Whole;
        };
        match last.parse::<u64>() {
            _ if last.is_empty() => start..total,
            Ok(end) if end >= start => start..end.saturating_add(1).min(total),
            _ => return ByteRange::Whole,
        }
    };
    if range.start >= total {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Part(range)
}

/// The decoded parameters of a query string.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(query: &str) -> Self {
        Params(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `name`, or `""`.
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The first value of `name` unless absent or empty (MediaMTX treats both alike).
    fn optional(&self, name: &str) -> Option<&str> {
        Some(self.get(name)).filter(|v| !v.is_empty())
    }
}

fn error(param: &'static str, what: String) -> QueryError {
    QueryError { param, what }
}

/// `path`: a valid path name (which also keeps it from leaving the recordings' directory).
fn path(q: &Params) -> Result<String, QueryError> {
    let name = q.get("path");
    check_path_name(name)
        .map(|()| name.to_owned())
        .map_err(|why| error("path name", format!("{why} ({name:?})")))
}

fn time(param: &'static str, text: &str) -> Result<i64, QueryError> {
    parse_rfc3339(text).map_err(|why| error(param, why))
}

/// `duration`: seconds (`60`, `32.33`), or a Go duration (`1m30s`) as MediaMTX still accepts.
fn duration(text: &str) -> Result<i64, QueryError> {
    let secs = match text.trim().parse::<f64>() {
        Ok(secs) => secs,
        Err(_) if text.trim().starts_with('-') => -1.0,
        Err(_) => parse_duration(text)
            .map_err(|why| error("duration", why))?
            .as_secs_f64(),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(error(
            "duration",
            format!("{text:?} is not a positive duration"),
        ));
    }
    if secs > MAX_DURATION_S {
        return Err(error(
            "duration",
            format!("{text:?} is longer than 100 years"),
        ));
    }
    Ok((secs * 1e6).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_684_245_000_000; // 2025-12-02T14:04:05Z
    const START: &str = "start=2025-12-02T14%3A04%3A05Z";

    #[test]
    fn get_queries() {
        let ok = |path: &str, duration_us, format| {
            Ok(GetQuery {
                path: path.to_owned(),
                start_us: T0,
                duration_us,
                format,
            })
        };
        let cases: Vec<(String, Result<GetQuery, &str>)> = vec![
            (
                format!("path=cam&{START}&duration=20"),
                ok("cam", 20_000_000, Format::Fmp4),
            ),
            (
                format!("path=a/b&{START}&duration=32.33&format=mp4"),
                ok("a/b", 32_330_000, Format::Mp4),
            ),
            (
                format!("path=a%2Fb&{START}&duration=1m30s&format=fmp4"),
                ok("a/b", 90_000_000, Format::Fmp4),
            ),
            (
                format!("path=cam&{START}&duration=0.04&path=other"),
                ok("cam", 40_000, Format::Fmp4),
            ),
            // An unescaped `+` arrives as a space; it is read as the offset's sign.
            (
                "path=cam&start=2025-12-02T16:04:05+02:00&duration=1".to_owned(),
                ok("cam", 1_000_000, Format::Fmp4),
            ),
            (
                "path=cam&start=2025-12-02T16:04:05%2B02:00&duration=1".to_owned(),
                ok("cam", 1_000_000, Format::Fmp4),
            ),
            (format!("{START}&duration=20"), Err("path name")),
            (format!("path=&{START}&duration=20"), Err("path name")),
            (format!("path=a/../b&{START}&duration=20"), Err("path name")),
            (format!("path=..&{START}&duration=20"), Err("path name")),
            (format!("path=a%5Cb&{START}&duration=20"), Err("path name")),
            (format!("path=a%0Ab&{START}&duration=20"), Err("path name")),
            (format!("path=%2Fcam&{START}&duration=20"), Err("path name")),
            (format!("path=cam/&{START}&duration=20"), Err("path name")),
            ("path=cam&duration=20".to_owned(), Err("start")),
            (
                "path=cam&start=yesterday&duration=20".to_owned(),
                Err("start"),
            ),
            (format!("path=cam&{START}"), Err("duration")),
            (format!("path=cam&{START}&duration=-5"), Err("duration")),
            (format!("path=cam&{START}&duration=-1m"), Err("duration")),
            (format!("path=cam&{START}&duration=0"), Err("duration")),
            (format!("path=cam&{START}&duration=NaN"), Err("duration")),
            (format!("path=cam&{START}&duration=inf"), Err("duration")),
            (format!("path=cam&{START}&duration=1e300"), Err("duration")),
            (format!("path=cam&{START}&duration=ten"), Err("duration")),
            (
                format!("path=cam&{START}&duration=20&format=mkv"),
                Err("format"),
            ),
        ];
        for (query, expected) in cases {
            let got = GetQuery::parse(&query).map_err(|e| {
                assert!(e.to_string().starts_with(&format!("invalid {}: ", e.param)));
                e.param
            });
            assert_eq!(got, expected, "{query}");
        }
    }

    #[test]
    fn list_queries() {
        type Case = (
            &'static str,
            Result<(Option<i64>, Option<i64>), &'static str>,
        );
        let cases: Vec<Case> = vec![
            ("path=cam", Ok((None, None))),
            ("path=cam&start=&end=", Ok((None, None))),
            ("path=cam&start=2025-12-02T14:04:05Z", Ok((Some(T0), None))),
            (
                "path=cam&end=2025-12-02T14:04:05.25Z",
                Ok((None, Some(T0 + 250_000))),
            ),
            ("path=cam&start=2025-13-02T14:04:05Z", Err("start")),
            ("path=cam&end=soon", Err("end")),
            ("start=2025-12-02T14:04:05Z", Err("path name")),
            ("path=a//b", Err("path name")),
        ];
        for (query, expected) in cases {
            let got = ListQuery::parse(query)
                .map(|q| (q.start_us, q.end_us))
                .map_err(|e| e.param);
            assert_eq!(got, expected, "{query}");
        }
    }

    #[test]
    fn byte_ranges() {
        use ByteRange::{Part, Unsatisfiable, Whole};
        let cases = [
            (None, Whole),
            (Some("bytes=0-99"), Part(0..100)),
            (Some("bytes=100-"), Part(100..1000)),
            (Some("bytes=-10"), Part(990..1000)),
            (Some("bytes=-5000"), Part(0..1000)),
            (Some("bytes=990-5000"), Part(990..1000)),
            (Some("bytes=999-999"), Part(999..1000)),
            (Some("bytes=1000-"), Unsatisfiable),
            (Some("bytes=-0"), Unsatisfiable),
            (Some("bytes=5-1"), Whole),
            (Some("bytes=0-1,5-9"), Whole),
            (Some("bytes=x-1"), Whole),
            (Some("items=0-1"), Whole),
            (Some("bytes=0"), Whole),
        ];
        for (header, expected) in cases {
            assert_eq!(byte_range(header, 1000), expected, "{header:?}");
        }
    }

    #[test]
    fn messages_name_the_parameter_and_the_value() {
        let e = GetQuery::parse(&format!("path=cam&{START}&duration=20&format=avi")).unwrap_err();
        assert_eq!(e.to_string(), "invalid format: avi");
        let e = GetQuery::parse("path=cam&start=2025&duration=1").unwrap_err();
        assert!(e.to_string().starts_with("invalid start: \"2025\""), "{e}");
        let e = GetQuery::parse("path=a/../b&start=x&duration=1").unwrap_err();
        assert!(e.to_string().contains("\"a/../b\""), "{e}");
    }
}
