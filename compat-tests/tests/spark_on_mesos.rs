//! JVM frameworks through our `libmesos.so`: stock Spark 3.5 (pyspark
//! 3.5.9, which ships the upstream `mesos-1.4.3-shaded-protobuf.jar`) runs
//! SparkPi on our master and agent, and a Java framework of our own,
//! compiled with `javac` against that jar, exercises MesosSchedulerDriver
//! and MesosExecutorDriver: framework messages both ways, kill,
//! reconciliation, failover to a second driver under the same framework id,
//! stop, a callback that throws, and a master that is down at start.
//! SparkPi also runs on `mesos://zk://…` against three masters, and a Java
//! program keeps variables in a real ZooKeeper through `ZooKeeperState`.
//! A v1 Java framework runs on `V1Mesos` (also on `zk://` through a
//! leader's death) and on `V0Mesos`: SUBSCRIBE, a launch, acknowledgements
//! and TEARDOWN, a throwing callback, and no threads left once collected.
//!
//! Prerequisites fail loudly: `bash .ci/setup-spark.sh` (pyspark in
//! `MESOS_SPARK_VENV`, default `.spark-venv`), Java 17, and `libmesos.so`
//! built (`cargo build -p libmesos`; `MESOS_COMPAT_LIBMESOS` may name
//! another build, e.g. the glibc 2.28 one).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compat_tests::zookeeper::ZooKeeperServer;
use compat_tests::*;
use serde_json::Value;

fn libmesos() -> PathBuf {
    let lib = std::env::var_os("MESOS_COMPAT_LIBMESOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("libmesos.so"));
    assert!(
        lib.exists(),
        "{} is missing: build it with `cargo build -p libmesos`",
        lib.display()
    );
    lib
}

fn spark_venv() -> PathBuf {
    std::env::var_os("MESOS_SPARK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".spark-venv"))
}

/// `$SPARK_HOME`: the installed pyspark package.
fn spark_home() -> PathBuf {
    let lib = spark_venv().join("lib");
    let home = std::fs::read_dir(&lib)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages/pyspark"))
        .find(|p| p.join("bin/spark-submit").exists());
    home.unwrap_or_else(|| {
        panic!(
            "pyspark is not installed in {}: run `bash .ci/setup-spark.sh`",
            spark_venv().display()
        )
    })
}

fn mesos_jar() -> PathBuf {
    let jars = spark_home().join("jars");
    std::fs::read_dir(&jars)
        .expect("pyspark jars")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.starts_with("mesos-") && n.ends_with("-shaded-protobuf.jar"))
        })
        .unwrap_or_else(|| panic!("no mesos-*-shaded-protobuf.jar in {}", jars.display()))
}

/// Compiles the Java framework and executor into `out`.
fn compile_java(out: &Path) {
    let sources = client_script("java-framework");
    let result = Command::new("javac")
        .arg("-cp")
        .arg(mesos_jar())
        .arg("-d")
        .arg(out)
        .arg(sources.join("TestFramework.java"))
        .arg(sources.join("TestExecutor.java"))
        .output()
        .expect("javac (Java 17) must be installed");
    assert!(
        result.status.success(),
        "javac failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

fn framework_named<'a>(frameworks: &'a Value, name: &str) -> Option<&'a Value> {
    frameworks
        .as_array()?
        .iter()
        .find(|f| f["name"].as_str() == Some(name))
}

