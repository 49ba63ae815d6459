//! Logging setup from the logging flags: `--logging_level` (INFO, WARNING,
//! ERROR), `--quiet` (no stderr), `--log_dir` (also append to
//! `<log_dir>/mesos-master.INFO`). `RUST_LOG` overrides the level.
//!
//! Owns the subscriber installation (called once by `main`) and the
//! verbosity the operator API reports.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use crate::flags::Flags;
use crate::Error;

pub fn init(flags: &Flags) -> Result<(), Error> {
    let level = match flags.logging_level.as_str() {
        "WARNING" => "warn",
        "ERROR" => "error",
        _ => "info",
    };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let stderr = (!flags.quiet).then(|| {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter())
    });
    let file = match &flags.log_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Logging(format!("cannot create --log_dir '{dir}': {e}")))?;
            let path = Path::new(dir).join("mesos-master.INFO");
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| Error::Logging(format!("cannot open '{}': {e}", path.display())))?;
            let file = Arc::new(Mutex::new(file));
            Some(
                fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || LockedFile(file.clone()))
                    .with_filter(filter()),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init()
        .map_err(|e| Error::Logging(e.to_string()))
}

/// The glog-style verbosity the operator API reports and sets
/// (GET/SET_LOGGING_LEVEL). Our log lines carry no VLOG levels, so it
/// changes what is reported, not which lines are written.
static VERBOSITY: AtomicU32 = AtomicU32::new(0);
/// Bumped by each SET_LOGGING_LEVEL so only the latest one reverts.
static GENERATION: AtomicU64 = AtomicU64::new(0);

pub fn verbosity() -> u32 {
    VERBOSITY.load(Ordering::Relaxed)
}

/// Sets the verbosity for `duration`, then back to 0 (upstream's
/// temporary toggle). Needs a tokio runtime.
pub fn set_verbosity(level: u32, duration: std::time::Duration) {
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed) + 1;
    VERBOSITY.store(level, Ordering::Relaxed);
    tokio::spawn(async move {
        tokio::time::sleep(duration).await;
        if GENERATION.load(Ordering::Relaxed) == generation {
            VERBOSITY.store(0, Ordering::Relaxed);
        }
    });
}

/// A shared log file; each write takes the lock.
struct LockedFile(Arc<Mutex<std::fs::File>>);

impl std::io::Write for LockedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut file) => file.write(buf),
            Err(poisoned) => poisoned.into_inner().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut file) => file.flush(),
            Err(poisoned) => poisoned.into_inner().flush(),
        }
    }
}
