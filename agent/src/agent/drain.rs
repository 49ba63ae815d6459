//! Agent draining (upstream `Slave::drain` and `Slave::updateDrainStatus`):
//! on the master's `DrainSlaveMessage` the agent checkpoints the drain
//! config (`meta/slaves/<id>/drain.config`), kills every task it runs with
//! a kill policy capped by the config's `max_grace_period`, refuses new
//! tasks, and reports the kills as draining. Once no framework is left the
//! checkpoint is removed and draining is over. A restart replays a drain
//! found in the checkpoint.
//!
//! Owns the drain config and when draining started; never decides when an
//! agent counts as DRAINED (the master does, from acknowledged updates).

use mesos_proto::mesos::internal as msgs;
use mesos_proto::mesos::task_status::Reason;
use mesos_proto::mesos::{DrainConfig, DurationInfo, KillPolicy, TaskState};

use super::state::FrameworkState;
use super::Agent;
use crate::paths;

/// The kill policy a task is killed with while draining: the task's own
/// unless it is longer than (or lacks) the config's grace period.
pub(crate) fn drain_kill_policy(
    max_grace_period: Option<DurationInfo>,
    task_policy: Option<&KillPolicy>,
) -> Option<KillPolicy> {
    let max = max_grace_period?;
    let shorter = task_policy
        .and_then(|p| p.grace_period)
        .is_some_and(|own| own.nanoseconds <= max.nanoseconds);
    (!shorter).then_some(KillPolicy {
        grace_period: Some(max),
    })
}

/// How a KILLING or KILLED update reads while the agent drains: the reason
/// always says draining, and a drain that ends in the agent being gone
/// reports partition-aware tasks as gone by the operator.
pub(crate) fn draining_update(
    config: &DrainConfig,
    partition_aware: bool,
    status: &mut mesos_proto::mesos::TaskStatus,
) {
    let killing = status.state == TaskState::TaskKilling as i32;
    let killed = status.state == TaskState::TaskKilled as i32;
    if !killing && !killed {
        return;
    }
    status.reason = Some(Reason::SlaveDraining as i32);
    if config.mark_gone == Some(true) && partition_aware {
        status.state = TaskState::TaskGoneByOperator as i32;
    }
}

impl Agent {
    /// `DrainSlaveMessage` from the master, or a drain replayed after a
    /// restart.
    pub(crate) fn drain(&mut self, message: msgs::DrainSlaveMessage) {
        let config = message.config;
        if self.frameworks.is_empty() {
            tracing::info!(
                "Received DrainConfig {config:?}; agent has no stored frameworks or tasks, so \
                 draining is already complete"
            );
            // A drain replayed after a restart may have nothing left to
            // kill: it is over, and its checkpoint goes.
            self.update_drain_status();
            return;
        }
        tracing::info!(
            "Initiating drain with DrainConfig {config:?}{}",
            self.drain_config
                .map(|old| format!("; overwriting previous DrainConfig {old:?}"))
                .unwrap_or_default()
        );
        // Durable before any task is killed, so a restart resumes it.
        let path = paths::drain_config_path(self.flags.work_dir(), &self.slave_id());
        if let Err(e) = crate::checkpoint::write_message(&path, &config) {
            self.checkpoint_failed(e);
        }
        self.drain_config = Some(config);
        self.drain_started = Some(super::now_secs());

        let mut kills = Vec::new();
        for (framework_id, framework) in &self.frameworks {
            if framework.state == FrameworkState::Terminating {
                continue;
            }
            for (executor_id, executor) in &framework.executors {
                let launched = executor
                    .durable
                    .launched_tasks
                    .values()
                    .filter(|t| !mesos_proto::is_terminal_state(t.state))
                    .map(|t| (t.task_id.clone(), t.kill_policy));
                // Killing one task of a queued group kills the group.
                let queued = executor
                    .live
                    .queued_tasks
                    .iter()
                    .chain(
                        executor
                            .live
                            .queued_task_groups
                            .iter()
                            .filter_map(|g| g.tasks.first()),
                    )
                    .map(|t| (t.task_id.clone(), t.kill_policy));
                for (task_id, policy) in launched.chain(queued) {
                    kills.push((
                        framework_id.clone(),
                        executor_id.clone(),
                        task_id,
                        drain_kill_policy(config.max_grace_period, policy.as_ref()),
                    ));
                }
            }
        }
        for (framework_id, executor_id, task_id, kill_policy) in kills {
            tracing::info!(
                "Killing task {} of framework {framework_id} (executor '{executor_id}') to drain \
                 the agent",
                task_id.value
            );
            self.kill(&framework_id, task_id, kill_policy);
        }
    }

