//! Mesos's libprocess wire protocol, for the master, agent, executor and
//! driver: [`Upid`]s, one-way HTTP messages ([`Message`], [`Transport`]),
//! links and `exited` notifications, and an HTTP [`Server`] with
//! libprocess-style routing (`/<process id>/<route>`, delegate, longest
//! prefix).
//!
//! This crate owns the transport only. It never decodes message bodies,
//! negotiates content types or knows any Mesos message; components do.
//!
//! Modules:
//! - [`upid`]: `id@ip:port` parsing and formatting.
//! - [`message`]: message framing and recognition.
//! - [`transport`]: outbound connections, links, exited events.
//! - [`routing`]: path → (process, route) as pure functions.
//! - [`http`]: request/response/body types handlers use.
//! - [`server`]: the listener serving messages and HTTP routes.
//! - [`authentication`]: HTTP Basic per realm, credentials.
//! - [`connections`]: open-connection bookkeeping (timeouts, budget).
//! - [`metrics`]: timers' statistics and the Prometheus text renderer.
//! - [`ssl`]: TLS from the `LIBPROCESS_SSL_*` environment, on rustls.
//! - [`refusals`]: a rate-limited log of refused messages.

pub mod authentication;
pub mod connections;
pub mod faults;
pub mod http;
pub mod media;
pub mod message;
pub mod metrics;
pub mod refusals;
pub mod routing;
pub mod server;
pub mod ssl;
pub mod transport;
pub mod upid;

pub use faults::{FaultFilter, Faults, FilterAction};
pub use http::{handler, Abort, Body, ChunkSource, Handler, Request, RequestExt, Response};
pub use message::Message;
pub use refusals::RefusalLog;
pub use server::{Processes, Server, ServerBuilder};
pub use transport::{MessageFilter, Transport};
pub use upid::Upid;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid UPID '{input}': {reason}")]
    InvalidUpid { input: String, reason: &'static str },
    #[error("failed to resolve host '{host}': {reason}")]
    Resolve { host: String, reason: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("failed to bind {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}
