//! The actor against its registrar, on paused tokio time: acting only
//! after commit, batching, a failed write ending leadership, recovery of
//! agents from the registry (the re-register window, its timeout and the
//! removal limit) and MARK_AGENT_GONE. Time only moves when every task is
//! idle, so `settle` is a real barrier, and the 10-minute re-register
//! timeout passes in an instant.

use std::time::Duration;

use mesos_proto::mesos::internal::registry::{Slave, Slaves};
use mesos_proto::mesos::internal::{
    Registry, ReregisterSlaveMessage, ShutdownMessage, SlaveRegisteredMessage,
    SlaveReregisteredMessage,
};
use mesos_proto::mesos::v1::scheduler::event::Type as EventType;
use mesos_proto::mesos::v1::TaskState;
use mesos_proto::mesos::{self as v0};
use mesos_proto::resources::Resources;
use prost::Name;
use serde_json::{json, Value};

use super::tests::{framework_info, next_of, register_message};
use super::MarkGoneError;
use crate::testing::{call, spawn_master, start_master_with, FakeAgent, Stream, TestStore};
use crate::Running;

/// Lets every runnable task finish: with time paused, a sleep only
/// returns once the runtime has nothing else to do.
pub(super) async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Waits (in virtual time) until the master's snapshot satisfies `check`.
pub(super) async fn wait_until(
    master: &Running,
    what: &str,
    check: impl Fn(&crate::snapshot::Snapshot) -> bool,
) {
    for _ in 0..600 {
        if check(&*master.handle.snapshot().await) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Hands the agent to a task that answers the master's pings, so it stays
/// healthy while virtual minutes pass.
pub(super) fn keep_alive(mut agent: FakeAgent) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(message) = agent.messages.recv().await {
            if message.name == mesos_proto::mesos::internal::PingSlaveMessage::full_name() {
                agent.transport.send(
                    &agent.pid,
                    &message.from,
                    "mesos.internal.PongSlaveMessage",
                    bytes::Bytes::new(),
                );
            }
        }
    })
}

pub(super) fn counter(master: &crate::snapshot::Snapshot, name: &str) -> f64 {
    master.metrics.get(name).copied().unwrap_or(-1.0)
}

/// A registry as a previous leader left it, with these agents admitted.
fn registry_with(agents: &[v0::SlaveInfo]) -> Registry {
    Registry {
        slaves: Some(Slaves {
            slaves: agents
                .iter()
                .map(|info| Slave {
                    info: info.clone(),
                    ..Default::default()
                })
                .collect(),
        }),
        ..Default::default()
    }
}

fn agent_info(agent: &FakeAgent, id: &str) -> v0::SlaveInfo {
    let mut info = register_message(agent).slave;
    info.id = Some(v0::SlaveId { value: id.into() });
    info
}

