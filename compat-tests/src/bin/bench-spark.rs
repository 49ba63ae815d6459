//! SparkPi wall time on a Mesos cluster through our libmesos.so, beside the
//! same job with `--master local[1]` in the same run.
//!
//! ```text
//! bench-spark --master=127.0.0.1:5050 [--spark-venv=.spark-venv]
//!             [--libmesos=target/release/libmesos.so] [--partitions=10] [--runs=1]
//! ```
//! Prints one line per run and the machine's load average, e.g.
//! `mesos  run=1 wall=41.2s pi=3.1418`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn arg(name: &str) -> Option<String> {
    let prefix = format!("--{name}=");
    std::env::args().find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
}

fn spark_home(venv: &Path) -> Option<PathBuf> {
    std::fs::read_dir(venv.join("lib"))
        .ok()?
        .flatten()
        .map(|e| e.path().join("site-packages/pyspark"))
        .find(|p| p.join("bin/spark-submit").exists())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs pi.py once; wall time in seconds and the printed estimate.
fn run(
    spark: &Path,
    venv: &Path,
    master: &str,
    libmesos: &Path,
    partitions: &str,
) -> (f64, String) {
    let python = venv.join("bin/python");
    let py = python.display().to_string();
    let start = Instant::now();
    let output = Command::new(spark.join("bin/spark-submit"))
        .env("MESOS_NATIVE_JAVA_LIBRARY", libmesos)
        .env("SPARK_HOME", spark)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("LIBPROCESS_IP", "127.0.0.1")
        .env("PYSPARK_PYTHON", &python)
        .env(
            "PATH",
            format!(
                "{}:{}",
                venv.join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .args(["--master", master])
        .args([
            "--conf",
            &format!("spark.mesos.executor.home={}", spark.display()),
        ])
        .args(["--conf", "spark.executor.memory=512m"])
        .args(["--conf", "spark.cores.max=1"])
        .args(["--conf", "spark.driver.host=127.0.0.1"])
        .args(["--conf", &format!("spark.pyspark.python={py}")])
        .args(["--conf", &format!("spark.executorEnv.PYSPARK_PYTHON={py}")])
        .arg(spark.join("examples/src/main/python/pi.py"))
        .arg(partitions)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let wall = start.elapsed().as_secs_f64();
    let pi = match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Pi is roughly ").map(str::to_string))
            .unwrap_or_else(|| "missing".into()),
        Ok(o) => format!("failed ({})", o.status),
        Err(e) => format!("failed ({e})"),
    };
    (wall, pi)
}

fn main() {
    let Some(master) = arg("master") else {
        eprintln!("usage: bench-spark --master=host:port [--spark-venv=DIR] [--libmesos=PATH] [--partitions=N] [--runs=N]");
        std::process::exit(2);
    };
    let venv = PathBuf::from(arg("spark-venv").unwrap_or_else(|| ".spark-venv".into()));
    let libmesos =
        PathBuf::from(arg("libmesos").unwrap_or_else(|| "target/release/libmesos.so".into()));
    // The JVM's System.load needs an absolute path.
    let libmesos = std::fs::canonicalize(&libmesos).unwrap_or(libmesos);
    let partitions = arg("partitions").unwrap_or_else(|| "10".into());
    let runs: usize = arg("runs").and_then(|r| r.parse().ok()).unwrap_or(1);
    let Some(spark) = spark_home(&venv) else {
        eprintln!("no pyspark in {}: run .ci/setup-spark.sh", venv.display());
        std::process::exit(2);
    };
    println!("SparkPi {partitions} partitions; load before: {}", load());
    for i in 1..=runs {
        for (label, target) in [
            ("mesos ", format!("mesos://{master}")),
            ("local1", "local[1]".to_string()),
        ] {
            let (wall, pi) = run(&spark, &venv, &target, &libmesos, &partitions);
            println!("{label} run={i} wall={wall:.1}s pi={pi} load={}", load());
        }
    }
}
