//! `Resources`: arithmetic over v1 `Resource` lists with upstream semantics
//! (`include/mesos/v1/resources.hpp`, `src/v1/resources.cpp`,
//! `src/v1/values.cpp`, `src/common/resources_utils.cpp`, `src/common/roles.cpp`).
//!
//! What this module owns:
//! - value arithmetic: scalars in fixed point with three decimals (so
//!   `0.1 + 0.2 == 0.3`), ranges (coalesce, subtract, contains), sets;
//! - when two `Resource` objects may be combined (`addable`/`subtractable`:
//!   same name, type, allocation, reservation stack, disk, revocability,
//!   provider; shared resources only when identical, counted instead);
//! - the [`Resources`] collection: `+`, `-` (which, like upstream, removes
//!   what is there and silently drops what is not), `contains`, filters by
//!   reservation/allocation, scalar sums, parsing of the agent's
//!   `--resources` flag;
//! - validation ([`validate`]) and role-name rules ([`validate_role`]);
//! - the resource *formats*: a [`Resources`] always holds the
//!   "post-reservation-refinement" format (`reservations` stack, no `role`,
//!   no `reservation`); [`from_pre_refinement`] upgrades either format on the
//!   way in, [`to_pre_refinement`] writes the old format for frameworks
//!   without `RESERVATION_REFINEMENT` (checklist §1 "Offer format"), and
//!   [`to_endpoint_format`] writes both for the legacy `*_full` JSON.
//!
//! It never decides policy (which framework may see what, quota, offers):
//! the master does. Like upstream, adding an invalid or empty `Resource` to
//! a `Resources` is silently ignored; call [`validate`] first where the
//! caller must report the problem.
//!
//! Deviations from upstream, all stricter on input upstream would misbehave
//! on: NaN and infinite scalars are invalid (upstream's fixed-point
//! conversion of them is undefined); the overlapping-ranges check is
//! symmetric (upstream misses `[5-10],[1-6]`); set equality compares the sets
//! (upstream's compares the wrong index).

#![allow(deprecated)] // `Resource.role` is deprecated in the proto, but the pre-refinement format is exactly that field.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::sync::OnceLock;

use crate::mesos;
use crate::mesos::v1::resource::disk_info::source::Type as SourceType;
use crate::mesos::v1::resource::reservation_info::Type as ReservationType;
use crate::mesos::v1::resource::{DiskInfo, ReservationInfo};
use crate::mesos::v1::value::Type as ValueType;
use crate::mesos::v1::{value, Label, Labels, Resource};

/// A resource (or resource text) that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourcesError {
    /// A `Resource` that breaks a validity rule.
    #[error("Invalid resource: {0}")]
    Invalid(String),
    /// Resource text (the agent flag format) that cannot be parsed.
    #[error("Failed to parse resources: {0}")]
    Parse(String),
}

fn invalid(message: impl Into<String>) -> ResourcesError {
    ResourcesError::Invalid(message.into())
}

fn parse_error(message: impl Into<String>) -> ResourcesError {
    ResourcesError::Parse(message.into())
}

// ---------------------------------------------------------------------------
// Scalars: fixed point, three decimals (`values.cpp: convertToFixed`).
// ---------------------------------------------------------------------------

/// A scalar in thousandths, as upstream computes with it. Rounds half away
/// from zero like `llround`; out-of-range values saturate (`as` casts never
/// panic) and NaN becomes 0 — validation rejects both before arithmetic.
pub fn scalar_to_fixed(value: f64) -> i64 {
    (value * 1000.0).round() as i64
}

/// Thousandths back to a double. Divides the integer part and the remainder
/// separately, like upstream, so that e.g. 300 thousandths is exactly `0.3`.
pub fn scalar_from_fixed(fixed: i64) -> f64 {
    (fixed / 1000) as f64 + (fixed % 1000) as f64 / 1000.0
}

/// `a + b` at 0.001 granularity.
pub fn scalar_add(a: f64, b: f64) -> f64 {
    scalar_from_fixed(scalar_to_fixed(a).saturating_add(scalar_to_fixed(b)))
}

/// `a - b` at 0.001 granularity (may be negative).
pub fn scalar_sub(a: f64, b: f64) -> f64 {
    scalar_from_fixed(scalar_to_fixed(a).saturating_sub(scalar_to_fixed(b)))
}

/// `a == b` at 0.001 granularity.
pub fn scalar_eq(a: f64, b: f64) -> bool {
    scalar_to_fixed(a) == scalar_to_fixed(b)
}

// ---------------------------------------------------------------------------
// Ranges.
// ---------------------------------------------------------------------------

/// Sorts and merges overlapping *and adjacent* ranges (`[1-2],[3-4]` is
/// `[1-4]`), like upstream's `coalesce`. Inverted ranges are kept as they
/// are (validation reports them); they never panic.
pub fn coalesce_ranges(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (begin, end) in ranges {
        match out.last_mut() {
            // saturating: a range ending at u64::MAX absorbs everything after.
            Some(last) if begin >= last.0 && begin <= last.1.saturating_add(1) => {
                last.1 = last.1.max(end);
            }
            _ => out.push((begin, end)),
        }
    }
    out
}

/// `left - right`, coalesced. One merge pass over both sorted lists, so
/// the cost is `O((n + m) log(n + m))` (the sorts), never `O(n * m)`.
pub fn subtract_ranges(left: &[(u64, u64)], right: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let left = coalesce_ranges(left.to_vec());
    // Inverted ranges remove nothing (as before); coalescing the rest makes
    // them sorted and disjoint, which the sweep below relies on.
    let right = coalesce_ranges(right.iter().copied().filter(|(b, e)| b <= e).collect());
    let mut result = Vec::with_capacity(left.len() + right.len());
    let mut removals = right.iter().peekable();
    for (begin, end) in left {
        if begin > end {
            // Inverted (invalid) ranges are kept as they are.
            result.push((begin, end));
            continue;
        }
        let mut begin = begin;
        loop {
            // Skip removals entirely before what is left of this range.
            while removals
                .next_if(|&&(_, remove_end)| remove_end < begin)
                .is_some()
            {}
            match removals.peek() {
                Some(&&(remove_begin, remove_end)) if remove_begin <= end => {
                    // The guards make the -1/+1 safe: remove_begin > begin >= 0,
                    // and remove_end < end <= u64::MAX.
                    if remove_begin > begin {
                        result.push((begin, remove_begin - 1));
                    }
                    if remove_end >= end {
                        break;
                    }
                    begin = remove_end + 1;
                    removals.next();
                }
                _ => {
                    result.push((begin, end));
                    break;
                }
            }
        }
    }
    result
}

/// Whether every number in `inner` is in `outer`.
pub fn ranges_contain(outer: &[(u64, u64)], inner: &[(u64, u64)]) -> bool {
    let outer = coalesce_ranges(outer.to_vec());
    coalesce_ranges(inner.to_vec()).iter().all(|&(begin, end)| {
        // After coalescing a contiguous inner range lies in at most one outer range.
        let i = outer.partition_point(|&(b, _)| b <= begin);
        i > 0 && outer[i - 1].1 >= end
    })
}

fn ranges_of(ranges: Option<&value::Ranges>) -> Vec<(u64, u64)> {
    ranges
        .map(|r| r.range.iter().map(|r| (r.begin, r.end)).collect())
        .unwrap_or_default()
}

fn to_ranges(ranges: Vec<(u64, u64)>) -> Box<value::Ranges> {
    Box::new(value::Ranges {
        range: ranges
            .into_iter()
            .map(|(begin, end)| value::Range { begin, end })
            .collect(),
    })
}

/// Formats ranges as upstream prints them: `[31000-32000, 33000-33010]`.
pub fn format_ranges(ranges: &[(u64, u64)]) -> String {
    let parts: Vec<String> = ranges.iter().map(|(b, e)| format!("{b}-{e}")).collect();
    format!("[{}]", parts.join(", "))
}

// ---------------------------------------------------------------------------
// Roles (`src/common/roles.cpp`).
// ---------------------------------------------------------------------------

