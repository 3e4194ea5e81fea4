//! The body of every response the HTTP listeners write: the router's own, or a media file's
//! chunks handed to hyper as one buffer that it writes with a single vectored write.
//!
//! An LL-HLS part over the units' own bytes is one chunk per received RTP fragment (~60 at
//! 2 Mbit/s). axum's body yields one contiguous `Bytes` per frame, and hyper flushes its queue
//! every 16 frames, so such a part took several `writev`s per viewer; joining the chunks instead
//! cost a copy of every watched stream and its memory. A handler that has chunks to send puts
//! them in a [`MediaChunks`] response extension, and [`ServedBody::from_response`] makes them
//! the body: one frame whose [`ChunkList`] fills up to 64 `iovec`s per write.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::Response;
use bytes::{Buf, Bytes};
use http_body::{Frame, SizeHint};

/// A response extension: the response's body is these chunks, in order, whatever body the
/// handler set (it leaves axum's empty).
#[derive(Clone)]
pub(crate) struct MediaChunks(pub(crate) Vec<Bytes>);

/// A response body as the HTTP listeners write it.
pub(crate) enum ServedBody {
    /// The router's body, frame by frame.
    Router(Body),
    /// A media file's chunks, as one frame (`None` once it was taken).
    Chunks(Option<ChunkList>),
}

impl ServedBody {
    /// The router's response with its [`MediaChunks`], if it has them, as the body.
    pub(crate) fn from_response(response: Response<Body>) -> Response<ServedBody> {
        let (mut parts, body) = response.into_parts();
        let body = match parts.extensions.remove::<MediaChunks>() {
            Some(MediaChunks(chunks)) => ServedBody::Chunks(Some(ChunkList::new(chunks))),
            None => ServedBody::Router(body),
        };
        Response::from_parts(parts, body)
    }
}

impl http_body::Body for ServedBody {
    type Data = ServedData;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<ServedData>, axum::Error>>> {
        match self.get_mut() {
            ServedBody::Router(body) => Pin::new(body)
                .poll_frame(cx)
                .map_ok(|frame| frame.map_data(ServedData::Bytes)),
            ServedBody::Chunks(chunks) => Poll::Ready(
                chunks
                    .take()
                    .map(|c| Ok(Frame::data(ServedData::Chunks(c)))),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ServedBody::Router(body) => body.is_end_stream(),
            ServedBody::Chunks(chunks) => chunks.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ServedBody::Router(body) => body.size_hint(),
            ServedBody::Chunks(chunks) => {
                SizeHint::with_exact(chunks.as_ref().map_or(0, |c| c.remaining() as u64))
            }
        }
    }
}

/// One frame of a [`ServedBody`].
pub(crate) enum ServedData {
    /// A frame of the router's body.
    Bytes(Bytes),
    /// A media file's chunks.
    Chunks(ChunkList),
}

impl Buf for ServedData {
    fn remaining(&self) -> usize {
        match self {
            ServedData::Bytes(b) => b.remaining(),
            ServedData::Chunks(c) => c.remaining(),
        }
    }

    fn chunk(&self) -> &[u8] {
        match self {
            ServedData::Bytes(b) => b.chunk(),
            ServedData::Chunks(c) => c.chunk(),
        }
    }

    fn advance(&mut self, count: usize) {
        match self {
            ServedData::Bytes(b) => b.advance(count),
            ServedData::Chunks(c) => c.advance(count),
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        match self {
            ServedData::Bytes(b) => b.chunks_vectored(dst),
            ServedData::Chunks(c) => c.chunks_vectored(dst),
        }
    }
}

/// Chunks read as one buffer, each in its own `IoSlice` of a vectored write.
pub(crate) struct ChunkList {
    /// The non-empty chunks; those before `next` are written.
    chunks: Vec<Bytes>,
    /// The first chunk not wholly written (advanced past what was).
    next: usize,
    /// Bytes not yet written.
    remaining: usize,
}

impl ChunkList {
    /// The chunks, in order (empty ones dropped).
    pub(crate) fn new(mut chunks: Vec<Bytes>) -> ChunkList {
        chunks.retain(|c| !c.is_empty());
        let remaining = chunks.iter().map(Bytes::len).sum();
        ChunkList {
            chunks,
            next: 0,
            remaining,
        }
    }
}

impl Buf for ChunkList {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.get(self.next).map_or(&[], |c| c)
    }

