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
use mesos_proto::mesos::v1::{FrameworkInfo, Resource};

use crate::master::state_events::StateEvent;
use crate::snapshot::{AgentView, FrameworkView, Snapshot};

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
        for agent in &mut filtered.agents {
            filter_agent(agent, &roles);
        }
    }
    if !quotas.approves_all() {
        filtered
            .quotas
            .retain(|q| quotas.approved(Object::Role(&q.role)));
    }
    Arc::new(filtered)
}

/// Whether `roles` approves every role `resource` names: its
/// pre-refinement role, each reservation's (a child role shows only with
/// its ancestors), and the role it is allocated to. Unreserved,
/// unallocated resources always show.
// `Resource.role` is the pre-refinement form agents may still send.
#[allow(deprecated)]
fn resource_viewable(resource: &Resource, roles: &Approver<'_>) -> bool {
    let role = |role: &str| roles.approved(Object::Role(role));
    resource.role.as_deref().is_none_or(|r| r == "*" || role(r))
        && resource
            .reservations
            .iter()
            .all(|r| r.role.as_deref().is_none_or(role))
        && resource
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
            .is_none_or(role)
}

/// Keeps the resources of `resources` whose roles `roles` approves;
/// whether any was left out.
fn retain_viewable(resources: &mut Vec<Resource>, roles: &Approver<'_>) -> bool {
    let before = resources.len();
    resources.retain(|r| resource_viewable(r, roles));
    resources.len() != before
}

/// An agent without the resources of roles the principal may not view
/// (in its info, total, used and offered); whether any was left out.
fn filter_agent(agent: &mut AgentView, roles: &Approver<'_>) -> bool {
    let mut hidden = retain_viewable(&mut agent.info.resources, roles);
    for list in [&mut agent.total, &mut agent.used, &mut agent.offered] {
        hidden |= retain_viewable(list, roles);
    }
    hidden
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

/// What a subscriber gets of one event.
#[derive(Debug)]
pub enum Admitted {
    Hidden,
    /// The event as published (its shared encoding).
    Whole,
    /// The event without what the subscriber may not see.
    Redacted(StateEvent),
}

/// The operator event stream's filter for one subscriber: the frameworks
/// and tasks it may see, learned from the state it started with and the
/// events since, so each event is judged without asking the actor; and
/// the resources of roles it may not view, left out of the agents and
/// frameworks the events carry, as they are of its SUBSCRIBED state.
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
        if ![Action::ViewFramework, Action::ViewTask, Action::ViewRole]
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

    fn roles(&self) -> Approver<'_> {
        self.authorizer
            .approver(Action::ViewRole, self.principal.as_deref())
    }

    /// What the subscriber may see of `event`.
    pub fn admit(&mut self, event: &StateEvent) -> Admitted {
        let whole = |seen: bool| {
            if seen {
                Admitted::Whole
            } else {
                Admitted::Hidden
            }
        };
        match event {
            StateEvent::FrameworkAdded(view) | StateEvent::FrameworkUpdated(view) => {
                self.frameworks
                    .insert(framework_id(&view.info), view.info.clone());
                if !self.approved(Action::ViewFramework, Object::Framework(&view.info)) {
                    return Admitted::Hidden;
                }
                let roles = self.roles();
                let visible = |list: &[Resource]| list.iter().all(|r| resource_viewable(r, &roles));
                // Copied only when something is left out: a framework's
                // view holds all its tasks and offers.
                if roles.approves_all()
                    || (visible(&view.used_resources) && visible(&view.offered_resources))
                {
                    return Admitted::Whole;
                }
                let mut redacted = (**view).clone();
                retain_viewable(&mut redacted.used_resources, &roles);
                retain_viewable(&mut redacted.offered_resources, &roles);
                Admitted::Redacted(match event {
                    StateEvent::FrameworkAdded(_) => StateEvent::FrameworkAdded(Box::new(redacted)),
                    _ => StateEvent::FrameworkUpdated(Box::new(redacted)),
                })
            }
            StateEvent::FrameworkRemoved(info) => {
                whole(self.approved(Action::ViewFramework, Object::Framework(info)))
            }
            StateEvent::TaskAdded(task) => {
                let id = task.framework_id.value.clone();
                let Some(info) = self.frameworks.get(&id) else {
                    return Admitted::Hidden;
                };
                let seen = self.approved(Action::ViewFramework, Object::Framework(info))
                    && self.approved(Action::ViewTask, Object::Task(task, info));
                if seen {
                    self.tasks.insert((id, task.task_id.value.clone()));
                }
                whole(seen)
            }
            StateEvent::TaskUpdated {
                framework_id,
                status,
                ..
            } => whole(
                self.tasks
                    .contains(&(framework_id.clone(), status.task_id.value.clone())),
            ),
            StateEvent::AgentAdded(view) => {
                let roles = self.roles();
                let visible = |list: &[Resource]| list.iter().all(|r| resource_viewable(r, &roles));
                // Copied only when something is left out, as for frameworks.
                if roles.approves_all()
                    || [&view.info.resources, &view.total, &view.used, &view.offered]
                        .into_iter()
                        .all(|list| visible(list))
                {
                    return Admitted::Whole;
                }
                let mut redacted = (**view).clone();
                filter_agent(&mut redacted, &roles);
                Admitted::Redacted(StateEvent::AgentAdded(Box::new(redacted)))
            }
            StateEvent::AgentRemoved { .. } => Admitted::Whole,
        }
    }
}

