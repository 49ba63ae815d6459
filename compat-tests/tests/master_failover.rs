//! Master failover with a real ZooKeeper 3.8: three `mesos-master`s elect a
//! leader, two `mesos-agent`s and a pymesos scheduler find it through
//! `zk://`, and the cluster rides out the leader's death, a ZooKeeper
//! restart and a leader whose session expires while it lives (upstream's
//! high-availability contract).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compat_tests::zookeeper::ZooKeeperServer;
use compat_tests::*;
use serde_json::Value;

/// Short, so failover is quick; the test measures against it.
const SESSION_TIMEOUT_SECS: u64 = 3;

struct HaCluster {
    zk: ZooKeeperServer,
    dir: tempfile::TempDir,
    masters: Vec<(u16, Option<Spawned>)>,
    agents: Vec<(u16, Spawned)>,
}

impl HaCluster {
    fn start(masters: usize) -> HaCluster {
        let zk = ZooKeeperServer::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cluster = HaCluster {
            zk,
            dir,
            masters: Vec::new(),
            agents: Vec::new(),
        };
        for i in 0..masters {
            let port = free_port();
            let master = cluster.spawn_master(i, port);
            cluster.masters.push((port, Some(master)));
        }
        cluster
    }

    fn zk_url(&self) -> String {
        format!("zk://{}/mesos", self.zk.connect_string())
    }

