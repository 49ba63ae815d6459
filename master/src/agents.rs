//! The internal (v0) agent protocol as the master speaks it (checklist §8):
//! decoding what agents send to `master` and to the `slave-observer(N)`
//! processes, and building what the master sends them.
//!
//! Owns message names and the v1 ⇄ v0 conversion of their payloads
//! (including the pre-refinement resource format for agents without
//! `RESERVATION_REFINEMENT`). It never touches master state or sockets:
//! the actor decides, the transport delivers.

use libprocess::Message;
use mesos_proto::convert::devolve;
use mesos_proto::mesos::internal::{
    ExecutorToFrameworkMessage, ExitedExecutorMessage, KillTaskMessage, MasterSlaveConnection,
    RegisterSlaveMessage, ReregisterSlaveMessage, RunTaskGroupMessage, RunTaskMessage,
    StatusUpdateMessage, UnregisterSlaveMessage, UpdateFrameworkMessage,
    UpdateOperationStatusMessage, UpdateSlaveMessage,
};
use mesos_proto::mesos::v1::{
    self, ExecutorInfo, FrameworkInfo, Resource, TaskGroupInfo, TaskInfo,
};
use mesos_proto::mesos::{self as v0};
use prost::Name;

/// A message from an agent, decoded.
#[derive(Debug)]
pub enum Inbound {
    RegisterSlave(RegisterSlaveMessage),
    ReregisterSlave(ReregisterSlaveMessage),
    UnregisterSlave(UnregisterSlaveMessage),
    StatusUpdate(StatusUpdateMessage),
    ExitedExecutor(ExitedExecutorMessage),
    ExecutorToFramework(ExecutorToFrameworkMessage),
    UpdateSlave(UpdateSlaveMessage),
    UpdateOperationStatus(UpdateOperationStatusMessage),
    /// `PongSlaveMessage` (always empty), addressed to an observer.
    Pong,
}

/// Why an inbound message was dropped.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown message '{0}'")]
    Unknown(String),
    #[error("malformed '{name}': {reason}")]
    Malformed { name: String, reason: String },
}

fn parse<M: prost::Message + Default>(message: &Message) -> Result<M, DecodeError> {
    M::decode(message.body.as_ref()).map_err(|e| DecodeError::Malformed {
        name: message.name.clone(),
        reason: e.to_string(),
    })
}

/// Decodes a message addressed to the master (or an observer) by its
/// protobuf type name.
pub fn decode(message: &Message) -> Result<Inbound, DecodeError> {
    let name = message.name.as_str();
    Ok(if name == RegisterSlaveMessage::full_name() {
        Inbound::RegisterSlave(parse(message)?)
    } else if name == ReregisterSlaveMessage::full_name() {
        Inbound::ReregisterSlave(parse(message)?)
    } else if name == UnregisterSlaveMessage::full_name() {
        Inbound::UnregisterSlave(parse(message)?)
    } else if name == StatusUpdateMessage::full_name() {
        Inbound::StatusUpdate(parse(message)?)
    } else if name == ExitedExecutorMessage::full_name() {
        Inbound::ExitedExecutor(parse(message)?)
    } else if name == ExecutorToFrameworkMessage::full_name() {
        Inbound::ExecutorToFramework(parse(message)?)
    } else if name == UpdateSlaveMessage::full_name() {
        Inbound::UpdateSlave(parse(message)?)
    } else if name == UpdateOperationStatusMessage::full_name() {
        Inbound::UpdateOperationStatus(parse(message)?)
    } else if name == mesos_proto::mesos::internal::PongSlaveMessage::full_name() {
        Inbound::Pong
    } else {
        return Err(DecodeError::Unknown(name.to_string()));
    })
}

/// `MasterSlaveConnection` with the total ping timeout the agent uses to
/// notice a silent master.
pub fn connection(total_ping_timeout_secs: f64) -> MasterSlaveConnection {
    MasterSlaveConnection {
        total_ping_timeout_seconds: Some(total_ping_timeout_secs),
    }
}

/// Resources as the agent understands them.
fn for_agent(resources: &[Resource], pre_refinement: bool) -> Vec<Resource> {
    let mut out = resources.to_vec();
    if pre_refinement {
        mesos_proto::resources::to_pre_refinement(&mut out);
    }
    out
}

fn task_for_agent(task: &TaskInfo, pre_refinement: bool) -> TaskInfo {
    let mut task = task.clone();
    task.resources = for_agent(&task.resources, pre_refinement);
    if let Some(executor) = task.executor.as_mut() {
        executor.resources = for_agent(&executor.resources, pre_refinement);
    }
    task
}

fn executor_for_agent(executor: &ExecutorInfo, pre_refinement: bool) -> ExecutorInfo {
    let mut executor = executor.clone();
    executor.resources = for_agent(&executor.resources, pre_refinement);
    executor
}

