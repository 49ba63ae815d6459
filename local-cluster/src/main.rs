//! `mesos-local`: a master and one agent on this machine, in one command.
//!
//! It starts the `mesos-master` and `mesos-agent` binaries that sit next to
//! it (as `cargo build --bins` leaves them), waits until the agent has
//! registered, prints where to look, and stops both (by pid) on Ctrl-C or
//! when either exits. It owns only those two child processes.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[derive(Parser, Debug)]
#[command(
    name = "mesos-local",
    about = "Run a local Mesos cluster: one master and one agent",
    rename_all = "snake_case"
)]
struct Flags {
    /// IP address the master and agent listen on.
    #[arg(long, default_value = "127.0.0.1")]
    ip: String,
    /// Master port.
    #[arg(long, default_value_t = 5050)]
    port: u16,
    /// Agent port.
    #[arg(long, default_value_t = 5051)]
    agent_port: u16,
    /// Where the master and agent keep their state and sandboxes
    /// (default: a fresh directory under the system temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Agent resources in the `--resources` format; detected when unset.
    #[arg(long)]
    resources: Option<String>,
}

struct Children(Vec<(String, Child)>);

/// How long each child gets to stop on its own before SIGKILL: the agent
/// shuts its executors down first (their grace period is 5 s by default).
const STOP_GRACE: Duration = Duration::from_secs(20);

impl Drop for Children {
    /// Stops the children newest first (the agent before the master). The
    /// agent gets SIGUSR1, its graceful shutdown that also stops every
    /// executor (SIGTERM would leave them running for recovery, which a
    /// throwaway local cluster does not want); the master gets SIGTERM.
    fn drop(&mut self) {
        for (name, child) in self.0.iter_mut().rev() {
            if let Ok(Some(_)) = child.try_wait() {
                continue;
            }
            let signal = if name == "mesos-agent" {
                Signal::SIGUSR1
            } else {
                Signal::SIGTERM
            };
            let pid = i32::try_from(child.id()).map(Pid::from_raw);
            let stopped = pid.is_ok_and(|pid| kill(pid, signal).is_ok())
                && wait_until(STOP_GRACE, || matches!(child.try_wait(), Ok(Some(_))));
            if !stopped {
                eprintln!("mesos-local: {name} did not stop within {STOP_GRACE:?}; killing it");
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let p = exe.with_file_name(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found next to mesos-local; build all binaries with `cargo build --release --bins`",
            p.display()
        ))
    }
}

fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A tiny GET that only needs the status line and body of a local endpoint.
fn get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.1 200").then_some(out)
}

fn run(flags: Flags) -> Result<(), String> {
    let work_dir = flags.work_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("mesos-local-{}", std::process::id()))
    });
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| format!("cannot create {}: {e}", work_dir.display()))?;
    let master_addr = format!("{}:{}", flags.ip, flags.port);
    let mut children = Children(Vec::new());

    let master = Command::new(sibling("mesos-master")?)
        .arg(format!("--ip={}", flags.ip))
        .arg(format!("--port={}", flags.port))
        .arg(format!("--work_dir={}", work_dir.join("master").display()))
        .spawn()
        .map_err(|e| format!("cannot start mesos-master: {e}"))?;
    children.0.push(("mesos-master".into(), master));
    if !wait_until(Duration::from_secs(20), || {
        get(&master_addr, "/health").is_some()
    }) {
        return Err(format!("mesos-master did not answer on {master_addr}"));
    }

    let mut agent = Command::new(sibling("mesos-agent")?);
    agent
        .arg(format!("--master={master_addr}"))
        .arg(format!("--ip={}", flags.ip))
        .arg(format!("--port={}", flags.agent_port))
        .arg(format!("--work_dir={}", work_dir.join("agent").display()));
    if let Some(r) = &flags.resources {
        agent.arg(format!("--resources={r}"));
    }
    let agent = agent
        .spawn()
        .map_err(|e| format!("cannot start mesos-agent: {e}"))?;
    children.0.push(("mesos-agent".into(), agent));
    let registered = wait_until(Duration::from_secs(30), || {
        get(&master_addr, "/master/state").is_some_and(|s| s.contains("\"slave(1)@"))
    });
    if !registered {
        return Err("the agent did not register with the master within 30 s".into());
    }

    println!();
    println!("Local Mesos cluster is up:");
    println!("  master  http://{master_addr}   (state: http://{master_addr}/master/state)");
    println!("  agent   http://{}:{}", flags.ip, flags.agent_port);
    println!("  work dir {}", work_dir.display());
    println!("Try:  target/release/mesos-execute --master={master_addr} --name=hello --command='echo hello'");
    println!("Ctrl-C stops both.");

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(|e| format!("signal: {e}"))?;
    }
    while !stop.load(Ordering::Relaxed) {
        for (name, child) in &mut children.0 {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{name} exited ({status}); stopping"));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("stopping");
    Ok(())
}

fn main() -> ExitCode {
    match run(Flags::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesos-local: {e}");
            ExitCode::FAILURE
        }
    }
}
