//! v0 authentication with SASL CRAM-MD5 against real processes: a master
//! with `--authenticate_frameworks` / `--authenticate_agents` and
//! `--credentials`, agents with `--credential`, and mesos-go 0.0.6's pure-Go
//! v0 driver (its own CRAM-MD5 client) as the framework.
//!
//! Scenarios follow upstream's `authentication_tests.cpp`: an authenticated
//! framework registers and runs a task; a wrong secret is refused; an
//! unauthenticated framework gets `FrameworkErrorMessage`; an agent with a
//! credential registers while one without, or with a wrong secret, does not.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use compat_tests::*;
use serde_json::Value;

const CREDENTIALS_JSON: &str = r#"{"credentials": [
  {"principal": "agent", "secret": "agent-secret"},
  {"principal": "framework", "secret": "framework-secret"}
]}"#;

/// Writes `text` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

fn master_log(cluster: &Cluster) -> String {
    std::fs::read_to_string(cluster.work_dir.join("master.log")).unwrap_or_default()
}

/// A cluster whose master requires authentication of `what` ("frameworks"
/// or "agents"), with the agent configured by `agent_flags`.
fn cluster(dir: &Path, what: &str, agent_flags: Vec<String>) -> Cluster {
    let credentials = write(dir, "credentials.json", CREDENTIALS_JSON);
    Cluster::start(ClusterOptions {
        master_flags: vec![
            format!("--authenticate_{what}=true"),
            format!("--credentials={}", credentials.display()),
            "--authentication_v0_timeout=5secs".to_string(),
        ],
        agent_flags,
        ..Default::default()
    })
}

fn go_client(dir: &Path, cluster: &Cluster, extra: &[&str]) -> Command {
    let bin = build_mesos_go_scheduler(dir);
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--master={}", cluster.master))
        .arg("--scenario=command")
        .arg("--timeout=60s")
        .args(extra)
        .arg("-logtostderr")
        .arg("-v=1");
    cmd
}

fn frameworks(cluster: &Cluster) -> Vec<Value> {
    cluster
        .master_state()
        .and_then(|s| s["frameworks"].as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn authenticated_v0_framework_registers_and_runs_a_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster(dir.path(), "frameworks", vec![]);
    let cmd = go_client(
        dir.path(),
        &cluster,
        &["--principal=framework", "--secret=framework-secret"],
    );
    let (events, output, status) = run_client(cmd, Duration::from_secs(90));
    assert!(
        status.success(),
        "mesos-go framework failed ({status}):\n{output}\n{}",
        cluster.logs()
    );
    cluster.assert_alive();
    assert!(
        events.iter().any(|e| e["event"] == "registered"),
        "{events:?}"
    );
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "update")
        .filter_map(|e| e["state"].as_str())
        .collect();
    assert_eq!(states.last(), Some(&"TASK_FINISHED"), "{events:?}");
    let log = master_log(&cluster);
    assert!(
        log.contains("Successfully authenticated principal 'framework' at scheduler(1)@127.0.0.1:"),
        "{}",
        cluster.logs()
    );
    // The framework (torn down now) kept its authenticated principal.
    let state = cluster.master_state().expect("/master/state");
    let all: Vec<Value> = ["frameworks", "completed_frameworks"]
        .iter()
        .flat_map(|k| state[*k].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(all.len(), 1, "{state}");
    assert_eq!(all[0]["principal"], "framework", "{state}");
}

#[test]
fn v0_framework_with_a_wrong_secret_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster(dir.path(), "frameworks", vec![]);
    let client = BackgroundClient::start(go_client(
        dir.path(),
        &cluster,
        &["--principal=framework", "--secret=not-the-secret"],
    ));
    // The master refuses the exchange and the driver hears it.
    wait_for(Duration::from_secs(30), "the master's refusal", || {
        master_log(&cluster).contains("was unsuccessful: Invalid credentials")
    });
    wait_for(Duration::from_secs(30), "the driver's refusal", || {
        client.output().contains("refused authentication")
    });
    assert!(
        !client.events().iter().any(|e| e["event"] == "registered"),
        "{:?}",
        client.events()
    );
    assert!(frameworks(&cluster).is_empty(), "{}", cluster.logs());
    cluster.assert_alive();
}

