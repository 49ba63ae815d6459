//! Maintenance against real `mesos-master` and `mesos-agent` processes
//! (upstream `MasterMaintenanceTest`): posting a schedule makes its
//! machines DRAINING, `/machine/down` takes them DOWN (their agents are
//! shut down and removed), `/machine/up` forgets them; the schedule and
//! modes survive a master restart; bad input gets upstream's 400s.

use std::process::Command;
use std::time::Duration;

use compat_tests::*;
use serde_json::{json, Value};

fn machine() -> Value {
    json!({"hostname": "127.0.0.1", "ip": "127.0.0.1"})
}

fn schedule_for(machines: Value) -> String {
    json!({"windows": [{
        "machine_ids": machines,
        "unavailability": {
            "start": {"nanoseconds": 1_000_000_000i64},
            "duration": {"nanoseconds": 3_600_000_000_000i64}
        }
    }]})
    .to_string()
}

fn status(addr: &str) -> Value {
    let r = http_get(addr, "/master/maintenance/status").expect("status");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn machine_down_removes_its_agent_and_machine_up_forgets_it() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let r = post_json(
        &cluster.master,
        "/master/maintenance/schedule",
        &schedule_for(json!([machine()])),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let schedule = http_get(&cluster.master, "/master/maintenance/schedule")
        .expect("schedule")
        .json();
    assert_eq!(schedule["windows"][0]["machine_ids"][0], machine());
    let s = status(&cluster.master);
    assert_eq!(s["draining_machines"][0]["id"], machine(), "{s}");

    // Up before down is refused: the machine is DRAINING.
    let r = post_json(
        &cluster.master,
        "/master/machine/up",
        &json!([machine()]).to_string(),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("is not in DOWN mode"), "{}", r.text());

    let r = post_json(
        &cluster.master,
        "/machine/down",
        &json!([machine()]).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let s = status(&cluster.master);
    assert_eq!(s["down_machines"][0], machine(), "{s}");
    wait_for(Duration::from_secs(20), "agent removed", || {
        cluster
            .master_state()
            .is_some_and(|s| s["slaves"].as_array().is_some_and(|a| a.is_empty()))
    });
    // The agent was told to shut down; started again, it is refused while
    // its machine is DOWN.
    wait_for(Duration::from_secs(30), "agent exits", || {
        cluster.agent_exited()
    });
    cluster.start_agent();
    wait_for(Duration::from_secs(30), "re-registration refused", || {
        cluster
            .logs()
            .contains("because the machine '127.0.0.1' that it is running on is `DOWN`")
    });
    assert!(cluster
        .master_state()
        .is_some_and(|s| s["slaves"].as_array().is_some_and(|a| a.is_empty())));
    // A DOWN machine cannot leave the schedule.
    let r = post_json(&cluster.master, "/master/maintenance/schedule", "{}");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("is deactivated"), "{}", r.text());

    let r = post_json(
        &cluster.master,
        "/master/machine/up",
        &json!([machine()]).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(status(&cluster.master), json!({}));
    let schedule = http_get(&cluster.master, "/master/maintenance/schedule")
        .expect("schedule")
        .json();
    assert!(
        schedule
            .get("windows")
            .is_none_or(|w| w.as_array().is_some_and(|a| a.is_empty())),
        "{schedule}"
    );
}

#[test]
fn maintenance_survives_a_master_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let start = || {
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
    let master = start();
    let other = json!({"hostname": "other.example", "ip": "10.0.0.2"});
    let r = post_json(
        &addr,
        "/master/maintenance/schedule",
        &schedule_for(json!([machine(), other])),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post_json(&addr, "/master/machine/down", &json!([other]).to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let before = status(&addr);
    drop(master); // SIGKILL

    let _master = start();
    assert_eq!(status(&addr), before);
    let s = status(&addr);
    assert_eq!(s["down_machines"], json!([other]), "{s}");
    assert_eq!(s["draining_machines"][0]["id"], machine(), "{s}");
}

#[test]
fn bad_maintenance_input_gets_upstream_400s() {
    let cluster = Cluster::start(ClusterOptions::default());
    let m = &cluster.master;
    for (path, body, message) in [
        (
            "/master/maintenance/schedule",
            "not json",
            "Failed to parse",
        ),
        (
            "/master/maintenance/schedule",
            "[]",
            "Expecting a JSON object",
        ),
        (
            "/master/maintenance/schedule",
            &schedule_for(json!([])),
            "List of machines in the maintenance window is empty",
        ),
        (
            "/master/maintenance/schedule",
            &schedule_for(json!([machine(), machine()])),
            "appears more than once in the schedule",
        ),
        (
            "/master/maintenance/schedule",
            &schedule_for(json!([{"hostname": "", "ip": ""}])),
            "Both 'hostname' and 'ip' for a machine are empty",
        ),
        (
            "/master/maintenance/schedule",
            &schedule_for(json!([{"hostname": "h", "ip": "300.1.1.1"}])),
            "IP address",
        ),
        ("/master/machine/down", "[]", "List of machines is empty"),
        ("/master/machine/down", "{}", "JSON array"),
        (
            "/master/machine/down",
            &json!([machine()]).to_string(),
            "is not part of a maintenance schedule",
        ),
        (
            "/master/machine/up",
            &json!([machine()]).to_string(),
            "is not part of a maintenance schedule",
        ),
    ] {
        let r = post_json(m, path, body);
        assert_eq!(r.status, 400, "{path} {body}: {}", r.text());
        assert!(r.text().contains(message), "{path} {body}: {}", r.text());
    }
    for path in ["/master/machine/down", "/master/machine/up"] {
        let r = http_get(m, path).expect("get");
        assert_eq!(r.status, 405, "{path}");
    }
    let r = http_request(m, "PUT", "/master/maintenance/schedule", &[], b"").expect("put");
    assert_eq!(r.status, 405);
    // Nothing above changed the schedule; the master still serves.
    assert_eq!(status(m), json!({}));
}
