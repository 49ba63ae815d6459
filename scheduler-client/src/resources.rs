//! Picking task resources out of offers.
//!
//! Owns the small part of upstream's `Resources` a simple framework needs:
//! parsing the text form schedulers take as a flag (`cpus:1;mem:128;
//! ports:[31000-31001]`, optionally `cpus(role):1`) and carving requests out
//! of an offer, keeping each taken piece's reservation and allocation
//! metadata so the master accepts it. It never touches persistent volumes,
//! disk sources, shared or revocable resources (plain resources only), and it
//! is not the general resource arithmetic (`mesos_proto::resources` is).

use mesos_proto::mesos::v1::{value, Resource};

use crate::Error;

/// Upstream compares scalars in fixed point with three decimals.
const EPSILON: f64 = 0.0005;

/// One requested resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRequest {
    /// `cpus`, `mem`, `ports`, ...
    pub name: String,
    /// `cpus(role):1` asks for resources reserved to `role` only.
    pub role: Option<String>,
    /// How much.
    pub value: Amount,
}

/// The quantity of a [`ResourceRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum Amount {
    /// `cpus:1.5`
    Scalar(f64),
    /// `ports:[31000-31001,31005-31005]` (inclusive bounds)
    Ranges(Vec<(u64, u64)>),
    /// `zones:{a,b}`
    Set(Vec<String>),
}

/// Parses upstream's text form: `name[(role)]:value` separated by `;`, where
/// a value is a number, `[a-b,...]` ranges or a `{x,y}` set.
pub fn parse(text: &str) -> Result<Vec<ResourceRequest>, Error> {
    let bad = |part: &str, why: &str| Error::Invalid(format!("Bad resource '{part}': {why}"));
    let mut requests: Vec<ResourceRequest> = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, raw) = part
            .split_once(':')
            .ok_or_else(|| bad(part, "expected 'name:value'"))?;
        let key = key.trim();
        let (name, role) = match key.split_once('(') {
            Some((name, rest)) => {
                let role = rest
                    .strip_suffix(')')
                    .ok_or_else(|| bad(part, "unterminated '(role)'"))?;
                (name.trim(), Some(role.trim().to_string()))
            }
            None => (key, None),
        };
        if name.is_empty() {
            return Err(bad(part, "empty name"));
        }
        let raw = raw.trim();
        let value = if let Some(inner) = raw.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| bad(part, "unterminated '['"))?;
            let mut ranges = Vec::new();
            for range in inner.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                let (begin, end) = range
                    .split_once('-')
                    .ok_or_else(|| bad(part, "a range must be 'begin-end'"))?;
                let begin: u64 = begin
                    .trim()
                    .parse()
                    .map_err(|_| bad(part, "a range bound is not a number"))?;
                let end: u64 = end
                    .trim()
                    .parse()
                    .map_err(|_| bad(part, "a range bound is not a number"))?;
                if begin > end {
                    return Err(bad(part, "a range ends before it begins"));
                }
                ranges.push((begin, end));
            }
            Amount::Ranges(ranges)
        } else if let Some(inner) = raw.strip_prefix('{') {
            let inner = inner
                .strip_suffix('}')
                .ok_or_else(|| bad(part, "unterminated '{'"))?;
            Amount::Set(
                inner
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            )
        } else {
            let scalar: f64 = raw
                .parse()
                .map_err(|_| bad(part, "the value is not a number, ranges or a set"))?;
            if !scalar.is_finite() || scalar < 0.0 {
                return Err(bad(part, "a scalar must be a non-negative number"));
            }
            Amount::Scalar(scalar)
        };
        // Upstream adds up repeated scalars (`cpus:1;cpus:1` is 2 cpus).
        match (
            requests
                .iter_mut()
                .find(|r| r.name == name && r.role == role),
            &value,
        ) {
            (Some(existing), Amount::Scalar(more)) => {
                if let Amount::Scalar(total) = &mut existing.value {
                    *total += more;
                } else {
                    return Err(bad(part, "mixes value types for one name"));
                }
            }
            (Some(_), _) => return Err(bad(part, "repeats a non-scalar resource")),
            (None, _) => requests.push(ResourceRequest {
                name: name.to_string(),
                role,
                value,
            }),
        }
    }
    Ok(requests)
}

