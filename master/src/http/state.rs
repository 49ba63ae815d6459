//! The legacy JSON endpoints: `/state` (and `/state.json`),
//! `/state-summary`, `/frameworks`, `/slaves`, `/tasks` (checklist §3.3).
//!
//! Hand-written JSON as upstream's `readonly_handler.cpp` and
//! `common/http.cpp` write it — v0 names (`slave_id`), flattened resources,
//! JSONP — rendered from the published snapshot. Never asks the actor. The
//! models shared with the agent (resources, attributes, labels, tasks,
//! executor infos) are `mesos_proto::legacy_json`'s; only the master's own
//! shapes (agents, frameworks, offers, roles) are written here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use libprocess::http::Method;
use libprocess::{Request, RequestExt};
use mesos_proto::legacy_json::{self, number as json_number};
use mesos_proto::mesos::v1::{
    framework_info, master_info, ExecutorInfo, Offer, Resource, Task, TaskState,
};
use mesos_proto::resources::Resources;
use serde_json::{json, Map, Value};

use super::futures_response::ResponseFuture;
use super::render::{self, RenderKey, TaskFragments};
use super::{require_method, HttpContext};
use crate::flags::MESOS_VERSION;
use crate::snapshot::{AgentView, FrameworkView, Snapshot};

/// Upstream's default `limit` of `/tasks`.
const TASK_LIMIT: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    State,
    StateSummary,
    Frameworks,
    Slaves,
    Tasks,
    Roles,
}

pub fn handle(context: Arc<HttpContext>, endpoint: Endpoint, request: Request) -> ResponseFuture {
    Box::pin(async move {
        let result = async {
            context.check_elected(&request)?;
            require_method(&request, &[Method::GET, Method::HEAD, Method::POST], "GET")?;
            let restricted = context.views_restricted();
            let snapshot = if restricted {
                context.viewable(&request, context.master.snapshot().await)
            } else {
                context.master.snapshot().await
            };
            // Bodies that depend only on the snapshot are rendered once per
            // snapshot; queries that narrow them, and views filtered for a
            // principal, render their own. Either way the work runs off the
            // request threads (see `render`).
            let key = match endpoint {
                _ if restricted => None,
                Endpoint::State => Some(RenderKey::State),
                Endpoint::StateSummary => Some(RenderKey::StateSummary),
                Endpoint::Frameworks if request.query_param("framework_id").is_none() => {
                    Some(RenderKey::Frameworks)
                }
                Endpoint::Slaves if request.query_param("slave_id").is_none() => {
                    Some(RenderKey::Slaves)
                }
                Endpoint::Roles => Some(RenderKey::Roles),
                _ => None,
            };
            let render = renderer(Arc::clone(&context), endpoint, &request, restricted);
            match key {
                Some(key) => context.renders.render(key, &snapshot, render).await,
                None => render::render_uncached(snapshot, render).await,
            }
        }
        .await;
        match result {
            Ok(body) => libprocess::media::json_bytes_response(
                body,
                request.query_param("jsonp").as_deref(),
            ),
            Err(error) => error.into_response(),
        }
    })
}

/// The JSON body of `endpoint` for `request`, as a function of the
/// snapshot that can run on another thread.
fn renderer(
    context: Arc<HttpContext>,
    endpoint: Endpoint,
    request: &Request,
    narrowed: bool,
) -> impl FnOnce(&Snapshot) -> Bytes + Send + 'static {
    let framework_id = request.query_param("framework_id");
    let slave_id = request.query_param("slave_id");
    let query = TaskQuery::from_request(request);
    // Asked here, on the request: the render may run for a cached body
    // that every unrestricted reader shares, where these are all true.
    let may_view_flags = context.may_view_flags(request);
    let principal = super::authorization::principal(request).map(str::to_string);
    move |snapshot: &Snapshot| {
        let value = match endpoint {
            Endpoint::State => {
                let mut object = state(snapshot, &context.flags.to_map(), &context);
                if !may_view_flags {
                    object.remove("flags");
                }
                // The shared fragments hold the whole state's tasks; a
                // narrowed view renders its own rather than evict them.
                let mut own = TaskFragments::default();
                let mut shared = (!narrowed).then(|| context.renders.task_fragments());
                let fragments = shared.as_deref_mut().unwrap_or(&mut own);
                fragments.refresh(state_tasks(snapshot), task_fragment);
                let mut out = Vec::with_capacity(fragments.len() * 400);
                return match write_state(&mut out, &object, snapshot, fragments) {
                    Ok(()) => Bytes::from(out),
                    Err(e) => Bytes::from(format!("Failed to render the state: {e}")),
                };
            }
            Endpoint::StateSummary => state_summary(snapshot, &context),
            Endpoint::Frameworks => frameworks(snapshot, framework_id),
            Endpoint::Slaves => slaves(snapshot, slave_id),
            Endpoint::Tasks => tasks(snapshot, &query),
            Endpoint::Roles => {
                let mut value = roles(
                    snapshot,
                    &context.flags.parsed_weights().unwrap_or_default(),
                );
                if let Some(Value::Array(list)) = value.get_mut("roles") {
                    list.retain(|role| {
                        role.get("name").and_then(Value::as_str).is_none_or(|name| {
                            context.authorizer.authorized(
                                mesos_authorizer::Action::ViewRole,
                                principal.as_deref(),
                                mesos_authorizer::Object::Role(name),
                            )
                        })
                    });
                }
                value
            }
        };
        Bytes::from(value.to_string())
    }
}