    fn spawn_master(&self, i: usize, port: u16) -> Spawned {
        let log =
            std::fs::File::create(self.dir.path().join(format!("master{i}.log"))).expect("log");
        let child = Command::new(our_binary("mesos-master"))
            .arg("--ip=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--zk={}", self.zk_url()))
            .arg("--quorum=1")
            .arg(format!("--zk_session_timeout={SESSION_TIMEOUT_SECS}secs"))
            .arg(format!(
                "--work_dir={}",
                self.dir.path().join(format!("master{i}")).display()
            ))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn mesos-master");
        Spawned {
            name: format!("mesos-master {i}"),
            child,
        }
    }

    fn add_agent(&mut self) {
        let i = self.agents.len();
        let port = free_port();
        let log =
            std::fs::File::create(self.dir.path().join(format!("agent{i}.log"))).expect("log");
        let child = Command::new(our_binary("mesos-agent"))
            .arg(format!("--master={}", self.zk_url()))
            .arg(format!("--zk_session_timeout={SESSION_TIMEOUT_SECS}secs"))
            .arg("--ip=127.0.0.1")
            .arg("--hostname=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!(
                "--work_dir={}",
                self.dir.path().join(format!("agent{i}")).display()
            ))
            .arg("--resources=cpus:2;mem:1024;disk:1024;ports:[31000-32000]")
            .arg("--registration_backoff_factor=10ms")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn mesos-agent");
        self.agents.push((
            port,
            Spawned {
                name: format!("mesos-agent {i}"),
                child,
            },
        ));
    }

    fn address(port: u16) -> String {
        format!("127.0.0.1:{port}")
    }

    /// The index of the master serving `/master/state` (only the leader
    /// does; the others redirect or answer 503).
    fn leader(&self) -> Option<usize> {
        let serving: Vec<usize> = self
            .masters
            .iter()
            .enumerate()
            .filter(|(_, (_, process))| process.is_some())
            .filter(|(_, (port, _))| {
                http_get(&Self::address(*port), "/master/state")
                    .map(|r| r.status == 200)
                    .unwrap_or(false)
            })
            .map(|(i, _)| i)
            .collect();
        assert!(
            serving.len() <= 1,
            "two masters serve as leader: {serving:?}\n{}",
            self.logs()
        );
        serving.first().copied()
    }

    fn wait_leader(&self, timeout: Duration, not: Option<usize>) -> usize {
        let mut found = None;
        wait_for_or(
            timeout,
            "a leading master",
            || {
                found = self.leader().filter(|l| Some(*l) != not);
                found.is_some()
            },
            || self.logs(),
        );
        found.unwrap_or_default()
    }

    fn state(&self, master: usize) -> Value {
        http_get(&Self::address(self.masters[master].0), "/master/state")
            .map(|r| r.json())
            .unwrap_or(Value::Null)
    }

    fn kill_master(&mut self, master: usize) {
        if let Some(mut process) = self.masters[master].1.take() {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }

    fn pid(&self, master: usize) -> u32 {
        self.masters[master]
            .1
            .as_ref()
            .map(|p| p.child.id())
            .unwrap_or_default()
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.sort();
        for path in names
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
        {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("---- {} ----\n", path.display()));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

fn running_tasks(state: &Value) -> usize {
    state["frameworks"]
        .as_array()
        .map(|frameworks| {
            frameworks
                .iter()
                .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
                .filter(|t| t["state"] == "TASK_RUNNING")
                .count()
        })
        .unwrap_or(0)
}

fn active_agents(state: &Value) -> usize {
    state["slaves"]
        .as_array()
        .map(|agents| agents.iter().filter(|a| a["active"] == true).count())
        .unwrap_or(0)
}

fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// The group's znodes as kazoo (a stock ZooKeeper client) sees them.
fn kazoo_children(zk: &ZooKeeperServer) -> Value {
    let script = r#"
import json, sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1]); zk.start(timeout=20)
out = []
for child in sorted(zk.get_children("/mesos")):
    # Members only: the registry (like upstream's log_replicas) lives beside them.
    if not child.startswith("json.info_") and not child.startswith("info_"):
        continue
    data, stat = zk.get("/mesos/" + child)
    out.append({"name": child, "ephemeral": stat.ephemeralOwner != 0,
                "data": json.loads(data.decode())})
zk.stop()
print(json.dumps(out))
"#;
    let output = Command::new(venv_python())
        .args(["-c", script, &zk.connect_string()])
        .output()
        .expect("run kazoo");
    assert!(
        output.status.success(),
        "kazoo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("kazoo output")
}

// Three masters, two agents, a pymesos scheduler on zk://: the leader is
// killed with SIGKILL, another takes over, both agents re-register with
// their tasks, the scheduler re-subscribes with its framework id and gets
// every further update; no task is lost.
#[test]
fn master_failover_scheduler_and_agents_follow_the_new_leader() {
    let mut cluster = HaCluster::start(3);
    let leader = cluster.wait_leader(Duration::from_secs(60), None);

    // The group as upstream lays it out: one EPHEMERAL_SEQUENTIAL
    // json.info_NNNNNNNNNN per master, holding MasterInfo JSON.
    let mut children = Value::Null;
    wait_for_or(
        Duration::from_secs(30),
        "three json.info_ znodes",
        || {
            children = kazoo_children(&cluster.zk);
            children.as_array().map(|c| c.len()) == Some(3)
        },
        || cluster.logs(),
    );
    let ports: Vec<u16> = cluster.masters.iter().map(|(p, _)| *p).collect();
    let mut lowest: Option<(String, u64)> = None;
    for child in children.as_array().into_iter().flatten() {
        let name = child["name"].as_str().unwrap_or_default();
        let sequence = name
            .strip_prefix("json.info_")
            .unwrap_or_else(|| panic!("znode {name}"));
        assert_eq!(sequence.len(), 10, "{name}");
        assert!(sequence.bytes().all(|b| b.is_ascii_digit()), "{name}");
        assert_eq!(child["ephemeral"], true, "{name}");
        let data = &child["data"];
        let port = data["port"].as_u64().unwrap_or_default();
        assert!(ports.contains(&(port as u16)), "{data}");
        assert_eq!(data["pid"], format!("master@127.0.0.1:{port}"));
        assert_eq!(data["address"]["ip"], "127.0.0.1");
        assert_eq!(data["address"]["port"], port);
        assert_eq!(data["version"], "1.11.0");
        assert_eq!(data["ip"], u64::from(u32::from_ne_bytes([127, 0, 0, 1])));
        assert!(data["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(data["capabilities"]
            .as_array()
            .is_some_and(|c| !c.is_empty()));
        let seq: u64 = sequence.parse().unwrap_or(u64::MAX);
        if lowest.as_ref().is_none_or(|(_, s)| seq < *s) {
            lowest = Some((data["pid"].as_str().unwrap_or_default().to_string(), seq));
        }
    }
    // The lowest sequence leads.
    assert_eq!(
        lowest.map(|(pid, _)| pid),
        Some(format!("master@127.0.0.1:{}", cluster.masters[leader].0))
    );

    // Standby masters: redirect to the leader, /health answers, no leader
    // duties.
    let leader_port = cluster.masters[leader].0;
    for (i, (port, _)) in cluster.masters.iter().enumerate() {
        if i == leader {
            continue;
        }
        let addr = HaCluster::address(*port);
        assert_eq!(http_get(&addr, "/health").map(|r| r.status).ok(), Some(200));
        let redirect = http_get(&addr, "/master/redirect").expect("redirect");
        assert_eq!(redirect.status, 307);
        let location = redirect.header("location").unwrap_or_default().to_string();
        assert!(
            location.starts_with("//") && location.ends_with(&format!(":{leader_port}")),
            "{location}"
        );
        let state = http_get(&addr, "/master/state?jsonp=x").expect("state");
        assert_eq!(state.status, 307);
        assert!(state
            .header("location")
            .unwrap_or_default()
            .ends_with(&format!(":{leader_port}/master/state?jsonp=x")));
        let call = http_request(
            &addr,
            "POST",
            "/api/v1/scheduler",
            &[("Content-Type", "application/json")],
            br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}"#,
        )
        .expect("scheduler call");
        assert_eq!(call.status, 307);
        assert!(call
            .header("location")
            .unwrap_or_default()
            .ends_with(&format!(":{leader_port}/api/v1/scheduler")));
    }

    cluster.add_agent();
    cluster.add_agent();
    wait_for_or(
        Duration::from_secs(30),
        "two agents registered",
        || active_agents(&cluster.state(leader)) == 2,
        || cluster.logs(),
    );

    let events_path = cluster.dir.path().join("scheduler.events");
    let control = cluster.dir.path().join("scheduler.control");
    let scheduler_log = std::fs::File::create(&events_path).expect("events");
    let scheduler_err =
        std::fs::File::create(cluster.dir.path().join("scheduler.log")).expect("log");
    let scheduler = Command::new(venv_python())
        .arg(client_script("pymesos_failover.py"))
        .arg(format!("--master={}", cluster.zk_url()))
        .arg("--tasks=4")
        .arg("--agents=2")
        .arg(format!("--control={}", control.display()))
        .arg("--timeout=240")
        .stdout(scheduler_log)
        .stderr(scheduler_err)
        .spawn()
        .expect("spawn pymesos scheduler");
    let mut scheduler = Spawned {
        name: "pymesos scheduler".into(),
        child: scheduler,
    };
    let events_text = || std::fs::read_to_string(&events_path).unwrap_or_default();
    wait_for_or(
        Duration::from_secs(60),
        "four tasks running",
        || running_tasks(&cluster.state(leader)) == 4,
        || {
            format!(
                "{}\n---- scheduler events ----\n{}",
                cluster.logs(),
                events_text()
            )
        },
    );
    let framework_id = events(&events_path)
        .iter()
        .find(|e| e["event"] == "registered")
        .and_then(|e| e["framework_id"].as_str().map(str::to_string))
        .expect("framework registered");
    let agents_before: Vec<String> = cluster.state(leader)["slaves"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();

    // SIGKILL the leader: its session is left to expire.
    let killed_at = Instant::now();
    cluster.kill_master(leader);
    let new_leader = cluster.wait_leader(Duration::from_secs(60), Some(leader));
    let elected_after = killed_at.elapsed();
    wait_for_or(
        Duration::from_secs(60),
        "both agents back with their tasks",
        || {
            let state = cluster.state(new_leader);
            active_agents(&state) == 2 && running_tasks(&state) == 4
        },
        || cluster.logs(),
    );
    let failover = killed_at.elapsed();
    println!(
        "FAILOVER: SIGKILL of the leader -> new leader serving /master/state: {:.2}s; \
         with both agents and all 4 tasks back: {:.2}s (ZooKeeper session timeout {}s)",
        elected_after.as_secs_f64(),
        failover.as_secs_f64(),
        SESSION_TIMEOUT_SECS
    );
    let state = cluster.state(new_leader);
    let mut agents_after: Vec<String> = state["slaves"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut agents_before = agents_before;
    agents_before.sort();
    agents_after.sort();
    assert_eq!(
        agents_before, agents_after,
        "agents re-register under their ids"
    );
    assert_eq!(
        state["leader"],
        format!("master@127.0.0.1:{}", cluster.masters[new_leader].0)
    );
    assert_eq!(state["leader_info"]["port"], cluster.masters[new_leader].0);

    // The scheduler re-subscribes with its framework id.
    wait_for_or(
        Duration::from_secs(60),
        "the scheduler re-subscribed",
        || {
            let frameworks = cluster.state(new_leader)["frameworks"].clone();
            frameworks.as_array().is_some_and(|f| {
                f.iter()
                    .any(|f| f["id"] == framework_id.as_str() && f["active"] == true)
            })
        },
        || cluster.logs(),
    );

    // Further updates reach it through the new leader: kill every task.
    std::fs::File::create(&control)
        .and_then(|mut f| f.write_all(b"kill"))
        .expect("control file");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Ok(Some(status)) = scheduler.child.try_wait() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the scheduler did not finish\n{}\n{}",
            cluster.logs(),
            events_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let seen = events(&events_path);
    assert!(
        status.success(),
        "scheduler failed\n{}\n{}",
        cluster.logs(),
        events_text()
    );
    for event in seen.iter().filter(|e| e["event"] == "update") {
        assert_ne!(event["state"], "TASK_LOST", "a task was lost: {event}");
    }
    for task in 0..4 {
        let id = format!("task-{task}");
        assert!(
            seen.iter().any(|e| e["event"] == "update"
                && e["task_id"] == id.as_str()
                && e["state"] == "TASK_KILLED"),
            "{id} was never reported killed\n{}",
            events_text()
        );
    }
    // Every re-subscription kept the framework id.
    for event in seen
        .iter()
        .filter(|e| e["event"] == "registered" || e["event"] == "reregistered")
    {
        assert_eq!(event["framework_id"], framework_id.as_str(), "{event}");
    }
}

// ZooKeeper restarted under a running cluster: sessions survive a quick
// restart, exactly one master leads afterwards and the agent stays
// registered with it.
#[test]
fn master_failover_zookeeper_restart() {
    let mut cluster = HaCluster::start(3);
    let leader = cluster.wait_leader(Duration::from_secs(60), None);
    cluster.add_agent();
    wait_for_or(
        Duration::from_secs(30),
        "agent registered",
        || active_agents(&cluster.state(leader)) == 1,
        || cluster.logs(),
    );

    cluster.zk.restart();
    let leader = cluster.wait_leader(Duration::from_secs(60), None);
    wait_for_or(
        Duration::from_secs(60),
        "agent registered after the restart",
        || active_agents(&cluster.state(leader)) == 1,
        || cluster.logs(),
    );
    let mut children = Value::Null;
    wait_for_or(
        Duration::from_secs(30),
        "every master contends again",
        || {
            children = kazoo_children(&cluster.zk);
            let alive = cluster.masters.iter().filter(|(_, p)| p.is_some()).count();
            children.as_array().map(|c| c.len()) == Some(alive)
        },
        || cluster.logs(),
    );
}

// The leader's session expires while its process lives (SIGSTOP for longer
// than the session timeout): the other master is elected, and once the old
// leader runs again it stops leading and exits, as upstream's does.
#[test]
fn master_failover_leader_session_expires_while_alive() {
    let mut cluster = HaCluster::start(2);
    let leader = cluster.wait_leader(Duration::from_secs(60), None);
    // An elected master serves `/master/state` while it still recovers;
    // stopped then, it would fail its registry write on waking instead of
    // noticing the lost session. Stop it once it leads.
    let leader_log = cluster.dir.path().join(format!("master{leader}.log"));
    wait_for_or(
        Duration::from_secs(60),
        "the leader to finish recovery",
        || {
            std::fs::read_to_string(&leader_log)
                .is_ok_and(|log| log.contains("Recovered ") && log.contains(" from the registry"))
        },
        || cluster.logs(),
    );
    let pid = cluster.pid(leader).to_string();
    let signal = |sig: &str| {
        let status = Command::new("kill")
            .args([sig, &pid])
            .stdout(Stdio::null())
            .status()
            .expect("kill");
        assert!(status.success(), "kill {sig} {pid}");
    };
    signal("-STOP");
    let other = 1 - leader;
    // Stopped, the old leader cannot answer; wait until the other leads.
    wait_for_or(
        Duration::from_secs(60),
        "the other master elected",
        || {
            http_get(
                &HaCluster::address(cluster.masters[other].0),
                "/master/state",
            )
            .map(|r| r.status == 200)
            .unwrap_or(false)
        },
        || cluster.logs(),
    );
    signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let process = cluster.masters[leader].1.as_mut().expect("old leader");
        if let Ok(Some(status)) = process.child.try_wait() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the deposed leader kept running\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        !status.success(),
        "the deposed leader must exit with a failure"
    );
    let log = std::fs::read_to_string(cluster.dir.path().join(format!("master{leader}.log")))
        .unwrap_or_default();
    assert!(log.contains("Lost leadership"), "{log}");
    assert_eq!(cluster.leader(), Some(other));
}

// `mesos-execute --master=zk://...` rides out a leader kill: it follows the
// new leader, re-subscribes under its framework id and still sees its task
// finish.
#[test]
fn master_failover_mesos_execute_follows_the_new_leader() {
    let mut cluster = HaCluster::start(2);
    let leader = cluster.wait_leader(Duration::from_secs(60), None);
    cluster.add_agent();
    wait_for_or(
        Duration::from_secs(30),
        "agent registered",
        || active_agents(&cluster.state(leader)) == 1,
        || cluster.logs(),
    );

    let done = cluster.dir.path().join("task.done");
    let output_path = cluster.dir.path().join("mesos-execute.out");
    let output = std::fs::File::create(&output_path).expect("output");
    let child = Command::new(our_binary("mesos-execute"))
        .arg(format!("--master={}", cluster.zk_url()))
        .arg("--name=failover-execute")
        .arg(format!(
            "--command=while [ ! -f {} ]; do sleep 0.1; done",
            done.display()
        ))
        .arg("--resources=cpus:0.1;mem:32")
        .stdout(output.try_clone().expect("output"))
        .stderr(output)
        .spawn()
        .expect("spawn mesos-execute");
    let mut execute = Spawned {
        name: "mesos-execute".into(),
        child,
    };
    let text = || std::fs::read_to_string(&output_path).unwrap_or_default();
    wait_for_or(
        Duration::from_secs(60),
        "the task running",
        || running_tasks(&cluster.state(leader)) == 1,
        || format!("{}\n{}", cluster.logs(), text()),
    );

    cluster.kill_master(leader);
    let new_leader = cluster.wait_leader(Duration::from_secs(60), Some(leader));
    wait_for_or(
        Duration::from_secs(60),
        "the task back on the new leader",
        || running_tasks(&cluster.state(new_leader)) == 1,
        || cluster.logs(),
    );
    wait_for_or(
        Duration::from_secs(60),
        "mesos-execute re-subscribed",
        || text().contains("Re-subscribed with ID"),
        || format!("{}\n{}", cluster.logs(), text()),
    );
    std::fs::write(&done, b"").expect("done file");

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(Some(status)) = execute.child.try_wait() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "mesos-execute did not finish\n{}\n{}",
            text(),
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = text();
    assert!(status.success(), "{out}\n{}", cluster.logs());
    assert!(out.contains("TASK_FINISHED"), "{out}");
    let id = |prefix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
            .unwrap_or_default()
    };
    assert_eq!(
        id("Subscribed with ID "),
        id("Re-subscribed with ID "),
        "{out}"
    );
}
