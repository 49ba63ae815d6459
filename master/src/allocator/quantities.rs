//! Scalar quantities as dense vectors over interned resource names: the
//! arithmetic of shares, quota and headroom, which runs on every allocation
//! and so must not touch `Resource` messages or allocate strings.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

use mesos_proto::mesos::v1::value::Type as ValueType;
use mesos_proto::mesos::v1::Resource;
use mesos_proto::resources::{coalesce_ranges, is_revocable, is_unreserved, Resources};

use super::ResourceQuantities;

/// Hashing for maps keyed by the allocator's own slot indices (agents,
/// frameworks, roles): the keys are small integers the allocator hands
/// out, never chosen by a client, so a multiplicative hash is safe and
/// several times cheaper than the default keyed one.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlotHash;

impl BuildHasher for SlotHash {
    type Hasher = SlotHasher;

    fn build_hasher(&self) -> SlotHasher {
        SlotHasher(0)
    }
}

#[derive(Debug, Default)]
pub struct SlotHasher(u64);

impl SlotHasher {
    fn mix(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for SlotHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.mix(u64::from(*byte));
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.mix(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.mix(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.mix(value as u64);
    }
}

pub type SlotMap<K, V> = HashMap<K, V, SlotHash>;
pub type SlotSet<K> = HashSet<K, SlotHash>;

/// Resource names seen so far, each given a small index.
#[derive(Debug, Default)]
pub struct Names {
    index: HashMap<String, usize>,
    names: Vec<String>,
}

impl Names {
    pub fn intern(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len();
        self.index.insert(name.to_string(), i);
        self.names.push(name.to_string());
        i
    }

    /// The name interned as `i`.
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("", String::as_str)
    }

    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Interns every name in `resources`, so that [`Names::of`] sees them.
    pub fn register(&mut self, resources: &Resources) {
        for resource in resources.iter() {
            if !self.index.contains_key(&resource.name) {
                self.intern(&resource.name);
            }
        }
    }

    /// Scalar quantities of `resources` selected by `keep` (names never
    /// registered are left out).
    pub fn of(&self, resources: &Resources, keep: impl Fn(&Resource) -> bool) -> Qty {
        let mut out = Qty::default();
        for resource in resources.iter() {
            if resource.r#type != ValueType::Scalar as i32 || !keep(resource) {
                continue;
            }
            if let (Some(scalar), Some(i)) = (&resource.scalar, self.lookup(&resource.name)) {
                out.add_at(i, scalar.value);
            }
        }
        out
    }

    /// All scalar quantities.
    pub fn all(&self, resources: &Resources) -> Qty {
        self.of(resources, |_| true)
    }

    /// Unreserved, non-revocable scalars: what quota headroom is made of.
    pub fn unreserved(&self, resources: &Resources) -> Qty {
        self.of(resources, |r| is_unreserved(r) && !is_revocable(r))
    }

    /// [`Names::all`] and [`Names::unreserved`] in one pass.
    pub fn all_and_unreserved(&self, resources: &Resources) -> (Qty, Qty) {
        let mut all = Qty::default();
        let mut unreserved = Qty::default();
        for resource in resources.iter() {
            if resource.r#type != ValueType::Scalar as i32 {
                continue;
            }
            if let (Some(scalar), Some(i)) = (&resource.scalar, self.lookup(&resource.name)) {
                all.add_at(i, scalar.value);
                if is_unreserved(resource) && !is_revocable(resource) {
                    unreserved.add_at(i, scalar.value);
                }
            }
        }
        (all, unreserved)
    }

    pub fn of_map(&mut self, quantities: &ResourceQuantities) -> Qty {
        let mut out = Qty::default();
        for (name, value) in quantities {
            let i = self.intern(name);
            out.add_at(i, *value);
        }
        out
    }
}

/// Amounts by name index; missing entries are zero. Amounts are kept in
/// upstream's fixed point (0.001) so that sums and differences are exact.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Qty(Vec<i64>);

const SCALE: f64 = 1000.0;

impl Qty {
    pub fn get(&self, i: usize) -> f64 {
        self.0.get(i).copied().unwrap_or(0) as f64 / SCALE
    }

