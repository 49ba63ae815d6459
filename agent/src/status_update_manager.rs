//! The task status update manager: reliable, ordered delivery of task status
//! updates from this agent to the master (upstream
//! `slave/task_status_update_manager.cpp`).
//!
//! One stream per (framework, task). Only the head of a stream is ever
//! forwarded; the next update goes out only once the head is acknowledged.
//! An unacknowledged head is re-forwarded with exponential backoff from
//! 10 s up to 10 min. While paused (agent not registered) nothing is
//! forwarded; `resume` re-forwards every head at once.
//!
//! The manager is a plain struct owned by the agent actor: every call answers
//! synchronously with the updates to forward, and retry timers come back to
//! the actor as [`RetryTimer`] values on the channel given at construction.
//! It never sends anything itself and never touches agent state.
//! Checkpointing of updates (`task.updates`) is the actor's job: it writes
//! each new update before handing it here, and each acknowledgement after
//! this manager accepted it; after a restart [`StatusUpdateManager::recover`]
//! rebuilds a stream from those records.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use mesos_proto::is_terminal_state;
use mesos_proto::mesos::internal::StatusUpdate;
use tokio::sync::mpsc;

/// `STATUS_UPDATE_RETRY_INTERVAL_MIN`.
pub const RETRY_INTERVAL_MIN: Duration = Duration::from_secs(10);
/// `STATUS_UPDATE_RETRY_INTERVAL_MAX`.
pub const RETRY_INTERVAL_MAX: Duration = Duration::from_secs(600);

/// A retry deadline of one stream; stale ones (the stream moved on) are
/// recognised by their generation and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTimer {
    pub framework_id: String,
    pub task_id: String,
    generation: u64,
}

/// What an acknowledgement did to its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledged {
    /// A terminal update was acknowledged; the stream is gone.
    pub terminated: bool,
    /// The next update to forward, if any.
    pub next: Option<StatusUpdate>,
}

struct Stream {
    pending: VecDeque<StatusUpdate>,
    received: HashSet<Vec<u8>>,
    acknowledged: HashSet<Vec<u8>>,
    terminated: bool,
    /// The backoff used for the head's current timer, when one is armed.
    backoff: Option<Duration>,
    generation: u64,
}

impl Stream {
    fn new() -> Self {
        Stream {
            pending: VecDeque::new(),
            received: HashSet::new(),
            acknowledged: HashSet::new(),
            terminated: false,
            backoff: None,
            generation: 0,
        }
    }
}

pub struct StatusUpdateManager {
    streams: HashMap<(String, String), Stream>,
    paused: bool,
    timers: mpsc::UnboundedSender<RetryTimer>,
}

fn key(update: &StatusUpdate) -> (String, String) {
    (
        update.framework_id.value.clone(),
        update.status.task_id.value.clone(),
    )
}

fn uuid_text(uuid: &[u8]) -> String {
    uuid::Uuid::from_slice(uuid)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| format!("{uuid:?}"))
}

