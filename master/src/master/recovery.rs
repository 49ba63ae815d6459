//! Registry recovery and the continuations of registry operations, inside
//! the actor (upstream `Master::recover`, `_recover`,
//! `recoveredSlavesTimeout`, and the `onAny(defer(...))` halves of every
//! registry transition).
//!
//! Owns the recovery state and the dispatch of registrar answers to the
//! code that acts on them. A registrar error is never acted on: it marks
//! the actor aborted, which stops it before anything else is handled.

use libprocess::Upid;
use mesos_proto::ids::AgentId;
use mesos_proto::mesos::internal::{
    RegisterSlaveMessage, Registry as RegistryState, ReregisterSlaveMessage,
};
use mesos_proto::mesos::v1::TaskState;
use mesos_proto::mesos::{self as v0, task_status};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::{events, now_secs, Master, Timer};
use crate::registry::{Completion, Operation, RegistryError};

/// What the actor does once a registry operation committed. Each carries
/// what the continuation needs; the actor re-checks its state on resume.
#[derive(Debug)]
pub enum Continuation {
    /// `__registerSlave`.
    Registered {
        from: Upid,
        message: Box<RegisterSlaveMessage>,
        info: Box<v0::SlaveInfo>,
    },
    /// `___reregisterSlave`: an agent this master has.
    ReregisteredKnown {
        from: Upid,
        message: Box<ReregisterSlaveMessage>,
    },
    /// `__reregisterSlave`: a recovered, unreachable or unknown agent.
    Readmitted {
        from: Upid,
        message: Box<ReregisterSlaveMessage>,
    },
    /// `_markUnreachable`.
    MarkedUnreachable {
        agent_id: AgentId,
        time: v0::TimeInfo,
        reason: String,
        /// A recovered agent that did not re-register in time.
        during_failover: bool,
    },
    /// `_removeSlave`.
    Removed {
        agent_id: AgentId,
        cause: String,
        counter: &'static str,
    },
    /// `markGone`.
    MarkedGone {
        agent_id: AgentId,
        time: v0::TimeInfo,
        reply: oneshot::Sender<Result<(), MarkGoneError>>,
    },
    /// A maintenance change (schedule, machines down or up).
    Maintenance {
        operation: crate::registry::operations::Operation,
        reply: oneshot::Sender<Result<(), super::maintenance::MaintenanceError>>,
    },
    /// `_doRegistryGc`.
    Pruned {
        unreachable: Vec<AgentId>,
        gone: Vec<AgentId>,
    },
    /// `QuotaHandler::_update`; no reply for changes the master makes
    /// itself.
    QuotaUpdated {
        configs: Vec<mesos_proto::mesos::quota::QuotaConfig>,
        reply: Option<super::quota::OperatorReply>,
    },
    /// `WeightsHandler::_update`, and `--weights` seeding the registry.
    WeightsUpdated {
        weights: Vec<v0::WeightInfo>,
        reply: Option<super::quota::OperatorReply>,
    },
    /// `_drainAgent`, `_deactivateAgent`, `_reactivateAgent`.
    Drain {
        command: super::drain::DrainCommand,
        reply: super::drain::DrainReply,
    },
    /// `checkAndTransitionDrainingAgent` after `MarkAgentDrained`.
    Drained { agent_id: AgentId },
}

/// Why recovery did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    #[error("Failed to recover registrar: {0}")]
    Registry(RegistryError),
    #[error("Master stopped leading: {0}")]
    Aborted(String),
    #[error("The master actor stopped")]
    Stopped,
}

/// Why MARK_AGENT_GONE was refused (the HTTP layer maps these: 404,
/// 503 for the transitions in progress and recovery).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkGoneError {
    #[error("Agent '{0}' not found")]
    NotFound(String),
    #[error("Agent '{0}' is already being transitioned to gone")]
    AlreadyMarkingGone(String),
    #[error("Agent '{0}' is being transitioned to removed")]
    BeingRemoved(String),
    #[error("Agent '{0}' is being transitioned to unreachable")]
    BeingMarkedUnreachable(String),
    #[error("Master has not finished recovery")]
    NotRecovered,
    #[error("The master actor stopped")]
    Stopped,
}

