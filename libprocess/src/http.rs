//! The HTTP types route handlers see: [`Request`], [`Response`], [`Body`],
//! [`Handler`] and the [`handler`] constructor.
//!
//! Owns the request helpers (matched process, remaining path, query, peer)
//! and response bodies (full or streamed), plus the libprocess response
//! post-processing (gzip of large non-streaming bodies). Never parses
//! `Content-Type`/`Accept`: content negotiation lives in [`crate::media`].

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::sync::mpsc;

pub use ::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

use crate::routing;

/// A request as a route handler sees it: the whole body already collected
/// (bounded by the server's max body size). Helpers live in [`RequestExt`].
pub type Request = ::http::Request<Bytes>;

/// What a handler answers.
pub type Response = ::http::Response<Body>;

/// A route handler: an `Arc`'d async function. Build one with [`handler`].
pub type Handler =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// Wraps an async closure as a [`Handler`]:
/// `handler(|req| async move { Response::new(Body::empty()) })`.
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}

/// Routing facts the server attaches to every request it hands a handler
/// (as a request extension).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteInfo {
    /// The process that owns the matched route, e.g. `master`.
    pub process_id: String,
    /// The matched route, normalized (`/api/v1/scheduler`, or `/`).
    pub route: String,
    /// What followed the route: `""` or `/x/y`.
    pub remaining: String,
    /// The client's address.
    pub peer: Option<SocketAddr>,
}

/// Helpers on [`Request`]. They work on any `http::Request` (e.g. one built
/// in a unit test), returning empty values where the server would have
/// filled something in.
pub trait RequestExt {
    /// The id of the process whose route matched (e.g. `master`); "" if the
    /// request did not come through the server.
    fn process_id(&self) -> &str;
    /// The matched route (`/state`); "" if not routed by the server.
    fn route(&self) -> &str;
    /// The path after the matched route (`""` or `/x/y`).
    fn remaining_path(&self) -> &str;
    /// The client's socket address.
    fn peer_addr(&self) -> Option<SocketAddr>;
    /// Query parameters, percent-decoded, in order (`&` or `;` separated).
    fn query_params(&self) -> Vec<(String, String)>;
    /// The first value of query parameter `key`.
    fn query_param(&self, key: &str) -> Option<String>;
    /// A header as a string (`None` if absent or not visible ASCII).
    fn header_str(&self, name: &str) -> Option<&str>;
}

impl<B> RequestExt for ::http::Request<B> {
    fn process_id(&self) -> &str {
        self.extensions()
            .get::<RouteInfo>()
            .map_or("", |i| i.process_id.as_str())
    }
    fn route(&self) -> &str {
        self.extensions()
            .get::<RouteInfo>()
            .map_or("", |i| i.route.as_str())
    }
    fn remaining_path(&self) -> &str {
        self.extensions()
            .get::<RouteInfo>()
            .map_or("", |i| i.remaining.as_str())
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        self.extensions().get::<RouteInfo>().and_then(|i| i.peer)
    }
    fn query_params(&self) -> Vec<(String, String)> {
        self.uri()
            .query()
            .map(routing::decode_query)
            .unwrap_or_default()
    }
    fn query_param(&self, key: &str) -> Option<String> {
        self.query_params()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    fn header_str(&self, name: &str) -> Option<&str> {
        self.headers().get(name).and_then(|v| v.to_str().ok())
    }
}

/// A response body: a complete buffer, or a stream of chunks sent with
/// `Transfer-Encoding: chunked` (no `Content-Length`, never compressed)
/// until the sender side is dropped.
#[derive(Debug)]
pub struct Body {
    kind: Kind,
}

/// Where an event stream's chunks come from when a component feeds it
/// without a task of its own (see [`Body::source`]): the connection that
/// writes the stream polls it whenever it can take more bytes.
pub trait ChunkSource: Send + 'static {
    /// The next chunk (ideally everything ready, in one piece, so one write
    /// carries it); `Ready(None)` ends the stream. Returning `Pending`
    /// registers `cx`'s waker as usual.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>>;

    /// Taken once, when the answer starts: resolves when the stream must
    /// be cut even though its client is not reading (nothing is polled
    /// then, as no write completes). The connection is closed at once,
    /// whatever is still unwritten. `None`: never.
    fn take_abort(&mut self) -> Option<Abort> {
        None
    }
}

/// See [`ChunkSource::take_abort`].
pub type Abort = Pin<Box<dyn Future<Output = ()> + Send>>;

