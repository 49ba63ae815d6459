//! Detection of the leading master: a fixed address, or the lowest
//! sequence among the group's members in ZooKeeper.
//!
//! The detector owns its ZooKeeper session and publishes the current leader
//! on a watch channel. While ZooKeeper is unreachable the last leader stays
//! published until the session timeout passes; then the leader is `None`
//! ("no leader") until a new session reads the group again. It never falls
//! back to anything else.

use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

use mesos_proto::mesos::{Address, MasterInfo};
use prost::Message;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};
use zookeeper_client::{Client, EventType};

use crate::contender::{MASTER_INFO_JSON_LABEL, MASTER_INFO_LABEL};
use crate::session::{self, SessionEnd};
use crate::{Error, MasterUrl, ZkUrl};

/// Session timeout detectors use unless told otherwise (upstream's
/// `ZOOKEEPER_SESSION_TIMEOUT`).
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Watches who leads. Dropping it stops detection and closes its session.
pub struct MasterDetector {
    leader: watch::Receiver<Option<MasterInfo>>,
    task: Option<JoinHandle<()>>,
}

impl MasterDetector {
    /// Starts detecting. A standalone URL yields that master at once; a
    /// ZooKeeper URL is followed in a background task.
    pub fn start(url: &MasterUrl, session_timeout: Duration) -> Result<MasterDetector, Error> {
        match url {
            MasterUrl::Standalone(address) => {
                let info = standalone_info(address)?;
                let (tx, leader) = watch::channel(Some(info));
                // Keep the sender alive so receivers never see "closed".
                let task = tokio::spawn(async move {
                    tx.closed().await;
                });
                Ok(MasterDetector {
                    leader,
                    task: Some(task),
                })
            }
            MasterUrl::ZooKeeper(zk) => {
                let (tx, leader) = watch::channel(None);
                let task = tokio::spawn(detect(zk.clone(), session_timeout, tx));
                Ok(MasterDetector {
                    leader,
                    task: Some(task),
                })
            }
        }
    }

    /// The current leader (`None` while unknown). The channel closes only
    /// when detection failed for good (an unrecognized group member, a
    /// group we may not read); its last value is then `None`.
    pub fn leader(&self) -> watch::Receiver<Option<MasterInfo>> {
        self.leader.clone()
    }
}

impl Drop for MasterDetector {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `MasterInfo` for a fixed `host:port` master, as upstream's standalone
/// detector builds it from the UPID (the host resolved to an address).
pub fn standalone_info(address: &str) -> Result<MasterInfo, Error> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| Error::InvalidUrl(format!("Expecting 'host:port', got '{address}'")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| Error::InvalidUrl(format!("Invalid port in '{address}'")))?;
    let ip: IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) => (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| {
                let all: Vec<_> = addrs.by_ref().collect();
                all.iter()
                    .find(|a| a.is_ipv4())
                    .or(all.first())
                    .map(|a| a.ip())
            })
            .ok_or_else(|| Error::InvalidUrl(format!("Failed to resolve '{host}'")))?,
    };
    let pid = format!("master@{ip}:{port}");
    Ok(MasterInfo {
        id: pid.clone(),
        ip: match ip {
            IpAddr::V4(v4) => u32::from_ne_bytes(v4.octets()),
            IpAddr::V6(_) => 0,
        },
        port: u32::from(port),
        pid: Some(pid),
        hostname: Some(host.to_string()),
        version: None,
        address: Some(Address {
            hostname: Some(host.to_string()),
            ip: Some(ip.to_string()),
            port: i32::from(port),
        }),
        domain: None,
        capabilities: Vec::new(),
    })
}

/// A group member's znode name, split as upstream does: the sequence is the
/// token after the last `_`, the label what precedes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) label: Option<String>,
    pub(crate) sequence: i64,
}

pub(crate) fn parse_member(name: &str) -> Option<Member> {
    let (label, sequence) = match name.rsplit_once('_') {
        Some((label, sequence)) => (Some(label.to_string()), sequence),
        None => (None, name),
    };
    if sequence.is_empty() || !sequence.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sequence = sequence.parse().ok()?;
    Some(Member {
        name: name.to_string(),
        label,
        sequence,
    })
}

/// The leader among `children`: the lowest sequence, whatever its label.
pub(crate) fn lowest(children: &[String]) -> Option<Member> {
    children
        .iter()
        .filter_map(|child| parse_member(child))
        .min_by_key(|member| member.sequence)
}

/// Decodes a leader's znode data according to its label.
pub(crate) fn decode_member(member: &Member, data: &[u8]) -> Result<MasterInfo, Error> {
    match member.label.as_deref() {
        Some(MASTER_INFO_JSON_LABEL) => mesos_proto::json::decode::<MasterInfo>(data)
            .map_err(|e| Error::BadLeader(format!("Failed to parse {}: {e}", member.name))),
        Some(MASTER_INFO_LABEL) => MasterInfo::decode(data)
            .map_err(|e| Error::BadLeader(format!("Failed to parse {}: {e}", member.name))),
        // Before 0.24 a member held the master's raw UPID.
        None => {
            let pid = std::str::from_utf8(data)
                .map_err(|_| Error::BadLeader(format!("{} does not hold a UPID", member.name)))?
                .trim();
            let address = pid
                .split_once('@')
                .map(|(_, address)| address)
                .ok_or_else(|| {
                    Error::BadLeader(format!("{} holds '{pid}', not a UPID", member.name))
                })?;
            let mut info = standalone_info(address)?;
            info.pid = Some(pid.to_string());
            info.id = pid.to_string();
            Ok(info)
        }
        Some(other) => Err(Error::UnrecognizedLabel(format!(
            "Leading master's membership {} has an unrecognized label '{other}'",
            member.name
        ))),
    }
}

