//! The watch list: plates a city wants to know about, each with a reason.
//!
//! The file is YAML, one entry per plate:
//!
//! ```yaml
//! # vigia-ai watch list
//! plates:
//!   - plate: ABC1D23        # Mercosul
//!     reason: "stolen vehicle, police report 1234/2026"
//!   - plate: XYZ-9876       # old form; the dash and lower case are accepted
//!     reason: court order
//! ```
//!
//! Each plate must be a valid plate as typed (no OCR fixes: a person wrote it), each `reason`
//! non-empty, no other keys, and no vehicle twice (an old plate and its Mercosul conversion are
//! one vehicle, see [`crate::plate::vehicle_key`]). An empty file is an error, not an empty list:
//! a file caught half-written during a hot reload must not clear the list. Errors name the file
//! and the line (syntax) or the entry number and plate (content).
//!
//! [`Watchlist::lookup`] matches a read plate:
//! - **exact**: the same vehicle key (so `ABC1234` on the list matches a car now carrying
//!   `ABC1C34`) → [`MatchKind::Exact`], severity critical;
//! - **possible**: the plates (as written, or as vehicle keys) differ in exactly one position,
//!   and there the two characters are confusable ([`crate::plate::confusion_class`]: `D23` vs `023`, `B` vs `8`) →
//!   [`MatchKind::Possible`], severity warning. An OCR slip at one character should not let a
//!   watched car through, but an operator should check the picture.
//!
//! [`WatchlistFile`] reloads the file when its modification time or size changes; a reload that
//! fails keeps the previous list (the caller logs the error). Write the file with a rename over
//! the old one so a reader never sees half of it.
//!
//! Changing a list (the binary's HTTP API) goes through the same rules: [`WatchEntry::new`] is
//! the one check of a plate and reason, [`Watchlist::with_entry`] and [`Watchlist::without`]
//! give the changed list (one entry per vehicle), and [`Watchlist::to_yaml`] writes it back in
//! the format [`Watchlist::parse`] reads (comments are not kept).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use vigia_events::{Plate, Severity};

use crate::pass::distance;
use crate::plate::{bytes7, confusion_class, vehicle_key};

/// One plate on the list (serialised as `{"plate":"ABC1D23","reason":"…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchEntry {
    /// The plate as listed.
    pub plate: Plate,
    /// Why it is listed, shown to the operator.
    pub reason: String,
}

impl WatchEntry {
    /// Checks an entry as a person wrote it: the plate valid as typed (spaces around it, the
    /// dash and lower case accepted; no OCR fixes), the reason non-empty (both trimmed). The
    /// error says what is wrong, without naming the entry.
    pub fn new(plate: &str, reason: &str) -> Result<WatchEntry, String> {
        let plate = listed_plate(plate)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err("reason is empty".into());
        }
        Ok(WatchEntry {
            plate,
            reason: reason.to_owned(),
        })
    }
}

/// A plate as a person writes it on the list (spaces around it, the dash and lower case
/// accepted; no OCR fixes), normalised; the error says what is wrong.
pub fn listed_plate(text: &str) -> Result<Plate, String> {
    Plate::parse(text.trim()).map_err(|e| e.reason.to_owned())
}

/// How a read plate matched an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// Same vehicle (same plate, or its old/Mercosul conversion).
    Exact,
    /// One confusable character apart.
    Possible,
}

impl MatchKind {
    /// The alert severity: critical for an exact match, warning for a possible one.
    pub fn severity(self) -> Severity {
        match self {
            MatchKind::Exact => Severity::Critical,
            MatchKind::Possible => Severity::Warning,
        }
    }

    /// The alert `kind` on the bus: `plate_watchlist` or `plate_watchlist_possible`.
    pub fn alert_kind(self) -> &'static str {
        match self {
            MatchKind::Exact => "plate_watchlist",
            MatchKind::Possible => "plate_watchlist_possible",
        }
    }
}

/// A read plate matched against the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchMatch<'a> {
    /// Exact or possible.
    pub kind: MatchKind,
    /// The entry matched.
    pub entry: &'a WatchEntry,
}

