//! The task path of the actor: running tasks and task groups, kills, status
//! updates (from executors or made by the agent) and their acknowledgements,
//! framework messages, framework updates and shutdowns (upstream
//! `Slave::run`, `killTask`, `statusUpdate`, `forward`,
//! `statusUpdateAcknowledgement`, `shutdownFramework`, ...).

use libprocess::Upid;
use mesos_proto::ids::{ExecutorId, FrameworkId};
use mesos_proto::mesos::framework_info::capability::Type as FrameworkCapability;
use mesos_proto::mesos::internal as msgs;
use mesos_proto::mesos::internal::StatusUpdate;
use mesos_proto::mesos::network_info::IpAddress;
use mesos_proto::mesos::task_status::{Reason, Source};
use mesos_proto::mesos::{
    self as v0, ContainerStatus, ExecutorInfo, FrameworkInfo, NetworkInfo, SlaveId, TaskGroupInfo,
    TaskInfo, TaskState, TaskStatus,
};

use super::executors::ToExecutor;
use super::state::{self, ExecutorState, Framework, FrameworkState};
use super::{now_secs, Agent, AgentState};

/// Who produced a status update, which decides `TaskStatus.source` and who
/// gets the acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UpdateSource {
    /// Made by the agent itself; nobody to acknowledge.
    Agent,
    /// A v1 HTTP executor: acknowledged with an ACKNOWLEDGED event.
    HttpExecutor,
    /// A v0 executor driver at this pid.
    Executor(Upid),
}

/// A status update the agent makes (upstream `protobuf::createStatusUpdate`).
pub(crate) fn agent_update(
    framework_id: &FrameworkId,
    slave_id: &str,
    task_id: &str,
    state: TaskState,
    reason: Reason,
    message: &str,
    executor_id: Option<&ExecutorId>,
) -> StatusUpdate {
    let timestamp = now_secs();
    let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
    let slave = SlaveId {
        value: slave_id.to_string(),
    };
    let executor = executor_id.map(ExecutorId::to_proto);
    StatusUpdate {
        framework_id: framework_id.to_proto(),
        executor_id: executor.clone(),
        slave_id: Some(slave.clone()),
        status: TaskStatus {
            task_id: v0::TaskId {
                value: task_id.to_string(),
            },
            state: state as i32,
            message: Some(message.to_string()),
            source: Some(Source::Slave as i32),
            reason: Some(reason as i32),
            slave_id: Some(slave),
            executor_id: executor,
            timestamp: Some(timestamp),
            uuid: Some(uuid.clone()),
            ..Default::default()
        },
        timestamp,
        uuid: Some(uuid),
        latest_state: None,
    }
}

/// A status update for a status an executor sent over HTTP (upstream
/// `createStatusUpdate(frameworkId, status, slaveId)`).
pub(crate) fn executor_update(
    framework_id: &v0::FrameworkId,
    mut status: TaskStatus,
    slave_id: &str,
) -> StatusUpdate {
    let timestamp = now_secs();
    let slave = SlaveId {
        value: slave_id.to_string(),
    };
    status.slave_id = Some(slave.clone());
    if status.timestamp.is_none() {
        status.timestamp = Some(timestamp);
    }
    StatusUpdate {
        framework_id: framework_id.clone(),
        executor_id: status.executor_id.clone(),
        slave_id: Some(slave),
        uuid: status.uuid.clone(),
        status,
        timestamp,
        latest_state: None,
    }
}

/// TASK_DROPPED for partition-aware frameworks, TASK_LOST for the others.
fn lost_or_dropped(framework: &FrameworkInfo) -> TaskState {
    if state::has_capability(framework, FrameworkCapability::PartitionAware) {
        TaskState::TaskDropped
    } else {
        TaskState::TaskLost
    }
}

impl Agent {
    pub(crate) fn run_task(&mut self, from: &Upid, message: msgs::RunTaskMessage) {
        if !self.is_master(from) {
            tracing::warn!(
                "Ignoring run task message from {from} because it is not the expected master"
            );
            return;
        }
        if message.framework.id.is_none() {
            tracing::error!(
                "Ignoring run task message from {from} because it does not have a framework ID"
            );
            return;
        }
        let task = message.task;
        let executor =
            super::executor_info::executor_info_for(&message.framework, &task, &self.launcher_dir);
        let pid = message
            .pid
            .as_deref()
            .and_then(|p| p.parse::<Upid>().ok())
            .filter(|p| !p.is_empty());
        self.run_tasks(
            message.framework,
            executor,
            vec![task],
            None,
            pid,
            message.launch_executor,
        );
    }

