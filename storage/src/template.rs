//! `recordPath`: where segments go and what they are called (MediaMTX's template syntax).
//!
//! A template is a local path (`./recordings/%path/%Y-%m-%d_%H-%M-%S-%f`) or an S3 URL
//! (`s3://bucket/prefix/%path/%Y-%m-%d_%H-%M-%S-%f`). Variables: `%path` (the path name, which
//! may contain `/`), `%Y %m %d %H %M %S` (UTC date and time of the segment's first frame), `%f`
//! (microseconds, 6 digits), `%s` (UNIX seconds). The extension `.mp4` is appended, as MediaMTX
//! does for fMP4. The fixed directory before the first variable becomes the local root (or the
//! key prefix in the bucket), so keys of one path share a prefix that listing can use, and keys
//! of one path sort by time whenever the template writes its time fields from the largest unit
//! down (the default does).

use std::path::PathBuf;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use regex::Regex;

use crate::StorageError;

/// Where segments are written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Destination {
    /// A directory of the local filesystem; keys are paths relative to it.
    Local {
        /// The directory (created on first write).
        root: PathBuf,
    },
    /// A bucket of an S3-protocol store (MinIO, AWS); credentials and endpoint come from the
    /// standard `AWS_*` environment variables.
    S3 {
        /// The bucket.
        bucket: String,
    },
}

/// A parsed `recordPath`: its destination and the template of object keys inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordPath {
    destination: Destination,
    /// The template of keys, relative to the destination (no leading `/`).
    key_template: String,
}

/// Recognizes the keys one path's segments get and reads their start time back.
#[derive(Clone, Debug)]
pub struct KeyMatcher {
    regex: Regex,
    fields: Vec<char>,
}

const TIME_VARS: [char; 8] = ['Y', 'm', 'd', 'H', 'M', 'S', 'f', 's'];

impl RecordPath {
    /// Parses a template; it must contain `%path` and either `%s` or all of `%Y %m %d %H %M %S`
    /// (so that two segments of one path never share a name), and `%s` at most once (two
    /// numbers of any length side by side could not be told apart when reading a key back).
    pub fn parse(template: &str) -> Result<Self, StorageError> {
        let fail = |what: &str| StorageError::Template {
            template: template.to_owned(),
            what: what.to_owned(),
        };
        let (destination, rest) = split_destination(template).map_err(fail)?;
        let vars: Vec<Token> = tokens(rest)
            .filter(|t| !matches!(t, Token::Text(_)))
            .collect();
        let has = |v: &str| tokens(v).next().is_some_and(|t| vars.contains(&t));
        if !has("%path") {
            return Err(fail("must contain %path"));
        }
        if vars.iter().filter(|&&t| t == Token::Time('s')).count() > 1 {
            return Err(fail("may contain %s only once"));
        }
        let full_date = ["%Y", "%m", "%d", "%H", "%M", "%S"].iter().all(|v| has(v));
        if !has("%s") && !full_date {
            return Err(fail(
                "must contain either %s or all of %Y %m %d %H %M %S, so that segment names are unique",
            ));
        }
        Ok(RecordPath {
            destination,
            key_template: rest.to_owned(),
        })
    }

    /// Where segments go.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The key of the segment of `path` starting at `start_us` (UNIX µs, UTC), with `.mp4`.
    pub fn key(&self, path: &str, start_us: i64) -> String {
        let time = DateTime::<Utc>::from_timestamp_micros(start_us).unwrap_or_default();
        let mut out = String::with_capacity(self.key_template.len() + path.len() + 16);
        for token in tokens(&self.key_template) {
            match token {
                Token::Text(text) => out.push_str(text),
                Token::Path => out.push_str(path),
                Token::Time(c) => out.push_str(&time_field(&time, c).unwrap_or_default()),
            }
        }
        out.push_str(".mp4");
        out
    }

    /// The longest directory prefix shared by every key of `path` (ends with `/` or is empty):
    /// what to list to find its segments.
    pub fn list_prefix(&self, path: &str) -> String {
        let mut fixed = String::new();
        for token in tokens(&self.key_template) {
            match token {
                Token::Text(text) => fixed.push_str(text),
                Token::Path => fixed.push_str(path),
                Token::Time(_) => break,
            }
        }
        fixed.truncate(fixed.rfind('/').map_or(0, |i| i + 1));
        fixed
    }

