//! Maintenance (upstream `master/maintenance.cpp` and the maintenance
//! handlers): the schedule of unavailability windows and each scheduled
//! machine's mode (DRAINING once scheduled, DOWN once the operator takes
//! it down, forgotten once brought back UP).
//!
//! Every change is validated here, written to the registry first and
//! acted on only after the write committed: then the actor's copy takes
//! the same change (the one rule, `registry::operations::apply_maintenance`)
//! and agents on machines that went DOWN are shut down and removed. Agents
//! on DOWN machines are refused when they (re-)register. Once a change is
//! applied, every agent's unavailability is brought in line with it
//! (`inverse_offers`). Never formats HTTP answers.

use std::collections::HashSet;
use std::net::IpAddr;

use mesos_proto::ids::AgentId;
use mesos_proto::mesos::allocator::InverseOfferStatus;
use mesos_proto::mesos::internal::Registry;
use mesos_proto::mesos::internal::ShutdownMessage;
use mesos_proto::mesos::machine_info::Mode;
use mesos_proto::mesos::maintenance::{cluster_status::DrainingMachine, ClusterStatus, Schedule};
use mesos_proto::mesos::{MachineId, MachineInfo, Unavailability};
use tokio::sync::oneshot;
use tracing::info;

use super::{Continuation, Master};
use crate::registry::operations::{apply_maintenance, Operation};

/// Why a maintenance change was refused (the HTTP layer maps these: 400
/// for invalid input with upstream's messages, 503 before recovery).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaintenanceError {
    #[error("{0}")]
    Invalid(String),
    /// The request may not act on this machine (its id as JSON).
    #[error("Not authorized to change the maintenance of machine '{0}'")]
    Refused(String),
    #[error("Master has not finished recovery")]
    NotRecovered,
    #[error("The master actor stopped")]
    Stopped,
}

/// A maintenance change the operator asked for.
#[derive(Debug)]
pub enum MaintenanceCommand {
    UpdateSchedule(Schedule),
    /// Machines DRAINING → DOWN.
    Start(Vec<MachineId>),
    /// Machines DOWN → UP (and out of the schedule).
    Stop(Vec<MachineId>),
}

/// Whether the request behind a change may act on a machine: the HTTP
/// layer's answer (from the authorizer), asked per machine once the change
/// is otherwise valid, in upstream's order (a request both invalid and
/// refused gets the validation's error).
pub struct MachineApproval(Box<dyn Fn(&MachineId) -> bool + Send>);

impl MachineApproval {
    pub fn new(approved: impl Fn(&MachineId) -> bool + Send + 'static) -> MachineApproval {
        MachineApproval(Box::new(approved))
    }

    /// Every machine (changes made by the actor's own callers and tests).
    pub fn all() -> MachineApproval {
        MachineApproval::new(|_| true)
    }

    fn check(&self, id: &MachineId) -> Result<(), MaintenanceError> {
        if (self.0)(id) {
            Ok(())
        } else {
            Err(MaintenanceError::Refused(describe(id)))
        }
    }
}

impl std::fmt::Debug for MachineApproval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MachineApproval")
    }
}

/// The scheduled machines and the schedule, as the registry holds them.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceState {
    /// Only `machines` and `schedules` are used.
    registry: Registry,
}

impl MaintenanceState {
    pub fn from_registry(registry: &Registry) -> MaintenanceState {
        MaintenanceState {
            registry: Registry {
                machines: registry.machines.clone(),
                schedules: registry.schedules.clone(),
                ..Default::default()
            },
        }
    }

    pub fn machines(&self) -> &[mesos_proto::mesos::internal::registry::Machine] {
        self.registry
            .machines
            .as_ref()
            .map(|m| m.machines.as_slice())
            .unwrap_or_default()
    }

    fn machine(&self, id: &MachineId) -> Option<&MachineInfo> {
        self.machines()
            .iter()
            .map(|m| &m.info)
            .find(|info| info.id == *id)
    }

