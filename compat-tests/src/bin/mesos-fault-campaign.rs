//! `mesos-fault-campaign`: random faults against a real HA cluster while a
//! real scheduler runs tasks, judged from the scheduler's own records.
//!
//! It starts a ZooKeeper, three `mesos-master --zk`, two `mesos-agent
//! --master=zk://` and the pymesos campaign scheduler (which records every
//! update on disk before acknowledging it), then injects `--faults N` faults
//! chosen by a seeded RNG (`--seed S`): SIGKILL of the leading master (then
//! restarted), SIGKILL or SIGTERM of an agent (restarted with the same
//! `--work_dir`), SIGKILL of one task's executor, SIGSTOP/SIGCONT of a
//! master or an agent, a ZooKeeper restart, SIGKILL of the scheduler
//! (restarted with its framework id). After each fault it heals and waits
//! until a leader serves `/master/state` with both agents and the framework
//! connected. At the end it stops launching, waits for every task's
//! terminal update, reconciles, and checks the record: every task whose
//! executor was not killed must end TASK_FINISHED, a killed executor's task
//! TASK_FAILED (or FINISHED if it won the race), and a task the cluster
//! knew about (any update from an agent) must have its terminal update
//! delivered, not only answered by reconciliation.
//!
//! It only ever signals pids it started (or, for an executor, the session
//! leader of a task it launched), and prints one line per fault and a
//! summary line `faults=<n> lost_terminal_updates=<k> ...`; it exits
//! non-zero when any task was lost or ended unexpectedly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use compat_tests::zookeeper::ZooKeeperServer;
use compat_tests::{client_script, free_port, http_get, venv_python, Spawned};
use serde_json::Value;

const SESSION_TIMEOUT: &str = "3secs";
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(120);

/// splitmix64: a few lines that make a seed reproduce the same campaign,
/// without a dependency for it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    KillLeader,
    KillAgent,
    TermAgent,
    KillExecutor,
    PauseMaster,
    PauseAgent,
    RestartZooKeeper,
    KillScheduler,
}

const FAULTS: [Fault; 8] = [
    Fault::KillLeader,
    Fault::KillAgent,
    Fault::TermAgent,
    Fault::KillExecutor,
    Fault::PauseMaster,
    Fault::PauseAgent,
    Fault::RestartZooKeeper,
    Fault::KillScheduler,
];

struct Args {
    faults: usize,
    seed: u64,
    keep: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        faults: 20,
        seed: 1,
        keep: false,
    };
    let mut argv = std::env::args().skip(1).peekable();
    while let Some(arg) = argv.next() {
        let (name, mut value) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        // `--faults N` as well as `--faults=N`.
        if value.is_none() && matches!(name.as_str(), "--faults" | "--seed") {
            value = argv.next();
        }
        let number = |v: Option<String>| -> Result<u64, String> {
            v.ok_or_else(|| format!("{name} needs a value ({name}=N)"))?
                .parse()
                .map_err(|e| format!("bad value for {name}: {e}"))
        };
        match name.as_str() {
            "--faults" => args.faults = number(value)? as usize,
            "--seed" => args.seed = number(value)?,
            "--keep_work_dir" => args.keep = true,
            "--help" => {
                return Err(
                    "usage: mesos-fault-campaign [--faults=N] [--seed=S] [--keep_work_dir]".into(),
                )
            }
            _ => return Err(format!("unknown flag '{arg}'")),
        }
    }
    Ok(args)
}

/// Our binaries: beside this one (`target/debug/`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    for d in [dir, dir.parent().unwrap_or(dir)] {
        let p = d.join(name);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{name} is missing beside {}: build the workspace binaries first",
        exe.display()
    );
}

/// The record's clock (the scheduler writes `time.time()`).
fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .expect("log file")
}

struct Campaign {
    dir: PathBuf,
    zk: ZooKeeperServer,
    masters: Vec<(u16, Option<Spawned>)>,
    agents: Vec<(u16, Option<Spawned>)>,
    scheduler: Option<Spawned>,
    /// Tasks whose executor this campaign killed.
    executor_killed: BTreeSet<String>,
    /// When an agent was killed or terminated (seconds since the epoch).
    agent_stops: Vec<f64>,
    /// Masters that exited by themselves and were started again.
    master_restarts: usize,
}

impl Campaign {
    fn zk_url(&self) -> String {
        format!("zk://{}/mesos", self.zk.connect_string())
    }

