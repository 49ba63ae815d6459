//! The v0 Mesos drivers, as libmesos's `MesosSchedulerDriver` and
//! `MesosExecutorDriver` behave, over our libprocess crate and the shared
//! v0 codec. JVM frameworks reach them through the `libmesos` cdylib; Rust
//! programs can use them directly.
//!
//! Modules:
//! - [`scheduler`]: the scheduler driver state machine and its callbacks.
//! - [`executor`]: the executor driver state machine and its callbacks.
//! - [`detector`]: master detection (`host:port`, `master@host:port`,
//!   `file://`), yielding a watch of the current leading master.
//! - [`v1`]: the v1 scheduler library over the HTTP API (`V1Mesos`).
//! - [`v0_adapter`]: the v1 scheduler interface served by the v0 driver
//!   (`V0Mesos`).
//! - `endpoint`: the libprocess endpoint (server + transport) a driver
//!   owns, running on its own small tokio runtime.
//!
//! Each driver runs one actor thread that owns all mutable driver state and
//! invokes every callback, one at a time and in arrival order (the thread
//! the JNI layer attaches to the JVM). Driver methods only check the status
//! under a lock and queue a command, so a callback may call them freely.
//! Never speaks anything but upstream's v0 protocol, so the drivers work
//! against an upstream master as well as ours.

// `FrameworkInfo.role` is deprecated in the protos but is what v0 frameworks set.
#![allow(deprecated)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod detector;
mod endpoint;
pub mod executor;
pub mod scheduler;
pub mod v0_adapter;
pub mod v1;

pub use executor::{Executor, ExecutorDriver};
pub use scheduler::{Scheduler, SchedulerDriver};

/// `org.apache.mesos.Protos.Status`: what every driver method returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    NotStarted = 1,
    Running = 2,
    Aborted = 3,
    Stopped = 4,
}

/// The libmesos version this library reports (`MesosNativeLibrary.version()`).
/// Frameworks such as Marathon refuse anything below 1.5.0.
pub const VERSION: (i64, i64, i64) = (1, 11, 0);

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to create a master detector for '{master}': {reason}")]
    Detector { master: String, reason: String },
    #[error("failed to start the driver's libprocess endpoint: {0}")]
    Endpoint(String),
    #[error("missing or invalid environment variable {name}: {reason}")]
    Environment { name: &'static str, reason: String },
}
