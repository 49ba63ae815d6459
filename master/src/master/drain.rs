//! Agent draining and deactivation (upstream `Master::Http::drainAgent`,
//! `deactivateAgent`, `reactivateAgent` and
//! `Master::checkAndTransitionDrainingAgent`).
//!
//! Owns which agents are deactivated (never offered) and which are
//! DRAINING or DRAINED, with their drain config. Every change is written
//! to the registry first and taken into this state only once the write
//! committed; then a deactivated agent leaves the allocator and its offers
//! are rescinded, and a draining one is told to kill its tasks
//! (`DrainSlaveMessage`). A DRAINING agent with no task left (terminal
//! updates acknowledged) becomes DRAINED, or is marked gone when its
//! config says so. The state survives failover through the registry and
//! is re-applied when the agent re-registers. Never formats HTTP answers
//! and never kills tasks itself: the agent does.

use std::collections::{BTreeMap, BTreeSet};

use mesos_proto::ids::AgentId;
use mesos_proto::mesos::internal::{DrainSlaveMessage, Registry};
use mesos_proto::mesos::{self as v0, DrainConfig, DrainInfo, DrainState as State};
use tokio::sync::oneshot;
use tracing::{debug, info};

use super::requests::OperationError;
use super::{now_secs, Command, Continuation, Master, MasterHandle};
use crate::registry::operations::Operation;

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum DrainCommand {
    /// DRAIN_AGENT.
    Drain {
        agent_id: AgentId,
        config: DrainConfig,
    },
    /// DEACTIVATE_AGENT.
    Deactivate { agent_id: AgentId },
    /// REACTIVATE_AGENT.
    Reactivate { agent_id: AgentId },
}

impl DrainCommand {
    fn agent_id(&self) -> &AgentId {
        match self {
            DrainCommand::Drain { agent_id, .. }
            | DrainCommand::Deactivate { agent_id }
            | DrainCommand::Reactivate { agent_id } => agent_id,
        }
    }
}

/// The answer to a drain request: refusals are upstream's 400
/// (`Invalid`) and 409 (`Conflict`).
pub type DrainReply = oneshot::Sender<Result<(), OperationError>>;

/// Deactivated and draining agents, as the registry holds them, and when
/// each drain started (upstream `slaves.draining`, `slaves.deactivated`
/// and `Slave::estimatedDrainStartTime`).
#[derive(Debug, Default)]
pub struct DrainState {
    draining: BTreeMap<AgentId, DrainInfo>,
    deactivated: BTreeSet<AgentId>,
    /// Seconds since the epoch; only for agents this master told to drain.
    started: BTreeMap<AgentId, f64>,
}

impl DrainState {
    /// The registry's drain and deactivation state (upstream `_recover`).
    pub fn from_registry(registry: &Registry) -> DrainState {
        let mut state = DrainState::default();
        let admitted = registry
            .slaves
            .iter()
            .flat_map(|s| &s.slaves)
            .filter_map(|s| {
                let id = s.info.id.as_ref()?;
                Some((AgentId::from(id), s.drain_info, s.deactivated))
            });
        let unreachable = registry
            .unreachable
            .iter()
            .flat_map(|u| &u.slaves)
            .map(|s| (AgentId::from(&s.id), s.drain_info, s.deactivated));
        for (id, drain_info, deactivated) in admitted.chain(unreachable) {
            if let Some(drain_info) = drain_info {
                state.draining.insert(id.clone(), drain_info);
            }
            if deactivated == Some(true) {
                state.deactivated.insert(id);
            }
        }
        state
    }

    pub fn is_deactivated(&self, agent_id: &AgentId) -> bool {
        self.deactivated.contains(agent_id)
    }

    pub fn drain_info(&self, agent_id: &AgentId) -> Option<&DrainInfo> {
        self.draining.get(agent_id)
    }

    /// When this master told the agent to drain, while it has drain info.
    pub fn started(&self, agent_id: &AgentId) -> Option<f64> {
        self.draining
            .contains_key(agent_id)
            .then(|| self.started.get(agent_id).copied())
            .flatten()
    }

    fn is_draining(&self, agent_id: &AgentId) -> bool {
        self.draining
            .get(agent_id)
            .is_some_and(|info| info.state == State::Draining as i32)
    }

    /// The agent is gone or removed: its drain state goes with it
    /// (unreachable agents keep theirs).
    pub fn forget(&mut self, agent_id: &AgentId) {
        self.draining.remove(agent_id);
        self.deactivated.remove(agent_id);
        self.started.remove(agent_id);
    }
}

