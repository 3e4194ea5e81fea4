//! Path configuration: `pathDefaults`, `paths`, path names and how a requested name
//! finds its configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde_yaml::Value;

use super::error::ConfigError;
use super::hooks::{self, HookConf};
use super::keys::{self, KeyKind};
use super::lines::KeyPath;
use super::parse::{Ctx, keyword};
use super::record::{self, RecordFormat};

/// Where a path's stream comes from (`source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `publisher`: a client publishes (RTSP ANNOUNCE/RECORD, WHIP…).
    Publisher,
    /// `synthetic` or `synthetic:<profile>`: Vigia's built-in looped clip.
    Synthetic(SyntheticProfile),
    /// `rtsp://…` or `rtsps://…`: pulled from a camera or server. May contain `$G1`…
    /// (regex groups) and `$MTX_QUERY`, substituted by the server.
    Rtsp(String),
    /// A MediaMTX source Vigia cannot pull yet (`rtmp://`, `srt://`, `redirect`…).
    /// Loading warns; the path never becomes ready.
    Unsupported(String),
}

/// Which built-in clip a synthetic source plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyntheticProfile {
    /// `synthetic`: the default clip.
    Default,
    /// `synthetic:1080p`: the 1080p clip.
    P1080,
}

/// Transport used to pull an RTSP source (`rtspTransport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceTransport {
    /// Try UDP, fall back to TCP.
    Automatic,
    /// RTP over UDP.
    Udp,
    /// RTP over UDP multicast.
    Multicast,
    /// RTP interleaved in the RTSP TCP connection.
    Tcp,
}

/// The configuration of one path: `pathDefaults` merged with the path's own keys. Equality
/// tells a config reload whether a running path keeps going or restarts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PathConf {
    /// `source` (default `publisher`).
    pub source: Source,
    /// `sourceOnDemand`: pull the source only while someone reads (default false).
    pub source_on_demand: bool,
    /// `sourceOnDemandStartTimeout`: how long readers wait for an on-demand source (10s).
    pub source_on_demand_start_timeout: Duration,
    /// `sourceOnDemandCloseAfter`: how long an unread on-demand source stays up (10s).
    pub source_on_demand_close_after: Duration,
    /// `rtspTransport`: transport for pulling RTSP sources (default automatic).
    pub rtsp_transport: SourceTransport,
    /// `overridePublisher`: a new publisher replaces the current one (default true).
    pub override_publisher: bool,
    /// `maxReaders`: readers allowed at once; 0 means no limit.
    pub max_readers: u32,
    /// `record`: record the path's stream (default false).
    pub record: bool,
    /// `recordPath`: where segments go, a template with `%path`, `%Y %m %d %H %M %S`,
    /// `%f` (microseconds), `%s` (Unix time); a local path or `s3://bucket/prefix/…`.
    /// Checked at load: it names `%path`, and `%s` or all of `%Y %m %d %H %M %S`
    /// (default `./recordings/%path/%Y-%m-%d_%H-%M-%S-%f`).
    pub record_path: String,
    /// `recordFormat`: container of recorded segments (fmp4).
    pub record_format: RecordFormat,
    /// `recordPartDuration`: length of an fMP4 part, the most a crash can lose (1s; > 0).
    pub record_part_duration: Duration,
    /// `recordMaxPartSize`: a part that grows past this many bytes is ended (50M; > 0).
    pub record_max_part_size: u64,
    /// `recordSegmentDuration`: length of a segment (1h; from `recordPartDuration` to 1d).
    pub record_segment_duration: Duration,
    /// `recordDeleteAfter`: segments older than this are deleted (1d); zero means never.
    pub record_delete_after: Duration,
    /// The `runOn*` hooks Vigia runs.
    pub hooks: HookConf,
    /// MediaMTX path keys accepted but not implemented yet, as written.
    pub unimplemented: BTreeMap<String, Value>,
}

