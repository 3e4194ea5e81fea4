//! `vigia events publish FILE`: reading the file into events to send as they were written.
//!
//! Every event is validated with [`Event::from_slice`], but what is sent is the event's own text
//! from the file, not a re-encoding of the parsed [`Event`]: attributes and data fields this build
//! does not model (`traceparent`, other CloudEvents extensions, a newer optional field) reach the
//! bus untouched.
//!
//! The one exception: a `camera.created` or `camera.updated` whose `data.credentials.password`
//! is written in clear (as an operator would) is sealed on the way, with the sealing key of the
//! environment's keyring ([`Keyring::from_env`]), bound to its camera id, URL and username, and
//! its `dataversion` 1 (or none) becomes 2; that event is re-encoded (its unknown fields kept, its
//! keys in serde_json's order). With no key configured it is refused, as a consumer would refuse
//! it. Credentials in `data.rtspUrl` are refused, not moved: the file should say which is the
//! username and which the password.

use serde_json::Value;
use serde_json::value::RawValue;

use crate::payload::clear_secret;
use crate::secret::userinfo_span;
use crate::{
    Error, Event, EventType, KEY_ENV, KEY_ID_ENV, KEYS_ENV, Keyring, camera_password_context,
};

/// One event from the file: parsed (for its type and id) and its body as written.
#[derive(Debug)]
pub(super) struct Outgoing {
    /// The validated event.
    pub(super) event: Event,
    /// The event's JSON exactly as in the file (for a JSON lines file, the line), or as
    /// re-encoded after sealing its camera password.
    pub(super) body: Vec<u8>,
    /// The id of the key its camera password was sealed with here, if it was.
    pub(super) sealed_with: Option<String>,
}

/// Where the CLI gets its keyring, when an event needs one: [`Keyring::from_env`] in the
/// command, a fixed one in tests.
pub(super) type KeySource<'a> = &'a dyn Fn() -> Result<Option<Keyring>, Error>;

/// Parses a JSON object, a JSON array of objects, or JSON lines; every event must be valid once
/// a clear camera password is sealed with a key from `keys`.
pub(super) fn parse_file(text: &str, keys: KeySource<'_>) -> Result<Vec<Outgoing>, Error> {
    let bodies: Vec<&str> = match serde_json::from_str::<Vec<&RawValue>>(text) {
        Ok(items) => items.into_iter().map(RawValue::get).collect(),
        Err(_) => match serde_json::from_str::<&RawValue>(text) {
            Ok(one) if one.get().starts_with('{') => vec![one.get()],
            _ => text.lines().filter(|l| !l.trim().is_empty()).collect(),
        },
    };
    bodies
        .into_iter()
        .map(|body| {
            let (body, sealed_with) = match seal_clear_password(body, keys)? {
                Some((sealed, key_id)) => (sealed, Some(key_id)),
                None => (body.as_bytes().to_vec(), None),
            };
            let event = Event::from_slice(&body)?;
            Ok(Outgoing {
                event,
                body,
                sealed_with,
            })
        })
        .collect()
}

/// If `body` is a camera event with its password in clear, the event with the password sealed
/// and the sealing key's id; `None` for any other event (which validation then judges).
fn seal_clear_password(
    body: &str,
    keys: KeySource<'_>,
) -> Result<Option<(Vec<u8>, String)>, Error> {
    let Ok(mut event) = serde_json::from_str::<Value>(body) else {
        return Ok(None);
    };
    let ty = event.get("type").and_then(Value::as_str);
    let Some(ty) = ty.and_then(EventType::from_name) else {
        return Ok(None);
    };
    let Some(reason) = clear_secret(ty, event.get("data")) else {
        return Ok(None);
    };
    let id = event.get("id").and_then(Value::as_str).unwrap_or("(no id)");
    let refuse = |reason: String| Error::Invalid {
        what: format!("{ty} {id:?}"),
        reason,
    };
    let url = event.pointer("/data/rtspUrl").and_then(Value::as_str);
    if url.and_then(userinfo_span).is_some() {
        return Err(refuse(
            "data.rtspUrl carries credentials before '@'; write the username in \
             data.credentials.username and the password in data.credentials.password, which \
             `vigia events publish` seals"
                .into(),
        ));
    }
    if event
        .pointer("/data/credentials/password")
        .is_none_or(|p| !p.is_string())
    {
        return Err(refuse(reason));
    }
    let Some(keyring) = keys()? else {
        return Err(refuse(format!(
            "data.credentials.password is in clear and no key is configured to seal it: set \
             {KEYS_ENV}, or {KEY_ENV} with {KEY_ID_ENV} (see docs/events.md, \"Camera \
             credentials\")"
        )));
    };
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
    let (Some(camera_id), Some(url), Some(username), Some(password)) = (
        text("/data/cameraId"),
        text("/data/rtspUrl"),
        text("/data/credentials/username"),
        text("/data/credentials/password"),
    ) else {
        return Err(refuse(
            "cannot seal data.credentials.password: data.cameraId, data.rtspUrl and \
             data.credentials.username must be strings"
                .into(),
        ));
    };
    let context = camera_password_context(camera_id, url, username);
    let sealed = keyring.encrypt_secret(password, &context);
    let sealed = serde_json::to_value(sealed).unwrap_or(Value::Null);
    if let Some(p) = event.pointer_mut("/data/credentials/password") {
        *p = sealed;
    }
    let version = event.get("dataversion");
    if version.is_none() || version.and_then(Value::as_i64) == Some(1) {
        event["dataversion"] = ty.current_version().into();
    }
    let body = serde_json::to_vec(&event).unwrap_or_default();
    Ok(Some((body, keyring.sealing_key_id().to_owned())))
}

