//! `runOnRecordSegmentCreate` and `runOnRecordSegmentComplete`: a command run once when a
//! recorded segment starts and once when it is complete, with MediaMTX's variables.
//!
//! MediaMTX writes each segment straight to its file, so its hooks name that file. Vigia writes
//! a segment to the node's spool first and uploads it afterwards; `MTX_SEGMENT_PATH` is the
//! segment's *final* location all the same — the file (`recordPath`'s directory joined with the
//! key) for a local destination, `s3://bucket/key` for S3 — so a hook sees the names MediaMTX
//! would give. Create runs once the segment is open in the spool, Complete once its last part is
//! fsynced there: the file or object may not be uploaded yet when either runs.
//!
//! Variables: the path's (`MTX_PATH`, `MTX_QUERY`, `RTSP_PORT`, `G1`…), `MTX_SEGMENT_PATH`, and
//! for Complete `MTX_SEGMENT_DURATION` in seconds, shortest form (`4.2`, `1`), as MediaMTX
//! formats it.

use vigia_storage::template::Destination;

use crate::hooks::{self, HookEnv};
use crate::paths::Path;

/// The segment hooks of one recorded path.
pub(super) struct SegmentHooks {
    path: String,
    create: String,
    complete: String,
    env: HookEnv,
}

impl SegmentHooks {
    /// The segment hooks of `path`, from its config.
    pub(super) fn new(path: &Path) -> Self {
        let conf = &path.conf.hooks;
        SegmentHooks {
            path: path.name.clone(),
            create: conf.run_on_record_segment_create.clone(),
            complete: conf.run_on_record_segment_complete.clone(),
            env: path.hook_env().clone(),
        }
    }

    /// Runs `runOnRecordSegmentCreate` for the segment that will be at `location`.
    pub(super) fn created(&self, location: &str) {
        let what = format!("runOnRecordSegmentCreate of path {}", self.path);
        let env = segment_env(&self.env, location, None);
        hooks::run_detached(&self.create, env, what);
    }

    /// Runs `runOnRecordSegmentComplete` for the segment at `location`, `duration_us` long.
    pub(super) fn completed(&self, location: &str, duration_us: i64) {
        let what = format!("runOnRecordSegmentComplete of path {}", self.path);
        let env = segment_env(&self.env, location, Some(duration_us));
        hooks::run_detached(&self.complete, env, what);
    }
}

/// Where the segment with `key` ends up: a file path, or `s3://bucket/key`.
pub(super) fn location(destination: &Destination, key: &str) -> String {
    match destination {
        Destination::S3 { bucket } => format!("s3://{bucket}/{key}"),
        // `recordPath: %path/%s` is relative to the working directory, as MediaMTX names it.
        Destination::Local { root } if root.as_os_str() == "." => key.to_owned(),
        Destination::Local { root } => root.join(key).display().to_string(),
    }
}

/// The path's variables plus the segment's.
fn segment_env(base: &HookEnv, location: &str, duration_us: Option<i64>) -> HookEnv {
    let mut env = base.clone();
    env.push(("MTX_SEGMENT_PATH".to_owned(), location.to_owned()));
    if let Some(us) = duration_us {
        env.push(("MTX_SEGMENT_DURATION".to_owned(), seconds(us)));
    }
    env
}

/// µs as seconds in their shortest decimal form, like Go's `FormatFloat(s, 'f', -1, 64)`.
fn seconds(us: i64) -> String {
    // µs fit an f64 exactly up to 285 years.
    let s = us as f64 / 1e6;
    s.to_string()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn locations_are_files_or_s3_urls() {
        let key = "cam1/2026-12-02_16-00-00-000000.mp4";
        let local = |root: &str| Destination::Local {
            root: PathBuf::from(root),
        };
        let s3 = Destination::S3 {
            bucket: "rec".to_owned(),
        };
        assert_eq!(
            location(&local("./recordings"), key),
            format!("./recordings/{key}")
        );
        assert_eq!(location(&local("/srv"), key), format!("/srv/{key}"));
        assert_eq!(location(&local("."), key), key);
        assert_eq!(location(&s3, key), format!("s3://rec/{key}"));
    }

    #[test]
    fn durations_are_seconds_in_shortest_form() {
        let cases = [
            (4_200_000, "4.2"),
            (1_000_000, "1"),
            (33_367, "0.033367"),
            (0, "0"),
        ];
        for (us, text) in cases {
            assert_eq!(seconds(us), text, "{us} µs");
        }
    }

    #[test]
    fn the_segment_variables_follow_the_paths() {
        let base = vec![("MTX_PATH".to_owned(), "cam1".to_owned())];
        let created = segment_env(&base, "/r/a.mp4", None);
        let names: Vec<&str> = created.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["MTX_PATH", "MTX_SEGMENT_PATH"]);
        let completed = segment_env(&base, "/r/a.mp4", Some(2_500_000));
        assert_eq!(
            completed.last(),
            Some(&("MTX_SEGMENT_DURATION".to_owned(), "2.5".to_owned()))
        );
    }
}