    /// A matcher for the keys of `path`'s segments.
    pub fn matcher(&self, path: &str) -> KeyMatcher {
        let mut pattern = String::from("^");
        let mut fields = Vec::new();
        for token in tokens(&self.key_template) {
            match token {
                Token::Text(text) => pattern.push_str(&regex::escape(text)),
                Token::Path => pattern.push_str(&regex::escape(path)),
                Token::Time(c) => {
                    pattern.push_str(field_pattern(c));
                    fields.push(c);
                }
            }
        }
        pattern.push_str(r"\.mp4$");
        KeyMatcher {
            regex: Regex::new(&pattern).unwrap_or_else(|_| Regex::new("$^").expect("never")),
            fields,
        }
    }
}

impl KeyMatcher {
    /// The start time (UNIX µs) of the segment named `key`, or `None` if `key` is not one of
    /// this path's segments.
    pub fn start_us(&self, key: &str) -> Option<i64> {
        let caps = self.regex.captures(key)?;
        let mut t = TimeParts::default();
        for (i, field) in self.fields.iter().enumerate() {
            let value: i64 = caps.get(i + 1)?.as_str().parse().ok()?;
            t.set(*field, value);
        }
        t.to_micros()
    }
}

#[derive(Default)]
struct TimeParts {
    date: [i64; 6],
    has_date: bool,
    micros: i64,
    unix: Option<i64>,
}

impl TimeParts {
    fn set(&mut self, field: char, value: i64) {
        match field {
            'f' => self.micros = value,
            's' => self.unix = Some(value),
            _ => {
                let slot = "YmdHMS".find(field).unwrap_or(0);
                if let Some(d) = self.date.get_mut(slot) {
                    *d = value;
                }
                self.has_date = true;
            }
        }
    }

    fn to_micros(&self) -> Option<i64> {
        // `%s` is the whole time; date fields next to it may be only some of them.
        if let Some(unix) = self.unix {
            return unix.checked_mul(1_000_000)?.checked_add(self.micros);
        }
        let [y, mo, d, h, mi, s] = self.date;
        let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo as u32, d as u32)?;
        let time = date.and_hms_opt(h as u32, mi as u32, s as u32)?;
        Some(time.and_utc().timestamp_micros() + self.micros)
    }
}

/// One piece of a key template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    /// Text kept as is, including a `%` not followed by a variable (with the character after
    /// it, so `%%s` is the text `%%` and then `s`).
    Text(&'a str),
    /// `%path`.
    Path,
    /// One of [`TIME_VARS`].
    Time(char),
}

/// The pieces of `template`, in order: the one reading of a template that parsing, rendering,
/// matching and listing share.
fn tokens(template: &str) -> impl Iterator<Item = Token<'_>> {
    let mut rest = template;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(after) = rest.strip_prefix('%') else {
            let (text, tail) = rest.split_at(rest.find('%').unwrap_or(rest.len()));
            rest = tail;
            return Some(Token::Text(text));
        };
        if let Some(tail) = after.strip_prefix("path") {
            rest = tail;
            return Some(Token::Path);
        }
        match after.chars().next() {
            Some(c) if TIME_VARS.contains(&c) => {
                rest = &after[1..];
                Some(Token::Time(c))
            }
            next => {
                let (text, tail) = rest.split_at(1 + next.map_or(0, char::len_utf8));
                rest = tail;
                Some(Token::Text(text))
            }
        }
    })
}

fn split_destination(template: &str) -> Result<(Destination, &str), &'static str> {
    if let Some(rest) = template.strip_prefix("s3://") {
        let bucket_error = "must name a bucket without variables: s3://bucket/prefix/%path/...";
        let (bucket, key) = rest.split_once('/').ok_or(bucket_error)?;
        if bucket.is_empty() || bucket.contains('%') {
            return Err(bucket_error);
        }
        let bucket = bucket.to_owned();
        return Ok((Destination::S3 { bucket }, key.trim_start_matches('/')));
    }
    if template.contains("://") {
        return Err("only local paths and s3:// URLs are supported");
    }
    let first_var = template.find('%').unwrap_or(template.len());
    let root_end = template[..first_var].rfind('/').map_or(0, |i| i + 1);
    let root = match &template[..root_end] {
        "" => ".",
        dir => dir.trim_end_matches('/'),
    };
    let root = PathBuf::from(if root.is_empty() { "/" } else { root });
    Ok((Destination::Local { root }, &template[root_end..]))
}

