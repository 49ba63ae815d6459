//! mesos-go 0.0.6 (Debian `golang-github-mesos-mesos-go-dev`), a pure-Go
//! v0 scheduler driver speaking the libprocess wire protocol, against a real
//! master and agent: legacy `mesos.internal.*` registration, launch, kill,
//! reconciliation and acknowledgement messages, and the driver's rule that
//! every message must come from exactly the leading master's pid.
//!
//! The framework is our own small `main` package
//! (`clients/mesos-go-scheduler`, Debian ships no examples), built here with
//! the system Go toolchain against the Debian sources. A missing toolchain
//! or missing sources fail the test: run `bash .ci/setup-go.sh`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use compat_tests::*;
use serde_json::Value;

/// The built Go framework (kept in a temporary directory).
struct Client {
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

impl Client {
    fn build() -> Client {
        let dir = tempfile::tempdir().expect("tempdir");
        Client {
            bin: build_mesos_go_scheduler(dir.path()),
            _dir: dir,
        }
    }

    /// Runs one scenario to completion; a failure shows the driver's log
    /// and the cluster's.
    fn run(&self, cluster: &mut Cluster, scenario: &str, extra: &[&str]) -> Vec<Value> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg(format!("--master={}", cluster.master))
            .arg(format!("--scenario={scenario}"))
            .arg("--timeout=60s")
            .args(extra)
            // glog: driver logs on stderr, shown when the test fails.
            .arg("-logtostderr")
            .arg("-v=1");
        let (events, output, status) = run_client(cmd, Duration::from_secs(90));
        if !status.success() {
            panic!(
                "mesos-go framework ({scenario}) failed ({status}):\n{output}\n{}",
                cluster.logs()
            );
        }
        cluster.assert_alive();
        events
    }
}

/// Builds the client first, so a missing toolchain fails before any
/// cluster starts, then runs one scenario against a fresh cluster.
fn run_framework(scenario: &str) -> (Cluster, Vec<Value>) {
    let client = Client::build();
    let mut cluster = Cluster::for_clients();
    let events = client.run(&mut cluster, scenario, &[]);
    (cluster, events)
}

fn updates(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["event"] == "update").collect()
}

fn states(events: &[Value]) -> Vec<String> {
    updates(events)
        .iter()
        .map(|e| e["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn single<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["event"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind:?} event: {events:?}");
    found[0]
}

fn text<'a>(event: &'a Value, key: &str) -> &'a str {
    event[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing: {event}"))
}

/// The framework as `/master/state` reports it, active or completed.
fn master_framework(cluster: &Cluster, id: &str) -> Option<Value> {
    let state = cluster.master_state()?;
    ["frameworks", "completed_frameworks"]
        .iter()
        .flat_map(|key| state[*key].as_array().cloned().unwrap_or_default())
        .find(|f| f["id"] == id)
}