/// Starts `spark-submit --master <master> … pi.py <partitions>`, its
/// output going to `spark.out` and `spark.err` in `dir`.
fn spawn_spark_pi(master: &str, dir: &Path, partitions: u32) -> std::process::Child {
    let home = spark_home();
    let python = spark_venv().join("bin/python");
    let out = std::fs::File::create(dir.join("spark.out")).expect("out");
    let err = std::fs::File::create(dir.join("spark.err")).expect("err");
    let py = path_str(&python);
    Command::new(home.join("bin/spark-submit"))
        .env("MESOS_NATIVE_JAVA_LIBRARY", libmesos())
        .env("SPARK_HOME", &home)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("LIBPROCESS_IP", "127.0.0.1")
        .env("PYSPARK_PYTHON", &python)
        .env(
            "PATH",
            format!(
                "{}:{}",
                path_str(&spark_venv().join("bin")),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .arg("--master")
        .arg(master)
        .args([
            "--conf",
            &format!("spark.mesos.executor.home={}", path_str(&home)),
        ])
        .args(["--conf", "spark.executor.memory=512m"])
        .args(["--conf", "spark.cores.max=1"])
        .args(["--conf", "spark.driver.host=127.0.0.1"])
        .args(["--conf", &format!("spark.pyspark.python={py}")])
        .args(["--conf", &format!("spark.executorEnv.PYSPARK_PYTHON={py}")])
        .arg(home.join("examples/src/main/python/pi.py"))
        .arg(partitions.to_string())
        .stdout(out)
        .stderr(err)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn spark-submit")
}

/// Whether `state` shows a running task of the PythonPi framework.
fn pi_executor_running(state: &Value) -> bool {
    framework_named(&state["frameworks"], "PythonPi")
        .and_then(|f| f["tasks"].as_array())
        .is_some_and(|tasks| {
            tasks
                .iter()
                .any(|t| t["state"].as_str() == Some("TASK_RUNNING"))
        })
}

/// Waits for spark-submit, polling `state` for a running executor and
/// calling `during` once one was seen; returns the exit status and whether
/// an executor was seen.
fn wait_spark(
    child: &mut std::process::Child,
    mut state: impl FnMut() -> Option<Value>,
    mut during: impl FnMut(),
) -> (std::process::ExitStatus, bool) {
    let deadline = Instant::now() + Duration::from_secs(400);
    let mut saw_running_executor = false;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return (status, saw_running_executor);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().expect("wait");
            return (status, saw_running_executor);
        }
        if !saw_running_executor && state().is_some_and(|s| pi_executor_running(&s)) {
            saw_running_executor = true;
            during();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Checks SparkPi's result; `logs` adds context to failures.
fn check_pi(
    dir: &Path,
    status: std::process::ExitStatus,
    saw_executor: bool,
    logs: impl Fn() -> String,
) {
    let stdout = std::fs::read_to_string(dir.join("spark.out")).unwrap_or_default();
    let stderr = std::fs::read_to_string(dir.join("spark.err")).unwrap_or_default();
    let context = || {
        format!(
            "--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n{}",
            logs()
        )
    };
    assert!(
        status.success(),
        "spark-submit failed: {status}\n{}",
        context()
    );
    let pi: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Pi is roughly "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 'Pi is roughly' line\n{}", context()));
    assert!((pi - std::f64::consts::PI).abs() < 0.02, "pi = {pi}");
    assert!(
        saw_executor,
        "no running Spark executor task seen in /master/state\n{}",
        context()
    );
}

/// Afterwards PythonPi is gone (torn down by stop()) and every executor
/// task it had ended cleanly.
fn check_pi_torn_down(mut state: impl FnMut() -> Option<Value>, logs: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if state().is_some_and(|s| framework_named(&s["frameworks"], "PythonPi").is_none()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "PythonPi was not torn down\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let state = state().expect("state");
    let done = framework_named(&state["completed_frameworks"], "PythonPi")
        .unwrap_or_else(|| panic!("PythonPi not among completed frameworks: {state}"));
    let tasks = done["completed_tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!tasks.is_empty(), "no executor tasks recorded: {done}");
    for task in &tasks {
        let s = task["state"].as_str().unwrap_or("");
        assert!(
            s == "TASK_FINISHED" || s == "TASK_KILLED",
            "Spark executor task ended {s}: {task}"
        );
    }
}

#[test]
fn spark_pi_runs_on_our_cluster_and_its_framework_is_gone_afterwards() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_spark_pi(&format!("mesos://{}", cluster.master), tmp.path(), 10);
    // While the job runs, Spark's executor shows up as a running task of
    // the PythonPi framework.
    let (status, saw) = wait_spark(&mut child, || cluster.master_state(), || {});
    check_pi(tmp.path(), status, saw, || cluster.logs());
    check_pi_torn_down(|| cluster.master_state(), || cluster.logs());
    cluster.assert_alive();
}

/// Three masters electing a leader in a real ZooKeeper, and one agent
/// that finds the leader through `zk://`.
struct HaCluster {
    zk: ZooKeeperServer,
    dir: tempfile::TempDir,
    masters: Vec<(u16, Option<Spawned>)>,
    _agent: Spawned,
}

impl HaCluster {
    fn start() -> HaCluster {
        let zk = ZooKeeperServer::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("zk://{}/mesos", zk.connect_string());
        let spawn = |name: &str, binary: &str, args: Vec<String>| {
            let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).expect("log");
            Spawned {
                name: name.to_string(),
                child: Command::new(our_binary(binary))
                    .args(args)
                    .stdout(log.try_clone().expect("log"))
                    .stderr(log)
                    .spawn()
                    .expect("spawn"),
            }
        };
        let masters = (0..3)
            .map(|i| {
                let port = free_port();
                let master = spawn(
                    &format!("master{i}"),
                    "mesos-master",
                    vec![
                        "--ip=127.0.0.1".into(),
                        format!("--port={port}"),
                        format!("--zk={url}"),
                        "--quorum=1".into(),
                        "--zk_session_timeout=3secs".into(),
                        format!("--work_dir={}", dir.path().join(format!("m{i}")).display()),
                    ],
                );
                (port, Some(master))
            })
            .collect();
        let agent = spawn(
            "agent",
            "mesos-agent",
            vec![
                format!("--master={url}"),
                "--zk_session_timeout=3secs".into(),
                "--ip=127.0.0.1".into(),
                "--hostname=127.0.0.1".into(),
                format!("--port={}", free_port()),
                format!("--work_dir={}", dir.path().join("agent").display()),
                "--resources=cpus:4;mem:4096;disk:4096;ports:[31000-32000]".into(),
                "--registration_backoff_factor=10ms".into(),
            ],
        );
        let cluster = HaCluster {
            zk,
            dir,
            masters,
            _agent: agent,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cluster
            .leader_state()
            .is_some_and(|s| s["activated_slaves"].as_f64().unwrap_or(0.0) >= 1.0)
        {
            assert!(
                Instant::now() < deadline,
                "no leader with a registered agent\n{}",
                cluster.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    fn url(&self) -> String {
        format!("zk://{}/mesos", self.zk.connect_string())
    }

    /// The index of the master serving `/master/state` (only the leader
    /// does).
    fn leader(&self) -> Option<usize> {
        self.masters.iter().position(|(port, process)| {
            process.is_some()
                && http_get(&format!("127.0.0.1:{port}"), "/master/state")
                    .is_ok_and(|r| r.status == 200)
        })
    }

    fn leader_state(&self) -> Option<Value> {
        let leader = self.leader()?;
        http_get(
            &format!("127.0.0.1:{}", self.masters[leader].0),
            "/master/state",
        )
        .ok()
        .filter(|r| r.status == 200)
        .map(|r| r.json())
    }

    fn kill_master(&mut self, master: usize) {
        if let Some(mut process) = self.masters[master].1.take() {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["master0", "master1", "master2", "agent"] {
            let text = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("---- {name}.log (last lines) ----\n"));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

// SparkPi with `--master mesos://zk://…/mesos`: the driver finds the
// leading master of three through ZooKeeper, its executor runs on the
// agent (which found the leader the same way), and the framework is torn
// down on the leader when the job ends.
#[test]
fn spark_pi_on_zk_with_three_masters() {
    let cluster = HaCluster::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_spark_pi(&format!("mesos://{}", cluster.url()), tmp.path(), 10);
    let (status, saw) = wait_spark(&mut child, || cluster.leader_state(), || {});
    check_pi(tmp.path(), status, saw, || cluster.logs());
    check_pi_torn_down(|| cluster.leader_state(), || cluster.logs());
}

// The leading master is killed while SparkPi runs: another master takes
// over, the driver and the agent follow it through ZooKeeper, the job
// still finishes, and its framework is torn down on the new leader.
#[test]
fn spark_pi_on_zk_survives_the_leading_master_being_killed() {
    let mut cluster = HaCluster::start();
    let first = cluster.leader().expect("a leader");
    let tmp = tempfile::tempdir().expect("tempdir");
    // Enough partitions that the job outlives the election of a new leader.
    let mut child = spawn_spark_pi(&format!("mesos://{}", cluster.url()), tmp.path(), 40);
    let mut killed = false;
    let (status, saw) = {
        let cluster = std::cell::RefCell::new(&mut cluster);
        let stderr = tmp.path().join("spark.err");
        wait_spark(
            &mut child,
            || cluster.borrow().leader_state(),
            || {
                // Kill once the job itself has started on the executor.
                let deadline = Instant::now() + Duration::from_secs(120);
                while Instant::now() < deadline
                    && !std::fs::read_to_string(&stderr)
                        .unwrap_or_default()
                        .contains("Starting job")
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                cluster.borrow_mut().kill_master(first);
                let log = std::fs::read_to_string(&stderr).unwrap_or_default();
                killed = log.contains("Starting job") && !log.contains("Job 0 finished");
            },
        )
    };
    assert!(
        killed,
        "the leader was not killed while the job ran\n{}",
        cluster.logs()
    );
    check_pi(tmp.path(), status, saw, || cluster.logs());
    let second = cluster.leader();
    assert!(
        second.is_some_and(|s| s != first),
        "no new leader\n{}",
        cluster.logs()
    );
    check_pi_torn_down(|| cluster.leader_state(), || cluster.logs());
}

/// Runs `TestFramework <master> <executor command> <mode>`; returns its
/// stdout lines and everything for failure messages.
fn run_java(
    classes: &Path,
    master: &str,
    mode: &str,
    extra_env: &[(&str, &str)],
) -> (Vec<String>, String, bool) {
    let cp = format!("{}:{}", path_str(classes), path_str(&mesos_jar()));
    let executor = format!("java -Xmx64m -cp {cp} TestExecutor");
    let mut cmd = Command::new("java");
    cmd.env("MESOS_NATIVE_JAVA_LIBRARY", libmesos())
        .env("LIBPROCESS_IP", "127.0.0.1")
        .args([
            "-Xmx128m",
            "-cp",
            &cp,
            "TestFramework",
            master,
            &executor,
            mode,
        ]);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let (_, output, status) = run_client(cmd, Duration::from_secs(240));
    let lines = output
        .lines()
        .skip_while(|l| !l.starts_with("--- stdout"))
        .skip(1)
        .take_while(|l| !l.starts_with("--- stderr"))
        .map(str::to_string)
        .collect();
    (lines, output, status.success())
}

/// The callbacks, minus offers (how many arrive, and when, depends on
/// timing; upstream's driver delivers them the same way).
fn callbacks(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("CB "))
        .filter(|l| !l.contains(" resourceOffers ") && !l.ends_with(" offerRescinded"))
        .map(|l| {
            // Drop framework ids and master pids: they vary per run.
            let mut words: Vec<&str> = l.split(' ').collect();
            if words.get(1) == Some(&"registered") {
                words.truncate(2);
            }
            words.join(" ")
        })
        .collect()
}

#[test]
fn java_framework_messages_kill_reconcile_failover_and_stop() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let classes = tempfile::tempdir().expect("tempdir");
    compile_java(classes.path());
    let (lines, output, ok) = run_java(classes.path(), &cluster.master, "scenario", &[]);
    let context = || format!("{output}\n{}", cluster.logs());
    assert!(ok, "the Java framework failed\n{}", context());
    assert!(
        lines.contains(&"VERSION 1.11.0".to_string()),
        "{}",
        context()
    );
    // What upstream's sched.cpp delivers here: registered once per driver
    // (a failover is a fresh registration, MESOS-786), updates in the
    // executor's order, the executor's answer straight from the agent, the
    // reconciled task's latest state, and nothing on stop.
    let expected = [
        "s1 registered",
        "s1 statusUpdate A TASK_RUNNING",
        "s1 statusUpdate B TASK_RUNNING",
        "s1 frameworkMessage java-executor pong:ping",
        "s1 statusUpdate B TASK_KILLED",
        "s1 statusUpdate A TASK_RUNNING",
        "s2 registered",
        "s2 frameworkMessage java-executor pong:again",
        "s2 statusUpdate A TASK_KILLED",
    ];
    assert_eq!(callbacks(&lines), expected, "{}", context());
    for expected in [
        "RET start DRIVER_RUNNING",
        "RET stop(failover) DRIVER_STOPPED",
        "SAME_ID true",
        "RET stop DRIVER_STOPPED",
        "DONE",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "missing '{expected}'\n{}",
            context()
        );
    }
    // stop() returns once the teardown is with the master, so the JVM's
    // exit right after it cannot lose it.
    cluster.wait_while_alive(
        Duration::from_secs(30),
        "java-compat to be torn down",
        |c| {
            c.master_state()
                .is_some_and(|s| framework_named(&s["frameworks"], "java-compat").is_none())
        },
    );
    cluster.assert_alive();
}

#[test]
fn a_throwing_callback_aborts_the_driver_not_the_jvm() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let classes = tempfile::tempdir().expect("tempdir");
    compile_java(classes.path());
    let (lines, output, ok) = run_java(classes.path(), &cluster.master, "throw", &[]);
    assert!(ok, "{output}");
    assert_eq!(callbacks(&lines), ["s1 registered"], "{output}");
    assert!(
        lines.iter().any(|l| l == "RET join DRIVER_ABORTED"),
        "{output}"
    );
    assert!(
        lines.iter().any(|l| l == "RET stop DRIVER_ABORTED"),
        "{output}"
    );
    assert!(output.contains("thrown by registered()"), "{output}");
    cluster.assert_alive();
}

#[test]
fn a_stopped_and_collected_driver_leaves_no_threads_behind() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let classes = tempfile::tempdir().expect("tempdir");
    compile_java(classes.path());
    let (lines, output, ok) = run_java(classes.path(), &cluster.master, "threads", &[]);
    assert!(ok, "{output}");
    // Loading the library starts nothing; a running driver has its actor
    // and I/O threads; after stop and collection none is left.
    assert!(lines.iter().any(|l| l == "THREADS loaded 0"), "{output}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("THREADS running ") && l != "THREADS running 0"),
        "{output}"
    );
    assert!(lines.iter().any(|l| l == "THREADS stopped 0"), "{output}");
    cluster.assert_alive();
}

#[test]
fn start_with_the_master_down_waits_and_retries() {
    let classes = tempfile::tempdir().expect("tempdir");
    compile_java(classes.path());
    // Nothing listens here: start() still returns RUNNING, and stop() ends
    // the retrying driver cleanly.
    let port = free_port();
    let (lines, output, ok) = run_java(
        classes.path(),
        &format!("127.0.0.1:{port}"),
        "down",
        &[("MESOS_REGISTRATION_BACKOFF_FACTOR", "100ms")],
    );
    assert!(ok, "{output}");
    assert!(
        lines.iter().any(|l| l == "RET start DRIVER_RUNNING"),
        "{output}"
    );
    assert!(
        lines.iter().any(|l| l == "RET stop DRIVER_STOPPED"),
        "{output}"
    );
    assert!(callbacks(&lines).is_empty(), "{output}");
    let attempts = output.matches("Registering framework java-compat").count();
    assert!(attempts >= 2, "expected retries, saw {attempts}\n{output}");
}

#[test]
fn a_master_started_after_the_driver_is_registered_with() {
    let classes = tempfile::tempdir().expect("tempdir");
    compile_java(classes.path());
    let port = free_port();
    let work = tempfile::tempdir().expect("tempdir");
    let master_addr = format!("127.0.0.1:{port}");
    let java = {
        let classes = classes.path().to_path_buf();
        let master_addr = master_addr.clone();
        std::thread::spawn(move || {
            run_java(
                &classes,
                &master_addr,
                "late",
                &[("MESOS_REGISTRATION_BACKOFF_FACTOR", "200ms")],
            )
        })
    };
    // Stand in for the master until the driver has tried to reach it, so
    // the driver is known to have started (and failed to register) before
    // the master exists.
    let standin = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the stand-in");
    standin.set_nonblocking(true).expect("nonblocking");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match standin.accept() {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the driver never tried to reach its master"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("stand-in accept: {e}"),
        }
    }
    drop(standin);
    let log = std::fs::File::create(work.path().join("master.log")).expect("log");
    let _master = Spawned {
        name: "mesos-master".into(),
        child: Command::new(our_binary("mesos-master"))
            .arg("--ip=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--work_dir={}", work.path().join("m").display()))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn mesos-master"),
    };
    let (lines, output, ok) = java.join().expect("java thread");
    assert!(ok, "{output}");
    assert_eq!(callbacks(&lines), ["s1 registered"], "{output}");
    assert!(
        lines.iter().any(|l| l == "RET stop DRIVER_STOPPED"),
        "{output}"
    );
}

/// The znodes under `parent` as kazoo (a stock ZooKeeper client) sees
/// them: name → (data, ACL schemes with their permissions).
fn kazoo_znodes(zk: &ZooKeeperServer, parent: &str) -> Vec<(String, Vec<u8>, Vec<String>)> {
    let script = r#"
import json, sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1]); zk.start(timeout=20)
out = []
for child in sorted(zk.get_children(sys.argv[2])):
    path = sys.argv[2] + "/" + child
    data, _ = zk.get(path)
    acls, _ = zk.get_acls(path)
    out.append({"name": child, "data": data.hex(),
                "acls": ["%s:%d" % (a.id.scheme, a.perms) for a in acls]})
