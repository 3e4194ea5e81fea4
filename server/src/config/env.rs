//! Environment overrides: `MTX_*` (MediaMTX's) and `VIGIA_*` (Vigia's, applied last).
//!
//! As in MediaMTX, the variable name is the key path flattened and uppercased:
//! `MTX_RTSPADDRESS`, `MTX_PATHDEFAULTS_SOURCE`, `MTX_PATHS_CAM1_SOURCE` (path names
//! are lowercased, unless a path of the file matches ignoring case),
//! `MTX_AUTHINTERNALUSERS_0_PERMISSIONS_1_ACTION`. Lists are comma-separated
//! (`MTX_RTSPTRANSPORTS=tcp,udp`), booleans `yes/no/true/false`. Variables that name
//! no key are ignored, as MediaMTX does. Overrides are applied to the YAML tree
//! before it is typed, so they are checked exactly like the file.

use std::collections::HashMap;

use serde_yaml::{Mapping, Value};

use super::keys;
use super::lines::{KeyPath, Seg};

/// Prefixes read, in the order applied (a later one wins).
const PREFIXES: &[&str] = &["MTX_", "VIGIA_"];

/// Keys whose environment value is a comma-separated list, besides every `…AllowOrigins` and
/// `…TrustedProxies` key ([`is_list_key`]).
const LIST_KEYS: &[&str] = &[
    "logDestinations",
    "rtspTransports",
    "rtspAuthMethods",
    "ips",
    "webrtcIPsFromInterfacesList",
    "webrtcAdditionalHosts",
    "rtspUDPSourcePortRange",
    "rpiCameraAWBGains",
];

/// Whether `key` holds a list of plain values, given in the environment comma-separated.
fn is_list_key(key: &str) -> bool {
    LIST_KEYS.contains(&key) || key.ends_with("AllowOrigins") || key.ends_with("TrustedProxies")
}

/// MediaMTX's default `authInternalUsers`, used as the base when an override edits
/// a user and the file has none (so `_0_` edits the first default user, as in MediaMTX).
const DEFAULT_USERS_YAML: &str = "\
- user: any
  permissions: [{action: publish}, {action: read}, {action: playback}]
- user: any
  ips: ['127.0.0.1', '::1']
  permissions: [{action: api}, {action: metrics}, {action: pprof}]
";

/// Applies the overrides in `env` to `root`; returns, for each key path set, the
/// variable that set it (for error messages).
pub(crate) fn apply(root: &mut Mapping, env: &HashMap<String, String>) -> HashMap<String, String> {
    let mut origins = HashMap::new();
    for prefix in PREFIXES {
        let mut vars: Vec<(&String, &String)> = env
            .iter()
            .filter(|(k, _)| k.to_ascii_uppercase().starts_with(prefix))
            .collect();
        vars.sort();
        for (var, value) in vars {
            let flat = var.to_ascii_uppercase()[prefix.len()..].to_owned();
            let Some(path) = resolve(root, &flat) else {
                continue;
            };
            set(root, &path, value);
            origins.insert(path.to_string(), var.clone());
        }
    }
    origins
}

/// Maps a flattened, uppercased name (without prefix) to a key path.
fn resolve(root: &Mapping, flat: &str) -> Option<KeyPath> {
    let base = KeyPath::default();
    if let Some(rest) = flat.strip_prefix("PATHDEFAULTS_") {
        return path_key(rest).map(|k| base.key("pathDefaults").key(k));
    }
    if let Some(rest) = flat.strip_prefix("PATHS_") {
        let (name, key) = rest.rsplit_once('_')?;
        let key = path_key(key)?;
        return Some(base.key("paths").key(&path_name(root, name)).key(key));
    }
    if let Some(rest) = flat.strip_prefix("AUTHINTERNALUSERS_") {
        return user_key(rest)
            .map(|tail| KeyPath([vec![Seg::Key("authInternalUsers".into())], tail].concat()));
    }
    let key = keys::global_keys()
        .find(|k| k.to_ascii_uppercase() == flat && *k != "authInternalUsers")?;
    Some(base.key(key))
}

fn path_key(flat: &str) -> Option<&'static str> {
    keys::PATH_IMPLEMENTED
        .iter()
        .chain(keys::PATH_UNIMPLEMENTED)
        .find(|k| k.to_ascii_uppercase() == flat)
        .copied()
}

/// The path name an override refers to: a path of the file equal ignoring case, else
/// the lowercased name (MediaMTX's rule).
fn path_name(root: &Mapping, upper: &str) -> String {
    let existing = root
        .get("paths")
        .and_then(Value::as_mapping)
        .and_then(|paths| {
            paths
                .keys()
                .filter_map(Value::as_str)
                .find(|n| n.eq_ignore_ascii_case(upper))
                .map(str::to_owned)
        });
    existing.unwrap_or_else(|| upper.to_ascii_lowercase())
}

/// `0_USER`, `0_IPS`, `0_PERMISSIONS_1_ACTION` → key path segments.
fn user_key(flat: &str) -> Option<Vec<Seg>> {
    let (index, rest) = flat.split_once('_')?;
    let mut segs = vec![Seg::Index(index.parse().ok()?)];
    match rest {
        "USER" | "PASS" | "IPS" => segs.push(Seg::Key(rest.to_ascii_lowercase())),
        _ => {
            let perm = rest.strip_prefix("PERMISSIONS_")?;
            let (j, field) = perm.split_once('_')?;
            if field != "ACTION" && field != "PATH" {
                return None;
            }
            segs.push(Seg::Key("permissions".into()));
            segs.push(Seg::Index(j.parse().ok()?));
            segs.push(Seg::Key(field.to_ascii_lowercase()));
        }
    }
    Some(segs)
}

/// Sets `path` in `root` to the environment value, creating maps and list items.
fn set(root: &mut Mapping, path: &KeyPath, value: &str) {
    if path.0.first() == Some(&Seg::Key("authInternalUsers".into()))
        && !root.contains_key("authInternalUsers")
    {
        let defaults = serde_yaml::from_str(DEFAULT_USERS_YAML).unwrap_or(Value::Null);
        root.insert("authInternalUsers".into(), defaults);
    }
    let is_list = path.last_key().is_some_and(is_list_key);
    let leaf = if is_list {
        let items = value
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| Value::String(s.to_owned()));
        Value::Sequence(items.collect())
    } else {
        Value::String(value.to_owned())
    };
    let mut node = Value::Mapping(std::mem::take(root));
    *slot(&mut node, &path.0) = leaf;
    if let Value::Mapping(m) = node {
        *root = m;
    }
}

/// The slot at `segs` under `node`, created as needed.
fn slot<'v>(node: &'v mut Value, segs: &[Seg]) -> &'v mut Value {
    let Some((first, rest)) = segs.split_first() else {
        return node;
    };
    match first {
        Seg::Key(k) => {
            if !node.is_mapping() {
                *node = Value::Mapping(Mapping::new());
            }
            let Value::Mapping(m) = node else {
                unreachable!()
            };
            let child = m.entry(Value::String(k.clone())).or_insert(Value::Null);
            slot(child, rest)
        }
        Seg::Index(i) => {
            if !node.is_sequence() {
                *node = Value::Sequence(Vec::new());
            }
            let Value::Sequence(items) = node else {
                unreachable!()
            };
            while items.len() <= *i {
                items.push(Value::Mapping(Mapping::new()));
            }
            slot(&mut items[*i], rest)
        }
    }
}
