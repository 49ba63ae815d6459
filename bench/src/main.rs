//! `mesos-bench`: measurements of our master at upstream's benchmark sizes.
//!
//! Subcommands: `allocator` (below), `sim-agents` ([`sim_agents`]),
//! `state` ([`state`]) and `launch` ([`launch`]).
//!
//! `mesos-bench allocator` drives the master's allocator in-process, the
//! way upstream's `hierarchical_allocator_benchmarks.cpp` drives its own:
//! a simulated clock, agents and frameworks added through the allocator's
//! interface, and each allocation cycle timed on its own. The last line is
//! `allocate_cycle_ms_p50=<x> allocate_cycle_ms_p99=<y>`.
//!
//! Shapes:
//! - default (upstream's decline benchmark): agents
//!   `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`; every framework
//!   launches one task per offer and declines the rest with a 5 s filter;
//!   the clock advances one allocation interval per cycle.
//! - `--quota` (upstream's `LargeAndSmallQuota`): agents
//!   `cpus:2;mem:2048;disk:2048`; five in six roles have a small quota
//!   (half an agent), the others a large one (two agents); frameworks
//!   spread over the roles; every cycle hands out the whole cluster, then
//!   all offers are declined without a filter so the next cycle does it
//!   again.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

mod http;
mod launch;
mod sim_agents;
mod state;
use mesos_master::allocator::{
    AgentId, Allocator, AllocatorOptions, FrameworkId, FrameworkSpec, HierarchicalDrf, Quota, Role,
};
use mesos_proto::resources::Resources;

#[derive(Parser)]
#[command(name = "mesos-bench", about = "Measurements of the Rust Mesos master")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Times allocation cycles of the master's allocator.
    Allocator(AllocatorArgs),
    /// Simulated agents against a real master: registration and, after a
    /// master restart, re-registration with tasks; the master's RSS.
    SimAgents(sim_agents::SimAgentsArgs),
    /// `/master/state` and v1 GET_STATE latency under polling clients, and
    /// a cheap call's latency meanwhile.
    State(state::StateArgs),
    /// Tasks launched and acknowledged per second through one master onto
    /// simulated agents, by a v1 HTTP scheduler.
    Launch(launch::LaunchArgs),
}

