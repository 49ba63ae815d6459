//! The agent half of the actor: registration, re-registration, health
//! checks (ping/pong), status updates and agent removal (upstream
//! `Master::registerSlave`, `reregisterSlave`, `statusUpdate`,
//! `markUnreachable`, `_removeSlave`, `SlaveObserver`).
//!
//! Runs inside the actor; decoding of the messages is `crate::agents`'s.
//! Every transition the registry records is split in two: the first half
//! checks and queues the registry operation, the second (named for what
//! committed: `agent_admitted`, `agent_readmitted`, ...) runs when the
//! write committed and only then touches agents and frameworks.

use crate::allocator as alloc;
use std::collections::{BTreeMap, BTreeSet};

use libprocess::{Message, Upid};
use mesos_proto::convert::evolve;
use mesos_proto::ids::{AgentId, FrameworkId};
use mesos_proto::is_terminal_state;
use mesos_proto::mesos::internal::{
    ExecutorToFrameworkMessage, ExitedExecutorMessage, PingSlaveMessage, ReconcileTasksMessage,
    RegisterSlaveMessage, ReregisterSlaveMessage, ShutdownFrameworkMessage, ShutdownMessage,
    SlaveRegisteredMessage, SlaveReregisteredMessage, StatusUpdateMessage, UnregisterSlaveMessage,
    UpdateSlaveMessage,
};
use mesos_proto::mesos::v1::{self, AgentInfo, TaskState};
use mesos_proto::mesos::{self as v0, task_status};
use mesos_proto::resources::Resources;
use tracing::{debug, info, warn};

use super::state::{Agent, AgentCapabilities, Observer, RegistryInfo};
use super::{events, now_secs, Continuation, Master, Timer};
use crate::agents::{self, DecodeError, Inbound};
use crate::registry::Operation;

/// Agents older than this are ignored (upstream `MINIMUM_AGENT_VERSION`).
const MINIMUM_AGENT_VERSION: (u64, u64, u64) = (1, 0, 0);

/// `major.minor.patch` with optional `-prerelease` / `+build`.
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().unwrap_or("0").parse().ok()?;
    let patch = parts.next().unwrap_or("0").parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

fn time_info(seconds: f64) -> v0::TimeInfo {
    v0::TimeInfo {
        nanoseconds: (seconds * 1e9) as i64,
    }
}

/// The agent's total resources: what it reports plus its checkpointed
/// (reserved, volume) resources in place of their unreserved form
/// (`applyCheckpointedResources`).
fn agent_total(info: &v0::SlaveInfo, checkpointed: &[v0::Resource]) -> Resources {
    let reported = Resources::from(agents::agent_resources(&info.resources));
    if checkpointed.is_empty() {
        return reported;
    }
    let checkpointed = Resources::from(agents::agent_resources(checkpointed));
    &(&reported - &checkpointed.to_unreserved()) + &checkpointed
}

fn v1_agent_info(info: &v0::SlaveInfo) -> AgentInfo {
    let mut agent: AgentInfo = evolve(info);
    agent.resources = agents::agent_resources(&info.resources);
    agent
}

/// Which of an agent's two first messages is being authorized: upstream's
/// refusal names the one it refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admission {
    Register,
    Reregister,
}

/// `REGISTER_AGENT` for `principal`, and `RESERVE_RESOURCES` on the
/// reserved resources `info` brings (upstream `authorizeSlave`); `Err` is
/// upstream's refusal text.
fn authorize_agent(
    authorizer: &mesos_authorizer::Authorizer,
    principal: Option<&str>,
    info: &v0::SlaveInfo,
    admission: Admission,
) -> Result<(), String> {
    use mesos_authorizer::{Action, Object};
    let resources: Vec<v1::Resource> = info.resources.iter().map(evolve).collect();
    let reserved: Vec<v1::Resource> = resources
        .iter()
        .filter(|r| !r.reservations.is_empty() || r.role.as_deref().is_some_and(|role| role != "*"))
        .cloned()
        .collect();
    let reserved_ok = reserved.is_empty()
        || authorizer.authorized_resources(Action::ReserveResources, principal, &reserved);
    if reserved_ok && authorizer.authorized(Action::RegisterAgent, principal, Object::Any) {
        return Ok(());
    }
    Err(format!(
        "Not authorized to {} agent providing resources '{}' {}",
        match admission {
            Admission::Register => "register",
            Admission::Reregister => "reregister",
        },
        Resources::from(resources),
        match principal {
            Some(principal) => format!("with principal '{principal}'"),
            None => "without a principal".to_string(),
        }
    ))
}

/// How an agent leaves the master's registered agents, which decides
/// what its tasks become (upstream `_removeSlave` vs `__removeSlave`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Removal {
    /// Unregistered or replaced: TASK_LOST.
    Removed,
    /// Health check or re-register timeout: TASK_UNREACHABLE (LOST for
    /// partition-unaware frameworks), kept as unreachable tasks.
    Unreachable(v0::TimeInfo),
    /// Marked gone by the operator: TASK_GONE_BY_OPERATOR (LOST for
    /// partition-unaware frameworks).
    Gone,
}

impl Master {
    /// A libprocess message for `master` or an observer.
    pub(super) fn handle_message(&mut self, message: Message) {
        if self.aborted.is_some() {
            return;
        }
        if !self.recovery.is_done() {
            debug!(
                "Dropping '{}' message since not recovered yet",
                message.name
            );
            self.count("master/dropped_messages");
            return;
        }
        let Some(message) = self.authentication.defer(message) else {
            return;
        };
        let inbound = match agents::decode(&message) {
            Ok(inbound) => inbound,
            Err(DecodeError::Unknown(name)) => {
                match crate::drivers::decode(&message) {
                    Some(Ok(driver)) if !message.from.is_empty() && message.to == "master" => {
                        {
                            // Upstream counts a driver's `scheduler::Call`
                            // messages in its per-framework metrics, not the
                            // legacy messages it translates into calls.
                            let counted = message.name
                                == <mesos_proto::mesos::scheduler::Call as prost::Name>::full_name(
                                );
                            self.handle_driver_message(message.from, driver, counted)
                        }
                    }
                    Some(Err(error)) => {
                        warn!("Dropping message from {}: {error}", message.from);
                        self.count("master/dropped_messages");
                    }
                    _ => {
                        warn!("Dropping unknown message '{name}' from {}", message.from);
                        self.count("master/dropped_messages");
                    }
                }
                return;
            }
            Err(error) => {
                warn!("Dropping message from {}: {error}", message.from);
                self.count("master/dropped_messages");
                return;
            }
        };
        if message.from.is_empty() {
            warn!("Dropping '{}' from an unknown sender", message.name);
            self.count("master/dropped_messages");
            return;
        }
        if message.to != "master" {
            match inbound {
                Inbound::Pong => self.pong(&message.to),
                _ => warn!("Dropping '{}' sent to {}", message.name, message.to),
            }
            return;
        }
        let from = message.from;
        match inbound {
            Inbound::RegisterSlave(m) => self.register_agent(from, m),
            Inbound::ReregisterSlave(m) => self.reregister_agent(from, m),
            Inbound::UnregisterSlave(m) => self.unregister_agent(&from, m),
            Inbound::StatusUpdate(m) => self.status_update(&from, m),
            Inbound::ExitedExecutor(m) => self.exited_executor(m),
            Inbound::ExecutorToFramework(m) => self.executor_message(m),
            Inbound::UpdateSlave(m) => self.update_agent(m),
            Inbound::UpdateOperationStatus(m) => {
                self.count("master/messages_operation_status_update");
                warn!(
                    "Ignoring operation status update for operation {:?}: this master applies \
                     no operations",
                    m.status.operation_id.as_ref().map(|id| &id.value)
                );
            }
            Inbound::Pong => debug!("Ignoring pong sent to master"),
        }
    }

