//! Bookkeeping of the server's open connections, so that no client can lock
//! others out: header-read and idle timeouts, and a connection budget that
//! sheds the connection idle the longest instead of refusing new clients;
//! and a half-closed client's EOF, held back until its answers are written.
//!
//! Owns per-connection activity state and the choice of which connection
//! to close. Never reads or writes requests itself; the server reports
//! activity through [`Connection`] and the [`Watched`] stream wrapper.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Time a client has to send a whole request head once it started one, or
/// its first request after connecting.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Time a keep-alive HTTP connection may sit idle between requests. Links
/// that carry libprocess messages are exempt (peers report us `exited` when
/// a link closes), except when the budget forces shedding.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// One open connection's activity.
#[derive(Debug)]
pub struct Connection {
    id: u64,
    /// Requests being served on it.
    busy: AtomicUsize,
    /// Milliseconds since the table's epoch of the last request end (or of
    /// the connection start).
    idle_since: AtomicU64,
    /// Milliseconds since the epoch at which bytes of a new request head
    /// first arrived, 0 when none are pending.
    head_started: AtomicU64,
    /// It carried a libprocess message (a peer's persistent link).
    link: AtomicBool,
    /// Whether a request ever completed its head on it.
    served: AtomicBool,
    /// The client closed its sending side (read EOF).
    read_closed: AtomicBool,
    /// Event-stream answers being written on it.
    event_streams: AtomicUsize,
    /// Requests whose body has not been read in full yet.
    bodies_pending: AtomicUsize,
    /// The reader told "not yet" about an EOF (see [`Connection::eof_due`]).
    parked_reader: Mutex<Option<Waker>>,
    close: Notify,
    /// Set when an answer's producer cuts its stream (see [`Connection::abort`]).
    abort: Notify,
    epoch: Instant,
}

impl Connection {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// A request head was parsed: the connection is busy.
    pub fn request_started(&self) {
        self.busy.fetch_add(1, Ordering::SeqCst);
        self.head_started.store(0, Ordering::SeqCst);
        self.served.store(true, Ordering::SeqCst);
    }

    /// Its answer was produced.
    pub fn request_finished(&self) {
        self.idle_since.store(self.now(), Ordering::SeqCst);
        self.busy.fetch_sub(1, Ordering::SeqCst);
        self.unpark_reader();
    }

