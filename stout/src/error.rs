//! The crate's single error type. Every variant carries the complete,
//! user-facing message (upstream's wording where upstream has one).

/// What went wrong reading a duration or a command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Text that is not a stout duration (`5s`, `-1secs`, `15`).
    #[error("{0}")]
    Duration(String),

    /// A flag value that cannot be used: unreadable `file://`, not a
    /// number, not a boolean, ...
    #[error("{0}")]
    Value(String),

    /// The command line is refused (unknown flag, bad value, missing
    /// value, ...): print the message and exit 1.
    #[error("{0}")]
    Invalid(String),

    /// `--help` was given: print this usage text and exit 0.
    #[error("{0}")]
    Help(String),
}
