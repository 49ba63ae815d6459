//! Resource allocation: which framework gets which agent's free resources,
//! and for which role.
//!
//! Owns the bookkeeping of totals, allocations, reservations, quota,
//! weights, offer filters and suppression, and the record of why resources
//! were not offered ([`Explain`]). It is pure computation: no I/O, no clocks
//! (time is passed in as `now`), no tokio. The master actor tells it about
//! every change and turns what [`Allocator::allocate`] returns into offers.
//!
//! Cost model: the allocator keeps running totals per role and framework
//! ([`sorter`]) and a set of agents whose free resources changed; a cycle
//! visits only those agents (all agents with free resources after a change
//! that concerns every agent, such as a new framework or a revive), so a
//! cycle after one decline costs one agent, not the cluster.

mod hierarchical;
mod quantities;
mod sorter;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

pub use hierarchical::HierarchicalDrf;

use mesos_proto::resources::Resources;

// The allocator keys its state by the same typed ids as the rest of the
// master, so no conversion sits between the actor and the allocator.
pub use mesos_proto::ids::{AgentId, FrameworkId, Role};

/// Resource quantities by name (upstream `ResourceQuantities`): what quota
/// guarantees and limits are written in.
pub type ResourceQuantities = BTreeMap<String, f64>;

/// A role's quota (upstream `Quota`, v1 `QuotaConfig`): at least
/// `guarantees` is set aside for the role, at most `limits` is allocated
/// to it (names absent from `limits` are unlimited).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quota {
    pub guarantees: ResourceQuantities,
    pub limits: ResourceQuantities,
}

impl Quota {
    /// The deprecated SET_QUOTA / `/quota` form: guarantee and limit equal.
    pub fn guarantee_and_limit(quantities: ResourceQuantities) -> Self {
        Quota {
            guarantees: quantities.clone(),
            limits: quantities,
        }
    }
}

/// What a framework can receive; derived from `FrameworkInfo.capabilities`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameworkCapabilities {
    /// `GPU_RESOURCES`: may be offered agents that have GPUs.
    pub gpu_resources: bool,
    /// `REVOCABLE_RESOURCES`: may be offered revocable resources.
    pub revocable_resources: bool,
    /// `RESERVATION_REFINEMENT`: may be offered refined reservations.
    pub reservation_refinement: bool,
}

/// A framework as the allocator sees it.
#[derive(Clone, Debug, Default)]
pub struct FrameworkSpec {
    pub roles: BTreeSet<Role>,
    pub capabilities: FrameworkCapabilities,
    /// Roles for which no offers should be made.
    pub suppressed_roles: BTreeSet<Role>,
}

/// One decision of [`Allocator::allocate`]: offer `resources` (already
/// carrying `allocation_info.role = role`) of `agent_id` to `framework_id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub role: Role,
    pub resources: Resources,
}

/// A change of some of an agent's resources into others (upstream
/// `ResourceConversion`), as applying RESERVE, UNRESERVE, CREATE, DESTROY,
/// GROW_VOLUME or SHRINK_VOLUME produces: `consumed` disappear and
/// `converted` appear. Both are unallocated for operator operations on free
/// resources and allocated (same role) for operations in an ACCEPT.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceConversion {
    pub consumed: Resources,
    pub converted: Resources,
}

