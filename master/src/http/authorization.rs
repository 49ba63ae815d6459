//! Authorization in the HTTP layer: the request's principal, the 403 for
//! an operator request the authorizer refuses, and the filtered views of
//! the snapshot a principal may see (upstream's `ObjectApprovers`).
//!
//! Owns which view actions hide which parts of a snapshot. Never renders
//! JSON or protobuf: the state builders render whatever snapshot they are
//! given, so the unfiltered snapshot (no view ACLs) stays the one shared,
//! cacheable copy, and a filtered one is made only for a principal some
//! ACL restricts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use libprocess::authentication::Principal;
use libprocess::Request;
use mesos_authorizer::{Action, Approver, Authorizer, Object};

use super::{HttpContext, HttpError};
use mesos_proto::mesos::v1::FrameworkInfo;

use crate::master::state_events::StateEvent;
use crate::snapshot::{FrameworkView, Snapshot};

/// The principal the request authenticated as, if any.
pub fn principal(request: &Request) -> Option<&str> {
    request
        .extensions()
        .get::<Principal>()
        .map(|p| p.0.as_str())
}

impl HttpContext {
    /// 403 unless the request's principal may do `action` on `object`.
    pub fn authorize(
        &self,
        request: &Request,
        action: Action,
        object: Object<'_>,
    ) -> Result<(), HttpError> {
        if self
            .authorizer
            .authorized(action, principal(request), object)
        {
            Ok(())
        } else {
            Err(forbidden(request, action))
        }
    }

    /// 403 unless the principal may do `action` on every resource.
    pub fn authorize_resources(
        &self,
        request: &Request,
        action: Action,
        resources: &[mesos_proto::mesos::v1::Resource],
    ) -> Result<(), HttpError> {
        if self
            .authorizer
            .authorized_resources(action, principal(request), resources)
        {
            Ok(())
        } else {
            Err(forbidden(request, action))
        }
    }

    /// The part of `snapshot` the request's principal may see.
    pub fn viewable(&self, request: &Request, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        viewable(&self.authorizer, principal(request), snapshot)
    }

    /// Whether any ACL could hide part of a state view from someone: only
    /// then must a view be filtered per request (and bypass the render
    /// cache, which holds the unfiltered view).
    pub fn views_restricted(&self) -> bool {
        VIEW_ACTIONS
            .iter()
            .chain([Action::ViewFlags].iter())
            .any(|a| self.authorizer.restricts(*a))
    }

    /// Whether the request's principal may see the flags.
    pub fn may_view_flags(&self, request: &Request) -> bool {
        self.authorizer
            .authorized(Action::ViewFlags, principal(request), Object::Any)
    }

    /// Whether the request's principal may see `role`.
    pub fn may_view_role(&self, request: &Request, role: &str) -> bool {
        self.authorizer
            .authorized(Action::ViewRole, principal(request), Object::Role(role))
    }
}

/// The 403 for a refused `action`.
pub fn forbidden(request: &Request, action: Action) -> HttpError {
    let who = match principal(request) {
        Some(p) => format!("Principal '{p}'"),
        None => "An anonymous request".to_string(),
    };
    HttpError::Forbidden(format!(
        "{who} is not authorized to perform action {}",
        action.name()
    ))
}

/// The actions a snapshot view can hide.
const VIEW_ACTIONS: [Action; 5] = [
    Action::ViewFramework,
    Action::ViewTask,
    Action::ViewExecutor,
    Action::ViewRole,
    Action::GetQuota,
];

/// `snapshot` with what `principal` may not see removed: frameworks
/// (`VIEW_FRAMEWORK`), their tasks (`VIEW_TASK`) and executors
/// (`VIEW_EXECUTOR`), weights and agents' reservations (`VIEW_ROLE`) and
/// quotas (`GET_QUOTA`).
/// The same `Arc` when no ACL restricts any of these.
pub fn viewable(
    authorizer: &Authorizer,
    principal: Option<&str>,
    snapshot: Arc<Snapshot>,
) -> Arc<Snapshot> {
    if !VIEW_ACTIONS.iter().any(|a| authorizer.restricts(*a)) {
        return snapshot;
    }
    let frameworks = authorizer.approver(Action::ViewFramework, principal);
    let tasks = authorizer.approver(Action::ViewTask, principal);
    let executors = authorizer.approver(Action::ViewExecutor, principal);
    let roles = authorizer.approver(Action::ViewRole, principal);
    let quotas = authorizer.approver(Action::GetQuota, principal);
    let filter_frameworks = |list: &[FrameworkView]| -> Vec<FrameworkView> {
        list.iter()
            .filter(|f| frameworks.approved(Object::Framework(&f.info)))
            .map(|f| filter_framework(f, &tasks, &executors))
            .collect()
    };
    let mut filtered = Snapshot {
        frameworks: filter_frameworks(&snapshot.frameworks),
        completed_frameworks: filter_frameworks(&snapshot.completed_frameworks),
        ..(*snapshot).clone()
    };
    if !roles.approves_all() {
        filtered
            .weights
            .retain(|role, _| roles.approved(Object::Role(role)));
        // Reservations to roles the principal may not view are left out
        // of the agents' resources; unreserved resources always show.
        for agent in &mut filtered.agents {
            for list in [&mut agent.total, &mut agent.used, &mut agent.offered] {
                list.retain(|r| {
                    reservation_role(r).is_none_or(|role| roles.approved(Object::Role(role)))
                });
            }
        }
    }
    if !quotas.approves_all() {
        filtered
            .quotas
            .retain(|q| quotas.approved(Object::Role(&q.role)));
    }
    Arc::new(filtered)
}

