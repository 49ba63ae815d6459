//! Finding the leading Mesos master, as upstream's contender and detector
//! do it over ZooKeeper, plus the master URL forms users write.
//!
//! - [`parse_master`] / [`ZkUrl::parse`]: `host:port`, `master@host:port`,
//!   `zk://[user:pass@]h1:p1,h2:p2/path`, `file:///path`;
//! - [`MasterContender`]: a master's EPHEMERAL_SEQUENTIAL `json.info_`
//!   znode holding its `MasterInfo` JSON, and notice when it is lost;
//! - [`MasterDetector`]: the current leader on a watch channel (lowest
//!   sequence among the group's members; older `info_` and bare-UPID nodes
//!   are read too).
//!
//! This crate owns ZooKeeper sessions and nothing else: it never decides
//! what a master or agent does when leadership changes.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod contender;
mod detector;
mod session;
mod url;

pub use contender::{CandidacyLost, MasterContender, MASTER_INFO_JSON_LABEL, MASTER_INFO_LABEL};
pub use detector::{standalone_info, MasterDetector, DEFAULT_SESSION_TIMEOUT};
pub use session::SessionEnd;
pub use url::{parse_master, MasterUrl, ZkUrl};
pub use zookeeper_client::SessionInfo;

/// Errors of master URL parsing, election and detection.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidUrl(String),
    #[error("{0}")]
    ZooKeeper(String),
    #[error("{0}")]
    BadLeader(String),
    #[error("{0}")]
    UnrecognizedLabel(String),
}
