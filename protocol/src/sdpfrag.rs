//! Trickle ICE SDP fragments (RFC 8840 §4.4, `application/trickle-ice-sdpfrag`), the body of a
//! WHIP/WHEP `PATCH` (RFC 9725 §4.3): the client's ICE credentials and the candidates it
//! gathered after its offer. Parsed as text; the candidate attributes themselves are left to
//! the ICE agent, which has its own parser.

use std::fmt;

/// Largest fragment accepted: a browser's trickled candidates are a few hundred bytes each.
pub const MAX_FRAGMENT: usize = 16 * 1024;

/// A parsed trickle ICE fragment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdpFrag {
    /// `a=ice-ufrag`, when given.
    pub ufrag: Option<String>,
    /// `a=ice-pwd`, when given.
    pub pwd: Option<String>,
    /// Each `a=candidate` as `candidate:<value>` (RFC 8839 §5.1), in order.
    pub candidates: Vec<String>,
    /// Whether `a=end-of-candidates` was given.
    pub end_of_candidates: bool,
}

/// Why a fragment was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpFragError {
    /// Larger than [`MAX_FRAGMENT`].
    TooLarge(usize),
    /// Not UTF-8.
    NotText,
    /// A line that is not `<type>=<value>`, with its number (from 1).
    BadLine(usize),
    /// An `a=candidate` with nothing after it, with its line number.
    EmptyCandidate(usize),
}

impl fmt::Display for SdpFragError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge(n) => write!(f, "the fragment is {n} bytes, over {MAX_FRAGMENT}"),
            Self::NotText => write!(f, "the fragment is not UTF-8 text"),
            Self::BadLine(n) => write!(f, "line {n} is not an SDP line (<type>=<value>)"),
            Self::EmptyCandidate(n) => write!(f, "line {n}: a=candidate has no value"),
        }
    }
}

impl std::error::Error for SdpFragError {}

impl SdpFrag {
    /// Parses a fragment. Lines other than ICE credentials, candidates and
    /// `end-of-candidates` (`m=`, `a=mid`…) are read and skipped.
    pub fn parse(body: &[u8]) -> Result<SdpFrag, SdpFragError> {
        if body.len() > MAX_FRAGMENT {
            return Err(SdpFragError::TooLarge(body.len()));
        }
        let text = std::str::from_utf8(body).map_err(|_| SdpFragError::NotText)?;
        let mut frag = SdpFrag::default();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let Some((kind, value)) = line.split_once('=') else {
                return Err(SdpFragError::BadLine(number));
            };
            if kind.len() != 1 || !kind.as_bytes()[0].is_ascii_lowercase() {
                return Err(SdpFragError::BadLine(number));
            }
            if kind == "a" {
                frag.attribute(value, number)?;
            }
        }
        Ok(frag)
    }

    fn attribute(&mut self, value: &str, number: usize) -> Result<(), SdpFragError> {
        let (name, rest) = value.split_once(':').unwrap_or((value, ""));
        match name {
            "ice-ufrag" => self.ufrag = Some(rest.trim().to_string()),
            "ice-pwd" => self.pwd = Some(rest.trim().to_string()),
            "end-of-candidates" => self.end_of_candidates = true,
            "candidate" if rest.trim().is_empty() => {
                return Err(SdpFragError::EmptyCandidate(number));
            }
            "candidate" => self.candidates.push(format!("candidate:{}", rest.trim())),
            _ => {}
        }
        Ok(())
    }
}

impl fmt::Display for SdpFrag {
    /// The fragment as SDP lines (CRLF), in the order [`SdpFrag::parse`] reads them back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ufrag) = &self.ufrag {
            write!(f, "a=ice-ufrag:{ufrag}\r\n")?;
        }
        if let Some(pwd) = &self.pwd {
            write!(f, "a=ice-pwd:{pwd}\r\n")?;
        }
        for candidate in &self.candidates {
            write!(f, "a={candidate}\r\n")?;
        }
        if self.end_of_candidates {
            write!(f, "a=end-of-candidates\r\n")?;
        }
        Ok(())
    }
}

/// Fuzz entry point (`fuzz/fuzz_targets/sdpfrag.rs`, replayed by the normal test run): any
/// input parses or is refused without panicking, and a parsed fragment survives being written
/// and read back.
pub fn fuzz_sdpfrag(data: &[u8]) {
    let Ok(frag) = SdpFrag::parse(data) else {
        return;
    };
    assert!(frag.candidates.iter().all(|c| c.len() > "candidate:".len()));
    let written = frag.to_string();
    if written.len() <= MAX_FRAGMENT {
        let again = SdpFrag::parse(written.as_bytes()).expect("a written fragment parses");
        assert_eq!(again, frag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROMIUM: &str = "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n\
        m=audio 9 RTP/AVP 0\r\na=mid:0\r\n\
        a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\n\
        a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host\r\n\
        a=end-of-candidates\r\n";

    #[test]
    fn a_browser_fragment_gives_credentials_and_candidates() {
        let frag = SdpFrag::parse(CHROMIUM.as_bytes()).unwrap();
        assert_eq!(frag.ufrag.as_deref(), Some("EsAw"));
        assert_eq!(frag.pwd.as_deref(), Some("P2uYro0UCOQ4zxjKXaWCBui1"));
        assert_eq!(frag.candidates.len(), 2);
        assert!(frag.candidates[0].starts_with("candidate:1387637174 1 udp"));
        assert!(frag.end_of_candidates);
    }

    #[test]
    fn bad_fragments_name_their_problem() {
        let big = vec![b'a'; MAX_FRAGMENT + 1];
        assert_eq!(
            SdpFrag::parse(&big),
            Err(SdpFragError::TooLarge(MAX_FRAGMENT + 1))
        );
        assert_eq!(SdpFrag::parse(&[0xff]), Err(SdpFragError::NotText));
        assert_eq!(
            SdpFrag::parse(b"a=mid:0\nhello\n"),
            Err(SdpFragError::BadLine(2))
        );
        assert_eq!(SdpFrag::parse(b"AB=x"), Err(SdpFragError::BadLine(1)));
        assert_eq!(
            SdpFrag::parse(b"a=candidate:  \r\n"),
            Err(SdpFragError::EmptyCandidate(1))
        );
        let message = SdpFragError::BadLine(3).to_string();
        assert!(message.contains("line 3"), "{message}");
    }

    #[test]
    fn a_fragment_reads_back_what_it_writes() {
        let frag = SdpFrag::parse(CHROMIUM.as_bytes()).unwrap();
        assert_eq!(SdpFrag::parse(frag.to_string().as_bytes()).unwrap(), frag);
        fuzz_sdpfrag(CHROMIUM.as_bytes());
        fuzz_sdpfrag(b"a=ice-ufrag: x \r\na=candidate:1 \n");
    }

    #[test]
    fn an_empty_fragment_carries_nothing() {
        assert_eq!(SdpFrag::parse(b"").unwrap(), SdpFrag::default());
    }
}