/// Checks a role name: `*`, or `/`-separated components, none empty, `.`,
/// `..` or `*`, none starting with `-`, no whitespace or DEL.
pub fn validate_role(role: &str) -> Result<(), ResourcesError> {
    if role == "*" {
        return Ok(());
    }
    if role.is_empty() {
        return Err(invalid("Role names cannot be the empty string"));
    }
    if role.starts_with('/') {
        return Err(invalid(format!("Role '{role}' cannot start with a slash")));
    }
    if role.ends_with('/') {
        return Err(invalid(format!("Role '{role}' cannot end with a slash")));
    }
    if role.contains("//") {
        return Err(invalid(format!(
            "Role '{role}' cannot contain two adjacent slashes"
        )));
    }
    for component in role.split('/') {
        if component == "." || component == ".." || component == "*" {
            return Err(invalid(format!(
                "Role '{role}' cannot include '{component}' as a component"
            )));
        }
        if component.starts_with('-') {
            return Err(invalid(format!(
                "Role component '{component}' is invalid because it starts with a dash"
            )));
        }
        if component
            .chars()
            .any(|c| matches!(c, '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | ' ' | '\u{7f}'))
        {
            return Err(invalid(format!(
                "Role component '{component}' is invalid because it contains backspace or whitespace"
            )));
        }
    }
    Ok(())
}

/// `child` is a strict descendant of `parent` (`a/b` of `a`; not `ab` of `a`).
pub fn is_strict_subrole_of(child: &str, parent: &str) -> bool {
    child.len() > parent.len()
        && child.as_bytes()[parent.len()] == b'/'
        && child.starts_with(parent)
}

// ---------------------------------------------------------------------------
// Predicates on one Resource (post-refinement format).
// ---------------------------------------------------------------------------

/// No reservation at all.
pub fn is_unreserved(resource: &Resource) -> bool {
    resource.reservations.is_empty()
}

/// Reserved, and (when `role` is given) reserved to exactly that role.
pub fn is_reserved(resource: &Resource, role: Option<&str>) -> bool {
    match reservation_role(resource) {
        None => false,
        Some(r) => role.is_none_or(|role| role == r),
    }
}

/// The role of the innermost (most refined) reservation.
pub fn reservation_role(resource: &Resource) -> Option<&str> {
    resource.reservations.last().map(|r| r.role())
}

/// The innermost reservation is dynamic.
pub fn is_dynamically_reserved(resource: &Resource) -> bool {
    resource
        .reservations
        .last()
        .is_some_and(|r| r.r#type() == ReservationType::Dynamic)
}

/// More than one reservation (a refinement).
pub fn has_refined_reservations(resource: &Resource) -> bool {
    resource.reservations.len() > 1
}

/// Usable by `role`: unreserved, reserved to it, or reserved to an ancestor.
pub fn is_allocatable_to(resource: &Resource, role: &str) -> bool {
    match reservation_role(resource) {
        None => true,
        Some(r) => r == role || is_strict_subrole_of(role, r),
    }
}

/// A disk with persistence info.
pub fn is_persistent_volume(resource: &Resource) -> bool {
    resource
        .disk
        .as_ref()
        .is_some_and(|d| d.persistence.is_some())
}

/// Carries `RevocableInfo`.
pub fn is_revocable(resource: &Resource) -> bool {
    resource.revocable.is_some()
}

/// Carries `SharedInfo`.
pub fn is_shared(resource: &Resource) -> bool {
    resource.shared.is_some()
}

/// A disk whose source has the given type.
pub fn is_disk(resource: &Resource, source: SourceType) -> bool {
    resource
        .disk
        .as_ref()
        .and_then(|d| d.source.as_ref())
        .is_some_and(|s| s.r#type() == source)
}

fn is_empty_value(resource: &Resource) -> bool {
    match ValueType::try_from(resource.r#type) {
        Ok(ValueType::Scalar) => scalar_to_fixed(resource.scalar.map_or(0.0, |s| s.value)) == 0,
        Ok(ValueType::Ranges) => resource.ranges.as_ref().is_none_or(|r| r.range.is_empty()),
        Ok(ValueType::Set) => resource.set.as_ref().is_none_or(|s| s.item.is_empty()),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Equality and combinability (`resources.cpp` operator==, addable, ...).
// ---------------------------------------------------------------------------

fn labels_eq(a: &Labels, b: &Labels) -> bool {
    // Order-insensitive multiset comparison, like upstream's Labels ==.
    fn key(l: &Label) -> (&str, Option<&str>) {
        (l.key.as_str(), l.value.as_deref())
    }
    if a.labels.len() != b.labels.len() {
        return false;
    }
    let mut x: Vec<_> = a.labels.iter().map(key).collect();
    let mut y: Vec<_> = b.labels.iter().map(key).collect();
    x.sort_unstable();
    y.sort_unstable();
    x == y
}

fn option_eq<T>(a: Option<&T>, b: Option<&T>, eq: impl Fn(&T, &T) -> bool) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => eq(a, b),
        _ => false,
    }
}

fn reservation_eq(a: &ReservationInfo, b: &ReservationInfo) -> bool {
    a.r#type() == b.r#type()
        && a.role() == b.role()
        && a.principal == b.principal
        && option_eq(a.labels.as_ref(), b.labels.as_ref(), labels_eq)
}

fn disk_eq(a: &DiskInfo, b: &DiskInfo) -> bool {
    // `volume` is deliberately ignored: it says how a task uses the disk,
    // not what the disk is.
    let source_eq = option_eq(a.source.as_ref(), b.source.as_ref(), |x, y| {
        x.r#type == y.r#type
            && x.path == y.path
            && x.mount == y.mount
            && x.vendor == y.vendor
            && x.id == y.id
            && option_eq(x.metadata.as_ref(), y.metadata.as_ref(), labels_eq)
            && x.profile == y.profile
    });
    source_eq
        && option_eq(a.persistence.as_ref(), b.persistence.as_ref(), |x, y| {
            x.id == y.id
        })
}

/// Same name, type, allocation, reservations, disk, revocability, provider
/// and sharedness: what both `addable` and `subtractable` require first.
fn same_kind(a: &Resource, b: &Resource) -> bool {
    a.name == b.name
        && a.r#type == b.r#type
        && option_eq(
            a.allocation_info.as_ref(),
            b.allocation_info.as_ref(),
            |x, y| x.role == y.role,
        )
        && a.reservations.len() == b.reservations.len()
        && a.reservations
            .iter()
            .zip(&b.reservations)
            .all(|(x, y)| reservation_eq(x, y))
        && option_eq(a.disk.as_deref(), b.disk.as_deref(), disk_eq)
        && a.revocable.is_some() == b.revocable.is_some()
        && a.provider_id == b.provider_id
        && a.shared.is_some() == b.shared.is_some()
}

fn set_items(resource: &Resource) -> &[String] {
    resource.set.as_ref().map_or(&[], |s| s.item.as_slice())
}

/// Upstream `operator==(Resource, Resource)`: same kind and same value.
pub fn resource_eq(a: &Resource, b: &Resource) -> bool {
    if !same_kind(a, b) {
        return false;
    }
    match ValueType::try_from(a.r#type) {
        Ok(ValueType::Scalar) => scalar_eq(
            a.scalar.map_or(0.0, |s| s.value),
            b.scalar.map_or(0.0, |s| s.value),
        ),
        Ok(ValueType::Ranges) => {
            coalesce_ranges(ranges_of(a.ranges.as_deref()))
                == coalesce_ranges(ranges_of(b.ranges.as_deref()))
        }
        Ok(ValueType::Set) => {
            let x: BTreeSet<&String> = set_items(a).iter().collect();
            let y: BTreeSet<&String> = set_items(b).iter().collect();
            x == y
        }
        _ => false,
    }
}

fn addable(a: &Resource, b: &Resource) -> bool {
    if a.shared.is_some() || b.shared.is_some() {
        return a.shared.is_some() && b.shared.is_some() && resource_eq(a, b);
    }
    if !same_kind(a, b) {
        return false;
    }
    if let Some(disk) = &a.disk {
        if let Some(source) = &disk.source {
            match source.r#type() {
                // Exclusive disks cannot be merged.
                SourceType::Mount | SourceType::Block => return false,
                SourceType::Raw if source.id.is_some() => return false,
                _ => {}
            }
        }
        // Two non-shared volumes with the same persistence id should not exist.
        if disk.persistence.is_some() {
            return false;
        }
    }
    true
}

fn subtractable(a: &Resource, b: &Resource) -> bool {
    if a.shared.is_some() || b.shared.is_some() {
        return a.shared.is_some() && b.shared.is_some() && resource_eq(a, b);
    }
    if !same_kind(a, b) {
        return false;
    }
    if let Some(disk) = &a.disk {
        if let Some(source) = &disk.source {
            match source.r#type() {
                SourceType::Mount | SourceType::Block if !resource_eq(a, b) => return false,
                SourceType::Raw if source.id.is_some() && !resource_eq(a, b) => return false,
                _ => {}
            }
        }
        if disk.persistence.is_some() && !resource_eq(a, b) {
            return false;
        }
    }
    true
}

/// `b <= a` for two non-shared resources.
fn contains_one(a: &Resource, b: &Resource) -> bool {
    if !subtractable(a, b) {
        return false;
    }
    match ValueType::try_from(a.r#type) {
        Ok(ValueType::Scalar) => {
            scalar_to_fixed(b.scalar.map_or(0.0, |s| s.value))
                <= scalar_to_fixed(a.scalar.map_or(0.0, |s| s.value))
        }
        Ok(ValueType::Ranges) => ranges_contain(
            &ranges_of(a.ranges.as_deref()),
            &ranges_of(b.ranges.as_deref()),
        ),
        Ok(ValueType::Set) => {
            let outer: BTreeSet<&String> = set_items(a).iter().collect();
            set_items(b).iter().all(|i| outer.contains(i))
        }
        _ => false,
    }
}

fn add_value(into: &mut Resource, other: &Resource) {
    match ValueType::try_from(into.r#type) {
        Ok(ValueType::Scalar) => {
            let sum = scalar_add(
                into.scalar.map_or(0.0, |s| s.value),
                other.scalar.map_or(0.0, |s| s.value),
            );
            into.scalar = Some(value::Scalar { value: sum });
        }
        Ok(ValueType::Ranges) => {
            let mut all = ranges_of(into.ranges.as_deref());
            all.extend(ranges_of(other.ranges.as_deref()));
            into.ranges = Some(to_ranges(coalesce_ranges(all)));
        }
        Ok(ValueType::Set) => {
            let set = into.set.get_or_insert_with(Default::default);
            let mut present: HashSet<String> = set.item.iter().cloned().collect();
            for item in set_items(other) {
                if present.insert(item.clone()) {
                    set.item.push(item.clone());
                }
            }
        }
        _ => {}
    }
}

fn subtract_value(from: &mut Resource, other: &Resource) {
    match ValueType::try_from(from.r#type) {
        Ok(ValueType::Scalar) => {
            let diff = scalar_sub(
                from.scalar.map_or(0.0, |s| s.value),
                other.scalar.map_or(0.0, |s| s.value),
            );
            from.scalar = Some(value::Scalar { value: diff });
        }
        Ok(ValueType::Ranges) => {
            let left = ranges_of(from.ranges.as_deref());
            from.ranges = Some(to_ranges(subtract_ranges(
                &left,
                &ranges_of(other.ranges.as_deref()),
            )));
        }
        Ok(ValueType::Set) => {
            let remove: BTreeSet<&String> = set_items(other).iter().collect();
            if let Some(set) = from.set.as_mut() {
                set.item.retain(|i| !remove.contains(i));
            }
        }
        _ => {}
    }
}

/// The part of `needed`'s value that `available` holds, as a piece of
/// `available` (its metadata, the common value); `None` when nothing is in
/// common. Both have the same value type.
fn overlap(available: &Resource, needed: &Resource) -> Option<Resource> {
    let mut piece = available.clone();
    match ValueType::try_from(available.r#type) {
        Ok(ValueType::Scalar) => {
            let fixed = scalar_to_fixed(available.scalar.map_or(0.0, |s| s.value))
                .min(scalar_to_fixed(needed.scalar.map_or(0.0, |s| s.value)));
            if fixed <= 0 {
                return None;
            }
            piece.scalar = Some(value::Scalar {
                value: scalar_from_fixed(fixed),
            });
        }
        Ok(ValueType::Ranges) => {
            // a ∩ b = a - (a - b)
            let have = ranges_of(available.ranges.as_deref());
            let outside = subtract_ranges(&have, &ranges_of(needed.ranges.as_deref()));
            let common = subtract_ranges(&have, &outside);
            if common.is_empty() {
                return None;
            }
            piece.ranges = Some(to_ranges(common));
        }
        Ok(ValueType::Set) => {
            let wanted: BTreeSet<&String> = set_items(needed).iter().collect();
            let common: Vec<String> = set_items(available)
                .iter()
                .filter(|i| wanted.contains(i))
                .cloned()
                .collect();
            if common.is_empty() {
                return None;
            }
            piece.set = Some(Box::new(value::Set { item: common }));
        }
        _ => return None,
    }
    Some(piece)
}

// ---------------------------------------------------------------------------
// Validation (`Resources::validate`).
// ---------------------------------------------------------------------------

/// Checks one `Resource` in either format, with upstream's rules and
/// messages: value shape, disk info, the reservation stack (refinements must
/// be dynamic and go to strict subroles), the pre-refinement fields agreeing
/// with a single reservation, and shareability (persistent volumes only).
pub fn validate(resource: &Resource) -> Result<(), ResourcesError> {
    if resource.name.is_empty() {
        return Err(invalid("Empty resource name"));
    }
    let value_type =
        ValueType::try_from(resource.r#type).map_err(|_| invalid("Invalid resource type"))?;
    let (has_scalar, has_ranges, has_set) = (
        resource.scalar.is_some(),
        resource.ranges.is_some(),
        resource.set.is_some(),
    );
    match value_type {
        ValueType::Scalar => {
            let Some(scalar) = resource.scalar.filter(|_| !has_ranges && !has_set) else {
                return Err(invalid("Invalid scalar resource"));
            };
            if !scalar.value.is_finite() {
                return Err(invalid(
                    "Invalid scalar resource: value is not a finite number",
                ));
            }
            if scalar.value < 0.0 {
                return Err(invalid("Invalid scalar resource: value < 0"));
            }
        }
        ValueType::Ranges => {
            let Some(ranges) = resource.ranges.as_ref().filter(|_| !has_scalar && !has_set) else {
                return Err(invalid("Invalid ranges resource"));
            };
            if ranges.range.iter().any(|r| r.begin > r.end) {
                return Err(invalid("Invalid ranges resource: begin > end"));
            }
            let mut sorted: Vec<(u64, u64)> =
                ranges.range.iter().map(|r| (r.begin, r.end)).collect();
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[1].0 <= w[0].1) {
                return Err(invalid("Invalid ranges resource: overlapping ranges"));
            }
        }
        ValueType::Set => {
            let Some(set) = resource.set.as_ref().filter(|_| !has_scalar && !has_ranges) else {
                return Err(invalid("Invalid set resource"));
            };
            let unique: BTreeSet<&String> = set.item.iter().collect();
            if unique.len() != set.item.len() {
                return Err(invalid("Invalid set resource: duplicated elements"));
            }
        }
        ValueType::Text => return Err(invalid("Unsupported resource type")),
    }

    if let Some(disk) = &resource.disk {
        if resource.name != "disk" {
            return Err(invalid(format!(
                "DiskInfo should not be set for {} resource",
                resource.name
            )));
        }
        if let Some(source) = &disk.source {
            match SourceType::try_from(source.r#type) {
                Ok(SourceType::Path | SourceType::Mount) => {}
                Ok(kind @ (SourceType::Block | SourceType::Raw)) => {
                    if source.mount.is_some() {
                        return Err(invalid(format!(
                            "Mount should not be set for {} disk source",
                            kind.as_str_name()
                        )));
                    }
                    if source.path.is_some() {
                        return Err(invalid(format!(
                            "Path should not be set for {} disk source",
                            kind.as_str_name()
                        )));
                    }
                }
                _ => return Err(invalid("Unsupported 'DiskInfo.Source.Type'")),
            }
        }
    }

    validate_reservations(resource)?;

    if resource.shared.is_some() {
        if resource.name != "disk" {
            return Err(invalid(format!(
                "Resource {} cannot be shared",
                resource.name
            )));
        }
        if !is_persistent_volume(resource) {
            return Err(invalid("Only persistent volumes can be shared"));
        }
    }
    Ok(())
}

fn validate_reservations(resource: &Resource) -> Result<(), ResourcesError> {
    if resource.reservations.is_empty() {
        // Pre-refinement format: `role` (default "*") and maybe `reservation`.
        validate_role(resource.role())?;
        if let Some(reservation) = &resource.reservation {
            if reservation.r#type.is_some() {
                return Err(invalid(
                    "'Resource.ReservationInfo.type' must not be set for the 'Resource.reservation' field",
                ));
            }
            if reservation.role.is_some() {
                return Err(invalid(
                    "'Resource.ReservationInfo.role' must not be set for the 'Resource.reservation' field",
                ));
            }
            if resource.role() == "*" {
                return Err(invalid(
                    "Invalid reservation: role \"*\" cannot be dynamically reserved",
                ));
            }
        }
        return Ok(());
    }

    for reservation in &resource.reservations {
        if reservation.r#type.is_none() {
            return Err(invalid(
                "Invalid reservation: 'Resource.ReservationInfo.type' field must be set.",
            ));
        }
        let Some(role) = reservation.role.as_deref() else {
            return Err(invalid(
                "Invalid reservation: 'Resource.ReservationInfo.role' field must be set.",
            ));
        };
        validate_role(role)?;
        if role == "*" {
            return Err(invalid(
                "Invalid reservation: role \"*\" cannot be reserved",
            ));
        }
    }

    let mut ancestor = resource.reservations[0].role();
    for reservation in &resource.reservations[1..] {
        if reservation.r#type() == ReservationType::Static {
            return Err(invalid(
                "Invalid refined reservation: A refined reservation cannot be STATIC",
            ));
        }
        if !is_strict_subrole_of(reservation.role(), ancestor) {
            return Err(invalid(format!(
                "Invalid refined reservation: role '{}' is not a refinement of '{ancestor}'",
                reservation.role()
            )));
        }
        ancestor = reservation.role();
    }

    if let [only] = resource.reservations.as_slice() {
        // The "endpoint" format: pre-refinement fields that agree.
        if resource.role.is_some() && resource.role() != only.role() {
            return Err(invalid(format!(
                "Invalid resource format: 'Resource.role' field with '{}' does not match the role '{}' in 'Resource.reservations'",
                resource.role(),
                only.role()
            )));
        }
        match only.r#type() {
            ReservationType::Static => {
                if resource.reservation.is_some() {
                    return Err(invalid(
                        "Invalid resource format: 'Resource.reservation' must not be set if the single reservation in 'Resource.reservations' is STATIC",
                    ));
                }
            }
            ReservationType::Dynamic => {
                if resource.role.is_some() != resource.reservation.is_some() {
                    return Err(invalid(
                        "Invalid resource format: 'Resource.role' and 'Resource.reservation' must either be both set or both not set if the single reservation in 'Resource.reservations' is DYNAMIC",
                    ));
                }
                if let Some(legacy) = &resource.reservation {
                    if legacy.principal() != only.principal() {
                        return Err(invalid(format!(
                            "Invalid resource format: 'Resource.reservation.principal' field with '{}' does not match the principal '{}' in 'Resource.reservations'",
                            legacy.principal(),
                            only.principal()
                        )));
                    }
                    let empty = Labels::default();
                    if !labels_eq(
                        legacy.labels.as_ref().unwrap_or(&empty),
                        only.labels.as_ref().unwrap_or(&empty),
                    ) {
                        return Err(invalid(
                            "Invalid resource format: 'Resource.reservation.labels' does not match the labels in 'Resource.reservations'",
                        ));
                    }
                }
            }
            ReservationType::Unknown => {
                return Err(invalid("Unsupported 'Resource.ReservationInfo.Type'"))
            }
        }
    } else {
        if resource.role.is_some() {
            return Err(invalid(
                "Invalid resource format: 'Resource.role' must not be set if there is more than one reservation in 'Resource.reservations'",
            ));
        }
        if resource.reservation.is_some() {
            return Err(invalid(
                "Invalid resource format: 'Resource.reservation' must not be set if there is more than one reservation in 'Resource.reservations'",
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Formats (`convertResourceFormat`).
// ---------------------------------------------------------------------------

/// Upgrades resources to the post-reservation-refinement format, accepting
/// either format: `reservations` already set → the legacy `role` and
/// `reservation` are dropped (endpoint format); `role` `"*"` or unset →
/// unreserved; another `role` → one reservation, `DYNAMIC` with the
/// principal and labels of `reservation` when that is set, else `STATIC`.
pub fn from_pre_refinement(resources: &mut [Resource]) {
    for resource in resources {
        upgrade(resource);
    }
}

fn upgrade(resource: &mut Resource) {
    if !resource.reservations.is_empty() {
        resource.role = None;
        resource.reservation = None;
        return;
    }
    let role = resource.role.take().unwrap_or_else(|| "*".to_string());
    if role == "*" {
        // A dynamic reservation to "*" is invalid and was rejected by
        // validation; drop the stray field rather than invent a reservation.
        resource.reservation = None;
        return;
    }
    let reservation = match resource.reservation.take() {
        None => ReservationInfo {
            r#type: Some(ReservationType::Static as i32),
            role: Some(role),
            principal: None,
            labels: None,
        },
        Some(legacy) => ReservationInfo {
            r#type: Some(ReservationType::Dynamic as i32),
            role: Some(role),
            principal: legacy.principal,
            labels: legacy.labels,
        },
    };
    resource.reservations.push(reservation);
}

/// Writes the pre-reservation-refinement format for frameworks without the
/// `RESERVATION_REFINEMENT` capability (Spark copies `role` and
/// `reservation` from offers into its tasks): unreserved → `role: "*"`; one
/// reservation → `role` plus, for a dynamic one, `reservation{principal,
/// labels}`, and `reservations` cleared.
///
/// Refined reservations have no pre-refinement form. Upstream `CHECK`-fails
/// here and relies on the allocator never offering them to such frameworks;
/// callers must filter them likewise ([`has_refined_reservations`]). If one
/// gets here anyway it is left in endpoint form: `role` is the innermost
/// reservation's role (so an old client never mistakes it for unreserved)
/// and `reservations` is kept.
pub fn to_pre_refinement(resources: &mut [Resource]) {
    for resource in resources {
        downgrade(resource, false);
    }
}

/// The "endpoint" format of the legacy state JSON (`*_full` arrays): the
/// pre-refinement fields *and* `reservations`.
pub fn to_endpoint_format(resources: &mut [Resource]) {
    for resource in resources {
        downgrade(resource, true);
    }
}

fn downgrade(resource: &mut Resource, keep_reservations: bool) {
    match resource.reservations.len() {
        0 => {
            if resource.role.is_none() {
                resource.role = Some("*".to_string());
            }
        }
        1 => {
            let only = &resource.reservations[0];
            resource.role = Some(only.role().to_string());
            resource.reservation = (only.r#type() == ReservationType::Dynamic).then(|| {
                Box::new(ReservationInfo {
                    r#type: None,
                    role: None,
                    principal: only.principal.clone(),
                    labels: only.labels.clone(),
                })
            });
            if !keep_reservations {
                resource.reservations.clear();
            }
        }
        _ => {
            resource.role = reservation_role(resource).map(str::to_string);
            resource.reservation = None;
        }
    }
}

// ---------------------------------------------------------------------------
// Merge keys: what lets a `Resources` find the one entry a resource merges
// with (or is subtracted from) without scanning them all.
// ---------------------------------------------------------------------------

/// How resources of one kind combine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Merging {
    /// Every two of the kind are addable (they merge by value).
    ByKind,
    /// Only identical ones combine (shared resources, counted).
    WhenEqual,
    /// Never merged, only subtracted when identical (exclusive disks and
    /// persistent volumes).
    Never,
}

fn merging(resource: &Resource) -> Merging {
    if resource.shared.is_some() {
        return Merging::WhenEqual;
    }
    if let Some(disk) = &resource.disk {
        if disk.persistence.is_some() {
            return Merging::Never;
        }
        if let Some(source) = &disk.source {
            match source.r#type() {
                SourceType::Mount | SourceType::Block => return Merging::Never,
                SourceType::Raw if source.id.is_some() => return Merging::Never,
                _ => {}
            }
        }
    }
    Merging::ByKind
}

fn sorted_labels(labels: &Labels) -> Labels {
    let mut labels = labels.clone();
    labels
        .labels
        .sort_unstable_by(|a, b| (&a.key, &a.value).cmp(&(&b.key, &b.value)));
    labels
}

/// Canonical bytes of what [`same_kind`] compares (and, for kinds that only
/// combine when equal, of the value too): two resources that may combine
/// always have the same bytes. Equal bytes are then confirmed with the real
/// predicates, so this only has to be a faithful *necessary* condition.
fn merge_key_bytes(resource: &Resource) -> Vec<u8> {
    use prost::Message as _;
    let kind = Resource {
        name: resource.name.clone(),
        r#type: resource.r#type,
        allocation_info: resource.allocation_info.as_ref().map(|a| {
            mesos::v1::resource::AllocationInfo {
                role: a.role.clone(),
            }
        }),
        reservations: resource
            .reservations
            .iter()
            .map(|r| ReservationInfo {
                r#type: Some(r.r#type() as i32),
                role: Some(r.role().to_string()),
                principal: r.principal.clone(),
                labels: r.labels.as_ref().map(sorted_labels),
            })
            .collect(),
        disk: resource.disk.as_ref().map(|d| {
            Box::new(DiskInfo {
                source: d.source.as_ref().map(|source| {
                    let mut source = source.clone();
                    source.metadata = source.metadata.as_ref().map(sorted_labels);
                    source
                }),
                persistence: d.persistence.as_ref().map(|p| {
                    mesos::v1::resource::disk_info::Persistence {
                        id: p.id.clone(),
                        principal: None,
                    }
                }),
                volume: None,
            })
        }),
        revocable: resource.revocable.as_ref().map(|_| Default::default()),
        provider_id: resource.provider_id.clone(),
        shared: resource.shared.as_ref().map(|_| Default::default()),
        ..Default::default()
    };
    let mut bytes = kind.encode_to_vec();
    if merging(resource) != Merging::ByKind {
        // Length-prefixed so the value cannot be confused with the kind.
        bytes.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        match ValueType::try_from(resource.r#type) {
            Ok(ValueType::Scalar) => bytes.extend_from_slice(
                &scalar_to_fixed(resource.scalar.map_or(0.0, |s| s.value)).to_le_bytes(),
            ),
            Ok(ValueType::Ranges) => {
                for (begin, end) in coalesce_ranges(ranges_of(resource.ranges.as_deref())) {
                    bytes.extend_from_slice(&begin.to_le_bytes());
                    bytes.extend_from_slice(&end.to_le_bytes());
                }
            }
            Ok(ValueType::Set) => {
                let items: BTreeSet<&String> = set_items(resource).iter().collect();
                for item in items {
                    bytes.extend_from_slice(&(item.len() as u64).to_le_bytes());
                    bytes.extend_from_slice(item.as_bytes());
                }
            }
            _ => {}
        }
    }
    bytes
}

// ---------------------------------------------------------------------------
// The Resources collection.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Entry {
    resource: Resource,
    /// Copies of a shared resource (`None` for non-shared ones, which merge
    /// by value instead).
    shared_count: Option<i64>,
}

