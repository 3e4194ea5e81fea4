//! CORS for the HTTP listeners (playback, API): which origin `Access-Control-Allow-Origin`
//! names, from a `playbackAllowOrigins` / `apiAllowOrigins` list, as MediaMTX decides it.

/// `Access-Control-Allow-Origin` for `origin` under an `*AllowOrigins` list, as MediaMTX's
/// HTTP servers decide it: the origin itself when an entry matches its scheme, host and port
/// (default ports implied; `*` in an entry's host matches any run of characters, `*.` also
/// none), else `*` if listed, else nothing.
pub(crate) fn allowed_origin(origin: Option<&str>, allowed: &[String]) -> Option<String> {
    let parts = origin.and_then(origin_parts);
    let matched = parts.is_some_and(|o| {
        allowed
            .iter()
            .filter_map(|a| origin_parts(a))
            .any(|a| a.0 == o.0 && a.2 == o.2 && host_matches(&a.1, &o.1))
    });
    if matched {
        return origin.map(str::to_owned);
    }
    allowed.iter().any(|a| a == "*").then(|| "*".to_owned())
}

/// `(scheme, host, port)` of `scheme://host[:port]`, lowercase, the port defaulted for http
/// and https.
fn origin_parts(origin: &str) -> Option<(String, String, u16)> {
    let origin = origin.to_ascii_lowercase();
    let (scheme, rest) = origin.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let default = match scheme {
        "http" => 80,
        "https" => 443,
        _ => 0,
    };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']')?;
            (format!("[{addr}]"), after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default,
    };
    (!scheme.is_empty() && !host.is_empty()).then(|| (scheme.to_owned(), host, port))
}

/// Whether `host` matches `pattern`: a leading `*.` matches any subdomains or none, `*` any
/// run of characters.
fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => host == domain || glob(pattern, host),
        None => glob(pattern, host),
    }
}

/// Whether `text` matches `pattern`, where `*` is any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((literal, rest)) => text.strip_prefix(literal).is_some_and(|tail| {
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob(rest, &tail[i..]))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_allowed_as_mediamtx_allows_them() {
        let cases: &[(&[&str], Option<&str>, Option<&str>)] = &[
            (&["*"], Some("http://a.example.com"), Some("*")),
            (&["*"], None, Some("*")),
            (&[], Some("http://a.example.com"), None),
            (
                &["http://a.example.com"],
                Some("http://a.example.com"),
                Some("http://a.example.com"),
            ),
            (
                &["http://a.example.com"],
                Some("http://a.example.com:80"),
                Some("http://a.example.com:80"),
            ),
            (
                &["http://a.example.com"],
                Some("https://a.example.com"),
                None,
            ),
            (
                &["http://a.example.com", "*"],
                Some("http://b.example.com"),
                Some("*"),
            ),
            (
                &["http://*.example.com"],
                Some("http://cam.example.com"),
                Some("http://cam.example.com"),
            ),
            (
                &["http://*.example.com"],
                Some("http://x.y.example.com"),
                Some("http://x.y.example.com"),
            ),
            (
                &["http://*.example.com"],
                Some("http://example.com"),
                Some("http://example.com"),
            ),
            (&["http://*.example.com"], Some("http://example.org"), None),
            (
                &["http://*.example.com"],
                Some("http://cam.example.com:8080"),
                None,
            ),
            (&["http://localhost:*"], Some("http://localhost:3000"), None),
            (&["http://a.example.com"], Some("null"), None),
        ];
        for (allowed, origin, expected) in cases {
            let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                allowed_origin(*origin, &allowed).as_deref(),
                *expected,
                "{allowed:?} {origin:?}"
            );
        }
    }
}
