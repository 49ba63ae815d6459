//! Registry operations (upstream `registry_operations.cpp`): pure
//! mutations of a `mesos.internal.Registry`, applied by the registrar to a
//! copy of the committed registry before that copy is stored.
//!
//! Each operation answers whether it changed the registry, with upstream's
//! meaning of the `Future<bool>` the master waits on: `false` means "did not
//! apply" (an id collision on admit, an unknown agent), which the master
//! treats as a refusal, not a storage failure. Nothing here does I/O.

use std::collections::{HashMap, HashSet};

use mesos_proto::mesos::internal::registry::{
    GoneSlave, GoneSlaves, Machine, Machines, Master as RegistryMaster, Slave, Slaves,
    UnreachableSlave, UnreachableSlaves,
};
use mesos_proto::mesos::internal::registry::{MinimumCapability, Weight};
use mesos_proto::mesos::internal::Registry;
use mesos_proto::mesos::machine_info::Mode;
use mesos_proto::mesos::maintenance::Schedule;
use mesos_proto::mesos::quota::QuotaConfig;
use mesos_proto::mesos::{DrainConfig, DrainInfo, DrainState};
use mesos_proto::mesos::{MachineId, MachineInfo};
use mesos_proto::mesos::{MasterInfo, SlaveId, SlaveInfo, TimeInfo, WeightInfo};
use tracing::warn;

/// One change to the registry: agents, maintenance, quota and weights.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Records the leading master's info (upstream's `Recover` step, run
    /// once by every new leader before anything else is written).
    SetMaster(Box<MasterInfo>),
    /// `AdmitSlave`: a newly registered agent; refused if the id is
    /// already admitted.
    AdmitAgent(Box<SlaveInfo>),
    /// `UpdateSlave`: new info for an admitted agent.
    UpdateAgent(Box<SlaveInfo>),
    /// `MarkSlaveReachable`: an unreachable (or forgotten) agent is back;
    /// a no-op for an admitted one.
    MarkAgentReachable(Box<SlaveInfo>),
    /// `MarkSlaveUnreachable`: an admitted agent becomes unreachable.
    MarkAgentUnreachable {
        info: Box<SlaveInfo>,
        time: TimeInfo,
    },
    /// `MarkSlaveGone`: an admitted or unreachable agent is gone for good.
    MarkAgentGone { id: SlaveId, time: TimeInfo },
    /// `RemoveSlave`: an admitted agent unregistered.
    RemoveAgent(Box<SlaveInfo>),
    /// `Prune`: forget old unreachable and gone entries.
    Prune {
        unreachable: Vec<SlaveId>,
        gone: Vec<SlaveId>,
    },
    /// `UpdateSchedule`: the maintenance schedule is replaced; machines new
    /// to it start DRAINING, machines no longer in it are forgotten.
    UpdateSchedule(Box<Schedule>),
    /// `StartMaintenance`: the machines go DOWN.
    StartMaintenance(Vec<MachineId>),
    /// `StopMaintenance`: the machines come UP and leave the schedule.
    StopMaintenance(Vec<MachineId>),
    /// `UpdateQuota`: each config replaces its role's quota; a config
    /// with no guarantees and no limits removes it.
    UpdateQuota(Vec<QuotaConfig>),
    /// `UpdateWeights`: each weight replaces its role's.
    UpdateWeights(Vec<WeightInfo>),
    /// `DrainAgent`: an admitted or unreachable agent starts DRAINING with
    /// this config, and is deactivated.
    DrainAgent { id: SlaveId, config: DrainConfig },
    /// `MarkAgentDrained`: a DRAINING agent is DRAINED.
    MarkAgentDrained(SlaveId),
    /// `DeactivateAgent`: an admitted or unreachable agent is no longer
    /// offered.
    DeactivateAgent(SlaveId),
    /// `ReactivateAgent`: the agent's drain and deactivation are forgotten.
    ReactivateAgent(SlaveId),
}

