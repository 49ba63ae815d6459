//! The command executor (`src/launcher/executor.cpp` upstream): runs exactly
//! one task for the agent over the v1 Executor HTTP API (checklist §2, §9).
//!
//! - [`config`]: the agent-provided environment and the flags;
//! - [`command`]: argv, environment, spawning and wait-status wording;
//! - [`kill`]: grace periods and SIGTERM → SIGKILL timing;
//! - [`executor`]: the protocol and task state machine ([`run`]).
//!
//! Always speaks the v1 HTTP API (upstream's `MESOS_HTTP_COMMAND_EXECUTOR=1`
//! mode), whatever that variable says. Health checks and `TaskInfo.check`
//! are not implemented yet: they are ignored with a warning.

pub mod command;
pub mod config;
pub mod executor;
pub mod kill;

pub use config::{Config, Flags};
pub use executor::{run, Outcome};

/// Why the executor cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required environment variable is missing (upstream's wording).
    #[error("Expecting '{0}' to be set in the environment")]
    MissingEnv(&'static str),
    /// An environment variable has an unusable value.
    #[error("Failed to parse value '{value}' of '{name}': {reason}")]
    BadEnv {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A flag has an unusable value.
    #[error("Failed to parse --{flag}: {reason}")]
    BadFlag {
        /// The flag name.
        flag: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}
