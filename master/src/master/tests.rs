//! The actor end to end: a fake agent (libprocess over 127.0.0.1) and a
//! scheduler (raw HTTP) against an in-process master.

use std::time::Duration;

use mesos_proto::mesos::internal::{
    PingSlaveMessage, RegisterSlaveMessage, ReregisterSlaveMessage, RunTaskMessage,
    SlaveRegisteredMessage, SlaveReregisteredMessage, StatusUpdate,
    StatusUpdateAcknowledgementMessage, StatusUpdateMessage, UnregisterSlaveMessage,
};
use mesos_proto::mesos::v1::scheduler::event::Type as EventType;
use mesos_proto::mesos::v1::scheduler::Event;
use mesos_proto::mesos::v1::TaskState;
use mesos_proto::mesos::{self as v0, slave_info};
use mesos_proto::resources::Resources;
use serde_json::{json, Value};

use crate::testing::{call, http, start_master, subscribe, FakeAgent, Stream};
use crate::Running;

pub(super) fn agent_resources() -> Vec<v0::Resource> {
    Resources::parse("cpus:2;mem:1024;disk:1024;ports:[31000-32000]", "*")
        .unwrap()
        .to_v0()
}

pub(super) fn register_message(agent: &FakeAgent) -> RegisterSlaveMessage {
    RegisterSlaveMessage {
        slave: v0::SlaveInfo {
            hostname: "agent-host".into(),
            port: Some(i32::from(agent.pid.port)),
            resources: agent_resources(),
            ..Default::default()
        },
        version: Some("1.11.0".into()),
        agent_capabilities: [
            slave_info::capability::Type::MultiRole,
            slave_info::capability::Type::ReservationRefinement,
        ]
        .into_iter()
        .map(|t| slave_info::Capability {
            r#type: Some(t as i32),
        })
        .collect(),
        ..Default::default()
    }
}

/// Registers the fake agent; returns its id.
pub(super) async fn register(master: &Running, agent: &mut FakeAgent) -> String {
    agent.send(&master.pid, &register_message(agent));
    let (from, registered) = agent.expect::<SlaveRegisteredMessage>().await;
    assert_eq!(from, master.pid);
    assert_eq!(
        registered.connection.unwrap().total_ping_timeout_seconds,
        Some(75.0)
    );
    registered.slave_id.value
}

pub(super) fn framework_info(extra: Value) -> Value {
    let mut info = json!({"user": "root", "name": "test-framework"});
    if let (Some(info), Some(extra)) = (info.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            info.insert(k.clone(), v.clone());
        }
    }
    info
}

/// Subscribes; returns the stream and the framework id (SUBSCRIBED and the
/// first HEARTBEAT consumed).
pub(super) async fn subscribed(master: &Running, info: Value) -> (Stream, String) {
    let mut stream = subscribe(
        master.local_addr,
        &json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}),
    )
    .await;
    assert_eq!(stream.status, 200);
    let event = stream.next().await.unwrap();
    let framework_id = event.subscribed.unwrap().framework_id.value;
    let heartbeat = stream.next().await.unwrap();
    assert_eq!(heartbeat.r#type, Some(EventType::Heartbeat as i32));
    (stream, framework_id)
}

pub(super) async fn next_of(stream: &mut Stream, kind: EventType) -> Event {
    loop {
        let event = stream
            .next_non_heartbeat()
            .await
            .unwrap_or_else(|| panic!("stream ended waiting for {kind:?}"));
        if event.r#type == Some(kind as i32) {
            return event;
        }
    }
}

/// The first offer of the next OFFERS event.
pub(super) async fn first_offer(stream: &mut Stream) -> mesos_proto::mesos::v1::Offer {
    next_of(stream, EventType::Offers)
        .await
        .offers
        .unwrap()
        .offers[0]
        .clone()
}

pub(super) fn status_update(
    agent: &FakeAgent,
    agent_id: &str,
    framework_id: &str,
    task_id: &str,
    state: TaskState,
) -> (StatusUpdateMessage, Vec<u8>) {
    let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
    let message = StatusUpdateMessage {
        update: StatusUpdate {
            framework_id: v0::FrameworkId {
                value: framework_id.into(),
            },
            executor_id: Some(v0::ExecutorId {
                value: task_id.into(),
            }),
            slave_id: Some(v0::SlaveId {
                value: agent_id.into(),
            }),
            status: v0::TaskStatus {
                task_id: v0::TaskId {
                    value: task_id.into(),
                },
                state: state as i32,
                source: Some(v0::task_status::Source::Executor as i32),
                uuid: Some(uuid.clone()),
                slave_id: Some(v0::SlaveId {
                    value: agent_id.into(),
                }),
                timestamp: Some(1.0),
                ..Default::default()
            },
            timestamp: 1.0,
            uuid: Some(uuid.clone()),
            latest_state: Some(state as i32),
        },
        pid: Some(agent.pid.to_string()),
    };
    (message, uuid)
}

pub(super) async fn state(master: &Running) -> Value {
    http(master.local_addr, "GET", "/master/state", &[], b"")
        .await
        .json()
}

