//! A path's `runOn*` hook keys that Vigia runs (see `crate::hooks` for how commands run).
//!
//! MediaMTX's old names `runOnReady`, `runOnReadyRestart` and `runOnNotReady` are read as
//! `runOnAvailable`, `runOnAvailableRestart` and `runOnUnavailable`, with a warning, as
//! MediaMTX still reads them.

use std::time::Duration;

use serde_yaml::Value;

use super::error::ConfigError;
use super::lines::KeyPath;
use super::parse::Ctx;
use super::path::Source;

/// The hook commands of a path; an empty command is no hook.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// `runOnDemand`: started when a reader asks for the path and nobody publishes; it is
    /// expected to publish to the path (only with `source: publisher`).
    pub run_on_demand: String,
    /// `runOnDemandRestart`: start `runOnDemand` again when it exits.
    pub run_on_demand_restart: bool,
    /// `runOnDemandStartTimeout`: how long readers wait for `runOnDemand` to publish (10s).
    pub run_on_demand_start_timeout: Duration,
    /// `runOnDemandCloseAfter`: how long `runOnDemand` keeps running unread (10s).
    pub run_on_demand_close_after: Duration,
    /// `runOnUnDemand`: run once when `runOnDemand` is stopped.
    pub run_on_un_demand: String,
}

impl Default for HookConf {
    /// No hooks; MediaMTX's 10 s for the on-demand timeouts.
    fn default() -> Self {
        Self {
            run_on_init: String::new(),
            run_on_init_restart: false,
            run_on_available: String::new(),
            run_on_available_restart: false,
            run_on_unavailable: String::new(),
            run_on_read: String::new(),
            run_on_read_restart: false,
            run_on_unread: String::new(),
            run_on_record_segment_create: String::new(),
            run_on_record_segment_complete: String::new(),
            run_on_demand: String::new(),
            run_on_demand_restart: false,
            run_on_demand_start_timeout: Duration::from_secs(10),
            run_on_demand_close_after: Duration::from_secs(10),
            run_on_un_demand: String::new(),
        }
    }
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
    "runOnDemand",
    "runOnDemandRestart",
    "runOnDemandStartTimeout",
    "runOnDemandCloseAfter",
    "runOnUnDemand",
];

/// The global hooks of client connections: MediaMTX's `runOnConnect` keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConnHookConf {
    /// `runOnConnect`: runs while a client connection is open.
    pub run_on_connect: String,
    /// `runOnConnectRestart`: start `runOnConnect` again when it exits.
    pub run_on_connect_restart: bool,
    /// `runOnDisconnect`: run once when a client connection closes.
    pub run_on_disconnect: String,
}

/// Sets one connection hook key; `Ok(false)` if `key` is not one.
pub(crate) fn set_conn_key(
    ctx: &Ctx,
    hooks: &mut ConnHookConf,
    key: &str,
    kp: &KeyPath,
    v: &Value,
) -> Result<bool, ConfigError> {
    match key {
        "runOnConnect" => hooks.run_on_connect = ctx.string(kp, v)?,
        "runOnConnectRestart" => hooks.run_on_connect_restart = ctx.boolean(kp, v)?,
        "runOnDisconnect" => hooks.run_on_disconnect = ctx.string(kp, v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

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
        "runOnDemand" => hooks.run_on_demand = ctx.string(kp, v)?,
        "runOnDemandRestart" => hooks.run_on_demand_restart = ctx.boolean(kp, v)?,
        "runOnDemandStartTimeout" => hooks.run_on_demand_start_timeout = ctx.duration(kp, v)?,
        "runOnDemandCloseAfter" => hooks.run_on_demand_close_after = ctx.duration(kp, v)?,
        "runOnUnDemand" => hooks.run_on_un_demand = ctx.string(kp, v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// MediaMTX's check: `runOnDemand` and `runOnUnDemand` start a publisher, so they need
/// `source: publisher`. `kp` is the path's key path.
pub(crate) fn check_on_demand(
    ctx: &Ctx,
    kp: &KeyPath,
    hooks: &HookConf,
    source: &Source,
) -> Result<(), ConfigError> {
    if *source == Source::Publisher {
        return Ok(());
    }
    let key = match (
        hooks.run_on_demand.is_empty(),
        hooks.run_on_un_demand.is_empty(),
    ) {
        (false, _) => "runOnDemand",
        (true, false) => "runOnUnDemand",
        (true, true) => return Ok(()),
    };
    Err(ctx.invalid(
        &kp.key(key),
        "runOnDemand and runOnUnDemand can be used only when source is \"publisher\"",
    ))
}
