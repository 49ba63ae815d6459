//! The v0 driver protocol (libmesos's `MesosSchedulerDriver` and
//! `MesosExecutorDriver` over libprocess messages), one copy shared by the
//! master and by our own driver library.
//!
//! Modules:
//! - [`master`]: the master's end: driver messages → v1 calls, v1 events →
//!   the `mesos.internal.*` messages drivers understand.
//! - [`scheduler`]: the scheduler driver's end: what a master sends to a
//!   framework pid, decoded into one typed enum.
//! - [`executor`]: the executor driver's end: what an agent sends to an
//!   executor pid, decoded into one typed enum.
//!
//! Owns decoding by protobuf type name only. Never does I/O and never keeps
//! state; the master actor and the driver state machines decide.

// `FrameworkInfo.role` is deprecated in the protos but is what v0 drivers speak.
#![allow(deprecated)]

pub mod executor;
pub mod master;
pub mod scheduler;

use libprocess::Message;

/// A message that is not what its name says.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown message '{0}'")]
    Unknown(String),
    #[error("malformed '{name}': {reason}")]
    Malformed { name: String, reason: String },
}

/// Decodes `message`'s body as `M`; the cost is bounded by the body size.
pub(crate) fn parse<M: prost::Message + Default>(message: &Message) -> Result<M, DecodeError> {
    M::decode(message.body.as_ref()).map_err(|e| DecodeError::Malformed {
        name: message.name.clone(),
        reason: e.to_string(),
    })
}
