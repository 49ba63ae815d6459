//! `bench-launch`: task launch latency and throughput against a running
//! master (not a test; prints a table).
//!
//! 1. sequential: N tasks running `true`, one at a time; latency from the
//!    ACCEPT being sent to TASK_RUNNING and to TASK_FINISHED;
//! 2. burst: M tiny tasks packed into offers as fast as offers come; time
//!    until all are terminal;
//! 3. baseline: spawning and reaping the same command directly N times.
//!
//! Then the ratio of the cluster's p50 latencies to the direct p50.
//!
//! With `--operator_subscribers N`, the sequential phase runs a second time
//! while N operator API event streams are open (`--stalled_operator_subscribers`
//! of them never read a byte), to show that a slow or stuck operator client
//! does not slow task launches. `--operator_subscribers_apart` reads them on
//! a thread of their own, so that only the machine's CPUs are shared with
//! the scheduler being timed, not its runtime.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use mesos_proto::mesos::v1::scheduler::event;
use mesos_proto::mesos::v1::{
    CommandInfo, Filters, FrameworkInfo, Offer, TaskId, TaskInfo, TaskState, TaskStatus,
};
use mesos_proto::resources::Resources;
use mesos_scheduler_client::resources::{self, OfferResources};
use mesos_scheduler_client::{Client, ContentType, Credential, Subscription};
use tokio::sync::mpsc;

