//! Election and detection against a real ZooKeeper, ported from upstream's
//! ZooKeeperMasterContenderDetectorTest scenarios.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // only part of the shared harness is used here
#[path = "../../compat-tests/src/zookeeper.rs"]
mod zookeeper_server;

use std::time::Duration;

use mesos_detector::{parse_master, MasterContender, MasterDetector, MasterUrl, ZkUrl};
use mesos_proto::mesos::MasterInfo;
use prost::Message;
use tokio::sync::watch;
use tokio::time::timeout;
use zookeeper_client::{Acls, Client, CreateMode, SessionInfo};
use zookeeper_server::ZooKeeperServer;

const SESSION: Duration = Duration::from_secs(2);
const WAIT: Duration = Duration::from_secs(30);

fn url(server: &ZooKeeperServer) -> ZkUrl {
    ZkUrl::parse(&format!("zk://{}/mesos", server.connect_string())).unwrap()
}

fn master(port: u16) -> MasterInfo {
    let mut info = mesos_detector::standalone_info(&format!("10.0.0.1:{port}")).unwrap();
    info.id = format!("master-{port}");
    info.version = Some("1.11.0".into());
    info
}

fn detector(url: &ZkUrl) -> MasterDetector {
    MasterDetector::start(&MasterUrl::ZooKeeper(url.clone()), SESSION).unwrap()
}

async fn wait_leader(leader: &mut watch::Receiver<Option<MasterInfo>>, want: Option<&MasterInfo>) {
    let ok = matches!(
        timeout(WAIT, leader.wait_for(|current| current.as_ref() == want)).await,
        Ok(Ok(_))
    );
    assert!(
        ok,
        "leader never became {:?}; it is {:?}",
        want.map(|w| &w.id),
        leader.borrow().as_ref().map(|l| l.id.clone())
    );
}

/// Expires a session the way ZooKeeper tests do: a second client joins the
/// session and closes it.
/// A loaded machine can be slow to answer the join, so it waits longer
/// than the default and tries again on a timeout.
async fn expire(server: &ZooKeeperServer, session: SessionInfo) {
    for attempt in 1.. {
        let joined = Client::connector()
            .with_connection_timeout(Duration::from_secs(10))
            .with_session(session.clone())
            .connect(&server.connect_string())
            .await;
        match joined {
            Ok(client) => {
                drop(client);
                return;
            }
            Err(zookeeper_client::Error::Timeout) if attempt < 5 => continue,
            Err(e) => panic!("failed to join session {session:?} to expire it: {e}"),
        }
    }
}

/// Expires the contender's session until it reports the candidacy lost.
/// The join that closes the session races the contender's own reconnection
/// (each connection kicks the other off), so a close can be lost; another
/// join then closes it.
async fn expire_until_lost(
    server: &ZooKeeperServer,
    contender: &mut MasterContender,
) -> mesos_detector::CandidacyLost {
    for _ in 0..5 {
        expire(server, contender.session()).await;
        if let Ok(lost) = timeout(WAIT / 5, contender.lost()).await {
            return lost;
        }
    }
    panic!("the contender never lost its candidacy to an expired session");
}

async fn raw_client(server: &ZooKeeperServer) -> Client {
    Client::connect(&server.connect_string()).await.unwrap()
}

// A single contender gets elected; its znode is laid out as upstream's; an
// expired session loses the candidacy and leaves no leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_contender() {
    let server = ZooKeeperServer::start();
    let url = url(&server);
    let info = master(10000);
    let mut contender = MasterContender::contend(&url, &info, SESSION)
        .await
        .unwrap();
    assert_eq!(contender.znode(), "/mesos/json.info_0000000000");

    let zk = raw_client(&server).await;
    let children = zk.list_children("/mesos").await.unwrap();
    assert_eq!(children, vec!["json.info_0000000000".to_string()]);
    let (data, stat) = zk.get_data("/mesos/json.info_0000000000").await.unwrap();
    assert_ne!(
        stat.ephemeral_owner, 0,
        "the candidacy znode must be ephemeral"
    );
    let json: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(json["id"], "master-10000");
    assert_eq!(json["pid"], "master@10.0.0.1:10000");
    assert_eq!(json["port"], 10000);
    assert_eq!(json["address"]["ip"], "10.0.0.1");
    assert_eq!(json["ip"], u64::from(u32::from_ne_bytes([10, 0, 0, 1])));

    let detector = detector(&url);
    let mut leader = detector.leader();
    wait_leader(&mut leader, Some(&info)).await;

    let lost = expire_until_lost(&server, &mut contender).await;
    // Expiry removes the ephemeral znode too: whichever of the two events
    // arrives first ends the candidacy.
    assert!(
        matches!(
            lost,
            mesos_detector::CandidacyLost::Session(_) | mesos_detector::CandidacyLost::ZnodeDeleted
        ),
        "{lost:?}"
    );
    wait_leader(&mut leader, None).await;
}

