//! `registrar-bench`: registry write latency and batch sizes when many
//! agents re-register at once after a master failover.
//!
//! The registry starts with `--agents` admitted agents (as the previous
//! leader left it). A new registrar recovers it, then every agent
//! re-registers with changed info (an `UpdateAgent` operation each): first
//! all at once, then spread evenly over `--spread`. Prints, per store, the
//! number of writes, batch sizes, store latency per write and the latency
//! each re-registration waits for its commit.
//!
//! ```text
//! registrar-bench [--agents=1000] [--spread=1s] [--work_dir=DIR]
//!                 [--zk=host:port[,host:port]] [--zk_path=/registrar-bench]
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesos_master::registry::{
    Completion, FileStore, MemoryStore, Operation, Registrar, RegistrarOptions, Store, WriteReport,
    ZooKeeperStore, ZooKeeperStoreOptions,
};
use mesos_proto::mesos::internal::registry::{Slave, Slaves};
use mesos_proto::mesos::internal::Registry;
use mesos_proto::mesos::{Attribute, MasterInfo, SlaveId, SlaveInfo};
use prost::Message as _;
use tokio::sync::mpsc;

struct Options {
    agents: usize,
    spread: Duration,
    work_dir: Option<String>,
    zk: Option<String>,
    zk_path: String,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        agents: 1000,
        spread: Duration::from_secs(1),
        work_dir: None,
        zk: None,
        zk_path: "/registrar-bench".into(),
    };
    for arg in std::env::args().skip(1) {
        let (key, value) = arg
            .strip_prefix("--")
            .and_then(|a| a.split_once('='))
            .ok_or_else(|| format!("unexpected argument '{arg}'"))?;
        match key {
            "agents" => options.agents = value.parse().map_err(|e| format!("--agents: {e}"))?,
            "spread" => {
                let millis: u64 = value
                    .trim_end_matches("ms")
                    .trim_end_matches('s')
                    .parse()
                    .map_err(|e| format!("--spread: {e}"))?;
                options.spread = if value.ends_with("ms") {
                    Duration::from_millis(millis)
                } else {
                    Duration::from_secs(millis)
                };
            }
            "work_dir" => options.work_dir = Some(value.to_string()),
            "zk" => options.zk = Some(value.to_string()),
            "zk_path" => options.zk_path = value.to_string(),
            other => return Err(format!("unknown flag --{other}")),
        }
    }
    Ok(options)
}

