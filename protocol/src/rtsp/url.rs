//! The parts of RTSP URLs a server needs: path, query and the per-track control suffix.
//!
//! RTSP URLs (RFC 2326 §3.2) look like HTTP ones. Clients build per-track URLs by appending the
//! SDP `a=control` value to the Content-Base (RFC 2326 §C.1.1), which gives both
//! `rtsp://h/path/trackID=0?query` and, from ffmpeg with a query in the base,
//! `rtsp://h/path?query/trackID=0`. Both forms are understood here.

/// Path (no leading or trailing `/`) and query (no `?`) of an RTSP URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlParts {
    /// Path without leading or trailing slashes, e.g. `cam1` or `city/cam1`.
    pub path: String,
    /// Query without `?`, possibly empty.
    pub query: String,
}

/// Splits `rtsp://user:pass@host:port/path?query` into path and query.
///
/// Returns `None` for something that is not an absolute `rtsp`/`rtsps` URL.
pub fn split_url(uri: &str) -> Option<UrlParts> {
    let rest = path_and_query(uri)?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    Some(UrlParts {
        path: path.trim_matches('/').to_owned(),
        query: query.trim_end_matches('/').to_owned(),
    })
}

/// Everything after the authority (`/path?query`), or `None` if not an RTSP URL.
pub fn path_and_query(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("rtsp") && !scheme.eq_ignore_ascii_case("rtsps") {
        return None;
    }
    Some(
        rest.find(['/', '?'])
            .and_then(|i| rest.get(i..))
            .unwrap_or(""),
    )
}

/// Splits a per-track SETUP URL into the stream's URL parts and the track number.
///
/// The last segment must be `trackID=N` (also `streamid=N` or `stream=N`), before or inside the
/// query. Without one the URL names the stream itself and the track is `None`.
pub fn split_track_url(uri: &str) -> Option<(UrlParts, Option<usize>)> {
    let mut parts = split_url(uri)?;
    if let Some((q, n)) = strip_track_suffix(&parts.query) {
        parts.query = q.to_owned();
        return Some((parts, Some(n)));
    }
    if let Some((p, n)) = strip_track_suffix(&parts.path) {
        parts.path = p.trim_end_matches('/').to_owned();
        return Some((parts, Some(n)));
    }
    Some((parts, None))
}

/// Resolves an SDP `a=control` value against a base URL (RFC 2326 §C.1.1).
pub fn resolve_control(base: &str, control: &str) -> String {
    if control.contains("://") {
        return control.to_owned();
    }
    if control == "*" || control.is_empty() {
        return base.to_owned();
    }
    format!("{}/{}", base.trim_end_matches('/'), control)
}

fn strip_track_suffix(s: &str) -> Option<(&str, usize)> {
    let (head, last) = match s.rsplit_once('/') {
        Some((h, l)) => (h, l),
        None => ("", s),
    };
    let (key, n) = last.split_once('=')?;
    let known = ["trackid", "streamid", "stream"];
    if !known.iter().any(|k| key.eq_ignore_ascii_case(k)) {
        return None;
    }
    Some((head, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_urls() {
        let cases: &[(&str, &str, &str, Option<usize>)] = &[
            ("rtsp://h:8554/cam1", "cam1", "", None),
            ("rtsp://h/cam1/", "cam1", "", None),
            ("rtsp://u:p@h/city/cam1/trackID=1", "city/cam1", "", Some(1)),
            (
                "rtsp://h/cam1/trackID=0?token=a",
                "cam1",
                "token=a",
                Some(0),
            ),
            (
                "rtsp://h/cam1?token=a/trackID=2",
                "cam1",
                "token=a",
                Some(2),
            ),
            ("rtsp://h/cam1/streamid=1", "cam1", "", Some(1)),
            ("RTSP://h", "", "", None),
        ];
        for (uri, path, query, track) in cases {
            let (p, t) = split_track_url(uri).unwrap();
            assert_eq!(
                (p.path.as_str(), p.query.as_str(), *track),
                (*path, *query, t),
                "{uri}"
            );
        }
        assert_eq!(split_track_url("http://h/x"), None);
        assert_eq!(split_track_url("*"), None);
    }

    #[test]
    fn resolve() {
        assert_eq!(
            resolve_control("rtsp://h/a/", "trackID=1"),
            "rtsp://h/a/trackID=1"
        );
        assert_eq!(resolve_control("rtsp://h/a", "rtsp://x/y"), "rtsp://x/y");
        assert_eq!(resolve_control("rtsp://h/a", "*"), "rtsp://h/a");
    }
}