/// The role a resource is reserved to, `None` when unreserved.
// `Resource.role` is the pre-refinement form agents may still send.
#[allow(deprecated)]
fn reservation_role(resource: &mesos_proto::mesos::v1::Resource) -> Option<&str> {
    resource
        .reservations
        .last()
        .and_then(|r| r.role.as_deref())
        .or(resource.role.as_deref().filter(|role| *role != "*"))
}

fn filter_framework(
    view: &FrameworkView,
    tasks: &Approver<'_>,
    executors: &Approver<'_>,
) -> FrameworkView {
    let mut view = view.clone();
    if !tasks.approves_all() {
        let info = &view.info;
        let keep = |list: &mut Vec<Arc<mesos_proto::mesos::v1::Task>>| {
            list.retain(|t| tasks.approved(Object::Task(t, info)));
        };
        keep(&mut view.tasks);
        keep(&mut view.unreachable_tasks);
        keep(&mut view.completed_tasks);
    }
    if !executors.approves_all() {
        let info = view.info.clone();
        view.executors
            .retain(|(_, e)| executors.approved(Object::Executor(e, &info)));
    }
    view
}

/// The operator event stream's filter for one subscriber: the frameworks
/// and tasks it may see, learned from the state it started with and the
/// events since, so each event is judged without asking the actor.
pub struct EventFilter {
    authorizer: Arc<Authorizer>,
    principal: Option<String>,
    /// Every framework known to the stream, visible or not, for judging
    /// its tasks.
    frameworks: HashMap<String, FrameworkInfo>,
    /// (framework id, task id) of the tasks the subscriber saw added.
    tasks: HashSet<(String, String)>,
}

impl EventFilter {
    /// `None` when no ACL restricts what the stream shows.
    pub fn new(
        authorizer: Arc<Authorizer>,
        principal: Option<String>,
        state: &Snapshot,
    ) -> Option<EventFilter> {
        if ![Action::ViewFramework, Action::ViewTask]
            .iter()
            .any(|a| authorizer.restricts(*a))
        {
            return None;
        }
        let mut filter = EventFilter {
            authorizer,
            principal,
            frameworks: HashMap::new(),
            tasks: HashSet::new(),
        };
        // `state` is already the viewable snapshot: what it holds is seen.
        for view in state.frameworks.iter().chain(&state.completed_frameworks) {
            let id = framework_id(&view.info);
            for task in view
                .tasks
                .iter()
                .chain(&view.unreachable_tasks)
                .chain(&view.completed_tasks)
            {
                filter
                    .tasks
                    .insert((id.clone(), task.task_id.value.clone()));
            }
            filter.frameworks.insert(id, view.info.clone());
        }
        Some(filter)
    }

    fn approved(&self, action: Action, object: Object<'_>) -> bool {
        self.authorizer
            .authorized(action, self.principal.as_deref(), object)
    }

    /// Whether the subscriber may see `event`.
    pub fn admits(&mut self, event: &StateEvent) -> bool {
        match event {
            StateEvent::FrameworkAdded(view) | StateEvent::FrameworkUpdated(view) => {
                self.frameworks
                    .insert(framework_id(&view.info), view.info.clone());
                self.approved(Action::ViewFramework, Object::Framework(&view.info))
            }
            StateEvent::FrameworkRemoved(info) => {
                self.approved(Action::ViewFramework, Object::Framework(info))
            }
            StateEvent::TaskAdded(task) => {
                let id = task.framework_id.value.clone();
                let Some(info) = self.frameworks.get(&id) else {
                    return false;
                };
                let seen = self.approved(Action::ViewFramework, Object::Framework(info))
                    && self.approved(Action::ViewTask, Object::Task(task, info));
                if seen {
                    self.tasks.insert((id, task.task_id.value.clone()));
                }
                seen
            }
            StateEvent::TaskUpdated {
                framework_id,
                status,
                ..
            } => self
                .tasks
                .contains(&(framework_id.clone(), status.task_id.value.clone())),
            StateEvent::AgentAdded(_) | StateEvent::AgentRemoved { .. } => true,
        }
    }
}

fn framework_id(info: &FrameworkInfo) -> String {
    info.id
        .as_ref()
        .map(|i| i.value.clone())
        .unwrap_or_default()
}