fn agent(n: usize, generation: &str) -> SlaveInfo {
    SlaveInfo {
        hostname: format!("agent-{n}.example.com"),
        port: Some(5051),
        id: Some(SlaveId {
            value: format!("bench-master-S{n}"),
        }),
        resources: mesos_proto::resources::Resources::parse(
            "cpus:32;mem:262144;disk:1048576;ports:[31000-32000]",
            "*",
        )
        .map(|r| r.to_v0())
        .unwrap_or_default(),
        attributes: vec![Attribute {
            name: "generation".into(),
            r#type: mesos_proto::mesos::value::Type::Text as i32,
            text: Some(mesos_proto::mesos::value::Text {
                value: generation.into(),
            }),
            ..Default::default()
        }],
        checkpoint: Some(true),
        ..Default::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}

/// One burst of re-registrations against `store`; prints the figures.
async fn run(
    store: Arc<dyn Store>,
    label: &str,
    agents: usize,
    spread: Duration,
) -> Result<(), String> {
    let (reports_tx, mut reports) = mpsc::unbounded_channel::<WriteReport>();
    let (completions_tx, mut completions) = mpsc::unbounded_channel::<Completion<usize>>();
    let (registrar, _task) = Registrar::spawn(
        store,
        RegistrarOptions {
            write_reports: Some(reports_tx),
            ..Default::default()
        },
        completions_tx,
    );
    registrar.recover(MasterInfo {
        id: "bench-master".into(),
        ip: 0,
        port: 5050,
        ..Default::default()
    });
    let recovered = match completions.recv().await {
        Some(Completion::Recovered(Ok(registry))) => registry,
        other => return Err(format!("recovery failed: {other:?}")),
    };
    let _ = reports.recv().await;
    let admitted = recovered.slaves.as_ref().map_or(0, |s| s.slaves.len());

    let generation = uuid::Uuid::new_v4().to_string();
    let mut infos: Vec<Option<SlaveInfo>> =
        (0..agents).map(|n| Some(agent(n, &generation))).collect();
    let started = Instant::now();
    // Submission times (nanoseconds after `started`), written by the
    // submitting task and read as answers arrive, concurrently.
    let submitted: Arc<Vec<AtomicU64>> = Arc::new((0..agents).map(|_| AtomicU64::new(0)).collect());
    let pace = if agents > 0 {
        spread / agents as u32
    } else {
        Duration::ZERO
    };
    let times = Arc::clone(&submitted);
    let submitter = tokio::spawn(async move {
        for (n, info) in infos.iter_mut().enumerate() {
            if !pace.is_zero() {
                let due = started + pace * n as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
            }
            times[n].store(started.elapsed().as_nanos() as u64, Ordering::Release);
            let info = info.take().unwrap_or_default();
            registrar.apply(Operation::UpdateAgent(Box::new(info)), n);
        }
        registrar
    });
    let mut latencies = Vec::with_capacity(agents);
    let mut changed = 0;
    while latencies.len() < agents {
        match completions.recv().await {
            Some(Completion::Applied { tag, result }) => {
                let at = Duration::from_nanos(submitted[tag].load(Ordering::Acquire));
                latencies.push(started.elapsed().saturating_sub(at));
                if result.map_err(|e| e.to_string())? {
                    changed += 1;
                }
            }
            other => return Err(format!("unexpected answer {other:?}")),
        }
    }
    let total = started.elapsed();
    let _registrar = submitter.await.map_err(|e| e.to_string())?;
    let mut writes = Vec::new();
    while let Ok(report) = reports.try_recv() {
        writes.push(report);
    }
    latencies.sort();
    let mut batches: Vec<usize> = writes.iter().map(|w| w.operations).collect();
    batches.sort();
    let mut store_times: Vec<Duration> = writes.iter().map(|w| w.elapsed).collect();
    store_times.sort();
    let bytes = writes.last().map_or(0, |w| w.bytes);
    println!(
        "{label}: {agents} agents re-registering {} (registry {admitted} agents, {bytes} bytes)",
        if spread.is_zero() {
            "at once".to_string()
        } else {
            format!("over {spread:?}")
        }
    );
    println!(
        "  writes {}  batch size min/median/max {}/{}/{}  changed {changed}",
        writes.len(),
        batches.first().copied().unwrap_or(0),
        batches.get(batches.len() / 2).copied().unwrap_or(0),
        batches.last().copied().unwrap_or(0)
    );
    println!(
        "  store latency per write p50 {}  p99 {}  max {}",
        ms(percentile(&store_times, 0.5)),
        ms(percentile(&store_times, 0.99)),
        ms(percentile(&store_times, 1.0))
    );
    println!(
        "  re-registration wait for commit p50 {}  p99 {}  max {}  (all done in {})",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0)),
        ms(total)
    );
    Ok(())
}

/// The registry as the previous leader left it.
fn seed(agents: usize) -> bytes::Bytes {
    let registry = Registry {
        slaves: Some(Slaves {
            slaves: (0..agents)
                .map(|n| Slave {
                    info: agent(n, "old"),
                    ..Default::default()
                })
                .collect(),
        }),
        ..Default::default()
    };
    bytes::Bytes::from(registry.encode_to_vec())
}

async fn seeded(store: Arc<dyn Store>, agents: usize) -> Result<Arc<dyn Store>, String> {
    let fetched = store.fetch().await.map_err(|e| e.to_string())?;
    store
        .store(seed(agents), fetched.version)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("seed write lost a race")?;
    Ok(store)
}

async fn main_async(options: Options) -> Result<(), String> {
    for spread in [Duration::ZERO, options.spread] {
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
        run(
            seeded(memory, options.agents).await?,
            "memory",
            options.agents,
            spread,
        )
        .await?;

        let dir = match &options.work_dir {
            Some(dir) => std::path::PathBuf::from(dir),
            None => std::env::temp_dir().join(format!("registrar-bench-{}", std::process::id())),
        };
        let _ = std::fs::remove_file(dir.join("registry"));
        {
            let file: Arc<dyn Store> = Arc::new(FileStore::open(&dir).map_err(|e| e.to_string())?);
            run(
                seeded(file, options.agents).await?,
                "file",
                options.agents,
                spread,
            )
            .await?;
        }
        if options.work_dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }

        if let Some(servers) = &options.zk {
            let path = format!("{}-{}", options.zk_path, uuid::Uuid::new_v4().simple());
            let zk = ZooKeeperStore::connect(ZooKeeperStoreOptions::new(servers.clone(), path))
                .await
                .map_err(|e| e.to_string())?;
            let zk: Arc<dyn Store> = Arc::new(zk);
            run(
                seeded(zk, options.agents).await?,
                "zookeeper",
                options.agents,
                spread,
            )
            .await?;
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("{error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Failed to start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main_async(options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            std::process::ExitCode::FAILURE
        }
    }
}