enum Kind {
    /// `None` once the frame has been yielded.
    Full(Option<Bytes>),
    /// `finite`: the stream ends on its own (a file), so it is written out
    /// even after the client closed its sending side.
    Stream {
        rx: mpsc::Receiver<Bytes>,
        finite: bool,
    },
    /// An event stream polled straight from its producer.
    Source(Box<dyn ChunkSource>),
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Full(b) => f.debug_tuple("Full").field(b).finish(),
            Kind::Stream { finite, .. } => {
                f.debug_struct("Stream").field("finite", finite).finish()
            }
            Kind::Source(_) => f.write_str("Source"),
        }
    }
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        Body {
            kind: Kind::Full(if bytes.is_empty() { None } else { Some(bytes) }),
        }
    }

    pub fn empty() -> Body {
        Body {
            kind: Kind::Full(None),
        }
    }

    /// A streaming body fed by `rx`. The stream ends when every sender is
    /// dropped. When the client goes away the server drops the body, so the
    /// sender's `closed()` resolves and `send()` fails: that is how a
    /// component learns a streaming client disconnected.
    ///
    /// Such a stream (an event stream) lives as long as its client: when the
    /// client closes its side of the connection, the server closes the
    /// connection, as libprocess does.
    pub fn stream(rx: mpsc::Receiver<Bytes>) -> Body {
        Body {
            kind: Kind::Stream { rx, finite: false },
        }
    }

    /// A stream that ends on its own (a file being sent): it is written out
    /// in full even to a client that closed its sending side after its
    /// request (a half-close), like a full body.
    pub fn finite_stream(rx: mpsc::Receiver<Bytes>) -> Body {
        Body {
            kind: Kind::Stream { rx, finite: true },
        }
    }

    /// An event stream (as [`Body::stream`]) whose chunks the connection
    /// writing it polls from `source` directly: no task and no channel sit
    /// between the producer and the socket, and whatever the source has
    /// ready goes out in one write.
    pub fn source(source: impl ChunkSource) -> Body {
        Body {
            kind: Kind::Source(Box::new(source)),
        }
    }

    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stream { .. } | Kind::Source(_))
    }

    /// A source's [`ChunkSource::take_abort`].
    pub fn take_abort(&mut self) -> Option<Abort> {
        match &mut self.kind {
            Kind::Source(source) => source.take_abort(),
            _ => None,
        }
    }

    /// A stream that lasts as long as its client (see [`Body::stream`]).
    pub fn is_event_stream(&self) -> bool {
        matches!(
            self.kind,
            Kind::Stream { finite: false, .. } | Kind::Source(_)
        )
    }

    /// The bytes of a full body (`None` for a stream). Handy in tests.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Full(Some(b)) => Some(b),
            Kind::Full(None) => Some(&[]),
            Kind::Stream { .. } | Kind::Source(_) => None,
        }
    }

    /// Collects the whole body, waiting for a stream to end. Handy in tests.
    pub async fn collect_bytes(self) -> Bytes {
        match self.kind {
            Kind::Full(b) => b.unwrap_or_default(),
            Kind::Stream { mut rx, .. } => {
                let mut out = Vec::new();
                while let Some(chunk) = rx.recv().await {
                    out.extend_from_slice(&chunk);
                }
                Bytes::from(out)
            }
            Kind::Source(mut source) => {
                let mut out = Vec::new();
                while let Some(chunk) = std::future::poll_fn(|cx| source.poll_chunk(cx)).await {
                    out.extend_from_slice(&chunk);
                }
                Bytes::from(out)
            }
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::full(b)
    }
}
impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::full(b)
    }
}
impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::full(s)
    }
}
impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(Bytes::from_static(s.as_bytes()))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream { rx, .. } => loop {
                match rx.poll_recv(cx) {
                    // An empty chunk would read as the chunked terminator.
                    Poll::Ready(Some(chunk)) if chunk.is_empty() => continue,
                    Poll::Ready(Some(chunk)) => return Poll::Ready(Some(Ok(Frame::data(chunk)))),
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            },
            Kind::Source(source) => loop {
                match source.poll_chunk(cx) {
                    Poll::Ready(Some(chunk)) if chunk.is_empty() => continue,
                    Poll::Ready(Some(chunk)) => return Poll::Ready(Some(Ok(Frame::data(chunk)))),
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream { .. } | Kind::Source(_) => SizeHint::default(),
        }
    }
}

/// Builds a response with `status` and a full body.
pub fn response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r
}

/// Upstream's `GZIP_MINIMUM_BODY_LENGTH`.
pub const GZIP_MINIMUM_BODY_LENGTH: usize = 1024;

/// Whether `Accept-Encoding` accepts `encoding` (RFC 7231 rules as upstream's
/// `Request::acceptsEncoding`: listed with q > 0, or not listed and `*` with
/// q > 0). A missing header accepts nothing here: compressing is optional.
pub fn accepts_encoding(headers: &HeaderMap, encoding: &str) -> bool {
    let mut star: Option<bool> = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let mut q = 1.0_f64;
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = v.trim().parse().unwrap_or(0.0);
                    }
                }
            }
            if coding.eq_ignore_ascii_case(encoding) {
                return q > 0.0;
            }
            if coding == "*" {
                star = Some(q > 0.0);
            }
        }
    }
    star.unwrap_or(false)
}

