//! Times as the playback API reads them ([`parse_rfc3339`]), and the `/list` answer, byte for
//! byte as MediaMTX writes it (Go's `encoding/json` through gin):
//!
//! ```json
//! [{"start":"2025-12-02T14:04:05.123456Z","duration":60,"url":"http://host:9996/get?duration=60\u0026path=cam\u0026start=2025-12-02T14%3A04%3A05.123456Z"}]
//! ```
//!
//! - `start`: RFC 3339 in UTC with the fraction's trailing zeros dropped (Go's
//!   `time.RFC3339Nano`);
//! - `duration`: seconds as the shortest decimal that reads back exactly (Go's `'f', -1`);
//! - `url`: the `/get` of that span, its query sorted by key as Go's `url.Values.Encode`
//!   writes it; `&`, `<` and `>` in strings are written `\u0026`, `\u003c`, `\u003e` (Go's
//!   HTML-safe JSON).

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat};

use crate::index::Span;

/// The JSON array of `spans` of `path`; `base_url` is `scheme://host` of the request.
pub fn render(spans: &[Span], path: &str, base_url: &str) -> String {
    let mut out = String::with_capacity(64 + spans.len() * (160 + 2 * path.len()));
    out.push('[');
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let start = rfc3339(span.start_us);
        let duration = seconds(span.duration_us);
        out.push_str("{\"start\":");
        json_string(&mut out, &start);
        let _ = write!(out, ",\"duration\":{duration},\"url\":");
        json_string(&mut out, &get_url(base_url, path, &start, &duration));
        out.push('}');
    }
    out.push(']');
    out
}

/// The body of an error answer, as MediaMTX's: `{"status":"error","error":"<message>"}`.
pub fn error_json(message: &str) -> String {
    let mut out = String::with_capacity(32 + message.len());
    out.push_str("{\"status\":\"error\",\"error\":");
    json_string(&mut out, message);
    out.push('}');
    out
}

/// `t_us` (UNIX µs) in RFC 3339, UTC, trailing zeros of the fraction dropped:
/// `2025-12-02T14:04:05.1Z`, `2025-12-02T14:04:05Z`.
pub fn rfc3339(t_us: i64) -> String {
    let Some(t) = DateTime::from_timestamp_micros(t_us) else {
        return String::new();
    };
    let text = t.to_rfc3339_opts(SecondsFormat::Micros, true);
    match text.split_once('.') {
        Some((whole, fraction)) => {
            let digits = fraction.trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() {
                format!("{whole}Z")
            } else {
                format!("{whole}.{digits}Z")
            }
        }
        None => text,
    }
}

/// Parses an RFC 3339 time as Go's `time.Parse(time.RFC3339, …)` accepts it (fraction
/// optional, `Z` or a numeric offset) into UNIX µs. An offset's `+` that arrived as a space (a
/// query written without escaping) is read as `+`.
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    let parse = |t: &str| DateTime::parse_from_rfc3339(t).map(|d| d.timestamp_micros());
    parse(text)
        .or_else(|e| match text.rsplit_once(' ') {
            Some((time, offset)) => parse(&format!("{time}+{offset}")).map_err(|_| e),
            None => Err(e),
        })
        .map_err(|e| format!("{text:?} is not an RFC 3339 time ({e})"))
}

/// `us` microseconds as seconds, computed as Go's `Duration.Seconds` and written as the
/// shortest decimal that reads back to the same number (`60`, `32.33`, `0.04`).
pub fn seconds(us: i64) -> String {
    let secs = (us / 1_000_000) as f64 + ((us % 1_000_000) * 1000) as f64 / 1e9;
    format!("{secs}")
}

/// Escapes `s` as Go's `url.QueryEscape`: unreserved characters stay, space is `+`, the rest
/// is `%XX`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// The `/get` URL of a span.
fn get_url(base_url: &str, path: &str, start: &str, duration: &str) -> String {
    format!(
        "{base_url}/get?duration={}&path={}&start={}",
        query_escape(duration),
        query_escape(path),
        query_escape(start)
    )
}

/// `s` as a JSON string, escaped as Go's `encoding/json` does.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_684_245_000_000; // 2025-12-02T14:04:05Z

    #[test]
    fn times_and_durations_are_written_as_go_writes_them() {
        let cases = [
            (T0, "2025-12-02T14:04:05Z"),
            (T0 + 123_456, "2025-12-02T14:04:05.123456Z"),
            (T0 + 100_000, "2025-12-02T14:04:05.1Z"),
        ];
        for (t, text) in cases {
            assert_eq!(rfc3339(t), text);
        }
        let cases = [
            (60_000_000, "60"),
            (32_330_000, "32.33"),
            (40_000, "0.04"),
            (1, "0.000001"),
        ];
        for (us, text) in cases {
            assert_eq!(seconds(us), text);
        }
        assert_eq!(query_escape("a b/c:d+é"), "a+b%2Fc%3Ad%2B%C3%A9");
        for (text, parsed) in [
            ("2025-12-02T14:04:05Z", Ok(T0)),
            ("2025-12-02T14:04:05.5Z", Ok(T0 + 500_000)),
            ("2025-12-02T16:04:05+02:00", Ok(T0)),
            ("2025-12-02T16:04:05 02:00", Ok(T0)),
            ("2025-12-02 14:04", Err(())),
            ("", Err(())),
        ] {
            assert_eq!(parse_rfc3339(text).map_err(|_| ()), parsed, "{text}");
        }
    }

    #[test]
    fn list_renders_mediamtx_json() {
        let spans = [
            Span {
                start_us: T0,
                duration_us: 60_000_000,
            },
            Span {
                start_us: T0 + 180_000_000,
                duration_us: 32_330_000,
            },
        ];
        let json = render(&spans, "cam/1", "http://localhost:9996");
        let expected = concat!(
            r#"[{"start":"2025-12-02T14:04:05Z","duration":60,"url":"http://localhost:9996/get?"#,
            r#"duration=60\u0026path=cam%2F1\u0026start=2025-12-02T14%3A04%3A05Z"},"#,
            r#"{"start":"2025-12-02T14:07:05Z","duration":32.33,"url":"http://localhost:9996/get?"#,
            r#"duration=32.33\u0026path=cam%2F1\u0026start=2025-12-02T14%3A07%3A05Z"}]"#
        );
        assert_eq!(json, expected);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed[1]["duration"], 32.33);
        assert_eq!(render(&[], "cam", "http://h"), "[]");
        assert_eq!(
            error_json("invalid path name: \"a<b\""),
            r#"{"status":"error","error":"invalid path name: \"a\u003cb\""}"#
        );
    }
}