// Two contenders: the first wins; when it goes away the second is elected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_contenders() {
    let server = ZooKeeperServer::start();
    let url = url(&server);
    let (info1, info2) = (master(10000), master(10001));
    let contender1 = MasterContender::contend(&url, &info1, SESSION)
        .await
        .unwrap();
    let detector1 = detector(&url);
    wait_leader(&mut detector1.leader(), Some(&info1)).await;

    let contender2 = MasterContender::contend(&url, &info2, SESSION)
        .await
        .unwrap();
    assert!(contender2.sequence() > contender1.sequence());
    let detector2 = detector(&url);
    let mut leader2 = detector2.leader();
    wait_leader(&mut leader2, Some(&info1)).await;

    // Closing the leader's session removes its znode at once.
    drop(contender1);
    wait_leader(&mut leader2, Some(&info2)).await;
}

// The leader's session expires: it learns that its candidacy is lost, and
// every detector, its own included, moves to the follower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_detector_expire_master_zk_session() {
    let server = ZooKeeperServer::start();
    let url = url(&server);
    let (leader_info, follower_info) = (master(10000), master(10001));
    let mut leader_contender = MasterContender::contend(&url, &leader_info, SESSION)
        .await
        .unwrap();
    let leader_detector = detector(&url);
    let mut seen_by_leader = leader_detector.leader();
    wait_leader(&mut seen_by_leader, Some(&leader_info)).await;

    let _follower_contender = MasterContender::contend(&url, &follower_info, SESSION)
        .await
        .unwrap();
    let follower_detector = detector(&url);
    wait_leader(&mut follower_detector.leader(), Some(&leader_info)).await;

    expire_until_lost(&server, &mut leader_contender).await;
    wait_leader(&mut seen_by_leader, Some(&follower_info)).await;
    wait_leader(&mut follower_detector.leader(), Some(&follower_info)).await;
}

// A ZooKeeper restarted within the session timeout keeps every session:
// nobody loses candidacy. Down longer than the timeout, everyone does and
// detectors report no leader; once it is back, contention and detection
// resume on their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contender_detector_zookeeper_restart() {
    let mut server = ZooKeeperServer::start();
    let url = url(&server);
    let info = master(10000);
    let session = Duration::from_secs(6);
    let mut contender = MasterContender::contend(&url, &info, session)
        .await
        .unwrap();
    let detector = MasterDetector::start(&MasterUrl::ZooKeeper(url.clone()), session).unwrap();
    let mut leader = detector.leader();
    wait_leader(&mut leader, Some(&info)).await;

    server.restart();
    // Give the clients time to reconnect, then check nothing changed.
    let raw = raw_client(&server).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        assert!(
            !contender.is_lost(),
            "a quick ZooKeeper restart lost the candidacy"
        );
        assert_eq!(leader.borrow().as_ref(), Some(&info));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(raw.list_children("/mesos").await.unwrap().len(), 1);
    drop(raw);

    server.stop();
    timeout(WAIT, contender.lost()).await.unwrap();
    wait_leader(&mut leader, None).await;

    server.restart();
    let contender = MasterContender::contend(&url, &info, session)
        .await
        .unwrap();
    wait_leader(&mut leader, Some(&info)).await;
    assert!(!contender.is_lost());
}

