//! Inverse offers for maintenance against a fake agent and an HTTP
//! scheduler, on paused tokio time (upstream `MasterMaintenanceTest`
//! `InverseOffers`, `InverseOffersFilters`, `PendingUnavailabilityTest`):
//! a framework with a task on a DRAINING machine's agent is asked for it,
//! its ACCEPT or DECLINE shows in the maintenance status, a refusal filter
//! holds the next inverse offer back until it expires (or REVIVE), and the
//! inverse offer is rescinded when the machine leaves DRAINING.

use std::time::Duration;

use mesos_proto::mesos::allocator::inverse_offer_status::Status;
use mesos_proto::mesos::maintenance::{Schedule, Window};
use mesos_proto::mesos::v1::scheduler::event::Type as EventType;
use mesos_proto::mesos::v1::InverseOffer;
use mesos_proto::mesos::{DurationInfo, MachineId, TimeInfo, Unavailability};
use serde_json::{json, Value};

use super::drain_tests::running_task;
use super::registry_tests::keep_alive;
use super::tests::{framework_info, register, subscribed};
use crate::testing::{call, http, start_master, FakeAgent, Stream};
use crate::Running;

const START_NANOS: i64 = 4_000_000_000_000_000_000;

fn machine() -> MachineId {
    // `register` names the agent `agent-host`; the fake agent is local.
    MachineId {
        hostname: Some("agent-host".into()),
        ip: Some("127.0.0.1".into()),
    }
}

fn schedule() -> Schedule {
    Schedule {
        windows: vec![Window {
            machine_ids: vec![machine()],
            unavailability: Unavailability {
                start: TimeInfo {
                    nanoseconds: START_NANOS,
                },
                duration: Some(DurationInfo {
                    nanoseconds: 3_600_000_000_000,
                }),
            },
        }],
    }
}

/// A master, an agent on `agent-host` kept healthy, and a framework with
/// a running task on it.
async fn framework_with_task() -> (Running, Stream, String, String) {
    framework_with_task_on(&[]).await
}

async fn framework_with_task_on(flags: &[&str]) -> (Running, Stream, String, String) {
    let master = start_master(flags).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
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
    drop(keep_alive(agent));
    (master, stream, framework_id, agent_id)
}

/// Waits for the next INVERSE_OFFERS; checks every OFFERS on the way
/// carries the agent's unavailability.
async fn next_inverse_offer(stream: &mut Stream) -> InverseOffer {
    loop {
        let event = stream
            .next_within(Duration::from_secs(120))
            .await
            .expect("stream ended waiting for an inverse offer");
        if let Some(offers) = &event.offers {
            for offer in &offers.offers {
                assert_eq!(
                    offer.unavailability.as_ref().map(|u| u.start.nanoseconds),
                    Some(START_NANOS),
                    "{offer:?}"
                );
            }
        }
        if event.r#type == Some(EventType::InverseOffers as i32) {
            let mut offers = event.inverse_offers.expect("inverse_offers").inverse_offers;
            assert_eq!(offers.len(), 1, "{offers:?}");
            return offers.remove(0);
        }
    }
}

fn answer(kind: &str, framework_id: &str, offer: &InverseOffer, refuse: Option<f64>) -> Value {
    let field = kind.to_ascii_lowercase();
    let mut body = json!({"inverse_offer_ids": [{"value": offer.id.value}]});
    if let Some(seconds) = refuse {
        body["filters"] = json!({"refuse_seconds": seconds});
    }
    json!({
        "type": kind,
        "framework_id": {"value": framework_id},
        field: body,
    })
}

async fn send(master: &Running, stream: &Stream, body: &Value) {
    let answer = call(master.local_addr, Some(&stream.stream_id()), body).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
}

/// The answers the maintenance status shows for the one DRAINING machine.
async fn statuses(master: &Running) -> Vec<(String, i32)> {
    let status = master.handle.maintenance_status().await;
    assert_eq!(status.draining_machines.len(), 1, "{status:?}");
    assert_eq!(status.draining_machines[0].id, machine());
    status.draining_machines[0]
        .statuses
        .iter()
        .map(|s| (s.framework_id.value.clone(), s.status))
        .collect()
}

