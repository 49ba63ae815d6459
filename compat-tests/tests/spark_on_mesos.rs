//! JVM frameworks through our `libmesos.so`: stock Spark 3.5 (pyspark
//! 3.5.9, which ships the upstream `mesos-1.4.3-shaded-protobuf.jar`) runs
//! SparkPi on our master and agent, and a Java framework of our own,
//! compiled with `javac` against that jar, exercises MesosSchedulerDriver
//! and MesosExecutorDriver: framework messages both ways, kill,
//! reconciliation, failover to a second driver under the same framework id,
//! stop, a callback that throws, and a master that is down at start.
//!
//! Prerequisites fail loudly: `bash .ci/setup-spark.sh` (pyspark in
//! `MESOS_SPARK_VENV`, default `.spark-venv`), Java 17, and `libmesos.so`
//! built (`cargo build -p libmesos`; `MESOS_COMPAT_LIBMESOS` may name
//! another build, e.g. the glibc 2.28 one).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

#[test]
fn spark_pi_runs_on_our_cluster_and_its_framework_is_gone_afterwards() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let home = spark_home();
    let python = spark_venv().join("bin/python");
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = std::fs::File::create(tmp.path().join("spark.out")).expect("out");
    let err = std::fs::File::create(tmp.path().join("spark.err")).expect("err");
    let py = path_str(&python);
    let mut child = Command::new(home.join("bin/spark-submit"))
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
        .arg(format!("mesos://{}", cluster.master))
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
        .arg("10")
        .stdout(out)
        .stderr(err)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn spark-submit");

    // While the job runs, Spark's executor shows up as a running task of
    // the PythonPi framework.
    let deadline = Instant::now() + Duration::from_secs(400);
    let mut saw_running_executor = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "spark-submit did not finish");
        if !saw_running_executor {
            if let Some(state) = cluster.master_state() {
                saw_running_executor = framework_named(&state["frameworks"], "PythonPi")
                    .and_then(|f| f["tasks"].as_array())
                    .is_some_and(|tasks| {
                        tasks
                            .iter()
                            .any(|t| t["state"].as_str() == Some("TASK_RUNNING"))
                    });
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = std::fs::read_to_string(tmp.path().join("spark.out")).unwrap_or_default();
    let stderr = std::fs::read_to_string(tmp.path().join("spark.err")).unwrap_or_default();
    let context = || {
        format!(
            "--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n{}",
            cluster.logs()
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
        saw_running_executor,
        "no running Spark executor task seen in /master/state\n{}",
        context()
    );

    // Afterwards the framework is gone (torn down by stop()), and every
    // executor task it had ended.
    wait_for(Duration::from_secs(30), "PythonPi to be torn down", || {
        cluster
            .master_state()
            .is_some_and(|s| framework_named(&s["frameworks"], "PythonPi").is_none())
    });
    let state = cluster.master_state().expect("state");
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
    cluster.assert_alive();
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
    wait_for(
        Duration::from_secs(30),
        "java-compat to be torn down",
        || {
            cluster
                .master_state()
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
    std::thread::sleep(Duration::from_secs(3));
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
