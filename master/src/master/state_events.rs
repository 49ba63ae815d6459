//! Typed state-change events and the operator API's subscribers.
//!
//! The actor calls [`Master::emit`] at the points where upstream publishes
//! operator events (TASK_ADDED, TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED,
//! FRAMEWORK_ADDED/UPDATED/REMOVED). Events are built only when someone
//! listens, so a master without subscribers pays nothing. Each subscriber
//! has a bounded queue: the actor never blocks on it, and a subscriber
//! whose queue is full is dropped (its stream then ends, and its
//! connection is closed if its client stopped reading) rather than
//! buffered without limit. The queue is the only buffer between the actor
//! and the subscriber's connection, which reads it directly.
//!
//! This module never encodes anything: media types, RecordIO and
//! heartbeats belong to the HTTP layer. A [`Published`] event only keeps
//! room for the HTTP layer's encodings, so a change is encoded once for all
//! subscribers instead of once per subscriber.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use mesos_proto::ids::AgentId;
use mesos_proto::mesos::v1::{FrameworkInfo, Task, TaskStatus};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::Master;
use crate::snapshot::{AgentView, FrameworkView, Snapshot};

/// Events queued per subscriber before it counts as too slow.
pub const SUBSCRIBER_QUEUE: usize = 1024;

/// One change of the master's state, as the operator API reports it.
#[derive(Clone, Debug)]
pub enum StateEvent {
    TaskAdded(Box<Task>),
    TaskUpdated {
        framework_id: String,
        /// The status update that caused the change.
        status: Box<TaskStatus>,
        /// The task's latest state.
        state: i32,
    },
    AgentAdded(Box<AgentView>),
    AgentRemoved {
        agent_id: String,
    },
    FrameworkAdded(Box<FrameworkView>),
    FrameworkUpdated(Box<FrameworkView>),
    FrameworkRemoved(Box<FrameworkInfo>),
}

/// A change as published to every subscriber: one shared copy, with one
/// memo slot per encoding the HTTP layer fills on first use.
#[derive(Debug)]
pub struct Published {
    pub change: StateEvent,
    encodings: [std::sync::OnceLock<bytes::Bytes>; 2],
}

impl Published {
    pub fn new(change: StateEvent) -> Published {
        Published {
            change,
            encodings: Default::default(),
        }
    }

    /// The encoding kept in `slot` (0 or 1), made by `encode` the first
    /// time any subscriber asks for it.
    pub fn encoded(
        &self,
        slot: usize,
        encode: impl FnOnce(&StateEvent) -> bytes::Bytes,
    ) -> bytes::Bytes {
        match self.encodings.get(slot) {
            Some(memo) => memo.get_or_init(|| encode(&self.change)).clone(),
            None => encode(&self.change),
        }
    }
}

/// A subscription: the state when it started, then every change after it.
#[derive(Debug)]
pub struct Subscription {
    pub state: Arc<Snapshot>,
    pub events: mpsc::Receiver<Arc<Published>>,
    /// Resolves when the actor drops this subscriber (too slow, or the
    /// actor stopped): the stream must end now, without draining.
    pub dropped: oneshot::Receiver<()>,
    /// Resolves with `dropped`, for whoever must close the connection of a
    /// stream that cannot end because its client stopped reading.
    pub cut: oneshot::Receiver<()>,
}

/// The actor's end of one subscriber.
#[derive(Debug)]
struct Queue {
    events: mpsc::Sender<Arc<Published>>,
    /// Dropped with the queue, which resolves [`Subscription::dropped`]
    /// and [`Subscription::cut`].
    _dropped: [oneshot::Sender<()>; 2],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("Operator event stream subscribers limit has been reached")]
    TooManySubscribers,
    #[error("Master has not finished recovery")]
    NotRecovered,
    #[error("Master is shutting down")]
    ShuttingDown,
}

/// A new subscriber's ends (see [`Subscription`]).
#[derive(Debug)]
pub struct Added {
    pub events: mpsc::Receiver<Arc<Published>>,
    pub dropped: oneshot::Receiver<()>,
    pub cut: oneshot::Receiver<()>,
}

/// The actor's list of subscribers.
#[derive(Debug, Default)]
pub struct Subscribers {
    queues: Vec<Queue>,
}

