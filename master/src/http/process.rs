//! Process-wide and informational endpoints: `/version`, `/health`,
//! `/metrics/snapshot`, `/redirect`, `/flags`. None of them redirects to
//! the leader (checklist §0); they answer from flags and the snapshot.

use std::sync::Arc;

use libprocess::http::{Method, StatusCode};
use libprocess::{Body, Request, RequestExt};
use mesos_proto::legacy_json::number as json_number;
use serde_json::{json, Map, Value};

use super::futures_response::ResponseFuture;
use super::{json_response, leader_base, require_method, HttpContext, HttpError, Leadership};
use crate::flags::MESOS_VERSION;

/// Build facts reported by `/version` and `/state`.
pub const BUILD_DATE: &str = "2024-08-01 00:00:00";
/// `BUILD_DATE` as seconds since the epoch.
pub const BUILD_TIME: f64 = 1_722_470_400.0;
pub const BUILD_USER: &str = "mesos-rs";

/// `/version`.
pub fn version(_context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        json_response(
            &request,
            &json!({
                "version": MESOS_VERSION,
                "build_date": BUILD_DATE,
                "build_time": BUILD_TIME,
                "build_user": BUILD_USER,
            }),
        )
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

/// `/metrics/snapshot[?timeout=...]`: a flat object of numbers.
pub fn metrics(context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        let snapshot = context.master.snapshot().await;
        let object: Map<String, Value> = snapshot
            .metrics
            .iter()
            .map(|(name, value)| (name.clone(), json_number(*value)))
            .collect();
        json_response(&request, &Value::Object(object))
    })
}