    fn advance(&mut self, mut count: usize) {
        assert!(
            count <= self.remaining,
            "advanced {count} bytes past the {} left",
            self.remaining
        );
        self.remaining -= count;
        while count > 0 {
            let current = &mut self.chunks[self.next];
            if count < current.len() {
                current.advance(count);
                return;
            }
            count -= current.len();
            self.next += 1;
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let pending = &self.chunks[self.next..];
        let filled = dst.len().min(pending.len());
        for (slot, chunk) in dst.iter_mut().zip(pending) {
            *slot = IoSlice::new(chunk);
        }
        filled
    }
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;

    use bytes::{Buf, Bytes};
    use http_body_util::BodyExt;

    use super::*;

    fn list(parts: &[&'static str]) -> ChunkList {
        ChunkList::new(
            parts
                .iter()
                .map(|p| Bytes::from_static(p.as_bytes()))
                .collect(),
        )
    }

    fn pending(buf: &impl Buf, slots: usize) -> Vec<String> {
        let mut dst = vec![IoSlice::new(&[]); slots];
        let n = buf.chunks_vectored(&mut dst);
        dst[..n]
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    #[test]
    fn a_chunk_list_reads_as_its_chunks_joined() {
        let mut buf = list(&["ab", "", "cde", "f"]);
        assert_eq!(buf.remaining(), 6);
        assert_eq!(buf.copy_to_bytes(6), Bytes::from_static(b"abcdef"));
        assert_eq!(buf.remaining(), 0);
        assert_eq!(buf.chunk(), b"");
    }

    #[test]
    fn a_partial_write_resumes_inside_a_chunk() {
        let mut buf = list(&["ab", "cde", "f"]);
        assert_eq!(pending(&buf, 8), ["ab", "cde", "f"]);
        buf.advance(3);
        assert_eq!(buf.chunk(), b"de");
        assert_eq!(pending(&buf, 8), ["de", "f"]);
        assert_eq!(pending(&buf, 1), ["de"], "no more slices than given");
        buf.advance(2);
        assert_eq!(pending(&buf, 8), ["f"]);
        buf.advance(1);
        assert!(pending(&buf, 8).is_empty());
    }

    #[test]
    #[should_panic(expected = "advanced 4 bytes past the 3 left")]
    fn advancing_past_the_end_is_a_bug() {
        list(&["abc"]).advance(4);
    }

    #[tokio::test]
    async fn media_chunks_replace_the_routers_body() {
        let mut response = Response::new(Body::empty());
        response.extensions_mut().insert(MediaChunks(vec![
            Bytes::from_static(b"moof"),
            Bytes::from_static(b"mdat"),
        ]));
        let served = ServedBody::from_response(response);
        assert!(served.extensions().get::<MediaChunks>().is_none());
        assert_eq!(http_body::Body::size_hint(served.body()).exact(), Some(8));
        let body = served.into_body().collect().await.expect("no error");
        assert_eq!(body.to_bytes(), Bytes::from_static(b"moofmdat"));
    }

    #[tokio::test]
    async fn any_other_response_keeps_its_body() {
        let served = ServedBody::from_response(Response::new(Body::from("playlist")));
        assert!(!http_body::Body::is_end_stream(served.body()));
        let body = served.into_body().collect().await.expect("no error");
        assert_eq!(body.to_bytes(), Bytes::from_static(b"playlist"));
    }
}
