//! The state store against a real ZooKeeper 3.8 (started per test, stopped
//! by pid): upstream's layout and compare-and-swap, races between two
//! sessions, digest ACLs, corrupt entries, and ZooKeeper going away and
//! coming back.

#[path = "../../compat-tests/src/zookeeper.rs"]
#[allow(dead_code)]
mod zookeeper;

use std::time::Duration;

use mesos_state::{
    Authentication, Entry, Error, State, Variable, ZooKeeperStorage, ZooKeeperStorageOptions,
};
use prost::Message;
use zookeeper::ZooKeeperServer;

fn state(zk: &ZooKeeperServer, znode: &str) -> State {
    state_with(zk, znode, None)
}

fn state_with(zk: &ZooKeeperServer, znode: &str, auth: Option<Authentication>) -> State {
    let mut options =
        ZooKeeperStorageOptions::new(zk.connect_string(), znode, Duration::from_secs(10));
    options.auth = auth;
    State::new(ZooKeeperStorage::new(options).expect("options"))
}

async fn raw_client(zk: &ZooKeeperServer) -> zookeeper_client::Client {
    zookeeper_client::Client::connect(&zk.connect_string())
        .await
        .expect("connect")
}

#[tokio::test]
async fn entries_are_znodes_holding_an_entry_and_store_swaps_on_the_uuid() {
    let zk = ZooKeeperServer::start();
    let state = state(&zk, "/frameworks/state/");
    assert!(state.names().await.expect("names").is_empty());

    let fresh = state.fetch("alpha").await.expect("fetch");
    assert!(fresh.value().is_empty());
    let one = state
        .store(&fresh.mutate(b"one".to_vec()))
        .await
        .expect("store")
        .expect("stored");
    assert_ne!(one.uuid(), fresh.uuid(), "a store gives a fresh uuid");

    // Upstream's layout: <znode>/<name> holds the serialized Entry.
    let client = raw_client(&zk).await;
    let (bytes, _) = client
        .get_data("/frameworks/state/alpha")
        .await
        .expect("znode");
    let entry = Entry::decode(bytes.as_slice()).expect("an Entry");
    assert_eq!(entry.name, "alpha");
    assert_eq!(entry.value, b"one");
    assert_eq!(entry.uuid, one.uuid());

    let fetched = state.fetch("alpha").await.expect("fetch");
    assert_eq!(fetched, one);

    // A stale variable (its entry has moved on) does not store.
    let two = state
        .store(&one.mutate(b"two".to_vec()))
        .await
        .expect("store")
        .expect("stored");
    assert_eq!(
        state
            .store(&one.mutate(b"x".to_vec()))
            .await
            .expect("store"),
        None
    );
    assert_eq!(
        state
            .store(&fresh.mutate(b"x".to_vec()))
            .await
            .expect("store"),
        None
    );
    assert_eq!(state.fetch("alpha").await.expect("fetch").value(), b"two");

    state
        .store(&state.fetch("beta").await.expect("fetch"))
        .await
        .expect("store");
    assert_eq!(state.names().await.expect("names"), ["alpha", "beta"]);

    // Expunge needs the current uuid as well.
    assert!(!state.expunge(&one).await.expect("expunge"));
    assert!(state.expunge(&two).await.expect("expunge"));
    assert!(!state.expunge(&two).await.expect("expunge"));
    assert!(state
        .fetch("alpha")
        .await
        .expect("fetch")
        .value()
        .is_empty());
    assert_eq!(state.names().await.expect("names"), ["beta"]);
}

#[tokio::test]
async fn two_sessions_racing_to_create_an_entry_one_wins() {
    let zk = ZooKeeperServer::start();
    let a = state(&zk, "/race");
    let b = state(&zk, "/race");
    let mine = a.fetch("x").await.expect("fetch");
    let theirs = b.fetch("x").await.expect("fetch");
    let (mine, theirs) = (mine.mutate(b"a".to_vec()), theirs.mutate(b"b".to_vec()));
    let (first, second) = tokio::join!(a.store(&mine), b.store(&theirs));
    let (first, second) = (first.expect("store"), second.expect("store"));
    assert!(
        first.is_some() != second.is_some(),
        "exactly one create wins: {first:?} {second:?}"
    );
    let winner = first.or(second).expect("a winner");
    assert_eq!(a.fetch("x").await.expect("fetch"), winner);
}

