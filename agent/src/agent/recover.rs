//! Checkpointing and recovery in the actor (upstream `Slave::recover`,
//! `_recover`, `reregisterExecutor`, `reregisterExecutorTimeout`,
//! `__recover`, and the `checkpoint*` calls along the task path).
//!
//! What is written, and when: the agent's info once registered; for
//! frameworks with `checkpoint=true` the framework (info and pid) when it
//! arrives or changes, the executor and its run before the container is
//! launched, the task before it is queued, the forked pid once the
//! executor runs, the HTTP marker or libprocess pid once it subscribes,
//! every status update before it is forwarded or acknowledged to the
//! executor, every acknowledgement once accepted, and a sentinel when the
//! run is over. A write that fails stops the agent: acting on state that
//! a restart would not see is how tasks get lost.
//!
//! On restart, [`Agent::recover`] rebuilds frameworks, executors, tasks and
//! update streams from the checkpoint in two steps: each executor's durable
//! record first ([`rebuild_executor_record`], pure, so a test can compare it
//! with what was checkpointed), then its live side: the recovered pid, the
//! sandbox under `/files`, the containerizer re-attached to the pid, and
//! the request to reconnect for v0 executors. It then kills containers no
//! checkpoint accounts for and waits up to
//! `--executor_reregistration_timeout` for executors to come back before it
//! looks for the master and re-registers under the same agent id. Executors that did not come back
//! are destroyed; executors that died meanwhile end their tasks as usual.

use std::collections::HashSet;
use std::path::Path;

use libprocess::Upid;
use mesos_proto::ids::{ContainerId, ExecutorId, FrameworkId};
use mesos_proto::is_terminal_state;
use mesos_proto::mesos::internal as msgs;
use mesos_proto::mesos::task_status::Reason;
use mesos_proto::mesos::{FrameworkInfo, SlaveId, Task, TaskState};

use super::state::{
    Executor, ExecutorLive, ExecutorRecord, ExecutorState, Framework, PendingTermination,
};
use super::tasks::{agent_update, UpdateSource};
use super::{Agent, Input};
use crate::error::AgentError;
use crate::paths;
use crate::recovery::{RecoveredAgent, RecoveredExecutor};

/// The durable record a checkpointed executor's latest run rebuilds to:
/// its tasks as checkpointed, every recorded update applied in order, and
/// the tasks whose terminal update was acknowledged completed. `None` for
/// an executor with no live run. Pure: nothing is started or attached.
pub(crate) fn rebuild_executor_record(
    work_dir: &Path,
    launcher_dir: &Path,
    slave_id: &str,
    framework_id: &FrameworkId,
    executor: &RecoveredExecutor,
) -> Option<ExecutorRecord> {
    let run = executor.run.as_ref()?;
    let directory = paths::executor_run_path(
        work_dir,
        slave_id,
        framework_id.as_str(),
        &executor.id,
        &run.container_id,
    );
    let generated = super::executor_info::is_command_executor(&executor.info, launcher_dir);
    let mut record = ExecutorRecord::new(
        framework_id.clone(),
        executor.info.clone(),
        ContainerId::new(&run.container_id),
        directory,
        true,
        generated,
    );
    for (task_id, task) in &run.tasks {
        record
            .launched_tasks
            .insert(task_id.into(), task.info.clone());
        for update in &task.updates {
            // Errors only mean a repeated terminal state.
            let _ = record.update_task_state(&update.status);
        }
        let terminal_acknowledged = task.updates.iter().any(|u| {
            is_terminal_state(u.status.state)
                && u.uuid.as_ref().is_some_and(|id| task.acks.contains(id))
        });
        if terminal_acknowledged {
            record.complete_task(task_id);
        }
    }
    Some(record)
}

