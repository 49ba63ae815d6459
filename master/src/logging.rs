//! Logging setup from the logging flags: `--logging_level` (INFO, WARNING,
//! ERROR), `--quiet` (no stderr), `--log_dir` (also append to
//! `<log_dir>/mesos-master.INFO`). `RUST_LOG` overrides the level.
//!
//! `/logging/toggle` and the operator API's SET_LOGGING_LEVEL raise the
//! verbosity for a while: level 1 shows debug events, 2 and above trace
//! events, then the original level returns.
//!
//! Owns only the subscriber installation (called once by `main`) and the
//! one reloadable filter the toggle changes.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

use crate::flags::Flags;
use crate::Error;

/// The installed filter and what the toggle needs to restore it.
struct Toggle {
    handle: reload::Handle<EnvFilter, Registry>,
    /// The directive from the flags (or `RUST_LOG`).
    base: String,
    /// The verbosity in force (0 = as configured).
    level: AtomicU32,
    /// Bumped by each toggle, so only the latest one's expiry restores.
    generation: AtomicU64,
}

static TOGGLE: OnceLock<Toggle> = OnceLock::new();

pub fn init(flags: &Flags) -> Result<(), Error> {
    let level = match flags.logging_level.as_str() {
        "WARNING" => "warn",
        "ERROR" => "error",
        _ => "info",
    };
    let base = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| EnvFilter::try_new(v).is_ok())
        .unwrap_or_else(|| level.to_string());
    let (filter, handle) = reload::Layer::new(EnvFilter::new(&base));
    let stderr = (!flags.quiet).then(|| fmt::layer().with_writer(std::io::stderr));
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
                    .with_writer(move || LockedFile(file.clone())),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file)
        .try_init()
        .map_err(|e| Error::Logging(e.to_string()))?;
    let _ = TOGGLE.set(Toggle {
        handle,
        base,
        level: AtomicU32::new(0),
        generation: AtomicU64::new(0),
    });
    Ok(())
}

/// The verbosity in force (0 when never toggled or when logging was not
/// installed through [`init`]).
pub fn level() -> u32 {
    TOGGLE.get().map_or(0, |t| t.level.load(Ordering::Relaxed))
}

/// Sets verbosity `level` for `duration`, then restores the configured
/// filter (unless a later toggle replaced this one). Level 0 restores at
/// once. Must run inside a tokio runtime.
pub fn toggle(level: u32, duration: std::time::Duration) -> Result<(), Error> {
    let Some(toggle) = TOGGLE.get() else {
        return Err(Error::Logging("logging is not initialized".to_string()));
    };
    let directive = match level {
        0 => toggle.base.clone(),
        1 => "debug".to_string(),
        _ => "trace".to_string(),
    };
    toggle
        .handle
        .reload(EnvFilter::new(directive))
        .map_err(|e| Error::Logging(e.to_string()))?;
    toggle.level.store(level, Ordering::Relaxed);
    let generation = toggle.generation.fetch_add(1, Ordering::Relaxed) + 1;
    if level > 0 {
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            if toggle.generation.load(Ordering::Relaxed) == generation {
                let _ = toggle.handle.reload(EnvFilter::new(&toggle.base));
                toggle.level.store(0, Ordering::Relaxed);
            }
        });
    }
    Ok(())
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