impl Operation {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::SetMaster(_) => "SetMaster",
            Operation::AdmitAgent(_) => "AdmitAgent",
            Operation::UpdateAgent(_) => "UpdateAgent",
            Operation::MarkAgentReachable(_) => "MarkAgentReachable",
            Operation::MarkAgentUnreachable { .. } => "MarkAgentUnreachable",
            Operation::MarkAgentGone { .. } => "MarkAgentGone",
            Operation::RemoveAgent(_) => "RemoveAgent",
            Operation::Prune { .. } => "Prune",
            Operation::UpdateSchedule(_) => "UpdateSchedule",
            Operation::StartMaintenance(_) => "StartMaintenance",
            Operation::StopMaintenance(_) => "StopMaintenance",
            Operation::UpdateQuota(_) => "UpdateQuota",
            Operation::UpdateWeights(_) => "UpdateWeights",
            Operation::DrainAgent { .. } => "DrainAgent",
            Operation::MarkAgentDrained(_) => "MarkAgentDrained",
            Operation::DeactivateAgent(_) => "DeactivateAgent",
            Operation::ReactivateAgent(_) => "ReactivateAgent",
        }
    }
}

/// Where each agent sits in the registry's lists, so that every operation
/// finds its agent by id instead of scanning the lists (upstream's
/// `slaveIDs` accumulator, extended to the unreachable and gone lists).
/// Kept by the registrar next to the committed registry and updated by
/// [`apply`] in step with it, so an operation costs O(1) whatever the size
/// of the cluster; only [`Operation::Prune`] rebuilds it.
///
/// Removal from a list moves its last entry into the hole, so list order
/// is not preserved; nothing reads meaning into it.
#[derive(Debug, Default, Clone)]
pub struct AgentIndex {
    /// Admitted agent id → position in `registry.slaves.slaves`.
    admitted: HashMap<String, usize>,
    /// Unreachable agent id → position in `registry.unreachable.slaves`.
    unreachable: HashMap<String, usize>,
    gone: HashSet<String>,
}

impl AgentIndex {
    pub fn of(registry: &Registry) -> Self {
        let mut index = AgentIndex::default();
        index.rebuild(registry);
        index
    }

    fn rebuild(&mut self, registry: &Registry) {
        self.admitted = registry
            .slaves
            .iter()
            .flat_map(|s| &s.slaves)
            .enumerate()
            .filter_map(|(at, s)| s.info.id.as_ref().map(|id| (id.value.clone(), at)))
            .collect();
        self.unreachable = registry
            .unreachable
            .iter()
            .flat_map(|u| &u.slaves)
            .enumerate()
            .map(|(at, s)| (s.id.value.clone(), at))
            .collect();
        self.gone = registry
            .gone
            .iter()
            .flat_map(|g| &g.slaves)
            .map(|s| s.id.value.clone())
            .collect();
    }

    /// Whether the agent is admitted.
    pub fn contains(&self, id: &SlaveId) -> bool {
        self.admitted.contains_key(&id.value)
    }

    /// Admitted agents.
    pub fn len(&self) -> usize {
        self.admitted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.admitted.is_empty()
    }
}

fn admitted(registry: &mut Registry) -> &mut Vec<Slave> {
    &mut registry.slaves.get_or_insert_with(Slaves::default).slaves
}

fn unreachable(registry: &mut Registry) -> &mut Vec<UnreachableSlave> {
    &mut registry
        .unreachable
        .get_or_insert_with(UnreachableSlaves::default)
        .slaves
}

fn gone(registry: &mut Registry) -> &mut Vec<GoneSlave> {
    &mut registry.gone.get_or_insert_with(GoneSlaves::default).slaves
}

fn id_of(info: &SlaveInfo) -> Option<SlaveId> {
    info.id.clone()
}

/// Takes the admitted agent `id` out of the list, O(1).
fn take_admitted(registry: &mut Registry, index: &mut AgentIndex, id: &SlaveId) -> Option<Slave> {
    let at = index.admitted.remove(&id.value)?;
    let list = admitted(registry);
    if at >= list.len() {
        return None;
    }
    let slave = list.swap_remove(at);
    if let Some(moved) = list.get(at).and_then(|s| s.info.id.as_ref()) {
        index.admitted.insert(moved.value.clone(), at);
    }
    Some(slave)
}

