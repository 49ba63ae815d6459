//! Resource operations in a scheduler's ACCEPT (upstream `Master::_accept`
//! for RESERVE, UNRESERVE, CREATE and DESTROY): validation, the conversion
//! each operation makes of the offered resources, and applying it to the
//! master's agent record, the allocator and the agent.
//!
//! Owns the rules of what an operation may consume and what it produces
//! ([`convert`] is pure, so the upstream scenarios are unit-tested without
//! an actor). It never decides offers or talks HTTP: the ACCEPT handler in
//! `scheduler.rs` hands over one operation and the resources still offered,
//! and gets back what is left after it.
//!
//! Our agents do not advertise RESOURCE_PROVIDER, so, as upstream does for
//! such agents, an applied operation reaches the agent as a
//! `CheckpointResourcesMessage` carrying the agent's whole checkpointed set
//! (dynamic reservations and persistent volumes), and operations that ask
//! for feedback (an `id`) are dropped with OPERATION_ERROR.

use std::collections::BTreeSet;

use mesos_proto::convert::devolve;
use mesos_proto::is_terminal_state;
use mesos_proto::mesos::internal::CheckpointResourcesMessage;
use mesos_proto::mesos::v1::offer::{self, operation::Type as OperationType};
use mesos_proto::mesos::v1::{self as v1, Resource};
use mesos_proto::resources::{
    self as res, is_dynamically_reserved, is_persistent_volume, is_shared, reservation_role,
    Resources,
};
use tracing::{info, warn};

use super::quota::{OperatorError, OperatorReply};
use super::state::{framework_roles, Agent, Capabilities};
use super::Master;
use crate::allocator::{self as alloc, ResourceConversion};

/// Who asks for an operation, for validation: a framework (its roles,
/// principal and capabilities) or an operator (any role).
#[derive(Clone, Debug, Default)]
pub struct Requester {
    /// `None` for an operator: every role is allowed.
    pub roles: Option<BTreeSet<String>>,
    pub principal: Option<String>,
    pub reservation_refinement: bool,
    pub shared_resources: bool,
}

/// What is checkpointed on an agent: dynamic reservations and persistent
/// volumes (upstream `needCheckpointing`).
pub fn needs_checkpointing(resource: &Resource) -> bool {
    is_dynamically_reserved(resource) || is_persistent_volume(resource)
}

/// The checkpointed part of an agent's total resources.
pub fn checkpointed(total: &Resources) -> Resources {
    total.filter(needs_checkpointing)
}

/// The disk a volume was created from: the volume without its persistence
/// and container volume (upstream `stripPersistentVolume`).
fn strip_persistence(volumes: &Resources) -> Resources {
    volumes
        .iter()
        .map(|volume| {
            let mut volume = volume.clone();
            if let Some(disk) = volume.disk.as_mut() {
                disk.persistence = None;
                disk.volume = None;
                if disk.source.is_none() {
                    volume.disk = None;
                }
            }
            volume.shared = None;
            volume
        })
        .collect()
}

fn validate_resources(resources: &[Resource]) -> Result<Resources, String> {
    if resources.is_empty() {
        return Err("No resources specified".to_string());
    }
    for resource in resources {
        res::validate(resource).map_err(|e| format!("Invalid resources: {e}"))?;
    }
    Ok(Resources::from(resources.to_vec()))
}

fn reservation_principal(resource: &Resource) -> Option<&str> {
    resource
        .reservations
        .last()
        .and_then(|r| r.principal.as_deref())
}

/// The role a resource in an ACCEPT is allocated to (set by the master's
/// normalization; operators' resources carry none).
fn allocation_role(resource: &Resource) -> Option<&str> {
    resource
        .allocation_info
        .as_ref()
        .and_then(|a| a.role.as_deref())
}

