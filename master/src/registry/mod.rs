//! The registry: the durable record of which agents are admitted,
//! unreachable or gone, and of the leading master (upstream `Registrar`,
//! `registry_operations.cpp`, `mesos.internal.Registry`).
//!
//! - [`operations`]: the mutations, pure functions on the protobuf;
//! - [`registrar`]: the single writer, batching operations and answering
//!   each only after its write committed;
//! - [`store`]: the storage trait and the in-memory store
//!   (`--registry=in_memory`);
//! - [`file`]: a file in `--work_dir` written atomically
//!   (`--registry=replicated_log` without `--zk`);
//! - [`zookeeper`]: znodes under the `--zk` path, split into chunks below
//!   ZooKeeper's 1 MB node limit, with versioned commits.
//!
//! The master actor is the only client; the registry never talks to agents
//! or frameworks and never decides what an answer means for them.

pub mod file;
pub mod operations;
pub mod registrar;
pub mod store;
pub mod zookeeper;

use std::time::Duration;

pub use file::FileStore;
pub use operations::Operation;
pub use registrar::{Completion, Registrar, RegistrarOptions, WriteReport};
pub use store::{MemoryStore, Store, StoreError};
pub use zookeeper::{ZooKeeperStore, ZooKeeperStoreOptions};

/// Why a registry operation (or recovery) has no answer. Every one of
/// these ends the master's leadership.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("Failed to update registry: {0}")]
    Storage(String),
    /// Another master wrote since our last write: we are no longer leader.
    #[error("Failed to update registry: version mismatch")]
    VersionMismatch,
    #[error("Failed to perform {what} within {after:?}")]
    Timeout { what: &'static str, after: Duration },
    #[error("Failed to recover registrar: {0}")]
    Corrupt(String),
    #[error("Attempted to apply the operation before recovering")]
    NotRecovered,
    /// An earlier failure put the registrar in its error state.
    #[error("Registrar aborted: {0}")]
    Aborted(String),
}