    fn spawn_master(&self, i: usize) -> Spawned {
        let port = self.masters[i].0;
        let log = log_file(&self.dir, &format!("master{i}.log"));
        let child = Command::new(binary("mesos-master"))
            .arg("--ip=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--zk={}", self.zk_url()))
            .arg("--quorum=1")
            .arg(format!("--zk_session_timeout={SESSION_TIMEOUT}"))
            .arg(format!(
                "--work_dir={}",
                self.dir.join(format!("master{i}")).display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn mesos-master");
        Spawned {
            name: format!("master{i}"),
            child,
        }
    }

    fn spawn_agent(&self, i: usize) -> Spawned {
        let port = self.agents[i].0;
        let log = log_file(&self.dir, &format!("agent{i}.log"));
        let child = Command::new(binary("mesos-agent"))
            .arg(format!("--master={}", self.zk_url()))
            .arg(format!("--zk_session_timeout={SESSION_TIMEOUT}"))
            .arg("--ip=127.0.0.1")
            .arg("--hostname=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!(
                "--work_dir={}",
                self.dir.join(format!("agent{i}")).display()
            ))
            .arg("--resources=cpus:2;mem:1024;disk:1024;ports:[31000-32000]")
            .arg("--registration_backoff_factor=10ms")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn mesos-agent");
        Spawned {
            name: format!("agent{i}"),
            child,
        }
    }