/// RESERVE (upstream `validation::operation::validate(Reserve)`).
fn convert_reserve(
    reserve: &offer::operation::Reserve,
    requester: &Requester,
) -> Result<ResourceConversion, String> {
    let resources = validate_resources(&reserve.resources)?;
    for resource in resources.iter() {
        if !is_dynamically_reserved(resource) {
            return Err(format!(
                "Resource {} is not dynamically reserved",
                Resources::from(resource.clone())
            ));
        }
        if is_persistent_volume(resource) {
            return Err(format!(
                "A persistent volume {} must already be reserved",
                Resources::from(resource.clone())
            ));
        }
        let role = reservation_role(resource).unwrap_or("*");
        match (
            requester.principal.as_deref(),
            reservation_principal(resource),
        ) {
            (Some(ours), Some(theirs)) if ours != theirs => {
                return Err(format!(
                    "A reserve operation was attempted by authenticated principal '{ours}', \
                     which does not match a reserved resource in the request with principal \
                     '{theirs}'"
                ))
            }
            _ => {}
        }
        if let Some(roles) = &requester.roles {
            if !roles.contains(role) {
                return Err(format!(
                    "A reserve operation was attempted for a resource with role '{role}', but \
                     the framework can only reserve resources with roles {:?}",
                    roles
                ));
            }
            if let Some(allocated) = allocation_role(resource) {
                if allocated != role {
                    return Err(format!(
                        "A reserve operation was attempted for a resource allocated to role \
                         '{allocated}', but the requested reservation role is '{role}'"
                    ));
                }
            }
        }
        if res::has_refined_reservations(resource) && !requester.reservation_refinement {
            return Err(format!(
                "Resource {} with reservation refinement violates the RESERVATION_REFINEMENT \
                 capability of the framework",
                Resources::from(resource.clone())
            ));
        }
    }
    Ok(ResourceConversion {
        consumed: resources.pop_reservation(),
        converted: resources,
    })
}

/// UNRESERVE.
fn convert_unreserve(
    unreserve: &offer::operation::Unreserve,
    requester: &Requester,
) -> Result<ResourceConversion, String> {
    let resources = validate_resources(&unreserve.resources)?;
    for resource in resources.iter() {
        if !is_dynamically_reserved(resource) {
            return Err(format!(
                "Resource {} is not dynamically reserved",
                Resources::from(resource.clone())
            ));
        }
        if is_persistent_volume(resource) {
            return Err(format!(
                "A dynamically reserved persistent volume {} cannot be unreserved",
                Resources::from(resource.clone())
            ));
        }
        if let Some(roles) = &requester.roles {
            let role = reservation_role(resource).unwrap_or("*");
            if !roles.contains(role) {
                return Err(format!(
                    "An unreserve operation was attempted for a resource with role '{role}' \
                     that is not one of the framework's roles"
                ));
            }
        }
    }
    Ok(ResourceConversion {
        converted: resources.pop_reservation(),
        consumed: resources,
    })
}

fn check_volume(volume: &Resource) -> Result<(&str, &str), String> {
    let shown = || Resources::from(volume.clone()).to_string();
    let Some(disk) = volume.disk.as_ref() else {
        return Err(format!("Resource {} is not a persistent volume", shown()));
    };
    let Some(persistence) = disk.persistence.as_ref() else {
        return Err(format!("Resource {} is not a persistent volume", shown()));
    };
    if persistence.id.is_empty() {
        return Err(format!("Persistent volume {} has an empty id", shown()));
    }
    crate::master::validation::validate_id(&persistence.id)
        .map_err(|e| format!("Invalid persistent volume id '{}': {e}", persistence.id))?;
    let Some(container) = disk.volume.as_ref() else {
        return Err(format!(
            "Expecting 'volume' to be set for persistent volume {}",
            shown()
        ));
    };
    if container.container_path.is_empty() || container.container_path.starts_with('/') {
        return Err(format!(
            "Persistent volume {} must have a relative 'volume.container_path'",
            shown()
        ));
    }
    if container.container_path.split('/').any(|part| part == "..") {
        return Err(format!(
            "Persistent volume {} has '..' in its container path",
            shown()
        ));
    }
    if container.host_path.is_some() {
        return Err(format!(
            "Persistent volume {} must not set 'volume.host_path'",
            shown()
        ));
    }
    let Some(role) = reservation_role(volume) else {
        return Err(format!(
            "Persistent volume {} is not reserved to a role",
            shown()
        ));
    };
    Ok((role, persistence.id.as_str()))
}