/// `RunTaskMessage` for one task of a LAUNCH. `pid` is the scheduler's
/// pid for v0 frameworks and empty for HTTP ones.
pub fn run_task(
    framework: &FrameworkInfo,
    task: &TaskInfo,
    pid: &str,
    launch_executor: bool,
    pre_refinement: bool,
) -> RunTaskMessage {
    RunTaskMessage {
        framework_id: None,
        framework: devolve(framework),
        task: devolve(&task_for_agent(task, pre_refinement)),
        resource_version_uuids: Vec::new(),
        pid: Some(pid.to_string()),
        launch_executor: Some(launch_executor),
    }
}

/// `RunTaskGroupMessage` for a LAUNCH_GROUP.
pub fn run_task_group(
    framework: &FrameworkInfo,
    executor: &ExecutorInfo,
    group: &TaskGroupInfo,
    launch_executor: bool,
    pre_refinement: bool,
) -> RunTaskGroupMessage {
    let group = TaskGroupInfo {
        tasks: group
            .tasks
            .iter()
            .map(|t| task_for_agent(t, pre_refinement))
            .collect(),
    };
    RunTaskGroupMessage {
        framework: devolve(framework),
        executor: devolve(&executor_for_agent(executor, pre_refinement)),
        task_group: devolve(&group),
        resource_version_uuids: Vec::new(),
        launch_executor: Some(launch_executor),
    }
}

pub fn kill_task(
    framework_id: &str,
    task_id: &str,
    kill_policy: Option<&v1::KillPolicy>,
) -> KillTaskMessage {
    KillTaskMessage {
        framework_id: v0::FrameworkId {
            value: framework_id.to_string(),
        },
        task_id: v0::TaskId {
            value: task_id.to_string(),
        },
        kill_policy: kill_policy.map(devolve),
    }
}

/// `UpdateFrameworkMessage`, broadcast when a framework (re)subscribes or
/// its info changes.
pub fn update_framework(framework: &FrameworkInfo, pid: &str) -> UpdateFrameworkMessage {
    UpdateFrameworkMessage {
        framework_id: v0::FrameworkId {
            value: framework
                .id
                .as_ref()
                .map(|id| id.value.clone())
                .unwrap_or_default(),
        },
        pid: Some(pid.to_string()),
        framework_info: Some(devolve(framework)),
    }
}

/// The agent's resources (either format) as post-refinement v1 resources.
pub fn agent_resources(resources: &[v0::Resource]) -> Vec<Resource> {
    let mut out: Vec<Resource> = resources
        .iter()
        .map(mesos_proto::convert::evolve::<_, Resource>)
        .collect();
    mesos_proto::resources::from_pre_refinement(&mut out);
    out
}

/// The body size of a message, for logs.
pub fn body_len<M: prost::Message>(message: &M) -> usize {
    message.encoded_len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use libprocess::Upid;

    fn message<M: prost::Message + Name>(msg: &M) -> Message {
        Message {
            from: "slave(1)@127.0.0.1:5051".parse::<Upid>().unwrap(),
            to: "master".into(),
            name: M::full_name(),
            body: Bytes::from(msg.encode_to_vec()),
        }
    }

    #[test]
    fn decodes_by_type_name() {
        let register = RegisterSlaveMessage {
            slave: v0::SlaveInfo {
                hostname: "h".into(),
                ..Default::default()
            },
            version: Some("1.11.0".into()),
            ..Default::default()
        };
        match decode(&message(&register)).unwrap() {
            Inbound::RegisterSlave(m) => assert_eq!(m.slave.hostname, "h"),
            other => panic!("unexpected {other:?}"),
        }
        let pong = Message {
            name: "mesos.internal.PongSlaveMessage".into(),
            body: Bytes::new(),
            ..message(&register)
        };
        assert!(matches!(decode(&pong).unwrap(), Inbound::Pong));
    }

    #[test]
    fn malformed_and_unknown_are_errors() {
        let mut bad = message(&UnregisterSlaveMessage::default());
        bad.body = Bytes::from_static(&[0xff, 0xff, 0xff]);
        assert!(matches!(decode(&bad), Err(DecodeError::Malformed { .. })));
        bad.name = "mesos.internal.NoSuchMessage".into();
        assert!(matches!(decode(&bad), Err(DecodeError::Unknown(_))));
    }

    #[test]
    fn run_task_downgrades_for_old_agents() {
        let mut resource = crate::resources::testing::scalar_resource("cpus", 1.0);
        resource = crate::resources::testing::reserved(resource, "db");
        let task = TaskInfo {
            name: "t".into(),
            resources: vec![resource],
            ..Default::default()
        };
        let framework = FrameworkInfo {
            user: "u".into(),
            name: "f".into(),
            ..Default::default()
        };
        let message = run_task(&framework, &task, "", true, true);
        let sent = &message.task.resources[0];
        assert_eq!(sent.role.as_deref(), Some("db"));
        assert!(sent.reservations.is_empty());
        assert_eq!(message.pid.as_deref(), Some(""));
        let modern = run_task(&framework, &task, "", true, false);
        assert_eq!(modern.task.resources[0].reservations.len(), 1);
    }
}