impl Agent {
    /// Stops the process after a checkpoint write failed (upstream treats
    /// it as fatal too): continuing would act on state a restart loses.
    pub(crate) fn checkpoint_failed(&self, e: AgentError) -> ! {
        tracing::error!(
            "Failed to checkpoint: {e}; exiting so that no unrecorded change is acted on"
        );
        std::process::exit(1)
    }

    pub(crate) fn checkpoint_agent(&self) {
        if let Err(e) = self.checkpointer.agent(&self.info) {
            self.checkpoint_failed(e);
        }
    }

    pub(crate) fn checkpoint_framework(&self, framework: &Framework) {
        if !framework.info.checkpoint.unwrap_or(false) {
            return;
        }
        let pid = framework.pid.as_ref().map(|p| p.to_string());
        if let Err(e) =
            self.checkpointer
                .framework(&self.slave_id(), &framework.info, pid.as_deref())
        {
            self.checkpoint_failed(e);
        }
    }

    pub(crate) fn checkpoint_executor(&self, executor: &ExecutorRecord) {
        if !executor.checkpoint {
            return;
        }
        if let Err(e) = self.checkpointer.executor(
            &self.slave_id(),
            executor.framework_id.as_str(),
            &executor.info,
            executor.container_id.as_str(),
        ) {
            self.checkpoint_failed(e);
        }
    }

    pub(crate) fn checkpoint_task(&self, executor: &ExecutorRecord, task: &Task) {
        if !executor.checkpoint {
            return;
        }
        let slave_id = self.slave_id();
        if let Err(e) = self.checkpointer.task(&executor.run_ids(&slave_id), task) {
            self.checkpoint_failed(e);
        }
    }

    pub(crate) fn checkpoint_connection(
        &self,
        executor: &ExecutorRecord,
        libprocess_pid: Option<&Upid>,
    ) {
        if !executor.checkpoint {
            return;
        }
        let slave_id = self.slave_id();
        let ids = executor.run_ids(&slave_id);
        let result = match libprocess_pid {
            Some(pid) => self.checkpointer.libprocess_pid(&ids, &pid.to_string()),
            // A re-subscribing executor already has its marker.
            None if ids.http_marker(self.checkpointer.work_dir()).exists() => Ok(()),
            None => self.checkpointer.http_marker(&ids),
        };
        if let Err(e) = result {
            self.checkpoint_failed(e);
        }
    }

