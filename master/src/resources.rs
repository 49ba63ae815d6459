//! The master's view of resources: allocation roles, reservations and
//! quantities.
//!
//! Arithmetic (sum, difference, containment) is `mesos_proto::resources`'s
//! and the legacy JSON form (`{"cpus":1.0,...}`) is
//! `mesos_proto::legacy_json`'s; this module only adds the master-specific
//! projections on top of them and never decides policy (that is the
//! allocator's and the actor's job).

use std::collections::BTreeMap;

use mesos_proto::mesos::v1::value::Type as ValueType;
use mesos_proto::mesos::v1::Resource;
pub use mesos_proto::resources::Resources;

/// Builds a `Resources` from raw protobuf resources in either format
/// (pre-refinement input is upgraded; invalid entries are dropped, so
/// validate first where the sender must hear about it).
pub fn from_vec(resources: Vec<Resource>) -> Resources {
    Resources::from(resources)
}

/// The raw protobuf resources (post-refinement format).
pub fn to_vec(resources: &Resources) -> Vec<Resource> {
    resources.iter().cloned().collect()
}

/// `a + b`.
pub fn sum(a: &Resources, b: &Resources) -> Resources {
    a + b
}

/// `a - b` (never negative: what is not in `a` is ignored).
pub fn difference(a: &Resources, b: &Resources) -> Resources {
    a - b
}

/// Whether `a` contains `b`.
pub fn contains(a: &Resources, b: &Resources) -> bool {
    a.contains(b)
}

/// Keeps the resources for which `keep` holds.
pub fn filter(resources: &Resources, keep: impl Fn(&Resource) -> bool) -> Resources {
    resources.filter(keep)
}

/// The same resources marked as allocated to `role`.
pub fn allocate_to(resources: &Resources, role: &str) -> Resources {
    let mut out = resources.clone();
    out.allocate(role);
    out
}

/// The same resources without allocation info (the agent's own view).
pub fn unallocated(resources: &Resources) -> Resources {
    let mut out = resources.clone();
    out.unallocate();
    out
}

pub use mesos_proto::resources::{is_allocatable_to, is_revocable, reservation_role};

/// The allocation role of the first resource (tasks and executors never mix
/// roles, MESOS-6636); the same rule the legacy task model uses.
pub use mesos_proto::legacy_json::allocation_role;

/// Scalar amount of `name` (0 when absent).
pub fn scalar(resources: &Resources, name: &str) -> f64 {
    scalar_of(resources.iter(), name)
}

/// Scalar amount of `name` in a raw resource list.
pub fn scalar_of<'a>(resources: impl IntoIterator<Item = &'a Resource>, name: &str) -> f64 {
    resources
        .into_iter()
        .filter(|r| r.name == name && r.r#type == ValueType::Scalar as i32)
        .filter_map(|r| r.scalar.as_ref())
        .map(|s| s.value)
        .fold(0.0, |total, value| total + value)
}

/// Quantities by name: scalar value, number of range elements, or set size
/// (upstream `ResourceQuantities`).
pub fn quantities<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for resource in resources {
        let amount = if resource.r#type == ValueType::Scalar as i32 {
            resource.scalar.as_ref().map_or(0.0, |s| s.value)
        } else if resource.r#type == ValueType::Ranges as i32 {
            resource.ranges.as_ref().map_or(0.0, |ranges| {
                ranges
                    .range
                    .iter()
                    .map(|r| r.end.saturating_sub(r.begin) as f64 + 1.0)
                    .fold(0.0, |total, value| total + value)
            })
        } else if resource.r#type == ValueType::Set as i32 {
            resource.set.as_ref().map_or(0.0, |s| s.item.len() as f64)
        } else {
            0.0
        };
        *out.entry(resource.name.clone()).or_default() += amount;
    }
    out
}

