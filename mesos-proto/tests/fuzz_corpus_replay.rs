//! Replays every seed-corpus and regression file under `mesos-proto/fuzz/`
//! through the same bodies the cargo-fuzz targets run, so that past crashes
//! stay fixed and the seeds keep exercising the decoders in plain
//! `cargo test` (no nightly, no libFuzzer).

#![allow(clippy::unwrap_used)]

#[path = "../fuzz/fuzz_bodies.rs"]
mod fuzz_bodies;

use std::path::{Path, PathBuf};

type Body = fn(&[u8]);

const TARGETS: &[(&str, Body)] = &[
    ("json_decode", fuzz_bodies::json_decode),
    ("scheduler_call_proto", fuzz_bodies::scheduler_call_proto),
    ("executor_call_proto", fuzz_bodies::executor_call_proto),
    ("master_call_proto", fuzz_bodies::master_call_proto),
    ("recordio_decode", fuzz_bodies::recordio_decode),
    ("resources_parse", fuzz_bodies::resources_parse),
];

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    let mut replayed = 0;
    for (target, body) in TARGETS {
        for file in files_under(&root.join(target)) {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(outcome.is_ok(), "{target} panicked on {}", file.display());
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn seed_corpora_do_not_panic() {
    // Every target has seeds, so this test cannot pass vacuously.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus");
    for (target, _) in TARGETS {
        assert!(
            !files_under(&root.join(target)).is_empty(),
            "no seed corpus for {target}"
        );
    }
    assert!(replay("corpus") >= TARGETS.len());
}

#[test]
fn regressions_do_not_panic() {
    replay("regressions");
}
