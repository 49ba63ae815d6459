//! Allocator scenarios (upstream `hierarchical_allocator_tests.cpp` and
//! `sorter_tests.cpp`, ported as situations, not code), on the synchronous
//! allocator with a hand-driven clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mesos_proto::mesos::v1::resource::reservation_info::Type as ReservationType;
use mesos_proto::mesos::v1::resource::{ReservationInfo, RevocableInfo};
use mesos_proto::resources::Resources;

use super::*;

fn res(text: &str) -> Resources {
    Resources::parse(text, "*").expect("valid test resources")
}

fn fw(id: &str) -> FrameworkId {
    FrameworkId::new(id)
}

fn ag(id: &str) -> AgentId {
    AgentId::new(id)
}

fn role(name: &str) -> Role {
    Role::new(name)
}

fn roles(names: &[&str]) -> BTreeSet<Role> {
    names.iter().map(|r| role(r)).collect()
}

fn spec(names: &[&str]) -> FrameworkSpec {
    FrameworkSpec {
        roles: roles(names),
        ..Default::default()
    }
}

fn dynamic(resources: &Resources, role: &str) -> Resources {
    resources
        .push_reservation(&ReservationInfo {
            r#type: Some(ReservationType::Dynamic as i32),
            role: Some(role.to_string()),
            principal: Some("ops".to_string()),
            ..Default::default()
        })
        .expect("valid reservation")
}

fn allocated(resources: &Resources, role: &str) -> Resources {
    let mut out = resources.clone();
    out.allocate(role);
    out
}

struct Cluster {
    allocator: HierarchicalDrf,
    now: Instant,
}

impl Cluster {
    fn new() -> Self {
        Self::with(AllocatorOptions::default())
    }

    fn with(options: AllocatorOptions) -> Self {
        Cluster {
            allocator: HierarchicalDrf::new(options),
            now: Instant::now(),
        }
    }

    fn agent(&mut self, id: &str, text: &str) {
        self.allocator
            .add_agent(&ag(id), res(text), BTreeMap::new());
    }

    fn framework(&mut self, id: &str, spec: FrameworkSpec) {
        self.allocator
            .add_framework(&fw(id), spec, BTreeMap::new(), true);
    }

