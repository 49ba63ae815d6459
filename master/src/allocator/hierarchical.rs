//! The built-in allocator: upstream's `HierarchicalDRFAllocator` semantics
//! on incremental data structures.
//!
//! A cycle has upstream's two stages. Stage 1 serves roles whose quota
//! guarantee is not yet met, lowest share first, giving each at most its
//! unmet guarantee of unreserved resources (plus its reservations). Stage 2
//! walks the role tree in DRF order (weighted dominant share of each
//! subtree, then of each framework within a role) and offers what is left,
//! within quota limits, without cutting into the headroom that other roles'
//! unmet guarantees still need.
//!
//! Only agents whose free resources changed since the last cycle are
//! visited (every agent with free resources after a change that concerns
//! all of them: a framework added, activated or revived, quota or weights
//! changed). Offer filters are checked per (framework, role, agent) by hash
//! lookup; expiring filters re-queue their agent from a heap.
//!
//! Never does I/O or reads a clock; never keeps `Resource` messages where
//! a quantity vector will do.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::time::{Duration, Instant};

use mesos_proto::mesos::v1::value::Type as ValueType;
use mesos_proto::mesos::v1::Resource;
use mesos_proto::resources::{
    has_refined_reservations, is_allocatable_to, is_revocable, is_unreserved, reservation_role,
    Resources,
};

use super::quantities::{Caps, Names, PlainSet, Qty, SlotMap, SlotSet};
use super::sorter::RoleTree;
use super::{
    AgentId, Allocation, Allocator, AllocatorOptions, Explain, FrameworkExplain, FrameworkId,
    FrameworkSpec, Quota, Reason, ResourceConversion, Role, RoleExplain,
};

/// A refused-offer filter (upstream `RefusedOfferFilter`): offers of a
/// subset of `refused` on the agent are not made until `expires`.
#[derive(Clone, Debug)]
struct OfferFilter {
    expires: Instant,
    refused: Resources,
    /// `refused` in compact form, when it is plain.
    plain: Option<PlainSet>,
}

impl OfferFilter {
    /// Whether the filter refuses an offer of `offer` at `now`; `plain` is
    /// `offer` in compact form, when the caller has it.
    fn refuses(&self, offer: &Resources, plain: Option<&PlainSet>, now: Instant) -> bool {
        if self.expires <= now {
            return false;
        }
        match (&self.plain, plain) {
            (Some(refused), Some(offer)) => refused.contains(offer),
            _ => self.refused.contains(offer),
        }
    }
}

/// Adds `resources` to what `framework` holds on an agent. A first
/// allocation is stored as a copy, which keeps its merge index; adding it
/// to an empty set would rebuild that index entry by entry.
fn hold(allocated: &mut SlotMap<u32, Resources>, framework: u32, resources: &Resources) {
    match allocated.get_mut(&framework) {
        Some(held) => *held += resources,
        None => {
            allocated.insert(framework, resources.clone());
        }
    }
}

/// Per (framework, role) counts of [`Reason`]s, stamped with the cycle
/// they belong to so nothing has to be reset between cycles.
#[derive(Clone, Debug, Default)]
struct Counters {
    cycle: u64,
    last: [u64; Reason::ALL.len()],
    totals: [u64; Reason::ALL.len()],
    offers_last: u64,
    offers_total: u64,
}

impl Counters {
    fn touch(&mut self, cycle: u64) {
        if self.cycle != cycle {
            self.cycle = cycle;
            self.last = [0; Reason::ALL.len()];
            self.offers_last = 0;
        }
    }
}

fn reason_index(reason: Reason) -> usize {
    Reason::ALL
        .iter()
        .position(|r| *r == reason)
        .unwrap_or_default()
}

#[derive(Debug)]
struct Framework {
    id: FrameworkId,
    spec: FrameworkSpec,
    active: bool,
    /// Role indices of `spec.roles` and of `spec.suppressed_roles`.
    roles: Vec<u32>,
    suppressed: SlotSet<u32>,
    /// (role, agent) → filters.
    filters: SlotMap<(u32, u32), Vec<OfferFilter>>,
    /// Agents holding resources allocated to this framework.
    allocated_on: SlotSet<u32>,
    /// Roles of allocations, including roles the framework has left.
    allocated_roles: SlotSet<u32>,
    explain: SlotMap<u32, Counters>,
}

#[derive(Debug)]
struct Agent {
    id: AgentId,
    /// Unallocated view of everything the agent has.
    total: Resources,
    /// Free resources: total minus allocations, unallocated.
    available: Resources,
    /// framework → resources allocated (offered or used), with
    /// `allocation_info`.
    allocated: SlotMap<u32, Resources>,
    active: bool,
    draining: bool,
    has_gpus: bool,
    /// Only unreserved, non-revocable resources: the fast path.
    plain: bool,
    total_qty: Qty,
    /// Scalars reserved per role (most refined reservation).
    reserved: Vec<(u32, Qty)>,
    /// Unreserved non-revocable scalars of `available`.
    available_unreserved: Qty,
    /// `available` in compact form, when it is plain.
    available_plain: Option<PlainSet>,
    queued: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub struct HierarchicalDrf {
    options: AllocatorOptions,
    names: Names,
    tree: RoleTree,
    weights: HashMap<Role, f64>,
    quotas: SlotMap<u32, (Qty, Vec<(usize, f64)>)>,
    frameworks: Vec<Option<Framework>>,
    framework_index: HashMap<FrameworkId, u32>,
    agents: Vec<Option<Agent>>,
    agent_index: HashMap<AgentId, u32>,
    free_agent_slots: Vec<u32>,
    free_framework_slots: Vec<u32>,
    /// Scalars of every agent's total: the denominator of shares.
    cluster_total: Qty,
    /// Unreserved non-revocable free scalars of active agents.
    free_unreserved: Qty,
    /// Agents to visit in the next cycle.
    queue: Vec<u32>,
    /// Every agent with free resources must be visited next cycle.
    all_queued: bool,
    /// Shares must be recomputed (the total or weights changed).
    stale_shares: bool,
    filter_expiry: BinaryHeap<Reverse<(Instant, u32)>>,
    cycles: u64,
    last_cycle_agents: u64,
    last_cycle_offers: u64,
    /// Scalar-only `--min_allocatable_resources` alternatives, or `None`
    /// when some alternative names a non-scalar resource.
    min_allocatable: Option<Vec<Vec<(usize, f64)>>>,
}

/// What one cycle keeps while it visits agents.
#[derive(Debug, Default)]
struct CycleState {
    /// Unmet guarantees of top-most guaranteed roles (headroom).
    required: Qty,
    /// Stage 1: guaranteed roles, lowest share first, until met.
    quota_order: Vec<u32>,
    /// Roles at their limit for every resource (see
    /// [`HierarchicalDrf::role_at_limit`]).
    at_limit: LimitMemo,
    /// Per role: times a visit skipped it for being at its limit. Each
    /// counts once for every framework of the role when the cycle ends,
    /// so a cycle costs one increment per skip, not one per framework.
    limit_skips: Vec<u64>,
    limit_skipped: Vec<u32>,
}

impl CycleState {
    fn skip_at_limit(&mut self, role: u32) {
        let i = role as usize;
        if self.limit_skips.len() <= i {
            self.limit_skips.resize(i + 1, 0);
        }
        if self.limit_skips[i] == 0 {
            self.limit_skipped.push(role);
        }
        self.limit_skips[i] += 1;
    }
}

/// A memo by role index, forgotten all at once by moving to a new stamp.
#[derive(Debug)]
struct LimitMemo {
    stamp: u64,
    entries: Vec<(u64, bool)>,
}

impl Default for LimitMemo {
    fn default() -> Self {
        LimitMemo {
            stamp: 1,
            entries: Vec::new(),
        }
    }
}

impl LimitMemo {
    fn get(&self, role: u32) -> Option<bool> {
        self.entries
            .get(role as usize)
            .filter(|(stamp, _)| *stamp == self.stamp)
            .map(|(_, known)| *known)
    }