/// Why a watch list could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchlistError {
    /// The file could not be read.
    #[error("watch list {path}: {cause}")]
    Io {
        /// The file.
        path: String,
        /// The OS error text.
        cause: String,
    },
    /// Not YAML of the expected shape; the cause names the line and column.
    #[error("watch list {file}: {cause}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message.
        cause: String,
    },
    /// An entry with a bad plate or reason, or a repeated vehicle.
    #[error("watch list {file}: entry {entry} (plate {plate:?}): {reason}")]
    Entry {
        /// The file.
        file: String,
        /// 1-based entry number in `plates`.
        entry: usize,
        /// The plate as written.
        plate: String,
        /// What is wrong.
        reason: String,
    },
}

/// The loaded list, indexed for [`Watchlist::lookup`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watchlist {
    entries: Vec<WatchEntry>,
    /// Vehicle key → entry index.
    by_key: HashMap<Plate, usize>,
    /// Confusion classes of the plate and of its vehicle key → entry indexes.
    by_class: HashMap<[u8; 7], Vec<usize>>,
}

impl Watchlist {
    /// Parses the YAML text of a watch list; `source` names it in errors (the file path).
    pub fn parse(text: &str, source: &str) -> Result<Watchlist, WatchlistError> {
        let syntax = |cause: String| WatchlistError::Syntax {
            file: source.to_owned(),
            cause,
        };
        if text.trim().is_empty() {
            return Err(syntax(
                "the file is empty (an empty list is `plates: []`)".into(),
            ));
        }
        let file: FileShape = serde_yaml::from_str(text).map_err(|e| syntax(e.to_string()))?;
        let mut list = Watchlist::default();
        for (i, raw) in file.plates.into_iter().enumerate() {
            list.add(raw, i + 1, source)?;
        }
        Ok(list)
    }

    /// Reads and parses a watch list file.
    pub fn load(path: &Path) -> Result<Watchlist, WatchlistError> {
        let text = std::fs::read_to_string(path).map_err(|e| WatchlistError::Io {
            path: path.display().to_string(),
            cause: e.to_string(),
        })?;
        Watchlist::parse(&text, &path.display().to_string())
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[WatchEntry] {
        &self.entries
    }

    /// The entry of `plate`'s vehicle (the plate or its old/Mercosul conversion), if listed.
    pub fn get(&self, plate: &Plate) -> Option<&WatchEntry> {
        let &i = self.by_key.get(&vehicle_key(plate))?;
        Some(&self.entries[i])
    }

    /// This list with `entry`: it replaces the entry of the same vehicle in place (returned),
    /// or is appended.
    pub fn with_entry(&self, entry: WatchEntry) -> (Watchlist, Option<WatchEntry>) {
        let mut entries = self.entries.clone();
        let replaced = match self.by_key.get(&vehicle_key(&entry.plate)) {
            Some(&i) => Some(std::mem::replace(&mut entries[i], entry)),
            None => {
                entries.push(entry);
                None
            }
        };
        (Watchlist::indexed(entries), replaced)
    }

    /// This list without the entry of `plate`'s vehicle, and that entry; `None` if not listed.
    pub fn without(&self, plate: &Plate) -> Option<(Watchlist, WatchEntry)> {
        let &i = self.by_key.get(&vehicle_key(plate))?;
        let mut entries = self.entries.clone();
        let removed = entries.remove(i);
        Some((Watchlist::indexed(entries), removed))
    }

    /// The list as a watch list file, which [`Watchlist::parse`] reads back to the same list.
    pub fn to_yaml(&self) -> String {
        let shape = FileShape {
            plates: self
                .entries
                .iter()
                .map(|e| RawEntry {
                    plate: e.plate.to_string(),
                    reason: e.reason.clone(),
                })
                .collect(),
        };
        // A struct of strings always serialises.
        let body = serde_yaml::to_string(&shape).unwrap_or_default();
        format!("# vigia-ai watch list (rewritten by its HTTP API: comments are not kept)\n{body}")
    }

    /// Matches a read plate: an exact match if there is one, else the first possible match in
    /// file order, else `None`.
    pub fn lookup(&self, plate: &Plate) -> Option<WatchMatch<'_>> {
        let key = vehicle_key(plate);
        if let Some(&i) = self.by_key.get(&key) {
            return Some(self.matched(MatchKind::Exact, i));
        }
        let mut candidates: Vec<usize> = forms(plate)
            .iter()
            .filter_map(|f| self.by_class.get(&classes(f)))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        let i = candidates.into_iter().find(|&i| {
            let listed = forms(&self.entries[i].plate);
            forms(plate)
                .iter()
                .any(|f| listed.iter().any(|l| one_confusable_apart(f, l)))
        })?;
        Some(self.matched(MatchKind::Possible, i))
    }