zk.stop()
print(json.dumps(out))
"#;
    let output = Command::new(venv_python())
        .args(["-c", script, &zk.connect_string(), parent])
        .output()
        .expect("run kazoo");
    assert!(
        output.status.success(),
        "kazoo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: Value = serde_json::from_slice(&output.stdout).expect("kazoo output");
    listed
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|z| {
            let hex = z["data"].as_str().unwrap_or("");
            let data = (0..hex.len() / 2)
                .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                .collect();
            let acls = z["acls"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            (z["name"].as_str().unwrap_or("").to_string(), data, acls)
        })
        .collect()
}

// A Java program on the stock jar keeps variables in ZooKeeper through
// `ZooKeeperState`, as Chronos does: fetch/mutate/store/expunge/names, a
// stale variable's store yields null, two sessions racing to create an
// entry, digest credentials, the Future contract, and upstream's znode
// layout (one znode per variable holding a `mesos.internal.state.Entry`).
#[test]
fn zookeeper_state_stores_fetches_mutates_and_expunges_variables() {
    let zk = ZooKeeperServer::start();
    let classes = tempfile::tempdir().expect("tempdir");
    let result = Command::new("javac")
        .arg("-cp")
        .arg(mesos_jar())
        .arg("-d")
        .arg(classes.path())
        .arg(client_script("java-state").join("StateClient.java"))
        .output()
        .expect("javac (Java 17) must be installed");
    assert!(
        result.status.success(),
        "javac failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let cp = format!("{}:{}", path_str(classes.path()), path_str(&mesos_jar()));
    let mut cmd = Command::new("java");
    cmd.env("MESOS_NATIVE_JAVA_LIBRARY", libmesos()).args([
        "-Xmx128m",
        "-cp",
        &cp,
        "StateClient",
        &zk.connect_string(),
        "/chronos/state",
    ]);
    let (_, output, status) = run_client(cmd, Duration::from_secs(120));
    let context = || format!("{output}\n--- zookeeper ---\n{}", zk.log());
    assert!(status.success(), "StateClient failed\n{}", context());
    let lines: Vec<&str> = output
        .lines()
        .skip_while(|l| !l.starts_with("--- stdout"))
        .skip(1)
        .take_while(|l| !l.starts_with("--- stderr"))
        .filter(|l| !l.is_empty())
        .collect();
    let expected = [
        "NAMES_EMPTY []",
        "FETCH alpha ''",
        "STORE alpha 'one'",
        "FETCH alpha 'one'",
        "STORE alpha 'two'",
        "STALE_STORE alpha null",
        "STALE_STORE_AGAIN alpha null",
        "FETCH alpha 'two'",
        "RACE theirs 'theirs'",
        "RACE mine null",
        "FETCH beta 'theirs'",
        "CONCURRENT theirs 'newer'",
        "CONCURRENT ours null",
        "BINARY 4 255",
        "NAMES [alpha,beta,binary]",
        "EXPUNGE stale false",
        "EXPUNGE current true done=true cancelled=false",
        "EXPUNGE again false",
        "FETCH alpha ''",
        "NAMES [beta,binary]",
        "AUTH store 's3cret'",
        "AUTH fetch 's3cret'",
        "AUTH anonymous read 's3cret'",
        "AUTH anonymous write refused",
        "TIMEOUT thrown",
        "PENDING done=false",
        "CANCEL false done=true cancelled=false",
        "CANCELLED get threw CancellationException",
        "CANCEL without interrupt false done=false",
        "UNREACHABLE ExecutionException within_deadline=true",
        "OLD fetch 'newer' done=true",
        "OLD store 'old'",
        "OLD names 2",
        "OLD finalized get threw IllegalStateException",
        "LEVELDB refused",
        "FETCH beta after gc 'old'",
        "DONE",
    ];
    assert_eq!(lines, expected, "{}", context());

    // Upstream's layout, seen by another client: one znode per variable,
    // holding the Entry (name, 16-byte uuid, value); open ACLs without
    // credentials, world-read and creator-all with them.
    let znodes = kazoo_znodes(&zk, "/chronos/state");
    let names: Vec<&str> = znodes.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["beta", "binary"]);
    for (name, data, acls) in &znodes {
        let entry =
            <mesos_proto::mesos::internal::state::Entry as prost::Message>::decode(data.as_slice())
                .unwrap_or_else(|e| panic!("{name} does not hold an Entry: {e}"));
        assert_eq!(&entry.name, name);
        assert_eq!(entry.uuid.len(), 16);
        assert_eq!(acls, &["world:31".to_string()]);
    }
    let beta = &znodes[0].1;
    let beta =
        <mesos_proto::mesos::internal::state::Entry as prost::Message>::decode(beta.as_slice())
            .expect("Entry");
    assert_eq!(beta.value, b"old");
    let secured = kazoo_znodes(&zk, "/chronos/state-auth");
    assert_eq!(secured.len(), 1, "{secured:?}");
    let mut acls = secured[0].2.clone();
    acls.sort();
    assert_eq!(acls, ["digest:31", "world:1"]);
}