/// Takes the unreachable agent `id` out of the list, O(1).
fn take_unreachable(
    registry: &mut Registry,
    index: &mut AgentIndex,
    id: &SlaveId,
) -> Option<UnreachableSlave> {
    let at = index.unreachable.remove(&id.value)?;
    let list = unreachable(registry);
    if at >= list.len() {
        return None;
    }
    let entry = list.swap_remove(at);
    if let Some(moved) = list.get(at) {
        index.unreachable.insert(moved.id.value.clone(), at);
    }
    Some(entry)
}

fn push_admitted(registry: &mut Registry, index: &mut AgentIndex, id: SlaveId, slave: Slave) {
    let list = admitted(registry);
    index.admitted.insert(id.value, list.len());
    list.push(slave);
}

/// Applies `operation` to `registry`; true if it changed it. `ids` must be
/// the index of `registry` and is kept in step.
pub fn apply(operation: &Operation, registry: &mut Registry, ids: &mut AgentIndex) -> bool {
    match operation {
        Operation::UpdateQuota(configs) => {
            for config in configs {
                // The deprecated `quotas` entry of the role is superseded.
                #[allow(deprecated)]
                registry
                    .quotas
                    .retain(|q| q.info.role.as_deref() != Some(config.role.as_str()));
                registry.quota_configs.retain(|c| c.role != config.role);
                if !config.guarantees.is_empty() || !config.limits.is_empty() {
                    registry.quota_configs.push(config.clone());
                }
            }
            // Upstream marks a registry holding v2 quota so that an older
            // master refuses to recover it rather than misread it.
            let capability = "QUOTA_V2";
            let has = registry
                .minimum_capabilities
                .iter()
                .any(|c| c.capability == capability);
            if !registry.quota_configs.is_empty() && !has {
                registry.minimum_capabilities.push(MinimumCapability {
                    capability: capability.to_string(),
                });
            } else if registry.quota_configs.is_empty() && has {
                registry
                    .minimum_capabilities
                    .retain(|c| c.capability != capability);
            }
            true
        }
        Operation::UpdateWeights(weights) => {
            for weight in weights {
                let role = weight.role.clone();
                match registry.weights.iter_mut().find(|w| w.info.role == role) {
                    Some(entry) => entry.info = weight.clone(),
                    None => registry.weights.push(Weight {
                        info: weight.clone(),
                    }),
                }
            }
            true
        }
        Operation::SetMaster(info) => {
            registry.master = Some(RegistryMaster {
                info: (**info).clone(),
            });
            true
        }
        Operation::AdmitAgent(info) => {
            let Some(id) = id_of(info) else {
                warn!("Refusing to admit an agent without an id");
                return false;
            };
            if ids.contains(&id) {
                return false;
            }
            let slave = Slave {
                info: (**info).clone(),
                ..Default::default()
            };
            push_admitted(registry, ids, id, slave);
            true
        }
        Operation::UpdateAgent(info) => {
            let Some(id) = id_of(info) else {
                return false;
            };
            let Some(&at) = ids.admitted.get(&id.value) else {
                return false;
            };
            let Some(slave) = admitted(registry).get_mut(at) else {
                return false;
            };
            if slave.info == **info {
                return false;
            }
            slave.info = (**info).clone();
            true
        }
        Operation::MarkAgentReachable(info) => {
            let Some(id) = id_of(info) else {
                return false;
            };
            if ids.contains(&id) {
                // A failed-over master: the agent re-registers before it was
                // ever marked unreachable. Nothing to change.
                return false;
            }
            let mut reachable = Slave {
                info: (**info).clone(),
                ..Default::default()
            };
            if let Some(entry) = take_unreachable(registry, ids, &id) {
                reachable.drain_info = entry.drain_info;
                reachable.deactivated = entry.deactivated;
            } else {
                warn!("Allowing UNKNOWN agent {} to reregister", id.value);
            }
            push_admitted(registry, ids, id, reachable);
            true
        }
        Operation::MarkAgentUnreachable { info, time } => {
            let Some(id) = id_of(info) else {
                return false;
            };
            let Some(slave) = take_admitted(registry, ids, &id) else {
                return false;
            };
            let list = unreachable(registry);
            ids.unreachable.insert(id.value.clone(), list.len());
            list.push(UnreachableSlave {
                id,
                timestamp: *time,
                drain_info: slave.drain_info,
                deactivated: slave.deactivated,
            });
            true
        }
        Operation::MarkAgentGone { id, time } => {
            if ids.gone.contains(&id.value) {
                return false;
            }
            let found = take_admitted(registry, ids, id).is_some()
                || take_unreachable(registry, ids, id).is_some();
            if found {
                ids.gone.insert(id.value.clone());
                gone(registry).push(GoneSlave {
                    id: id.clone(),
                    timestamp: *time,
                });
            }
            found
        }
        Operation::RemoveAgent(info) => {
            let Some(id) = id_of(info) else {
                return false;
            };
            take_admitted(registry, ids, &id).is_some()
        }
        Operation::Prune {
            unreachable: old_unreachable,
            gone: old_gone,
        } => {
            let drop_unreachable: HashSet<&str> =
                old_unreachable.iter().map(|id| id.value.as_str()).collect();
            let drop_gone: HashSet<&str> = old_gone.iter().map(|id| id.value.as_str()).collect();
            let list = unreachable(registry);
            let before = list.len();
            list.retain(|s| !drop_unreachable.contains(s.id.value.as_str()));
            let mut changed = list.len() != before;
            let list = gone(registry);
            let before = list.len();
            list.retain(|s| !drop_gone.contains(s.id.value.as_str()));
            changed |= list.len() != before;
            if changed {
                ids.rebuild(registry);
            }
            changed
        }
        Operation::UpdateSchedule(_)
        | Operation::StartMaintenance(_)
        | Operation::StopMaintenance(_) => apply_maintenance(operation, registry),
        Operation::DrainAgent { id, config } => {
            let found = with_drain_state(registry, ids, id, |drain_info, deactivated| {
                *drain_info = Some(DrainInfo {
                    state: DrainState::Draining as i32,
                    config: *config,
                });
                *deactivated = Some(true);
            });
            if found {
                add_capability(registry, AGENT_DRAINING);
            }
            found
        }
        Operation::MarkAgentDrained(id) => {
            // Only a DRAINING agent becomes DRAINED; the master checks this
            // before asking, so a mismatch changes nothing.
            let mut draining = false;
            let found = with_drain_state(registry, ids, id, |drain_info, _| {
                if let Some(info) = drain_info
                    .as_mut()
                    .filter(|info| info.state == DrainState::Draining as i32)
                {
                    info.state = DrainState::Drained as i32;
                    draining = true;
                }
            });
            if found && !draining {
                warn!("Agent {} is not DRAINING; not marking it DRAINED", id.value);
            }
            found && draining
        }
        Operation::DeactivateAgent(id) => {
            let found = with_drain_state(registry, ids, id, |_, deactivated| {
                *deactivated = Some(true);
            });
            if found {
                add_capability(registry, AGENT_DRAINING);
            }
            found
        }
        Operation::ReactivateAgent(id) => {
            let found = with_drain_state(registry, ids, id, |drain_info, deactivated| {
                *drain_info = None;
                *deactivated = None;
            });
            // An older master could not honour deactivations, so the
            // capability stays while any agent is still deactivated.
            let any_deactivated = registry
                .slaves
                .iter()
                .flat_map(|s| &s.slaves)
                .any(|s| s.deactivated == Some(true))
                || registry
                    .unreachable
                    .iter()
                    .flat_map(|u| &u.slaves)
                    .any(|s| s.deactivated == Some(true));
            if found && !any_deactivated {
                registry
                    .minimum_capabilities
                    .retain(|c| c.capability != AGENT_DRAINING);
            }
            found
        }
    }
}