    pub(crate) fn run_task_group(&mut self, from: &Upid, message: msgs::RunTaskGroupMessage) {
        if !self.is_master(from) {
            tracing::warn!(
                "Ignoring run task group message from {from} because it is not the expected master"
            );
            return;
        }
        if message.framework.id.is_none() {
            tracing::error!("Ignoring run task group message from {from} because it does not have a framework ID");
            return;
        }
        if message.task_group.tasks.is_empty() {
            tracing::error!("Ignoring run task group message from {from} because it has no tasks");
            return;
        }
        let tasks = message.task_group.tasks.clone();
        self.run_tasks(
            message.framework,
            message.executor,
            tasks,
            Some(message.task_group),
            None,
            message.launch_executor,
        );
    }

    fn run_tasks(
        &mut self,
        framework_info: FrameworkInfo,
        mut executor_info: ExecutorInfo,
        mut tasks: Vec<TaskInfo>,
        mut group: Option<TaskGroupInfo>,
        pid: Option<Upid>,
        launch_executor: Option<bool>,
    ) {
        let framework_id = framework_info
            .id
            .as_ref()
            .map(FrameworkId::from)
            .unwrap_or_default();
        state::inject_allocation_info(&mut executor_info.resources, &framework_info);
        for task in tasks.iter_mut() {
            state::inject_allocation_info(&mut task.resources, &framework_info);
            if let Some(e) = task.executor.as_mut() {
                state::inject_allocation_info(&mut e.resources, &framework_info);
            }
        }
        if let Some(g) = group.as_mut() {
            g.tasks = tasks.clone();
        }
        let is_command_task =
            group.is_none() && tasks.first().is_some_and(|t| t.executor.is_none());
        let slave_id = self.slave_id();
        for task in &tasks {
            if task.slave_id.value != slave_id {
                tracing::warn!(
                    "Agent {slave_id} ignoring task {} because it was intended for old agent {}",
                    task.task_id.value,
                    task.slave_id.value
                );
                return;
            }
        }
        if self.state == AgentState::Terminating {
            tracing::warn!("Ignoring running tasks because the agent is terminating");
            return;
        }
        tracing::info!(
            "Got assigned task(s) {:?} for framework {framework_id}",
            tasks
                .iter()
                .map(|t| t.task_id.value.as_str())
                .collect::<Vec<_>>()
        );

        if !self.frameworks.contains_key(&framework_id) {
            let mut framework = Framework::new(framework_info.clone(), pid);
            if let Some(i) = self
                .completed_frameworks
                .iter()
                .position(|f| f.id == framework_id)
            {
                if let Some(old) = self.completed_frameworks.remove(i) {
                    framework.completed_executors = old.completed_executors;
                }
            }
            self.checkpoint_framework(&framework);
            self.frameworks.insert(framework_id.clone(), framework);
        }
        let Some(framework) = self.frameworks.get(&framework_id) else {
            return;
        };
        if framework.state == FrameworkState::Terminating {
            tracing::warn!("Ignoring running tasks of framework {framework_id} because the framework is terminating");
            return;
        }

        let executor_id = ExecutorId::from(&executor_info.executor_id);
        let existing = framework.executors.get(&executor_id).map(|e| e.state());
        let dropped_state = lost_or_dropped(&framework_info);

        if self.drain_config.is_some() {
            tracing::warn!(
                "Ignoring running task(s) of framework {framework_id} because the agent is draining"
            );
            self.drop_tasks(
                &framework_id,
                &tasks,
                dropped_state,
                Reason::SlaveDraining,
                "Task was received while agent was already draining",
                None,
            );
            self.remove_framework_if_idle(&framework_id);
            if launch_executor == Some(true) {
                self.send_exited_executor(&framework_id, &executor_id, -1);
            }
            return;
        }

        if let Some(launch) = launch_executor {
            if !is_command_task {
                if launch && existing.is_some() {
                    self.drop_tasks(
                        &framework_id,
                        &tasks,
                        dropped_state,
                        Reason::ExecutorTerminated,
                        "Master wants to launch executor, but one already exists",
                        Some(&executor_id),
                    );
                    if existing == Some(ExecutorState::Terminated) {
                        self.send_exited_executor(&framework_id, &executor_id, -1);
                    } else {
                        self.shutdown_executor(&framework_id, &executor_id);
                    }
                    return;
                }
                if !launch && existing.is_none() {
                    self.drop_tasks(
                        &framework_id,
                        &tasks,
                        dropped_state,
                        Reason::ExecutorTerminated,
                        "No executor is expected to launch and there is none running",
                        Some(&executor_id),
                    );
                    self.remove_framework_if_idle(&framework_id);
                    return;
                }
            }
        }

        let mut used = executor_info.resources.clone();
        tasks
            .iter()
            .for_each(|t| used.extend(t.resources.iter().cloned()));
        if let Some(error) = self.unknown_checkpointed(&used) {
            tracing::error!("{error}");
            self.drop_tasks(
                &framework_id,
                &tasks,
                dropped_state,
                Reason::ResourcesUnknown,
                &error,
                None,
            );
            self.remove_framework_if_idle(&framework_id);
            return;
        }

        let mut launch_task = None;
        if existing.is_none() {
            if let Err(e) = self.add_executor(&framework_id, executor_info.clone()) {
                tracing::error!(
                    "Failed to add executor '{executor_id}' of framework {framework_id}: {e}"
                );
                self.drop_tasks(
                    &framework_id,
                    &tasks,
                    dropped_state,
                    Reason::ExecutorTerminated,
                    &e,
                    Some(&executor_id),
                );
                self.remove_framework_if_idle(&framework_id);
                if launch_executor == Some(true) {
                    self.send_exited_executor(&framework_id, &executor_id, -1);
                }
                return;
            }
            launch_task = Some(if group.is_none() {
                tasks.first().cloned()
            } else {
                None
            });
        }

        let sandbox = self
            .frameworks
            .get(&framework_id)
            .and_then(|f| f.executors.get(&executor_id))
            .map(|e| e.durable.directory.clone());
        if let Some(sandbox) = sandbox {
            if let Err(error) = self.link_volumes(&sandbox, &used) {
                tracing::error!("{error}");
            }
        }

        let state = self
            .frameworks
            .get(&framework_id)
            .and_then(|f| f.executors.get(&executor_id))
            .map(|e| e.state());
        match state {
            Some(s @ (ExecutorState::Terminating | ExecutorState::Terminated)) => {
                let word = if s == ExecutorState::Terminating {
                    "terminating"
                } else {
                    "terminated"
                };
                tracing::warn!("Asked to run tasks with executor '{executor_id}' which is {word}");
                self.drop_tasks(
                    &framework_id,
                    &tasks,
                    dropped_state,
                    Reason::ExecutorTerminated,
                    &format!("Executor {word}"),
                    None,
                );
            }
            Some(s) => {
                if let Some(executor) = self
                    .frameworks
                    .get(&framework_id)
                    .and_then(|f| f.executors.get(&executor_id))
                {
                    for task in &tasks {
                        let record =
                            state::create_task(task, TaskState::TaskStaging, &framework_info);
                        self.checkpoint_task(&executor.durable, &record);
                    }
                }
                if let Some(executor) = self.executor_mut(&framework_id, &executor_id) {
                    match &group {
                        Some(g) => executor.live.enqueue_task_group(g.clone()),
                        None => tasks
                            .iter()
                            .for_each(|t| executor.live.enqueue_task(t.clone())),
                    }
                }
                tracing::info!(
                    "Queued task(s) for executor '{executor_id}' of framework {framework_id}"
                );
                if s == ExecutorState::Running {
                    let (single, groups) = match group {
                        Some(g) => (Vec::new(), vec![g]),
                        None => (tasks, Vec::new()),
                    };
                    self.deliver_queued(&framework_id, &executor_id, single, groups);
                }
            }
            None => {}
        }

        if let Some(task) = launch_task {
            self.launch_executor(&framework_id, &executor_id, task);
        }
    }

