//! Read-only views of the actor's state for the HTTP endpoints: the legacy
//! `/state` JSON (hand-written like upstream's `Http::state`, not protobuf
//! JSON: flat resource objects, `slave_id` names), the `slave/*` metrics and
//! the container list behind `/monitor/statistics` and `/containers`.
//!
//! The models shared with the master (resources, attributes, labels, tasks)
//! are `mesos_proto::legacy_json`'s, over v1 types: the agent's v0 records
//! are wire twins, rendered through `convert::evolve`. Only the agent's own
//! shapes (framework, executor, queued task) are written here.

use std::collections::BTreeMap;

use mesos_proto::convert::evolve;
use mesos_proto::legacy_json;
use mesos_proto::mesos::v1;
use mesos_proto::mesos::{Task, TaskInfo, TaskState};
use mesos_proto::resources::Resources;
use serde_json::{json, Map, Value};

use super::state::{Executor, ExecutorState, Framework};
use super::{now_secs, Agent, AgentState, Query};
use crate::registration::agent_capabilities;

/// One running executor, for `/monitor/statistics` and `/containers`.
#[derive(Debug, Clone)]
pub struct ContainerEntry {
    pub framework_id: String,
    pub executor_id: String,
    pub executor_name: String,
    pub source: String,
    pub container_id: String,
    pub pid: Option<i32>,
    pub cpus_limit: f64,
    pub mem_limit_bytes: u64,
}

/// An executor's terminal tasks, acknowledged or not.
fn finished(executor: &Executor) -> impl Iterator<Item = &Task> {
    let record = &executor.durable;
    record
        .terminated_tasks
        .values()
        .chain(record.completed_tasks.iter())
}

/// Build facts for `/state`, in upstream's key order (`version`, the git
/// facts when known, `build_date`, `build_time`, `build_user`).
pub fn build_info() -> Map<String, Value> {
    let info = crate::info::build_info();
    let mut m = Map::new();
    m.insert("version".into(), json!(info.version));
    for (key, value) in [
        ("git_sha", &info.git_sha),
        ("git_branch", &info.git_branch),
        ("git_tag", &info.git_tag),
    ] {
        if let Some(v) = value {
            m.insert(key.into(), json!(v));
        }
    }
    m.insert("build_date".into(), json!(info.build_date));
    m.insert("build_time".into(), json!(info.build_time));
    m.insert("build_user".into(), json!(info.build_user));
    m
}

/// The v1 twins of v0 resources, for the shared legacy models.
fn v1_resources(resources: &[mesos_proto::mesos::Resource]) -> Vec<v1::Resource> {
    resources.iter().map(evolve).collect()
}

/// `json(Task)` of a v0 task.
fn task_model(task: &Task) -> Value {
    legacy_json::task(&evolve::<_, v1::Task>(task))
}

fn task_info_model(task: &TaskInfo) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(task.task_id.value));
    o.insert("name".into(), json!(task.name));
    o.insert("slave_id".into(), json!(task.slave_id.value));
    let resources = v1_resources(&task.resources);
    o.insert("resources".into(), legacy_json::resources(&resources));
    if let Some(role) = legacy_json::allocation_role(&resources) {
        o.insert("role".into(), json!(role));
    }
    if let Some(c) = &task.command {
        o.insert("command".into(), mesos_proto::json::to_value(c));
    }
    if let Some(e) = &task.executor {
        o.insert("executor_id".into(), json!(e.executor_id.value));
    }
    if let Some(d) = &task.discovery {
        o.insert("discovery".into(), mesos_proto::json::to_value(d));
    }
    Value::Object(o)
}

