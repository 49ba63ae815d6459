//! The hand-written JSON of the legacy endpoints, not protobuf JSON.
//!
//! `/master/state`, `/master/tasks`, `/master/slaves`, `/slave(1)/state`
//! and friends do not serialize protobufs: upstream writes them by hand
//! (`json(JSON::ObjectWriter*, const Task&)` and its siblings in
//! `src/common/http.cpp`; checklist §3.3). This module owns the one
//! rendering of each model the master and the agent share, over the v1
//! types:
//! - [`resources`]: the flat object (`cpus`/`gpus`/`mem`/`disk` always
//!   present, ranges as `"[a-b, c-d]"`, sets as `"{a, b}"`, revocable ones
//!   under `<name>_revocable`), and [`resources_by_role`];
//! - [`resources_full`]: the `*_full` arrays (protobuf JSON in the
//!   "endpoint" format, with both `role` and `reservations`), and
//!   [`resources_full_by_role`];
//! - [`attributes`], [`labels`], [`task_status`], [`task`],
//!   [`command_info`], [`executor_info`];
//! - [`number`]: doubles as upstream writes them (`2.0`, never `2`).
//!
//! The agent keeps v0 types; v0 and v1 are wire twins, so it renders through
//! `convert::evolve` rather than a second copy of these models.
//!
//! It never decides *what* is shown (which frameworks, tasks or agents; the
//! endpoints do) and never writes endpoint-specific fields (`slave_id` of an
//! executor, the agent's `directory`, ...): callers add those to the objects
//! returned here.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::mesos::v1::value::{Ranges, Set, Type as ValueType};
use crate::mesos::v1::{
    executor_info, Attribute, CommandInfo, ExecutorInfo, Labels, Resource, Task, TaskState,
    TaskStatus,
};
use crate::resources::{coalesce_ranges, is_revocable, to_endpoint_format, Resources};

/// The scalars every resources object carries, 0 when absent.
pub const DEFAULT_SCALARS: [&str; 4] = ["cpus", "gpus", "mem", "disk"];

/// A double as a JSON number that stays a float (`2.0`, not `2`), as
/// upstream's writer prints it. `-0.0` becomes `0.0` (sums of nothing come
/// out negative-zero; nobody wants to read that); NaN and infinities, which
/// a JSON value cannot hold, become `null`.
pub fn number(value: f64) -> Value {
    let value = if value == 0.0 { 0.0 } else { value };
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// stout's `stringify(Value::Ranges)`: `[a-b, c-d]`, in the order given
/// (attributes are printed as the agent declared them; [`resources`]
/// coalesces before printing).
pub fn format_ranges(ranges: &Ranges) -> String {
    let spans: Vec<(u64, u64)> = ranges.range.iter().map(|r| (r.begin, r.end)).collect();
    crate::resources::format_ranges(&spans)
}

/// stout's `stringify(Value::Set)`: `{a, b}`.
pub fn format_set(set: &Set) -> String {
    format!("{{{}}}", set.item.join(", "))
}

/// The name of a task state (`TASK_RUNNING`); `TASK_UNKNOWN` for a number
/// this build does not know.
pub fn task_state_name(state: i32) -> &'static str {
    TaskState::try_from(state).map_or("TASK_UNKNOWN", |s| s.as_str_name())
}

/// The role a task's or executor's resources are allocated to: the first
/// resource's `allocation_info.role` (they never mix roles, MESOS-6636).
pub fn allocation_role(resources: &[Resource]) -> Option<&str> {
    resources
        .first()
        .and_then(|r| r.allocation_info.as_ref())
        .and_then(|info| info.role.as_deref())
}