/// Gzips a non-streaming body of at least 1024 bytes when the request
/// accepts gzip and the handler did not already set `Content-Encoding`
/// (upstream's `HttpResponseEncoder`). Streams are never touched.
pub(crate) fn maybe_gzip(request_headers: &HeaderMap, response: Response) -> Response {
    let eligible = match response.body().as_bytes() {
        Some(b) => b.len() >= GZIP_MINIMUM_BODY_LENGTH,
        None => false,
    };
    if !eligible
        || response.headers().contains_key(header::CONTENT_ENCODING)
        || !accepts_encoding(request_headers, "gzip")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let raw = body.as_bytes().unwrap_or_default();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = encoder.write_all(raw).and_then(|_| encoder.finish());
    match compressed {
        Ok(gz) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            Response::from_parts(parts, Body::full(gz))
        }
        Err(e) => {
            // As upstream: log and send the body uncompressed.
            tracing::warn!("failed to gzip response body: {e}");
            Response::from_parts(parts, body)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hyper::body::Body as _;
    use std::io::Read;

    fn hm(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn accept_encoding_rules() {
        assert!(accepts_encoding(&hm("gzip"), "gzip"));
        assert!(accepts_encoding(&hm("deflate, gzip;q=0.5"), "gzip"));
        assert!(accepts_encoding(&hm("GZIP"), "gzip"));
        assert!(!accepts_encoding(&hm("gzip;q=0"), "gzip"));
        assert!(!accepts_encoding(&hm("deflate"), "gzip"));
        assert!(accepts_encoding(&hm("*"), "gzip"));
        assert!(!accepts_encoding(&hm("*;q=0"), "gzip"));
        assert!(!accepts_encoding(&hm("gzip;q=0, *"), "gzip"));
        assert!(!accepts_encoding(&HeaderMap::new(), "gzip"));
    }

    #[test]
    fn gzips_only_large_full_bodies() {
        let big = "x".repeat(2000);
        let r = maybe_gzip(&hm("gzip"), response(StatusCode::OK, big.clone()));
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        let mut out = String::new();
        flate2::read::GzDecoder::new(r.body().as_bytes().unwrap())
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, big);

        let small = maybe_gzip(&hm("gzip"), response(StatusCode::OK, "x".repeat(1023)));
        assert!(small.headers().get(header::CONTENT_ENCODING).is_none());

        let no_accept = maybe_gzip(&HeaderMap::new(), response(StatusCode::OK, big.clone()));
        assert!(no_accept.headers().get(header::CONTENT_ENCODING).is_none());

        let (_tx, rx) = mpsc::channel(1);
        let stream = maybe_gzip(&hm("gzip"), response(StatusCode::OK, Body::stream(rx)));
        assert!(stream.headers().get(header::CONTENT_ENCODING).is_none());
    }

    #[test]
    fn request_helpers() {
        let mut req: Request = ::http::Request::builder()
            .uri("/master/files/read?path=%2Fvar%2Flog&offset=10")
            .header("x-a", "b")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(req.process_id(), "");
        assert_eq!(req.peer_addr(), None);
        assert_eq!(req.query_param("path").as_deref(), Some("/var/log"));
        assert_eq!(req.query_param("offset").as_deref(), Some("10"));
        assert_eq!(req.query_param("nope"), None);
        assert_eq!(req.header_str("x-a"), Some("b"));
        req.extensions_mut().insert(RouteInfo {
            process_id: "files".into(),
            route: "/read".into(),
            remaining: "/x".into(),
            peer: Some("127.0.0.1:9".parse().unwrap()),
        });
        assert_eq!(req.process_id(), "files");
        assert_eq!(req.route(), "/read");
        assert_eq!(req.remaining_path(), "/x");
        assert_eq!(req.peer_addr(), Some("127.0.0.1:9".parse().unwrap()));
    }

    #[tokio::test]
    async fn bodies() {
        let b = Body::full("abc");
        assert_eq!(b.size_hint().exact(), Some(3));
        assert!(!b.is_end_stream());
        assert_eq!(b.collect_bytes().await, Bytes::from_static(b"abc"));
        let e = Body::empty();
        assert!(e.is_end_stream());
        assert_eq!(e.size_hint().exact(), Some(0));
        let (tx, rx) = mpsc::channel(4);
        let s = Body::stream(rx);
        assert!(s.is_stream());
        assert_eq!(s.size_hint().exact(), None);
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        tx.send(Bytes::new()).await.unwrap();
        tx.send(Bytes::from_static(b"b")).await.unwrap();
        drop(tx);
        assert_eq!(s.collect_bytes().await, Bytes::from_static(b"ab"));
    }
}