/// Why an eligible-looking framework was not offered an agent's resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The framework declined these resources on this agent with a filter.
    Filtered,
    /// Offering would exceed a quota limit of the role or an ancestor.
    QuotaLimitReached,
    /// The resources are held back for other roles' quota guarantees.
    HeldForQuotaGuarantees,
    /// What the role may use on the agent is below
    /// `--min_allocatable_resources`.
    BelowMinAllocatable,
    /// The agent has GPUs and the framework lacks `GPU_RESOURCES`.
    MissingGpuCapability,
    /// The agent only had revocable resources and the framework lacks
    /// `REVOCABLE_RESOURCES`.
    MissingRevocableCapability,
    /// Another framework or role with a lower (weighted) dominant share
    /// took the agent's resources first.
    DrfShareAboveOthers,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Filtered,
        Reason::QuotaLimitReached,
        Reason::HeldForQuotaGuarantees,
        Reason::BelowMinAllocatable,
        Reason::MissingGpuCapability,
        Reason::MissingRevocableCapability,
        Reason::DrfShareAboveOthers,
    ];

    /// The name used in the explain endpoint's JSON.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Filtered => "filtered",
            Reason::QuotaLimitReached => "quota_limit_reached",
            Reason::HeldForQuotaGuarantees => "held_for_quota_guarantees",
            Reason::BelowMinAllocatable => "below_min_allocatable_resources",
            Reason::MissingGpuCapability => "missing_gpu_resources_capability",
            Reason::MissingRevocableCapability => "missing_revocable_resources_capability",
            Reason::DrfShareAboveOthers => "drf_share_above_others",
        }
    }
}

/// Why one framework got (or did not get) offers for one role.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleExplain {
    /// Offers made for this role in the last cycle that considered it.
    pub offers_last_cycle: u64,
    /// Offers made for this role since the framework was added.
    pub offers_total: u64,
    /// The role is suppressed by the framework (SUPPRESS).
    pub suppressed: bool,
    /// Agents this framework has declined for the role, with the latest
    /// expiry of their filters.
    pub filtered_agents: u64,
    pub filtered_until: Option<Instant>,
    /// The role (or an ancestor) has reached its quota limit for some
    /// resource.
    pub quota_limit_reached: bool,
    /// The framework's dominant share within the role and the role's
    /// weighted share among its siblings.
    pub framework_share: f64,
    pub role_share: f64,
    /// Times each reason kept an agent's resources from this framework in
    /// the last cycle that considered it, and since it was added.
    pub last_cycle: BTreeMap<Reason, u64>,
    pub totals: BTreeMap<Reason, u64>,
}

/// Why one framework got (or did not get) offers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameworkExplain {
    pub active: bool,
    pub roles: BTreeMap<Role, RoleExplain>,
}

/// The allocator's account of its last cycles (see [`Allocator::explain`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Explain {
    /// Allocation cycles run so far.
    pub cycles: u64,
    /// Agents visited and offers made by the last cycle.
    pub last_cycle_agents: u64,
    pub last_cycle_offers: u64,
    /// Agents whose resources are not offered at all.
    pub deactivated_agents: u64,
    pub draining_agents: u64,
    pub frameworks: BTreeMap<FrameworkId, FrameworkExplain>,
}

/// Configuration fixed at startup (from flags).
#[derive(Clone, Debug)]
pub struct AllocatorOptions {
    /// `--allocation_interval`: offer filters last at least this long.
    pub allocation_interval: Duration,
    /// `--min_allocatable_resources`: alternatives of minimum quantities.
    pub min_allocatable: Vec<BTreeMap<String, f64>>,
    /// `--filter_gpu_resources`.
    pub filter_gpu_resources: bool,
    /// `--weights`.
    pub weights: BTreeMap<String, f64>,
    /// At most this many agents are visited by one call of `allocate`; the
    /// rest stay pending (see [`Allocator::has_pending`]) so the master can
    /// serve its mailbox between chunks of a large cycle.
    pub max_agents_per_cycle: usize,
}

impl Default for AllocatorOptions {
    fn default() -> Self {
        AllocatorOptions {
            allocation_interval: Duration::from_secs(1),
            min_allocatable: vec![
                BTreeMap::from([("cpus".to_string(), 0.01)]),
                BTreeMap::from([("mem".to_string(), 32.0)]),
            ],
            filter_gpu_resources: true,
            weights: BTreeMap::new(),
            max_agents_per_cycle: usize::MAX,
        }
    }
}

/// The allocator interface (upstream `mesos::allocator::Allocator`).
///
/// Resources passed in for agents are unallocated; resources passed for
/// allocations carry `allocation_info` (the role they were allocated to).
pub trait Allocator: Send {
    /// A framework subscribed. `used` are its resources already running on
    /// agents (after a master failover), keyed by agent id.
    fn add_framework(
        &mut self,
        framework_id: &FrameworkId,
        spec: FrameworkSpec,
        used: BTreeMap<AgentId, Resources>,
        active: bool,
    );