enum Round {
    /// The session ended; start a new one.
    SessionEnded(SessionEnd),
    /// Detection cannot go on.
    Failed(Error),
}

async fn detect(zk: ZkUrl, session_timeout: Duration, leader: watch::Sender<Option<MasterInfo>>) {
    loop {
        let client = match session::connect(&zk, session_timeout).await {
            Ok(client) => client,
            Err(error) => {
                error!("Master detection at {zk} failed: {error}");
                leader.send_replace(None);
                return;
            }
        };
        match follow(&zk, &client, session_timeout, &leader).await {
            Round::SessionEnded(end) => {
                if leader.send_replace(None).is_some() {
                    info!("Lost the leading master: ZooKeeper session ended ({end:?})");
                }
            }
            Round::Failed(error) => {
                error!("Master detection at {zk} failed: {error}");
                leader.send_replace(None);
                return;
            }
        }
    }
}

/// Follows the group for the lifetime of one session.
async fn follow(
    zk: &ZkUrl,
    client: &Client,
    session_timeout: Duration,
    leader: &watch::Sender<Option<MasterInfo>>,
) -> Round {
    let session_end = session::ended(client.state_watcher(), session_timeout);
    tokio::pin!(session_end);
    loop {
        // Either the children's watch or, while the group does not exist
        // yet, a watch on its creation.
        let step = async {
            match client.list_and_watch_children(&zk.path).await {
                Ok((children, watcher)) => {
                    let current = match lowest(&children) {
                        None => None,
                        Some(member) => match client.get_data(&zk.child(&member.name)).await {
                            Ok((data, _)) => match decode_member(&member, &data) {
                                Ok(info) => Some(info),
                                Err(error @ Error::UnrecognizedLabel(_)) => {
                                    return Err(Some(error))
                                }
                                Err(error) => {
                                    // Upstream keeps detecting past a bad node.
                                    warn!("{error}");
                                    None
                                }
                            },
                            // Gone between listing and reading: list again.
                            Err(zookeeper_client::Error::NoNode) => return Ok(None),
                            Err(zookeeper_client::Error::NoAuth) => {
                                return Err(Some(Error::ZooKeeper(format!(
                                    "Not authorized to read the group at {zk}"
                                ))))
                            }
                            Err(_) => return Err(None),
                        },
                    };
                    publish(leader, current);
                    Ok(Some(watcher))
                }
                Err(zookeeper_client::Error::NoNode) => {
                    publish(leader, None);
                    match client.check_and_watch_stat(&zk.path).await {
                        Ok((Some(_), _)) => Ok(None),
                        Ok((None, watcher)) => Ok(Some(watcher)),
                        Err(_) => Err(None),
                    }
                }
                Err(zookeeper_client::Error::NoAuth) => Err(Some(Error::ZooKeeper(format!(
                    "Not authorized to read the group at {zk}"
                )))),
                Err(_) => Err(None),
            }
        };
        let outcome = tokio::select! {
            end = &mut session_end => return Round::SessionEnded(end),
            outcome = step => outcome,
        };
        match outcome {
            Ok(Some(watcher)) => {
                tokio::select! {
                    end = &mut session_end => return Round::SessionEnded(end),
                    event = watcher.changed() => {
                        if event.event_type == EventType::Session {
                            // Connection trouble; the session watch decides.
                            tokio::select! {
                                end = &mut session_end => return Round::SessionEnded(end),
                                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                            }
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(Some(error)) => return Round::Failed(error),
            Err(None) => {
                // A request failed on a connection problem; wait for the
                // client to reconnect or the session to end.
                tokio::select! {
                    end = &mut session_end => return Round::SessionEnded(end),
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}

fn publish(leader: &watch::Sender<Option<MasterInfo>>, current: Option<MasterInfo>) {
    leader.send_if_modified(|previous| {
        if *previous == current {
            return false;
        }
        match &current {
            Some(info) => info!(
                "Detected a new leader: {} ({})",
                info.pid.as_deref().unwrap_or(&info.id),
                info.id
            ),
            None => info!("No leading master is elected"),
        }
        *previous = current;
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_sequence_leads_whatever_the_label() {
        let children: Vec<String> = [
            "json.info_0000000007",
            "info_0000000005",
            "log_replicas",
            "0000000009",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let member = lowest(&children).unwrap();
        assert_eq!(member.name, "info_0000000005");
        assert_eq!(member.label.as_deref(), Some("info"));
        assert_eq!(parse_member("0000000009").unwrap().label, None);
        assert!(parse_member("log_replicas").is_none());
        assert!(parse_member("json.info_").is_none());
    }

    #[test]
    fn decodes_every_upstream_member_format() {
        let info = standalone_info("127.0.0.1:5050").unwrap();
        let json = mesos_proto::json::encode(&info);
        let by_json = decode_member(
            &parse_member("json.info_0000000001").unwrap(),
            json.as_bytes(),
        )
        .unwrap();
        assert_eq!(by_json, info);
        let by_protobuf = decode_member(
            &parse_member("info_0000000001").unwrap(),
            &info.encode_to_vec(),
        )
        .unwrap();
        assert_eq!(by_protobuf, info);
        let by_pid = decode_member(
            &parse_member("0000000001").unwrap(),
            b"master@127.0.0.1:5050",
        )
        .unwrap();
        assert_eq!(by_pid.pid.as_deref(), Some("master@127.0.0.1:5050"));
        assert_eq!(by_pid.port, 5050);
        assert!(matches!(
            decode_member(&parse_member("other_0000000001").unwrap(), b"x"),
            Err(Error::UnrecognizedLabel(_))
        ));
    }
}