/// Plain unreserved resources for `requests` (what `TaskInfo.resources`
/// looks like before it is matched against an offer).
pub fn to_resources(requests: &[ResourceRequest]) -> Vec<Resource> {
    requests
        .iter()
        .map(|r| {
            let mut resource = Resource {
                name: r.name.clone(),
                ..Default::default()
            };
            set_amount(&mut resource, &r.value);
            resource
        })
        .collect()
}

/// The requests that ask for exactly `resources` (for a `TaskInfo` given
/// whole, e.g. `mesos-execute --task`). A reservation becomes a role request.
pub fn requests_from_resources(resources: &[Resource]) -> Result<Vec<ResourceRequest>, Error> {
    resources
        .iter()
        .map(|r| {
            let value = match value::Type::try_from(r.r#type) {
                Ok(value::Type::Scalar) => {
                    Amount::Scalar(r.scalar.as_ref().map_or(0.0, |s| s.value))
                }
                Ok(value::Type::Ranges) => Amount::Ranges(
                    r.ranges
                        .iter()
                        .flat_map(|rs| rs.range.iter().map(|x| (x.begin, x.end)))
                        .collect(),
                ),
                Ok(value::Type::Set) => {
                    Amount::Set(r.set.as_ref().map(|s| s.item.clone()).unwrap_or_default())
                }
                _ => {
                    return Err(Error::Invalid(format!(
                        "resource '{}' has an unsupported type",
                        r.name
                    )))
                }
            };
            Ok(ResourceRequest {
                name: r.name.clone(),
                role: reservation_role(r),
                value,
            })
        })
        .collect()
}

/// The part of an offer not yet given to tasks.
#[derive(Debug, Clone)]
pub struct OfferResources {
    remaining: Vec<Resource>,
}

impl OfferResources {
    /// Starts from everything the offer holds.
    pub fn new(offered: &[Resource]) -> OfferResources {
        OfferResources {
            remaining: offered.to_vec(),
        }
    }

    /// The total of scalar `name` still available (any reservation).
    pub fn scalar(&self, name: &str) -> f64 {
        self.remaining
            .iter()
            .filter(|r| r.name == name)
            .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
            .sum()
    }

    /// What is left.
    pub fn remaining(&self) -> &[Resource] {
        &self.remaining
    }

    /// Takes all of `requests` or nothing. Resources reserved to
    /// `framework_role` are used first, then unreserved ones; with role `*`
    /// anything offered is usable. The pieces keep the offered resource's
    /// role, reservations and allocation info.
    pub fn take(
        &mut self,
        requests: &[ResourceRequest],
        framework_role: &str,
    ) -> Option<Vec<Resource>> {
        let mut pool = self.remaining.clone();
        let mut taken = Vec::new();
        for request in requests {
            let order = candidates(&pool, request, framework_role);
            match &request.value {
                Amount::Scalar(wanted) => {
                    let mut needed = *wanted;
                    for index in order {
                        if needed <= EPSILON {
                            break;
                        }
                        let available = pool[index].scalar.as_ref().map_or(0.0, |s| s.value);
                        let amount = available.min(needed);
                        if amount <= EPSILON {
                            continue;
                        }
                        let mut piece = pool[index].clone();
                        piece.scalar = Some(value::Scalar {
                            value: round(amount),
                        });
                        taken.push(piece);
                        pool[index].scalar = Some(value::Scalar {
                            value: round(available - amount),
                        });
                        needed -= amount;
                    }
                    if needed > EPSILON {
                        return None;
                    }
                }
                Amount::Ranges(wanted) => {
                    for &(begin, end) in wanted {
                        let index = order.iter().copied().find(|&i| {
                            pool[i].ranges.as_ref().is_some_and(|r| {
                                r.range.iter().any(|x| x.begin <= begin && end <= x.end)
                            })
                        })?;
                        let mut piece = pool[index].clone();
                        piece.ranges = Some(value::Ranges {
                            range: vec![value::Range { begin, end }],
                        });
                        taken.push(piece);
                        if let Some(ranges) = pool[index].ranges.as_mut() {
                            ranges.range = remove_range(&ranges.range, begin, end);
                        }
                    }
                }
                Amount::Set(wanted) => {
                    for item in wanted {
                        let index = order.iter().copied().find(|&i| {
                            pool[i].set.as_ref().is_some_and(|s| s.item.contains(item))
                        })?;
                        let mut piece = pool[index].clone();
                        piece.set = Some(value::Set {
                            item: vec![item.clone()],
                        });
                        taken.push(piece);
                        if let Some(set) = pool[index].set.as_mut() {
                            set.item.retain(|i| i != item);
                        }
                    }
                }
            }
        }
        pool.retain(|r| !is_empty(r));
        self.remaining = pool;
        Some(taken)
    }
}