/// `json` without the whitespace between tokens (strings untouched), so that an event written
/// over several lines fits one line of a JSON lines file. Everything else is kept byte for byte.
pub(super) fn minify(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                in_string = true;
                out.push(b);
            }
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventData, example_keyring};

    fn no_keys() -> Result<Option<Keyring>, Error> {
        Ok(None)
    }

    /// camera.created as an operator writes it: password in clear, version 1, a traceparent.
    fn clear_camera(edit: impl Fn(&mut Value)) -> String {
        let mut v = crate::examples()[0].to_json();
        v["data"]["credentials"]["password"] = "pa:ss@word".into();
        v["dataversion"] = 1.into();
        v["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into();
        edit(&mut v);
        v.to_string()
    }

    #[test]
    fn a_clear_camera_password_is_sealed_with_a_configured_key_else_refused() {
        let keys = || Ok(Some(example_keyring()));
        let out = parse_file(&clear_camera(|_| {}), &keys).unwrap();
        let [o] = out.as_slice() else {
            panic!("one event")
        };
        assert_eq!(o.sealed_with.as_deref(), Some("example"));
        let body: Value = serde_json::from_slice(&o.body).unwrap();
        assert_eq!(body["dataversion"], 2);
        assert!(body["traceparent"].is_string(), "unknown attributes kept");
        assert!(!String::from_utf8_lossy(&o.body).contains("pa:ss@word"));
        let EventData::CameraCreated(camera) = &o.event.data else {
            panic!("camera.created")
        };
        let login = camera.login(Some(&example_keyring())).unwrap().unwrap();
        assert_eq!(login.password, "pa:ss@word");

        let refused: &[(&str, String, &str)] = &[
            ("no key", clear_camera(|_| {}), "no key is configured"),
            ("no key", clear_camera(|_| {}), "VIGIA_EVENTS_KEYS"),
            (
                "login in URL",
                clear_camera(|v| v["data"]["rtspUrl"] = "rtsp://u:p@h/x".into()),
                "data.rtspUrl carries credentials",
            ),
            (
                "no username",
                clear_camera(|v| {
                    v["data"]["credentials"]
                        .as_object_mut()
                        .unwrap()
                        .remove("username");
                }),
                "must be strings",
            ),
        ];
        for (name, text, want) in refused {
            let keys = || Ok(Some(example_keyring()));
            let source: KeySource<'_> = if *name == "no key" { &no_keys } else { &keys };
            let err = parse_file(text, source).unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
            assert!(
                !err.contains("pa:ss@word"),
                "{name} leaks the password: {err}"
            );
        }
        let bad_env = || Err(Error::Keys("VIGIA_EVENTS_KEYS entry 1: …".into()));
        let err = parse_file(&clear_camera(|_| {}), &bad_env).unwrap_err();
        assert!(err.to_string().contains("entry 1"), "{err}");
    }

    #[test]
    fn sealed_events_need_no_key_and_stay_untouched() {
        let text = crate::examples()[0].to_json().to_string();
        let never = || -> Result<Option<Keyring>, Error> { panic!("keys read for nothing") };
        let out = parse_file(&text, &never).unwrap();
        assert_eq!(out[0].body, text.as_bytes());
        assert_eq!(out[0].sealed_with, None);
    }

    /// An example event with what this build does not model: a `traceparent`, another
    /// extension, an unknown data field, and its own key order, spacing and number forms.
    fn with_extras(i: usize) -> String {
        let base = crate::examples()[i].to_json().to_string();
        let extras = "{\n  \"traceparent\": \"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\",\n  \"tenantid\" : \"campinas\",\n  ";
        base.replacen('{', extras, 1).replacen(
            "\"data\":{",
            "\"data\":{\"vendorNote\": {\"keep\": [1, 2.50, \"a b\"]},",
            1,
        )
    }

    #[test]
    fn bodies_are_the_events_as_written() {
        let (a, b) = (with_extras(6), with_extras(7));
        assert!(Event::from_slice(a.as_bytes()).is_ok(), "{a}");
        let line = |s: &str| String::from_utf8(minify(s.as_bytes())).unwrap();
        let lines = format!("{}\n\n{}\n", line(&a), line(&b));
        let cases = [
            ("one object", a.clone(), vec![a.clone()]),
            ("array", format!("[{a}, {b}]"), vec![a.clone(), b.clone()]),
            (
                "lines",
                lines.clone(),
                lines
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect(),
            ),
        ];
        for (name, text, want) in cases {
            let got: Vec<String> = parse_file(&text, &no_keys)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .into_iter()
                .map(|o| String::from_utf8(o.body).unwrap())
                .collect();
            assert_eq!(got, want, "{name}");
        }
        assert!(parse_file("{\"specversion\":\"1.0\"}", &no_keys).is_err());
        assert!(parse_file("[{\"specversion\":\"1.0\"}]", &no_keys).is_err());
    }

    #[test]
    fn minify_keeps_strings_and_drops_only_whitespace_between_tokens() {
        let cases: &[(&str, &str)] = &[
            ("{ \"a\" : [1, 2.50] }", "{\"a\":[1,2.50]}"),
            ("{\"s\": \"a b\\\" c\\\\\"}\n", "{\"s\":\"a b\\\" c\\\\\"}"),
            (
                "{\"t\":\"\\t\",\r\n \"u\":\"é  x\"}",
                "{\"t\":\"\\t\",\"u\":\"é  x\"}",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(String::from_utf8(minify(input.as_bytes())).unwrap(), *want);
        }
        let pretty = with_extras(0);
        let compact: serde_json::Value =
            serde_json::from_slice(&minify(pretty.as_bytes())).unwrap();
        assert_eq!(
            compact,
            serde_json::from_str::<serde_json::Value>(&pretty).unwrap()
        );
    }
}
