//! `/metrics/snapshot` and `/metrics/prometheus` on a real master and
//! agent that have running, finished and killed tasks and a completed
//! framework: upstream's names are present, the values match what the
//! state endpoints show, both Prometheus scrapes pass `promtool check
//! metrics`, and bad input gets upstream's status codes.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use compat_tests::busy::busy_cluster;
use compat_tests::*;

fn snapshot(addr: &str) -> serde_json::Value {
    let r = http_get(addr, "/metrics/snapshot").expect("snapshot");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// `promtool check metrics` on `text`; panics (never skips) when promtool
/// is missing, because an unchecked exposition proves nothing.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is missing: install Debian `prometheus` (.ci/setup-operator-tools.sh)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed: {}{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of an unlabelled sample in a Prometheus exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.parse().ok()).flatten()
    })
}

#[test]
fn metrics_snapshot_and_prometheus_report_a_busy_cluster() {
    let (cluster, rt, live) = busy_cluster();
    let state = cluster.master_state().expect("state");
    let running_in_state = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter(|t| t["state"] == "TASK_RUNNING")
        .count();
    assert_eq!(running_in_state, 1);

    let m = snapshot(&cluster.master);
    for name in [
        "master/elected",
        "master/uptime_secs",
        "master/slaves_active",
        "master/slaves_connected",
        "master/frameworks_active",
        "master/outstanding_offers",
        "master/tasks_staging",
        "master/tasks_starting",
        "master/tasks_running",
        "master/tasks_killing",
        "master/tasks_unreachable",
        "master/tasks_finished",
        "master/tasks_failed",
        "master/tasks_killed",
        "master/tasks_lost",
        "master/tasks_error",
        "master/tasks_dropped",
        "master/tasks_gone",
        "master/tasks_gone_by_operator",
        "master/cpus_total",
        "master/cpus_used",
        "master/cpus_percent",
        "master/cpus_revocable_total",
        "master/mem_total",
        "master/disk_total",
        "master/gpus_total",
        "master/messages_launch_tasks",
        "master/messages_kill_task",
        "master/event_queue_messages",
        "master/event_queue_dispatches",
        "master/event_queue_http_requests",
        "allocator/event_queue_dispatches",
        "allocator/mesos/allocation_runs",
        "allocator/mesos/allocation_run_ms",
        "allocator/mesos/resources/cpus/total",
        "registrar/queued_operations",
        "registrar/registry_size_bytes",
        "registrar/state_fetch_ms",
        "registrar/state_store_ms",
    ] {
        assert!(m[name].is_number(), "{name} missing from {m}");
    }
    assert_eq!(m["master/elected"], 1.0);
    assert_eq!(m["master/tasks_running"], running_in_state as f64);
    assert_eq!(m["master/tasks_finished"], 1.0);
    assert_eq!(m["master/tasks_killed"], 1.0);
    assert_eq!(m["master/frameworks_active"], 1.0);
    assert_eq!(m["master/slaves_active"], 1.0);
    assert_eq!(m["master/cpus_total"], 4.0);
    assert!(
        (m["master/cpus_used"].as_f64().unwrap_or(0.0) - 0.1).abs() < 1e-9,
        "{m}"
    );
    assert!(m["master/messages_kill_task"].as_f64().unwrap_or(0.0) >= 1.0);
    assert!(m["allocator/mesos/allocation_runs"].as_f64().unwrap_or(0.0) >= 1.0);
    assert!(m["registrar/registry_size_bytes"].as_f64().unwrap_or(0.0) > 0.0);
    // Two or more allocation runs: the timer has its statistics.
    assert!(
        m["allocator/mesos/allocation_run_ms/p99"].is_number(),
        "{m}"
    );

    let a = snapshot(&cluster.agent);
    for name in [
        "slave/registered",
        "slave/uptime_secs",
        "slave/tasks_running",
        "slave/tasks_finished",
        "slave/tasks_killed",
        "slave/executors_running",
        "slave/frameworks_active",
        "slave/cpus_total",
        "slave/mem_used",
    ] {
        assert!(a[name].is_number(), "{name} missing from {a}");
    }
    assert_eq!(a["slave/registered"], 1.0);
    assert_eq!(a["slave/tasks_running"], 1.0);

    // The same values in the Prometheus text format.
    let mp = http_get(&cluster.master, "/metrics/prometheus").expect("prometheus");
    assert_eq!(mp.status, 200);
    assert!(mp
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")));
    let text = mp.text();
    promtool_check(&text);
    assert_eq!(sample(&text, "mesos_master_tasks_running"), Some(1.0));
    assert_eq!(
        sample(&text, "mesos_master_tasks_finished_total"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "mesos_master_cpus_capacity"), Some(4.0));
    assert!(text.contains("# TYPE mesos_allocator_mesos_allocation_run_seconds summary"));
    assert!(text.contains("# HELP mesos_master_tasks_running "));

    let ap = http_get(&cluster.agent, "/metrics/prometheus").expect("prometheus");
    assert_eq!(ap.status, 200);
    let text = ap.text();
    promtool_check(&text);
    assert_eq!(sample(&text, "mesos_slave_registered"), Some(1.0));
    assert_eq!(sample(&text, "mesos_slave_tasks_running"), Some(1.0));

    live.abort();
    drop(rt);
}

#[test]
fn metrics_snapshot_honours_jsonp_and_timeout() {
    let cluster = Cluster::start(ClusterOptions::default());
    for addr in [&cluster.master, &cluster.agent] {
        let r = http_get(addr, "/metrics/snapshot?jsonp=cb&timeout=5secs").expect("jsonp");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/javascript"));
        let body = r.text();
        assert!(body.starts_with("cb({") && body.ends_with("})"), "{body}");

        for bad in ["bad", "5", "1parsecs"] {
            let r = http_get(addr, &format!("/metrics/snapshot?timeout={bad}")).expect("bad");
            assert_eq!(r.status, 400, "timeout={bad}: {}", r.text());
            assert!(r.text().contains("Invalid timeout"), "{}", r.text());
            let r = http_get(addr, &format!("/metrics/prometheus?timeout={bad}")).expect("bad");
            assert_eq!(r.status, 400);
        }
    }
    // The master's snapshot is answered from the actor; the uptime is
    // computed at read time, so two reads a moment apart differ.
    let first = snapshot(&cluster.master)["master/uptime_secs"].as_f64();
    std::thread::sleep(Duration::from_millis(50));
    let second = snapshot(&cluster.master)["master/uptime_secs"].as_f64();
    assert!(second > first, "{first:?} then {second:?}");
}