fn framework(id: &str, partition_aware: bool) -> v0::FrameworkInfo {
    v0::FrameworkInfo {
        user: "root".into(),
        name: "test-framework".into(),
        id: Some(v0::FrameworkId { value: id.into() }),
        failover_timeout: Some(600.0),
        capabilities: if partition_aware {
            vec![v0::framework_info::Capability {
                r#type: Some(v0::framework_info::capability::Type::PartitionAware as i32),
            }]
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

/// What an agent that ran `task_id` for `framework_id` sends after a
/// master failover.
fn reregistration(
    agent: &FakeAgent,
    agent_id: &str,
    framework: v0::FrameworkInfo,
    task_id: &str,
) -> ReregisterSlaveMessage {
    let mut resources = Resources::parse("cpus:1;mem:64", "*").unwrap().to_v0();
    for r in &mut resources {
        r.allocation_info = Some(v0::resource::AllocationInfo {
            role: Some("*".into()),
        });
    }
    let register = register_message(agent);
    ReregisterSlaveMessage {
        slave: agent_info(agent, agent_id),
        tasks: vec![v0::Task {
            name: task_id.into(),
            task_id: v0::TaskId {
                value: task_id.into(),
            },
            framework_id: framework.id.clone().unwrap(),
            slave_id: v0::SlaveId {
                value: agent_id.into(),
            },
            state: v0::TaskState::TaskRunning as i32,
            resources,
            ..Default::default()
        }],
        frameworks: vec![framework],
        version: Some("1.11.0".into()),
        agent_capabilities: register.agent_capabilities,
        ..Default::default()
    }
}

/// Subscribes a framework that already has an id (a scheduler coming back
/// after a master failover).
async fn resubscribed(master: &Running, framework_id: &str, partition_aware: bool) -> Stream {
    let mut info = framework_info(json!({"failover_timeout": 600.0}));
    info["id"] = json!({ "value": framework_id });
    if partition_aware {
        info["capabilities"] = json!([{"type": "PARTITION_AWARE"}]);
    }
    let mut stream = crate::testing::subscribe(
        master.local_addr,
        &json!({"type": "SUBSCRIBE", "framework_id": {"value": framework_id},
                "subscribe": {"framework_info": info}}),
    )
    .await;
    assert_eq!(stream.status, 200);
    next_of(&mut stream, EventType::Subscribed).await;
    stream
}

async fn reconcile(master: &Running, stream: &Stream, framework_id: &str, tasks: Value) {
    let body = json!({"type": "RECONCILE", "framework_id": {"value": framework_id},
                      "reconcile": {"tasks": tasks}});
    assert_eq!(
        call(master.local_addr, Some(&stream.stream_id()), &body)
            .await
            .status,
        202
    );
}

async fn next_update(stream: &mut Stream) -> mesos_proto::mesos::v1::TaskStatus {
    next_of(stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status
}

// ---- election -------------------------------------------------------------

// Upstream's `master/elected` is `Master::elected()`: 0 on a contender that
// was not elected, 1 from the moment the election names this master, while
// its registry is still being recovered (not only once recovery finished).
#[tokio::test(start_paused = true)]
async fn elected_is_set_by_the_election_before_recovery_finishes() {
    let store = TestStore::with(&Registry::default()).await;
    store.hold_fetches();
    // Its ZooKeeper never answers, so this contender is never elected.
    let master = spawn_master(&["--zk=zk://127.0.0.1:1/mesos"], store.clone()).await;
    settle().await;
    assert_eq!(master.handle.metrics().await["master/elected"], 0.0);
    assert_eq!(master.handle.snapshot().await.elected_time, None);

    // Upon election the leadership code recovers the registry; its fetch
    // is held, so the master is elected but not yet recovered.
    let handle = master.handle.clone();
    let recovery = tokio::spawn(async move { handle.recover().await });
    let mut elected = false;
    for _ in 0..100 {
        if master.handle.metrics().await["master/elected"] == 1.0 {
            elected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(elected, "master/elected stayed 0 after the election");
    assert!(
        !recovery.is_finished(),
        "recovery finished with its fetch held"
    );
    assert!(master.handle.snapshot().await.elected_time.is_some());
    // Still recovering: framework calls are refused.
    let refused = master
        .handle
        .call(
            mesos_proto::mesos::v1::scheduler::Call {
                r#type: Some(mesos_proto::mesos::v1::scheduler::call::Type::Teardown as i32),
                framework_id: Some(mesos_proto::mesos::v1::FrameworkId { value: "f".into() }),
                ..Default::default()
            },
            None,
            None,
        )
        .await;
    assert!(matches!(refused, Err(super::CallError::NotRecovered)));

    store.release_fetches(1);
    recovery.await.unwrap().expect("recovers");
    assert_eq!(master.handle.metrics().await["master/elected"], 1.0);
}

// ---- acting after commit --------------------------------------------------

// Upstream `registerSlave` → `__registerSlave`: nothing is acted on while the
// admit is being written.
#[tokio::test(start_paused = true)]
async fn registration_is_acted_on_only_after_admit_committed() {
    let store = TestStore::with(&Registry::default()).await;
    let master = start_master_with(&[], store.clone()).await;
    let mut agent = FakeAgent::start().await;
    store.hold_writes();
    agent.send(&master.pid, &register_message(&agent));
    // Recovery wrote once; the admit is the second write.
    store.wait_for_writes(2).await;
    settle().await;
    let snapshot = master.handle.snapshot().await;
    assert!(snapshot.agents.is_empty());
    assert_eq!(counter(&snapshot, "master/slave_registrations"), 0.0);
    assert!(
        agent.messages.try_recv().is_err(),
        "agent told before commit"
    );

    store.release(1);
    let (_, registered) = agent.expect::<SlaveRegisteredMessage>().await;
    let snapshot = master.handle.snapshot().await;
    assert_eq!(snapshot.agents.len(), 1);
    let registry = store.registry().await;
    assert_eq!(
        registry.slaves.unwrap().slaves[0].info.id,
        Some(registered.slave_id)
    );
}

// Registrations arriving while a write is in flight share one write.
#[tokio::test(start_paused = true)]
async fn registrations_during_a_write_go_in_one_batch() {
    let store = TestStore::with(&Registry::default()).await;
    let master = start_master_with(&[], store.clone()).await;
    let mut agents = Vec::new();
    for n in 0..5 {
        agents.push(FakeAgent::start_as(&format!("slave({})", n + 1)).await);
    }
    store.hold_writes();
    agents[0].send(&master.pid, &register_message(&agents[0]));
    store.wait_for_writes(2).await;
    for agent in &agents[1..] {
        agent.send(&master.pid, &register_message(agent));
    }
    settle().await;
    store.release(10);
    for agent in &mut agents {
        agent.expect::<SlaveRegisteredMessage>().await;
    }
    // Recovery, the first admit, then the other four together.
    assert_eq!(store.writes(), 3);
    assert_eq!(store.registry().await.slaves.unwrap().slaves.len(), 5);
}

// Upstream aborts the master when a registry write fails; ours stops the
// actor, never acting on the failed operation.
#[tokio::test(start_paused = true)]
async fn registry_write_failure_aborts_master() {
    let store = TestStore::with(&Registry::default()).await;
    let mut master = start_master_with(&[], store.clone()).await;
    let mut agent = FakeAgent::start().await;
    store.fail_writes();
    agent.send(&master.pid, &register_message(&agent));
    (&mut master.actor).await.expect("actor ends cleanly");
    settle().await;
    assert!(
        agent.messages.try_recv().is_err(),
        "agent told about a failed admit"
    );
    assert!(master.handle.recover().await.is_err());
    assert!(store.registry().await.slaves.is_none());
}

// ---- recovery ---------------------------------------------------------------

// Upstream MasterTest.RecoveredSlaves: agents of the registry are listed as
// recovered; explicit reconciliation of their tasks is answered with
// nothing, and after --agent_reregister_timeout they are unreachable.
#[tokio::test(start_paused = true)]
async fn recovered_slaves_timeout() {
    let agent = FakeAgent::start().await;
    let store = TestStore::with(&registry_with(&[agent_info(&agent, "old-agent")])).await;
    let master = start_master_with(&[], store.clone()).await;
    let snapshot = master.handle.snapshot().await;
    assert_eq!(snapshot.recovered_agents.len(), 1);
    assert_eq!(
        snapshot.recovered_agents[0].id.as_ref().unwrap().value,
        "old-agent"
    );

    let mut stream = resubscribed(&master, "old-framework", false).await;
    // The first task is on the recovered agent: no answer. The second one's
    // answer proves the first was handled (events are in order).
    reconcile(
        &master,
        &stream,
        "old-framework",
        json!([{"task_id": {"value": "running"}, "agent_id": {"value": "old-agent"}},
               {"task_id": {"value": "other"}, "agent_id": {"value": "no-such-agent"}}]),
    )
    .await;
    let status = next_update(&mut stream).await;
    assert_eq!(status.task_id.value, "other");
    assert_eq!(status.state, TaskState::TaskLost as i32);
    // Without an agent id nothing is answered while any agent is missing.
    reconcile(
        &master,
        &stream,
        "old-framework",
        json!([{"task_id": {"value": "running"}}]),
    )
    .await;
    reconcile(
        &master,
        &stream,
        "old-framework",
        json!([{"task_id": {"value": "third"}, "agent_id": {"value": "no-such-agent"}}]),
    )
    .await;
    assert_eq!(next_update(&mut stream).await.task_id.value, "third");

    // Ten minutes later the agent is marked unreachable.
    tokio::time::sleep(Duration::from_secs(600)).await;
    wait_until(&master, "recovered agent marked unreachable", |s| {
        s.recovered_agents.is_empty() && s.unreachable_agents == 1
    })
    .await;
    let failure = next_of(&mut stream, EventType::Failure).await;
    assert_eq!(
        failure.failure.unwrap().agent_id.unwrap().value,
        "old-agent"
    );
    let snapshot = master.handle.snapshot().await;
    assert_eq!(counter(&snapshot, "master/recovery_slave_removals"), 1.0);
    let registry = store.registry().await;
    assert!(registry.slaves.unwrap_or_default().slaves.is_empty());
    assert_eq!(
        registry.unreachable.unwrap().slaves[0].id.value,
        "old-agent"
    );
    // Now reconciliation answers: the task's agent is unreachable.
    reconcile(
        &master,
        &stream,
        "old-framework",
        json!([{"task_id": {"value": "running"}, "agent_id": {"value": "old-agent"}}]),
    )
    .await;
    let status = next_update(&mut stream).await;
    assert_eq!(status.task_id.value, "running");
    assert_eq!(status.state, TaskState::TaskLost as i32);
    assert_eq!(
        status.message.as_deref(),
        Some("Reconciliation: Task is unreachable")
    );
}

// Upstream MasterTest.RecoveredSlaveReregisters: a recovered agent comes
// back with its tasks; the framework hears nothing about them (no
// TASK_LOST), and reconciliation then reports them RUNNING.
#[tokio::test(start_paused = true)]
async fn recovered_slave_reregisters() {
    let mut agent = FakeAgent::start().await;
    let store = TestStore::with(&registry_with(&[agent_info(&agent, "old-agent")])).await;
    let master = start_master_with(&[], store.clone()).await;
    let mut stream = resubscribed(&master, "old-framework", false).await;

    // Unchanged info: readmitted without a registry write (MESOS-7711).
    let writes = store.writes();
    agent.send(
        &master.pid,
        &reregistration(
            &agent,
            "old-agent",
            framework("old-framework", false),
            "running",
        ),
    );
    let (_, reregistered) = agent.expect::<SlaveReregisteredMessage>().await;
    assert_eq!(reregistered.slave_id.value, "old-agent");
    assert_eq!(store.writes(), writes);

    reconcile(
        &master,
        &stream,
        "old-framework",
        json!([{"task_id": {"value": "running"}, "agent_id": {"value": "old-agent"}}]),
    )
    .await;
    // The first update on the stream is the reconciliation's RUNNING:
    // nothing (no LOST, no "agent reregistered") came before it.
    let status = next_update(&mut stream).await;
    assert_eq!(status.task_id.value, "running");
    assert_eq!(status.state, TaskState::TaskRunning as i32);
    let snapshot = master.handle.snapshot().await;
    assert!(snapshot.recovered_agents.is_empty());
    assert_eq!(snapshot.agents.len(), 1);

    // The timeout finds nobody to remove.
    let _alive = keep_alive(agent);
    tokio::time::sleep(Duration::from_secs(601)).await;
    settle().await;
    let snapshot = master.handle.snapshot().await;
    assert_eq!(snapshot.agents.len(), 1);
    assert_eq!(snapshot.unreachable_agents, 0);
    assert_eq!(counter(&snapshot, "master/recovery_slave_removals"), 0.0);
}

// `--recovery_agent_removal_limit`: when more of the registry's agents are
// missing than the limit allows, the master gives up leading instead of
// marking them unreachable (upstream exits).
#[tokio::test(start_paused = true)]
async fn recovered_slaves_removal_limit_exceeded_aborts() {
    let one = FakeAgent::start_as("slave(1)").await;
    let two = FakeAgent::start_as("slave(2)").await;
    let mut three = FakeAgent::start_as("slave(3)").await;
    let store = TestStore::with(&registry_with(&[
        agent_info(&one, "a1"),
        agent_info(&two, "a2"),
        agent_info(&three, "a3"),
    ]))
    .await;
    let mut master =
        start_master_with(&["--recovery_agent_removal_limit=50%"], store.clone()).await;
    let mut message = reregistration(&three, "a3", framework("f", false), "t");
    message.tasks.clear();
    message.frameworks.clear();
    three.send(&master.pid, &message);
    three.expect::<SlaveReregisteredMessage>().await;
    let _alive = keep_alive(three);
    // Two of three (67%) never come back.
    tokio::time::sleep(Duration::from_secs(601)).await;
    (&mut master.actor).await.expect("actor ends cleanly");
    let registry = store.registry().await;
    assert_eq!(registry.slaves.unwrap().slaves.len(), 3);
    assert!(registry.unreachable.is_none());
}

// Within the limit the missing agent is marked unreachable.
#[tokio::test(start_paused = true)]
async fn recovered_slaves_within_removal_limit_are_marked_unreachable() {
    let one = FakeAgent::start_as("slave(1)").await;
    let mut two = FakeAgent::start_as("slave(2)").await;
    let store = TestStore::with(&registry_with(&[
        agent_info(&one, "a1"),
        agent_info(&two, "a2"),
    ]))
    .await;
    let master = start_master_with(&["--recovery_agent_removal_limit=50%"], store.clone()).await;
    let mut message = reregistration(&two, "a2", framework("f", false), "t");
    message.tasks.clear();
    message.frameworks.clear();
    two.send(&master.pid, &message);
    two.expect::<SlaveReregisteredMessage>().await;
    let _alive = keep_alive(two);
    tokio::time::sleep(Duration::from_secs(601)).await;
    wait_until(&master, "a1 unreachable", |s| s.unreachable_agents == 1).await;
    assert!(!master.actor.is_finished());
    let registry = store.registry().await;
    assert_eq!(registry.unreachable.unwrap().slaves[0].id.value, "a1");
}

// ---- MARK_AGENT_GONE ------------------------------------------------------

// Upstream MasterAPITest.MarkRegisteredAgentGone and TaskUpdatesUponAgentGone:
// the agent is shut down, partition-aware frameworks get
// TASK_GONE_BY_OPERATOR (others TASK_LOST), and a returning agent is refused.
#[tokio::test(start_paused = true)]
async fn task_updates_upon_agent_gone() {
    let mut agent = FakeAgent::start().await;
    let store = TestStore::with(&Registry::default()).await;
    let master = start_master_with(&[], store.clone()).await;
    let mut aware = resubscribed(&master, "aware", true).await;
    let mut unaware = resubscribed(&master, "unaware", false).await;
    let mut message = reregistration(&agent, "gone-agent", framework("aware", true), "t1");
    let other = reregistration(&agent, "gone-agent", framework("unaware", false), "t2");
    message.tasks.extend(other.tasks);
    message.frameworks.extend(other.frameworks);
    agent.send(&master.pid, &message);
    agent.expect::<SlaveReregisteredMessage>().await;
    // Unknown agent re-registered: its tasks are reported as they are.
    assert_eq!(
        next_update(&mut aware).await.state,
        TaskState::TaskRunning as i32
    );
    assert_eq!(
        next_update(&mut unaware).await.state,
        TaskState::TaskRunning as i32
    );

    store.hold_writes();
    let handle = master.handle.clone();
    let marking = tokio::spawn(async move { handle.mark_agent_gone("gone-agent").await });
    let writes = store.writes();
    store.wait_for_writes(writes + 1).await;
    // While the write is pending, a second request is refused.
    assert_eq!(
        master.handle.mark_agent_gone("gone-agent").await,
        Err(MarkGoneError::AlreadyMarkingGone("gone-agent".into()))
    );
    settle().await;
    assert!(!marking.is_finished());
    assert_eq!(master.handle.snapshot().await.agents.len(), 1);
    store.release(1);
    assert_eq!(marking.await.unwrap(), Ok(()));

    let (_, shutdown) = agent.expect::<ShutdownMessage>().await;
    assert_eq!(
        shutdown.message.as_deref(),
        Some("Agent has been marked gone")
    );
    let status = next_update(&mut aware).await;
    assert_eq!(status.task_id.value, "t1");
    assert_eq!(status.state, TaskState::TaskGoneByOperator as i32);
    let status = next_update(&mut unaware).await;
    assert_eq!(status.task_id.value, "t2");
    assert_eq!(status.state, TaskState::TaskLost as i32);
    let registry = store.registry().await;
    assert_eq!(registry.gone.unwrap().slaves[0].id.value, "gone-agent");
    assert!(master.handle.snapshot().await.agents.is_empty());

    // Marking again is a no-op; an unknown agent is not found.
    assert_eq!(master.handle.mark_agent_gone("gone-agent").await, Ok(()));
    assert_eq!(
        master.handle.mark_agent_gone("nobody").await,
        Err(MarkGoneError::NotFound("nobody".into()))
    );

    // The agent comes back: refused.
    agent.send(&master.pid, &message);
    let (_, shutdown) = agent.expect::<ShutdownMessage>().await;
    assert_eq!(
        shutdown.message.as_deref(),
        Some("Agent has been marked gone")
    );
    // And reconciliation reports the task gone.
    reconcile(
        &master,
        &aware,
        "aware",
        json!([{"task_id": {"value": "t1"}, "agent_id": {"value": "gone-agent"}}]),
    )
    .await;
    assert_eq!(
        next_update(&mut aware).await.state,
        TaskState::TaskGoneByOperator as i32
    );
}

// Upstream MasterAPITest.UnreachableAgentMarkedGone: an agent recovered from
// the registry can be marked gone before it returns, and is refused then.
#[tokio::test(start_paused = true)]
async fn recovered_agent_marked_gone_is_refused_on_return() {
    let mut agent = FakeAgent::start().await;
    let store = TestStore::with(&registry_with(&[agent_info(&agent, "old-agent")])).await;
    let master = start_master_with(&[], store.clone()).await;
    assert_eq!(master.handle.mark_agent_gone("old-agent").await, Ok(()));
    assert!(master.handle.snapshot().await.recovered_agents.is_empty());
    agent.send(
        &master.pid,
        &reregistration(&agent, "old-agent", framework("f", false), "t"),
    );
    let (_, shutdown) = agent.expect::<ShutdownMessage>().await;
    assert_eq!(
        shutdown.message.as_deref(),
        Some("Agent has been marked gone")
    );
    settle().await;
    while let Ok(message) = agent.messages.try_recv() {
        assert_ne!(message.name, SlaveReregisteredMessage::full_name());
    }
}

// A standalone master is elected at once, but until it has read its
// registry it knows no agent. As upstream's, its v1 operator API answers
// 503 "Master has not finished recovery" then, while the read-only state
// endpoints serve what it has (no agent, none recovered); once it leads,
// both serve the recovered state.
#[tokio::test(start_paused = true)]
async fn v1_api_is_unavailable_until_a_standalone_master_recovered() {
    let agent = FakeAgent::start().await;
    let store = TestStore::with(&registry_with(&[agent_info(&agent, "old-agent")])).await;
    // Recovery records this master in the registry: holding that write
    // holds recovery.
    store.hold_writes();
    let master = crate::testing::spawn_master(&[], store.clone()).await;
    store.wait_for_writes(1).await;
    let get_state = || {
        crate::testing::http(
            master.local_addr,
            "POST",
            "/api/v1",
            &[("Content-Type", "application/json")],
            br#"{"type":"GET_STATE"}"#,
        )
    };
    let answer = get_state().await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert_eq!(answer.text(), "Master has not finished recovery");
    let recovered = |state: &Value| -> Vec<String> {
        state["recovered_slaves"]
            .as_array()
            .expect("recovered_slaves")
            .iter()
            .filter_map(|agent| agent["id"].as_str().map(str::to_string))
            .collect()
    };
    let answer = crate::testing::http(master.local_addr, "GET", "/master/state", &[], b"").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(recovered(&answer.json()).is_empty());

    store.release(1);
    let mut leadership = master.leadership.clone();
    leadership
        .wait_for(|l| *l == crate::http::Leadership::Leading)
        .await
        .expect("master leads");
    let answer = get_state().await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = crate::testing::http(master.local_addr, "GET", "/master/state", &[], b"").await;
    assert_eq!(answer.status, 200);
    assert_eq!(recovered(&answer.json()), ["old-agent"]);
}