/// Where recovery stands.
#[derive(Debug, Default)]
pub(super) enum Recovery {
    /// Not elected (or not yet told to recover).
    #[default]
    NotStarted,
    /// The registrar is fetching; these wait for the outcome.
    InProgress(Vec<oneshot::Sender<Result<(), RecoverError>>>),
    Done {
        /// Agents the registry listed (the removal limit's denominator).
        registered: usize,
    },
}

impl Recovery {
    pub(super) fn is_done(&self) -> bool {
        matches!(self, Recovery::Done { .. })
    }

    /// Whether this master was elected: recovery began (it begins only on
    /// election) and did not fail (a failure ends leadership).
    pub(super) fn is_elected(&self) -> bool {
        !matches!(self, Recovery::NotStarted)
    }

    /// Tells whoever waits that recovery will not finish.
    pub(super) fn fail(&mut self, error: RecoverError) {
        if let Recovery::InProgress(waiters) = std::mem::take(self) {
            for waiter in waiters {
                let _ = waiter.send(Err(error.clone()));
            }
        }
    }
}

/// `--recovery_agent_removal_limit` as a fraction (`"50%"` → 0.5).
pub fn removal_limit(text: &str) -> Result<f64, String> {
    let number = text.strip_suffix('%').unwrap_or(text);
    let value: f64 = number.trim().parse().map_err(|_| {
        format!("Invalid value '{text}' for --recovery_agent_removal_limit: not a percentage")
    })?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!(
            "Invalid value '{text}' for --recovery_agent_removal_limit: Must be within [0%-100%]"
        ));
    }
    Ok(value / 100.0)
}

fn time_info(seconds: f64) -> v0::TimeInfo {
    v0::TimeInfo {
        nanoseconds: (seconds * 1e9) as i64,
    }
}

impl Master {
    /// Stops the actor: nothing is handled after the current item.
    pub(super) fn abort(&mut self, reason: String) {
        if self.aborted.is_none() {
            self.aborted = Some(reason);
        }
    }

    pub(super) fn handle_completion(&mut self, completion: Completion<Continuation>) {
        if self.aborted.is_some() {
            return;
        }
        self.mark_changed();
        match completion {
            Completion::Recovered(Ok(registry)) => self.recovered(&registry),
            Completion::Recovered(Err(error)) => {
                self.recovery.fail(RecoverError::Registry(error.clone()));
                self.abort(format!("Recovery failed: {error}"));
            }
            Completion::Applied { tag, result } => match result {
                Ok(applied) => self.resume(tag, applied),
                Err(error) => {
                    // Upstream: LOG(FATAL) in every continuation.
                    let what = match &tag {
                        Continuation::Registered { info, .. } => format!(
                            "admit agent {}",
                            info.id.as_ref().map_or("", |id| id.value.as_str())
                        ),
                        Continuation::ReregisteredKnown { message, .. }
                        | Continuation::Readmitted { message, .. } => format!(
                            "update registry for agent {}",
                            message.slave.id.as_ref().map_or("", |id| id.value.as_str())
                        ),
                        Continuation::MarkedUnreachable { agent_id, .. } => {
                            format!("mark agent {agent_id} unreachable")
                        }
                        Continuation::Removed { agent_id, .. } => {
                            format!("remove agent {agent_id}")
                        }
                        Continuation::MarkedGone { agent_id, .. } => {
                            format!("mark agent {agent_id} gone")
                        }
                        Continuation::Maintenance { operation, .. } => {
                            format!("apply maintenance operation {}", operation.name())
                        }
                        Continuation::Pruned { .. } => "prune the registry".to_string(),
                        Continuation::QuotaUpdated { .. } => "update quota".to_string(),
                        Continuation::WeightsUpdated { .. } => "update weights".to_string(),
                        Continuation::Drain { command, .. } => {
                            format!("update the drain state of the agent: {command:?}")
                        }
                        Continuation::Drained { agent_id } => {
                            format!("mark agent {agent_id} drained")
                        }
                    };
                    self.abort(format!("Failed to {what}: {error}"));
                }
            },
        }
    }

