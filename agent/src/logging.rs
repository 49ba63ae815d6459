//! The agent's glog-style verbosity (`FLAGS_v`), raised temporarily by
//! `/logging/toggle` and the v1 `SET_LOGGING_LEVEL` call and read by
//! `GET_LOGGING_LEVEL`.
//!
//! Owns the current level and its revert timer. Applying a level to the
//! log subscriber is `main`'s business: it installs an applier once with
//! [`install_applier`]; without one (tests, embedded agents) the level is
//! only recorded.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

type Applier = Box<dyn Fn(u32) + Send + Sync>;

static APPLIER: OnceLock<Applier> = OnceLock::new();

/// Makes every later level change reach the log subscriber.
pub fn install_applier(apply: impl Fn(u32) + Send + Sync + 'static) {
    // A second install keeps the first: one subscriber per process.
    let _ = APPLIER.set(Box::new(apply));
}

#[derive(Debug, Default)]
struct Inner {
    level: AtomicU32,
    /// Bumped by every change, so only the latest change's timer reverts.
    generation: AtomicU64,
}

/// The process's verbosity; clones share it.
#[derive(Debug, Clone, Default)]
pub struct LoggingLevel {
    inner: Arc<Inner>,
}

/// The level a process starts at and returns to.
pub const ORIGINAL_LEVEL: u32 = 0;

impl LoggingLevel {
    pub fn level(&self) -> u32 {
        self.inner.level.load(Ordering::SeqCst)
    }

    /// Sets `level` now and back to [`ORIGINAL_LEVEL`] after `duration`
    /// (upstream `Logging::set_level`). Needs a tokio runtime.
    pub fn set(&self, level: u32, duration: Duration) {
        let generation = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.apply(level);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            if inner.generation.load(Ordering::SeqCst) == generation {
                LoggingLevel { inner }.apply(ORIGINAL_LEVEL);
            }
        });
    }

    fn apply(&self, level: u32) {
        self.inner.level.store(level, Ordering::SeqCst);
        if let Some(apply) = APPLIER.get() {
            apply(level);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_raised_level_reverts_after_its_duration_unless_changed_again() {
        let logging = LoggingLevel::default();
        assert_eq!(logging.level(), 0);
        logging.set(2, Duration::from_secs(10));
        assert_eq!(logging.level(), 2);
        tokio::time::sleep(Duration::from_secs(5)).await;
        logging.set(3, Duration::from_secs(10));
        // The first change's timer fires and must not revert the second.
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(logging.level(), 3);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(logging.level(), 0);
    }
}