impl Entry {
    fn new(resource: Resource) -> Entry {
        let shared_count = resource.shared.is_some().then_some(1);
        Entry {
            resource,
            shared_count,
        }
    }

    fn is_empty(&self) -> bool {
        self.shared_count == Some(0) || is_empty_value(&self.resource)
    }

    fn contains(&self, that: &Entry) -> bool {
        match (self.shared_count, that.shared_count) {
            (None, None) => contains_one(&self.resource, &that.resource),
            (Some(mine), Some(theirs)) => {
                mine >= theirs && resource_eq(&self.resource, &that.resource)
            }
            _ => false,
        }
    }
}

/// A set of resources in the post-reservation-refinement format, with
/// same-kind resources merged (`cpus:1` + `cpus:2` is one `cpus:3`).
///
/// Iteration yields each distinct `Resource` once; a shared resource added
/// `n` times is yielded once and [`count`](Resources::count)ed `n` times, as
/// upstream.
///
/// Adding, subtracting and looking up one resource costs time proportional
/// to that resource (plus the few entries it could combine with), not to
/// the collection: a large collection indexes its entries by a hash of
/// their merge key (with a process-wide random key, so crafted names cannot
/// collide, and one hash is good in every collection: adding, filtering and
/// comparing reuse it). A small one, as typical offers and allocations are,
/// is scanned instead, which beats hashing a handful of entries.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    entries: Vec<Entry>,
    /// Merge-key hash of each entry, parallel to `entries` when indexed;
    /// empty while the collection is small.
    hashes: Vec<u64>,
    /// Merge-key hash → positions in `entries` with that hash, when indexed.
    index: HashMap<u64, Vec<usize>>,
}