#[tokio::test]
async fn register_offer_launch_update_acknowledge() {
    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
    assert!(agent_id.starts_with(&format!("{}-S", master.info.id)));

    // The observer pings from its own process and wants the pong there.
    let (observer, ping) = agent.expect::<PingSlaveMessage>().await;
    assert!(observer.id.starts_with("slave-observer("), "{observer}");
    assert_eq!(
        (observer.ip, observer.port),
        (master.pid.ip, master.pid.port)
    );
    assert!(ping.connected);

    let (mut stream, framework_id) = subscribed(&master, framework_info(json!({}))).await;
    let offers = next_of(&mut stream, EventType::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    assert_eq!(offers.len(), 1);
    let offer = &offers[0];
    assert_eq!(offer.agent_id.value, agent_id);
    assert_eq!(offer.hostname, "agent-host");
    assert!(offer.id.value.starts_with(&format!("{}-O", master.info.id)));
    let url = offer.url.as_ref().unwrap();
    assert_eq!(url.scheme, "http");
    assert_eq!(url.path.as_deref(), Some("/slave(1)"));
    assert_eq!(url.address.port, i32::from(agent.pid.port));
    // Not MULTI_ROLE, not RESERVATION_REFINEMENT: the old format.
    assert!(offer.allocation_info.is_none());
    assert!(offer.resources.iter().all(|r| r.allocation_info.is_none()));
    assert!(offer
        .resources
        .iter()
        .all(|r| r.role.as_deref() == Some("*")));

    let accept = json!({
        "type": "ACCEPT",
        "framework_id": {"value": framework_id},
        "accept": {
            "offer_ids": [{"value": offer.id.value}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                "name": "t1",
                "task_id": {"value": "t1"},
                "agent_id": {"value": agent_id},
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}, "role": "*"},
                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 128.0}, "role": "*"}
                ],
                "command": {"value": "sleep 100"}
            }]}}],
            "filters": {"refuse_seconds": 60.0}
        }
    });
    let answer = call(master.local_addr, Some(&stream.stream_id()), &accept).await;
    assert_eq!(answer.status, 202);

    let (_, run) = agent.expect::<RunTaskMessage>().await;
    assert_eq!(run.pid.as_deref(), Some(""));
    assert_eq!(run.task.task_id.value, "t1");
    assert_eq!(run.launch_executor, Some(true));
    assert_eq!(run.framework.id.as_ref().unwrap().value, framework_id);
    assert!(run.task.resources.iter().all(|r| r
        .allocation_info
        .as_ref()
        .and_then(|a| a.role.as_deref())
        == Some("*")));

    // The task is staging at the master.
    let s = state(&master).await;
    let tasks = &s["frameworks"][0]["tasks"];
    assert_eq!(tasks[0]["state"], "TASK_STAGING");
    assert_eq!(tasks[0]["slave_id"], agent_id);
    assert_eq!(s["frameworks"][0]["used_resources"]["cpus"], 1.0);
    assert_eq!(s["slaves"][0]["used_resources"]["cpus"], 1.0);

    // The same agent id from another pid cannot speak for the task.
    let impostor = FakeAgent::start().await;
    let (forged, _) = status_update(
        &impostor,
        &agent_id,
        &framework_id,
        "t1",
        TaskState::TaskFailed,
    );
    impostor.send(&master.pid, &forged);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let metrics = http(master.local_addr, "GET", "/metrics/snapshot", &[], b"")
            .await
            .json();
        if metrics["master/invalid_status_updates"] == 1.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        state(&master).await["frameworks"][0]["tasks"][0]["state"],
        "TASK_STAGING"
    );

    // TASK_RUNNING from the agent reaches the scheduler with a uuid.
    let (running, uuid) = status_update(
        &agent,
        &agent_id,
        &framework_id,
        "t1",
        TaskState::TaskRunning,
    );
    agent.send(&master.pid, &running);
    let update = next_of(&mut stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(update.state, TaskState::TaskRunning as i32);
    assert_eq!(update.uuid.as_deref(), Some(uuid.as_slice()));
    assert_eq!(update.agent_id.unwrap().value, agent_id);
    assert_eq!(update.executor_id.unwrap().value, "t1");

    // ACKNOWLEDGE is forwarded to the agent.
    let ack = json!({
        "type": "ACKNOWLEDGE",
        "framework_id": {"value": framework_id},
        "acknowledge": {
            "agent_id": {"value": agent_id},
            "task_id": {"value": "t1"},
            "uuid": base64_of(&uuid)
        }
    });
    assert_eq!(
        call(master.local_addr, Some(&stream.stream_id()), &ack)
            .await
            .status,
        202
    );
    let (_, forwarded) = agent.expect::<StatusUpdateAcknowledgementMessage>().await;
    assert_eq!(forwarded.uuid, uuid);
    assert_eq!(forwarded.task_id.value, "t1");
    assert_eq!(forwarded.framework_id.value, framework_id);

    let metrics = http(master.local_addr, "GET", "/metrics/snapshot", &[], b"")
        .await
        .json();
    assert_eq!(metrics["master/tasks_running"], 1.0);
    assert_eq!(metrics["master/cpus_used"], 1.0);
    assert_eq!(metrics["master/cpus_total"], 2.0);

    // TASK_FINISHED, acknowledged: the task becomes completed.
    let (finished, uuid) = status_update(
        &agent,
        &agent_id,
        &framework_id,
        "t1",
        TaskState::TaskFinished,
    );
    agent.send(&master.pid, &finished);
    let update = next_of(&mut stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(update.state, TaskState::TaskFinished as i32);
    let mut ack = ack;
    ack["acknowledge"]["uuid"] = json!(base64_of(&uuid));
    assert_eq!(
        call(master.local_addr, Some(&stream.stream_id()), &ack)
            .await
            .status,
        202
    );
    agent.expect::<StatusUpdateAcknowledgementMessage>().await;
    let mut completed = Value::Null;
    for _ in 0..50 {
        let s = state(&master).await;
        completed = s["frameworks"][0]["completed_tasks"].clone();
        if completed.as_array().is_some_and(|a| !a.is_empty()) {
            assert_eq!(s["frameworks"][0]["tasks"], json!([]));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(completed[0]["state"], "TASK_FINISHED");
    let metrics = http(master.local_addr, "GET", "/metrics/snapshot", &[], b"")
        .await
        .json();
    assert_eq!(metrics["master/tasks_finished"], 1.0);

    // Upstream's per-framework metrics saw the same story: SUBSCRIBE,
    // ACCEPT and two ACKNOWLEDGEs; SUBSCRIBED, at least one OFFERS and two
    // UPDATEs; the accepted offer and its LAUNCH; a finished task.
    let framework = |name: &str| {
        metrics[format!("master/frameworks/test-framework/{framework_id}/{name}")].clone()
    };
    assert_eq!(framework("subscribed"), 1.0);
    assert_eq!(framework("calls/subscribe"), 1.0);
    assert_eq!(framework("calls/accept"), 1.0);
    assert_eq!(framework("calls/acknowledge"), 2.0);
    assert_eq!(framework("calls"), 4.0);
    assert_eq!(framework("events/subscribed"), 1.0);
    assert_eq!(framework("events/update"), 2.0);
    // The first HEARTBEAT follows SUBSCRIBED at once.
    assert!(framework("events/heartbeat").as_f64().unwrap() >= 1.0);
    assert!(framework("events/offers").as_f64().unwrap() >= 1.0);
    assert!(framework("offers/sent").as_f64().unwrap() >= 1.0);
    assert_eq!(framework("offers/accepted"), 1.0);
    assert_eq!(framework("offers/declined"), 0.0);
    assert_eq!(framework("operations/launch"), 1.0);
    assert_eq!(framework("operations"), 1.0);
    assert_eq!(framework("tasks/terminal/task_finished"), 1.0);
    assert_eq!(framework("tasks/terminal/task_failed"), 0.0);
    assert_eq!(framework("tasks/active/task_running"), 0.0);

    // And /metrics/prometheus types them: counters end in `_total`.
    let text = http(master.local_addr, "GET", "/metrics/prometheus", &[], b"")
        .await
        .text();
    let family = format!(
        "mesos_master_frameworks_test_framework_{}_calls_accept_total",
        framework_id.replace('-', "_")
    );
    assert!(
        text.contains(&format!("# TYPE {family} counter\n{family} 1\n")),
        "{text}"
    );
    let subscribed = format!(
        "mesos_master_frameworks_test_framework_{}_subscribed",
        framework_id.replace('-', "_")
    );
    assert!(text.contains(&format!("# TYPE {subscribed} gauge\n")));

    // Removed with the framework.
    let teardown = json!({"type": "TEARDOWN", "framework_id": {"value": framework_id}});
    assert_eq!(
        call(master.local_addr, Some(&stream.stream_id()), &teardown)
            .await
            .status,
        202
    );
    let metrics = http(master.local_addr, "GET", "/metrics/snapshot", &[], b"")
        .await
        .json();
    let prefix = format!("master/frameworks/test-framework/{framework_id}/");
    assert!(
        metrics
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with(&prefix)),
        "{metrics}"
    );
}

/// A task that ends before its TASK_RUNNING is acknowledged: the agent
/// forwards RUNNING with `latest_state` TASK_FINISHED. The master releases
/// the resources then, and counts the task as finished right away.
#[tokio::test]
async fn a_running_update_whose_latest_state_is_finished_counts_a_finished_task() {
    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
    let (mut stream, framework_id) = subscribed(&master, framework_info(json!({}))).await;
    let offer = next_of(&mut stream, EventType::Offers)
        .await
        .offers
        .unwrap()
        .offers
        .remove(0);
    let accept = json!({
        "type": "ACCEPT",
        "framework_id": {"value": framework_id},
        "accept": {
            "offer_ids": [{"value": offer.id.value}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                "name": "t1",
                "task_id": {"value": "t1"},
                "agent_id": {"value": agent_id},
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}, "role": "*"}
                ],
                "command": {"value": "true"}
            }]}}]
        }
    });
    let answer = call(master.local_addr, Some(&stream.stream_id()), &accept).await;
    assert_eq!(answer.status, 202);
    agent.expect::<RunTaskMessage>().await;

    let (mut running, _) = status_update(
        &agent,
        &agent_id,
        &framework_id,
        "t1",
        TaskState::TaskRunning,
    );
    running.update.latest_state = Some(TaskState::TaskFinished as i32);
    agent.send(&master.pid, &running);
    let update = next_of(&mut stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(update.state, TaskState::TaskRunning as i32);
    let metrics = http(master.local_addr, "GET", "/metrics/snapshot", &[], b"")
        .await
        .json();
    assert_eq!(metrics["master/tasks_finished"], 1.0, "{metrics}");
    assert_eq!(metrics["master/tasks_running"], 0.0, "{metrics}");
    assert_eq!(metrics["master/cpus_used"], 0.0, "{metrics}");
}

