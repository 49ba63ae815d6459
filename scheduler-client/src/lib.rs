//! A v1 Scheduler HTTP API client (protobuf or JSON), the building block of
//! our scheduler library and of `mesos-execute` / `bench-launch`.
//!
//! - [`Client`] / [`Subscription`]: SUBSCRIBE and the event stream, the other
//!   calls on their own connection (checklist §1, "Scheduler-side rules");
//! - [`http`]: HTTP/1.1 + RecordIO plumbing, also used by the command executor;
//! - [`resources`]: the text form of resources and carving tasks out of offers.
//!
//! This crate never makes scheduling decisions and never retries on its own.

pub mod client;
mod error;
pub mod http;
pub mod resources;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

pub use client::{launch_operation, Client, Subscription};
pub use error::Error;
pub use http::{ContentType, Endpoint};

/// Whether a task state is terminal (no update can follow it).
pub fn is_terminal_state(state: mesos_proto::mesos::v1::TaskState) -> bool {
    use mesos_proto::mesos::v1::TaskState::*;
    matches!(
        state,
        TaskFinished
            | TaskFailed
            | TaskKilled
            | TaskError
            | TaskLost
            | TaskDropped
            | TaskGone
            | TaskGoneByOperator
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::TaskState;

    #[test]
    fn terminal_states() {
        for state in [
            TaskState::TaskFinished,
            TaskState::TaskKilled,
            TaskState::TaskGone,
        ] {
            assert!(is_terminal_state(state));
        }
        for state in [
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskKilling,
            TaskState::TaskUnreachable,
            TaskState::TaskUnknown,
            TaskState::TaskStaging,
        ] {
            assert!(!is_terminal_state(state));
        }
    }
}
