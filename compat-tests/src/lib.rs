//! Harness for behaviour seen from outside: it starts real `mesos-master`
//! and `mesos-agent` processes (or points at an already running cluster),
//! runs real client programs against them, and speaks raw HTTP so tests see
//! exactly what a client sees.
//!
//! Conformance kit: set `MESOS_COMPAT_MASTER=host:port` and
//! `MESOS_COMPAT_AGENT=host:port` to run the third-party client tests
//! against any running Mesos cluster (ours or upstream's) instead of
//! starting ours.
//!
//! Processes we start are killed by pid when their handle drops; nothing is
//! ever killed by name.

pub mod busy;
pub mod fixture;
pub mod hostile;
pub mod zookeeper;

pub use fixture::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed (by its pid) and reaped on drop.
pub struct Spawned {
    pub name: String,
    pub child: Child,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago on 127.0.0.1, for a process we start
/// to listen on.
///
/// It is taken below the kernel's ephemeral range: a port the kernel hands
/// out for `bind(0)` is also what it hands out as the local end of outgoing
/// connections, and one of the many connections the tests make could take
/// it between this call and the process's own bind. Ports are never handed
/// out twice by one test binary, whose tests run in parallel. The task port
/// range agents offer (31000-32000) is avoided too.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

    let (low, high) = listen_port_range();
    let state = RandomState::new();
    for attempt in 0u32..10_000 {
        let port = if high > low {
            low + (state.hash_one((std::process::id(), attempt)) % u64::from(high - low)) as u16
        } else {
            // No room below the ephemeral range on this machine: fall back to
            // a port the kernel picks.
            let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            l.local_addr().expect("local addr").port()
        };
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        let given = given.get_or_insert_with(HashSet::new);
        if given.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 in {low}..{high}");
}

/// `[low, high)` for [`free_port`]: from 10000 up to the start of the
/// kernel's ephemeral range, skipping agents' default task ports.
fn listen_port_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    (10_000, ephemeral_low.min(31_000))
}

