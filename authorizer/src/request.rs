//! The typed questions components ask ([`Action`], [`Object`]) and the
//! [`Authorizer`] that answers them from `--acls`.
//!
//! Owns the mapping from a typed object (a framework, a task, a resource)
//! to the one value an ACL of that action compares (its user, role or
//! principal), as upstream's local authorizer makes it. Never knows where
//! a component enforces an action.

use mesos_proto::mesos::v1::{ExecutorInfo, FrameworkInfo, Resource, Task, TaskInfo};
use mesos_proto::mesos::MachineId;

use crate::Acls;

/// What a subject wants to do (upstream's `authorization::Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    RegisterFramework,
    RunTask,
    TeardownFramework,
    ReserveResources,
    UnreserveResources,
    CreateVolume,
    DestroyVolume,
    ResizeVolume,
    GetQuota,
    UpdateQuota,
    ViewRole,
    UpdateWeight,
    GetEndpointWithPath,
    ViewFramework,
    ViewTask,
    ViewExecutor,
    AccessSandbox,
    AccessMesosLog,
    ViewFlags,
    LaunchNestedContainer,
    LaunchNestedContainerSession,
    KillNestedContainer,
    WaitNestedContainer,
    RemoveNestedContainer,
    AttachContainerInput,
    AttachContainerOutput,
    ViewContainer,
    SetLogLevel,
    RegisterAgent,
    UpdateMaintenanceSchedule,
    GetMaintenanceSchedule,
    StartMaintenance,
    StopMaintenance,
    GetMaintenanceStatus,
    DrainAgent,
    DeactivateAgent,
    ReactivateAgent,
    MarkAgentGone,
    LaunchStandaloneContainer,
    KillStandaloneContainer,
    WaitStandaloneContainer,
    RemoveStandaloneContainer,
    ViewStandaloneContainer,
    ModifyResourceProviderConfig,
    MarkResourceProviderGone,
    ViewResourceProvider,
    PruneImages,
}

