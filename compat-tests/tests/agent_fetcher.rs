//! The agent's fetcher seen through a real client (pymesos): command URIs
//! land in the sandbox before the task starts, and a URI that cannot be
//! fetched fails the task. Always runs against our own cluster, because the
//! URIs are files on this machine.

use std::process::Command;
use std::time::Duration;

use compat_tests::*;
use serde_json::Value;

fn scheduler(cluster: &Cluster, scenario: &str, uri: &str) -> (Vec<Value>, String, bool) {
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_scheduler.py"))
        .arg(format!("--master={}", cluster.master))
        .arg(format!("--scenario={scenario}"))
        .arg(format!("--uri={uri}"));
    let (events, output, status) = run_client(cmd, Duration::from_secs(90));
    (events, output, status.success())
}

fn updates(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["event"] == "update").collect()
}

#[test]
fn command_uris_are_fetched_into_the_sandbox_before_the_task_runs() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let data = cluster.work_dir.join("fetch-me.txt");
    std::fs::write(&data, "fetched by the agent\n").expect("write");
    let (events, output, ok) = scheduler(&cluster, "fetch", &format!("file://{}", data.display()));
    assert!(ok, "{output}\n{}", cluster.logs());
    let states: Vec<&str> = updates(&events)
        .iter()
        .filter_map(|e| e["state"].as_str())
        .collect();
    assert_eq!(
        states,
        ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
        "{output}"
    );

    let fw = events
        .iter()
        .find(|e| e["event"] == "registered")
        .expect("registered")["framework_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let task = events
        .iter()
        .find(|e| e["event"] == "launch")
        .expect("launch")["task_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = format!("/frameworks/{fw}/executors/{task}/runs/latest/stdout");
    let r = http_get(
        &cluster.agent,
        &format!("/files/read?path={}&offset=0", urlencode(&path)),
    )
    .expect("read");
    assert_eq!(
        r.json()["data"].as_str().map(str::trim),
        Some("fetched by the agent")
    );
    cluster.assert_alive();
}

#[test]
fn a_uri_that_cannot_be_fetched_fails_the_task_with_container_launch_failed() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let missing = cluster.work_dir.join("no-such-file");
    let (events, output, ok) = scheduler(
        &cluster,
        "fetch-fail",
        &format!("file://{}", missing.display()),
    );
    assert!(ok, "{output}\n{}", cluster.logs());
    let updates = updates(&events);
    assert_eq!(updates.len(), 1, "{output}");
    assert_eq!(updates[0]["state"], "TASK_FAILED", "{output}");
    assert_eq!(
        updates[0]["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
        "{output}"
    );
    assert_eq!(updates[0]["source"], "SOURCE_AGENT", "{output}");
    cluster.assert_alive();
}