/// CREATE: ids are unique per role on the agent (`existing` is the agent's
/// total, which holds its current volumes).
fn convert_create(
    create: &offer::operation::Create,
    requester: &Requester,
    existing: &Resources,
) -> Result<ResourceConversion, String> {
    let volumes = validate_resources(&create.volumes)?;
    let mut ids = BTreeSet::new();
    for volume in volumes.iter() {
        let (role, id) = check_volume(volume)?;
        if !ids.insert((role.to_string(), id.to_string())) {
            return Err(format!(
                "Persistent volume ID '{id}' in the operation is duplicated"
            ));
        }
        let clash = existing.iter().any(|other| {
            reservation_role(other) == Some(role)
                && other
                    .disk
                    .as_ref()
                    .and_then(|d| d.persistence.as_ref())
                    .is_some_and(|p| p.id == id)
        });
        if clash {
            return Err(format!(
                "Persistent volume '{id}' already exists for role '{role}'"
            ));
        }
        let principal = volume
            .disk
            .as_ref()
            .and_then(|d| d.persistence.as_ref())
            .and_then(|p| p.principal.as_deref());
        if let (Some(ours), Some(theirs)) = (requester.principal.as_deref(), principal) {
            if ours != theirs {
                return Err(format!(
                    "Create volume operation attempted by principal '{ours}', but there is a \
                     volume in the operation with principal '{theirs}'"
                ));
            }
        }
        if let Some(roles) = &requester.roles {
            if !roles.contains(role) {
                return Err(format!(
                    "Create volume operation for role '{role}', which is not one of the \
                     framework's roles"
                ));
            }
            if is_shared(volume) && !requester.shared_resources {
                return Err(format!(
                    "Create volume operation for '{}' has been attempted by a framework without \
                     the SHARED_RESOURCES capability",
                    Resources::from(volume.clone())
                ));
            }
        }
    }
    Ok(ResourceConversion {
        consumed: strip_persistence(&volumes),
        converted: volumes,
    })
}

/// DESTROY: `in_use` are the resources of the agent's live tasks.
fn convert_destroy(
    destroy: &offer::operation::Destroy,
    requester: &Requester,
    in_use: &Resources,
) -> Result<ResourceConversion, String> {
    let volumes = validate_resources(&destroy.volumes)?;
    for volume in volumes.iter() {
        let (role, _) = check_volume(volume)?;
        if let Some(roles) = &requester.roles {
            if !roles.contains(role) {
                return Err(format!(
                    "Destroy volume operation for role '{role}', which is not one of the \
                     framework's roles"
                ));
            }
        }
        let mut unallocated = volume.clone();
        unallocated.allocation_info = None;
        if in_use.contains_resource(&unallocated) {
            return Err(format!(
                "Persistent volumes in use: {}",
                Resources::from(volume.clone())
            ));
        }
    }
    Ok(ResourceConversion {
        converted: strip_persistence(&volumes),
        consumed: volumes,
    })
}

fn with_scalar(resource: &Resource, value: f64) -> Resource {
    let mut out = resource.clone();
    out.scalar = Some(mesos_proto::mesos::v1::value::Scalar { value });
    out
}

fn disk_size(resource: &Resource) -> f64 {
    resource.scalar.as_ref().map_or(0.0, |s| s.value)
}

/// GROW_VOLUME: the volume and the addition (same disk, same
/// reservations) become one larger volume.
fn convert_grow(
    grow: &offer::operation::GrowVolume,
    requester: &Requester,
) -> Result<ResourceConversion, String> {
    let volume = &grow.volume;
    res::validate(volume).map_err(|e| format!("Invalid volume: {e}"))?;
    res::validate(&grow.addition).map_err(|e| format!("Invalid addition: {e}"))?;
    let (role, _) = check_volume(volume)?;
    if is_shared(volume) {
        return Err("Growing a shared persistent volume is not supported".to_string());
    }
    if let Some(roles) = &requester.roles {
        if !roles.contains(role) {
            return Err(format!(
                "Grow volume operation for role '{role}', which is not one of the framework's \
                 roles"
            ));
        }
    }
    let addition = &grow.addition;
    if disk_size(addition) <= 0.0 {
        return Err("The size of the addition must be positive".to_string());
    }
    let plain = strip_persistence(&Resources::from(volume.clone()));
    let expected = plain
        .iter()
        .next()
        .map(|r| with_scalar(r, disk_size(addition)));
    if expected.as_ref() != Some(addition) {
        return Err(format!(
            "Addition {} is not the same kind of disk as volume {}",
            Resources::from(addition.clone()),
            Resources::from(volume.clone())
        ));
    }
    let mut consumed = Resources::from(volume.clone());
    consumed += addition.clone();
    let grown = with_scalar(
        volume,
        mesos_proto::resources::scalar_add(disk_size(volume), disk_size(addition)),
    );
    Ok(ResourceConversion {
        consumed,
        converted: Resources::from(grown),
    })
}

