//! The body of the libprocess fuzz target, shared (through `#[path]`) by
//! the cargo-fuzz binary in `fuzz_targets/` and by the ordinary test
//! `libprocess/tests/request_decoder_corpus.rs`, which replays every corpus
//! and regression file through it.
//!
//! The input is sent raw over a real socket to one live server (started
//! once per process), whose decoder is the code under test: hyper's
//! HTTP/1.1 parsing, libprocess message recognition (`Libprocess-From`,
//! `User-Agent: libprocess/…`), percent-decoding and routing. The server
//! must answer with HTTP or close, and still serve `/health` to the next
//! client; a handler or decoder panic shows as a dead server.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use libprocess::http::{response, StatusCode};
use libprocess::{handler, Body, Server};

struct Live {
    addr: SocketAddr,
    // Keeps the server's threads alive for the whole process.
    _runtime: tokio::runtime::Runtime,
}

fn live() -> &'static Live {
    static LIVE: OnceLock<Live> = OnceLock::new();
    LIVE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let addr = runtime.block_on(async {
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
                    handler(
                        |r| async move { response(StatusCode::OK, Body::from(r.body().clone())) },
                    ),
                )
                .messages("master", tx)
                .header_timeout(Duration::from_secs(1))
                .max_body_size(1 << 20)
                .bind("127.0.0.1:0".parse().expect("an address"))
                .await
                .expect("a loopback listener");
            let addr = server.local_addr();
            let serving = server.serve();
            tokio::spawn(async move { while rx.recv().await.is_some() {} });
            // The handle is dropped, not the task: the server keeps running.
            drop(serving);
            addr
        });
        Live {
            addr,
            _runtime: runtime,
        }
    })
}

/// Sends `bytes`, half-closes, and reads whatever comes back until the
/// server closes (or 5 s pass, which a healthy server never needs).
pub fn send(bytes: &[u8]) -> Vec<u8> {
    let addr = live().addr;
    let mut stream = TcpStream::connect(addr).expect("the fuzzed server accepts connections");
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

pub fn request_decode(data: &[u8]) {
    let answer = send(data);
    if !answer.is_empty() {
        // An HTTP/1.0 request is answered in HTTP/1.0.
        let status_line = answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 ");
        assert!(
            status_line && answer.len() >= 12 && answer[9..12].iter().all(u8::is_ascii_digit),
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(80)])
        );
    }
    let health = send(b"GET /master/health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        health.starts_with(b"HTTP/1.1 200"),
        "the server stopped serving: /health answered {:?}",
        String::from_utf8_lossy(&health)
    );
}
