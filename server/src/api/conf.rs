//! `/v3/config/*`: the configuration as MediaMTX shows it, and paths added, changed and removed
//! through the API.
//!
//! What is shown is MediaMTX's default `mediamtx.yml` (every key, MediaMTX's defaults) with the
//! keys of the loaded document laid over it, as written; a path adds its own keys over
//! `pathDefaults`. Paths added through the API are checked by the config loader, become
//! runtime paths at once ([`PathManager::add_dynamic`]) and are kept in the state file (see
//! [`super::store`]). Paths of the config file are changed, replaced and deleted through an
//! override layer kept with the saved global changes and applied at once (see
//! [`super::saved::paths`]). Global keys and `pathDefaults` can be changed for the next start
//! or reload of the config file (see [`super::saved`]).
//!
//! [`PathManager::add_dynamic`]: crate::paths::PathManager::add_dynamic

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value};
use serde_yaml::Mapping;

use super::saved::paths::{PathChange, PathOverride, combine};
use super::store::PathKeys;
use super::{
    Api, Failure, bad_request, error, failure, json_object, json_response, list_body, name_param,
    ok_json, ok_status,
};
use crate::config::PathMatcher;
use crate::paths::lock;

/// MediaMTX's default configuration file (v1.20), the base every key's value is shown over.
const MEDIAMTX_DEFAULTS: &str = include_str!("../../testdata/mediamtx.yml");

/// The default file's top level, parsed once.
static DEFAULTS: LazyLock<Mapping> = LazyLock::new(|| {
    serde_yaml::from_str::<serde_yaml::Value>(MEDIAMTX_DEFAULTS)
        .ok()
        .and_then(|v| v.as_mapping().cloned())
        .unwrap_or_default()
});

/// `GET /v3/config/global/get`.
pub(super) async fn global_get(State(api): State<Arc<Api>>) -> Response {
    let mut global = to_json_map(&DEFAULTS);
    overlay(&mut global, to_json_map(&api.paths.document()));
    global.remove("paths");
    global.remove("pathDefaults");
    if let Some(Value::Array(users)) = global.get_mut("authInternalUsers") {
        for user in users.iter_mut().filter_map(Value::as_object_mut) {
            redact(user, &["pass"]);
        }
    }
    ok_json(&Value::Object(global))
}

/// `GET /v3/config/pathdefaults/get`.
pub(super) async fn path_defaults_get(State(api): State<Arc<Api>>) -> Response {
    ok_json(&Value::Object(path_defaults(&api)))
}

/// Global keys that `config/global/patch` refuses: the sections have their own routes, and the
/// spool directory locates the file the changes are kept in.
const NOT_PATCHABLE: &[&str] = &["paths", "pathDefaults", "recordSpoolDirectory"];

/// `PATCH /v3/config/global/patch`: checked now, applied at the next start (see
/// [`super::saved`]).
pub(super) async fn global_patch(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let keys = match json_object(&body) {
        Ok(keys) => keys,
        Err(f) => return failure(f),
    };
    if let Some(key) = keys.keys().find(|k| NOT_PATCHABLE.contains(&k.as_str())) {
        return bad_request(&format!("{key} can't be changed with config/global/patch"));
    }
    save_change(&api, "global", keys)
}

/// `PATCH /v3/config/pathdefaults/patch`: checked now, applied at the next start.
pub(super) async fn path_defaults_patch(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    match json_object(&body) {
        Ok(keys) => save_change(&api, "pathDefaults", keys),
        Err(f) => failure(f),
    }
}

fn save_change(api: &Api, section: &str, keys: PathKeys) -> Response {
    let saved = lock(&api.saved).patch(&api.paths.document(), section, keys);
    match saved {
        Ok(()) => {
            tracing::info!("[API] {section} changed; the change applies at the next start");
            ok_status()
        }
        Err(e) => bad_request(&e),
    }
}

