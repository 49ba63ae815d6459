//! Replays every seed-corpus (and, once there are any, regression) file
//! under `authentication/fuzz/` through the body each cargo-fuzz target runs, so
//! the seeds keep exercising the SASL exchange and the JWT parser in plain
//! `cargo test`.

#![allow(clippy::unwrap_used)]

#[path = "../fuzz/fuzz_bodies.rs"]
mod fuzz_bodies;

use std::path::{Path, PathBuf};

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

type Body = fn(&[u8]);

const TARGETS: &[(&str, Body)] = &[
    ("sasl_exchange", fuzz_bodies::sasl_exchange),
    ("jwt_verify", fuzz_bodies::jwt_verify),
];

fn replay(kind: &str, target: &str, body: Body) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let files = files_under(&dir);
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| body(&data));
        assert!(outcome.is_ok(), "{target} panicked on {}", file.display());
    }
    files.len()
}

#[test]
fn seed_corpus_does_not_panic() {
    for (target, body) in TARGETS {
        // The seeds exist, so this test cannot pass vacuously.
        assert!(replay("corpus", target, *body) >= 5, "{target}");
    }
}

#[test]
fn regressions_do_not_panic() {
    for (target, body) in TARGETS {
        replay("regressions", target, *body);
    }
}