    fn matched(&self, kind: MatchKind, i: usize) -> WatchMatch<'_> {
        WatchMatch {
            kind,
            entry: &self.entries[i],
        }
    }

    fn add(&mut self, raw: RawEntry, entry: usize, source: &str) -> Result<(), WatchlistError> {
        let err = |reason: String| WatchlistError::Entry {
            file: source.to_owned(),
            entry,
            plate: raw.plate.clone(),
            reason,
        };
        let new = WatchEntry::new(&raw.plate, &raw.reason).map_err(err)?;
        self.push(new).map_err(|first| {
            let other = &self.entries[first].plate;
            err(format!(
                "same vehicle as entry {} ({other}; old and Mercosul forms are one vehicle)",
                first + 1
            ))
        })
    }

    /// A list of entries with one entry per vehicle (those of a list, one replaced or removed).
    fn indexed(entries: Vec<WatchEntry>) -> Watchlist {
        let mut list = Watchlist::default();
        for e in entries {
            // Cannot fail: the entries come from a list, which has one per vehicle.
            let _ = list.push(e);
        }
        list
    }

    /// Appends and indexes `entry`; `Err(index)` of the entry of the same vehicle.
    fn push(&mut self, entry: WatchEntry) -> Result<(), usize> {
        let key = vehicle_key(&entry.plate);
        if let Some(&first) = self.by_key.get(&key) {
            return Err(first);
        }
        let i = self.entries.len();
        self.by_key.insert(key, i);
        let mut class_keys: Vec<[u8; 7]> = forms(&entry.plate).iter().map(classes).collect();
        class_keys.dedup();
        for c in class_keys {
            self.by_class.entry(c).or_default().push(i);
        }
        self.entries.push(entry);
        Ok(())
    }
}

/// A watch list file and what it looked like when last loaded, for hot reload.
#[derive(Debug, Clone)]
pub struct WatchlistFile {
    path: PathBuf,
    stamp: Option<(SystemTime, u64)>,
}