/// Capability names of a master (`AGENT_UPDATE`, ...).
fn master_capabilities(snapshot: &Snapshot) -> Value {
    Value::Array(
        snapshot
            .master_info
            .capabilities
            .iter()
            .filter_map(|c| {
                c.r#type
                    .and_then(|t| master_info::capability::Type::try_from(t).ok())
            })
            .map(|t| Value::String(t.as_str_name().to_string()))
            .collect(),
    )
}

/// `/state`.
fn state(
    snapshot: &Snapshot,
    flags: &BTreeMap<String, String>,
    context: &HttpContext,
) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("version".into(), json!(MESOS_VERSION));
    super::process::insert_build_info(&mut object);
    object.insert("start_time".into(), json_number(snapshot.start_time));
    if let Some(elected) = snapshot.elected_time {
        object.insert("elected_time".into(), json_number(elected));
    }
    object.insert("id".into(), json!(snapshot.master_info.id));
    object.insert("pid".into(), json!(snapshot.pid));
    object.insert(
        "hostname".into(),
        json!(snapshot.master_info.hostname.clone().unwrap_or_default()),
    );
    object.insert("capabilities".into(), master_capabilities(snapshot));
    let active = snapshot.agents.iter().filter(|a| a.active).count();
    object.insert("activated_slaves".into(), json_number(active as f64));
    object.insert(
        "deactivated_slaves".into(),
        json_number((snapshot.agents.len() - active) as f64),
    );
    object.insert(
        "unreachable_slaves".into(),
        json_number(snapshot.unreachable_agents as f64),
    );
    if let Some(domain) = &snapshot.master_info.domain {
        object.insert("domain".into(), mesos_proto::json::to_value(domain));
    }
    // This master leads (the state endpoints redirect otherwise).
    object.insert("leader".into(), json!(snapshot.pid));
    object.insert(
        "leader_info".into(),
        mesos_proto::json::to_value(&snapshot.master_info),
    );
    if let Some(cluster) = &context.flags.cluster {
        object.insert("cluster".into(), json!(cluster));
    }
    if let Some(log_dir) = &context.flags.log_dir {
        object.insert("log_dir".into(), json!(log_dir));
    }
    if let Some(file) = &context.flags.external_log_file {
        object.insert("external_log_file".into(), json!(file));
    }
    object.insert("flags".into(), json!(flags));
    object.insert(
        "slaves".into(),
        Value::Array(snapshot.agents.iter().map(agent).collect()),
    );
    object.insert(
        "recovered_slaves".into(),
        Value::Array(
            snapshot
                .recovered_agents
                .iter()
                .map(|info| Value::Object(agent_info(info)))
                .collect(),
        ),
    );
    // Written by `StateBody`, with the tasks' cached fragments.
    object.insert("frameworks".into(), Value::Null);
    object.insert("completed_frameworks".into(), Value::Null);
    object.insert("orphan_tasks".into(), json!([]));
    object.insert("unregistered_frameworks".into(), json!([]));
    object
}

