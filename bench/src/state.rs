//! `mesos-bench state`: how fast a master serves its whole state, and how
//! a cheap call fares meanwhile.
//!
//! `--clients` background pollers fetch `/master/state` in a loop (the load
//! dashboards and exporters put on a master); meanwhile the bench times
//! `/master/state`, v1 GET_STATE in JSON and in protobuf, and `/health`
//! every 10 ms. Owns only its HTTP clients.
//!
//! With `--complete-tasks N` the bench first re-subscribes the frameworks
//! the agents reported and completes N of their tasks (KILL, the agent's
//! TASK_KILLED, ACKNOWLEDGE), so the state holds completed tasks as a
//! busy cluster's does (the master keeps up to
//! `--max_completed_tasks_per_framework` of them). Then, still without
//! background clients, it times the first read after one task changed
//! (`--changed-reads` times per kind): the master rebuilds its snapshot and
//! bodies for it, which unchanged reads never pay.
//!
//! `/health` is timed from a thread of its own, so that the pollers'
//! reading of large bodies in this process does not count as the master's
//! latency.
//!
//! It measures a master that leads and shows the agents it expects
//! (`--agents`): a master still recovering serves the state it has, with
//! no agents (as upstream's does), and one whose agents have not all
//! re-registered yet a smaller one. The output names the agents of the
//! last body, so a measurement of the wrong state cannot pass unseen.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use mesos_proto::mesos::v1::scheduler::{call, event};
use mesos_proto::mesos::v1::{self as v1, FrameworkInfo};
use mesos_scheduler_client::{Client as SchedulerClient, ContentType, Subscription};
use tokio::sync::mpsc;

use crate::http::Client;
use crate::percentile;

#[derive(Parser, Debug)]
pub struct StateArgs {
    /// The master, `host:port`.
    #[arg(long)]
    master: String,
    /// Background clients polling `/master/state`.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Timed requests of each kind.
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// Agents `/master/state` must list (registered and active) before
    /// the measurement starts.
    #[arg(long, default_value_t = 0)]
    agents: usize,
    /// How long to wait for the master to lead and list `--agents`.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Running tasks to complete (kill and acknowledge) before measuring.
    #[arg(long, default_value_t = 0)]
    complete_tasks: usize,
    /// First reads after one task changed, per kind (needs running tasks).
    #[arg(long, default_value_t = 3)]
    changed_reads: usize,
}

/// The agents a `/master/state` body lists as active.
fn active_agents(body: &[u8]) -> Option<usize> {
    let state: serde_json::Value = serde_json::from_slice(body).ok()?;
    let slaves = state.get("slaves")?.as_array()?;
    Some(
        slaves
            .iter()
            .filter(|s| s.get("active").and_then(serde_json::Value::as_bool) == Some(true))
            .count(),
    )
}

/// Running and completed tasks a `/master/state` body lists.
fn task_counts(body: &[u8]) -> (usize, usize) {
    let Ok(state) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (0, 0);
    };
    let count = |list: &str, key: &str| {
        state
            .get(list)
            .and_then(serde_json::Value::as_array)
            .map(|frameworks| {
                frameworks
                    .iter()
                    .filter_map(|f| f.get(key)?.as_array().map(Vec::len))
                    .sum::<usize>()
            })
            .unwrap_or(0)
    };
    (
        count("frameworks", "tasks"),
        count("frameworks", "completed_tasks") + count("completed_frameworks", "completed_tasks"),
    )
}

/// Waits until the master's `/master/state` lists at least `agents`
/// active agents.
async fn wait_until_serving(
    client: &Client,
    addr: SocketAddr,
    agents: usize,
    timeout: Duration,
) -> Result<Bytes, String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match client
            .send("GET", addr, "/master/state", &[], Bytes::new())
            .await
        {
            Ok((200, body)) => match active_agents(&body) {
                Some(n) if n >= agents => return Ok(body),
                n => last = format!("{} of {agents} agents", n.unwrap_or(0)),
            },
            Ok((status, body)) => {
                last = format!("{status} {}", String::from_utf8_lossy(&body));
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!(
        "the master at {addr} did not serve its state in time ({last})"
    ))
}

