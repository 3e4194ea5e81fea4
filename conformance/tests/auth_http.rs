//! `authMethod: http` against an endpoint the test runs, which allows user `good` with password
//! `pw` and token `tok`, and refuses everything else with a 401. Every attempt through every
//! listener (RTSP, HLS, API, metrics, playback) reaches it as one POST with MediaMTX's JSON
//! fields, and its answer decides: Basic credentials, Bearer tokens (and MediaMTX's
//! `Bearer user:pass`), an RTSP `?token=`, nothing at all. What `authHTTPExclude` lists is
//! allowed without asking.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use vigia_conformance::access::{Door, Listeners, Presented};
use vigia_conformance::http_server::{HttpServer, Received};

/// The fields MediaMTX posts.
const FIELDS: [&str; 10] = [
    "ip",
    "user",
    "password",
    "token",
    "action",
    "path",
    "protocol",
    "id",
    "query",
    "userAgent",
];

#[test]
fn every_attempt_is_posted_with_mediamtx_fields_and_the_answer_decides() {
    let endpoint = HttpServer::start(|request| {
        let body = request.json();
        let good = (body["user"] == "good" && body["password"] == "pw") || body["token"] == "tok";
        if good {
            (200, "text/plain", String::new())
        } else {
            (401, "text/plain", "nope".to_owned())
        }
    });
    let listeners = Listeners::fresh();
    let vigia = listeners.start(&format!(
        "authMethod: http\nauthHTTPAddress: {}\nauthHTTPExclude: [{{action: read, path: open}}]\npaths:\n  cam:\n    source: synthetic\n  open:\n    source: synthetic\n  all_others:\n",
        endpoint.url("/auth")
    ));
    let cases = cases();
    let tries: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(n, case)| (case.door, case.path.as_str(), case.presented(n)))
        .collect();
    let answers = listeners.attempt_all(&tries);
    let received = endpoint.received();
    for (n, (case, answer)) in cases.iter().zip(answers).enumerate() {
        let context = format!("case {n} {case:?}");
        assert_eq!(answer, case.status, "{context}\n{}", vigia.logs());
        check_posted(case, n, &received, &context);
    }
    let asked = cases.iter().filter(|case| !case.excluded()).count();
    assert_eq!(received.len(), asked, "one POST per attempt not excluded");
    assert!(
        vigia.logs().contains("nope"),
        "a refusal logs the endpoint's answer"
    );
}

/// How a case presents itself.
#[derive(Clone, Copy, Debug)]
enum Creds {
    Basic(&'static str, &'static str),
    /// A Bearer token; MediaMTX reads `user:pass` as a user and password.
    Bearer(&'static str),
    /// `?token=` in the URL.
    QueryToken(&'static str),
    Nothing,
}

/// One attempt and the answer expected.
#[derive(Debug)]
struct Case {
    door: Door,
    path: String,
    creds: Creds,
    status: u16,
}

impl Case {
    /// The URL query of case `n` (`n=<n>` identifies its POST).
    fn query(&self, n: usize) -> String {
        match self.creds {
            Creds::QueryToken(token) => format!("token={token}&n={n}"),
            _ => format!("n={n}"),
        }
    }

    fn presented(&self, n: usize) -> Presented {
        let mut presented = match self.creds {
            Creds::Basic(user, pass) => Presented::basic(user, pass),
            Creds::Bearer(token) => Presented::bearer(token),
            Creds::QueryToken(_) | Creds::Nothing => Presented::nothing(),
        };
        presented.query = self.query(n);
        presented
    }

    /// The fields MediaMTX would post for case `n`, but `id` and `userAgent`. Its `token` is
    /// the token, else the password.
    fn fields(&self, n: usize) -> Value {
        let (user, password, token) = match self.creds {
            Creds::Basic(user, pass) => (user, pass, pass),
            Creds::Bearer(token) => match token.split_once(':') {
                Some((user, pass)) => (user, pass, pass),
                None => ("", "", token),
            },
            Creds::QueryToken(token) => ("", "", token),
            Creds::Nothing => ("", "", ""),
        };
        let path = match self.door {
            Door::Api | Door::Metrics => "",
            _ => &self.path,
        };
        json!({
            "ip": "127.0.0.1", "user": user, "password": password, "token": token,
            "action": self.door.action(), "path": path, "protocol": self.door.protocol(),
            "query": self.query(n),
        })
    }

    /// Whether `authHTTPExclude` lets it through without asking.
    fn excluded(&self) -> bool {
        self.path == "open" && self.door.action() == "read"
    }
}

/// Each door with good and bad credentials, a few more ways to present them, and what is
/// excluded. Each publisher has a path of its own, as they run at once.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for door in Door::ALL {
        let token = match door {
            Door::RtspPublish | Door::RtspRead => Creds::QueryToken("tok"),
            _ => Creds::Bearer("tok"),
        };
        for (creds, status) in [
            (Creds::Basic("good", "pw"), 200),
            (token, 200),
            (Creds::Basic("good", "wrong"), 401),
            (Creds::Nothing, 401),
        ] {
            let path = match door {
                Door::RtspPublish => format!("pub{}", cases.len()),
                _ => "cam".to_owned(),
            };
            cases.push(Case {
                door,
                path,
                creds,
                status,
            });
        }
    }
    let more = [
        (Door::Api, "", Creds::Bearer("good:pw"), 200),
        (Door::Hls, "cam", Creds::Bearer("bad"), 401),
        (Door::RtspRead, "open", Creds::Nothing, 200),
        (Door::Hls, "open", Creds::Nothing, 200),
    ];
    cases.extend(more.map(|(door, path, creds, status)| Case {
        door,
        path: path.to_owned(),
        creds,
        status,
    }));
    cases
}

/// Case `n` was posted once, as MediaMTX posts it, unless excluded.
fn check_posted(case: &Case, n: usize, received: &[Received], context: &str) {
    let tag = format!("n={n}");
    let posted: Vec<&Received> = received
        .iter()
        .filter(|r| {
            let query = r.json()["query"].as_str().map(str::to_owned);
            query.is_some_and(|q| q.split('&').any(|p| p == tag))
        })
        .collect();
    if case.excluded() {
        assert!(posted.is_empty(), "{context}: excluded, yet {posted:?}");
        return;
    }
    let [request] = posted[..] else {
        panic!("{context}: posted {} times: {posted:?}", posted.len());
    };
    let sent = (request.method.as_str(), request.target.as_str());
    assert_eq!(sent, ("POST", "/auth"), "{context}");
    let content_type = request.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "{context}");
    let body = request.json();
    let keys: BTreeSet<&str> = body
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, BTreeSet::from(FIELDS), "{context}");
    for (field, value) in case.fields(n).as_object().into_iter().flatten() {
        assert_eq!(&body[field], value, "{context}: field {field}");
    }
    assert!(body["id"].is_null() || body["id"].is_string(), "{context}");
}
