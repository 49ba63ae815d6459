//! Scheduler-driver callback latency through our libmesos.so: from a
//! `ResourceOffersMessage` reaching the driver's libprocess endpoint to the
//! Java `resourceOffers` callback being entered, p50/p99 over N offer
//! rounds (the framework declines every offer at once, so the master
//! re-offers every allocation interval).
//!
//! ```text
//! bench-callback-latency --master=127.0.0.1:5050 [--spark-venv=.spark-venv]
//!                        [--libmesos=target/release/libmesos.so] [--rounds=50]
//! ```
//! Both timestamps are wall-clock microseconds on the same host (the driver
//! logs its arrival time; the Java callback prints `Instant.now()`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn arg(name: &str) -> Option<String> {
    let prefix = format!("--{name}=");
    std::env::args().find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
}

fn mesos_jar(venv: &Path) -> Option<PathBuf> {
    let home = std::fs::read_dir(venv.join("lib"))
        .ok()?
        .flatten()
        .map(|e| e.path().join("site-packages/pyspark"))
        .find(|p| p.join("jars").exists())?;
    std::fs::read_dir(home.join("jars"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .is_some_and(|n| n.starts_with("mesos-") && n.ends_with("-shaded-protobuf.jar"))
        })
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn fail(message: &str) -> ! {
    eprintln!("bench-callback-latency: {message}");
    std::process::exit(2);
}

fn main() {
    let master = arg("master").unwrap_or_else(|| fail("--master=host:port is required"));
    let venv = PathBuf::from(arg("spark-venv").unwrap_or_else(|| ".spark-venv".into()));
    let libmesos =
        PathBuf::from(arg("libmesos").unwrap_or_else(|| "target/release/libmesos.so".into()));
    // The JVM's System.load needs an absolute path.
    let libmesos = std::fs::canonicalize(&libmesos).unwrap_or(libmesos);
    let rounds = arg("rounds").unwrap_or_else(|| "50".into());
    let jar = mesos_jar(&venv).unwrap_or_else(|| fail("no mesos jar: run .ci/setup-spark.sh"));
    let classes = std::env::temp_dir().join(format!("bench-latency-{}", std::process::id()));
    std::fs::create_dir_all(&classes).unwrap_or_else(|e| fail(&e.to_string()));
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/java-framework");
    let javac = Command::new("javac")
        .arg("-cp")
        .arg(&jar)
        .arg("-d")
        .arg(&classes)
        .arg(sources.join("TestFramework.java"))
        .arg(sources.join("TestExecutor.java"))
        .status();
    if !javac.is_ok_and(|s| s.success()) {
        fail("javac failed");
    }
    let cp = format!("{}:{}", classes.display(), jar.display());
    let output = Command::new("java")
        .env("MESOS_NATIVE_JAVA_LIBRARY", &libmesos)
        .env("MESOS_DRIVER_LOG", "info,mesos_driver::latency=debug")
        .env("LIBPROCESS_IP", "127.0.0.1")
        .args([
            "-cp",
            &cp,
            "TestFramework",
            &master,
            "true",
            &format!("latency:{rounds}"),
        ])
        .output()
        .unwrap_or_else(|e| fail(&format!("java: {e}")));
    let _ = std::fs::remove_dir_all(&classes);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let entered: Vec<u64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("LAT ")?.trim().parse().ok())
        .collect();
    let arrived: Vec<u64> = stderr
        .lines()
        .filter_map(|l| {
            l.split("arrived_us=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    if entered.is_empty() || entered.len() != arrived.len() {
        fail(&format!(
            "unmatched samples: {} callbacks, {} arrivals\n{stdout}\n{stderr}",
            entered.len(),
            arrived.len()
        ));
    }
    let mut latencies: Vec<u64> = entered
        .iter()
        .zip(&arrived)
        .map(|(e, a)| e.saturating_sub(*a))
        .collect();
    latencies.sort_unstable();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "offer arrival -> Java resourceOffers: n={} p50={}us p99={}us max={}us (load {})",
        latencies.len(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(0),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