async fn operator(master: &Running, body: Value) -> Value {
    let answer = http(
        master.local_addr,
        "POST",
        "/api/v1",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

// Upstream `MasterMaintenanceTest.InverseOffers`: the inverse offer names
// the agent, its URL and the window; a DECLINE and then an ACCEPT (both
// with a zero filter) are recorded, and each is followed by a new inverse
// offer in the next cycle.
#[tokio::test(start_paused = true)]
async fn draining_machine_gets_inverse_offers_and_answers_are_recorded() {
    let (master, mut stream, framework_id, agent_id) = framework_with_task().await;
    master
        .handle
        .update_maintenance_schedule(schedule())
        .await
        .expect("schedule");
    let offer = next_inverse_offer(&mut stream).await;
    assert_eq!(offer.framework_id.value, framework_id);
    assert_eq!(
        offer.agent_id.as_ref().map(|a| a.value.as_str()),
        Some(agent_id.as_str())
    );
    assert_eq!(offer.unavailability.start.nanoseconds, START_NANOS);
    assert!(offer.resources.is_empty());
    let url = offer.url.as_ref().expect("url");
    assert_eq!(url.address.hostname.as_deref(), Some("agent-host"));
    assert_eq!(url.path.as_deref(), Some("/slave(1)"));
    // Upstream keeps an id sequence shared with offers.
    assert!(offer.id.value.starts_with(&format!("{}-O", master.info.id)));
    // Asked, not answered.
    assert!(statuses(&master).await.is_empty());

    // GET_FRAMEWORKS lists the outstanding inverse offer.
    let frameworks = operator(&master, json!({"type": "GET_FRAMEWORKS"})).await;
    let listed = &frameworks["get_frameworks"]["frameworks"][0]["inverse_offers"];
    assert_eq!(listed[0]["id"]["value"], offer.id.value, "{frameworks}");
    assert_eq!(listed[0]["agent_id"]["value"], agent_id.as_str());

    send(
        &master,
        &stream,
        &answer("DECLINE_INVERSE_OFFERS", &framework_id, &offer, Some(0.0)),
    )
    .await;
    let again = next_inverse_offer(&mut stream).await;
    assert_ne!(again.id.value, offer.id.value);
    assert_eq!(
        statuses(&master).await,
        vec![(framework_id.clone(), Status::Decline as i32)]
    );

    send(
        &master,
        &stream,
        &answer("ACCEPT_INVERSE_OFFERS", &framework_id, &again, Some(0.0)),
    )
    .await;
    next_inverse_offer(&mut stream).await;
    assert_eq!(
        statuses(&master).await,
        vec![(framework_id.clone(), Status::Accept as i32)]
    );
    // The v1 operator API shows the same.
    let status = operator(&master, json!({"type": "GET_MAINTENANCE_STATUS"})).await;
    let machine = &status["get_maintenance_status"]["status"]["draining_machines"][0];
    assert_eq!(machine["statuses"][0]["status"], "ACCEPT", "{status}");
    assert_eq!(
        machine["statuses"][0]["framework_id"]["value"],
        framework_id.as_str()
    );
    assert!(machine["statuses"][0]["timestamp"]["nanoseconds"].is_i64());

    // An id that is no inverse offer (here a stale one) changes nothing.
    send(
        &master,
        &stream,
        &answer("DECLINE_INVERSE_OFFERS", &framework_id, &offer, None),
    )
    .await;
    assert_eq!(
        statuses(&master).await,
        vec![(framework_id, Status::Accept as i32)]
    );
}

// Upstream `InverseOffersFilters`: a DECLINE with `refuse_seconds` holds
// the next inverse offer back until the filter expires; REVIVE lifts it.
#[tokio::test(start_paused = true)]
async fn declined_inverse_offer_is_not_resent_until_its_filter_expires() {
    let (master, mut stream, framework_id, _) = framework_with_task().await;
    master
        .handle
        .update_maintenance_schedule(schedule())
        .await
        .expect("schedule");
    let offer = next_inverse_offer(&mut stream).await;
    let declined_at = tokio::time::Instant::now();
    send(
        &master,
        &stream,
        &answer("DECLINE_INVERSE_OFFERS", &framework_id, &offer, Some(60.0)),
    )
    .await;
    let again = next_inverse_offer(&mut stream).await;
    let waited = declined_at.elapsed();
    assert!(
        waited >= Duration::from_secs(60) && waited < Duration::from_secs(63),
        "{waited:?}"
    );

    // Without a filter in the answer there is none (upstream): asked
    // again in the next cycle.
    let answered_at = tokio::time::Instant::now();
    send(
        &master,
        &stream,
        &answer("ACCEPT_INVERSE_OFFERS", &framework_id, &again, None),
    )
    .await;
    let third = next_inverse_offer(&mut stream).await;
    assert!(answered_at.elapsed() < Duration::from_secs(3));

    let answered_at = tokio::time::Instant::now();
    send(
        &master,
        &stream,
        &answer("DECLINE_INVERSE_OFFERS", &framework_id, &third, Some(600.0)),
    )
    .await;
    send(
        &master,
        &stream,
        &json!({"type": "REVIVE", "framework_id": {"value": framework_id}}),
    )
    .await;
    next_inverse_offer(&mut stream).await;
    assert!(answered_at.elapsed() < Duration::from_secs(3));
}

/// Waits for RESCIND_INVERSE_OFFER; returns the id.
async fn next_rescinded(stream: &mut Stream) -> String {
    loop {
        let event = stream
            .next_within(Duration::from_secs(120))
            .await
            .expect("stream ended waiting for a rescinded inverse offer");
        if let Some(rescind) = event.rescind_inverse_offer {
            return rescind.inverse_offer_id.value;
        }
    }
}

// The machine leaves DRAINING: taken out of the schedule, the inverse
// offer is rescinded and offers come without unavailability; scheduled
// again and taken DOWN, the agent goes and its inverse offer is rescinded.
#[tokio::test(start_paused = true)]
async fn inverse_offers_are_rescinded_when_the_machine_leaves_draining() {
    let (master, mut stream, _, _) = framework_with_task().await;
    master
        .handle
        .update_maintenance_schedule(schedule())
        .await
        .expect("schedule");
    let offer = next_inverse_offer(&mut stream).await;

    master
        .handle
        .update_maintenance_schedule(Schedule::default())
        .await
        .expect("unschedule");
    assert_eq!(next_rescinded(&mut stream).await, offer.id.value);
    let status = master.handle.maintenance_status().await;
    assert!(status.draining_machines.is_empty(), "{status:?}");
    assert!(master.handle.snapshot().await.frameworks[0]
        .inverse_offers
        .is_empty());
    // Nothing more is asked; offers no longer carry an unavailability.
    let mut offered = false;
    while let Some(event) = stream.next_within(Duration::from_secs(10)).await {
        assert_ne!(event.r#type, Some(EventType::InverseOffers as i32));
        if let Some(offers) = event.offers {
            offered = true;
            assert!(offers.offers.iter().all(|o| o.unavailability.is_none()));
        }
    }
    assert!(offered);

    master
        .handle
        .update_maintenance_schedule(schedule())
        .await
        .expect("schedule again");
    let offer = next_inverse_offer(&mut stream).await;
    master
        .handle
        .start_maintenance(vec![machine()])
        .await
        .expect("machine down");
    assert_eq!(next_rescinded(&mut stream).await, offer.id.value);
    let snapshot = master.handle.snapshot().await;
    assert!(snapshot.agents.is_empty());
    assert!(snapshot.frameworks[0].inverse_offers.is_empty());
    assert_eq!(snapshot.maintenance_status.down_machines, vec![machine()]);
}

// A v0 driver hears `InverseOffersMessage` (with the agent's pid beside
// each inverse offer) and `RescindInverseOfferMessage`; it answers with a
// scheduler `Call` message, as libmesos drivers send calls.
#[tokio::test(start_paused = true)]
async fn v0_driver_gets_inverse_offers_as_messages_and_answers_with_calls() {
    use mesos_proto::mesos::internal::{
        FrameworkRegisteredMessage, InverseOffersMessage, LaunchTasksMessage,
        RescindInverseOfferMessage, ResourceOffersMessage, RunTaskMessage,
    };
    use mesos_proto::mesos::scheduler as v0_scheduler;
    use mesos_proto::mesos::{self as v0};
    use mesos_proto::resources::Resources;

    let master = start_master(&[]).await;
    let mut agent = FakeAgent::start().await;
    let agent_id = register(&master, &mut agent).await;
    let agent_pid = agent.pid.to_string();
    let mut driver = FakeAgent::start_as("scheduler-1").await;
    driver.send(
        &master.pid,
        &v0_scheduler::Call {
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
        },
    );
    let framework_id = driver
        .expect::<FrameworkRegisteredMessage>()
        .await
        .1
        .framework_id;
    let (_, offers) = driver.expect::<ResourceOffersMessage>().await;
    let offer = &offers.offers[0];
    driver.send(
        &master.pid,
        &LaunchTasksMessage {
            framework_id: framework_id.clone(),
            offer_ids: vec![offer.id.clone()],
            filters: v0::Filters::default(),
            tasks: vec![v0::TaskInfo {
                name: "t".into(),
                task_id: v0::TaskId { value: "t".into() },
                slave_id: offer.slave_id.clone(),
                resources: Resources::parse("cpus:1;mem:64", "*")
                    .expect("resources")
                    .to_v0(),
                command: Some(v0::CommandInfo {
                    value: Some("sleep 1000".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
        },
    );
    agent.expect::<RunTaskMessage>().await;
    drop(keep_alive(agent));

    master
        .handle
        .update_maintenance_schedule(schedule())
        .await
        .expect("schedule");
    let (_, message) = driver.expect::<InverseOffersMessage>().await;
    assert_eq!(message.pids, vec![agent_pid]);
    let inverse = &message.inverse_offers[0];
    assert_eq!(
        inverse.slave_id.as_ref().map(|s| s.value.as_str()),
        Some(agent_id.as_str())
    );
    assert_eq!(inverse.unavailability.start.nanoseconds, START_NANOS);

    driver.send(
        &master.pid,
        &v0_scheduler::Call {
            r#type: Some(v0_scheduler::call::Type::DeclineInverseOffers as i32),
            framework_id: Some(framework_id.clone()),
            decline_inverse_offers: Some(v0_scheduler::call::DeclineInverseOffers {
                inverse_offer_ids: vec![inverse.id.clone()],
                filters: Some(v0::Filters {
                    refuse_seconds: Some(0.0),
                }),
            }),
            ..Default::default()
        },
    );
    let (_, second) = driver.expect::<InverseOffersMessage>().await;
    assert_eq!(
        statuses(&master).await,
        vec![(framework_id.value.clone(), Status::Decline as i32)]
    );
    master
        .handle
        .update_maintenance_schedule(Schedule::default())
        .await
        .expect("unschedule");
    let (_, rescinded) = driver.expect::<RescindInverseOfferMessage>().await;
    assert_eq!(rescinded.inverse_offer_id, second.inverse_offers[0].id);
}

// Upstream `Master::deactivate(Slave*)` and `removeFramework`: a
// deactivated agent's inverse offer is rescinded and asked again once it
// is reactivated; a framework that leaves takes its inverse offers with
// it, while its recorded answer stays in the status.
#[tokio::test(start_paused = true)]
async fn agent_deactivation_rescinds_and_teardown_removes_inverse_offers() {
    use super::drain::DrainCommand;

    let (master, mut stream, framework_id, agent_id) = framework_with_task().await;
    master
        .handle
        .update_maintenance_schedule(schedule())
        .await
        .expect("schedule");
    let offer = next_inverse_offer(&mut stream).await;
    master
        .handle
        .drain(DrainCommand::Deactivate {
            agent_id: agent_id.as_str().into(),
        })
        .await
        .expect("deactivate");
    assert_eq!(next_rescinded(&mut stream).await, offer.id.value);
    // Not asked while deactivated.
    while let Some(event) = stream.next_within(Duration::from_secs(5)).await {
        assert_ne!(event.r#type, Some(EventType::InverseOffers as i32));
    }
    master
        .handle
        .drain(DrainCommand::Reactivate {
            agent_id: agent_id.as_str().into(),
        })
        .await
        .expect("reactivate");
    let again = next_inverse_offer(&mut stream).await;
    send(
        &master,
        &stream,
        &answer("ACCEPT_INVERSE_OFFERS", &framework_id, &again, None),
    )
    .await;
    next_inverse_offer(&mut stream).await;
    assert_eq!(
        master.handle.snapshot().await.frameworks[0]
            .inverse_offers
            .len(),
        1
    );

    master
        .handle
        .teardown(&framework_id)
        .await
        .expect("teardown");
    let snapshot = master.handle.snapshot().await;
    assert!(snapshot.frameworks.is_empty());
    assert!(snapshot
        .completed_frameworks
        .iter()
        .all(|f| f.inverse_offers.is_empty()));
    assert_eq!(
        statuses(&master).await,
        vec![(framework_id, Status::Accept as i32)]
    );
}

// Upstream `inverseOfferTimeout`: `--offer_timeout` rescinds an unanswered
// inverse offer (no answer recorded) and a new one follows.
#[tokio::test(start_paused = true)]
async fn unanswered_inverse_offer_is_rescinded_after_the_offer_timeout() {
    let (master, mut stream, _, _) = framework_with_task_on(&["--offer_timeout=30secs"]).await;
    master
        .handle
        .update_maintenance_schedule(schedule())
        .await
        .expect("schedule");
    let offer = next_inverse_offer(&mut stream).await;
    let sent_at = tokio::time::Instant::now();
    assert_eq!(next_rescinded(&mut stream).await, offer.id.value);
    let waited = sent_at.elapsed();
    assert!(
        waited >= Duration::from_secs(29) && waited < Duration::from_secs(32),
        "{waited:?}"
    );
    assert!(statuses(&master).await.is_empty());
    let again = next_inverse_offer(&mut stream).await;
    assert_ne!(again.id.value, offer.id.value);
}

// Upstream keeps answers in memory only: a new leader, recovering the
// schedule from the registry, asks the frameworks again once the agent
// re-registers with their tasks and they re-subscribe.
#[tokio::test(start_paused = true)]
async fn a_new_leader_asks_again_after_the_agent_reregisters() {
    use crate::registry::operations::{apply_maintenance, Operation};
    use crate::testing::{start_master_with, subscribe, TestStore};
    use mesos_proto::mesos::internal::{
        Registry, ReregisterSlaveMessage, SlaveReregisteredMessage,
    };
    use mesos_proto::mesos::{self as v0};
    use mesos_proto::resources::Resources;

    let mut registry = Registry::default();
    apply_maintenance(
        &Operation::UpdateSchedule(Box::new(schedule())),
        &mut registry,
    );
    let store = TestStore::with(&registry).await;
    let master = start_master_with(&[], store).await;
    let mut agent = FakeAgent::start().await;
    let mut resources = Resources::parse("cpus:1;mem:64", "*")
        .expect("resources")
        .to_v0();
    for r in &mut resources {
        r.allocation_info = Some(v0::resource::AllocationInfo {
            role: Some("*".into()),
        });
    }
    let mut slave = super::tests::register_message(&agent).slave;
    slave.id = Some(v0::SlaveId {
        value: "old-agent".into(),
    });
    agent.send(
        &master.pid,
        &ReregisterSlaveMessage {
            slave,
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
                resources,
                ..Default::default()
            }],
            frameworks: vec![v0::FrameworkInfo {
                user: "root".into(),
                name: "old".into(),
                id: Some(v0::FrameworkId {
                    value: "old-framework".into(),
                }),
                failover_timeout: Some(600.0),
                ..Default::default()
            }],
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    agent.expect::<SlaveReregisteredMessage>().await;
    drop(keep_alive(agent));
    // No answers survive the failover.
    assert!(statuses(&master).await.is_empty());

    let mut info = framework_info(json!({"failover_timeout": 600.0}));
    info["id"] = json!({"value": "old-framework"});
    let mut stream = subscribe(
        master.local_addr,
        &json!({"type": "SUBSCRIBE", "framework_id": {"value": "old-framework"},
                "subscribe": {"framework_info": info}}),
    )
    .await;
    let offer = next_inverse_offer(&mut stream).await;
    assert_eq!(offer.framework_id.value, "old-framework");
    assert_eq!(
        offer.agent_id.as_ref().map(|a| a.value.as_str()),
        Some("old-agent")
    );
}
