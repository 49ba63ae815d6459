//! The master's HTTP surfaces: [`scheduler`] (`/api/v1/scheduler`),
//! [`state`] (the legacy JSON endpoints), [`process`] (`/version`,
//! `/health`, `/metrics/*`, `/redirect`, `/flags`, `/teardown`,
//! `/logging/toggle`), [`maintenance`] (`/maintenance/*`, `/machine/*`)
//! and [`webui`] (`--webui_dir` at `/`, `/app`,
//! `/assets`).
//!
//! This module owns what they share: the error type and its mapping to
//! status codes ([`HttpError`]), media type negotiation, JSONP, the leader
//! check, and the route table ([`install_routes`]). Handlers read the
//! published snapshot or message the actor; they never touch master state.

pub mod allocator;
pub mod authentication;
pub mod authorization;
#[cfg(test)]
mod endpoint_tests;
pub mod maintenance;
pub mod operations;
pub mod operator;
pub mod process;
pub mod render;
pub mod scheduler;
pub mod state;
pub mod webui;

use std::sync::Arc;

use libprocess::http::{header, HeaderValue, Method, StatusCode};
use libprocess::media::ContentType;
use libprocess::{handler, Body, Processes, Request, RequestExt, Response};
use mesos_proto::mesos::v1::MasterInfo;
use tokio::sync::watch;

use crate::flags::Flags;
use crate::master::{CallError, MasterHandle};

/// Who leads, as far as this master knows. Without ZooKeeper this master
/// is elected from the start and leads once recovered; with it, the
/// election publishes changes through the watch channel in [`HttpContext`].
#[derive(Clone, Debug, PartialEq)]
pub enum Leadership {
    /// This master leads and has recovered.
    Leading,
    /// Elected but the registry is not recovered yet: the v1 APIs answer
    /// 503, the read-only state endpoints serve.
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
    /// `--acls`, asked for every operator request and view.
    pub authorizer: Arc<mesos_authorizer::Authorizer>,
    /// Whole-state bodies rendered per snapshot, shared by readers.
    pub renders: Arc<render::RenderCache>,
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
    /// 404 with a message.
    #[error("{0}")]
    NotFoundMessage(String),
    #[error("{0}")]
    Conflict(String),
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
    /// 501 with a message.
    #[error("{0}")]
    NotImplementedMessage(String),
    #[error("{0}")]
    Internal(String),
}

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::NotFound | HttpError::NotFoundMessage(_) => StatusCode::NOT_FOUND,
            HttpError::Conflict(_) => StatusCode::CONFLICT,
            HttpError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            HttpError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HttpError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::TemporaryRedirect(_) => StatusCode::TEMPORARY_REDIRECT,
            HttpError::NotImplemented | HttpError::NotImplementedMessage(_) => {
                StatusCode::NOT_IMPLEMENTED
            }
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

