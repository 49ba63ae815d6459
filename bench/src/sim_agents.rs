//! `mesos-bench sim-agents`: many simulated agents in one process, speaking
//! the real internal protocol (libprocess messages over HTTP) to a real
//! `mesos-master`, like upstream's `TestSlave` benchmarks.
//!
//! Every simulated agent is its own libprocess process (`slave(i)`) on one
//! shared server, so the master sees N distinct agent pids. The bench
//! registers them all at once, then (when it started the master itself)
//! kills the master with SIGKILL, restarts it on the same registry, and
//! times the re-registration of every agent with its tasks. Agents answer
//! pings throughout; `--hold` keeps them alive afterwards so that other
//! benchmarks (`mesos-bench state`) can measure the populated master.
//!
//! Owns only the simulated agents and the master process it started; it
//! never decides anything the master decides.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use libprocess::{Message, Server, Transport, Upid};
use mesos_proto::mesos::internal::{
    KillTaskMessage, PingSlaveMessage, RegisterSlaveMessage, ReregisterSlaveMessage,
    SlaveRegisteredMessage, SlaveReregisteredMessage, StatusUpdate, StatusUpdateMessage,
};
use mesos_proto::mesos::{self as v0, slave_info};
use mesos_proto::resources::Resources;
use prost::{Message as _, Name};
use tokio::sync::mpsc;

use crate::percentile;

#[derive(Parser, Debug)]
pub struct SimAgentsArgs {
    /// An already running master (`host:port`). Without it the bench starts
    /// `mesos-master` itself, which also enables the re-registration phase.
    #[arg(long)]
    master: Option<String>,
    /// The master's pid, to report its RSS when `--master` is given.
    #[arg(long)]
    master_pid: Option<u32>,
    /// The `mesos-master` binary to start (default: next to this one).
    #[arg(long)]
    master_binary: Option<PathBuf>,
    /// Extra flags for the started master (repeatable).
    #[arg(long = "master-flag")]
    master_flags: Vec<String>,
    #[arg(long, default_value_t = 1_000)]
    agents: usize,
    /// Tasks each agent reports when it re-registers.
    #[arg(long, default_value_t = 10)]
    tasks_per_agent: usize,
    /// Frameworks the re-registered tasks belong to.
    #[arg(long, default_value_t = 10)]
    frameworks: usize,
    /// How long each phase may take.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Keep the agents answering pings this many seconds after the
    /// measurements (to benchmark the populated master meanwhile).
    #[arg(long, default_value_t = 0)]
    hold_secs: u64,
}

/// The master process this bench started; killed (by pid) when dropped.
pub(crate) struct MasterProcess {
    child: Child,
    binary: PathBuf,
    args: Vec<String>,
    work_dir: PathBuf,
}

impl MasterProcess {
    /// Starts `mesos-master` (`binary`, or the one next to this bench) on a
    /// free loopback port with a fresh `--work_dir` and `extra` flags.
    pub(crate) fn start_local(
        binary: Option<PathBuf>,
        extra: Vec<String>,
    ) -> Result<(MasterProcess, SocketAddr), String> {
        let binary = match binary {
            Some(path) => path,
            None => std::env::current_exe()
                .map_err(|e| format!("cannot find myself: {e}"))?
                .with_file_name("mesos-master"),
        };
        let port = free_port()?;
        let work_dir =
            std::env::temp_dir().join(format!("mesos-bench-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&work_dir)
            .map_err(|e| format!("cannot create {}: {e}", work_dir.display()))?;
        let mut args = vec![
            "--ip=127.0.0.1".to_string(),
            format!("--port={port}"),
            "--hostname=127.0.0.1".to_string(),
            format!("--work_dir={}", work_dir.display()),
        ];
        args.extend(extra);
        let master = MasterProcess::start(binary, args, work_dir)?;
        Ok((master, SocketAddr::from(([127, 0, 0, 1], port))))
    }

    fn start(binary: PathBuf, args: Vec<String>, work_dir: PathBuf) -> Result<Self, String> {
        let child = spawn_master(&binary, &args)?;
        Ok(MasterProcess {
            child,
            binary,
            args,
            work_dir,
        })
    }

    fn kill_and_restart(&mut self) -> Result<(), String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_master(&self.binary, &self.args)?;
        Ok(())
    }
}

impl Drop for MasterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}

