//! Replays every seed-corpus and regression file under `mesos-proto/fuzz/`
//! through the same bodies the cargo-fuzz targets run, so that past crashes
//! stay fixed and the seeds keep exercising the decoders in plain
//! `cargo test` (no nightly, no libFuzzer).

#![allow(clippy::unwrap_used)]

#[path = "../fuzz/fuzz_bodies.rs"]
mod fuzz_bodies;

use std::path::Path;
use stout::corpus::{replay, Kind};

type Body = fn(&[u8]);

const TARGETS: &[(&str, Body)] = &[
    ("json_decode", fuzz_bodies::json_decode),
    ("scheduler_call_proto", fuzz_bodies::scheduler_call_proto),
    ("executor_call_proto", fuzz_bodies::executor_call_proto),
    ("master_call_proto", fuzz_bodies::master_call_proto),
    ("recordio_decode", fuzz_bodies::recordio_decode),
    ("resources_parse", fuzz_bodies::resources_parse),
];

fn fuzz_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"))
}

#[test]
fn seed_corpora_do_not_panic() {
    for (target, body) in TARGETS {
        let replayed = replay(fuzz_dir(), Kind::Seeds, target, *body)
            .unwrap_or_else(|failure| panic!("{failure}"));
        // Every target has seeds, so this test cannot pass vacuously.
        assert!(replayed > 0, "no seed corpus for {target}");
    }
}

#[test]
fn regressions_do_not_panic() {
    for (target, body) in TARGETS {
        replay(fuzz_dir(), Kind::Regressions, target, *body)
            .unwrap_or_else(|failure| panic!("{failure}"));
    }
}
