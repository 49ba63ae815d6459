//! `mesos-bench launch`: task launch throughput through one real master.
//!
//! A v1 HTTP scheduler (our `mesos-scheduler-client`, the protocol real
//! frameworks speak) subscribes to a real `mesos-master`, fills every offer
//! it gets with tiny command tasks (`cpus:0.01;mem:1`) and acknowledges
//! every status update. Simulated agents (the same libprocess agents as
//! `sim-agents`) answer each `RunTaskMessage` at once with a TASK_RUNNING
//! update and count the acknowledgements the master forwards to them. A
//! task counts once its TASK_RUNNING acknowledgement reached its agent: it
//! was offered, accepted, run, reported and acknowledged, every step through
//! the master.
//!
//! Prints, as its last line, `launch_tasks_per_s=<x>` with the number of
//! tasks, the wall time from the first ACCEPT to the last acknowledgement,
//! and the p50/p99 of each task's ACCEPT → acknowledgement latency.
//!
//! Owns only the simulated agents, the scheduler and the master process it
//! started; it never decides anything the master decides.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use libprocess::Upid;
use mesos_proto::mesos::internal::{
    RegisterSlaveMessage, RunTaskMessage, StatusUpdateAcknowledgementMessage, StatusUpdateMessage,
};
use mesos_proto::mesos::v1::scheduler::{event, Event};
use mesos_proto::mesos::v1::{self as v1, Filters, FrameworkInfo, Offer, TaskInfo};
use mesos_proto::mesos::{self as v0};
use mesos_scheduler_client::{Client, ContentType};
use prost::{Message as _, Name};
use tokio::sync::mpsc;

use crate::percentile;
use crate::sim_agents::{self, Agents, MasterProcess};

const TASK_CPUS: f64 = 0.01;
const TASK_MEM: f64 = 1.0;