    fn allocate(&mut self) -> Vec<Allocation> {
        self.allocator.allocate(self.now)
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn decline(&mut self, offer: &Allocation, refuse: Option<Duration>) {
        self.allocator.recover_resources(
            &offer.framework_id,
            &offer.agent_id,
            &offer.resources,
            refuse,
            self.now,
        );
    }
}

fn one(offers: Vec<Allocation>) -> Allocation {
    assert_eq!(offers.len(), 1, "expected one offer, got {offers:?}");
    offers.into_iter().next().expect("one offer")
}

// ---- sorter_tests.cpp ------------------------------------------------------

#[test]
fn drf_sorter_orders_by_dominant_share() {
    // DRFSorter: a client with a lower dominant share comes first; an
    // allocation moves it back.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:10;mem:100");
    c.framework("F0", spec(&["a"]));
    c.framework("F1", spec(&["b"]));
    let first = one(c.allocate());
    assert_eq!(first.framework_id, fw("F0"));
    // F0 now holds everything; a new agent goes to F1.
    c.agent("S1", "cpus:1;mem:1");
    assert_eq!(one(c.allocate()).framework_id, fw("F1"));
}

#[test]
fn wdrf_sorter_update_weight() {
    // WDRFSorterUpdateWeight: halving a role's weight doubles its share.
    let mut c = Cluster::new();
    for s in ["S0", "S1", "S2", "S3"] {
        c.agent(s, "cpus:1;mem:512");
    }
    c.framework("FA", spec(&["a"]));
    c.framework("FB", spec(&["b"]));
    c.allocator
        .update_weights(BTreeMap::from([(role("a"), 3.0)]));
    let offers = c.allocate();
    let to_a = offers.iter().filter(|o| o.role == role("a")).count();
    assert_eq!((to_a, offers.len() - to_a), (3, 1));
}

#[test]
fn hierarchical_iteration_order() {
    // HierarchicalIterationOrder: shares of `a/x` and `a/y` add up in `a`,
    // which then ranks after `b`.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:100");
    c.agent("S1", "cpus:1;mem:100");
    c.framework("X", spec(&["a/x"]));
    c.framework("Y", spec(&["a/y"]));
    c.framework("B", spec(&["b"]));
    let offers = c.allocate();
    // S0 → a/x (a and b tie, a first by creation), S1 → b: `a` now holds
    // S0, so b is below it; a/y gets nothing.
    let got: BTreeSet<_> = offers.iter().map(|o| o.role.to_string()).collect();
    assert_eq!(got, BTreeSet::from(["a/x".to_string(), "b".to_string()]));
    c.agent("S2", "cpus:1;mem:100");
    // a (1 agent) and b (1 agent) tie again; within a, a/y (0) beats a/x.
    let third = one(c.allocate());
    assert_eq!(third.role, role("a/y"));
}

#[test]
fn nested_role_drf_parent_and_child_frameworks() {
    // A framework of `eng` and one of `eng/web` share `eng`'s slot among
    // the top-level roles.
    let mut c = Cluster::new();
    for s in ["S0", "S1", "S2", "S3"] {
        c.agent(s, "cpus:1;mem:100");
    }
    c.framework("ENG", spec(&["eng"]));
    c.framework("WEB", spec(&["eng/web"]));
    c.framework("OPS", spec(&["ops"]));
    let offers = c.allocate();
    let to_ops = offers.iter().filter(|o| o.role == role("ops")).count();
    let to_eng_tree = offers.len() - to_ops;
    assert_eq!((to_eng_tree, to_ops), (2, 2));
    let roles: BTreeSet<_> = offers.iter().map(|o| o.role.to_string()).collect();
    assert!(roles.contains("eng") && roles.contains("eng/web"));
}

// ---- hierarchical_allocator_tests.cpp ---------------------------------------

#[test]
fn unreserved_drf() {
    // UnreservedDRF: each new agent goes to the role, then framework, with
    // the lowest share.
    let mut c = Cluster::new();
    c.framework("F1", spec(&["role1"]));
    c.agent("A1", "cpus:2;mem:1024;disk:0");
    assert_eq!(one(c.allocate()).framework_id, fw("F1"));
    c.framework("F2", spec(&["role2"]));
    c.agent("A2", "cpus:1;mem:512;disk:0");
    assert_eq!(one(c.allocate()).framework_id, fw("F2"));
    // role1 share 2/3 cpus, role2 1/3: role2 again.
    c.agent("A3", "cpus:3;mem:2048;disk:0");
    assert_eq!(one(c.allocate()).framework_id, fw("F2"));
    // role1 3/... within role1 F1 (share 0.33) vs new F3 (0): F3 — but
    // role2 now has 4/6 cpus, role1 2/6: role1, then F3.
    c.framework("F3", spec(&["role1"]));
    c.agent("A4", "cpus:4;mem:4096;disk:0");
    assert_eq!(one(c.allocate()).framework_id, fw("F3"));
}

#[test]
fn reserved_drf_and_reservations_go_to_their_role() {
    // ReservedDRF / Reservations: reserved resources are offered only to
    // their role; unreserved ones to anyone.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512;cpus(db):2;mem(db):256");
    c.framework("WEB", spec(&["web"]));
    let offer = one(c.allocate());
    assert_eq!(offer.resources.scalar("cpus"), 1.0);
    c.framework("DB", spec(&["db"]));
    let offer = one(c.allocate());
    assert_eq!(offer.framework_id, fw("DB"));
    assert_eq!(offer.resources.scalar("cpus"), 2.0);
}

#[test]
fn reservations_to_an_ancestor_are_allocatable_to_descendants() {
    // Resources reserved to `eng` may be offered to `eng/web`, not to
    // `ops`; refined reservations only to RESERVATION_REFINEMENT frameworks.
    let mut c = Cluster::new();
    let eng = dynamic(&res("cpus:2;mem:256"), "eng");
    c.allocator
        .add_agent(&ag("S0"), eng.clone(), BTreeMap::new());
    c.framework("OPS", spec(&["ops"]));
    assert!(c.allocate().is_empty());
    c.framework("WEB", spec(&["eng/web"]));
    let offer = one(c.allocate());
    assert_eq!(offer.framework_id, fw("WEB"));
    assert_eq!(offer.resources.scalar("cpus"), 2.0);

    let refined = dynamic(&eng, "eng/web");
    c.allocator.add_agent(&ag("S1"), refined, BTreeMap::new());
    c.framework("WEB2", spec(&["eng/web"]));
    assert!(c.allocate().iter().all(|o| o.agent_id != ag("S1")));
    let mut capable = spec(&["eng/web"]);
    capable.capabilities.reservation_refinement = true;
    c.framework("WEB3", capable);
    let offer = one(c.allocate());
    assert_eq!((offer.framework_id, offer.agent_id), (fw("WEB3"), ag("S1")));
}

#[test]
fn offer_filter() {
    // OfferFilter: declined resources are not offered to the framework
    // again until the filter expires.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.framework("F0", spec(&["*"]));
    let offer = one(c.allocate());
    c.decline(&offer, Some(Duration::from_secs(5)));
    c.advance(Duration::from_secs(1));
    assert!(c.allocate().is_empty());
    c.advance(Duration::from_secs(3));
    assert!(c.allocate().is_empty());
    c.advance(Duration::from_secs(2));
    assert_eq!(one(c.allocate()).framework_id, fw("F0"));
}

#[test]
fn small_offer_filter_timeout() {
    // SmallOfferFilterTimeout: a filter lasts at least one allocation
    // interval.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.framework("F0", spec(&["*"]));
    let offer = one(c.allocate());
    c.decline(&offer, Some(Duration::from_millis(1)));
    c.advance(Duration::from_millis(500));
    assert!(c.allocate().is_empty());
    c.advance(Duration::from_millis(501));
    assert_eq!(c.allocate().len(), 1);
}

#[test]
fn filtered_framework_lets_others_have_the_agent() {
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.framework("F0", spec(&["*"]));
    let offer = one(c.allocate());
    c.decline(&offer, Some(Duration::from_secs(60)));
    c.framework("F1", spec(&["*"]));
    assert_eq!(one(c.allocate()).framework_id, fw("F1"));
}

#[test]
fn suppress_and_revive_offers() {
    // SuppressAndReviveOffers: a suppressed framework gets nothing, even
    // after its filters expire; REVIVE clears filters and suppression.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.framework("F0", spec(&["*"]));
    let offer = one(c.allocate());
    c.decline(&offer, Some(Duration::from_secs(60)));
    c.allocator.suppress(&fw("F0"), &BTreeSet::new());
    c.advance(Duration::from_secs(120));
    assert!(c.allocate().is_empty());
    c.allocator.revive(&fw("F0"), &BTreeSet::new());
    assert_eq!(c.allocate().len(), 1);
}

#[test]
fn revive_clears_filters_before_expiry() {
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.framework("F0", spec(&["*"]));
    let offer = one(c.allocate());
    c.decline(&offer, Some(Duration::from_secs(3600)));
    assert!(c.allocate().is_empty());
    c.allocator.revive(&fw("F0"), &BTreeSet::new());
    assert_eq!(c.allocate().len(), 1);
}

#[test]
fn multi_role_framework_suppresses_one_role() {
    // A multi-role framework suppressing one role is offered for the other.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.agent("S1", "cpus:1;mem:512");
    c.framework("F0", spec(&["a", "b"]));
    c.allocator.suppress(&fw("F0"), &roles(&["a"]));
    let offers = c.allocate();
    assert_eq!(offers.len(), 2);
    assert!(offers.iter().all(|o| o.role == role("b")));
}

#[test]
fn multi_role_framework_is_offered_per_role() {
    // Offers carry the role they were made for; DRF alternates roles.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.agent("S1", "cpus:1;mem:512");
    c.framework("F0", spec(&["a", "b"]));
    let offers = c.allocate();
    let got: BTreeSet<_> = offers.iter().map(|o| o.role.to_string()).collect();
    assert_eq!(got, BTreeSet::from(["a".to_string(), "b".to_string()]));
    for offer in &offers {
        let roles: Vec<_> = offer.resources.allocations().into_keys().collect();
        assert_eq!(roles, vec![offer.role.to_string()]);
    }
}

#[test]
fn allocatable_min_resources() {
    // Allocatable: leftovers below --min_allocatable_resources stay put.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:0.001;mem:16");
    c.framework("F0", spec(&["*"]));
    assert!(c.allocate().is_empty());
    let explain = c.allocator.explain(c.now);
    let re = &explain.frameworks[&fw("F0")].roles[&role("*")];
    assert_eq!(re.last_cycle.get(&Reason::BelowMinAllocatable), Some(&1));
}

#[test]
fn gpu_resources_only_for_gpu_frameworks() {
    // GPUResources / --filter_gpu_resources.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512;gpus:1");
    c.framework("PLAIN", spec(&["*"]));
    assert!(c.allocate().is_empty());
    let mut gpu = spec(&["*"]);
    gpu.capabilities.gpu_resources = true;
    c.framework("GPU", gpu);
    assert_eq!(one(c.allocate()).framework_id, fw("GPU"));
}

#[test]
fn gpu_filter_disabled_offers_gpu_agents_to_everyone() {
    let mut c = Cluster::with(AllocatorOptions {
        filter_gpu_resources: false,
        ..Default::default()
    });
    c.agent("S0", "cpus:1;mem:512;gpus:1");
    c.framework("PLAIN", spec(&["*"]));
    assert_eq!(c.allocate().len(), 1);
}

#[test]
fn oversubscribed_not_allocated_without_revocable_capability() {
    // OversubscribedNotAllocated / RecoverOversubscribedResources.
    let mut c = Cluster::new();
    let mut revocable: Resources = res("cpus:4")
        .to_vec()
        .into_iter()
        .map(|mut r| {
            r.revocable = Some(RevocableInfo {});
            r
        })
        .collect();
    revocable += res("mem:512");
    c.allocator.add_agent(&ag("S0"), revocable, BTreeMap::new());
    c.framework("PLAIN", spec(&["*"]));
    let offer = one(c.allocate());
    assert_eq!(offer.resources.scalar("cpus"), 0.0);
    assert_eq!(offer.resources.scalar("mem"), 512.0);
    let mut capable = spec(&["*"]);
    capable.capabilities.revocable_resources = true;
    c.framework("REVOCABLE", capable);
    let offer = one(c.allocate());
    assert_eq!(offer.framework_id, fw("REVOCABLE"));
    assert_eq!(offer.resources.scalar("cpus"), 4.0);
}

#[test]
fn recover_resources() {
    // RecoverResources: used resources are not offered until recovered.
    let mut c = Cluster::new();
    let used = allocated(&res("cpus:1;mem:256"), "*");
    c.allocator.add_agent(
        &ag("S0"),
        res("cpus:2;mem:512"),
        BTreeMap::from([(fw("F0"), used.clone())]),
    );
    c.framework("F0", spec(&["*"]));
    let offer = one(c.allocate());
    assert_eq!(offer.resources.scalar("cpus"), 1.0);
    c.allocator
        .recover_resources(&fw("F0"), &ag("S0"), &used, None, c.now);
    assert_eq!(one(c.allocate()).resources.scalar("cpus"), 1.0);
}

#[test]
fn deactivate_and_reactivate_framework() {
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.allocator
        .add_framework(&fw("F0"), spec(&["*"]), BTreeMap::new(), false);
    assert!(c.allocate().is_empty());
    c.allocator.activate_framework(&fw("F0"));
    assert_eq!(c.allocate().len(), 1);
}

#[test]
fn deactivated_and_draining_agents_are_not_offered() {
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.agent("S1", "cpus:1;mem:512");
    c.framework("F0", spec(&["*"]));
    c.allocator.deactivate_agent(&ag("S0"));
    c.allocator.drain_agent(&ag("S1"));
    assert!(c.allocate().is_empty());
    let explain = c.allocator.explain(c.now);
    assert_eq!(
        (explain.deactivated_agents, explain.draining_agents),
        (1, 1)
    );
    c.allocator.activate_agent(&ag("S0"));
    assert_eq!(one(c.allocate()).agent_id, ag("S0"));
}

#[test]
fn remove_framework_returns_everything() {
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.framework("F0", spec(&["*"]));
    assert_eq!(c.allocate().len(), 1);
    c.allocator.remove_framework(&fw("F0"));
    c.framework("F1", spec(&["*"]));
    assert_eq!(one(c.allocate()).framework_id, fw("F1"));
}

#[test]
fn update_framework_unsuppressing_clears_filters() {
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.framework("F0", spec(&["*"]));
    let offer = one(c.allocate());
    c.decline(&offer, Some(Duration::from_secs(60)));
    let mut suppressed = spec(&["*"]);
    suppressed.suppressed_roles = roles(&["*"]);
    c.allocator.update_framework(&fw("F0"), suppressed);
    assert!(c.allocate().is_empty());
    c.allocator.update_framework(&fw("F0"), spec(&["*"]));
    assert_eq!(c.allocate().len(), 1);
}

#[test]
fn update_slave_increases_total() {
    // UpdateSlave: added resources are offered, allocations stay.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.framework("F0", spec(&["*"]));
    assert_eq!(c.allocate().len(), 1);
    c.allocator.update_agent(&ag("S0"), res("cpus:3;mem:512"));
    let offer = one(c.allocate());
    assert_eq!(offer.resources.scalar("cpus"), 2.0);
    assert_eq!(offer.resources.scalar("mem"), 0.0);
}

#[test]
fn update_allocation_reserve_then_offer_only_to_role() {
    // UpdateAllocation: a RESERVE in an ACCEPT turns the framework's
    // unreserved resources into reserved ones; once declined, they are
    // offered only to the role.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:2;mem:512");
    c.framework("F0", spec(&["db"]));
    let offer = one(c.allocate());
    let mut plain = offer.resources.clone();
    plain.unallocate();
    let reserved = allocated(&dynamic(&plain, "db"), "db");
    c.allocator.update_allocation(
        &fw("F0"),
        &ag("S0"),
        &[ResourceConversion {
            consumed: offer.resources.clone(),
            converted: reserved.clone(),
        }],
    );
    c.allocator
        .recover_resources(&fw("F0"), &ag("S0"), &reserved, None, c.now);
    c.framework("OTHER", spec(&["web"]));
    let offer = one(c.allocate());
    assert_eq!(offer.framework_id, fw("F0"));
    assert_eq!(offer.resources.reserved(Some("db")).scalar("cpus"), 2.0);
}

#[test]
fn update_available_success_and_fail() {
    // UpdateAvailableSuccess / UpdateAvailableFail: operator RESERVE on
    // free resources; refused when they are offered.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:2;mem:512");
    let free = res("cpus:1;mem:256");
    let ok = c.allocator.update_available(
        &ag("S0"),
        &[ResourceConversion {
            consumed: free.clone(),
            converted: dynamic(&free, "db"),
        }],
    );
    assert!(ok.is_ok());
    c.framework("WEB", spec(&["web"]));
    let offer = one(c.allocate());
    assert_eq!(offer.resources.scalar("cpus"), 1.0);
    let refused = c.allocator.update_available(
        &ag("S0"),
        &[ResourceConversion {
            consumed: res("cpus:1;mem:256"),
            converted: dynamic(&res("cpus:1;mem:256"), "db"),
        }],
    );
    assert!(refused.is_err());
}

#[test]
fn quota_provides_guarantee() {
    // QuotaProvidesGuarantee: a quota role gets its guarantee first even
    // when a non-quota role has a lower share.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:2;mem:1024");
    c.agent("S1", "cpus:2;mem:1024");
    c.framework("NOQUOTA", spec(&["noquota"]));
    let offers = c.allocate();
    assert_eq!(offers.len(), 2);
    for offer in &offers {
        c.decline(offer, None);
    }
    c.allocator.update_quota(
        &role("quota"),
        Quota {
            guarantees: BTreeMap::from([("cpus".into(), 2.0), ("mem".into(), 1024.0)]),
            limits: BTreeMap::new(),
        },
    );
    c.framework("QUOTA", spec(&["quota"]));
    let offers = c.allocate();
    let quota_cpus: f64 = offers
        .iter()
        .filter(|o| o.framework_id == fw("QUOTA"))
        .map(|o| o.resources.scalar("cpus"))
        .sum();
    assert!(quota_cpus >= 2.0, "{offers:?}");
}

#[test]
fn quota_allocation_granularity_chops_to_the_guarantee() {
    // QuotaAllocationGranularity / LargeAndSmallQuota chopping: a role with
    // quota `cpus:1;mem:512` of a `cpus:2;mem:1024` agent is offered its
    // guarantee in stage 1, and the rest goes to the other role.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:2;mem:1024");
    c.allocator.update_quota(
        &role("small"),
        Quota::guarantee_and_limit(BTreeMap::from([
            ("cpus".into(), 1.0),
            ("mem".into(), 512.0),
        ])),
    );
    c.framework("SMALL", spec(&["small"]));
    c.framework("OTHER", spec(&["other"]));
    let offers = c.allocate();
    assert_eq!(offers.len(), 2, "{offers:?}");
    let small = offers
        .iter()
        .find(|o| o.framework_id == fw("SMALL"))
        .expect("small offered");
    assert_eq!(small.resources.scalar("cpus"), 1.0);
    assert_eq!(small.resources.scalar("mem"), 512.0);
}

#[test]
fn quota_limit_caps_allocation() {
    // A role at its limit gets nothing more; explain says so.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:4;mem:4096");
    c.agent("S1", "cpus:4;mem:4096");
    c.allocator.update_quota(
        &role("capped"),
        Quota {
            guarantees: BTreeMap::new(),
            limits: BTreeMap::from([("cpus".into(), 2.0), ("mem".into(), 2048.0)]),
        },
    );
    c.framework("F0", spec(&["capped"]));
    let offers = c.allocate();
    let cpus: f64 = offers.iter().map(|o| o.resources.scalar("cpus")).sum();
    assert_eq!(cpus, 2.0, "{offers:?}");
    let explain = c.allocator.explain(c.now);
    let re = &explain.frameworks[&fw("F0")].roles[&role("capped")];
    assert!(re.quota_limit_reached);
    // The rest of S0 and all of S1 were kept from it.
    assert_eq!(re.last_cycle.get(&Reason::QuotaLimitReached), Some(&2));
    // Removing the quota lifts the cap: the rest of both agents.
    c.allocator.update_quota(&role("capped"), Quota::default());
    let cpus: f64 = c
        .allocate()
        .iter()
        .map(|o| o.resources.scalar("cpus"))
        .sum();
    assert_eq!(cpus, 6.0);
}

#[test]
fn nested_role_quota_limit_applies_to_children() {
    // A limit on `eng` caps `eng/web` as well.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:4;mem:4096");
    c.allocator.update_quota(
        &role("eng"),
        Quota {
            guarantees: BTreeMap::new(),
            limits: BTreeMap::from([("cpus".into(), 1.0)]),
        },
    );
    c.framework("WEB", spec(&["eng/web"]));
    let offer = one(c.allocate());
    assert_eq!(offer.resources.scalar("cpus"), 1.0);
}

#[test]
fn quota_headroom_is_held_for_unsatisfied_guarantees() {
    // QuotaAgainstStarvation / headroom: with a guarantee no framework of
    // the quota role can use yet, others do not get the resources it needs.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:2;mem:1024");
    c.agent("S1", "cpus:2;mem:1024");
    c.allocator.update_quota(
        &role("quota"),
        Quota {
            guarantees: BTreeMap::from([("cpus".into(), 2.0), ("mem".into(), 1024.0)]),
            limits: BTreeMap::new(),
        },
    );
    c.framework("NOQUOTA", spec(&["noquota"]));
    let offers = c.allocate();
    let cpus: f64 = offers.iter().map(|o| o.resources.scalar("cpus")).sum();
    assert_eq!(cpus, 2.0, "{offers:?}");
    let explain = c.allocator.explain(c.now);
    let re = &explain.frameworks[&fw("NOQUOTA")].roles[&role("noquota")];
    assert!(re.last_cycle.contains_key(&Reason::HeldForQuotaGuarantees));
}

#[test]
fn reservation_within_quota_counts_against_guarantee() {
    // ReservationWithinQuota: reservations count as consumed quota, so a
    // role whose reservations cover its guarantee takes no headroom.
    let mut c = Cluster::new();
    c.agent("S0", "cpus(quota):2;mem(quota):1024");
    c.agent("S1", "cpus:2;mem:1024");
    c.allocator.update_quota(
        &role("quota"),
        Quota {
            guarantees: BTreeMap::from([("cpus".into(), 2.0), ("mem".into(), 1024.0)]),
            limits: BTreeMap::new(),
        },
    );
    c.framework("OTHER", spec(&["other"]));
    let offer = one(c.allocate());
    assert_eq!(offer.agent_id, ag("S1"));
}

#[test]
fn explain_reports_filters_suppression_and_drf() {
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:512");
    c.framework("F0", spec(&["*"]));
    c.framework("F1", spec(&["*"]));
    c.framework("F2", spec(&["*"]));
    c.allocator.suppress(&fw("F2"), &BTreeSet::new());
    let offer = one(c.allocate());
    assert_eq!(offer.framework_id, fw("F0"));
    let explain = c.allocator.explain(c.now);
    let f1 = &explain.frameworks[&fw("F1")].roles[&role("*")];
    assert_eq!(f1.last_cycle.get(&Reason::DrfShareAboveOthers), Some(&1));
    let f2 = &explain.frameworks[&fw("F2")].roles[&role("*")];
    assert!(f2.suppressed);
    c.decline(&offer, Some(Duration::from_secs(10)));
    let offer = one(c.allocate());
    assert_eq!(offer.framework_id, fw("F1"));
    let explain = c.allocator.explain(c.now);
    let f0 = &explain.frameworks[&fw("F0")].roles[&role("*")];
    assert_eq!(f0.filtered_agents, 1);
    assert_eq!(f0.filtered_until, Some(c.now + Duration::from_secs(10)));
    assert_eq!(f0.last_cycle.get(&Reason::Filtered), Some(&1));
    assert_eq!(f0.offers_total, 1);
}

#[test]
fn cycle_visits_only_changed_agents() {
    // Work proportional to what changed: after a full cycle, one recovery
    // makes the next cycle visit one agent.
    let mut c = Cluster::new();
    for i in 0..50 {
        c.agent(&format!("S{i}"), "cpus:1;mem:512");
    }
    c.framework("F0", spec(&["*"]));
    let offers = c.allocate();
    assert_eq!(offers.len(), 50);
    assert!(!c.allocator.has_pending());
    c.decline(&offers[7], None);
    assert!(c.allocator.has_pending());
    assert_eq!(one(c.allocate()).agent_id, offers[7].agent_id);
    assert_eq!(c.allocator.explain(c.now).last_cycle_agents, 1);
}

#[test]
fn chunked_cycles_leave_the_rest_pending() {
    let mut c = Cluster::with(AllocatorOptions {
        max_agents_per_cycle: 10,
        ..Default::default()
    });
    for i in 0..25 {
        c.agent(&format!("S{i}"), "cpus:1;mem:512");
    }
    c.framework("F0", spec(&["*"]));
    let mut total = 0;
    let mut calls = 0;
    loop {
        total += c.allocate().len();
        calls += 1;
        if !c.allocator.has_pending() {
            break;
        }
    }
    assert_eq!((total, calls), (25, 3));
}

// ---- allocator metrics -----------------------------------------------------

fn metrics(c: &Cluster) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    c.allocator.metrics(c.now, &mut out);
    out
}

