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
        if let Err(error) =
            require_method(&request, &[Method::GET, Method::HEAD], "GET").and_then(|()| {
                context.authorize(
                    &request,
                    mesos_authorizer::Action::ViewFlags,
                    mesos_authorizer::Object::Any,
                )
            })
        {
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
    let fresh = context.master.metrics();
    let mut metrics = match timeout {
        None => fresh.await,
        Some(timeout) => match tokio::time::timeout(timeout.0, fresh).await {
            Ok(metrics) => metrics,
            Err(_) => context.master.published().metrics.clone(),
        },
    };
    let start_time = context.master.published().start_time;
    metrics.insert(
        "master/uptime_secs".to_string(),
        (crate::master::now_secs() - start_time).max(0.0),
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
        let text = libprocess::metrics::render_prometheus(
            &metrics,
            &crate::master::framework_metrics::MasterMetrics,
        );
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

/// `POST /master/teardown` with the form body `frameworkId=<id>`: 200 once
/// the framework is removed, 400 for a missing or unknown id.
pub fn teardown(context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        let result = async {
            context.check_leader(&request)?;
            require_method(&request, &[Method::POST], "POST")?;
            let body = std::str::from_utf8(request.body())
                .map_err(|_| HttpError::BadRequest("Request body is not UTF-8".to_string()))?;
            let form = libprocess::routing::decode_query(body);
            let Some((_, id)) = form.into_iter().find(|(k, _)| k == "frameworkId") else {
                return Err(HttpError::BadRequest(
                    "Missing 'frameworkId' query parameter in the request body".to_string(),
                ));
            };
            let snapshot = context.master.snapshot().await;
            if let Some(view) = snapshot
                .frameworks
                .iter()
                .find(|f| f.info.id.as_ref().is_some_and(|i| i.value == id))
            {
                context.authorize(
                    &request,
                    mesos_authorizer::Action::TeardownFramework,
                    mesos_authorizer::Object::Framework(&view.info),
                )?;
            }
            context.master.teardown(&id).await.map_err(|e| match e {
                crate::master::requests::TeardownError::FrameworkNotFound => {
                    HttpError::BadRequest(e.to_string())
                }
                other => HttpError::ServiceUnavailable(other.to_string()),
            })
        }
        .await;
        match result {
            Ok(()) => libprocess::http::response(StatusCode::OK, Body::empty()),
            Err(error) => error.into_response(),
        }
    })
}

/// `/logging/toggle[?level=N&duration=D]`: without parameters, the current
/// verbosity; with both, that verbosity for that long (upstream's checks
/// and messages).
pub fn logging_toggle(_context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        let level = request.query_param("level");
        let duration = request.query_param("duration");
        let bad = |message: String| HttpError::BadRequest(message).into_response();
        let (level, duration) = match (level, duration) {
            (None, None) => {
                return libprocess::http::response(
                    StatusCode::OK,
                    format!("{}\n", crate::logging::level()),
                )
            }
            (Some(_), None) => return bad("Expecting 'duration=value' in query.\n".into()),
            (None, Some(_)) => return bad("Expecting 'level=value' in query.\n".into()),
            (Some(level), Some(duration)) => (level, duration),
        };
        let level = match level.trim().parse::<i64>() {
            Ok(level) if level < 0 => return bad(format!("Invalid level '{level}'.\n")),
            Ok(level) => u32::try_from(level).unwrap_or(u32::MAX),
            Err(_) => return bad(format!("Failed to convert '{level}' to number.\n")),
        };
        let duration = match stout::Duration::parse(&duration) {
            Ok(duration) => duration.0,
            Err(e) => return bad(format!("{e}.\n")),
        };
        match crate::logging::toggle(level, duration) {
            Ok(()) => libprocess::http::response(StatusCode::OK, Body::empty()),
            Err(e) => HttpError::Internal(e.to_string()).into_response(),
        }
    })
}
