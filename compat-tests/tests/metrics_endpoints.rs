//! `/metrics/snapshot` and `/metrics/prometheus` on a real master and
//! agent that have running, finished and killed tasks and a completed
//! framework: upstream's names are present, the values match what the
//! state endpoints show, both Prometheus scrapes pass `promtool check
//! metrics`, and bad input gets upstream's status codes. A pymesos
//! framework's calls, offers and finished task move upstream's
//! per-framework metrics.

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
        "allocator/mesos/event_queue_dispatches",
        // The live framework is in the default role and holds a task.
        "allocator/mesos/roles/*/shares/dominant",
        "allocator/mesos/quota/roles/*/resources/cpus/consumed",
        "allocator/mesos/offer_filters/roles/*/active",
        "registrar/queued_operations",
        "registrar/registry_size_bytes",
        "registrar/state_fetch_ms",
        "registrar/state_store_ms",
    ] {
        assert!(m[name].is_number(), "{name} missing from {m}");
    }
    assert_eq!(m["master/elected"], 1.0);
    // Per-framework gauges, under the percent-encoded name and the id.
    let live_id = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == "metrics busy framework")
        .and_then(|f| f["id"].as_str())
        .expect("the live framework in state")
        .to_string();
    let framework = format!("master/frameworks/metrics%20busy%20framework/{live_id}");
    assert_eq!(m[format!("{framework}/subscribed")], 1.0, "{m}");
    assert_eq!(m[format!("{framework}/tasks/active/task_running")], 1.0);
    assert_eq!(m[format!("{framework}/tasks/active/task_staging")], 0.0);
    assert_eq!(m[format!("{framework}/roles/*/suppressed")], 0.0);
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
        "containerizer/mesos/container_destroy_errors",
    ] {
        assert!(a[name].is_number(), "{name} missing from {a}");
    }
    assert_eq!(a["slave/registered"], 1.0);
    assert_eq!(a["slave/tasks_running"], 1.0);
    // The killed and the finished tasks' containers were destroyed, and
    // nothing of them survived: no destroy error.
    assert_eq!(a["containerizer/mesos/container_destroy_errors"], 0.0);
    // Each of the three tasks' containers was fetched (no URIs), none failed.
    assert_eq!(
        a["containerizer/fetcher/task_fetches_succeeded"], 3.0,
        "{a}"
    );
    assert_eq!(a["containerizer/fetcher/task_fetches_failed"], 0.0, "{a}");

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
    assert_eq!(
        sample(
            &text,
            "mesos_containerizer_mesos_container_destroy_errors_total"
        ),
        Some(0.0)
    );
    assert_eq!(sample(&text, "mesos_slave_tasks_running"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "mesos_containerizer_fetcher_task_fetches_succeeded_total"
        ),
        Some(3.0)
    );

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

fn scalar_sum(resources: &[mesos_proto::mesos::v1::Resource], name: &str) -> f64 {
    resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref())
        .map(|s| s.value)
        .sum()
}

fn metric(m: &serde_json::Value, name: &str) -> Option<f64> {
    m.get(name).and_then(serde_json::Value::as_f64)
}