/// Collections with more entries than this are indexed; at half of it the
/// index is dropped again.
const INDEXED_ABOVE: usize = 16;

/// The keys of every merge-key hash, drawn once per process.
fn merge_keys() -> &'static RandomState {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    KEYS.get_or_init(RandomState::new)
}

/// A hash of what [`same_kind`] compares (and, for kinds that only combine
/// when equal, of the value too): two resources that may combine always
/// hash alike. Equal hashes are then confirmed with the real predicates.
fn merge_hash(resource: &Resource) -> u64 {
    let mut hasher = merge_keys().build_hasher();
    // Whether a resource takes the short form depends only on fields that
    // `same_kind` compares exactly, so combinable resources take the same.
    if resource.reservations.is_empty()
        && resource.disk.is_none()
        && resource.provider_id.is_none()
        && resource.shared.is_none()
    {
        hasher.write_u8(0);
        resource.name.hash(&mut hasher);
        hasher.write_i32(resource.r#type);
        match &resource.allocation_info {
            None => hasher.write_u8(0),
            Some(info) => {
                hasher.write_u8(1);
                info.role.hash(&mut hasher);
            }
        }
        hasher.write_u8(u8::from(resource.revocable.is_some()));
    } else {
        hasher.write_u8(1);
        hasher.write(&merge_key_bytes(resource));
    }
    hasher.finish()
}

impl Resources {
    /// No resources.
    pub fn new() -> Resources {
        Resources::default()
    }

    fn indexed(&self) -> bool {
        !self.hashes.is_empty()
    }

    /// The merge-key hash of entry `i`, when the collection keeps them.
    fn known_hash(&self, i: usize) -> Option<u64> {
        self.hashes.get(i).copied()
    }

    /// The first entry that may combine with `resource` (whose merge-key
    /// hash may be `known`) and satisfies `matches`.
    fn find_entry(
        &self,
        resource: &Resource,
        known: Option<u64>,
        matches: impl Fn(&Entry) -> bool,
    ) -> Option<usize> {
        if !self.indexed() {
            return self.entries.iter().position(matches);
        }
        let hash = known.unwrap_or_else(|| merge_hash(resource));
        self.index
            .get(&hash)?
            .iter()
            .copied()
            .find(|&i| matches(&self.entries[i]))
    }

    /// Appends an entry without trying to merge it.
    fn push_entry(&mut self, entry: Entry, known: Option<u64>) {
        if self.indexed() {
            let hash = known.unwrap_or_else(|| merge_hash(&entry.resource));
            self.index.entry(hash).or_default().push(self.entries.len());
            self.hashes.push(hash);
            self.entries.push(entry);
        } else {
            self.entries.push(entry);
            if self.entries.len() > INDEXED_ABOVE {
                self.hashes = self
                    .entries
                    .iter()
                    .map(|e| merge_hash(&e.resource))
                    .collect();
                self.rebuild_index();
            }
        }
    }

    fn rebuild_index(&mut self) {
        self.index.clear();
        for (i, hash) in self.hashes.iter().enumerate() {
            self.index.entry(*hash).or_default().push(i);
        }
    }

    /// Removes the entry at `i` (the last one takes its place).
    fn remove_entry(&mut self, i: usize) {
        if !self.indexed() {
            self.entries.swap_remove(i);
            return;
        }
        let last = self.entries.len() - 1;
        let hash = self.hashes[i];
        if let Some(bucket) = self.index.get_mut(&hash) {
            bucket.retain(|&at| at != i);
            if bucket.is_empty() {
                self.index.remove(&hash);
            }
        }
        if i != last {
            if let Some(bucket) = self.index.get_mut(&self.hashes[last]) {
                for at in bucket.iter_mut().filter(|at| **at == last) {
                    *at = i;
                }
            }
        }
        self.entries.swap_remove(i);
        self.hashes.swap_remove(i);
        if self.entries.len() <= INDEXED_ABOVE / 2 {
            self.hashes = Vec::new();
            self.index = HashMap::new();
        }
    }

    /// A collection of already-merged entries (a subset of a `Resources`)
    /// with their hashes where known.
    fn from_merged(entries: impl IntoIterator<Item = (Entry, Option<u64>)>) -> Resources {
        let mut out = Resources::new();
        for (entry, known) in entries {
            out.push_entry(entry, known);
        }
        out
    }

    /// Entries with their hashes where known.
    fn hashed_entries(&self) -> impl Iterator<Item = (&Entry, Option<u64>)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e, self.known_hash(i)))
    }

    /// Builds from resources in either format, failing on the first invalid
    /// one (where `From<Vec<Resource>>` silently drops it, like upstream).
    pub fn try_from_vec(resources: Vec<Resource>) -> Result<Resources, ResourcesError> {
        let mut result = Resources::new();
        for resource in resources {
            validate(&resource)?;
            result.add_valid(resource);
        }
        Ok(result)
    }

    /// Builds from v0 resources (wire twins of v1), in either format.
    pub fn from_v0(resources: &[mesos::Resource]) -> Resources {
        resources
            .iter()
            .map(crate::convert::evolve::<_, Resource>)
            .collect()
    }

    /// The resources as v0 `Resource`s (post-refinement format).
    pub fn to_v0(&self) -> Vec<mesos::Resource> {
        self.iter().map(crate::convert::devolve).collect()
    }

    /// Adds one resource (either format); invalid or empty ones are ignored.
    pub fn add_resource(&mut self, resource: Resource) {
        if validate(&resource).is_ok() {
            self.add_valid(resource);
        }
    }

    fn add_valid(&mut self, mut resource: Resource) {
        upgrade(&mut resource);
        self.add_entry(Entry::new(resource));
    }

    fn add_entry(&mut self, entry: Entry) {
        self.add_hashed(entry, None);
    }

    /// Adds an entry whose merge-key hash may be known.
    fn add_hashed(&mut self, entry: Entry, known: Option<u64>) {
        if let Some(i) = self.merge_target(&entry, known) {
            self.merge_into(i, &entry);
        } else if !entry.is_empty() {
            self.push_entry(entry, known);
        }
    }

    /// [`Self::add_hashed`] that copies `entry` only when it is not merged.
    fn add_ref(&mut self, entry: &Entry, known: Option<u64>) {
        if let Some(i) = self.merge_target(entry, known) {
            self.merge_into(i, entry);
        } else if !entry.is_empty() {
            self.push_entry(entry.clone(), known);
        }
    }

    /// The entry `entry` would be merged into.
    fn merge_target(&self, entry: &Entry, known: Option<u64>) -> Option<usize> {
        if entry.is_empty() || merging(&entry.resource) == Merging::Never {
            return None;
        }
        self.find_entry(&entry.resource, known, |e| {
            addable(&e.resource, &entry.resource)
        })
    }

    fn merge_into(&mut self, i: usize, entry: &Entry) {
        let existing = &mut self.entries[i];
        match (existing.shared_count.as_mut(), entry.shared_count) {
            (Some(count), Some(more)) => *count = count.saturating_add(more),
            _ => add_value(&mut existing.resource, &entry.resource),
        }
    }

    /// Removes one resource (either format). What is not there is ignored;
    /// a scalar that would go negative is removed entirely.
    pub fn subtract_resource(&mut self, resource: &Resource) {
        if validate(resource).is_err() {
            return;
        }
        let mut resource = resource.clone();
        upgrade(&mut resource);
        self.subtract_entry(&Entry::new(resource));
    }

    fn subtract_entry(&mut self, that: &Entry) {
        self.subtract_hashed(that, None);
    }

    /// Subtracts an entry whose merge-key hash may be known.
    fn subtract_hashed(&mut self, that: &Entry, known: Option<u64>) {
        if that.is_empty() {
            return;
        }
        let Some(i) = self.find_entry(&that.resource, known, |e| {
            subtractable(&e.resource, &that.resource)
        }) else {
            return;
        };
        let entry = &mut self.entries[i];
        match (entry.shared_count.as_mut(), that.shared_count) {
            (Some(count), Some(less)) => *count = count.saturating_sub(less),
            _ => subtract_value(&mut entry.resource, &that.resource),
        }
        let negative = entry.shared_count.is_some_and(|c| c < 0)
            || (entry.resource.r#type == ValueType::Scalar as i32
                && entry
                    .resource
                    .scalar
                    .is_some_and(|s| scalar_to_fixed(s.value) < 0));
        if negative || entry.is_empty() {
            self.remove_entry(i);
        }
    }

    /// Whether all of `that` is in `self`. Each persistent volume of `that`
    /// must be matched by a distinct one in `self`.
    pub fn contains(&self, that: &Resources) -> bool {
        // Only persistent volumes are used up while matching; copy `self`
        // just when there are some.
        let mut remaining = that
            .entries
            .iter()
            .any(|e| is_persistent_volume(&e.resource))
            .then(|| self.clone());
        for (entry, known) in that.hashed_entries() {
            let pool = remaining.as_ref().unwrap_or(self);
            if !pool.contains_hashed(entry, known) {
                return false;
            }
            if is_persistent_volume(&entry.resource) {
                if let Some(remaining) = remaining.as_mut() {
                    remaining.subtract_hashed(entry, known);
                }
            }
        }
        true
    }

    fn contains_hashed(&self, entry: &Entry, known: Option<u64>) -> bool {
        // Containment needs `subtractable` (same kind) or, for shared
        // resources, equality: both imply the same merge key.
        self.find_entry(&entry.resource, known, |e| e.contains(entry))
            .is_some()
    }

    /// Whether one resource (either format) is in `self`; an invalid one
    /// never is.
    pub fn contains_resource(&self, resource: &Resource) -> bool {
        if validate(resource).is_err() {
            return false;
        }
        let mut resource = resource.clone();
        upgrade(&mut resource);
        self.contains_hashed(&Entry::new(resource), None)
    }

    /// How many copies of `resource` are held: the count for a shared
    /// resource, 1 for a non-shared one that is present with exactly that value.
    pub fn count(&self, resource: &Resource) -> usize {
        // Equal resources have equal merge keys.
        self.find_entry(resource, None, |e| resource_eq(&e.resource, resource))
            .map_or(0, |i| {
                self.entries[i]
                    .shared_count
                    .map_or(1, |c| usize::try_from(c).unwrap_or(0))
            })
    }

    /// True when there are no resources.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of distinct `Resource` objects.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The distinct `Resource` objects.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    /// The resources as a list (post-refinement format), one per distinct object.
    pub fn into_vec(self) -> Vec<Resource> {
        self.entries.into_iter().map(|e| e.resource).collect()
    }

    /// The resources as a list (post-refinement format), one per distinct
    /// object, leaving `self` as it is.
    pub fn to_vec(&self) -> Vec<Resource> {
        self.iter().cloned().collect()
    }

    /// The resources in the pre-refinement format (see [`to_pre_refinement`]).
    pub fn to_pre_refinement(&self) -> Vec<Resource> {
        let mut out: Vec<Resource> = self.iter().cloned().collect();
        to_pre_refinement(&mut out);
        out
    }

    /// The resources in the endpoint format (see [`to_endpoint_format`]).
    pub fn to_endpoint_format(&self) -> Vec<Resource> {
        let mut out: Vec<Resource> = self.iter().cloned().collect();
        to_endpoint_format(&mut out);
        out
    }

    /// The resources matching `predicate` (no re-merging needed: filtering
    /// only removes).
    pub fn filter(&self, predicate: impl Fn(&Resource) -> bool) -> Resources {
        Resources::from_merged(
            self.hashed_entries()
                .filter(|(e, _)| predicate(&e.resource))
                .map(|(e, known)| (e.clone(), known)),
        )
    }

    /// Reserved resources; to exactly `role` when given.
    pub fn reserved(&self, role: Option<&str>) -> Resources {
        self.filter(|r| is_reserved(r, role))
    }

    /// Unreserved resources.
    pub fn unreserved(&self) -> Resources {
        self.filter(is_unreserved)
    }

    /// Resources `role` may use: unreserved, or reserved to it or an ancestor.
    pub fn allocatable_to(&self, role: &str) -> Resources {
        self.filter(|r| is_allocatable_to(r, role))
    }

    /// Resources reserved to `role` or one of its descendants.
    pub fn reserved_to_role_subtree(&self, role: &str) -> Resources {
        self.filter(|r| {
            reservation_role(r).is_some_and(|rr| rr == role || is_strict_subrole_of(rr, role))
        })
    }

    /// Resources allocated to `role` or one of its descendants.
    pub fn allocated_to_role_subtree(&self, role: &str) -> Resources {
        self.filter(|r| {
            let allocated = r.allocation_info.as_ref().map_or("", |a| a.role());
            allocated == role || is_strict_subrole_of(allocated, role)
        })
    }

    /// Reserved resources grouped by (innermost) reservation role.
    pub fn reservations(&self) -> BTreeMap<String, Resources> {
        let mut out: BTreeMap<String, Resources> = BTreeMap::new();
        for (entry, known) in self.hashed_entries() {
            if let Some(role) = reservation_role(&entry.resource) {
                out.entry(role.to_string())
                    .or_default()
                    .add_ref(entry, known);
            }
        }
        out
    }

    /// Allocated resources grouped by `allocation_info.role`; resources
    /// without allocation info are left out (upstream `CHECK`s they are absent).
    pub fn allocations(&self) -> BTreeMap<String, Resources> {
        let mut out: BTreeMap<String, Resources> = BTreeMap::new();
        for (entry, known) in self.hashed_entries() {
            if let Some(role) = entry
                .resource
                .allocation_info
                .as_ref()
                .and_then(|a| a.role.as_deref())
            {
                out.entry(role.to_string())
                    .or_default()
                    .add_ref(entry, known);
            }
        }
        out
    }

    /// Marks every resource as allocated to `role`.
    pub fn allocate(&mut self, role: &str) {
        self.set_allocation_info(Some(mesos::v1::resource::AllocationInfo {
            role: Some(role.to_string()),
        }));
    }

    /// Clears every `allocation_info`.
    pub fn unallocate(&mut self) {
        self.set_allocation_info(None);
    }

    fn set_allocation_info(&mut self, info: Option<mesos::v1::resource::AllocationInfo>) {
        let role = |e: &Entry| e.resource.allocation_info.as_ref().map(|a| a.role.clone());
        let uniform = self
            .entries
            .split_first()
            .is_none_or(|(first, rest)| rest.iter().all(|e| role(e) == role(first)));
        if uniform {
            // Entries that differed in something other than allocation
            // still differ: none merge, only the hashes change.
            for entry in &mut self.entries {
                entry.resource.allocation_info = info.clone();
            }
            if self.indexed() {
                self.hashes = self
                    .entries
                    .iter()
                    .map(|e| merge_hash(&e.resource))
                    .collect();
                self.rebuild_index();
            }
            return;
        }
        // Every merge key changes and some entries merge: rebuild.
        let entries = std::mem::take(self).entries;
        for mut entry in entries {
            entry.resource.allocation_info = info.clone();
            self.add_entry(entry);
        }
    }

    /// The same resources with every reservation removed.
    pub fn to_unreserved(&self) -> Resources {
        let mut out = Resources::new();
        for entry in &self.entries {
            let mut entry = entry.clone();
            entry.resource.reservations.clear();
            out.add_entry(entry);
        }
        out
    }

    /// The old name of [`to_unreserved`](Resources::to_unreserved): the same
    /// amounts with all reservations dropped, for "how much in total" checks.
    pub fn flatten(&self) -> Resources {
        self.to_unreserved()
    }

    /// Pushes a (refining) reservation onto every resource; fails if a
    /// result would be invalid (e.g. the role is not a refinement).
    pub fn push_reservation(
        &self,
        reservation: &ReservationInfo,
    ) -> Result<Resources, ResourcesError> {
        let mut out = Resources::new();
        for entry in &self.entries {
            let mut entry = entry.clone();
            entry.resource.reservations.push(reservation.clone());
            validate(&entry.resource)?;
            out.add_entry(entry);
        }
        Ok(out)
    }

    /// Pops the innermost reservation of every resource (unreserved ones
    /// stay unreserved).
    pub fn pop_reservation(&self) -> Resources {
        let mut out = Resources::new();
        for entry in &self.entries {
            let mut entry = entry.clone();
            entry.resource.reservations.pop();
            out.add_entry(entry);
        }
        out
    }

    /// Scalars only, with just name, type and value (quantities for quota
    /// and allocation arithmetic).
    pub fn create_stripped_scalar_quantity(&self) -> Resources {
        let mut out = Resources::new();
        for resource in self.iter().filter(|r| r.r#type == ValueType::Scalar as i32) {
            out.add_entry(Entry::new(Resource {
                name: resource.name.clone(),
                r#type: resource.r#type,
                scalar: resource.scalar,
                ..Default::default()
            }));
        }
        out
    }

    /// Persistent volumes.
    pub fn persistent_volumes(&self) -> Resources {
        self.filter(is_persistent_volume)
    }

    /// Revocable resources.
    pub fn revocable(&self) -> Resources {
        self.filter(is_revocable)
    }

    /// Non-revocable resources.
    pub fn non_revocable(&self) -> Resources {
        self.filter(|r| !is_revocable(r))
    }

    /// Shared resources.
    pub fn shared(&self) -> Resources {
        self.filter(is_shared)
    }

    /// Non-shared resources.
    pub fn non_shared(&self) -> Resources {
        self.filter(|r| !is_shared(r))
    }

    /// Resources without refined reservations (what a framework without
    /// `RESERVATION_REFINEMENT` may be offered).
    pub fn without_refined_reservations(&self) -> Resources {
        self.filter(|r| !has_refined_reservations(r))
    }

    /// Resources named `name`.
    pub fn get(&self, name: &str) -> Resources {
        self.filter(|r| r.name == name)
    }

    /// Scalar resources.
    pub fn scalars(&self) -> Resources {
        self.filter(|r| r.r#type == ValueType::Scalar as i32)
    }

    /// The distinct names.
    pub fn names(&self) -> BTreeSet<String> {
        self.iter().map(|r| r.name.clone()).collect()
    }

    /// The sum of the scalar resources named `name` (0 when there are none),
    /// at 0.001 granularity.
    pub fn scalar(&self, name: &str) -> f64 {
        self.get_scalar(name).unwrap_or(0.0)
    }

    /// The sum of the scalar resources named `name`, `None` when there are none.
    pub fn get_scalar(&self, name: &str) -> Option<f64> {
        let mut found = false;
        let mut total: i64 = 0;
        for resource in self.iter() {
            if resource.name == name && resource.r#type == ValueType::Scalar as i32 {
                found = true;
                total =
                    total.saturating_add(scalar_to_fixed(resource.scalar.map_or(0.0, |s| s.value)));
            }
        }
        found.then(|| scalar_from_fixed(total))
    }

    /// The union of the range resources named `name`, coalesced.
    pub fn ranges(&self, name: &str) -> Vec<(u64, u64)> {
        let all = self
            .iter()
            .filter(|r| r.name == name && r.r#type == ValueType::Ranges as i32)
            .flat_map(|r| ranges_of(r.ranges.as_deref()))
            .collect();
        coalesce_ranges(all)
    }

    /// The union of the set resources named `name`, in first-seen order.
    pub fn set(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for resource in self
            .iter()
            .filter(|r| r.name == name && r.r#type == ValueType::Set as i32)
        {
            for item in set_items(resource) {
                if seen.insert(item) {
                    out.push(item.clone());
                }
            }
        }
        out
    }

    /// Total `cpus`.
    pub fn cpus(&self) -> Option<f64> {
        self.get_scalar("cpus")
    }

    /// Total `gpus`.
    pub fn gpus(&self) -> Option<f64> {
        self.get_scalar("gpus")
    }

    /// Total `mem`, in MB.
    pub fn mem(&self) -> Option<f64> {
        self.get_scalar("mem")
    }

    /// Total `disk`, in MB.
    pub fn disk(&self) -> Option<f64> {
        self.get_scalar("disk")
    }

    /// All `ports` ranges, coalesced.
    pub fn ports(&self) -> Vec<(u64, u64)> {
        self.ranges("ports")
    }

    /// All `ephemeral_ports` ranges, coalesced.
    pub fn ephemeral_ports(&self) -> Vec<(u64, u64)> {
        self.ranges("ephemeral_ports")
    }

    /// Finds `targets` in `self` (typically an offer), all or nothing: the
    /// resources of `self` that make up every target, for a task or an
    /// operation on that offer. `None` when some target cannot be found in
    /// full.
    ///
    /// A target may be made of pieces of several resources (a scalar split
    /// over reservations, ranges or set items found in different ones). Each
    /// piece is part of one resource of `self` and keeps its reservations and
    /// allocation info, so the master recognises it as offered. Candidates
    /// have the target's name, type, revocability and provider; the order
    /// of preference is:
    /// - for a reserved target: only resources whose (innermost)
    ///   reservation is to the target's role;
    /// - for an unreserved target: resources reserved to `role` (the role
    ///   the caller acts as; skipped when it is `*`), then unreserved ones,
    ///   then, when `role` is `*`, reserved ones of any role.
    ///
    /// Targets with disk info or `SharedInfo` are never found (a volume or a
    /// disk source cannot be split); nor are resources with either ever used.
    ///
    /// Upstream `Resources::find` is the same idea with a fixed order
    /// (target's role, unreserved, anything) and whole-resource matching;
    /// this one takes the role the caller acts as and never lets a reserved
    /// target fall back to other roles.
    pub fn find(&self, targets: &Resources, role: &str) -> Option<Resources> {
        // Candidates always share the target's name: split the pool by name
        // once, so each target only walks resources it could use.
        let mut pools: HashMap<&str, Resources> = HashMap::new();
        for (entry, known) in self.hashed_entries() {
            let pool = pools.entry(entry.resource.name.as_str()).or_default();
            pool.push_entry(entry.clone(), known);
        }
        let mut empty = Resources::new();
        let mut found = Resources::new();
        for target in targets.iter() {
            let pool = match pools.get_mut(target.name.as_str()) {
                Some(pool) => pool,
                None => &mut empty,
            };
            if target.disk.is_some() || target.shared.is_some() {
                return None;
            }
            let usable = |r: &Resource| {
                r.name == target.name
                    && r.r#type == target.r#type
                    && r.disk.is_none()
                    && r.shared.is_none()
                    && r.revocable.is_some() == target.revocable.is_some()
                    && r.provider_id == target.provider_id
            };
            let reserved_to = |r: &Resource, to: &str| reservation_role(r) == Some(to);
            let mut candidates: Vec<Resource> = Vec::new();
            match reservation_role(target) {
                Some(wanted) => {
                    candidates.extend(
                        pool.iter()
                            .filter(|r| usable(r) && reserved_to(r, wanted))
                            .cloned(),
                    );
                }
                None => {
                    if role != "*" {
                        candidates.extend(
                            pool.iter()
                                .filter(|r| usable(r) && reserved_to(r, role))
                                .cloned(),
                        );
                    }
                    candidates.extend(
                        pool.iter()
                            .filter(|r| usable(r) && is_unreserved(r))
                            .cloned(),
                    );
                    if role == "*" {
                        candidates.extend(
                            pool.iter()
                                .filter(|r| usable(r) && !is_unreserved(r))
                                .cloned(),
                        );
                    }
                }
            }
            let mut needed = target.clone();
            for candidate in candidates {
                if is_empty_value(&needed) {
                    break;
                }
                let Some(piece) = overlap(&candidate, &needed) else {
                    continue;
                };
                subtract_value(&mut needed, &piece);
                let piece = Entry::new(piece);
                pool.subtract_entry(&piece);
                found.add_entry(piece);
            }
            if !is_empty_value(&needed) {
                return None;
            }
        }
        Some(found)
    }

    /// Parses resource text as the agent's `--resources` flag takes it: a
    /// JSON array of `Resource` objects, or `name[(role)]:value;...` where a
    /// value is a scalar (`2.5`), ranges (`[31000-32000, 33000-33010]`) or
    /// a set (`{a,b}`). Resources without a role get `default_role` (`"*"`
    /// means unreserved; any other role is a static reservation). Rejects
    /// invalid resources, a name used with two types, and persistent
    /// volumes, revocable resources or dynamic reservations (which only the
    /// system may create). Zero amounts (`gpus:0`) are dropped.
    pub fn parse(text: &str, default_role: &str) -> Result<Resources, ResourcesError> {
        let resources = Resources::from_string(text, default_role)?;
        let mut result = Resources::new();
        let mut types: HashMap<String, i32> = HashMap::new();
        for resource in resources {
            validate(&resource)?;
            let mut resource = resource;
            upgrade(&mut resource);
            if is_persistent_volume(&resource) {
                return Err(parse_error(
                    "Persistent volumes cannot be specified at the command line",
                ));
            }
            if is_revocable(&resource) {
                return Err(parse_error(
                    "Revocable resources cannot be specified at the command line; do not include a 'revocable' key in the resources JSON",
                ));
            }
            if is_dynamically_reserved(&resource) {
                return Err(parse_error(
                    "Dynamic reservations cannot be specified at the command line; do not include a reservation with DYNAMIC type in the resources JSON",
                ));
            }
            let known = *types
                .entry(resource.name.clone())
                .or_insert(resource.r#type);
            if known != resource.r#type {
                return Err(parse_error(format!(
                    "Resources with the same name ('{}') but different types are not allowed",
                    resource.name
                )));
            }
            result.add_entry(Entry::new(resource));
        }
        Ok(result)
    }

    /// The `Resource` objects in resource text, unvalidated and in the
    /// format written (upstream `Resources::fromString`): a JSON array, or
    /// the `;`-separated text form.
    pub fn from_string(text: &str, default_role: &str) -> Result<Vec<Resource>, ResourcesError> {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Array(items)) => from_json(&items, default_role),
            _ => from_simple_string(text, default_role),
        }
    }
}