    /// The schedule (empty when none was ever posted).
    pub fn schedule(&self) -> Schedule {
        self.registry.schedules.first().cloned().unwrap_or_default()
    }

    /// `/maintenance/status`: DRAINING and DOWN machines, without the
    /// frameworks' answers to inverse offers.
    pub fn status(&self) -> ClusterStatus {
        self.status_with(|_| Vec::new())
    }

    /// `/maintenance/status` with each DRAINING machine's answers to
    /// inverse offers, as `statuses` gives them.
    pub fn status_with(
        &self,
        mut statuses: impl FnMut(&MachineId) -> Vec<InverseOfferStatus>,
    ) -> ClusterStatus {
        let mut status = ClusterStatus::default();
        for machine in self.machines() {
            match machine.info.mode.and_then(|m| Mode::try_from(m).ok()) {
                Some(Mode::Draining) => status.draining_machines.push(DrainingMachine {
                    id: machine.info.id.clone(),
                    statuses: statuses(&machine.info.id),
                }),
                Some(Mode::Down) => status.down_machines.push(machine.info.id.clone()),
                _ => {}
            }
        }
        status
    }

    /// The scheduled machine (in any window of the schedule) that names
    /// the agent at `hostname`/`ip`.
    pub fn scheduled_machine(&self, hostname: &str, ip: &str) -> Option<MachineId> {
        self.registry
            .schedules
            .first()
            .into_iter()
            .flat_map(|s| &s.windows)
            .flat_map(|w| &w.machine_ids)
            .find(|id| machine_matches(id, hostname, ip))
            .cloned()
    }

    /// The unavailability of the DRAINING machine the agent at
    /// `hostname`/`ip` runs on: its window's (upstream keeps it on the
    /// machine from the schedule until the machine comes back UP).
    pub fn unavailability(&self, hostname: &str, ip: &str) -> Option<Unavailability> {
        let window = self.registry.schedules.first()?.windows.iter().find(|w| {
            w.machine_ids
                .iter()
                .any(|id| machine_matches(id, hostname, ip))
        })?;
        let draining = self.machines().iter().any(|m| {
            m.info.mode == Some(Mode::Draining as i32) && machine_matches(&m.info.id, hostname, ip)
        });
        draining.then_some(window.unavailability)
    }

    /// Whether the machine an agent runs on (its hostname and IP) is DOWN.
    pub fn is_down(&self, hostname: &str, ip: &str) -> bool {
        self.machines().iter().any(|m| {
            m.info.mode == Some(Mode::Down as i32) && machine_matches(&m.info.id, hostname, ip)
        })
    }
}

/// Whether a scheduled machine id names the agent at `hostname`/`ip`:
/// each part the id gives must match (hostnames case-insensitively).
pub fn machine_matches(id: &MachineId, hostname: &str, ip: &str) -> bool {
    let host_ok = id
        .hostname
        .as_deref()
        .is_none_or(|h| h.eq_ignore_ascii_case(hostname));
    let ip_ok = id.ip.as_deref().is_none_or(|i| i == ip);
    (id.hostname.is_some() || id.ip.is_some()) && host_ok && ip_ok
}

/// Upstream's machine id JSON in messages: `{"hostname":…,"ip":…}`.
fn describe(id: &MachineId) -> String {
    mesos_proto::json::encode(id)
}

/// Upstream's `validation::machineID`, then its normal form (hostnames
/// lower-cased).
fn normalize(id: &MachineId) -> Result<MachineId, String> {
    let hostname = id.hostname.as_deref().filter(|h| !h.is_empty());
    let ip = id.ip.as_deref().filter(|i| !i.is_empty());
    if hostname.is_none() && ip.is_none() {
        return Err("Both 'hostname' and 'ip' for a machine are empty".to_string());
    }
    if let Some(ip) = ip {
        if ip.parse::<IpAddr>().is_err() {
            return Err(format!("Failed to parse IP address '{ip}'"));
        }
    }
    Ok(MachineId {
        hostname: hostname.map(str::to_ascii_lowercase),
        ip: ip.map(str::to_string),
    })
}

