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
//! update streams from the checkpoint, re-attaches the containerizer to the
//! executors' pids, kills containers no checkpoint accounts for, asks v0
//! executors to reconnect, and waits up to `--executor_reregistration_timeout`
//! for executors to come back before it looks for the master and
//! re-registers under the same agent id. Executors that did not come back
//! are destroyed; executors that died meanwhile end their tasks as usual.

use std::collections::HashSet;

use libprocess::Upid;
use mesos_proto::mesos::internal as msgs;
use mesos_proto::mesos::task_status::Reason;
use mesos_proto::mesos::{FrameworkInfo, SlaveId, Task, TaskState};

use super::state::{Executor, ExecutorState, Framework, PendingTermination};
use super::tasks::{agent_update, UpdateSource};
use super::{Agent, Input};
use crate::error::AgentError;
use crate::paths;
use crate::recovery::RecoveredAgent;

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

    pub(crate) fn checkpoint_executor(&self, executor: &Executor) {
        if !executor.checkpoint {
            return;
        }
        if let Err(e) = self.checkpointer.executor(
            &self.slave_id(),
            &executor.framework_id,
            &executor.info,
            &executor.container_id,
        ) {
            self.checkpoint_failed(e);
        }
    }

    pub(crate) fn checkpoint_task(&self, executor: &Executor, task: &Task) {
        if !executor.checkpoint {
            return;
        }
        let slave_id = self.slave_id();
        if let Err(e) = self.checkpointer.task(&executor.run_ids(&slave_id), task) {
            self.checkpoint_failed(e);
        }
    }

    pub(crate) fn checkpoint_forked_pid(&self, executor: &Executor, pid: i32) {
        if !executor.checkpoint {
            return;
        }
        let slave_id = self.slave_id();
        if let Err(e) = self
            .checkpointer
            .forked_pid(&executor.run_ids(&slave_id), pid)
        {
            self.checkpoint_failed(e);
        }
    }

    pub(crate) fn checkpoint_connection(&self, executor: &Executor, libprocess_pid: Option<&Upid>) {
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
        framework_id: &str,
        executor_id: &str,
        update: &msgs::StatusUpdate,
    ) {
        let Some(executor) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.executors.get(executor_id))
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
        framework_id: &str,
        executor_id: &str,
        task_id: &str,
        uuid: &[u8],
    ) {
        let Some(executor) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.executors.get(executor_id))
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

    pub(crate) fn checkpoint_completed(&self, executor: &Executor) {
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
            let pid = recovered
                .pid
                .as_deref()
                .and_then(|p| p.parse::<Upid>().ok())
                .filter(|p| !p.is_empty());
            let mut framework = Framework::new(recovered.info.clone(), pid);
            for (executor_id, recovered_executor) in recovered.executors {
                let Some(run) = recovered_executor.run else {
                    continue;
                };
                known.insert(run.container_id.clone());
                let directory = paths::executor_run_path(
                    &work_dir,
                    &slave_id,
                    &framework_id,
                    &executor_id,
                    &run.container_id,
                );
                let generated = super::executor_info::is_command_executor(
                    &recovered_executor.info,
                    &self.launcher_dir,
                );
                let mut executor = Executor::new(
                    &framework_id,
                    recovered_executor.info,
                    run.container_id.clone(),
                    directory.clone(),
                    None,
                    true,
                    generated,
                );
                executor.reconnecting = true;
                let pid = run.forked_pid.filter(|_| !state.rebooted);
                executor.os_pid = pid;
                for (task_id, task) in run.tasks {
                    executor
                        .launched_tasks
                        .insert(task_id.clone(), task.info.clone());
                    for update in &task.updates {
                        // Errors only mean a repeated terminal state.
                        let _ = executor.update_task_state(&update.status, &recovered.info);
                    }
                    let open = self
                        .sum
                        .recover(&framework_id, &task_id, &task.updates, &task.acks);
                    if !open {
                        executor.complete_task(&task_id);
                    }
                }
                let owner = super::executors::sandbox_owner(&executor.info, &recovered.info.user);
                self.attach_sandbox(&framework_id, &executor_id, &directory, owner);
                let v0_pid = run
                    .libprocess_pid
                    .as_deref()
                    .and_then(|p| p.parse::<Upid>().ok())
                    .filter(|p| !p.is_empty() && !run.http);
                tracing::info!(
                    "Recovered executor '{executor_id}' of framework {framework_id} (container {}, pid {pid:?})",
                    run.container_id
                );
                self.containerizer.recover(&run.container_id, pid);
                if let (Some(v0), Some(_)) = (v0_pid, pid) {
                    // A v0 driver waits for this before re-registering.
                    self.out.link(&v0);
                    self.send(
                        &v0,
                        &msgs::ReconnectExecutorMessage {
                            slave_id: SlaveId {
                                value: slave_id.clone(),
                            },
                        },
                    );
                }
                framework.executors.insert(executor_id, executor);
            }
            if !framework.executors.is_empty() {
                self.frameworks.insert(framework_id, framework);
            }
        }
        known
    }

    fn reconnecting_executors(&self) -> usize {
        self.frameworks
            .values()
            .flat_map(|f| f.executors.values())
            .filter(|e| e.reconnecting && e.state == ExecutorState::Registering)
            .count()
    }

    /// An executor came back (or ended): recovery may be complete.
    pub(crate) fn executor_reconnected(&mut self, framework_id: &str, executor_id: &str) {
        if let Some(executor) = self.executor_mut(framework_id, executor_id) {
            if executor.reconnecting {
                tracing::info!("Executor '{executor_id}' of framework {framework_id} reconnected");
            }
            executor.reconnecting = false;
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
                if executor.reconnecting && executor.state == ExecutorState::Registering {
                    late.push((
                        framework.id(),
                        executor.id.clone(),
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
            executor.reconnecting = false;
            executor.state = ExecutorState::Terminating;
            executor.pending_termination = Some(PendingTermination {
                state,
                reason: Reason::ExecutorReregistrationTimeout as i32,
                message: format!("Executor did not reregister within {timeout}"),
            });
            let container_id = executor.container_id.clone();
            self.containerizer.destroy(&container_id);
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
        let framework_id = message.framework_id.value.clone();
        let executor_id = message.executor_id.value.clone();
        tracing::info!(
            "Received re-registration message from executor '{executor_id}' of framework {framework_id}"
        );
        let reconnecting = self
            .frameworks
            .get(&framework_id)
            .and_then(|f| f.executors.get(&executor_id))
            .is_some_and(|e| e.reconnecting && e.state == ExecutorState::Registering);
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
        executor.state = ExecutorState::Running;
        executor.connection = Some(super::state::Connection::Pid(from.clone()));
        let staging: Vec<String> = executor
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
            self.checkpoint_connection(executor, Some(from));
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