// Upstream WeightsTest: a weights update for a role that has a framework
// rescinds the outstanding offers, so the next allocation uses the new
// shares; an update for a role nobody uses leaves offers alone.
#[tokio::test]
async fn updating_the_weight_of_a_used_role_rescinds_outstanding_offers() {
    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
    let (mut stream, framework_id) =
        subscribed(&master, framework_info(json!({"role": "eng"}))).await;
    let offer = next_of(&mut stream, EventType::Offers)
        .await
        .offers
        .unwrap()
        .offers
        .remove(0);

    let update = |role: &str| {
        json!({"type": "UPDATE_WEIGHTS", "update_weights": {
            "weight_infos": [{"role": role, "weight": 2.0}]
        }})
        .to_string()
    };
    let headers = [("Content-Type", "application/json")];
    let unused = http(
        master.local_addr,
        "POST",
        "/api/v1",
        &headers,
        update("ops").as_bytes(),
    )
    .await;
    assert_eq!(unused.status, 200, "{}", unused.text());
    // The offer is still good: accepting it launches.
    let accept = json!({
        "type": "ACCEPT",
        "framework_id": {"value": framework_id},
        "accept": {
            "offer_ids": [{"value": offer.id.value}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                "name": "t1",
                "task_id": {"value": "t1"},
                "agent_id": {"value": agent_id},
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*"}
                ],
                "command": {"value": "sleep 100"}
            }]}}],
            "filters": {"refuse_seconds": 0.0}
        }
    });
    let answer = call(master.local_addr, Some(&stream.stream_id()), &accept).await;
    assert_eq!(answer.status, 202);
    agent.expect::<RunTaskMessage>().await;

    // What was left over is offered again; a weight for the framework's own
    // role takes that offer back.
    let second = next_of(&mut stream, EventType::Offers)
        .await
        .offers
        .unwrap()
        .offers
        .remove(0);
    let used = http(
        master.local_addr,
        "POST",
        "/api/v1",
        &headers,
        update("eng").as_bytes(),
    )
    .await;
    assert_eq!(used.status, 200, "{}", used.text());
    let rescind = next_of(&mut stream, EventType::Rescind).await;
    assert_eq!(rescind.rescind.unwrap().offer_id.value, second.id.value);
}

