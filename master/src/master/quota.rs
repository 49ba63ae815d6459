//! Quota and weights inside the actor (upstream `Master::QuotaHandler`,
//! `Master::WeightsHandler` and the quota/weight halves of `_recover`).
//!
//! Owns the master's record of each role's quota and weight, their
//! validation, and their round trip through the registry: a change is
//! written to the registry first and only then applied to the allocator
//! and answered, so an answered change survives a master failover. It
//! never speaks HTTP: callers get typed answers ([`OperatorError`]) that
//! the HTTP layer maps to status codes.

use std::collections::{BTreeMap, HashMap};

use mesos_proto::mesos::internal::Registry as RegistryState;
use mesos_proto::mesos::quota::QuotaConfig;
use mesos_proto::mesos::value::Scalar;
use mesos_proto::mesos::WeightInfo;
use mesos_proto::resources::scalar_add;
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::recovery::Continuation;
use super::validation::validate_role;
use super::Master;
use crate::allocator as alloc;
use crate::registry::Operation;

/// Why an operator change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    /// The request is malformed or breaks a rule (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the cluster's state, e.g. quota
    /// guarantees above its capacity without `force` (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The master is not recovered yet (HTTP 503).
    #[error("Master has not finished recovery")]
    NotRecovered,
    #[error("The master actor stopped")]
    Stopped,
}

/// The answer channel of a quota or weights change.
pub type OperatorReply = oneshot::Sender<Result<(), OperatorError>>;

fn quantities(map: &HashMap<String, Scalar>) -> alloc::ResourceQuantities {
    map.iter().map(|(k, v)| (k.clone(), v.value)).collect()
}

/// A config as the allocator takes it.
pub fn allocator_quota(config: &QuotaConfig) -> alloc::Quota {
    alloc::Quota {
        guarantees: quantities(&config.guarantees),
        limits: quantities(&config.limits),
    }
}

/// Upstream's `validateQuotaConfig` plus the hierarchy rules: a valid
/// role other than `*`, finite non-negative quantities, guarantees within
/// limits, and no child limit above its parent's (checked against `all`,
/// the quotas as they would be after the change).
pub fn validate_quota(
    configs: &[QuotaConfig],
    all: &BTreeMap<String, QuotaConfig>,
) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for config in configs {
        validate_role(&config.role).map_err(|e| format!("Invalid 'QuotaConfig.role': {e}"))?;
        if config.role == "*" {
            return Err(
                "Invalid 'QuotaConfig.role': setting quota for the default '*' role \
                        is not supported"
                    .to_string(),
            );
        }
        if !seen.insert(config.role.as_str()) {
            return Err(format!(
                "Duplicate 'QuotaConfig' for role '{}'",
                config.role
            ));
        }
        for (kind, map) in [
            ("guarantees", &config.guarantees),
            ("limits", &config.limits),
        ] {
            for (name, value) in map {
                if name.is_empty() {
                    return Err(format!("Invalid 'QuotaConfig.{kind}': empty resource name"));
                }
                if !value.value.is_finite() || value.value < 0.0 {
                    return Err(format!(
                        "Invalid 'QuotaConfig.{kind}': negative or non-finite quantity \
                         {}:{} for role '{}'",
                        name, value.value, config.role
                    ));
                }
            }
        }
        for (name, guarantee) in &config.guarantees {
            if let Some(limit) = config.limits.get(name) {
                if guarantee.value > limit.value {
                    return Err(format!(
                        "Invalid 'QuotaConfig': guarantees '{name}:{}' is greater than limits \
                         '{name}:{}' for role '{}'",
                        guarantee.value, limit.value, config.role
                    ));
                }
            }
        }
    }
    // A limit may not exceed the nearest ancestor's limit for that name.
    for (role, config) in all {
        let mut parent = alloc::Role::new(role).parent();
        while let Some(p) = parent {
            if let Some(ancestor) = all.get(p.as_str()) {
                for (name, limit) in &config.limits {
                    if let Some(bound) = ancestor.limits.get(name) {
                        if limit.value > bound.value {
                            return Err(format!(
                                "Invalid 'QuotaConfig': role '{role}' has a limit \
                                 '{name}:{}' above its ancestor '{}' limit '{name}:{}'",
                                limit.value,
                                p.as_str(),
                                bound.value
                            ));
                        }
                    }
                }
                break;
            }
            parent = p.parent();
        }
    }
    Ok(())
}

