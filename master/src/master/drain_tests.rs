//! Draining and deactivation against a fake agent and an HTTP scheduler,
//! on paused tokio time (upstream `master_draining_tests.cpp`): the drain
//! message, the DRAINING → DRAINED transition once the kills are
//! acknowledged, marking gone, rescinded offers, reactivation, the registry
//! holding it all, and a new leader re-applying it when the agent
//! re-registers.

use mesos_proto::mesos::internal::registry::{Slave, Slaves};
use mesos_proto::mesos::internal::{
    DrainSlaveMessage, Registry, ReregisterSlaveMessage, RunTaskMessage, ShutdownMessage,
    SlaveRegisteredMessage, SlaveReregisteredMessage, StatusUpdateAcknowledgementMessage,
};
use mesos_proto::mesos::v1::scheduler::event::Type as EventType;
use mesos_proto::mesos::v1::TaskState;
use mesos_proto::mesos::{self as v0, slave_info, DrainConfig, DrainInfo, DrainState};
use serde_json::json;

use super::drain::DrainCommand;
use super::registry_tests::{keep_alive, wait_until};
use super::requests::OperationError;
use super::tests::{
    base64_of, first_offer, framework_info, next_of, register_message, status_update, subscribed,
};
use crate::testing::{call, start_master_with, FakeAgent, Stream, TestStore};
use crate::Running;

fn capable(agent: &FakeAgent) -> mesos_proto::mesos::internal::RegisterSlaveMessage {
    let mut message = register_message(agent);
    message.agent_capabilities.push(slave_info::Capability {
        r#type: Some(slave_info::capability::Type::AgentDraining as i32),
    });
    message
}

async fn register_capable(master: &Running, agent: &mut FakeAgent) -> String {
    agent.send(&master.pid, &capable(agent));
    agent
        .expect::<SlaveRegisteredMessage>()
        .await
        .1
        .slave_id
        .value
}

fn drain(agent_id: &str, grace_secs: Option<i64>, mark_gone: bool) -> DrainCommand {
    DrainCommand::Drain {
        agent_id: agent_id.into(),
        config: DrainConfig {
            max_grace_period: grace_secs.map(|s| v0::DurationInfo {
                nanoseconds: s * 1_000_000_000,
            }),
            mark_gone: Some(mark_gone),
        },
    }
}

fn registry_slave<'a>(registry: &'a Registry, agent_id: &str) -> Option<&'a Slave> {
    registry
        .slaves
        .iter()
        .flat_map(|s| &s.slaves)
        .find(|s| s.info.id.as_ref().is_some_and(|id| id.value == agent_id))
}

fn drain_state(master: &crate::snapshot::Snapshot) -> Option<i32> {
    master
        .agents
        .first()
        .and_then(|a| a.drain_info.as_ref())
        .map(|d| d.state)
}

/// Launches `task` on the agent's offer and has it RUNNING, acknowledged.
pub(super) async fn running_task(
    master: &Running,
    agent: &mut FakeAgent,
    agent_id: &str,
    stream: &mut Stream,
    framework_id: &str,
    task: &str,
) {
    let offer = next_of(stream, EventType::Offers)
        .await
        .offers
        .unwrap()
        .offers[0]
        .clone();
    let accept = json!({
        "type": "ACCEPT",
        "framework_id": {"value": framework_id},
        "accept": {
            "offer_ids": [{"value": offer.id.value}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                "name": task,
                "task_id": {"value": task},
                "agent_id": {"value": agent_id},
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}, "role": "*"}
                ],
                "command": {"value": "sleep 1000"}
            }]}}]
        }
    });
    assert_eq!(
        call(master.local_addr, Some(&stream.stream_id()), &accept)
            .await
            .status,
        202
    );
    agent.expect::<RunTaskMessage>().await;
    let (running, uuid) =
        status_update(agent, agent_id, framework_id, task, TaskState::TaskRunning);
    agent.send(&master.pid, &running);
    let update = next_of(stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(update.state, TaskState::TaskRunning as i32);
    acknowledge(master, stream, framework_id, agent_id, task, &uuid).await;
    agent.expect::<StatusUpdateAcknowledgementMessage>().await;
}

async fn acknowledge(
    master: &Running,
    stream: &Stream,
    framework_id: &str,
    agent_id: &str,
    task: &str,
    uuid: &[u8],
) {
    let ack = json!({
        "type": "ACKNOWLEDGE",
        "framework_id": {"value": framework_id},
        "acknowledge": {
            "agent_id": {"value": agent_id},
            "task_id": {"value": task},
            "uuid": base64_of(uuid)
        }
    });
    assert_eq!(
        call(master.local_addr, Some(&stream.stream_id()), &ack)
            .await
            .status,
        202
    );
}