/// `GET /v3/config/paths/list`: the config file's paths, then the API's, by name.
pub(super) async fn paths_list(State(api): State<Arc<Api>>, uri: Uri) -> Response {
    let key = ListKey {
        document: api.paths.document(),
        added: lock(&api.added).all().clone(),
        query: uri.query().unwrap_or("").to_owned(),
    };
    if let Some(body) = lock(&api.config_list).get(&key) {
        return json_response(StatusCode::OK, body);
    }
    match list_body(&uri, paths_list_items(&api, &key.document, &key.added)) {
        Ok(body) => {
            let body = Bytes::from(body);
            lock(&api.config_list).0 = Some((key, body.clone()));
            json_response(StatusCode::OK, body)
        }
        Err(message) => bad_request(&message),
    }
}

/// The last `config/paths/list` answer and what it was built from. The answer changes only
/// with the config document (start and every reload set a new `Arc`), the paths the API
/// added, and the page asked for; a poller asking again gets the same bytes without every
/// path's config being built again (1.6 ms for 100 paths).
#[derive(Default)]
pub(super) struct ListCache(Option<(ListKey, Bytes)>);

/// What a `config/paths/list` answer depends on.
pub(super) struct ListKey {
    document: Arc<Mapping>,
    added: BTreeMap<String, PathKeys>,
    query: String,
}

impl ListCache {
    /// The cached answer, if it was built from `key`'s sources.
    fn get(&self, key: &ListKey) -> Option<Bytes> {
        let (cached, body) = self.0.as_ref()?;
        let same = Arc::ptr_eq(&cached.document, &key.document)
            && cached.added == key.added
            && cached.query == key.query;
        same.then(|| body.clone())
    }
}

/// Every path's config, by name: the document's paths and the API's.
fn paths_list_items(
    api: &Api,
    document: &Mapping,
    added: &BTreeMap<String, PathKeys>,
) -> Vec<Value> {
    // The document's sections are converted once per request, not once per path (that made
    // the list quadratic in paths: 8 ms for 100 paths).
    let files = section(document, "paths");
    let defaults = path_defaults_of(document);
    let mut names: Vec<String> = files.keys().cloned().collect();
    names.extend(added.keys().cloned());
    names.sort();
    names
        .iter()
        .filter_map(|name| path_conf_over(api, &defaults, &files, name))
        .map(Value::Object)
        .collect()
}

/// `GET /v3/config/paths/get/{name}`.
pub(super) async fn paths_get(State(api): State<Arc<Api>>, name: UrlPath<String>) -> Response {
    match path_conf(&api, &name_param(name)) {
        Some(conf) => ok_json(&Value::Object(conf)),
        None => error(StatusCode::NOT_FOUND, "path configuration not found"),
    }
}

/// `POST /v3/config/paths/add/{name}`.
pub(super) async fn paths_add(
    State(api): State<Arc<Api>>,
    name: UrlPath<String>,
    body: Bytes,
) -> Response {
    let name = name_param(name);
    let _one_at_a_time = lock(&api.writes);
    // A runtime path the API did not add is an event camera's.
    if file_paths(&api).contains_key(&name) || api.paths.is_runtime(&name) {
        return bad_request("path already exists");
    }
    let deleted = lock(&api.saved).path_override(&name) == Some(PathOverride::Delete);
    match json_object(&body) {
        Ok(keys) if deleted => change_file_path(&api, &name, PathChange::Add(keys)),
        Ok(keys) => apply(&api, &name, keys),
        Err(f) => failure(f),
    }
}

/// `PATCH /v3/config/paths/patch/{name}`: the body's keys over the path's.
pub(super) async fn paths_patch(
    State(api): State<Arc<Api>>,
    name: UrlPath<String>,
    body: Bytes,
) -> Response {
    let name = name_param(name);
    let _one_at_a_time = lock(&api.writes);
    let target = match target(&api, &name) {
        Ok(target) => target,
        Err(f) => return failure(f),
    };
    match (json_object(&body), target) {
        (Ok(patch), Target::Added(mut keys)) => {
            keys.extend(patch);
            apply(&api, &name, keys)
        }
        (Ok(patch), Target::File) => change_file_path(&api, &name, PathChange::Patch(patch)),
        (Err(f), _) => failure(f),
    }
}

