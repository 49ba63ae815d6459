//! Replays cargo-fuzz corpora in plain `cargo test`, so every crate's seeds
//! and past crashes keep running without nightly or libFuzzer.
//!
//! A crate's fuzz directory holds `corpus/<target>/` (seeds) and
//! `regressions/<target>/` (inputs that once failed). This module owns only
//! the walk and the catching of panics; what a body does with an input is
//! the calling crate's own.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Which of a target's input sets to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `corpus/<target>/`: the seeds the fuzzer starts from.
    Seeds,
    /// `regressions/<target>/`: inputs that once crashed or misbehaved.
    Regressions,
}

impl Kind {
    fn directory(self) -> &'static str {
        match self {
            Kind::Seeds => "corpus",
            Kind::Regressions => "regressions",
        }
    }
}

/// Why a replay failed: the input that broke it, and how.
#[derive(Debug)]
pub struct ReplayFailure {
    pub input: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for ReplayFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.input.display(), self.reason)
    }
}

/// The files directly under `dir`, sorted so failures are reproducible;
/// none when `dir` does not exist (a target with no regressions yet).
pub fn inputs(dir: &Path) -> Vec<PathBuf> {
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

/// Runs `body` on every input of `target` under `fuzz_dir`, stopping at the
/// first one that panics. Returns how many inputs ran, so a caller can
/// refuse to pass on an empty seed set.
pub fn replay(
    fuzz_dir: &Path,
    kind: Kind,
    target: &str,
    body: fn(&[u8]),
) -> Result<usize, ReplayFailure> {
    let files = inputs(&fuzz_dir.join(kind.directory()).join(target));
    for file in &files {
        let data = std::fs::read(file).map_err(|e| ReplayFailure {
            input: file.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        // The body is a plain fn over a fresh buffer, so nothing observes
        // state a panic could leave half-updated.
        panic::catch_unwind(AssertUnwindSafe(|| body(&data))).map_err(|payload| {
            let reason = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panicked".to_string());
            ReplayFailure {
                input: file.clone(),
                reason: format!("{target} panicked: {reason}"),
            }
        })?;
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(_: &[u8]) {}

    fn reject_x(data: &[u8]) {
        assert!(!data.contains(&b'x'), "found x");
    }

    fn fuzz_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let seeds = dir.path().join("corpus").join("t");
        std::fs::create_dir_all(&seeds).unwrap();
        std::fs::write(seeds.join("a"), b"abc").unwrap();
        std::fs::write(seeds.join("b"), b"xyz").unwrap();
        dir
    }

    #[test]
    fn counts_every_seed() {
        let dir = fuzz_dir();
        assert_eq!(replay(dir.path(), Kind::Seeds, "t", accept).unwrap(), 2);
    }

    #[test]
    fn names_the_input_that_panicked() {
        let dir = fuzz_dir();
        let failure = replay(dir.path(), Kind::Seeds, "t", reject_x).unwrap_err();
        assert!(failure.input.ends_with("corpus/t/b"), "{failure}");
        assert!(failure.reason.contains("found x"), "{failure}");
    }

    #[test]
    fn a_target_without_regressions_replays_nothing() {
        let dir = fuzz_dir();
        assert_eq!(
            replay(dir.path(), Kind::Regressions, "t", reject_x).unwrap(),
            0
        );
    }
}