    fn set(&mut self, role: u32, value: bool) {
        let i = role as usize;
        if self.entries.len() <= i {
            self.entries.resize(i + 1, (0, false));
        }
        self.entries[i] = (self.stamp, value);
    }

    fn forget(&mut self, role: u32) {
        if let Some(entry) = self.entries.get_mut(role as usize) {
            entry.0 = 0;
        }
    }

    fn clear(&mut self) {
        self.stamp += 1;
    }
}

/// Which stage of a cycle an offer is computed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Guarantees,
    Rest,
}

impl HierarchicalDrf {
    pub fn new(options: AllocatorOptions) -> Self {
        let mut names = Names::default();
        let min_allocatable = options
            .min_allocatable
            .iter()
            .map(|alternative| {
                alternative
                    .iter()
                    .map(|(name, amount)| {
                        let scalar = !matches!(name.as_str(), "ports" | "ephemeral_ports");
                        scalar.then(|| (names.intern(name), *amount))
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .collect::<Option<Vec<_>>>();
        let weights = options
            .weights
            .iter()
            .map(|(role, weight)| (Role::new(role), *weight))
            .collect();
        HierarchicalDrf {
            options,
            names,
            tree: RoleTree::default(),
            weights,
            quotas: SlotMap::default(),
            frameworks: Vec::new(),
            framework_index: HashMap::new(),
            agents: Vec::new(),
            agent_index: HashMap::new(),
            free_agent_slots: Vec::new(),
            free_framework_slots: Vec::new(),
            cluster_total: Qty::default(),
            free_unreserved: Qty::default(),
            queue: Vec::new(),
            all_queued: false,
            stale_shares: false,
            filter_expiry: BinaryHeap::new(),
            cycles: 0,
            last_cycle_agents: 0,
            last_cycle_offers: 0,
            min_allocatable,
        }
    }

    fn role_index(&mut self, role: &Role) -> u32 {
        let weights = &self.weights;
        self.tree
            .ensure(role, &|r| weights.get(r).copied().unwrap_or(1.0))
    }

    fn framework(&self, index: u32) -> Option<&Framework> {
        self.frameworks.get(index as usize).and_then(Option::as_ref)
    }

    fn framework_mut(&mut self, index: u32) -> Option<&mut Framework> {
        self.frameworks
            .get_mut(index as usize)
            .and_then(Option::as_mut)
    }

    fn agent(&self, index: u32) -> Option<&Agent> {
        self.agents.get(index as usize).and_then(Option::as_ref)
    }

    fn agent_mut(&mut self, index: u32) -> Option<&mut Agent> {
        self.agents.get_mut(index as usize).and_then(Option::as_mut)
    }

    fn enqueue(&mut self, agent: u32) {
        if let Some(a) = self.agent_mut(agent) {
            if !a.queued {
                a.queued = true;
                self.queue.push(agent);
            }
        }
    }

    /// Whether the framework should be in the sorter of `role`.
    fn wants_offers(framework: &Framework, role: u32) -> bool {
        framework.active && framework.roles.contains(&role) && !framework.suppressed.contains(&role)
    }

    /// Brings the sorters in line with the framework's state.
    fn sync_framework(&mut self, index: u32) {
        let Some(framework) = self.framework(index) else {
            return;
        };
        let roles: Vec<(u32, bool)> = framework
            .roles
            .iter()
            .chain(framework.allocated_roles.iter())
            .map(|role| (*role, Self::wants_offers(framework, *role)))
            .collect();
        for (role, active) in roles {
            self.tree.add_client(role, index);
            self.tree
                .set_active(role, index, active, &self.cluster_total);
        }
    }

    /// Records an allocation (`add`) or its recovery in the sorters,
    /// agent and framework.
    fn account(&mut self, framework: u32, agent: u32, resources: &Resources, add: bool) {
        for (role, allocated) in resources.allocations() {
            let role_index = self.role_index(&Role::new(&role));
            self.names.register(&allocated);
            let (all, unreserved) = self.names.all_and_unreserved(&allocated);
            self.account_role(framework, role_index, &all, &unreserved, add);
        }
        self.account_agent(framework, agent, resources, add);
    }

    /// The sorters' part of [`Self::account`] for an allocation of one
    /// role, given as quantities.
    fn account_role(&mut self, framework: u32, role: u32, all: &Qty, unreserved: &Qty, add: bool) {
        self.tree.add_client(role, framework);
        self.tree
            .allocate(role, framework, all, unreserved, &self.cluster_total, add);
        if add {
            if let Some(f) = self.framework_mut(framework) {
                f.allocated_roles.insert(role);
            }
        }
    }

    /// The agent's and framework's part of [`Self::account`].
    fn account_agent(&mut self, framework: u32, agent: u32, resources: &Resources, add: bool) {
        let Some(a) = self.agent_mut(agent) else {
            return;
        };
        if add {
            hold(&mut a.allocated, framework, resources);
        } else if let Some(allocation) = a.allocated.get_mut(&framework) {
            *allocation -= resources;
            if allocation.is_empty() {
                a.allocated.remove(&framework);
            }
        }
        let still_allocated = a.allocated.contains_key(&framework);
        if let Some(f) = self.framework_mut(framework) {
            if still_allocated {
                f.allocated_on.insert(agent);
            } else {
                f.allocated_on.remove(&agent);
            }
        }
    }

    /// Changes the agent's free resources by `delta` (unallocated).
    fn change_available(&mut self, agent: u32, delta: &Resources, add: bool) {
        self.names.register(delta);
        let unreserved = self.names.unreserved(delta);
        self.change_available_by(agent, delta, &unreserved, add);
    }

    /// [`Self::change_available`] with `delta`'s names registered and its
    /// unreserved quantities known.
    fn change_available_by(&mut self, agent: u32, delta: &Resources, unreserved: &Qty, add: bool) {
        let Some(a) = self.agents.get_mut(agent as usize).and_then(Option::as_mut) else {
            return;
        };
        if add {
            a.available += delta;
            a.available_unreserved.add(unreserved);
        } else {
            a.available -= delta;
            a.available_unreserved.sub(unreserved);
        }
        a.available_plain = PlainSet::of(&a.available, &self.names);
        let active = a.active;
        if active {
            if add {
                self.free_unreserved.add(unreserved);
            } else {
                self.free_unreserved.sub(unreserved);
            }
        }
        if add {
            self.enqueue(agent);
        }
    }

    /// Adds (or removes) the agent's total to the cluster and reservations.
    fn account_total(&mut self, agent: u32, add: bool) {
        let Some(a) = self.agent(agent) else {
            return;
        };
        let total_qty = a.total_qty.clone();
        let reserved = a.reserved.clone();
        if add {
            self.cluster_total.add(&total_qty);
        } else {
            self.cluster_total.sub(&total_qty);
        }
        for (role, qty) in reserved {
            for node in self.tree.path(role).collect::<Vec<_>>() {
                let node = self.tree.node_mut(node);
                if add {
                    node.reserved.add(&qty);
                } else {
                    node.reserved.sub(&qty);
                }
            }
        }
        self.stale_shares = true;
    }

    fn set_total(&mut self, agent: u32, total: Resources) {
        self.names.register(&total);
        let total_qty = self.names.all(&total);
        let mut reserved = Vec::new();
        for (role, resources) in total.reservations() {
            let role = self.role_index(&Role::new(&role));
            reserved.push((role, self.names.all(&resources)));
        }
        let has_gpus = total.scalar("gpus") > 0.0;
        let plain = total.iter().all(|r| is_unreserved(r) && !is_revocable(r));
        if let Some(a) = self.agent_mut(agent) {
            a.total = total;
            a.total_qty = total_qty;
            a.reserved = reserved;
            a.has_gpus = has_gpus;
            a.plain = plain;
        }
    }

    /// Recomputes the agent's free resources from its total and
    /// allocations (after the total changed).
    fn reset_available(&mut self, agent: u32) {
        let Some(a) = self.agent(agent) else {
            return;
        };
        let mut used = Resources::new();
        for allocation in a.allocated.values() {
            used += allocation;
        }
        used.unallocate();
        let available = &a.total - &used;
        let old = a.available.clone();
        self.change_available(agent, &old, false);
        self.change_available(agent, &available, true);
    }

    /// Quota consumption of a role: unreserved allocations plus all
    /// reservations of its subtree.
    fn consumed(&self, role: u32) -> Qty {
        let node = self.tree.node(role);
        let mut consumed = node.allocation_unreserved.clone();
        consumed.add(&node.reserved);
        consumed
    }

    /// The part of the role's guarantee not yet consumed.
    fn unmet_guarantee(&self, role: u32) -> Qty {
        match self.quotas.get(&role) {
            Some((guarantees, _)) => {
                let consumed = self.consumed(role);
                let mut unmet = guarantees.saturating_sub(&consumed);
                // Only names the guarantee lists count.
                for i in 0..unmet.len() {
                    if guarantees.get(i) == 0.0 {
                        let value = unmet.get(i);
                        unmet.add_at(i, -value);
                    }
                }
                unmet
            }
            None => Qty::default(),
        }
    }

    /// The top-most role on `role`'s path with a guarantee: the one whose
    /// unmet part counts in the cluster's required headroom.
    fn guarantee_root(&self, role: u32) -> Option<u32> {
        self.tree
            .path(role)
            .filter(|r| self.quotas.get(r).is_some_and(|(g, _)| !g.is_zero()))
            .last()
    }

    /// Unmet guarantees of all top-most guaranteed roles.
    fn required_headroom(&self) -> Qty {
        let mut required = Qty::default();
        for role in self.quotas.keys() {
            if self.guarantee_root(*role) == Some(*role) {
                required.add(&self.unmet_guarantee(*role));
            }
        }
        required
    }

    /// Limits of the role and its ancestors, minus what they consume.
    fn limit_caps(&self, role: u32) -> Caps {
        let mut caps = Caps::unlimited();
        for node in self.tree.path(role) {
            if let Some((_, limits)) = self.quotas.get(&node) {
                if limits.is_empty() {
                    continue;
                }
                let consumed = self.consumed(node);
                for (i, limit) in limits {
                    caps.cap_at(*i, (limit - consumed.get(*i)).max(0.0));
                }
            }
        }
        caps
    }

    fn is_allocatable(&self, offer: &Resources) -> bool {
        if self.options.min_allocatable.is_empty() {
            return true;
        }
        match &self.min_allocatable {
            Some(alternatives) => {
                let qty = self.names.all(offer);
                alternatives
                    .iter()
                    .any(|alt| alt.iter().all(|(i, min)| qty.get(*i) >= *min - 1e-9))
            }
            None => {
                let quantities = crate::resources::quantities(offer.iter());
                self.options.min_allocatable.iter().any(|alt| {
                    alt.iter().all(|(name, min)| {
                        quantities.get(name).copied().unwrap_or(0.0) >= *min - 1e-9
                    })
                })
            }
        }
    }

    /// What `framework` may be offered for `role` on `agent` in `stage`, or
    /// why not (`Err(None)`: nothing there for it at all).
    #[allow(clippy::too_many_arguments)]
    fn offerable(
        &self,
        agent_index: u32,
        framework_index: u32,
        role: u32,
        guarantee: Option<&Qty>,
        required: &Qty,
        now: Instant,
    ) -> Result<Option<Resources>, Option<Reason>> {
        let agent = self.agent(agent_index).ok_or(None)?;
        let framework = self.framework(framework_index).ok_or(None)?;
        let caps = framework.spec.capabilities.clone();
        if self.options.filter_gpu_resources && agent.has_gpus && !caps.gpu_resources {
            return Err(Some(Reason::MissingGpuCapability));
        }
        // The common case: an agent with only unreserved, non-revocable
        // resources and no quota in the way is offered whole, decided on
        // quantities without copying a resource.
        if agent.plain
            && guarantee.is_none()
            && required.is_zero()
            && self.limit_caps(role).is_unlimited()
        {
            let allocatable = match &self.min_allocatable {
                Some(alternatives) if !self.options.min_allocatable.is_empty() => {
                    let qty = &agent.available_unreserved;
                    alternatives
                        .iter()
                        .any(|alt| alt.iter().all(|(i, min)| qty.get(*i) >= *min - 1e-9))
                }
                _ => self.is_allocatable(&agent.available),
            };
            if !allocatable {
                return Err(Some(Reason::BelowMinAllocatable));
            }
            if let Some(filters) = framework.filters.get(&(role, agent_index)) {
                let plain = agent.available_plain.as_ref();
                if filters
                    .iter()
                    .any(|f| f.refuses(&agent.available, plain, now))
                {
                    return Err(Some(Reason::Filtered));
                }
            }
            return Ok(None);
        }
        let role_name = &self.tree.node(role).role;
        let (reserved, unreserved, revocable) = if agent.plain {
            (Resources::new(), agent.available.clone(), Resources::new())
        } else {
            let mut reserved = Resources::new();
            let mut unreserved = Resources::new();
            let mut revocable = Resources::new();
            let mut revocable_refused = false;
            for r in agent.available.iter() {
                if !is_allocatable_to(r, role_name.as_str()) {
                    continue;
                }
                if has_refined_reservations(r) && !caps.reservation_refinement {
                    continue;
                }
                if is_revocable(r) {
                    if caps.revocable_resources {
                        revocable.add_resource(r.clone());
                    } else {
                        revocable_refused = true;
                    }
                } else if reservation_role(r).is_some() {
                    reserved.add_resource(r.clone());
                } else {
                    unreserved.add_resource(r.clone());
                }
            }
            if reserved.is_empty() && unreserved.is_empty() && revocable.is_empty() {
                return Err(revocable_refused.then_some(Reason::MissingRevocableCapability));
            }
            (reserved, unreserved, revocable)
        };
        // Caps on unreserved non-revocable resources.
        let mut caps_limit = self.limit_caps(role);
        let mut held = false;
        match guarantee {
            Some(unmet) => {
                let unreserved_qty = self.names.all(&unreserved);
                for (i, _) in unreserved_qty.entries() {
                    caps_limit.cap_at(i, unmet.get(i));
                }
            }
            None => {
                if !required.is_zero() {
                    // Headroom others need; the role's own unmet guarantee
                    // is not held back from it.
                    let mut need = required.clone();
                    if let Some(root) = self.guarantee_root(role) {
                        need.sub(&self.unmet_guarantee(root));
                    }
                    let unreserved_qty = self.names.all(&unreserved);
                    for (i, need_i) in need.entries() {
                        if need_i > 0.0 && unreserved_qty.get(i) > 0.0 {
                            let surplus = (self.free_unreserved.get(i) - need_i).max(0.0);
                            if surplus < unreserved_qty.get(i) {
                                held = true;
                            }
                            caps_limit.cap_at(i, surplus);
                        }
                    }
                }
            }
        }
        let limited = !caps_limit.is_unlimited();
        let chopped = if limited {
            chop(&unreserved, &caps_limit, &self.names)
        } else {
            unreserved
        };
        let chopped_anything = limited && chopped.is_empty();
        let mut offer = chopped;
        offer += reserved;
        offer += revocable;
        if offer.is_empty() {
            return Err(match guarantee {
                Some(_) => None,
                None if held => Some(Reason::HeldForQuotaGuarantees),
                None if chopped_anything => Some(Reason::QuotaLimitReached),
                None => None,
            });
        }
        if !self.is_allocatable(&offer) {
            return Err(Some(Reason::BelowMinAllocatable));
        }
        if let Some(filters) = framework.filters.get(&(role, agent_index)) {
            if filters.iter().any(|f| f.refuses(&offer, None, now)) {
                return Err(Some(Reason::Filtered));
            }
        }
        Ok(Some(offer))
    }

    fn note(&mut self, framework: u32, role: u32, reason: Reason) {
        self.note_times(framework, role, reason, 1);
    }

    fn note_times(&mut self, framework: u32, role: u32, reason: Reason, times: u64) {
        let cycle = self.cycles;
        if let Some(f) = self.framework_mut(framework) {
            let counters = f.explain.entry(role).or_default();
            counters.touch(cycle);
            counters.last[reason_index(reason)] += times;
            counters.totals[reason_index(reason)] += times;
        }
    }

    /// Offers the agent's resources in one stage; returns what it made.
    #[allow(clippy::too_many_arguments)]
    fn allocate_agent(
        &mut self,
        agent: u32,
        stage: Stage,
        cycle: &mut CycleState,
        now: Instant,
        out: &mut Vec<Allocation>,
    ) {
        let mut served: Vec<(u32, u32)> = Vec::new();
        loop {
            let Some(plain) = self
                .agent(agent)
                .filter(|a| !a.available.is_empty())
                .map(|a| a.plain)
            else {
                return;
            };
            let mut notes: Vec<(u32, u32, Reason)> = Vec::new();
            let mut skipped: Vec<u32> = Vec::new();
            let mut chosen: Option<(u32, u32, Option<Resources>, Option<u32>)> = None;
            let root = [RoleTree::ROOT];
            let starts: &[u32] = match stage {
                Stage::Rest => &root,
                Stage::Guarantees => &cycle.quota_order,
            };
            'search: for start in starts {
                let unmet = match stage {
                    Stage::Guarantees => {
                        let unmet = self.unmet_guarantee(*start);
                        if unmet.is_zero() {
                            continue;
                        }
                        Some(unmet)
                    }
                    Stage::Rest => None,
                };
                for role in self.tree.walk(*start) {
                    // A role at its limit for every resource can only take
                    // reservations, which a plain agent has none of.
                    if plain && self.role_at_limit(role, &mut cycle.at_limit) {
                        skipped.push(role);
                        continue;
                    }
                    for framework in self.tree.node(role).frameworks() {
                        if served.contains(&(framework, role)) {
                            continue;
                        }
                        match self.offerable(
                            agent,
                            framework,
                            role,
                            unmet.as_ref(),
                            &cycle.required,
                            now,
                        ) {
                            Ok(offer) => {
                                let quota_root = (stage == Stage::Guarantees).then_some(*start);
                                chosen = Some((framework, role, offer, quota_root));
                                break 'search;
                            }
                            Err(Some(reason)) => notes.push((framework, role, reason)),
                            Err(None) => {}
                        }
                    }
                }
            }
            for (framework, role, reason) in notes {
                self.note(framework, role, reason);
            }
            for role in skipped {
                cycle.skip_at_limit(role);
            }
            let Some((framework, role, offer, quota_root)) = chosen else {
                return;
            };
            served.push((framework, role));
            // Consumption changed along the path, and so did the limits
            // left to every role below it.
            if self
                .tree
                .path(role)
                .any(|r| self.tree.node(r).has_active_children())
            {
                cycle.at_limit.clear();
            } else {
                for node in self.tree.path(role) {
                    cycle.at_limit.forget(node);
                }
            }

            let guarantee_root = self.guarantee_root(role);
            let before = guarantee_root.map(|r| self.unmet_guarantee(r));
            let role_name = self.tree.node(role).role.clone();
            let allocated = match offer {
                Some(offer) => {
                    // The offer is made of the agent's resources, whose
                    // names are registered, and goes to one role.
                    let (all, unreserved) = self.names.all_and_unreserved(&offer);
                    self.change_available_by(agent, &offer, &unreserved, false);
                    let mut allocated = offer;
                    allocated.allocate(role_name.as_str());
                    self.account_role(framework, role, &all, &unreserved, true);
                    self.account_agent(framework, agent, &allocated, true);
                    allocated
                }
                None => {
                    let Some(allocated) = self.take_whole(agent, framework, role) else {
                        return;
                    };
                    allocated
                }
            };
            if let (Some(root), Some(before)) = (guarantee_root, before) {
                let after = self.unmet_guarantee(root);
                let mut met = before;
                met.sub(&after);
                cycle.required.sub(&met);
            }
            let cycle_number = self.cycles;
            let Some(agent_id) = self.agent(agent).map(|a| a.id.clone()) else {
                return;
            };
            let Some(f) = self.framework_mut(framework) else {
                return;
            };
            let counters = f.explain.entry(role).or_default();
            counters.touch(cycle_number);
            counters.offers_last += 1;
            counters.offers_total += 1;
            let framework_id = f.id.clone();
            out.push(Allocation {
                framework_id,
                agent_id,
                role: role_name,
                resources: allocated,
            });
            if let Some(quota_root) = quota_root {
                if self.unmet_guarantee(quota_root).is_zero() {
                    cycle.quota_order.retain(|r| *r != quota_root);
                }
            }
        }
    }

    /// Allocates all of a plain agent's free resources to `framework` for
    /// `role`, with the quantities the agent already keeps.
    fn take_whole(&mut self, agent: u32, framework: u32, role: u32) -> Option<Resources> {
        let role_name = self.tree.node(role).role.clone();
        let a = self.agent_mut(agent)?;
        let qty = std::mem::take(&mut a.available_unreserved);
        a.available_plain = Some(PlainSet::default());
        let mut allocated = std::mem::take(&mut a.available);
        allocated.allocate(role_name.as_str());
        hold(&mut a.allocated, framework, &allocated);
        if a.active {
            self.free_unreserved.sub(&qty);
        }
        self.tree
            .allocate(role, framework, &qty, &qty, &self.cluster_total, true);
        if let Some(f) = self.framework_mut(framework) {
            f.allocated_roles.insert(role);
            f.allocated_on.insert(agent);
        }
        Some(allocated)
    }

    /// The role (or an ancestor) has reached its limit for every resource
    /// the cluster has; memoized for the cycle, forgotten on allocation.
    fn role_at_limit(&self, role: u32, memo: &mut LimitMemo) -> bool {
        if self.quotas.is_empty() {
            return false;
        }
        if let Some(known) = memo.get(role) {
            return known;
        }
        let caps = self.limit_caps(role);
        let at_limit = !caps.is_unlimited()
            && self
                .cluster_total
                .entries()
                .all(|(i, _)| caps.cap(i) == Some(0.0));
        memo.set(role, at_limit);
        at_limit
    }

    /// Roles with an unmet guarantee and active frameworks, lowest share
    /// first.
    fn guaranteed_roles_in_order(&self) -> Vec<u32> {
        let mut roles: Vec<(f64, u32)> = self
            .quotas
            .iter()
            .filter(|(role, (g, _))| !g.is_zero() && !self.unmet_guarantee(**role).is_zero())
            .map(|(role, _)| (self.tree.node(*role).share(), *role))
            .collect();
        roles.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        roles.into_iter().map(|(_, role)| role).collect()
    }

    fn remove_filters_of(&mut self, framework: u32, roles: &SlotSet<u32>) {
        let mut agents = Vec::new();
        if let Some(f) = self.framework_mut(framework) {
            f.filters.retain(|(role, agent), _| {
                let keep = !roles.contains(role);
                if !keep {
                    agents.push(*agent);
                }
                keep
            });
        }
        for agent in agents {
            self.enqueue(agent);
        }
    }

    fn role_set(&mut self, roles: &BTreeSet<Role>) -> SlotSet<u32> {
        roles.iter().map(|r| self.role_index(r)).collect()
    }
}

/// `resources` with each scalar capped by `caps` (summed over resources of
/// the same name); non-scalar resources are kept only when some scalar is.
fn chop(resources: &Resources, caps: &Caps, names: &Names) -> Resources {
    let mut remaining: HashMap<usize, f64> = HashMap::new();
    let mut out = Resources::new();
    let mut others: Vec<Resource> = Vec::new();
    for resource in resources.iter() {
        if resource.r#type != ValueType::Scalar as i32 {
            others.push(resource.clone());
            continue;
        }
        let Some(index) = names.lookup(&resource.name) else {
            continue;
        };
        let value = resource.scalar.as_ref().map_or(0.0, |s| s.value);
        let take = match caps.cap(index) {
            None => value,
            Some(cap) => {
                let left = remaining.entry(index).or_insert(cap);
                let take = value.min(*left);
                *left -= take;
                take
            }
        };
        let take = (take * 1000.0).floor() / 1000.0;
        if take > 0.0 {
            let mut part = resource.clone();
            if let Some(scalar) = part.scalar.as_mut() {
                scalar.value = take;
            }
            out.add_resource(part);
        }
    }
    if !out.is_empty() {
        for resource in others {
            out.add_resource(resource);
        }
    }
    out
}

impl Allocator for HierarchicalDrf {
    fn add_framework(
        &mut self,
        framework_id: &FrameworkId,
        spec: FrameworkSpec,
        used: BTreeMap<AgentId, Resources>,
        active: bool,
    ) {
        if let Some(&index) = self.framework_index.get(framework_id) {
            // Known from an agent that re-registered with its tasks first.
            if let Some(f) = self.framework_mut(index) {
                f.active = active;
            }
            self.update_framework(framework_id, spec);
            return;
        }
        let roles: Vec<u32> = spec.roles.iter().map(|r| self.role_index(r)).collect();
        let suppressed = self.role_set(&spec.suppressed_roles);
        let framework = Framework {
            id: framework_id.clone(),
            spec,
            active,
            roles,
            suppressed,
            filters: SlotMap::default(),
            allocated_on: SlotSet::default(),
            allocated_roles: SlotSet::default(),
            explain: SlotMap::default(),
        };
        let index = match self.free_framework_slots.pop() {
            Some(slot) => {
                self.frameworks[slot as usize] = Some(framework);
                slot
            }
            None => {
                self.frameworks.push(Some(framework));
                (self.frameworks.len() - 1) as u32
            }
        };
        self.framework_index.insert(framework_id.clone(), index);
        for (agent_id, allocation) in used {
            let Some(&agent) = self.agent_index.get(&agent_id) else {
                continue;
            };
            let mut plain = allocation.clone();
            plain.unallocate();
            self.change_available(agent, &plain, false);
            self.account(index, agent, &allocation, true);
        }
        self.sync_framework(index);
        self.all_queued = true;
    }

    fn update_framework(&mut self, framework_id: &FrameworkId, spec: FrameworkSpec) {
        let Some(&index) = self.framework_index.get(framework_id) else {
            return;
        };
        let roles: Vec<u32> = spec.roles.iter().map(|r| self.role_index(r)).collect();
        let suppressed = self.role_set(&spec.suppressed_roles);
        let mut cleared = SlotSet::default();
        if let Some(f) = self.framework(index) {
            for role in &f.roles {
                if !roles.contains(role)
                    || (f.suppressed.contains(role) && !suppressed.contains(role))
                {
                    cleared.insert(*role);
                }
            }
        }
        self.remove_filters_of(index, &cleared);
        let old_roles = self
            .framework(index)
            .map(|f| f.roles.clone())
            .unwrap_or_default();
        if let Some(f) = self.framework_mut(index) {
            f.spec = spec;
            f.roles = roles.clone();
            f.suppressed = suppressed;
        }
        for role in old_roles {
            if !roles.contains(&role) {
                self.tree
                    .set_active(role, index, false, &self.cluster_total);
            }
        }
        self.sync_framework(index);
        self.all_queued = true;
    }

    fn remove_framework(&mut self, framework_id: &FrameworkId) {
        let Some(index) = self.framework_index.remove(framework_id) else {
            return;
        };
        let agents: Vec<u32> = self
            .framework(index)
            .map(|f| f.allocated_on.iter().copied().collect())
            .unwrap_or_default();
        for agent in agents {
            let Some(allocation) = self
                .agent(agent)
                .and_then(|a| a.allocated.get(&index))
                .cloned()
            else {
                continue;
            };
            self.account(index, agent, &allocation, false);
            let mut plain = allocation;
            plain.unallocate();
            self.change_available(agent, &plain, true);
        }
        let roles: Vec<u32> = self
            .framework(index)
            .map(|f| f.roles.iter().chain(&f.allocated_roles).copied().collect())
            .unwrap_or_default();
        for role in roles {
            self.tree.remove_client(role, index, &self.cluster_total);
        }
        self.frameworks[index as usize] = None;
        self.free_framework_slots.push(index);
    }

    fn activate_framework(&mut self, framework_id: &FrameworkId) {
        if let Some(&index) = self.framework_index.get(framework_id) {
            if let Some(f) = self.framework_mut(index) {
                f.active = true;
            }
            self.sync_framework(index);
            self.all_queued = true;
        }
    }

    fn deactivate_framework(&mut self, framework_id: &FrameworkId) {
        if let Some(&index) = self.framework_index.get(framework_id) {
            if let Some(f) = self.framework_mut(index) {
                f.active = false;
                // Upstream clears filters on deactivation: they were the
                // scheduler's answers and it is gone.
                f.filters.clear();
            }
            self.sync_framework(index);
        }
    }

    fn add_agent(
        &mut self,
        agent_id: &AgentId,
        total: Resources,
        used: BTreeMap<FrameworkId, Resources>,
    ) {
        if self.agent_index.contains_key(agent_id) {
            self.remove_agent(agent_id);
        }
        let mut total = total;
        total.unallocate();
        let agent = Agent {
            id: agent_id.clone(),
            total: Resources::new(),
            available: Resources::new(),
            allocated: SlotMap::default(),
            active: true,
            draining: false,
            has_gpus: false,
            plain: true,
            total_qty: Qty::default(),
            reserved: Vec::new(),
            available_unreserved: Qty::default(),
            available_plain: Some(PlainSet::default()),
            queued: false,
        };
        let index = match self.free_agent_slots.pop() {
            Some(slot) => {
                self.agents[slot as usize] = Some(agent);
                slot
            }
            None => {
                self.agents.push(Some(agent));
                (self.agents.len() - 1) as u32
            }
        };
        self.agent_index.insert(agent_id.clone(), index);
        self.set_total(index, total.clone());
        self.account_total(index, true);
        self.change_available(index, &total, true);
        for (framework_id, allocation) in used {
            // Frameworks not yet re-subscribed still hold their resources.
            let framework = match self.framework_index.get(&framework_id) {
                Some(f) => *f,
                None => {
                    let spec = FrameworkSpec::default();
                    self.add_framework(&framework_id, spec, BTreeMap::new(), false);
                    match self.framework_index.get(&framework_id) {
                        Some(f) => *f,
                        None => continue,
                    }
                }
            };
            let mut plain = allocation.clone();
            plain.unallocate();
            self.change_available(index, &plain, false);
            self.account(framework, index, &allocation, true);
        }
    }

    fn update_agent(&mut self, agent_id: &AgentId, total: Resources) {
        let Some(&index) = self.agent_index.get(agent_id) else {
            return;
        };
        let mut total = total;
        total.unallocate();
        self.account_total(index, false);
        self.set_total(index, total);
        self.account_total(index, true);
        self.reset_available(index);
    }

    fn remove_agent(&mut self, agent_id: &AgentId) {
        let Some(index) = self.agent_index.remove(agent_id) else {
            return;
        };
        let allocations: Vec<(u32, Resources)> = self
            .agent(index)
            .map(|a| a.allocated.iter().map(|(f, r)| (*f, r.clone())).collect())
            .unwrap_or_default();
        for (framework, allocation) in allocations {
            self.account(framework, index, &allocation, false);
        }
        if let Some(available) = self.agent(index).map(|a| a.available.clone()) {
            self.change_available(index, &available, false);
        }
        self.account_total(index, false);
        for f in self.frameworks.iter_mut().flatten() {
            if !f.filters.is_empty() {
                f.filters.retain(|(_, agent), _| *agent != index);
            }
        }
        self.agents[index as usize] = None;
        self.queue.retain(|a| *a != index);
        self.free_agent_slots.push(index);
    }

    fn activate_agent(&mut self, agent_id: &AgentId) {
        let Some(&index) = self.agent_index.get(agent_id) else {
            return;
        };
        if let Some(a) = self.agent_mut(index) {
            if a.active && !a.draining {
                return;
            }
            let was_active = a.active;
            a.active = true;
            a.draining = false;
            let unreserved = a.available_unreserved.clone();
            if !was_active {
                self.free_unreserved.add(&unreserved);
            }
        }
        self.enqueue(index);
    }

    fn deactivate_agent(&mut self, agent_id: &AgentId) {
        let Some(&index) = self.agent_index.get(agent_id) else {
            return;
        };
        if let Some(a) = self.agent_mut(index) {
            if !a.active {
                return;
            }
            a.active = false;
            let unreserved = a.available_unreserved.clone();
            self.free_unreserved.sub(&unreserved);
        }
    }

    fn drain_agent(&mut self, agent_id: &AgentId) {
        self.deactivate_agent(agent_id);
        if let Some(&index) = self.agent_index.get(agent_id) {
            if let Some(a) = self.agent_mut(index) {
                a.draining = true;
            }
        }
    }

    fn recover_resources(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        recovered: &Resources,
        refuse: Option<Duration>,
        now: Instant,
    ) {
        if recovered.is_empty() {
            return;
        }
        let Some(&agent) = self.agent_index.get(agent_id) else {
            return;
        };
        let Some(&framework) = self.framework_index.get(framework_id) else {
            return;
        };
        // Only what is actually allocated comes back.
        let Some(held) = self.agent(agent).and_then(|a| a.allocated.get(&framework)) else {
            return;
        };
        let recovered = if held.contains(recovered) {
            recovered.clone()
        } else {
            recovered.filter(|r| held.contains_resource(r))
        };
        if recovered.is_empty() {
            return;
        }
        self.account(framework, agent, &recovered, false);
        let mut plain = recovered.clone();
        plain.unallocate();
        self.change_available(agent, &plain, true);
        let Some(refuse) = refuse.filter(|d| !d.is_zero()) else {
            return;
        };
        // A filter must outlive the next allocation cycle (MESOS-4302).
        let lasts = refuse.max(self.options.allocation_interval);
        let Some(expires) = now.checked_add(lasts) else {
            return;
        };
        let roles: Vec<u32> = recovered
            .allocations()
            .into_keys()
            .map(|role| self.role_index(&Role::new(&role)))
            .collect();
        for role in roles {
            let mut refused =
                recovered.allocated_to_role_subtree(self.tree.node(role).role.as_str());
            refused.unallocate();
            let plain = PlainSet::of(&refused, &self.names);
            if let Some(f) = self.framework_mut(framework) {
                let filters = f.filters.entry((role, agent)).or_default();
                filters.retain(|f| f.expires > now);
                filters.push(OfferFilter {
                    expires,
                    refused,
                    plain,
                });
            }
        }
        self.filter_expiry.push(Reverse((expires, agent)));
    }

    fn update_allocation(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        conversions: &[ResourceConversion],
    ) {
        let (Some(&framework), Some(&agent)) = (
            self.framework_index.get(framework_id),
            self.agent_index.get(agent_id),
        ) else {
            return;
        };
        for conversion in conversions {
            self.account(framework, agent, &conversion.consumed, false);
            self.account(framework, agent, &conversion.converted, true);
        }
        let Some(a) = self.agent(agent) else {
            return;
        };
        let mut total = a.total.clone();
        for conversion in conversions {
            let mut consumed = conversion.consumed.clone();
            consumed.unallocate();
            let mut converted = conversion.converted.clone();
            converted.unallocate();
            total -= consumed;
            total += converted;
        }
        self.account_total(agent, false);
        self.set_total(agent, total);
        self.account_total(agent, true);
        self.reset_available(agent);
    }

    fn update_available(
        &mut self,
        agent_id: &AgentId,
        conversions: &[ResourceConversion],
    ) -> Result<(), String> {
        let Some(&agent) = self.agent_index.get(agent_id) else {
            return Err(format!("Unknown agent {agent_id}"));
        };
        let Some(a) = self.agent(agent) else {
            return Err(format!("Unknown agent {agent_id}"));
        };
        let mut available = a.available.clone();
        let mut total = a.total.clone();
        for conversion in conversions {
            if !available.contains(&conversion.consumed) {
                return Err(format!(
                    "Resources to convert are not available on agent {agent_id}"
                ));
            }
            available -= &conversion.consumed;
            available += &conversion.converted;
            total -= &conversion.consumed;
            total += &conversion.converted;
        }
        self.account_total(agent, false);
        self.set_total(agent, total);
        self.account_total(agent, true);
        self.reset_available(agent);
        Ok(())
    }

    fn suppress(&mut self, framework_id: &FrameworkId, roles: &BTreeSet<Role>) {
        let Some(&index) = self.framework_index.get(framework_id) else {
            return;
        };
        let roles = if roles.is_empty() {
            self.framework(index)
                .map(|f| f.spec.roles.clone())
                .unwrap_or_default()
        } else {
            roles.clone()
        };
        let indices = self.role_set(&roles);
        if let Some(f) = self.framework_mut(index) {
            f.spec.suppressed_roles.extend(roles);
            f.suppressed.extend(indices);
        }
        self.sync_framework(index);
    }

    fn revive(&mut self, framework_id: &FrameworkId, roles: &BTreeSet<Role>) {
        let Some(&index) = self.framework_index.get(framework_id) else {
            return;
        };
        let roles = if roles.is_empty() {
            self.framework(index)
                .map(|f| f.spec.roles.clone())
                .unwrap_or_default()
        } else {
            roles.clone()
        };
        let indices = self.role_set(&roles);
        if let Some(f) = self.framework_mut(index) {
            f.spec.suppressed_roles.retain(|r| !roles.contains(r));
            f.suppressed.retain(|r| !indices.contains(r));
        }
        self.remove_filters_of(index, &indices);
        self.sync_framework(index);
        self.all_queued = true;
    }

    fn update_weights(&mut self, weights: BTreeMap<Role, f64>) {
        for (role, weight) in weights {
            let index = self.role_index(&role);
            self.tree.node_mut(index).weight = weight;
            self.weights.insert(role, weight);
        }
        self.stale_shares = true;
        self.all_queued = true;
    }

    fn update_quota(&mut self, role: &Role, quota: Quota) {
        let index = self.role_index(role);
        if quota.guarantees.is_empty() && quota.limits.is_empty() {
            self.quotas.remove(&index);
        } else {
            let guarantees = self.names.of_map(&quota.guarantees);
            let limits = quota
                .limits
                .iter()
                .map(|(name, value)| (self.names.intern(name), *value))
                .collect();
            self.quotas.insert(index, (guarantees, limits));
        }
        self.all_queued = true;
    }

    fn allocate(&mut self, now: Instant) -> Vec<Allocation> {
        self.cycles += 1;
        if self.stale_shares {
            self.stale_shares = false;
            self.tree.refresh(&self.cluster_total);
        }
        while let Some(Reverse((expires, agent))) = self.filter_expiry.peek().copied() {
            if expires > now {
                break;
            }
            self.filter_expiry.pop();
            self.enqueue(agent);
        }
        if self.all_queued {
            self.all_queued = false;
            for index in 0..self.agents.len() as u32 {
                if self.agent(index).is_some_and(|a| !a.available.is_empty()) {
                    self.enqueue(index);
                }
            }
        }
        let take = self.queue.len().min(self.options.max_agents_per_cycle);
        let batch: Vec<u32> = self.queue.drain(..take).collect();
        let mut candidates = Vec::with_capacity(batch.len());
        for agent in batch {
            if let Some(a) = self.agent_mut(agent) {
                a.queued = false;
                if a.active && !a.available.is_empty() {
                    candidates.push(agent);
                }
            }
        }
        let mut out = Vec::new();
        let mut cycle = CycleState {
            required: self.required_headroom(),
            // Stage 1 serves guaranteed roles in the order of their shares
            // at the start of the cycle; a role leaves the list once met.
            quota_order: self.guaranteed_roles_in_order(),
            ..Default::default()
        };
        if !cycle.quota_order.is_empty() {
            for agent in &candidates {
                self.allocate_agent(*agent, Stage::Guarantees, &mut cycle, now, &mut out);
            }
        }
        for agent in &candidates {
            self.allocate_agent(*agent, Stage::Rest, &mut cycle, now, &mut out);
        }
        for role in std::mem::take(&mut cycle.limit_skipped) {
            let times = cycle.limit_skips[role as usize];
            let frameworks: Vec<u32> = self.tree.node(role).frameworks().collect();
            for framework in frameworks {
                self.note_times(framework, role, Reason::QuotaLimitReached, times);
            }
        }
        self.last_cycle_agents = candidates.len() as u64;
        self.last_cycle_offers = out.len() as u64;
        out
    }

    fn has_pending(&self) -> bool {
        self.all_queued || !self.queue.is_empty()
    }

    fn metrics(&self, now: Instant, out: &mut BTreeMap<String, f64>) {
        // Upstream keeps a role (and its gauges) while it has frameworks,
        // reservations, allocations, quota or a weight, and keeps its
        // ancestors with it; our tree keeps every node it ever made.
        let mut live: HashSet<u32> = HashSet::new();
        for (index, node) in self.tree.roles() {
            let consumed = self.consumed(index);
            if node.has_frameworks()
                || !consumed.is_zero()
                || !node.allocation.is_zero()
                || self.quotas.contains_key(&index)
                || self.weights.contains_key(&node.role)
            {
                live.extend(self.tree.path(index));
            }
        }
        let mut filters: HashMap<u32, usize> = HashMap::new();
        for framework in self.frameworks.iter().flatten() {
            for ((role, _), list) in &framework.filters {
                *filters.entry(*role).or_default() +=
                    list.iter().filter(|f| f.expires > now).count();
            }
        }
        for (index, node) in self.tree.roles() {
            if !live.contains(&index) {
                continue;
            }
            let role = &node.role;
            out.insert(
                format!("allocator/mesos/offer_filters/roles/{role}/active"),
                filters.get(&index).copied().unwrap_or(0) as f64,
            );
            if node.has_frameworks() {
                out.insert(
                    format!("allocator/mesos/roles/{role}/shares/dominant"),
                    node.own_share(&self.cluster_total),
                );
            }
            let prefix = format!("allocator/mesos/quota/roles/{role}/resources");
            let consumed = self.consumed(index);
            for i in 0..consumed.len() {
                if consumed.get(i) != 0.0 {
                    out.insert(
                        format!("{prefix}/{}/consumed", self.names.name(i)),
                        consumed.get(i),
                    );
                }
            }
            let Some((guarantees, limits)) = self.quotas.get(&index) else {
                continue;
            };
            let mut quota_names: BTreeSet<usize> = BTreeSet::new();
            for i in 0..guarantees.len() {
                if guarantees.get(i) != 0.0 {
                    quota_names.insert(i);
                    out.insert(
                        format!("{prefix}/{}/guarantee", self.names.name(i)),
                        guarantees.get(i),
                    );
                }
            }
            for (i, limit) in limits {
                quota_names.insert(*i);
                out.insert(format!("{prefix}/{}/limit", self.names.name(*i)), *limit);
            }
            for i in quota_names {
                out.insert(
                    format!("{prefix}/{}/offered_or_allocated", self.names.name(i)),
                    node.own_allocation().get(i),
                );
            }
        }
    }

    fn explain(&self, now: Instant) -> Explain {
        let mut explain = Explain {
            cycles: self.cycles,
            last_cycle_agents: self.last_cycle_agents,
            last_cycle_offers: self.last_cycle_offers,
            ..Default::default()
        };
        for agent in self.agents.iter().flatten() {
            if agent.draining {
                explain.draining_agents += 1;
            } else if !agent.active {
                explain.deactivated_agents += 1;
            }
        }
        for (index, framework) in self.frameworks.iter().enumerate() {
            let Some(framework) = framework else {
                continue;
            };
            let index = index as u32;
            let mut fe = FrameworkExplain {
                active: framework.active,
                roles: BTreeMap::new(),
            };
            for role in &framework.roles {
                let node = self.tree.node(*role);
                let mut re = RoleExplain {
                    suppressed: framework.suppressed.contains(role),
                    framework_share: node.framework_share(index),
                    role_share: node.share(),
                    quota_limit_reached: self.limit_caps(*role).any_zero(),
                    ..Default::default()
                };
                for ((filter_role, _), filters) in &framework.filters {
                    if filter_role != role {
                        continue;
                    }
                    let until = filters.iter().map(|f| f.expires).filter(|e| *e > now).max();
                    if let Some(until) = until {
                        re.filtered_agents += 1;
                        re.filtered_until = re.filtered_until.max(Some(until));
                    }
                }
                let mut reasons_last = 0;
                if let Some(counters) = framework.explain.get(role) {
                    re.offers_total = counters.offers_total;
                    for (i, reason) in Reason::ALL.iter().enumerate() {
                        if counters.totals[i] > 0 {
                            re.totals.insert(*reason, counters.totals[i]);
                        }
                    }
                    if counters.cycle == self.cycles {
                        re.offers_last_cycle = counters.offers_last;
                        for (i, reason) in Reason::ALL.iter().enumerate() {
                            if counters.last[i] > 0 {
                                re.last_cycle.insert(*reason, counters.last[i]);
                                reasons_last += counters.last[i];
                            }
                        }
                    }
                }
                // Agents of the last cycle that neither reached the
                // framework with a reason nor went to it went to someone
                // ranked before it.
                if Self::wants_offers(framework, *role) {
                    let drf = self
                        .last_cycle_agents
                        .saturating_sub(re.offers_last_cycle + reasons_last);
                    if drf > 0 && self.last_cycle_offers > re.offers_last_cycle {
                        re.last_cycle.insert(Reason::DrfShareAboveOthers, drf);
                    }
                }
                fe.roles.insert(node.role.clone(), re);
            }
            explain.frameworks.insert(framework.id.clone(), fe);
        }
        explain
    }
}