    /// Whether a request is being served or answered.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst) > 0
    }

    /// It carried a libprocess message.
    pub fn mark_link(&self) {
        self.link.store(true, Ordering::SeqCst);
    }

    /// Resolves when the connection should be closed (gracefully: an answer
    /// being written is finished first).
    pub async fn closed(&self) {
        self.close.notified().await;
    }

    /// Closes the connection now, whatever is left unwritten: for an event
    /// stream whose client stopped reading, where no write can complete.
    pub fn abort(&self) {
        self.abort.notify_one();
    }

    /// Resolves once [`Connection::abort`] was called.
    pub async fn aborted(&self) {
        self.abort.notified().await;
    }

    /// An event-stream answer started (see `http::Body::stream`).
    pub fn event_stream_started(&self) {
        self.event_streams.fetch_add(1, Ordering::SeqCst);
        self.unpark_reader();
    }

    pub fn event_stream_finished(&self) {
        self.event_streams.fetch_sub(1, Ordering::SeqCst);
    }

    /// A request whose body is still to be read was dispatched.
    pub fn body_pending(&self) {
        self.bodies_pending.fetch_add(1, Ordering::SeqCst);
    }

    /// That body was read (or abandoned).
    pub fn body_done(&self) {
        self.bodies_pending.fetch_sub(1, Ordering::SeqCst);
        self.unpark_reader();
    }

    /// Whether the server should see the client's EOF now. A client that
    /// half-closes after its request is still answered: its EOF is held
    /// back while answers are pending, then shown, and the connection
    /// closes after them. It is shown at once when an event stream is
    /// being written (nobody is left to read it, as libprocess sees it) or
    /// a body is still being read (it can never complete).
    fn eof_due(&self) -> bool {
        self.event_streams.load(Ordering::SeqCst) > 0
            || self.bodies_pending.load(Ordering::SeqCst) > 0
            || self.busy.load(Ordering::SeqCst) == 0
    }

    fn park_reader(&self, waker: &Waker) {
        let mut parked = self.parked_reader.lock().unwrap_or_else(|e| e.into_inner());
        *parked = Some(waker.clone());
    }

    fn unpark_reader(&self) {
        let waker = self
            .parked_reader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// An EOF was read: whether to show it now; if not, the reader is
    /// woken when it is due.
    fn end_of_input(&self, waker: &Waker) -> bool {
        self.read_closed.store(true, Ordering::SeqCst);
        // Parked first, so a change racing this check still wakes it.
        self.park_reader(waker);
        self.eof_due()
    }

    fn bytes_read(&self) {
        if self.busy.load(Ordering::SeqCst) == 0 {
            let _ = self.head_started.compare_exchange(
                0,
                self.now(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
    }

    /// Why this connection has outlived its timeouts, if it has.
    pub fn expired(
        &self,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> Option<&'static str> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let now = self.now();
        let head = self.head_started.load(Ordering::SeqCst);
        let header_ms = u64::try_from(header_timeout.as_millis()).unwrap_or(u64::MAX);
        if head != 0 && now.saturating_sub(head) > header_ms {
            return Some("request head not received in time");
        }
        let idle = now.saturating_sub(self.idle_since.load(Ordering::SeqCst));
        if head == 0 && !self.served.load(Ordering::SeqCst) && idle > header_ms {
            return Some("no request after connecting");
        }
        let idle_ms = u64::try_from(idle_timeout.as_millis()).unwrap_or(u64::MAX);
        if head == 0 && !self.link.load(Ordering::SeqCst) && idle > idle_ms {
            return Some("idle");
        }
        None
    }
}

/// Every open connection of one server.
#[derive(Debug)]
pub struct Table {
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
}

impl Default for Table {
    fn default() -> Table {
        Table {
            epoch: Instant::now(),
            next_id: AtomicU64::new(1),
            open: Mutex::new(HashMap::new()),
        }
    }
}

impl Table {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        // Every update is a single insert/remove: a poisoned map is intact.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.open().len()
    }

    pub fn is_empty(&self) -> bool {
        self.open().is_empty()
    }

    /// Registers a new connection.
    pub fn add(&self) -> Arc<Connection> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let connection = Arc::new(Connection {
            id,
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            link: AtomicBool::new(false),
            served: AtomicBool::new(false),
            read_closed: AtomicBool::new(false),
            event_streams: AtomicUsize::new(0),
            bodies_pending: AtomicUsize::new(0),
            parked_reader: Mutex::new(None),
            close: Notify::new(),
            abort: Notify::new(),
            epoch: self.epoch,
        });
        connection
            .idle_since
            .store(connection.now(), Ordering::SeqCst);
        self.open().insert(id, connection.clone());
        connection
    }

    pub fn remove(&self, connection: &Connection) {
        self.open().remove(&connection.id);
    }

    /// Asks the connection idle the longest to close, preferring ones that
    /// are not libprocess links. `false` when every connection is busy.
    pub fn shed_oldest_idle(&self) -> bool {
        let open = self.open();
        let victim = open
            .values()
            .filter(|c| c.busy.load(Ordering::SeqCst) == 0)
            // Idle times are in milliseconds: ties go to the older
            // connection (lower id), not to the map's iteration order.
            .min_by_key(|c| {
                (
                    c.link.load(Ordering::SeqCst),
                    c.idle_since.load(Ordering::SeqCst),
                    c.id,
                )
            })
            .cloned();
        drop(open);
        match victim {
            Some(victim) => {
                // Removed now so the next shed picks another one, even
                // before this one's task has noticed.
                self.remove(&victim);
                victim.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A connection's stream, reporting reads so a stalled request head can be
/// told from an idle connection.
pub struct Watched<S> {
    pub stream: S,
    pub connection: Arc<Connection>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.connection.read_closed.load(Ordering::SeqCst) {
            // EOF already read; shown once due.
            return if self.connection.end_of_input(cx.waker()) {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            };
        }
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) {
            if buf.filled().len() > before {
                self.connection.bytes_read();
            } else if room && !self.connection.end_of_input(cx.waker()) {
                return Poll::Pending;
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The soft open-file limit of this process (`None` when unknown), so the
/// connection budget never promises more sockets than `accept` can make.
pub fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sheds_the_longest_idle_non_link_first() {
        let table = Table::default();
        let link = table.add();
        link.mark_link();
        std::thread::sleep(Duration::from_millis(5));
        let old = table.add();
        std::thread::sleep(Duration::from_millis(5));
        let busy = table.add();
        busy.request_started();
        let young = table.add();
        assert!(table.shed_oldest_idle());
        assert_eq!(table.len(), 3);
        assert!(!table.open().contains_key(&old.id));
        assert!(table.shed_oldest_idle());
        assert!(!table.open().contains_key(&young.id));
        assert!(table.shed_oldest_idle(), "links go last, but they go");
        assert!(!table.shed_oldest_idle(), "busy connections are never shed");
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn timeouts_tell_stalled_heads_from_idle_links() {
        let table = Table::default();
        let c = table.add();
        let t = Duration::from_millis(20);
        assert_eq!(c.expired(t, Duration::from_secs(60)), None);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            c.expired(t, Duration::from_secs(60)),
            Some("no request after connecting")
        );
        c.request_started();
        assert_eq!(c.expired(t, Duration::ZERO), None, "busy is never expired");
        c.request_finished();
        c.mark_link();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(c.expired(t, t), None, "an idle link stays open");
        c.bytes_read();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(c.expired(t, t), Some("request head not received in time"));
    }
}