fn spawn_master(binary: &PathBuf, args: &[String]) -> Result<Child, String> {
    Command::new(binary)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// `VmRSS` of `pid` in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Waits until the master leads, which it does only once it recovered its
/// registry: v1 GET_HEALTH answers 200 then (503 before). Until then the
/// master drops agent messages, and the simulated agents do not retry as
/// real ones do.
pub(crate) async fn wait_until_leading(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let client = crate::http::Client::new();
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match tokio::time::timeout(
            Duration::from_secs(5),
            client.send(
                "POST",
                addr,
                "/api/v1",
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "application/json"),
                ],
                Bytes::from_static(br#"{"type":"GET_HEALTH"}"#),
            ),
        )
        .await
        {
            Ok(Ok((200, _))) => return Ok(()),
            Ok(Ok((status, body))) => {
                last = format!("{status} {}", String::from_utf8_lossy(&body));
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = "no answer within 5 s".to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "the master at {addr} did not start leading in time ({last})"
    ))
}

/// The simulated agents: one server, N process ids.
pub(crate) struct Agents {
    pub(crate) pids: Vec<Upid>,
    /// Process id → index.
    pub(crate) index: HashMap<String, usize>,
    transport: Transport,
    pub(crate) messages: mpsc::UnboundedReceiver<Message>,
    /// Each agent's id, once registered.
    pub(crate) ids: Vec<Option<String>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Agents {
    pub(crate) async fn start(n: usize) -> Result<Agents, String> {
        let (tx, messages) = mpsc::unbounded_channel();
        let server = Server::builder("slave(1)")
            .max_connections(1024)
            .bind("127.0.0.1:0".parse().map_err(|e| format!("{e}"))?)
            .await
            .map_err(|e| format!("cannot bind the simulated agents' server: {e}"))?;
        let processes = server.processes();
        let addr = server.local_addr();
        let mut pids = Vec::with_capacity(n);
        let mut index = HashMap::with_capacity(n);
        for i in 0..n {
            let id = format!("slave({})", i + 1);
            processes.add_messages(&id, tx.clone());
            index.insert(id.clone(), i);
            pids.push(Upid::from_addr(id, addr));
        }
        let (transport, _exited) = Transport::new();
        Ok(Agents {
            pids,
            index,
            transport,
            messages,
            ids: vec![None; n],
            _server: server.serve(),
        })
    }

    pub(crate) fn send<M: prost::Message + Name>(&self, i: usize, to: &Upid, message: &M) {
        self.transport.send_message(&self.pids[i], to, message);
    }

    /// Handles one message: pings are answered, kills too (the task is
    /// reported TASK_KILLED at once, as an agent whose executor obeys);
    /// registrations recorded. Returns the index of an agent that just got
    /// (re-)registered.
    pub(crate) fn handle(&mut self, message: Message) -> Option<(usize, &'static str)> {
        let i = *self.index.get(&message.to)?;
        if message.name == KillTaskMessage::full_name() {
            let kill = KillTaskMessage::decode(message.body.as_ref()).ok()?;
            let agent_id = self.ids[i].clone()?;
            let update = killed(kill, agent_id, &self.pids[i]);
            self.send(i, &message.from, &update);
            None
        } else if message.name == PingSlaveMessage::full_name() {
            self.transport.send(
                &self.pids[i],
                &message.from,
                "mesos.internal.PongSlaveMessage",
                Bytes::new(),
            );
            None
        } else if message.name == SlaveRegisteredMessage::full_name() {
            let registered = SlaveRegisteredMessage::decode(message.body.as_ref()).ok()?;
            self.ids[i] = Some(registered.slave_id.value);
            Some((i, "registered"))
        } else if message.name == SlaveReregisteredMessage::full_name() {
            Some((i, "reregistered"))
        } else {
            None
        }
    }

    /// Receives until every agent reported `what`; returns each agent's
    /// latency from `start` in milliseconds.
    pub(crate) async fn collect(
        &mut self,
        what: &'static str,
        start: Instant,
        timeout: Duration,
    ) -> Result<Vec<f64>, String> {
        let n = self.pids.len();
        let mut latencies = vec![None; n];
        let mut done = 0;
        let deadline = tokio::time::Instant::now() + timeout;
        while done < n {
            let message = tokio::time::timeout_at(deadline, self.messages.recv())
                .await
                .map_err(|_| format!("only {done} of {n} agents {what} in time"))?
                .ok_or("the agents' server stopped")?;
            if let Some((i, kind)) = self.handle(message) {
                if kind == what && latencies[i].is_none() {
                    latencies[i] = Some(start.elapsed().as_secs_f64() * 1000.0);
                    done += 1;
                }
            }
        }
        Ok(latencies.into_iter().flatten().collect())
    }
}

/// The TASK_KILLED update an agent sends for the task `kill` names.
fn killed(kill: KillTaskMessage, agent_id: String, pid: &Upid) -> StatusUpdateMessage {
    status_update(
        kill.framework_id,
        None,
        agent_id,
        kill.task_id,
        (v0::TaskState::TaskKilled, v0::task_status::Source::Slave),
        pid,
    )
}

/// A status update from the simulated agent at `pid`: `state`, reported
/// by `source`, for `task_id` (of `executor_id`, if any), with a new uuid.
pub(crate) fn status_update(
    framework_id: v0::FrameworkId,
    executor_id: Option<v0::ExecutorId>,
    agent_id: String,
    task_id: v0::TaskId,
    (state, source): (v0::TaskState, v0::task_status::Source),
    pid: &Upid,
) -> StatusUpdateMessage {
    let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
    let slave_id = v0::SlaveId { value: agent_id };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    StatusUpdateMessage {
        update: StatusUpdate {
            framework_id,
            executor_id,
            slave_id: Some(slave_id.clone()),
            status: v0::TaskStatus {
                task_id,
                state: state as i32,
                source: Some(source as i32),
                uuid: Some(uuid.clone()),
                slave_id: Some(slave_id),
                timestamp: Some(now),
                ..Default::default()
            },
            timestamp: now,
            uuid: Some(uuid),
            latest_state: Some(state as i32),
        },
        pid: Some(pid.to_string()),
    }
}

pub(crate) fn agent_info(i: usize, pid: &Upid) -> Result<v0::SlaveInfo, String> {
    Ok(v0::SlaveInfo {
        hostname: format!("sim-agent-{i}"),
        port: Some(i32::from(pid.port)),
        resources: Resources::parse("cpus:24;mem:4096;disk:4096;ports:[31000-32000]", "*")
            .map_err(|e| format!("{e}"))?
            .to_v0(),
        checkpoint: Some(true),
        ..Default::default()
    })
}

pub(crate) fn capabilities() -> Vec<slave_info::Capability> {
    [
        slave_info::capability::Type::MultiRole,
        slave_info::capability::Type::HierarchicalRole,
        slave_info::capability::Type::ReservationRefinement,
    ]
    .into_iter()
    .map(|t| slave_info::Capability {
        r#type: Some(t as i32),
    })
    .collect()
}

fn framework_info(j: usize) -> v0::FrameworkInfo {
    v0::FrameworkInfo {
        user: "root".into(),
        name: format!("sim-framework-{j}"),
        id: Some(v0::FrameworkId {
            value: format!("sim-framework-{j}"),
        }),
        failover_timeout: Some(3600.0),
        checkpoint: Some(true),
        ..Default::default()
    }
}

/// What agent `i` sends after the master restarted: its id and its tasks.
fn reregistration(
    i: usize,
    agents: &Agents,
    args: &SimAgentsArgs,
    task_resources: &[v0::Resource],
) -> Result<ReregisterSlaveMessage, String> {
    let agent_id = agents.ids[i]
        .clone()
        .ok_or_else(|| format!("agent {i} has no id"))?;
    let mut slave = agent_info(i, &agents.pids[i])?;
    slave.id = Some(v0::SlaveId {
        value: agent_id.clone(),
    });
    let frameworks = args.frameworks.max(1);
    let tasks = (0..args.tasks_per_agent)
        .map(|t| {
            let framework = (i + t) % frameworks;
            v0::Task {
                name: format!("task-{i}-{t}"),
                task_id: v0::TaskId {
                    value: format!("task-{i}-{t}"),
                },
                framework_id: v0::FrameworkId {
                    value: format!("sim-framework-{framework}"),
                },
                slave_id: v0::SlaveId {
                    value: agent_id.clone(),
                },
                state: v0::TaskState::TaskRunning as i32,
                resources: task_resources.to_vec(),
                ..Default::default()
            }
        })
        .collect();
    let used: Vec<usize> = (0..frameworks.min(args.tasks_per_agent))
        .map(|t| (i + t) % frameworks)
        .collect();
    Ok(ReregisterSlaveMessage {
        slave,
        tasks,
        frameworks: used.into_iter().map(framework_info).collect(),
        version: Some("1.11.0".into()),
        agent_capabilities: capabilities(),
        ..Default::default()
    })
}

fn summary(name: &str, latencies: &mut [f64], total: Duration) -> String {
    latencies.sort_by(f64::total_cmp);
    format!(
        "{name}_s={:.3} {name}_ms_p50={:.1} {name}_ms_p99={:.1}",
        total.as_secs_f64(),
        percentile(latencies, 50.0),
        percentile(latencies, 99.0)
    )
}

pub async fn run(args: SimAgentsArgs) -> Result<(), String> {
    if args.agents == 0 {
        return Err("--agents must be positive".into());
    }
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut owned = None;
    let (master_addr, master_pid): (SocketAddr, Option<u32>) = match &args.master {
        Some(master) => (
            master
                .parse()
                .map_err(|e| format!("Invalid --master '{master}': {e}"))?,
            args.master_pid,
        ),
        None => {
            let mut flags = vec![
                "--registry=replicated_log".to_string(),
                "--agent_reregister_timeout=10mins".to_string(),
            ];
            flags.extend(args.master_flags.iter().cloned());
            let (master, addr) = MasterProcess::start_local(args.master_binary.clone(), flags)?;
            let pid = master.child.id();
            owned = Some(master);
            (addr, Some(pid))
        }
    };
    wait_until_leading(master_addr, Duration::from_secs(60)).await?;
    let master_upid = Upid::from_addr("master", master_addr);

    let mut agents = Agents::start(args.agents).await?;
    println!(
        "registering {} simulated agents with the master at {master_addr}",
        args.agents
    );
    let start = Instant::now();
    for i in 0..args.agents {
        let message = RegisterSlaveMessage {
            slave: agent_info(i, &agents.pids[i])?,
            version: Some("1.11.0".into()),
            agent_capabilities: capabilities(),
            ..Default::default()
        };
        agents.send(i, &master_upid, &message);
    }
    let mut registration = agents.collect("registered", start, timeout).await?;
    let registration_total = start.elapsed();
    let rss_registered = master_pid.and_then(rss_mib);
    println!(
        "{}",
        summary("registration", &mut registration, registration_total)
    );

    let mut line = summary("registration", &mut registration, registration_total);
    if let Some(master) = owned.as_mut() {
        let tasks = args.agents * args.tasks_per_agent;
        println!("restarting the master (SIGKILL), then re-registering with {tasks} tasks");
        let task_resources = Resources::parse("cpus:0.01;mem:1", "*")
            .map_err(|e| format!("{e}"))?
            .to_v0();
        // Build every message before the clock starts: the bench measures
        // the master, not protobuf construction here.
        let messages = (0..args.agents)
            .map(|i| reregistration(i, &agents, &args, &task_resources))
            .collect::<Result<Vec<_>, _>>()?;
        master.kill_and_restart()?;
        wait_until_leading(master_addr, Duration::from_secs(120)).await?;
        let rss_recovered = rss_mib(master.child.id());
        let start = Instant::now();
        for (i, message) in messages.iter().enumerate() {
            agents.send(i, &master_upid, message);
        }
        let mut reregistration = agents.collect("reregistered", start, timeout).await?;
        let total = start.elapsed();
        let rss = rss_mib(master.child.id());
        line = format!(
            "{line} {} tasks={tasks} master_rss_mib_recovered={:.0} master_rss_mib={:.0}",
            summary("reregistration", &mut reregistration, total),
            rss_recovered.unwrap_or(-1.0),
            rss.unwrap_or(-1.0)
        );
    } else if let Some(rss) = rss_registered {
        line = format!("{line} master_rss_mib={rss:.0}");
    }
    if args.hold_secs > 0 {
        println!(
            "holding the agents for {} s; the master is at {master_addr}",
            args.hold_secs
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(args.hold_secs);
        while let Ok(Some(message)) =
            tokio::time::timeout_at(deadline, agents.messages.recv()).await
        {
            agents.handle(message);
        }
    }
    println!("{line}");
    Ok(())
}