#[allow(deprecated)] // `ExecutorInfo.source` is still reported.
fn executor_model(executor: &Executor) -> Value {
    let record = &executor.durable;
    let mut o = Map::new();
    o.insert("id".into(), json!(record.id.as_str()));
    o.insert(
        "name".into(),
        json!(record.info.name.clone().unwrap_or_default()),
    );
    o.insert(
        "source".into(),
        json!(record.info.source.clone().unwrap_or_default()),
    );
    o.insert("container".into(), json!(record.container_id.as_str()));
    o.insert(
        "directory".into(),
        json!(record.directory.display().to_string()),
    );
    o.insert(
        "resources".into(),
        legacy_json::resources(&executor.allocated_resources()),
    );
    if let Some(role) = legacy_json::allocation_role(&v1_resources(&record.info.resources)) {
        o.insert("role".into(), json!(role));
    }
    if let Some(labels) = &record.info.labels {
        o.insert(
            "labels".into(),
            legacy_json::labels(&evolve::<_, v1::Labels>(labels)),
        );
    }
    if let Some(kind) = record.info.r#type {
        let name = mesos_proto::mesos::executor_info::Type::try_from(kind)
            .map(|t| t.as_str_name())
            .unwrap_or("UNKNOWN");
        o.insert("type".into(), json!(name));
    }
    o.insert(
        "tasks".into(),
        Value::Array(record.launched_tasks.values().map(task_model).collect()),
    );
    o.insert(
        "queued_tasks".into(),
        Value::Array(
            executor
                .live
                .queued_tasks
                .iter()
                .map(task_info_model)
                .collect(),
        ),
    );
    let completed = record
        .completed_tasks
        .iter()
        .chain(record.terminated_tasks.values())
        .map(task_model)
        .collect();
    o.insert("completed_tasks".into(), Value::Array(completed));
    Value::Object(o)
}

#[allow(deprecated)] // `FrameworkInfo.role` for single-role frameworks.
fn framework_model(framework: &Framework) -> Value {
    let info = &framework.info;
    let mut o = Map::new();
    o.insert("id".into(), json!(framework.id.as_str()));
    o.insert("name".into(), json!(info.name));
    o.insert("user".into(), json!(info.user));
    o.insert(
        "failover_timeout".into(),
        json!(info.failover_timeout.unwrap_or(0.0)),
    );
    o.insert("checkpoint".into(), json!(info.checkpoint.unwrap_or(false)));
    o.insert(
        "hostname".into(),
        json!(info.hostname.clone().unwrap_or_default()),
    );
    if let Some(p) = &info.principal {
        o.insert("principal".into(), json!(p));
    }
    if framework.has_capability(mesos_proto::mesos::framework_info::capability::Type::MultiRole) {
        o.insert("roles".into(), json!(info.roles));
    } else {
        o.insert(
            "role".into(),
            json!(info.role.clone().unwrap_or_else(|| "*".into())),
        );
    }
    o.insert(
        "executors".into(),
        Value::Array(framework.executors.values().map(executor_model).collect()),
    );
    o.insert(
        "completed_executors".into(),
        Value::Array(
            framework
                .completed_executors
                .iter()
                .map(executor_model)
                .collect(),
        ),
    );
    Value::Object(o)
}

impl Agent {
    pub(crate) fn query(&mut self, query: Query) {
        // Receivers may be gone (client hung up); nothing to do then.
        match query {
            Query::State(tx) => {
                let _ = tx.send(self.state_json());
            }
            Query::Metrics(tx) => {
                let _ = tx.send(self.metrics());
            }
            Query::Containers(tx) => {
                let _ = tx.send(self.containers());
            }
            Query::Recovering(tx) => {
                let _ = tx.send(self.recovering);
            }
            Query::Frameworks(tx) => {
                let _ = tx.send(self.v1_frameworks());
            }
            Query::Executors(tx) => {
                let _ = tx.send(self.v1_executors());
            }
            Query::Tasks(tx) => {
                let _ = tx.send(self.v1_tasks());
            }
            Query::V1State(tx) => {
                let _ = tx.send(self.v1_state());
            }
            Query::AgentInfo(tx) => {
                let _ = tx.send(self.v1_agent());
            }
        }
    }