#[derive(Parser, Debug)]
pub struct LaunchArgs {
    /// An already running master (`host:port`). Without it the bench starts
    /// `mesos-master` itself, with an in-memory registry.
    #[arg(long)]
    master: Option<String>,
    /// The `mesos-master` binary to start (default: next to this one).
    #[arg(long)]
    master_binary: Option<PathBuf>,
    /// Extra flags for the started master (repeatable).
    #[arg(long = "master-flag")]
    master_flags: Vec<String>,
    /// Simulated agents, each `cpus:24;mem:4096` (2,400 tasks of 0.01 cpus).
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Tasks to launch and acknowledge.
    #[arg(long, default_value_t = 20_000)]
    tasks: usize,
    /// Most tasks one ACCEPT launches (the rest of the offer is declined
    /// with a zero filter and comes back in a later offer).
    #[arg(long, default_value_t = 500)]
    tasks_per_accept: usize,
    /// The scheduler's encoding: `protobuf` or `json`.
    #[arg(long, default_value = "protobuf")]
    encoding: String,
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

/// When each task's ACCEPT went out, so the agents can time it.
type Accepted = Arc<Mutex<HashMap<String, Instant>>>;

pub async fn run(args: LaunchArgs) -> Result<(), String> {
    if args.agents == 0 || args.tasks == 0 || args.tasks_per_accept == 0 {
        return Err("--agents, --tasks and --tasks_per_accept must be positive".into());
    }
    let capacity = args.agents * (24.0 / TASK_CPUS) as usize;
    if args.tasks > capacity {
        return Err(format!(
            "--tasks {} exceeds what {} agents hold ({capacity})",
            args.tasks, args.agents
        ));
    }
    let content_type = match args.encoding.as_str() {
        "protobuf" => ContentType::Protobuf,
        "json" => ContentType::Json,
        other => return Err(format!("Invalid --encoding '{other}': protobuf or json")),
    };
    let timeout = Duration::from_secs(args.timeout_secs);

    let mut _owned = None;
    let master_addr: SocketAddr = match &args.master {
        Some(master) => master
            .parse()
            .map_err(|e| format!("Invalid --master '{master}': {e}"))?,
        None => {
            let mut flags = vec!["--registry=in_memory".to_string()];
            flags.extend(args.master_flags.iter().cloned());
            let (master, addr) = MasterProcess::start_local(args.master_binary.clone(), flags)?;
            _owned = Some(master);
            addr
        }
    };
    sim_agents::wait_until_leading(master_addr, Duration::from_secs(60)).await?;
    let master_upid = Upid::from_addr("master", master_addr);

    // Register the agents before the scheduler exists, so its first offers
    // cover the whole cluster.
    let mut agents = Agents::start(args.agents).await?;
    let start = Instant::now();
    for i in 0..args.agents {
        let message = RegisterSlaveMessage {
            slave: sim_agents::agent_info(i, &agents.pids[i])?,
            version: Some("1.11.0".into()),
            agent_capabilities: sim_agents::capabilities(),
            ..Default::default()
        };
        agents.send(i, &master_upid, &message);
    }
    agents.collect("registered", start, timeout).await?;
    println!(
        "{} simulated agents registered with the master at {master_addr}; launching {} tasks",
        args.agents, args.tasks
    );

    let accepted: Accepted = Arc::default();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<f64>();
    let agent_loop = tokio::spawn(serve_agents(agents, accepted.clone(), done_tx));

    let client = Client::connect(&master_addr.to_string(), content_type)
        .await
        .map_err(|e| format!("cannot reach the master's scheduler API: {e}"))?;
    let mut subscription = client
        .subscribe(FrameworkInfo {
            user: "root".into(),
            name: "mesos-bench-launch".into(),
            roles: vec!["*".into()],
            capabilities: vec![v1::framework_info::Capability {
                r#type: Some(v1::framework_info::capability::Type::MultiRole as i32),
            }],
            ..Default::default()
        })
        .await
        .map_err(|e| format!("SUBSCRIBE failed: {e}"))?;

    let mut first_accept: Option<Instant> = None;
    let mut launched = 0usize;
    let mut latencies = Vec::with_capacity(args.tasks);
    let mut calls = tokio::task::JoinSet::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while latencies.len() < args.tasks {
        tokio::select! {
            acked = done_rx.recv() => {
                latencies.push(acked.ok_or("the simulated agents stopped")?);
            }
            event = subscription.recv() => {
                let event = event
                    .ok_or("the subscription ended")?
                    .map_err(|e| format!("the subscription broke: {e}"))?;
                handle_event(&client, event, &args, &accepted, &mut launched, &mut first_accept, &mut calls)?;
            }
            Some(call) = calls.join_next(), if !calls.is_empty() => {
                call.map_err(|e| format!("a call task failed: {e}"))??;
            }
            _ = tokio::time::sleep_until(deadline) => {
                return Err(format!(
                    "only {} of {} tasks acknowledged in {} s ({launched} launched)",
                    latencies.len(), args.tasks, args.timeout_secs
                ));
            }
        }
    }
    let wall = first_accept.map(|t| t.elapsed()).unwrap_or_default();
    agent_loop.abort();
    let _ = client.teardown().await;

    latencies.sort_by(f64::total_cmp);
    let rate = args.tasks as f64 / wall.as_secs_f64().max(f64::EPSILON);
    println!(
        "launch_tasks_per_s={rate:.0} tasks={} agents={} wall_s={:.3} accept_to_ack_ms_p50={:.1} accept_to_ack_ms_p99={:.1}",
        args.tasks,
        args.agents,
        wall.as_secs_f64(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0)
    );
    Ok(())
}

/// One scheduler event: offers are filled (up to what is left to launch),
/// updates acknowledged. Calls run as tasks so that the event stream is
/// read while they are in flight.
fn handle_event(
    client: &Client,
    event: Event,
    args: &LaunchArgs,
    accepted: &Accepted,
    launched: &mut usize,
    first_accept: &mut Option<Instant>,
    calls: &mut tokio::task::JoinSet<Result<(), String>>,
) -> Result<(), String> {
    match event.r#type() {
        event::Type::Offers => {
            for offer in event.offers.map(|o| o.offers).unwrap_or_default() {
                let tasks = fill(&offer, args, *launched);
                let client = client.clone();
                if tasks.is_empty() {
                    calls.spawn(async move {
                        client
                            .decline(vec![offer.id.clone()], Some(long_filter()))
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("DECLINE failed: {e}"))
                    });
                    continue;
                }
                *launched += tasks.len();
                let now = Instant::now();
                first_accept.get_or_insert(now);
                if let Ok(mut accepted) = accepted.lock() {
                    for task in &tasks {
                        accepted.insert(task.task_id.value.clone(), now);
                    }
                }
                calls.spawn(async move {
                    client
                        .launch_with(
                            &offer,
                            tasks,
                            Some(Filters {
                                refuse_seconds: Some(0.0),
                            }),
                        )
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("ACCEPT failed: {e}"))
                });
            }
        }
        event::Type::Update => {
            if let Some(status) = event.update.map(|u| u.status) {
                if status.state() != v1::TaskState::TaskRunning {
                    return Err(format!(
                        "task {} reached {:?}: {}",
                        status.task_id.value,
                        status.state(),
                        status.message.unwrap_or_default()
                    ));
                }
                let client = client.clone();
                calls.spawn(async move {
                    client
                        .acknowledge(&status)
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("ACKNOWLEDGE failed: {e}"))
                });
            }
        }
        event::Type::Error => {
            return Err(format!(
                "the master sent ERROR: {}",
                event.error.map(|e| e.message).unwrap_or_default()
            ))
        }
        _ => {}
    }
    Ok(())
}