fn from_json(
    items: &[serde_json::Value],
    default_role: &str,
) -> Result<Vec<Resource>, ResourcesError> {
    items
        .iter()
        .map(|item| {
            let mut resource: Resource = crate::json::from_value(item).map_err(|e| {
                parse_error(format!(
                    "Some JSON resources were not formatted properly: {e}"
                ))
            })?;
            if resource.role.is_none() && resource.reservations.is_empty() {
                resource.role = Some(default_role.to_string());
            }
            Ok(resource)
        })
        .collect()
}

fn from_simple_string(text: &str, default_role: &str) -> Result<Vec<Resource>, ResourcesError> {
    let mut out = Vec::new();
    for token in text.split(';').filter(|t| !t.is_empty()) {
        let pair: Vec<&str> = token.split(':').filter(|t| !t.is_empty()).collect();
        let [name_part, value_part] = pair.as_slice() else {
            return Err(parse_error(format!(
                "Bad value for resources, missing or extra ':' in {token}"
            )));
        };
        let (name, role) = match name_part.find('(') {
            None => (name_part.trim(), default_role),
            Some(open) => {
                let close = name_part
                    .find(')')
                    .filter(|&close| close > open)
                    .ok_or_else(|| {
                        parse_error(format!(
                            "Bad value for resources, mismatched parentheses in {token}"
                        ))
                    })?;
                (name_part[..open].trim(), name_part[open + 1..close].trim())
            }
        };
        out.push(parse_resource(name, value_part, role)?);
    }
    Ok(out)
}

