//! The built-in allocator: dominant resource fairness across roles
//! (shares divided by role weight), then across the frameworks of a role,
//! like upstream's `HierarchicalDRFAllocator` without quota.
//!
//! Each cycle walks the agents; for each agent it sorts roles by weighted
//! dominant share and frameworks of the role by dominant share, and offers
//! the agent's free resources allocatable to the role to the first framework
//! that can take them (not suppressed, not filtered, has the capabilities).
//! Shares are recomputed after every allocation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mesos_proto::legacy_json::allocation_role;
use mesos_proto::resources::{is_allocatable_to, is_revocable, Resources};

use super::{Allocation, Allocator, AllocatorOptions, FrameworkSpec};
use crate::resources;

/// A refused-offer filter (upstream `RefusedOfferFilter`): offers of a
/// subset of `refused` on the agent are not made until `expires`.
#[derive(Clone, Debug)]
struct OfferFilter {
    expires: Instant,
    refused: Resources,
}

#[derive(Debug)]
struct Framework {
    spec: FrameworkSpec,
    active: bool,
    /// (role, agent id) → filters.
    filters: BTreeMap<(String, String), Vec<OfferFilter>>,
}

#[derive(Debug)]
struct Agent {
    /// Unallocated view of everything the agent has.
    total: Resources,
    /// framework id → resources allocated (offered or used), with
    /// `allocation_info`.
    allocated: BTreeMap<String, Resources>,
    active: bool,
}

impl Agent {
    /// Free resources: total minus everything allocated.
    fn available(&self) -> Resources {
        let mut used = Resources::default();
        for allocation in self.allocated.values() {
            used += allocation;
        }
        used.unallocate();
        &self.total - &used
    }