    fn raw(&self, i: usize) -> i64 {
        self.0.get(i).copied().unwrap_or(0)
    }

    pub fn add_at(&mut self, i: usize, value: f64) {
        if self.0.len() <= i {
            self.0.resize(i + 1, 0);
        }
        self.0[i] += (value * SCALE).round() as i64;
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }

    pub fn add(&mut self, other: &Qty) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a += b;
        }
    }

    pub fn sub(&mut self, other: &Qty) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a -= b;
        }
    }

    /// `max(0, self - other)` entry by entry.
    pub fn saturating_sub(&self, other: &Qty) -> Qty {
        let n = self.0.len();
        Qty((0..n)
            .map(|i| (self.raw(i) - other.raw(i)).max(0))
            .collect())
    }

    /// Iterates `(index, amount)` for non-zero entries.
    pub fn entries(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .map(|(i, v)| (i, *v as f64 / SCALE))
    }

    /// Dominant share: the largest `self[i] / total[i]` over names with a
    /// positive total.
    pub fn share(&self, total: &Qty) -> f64 {
        let mut share: f64 = 0.0;
        for (i, v) in self.0.iter().enumerate() {
            let t = total.raw(i);
            if t > 0 && *v > 0 {
                share = share.max(*v as f64 / t as f64);
            }
        }
        share
    }
}

/// Sparse per-name caps: `None` where a name is unlimited.
#[derive(Clone, Debug, Default)]
pub struct Caps(Vec<Option<i64>>);

impl Caps {
    pub fn unlimited() -> Self {
        Caps(Vec::new())
    }

    pub fn is_unlimited(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// Lower the cap of every name in `qty`'s support to at most its value;
    /// only names listed in `names` (indices) are capped.
    pub fn cap_at(&mut self, i: usize, value: f64) {
        if self.0.len() <= i {
            self.0.resize(i + 1, None);
        }
        let raw = ((value * SCALE).round() as i64).max(0);
        self.0[i] = Some(self.0[i].map_or(raw, |old| old.min(raw)));
    }

    pub fn cap(&self, i: usize) -> Option<f64> {
        self.0.get(i).copied().flatten().map(|v| v as f64 / SCALE)
    }

    /// Some name is capped at zero.
    pub fn any_zero(&self) -> bool {
        self.0.contains(&Some(0))
    }
}

/// Resources with no reservation, allocation, disk info, revocability,
/// provider or sharing, by interned name: for these, containment is a
/// comparison per name and type, so offer filters are checked without
/// hashing or copying a `Resource`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlainSet {
    scalars: Qty,
    /// Coalesced ranges per name index, sorted by index.
    ranges: Vec<(usize, Vec<(u64, u64)>)>,
    /// Sorted, distinct items per name index, sorted by index.
    sets: Vec<(usize, Vec<String>)>,
}

impl PlainSet {
    /// The compact form of `resources`, or `None` when one of them is not
    /// plain (or its name was never registered with `names`).
    pub fn of(resources: &Resources, names: &Names) -> Option<PlainSet> {
        let mut out = PlainSet::default();
        for resource in resources.iter() {
            if !is_plain(resource) {
                return None;
            }
            let i = names.lookup(&resource.name)?;
            match ValueType::try_from(resource.r#type) {
                Ok(ValueType::Scalar) => {
                    out.scalars
                        .add_at(i, resource.scalar.map_or(0.0, |s| s.value));
                }
                Ok(ValueType::Ranges) => {
                    let spans = resource
                        .ranges
                        .as_ref()
                        .map(|r| r.range.iter().map(|r| (r.begin, r.end)).collect())
                        .unwrap_or_default();
                    merge_ranges(&mut out.ranges, i, spans);
                }
                Ok(ValueType::Set) => {
                    let items = resource
                        .set
                        .as_ref()
                        .map(|s| s.item.clone())
                        .unwrap_or_default();
                    merge_set(&mut out.sets, i, items);
                }
                _ => return None,
            }
        }
        Some(out)
    }