    /// Sends agent-made LOST/DROPPED-style updates for tasks never launched.
    fn drop_tasks(
        &mut self,
        framework_id: &FrameworkId,
        tasks: &[TaskInfo],
        state: TaskState,
        reason: Reason,
        message: &str,
        executor_id: Option<&ExecutorId>,
    ) {
        let slave_id = self.slave_id();
        for task in tasks {
            let update = agent_update(
                framework_id,
                &slave_id,
                &task.task_id.value,
                state,
                reason,
                message,
                executor_id,
            );
            self.status_update(update, UpdateSource::Agent);
        }
    }

    pub(crate) fn send_exited_executor(
        &self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        status: i32,
    ) {
        let message = msgs::ExitedExecutorMessage {
            slave_id: SlaveId {
                value: self.slave_id(),
            },
            framework_id: framework_id.to_proto(),
            executor_id: executor_id.to_proto(),
            status,
        };
        self.send_to_master(&message);
    }

    pub(crate) fn kill_task(&mut self, from: &Upid, message: msgs::KillTaskMessage) {
        if !self.is_master(from) {
            tracing::warn!(
                "Ignoring kill task message from {from} because it is not the expected master"
            );
            return;
        }
        let framework_id = FrameworkId::from(&message.framework_id);
        tracing::info!(
            "Asked to kill task {} of framework {framework_id}",
            message.task_id.value
        );
        self.kill(&framework_id, message.task_id, message.kill_policy);
    }