/// The v1 call's `google.protobuf.Duration` (seconds and nanos) as the
/// `DurationInfo` a `DrainConfig` holds; out-of-range values saturate.
pub fn grace_period(seconds: i64, nanos: i32) -> v0::DurationInfo {
    v0::DurationInfo {
        nanoseconds: seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(nanos)),
    }
}

impl MasterHandle {
    /// DRAIN_AGENT, DEACTIVATE_AGENT, REACTIVATE_AGENT: answered once the
    /// registry holds the change and the master acted on it.
    pub async fn drain(&self, command: DrainCommand) -> Result<(), OperationError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Drain { command, reply })
            .map_err(|_| OperationError::ShuttingDown)?;
        answer.await.map_err(|_| OperationError::ShuttingDown)?
    }
}

impl Master {
    /// Validates the request and queues its registry write.
    pub(super) fn drain_command(&mut self, command: DrainCommand, reply: DrainReply) {
        let operation = match self.validate_drain(&command) {
            Ok(operation) => operation,
            Err(error) => {
                info!("Refusing {:?}: {error}", command);
                let _ = reply.send(Err(error));
                return;
            }
        };
        info!(
            "Applying {} for agent {}",
            operation.name(),
            command.agent_id()
        );
        self.registrar
            .apply(operation, Continuation::Drain { command, reply });
    }

    /// Whether the registry knows the agent: recovered, registered or
    /// unreachable.
    fn knows_agent(&self, agent_id: &AgentId) -> bool {
        self.agents.contains_key(agent_id)
            || self.recovered_agents.contains_key(agent_id)
            || self.unreachable_agents.contains_key(agent_id)
    }

    fn validate_drain(&self, command: &DrainCommand) -> Result<Operation, OperationError> {
        match command {
            DrainCommand::Drain { agent_id, config } => {
                if let Some(agent) = self.agents.get(agent_id) {
                    // Best effort, as upstream: the machine of an unreachable
                    // agent is unknown until it comes back.
                    let ip = agent.pid.ip.to_string();
                    let scheduled = self
                        .maintenance
                        .scheduled_machine(&agent.info.hostname, &ip);
                    if let Some(machine) = scheduled {
                        return Err(OperationError::Invalid(format!(
                            "Agent {agent_id} is part of a maintenance schedule under Machine \
                             {}",
                            mesos_proto::json::encode(&machine)
                        )));
                    }
                    if !agent.capabilities.agent_draining {
                        return Err(OperationError::Invalid(format!(
                            "Agent {agent_id} is not capable of draining"
                        )));
                    }
                }
                if !self.knows_agent(agent_id) {
                    return Err(OperationError::Invalid("Unknown agent".into()));
                }
                if self.marking_gone.contains(agent_id) {
                    return Err(OperationError::Conflict(
                        "Agent is currently being marked gone".into(),
                    ));
                }
                Ok(Operation::DrainAgent {
                    id: agent_id.to_proto(),
                    config: *config,
                })
            }
            DrainCommand::Deactivate { agent_id } => {
                if !self.knows_agent(agent_id) {
                    return Err(OperationError::Invalid("Unknown agent".into()));
                }
                Ok(Operation::DeactivateAgent(agent_id.to_proto()))
            }
            DrainCommand::Reactivate { agent_id } => {
                if !self.drain.is_deactivated(agent_id) {
                    return Err(OperationError::Invalid("Agent is not deactivated".into()));
                }
                if self.drain.is_draining(agent_id) {
                    return Err(OperationError::Invalid(
                        "Agent is still in the DRAINING state".into(),
                    ));
                }
                Ok(Operation::ReactivateAgent(agent_id.to_proto()))
            }
        }
    }

