//! Trust of internal messages and hostile `/files` and connection inputs,
//! against a real master and agent running a real command task launched by
//! our scheduler library:
//! - forged master messages (plain HTTP, `Libprocess-From: master@<fake>`)
//!   are refused by the agent: the task they ask for is not run, the running
//!   task keeps running and the agent stays up;
//! - a forged status update is refused by the master and by the agent;
//! - a client that half-closes after its request gets the whole answer;
//! - FIFO reads through `/files` answer at once and leave the agent's other
//!   endpoints answering;
//! - a task racing `/files` by swapping a directory for a symlink never gets
//!   a file outside its sandbox served.
//!
//! Refusals are observed through the rate-limited refusal log lines (one per
//! sender), never by sleeping.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use compat_tests::*;
use mesos_proto::mesos as v0;
use mesos_proto::mesos::internal as msgs;
use mesos_proto::mesos::v1::scheduler::event;
use mesos_proto::mesos::v1::{
    value, CommandInfo, FrameworkInfo, Resource, TaskId, TaskInfo, TaskState,
};
use mesos_scheduler_client::{Client, ContentType};

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

/// A framework with one long-running command task, its scheduler kept
/// subscribed (and acknowledging) in the background.
struct RunningTask {
    framework_id: String,
    agent_id: String,
    task_id: String,
    _rt: tokio::runtime::Runtime,
}

impl RunningTask {
    /// The task's sandbox as `/files` names it.
    fn sandbox_path(&self) -> String {
        format!(
            "/frameworks/{}/executors/{}/runs/latest",
            self.framework_id, self.task_id
        )
    }
}

/// Launches `command` as task `task_id` and waits for TASK_RUNNING.
fn run_task(cluster: &Cluster, task_id: &str, command: &str) -> RunningTask {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (running_tx, running_rx) = std::sync::mpsc::channel();
    let master = cluster.master.clone();
    let (task, command) = (task_id.to_string(), command.to_string());
    rt.spawn(async move {
        let client = Client::connect(&master, ContentType::Protobuf)
            .await
            .expect("connect");
        let info = FrameworkInfo {
            user: "root".into(),
            name: "trust compat".into(),
            ..Default::default()
        };
        let mut sub = client.subscribe(info).await.expect("subscribe");
        let framework_id = sub.framework_id.value.clone();
        let mut launched = false;
        while let Some(Ok(ev)) = sub.recv().await {
            if let Some(event::Offers { offers }) = ev.offers {
                for offer in offers {
                    if launched {
                        let _ = client.decline(vec![offer.id.clone()], None).await;
                        continue;
                    }
                    launched = true;
                    let info = TaskInfo {
                        name: "trust".into(),
                        task_id: TaskId {
                            value: task.clone(),
                        },
                        agent_id: offer.agent_id.clone(),
                        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
                        command: Some(CommandInfo {
                            value: Some(command.clone()),
                            shell: Some(true),
                            ..Default::default()
                        }),
                        ..Default::default()
                    };
                    client.launch(&offer, vec![info]).await.expect("launch");
                }
            }
            if let Some(event::Update { status }) = ev.update {
                let _ = client.acknowledge(&status).await;
                if status.state == TaskState::TaskRunning as i32 {
                    let agent = status.agent_id.map(|a| a.value).unwrap_or_default();
                    let _ = running_tx.send((framework_id.clone(), agent));
                }
            }
        }
    });
    let (framework_id, agent_id) = running_rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("task never ran\n{}", cluster.logs()));
    RunningTask {
        framework_id,
        agent_id,
        task_id: task_id.to_string(),
        _rt: rt,
    }
}

/// Posts one libprocess message as `from`, over plain HTTP; the status.
fn post<M: prost::Message + prost::Name>(to: &str, process: &str, from: &str, message: &M) -> u16 {
    let r = http_request(
        to,
        "POST",
        &format!("/{process}/{}", M::full_name()),
        &[("Libprocess-From", from)],
        &message.encode_to_vec(),
    )
    .expect("post");
    r.status
}

fn log_of(cluster: &Cluster, name: &str) -> String {
    std::fs::read_to_string(cluster.work_dir.join(name)).unwrap_or_default()
}