// Upstream `MasterDrainingTest.DrainAgent`: the agent is told to drain with
// the config, is DRAINING and deactivated until its killed task's update
// is acknowledged, then DRAINED, in the registry first.
#[tokio::test(start_paused = true)]
async fn drain_agent_is_draining_until_the_killed_task_is_acknowledged() {
    let store = TestStore::with(&Registry::default()).await;
    let master = start_master_with(&[], store.clone()).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register_capable(&master, &mut agent).await;
    let (mut stream, framework_id) = subscribed(&master, framework_info(json!({}))).await;
    running_task(
        &master,
        &mut agent,
        &agent_id,
        &mut stream,
        &framework_id,
        "t1",
    )
    .await;

    master
        .handle
        .drain(drain(&agent_id, Some(0), false))
        .await
        .expect("drain accepted");
    let (_, message) = agent.expect::<DrainSlaveMessage>().await;
    assert_eq!(
        message.config.max_grace_period,
        Some(v0::DurationInfo { nanoseconds: 0 })
    );
    assert_eq!(message.config.mark_gone, Some(false));

    let snapshot = master.handle.snapshot().await;
    let view = &snapshot.agents[0];
    assert!(view.deactivated && !view.active);
    assert_eq!(drain_state(&snapshot), Some(DrainState::Draining as i32));
    assert!(view.estimated_drain_start_time.is_some());
    let registry = store.registry().await;
    let slave = registry_slave(&registry, &agent_id).expect("admitted");
    assert_eq!(slave.deactivated, Some(true));
    assert_eq!(
        slave.drain_info.map(|d| d.state),
        Some(DrainState::Draining as i32)
    );
    assert!(registry
        .minimum_capabilities
        .iter()
        .any(|c| c.capability == "AGENT_DRAINING"));

    // The agent kills the task; until the framework acknowledges, the
    // agent stays DRAINING.
    let (mut killed, uuid) = status_update(
        &agent,
        &agent_id,
        &framework_id,
        "t1",
        TaskState::TaskKilled,
    );
    killed.update.status.reason = Some(v0::task_status::Reason::SlaveDraining as i32);
    agent.send(&master.pid, &killed);
    let update = next_of(&mut stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(update.state, TaskState::TaskKilled as i32);
    assert_eq!(
        drain_state(&*master.handle.snapshot().await),
        Some(DrainState::Draining as i32)
    );
    acknowledge(&master, &stream, &framework_id, &agent_id, "t1", &uuid).await;
    wait_until(&master, "the agent is DRAINED", |s| {
        drain_state(s) == Some(DrainState::Drained as i32)
    })
    .await;
    let registry = store.registry().await;
    assert_eq!(
        registry_slave(&registry, &agent_id).and_then(|s| s.drain_info.map(|d| d.state)),
        Some(DrainState::Drained as i32)
    );

    // DRAINED: reactivation clears both states, everywhere.
    master
        .handle
        .drain(DrainCommand::Reactivate {
            agent_id: agent_id.as_str().into(),
        })
        .await
        .expect("reactivated");
    let snapshot = master.handle.snapshot().await;
    assert!(snapshot.agents[0].active && !snapshot.agents[0].deactivated);
    assert_eq!(drain_state(&snapshot), None);
    let registry = store.registry().await;
    let slave = registry_slave(&registry, &agent_id).expect("admitted");
    assert_eq!((slave.deactivated, slave.drain_info), (None, None));
    assert!(registry.minimum_capabilities.is_empty());
    // Offers of the agent come back.
    let offers = next_of(&mut stream, EventType::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    assert_eq!(offers[0].agent_id.value, agent_id);
}

// Upstream `MasterDrainingTest.DrainAgentMarkGone`: once drained, the agent
// is marked gone and shut down instead of being DRAINED.
#[tokio::test(start_paused = true)]
async fn drain_agent_with_mark_gone_marks_the_drained_agent_gone() {
    let store = TestStore::with(&Registry::default()).await;
    let master = start_master_with(&[], store.clone()).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register_capable(&master, &mut agent).await;
    let (mut stream, framework_id) = subscribed(&master, framework_info(json!({}))).await;
    running_task(
        &master,
        &mut agent,
        &agent_id,
        &mut stream,
        &framework_id,
        "t1",
    )
    .await;

    master
        .handle
        .drain(drain(&agent_id, None, true))
        .await
        .expect("drain accepted");
    agent.expect::<DrainSlaveMessage>().await;
    let (killed, uuid) = status_update(
        &agent,
        &agent_id,
        &framework_id,
        "t1",
        TaskState::TaskKilled,
    );
    agent.send(&master.pid, &killed);
    next_of(&mut stream, EventType::Update).await;
    acknowledge(&master, &stream, &framework_id, &agent_id, "t1", &uuid).await;
    let (_, shutdown) = agent.expect::<ShutdownMessage>().await;
    assert_eq!(
        shutdown.message.as_deref(),
        Some("Agent has been marked gone")
    );
    wait_until(&master, "the agent is gone", |s| s.agents.is_empty()).await;
    let registry = store.registry().await;
    assert!(registry_slave(&registry, &agent_id).is_none());
    assert!(registry
        .gone
        .iter()
        .flat_map(|g| &g.slaves)
        .any(|s| s.id.value == agent_id));
}

// Upstream `MasterDrainingTest.DeactivateAgent`: outstanding offers are
// rescinded and no new ones are made until reactivation.
#[tokio::test(start_paused = true)]
async fn deactivate_agent_rescinds_its_offers_until_reactivated() {
    let store = TestStore::with(&Registry::default()).await;
    let master = start_master_with(&[], store.clone()).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register_capable(&master, &mut agent).await;
    let (mut stream, _) = subscribed(&master, framework_info(json!({}))).await;
    let offer = first_offer(&mut stream).await;

    master
        .handle
        .drain(DrainCommand::Deactivate {
            agent_id: agent_id.as_str().into(),
        })
        .await
        .expect("deactivated");
    let rescind = next_of(&mut stream, EventType::Rescind)
        .await
        .rescind
        .unwrap();
    assert_eq!(rescind.offer_id.value, offer.id.value);
    let snapshot = master.handle.snapshot().await;
    assert!(snapshot.agents[0].deactivated && !snapshot.agents[0].active);
    assert_eq!(drain_state(&snapshot), None);
    let explain = master.handle.allocator_explain().await.expect("explain");
    assert_eq!(explain.deactivated_agents, 1);
    let registry = store.registry().await;
    assert_eq!(
        registry_slave(&registry, &agent_id).and_then(|s| s.deactivated),
        Some(true)
    );

    master
        .handle
        .drain(DrainCommand::Reactivate {
            agent_id: agent_id.as_str().into(),
        })
        .await
        .expect("reactivated");
    let offers = next_of(&mut stream, EventType::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    assert_eq!(offers[0].agent_id.value, agent_id);
    drop(keep_alive(agent));
}

// Upstream's refusals: unknown agents (400), reactivating an agent that is
// not deactivated or still DRAINING (400), draining an agent that cannot.
#[tokio::test(start_paused = true)]
async fn drain_requests_are_refused_as_upstream_refuses_them() {
    let master = start_master_with(&[], TestStore::with(&Registry::default()).await).await;
    let unknown = |error: Result<(), OperationError>| {
        assert_eq!(error, Err(OperationError::Invalid("Unknown agent".into())));
    };
    unknown(master.handle.drain(drain("nope", None, false)).await);
    unknown(
        master
            .handle
            .drain(DrainCommand::Deactivate {
                agent_id: "nope".into(),
            })
            .await,
    );

    let mut old = FakeAgent::start().await;
    old.send(&master.pid, &register_message(&old));
    let old_id = old
        .expect::<SlaveRegisteredMessage>()
        .await
        .1
        .slave_id
        .value;
    assert_eq!(
        master.handle.drain(drain(&old_id, None, false)).await,
        Err(OperationError::Invalid(format!(
            "Agent {old_id} is not capable of draining"
        )))
    );
    let reactivate = DrainCommand::Reactivate {
        agent_id: old_id.as_str().into(),
    };
    assert_eq!(
        master.handle.drain(reactivate).await,
        Err(OperationError::Invalid("Agent is not deactivated".into()))
    );

    let mut agent = FakeAgent::start().await;
    let agent_id = register_capable(&master, &mut agent).await;
    master
        .handle
        .drain(drain(&agent_id, None, false))
        .await
        .expect("drain accepted");
    // No task: DRAINED at once.
    wait_until(&master, "the agent is DRAINED", |s| {
        s.agents
            .iter()
            .find(|a| a.info.id.as_ref().is_some_and(|id| id.value == agent_id))
            .and_then(|a| a.drain_info.as_ref())
            .is_some_and(|d| d.state == DrainState::Drained as i32)
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn reactivating_a_draining_agent_is_refused() {
    let master = start_master_with(&[], TestStore::with(&Registry::default()).await).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register_capable(&master, &mut agent).await;
    let (mut stream, framework_id) = subscribed(&master, framework_info(json!({}))).await;
    running_task(
        &master,
        &mut agent,
        &agent_id,
        &mut stream,
        &framework_id,
        "t1",
    )
    .await;
    master
        .handle
        .drain(drain(&agent_id, None, false))
        .await
        .expect("drain accepted");
    assert_eq!(
        master
            .handle
            .drain(DrainCommand::Reactivate {
                agent_id: agent_id.as_str().into()
            })
            .await,
        Err(OperationError::Invalid(
            "Agent is still in the DRAINING state".into()
        ))
    );
}

// Upstream `MasterDrainingTest.DrainAgentMasterFailover`-like: a new leader
// recovers the drain and deactivation from the registry; the agent that
// re-registers stays deactivated and is told to drain again.
#[tokio::test(start_paused = true)]
async fn a_new_leader_reapplies_drain_state_from_the_registry() {
    let agent = FakeAgent::start().await;
    let mut info = capable(&agent).slave;
    info.id = Some(v0::SlaveId {
        value: "S-drained".into(),
    });
    let config = DrainConfig {
        max_grace_period: Some(v0::DurationInfo {
            nanoseconds: 5_000_000_000,
        }),
        mark_gone: Some(false),
    };
    let registry = Registry {
        slaves: Some(Slaves {
            slaves: vec![Slave {
                info: info.clone(),
                drain_info: Some(DrainInfo {
                    state: DrainState::Draining as i32,
                    config,
                }),
                deactivated: Some(true),
            }],
        }),
        ..Default::default()
    };
    let store = TestStore::with(&registry).await;
    let master = start_master_with(&[], store.clone()).await;
    let mut agent = agent;
    let reregister = ReregisterSlaveMessage {
        slave: info,
        version: Some("1.11.0".into()),
        agent_capabilities: capable(&agent).agent_capabilities,
        ..Default::default()
    };
    agent.send(&master.pid, &reregister);
    agent.expect::<SlaveReregisteredMessage>().await;
    let (_, message) = agent.expect::<DrainSlaveMessage>().await;
    assert_eq!(message.config, config);
    // No task: it becomes DRAINED, and it is never offered.
    wait_until(&master, "the agent is DRAINED", |s| {
        drain_state(s) == Some(DrainState::Drained as i32)
    })
    .await;
    let snapshot = master.handle.snapshot().await;
    assert!(snapshot.agents[0].deactivated && !snapshot.agents[0].active);
    let explain = master.handle.allocator_explain().await.expect("explain");
    assert_eq!(explain.deactivated_agents, 1);
}

// Upstream `MasterDrainingTest.DrainAgentUnreachable`: an unreachable agent
// can be drained; the registry keeps the drain with the unreachable entry,
// and the agent is told to drain when it comes back.
#[tokio::test(start_paused = true)]
async fn an_unreachable_agent_is_drained_when_it_comes_back() {
    let store = TestStore::with(&Registry::default()).await;
    let master = start_master_with(
        &["--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=1"],
        store.clone(),
    )
    .await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register_capable(&master, &mut agent).await;
    // The agent stops answering pings.
    wait_until(&master, "the agent is unreachable", |s| {
        s.agents.is_empty() && s.unreachable_agents == 1
    })
    .await;
    master
        .handle
        .drain(drain(&agent_id, None, false))
        .await
        .expect("drain accepted");
    let registry = store.registry().await;
    let entry = registry
        .unreachable
        .iter()
        .flat_map(|u| &u.slaves)
        .find(|s| s.id.value == agent_id)
        .expect("unreachable entry");
    assert_eq!(entry.deactivated, Some(true));
    assert_eq!(
        entry.drain_info.map(|d| d.state),
        Some(DrainState::Draining as i32)
    );

    let mut info = capable(&agent).slave;
    info.id = Some(v0::SlaveId {
        value: agent_id.clone(),
    });
    agent.send(
        &master.pid,
        &ReregisterSlaveMessage {
            slave: info,
            version: Some("1.11.0".into()),
            agent_capabilities: capable(&agent).agent_capabilities,
            ..Default::default()
        },
    );
    agent.expect::<SlaveReregisteredMessage>().await;
    agent.expect::<DrainSlaveMessage>().await;
    let answering = keep_alive(agent);
    wait_until(&master, "the agent is DRAINED", |s| {
        drain_state(s) == Some(DrainState::Drained as i32)
    })
    .await;
    let snapshot = master.handle.snapshot().await;
    assert!(snapshot.agents[0].deactivated && !snapshot.agents[0].active);
    let registry = store.registry().await;
    assert_eq!(
        registry_slave(&registry, &agent_id).and_then(|s| s.drain_info.map(|d| d.state)),
        Some(DrainState::Drained as i32)
    );
    answering.abort();
}