    fn spawn_scheduler(&self) -> Spawned {
        let log = log_file(&self.dir, "scheduler.log");
        let child = Command::new(venv_python())
            .arg(client_script("pymesos_campaign_scheduler.py"))
            .arg(format!("--master={}", self.zk_url()))
            .arg(format!("--record={}", self.record_path().display()))
            .arg(format!(
                "--framework-id-file={}",
                self.dir.join("framework_id").display()
            ))
            .arg(format!("--control-dir={}", self.control_dir().display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn the campaign scheduler");
        Spawned {
            name: "scheduler".into(),
            child,
        }
    }

    fn record_path(&self) -> PathBuf {
        self.dir.join("record.jsonl")
    }

    fn control_dir(&self) -> PathBuf {
        self.dir.join("control")
    }

    fn control(&self, name: &str) {
        std::fs::write(self.control_dir().join(name), b"").expect("control file");
    }

    fn record(&self) -> Vec<Value> {
        std::fs::read_to_string(self.record_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The leader's index and its `/master/state`.
    fn leader(&self) -> Option<(usize, Value)> {
        for (i, (port, proc_)) in self.masters.iter().enumerate() {
            if proc_.is_none() {
                continue;
            }
            let Ok(r) = http_get(&format!("127.0.0.1:{port}"), "/master/state") else {
                continue;
            };
            if r.status == 200 {
                if let Ok(state) = serde_json::from_slice::<Value>(&r.body) {
                    return Some((i, state));
                }
            }
        }
        None
    }

    /// A leader serves its state with both agents active and our framework
    /// connected and active, and every process we run is alive.
    fn converged(&mut self) -> Result<bool, String> {
        // A master exits on purpose when its ZooKeeper session expires or
        // its registry fails (upstream's "committing suicide"); like the
        // supervisor every deployment runs masters under, start it again.
        for name in self.restart_exited_masters() {
            println!("  {name} exited (session or registry loss); restarted");
            self.master_restarts += 1;
        }
        self.check_alive()?;
        let Some((_, state)) = self.leader() else {
            return Ok(false);
        };
        let agents = state["slaves"]
            .as_array()
            .map(|a| a.iter().filter(|s| s["active"] == true).count())
            .unwrap_or(0);
        let framework_id = std::fs::read_to_string(self.dir.join("framework_id")).ok();
        let framework_ok = state["frameworks"].as_array().is_some_and(|fs| {
            fs.iter().any(|f| {
                Some(f["id"].as_str().unwrap_or_default()) == framework_id.as_deref()
                    && f["active"] == true
                    && f["connected"] != false
            })
        });
        Ok(agents == self.agents.len() && framework_ok)
    }

    fn check_alive(&mut self) -> Result<(), String> {
        let mut procs: Vec<&mut Spawned> = Vec::new();
        for (_, p) in self.masters.iter_mut().chain(self.agents.iter_mut()) {
            if let Some(p) = p.as_mut() {
                procs.push(p);
            }
        }
        if let Some(p) = self.scheduler.as_mut() {
            procs.push(p);
        }
        for p in procs {
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(format!("{} exited unexpectedly: {status}", p.name));
            }
        }
        Ok(())
    }

    fn wait_converged(&mut self) -> Result<Duration, String> {
        let start = Instant::now();
        while start.elapsed() < CONVERGE_TIMEOUT {
            if self.converged()? {
                return Ok(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "the cluster did not converge within {CONVERGE_TIMEOUT:?}"
        ))
    }

    fn wait_exit(p: &mut Spawned, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = p.child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("{} did not exit within {timeout:?}", p.name))
    }

    /// Non-terminal tasks (per the record) whose sandbox `pid` file names
    /// a live process: (task, agent index, its executor's pid).
    fn running_executors(&self) -> Vec<(String, usize, u32)> {
        let record = self.record();
        let fid = std::fs::read_to_string(self.dir.join("framework_id")).unwrap_or_default();
        let mut terminal = BTreeSet::new();
        let mut running = BTreeSet::new();
        for e in &record {
            if e["event"] == "update" {
                let task = e["task_id"].as_str().unwrap_or_default().to_string();
                let state = e["state"].as_str().unwrap_or_default();
                if is_terminal(state) {
                    terminal.insert(task);
                } else if state == "TASK_RUNNING" {
                    running.insert(task);
                }
            }
        }
        let mut out = Vec::new();
        for task in running.difference(&terminal) {
            for i in 0..self.agents.len() {
                let slaves = self.dir.join(format!("agent{i}/slaves"));
                let Ok(entries) = std::fs::read_dir(&slaves) else {
                    continue;
                };
                for slave in entries.flatten() {
                    let pid_file = slave
                        .path()
                        .join("frameworks")
                        .join(fid.trim())
                        .join("executors")
                        .join(task)
                        .join("runs/latest/pid");
                    let Some(pid) = std::fs::read_to_string(&pid_file)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok())
                    else {
                        continue;
                    };
                    // The command executor leads its task's session.
                    if let Some(sid) = session_of(pid) {
                        if sid != pid && is_executor(sid) {
                            out.push((task.clone(), i, sid));
                        }
                    }
                }
            }
        }
        out
    }

    fn inject(&mut self, fault: Fault, rng: &mut Rng) -> Result<String, String> {
        match fault {
            Fault::KillLeader => {
                // A master may have exited (and been restarted) since the
                // last convergence; wait for the leader rather than abort.
                if self.leader().is_none() {
                    self.wait_converged()?;
                }
                let (i, _) = self.leader().ok_or("no leader before the fault")?;
                let mut p = self.masters[i].1.take().ok_or("leader not running")?;
                signal(p.child.id(), "KILL");
                Self::wait_exit(&mut p, Duration::from_secs(10))?;
                drop(p);
                std::thread::sleep(Duration::from_millis(200 + rng.below(1500)));
                self.masters[i].1 = Some(self.spawn_master(i));
                Ok(format!("SIGKILL leading master{i}, restarted"))
            }
            Fault::KillAgent | Fault::TermAgent => {
                let sig = if matches!(fault, Fault::KillAgent) {
                    "KILL"
                } else {
                    "TERM"
                };
                let i = rng.below(self.agents.len() as u64) as usize;
                let mut p = self.agents[i].1.take().ok_or("agent not running")?;
                self.agent_stops.push(now_secs());
                signal(p.child.id(), sig);
                Self::wait_exit(&mut p, Duration::from_secs(30))?;
                drop(p);
                std::thread::sleep(Duration::from_millis(200 + rng.below(2000)));
                self.agents[i].1 = Some(self.spawn_agent(i));
                Ok(format!("SIG{sig} agent{i}, restarted"))
            }
            Fault::KillExecutor => {
                let candidates = self.running_executors();
                if candidates.is_empty() {
                    return Ok("kill executor: no running task right now (no-op)".into());
                }
                let (task, i, pid) =
                    candidates[rng.below(candidates.len() as u64) as usize].clone();
                self.executor_killed.insert(task.clone());
                signal(pid, "KILL");
                Ok(format!("SIGKILL executor {pid} of {task} on agent{i}"))
            }
            Fault::PauseMaster => {
                let running: Vec<usize> = (0..self.masters.len())
                    .filter(|i| self.masters[*i].1.is_some())
                    .collect();
                let i = running[rng.below(running.len() as u64) as usize];
                let pid = self.masters[i]
                    .1
                    .as_ref()
                    .map(|p| p.child.id())
                    .unwrap_or(0);
                let pause = Duration::from_millis(1000 + rng.below(4000));
                let leader = self.leader().map(|(l, _)| l) == Some(i);
                signal(pid, "STOP");
                std::thread::sleep(pause);
                signal(pid, "CONT");
                Ok(format!(
                    "SIGSTOP master{i}{} for {pause:?}, SIGCONT",
                    if leader { " (leader)" } else { "" }
                ))
            }
            Fault::PauseAgent => {
                let i = rng.below(self.agents.len() as u64) as usize;
                let pid = self.agents[i].1.as_ref().map(|p| p.child.id()).unwrap_or(0);
                let pause = Duration::from_millis(1000 + rng.below(4000));
                signal(pid, "STOP");
                std::thread::sleep(pause);
                signal(pid, "CONT");
                Ok(format!("SIGSTOP agent{i} for {pause:?}, SIGCONT"))
            }
            Fault::RestartZooKeeper => {
                self.zk.stop();
                std::thread::sleep(Duration::from_millis(200 + rng.below(2000)));
                self.zk.restart();
                Ok("ZooKeeper stopped and restarted".into())
            }
            Fault::KillScheduler => {
                let mut p = self.scheduler.take().ok_or("scheduler not running")?;
                signal(p.child.id(), "KILL");
                Self::wait_exit(&mut p, Duration::from_secs(10))?;
                drop(p);
                std::thread::sleep(Duration::from_millis(200 + rng.below(1500)));
                self.scheduler = Some(self.spawn_scheduler());
                Ok("SIGKILL scheduler, restarted with its framework id".into())
            }
        }
    }

    /// Restores a master that left after a pause (it may exit on purpose
    /// when it finds its ZooKeeper session expired) by starting it again.
    fn restart_exited_masters(&mut self) -> Vec<String> {
        let mut restarted = Vec::new();
        for i in 0..self.masters.len() {
            let exited = self.masters[i]
                .1
                .as_mut()
                .is_some_and(|p| matches!(p.child.try_wait(), Ok(Some(_))));
            if exited {
                self.masters[i].1 = Some(self.spawn_master(i));
                restarted.push(format!("master{i}"));
            }
        }
        restarted
    }
}

fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "TASK_FINISHED"
            | "TASK_FAILED"
            | "TASK_KILLED"
            | "TASK_LOST"
            | "TASK_ERROR"
            | "TASK_DROPPED"
            | "TASK_GONE"
            | "TASK_GONE_BY_OPERATOR"
    )
}

fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    fields.get(3)?.parse().ok()
}

fn is_executor(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("mesos-executor"))
        .unwrap_or(false)
}

/// What the record says about each launched task.
#[derive(Default, Debug)]
struct TaskRecord {
    /// An update from its executor: the task ran.
    reached_agent: bool,
    /// The first terminal state delivered as a status update.
    terminal_update: Option<String>,
    /// A terminal state answered only by reconciliation.
    reconciled: Option<String>,
    /// Terminal updates with different uuids (a second terminal update).
    terminal_uuids: BTreeSet<String>,
    /// When the launch was sent (the record's clock, seconds).
    launched_at: f64,
    /// The first terminal update's reason, source and time.
    terminal_reason: Option<String>,
    terminal_source: Option<String>,
    terminal_at: f64,
}

impl TaskRecord {
    /// The agent failed a task whose executor never reported, because the
    /// executor was gone when the agent came back: an agent stopped between
    /// starting the executor and seeing it subscribe. Upstream reports
    /// TASK_FAILED (executor terminated) then too.
    fn failed_by_an_agent_restart(&self, agent_stops: &[f64]) -> bool {
        self.terminal_update.as_deref() == Some("TASK_FAILED")
            && self.terminal_source.as_deref() == Some("SOURCE_AGENT")
            && self.terminal_reason.as_deref() == Some("REASON_EXECUTOR_TERMINATED")
            && agent_stops
                .iter()
                .any(|t| *t >= self.launched_at && *t <= self.terminal_at)
    }
}

