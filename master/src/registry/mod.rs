//! The registry: the durable record of which agents are admitted,
//! unreachable or gone (upstream `Registrar` + `registry_operations.cpp`).
//!
//! Owns the `mesos.internal.Registry` message and the operations on it. The
//! master actor is its only caller; it never talks to agents or frameworks.
//! Operations are synchronous: the in-memory store answers at once, and a
//! persistent store (replicated log / ZooKeeper) can implement the same trait
//! by writing before returning.

mod memory;

pub use memory::InMemoryRegistry;

use mesos_proto::mesos::internal::Registry as RegistryState;
use mesos_proto::mesos::{SlaveId, SlaveInfo, TimeInfo};

/// A registry operation failed to be stored.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry storage failed: {0}")]
    Storage(String),
}

/// Upstream's registry operations, one method each. `Ok(false)` means the
/// operation did not apply (the same meaning as upstream's `Future<bool>`).
pub trait Registry: Send {
    /// The whole state, as recovered at startup.
    fn recover(&mut self) -> Result<RegistryState, RegistryError>;

    /// `AdmitSlave`: a new agent id; false if the id is already known.
    fn admit(&mut self, info: &SlaveInfo) -> Result<bool, RegistryError>;

    /// `UpdateSlave`: replace the info of an admitted agent; false if unknown.
    fn update(&mut self, info: &SlaveInfo) -> Result<bool, RegistryError>;

    /// `MarkSlaveReachable`: an unreachable (or unknown) agent comes back;
    /// always admits it.
    fn mark_reachable(&mut self, info: &SlaveInfo) -> Result<bool, RegistryError>;

    /// `MarkSlaveUnreachable`: false if the agent is not admitted.
    fn mark_unreachable(&mut self, info: &SlaveInfo, time: TimeInfo)
        -> Result<bool, RegistryError>;

    /// `MarkSlaveGone`: from admitted or unreachable to gone.
    fn mark_gone(&mut self, id: &SlaveId, time: TimeInfo) -> Result<bool, RegistryError>;

    /// `RemoveSlave`: false if the agent is not admitted.
    fn remove(&mut self, info: &SlaveInfo) -> Result<bool, RegistryError>;
}