fn time_field(time: &DateTime<Utc>, c: char) -> Option<String> {
    Some(match c {
        'Y' => format!("{:04}", time.year()),
        'm' => format!("{:02}", time.month()),
        'd' => format!("{:02}", time.day()),
        'H' => format!("{:02}", time.hour()),
        'M' => format!("{:02}", time.minute()),
        'S' => format!("{:02}", time.second()),
        'f' => format!("{:06}", time.timestamp_subsec_micros()),
        's' => time.timestamp().to_string(),
        _ => return None,
    })
}

/// What a time field renders as: ASCII digits (`\d` would take any Unicode digit), a sign for
/// UNIX times before 1970.
fn field_pattern(c: char) -> &'static str {
    match c {
        'Y' => r"([0-9]{4})",
        'f' => r"([0-9]{6})",
        's' => r"(-?[0-9]+)",
        _ => r"([0-9]{2})",
    }
}

/// (template, path, key at [`CASES_T`], list prefix): the case table of the unit tests and the
/// seeds of the `record_path` fuzz target.
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f",
        "cam1",
        "cam1/2025-12-02_14-04-05-123456.mp4",
        "cam1/",
    ),
    (
        "s3://bucket/city/%path/%Y/%m/%d/%H-%M-%S-%f",
        "sp/cam2",
        "city/sp/cam2/2025/12/02/14-04-05-123456.mp4",
        "city/sp/cam2/",
    ),
    ("rec/%path_%s_%f", "c", "c_1764684245_123456.mp4", ""),
];

/// The time the keys of [`CASES`] are rendered at: 2025-12-02T14:04:05.123456Z.
const CASES_T: i64 = 1_764_684_245_123_456;

/// Fuzz entry point of the `record_path` target. The input is 8 bytes of time (little-endian,
/// folded into years 0000–9999, the range whose `%Y` has four digits), then the template, a
/// newline and the path name. If the template parses, keys of the path at that time, the next
/// microsecond and [`CASES_T`] must read back as their time (to the second when the template
/// has no `%f`) and start with the path's list prefix.
#[doc(hidden)]
pub fn fuzz_record_path(data: &[u8]) {
    const MIN_T: i64 = -62_167_219_200_000_000; // 0000-01-01T00:00:00Z
    const MAX_T: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
    let (time, text) = data.split_at(data.len().min(8));
    let mut raw = [0u8; 8];
    raw[..time.len()].copy_from_slice(time);
    let raw = i64::from_le_bytes(raw);
    let text = String::from_utf8_lossy(text);
    let (template, path) = text.split_once('\n').unwrap_or((&text, "cam"));
    let Ok(rp) = RecordPath::parse(template) else {
        return;
    };
    let _ = rp.key(path, raw);
    let matcher = rp.matcher(path);
    let _ = matcher.start_us(path);
    let prefix = rp.list_prefix(path);
    assert!(prefix.is_empty() || prefix.ends_with('/'), "{prefix:?}");
    let t = MIN_T + raw.rem_euclid(MAX_T - MIN_T);
    let has_micros = rp.key(path, 0) != rp.key(path, 1);
    for t in [t, t + 1, CASES_T] {
        let key = rp.key(path, t);
        let expected = if has_micros {
            t
        } else {
            t - t.rem_euclid(1_000_000)
        };
        assert_eq!(
            matcher.start_us(&key),
            Some(expected),
            "{template:?} {key:?}"
        );
        assert!(key.starts_with(&prefix), "{key:?} starts with {prefix:?}");
    }
}

