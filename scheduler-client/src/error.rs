//! The one error type of this crate.

use std::time::Duration;

/// Everything that can go wrong talking to a master (or, through the shared
/// [`crate::http`] helpers, to an agent).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The master (or agent) address could not be understood.
    #[error("invalid address '{address}': {reason}")]
    InvalidAddress {
        /// What was given.
        address: String,
        /// Why it was refused.
        reason: String,
    },
    /// No TCP connection could be made.
    #[error("failed to connect to {address}: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The HTTP exchange broke (connection reset, malformed answer, ...).
    #[error("HTTP request to {address} failed: {source}")]
    Http {
        /// `host:port`.
        address: String,
        /// What hyper reported.
        source: hyper::Error,
    },
    /// The request could not even be built (bad header value, ...).
    #[error("failed to build the HTTP request: {0}")]
    Request(String),
    /// The peer answered with an unexpected status code.
    #[error("{call} answered {status}: {body}")]
    Status {
        /// The call type (`SUBSCRIBE`, `ACCEPT`, ...).
        call: String,
        /// The HTTP status code.
        status: u16,
        /// The body text (upstream puts the reason there).
        body: String,
    },
    /// The peer answered 401: no credential, or one it does not accept.
    #[error("{call} answered 401 Unauthorized (realm '{realm}'): {body}")]
    Unauthorized {
        /// The call type (`SUBSCRIBE`, `ACCEPT`, ...).
        call: String,
        /// The realm of the peer's `WWW-Authenticate` challenge (empty
        /// when it sent none).
        realm: String,
        /// The body text.
        body: String,
    },
    /// A 307 without a usable `Location`, or too many redirects in a row.
    #[error("redirect failed: {0}")]
    Redirect(String),
    /// A record of the event stream could not be decoded.
    #[error("failed to decode {what}: {reason}")]
    Decode {
        /// The message type.
        what: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The RecordIO framing of the event stream is broken.
    #[error("broken event stream: {0}")]
    RecordIo(#[from] mesos_proto::recordio::RecordIoError),
    /// SUBSCRIBE was accepted (200) but the master sent an `ERROR` event
    /// (invalid `FrameworkInfo`, authorization failure, ...).
    #[error("subscription refused by the master: {0}")]
    Subscribe(String),
    /// The master sent an `ERROR` event on an established subscription.
    #[error("the master sent an ERROR event: {0}")]
    MasterError(String),
    /// Nothing (heartbeats included) arrived for too long.
    #[error("no event (heartbeats included) for {0:?}; the subscription is considered dead")]
    HeartbeatTimeout(Duration),
    /// The peer closed the event stream.
    #[error("the event stream was closed by the peer")]
    Disconnected,
    /// A call that needs a subscription was made before one existed.
    #[error("not subscribed: {0}")]
    NotSubscribed(String),
    /// A bad argument from the caller (for example a resource string).
    #[error("{0}")]
    Invalid(String),
}
