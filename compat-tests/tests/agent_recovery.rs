//! Agent recovery seen from outside (upstream `slave_recovery_tests.cpp`):
//! a real master and agent, a checkpointing pymesos scheduler, and the agent
//! killed (SIGKILL) or stopped (SIGTERM) and restarted with the same
//! `--work_dir`. The scheduler's own records decide: same agent id, same
//! task processes, no TASK_LOST, and the update produced while the agent
//! was down arrives afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use compat_tests::*;
use serde_json::Value;

/// `state`, `session` of a process from `/proc/<pid>/stat`.
fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let session = fields.get(3)?.parse().ok()?;
    Some((state, session))
}

fn alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// Live processes of session `sid`.
fn session_members(sid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Some((state, session)) = proc_stat(pid) {
            if session == sid && state != 'Z' && state != 'X' {
                out.push(pid);
            }
        }
    }
    out
}

fn kill_pid(pid: i32) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .status();
}

fn updates<'a>(events: &'a [Value], task: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    events
        .iter()
        .filter(move |e| e["event"] == "update" && e["task_id"] == task)
}

fn has_state(events: &[Value], task: &str, state: &str) -> bool {
    updates(events, task).any(|e| e["state"] == state)
}

fn framework_id(events: &[Value]) -> Option<String> {
    events
        .iter()
        .find(|e| e["event"] == "registered")
        .and_then(|e| e["framework_id"].as_str())
        .map(String::from)
}

/// A repeated state of a task is only ever a re-delivery of the same update.
fn assert_duplicates_share_their_uuid(events: &[Value]) {
    let mut seen: std::collections::HashMap<(String, String), String> = Default::default();
    for e in events.iter().filter(|e| e["event"] == "update") {
        let key = (e["task_id"].to_string(), e["state"].to_string());
        let uuid = e["uuid"].to_string();
        if let Some(previous) = seen.get(&key) {
            assert_eq!(
                previous, &uuid,
                "a second {key:?} with another uuid: {events:?}"
            );
        }
        seen.insert(key, uuid);
    }
}

/// The command executor's sandbox (its executor id is the task id).
fn sandbox(cluster: &Cluster, agent: &str, framework: &str, task: &str) -> PathBuf {
    cluster
        .work_dir
        .join("agent/slaves")
        .join(agent)
        .join("frameworks")
        .join(framework)
        .join("executors")
        .join(task)
        .join("runs/latest")
}