/// Upstream's per-role allocator gauges on a real master: a role with a
/// quota (guarantee and limits) whose framework holds an offer shows its
/// dominant share, the quota's guarantee and limits, what it holds and
/// what it consumes; declining with a filter moves the offer back and
/// counts the filter. Both scrapes pass promtool.
#[test]
fn allocator_role_quota_and_filter_metrics_follow_an_offer() {
    use mesos_proto::mesos::v1::{framework_info, FrameworkInfo};
    use mesos_scheduler_client::{Client, ContentType};

    let cluster = Cluster::start(ClusterOptions::default());
    let quota = serde_json::json!({
        "type": "UPDATE_QUOTA",
        "update_quota": {"quota_configs": [{
            "role": "metrics",
            "guarantees": {"cpus": {"value": 1}},
            "limits": {"cpus": {"value": 2}, "mem": {"value": 1024}, "disk": {"value": 512}}
        }]}
    });
    let r = http_request(
        &cluster.master,
        "POST",
        "/api/v1",
        &[("Content-Type", "application/json")],
        quota.to_string().as_bytes(),
    )
    .expect("UPDATE_QUOTA");
    assert_eq!(r.status, 200, "{}", r.text());
    let prefix = "allocator/mesos/quota/roles/metrics/resources";
    // Quota alone: guarantee and limits, nothing held.
    let m = snapshot(&cluster.master);
    assert_eq!(metric(&m, &format!("{prefix}/cpus/guarantee")), Some(1.0));
    assert_eq!(metric(&m, &format!("{prefix}/mem/guarantee")), None);
    assert_eq!(metric(&m, &format!("{prefix}/cpus/limit")), Some(2.0));
    assert_eq!(metric(&m, &format!("{prefix}/mem/limit")), Some(1024.0));
    assert_eq!(metric(&m, &format!("{prefix}/disk/limit")), Some(512.0));
    assert_eq!(
        metric(&m, &format!("{prefix}/cpus/offered_or_allocated")),
        Some(0.0)
    );
    assert_eq!(
        metric(&m, "allocator/mesos/roles/metrics/shares/dominant"),
        None,
        "no framework is in the role yet"
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (client, subscription, offers) = rt.block_on(async {
        let client = Client::connect(&cluster.master, ContentType::Json)
            .await
            .expect("connect");
        let info = FrameworkInfo {
            user: "root".into(),
            name: "metrics quota framework".into(),
            roles: vec!["metrics".into()],
            capabilities: vec![framework_info::Capability {
                r#type: Some(framework_info::capability::Type::MultiRole as i32),
            }],
            ..Default::default()
        };
        let mut sub = client.subscribe(info).await.expect("subscribe");
        let offers = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let event = sub.recv().await.expect("stream open").expect("event");
                if let Some(offers) = event.offers {
                    if !offers.offers.is_empty() {
                        return offers.offers;
                    }
                }
            }
        })
        .await
        .expect("an offer in time");
        (client, sub, offers)
    });
    let resources: Vec<_> = offers.iter().flat_map(|o| o.resources.clone()).collect();
    let cpus = scalar_sum(&resources, "cpus");
    let mem = scalar_sum(&resources, "mem");
    let disk = scalar_sum(&resources, "disk");
    // Offers stay within the limits.
    assert_eq!((cpus, mem, disk), (2.0, 1024.0, 512.0));

    let m = snapshot(&cluster.master);
    // The agent has cpus:4;mem:4096;disk:4096.
    let share = (cpus / 4.0).max(mem / 4096.0).max(disk / 4096.0);
    assert_eq!(
        metric(&m, "allocator/mesos/roles/metrics/shares/dominant"),
        Some(share),
        "{m}"
    );
    assert_eq!(
        metric(&m, &format!("{prefix}/cpus/offered_or_allocated")),
        Some(cpus)
    );
    assert_eq!(
        metric(&m, &format!("{prefix}/mem/offered_or_allocated")),
        Some(mem)
    );
    assert_eq!(metric(&m, &format!("{prefix}/cpus/consumed")), Some(cpus));
    assert_eq!(metric(&m, &format!("{prefix}/disk/consumed")), Some(disk));
    assert_eq!(
        metric(&m, "allocator/mesos/offer_filters/roles/metrics/active"),
        Some(0.0)
    );

    // Suppressed, then declined for ten minutes: the resources go back
    // and are not offered again, one filter per declined offer is active.
    rt.block_on(async {
        client
            .suppress(vec!["metrics".into()])
            .await
            .expect("suppress");
        client
            .decline(
                offers.iter().map(|o| o.id.clone()).collect(),
                Some(mesos_proto::mesos::v1::Filters {
                    refuse_seconds: Some(600.0),
                }),
            )
            .await
            .expect("decline");
    });
    let filters = offers.len() as f64;
    let mut m = serde_json::Value::Null;
    wait_for(
        Duration::from_secs(20),
        "the declined offers' filters",
        || {
            m = snapshot(&cluster.master);
            metric(&m, "allocator/mesos/offer_filters/roles/metrics/active") == Some(filters)
        },
    );
    assert_eq!(
        metric(&m, &format!("{prefix}/cpus/offered_or_allocated")),
        Some(0.0),
        "{m}"
    );
    assert_eq!(metric(&m, &format!("{prefix}/cpus/consumed")), None, "{m}");
    assert_eq!(
        metric(&m, "allocator/mesos/roles/metrics/shares/dominant"),
        Some(0.0)
    );
    let framework = format!(
        "master/frameworks/metrics%20quota%20framework/{}",
        subscription.framework_id.value
    );
    assert_eq!(
        metric(&m, &format!("{framework}/roles/metrics/suppressed")),
        Some(1.0),
        "{m}"
    );
    assert_eq!(metric(&m, &format!("{framework}/subscribed")), Some(1.0));

    let text = http_get(&cluster.master, "/metrics/prometheus")
        .expect("prometheus")
        .text();
    promtool_check(&text);
    assert_eq!(
        sample(
            &text,
            "mesos_allocator_mesos_quota_roles_metrics_resources_cpus_guarantee"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mesos_allocator_mesos_offer_filters_roles_metrics_active"
        ),
        Some(filters)
    );
}