/// Every task a `/state` body lists.
fn state_tasks(snapshot: &Snapshot) -> impl Iterator<Item = &Arc<Task>> {
    snapshot
        .frameworks
        .iter()
        .chain(&snapshot.completed_frameworks)
        .flat_map(|f| {
            f.tasks
                .iter()
                .chain(&f.unreachable_tasks)
                .chain(&f.completed_tasks)
        })
}

fn task_fragment(task: &Task) -> Box<serde_json::value::RawValue> {
    let json = legacy_json::task(task).to_string();
    serde_json::value::RawValue::from_string(json)
        .unwrap_or_else(|_| Box::<serde_json::value::RawValue>::default())
}

/// Writes a `/state` body: `object` (from [`state`]) with its frameworks,
/// whose tasks are copied from `fragments`.
fn write_state(
    out: &mut Vec<u8>,
    object: &Map<String, Value>,
    snapshot: &Snapshot,
    fragments: &TaskFragments,
) -> serde_json::Result<()> {
    write_object(out, object, |out, key| match key {
        "frameworks" => Some(write_frameworks(out, &snapshot.frameworks, fragments)),
        "completed_frameworks" => Some(write_frameworks(
            out,
            &snapshot.completed_frameworks,
            fragments,
        )),
        _ => None,
    })
}

/// Writes `object`, the values of the keys `special` writes (it answers
/// `Some`) written by it.
fn write_object(
    out: &mut Vec<u8>,
    object: &Map<String, Value>,
    mut special: impl FnMut(&mut Vec<u8>, &str) -> Option<serde_json::Result<()>>,
) -> serde_json::Result<()> {
    out.push(b'{');
    for (i, (key, value)) in object.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key)?;
        out.push(b':');
        match special(out, key) {
            Some(written) => written?,
            None => serde_json::to_writer(&mut *out, value)?,
        }
    }
    out.push(b'}');
    Ok(())
}

fn write_frameworks(
    out: &mut Vec<u8>,
    views: &[FrameworkView],
    fragments: &TaskFragments,
) -> serde_json::Result<()> {
    write_array(out, views, |out, view| {
        let object = framework_object(view);
        write_object(out, &object, |out, key| {
            let tasks = task_list(view, key)?;
            Some(write_tasks(out, tasks, fragments))
        })
    })
}

/// A JSON array of `items`, each written by `each`.
fn write_array<T>(
    out: &mut Vec<u8>,
    items: &[T],
    mut each: impl FnMut(&mut Vec<u8>, &T) -> serde_json::Result<()>,
) -> serde_json::Result<()> {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, item)?;
    }
    out.push(b']');
    Ok(())
}

/// A task list, each task its cached fragment (or rendered now if the
/// fragments do not hold it).
fn write_tasks(
    out: &mut Vec<u8>,
    tasks: &[Arc<Task>],
    fragments: &TaskFragments,
) -> serde_json::Result<()> {
    write_array(out, tasks, |out, task| {
        match fragments.get(task) {
            Some(json) => out.extend_from_slice(json.get().as_bytes()),
            None => serde_json::to_writer(&mut *out, &legacy_json::task(task))?,
        }
        Ok(())
    })
}

/// The task list a framework object's `key` names, if it names one.
fn task_list<'a>(view: &'a FrameworkView, key: &str) -> Option<&'a [Arc<Task>]> {
    match key {
        "tasks" => Some(&view.tasks),
        "unreachable_tasks" => Some(&view.unreachable_tasks),
        "completed_tasks" => Some(&view.completed_tasks),
        _ => None,
    }
}

/// Counts per task state, for `/state-summary`.
fn task_state_counts(tasks: &[&Task]) -> Map<String, Value> {
    let mut object = Map::new();
    for state in [
        TaskState::TaskStaging,
        TaskState::TaskStarting,
        TaskState::TaskRunning,
        TaskState::TaskKilling,
        TaskState::TaskFinished,
        TaskState::TaskKilled,
        TaskState::TaskFailed,
        TaskState::TaskLost,
        TaskState::TaskError,
        TaskState::TaskUnreachable,
    ] {
        let count = tasks.iter().filter(|t| t.state == state as i32).count();
        object.insert(state.as_str_name().to_string(), json!(count));
    }
    object
}

fn all_tasks(framework: &FrameworkView) -> impl Iterator<Item = &Task> {
    framework
        .tasks
        .iter()
        .chain(framework.unreachable_tasks.iter())
        .chain(framework.completed_tasks.iter())
        .map(|task| &**task)
}

