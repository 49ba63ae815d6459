//! Replays every seed-corpus and regression file under
//! `authentication/fuzz/` through the body each cargo-fuzz target runs, so
//! the seeds keep exercising the SASL exchange and the JWT parser in plain
//! `cargo test`.

#![allow(clippy::unwrap_used)]

#[path = "../fuzz/fuzz_bodies.rs"]
mod fuzz_bodies;

use std::path::Path;
use stout::corpus::{replay, Kind};

type Body = fn(&[u8]);

const TARGETS: &[(&str, Body)] = &[
    ("sasl_exchange", fuzz_bodies::sasl_exchange),
    ("jwt_verify", fuzz_bodies::jwt_verify),
];

fn fuzz_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"))
}

#[test]
fn seed_corpus_does_not_panic() {
    for (target, body) in TARGETS {
        let replayed = replay(fuzz_dir(), Kind::Seeds, target, *body)
            .unwrap_or_else(|failure| panic!("{failure}"));
        // The seeds exist, so this test cannot pass vacuously.
        assert!(replayed >= 5, "{target}: {replayed} seeds");
    }
}

#[test]
fn regressions_do_not_panic() {
    for (target, body) in TARGETS {
        replay(fuzz_dir(), Kind::Regressions, target, *body)
            .unwrap_or_else(|failure| panic!("{failure}"));
    }
}
