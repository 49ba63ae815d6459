//! The agent's read-only endpoints: `/state` (`/slave(1)/state`, and the old
//! `/state.json`), `/flags`, `/health`, `/monitor/statistics`,
//! `/containers`, `/metrics/snapshot`, `/metrics/prometheus`, `/version`
//! and `/logging/toggle`. All but `/health`, `/version` and
//! `/logging/toggle` ask the actor; `?jsonp=` is honoured like upstream.
//! Objects upstream builds as `JSON::Object` (a sorted map: `/version`,
//! `/containers`, `/monitor/statistics`, protobuf-converted statistics)
//! keep sorted keys; the `/state` writer's order is the actor's.

use std::collections::BTreeMap;
use std::sync::Arc;

use libprocess::{handler, Body, Request, RequestExt, Response, ServerBuilder};
use serde_json::{json, Map, Value};

use super::{error, json, reply, HttpContext};
use mesos_proto::mesos::v1;

use crate::agent::views::{ContainerEntry, METRIC_TABLES};
use crate::agent::{now_secs, Query, AGENT_ID};

fn unavailable() -> Response {
    error(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "Agent is shutting down",
    )
}

pub async fn state(ctx: Arc<HttpContext>, request: Request) -> Response {
    match ctx.agent.query(Query::State).await {
        Some(v) => json(
            &viewable_state(&ctx, &request, v),
            request.query_param("jsonp"),
        ),
        None => unavailable(),
    }
}

/// `/state` without what the principal may not see: frameworks
/// (`view_frameworks`), executors (`view_executors`) and tasks
/// (`view_tasks`) judged by their user (a task's or executor's own user,
/// else its framework's), and the flags (`view_flags`).
pub fn viewable_state(ctx: &HttpContext, request: &Request, mut state: Value) -> Value {
    use mesos_authorizer::{Action, Object};
    let authorizer = &ctx.authorizer;
    let who = super::principal(request);
    let Some(object) = state.as_object_mut() else {
        return state;
    };
    if !authorizer.authorized(Action::ViewFlags, who, Object::Any) {
        object.remove("flags");
    }
    if ![
        Action::ViewFramework,
        Action::ViewExecutor,
        Action::ViewTask,
    ]
    .iter()
    .any(|a| authorizer.restricts(*a))
    {
        return state;
    }
    let user_of = |value: &Value, fallback: &str| -> String {
        value
            .get("user")
            .and_then(Value::as_str)
            .unwrap_or(fallback)
            .to_string()
    };
    let approved =
        |action: Action, user: &str| authorizer.authorized(action, who, Object::Value(user));
    for key in ["frameworks", "completed_frameworks"] {
        let Some(Value::Array(frameworks)) = object.get_mut(key) else {
            continue;
        };
        frameworks.retain(|f| approved(Action::ViewFramework, &user_of(f, "")));
        for framework in frameworks.iter_mut() {
            let framework_user = user_of(framework, "");
            for key in ["executors", "completed_executors"] {
                let Some(Value::Array(executors)) = framework.get_mut(key) else {
                    continue;
                };
                executors.retain(|e| approved(Action::ViewExecutor, &user_of(e, &framework_user)));
                for executor in executors.iter_mut() {
                    let executor_user = user_of(executor, &framework_user);
                    for key in ["tasks", "queued_tasks", "completed_tasks"] {
                        if let Some(Value::Array(tasks)) = executor.get_mut(key) {
                            tasks.retain(|t| {
                                approved(Action::ViewTask, &user_of(t, &executor_user))
                            });
                        }
                    }
                }
            }
        }
    }
    state
}

pub async fn flags(ctx: Arc<HttpContext>, request: Request) -> Response {
    use mesos_authorizer::{Action, Object};
    if let Some(refused) = ctx.forbidden(&request, Action::ViewFlags, Object::Any) {
        return refused;
    }
    let flags: Map<String, Value> = ctx
        .flags
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json(&json!({ "flags": flags }), request.query_param("jsonp"))
}

pub async fn health(_request: Request) -> Response {
    reply(http::StatusCode::OK, Body::empty(), None)
}

/// Sorts every object's keys, as stout's `JSON::Object` (a `std::map`)
/// writes them.
pub fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

pub async fn version(request: Request) -> Response {
    let info = crate::info::build_info();
    let mut o = Map::new();
    o.insert("version".into(), json!(info.version));
    o.insert("build_date".into(), json!(info.build_date));
    o.insert("build_time".into(), json!(info.build_time));
    o.insert("build_user".into(), json!(info.build_user));
    for (key, value) in [
        ("git_sha", info.git_sha),
        ("git_branch", info.git_branch),
        ("git_tag", info.git_tag),
    ] {
        if let Some(v) = value {
            o.insert(key.into(), json!(v));
        }
    }
    json(&sorted(Value::Object(o)), request.query_param("jsonp"))
}