/// `POST /v3/config/paths/replace/{name}`: the body's keys instead of the path's.
pub(super) async fn paths_replace(
    State(api): State<Arc<Api>>,
    name: UrlPath<String>,
    body: Bytes,
) -> Response {
    let name = name_param(name);
    let _one_at_a_time = lock(&api.writes);
    let target = match target(&api, &name) {
        Ok(target) => target,
        Err(f) => return failure(f),
    };
    match (json_object(&body), target) {
        (Ok(keys), Target::Added(_)) => apply(&api, &name, keys),
        (Ok(keys), Target::File) => change_file_path(&api, &name, PathChange::Replace(keys)),
        (Err(f), _) => failure(f),
    }
}

/// `DELETE /v3/config/paths/delete/{name}`: a runtime path stops and leaves the state file; a
/// path of the config file stops and stays deleted.
pub(super) async fn paths_delete(State(api): State<Arc<Api>>, name: UrlPath<String>) -> Response {
    let name = name_param(name);
    let _one_at_a_time = lock(&api.writes);
    match target(&api, &name) {
        Ok(Target::Added(_)) => {}
        Ok(Target::File) => return change_file_path(&api, &name, PathChange::Delete),
        Err(f) => return failure(f),
    }
    let removed = lock(&api.added).remove(&name);
    match removed {
        Ok(_) => {
            api.paths.remove_dynamic(&name);
            tracing::info!(path = %name, "[API] path removed");
            ok_status()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// Starts the paths the API added in earlier runs. One the current config refuses is logged
/// and kept in the file, so fixing the config brings it back.
pub(super) fn restore(api: &Api) {
    let added: Vec<(String, PathKeys)> = lock(&api.added)
        .all()
        .iter()
        .map(|(n, k)| (n.clone(), k.clone()))
        .collect();
    for (name, keys) in added {
        match start_path(api, &name, &keys) {
            Ok(()) => tracing::info!(path = %name, "[API] path restored from the state file"),
            Err(e) => {
                tracing::warn!(path = %name, "[API] path from the state file not started: {e}")
            }
        }
    }
}

/// What `config/paths/patch|replace|delete` changes.
enum Target {
    /// A path the API added, with its keys.
    Added(PathKeys),
    /// A path of the config file (as the API's overrides left it).
    File,
}

/// Which path `name` is, or 404.
fn target(api: &Api, name: &str) -> Result<Target, Failure> {
    if let Some(keys) = lock(&api.added).get(name) {
        return Ok(Target::Added(keys.clone()));
    }
    if file_paths(api).contains_key(name) {
        return Ok(Target::File);
    }
    Err((
        StatusCode::NOT_FOUND,
        "path configuration not found".to_string(),
    ))
}

/// Saves `change` to the config file's path `name` as an override, after checking that the
/// configuration with it loads, then applies it as a reload of the config would.
fn change_file_path(api: &Api, name: &str, change: PathChange) -> Response {
    let document = api.paths.document();
    let mut saved = lock(&api.saved);
    let new = combine(saved.path_override(name).as_ref(), change);
    let document = match saved.set_path(&document, name, new) {
        Ok(document) => document,
        Err(e) => return bad_request(&e),
    };
    drop(saved);
    match crate::reload::apply_document(&api.paths, document) {
        Ok(()) => {
            tracing::info!(path = %name, "[API] config file path changed");
            ok_status()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// Checks `keys`, (re)starts the runtime path and saves it.
fn apply(api: &Api, name: &str, keys: PathKeys) -> Response {
    if let Err(e) = start_path(api, name, &keys) {
        return bad_request(&e);
    }
    let saved = lock(&api.added).set(name, keys);
    if let Err(e) = saved {
        api.paths.remove_dynamic(name);
        return error(StatusCode::INTERNAL_SERVER_ERROR, &e);
    }
    tracing::info!(path = %name, "[API] path configured");
    ok_status()
}

/// Builds the path's config with the loader's checks and starts it as a runtime path.
fn start_path(api: &Api, name: &str, keys: &PathKeys) -> Result<(), String> {
    let yaml = serde_yaml::to_value(keys).map_err(|e| e.to_string())?;
    let config = api.paths.config();
    let entry = config
        .path_entry(name, &yaml, "the request body")
        .map_err(|e| e.to_string())?;
    if !matches!(entry.matcher, PathMatcher::Exact) {
        return Err(
            "only plain path names can be added through the API (regular expressions and all_others belong in the config file)"
                .to_string(),
        );
    }
    api.paths
        .add_dynamic(name, entry.conf, None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The config of path `name` as MediaMTX shows it: `pathDefaults`, the path's keys, its name.
fn path_conf(api: &Api, name: &str) -> Option<Map<String, Value>> {
    path_conf_over(api, &path_defaults(api), &file_paths(api), name)
}

/// [`path_conf`] from the `pathDefaults` and the document's `paths`, already converted.
fn path_conf_over(
    api: &Api,
    defaults: &Map<String, Value>,
    files: &Map<String, Value>,
    name: &str,
) -> Option<Map<String, Value>> {
    let own = match lock(&api.added).get(name) {
        Some(keys) => keys.clone(),
        None => match files.get(name)? {
            Value::Object(keys) => keys.clone(),
            _ => Map::new(),
        },
    };
    let mut conf = defaults.clone();
    overlay(&mut conf, own);
    redact(&mut conf, PATH_CREDENTIALS);
    conf.insert("name".to_string(), Value::String(name.to_string()));
    Some(conf)
}

/// MediaMTX's `pathDefaults` with the document's laid over them.
fn path_defaults(api: &Api) -> Map<String, Value> {
    path_defaults_of(&api.paths.document())
}

/// [`path_defaults`] of `document`.
fn path_defaults_of(document: &Mapping) -> Map<String, Value> {
    let mut defaults = section(&DEFAULTS, "pathDefaults");
    overlay(&mut defaults, section(document, "pathDefaults"));
    redact(&mut defaults, PATH_CREDENTIALS);
    defaults
}

/// Path keys holding a password, shown redacted.
const PATH_CREDENTIALS: &[&str] = &["publishPass", "readPass"];

/// Replaces the non-empty values of `keys` with MediaMTX's `<redacted>`.
fn redact(map: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(value) = map.get_mut(*key)
            && value.as_str().is_some_and(|s| !s.is_empty())
        {
            *value = Value::String("<redacted>".to_string());
        }
    }
}

/// Lays `keys` over `base`. A switch written `yes`/`no` (a string to YAML 1.2, a boolean to
/// MediaMTX) is shown as the boolean the default's type says it is.
fn overlay(base: &mut Map<String, Value>, keys: Map<String, Value>) {
    for (key, value) in keys {
        let value = match (base.get(&key), &value) {
            (Some(Value::Bool(_)), Value::String(s)) => match s.as_str() {
                "yes" | "true" => Value::Bool(true),
                "no" | "false" => Value::Bool(false),
                _ => value,
            },
            _ => value,
        };
        base.insert(key, value);
    }
}

/// The `paths` of the config document, as JSON.
fn file_paths(api: &Api) -> Map<String, Value> {
    section(&api.paths.document(), "paths")
}

fn section(doc: &Mapping, key: &str) -> Map<String, Value> {
    match doc.get(key) {
        Some(serde_yaml::Value::Mapping(m)) => to_json_map(m),
        _ => Map::new(),
    }
}

/// A YAML mapping as a JSON object; keys that are not strings (never in a valid config)
/// are left out.
fn to_json_map(mapping: &Mapping) -> Map<String, Value> {
    mapping
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), serde_json::to_value(v).ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(document: &Arc<Mapping>, added: &[&str], query: &str) -> ListKey {
        ListKey {
            document: document.clone(),
            added: added.iter().map(|n| (n.to_string(), Map::new())).collect(),
            query: query.to_owned(),
        }
    }

    #[test]
    fn the_config_list_is_reused_only_while_its_sources_are_the_same() {
        let document = Arc::new(Mapping::new());
        let body = Bytes::from_static(b"{}");
        let cache = ListCache(Some((key(&document, &["a"], ""), body.clone())));
        assert_eq!(cache.get(&key(&document, &["a"], "")), Some(body));
        let reloaded = Arc::new(Mapping::new());
        assert_eq!(cache.get(&key(&reloaded, &["a"], "")), None, "a reload");
        assert_eq!(
            cache.get(&key(&document, &["a", "b"], "")),
            None,
            "an API path"
        );
        assert_eq!(
            cache.get(&key(&document, &["a"], "page=1")),
            None,
            "another page"
        );
        assert_eq!(ListCache::default().get(&key(&document, &[], "")), None);
    }
}
