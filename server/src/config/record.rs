//! A path's recording keys (`record*`): parsing with MediaMTX's checks, and the checks
//! that need several keys or the global `playback` switch.
//!
//! What `PathConf` holds afterwards is what the recorder may rely on: `recordPath` names
//! `%path` and enough time variables for unique names (and a bucket for `s3://`), parts
//! and segments last longer than zero, a segment holds at least one part and lasts at
//! most a day, and segments are not deleted before they end.

use std::time::Duration;

use serde_yaml::Value;
use vigia_storage::StorageError;
use vigia_storage::template::RecordPath;

use super::error::ConfigError;
use super::global::{Config, positive_duration, positive_size};
use super::lines::KeyPath;
use super::parse::Ctx;
use super::path::PathConf;

/// `recordFormat`: the container of recorded segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordFormat {
    /// `fmp4`: fragmented MP4 (the default). MediaMTX's other format, `mpegts`, is refused.
    Fmp4,
}

/// Sets one `record*` key of `pathDefaults` or a path; `Ok(false)` if `key` is not one.
pub(crate) fn set_key(
    ctx: &Ctx,
    conf: &mut PathConf,
    key: &str,
    kp: &KeyPath,
    v: &Value,
) -> Result<bool, ConfigError> {
    match key {
        "record" => conf.record = ctx.boolean(kp, v)?,
        "recordPath" => conf.record_path = record_path(ctx, kp, v)?,
        "recordFormat" => conf.record_format = format(ctx, kp, v)?,
        "recordPartDuration" => conf.record_part_duration = positive_duration(ctx, kp, v)?,
        "recordMaxPartSize" => conf.record_max_part_size = positive_size(ctx, kp, v)?,
        "recordSegmentDuration" => conf.record_segment_duration = segment_duration(ctx, kp, v)?,
        "recordDeleteAfter" => conf.record_delete_after = ctx.duration(kp, v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Checks that need several keys, for `pathDefaults` and every path (MediaMTX's
/// `Path.validate`): a segment holds at least one part, a segment is not deleted before
/// it ends, and with the playback server on, `recordPath` has `%f`.
pub(crate) fn check(ctx: &Ctx, cfg: &Config) -> Result<(), ConfigError> {
    let root = KeyPath::default();
    let defaults = root.key("pathDefaults");
    check_conf(ctx, &defaults, &cfg.path_defaults, cfg.playback)?;
    for entry in &cfg.paths {
        let kp = root.key("paths").key(&entry.name);
        check_conf(ctx, &kp, &entry.conf, cfg.playback)?;
    }
    Ok(())
}

/// Longest `recordSegmentDuration`: MediaMTX's limit, so that the 32-bit duration of a
/// version-0 `mvhd` box cannot overflow.
const MAX_SEGMENT: Duration = Duration::from_secs(86_400);

fn check_conf(ctx: &Ctx, kp: &KeyPath, conf: &PathConf, playback: bool) -> Result<(), ConfigError> {
    let part = conf.record_part_duration;
    let segment = conf.record_segment_duration;
    if segment < part {
        return Err(ctx.invalid(
            &kp.key("recordSegmentDuration"),
            format!("must not be shorter than recordPartDuration ({part:?})"),
        ));
    }
    let delete = conf.record_delete_after;
    if !delete.is_zero() && delete < segment {
        return Err(ctx.invalid(
            &kp.key("recordDeleteAfter"),
            format!(
                "must not be shorter than recordSegmentDuration ({segment:?}); use 0 to never delete"
            ),
        ));
    }
    if playback && !conf.record_path.contains("%f") {
        return Err(ctx.invalid(
            &kp.key("recordPath"),
            "must contain %f (microseconds) when playback is enabled",
        ));
    }
    Ok(())
}

fn record_path(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<String, ConfigError> {
    let text = ctx.string(kp, v)?;
    match RecordPath::parse(&text) {
        Ok(_) => Ok(text),
        Err(StorageError::Template { what, .. }) => {
            Err(ctx.invalid(kp, format!("\"{text}\" {what}")))
        }
        Err(e) => Err(ctx.invalid(kp, e.to_string())),
    }
}

fn format(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<RecordFormat, ConfigError> {
    match ctx.string(kp, v)?.as_str() {
        "fmp4" => Ok(RecordFormat::Fmp4),
        "mpegts" => Err(ctx.invalid(kp, "mpegts is not supported yet by Vigia; use fmp4")),
        other => Err(ctx.invalid(kp, format!("\"{other}\" is not one of: fmp4, mpegts"))),
    }
}

fn segment_duration(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<Duration, ConfigError> {
    let d = positive_duration(ctx, kp, v)?;
    if d > MAX_SEGMENT {
        return Err(ctx.invalid(kp, "must be at most 1d (a longer MP4 duration overflows)"));
    }
    Ok(d)
}
