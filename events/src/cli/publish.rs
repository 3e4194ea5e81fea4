//! `vigia events publish FILE`: reading the file into events to send as they were written.
//!
//! Every event is validated with [`Event::from_slice`], but what is sent is the event's own text
//! from the file, not a re-encoding of the parsed [`Event`]: attributes and data fields this build
//! does not model (`traceparent`, other CloudEvents extensions, a newer optional field) reach the
//! bus untouched.

use serde_json::value::RawValue;

use crate::{Error, Event};

/// One event from the file: parsed (for its type and id) and its body as written.
#[derive(Debug)]
pub(super) struct Outgoing {
    /// The validated event.
    pub(super) event: Event,
    /// The event's JSON exactly as in the file (for a JSON lines file, the line).
    pub(super) body: Vec<u8>,
}

/// Parses a JSON object, a JSON array of objects, or JSON lines; every event must be valid.
pub(super) fn parse_file(text: &str) -> Result<Vec<Outgoing>, Error> {
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
            let event = Event::from_slice(body.as_bytes())?;
            Ok(Outgoing {
                event,
                body: body.as_bytes().to_vec(),
            })
        })
        .collect()
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
            let got: Vec<String> = parse_file(&text)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .into_iter()
                .map(|o| String::from_utf8(o.body).unwrap())
                .collect();
            assert_eq!(got, want, "{name}");
        }
        assert!(parse_file("{\"specversion\":\"1.0\"}").is_err());
        assert!(parse_file("[{\"specversion\":\"1.0\"}]").is_err());
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