#[test]
fn java_framework_with_a_credential_authenticates_through_libmesos() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, "framework framework-secret\n").expect("write");
    let mut cluster = Cluster::start(ClusterOptions {
        master_flags: vec![
            "--authenticate_frameworks".to_string(),
            format!("--credentials={}", path_str(&credentials)),
        ],
        ..Default::default()
    });
    let classes = tempfile::tempdir().expect("tempdir");
    compile_java(classes.path());

    // MesosSchedulerDriver(scheduler, info, master, credential): CRAM-MD5
    // first, then registration.
    let (lines, output, ok) = run_java(
        classes.path(),
        &cluster.master,
        "credential:framework:framework-secret",
        &[],
    );
    let context = || format!("{output}\n{}", cluster.logs());
    assert!(ok, "{}", context());
    assert!(
        lines.iter().any(|l| l.starts_with("FIRST registered ")),
        "{}",
        context()
    );
    let log = std::fs::read_to_string(cluster.work_dir.join("master.log")).unwrap_or_default();
    assert!(
        log.contains("Successfully authenticated principal 'framework'"),
        "{}",
        context()
    );

    // A wrong secret: upstream's driver aborts with this error.
    let (lines, output, ok) = run_java(
        classes.path(),
        &cluster.master,
        "credential:framework:not-the-secret",
        &[],
    );
    assert!(ok, "{output}");
    assert!(
        lines
            .iter()
            .any(|l| l == "FIRST error Master refused authentication"),
        "{output}\n{}",
        cluster.logs()
    );
    cluster.assert_alive();
}