/// The minimum capability a registry holding drain or deactivation state
/// carries, so that a master unaware of them refuses to recover it.
const AGENT_DRAINING: &str = "AGENT_DRAINING";

fn add_capability(registry: &mut Registry, capability: &str) {
    if !registry
        .minimum_capabilities
        .iter()
        .any(|c| c.capability == capability)
    {
        registry.minimum_capabilities.push(MinimumCapability {
            capability: capability.to_string(),
        });
    }
}

/// Runs `change` on the drain info and deactivated flag of the admitted or
/// unreachable agent `id`; false if the registry has neither.
fn with_drain_state(
    registry: &mut Registry,
    ids: &AgentIndex,
    id: &SlaveId,
    change: impl FnOnce(&mut Option<DrainInfo>, &mut Option<bool>),
) -> bool {
    if let Some(&at) = ids.admitted.get(&id.value) {
        if let Some(slave) = admitted(registry).get_mut(at) {
            change(&mut slave.drain_info, &mut slave.deactivated);
            return true;
        }
    }
    if let Some(&at) = ids.unreachable.get(&id.value) {
        if let Some(slave) = unreachable(registry).get_mut(at) {
            change(&mut slave.drain_info, &mut slave.deactivated);
            return true;
        }
    }
    false
}

/// The maintenance operations on the registry's `machines` and
/// `schedules` (upstream `master/maintenance.cpp`). The master applies the
/// same function to its own copy once the write committed, so the rule
/// exists once. Other operations leave the registry unchanged.
pub fn apply_maintenance(operation: &Operation, registry: &mut Registry) -> bool {
    let machines = &mut registry
        .machines
        .get_or_insert_with(Machines::default)
        .machines;
    match operation {
        Operation::UpdateSchedule(schedule) => {
            let mut scheduled: Vec<(&MachineId, &mesos_proto::mesos::Unavailability)> = Vec::new();
            for window in &schedule.windows {
                for id in &window.machine_ids {
                    scheduled.push((id, &window.unavailability));
                }
            }
            machines.retain(|m| scheduled.iter().any(|(id, _)| **id == m.info.id));
            for (id, unavailability) in scheduled {
                match machines.iter_mut().find(|m| m.info.id == *id) {
                    Some(machine) => machine.info.unavailability = Some(*unavailability),
                    None => machines.push(Machine {
                        info: MachineInfo {
                            id: id.clone(),
                            mode: Some(Mode::Draining as i32),
                            unavailability: Some(*unavailability),
                        },
                    }),
                }
            }
            registry.schedules = vec![(**schedule).clone()];
            true
        }
        Operation::StartMaintenance(ids) => {
            for machine in machines.iter_mut() {
                if ids.contains(&machine.info.id) {
                    machine.info.mode = Some(Mode::Down as i32);
                }
            }
            true
        }
        Operation::StopMaintenance(ids) => {
            machines.retain(|m| !ids.contains(&m.info.id));
            for schedule in &mut registry.schedules {
                for window in &mut schedule.windows {
                    window.machine_ids.retain(|id| !ids.contains(id));
                }
                schedule.windows.retain(|w| !w.machine_ids.is_empty());
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn info(id: &str) -> SlaveInfo {
        SlaveInfo {
            hostname: "host".into(),
            id: Some(SlaveId { value: id.into() }),
            ..Default::default()
        }
    }

    fn time() -> TimeInfo {
        TimeInfo { nanoseconds: 42 }
    }

    fn run(registry: &mut Registry, operation: Operation) -> bool {
        let mut ids = AgentIndex::of(registry);
        apply(&operation, registry, &mut ids)
    }

    #[test]
    fn quota_configs_replace_and_remove_per_role() {
        use mesos_proto::mesos::value::Scalar;
        let config = |role: &str, cpus: Option<f64>| QuotaConfig {
            role: role.into(),
            guarantees: cpus
                .map(|v| ("cpus".to_string(), Scalar { value: v }))
                .into_iter()
                .collect(),
            limits: Default::default(),
        };
        let mut registry = Registry::default();
        assert!(run(
            &mut registry,
            Operation::UpdateQuota(vec![config("eng", Some(1.0)), config("ops", Some(2.0))])
        ));
        assert!(run(
            &mut registry,
            Operation::UpdateQuota(vec![config("eng", Some(3.0))])
        ));
        assert_eq!(registry.quota_configs.len(), 2);
        let eng = registry.quota_configs.iter().find(|c| c.role == "eng");
        assert_eq!(eng.map(|c| c.guarantees["cpus"].value), Some(3.0));
        assert!(registry
            .minimum_capabilities
            .iter()
            .any(|c| c.capability == "QUOTA_V2"));
        run(
            &mut registry,
            Operation::UpdateQuota(vec![config("eng", None), config("ops", None)]),
        );
        assert!(registry.quota_configs.is_empty());
        assert!(registry.minimum_capabilities.is_empty());
    }

    #[test]
    fn weights_replace_per_role() {
        let weight = |role: &str, weight: f64| WeightInfo {
            weight,
            role: Some(role.into()),
        };
        let mut registry = Registry::default();
        run(
            &mut registry,
            Operation::UpdateWeights(vec![weight("eng", 2.0), weight("ops", 3.0)]),
        );
        run(
            &mut registry,
            Operation::UpdateWeights(vec![weight("eng", 5.0)]),
        );
        let weights: Vec<(String, f64)> = registry
            .weights
            .iter()
            .map(|w| (w.info.role.clone().unwrap_or_default(), w.info.weight))
            .collect();
        assert_eq!(
            weights,
            [("eng".to_string(), 5.0), ("ops".to_string(), 3.0)]
        );
    }

    fn admitted_ids(registry: &Registry) -> Vec<String> {
        registry
            .slaves
            .iter()
            .flat_map(|s| &s.slaves)
            .map(|s| s.info.id.clone().unwrap().value)
            .collect()
    }

    #[test]
    fn admit_is_once_per_id() {
        let mut registry = Registry::default();
        assert!(run(
            &mut registry,
            Operation::AdmitAgent(Box::new(info("S0")))
        ));
        assert!(!run(
            &mut registry,
            Operation::AdmitAgent(Box::new(info("S0")))
        ));
        assert!(run(
            &mut registry,
            Operation::AdmitAgent(Box::new(info("S1")))
        ));
        assert_eq!(admitted_ids(&registry), ["S0", "S1"]);
    }

    #[test]
    fn unreachable_then_reachable_keeps_one_entry() {
        let mut registry = Registry::default();
        run(&mut registry, Operation::AdmitAgent(Box::new(info("S0"))));
        let mark = Operation::MarkAgentUnreachable {
            info: Box::new(info("S0")),
            time: time(),
        };
        assert!(run(&mut registry, mark.clone()));
        assert!(!run(&mut registry, mark));
        assert!(admitted_ids(&registry).is_empty());
        assert_eq!(registry.unreachable.as_ref().unwrap().slaves.len(), 1);
        assert!(run(
            &mut registry,
            Operation::MarkAgentReachable(Box::new(info("S0")))
        ));
        // Already admitted: no change.
        assert!(!run(
            &mut registry,
            Operation::MarkAgentReachable(Box::new(info("S0")))
        ));
        assert_eq!(admitted_ids(&registry), ["S0"]);
        assert!(registry.unreachable.unwrap().slaves.is_empty());
    }

    #[test]
    fn reachable_admits_unknown_agents() {
        let mut registry = Registry::default();
        assert!(run(
            &mut registry,
            Operation::MarkAgentReachable(Box::new(info("S7")))
        ));
        assert_eq!(admitted_ids(&registry), ["S7"]);
    }

    #[test]
    fn gone_from_admitted_or_unreachable_once() {
        let mut registry = Registry::default();
        run(&mut registry, Operation::AdmitAgent(Box::new(info("S0"))));
        run(&mut registry, Operation::AdmitAgent(Box::new(info("S1"))));
        run(
            &mut registry,
            Operation::MarkAgentUnreachable {
                info: Box::new(info("S1")),
                time: time(),
            },
        );
        for id in ["S0", "S1"] {
            let gone = Operation::MarkAgentGone {
                id: SlaveId { value: id.into() },
                time: time(),
            };
            assert!(run(&mut registry, gone.clone()));
            assert!(!run(&mut registry, gone));
        }
        assert!(!run(
            &mut registry,
            Operation::MarkAgentGone {
                id: SlaveId { value: "S9".into() },
                time: time(),
            }
        ));
        assert!(admitted_ids(&registry).is_empty());
        assert!(registry.unreachable.as_ref().unwrap().slaves.is_empty());
        assert_eq!(registry.gone.as_ref().unwrap().slaves.len(), 2);
    }

    #[test]
    fn update_and_remove_only_admitted() {
        let mut registry = Registry::default();
        assert!(!run(
            &mut registry,
            Operation::UpdateAgent(Box::new(info("S0")))
        ));
        run(&mut registry, Operation::AdmitAgent(Box::new(info("S0"))));
        // Same info: no mutation.
        assert!(!run(
            &mut registry,
            Operation::UpdateAgent(Box::new(info("S0")))
        ));
        let mut changed = info("S0");
        changed.hostname = "other".into();
        assert!(run(
            &mut registry,
            Operation::UpdateAgent(Box::new(changed))
        ));
        assert_eq!(
            registry.slaves.as_ref().unwrap().slaves[0].info.hostname,
            "other"
        );
        assert!(run(
            &mut registry,
            Operation::RemoveAgent(Box::new(info("S0")))
        ));
        assert!(!run(
            &mut registry,
            Operation::RemoveAgent(Box::new(info("S0")))
        ));
    }

    /// Removals move the last entry into the hole; the index must follow,
    /// so that later operations still find (and only find) their agent.
    #[test]
    fn index_follows_entries_moved_by_removals() {
        let mut registry = Registry::default();
        let mut ids = AgentIndex::default();
        for i in 0..6 {
            let admit = Operation::AdmitAgent(Box::new(info(&format!("S{i}"))));
            assert!(apply(&admit, &mut registry, &mut ids));
        }
        let unreachable = |id: &str| Operation::MarkAgentUnreachable {
            info: Box::new(info(id)),
            time: time(),
        };
        assert!(apply(&unreachable("S1"), &mut registry, &mut ids));
        assert!(apply(&unreachable("S3"), &mut registry, &mut ids));
        assert!(apply(
            &Operation::RemoveAgent(Box::new(info("S0"))),
            &mut registry,
            &mut ids
        ));
        let mut changed = info("S5");
        changed.hostname = "moved".into();
        assert!(apply(
            &Operation::UpdateAgent(Box::new(changed)),
            &mut registry,
            &mut ids
        ));
        let gone = Operation::MarkAgentGone {
            id: SlaveId { value: "S1".into() },
            time: time(),
        };
        assert!(apply(&gone, &mut registry, &mut ids));
        assert!(apply(
            &Operation::MarkAgentReachable(Box::new(info("S3"))),
            &mut registry,
            &mut ids
        ));

        let mut admitted = admitted_ids(&registry);
        admitted.sort();
        assert_eq!(admitted, ["S2", "S3", "S4", "S5"]);
        let s5 = registry
            .slaves
            .iter()
            .flat_map(|s| &s.slaves)
            .find(|s| s.info.id.as_ref().is_some_and(|id| id.value == "S5"))
            .unwrap();
        assert_eq!(s5.info.hostname, "moved");
        assert!(registry.unreachable.as_ref().unwrap().slaves.is_empty());
        assert_eq!(registry.gone.as_ref().unwrap().slaves.len(), 1);
        // The incremental index is the one a fresh scan builds.
        let fresh = AgentIndex::of(&registry);
        assert_eq!(ids.admitted, fresh.admitted);
        assert_eq!(ids.unreachable, fresh.unreachable);
        assert_eq!(ids.gone, fresh.gone);
    }

    fn drain_of(registry: &Registry, id: &str) -> (Option<DrainInfo>, Option<bool>) {
        let admitted = registry
            .slaves
            .iter()
            .flat_map(|s| &s.slaves)
            .find(|s| s.info.id.as_ref().is_some_and(|i| i.value == id))
            .map(|s| (s.drain_info, s.deactivated));
        let unreachable = || {
            registry
                .unreachable
                .iter()
                .flat_map(|u| &u.slaves)
                .find(|s| s.id.value == id)
                .map(|s| (s.drain_info, s.deactivated))
        };
        admitted.or_else(unreachable).unwrap_or_default()
    }

    fn has_draining_capability(registry: &Registry) -> bool {
        registry
            .minimum_capabilities
            .iter()
            .any(|c| c.capability == AGENT_DRAINING)
    }

    // Upstream `RegistrarTest.DrainAgent`: DRAINING then DRAINED, the
    // capability added, and reactivation clearing it all.
    #[test]
    fn drain_then_drained_then_reactivated() {
        let mut registry = Registry::default();
        run(&mut registry, Operation::AdmitAgent(Box::new(info("S0"))));
        let id = SlaveId { value: "S0".into() };
        let config = DrainConfig {
            max_grace_period: Some(mesos_proto::mesos::DurationInfo { nanoseconds: 7 }),
            mark_gone: Some(false),
        };
        // Not DRAINING yet: nothing to mark.
        assert!(!run(&mut registry, Operation::MarkAgentDrained(id.clone())));
        assert!(run(
            &mut registry,
            Operation::DrainAgent {
                id: id.clone(),
                config
            }
        ));
        assert_eq!(
            drain_of(&registry, "S0"),
            (
                Some(DrainInfo {
                    state: DrainState::Draining as i32,
                    config
                }),
                Some(true)
            )
        );
        assert!(has_draining_capability(&registry));
        assert!(run(&mut registry, Operation::MarkAgentDrained(id.clone())));
        assert_eq!(
            drain_of(&registry, "S0").0.map(|d| d.state),
            Some(DrainState::Drained as i32)
        );
        assert!(run(&mut registry, Operation::ReactivateAgent(id)));
        assert_eq!(drain_of(&registry, "S0"), (None, None));
        assert!(!has_draining_capability(&registry));
    }

    // The capability stays while another agent is still deactivated, and
    // an unreachable agent keeps its deactivation.
    #[test]
    fn deactivation_of_unreachable_agents_and_the_capability() {
        let mut registry = Registry::default();
        for id in ["S0", "S1"] {
            run(&mut registry, Operation::AdmitAgent(Box::new(info(id))));
        }
        let s0 = SlaveId { value: "S0".into() };
        let s1 = SlaveId { value: "S1".into() };
        assert!(!run(
            &mut registry,
            Operation::DeactivateAgent(SlaveId { value: "S9".into() })
        ));
        assert!(run(&mut registry, Operation::DeactivateAgent(s0.clone())));
        run(
            &mut registry,
            Operation::MarkAgentUnreachable {
                info: Box::new(info("S1")),
                time: time(),
            },
        );
        assert!(run(&mut registry, Operation::DeactivateAgent(s1.clone())));
        assert_eq!(drain_of(&registry, "S1"), (None, Some(true)));
        run(
            &mut registry,
            Operation::MarkAgentReachable(Box::new(info("S1"))),
        );
        assert_eq!(drain_of(&registry, "S1"), (None, Some(true)));
        assert!(run(&mut registry, Operation::ReactivateAgent(s0)));
        assert!(has_draining_capability(&registry));
        assert!(run(&mut registry, Operation::ReactivateAgent(s1)));
        assert!(!has_draining_capability(&registry));
    }

    #[test]
    fn prune_forgets_listed_entries() {
        let mut registry = Registry::default();
        for id in ["S0", "S1"] {
            run(&mut registry, Operation::AdmitAgent(Box::new(info(id))));
            run(
                &mut registry,
                Operation::MarkAgentUnreachable {
                    info: Box::new(info(id)),
                    time: time(),
                },
            );
        }
        let prune = Operation::Prune {
            unreachable: vec![SlaveId { value: "S0".into() }],
            gone: vec![],
        };
        assert!(run(&mut registry, prune.clone()));
        assert!(!run(&mut registry, prune));
        assert_eq!(registry.unreachable.unwrap().slaves.len(), 1);
    }
}