/// Without `force`, the top-level roles' guarantees together must fit in
/// the cluster's total (upstream's overcommit check).
pub fn check_capacity(
    all: &BTreeMap<String, QuotaConfig>,
    capacity: &alloc::ResourceQuantities,
) -> Result<(), String> {
    let mut guaranteed: alloc::ResourceQuantities = BTreeMap::new();
    for (role, config) in all {
        if role.contains('/') {
            continue;
        }
        for (name, value) in &config.guarantees {
            let sum = guaranteed.entry(name.clone()).or_insert(0.0);
            *sum = scalar_add(*sum, value.value);
        }
    }
    for (name, wanted) in &guaranteed {
        let have = capacity.get(name).copied().unwrap_or(0.0);
        if *wanted > have + 1e-9 {
            let show = |m: &alloc::ResourceQuantities| {
                m.iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            return Err(format!(
                "Total quota guarantees '{}' exceed cluster capacity '{}' (use 'force' flag to \
                 bypass this check)",
                show(&guaranteed),
                show(capacity)
            ));
        }
    }
    Ok(())
}

/// Positive, finite weights for valid roles.
pub fn validate_weights(weights: &[WeightInfo]) -> Result<(), String> {
    if weights.is_empty() {
        return Err("No weights given".to_string());
    }
    for weight in weights {
        let role = weight.role.as_deref().unwrap_or_default();
        validate_role(role).map_err(|e| format!("Invalid role '{role}': {e}"))?;
        if !weight.weight.is_finite() || weight.weight <= 0.0 {
            return Err(format!(
                "Invalid weight '{}' for role '{role}': weights must be positive",
                weight.weight
            ));
        }
    }
    Ok(())
}

impl Master {
    /// UPDATE_QUOTA / SET_QUOTA / REMOVE_QUOTA: validated, written to the
    /// registry, then applied. A config with no guarantees and no limits
    /// removes the role's quota.
    pub(super) fn update_quota(
        &mut self,
        configs: Vec<QuotaConfig>,
        force: bool,
        reply: OperatorReply,
    ) {
        let mut all = self.quotas.clone();
        for config in &configs {
            if config.guarantees.is_empty() && config.limits.is_empty() {
                all.remove(&config.role);
            } else {
                all.insert(config.role.clone(), config.clone());
            }
        }
        if let Err(e) = validate_quota(&configs, &all) {
            let _ = reply.send(Err(OperatorError::Invalid(e)));
            return;
        }
        if !force {
            let mut capacity: alloc::ResourceQuantities = BTreeMap::new();
            for agent in self.agents.values().filter(|a| a.connected) {
                for resource in agent.total.non_revocable().scalars().iter() {
                    let value = resource.scalar.as_ref().map_or(0.0, |s| s.value);
                    let sum = capacity.entry(resource.name.clone()).or_insert(0.0);
                    *sum = scalar_add(*sum, value);
                }
            }
            if let Err(e) = check_capacity(&all, &capacity) {
                let _ = reply.send(Err(OperatorError::Conflict(e)));
                return;
            }
        }
        self.registrar.apply(
            Operation::UpdateQuota(configs.clone()),
            Continuation::QuotaUpdated {
                configs,
                reply: Some(reply),
            },
        );
    }

    /// The registry committed a quota change.
    pub(super) fn quota_updated(&mut self, configs: Vec<QuotaConfig>) {
        for config in configs {
            info!("Updated quota of role '{}'", config.role);
            let role = alloc::Role::new(&config.role);
            self.allocator.update_quota(&role, allocator_quota(&config));
            if config.guarantees.is_empty() && config.limits.is_empty() {
                self.quotas.remove(&config.role);
            } else {
                self.quotas.insert(config.role.clone(), config);
            }
        }
        self.request_allocation();
    }

    /// The roles' quotas, by role.
    pub(super) fn quota_configs(&self) -> Vec<QuotaConfig> {
        self.quotas.values().cloned().collect()
    }

    /// UPDATE_WEIGHTS / `PUT /weights`.
    pub(super) fn update_weights(&mut self, weights: Vec<WeightInfo>, reply: OperatorReply) {
        if let Err(e) = validate_weights(&weights) {
            let _ = reply.send(Err(OperatorError::Invalid(e)));
            return;
        }
        self.registrar.apply(
            Operation::UpdateWeights(weights.clone()),
            Continuation::WeightsUpdated {
                weights,
                reply: Some(reply),
            },
        );
    }

    /// The registry committed a weights change.
    pub(super) fn weights_updated(&mut self, weights: Vec<WeightInfo>) {
        let mut changed = BTreeMap::new();
        for weight in weights {
            let role = weight.role.unwrap_or_default();
            info!("Updated weight of role '{role}' to {}", weight.weight);
            self.weights.insert(role.clone(), weight.weight);
            changed.insert(alloc::Role::new(&role), weight.weight);
        }
        // As upstream: when a changed role has a framework, every
        // outstanding offer goes back, so the new shares decide the next
        // allocation instead of offers made under the old ones.
        let roles: Vec<String> = changed.keys().map(|r| r.to_string()).collect();
        let in_use = self
            .frameworks
            .values()
            .any(|f| f.roles().iter().any(|r| roles.contains(r)));
        self.allocator.update_weights(changed);
        if in_use {
            let offers: Vec<String> = self.offers.keys().cloned().collect();
            if !offers.is_empty() {
                info!(
                    "Rescinding {} outstanding offers after a weights update",
                    offers.len()
                );
            }
            for offer_id in offers {
                self.rescind_offer(&offer_id, None);
            }
        }
        self.request_allocation();
    }

    /// Every role's weight other than the default 1.
    pub(super) fn weight_infos(&self) -> Vec<WeightInfo> {
        self.weights
            .iter()
            .map(|(role, weight)| WeightInfo {
                weight: *weight,
                role: Some(role.clone()),
            })
            .collect()
    }

    /// `_recover`: quota and weights from the registry go to the
    /// allocator. The registry's weights win over `--weights`, which only
    /// seeds a registry that has none (and is then written to it).
    pub(super) fn recover_quota_and_weights(&mut self, registry: &RegistryState) {
        let mut configs: Vec<QuotaConfig> = registry.quota_configs.clone();
        #[allow(deprecated)]
        for legacy in &registry.quotas {
            let Some(role) = legacy.info.role.clone() else {
                continue;
            };
            if configs.iter().any(|c| c.role == role) {
                continue;
            }
            // A pre-1.9 quota is a guarantee that is also the limit.
            let mut amounts = HashMap::new();
            for resource in &legacy.info.guarantee {
                if let Some(scalar) = &resource.scalar {
                    let entry = amounts
                        .entry(resource.name.clone())
                        .or_insert(Scalar { value: 0.0 });
                    entry.value = scalar_add(entry.value, scalar.value);
                }
            }
            configs.push(QuotaConfig {
                role,
                guarantees: amounts.clone(),
                limits: amounts,
            });
        }
        if !configs.is_empty() {
            info!("Recovered quota of {} roles", configs.len());
            self.quota_updated(configs);
        }
        let recovered: Vec<WeightInfo> = registry.weights.iter().map(|w| w.info.clone()).collect();
        let seeded = self.flags.parsed_weights().unwrap_or_default();
        if !recovered.is_empty() {
            if !seeded.is_empty() {
                warn!("Ignoring --weights: the registry holds the roles' weights");
            }
            info!("Recovered weights of {} roles", recovered.len());
            self.weights.clear();
            // Roles seeded from the flag but absent from the registry go
            // back to the default weight.
            let reset: BTreeMap<alloc::Role, f64> = seeded
                .keys()
                .filter(|role| !recovered.iter().any(|w| w.role.as_deref() == Some(role)))
                .map(|role| (alloc::Role::new(role), 1.0))
                .collect();
            if !reset.is_empty() {
                self.allocator.update_weights(reset);
            }
            self.weights_updated(recovered);
        } else if !seeded.is_empty() {
            let weights: Vec<WeightInfo> = seeded
                .iter()
                .map(|(role, weight)| WeightInfo {
                    weight: *weight,
                    role: Some(role.clone()),
                })
                .collect();
            self.registrar.apply(
                Operation::UpdateWeights(weights.clone()),
                Continuation::WeightsUpdated {
                    weights,
                    reply: None,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(role: &str, guarantees: &[(&str, f64)], limits: &[(&str, f64)]) -> QuotaConfig {
        let map = |pairs: &[(&str, f64)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Scalar { value: *v }))
                .collect()
        };
        QuotaConfig {
            role: role.to_string(),
            guarantees: map(guarantees),
            limits: map(limits),
        }
    }

    fn all(configs: &[QuotaConfig]) -> BTreeMap<String, QuotaConfig> {
        configs
            .iter()
            .map(|c| (c.role.clone(), c.clone()))
            .collect()
    }

    #[test]
    fn guarantees_may_not_exceed_limits() {
        let bad = config("eng", &[("cpus", 4.0)], &[("cpus", 2.0)]);
        let error = validate_quota(std::slice::from_ref(&bad), &all(std::slice::from_ref(&bad)))
            .unwrap_err();
        assert!(error.contains("greater than limits"), "{error}");
        let good = config("eng", &[("cpus", 2.0)], &[("cpus", 4.0)]);
        assert!(validate_quota(
            std::slice::from_ref(&good),
            &all(std::slice::from_ref(&good))
        )
        .is_ok());
    }

    #[test]
    fn star_role_negative_and_child_above_parent_are_invalid() {
        let star = config("*", &[("cpus", 1.0)], &[]);
        assert!(validate_quota(
            std::slice::from_ref(&star),
            &all(std::slice::from_ref(&star))
        )
        .is_err());
        let negative = config("eng", &[("cpus", -1.0)], &[]);
        assert!(validate_quota(
            std::slice::from_ref(&negative),
            &all(std::slice::from_ref(&negative))
        )
        .is_err());
        let parent = config("eng", &[], &[("cpus", 2.0)]);
        let child = config("eng/web", &[], &[("cpus", 3.0)]);
        let error = validate_quota(
            std::slice::from_ref(&child),
            &all(&[parent.clone(), child.clone()]),
        )
        .unwrap_err();
        assert!(error.contains("ancestor"), "{error}");
    }

    #[test]
    fn guarantees_above_capacity_conflict_unless_forced() {
        let quota = all(&[
            config("eng", &[("cpus", 3.0)], &[]),
            config("ops", &[("cpus", 2.0)], &[]),
            // Nested guarantees are part of the parent's, not added again.
            config("eng/web", &[("cpus", 3.0)], &[]),
        ]);
        let small = BTreeMap::from([("cpus".to_string(), 4.0)]);
        let error = check_capacity(&quota, &small).unwrap_err();
        assert!(error.contains("exceed cluster capacity"), "{error}");
        let big = BTreeMap::from([("cpus".to_string(), 5.0)]);
        assert!(check_capacity(&quota, &big).is_ok());
    }

    #[test]
    fn weights_must_be_positive_for_valid_roles() {
        let weight = |role: &str, weight: f64| WeightInfo {
            weight,
            role: Some(role.to_string()),
        };
        assert!(validate_weights(&[weight("eng", 2.5)]).is_ok());
        assert!(validate_weights(&[weight("eng", 0.0)]).is_err());
        assert!(validate_weights(&[weight("eng", f64::NAN)]).is_err());
        assert!(validate_weights(&[weight("", 1.0)]).is_err());
        assert!(validate_weights(&[]).is_err());
    }
}
