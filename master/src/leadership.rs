//! Leadership: whether this master serves as the leader.
//!
//! With `--zk` the master contends in the ZooKeeper group and detects the
//! leader like everyone else; it is elected when the detected leader is
//! itself. Election is only the first step: the master must then recover
//! (the registry) before it leads, so the states run
//! `Following(leader?)` → `Recovering` → `Leading`.
//!
//! A master that loses leadership never goes back: it stops serving at
//! once (the message gate closes and HTTP answers 503 before anything
//! else happens) and [`Election::run`] returns, after which the process
//! exits, as upstream's master does, so nothing it still holds can reach
//! agents or frameworks as the leader.
//!
//! This module owns the leadership watch channel and the message gate. It
//! never touches cluster state; recovery is the [`Recovery`] hook's job.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use libprocess::Message;
use mesos_detector::{MasterContender, MasterDetector, MasterUrl, ZkUrl};
use mesos_proto::mesos::v1::MasterInfo;
use prost::Message as _;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use crate::http::Leadership;

/// What this master does once elected, before it leads: today nothing (the
/// in-memory registry is recovered when the actor spawns); the registrar
/// recovers the durable registry here. An error ends leadership.
pub type Recovery =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send>;

/// A recovery that has nothing to do.
pub fn recovered() -> Recovery {
    Box::new(|| Box::pin(async { Ok(()) }))
}

/// Why a master stopped leading (or could not take part in the election).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeadershipLost {
    #[error("Lost leadership... committing suicide! ({0})")]
    Lost(String),
    #[error("Failed to recover the registry after election: {0}")]
    RecoveryFailed(String),
    #[error("Failed to contend for leadership: {0}")]
    ContendFailed(String),
    #[error("Failed to detect the leading master: {0}")]
    DetectFailed(String),
}

/// The election of one master over ZooKeeper.
pub struct Election {
    pub zk: ZkUrl,
    pub session_timeout: Duration,
    pub info: MasterInfo,
}

impl Election {
    /// Contends, detects and publishes leadership until leadership is lost
    /// (or the election cannot go on). Returns only with the reason; by
    /// then `leadership` already says `Following(None)`.
    pub async fn run(
        self,
        leadership: watch::Sender<Leadership>,
        recovery: Recovery,
    ) -> LeadershipLost {
        let reason = self.elect(&leadership, recovery).await;
        // Stop serving first, report afterwards.
        leadership.send_replace(Leadership::Following(None));
        error!("{reason}");
        reason
    }

    async fn elect(
        &self,
        leadership: &watch::Sender<Leadership>,
        recovery: Recovery,
    ) -> LeadershipLost {
        let own = v0(&self.info);
        let detector = match MasterDetector::start(
            &MasterUrl::ZooKeeper(self.zk.clone()),
            self.session_timeout,
        ) {
            Ok(detector) => detector,
            Err(e) => return LeadershipLost::DetectFailed(e.to_string()),
        };
        let mut detected = detector.leader();
        let mut recovery = Some(recovery);
        let mut elected = false;
        let mut contender: Option<MasterContender> = None;
        let mut contending = Some(self.contend(&own));
        loop {
            tokio::select! {
                joined = async { match contending.as_mut() { Some(f) => f.await, None => std::future::pending().await } } => {
                    contending = None;
                    match joined {
                        Ok(joined) => {
                            info!("Contending for leadership as {}", joined.znode());
                            contender = Some(joined);
                        }
                        Err(e) => return LeadershipLost::ContendFailed(e.to_string()),
                    }
                }
                lost = async { match contender.as_mut() { Some(c) => c.lost().await, None => std::future::pending().await } } => {
                    contender = None;
                    if elected {
                        return LeadershipLost::Lost(format!("candidacy lost: {lost}"));
                    }
                    info!("Lost candidacy as a follower ({lost})... Attempting to get elected");
                    contending = Some(self.contend(&own));
                }
                changed = detected.changed() => {
                    if changed.is_err() {
                        return LeadershipLost::DetectFailed("the detector stopped".into());
                    }
                    let leader = detected.borrow_and_update().clone();
                    match leader {
                        Some(leader) if leader.id == own.id => {
                            if elected {
                                continue;
                            }
                            elected = true;
                            info!("Elected as the leading master!");
                            leadership.send_replace(Leadership::Recovering);
                            let Some(recover) = recovery.take() else { continue };
                            // The leader may change while we recover.
                            let recovered = tokio::select! {
                                result = recover() => result,
                                _ = detected.changed() => {
                                    return LeadershipLost::Lost("leadership changed during recovery".into());
                                }
                            };
                            if let Err(e) = recovered {
                                return LeadershipLost::RecoveryFailed(e);
                            }
                            info!("Recovered; leading");
                            leadership.send_replace(Leadership::Leading);
                        }
                        other => {
                            if elected {
                                let now = match &other {
                                    Some(l) => format!("the new leader is {}", l.pid.as_deref().unwrap_or(&l.id)),
                                    None => "no leader is detected".into(),
                                };
                                return LeadershipLost::Lost(now);
                            }
                            match &other {
                                Some(l) => info!("The newly elected leader is {} with id {}", l.pid.as_deref().unwrap_or("?"), l.id),
                                None => warn!("No leading master is detected"),
                            }
                            leadership.send_replace(Leadership::Following(other.map(|l| Box::new(v1(&l)))));
                        }
                    }
                }
            }
        }
    }

