//! Agent draining and deactivation against real `mesos-master` and
//! `mesos-agent` processes, a pymesos scheduler running a long task, and
//! the operator API over plain HTTP (upstream `MasterDrainingTest`):
//! DRAIN_AGENT kills the task (the scheduler sees TASK_KILLED with
//! REASON_AGENT_DRAINING), the agent ends DRAINED and is not offered;
//! REACTIVATE_AGENT brings its offers back; a deactivated agent stays
//! deactivated across a master restart with the file registry.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use compat_tests::*;
use serde_json::{json, Value};

fn operator(addr: &str, call: &Value) -> RawResponse {
    http_request(
        addr,
        "POST",
        "/api/v1",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        call.to_string().as_bytes(),
    )
    .expect("operator call")
}

fn agent_call(kind: &str, field: &str, agent_id: &str, extra: Value) -> Value {
    let mut body = json!({"agent_id": {"value": agent_id}});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    json!({"type": kind, field: body})
}

fn slaves(addr: &str) -> Value {
    http_get(addr, "/master/slaves")
        .expect("/master/slaves")
        .json()["slaves"]
        .clone()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn has_event(client: &BackgroundClient, check: impl Fn(&Value) -> bool) -> bool {
    client.events().iter().any(check)
}

#[test]
fn drain_agent_kills_the_task_and_reactivation_brings_offers_back() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let agent_id = slaves(&cluster.master)[0]["id"]
        .as_str()
        .expect("agent id")
        .to_string();
    let (client, stop) = stoppable_pymesos(&cluster, "pymesos_drain_scheduler.py");
    cluster.wait_with_client(&client, "TASK_RUNNING", |_, c| {
        has_event(c, |e| {
            e["event"] == "update" && e["state"] == "TASK_RUNNING"
        })
    });

    let r = operator(
        &cluster.master,
        &agent_call(
            "DRAIN_AGENT",
            "drain_agent",
            &agent_id,
            json!({"max_grace_period": {"seconds": 0}}),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let drained_at = now();
    let agent = &slaves(&cluster.master)[0];
    assert_eq!(agent["deactivated"], true, "{agent}");
    assert_eq!(agent["active"], false, "{agent}");

    cluster.wait_with_client(&client, "TASK_KILLED while draining", |_, c| {
        has_event(c, |e| {
            e["event"] == "update"
                && e["state"] == "TASK_KILLED"
                && e["reason"] == "REASON_AGENT_DRAINING"
        })
    });
    cluster.wait_with_client(&client, "the agent DRAINED", |cl, _| {
        slaves(&cl.master)[0]["drain_info"]["state"] == "DRAINED"
    });
    let agent = &slaves(&cluster.master)[0];
    assert_eq!(agent["drain_info"]["config"]["mark_gone"], false, "{agent}");
    assert_eq!(
        agent["drain_info"]["config"]["max_grace_period"]["nanoseconds"], 0,
        "{agent}"
    );
    assert!(
        agent["estimated_drain_start_time_seconds"].is_number(),
        "{agent}"
    );
    assert_eq!(agent["offered_resources"]["cpus"], 0.0, "{agent}");
    let state = cluster.master_state().expect("state");
    assert_eq!(state["deactivated_slaves"], 1.0, "{state}");

    // The operator API shows the same.
    let r = operator(&cluster.master, &json!({"type": "GET_AGENTS"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let listed = &r.json()["get_agents"]["agents"][0];
    assert_eq!(listed["deactivated"], true, "{listed}");
    assert_eq!(listed["drain_info"]["state"], "DRAINED", "{listed}");

    // A DRAINED agent can be reactivated; its offers come back. Offers made
    // to the framework after the drain was accepted would be a bug.
    let reactivated_at = now();
    let r = operator(
        &cluster.master,
        &agent_call("REACTIVATE_AGENT", "reactivate_agent", &agent_id, json!({})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let agent = &slaves(&cluster.master)[0];
    assert_eq!(agent["deactivated"], false, "{agent}");
    assert!(agent.get("drain_info").is_none(), "{agent}");
    cluster.wait_with_client(&client, "an offer after reactivation", |_, c| {
        has_event(c, |e| {
            e["event"] == "offer" && e["time"].as_f64().is_some_and(|t| t > reactivated_at)
        })
    });
    let during: Vec<Value> = client
        .events()
        .into_iter()
        .filter(|e| {
            e["event"] == "offer"
                && e["time"]
                    .as_f64()
                    .is_some_and(|t| t > drained_at + 0.5 && t < reactivated_at)
        })
        .collect();
    assert!(during.is_empty(), "offered while drained: {during:?}");

    // Reactivating an agent that is not deactivated is upstream's 400.
    let r = operator(
        &cluster.master,
        &agent_call("REACTIVATE_AGENT", "reactivate_agent", &agent_id, json!({})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("Agent is not deactivated"),
        "{}",
        r.text()
    );
    let r = operator(
        &cluster.master,
        &agent_call("DRAIN_AGENT", "drain_agent", "no-such-agent", json!({})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("Unknown agent"), "{}", r.text());
    std::fs::write(&stop, b"").expect("stop file");
}

#[test]
fn a_deactivated_agent_stays_deactivated_across_a_master_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let start_master = || {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("master.log"))
            .expect("log");
        let child = Command::new(our_binary("mesos-master"))
            .arg("--ip=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!(
                "--work_dir={}",
                dir.path().join("master").display()
            ))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn mesos-master");
        let master = Spawned {
            name: "mesos-master".into(),
            child,
        };
        wait_for(Duration::from_secs(20), "master state", || {
            http_get(&addr, "/master/state").is_ok_and(|r| r.status == 200)
        });
        master
    };
    let master = start_master();
    let agent_port = free_port();
    let agent_log = std::fs::File::create(dir.path().join("agent.log")).expect("log");
    let _agent = Spawned {
        name: "mesos-agent".into(),
        child: Command::new(our_binary("mesos-agent"))
            .arg(format!("--master={addr}"))
            .arg("--ip=127.0.0.1")
            .arg("--hostname=127.0.0.1")
            .arg(format!("--port={agent_port}"))
            .arg(format!("--work_dir={}", dir.path().join("agent").display()))
            .arg("--resources=cpus:2;mem:1024")
            .arg("--registration_backoff_factor=10ms")
            .stdout(agent_log.try_clone().expect("log"))
            .stderr(agent_log)
            .spawn()
            .expect("spawn mesos-agent"),
    };
    let logs = || {
        ["master.log", "agent.log"]
            .iter()
            .map(|name| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    wait_for(Duration::from_secs(30), "agent registration", || {
        slaves(&addr).as_array().is_some_and(|a| a.len() == 1)
    });
    let agent_id = slaves(&addr)[0]["id"].as_str().expect("id").to_string();
    let r = operator(
        &addr,
        &agent_call("DEACTIVATE_AGENT", "deactivate_agent", &agent_id, json!({})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(slaves(&addr)[0]["deactivated"], true);
    drop(master); // SIGKILL

    let _master = start_master();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let listed = slaves(&addr);
        if listed.as_array().is_some_and(|a| a.len() == 1) {
            assert_eq!(listed[0]["deactivated"], true, "{listed}\n{}", logs());
            assert_eq!(listed[0]["active"], false, "{listed}\n{}", logs());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "agent did not re-register\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = operator(
        &addr,
        &agent_call("REACTIVATE_AGENT", "reactivate_agent", &agent_id, json!({})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let listed = slaves(&addr);
    assert_eq!(listed[0]["deactivated"], false, "{listed}");
    assert_eq!(listed[0]["active"], true, "{listed}");
}