/// Waits for the refusal line of `message` from `sender` in log `name`.
fn wait_refused(cluster: &Cluster, name: &str, message: &str, sender: &str) {
    let line = format!("Refused {message} from {sender}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log_of(cluster, name).contains(&line) {
        assert!(
            Instant::now() < deadline,
            "no '{line}' in {name}\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn master_task_state(cluster: &Cluster, task_id: &str) -> Option<String> {
    let state = cluster.master_state()?;
    state["frameworks"]
        .as_array()?
        .iter()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .find(|t| t["id"] == task_id)
        .and_then(|t| t["state"].as_str().map(str::to_string))
}

fn agent_task_states(cluster: &Cluster) -> Vec<(String, String)> {
    let Some(state) = cluster.agent_state() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in state["frameworks"].as_array().cloned().unwrap_or_default() {
        for e in f["executors"].as_array().cloned().unwrap_or_default() {
            for list in ["tasks", "queued_tasks", "completed_tasks"] {
                for t in e[list].as_array().cloned().unwrap_or_default() {
                    out.push((
                        t["id"].as_str().unwrap_or_default().to_string(),
                        t["state"].as_str().unwrap_or_default().to_string(),
                    ));
                }
            }
        }
    }
    out
}

fn v0_framework(id: &str) -> v0::FrameworkInfo {
    v0::FrameworkInfo {
        user: "root".into(),
        name: "forged".into(),
        id: Some(v0::FrameworkId { value: id.into() }),
        ..Default::default()
    }
}

#[test]
fn agent_ignores_forged_master_messages_over_plain_http() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let task = run_task(&cluster, "victim", "sleep 1000");
    let marker = cluster.work_dir.join("forged-task-ran");
    let master_port = cluster
        .master
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let fake = |n: u16| format!("master@127.0.0.1:{}", 1000 + n);

    // A RunTaskMessage from a made-up master: a command as root.
    let forged_task = v0::TaskInfo {
        name: "forged".into(),
        task_id: v0::TaskId {
            value: "forged".into(),
        },
        slave_id: v0::SlaveId {
            value: task.agent_id.clone(),
        },
        resources: Vec::new(),
        command: Some(v0::CommandInfo {
            value: Some(format!("touch {}", marker.display())),
            shell: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let run = msgs::RunTaskMessage {
        framework: v0_framework(&task.framework_id),
        task: forged_task,
        pid: None,
        ..Default::default()
    };
    assert_eq!(post(&cluster.agent, "slave(1)", &fake(1), &run), 202);
    // The same from the master's id and port at another IP.
    let other_ip = format!("master@127.0.0.2:{master_port}");
    assert_eq!(post(&cluster.agent, "slave(1)", &other_ip, &run), 202);
    let kill = msgs::KillTaskMessage {
        framework_id: v0::FrameworkId {
            value: task.framework_id.clone(),
        },
        task_id: v0::TaskId {
            value: task.task_id.clone(),
        },
        ..Default::default()
    };
    assert_eq!(post(&cluster.agent, "slave(1)", &fake(2), &kill), 202);
    let shutdown = msgs::ShutdownFrameworkMessage {
        framework_id: v0::FrameworkId {
            value: task.framework_id.clone(),
        },
    };
    assert_eq!(post(&cluster.agent, "slave(1)", &fake(3), &shutdown), 202);
    // Empty: the agent used to exit on the id mismatch.
    let reregistered = msgs::SlaveReregisteredMessage::default();
    assert_eq!(
        post(&cluster.agent, "slave(1)", &fake(4), &reregistered),
        202
    );

    for (message, sender) in [
        ("mesos.internal.RunTaskMessage", fake(1)),
        ("mesos.internal.RunTaskMessage", other_ip.clone()),
        ("mesos.internal.KillTaskMessage", fake(2)),
        ("mesos.internal.ShutdownFrameworkMessage", fake(3)),
        ("mesos.internal.SlaveReregisteredMessage", fake(4)),
    ] {
        wait_refused(&cluster, "agent.log", message, &sender);
    }

    // A flood from one sender is logged once.
    for _ in 0..50 {
        assert_eq!(post(&cluster.agent, "slave(1)", &fake(2), &kill), 202);
    }
    // A barrier: a refusal from a new sender is logged after the flood.
    assert_eq!(post(&cluster.agent, "slave(1)", &fake(5), &kill), 202);
    wait_refused(
        &cluster,
        "agent.log",
        "mesos.internal.KillTaskMessage",
        &fake(5),
    );
    let lines = log_of(&cluster, "agent.log")
        .matches(&format!(
            "Refused mesos.internal.KillTaskMessage from {}",
            fake(2)
        ))
        .count();
    assert_eq!(lines, 1, "one line per sender per minute");

    cluster.assert_alive();
    assert_eq!(
        http_get(&cluster.agent, "/health").map(|r| r.status).ok(),
        Some(200)
    );
    let tasks = agent_task_states(&cluster);
    assert!(
        tasks.iter().all(|(id, _)| id != "forged"),
        "the forged task reached the agent: {tasks:?}"
    );
    assert!(
        tasks
            .iter()
            .any(|(id, state)| id == "victim" && state == "TASK_RUNNING"),
        "{tasks:?}"
    );
    assert_eq!(
        master_task_state(&cluster, "victim").as_deref(),
        Some("TASK_RUNNING")
    );
    assert!(!marker.exists(), "the forged command ran");
}

#[test]
fn forged_status_updates_change_no_task_state() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let task = run_task(&cluster, "victim", "sleep 1000");
    let uuid = vec![7u8; 16];
    let status = v0::TaskStatus {
        task_id: v0::TaskId {
            value: task.task_id.clone(),
        },
        state: v0::TaskState::TaskFailed as i32,
        slave_id: Some(v0::SlaveId {
            value: task.agent_id.clone(),
        }),
        executor_id: Some(v0::ExecutorId {
            value: task.task_id.clone(),
        }),
        uuid: Some(uuid.clone()),
        ..Default::default()
    };
    let update = msgs::StatusUpdate {
        framework_id: v0::FrameworkId {
            value: task.framework_id.clone(),
        },
        executor_id: status.executor_id.clone(),
        slave_id: status.slave_id.clone(),
        status,
        timestamp: 1.0,
        uuid: Some(uuid),
        latest_state: None,
    };
    // To the master, as if from the agent (same id, another port).
    let fake_agent = "slave(1)@127.0.0.1:1999";
    let message = msgs::StatusUpdateMessage {
        update: update.clone(),
        pid: Some(fake_agent.to_string()),
    };
    assert_eq!(post(&cluster.master, "master", fake_agent, &message), 202);
    wait_refused(
        &cluster,
        "master.log",
        "mesos.internal.StatusUpdateMessage",
        fake_agent,
    );
    // To the agent, as if from the task's executor.
    let fake_executor = "executor(1)@127.0.0.1:1998";
    let message = msgs::StatusUpdateMessage {
        update,
        pid: Some(fake_executor.to_string()),
    };
    assert_eq!(
        post(&cluster.agent, "slave(1)", fake_executor, &message),
        202
    );
    wait_refused(
        &cluster,
        "agent.log",
        "mesos.internal.StatusUpdateMessage",
        fake_executor,
    );

    cluster.assert_alive();
    assert_eq!(
        master_task_state(&cluster, "victim").as_deref(),
        Some("TASK_RUNNING")
    );
    let tasks = agent_task_states(&cluster);
    assert!(
        tasks
            .iter()
            .any(|(id, state)| id == "victim" && state == "TASK_RUNNING"),
        "{tasks:?}"
    );
}

/// Sends `GET path`, shuts the sending side and reads to EOF.
fn half_closed_get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .expect("write");
    s.shutdown(Shutdown::Write).expect("half-close");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .unwrap_or_else(|e| panic!("{path}: no answer to EOF: {e}"));
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{path}: no whole head in {answer:?}"))
        + 4;
    let head = String::from_utf8_lossy(&answer[..head_end]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer[head_end..].to_vec();
    if let Some(length) = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().to_string())
    }) {
        assert_eq!(
            length.parse::<usize>().ok(),
            Some(body.len()),
            "{path}: body cut short"
        );
    }
    (status, body)
}