impl StatusUpdateManager {
    /// Starts paused, like upstream: nothing is forwarded before the agent
    /// has registered.
    pub fn new(timers: mpsc::UnboundedSender<RetryTimer>) -> Self {
        StatusUpdateManager {
            streams: HashMap::new(),
            paused: true,
            timers,
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Number of updates not yet acknowledged, over all streams.
    pub fn pending_count(&self) -> usize {
        self.streams.values().map(|s| s.pending.len()).sum()
    }

    /// Whether an update with this uuid was already seen on its stream (a
    /// duplicate: not to be checkpointed or applied again).
    pub fn knows(&self, framework_id: &str, task_id: &str, uuid: &[u8]) -> bool {
        self.streams
            .get(&(framework_id.to_string(), task_id.to_string()))
            .is_some_and(|s| s.received.contains(uuid) || s.acknowledged.contains(uuid))
    }

    /// Rebuilds a task's stream from its checkpointed records: `updates` in
    /// the order received, `acknowledged` the uuids already acknowledged.
    /// Returns true when the stream is still open (a terminal update has
    /// not been acknowledged). Nothing is forwarded until `resume`.
    pub fn recover(
        &mut self,
        framework_id: &str,
        task_id: &str,
        updates: &[StatusUpdate],
        acknowledged: &HashSet<Vec<u8>>,
    ) -> bool {
        let mut stream = Stream::new();
        for update in updates {
            let Some(uuid) = update.uuid.clone() else {
                continue;
            };
            if !stream.received.insert(uuid.clone()) {
                continue;
            }
            if acknowledged.contains(&uuid) {
                stream.acknowledged.insert(uuid);
                if is_terminal_state(update.status.state) {
                    stream.terminated = true;
                }
            } else {
                stream.pending.push_back(update.clone());
            }
        }
        if stream.terminated {
            return false;
        }
        let k = (framework_id.to_string(), task_id.to_string());
        let open = !stream.pending.is_empty() || !stream.received.is_empty();
        self.streams.insert(k, stream);
        open
    }

    /// Adds `update` to its task's stream. Returns the update to forward now
    /// when it became the head of an idle stream. Duplicates (same uuid) and
    /// already acknowledged updates are ignored, not errors, so the caller
    /// still acknowledges the executor.
    pub fn update(&mut self, update: StatusUpdate) -> Result<Option<StatusUpdate>, String> {
        let Some(uuid) = update.uuid.clone() else {
            return Err("Task status update is missing 'uuid'".to_string());
        };
        let paused = self.paused;
        let k = key(&update);
        let stream = self.streams.entry(k.clone()).or_insert_with(Stream::new);
        if stream.acknowledged.contains(&uuid) {
            tracing::warn!(
                "Ignoring task status update for task {} with uuid {} that has already been acknowledged",
                k.1,
                uuid_text(&uuid)
            );
            return Ok(None);
        }
        if stream.received.contains(&uuid) {
            tracing::warn!(
                "Ignoring duplicate task status update for task {} with uuid {}",
                k.1,
                uuid_text(&uuid)
            );
            return Ok(None);
        }
        stream.received.insert(uuid);
        stream.pending.push_back(update.clone());
        if !paused && stream.pending.len() == 1 {
            self.arm(&k, RETRY_INTERVAL_MIN);
            return Ok(Some(update));
        }
        Ok(None)
    }

    /// Handles the framework's acknowledgement of `uuid` for a task.
    pub fn acknowledge(
        &mut self,
        framework_id: &str,
        task_id: &str,
        uuid: &[u8],
    ) -> Result<Acknowledged, String> {
        let k = (framework_id.to_string(), task_id.to_string());
        let paused = self.paused;
        let Some(stream) = self.streams.get_mut(&k) else {
            return Err(format!(
                "Cannot find the task status update stream for task {task_id} of framework {framework_id}"
            ));
        };
        if stream.acknowledged.contains(uuid) {
            return Err("Duplicate task status acknowledgement".to_string());
        }
        let Some(head) = stream.pending.front() else {
            return Err(format!(
                "Unexpected task status update acknowledgment (UUID: {}) for task {task_id} of framework {framework_id}",
                uuid_text(uuid)
            ));
        };
        let head_uuid = head.uuid.clone().unwrap_or_default();
        if head_uuid != uuid {
            return Err(format!(
                "Unexpected task status update acknowledgement (received {}, expecting {}) for task {task_id} of framework {framework_id}",
                uuid_text(uuid),
                uuid_text(&head_uuid)
            ));
        }
        let head = stream.pending.pop_front();
        stream.acknowledged.insert(uuid.to_vec());
        stream.backoff = None;
        stream.generation += 1;
        if !stream.terminated {
            stream.terminated = head
                .as_ref()
                .is_some_and(|h| is_terminal_state(h.status.state));
        }
        if stream.terminated {
            if !stream.pending.is_empty() {
                tracing::warn!(
                    "Acknowledged a terminal task status update for task {task_id} but updates are still pending"
                );
            }
            self.streams.remove(&k);
            return Ok(Acknowledged {
                terminated: true,
                next: None,
            });
        }
        let next = stream.pending.front().cloned();
        if next.is_some() && !paused {
            self.arm(&k, RETRY_INTERVAL_MIN);
            return Ok(Acknowledged {
                terminated: false,
                next,
            });
        }
        Ok(Acknowledged {
            terminated: false,
            next: None,
        })
    }

    /// A retry deadline passed: returns the head to re-forward, if the timer
    /// is still current and the manager is not paused.
    pub fn on_timer(&mut self, timer: RetryTimer) -> Option<StatusUpdate> {
        if self.paused {
            return None;
        }
        let k = (timer.framework_id.clone(), timer.task_id.clone());
        let stream = self.streams.get(&k)?;
        if stream.generation != timer.generation {
            return None;
        }
        let head = stream.pending.front().cloned()?;
        let backoff = stream.backoff.unwrap_or(RETRY_INTERVAL_MIN);
        let next = std::cmp::min(backoff * 2, RETRY_INTERVAL_MAX);
        tracing::warn!(
            "Resending task status update for task {} (next retry in {:?})",
            k.1,
            next
        );
        self.arm(&k, next);
        Some(head)
    }

    /// Stops forwarding (the agent lost its master).
    pub fn pause(&mut self) {
        self.paused = true;
        for stream in self.streams.values_mut() {
            stream.generation += 1;
            stream.backoff = None;
        }
    }

    /// Resumes forwarding; returns every stream head to re-send now.
    pub fn resume(&mut self) -> Vec<StatusUpdate> {
        self.paused = false;
        let keys: Vec<_> = self
            .streams
            .iter()
            .filter(|(_, s)| !s.pending.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for k in keys {
            if let Some(head) = self
                .streams
                .get(&k)
                .and_then(|s| s.pending.front().cloned())
            {
                self.arm(&k, RETRY_INTERVAL_MIN);
                out.push(head);
            }
        }
        out
    }

    /// Drops every stream of a framework (it was removed or shut down).
    pub fn cleanup(&mut self, framework_id: &str) {
        self.streams.retain(|(f, _), _| f != framework_id);
    }

    fn arm(&mut self, k: &(String, String), backoff: Duration) {
        let Some(stream) = self.streams.get_mut(k) else {
            return;
        };
        stream.generation += 1;
        stream.backoff = Some(backoff);
        let timer = RetryTimer {
            framework_id: k.0.clone(),
            task_id: k.1.clone(),
            generation: stream.generation,
        };
        let tx = self.timers.clone();
        tokio::spawn(async move {
            tokio::time::sleep(backoff).await;
            // The actor may be gone at shutdown; nothing to retry then.
            let _ = tx.send(timer);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::{FrameworkId, TaskId, TaskState, TaskStatus};
    use std::collections::HashSet;

    fn update(task: &str, state: TaskState) -> StatusUpdate {
        StatusUpdate {
            framework_id: FrameworkId { value: "F".into() },
            status: TaskStatus {
                task_id: TaskId { value: task.into() },
                state: state as i32,
                ..Default::default()
            },
            timestamp: 1.0,
            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
            ..Default::default()
        }
    }

    fn uuid(u: &StatusUpdate) -> Vec<u8> {
        u.uuid.clone().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn forwards_one_update_at_a_time_in_order() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut sum = StatusUpdateManager::new(tx);
        assert!(sum.resume().is_empty());

        let starting = update("t", TaskState::TaskStarting);
        let running = update("t", TaskState::TaskRunning);
        let finished = update("t", TaskState::TaskFinished);

        assert_eq!(
            sum.update(starting.clone()).unwrap(),
            Some(starting.clone())
        );
        assert_eq!(sum.update(running.clone()).unwrap(), None);
        assert_eq!(sum.update(finished.clone()).unwrap(), None);
        // Acks out of order are refused.
        assert!(sum.acknowledge("F", "t", &uuid(&running)).is_err());

        let ack = sum.acknowledge("F", "t", &uuid(&starting)).unwrap();
        assert_eq!(
            ack,
            Acknowledged {
                terminated: false,
                next: Some(running.clone())
            }
        );
        assert!(
            sum.acknowledge("F", "t", &uuid(&starting)).is_err(),
            "duplicate ack"
        );

        let ack = sum.acknowledge("F", "t", &uuid(&running)).unwrap();
        assert_eq!(ack.next, Some(finished.clone()));

        let ack = sum.acknowledge("F", "t", &uuid(&finished)).unwrap();
        assert!(ack.terminated);
        assert_eq!(sum.pending_count(), 0);
        assert!(
            sum.acknowledge("F", "t", &uuid(&finished)).is_err(),
            "stream is gone"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn streams_of_different_tasks_are_independent() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut sum = StatusUpdateManager::new(tx);
        sum.resume();
        let a = update("a", TaskState::TaskRunning);
        let b = update("b", TaskState::TaskRunning);
        assert!(sum.update(a).unwrap().is_some());
        assert!(sum.update(b).unwrap().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn ignores_duplicates() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut sum = StatusUpdateManager::new(tx);
        sum.resume();
        let running = update("t", TaskState::TaskRunning);
        assert!(sum.update(running.clone()).unwrap().is_some());
        assert_eq!(sum.update(running.clone()).unwrap(), None);
        assert_eq!(sum.pending_count(), 1);
        let mut no_uuid = running;
        no_uuid.uuid = None;
        assert!(sum.update(no_uuid).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn retries_with_exponential_backoff_until_acknowledged() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut sum = StatusUpdateManager::new(tx);
        sum.resume();
        let running = update("t", TaskState::TaskRunning);
        sum.update(running.clone()).unwrap();

        let start = tokio::time::Instant::now();
        let mut fired_at = Vec::new();
        for _ in 0..8 {
            let timer = rx.recv().await.unwrap();
            fired_at.push(start.elapsed().as_secs());
            assert_eq!(sum.on_timer(timer), Some(running.clone()));
        }
        // 10, +20, +40, +80, +160, +320, +600 (capped), +600.
        assert_eq!(fired_at, vec![10, 30, 70, 150, 310, 630, 1230, 1830]);

        sum.acknowledge("F", "t", &uuid(&running)).unwrap();
        let timer = rx.recv().await.unwrap();
        assert_eq!(sum.on_timer(timer), None, "a stale timer does not resend");
    }

    #[tokio::test(start_paused = true)]
    async fn paused_manager_holds_updates_until_resumed() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut sum = StatusUpdateManager::new(tx);
        let running = update("t", TaskState::TaskRunning);
        assert_eq!(sum.update(running.clone()).unwrap(), None);
        assert_eq!(sum.resume(), vec![running.clone()]);
        sum.pause();
        let timer = rx.recv().await.unwrap();
        assert_eq!(sum.on_timer(timer), None);
        assert_eq!(sum.resume(), vec![running]);
    }

    #[tokio::test(start_paused = true)]
    async fn recovered_streams_resend_only_unacknowledged_updates() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut sum = StatusUpdateManager::new(tx);
        let running = update("t", TaskState::TaskRunning);
        let finished = update("t", TaskState::TaskFinished);
        let acked: HashSet<Vec<u8>> = [uuid(&running)].into_iter().collect();
        assert!(sum.recover("F", "t", &[running.clone(), finished.clone()], &acked));
        assert!(sum.knows("F", "t", &uuid(&running)));
        assert!(sum.knows("F", "t", &uuid(&finished)));
        // A re-sent copy of a recovered update is a duplicate.
        assert_eq!(sum.update(finished.clone()).unwrap(), None);
        assert_eq!(sum.resume(), vec![finished.clone()]);
        assert!(
            sum.acknowledge("F", "t", &uuid(&finished))
                .unwrap()
                .terminated
        );

        // A stream whose terminal update was acknowledged is over.
        let done: HashSet<Vec<u8>> = [uuid(&running), uuid(&finished)].into_iter().collect();
        assert!(!sum.recover("F", "u", &[running, finished], &done));
        assert_eq!(sum.pending_count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn cleanup_drops_a_frameworks_streams() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut sum = StatusUpdateManager::new(tx);
        sum.resume();
        sum.update(update("t", TaskState::TaskRunning)).unwrap();
        sum.cleanup("F");
        assert_eq!(sum.pending_count(), 0);
    }
}
