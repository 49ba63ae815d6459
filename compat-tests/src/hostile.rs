//! Hostile inputs against real processes, shared by the regression tests
//! (`tests/hostile_inputs.rs`, which assert wide bounds) and the
//! `bench-hostile` binary (which prints the precise figures).
//!
//! Every scenario starts its own `mesos-master` / `mesos-agent` on loopback
//! and kills them by pid when done.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message as _;

use crate::{free_port, http_get, http_request, our_binary, wait_for, Spawned};

/// One started process with its address and scratch directory.
pub struct Proc {
    pub addr: String,
    pub pid: u32,
    pub work_dir: PathBuf,
    _spawned: Spawned,
    _tmp: tempfile::TempDir,
}

impl Proc {
    /// Resident set size in KiB, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> u64 {
        status_kib(self.pid, "VmRSS:")
    }

    /// Peak resident set size in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        status_kib(self.pid, "VmHWM:")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.work_dir.join("log")).unwrap_or_default()
    }
}

/// The directory of the daemons the hostile-input tests start, when not the
/// test's own profile.
pub const BINARIES: &str = "MESOS_HOSTILE_BINARIES";

/// Whether the daemons started are optimized builds: those of this
/// profile, or of the directory [`BINARIES`] names (trusted to be release).
pub fn release_daemons() -> bool {
    !cfg!(debug_assertions) || std::env::var_os(BINARIES).is_some()
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Where `MESOS_HOSTILE_BINARIES` names a directory of our binaries (a
/// debug test measuring release daemons), else a binary beside the running
/// one (the benchmark lives in `target/<profile>`), else where the tests
/// find it (`target/<profile>/deps/..`).
fn binary_path(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(BINARIES) {
        let path = PathBuf::from(dir).join(name);
        assert!(
            path.exists(),
            "{BINARIES} names no {}: build it first",
            path.display()
        );
        return path;
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)));
    match beside {
        Some(path) if path.exists() => path,
        _ => our_binary(name),
    }
}

fn start(binary: &str, flags: &[String]) -> Proc {
    let tmp = tempfile::tempdir().expect("tempdir");
    let work_dir = tmp.path().to_path_buf();
    let port = free_port();
    let log = std::fs::File::create(work_dir.join("log")).expect("log");
    let child = Command::new(binary_path(binary))
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--work_dir={}", work_dir.join("work").display()))
        .args(flags)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let addr = format!("127.0.0.1:{port}");
    wait_for(Duration::from_secs(30), "/health", || {
        http_get(&addr, "/health")
            .map(|r| r.status == 200)
            .unwrap_or(false)
    });
    Proc {
        addr,
        pid,
        work_dir,
        _spawned: Spawned {
            name: binary.to_string(),
            child,
        },
        _tmp: tmp,
    }
}

pub fn start_master(flags: &[String]) -> Proc {
    start("mesos-master", flags)
}

/// An agent of `master`, with a small resource set and fast registration.
pub fn start_agent(master: &str, flags: &[String]) -> Proc {
    let mut all = vec![
        format!("--master={master}"),
        "--hostname=127.0.0.1".to_string(),
        "--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]".to_string(),
        "--registration_backoff_factor=10ms".to_string(),
    ];
    all.extend_from_slice(flags);
    start("mesos-agent", &all)
}

/// Wall time of one GET (a failed request counts as `None`).
pub fn timed_get(addr: &str, path: &str) -> (Option<u16>, Duration) {
    let start = Instant::now();
    let status = http_get(addr, path).ok().map(|r| r.status);
    (status, start.elapsed())
}

/// Figures of the 60,000-resource registration.
#[derive(Debug)]
pub struct ResourceFlood {
    pub resources: usize,
    pub message_bytes: usize,
    /// From the POST until the agent appears in `/master/slaves`.
    pub registration: Duration,
    /// Slowest `/health` while the registration was processed and after.
    pub health_max: Duration,
    /// Each of two `/master/slaves` requests.
    pub slaves: [Duration; 2],
    pub rss_kib: u64,
}