impl Subscribers {
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queues.len()
    }

    /// Subscribers whose stream is still open (the others leave the list
    /// at the next event or subscription).
    pub fn connected(&self) -> usize {
        self.queues.iter().filter(|q| !q.events.is_closed()).count()
    }

    /// Queues the event for everyone; drops subscribers that went away or
    /// whose queue is full.
    pub fn send(&mut self, event: StateEvent) {
        let event = Arc::new(Published::new(event));
        self.queues
            .retain(|queue| match queue.events.try_send(Arc::clone(&event)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    warn!("Disconnecting an operator subscriber that does not keep up");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }

    /// Adds a subscriber unless `limit` are already connected.
    pub fn add(&mut self, limit: usize, queue: usize) -> Result<Added, SubscribeError> {
        self.queues.retain(|q| !q.events.is_closed());
        if self.queues.len() >= limit {
            return Err(SubscribeError::TooManySubscribers);
        }
        let (tx, events) = mpsc::channel(queue);
        let (dropped_tx, dropped) = oneshot::channel();
        let (cut_tx, cut) = oneshot::channel();
        self.queues.push(Queue {
            events: tx,
            _dropped: [dropped_tx, cut_tx],
        });
        Ok(Added {
            events,
            dropped,
            cut,
        })
    }
}

impl Master {
    /// Publishes a state change to the operator subscribers; `build` runs
    /// only if there are any.
    pub(super) fn emit(&mut self, build: impl FnOnce(&Master) -> Option<StateEvent>) {
        if self.subscribers.is_empty() {
            return;
        }
        if let Some(event) = build(self) {
            self.subscribers.send(event);
        }
    }

    pub(super) fn emit_task_added(&mut self, framework_id: &str, task_id: &str) {
        self.emit(|master| {
            let task = master.frameworks.get(framework_id)?.tasks.get(task_id)?;
            Some(StateEvent::TaskAdded(Box::new(task.clone())))
        });
    }

    pub(super) fn emit_agent_added(&mut self, agent_id: &AgentId) {
        self.emit(|master| {
            let agent = master.agents.get(agent_id)?;
            let used = master.agent_used(agent);
            Some(StateEvent::AgentAdded(Box::new(
                master.agent_view(agent, &used),
            )))
        });
    }

    pub(super) fn emit_framework(&mut self, framework_id: &str, added: bool) {
        self.emit(|master| {
            let view = Box::new(master.framework_view(master.frameworks.get(framework_id)?));
            Some(if added {
                StateEvent::FrameworkAdded(view)
            } else {
                StateEvent::FrameworkUpdated(view)
            })
        });
    }

    /// The operator's SUBSCRIBE: the state as of now, then every change.
    ///
    /// The state is the published snapshot when nothing changed since it
    /// was published, else a newly published one: subscribers that arrive
    /// together share one snapshot (and the HTTP layer one rendering of
    /// it per media type), where each used to get its own.
    pub(super) fn operator_subscribe(
        &mut self,
        reply: oneshot::Sender<Result<Subscription, SubscribeError>>,
    ) {
        let limit = self.flags.max_operator_event_stream_subscribers;
        let answer = match self.subscribers.add(limit, SUBSCRIBER_QUEUE) {
            Ok(Added {
                events,
                dropped,
                cut,
            }) => {
                info!(
                    "Added an operator event stream subscriber ({} now)",
                    self.subscribers.len()
                );
                let state = if self.stale.load(Ordering::Acquire) {
                    self.publish_snapshot()
                } else {
                    self.snapshot_tx.borrow().clone()
                };
                Ok(Subscription {
                    state,
                    events,
                    dropped,
                    cut,
                })
            }
            Err(e) => Err(e),
        };
        let _ = reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(id: &str) -> StateEvent {
        StateEvent::AgentRemoved {
            agent_id: id.to_string(),
        }
    }

    #[tokio::test]
    async fn events_arrive_in_order() {
        let mut subscribers = Subscribers::default();
        let mut rx = subscribers.add(10, 8).unwrap().events;
        for id in ["a", "b", "c"] {
            subscribers.send(removed(id));
        }
        for id in ["a", "b", "c"] {
            match &rx.recv().await.unwrap().change {
                StateEvent::AgentRemoved { agent_id } => assert_eq!(agent_id, id),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    // One encoding per event and media type, shared by every subscriber.
    #[test]
    fn a_published_event_is_encoded_once_per_slot() {
        let published = Published::new(removed("a"));
        let mut calls = 0;
        for _ in 0..3 {
            let bytes = published.encoded(0, |_| {
                calls += 1;
                bytes::Bytes::from_static(b"json")
            });
            assert_eq!(&bytes[..], b"json");
        }
        let other = published.encoded(1, |_| bytes::Bytes::from_static(b"pb"));
        assert_eq!(&other[..], b"pb");
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn a_full_queue_disconnects_only_that_subscriber() {
        let mut subscribers = Subscribers::default();
        let Added {
            events: mut slow,
            dropped: slow_dropped,
            cut: slow_cut,
        } = subscribers.add(10, 2).unwrap();
        let Added {
            events: mut fast, ..
        } = subscribers.add(10, 2).unwrap();
        for round in 0..5 {
            subscribers.send(removed(&round.to_string()));
            fast.recv().await.unwrap();
        }
        assert_eq!(subscribers.len(), 1);
        // Its stream is told at once, and so is whoever closes its
        // connection.
        assert!(slow_dropped.await.is_err());
        assert!(slow_cut.await.is_err());
        // The slow one keeps what was queued, then its stream ends.
        assert!(slow.recv().await.is_some());
        assert!(slow.recv().await.is_some());
        assert!(slow.recv().await.is_none());
    }

    #[test]
    fn the_limit_counts_live_subscribers() {
        let mut subscribers = Subscribers::default();
        let first = subscribers.add(1, 2).unwrap();
        assert_eq!(
            subscribers.add(1, 2).unwrap_err(),
            SubscribeError::TooManySubscribers
        );
        drop(first);
        assert!(subscribers.add(1, 2).is_ok());
    }
}