/// `/logging/toggle?level=N&duration=D` (upstream `Logging::toggle`): no
/// parameters reports the level; otherwise both are needed, the level may
/// not drop below the original, and it reverts after the duration.
pub async fn toggle(ctx: Arc<HttpContext>, request: Request) -> Response {
    let bad = |m: String| error(http::StatusCode::BAD_REQUEST, m);
    let level = request.query_param("level");
    let duration = request.query_param("duration");
    let (level, duration) = match (level, duration) {
        (None, None) => {
            return reply(
                http::StatusCode::OK,
                format!("{}\n", ctx.logging.level()),
                Some("text/plain; charset=utf-8"),
            )
        }
        (Some(_), None) => return bad("Expecting 'duration=value' in query.\n".into()),
        (None, Some(_)) => return bad("Expecting 'level=value' in query.\n".into()),
        (Some(l), Some(d)) => (l, d),
    };
    let level: i64 = match level.trim().parse() {
        Ok(v) => v,
        Err(_) => return bad(format!("Failed to convert '{level}' to number.\n")),
    };
    if level < 0 || level > u32::MAX as i64 {
        return bad(format!("Invalid level '{level}'.\n"));
    }
    let duration = match stout::duration::Duration::parse(&duration) {
        Ok(d) => d.0,
        Err(e) => return bad(format!("{e}.\n")),
    };
    ctx.logging.set(level as u32, duration);
    reply(http::StatusCode::OK, Body::empty(), None)
}

/// The `slave/*` and `system/*` metrics, or the error answer: a bad
/// `timeout` is 400 (upstream parses it as a duration); a good one bounds
/// the wait for the actor.
async fn current_metrics(
    ctx: &HttpContext,
    request: &Request,
) -> Result<BTreeMap<String, f64>, Response> {
    let timeout = match request.query_param("timeout") {
        None => None,
        Some(text) => match stout::Duration::parse(&text) {
            Ok(timeout) => Some(timeout.0),
            Err(e) => {
                return Err(error(
                    http::StatusCode::BAD_REQUEST,
                    format!("Invalid timeout '{text}': {e}"),
                ))
            }
        },
    };
    let query = ctx.agent.query(Query::Metrics);
    let answer = match timeout {
        None => query.await,
        // Upstream leaves out the metrics that did not answer in time.
        Some(timeout) => tokio::time::timeout(timeout, query)
            .await
            .unwrap_or_else(|_| Some(BTreeMap::new())),
    };
    let Some(mut metrics) = answer else {
        return Err(unavailable());
    };
    metrics.extend(
        tokio::task::spawn_blocking(system_metrics)
            .await
            .unwrap_or_default(),
    );
    Ok(metrics)
}

pub async fn metrics(ctx: Arc<HttpContext>, request: Request) -> Response {
    let metrics = match current_metrics(&ctx, &request).await {
        Ok(metrics) => metrics,
        Err(response) => return response,
    };
    let object: Map<String, Value> = metrics.into_iter().map(|(k, v)| (k, json!(v))).collect();
    json(&Value::Object(object), request.query_param("jsonp"))
}

/// `/metrics/prometheus`: the same values in the Prometheus text format.
pub async fn prometheus(ctx: Arc<HttpContext>, request: Request) -> Response {
    match current_metrics(&ctx, &request).await {
        Ok(metrics) => reply(
            http::StatusCode::OK,
            libprocess::metrics::render_prometheus(&metrics, &METRIC_TABLES),
            Some(libprocess::metrics::PROMETHEUS_CONTENT_TYPE),
        ),
        Err(response) => response,
    }
}

/// The containers the principal may view (`view_containers`, judged by
/// the framework's user; a container of an unknown framework is hidden).
async fn visible_containers(
    ctx: &HttpContext,
    request: &Request,
    mut entries: Vec<crate::agent::views::ContainerEntry>,
) -> Option<Vec<crate::agent::views::ContainerEntry>> {
    use mesos_authorizer::{Action, Object};
    if !ctx.authorizer.restricts(Action::ViewContainer) {
        return Some(entries);
    }
    let frameworks = ctx.agent.query(Query::Frameworks).await?;
    let who = super::principal(request);
    entries.retain(|entry| {
        frameworks
            .frameworks
            .iter()
            .chain(&frameworks.completed_frameworks)
            .find(|f| {
                f.framework_info
                    .id
                    .as_ref()
                    .is_some_and(|id| id.value == entry.framework_id)
            })
            .is_some_and(|f| {
                ctx.authorizer.authorized(
                    Action::ViewContainer,
                    who,
                    Object::Value(&f.framework_info.user),
                )
            })
    });
    Some(entries)
}

