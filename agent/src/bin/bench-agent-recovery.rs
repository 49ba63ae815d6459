//! `bench-agent-recovery [--tasks=N] [--processes=P]`: how long an agent
//! takes to recover N checkpointed tasks (default 1,000).
//!
//! It checkpoints N executors with one running task each (the framework
//! checkpoints; every executor speaks HTTP) in upstream's layout under a
//! temporary work directory, pointing them at P live dummy processes
//! (`sleep`, default P = N), then measures, in this process:
//! - `write`: checkpointing all of it (every file fsynced);
//! - `read`: reading the checkpoint back (`recovery::recover`);
//! - `reregister`: a real agent actor started on that checkpoint until it
//!   sends `ReregisterSlaveMessage` with all N tasks, after each executor
//!   re-subscribed (the SUBSCRIBE calls are injected as the HTTP layer
//!   would hand them over; the master is a recorder).
//!
//! It prints one line per figure; the dummy processes are killed by pid.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use libprocess::Upid;
use mesos_agent::agent::{Agent, AgentConfig, AgentInputs, CallReply, Input, Outbox};
use mesos_agent::checkpoint::Checkpointer;
use mesos_agent::containerizer::Containerizer;
use mesos_agent::fetcher::Fetcher;
use mesos_agent::files::Files;
use mesos_agent::flags::{Flags, Parsed};
use mesos_agent::paths::RunIds;
use mesos_proto::mesos::internal::{ReregisterSlaveMessage, StatusUpdate};
use mesos_proto::mesos::v1::executor::{call, Call};
use mesos_proto::mesos::{
    CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, SlaveId, Task, TaskId,
    TaskState, TaskStatus,
};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot, Notify};

const SLAVE_ID: &str = "bench-S0";
const FRAMEWORK_ID: &str = "bench-F0";

/// Records the first `ReregisterSlaveMessage` and when it was sent.
#[derive(Default)]
struct Master {
    reregistered: Mutex<Option<(Instant, ReregisterSlaveMessage, usize)>>,
    notify: Notify,
}

impl Outbox for Master {
    fn send(&self, _to: &Upid, name: &str, body: Bytes) {
        if name == "mesos.internal.ReregisterSlaveMessage" {
            let mut slot = self.reregistered.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                if let Ok(m) = ReregisterSlaveMessage::decode(&body[..]) {
                    *slot = Some((Instant::now(), m, body.len()));
                    self.notify.notify_waiters();
                }
            }
        }
    }
    fn link(&self, _to: &Upid) {}
}

