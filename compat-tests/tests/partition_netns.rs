//! A network partition made with a real network namespace (upstream
//! `partition_tests.cpp`, `PartitionedSlaveReregistration*`): the agent runs
//! inside its own namespace joined to the host by a veth pair, the master
//! listens on the host end, and two pymesos frameworks (one PARTITION_AWARE,
//! one not) run long tasks. Cutting the link makes the master mark the agent
//! unreachable after `--agent_ping_timeout` x `--max_agent_ping_timeouts`:
//! the aware framework sees TASK_UNREACHABLE, the other TASK_LOST (reason
//! REASON_AGENT_REMOVED, v0's REASON_SLAVE_REMOVED; pymesos speaks v1).
//! Restoring it lets the agent re-register with its tasks; as in upstream
//! since 1.x, both frameworks' tasks keep running and each framework hears
//! TASK_RUNNING again (REASON_AGENT_REREGISTERED), and explicit
//! reconciliation then answers TASK_RUNNING.
//!
//! The namespace and veth are named per run and removed by a drop guard,
//! even when the test fails; a machine where `ip netns` does not work fails
//! the test rather than skipping it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compat_tests::*;
use serde_json::Value;

/// Runs `ip` with `args`, panicking with its stderr when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip {}`: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "`ip {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace with one veth pair into it. The host end carries
/// `<prefix>.1/30`, the namespace end `<prefix>.2/30`. Dropping it kills
/// every process left in the namespace (by pid), then deletes the veth and
/// the namespace by name.
struct Netns {
    name: String,
    host_veth: String,
    ns_veth: String,
    host_ip: String,
    ns_ip: String,
}

