//! The state store for callers that wait on threads of their own (the JVM
//! threads of the JNI bindings).
//!
//! A [`BlockingState`] owns a private single-worker runtime on which its
//! operations run; each call returns at once with a [`Pending`] result
//! that can be waited on (with or without a timeout), polled and
//! discarded, which is what `java.util.concurrent.Future` needs. Dropping
//! the state stops its runtime: operations still running fail with
//! [`Error::Closed`] and no thread is left behind.
//!
//! This module never blocks a runtime thread: waiting happens on the
//! caller's thread, on a condition variable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::{Error, State, Variable, ZooKeeperStorage, ZooKeeperStorageOptions};

/// How a finished operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    Ready(T),
    Failed(String),
    /// Discarded before it finished.
    Discarded,
}

enum Slot<T> {
    Pending,
    Done(Outcome<T>),
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    finished: Condvar,
    discard: AtomicBool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // A panic elsewhere must not turn every later wait into one.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the outcome unless there already is one.
    fn finish(&self, outcome: Outcome<T>) {
        let mut slot = self.lock();
        if matches!(*slot, Slot::Pending) {
            *slot = Slot::Done(outcome);
            self.finished.notify_all();
        }
    }
}

/// Completes its [`Pending`] when the operation ends, however it ends:
/// dropped unfinished (discarded, or its runtime stopped), it records why.
struct Completer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        let outcome = if self.shared.discard.load(Ordering::SeqCst) {
            Outcome::Discarded
        } else {
            Outcome::Failed(Error::Closed.to_string())
        };
        self.shared.finish(outcome);
    }
}

/// The result of an operation that may still be running.
pub struct Pending<T> {
    shared: Arc<Shared<T>>,
    task: Option<tokio::task::AbortHandle>,
}

impl<T: Clone> Pending<T> {
    /// Blocks until the operation ends.
    pub fn wait(&self) -> Outcome<T> {
        let mut slot = self.shared.lock();
        loop {
            if let Slot::Done(outcome) = &*slot {
                return outcome.clone();
            }
            slot = self
                .shared
                .finished
                .wait(slot)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks until the operation ends or `timeout` passes (`None`).
    pub fn wait_for(&self, timeout: Duration) -> Option<Outcome<T>> {
        let slot = self.shared.lock();
        let (slot, _) = self
            .shared
            .finished
            .wait_timeout_while(slot, timeout, |s| matches!(s, Slot::Pending))
            .unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Slot::Done(outcome) => Some(outcome.clone()),
            Slot::Pending => None,
        }
    }
}

impl<T> Pending<T> {
    /// Finished, or asked to discard (upstream's `isDone`: a discard
    /// request counts, since the caller gave up on it).
    pub fn is_done(&self) -> bool {
        self.shared.discard.load(Ordering::SeqCst) || !matches!(*self.shared.lock(), Slot::Pending)
    }

    /// Asks the operation to stop. One already finished keeps its
    /// outcome; a write already sent to ZooKeeper may still land.
    pub fn discard(&self) {
        self.shared.discard.store(true, Ordering::SeqCst);
        if let Some(task) = &self.task {
            task.abort();
        }
    }

    fn new() -> (Pending<T>, Completer<T>) {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::Pending),
            finished: Condvar::new(),
            discard: AtomicBool::new(false),
        });
        (
            Pending {
                shared: shared.clone(),
                task: None,
            },
            Completer { shared },
        )
    }

    /// An operation that failed before it started.
    fn failed(error: Error) -> Pending<T> {
        let (pending, completer) = Pending::new();
        pending.shared.finish(Outcome::Failed(error.to_string()));
        drop(completer);
        pending
    }
}

/// See the module documentation.
pub struct BlockingState {
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for BlockingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingState")
            .field("storage", self.state.storage())
            .finish_non_exhaustive()
    }
}

impl BlockingState {
    /// Checks the options and starts the runtime; ZooKeeper is reached on
    /// the first operation.
    pub fn new(options: ZooKeeperStorageOptions) -> Result<BlockingState, Error> {
        let storage = ZooKeeperStorage::new(options)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .thread_name("mesos-state")
            .enable_all()
            .build()
            .map_err(|e| Error::ZooKeeper {
                what: "start of the state runtime".to_string(),
                reason: e.to_string(),
            })?;
        Ok(BlockingState {
            state: Arc::new(State::new(storage)),
            runtime: Some(runtime),
        })
    }

    pub fn fetch(&self, name: String) -> Pending<Variable> {
        self.spawn(move |state| async move { state.fetch(&name).await })
    }

    pub fn store(&self, variable: Variable) -> Pending<Option<Variable>> {
        self.spawn(move |state| async move { state.store(&variable).await })
    }

    pub fn expunge(&self, variable: Variable) -> Pending<bool> {
        self.spawn(move |state| async move { state.expunge(&variable).await })
    }

    pub fn names(&self) -> Pending<Vec<String>> {
        self.spawn(|state| async move { state.names().await })
    }

    fn spawn<T, F, Fut>(&self, operation: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<State>) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>> + Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Pending::failed(Error::Closed);
        };
        let (mut pending, completer) = Pending::new();
        let future = operation(self.state.clone());
        let task = runtime.spawn(async move {
            let outcome = match future.await {
                Ok(value) => Outcome::Ready(value),
                Err(e) => Outcome::Failed(e.to_string()),
            };
            completer.shared.finish(outcome);
        });
        pending.task = Some(task.abort_handle());
        pending
    }
}

impl Drop for BlockingState {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Drops the unfinished operations (their waiters learn it) and
            // joins the worker; nothing here waits on ZooKeeper.
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable_state(timeout: Duration) -> BlockingState {
        // Port 1 on loopback refuses connections.
        let mut options = ZooKeeperStorageOptions::new("127.0.0.1:1", "/s", timeout);
        options.operation_timeout = timeout;
        BlockingState::new(options).expect("state")
    }

    #[test]
    fn an_unreachable_zookeeper_fails_the_operation_at_its_deadline() {
        let state = unreachable_state(Duration::from_secs(1));
        let pending = state.fetch("a".into());
        match pending.wait_for(Duration::from_secs(30)) {
            Some(Outcome::Failed(message)) => {
                assert!(message.contains("Timed out"), "{message}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(pending.is_done());
    }

    #[test]
    fn discard_ends_a_pending_operation_as_discarded() {
        let state = unreachable_state(Duration::from_secs(60));
        let pending = state.names();
        assert!(pending.wait_for(Duration::from_millis(50)).is_none());
        assert!(!pending.is_done());
        pending.discard();
        assert!(pending.is_done());
        assert_eq!(pending.wait(), Outcome::Discarded);
    }

    #[test]
    fn dropping_the_state_fails_what_is_still_running() {
        let state = unreachable_state(Duration::from_secs(60));
        let pending = state.fetch("a".into());
        drop(state);
        assert_eq!(
            pending.wait_for(Duration::from_secs(10)),
            Some(Outcome::Failed("No longer managing storage".into()))
        );
    }

    #[test]
    fn an_invalid_name_fails_without_reaching_zookeeper() {
        let state = unreachable_state(Duration::from_secs(60));
        match state.fetch("a/b".into()).wait_for(Duration::from_secs(5)) {
            Some(Outcome::Failed(message)) => assert!(message.contains("Invalid variable name")),
            other => panic!("unexpected {other:?}"),
        }
    }
}