/// SHRINK_VOLUME: part of the volume goes back as plain (reserved) disk.
fn convert_shrink(
    shrink: &offer::operation::ShrinkVolume,
    requester: &Requester,
) -> Result<ResourceConversion, String> {
    let volume = &shrink.volume;
    res::validate(volume).map_err(|e| format!("Invalid volume: {e}"))?;
    let (role, _) = check_volume(volume)?;
    if is_shared(volume) {
        return Err("Shrinking a shared persistent volume is not supported".to_string());
    }
    if let Some(roles) = &requester.roles {
        if !roles.contains(role) {
            return Err(format!(
                "Shrink volume operation for role '{role}', which is not one of the \
                 framework's roles"
            ));
        }
    }
    let subtract = shrink.subtract.value;
    if subtract.is_nan() || subtract <= 0.0 || subtract >= disk_size(volume) {
        return Err(format!(
            "The amount of disk to subtract {subtract} must be positive and less than the size \
             of the persistent volume"
        ));
    }
    let shrunk = with_scalar(
        volume,
        mesos_proto::resources::scalar_sub(disk_size(volume), subtract),
    );
    let freed = strip_persistence(&Resources::from(with_scalar(volume, subtract)));
    let mut converted = Resources::from(shrunk);
    converted += &freed;
    Ok(ResourceConversion {
        consumed: Resources::from(volume.clone()),
        converted,
    })
}