fn judge(record: &[Value]) -> BTreeMap<String, TaskRecord> {
    let mut tasks: BTreeMap<String, TaskRecord> = BTreeMap::new();
    for e in record {
        let task = e["task_id"].as_str().unwrap_or_default().to_string();
        match e["event"].as_str() {
            Some("launch") => {
                tasks.entry(task).or_default().launched_at = e["time"].as_f64().unwrap_or_default();
            }
            Some("update") => {
                let t = tasks.entry(task).or_default();
                let state = e["state"].as_str().unwrap_or_default().to_string();
                // An answer to explicit reconciliation carries no uuid; the
                // agent's own "task unknown to the agent" update after it
                // re-registers is a real update (with a uuid to acknowledge).
                let reconciliation = e["reason"] == "REASON_RECONCILIATION" && e["uuid"].is_null();
                if e["source"] == "SOURCE_EXECUTOR"
                    || matches!(state.as_str(), "TASK_RUNNING" | "TASK_STARTING")
                {
                    t.reached_agent = true;
                }
                if is_terminal(&state) {
                    if reconciliation {
                        t.reconciled.get_or_insert(state);
                    } else {
                        if let Some(uuid) = e["uuid"].as_str() {
                            t.terminal_uuids.insert(uuid.to_string());
                        }
                        if t.terminal_update.is_none() {
                            t.terminal_reason = e["reason"].as_str().map(str::to_string);
                            t.terminal_source = e["source"].as_str().map(str::to_string);
                            t.terminal_at = e["time"].as_f64().unwrap_or_default();
                        }
                        t.terminal_update.get_or_insert(state);
                    }
                }
            }
            _ => {}
        }
    }
    tasks
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("campaign aborted: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let tmp = tempfile::Builder::new()
        .prefix("mesos-fault-campaign-")
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))?;
    let dir = tmp.path().to_path_buf();
    println!("work dir: {} (seed {})", dir.display(), args.seed);
    std::fs::create_dir_all(dir.join("control")).map_err(|e| e.to_string())?;
    let zk = ZooKeeperServer::start();
    let mut c = Campaign {
        dir: dir.clone(),
        zk,
        masters: (0..3).map(|_| (free_port(), None)).collect(),
        agents: (0..2).map(|_| (free_port(), None)).collect(),
        scheduler: None,
        executor_killed: BTreeSet::new(),
        agent_stops: Vec::new(),
        master_restarts: 0,
    };
    for i in 0..3 {
        c.masters[i].1 = Some(c.spawn_master(i));
    }
    for i in 0..2 {
        c.agents[i].1 = Some(c.spawn_agent(i));
    }
    // pymesos' detector gives up on a `/mesos` that does not exist yet, so
    // the scheduler starts once a master leads (as a deployment would).
    let started = Instant::now();
    while c.leader().is_none() {
        if started.elapsed() > CONVERGE_TIMEOUT {
            return Err("no master was elected".into());
        }
        c.check_alive()?;
        std::thread::sleep(Duration::from_millis(100));
    }
    c.scheduler = Some(c.spawn_scheduler());
    let first = c.wait_converged();
    let result = first.and_then(|t| {
        println!("cluster up in {t:?}");
        campaign(&mut c, args)
    });
    let ok = match result {
        Ok(ok) => ok,
        Err(e) => {
            println!("campaign failed: {e}");
            println!("logs kept in {}", dir.display());
            print_tails(&dir);
            std::mem::forget(tmp);
            return Err(e);
        }
    };
    println!("total time {:?}", started.elapsed());
    // Stop the scheduler (it tears its framework down), then the cluster.
    c.control("exit");
    if let Some(mut p) = c.scheduler.take() {
        let _ = Campaign::wait_exit(&mut p, Duration::from_secs(20));
    }
    for (_, a) in c.agents.iter_mut() {
        if let Some(p) = a.take() {
            // SIGUSR1: the agent's graceful shutdown, which stops executors.
            signal(p.child.id(), "USR1");
            let mut p = p;
            let _ = Campaign::wait_exit(&mut p, Duration::from_secs(20));
        }
    }
    if !ok || args.keep {
        println!("logs kept in {}", dir.display());
        std::mem::forget(tmp);
    }
    Ok(ok)
}

fn print_tails(dir: &Path) {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    for p in names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
    {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        println!("---- {} (last lines) ----", p.display());
        for l in &lines[lines.len().saturating_sub(30)..] {
            println!("{l}");
        }
    }
}