pub(super) fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn invalid_tasks_and_offers_get_master_updates() {
    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
    let (mut stream, framework_id) = subscribed(&master, framework_info(json!({}))).await;
    let offer = first_offer(&mut stream).await;
    let stream_id = stream.stream_id();
    let launch = |offer_id: &str, cpus: f64| {
        json!({
            "type": "ACCEPT",
            "framework_id": {"value": framework_id},
            "accept": {
                "offer_ids": [{"value": offer_id}],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                    "name": "big", "task_id": {"value": "big"},
                    "agent_id": {"value": agent_id},
                    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}}],
                    "command": {"value": "true"}
                }]}}]
            }
        })
    };
    // Too many cpus: TASK_ERROR, no uuid.
    call(
        master.local_addr,
        Some(&stream_id),
        &launch(&offer.id.value, 64.0),
    )
    .await;
    let status = next_of(&mut stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(status.state, TaskState::TaskError as i32);
    assert!(status.uuid.is_none());
    assert_eq!(
        status.reason,
        Some(mesos_proto::mesos::v1::task_status::Reason::TaskInvalid as i32)
    );
    assert!(status.message.unwrap().starts_with("Total resources"));
    // The offer is used up: TASK_LOST (not partition-aware) for a stale id.
    call(
        master.local_addr,
        Some(&stream_id),
        &launch(&offer.id.value, 1.0),
    )
    .await;
    let status = next_of(&mut stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(status.state, TaskState::TaskLost as i32);
    assert_eq!(
        status.reason,
        Some(mesos_proto::mesos::v1::task_status::Reason::InvalidOffers as i32)
    );
    assert!(status.message.unwrap().contains("is no longer valid"));
}

/// Upstream counts a LAUNCH once per task it sends to the agent, so a
/// LAUNCH of three tasks of which one is refused counts two; a refused
/// LAUNCH_GROUP counts nothing.
#[tokio::test]
async fn launch_operations_are_counted_per_task_sent() {
    let master = start_master(&["--publish_per_framework_metrics=true"]).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
    let (mut stream, framework_id) = subscribed(&master, framework_info(json!({}))).await;
    let offer = first_offer(&mut stream).await;
    let task = |id: &str, cpus: f64| {
        json!({
            "name": id, "task_id": {"value": id},
            "agent_id": {"value": agent_id},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}}],
            "command": {"value": "true"}
        })
    };
    let accept = json!({
        "type": "ACCEPT",
        "framework_id": {"value": framework_id},
        "accept": {
            "offer_ids": [{"value": offer.id.value}],
            "operations": [
                {"type": "LAUNCH", "launch": {"task_infos": [
                    task("a", 0.5), task("too-big", 64.0), task("b", 0.5)
                ]}},
                {"type": "LAUNCH_GROUP", "launch_group": {
                    "executor": {"executor_id": {"value": "e"}, "type": "DEFAULT",
                                 "framework_id": {"value": framework_id}},
                    "task_group": {"tasks": [task("group-too-big", 64.0)]}
                }}
            ]
        }
    });
    call(master.local_addr, Some(&stream.stream_id()), &accept).await;
    agent.expect::<RunTaskMessage>().await;
    agent.expect::<RunTaskMessage>().await;
    let metrics = http(master.local_addr, "GET", "/metrics/snapshot", &[], b"")
        .await
        .json();
    let value = |name: &str| {
        let key = format!("master/frameworks/test-framework/{framework_id}/{name}");
        metrics[&key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing from {metrics}"))
    };
    assert_eq!(value("operations/launch"), 2.0);
    assert_eq!(value("operations/launch_group"), 0.0);
    assert_eq!(value("operations"), 2.0);
}

