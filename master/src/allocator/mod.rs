//! Resource allocation: which framework gets which agent's free resources,
//! and for which role.
//!
//! Owns the bookkeeping of totals, allocations, offer filters and
//! suppression. It is pure computation: no I/O, no clocks (time is passed in
//! as `now`), no tokio. The master actor tells it about every change and
//! turns what [`Allocator::allocate`] returns into offers.

mod hierarchical;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

pub use hierarchical::HierarchicalDrf;

use mesos_proto::resources::Resources;

/// What a framework can receive; derived from `FrameworkInfo.capabilities`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameworkCapabilities {
    /// `GPU_RESOURCES`: may be offered agents that have GPUs.
    pub gpu_resources: bool,
    /// `REVOCABLE_RESOURCES`: may be offered revocable resources.
    pub revocable_resources: bool,
}

/// A framework as the allocator sees it.
#[derive(Clone, Debug, Default)]
pub struct FrameworkSpec {
    pub roles: BTreeSet<String>,
    pub capabilities: FrameworkCapabilities,
    /// Roles for which no offers should be made.
    pub suppressed_roles: BTreeSet<String>,
}

/// One decision of [`Allocator::allocate`]: offer `resources` (already
/// carrying `allocation_info.role = role`) of `agent_id` to `framework_id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    pub framework_id: String,
    pub agent_id: String,
    pub role: String,
    pub resources: Resources,
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
        }
    }
}

/// The allocator interface (upstream `mesos::allocator::Allocator`, minus
/// quota, maintenance and resource providers).
///
/// Resources passed in for agents are unallocated; resources passed for
/// allocations carry `allocation_info` (the role they were allocated to).
pub trait Allocator: Send {
    /// A framework subscribed. `used` are its resources already running on
    /// agents (after a master failover), keyed by agent id.
    fn add_framework(
        &mut self,
        framework_id: &str,
        spec: FrameworkSpec,
        used: BTreeMap<String, Resources>,
        active: bool,
    );

    /// Roles, capabilities or suppressed roles changed (re-subscribe,
    /// UPDATE_FRAMEWORK). Roles that are no longer suppressed get their
    /// offer filters cleared.
    fn update_framework(&mut self, framework_id: &str, spec: FrameworkSpec);

    /// The framework is gone; its allocations are forgotten (the master
    /// removes its tasks, which recovers their resources first).
    fn remove_framework(&mut self, framework_id: &str);

    /// Start / stop making offers to the framework.
    fn activate_framework(&mut self, framework_id: &str);
    fn deactivate_framework(&mut self, framework_id: &str);

    /// An agent (re)registered with `total` resources, `used` already in use
    /// by frameworks (keyed by framework id, allocation info set).
    fn add_agent(&mut self, agent_id: &str, total: Resources, used: BTreeMap<String, Resources>);

    /// The agent's total resources changed.
    fn update_agent(&mut self, agent_id: &str, total: Resources);

    fn remove_agent(&mut self, agent_id: &str);

    /// Start / stop offering the agent's resources.
    fn activate_agent(&mut self, agent_id: &str);
    fn deactivate_agent(&mut self, agent_id: &str);

    /// Resources no longer used (declined or rescinded offer, finished
    /// task, removed executor). With `refuse`, the framework will not be
    /// offered these resources on this agent again for that long.
    fn recover_resources(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Instant,
    );

    /// Stop offering to the framework for `roles` (all its roles if empty).
    fn suppress(&mut self, framework_id: &str, roles: &BTreeSet<String>);

    /// Unsuppress `roles` (all its roles if empty) and clear their filters.
    fn revive(&mut self, framework_id: &str, roles: &BTreeSet<String>);

    /// Replace the role weights.
    fn update_weights(&mut self, weights: BTreeMap<String, f64>);

    /// One allocation cycle: hand out every agent's free resources.
    fn allocate(&mut self, now: Instant) -> Vec<Allocation>;
}