/// Named seeds for the `record_path` corpus: the templates of [`CASES`] with their path names,
/// and MediaMTX's default template with path names regular expressions and templates treat
/// specially.
#[doc(hidden)]
pub fn fuzz_record_path_seeds() -> Vec<(String, Vec<u8>)> {
    let default = "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f";
    let odd_paths = ["a.b+c*(d)", "x/%s/y", "%path", "cam 1/ü"];
    let inputs = CASES
        .iter()
        .map(|&(template, path, _, _)| (template, path))
        .chain(odd_paths.iter().map(|&path| (default, path)));
    inputs
        .enumerate()
        .map(|(i, (template, path))| {
            let mut data = CASES_T.to_le_bytes().to_vec();
            data.extend_from_slice(format!("{template}\n{path}").as_bytes());
            (format!("case-{i}"), data)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = CASES_T;

    #[test]
    fn keys_render_and_parse_back() {
        for &(template, path, key, prefix) in CASES {
            let rp = RecordPath::parse(template).unwrap();
            assert_eq!(rp.key(path, T), key, "{template}");
            assert_eq!(rp.list_prefix(path), prefix, "{template}");
            let m = rp.matcher(path);
            assert_eq!(m.start_us(key), Some(T), "{template}");
            assert_eq!(m.start_us(&format!("x{key}")), None);
            assert_eq!(rp.matcher("other").start_us(key), None, "{template}");
        }
    }

    #[test]
    fn destinations() {
        let local = RecordPath::parse("./recordings/%path/%s").unwrap();
        let root = PathBuf::from("./recordings");
        assert_eq!(local.destination(), &Destination::Local { root });
        let bare = RecordPath::parse("%path-%s").unwrap();
        let root = PathBuf::from(".");
        assert_eq!(bare.destination(), &Destination::Local { root });
        let s3 = RecordPath::parse("s3://b/%path/%s").unwrap();
        let bucket = "b".to_owned();
        assert_eq!(s3.destination(), &Destination::S3 { bucket });
    }

    #[test]
    fn bad_templates_say_why() {
        for (template, why) in [
            ("./rec/%Y-%m-%d", "must contain %path"),
            ("./rec/%path/%Y-%m", "must contain either %s"),
            ("s3:///x/%path/%s", "must name a bucket"),
            ("s3://bucket", "must name a bucket"),
            ("s3://b%path/%path/%s", "must name a bucket"),
            ("ftp://h/%path/%s", "only local paths"),
        ] {
            let err = RecordPath::parse(template).unwrap_err().to_string();
            assert!(err.contains(why), "{template}: {err}");
        }
    }

    #[test]
    fn keys_sort_by_time() {
        let rp = RecordPath::parse("./r/%path/%Y-%m-%d_%H-%M-%S-%f").unwrap();
        let a = rp.key("c", T);
        let b = rp.key("c", T + 1);
        let c = rp.key("c", T + 86_400_000_000);
        assert!(a < b && b < c);
    }

    /// Found by the `record_path` fuzz target: keys that did not read back as their time.
    #[test]
    fn keys_read_back_where_they_did_not() {
        for (template, path, t) in [
            // `%s` with some date fields: the date fields were read and the rest taken as 0.
            ("./r/%path/%Y/%s_%f", "c", T),
            // Before 1970 `%s` is negative: the sign did not match.
            ("./r/%path_%s_%f", "c", -1_500_000),
            // `%%` before a time letter: rendered as text, matched as the variable.
            ("./r/%path/%%Y_%x%é%s_%f", "c", T),
            // A path with `%` in it cut the list prefix short (not wrong, but a longer list).
            ("./r/%path/%s_%f", "a%b/c", T),
        ] {
            let rp = RecordPath::parse(template).unwrap();
            let key = rp.key(path, t);
            assert_eq!(rp.matcher(path).start_us(&key), Some(t), "{template} {key}");
            assert!(key.starts_with(&rp.list_prefix(path)), "{template} {key}");
        }
        assert_eq!(
            RecordPath::parse("./r/%path/%s")
                .unwrap()
                .list_prefix("a%b/c"),
            "a%b/c/"
        );
    }

    /// Found by the `record_path` fuzz target: templates whose keys are not unique or cannot
    /// be read back were accepted.
    #[test]
    fn templates_that_only_look_right_are_refused() {
        for (template, why) in [
            ("./r/%path/%%s", "%Y %m %d %H %M %S"),
            ("./r/%%path/%s", "must contain %path"),
            ("./r/%path/%s%s", "%s only once"),
        ] {
            let err = RecordPath::parse(template).unwrap_err().to_string();
            assert!(err.contains(why), "{template}: {err}");
        }
    }
}
