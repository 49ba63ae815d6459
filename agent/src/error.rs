//! The crate's single error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A bad command-line flag or `MESOS_*` environment value.
    #[error("{0}")]
    Flag(String),

    /// The `--master` value cannot be used to find a master.
    #[error("Failed to detect a master: {0}")]
    Master(String),

    #[error("{context} '{path}': {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A URI of `CommandInfo.uris` could not be fetched or unpacked.
    #[error("{0}")]
    Fetch(String),

    /// An executor process could not be started.
    #[error("Failed to launch container: {0}")]
    Launch(String),

    /// The checkpoint of a previous run cannot be recovered.
    #[error("Agent recovery failed: {0}")]
    Recovery(String),

    #[error("Failed to start the agent HTTP server: {0}")]
    Server(String),
}

impl AgentError {
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AgentError::Io {
            context,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;
