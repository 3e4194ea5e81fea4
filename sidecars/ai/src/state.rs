//! What `vigia-ai run` keeps across restarts, as JSON files in the state dir:
//!
//! - `bus-state.json` (`crate::bus::Saved`): cameras' cities, cities' CNPJs, the cameras read
//!   from the bus; written before each bus event that changed it is acked. A file that cannot
//!   be read stops the start ([`StateFile::load`]): without it every report would lack its CNPJ.
//! - `report-state.json` ([`ReportStateFile`], `vigia_ai::pipeline::ReportState`): the daily
//!   reports' open days (every figure, the distinct plates) and the recordings counted. Written
//!   when it changed at most every [`REPORT_SAVE_EVERY`], at once after a day closed or a bus
//!   event was applied, and at a clean stop; so a crash loses at most the last
//!   [`REPORT_SAVE_EVERY`] of detections, alerts and cameras seen. A file that cannot be read is
//!   set aside ([`StateFile::load_or_set_aside`]) and the day starts again from zero: losing a
//!   day's figures is better than not reading plates.
//!
//! One way to write both ([`StateFile::save`]): the JSON goes to `<file>.tmp` in the same
//! directory, is synced, renamed over the file, and the directory synced, so a crash leaves the
//! old file or the new one, never half of one. The writing runs on tokio's blocking pool: `run`
//! is a current-thread runtime whose one thread also drives the cameras' RTSP readers and the
//! HTTP endpoint, which a slow fsync must not stall.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use vigia_ai::pipeline::{Pipeline, ReportState};

/// The longest the daily figures wait in memory before `report-state.json` is rewritten: what
/// a crash can lose.
pub(crate) const REPORT_SAVE_EVERY: Duration = Duration::from_secs(5);

/// A JSON file holding a `T`, rewritten atomically (see the module doc).
#[derive(Debug)]
pub(crate) struct StateFile<T> {
    path: PathBuf,
    /// What the file holds, as last read or written.
    last: Option<T>,
    /// Why the file must not be written: it could not be read nor set aside.
    frozen: Option<String>,
}

impl<T: Serialize + DeserializeOwned + PartialEq + Clone + Default> StateFile<T> {
    /// The file at `path` (nothing is read yet).
    pub(crate) fn new(path: PathBuf) -> StateFile<T> {
        StateFile {
            path,
            last: None,
            frozen: None,
        }
    }

    /// What was saved, or the default when there is no file; a file that cannot be read or
    /// parsed is an error naming it.
    pub(crate) fn load(&mut self) -> Result<T, String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        let value: T = serde_json::from_str(&text)
            .map_err(|e| format!("{}: {e} (fix or remove it)", self.path.display()))?;
        self.last = Some(value.clone());
        Ok(value)
    }

    /// As [`StateFile::load`], but a file that cannot be read or parsed is logged (a warning
    /// naming it), renamed to `<file>.bad` (or `.bad.1`, `.bad.2`… when taken) for an operator
    /// to look at, and the default returned. If it cannot be renamed it is left alone and never
    /// written while this process runs (each [`StateFile::save`] is an error saying so).
    pub(crate) fn load_or_set_aside(&mut self, what: &str) -> T {
        let error = match self.load() {
            Ok(value) => return value,
            Err(e) => e,
        };
        match set_aside(&self.path) {
            Ok(bad) => tracing::warn!(
                file = %self.path.display(), set_aside = %bad.display(), error = %error,
                "state file unreadable: set aside; {what} start from empty"
            ),
            Err(e) => {
                tracing::error!(
                    file = %self.path.display(), error = %error, rename_error = %e,
                    "state file unreadable and cannot be set aside: left alone and not written; {what} start from empty"
                );
                self.frozen = Some(format!(
                    "{}: unreadable and not set aside ({e}); not overwritten",
                    self.path.display()
                ));
            }
        }
        T::default()
    }

    /// Writes `value` if it differs from what the file holds.
    pub(crate) async fn save(&mut self, value: T) -> Result<(), String> {
        if let Some(why) = &self.frozen {
            return Err(why.clone());
        }
        if self.last.as_ref() == Some(&value) {
            return Ok(());
        }
        let text = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &text))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.last = Some(value);
        Ok(())
    }
}

/// `report-state.json` and when to write it (see the module doc).
#[derive(Debug)]
pub(crate) struct ReportStateFile {
    file: StateFile<ReportState>,
    /// Days closed (reported or not) when last looked at.
    closed: u64,
    /// The last write's error, logged once until a write succeeds.
    failing: Option<String>,
}

impl ReportStateFile {
    /// `report-state.json` in `state_dir`, and what it holds (empty when absent or unreadable:
    /// see [`StateFile::load_or_set_aside`]).
    pub(crate) fn open(state_dir: &Path) -> (ReportStateFile, ReportState) {
        let mut file = StateFile::new(state_dir.join("report-state.json"));
        let state = file.load_or_set_aside("the daily reports' figures");
        let saver = ReportStateFile {
            file,
            closed: 0,
            failing: None,
        };
        (saver, state)
    }

    /// Writes the pipeline's report state if it changed; a failure is logged (once while it
    /// lasts), and the next call tries again.
    pub(crate) async fn save(&mut self, pipeline: &Pipeline) {
        let s = pipeline.stats();
        self.closed = s.reports + s.reports_without_cnpj;
        match self.file.save(pipeline.report_state()).await {
            Ok(()) => {
                if self.failing.take().is_some() {
                    tracing::info!(file = %self.file.path.display(), "daily figures saved again");
                }
            }
            Err(e) => {
                if self.failing.as_ref() != Some(&e) {
                    tracing::error!(error = %e, "daily figures not saved; a crash would lose them");
                }
                self.failing = Some(e);
            }
        }
    }