impl Default for PathConf {
    /// MediaMTX's path defaults.
    fn default() -> PathConf {
        PathConf {
            source: Source::Publisher,
            source_on_demand: false,
            source_on_demand_start_timeout: Duration::from_secs(10),
            source_on_demand_close_after: Duration::from_secs(10),
            rtsp_transport: SourceTransport::Automatic,
            override_publisher: true,
            max_readers: 0,
            record: false,
            record_path: "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f".to_owned(),
            record_format: RecordFormat::Fmp4,
            record_part_duration: Duration::from_secs(1),
            record_max_part_size: 50 * 1024 * 1024,
            record_segment_duration: Duration::from_secs(3600),
            record_delete_after: Duration::from_secs(86_400),
            hooks: HookConf::default(),
            unimplemented: BTreeMap::new(),
        }
    }
}

impl PathConf {
    /// Whether the source is pulled by the server (RTSP or not yet supported URL).
    pub(crate) fn has_pulled_source(&self) -> bool {
        matches!(self.source, Source::Rtsp(_) | Source::Unsupported(_))
    }
}

/// How a `paths` entry's name matches requested path names.
#[derive(Debug, Clone)]
pub(crate) enum PathMatcher {
    /// A plain name: matches itself only.
    Exact,
    /// `~regex`: matches names the regular expression matches (unanchored, like Go).
    Regex(Regex),
    /// `all_others` (or `all`, or `~^.*$`): every name no other entry matches.
    AllOthers(Regex),
}

/// One entry of `paths`.
#[derive(Debug, Clone)]
pub(crate) struct PathEntry {
    /// The name as written in the file (`cam1`, `~^cam(\d+)$`, `all_others`).
    pub name: String,
    /// How the name matches requests.
    pub matcher: PathMatcher,
    /// The merged configuration.
    pub conf: PathConf,
}

/// The result of looking up a requested path name.
#[derive(Debug, Clone)]
pub(crate) struct PathMatch<'a> {
    /// The entry that matched.
    pub entry: &'a PathEntry,
    /// Regular-expression groups: `groups[0]` is `$G1`, and so on (empty if unmatched).
    /// Empty for exact names.
    #[allow(dead_code)] // read by `conf_for`
    pub groups: Vec<String>,
}

// For the path manager: regex paths with URL sources need their variables substituted.
#[allow(dead_code)]
impl PathMatch<'_> {
    /// The entry's configuration for this request, with MediaMTX's variables
    /// substituted in a URL `source`: `$G1`, `$G2`… (regular-expression groups),
    /// `$MTX_PATH` (the requested name) and `$MTX_QUERY` (the first reader's query).
    pub(crate) fn conf_for(&self, name: &str, query: &str) -> PathConf {
        let mut conf = self.entry.conf.clone();
        if let Source::Rtsp(url) | Source::Unsupported(url) = &mut conf.source {
            *url = self.substitute(url, name, query);
        }
        conf
    }

    fn substitute(&self, text: &str, name: &str, query: &str) -> String {
        let mut out = text.replace("$MTX_PATH", name).replace("$MTX_QUERY", query);
        // Highest group first, so `$G1` does not eat the start of `$G10`.
        for (i, group) in self.groups.iter().enumerate().rev() {
            out = out.replace(&format!("$G{}", i + 1), group);
        }
        out
    }
}

/// Characters MediaMTX allows in a path name besides ASCII letters and digits.
const NAME_PUNCTUATION: &str = "_-/.~:";

/// Checks that `name` can name a path, and says what is wrong if not.
///
/// The one rule for names, used by the config loader and by every request lookup
/// (`PathManager::get`). MediaMTX's rule — not empty, no leading or trailing slash, only
/// `A-Z a-z 0-9 _ - / . ~ :` — plus Vigia's refusals of what could leave a directory
/// once the name is part of a file or object name (`%path` in `recordPath`): `..`
/// anywhere, `//`, `\` and control characters.
pub(crate) fn check_path_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a path name cannot be empty");
    }
    if name.chars().any(|c| c.is_ascii_control()) {
        return Err("a path name cannot contain control characters");
    }
    if name.contains('\\') {
        return Err("a path name cannot contain a backslash");
    }
    if name.contains("..") {
        return Err("a path name cannot contain \"..\"");
    }
    if name.starts_with('/') || name.ends_with('/') {
        return Err("a path name can't begin or end with a slash");
    }
    if name.contains("//") {
        return Err("a path name cannot contain \"//\"");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || NAME_PUNCTUATION.contains(c))
    {
        return Err(
            "a path name can contain only letters, digits, underscore, dot, tilde, minus, slash and colon",
        );
    }
    Ok(())
}