/// Compiles the v1 Java framework into `out`.
fn compile_v1_java(out: &Path) {
    let result = Command::new("javac")
        .arg("-cp")
        .arg(mesos_jar())
        .arg("-d")
        .arg(out)
        .arg(client_script("java-v1").join("V1Framework.java"))
        .output()
        .expect("javac (Java 17) must be installed");
    assert!(
        result.status.success(),
        "javac failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// Runs `V1Framework <impl> <master> <http> <mode>` to its end; returns its
/// stdout lines, everything for failure messages, and whether it exited 0.
fn run_v1_java(
    classes: &Path,
    implementation: &str,
    master: &str,
    http: &str,
    mode: &str,
) -> (Vec<String>, String, bool) {
    let cp = format!("{}:{}", path_str(classes), path_str(&mesos_jar()));
    let mut cmd = Command::new("java");
    cmd.env("MESOS_NATIVE_JAVA_LIBRARY", libmesos())
        .env("LIBPROCESS_IP", "127.0.0.1")
        .args([
            "-Xmx128m",
            "-cp",
            &cp,
            "V1Framework",
            implementation,
            master,
            http,
            mode,
        ]);
    let (_, output, status) = run_client(cmd, Duration::from_secs(240));
    (java_stdout(&output), output, status.success())
}

fn java_stdout(output: &str) -> Vec<String> {
    output
        .lines()
        .skip_while(|l| !l.starts_with("--- stdout"))
        .skip(1)
        .take_while(|l| !l.starts_with("--- stderr"))
        .map(str::to_string)
        .collect()
}

/// The v1 callbacks, minus heartbeats and offers (how many arrive, and
/// when, depends on timing).
fn v1_callbacks(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("CB "))
        .filter(|l| *l != "received HEARTBEAT" && !l.starts_with("received OFFERS "))
        .map(str::to_string)
        .collect()
}

fn check_v1_launch(implementation: &str, expected: &[&str]) {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let classes = tempfile::tempdir().expect("tempdir");
    compile_v1_java(classes.path());
    let (lines, output, ok) = run_v1_java(
        classes.path(),
        implementation,
        &cluster.master,
        &cluster.master,
        "launch",
    );
    let context = || format!("{output}\n{}", cluster.logs());
    assert!(ok, "the v1 Java framework failed\n{}", context());
    let mut seen = v1_callbacks(&lines);
    // After TEARDOWN's `disconnected`, V1Mesos connects again (the master
    // is still there); the program may end before or after that.
    if let Some(at) = seen.iter().position(|l| l == "disconnected") {
        seen.truncate(at + 1);
    }
    assert_eq!(seen, expected, "{}", context());
    assert!(
        lines.iter().any(|l| l.starts_with("TORN_DOWN ")) && lines.iter().any(|l| l == "DONE"),
        "{}",
        context()
    );
    let name = format!("java-{implementation}");
    let state = cluster.master_state().expect("master state");
    assert!(
        framework_named(&state["frameworks"], &name).is_none(),
        "{name} is still active\n{}",
        context()
    );
    let completed = framework_named(&state["completed_frameworks"], &name)
        .unwrap_or_else(|| panic!("{name} is not completed\n{}", context()));
    let task = &completed["completed_tasks"][0];
    assert_eq!(task["state"], "TASK_FINISHED", "{}", context());
    cluster.assert_alive();
}

// A Java framework on V1Mesos (the v1 HTTP scheduler library): connected,
// SUBSCRIBE, offers, ACCEPT with a LAUNCH of a command task (the command
// executor reports STARTING, RUNNING, FINISHED), every update ACKNOWLEDGEd
// (the agent forwards the next update only once the last is acknowledged),
// TEARDOWN, and the master closing the stream (`disconnected`).
#[test]
fn v1mesos_framework_subscribes_launches_acknowledges_and_tears_down() {
    check_v1_launch(
        "v1",
        &[
            "connected",
            "received SUBSCRIBED",
            "received UPDATE t1 TASK_STARTING",
            "received UPDATE t1 TASK_RUNNING",
            "received UPDATE t1 TASK_FINISHED",
            "disconnected",
        ],
    );
}

// The same program on V0Mesos (the v1 interface over the v0 driver):
// `connected` after the driver registered, SUBSCRIBED once it subscribes,
// and nothing after TEARDOWN (the driver is stopped).
#[test]
fn v0mesos_framework_subscribes_launches_acknowledges_and_tears_down() {
    check_v1_launch(
        "v0",
        &[
            "connected",
            "received SUBSCRIBED",
            "received UPDATE t1 TASK_STARTING",
            "received UPDATE t1 TASK_RUNNING",
            "received UPDATE t1 TASK_FINISHED",
        ],
    );
}

// A collected V1Mesos or V0Mesos leaves none of the library's threads.
#[test]
fn a_collected_v1mesos_or_v0mesos_leaves_no_threads_behind() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let classes = tempfile::tempdir().expect("tempdir");
    compile_v1_java(classes.path());
    for implementation in ["v1", "v0"] {
        let (lines, output, ok) = run_v1_java(
            classes.path(),
            implementation,
            &cluster.master,
            &cluster.master,
            "threads",
        );
        assert!(ok, "{output}");
        assert!(lines.iter().any(|l| l == "THREADS loaded 0"), "{output}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("THREADS running ") && l != "THREADS running 0"),
            "{output}"
        );
        assert!(lines.iter().any(|l| l == "THREADS collected 0"), "{output}");
    }
    cluster.assert_alive();
}

