//! The state store behind the mesos jar's `org.apache.mesos.state` classes
//! (`ZooKeeperState`, `Variable`), which Chronos and older Marathon keep
//! their state in.
//!
//! The layout in ZooKeeper is upstream's, so state written by a framework
//! on upstream's libmesos stays readable here and the other way round:
//!
//! ```text
//! <znode>/<name>    a serialized mesos.internal.state.Entry { name, uuid, value }
//! ```
//!
//! A [`Variable`] is a fetched entry. Storing it succeeds only while the
//! entry in ZooKeeper still carries the uuid it was fetched with, and gives
//! the stored entry a fresh uuid; the swap is made atomic by writing with
//! the znode version that was read. A stale variable therefore fails to
//! store (`Ok(None)`), as upstream's does.
//!
//! Modules:
//! - `zookeeper`: [`ZooKeeperStorage`], the entries in ZooKeeper and the
//!   session that reaches them (reconnects, retries, deadlines).
//! - [`blocking`]: [`blocking::BlockingState`], the store for callers that
//!   wait on threads of their own (the JNI bindings): operations run on a
//!   private runtime and hand back [`blocking::Pending`] results.
//!
//! This crate owns the storage rule and nothing else: it never interprets
//! values and never keeps state outside ZooKeeper.

pub mod blocking;
mod zookeeper;

use std::time::Duration;

pub use zookeeper::{Authentication, ZooKeeperStorage, ZooKeeperStorageOptions};

/// `mesos.internal.state.Entry`, the protobuf each znode holds.
pub type Entry = mesos_proto::mesos::internal::state::Entry;

/// ZooKeeper's default request limit; upstream refuses larger entries
/// before sending them.
pub const MAX_ENTRY_SIZE: usize = 1024 * 1024;

/// A failed state operation. A swap lost to a concurrent writer is not an
/// error (it is `Ok(None)` / `Ok(false)`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("Invalid state znode '{0}': it must be an absolute path")]
    InvalidZnode(String),
    #[error("Invalid variable name '{0}': it must be a single non-empty znode name")]
    InvalidName(String),
    #[error("Serialized data is too big (> 1 MB)")]
    TooBig,
    #[error("Failed to deserialize Entry at '{path}': {reason}")]
    Corrupt { path: String, reason: String },
    #[error("Failed to authenticate with ZooKeeper using scheme '{0}'")]
    Authentication(String),
    #[error("ZooKeeper operation {what} failed: {reason}")]
    ZooKeeper { what: String, reason: String },
    #[error("Timed out after {timeout:?} waiting for ZooKeeper at '{servers}' ({last})")]
    Timeout {
        timeout: Duration,
        servers: String,
        last: String,
    },
    #[error("No longer managing storage")]
    Closed,
}

/// A variable as fetched: its name, the uuid of the entry it was read
/// from (or a fresh one for a name with no entry yet), and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    entry: Entry,
}

impl Variable {
    /// A variable whose name has no entry in ZooKeeper yet: an empty value
    /// under a fresh uuid, so storing it creates the entry.
    pub fn fresh(name: &str) -> Variable {
        Variable {
            entry: Entry {
                name: name.to_string(),
                uuid: uuid::Uuid::new_v4().as_bytes().to_vec(),
                value: Vec::new(),
            },
        }
    }

    pub fn from_entry(entry: Entry) -> Variable {
        Variable { entry }
    }

    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The 16 raw bytes of the uuid (upstream's `UUID::toBytes`).
    pub fn uuid(&self) -> &[u8] {
        &self.entry.uuid
    }

    pub fn value(&self) -> &[u8] {
        &self.entry.value
    }

    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The same variable (name and uuid) with another value; nothing is
    /// written until it is stored.
    pub fn mutate(&self, value: Vec<u8>) -> Variable {
        Variable {
            entry: Entry {
                value,
                ..self.entry.clone()
            },
        }
    }
}

/// Upstream's `State` over a [`ZooKeeperStorage`]: variables in, variables
/// out, with the uuid discipline of the module documentation.
#[derive(Debug)]
pub struct State {
    storage: ZooKeeperStorage,
}

impl State {
    pub fn new(storage: ZooKeeperStorage) -> State {
        State { storage }
    }

    pub fn storage(&self) -> &ZooKeeperStorage {
        &self.storage
    }

    /// The variable `name`: its entry, or a fresh variable when there is
    /// none.
    pub async fn fetch(&self, name: &str) -> Result<Variable, Error> {
        Ok(match self.storage.get(name).await? {
            Some(entry) => Variable::from_entry(entry),
            None => Variable::fresh(name),
        })
    }

    /// Stores `variable` under a fresh uuid if its entry still has the
    /// uuid it was fetched with: `Some(stored)`, or `None` when another
    /// writer got there first.
    pub async fn store(&self, variable: &Variable) -> Result<Option<Variable>, Error> {
        let stored = Entry {
            uuid: uuid::Uuid::new_v4().as_bytes().to_vec(),
            ..variable.entry.clone()
        };
        if self.storage.set(&stored, variable.uuid()).await? {
            Ok(Some(Variable::from_entry(stored)))
        } else {
            Ok(None)
        }
    }

    /// Deletes the entry if it still has the variable's uuid; `false` when
    /// it does not (or there is no entry).
    pub async fn expunge(&self, variable: &Variable) -> Result<bool, Error> {
        self.storage.expunge(variable.entry()).await
    }

    /// The names of every entry.
    pub async fn names(&self) -> Result<Vec<String>, Error> {
        self.storage.names().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_variable_has_an_empty_value_and_a_random_uuid() {
        let a = Variable::fresh("a");
        let b = Variable::fresh("a");
        assert_eq!(a.name(), "a");
        assert!(a.value().is_empty());
        assert_eq!(a.uuid().len(), 16);
        assert_ne!(a.uuid(), b.uuid());
    }

    #[test]
    fn mutate_keeps_name_and_uuid() {
        let a = Variable::fresh("a");
        let m = a.mutate(b"v".to_vec());
        assert_eq!(m.name(), "a");
        assert_eq!(m.uuid(), a.uuid());
        assert_eq!(m.value(), b"v");
        assert!(a.value().is_empty());
    }
}