/// Indices of usable resources for `request`, most preferred first.
fn candidates(pool: &[Resource], request: &ResourceRequest, framework_role: &str) -> Vec<usize> {
    let plain = |r: &Resource| {
        r.name == request.name
            && r.disk.is_none()
            && r.shared.is_none()
            && r.revocable.is_none()
            && r.provider_id.is_none()
            && r.r#type == value_type(&request.value) as i32
    };
    let usable: Vec<usize> = (0..pool.len()).filter(|&i| plain(&pool[i])).collect();
    if let Some(role) = &request.role {
        return usable
            .into_iter()
            .filter(|&i| reservation_role(&pool[i]).as_deref() == Some(role.as_str()))
            .collect();
    }
    let mut ordered: Vec<usize> = Vec::new();
    if framework_role != "*" {
        ordered.extend(
            usable
                .iter()
                .copied()
                .filter(|&i| reservation_role(&pool[i]).as_deref() == Some(framework_role)),
        );
    }
    ordered.extend(
        usable
            .iter()
            .copied()
            .filter(|&i| reservation_role(&pool[i]).is_none()),
    );
    if framework_role == "*" {
        ordered.extend(
            usable
                .iter()
                .copied()
                .filter(|&i| reservation_role(&pool[i]).is_some()),
        );
    }
    ordered
}

/// The role a resource is reserved to (either format), or None if unreserved.
fn reservation_role(resource: &Resource) -> Option<String> {
    if let Some(last) = resource.reservations.last() {
        return last.role.clone();
    }
    #[allow(deprecated)] // Pre-refinement offers still carry `role`.
    let role = resource.role.as_deref();
    match role {
        Some(role) if role != "*" => Some(role.to_string()),
        _ => None,
    }
}

fn value_type(amount: &Amount) -> value::Type {
    match amount {
        Amount::Scalar(_) => value::Type::Scalar,
        Amount::Ranges(_) => value::Type::Ranges,
        Amount::Set(_) => value::Type::Set,
    }
}

fn set_amount(resource: &mut Resource, amount: &Amount) {
    resource.r#type = value_type(amount) as i32;
    match amount {
        Amount::Scalar(v) => resource.scalar = Some(value::Scalar { value: *v }),
        Amount::Ranges(ranges) => {
            resource.ranges = Some(value::Ranges {
                range: ranges
                    .iter()
                    .map(|&(begin, end)| value::Range { begin, end })
                    .collect(),
            })
        }
        Amount::Set(items) => {
            resource.set = Some(value::Set {
                item: items.clone(),
            })
        }
    }
}

fn is_empty(resource: &Resource) -> bool {
    match value::Type::try_from(resource.r#type) {
        Ok(value::Type::Scalar) => resource.scalar.as_ref().is_none_or(|s| s.value <= EPSILON),
        Ok(value::Type::Ranges) => resource.ranges.as_ref().is_none_or(|r| r.range.is_empty()),
        Ok(value::Type::Set) => resource.set.as_ref().is_none_or(|s| s.item.is_empty()),
        _ => false,
    }
}