// V1Mesos on `zk://` with three masters: it finds the leader through
// ZooKeeper, and when the leader is killed it tells the scheduler
// `disconnected`, follows the newly elected leader, and the scheduler
// re-subscribes there under the same framework id.
#[test]
fn v1mesos_on_zk_follows_a_new_leader_after_the_leader_is_killed() {
    let mut cluster = HaCluster::start();
    let first = cluster.leader().expect("a leader");
    let classes = tempfile::tempdir().expect("tempdir");
    compile_v1_java(classes.path());
    let cp = format!("{}:{}", path_str(classes.path()), path_str(&mesos_jar()));
    let mut cmd = Command::new("java");
    cmd.env("MESOS_NATIVE_JAVA_LIBRARY", libmesos())
        .env("LIBPROCESS_IP", "127.0.0.1")
        .args([
            "-Xmx128m",
            "-cp",
            &cp,
            "V1Framework",
            "v1",
            &cluster.url(),
            "unused",
            "failover",
        ]);
    let mut client = BackgroundClient::start(cmd);
    wait_for(Duration::from_secs(120), "the task to run", || {
        client.output().lines().any(|l| l == "READY")
    });
    cluster.kill_master(first);
    let status = client.wait(Duration::from_secs(180));
    let output = client.output();
    let context = || format!("{output}\n{}", cluster.logs());
    assert!(
        status.is_some_and(|s| s.success()),
        "the v1 Java framework failed or hung\n{}",
        context()
    );
    let lines: Vec<String> = output.lines().map(str::to_string).collect();
    let seen = v1_callbacks(&lines);
    let ready = seen
        .iter()
        .position(|l| l == "received UPDATE t1 TASK_RUNNING")
        .unwrap_or_else(|| panic!("no TASK_RUNNING\n{}", context()));
    assert_eq!(
        &seen[..ready],
        [
            "connected",
            "received SUBSCRIBED",
            "received UPDATE t1 TASK_STARTING"
        ],
        "{}",
        context()
    );
    // After the kill: disconnected, connected (perhaps more than once
    // while the election settles), then subscribed again as the same
    // framework.
    let mut after: Vec<&str> = seen[ready + 1..].iter().map(String::as_str).collect();
    let resubscribed = after
        .iter()
        .position(|l| *l == "received SUBSCRIBED same-id")
        .unwrap_or_else(|| panic!("not subscribed again as the same framework\n{}", context()));
    after.truncate(resubscribed);
    assert_eq!(after.first(), Some(&"disconnected"), "{}", context());
    assert_eq!(after.last(), Some(&"connected"), "{}", context());
    let second = cluster.leader();
    assert!(
        second.is_some_and(|s| s != first),
        "no new leader\n{}",
        context()
    );
}