#[derive(Parser, Debug)]
#[command(
    name = "bench-launch",
    about = "Measures task launch latency and throughput.",
    rename_all = "snake_case"
)]
struct Flags {
    /// The master (host:port, or https://host:port with
    /// LIBPROCESS_SSL_ENABLED=true; TLS follows the LIBPROCESS_SSL_*
    /// environment as in every libprocess process).
    #[arg(long)]
    master: String,
    /// The framework's principal (put in FrameworkInfo; with --secret also
    /// sent as HTTP Basic on every call).
    #[arg(long)]
    principal: Option<String>,
    /// The principal's secret.
    #[arg(long)]
    secret: Option<String>,
    /// Tasks launched one at a time (and direct spawns for the baseline).
    #[arg(long, default_value_t = 200)]
    tasks: usize,
    /// Tasks launched as fast as offers allow.
    #[arg(long, default_value_t = 1000)]
    burst: usize,
    /// Shell command of every task.
    #[arg(long, default_value = "true")]
    command: String,
    /// Resources of every task.
    #[arg(long, default_value = "cpus:0.01;mem:1")]
    resources: String,
    /// At most this many tasks per offer in the burst (0: as many as fit).
    #[arg(long, default_value_t = 0)]
    max_tasks_per_offer: usize,
    /// Role to register with.
    #[arg(long, default_value = "*")]
    role: String,
    /// `protobuf` or `json`.
    #[arg(long, default_value = "protobuf")]
    content_type: String,
    /// Give up on a phase after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Repeat the sequential phase with this many operator SUBSCRIBE streams
    /// open (0: skip that phase).
    #[arg(long, default_value_t = 0)]
    operator_subscribers: usize,
    /// How many of those streams never read anything.
    #[arg(long, default_value_t = 1)]
    stalled_operator_subscribers: usize,
    /// Read the operator streams on a thread (and runtime) of their own, as
    /// separate clients would: their reads then never queue ahead of the
    /// scheduler's events in the runtime that times them (they still share
    /// the machine's CPUs).
    #[arg(long, default_value_t = false)]
    operator_subscribers_apart: bool,
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Failed to start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(flags)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-launch: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Bench {
    client: Client,
    subscription: Subscription,
    /// Offers received and not used yet.
    stash: Vec<Offer>,
    acks: mpsc::UnboundedSender<TaskStatus>,
    requests: Resources,
    role: String,
    command: String,
    deadline: Instant,
    offers_used: usize,
}

/// Returned offer resources come back at once (the default refusal is 5 s).
fn no_refusal() -> Option<Filters> {
    Some(Filters {
        refuse_seconds: Some(0.0),
    })
}

/// What one event turned out to be.
enum Pumped {
    Update(Box<TaskStatus>, Instant),
    Offers,
    Other,
}

impl Bench {
    /// Handles one event: offers are stashed, updates are queued for
    /// acknowledgement and returned with their arrival time.
    async fn pump(&mut self) -> Result<Pumped, String> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let event = match tokio::time::timeout(remaining, self.subscription.recv()).await {
            Err(_) => return Err("timed out".to_string()),
            Ok(None) => return Err("the subscription ended".to_string()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(event))) => event,
        };
        let at = Instant::now();
        match event.r#type() {
            event::Type::Offers => {
                self.stash
                    .extend(event.offers.map(|o| o.offers).unwrap_or_default());
                Ok(Pumped::Offers)
            }
            event::Type::Rescind => {
                if let Some(rescind) = event.rescind {
                    self.stash.retain(|o| o.id != rescind.offer_id);
                }
                Ok(Pumped::Other)
            }
            event::Type::Update => match event.update {
                Some(update) => {
                    // Acks go out on another task so timestamps stay honest.
                    let _ = self.acks.send(update.status.clone());
                    Ok(Pumped::Update(Box::new(update.status), at))
                }
                None => Ok(Pumped::Other),
            },
            event::Type::Error => Err(format!(
                "ERROR event: {}",
                event.error.map(|e| e.message).unwrap_or_default()
            )),
            _ => Ok(Pumped::Other),
        }
    }

    /// Waits for the next update, stashing offers on the way.
    async fn next_update(&mut self) -> Result<(TaskStatus, Instant), String> {
        loop {
            if let Pumped::Update(status, at) = self.pump().await? {
                return Ok((*status, at));
            }
        }
    }

    /// Waits for the next OFFERS event (stashed); late updates are acked.
    async fn wait_for_offers(&mut self) -> Result<(), String> {
        loop {
            if let Pumped::Offers = self.pump().await? {
                return Ok(());
            }
        }
    }

    fn task(&self, id: String, resources: Vec<mesos_proto::mesos::v1::Resource>) -> TaskInfo {
        TaskInfo {
            name: id.clone(),
            task_id: TaskId { value: id },
            resources,
            command: Some(CommandInfo {
                value: Some(self.command.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Removes and returns a stashed offer with room for one task.
    fn take_fitting_offer(&mut self) -> Option<(Offer, Vec<mesos_proto::mesos::v1::Resource>)> {
        for index in 0..self.stash.len() {
            let mut pool = OfferResources::new(&self.stash[index].resources);
            if let Some(resources) = pool.take(&self.requests, &self.role) {
                return Some((self.stash.remove(index), resources));
            }
        }
        None
    }
}

#[derive(Default)]
struct Sequential {
    to_running: Vec<Duration>,
    to_finished: Vec<Duration>,
    failures: Vec<String>,
}

async fn sequential(bench: &mut Bench, n: usize) -> Result<Sequential, String> {
    let mut out = Sequential::default();
    for i in 0..n {
        let (offer, resources) = loop {
            if let Some(found) = bench.take_fitting_offer() {
                break found;
            }
            bench.wait_for_offers().await?;
        };
        let id = format!("bench-seq-{i}");
        let task = bench.task(id.clone(), resources);
        let sent = Instant::now();
        bench
            .client
            .launch_with(&offer, vec![task], no_refusal())
            .await
            .map_err(|e| format!("ACCEPT failed: {e}"))?;
        bench.offers_used += 1;
        loop {
            let (status, at) = bench.next_update().await?;
            if status.task_id.value != id {
                continue;
            }
            let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskRunning);
            if state == TaskState::TaskRunning {
                out.to_running.push(at - sent);
            }
            if state.is_terminal() {
                if state == TaskState::TaskFinished {
                    out.to_finished.push(at - sent);
                } else {
                    out.failures.push(format!(
                        "{id}: {} {}",
                        state.as_str_name(),
                        status.message.unwrap_or_default()
                    ));
                }
                break;
            }
        }
    }
    Ok(out)
}

struct Burst {
    /// From the first ACCEPT to the last terminal update.
    elapsed: Duration,
    /// Waiting for the first offer before that (up to one allocation
    /// interval), reported apart so it does not hide launch throughput.
    offer_wait: Duration,
    finished: usize,
    failed: usize,
    offers: usize,
}

async fn burst(bench: &mut Bench, m: usize, max_per_offer: usize) -> Result<Burst, String> {
    let started = Instant::now();
    let mut first_accept: Option<Instant> = None;
    let offers_before = bench.offers_used;
    let mut launched = 0;
    let (mut finished, mut failed) = (0, 0);
    while finished + failed < m {
        // Pack every stashed offer.
        for offer in std::mem::take(&mut bench.stash) {
            if launched >= m {
                let _ = bench
                    .client
                    .decline(vec![offer.id.clone()], no_refusal())
                    .await;
                continue;
            }
            let mut pool = OfferResources::new(&offer.resources);
            let mut tasks = Vec::new();
            while launched + tasks.len() < m && (max_per_offer == 0 || tasks.len() < max_per_offer)
            {
                let Some(resources) = pool.take(&bench.requests, &bench.role) else {
                    break;
                };
                let id = format!("bench-burst-{}", launched + tasks.len());
                tasks.push(bench.task(id, resources));
            }
            if tasks.is_empty() {
                let _ = bench
                    .client
                    .decline(vec![offer.id.clone()], no_refusal())
                    .await;
                continue;
            }
            launched += tasks.len();
            first_accept.get_or_insert_with(Instant::now);
            bench
                .client
                .launch_with(&offer, tasks, no_refusal())
                .await
                .map_err(|e| format!("ACCEPT failed: {e}"))?;
            bench.offers_used += 1;
        }
        if let Pumped::Update(status, _) = bench.pump().await? {
            if !status.task_id.value.starts_with("bench-burst-") {
                continue;
            }
            match TaskState::try_from(status.state) {
                Ok(TaskState::TaskFinished) => finished += 1,
                Ok(state) if state.is_terminal() => failed += 1,
                _ => {}
            }
        }
    }
    let first_accept = first_accept.unwrap_or(started);
    Ok(Burst {
        elapsed: first_accept.elapsed(),
        offer_wait: first_accept.duration_since(started),
        finished,
        failed,
        offers: bench.offers_used - offers_before,
    })
}

async fn direct(command: &str, n: usize) -> Result<Vec<Duration>, String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .status()
            .await
            .map_err(|e| format!("failed to spawn sh: {e}"))?;
        out.push(started.elapsed());
        if !status.success() {
            return Err(format!("'{command}' failed directly: {status}"));
        }
    }
    Ok(out)
}

/// Open operator event streams: the readers count what they drain, the
/// stalled ones keep their socket and never read.
struct OperatorSubscribers {
    readers: Vec<tokio::task::JoinHandle<()>>,
    _stalled: Vec<tokio::net::TcpStream>,
    drained: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Drop for OperatorSubscribers {
    fn drop(&mut self) {
        for reader in &self.readers {
            reader.abort();
        }
    }
}

/// Opens `n` operator SUBSCRIBE streams on `master`; the first `stalled`
/// never read. Returns once every reader has drained its SUBSCRIBED event
/// (the full state, which can be large) up to the HEARTBEAT the master
/// writes right after it, and every stalled stream's request is written:
/// the measurement that follows sees the cost of streaming changes, not of
/// the initial state transfer.
async fn operator_subscribers(
    master: &str,
    n: usize,
    stalled: usize,
) -> Result<OperatorSubscribers, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let body = r#"{"type":"SUBSCRIBE"}"#;
    let request = format!(
        "POST /api/v1 HTTP/1.1\r\nHost: {master}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    const HEARTBEAT: &[u8] = b"\"HEARTBEAT\"";
    let drained = std::sync::Arc::new(AtomicU64::new(0));
    let mut ready = Vec::new();
    let mut out = OperatorSubscribers {
        readers: Vec::new(),
        _stalled: Vec::new(),
        drained: drained.clone(),
    };
    for i in 0..n {
        let mut stream = tokio::net::TcpStream::connect(master)
            .await
            .map_err(|e| format!("operator subscriber {i}: connect to {master}: {e}"))?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("operator subscriber {i}: {e}"))?;
        if i < stalled {
            out._stalled.push(stream);
            continue;
        }
        let mut first = [0u8; 16];
        let read = stream
            .read(&mut first)
            .await
            .map_err(|e| format!("operator subscriber {i}: {e}"))?;
        if !first[..read].starts_with(b"HTTP/1.1 200") {
            return Err(format!(
                "operator subscriber {i}: SUBSCRIBE answered {:?}",
                String::from_utf8_lossy(&first[..read])
            ));
        }
        let drained = drained.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        ready.push(ready_rx);
        out.readers.push(tokio::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            // The tail of what was read, so a marker split across two reads
            // is still found.
            let mut tail: Vec<u8> = first[..read].to_vec();
            let mut buffer = vec![0u8; 64 * 1024];
            while let Ok(read) = stream.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
                drained.fetch_add(read as u64, Ordering::Relaxed);
                if ready_tx.is_some() {
                    tail.extend_from_slice(&buffer[..read]);
                    if tail.windows(HEARTBEAT.len()).any(|w| w == HEARTBEAT) {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    let keep = tail.len().saturating_sub(HEARTBEAT.len());
                    tail.drain(..keep);
                }
            }
        }));
    }
    for (i, ready) in ready.into_iter().enumerate() {
        tokio::time::timeout(Duration::from_secs(120), ready)
            .await
            .map_err(|_| {
                format!("operator subscriber {i}: no HEARTBEAT after SUBSCRIBED in 120 s")
            })?
            .map_err(|_| {
                format!("operator subscriber {i}: the stream ended before its first HEARTBEAT")
            })?;
    }
    Ok(out)
}