#[test]
fn half_closed_clients_get_whole_answers_from_master_and_agent() {
    let cluster = Cluster::start(ClusterOptions::default());
    for (addr, path) in [
        (&cluster.master, "/master/state"),
        (&cluster.master, "/health"),
        (&cluster.agent, "/slave(1)/state"),
        (&cluster.agent, "/metrics/snapshot"),
    ] {
        let (status, body) = half_closed_get(addr, path);
        assert_eq!(status, 200, "{path}");
        if path != "/health" {
            let parsed: serde_json::Value = serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&body)));
            assert!(parsed.is_object(), "{path}");
        }
    }
    let state: serde_json::Value =
        serde_json::from_slice(&half_closed_get(&cluster.master, "/master/state").1).expect("json");
    assert_eq!(state["slaves"].as_array().map(|a| a.len()), Some(1));
}

/// Sends a GET without reading its answer yet.
fn send_get(addr: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .expect("write");
    s
}

fn status_of(mut s: TcpStream) -> Option<u16> {
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn wait_in_sandbox(cluster: &Cluster, task: &RunningTask, name: &str) {
    let path = urlencode(&task.sandbox_path());
    wait_for(Duration::from_secs(30), name, || {
        http_get(&cluster.agent, &format!("/files/browse?path={path}"))
            .map(|r| r.text().contains(&format!("/{name}\"")))
            .unwrap_or(false)
    });
}

#[test]
fn six_hundred_fifo_reads_leave_the_agent_answering() {
    compat_tests::hostile::raise_nofile(4096);
    let cluster = Cluster::start(ClusterOptions::default());
    let task = run_task(&cluster, "fifo", "mkfifo pipe && sleep 1000");
    wait_in_sandbox(&cluster, &task, "pipe");
    let pipe = urlencode(&format!("{}/pipe", task.sandbox_path()));
    let start = Instant::now();
    let pending: Vec<TcpStream> = (0..600)
        .map(|i| {
            let path = if i % 2 == 0 {
                format!("/files/read?path={pipe}&offset=0&length=100")
            } else {
                format!("/files/download?path={pipe}")
            };
            send_get(&cluster.agent, &path)
        })
        .collect();
    for path in ["/health", "/metrics/snapshot", "/slave(1)/state"] {
        let (status, took) = compat_tests::hostile::timed_get(&cluster.agent, path);
        assert_eq!(status, Some(200), "{path} with 600 FIFO reads");
        assert!(took < Duration::from_secs(5), "{path} took {took:?}");
    }
    let statuses: Vec<Option<u16>> = pending.into_iter().map(status_of).collect();
    let took = start.elapsed();
    eprintln!("600 FIFO reads answered in {took:?}");
    assert!(
        statuses.iter().all(|s| *s == Some(400)),
        "every FIFO read is refused at once: {statuses:?}"
    );
    // And afterwards, with no thread left pinned.
    for path in [
        "/health",
        "/metrics/snapshot",
        "/slave(1)/state",
        "/containers",
    ] {
        let (status, _) = compat_tests::hostile::timed_get(&cluster.agent, path);
        assert_eq!(status, Some(200), "{path}");
    }
}

/// How many racing reads the symlink-swap test makes (20,000 in the issue;
/// fewer by default to keep the suite short).
fn race_tries() -> usize {
    std::env::var("MESOS_TRUST_RACE_TRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

#[test]
fn a_task_swapping_a_directory_for_a_symlink_never_gets_outside_files_served() {
    let cluster = Cluster::start(ClusterOptions::default());
    let outside = cluster.work_dir.join("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    std::fs::write(outside.join("f"), "SECRET").expect("secret");
    // The task flips `d` between its own directory and a link to `outside`.
    let script = format!(
        "mkdir d.real && echo inside > d.real/f && ln -s {} d.link && touch ready && \
         while true; do mv -T d.real d; mv -T d d.real; mv -T d.link d; mv -T d d.link; done",
        outside.display()
    );
    let task = run_task(&cluster, "racer", &script);
    wait_in_sandbox(&cluster, &task, "ready");
    let file = urlencode(&format!("{}/d/f", task.sandbox_path()));
    let tries = race_tries();
    let (mut inside, mut refused) = (0, 0);
    for i in 0..tries {
        let path = if i % 2 == 0 {
            format!("/files/read?path={file}&offset=0")
        } else {
            format!("/files/download?path={file}")
        };
        let r = http_get(&cluster.agent, &path).expect("get");
        let text = r.text();
        assert!(
            !text.contains("SECRET"),
            "try {i}: a file outside the sandbox was served: {text}"
        );
        if r.status == 200 && text.contains("inside") {
            inside += 1;
        } else {
            refused += 1;
        }
    }
    eprintln!(
        "{tries} racing reads: {inside} served the sandbox file, {refused} refused, none outside"
    );
    assert!(inside > 0, "the race never served the sandbox file");
    assert!(Path::new(&outside.join("f")).exists());
}