fn long_filter() -> Filters {
    Filters {
        refuse_seconds: Some(3600.0),
    }
}

/// The tasks that fit in `offer`, at most `--tasks_per_accept` and what is
/// left to launch.
fn fill(offer: &Offer, args: &LaunchArgs, launched: usize) -> Vec<TaskInfo> {
    let scalar = |name: &str| -> f64 {
        offer
            .resources
            .iter()
            .filter(|r| r.name == name)
            .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
            .sum()
    };
    // Offered amounts are fixed-point with three decimals, as upstream's.
    let by_cpus = ((scalar("cpus") + 1e-9) / TASK_CPUS) as usize;
    let by_mem = ((scalar("mem") + 1e-9) / TASK_MEM) as usize;
    let count = by_cpus
        .min(by_mem)
        .min(args.tasks_per_accept)
        .min(args.tasks.saturating_sub(launched));
    (launched..launched + count)
        .map(|n| TaskInfo {
            name: format!("bench-{n}"),
            task_id: v1::TaskId {
                value: format!("bench-{n}"),
            },
            agent_id: offer.agent_id.clone(),
            resources: vec![
                scalar_resource("cpus", TASK_CPUS),
                scalar_resource("mem", TASK_MEM),
            ],
            command: Some(v1::CommandInfo {
                value: Some("true".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect()
}

fn scalar_resource(name: &str, value: f64) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value }),
        ..Default::default()
    }
}

/// The agents' side: every task is reported TASK_RUNNING as soon as it is
/// run, and each acknowledgement's latency (from its task's ACCEPT) is sent
/// to the scheduler loop.
async fn serve_agents(
    mut agents: Agents,
    accepted: Accepted,
    done: mpsc::UnboundedSender<f64>,
) -> Result<(), String> {
    while let Some(message) = agents.messages.recv().await {
        let Some(&i) = agents.index.get(&message.to) else {
            continue;
        };
        if message.name == RunTaskMessage::full_name() {
            let Ok(run) = RunTaskMessage::decode(message.body.as_ref()) else {
                continue;
            };
            let Some(agent_id) = agents.ids[i].clone() else {
                continue;
            };
            let update = running(&run, &agent_id, &agents.pids[i]);
            agents.send(i, &message.from, &update);
        } else if message.name == StatusUpdateAcknowledgementMessage::full_name() {
            let Ok(ack) = StatusUpdateAcknowledgementMessage::decode(message.body.as_ref()) else {
                continue;
            };
            let since = accepted
                .lock()
                .ok()
                .and_then(|mut accepted| accepted.remove(&ack.task_id.value));
            if let Some(since) = since {
                let _ = done.send(since.elapsed().as_secs_f64() * 1000.0);
            }
        } else {
            agents.handle(message);
        }
    }
    Ok(())
}

/// The TASK_RUNNING update an agent sends for the task in `run`.
fn running(run: &RunTaskMessage, agent_id: &str, pid: &Upid) -> StatusUpdateMessage {
    let framework_id = run
        .framework
        .id
        .clone()
        .or_else(|| {
            #[allow(deprecated)]
            run.framework_id.clone()
        })
        .unwrap_or_default();
    sim_agents::status_update(
        framework_id,
        // A command task runs under an executor named after it.
        Some(v0::ExecutorId {
            value: run.task.task_id.value.clone(),
        }),
        agent_id.to_string(),
        run.task.task_id.clone(),
        (
            v0::TaskState::TaskRunning,
            v0::task_status::Source::Executor,
        ),
        pid,
    )
}