/// `json(Resources)`: the flat legacy resources object.
///
/// Scalars are summed as plain doubles (upstream's `scalars[name] +=`),
/// ranges are coalesced, set items are deduplicated in first-seen order.
/// A revocable resource is listed under `<name>_revocable`. Text resources
/// (invalid anyway) are skipped, as upstream does.
pub fn resources<'a>(list: impl IntoIterator<Item = &'a Resource>) -> Value {
    let mut scalars: BTreeMap<String, f64> = DEFAULT_SCALARS
        .iter()
        .map(|name| (name.to_string(), 0.0))
        .collect();
    let mut ranges: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    let mut sets: BTreeMap<String, (Vec<String>, std::collections::HashSet<String>)> =
        BTreeMap::new();
    for resource in list {
        let name = if is_revocable(resource) {
            format!("{}_revocable", resource.name)
        } else {
            resource.name.clone()
        };
        match ValueType::try_from(resource.r#type) {
            Ok(ValueType::Scalar) => {
                *scalars.entry(name).or_default() += resource.scalar.map_or(0.0, |s| s.value);
            }
            Ok(ValueType::Ranges) => {
                let spans = ranges.entry(name).or_default();
                if let Some(r) = &resource.ranges {
                    spans.extend(r.range.iter().map(|r| (r.begin, r.end)));
                }
            }
            Ok(ValueType::Set) => {
                let (items, seen) = sets.entry(name).or_default();
                for item in resource.set.iter().flat_map(|s| s.item.iter()) {
                    // A hash set keeps this linear in the number of items.
                    if seen.insert(item.clone()) {
                        items.push(item.clone());
                    }
                }
            }
            Ok(ValueType::Text) | Err(_) => {}
        }
    }
    let mut object = Map::new();
    for (name, value) in scalars {
        object.insert(name, number(value));
    }
    for (name, spans) in ranges {
        let text = crate::resources::format_ranges(&coalesce_ranges(spans));
        object.insert(name, Value::String(text));
    }
    for (name, (item, _)) in sets {
        object.insert(name, Value::String(format_set(&Set { item })));
    }
    Value::Object(object)
}

/// Role → [`resources`] object (`reserved_resources` and the like).
pub fn resources_by_role(by_role: &BTreeMap<String, Resources>) -> Value {
    Value::Object(
        by_role
            .iter()
            .map(|(role, list)| (role.clone(), resources(list)))
            .collect(),
    )
}

/// A `*_full` array: protobuf JSON of each resource in the "endpoint"
/// format (both `role` and `reservations`).
pub fn resources_full<'a>(list: impl IntoIterator<Item = &'a Resource>) -> Value {
    let mut list: Vec<Resource> = list.into_iter().cloned().collect();
    to_endpoint_format(&mut list);
    Value::Array(list.iter().map(crate::json::to_value).collect())
}

/// Role → [`resources_full`] array (`reserved_resources_full`).
pub fn resources_full_by_role(by_role: &BTreeMap<String, Resources>) -> Value {
    Value::Object(
        by_role
            .iter()
            .map(|(role, list)| (role.clone(), resources_full(list)))
            .collect(),
    )
}

/// `json(Attributes)`: name → number (scalar), `"[a-b, c-d]"` (ranges, as
/// declared), `"{x, y}"` (set) or text. Attributes of an unknown type are
/// left out (upstream aborts on them).
pub fn attributes(list: &[Attribute]) -> Value {
    let mut object = Map::new();
    for attribute in list {
        let value = match ValueType::try_from(attribute.r#type) {
            Ok(ValueType::Scalar) => number(attribute.scalar.map_or(0.0, |s| s.value)),
            Ok(ValueType::Ranges) => Value::String(
                attribute
                    .ranges
                    .as_ref()
                    .map(format_ranges)
                    .unwrap_or_else(|| format_ranges(&Ranges::default())),
            ),
            Ok(ValueType::Set) => Value::String(
                attribute
                    .set
                    .as_ref()
                    .map(format_set)
                    .unwrap_or_else(|| format_set(&Set::default())),
            ),
            Ok(ValueType::Text) => Value::String(
                attribute
                    .text
                    .as_ref()
                    .map(|t| t.value.clone())
                    .unwrap_or_default(),
            ),
            Err(_) => continue,
        };
        object.insert(attribute.name.clone(), value);
    }
    Value::Object(object)
}

/// `json(Labels)`: the array of labels (protobuf JSON of each `Label`), not
/// the `{"labels": [...]}` object protobuf JSON would give.
pub fn labels(labels: &Labels) -> Value {
    Value::Array(labels.labels.iter().map(crate::json::to_value).collect())
}