fn share(c: &Cluster, role: &str) -> Option<f64> {
    metrics(c)
        .get(&format!("allocator/mesos/roles/{role}/shares/dominant"))
        .copied()
}

#[test]
fn dominant_share_metrics() {
    // DominantShareMetrics: a role's gauge follows what its frameworks
    // hold against the cluster, and goes with its last framework.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:1;mem:1024");
    c.framework("F1", spec(&["roleA"]));
    let offer = one(c.allocate());
    assert_eq!(share(&c, "roleA"), Some(1.0));

    // Declined (filtered, so the agent can only go to roleB next).
    c.decline(&offer, Some(Duration::from_secs(3600)));
    assert_eq!(share(&c, "roleA"), Some(0.0));
    let filters = metrics(&c);
    assert_eq!(
        filters.get("allocator/mesos/offer_filters/roles/roleA/active"),
        Some(&1.0)
    );

    c.framework("F2", spec(&["roleB"]));
    assert_eq!(one(c.allocate()).framework_id, fw("F2"));
    assert_eq!(share(&c, "roleA"), Some(0.0));
    assert_eq!(share(&c, "roleB"), Some(1.0));

    c.agent("S1", "cpus:1;mem:1024");
    assert_eq!(one(c.allocate()).framework_id, fw("F1"));
    assert_eq!(share(&c, "roleA"), Some(0.5));
    assert_eq!(share(&c, "roleB"), Some(0.5));

    c.allocator.remove_framework(&fw("F2"));
    assert_eq!(share(&c, "roleA"), Some(0.5));
    assert_eq!(share(&c, "roleB"), None);
}