fn framework_id(info: &FrameworkInfo) -> String {
    info.id
        .as_ref()
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::resource::{AllocationInfo, ReservationInfo};
    use mesos_proto::mesos::v1::{value, AgentInfo};

    fn cpus(reserved: &[&str], allocated: Option<&str>) -> Resource {
        Resource {
            name: "cpus".into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: 1.0 }),
            reservations: reserved
                .iter()
                .map(|role| ReservationInfo {
                    role: Some(role.to_string()),
                    ..Default::default()
                })
                .collect(),
            allocation_info: allocated.map(|role| AllocationInfo {
                role: Some(role.into()),
            }),
            ..Default::default()
        }
    }

    /// `alice` may view role `a` and its child `a/x`, `bob` nothing, `ops`
    /// everything; frameworks and tasks are not restricted.
    fn authorizer() -> Arc<Authorizer> {
        Arc::new(Authorizer::new(Some(
            mesos_authorizer::Acls::parse(
                r#"{"view_roles": [
                    {"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}},
                    {"principals": {"values": ["alice"]}, "roles": {"values": ["a", "a/x"]}},
                    {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}]}"#,
            )
            .unwrap(),
        )))
    }

    fn agent() -> AgentView {
        AgentView {
            info: AgentInfo {
                hostname: "h".into(),
                resources: vec![cpus(&[], None), cpus(&["b"], None)],
                ..Default::default()
            },
            total: vec![
                cpus(&[], None),
                cpus(&["a"], None),
                cpus(&["a", "a/x"], None),
                cpus(&["b", "b/a"], None),
            ],
            used: vec![cpus(&[], Some("a")), cpus(&[], Some("b"))],
            ..Default::default()
        }
    }

    fn redacted_agent(filter: &mut EventFilter) -> Option<AgentView> {
        match filter.admit(&StateEvent::AgentAdded(Box::new(agent()))) {
            Admitted::Redacted(StateEvent::AgentAdded(view)) => Some(*view),
            Admitted::Whole => None,
            other => panic!("{other:?}"),
        }
    }

    fn roles_of(resources: &[Resource]) -> Vec<String> {
        resources
            .iter()
            .map(|r| {
                let mut roles: Vec<&str> = r
                    .reservations
                    .iter()
                    .filter_map(|r| r.role.as_deref())
                    .collect();
                roles.extend(r.allocation_info.as_ref().and_then(|a| a.role.as_deref()));
                roles.join(",")
            })
            .collect()
    }

    #[test]
    fn agent_added_hides_resources_of_roles_the_subscriber_may_not_view() {
        let authorizer = authorizer();
        let snapshot = Arc::new(Snapshot {
            agents: vec![agent()],
            ..Default::default()
        });
        // A role restriction alone makes a filter.
        let filter = |who: &str| {
            EventFilter::new(Arc::clone(&authorizer), Some(who.into()), &snapshot).unwrap()
        };
        assert!(redacted_agent(&mut filter("ops")).is_none());

        let alice = redacted_agent(&mut filter("alice")).unwrap();
        assert_eq!(roles_of(&alice.total), ["", "a", "a,a/x"]);
        assert_eq!(roles_of(&alice.used), ["a"]);
        assert_eq!(roles_of(&alice.info.resources), [""]);
        let bob = redacted_agent(&mut filter("bob")).unwrap();
        assert_eq!(roles_of(&bob.total), [""]);
        assert!(bob.used.is_empty());

        // The stream shows what GET_STATE shows the same principal.
        for (who, streamed) in [("alice", alice), ("bob", bob)] {
            let state = viewable(&authorizer, Some(who), Arc::clone(&snapshot));
            assert_eq!(roles_of(&state.agents[0].total), roles_of(&streamed.total));
            assert_eq!(roles_of(&state.agents[0].used), roles_of(&streamed.used));
            assert_eq!(
                roles_of(&state.agents[0].info.resources),
                roles_of(&streamed.info.resources)
            );
        }
    }

    #[test]
    fn framework_events_hide_resources_of_unviewable_roles() {
        let authorizer = authorizer();
        let mut bob =
            EventFilter::new(authorizer, Some("bob".into()), &Snapshot::default()).unwrap();
        let view = FrameworkView {
            info: FrameworkInfo {
                user: "u".into(),
                name: "f".into(),
                ..Default::default()
            },
            used_resources: vec![cpus(&[], Some("a"))],
            offered_resources: vec![cpus(&["a"], Some("a"))],
            ..Default::default()
        };
        match bob.admit(&StateEvent::FrameworkUpdated(Box::new(view.clone()))) {
            Admitted::Redacted(StateEvent::FrameworkUpdated(shown)) => {
                assert!(shown.used_resources.is_empty());
                assert!(shown.offered_resources.is_empty());
                assert_eq!(shown.info, view.info);
            }
            other => panic!("{other:?}"),
        }
        let removed = StateEvent::FrameworkRemoved(Box::new(view.info.clone()));
        assert!(matches!(bob.admit(&removed), Admitted::Whole));
        let gone = StateEvent::AgentRemoved {
            agent_id: "a1".into(),
        };
        assert!(matches!(bob.admit(&gone), Admitted::Whole));
    }

    #[test]
    fn no_view_restriction_means_no_filter() {
        let open = Arc::new(Authorizer::new(Some(
            mesos_authorizer::Acls::parse(
                r#"{"get_maintenance_schedules": [{"principals": {"type": "ANY"}, "machines": {"type": "NONE"}}]}"#,
            )
            .unwrap(),
        )));
        assert!(EventFilter::new(open, Some("x".into()), &Snapshot::default()).is_none());
    }
}