    /// Writes at once if a day closed since the last write (so a restart does not report it
    /// again).
    pub(crate) async fn save_if_a_day_closed(&mut self, pipeline: &Pipeline) {
        let s = pipeline.stats();
        if s.reports + s.reports_without_cnpj != self.closed {
            self.save(pipeline).await;
        }
    }
}

/// Writes `bytes` to `path` through `<path>.tmp`: written, synced, renamed over `path`, the
/// directory synced.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Renames `path` to the first free `<path>.bad`, `<path>.bad.1`, …; returns the new name.
fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let name = |n: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(if n == 0 {
            ".bad".to_owned()
        } else {
            format!(".bad.{n}")
        });
        PathBuf::from(p)
    };
    let bad = (0..1000)
        .map(name)
        .find(|p| !p.exists())
        .unwrap_or_else(|| name(0));
    std::fs::rename(path, &bad)?;
    Ok(bad)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta};
    use vigia_ai::pass::PassConfig;
    use vigia_ai::pipeline::OcrRead;
    use vigia_ai::watchlist::Watchlist;
    use vigia_events::{EventData, EventType};

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigia-ai-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A pipeline that knows `cam-0042` in `sp-campinas` and saw `ABC1D23` on 2026-11-28.
    fn pipeline_with_a_detection() -> Pipeline {
        let mut p = Pipeline::new(PassConfig::default(), Watchlist::default());
        for e in vigia_events::examples() {
            if e.event_type() != EventType::CameraDeleted {
                p.handle_bus_event(&e);
            }
        }
        let at = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .to_utc();
        p.handle_ocr(OcrRead {
            camera_id: "cam-0042".into(),
            text: "ABC1D23".into(),
            confidence: 0.9,
            at,
            frame: 0,
            snapshot: None,
            bounding_box: None,
        });
        p.handle_timeout(at + TimeDelta::seconds(10));
        while p.poll_event().is_some() {}
        p
    }

    #[tokio::test]
    async fn the_report_state_is_written_and_read_back() {
        let dir = temp_dir("report-state");
        let (mut file, state) = ReportStateFile::open(&dir);
        assert_eq!(state, ReportState::default(), "no file yet");
        let p = pipeline_with_a_detection();
        file.save(&p).await;
        assert!(!dir.join("report-state.json.tmp").exists());
        let (_, back) = ReportStateFile::open(&dir);
        assert_eq!(back, p.report_state());
        assert_eq!(back.reports.days[0].tally.detections, 1);

        // Restarted after midnight: the day is reported once restored, and saved as closed.
        let mut q = Pipeline::new(PassConfig::default(), Watchlist::default());
        q.restore(p.bus_knowledge()).unwrap();
        q.restore_reports(back);
        q.handle_timeout(
            DateTime::parse_from_rfc3339("2026-11-30T00:00:00Z")
                .unwrap()
                .to_utc(),
        );
        let report = q.poll_event().unwrap();
        assert!(
            matches!(report.data, EventData::AnalyticsDailyReport(ref r) if r.lpr_detections == 1)
        );
        let (mut file, _) = ReportStateFile::open(&dir);
        file.save_if_a_day_closed(&q).await;
        let (_, after) = ReportStateFile::open(&dir);
        assert_eq!(after.reports.days, []);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_report_state_is_set_aside_not_overwritten() {
        let dir = temp_dir("report-state-bad");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report-state.json");
        for (n, bad) in ["{\"reports\": ", "{\"unknown\": 1}"].iter().enumerate() {
            std::fs::write(&path, bad).unwrap();
            let (mut file, state) = ReportStateFile::open(&dir);
            assert_eq!(state, ReportState::default());
            assert!(!path.exists());
            let aside = if n == 0 {
                "report-state.json.bad"
            } else {
                "report-state.json.bad.1"
            };
            assert_eq!(std::fs::read_to_string(dir.join(aside)).unwrap(), *bad);
            // Writing afterwards makes a fresh file.
            file.save(&pipeline_with_a_detection()).await;
            assert!(path.exists());
            std::fs::remove_file(&path).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn an_unreadable_file_is_set_aside_or_else_never_written() {
        let dir = temp_dir("report-state-unreadable");
        // A directory where the file should be: it cannot be read, but can be set aside.
        std::fs::create_dir_all(dir.join("report-state.json")).unwrap();
        let (mut file, state) = ReportStateFile::open(&dir);
        assert_eq!(state, ReportState::default());
        assert!(dir.join("report-state.json.bad").is_dir());
        file.save(&pipeline_with_a_detection()).await;
        assert!(dir.join("report-state.json").is_file());
        // A state "dir" that is a file: the state file can be neither read nor renamed, so it
        // is never written.
        let not_a_dir = dir.join("plain");
        std::fs::write(&not_a_dir, "keep me").unwrap();
        let mut file: StateFile<ReportState> = StateFile::new(not_a_dir.join("report-state.json"));
        assert_eq!(file.load_or_set_aside("test"), ReportState::default());
        let err = file.save(ReportState::default()).await.unwrap_err();
        assert!(err.contains("not overwritten"), "{err}");
        assert_eq!(std::fs::read_to_string(&not_a_dir).unwrap(), "keep me");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