impl Netns {
    fn create() -> Netns {
        let tag = std::process::id() % 100_000;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // A /30 in 10.213.0.0/16 that no interface on this host uses yet.
        let used = Command::new("ip")
            .args(["-o", "-4", "addr", "show"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut octet = (tag + nanos) % 250;
        while used.contains(&format!("10.213.{octet}.")) {
            octet = (octet + 1) % 250;
        }
        let netns = Netns {
            name: format!("mesos-part-{tag}-{}", nanos % 10_000),
            host_veth: format!("mph{tag}"),
            ns_veth: format!("mpn{tag}"),
            host_ip: format!("10.213.{octet}.1"),
            ns_ip: format!("10.213.{octet}.2"),
        };
        ip(&["netns", "add", &netns.name]);
        // From here on the guard exists, so a failing step still cleans up.
        ip(&[
            "link",
            "add",
            &netns.host_veth,
            "type",
            "veth",
            "peer",
            "name",
            &netns.ns_veth,
        ]);
        ip(&["link", "set", &netns.ns_veth, "netns", &netns.name]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", netns.host_ip),
            "dev",
            &netns.host_veth,
        ]);
        ip(&["link", "set", &netns.host_veth, "up"]);
        netns.exec_ip(&[
            "addr",
            "add",
            &format!("{}/30", netns.ns_ip),
            "dev",
            &netns.ns_veth,
        ]);
        netns.exec_ip(&["link", "set", &netns.ns_veth, "up"]);
        netns.exec_ip(&["link", "set", "lo", "up"]);
        netns
    }

    fn exec_ip(&self, args: &[&str]) {
        let mut full = vec!["netns", "exec", &self.name, "ip"];
        full.extend_from_slice(args);
        ip(&full);
    }

    /// Cuts the link at the host end. Both ends keep their addresses, so
    /// schedulers on the host still reach the master and executors in the
    /// namespace still reach the agent; only traffic across the pair stops.
    fn cut(&self) {
        ip(&["link", "set", &self.host_veth, "down"]);
    }

    fn heal(&self) {
        ip(&["link", "set", &self.host_veth, "up"]);
    }

    fn pids(&self) -> Vec<i32> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Everything in the namespace was started by this test (the agent,
        // its executors and their tasks).
        for _ in 0..50 {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_veth])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

struct Scenario {
    // Field order is drop order: clients and processes first, then the
    // namespace, then the directory.
    aware: BackgroundClient,
    unaware: BackgroundClient,
    _agent: Spawned,
    _master: Spawned,
    netns: Netns,
    master: String,
    work_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Scenario {
    fn logs(&self) -> String {
        let mut out = String::new();
        out.push_str("---- aware scheduler ----\n");
        out.push_str(&self.aware.output());
        out.push_str("---- unaware scheduler ----\n");
        out.push_str(&self.unaware.output());
        for name in ["master.log", "agent.log"] {
            let text = std::fs::read_to_string(self.work_dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(80);
            out.push_str(&format!("---- {name} (last lines) ----\n"));
            for l in &lines[from..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    fn wait(&self, timeout: Duration, what: &str, mut f: impl FnMut(&Scenario) -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out after {timeout:?} waiting for {what}\n{}",
            self.logs()
        );
    }

    fn master_state(&self) -> Option<Value> {
        let r = http_get(&self.master, "/master/state").ok()?;
        serde_json::from_slice(&r.body).ok()
    }

    fn reconcile(&self) {
        for which in ["aware", "unaware"] {
            std::fs::write(self.work_dir.join(format!("reconcile-{which}")), b"")
                .expect("reconcile file");
        }
    }
}

/// The updates for `task` from the `from`-th event on.
fn updates_since(events: &[Value], from: usize, task: &str) -> Vec<Value> {
    events
        .iter()
        .skip(from)
        .filter(|e| e["event"] == "update" && e["task_id"] == task)
        .cloned()
        .collect()
}

fn has(events: &[Value], from: usize, task: &str, state: &str, reason: &str) -> bool {
    updates_since(events, from, task)
        .iter()
        .any(|e| e["state"] == state && e["reason"] == reason)
}

fn scheduler(master: &str, work_dir: &std::path::Path, aware: bool) -> BackgroundClient {
    let which = if aware { "aware" } else { "unaware" };
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_partition_scheduler.py"))
        .arg(format!("--master={master}"))
        .arg(format!("--name=partition {which}"))
        .arg(format!("--task={which}-1"))
        .arg(format!(
            "--reconcile-file={}",
            work_dir.join(format!("reconcile-{which}")).display()
        ))
        .arg(format!("--stop-file={}", work_dir.join("stop").display()));
    if aware {
        cmd.arg("--partition-aware");
    }
    BackgroundClient::start(cmd)
}

fn log_file(work_dir: &std::path::Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(work_dir.join(name))
        .expect("log file")
}

fn start() -> Scenario {
    let netns = Netns::create();
    let tmp = tempfile::tempdir().expect("tempdir");
    let work_dir = tmp.path().to_path_buf();
    let mport = free_port();
    let aport = free_port();
    let master_addr = format!("{}:{mport}", netns.host_ip);
    let mlog = log_file(&work_dir, "master.log");
    let master = Command::new(our_binary("mesos-master"))
        .arg(format!("--ip={}", netns.host_ip))
        .arg(format!("--port={mport}"))
        .arg(format!("--work_dir={}", work_dir.join("master").display()))
        .arg("--agent_ping_timeout=1secs")
        .arg("--max_agent_ping_timeouts=3")
        .stdout(mlog.try_clone().expect("log"))
        .stderr(mlog)
        .spawn()
        .expect("spawn mesos-master");
    let master = Spawned {
        name: "mesos-master".into(),
        child: master,
    };
    wait_for(Duration::from_secs(30), "master /health", || {
        http_get(&master_addr, "/health")
            .map(|r| r.status == 200)
            .unwrap_or(false)
    });
    let alog = log_file(&work_dir, "agent.log");
    let agent = Command::new("ip")
        .args(["netns", "exec", &netns.name])
        .arg(our_binary("mesos-agent"))
        .arg(format!("--master={master_addr}"))
        .arg(format!("--ip={}", netns.ns_ip))
        .arg(format!("--hostname={}", netns.ns_ip))
        .arg(format!("--port={aport}"))
        .arg(format!("--work_dir={}", work_dir.join("agent").display()))
        .arg("--resources=cpus:4;mem:4096;disk:4096;ports:[31000-32000]")
        .arg("--registration_backoff_factor=10ms")
        .stdout(alog.try_clone().expect("log"))
        .stderr(alog)
        .spawn()
        .expect("spawn mesos-agent in the namespace");
    let agent = Spawned {
        name: "mesos-agent".into(),
        child: agent,
    };
    let aware = scheduler(&master_addr, &work_dir, true);
    let unaware = scheduler(&master_addr, &work_dir, false);
    Scenario {
        aware,
        unaware,
        _agent: agent,
        _master: master,
        netns,
        master: master_addr,
        work_dir,
        _tmp: tmp,
    }
}

fn agent_ids(state: &Value, key: &str) -> Vec<String> {
    state[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn partitioned_agent_reregistration_partition_aware_and_not() {
    let s = start();
    s.wait(
        Duration::from_secs(90),
        "both frameworks' tasks TASK_RUNNING",
        |s| {
            updates_since(&s.aware.events(), 0, "aware-1")
                .iter()
                .any(|e| e["state"] == "TASK_RUNNING")
                && updates_since(&s.unaware.events(), 0, "unaware-1")
                    .iter()
                    .any(|e| e["state"] == "TASK_RUNNING")
        },
    );
    let state = s.master_state().expect("master state");
    let agents = agent_ids(&state, "slaves");
    assert_eq!(agents.len(), 1, "one agent registered: {state}");
    let agent_id = agents[0].clone();

    // Cut the link: after 3 missed pings of 1 s the master marks the
    // agent unreachable.
    let (aware_mark, unaware_mark) = (s.aware.events().len(), s.unaware.events().len());
    let cut_at = Instant::now();
    s.netns.cut();
    s.wait(
        Duration::from_secs(60),
        "TASK_UNREACHABLE (aware) and TASK_LOST (unaware) with REASON_AGENT_REMOVED",
        |s| {
            has(
                &s.aware.events(),
                aware_mark,
                "aware-1",
                "TASK_UNREACHABLE",
                "REASON_AGENT_REMOVED",
            ) && has(
                &s.unaware.events(),
                unaware_mark,
                "unaware-1",
                "TASK_LOST",
                "REASON_AGENT_REMOVED",
            )
        },
    );
    let marked_after = cut_at.elapsed();
    eprintln!("agent marked unreachable {marked_after:?} after the cut");
    assert!(
        marked_after >= Duration::from_millis(2500),
        "the agent was marked unreachable before 3 ping timeouts of 1 s had passed ({marked_after:?})\n{}",
        s.logs()
    );
    // Neither framework heard anything else about its task meanwhile.
    for (client, mark, task) in [
        (&s.aware, aware_mark, "aware-1"),
        (&s.unaware, unaware_mark, "unaware-1"),
    ] {
        let seen = updates_since(&client.events(), mark, task);
        assert_eq!(
            seen.len(),
            1,
            "one update for {task}: {seen:?}\n{}",
            s.logs()
        );
    }
    let state = s.master_state().expect("master state");
    assert!(
        agent_ids(&state, "slaves").is_empty(),
        "the unreachable agent is no longer listed: {state}"
    );

    // While the agent is unreachable, explicit reconciliation answers
    // UNREACHABLE to the aware framework and LOST to the other.
    let (aware_mark, unaware_mark) = (s.aware.events().len(), s.unaware.events().len());
    s.reconcile();
    s.wait(
        Duration::from_secs(30),
        "reconciliation answers during the partition",
        |s| {
            has(
                &s.aware.events(),
                aware_mark,
                "aware-1",
                "TASK_UNREACHABLE",
                "REASON_RECONCILIATION",
            ) && has(
                &s.unaware.events(),
                unaware_mark,
                "unaware-1",
                "TASK_LOST",
                "REASON_RECONCILIATION",
            )
        },
    );

    // Heal: the agent notices the missing pings, detects the master again
    // and re-registers with its tasks under the same id.
    let (aware_mark, unaware_mark) = (s.aware.events().len(), s.unaware.events().len());
    let healed_at = Instant::now();
    s.netns.heal();
    s.wait(
        Duration::from_secs(90),
        "the agent re-registered and both tasks TASK_RUNNING again",
        |s| {
            let back = s
                .master_state()
                .is_some_and(|st| agent_ids(&st, "slaves") == vec![agent_id.clone()]);
            back && has(
                &s.aware.events(),
                aware_mark,
                "aware-1",
                "TASK_RUNNING",
                "REASON_AGENT_REREGISTERED",
            ) && has(
                &s.unaware.events(),
                unaware_mark,
                "unaware-1",
                "TASK_RUNNING",
                "REASON_AGENT_REREGISTERED",
            )
        },
    );
    eprintln!(
        "agent re-registered and tasks RUNNING {:?} after healing",
        healed_at.elapsed()
    );
    let state = s.master_state().expect("master state");
    for framework in state["frameworks"].as_array().expect("frameworks") {
        let tasks = framework["tasks"].as_array().expect("tasks");
        assert_eq!(tasks.len(), 1, "one running task: {framework}");
        assert_eq!(tasks[0]["state"], "TASK_RUNNING", "{framework}");
        assert!(
            framework["unreachable_tasks"]
                .as_array()
                .is_none_or(|a| a.is_empty()),
            "no unreachable tasks left: {framework}"
        );
    }
    assert!(
        agent_ids(&state, "unreachable_slaves").is_empty(),
        "no unreachable agents left: {state}"
    );

    // Reconciliation converges: both frameworks hear TASK_RUNNING.
    let (aware_mark, unaware_mark) = (s.aware.events().len(), s.unaware.events().len());
    s.reconcile();
    s.wait(
        Duration::from_secs(30),
        "reconciliation answers TASK_RUNNING after healing",
        |s| {
            has(
                &s.aware.events(),
                aware_mark,
                "aware-1",
                "TASK_RUNNING",
                "REASON_RECONCILIATION",
            ) && has(
                &s.unaware.events(),
                unaware_mark,
                "unaware-1",
                "TASK_RUNNING",
                "REASON_RECONCILIATION",
            )
        },
    );
    for client in [&s.aware, &s.unaware] {
        assert!(
            !client.events().iter().any(|e| e["event"] == "error"),
            "no framework error\n{}",
            s.logs()
        );
    }
    std::fs::write(s.work_dir.join("stop"), b"").expect("stop file");
}
