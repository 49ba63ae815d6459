//! The libprocess request decoder (hyper's HTTP/1.1 parsing plus our
//! message recognition and routing) replayed over real sockets: every file
//! under `libprocess/fuzz/corpus/request_decode/` (and `regressions/`) goes
//! through the body the cargo-fuzz target runs, which sends it raw to a
//! live server that must answer or close without crashing, and keep serving
//! `/health` to the next client. Seeds cover messages, percent-encoded ids,
//! chunked and truncated bodies, absurd lengths, `..` and pipelining.

#![allow(clippy::unwrap_used)]

#[path = "../fuzz/fuzz_bodies.rs"]
mod fuzz_bodies;

use std::path::Path;
use stout::corpus::{replay, Kind};

fn fuzz_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"))
}

#[test]
fn seed_corpus_is_answered_or_closed_and_the_server_keeps_serving() {
    let replayed = replay(
        fuzz_dir(),
        Kind::Seeds,
        "request_decode",
        fuzz_bodies::request_decode,
    )
    .unwrap_or_else(|failure| panic!("{failure}"));
    // The seeds exist, so this test cannot pass vacuously.
    assert!(replayed >= 5, "{replayed} seeds");
}

#[test]
fn regressions_are_answered_or_closed() {
    replay(
        fuzz_dir(),
        Kind::Regressions,
        "request_decode",
        fuzz_bodies::request_decode,
    )
    .unwrap_or_else(|failure| panic!("{failure}"));
}

#[test]
fn dotdot_is_never_routed() {
    let answer = fuzz_bodies::send(b"GET /master/../health HTTP/1.1\r\n\r\n");
    assert!(
        answer.starts_with(b"HTTP/1.1 404"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    // And the same server answers a proper request, so the 404 is not a
    // server that answers everything with 404.
    let health = fuzz_bodies::send(b"GET /master/health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(health.starts_with(b"HTTP/1.1 200"));
}