/// One `name:value` with its role, as upstream `Resources::parse(name,
/// value, role)`: a role other than `*` becomes a static reservation.
fn parse_resource(name: &str, text: &str, role: &str) -> Result<Resource, ResourcesError> {
    let fail = |reason: &str| {
        parse_error(format!(
            "Failed to parse resource {name} value {text} error {reason}"
        ))
    };
    let value = parse_value(text).map_err(|e| fail(&e))?;
    let mut resource = Resource {
        name: name.to_string(),
        ..Default::default()
    };
    if role != "*" {
        resource.reservations.push(ReservationInfo {
            r#type: Some(ReservationType::Static as i32),
            role: Some(role.to_string()),
            principal: None,
            labels: None,
        });
    }
    match value {
        ParsedValue::Scalar(v) => {
            resource.r#type = ValueType::Scalar as i32;
            resource.scalar = Some(value::Scalar { value: v });
        }
        ParsedValue::Ranges(r) => {
            resource.r#type = ValueType::Ranges as i32;
            resource.ranges = Some(to_ranges(r));
        }
        ParsedValue::Set(items) => {
            resource.r#type = ValueType::Set as i32;
            resource.set = Some(Box::new(value::Set { item: items }));
        }
        ParsedValue::Text => {
            return Err(parse_error(format!(
                "Bad type for resource {name} value {text} type TEXT"
            )))
        }
    }
    Ok(resource)
}