/// `/state-summary`.
fn state_summary(snapshot: &Snapshot, context: &HttpContext) -> Value {
    let mut object = Map::new();
    object.insert(
        "hostname".into(),
        json!(snapshot.master_info.hostname.clone().unwrap_or_default()),
    );
    if let Some(cluster) = &context.flags.cluster {
        object.insert("cluster".into(), json!(cluster));
    }
    let agents: Vec<Value> = snapshot
        .agents
        .iter()
        .map(|view| {
            let Value::Object(mut object) = agent(view) else {
                return Value::Null;
            };
            let agent_id = view
                .info
                .id
                .as_ref()
                .map(|i| i.value.as_str())
                .unwrap_or("");
            let tasks: Vec<&Task> = snapshot
                .frameworks
                .iter()
                .flat_map(all_tasks)
                .filter(|t| t.agent_id.value == agent_id)
                .collect();
            object.extend(task_state_counts(&tasks));
            let framework_ids: BTreeSet<&str> = tasks
                .iter()
                .map(|t| t.framework_id.value.as_str())
                .collect();
            object.insert("framework_ids".into(), json!(framework_ids));
            Value::Object(object)
        })
        .collect();
    object.insert("slaves".into(), Value::Array(agents));
    let frameworks: Vec<Value> = snapshot
        .frameworks
        .iter()
        .map(|view| {
            let mut object = framework_summary(view);
            let tasks: Vec<&Task> = all_tasks(view).collect();
            object.extend(task_state_counts(&tasks));
            let agent_ids: BTreeSet<&str> =
                tasks.iter().map(|t| t.agent_id.value.as_str()).collect();
            object.insert("slave_ids".into(), json!(agent_ids));
            Value::Object(object)
        })
        .collect();
    object.insert("frameworks".into(), Value::Array(frameworks));
    Value::Object(object)
}

/// `/frameworks[?framework_id=]`.
fn frameworks(snapshot: &Snapshot, framework_id: Option<String>) -> Value {
    let selected = |view: &&FrameworkView| {
        framework_id
            .as_ref()
            .is_none_or(|wanted| view.info.id.as_ref().is_some_and(|id| &id.value == wanted))
    };
    json!({
        "frameworks": snapshot.frameworks.iter().filter(selected).map(framework_full).collect::<Vec<_>>(),
        "completed_frameworks": snapshot.completed_frameworks.iter().filter(selected).map(framework_full).collect::<Vec<_>>(),
        "unregistered_frameworks": [],
    })
}

/// `/slaves[?slave_id=]`: the agent model plus the `*_full` arrays.
fn slaves(snapshot: &Snapshot, slave_id: Option<String>) -> Value {
    let selected = |id: Option<&str>| slave_id.as_deref().is_none_or(|wanted| Some(wanted) == id);
    let agents: Vec<Value> = snapshot
        .agents
        .iter()
        .filter(|view| selected(view.info.id.as_ref().map(|i| i.value.as_str())))
        .map(|view| {
            let Value::Object(mut object) = agent(view) else {
                return Value::Null;
            };
            let total = Resources::from(view.total.clone());
            object.insert(
                "reserved_resources_full".into(),
                legacy_json::resources_full_by_role(&total.reservations()),
            );
            object.insert(
                "unreserved_resources_full".into(),
                legacy_json::resources_full(&total.unreserved()),
            );
            object.insert(
                "used_resources_full".into(),
                legacy_json::resources_full(&view.used),
            );
            object.insert(
                "offered_resources_full".into(),
                legacy_json::resources_full(&view.offered),
            );
            Value::Object(object)
        })
        .collect();
    let recovered: Vec<Value> = snapshot
        .recovered_agents
        .iter()
        .filter(|info| selected(info.id.as_ref().map(|i| i.value.as_str())))
        .map(|info| Value::Object(agent_info(info)))
        .collect();
    json!({ "slaves": agents, "recovered_slaves": recovered })
}

/// Scalar quantities of resources allocated to `role` (or below it).
fn role_quantities<'a>(
    list: impl IntoIterator<Item = &'a Resource>,
    role: &str,
) -> Map<String, Value> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for resource in list {
        let allocated = resource
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
            .is_some_and(|r| r == role || r.starts_with(&format!("{role}/")));
        if allocated {
            if let Some(scalar) = &resource.scalar {
                *out.entry(resource.name.clone()).or_default() += scalar.value;
            }
        }
    }
    out.into_iter().map(|(k, v)| (k, json_number(v))).collect()
}

