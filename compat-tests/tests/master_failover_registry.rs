//! A single master with the file registry (`--registry=replicated_log`
//! without `--zk`) killed with SIGKILL and restarted, with real
//! `mesos-master` and `mesos-agent` processes and a raw-HTTP v1 scheduler
//! running a long task (upstream `MasterTest.RecoveredSlaves`,
//! `MasterTest.RecoveredSlaveReregisters`, `FaultToleranceTest`'s master
//! failover scenarios).
//!
//! While the master is down the agent is held with SIGSTOP, so the
//! restarted master is seen with the agent recovered but not yet
//! re-registered; then the agent continues and re-registers.

use std::fs::OpenOptions;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use compat_tests::*;
use serde_json::{json, Value};

/// An open SUBSCRIBE stream, read event by event (heartbeats skipped).
struct Stream {
    reader: BufReader<TcpStream>,
    pending: Vec<u8>,
    stream_id: String,
    /// Every UPDATE seen, for the final "never lost" check.
    updates: Vec<Value>,
}

impl Stream {
    fn open(addr: &str, body: &Value) -> Stream {
        let body = body.to_string();
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let head = format!(
            "POST /api/v1/scheduler HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(body.as_bytes()).expect("write");
        let mut reader = BufReader::new(s);
        let (status, headers) = read_response_head(&mut reader).expect("response head");
        assert_eq!(status, 200, "SUBSCRIBE answered {status}");
        let stream_id = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("mesos-stream-id"))
            .map(|(_, v)| v.clone())
            .expect("Mesos-Stream-Id");
        Stream {
            reader,
            pending: Vec::new(),
            stream_id,
            updates: Vec::new(),
        }
    }

    fn next_event(&mut self) -> Value {
        loop {
            if let Some(nl) = self.pending.iter().position(|b| *b == b'\n') {
                let len: usize = std::str::from_utf8(&self.pending[..nl])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .expect("RecordIO length");
                if self.pending.len() >= nl + 1 + len {
                    let record: Vec<u8> = self.pending.drain(..nl + 1 + len).skip(nl + 1).collect();
                    let event: Value = serde_json::from_slice(&record).expect("JSON event");
                    if event["type"] == "HEARTBEAT" {
                        continue;
                    }
                    if event["type"] == "UPDATE" {
                        self.updates.push(event["update"]["status"].clone());
                    }
                    return event;
                }
            }
            let size = read_chunk_size(&mut self.reader).expect("chunk size");
            assert!(size > 0, "stream ended");
            let mut chunk = vec![0; size + 2];
            self.reader.read_exact(&mut chunk).expect("chunk");
            chunk.truncate(size);
            self.pending.extend_from_slice(&chunk);
        }
    }

    fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let event = self.next_event();
            if event["type"] == kind {
                return event;
            }
        }
    }
}

fn call(master: &str, stream: &Stream, body: Value) {
    let r = http_request(
        master,
        "POST",
        "/api/v1/scheduler",
        &[
            ("Content-Type", "application/json"),
            ("Mesos-Stream-Id", &stream.stream_id),
        ],
        body.to_string().as_bytes(),
    )
    .expect("scheduler call");
    assert_eq!(r.status, 202, "{body}: {} {}", r.status, r.text());
}

fn start_master(port: u16, dir: &Path) -> Spawned {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("master.log"))
        .expect("log");
    let child = Command::new(our_binary("mesos-master"))
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg("--registry=replicated_log")
        .arg(format!("--work_dir={}", dir.join("master").display()))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn mesos-master");
    Spawned {
        name: "mesos-master".into(),
        child,
    }
}

