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
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use mesos_proto::mesos::v1::Task;
use serde_json::value::RawValue;
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
    /// The legacy JSON of every task of the last `/state` render.
    tasks: Mutex<TaskFragments>,
    /// The protobuf encoding of every task of the last GET_STATE render.
    encoded_tasks: Mutex<TaskFragments<Vec<u8>>>,
}

/// Tasks' legacy JSON, each rendered once per version of the task, so
/// that a body rendered after a change renders only the tasks that
/// changed. The actor never changes a task a snapshot shares: it changes
/// a copy in a new allocation (`Arc::make_mut`), and this cache keeps
/// each allocation it knows alive (a `Weak`), so an address it has seen
/// always holds the task rendered for it.
pub struct TaskFragments<V = Box<RawValue>> {
    rendered: HashMap<usize, (Weak<Task>, V)>,
}

impl<V> Default for TaskFragments<V> {
    fn default() -> Self {
        TaskFragments {
            rendered: HashMap::new(),
        }
    }
}

impl<V> TaskFragments<V> {
    /// Makes this hold exactly `tasks`: those rendered before are kept,
    /// the others rendered with `render`, the ones no longer listed
    /// dropped.
    pub fn refresh<'a>(
        &mut self,
        tasks: impl Iterator<Item = &'a Arc<Task>>,
        render: impl Fn(&Task) -> V,
    ) {
        let mut old = std::mem::take(&mut self.rendered);
        let mut rendered = HashMap::with_capacity(old.len());
        for task in tasks {
            let key = Arc::as_ptr(task) as usize;
            if rendered.contains_key(&key) {
                continue;
            }
            let entry = match old.remove(&key) {
                Some(entry) if std::ptr::eq(entry.0.as_ptr(), Arc::as_ptr(task)) => entry,
                _ => (Arc::downgrade(task), render(task)),
            };
            rendered.insert(key, entry);
        }
        self.rendered = rendered;
    }

    /// The rendering of `task`, if [`TaskFragments::refresh`] saw it.
    pub fn get(&self, task: &Arc<Task>) -> Option<&V> {
        self.rendered
            .get(&(Arc::as_ptr(task) as usize))
            .map(|(_, rendered)| rendered)
    }

    pub fn len(&self) -> usize {
        self.rendered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rendered.is_empty()
    }
}

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderCache").finish_non_exhaustive()
    }
}

impl RenderCache {
    /// The task fragments, for one render at a time.
    pub fn task_fragments(&self) -> MutexGuard<'_, TaskFragments> {
        match self.tasks.lock() {
            Ok(tasks) => tasks,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The encoded tasks, for one render at a time.
    pub fn encoded_tasks(&self) -> MutexGuard<'_, TaskFragments<Vec<u8>>> {
        match self.encoded_tasks.lock() {
            Ok(tasks) => tasks,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

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

    fn task(id: &str) -> Arc<Task> {
        Arc::new(Task {
            task_id: mesos_proto::mesos::v1::TaskId { value: id.into() },
            ..Default::default()
        })
    }

    #[test]
    fn task_fragments_render_only_tasks_not_seen_before() {
        let renders = AtomicUsize::new(0);
        let render = |task: &Task| {
            renders.fetch_add(1, Ordering::SeqCst);
            serde_json::value::to_raw_value(&task.task_id.value).unwrap()
        };
        let (a, b) = (task("a"), task("b"));
        let mut fragments: TaskFragments = TaskFragments::default();
        fragments.refresh([&a, &b, &a].into_iter(), render);
        assert_eq!(renders.load(Ordering::SeqCst), 2);
        assert_eq!(fragments.get(&a).unwrap().get(), r#""a""#);

        // `b` changed the way the actor changes a shared task: a copy.
        let mut changed = Arc::clone(&b);
        Arc::make_mut(&mut changed).task_id.value = "b2".into();
        drop(b);
        fragments.refresh([&a, &changed].into_iter(), render);
        assert_eq!(renders.load(Ordering::SeqCst), 3);
        assert_eq!(fragments.get(&changed).unwrap().get(), r#""b2""#);
        assert_eq!(fragments.len(), 2, "the old version is dropped");

        // Unchanged, with the cache the only other holder: still not
        // rendered again, and changing it in place is impossible.
        let mut alone = task("c");
        fragments.refresh([&alone].into_iter(), render);
        Arc::make_mut(&mut alone).task_id.value = "c2".into();
        fragments.refresh([&alone].into_iter(), render);
        assert_eq!(fragments.get(&alone).unwrap().get(), r#""c2""#);
        assert_eq!(renders.load(Ordering::SeqCst), 5);
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