/// `/roles`: every known role (framework roles, weighted roles,
/// reservation roles) with its weight, allocations and frameworks. There is
/// no quota here, so quota objects are empty.
pub fn roles(snapshot: &Snapshot, weights: &BTreeMap<String, f64>) -> Value {
    let mut names: BTreeSet<String> = weights.keys().cloned().collect();
    for framework in &snapshot.frameworks {
        let info = &framework.info;
        if framework.multi_role {
            names.extend(info.roles.iter().cloned());
        } else {
            names.insert(info.role.clone().unwrap_or_else(|| "*".to_string()));
        }
    }
    for agent in &snapshot.agents {
        let total = Resources::from(agent.total.clone());
        names.extend(total.reservations().into_keys());
    }
    let roles: Vec<Value> = names
        .iter()
        .map(|name| {
            let used: Vec<&Resource> = snapshot
                .frameworks
                .iter()
                .flat_map(|f| f.used_resources.iter())
                .collect();
            let offered: Vec<&Resource> = snapshot
                .frameworks
                .iter()
                .flat_map(|f| f.offered_resources.iter())
                .collect();
            let allocated = role_quantities(used.iter().copied(), name);
            let offered_q = role_quantities(offered.iter().copied(), name);
            let mut both = allocated.clone();
            for (k, v) in &offered_q {
                let sum = both.get(k).and_then(Value::as_f64).unwrap_or(0.0) + v.as_f64().unwrap_or(0.0);
                both.insert(k.clone(), json_number(sum));
            }
            let mut reserved: BTreeMap<String, f64> = BTreeMap::new();
            for agent in &snapshot.agents {
                let total = Resources::from(agent.total.clone());
                for resource in total.reserved_to_role_subtree(name).iter() {
                    if let Some(scalar) = &resource.scalar {
                        *reserved.entry(resource.name.clone()).or_default() += scalar.value;
                    }
                }
            }
            let frameworks: Vec<&str> = snapshot
                .frameworks
                .iter()
                .filter(|f| {
                    if f.multi_role {
                        f.info.roles.contains(name)
                    } else {
                        f.info.role.as_deref().unwrap_or("*") == name
                    }
                })
                .filter_map(|f| f.info.id.as_ref().map(|id| id.value.as_str()))
                .collect();
            json!({
                "name": name,
                "weight": json_number(weights.get(name).copied().unwrap_or(1.0)),
                "quota": {"role": name, "guarantee": {}, "limit": {}, "consumed": allocated},
                "resources": both,
                "allocated": allocated,
                "offered": offered_q,
                "reserved": reserved.into_iter().map(|(k, v)| (k, json_number(v))).collect::<Map<_, _>>(),
                "frameworks": frameworks,
            })
        })
        .collect();
    json!({ "roles": roles })
}

/// Options of `/tasks`.
#[derive(Debug, Default, PartialEq)]
pub struct TaskQuery {
    pub limit: usize,
    pub offset: usize,
    pub ascending: bool,
    pub framework_id: Option<String>,
    pub task_id: Option<String>,
}

impl TaskQuery {
    fn from_request(request: &Request) -> TaskQuery {
        // Upstream parses both as `int` into a `size_t` and ignores text
        // that is not a number (the default applies); a negative number
        // wraps to the largest size (no limit, or past the end).
        let number = |key: &str| {
            request
                .query_param(key)
                .and_then(|v| v.trim().parse::<i32>().ok())
                .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
        };
        TaskQuery {
            limit: number("limit").unwrap_or(TASK_LIMIT),
            offset: number("offset").unwrap_or(0),
            ascending: request.query_param("order").as_deref() == Some("asc"),
            framework_id: request.query_param("framework_id"),
            task_id: request.query_param("task_id"),
        }
    }
}