/// `json(TaskStatus)`: `{state, timestamp, labels?, container_status?,
/// healthy?}`.
pub fn task_status(status: &TaskStatus) -> Value {
    let mut object = Map::new();
    object.insert("state".into(), Value::from(task_state_name(status.state)));
    object.insert("timestamp".into(), number(status.timestamp.unwrap_or(0.0)));
    if let Some(l) = &status.labels {
        object.insert("labels".into(), labels(l));
    }
    if let Some(container) = &status.container_status {
        object.insert("container_status".into(), crate::json::to_value(container));
    }
    if let Some(healthy) = status.healthy {
        object.insert("healthy".into(), Value::Bool(healthy));
    }
    Value::Object(object)
}

/// `json(Task)`, with v0 names (`slave_id`): `executor_id` is `""` for
/// command tasks; `role` comes from the resources' allocation info;
/// `limits` only when set.
pub fn task(task: &Task) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), Value::from(task.task_id.value.as_str()));
    object.insert("name".into(), Value::from(task.name.as_str()));
    object.insert(
        "framework_id".into(),
        Value::from(task.framework_id.value.as_str()),
    );
    object.insert(
        "executor_id".into(),
        Value::from(task.executor_id.as_ref().map_or("", |e| e.value.as_str())),
    );
    object.insert("slave_id".into(), Value::from(task.agent_id.value.as_str()));
    object.insert("state".into(), Value::from(task_state_name(task.state)));
    object.insert("resources".into(), resources(&task.resources));
    if !task.limits.is_empty() {
        let limits: Map<String, Value> = task
            .limits
            .iter()
            .map(|(name, value)| (name.clone(), number(value.value)))
            .collect();
        object.insert("limits".into(), Value::Object(limits));
    }
    if let Some(role) = allocation_role(&task.resources) {
        object.insert("role".into(), Value::from(role));
    }
    object.insert(
        "statuses".into(),
        Value::Array(task.statuses.iter().map(task_status).collect()),
    );
    if let Some(user) = &task.user {
        object.insert("user".into(), Value::from(user.as_str()));
    }
    if let Some(l) = &task.labels {
        object.insert("labels".into(), labels(l));
    }
    if let Some(discovery) = &task.discovery {
        object.insert("discovery".into(), crate::json::to_value(&**discovery));
    }
    if let Some(container) = &task.container {
        object.insert("container".into(), crate::json::to_value(&**container));
    }
    if let Some(check) = &task.health_check {
        object.insert("health_check".into(), crate::json::to_value(&**check));
    }
    Value::Object(object)
}

/// `json(CommandInfo)`: `{shell?, value?, argv, environment?, uris}` with
/// `argv` for the arguments and each URI as `{value, executable}`.
pub fn command_info(command: &CommandInfo) -> Value {
    let mut object = Map::new();
    if let Some(shell) = command.shell {
        object.insert("shell".into(), Value::Bool(shell));
    }
    if let Some(value) = &command.value {
        object.insert("value".into(), Value::from(value.as_str()));
    }
    object.insert(
        "argv".into(),
        Value::Array(
            command
                .arguments
                .iter()
                .map(|a| Value::from(a.as_str()))
                .collect(),
        ),
    );
    if let Some(environment) = &command.environment {
        object.insert("environment".into(), crate::json::to_value(environment));
    }
    let uris: Vec<Value> = command
        .uris
        .iter()
        .map(|uri| {
            let mut entry = Map::new();
            entry.insert("value".into(), Value::from(uri.value.as_str()));
            entry.insert(
                "executable".into(),
                Value::Bool(uri.executable.unwrap_or(false)),
            );
            Value::Object(entry)
        })
        .collect();
    object.insert("uris".into(), Value::Array(uris));
    Value::Object(object)
}