    /// Draining is over once no framework is left: the checkpoint goes.
    pub(crate) fn update_drain_status(&mut self) {
        if self.drain_config.is_none() || !self.frameworks.is_empty() {
            return;
        }
        tracing::info!("Agent finished draining");
        let path = paths::drain_config_path(self.flags.work_dir(), &self.slave_id());
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::error!(
                    "Could not remove persisted drain configuration '{}': {e}",
                    path.display()
                );
                std::process::exit(1);
            }
        }
        self.drain_config = None;
        self.drain_started = None;
    }

    /// After recovery: a drain the previous run checkpointed goes on.
    pub(crate) fn replay_drain(&mut self) {
        if let Some(config) = self.drain_config {
            tracing::info!("Replaying in-process agent draining");
            self.drain(msgs::DrainSlaveMessage { config });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grace(secs: i64) -> DurationInfo {
        DurationInfo {
            nanoseconds: secs * 1_000_000_000,
        }
    }

    fn policy(secs: i64) -> KillPolicy {
        KillPolicy {
            grace_period: Some(grace(secs)),
        }
    }

    #[test]
    fn drain_caps_the_kill_policy_by_the_max_grace_period() {
        // No cap: the task's own policy applies.
        assert_eq!(drain_kill_policy(None, Some(&policy(30))), None);
        // A longer or missing policy is capped.
        assert_eq!(
            drain_kill_policy(Some(grace(5)), Some(&policy(30))),
            Some(policy(5))
        );
        assert_eq!(drain_kill_policy(Some(grace(5)), None), Some(policy(5)));
        assert_eq!(
            drain_kill_policy(Some(grace(5)), Some(&KillPolicy::default())),
            Some(policy(5))
        );
        // A shorter one is kept.
        assert_eq!(drain_kill_policy(Some(grace(5)), Some(&policy(2))), None);
    }

    #[test]
    fn killed_updates_while_draining_carry_the_draining_reason() {
        let config = DrainConfig {
            max_grace_period: None,
            mark_gone: Some(false),
        };
        let mut status = mesos_proto::mesos::TaskStatus {
            state: TaskState::TaskKilled as i32,
            reason: Some(Reason::CommandExecutorFailed as i32),
            ..Default::default()
        };
        draining_update(&config, true, &mut status);
        assert_eq!(status.reason, Some(Reason::SlaveDraining as i32));
        assert_eq!(status.state, TaskState::TaskKilled as i32);

        let mut running = mesos_proto::mesos::TaskStatus {
            state: TaskState::TaskRunning as i32,
            ..Default::default()
        };
        draining_update(&config, true, &mut running);
        assert_eq!(running.reason, None);

        let gone = DrainConfig {
            max_grace_period: None,
            mark_gone: Some(true),
        };
        let mut killing = mesos_proto::mesos::TaskStatus {
            state: TaskState::TaskKilling as i32,
            ..Default::default()
        };
        draining_update(&gone, true, &mut killing);
        assert_eq!(killing.state, TaskState::TaskGoneByOperator as i32);
        let mut not_aware = mesos_proto::mesos::TaskStatus {
            state: TaskState::TaskKilled as i32,
            ..Default::default()
        };
        draining_update(&gone, false, &mut not_aware);
        assert_eq!(not_aware.state, TaskState::TaskKilled as i32);
    }
}