#[tokio::test]
async fn digest_credentials_make_entries_readable_by_all_writable_by_their_creator() {
    let zk = ZooKeeperServer::start();
    let auth = Authentication {
        scheme: "digest".into(),
        credentials: b"chronos:secret".to_vec(),
    };
    let owner = state_with(&zk, "/secure/state", Some(auth));
    let stored = owner
        .store(&owner.fetch("k").await.expect("fetch").mutate(b"v".to_vec()))
        .await
        .expect("store")
        .expect("stored");

    let anonymous = state(&zk, "/secure/state");
    let read = anonymous.fetch("k").await.expect("fetch");
    assert_eq!(read, stored);
    match anonymous.store(&read.mutate(b"w".to_vec())).await {
        Err(Error::ZooKeeper { reason, .. }) => {
            assert!(reason.contains("not authorized"), "{reason}")
        }
        other => panic!("anonymous write must be refused: {other:?}"),
    }
    let client = raw_client(&zk).await;
    let (acls, _) = client.get_acl("/secure/state/k").await.expect("acl");
    let schemes: Vec<(&str, bool)> = acls
        .iter()
        .map(|a| {
            (
                a.scheme(),
                a.permission() == zookeeper_client::Permission::ALL,
            )
        })
        .collect();
    assert!(schemes.contains(&("world", false)), "{acls:?}");
    assert!(schemes.contains(&("digest", true)), "{acls:?}");
}

#[tokio::test]
async fn a_corrupt_or_oversized_entry_is_an_error_not_a_panic() {
    let zk = ZooKeeperServer::start();
    let client = raw_client(&zk).await;
    let open =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    client.create("/bad", b"", &open).await.expect("create");
    client
        .create("/bad/junk", b"\xff\xff\xff", &open)
        .await
        .expect("create");
    let state = state(&zk, "/bad");
    assert!(matches!(
        state.fetch("junk").await,
        Err(Error::Corrupt { .. })
    ));
    let big = Variable::fresh("big").mutate(vec![7; mesos_state::MAX_ENTRY_SIZE + 1]);
    assert!(matches!(state.store(&big).await, Err(Error::TooBig)));
    assert!(matches!(
        state.fetch("a/b").await,
        Err(Error::InvalidName(_))
    ));
}

#[tokio::test]
async fn operations_ride_out_a_zookeeper_restart_and_fail_at_their_deadline_when_it_stays_down() {
    let mut zk = ZooKeeperServer::start();
    let mut options =
        ZooKeeperStorageOptions::new(zk.connect_string(), "/restart", Duration::from_secs(10));
    options.operation_timeout = Duration::from_secs(30);
    let state = std::sync::Arc::new(State::new(ZooKeeperStorage::new(options).expect("options")));
    let stored = state
        .store(&state.fetch("k").await.expect("fetch").mutate(b"v".to_vec()))
        .await
        .expect("store")
        .expect("stored");

    // The store is issued (polled once) while ZooKeeper is down; it must
    // neither finish nor fail then, and it must succeed once ZooKeeper is
    // back, without the caller retrying.
    zk.stop();
    let mutated = stored.mutate(b"w".to_vec());
    let mut pending = std::pin::pin!(state.store(&mutated));
    tokio::select! {
        biased;
        early = &mut pending => panic!("the store ended while ZooKeeper was down: {early:?}"),
        _ = std::future::ready(()) => {}
    }
    zk.restart();
    let after = pending.await.expect("store").expect("stored");
    assert_eq!(after.value(), b"w");
    assert_eq!(state.fetch("k").await.expect("fetch"), after);

    // Down for good: the operation fails at its deadline.
    zk.stop();
    let mut options =
        ZooKeeperStorageOptions::new(zk.connect_string(), "/restart", Duration::from_secs(2));
    options.operation_timeout = Duration::from_secs(2);
    let brief = State::new(ZooKeeperStorage::new(options).expect("options"));
    let started = std::time::Instant::now();
    match brief.fetch("k").await {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected a timeout: {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}