    /// Roles, capabilities or suppressed roles changed (re-subscribe,
    /// UPDATE_FRAMEWORK). Roles that are no longer suppressed get their
    /// offer filters cleared.
    fn update_framework(&mut self, framework_id: &FrameworkId, spec: FrameworkSpec);

    /// The framework is gone; its allocations go back to the pool.
    fn remove_framework(&mut self, framework_id: &FrameworkId);

    /// Start / stop making offers to the framework.
    fn activate_framework(&mut self, framework_id: &FrameworkId);
    fn deactivate_framework(&mut self, framework_id: &FrameworkId);

    /// An agent (re)registered with `total` resources, `used` already in use
    /// by frameworks (keyed by framework id, allocation info set).
    fn add_agent(
        &mut self,
        agent_id: &AgentId,
        total: Resources,
        used: BTreeMap<FrameworkId, Resources>,
    );

    /// The agent's total resources changed.
    fn update_agent(&mut self, agent_id: &AgentId, total: Resources);

    fn remove_agent(&mut self, agent_id: &AgentId);

    /// Start / stop offering the agent's resources.
    fn activate_agent(&mut self, agent_id: &AgentId);
    fn deactivate_agent(&mut self, agent_id: &AgentId);

    /// The agent is draining (maintenance): no new offers, like a
    /// deactivated agent, but reported apart.
    fn drain_agent(&mut self, agent_id: &AgentId);

    /// Resources no longer used (declined or rescinded offer, finished
    /// task, removed executor). With `refuse`, the framework will not be
    /// offered these resources on this agent again for that long.
    fn recover_resources(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Instant,
    );

    /// Operations in an ACCEPT changed resources the framework holds on the
    /// agent (`consumed` and `converted` carry allocation info).
    fn update_allocation(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        conversions: &[ResourceConversion],
    );

    /// Operator operations (RESERVE_RESOURCES, CREATE_VOLUMES, ...) changed
    /// free resources of the agent. Fails, changing nothing, when the
    /// consumed resources are not free.
    fn update_available(
        &mut self,
        agent_id: &AgentId,
        conversions: &[ResourceConversion],
    ) -> Result<(), String>;

    /// Stop offering to the framework for `roles` (all its roles if empty).
    fn suppress(&mut self, framework_id: &FrameworkId, roles: &BTreeSet<Role>);

    /// Unsuppress `roles` (all its roles if empty) and clear their filters.
    fn revive(&mut self, framework_id: &FrameworkId, roles: &BTreeSet<Role>);

    /// Replace the weights of the given roles (UPDATE_WEIGHTS); roles not
    /// named keep theirs.
    fn update_weights(&mut self, weights: BTreeMap<Role, f64>);

    /// Set the role's quota (UPDATE_QUOTA, SET_QUOTA); a quota with no
    /// guarantees and no limits removes it (REMOVE_QUOTA).
    fn update_quota(&mut self, role: &Role, quota: Quota);

    /// One allocation cycle over the agents whose resources changed (all
    /// agents with free resources after a cluster-wide change).
    fn allocate(&mut self, now: Instant) -> Vec<Allocation>;

    /// Something changed since the last cycle (or the last cycle stopped at
    /// `max_agents_per_cycle`): an allocation now could make offers.
    fn has_pending(&self) -> bool;

    /// Why frameworks did or did not get offers, per framework and role.
    fn explain(&self, now: Instant) -> Explain;

    /// Upstream's gauges of the allocator's own state, by their names:
    /// `allocator/mesos/roles/<role>/shares/dominant`,
    /// `allocator/mesos/quota/roles/<role>/resources/<name>/{guarantee,limit,offered_or_allocated,consumed}`
    /// and `allocator/mesos/offer_filters/roles/<role>/active`.
    fn metrics(&self, now: Instant, out: &mut BTreeMap<String, f64>);
}
