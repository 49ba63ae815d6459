//! Inverse offers for a maintenance window against real `mesos-master` and
//! `mesos-agent` processes and a pymesos 0.3.15 scheduler (upstream
//! `MasterMaintenanceTest.InverseOffers`): with a task running on the
//! agent, the operator schedules the agent's machine; the framework is
//! sent an inverse offer for the agent carrying the window, its offers
//! carry the unavailability, it accepts, and `/master/maintenance/status`
//! shows ACCEPT from that framework. Taking the machine out of the schedule
//! rescinds the inverse offer outstanding then.

use compat_tests::*;
use serde_json::{json, Value};

const START_NANOS: i64 = 4_000_000_000_000_000_000;

fn machine() -> Value {
    // The test agent's hostname is its IP.
    json!({"hostname": "127.0.0.1", "ip": "127.0.0.1"})
}

fn status(addr: &str) -> Value {
    let r = http_get(addr, "/master/maintenance/status").expect("status");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn events_of(client: &BackgroundClient, kind: &str) -> Vec<Value> {
    client
        .events()
        .into_iter()
        .filter(|e| e["event"] == kind)
        .collect()
}

#[test]
fn framework_with_a_task_accepts_the_inverse_offer_of_a_scheduled_machine() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let (client, stop) = stoppable_pymesos(&cluster, "pymesos_inverse_offers.py");
    cluster.wait_with_client(&client, "TASK_RUNNING", |_, c| {
        events_of(c, "update")
            .iter()
            .any(|e| e["state"] == "TASK_RUNNING")
    });
    let framework_id = events_of(&client, "registered")[0]["framework_id"]
        .as_str()
        .expect("framework id")
        .to_string();
    let agent_id = http_get(&cluster.master, "/master/slaves")
        .expect("/master/slaves")
        .json()["slaves"][0]["id"]
        .as_str()
        .expect("agent id")
        .to_string();
    // Nothing is asked before the machine is scheduled.
    assert!(events_of(&client, "inverse_offer").is_empty());
    let offers_before = events_of(&client, "offer").len();

    let schedule = json!({"windows": [{
        "machine_ids": [machine()],
        "unavailability": {
            "start": {"nanoseconds": START_NANOS},
            "duration": {"nanoseconds": 3_600_000_000_000i64}
        }
    }]});
    let r = post_json(
        &cluster.master,
        "/master/maintenance/schedule",
        &schedule.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    cluster.wait_with_client(&client, "the inverse offer accepted", |_, c| {
        !events_of(c, "accepted").is_empty()
    });
    let inverse = &events_of(&client, "inverse_offer")[0];
    assert_eq!(inverse["agent_id"], agent_id.as_str(), "{inverse}");
    assert_eq!(inverse["framework_id"], framework_id.as_str(), "{inverse}");
    assert_eq!(
        inverse["unavailability"]["start"]["nanoseconds"]
            .as_i64()
            .or_else(|| inverse["unavailability"]["start"]["nanoseconds"]
                .as_str()
                .and_then(|s| s.parse().ok())),
        Some(START_NANOS),
        "{inverse}"
    );
    assert_eq!(inverse["url"]["address"]["ip"], "127.0.0.1", "{inverse}");

    cluster.wait_with_client(&client, "ACCEPT in the status", |c, _| {
        let s = status(&c.master);
        let machine_status = &s["draining_machines"][0];
        machine_status["id"] == machine()
            && machine_status["statuses"].as_array().is_some_and(|all| {
                all.iter().any(|st| {
                    st["status"] == "ACCEPT" && st["framework_id"]["value"] == framework_id.as_str()
                })
            })
    });
    // Offers made since the schedule say when the agent goes.
    cluster.wait_with_client(&client, "an offer with unavailability", |_, c| {
        events_of(c, "offer")
            .iter()
            .skip(offers_before)
            .any(|o| o["unavailability"].is_object())
    });

    // Accepted without a filter: asked again; that one stays unanswered
    // until the machine leaves the schedule, which rescinds it.
    cluster.wait_with_client(&client, "a second inverse offer", |_, c| {
        events_of(c, "inverse_offer").len() >= 2
    });
    let second = events_of(&client, "inverse_offer")[1]["id"].clone();
    let r = post_json(&cluster.master, "/master/maintenance/schedule", "{}");
    assert_eq!(r.status, 200, "{}", r.text());
    cluster.wait_with_client(&client, "the inverse offer rescinded", |_, c| {
        events_of(c, "inverse_offer_rescinded")
            .iter()
            .any(|e| e["id"] == second)
    });
    assert_eq!(status(&cluster.master), json!({}));
    std::fs::write(&stop, b"").expect("stop file");
}
