//! What the master tells schedulers: v1 scheduler events, offers shaped by
//! the framework's capabilities, and master-generated status updates.
//!
//! Pure constructors; sending is the actor's job.

use mesos_proto::mesos::internal::StatusUpdate;
use mesos_proto::mesos::v1::scheduler::{event, Event};
use mesos_proto::mesos::v1::{
    self, AgentId, ExecutorId, FrameworkId, MasterInfo, Offer, TaskState,
};
use mesos_proto::mesos::{self as v0, task_status};

use super::connection::HEARTBEAT_INTERVAL;
use super::state::Capabilities;

fn event(kind: event::Type) -> Event {
    Event {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// SUBSCRIBED (upstream sends it for both a first subscription and a
/// failover: `FrameworkRegisteredMessage` and `FrameworkReregisteredMessage`
/// both evolve to it).
pub fn subscribed(framework_id: &str, master_info: &MasterInfo) -> Event {
    Event {
        subscribed: Some(event::Subscribed {
            framework_id: FrameworkId {
                value: framework_id.to_string(),
            },
            heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL.as_secs_f64()),
            master_info: Some(master_info.clone()),
        }),
        ..event(event::Type::Subscribed)
    }
}

pub fn offers(offers: Vec<Offer>) -> Event {
    Event {
        offers: Some(event::Offers { offers }),
        ..event(event::Type::Offers)
    }
}

pub fn rescind(offer_id: &str) -> Event {
    Event {
        rescind: Some(event::Rescind {
            offer_id: v1::OfferId {
                value: offer_id.to_string(),
            },
        }),
        ..event(event::Type::Rescind)
    }
}

/// INVERSE_OFFERS (upstream's `InverseOffersMessage` evolved).
pub fn inverse_offers(inverse_offers: Vec<v1::InverseOffer>) -> Event {
    Event {
        inverse_offers: Some(event::InverseOffers { inverse_offers }),
        ..event(event::Type::InverseOffers)
    }
}

pub fn rescind_inverse_offer(inverse_offer_id: &str) -> Event {
    Event {
        rescind_inverse_offer: Some(event::RescindInverseOffer {
            inverse_offer_id: v1::OfferId {
                value: inverse_offer_id.to_string(),
            },
        }),
        ..event(event::Type::RescindInverseOffer)
    }
}

pub fn error(message: &str) -> Event {
    Event {
        error: Some(event::Error {
            message: message.to_string(),
        }),
        ..event(event::Type::Error)
    }
}

/// FAILURE: agent-only means the agent is lost; with an executor it means
/// the executor exited with `status` (a wait status).
pub fn failure(agent_id: &str, executor_id: Option<&str>, status: Option<i32>) -> Event {
    Event {
        failure: Some(event::Failure {
            agent_id: Some(AgentId {
                value: agent_id.to_string(),
            }),
            executor_id: executor_id.map(|id| ExecutorId {
                value: id.to_string(),
            }),
            status,
        }),
        ..event(event::Type::Failure)
    }
}

pub fn message(agent_id: &str, executor_id: &str, data: Vec<u8>) -> Event {
    Event {
        message: Some(event::Message {
            agent_id: AgentId {
                value: agent_id.to_string(),
            },
            executor_id: ExecutorId {
                value: executor_id.to_string(),
            },
            data,
        }),
        ..event(event::Type::Message)
    }
}

pub fn update_operation_status(status: v1::OperationStatus) -> Event {
    Event {
        update_operation_status: Some(event::UpdateOperationStatus { status }),
        ..event(event::Type::UpdateOperationStatus)
    }
}

/// An operation status the master makes up (no uuid: never acknowledged).
pub fn operation_status(
    state: v1::OperationState,
    operation_id: &v1::OperationId,
    message: &str,
    agent_id: Option<&str>,
) -> v1::OperationStatus {
    v1::OperationStatus {
        operation_id: Some(operation_id.clone()),
        state: state as i32,
        message: Some(message.to_string()),
        agent_id: agent_id.map(|id| AgentId {
            value: id.to_string(),
        }),
        ..Default::default()
    }
}

/// The offer as this framework may see it (`Master::offer`):
/// `ephemeral_ports` removed; without MULTI_ROLE no allocation info; without
/// RESERVATION_REFINEMENT the pre-refinement resource format.
pub fn offer_for(offer: &Offer, capabilities: Capabilities) -> Offer {
    let mut offer = offer.clone();
    offer.resources.retain(|r| r.name != "ephemeral_ports");
    if !capabilities.multi_role {
        offer.allocation_info = None;
        for resource in &mut offer.resources {
            resource.allocation_info = None;
        }
    }
    if !capabilities.reservation_refinement {
        mesos_proto::resources::to_pre_refinement(&mut offer.resources);
    }
    offer
}

/// Partition-unaware frameworks see TASK_LOST instead of the states they
/// do not know.
pub fn state_for(state: TaskState, capabilities: Capabilities) -> TaskState {
    if capabilities.partition_aware {
        return state;
    }
    match state {
        TaskState::TaskUnreachable
        | TaskState::TaskGone
        | TaskState::TaskGoneByOperator
        | TaskState::TaskUnknown
        | TaskState::TaskDropped => TaskState::TaskLost,
        other => other,
    }
}

/// A status update made by the master (`protobuf::createStatusUpdate`):
/// SOURCE_MASTER, no uuid, so the scheduler never acknowledges it.
#[allow(clippy::too_many_arguments)]
pub fn master_update(
    framework_id: &str,
    agent_id: Option<&str>,
    task_id: &str,
    state: TaskState,
    message: &str,
    reason: task_status::Reason,
    executor_id: Option<&str>,
    now: f64,
) -> StatusUpdate {
    let slave_id = agent_id.map(|id| v0::SlaveId {
        value: id.to_string(),
    });
    let executor_id = executor_id.map(|id| v0::ExecutorId {
        value: id.to_string(),
    });
    StatusUpdate {
        framework_id: v0::FrameworkId {
            value: framework_id.to_string(),
        },
        executor_id: executor_id.clone(),
        slave_id: slave_id.clone(),
        status: v0::TaskStatus {
            task_id: v0::TaskId {
                value: task_id.to_string(),
            },
            state: state as i32,
            message: Some(message.to_string()),
            source: Some(task_status::Source::Master as i32),
            reason: Some(reason as i32),
            slave_id,
            executor_id,
            timestamp: Some(now),
            ..Default::default()
        },
        timestamp: now,
        uuid: None,
        latest_state: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::*;
    use mesos_proto::mesos::v1::resource::AllocationInfo;

    fn sample_offer() -> Offer {
        let mut cpus = reserved(scalar_resource("cpus", 1.0), "db");
        cpus.allocation_info = Some(AllocationInfo {
            role: Some("db".into()),
        });
        let mut ports = ranges_resource("ephemeral_ports", &[(1, 2)]);
        ports.allocation_info = cpus.allocation_info.clone();
        Offer {
            resources: vec![cpus, ports],
            allocation_info: Some(AllocationInfo {
                role: Some("db".into()),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn old_frameworks_get_old_offers() {
        let shaped = offer_for(&sample_offer(), Capabilities::default());
        assert!(shaped.allocation_info.is_none());
        assert_eq!(shaped.resources.len(), 1);
        let cpus = &shaped.resources[0];
        assert!(cpus.allocation_info.is_none());
        assert_eq!(cpus.role.as_deref(), Some("db"));
        assert!(cpus.reservations.is_empty());
    }

    #[test]
    fn modern_frameworks_get_everything_but_ephemeral_ports() {
        let caps = Capabilities {
            multi_role: true,
            reservation_refinement: true,
            ..Default::default()
        };
        let shaped = offer_for(&sample_offer(), caps);
        assert!(shaped.allocation_info.is_some());
        assert_eq!(shaped.resources.len(), 1);
        assert_eq!(shaped.resources[0].reservations.len(), 1);
        assert!(shaped.resources[0].role.is_none());
    }

    #[test]
    fn partition_unaware_see_lost() {
        let plain = Capabilities::default();
        assert_eq!(
            state_for(TaskState::TaskUnreachable, plain),
            TaskState::TaskLost
        );
        assert_eq!(
            state_for(TaskState::TaskDropped, plain),
            TaskState::TaskLost
        );
        assert_eq!(
            state_for(TaskState::TaskRunning, plain),
            TaskState::TaskRunning
        );
        let aware = Capabilities {
            partition_aware: true,
            ..Default::default()
        };
        assert_eq!(state_for(TaskState::TaskGone, aware), TaskState::TaskGone);
    }

    #[test]
    fn master_updates_need_no_ack() {
        let update = master_update(
            "F",
            Some("S"),
            "T",
            TaskState::TaskLost,
            "gone",
            task_status::Reason::Reconciliation,
            None,
            1.0,
        );
        let event = mesos_proto::convert::evolve_status_update(
            &mesos_proto::mesos::internal::StatusUpdateMessage {
                update,
                pid: Some(String::new()),
            },
        );
        let status = event.update.unwrap().status;
        assert!(status.uuid.is_none());
        assert_eq!(status.agent_id.unwrap().value, "S");
        assert_eq!(status.state, TaskState::TaskLost as i32);
    }
}
