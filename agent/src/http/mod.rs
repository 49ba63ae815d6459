//! The agent's HTTP surface, served by the libprocess server:
//! - `slave(1)`: `/api/v1/executor` (v1 executor API, `executor.rs`),
//!   `/state`, `/flags`, `/health`, `/monitor/statistics`, `/containers`
//!   (`state.rs`), plus the removed-in-1.7 `*.json` aliases old tools use;
//! - `files`: `/files/browse|read|download|debug` (`files.rs`);
//! - `slave(1)`: `/api/v1` and every path below it but `/api/v1/executor`:
//!   the v1 Operator API (`operator.rs`);
//! - `metrics`: `/metrics/snapshot`; `version`: `/version`;
//!   `logging`: `/logging/toggle` (`state.rs`).
//!
//! Owns request parsing, content negotiation and response shapes. State
//! lives in the actor: handlers ask it through [`AgentHandle`] and never
//! touch agent state themselves.

pub mod authentication;
pub mod executor;
pub mod files;
pub mod operator;
pub mod state;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use libprocess::{handler, Body, Response, ServerBuilder};
use tokio::sync::{mpsc, oneshot};

use crate::agent::{Input, Query, AGENT_ID};

pub use libprocess::media::{
    accepts_media_type, ContentType, APPLICATION_JSON, APPLICATION_PROTOBUF,
};

/// The actor's mailbox, as the handlers see it.
#[derive(Clone)]
pub struct AgentHandle {
    pub inbox: mpsc::UnboundedSender<Input>,
}

impl AgentHandle {
    /// Asks the actor; `None` when it is gone (shutting down).
    pub async fn query<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Query) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.inbox.send(Input::Query(make(tx))).ok()?;
        rx.await.ok()
    }
}

/// What every handler can reach.
pub struct HttpContext {
    pub agent: AgentHandle,
    pub files: files::Files,
    /// The `/flags` map, fixed at startup.
    pub flags: BTreeMap<String, String>,
    /// `/logging/toggle` and `SET_LOGGING_LEVEL`.
    pub logging: crate::logging::LoggingLevel,
    /// `--acls`.
    pub authorizer: Arc<mesos_authorizer::Authorizer>,
}

/// The principal the request authenticated as, if any.
pub fn principal(request: &libprocess::Request) -> Option<&str> {
    request
        .extensions()
        .get::<libprocess::authentication::Principal>()
        .map(|p| p.0.as_str())
}

impl HttpContext {
    /// `None` when the request's principal may do `action` on `object`,
    /// else the 403 to answer.
    pub fn forbidden(
        &self,
        request: &libprocess::Request,
        action: mesos_authorizer::Action,
        object: mesos_authorizer::Object<'_>,
    ) -> Option<Response> {
        if self
            .authorizer
            .authorized(action, principal(request), object)
        {
            return None;
        }
        let who = match principal(request) {
            Some(p) => format!("Principal '{p}'"),
            None => "An anonymous request".to_string(),
        };
        Some(error(
            http::StatusCode::FORBIDDEN,
            format!(
                "{who} is not authorized to perform action {}",
                action.name()
            ),
        ))
    }

    /// The 403 for a `/files` path the principal may not read: a sandbox
    /// needs `access_sandboxes` on its user, the agent log
    /// `access_mesos_logs`.
    pub fn forbidden_path(&self, request: &libprocess::Request, path: &str) -> Option<Response> {
        use mesos_authorizer::{Action, Object};
        match self.files.owner(path)? {
            crate::files::Owner::Sandbox { user } => {
                self.forbidden(request, Action::AccessSandbox, Object::Value(&user))
            }
            crate::files::Owner::Log => {
                self.forbidden(request, Action::AccessMesosLog, Object::Any)
            }
        }
    }
}

/// A response with `status`, a body and optional content type.
pub fn reply(
    status: http::StatusCode,
    body: impl Into<Body>,
    content_type: Option<&str>,
) -> Response {
    let mut response = libprocess::http::response(status, body);
    if let Some(ct) = content_type {
        if let Ok(v) = http::HeaderValue::from_str(ct) {
            response.headers_mut().insert(http::header::CONTENT_TYPE, v);
        }
    }
    response
}

/// An error answer with a plain-text message, as upstream's `BadRequest("...")`.
pub fn error(status: http::StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    if message.is_empty() {
        reply(status, Body::empty(), None)
    } else {
        reply(
            status,
            Bytes::from(message),
            Some("text/plain; charset=utf-8"),
        )
    }
}

/// A JSON answer, wrapped as `cb(<json>)` with `text/javascript` when the
/// request has `?jsonp=cb` (no trailing semicolon, like upstream).
pub fn json(value: &serde_json::Value, jsonp: Option<String>) -> Response {
    libprocess::media::json_response(value.to_string(), jsonp.as_deref())
}

/// Registers every agent route.
pub fn routes(builder: ServerBuilder, ctx: Arc<HttpContext>) -> ServerBuilder {
    let c = ctx.clone();
    let builder = builder.route(
        AGENT_ID,
        "/api/v1/executor",
        handler(move |req| executor::handle(c.clone(), req)),
    );
    let c = ctx.clone();
    let builder = builder.route(
        AGENT_ID,
        "/api/v1",
        handler(move |req| operator::api(c.clone(), req)),
    );
    let builder = state::routes(builder, ctx.clone());
    files::routes(builder, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jsonp_wraps_without_semicolon() {
        let v = serde_json::json!({"a": 1});
        let r = json(&v, Some("cb".into()));
        assert_eq!(r.headers()[http::header::CONTENT_TYPE], "text/javascript");
        assert_eq!(&r.into_body().collect_bytes().await[..], b"cb({\"a\":1})");
        let r = json(&v, None);
        assert_eq!(r.headers()[http::header::CONTENT_TYPE], APPLICATION_JSON);
    }
}