/// Finds the configuration for a requested path name, as MediaMTX does: an exact
/// name wins; then `~regex` entries in name order; then `all_others`.
/// Returns `None` for invalid names and names no entry matches.
pub(crate) fn find<'a>(entries: &'a [PathEntry], name: &str) -> Option<PathMatch<'a>> {
    check_path_name(name).ok()?;
    if let Some(entry) = entries
        .iter()
        .find(|e| matches!(e.matcher, PathMatcher::Exact) && e.name == name)
    {
        return Some(PathMatch {
            entry,
            groups: Vec::new(),
        });
    }
    let mut regexes: Vec<&PathEntry> = entries
        .iter()
        .filter(|e| !matches!(e.matcher, PathMatcher::Exact))
        .collect();
    regexes.sort_by(|a, b| {
        let key = |e: &PathEntry| {
            (
                matches!(e.matcher, PathMatcher::AllOthers(_)),
                e.name.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    regexes.into_iter().find_map(|entry| {
        let (PathMatcher::Regex(re) | PathMatcher::AllOthers(re)) = &entry.matcher else {
            return None;
        };
        let caps = re.captures(name)?;
        let groups = caps
            .iter()
            .skip(1)
            .map(|m| m.map_or(String::new(), |m| m.as_str().to_owned()))
            .collect();
        Some(PathMatch { entry, groups })
    })
}

/// Applies the keys of a `pathDefaults` or `paths.<name>` mapping onto `conf`.
pub(crate) fn apply_keys(
    ctx: &mut Ctx,
    conf: &mut PathConf,
    path: &KeyPath,
    v: &Value,
) -> Result<(), ConfigError> {
    for (key, val) in ctx.mapping(path, v)? {
        let key = match hooks::alias_of(&key) {
            Some(new) => {
                let message = format!("is deprecated; read as {new}");
                ctx.warn(&path.key(&key), &message);
                new.to_owned()
            }
            None => key,
        };
        let kp = path.key(&key);
        match keys::path_kind(&key) {
            KeyKind::Implemented => set_key(ctx, conf, &key, &kp, val)?,
            KeyKind::Unimplemented => {
                ctx.warn_unimplemented(&kp);
                conf.unimplemented.insert(key, val.clone());
            }
            KeyKind::Deprecated(new) => return Err(ctx.deprecated(&kp, new)),
            KeyKind::Unknown => return Err(ctx.unknown(&kp)),
        }
    }
    Ok(())
}

/// Builds a `paths` entry: name checks, then `defaults` merged with the entry's keys.
pub(crate) fn build_entry(
    ctx: &mut Ctx,
    defaults: &PathConf,
    name: &str,
    v: &Value,
) -> Result<PathEntry, ConfigError> {
    let kp = KeyPath::default().key("paths").key(name);
    let matcher = matcher_for(ctx, &kp, name)?;
    let mut conf = defaults.clone();
    apply_keys(ctx, &mut conf, &kp, v)?;
    let entry = PathEntry {
        name: name.to_owned(),
        matcher,
        conf,
    };
    check_entry(ctx, &kp, &entry)?;
    Ok(entry)
}

fn matcher_for(ctx: &Ctx, kp: &KeyPath, name: &str) -> Result<PathMatcher, ConfigError> {
    if name == "all_others" || name == "all" || name == "~^.*$" {
        let re = Regex::new("^.*$").map_err(|e| ctx.invalid(kp, e.to_string()))?;
        return Ok(PathMatcher::AllOthers(re));
    }
    if let Some(pattern) = name.strip_prefix('~') {
        return Regex::new(pattern)
            .map(PathMatcher::Regex)
            .map_err(|e| ctx.invalid(kp, format!("invalid regular expression: {e}")));
    }
    check_path_name(name).map_err(|p| ctx.invalid(kp, format!("invalid path name: {p}")))?;
    Ok(PathMatcher::Exact)
}

/// MediaMTX's per-path consistency checks.
fn check_entry(ctx: &mut Ctx, kp: &KeyPath, entry: &PathEntry) -> Result<(), ConfigError> {
    let conf = &entry.conf;
    let is_pattern = !matches!(entry.matcher, PathMatcher::Exact);
    if is_pattern && conf.has_pulled_source() && !conf.source_on_demand {
        return Err(ctx.invalid(
            &kp.key("source"),
            "a path with a regular expression (or all_others) and a pulled source must have sourceOnDemand: true",
        ));
    }
    if conf.source_on_demand && conf.source == Source::Publisher {
        return Err(ctx.invalid(
            &kp.key("sourceOnDemand"),
            "sourceOnDemand is useless when source is \"publisher\"",
        ));
    }
    hooks::check_on_demand(ctx, kp, &conf.hooks, &conf.source)?;
    if let Source::Unsupported(s) = &conf.source {
        let msg =
            format!("source \"{s}\" is not supported by Vigia yet; this path will stay empty");
        ctx.warn(&kp.key("source"), &msg);
    }
    Ok(())
}

fn set_key(
    ctx: &Ctx,
    conf: &mut PathConf,
    key: &str,
    kp: &KeyPath,
    v: &Value,
) -> Result<(), ConfigError> {
    match key {
        "source" => conf.source = parse_source(ctx, kp, v)?,
        "sourceOnDemand" => conf.source_on_demand = ctx.boolean(kp, v)?,
        "sourceOnDemandStartTimeout" => {
            conf.source_on_demand_start_timeout = ctx.duration(kp, v)?
        }
        "sourceOnDemandCloseAfter" => conf.source_on_demand_close_after = ctx.duration(kp, v)?,
        "rtspTransport" => {
            conf.rtsp_transport = keyword(
                ctx,
                kp,
                v,
                &[
                    ("automatic", SourceTransport::Automatic),
                    ("udp", SourceTransport::Udp),
                    ("multicast", SourceTransport::Multicast),
                    ("tcp", SourceTransport::Tcp),
                ],
            )?
        }
        "overridePublisher" => conf.override_publisher = ctx.boolean(kp, v)?,
        "maxReaders" => conf.max_readers = ctx.uint(kp, v, u64::from(u32::MAX))? as u32,
        _ if record::set_key(ctx, conf, key, kp, v)? => {}
        _ if hooks::set_key(ctx, &mut conf.hooks, key, kp, v)? => {}
        _ => return Err(ctx.unknown(kp)),
    }
    Ok(())
}

/// MediaMTX source forms Vigia recognizes but cannot pull yet.
const UNSUPPORTED_SCHEMES: &[&str] = &[
    "rtsp+http://",
    "rtsps+http://",
    "rtsp+ws://",
    "rtsps+ws://",
    "rtmp://",
    "rtmps://",
    "http://",
    "https://",
    "udp+mpegts://",
    "unix+mpegts://",
    "udp+rtp://",
    "udp://",
    "srt://",
    "moqt://",
    "whep://",
    "wheps://",
];

fn parse_source(ctx: &Ctx, kp: &KeyPath, v: &Value) -> Result<Source, ConfigError> {
    let text = ctx.string(kp, v)?;
    let source = match text.as_str() {
        "publisher" => Source::Publisher,
        "synthetic" => Source::Synthetic(SyntheticProfile::Default),
        "synthetic:1080p" => Source::Synthetic(SyntheticProfile::P1080),
        "redirect" | "rpiCamera" => Source::Unsupported(text),
        t if t.starts_with("rtsp://") || t.starts_with("rtsps://") => {
            check_url_host(t).map_err(|p| ctx.invalid(kp, p))?;
            Source::Rtsp(text)
        }
        t if UNSUPPORTED_SCHEMES.iter().any(|s| t.starts_with(s)) => Source::Unsupported(text),
        _ => {
            return Err(ctx.invalid(
                kp,
                format!(
                    "\"{text}\" is not a source (use publisher, synthetic, synthetic:1080p, rtsp://… or rtsps://…)"
                ),
            ));
        }
    };
    Ok(source)
}

fn check_url_host(url: &str) -> Result<(), String> {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') || host.contains(char::is_whitespace) {
        return Err(format!("\"{url}\" is not a valid RTSP URL (no host)"));
    }
    Ok(())
}
