//! A path's `runOn*` hook keys that Vigia runs (see `crate::hooks` for how commands run).
//!
//! MediaMTX's old names `runOnReady`, `runOnReadyRestart` and `runOnNotReady` are read as
//! `runOnAvailable`, `runOnAvailableRestart` and `runOnUnavailable`, with a warning, as
//! MediaMTX still reads them.

use serde_yaml::Value;

use super::error::ConfigError;
use super::lines::KeyPath;
use super::parse::Ctx;

/// The hook commands of a path; an empty command is no hook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HookConf {
    /// `runOnInit`: runs from the path's creation (config paths: at start) to its removal.
    pub run_on_init: String,
    /// `runOnInitRestart`: start `runOnInit` again when it exits.
    pub run_on_init_restart: bool,
    /// `runOnAvailable`: runs while the path has a stream to read.
    pub run_on_available: String,
    /// `runOnAvailableRestart`: start `runOnAvailable` again when it exits.
    pub run_on_available_restart: bool,
    /// `runOnUnavailable`: run once when the stream ends.
    pub run_on_unavailable: String,
    /// `runOnRead`: runs while a reader reads.
    pub run_on_read: String,
    /// `runOnReadRestart`: start `runOnRead` again when it exits.
    pub run_on_read_restart: bool,
    /// `runOnUnread`: run once when a reader stops reading.
    pub run_on_unread: String,
    /// `runOnRecordSegmentCreate`: run once when a recorded segment starts.
    pub run_on_record_segment_create: String,
    /// `runOnRecordSegmentComplete`: run once when a recorded segment is complete in the spool.
    pub run_on_record_segment_complete: String,
}

/// The path keys this module types.
pub(crate) const KEYS: &[&str] = &[
    "runOnInit",
    "runOnInitRestart",
    "runOnAvailable",
    "runOnAvailableRestart",
    "runOnUnavailable",
    "runOnRead",
    "runOnReadRestart",
    "runOnUnread",
    "runOnRecordSegmentCreate",
    "runOnRecordSegmentComplete",
];

/// MediaMTX's deprecated hook names and the key each is read as.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    ("runOnReady", "runOnAvailable"),
    ("runOnReadyRestart", "runOnAvailableRestart"),
    ("runOnNotReady", "runOnUnavailable"),
];

/// The key an old hook name is read as, if `key` is one.
pub(crate) fn alias_of(key: &str) -> Option<&'static str> {
    ALIASES
        .iter()
        .find(|(old, _)| *old == key)
        .map(|(_, new)| *new)
}

/// Sets one hook key; `Ok(false)` if `key` is not one.
pub(crate) fn set_key(
    ctx: &Ctx,
    hooks: &mut HookConf,
    key: &str,
    kp: &KeyPath,
    v: &Value,
) -> Result<bool, ConfigError> {
    match key {
        "runOnInit" => hooks.run_on_init = ctx.string(kp, v)?,
        "runOnInitRestart" => hooks.run_on_init_restart = ctx.boolean(kp, v)?,
        "runOnAvailable" => hooks.run_on_available = ctx.string(kp, v)?,
        "runOnAvailableRestart" => hooks.run_on_available_restart = ctx.boolean(kp, v)?,
        "runOnUnavailable" => hooks.run_on_unavailable = ctx.string(kp, v)?,
        "runOnRead" => hooks.run_on_read = ctx.string(kp, v)?,
        "runOnReadRestart" => hooks.run_on_read_restart = ctx.boolean(kp, v)?,
        "runOnUnread" => hooks.run_on_unread = ctx.string(kp, v)?,
        "runOnRecordSegmentCreate" => hooks.run_on_record_segment_create = ctx.string(kp, v)?,
        "runOnRecordSegmentComplete" => {
            hooks.run_on_record_segment_complete = ctx.string(kp, v)?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}