    /// Kills a task for the master or for draining (upstream `kill`).
    pub(crate) fn kill(
        &mut self,
        framework_id: &FrameworkId,
        task: mesos_proto::mesos::TaskId,
        kill_policy: Option<mesos_proto::mesos::KillPolicy>,
    ) {
        let framework_id = framework_id.clone();
        let task_id = task.value.clone();
        if self.state == AgentState::Terminating {
            tracing::warn!("Cannot kill task {task_id} because the agent is terminating");
            return;
        }
        let Some(framework) = self.frameworks.get(&framework_id) else {
            tracing::warn!("Ignoring kill task {task_id} because no such framework is running");
            return;
        };
        if framework.state == FrameworkState::Terminating {
            tracing::warn!("Ignoring kill task {task_id} because the framework is terminating");
            return;
        }
        let slave_id = self.slave_id();
        let Some(executor_id) = framework.executor_id_for_task(&task_id) else {
            tracing::warn!(
                "Cannot kill task {task_id} because no corresponding executor is running"
            );
            let update = agent_update(
                &framework_id,
                &slave_id,
                &task_id,
                lost_or_dropped(&framework.info),
                Reason::ExecutorTerminated,
                "Cannot find executor",
                None,
            );
            self.status_update(update, UpdateSource::Agent);
            return;
        };
        let Some(executor) = framework.executors.get(&executor_id) else {
            return;
        };
        if matches!(
            executor.state(),
            ExecutorState::Terminating | ExecutorState::Terminated
        ) {
            tracing::warn!(
                "Ignoring kill task {task_id} because the executor '{executor_id}' is {}",
                executor.state().name()
            );
            return;
        }
        // A task the executor has not received yet is killed by the agent
        // itself (the whole group, for a task group).
        let undelivered =
            executor.state() == ExecutorState::Registering || executor.live.is_queued(&task_id);
        if !undelivered {
            self.send_to_executor(
                &framework_id,
                &executor_id,
                ToExecutor::Kill {
                    task_id: task,
                    kill_policy,
                },
            );
            return;
        }
        let (ids, text): (Vec<String>, &str) = match executor.live.queued_task_group(&task_id) {
            Some(g) => (
                g.tasks.iter().map(|t| t.task_id.value.clone()).collect(),
                "A task within the task group was killed before delivery to the executor",
            ),
            None => (
                vec![task_id.clone()],
                "Killed before delivery to the executor",
            ),
        };
        let was_running = executor.state() == ExecutorState::Running;
        for id in ids {
            let update = agent_update(
                &framework_id,
                &slave_id,
                &id,
                TaskState::TaskKilled,
                Reason::TaskKilledDuringLaunch,
                text,
                Some(&executor_id),
            );
            self.status_update(update, UpdateSource::Agent);
        }
        // A running executor that never got a task would not exit on its own.
        let idle = self
            .frameworks
            .get(&framework_id)
            .and_then(|f| f.executors.get(&executor_id))
            .is_some_and(|e| !e.durable.ever_sent_task() && e.live.queued_tasks.is_empty());
        if was_running && idle {
            tracing::warn!(
                "Shutting down executor '{executor_id}' because it has never been sent a task \
                 and all of its queued tasks have been killed before delivery"
            );
            self.shutdown_executor(&framework_id, &executor_id);
        }
    }