/// The workspace's target directory for the current profile
/// (`target/debug` when this runs from `target/debug/deps/<test>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// Path of one of our binaries; fails loudly when it was not built, because
/// a silently skipped end-to-end test would prove nothing.
pub fn our_binary(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`)",
        p.display()
    );
    p
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python interpreter of the venv `.ci/setup-python.sh` creates.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("MESOS_COMPAT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"));
    let py = venv.join("bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import pymesos"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "pymesos is not installed in {}: run `bash .ci/setup-python.sh` first",
        venv.display()
    );
    py
}

pub fn client_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(name)
}

/// A master and one agent: either started here, or given by
/// `MESOS_COMPAT_MASTER` / `MESOS_COMPAT_AGENT`.
pub struct Cluster {
    pub master: String,
    pub agent: String,
    pub work_dir: PathBuf,
    pub external: bool,
    procs: Vec<Spawned>,
    /// The agent's command line, so it can be restarted the same way.
    agent_args: Vec<String>,
    _tmp: Option<tempfile::TempDir>,
}

pub struct ClusterOptions {
    pub agent_resources: String,
    pub agent_flags: Vec<String>,
    pub master_flags: Vec<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            agent_resources: "cpus:4;mem:4096;disk:4096;ports:[31000-32000]".into(),
            agent_flags: Vec::new(),
            master_flags: Vec::new(),
        }
    }
}

impl Cluster {
    /// A cluster for the third-party client tests: external when the
    /// conformance-kit variables are set, else ours.
    pub fn for_clients() -> Cluster {
        match (
            std::env::var("MESOS_COMPAT_MASTER"),
            std::env::var("MESOS_COMPAT_AGENT"),
        ) {
            (Ok(master), Ok(agent)) => Cluster {
                master,
                agent,
                work_dir: PathBuf::new(),
                external: true,
                procs: Vec::new(),
                agent_args: Vec::new(),
                _tmp: None,
            },
            _ => Cluster::start(ClusterOptions::default()),
        }
    }

    /// Starts our master and one agent on free loopback ports and waits until
    /// the agent has registered.
    pub fn start(opts: ClusterOptions) -> Cluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let work_dir = tmp.path().to_path_buf();
        let mport = free_port();
        let aport = free_port();
        let mlog = std::fs::File::create(work_dir.join("master.log")).expect("log");
        let master = Command::new(our_binary("mesos-master"))
            .arg("--ip=127.0.0.1")
            .arg(format!("--port={mport}"))
            .arg(format!("--work_dir={}", work_dir.join("master").display()))
            .args(&opts.master_flags)
            .stdout(mlog.try_clone().expect("log"))
            .stderr(mlog)
            .spawn()
            .expect("spawn mesos-master");
        let master = Spawned {
            name: "mesos-master".into(),
            child: master,
        };
        let master_addr = format!("127.0.0.1:{mport}");
        let mut agent_args = vec![
            format!("--master={master_addr}"),
            "--ip=127.0.0.1".to_string(),
            "--hostname=127.0.0.1".to_string(),
            format!("--port={aport}"),
            format!("--work_dir={}", work_dir.join("agent").display()),
            format!("--resources={}", opts.agent_resources),
            "--registration_backoff_factor=10ms".to_string(),
        ];
        agent_args.extend(opts.agent_flags.iter().cloned());
        let mut cluster = Cluster {
            master: master_addr,
            agent: format!("127.0.0.1:{aport}"),
            work_dir,
            external: false,
            procs: vec![master],
            agent_args,
            _tmp: Some(tmp),
        };
        cluster.wait_while_alive(Duration::from_secs(20), "master /health", |c| {
            http_get(&c.master, "/health")
                .map(|r| r.status == 200)
                .unwrap_or(false)
        });
        cluster.start_agent();
        cluster.wait_while_alive(Duration::from_secs(30), "agent registration", |c| {
            c.registered_agents() >= 1
        });
        cluster
    }

    /// Waits until `f` holds, failing at once, with both logs, when a
    /// process we started exits, and with both logs on the timeout: a bare
    /// timeout says nothing about why in CI.
    pub fn wait_while_alive(
        &mut self,
        timeout: Duration,
        what: &str,
        f: impl FnMut(&Cluster) -> bool,
    ) {
        self.wait_while_alive_or(timeout, what, f, String::new);
    }

    /// [`Cluster::wait_while_alive`], with `context` (a client's output,
    /// say) added to a failure's logs.
    pub fn wait_while_alive_or(
        &mut self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&Cluster) -> bool,
        context: impl Fn() -> String,
    ) {
        let deadline = Instant::now() + timeout;
        while !f(self) {
            let dead = self
                .procs
                .iter_mut()
                .find_map(|p| match p.child.try_wait() {
                    Ok(Some(status)) => Some(format!("{} exited: {status}", p.name)),
                    _ => None,
                });
            if let Some(dead) = dead {
                panic!(
                    "{dead} while waiting for {what}\n{}{}",
                    context(),
                    self.logs()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}{}",
                    context(),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the agent (again) with the command line it was first given,
    /// appending to `agent.log`.
    pub fn start_agent(&mut self) {
        let alog = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.work_dir.join("agent.log"))
            .expect("log");
        let agent = Command::new(our_binary("mesos-agent"))
            .args(&self.agent_args)
            .stdout(alog.try_clone().expect("log"))
            .stderr(alog)
            .spawn()
            .expect("spawn mesos-agent");
        self.procs.retain(|p| p.name != "mesos-agent");
        self.procs.push(Spawned {
            name: "mesos-agent".into(),
            child: agent,
        });
    }

    /// The agent process we started.
    fn agent_process(&mut self) -> &mut Spawned {
        self.procs
            .iter_mut()
            .find(|p| p.name == "mesos-agent")
            .expect("the agent was started here")
    }

    pub fn agent_pid(&mut self) -> u32 {
        self.agent_process().child.id()
    }

    /// Whether the agent process has exited (reaping it if so).
    pub fn agent_exited(&mut self) -> bool {
        matches!(self.agent_process().child.try_wait(), Ok(Some(_)))
    }

    /// Sends `signal` (e.g. "KILL", "TERM") to the agent by its pid and
    /// waits for it to exit.
    pub fn stop_agent(&mut self, signal: &str, timeout: Duration) -> std::process::ExitStatus {
        let pid = self.agent_pid();
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{signal} {pid} failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.agent_process().child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "agent did not exit within {timeout:?} of SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn registered_agents(&self) -> usize {
        self.master_state()
            .and_then(|s| s["slaves"].as_array().map(|a| a.len()))
            .unwrap_or(0)
    }

    pub fn master_state(&self) -> Option<serde_json::Value> {
        let r = http_get(&self.master, "/master/state").ok()?;
        serde_json::from_slice(&r.body).ok()
    }

    pub fn agent_state(&self) -> Option<serde_json::Value> {
        let r = http_get(&self.agent, "/slave(1)/state").ok()?;
        serde_json::from_slice(&r.body).ok()
    }

    /// Whether each started process is still alive (a crash is a failure).
    pub fn assert_alive(&mut self) {
        let mut dead = None;
        for p in &mut self.procs {
            if let Ok(Some(status)) = p.child.try_wait() {
                dead = Some(format!("{} exited: {status}", p.name));
            }
        }
        if let Some(d) = dead {
            panic!("{d}\n{}", self.logs());
        }
    }

    /// The master's and agent's logs, for failure messages.
    pub fn logs(&self) -> String {
        if self.external {
            return String::new();
        }
        let mut out = String::new();
        for name in ["master.log", "agent.log"] {
            let text = std::fs::read_to_string(self.work_dir.join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            out.push_str(&format!("---- {name} (last lines) ----\n"));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

pub fn wait_for(timeout: Duration, what: &str, f: impl FnMut() -> bool) {
    wait_for_or(timeout, what, f, String::new);
}

/// [`wait_for`], with `context` (logs, say) in the failure.
pub fn wait_for_or(
    timeout: Duration,
    what: &str,
    mut f: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "timed out after {timeout:?} waiting for {what}\n{}",
        context()
    );
}

/// One HTTP response as a client sees it.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

pub fn http_get(addr: &str, path: &str) -> std::io::Result<RawResponse> {
    http_request(addr, "GET", path, &[], &[])
}

/// A minimal HTTP/1.1 client over a fresh connection (`Connection: close`),
/// which reads a full response (Content-Length, chunked, or to EOF). Used for
/// non-streaming requests only.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<RawResponse> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut r = BufReader::new(s);
    read_response_head(&mut r).and_then(|(status, headers)| {
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok());
        let mut body = Vec::new();
        if chunked {
            loop {
                let size = read_chunk_size(&mut r)?;
                if size == 0 {
                    break;
                }
                let mut chunk = vec![0; size];
                r.read_exact(&mut chunk)?;
                body.extend_from_slice(&chunk);
                let mut crlf = [0u8; 2];
                r.read_exact(&mut crlf)?;
            }
        } else if let Some(n) = len {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        } else {
            r.read_to_end(&mut body)?;
        }
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    })
}

pub fn read_response_head(r: &mut impl BufRead) -> std::io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok((status, headers))
}

pub fn read_chunk_size(r: &mut impl BufRead) -> std::io::Result<usize> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let hex = line.trim().split(';').next().unwrap_or("");
    usize::from_str_radix(hex, 16)
        .map_err(|e| std::io::Error::other(format!("bad chunk size {line:?}: {e}")))
}

/// Runs a client program to completion (bounded by `timeout`), returning its
/// stdout lines that parse as JSON objects (the clients report through them)
/// and the whole output for failure messages.
pub fn run_client(
    mut cmd: Command,
    timeout: Duration,
) -> (Vec<serde_json::Value>, String, std::process::ExitStatus) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = out_t.join().unwrap_or_default();
    let err = err_t.join().unwrap_or_default();
    let events = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.is_object())
        .collect();
    (
        events,
        format!("--- stdout ---\n{out}\n--- stderr ---\n{err}"),
        status,
    )
}

/// A client program running in the background whose JSON stdout lines are
/// collected as they arrive; killed by pid on drop.
pub struct BackgroundClient {
    spawned: Spawned,
    events: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl BackgroundClient {
    pub fn start(mut cmd: Command) -> BackgroundClient {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn client");
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (ev, out) = (events.clone(), output.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v.is_object() {
                        ev.lock().unwrap_or_else(|e| e.into_inner()).push(v);
                    }
                }
                let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                o.push_str(&line);
                o.push('\n');
            }
        });
        let out = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                o.push_str(&line);
                o.push('\n');
            }
        });
        BackgroundClient {
            spawned: Spawned {
                name: "client".into(),
                child,
            },
            events,
            output,
        }
    }

    /// The JSON events reported so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits for the client to exit by itself.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.spawned.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// URL-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Where Debian installs the mesos-go sources (a GOPATH).
pub const DEBIAN_GOPATH: &str = "/usr/share/gocode";

/// Builds `clients/mesos-go-scheduler` (mesos-go 0.0.6's v0 driver, from
/// the Debian sources) into `out` and returns the binary's path. A missing
/// toolchain or missing sources fail: run `bash .ci/setup-go.sh`.
pub fn build_mesos_go_scheduler(out: &Path) -> PathBuf {
    let gopath = std::env::var("MESOS_COMPAT_GOPATH").unwrap_or_else(|_| DEBIAN_GOPATH.into());
    let go_ok = Command::new("go")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        go_ok,
        "the Go toolchain (`go`) is not installed: run `bash .ci/setup-go.sh`"
    );
    let sources = Path::new(&gopath).join("src/github.com/mesos/mesos-go/api/v0/scheduler");
    assert!(
        sources.is_dir(),
        "mesos-go sources are missing ({} does not exist): run `bash .ci/setup-go.sh`",
        sources.display()
    );
    let bin = out.join("mesos-go-scheduler");
    // A cache beside our build output keeps rebuilds fast and never depends
    // on $HOME.
    let cache = std::env::var_os("GOCACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("go-build-cache"));
    let result = Command::new("go")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("GOPATH", &gopath)
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", &cache)
        .args(["build", "-o"])
        .arg(&bin)
        .arg("./clients/mesos-go-scheduler")
        .output()
        .expect("run go build");
    assert!(
        result.status.success(),
        "building clients/mesos-go-scheduler failed:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    bin
}