    /// The registry holds the change: take it and act on it.
    pub(super) fn drain_applied(&mut self, command: DrainCommand, reply: DrainReply) {
        let answer = match command {
            DrainCommand::Drain { agent_id, config } => {
                self.drain.draining.insert(
                    agent_id.clone(),
                    DrainInfo {
                        state: State::Draining as i32,
                        config,
                    },
                );
                self.drain.deactivated.insert(agent_id.clone());
                // The agent may have been removed meanwhile (marked
                // unreachable): it is told when it comes back.
                if let Some(agent) = self.agents.get(&agent_id) {
                    let tasks: usize = agent.tasks.values().map(BTreeSet::len).sum();
                    info!("Transitioning agent {agent_id} to the DRAINING state; agent has {tasks} tasks");
                    let pid = agent.pid.clone();
                    self.deactivate_agent(&agent_id);
                    self.send(&pid, &DrainSlaveMessage { config });
                    self.drain.started.insert(agent_id.clone(), now_secs());
                    self.check_drained(&agent_id);
                }
                Ok(())
            }
            DrainCommand::Deactivate { agent_id } => {
                self.drain.deactivated.insert(agent_id.clone());
                if self.agents.contains_key(&agent_id) {
                    self.deactivate_agent(&agent_id);
                }
                Ok(())
            }
            DrainCommand::Reactivate { agent_id } => {
                self.drain.forget(&agent_id);
                match self.agents.get_mut(&agent_id) {
                    None => Err(OperationError::Conflict(
                        "Agent removed while processing the call".into(),
                    )),
                    Some(agent) if agent.connected => {
                        info!("Reactivating agent {agent_id}");
                        agent.active = true;
                        self.allocator.activate_agent(&agent_id);
                        self.request_allocation();
                        Ok(())
                    }
                    Some(_) => {
                        info!(
                            "Disconnected agent {agent_id} will be reactivated upon reregistration"
                        );
                        Ok(())
                    }
                }
            }
        };
        let _ = reply.send(answer);
    }

    /// `Master::deactivate(Slave*)`: no more offers of the agent, and the
    /// outstanding ones are rescinded.
    fn deactivate_agent(&mut self, agent_id: &AgentId) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        info!("Deactivating agent {agent_id}");
        agent.active = false;
        let offers: Vec<String> = agent.offers.iter().cloned().collect();
        self.allocator.deactivate_agent(agent_id);
        for offer_id in offers {
            self.rescind_offer(&offer_id, None);
        }
        self.rescind_agent_inverse_offers(agent_id);
    }

    /// A known agent re-registered: it stays deactivated, and a draining
    /// (or drained) one is told again, since it may have restarted without
    /// its checkpoint or missed the first message.
    pub(super) fn reapply_drain(&mut self, agent_id: &AgentId) {
        if self.drain.is_deactivated(agent_id) {
            self.deactivate_agent(agent_id);
        }
        let Some(config) = self.drain.drain_info(agent_id).map(|info| info.config) else {
            return;
        };
        if let Some(pid) = self.agents.get(agent_id).map(|a| a.pid.clone()) {
            self.send(&pid, &DrainSlaveMessage { config });
            self.check_drained(agent_id);
        }
    }

    /// `checkAndTransitionDrainingAgent`: a DRAINING agent without tasks
    /// becomes DRAINED (written to the registry first), or is marked gone
    /// if its config asks for it.
    pub(super) fn check_drained(&mut self, agent_id: &AgentId) {
        if !self.drain.is_draining(agent_id) {
            return;
        }
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        if !agent.tasks.is_empty() {
            let tasks: usize = agent.tasks.values().map(BTreeSet::len).sum();
            debug!("DRAINING agent {agent_id} has {tasks} tasks");
            return;
        }
        if self.marking_gone.contains(agent_id) {
            info!("Ignoring transition of agent {agent_id} to the DRAINED state because agent is being marked gone");
            return;
        }
        let mark_gone = self
            .drain
            .drain_info(agent_id)
            .is_some_and(|info| info.config.mark_gone == Some(true));
        if mark_gone {
            info!("Marking agent {agent_id} in the DRAINED state as gone");
            // Nobody waits for this answer: the operator's call was
            // answered when the drain started.
            let (reply, _) = oneshot::channel();
            self.mark_agent_gone(agent_id.clone(), reply);
        } else {
            info!("Transitioning agent {agent_id} to the DRAINED state");
            self.registrar.apply(
                Operation::MarkAgentDrained(agent_id.to_proto()),
                Continuation::Drained {
                    agent_id: agent_id.clone(),
                },
            );
        }
    }

    /// The registry holds the agent as DRAINED.
    pub(super) fn agent_drained(&mut self, agent_id: &AgentId, applied: bool) {
        match self.drain.draining.get_mut(agent_id) {
            Some(info) if applied => {
                info.state = State::Drained as i32;
                info!("Agent {agent_id} successfully marked as DRAINED");
            }
            // Reactivated, removed or already drained meanwhile.
            _ => info!("Agent {agent_id} is no longer DRAINING; not marking it DRAINED"),
        }
    }
}
