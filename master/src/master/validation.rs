//! Validation of what schedulers and agents send, with upstream's messages
//! (`src/master/validation.cpp`, `src/common/validation.cpp`,
//! `src/common/roles.cpp`).
//!
//! Pure functions over protobuf messages plus the few facts they need;
//! never mutates master state.

use std::collections::BTreeSet;

use libprocess::authentication::Principal;

use mesos_proto::mesos::v1::scheduler::call::Type as CallType;
use mesos_proto::mesos::v1::scheduler::{Call, OfferConstraints};
use mesos_proto::mesos::v1::{
    executor_info, ExecutorInfo, FrameworkInfo, Resource, TaskGroupInfo, TaskInfo,
};
use mesos_proto::resources::Resources;

use super::state::{framework_roles, Capabilities};

pub use mesos_proto::scheduler_call::{call_type, validate_uuid};

/// Upstream's refusal of a call whose authenticated principal is not the
/// framework's.
pub fn principal_mismatch(authenticated: &str, framework: &str) -> String {
    format!(
        "Authenticated principal '{authenticated}' does not match principal '{framework}' set \
         in `FrameworkInfo`"
    )
}

/// `validation::scheduler::call::validate`: the call's structure (the rules
/// the drivers share), then `principal`, the one the request authenticated
/// as (HTTP frameworks with `--authenticate_http_frameworks`), which a
/// SUBSCRIBE's FrameworkInfo must not contradict.
pub fn validate_call(call: &Call, principal: Option<&Principal>) -> Result<(), String> {
    mesos_proto::scheduler_call::validate_call(call)?;
    if call_type(call) == Some(CallType::Subscribe) {
        let claimed = call
            .subscribe
            .as_ref()
            .and_then(|s| s.framework_info.principal.as_deref());
        if let (Some(Principal(authenticated)), Some(claimed)) = (principal, claimed) {
            if authenticated != claimed {
                return Err(principal_mismatch(authenticated, claimed));
            }
        }
    }
    Ok(())
}

/// `common::validation::validateID`.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("ID must not be empty".to_string());
    }
    if id.len() > 255 {
        return Err("ID must not be greater than 255 characters".to_string());
    }
    if id == "." || id == ".." {
        return Err(format!("'{id}' is disallowed"));
    }
    if id.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Err(format!("'{id}' contains invalid characters"));
    }
    Ok(())
}

/// `roles::validate`.
pub fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.is_empty() {
        return Err("Empty role name is invalid".to_string());
    }
    if role.starts_with('/') {
        return Err(format!("Role '{role}' cannot start with a slash"));
    }
    if role.ends_with('/') {
        return Err(format!("Role '{role}' cannot end with a slash"));
    }
    if role.contains("//") {
        return Err(format!("Role '{role}' cannot contain two adjacent slashes"));
    }
    for component in role.split('/') {
        if component == "." || component == ".." {
            return Err(format!(
                "Role '{role}' cannot include '.' or '..' as a path component"
            ));
        }
        if component == "*" {
            return Err(format!(
                "Role '{role}' cannot include '*' as a path component"
            ));
        }
        if component.starts_with('-') {
            return Err(format!(
                "Role component '{component}' is invalid because it starts with a dash"
            ));
        }
        if component
            .chars()
            .any(|c| c.is_whitespace() || c == '\u{8}' || c.is_control())
        {
            return Err(format!(
                "Role component '{component}' is invalid because it contains backspace or \
                 whitespace"
            ));
        }
    }
    Ok(())
}

