//! The agent's HTTP surface, served by the libprocess server:
//! - `slave(1)`: `/api/v1/executor` (v1 executor API, `executor.rs`),
//!   `/state`, `/flags`, `/health`, `/monitor/statistics`, `/containers`
//!   (`state.rs`), plus the removed-in-1.7 `*.json` aliases old tools use;
//! - `files`: `/files/browse|read|download|debug` (`files.rs`);
//! - `metrics`: `/metrics/snapshot`; `version`: `/version`.
//!
//! Owns request parsing, content negotiation and response shapes. State
//! lives in the actor: handlers ask it through [`AgentHandle`] and never
//! touch agent state themselves.

pub mod executor;
pub mod files;
pub mod state;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use libprocess::{handler, Body, Response, ServerBuilder};
use tokio::sync::{mpsc, oneshot};

use crate::agent::{Input, Query, AGENT_ID};

/// The two encodings of the v1 APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Json,
    Protobuf,
}

pub const APPLICATION_JSON: &str = "application/json";
pub const APPLICATION_PROTOBUF: &str = "application/x-protobuf";

impl ContentType {
    pub fn as_str(&self) -> &'static str {
        match self {
            ContentType::Json => APPLICATION_JSON,
            ContentType::Protobuf => APPLICATION_PROTOBUF,
        }
    }
}

/// Whether the request's `Accept` allows `media` (upstream
/// `Request::acceptsMediaType`): no header accepts everything; otherwise
/// the most specific matching range decides, and q=0 refuses.
pub fn accepts_media_type(headers: &http::HeaderMap, media: &str) -> bool {
    let values: Vec<&str> = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return true;
    }
    let (kind, _) = media.split_once('/').unwrap_or((media, ""));
    // (specificity, q) of the best matching range.
    let mut best: Option<(u8, f64)> = None;
    for item in values.iter().flat_map(|v| v.split(',')) {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if range.is_empty() {
            continue;
        }
        let mut q = 1.0_f64;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
        }
        let specificity = if range == media {
            3
        } else if range == format!("{kind}/*") {
            2
        } else if range == "*/*" || range == "*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.is_some_and(|(_, q)| q > 0.0)
}

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
    let text = value.to_string();
    match jsonp {
        Some(callback) if !callback.is_empty() => reply(
            http::StatusCode::OK,
            Bytes::from(format!("{callback}({text})")),
            Some("text/javascript"),
        ),
        _ => reply(
            http::StatusCode::OK,
            Bytes::from(text),
            Some(APPLICATION_JSON),
        ),
    }
}

/// Registers every agent route.
pub fn routes(builder: ServerBuilder, ctx: Arc<HttpContext>) -> ServerBuilder {
    let c = ctx.clone();
    let builder = builder.route(
        AGENT_ID,
        "/api/v1/executor",
        handler(move |req| executor::handle(c.clone(), req)),
    );
    let builder = state::routes(builder, ctx.clone());
    files::routes(builder, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_str(accept).unwrap(),
        );
        h
    }

    #[test]
    fn accept_negotiation_follows_upstream() {
        assert!(accepts_media_type(
            &http::HeaderMap::new(),
            APPLICATION_JSON
        ));
        assert!(accepts_media_type(
            &headers("application/json"),
            APPLICATION_JSON
        ));
        assert!(!accepts_media_type(
            &headers("application/json"),
            APPLICATION_PROTOBUF
        ));
        assert!(accepts_media_type(&headers("*/*"), APPLICATION_PROTOBUF));
        assert!(accepts_media_type(
            &headers("application/*"),
            APPLICATION_PROTOBUF
        ));
        assert!(!accepts_media_type(
            &headers("application/json;q=0, */*"),
            APPLICATION_JSON
        ));
        assert!(accepts_media_type(
            &headers("application/json;q=0, */*"),
            APPLICATION_PROTOBUF
        ));
        assert!(!accepts_media_type(&headers("text/html"), APPLICATION_JSON));
    }

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