    fn has_gpus(&self) -> bool {
        self.total.scalar("gpus") > 0.0
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct HierarchicalDrf {
    options: AllocatorOptions,
    frameworks: BTreeMap<String, Framework>,
    agents: BTreeMap<String, Agent>,
}

impl HierarchicalDrf {
    pub fn new(options: AllocatorOptions) -> Self {
        HierarchicalDrf {
            options,
            frameworks: BTreeMap::new(),
            agents: BTreeMap::new(),
        }
    }

    fn weight(&self, role: &str) -> f64 {
        self.options.weights.get(role).copied().unwrap_or(1.0)
    }

    /// Scalar quantities of every agent's total: the denominator of shares.
    fn cluster_totals(&self) -> BTreeMap<String, f64> {
        let mut totals: BTreeMap<String, f64> = BTreeMap::new();
        for agent in self.agents.values() {
            for (name, amount) in scalar_quantities(&agent.total) {
                *totals.entry(name).or_default() += amount;
            }
        }
        totals
    }

    /// Scalar quantities allocated to `role`, optionally only those of one
    /// framework.
    fn allocated_to(&self, role: &str, framework: Option<&str>) -> (BTreeMap<String, f64>, usize) {
        let mut quantities: BTreeMap<String, f64> = BTreeMap::new();
        let mut count = 0;
        for agent in self.agents.values() {
            for (framework_id, allocation) in &agent.allocated {
                if framework.is_some_and(|f| f != framework_id) {
                    continue;
                }
                let of_role = allocation.filter(|r| {
                    r.allocation_info.as_ref().and_then(|i| i.role.as_deref()) == Some(role)
                });
                if of_role.is_empty() {
                    continue;
                }
                count += 1;
                for (name, amount) in scalar_quantities(&of_role) {
                    *quantities.entry(name).or_default() += amount;
                }
            }
        }
        (quantities, count)
    }

    /// Roles with an active framework interested in them, by ascending
    /// weighted dominant share (ties by name).
    fn sorted_roles(&self, totals: &BTreeMap<String, f64>) -> Vec<String> {
        let roles: BTreeSet<&String> = self
            .frameworks
            .values()
            .filter(|f| f.active)
            .flat_map(|f| f.spec.roles.iter())
            .collect();
        let mut keyed: Vec<(f64, String)> = roles
            .into_iter()
            .map(|role| {
                let (allocated, _) = self.allocated_to(role, None);
                (
                    dominant_share(&allocated, totals) / self.weight(role),
                    role.clone(),
                )
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        keyed.into_iter().map(|(_, role)| role).collect()
    }

    /// Active frameworks of `role`, by ascending dominant share within the
    /// role (ties by number of allocations, then id).
    fn sorted_frameworks(&self, role: &str, totals: &BTreeMap<String, f64>) -> Vec<String> {
        let mut keyed: Vec<(f64, usize, String)> = self
            .frameworks
            .iter()
            .filter(|(_, f)| f.active && f.spec.roles.contains(role))
            .map(|(id, _)| {
                let (allocated, count) = self.allocated_to(role, Some(id));
                (dominant_share(&allocated, totals), count, id.clone())
            })
            .collect();
        keyed.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then_with(|| a.1.cmp(&b.1))
                .then_with(|| a.2.cmp(&b.2))
        });
        keyed.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Whether the quantities meet one of the `--min_allocatable_resources`
    /// alternatives.
    fn is_allocatable(&self, offered: &Resources) -> bool {
        let quantities = resources::quantities(offered.iter());
        self.options.min_allocatable.iter().any(|alternative| {
            alternative
                .iter()
                .all(|(name, minimum)| quantities.get(name).copied().unwrap_or(0.0) >= *minimum)
        })
    }

    /// What `framework_id` may be offered for `role` on `agent_id` now, or
    /// `None` when nothing (suitable) is available.
    fn offerable(
        &mut self,
        framework_id: &str,
        role: &str,
        agent_id: &str,
        now: Instant,
    ) -> Option<Resources> {
        let agent = self.agents.get(agent_id)?;
        let framework = self.frameworks.get(framework_id)?;
        if !framework.active
            || !framework.spec.roles.contains(role)
            || framework.spec.suppressed_roles.contains(role)
        {
            return None;
        }
        if self.options.filter_gpu_resources
            && agent.has_gpus()
            && !framework.spec.capabilities.gpu_resources
        {
            return None;
        }
        let revocable_ok = framework.spec.capabilities.revocable_resources;
        let available = agent
            .available()
            .filter(|r| is_allocatable_to(r, role) && (revocable_ok || !is_revocable(r)));
        if available.is_empty() || !self.is_allocatable(&available) {
            return None;
        }
        let framework = self.frameworks.get_mut(framework_id)?;
        let key = (role.to_string(), agent_id.to_string());
        if let Some(filters) = framework.filters.get_mut(&key) {
            filters.retain(|f| f.expires > now);
            let refused = filters.iter().any(|f| f.refused.contains(&available));
            if filters.is_empty() {
                framework.filters.remove(&key);
            }
            if refused {
                return None;
            }
        }
        Some(available)
    }
}

/// Scalar quantities only (shares are computed over scalars).
fn scalar_quantities(res: &Resources) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for resource in res.iter() {
        if let Some(scalar) = &resource.scalar {
            if resource.ranges.is_none() && resource.set.is_none() {
                *out.entry(resource.name.clone()).or_default() += scalar.value;
            }
        }
    }
    out
}

/// max over resource names of allocated / total.
fn dominant_share(allocated: &BTreeMap<String, f64>, totals: &BTreeMap<String, f64>) -> f64 {
    allocated
        .iter()
        .filter_map(|(name, amount)| {
            let total = totals.get(name).copied().unwrap_or(0.0);
            (total > 0.0).then(|| amount / total)
        })
        .fold(0.0, f64::max)
}

impl Allocator for HierarchicalDrf {
    fn add_framework(
        &mut self,
        framework_id: &str,
        spec: FrameworkSpec,
        used: BTreeMap<String, Resources>,
        active: bool,
    ) {
        for (agent_id, allocation) in used {
            if let Some(agent) = self.agents.get_mut(&agent_id) {
                let entry = agent.allocated.entry(framework_id.to_string()).or_default();
                *entry += allocation;
            }
        }
        self.frameworks.insert(
            framework_id.to_string(),
            Framework {
                spec,
                active,
                filters: BTreeMap::new(),
            },
        );
    }

    fn update_framework(&mut self, framework_id: &str, spec: FrameworkSpec) {
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let unsuppressed: Vec<String> = framework
            .spec
            .suppressed_roles
            .difference(&spec.suppressed_roles)
            .cloned()
            .collect();
        framework
            .filters
            .retain(|(role, _), _| spec.roles.contains(role) && !unsuppressed.contains(role));
        framework.spec = spec;
    }

    fn remove_framework(&mut self, framework_id: &str) {
        self.frameworks.remove(framework_id);
        // Whatever the master did not recover explicitly goes back to the pool.
        for agent in self.agents.values_mut() {
            agent.allocated.remove(framework_id);
        }
    }

    fn activate_framework(&mut self, framework_id: &str) {
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework.active = true;
        }
    }

    fn deactivate_framework(&mut self, framework_id: &str) {
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework.active = false;
        }
    }