fn read_pid(path: &Path) -> i32 {
    let mut pid = None;
    wait_for(Duration::from_secs(30), "the task's pid file", || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap_or_default()
}

fn agent_id(cluster: &Cluster) -> Option<String> {
    let state = cluster.master_state()?;
    let slaves = state["slaves"].as_array()?;
    slaves.first()?["id"].as_str().map(String::from)
}

fn task_state_in_master(cluster: &Cluster, task: &str) -> Option<String> {
    let state = cluster.master_state()?;
    state["frameworks"]
        .as_array()?
        .iter()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .find(|t| t["id"] == task)
        .and_then(|t| t["state"].as_str().map(String::from))
}

fn scheduler(cluster: &Cluster, tasks: &[(&str, &str)]) -> (BackgroundClient, PathBuf) {
    let stop = cluster.work_dir.join("stop-scheduler");
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_recovery_scheduler.py"))
        .arg(format!("--master={}", cluster.master))
        .arg(format!("--stop-file={}", stop.display()));
    for (name, command) in tasks {
        cmd.arg(format!("--task={name}={command}"));
    }
    (BackgroundClient::start(cmd), stop)
}

fn fail(cluster: &Cluster, client: &BackgroundClient, what: &str) -> ! {
    panic!(
        "{what}\n--- scheduler ---\n{}\n{}",
        client.output(),
        cluster.logs()
    )
}

fn wait_or_fail(
    cluster: &Cluster,
    client: &BackgroundClient,
    timeout: Duration,
    what: &str,
    mut f: impl FnMut() -> bool,
) {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    fail(
        cluster,
        client,
        &format!("timed out after {timeout:?} waiting for {what}"),
    );
}

/// `SlaveRecoveryTest.ReconnectExecutor` with the agent stopped by `signal`
/// and started with `agent_flags`.
fn reconnect_executor(signal: &str, agent_flags: Vec<String>) {
    let mut cluster = Cluster::start(ClusterOptions {
        agent_flags,
        ..ClusterOptions::default()
    });
    let (mut client, stop) = scheduler(
        &cluster,
        &[
            ("long", "echo $$ > pid; exec sleep 1000"),
            (
                "finishing",
                "echo $$ > pid; while [ ! -e go ]; do sleep 0.05; done; exit 0",
            ),
        ],
    );
    wait_or_fail(
        &cluster,
        &client,
        Duration::from_secs(60),
        "both tasks RUNNING",
        || {
            let events = client.events();
            has_state(&events, "long", "TASK_RUNNING")
                && has_state(&events, "finishing", "TASK_RUNNING")
        },
    );
    let events = client.events();
    let fw = framework_id(&events).expect("registered");
    let agent = agent_id(&cluster).expect("an agent");
    let long_pid = read_pid(&sandbox(&cluster, &agent, &fw, "long").join("pid"));
    let finishing_sandbox = sandbox(&cluster, &agent, &fw, "finishing");
    let finishing_pid = read_pid(&finishing_sandbox.join("pid"));
    let (_, long_executor) = proc_stat(long_pid).expect("long task runs");
    assert!(
        alive(long_executor) && proc_stat(long_executor).map(|s| s.1) == Some(long_executor),
        "the executor leads the task's session"
    );

    cluster.stop_agent(signal, Duration::from_secs(30));
    // While the agent is down: the long task keeps running, and the other
    // one finishes, which its executor can only report later.
    assert!(alive(long_pid), "SIG{signal} to the agent killed the task");
    std::fs::write(finishing_sandbox.join("go"), b"").expect("go file");
    wait_or_fail(
        &cluster,
        &client,
        Duration::from_secs(20),
        "the finishing task to exit",
        || !alive(finishing_pid),
    );

    cluster.start_agent();
    wait_or_fail(
        &cluster,
        &client,
        Duration::from_secs(60),
        "TASK_FINISHED produced while the agent was down",
        || has_state(&client.events(), "finishing", "TASK_FINISHED"),
    );
    assert_eq!(
        agent_id(&cluster).as_deref(),
        Some(agent.as_str()),
        "same agent id"
    );
    assert_eq!(cluster.registered_agents(), 1);
    let agent_state = cluster.agent_state().expect("agent /state");
    assert_eq!(agent_state["id"], agent.as_str());
    assert!(alive(long_pid), "the long task survived the restart");
    assert_eq!(
        read_pid(&sandbox(&cluster, &agent, &fw, "long").join("pid")),
        long_pid,
        "same process, not a relaunch"
    );
    assert_eq!(
        task_state_in_master(&cluster, "long").as_deref(),
        Some("TASK_RUNNING")
    );
    let events = client.events();
    for bad in [
        "TASK_LOST",
        "TASK_FAILED",
        "TASK_GONE",
        "TASK_DROPPED",
        "TASK_UNREACHABLE",
    ] {
        if has_state(&events, "long", bad) || has_state(&events, "finishing", bad) {
            fail(&cluster, &client, &format!("the scheduler saw {bad}"));
        }
    }
    assert_duplicates_share_their_uuid(&events);
    cluster.assert_alive();

    // Tearing the framework down kills what it left running.
    std::fs::write(&stop, b"").expect("stop file");
    client.wait(Duration::from_secs(30));
    wait_or_fail(
        &cluster,
        &client,
        Duration::from_secs(30),
        "teardown to kill the task",
        || !alive(long_pid),
    );
    if alive(long_executor) {
        kill_pid(long_executor);
    }
}

#[test]
fn slave_recovery_reconnect_executor_sigkill() {
    reconnect_executor("KILL", Vec::new());
}

#[test]
fn slave_recovery_reconnect_executor_sigterm() {
    reconnect_executor("TERM", Vec::new());
}

/// With executor authentication the executors resubscribe to the restarted
/// agent with the tokens of their first launch: the recovered container
/// ids still match the claims, so the finished task is reported.
#[test]
fn slave_recovery_reconnect_executor_with_executor_authentication() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("jwt_secret_key");
    std::fs::write(&key, "recovery key").expect("key");
    reconnect_executor(
        "TERM",
        vec![
            "--authenticate_http_executors".to_string(),
            format!("--jwt_secret_key={}", key.display()),
            "--http_authenticators=jwt".to_string(),
        ],
    );
}

/// An executor killed with SIGKILL takes every process of its task with it,
/// and they are gone by the time the scheduler hears the task failed
/// (before its resources can be offered again).
#[test]
fn killed_executor_leaves_no_processes() {
    let cluster = Cluster::start(ClusterOptions::default());
    let (mut client, stop) = scheduler(
        &cluster,
        &[(
            "victim",
            "echo $$ > pid; sleep 1000 & echo $! > child; wait",
        )],
    );
    wait_or_fail(
        &cluster,
        &client,
        Duration::from_secs(60),
        "the task RUNNING",
        || has_state(&client.events(), "victim", "TASK_RUNNING"),
    );
    let events = client.events();
    let fw = framework_id(&events).expect("registered");
    let agent = agent_id(&cluster).expect("an agent");
    let dir = sandbox(&cluster, &agent, &fw, "victim");
    let task_pid = read_pid(&dir.join("pid"));
    let child_pid = read_pid(&dir.join("child"));
    let (_, executor) = proc_stat(task_pid).expect("task runs");
    assert_eq!(
        proc_stat(executor).map(|s| s.1),
        Some(executor),
        "the executor runs in a session of its own"
    );
    assert!(
        session_members(executor).len() >= 3,
        "executor, sh and sleep"
    );

    kill_pid(executor);
    wait_or_fail(
        &cluster,
        &client,
        Duration::from_secs(60),
        "TASK_FAILED",
        || has_state(&client.events(), "victim", "TASK_FAILED"),
    );
    let left = session_members(executor);
    if !left.is_empty() {
        fail(
            &cluster,
            &client,
            &format!("processes {left:?} of the killed executor's session survive"),
        );
    }
    assert!(!alive(task_pid) && !alive(child_pid));

    std::fs::write(&stop, b"").expect("stop file");
    client.wait(Duration::from_secs(30));
}
