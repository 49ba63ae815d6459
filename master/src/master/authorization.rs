//! Where the master actor asks the authorizer: framework registration
//! (`REGISTER_FRAMEWORK` per role), task launches (`RUN_TASK`) and the
//! resource operations a framework's ACCEPT carries.
//!
//! Owns the refusal messages only; the ACL semantics are the
//! `mesos-authorizer` crate's. Operator requests are authorized by the
//! HTTP layer, which knows the authenticated principal.

use std::collections::BTreeSet;

use mesos_authorizer::{task_info_user, Action, Authorizer, Object};
use mesos_proto::mesos::v1::{offer, FrameworkInfo, TaskInfo};

use super::state::framework_roles;

/// `REGISTER_FRAMEWORK` for every role of `info`, as its declared
/// principal.
pub fn authorize_registration(authorizer: &Authorizer, info: &FrameworkInfo) -> Result<(), String> {
    let roles: BTreeSet<String> = framework_roles(info);
    let principal = info.principal.as_deref();
    if roles
        .iter()
        .all(|role| authorizer.authorized(Action::RegisterFramework, principal, Object::Role(role)))
    {
        return Ok(());
    }
    let id = info.id.as_ref().map(|i| i.value.as_str()).unwrap_or("");
    let list: Vec<&str> = roles.iter().map(String::as_str).collect();
    Err(format!(
        "Not authorized to register framework {id} with roles {{ {} }}",
        list.join(", ")
    ))
}

/// `RUN_TASK` for one task of `framework`.
pub fn authorize_launch(
    authorizer: &Authorizer,
    task: &TaskInfo,
    framework: &FrameworkInfo,
) -> Result<(), String> {
    if authorizer.authorized(
        Action::RunTask,
        framework.principal.as_deref(),
        Object::TaskInfo(task, framework),
    ) {
        return Ok(());
    }
    let id = framework
        .id
        .as_ref()
        .map(|i| i.value.as_str())
        .unwrap_or("");
    Err(format!(
        "Task '{task}' is not authorized to launch task {task} of framework {id} under user '{}'",
        task_info_user(task, framework),
        task = task.task_id.value,
    ))
}

/// The action and resources a resource operation is authorized on
/// (`None` for operations that need no authorization here).
pub fn operation_objects(
    operation: &offer::Operation,
) -> Option<(Action, &[mesos_proto::mesos::v1::Resource])> {
    use offer::operation::Type;
    let kind = Type::try_from(operation.r#type.unwrap_or(0)).unwrap_or(Type::Unknown);
    match kind {
        Type::Reserve => operation
            .reserve
            .as_ref()
            .map(|r| (Action::ReserveResources, r.resources.as_slice())),
        Type::Unreserve => operation
            .unreserve
            .as_ref()
            .map(|r| (Action::UnreserveResources, r.resources.as_slice())),
        Type::Create => operation
            .create
            .as_ref()
            .map(|c| (Action::CreateVolume, c.volumes.as_slice())),
        Type::Destroy => operation
            .destroy
            .as_ref()
            .map(|d| (Action::DestroyVolume, d.volumes.as_slice())),
        Type::GrowVolume => operation
            .grow_volume
            .as_ref()
            .map(|g| (Action::ResizeVolume, std::slice::from_ref(&g.volume))),
        Type::ShrinkVolume => operation
            .shrink_volume
            .as_ref()
            .map(|s| (Action::ResizeVolume, std::slice::from_ref(&s.volume))),
        _ => None,
    }
}

/// A resource operation by `principal`.
pub fn authorize_operation(
    authorizer: &Authorizer,
    principal: Option<&str>,
    operation: &offer::Operation,
) -> Result<(), String> {
    match operation_objects(operation) {
        Some((action, resources))
            if !authorizer.authorized_resources(action, principal, resources) =>
        {
            Err(format!(
                "Not authorized to perform action {} on the operation's resources",
                action.name()
            ))
        }
        _ => Ok(()),
    }
}