/// Sends one `RegisterSlaveMessage` with `n` distinct scalar resources.
pub fn resource_flood(master: &Proc, n: usize) -> ResourceFlood {
    use mesos_proto::mesos::internal::RegisterSlaveMessage;
    use mesos_proto::mesos::{self as v0, value};
    let resources: Vec<v0::Resource> = (0..n)
        .map(|i| v0::Resource {
            name: format!("r{i}"),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: 1.0 }),
            ..Default::default()
        })
        .collect();
    let message = RegisterSlaveMessage {
        slave: v0::SlaveInfo {
            hostname: "hostile".into(),
            port: Some(1),
            resources,
            ..Default::default()
        },
        version: Some("1.11.0".into()),
        ..Default::default()
    };
    let body = message.encode_to_vec();
    let start = Instant::now();
    let r = http_request(
        &master.addr,
        "POST",
        "/master/mesos.internal.RegisterSlaveMessage",
        &[("Libprocess-From", "slave(1)@127.0.0.1:1")],
        &body,
    )
    .expect("post");
    assert_eq!(r.status, 202, "{}", r.text());
    let mut health_max = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(120);
    let registration = loop {
        let (status, took) = timed_get(&master.addr, "/health");
        health_max = health_max.max(took);
        assert_eq!(status, Some(200), "/health failed");
        let listed = http_get(&master.addr, "/master/state-summary")
            .ok()
            .map(|r| r.json())
            .and_then(|s| s["slaves"].as_array().map(|a| !a.is_empty()))
            .unwrap_or(false);
        if listed {
            break start.elapsed();
        }
        assert!(Instant::now() < deadline, "agent never registered");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut slaves = [Duration::ZERO; 2];
    for took in &mut slaves {
        // Not `http_get`: its 30 s read timeout is shorter than an
        // unoptimised build needs here.
        let start = Instant::now();
        let mut s = TcpStream::connect(&master.addr).expect("connect");
        s.write_all(b"GET /master/slaves HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        assert!(answer.starts_with(b"HTTP/1.1 200"), "/master/slaves failed");
        *took = start.elapsed();
    }
    for _ in 0..20 {
        let (status, took) = timed_get(&master.addr, "/health");
        assert_eq!(status, Some(200));
        health_max = health_max.max(took);
    }
    ResourceFlood {
        resources: n,
        message_bytes: body.len(),
        registration,
        health_max,
        slaves,
        rss_kib: master.rss_kib(),
    }
}

/// Raises this process's open-file limit to its hard limit (or `want`).
pub fn raise_nofile(want: u64) -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/limits") else {
        return 0;
    };
    let hard = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1024);
    let target = want.min(hard);
    // `prlimit` (util-linux) sets the limit of a running pid without unsafe code.
    let _ = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={target}:{hard}"))
        .status();
    target
}

/// Figures of the idle-connection flood.
#[derive(Debug)]
pub struct IdleFlood {
    pub opened: usize,
    pub still_open: usize,
    pub health: Vec<Duration>,
}

/// Opens `n` idle connections (half of them having sent a partial request
/// head), then times `/health` on fresh connections.
pub fn idle_flood(target: &Proc, n: usize) -> IdleFlood {
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        match TcpStream::connect(&target.addr) {
            Ok(mut s) => {
                if i % 2 == 0 {
                    let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n");
                }
                held.push(s);
            }
            Err(_) => break,
        }
    }
    let opened = held.len();
    let mut health = Vec::new();
    for _ in 0..10 {
        let (status, took) = timed_get(&target.addr, "/health");
        assert_eq!(status, Some(200), "/health with {opened} idle connections");
        health.push(took);
    }
    // How many of ours the server still keeps (shed ones read EOF).
    let mut still_open = 0;
    for s in &mut held {
        let _ = s.set_nonblocking(true);
        let mut byte = [0u8; 1];
        match s.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => still_open += 1,
            _ => {}
        }
    }
    IdleFlood {
        opened,
        still_open,
        health,
    }
}

/// Figures of the large-body flood.
#[derive(Debug)]
pub struct BodyFlood {
    pub bodies: usize,
    pub body_bytes: usize,
    pub rss_before_kib: u64,
    pub peak_rss_kib: u64,
    pub rss_after_kib: u64,
    pub statuses: Vec<Option<u16>>,
}

/// Sends `count` concurrent POSTs of `bytes` each to `path`.
pub fn body_flood(target: &Proc, path: &str, count: usize, bytes: usize) -> BodyFlood {
    let rss_before_kib = target.rss_kib();
    let chunk = vec![b'x'; 1 << 20];
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let addr = target.addr.clone();
            let path = path.to_string();
            let chunk = chunk.clone();
            std::thread::spawn(move || -> Option<u16> {
                let mut s = TcpStream::connect(&addr).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
                let head = format!(
                    "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
                     Content-Type: application/json\r\nContent-Length: {bytes}\r\n\r\n"
                );
                s.write_all(head.as_bytes()).ok()?;
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if s.write_all(&chunk[..n]).is_err() {
                        break; // refused early: read the answer
                    }
                    left -= n;
                }
                let mut r = std::io::BufReader::new(s);
                crate::read_response_head(&mut r)
                    .ok()
                    .map(|(status, _)| status)
            })
        })
        .collect();
    let statuses = threads
        .into_iter()
        .map(|t| t.join().unwrap_or(None))
        .collect();
    BodyFlood {
        bodies: count,
        body_bytes: bytes,
        rss_before_kib,
        peak_rss_kib: target.peak_rss_kib(),
        rss_after_kib: target.rss_kib(),
        statuses,
    }
}