// A V1Mesos callback that throws stops the library (upstream aborts the
// whole process there); the JVM lives on and the framework never
// subscribes.
#[test]
fn a_throwing_v1mesos_callback_stops_the_library_not_the_jvm() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let classes = tempfile::tempdir().expect("tempdir");
    compile_v1_java(classes.path());
    let (lines, output, ok) = run_v1_java(
        classes.path(),
        "v1",
        &cluster.master,
        &cluster.master,
        "throw",
    );
    assert!(ok, "{output}");
    assert!(lines.iter().any(|l| l == "ALIVE"), "{output}");
    assert!(output.contains("thrown by connected()"), "{output}");
    assert!(
        output.contains("Exception thrown during `connected` call"),
        "{output}"
    );
    assert_eq!(v1_callbacks(&lines), ["connected"], "{output}");
    cluster.assert_alive();
}

// V1Mesos(scheduler, master, credential) authenticates its calls with
// HTTP Basic: with the right secret it subscribes; with a wrong one the
// master's 401 reaches the scheduler as an ERROR event, as upstream's
// library reports any unexpected answer.
#[test]
fn v1mesos_with_a_credential_authenticates_with_basic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, "fw fw-pass\n").expect("write");
    let mut cluster = Cluster::start(ClusterOptions {
        master_flags: vec![
            "--authenticate_http_frameworks".to_string(),
            "--http_framework_authenticators=basic".to_string(),
            format!("--credentials={}", path_str(&credentials)),
        ],
        ..Default::default()
    });
    let classes = tempfile::tempdir().expect("tempdir");
    compile_v1_java(classes.path());
    let (lines, output, ok) = run_v1_java(
        classes.path(),
        "v1",
        &cluster.master,
        &cluster.master,
        "credential:fw:fw-pass",
    );
    assert!(ok, "{output}\n{}", cluster.logs());
    assert!(
        lines.iter().any(|l| l == "FIRST received SUBSCRIBED"),
        "{output}\n{}",
        cluster.logs()
    );
    let (lines, output, ok) = run_v1_java(
        classes.path(),
        "v1",
        &cluster.master,
        &cluster.master,
        "credential:fw:wrong",
    );
    assert!(ok, "{output}");
    assert!(
        lines.iter().any(|l| l
            .starts_with("FIRST received ERROR Received unexpected '401 Unauthorized'")
            && l.ends_with("for SUBSCRIBE")),
        "{output}\n{}",
        cluster.logs()
    );
    cluster.assert_alive();
}