    /// Handles a status update from an executor or the agent itself
    /// (upstream `statusUpdate` through `___statusUpdate`).
    pub(crate) fn status_update(&mut self, mut update: StatusUpdate, source: UpdateSource) {
        let Some(uuid) = update.uuid.clone() else {
            tracing::warn!(
                "Ignoring status update for task {} without 'uuid'",
                update.status.task_id.value
            );
            self.counters.invalid_status_updates += 1;
            return;
        };
        let slave_id = self.slave_id();
        let update_slave = update.slave_id.as_ref().map(|s| s.value.as_str());
        let status_slave = update.status.slave_id.as_ref().map(|s| s.value.as_str());
        if update_slave != Some(slave_id.as_str()) || status_slave != Some(slave_id.as_str()) {
            tracing::warn!(
                "Ignoring status update for task {} due to agent ID mismatch; expected '{slave_id}'",
                update.status.task_id.value
            );
            self.counters.invalid_status_updates += 1;
            return;
        }
        update.status.uuid = Some(uuid);
        update.status.source = Some(match source {
            UpdateSource::Agent => Source::Slave as i32,
            _ => Source::Executor as i32,
        });
        if let Some(executor_id) = &update.executor_id {
            update.status.executor_id = Some(executor_id.clone());
        }

        let framework_id = FrameworkId::from(&update.framework_id);
        let task_id = update.status.task_id.value.clone();
        let Some(framework) = self.frameworks.get(&framework_id) else {
            tracing::warn!(
                "Ignoring status update for task {task_id} of unknown framework {framework_id}"
            );
            self.counters.invalid_status_updates += 1;
            return;
        };
        if framework.state == FrameworkState::Terminating {
            tracing::warn!(
                "Ignoring status update for task {task_id} of terminating framework {framework_id}"
            );
            self.counters.invalid_status_updates += 1;
            return;
        }
        if let Some(config) = &self.drain_config {
            let partition_aware = framework.info.capabilities.iter().any(|c| {
                c.r#type
                    == Some(
                        mesos_proto::mesos::framework_info::capability::Type::PartitionAware as i32,
                    )
            });
            super::drain::draining_update(config, partition_aware, &mut update.status);
        }
        tracing::info!(
            "Handling status update {} for task {task_id} of framework {framework_id}",
            state::state_name(update.status.state)
        );
        if let Some(uuid) = &update.uuid {
            if self.sum.knows(framework_id.as_str(), &task_id, uuid) {
                // A re-sent update (e.g. after a reconnect): already
                // recorded; only the sender still needs its acknowledgement.
                tracing::warn!("Ignoring duplicate status update for task {task_id}");
                self.acknowledge_executor(&update, &source);
                return;
            }
        }

        let Some(executor_id) = framework.executor_id_for_task(&task_id) else {
            // The task is unknown here (e.g. already completed); the update
            // still goes out because the master may be waiting for it.
            tracing::warn!("Could not find the executor for status update of task {task_id}");
            self.counters.valid_status_updates += 1;
            self.sum_update(update.clone());
            self.acknowledge_executor(&update, &source);
            return;
        };
        let framework_info = framework.info.clone();
        let agent_ip = self.self_pid.ip.to_string();
        let Some(executor) = self
            .frameworks
            .get_mut(&framework_id)
            .and_then(|f| f.executors.get_mut(&executor_id))
        else {
            return;
        };

        if update.status.source == Some(Source::Executor as i32)
            && update.status.state == TaskState::TaskStaging as i32
        {
            tracing::error!("Received TASK_STAGING from executor '{executor_id}' which is not allowed. Shutting down the executor");
            self.shutdown_executor(&framework_id, &executor_id);
            return;
        }

        // Tasks that reached the executor carry the container's status.
        let queued = executor.live.is_queued(&task_id);
        let dropped_by_agent = executor
            .durable
            .launched_tasks
            .contains_key(task_id.as_str())
            && update.status.source == Some(Source::Slave as i32)
            && (update.status.state == TaskState::TaskDropped as i32
                || update.status.state == TaskState::TaskLost as i32);
        if !queued && !dropped_by_agent {
            let container_status = update
                .status
                .container_status
                .get_or_insert_with(ContainerStatus::default);
            if container_status.container_id.is_none() {
                container_status.container_id = Some(executor.durable.container_id.to_proto());
            }
            if container_status.network_infos.is_empty() {
                container_status.network_infos.push(NetworkInfo {
                    ip_addresses: vec![IpAddress {
                        protocol: None,
                        ip_address: Some(agent_ip),
                    }],
                    ..Default::default()
                });
            }
            if container_status.executor_pid.is_none() {
                container_status.executor_pid =
                    executor.live.os_pid.and_then(|p| u32::try_from(p).ok());
            }
        }

        self.counters.valid_status_updates += 1;
        if let Err(e) = executor.update_task_state(&update.status, &framework_info) {
            // Acknowledge anyway so the executor does not retry forever.
            tracing::error!("Failed to update state of task '{task_id}': {e}");
            self.acknowledge_executor(&update, &source);
            return;
        }
        // Durable before it is forwarded or acknowledged to the executor.
        self.checkpoint_update(&framework_id, &executor_id, &update);
        self.sum_update(update.clone());
        self.acknowledge_executor(&update, &source);
    }

