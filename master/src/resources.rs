//! The master's resource quantities: upstream `ResourceQuantities` (how
//! much of each resource name, whatever its reservation) and the
//! `--min_allocatable_resources` flag built on them.
//!
//! Resource arithmetic is `mesos_proto::resources::Resources`'s and the
//! legacy JSON form is `mesos_proto::legacy_json`'s; callers use them
//! directly. This module never decides policy (that is the allocator's).

use std::collections::BTreeMap;

use mesos_proto::mesos::v1::value::Type as ValueType;
use mesos_proto::mesos::v1::Resource;

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
    use mesos_proto::mesos::v1::resource::ReservationInfo;
    use mesos_proto::mesos::v1::value::{Range, Ranges, Scalar, Type as ValueType};
    use mesos_proto::mesos::v1::Resource;
    use mesos_proto::resources::Resources;

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
            ranges: Some(Box::new(Ranges {
                range: spans
                    .iter()
                    .map(|(b, e)| Range { begin: *b, end: *e })
                    .collect(),
            })),
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
        Resources::from(vec![
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
}