/// `validation::framework::validate` plus the master's checks
/// (`Master::validateFramework`): roles, id, failover timeout, the role
/// whitelist, root submissions, completed frameworks.
pub fn validate_framework(
    info: &FrameworkInfo,
    role_whitelist: Option<&[String]>,
    root_submissions: bool,
    is_completed: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let multi_role = Capabilities::of(info).multi_role;
    if multi_role {
        if info.role.is_some() {
            return Err(
                "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
                    .to_string(),
            );
        }
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<&String> =
            info.roles.iter().filter(|r| !seen.insert(*r)).collect();
        if !duplicates.is_empty() {
            return Err(format!(
                "'FrameworkInfo.roles' contains duplicate items: {}",
                stringify_set(duplicates.iter().map(|r| r.as_str()))
            ));
        }
        for role in &info.roles {
            validate_role(role)
                .map_err(|e| format!("'FrameworkInfo.roles' contains invalid role: {e}"))?;
        }
    } else {
        if !info.roles.is_empty() {
            return Err(
                "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE \
                 capable"
                    .to_string(),
            );
        }
        let role = info.role.as_deref().unwrap_or("*");
        validate_role(role)
            .map_err(|e| format!("'FrameworkInfo.role' is not a valid role: {e}"))?;
    }
    if let Some(id) = info.id.as_ref().filter(|id| !id.value.is_empty()) {
        validate_id(&id.value)?;
    }
    let failover = info.failover_timeout.unwrap_or(0.0);
    if crate::flags::Duration::from_secs_f64(failover).is_none() {
        return Err(format!(
            "The framework failover_timeout ({failover}) is invalid"
        ));
    }
    if let Some(whitelist) = role_whitelist {
        let invalid: BTreeSet<String> = framework_roles(info)
            .into_iter()
            .filter(|role| !whitelist.contains(role))
            .collect();
        if !invalid.is_empty() {
            return Err(format!(
                "Roles {} are not present in the master's --roles",
                stringify_set(invalid.iter().map(|r| r.as_str()))
            ));
        }
    }
    if info.user == "root" && !root_submissions {
        return Err(
            "User 'root' is not allowed to run frameworks without --root_submissions set"
                .to_string(),
        );
    }
    if let Some(id) = &info.id {
        if is_completed(&id.value) {
            return Err("Framework has been removed".to_string());
        }
    }
    Ok(())
}

/// `validation::framework::validateUpdate`: fields that cannot change.
pub fn validate_framework_update(old: &FrameworkInfo, new: &FrameworkInfo) -> Result<(), String> {
    if old.principal != new.principal {
        return Err("Changing framework's principal is not allowed.".to_string());
    }
    if old.user != new.user {
        return Err(format!(
            "Updating 'FrameworkInfo.user' is unsupported; attempted to update from '{}' to '{}'",
            old.user, new.user
        ));
    }
    let (old_cp, new_cp) = (
        old.checkpoint.unwrap_or(false),
        new.checkpoint.unwrap_or(false),
    );
    if old_cp != new_cp {
        return Err(format!(
            "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from \
             '{old_cp}' to '{new_cp}'"
        ));
    }
    Ok(())
}

/// Suppressed roles and offer constraint roles must be framework roles
/// (`createAllocatorFrameworkOptions`).
pub fn validate_framework_options(
    info: &FrameworkInfo,
    suppressed_roles: &[String],
    offer_constraints: Option<&OfferConstraints>,
) -> Result<BTreeSet<String>, String> {
    let roles = framework_roles(info);
    let suppressed: BTreeSet<String> = suppressed_roles.iter().cloned().collect();
    let invalid: Vec<&str> = suppressed
        .iter()
        .filter(|r| !roles.contains(*r))
        .map(|r| r.as_str())
        .collect();
    if !invalid.is_empty() {
        return Err(format!(
            "Suppressed roles {} are not contained in the set of roles",
            stringify_set(invalid.into_iter())
        ));
    }
    if let Some(constraints) = offer_constraints {
        for role in constraints.role_constraints.keys() {
            if !roles.contains(role) {
                return Err(format!(
                    "Offer constraints specify `role_constraints` for a role '{role}'not \
                     contained in the set of roles"
                ));
            }
        }
    }
    Ok(suppressed)
}

/// stout's `stringify(set)`: `{ a, b }`.
pub fn stringify_set<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    format!("{{ {} }}", items.join(", "))
}

/// Upstream's `stringify(Resources)` for error messages.
pub fn stringify_resources<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> String {
    let parts: Vec<String> = resources
        .into_iter()
        .map(|r| mesos_proto::resources::DisplayResource(r).to_string())
        .collect();
    parts.join("; ")
}

/// `Resources::validate` on every resource, plus no reservation to `*`.
pub fn validate_resources(list: &[Resource]) -> Result<(), String> {
    for resource in list {
        mesos_proto::resources::validate(resource)
            .map_err(|e| format!("Invalid resources: {e}"))?;
    }
    Ok(())
}