/// Upstream's `validation::machines`: a non-empty list of valid ids, each
/// once.
fn validate_machines(ids: &[MachineId]) -> Result<Vec<MachineId>, String> {
    if ids.is_empty() {
        return Err("List of machines is empty".to_string());
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let id = normalize(id)?;
        if !seen.insert(id.clone()) {
            return Err(format!(
                "Machine '{}' appears more than once in the list",
                describe(&id)
            ));
        }
        out.push(id);
    }
    Ok(out)
}

/// Upstream's `validation::schedule` against the current machines, and
/// the schedule with normalized ids.
pub fn validate_schedule(
    schedule: &Schedule,
    state: &MaintenanceState,
) -> Result<Schedule, String> {
    let mut normalized = schedule.clone();
    let mut scheduled = HashSet::new();
    for window in &mut normalized.windows {
        if window.machine_ids.is_empty() {
            return Err("List of machines in the maintenance window is empty".to_string());
        }
        if window
            .unavailability
            .duration
            .is_some_and(|d| d.nanoseconds < 0)
        {
            return Err("Unavailability 'duration' is negative".to_string());
        }
        for id in &mut window.machine_ids {
            *id = normalize(id)?;
            if !scheduled.insert(id.clone()) {
                return Err(format!(
                    "Machine '{}' appears more than once in the schedule",
                    describe(id)
                ));
            }
        }
    }
    for machine in state.machines() {
        if machine.info.mode == Some(Mode::Down as i32) && !scheduled.contains(&machine.info.id) {
            return Err(format!(
                "Machine '{}' is deactivated and cannot be removed from the schedule",
                describe(&machine.info.id)
            ));
        }
    }
    Ok(normalized)
}

impl Master {
    /// Validates a change and queues its registry write; the reply comes
    /// once the write committed.
    pub(super) fn maintenance(
        &mut self,
        command: MaintenanceCommand,
        approval: MachineApproval,
        reply: oneshot::Sender<Result<(), MaintenanceError>>,
    ) {
        let operation = match self.validate_maintenance(command, &approval) {
            Ok(operation) => operation,
            Err(error) => {
                let _ = reply.send(Err(error));
                return;
            }
        };
        info!("Applying maintenance operation {}", operation.name());
        self.registrar.apply(
            operation.clone(),
            Continuation::Maintenance { operation, reply },
        );
    }

    fn validate_maintenance(
        &self,
        command: MaintenanceCommand,
        approval: &MachineApproval,
    ) -> Result<Operation, MaintenanceError> {
        let invalid = MaintenanceError::Invalid;
        match command {
            MaintenanceCommand::UpdateSchedule(schedule) => {
                let schedule = validate_schedule(&schedule, &self.maintenance).map_err(invalid)?;
                // Every machine of the new schedule, and every machine it
                // takes out of maintenance: upstream asks only about the
                // first, so a principal refused every machine could still
                // clear the whole schedule.
                let named: Vec<&MachineId> = schedule
                    .windows
                    .iter()
                    .flat_map(|w| &w.machine_ids)
                    .collect();
                for id in &named {
                    approval.check(id)?;
                }
                for machine in self.maintenance.machines() {
                    if !named.contains(&&machine.info.id) {
                        approval.check(&machine.info.id)?;
                    }
                }
                Ok(Operation::UpdateSchedule(Box::new(schedule)))
            }
            MaintenanceCommand::Start(ids) => {
                let ids = validate_machines(&ids).map_err(invalid)?;
                for id in &ids {
                    match self.maintenance.machine(id) {
                        None => {
                            return Err(invalid(format!(
                                "Machine '{}' is not part of a maintenance schedule",
                                describe(id)
                            )))
                        }
                        Some(info) if info.mode != Some(Mode::Draining as i32) => {
                            return Err(invalid(format!(
                                "Machine '{}' is not in DRAINING mode and cannot be brought down",
                                describe(id)
                            )))
                        }
                        Some(_) => approval.check(id)?,
                    }
                }
                Ok(Operation::StartMaintenance(ids))
            }
            MaintenanceCommand::Stop(ids) => {
                let ids = validate_machines(&ids).map_err(invalid)?;
                for id in &ids {
                    match self.maintenance.machine(id) {
                        None => {
                            return Err(invalid(format!(
                                "Machine '{}' is not part of a maintenance schedule",
                                describe(id)
                            )))
                        }
                        Some(info) if info.mode != Some(Mode::Down as i32) => {
                            return Err(invalid(format!(
                                "Machine '{}' is not in DOWN mode and cannot be brought up",
                                describe(id)
                            )))
                        }
                        Some(_) => approval.check(id)?,
                    }
                }
                Ok(Operation::StopMaintenance(ids))
            }
        }
    }