    fn sum_update(&mut self, update: StatusUpdate) {
        match self.sum.update(update) {
            Ok(Some(head)) => self.forward(head),
            Ok(None) => {}
            Err(e) => tracing::error!("Failed to handle status update: {e}"),
        }
    }

    /// Tells the sender that the agent has taken over its update.
    fn acknowledge_executor(&mut self, update: &StatusUpdate, source: &UpdateSource) {
        let uuid = update.uuid.clone().unwrap_or_default();
        match source {
            UpdateSource::Agent => {}
            UpdateSource::Executor(pid) => {
                let ack = msgs::StatusUpdateAcknowledgementMessage {
                    slave_id: update.slave_id.clone().unwrap_or_default(),
                    framework_id: update.framework_id.clone(),
                    task_id: update.status.task_id.clone(),
                    uuid,
                };
                if !pid.is_empty() {
                    self.send(pid, &ack);
                }
            }
            UpdateSource::HttpExecutor => {
                let framework_id = FrameworkId::from(&update.framework_id);
                let Some(executor_id) = self
                    .frameworks
                    .get(&framework_id)
                    .and_then(|f| f.executor_id_for_task(&update.status.task_id.value))
                else {
                    tracing::warn!(
                        "Ignoring sending acknowledgement for status update of task {} of unknown executor",
                        update.status.task_id.value
                    );
                    return;
                };
                self.send_to_executor(
                    &framework_id,
                    &executor_id,
                    ToExecutor::Acknowledged {
                        task_id: update.status.task_id.clone(),
                        uuid,
                    },
                );
            }
        }
    }

    /// Sends an update to the master (upstream `Slave::forward`); dropped
    /// while not registered (the status update manager resends it later).
    pub(crate) fn forward(&mut self, mut update: StatusUpdate) {
        if self.state != AgentState::Running {
            tracing::warn!(
                "Dropping status update for task {} sent by the status update manager because the agent is in {} state",
                update.status.task_id.value,
                self.state.name()
            );
            return;
        }
        update.status.uuid = update.uuid.clone();
        let framework_id = FrameworkId::from(&update.framework_id);
        let task_id = update.status.task_id.value.clone();
        if let Some(executor_id) = self
            .frameworks
            .get(&framework_id)
            .and_then(|f| f.executor_id_for_task(&task_id))
        {
            if let Some(executor) = self.executor_mut(&framework_id, &executor_id) {
                let record = &mut executor.durable;
                let task = match record.launched_tasks.get_mut(task_id.as_str()) {
                    Some(t) => Some(t),
                    None => record.terminated_tasks.get_mut(task_id.as_str()),
                };
                if let Some(task) = task {
                    task.status_update_state = Some(update.status.state);
                    task.status_update_uuid = update.uuid.clone();
                    update.latest_state = Some(task.state);
                }
            }
        }
        let Some(master) = self.master.clone() else {
            return;
        };
        tracing::info!(
            "Forwarding the update {} for task {task_id} of framework {framework_id} to {master}",
            state::state_name(update.status.state)
        );
        let message = msgs::StatusUpdateMessage {
            update,
            pid: Some(self.self_pid.to_string()),
        };
        self.send(&master, &message);
    }

