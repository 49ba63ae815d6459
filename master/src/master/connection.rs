//! A scheduler's SUBSCRIBE stream: the RecordIO body of the HTTP response,
//! its heartbeats, and the notice that the client went away.
//!
//! Owns the encoding of v1 scheduler events onto one stream and a small
//! forwarding task per stream. The actor writes events without ever
//! blocking (the forwarder absorbs slow readers); the forwarder sends the
//! first HEARTBEAT right after the first event (SUBSCRIBED) and then every
//! 15 s, and reports when the client side closes. It never decides anything
//! about frameworks.
//!
//! A stream's queue is bounded by bytes: a scheduler that stops reading
//! while the master keeps producing (offers, updates) would otherwise grow
//! the master's memory without end. Past the bound the stream is closed,
//! which the master handles as the scheduler disconnecting; the scheduler
//! re-subscribes as after any broken connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mesos_proto::mesos::v1::scheduler::{event, Event};
use prost::Message as _;
use tokio::sync::mpsc;

use libprocess::Body;

/// Upstream's `DEFAULT_HEARTBEAT_INTERVAL` for scheduler streams.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// Chunks buffered towards the HTTP body before the forwarder waits.
const BODY_BUFFER: usize = 64;

/// Bytes of events a stream may have queued before it is closed: tens of
/// thousands of offers, far beyond what a reading scheduler ever lags.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;

pub use libprocess::media::ContentType;

/// One event as a RecordIO record in the stream's media type.
pub fn encode_event(event: &Event, content_type: ContentType) -> Bytes {
    match content_type {
        ContentType::Json => {
            mesos_proto::recordio::encode(mesos_proto::json::encode(event).as_bytes())
        }
        ContentType::Protobuf => mesos_proto::recordio::encode(&event.encode_to_vec()),
    }
}

/// The HEARTBEAT event.
pub fn heartbeat_event() -> Event {
    Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Default::default()
    }
}

/// The master's end of a subscription stream. Dropping it ends the HTTP
/// response (the forwarder finishes what is queued, then closes).
#[derive(Debug)]
pub struct HttpConnection {
    pub stream_id: String,
    pub content_type: ContentType,
    sender: mpsc::UnboundedSender<Outgoing>,
    budget: Arc<Budget>,
}

/// What a stream has queued, and the signal that it went over its bound.
#[derive(Debug)]
struct Budget {
    queued: AtomicUsize,
    limit: usize,
    overflowed: tokio::sync::Notify,
}

/// What the actor queues for the forwarder.
#[derive(Debug)]
enum Outgoing {
    Record(Bytes),
    /// Send a HEARTBEAT now and every 15 s from here on (after SUBSCRIBED),
    /// each counted in the framework's metrics.
    StartHeartbeats(Arc<std::sync::atomic::AtomicU64>),
}

impl HttpConnection {
    /// Creates a stream with a fresh stream id. Returns the connection, the
    /// response body to hand to the HTTP server, and spawns the forwarder,
    /// which calls `on_closed(stream_id)` if the client goes away first.
    pub fn open(
        content_type: ContentType,
        on_closed: impl FnOnce(String) + Send + 'static,
    ) -> (HttpConnection, Body) {
        Self::open_bounded(content_type, MAX_QUEUED_BYTES, on_closed)
    }

    /// [`HttpConnection::open`] with a queue bound of `limit` bytes.
    pub fn open_bounded(
        content_type: ContentType,
        limit: usize,
        on_closed: impl FnOnce(String) + Send + 'static,
    ) -> (HttpConnection, Body) {
        let stream_id = uuid::Uuid::new_v4().to_string();
        let (sender, events) = mpsc::unbounded_channel();
        let (body_tx, body_rx) = mpsc::channel(BODY_BUFFER);
        let budget = Arc::new(Budget {
            queued: AtomicUsize::new(0),
            limit,
            overflowed: tokio::sync::Notify::new(),
        });
        tokio::spawn(forward(
            events,
            body_tx,
            content_type,
            stream_id.clone(),
            budget.clone(),
            on_closed,
        ));
        (
            HttpConnection {
                stream_id,
                content_type,
                sender,
                budget,
            },
            Body::stream(body_rx),
        )
    }

