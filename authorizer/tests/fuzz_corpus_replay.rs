//! Replays every seed-corpus (and, once there are any, regression) file
//! under `authorizer/fuzz/` through the body the cargo-fuzz target runs,
//! so the seeds keep exercising the ACL parser in plain `cargo test`.

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

fn replay(kind: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join("acls_parse");
    let files = files_under(&dir);
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| fuzz_bodies::acls_parse(&data));
        assert!(outcome.is_ok(), "acls_parse panicked on {}", file.display());
    }
    files.len()
}

#[test]
fn seed_corpus_does_not_panic() {
    // The seeds exist, so this test cannot pass vacuously.
    assert!(replay("corpus") >= 5);
}

#[test]
fn regressions_do_not_panic() {
    replay("regressions");
}
