//! `--agent_removal_rate_limit`, registry garbage collection and agent
//! health checks over faulty links, on paused tokio time with fake agents
//! that stop answering pings or whose pongs are delayed or partitioned.

use std::time::Duration;

use mesos_proto::mesos::internal::{Registry, SlaveRegisteredMessage};

use super::registry_tests::{counter, keep_alive, settle, wait_until};
use super::tests::register_message;
use crate::testing::{start_master_with, FakeAgent, TestStore};

/// Registers `agent`, which then answers nothing; returns its id.
async fn register_silent(master: &crate::Running, agent: &mut FakeAgent) -> String {
    agent.send(&master.pid, &register_message(agent));
    let (_, registered) = agent.expect::<SlaveRegisteredMessage>().await;
    registered.slave_id.value
}

// Upstream SlaveTest/PartitionTest with a removal rate limit: two agents
// fail their health checks at once; one permit per minute means the second
// waits its turn instead of going at the same moment.
#[tokio::test(start_paused = true)]
async fn agent_removal_rate_limit_paces_unreachable_transitions() {
    let store = TestStore::with(&Registry::default()).await;
    let master = start_master_with(
        &[
            "--agent_ping_timeout=1secs",
            "--max_agent_ping_timeouts=1",
            "--agent_removal_rate_limit=1/1mins",
        ],
        store.clone(),
    )
    .await;
    let mut one = FakeAgent::start_as("slave(1)").await;
    let mut two = FakeAgent::start_as("slave(2)").await;
    register_silent(&master, &mut one).await;
    register_silent(&master, &mut two).await;

    wait_until(&master, "the first agent unreachable", |s| {
        s.unreachable_agents == 1
    })
    .await;
    let snapshot = master.handle.snapshot().await;
    assert_eq!(snapshot.agents.len(), 1, "the second waits for its permit");
    assert_eq!(
        counter(&snapshot, "master/slave_unreachable_scheduled"),
        2.0
    );
    assert_eq!(
        counter(&snapshot, "master/slave_unreachable_completed"),
        1.0
    );

    tokio::time::sleep(Duration::from_secs(30)).await;
    settle().await;
    assert_eq!(master.handle.snapshot().await.agents.len(), 1);

    wait_until(&master, "the second agent unreachable", |s| {
        s.unreachable_agents == 2
    })
    .await;
    let snapshot = master.handle.snapshot().await;
    assert!(snapshot.agents.is_empty());
    assert_eq!(
        counter(&snapshot, "master/slave_unreachable_completed"),
        2.0
    );
    assert_eq!(store.registry().await.unreachable.unwrap().slaves.len(), 2);
}

// A pong that arrives while the agent waits for its permit cancels the
// transition (upstream `slave_unreachable_canceled`).
#[tokio::test(start_paused = true)]
async fn pong_cancels_a_rate_limited_unreachable_transition() {
    let store = TestStore::with(&Registry::default()).await;
    let master = start_master_with(
        &[
            "--agent_ping_timeout=1secs",
            "--max_agent_ping_timeouts=1",
            "--agent_removal_rate_limit=1/10mins",
        ],
        store.clone(),
    )
    .await;
    let mut one = FakeAgent::start_as("slave(1)").await;
    let mut two = FakeAgent::start_as("slave(2)").await;
    let first = register_silent(&master, &mut one).await;
    let second = register_silent(&master, &mut two).await;
    wait_until(&master, "one agent unreachable", |s| {
        s.unreachable_agents == 1
    })
    .await;
    let snapshot = master.handle.snapshot().await;
    let waiting = if snapshot.agents[0]
        .info
        .id
        .as_ref()
        .map(|i| i.value.as_str())
        == Some(first.as_str())
    {
        one
    } else {
        assert_eq!(
            snapshot.agents[0]
                .info
                .id
                .as_ref()
                .map(|i| i.value.as_str()),
            Some(second.as_str())
        );
        two
    };
    // The waiting agent answers again; its queued pings get their pongs.
    let _alive = keep_alive(waiting);
    wait_until(&master, "the transition cancelled", |s| {
        counter(s, "master/slave_unreachable_canceled") == 1.0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1200)).await;
    settle().await;
    let snapshot = master.handle.snapshot().await;
    assert_eq!(snapshot.agents.len(), 1);
    assert_eq!(snapshot.unreachable_agents, 1);
    assert_eq!(
        counter(&snapshot, "master/slave_unreachable_completed"),
        1.0
    );
}

// Upstream RegistryGcTest: unreachable entries older than
// `--registry_max_agent_age` leave the registry at the next collection,
// and the master forgets them too.
#[tokio::test(start_paused = true)]
async fn registry_gc_prunes_old_unreachable_agents() {
    let store = TestStore::with(&Registry::default()).await;
    let master = start_master_with(
        &[
            "--agent_ping_timeout=1secs",
            "--max_agent_ping_timeouts=1",
            "--registry_gc_interval=1mins",
            "--registry_max_agent_age=2mins",
        ],
        store.clone(),
    )
    .await;
    let mut agent = FakeAgent::start().await;
    register_silent(&master, &mut agent).await;
    wait_until(&master, "agent unreachable", |s| s.unreachable_agents == 1).await;
    assert_eq!(store.registry().await.unreachable.unwrap().slaves.len(), 1);

    // The collection a minute later keeps it: it is not old enough yet.
    tokio::time::sleep(Duration::from_secs(61)).await;
    settle().await;
    assert_eq!(master.handle.snapshot().await.unreachable_agents, 1);

    wait_until(&master, "agent pruned", |s| s.unreachable_agents == 0).await;
    let registry = store.registry().await;
    assert!(registry.unreachable.unwrap_or_default().slaves.is_empty());
}

// Upstream's health check counts a ping as failed only when no pong came
// within `--agent_ping_timeout`: pongs on a slow link (delayed, still in
// time) keep the agent; a partition of the same link makes it unreachable
// after `--max_agent_ping_timeouts` pings.
#[tokio::test(start_paused = true)]
async fn slow_pongs_keep_the_agent_and_a_partition_makes_it_unreachable() {
    let store = TestStore::with(&Registry::default()).await;
    let master = start_master_with(
        &["--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=2"],
        store.clone(),
    )
    .await;
    let faults = libprocess::Faults::new();
    let mut agent = FakeAgent::start_with_faults("slave(1)", &faults).await;
    let agent_address = agent.pid.address();
    register_silent(&master, &mut agent).await;
    faults.delay_messages(
        "mesos.internal.PongSlaveMessage",
        Duration::from_millis(700),
    );
    let _alive = keep_alive(agent);

    // A minute of slow pongs (virtual time): every ping is answered in time.
    tokio::time::sleep(Duration::from_secs(60)).await;
    settle().await;
    let snapshot = master.handle.snapshot().await;
    assert_eq!(snapshot.agents.len(), 1);
    assert_eq!(snapshot.unreachable_agents, 0);

    faults.partition(agent_address, master.pid.address());
    wait_until(&master, "the partitioned agent unreachable", |s| {
        s.unreachable_agents == 1
    })
    .await;
    assert!(master.handle.snapshot().await.agents.is_empty());
    assert_eq!(store.registry().await.unreachable.unwrap().slaves.len(), 1);
}
