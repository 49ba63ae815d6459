//! The master's HTTP surfaces: [`scheduler`] (`/api/v1/scheduler`),
//! [`state`] (the legacy JSON endpoints) and [`process`] (`/version`,
//! `/health`, `/metrics/snapshot`, `/redirect`, `/flags`).
//!
//! This module owns what they share: the error type and its mapping to
//! status codes ([`HttpError`]), media type negotiation, JSONP, the leader
//! check, and the route table ([`install_routes`]). Handlers read the
//! published snapshot or message the actor; they never touch master state.

pub mod allocator;
pub mod authentication;
#[cfg(test)]
mod endpoint_tests;
pub mod process;
pub mod scheduler;
pub mod state;

use std::sync::Arc;

use libprocess::http::{header, HeaderValue, Method, StatusCode};
use libprocess::{handler, Body, Processes, Request, RequestExt, Response};
use mesos_proto::mesos::v1::MasterInfo;
use tokio::sync::watch;

use crate::flags::Flags;
use crate::master::MasterHandle;

/// Who leads, as far as this master knows. Without ZooKeeper this master
/// is always the leader; a contender would publish changes through the
/// watch channel in [`HttpContext`].
#[derive(Clone, Debug, PartialEq)]
pub enum Leadership {
    /// This master leads and has recovered.
    Leading,
    /// Elected but the registry is not recovered yet (503).
    Recovering,
    /// Another master leads (307 to it), or none is known (503).
    Following(Option<Box<MasterInfo>>),
}

/// What every handler may need.
#[derive(Clone, Debug)]
pub struct HttpContext {
    pub master: MasterHandle,
    pub flags: Arc<Flags>,
    pub leadership: watch::Receiver<Leadership>,
}

/// Every error answer, with upstream's status codes and messages.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HttpError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method {method} not allowed")]
    MethodNotAllowed {
        allowed: &'static str,
        method: String,
    },
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 307 with a protocol-relative `Location`.
    #[error("redirect to {0}")]
    TemporaryRedirect(String),
    #[error("not implemented")]
    NotImplemented,
    #[error("{0}")]
    Internal(String),
}

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            HttpError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HttpError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::TemporaryRedirect(_) => StatusCode::TEMPORARY_REDIRECT,
            HttpError::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            HttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response: the message as a plain-text body, plus `Allow` or
    /// `Location` where the status calls for it.
    pub fn into_response(self) -> Response {
        let status = self.status();
        let mut response = match &self {
            HttpError::NotFound | HttpError::NotImplemented | HttpError::TemporaryRedirect(_) => {
                libprocess::http::response(status, Body::empty())
            }
            HttpError::MethodNotAllowed { allowed, method } => libprocess::http::response(
                status,
                format!("Expecting one of {{ '{allowed}' }}, but received '{method}'"),
            ),
            other => libprocess::http::response(status, other.to_string()),
        };
        let has_body = response.body().as_bytes().is_some_and(|b| !b.is_empty());
        let headers = response.headers_mut();
        match self {
            HttpError::MethodNotAllowed { allowed, .. } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allowed));
            }
            HttpError::TemporaryRedirect(location) => {
                if let Ok(value) = HeaderValue::from_str(&location) {
                    headers.insert(header::LOCATION, value);
                }
            }
            _ => {}
        }
        if has_body {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        response
    }
}

pub use libprocess::media::accepts_media_type;

/// A JSON answer, wrapped as `cb(<json>)` (`text/javascript`, no `;`) when
/// the query has `jsonp=cb`.
pub fn json_response(request: &Request, value: &serde_json::Value) -> Response {
    libprocess::media::json_response(value.to_string(), request.query_param("jsonp").as_deref())
}

impl HttpContext {
    /// Upstream's leader checks for endpoints that redirect: 307 to the
    /// leader (`//host:port/path?query`), 503 without a leader or before
    /// recovery.
    pub fn check_leader(&self, request: &Request) -> Result<(), HttpError> {
        match &*self.leadership.borrow() {
            Leadership::Leading => Ok(()),
            Leadership::Recovering => Err(HttpError::ServiceUnavailable(
                "Master has not finished recovery".to_string(),
            )),
            Leadership::Following(None) => Err(HttpError::ServiceUnavailable(
                "No leader elected".to_string(),
            )),
            Leadership::Following(Some(leader)) => {
                let path = request
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".to_string());
                Err(HttpError::TemporaryRedirect(format!(
                    "{}{path}",
                    leader_base(leader)
                )))
            }
        }
    }
}