/// All resources carry the same allocation role.
fn validate_single_role(list: &[Resource]) -> Result<(), String> {
    let mut role: Option<&str> = None;
    for resource in list {
        let Some(this) = resource
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
        else {
            return Err("The resources are not allocated to a role".to_string());
        };
        match role {
            None => role = Some(this),
            Some(first) if first != this => {
                return Err(format!(
                    "The resources have multiple allocation roles ('{this}' and '{first}') but \
                     only one allocation role is allowed"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// What task validation needs to know about the framework and agent.
pub struct TaskContext<'a> {
    pub framework_id: &'a str,
    pub agent_id: &'a str,
    /// Task ids the framework already uses (live).
    pub task_exists: &'a dyn Fn(&str) -> bool,
    /// Task ids of the framework's unreachable tasks.
    pub unreachable_task_exists: &'a dyn Fn(&str) -> bool,
    /// The executor already known on the agent with that id, if any.
    pub existing_executor: &'a dyn Fn(&str) -> Option<ExecutorInfo>,
    pub agent_supports_limits: bool,
}

/// `task::internal::validateTask`: fields of the task itself.
fn validate_task_fields(task: &TaskInfo, ctx: &TaskContext<'_>) -> Result<(), String> {
    validate_id(&task.task_id.value)?;
    if (ctx.task_exists)(&task.task_id.value) {
        return Err(format!("Task has duplicate ID: {}", task.task_id.value));
    }
    if (ctx.unreachable_task_exists)(&task.task_id.value) {
        return Err(format!(
            "Task reuses the ID of an unreachable task: {}",
            task.task_id.value
        ));
    }
    if task.agent_id.value != ctx.agent_id {
        return Err(format!(
            "Task uses invalid agent {} while agent {} is expected",
            task.agent_id.value, ctx.agent_id
        ));
    }
    if let Some(grace) = task
        .kill_policy
        .as_ref()
        .and_then(|k| k.grace_period.as_ref())
    {
        if grace.nanoseconds < 0 {
            return Err("Task's 'kill_policy.grace_period' must be non-negative".to_string());
        }
    }
    if task
        .max_completion_time
        .as_ref()
        .is_some_and(|d| d.nanoseconds < 0)
    {
        return Err("Task's `max_completion_time` must be non-negative".to_string());
    }
    if task.resources.is_empty() {
        return Err("Task uses no resources".to_string());
    }
    validate_resources(&task.resources).map_err(|e| format!("Task uses invalid resources: {e}"))?;
    validate_single_role(&task.resources).map_err(|e| format!("Invalid task resources: {e}"))?;
    if !task.limits.is_empty() {
        if !ctx.agent_supports_limits {
            return Err("Agent is not capable of handling task resource limits".to_string());
        }
        if task.limits.keys().any(|k| k != "cpus" && k != "mem") {
            return Err(
                "Only cpus and mem may be included in a task's resource limits".to_string(),
            );
        }
    }
    Ok(())
}

/// Executor checks shared by LAUNCH and LAUNCH_GROUP
/// (`executor::internal::validate`).
fn validate_executor_common(executor: &ExecutorInfo, ctx: &TaskContext<'_>) -> Result<(), String> {
    validate_id(&executor.executor_id.value)?;
    if let Ok(executor_info::Type::Default) =
        executor_info::Type::try_from(executor.r#type.unwrap_or(0))
    {
        if executor.command.is_some() {
            return Err(
                "'ExecutorInfo.command' must not be set for 'DEFAULT' executor".to_string(),
            );
        }
    }
    if executor
        .shutdown_grace_period
        .as_ref()
        .is_some_and(|d| d.nanoseconds < 0)
    {
        return Err("ExecutorInfo's 'shutdown_grace_period' must be non-negative".to_string());
    }
    match &executor.framework_id {
        None => return Err("'ExecutorInfo.framework_id' must be set".to_string()),
        Some(id) if id.value != ctx.framework_id => {
            return Err(format!(
                "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {})",
                id.value, ctx.framework_id
            ))
        }
        _ => {}
    }
    validate_resources(&executor.resources)
        .map_err(|e| format!("Executor uses invalid resources: {e}"))?;
    if !executor.resources.is_empty() {
        validate_single_role(&executor.resources)
            .map_err(|e| format!("Invalid executor resources: {e}"))?;
    }
    if let Some(existing) = (ctx.existing_executor)(&executor.executor_id.value) {
        if &existing != executor {
            return Err(
                "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID."
                    .to_string(),
            );
        }
    }
    Ok(())
}

/// `task::validate` for LAUNCH: returns what the task (and its executor, if
/// new) consumes from `available`.
pub fn validate_task(
    task: &TaskInfo,
    ctx: &TaskContext<'_>,
    available: &Resources,
) -> Result<Resources, String> {
    validate_task_fields(task, ctx)?;
    if task.executor.is_some() == task.command.is_some() {
        return Err(
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
                .to_string(),
        );
    }
    let mut total = Resources::from(task.resources.clone());
    if let Some(executor) = &task.executor {
        validate_executor_common(executor, ctx)?;
        if executor
            .r#type
            .and_then(|t| executor_info::Type::try_from(t).ok())
            .is_some_and(|t| t != executor_info::Type::Custom)
        {
            return Err("'ExecutorInfo.type' must be 'CUSTOM'".to_string());
        }
        if executor.command.is_none() {
            return Err("'ExecutorInfo.command' must be set".to_string());
        }
        if (ctx.existing_executor)(&executor.executor_id.value).is_none() {
            total += Resources::from(executor.resources.clone());
        }
    }
    let raw = total.to_vec();
    validate_resources(&raw)
        .map_err(|e| format!("Task and its executor use invalid resources: {e}"))?;
    if !available.contains(&total) {
        return Err(format!(
            "Total resources {} required by task and its executor is more than available {}",
            stringify_resources(&raw),
            stringify_resources(&available.to_vec())
        ));
    }
    Ok(total)
}

/// `task::group::validate` for LAUNCH_GROUP: returns what the group (and
/// the executor, if new) consumes.
pub fn validate_task_group(
    group: &TaskGroupInfo,
    executor: &ExecutorInfo,
    ctx: &TaskContext<'_>,
    available: &Resources,
) -> Result<Resources, String> {
    let mut ids = BTreeSet::new();
    for task in &group.tasks {
        validate_task_fields(task, ctx)
            .map_err(|e| format!("Task '{}' is invalid: {e}", task.task_id.value))?;
        if !ids.insert(task.task_id.value.clone()) {
            return Err(format!(
                "Task '{}' is invalid: Task has duplicate ID: {}",
                task.task_id.value, task.task_id.value
            ));
        }
        if task.executor.is_none() {
            return Err(format!(
                "Task '{}' is invalid: 'TaskInfo.executor' must be set",
                task.task_id.value
            ));
        }
    }
    validate_executor_common(executor, ctx)?;
    match executor.r#type.map(executor_info::Type::try_from) {
        None => return Err("'ExecutorInfo.type' must be set".to_string()),
        Some(Ok(executor_info::Type::Unknown)) | Some(Err(_)) => {
            return Err("Unknown executor type".to_string())
        }
        _ => {}
    }
    for task in &group.tasks {
        if task.executor.as_ref().is_some_and(|e| e != executor) {
            return Err(format!(
                "The `ExecutorInfo` of task '{}' is different from executor '{}'",
                task.task_id.value, executor.executor_id.value
            ));
        }
    }
    let executor_resources = Resources::from(executor.resources.clone());
    let cpus = executor_resources.scalar("cpus");
    let mem = executor_resources.scalar("mem");
    let has_disk = executor.resources.iter().any(|r| r.name == "disk");
    let id = &executor.executor_id.value;
    if cpus < 0.01 {
        return Err(format!(
            "Executor '{id}' uses less CPUs ({}) than the minimum required (0.01)",
            if cpus > 0.0 {
                cpus.to_string()
            } else {
                "None".to_string()
            }
        ));
    }
    if mem < 32.0 {
        return Err(format!(
            "Executor '{id}' uses less memory ({}) than the minimum required (32MB)",
            if mem > 0.0 {
                format!("{mem}MB")
            } else {
                "None".to_string()
            }
        ));
    }
    if !has_disk {
        return Err(format!("Executor '{id}' uses no disk"));
    }
    let mut total = Resources::default();
    for task in &group.tasks {
        total += Resources::from(task.resources.clone());
    }
    if (ctx.existing_executor)(id).is_none() {
        total += Resources::from(executor.resources.clone());
    }
    if !available.contains(&total) {
        return Err(format!(
            "Total resources {} required by task group and its executor are more than \
             available {}",
            stringify_resources(&total.to_vec()),
            stringify_resources(&available.to_vec())
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::scheduler::call;
    use mesos_proto::mesos::v1::{framework_info, CommandInfo, FrameworkId, TaskId};

    fn call(kind: CallType) -> Call {
        Call {
            r#type: Some(kind as i32),
            framework_id: Some(FrameworkId { value: "F".into() }),
            ..Default::default()
        }
    }

    #[test]
    fn call_validation_messages() {
        let mut c = call(CallType::Accept);
        assert_eq!(
            validate_call(&c, None).unwrap_err(),
            "Expecting 'accept' to be present"
        );
        c.accept = Some(Default::default());
        assert!(validate_call(&c, None).is_ok());

        let mut c = call(CallType::Decline);
        c.framework_id = None;
        assert_eq!(
            validate_call(&c, None).unwrap_err(),
            "Expecting 'framework_id' to be present"
        );

        let c = Call::default();
        assert_eq!(
            validate_call(&c, None).unwrap_err(),
            "Expecting 'type' to be present"
        );
        let c = Call {
            r#type: Some(999),
            ..Default::default()
        };
        assert_eq!(
            validate_call(&c, None).unwrap_err(),
            "Expecting 'type' to be present"
        );
    }

    #[test]
    fn subscribe_ids_must_agree() {
        let mut c = call(CallType::Subscribe);
        assert_eq!(
            validate_call(&c, None).unwrap_err(),
            "Expecting 'subscribe' to be present"
        );
        c.subscribe = Some(call::Subscribe::default());
        assert_eq!(
            validate_call(&c, None).unwrap_err(),
            "'framework_id' differs from 'subscribe.framework_info.id'"
        );
        c.framework_id = None;
        assert!(validate_call(&c, None).is_ok());
    }

    #[test]
    fn a_subscription_may_not_claim_another_principal_than_the_authenticated_one() {
        let mut c = call(CallType::Subscribe);
        c.framework_id = None;
        c.subscribe = Some(call::Subscribe::default());
        let fw = Principal("fw".to_string());
        // No principal in FrameworkInfo: the HTTP layer fills it in later.
        assert!(validate_call(&c, Some(&fw)).is_ok());
        if let Some(subscribe) = c.subscribe.as_mut() {
            subscribe.framework_info.principal = Some("ops".to_string());
        }
        assert_eq!(
            validate_call(&c, Some(&fw)).unwrap_err(),
            "Authenticated principal 'fw' does not match principal 'ops' set in `FrameworkInfo`"
        );
        // Without authentication any principal may be claimed.
        assert!(validate_call(&c, None).is_ok());
        assert!(validate_call(&c, Some(&Principal("ops".to_string()))).is_ok());
    }

    #[test]
    fn acknowledge_needs_uuid() {
        let mut c = call(CallType::Acknowledge);
        c.acknowledge = Some(call::Acknowledge {
            uuid: vec![1, 2, 3],
            ..Default::default()
        });
        assert!(validate_call(&c, None)
            .unwrap_err()
            .starts_with("Not a valid UUID"));
        c.acknowledge.as_mut().unwrap().uuid = vec![0; 16];
        assert!(validate_call(&c, None).is_ok());
    }

    #[test]
    fn roles() {
        assert!(validate_role("*").is_ok());
        assert!(validate_role("a/b").is_ok());
        assert!(validate_role("").is_err());
        assert!(validate_role("/a").is_err());
        assert!(validate_role("a//b").is_err());
        assert!(validate_role("a/*").is_err());
        assert!(validate_role("-a").is_err());
        assert!(validate_role("a b").is_err());
        assert!(validate_role("a/..").is_err());
    }

    fn info() -> FrameworkInfo {
        FrameworkInfo {
            user: "u".into(),
            name: "n".into(),
            ..Default::default()
        }
    }

    #[test]
    fn framework_roles_and_capabilities() {
        let mut multi = info();
        multi.capabilities.push(framework_info::Capability {
            r#type: Some(framework_info::capability::Type::MultiRole as i32),
        });
        multi.roles = vec!["a".into(), "a".into()];
        assert!(validate_framework(&multi, None, true, |_| false)
            .unwrap_err()
            .contains("duplicate"));
        multi.roles = vec!["a".into()];
        assert!(validate_framework(&multi, None, true, |_| false).is_ok());
        multi.role = Some("x".into());
        assert!(validate_framework(&multi, None, true, |_| false).is_err());

        let mut single = info();
        single.roles = vec!["a".into()];
        assert!(validate_framework(&single, None, true, |_| false).is_err());
        single.roles.clear();
        single.role = Some("web".into());
        let whitelist = vec!["db".to_string()];
        assert_eq!(
            validate_framework(&single, Some(&whitelist), true, |_| false).unwrap_err(),
            "Roles { web } are not present in the master's --roles"
        );
        single.failover_timeout = Some(f64::INFINITY);
        assert!(validate_framework(&single, None, true, |_| false)
            .unwrap_err()
            .contains("failover_timeout"));
    }

    #[test]
    fn completed_framework_is_refused() {
        let mut with_id = info();
        with_id.id = Some(FrameworkId { value: "F1".into() });
        assert_eq!(
            validate_framework(&with_id, None, true, |id| id == "F1").unwrap_err(),
            "Framework has been removed"
        );
    }

    #[test]
    fn framework_update_rules() {
        let old = info();
        let mut new = info();
        new.principal = Some("p".into());
        assert!(validate_framework_update(&old, &new).is_err());
        let mut new = info();
        new.user = "other".into();
        assert!(validate_framework_update(&old, &new).is_err());
        let mut new = info();
        new.name = "renamed".into();
        assert!(validate_framework_update(&old, &new).is_ok());
    }

    #[test]
    fn suppressed_roles_subset() {
        let single = info();
        assert!(validate_framework_options(&single, &["*".into()], None).is_ok());
        assert_eq!(
            validate_framework_options(&single, &["x".into()], None).unwrap_err(),
            "Suppressed roles { x } are not contained in the set of roles"
        );
    }

    fn ctx<'a>(
        exists: &'a dyn Fn(&str) -> bool,
        none: &'a dyn Fn(&str) -> Option<ExecutorInfo>,
    ) -> TaskContext<'a> {
        TaskContext {
            framework_id: "F",
            agent_id: "S",
            task_exists: exists,
            unreachable_task_exists: &|_| false,
            existing_executor: none,
            agent_supports_limits: true,
        }
    }

    fn command_task(id: &str, cpus: f64) -> TaskInfo {
        TaskInfo {
            name: "t".into(),
            task_id: TaskId { value: id.into() },
            agent_id: mesos_proto::mesos::v1::AgentId { value: "S".into() },
            resources: {
                let mut resources = crate::resources::testing::cpus_mem(cpus, 32.0);
                resources.allocate("*");
                resources.into_vec()
            },
            command: Some(CommandInfo {
                value: Some("true".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn task_validation() {
        let mut available = crate::resources::testing::cpus_mem(1.0, 64.0);
        available.allocate("*");
        let exists = |id: &str| id == "dup";
        let none = |_: &str| None;
        let c = ctx(&exists, &none);
        assert!(validate_task(&command_task("t1", 0.5), &c, &available).is_ok());
        assert_eq!(
            validate_task(&command_task("dup", 0.5), &c, &available).unwrap_err(),
            "Task has duplicate ID: dup"
        );
        assert!(validate_task(&command_task("big", 2.0), &c, &available)
            .unwrap_err()
            .starts_with("Total resources"));
        let mut both = command_task("both", 0.1);
        both.executor = Some(ExecutorInfo::default());
        assert!(validate_task(&both, &c, &available)
            .unwrap_err()
            .contains("(but not both)"));
        let mut wrong_agent = command_task("w", 0.1);
        wrong_agent.agent_id.value = "other".into();
        assert!(validate_task(&wrong_agent, &c, &available)
            .unwrap_err()
            .contains("invalid agent"));
        let mut none_res = command_task("n", 0.1);
        none_res.resources.clear();
        assert_eq!(
            validate_task(&none_res, &c, &available).unwrap_err(),
            "Task uses no resources"
        );
    }
}