fn remove_range(ranges: &[value::Range], begin: u64, end: u64) -> Vec<value::Range> {
    let mut out = Vec::new();
    for r in ranges {
        if r.end < begin || r.begin > end {
            out.push(*r);
            continue;
        }
        if r.begin < begin {
            out.push(value::Range {
                begin: r.begin,
                end: begin - 1,
            });
        }
        if r.end > end {
            out.push(value::Range {
                begin: end + 1,
                end: r.end,
            });
        }
    }
    out
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::resource::{reservation_info, ReservationInfo};

    fn scalar(name: &str, v: f64) -> Resource {
        let mut r = Resource {
            name: name.to_string(),
            ..Default::default()
        };
        set_amount(&mut r, &Amount::Scalar(v));
        r
    }

    #[test]
    fn parses_the_flag_form() {
        let parsed =
            parse("cpus:1;mem:128; ports:[31000-31001, 31005-31005];zones:{a,b};gpus(ml):2")
                .unwrap();
        assert_eq!(parsed.len(), 5);
        assert_eq!(parsed[0].value, Amount::Scalar(1.0));
        assert_eq!(
            parsed[2].value,
            Amount::Ranges(vec![(31000, 31001), (31005, 31005)])
        );
        assert_eq!(parsed[3].value, Amount::Set(vec!["a".into(), "b".into()]));
        assert_eq!(parsed[4].role.as_deref(), Some("ml"));
        assert_eq!(
            parse("cpus:1;cpus:0.5").unwrap()[0].value,
            Amount::Scalar(1.5)
        );
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "cpus",
            "cpus:x",
            "ports:[5-1]",
            "ports:[1-2",
            "cpus(r:1",
            ":1",
            "cpus:-1",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn takes_all_or_nothing() {
        let mut offer = OfferResources::new(&[scalar("cpus", 1.0), scalar("mem", 100.0)]);
        let small = parse("cpus:0.3;mem:40").unwrap();
        assert!(offer.take(&small, "*").is_some());
        assert!(offer.take(&small, "*").is_some());
        // 0.4 cpus and 20 mem left: mem does not fit, so nothing is taken.
        assert!(offer.take(&small, "*").is_none());
        assert!((offer.scalar("cpus") - 0.4).abs() < 1e-9);
        assert!((offer.scalar("mem") - 20.0).abs() < 1e-9);
    }

    #[test]
    fn packs_many_small_tasks() {
        let mut offer = OfferResources::new(&[scalar("cpus", 2.0), scalar("mem", 1000.0)]);
        let tiny = parse("cpus:0.01;mem:1").unwrap();
        let mut n = 0;
        while offer.take(&tiny, "*").is_some() {
            n += 1;
        }
        assert_eq!(n, 200);
    }

    #[test]
    fn prefers_the_framework_reservation_and_keeps_metadata() {
        let mut reserved = scalar("cpus", 1.0);
        reserved.reservations = vec![ReservationInfo {
            r#type: Some(reservation_info::Type::Static as i32),
            role: Some("web".into()),
            ..Default::default()
        }];
        let mut offer = OfferResources::new(&[scalar("cpus", 4.0), reserved]);
        let taken = offer.take(&parse("cpus:1.5").unwrap(), "web").unwrap();
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].reservations.len(), 1);
        assert_eq!(taken[0].scalar.as_ref().unwrap().value, 1.0);
        assert!(taken[1].reservations.is_empty());
        assert_eq!(taken[1].scalar.as_ref().unwrap().value, 0.5);
    }

    #[test]
    fn a_role_request_uses_only_that_reservation() {
        let mut offer = OfferResources::new(&[scalar("cpus", 4.0)]);
        assert!(offer.take(&parse("cpus(web):1").unwrap(), "*").is_none());
    }

    #[test]
    fn carves_port_ranges() {
        let mut ports = Resource {
            name: "ports".into(),
            ..Default::default()
        };
        set_amount(&mut ports, &Amount::Ranges(vec![(31000, 31010)]));
        let mut offer = OfferResources::new(&[ports]);
        let taken = offer
            .take(&parse("ports:[31002-31003]").unwrap(), "*")
            .unwrap();
        assert_eq!(taken[0].ranges.as_ref().unwrap().range[0].begin, 31002);
        let left = &offer.remaining()[0].ranges.as_ref().unwrap().range;
        assert_eq!(
            left.iter().map(|r| (r.begin, r.end)).collect::<Vec<_>>(),
            vec![(31000, 31001), (31004, 31010)]
        );
        assert!(offer
            .take(&parse("ports:[31003-31004]").unwrap(), "*")
            .is_none());
    }

    #[test]
    fn plain_resources_for_a_request_and_back() {
        let requests = parse("cpus:0.5;ports:[1-2];zones:{a}").unwrap();
        let resources = to_resources(&requests);
        assert_eq!(resources[0].r#type, value::Type::Scalar as i32);
        assert_eq!(resources[1].r#type, value::Type::Ranges as i32);
        assert_eq!(requests_from_resources(&resources).unwrap(), requests);
    }
}
