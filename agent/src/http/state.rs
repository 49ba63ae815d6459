//! The agent's read-only endpoints: `/state` (`/slave(1)/state`, and the old
//! `/state.json`), `/flags`, `/health`, `/monitor/statistics`,
//! `/containers`, `/metrics/snapshot`, `/metrics/prometheus` and `/version`. All but `/health` and
//! `/version` ask the actor; `?jsonp=` is honoured like upstream.

use std::collections::BTreeMap;
use std::sync::Arc;

use libprocess::{handler, Body, Request, RequestExt, Response, ServerBuilder};
use serde_json::{json, Map, Value};

use super::{error, json, reply, HttpContext};
use crate::agent::views::{build_info, ContainerEntry, METRIC_TABLES};
use crate::agent::{now_secs, Query, AGENT_ID};

fn unavailable() -> Response {
    error(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "Agent is shutting down",
    )
}

pub async fn state(ctx: Arc<HttpContext>, request: Request) -> Response {
    match ctx.agent.query(Query::State).await {
        Some(v) => json(&v, request.query_param("jsonp")),
        None => unavailable(),
    }
}

pub async fn flags(ctx: Arc<HttpContext>, request: Request) -> Response {
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

pub async fn version(request: Request) -> Response {
    json(&Value::Object(build_info()), request.query_param("jsonp"))
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

pub async fn statistics(ctx: Arc<HttpContext>, request: Request) -> Response {
    let Some(entries) = ctx.agent.query(Query::Containers).await else {
        return unavailable();
    };
    let items = tokio::task::spawn_blocking(move || {
        entries
            .iter()
            .map(|e| {
                json!({
                    "framework_id": e.framework_id,
                    "executor_id": e.executor_id,
                    "executor_name": e.executor_name,
                    "source": e.source,
                    "statistics": usage(e),
                })
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
    let items = tokio::task::spawn_blocking(move || {
        entries
            .iter()
            .map(|e| {
                let mut status = json!({ "container_id": { "value": e.container_id } });
                if let Some(pid) = e.pid {
                    status["executor_pid"] = json!(pid);
                }
                json!({
                    "container_id": e.container_id,
                    "framework_id": e.framework_id,
                    "executor_id": e.executor_id,
                    "executor_name": e.executor_name,
                    "source": e.source,
                    "status": status,
                    "statistics": usage(e),
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    json(&Value::Array(items), request.query_param("jsonp"))
}

/// `ResourceStatistics` of an executor's process tree, read from `/proc`
/// (no cgroups: posix isolation).
fn usage(entry: &ContainerEntry) -> Value {
    let mut stats = json!({
        "timestamp": now_secs(),
        "cpus_limit": entry.cpus_limit,
        "mem_limit_bytes": entry.mem_limit_bytes,
    });
    let Some(pid) = entry.pid else { return stats };
    // Linux's USER_HZ and page size on every mainstream architecture.
    const TICKS: f64 = 100.0;
    const PAGE: u64 = 4096;
    let (mut user, mut system, mut rss, mut threads, mut processes) = (0.0, 0.0, 0u64, 0u64, 0u64);
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
        threads += num(17);
        rss += num(21) * PAGE;
        processes += 1;
    }
    stats["cpus_user_time_secs"] = json!(user);
    stats["cpus_system_time_secs"] = json!(system);
    stats["mem_rss_bytes"] = json!(rss);
    stats["processes"] = json!(processes);
    stats["threads"] = json!(threads);
    stats
}

/// The process-wide `system/*` metrics, from `/proc`.
fn system_metrics() -> BTreeMap<String, f64> {
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
    let c = ctx;
    builder = builder.route(
        "metrics",
        "/prometheus",
        handler(move |r| prometheus(c.clone(), r)),
    );
    builder.route("version", "/", handler(version))
}