    /// The outbound connection to `pid` broke (upstream `Master::exited`).
    pub(super) fn handle_exited(&mut self, pid: Upid) {
        // Whatever the pid was, it authenticates again before it
        // (re-)registers (upstream erases it when disconnecting a framework
        // or an agent).
        if self.authentication.forget(&pid) {
            info!("Forgot the authentication of {pid}: it disconnected");
        }
        if self.driver_exited(&pid) {
            return;
        }
        let Some(agent_id) = self.agent_pids.get(&pid).cloned() else {
            debug!("Ignoring exited notice for {pid}");
            return;
        };
        info!("Agent {agent_id} at {pid} disconnected");
        self.disconnect_agent(&agent_id);
    }

    /// Checks common to registration and re-registration.
    fn acceptable_agent(&self, from: &Upid, info: &v0::SlaveInfo, version: Option<&str>) -> bool {
        if self
            .maintenance
            .is_down(&info.hostname, &from.ip.to_string())
        {
            warn!(
                "Refusing registration of agent at {from} because the machine '{}' that it is \
                 running on is `DOWN`",
                info.hostname
            );
            self.send(
                from,
                &ShutdownMessage {
                    message: Some("Machine is `DOWN`".to_string()),
                },
            );
            return false;
        }
        let version = version.unwrap_or("");
        match parse_version(version) {
            None => {
                warn!("Failed to parse version '{version}' of agent at {from}; ignoring it");
                return false;
            }
            Some(parsed) if parsed < MINIMUM_AGENT_VERSION => {
                warn!("Ignoring registration attempt from old agent at {from}: version {version}");
                return false;
            }
            _ => {}
        }
        if info.domain.is_some() && self.info.domain.is_none() {
            warn!(
                "Agent at {from} is configured with a domain but the master has no configured \
                 domain. Ignoring agent registration attempt"
            );
            return false;
        }
        if self.flags.require_agent_domain && info.domain.is_none() {
            warn!("Agent at {from} attempted to register without a domain; ignoring it");
            return false;
        }
        let v1_resources = agents::agent_resources(&info.resources);
        if let Err(error) = super::validation::validate_resources(&v1_resources) {
            warn!("Dropping registration of agent at {from}: {error}");
            return false;
        }
        true
    }

    /// `REGISTER_AGENT`, and `RESERVE_RESOURCES` for the reservations
    /// the agent brings, as the principal the agent at `from` authenticated
    /// as (none when it did not: upstream's unauthenticated agent).
    fn authorize_agent(
        &self,
        from: &Upid,
        info: &v0::SlaveInfo,
        admission: Admission,
    ) -> Result<(), String> {
        let principal = self.authentication.principal(from);
        authorize_agent(&self.authorizer, principal, info, admission)
    }

    fn register_agent(&mut self, from: Upid, message: RegisterSlaveMessage) {
        self.count("master/messages_register_slave");
        if !self.agent_authenticated(&from, false) {
            return;
        }
        if !message.checkpointed_resources.is_empty() && !message.slave.checkpoint.unwrap_or(false)
        {
            warn!(
                "Dropping registration of agent at {from}: Checkpointed resources provided when \
                 checkpointing is not enabled"
            );
            return;
        }
        if !self.acceptable_agent(&from, &message.slave, message.version.as_deref()) {
            return;
        }
        // A first registration never carries an id; one naming an agent
        // registered at another pid is an attempt to take it over.
        if let Some(agent) = message
            .slave
            .id
            .as_ref()
            .and_then(|id| self.agents.get(id.value.as_str()))
        {
            if agent.pid != from {
                let why = format!("agent {} is registered at {}", agent.id, agent.pid);
                self.refusals.refuse(
                    &from.to_string(),
                    "mesos.internal.RegisterSlaveMessage",
                    &why,
                );
                return;
            }
        }
        if let Err(error) = self.authorize_agent(&from, &message.slave, Admission::Register) {
            warn!(
                "Refusing registration of agent at {from} ({}): {error}",
                message.slave.hostname
            );
            return;
        }
        if self.registering.contains(&from) {
            info!(
                "Ignoring register agent message from {from} ({}) as registration is already \
                 in progress",
                message.slave.hostname
            );
            return;
        }
        info!(
            "Received register agent message from {from} ({})",
            message.slave.hostname
        );

        if let Some(existing) = self
            .agent_pids
            .get(&from)
            .and_then(|id| self.agents.get(id))
        {
            let id = existing.id.clone();
            if existing.connected {
                info!("Agent {id} at {from} already registered, resending acknowledgement");
                let reply = SlaveRegisteredMessage {
                    slave_id: id.to_proto(),
                    connection: Some(agents::connection(self.total_ping_timeout())),
                };
                self.send(&from, &reply);
                return;
            }
            info!("Removing old disconnected agent {id} because a registration attempt occurred");
            self.remove_agent(
                &id,
                "a new agent registered at the same address",
                "master/slave_removals/reason_registered",
            );
        }

        let id = self.new_agent_id();
        let mut info = message.slave.clone();
        info.id = Some(id.to_proto());
        info!(
            "Registering agent at {from} ({}) with id {id}",
            info.hostname
        );
        self.registering.insert(from.clone());
        self.registrar.apply(
            Operation::AdmitAgent(Box::new(info.clone())),
            Continuation::Registered {
                from,
                message: Box::new(message),
                info: Box::new(info),
            },
        );
    }

    /// `__registerSlave`: the registry admitted the agent.
    pub(super) fn agent_admitted(
        &mut self,
        from: Upid,
        message: RegisterSlaveMessage,
        info: v0::SlaveInfo,
        admitted: bool,
    ) {
        self.registering.remove(&from);
        let id = info.id.as_ref().map(AgentId::from).unwrap_or_default();
        if !admitted {
            warn!(
                "Agent {id} at {from} ({}) was assigned an agent ID that already appears in the \
                 registry; ignoring registration attempt",
                info.hostname
            );
            return;
        }
        let now = now_secs();
        let observer = self.new_observer();
        let agent = Agent {
            id: id.clone(),
            info: v1_agent_info(&info),
            registry_info: RegistryInfo::new(&info),
            pid: from.clone(),
            version: message.version.clone().unwrap_or_default(),
            capabilities: AgentCapabilities::from_v0(&message.agent_capabilities),
            registered_time: now,
            reregistered_time: None,
            connected: true,
            active: true,
            total: agent_total(&info, &message.checkpointed_resources),
            executors: BTreeMap::new(),
            tasks: BTreeMap::new(),
            killed_tasks: BTreeSet::new(),
            offers: BTreeSet::new(),
            observer,
            disconnect_epoch: 0,
        };
        info!(
            "Registered agent {id} at {from} ({}) with {}",
            info.hostname, agent.total
        );
        self.agents.insert(id.clone(), agent);
        self.add_agent(&id);
        self.emit_agent_added(&id);
        self.count("master/slave_registrations");
        let reply = SlaveRegisteredMessage {
            slave_id: id.to_proto(),
            connection: Some(agents::connection(self.total_ping_timeout())),
        };
        self.send(&from, &reply);
        self.send_ping(&id);
    }