/// Upstream's per-framework metrics (`master/frameworks/<encoded name>/<id>/…`)
/// for a pymesos framework that launches `echo hello` and sees it finish,
/// then leaves without tearing down (so its record, and the metrics, stay
/// for its failover timeout).
#[test]
fn per_framework_metrics_follow_a_pymesos_framework() {
    let cluster = Cluster::start(ClusterOptions::default());
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_scheduler.py"))
        .arg(format!("--master={}", cluster.master))
        .arg("--scenario=command")
        .arg("--failover-timeout=600")
        .arg("--leave");
    let (events, output, status) = run_client(cmd, Duration::from_secs(90));
    assert!(status.success(), "{output}\n{}", cluster.logs());
    let framework_id = events
        .iter()
        .find(|e| e["event"] == "registered")
        .and_then(|e| e["framework_id"].as_str())
        .unwrap_or_else(|| panic!("never registered: {output}"))
        .to_string();
    let prefix = format!("master/frameworks/pymesos%20compat%20command/{framework_id}");

    // The driver's link closing reaches the master asynchronously.
    let mut m = serde_json::Value::Null;
    wait_for(
        Duration::from_secs(20),
        "the framework disconnected",
        || {
            m = snapshot(&cluster.master);
            m[format!("{prefix}/subscribed")] == 0.0
        },
    );
    let value = |name: &str| {
        m[format!("{prefix}/{name}")]
            .as_f64()
            .unwrap_or_else(|| panic!("{prefix}/{name} missing from {m}"))
    };
    // pymesos's launchTasks is an ACCEPT; every update is acknowledged.
    assert_eq!(value("calls/accept"), 1.0);
    assert!(value("calls/acknowledge") >= 1.0);
    assert_eq!(value("calls/subscribe"), 1.0);
    assert!(value("calls") >= 3.0);
    assert!(value("offers/sent") >= 1.0);
    assert_eq!(value("offers/accepted"), 1.0);
    assert_eq!(value("operations/launch"), 1.0);
    assert_eq!(value("events/subscribed"), 1.0);
    assert!(value("events/offers") >= 1.0);
    assert!(value("events/update") >= 2.0);
    assert!(value("events/heartbeat") >= 1.0);
    assert_eq!(value("tasks/terminal/task_finished"), 1.0);
    assert_eq!(value("tasks/terminal/task_failed"), 0.0);
    assert_eq!(value("tasks/active/task_running"), 0.0);

    // The exposition with these families still passes promtool, and the
    // counters are typed as such.
    let text = http_get(&cluster.master, "/metrics/prometheus")
        .expect("prometheus")
        .text();
    promtool_check(&text);
    let family = format!(
        "mesos_master_frameworks_pymesos_20compat_20command_{}_tasks_terminal_task_finished_total",
        framework_id.replace('-', "_")
    );
    assert!(
        text.contains(&format!("# TYPE {family} counter\n")),
        "{family} missing from\n{text}"
    );
    assert_eq!(sample(&text, &family), Some(1.0));
}