    pub(crate) fn status_update_acknowledgement(
        &mut self,
        from: &Upid,
        message: msgs::StatusUpdateAcknowledgementMessage,
    ) {
        // Acks from a master must come from the current one while
        // registered; old drivers may still ack directly.
        if from.id.starts_with("master") {
            if self.state != AgentState::Running {
                tracing::warn!(
                    "Dropping status update acknowledgement because the agent is in {} state",
                    self.state.name()
                );
                return;
            }
            if !self.is_master(from) {
                tracing::warn!(
                    "Ignoring status update acknowledgement from {from}: not the expected master"
                );
                return;
            }
        } else if !self.trusts_for_framework(
            from,
            "mesos.internal.StatusUpdateAcknowledgementMessage",
            &message.framework_id.value,
        ) {
            return;
        }
        let framework_id = FrameworkId::from(&message.framework_id);
        let task_id = message.task_id.value.clone();
        let ack = match self
            .sum
            .acknowledge(framework_id.as_str(), &task_id, &message.uuid)
        {
            Ok(ack) => ack,
            Err(e) => {
                tracing::error!("Failed to handle status update acknowledgement for task {task_id} of framework {framework_id}: {e}");
                return;
            }
        };
        let Some(executor_id) = self
            .frameworks
            .get(&framework_id)
            .and_then(|f| f.executor_id_for_task(&task_id))
        else {
            if let Some(next) = ack.next {
                self.forward(next);
            }
            return;
        };
        self.checkpoint_ack(&framework_id, &executor_id, &task_id, &message.uuid);
        if let Some(next) = ack.next {
            self.forward(next);
        }
        let Some(executor) = self.executor_mut(&framework_id, &executor_id) else {
            return;
        };
        if ack.terminated
            && executor
                .durable
                .terminated_tasks
                .contains_key(task_id.as_str())
        {
            executor.durable.complete_task(&task_id);
        }
        if executor.state() == ExecutorState::Terminated && !executor.incomplete_tasks() {
            self.remove_executor(&framework_id, &executor_id);
        }
        self.remove_framework_if_idle(&framework_id);
    }

    /// Answers the master's reconciliation after re-registration: tasks the
    /// master knows but this agent does not become LOST/DROPPED.
    pub(crate) fn reconcile(&mut self, message: msgs::ReconcileTasksMessage) {
        let framework_id = FrameworkId::from(&message.framework_id);
        let partition_aware = message
            .framework
            .as_ref()
            .is_some_and(|f| state::has_capability(f, FrameworkCapability::PartitionAware));
        let slave_id = self.slave_id();
        for status in &message.statuses {
            let task_id = status.task_id.value.clone();
            let known = self
                .frameworks
                .get(&framework_id)
                .is_some_and(|f| f.has_task(&task_id));
            if known {
                continue;
            }
            let state = if partition_aware {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            tracing::warn!("Agent reconciling task {task_id} of framework {framework_id} in state {}: task unknown to the agent", state.as_str_name());
            let update = agent_update(
                &framework_id,
                &slave_id,
                &task_id,
                state,
                Reason::Reconciliation,
                "Reconciliation: task unknown to the agent",
                None,
            );
            // Straight to the manager: `status_update` drops unknown frameworks.
            self.sum_update(update);
        }
    }

    pub(crate) fn shutdown_framework(&mut self, from: Option<&Upid>, framework_id: &FrameworkId) {
        if let Some(from) = from {
            if !self.is_master(from) {
                tracing::warn!("Ignoring shutdown framework message for {framework_id} from {from}: not the registered master");
                return;
            }
            if self.state == AgentState::Disconnected {
                tracing::warn!("Ignoring shutdown framework message for {framework_id} because the agent has not yet registered with the master");
                return;
            }
        }
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            tracing::debug!("Cannot shut down unknown framework {framework_id}");
            return;
        };
        if framework.state == FrameworkState::Terminating {
            tracing::warn!("Ignoring shutdown framework {framework_id} because it is terminating");
            return;
        }
        tracing::info!("Shutting down framework {framework_id}");
        framework.state = FrameworkState::Terminating;
        // Its streams can no longer be acknowledged.
        self.sum.cleanup(framework_id.as_str());
        let executors: Vec<(ExecutorId, ExecutorState)> = framework
            .executors
            .values()
            .map(|e| (e.id().clone(), e.state()))
            .collect();
        for (executor_id, state) in executors {
            match state {
                ExecutorState::Registering | ExecutorState::Running => {
                    self.shutdown_executor(framework_id, &executor_id)
                }
                ExecutorState::Terminated => self.remove_executor(framework_id, &executor_id),
                ExecutorState::Terminating => {}
            }
        }
        self.remove_framework_if_idle(framework_id);
    }