// ZooKeeper is down when the detector starts: no leader (never a fallback)
// until it comes up and a master is elected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_detector_zookeeper_down_at_start() {
    let mut server = ZooKeeperServer::start();
    let url = url(&server);
    server.stop();
    let detector = detector(&url);
    let mut leader = detector.leader();
    assert_eq!(*leader.borrow(), None);
    // Every leader the detector reports from now on, in order: a detector
    // that fell back to some leader while ZooKeeper was down would show it
    // here before the elected master.
    let seen = tokio::spawn({
        let mut leader = leader.clone();
        async move {
            let mut seen = Vec::new();
            while leader.changed().await.is_ok() {
                let now = leader.borrow_and_update().clone();
                let elected = now.is_some();
                seen.push(now);
                if elected {
                    break;
                }
            }
            seen
        }
    });

    // The contender is started while ZooKeeper is down: it keeps trying
    // (never gives up, never succeeds without ZooKeeper) and is elected
    // once ZooKeeper is back.
    let info = master(10000);
    let contend = tokio::spawn({
        let url = url.clone();
        let info = info.clone();
        async move { MasterContender::contend(&url, &info, SESSION).await }
    });
    server.restart();
    let _contender = timeout(WAIT, contend).await.unwrap().unwrap().unwrap();
    wait_leader(&mut leader, Some(&info)).await;
    let seen = timeout(WAIT, seen).await.unwrap().unwrap();
    let reported: Vec<_> = seen.iter().flatten().collect();
    assert_eq!(reported, vec![&info], "leaders reported: {seen:?}");
}

// Older masters' members are read too: a binary `info_` node and a bare
// UPID node, and the lowest sequence leads whatever its label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_detector_reads_older_members() {
    let server = ZooKeeperServer::start();
    let url = url(&server);
    let zk = raw_client(&server).await;
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    zk.create("/mesos", b"", &options).await.unwrap();
    let old = master(9999);
    let ephemeral = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    zk.create("/mesos/info_", &old.encode_to_vec(), &ephemeral)
        .await
        .unwrap();
    // Children whose last token is not a sequence are not members.
    zk.create("/mesos/log_replicas", b"", &options)
        .await
        .unwrap();

    let first = detector(&url);
    let mut leader = first.leader();
    wait_leader(&mut leader, Some(&old)).await;

    let new = master(10000);
    let _contender = MasterContender::contend(&url, &new, SESSION).await.unwrap();
    // Still the older, lower member: a detector that starts now reads both
    // members at once and must settle on it.
    let fresh = detector(&url);
    let mut fresh_leader = fresh.leader();
    wait_leader(&mut fresh_leader, Some(&old)).await;
    assert_eq!(leader.borrow().as_ref(), Some(&old));

    zk.delete("/mesos/info_0000000000", None).await.unwrap();
    wait_leader(&mut leader, Some(&new)).await;
}

// A group protected by credentials: the contender authenticates with the
// URL's digest and its znodes are readable by anyone, writable by it only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_contender_with_credentials() {
    let server = ZooKeeperServer::start();
    let url = ZkUrl::parse(&format!(
        "zk://member:secret@{}/mesos",
        server.connect_string()
    ))
    .unwrap();
    let info = master(10000);
    let contender = MasterContender::contend(&url, &info, SESSION)
        .await
        .unwrap();
    let zk = raw_client(&server).await;
    let (acl, _) = zk.get_acl(contender.znode()).await.unwrap();
    let schemes: Vec<(String, String)> = acl
        .iter()
        .map(|a| (a.scheme().to_string(), a.id().to_string()))
        .collect();
    assert!(
        schemes.contains(&("world".into(), "anyone".into())),
        "{schemes:?}"
    );
    assert!(
        schemes
            .iter()
            .any(|(scheme, id)| scheme == "digest" && id.starts_with("member:")),
        "{schemes:?}"
    );
    assert!(
        zk.delete(contender.znode(), None).await.is_err(),
        "others must not write our znode"
    );
    // An unauthenticated detector can still read who leads.
    let anonymous = ZkUrl::parse(&format!("zk://{}/mesos", server.connect_string())).unwrap();
    wait_leader(&mut detector(&anonymous).leader(), Some(&info)).await;
}

#[tokio::test]
async fn standalone_master_is_detected_at_once() {
    let url = parse_master("master@127.0.0.1:5050").unwrap();
    let detector = MasterDetector::start(&url, SESSION).unwrap();
    let leader = detector.leader().borrow().clone().unwrap();
    assert_eq!(leader.pid.as_deref(), Some("master@127.0.0.1:5050"));
    assert_eq!(leader.port, 5050);
}
