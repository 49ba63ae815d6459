//! An immutable copy of the master's state for readers (state endpoints,
//! metrics). The actor builds a new one after changes and swaps it in
//! (`tokio::sync::watch`); readers never wait for the actor.
//!
//! Plain data only: no references into the actor, no behaviour.

use std::collections::BTreeMap;
use std::sync::Arc;

use mesos_proto::mesos::v1::scheduler::OfferConstraints;
use mesos_proto::mesos::v1::{
    AgentInfo, ExecutorInfo, FrameworkInfo, MasterInfo, Offer, Resource, Task,
};

/// Everything the read-only endpoints show.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Increases with every published snapshot: bodies rendered from one
    /// generation are valid for every reader of that generation.
    pub generation: u64,
    pub master_info: MasterInfo,
    /// `master@ip:port`.
    pub pid: String,
    /// Seconds since the epoch.
    pub start_time: f64,
    pub elected_time: Option<f64>,
    pub frameworks: Vec<FrameworkView>,
    pub completed_frameworks: Vec<FrameworkView>,
    pub agents: Vec<AgentView>,
    /// Agents known from the registry that have not re-registered yet.
    /// Converted once when recovered, shared by every snapshot.
    pub recovered_agents: Vec<Arc<AgentInfo>>,
    pub unreachable_agents: usize,
    /// `/metrics/snapshot` values (flat names).
    pub metrics: BTreeMap<String, f64>,
    /// The maintenance schedule and machine modes.
    pub maintenance: crate::master::maintenance::MaintenanceState,
    /// `/maintenance/status`: the machines with the frameworks' answers to
    /// inverse offers.
    pub maintenance_status: mesos_proto::mesos::maintenance::ClusterStatus,
    /// Every role's quota, as the registry holds it.
    pub quotas: Vec<mesos_proto::mesos::quota::QuotaConfig>,
    /// Role → weight, for roles whose weight was set.
    pub weights: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Default)]
pub struct FrameworkView {
    pub info: FrameworkInfo,
    /// The scheduler's UPID for v0 frameworks.
    pub pid: Option<String>,
    pub active: bool,
    pub connected: bool,
    pub recovered: bool,
    pub multi_role: bool,
    pub registered_time: f64,
    pub reregistered_time: f64,
    pub unregistered_time: f64,
    pub used_resources: Vec<Resource>,
    pub offered_resources: Vec<Resource>,
    /// Shared with the actor's records: a snapshot copies no task.
    pub tasks: Vec<Arc<Task>>,
    pub unreachable_tasks: Vec<Arc<Task>>,
    pub completed_tasks: Vec<Arc<Task>>,
    pub offers: Vec<Offer>,
    /// Outstanding inverse offers (GET_FRAMEWORKS shows them; `/state`
    /// does not, as upstream).
    pub inverse_offers: Vec<mesos_proto::mesos::v1::InverseOffer>,
    /// (agent id, executor).
    pub executors: Vec<(String, ExecutorInfo)>,
    pub offer_constraints: Option<OfferConstraints>,
}

#[derive(Clone, Debug, Default)]
pub struct AgentView {
    /// With `id` set.
    pub info: AgentInfo,
    pub pid: String,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub total: Vec<Resource>,
    pub used: Vec<Resource>,
    pub offered: Vec<Resource>,
    pub active: bool,
    pub deactivated: bool,
    pub drain_info: Option<mesos_proto::mesos::v1::DrainInfo>,
    /// Seconds since the epoch.
    pub estimated_drain_start_time: Option<f64>,
    pub version: String,
    /// Capability names (`MULTI_ROLE`, ...).
    pub capabilities: Vec<String>,
}
