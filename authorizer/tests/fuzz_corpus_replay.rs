//! Replays every seed-corpus and regression file under `authorizer/fuzz/`
//! through the body the cargo-fuzz target runs, so the seeds keep
//! exercising the ACL parser in plain `cargo test`.

#![allow(clippy::unwrap_used)]

#[path = "../fuzz/fuzz_bodies.rs"]
mod fuzz_bodies;

use std::path::Path;
use stout::corpus::{replay, Kind};

fn fuzz_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"))
}

#[test]
fn seed_corpus_does_not_panic() {
    let replayed = replay(
        fuzz_dir(),
        Kind::Seeds,
        "acls_parse",
        fuzz_bodies::acls_parse,
    )
    .unwrap_or_else(|failure| panic!("{failure}"));
    // The seeds exist, so this test cannot pass vacuously.
    assert!(replayed >= 5, "{replayed} seeds");
}

#[test]
fn regressions_do_not_panic() {
    replay(
        fuzz_dir(),
        Kind::Regressions,
        "acls_parse",
        fuzz_bodies::acls_parse,
    )
    .unwrap_or_else(|failure| panic!("{failure}"));
}