fn campaign(c: &mut Campaign, args: &Args) -> Result<bool, String> {
    let mut rng = Rng(args.seed);
    let mut timings: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for n in 1..=args.faults {
        // Let tasks start between faults.
        std::thread::sleep(Duration::from_millis(500 + rng.below(2500)));
        let fault = FAULTS[rng.below(FAULTS.len() as u64) as usize];
        let at = Instant::now();
        let what = c.inject(fault, &mut rng)?;
        println!("fault {n:>4} {:<16} {what}", format!("{fault:?}"));
        let converge = c.wait_converged()?;
        let total = at.elapsed();
        println!(
            "           converged in {:>7.2}s (fault+heal {:>6.2}s)",
            converge.as_secs_f64(),
            total.as_secs_f64(),
        );
        timings.entry(format!("{fault:?}")).or_default().push(total);
    }

    // Drain: no new tasks, then every task's terminal update.
    c.control("stop-launching");
    let drain_start = Instant::now();
    let drain_deadline = Duration::from_secs(240);
    let mut last_reconcile = Instant::now();
    loop {
        let tasks = judge(&c.record());
        let pending: Vec<&String> = tasks
            .iter()
            .filter(|(_, t)| t.terminal_update.is_none() && t.reconciled.is_none())
            .map(|(k, _)| k)
            .collect();
        let undelivered = tasks
            .values()
            .filter(|t| t.reached_agent && t.terminal_update.is_none())
            .count();
        if pending.is_empty() && undelivered == 0 {
            break;
        }
        if drain_start.elapsed() > drain_deadline {
            println!("drain timed out; pending: {pending:?}");
            break;
        }
        // Tasks the cluster never heard of get their answer by
        // reconciliation; ask every 10 s.
        if last_reconcile.elapsed() > Duration::from_secs(10) {
            c.control("reconcile");
            last_reconcile = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
        // The last fault may still cost a master its ZooKeeper session
        // (it exits on purpose); its supervisor would start it again.
        for name in c.restart_exited_masters() {
            println!("  {name} exited during the drain (session or registry loss); restarted");
            c.master_restarts += 1;
        }
        c.check_alive()?;
    }
    let drain = drain_start.elapsed();

    let tasks = judge(&c.record());
    let mut lost = Vec::new();
    let mut unexpected = Vec::new();
    let mut duplicated = Vec::new();
    let mut launch_lost = 0;
    let mut finished = 0;
    let mut failed = 0;
    for (id, t) in &tasks {
        let killed = c.executor_killed.contains(id);
        match (&t.terminal_update, &t.reconciled, t.reached_agent) {
            // The launch was lost before its executor started (it reached
            // an agent that was going down, or a master that died): the
            // scheduler must hear a terminal LOST/DROPPED for it, or FAILED
            // when its agent stopped before the executor subscribed.
            (Some(state), _, false) if !killed && state != "TASK_FINISHED" => {
                if !matches!(state.as_str(), "TASK_LOST" | "TASK_DROPPED")
                    && !t.failed_by_an_agent_restart(&c.agent_stops)
                {
                    unexpected.push(format!("{id}: {state} before it started"));
                }
                launch_lost += 1;
            }
            (Some(state), _, _) => {
                let expected = if killed {
                    state == "TASK_FAILED" || state == "TASK_FINISHED"
                } else {
                    state == "TASK_FINISHED"
                };
                if !expected {
                    unexpected.push(format!("{id}: {state} (executor killed: {killed})"));
                }
                if state == "TASK_FINISHED" {
                    finished += 1;
                } else {
                    failed += 1;
                }
            }
            // The launch never reached an agent (lost with a master
            // failover); reconciliation must say so with a terminal state.
            (None, Some(_), false) => launch_lost += 1,
            (None, _, true) => lost.push(format!("{id}: reached an agent, no terminal update")),
            (None, None, false) => lost.push(format!("{id}: no terminal state at all")),
        }
        if t.terminal_uuids.len() > 1 {
            duplicated.push(id.clone());
        }
    }
    let errors = c.record().iter().filter(|e| e["event"] == "error").count();
    for (fault, ts) in &timings {
        let max = ts.iter().max().copied().unwrap_or_default();
        let mean = ts.iter().sum::<Duration>() / ts.len().max(1) as u32;
        println!(
            "  {fault:<16} n={:<4} mean={:>6.2}s max={:>6.2}s",
            ts.len(),
            mean.as_secs_f64(),
            max.as_secs_f64()
        );
    }
    for l in lost.iter().chain(unexpected.iter()) {
        println!("  problem: {l}");
    }
    println!(
        "faults={} seed={} tasks={} finished={} failed={} executor_kills={} launch_lost={} \
         lost_terminal_updates={} unexpected_terminal_states={} second_terminal_updates={} \
         framework_errors={} master_exits={} drain={:.1}s",
        args.faults,
        args.seed,
        tasks.len(),
        finished,
        failed,
        c.executor_killed.len(),
        launch_lost,
        lost.len(),
        unexpected.len(),
        duplicated.len(),
        errors,
        c.master_restarts,
        drain.as_secs_f64()
    );
    Ok(lost.is_empty() && unexpected.is_empty() && duplicated.is_empty() && errors == 0)
}