    /// Queues an event; false if the stream is already gone or has just
    /// gone over its bound (it is then being closed).
    pub fn send(&self, event: &Event) -> bool {
        let record = encode_event(event, self.content_type);
        let queued = self
            .budget
            .queued
            .fetch_add(record.len(), Ordering::Relaxed);
        if queued + record.len() > self.budget.limit {
            self.budget
                .queued
                .fetch_sub(record.len(), Ordering::Relaxed);
            tracing::warn!(
                "Closing the event stream {} of a scheduler that is not reading: {} bytes queued",
                self.stream_id,
                queued
            );
            self.budget.overflowed.notify_one();
            return false;
        }
        self.sender.send(Outgoing::Record(record)).is_ok()
    }

    /// Starts the heartbeats: one right away (upstream's heartbeater has no
    /// initial delay), then every [`HEARTBEAT_INTERVAL`]. Called right after
    /// SUBSCRIBED, so nothing can come between the two.
    /// Starts the heartbeats; each one sent adds to `sent` (they leave from
    /// the stream's task, not the actor, so the count is shared).
    pub fn start_heartbeats(&self, sent: Arc<std::sync::atomic::AtomicU64>) {
        let _ = self.sender.send(Outgoing::StartHeartbeats(sent));
    }
}

/// Copies queued records into the body, sends heartbeats once asked to,
/// and notices the client closing the connection.
async fn forward(
    mut events: mpsc::UnboundedReceiver<Outgoing>,
    body: mpsc::Sender<Bytes>,
    content_type: ContentType,
    stream_id: String,
    budget: Arc<Budget>,
    on_closed: impl FnOnce(String) + Send + 'static,
) {
    let heartbeat = encode_event(&heartbeat_event(), content_type);
    let mut heartbeats: Option<tokio::time::Interval> = None;
    let mut heartbeats_sent: Option<Arc<std::sync::atomic::AtomicU64>> = None;
    loop {
        let record = tokio::select! {
            // Queued events first: an ERROR followed by close must end the
            // stream right there.
            biased;
            _ = budget.overflowed.notified() => break,
            next = events.recv() => match next {
                // The master closed the stream.
                None => return,
                Some(Outgoing::Record(record)) => {
                    budget.queued.fetch_sub(record.len(), Ordering::Relaxed);
                    record
                }
                Some(Outgoing::StartHeartbeats(sent)) => {
                    let start = tokio::time::Instant::now() + HEARTBEAT_INTERVAL;
                    heartbeats = Some(tokio::time::interval_at(start, HEARTBEAT_INTERVAL));
                    sent.fetch_add(1, Ordering::Relaxed);
                    heartbeats_sent = Some(sent);
                    heartbeat.clone()
                }
            },
            _ = tick(&mut heartbeats) => {
                if let Some(sent) = &heartbeats_sent {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                heartbeat.clone()
            }
            _ = body.closed() => break,
        };
        // A reader that stopped keeps this send waiting: the overflow
        // signal must still end the stream.
        tokio::select! {
            sent = body.send(record) => if sent.is_err() { break },
            _ = budget.overflowed.notified() => break,
        }
    }
    on_closed(stream_id);
}

/// Waits for the next heartbeat tick, or forever if heartbeats have not
/// started.
async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn error_event(message: &str) -> Event {
        Event {
            r#type: Some(event::Type::Error as i32),
            error: Some(event::Error {
                message: message.to_string(),
            }),
            ..Default::default()
        }
    }

    async fn next_chunk(rx: &mut mpsc::Receiver<Bytes>) -> Option<Bytes> {
        rx.recv().await
    }

    fn budget() -> Arc<Budget> {
        Arc::new(Budget {
            queued: AtomicUsize::new(0),
            limit: MAX_QUEUED_BYTES,
            overflowed: tokio::sync::Notify::new(),
        })
    }

    // A scheduler that never reads: once its queue passes the bound, sends
    // fail and the stream closes as if the client had gone, so the master
    // treats the framework as disconnected instead of buffering forever.
    #[tokio::test]
    async fn a_stream_that_is_not_read_is_closed_at_its_bound() {
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
        let (connection, body) =
            HttpConnection::open_bounded(ContentType::Json, 64 * 1024, move |id| {
                let _ = closed_tx.send(id);
            });
        let event = error_event(&"x".repeat(1000));
        let mut accepted = 0;
        while connection.send(&event) {
            accepted += 1;
            assert!(accepted < 10_000, "the bound never applied");
        }
        // At least what fits in the bound.
        assert!(accepted >= 60, "{accepted}");
        let closed = tokio::time::timeout(Duration::from_secs(10), closed_rx)
            .await
            .expect("the stream closes")
            .expect("on_closed ran");
        assert_eq!(closed, connection.stream_id);
        drop(body);
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_follow_first_event() {
        let (body_tx, mut body_rx) = mpsc::channel(8);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(forward(
            rx,
            body_tx,
            ContentType::Json,
            "s".into(),
            budget(),
            |_| {},
        ));
        tx.send(Outgoing::Record(encode_event(
            &error_event("first"),
            ContentType::Json,
        )))
        .unwrap();
        tx.send(Outgoing::StartHeartbeats(Default::default()))
            .unwrap();
        tx.send(Outgoing::Record(encode_event(
            &error_event("later"),
            ContentType::Json,
        )))
        .unwrap();
        let first = next_chunk(&mut body_rx).await.unwrap();
        assert!(std::str::from_utf8(&first).unwrap().contains("first"));
        let second = next_chunk(&mut body_rx).await.unwrap();
        assert_eq!(&second[..], b"20\n{\"type\":\"HEARTBEAT\"}");
        let later = next_chunk(&mut body_rx).await.unwrap();
        assert!(std::str::from_utf8(&later).unwrap().contains("later"));
        // The next one only after 15 s.
        let before = tokio::time::Instant::now();
        let third = next_chunk(&mut body_rx).await.unwrap();
        assert_eq!(third, second);
        assert!(tokio::time::Instant::now() - before >= HEARTBEAT_INTERVAL);
    }

    #[tokio::test(start_paused = true)]
    async fn master_close_ends_stream_without_heartbeat() {
        let (body_tx, mut body_rx) = mpsc::channel(8);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(forward(
            rx,
            body_tx,
            ContentType::Json,
            "s".into(),
            budget(),
            |_| {},
        ));
        tx.send(Outgoing::Record(encode_event(
            &error_event("bye"),
            ContentType::Json,
        )))
        .unwrap();
        drop(tx);
        let first = next_chunk(&mut body_rx).await.unwrap();
        assert!(std::str::from_utf8(&first).unwrap().contains("bye"));
        assert!(next_chunk(&mut body_rx).await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn client_close_is_reported() {
        let (body_tx, body_rx) = mpsc::channel(8);
        let (_tx, rx) = mpsc::unbounded_channel::<Outgoing>();
        let closed = Arc::new(Mutex::new(None));
        let seen = closed.clone();
        let task = tokio::spawn(forward(
            rx,
            body_tx,
            ContentType::Json,
            "s1".into(),
            budget(),
            move |id| {
                *seen.lock().unwrap() = Some(id);
            },
        ));
        drop(body_rx);
        task.await.unwrap();
        assert_eq!(closed.lock().unwrap().as_deref(), Some("s1"));
    }

    #[test]
    fn protobuf_records_are_length_prefixed() {
        let record = encode_event(&heartbeat_event(), ContentType::Protobuf);
        let bytes = heartbeat_event().encode_to_vec();
        assert_eq!(
            &record[..],
            [format!("{}\n", bytes.len()).as_bytes(), &bytes].concat()
        );
    }
}