    fn total_ping_timeout(&self) -> f64 {
        self.flags.agent_ping_timeout.secs_f64() * self.flags.max_agent_ping_timeouts as f64
    }

    fn new_observer(&mut self) -> Observer {
        let id = format!("slave-observer({})", self.next_observer_id);
        self.next_observer_id += 1;
        self.processes.add_messages(&id, self.message_tx.clone());
        Observer {
            id,
            pinged: false,
            timeouts: 0,
            unreachable_pending: false,
            epoch: self.next_epoch(),
        }
    }

    /// Common end of (re-)registration (`Master::addSlave`): link and tell
    /// the allocator. The first ping follows the (re)registered reply.
    fn add_agent(&mut self, agent_id: &AgentId) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        self.agent_pids.insert(agent.pid.clone(), agent_id.clone());
        self.agent_observers
            .insert(agent.observer.id.clone(), agent_id.clone());
        self.transport.link(&agent.pid);
        let used = self.used_on_agent(agent);
        let total = agent.total.clone();
        let used = used
            .into_iter()
            .map(|(framework, resources)| (alloc::FrameworkId::from(framework), resources))
            .collect();
        self.allocator.add_agent(agent_id, total, used);
        // An agent on a DRAINING machine joins with its unavailability.
        self.sync_unavailability(agent_id);
        self.request_allocation();
    }

    // ---- health checks ------------------------------------------------------

    /// Pings the agent from its observer and arms the timeout.
    fn send_ping(&mut self, agent_id: &AgentId) {
        let ping_timeout = self.flags.agent_ping_timeout.to_std();
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let observer = Upid::new(agent.observer.id.clone(), self.pid.ip, self.pid.port);
        let ping = PingSlaveMessage {
            connected: agent.connected,
        };
        agent.observer.pinged = true;
        let epoch = agent.observer.epoch;
        let to = agent.pid.clone();
        self.transport.send_message(&observer, &to, &ping);
        self.schedule(
            ping_timeout,
            Timer::Ping {
                agent_id: agent_id.clone(),
                epoch,
            },
        );
    }

    /// `SlaveObserver::timeout`: count a missed pong, give up after
    /// `--max_agent_ping_timeouts`, else ping again.
    pub(super) fn ping_timeout(&mut self, agent_id: &AgentId, epoch: u64) {
        let max = self.flags.max_agent_ping_timeouts;
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        if agent.observer.epoch != epoch {
            return;
        }
        if agent.observer.pinged {
            agent.observer.timeouts += 1;
            if agent.observer.timeouts >= max {
                self.schedule_unreachable(agent_id);
                return;
            }
        }
        self.send_ping(agent_id);
    }

    /// `SlaveObserver::pong`.
    fn pong(&mut self, observer_id: &str) {
        let Some(agent) = self
            .agent_observers
            .get(observer_id)
            .and_then(|id| self.agents.get_mut(id))
        else {
            return;
        };
        agent.observer.pinged = false;
        agent.observer.timeouts = 0;
        let agent_id = agent.id.clone();
        self.cancel_unreachable(&agent_id);
    }

    // ---- re-registration ----------------------------------------------------

    fn reregister_agent(&mut self, from: Upid, message: ReregisterSlaveMessage) {
        self.count("master/messages_reregister_slave");
        if !self.agent_authenticated(&from, true) {
            return;
        }
        let Some(id) = message.slave.id.as_ref().map(AgentId::from) else {
            warn!("Dropping re-registration of agent at {from}: it has no id");
            return;
        };
        let busy = if self.reregistering.contains(&id) {
            Some("re-registration is already in progress")
        } else if self.marking_unreachable.contains(&id) {
            Some("a mark unreachable operation is already in progress")
        } else if self.marking_gone.contains(&id) {
            Some("a gone operation is already in progress")
        } else {
            None
        };
        if let Err(error) = self.authorize_agent(&from, &message.slave, Admission::Reregister) {
            warn!(
                "Refusing re-registration of agent {id} at {from} ({}): {error}",
                message.slave.hostname
            );
            return;
        }
        if let Some(busy) = busy {
            info!(
                "Ignoring reregister agent message from agent {id} at {from} ({}) as {busy}",
                message.slave.hostname
            );
            return;
        }
        if self.gone_agents.contains_key(&id) {
            warn!("Refusing re-registration of agent at {from} because it is already marked gone");
            self.send(
                &from,
                &ShutdownMessage {
                    message: Some("Agent has been marked gone".to_string()),
                },
            );
            return;
        }
        if let Err(error) = validate_reregistration(&message) {
            warn!("Dropping re-registration of agent at {from}: {error}");
            return;
        }
        if !self.acceptable_agent(&from, &message.slave, message.version.as_deref()) {
            return;
        }
        info!(
            "Received reregister agent message from agent {id} at {from} ({})",
            message.slave.hostname
        );
        if let Some(agent) = self.agents.get(&id) {
            // Beyond upstream: an id that a live agent holds at another
            // pid is not taken over; a restarted agent is let in once its
            // old connection is known broken (exited or ping timeout).
            if agent.connected && agent.pid != from {
                let why = format!("agent {id} is registered and connected at {}", agent.pid);
                self.refusals.refuse(
                    &from.to_string(),
                    "mesos.internal.ReregisterSlaveMessage",
                    &why,
                );
                return;
            }
            if agent.pid.ip != from.ip || agent.info.hostname != message.slave.hostname {
                warn!(
                    "Agent {id} at {from} attempted to reregister with different IP / hostname; \
                     shutting it down"
                );
                self.send(
                    &from,
                    &ShutdownMessage {
                        message: Some(
                            "Agent attempted to reregister with different IP / hostname"
                                .to_string(),
                        ),
                    },
                );
                return;
            }
            // Skip the registry when the agent's info did not change.
            if agent.registry_info.matches(&message.slave) {
                self.reregister_known_agent(&id, from, message);
                return;
            }
            self.reregistering.insert(id);
            self.registrar.apply(
                Operation::UpdateAgent(Box::new(message.slave.clone())),
                Continuation::ReregisteredKnown {
                    from,
                    message: Box::new(message),
                },
            );
            return;
        }
        let operation = match self.recovered_agents.get(&id) {
            // A recovered agent with unchanged info needs no write
            // (MESOS-7711).
            Some(recovered) if recovered.info == message.slave => {
                self.readmit_agent(&id, from, message);
                return;
            }
            Some(_) => Operation::UpdateAgent(Box::new(message.slave.clone())),
            None => Operation::MarkAgentReachable(Box::new(message.slave.clone())),
        };
        self.reregistering.insert(id);
        self.registrar.apply(
            operation,
            Continuation::Readmitted {
                from,
                message: Box::new(message),
            },
        );
    }

    /// The state re-checked when a re-registration resumes after its
    /// registry write: a gone transition may have started or finished.
    fn reregistration_still_wanted(&mut self, id: &AgentId, from: &Upid) -> bool {
        self.reregistering.remove(id);
        if self.marking_gone.contains(id) {
            info!(
                "Ignoring reregister agent message from agent {id} at {from} as a gone \
                 operation is already in progress"
            );
            return false;
        }
        if self.gone_agents.contains_key(id) {
            warn!("Refusing re-registration of agent at {from} because it is already marked gone");
            self.send(
                from,
                &ShutdownMessage {
                    message: Some("Agent has been marked gone".to_string()),
                },
            );
            return false;
        }
        true
    }

    /// `___reregisterSlave` after the registry recorded the new info.
    pub(super) fn known_agent_updated(&mut self, from: Upid, message: ReregisterSlaveMessage) {
        let id = message
            .slave
            .id
            .as_ref()
            .map(AgentId::from)
            .unwrap_or_default();
        if !self.reregistration_still_wanted(&id, &from) {
            return;
        }
        if !self.agents.contains_key(&id) {
            warn!("Dropping ongoing re-registration attempt of agent {id} at {from} because it was removed");
            return;
        }
        if let Some(agent) = self.agents.get_mut(&id) {
            agent.registry_info = RegistryInfo::new(&message.slave);
        }
        self.reregister_known_agent(&id, from, message);
    }

    /// `__reregisterSlave` after the registry readmitted the agent.
    pub(super) fn agent_readmitted(&mut self, from: Upid, message: ReregisterSlaveMessage) {
        let id = message
            .slave
            .id
            .as_ref()
            .map(AgentId::from)
            .unwrap_or_default();
        if !self.reregistration_still_wanted(&id, &from) {
            return;
        }
        self.readmit_agent(&id, from, message);
    }

    /// Re-registration of an agent this master has (`___reregisterSlave`).
    fn reregister_known_agent(
        &mut self,
        id: &AgentId,
        from: Upid,
        message: ReregisterSlaveMessage,
    ) {
        self.count("master/slave_reregistrations");
        let Some(agent) = self.agents.get(id) else {
            return;
        };
        let total = agent_total(&message.slave, &message.checkpointed_resources);
        let was_connected = agent.connected;
        let now = now_secs();
        if let Some(agent) = self.agents.get_mut(id) {
            if agent.pid != from {
                self.agent_pids.remove(&agent.pid);
                self.agent_pids.insert(from.clone(), id.clone());
            }
            agent.pid = from.clone();
            agent.info = v1_agent_info(&message.slave);
            agent.version = message.version.clone().unwrap_or_default();
            agent.capabilities = AgentCapabilities::from_v0(&message.agent_capabilities);
            agent.reregistered_time = Some(now);
            agent.total = total.clone();
        }
        self.transport.link(&from);
        self.allocator.update_agent(id, total);
        self.reconcile_known_agent(id, &from, &message);
        if !was_connected {
            let deactivated = self.drain.is_deactivated(id);
            if let Some(agent) = self.agents.get_mut(id) {
                agent.connected = true;
                agent.active = !deactivated;
                agent.disconnect_epoch = 0;
            }
            // A deactivated agent stays out of the allocator until the
            // operator reactivates it.
            if !deactivated {
                info!("Reactivating re-registered agent {id}");
                self.allocator.activate_agent(id);
                self.request_allocation();
            }
        }
        self.update_agent_frameworks(&from, &message.frameworks);
        // Its hostname or address may have moved it onto (or off) a
        // scheduled machine.
        self.sync_unavailability(id);
        self.reapply_drain(id);
    }

    /// `Master::reconcileKnownSlave`: sends `SlaveReregisteredMessage` with
    /// reconciliation requests for tasks the agent did not report, and
    /// cleans up executors, kills and completed frameworks.
    fn reconcile_known_agent(
        &mut self,
        id: &AgentId,
        pid: &Upid,
        message: &ReregisterSlaveMessage,
    ) {
        let reported: BTreeSet<(String, String)> = message
            .tasks
            .iter()
            .map(|t| (t.framework_id.value.clone(), t.task_id.value.clone()))
            .collect();
        let now = now_secs();
        let mut reconciliations = Vec::new();
        if let Some(agent) = self.agents.get(id) {
            for (framework_id, task_ids) in &agent.tasks {
                let Some(framework) = self.frameworks.get(framework_id.as_str()) else {
                    continue;
                };
                let mut statuses = Vec::new();
                for task_id in task_ids {
                    if reported.contains(&(framework_id.clone(), task_id.clone())) {
                        continue;
                    }
                    let Some(task) = framework.tasks.get(task_id) else {
                        continue;
                    };
                    warn!(
                        "Task {task_id} of framework {framework_id} unknown to the agent {id} \
                         during re-registration: reconciling with the agent"
                    );
                    statuses.push(v0::TaskStatus {
                        task_id: v0::TaskId {
                            value: task_id.clone(),
                        },
                        state: task.status_update_state.unwrap_or(task.state),
                        slave_id: Some(id.to_proto()),
                        source: Some(task_status::Source::Master as i32),
                        message: Some("Reconciliation request".to_string()),
                        reason: Some(task_status::Reason::Reconciliation as i32),
                        timestamp: Some(now),
                        ..Default::default()
                    });
                }
                if !statuses.is_empty() {
                    reconciliations.push(ReconcileTasksMessage {
                        framework_id: v0::FrameworkId {
                            value: framework_id.clone(),
                        },
                        statuses,
                        framework: Some(mesos_proto::convert::devolve(&framework.info)),
                    });
                }
            }
        }
        let reply = SlaveReregisteredMessage {
            slave_id: id.to_proto(),
            reconciliations,
            connection: Some(agents::connection(self.total_ping_timeout())),
        };
        self.send(pid, &reply);

        // Executors the agent no longer has.
        let reported_executors: BTreeSet<(String, String)> = message
            .executor_infos
            .iter()
            .map(|e| {
                (
                    e.framework_id
                        .as_ref()
                        .map(|f| f.value.clone())
                        .unwrap_or_default(),
                    e.executor_id.value.clone(),
                )
            })
            .collect();
        let known: Vec<(String, String)> = self
            .agents
            .get(id)
            .map(|agent| {
                agent
                    .executors
                    .iter()
                    .flat_map(|(f, e)| e.keys().map(move |x| (f.clone(), x.clone())))
                    .collect()
            })
            .unwrap_or_default();
        for (framework_id, executor_id) in known {
            if !reported_executors.contains(&(framework_id.clone(), executor_id.clone())) {
                warn!("Executor '{executor_id}' of framework {framework_id} possibly unknown to the agent {id}");
                self.remove_executor(id, &framework_id, &executor_id);
            }
        }

        // Kills that may not have arrived.
        let killed: Vec<(String, String)> = self
            .agents
            .get(id)
            .map(|a| a.killed_tasks.iter().cloned().collect())
            .unwrap_or_default();
        for task in &message.tasks {
            let key = (task.framework_id.value.clone(), task.task_id.value.clone());
            if !is_terminal_state(task.state) && killed.contains(&key) {
                warn!("Agent {id} has non-terminal task {} that is supposed to be killed. Killing it now!", key.1);
                self.send(pid, &agents::kill_task(&key.0, &key.1, None));
            }
        }

        // Frameworks that finished here but still run there.
        let completed: BTreeSet<String> = message
            .tasks
            .iter()
            .map(|t| t.framework_id.value.clone())
            .filter(|f| self.is_completed_framework(f))
            .collect();
        for framework_id in completed {
            self.send(
                pid,
                &ShutdownFrameworkMessage {
                    framework_id: v0::FrameworkId {
                        value: framework_id,
                    },
                },
            );
        }
    }

    /// Re-registration of an agent this master does not have: it was
    /// unreachable, or this master restarted (`__reregisterSlave`).
    fn readmit_agent(&mut self, id: &AgentId, from: Upid, message: ReregisterSlaveMessage) {
        self.count("master/slave_reregistrations");
        let was_recovered = self.recovered_agents.remove(id).is_some();
        let was_unreachable = self.unreachable_agents.remove(id).is_some();
        self.removed_agents.remove(id);
        let capabilities = AgentCapabilities::from_v0(&message.agent_capabilities);

        // FrameworkInfos the agent reported, by id.
        let infos: BTreeMap<String, v1::FrameworkInfo> = message
            .frameworks
            .iter()
            .filter_map(|f| {
                let info: v1::FrameworkInfo = evolve(f);
                info.id.clone().map(|id| (id.value, info))
            })
            .collect();
        // Frameworks we do not know are rebuilt from what the agent said.
        for (framework_id, info) in &infos {
            if !self.frameworks.contains_key(framework_id.as_str())
                && !self.is_completed_framework(framework_id)
            {
                info!("Recovering framework {framework_id} from reregistering agent {id}");
                self.recover_framework(info.clone());
            }
        }
        // Old agents do not put the allocation role into resources.
        let role_of = |framework_id: &str| -> Option<String> {
            let info = infos.get(framework_id)?;
            let roles = super::state::framework_roles(info);
            (roles.len() == 1)
                .then(|| roles.into_iter().next())
                .flatten()
        };
        let inject = |list: &mut Vec<v1::Resource>, framework_id: &str| {
            mesos_proto::resources::from_pre_refinement(list);
            if let Some(role) = role_of(framework_id) {
                for resource in list.iter_mut() {
                    if resource.allocation_info.is_none() {
                        resource.allocation_info = Some(v1::resource::AllocationInfo {
                            role: Some(role.clone()),
                        });
                    }
                }
            }
        };

        let now = now_secs();
        let observer = self.new_observer();
        let mut agent = Agent {
            id: id.clone(),
            info: v1_agent_info(&message.slave),
            registry_info: RegistryInfo::new(&message.slave),
            pid: from.clone(),
            version: message.version.clone().unwrap_or_default(),
            capabilities,
            registered_time: now,
            reregistered_time: Some(now),
            connected: true,
            active: true,
            total: agent_total(&message.slave, &message.checkpointed_resources),
            executors: BTreeMap::new(),
            tasks: BTreeMap::new(),
            killed_tasks: BTreeSet::new(),
            offers: BTreeSet::new(),
            observer,
            disconnect_epoch: 0,
        };
        for executor in &message.executor_infos {
            let mut executor: v1::ExecutorInfo = evolve(executor);
            let framework_id = executor
                .framework_id
                .as_ref()
                .map(|f| f.value.clone())
                .unwrap_or_default();
            if self.is_completed_framework(&framework_id) {
                continue;
            }
            inject(&mut executor.resources, &framework_id);
            agent.add_executor(&framework_id, executor);
        }
        let mut updates = Vec::new();
        for task in &message.tasks {
            let mut task: v1::Task = evolve(task);
            let framework_id = task.framework_id.value.clone();
            if self.is_completed_framework(&framework_id) {
                continue;
            }
            inject(&mut task.resources, &framework_id);
            let Some(framework) = self.frameworks.get_mut(framework_id.as_str()) else {
                continue;
            };
            framework.unreachable_tasks.remove(&task.task_id.value);
            framework
                .completed_tasks
                .retain(|t| t.task_id.value != task.task_id.value);
            if !was_recovered {
                let message = if was_unreachable {
                    "Unreachable agent re-reregistered"
                } else {
                    "Unknown agent reregistered"
                };
                let state = TaskState::try_from(task.state).unwrap_or(TaskState::TaskStaging);
                updates.push(events::master_update(
                    &framework_id,
                    Some(id.as_str()),
                    &task.task_id.value,
                    state,
                    message,
                    task_status::Reason::SlaveReregistered,
                    task.executor_id.as_ref().map(|e| e.value.as_str()),
                    now,
                ));
            }
            agent.add_task(&framework_id, &task.task_id.value);
            framework.tasks.insert(task.task_id.value.clone(), task);
        }
        self.unreachable_tasks.remove(id);
        self.agents.insert(id.clone(), agent);
        self.add_agent(id);
        self.emit_agent_added(id);
        for update in updates {
            let connected = self
                .frameworks
                .get(update.framework_id.value.as_str())
                .is_some_and(|f| f.connected());
            if connected {
                self.forward(update, "");
            }
        }
        let reply = SlaveReregisteredMessage {
            slave_id: id.to_proto(),
            reconciliations: Vec::new(),
            connection: Some(agents::connection(self.total_ping_timeout())),
        };
        self.send(&from, &reply);
        self.send_ping(id);
        info!(
            "Re-registered agent {id} at {from} ({})",
            message.slave.hostname
        );
        for framework in &message.frameworks {
            let framework_id = framework
                .id
                .as_ref()
                .map(|f| f.value.clone())
                .unwrap_or_default();
            if self.is_completed_framework(&framework_id) {
                info!("Shutting down framework {framework_id} at reregistered agent {id}");
                self.send(
                    &from,
                    &ShutdownFrameworkMessage {
                        framework_id: v0::FrameworkId {
                            value: framework_id,
                        },
                    },
                );
            }
        }
        self.update_agent_frameworks(&from, &message.frameworks);
        // Its hostname or address may have moved it onto (or off) a
        // scheduled machine.
        self.sync_unavailability(id);
        self.reapply_drain(id);
    }

    /// Tells the agent the current info of each framework it runs
    /// (`Master::updateSlaveFrameworks`).
    fn update_agent_frameworks(&mut self, pid: &Upid, frameworks: &[v0::FrameworkInfo]) {
        for info in frameworks {
            let framework_id = info
                .id
                .as_ref()
                .map(|f| f.value.clone())
                .unwrap_or_default();
            if let Some(framework) = self.frameworks.get(framework_id.as_str()) {
                let message = agents::update_framework(&framework.info, &framework.pid_string());
                self.send(pid, &message);
            } else if !self.is_completed_framework(&framework_id) {
                self.recover_framework(evolve(info));
            }
        }
    }

    // ---- disconnection and removal -----------------------------------------

    /// The link to the agent broke: stop offering it, drop tasks of
    /// frameworks that do not checkpoint, and wait for it to come back.
    fn disconnect_agent(&mut self, agent_id: &AgentId) {
        let epoch = self.next_epoch();
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        if !agent.connected {
            warn!("Ignoring duplicate exited() notification for agent {agent_id}");
            return;
        }
        info!("Disconnecting agent {agent_id}");
        agent.connected = false;
        agent.active = false;
        agent.disconnect_epoch = epoch;
        let offers: Vec<String> = agent.offers.iter().cloned().collect();
        let framework_ids: BTreeSet<String> = agent
            .tasks
            .keys()
            .chain(agent.executors.keys())
            .cloned()
            .collect();
        self.allocator.deactivate_agent(agent_id);
        for offer_id in offers {
            self.rescind_offer(&offer_id, None);
        }
        self.rescind_agent_inverse_offers(agent_id);
        for framework_id in framework_ids {
            let checkpoint = self
                .frameworks
                .get(framework_id.as_str())
                .map(|f| f.info.checkpoint.unwrap_or(false))
                .unwrap_or(true);
            if !checkpoint {
                info!(
                    "Removing framework {framework_id} from disconnected agent {agent_id} \
                     because the framework is not checkpointing"
                );
                self.remove_framework_from_agent(agent_id, &framework_id);
            }
        }
        self.schedule(
            self.flags.agent_reregister_timeout.to_std(),
            Timer::AgentReregisterTimeout {
                agent_id: agent_id.clone(),
                epoch,
            },
        );
    }

    /// `Master::removeFramework(Slave*, Framework*)`: the framework's tasks
    /// on that agent are lost.
    fn remove_framework_from_agent(&mut self, agent_id: &AgentId, framework_id: &str) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let hostname = agent.info.hostname.clone();
        let task_ids: Vec<String> = agent
            .tasks
            .get(framework_id)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        let executors: Vec<String> = agent
            .executors
            .get(framework_id)
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default();
        let now = now_secs();
        for task_id in task_ids {
            let executor_id = self
                .frameworks
                .get(framework_id)
                .and_then(|f| f.tasks.get(&task_id))
                .and_then(|t| t.executor_id.as_ref().map(|e| e.value.clone()));
            let update = events::master_update(
                framework_id,
                Some(agent_id.as_str()),
                &task_id,
                TaskState::TaskLost,
                &format!("Agent {hostname} disconnected"),
                task_status::Reason::SlaveDisconnected,
                executor_id.as_deref(),
                now,
            );
            self.update_task(framework_id, &task_id, &update);
            self.remove_task(framework_id, &task_id, false);
            self.forward(update, "");
        }
        for executor_id in executors {
            self.remove_executor(agent_id, framework_id, &executor_id);
        }
    }

    pub(super) fn agent_reregister_timeout(&mut self, agent_id: &AgentId, epoch: u64) {
        let expired = self
            .agents
            .get(agent_id)
            .is_some_and(|a| !a.connected && a.disconnect_epoch == epoch);
        if !expired {
            return;
        }
        let reason = format!(
            "agent did not reregister within {} after disconnecting",
            self.flags.agent_reregister_timeout
        );
        self.mark_unreachable(agent_id, &reason);
    }

    /// `Master::markUnreachable`: the agent moves to the unreachable list
    /// once the registry recorded it; its tasks become UNREACHABLE (LOST
    /// for partition-unaware frameworks).
    pub(super) fn mark_unreachable(&mut self, agent_id: &AgentId, reason: &str) {
        if self.agents.contains_key(agent_id) {
            self.count("master/slave_unreachable_scheduled");
        }
        self.mark_unreachable_now(agent_id, reason);
    }

    /// The transition itself, once any rate-limit permit was granted.
    pub(super) fn mark_unreachable_now(&mut self, agent_id: &AgentId, reason: &str) {
        let Some(agent) = self.agents.get(agent_id) else {
            warn!("Skipping transition of agent {agent_id} to unreachable because it has already been removed or marked unreachable");
            return;
        };
        let busy = if self.reregistering.contains(agent_id) {
            Some("it is reregistering")
        } else if self.marking_unreachable.contains(agent_id) {
            Some("another unreachable transition is already in progress")
        } else if self.removing.contains(agent_id) {
            Some("it is being removed")
        } else if self.marking_gone.contains(agent_id) {
            Some("it is being marked as gone")
        } else if self.gone_agents.contains_key(agent_id) {
            Some("it has been marked as gone")
        } else {
            None
        };
        if let Some(busy) = busy {
            warn!("Skipping transition of agent {agent_id} to unreachable because {busy}");
            return;
        }
        info!(
            "Marking agent {agent_id} ({}) unreachable: {reason}",
            agent.info.hostname
        );
        let info = agent.registry_info.decode();
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
                during_failover: false,
            },
        );
    }

    /// `_markUnreachable`: the registry moved the agent to unreachable.
    pub(super) fn agent_marked_unreachable(
        &mut self,
        agent_id: &AgentId,
        time: v0::TimeInfo,
        reason: &str,
        during_failover: bool,
        applied: bool,
    ) {
        self.marking_unreachable.remove(agent_id);
        if !applied {
            warn!(
                "The registry did not have agent {agent_id} admitted while marking it unreachable"
            );
        }
        info!("Marked agent {agent_id} unreachable: {reason}");
        self.count("master/slave_unreachable_completed");
        self.count("master/slave_removals");
        self.count("master/slave_removals/reason_unhealthy");
        self.unreachable_agents.insert(agent_id.clone(), time);
        if during_failover {
            self.recovered_agents.remove(agent_id);
            self.count("master/recovery_slave_removals");
            // Upstream `sendSlaveLost`: the agent's tasks are unknown to
            // this master, so frameworks only hear that the agent is lost.
            let framework_ids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
            let lost = events::failure(agent_id.as_str(), None, None);
            for framework_id in framework_ids {
                self.send_event(framework_id.as_str(), &lost);
            }
            return;
        }
        self.remove_agent_state(agent_id, reason, Removal::Unreachable(time));
    }

    /// `Master::removeSlave`: the agent unregistered (or a new one
    /// registered at its address); acted on once the registry removed it.
    pub(super) fn remove_agent(
        &mut self,
        agent_id: &AgentId,
        cause: &str,
        reason_counter: &'static str,
    ) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let busy = if self.marking_unreachable.contains(agent_id) {
            Some("in the process of being marked unreachable")
        } else if self.marking_gone.contains(agent_id) {
            Some("in the process of being marked gone")
        } else if self.removing.contains(agent_id) {
            Some("in the process of being removed")
        } else {
            None
        };
        if let Some(busy) = busy {
            warn!("Ignoring removal of agent {agent_id} that is {busy}");
            return;
        }
        info!("Removing agent {agent_id}: {cause}");
        let info = agent.registry_info.decode();
        self.removing.insert(agent_id.clone());
        self.registrar.apply(
            Operation::RemoveAgent(Box::new(info)),
            Continuation::Removed {
                agent_id: agent_id.clone(),
                cause: cause.to_string(),
                counter: reason_counter,
            },
        );
    }

    /// `_removeSlave`: the registry forgot the agent.
    pub(super) fn agent_removed(
        &mut self,
        agent_id: &AgentId,
        cause: &str,
        reason_counter: &'static str,
        applied: bool,
    ) {
        self.removing.remove(agent_id);
        if !applied {
            warn!("Agent {agent_id} was already removed from the registry");
        }
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        info!("Removed agent {agent_id}: {cause}");
        let message = format!("Agent {} removed: {cause}", agent.info.hostname);
        self.count("master/slave_removals");
        self.count(reason_counter);
        self.remove_agent_state(agent_id, &message, Removal::Removed);
    }

    /// What `__removeSlave` / `_removeSlave` share: tasks, executors and
    /// offers of the agent go, frameworks hear FAILURE.
    pub(super) fn remove_agent_state(
        &mut self,
        agent_id: &AgentId,
        message: &str,
        removal: Removal,
    ) {
        let unreachable_time = match removal {
            Removal::Unreachable(time) => Some(time),
            Removal::Removed | Removal::Gone => None,
        };
        // An unreachable agent keeps its drain state for when it comes
        // back; a removed or gone one will not.
        if unreachable_time.is_none() {
            self.drain.forget(agent_id);
        }
        self.allocator.remove_agent(agent_id);
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let tasks: Vec<(String, String)> = agent
            .tasks
            .iter()
            .flat_map(|(f, ids)| ids.iter().map(move |t| (f.clone(), t.clone())))
            .collect();
        let executors: Vec<(String, String)> = agent
            .executors
            .iter()
            .flat_map(|(f, e)| e.keys().map(move |x| (f.clone(), x.clone())))
            .collect();
        let offers: Vec<String> = agent.offers.iter().cloned().collect();
        let observer = agent.observer.id.clone();
        let now = now_secs();
        for (framework_id, task_id) in tasks {
            let Some(framework) = self.frameworks.get(framework_id.as_str()) else {
                continue;
            };
            let caps = framework.capabilities();
            let executor_id = framework
                .tasks
                .get(&task_id)
                .and_then(|t| t.executor_id.as_ref().map(|e| e.value.clone()));
            let (state, reason) = match removal {
                Removal::Unreachable(_) => (
                    events::state_for(TaskState::TaskUnreachable, caps),
                    task_status::Reason::SlaveRemoved,
                ),
                Removal::Gone if caps.partition_aware => (
                    TaskState::TaskGoneByOperator,
                    task_status::Reason::SlaveRemovedByOperator,
                ),
                Removal::Gone | Removal::Removed => {
                    (TaskState::TaskLost, task_status::Reason::SlaveRemoved)
                }
            };
            let mut update = events::master_update(
                &framework_id,
                Some(agent_id.as_str()),
                &task_id,
                state,
                message,
                reason,
                executor_id.as_deref(),
                now,
            );
            update.status.unreachable_time = unreachable_time;
            self.update_task(&framework_id, &task_id, &update);
            self.remove_task(&framework_id, &task_id, unreachable_time.is_some());
            self.forward(update, "");
        }
        for (framework_id, executor_id) in executors {
            self.remove_executor(agent_id, &framework_id, &executor_id);
        }
        for offer_id in offers {
            self.rescind_offer(&offer_id, None);
        }
        self.forget_agent_inverse_offers(agent_id);
        if let Some(agent) = self.agents.remove(agent_id) {
            self.authentication.forget(&agent.pid);
            self.agent_pids.remove(&agent.pid);
            self.agent_observers.remove(&agent.observer.id);
        }
        self.removed_agents.insert(agent_id.clone());
        self.emit(|_| {
            Some(super::state_events::StateEvent::AgentRemoved {
                agent_id: agent_id.to_string(),
            })
        });
        self.processes.remove(&observer);
        // Upstream `sendSlaveLost`: LostSlaveMessage, i.e. FAILURE without
        // an executor.
        let framework_ids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
        let lost = events::failure(agent_id.as_str(), None, None);
        for framework_id in framework_ids {
            self.send_event(framework_id.as_str(), &lost);
        }
    }

    fn unregister_agent(&mut self, from: &Upid, message: UnregisterSlaveMessage) {
        self.count("master/messages_unregister_slave");
        let id = AgentId::from(&message.slave_id);
        let Some(agent) = self.agents.get(&id) else {
            warn!("Ignoring unregister agent message from {from} for unknown agent");
            return;
        };
        if &agent.pid != from {
            warn!(
                "Ignoring unregister agent message from {from} because it is not the agent {}",
                agent.pid
            );
            return;
        }
        self.remove_agent(
            &id,
            "the agent unregistered",
            "master/slave_removals/reason_unregistered",
        );
    }

    // ---- updates from agents -------------------------------------------------

    /// `Master::statusUpdate`: forward to the framework (with the uuid it
    /// must acknowledge), then record the new state.
    fn status_update(&mut self, from: &Upid, message: StatusUpdateMessage) {
        self.count("master/messages_status_update");
        let update = message.update;
        let pid = message.pid.unwrap_or_default();
        let Some(agent_id) = update.slave_id.as_ref().map(AgentId::from) else {
            warn!("Ignoring status update without an agent id");
            self.count("master/invalid_status_updates");
            return;
        };
        if self.removed_agents.contains(&agent_id) || !self.agents.contains_key(&agent_id) {
            warn!("Ignoring status update from unknown or removed agent {agent_id}");
            self.count("master/invalid_status_updates");
            return;
        }
        if let Err(why) = self.update_sender_runs_task(from, &agent_id, &update) {
            self.refusals.refuse(
                &from.to_string(),
                "mesos.internal.StatusUpdateMessage",
                &why,
            );
            self.count("master/invalid_status_updates");
            return;
        }
        if update.uuid.as_ref().is_none_or(|u| u.len() != 16) {
            warn!("Ignoring status update from agent {agent_id}: invalid uuid");
            self.count("master/invalid_status_updates");
            return;
        }
        let framework_id = update.framework_id.value.clone();
        let task_id = update.status.task_id.value.clone();
        info!(
            "Status update {} for task {task_id} of framework {framework_id} from agent {agent_id}",
            TaskState::try_from(update.status.state).map_or("UNKNOWN", |s| s.as_str_name())
        );
        let connected = self
            .frameworks
            .get(framework_id.as_str())
            .is_some_and(|f| f.connected());
        if connected {
            self.forward(update.clone(), &pid);
        } else {
            warn!("Received status update for a disconnected or unknown framework {framework_id}");
        }
        let known = self
            .frameworks
            .get(framework_id.as_str())
            .is_some_and(|f| f.tasks.contains_key(&task_id));
        if !known {
            warn!("Could not lookup task {task_id} for status update from agent {agent_id}");
            self.count("master/invalid_status_updates");
            return;
        }
        self.update_task(&framework_id, &task_id, &update);
        self.count(if connected {
            "master/valid_status_updates"
        } else {
            "master/invalid_status_updates"
        });
    }

    /// Beyond upstream, which believes any sender: an update is taken only
    /// from the registered pid of the agent it names, for a task on that
    /// agent (or one this master does not know).
    fn update_sender_runs_task(
        &self,
        from: &Upid,
        agent_id: &AgentId,
        update: &mesos_proto::mesos::internal::StatusUpdate,
    ) -> Result<(), String> {
        let agent = self
            .agents
            .get(agent_id)
            .ok_or_else(|| format!("agent {agent_id} is not registered"))?;
        if agent.pid != *from {
            return Err(format!("agent {agent_id} is registered at {}", agent.pid));
        }
        let task = self
            .frameworks
            .get(update.framework_id.value.as_str())
            .and_then(|f| f.tasks.get(&update.status.task_id.value));
        match task.map(|t| t.agent_id.value.as_str()) {
            Some(runner) if *agent_id != runner => Err(format!(
                "task {} runs on agent {runner}, not {agent_id}",
                update.status.task_id.value
            )),
            _ => Ok(()),
        }
    }

    fn exited_executor(&mut self, message: ExitedExecutorMessage) {
        self.count("master/messages_exited_executor");
        let agent_id = AgentId::from(&message.slave_id);
        let framework_id = message.framework_id.value;
        let executor_id = message.executor_id.value;
        let known = self
            .agents
            .get(&agent_id)
            .is_some_and(|a| a.has_executor(&framework_id, &executor_id));
        if !known {
            warn!("Ignoring unknown exited executor '{executor_id}' of framework {framework_id} on agent {agent_id}");
            return;
        }
        info!(
            "Executor '{executor_id}' of framework {framework_id} on agent {agent_id} exited \
             with status {}",
            message.status
        );
        self.remove_executor(&agent_id, &framework_id, &executor_id);
        self.send_event(
            &framework_id,
            &events::failure(agent_id.as_str(), Some(&executor_id), Some(message.status)),
        );
    }

    fn executor_message(&mut self, message: ExecutorToFrameworkMessage) {
        self.count("master/messages_executor_to_framework");
        let agent_id = message.slave_id.value;
        let framework_id = message.framework_id.value;
        if !self.agents.contains_key(agent_id.as_str()) {
            warn!("Ignoring executor message from unknown agent {agent_id}");
            self.count("master/invalid_executor_to_framework_messages");
            return;
        }
        let connected = self
            .frameworks
            .get(framework_id.as_str())
            .is_some_and(|f| f.connected());
        if !connected {
            warn!("Not forwarding executor message for unknown or disconnected framework {framework_id}");
            self.count("master/invalid_executor_to_framework_messages");
            return;
        }
        let event = events::message(&agent_id, &message.executor_id.value, message.data);
        self.send_event(&framework_id, &event);
        self.count("master/valid_executor_to_framework_messages");
    }

    /// `UpdateSlaveMessage`: new oversubscribed (revocable) resources.
    fn update_agent(&mut self, message: UpdateSlaveMessage) {
        self.count("master/messages_update_slave");
        let agent_id = AgentId::from(&message.slave_id);
        let Some(agent) = self.agents.get_mut(&agent_id) else {
            warn!("Ignoring update on removed agent {agent_id}");
            return;
        };
        if message.update_oversubscribed_resources == Some(false) {
            return;
        }
        let oversubscribed =
            Resources::from(agents::agent_resources(&message.oversubscribed_resources));
        info!("Received update of agent {agent_id} with total oversubscribed resources {oversubscribed}");
        agent.total = &agent.total.non_revocable() + &oversubscribed;
        let total = agent.total.clone();
        let revocable_offers: Vec<String> = agent
            .offers
            .iter()
            .filter(|id| {
                self.offers
                    .get(*id)
                    .is_some_and(|r| !r.resources.revocable().is_empty())
            })
            .cloned()
            .collect();
        self.allocator.update_agent(&agent_id, total);
        for offer_id in revocable_offers {
            self.rescind_offer(&offer_id, None);
        }
    }
}