    /// Whether all of `that` is in `self` (`Resources::contains` for plain
    /// resources).
    pub fn contains(&self, that: &PlainSet) -> bool {
        let scalars = that
            .scalars
            .0
            .iter()
            .enumerate()
            .all(|(i, v)| *v <= self.scalars.raw(i));
        scalars
            && that.ranges.iter().all(|(i, inner)| {
                let outer = lookup(&self.ranges, *i).map_or(&[][..], Vec::as_slice);
                inner.iter().all(|&(begin, end)| {
                    let at = outer.partition_point(|&(b, _)| b <= begin);
                    at > 0 && outer[at - 1].1 >= end
                })
            })
            && that.sets.iter().all(|(i, inner)| {
                let outer = lookup(&self.sets, *i).map_or(&[][..], Vec::as_slice);
                inner.iter().all(|item| outer.binary_search(item).is_ok())
            })
    }
}

fn is_plain(resource: &Resource) -> bool {
    resource.reservations.is_empty()
        && resource.allocation_info.is_none()
        && resource.disk.is_none()
        && resource.revocable.is_none()
        && resource.provider_id.is_none()
        && resource.shared.is_none()
}

fn lookup<T>(entries: &[(usize, T)], i: usize) -> Option<&T> {
    entries
        .binary_search_by_key(&i, |(at, _)| *at)
        .ok()
        .map(|at| &entries[at].1)
}

fn merge_ranges(entries: &mut Vec<(usize, Vec<(u64, u64)>)>, i: usize, spans: Vec<(u64, u64)>) {
    match entries.binary_search_by_key(&i, |(at, _)| *at) {
        Ok(at) => {
            let mut all = std::mem::take(&mut entries[at].1);
            all.extend(spans);
            entries[at].1 = coalesce_ranges(all);
        }
        Err(at) => entries.insert(at, (i, coalesce_ranges(spans))),
    }
}

fn merge_set(entries: &mut Vec<(usize, Vec<String>)>, i: usize, items: Vec<String>) {
    let at = match entries.binary_search_by_key(&i, |(at, _)| *at) {
        Ok(at) => at,
        Err(at) => {
            entries.insert(at, (i, Vec::new()));
            at
        }
    };
    let set = &mut entries[at].1;
    set.extend(items);
    set.sort_unstable();
    set.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(text: &str) -> Resources {
        Resources::parse(text, "*").expect("valid test resources")
    }

    #[test]
    fn plain_containment_agrees_with_resources() {
        let samples = [
            "cpus:1;mem:512",
            "cpus:1.001;mem:512",
            "cpus:2;mem:256;disk:100",
            "cpus:24;mem:4096;disk:4096;ports:[31000-32000]",
            "cpus:23;mem:3968;disk:3968;ports:[31000-32000]",
            "cpus:1;ports:[31000-31500]",
            "cpus:1;ports:[31000-31500, 31600-31700]",
            "ports:[31501-31599]",
            "ports:[30000-31000]",
            "zones:{a,b}",
            "zones:{b}",
            "zones:{c}",
            "gpus:1;cpus:1",
            "cpus:0.5",
        ];
        let mut names = Names::default();
        let parsed: Vec<Resources> = samples.iter().map(|s| res(s)).collect();
        for r in &parsed {
            names.register(r);
        }
        for (a, outer) in parsed.iter().enumerate() {
            for (b, inner) in parsed.iter().enumerate() {
                let (Some(x), Some(y)) = (PlainSet::of(outer, &names), PlainSet::of(inner, &names))
                else {
                    panic!("all samples are plain");
                };
                assert_eq!(
                    x.contains(&y),
                    outer.contains(inner),
                    "{} contains {}",
                    samples[a],
                    samples[b]
                );
            }
        }
    }

    #[test]
    fn reserved_or_revocable_resources_have_no_plain_form() {
        let mut names = Names::default();
        let reserved = Resources::parse("cpus(eng):1", "*").expect("valid");
        names.register(&reserved);
        assert!(PlainSet::of(&reserved, &names).is_none());
        let mut allocated = res("cpus:1");
        names.register(&allocated);
        allocated.allocate("eng");
        assert!(PlainSet::of(&allocated, &names).is_none());
        assert!(
            PlainSet::of(&res("mem:1"), &names).is_none(),
            "name not registered"
        );
    }
}
