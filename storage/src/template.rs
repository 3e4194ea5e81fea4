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
    /// (so that two segments of one path never share a name).
    pub fn parse(template: &str) -> Result<Self, StorageError> {
        let fail = |what: &str| StorageError::Template {
            template: template.to_owned(),
            what: what.to_owned(),
        };
        let (destination, rest) = split_destination(template).map_err(|w| fail(w))?;
        if !rest.contains("%path") {
            return Err(fail("must contain %path"));
        }
        let has = |v: &str| rest.contains(v);
        let full_date = ["%Y", "%m", "%d", "%H", "%M", "%S"].iter().all(|v| has(v));
        if !has("%s") && !full_date {
            return Err(fail(
                "must contain %s or all of %Y %m %d %H %M %S, so that segment names are unique",
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
        let mut rest = self.key_template.as_str();
        while let Some(i) = rest.find('%') {
            out.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            if let Some(after) = rest.strip_prefix("path") {
                out.push_str(path);
                rest = after;
                continue;
            }
            let Some(c) = rest.chars().next() else {
                out.push('%');
                break;
            };
            rest = &rest[c.len_utf8()..];
            match time_field(&time, c) {
                Some(value) => out.push_str(&value),
                None => {
                    out.push('%');
                    out.push(c);
                }
            }
        }
        out.push_str(rest);
        out.push_str(".mp4");
        out
    }

    /// The longest directory prefix shared by every key of `path` (ends with `/` or is empty):
    /// what to list to find its segments.
    pub fn list_prefix(&self, path: &str) -> String {
        let rendered = self.key_template.replace("%path", path);
        let fixed = rendered
            .find(|c| c == '%')
            .map_or(rendered.as_str(), |i| &rendered[..i]);
        fixed
            .rfind('/')
            .map_or(String::new(), |i| fixed[..=i].to_owned())
    }

    /// A matcher for the keys of `path`'s segments.
    pub fn matcher(&self, path: &str) -> KeyMatcher {
        let mut pattern = String::from("^");
        let mut fields = Vec::new();
        let mut rest = self.key_template.as_str();
        while let Some(i) = rest.find('%') {
            pattern.push_str(&regex::escape(&rest[..i]));
            rest = &rest[i + 1..];
            if let Some(after) = rest.strip_prefix("path") {
                pattern.push_str(&regex::escape(path));
                rest = after;
                continue;
            }
            match rest.chars().next() {
                Some(c) if TIME_VARS.contains(&c) => {
                    pattern.push_str(field_pattern(c));
                    fields.push(c);
                    rest = &rest[1..];
                }
                _ => pattern.push('%'),
            }
        }
        pattern.push_str(&regex::escape(rest));
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
        if let Some(unix) = self.unix.filter(|_| !self.has_date) {
            return unix.checked_mul(1_000_000)?.checked_add(self.micros);
        }
        let [y, mo, d, h, mi, s] = self.date;
        let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo as u32, d as u32)?;
        let time = date.and_hms_opt(h as u32, mi as u32, s as u32)?;
        Some(time.and_utc().timestamp_micros() + self.micros)
    }
}

fn split_destination(template: &str) -> Result<(Destination, &str), &'static str> {
    if let Some(rest) = template.strip_prefix("s3://") {
        let (bucket, key) = rest
            .split_once('/')
            .ok_or("s3:// needs a bucket and a key")?;
        if bucket.is_empty() {
            return Err("s3:// needs a bucket name");
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

fn field_pattern(c: char) -> &'static str {
    match c {
        'Y' => r"(\d{4})",
        'f' => r"(\d{6})",
        's' => r"(\d+)",
        _ => r"(\d{2})",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_764_684_245_123_456; // 2025-12-02T14:04:05.123456Z

    /// (template, path, key, list prefix)
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
            ("./rec/%path/%Y-%m", "must contain %s"),
            ("s3:///x/%path/%s", "needs a bucket"),
            ("s3://bucket", "needs a bucket and a key"),
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
}