    fn state_json(&self) -> Value {
        let mut o = build_info();
        o.insert("start_time".into(), json!(self.start_time));
        if let Some(id) = &self.info.id {
            o.insert("id".into(), json!(id.value));
        }
        o.insert("pid".into(), json!(self.self_pid.to_string()));
        o.insert("hostname".into(), json!(self.info.hostname));
        let capabilities: Vec<&str> = agent_capabilities()
            .iter()
            .filter_map(|c| c.r#type)
            .filter_map(|t| mesos_proto::mesos::slave_info::capability::Type::try_from(t).ok())
            .map(|t| t.as_str_name())
            .collect();
        o.insert("capabilities".into(), json!(capabilities));
        if let Some(config) = &self.drain_config {
            o.insert("drain_config".into(), mesos_proto::json::to_value(config));
            if let Some(started) = self.drain_started {
                o.insert(
                    "estimated_drain_start_time_seconds".into(),
                    json!(started.trunc()),
                );
            }
        }

        let total = &self.total_resources;
        let reserved = total.reservations();
        let unreserved = total.unreserved();
        o.insert("resources".into(), legacy_json::resources(total));
        o.insert(
            "reserved_resources".into(),
            legacy_json::resources_by_role(&reserved),
        );
        o.insert(
            "unreserved_resources".into(),
            legacy_json::resources(&unreserved),
        );
        o.insert(
            "reserved_resources_full".into(),
            legacy_json::resources_full_by_role(&reserved),
        );
        o.insert(
            "unreserved_resources_full".into(),
            legacy_json::resources_full(&unreserved),
        );
        let mut allocated = Resources::new();
        for f in self.frameworks.values() {
            allocated += f.allocated_resources();
        }
        o.insert(
            "reserved_resources_allocated".into(),
            legacy_json::resources_by_role(&allocated.reservations()),
        );
        o.insert(
            "unreserved_resources_allocated".into(),
            legacy_json::resources(&allocated.unreserved()),
        );
        o.insert("resource_providers".into(), json!([]));
        let attributes: Vec<v1::Attribute> = self.info.attributes.iter().map(evolve).collect();
        o.insert("attributes".into(), legacy_json::attributes(&attributes));
        if let Some(master) = &self.master {
            o.insert("master_hostname".into(), json!(master.ip.to_string()));
        }
        if let Some(dir) = &self.flags.log_dir {
            o.insert("log_dir".into(), json!(dir.display().to_string()));
        }
        let flags: Map<String, Value> = self
            .flags
            .to_map()
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
        o.insert("flags".into(), Value::Object(flags));
        o.insert(
            "frameworks".into(),
            Value::Array(self.frameworks.values().map(framework_model).collect()),
        );
        o.insert(
            "completed_frameworks".into(),
            Value::Array(
                self.completed_frameworks
                    .iter()
                    .map(framework_model)
                    .collect(),
            ),
        );
        Value::Object(o)
    }

    fn metrics(&self) -> BTreeMap<String, f64> {
        // Names listed in [`METRIC_TABLES`] as counters must stay counters.
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: f64| {
            m.insert(format!("slave/{k}"), v);
        };
        put("uptime_secs", now_secs() - self.start_time);
        put(
            "registered",
            if self.state == AgentState::Running {
                1.0
            } else {
                0.0
            },
        );
        put("recovery_errors", 0.0);
        put("frameworks_active", self.frameworks.len() as f64);

        let mut by_state: BTreeMap<i32, f64> = BTreeMap::new();
        let mut executors: BTreeMap<&str, f64> = BTreeMap::new();
        let mut completed: BTreeMap<i32, f64> = BTreeMap::new();

        for f in self.frameworks.values() {
            for e in f.executors.values() {
                *executors.entry(e.state().name()).or_default() += 1.0;
                *by_state.entry(TaskState::TaskStaging as i32).or_default() +=
                    e.live.queued_tasks.len() as f64;
                for t in e.durable.launched_tasks.values() {
                    *by_state.entry(t.state).or_default() += 1.0;
                }
                for t in finished(e) {
                    *completed.entry(t.state).or_default() += 1.0;
                }
            }
            for e in &f.completed_executors {
                for t in finished(e) {
                    *completed.entry(t.state).or_default() += 1.0;
                }
            }
        }
        for f in &self.completed_frameworks {
            for e in &f.completed_executors {
                for t in finished(e) {
                    *completed.entry(t.state).or_default() += 1.0;
                }
            }
        }
        let live = |s: TaskState| by_state.get(&(s as i32)).copied().unwrap_or(0.0);
        let done = |s: TaskState| completed.get(&(s as i32)).copied().unwrap_or(0.0);
        put("tasks_staging", live(TaskState::TaskStaging));
        put("tasks_starting", live(TaskState::TaskStarting));
        put("tasks_running", live(TaskState::TaskRunning));
        put("tasks_killing", live(TaskState::TaskKilling));
        put("tasks_finished", done(TaskState::TaskFinished));
        put("tasks_failed", done(TaskState::TaskFailed));
        put("tasks_killed", done(TaskState::TaskKilled));
        put("tasks_lost", done(TaskState::TaskLost));
        put("tasks_gone", done(TaskState::TaskGone));
        put(
            "tasks_gone_by_operator",
            done(TaskState::TaskGoneByOperator),
        );
        let count = |s: ExecutorState| executors.get(s.name()).copied().unwrap_or(0.0);
        put("executors_registering", count(ExecutorState::Registering));
        put("executors_running", count(ExecutorState::Running));
        put("executors_terminating", count(ExecutorState::Terminating));
        put(
            "executors_terminated",
            self.counters.executors_terminated as f64,
        );
        put("executors_preempted", 0.0);
        put(
            "valid_status_updates",
            self.counters.valid_status_updates as f64,
        );
        put(
            "invalid_status_updates",
            self.counters.invalid_status_updates as f64,
        );
        put(
            "valid_framework_messages",
            self.counters.valid_framework_messages as f64,
        );
        put(
            "invalid_framework_messages",
            self.counters.invalid_framework_messages as f64,
        );
        put(
            "container_launch_errors",
            self.counters.container_launch_errors as f64,
        );
        put(
            "executor_directory_max_allowed_age_secs",
            self.flags.gc_delay.0.as_secs_f64(),
        );

        let mut used = Resources::new();
        for f in self.frameworks.values() {
            used += f.allocated_resources();
        }
        for name in ["cpus", "gpus", "mem", "disk"] {
            let total = self.total_resources.non_revocable().scalar(name);
            let in_use = used.non_revocable().scalar(name);
            put(&format!("{name}_total"), total);
            put(&format!("{name}_used"), in_use);
            put(
                &format!("{name}_percent"),
                if total > 0.0 { in_use / total } else { 0.0 },
            );
            let rtotal = self.total_resources.revocable().scalar(name);
            let rused = used.revocable().scalar(name);
            put(&format!("{name}_revocable_total"), rtotal);
            put(&format!("{name}_revocable_used"), rused);
            put(
                &format!("{name}_revocable_percent"),
                if rtotal > 0.0 { rused / rtotal } else { 0.0 },
            );
        }
        m.insert(
            "containerizer/mesos/container_destroy_errors".into(),
            self.containerizer.destroy_errors() as f64,
        );
        let fetches = self.containerizer.fetches();
        m.insert(
            "containerizer/fetcher/task_fetches_succeeded".into(),
            fetches.succeeded() as f64,
        );
        m.insert(
            "containerizer/fetcher/task_fetches_failed".into(),
            fetches.failed() as f64,
        );
        m
    }

    #[allow(deprecated)] // `ExecutorInfo.source` is still reported.
    fn containers(&self) -> Vec<ContainerEntry> {
        let mut out = Vec::new();
        for f in self.frameworks.values() {
            for e in f.executors.values() {
                if e.state() == ExecutorState::Terminated {
                    continue;
                }
                let allocated = e.allocated_resources();
                let record = &e.durable;
                out.push(ContainerEntry {
                    framework_id: f.id.to_string(),
                    executor_id: record.id.to_string(),
                    executor_name: record.info.name.clone().unwrap_or_default(),
                    source: record.info.source.clone().unwrap_or_default(),
                    container_id: record.container_id.to_string(),
                    pid: e.live.os_pid,
                    cpus_limit: allocated.scalar("cpus"),
                    mem_limit_bytes: (allocated.scalar("mem") * 1024.0 * 1024.0) as u64,
                });
            }
        }
        out
    }
}

/// What `/metrics/prometheus` needs to know about the agent's metrics.
pub const METRIC_TABLES: libprocess::metrics::Tables = libprocess::metrics::Tables {
    counters: &[
        "slave/tasks_finished",
        "slave/tasks_failed",
        "slave/tasks_killed",
        "slave/tasks_lost",
        "slave/tasks_gone",
        "slave/tasks_gone_by_operator",
        "slave/executors_terminated",
        "slave/executors_preempted",
        "slave/valid_status_updates",
        "slave/invalid_status_updates",
        "slave/valid_framework_messages",
        "slave/invalid_framework_messages",
        "slave/container_launch_errors",
        "slave/recovery_errors",
        "containerizer/mesos/container_destroy_errors",
        "containerizer/fetcher/task_fetches_succeeded",
        "containerizer/fetcher/task_fetches_failed",
    ],
    timers: &[],
    help: &[
        (
            "slave/registered",
            "Whether this agent is registered with a master",
        ),
        ("slave/uptime_secs", "Uptime in seconds"),
        ("slave/frameworks_active", "Number of active frameworks"),
        ("slave/tasks_staging", "Number of staging tasks"),
        ("slave/tasks_starting", "Number of starting tasks"),
        ("slave/tasks_running", "Number of running tasks"),
        ("slave/tasks_killing", "Number of tasks being killed"),
        ("slave/tasks_finished", "Number of finished tasks"),
        ("slave/tasks_failed", "Number of failed tasks"),
        ("slave/tasks_killed", "Number of killed tasks"),
        ("slave/tasks_lost", "Number of lost tasks"),
        (
            "slave/executors_registering",
            "Number of executors registering",
        ),
        ("slave/executors_running", "Number of running executors"),
        (
            "slave/executors_terminating",
            "Number of terminating executors",
        ),
        (
            "slave/executors_terminated",
            "Number of terminated executors",
        ),
        ("slave/cpus_total", "Number of CPUs"),
        ("slave/cpus_used", "Number of allocated CPUs"),
        ("slave/mem_total", "Total memory in MB"),
        ("slave/mem_used", "Allocated memory in MB"),
        ("slave/disk_total", "Disk space in MB"),
        ("slave/disk_used", "Allocated disk space in MB"),
        ("system/cpus_total", "Number of CPUs available"),
        ("system/load_1min", "Load average for the past minute"),
        ("system/mem_total_bytes", "Total memory in bytes"),
        ("system/mem_free_bytes", "Free memory in bytes"),
        (
            "containerizer/mesos/container_destroy_errors",
            "Number of containers whose processes could not all be killed",
        ),
        (
            "containerizer/fetcher/task_fetches_succeeded",
            "Number of container fetches that succeeded",
        ),
        (
            "containerizer/fetcher/task_fetches_failed",
            "Number of container fetches that failed",
        ),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_model_is_flat() {
        let r = Resources::parse(
            "cpus:2;mem:1024;ports:[31000-32000,33000-33001];zones:{a,b}",
            "*",
        )
        .unwrap();
        let m = legacy_json::resources(&r);
        assert_eq!(m["cpus"], 2.0);
        assert_eq!(m["gpus"], 0.0);
        assert_eq!(m["disk"], 0.0);
        assert_eq!(m["mem"], 1024.0);
        assert_eq!(m["ports"], "[31000-32000, 33000-33001]");
        assert_eq!(m["zones"], "{a, b}");
    }

    #[test]
    fn attributes_model_uses_native_values() {
        let attrs = crate::info::parse_attributes("rack:r1;level:2;ports:[1-2]").unwrap();
        let attrs: Vec<v1::Attribute> = attrs.iter().map(evolve).collect();
        let m = legacy_json::attributes(&attrs);
        assert_eq!(m["rack"], "r1");
        assert_eq!(m["level"], 2.0);
        assert_eq!(m["ports"], "[1-2]");
    }

    #[test]
    fn formats_utc_dates() {
        use stout::build_info::format_utc;
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_455_559_228), "2016-02-15 18:00:28");
    }
}