#[test]
fn quota_metrics_of_a_parent_role_count_its_subroles_consumption() {
    // Quota consumption is the subtree's (upstream `quotaConsumed`), while
    // `offered_or_allocated` and the dominant share are the role's own.
    let mut c = Cluster::new();
    c.agent("S0", "cpus:4;mem:1024");
    c.allocator.update_quota(
        &role("eng"),
        Quota {
            guarantees: BTreeMap::from([("cpus".to_string(), 1.0)]),
            limits: BTreeMap::from([("cpus".to_string(), 2.0)]),
        },
    );
    c.framework("WEB", spec(&["eng/web"]));
    // Stage 1 (the guarantee) and stage 2 (up to the limit) both offer.
    let offers = c.allocate();
    assert!(
        offers.iter().all(|o| o.role == role("eng/web")),
        "{offers:?}"
    );
    let m = metrics(&c);
    let eng = "allocator/mesos/quota/roles/eng/resources";
    assert_eq!(m.get(&format!("{eng}/cpus/guarantee")), Some(&1.0));
    assert_eq!(m.get(&format!("{eng}/cpus/limit")), Some(&2.0));
    assert_eq!(m.get(&format!("{eng}/cpus/consumed")), Some(&2.0));
    assert_eq!(
        m.get(&format!("{eng}/cpus/offered_or_allocated")),
        Some(&0.0)
    );
    assert_eq!(
        m.get("allocator/mesos/quota/roles/eng/web/resources/cpus/consumed"),
        Some(&2.0)
    );
    // `eng` has no framework of its own: no share gauge, but its filters
    // gauge exists as the role does.
    assert_eq!(share(&c, "eng"), None);
    // All the memory (no limit on it), half the cpus.
    assert_eq!(share(&c, "eng/web"), Some(1.0));
    assert_eq!(
        m.get("allocator/mesos/offer_filters/roles/eng/active"),
        Some(&0.0)
    );
}