fn signal(process: &Spawned, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(process.child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} failed");
}

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for name in ["master.log", "agent.log"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        out.push_str(&format!("---- {name} ----\n"));
        for line in tail.into_iter().rev() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn state(master: &str) -> Option<Value> {
    let r = http_get(master, "/master/state").ok()?;
    (r.status == 200).then(|| serde_json::from_slice(&r.body).ok())?
}

fn is_lost(status: &Value) -> bool {
    matches!(
        status["state"].as_str(),
        Some("TASK_LOST" | "TASK_UNREACHABLE" | "TASK_GONE" | "TASK_UNKNOWN" | "TASK_DROPPED")
    )
}

#[test]
fn recovered_slaves_reregister_after_master_failover_without_task_lost() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let mport = free_port();
    let aport = free_port();
    let master_addr = format!("127.0.0.1:{mport}");
    let mut master = start_master(mport, dir);
    wait_for(Duration::from_secs(20), "master /health", || {
        http_get(&master_addr, "/health")
            .map(|r| r.status == 200)
            .unwrap_or(false)
    });
    let alog = std::fs::File::create(dir.join("agent.log")).expect("log");
    let agent = Spawned {
        name: "mesos-agent".into(),
        child: Command::new(our_binary("mesos-agent"))
            .arg(format!("--master={master_addr}"))
            .arg("--ip=127.0.0.1")
            .arg("--hostname=127.0.0.1")
            .arg(format!("--port={aport}"))
            .arg(format!("--work_dir={}", dir.join("agent").display()))
            .arg("--resources=cpus:2;mem:1024;disk:1024;ports:[31000-32000]")
            .arg("--registration_backoff_factor=10ms")
            .stdout(alog.try_clone().expect("log"))
            .stderr(alog)
            .spawn()
            .expect("spawn mesos-agent"),
    };
    wait_for(Duration::from_secs(30), "agent registration", || {
        state(&master_addr).is_some_and(|s| s["slaves"].as_array().is_some_and(|a| a.len() == 1))
    });
    let agent_id = state(&master_addr).expect("state")["slaves"][0]["id"]
        .as_str()
        .expect("agent id")
        .to_string();

    // A scheduler launches a long task.
    let info = json!({"user": "root", "name": "failover", "failover_timeout": 600.0,
                      "checkpoint": true});
    let mut stream = Stream::open(
        &master_addr,
        &json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}),
    );
    let subscribed = stream.next_of("SUBSCRIBED");
    let framework_id = subscribed["subscribed"]["framework_id"]["value"]
        .as_str()
        .expect("framework id")
        .to_string();
    let offer = stream.next_of("OFFERS")["offers"]["offers"][0].clone();
    call(
        &master_addr,
        &stream,
        json!({"type": "ACCEPT", "framework_id": {"value": framework_id},
               "accept": {"offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH",
                 "launch": {"task_infos": [{"name": "long", "task_id": {"value": "long"},
                   "agent_id": offer["agent_id"],
                   "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                 {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
                   "command": {"value": "sleep 600"}}]}}]}}),
    );
    loop {
        let update = stream.next_of("UPDATE");
        let status = &update["update"]["status"];
        if let Some(uuid) = status["uuid"].as_str() {
            call(
                &master_addr,
                &stream,
                json!({"type": "ACKNOWLEDGE", "framework_id": {"value": framework_id},
                       "acknowledge": {"agent_id": status["agent_id"], "task_id": status["task_id"],
                                       "uuid": uuid}}),
            );
        }
        assert!(
            !is_lost(status),
            "task failed to start: {status}\n{}",
            logs(dir)
        );
        if status["state"] == "TASK_RUNNING" {
            break;
        }
    }

    // The master dies; the agent is held so it cannot re-register yet.
    master.child.kill().expect("SIGKILL master");
    master.child.wait().expect("reap master");
    signal(&agent, "STOP");
    drop(stream);
    let mut master = start_master(mport, dir);
    wait_for(
        Duration::from_secs(20),
        "restarted master /master/state",
        || state(&master_addr).is_some(),
    );
    let s = state(&master_addr).expect("state");
    assert_eq!(s["slaves"], json!([]), "{s}");
    let recovered = s["recovered_slaves"].as_array().expect("recovered_slaves");
    assert_eq!(recovered.len(), 1, "{s}\n{}", logs(dir));
    assert_eq!(recovered[0]["id"], agent_id.as_str());
    assert_eq!(recovered[0]["hostname"], "127.0.0.1");
    assert_eq!(recovered[0]["port"], aport);
    // Upstream's shape for a recovered agent: its SlaveInfo essentials.
    assert_eq!(recovered[0]["attributes"], json!({}), "{}", recovered[0]);

    // The scheduler comes back and reconciles: nothing for the task on the
    // recovered agent; the unknown agent's task answers, proving the call
    // was handled in order.
    let mut info = info.clone();
    info["id"] = json!({ "value": framework_id });
    let mut stream = Stream::open(
        &master_addr,
        &json!({"type": "SUBSCRIBE", "framework_id": {"value": framework_id},
                "subscribe": {"framework_info": info}}),
    );
    stream.next_of("SUBSCRIBED");
    call(
        &master_addr,
        &stream,
        json!({"type": "RECONCILE", "framework_id": {"value": framework_id},
               "reconcile": {"tasks": [
                 {"task_id": {"value": "long"}, "agent_id": {"value": agent_id}},
                 {"task_id": {"value": "probe"}, "agent_id": {"value": "no-such-agent"}}]}}),
    );
    let first = stream.next_of("UPDATE");
    assert_eq!(
        first["update"]["status"]["task_id"]["value"], "probe",
        "the recovered agent's task was answered: {first}"
    );

    // The agent continues and re-registers with its task.
    signal(&agent, "CONT");
    wait_for(Duration::from_secs(90), "agent re-registration", || {
        state(&master_addr).is_some_and(|s| {
            s["slaves"].as_array().is_some_and(|a| a.len() == 1)
                && s["recovered_slaves"]
                    .as_array()
                    .is_some_and(|a| a.is_empty())
        })
    });
    let s = state(&master_addr).expect("state");
    assert_eq!(s["slaves"][0]["id"], agent_id.as_str(), "{s}");
    let task = &s["frameworks"][0]["tasks"][0];
    assert_eq!(task["id"], "long", "{s}");
    assert_eq!(task["state"], "TASK_RUNNING", "{s}");

    call(
        &master_addr,
        &stream,
        json!({"type": "RECONCILE", "framework_id": {"value": framework_id},
               "reconcile": {"tasks": [
                 {"task_id": {"value": "long"}, "agent_id": {"value": agent_id}}]}}),
    );
    loop {
        let update = stream.next_of("UPDATE");
        let status = &update["update"]["status"];
        if status["task_id"]["value"] == "long" {
            assert_eq!(status["state"], "TASK_RUNNING", "{status}");
            break;
        }
    }
    let lost: Vec<&Value> = stream
        .updates
        .iter()
        .filter(|s| s["task_id"]["value"] == "long" && is_lost(s))
        .collect();
    assert!(lost.is_empty(), "running task reported lost: {lost:?}");
    // Both processes are still up.
    assert!(
        master.child.try_wait().expect("master").is_none(),
        "{}",
        logs(dir)
    );
    drop(agent);
}