/// `/tasks`: live, unreachable and completed tasks of current and completed
/// frameworks, ordered by the first status's timestamp.
pub fn tasks(snapshot: &Snapshot, query: &TaskQuery) -> Value {
    let mut tasks: Vec<&Task> = snapshot
        .frameworks
        .iter()
        .chain(snapshot.completed_frameworks.iter())
        .filter(|f| {
            query
                .framework_id
                .as_ref()
                .is_none_or(|wanted| f.info.id.as_ref().is_some_and(|id| &id.value == wanted))
        })
        .flat_map(all_tasks)
        .filter(|t| {
            query
                .task_id
                .as_ref()
                .is_none_or(|wanted| &t.task_id.value == wanted)
        })
        .collect();
    let first = |t: &Task| t.statuses.first().and_then(|s| s.timestamp);
    tasks.sort_by(|a, b| {
        let (a, b) = (first(a), first(b));
        let order = match (a, b) {
            (Some(a), Some(b)) => a.total_cmp(&b),
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        if query.ascending {
            order
        } else {
            order.reverse()
        }
    });
    let page: Vec<Value> = tasks
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .map(legacy_json::task)
        .collect();
    json!({ "tasks": page })
}

// ---- models (upstream `json(...)` overloads) ---------------------------------

/// `json(SlaveInfo)`.
fn agent_info(info: &mesos_proto::mesos::v1::AgentInfo) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert(
        "id".into(),
        json!(info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default()),
    );
    object.insert("hostname".into(), json!(info.hostname));
    object.insert("port".into(), json!(info.port.unwrap_or(5051)));
    object.insert(
        "attributes".into(),
        legacy_json::attributes(&info.attributes),
    );
    if let Some(domain) = &info.domain {
        object.insert("domain".into(), mesos_proto::json::to_value(domain));
    }
    object
}

/// `SlaveWriter`.
fn agent(view: &AgentView) -> Value {
    let mut object = agent_info(&view.info);
    object.insert("pid".into(), json!(view.pid));
    object.insert("registered_time".into(), json_number(view.registered_time));
    if let Some(time) = view.reregistered_time {
        object.insert("reregistered_time".into(), json_number(time));
    }
    let total = Resources::from(view.total.clone());
    object.insert("resources".into(), legacy_json::resources(&view.total));
    object.insert("used_resources".into(), legacy_json::resources(&view.used));
    object.insert(
        "offered_resources".into(),
        legacy_json::resources(&view.offered),
    );
    object.insert(
        "reserved_resources".into(),
        legacy_json::resources_by_role(&total.reservations()),
    );
    object.insert(
        "unreserved_resources".into(),
        legacy_json::resources(&total.unreserved()),
    );
    object.insert("active".into(), json!(view.active));
    object.insert("deactivated".into(), json!(view.deactivated));
    object.insert("version".into(), json!(view.version));
    object.insert("capabilities".into(), json!(view.capabilities));
    if let Some(drain_info) = &view.drain_info {
        object.insert("drain_info".into(), mesos_proto::json::to_value(drain_info));
        if let Some(started) = view.estimated_drain_start_time {
            object.insert(
                "estimated_drain_start_time_seconds".into(),
                json_number(started.trunc()),
            );
        }
    }
    Value::Object(object)
}

/// `json(ExecutorInfo)` plus `slave_id`.
fn executor(agent_id: &str, executor: &ExecutorInfo) -> Value {
    let mut object = legacy_json::executor_info(executor);
    object.insert("slave_id".into(), json!(agent_id));
    Value::Object(object)
}

/// `json(Offer)`.
fn offer(offer: &Offer) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(offer.id.value));
    object.insert("framework_id".into(), json!(offer.framework_id.value));
    if let Some(allocation) = &offer.allocation_info {
        object.insert(
            "allocation_info".into(),
            mesos_proto::json::to_value(allocation),
        );
    }
    object.insert("slave_id".into(), json!(offer.agent_id.value));
    object.insert("resources".into(), legacy_json::resources(&offer.resources));
    Value::Object(object)
}