    fn add_agent(&mut self, agent_id: &str, total: Resources, used: BTreeMap<String, Resources>) {
        let used = used.into_iter().filter(|(_, r)| !r.is_empty()).collect();
        let mut total = total;
        total.unallocate();
        self.agents.insert(
            agent_id.to_string(),
            Agent {
                total,
                allocated: used,
                active: true,
            },
        );
    }

    fn update_agent(&mut self, agent_id: &str, total: Resources) {
        if let Some(agent) = self.agents.get_mut(agent_id) {
            let mut total = total;
            total.unallocate();
            agent.total = total;
        }
    }

    fn remove_agent(&mut self, agent_id: &str) {
        self.agents.remove(agent_id);
        for framework in self.frameworks.values_mut() {
            framework.filters.retain(|(_, agent), _| agent != agent_id);
        }
    }

    fn activate_agent(&mut self, agent_id: &str) {
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.active = true;
        }
    }

    fn deactivate_agent(&mut self, agent_id: &str) {
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.active = false;
        }
    }

    fn recover_resources(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        recovered: &Resources,
        refuse: Option<Duration>,
        now: Instant,
    ) {
        if recovered.is_empty() {
            return;
        }
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        if let Some(allocation) = agent.allocated.get_mut(framework_id) {
            *allocation -= recovered;
            if allocation.is_empty() {
                agent.allocated.remove(framework_id);
            }
        }
        let Some(refuse) = refuse.filter(|d| !d.is_zero()) else {
            return;
        };
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let raw = recovered.to_vec();
        let Some(role) = allocation_role(&raw).map(str::to_string) else {
            return;
        };
        // A filter must outlive the next allocation cycle (MESOS-4302).
        let lasts = refuse.max(self.options.allocation_interval);
        let mut refused = recovered.clone();
        refused.unallocate();
        framework
            .filters
            .entry((role, agent_id.to_string()))
            .or_default()
            .push(OfferFilter {
                expires: now + lasts,
                refused,
            });
    }

    fn suppress(&mut self, framework_id: &str, roles: &BTreeSet<String>) {
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            let roles = if roles.is_empty() {
                framework.spec.roles.clone()
            } else {
                roles.clone()
            };
            framework.spec.suppressed_roles.extend(roles);
        }
    }

    fn revive(&mut self, framework_id: &str, roles: &BTreeSet<String>) {
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            let roles = if roles.is_empty() {
                framework.spec.roles.clone()
            } else {
                roles.clone()
            };
            framework
                .spec
                .suppressed_roles
                .retain(|role| !roles.contains(role));
            framework
                .filters
                .retain(|(role, _), _| !roles.contains(role));
        }
    }

    fn update_weights(&mut self, weights: BTreeMap<String, f64>) {
        self.options.weights = weights;
    }

    fn allocate(&mut self, now: Instant) -> Vec<Allocation> {
        let mut result = Vec::new();
        let totals = self.cluster_totals();
        let agent_ids: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| a.active)
            .map(|(id, _)| id.clone())
            .collect();
        for agent_id in agent_ids {
            'roles: loop {
                // Re-sorted after every allocation: shares have changed.
                for role in self.sorted_roles(&totals) {
                    for framework_id in self.sorted_frameworks(&role, &totals) {
                        let Some(offered) = self.offerable(&framework_id, &role, &agent_id, now)
                        else {
                            continue;
                        };
                        let mut offered = offered;
                        offered.allocate(&role);
                        if let Some(agent) = self.agents.get_mut(&agent_id) {
                            let entry = agent.allocated.entry(framework_id.clone()).or_default();
                            *entry += &offered;
                        }
                        result.push(Allocation {
                            framework_id,
                            agent_id: agent_id.clone(),
                            role: role.clone(),
                            resources: offered,
                        });
                        continue 'roles;
                    }
                }
                break;
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::FrameworkCapabilities;
    use crate::resources::testing::*;

    fn spec(roles: &[&str]) -> FrameworkSpec {
        FrameworkSpec {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    fn allocator() -> HierarchicalDrf {
        HierarchicalDrf::new(AllocatorOptions::default())
    }

    fn set(roles: &[&str]) -> BTreeSet<String> {
        roles.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn single_framework_gets_whole_agent() {
        let mut a = allocator();
        a.add_agent("S0", cpus_mem(4.0, 4096.0), BTreeMap::new());
        a.add_framework("F0", spec(&["*"]), BTreeMap::new(), true);
        let now = Instant::now();
        let out = a.allocate(now);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].framework_id, "F0");
        assert_eq!(out[0].role, "*");
        assert_eq!(out[0].resources.scalar("cpus"), 4.0);
        assert_eq!(allocation_role(&out[0].resources.to_vec()), Some("*"));
        // Nothing left for a second cycle.
        assert!(a.allocate(now).is_empty());
    }

    #[test]
    fn drf_spreads_agents_between_frameworks() {
        let mut a = allocator();
        a.add_agent("S0", cpus_mem(2.0, 1024.0), BTreeMap::new());
        a.add_agent("S1", cpus_mem(2.0, 1024.0), BTreeMap::new());
        a.add_framework("F0", spec(&["r"]), BTreeMap::new(), true);
        a.add_framework("F1", spec(&["r"]), BTreeMap::new(), true);
        let out = a.allocate(Instant::now());
        let owners: BTreeSet<&str> = out.iter().map(|o| o.framework_id.as_str()).collect();
        assert_eq!(out.len(), 2);
        assert_eq!(owners, BTreeSet::from(["F0", "F1"]));
    }

    #[test]
    fn weights_favour_heavier_roles() {
        let mut options = AllocatorOptions::default();
        options.weights.insert("a".into(), 2.0);
        let mut a = HierarchicalDrf::new(options);
        for agent in ["S0", "S1", "S2"] {
            a.add_agent(agent, cpus_mem(1.0, 512.0), BTreeMap::new());
        }
        a.add_framework("FA", spec(&["a"]), BTreeMap::new(), true);
        a.add_framework("FB", spec(&["b"]), BTreeMap::new(), true);
        let out = a.allocate(Instant::now());
        let to_a = out.iter().filter(|o| o.role == "a").count();
        let to_b = out.iter().filter(|o| o.role == "b").count();
        assert_eq!((to_a, to_b), (2, 1));
    }

    #[test]
    fn declined_resources_are_filtered_until_expiry() {
        let mut a = allocator();
        a.add_agent("S0", cpus_mem(1.0, 512.0), BTreeMap::new());
        a.add_framework("F0", spec(&["*"]), BTreeMap::new(), true);
        let t0 = Instant::now();
        let offer = a.allocate(t0).remove(0);
        a.recover_resources(
            "F0",
            "S0",
            &offer.resources,
            Some(Duration::from_secs(5)),
            t0,
        );
        assert!(a.allocate(t0 + Duration::from_secs(1)).is_empty());
        assert!(a.allocate(t0 + Duration::from_secs(4)).is_empty());
        let again = a.allocate(t0 + Duration::from_secs(6));
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn filter_lasts_at_least_one_allocation_interval() {
        let mut a = allocator();
        a.add_agent("S0", cpus_mem(1.0, 512.0), BTreeMap::new());
        a.add_framework("F0", spec(&["*"]), BTreeMap::new(), true);
        let t0 = Instant::now();
        let offer = a.allocate(t0).remove(0);
        a.recover_resources(
            "F0",
            "S0",
            &offer.resources,
            Some(Duration::from_millis(1)),
            t0,
        );
        assert!(a.allocate(t0 + Duration::from_millis(500)).is_empty());
        assert_eq!(a.allocate(t0 + Duration::from_millis(1001)).len(), 1);
    }

    #[test]
    fn filtered_framework_lets_others_have_the_agent() {
        let mut a = allocator();
        a.add_agent("S0", cpus_mem(1.0, 512.0), BTreeMap::new());
        a.add_framework("F0", spec(&["*"]), BTreeMap::new(), true);
        let t0 = Instant::now();
        let offer = a.allocate(t0).remove(0);
        a.recover_resources(
            "F0",
            "S0",
            &offer.resources,
            Some(Duration::from_secs(60)),
            t0,
        );
        a.add_framework("F1", spec(&["*"]), BTreeMap::new(), true);
        let out = a.allocate(t0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].framework_id, "F1");
    }

    #[test]
    fn revive_clears_filters_and_suppression() {
        let mut a = allocator();
        a.add_agent("S0", cpus_mem(1.0, 512.0), BTreeMap::new());
        a.add_framework("F0", spec(&["*"]), BTreeMap::new(), true);
        let t0 = Instant::now();
        let offer = a.allocate(t0).remove(0);
        a.recover_resources(
            "F0",
            "S0",
            &offer.resources,
            Some(Duration::from_secs(60)),
            t0,
        );
        a.suppress("F0", &BTreeSet::new());
        assert!(a.allocate(t0 + Duration::from_secs(120)).is_empty());
        a.revive("F0", &BTreeSet::new());
        assert_eq!(a.allocate(t0).len(), 1);
    }

    #[test]
    fn suppress_one_role_of_multi_role_framework() {
        let mut a = allocator();
        a.add_agent("S0", cpus_mem(1.0, 512.0), BTreeMap::new());
        a.add_agent("S1", cpus_mem(1.0, 512.0), BTreeMap::new());
        a.add_framework("F0", spec(&["a", "b"]), BTreeMap::new(), true);
        a.suppress("F0", &set(&["a"]));
        let out = a.allocate(Instant::now());
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|o| o.role == "b"));
    }

    #[test]
    fn reserved_resources_go_to_their_role() {
        let mut a = allocator();
        let total = Resources::from(vec![
            scalar_resource("cpus", 1.0),
            scalar_resource("mem", 512.0),
            reserved(scalar_resource("cpus", 2.0), "db"),
            reserved(scalar_resource("mem", 256.0), "db"),
        ]);
        a.add_agent("S0", total, BTreeMap::new());
        a.add_framework("WEB", spec(&["web"]), BTreeMap::new(), true);
        let out = a.allocate(Instant::now());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].resources.scalar("cpus"), 1.0);
        a.add_framework("DB", spec(&["db"]), BTreeMap::new(), true);
        let out = a.allocate(Instant::now());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].framework_id, "DB");
        assert_eq!(out[0].resources.scalar("cpus"), 2.0);
    }

    #[test]
    fn gpu_agents_only_for_gpu_frameworks() {
        let mut a = allocator();
        let total = Resources::from(vec![
            scalar_resource("cpus", 1.0),
            scalar_resource("mem", 512.0),
            scalar_resource("gpus", 1.0),
        ]);
        a.add_agent("S0", total, BTreeMap::new());
        a.add_framework("PLAIN", spec(&["*"]), BTreeMap::new(), true);
        assert!(a.allocate(Instant::now()).is_empty());
        let mut gpu = spec(&["*"]);
        gpu.capabilities = FrameworkCapabilities {
            gpu_resources: true,
            revocable_resources: false,
        };
        a.add_framework("GPU", gpu, BTreeMap::new(), true);
        let out = a.allocate(Instant::now());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].framework_id, "GPU");
    }

    #[test]
    fn tiny_leftovers_are_not_offered() {
        let mut a = allocator();
        a.add_agent("S0", cpus_mem(0.001, 16.0), BTreeMap::new());
        a.add_framework("F0", spec(&["*"]), BTreeMap::new(), true);
        assert!(a.allocate(Instant::now()).is_empty());
    }

    #[test]
    fn inactive_framework_or_agent_gets_nothing() {
        let mut a = allocator();
        a.add_agent("S0", cpus_mem(1.0, 512.0), BTreeMap::new());
        a.add_framework("F0", spec(&["*"]), BTreeMap::new(), false);
        assert!(a.allocate(Instant::now()).is_empty());
        a.activate_framework("F0");
        a.deactivate_agent("S0");
        assert!(a.allocate(Instant::now()).is_empty());
        a.activate_agent("S0");
        assert_eq!(a.allocate(Instant::now()).len(), 1);
    }

    #[test]
    fn used_resources_are_not_offered_again() {
        let mut a = allocator();
        let mut used = cpus_mem(1.0, 256.0);
        used.allocate("*");
        a.add_agent(
            "S0",
            cpus_mem(2.0, 512.0),
            BTreeMap::from([("F0".to_string(), used.clone())]),
        );
        a.add_framework("F0", spec(&["*"]), BTreeMap::new(), true);
        let out = a.allocate(Instant::now());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].resources.scalar("cpus"), 1.0);
        // The task finishes: its resources come back.
        a.recover_resources("F0", "S0", &used, None, Instant::now());
        let out = a.allocate(Instant::now());
        assert_eq!(out[0].resources.scalar("cpus"), 1.0);
    }

    #[test]
    fn removed_framework_returns_everything() {
        let mut a = allocator();
        a.add_agent("S0", cpus_mem(1.0, 512.0), BTreeMap::new());
        a.add_framework("F0", spec(&["*"]), BTreeMap::new(), true);
        assert_eq!(a.allocate(Instant::now()).len(), 1);
        a.remove_framework("F0");
        a.add_framework("F1", spec(&["*"]), BTreeMap::new(), true);
        let out = a.allocate(Instant::now());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].framework_id, "F1");
    }

    #[test]
    fn update_framework_unsuppressing_clears_filters() {
        let mut a = allocator();
        a.add_agent("S0", cpus_mem(1.0, 512.0), BTreeMap::new());
        let mut suppressed = spec(&["*"]);
        suppressed.suppressed_roles = set(&["*"]);
        a.add_framework("F0", spec(&["*"]), BTreeMap::new(), true);
        let t0 = Instant::now();
        let offer = a.allocate(t0).remove(0);
        a.recover_resources(
            "F0",
            "S0",
            &offer.resources,
            Some(Duration::from_secs(60)),
            t0,
        );
        a.update_framework("F0", suppressed);
        assert!(a.allocate(t0).is_empty());
        a.update_framework("F0", spec(&["*"]));
        assert_eq!(a.allocate(t0).len(), 1);
    }
}
