//! Dynamic reservations and persistent volumes end to end: a stock pymesos
//! framework (v1 HTTP) RESERVEs, CREATEs a volume and LAUNCHes a task on
//! them in one ACCEPT, sees them in its next offers, and a second task reads
//! what the first wrote into the volume; the agent keeps them across a
//! restart (`meta/resources/resources.info`), and DESTROY + UNRESERVE give
//! the resources back.

use std::process::Command;
use std::time::Duration;

use compat_tests::*;
use serde_json::Value;

fn reservations_scheduler(cluster: &Cluster, extra: &[&str]) -> (Vec<Value>, String, bool) {
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_reservations.py"))
        .arg(format!("--master={}", cluster.master))
        .args(extra);
    let (events, output, status) = run_client(cmd, Duration::from_secs(90));
    (events, output, status.success())
}

fn check(cluster: &mut Cluster, ok: bool, output: &str) {
    if !ok {
        panic!("client failed:\n{output}\n{}", cluster.logs());
    }
    cluster.assert_alive();
}

fn volume_id(events: &[Value]) -> String {
    events
        .iter()
        .find(|e| e["event"] == "accept" && e["phase"] == "reserve")
        .and_then(|e| e["volume_id"].as_str())
        .expect("the framework accepted with RESERVE + CREATE")
        .to_string()
}

/// `reserved_resources` of the only agent in `/master/slaves`, for `eng`.
fn reserved_for_eng(cluster: &Cluster) -> Value {
    let slaves = http_get(&cluster.master, "/master/slaves")
        .expect("GET /master/slaves")
        .json();
    slaves["slaves"][0]["reserved_resources"]["eng"].clone()
}

#[test]
fn pymesos_reserve_create_launch_then_the_volume_persists_across_tasks() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let (events, output, ok) = reservations_scheduler(&cluster, &[]);
    check(&mut cluster, ok, &output);
    let id = volume_id(&events);

    // The offer after the writer finished carried the reservation and the
    // volume with its container path.
    let reserved_offer = events
        .iter()
        .find(|e| {
            e["event"] == "offer"
                && e["volumes"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|v| v == id.as_str()))
        })
        .unwrap_or_else(|| panic!("no offer with the volume: {output}"));
    assert_eq!(reserved_offer["volume_container_paths"][0], "data");
    assert!(reserved_offer["reserved_cpus"].as_f64().unwrap_or(0.0) >= 1.0);
    assert!(reserved_offer["reserved_mem"].as_f64().unwrap_or(0.0) >= 128.0);
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "update")
        .filter_map(|e| e["state"].as_str())
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "TASK_FINISHED").count(), 2);

    // The master's view, the agent's checkpoint and the volume directory.
    let reserved = reserved_for_eng(&cluster);
    assert_eq!(reserved["cpus"], 1.0, "{reserved}");
    assert_eq!(reserved["mem"], 128.0, "{reserved}");
    assert_eq!(reserved["disk"], 64.0, "{reserved}");
    let agent_dir = cluster.work_dir.join("agent");
    assert!(agent_dir.join("meta/resources/resources.info").is_file());
    let volume = agent_dir.join("volumes/roles/eng").join(&id);
    let written = std::fs::read_to_string(volume.join("hello.txt")).expect("the task's file");
    assert!(written.trim() == "persisted-by-writer", "{written}");

    // An agent restart keeps the checkpointed resources and the volume: it
    // re-registers with them and the master still shows the reservation.
    cluster.stop_agent("TERM", Duration::from_secs(20));
    cluster.start_agent();
    wait_for(Duration::from_secs(30), "agent re-registration", || {
        cluster.registered_agents() >= 1 && reserved_for_eng(&cluster)["cpus"] == 1.0
    });
    // The agent's own view after its restart includes them too.
    wait_for(
        Duration::from_secs(10),
        "agent /state with the reservation",
        || {
            cluster
                .agent_state()
                .is_some_and(|s| s["reserved_resources"]["eng"]["disk"] == 64.0)
        },
    );
    assert!(volume.join("hello.txt").is_file());
    cluster.assert_alive();
}

#[test]
fn pymesos_destroy_and_unreserve_give_the_resources_back() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let (events, output, ok) = reservations_scheduler(&cluster, &["--cleanup"]);
    check(&mut cluster, ok, &output);
    let id = volume_id(&events);
    assert!(events.iter().any(|e| e["event"] == "cleaned"), "{output}");
    wait_for(Duration::from_secs(10), "no reservation left", || {
        reserved_for_eng(&cluster).is_null()
    });
    // DESTROY removed the volume's directory on the agent.
    let volume = cluster.work_dir.join("agent/volumes/roles/eng").join(&id);
    wait_for(Duration::from_secs(10), "volume directory removed", || {
        !volume.exists()
    });
    cluster.assert_alive();
}