/// `json(Summary<Framework>)`.
fn framework_summary(view: &FrameworkView) -> Map<String, Value> {
    let info = &view.info;
    let mut object = Map::new();
    object.insert(
        "id".into(),
        json!(info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default()),
    );
    object.insert("name".into(), json!(info.name));
    if let Some(pid) = &view.pid {
        object.insert("pid".into(), json!(pid));
    }
    object.insert(
        "used_resources".into(),
        legacy_json::resources(&view.used_resources),
    );
    object.insert(
        "offered_resources".into(),
        legacy_json::resources(&view.offered_resources),
    );
    let capabilities: Vec<&str> = info
        .capabilities
        .iter()
        .filter_map(|c| {
            c.r#type
                .and_then(|t| framework_info::capability::Type::try_from(t).ok())
        })
        .map(|t| t.as_str_name())
        .collect();
    object.insert("capabilities".into(), json!(capabilities));
    object.insert(
        "hostname".into(),
        json!(info.hostname.clone().unwrap_or_default()),
    );
    object.insert(
        "webui_url".into(),
        json!(info.webui_url.clone().unwrap_or_default()),
    );
    object.insert("active".into(), json!(view.active));
    object.insert("connected".into(), json!(view.connected));
    object.insert("recovered".into(), json!(view.recovered));
    object
}

/// `FullFrameworkWriter`.
fn framework_full(view: &FrameworkView) -> Value {
    let mut object = framework_object(view);
    for (key, value) in object.iter_mut() {
        if let Some(tasks) = task_list(view, key) {
            *value = Value::Array(tasks.iter().map(|t| legacy_json::task(t)).collect());
        }
    }
    Value::Object(object)
}