#[tokio::test]
async fn reconcile_and_kill_unknown_tasks() {
    let master = start_master(&[]).await;
    let (mut stream, framework_id) = subscribed(&master, framework_info(json!({}))).await;
    let stream_id = stream.stream_id();
    let reconcile = json!({
        "type": "RECONCILE",
        "framework_id": {"value": framework_id},
        "reconcile": {"tasks": [{"task_id": {"value": "ghost"}}]}
    });
    assert_eq!(
        call(master.local_addr, Some(&stream_id), &reconcile)
            .await
            .status,
        202
    );
    let status = next_of(&mut stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(status.task_id.value, "ghost");
    assert_eq!(status.state, TaskState::TaskLost as i32);
    assert!(status.uuid.is_none());
    assert_eq!(
        status.source,
        Some(mesos_proto::mesos::v1::task_status::Source::Master as i32)
    );
    assert_eq!(
        status.reason,
        Some(mesos_proto::mesos::v1::task_status::Reason::Reconciliation as i32)
    );
    let kill = json!({
        "type": "KILL",
        "framework_id": {"value": framework_id},
        "kill": {"task_id": {"value": "ghost2"}}
    });
    assert_eq!(
        call(master.local_addr, Some(&stream_id), &kill)
            .await
            .status,
        202
    );
    let status = next_of(&mut stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(status.task_id.value, "ghost2");
    assert_eq!(status.state, TaskState::TaskLost as i32);

    // A partition-aware framework hears TASK_UNKNOWN.
    let (mut aware, aware_id) = subscribed(
        &master,
        framework_info(json!({"capabilities": [{"type": "PARTITION_AWARE"}]})),
    )
    .await;
    let mut reconcile = reconcile;
    reconcile["framework_id"] = json!({"value": aware_id});
    assert_eq!(
        call(master.local_addr, Some(&aware.stream_id()), &reconcile)
            .await
            .status,
        202
    );
    let status = next_of(&mut aware, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(status.state, TaskState::TaskUnknown as i32);
}

#[tokio::test]
async fn decline_filters_and_revive() {
    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    register(&master, &mut agent).await;
    let (mut stream, framework_id) = subscribed(
        &master,
        framework_info(json!({"capabilities": [{"type": "MULTI_ROLE"}], "roles": ["web"]})),
    )
    .await;
    let stream_id = stream.stream_id();
    let offer = first_offer(&mut stream).await;
    // MULTI_ROLE frameworks see the allocation role.
    assert_eq!(
        offer
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref()),
        Some("web")
    );
    let decline = |offer_id: &str, seconds: f64| {
        json!({
            "type": "DECLINE",
            "framework_id": {"value": framework_id},
            "decline": {"offer_ids": [{"value": offer_id}], "filters": {"refuse_seconds": seconds}}
        })
    };
    // A short filter: offered again soon after. The clock starts before
    // the call: the filter starts when the master handles it, which is
    // later, so a slow answer cannot shorten what is measured.
    let started = tokio::time::Instant::now();
    call(
        master.local_addr,
        Some(&stream_id),
        &decline(&offer.id.value, 0.3),
    )
    .await;
    let again = first_offer(&mut stream).await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    // A long filter: nothing within a second, until REVIVE.
    call(
        master.local_addr,
        Some(&stream_id),
        &decline(&again.id.value, 60.0),
    )
    .await;
    let mut offered = false;
    while let Some(event) = stream.next_within(Duration::from_secs(1)).await {
        offered |= event.r#type == Some(EventType::Offers as i32);
    }
    assert!(!offered);
    let revive = json!({"type": "REVIVE", "framework_id": {"value": framework_id}});
    call(master.local_addr, Some(&stream_id), &revive).await;
    next_of(&mut stream, EventType::Offers).await;
    // SUPPRESS stops offers; the outstanding one stays until declined.
    let suppress = json!({"type": "SUPPRESS", "framework_id": {"value": framework_id}});
    assert_eq!(
        call(master.local_addr, Some(&stream_id), &suppress)
            .await
            .status,
        202
    );
    let s = state(&master).await;
    let offer_id = s["frameworks"][0]["offers"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(s["frameworks"][0]["roles"], json!(["web"]));
    call(
        master.local_addr,
        Some(&stream_id),
        &decline(&offer_id, 0.0),
    )
    .await;
    let mut offered = false;
    while let Some(event) = stream.next_within(Duration::from_millis(600)).await {
        offered |= event.r#type == Some(EventType::Offers as i32);
    }
    assert!(!offered);
}

#[tokio::test]
async fn offer_timeout_rescinds() {
    let master = start_master(&["--offer_timeout=200ms"]).await;
    let mut agent = FakeAgent::start().await;
    register(&master, &mut agent).await;
    let (mut stream, _) = subscribed(&master, framework_info(json!({}))).await;
    let offer = first_offer(&mut stream).await;
    let rescind = next_of(&mut stream, EventType::Rescind)
        .await
        .rescind
        .unwrap();
    assert_eq!(rescind.offer_id.value, offer.id.value);
}

#[tokio::test]
async fn silent_agent_is_marked_unreachable() {
    let master = start_master(&["--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=1"]).await;
    let mut agent = FakeAgent::start().await;
    // Register by hand and never answer pings.
    agent.send(&master.pid, &register_message(&agent));
    let (_, registered) = agent.expect::<SlaveRegisteredMessage>().await;
    let agent_id = registered.slave_id.value;
    let (mut stream, _) = subscribed(&master, framework_info(json!({}))).await;
    let offer = first_offer(&mut stream).await;
    let rescind = next_of(&mut stream, EventType::Rescind)
        .await
        .rescind
        .unwrap();
    assert_eq!(rescind.offer_id.value, offer.id.value);
    let failure = next_of(&mut stream, EventType::Failure)
        .await
        .failure
        .unwrap();
    assert_eq!(failure.agent_id.unwrap().value, agent_id);
    assert!(failure.executor_id.is_none());
    let s = state(&master).await;
    assert_eq!(s["slaves"], json!([]));
    assert_eq!(s["unreachable_slaves"], 1.0);
    let metrics = http(master.local_addr, "GET", "/metrics/snapshot", &[], b"")
        .await
        .json();
    assert_eq!(metrics["master/slaves_unreachable"], 1.0);
}

#[tokio::test]
async fn unregistered_agent_loses_its_tasks() {
    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
    let (mut stream, framework_id) = subscribed(&master, framework_info(json!({}))).await;
    let offer = first_offer(&mut stream).await;
    let accept = json!({
        "type": "ACCEPT",
        "framework_id": {"value": framework_id},
        "accept": {
            "offer_ids": [{"value": offer.id.value}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                "name": "t", "task_id": {"value": "t"},
                "agent_id": {"value": agent_id},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}}],
                "command": {"value": "sleep 100"}
            }]}}]
        }
    });
    call(master.local_addr, Some(&stream.stream_id()), &accept).await;
    agent.expect::<RunTaskMessage>().await;
    agent.send(
        &master.pid,
        &UnregisterSlaveMessage {
            slave_id: v0::SlaveId {
                value: agent_id.clone(),
            },
        },
    );
    let status = next_of(&mut stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(status.state, TaskState::TaskLost as i32);
    assert!(status.uuid.is_none());
    assert_eq!(status.agent_id.unwrap().value, agent_id);
    let failure = next_of(&mut stream, EventType::Failure)
        .await
        .failure
        .unwrap();
    assert_eq!(failure.agent_id.unwrap().value, agent_id);
}