    /// The registry holds the change: take it, and shut down the agents
    /// of machines that went DOWN.
    pub(super) fn maintenance_applied(
        &mut self,
        operation: Operation,
        reply: oneshot::Sender<Result<(), MaintenanceError>>,
    ) {
        apply_maintenance(&operation, &mut self.maintenance.registry);
        if let Operation::StartMaintenance(ids) = &operation {
            let down: Vec<(AgentId, libprocess::Upid)> = self
                .agents
                .values()
                .filter(|agent| {
                    let ip = agent.pid.ip.to_string();
                    ids.iter()
                        .any(|id| machine_matches(id, &agent.info.hostname, &ip))
                })
                .map(|agent| (agent.id.clone(), agent.pid.clone()))
                .collect();
            for (agent_id, pid) in down {
                let cause = "Operator initiated 'Machine DOWN'";
                self.send(
                    &pid,
                    &ShutdownMessage {
                        message: Some(cause.to_string()),
                    },
                );
                self.remove_agent(
                    &agent_id,
                    cause,
                    "master/slave_removals/reason_unregistered",
                );
            }
        }
        self.sync_all_unavailability();
        let _ = reply.send(Ok(()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::maintenance::Window;
    use mesos_proto::mesos::{DurationInfo, TimeInfo, Unavailability};

    fn id(host: &str, ip: &str) -> MachineId {
        MachineId {
            hostname: Some(host.into()),
            ip: Some(ip.into()),
        }
    }

    fn window(ids: Vec<MachineId>) -> Window {
        Window {
            machine_ids: ids,
            unavailability: Unavailability {
                start: TimeInfo { nanoseconds: 1 },
                duration: Some(DurationInfo { nanoseconds: 10 }),
            },
        }
    }

    #[test]
    fn schedules_are_validated_like_upstream() {
        let state = MaintenanceState::default();
        let empty = Schedule {
            windows: vec![window(vec![])],
        };
        assert!(validate_schedule(&empty, &state)
            .unwrap_err()
            .contains("is empty"));
        let twice = Schedule {
            windows: vec![
                window(vec![id("A", "1.2.3.4")]),
                window(vec![id("a", "1.2.3.4")]),
            ],
        };
        assert!(validate_schedule(&twice, &state)
            .unwrap_err()
            .contains("appears more than once"));
        let bad_ip = Schedule {
            windows: vec![window(vec![id("a", "not-an-ip")])],
        };
        assert!(validate_schedule(&bad_ip, &state).is_err());
        let ok = Schedule {
            windows: vec![window(vec![id("Host", "1.2.3.4")])],
        };
        let normalized = validate_schedule(&ok, &state).unwrap();
        assert_eq!(
            normalized.windows[0].machine_ids[0].hostname.as_deref(),
            Some("host")
        );
    }

    #[test]
    fn machine_modes_follow_the_operations() {
        let mut state = MaintenanceState::default();
        let machine = id("h", "10.0.0.1");
        let schedule = Schedule {
            windows: vec![window(vec![machine.clone()])],
        };
        apply_maintenance(
            &Operation::UpdateSchedule(Box::new(schedule)),
            &mut state.registry,
        );
        assert_eq!(state.status().draining_machines.len(), 1);
        apply_maintenance(
            &Operation::StartMaintenance(vec![machine.clone()]),
            &mut state.registry,
        );
        assert_eq!(state.status().down_machines, vec![machine.clone()]);
        assert!(state.is_down("H", "10.0.0.1"));
        // A DOWN machine cannot leave the schedule.
        assert!(validate_schedule(&Schedule::default(), &state)
            .unwrap_err()
            .contains("is deactivated"));
        apply_maintenance(
            &Operation::StopMaintenance(vec![machine]),
            &mut state.registry,
        );
        assert!(state.machines().is_empty());
        assert!(state.schedule().windows.is_empty());
    }

    // Upstream's order: a change both invalid and refused is invalid; a
    // refusal is for the first machine refused and changes nothing.
    #[tokio::test(start_paused = true)]
    async fn approval_is_asked_per_machine_after_validation() {
        let master = crate::testing::start_master(&[]).await;
        let handle = &master.handle;
        let (a, b) = (id("a", "10.0.0.1"), id("b", "10.0.0.2"));
        let refuse_b = || MachineApproval::new(|m| m.hostname.as_deref() != Some("b"));
        let change = |command, approval| handle.change_maintenance(command, approval);
        let both = Schedule {
            windows: vec![window(vec![a.clone()]), window(vec![b.clone()])],
        };
        assert_eq!(
            change(MaintenanceCommand::UpdateSchedule(both.clone()), refuse_b()).await,
            Err(MaintenanceError::Refused(describe(&b)))
        );
        assert!(handle.maintenance_schedule().await.windows.is_empty());
        let twice = Schedule {
            windows: vec![window(vec![b.clone(), b.clone()])],
        };
        assert!(matches!(
            change(MaintenanceCommand::UpdateSchedule(twice), refuse_b()).await,
            Err(MaintenanceError::Invalid(_))
        ));
        // `b` is not scheduled: that is said before the refusal.
        assert!(matches!(
            change(MaintenanceCommand::Start(vec![b.clone()]), refuse_b()).await,
            Err(MaintenanceError::Invalid(_))
        ));
        change(
            MaintenanceCommand::UpdateSchedule(both),
            MachineApproval::all(),
        )
        .await
        .unwrap();
        assert_eq!(
            change(
                MaintenanceCommand::Start(vec![a.clone(), b.clone()]),
                refuse_b()
            )
            .await,
            Err(MaintenanceError::Refused(describe(&b)))
        );
        assert_eq!(handle.maintenance_status().await.draining_machines.len(), 2);
        change(MaintenanceCommand::Start(vec![a.clone()]), refuse_b())
            .await
            .unwrap();
        assert_eq!(handle.maintenance_status().await.down_machines, vec![a]);
        // Dropping `b` from the schedule is a change to `b` too: refused,
        // and the schedule keeps both windows; with approval it goes.
        let only_a = Schedule {
            windows: vec![window(vec![id("a", "10.0.0.1")])],
        };
        assert_eq!(
            change(
                MaintenanceCommand::UpdateSchedule(only_a.clone()),
                refuse_b()
            )
            .await,
            Err(MaintenanceError::Refused(describe(&b)))
        );
        assert_eq!(handle.maintenance_schedule().await.windows.len(), 2);
        change(
            MaintenanceCommand::UpdateSchedule(only_a),
            MachineApproval::all(),
        )
        .await
        .unwrap();
        assert_eq!(handle.maintenance_schedule().await.windows.len(), 1);
    }
}