const GET_STATE_JSON: &str = r#"{"type":"GET_STATE"}"#;

/// Milliseconds of one request and its body; an error unless it answered
/// 200.
async fn timed(
    client: &Client,
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<(f64, Bytes), String> {
    let start = Instant::now();
    let (status, body) = client.send(method, addr, path, headers, body).await?;
    if status != 200 {
        return Err(format!("{method} {path} answered {status}"));
    }
    Ok((start.elapsed().as_secs_f64() * 1000.0, body))
}

fn line(name: &str, samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    format!(
        "{name}_ms_p50={:.1} {name}_ms_p99={:.1}",
        percentile(samples, 50.0),
        percentile(samples, 99.0)
    )
}

pub async fn run(args: StateArgs) -> Result<(), String> {
    let addr: SocketAddr = args
        .master
        .parse()
        .map_err(|e| format!("Invalid --master '{}': {e}", args.master))?;
    let timeout = Duration::from_secs(args.timeout_secs);
    crate::sim_agents::wait_until_leading(addr, timeout).await?;
    let body = wait_until_serving(&Client::new(), addr, args.agents, timeout).await?;
    let mut running = running_tasks(&body).into_iter();
    drop(body);
    let changes = 3 * args.changed_reads;
    let mut frameworks = None;
    if args.complete_tasks + changes > 0 {
        let tasks: Vec<RunningTask> = running
            .by_ref()
            .take(args.complete_tasks + changes)
            .collect();
        if tasks.len() < args.complete_tasks + changes {
            return Err(format!(
                "the state has {} running tasks; --complete-tasks and --changed-reads need {}",
                tasks.len(),
                args.complete_tasks + changes
            ));
        }
        let ids = tasks.iter().map(|t| t.framework_id.clone()).collect();
        let mut subscribed = Frameworks::subscribe(addr, ids).await?;
        let started = Instant::now();
        let mut tasks = tasks.into_iter();
        for task in tasks.by_ref().take(args.complete_tasks) {
            subscribed.kill(task)?;
        }
        subscribed
            .acknowledged(args.complete_tasks, Duration::from_secs(60))
            .await?;
        if args.complete_tasks > 0 {
            println!(
                "completed {} tasks in {:.1} s",
                args.complete_tasks,
                started.elapsed().as_secs_f64()
            );
        }
        frameworks = Some((subscribed, tasks));
    }
    if let Some((frameworks, tasks)) = frameworks.as_mut() {
        let client = Client::new();
        let (mut state, mut json, mut protobuf) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..args.changed_reads {
            for kind in 0..3 {
                let task = tasks.next().ok_or("no running task left to change")?;
                frameworks.kill(task)?;
                frameworks.acknowledged(1, Duration::from_secs(60)).await?;
                let (samples, accept) = match kind {
                    0 => (&mut state, None),
                    1 => (&mut json, Some("application/json")),
                    _ => (&mut protobuf, Some("application/x-protobuf")),
                };
                let (ms, _) = match accept {
                    None => timed(&client, "GET", addr, "/master/state", &[], Bytes::new()).await?,
                    Some(accept) => {
                        timed(
                            &client,
                            "POST",
                            addr,
                            "/api/v1",
                            &[("Content-Type", "application/json"), ("Accept", accept)],
                            Bytes::from_static(GET_STATE_JSON.as_bytes()),
                        )
                        .await?
                    }
                };
                samples.push(ms);
            }
        }
        if args.changed_reads > 0 {
            println!(
                "first read after one task changed: {} {} {}",
                line("changed_state", &mut state),
                line("changed_get_state_json", &mut json),
                line("changed_get_state_protobuf", &mut protobuf)
            );
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicU64::new(0));
    let mut pollers = Vec::new();
    for _ in 0..args.clients {
        let (stop, polls) = (stop.clone(), polls.clone());
        pollers.push(tokio::spawn(async move {
            let client = Client::new();
            while !stop.load(Ordering::Relaxed) {
                if client
                    .send("GET", addr, "/master/state", &[], Bytes::new())
                    .await
                    .is_ok()
                {
                    polls.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Its own thread and runtime: the pollers' body reads must not delay
    // the sampler's wake-ups.
    let health = {
        let stop = stop.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the health sampler: {e}"))?;
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let client = Client::new();
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((ms, _)) =
                        timed(&client, "GET", addr, "/health", &[], Bytes::new()).await
                    {
                        samples.push(ms);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                samples
            })
        })
    };

    let client = Client::new();
    let started = Instant::now();
    let (mut state, mut json, mut protobuf) = (Vec::new(), Vec::new(), Vec::new());
    let (mut state_bytes, mut json_bytes, mut protobuf_bytes) = (0, 0, 0);
    let mut last_state = Bytes::new();
    for _ in 0..args.samples {
        let (ms, body) = timed(&client, "GET", addr, "/master/state", &[], Bytes::new()).await?;
        state.push(ms);
        state_bytes = body.len();
        last_state = body;
        let (ms, bytes) = timed(
            &client,
            "POST",
            addr,
            "/api/v1",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            Bytes::from_static(GET_STATE_JSON.as_bytes()),
        )
        .await?;
        json.push(ms);
        json_bytes = bytes.len();
        let (ms, bytes) = timed(
            &client,
            "POST",
            addr,
            "/api/v1",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/x-protobuf"),
            ],
            Bytes::from_static(GET_STATE_JSON.as_bytes()),
        )
        .await?;
        protobuf.push(ms);
        protobuf_bytes = bytes.len();
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut health = health
        .join()
        .map_err(|_| "the health sampler panicked".to_string())?;
    for poller in pollers {
        poller.abort();
    }
    let polls = polls.load(Ordering::Relaxed);
    let state_agents = active_agents(&last_state).unwrap_or(0);
    let (running_tasks, completed_tasks) = task_counts(&last_state);
    println!(
        "state_agents={state_agents} state_running_tasks={running_tasks} state_completed_tasks={completed_tasks} state_bytes={state_bytes} get_state_json_bytes={json_bytes} get_state_protobuf_bytes={protobuf_bytes} \
         background_polls={polls} ({:.1}/s)",
        polls as f64 / elapsed.as_secs_f64()
    );
    println!(
        "{} {} {} {}",
        line("state", &mut state),
        line("get_state_json", &mut json),
        line("get_state_protobuf", &mut protobuf),
        line("health", &mut health)
    );
    Ok(())
}

/// A running task of the state, to be killed: (framework, task, agent).
#[derive(Clone, Debug)]
struct RunningTask {
    framework_id: String,
    task_id: String,
    agent_id: String,
}

/// The running tasks a `/master/state` body lists, framework by framework
/// in turn (so that kills spread over every framework).
fn running_tasks(body: &[u8]) -> Vec<RunningTask> {
    let Ok(state) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let empty = Vec::new();
    let lists: Vec<Vec<RunningTask>> = state
        .get("frameworks")
        .and_then(serde_json::Value::as_array)
        .unwrap_or(&empty)
        .iter()
        .map(|framework| {
            framework
                .get("tasks")
                .and_then(serde_json::Value::as_array)
                .unwrap_or(&empty)
                .iter()
                .filter(|t| {
                    t.get("state").and_then(serde_json::Value::as_str) == Some("TASK_RUNNING")
                })
                .filter_map(|t| {
                    Some(RunningTask {
                        framework_id: t.get("framework_id")?.as_str()?.to_string(),
                        task_id: t.get("id")?.as_str()?.to_string(),
                        agent_id: t.get("slave_id")?.as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .collect();
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| lists.iter().filter_map(move |list| list.get(i).cloned()))
        .collect()
}

/// Kills in flight per framework.
const KILLS_IN_FLIGHT: usize = 64;

/// The simulated frameworks, re-subscribed by the bench (v1 scheduler API,
/// failing over the frameworks the agents reported) so that tasks can be
/// completed the way a framework completes them: KILL, the agent's
/// TASK_KILLED update, ACKNOWLEDGE, after which the master moves the task
/// to the framework's completed tasks.
struct Frameworks {
    kills: HashMap<String, mpsc::UnboundedSender<RunningTask>>,
    /// Task ids whose terminal update was acknowledged (202).
    acknowledged: mpsc::UnboundedReceiver<String>,
    _loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Frameworks {
    async fn subscribe(addr: SocketAddr, ids: BTreeSet<String>) -> Result<Frameworks, String> {
        let (acked_tx, acknowledged) = mpsc::unbounded_channel();
        let mut kills = HashMap::new();
        let mut loops = Vec::new();
        for id in ids {
            let client = SchedulerClient::connect(&addr.to_string(), ContentType::Protobuf)
                .await
                .map_err(|e| format!("cannot reach the scheduler API: {e}"))?;
            let subscription = client
                .subscribe_with(call::Subscribe {
                    framework_info: FrameworkInfo {
                        user: "root".into(),
                        name: id.clone(),
                        id: Some(v1::FrameworkId { value: id.clone() }),
                        failover_timeout: Some(3600.0),
                        checkpoint: Some(true),
                        ..Default::default()
                    },
                    // No offers: they would change the state measured.
                    suppressed_roles: vec!["*".into()],
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("SUBSCRIBE as {id} failed: {e}"))?;
            let (tx, rx) = mpsc::unbounded_channel();
            kills.insert(id, tx);
            loops.push(tokio::spawn(framework_loop(
                client,
                subscription,
                rx,
                acked_tx.clone(),
            )));
        }
        Ok(Frameworks {
            kills,
            acknowledged,
            _loops: loops,
        })
    }

    fn kill(&self, task: RunningTask) -> Result<(), String> {
        self.kills
            .get(&task.framework_id)
            .ok_or_else(|| format!("no framework {}", task.framework_id))?
            .send(task)
            .map_err(|_| "a framework loop ended".to_string())
    }

    /// Waits for `n` acknowledged terminal updates, each within `timeout`
    /// of the one before.
    async fn acknowledged(&mut self, n: usize, timeout: Duration) -> Result<(), String> {
        for done in 0..n {
            tokio::time::timeout(timeout, self.acknowledged.recv())
                .await
                .map_err(|_| format!("only {done} of {n} kills acknowledged in time"))?
                .ok_or("every framework loop ended")?;
        }
        Ok(())
    }
}

/// One framework: sends the kills it is given (a bounded number at once)
/// and acknowledges every update, reporting terminal ones.
async fn framework_loop(
    client: SchedulerClient,
    mut subscription: Subscription,
    mut kills: mpsc::UnboundedReceiver<RunningTask>,
    acknowledged: mpsc::UnboundedSender<String>,
) {
    let mut queued: VecDeque<RunningTask> = VecDeque::new();
    let mut in_flight = tokio::task::JoinSet::new();
    let mut acks = tokio::task::JoinSet::new();
    loop {
        while in_flight.len() < KILLS_IN_FLIGHT {
            let Some(task) = queued.pop_front() else {
                break;
            };
            let client = client.clone();
            in_flight.spawn(async move {
                let agent_id = Some(v1::AgentId {
                    value: task.agent_id,
                });
                let task_id = v1::TaskId {
                    value: task.task_id.clone(),
                };
                if let Err(e) = client.kill(task_id, agent_id).await {
                    eprintln!("KILL {} failed: {e}", task.task_id);
                }
            });
        }
        tokio::select! {
            Some(task) = kills.recv() => queued.push_back(task),
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            Some(_) = acks.join_next(), if !acks.is_empty() => {}
            event = subscription.recv() => {
                let event = match event {
                    Some(Ok(event)) => event,
                    Some(Err(e)) => {
                        eprintln!("a framework's subscription broke: {e}");
                        return;
                    }
                    None => return,
                };
                if event.r#type() != event::Type::Update {
                    continue;
                }
                let Some(status) = event.update.map(|u| u.status) else {
                    continue;
                };
                let client = client.clone();
                let acknowledged = acknowledged.clone();
                acks.spawn(async move {
                    let terminal = status.state() == v1::TaskState::TaskKilled;
                    match client.acknowledge(&status).await {
                        Ok(_) if terminal => {
                            let _ = acknowledged.send(status.task_id.value.clone());
                        }
                        Ok(_) => {}
                        Err(e) => eprintln!("ACKNOWLEDGE failed: {e}"),
                    }
                });
            }
        }
    }
}
