//! Process-wide and informational endpoints: `/version`, `/health`,
//! `/metrics/snapshot`, `/metrics/prometheus`, `/redirect`, `/flags`. None of them redirects to
//! the leader (checklist §0); they answer from flags and the snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use libprocess::http::{Method, StatusCode};
use libprocess::{Body, Request, RequestExt};
use mesos_proto::legacy_json::number as json_number;
use serde_json::{json, Map, Value};

use super::futures_response::ResponseFuture;
use super::{json_response, leader_base, require_method, HttpContext, HttpError, Leadership};
use crate::flags::MESOS_VERSION;

/// This build's facts in upstream `/state` order: `git_sha`,
/// `git_branch`, `git_tag` (each when known), `build_date`, `build_time`,
/// `build_user`.
pub fn insert_build_info(object: &mut Map<String, Value>) {
    use stout::build_info;
    if let Some(sha) = build_info::git_sha() {
        object.insert("git_sha".into(), json!(sha));
    }
    if let Some(branch) = build_info::git_branch() {
        object.insert("git_branch".into(), json!(branch));
    }
    if let Some(tag) = build_info::git_tag() {
        object.insert("git_tag".into(), json!(tag));
    }
    object.insert("build_date".into(), json!(build_info::build_date()));
    object.insert(
        "build_time".into(),
        json_number(build_info::build_time() as f64),
    );
    object.insert("build_user".into(), json!(build_info::build_user()));
}

/// `/version`. Upstream builds it as a `JSON::Object` (a sorted map), so
/// its keys come out in alphabetical order.
pub fn version(_context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        let mut fields = Map::new();
        insert_build_info(&mut fields);
        fields.insert("version".into(), json!(MESOS_VERSION));
        let mut sorted: Vec<(String, Value)> = fields.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        json_response(&request, &Value::Object(sorted.into_iter().collect()))
    })
}

/// `/health`: always 200 with an empty body.
pub fn health(_context: Arc<HttpContext>, _request: Request) -> ResponseFuture {
    Box::pin(async move { libprocess::http::response(StatusCode::OK, Body::empty()) })
}

/// `/redirect`: 307 to the leader's base URL; anything below it is 404 so
/// redirects cannot loop.
pub fn redirect(context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        if !request.remaining_path().is_empty() {
            return HttpError::NotFound.into_response();
        }
        // The watch guard must not live across the await below.
        let following = match &*context.leadership.borrow() {
            Leadership::Leading | Leadership::Recovering => None,
            Leadership::Following(leader) => Some(leader.as_deref().cloned()),
        };
        let leader = match following {
            None => Some(context.master.snapshot().await.master_info.clone()),
            Some(leader) => leader,
        };
        match leader {
            Some(info) => HttpError::TemporaryRedirect(leader_base(&info)).into_response(),
            None => HttpError::ServiceUnavailable("No leader elected".to_string()).into_response(),
        }
    })
}

/// `/flags`: `{"flags": {name: value}}`.
pub fn flags(context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        if let Err(error) = require_method(&request, &[Method::GET, Method::HEAD], "GET") {
            return error.into_response();
        }
        json_response(&request, &json!({ "flags": context.flags.to_map() }))
    })
}

/// The metrics map for `/metrics/snapshot` and `/metrics/prometheus`:
/// a fresh snapshot when the actor answers within `timeout` (upstream's
/// `timeout` bounds the wait for gauges), else the last published one;
/// `master/uptime_secs` is always computed now.
async fn current_metrics(
    context: &HttpContext,
    request: &Request,
) -> Result<BTreeMap<String, f64>, HttpError> {
    let timeout = match request.query_param("timeout") {
        None => None,
        Some(text) => Some(
            stout::Duration::parse(&text)
                .map_err(|e| HttpError::BadRequest(format!("Invalid timeout '{text}': {e}")))?,
        ),
    };
    let fresh = context.master.snapshot();
    let snapshot = match timeout {
        None => fresh.await,
        Some(timeout) => match tokio::time::timeout(timeout.0, fresh).await {
            Ok(snapshot) => snapshot,
            Err(_) => context.master.published(),
        },
    };
    let mut metrics = snapshot.metrics.clone();
    metrics.insert(
        "master/uptime_secs".to_string(),
        (crate::master::now_secs() - snapshot.start_time).max(0.0),
    );
    Ok(metrics)
}

/// `/metrics/snapshot[?timeout=...][&jsonp=...]`: a flat object of numbers.
pub fn metrics(context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        let metrics = match current_metrics(&context, &request).await {
            Ok(metrics) => metrics,
            Err(error) => return error.into_response(),
        };
        let object: Map<String, Value> = metrics
            .into_iter()
            .map(|(name, value)| (name, json_number(value)))
            .collect();
        json_response(&request, &Value::Object(object))
    })
}

/// `/metrics/prometheus[?timeout=...]`: the same values in the Prometheus
/// text format (names per `libprocess::metrics`).
pub fn prometheus(context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        let metrics = match current_metrics(&context, &request).await {
            Ok(metrics) => metrics,
            Err(error) => return error.into_response(),
        };
        let text = libprocess::metrics::render_prometheus(&metrics, &crate::master::METRIC_TABLES);
        let mut response = libprocess::http::response(StatusCode::OK, text);
        response.headers_mut().insert(
            libprocess::http::header::CONTENT_TYPE,
            libprocess::http::HeaderValue::from_static(
                libprocess::metrics::PROMETHEUS_CONTENT_TYPE,
            ),
        );
        response
    })
}