#[test]
fn v0_framework_launches_a_command_task_and_receives_acknowledged_updates() {
    let (cluster, events) = run_framework("command");

    // FrameworkRegisteredMessage reached the driver, so it came from exactly
    // the pid the driver detected through `/state`'s `leader`.
    let registered = single(&events, "registered");
    let fw = text(registered, "framework_id").to_string();
    if !cluster.external {
        assert_eq!(
            text(registered, "master_pid"),
            format!("master@{}", cluster.master),
            "{registered}"
        );
    }

    let offer = events
        .iter()
        .find(|e| e["event"] == "offer")
        .expect("an offer");
    let slave_id = text(offer, "slave_id").to_string();
    let task = text(single(&events, "launch"), "task_id").to_string();

    // The command executor reports STARTING, RUNNING, FINISHED. The agent
    // forwards the next update only once the previous one is acknowledged,
    // so seeing all three in order proves the driver's
    // StatusUpdateAcknowledgementMessages reached the agent through the
    // master.
    assert_eq!(
        states(&events),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
        "{events:?}"
    );
    for update in updates(&events) {
        assert_eq!(update["task_id"], task.as_str(), "{update}");
        assert_eq!(
            update["has_slave_id"], true,
            "update without slave_id: {update}"
        );
        assert_eq!(update["slave_id"], slave_id.as_str(), "{update}");
        // Agent-originated updates carry a uuid (the driver acknowledges them).
        assert_eq!(update["has_uuid"], true, "{update}");
        assert_eq!(update["source"], "SOURCE_EXECUTOR", "{update}");
    }

    // The command executor's id is the task id.
    let path = format!("/frameworks/{fw}/executors/{task}/runs/latest/stdout");
    let read = http_get(
        &cluster.agent,
        &format!("/files/read?path={}&offset=0", urlencode(&path)),
    )
    .expect("GET /files/read");
    assert_eq!(read.status, 200, "/files/read {path}: {}", read.text());
    let stdout = read.json()["data"].as_str().unwrap_or_default().to_string();
    assert!(
        stdout.lines().any(|l| l == "hello-from-mesos-go"),
        "task stdout: {stdout:?}"
    );

    // A v0 framework is known by its libprocess pid. Its driver stopped
    // without failover (UnregisterFrameworkMessage), so the master has torn
    // it down; the completed framework keeps its pid and finished task.
    wait_for(Duration::from_secs(10), "the framework's teardown", || {
        master_framework(&cluster, &fw).is_some_and(|f| f["active"] == false)
    });
    let framework = master_framework(&cluster, &fw).expect("framework in /master/state");
    let pid = framework["pid"].as_str().unwrap_or_default();
    assert!(
        pid.starts_with("scheduler(1)@127.0.0.1:"),
        "framework pid {pid:?}: {framework}"
    );
    assert_eq!(framework["name"], "mesos-go-v0", "{framework}");
    let finished: Vec<&Value> = framework["completed_tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["id"] == task.as_str())
        .collect();
    assert_eq!(finished.len(), 1, "{framework}");
    assert_eq!(finished[0]["state"], "TASK_FINISHED", "{framework}");
}

#[test]
fn v0_framework_reconciles_and_kills_a_running_task() {
    let (_cluster, events) = run_framework("kill");
    let task = text(single(&events, "launch"), "task_id").to_string();
    assert_eq!(
        states(&events),
        [
            "TASK_STARTING",
            "TASK_RUNNING",
            "TASK_RUNNING",
            "TASK_KILLED"
        ],
        "{events:?}"
    );
    let all = updates(&events);
    // ReconcileTasksMessage: the master answers from its own state, with no
    // uuid (nothing to acknowledge) but with the task's agent.
    let reconciled = all[2];
    assert_eq!(
        reconciled["reason"], "REASON_RECONCILIATION",
        "{reconciled}"
    );
    assert_eq!(reconciled["source"], "SOURCE_MASTER", "{reconciled}");
    assert_eq!(reconciled["has_uuid"], false, "{reconciled}");
    assert_eq!(reconciled["has_slave_id"], true, "{reconciled}");
    // KillTaskMessage reached the executor through the master and agent.
    let killed = all[3];
    assert_eq!(killed["task_id"], task.as_str(), "{killed}");
    assert_eq!(killed["source"], "SOURCE_EXECUTOR", "{killed}");
    assert_eq!(killed["has_uuid"], true, "{killed}");
    assert_eq!(killed["has_slave_id"], true, "{killed}");
}

#[test]
fn v0_framework_fails_over_to_a_new_driver_and_keeps_its_task() {
    let client = Client::build();
    let mut cluster = Cluster::for_clients();
    let first = client.run(&mut cluster, "failover-first", &["--failover-timeout=300"]);
    let fw = text(single(&first, "registered"), "framework_id").to_string();
    let task = text(single(&first, "launch"), "task_id").to_string();
    assert_eq!(
        states(&first),
        ["TASK_STARTING", "TASK_RUNNING"],
        "{first:?}"
    );

    // The first driver stopped with failover and exited: the master's link to
    // its pid broke, so the framework is disconnected (inactive) but kept,
    // with its task running, for its failover timeout.
    wait_for(
        Duration::from_secs(10),
        "the framework to be deactivated",
        || master_framework(&cluster, &fw).is_some_and(|f| f["active"] == false),
    );
    let framework = master_framework(&cluster, &fw).expect("framework");
    let old_pid = framework["pid"].as_str().unwrap_or_default().to_string();
    assert!(
        framework["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["id"] == task.as_str() && t["state"] == "TASK_RUNNING"),
        "{framework}"
    );

    // A new driver (a new pid) re-registers with the id and failover=true:
    // the master answers FrameworkRegisteredMessage (MESOS-786), so the
    // driver calls registered() with the same id.
    let second = client.run(
        &mut cluster,
        "failover-second",
        &["--failover-timeout=300", &format!("--framework-id={fw}")],
    );
    assert_eq!(
        text(single(&second, "registered"), "framework_id"),
        fw,
        "{second:?}"
    );
    assert!(second.iter().all(|e| e["event"] != "launch"), "{second:?}");
    // Implicit reconciliation reports the running task; the kill reaches it
    // and TASK_KILLED comes last.
    let all = updates(&second);
    assert_eq!(
        states(&second).last().map(String::as_str),
        Some("TASK_KILLED"),
        "{second:?}"
    );
    let killed = all[all.len() - 1];
    assert_eq!(killed["task_id"], task.as_str(), "{killed}");
    assert_eq!(killed["has_slave_id"], true, "{killed}");
    assert_eq!(killed["source"], "SOURCE_EXECUTOR", "{killed}");
    let running = &all[..all.len() - 1];
    let reconciled: Vec<&&Value> = running
        .iter()
        .filter(|u| u["reason"] == "REASON_RECONCILIATION")
        .collect();
    assert_eq!(reconciled.len(), 1, "{second:?}");
    assert_eq!(reconciled[0]["task_id"], task.as_str(), "{second:?}");
    assert_eq!(reconciled[0]["has_uuid"], false, "{second:?}");
    assert_eq!(reconciled[0]["has_slave_id"], true, "{second:?}");
    // The first driver acknowledges TASK_RUNNING just before it stops, and
    // mesos-go's stop may cancel that acknowledgement in flight. The agent
    // then redelivers the update to the new driver when the master tells it
    // about the failover (UpdateFrameworkMessage), as upstream does: at most
    // one redelivered TASK_RUNNING, from the executor, with a uuid.
    let redelivered: Vec<&&Value> = running
        .iter()
        .filter(|u| u["reason"] != "REASON_RECONCILIATION")
        .collect();
    assert!(redelivered.len() <= 1, "{second:?}");
    for u in redelivered {
        assert_eq!(u["state"], "TASK_RUNNING", "{u}");
        assert_eq!(u["source"], "SOURCE_EXECUTOR", "{u}");
        assert_eq!(u["has_uuid"], true, "{u}");
        assert_eq!(u["has_slave_id"], true, "{u}");
    }

    // The second driver stopped without failover: the framework is torn
    // down under the new driver's pid.
    wait_for(Duration::from_secs(10), "the framework's teardown", || {
        cluster.master_state().is_some_and(|state| {
            state["completed_frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["id"] == fw.as_str())
        })
    });
    let framework = master_framework(&cluster, &fw).expect("framework");
    let new_pid = framework["pid"].as_str().unwrap_or_default();
    assert!(
        new_pid.starts_with("scheduler(1)@127.0.0.1:") && new_pid != old_pid,
        "pid after failover {new_pid:?} (before: {old_pid:?})"
    );
}