/// `json(ExecutorInfo)`: `{executor_id, name, framework_id, command,
/// resources, role?, labels?, type?}`. An object, so that the master can add
/// the `slave_id` its `executors[]` carry.
pub fn executor_info(executor: &ExecutorInfo) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert(
        "executor_id".into(),
        Value::from(executor.executor_id.value.as_str()),
    );
    object.insert(
        "name".into(),
        Value::from(executor.name.as_deref().unwrap_or("")),
    );
    object.insert(
        "framework_id".into(),
        Value::from(
            executor
                .framework_id
                .as_ref()
                .map_or("", |f| f.value.as_str()),
        ),
    );
    object.insert(
        "command".into(),
        command_info(executor.command.as_ref().unwrap_or(&CommandInfo::default())),
    );
    object.insert("resources".into(), resources(&executor.resources));
    if let Some(role) = allocation_role(&executor.resources) {
        object.insert("role".into(), Value::from(role));
    }
    if let Some(l) = &executor.labels {
        object.insert("labels".into(), labels(l));
    }
    if let Some(kind) = executor
        .r#type
        .and_then(|t| executor_info::Type::try_from(t).ok())
    {
        object.insert("type".into(), Value::from(kind.as_str_name()));
    }
    object
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::mesos::v1::command_info::Uri;
    use crate::mesos::v1::resource::{AllocationInfo, ReservationInfo, RevocableInfo};
    use crate::mesos::v1::value::{Range, Scalar, Text};
    use crate::mesos::v1::{
        environment, AgentId, Environment, ExecutorId, FrameworkId, Label, TaskId,
    };

    fn scalar(name: &str, value: f64) -> Resource {
        Resource {
            name: name.into(),
            r#type: ValueType::Scalar as i32,
            scalar: Some(Scalar { value }),
            ..Default::default()
        }
    }

    fn ranges(name: &str, spans: &[(u64, u64)]) -> Resource {
        Resource {
            name: name.into(),
            r#type: ValueType::Ranges as i32,
            ranges: Some(Box::new(Ranges {
                range: spans
                    .iter()
                    .map(|&(begin, end)| Range { begin, end })
                    .collect(),
            })),
            ..Default::default()
        }
    }

    fn set(name: &str, items: &[&str]) -> Resource {
        Resource {
            name: name.into(),
            r#type: ValueType::Set as i32,
            set: Some(Box::new(Set {
                item: items.iter().map(|i| i.to_string()).collect(),
            })),
            ..Default::default()
        }
    }

    fn allocated(mut resource: Resource, role: &str) -> Resource {
        resource.allocation_info = Some(AllocationInfo {
            role: Some(role.into()),
        });
        resource
    }

    fn reserved(mut resource: Resource, role: &str) -> Resource {
        resource.reservations.push(ReservationInfo {
            r#type: Some(crate::mesos::v1::resource::reservation_info::Type::Static as i32),
            role: Some(role.into()),
            ..Default::default()
        });
        resource
    }

    #[test]
    fn numbers_stay_floats() {
        assert_eq!(number(2.0).to_string(), "2.0");
        assert_eq!(number(0.5).to_string(), "0.5");
        assert_eq!(
            number(1_795_305_633.2979987).to_string(),
            "1795305633.2979987"
        );
        assert_eq!(number(-0.0).to_string(), "0.0");
        assert_eq!(number(f64::NAN), Value::Null);
        assert_eq!(number(f64::INFINITY), Value::Null);
    }

    #[test]
    fn empty_resources_have_zero_defaults() {
        assert_eq!(
            resources(&[]).to_string(),
            r#"{"cpus":0.0,"disk":0.0,"gpus":0.0,"mem":0.0}"#
        );
    }

    #[test]
    fn resources_are_flat_with_ranges_and_sets_as_strings() {
        let list = vec![
            scalar("cpus", 2.0),
            scalar("mem", 1024.0),
            ranges("ports", &[(31000, 32000)]),
            set("zones", &["a", "b"]),
        ];
        assert_eq!(
            resources(&list).to_string(),
            r#"{"cpus":2.0,"disk":0.0,"gpus":0.0,"mem":1024.0,"ports":"[31000-32000]","zones":"{a, b}"}"#
        );
    }

    #[test]
    fn resources_sum_across_reservations_and_merge_values() {
        let list = vec![
            scalar("cpus", 1.5),
            reserved(scalar("cpus", 1.0), "r1"),
            ranges("ports", &[(33000, 33001), (31000, 31005)]),
            reserved(ranges("ports", &[(31006, 31010)]), "r1"),
            set("zones", &["b", "a"]),
            set("zones", &["a", "c"]),
        ];
        assert_eq!(
            resources(&list).to_string(),
            r#"{"cpus":2.5,"disk":0.0,"gpus":0.0,"mem":0.0,"ports":"[31000-31010, 33000-33001]","zones":"{b, a, c}"}"#
        );
    }

    #[test]
    fn revocable_resources_get_a_suffix() {
        let mut revocable = scalar("cpus", 0.5);
        revocable.revocable = Some(RevocableInfo {});
        let mut revocable_ports = ranges("ports", &[(1, 2)]);
        revocable_ports.revocable = Some(RevocableInfo {});
        let list = vec![scalar("cpus", 1.0), revocable, revocable_ports];
        assert_eq!(
            resources(&list).to_string(),
            r#"{"cpus":1.0,"cpus_revocable":0.5,"disk":0.0,"gpus":0.0,"mem":0.0,"ports_revocable":"[1-2]"}"#
        );
    }

    #[test]
    fn resources_take_a_resources_collection() {
        let collection = Resources::parse("cpus:2;mem:64;ports:[1-2,3-5]", "*").unwrap();
        assert_eq!(
            resources(&collection).to_string(),
            r#"{"cpus":2.0,"disk":0.0,"gpus":0.0,"mem":64.0,"ports":"[1-5]"}"#
        );
    }

    #[test]
    fn reserved_resources_by_role() {
        let total = Resources::parse("cpus:4;cpus(r1):1;mem(r2):32", "*").unwrap();
        assert_eq!(
            resources_by_role(&total.reservations()).to_string(),
            r#"{"r1":{"cpus":1.0,"disk":0.0,"gpus":0.0,"mem":0.0},"r2":{"cpus":0.0,"disk":0.0,"gpus":0.0,"mem":32.0}}"#
        );
        let full = resources_full_by_role(&total.reservations());
        assert_eq!(
            full["r1"].to_string(),
            r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1.0},"role":"r1","reservations":[{"type":"STATIC","role":"r1"}]}]"#
        );
    }

    #[test]
    fn full_resources_are_in_endpoint_format() {
        let list = vec![scalar("cpus", 1.0), reserved(scalar("mem", 8.0), "r")];
        assert_eq!(
            resources_full(&list).to_string(),
            r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1.0},"role":"*"},{"name":"mem","type":"SCALAR","scalar":{"value":8.0},"role":"r","reservations":[{"type":"STATIC","role":"r"}]}]"#
        );
    }

    #[test]
    fn attributes_use_native_values() {
        let attribute = |name: &str, kind: ValueType| Attribute {
            name: name.into(),
            r#type: kind as i32,
            ..Default::default()
        };
        let list = vec![
            Attribute {
                text: Some(Text { value: "r1".into() }),
                ..attribute("rack", ValueType::Text)
            },
            Attribute {
                scalar: Some(Scalar { value: 2.0 }),
                ..attribute("level", ValueType::Scalar)
            },
            Attribute {
                // As declared: attributes are not coalesced.
                ranges: ranges("", &[(5, 6), (1, 3)]).ranges.map(|r| *r),
                ..attribute("span", ValueType::Ranges)
            },
            Attribute {
                set: set("", &["linux", "bsd"]).set.map(|s| *s),
                ..attribute("os", ValueType::Set)
            },
            Attribute {
                r#type: 99,
                ..attribute("odd", ValueType::Text)
            },
        ];
        assert_eq!(
            attributes(&list).to_string(),
            r#"{"rack":"r1","level":2.0,"span":"[5-6, 1-3]","os":"{linux, bsd}"}"#
        );
    }

    #[test]
    fn labels_are_an_array() {
        let l = Labels {
            labels: vec![
                Label {
                    key: "k".into(),
                    value: Some("v".into()),
                },
                Label {
                    key: "only".into(),
                    value: None,
                },
            ],
        };
        assert_eq!(
            labels(&l).to_string(),
            r#"[{"key":"k","value":"v"},{"key":"only"}]"#
        );
    }

    fn running_task() -> Task {
        Task {
            name: "web".into(),
            task_id: TaskId { value: "t1".into() },
            framework_id: FrameworkId { value: "F".into() },
            agent_id: AgentId { value: "S".into() },
            state: TaskState::TaskRunning as i32,
            resources: vec![
                allocated(scalar("cpus", 0.5), "dev"),
                allocated(ranges("ports", &[(31001, 31001)]), "dev"),
            ],
            statuses: vec![
                TaskStatus {
                    task_id: TaskId { value: "t1".into() },
                    state: TaskState::TaskStarting as i32,
                    timestamp: Some(1.5),
                    ..Default::default()
                },
                TaskStatus {
                    task_id: TaskId { value: "t1".into() },
                    state: TaskState::TaskRunning as i32,
                    timestamp: Some(2.0),
                    healthy: Some(true),
                    labels: Some(Labels {
                        labels: vec![Label {
                            key: "a".into(),
                            value: Some("b".into()),
                        }],
                    }),
                    ..Default::default()
                },
            ],
            user: Some("root".into()),
            ..Default::default()
        }
    }

    #[test]
    fn task_with_statuses_and_role() {
        assert_eq!(
            task(&running_task()).to_string(),
            r#"{"id":"t1","name":"web","framework_id":"F","executor_id":"","slave_id":"S","state":"TASK_RUNNING","resources":{"cpus":0.5,"disk":0.0,"gpus":0.0,"mem":0.0,"ports":"[31001-31001]"},"role":"dev","statuses":[{"state":"TASK_STARTING","timestamp":1.5},{"state":"TASK_RUNNING","timestamp":2.0,"labels":[{"key":"a","value":"b"}],"healthy":true}],"user":"root"}"#
        );
    }

    #[test]
    fn task_optional_parts() {
        let mut t = running_task();
        t.resources.clear();
        t.statuses.clear();
        t.user = None;
        t.state = 1234;
        t.executor_id = Some(ExecutorId { value: "E".into() });
        t.limits.insert(
            "cpus".into(),
            crate::mesos::v1::value::Scalar { value: 2.0 },
        );
        let value = task(&t);
        assert_eq!(value["executor_id"], "E");
        assert_eq!(value["state"], "TASK_UNKNOWN");
        assert_eq!(value["limits"].to_string(), r#"{"cpus":2.0}"#);
        assert_eq!(value["statuses"], Value::Array(vec![]));
        assert!(value.get("role").is_none());
        assert!(value.get("user").is_none());
        assert!(value.get("labels").is_none());
        assert!(value.get("health_check").is_none());
    }

    #[test]
    fn executor_info_as_the_master_renders_it() {
        let executor = ExecutorInfo {
            executor_id: ExecutorId { value: "E".into() },
            framework_id: Some(FrameworkId { value: "F".into() }),
            command: Some(CommandInfo {
                value: Some("./run".into()),
                arguments: vec!["run".into(), "-v".into()],
                environment: Some(Environment {
                    variables: vec![environment::Variable {
                        name: "A".into(),
                        value: Some("b".into()),
                        ..Default::default()
                    }],
                }),
                uris: vec![Uri {
                    value: "http://x/y.tgz".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            resources: vec![allocated(scalar("cpus", 0.1), "dev")],
            r#type: Some(executor_info::Type::Custom as i32),
            ..Default::default()
        };
        assert_eq!(
            Value::Object(executor_info(&executor)).to_string(),
            r#"{"executor_id":"E","name":"","framework_id":"F","command":{"value":"./run","argv":["run","-v"],"environment":{"variables":[{"name":"A","type":"VALUE","value":"b"}]},"uris":[{"value":"http://x/y.tgz","executable":false}]},"resources":{"cpus":0.1,"disk":0.0,"gpus":0.0,"mem":0.0},"role":"dev","type":"CUSTOM"}"#
        );
    }

    #[test]
    fn command_info_without_command() {
        assert_eq!(
            command_info(&CommandInfo::default()).to_string(),
            r#"{"argv":[],"uris":[]}"#
        );
        let shell = CommandInfo {
            shell: Some(true),
            value: Some("echo".into()),
            ..Default::default()
        };
        assert_eq!(
            command_info(&shell).to_string(),
            r#"{"shell":true,"value":"echo","argv":[],"uris":[]}"#
        );
    }

    #[test]
    fn v0_twins_render_through_evolve() {
        let v0 = crate::mesos::Task {
            name: "n".into(),
            task_id: crate::mesos::TaskId { value: "t".into() },
            framework_id: crate::mesos::FrameworkId { value: "F".into() },
            slave_id: crate::mesos::SlaveId { value: "S".into() },
            state: crate::mesos::TaskState::TaskFinished as i32,
            ..Default::default()
        };
        let value = task(&crate::convert::evolve::<_, Task>(&v0));
        assert_eq!(value["slave_id"], "S");
        assert_eq!(value["state"], "TASK_FINISHED");
    }
}
