//! Rendering of whole-state bodies (`/master/state`, v1 GET_STATE, ...)
//! off the threads that answer requests, once per snapshot.
//!
//! Owns the cache of rendered bodies. Rendering a state of 10,000 agents
//! takes tens to hundreds of milliseconds of CPU; done inline it would hold
//! a runtime worker that much, and `/health`, `/metrics/snapshot`,
//! scheduler calls and libprocess messages would queue behind it. So every
//! render runs on the blocking pool, and its body is kept for the snapshot
//! it was made from: concurrent and later readers of the same snapshot
//! generation share one render instead of repeating it.
//!
//! The cache holds the unfiltered view only. A request whose view depends
//! on who asks (an authorizer filtering frameworks and tasks by principal)
//! must not read or fill it: it renders its own body with
//! [`render_uncached`], still off the request threads. Query parameters
//! that change the body (`framework_id`, `slave_id`, paging) bypass the
//! cache the same way. Never decides what a body contains; the endpoint
//! modules do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::OnceCell;

use super::HttpError;
use crate::snapshot::Snapshot;

/// Which body a cache entry holds.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum RenderKey {
    /// `/state` and `/state.json` (unfiltered, no JSONP wrapping).
    State,
    StateSummary,
    Frameworks,
    Slaves,
    Roles,
    /// A v1 operator response that depends only on the snapshot, by call
    /// type and encoding (true for protobuf).
    Operator {
        call: i32,
        protobuf: bool,
    },
    /// The start of an operator event stream (SUBSCRIBED with the state,
    /// then the first HEARTBEAT), by encoding.
    Subscribed {
        protobuf: bool,
    },
}

struct Slot {
    generation: u64,
    body: Arc<OnceCell<Bytes>>,
}

/// Rendered bodies by key, each for one snapshot generation.
#[derive(Default)]
pub struct RenderCache {
    slots: Mutex<HashMap<RenderKey, Slot>>,
}

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderCache").finish_non_exhaustive()
    }
}

impl RenderCache {
    /// The body `key` for `snapshot`: the cached one when it was rendered
    /// from this generation, else rendered now by `render` on the blocking
    /// pool (once, however many requests wait for it).
    pub async fn render<F>(
        &self,
        key: RenderKey,
        snapshot: &Arc<Snapshot>,
        render: F,
    ) -> Result<Bytes, HttpError>
    where
        F: FnOnce(&Snapshot) -> Bytes + Send + 'static,
    {
        let cell = self.cell(key, snapshot.generation);
        let snapshot = Arc::clone(snapshot);
        cell.get_or_try_init(|| render_uncached(snapshot, render))
            .await
            .cloned()
    }

    /// The entry for `key` at `generation`, replacing one of an older
    /// generation. A reader holding an older snapshot than the entry's
    /// (it fetched just before a newer reader) renders its own.
    fn cell(&self, key: RenderKey, generation: u64) -> Arc<OnceCell<Bytes>> {
        let mut slots = match self.slots.lock() {
            Ok(slots) => slots,
            Err(poisoned) => poisoned.into_inner(),
        };
        match slots.get(&key) {
            Some(slot) if slot.generation == generation => Arc::clone(&slot.body),
            Some(slot) if slot.generation > generation => Arc::new(OnceCell::new()),
            _ => {
                let body = Arc::new(OnceCell::new());
                slots.insert(
                    key,
                    Slot {
                        generation,
                        body: Arc::clone(&body),
                    },
                );
                body
            }
        }
    }
}

/// Renders on the blocking pool, never on a runtime worker.
pub async fn render_uncached<F>(snapshot: Arc<Snapshot>, render: F) -> Result<Bytes, HttpError>
where
    F: FnOnce(&Snapshot) -> Bytes + Send + 'static,
{
    tokio::task::spawn_blocking(move || render(&snapshot))
        .await
        .map_err(|e| HttpError::Internal(format!("Failed to render the state: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn snapshot(generation: u64) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            generation,
            ..Default::default()
        })
    }

    fn counting(renders: &Arc<AtomicUsize>) -> impl FnOnce(&Snapshot) -> Bytes + Send + 'static {
        let renders = Arc::clone(renders);
        move |snapshot: &Snapshot| {
            renders.fetch_add(1, Ordering::SeqCst);
            Bytes::from(format!("generation {}", snapshot.generation))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_render_per_generation_and_key() {
        let cache = RenderCache::default();
        let renders = Arc::new(AtomicUsize::new(0));
        let first = snapshot(1);
        let (a, b) = tokio::join!(
            cache.render(RenderKey::State, &first, counting(&renders)),
            cache.render(RenderKey::State, &first, counting(&renders)),
        );
        assert_eq!(a.unwrap(), "generation 1");
        assert_eq!(b.unwrap(), "generation 1");
        assert_eq!(renders.load(Ordering::SeqCst), 1);

        // Another key of the same snapshot is its own body.
        let summary = cache
            .render(RenderKey::StateSummary, &first, counting(&renders))
            .await;
        assert_eq!(summary.unwrap(), "generation 1");
        assert_eq!(renders.load(Ordering::SeqCst), 2);

        // A new generation renders again, and replaces the old body.
        let second = snapshot(2);
        let body = cache
            .render(RenderKey::State, &second, counting(&renders))
            .await;
        assert_eq!(body.unwrap(), "generation 2");
        assert_eq!(renders.load(Ordering::SeqCst), 3);
        let again = cache
            .render(RenderKey::State, &second, counting(&renders))
            .await;
        assert_eq!(again.unwrap(), "generation 2");
        assert_eq!(renders.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_older_snapshot_never_gets_a_newer_body() {
        let cache = RenderCache::default();
        let renders = Arc::new(AtomicUsize::new(0));
        let newer = cache
            .render(RenderKey::State, &snapshot(5), counting(&renders))
            .await;
        assert_eq!(newer.unwrap(), "generation 5");
        let older = cache
            .render(RenderKey::State, &snapshot(4), counting(&renders))
            .await;
        assert_eq!(older.unwrap(), "generation 4");
        // The newer body stays cached.
        let newer = cache
            .render(RenderKey::State, &snapshot(5), counting(&renders))
            .await;
        assert_eq!(newer.unwrap(), "generation 5");
        assert_eq!(renders.load(Ordering::SeqCst), 2);
    }
}
