//! An in-process fake HTTP endpoint on 127.0.0.1 for tests (feature
//! `test-support`): a fake master for this crate's tests, a fake agent for the
//! executor's.
//!
//! Every request is handed to the test as a [`FakeRequest`]; the test answers
//! it with a full body or with a stream it feeds record by record. It owns no
//! protocol knowledge and is never used by the binaries.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::header::HeaderMap;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot};

/// One request received by the fake server, waiting for its answer.
pub struct FakeRequest {
    /// Which accepted connection carried it (numbered from 0).
    pub connection: u64,
    /// The request path (with query).
    pub path: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The whole request body.
    pub body: Bytes,
    respond: oneshot::Sender<Response<ChannelBody>>,
}

impl FakeRequest {
    /// A header as text (empty if absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    /// Answers with a complete body.
    pub fn respond(self, status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) {
        let (tx, rx) = mpsc::channel(1);
        let body: Bytes = body.into();
        if !body.is_empty() {
            // Capacity 1 and a fresh channel: this cannot fail.
            let _ = tx.try_send(body);
        }
        drop(tx);
        self.send(status, headers, rx);
    }

    /// Answers with a streaming (chunked) body; each `Bytes` sent on the
    /// returned channel goes out as one chunk, and dropping it ends the body.
    pub fn respond_stream(self, status: u16, headers: &[(&str, &str)]) -> mpsc::Sender<Bytes> {
        let (tx, rx) = mpsc::channel(64);
        self.send(status, headers, rx);
        tx
    }

    fn send(self, status: u16, headers: &[(&str, &str)], rx: mpsc::Receiver<Bytes>) {
        let mut response = Response::new(ChannelBody { rx });
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (
                hyper::header::HeaderName::from_bytes(name.as_bytes()),
                hyper::header::HeaderValue::from_str(value),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        // The client may be gone already; the test will notice otherwise.
        let _ = self.respond.send(response);
    }
}

/// A response body fed from a channel (chunked on the wire).
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// The fake server: accepts HTTP/1.1 connections on 127.0.0.1 and queues
/// their requests for the test.
pub struct FakeServer {
    addr: SocketAddr,
    requests: mpsc::UnboundedReceiver<FakeRequest>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    /// Binds 127.0.0.1:0 and starts accepting.
    pub async fn start() -> std::io::Result<FakeServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, requests) = mpsc::unbounded_channel();
        let accept_loop = tokio::spawn(async move {
            let mut connections = 0u64;
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                let connection = connections;
                connections += 1;
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let tx = tx.clone();
                        async move { Ok::<_, Infallible>(forward(request, connection, tx).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FakeServer {
            addr,
            requests,
            accept_loop,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// The next request (None once the server is gone).
    pub async fn next_request(&mut self) -> Option<FakeRequest> {
        self.requests.recv().await
    }

    /// Stops accepting new connections (existing ones keep running until
    /// their answers are dropped).
    pub fn stop_accepting(&self) {
        self.accept_loop.abort();
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn forward(
    request: hyper::Request<Incoming>,
    connection: u64,
    tx: mpsc::UnboundedSender<FakeRequest>,
) -> Response<ChannelBody> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let (respond, answer) = oneshot::channel();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let queued = tx.send(FakeRequest {
        connection,
        path,
        headers: parts.headers,
        body,
        respond,
    });
    let unanswered = || {
        let (_, rx) = mpsc::channel(1);
        let mut response = Response::new(ChannelBody { rx });
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response
    };
    if queued.is_err() {
        return unanswered();
    }
    answer.await.unwrap_or_else(|_| unanswered())
}

/// Frames `message` as one RecordIO record in `content_type`.
pub fn record<M: prost::Message + prost::Name>(
    content_type: crate::ContentType,
    message: &M,
) -> Bytes {
    mesos_proto::recordio::encode(&content_type.encode(message))
}