    /// `FrameworkToExecutorMessage`, from the master or a v0 scheduler.
    pub(crate) fn scheduler_message(&mut self, message: msgs::FrameworkToExecutorMessage) {
        let framework_id = FrameworkId::from(&message.framework_id);
        let executor_id = ExecutorId::from(&message.executor_id);
        if self.state != AgentState::Running {
            tracing::warn!(
                "Dropping message from framework {framework_id} because the agent is in {} state",
                self.state.name()
            );
            self.counters.invalid_framework_messages += 1;
            return;
        }
        let state = match self.frameworks.get(&framework_id) {
            None => None,
            Some(f) if f.state == FrameworkState::Terminating => None,
            Some(f) => f.executors.get(&executor_id).map(|e| e.state()),
        };
        if state != Some(ExecutorState::Running) {
            tracing::warn!("Dropping message for executor '{executor_id}' of framework {framework_id}: executor not running");
            self.counters.invalid_framework_messages += 1;
            return;
        }
        self.send_to_executor(
            &framework_id,
            &executor_id,
            ToExecutor::Message(message.data),
        );
        self.counters.valid_framework_messages += 1;
    }

    /// A framework message from an executor: straight to a v0 scheduler, or
    /// through the master for HTTP schedulers.
    pub(crate) fn executor_message(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        data: Vec<u8>,
    ) {
        if self.state != AgentState::Running {
            tracing::warn!("Dropping framework message from executor '{executor_id}' because the agent is in {} state", self.state.name());
            self.counters.invalid_framework_messages += 1;
            return;
        }
        let Some(framework) = self.frameworks.get(framework_id) else {
            tracing::warn!("Cannot send framework message from executor '{executor_id}' to unknown framework {framework_id}");
            self.counters.invalid_framework_messages += 1;
            return;
        };
        if framework.state == FrameworkState::Terminating {
            self.counters.invalid_framework_messages += 1;
            return;
        }
        let message = msgs::ExecutorToFrameworkMessage {
            slave_id: SlaveId {
                value: self.slave_id(),
            },
            framework_id: framework_id.to_proto(),
            executor_id: executor_id.to_proto(),
            data,
        };
        match framework.pid.clone() {
            Some(pid) => self.send(&pid, &message),
            None => self.send_to_master(&message),
        }
        self.counters.valid_framework_messages += 1;
    }

    pub(crate) fn update_framework(&mut self, message: msgs::UpdateFrameworkMessage) {
        let framework_id = FrameworkId::from(&message.framework_id);
        if self.state != AgentState::Running {
            tracing::warn!("Dropping updateFramework message for {framework_id} because the agent is in {} state", self.state.name());
            self.counters.invalid_framework_messages += 1;
            return;
        }
        let Some(framework) = self.frameworks.get_mut(&framework_id) else {
            tracing::info!(
                "Ignoring info update for framework {framework_id} because it does not exist"
            );
            return;
        };
        if framework.state == FrameworkState::Terminating {
            tracing::warn!(
                "Ignoring info update for framework {framework_id} because it is terminating"
            );
            return;
        }
        tracing::info!("Updating info for framework {framework_id}");
        if let Some(info) = message.framework_info {
            framework.info = info;
        }
        framework.pid = message
            .pid
            .as_deref()
            .and_then(|p| p.parse::<Upid>().ok())
            .filter(|p| !p.is_empty());
        if let Some(framework) = self.frameworks.get(&framework_id) {
            self.checkpoint_framework(framework);
        }
        // Pending updates may now reach a reconnected scheduler.
        for update in self.sum.resume() {
            self.forward(update);
        }
    }

    pub(crate) fn executor_mut(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
    ) -> Option<&mut state::Executor> {
        self.frameworks
            .get_mut(framework_id)?
            .executors
            .get_mut(executor_id)
    }
}