    pub(crate) fn checkpoint_update(
        &self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        update: &msgs::StatusUpdate,
    ) {
        let Some(executor) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.executors.get(executor_id))
            .map(|e| &e.durable)
            .filter(|e| e.checkpoint)
        else {
            return;
        };
        let slave_id = self.slave_id();
        if let Err(e) = self.checkpointer.update(
            &executor.run_ids(&slave_id),
            &update.status.task_id.value,
            update,
        ) {
            self.checkpoint_failed(e);
        }
    }

    pub(crate) fn checkpoint_ack(
        &self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        task_id: &str,
        uuid: &[u8],
    ) {
        let Some(executor) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.executors.get(executor_id))
            .map(|e| &e.durable)
            .filter(|e| e.checkpoint)
        else {
            return;
        };
        let slave_id = self.slave_id();
        if let Err(e) = self
            .checkpointer
            .ack(&executor.run_ids(&slave_id), task_id, uuid)
        {
            self.checkpoint_failed(e);
        }
    }

    pub(crate) fn checkpoint_completed(&self, executor: &ExecutorRecord) {
        if !executor.checkpoint {
            return;
        }
        let slave_id = self.slave_id();
        if let Err(e) = self.checkpointer.completed(&executor.run_ids(&slave_id)) {
            self.checkpoint_failed(e);
        }
    }

    /// Rebuilds state from the checkpoint and starts reconnecting executors.
    /// Returns false when the agent must stop (`--recover=cleanup` done).
    pub(crate) async fn recover(&mut self, recovered: Option<RecoveredAgent>) -> bool {
        let cleanup = self.flags.recover == "cleanup";
        let mut known = HashSet::new();
        if let Some(state) = recovered {
            if state.rebooted {
                tracing::info!("Agent host rebooted since the checkpoint; no executor survived");
            }
            known = self.rebuild(state, cleanup);
        }
        for (container_id, pid) in self.containerizer.orphans(&known) {
            tracing::info!("Cleaning up orphan container {container_id}");
            self.containerizer.destroy_orphan(&container_id, pid).await;
        }
        if cleanup {
            // The executors were killed; a restart starts as a new agent.
            let latest = paths::latest_slave_path(self.flags.work_dir());
            if let Err(e) = std::fs::remove_file(&latest) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::error!("Failed to remove '{}': {e}", latest.display());
                }
            }
            tracing::info!(
                "Cleanup of the agent's previous state is done; exiting (--recover=cleanup)"
            );
            return false;
        }
        if self.reconnecting_executors() > 0 {
            tracing::info!(
                "Waiting up to {} for {} executor(s) to reconnect",
                self.flags.executor_reregistration_timeout,
                self.reconnecting_executors()
            );
            self.recovering = true;
            self.schedule(
                self.flags.executor_reregistration_timeout.0,
                Input::ReregisterExecutorTimeout,
            );
        } else {
            self.replay_drain();
        }
        true
    }

    /// The in-memory state from the checkpoint; returns the container ids
    /// that are accounted for (so they are not orphans).
    fn rebuild(&mut self, state: RecoveredAgent, cleanup: bool) -> HashSet<String> {
        let mut known = HashSet::new();
        let slave_id = state.id.clone();
        tracing::info!("Recovering agent {slave_id}");
        if cleanup {
            // Everything recovered is killed; its tasks are not reported
            // (the master learns of them when this agent id is gone).
            for framework in state.frameworks.values() {
                for executor in framework.executors.values() {
                    if let Some(run) = &executor.run {
                        if let (Some(pid), false) = (run.forked_pid, state.rebooted) {
                            if crate::containerizer::is_alive(pid) {
                                tracing::info!("Killing executor '{}' (pid {pid})", executor.id);
                                crate::containerizer::kill_process_tree(pid);
                            }
                        }
                    }
                }
            }
            return known;
        }
        self.info.id = Some(SlaveId {
            value: slave_id.clone(),
        });
        self.drain_config = state.drain_config;
        let work_dir = self.flags.work_dir().to_path_buf();
        for (framework_id, recovered) in state.frameworks {
            let framework_id = FrameworkId::from(framework_id);
            let pid = recovered
                .pid
                .as_deref()
                .and_then(|p| p.parse::<Upid>().ok())
                .filter(|p| !p.is_empty());
            let mut framework = Framework::new(recovered.info.clone(), pid);
            for recovered_executor in recovered.executors.values() {
                // First the durable record, then the live handles.
                let Some(record) = rebuild_executor_record(
                    &work_dir,
                    &self.launcher_dir,
                    &slave_id,
                    &framework_id,
                    recovered_executor,
                ) else {
                    continue;
                };
                let Some(run) = &recovered_executor.run else {
                    continue;
                };
                known.insert(run.container_id.clone());
                for (task_id, task) in &run.tasks {
                    self.sum
                        .recover(framework_id.as_str(), task_id, &task.updates, &task.acks);
                }
                let pid = run.forked_pid.filter(|_| !state.rebooted);
                let executor = Executor {
                    durable: record,
                    live: ExecutorLive::recovered(pid),
                };
                self.attach_recovered(&framework, &executor, run);
                framework.executors.insert(executor.id().clone(), executor);
            }
            if !framework.executors.is_empty() {
                self.frameworks.insert(framework_id, framework);
            }
        }
        known
    }

    /// Re-attaches a recovered executor's live side: its sandbox under
    /// `/files`, its process to the containerizer, and (for a v0 driver
    /// whose process is still there) the request to reconnect.
    fn attach_recovered(
        &mut self,
        framework: &Framework,
        executor: &Executor,
        run: &crate::recovery::RecoveredRun,
    ) {
        let record = &executor.durable;
        let owner = super::executors::sandbox_owner(&record.info, &framework.info.user);
        self.attach_sandbox(&record.framework_id, &record.id, &record.directory, owner);
        let pid = executor.live.os_pid;
        let v0_pid = run
            .libprocess_pid
            .as_deref()
            .and_then(|p| p.parse::<Upid>().ok())
            .filter(|p| !p.is_empty() && !run.http);
        tracing::info!(
            "Recovered executor '{}' of framework {} (container {}, pid {pid:?})",
            record.id,
            record.framework_id,
            record.container_id
        );
        self.containerizer
            .recover(record.container_id.as_str(), pid);
        if let (Some(v0), Some(_)) = (v0_pid, pid) {
            // A v0 driver waits for this before re-registering.
            self.out.link(&v0);
            self.send(
                &v0,
                &msgs::ReconnectExecutorMessage {
                    slave_id: SlaveId {
                        value: self.slave_id(),
                    },
                },
            );
        }
    }

    fn reconnecting_executors(&self) -> usize {
        self.frameworks
            .values()
            .flat_map(|f| f.executors.values())
            .filter(|e| e.live.reconnecting && e.state() == ExecutorState::Registering)
            .count()
    }

    /// An executor came back (or ended): recovery may be complete.
    pub(crate) fn executor_reconnected(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
    ) {
        if let Some(executor) = self.executor_mut(framework_id, executor_id) {
            if executor.live.reconnecting {
                tracing::info!("Executor '{executor_id}' of framework {framework_id} reconnected");
            }
            executor.live.reconnecting = false;
        }
        if self.recovering && self.reconnecting_executors() == 0 {
            self.finish_recovery();
        }
    }

    /// `--executor_reregistration_timeout` passed: executors that did not
    /// come back are destroyed and their tasks lost.
    pub(crate) fn reregister_executor_timeout(&mut self) {
        if !self.recovering {
            return;
        }
        let mut late = Vec::new();
        for framework in self.frameworks.values() {
            for executor in framework.executors.values() {
                if executor.live.reconnecting && executor.state() == ExecutorState::Registering {
                    late.push((
                        framework.id.clone(),
                        executor.id().clone(),
                        lost_or_gone(&framework.info),
                    ));
                }
            }
        }
        for (framework_id, executor_id, state) in late {
            tracing::info!("Killing executor '{executor_id}' of framework {framework_id} because it did not reregister within {}", self.flags.executor_reregistration_timeout);
            let timeout = self.flags.executor_reregistration_timeout;
            let Some(executor) = self.executor_mut(&framework_id, &executor_id) else {
                continue;
            };
            executor.live.reconnecting = false;
            executor.live.state = ExecutorState::Terminating;
            executor.live.pending_termination = Some(PendingTermination {
                state,
                reason: Reason::ExecutorReregistrationTimeout as i32,
                message: format!("Executor did not reregister within {timeout}"),
            });
            let container_id = executor.durable.container_id.clone();
            self.containerizer.destroy(container_id.as_str());
        }
        self.finish_recovery();
    }

    fn finish_recovery(&mut self) {
        if !self.recovering {
            return;
        }
        self.recovering = false;
        self.replay_drain();
        tracing::info!("Finished recovery");
        self.detect_master(std::time::Duration::ZERO);
    }

    /// A v0 executor driver re-registers after an agent restart (upstream
    /// `reregisterExecutor`).
    pub(crate) fn reregister_executor(
        &mut self,
        from: &Upid,
        message: msgs::ReregisterExecutorMessage,
    ) {
        let framework_id = FrameworkId::from(&message.framework_id);
        let executor_id = ExecutorId::from(&message.executor_id);
        tracing::info!(
            "Received re-registration message from executor '{executor_id}' of framework {framework_id}"
        );
        let reconnecting = self
            .frameworks
            .get(&framework_id)
            .and_then(|f| f.executors.get(&executor_id))
            .is_some_and(|e| e.live.reconnecting && e.state() == ExecutorState::Registering);
        if !reconnecting {
            tracing::warn!("Shutting down executor '{executor_id}' of framework {framework_id}: it is not being recovered");
            self.send(from, &msgs::ShutdownExecutorMessage::default());
            return;
        }
        let info = self.info.clone();
        let Some(framework) = self.frameworks.get_mut(&framework_id) else {
            return;
        };
        let framework_info = framework.info.clone();
        let Some(executor) = framework.executors.get_mut(&executor_id) else {
            return;
        };
        executor.live.state = ExecutorState::Running;
        executor.live.connection = Some(super::state::Connection::Pid(from.clone()));
        let staging: Vec<String> = executor
            .durable
            .launched_tasks
            .values()
            .filter(|t| {
                t.state == TaskState::TaskStaging as i32
                    && !message.tasks.iter().any(|m| m.task_id == t.task_id)
            })
            .map(|t| t.task_id.value.clone())
            .collect();
        self.out.link(from);
        if let Some(executor) = self
            .frameworks
            .get(&framework_id)
            .and_then(|f| f.executors.get(&executor_id))
        {
            self.checkpoint_connection(&executor.durable, Some(from));
        }
        self.send(
            from,
            &msgs::ExecutorReregisteredMessage {
                slave_id: info.id.clone().unwrap_or_default(),
                slave_info: info,
            },
        );
        let slave_id = self.slave_id();
        for update in message.updates {
            self.status_update(update, UpdateSource::Executor(from.clone()));
        }
        for task_id in staging {
            let update = agent_update(
                &framework_id,
                &slave_id,
                &task_id,
                dropped_or_lost(&framework_info),
                Reason::SlaveRestarted,
                "Task launched during agent restart",
                Some(&executor_id),
            );
            self.status_update(update, UpdateSource::Agent);
        }
        self.executor_reconnected(&framework_id, &executor_id);
    }
}