#[tokio::test]
async fn reregistration_after_master_restart_recovers_frameworks() {
    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    let framework = v0::FrameworkInfo {
        user: "root".into(),
        name: "old".into(),
        id: Some(v0::FrameworkId {
            value: "old-framework".into(),
        }),
        failover_timeout: Some(600.0),
        ..Default::default()
    };
    let mut task_resources = Resources::parse("cpus:1;mem:64", "*").unwrap().to_v0();
    for r in &mut task_resources {
        r.allocation_info = Some(v0::resource::AllocationInfo {
            role: Some("*".into()),
        });
    }
    let mut register = register_message(&agent);
    register.slave.id = Some(v0::SlaveId {
        value: "old-agent".into(),
    });
    let reregister = ReregisterSlaveMessage {
        slave: register.slave.clone(),
        tasks: vec![v0::Task {
            name: "running".into(),
            task_id: v0::TaskId {
                value: "running".into(),
            },
            framework_id: v0::FrameworkId {
                value: "old-framework".into(),
            },
            slave_id: v0::SlaveId {
                value: "old-agent".into(),
            },
            state: v0::TaskState::TaskRunning as i32,
            resources: task_resources,
            ..Default::default()
        }],
        frameworks: vec![framework],
        version: Some("1.11.0".into()),
        agent_capabilities: register.agent_capabilities.clone(),
        ..Default::default()
    };
    agent.send(&master.pid, &reregister);
    let (_, reregistered) = agent.expect::<SlaveReregisteredMessage>().await;
    assert_eq!(reregistered.slave_id.value, "old-agent");

    let s = state(&master).await;
    assert_eq!(s["slaves"][0]["id"], "old-agent");
    assert_eq!(s["slaves"][0]["used_resources"]["cpus"], 1.0);
    assert_eq!(s["frameworks"][0]["id"], "old-framework");
    assert_eq!(s["frameworks"][0]["recovered"], true);
    assert_eq!(s["frameworks"][0]["tasks"][0]["state"], "TASK_RUNNING");

    // The framework comes back with its id and reconciles.
    let mut info = framework_info(json!({"failover_timeout": 600.0}));
    info["id"] = json!({"value": "old-framework"});
    let mut stream = subscribe(
        master.local_addr,
        &json!({"type": "SUBSCRIBE", "framework_id": {"value": "old-framework"},
                "subscribe": {"framework_info": info}}),
    )
    .await;
    let subscribed = next_of(&mut stream, EventType::Subscribed).await;
    assert_eq!(
        subscribed.subscribed.unwrap().framework_id.value,
        "old-framework"
    );
    let reconcile = json!({"type": "RECONCILE", "framework_id": {"value": "old-framework"},
                           "reconcile": {}});
    assert_eq!(
        call(master.local_addr, Some(&stream.stream_id()), &reconcile)
            .await
            .status,
        202
    );
    let status = next_of(&mut stream, EventType::Update)
        .await
        .update
        .unwrap()
        .status;
    assert_eq!(status.task_id.value, "running");
    assert_eq!(status.state, TaskState::TaskRunning as i32);
}

#[tokio::test]
async fn teardown_kills_and_completes() {
    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
    let (mut stream, framework_id) = subscribed(&master, framework_info(json!({}))).await;
    let offer = first_offer(&mut stream).await;
    let accept = json!({
        "type": "ACCEPT",
        "framework_id": {"value": framework_id},
        "accept": {
            "offer_ids": [{"value": offer.id.value}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                "name": "t", "task_id": {"value": "t"},
                "agent_id": {"value": agent_id},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}}],
                "command": {"value": "sleep 100"}
            }]}}]
        }
    });
    call(master.local_addr, Some(&stream.stream_id()), &accept).await;
    agent.expect::<RunTaskMessage>().await;
    let teardown = json!({"type": "TEARDOWN", "framework_id": {"value": framework_id}});
    assert_eq!(
        call(master.local_addr, Some(&stream.stream_id()), &teardown)
            .await
            .status,
        202
    );
    let (_, shutdown) = agent
        .expect::<mesos_proto::mesos::internal::ShutdownFrameworkMessage>()
        .await;
    assert_eq!(shutdown.framework_id.value, framework_id);
    let s = state(&master).await;
    assert_eq!(s["frameworks"], json!([]));
    assert_eq!(s["completed_frameworks"][0]["id"], framework_id);
    assert_eq!(
        s["completed_frameworks"][0]["completed_tasks"][0]["state"],
        "TASK_KILLED"
    );
    // Its stream is closed.
    assert!(stream.next_within(Duration::from_secs(2)).await.is_none());
}