#[derive(Parser)]
struct AllocatorArgs {
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    #[arg(long, default_value_t = 1_000)]
    frameworks: usize,
    #[arg(long, default_value_t = 1)]
    roles: usize,
    /// Upstream's LargeAndSmallQuota shape.
    #[arg(long)]
    quota: bool,
    /// Timed cycles.
    #[arg(long, default_value_t = 20)]
    cycles: usize,
    /// Visit at most this many agents per `allocate` call, as the master
    /// does between batches of its mailbox (`0`: the whole cycle at once).
    /// Each call is timed apart too: that is how long the master's
    /// mailbox waits.
    #[arg(long, default_value_t = 0)]
    chunk: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Allocator(args) => run_allocator(&args),
        Command::SimAgents(args) => block_on(sim_agents::run(args)),
        Command::State(args) => block_on(state::run(args)),
        Command::Launch(args) => block_on(launch::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mesos-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a network benchmark on a multi-threaded runtime.
fn block_on(future: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(future)
}

fn parse(text: &str) -> Result<Resources, String> {
    Resources::parse(text, "*").map_err(|e| format!("Invalid resources '{text}': {e}"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn run_allocator(args: &AllocatorArgs) -> Result<(), String> {
    if args.agents == 0 || args.frameworks == 0 || args.roles == 0 || args.cycles == 0 {
        return Err("--agents, --frameworks, --roles and --cycles must be positive".into());
    }
    let interval = Duration::from_secs(1);
    let mut allocator = HierarchicalDrf::new(AllocatorOptions {
        allocation_interval: interval,
        max_agents_per_cycle: if args.chunk == 0 {
            usize::MAX
        } else {
            args.chunk
        },
        ..AllocatorOptions::default()
    });
    let agent_resources = if args.quota {
        parse("cpus:2;mem:2048;disk:2048")?
    } else {
        parse("cpus:24;mem:4096;disk:4096;ports:[31000-32000]")?
    };
    let task = parse("cpus:1;mem:128;disk:128")?;
    let roles: Vec<Role> = (0..args.roles)
        .map(|i| {
            if !args.quota {
                Role::new(&format!("role{i}"))
            } else if i % 6 == 5 {
                Role::new(&format!("largeQuotaRole{i}"))
            } else {
                Role::new(&format!("smallQuotaRole{i}"))
            }
        })
        .collect();

    let setup = Instant::now();
    let agents: Vec<AgentId> = (0..args.agents)
        .map(|i| AgentId::new(&format!("agent-S{i}")))
        .collect();
    for agent in &agents {
        allocator.add_agent(agent, agent_resources.clone(), BTreeMap::new());
    }
    let frameworks: Vec<(FrameworkId, Role)> = (0..args.frameworks)
        .map(|i| {
            (
                FrameworkId::new(&format!("framework-{i:05}")),
                roles[i % roles.len()].clone(),
            )
        })
        .collect();
    for (framework, role) in &frameworks {
        let spec = FrameworkSpec {
            roles: [role.clone()].into(),
            ..Default::default()
        };
        allocator.add_framework(framework, spec, BTreeMap::new(), true);
    }
    if args.quota {
        for (i, role) in roles.iter().enumerate() {
            let (cpus, mem) = if i % 6 == 5 {
                (4.0, 4096.0)
            } else {
                (1.0, 1024.0)
            };
            let quantities = BTreeMap::from([
                ("cpus".into(), cpus),
                ("mem".into(), mem),
                ("disk".into(), mem),
            ]);
            allocator.update_quota(role, Quota::guarantee_and_limit(quantities));
        }
    }
    println!(
        "setup: {} agents, {} frameworks, {} roles{} in {:.1} ms",
        args.agents,
        args.frameworks,
        args.roles,
        if args.quota {
            " (LargeAndSmallQuota)"
        } else {
            ""
        },
        setup.elapsed().as_secs_f64() * 1000.0
    );

    let start = Instant::now();
    let mut now = start;
    let mut times = Vec::with_capacity(args.cycles);
    let mut chunks = Vec::new();
    let mut tasks = 0usize;
    for cycle in 0..args.cycles {
        now += interval;
        let mut offers = Vec::new();
        let mut elapsed = 0.0;
        loop {
            let watch = Instant::now();
            offers.extend(allocator.allocate(now));
            let chunk = watch.elapsed().as_secs_f64() * 1000.0;
            elapsed += chunk;
            chunks.push(chunk);
            if args.chunk == 0 || !allocator.has_pending() {
                break;
            }
        }
        times.push(elapsed);
        let offered = offers.len();
        let mut launched = 0usize;
        for offer in offers {
            let mut remaining = offer.resources.clone();
            if args.quota {
                allocator.recover_resources(
                    &offer.framework_id,
                    &offer.agent_id,
                    &remaining,
                    None,
                    now,
                );
                continue;
            }
            let mut unallocated = remaining.clone();
            unallocated.unallocate();
            if unallocated.contains(&task) {
                let mut used = task.clone();
                used.allocate(offer.role.as_str());
                remaining -= &used;
                launched += 1;
            }
            allocator.recover_resources(
                &offer.framework_id,
                &offer.agent_id,
                &remaining,
                Some(Duration::from_secs(5)),
                now,
            );
        }
        tasks += launched;
        println!("cycle {cycle}: {offered} offers, {launched} tasks launched, {elapsed:.2} ms");
    }
    println!("tasks launched: {tasks}");
    if args.chunk > 0 {
        chunks.sort_by(f64::total_cmp);
        println!(
            "chunks of {} agents: {} calls, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            args.chunk,
            chunks.len(),
            percentile(&chunks, 50.0),
            percentile(&chunks, 99.0),
            chunks.last().copied().unwrap_or(0.0)
        );
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "allocate_cycle_ms_p50={:.2} allocate_cycle_ms_p99={:.2}",
        percentile(&sorted, 50.0),
        percentile(&sorted, 99.0)
    );
    Ok(())
}
