//! Finding the line of a key in block-style YAML text.
//!
//! `serde_yaml::Value` keeps no positions, so errors and warnings find their line by
//! walking the text with indentation, the way a reader would. This works for the
//! block style MediaMTX configs use (including sequences written at their parent's
//! indentation); for flow style (`{a: 1}`) it falls back to the nearest enclosing key.

use std::fmt;

/// One step of a key path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    /// A mapping key.
    Key(String),
    /// A 0-based sequence index.
    Index(usize),
}

/// A path from the document root to a value, e.g. `paths.cam1.source`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct KeyPath(pub(crate) Vec<Seg>);

impl KeyPath {
    /// This path extended with a mapping key.
    pub(crate) fn key(&self, k: &str) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_owned()));
        KeyPath(v)
    }

    /// This path extended with a sequence index.
    pub(crate) fn index(&self, i: usize) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }

    /// The last mapping key of the path, if any.
    pub(crate) fn last_key(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if n == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Line {
    /// Column where the line's structure starts (`-` of an item, else the key).
    outer: usize,
    /// Column of the key, if the line has one.
    key_indent: usize,
    key: Option<String>,
    item: bool,
}

/// An index of the key lines of a YAML text.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineIndex {
    lines: Vec<Option<Line>>,
}

impl LineIndex {
    /// Indexes `text`.
    pub(crate) fn new(text: &str) -> LineIndex {
        LineIndex {
            lines: text.lines().map(parse_line).collect(),
        }
    }

    /// The 1-based line of `path`, or of its deepest ancestor that could be found.
    pub(crate) fn locate(&self, path: &KeyPath) -> Option<usize> {
        let mut start = 0;
        let mut end = self.lines.len();
        let mut found = None;
        for seg in &path.0 {
            let hit = match seg {
                Seg::Key(k) => self.find_key(start, end, k),
                Seg::Index(i) => self.find_item(start, end, *i),
            };
            let Some((line, block_end)) = hit else { break };
            found = Some(line + 1);
            start = if matches!(seg, Seg::Key(_)) {
                line + 1
            } else {
                line
            };
            end = block_end;
        }
        found
    }

    fn content(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = (usize, &Line)> {
        range.filter_map(|i| self.lines[i].as_ref().map(|l| (i, l)))
    }

    /// Finds a direct child key in `[start, end)`; returns its line and block end.
    fn find_key(&self, start: usize, end: usize, key: &str) -> Option<(usize, usize)> {
        let (_, first) = self.content(start..end).next()?;
        let indent = first.key_indent;
        let (i, l) = self
            .content(start..end)
            .find(|(_, l)| l.key_indent == indent && l.key.as_deref() == Some(key))?;
        let block_end = self
            .content(i + 1..end)
            .find(|(_, n)| n.outer < l.key_indent || (n.outer == l.key_indent && !n.item))
            .map_or(end, |(j, _)| j);
        Some((i, block_end))
    }

    /// Finds the `n`th item of the sequence in `[start, end)`.
    fn find_item(&self, start: usize, end: usize, n: usize) -> Option<(usize, usize)> {
        let (_, first) = self.content(start..end).next()?;
        if !first.item {
            return None;
        }
        let indent = first.outer;
        let (i, _) = self
            .content(start..end)
            .filter(|(_, l)| l.item && l.outer == indent)
            .nth(n)?;
        let block_end = self
            .content(i + 1..end)
            .find(|(_, l)| l.outer <= indent)
            .map_or(end, |(j, _)| j);
        Some((i, block_end))
    }
}

fn parse_line(raw: &str) -> Option<Line> {
    let indent = raw.len() - raw.trim_start_matches(' ').len();
    let rest = raw[indent..].trim_end();
    if rest.is_empty() || rest.starts_with('#') {
        return None;
    }
    let (item, body, key_indent) = match rest.strip_prefix('-') {
        Some(after) if after.is_empty() || after.starts_with(' ') => {
            let trimmed = after.trim_start_matches(' ');
            let key_indent = indent + 1 + (after.len() - trimmed.len());
            (true, trimmed, key_indent)
        }
        _ => (false, rest, indent),
    };
    Some(Line {
        outer: indent,
        key_indent,
        key: key_of(body),
        item,
    })
}

/// The mapping key at the start of `body`, if the line holds one.
fn key_of(body: &str) -> Option<String> {
    if let Some(q) = body.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let inner = &body[1..];
        let close = inner.find(q)?;
        let after = inner[close + 1..].trim_start();
        return after.starts_with(':').then(|| inner[..close].to_owned());
    }
    let colon = match body.find(": ") {
        Some(p) => p,
        None if body.ends_with(':') => body.len() - 1,
        None => return None,
    };
    let key = body[..colon].trim_end();
    (!key.is_empty() && !key.starts_with(['{', '['])).then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(s: &[&str]) -> KeyPath {
        KeyPath(
            s.iter()
                .map(|p| match p.parse::<usize>() {
                    Ok(i) => Seg::Index(i),
                    Err(_) => Seg::Key((*p).to_owned()),
                })
                .collect(),
        )
    }

    const TEXT: &str = "\
# comment
logLevel: info
authInternalUsers:
- user: any
  permissions:
  - action: publish
    path:
  - action: read
- user: admin
  pass: x
pathDefaults:
  # source: nope
  source: publisher
paths:
  \"~^cam(\\d+)$\":
    source: synthetic
  all_others:
";

    #[test]
    fn locates_keys_items_and_quoted_names() {
        let idx = LineIndex::new(TEXT);
        assert_eq!(idx.locate(&kp(&["logLevel"])), Some(2));
        assert_eq!(
            idx.locate(&kp(&["authInternalUsers", "1", "pass"])),
            Some(10)
        );
        assert_eq!(
            idx.locate(&kp(&[
                "authInternalUsers",
                "0",
                "permissions",
                "1",
                "action"
            ])),
            Some(8)
        );
        assert_eq!(idx.locate(&kp(&["pathDefaults", "source"])), Some(13));
        assert_eq!(
            idx.locate(&kp(&["paths", "~^cam(\\d+)$", "source"])),
            Some(16)
        );
        assert_eq!(idx.locate(&kp(&["paths", "all_others"])), Some(17));
        // Missing leaf: the deepest ancestor found.
        assert_eq!(idx.locate(&kp(&["paths", "all_others", "x"])), Some(17));
    }

    #[test]
    fn displays_dotted_paths() {
        assert_eq!(
            kp(&["authInternalUsers", "0", "ips"]).to_string(),
            "authInternalUsers[0].ips"
        );
    }
}
