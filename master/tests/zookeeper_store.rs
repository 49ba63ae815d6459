//! The ZooKeeper registry store against a real ZooKeeper 3.8 (upstream
//! `RegistrarZooKeeperTest`): a registry far over ZooKeeper's 1 MB node
//! limit round-trips, a deposed leader's write fails on the version, and
//! the registry survives a ZooKeeper restart.

use bytes::Bytes;
use compat_tests::zookeeper::ZooKeeperServer;
use mesos_master::registry::{Store, ZooKeeperStore, ZooKeeperStoreOptions};
use mesos_proto::mesos::internal::registry::{Slave, Slaves};
use mesos_proto::mesos::internal::Registry;
use mesos_proto::mesos::{SlaveId, SlaveInfo};
use prost::Message as _;

fn big_registry(agents: usize) -> Bytes {
    let registry = Registry {
        slaves: Some(Slaves {
            slaves: (0..agents)
                .map(|n| Slave {
                    info: SlaveInfo {
                        hostname: format!("agent-{n}.a-rather-long-domain.example.com"),
                        id: Some(SlaveId {
                            value: format!("20261201-000000-16777343-5050-1234-S{n}"),
                        }),
                        resources: mesos_proto::resources::Resources::parse(
                            "cpus:32;mem:262144;disk:1048576;ports:[31000-32000]",
                            "*",
                        )
                        .expect("resources")
                        .to_v0(),
                        ..Default::default()
                    },
                    ..Default::default()
                })
                .collect(),
        }),
        ..Default::default()
    };
    Bytes::from(registry.encode_to_vec())
}

async fn store(zk: &ZooKeeperServer, path: &str) -> ZooKeeperStore {
    let mut options = ZooKeeperStoreOptions::new(zk.connect_string(), path);
    // Generous: the test machine is shared and the JVM slow to start.
    options.session_timeout = std::time::Duration::from_secs(30);
    ZooKeeperStore::connect(options).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_of_40000_agents_is_split_over_znodes() {
    // Built first: a long computation must not starve the session's task.
    let bytes = big_registry(40_000);
    let zk = ZooKeeperServer::start();
    let store = store(&zk, "/mesos/registry").await;
    let fetched = store.fetch().await.expect("fetch");
    assert!(fetched.bytes.is_empty());
    assert!(bytes.len() > 3_000_000, "only {} bytes", bytes.len());
    store
        .store(bytes.clone(), fetched.version)
        .await
        .expect("store")
        .expect("not stale");
    let again = store.fetch().await.expect("fetch");
    assert_eq!(again.bytes, bytes);
    let decoded = Registry::decode(again.bytes.as_ref()).expect("decodes");
    assert_eq!(decoded.slaves.expect("slaves").slaves.len(), 40_000);

    // Seen from a plain client: a manifest and its chunks, each under 1 MB.
    let client = zookeeper_client::Client::connect(&zk.connect_string())
        .await
        .expect("client");
    let children = client
        .list_children("/mesos/registry")
        .await
        .expect("children");
    assert!(children.len() >= 6, "{children:?}");
    for child in &children {
        let (data, _) = client
            .get_data(&format!("/mesos/registry/{child}"))
            .await
            .expect("chunk");
        assert!(data.len() <= 512 * 1024);
    }
    // A second store replaces the chunks rather than adding to them.
    store
        .store(big_registry(10), again.version)
        .await
        .expect("store")
        .expect("not stale");
    let children = client
        .list_children("/mesos/registry")
        .await
        .expect("children");
    assert_eq!(children.len(), 1, "{children:?}");
}

// Upstream RegistrarZooKeeperTest.TaskRunning's split-brain guard: once a
// new leader wrote, the old leader's write fails and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposed_leader_write_fails() {
    let zk = ZooKeeperServer::start();
    let old_leader = store(&zk, "/mesos/registry").await;
    let old = old_leader.fetch().await.expect("fetch");
    let new_leader = store(&zk, "/mesos/registry").await;
    let new = new_leader.fetch().await.expect("fetch");
    new_leader
        .store(Bytes::from_static(b"new"), new.version)
        .await
        .expect("store")
        .expect("new leader writes");
    assert_eq!(
        old_leader
            .store(Bytes::from_static(b"old"), old.version)
            .await
            .expect("store"),
        None
    );
    assert_eq!(&new_leader.fetch().await.expect("fetch").bytes[..], b"new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_survives_zookeeper_restart() {
    let mut zk = ZooKeeperServer::start();
    {
        let store = store(&zk, "/mesos/registry").await;
        let fetched = store.fetch().await.expect("fetch");
        store
            .store(big_registry(5_000), fetched.version)
            .await
            .expect("store")
            .expect("not stale");
    }
    zk.restart();
    let store = store(&zk, "/mesos/registry").await;
    assert_eq!(
        store.fetch().await.expect("fetch").bytes,
        big_registry(5_000)
    );
}