    fn resume(&mut self, continuation: Continuation, applied: bool) {
        match continuation {
            Continuation::Maintenance { operation, reply } => {
                self.maintenance_applied(operation, reply)
            }
            Continuation::Registered {
                from,
                message,
                info,
            } => self.agent_admitted(from, *message, *info, applied),
            Continuation::ReregisteredKnown { from, message } => {
                self.known_agent_updated(from, *message)
            }
            Continuation::Readmitted { from, message } => self.agent_readmitted(from, *message),
            Continuation::MarkedUnreachable {
                agent_id,
                time,
                reason,
                during_failover,
            } => self.agent_marked_unreachable(&agent_id, time, &reason, during_failover, applied),
            Continuation::Removed {
                agent_id,
                cause,
                counter,
            } => self.agent_removed(&agent_id, &cause, counter, applied),
            Continuation::MarkedGone {
                agent_id,
                time,
                reply,
            } => {
                self.agent_marked_gone(&agent_id, time);
                let _ = reply.send(Ok(()));
            }
            Continuation::Pruned { unreachable, gone } => self.registry_pruned(unreachable, gone),
            Continuation::QuotaUpdated { configs, reply } => {
                self.quota_updated(configs);
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(()));
                }
            }
            Continuation::WeightsUpdated { weights, reply } => {
                self.weights_updated(weights);
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(()));
                }
            }
            Continuation::Drain { command, reply } => self.drain_applied(command, reply),
            Continuation::Drained { agent_id } => self.agent_drained(&agent_id, applied),
        }
    }

    // ---- recovery -----------------------------------------------------------

    /// `Master::recover`: once per election.
    pub(super) fn start_recovery(&mut self, reply: oneshot::Sender<Result<(), RecoverError>>) {
        match &mut self.recovery {
            Recovery::Done { .. } => {
                let _ = reply.send(Ok(()));
            }
            Recovery::InProgress(waiters) => waiters.push(reply),
            Recovery::NotStarted => {
                info!("Recovering from registrar");
                self.elected_time = Some(now_secs());
                self.recovery = Recovery::InProgress(vec![reply]);
                self.registrar
                    .recover(mesos_proto::convert::devolve(&self.info));
            }
        }
    }

    /// `Master::_recover`: agents of the registry become "recovered" until
    /// they re-register or `--agent_reregister_timeout` passes.
    fn recovered(&mut self, registry: &RegistryState) {
        self.maintenance = super::maintenance::MaintenanceState::from_registry(registry);
        self.drain = super::drain::DrainState::from_registry(registry);
        let slaves = registry
            .slaves
            .as_ref()
            .map(|s| s.slaves.as_slice())
            .unwrap_or_default();
        for slave in slaves {
            if let Some(id) = &slave.info.id {
                self.recovered_agents.insert(
                    id.into(),
                    super::state::RecoveredAgent::new(slave.info.clone()),
                );
            }
        }
        for unreachable in registry.unreachable.iter().flat_map(|u| &u.slaves) {
            self.unreachable_agents
                .insert((&unreachable.id).into(), unreachable.timestamp);
        }
        for gone in registry.gone.iter().flat_map(|g| &g.slaves) {
            self.gone_agents.insert((&gone.id).into(), gone.timestamp);
        }
        self.recover_quota_and_weights(registry);
        let timeout = self.flags.agent_reregister_timeout;
        info!(
            "Recovered {} agents from the registry ({} unreachable, {} gone); allowing {timeout} \
             for agents to reregister",
            slaves.len(),
            self.unreachable_agents.len(),
            self.gone_agents.len()
        );
        self.schedule(timeout.to_std(), Timer::RecoveredAgentsTimeout);
        self.start_registry_gc();
        let waiters = match std::mem::replace(
            &mut self.recovery,
            Recovery::Done {
                registered: slaves.len(),
            },
        ) {
            Recovery::InProgress(waiters) => waiters,
            _ => Vec::new(),
        };
        for waiter in waiters {
            let _ = waiter.send(Ok(()));
        }
    }

    /// `Master::recoveredSlavesTimeout`: refuse to go on if more than the
    /// removal limit of the registry's agents are still missing (upstream
    /// exits the master); otherwise mark each missing one unreachable.
    pub(super) fn recovered_agents_timeout(&mut self) {
        let Recovery::Done { registered } = self.recovery else {
            return;
        };
        if self.recovered_agents.is_empty() {
            return;
        }
        let limit = match removal_limit(&self.flags.recovery_agent_removal_limit) {
            Ok(limit) => limit,
            Err(error) => {
                self.abort(error);
                return;
            }
        };
        let missing = self.recovered_agents.len();
        let fraction = missing as f64 / registered.max(1) as f64;
        if fraction > limit {
            let ids: Vec<&str> = self.recovered_agents.keys().map(AgentId::as_str).collect();
            self.abort(format!(
                "Post-recovery agent removal limit exceeded! After {} there were {missing} \
                 ({}%) agents recovered from the registry that did not reregister: [ {} ]. \
                 The configured removal limit is {}%. Please investigate or increase this \
                 limit to proceed further",
                self.flags.agent_reregister_timeout,
                fraction * 100.0,
                ids.join(", "),
                limit * 100.0
            ));
            return;
        }
        let reason = format!(
            "did not reregister within {} after master failover",
            self.flags.agent_reregister_timeout
        );
        let agent_ids: Vec<AgentId> = self.recovered_agents.keys().cloned().collect();
        for agent_id in agent_ids {
            if self.reregistering.contains(&agent_id) {
                continue;
            }
            self.mark_recovered_unreachable(&agent_id, &reason);
        }
    }

    /// `markUnreachable(duringMasterFailover = true)`.
    fn mark_recovered_unreachable(&mut self, agent_id: &AgentId, reason: &str) {
        let Some(info) = self.recovered_agents.get(agent_id).map(|r| r.info.clone()) else {
            return;
        };
        if self.marking_unreachable.contains(agent_id)
            || self.marking_gone.contains(agent_id)
            || self.gone_agents.contains_key(agent_id)
        {
            return;
        }
        info!(
            "Marking agent {agent_id} ({}) unreachable: {reason}",
            info.hostname
        );
        self.count("master/slave_unreachable_scheduled");
        self.marking_unreachable.insert(agent_id.clone());
        let time = time_info(now_secs());
        self.registrar.apply(
            Operation::MarkAgentUnreachable {
                info: Box::new(info),
                time,
            },
            Continuation::MarkedUnreachable {
                agent_id: agent_id.clone(),
                time,
                reason: reason.to_string(),
                during_failover: true,
            },
        );
    }

    // ---- MARK_AGENT_GONE ----------------------------------------------------

    /// The operator's MARK_AGENT_GONE (upstream `Http::_markAgentGone`).
    pub(super) fn mark_agent_gone(
        &mut self,
        agent_id: AgentId,
        reply: oneshot::Sender<Result<(), MarkGoneError>>,
    ) {
        info!("Marking agent '{agent_id}' as gone");
        if self.gone_agents.contains_key(&agent_id) {
            warn!("Not marking agent '{agent_id}' as gone because it has already transitioned to gone");
            let _ = reply.send(Ok(()));
            return;
        }
        let refusal = if self.marking_gone.contains(&agent_id) {
            Some(MarkGoneError::AlreadyMarkingGone(agent_id.to_string()))
        } else if self.removing.contains(&agent_id) {
            Some(MarkGoneError::BeingRemoved(agent_id.to_string()))
        } else if self.marking_unreachable.contains(&agent_id) {
            Some(MarkGoneError::BeingMarkedUnreachable(agent_id.to_string()))
        } else if !self.agents.contains_key(&agent_id)
            && !self.recovered_agents.contains_key(&agent_id)
            && !self.unreachable_agents.contains_key(&agent_id)
        {
            Some(MarkGoneError::NotFound(agent_id.to_string()))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            warn!("Not marking agent '{agent_id}' as gone: {refusal}");
            let _ = reply.send(Err(refusal));
            return;
        }
        self.marking_gone.insert(agent_id.clone());
        let time = time_info(now_secs());
        self.registrar.apply(
            Operation::MarkAgentGone {
                id: agent_id.to_proto(),
                time,
            },
            Continuation::MarkedGone {
                agent_id,
                time,
                reply,
            },
        );
    }

    /// `Master::markGone`, after the registry committed.
    fn agent_marked_gone(&mut self, agent_id: &AgentId, time: v0::TimeInfo) {
        self.marking_gone.remove(agent_id);
        self.drain.forget(agent_id);
        self.gone_agents.insert(agent_id.clone(), time);
        let message = "Agent has been marked gone";
        if let Some(agent) = self.agents.get(agent_id) {
            let pid = agent.pid.clone();
            self.send(
                &pid,
                &mesos_proto::mesos::internal::ShutdownMessage {
                    message: Some(message.to_string()),
                },
            );
            self.remove_agent_state(agent_id, message, super::agent::Removal::Gone);
            return;
        }
        // A recovered agent has no task records to transition (upstream
        // MESOS-9739). It stops counting as recovered: reconciliation
        // then answers its tasks as gone instead of staying silent.
        if self.recovered_agents.remove(agent_id).is_some() {
            return;
        }
        self.unreachable_agents.remove(agent_id);
        let Some(by_framework) = self.unreachable_tasks.remove(agent_id) else {
            return;
        };
        let now = now_secs();
        for (framework_id, task_ids) in by_framework {
            let Some(framework) = self.frameworks.get_mut(framework_id.as_str()) else {
                continue;
            };
            let partition_aware = framework.capabilities().partition_aware;
            let (state, reason) = if partition_aware {
                (
                    TaskState::TaskGoneByOperator,
                    task_status::Reason::SlaveRemovedByOperator,
                )
            } else {
                (TaskState::TaskLost, task_status::Reason::SlaveRemoved)
            };
            let mut updates = Vec::new();
            for task_id in task_ids {
                let Some(mut task) = framework.unreachable_tasks.remove(task_id.as_str()) else {
                    continue;
                };
                let update = events::master_update(
                    framework_id.as_str(),
                    Some(agent_id.as_str()),
                    task_id.as_str(),
                    state,
                    message,
                    reason,
                    task.executor_id.as_ref().map(|e| e.value.as_str()),
                    now,
                );
                let stored = std::sync::Arc::make_mut(&mut task);
                stored.state = state as i32;
                let mut status: mesos_proto::mesos::v1::TaskStatus =
                    mesos_proto::convert::evolve(&update.status);
                status.data = None;
                stored.statuses.push(status);
                framework.add_completed_task(task, self.flags.max_completed_tasks_per_framework);
                updates.push(update);
            }
            for update in updates {
                self.forward(update, "");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_limits() {
        assert_eq!(removal_limit("100%"), Ok(1.0));
        assert_eq!(removal_limit("50%"), Ok(0.5));
        assert_eq!(removal_limit("0%"), Ok(0.0));
        assert!(removal_limit("101%").is_err());
        assert!(removal_limit("-1%").is_err());
        assert!(removal_limit("lots").is_err());
    }
}