impl WatchlistFile {
    /// Watches `path`; nothing is read until [`WatchlistFile::reload_if_changed`].
    pub fn new(path: impl Into<PathBuf>) -> WatchlistFile {
        WatchlistFile {
            path: path.into(),
            stamp: None,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the file if its modification time or size changed since the last successful
    /// load (always, the first time): `Ok(Some(list))` when loaded, `Ok(None)` when unchanged,
    /// an error when it cannot be read or parsed (the caller keeps its previous list, and the
    /// next call tries again).
    pub fn reload_if_changed(&mut self) -> Result<Option<Watchlist>, WatchlistError> {
        let meta = std::fs::metadata(&self.path).map_err(|e| WatchlistError::Io {
            path: self.path.display().to_string(),
            cause: e.to_string(),
        })?;
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        if self.stamp == Some(stamp) {
            return Ok(None);
        }
        let list = Watchlist::load(&self.path)?;
        self.stamp = Some(stamp);
        Ok(Some(list))
    }
}

/// The file's shape.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    plates: Vec<RawEntry>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    plate: String,
    reason: String,
}

/// The confusion class of each character.
fn classes(plate: &Plate) -> [u8; 7] {
    bytes7(plate).map(confusion_class)
}

/// A plate as written and as its vehicle key (the same for a Mercosul plate).
fn forms(plate: &Plate) -> [Plate; 2] {
    [plate.clone(), vehicle_key(plate)]
}

/// Whether two plates differ in exactly one position, by confusable characters.
fn one_confusable_apart(a: &Plate, b: &Plate) -> bool {
    distance(a, b) == 1 && classes(a) == classes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "\
# test list
plates:
  - plate: ABC1D23
    reason: stolen
  - plate: xyz-9876
    reason: '  court order  '
  - plate: QRS4E56
    reason: wanted
";

    fn p(s: &str) -> Plate {
        Plate::parse(s).unwrap()
    }

    fn lookup(list: &Watchlist, plate: &str) -> Option<(MatchKind, String)> {
        list.lookup(&p(plate))
            .map(|m| (m.kind, m.entry.plate.to_string()))
    }

    #[test]
    fn parses_entries_in_order() {
        let list = Watchlist::parse(LIST, "w.yml").unwrap();
        let got: Vec<(&str, &str)> = list
            .entries()
            .iter()
            .map(|e| (e.plate.as_str(), e.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ABC1D23", "stolen"),
                ("XYZ9876", "court order"),
                ("QRS4E56", "wanted")
            ]
        );
        assert!(
            Watchlist::parse("plates: []", "w.yml")
                .unwrap()
                .entries()
                .is_empty()
        );
    }

    #[test]
    fn lookup_cases() {
        let list = Watchlist::parse(LIST, "w.yml").unwrap();
        let exact = |s: &str| Some((MatchKind::Exact, s.to_owned()));
        let possible = |s: &str| Some((MatchKind::Possible, s.to_owned()));
        let cases: &[(&str, Option<(MatchKind, String)>)] = &[
            ("ABC1D23", exact("ABC1D23")),
            ("XYZ9876", exact("XYZ9876")),
            // The old plate replaced by its Mercosul conversion (8 → I) is the same car.
            ("XYZ9I76", exact("XYZ9876")),
            // One confusable character: D/0 in the 5th position, O/Q in the 1st, 8/B.
            ("ABC1023", possible("ABC1D23")),
            ("OBC1D23", None),
            ("QRS4E56", exact("QRS4E56")),
            ("ORS4E56", possible("QRS4E56")),
            ("ABC1D28", None),
            ("ABC1B23", None),
            // One character off but not confusable (D vs E).
            ("ABC1E23", None),
            // Two confusable characters off.
            ("ABC1O28", None),
            ("JKL1234", None),
        ];
        for (read, want) in cases {
            assert_eq!(lookup(&list, read), *want, "{read}");
        }
    }

    #[test]
    fn severity_and_kind_follow_the_match() {
        assert_eq!(MatchKind::Exact.severity(), Severity::Critical);
        assert_eq!(MatchKind::Possible.severity(), Severity::Warning);
        assert_eq!(MatchKind::Exact.alert_kind(), "plate_watchlist");
        assert_eq!(MatchKind::Possible.alert_kind(), "plate_watchlist_possible");
    }

    #[test]
    fn bad_files_say_where() {
        let cases: &[(&str, &str)] = &[
            ("", "watch list w.yml: the file is empty"),
            ("  \n", "watch list w.yml: the file is empty"),
            (
                "plates:\n  - plate: ABC1D23\n    reason: x\n  - plate: [\n",
                "line 4",
            ),
            ("plates:\n  - plate: ABC1D23\n", "missing field `reason`"),
            (
                "plates:\n  - plate: ABC1D23\n    reason: x\n    color: red\n",
                "unknown field `color`",
            ),
            ("plate: []\n", "unknown field `plate`"),
            (
                "plates:\n  - plate: ABC1D23\n    reason: x\n  - plate: AB12345\n    reason: y\n",
                "watch list w.yml: entry 2 (plate \"AB12345\"): expected LLLNNNN or LLLNLNN",
            ),
            (
                "plates:\n  - plate: ABC1D23\n    reason: ' '\n",
                "entry 1 (plate \"ABC1D23\"): reason is empty",
            ),
            (
                "plates:\n  - plate: ABC1234\n    reason: x\n  - plate: abc1c34\n    reason: y\n",
                "entry 2 (plate \"abc1c34\"): same vehicle as entry 1 (ABC1234;",
            ),
        ];
        for (text, want) in cases {
            let err = Watchlist::parse(text, "w.yml").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn entries_are_checked_as_the_file_checks_them() {
        let ok = |plate: &str, reason: &str| {
            let e = WatchEntry::new(plate, reason).unwrap();
            (e.plate.to_string(), e.reason)
        };
        assert_eq!(
            ok(" abc-1234 ", " stolen "),
            ("ABC1234".into(), "stolen".into())
        );
        assert_eq!(ok("ABC1D23", "x"), ("ABC1D23".into(), "x".into()));
        let cases: &[(&str, &str, &str)] = &[
            ("AB12345", "x", "expected LLLNNNN or LLLNLNN"),
            ("", "x", "expected LLLNNNN or LLLNLNN"),
            ("ABC1D2\u{e9}", "x", "expected LLLNNNN or LLLNLNN"),
            ("ABC1D23", " \n", "reason is empty"),
        ];
        for (plate, reason, want) in cases {
            assert_eq!(
                WatchEntry::new(plate, reason).unwrap_err(),
                *want,
                "{plate:?}"
            );
        }
    }

    #[test]
    fn with_entry_replaces_the_same_vehicle_in_place_and_without_removes_it() {
        let list = Watchlist::parse(LIST, "w.yml").unwrap();
        let plates = |l: &Watchlist| -> Vec<String> {
            l.entries()
                .iter()
                .map(|e| format!("{} {}", e.plate, e.reason))
                .collect()
        };
        let (added, replaced) = list.with_entry(WatchEntry::new("JKL1234", "new").unwrap());
        assert_eq!(replaced, None);
        assert_eq!(plates(&added)[3], "JKL1234 new");
        assert_eq!(
            lookup(&added, "JKL1234"),
            Some((MatchKind::Exact, "JKL1234".into()))
        );
        // XYZ9I76 is XYZ9876 converted to Mercosul: the same vehicle, replaced where it was.
        let (changed, replaced) = added.with_entry(WatchEntry::new("xyz9i76", "moved").unwrap());
        assert_eq!(replaced.unwrap().plate.as_str(), "XYZ9876");
        assert_eq!(
            plates(&changed),
            [
                "ABC1D23 stolen",
                "XYZ9I76 moved",
                "QRS4E56 wanted",
                "JKL1234 new"
            ]
        );
        assert_eq!(
            lookup(&changed, "XYZ9876"),
            Some((MatchKind::Exact, "XYZ9I76".into()))
        );
        // The indexes follow: the possible match of the third entry still works.
        assert_eq!(
            lookup(&changed, "ORS4E56"),
            Some((MatchKind::Possible, "QRS4E56".into()))
        );

        assert!(changed.without(&p("BBB1234")).is_none());
        let (removed, gone) = changed.without(&p("XYZ9876")).unwrap();
        assert_eq!(gone.reason, "moved");
        assert_eq!(
            plates(&removed),
            ["ABC1D23 stolen", "QRS4E56 wanted", "JKL1234 new"]
        );
        assert_eq!(lookup(&removed, "XYZ9I76"), None);
        assert_eq!(
            lookup(&removed, "JKL1234"),
            Some((MatchKind::Exact, "JKL1234".into()))
        );
        assert_eq!(removed.get(&p("ABC1D23")).unwrap().reason, "stolen");
        assert_eq!(removed.get(&p("ABC1D24")), None);
    }

    #[test]
    fn yaml_written_reads_back_to_the_same_list() {
        let reasons = [
            "stolen",
            "court order: 1234/2026 # not a comment",
            "yes",
            "123",
            "null",
            "~",
            "- dash",
            "'quoted' \"double\"",
            "two\nlines",
            "S\u{e3}o Paulo \u{2014} pol\u{ed}cia",
            "  [not, a, list]  ",
        ];
        let mut list = Watchlist::parse("plates: []", "w.yml").unwrap();
        assert_eq!(Watchlist::parse(&list.to_yaml(), "w.yml").unwrap(), list);
        for (i, reason) in reasons.iter().enumerate() {
            let plate = format!("AB{}1D{i:02}", char::from(b'A' + i as u8));
            list = list.with_entry(WatchEntry::new(&plate, reason).unwrap()).0;
        }
        let text = list.to_yaml();
        assert!(text.starts_with("# vigia-ai watch list"), "{text}");
        assert_eq!(Watchlist::parse(&text, "w.yml").unwrap(), list, "{text}");
        assert_eq!(list.entries()[8].reason, "two\nlines");
    }

    #[test]
    fn file_reloads_only_when_changed_and_keeps_going_after_a_bad_write() {
        let dir = std::env::temp_dir().join(format!("vigia-ai-watchlist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("watchlist.yml");
        let mut file = WatchlistFile::new(&path);
        assert!(matches!(
            file.reload_if_changed(),
            Err(WatchlistError::Io { .. })
        ));

        std::fs::write(&path, LIST).unwrap();
        assert_eq!(
            file.reload_if_changed().unwrap().unwrap().entries().len(),
            3
        );
        assert_eq!(file.reload_if_changed().unwrap(), None, "unchanged");

        std::fs::write(&path, "plates:\n  - plate: nope\n    reason: x\n").unwrap();
        assert!(matches!(
            file.reload_if_changed(),
            Err(WatchlistError::Entry { .. })
        ));
        // Still failing: it is read again, not taken as loaded.
        assert!(file.reload_if_changed().is_err());

        std::fs::write(&path, "plates:\n  - plate: ABC1234\n    reason: x\n").unwrap();
        let list = file.reload_if_changed().unwrap().unwrap();
        assert_eq!(list.entries()[0].plate.as_str(), "ABC1234");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