fn arg(name: &str, default: usize) -> usize {
    std::env::args()
        .find_map(|a| {
            a.strip_prefix(&format!("--{name}="))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(default)
}

fn update(task: &str, state: TaskState) -> StatusUpdate {
    StatusUpdate {
        framework_id: FrameworkId {
            value: FRAMEWORK_ID.into(),
        },
        executor_id: Some(ExecutorId { value: task.into() }),
        slave_id: Some(SlaveId {
            value: SLAVE_ID.into(),
        }),
        status: TaskStatus {
            task_id: TaskId { value: task.into() },
            state: state as i32,
            slave_id: Some(SlaveId {
                value: SLAVE_ID.into(),
            }),
            ..Default::default()
        },
        timestamp: 1.0,
        uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
        latest_state: None,
    }
}

fn checkpoint(work_dir: &std::path::Path, tasks: usize, pids: &[i32]) -> Result<(), String> {
    let cp = Checkpointer::new(work_dir.to_path_buf());
    let info = mesos_proto::mesos::SlaveInfo {
        hostname: "127.0.0.1".into(),
        port: Some(5051),
        id: Some(SlaveId {
            value: SLAVE_ID.into(),
        }),
        ..Default::default()
    };
    cp.agent(&info).map_err(|e| e.to_string())?;
    let framework = FrameworkInfo {
        user: "root".into(),
        name: "bench".into(),
        id: Some(FrameworkId {
            value: FRAMEWORK_ID.into(),
        }),
        checkpoint: Some(true),
        ..Default::default()
    };
    cp.framework(SLAVE_ID, &framework, None)
        .map_err(|e| e.to_string())?;
    for i in 0..tasks {
        let id = format!("task-{i}");
        let container = format!("container-{i}");
        let executor = ExecutorInfo {
            executor_id: ExecutorId { value: id.clone() },
            framework_id: framework.id.clone(),
            command: Some(CommandInfo {
                value: Some("dummy-executor".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        cp.executor(SLAVE_ID, FRAMEWORK_ID, &executor, &container)
            .map_err(|e| e.to_string())?;
        let ids = RunIds {
            slave_id: SLAVE_ID,
            framework_id: FRAMEWORK_ID,
            executor_id: &id,
            container_id: &container,
        };
        cp.forked_pid(&ids, pids[i % pids.len()])
            .map_err(|e| e.to_string())?;
        cp.http_marker(&ids).map_err(|e| e.to_string())?;
        let task = Task {
            name: id.clone(),
            task_id: TaskId { value: id.clone() },
            framework_id: FrameworkId {
                value: FRAMEWORK_ID.into(),
            },
            executor_id: Some(ExecutorId { value: id.clone() }),
            slave_id: SlaveId {
                value: SLAVE_ID.into(),
            },
            state: TaskState::TaskStaging as i32,
            ..Default::default()
        };
        cp.task(&ids, &task).map_err(|e| e.to_string())?;
        let starting = update(&id, TaskState::TaskStarting);
        let running = update(&id, TaskState::TaskRunning);
        cp.update(&ids, &id, &starting).map_err(|e| e.to_string())?;
        cp.ack(&ids, &id, starting.uuid.as_deref().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        cp.update(&ids, &id, &running).map_err(|e| e.to_string())?;
        cp.ack(&ids, &id, running.uuid.as_deref().unwrap_or_default())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn reregister(
    work_dir: &std::path::Path,
    tasks: usize,
    recovered: mesos_agent::recovery::RecoveredAgent,
) -> Result<(Duration, usize, usize), String> {
    let args = [
        "mesos-agent".to_string(),
        "--master=127.0.0.1:1".to_string(),
        format!("--work_dir={}", work_dir.display()),
        "--registration_backoff_factor=1ms".to_string(),
        "--executor_reregistration_timeout=10mins".to_string(),
        "--resources=cpus:1000;mem:100000".to_string(),
    ];
    let flags = match Flags::load(args).map_err(|e| e.to_string())? {
        Parsed::Run(f) => Arc::new(*f),
        Parsed::Print(text) => return Err(text),
    };
    let resources = mesos_agent::info::detect_resources(flags.resources.as_deref(), "*", work_dir)
        .map_err(|e| e.to_string())?;
    let info = mesos_agent::info::slave_info("127.0.0.1".into(), 5051, &resources, vec![]);
    let self_pid: Upid = "slave(1)@127.0.0.1:5051"
        .parse()
        .map_err(|e| format!("{e:?}"))?;
    let (inbox_tx, inbox_rx) = mpsc::unbounded_channel();
    let (_messages_tx, messages_rx) = mpsc::unbounded_channel();
    let (_exited_tx, exited_rx) = mpsc::unbounded_channel();
    let (containers_tx, containers_rx) = mpsc::unbounded_channel();
    let (retries_tx, retries_rx) = mpsc::unbounded_channel();
    let fetcher = Fetcher::new(None, None, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let containerizer = Containerizer::new(fetcher, false, containers_tx)
        .with_runtime_dir(work_dir.join("runtime"));
    let master = Arc::new(Master::default());
    let config = AgentConfig {
        flags: flags.clone(),
        self_pid,
        info,
        total_resources: resources,
        master: mesos_agent::registration::parse_master("127.0.0.1:1")
            .map_err(|e| e.to_string())?
            .into(),
        launcher_dir: work_dir.to_path_buf(),
        native_library: None,
        recovered: Some(recovered),
        authenticatee: None,
        executor_secret: None,
    };
    let started = Instant::now();
    let agent = Agent::new(
        config,
        master.clone(),
        containerizer,
        Files::default(),
        inbox_tx.clone(),
        retries_tx,
    );
    let actor = tokio::spawn(agent.run(AgentInputs {
        inputs: inbox_rx,
        messages: messages_rx,
        exited: exited_rx,
        containers: containers_rx,
        retries: retries_rx,
    }));
    // Every executor re-subscribes, as the HTTP layer hands calls over.
    let mut streams = Vec::with_capacity(tasks);
    let mut replies = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let id = format!("task-{i}");
        let call = Call {
            framework_id: mesos_proto::mesos::v1::FrameworkId {
                value: FRAMEWORK_ID.into(),
            },
            executor_id: mesos_proto::mesos::v1::ExecutorId { value: id },
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe::default()),
            ..Default::default()
        };
        let (reply, answer) = oneshot::channel();
        inbox_tx
            .send(Input::ExecutorCall {
                call: Box::new(call),
                principal: None,
                reply,
            })
            .map_err(|_| "the actor stopped".to_string())?;
        replies.push(answer);
    }
    for answer in replies {
        match answer.await {
            Ok(CallReply::Stream(s)) => streams.push(s),
            Ok(other) => return Err(format!("SUBSCRIBE was refused: {other:?}")),
            Err(_) => return Err("the actor stopped".into()),
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let (at, message, bytes) = loop {
        let notified = master.notify.notified();
        if let Some(found) = master
            .reregistered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            break found;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Err("no ReregisterSlaveMessage within 120 s".into());
        }
    };
    actor.abort();
    drop(streams);
    Ok((at.duration_since(started), message.tasks.len(), bytes))
}

fn main() {
    let tasks = arg("tasks", 1000);
    let processes = arg("processes", tasks).max(1);
    let work_dir =
        std::env::temp_dir().join(format!("bench-agent-recovery-{}", uuid::Uuid::new_v4()));
    if let Err(e) = std::fs::create_dir_all(&work_dir) {
        eprintln!("Failed to create a work directory: {e}");
        std::process::exit(1);
    }
    let mut dummies: Vec<Child> = Vec::with_capacity(processes);
    for _ in 0..processes {
        match Command::new("sleep")
            .arg("3600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(c) => dummies.push(c),
            Err(e) => {
                eprintln!("Failed to start a dummy executor: {e}");
                break;
            }
        }
    }
    let pids: Vec<i32> = dummies.iter().map(|c| c.id() as i32).collect();
    let result = (|| -> Result<(), String> {
        if pids.is_empty() {
            return Err("no dummy executor could be started".into());
        }
        let t = Instant::now();
        checkpoint(work_dir.as_path(), tasks, &pids)?;
        let write = t.elapsed();
        let t = Instant::now();
        let recovered = mesos_agent::recovery::recover(work_dir.as_path(), true)
            .map_err(|e| e.to_string())?
            .ok_or("nothing was recovered")?;
        let read = t.elapsed();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let (actor, reported, bytes) =
            runtime.block_on(reregister(work_dir.as_path(), tasks, recovered))?;
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "tasks: {tasks} (executors: {tasks}, live dummy executor processes: {})",
            pids.len()
        );
        println!(
            "checkpoint write (fsynced): {:.1} ms",
            write.as_secs_f64() * 1e3
        );
        println!(
            "checkpoint read (recovery::recover): {:.1} ms",
            read.as_secs_f64() * 1e3
        );
        println!(
            "actor start -> ReregisterSlaveMessage (rebuild, {tasks} re-subscriptions, detection): {:.1} ms",
            actor.as_secs_f64() * 1e3
        );
        println!(
            "agent recovery time (read + actor): {:.1} ms",
            (read + actor).as_secs_f64() * 1e3
        );
        println!("ReregisterSlaveMessage: {reported} tasks, {bytes} bytes");
        println!("load average: {}", load.trim());
        if reported != tasks {
            return Err(format!("re-registered {reported} tasks, expected {tasks}"));
        }
        Ok(())
    })();
    for mut d in dummies {
        let _ = d.kill();
        let _ = d.wait();
    }
    let _ = std::fs::remove_dir_all(&work_dir);
    if let Err(e) = result {
        eprintln!("bench-agent-recovery: {e}");
        std::process::exit(1);
    }
}
