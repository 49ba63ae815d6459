//! The master's candidacy: one EPHEMERAL_SEQUENTIAL `json.info_NNNNNNNNNN`
//! znode under the group path holding the master's `MasterInfo` as Mesos
//! JSON, alive as long as the session that created it.
//!
//! The contender only joins the group; who leads is learned from a
//! [`crate::MasterDetector`] on the same URL (the lowest sequence leads),
//! as upstream's master does.

use std::time::Duration;

use mesos_proto::mesos::MasterInfo;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use zookeeper_client::{Client, CreateMode, EventType, SessionInfo};

use crate::session::{self, SessionEnd};
use crate::{Error, ZkUrl};

/// The label of the nodes upstream masters (0.24 and later) create.
pub const MASTER_INFO_JSON_LABEL: &str = "json.info";
/// The label of the older nodes holding a binary `MasterInfo`.
pub const MASTER_INFO_LABEL: &str = "info";

/// How a candidacy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidacyLost {
    /// The session ended (expired, timed out while disconnected, closed).
    Session(SessionEnd),
    /// Our znode was deleted by someone else.
    ZnodeDeleted,
}

impl std::fmt::Display for CandidacyLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CandidacyLost::Session(SessionEnd::Expired) => f.write_str("ZooKeeper session expired"),
            CandidacyLost::Session(SessionEnd::TimedOut) => {
                f.write_str("disconnected from ZooKeeper for longer than the session timeout")
            }
            CandidacyLost::Session(SessionEnd::Closed) => f.write_str("ZooKeeper session closed"),
            CandidacyLost::Session(SessionEnd::AuthFailed) => {
                f.write_str("ZooKeeper authentication failed")
            }
            CandidacyLost::ZnodeDeleted => f.write_str("candidacy znode deleted"),
        }
    }
}

/// A master's membership in the election group. Dropping it closes the
/// session, which removes the znode.
pub struct MasterContender {
    client: Client,
    znode: String,
    sequence: i64,
    lost: watch::Receiver<Option<CandidacyLost>>,
    watcher: JoinHandle<()>,
}

impl MasterContender {
    /// Joins the group at `zk`, retrying while ZooKeeper is unreachable.
    /// Creates the group path (recursively) when it is missing.
    pub async fn contend(
        zk: &ZkUrl,
        info: &MasterInfo,
        session_timeout: Duration,
    ) -> Result<MasterContender, Error> {
        let data = mesos_proto::json::try_encode(info)
            .map_err(|e| Error::ZooKeeper(format!("Failed to encode MasterInfo: {e}")))?;
        loop {
            let client = session::connect(zk, session_timeout).await?;
            match Self::join(zk, &client, data.as_bytes()).await {
                Ok((znode, sequence)) => {
                    info!(
                        "Created candidacy znode {znode} in ZooKeeper {}",
                        zk.servers
                    );
                    let (lost_tx, lost) = watch::channel(None);
                    let watcher = tokio::spawn(watch_candidacy(
                        client.clone(),
                        znode.clone(),
                        session_timeout,
                        lost_tx,
                    ));
                    return Ok(MasterContender {
                        client,
                        znode,
                        sequence,
                        lost,
                        watcher,
                    });
                }
                Err(error) if is_retryable(&error) => {
                    warn!("Failed to join the group at {zk}: {error}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(error) => {
                    return Err(Error::ZooKeeper(format!(
                        "Failed to join the group at {zk}: {error}"
                    )))
                }
            }
        }
    }

    async fn join(
        zk: &ZkUrl,
        client: &Client,
        data: &[u8],
    ) -> Result<(String, i64), zookeeper_client::Error> {
        let acl = session::acl_for(zk);
        if zk.path != "/" {
            let options = CreateMode::Persistent.with_acls(session::acls(&acl));
            client.mkdir(&zk.path, &options).await?;
        }
        let prefix = zk.child(&format!("{MASTER_INFO_JSON_LABEL}_"));
        let options = CreateMode::EphemeralSequential.with_acls(session::acls(&acl));
        let (_, sequence) = client.create(&prefix, data, &options).await?;
        let sequence = sequence.into_i64();
        Ok((format!("{prefix}{sequence:010}"), sequence))
    }

    /// The znode holding our candidacy, e.g. `/mesos/json.info_0000000003`.
    pub fn znode(&self) -> &str {
        &self.znode
    }

    /// Our sequence number in the election.
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    /// The ZooKeeper session (tests expire it by reconnecting with it).
    pub fn session(&self) -> SessionInfo {
        self.client.session().clone()
    }

    /// Resolves once the candidacy is lost; never resolves while it holds.
    pub async fn lost(&mut self) -> CandidacyLost {
        loop {
            if let Some(reason) = *self.lost.borrow_and_update() {
                return reason;
            }
            if self.lost.changed().await.is_err() {
                // The watcher only stops after reporting; treat a vanished
                // watcher as a closed session rather than holding forever.
                return (*self.lost.borrow()).unwrap_or(CandidacyLost::Session(SessionEnd::Closed));
            }
        }
    }

    /// Whether the candidacy has been lost (without waiting).
    pub fn is_lost(&self) -> bool {
        self.lost.borrow().is_some()
    }
}

impl Drop for MasterContender {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

fn is_retryable(error: &zookeeper_client::Error) -> bool {
    use zookeeper_client::Error::*;
    matches!(
        error,
        ConnectionLoss | SessionExpired | Timeout | NoHosts | ClientClosed
    )
}

async fn watch_candidacy(
    client: Client,
    znode: String,
    session_timeout: Duration,
    lost: watch::Sender<Option<CandidacyLost>>,
) {
    let session_end = session::ended(client.state_watcher(), session_timeout);
    tokio::pin!(session_end);
    loop {
        let watch = client.check_and_watch_stat(&znode);
        let watcher = tokio::select! {
            end = &mut session_end => {
                lost.send_replace(Some(CandidacyLost::Session(end)));
                return;
            }
            result = watch => result,
        };
        match watcher {
            Ok((None, _)) => {
                lost.send_replace(Some(CandidacyLost::ZnodeDeleted));
                return;
            }
            Ok((Some(_), watcher)) => {
                tokio::select! {
                    end = &mut session_end => {
                        lost.send_replace(Some(CandidacyLost::Session(end)));
                        return;
                    }
                    event = watcher.changed() => {
                        if event.event_type == EventType::NodeDeleted {
                            lost.send_replace(Some(CandidacyLost::ZnodeDeleted));
                            return;
                        }
                    }
                }
            }
            Err(_) => {
                // Connection trouble: the session watch decides whether the
                // candidacy is gone; try the node again shortly.
                tokio::select! {
                    end = &mut session_end => {
                        lost.send_replace(Some(CandidacyLost::Session(end)));
                        return;
                    }
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}