    fn contend(
        &self,
        own: &mesos_proto::mesos::MasterInfo,
    ) -> Pin<Box<dyn Future<Output = Result<MasterContender, mesos_detector::Error>> + Send>> {
        let zk = self.zk.clone();
        let own = own.clone();
        let timeout = self.session_timeout;
        Box::pin(async move { MasterContender::contend(&zk, &own, timeout).await })
    }
}

/// Forwards libprocess messages to the actor only while this master leads;
/// a standby (or recovering, or deposed) master drops them, as upstream's
/// does, so senders retry against the real leader.
pub fn gate(
    mut incoming: mpsc::UnboundedReceiver<Message>,
    actor: mpsc::UnboundedSender<Message>,
    leadership: watch::Receiver<Leadership>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(message) = incoming.recv().await {
            let leading = matches!(*leadership.borrow(), Leadership::Leading);
            if leading {
                if actor.send(message).is_err() {
                    return;
                }
            } else {
                debug!(
                    "Dropping '{}' message from {}: this master is not the leader",
                    message.name, message.from
                );
            }
        }
    })
}

// v0 and v1 `MasterInfo` are the same message on the wire.
fn v0(info: &MasterInfo) -> mesos_proto::mesos::MasterInfo {
    mesos_proto::mesos::MasterInfo::decode(info.encode_to_vec().as_slice()).unwrap_or_default()
}

fn v1(info: &mesos_proto::mesos::MasterInfo) -> MasterInfo {
    MasterInfo::decode(info.encode_to_vec().as_slice()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(name: &str) -> Message {
        Message {
            from: "slave(1)@127.0.0.1:5051".parse().unwrap(),
            to: "master".into(),
            name: name.into(),
            body: Default::default(),
        }
    }

    // A standby (or recovering) master drops what agents and frameworks
    // send; only the leader's actor sees messages.
    #[tokio::test]
    async fn gate_passes_messages_only_while_leading() {
        let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
        let (actor_tx, mut actor_rx) = mpsc::unbounded_channel();
        let (leadership, leadership_rx) = watch::channel(Leadership::Following(None));
        gate(incoming_rx, actor_tx, leadership_rx);
        // On this single-threaded runtime yielding lets the gate drain
        // what was sent before leadership changes again.
        let settle = || async {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
        };

        incoming_tx.send(message("dropped-following")).unwrap();
        settle().await;
        leadership.send_replace(Leadership::Recovering);
        incoming_tx.send(message("dropped-recovering")).unwrap();
        settle().await;
        leadership.send_replace(Leadership::Leading);
        incoming_tx.send(message("delivered")).unwrap();
        assert_eq!(actor_rx.recv().await.unwrap().name, "delivered");

        leadership.send_replace(Leadership::Following(None));
        incoming_tx.send(message("dropped-deposed")).unwrap();
        drop(incoming_tx);
        assert!(actor_rx.recv().await.is_none(), "nothing after deposition");
    }

    #[test]
    fn master_info_survives_the_v0_round_trip() {
        let pid: libprocess::Upid = "master@127.0.0.1:5050".parse().unwrap();
        let info = crate::master_info(&pid, "localhost");
        assert_eq!(v1(&v0(&info)), info);
    }
}