/// The conversion an operation makes, after validating it as upstream
/// does. `agent_total` is the agent's total (for volume id clashes) and
/// `in_use` what its live tasks use (a volume in use cannot be destroyed).
pub fn convert(
    operation: &offer::Operation,
    requester: &Requester,
    agent_total: &Resources,
    in_use: &Resources,
) -> Result<ResourceConversion, String> {
    let kind =
        OperationType::try_from(operation.r#type.unwrap_or(0)).unwrap_or(OperationType::Unknown);
    let missing = || format!("Missing '{}' field", kind.as_str_name().to_lowercase());
    match kind {
        OperationType::Reserve => {
            convert_reserve(operation.reserve.as_ref().ok_or_else(missing)?, requester)
        }
        OperationType::Unreserve => {
            convert_unreserve(operation.unreserve.as_ref().ok_or_else(missing)?, requester)
        }
        OperationType::Create => convert_create(
            operation.create.as_ref().ok_or_else(missing)?,
            requester,
            agent_total,
        ),
        OperationType::Destroy => convert_destroy(
            operation.destroy.as_ref().ok_or_else(missing)?,
            requester,
            in_use,
        ),
        OperationType::GrowVolume => convert_grow(
            operation.grow_volume.as_ref().ok_or_else(missing)?,
            requester,
        ),
        OperationType::ShrinkVolume => convert_shrink(
            operation.shrink_volume.as_ref().ok_or_else(missing)?,
            requester,
        ),
        other => Err(format!(
            "Operation {} is not supported by this master",
            other.as_str_name()
        )),
    }
}

/// The operations [`Master::apply_offer_operation`] carries out.
pub fn is_resource_operation(kind: OperationType) -> bool {
    matches!(
        kind,
        OperationType::Reserve
            | OperationType::Unreserve
            | OperationType::Create
            | OperationType::Destroy
            | OperationType::GrowVolume
            | OperationType::ShrinkVolume
    )
}

/// GROW_VOLUME and SHRINK_VOLUME need the agent's RESIZE_VOLUME.
fn needs_resize(kind: OperationType) -> bool {
    matches!(
        kind,
        OperationType::GrowVolume | OperationType::ShrinkVolume
    )
}

/// The resources of GROW/SHRINK_VOLUME in the post-refinement format,
/// allocated to `role` when given (the ACCEPT's normalization covers only
/// the list-valued operations).
fn normalize_resize(operation: &mut offer::Operation, role: Option<&str>) {
    let fix = |resource: &mut Resource| {
        let mut list = vec![resource.clone()];
        res::from_pre_refinement(&mut list);
        if let Some(mut fixed) = list.pop() {
            fixed.allocation_info = role.map(|role| v1::resource::AllocationInfo {
                role: Some(role.to_string()),
            });
            *resource = fixed;
        }
    };
    if let Some(grow) = operation.grow_volume.as_mut() {
        fix(&mut grow.volume);
        fix(&mut grow.addition);
    }
    if let Some(shrink) = operation.shrink_volume.as_mut() {
        fix(&mut shrink.volume);
    }
}

/// Resources of the agent's live tasks, unallocated.
fn used_by_tasks(master: &Master, agent: &Agent) -> Resources {
    let mut used = Resources::new();
    for (framework_id, task_ids) in &agent.tasks {
        let Some(framework) = master.frameworks.get(framework_id.as_str()) else {
            continue;
        };
        for task_id in task_ids {
            let Some(task) = framework.tasks.get(task_id) else {
                continue;
            };
            if is_terminal_state(task.state) {
                continue;
            }
            let mut resources = Resources::from(task.resources.clone());
            resources.unallocate();
            used += &resources;
        }
    }
    used
}

/// `CheckpointResourcesMessage` with every checkpointed resource of the
/// agent, in the format it understands.
pub fn checkpoint_message(agent: &Agent) -> CheckpointResourcesMessage {
    let mut resources = checkpointed(&agent.total).into_vec();
    if agent.wants_pre_refinement() {
        res::to_pre_refinement(&mut resources);
    }
    CheckpointResourcesMessage {
        resources: resources.iter().map(devolve).collect(),
    }
}

impl Master {
    /// An operator's RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES
    /// or DESTROY_VOLUMES on the agent's free resources (upstream
    /// `Master::Http::_operation`). Outstanding offers on the agent are
    /// rescinded when the free resources alone do not hold what the
    /// operation consumes; still not enough is a conflict.
    pub(super) fn operator_operation(
        &mut self,
        agent_id: &str,
        mut operation: offer::Operation,
        principal: Option<String>,
        reply: OperatorReply,
    ) {
        let answer = self.apply_operator_operation(agent_id, &mut operation, principal);
        let _ = reply.send(answer);
    }

    fn apply_operator_operation(
        &mut self,
        agent_id: &str,
        operation: &mut offer::Operation,
        principal: Option<String>,
    ) -> Result<(), OperatorError> {
        for list in [
            operation.reserve.as_mut().map(|r| &mut r.resources),
            operation.unreserve.as_mut().map(|r| &mut r.resources),
            operation.create.as_mut().map(|c| &mut c.volumes),
            operation.destroy.as_mut().map(|d| &mut d.volumes),
        ]
        .into_iter()
        .flatten()
        {
            res::from_pre_refinement(list);
            for resource in list.iter_mut() {
                resource.allocation_info = None;
            }
        }
        normalize_resize(operation, None);
        let Some(agent) = self.agents.get(agent_id) else {
            return Err(OperatorError::Invalid(
                "No agent found with specified ID".to_string(),
            ));
        };
        let kind = OperationType::try_from(operation.r#type.unwrap_or(0))
            .unwrap_or(OperationType::Unknown);
        if needs_resize(kind)
            && !agent
                .capabilities
                .names
                .iter()
                .any(|n| n == "RESIZE_VOLUME")
        {
            return Err(OperatorError::Conflict(format!(
                "Volume resizing is not supported by agent {agent_id}"
            )));
        }
        let requester = Requester {
            roles: None,
            principal,
            reservation_refinement: true,
            shared_resources: true,
        };
        let in_use = used_by_tasks(self, agent);
        let conversion = convert(operation, &requester, &agent.total, &in_use)
            .map_err(OperatorError::Invalid)?;
        let agent_key = alloc::AgentId::from(agent_id);
        let conversions = std::slice::from_ref(&conversion);
        if self
            .allocator
            .update_available(&agent_key, conversions)
            .is_err()
        {
            let offers: Vec<String> = self
                .offers
                .iter()
                .filter(|(_, record)| record.offer.agent_id.value == agent_id)
                .map(|(id, _)| id.clone())
                .collect();
            for offer_id in offers {
                self.rescind_offer(&offer_id, None);
            }
            self.allocator
                .update_available(&agent_key, conversions)
                .map_err(|e| {
                    OperatorError::Conflict(format!(
                        "Agent {agent_id} does not have enough available resources for the \
                         operation: {e}"
                    ))
                })?;
        }
        info!(
            "Applying operator operation with resources {} to agent {agent_id}",
            conversion.converted
        );
        self.apply_to_agent(agent_id, &conversion);
        self.request_allocation();
        Ok(())
    }

    /// Carries out one RESERVE/UNRESERVE/CREATE/DESTROY of an ACCEPT on
    /// the offered resources `available` of `agent_id`; returns what is
    /// left (with the converted resources in place of the consumed ones,
    /// so a LAUNCH later in the same ACCEPT can use them).
    pub(super) fn apply_offer_operation(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        operation: &offer::Operation,
        available: Resources,
    ) -> Resources {
        let kind = OperationType::try_from(operation.r#type.unwrap_or(0))
            .unwrap_or(OperationType::Unknown);
        let Some(agent) = self.agents.get(agent_id) else {
            return available;
        };
        if operation.id.is_some() && !agent.capabilities.resource_provider {
            self.drop_operation(
                framework_id,
                operation,
                "Operation feedback is not supported for this agent",
            );
            return available;
        }
        if needs_resize(kind)
            && !agent
                .capabilities
                .names
                .iter()
                .any(|n| n == "RESIZE_VOLUME")
        {
            warn!(
                "Dropping {} operation from framework {framework_id}: Volume resizing is not \
                 supported by agent {agent_id}",
                kind.as_str_name()
            );
            return available;
        }
        let Some(framework) = self.frameworks.get(framework_id) else {
            return available;
        };
        let capabilities = Capabilities::of(&framework.info);
        let mut normalized;
        let operation = if needs_resize(kind) {
            let role = available
                .iter()
                .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()));
            normalized = operation.clone();
            normalize_resize(&mut normalized, role.as_deref());
            &normalized
        } else {
            operation
        };
        if let Err(error) = super::authorization::authorize_operation(
            &self.authorizer,
            framework.info.principal.as_deref(),
            operation,
        ) {
            let operation = operation.clone();
            self.drop_operation(framework_id, &operation, &error);
            return available;
        }
        let requester = Requester {
            roles: Some(framework_roles(&framework.info)),
            principal: framework.info.principal.clone(),
            reservation_refinement: capabilities.reservation_refinement,
            shared_resources: capabilities.shared_resources,
        };
        let in_use = used_by_tasks(self, agent);
        let conversion = match convert(operation, &requester, &agent.total, &in_use) {
            Ok(conversion) => conversion,
            Err(error) => {
                warn!(
                    "Dropping {} operation from framework {framework_id}: {error}",
                    kind.as_str_name()
                );
                return available;
            }
        };
        if !available.contains(&conversion.consumed) {
            warn!(
                "Dropping {} operation from framework {framework_id}: Invalid {} Operation: {} \
                 does not contain {}",
                kind.as_str_name(),
                kind.as_str_name(),
                available,
                conversion.consumed
            );
            return available;
        }
        info!(
            "Applying {} operation with resources {} from framework {framework_id} to agent \
             {agent_id}",
            kind.as_str_name(),
            conversion.converted
        );
        self.allocator.update_allocation(
            &alloc::FrameworkId::from(framework_id),
            &alloc::AgentId::from(agent_id),
            std::slice::from_ref(&conversion),
        );
        self.apply_to_agent(agent_id, &conversion);
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework.metrics.operation(kind);
        }
        let mut left = &available - &conversion.consumed;
        left += &conversion.converted;
        left
    }

    /// Applies a conversion to the agent's total and sends the agent its
    /// new checkpointed resources.
    pub(super) fn apply_to_agent(&mut self, agent_id: &str, conversion: &ResourceConversion) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let mut consumed = conversion.consumed.clone();
        consumed.unallocate();
        let mut converted = conversion.converted.clone();
        converted.unallocate();
        let mut total = &agent.total - &consumed;
        total += &converted;
        agent.total = total;
        let message = checkpoint_message(agent);
        let pid = agent.pid.clone();
        self.mark_changed();
        self.send(&pid, &message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::resource::{
        disk_info::{Persistence, Source},
        reservation_info::Type as ReservationType,
        AllocationInfo, DiskInfo, ReservationInfo,
    };
    use mesos_proto::mesos::v1::{value, Volume};

    fn scalar(name: &str, value: f64) -> Resource {
        Resource {
            name: name.to_string(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value }),
            ..Default::default()
        }
    }

    fn reserved(mut resource: Resource, roles: &[&str], principal: Option<&str>) -> Resource {
        for role in roles {
            resource.reservations.push(ReservationInfo {
                r#type: Some(ReservationType::Dynamic as i32),
                role: Some(role.to_string()),
                principal: principal.map(str::to_string),
                ..Default::default()
            });
        }
        resource
    }

    fn allocated(mut resource: Resource, role: &str) -> Resource {
        resource.allocation_info = Some(AllocationInfo {
            role: Some(role.to_string()),
        });
        resource
    }

    fn volume(mut disk: Resource, id: &str, path: &str, principal: Option<&str>) -> Resource {
        disk.disk = Some(Box::new(DiskInfo {
            persistence: Some(Persistence {
                id: id.to_string(),
                principal: principal.map(str::to_string),
            }),
            volume: Some(Volume {
                container_path: path.to_string(),
                mode: mesos_proto::mesos::v1::volume::Mode::Rw as i32,
                ..Default::default()
            }),
            source: None::<Source>,
        }));
        disk
    }

    fn framework(roles: &[&str], principal: Option<&str>, refinement: bool) -> Requester {
        Requester {
            roles: Some(roles.iter().map(|r| r.to_string()).collect()),
            principal: principal.map(str::to_string),
            reservation_refinement: refinement,
            shared_resources: false,
        }
    }

    fn reserve_op(resources: Vec<Resource>) -> offer::Operation {
        offer::Operation {
            r#type: Some(OperationType::Reserve as i32),
            reserve: Some(offer::operation::Reserve {
                resources,
                source: Vec::new(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn reserve_consumes_the_unreserved_form() {
        let wanted = allocated(reserved(scalar("cpus", 1.0), &["eng"], Some("p")), "eng");
        let conversion = convert(
            &reserve_op(vec![wanted.clone()]),
            &framework(&["eng"], Some("p"), false),
            &Resources::new(),
            &Resources::new(),
        )
        .unwrap();
        assert_eq!(
            conversion.consumed,
            Resources::from(allocated(scalar("cpus", 1.0), "eng"))
        );
        assert_eq!(conversion.converted, Resources::from(wanted));
    }

    #[test]
    fn reserve_with_refinement_needs_the_capability() {
        let refined = allocated(
            reserved(scalar("cpus", 1.0), &["eng", "eng/web"], Some("p")),
            "eng/web",
        );
        let op = reserve_op(vec![refined.clone()]);
        let error = convert(
            &op,
            &framework(&["eng/web"], Some("p"), false),
            &Resources::new(),
            &Resources::new(),
        )
        .unwrap_err();
        assert!(error.contains("RESERVATION_REFINEMENT"), "{error}");
        let conversion = convert(
            &op,
            &framework(&["eng/web"], Some("p"), true),
            &Resources::new(),
            &Resources::new(),
        )
        .unwrap();
        // Refinement consumes the resources reserved to the parent.
        assert_eq!(
            conversion.consumed,
            Resources::from(allocated(
                reserved(scalar("cpus", 1.0), &["eng"], Some("p")),
                "eng/web"
            ))
        );
    }

    #[test]
    fn reserve_for_another_role_or_principal_is_invalid() {
        let other_role = allocated(reserved(scalar("cpus", 1.0), &["ops"], Some("p")), "ops");
        assert!(convert(
            &reserve_op(vec![other_role]),
            &framework(&["eng"], Some("p"), false),
            &Resources::new(),
            &Resources::new(),
        )
        .is_err());
        let other_principal = allocated(reserved(scalar("cpus", 1.0), &["eng"], Some("q")), "eng");
        let error = convert(
            &reserve_op(vec![other_principal]),
            &framework(&["eng"], Some("p"), false),
            &Resources::new(),
            &Resources::new(),
        )
        .unwrap_err();
        assert!(error.contains("does not match"), "{error}");
        let unreserved = allocated(scalar("cpus", 1.0), "eng");
        assert!(convert(
            &reserve_op(vec![unreserved]),
            &framework(&["eng"], Some("p"), false),
            &Resources::new(),
            &Resources::new(),
        )
        .is_err());
    }

    #[test]
    fn unreserve_gives_back_the_unreserved_form() {
        let held = reserved(scalar("mem", 512.0), &["eng"], Some("p"));
        let op = offer::Operation {
            r#type: Some(OperationType::Unreserve as i32),
            unreserve: Some(offer::operation::Unreserve {
                resources: vec![held.clone()],
            }),
            ..Default::default()
        };
        let conversion = convert(
            &op,
            &framework(&["eng"], Some("p"), false),
            &Resources::new(),
            &Resources::new(),
        )
        .unwrap();
        assert_eq!(conversion.consumed, Resources::from(held));
        assert_eq!(conversion.converted, Resources::from(scalar("mem", 512.0)));
    }

    #[test]
    fn create_then_destroy_volume_round_trips() {
        let disk = reserved(scalar("disk", 64.0), &["eng"], Some("p"));
        let vol = volume(disk.clone(), "data", "data", Some("p"));
        let create = offer::Operation {
            r#type: Some(OperationType::Create as i32),
            create: Some(offer::operation::Create {
                volumes: vec![vol.clone()],
            }),
            ..Default::default()
        };
        let requester = framework(&["eng"], Some("p"), false);
        let conversion =
            convert(&create, &requester, &Resources::new(), &Resources::new()).unwrap();
        assert_eq!(conversion.consumed, Resources::from(disk.clone()));
        assert_eq!(conversion.converted, Resources::from(vol.clone()));

        // The same id again for the same role clashes with the agent's volume.
        let total = Resources::from(vol.clone());
        let error = convert(&create, &requester, &total, &Resources::new()).unwrap_err();
        assert!(error.contains("already exists"), "{error}");

        let destroy = offer::Operation {
            r#type: Some(OperationType::Destroy as i32),
            destroy: Some(offer::operation::Destroy {
                volumes: vec![vol.clone()],
            }),
            ..Default::default()
        };
        let error = convert(&destroy, &requester, &total, &total).unwrap_err();
        assert!(error.contains("in use"), "{error}");
        let conversion = convert(&destroy, &requester, &total, &Resources::new()).unwrap();
        assert_eq!(conversion.converted, Resources::from(disk));
    }

    #[test]
    fn volume_ids_are_unique_and_paths_relative() {
        let disk = reserved(scalar("disk", 64.0), &["eng"], None);
        let requester = framework(&["eng"], None, false);
        let create = |volumes| offer::Operation {
            r#type: Some(OperationType::Create as i32),
            create: Some(offer::operation::Create { volumes }),
            ..Default::default()
        };
        let twice = create(vec![
            volume(disk.clone(), "a", "x", None),
            volume(disk.clone(), "a", "y", None),
        ]);
        let error = convert(&twice, &requester, &Resources::new(), &Resources::new()).unwrap_err();
        assert!(error.contains("duplicated"), "{error}");
        let absolute = create(vec![volume(disk.clone(), "a", "/abs", None)]);
        assert!(convert(&absolute, &requester, &Resources::new(), &Resources::new()).is_err());
        let unreserved = create(vec![volume(scalar("disk", 1.0), "a", "x", None)]);
        assert!(convert(
            &unreserved,
            &requester,
            &Resources::new(),
            &Resources::new()
        )
        .is_err());
    }

    #[test]
    fn grow_then_shrink_volume() {
        let disk = reserved(scalar("disk", 64.0), &["eng"], None);
        let vol = volume(disk.clone(), "v", "data", None);
        let requester = framework(&["eng"], None, false);
        let grow = offer::Operation {
            r#type: Some(OperationType::GrowVolume as i32),
            grow_volume: Some(offer::operation::GrowVolume {
                volume: vol.clone(),
                addition: reserved(scalar("disk", 32.0), &["eng"], None),
            }),
            ..Default::default()
        };
        let conversion = convert(&grow, &requester, &Resources::new(), &Resources::new()).unwrap();
        assert_eq!(conversion.consumed.scalar("disk"), 96.0);
        assert_eq!(
            conversion.converted.persistent_volumes().scalar("disk"),
            96.0
        );

        let mut wrong = grow.clone();
        if let Some(g) = wrong.grow_volume.as_mut() {
            g.addition = reserved(scalar("disk", 32.0), &["ops"], None);
        }
        assert!(convert(&wrong, &requester, &Resources::new(), &Resources::new()).is_err());

        let shrink = |by: f64| offer::Operation {
            r#type: Some(OperationType::ShrinkVolume as i32),
            shrink_volume: Some(offer::operation::ShrinkVolume {
                volume: vol.clone(),
                subtract: mesos_proto::mesos::v1::value::Scalar { value: by },
            }),
            ..Default::default()
        };
        let conversion = convert(
            &shrink(16.0),
            &requester,
            &Resources::new(),
            &Resources::new(),
        )
        .unwrap();
        assert_eq!(
            conversion.converted.persistent_volumes().scalar("disk"),
            48.0
        );
        assert_eq!(conversion.converted.scalar("disk"), 64.0);
        assert!(convert(
            &shrink(64.0),
            &requester,
            &Resources::new(),
            &Resources::new()
        )
        .is_err());
    }

    #[test]
    fn checkpointed_set_is_dynamic_reservations_and_volumes() {
        let mut total = Resources::from(scalar("cpus", 4.0));
        total += reserved(scalar("mem", 128.0), &["eng"], None);
        total += volume(
            reserved(scalar("disk", 8.0), &["eng"], None),
            "v",
            "v",
            None,
        );
        let set = checkpointed(&total);
        assert_eq!(set.len(), 2);
        assert_eq!(set.scalar("cpus"), 0.0);
    }
}