/// The open operator streams, closed when dropped.
enum Open {
    Here(#[allow(dead_code)] OperatorSubscribers),
    Apart(#[allow(dead_code)] ApartSubscribers),
}

/// Operator streams opened by [`operator_subscribers`] on a thread of their
/// own; closed when dropped.
struct ApartSubscribers {
    drained: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ApartSubscribers {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// [`operator_subscribers`] on a current-thread runtime in a thread of its
/// own; returns once they are all ready.
async fn operator_subscribers_apart(
    master: String,
    n: usize,
    stalled: usize,
) -> Result<ApartSubscribers, String> {
    type Ready = Result<std::sync::Arc<std::sync::atomic::AtomicU64>, String>;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Ready>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("operator-subscribers".to_string())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("operator subscribers' runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                match operator_subscribers(&master, n, stalled).await {
                    Ok(subscribers) => {
                        let _ = ready_tx.send(Ok(subscribers.drained.clone()));
                        let _ = stop_rx.await;
                        drop(subscribers);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })
        .map_err(|e| format!("operator subscribers' thread: {e}"))?;
    let mut apart = ApartSubscribers {
        drained: Default::default(),
        stop: Some(stop_tx),
        thread: Some(thread),
    };
    apart.drained = ready_rx
        .await
        .map_err(|_| "the operator subscribers' thread ended".to_string())??;
    Ok(apart)
}

async fn run(flags: Flags) -> Result<(), String> {
    let content_type: ContentType = flags.content_type.parse().map_err(|e| format!("{e}"))?;
    let requests = resources::parse(&flags.resources).map_err(|e| e.to_string())?;
    let credential = match (&flags.principal, &flags.secret) {
        (Some(principal), Some(secret)) => Some(Credential {
            principal: principal.clone(),
            secret: secret.clone(),
        }),
        (None, Some(_)) => return Err("--secret requires --principal".to_string()),
        _ => None,
    };
    let client = Client::connect_with(&flags.master, content_type, credential)
        .await
        .map_err(|e| e.to_string())?;
    #[allow(deprecated)] // A single-role framework, like most benchmarks.
    let framework_info = FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".to_string()),
        name: "bench-launch".to_string(),
        principal: flags.principal.clone(),
        role: Some(flags.role.clone()),
        ..Default::default()
    };
    let subscription = client
        .subscribe(framework_info)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "bench-launch against {} (framework {}), command '{}', resources '{}'",
        client.master(),
        subscription.framework_id.value,
        flags.command,
        flags.resources
    );

    let (acks, mut ack_queue) = mpsc::unbounded_channel::<TaskStatus>();
    let ack_client = client.clone();
    // Acknowledgements go out concurrently (the client keeps a few call
    // connections), as a libmesos driver's one-way ack messages would:
    // each task's next update waits on the previous one's ack.
    let acker = tokio::spawn(async move {
        while let Some(status) = ack_queue.recv().await {
            let ack_client = ack_client.clone();
            tokio::spawn(async move {
                if let Err(e) = ack_client.acknowledge(&status).await {
                    tracing::warn!("acknowledgement failed: {e}");
                }
            });
        }
    });

    let phase = Duration::from_secs(flags.timeout_secs);
    let mut bench = Bench {
        client: client.clone(),
        subscription,
        stash: Vec::new(),
        acks,
        requests,
        role: flags.role.clone(),
        command: flags.command.clone(),
        deadline: Instant::now() + phase,
        offers_used: 0,
    };

    let seq = sequential(&mut bench, flags.tasks).await;
    bench.deadline = Instant::now() + phase;
    let with_subscribers = if flags.operator_subscribers > 0 {
        let master = format!("{}:{}", client.master().host, client.master().port);
        let opened = if flags.operator_subscribers_apart {
            operator_subscribers_apart(
                master,
                flags.operator_subscribers,
                flags.stalled_operator_subscribers,
            )
            .await
            .map(|apart| (apart.drained.clone(), Open::Apart(apart)))
        } else {
            operator_subscribers(
                &master,
                flags.operator_subscribers,
                flags.stalled_operator_subscribers,
            )
            .await
            .map(|here| (here.drained.clone(), Open::Here(here)))
        };
        match opened {
            Ok((drained_bytes, _open)) => {
                let before = drained_bytes.load(std::sync::atomic::Ordering::Relaxed);
                let result = sequential(&mut bench, flags.tasks).await;
                bench.deadline = Instant::now() + phase;
                let drained = drained_bytes.load(std::sync::atomic::Ordering::Relaxed) - before;
                Some(result.map(|r| (r, drained)))
            }
            Err(e) => Some(Err(e)),
        }
    } else {
        None
    };
    let burst = burst(&mut bench, flags.burst, flags.max_tasks_per_offer).await;
    let direct = direct(&flags.command, flags.tasks).await;

    if let Err(e) = client.teardown().await {
        tracing::warn!("teardown failed: {e}");
    }
    drop(bench);
    acker.abort();

    println!();
    println!(
        "{:<38} {:>6} {:>11} {:>11} {:>11}",
        "measurement", "n", "p50", "p99", "max"
    );
    let mut cluster_p50 = (None, None);
    match &seq {
        Ok(seq) => {
            cluster_p50.0 = row("sequential: ACCEPT -> TASK_RUNNING", &seq.to_running);
            cluster_p50.1 = row("sequential: ACCEPT -> TASK_FINISHED", &seq.to_finished);
            for failure in seq.failures.iter().take(5) {
                println!("  failed: {failure}");
            }
        }
        Err(e) => println!("sequential phase failed: {e}"),
    }
    match &with_subscribers {
        None => {}
        Some(Ok((with, drained))) => {
            let label = format!(
                "  with {} operator streams ({} stalled){}",
                flags.operator_subscribers,
                flags
                    .stalled_operator_subscribers
                    .min(flags.operator_subscribers),
                if flags.operator_subscribers_apart {
                    ", read on their own thread"
                } else {
                    ""
                }
            );
            println!("{label}");
            let running = row("sequential: ACCEPT -> TASK_RUNNING", &with.to_running);
            row("sequential: ACCEPT -> TASK_FINISHED", &with.to_finished);
            println!("  the reading streams drained {drained} bytes during the phase");
            if let (Some(with), Some(without)) = (running, cluster_p50.0) {
                println!(
                    "  ACCEPT->RUNNING p50 with/without operator streams: {:+.1} %",
                    (with.as_secs_f64() / without.as_secs_f64().max(1e-9) - 1.0) * 100.0
                );
            }
        }
        Some(Err(e)) => println!("sequential phase with operator streams failed: {e}"),
    }
    let direct_p50 = match &direct {
        Ok(samples) => row("direct: spawn + reap (sh -c)", samples),
        Err(e) => {
            println!("direct phase failed: {e}");
            None
        }
    };
    println!();
    match &burst {
        Ok(b) => println!(
            "burst: {} tasks terminal in {:.2} s from the first ACCEPT ({:.1} tasks/s), after {:.2} s waiting for the first offer; {} finished, {} failed, {} offers used",
            b.finished + b.failed,
            b.elapsed.as_secs_f64(),
            (b.finished + b.failed) as f64 / b.elapsed.as_secs_f64().max(1e-9),
            b.offer_wait.as_secs_f64(),
            b.finished,
            b.failed,
            b.offers
        ),
        Err(e) => println!("burst phase failed: {e}"),
    }
    if let (Some(direct), (running, finished)) = (direct_p50, cluster_p50) {
        let ratio = |cluster: Option<Duration>| {
            cluster.map(|c| format!("{:.1}x", c.as_secs_f64() / direct.as_secs_f64().max(1e-9)))
        };
        println!(
            "p50 ratio cluster/direct: ACCEPT->RUNNING {}, ACCEPT->FINISHED {}",
            ratio(running).unwrap_or_else(|| "n/a".into()),
            ratio(finished).unwrap_or_else(|| "n/a".into())
        );
    }
    seq.map(|_| ())?;
    if let Some(with) = with_subscribers {
        with.map(|_| ())?;
    }
    burst.map(|_| ())?;
    direct.map(|_| ())
}

/// Prints one table row; returns the p50.
fn row(label: &str, samples: &[Duration]) -> Option<Duration> {
    if samples.is_empty() {
        println!("{label:<38} {:>6} {:>11} {:>11} {:>11}", 0, "-", "-", "-");
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let p50 = percentile(&sorted, 50.0);
    println!(
        "{label:<38} {:>6} {:>11} {:>11} {:>11}",
        sorted.len(),
        ms(p50),
        ms(percentile(&sorted, 99.0)),
        ms(sorted[sorted.len() - 1])
    );
    Some(p50)
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&samples[..1], 99.0), Duration::from_millis(1));
    }
}