impl Action {
    /// Upstream's enum name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Action::RegisterFramework => "REGISTER_FRAMEWORK",
            Action::RunTask => "RUN_TASK",
            Action::TeardownFramework => "TEARDOWN_FRAMEWORK",
            Action::ReserveResources => "RESERVE_RESOURCES",
            Action::UnreserveResources => "UNRESERVE_RESOURCES",
            Action::CreateVolume => "CREATE_VOLUME",
            Action::DestroyVolume => "DESTROY_VOLUME",
            Action::ResizeVolume => "RESIZE_VOLUME",
            Action::GetQuota => "GET_QUOTA",
            Action::UpdateQuota => "UPDATE_QUOTA",
            Action::ViewRole => "VIEW_ROLE",
            Action::UpdateWeight => "UPDATE_WEIGHT",
            Action::GetEndpointWithPath => "GET_ENDPOINT_WITH_PATH",
            Action::ViewFramework => "VIEW_FRAMEWORK",
            Action::ViewTask => "VIEW_TASK",
            Action::ViewExecutor => "VIEW_EXECUTOR",
            Action::AccessSandbox => "ACCESS_SANDBOX",
            Action::AccessMesosLog => "ACCESS_MESOS_LOG",
            Action::ViewFlags => "VIEW_FLAGS",
            Action::LaunchNestedContainer => "LAUNCH_NESTED_CONTAINER",
            Action::LaunchNestedContainerSession => "LAUNCH_NESTED_CONTAINER_SESSION",
            Action::KillNestedContainer => "KILL_NESTED_CONTAINER",
            Action::WaitNestedContainer => "WAIT_NESTED_CONTAINER",
            Action::RemoveNestedContainer => "REMOVE_NESTED_CONTAINER",
            Action::AttachContainerInput => "ATTACH_CONTAINER_INPUT",
            Action::AttachContainerOutput => "ATTACH_CONTAINER_OUTPUT",
            Action::ViewContainer => "VIEW_CONTAINER",
            Action::SetLogLevel => "SET_LOG_LEVEL",
            Action::RegisterAgent => "REGISTER_AGENT",
            Action::UpdateMaintenanceSchedule => "UPDATE_MAINTENANCE_SCHEDULE",
            Action::GetMaintenanceSchedule => "GET_MAINTENANCE_SCHEDULE",
            Action::StartMaintenance => "START_MAINTENANCE",
            Action::StopMaintenance => "STOP_MAINTENANCE",
            Action::GetMaintenanceStatus => "GET_MAINTENANCE_STATUS",
            Action::DrainAgent => "DRAIN_AGENT",
            Action::DeactivateAgent => "DEACTIVATE_AGENT",
            Action::ReactivateAgent => "REACTIVATE_AGENT",
            Action::MarkAgentGone => "MARK_AGENT_GONE",
            Action::LaunchStandaloneContainer => "LAUNCH_STANDALONE_CONTAINER",
            Action::KillStandaloneContainer => "KILL_STANDALONE_CONTAINER",
            Action::WaitStandaloneContainer => "WAIT_STANDALONE_CONTAINER",
            Action::RemoveStandaloneContainer => "REMOVE_STANDALONE_CONTAINER",
            Action::ViewStandaloneContainer => "VIEW_STANDALONE_CONTAINER",
            Action::ModifyResourceProviderConfig => "MODIFY_RESOURCE_PROVIDER_CONFIG",
            Action::MarkResourceProviderGone => "MARK_RESOURCE_PROVIDER_GONE",
            Action::ViewResourceProvider => "VIEW_RESOURCE_PROVIDER",
            Action::PruneImages => "PRUNE_IMAGES",
        }
    }

    /// The ACL kinds that decide this action. Nested-container launches
    /// have two kinds upstream (as a user, and under a parent with a
    /// user); the local authorizer consults the first, as do we.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Action::RegisterFramework => "register_frameworks",
            Action::RunTask => "run_tasks",
            Action::TeardownFramework => "teardown_frameworks",
            Action::ReserveResources => "reserve_resources",
            Action::UnreserveResources => "unreserve_resources",
            Action::CreateVolume => "create_volumes",
            Action::DestroyVolume => "destroy_volumes",
            Action::ResizeVolume => "resize_volumes",
            Action::GetQuota => "get_quotas",
            Action::UpdateQuota => "update_quotas",
            Action::ViewRole => "view_roles",
            Action::UpdateWeight => "update_weights",
            Action::GetEndpointWithPath => "get_endpoints",
            Action::ViewFramework => "view_frameworks",
            Action::ViewTask => "view_tasks",
            Action::ViewExecutor => "view_executors",
            Action::AccessSandbox => "access_sandboxes",
            Action::AccessMesosLog => "access_mesos_logs",
            Action::ViewFlags => "view_flags",
            Action::LaunchNestedContainer => "launch_nested_containers_as_user",
            Action::LaunchNestedContainerSession => "launch_nested_container_sessions_as_user",
            Action::KillNestedContainer => "kill_nested_containers",
            Action::WaitNestedContainer => "wait_nested_containers",
            Action::RemoveNestedContainer => "remove_nested_containers",
            Action::AttachContainerInput => "attach_containers_input",
            Action::AttachContainerOutput => "attach_containers_output",
            Action::ViewContainer => "view_containers",
            Action::SetLogLevel => "set_log_level",
            Action::RegisterAgent => "register_agents",
            Action::UpdateMaintenanceSchedule => "update_maintenance_schedules",
            Action::GetMaintenanceSchedule => "get_maintenance_schedules",
            Action::StartMaintenance => "start_maintenances",
            Action::StopMaintenance => "stop_maintenances",
            Action::GetMaintenanceStatus => "get_maintenance_statuses",
            Action::DrainAgent => "drain_agents",
            Action::DeactivateAgent => "deactivate_agents",
            Action::ReactivateAgent => "reactivate_agents",
            Action::MarkAgentGone => "mark_agents_gone",
            Action::LaunchStandaloneContainer => "launch_standalone_containers",
            Action::KillStandaloneContainer => "kill_standalone_containers",
            Action::WaitStandaloneContainer => "wait_standalone_containers",
            Action::RemoveStandaloneContainer => "remove_standalone_containers",
            Action::ViewStandaloneContainer => "view_standalone_containers",
            Action::ModifyResourceProviderConfig => "modify_resource_provider_configs",
            Action::MarkResourceProviderGone => "mark_resource_providers_gone",
            Action::ViewResourceProvider => "view_resource_providers",
            Action::PruneImages => "prune_images",
        }
    }
}