enum ParsedValue {
    Scalar(f64),
    Ranges(Vec<(u64, u64)>),
    Set(Vec<String>),
    Text,
}

/// `internal::values::parse`: spaces removed; `[...]` ranges, `{...}` sets,
/// a number, or text.
fn parse_value(text: &str) -> Result<ParsedValue, String> {
    let text: String = text.chars().filter(|&c| c != ' ').collect();
    if text.is_empty() {
        return Err("Expecting non-empty string".into());
    }
    if !brackets_match(&text, '{', '}')
        || !brackets_match(&text, '[', ']')
        || !brackets_match(&text, '(', ')')
    {
        return Err("Mismatched brackets".into());
    }
    match text.find('[') {
        Some(0) => {
            let tokens: Vec<&str> = text
                .split(['[', ']', '-', ',', '\n'])
                .filter(|t| !t.is_empty())
                .collect();
            if tokens.len() % 2 != 0 {
                return Err("Expecting one or more \"ranges\"".into());
            }
            let mut ranges = Vec::with_capacity(tokens.len() / 2);
            for pair in tokens.chunks(2) {
                let number = |t: &str| {
                    t.parse::<u64>()
                        .map_err(|_| format!("Expecting non-negative integers in '{t}'"))
                };
                let (begin, end) = (number(pair[0])?, number(pair[1])?);
                if begin > end {
                    return Err(format!("Invalid range {begin}-{end}: begin > end"));
                }
                ranges.push((begin, end));
            }
            Ok(ParsedValue::Ranges(coalesce_ranges(ranges)))
        }
        Some(_) => Err("Unexpected '[' found".into()),
        None => match text.find('{') {
            Some(0) => Ok(ParsedValue::Set(
                text.split(['{', '}', ',', '\n'])
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect(),
            )),
            Some(_) => Err("Unexpected '{' found".into()),
            None => Ok(text
                .parse::<f64>()
                .map_or(ParsedValue::Text, ParsedValue::Scalar)),
        },
    }
}

