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

/// A master with the file registry in `dir`, with extra flags.
fn file_registry_master(dir: &std::path::Path, port: u16, extra: &[&str]) -> Spawned {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("master.log"))
        .expect("log");
    let child = Command::new(our_binary("mesos-master"))
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg("--registry=replicated_log")
        .arg(format!("--work_dir={}", dir.join("master").display()))
        .args(extra)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn mesos-master");
    Spawned {
        name: "mesos-master".into(),
        child,
    }
}

fn weights_of(addr: &str) -> Vec<(String, f64)> {
    let Ok(r) = http_get(addr, "/master/weights") else {
        return Vec::new();
    };
    if r.status != 200 {
        return Vec::new();
    }
    let mut out: Vec<(String, f64)> = r
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|w| {
            (
                w["role"].as_str().unwrap_or_default().to_string(),
                w["weight"].as_f64().unwrap_or_default(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn quota_roles(addr: &str) -> Option<Vec<String>> {
    let r = http_get(addr, "/master/quota").ok()?;
    if r.status != 200 {
        return None;
    }
    Some(
        r.json()["configs"]
            .as_array()?
            .iter()
            .filter_map(|c| c["role"].as_str().map(str::to_string))
            .collect(),
    )
}

fn send(addr: &str, method: &str, path: &str, body: &str) -> RawResponse {
    http_request(
        addr,
        method,
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

#[test]
fn quota_and_weights_survive_a_master_restart_with_the_file_registry() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let master = file_registry_master(dir, port, &["--weights=ops=3"]);
    // --weights seeds the empty registry.
    wait_for(Duration::from_secs(20), "seeded weights", || {
        weights_of(&addr) == [("ops".to_string(), 3.0)]
    });

    // No agent: a guarantee exceeds the cluster's capacity unless forced.
    let set = r#"{"role": "eng", "guarantee": [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 256}}]}"#;
    let r = send(&addr, "POST", "/master/quota", set);
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("exceed cluster capacity"), "{}", r.text());
    let forced = set.replacen('{', r#"{"force": true, "#, 1);
    let r = send(&addr, "POST", "/master/quota", &forced);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(&addr, "POST", "/master/quota", &forced);
    assert_eq!(r.status, 400, "a second SET for the role: {}", r.text());
    let r = send(
        &addr,
        "POST",
        "/master/quota",
        r#"{"force": true, "role": "*", "guarantee": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}]}"#,
    );
    assert_eq!(r.status, 400, "quota on '*': {}", r.text());
    let r = send(&addr, "POST", "/master/quota", "{not json");
    assert_eq!(r.status, 400);

    let r = send(
        &addr,
        "PUT",
        "/master/weights",
        r#"[{"role": "eng", "weight": 2.5}]"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(
        &addr,
        "PUT",
        "/master/weights",
        r#"[{"role": "eng", "weight": 0}]"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let quota = http_get(&addr, "/master/quota").expect("GET").json();
    assert_eq!(quota["configs"][0]["guarantees"]["cpus"]["value"], 2.0);
    assert_eq!(quota["configs"][0]["limits"]["mem"]["value"], 256.0);

    // SIGKILL and restart: the registry's quota and weights come back, and
    // win over a different --weights.
    drop(master);
    let master = file_registry_master(dir, port, &["--weights=ops=7"]);
    wait_for(Duration::from_secs(20), "recovered quota", || {
        quota_roles(&addr).is_some_and(|roles| roles == ["eng"])
    });
    assert_eq!(
        weights_of(&addr),
        [("eng".to_string(), 2.5), ("ops".to_string(), 3.0)]
    );

    // DELETE removes it, durably.
    let r = send(&addr, "DELETE", "/master/quota/eng", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(&addr, "DELETE", "/master/quota/eng", "");
    assert_eq!(r.status, 400, "{}", r.text());
    drop(master);
    let _master = file_registry_master(dir, port, &[]);
    wait_for(Duration::from_secs(20), "recovered master", || {
        quota_roles(&addr).is_some()
    });
    assert_eq!(quota_roles(&addr), Some(Vec::new()));
    assert_eq!(weights_of(&addr).len(), 2);
}

fn form_post(addr: &str, path: &str, agent_id: &str, field: &str, json: &str) -> RawResponse {
    let body = format!(
        "slaveId={}&{field}={}",
        urlencode(agent_id),
        urlencode(json)
    );
    http_request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

#[test]
fn operator_endpoints_reserve_create_destroy_unreserve() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let slaves = http_get(&cluster.master, "/master/slaves")
        .expect("GET /master/slaves")
        .json();
    let agent_id = slaves["slaves"][0]["id"]
        .as_str()
        .expect("agent id")
        .to_string();
    let master = cluster.master.clone();

    // The pre-refinement format operators have always written.
    let reserved = r#"[
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "role": "eng",
         "reservation": {}},
        {"name": "disk", "type": "SCALAR", "scalar": {"value": 32}, "role": "eng",
         "reservation": {}}]"#;
    let r = form_post(&master, "/master/reserve", &agent_id, "resources", reserved);
    assert_eq!(r.status, 202, "{}", r.text());
    wait_for(
        Duration::from_secs(10),
        "reservation in /master/slaves",
        || reserved_for_eng(&cluster)["cpus"] == 1.0,
    );
    let too_much = r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 100},
        "role": "eng", "reservation": {}}]"#;
    let r = form_post(&master, "/master/reserve", &agent_id, "resources", too_much);
    assert_eq!(r.status, 409, "{}", r.text());
    let r = form_post(&master, "/master/reserve", &agent_id, "resources", "[{");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = form_post(
        &master,
        "/master/reserve",
        "no-such-agent",
        "resources",
        reserved,
    );
    assert_eq!(r.status, 400, "{}", r.text());

    let volume = r#"[{"name": "disk", "type": "SCALAR", "scalar": {"value": 32},
        "role": "eng", "reservation": {},
        "disk": {"persistence": {"id": "operator-volume"},
                 "volume": {"container_path": "data", "mode": "RW"}}}]"#;
    let r = form_post(
        &master,
        "/master/create-volumes",
        &agent_id,
        "volumes",
        volume,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let dir = cluster
        .work_dir
        .join("agent/volumes/roles/eng/operator-volume");
    wait_for(Duration::from_secs(10), "volume directory", || dir.is_dir());
    let r = form_post(
        &master,
        "/master/create-volumes",
        &agent_id,
        "volumes",
        volume,
    );
    assert_eq!(r.status, 400, "the same id twice: {}", r.text());

    let r = form_post(
        &master,
        "/master/destroy-volumes",
        &agent_id,
        "volumes",
        volume,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    wait_for(Duration::from_secs(10), "volume directory removed", || {
        !dir.exists()
    });
    let r = form_post(
        &master,
        "/master/unreserve",
        &agent_id,
        "resources",
        reserved,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    wait_for(Duration::from_secs(10), "no reservation left", || {
        reserved_for_eng(&cluster).is_null()
    });
    let r = http_get(&master, "/master/reserve").expect("GET");
    assert_eq!(r.status, 405);
    cluster.assert_alive();
}