#[test]
fn unauthenticated_v0_framework_gets_a_framework_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster(dir.path(), "frameworks", vec![]);
    let (events, output, _status) = run_client(
        go_client(dir.path(), &cluster, &[]),
        Duration::from_secs(90),
    );
    let error = events
        .iter()
        .find(|e| e["event"] == "error")
        .unwrap_or_else(|| panic!("no error callback: {output}"));
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Framework at scheduler(1)@127.0.0.1:")
            && message.ends_with("is not authenticated"),
        "{error}"
    );
    assert!(
        !events.iter().any(|e| e["event"] == "registered"),
        "{events:?}"
    );
    assert!(frameworks(&cluster).is_empty(), "{}", cluster.logs());
    cluster.assert_alive();
}

#[test]
fn framework_principal_must_match_the_authenticated_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster(dir.path(), "frameworks", vec![]);
    let (events, output, _status) = run_client(
        go_client(
            dir.path(),
            &cluster,
            &[
                "--principal=framework",
                "--secret=framework-secret",
                "--framework-principal=agent",
            ],
        ),
        Duration::from_secs(90),
    );
    let error = events
        .iter()
        .find(|e| e["event"] == "error")
        .unwrap_or_else(|| panic!("no error callback: {output}"));
    assert_eq!(
        error["message"],
        "Framework principal 'agent' does not match authenticated principal 'framework'",
        "{error}"
    );
    assert!(frameworks(&cluster).is_empty(), "{}", cluster.logs());
    cluster.assert_alive();
}

/// Another agent against `cluster`'s master, on its own port and work dir.
fn extra_agent(
    cluster: &Cluster,
    dir: &Path,
    name: &str,
    credential: Option<&Path>,
) -> (Spawned, u16) {
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
    let mut cmd = Command::new(our_binary("mesos-agent"));
    cmd.arg(format!("--master={}", cluster.master))
        .arg("--ip=127.0.0.1")
        .arg("--hostname=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--work_dir={}", dir.join(name).display()))
        .arg("--resources=cpus:1;mem:512;disk:512")
        .arg("--registration_backoff_factor=10ms")
        .arg("--authentication_backoff_factor=100ms")
        .arg("--authentication_timeout_min=1secs");
    if let Some(path) = credential {
        cmd.arg(format!("--credential={}", path.display()));
    }
    let child = cmd
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn mesos-agent");
    (
        Spawned {
            name: name.to_string(),
            child,
        },
        port,
    )
}

#[test]
fn agent_with_credential_registers_and_agents_without_or_with_a_wrong_secret_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(
        dir.path(),
        "credential.json",
        r#"{"principal": "agent", "secret": "agent-secret"}"#,
    );
    // Cluster::start waits for this agent's registration.
    let mut cluster = cluster(
        dir.path(),
        "agents",
        vec![format!("--credential={}", good.display())],
    );
    assert!(
        master_log(&cluster).contains("Successfully authenticated principal 'agent' at slave(1)@"),
        "{}",
        cluster.logs()
    );

    let (mut without, without_port) = extra_agent(&cluster, dir.path(), "without", None);
    // The text form of a credential file.
    let wrong = write(dir.path(), "wrong.txt", "agent not-the-secret\n");
    let (mut wrong_agent, wrong_port) = extra_agent(&cluster, dir.path(), "wrong", Some(&wrong));

    wait_for(
        Duration::from_secs(30),
        "the unauthenticated agent's refusal",
        || {
            master_log(&cluster).contains(&format!(
            "Refusing registration of agent at slave(1)@127.0.0.1:{without_port} because it is \
             not authenticated"
        ))
        },
    );
    wait_for(
        Duration::from_secs(30),
        "the wrong secret's refusal",
        || {
            master_log(&cluster).contains(&format!(
                "Authentication of slave(1)@127.0.0.1:{wrong_port} was unsuccessful: Invalid \
             credentials"
            ))
        },
    );
    // The refused agent keeps running and retrying rather than exiting.
    let agent_log = || std::fs::read_to_string(dir.path().join("wrong.log")).unwrap_or_default();
    wait_for(Duration::from_secs(30), "the refused agent's retry", || {
        agent_log().matches("refused authentication").count() >= 2
    });
    assert!(
        matches!(wrong_agent.child.try_wait(), Ok(None)),
        "{}",
        agent_log()
    );
    assert!(matches!(without.child.try_wait(), Ok(None)));

    let slaves = http_get(&cluster.master, "/master/slaves").expect("/master/slaves");
    assert_eq!(slaves.status, 200);
    let slaves = slaves.json();
    let ports: Vec<i64> = slaves["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["port"].as_i64())
        .collect();
    assert_eq!(ports.len(), 1, "{slaves}");
    assert_ne!(ports[0], i64::from(without_port));
    assert_ne!(ports[0], i64::from(wrong_port));
    cluster.assert_alive();
}