/// stout `strings::checkBracketsMatching`: never more closers than openers
/// so far, and balanced at the end.
fn brackets_match(text: &str, open: char, close: char) -> bool {
    let mut depth: i64 = 0;
    for c in text.chars() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth < 0 {
                return false;
            }
        }
    }
    depth == 0
}

impl PartialEq for Resources {
    fn eq(&self, other: &Resources) -> bool {
        self.contains(other) && other.contains(self)
    }
}

impl From<Vec<Resource>> for Resources {
    /// Either format; invalid and empty resources are dropped (upstream).
    fn from(resources: Vec<Resource>) -> Resources {
        resources.into_iter().collect()
    }
}

impl From<Resource> for Resources {
    fn from(resource: Resource) -> Resources {
        let mut out = Resources::new();
        out.add_resource(resource);
        out
    }
}

impl FromIterator<Resource> for Resources {
    fn from_iter<I: IntoIterator<Item = Resource>>(iter: I) -> Resources {
        let mut out = Resources::new();
        for resource in iter {
            out.add_resource(resource);
        }
        out
    }
}

impl From<Resources> for Vec<Resource> {
    fn from(resources: Resources) -> Vec<Resource> {
        resources.into_vec()
    }
}

/// Iterator over the distinct `Resource` objects of a [`Resources`].
#[derive(Debug, Clone)]
pub struct Iter<'a>(std::slice::Iter<'a, Entry>);

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Resource;

    fn next(&mut self) -> Option<&'a Resource> {
        self.0.next().map(|e| &e.resource)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Resources {
    type Item = &'a Resource;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl AddAssign<&Resources> for Resources {
    fn add_assign(&mut self, that: &Resources) {
        for (entry, known) in that.hashed_entries() {
            self.add_ref(entry, known);
        }
    }
}

impl AddAssign<Resources> for Resources {
    fn add_assign(&mut self, that: Resources) {
        let hashes = that.hashes;
        for (i, entry) in that.entries.into_iter().enumerate() {
            self.add_hashed(entry, hashes.get(i).copied());
        }
    }
}

impl AddAssign<Resource> for Resources {
    fn add_assign(&mut self, that: Resource) {
        self.add_resource(that);
    }
}

impl SubAssign<&Resources> for Resources {
    fn sub_assign(&mut self, that: &Resources) {
        for (entry, known) in that.hashed_entries() {
            self.subtract_hashed(entry, known);
        }
    }
}

impl SubAssign<Resources> for Resources {
    fn sub_assign(&mut self, that: Resources) {
        *self -= &that;
    }
}

impl SubAssign<&Resource> for Resources {
    fn sub_assign(&mut self, that: &Resource) {
        self.subtract_resource(that);
    }
}

impl Add<&Resources> for &Resources {
    type Output = Resources;
    fn add(self, that: &Resources) -> Resources {
        let mut out = self.clone();
        out += that;
        out
    }
}

impl Add for Resources {
    type Output = Resources;
    fn add(mut self, that: Resources) -> Resources {
        self += that;
        self
    }
}

impl Sub<&Resources> for &Resources {
    type Output = Resources;
    fn sub(self, that: &Resources) -> Resources {
        let mut out = self.clone();
        out -= that;
        out
    }
}

impl Sub for Resources {
    type Output = Resources;
    fn sub(mut self, that: Resources) -> Resources {
        self -= &that;
        self
    }
}

/// One resource as upstream logs it, e.g.
/// `cpus(allocated: web)(reservations: [(STATIC,web)]):2`,
/// `disk(reservations: [(DYNAMIC,db,ops)])[MOUNT:/mnt,vol-1]<SHARED>:100`,
/// `ports:[31000-32000]`, `zones:{a, b}`.
pub struct DisplayResource<'a>(pub &'a Resource);

impl fmt::Display for DisplayResource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(f, "{}", r.name)?;
        if let Some(allocation) = &r.allocation_info {
            write!(f, "(allocated: {})", allocation.role())?;
        }
        if !r.reservations.is_empty() {
            let parts: Vec<String> = r
                .reservations
                .iter()
                .map(|res| {
                    let mut s = format!("({},{}", res.r#type().as_str_name(), res.role());
                    if let Some(principal) = &res.principal {
                        s.push(',');
                        s.push_str(principal);
                    }
                    s.push(')');
                    s
                })
                .collect();
            write!(f, "(reservations: [{}])", parts.join(","))?;
        } else if r.role.is_some() {
            write!(f, "({})", r.role())?;
        }
        if let Some(disk) = &r.disk {
            let mut parts = Vec::new();
            if let Some(source) = &disk.source {
                let root = source
                    .mount
                    .as_ref()
                    .and_then(|m| m.root.as_deref())
                    .or_else(|| source.path.as_ref().and_then(|p| p.root.as_deref()));
                parts.push(match root {
                    Some(root) => format!("{}:{root}", source.r#type().as_str_name()),
                    None => source.r#type().as_str_name().to_string(),
                });
            }
            if let Some(persistence) = &disk.persistence {
                parts.push(persistence.id.clone());
            }
            write!(f, "[{}]", parts.join(","))?;
        }
        if r.revocable.is_some() {
            write!(f, "{{REV}}")?;
        }
        if r.shared.is_some() {
            write!(f, "<SHARED>")?;
        }
        write!(f, ":")?;
        match ValueType::try_from(r.r#type) {
            Ok(ValueType::Scalar) => {
                write!(
                    f,
                    "{}",
                    scalar_from_fixed(scalar_to_fixed(r.scalar.map_or(0.0, |s| s.value)))
                )
            }
            Ok(ValueType::Ranges) => {
                write!(f, "{}", format_ranges(&ranges_of(r.ranges.as_deref())))
            }
            Ok(ValueType::Set) => write!(f, "{{{}}}", set_items(r).join(", ")),
            _ => write!(f, "?"),
        }
    }
}

impl fmt::Display for Resources {
    /// `;`-separated resources, as upstream prints a `Resources`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, resource) in self.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{}", DisplayResource(resource))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
