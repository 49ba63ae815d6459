//! pymesos 0.3.15 (v1 HTTP, JSON) against a real master and agent: a stock
//! third-party client, unmodified. With `MESOS_COMPAT_MASTER`/`_AGENT` set
//! the same scenarios run against any Mesos cluster (the conformance kit).

use std::process::Command;
use std::time::Duration;

use compat_tests::*;
use serde_json::Value;

fn scheduler(cluster: &Cluster, scenario: &str, extra: &[&str]) -> (Vec<Value>, String, bool) {
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_scheduler.py"))
        .arg(format!("--master={}", cluster.master))
        .arg(format!("--scenario={scenario}"))
        .args(extra);
    let (events, output, status) = run_client(cmd, Duration::from_secs(90));
    (events, output, status.success())
}

fn states(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "update")
        .map(|e| e["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn framework_id(events: &[Value]) -> String {
    events
        .iter()
        .find(|e| e["event"] == "registered")
        .and_then(|e| e["framework_id"].as_str())
        .unwrap_or_else(|| panic!("framework never registered: {events:?}"))
        .to_string()
}

/// Reads a sandbox file through the agent's `/files/read`, by the virtual
/// path the agent attaches for the latest run of an executor.
fn read_sandbox_file(cluster: &Cluster, fw: &str, executor: &str, file: &str) -> String {
    let path = format!("/frameworks/{fw}/executors/{executor}/runs/latest/{file}");
    let r = http_get(
        &cluster.agent,
        &format!("/files/read?path={}&offset=0", urlencode(&path)),
    )
    .expect("GET /files/read");
    assert_eq!(r.status, 200, "/files/read {path}: {}", r.text());
    r.json()["data"].as_str().unwrap_or_default().to_string()
}

fn check(cluster: &mut Cluster, ok: bool, output: &str) {
    if !ok {
        panic!("client failed:\n{output}\n{}", cluster.logs());
    }
    cluster.assert_alive();
}

#[test]
fn pymesos_command_task_runs_and_its_stdout_is_readable() {
    let mut cluster = Cluster::for_clients();
    let (events, output, ok) = scheduler(&cluster, "command", &[]);
    check(&mut cluster, ok, &output);
    assert_eq!(
        states(&events),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
        "{output}"
    );
    // Every update came from the executor through the agent, so each carried
    // a uuid to acknowledge and named its agent.
    for e in events.iter().filter(|e| e["event"] == "update") {
        assert_eq!(e["has_uuid"], true, "{e}");
        assert!(e["agent_id"].is_string(), "update without agent_id: {e}");
        assert_eq!(e["source"], "SOURCE_EXECUTOR", "{e}");
    }
    let offer = events
        .iter()
        .find(|e| e["event"] == "offer")
        .expect("an offer");
    assert_eq!(offer["has_url"], true);
    let fw = framework_id(&events);
    let task = events
        .iter()
        .find(|e| e["event"] == "launch")
        .expect("launch")["task_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The command executor's id is the task id.
    assert_eq!(
        read_sandbox_file(&cluster, &fw, &task, "stdout").trim(),
        "hello"
    );
}

#[test]
fn pymesos_custom_executor_runs_a_task() {
    let mut cluster = Cluster::for_clients();
    let (events, output, ok) = scheduler(&cluster, "custom-executor", &[]);
    check(&mut cluster, ok, &output);
    assert_eq!(
        states(&events),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
        "{output}"
    );
    let fw = framework_id(&events);
    let task = events
        .iter()
        .find(|e| e["event"] == "launch")
        .expect("launch")["task_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let stdout = read_sandbox_file(&cluster, &fw, &format!("exec-{task}"), "stdout");
    assert!(
        stdout.lines().any(|l| l == "hello"),
        "executor stdout: {stdout:?}"
    );
}

#[test]
fn killing_a_running_task_reports_task_killed() {
    let mut cluster = Cluster::for_clients();
    let (events, output, ok) = scheduler(&cluster, "kill", &[]);
    check(&mut cluster, ok, &output);
    // Without TASK_KILLING_STATE there is no TASK_KILLING.
    assert_eq!(
        states(&events),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"],
        "{output}"
    );
}

#[test]
fn an_executor_that_exits_without_a_terminal_update_fails_its_task() {
    let mut cluster = Cluster::for_clients();
    let (events, output, ok) = scheduler(&cluster, "executor-exits", &[]);
    check(&mut cluster, ok, &output);
    let s = states(&events);
    assert!(s.contains(&"TASK_RUNNING".to_string()), "{output}");
    assert_eq!(
        s.last().map(String::as_str),
        Some("TASK_FAILED"),
        "{output}"
    );
    let last = events
        .iter()
        .rev()
        .find(|e| e["event"] == "update")
        .expect("update");
    assert_eq!(last["source"], "SOURCE_AGENT", "{last}");
    assert_eq!(last["reason"], "REASON_EXECUTOR_TERMINATED", "{last}");
}

/// Tasks of the framework, by state, as the master reports them.
fn master_task_states(cluster: &Cluster, fw: &str) -> Vec<String> {
    let state = cluster.master_state().expect("master state");
    let mut out = Vec::new();
    for key in ["frameworks", "completed_frameworks"] {
        for f in state[key].as_array().into_iter().flatten() {
            if f["id"] == fw {
                for t in ["tasks", "completed_tasks"] {
                    for task in f[t].as_array().into_iter().flatten() {
                        out.push(task["state"].as_str().unwrap_or_default().to_string());
                    }
                }
            }
        }
    }
    out
}

#[test]
fn a_framework_that_disconnects_without_failover_timeout_has_its_tasks_killed() {
    let mut cluster = Cluster::for_clients();
    let (events, output, ok) = scheduler(&cluster, "disconnect", &["--failover-timeout=0"]);
    check(&mut cluster, ok, &output);
    let fw = framework_id(&events);
    wait_for(
        Duration::from_secs(30),
        "the framework's task to be killed",
        || master_task_states(&cluster, &fw) == ["TASK_KILLED"],
    );
    let state = cluster.master_state().expect("state");
    let completed: Vec<&Value> = state["completed_frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    assert!(
        completed.iter().any(|f| f["id"] == fw.as_str()),
        "framework not torn down: {state}"
    );
    cluster.assert_alive();
}

#[test]
fn a_framework_with_failover_timeout_resubscribes_and_keeps_its_tasks() {
    let mut cluster = Cluster::for_clients();
    let (events, output, ok) = scheduler(&cluster, "disconnect", &["--failover-timeout=300"]);
    check(&mut cluster, ok, &output);
    let fw = framework_id(&events);
    // The framework is gone, but within its failover timeout: its task runs on.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(master_task_states(&cluster, &fw), ["TASK_RUNNING"]);

    let (events, output, ok) = scheduler(
        &cluster,
        "resubscribe",
        &["--failover-timeout=300", &format!("--framework-id={fw}")],
    );
    check(&mut cluster, ok, &output);
    assert_eq!(
        framework_id(&events),
        fw,
        "re-subscribed under a new id: {output}"
    );
    let reconciled: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "update" && e["reason"] == "REASON_RECONCILIATION")
        .collect();
    assert!(!reconciled.is_empty(), "no reconciliation answer: {output}");
    assert!(
        reconciled.iter().all(|e| e["state"] == "TASK_RUNNING"),
        "{output}"
    );
    assert!(
        reconciled.iter().all(|e| e["has_uuid"] == false),
        "master updates carry no uuid: {output}"
    );
    assert_eq!(master_task_states(&cluster, &fw), ["TASK_RUNNING"]);
}

#[test]
fn task_killing_state_capability_adds_task_killing_before_task_killed() {
    let mut cluster = Cluster::for_clients();
    let (events, output, ok) = scheduler(&cluster, "kill", &["--capabilities=TASK_KILLING_STATE"]);
    check(&mut cluster, ok, &output);
    assert_eq!(
        states(&events),
        [
            "TASK_STARTING",
            "TASK_RUNNING",
            "TASK_KILLING",
            "TASK_KILLED"
        ],
        "{output}"
    );
}

#[test]
fn offers_carry_allocation_info_only_for_multi_role_frameworks() {
    let mut cluster = Cluster::for_clients();
    let (events, output, ok) = scheduler(&cluster, "command", &[]);
    check(&mut cluster, ok, &output);
    let offer = events
        .iter()
        .find(|e| e["event"] == "offer")
        .expect("an offer");
    assert_eq!(offer["has_allocation_info"], false, "{offer}");
    assert_eq!(offer["resource_allocation_info"], false, "{offer}");
    // Pre-refinement format for a framework without RESERVATION_REFINEMENT.
    assert_eq!(offer["resource_roles"], serde_json::json!(["*"]), "{offer}");

    let (events, output, ok) = scheduler(&cluster, "command", &["--capabilities=MULTI_ROLE"]);
    check(&mut cluster, ok, &output);
    let offer = events
        .iter()
        .find(|e| e["event"] == "offer")
        .expect("an offer");
    assert_eq!(offer["has_allocation_info"], true, "{offer}");
    assert_eq!(offer["resource_allocation_info"], true, "{offer}");
    assert_eq!(
        states(&events),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
        "{output}"
    );
}