/// A framework's full object, its task lists left `null` for the caller
/// to write.
fn framework_object(view: &FrameworkView) -> Map<String, Value> {
    let info = &view.info;
    let mut object = framework_summary(view);
    object.insert("user".into(), json!(info.user));
    object.insert(
        "failover_timeout".into(),
        json_number(info.failover_timeout.unwrap_or(0.0)),
    );
    object.insert("checkpoint".into(), json!(info.checkpoint.unwrap_or(false)));
    object.insert("registered_time".into(), json_number(view.registered_time));
    object.insert(
        "unregistered_time".into(),
        json_number(view.unregistered_time),
    );
    if let Some(principal) = &info.principal {
        object.insert("principal".into(), json!(principal));
    }
    let mut everything = view.used_resources.clone();
    everything.extend(view.offered_resources.iter().cloned());
    object.insert("resources".into(), legacy_json::resources(&everything));
    if view.registered_time != view.reregistered_time {
        object.insert(
            "reregistered_time".into(),
            json_number(view.reregistered_time),
        );
    }
    if view.multi_role {
        object.insert("roles".into(), json!(info.roles));
    } else {
        object.insert(
            "role".into(),
            json!(info.role.clone().unwrap_or_else(|| "*".to_string())),
        );
    }
    for key in ["tasks", "unreachable_tasks", "completed_tasks"] {
        object.insert(key.into(), Value::Null);
    }
    object.insert(
        "offers".into(),
        Value::Array(view.offers.iter().map(offer).collect()),
    );
    object.insert(
        "executors".into(),
        Value::Array(
            view.executors
                .iter()
                .map(|(agent_id, e)| executor(agent_id, e))
                .collect(),
        ),
    );
    if let Some(l) = &info.labels {
        object.insert("labels".into(), legacy_json::labels(l));
    }
    object.insert(
        "offer_constraints".into(),
        view.offer_constraints
            .as_ref()
            .map(mesos_proto::json::to_value)
            .unwrap_or_else(|| json!({})),
    );
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::*;
    use mesos_proto::mesos::v1::{AgentId, FrameworkId, FrameworkInfo, TaskId, TaskStatus};

    fn task_at(id: &str, timestamp: f64) -> Task {
        Task {
            name: id.into(),
            task_id: TaskId { value: id.into() },
            framework_id: FrameworkId { value: "F".into() },
            agent_id: AgentId { value: "S".into() },
            state: TaskState::TaskRunning as i32,
            statuses: vec![TaskStatus {
                timestamp: Some(timestamp),
                state: TaskState::TaskRunning as i32,
                ..Default::default()
            }],
            resources: {
                let mut resources = cpus_mem(1.0, 32.0);
                resources.allocate("*");
                resources.into_vec()
            },
            ..Default::default()
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            frameworks: vec![FrameworkView {
                info: FrameworkInfo {
                    id: Some(FrameworkId { value: "F".into() }),
                    user: "u".into(),
                    name: "n".into(),
                    ..Default::default()
                },
                tasks: vec![Arc::new(task_at("a", 1.0)), Arc::new(task_at("b", 3.0))],
                completed_tasks: vec![Arc::new(task_at("c", 2.0))],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn ids(value: &Value) -> Vec<String> {
        value["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    }

    // The spliced writer must write what the whole-value render writes,
    // whether a task's fragment is cached, missing or stale.
    #[test]
    fn state_frameworks_with_cached_task_fragments_match_the_plain_render() {
        let mut snapshot = snapshot();
        snapshot.completed_frameworks = vec![snapshot.frameworks[0].clone()];
        let plain = |snapshot: &Snapshot| {
            json!({
                "frameworks": snapshot.frameworks.iter().map(framework_full).collect::<Vec<_>>(),
                "completed_frameworks": snapshot.completed_frameworks.iter().map(framework_full).collect::<Vec<_>>(),
            })
            .to_string()
        };
        let spliced = |snapshot: &Snapshot, fragments: &TaskFragments| {
            let mut object = Map::new();
            object.insert("frameworks".into(), Value::Null);
            object.insert("completed_frameworks".into(), Value::Null);
            let mut out = Vec::new();
            write_state(&mut out, &object, snapshot, fragments).unwrap();
            String::from_utf8(out).unwrap()
        };
        let mut fragments = TaskFragments::default();
        assert_eq!(spliced(&snapshot, &fragments), plain(&snapshot));
        fragments.refresh(state_tasks(&snapshot), task_fragment);
        assert_eq!(spliced(&snapshot, &fragments), plain(&snapshot));
        // A task changed as the actor changes one: a new allocation.
        let mut changed = Arc::clone(&snapshot.frameworks[0].tasks[0]);
        Arc::make_mut(&mut changed).state = TaskState::TaskKilled as i32;
        snapshot.frameworks[0].tasks[0] = changed;
        assert_eq!(spliced(&snapshot, &fragments), plain(&snapshot));
        fragments.refresh(state_tasks(&snapshot), task_fragment);
        assert_eq!(spliced(&snapshot, &fragments), plain(&snapshot));
        assert!(plain(&snapshot).contains("TASK_KILLED"));
    }

    #[test]
    fn tasks_order_limit_offset() {
        let snapshot = snapshot();
        let mut query = TaskQuery {
            limit: 100,
            ..Default::default()
        };
        assert_eq!(ids(&tasks(&snapshot, &query)), ["b", "c", "a"]);
        query.ascending = true;
        assert_eq!(ids(&tasks(&snapshot, &query)), ["a", "c", "b"]);
        query.limit = 1;
        query.offset = 1;
        assert_eq!(ids(&tasks(&snapshot, &query)), ["c"]);
        query.task_id = Some("b".into());
        query.offset = 0;
        assert_eq!(ids(&tasks(&snapshot, &query)), ["b"]);
    }

    #[test]
    fn task_model_uses_v0_names() {
        let value = legacy_json::task(&task_at("a", 1.0));
        assert_eq!(value["slave_id"], "S");
        assert_eq!(value["executor_id"], "");
        assert_eq!(value["role"], "*");
        assert_eq!(value["state"], "TASK_RUNNING");
        assert_eq!(value["resources"]["cpus"], 1.0);
        assert_eq!(value["resources"]["gpus"], 0.0);
        assert_eq!(value["statuses"][0]["timestamp"], 1.0);
    }

    #[test]
    fn roles_list_framework_roles_with_allocations() {
        let mut snapshot = snapshot();
        snapshot.frameworks[0].used_resources = snapshot.frameworks[0].tasks[0].resources.clone();
        let weights = BTreeMap::from([("db".to_string(), 2.0)]);
        let value = roles(&snapshot, &weights);
        let roles = value["roles"].as_array().unwrap();
        let names: Vec<&str> = roles.iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["*", "db"]);
        assert_eq!(roles[0]["allocated"]["cpus"], 1.0);
        assert_eq!(roles[0]["frameworks"], json!(["F"]));
        assert_eq!(roles[1]["weight"], 2.0);
        assert_eq!(roles[1]["frameworks"], json!([]));
    }

    #[test]
    fn framework_model_single_role() {
        let value = framework_full(&snapshot().frameworks[0]);
        assert_eq!(value["role"], "*");
        assert!(value.get("roles").is_none());
        assert_eq!(value["failover_timeout"], 0.0);
        assert_eq!(value["checkpoint"], false);
        assert_eq!(value["tasks"].as_array().unwrap().len(), 2);
        assert!(value.get("pid").is_none());
    }
}