/// What an action is about. Each variant yields the one value the
/// action's ACLs compare; `Any` (the request names nothing, as upstream's
/// requests without an object) is granted only by an ACL whose object is
/// `ANY`.
#[derive(Debug, Clone, Copy)]
pub enum Object<'a> {
    Any,
    /// A role (register, reserve, create/resize volume, quota, weight,
    /// view role).
    Role(&'a str),
    /// A Unix user (run task) or an endpoint path (get endpoint).
    Value(&'a str),
    /// A framework: its principal for teardown, its user for views.
    Framework(&'a FrameworkInfo),
    /// A task as the master tracks it, with its framework.
    Task(&'a Task, &'a FrameworkInfo),
    /// A task being launched, with its framework.
    TaskInfo(&'a TaskInfo, &'a FrameworkInfo),
    /// An executor, with its framework (view executor, sandbox access).
    Executor(&'a ExecutorInfo, &'a FrameworkInfo),
    /// One resource of a reserve, unreserve, create or destroy operation.
    Resource(&'a Resource),
    /// A machine a maintenance action is about. The local authorizer
    /// compares no part of its id: a maintenance ACL's `machines` may only
    /// be `ANY` or `NONE` (listed values are refused at parse), so the
    /// answer is the same for every machine.
    Machine(&'a MachineId),
}

/// The user a task runs as: its command's, else its executor's, else its
/// framework's (upstream's rule for RUN_TASK and VIEW_TASK).
pub fn task_info_user<'a>(task: &'a TaskInfo, framework: &'a FrameworkInfo) -> &'a str {
    task.command
        .as_ref()
        .and_then(|c| c.user.as_deref())
        .or_else(|| {
            task.executor
                .as_ref()
                .and_then(|e| e.command.as_ref())
                .and_then(|c| c.user.as_deref())
        })
        .unwrap_or(&framework.user)
}

fn executor_user<'a>(executor: &'a ExecutorInfo, framework: &'a FrameworkInfo) -> &'a str {
    executor
        .command
        .as_ref()
        .and_then(|c| c.user.as_deref())
        .unwrap_or(&framework.user)
}

impl<'a> Object<'a> {
    /// The value an ACL of `action` compares; `None` is upstream's ANY.
    // `Resource.role` is the pre-refinement form agents still send.
    #[allow(deprecated)]
    fn value(self, action: Action) -> Option<&'a str> {
        match self {
            Object::Any | Object::Machine(_) => None,
            Object::Role(role) | Object::Value(role) => Some(role),
            Object::Framework(info) => match action {
                Action::TeardownFramework => info.principal.as_deref(),
                _ => Some(&info.user),
            },
            Object::Task(task, framework) => Some(task.user.as_deref().unwrap_or(&framework.user)),
            Object::TaskInfo(task, framework) => Some(task_info_user(task, framework)),
            Object::Executor(executor, framework) => Some(executor_user(executor, framework)),
            Object::Resource(resource) => match action {
                Action::UnreserveResources => resource
                    .reservations
                    .last()
                    .and_then(|r| r.principal.as_deref())
                    .or_else(|| {
                        resource
                            .reservation
                            .as_ref()
                            .and_then(|r| r.principal.as_deref())
                    }),
                Action::DestroyVolume => resource
                    .disk
                    .as_ref()
                    .and_then(|d| d.persistence.as_ref())
                    .and_then(|p| p.principal.as_deref()),
                // The reservation's role; unreserved resources are `*`'s.
                _ => resource
                    .reservations
                    .last()
                    .and_then(|r| r.role.as_deref())
                    .or(resource.role.as_deref())
                    .or(Some("*")),
            },
        }
    }
}

/// The authorizer a process asks: `None` without `--acls` (upstream
/// installs no authorizer then, and every action is allowed).
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    acls: Option<Acls>,
}

impl Authorizer {
    pub fn new(acls: Option<Acls>) -> Authorizer {
        Authorizer { acls }
    }

    /// From `--acls` (inline JSON or a path), when given.
    pub fn from_flag(flag: Option<&str>) -> Result<Authorizer, String> {
        flag.map(Acls::from_flag)
            .transpose()
            .map(Authorizer::new)
            .map_err(|e| format!("--acls: {e}"))
    }

    pub fn acls(&self) -> Option<&Acls> {
        self.acls.as_ref()
    }

    /// Whether `subject` (an authenticated or declared principal; `None`
    /// when there is none) may do `action` on `object`.
    pub fn authorized(&self, action: Action, subject: Option<&str>, object: Object<'_>) -> bool {
        match &self.acls {
            None => true,
            Some(acls) => acls.allowed(action.kind(), subject, object.value(action)),
        }
    }

    /// `get_endpoints` for a request to `endpoint`, the upstream path an
    /// ACL names; routes with no such path (`None`) are not governed by it.
    pub fn may_get_endpoint(&self, subject: Option<&str>, endpoint: Option<&str>) -> bool {
        endpoint.is_none_or(|path| {
            self.authorized(Action::GetEndpointWithPath, subject, Object::Value(path))
        })
    }

    /// Whether `subject` may do `action` on every one of `resources` (a
    /// reserve, unreserve, create, destroy or resize operation is
    /// authorized per resource, as upstream's action objects are).
    pub fn authorized_resources(
        &self,
        action: Action,
        subject: Option<&str>,
        resources: &[Resource],
    ) -> bool {
        if resources.is_empty() {
            return self.authorized(action, subject, Object::Any);
        }
        resources
            .iter()
            .all(|r| self.authorized(action, subject, Object::Resource(r)))
    }

    /// Whether some request for `action` could be refused: without ACLs
    /// for it and with `permissive`, every answer is yes, so a caller may
    /// skip asking per object (and serve an unfiltered, cacheable view).
    pub fn restricts(&self, action: Action) -> bool {
        match &self.acls {
            None => false,
            Some(acls) => !acls.permissive || acls.has_rules(action.kind()),
        }
    }

    /// An [`Approver`] for one subject and action, asked once per object.
    pub fn approver<'a>(&'a self, action: Action, subject: Option<&'a str>) -> Approver<'a> {
        Approver {
            authorizer: self,
            action,
            subject,
            restricts: self.restricts(action),
        }
    }
}

/// One subject's answers for one action (upstream's `ObjectApprover`):
/// a view asks it once per framework, task or executor.
#[derive(Debug, Clone, Copy)]
pub struct Approver<'a> {
    authorizer: &'a Authorizer,
    action: Action,
    subject: Option<&'a str>,
    restricts: bool,
}

impl Approver<'_> {
    pub fn approved(&self, object: Object<'_>) -> bool {
        !self.restricts
            || self
                .authorizer
                .authorized(self.action, self.subject, object)
    }

    /// Whether every object is approved (nothing to filter).
    pub fn approves_all(&self) -> bool {
        !self.restricts
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn framework(user: &str, principal: Option<&str>) -> FrameworkInfo {
        FrameworkInfo {
            user: user.to_string(),
            name: "f".to_string(),
            principal: principal.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn objects_yield_the_value_upstream_compares() {
        let authorizer = Authorizer::new(Some(
            Acls::parse(
                r#"{"permissive": false,
                    "teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"values": ["fw"]}}],
                    "view_frameworks": [{"principals": {"values": ["ops"]}, "users": {"values": ["alice"]}}],
                    "run_tasks": [{"principals": {"values": ["fw"]}, "users": {"values": ["bob"]}}]}"#,
            )
            .unwrap(),
        ));
        let fw = framework("alice", Some("fw"));
        assert!(authorizer.authorized(
            Action::TeardownFramework,
            Some("ops"),
            Object::Framework(&fw)
        ));
        assert!(authorizer.authorized(Action::ViewFramework, Some("ops"), Object::Framework(&fw)));
        let other = framework("carol", Some("fw"));
        assert!(!authorizer.authorized(
            Action::ViewFramework,
            Some("ops"),
            Object::Framework(&other)
        ));
        let mut task = TaskInfo {
            name: "t".into(),
            ..Default::default()
        };
        // No command user: the framework's user decides.
        assert!(!authorizer.authorized(Action::RunTask, Some("fw"), Object::TaskInfo(&task, &fw)));
        task.command = Some(mesos_proto::mesos::v1::CommandInfo {
            user: Some("bob".into()),
            ..Default::default()
        });
        assert!(authorizer.authorized(Action::RunTask, Some("fw"), Object::TaskInfo(&task, &fw)));
        assert!(authorizer.restricts(Action::GetQuota));
    }

    #[test]
    fn machines_are_decided_by_the_principal_alone() {
        let authorizer = Authorizer::new(Some(
            Acls::parse(
                r#"{"permissive": false,
                    "get_maintenance_schedules": [
                      {"principals": {"values": ["ops"]}, "machines": {"type": "ANY"}},
                      {"principals": {"values": ["guest"]}, "machines": {"type": "NONE"}}],
                    "start_maintenances": [
                      {"principals": {"type": "ANY"}, "machines": {"type": "NONE"}}]}"#,
            )
            .unwrap(),
        ));
        let host = MachineId {
            hostname: Some("h1".into()),
            ip: None,
        };
        let ip = MachineId {
            hostname: None,
            ip: Some("10.0.0.1".into()),
        };
        for machine in [&host, &ip] {
            let schedules = |who| {
                authorizer
                    .approver(Action::GetMaintenanceSchedule, Some(who))
                    .approved(Object::Machine(machine))
            };
            assert!(schedules("ops"));
            assert!(!schedules("guest"));
            // Named by no ACL: not permissive.
            assert!(!schedules("other"));
            assert!(!authorizer.authorized(
                Action::StartMaintenance,
                Some("ops"),
                Object::Machine(machine)
            ));
        }
        // Permissive, with no rule for the kind: every machine.
        let open = Authorizer::new(Some(Acls::parse(r#"{"permissive": true}"#).unwrap()));
        assert!(open.authorized(Action::StopMaintenance, Some("x"), Object::Machine(&host)));
        assert!(open
            .approver(Action::GetMaintenanceStatus, None)
            .approves_all());
    }

    #[test]
    fn no_acls_allow_everything_and_restrict_nothing() {
        let authorizer = Authorizer::default();
        assert!(!authorizer.restricts(Action::ViewFramework));
        assert!(authorizer.authorized(Action::RegisterFramework, None, Object::Role("*")));
        let permissive = Authorizer::new(Some(
            Acls::parse(
                r#"{"view_tasks": [{"principals": {"type": "ANY"}, "users": {"type": "NONE"}}]}"#,
            )
            .unwrap(),
        ));
        assert!(!permissive.restricts(Action::ViewFramework));
        assert!(permissive.restricts(Action::ViewTask));
        assert!(!permissive
            .approver(Action::ViewTask, Some("x"))
            .approved(Object::Value("root")));
    }
}