/// `validation::master::message::reregisterSlave`, the parts that matter
/// for bookkeeping: tasks and executors must belong to reported frameworks
/// and to this agent.
fn validate_reregistration(message: &ReregisterSlaveMessage) -> Result<(), String> {
    let agent_id = message.slave.id.as_ref().map(|id| id.value.as_str());
    let frameworks: BTreeSet<&str> = message
        .frameworks
        .iter()
        .filter_map(|f| f.id.as_ref().map(|id| id.value.as_str()))
        .collect();
    for executor in &message.executor_infos {
        let framework = executor.framework_id.as_ref().map(|f| f.value.as_str());
        if !framework.is_some_and(|f| frameworks.contains(f)) {
            return Err(format!(
                "Executor has an invalid FrameworkID '{}'",
                framework.unwrap_or("")
            ));
        }
    }
    for task in &message.tasks {
        if Some(task.slave_id.value.as_str()) != agent_id {
            return Err(format!(
                "Task has an invalid SlaveID '{}'",
                task.slave_id.value
            ));
        }
        if !frameworks.contains(task.framework_id.value.as_str()) {
            return Err(format!(
                "Task has an invalid FrameworkID '{}'",
                task.framework_id.value
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("1.11.0"), Some((1, 11, 0)));
        assert_eq!(parse_version("1.12.0-dev"), Some((1, 12, 0)));
        assert_eq!(parse_version("0.28"), Some((0, 28, 0)));
        assert_eq!(parse_version("x"), None);
        assert!(parse_version("0.28.2").unwrap() < MINIMUM_AGENT_VERSION);
    }

    fn only_a_registers() -> mesos_authorizer::Authorizer {
        let acls = mesos_authorizer::Acls::parse(
            r#"{"permissive": false,
                "register_agents": [{"principals": {"values": ["a"]}, "agents": {"type": "ANY"}}],
                "reserve_resources": [{"principals": {"values": ["a"]}, "roles": {"values": ["r"]}}]}"#,
        )
        .expect("acls");
        mesos_authorizer::Authorizer::new(Some(acls))
    }

    fn slave_info(resources: &str) -> v0::SlaveInfo {
        let resources: Vec<v0::Resource> = Resources::parse(resources, "*")
            .expect("resources")
            .iter()
            .map(mesos_proto::convert::devolve)
            .collect();
        v0::SlaveInfo {
            hostname: "h".to_string(),
            resources,
            ..Default::default()
        }
    }

    #[test]
    fn agents_are_authorized_as_the_principal_they_authenticated_as() {
        let authorizer = only_a_registers();
        let info = slave_info("cpus:1");
        assert_eq!(
            authorize_agent(&authorizer, Some("a"), &info, Admission::Register),
            Ok(())
        );
        assert_eq!(
            authorize_agent(&authorizer, Some("b"), &info, Admission::Register),
            Err(
                "Not authorized to register agent providing resources 'cpus:1' with principal 'b'"
                    .to_string()
            )
        );
        assert_eq!(
            authorize_agent(&authorizer, None, &info, Admission::Reregister),
            Err(
                "Not authorized to reregister agent providing resources 'cpus:1' without a \
                 principal"
                    .to_string()
            )
        );
    }

    #[test]
    fn static_reservations_of_an_agent_need_reserve_resources() {
        let authorizer = only_a_registers();
        assert_eq!(
            authorize_agent(
                &authorizer,
                Some("a"),
                &slave_info("cpus(r):1"),
                Admission::Register
            ),
            Ok(())
        );
        assert!(authorize_agent(
            &authorizer,
            Some("a"),
            &slave_info("cpus(other):1"),
            Admission::Register
        )
        .is_err());
    }
}