#[tokio::test]
async fn v0_driver_registers_launches_and_acknowledges() {
    use mesos_proto::mesos::internal::{
        FrameworkRegisteredMessage, ResourceOffersMessage, StatusUpdateMessage as Update,
    };
    use mesos_proto::mesos::scheduler as v0_scheduler;

    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
    let mut driver = FakeAgent::start_as("scheduler-1").await;
    let subscribe = v0_scheduler::Call {
        r#type: Some(v0_scheduler::call::Type::Subscribe as i32),
        subscribe: Some(v0_scheduler::call::Subscribe {
            framework_info: v0::FrameworkInfo {
                user: "root".into(),
                name: "v0".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    driver.send(&master.pid, &subscribe);
    let (from, registered) = driver.expect::<FrameworkRegisteredMessage>().await;
    // Drivers drop master messages whose sender is not MasterInfo.pid.
    assert_eq!(from, master.pid);
    assert_eq!(
        registered.master_info.pid.as_deref(),
        Some(master.pid.to_string().as_str())
    );
    let framework_id = registered.framework_id.value;

    let (_, offers) = driver.expect::<ResourceOffersMessage>().await;
    assert_eq!(offers.offers.len(), offers.pids.len());
    assert_eq!(offers.pids[0], agent.pid.to_string());
    let offer = &offers.offers[0];
    assert_eq!(offer.slave_id.value, agent_id);

    let launch = mesos_proto::mesos::internal::LaunchTasksMessage {
        framework_id: v0::FrameworkId {
            value: framework_id.clone(),
        },
        offer_ids: vec![offer.id.clone()],
        filters: v0::Filters::default(),
        tasks: vec![v0::TaskInfo {
            name: "t".into(),
            task_id: v0::TaskId { value: "t".into() },
            slave_id: offer.slave_id.clone(),
            resources: Resources::parse("cpus:1;mem:64", "*").unwrap().to_v0(),
            command: Some(v0::CommandInfo {
                value: Some("sleep 1".into()),
                ..Default::default()
            }),
            ..Default::default()
        }],
    };
    driver.send(&master.pid, &launch);
    let (_, run) = agent.expect::<RunTaskMessage>().await;
    assert_eq!(run.pid.as_deref(), Some(driver.pid.to_string().as_str()));

    let (update, uuid) = status_update(
        &agent,
        &agent_id,
        &framework_id,
        "t",
        TaskState::TaskRunning,
    );
    agent.send(&master.pid, &update);
    let (_, forwarded) = driver.expect::<Update>().await;
    assert_eq!(
        forwarded.pid.as_deref(),
        Some(agent.pid.to_string().as_str())
    );
    assert_eq!(forwarded.update.uuid.as_deref(), Some(uuid.as_slice()));

    let ack = v0_scheduler::Call {
        r#type: Some(v0_scheduler::call::Type::Acknowledge as i32),
        framework_id: Some(v0::FrameworkId {
            value: framework_id.clone(),
        }),
        acknowledge: Some(v0_scheduler::call::Acknowledge {
            slave_id: v0::SlaveId {
                value: agent_id.clone(),
            },
            task_id: v0::TaskId { value: "t".into() },
            uuid: uuid.clone(),
        }),
        ..Default::default()
    };
    driver.send(&master.pid, &ack);
    let (_, acked) = agent.expect::<StatusUpdateAcknowledgementMessage>().await;
    assert_eq!(acked.uuid, uuid);

    let s = state(&master).await;
    assert_eq!(s["frameworks"][0]["pid"], driver.pid.to_string());

    // Per-framework metrics of a driver, as upstream counts them: its
    // `Call` messages but not their SUBSCRIBE nor the legacy
    // LaunchTasksMessage (upstream counts neither), and what it was sent.
    let metrics = http(master.local_addr, "GET", "/metrics/snapshot", &[], b"")
        .await
        .json();
    let framework =
        |name: &str| metrics[format!("master/frameworks/v0/{framework_id}/{name}")].clone();
    assert_eq!(framework("calls/acknowledge"), 1.0, "{metrics}");
    assert_eq!(framework("calls/subscribe"), 0.0);
    assert_eq!(framework("calls/accept"), 0.0);
    assert_eq!(framework("calls"), 1.0);
    assert_eq!(framework("events/subscribed"), 1.0);
    assert_eq!(framework("events/update"), 1.0);
    assert!(framework("events/offers").as_f64().unwrap() >= 1.0);
    assert!(framework("offers/sent").as_f64().unwrap() >= 1.0);
    assert_eq!(framework("offers/accepted"), 1.0);
    assert_eq!(framework("operations/launch"), 1.0);

    // The driver process goes away: with the default failover timeout of 0
    // the framework is removed and the agent told to shut it down.
    driver.server.abort();
    let (_, shutdown) = agent
        .expect::<mesos_proto::mesos::internal::ShutdownFrameworkMessage>()
        .await;
    assert_eq!(shutdown.framework_id.value, framework_id);
}

#[tokio::test]
async fn agent_link_break_deactivates_and_reregistration_reactivates() {
    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
    let (mut stream, _) = subscribed(&master, framework_info(json!({}))).await;
    let offer = first_offer(&mut stream).await;

    // The agent's process goes away: the master's link breaks.
    agent.server.abort();
    let rescind = next_of(&mut stream, EventType::Rescind)
        .await
        .rescind
        .unwrap();
    assert_eq!(rescind.offer_id.value, offer.id.value);
    let s = state(&master).await;
    assert_eq!(s["slaves"][0]["active"], false);

    // It comes back on a new process with the same id.
    let mut agent = FakeAgent::start().await;
    let mut reregister = ReregisterSlaveMessage {
        slave: register_message(&agent).slave,
        version: Some("1.11.0".into()),
        ..Default::default()
    };
    reregister.slave.id = Some(v0::SlaveId {
        value: agent_id.clone(),
    });
    agent.send(&master.pid, &reregister);
    let (_, reregistered) = agent.expect::<SlaveReregisteredMessage>().await;
    assert_eq!(reregistered.slave_id.value, agent_id);
    let offers = next_of(&mut stream, EventType::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    assert_eq!(offers[0].agent_id.value, agent_id);
    let s = state(&master).await;
    assert_eq!(s["slaves"][0]["active"], true);
    assert_eq!(s["slaves"][0]["pid"], agent.pid.to_string());
}

#[tokio::test]
async fn unsupported_operations_with_an_id_get_operation_error() {
    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    register(&master, &mut agent).await;
    let (mut stream, framework_id) = subscribed(
        &master,
        framework_info(json!({"capabilities": [{"type": "MULTI_ROLE"}], "roles": ["db"]})),
    )
    .await;
    let offer = first_offer(&mut stream).await;
    let accept = json!({
        "type": "ACCEPT",
        "framework_id": {"value": framework_id},
        "accept": {
            "offer_ids": [{"value": offer.id.value}],
            "operations": [{
                "type": "RESERVE",
                "id": {"value": "op-1"},
                "reserve": {"resources": [{
                    "name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0},
                    "reservations": [{"type": "DYNAMIC", "role": "db"}]
                }]}
            }],
            "filters": {"refuse_seconds": 0.0}
        }
    });
    assert_eq!(
        call(master.local_addr, Some(&stream.stream_id()), &accept)
            .await
            .status,
        202
    );
    let status = next_of(&mut stream, EventType::UpdateOperationStatus)
        .await
        .update_operation_status
        .unwrap()
        .status;
    assert_eq!(status.operation_id.unwrap().value, "op-1");
    assert_eq!(
        status.state,
        mesos_proto::mesos::v1::OperationState::OperationError as i32
    );
    assert!(status.uuid.is_none());
    // The resources were not consumed: they are offered again.
    let again = next_of(&mut stream, EventType::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    assert_eq!(again[0].agent_id.value, offer.agent_id.value);
}

/// Upstream `ReservationTest.ReserveAndLaunch` +
/// `PersistentVolumeTest.CreateAndLaunch`: RESERVE, CREATE and LAUNCH in
/// one ACCEPT; the agent is sent its new checkpointed set before the task,
/// the task uses the volume, and what the task does not use comes back
/// reserved in the next offer.
#[tokio::test]
async fn accept_reserve_create_then_launch_on_the_volume() {
    use mesos_proto::mesos::internal::CheckpointResourcesMessage;
    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
    let (mut stream, framework_id) = subscribed(
        &master,
        framework_info(json!({"role": "db", "principal": "ops"})),
    )
    .await;
    let offer = first_offer(&mut stream).await;
    let reserved = |name: &str, value: f64| {
        json!({"name": name, "type": "SCALAR", "scalar": {"value": value},
               "role": "db", "reservation": {"principal": "ops"}})
    };
    let mut volume = reserved("disk", 16.0);
    volume["disk"] = json!({"persistence": {"id": "v1", "principal": "ops"},
                            "volume": {"container_path": "data", "mode": "RW"}});
    let accept = json!({
        "type": "ACCEPT",
        "framework_id": {"value": framework_id},
        "accept": {
            "offer_ids": [{"value": offer.id.value}],
            "operations": [
                {"type": "RESERVE", "reserve": {"resources": [
                    reserved("cpus", 1.0), reserved("disk", 16.0)]}},
                {"type": "CREATE", "create": {"volumes": [volume.clone()]}},
                {"type": "LAUNCH", "launch": {"task_infos": [{
                    "name": "t", "task_id": {"value": "t1"},
                    "agent_id": {"value": agent_id},
                    "resources": [reserved("cpus", 0.5), volume],
                    "command": {"value": "true"}
                }]}}
            ],
            "filters": {"refuse_seconds": 0.0}
        }
    });
    let answer = call(master.local_addr, Some(&stream.stream_id()), &accept).await;
    assert_eq!(answer.status, 202);

    // RESERVE, then CREATE: each sends the whole checkpointed set.
    let (_, first) = agent.expect::<CheckpointResourcesMessage>().await;
    assert_eq!(Resources::from_v0(&first.resources).scalar("cpus"), 1.0);
    let (_, second) = agent.expect::<CheckpointResourcesMessage>().await;
    let checkpointed = Resources::from_v0(&second.resources);
    assert_eq!(checkpointed.persistent_volumes().scalar("disk"), 16.0);
    assert_eq!(checkpointed.scalar("cpus"), 1.0);
    let (_, run) = agent.expect::<RunTaskMessage>().await;
    assert!(run
        .task
        .resources
        .iter()
        .any(|r| r.disk.as_ref().is_some_and(|d| d.persistence.is_some())));

    // The unused half of the reserved cpus is offered again, reserved.
    let again = next_of(&mut stream, EventType::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    let resources = Resources::from(again[0].resources.clone());
    assert_eq!(resources.reserved(Some("db")).scalar("cpus"), 0.5);
}
