//! The libprocess request decoder (hyper's HTTP/1.1 parsing plus our
//! message recognition and routing) replayed over real sockets: every file
//! under `libprocess/fuzz/corpus/request_decode/` is sent raw to a live
//! server, which must answer or close without crashing, and keep serving
//! `/health` to the next client. Seeds cover messages, percent-encoded ids,
//! chunked and truncated bodies, absurd lengths, `..` and pipelining.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use libprocess::http::{response, StatusCode};
use libprocess::{handler, Body, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

async fn send(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut answer = Vec::new();
    let _ = timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    answer
}

#[tokio::test]
async fn every_corpus_request_is_answered_or_closed_and_the_server_keeps_serving() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::builder("master")
        .route(
            "master",
            "/health",
            handler(|_| async { response(StatusCode::OK, Body::empty()) }),
        )
        .route(
            "master",
            "/api/v1/scheduler",
            handler(|r| async move { response(StatusCode::OK, Body::from(r.body().clone())) }),
        )
        .messages("master", tx)
        .header_timeout(Duration::from_secs(1))
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr();
    let _serving = server.serve();
    tokio::spawn(async move { while rx.recv().await.is_some() {} });

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/request_decode");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "corpus missing under {}", dir.display());
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let answer = send(addr, &bytes).await;
        if !answer.is_empty() {
            assert!(
                answer.starts_with(b"HTTP/1.1 "),
                "{}: not an HTTP answer: {:?}",
                file.display(),
                String::from_utf8_lossy(&answer[..answer.len().min(80)])
            );
        }
        let health = send(addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(
            health.starts_with(b"HTTP/1.1 200"),
            "after {}: /health answered {:?}",
            file.display(),
            String::from_utf8_lossy(&health)
        );
    }
    // `..` is never routed.
    let dotdot = send(addr, b"GET /master/../health HTTP/1.1\r\n\r\n").await;
    assert!(
        dotdot.starts_with(b"HTTP/1.1 404"),
        "{:?}",
        String::from_utf8_lossy(&dotdot)
    );
}