/// Parses `--min_allocatable_resources` (`cpus:0.01|mem:32;ports:1`): a
/// list of alternatives, each a set of minimum quantities.
pub fn parse_min_allocatable(text: &str) -> Result<Vec<BTreeMap<String, f64>>, String> {
    let mut alternatives = Vec::new();
    for alternative in text.split('|') {
        let mut quantities = BTreeMap::new();
        for item in alternative.split(';').filter(|i| !i.trim().is_empty()) {
            let (name, amount) = item
                .split_once(':')
                .ok_or_else(|| format!("Invalid resource quantity '{item}'"))?;
            let amount: f64 = amount
                .trim()
                .parse()
                .map_err(|_| format!("Invalid quantity in '{item}'"))?;
            if amount.is_nan() || amount < 0.0 || !amount.is_finite() {
                return Err(format!("Invalid quantity in '{item}'"));
            }
            quantities.insert(name.trim().to_string(), amount);
        }
        if quantities.is_empty() {
            return Err(format!(
                "Invalid --min_allocatable_resources '{text}': empty alternative"
            ));
        }
        alternatives.push(quantities);
    }
    Ok(alternatives)
}

#[cfg(test)]
pub mod testing {
    //! Builders for tests across the crate.
    use super::*;
    use mesos_proto::mesos::v1::resource::ReservationInfo;
    use mesos_proto::mesos::v1::value::{Range, Ranges, Scalar};

    pub fn scalar_resource(name: &str, value: f64) -> Resource {
        Resource {
            name: name.to_string(),
            r#type: ValueType::Scalar as i32,
            scalar: Some(Scalar { value }),
            ..Default::default()
        }
    }

    pub fn ranges_resource(name: &str, spans: &[(u64, u64)]) -> Resource {
        Resource {
            name: name.to_string(),
            r#type: ValueType::Ranges as i32,
            ranges: Some(Ranges {
                range: spans
                    .iter()
                    .map(|(b, e)| Range { begin: *b, end: *e })
                    .collect(),
            }),
            ..Default::default()
        }
    }

    pub fn reserved(mut resource: Resource, role: &str) -> Resource {
        resource.reservations.push(ReservationInfo {
            r#type: Some(mesos_proto::mesos::v1::resource::reservation_info::Type::Static as i32),
            role: Some(role.to_string()),
            ..Default::default()
        });
        resource
    }

    /// `cpus` and `mem` unreserved.
    pub fn cpus_mem(cpus: f64, mem: f64) -> Resources {
        from_vec(vec![
            scalar_resource("cpus", cpus),
            scalar_resource("mem", mem),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn allocatable_follows_role_tree() {
        let plain = scalar_resource("cpus", 1.0);
        let for_a = reserved(scalar_resource("cpus", 1.0), "a");
        assert!(is_allocatable_to(&plain, "x"));
        assert!(is_allocatable_to(&for_a, "a"));
        assert!(is_allocatable_to(&for_a, "a/b"));
        assert!(!is_allocatable_to(&for_a, "ab"));
        assert!(!is_allocatable_to(&for_a, "*"));
    }

    #[test]
    fn quantities_count_ranges() {
        let q = quantities(&[
            scalar_resource("cpus", 1.5),
            ranges_resource("ports", &[(1, 10), (20, 20)]),
        ]);
        assert_eq!(q["cpus"], 1.5);
        assert_eq!(q["ports"], 11.0);
    }

    #[test]
    fn min_allocatable_parses() {
        let parsed = parse_min_allocatable("cpus:0.01|mem:32;ports:1").unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1]["ports"], 1.0);
        assert!(parse_min_allocatable("cpus").is_err());
    }

    #[test]
    fn arithmetic_round_trip() {
        let total = cpus_mem(4.0, 4096.0);
        let part = cpus_mem(1.0, 1024.0);
        let rest = difference(&total, &part);
        assert!(contains(&total, &part));
        assert_eq!(scalar(&rest, "cpus"), 3.0);
        assert_eq!(scalar(&sum(&rest, &part), "mem"), 4096.0);
        let allocated = allocate_to(&part, "r");
        assert_eq!(allocation_role(&to_vec(&allocated)), Some("r"));
        assert_eq!(unallocated(&allocated), part);
    }
}