/// `//hostname:port` of a master (the IP when it has no hostname).
pub fn leader_base(info: &MasterInfo) -> String {
    let host = info
        .hostname
        .clone()
        .or_else(|| info.address.as_ref().and_then(|a| a.ip.clone()))
        .unwrap_or_else(|| std::net::Ipv4Addr::from(info.ip.to_ne_bytes()).to_string());
    format!("//{host}:{}", info.port)
}

/// Registers every route of the master in the server's process table.
pub fn install_routes(processes: &Processes, context: HttpContext) {
    let context = Arc::new(context);
    let with = |f: fn(Arc<HttpContext>, Request) -> futures_response::ResponseFuture| {
        let context = context.clone();
        handler(move |request| f(context.clone(), request))
    };
    processes.add_route("master", "/api/v1/scheduler", with(scheduler::handle));
    for (path, endpoint) in [
        ("/state", state::Endpoint::State),
        ("/state.json", state::Endpoint::State),
        ("/state-summary", state::Endpoint::StateSummary),
        ("/frameworks", state::Endpoint::Frameworks),
        ("/slaves", state::Endpoint::Slaves),
        ("/tasks", state::Endpoint::Tasks),
        ("/tasks.json", state::Endpoint::Tasks),
        ("/roles", state::Endpoint::Roles),
        ("/roles.json", state::Endpoint::Roles),
    ] {
        let context = context.clone();
        processes.add_route(
            "master",
            path,
            handler(move |request| state::handle(context.clone(), endpoint, request)),
        );
    }
    processes.add_route("master", "/health", with(process::health));
    processes.add_route("master", "/allocator/explain", with(allocator::explain));
    processes.add_route("master", "/redirect", with(process::redirect));
    processes.add_route("master", "/flags", with(process::flags));
    processes.add_route("version", "/", with(process::version));
    processes.add_route("metrics", "/snapshot", with(process::metrics));
}

/// The boxed future type route functions return.
pub mod futures_response {
    use std::future::Future;
    use std::pin::Pin;

    pub type ResponseFuture = Pin<Box<dyn Future<Output = libprocess::Response> + Send>>;
}

/// A 405 unless the method is one of `allowed`.
pub fn require_method(
    request: &Request,
    allowed: &[Method],
    allow_header: &'static str,
) -> Result<(), HttpError> {
    if allowed.contains(request.method()) {
        Ok(())
    } else {
        Err(HttpError::MethodNotAllowed {
            allowed: allow_header,
            method: request.method().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(accept: Option<&str>) -> Request {
        let mut builder = hyper::Request::builder().uri("/x?jsonp=cb");
        if let Some(accept) = accept {
            builder = builder.header("Accept", accept);
        }
        builder.body(bytes::Bytes::new()).unwrap()
    }

    #[test]
    fn jsonp_wraps_without_semicolon() {
        let response = json_response(&request(None), &serde_json::json!({"a": 1}));
        assert_eq!(response.body().as_bytes().unwrap(), b"cb({\"a\":1})");
        assert_eq!(response.headers()["content-type"], "text/javascript");
    }

    #[test]
    fn errors_map_to_statuses() {
        let response = HttpError::MethodNotAllowed {
            allowed: "POST",
            method: "GET".into(),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "POST");
        let response = HttpError::TemporaryRedirect("//m:5050/state".into()).into_response();
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(response.headers()["location"], "//m:5050/state");
        assert_eq!(
            HttpError::BadRequest("x".into()).into_response().status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn leader_base_prefers_hostname() {
        let info = MasterInfo {
            hostname: Some("m1".into()),
            port: 5050,
            ..Default::default()
        };
        assert_eq!(leader_base(&info), "//m1:5050");
    }
}