// A ZooKeeperState whose session ZooKeeper expires under it (the JVM is
// frozen with SIGSTOP past the 2 s session timeout, as a long GC pause
// would): once thawed, the same State object works on a new session, as
// upstream's storage does after `expired()`: the stored variable is
// fetched, a store with the fetched version succeeds, and a store with
// the version from before the expiry is refused as stale (null).
#[test]
fn zookeeper_state_recovers_after_its_session_expires() {
    let zk = ZooKeeperServer::start();
    let classes = tempfile::tempdir().expect("tempdir");
    let result = Command::new("javac")
        .arg("-cp")
        .arg(mesos_jar())
        .arg("-d")
        .arg(classes.path())
        .arg(client_script("java-state").join("ExpiryClient.java"))
        .output()
        .expect("javac (Java 17) must be installed");
    assert!(
        result.status.success(),
        "javac failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let go = classes.path().join("go");
    let cp = format!("{}:{}", path_str(classes.path()), path_str(&mesos_jar()));
    let mut child = Command::new("java")
        .env("MESOS_NATIVE_JAVA_LIBRARY", libmesos())
        .args([
            "-Xmx128m",
            "-cp",
            &cp,
            "ExpiryClient",
            &zk.connect_string(),
            "/expiry/state",
            &path_str(&go),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn java");
    let pid = child.id();
    let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut readers = Vec::new();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let output = output.clone();
        readers.push(std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                let mut o = output.lock().unwrap_or_else(|e| e.into_inner());
                o.push_str(&line);
                o.push('\n');
            }
        }));
    }
    let text = || output.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args([name, &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {name} {pid}");
    };
    wait_for(Duration::from_secs(60), "the first store", || {
        text().contains("STORED alpha 'one'")
    });
    signal("-STOP");
    let expired = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if zk.log().contains("Expiring session") {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    signal("-CONT");
    assert!(
        expired,
        "ZooKeeper did not expire the session\n{}",
        zk.log()
    );
    std::fs::write(&go, b"").expect("write the go file");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for reader in readers {
        let _ = reader.join();
    }
    let output = text();
    assert!(
        status.is_some_and(|s| s.success()),
        "ExpiryClient failed\n{output}\n--- zookeeper ---\n{}",
        zk.log()
    );
    let lines: Vec<&str> = output
        .lines()
        .filter(|l| {
            ["STORED", "FETCH", "STORE", "STALE_STORE", "DONE"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(
        lines,
        [
            "STORED alpha 'one'",
            "FETCH after expiry 'one'",
            "STORE after expiry 'two'",
            "STALE_STORE null",
            "FETCH 'two'",
            "DONE",
        ],
        "{output}"
    );
    // The client saw its session expired and the storage made a new one.
    let expired_at = output
        .find("session expired")
        .unwrap_or_else(|| panic!("the client never saw its session expire\n{output}"));
    assert!(
        output[expired_at..].contains("new session established"),
        "no new session after the expiry\n{output}"
    );
}