pub async fn statistics(ctx: Arc<HttpContext>, request: Request) -> Response {
    let Some(entries) = ctx.agent.query(Query::Containers).await else {
        return unavailable();
    };
    let Some(entries) = visible_containers(&ctx, &request, entries).await else {
        return unavailable();
    };
    let items = tokio::task::spawn_blocking(move || {
        entries
            .iter()
            .map(|e| {
                sorted(json!({
                    "framework_id": e.framework_id,
                    "executor_id": e.executor_id,
                    "executor_name": e.executor_name,
                    "source": e.source,
                    "statistics": mesos_proto::json::to_value(&usage(e)),
                }))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    json(&Value::Array(items), request.query_param("jsonp"))
}

pub async fn containers(ctx: Arc<HttpContext>, request: Request) -> Response {
    let Some(entries) = ctx.agent.query(Query::Containers).await else {
        return unavailable();
    };
    let Some(entries) = visible_containers(&ctx, &request, entries).await else {
        return unavailable();
    };
    let items = tokio::task::spawn_blocking(move || {
        entries
            .iter()
            .map(|e| {
                sorted(json!({
                    "container_id": e.container_id,
                    "framework_id": e.framework_id,
                    "executor_id": e.executor_id,
                    "executor_name": e.executor_name,
                    "source": e.source,
                    "status": mesos_proto::json::to_value(&container_status(e)),
                    "statistics": mesos_proto::json::to_value(&usage(e)),
                }))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    json(&Value::Array(items), request.query_param("jsonp"))
}

/// The `ContainerStatus` of an executor's container.
pub fn container_status(entry: &ContainerEntry) -> v1::ContainerStatus {
    v1::ContainerStatus {
        container_id: Some(v1::ContainerId {
            value: entry.container_id.clone(),
            parent: None,
        }),
        executor_pid: entry.pid.and_then(|p| u32::try_from(p).ok()),
        ..Default::default()
    }
}

/// `ResourceStatistics` of an executor's process tree, read from `/proc`
/// (no cgroups: posix isolation). Blocking: call off the runtime.
pub fn usage(entry: &ContainerEntry) -> v1::ResourceStatistics {
    let mut stats = v1::ResourceStatistics {
        timestamp: now_secs(),
        cpus_limit: Some(entry.cpus_limit),
        mem_limit_bytes: Some(entry.mem_limit_bytes),
        ..Default::default()
    };
    let Some(pid) = entry.pid else { return stats };
    // Linux's USER_HZ and page size on every mainstream architecture.
    const TICKS: f64 = 100.0;
    const PAGE: u64 = 4096;
    let (mut user, mut system, mut rss, mut threads, mut processes) = (0.0, 0.0, 0u64, 0u32, 0u32);
    for p in crate::containerizer::process_tree(pid) {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After the command: state(0) ppid(1) ... utime(11) stime(12) ... num_threads(17) ... rss(21).
        let num = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        user += num(11) as f64 / TICKS;
        system += num(12) as f64 / TICKS;
        threads = threads.saturating_add(u32::try_from(num(17)).unwrap_or(u32::MAX));
        rss += num(21) * PAGE;
        processes += 1;
    }
    stats.cpus_user_time_secs = Some(user);
    stats.cpus_system_time_secs = Some(system);
    stats.mem_rss_bytes = Some(rss);
    stats.processes = Some(processes);
    stats.threads = Some(threads);
    stats
}

/// The process-wide `system/*` metrics, from `/proc`.
pub fn system_metrics() -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    m.insert("system/cpus_total".into(), cpus as f64);
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let parts: Vec<f64> = load
            .split_whitespace()
            .take(3)
            .filter_map(|v| v.parse().ok())
            .collect();
        if let [one, five, fifteen] = parts[..] {
            m.insert("system/load_1min".into(), one);
            m.insert("system/load_5min".into(), five);
            m.insert("system/load_15min".into(), fifteen);
        }
    }
    if let Ok(info) = std::fs::read_to_string("/proc/meminfo") {
        let field = |name: &str| {
            info.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .map(|kb| kb * 1024.0)
        };
        if let Some(total) = field("MemTotal:") {
            m.insert("system/mem_total_bytes".into(), total);
        }
        if let Some(free) = field("MemAvailable:").or_else(|| field("MemFree:")) {
            m.insert("system/mem_free_bytes".into(), free);
        }
    }
    m
}

pub fn routes(mut builder: ServerBuilder, ctx: Arc<HttpContext>) -> ServerBuilder {
    for path in ["/state", "/state.json"] {
        let c = ctx.clone();
        builder = builder.route(AGENT_ID, path, handler(move |r| state(c.clone(), r)));
    }
    let c = ctx.clone();
    builder = builder.route(AGENT_ID, "/flags", handler(move |r| flags(c.clone(), r)));
    builder = builder.route(AGENT_ID, "/health", handler(health));
    for path in ["/monitor/statistics", "/monitor/statistics.json"] {
        let c = ctx.clone();
        builder = builder.route(AGENT_ID, path, handler(move |r| statistics(c.clone(), r)));
    }
    let c = ctx.clone();
    builder = builder.route(
        AGENT_ID,
        "/containers",
        handler(move |r| containers(c.clone(), r)),
    );
    let c = ctx.clone();
    builder = builder.route(
        "metrics",
        "/snapshot",
        handler(move |r| metrics(c.clone(), r)),
    );
    let p = ctx.clone();
    let c = ctx;
    builder = builder.route(
        "metrics",
        "/prometheus",
        handler(move |r| prometheus(p.clone(), r)),
    );
    builder = builder.route("logging", "/toggle", handler(move |r| toggle(c.clone(), r)));
    builder.route("version", "/", handler(version))
}