/// The one mapping from the actor's refusals of scheduler calls to
/// upstream's status codes.
impl From<CallError> for HttpError {
    fn from(error: CallError) -> HttpError {
        match error {
            CallError::NotSubscribed
            | CallError::NotConnectedViaHttp
            | CallError::Unauthorized(_) => HttpError::Forbidden(error.to_string()),
            CallError::FrameworkNotFound
            | CallError::MissingStreamId
            | CallError::StreamIdMismatch { .. }
            | CallError::PrincipalMismatch { .. }
            | CallError::InvalidCall(_) => HttpError::BadRequest(error.to_string()),
            CallError::NotRecovered | CallError::ShuttingDown => {
                HttpError::ServiceUnavailable(error.to_string())
            }
            CallError::UnknownCall => HttpError::NotImplemented,
        }
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
    /// For the read-only state endpoints: the elected master serves them
    /// while it still recovers, as upstream's handlers check only that it
    /// was elected (its state has no agents yet then); the v1 APIs wait
    /// for recovery ([`HttpContext::check_leader`]).
    pub fn check_elected(&self, request: &Request) -> Result<(), HttpError> {
        if *self.leadership.borrow() == Leadership::Recovering {
            return Ok(());
        }
        self.check_leader(request)
    }

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

/// A v1 `Call` body (scheduler or operator). `Content-Type` must be
/// exactly one of the two media types (upstream compares the header
/// string, parameters included).
pub fn parse_call_body<M: prost::Message + prost::Name + Default>(
    request: &Request,
) -> Result<M, HttpError> {
    let Some(content_type) = request.headers().get(header::CONTENT_TYPE) else {
        return Err(HttpError::BadRequest(
            "Expecting 'Content-Type' to be present".to_string(),
        ));
    };
    let body = request.body();
    match content_type.to_str().unwrap_or("") {
        ContentType::PROTOBUF => {
            // Like C++ `ParseFromString`, absent required fields fail the parse.
            mesos_proto::decode_checked::<M>(body).map_err(|_| {
                HttpError::BadRequest("Failed to parse body into Call protobuf".to_string())
            })
        }
        ContentType::JSON => mesos_proto::json::decode::<M>(body).map_err(|error| match error {
            mesos_proto::json::JsonError::Syntax(reason) => {
                HttpError::BadRequest(format!("Failed to parse body into JSON: {reason}"))
            }
            other => HttpError::BadRequest(format!(
                "Failed to convert JSON into Call protobuf: {other}"
            )),
        }),
        _ => Err(HttpError::UnsupportedMediaType(format!(
            "Expecting 'Content-Type' of {} or {}",
            ContentType::JSON,
            ContentType::PROTOBUF
        ))),
    }
}

/// Registers every route of the master in the server's process table.
pub fn install_routes(processes: &Processes, context: HttpContext) {
    let context = Arc::new(context);
    let with = |f: fn(Arc<HttpContext>, Request) -> futures_response::ResponseFuture| {
        let context = context.clone();
        handler(move |request| f(context.clone(), request))
    };
    processes.add_route("master", "/api/v1/scheduler", with(scheduler::handle));
    // Any longer path (`/api/v1/operator`) reaches it by prefix.
    processes.add_route("master", "/api/v1", with(operator::handle));
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
    processes.add_route("master", "/quota", with(operations::quota));
    processes.add_route("master", "/weights", with(operations::weights));
    for (path, endpoint) in [
        ("/reserve", operations::ResourceEndpoint::Reserve),
        ("/unreserve", operations::ResourceEndpoint::Unreserve),
        (
            "/create-volumes",
            operations::ResourceEndpoint::CreateVolumes,
        ),
        (
            "/destroy-volumes",
            operations::ResourceEndpoint::DestroyVolumes,
        ),
    ] {
        let context = context.clone();
        processes.add_route(
            "master",
            path,
            handler(move |request| {
                operations::resource_operation(context.clone(), request, endpoint)
            }),
        );
    }
    processes.add_route("master", "/redirect", with(process::redirect));
    processes.add_route("master", "/flags", with(process::flags));
    processes.add_route("master", "/teardown", with(process::teardown));
    for (path, endpoint) in [
        ("/maintenance/schedule", maintenance::Endpoint::Schedule),
        ("/maintenance/status", maintenance::Endpoint::Status),
        ("/machine/down", maintenance::Endpoint::Down),
        ("/machine/up", maintenance::Endpoint::Up),
    ] {
        let context = context.clone();
        processes.add_route(
            "master",
            path,
            handler(move |request| maintenance::handle(context.clone(), endpoint, request)),
        );
    }
    processes.add_route("version", "/", with(process::version));
    processes.add_route("logging", "/toggle", with(process::logging_toggle));
    for (path, asset) in [
        ("/", webui::Asset::Index),
        ("/app", webui::Asset::Below("app")),
        ("/assets", webui::Asset::Below("assets")),
    ] {
        let context = context.clone();
        processes.add_route(
            "master",
            path,
            handler(move |request| webui::handle(context.clone(), asset, request)),
        );
    }
    processes.add_route("metrics", "/snapshot", with(process::metrics));
    processes.add_route("metrics", "/prometheus", with(process::prometheus));
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
    fn call_errors_map_to_upstream_statuses() {
        let status = |error: CallError| HttpError::from(error).status();
        assert_eq!(
            status(CallError::FrameworkNotFound),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(status(CallError::NotSubscribed), StatusCode::FORBIDDEN);
        assert_eq!(
            status(CallError::NotConnectedViaHttp),
            StatusCode::FORBIDDEN
        );
        assert_eq!(status(CallError::MissingStreamId), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(CallError::InvalidCall("x".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(CallError::NotRecovered),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status(CallError::UnknownCall), StatusCode::NOT_IMPLEMENTED);
        let mismatch = HttpError::from(CallError::PrincipalMismatch {
            authenticated: "ops".into(),
            framework: "fw".into(),
        });
        assert_eq!(mismatch.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            mismatch.into_response().body().as_bytes().unwrap(),
            b"Authenticated principal 'ops' does not match principal 'fw' set in `FrameworkInfo`"
        );
        let response = HttpError::from(CallError::NotSubscribed).into_response();
        assert_eq!(
            response.body().as_bytes().unwrap(),
            b"Framework is not subscribed"
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
