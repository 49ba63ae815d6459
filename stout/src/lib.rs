//! The parts of upstream's utility library (`3rdparty/stout`) whose
//! observable behaviour every Mesos binary shares:
//!
//! - [`Duration`]: stout duration strings (`5secs`, `250ms`, `1.5mins`), as
//!   flags, `/flags`, executor environment variables and log lines use them;
//! - [`build_info`]: what this build is (time, user, git commit), for
//!   `/version` and `/state`;
//! - [`corpus`]: replay of cargo-fuzz corpora in plain `cargo test`, shared
//!   by every crate that has fuzz targets;
//! - [`flags`]: stout's command-line conventions (`MESOS_<FLAG>` environment
//!   fallback, `--flag=file:///path`, `--no-<flag>` for booleans, unknown
//!   flags refused) on top of a binary's own `clap` flag list.
//!
//! This crate owns text forms, build facts and command-line parsing only; it
//! never does I/O beyond reading a `file://` flag value or a fuzz corpus, and never knows which flags a
//! binary has.

// Tests may unwrap; library code may not (checked by the non-test build).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod build_info;
pub mod corpus;
pub mod duration;
mod error;
pub mod flags;

pub use duration::Duration;
pub use error::Error;