fn has_partition_awareness(info: &FrameworkInfo) -> bool {
    super::state::has_capability(
        info,
        mesos_proto::mesos::framework_info::capability::Type::PartitionAware,
    )
}

/// What a recovered executor that never came back leaves its tasks in.
fn lost_or_gone(info: &FrameworkInfo) -> TaskState {
    if has_partition_awareness(info) {
        TaskState::TaskGone
    } else {
        TaskState::TaskLost
    }
}

fn dropped_or_lost(info: &FrameworkInfo) -> TaskState {
    if has_partition_awareness(info) {
        TaskState::TaskDropped
    } else {
        TaskState::TaskLost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpointer;
    use mesos_proto::mesos::{self as v0, TaskInfo, TaskStatus};

    fn status(task: &str, state: TaskState) -> msgs::StatusUpdate {
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        msgs::StatusUpdate {
            framework_id: v0::FrameworkId { value: "F".into() },
            executor_id: Some(v0::ExecutorId { value: "E".into() }),
            status: TaskStatus {
                task_id: v0::TaskId { value: task.into() },
                state: state as i32,
                uuid: Some(uuid.clone()),
                ..Default::default()
            },
            timestamp: 1.0,
            uuid: Some(uuid),
            ..Default::default()
        }
    }

    // Upstream SlaveRecoveryTest's premise, without processes: every
    // checkpoint the agent writes along the task path (framework, executor
    // and run, each task before it is queued, each update, each
    // acknowledgement) reads back into the very record it kept in memory:
    // launched, terminated-but-unacknowledged and completed tasks alike.
    #[test]
    fn recovery_rebuilds_the_executor_records_that_were_checkpointed() {
        let work = tempfile::tempdir().unwrap();
        let launcher = tempfile::tempdir().unwrap();
        let checkpointer = Checkpointer::new(work.path().to_path_buf());
        let slave_id = "S1";
        let mut agent_info =
            crate::info::slave_info("host".into(), 5051, &Default::default(), vec![]);
        agent_info.id = Some(SlaveId {
            value: slave_id.into(),
        });
        checkpointer.agent(&agent_info).unwrap();
        let framework_info = FrameworkInfo {
            id: Some(v0::FrameworkId { value: "F".into() }),
            checkpoint: Some(true),
            user: "nobody".into(),
            ..Default::default()
        };
        checkpointer
            .framework(slave_id, &framework_info, Some("scheduler@127.0.0.1:7000"))
            .unwrap();

        let framework_id = FrameworkId::new("F");
        let executor_info = v0::ExecutorInfo {
            executor_id: v0::ExecutorId { value: "E".into() },
            command: Some(v0::CommandInfo {
                value: Some("./my-executor".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let container_id = ContainerId::new("C1");
        let directory = paths::executor_run_path(work.path(), slave_id, "F", "E", "C1");
        let mut record = ExecutorRecord::new(
            framework_id.clone(),
            executor_info.clone(),
            container_id.clone(),
            directory,
            true,
            false,
        );
        checkpointer
            .executor(slave_id, "F", &executor_info, "C1")
            .unwrap();
        // The run's paths, as `record.run_ids` names them.
        let ids = paths::RunIds {
            slave_id,
            framework_id: "F",
            executor_id: "E",
            container_id: "C1",
        };
        for name in ["done", "running", "failed", "staging"] {
            let task = TaskInfo {
                name: name.into(),
                task_id: v0::TaskId { value: name.into() },
                slave_id: SlaveId {
                    value: slave_id.into(),
                },
                executor: Some(executor_info.clone()),
                ..Default::default()
            };
            record.add_launched_task(&task, &framework_info);
            checkpointer
                .task(&ids, &record.launched_tasks[name])
                .unwrap();
        }
        checkpointer.forked_pid(&ids, 4242).unwrap();
        let mut apply = |task: &str, state: TaskState, acknowledged: bool| {
            let update = status(task, state);
            record.update_task_state(&update.status).unwrap();
            checkpointer.update(&ids, task, &update).unwrap();
            if acknowledged {
                let uuid = update.uuid.clone().unwrap();
                checkpointer.ack(&ids, task, &uuid).unwrap();
                if is_terminal_state(state as i32) {
                    record.complete_task(task);
                }
            }
        };
        apply("done", TaskState::TaskRunning, true);
        apply("done", TaskState::TaskFinished, true);
        apply("running", TaskState::TaskRunning, false);
        apply("failed", TaskState::TaskRunning, true);
        apply("failed", TaskState::TaskFailed, false);

        let recovered = crate::recovery::recover(work.path(), true)
            .unwrap()
            .expect("a checkpointed agent");
        let framework = &recovered.frameworks["F"];
        assert_eq!(framework.info, framework_info);
        assert_eq!(framework.pid.as_deref(), Some("scheduler@127.0.0.1:7000"));
        let executor = &framework.executors["E"];
        assert_eq!(executor.run.as_ref().unwrap().forked_pid, Some(4242));
        let rebuilt = rebuild_executor_record(
            work.path(),
            launcher.path(),
            slave_id,
            &framework_id,
            executor,
        )
        .expect("the run is live");

        assert_eq!(
            rebuilt
                .completed_tasks
                .iter()
                .map(|t| t.task_id.value.as_str())
                .collect::<Vec<_>>(),
            ["done"]
        );
        assert!(rebuilt.terminated_tasks.contains_key("failed"));
        assert_eq!(
            rebuilt
                .launched_tasks
                .keys()
                .map(|k| k.as_str())
                .collect::<Vec<_>>(),
            ["running", "staging"]
        );
        assert_eq!(rebuilt, record);
    }
}
