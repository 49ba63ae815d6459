//! The libprocess HTTP server: one listener that receives both libprocess
//! messages and HTTP calls, routed by process id (checklist §0, §6).
//!
//! Owns accepting connections (bounded, with accept back-off), HTTP/1.1
//! keep-alive and pipelining (via hyper), telling messages from HTTP calls,
//! delivering messages in per-connection order to the registered process
//! channel (202, or 404 if no such process), routing HTTP calls to handlers
//! (404 when nothing matches), request body limits (413) and a process-wide
//! budget for buffered bodies (senders wait, then 503), header-read and idle
//! timeouts and a connection budget that sheds the longest-idle connection
//! (see [`crate::connections`]), answering clients that half-closed after
//! their request, catching handler panics (500) and gzip of
//! large non-streaming answers. Never interprets
//! message bodies or negotiates content types; that is the components' job.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::authentication::Authentication;
use crate::connections::{self, Connection, Table, Watched};
use crate::http::{self as lhttp, Body, Handler, Request, Response, RouteInfo, StatusCode};
use crate::ssl::{self, Tls};
use crate::{message, routing, Error, Message};

/// Default cap on a request body (messages and HTTP calls alike).
pub const DEFAULT_MAX_BODY_SIZE: usize = 64 * 1024 * 1024;

/// Default cap on concurrently open connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;

/// Default budget for request bodies buffered at once, over all connections.
pub const DEFAULT_MAX_BUFFERED_BODIES: usize = 256 * 1024 * 1024;

/// How long a body waits for room in the budget, over all its frames,
/// before it is refused. A total, not a wait per frame: per frame, the
/// frames still in flight when its sender is done could each wait in turn,
/// and the sender would wait minutes for its answer.
const BODY_BUDGET_WAIT: Duration = Duration::from_secs(30);

/// How long the rest of a refused body is read (and dropped) before the
/// answer goes out. Closing with unread bytes makes the kernel reset the
/// connection, which loses the answer, so this is generous: draining keeps
/// nothing, the body size limit bounds it, and the connection budget
/// bounds how many drain at once.
const REFUSED_BODY_DRAIN: Duration = Duration::from_secs(120);

/// File descriptors kept out of the connection budget, for files, pipes,
/// outbound links and the listener itself.
const RESERVED_FDS: usize = 256;

/// How often connections check their timeouts.
const TIMEOUT_TICK: Duration = Duration::from_secs(1);

/// The longest pause after repeated `accept` failures.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// How often, and for how long, a connection over the budget waits for
/// another one to turn idle so that one can be shed.
const SHED_RETRY_INTERVAL: Duration = Duration::from_millis(10);
const SHED_RETRY_LIMIT: Duration = Duration::from_secs(30);

#[derive(Default, Clone)]
struct ProcessEntry {
    /// Normalized route (`/state`, `/`) → handler.
    routes: HashMap<String, Handler>,
    messages: Option<mpsc::UnboundedSender<Message>>,
}

/// The live process table of a server. Cheap to clone; changes apply to
/// requests arriving afterwards. Components that spawn processes at run time
/// (the master's `slave-observer(N)`, for instance) register them here.
#[derive(Clone, Default)]
pub struct Processes {
    table: Arc<RwLock<HashMap<String, ProcessEntry>>>,
    /// Realms and their authenticators, applied to every HTTP route.
    authentication: Arc<RwLock<Arc<Authentication>>>,
}

impl std::fmt::Debug for Processes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self
            .table
            .read()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("Processes").field("ids", &ids).finish()
    }
}

impl Processes {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, ProcessEntry>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every update is a single insert/remove), so poisoning is ignored.
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, ProcessEntry>> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Authenticates HTTP routes from now on as `authentication` says
    /// (realm per route, authenticator per realm); messages never are.
    pub fn set_authentication(&self, authentication: Authentication) {
        *self
            .authentication
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(authentication);
    }

    fn authentication(&self) -> Arc<Authentication> {
        self.authentication
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Adds (or replaces) the route `path` of process `process_id`.
    pub fn add_route(&self, process_id: &str, path: &str, handler: Handler) {
        self.write()
            .entry(process_id.to_string())
            .or_default()
            .routes
            .insert(routing::normalize_route(path), handler);
    }

    /// Delivers messages addressed to `process_id` into `tx` (replacing any
    /// previous channel).
    pub fn add_messages(&self, process_id: &str, tx: mpsc::UnboundedSender<Message>) {
        self.write()
            .entry(process_id.to_string())
            .or_default()
            .messages = Some(tx);
    }

    /// Stops delivering messages to `process_id` (its routes stay).
    pub fn remove_messages(&self, process_id: &str) {
        let mut table = self.write();
        if let Some(entry) = table.get_mut(process_id) {
            entry.messages = None;
            if entry.routes.is_empty() {
                table.remove(process_id);
            }
        }
    }

    /// Removes process `process_id` entirely (routes and messages).
    pub fn remove(&self, process_id: &str) {
        self.write().remove(process_id);
    }

    /// Whether a process with this id is registered.
    pub fn contains(&self, process_id: &str) -> bool {
        self.read().contains_key(process_id)
    }

    fn delegated_path(&self, path: &str, delegate: &str) -> String {
        let table = self.read();
        routing::delegated_path(path, delegate, |id| table.contains_key(id))
    }

    fn route(&self, path: &str, delegate: &str) -> Option<(routing::RouteMatch, Handler)> {
        let table = self.read();
        let m = routing::route(
            path,
            delegate,
            |id| table.contains_key(id),
            |id, route| table.get(id).is_some_and(|p| p.routes.contains_key(route)),
        )?;
        let handler = table.get(&m.process_id)?.routes.get(&m.route)?.clone();
        Some((m, handler))
    }

    fn message_channel(&self, process_id: &str) -> Option<mpsc::UnboundedSender<Message>> {
        self.read().get(process_id)?.messages.clone()
    }
}

/// Builds a [`Server`]: `Server::builder("master").route(...).messages(...)`.
pub struct ServerBuilder {
    delegate: String,
    processes: Processes,
    max_body_size: usize,
    max_connections: usize,
    max_buffered_bodies: usize,
    header_timeout: Duration,
    idle_timeout: Duration,
    tls: Option<Option<Arc<Tls>>>,
    disabled_endpoints: HashSet<String>,
}

impl ServerBuilder {
    /// Adds route `path` (e.g. `/api/v1/scheduler`, or `/` for the process
    /// root) to process `process_id`.
    pub fn route(self, process_id: &str, path: &str, handler: Handler) -> Self {
        self.processes.add_route(process_id, path, handler);
        self
    }

    /// Delivers messages addressed to `process_id` into `tx`.
    pub fn messages(self, process_id: &str, tx: mpsc::UnboundedSender<Message>) -> Self {
        self.processes.add_messages(process_id, tx);
        self
    }

    /// Authenticates HTTP routes as `authentication` says (see
    /// [`Processes::set_authentication`]).
    pub fn authentication(self, authentication: Authentication) -> Self {
        self.processes.set_authentication(authentication);
        self
    }

    /// Caps request bodies (bigger ones get 413). Default 64 MiB.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// Caps concurrently open connections (further lowered to fit the
    /// open-file limit). At the cap a new client makes the longest-idle
    /// connection close; only when all are busy does it wait in the listen
    /// backlog. Default 8192.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Caps the request bytes buffered at once over all connections; a body
    /// that does not fit waits (its sender is slowed by TCP) and gets 503
    /// after 30 s. Default 256 MiB.
    pub fn max_buffered_bodies(mut self, bytes: usize) -> Self {
        self.max_buffered_bodies = bytes.max(1);
        self
    }

    /// Time to send a request head (and a first request). Default 30 s.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Time a keep-alive HTTP connection (not a libprocess link) may idle.
    /// Default 5 minutes.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Serves TLS with `tls` (plaintext with `None`) instead of what this
    /// process's `LIBPROCESS_SSL_*` environment says.
    pub fn tls(mut self, tls: Option<Arc<Tls>>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Refuses HTTP requests (never messages) to these paths with 403, as
    /// upstream's `--firewall_rules` `disabled_endpoints` does. A path is
    /// compared as the delegate sees it (see [`routing::delegated_path`]).
    pub fn disabled_endpoints(mut self, paths: HashSet<String>) -> Self {
        self.disabled_endpoints = paths;
        self
    }

    /// Binds the listener (port 0 picks a free port, see
    /// [`Server::local_addr`]). Nothing is served until [`Server::serve`].
    pub async fn bind(self, addr: SocketAddr) -> Result<Server, Error> {
        let tls = match self.tls {
            Some(tls) => tls,
            None => ssl::process_tls().map_err(Error::Tls)?,
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        Ok(Server {
            listener,
            local_addr,
            shared: Arc::new(Shared {
                delegate: self.delegate,
                processes: self.processes,
                max_body_size: self.max_body_size,
                body_budget: Arc::new(Semaphore::new(self.max_buffered_bodies)),
                max_buffered_bodies: self.max_buffered_bodies,
                header_timeout: self.header_timeout,
                idle_timeout: self.idle_timeout,
                tls,
                disabled_endpoints: self.disabled_endpoints,
            }),
            max_connections: self.max_connections,
        })
    }
}

struct Shared {
    delegate: String,
    processes: Processes,
    max_body_size: usize,
    /// One permit per buffered request byte.
    body_budget: Arc<Semaphore>,
    max_buffered_bodies: usize,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// TLS for every connection (see [`accept_tls`]); `None` is plaintext.
    tls: Option<Arc<Tls>>,
    disabled_endpoints: HashSet<String>,
}

/// A bound libprocess HTTP server.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    max_connections: usize,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("delegate", &self.shared.delegate)
            .finish()
    }
}

impl Server {
    /// Starts building a server whose delegate (the process that gets `/`
    /// and paths not naming a known process) is `delegate_id`.
    pub fn builder(delegate_id: &str) -> ServerBuilder {
        ServerBuilder {
            delegate: delegate_id.to_string(),
            processes: Processes::default(),
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_buffered_bodies: DEFAULT_MAX_BUFFERED_BODIES,
            header_timeout: connections::DEFAULT_HEADER_TIMEOUT,
            idle_timeout: connections::DEFAULT_IDLE_TIMEOUT,
            tls: None,
            disabled_endpoints: HashSet::new(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The live process table, for adding or removing processes later.
    pub fn processes(&self) -> Processes {
        self.shared.processes.clone()
    }

    /// Spawns the accept loop. Aborting the returned handle stops the server
    /// and closes every connection it accepted.
    pub fn serve(self) -> JoinHandle<()> {
        tokio::spawn(accept_loop(
            self.listener,
            self.shared,
            self.max_connections,
        ))
    }
}

/// Accepts connections until aborted.
///
/// The budget is `max_connections`, lowered to fit the open-file limit. At
/// the budget a new client asks the longest-idle connection to close (see
/// [`Table::shed_oldest_idle`]) so an idle flood can never lock clients out;
/// only when every connection is busy does accepting wait (a semaphore
/// permit per connection), leaving clients in the kernel backlog. Accept
/// errors (e.g. EMFILE) back off exponentially instead of spinning.
/// Connections live in a `JoinSet` owned by this task, so aborting the
/// server also closes them.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, max_connections: usize) {
    let budget = match connections::open_file_limit() {
        Some(limit) => max_connections.min(limit.saturating_sub(RESERVED_FDS).max(1)),
        None => max_connections,
    };
    // Shedding is asynchronous, so leave headroom for the connections
    // asked to close that have not closed yet.
    let permits = Arc::new(Semaphore::new(budget + budget / 16 + 1));
    let table = Arc::new(Table::default());
    let mut connections = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            // Reap finished connections as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = async {
                // `acquire_owned` only fails on a closed semaphore, and this
                // one is never closed.
                let permit = permits.clone().acquire_owned().await.ok();
                (permit, listener.accept().await)
            } => accepted,
        };
        let (permit, result) = accepted;
        let (stream, peer) = match result {
            Ok(ok) => {
                backoff = Duration::from_millis(5);
                ok
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        let all_busy = table.len() >= budget && !table.shed_oldest_idle();
        if all_busy {
            tracing::warn!("{budget} connections, all busy; {peer} waits");
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let connection = table.add();
        if all_busy {
            // Every connection was busy at that instant (an answer may be
            // still in flight): shed the first one to turn idle, so the
            // budget holds without refusing the newcomer. Bounded in time.
            let table = table.clone();
            connections.spawn(async move {
                let deadline = tokio::time::Instant::now() + SHED_RETRY_LIMIT;
                while table.len() > budget && tokio::time::Instant::now() < deadline {
                    if table.shed_oldest_idle() {
                        break;
                    }
                    tokio::time::sleep(SHED_RETRY_INTERVAL).await;
                }
            });
        }
        let table = table.clone();
        connections.spawn(async move {
            let _permit = permit;
            match shared.tls.clone() {
                None => serve_one(shared, peer, stream, connection.clone()).await,
                Some(tls) => accept_tls(shared, &tls, peer, stream, connection.clone()).await,
            }
            table.remove(&connection);
        });
    }
}

/// Handshakes TLS on a new connection and serves it; with downgrade
/// support a client whose first byte does not open a TLS handshake is
/// served in plaintext, without it such a client is disconnected. The
/// first byte and the handshake must come within the header timeout.
async fn accept_tls(
    shared: Arc<Shared>,
    tls: &Tls,
    peer: SocketAddr,
    stream: TcpStream,
    connection: Arc<Connection>,
) {
    let deadline = shared.header_timeout;
    let mut first = [0u8; 1];
    match tokio::time::timeout(deadline, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        Ok(Ok(_)) | Ok(Err(_)) => return, // closed before sending anything
        Err(_) => {
            tracing::debug!("closing connection from {peer}: nothing sent in time");
            return;
        }
    }
    if !ssl::is_tls_handshake(first[0]) {
        if tls.support_downgrade() {
            tracing::debug!("downgrading connection from {peer} to plaintext");
            return serve_one(shared, peer, stream, connection).await;
        }
        tracing::debug!("refusing plaintext connection from {peer}: TLS is required");
        return;
    }
    let stream = match tokio::time::timeout(deadline, tls.acceptor().accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::info!("TLS handshake with {peer} failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!("TLS handshake with {peer} timed out");
            return;
        }
    };
    if let Err(e) = tls.verify_client(stream.get_ref().1, peer.ip()).await {
        tracing::info!("refusing TLS connection from {peer}: {e}");
        return;
    }
    serve_one(shared, peer, stream, connection).await
}

/// Serves one connection until it ends, times out or is shed.
async fn serve_one<S>(shared: Arc<Shared>, peer: SocketAddr, stream: S, connection: Arc<Connection>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (header_timeout, idle_timeout) = (shared.header_timeout, shared.idle_timeout);
    let service = {
        let connection = connection.clone();
        service_fn(move |req: hyper::Request<Incoming>| {
            let shared = shared.clone();
            let connection = connection.clone();
            // Counted when hyper dispatches the request, before it reads
            // again: an EOF right behind the request then waits for it.
            connection.request_started();
            let guard = Busy(connection.clone());
            let pending = (!hyper::body::Body::is_end_stream(req.body()))
                .then(|| BodyPending::new(connection.clone()));
            async move {
                let mut response = handle(&shared, &connection, peer, req, pending).await;
                // Busy until the answer (maybe a long stream) is written.
                let stream = response
                    .body()
                    .is_event_stream()
                    .then(|| EventStream::new(connection.clone()));
                let written = response
                    .body_mut()
                    .take_abort()
                    .map(|abort| watch_abort(abort, connection.clone()));
                Ok::<_, Infallible>(response.map(|body| Tracked {
                    body,
                    _stream: stream,
                    _written: written,
                    _busy: guard,
                }))
            }
        })
    };
    let io = Watched {
        stream,
        connection: connection.clone(),
    };
    let conn = http1::Builder::new()
        .keep_alive(true)
        // Timeouts are ours (see `Connection::expired`): hyper's would also
        // close idle libprocess links, which makes peers report us exited.
        .header_read_timeout(None)
        // A client closing its socket ends the connection even in the
        // middle of a streamed answer, dropping the `Body::stream`
        // receiver so the component's `Sender::closed()` fires. A client
        // that only half-closed after its request is still answered:
        // `Watched` holds its EOF back until the answers are written (see
        // `Connection::eof_due`).
        .half_close(false)
        // Flush every answer at once: aggregating flushes for
        // pipelining would hold back a streamed answer while further
        // requests sit unread behind it.
        .pipeline_flush(false)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut closing = false;
    let mut tick = tokio::time::interval(TIMEOUT_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection from {peer} ended: {e}");
                }
                return;
            }
            _ = connection.aborted() => {
                tracing::debug!("closing connection from {peer}: its event stream was cut");
                return;
            }
            _ = connection.closed(), if !closing => {
                tracing::debug!("closing connection from {peer}: connection budget reached");
                if !connection.is_busy() {
                    return; // nothing is being answered: drop it now
                }
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tick.tick(), if !closing => {
                if let Some(why) = connection.expired(header_timeout, idle_timeout) {
                    // Expired connections are never busy: dropping loses nothing.
                    tracing::debug!("closing connection from {peer}: {why}");
                    return;
                }
            }
        }
    }
}

/// Marks a connection busy from a request's head until its answer has been
/// written (or abandoned).
struct Busy(Arc<Connection>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// Marks a request's body as still to be read, until dropped.
struct BodyPending(Arc<Connection>);

impl BodyPending {
    fn new(connection: Arc<Connection>) -> BodyPending {
        connection.body_pending();
        BodyPending(connection)
    }
}

impl Drop for BodyPending {
    fn drop(&mut self) {
        self.0.body_done();
    }
}

/// Counts an event-stream answer on its connection while it is written.
struct EventStream(Arc<Connection>);

impl EventStream {
    fn new(connection: Arc<Connection>) -> EventStream {
        connection.event_stream_started();
        EventStream(connection)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.0.event_stream_finished();
    }
}

/// Aborts `connection` when `abort` resolves, unless the answer that gave
/// it ended first (dropping the returned sender): a later answer on a
/// kept-alive connection must not be cut for an earlier one.
fn watch_abort(abort: lhttp::Abort, connection: Arc<Connection>) -> oneshot::Sender<()> {
    let (written, ended) = oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            biased;
            _ = ended => {}
            () = abort => connection.abort(),
        }
    });
    written
}

/// An answer's body, keeping its connection busy while it is written.
struct Tracked {
    body: Body,
    _stream: Option<EventStream>,
    /// Held while the answer is written (see [`watch_abort`]).
    _written: Option<oneshot::Sender<()>>,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        hyper::body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::Body::size_hint(&self.body)
    }
}

fn status(code: StatusCode, body: impl Into<Body>) -> Response {
    lhttp::response(code, body)
}

enum BodyError {
    TooLarge,
    OverBudget,
    Read(String),
}

/// Reads a whole body of at most `shared.max_body_size` bytes, taking one
/// budget permit per byte as it arrives; the permits are returned when the
/// caller drops them (after the handler answered).
async fn collect(
    shared: &Shared,
    body: Incoming,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), BodyError> {
    let limit = shared.max_body_size;
    let mut body = Limited::new(body, limit);
    let mut held: Option<OwnedSemaphorePermit> = None;
    let mut buffer = bytes::BytesMut::new();
    // What is left of BODY_BUDGET_WAIT for this body.
    let mut patience = BODY_BUDGET_WAIT;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(BodyError::TooLarge)
            }
            Err(e) => return Err(BodyError::Read(e.to_string())),
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if data.is_empty() {
            continue;
        }
        // Bigger than the whole budget can never fit.
        let permit = match u32::try_from(data.len()) {
            Ok(n) if buffer.len() + data.len() <= shared.max_buffered_bodies => {
                let wait = shared.body_budget.clone().acquire_many_owned(n);
                let started = tokio::time::Instant::now();
                let permit = tokio::time::timeout(patience, wait)
                    .await
                    .ok()
                    .and_then(Result::ok);
                patience = patience.saturating_sub(started.elapsed());
                permit
            }
            _ => None,
        };
        let Some(permit) = permit else {
            // Refused: give back what it holds, then read the rest without
            // keeping it, so that a client still sending gets the 503
            // instead of a reset that loses it.
            drop(held);
            drop(buffer);
            discard_rest(&mut body).await;
            return Err(BodyError::OverBudget);
        };
        match held.as_mut() {
            Some(held) => held.merge(permit),
            None => held = Some(permit),
        }
        buffer.extend_from_slice(&data);
    }
    Ok((buffer.freeze(), held))
}

/// Reads and drops what is left of a refused body: at most the body size
/// limit, for at most [`REFUSED_BODY_DRAIN`].
async fn discard_rest(body: &mut Limited<Incoming>) {
    let drain = async { while let Some(Ok(_)) = body.frame().await {} };
    let _ = tokio::time::timeout(REFUSED_BODY_DRAIN, drain).await;
}

fn over_budget() -> Response {
    status(
        StatusCode::SERVICE_UNAVAILABLE,
        "Too many request bodies are being received at once; retry later",
    )
}

fn too_large(limit: usize) -> Response {
    status(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Request body exceeds the maximum of {limit} bytes"),
    )
}

async fn handle(
    shared: &Shared,
    connection: &Connection,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
    pending: Option<BodyPending>,
) -> Response {
    let (parts, body) = req.into_parts();

    if message::is_message(&parts.method, &parts.headers) {
        connection.mark_link();
        return handle_message(shared, parts, body, pending).await;
    }

    // Before routing, as upstream's firewall: a disabled endpoint is 403
    // whether or not it exists. Relative paths stay 404.
    if !shared.disabled_endpoints.is_empty() && !parts.uri.path().contains("/..") {
        let path = shared
            .processes
            .delegated_path(parts.uri.path(), &shared.delegate);
        if shared.disabled_endpoints.contains(&path) {
            tracing::debug!("403 for {} {} (firewall rule)", parts.method, path);
            return status(
                StatusCode::FORBIDDEN,
                format!("Endpoint '{path}' is disabled"),
            );
        }
    }

    let Some((matched, handler)) = shared.processes.route(parts.uri.path(), &shared.delegate)
    else {
        tracing::debug!("404 for {} {}", parts.method, parts.uri);
        return status(StatusCode::NOT_FOUND, Body::empty());
    };

    // Before the body is read: an unauthenticated client costs nothing.
    let admitted = match shared.processes.authentication().admit(
        &matched.process_id,
        &matched.route,
        &parts.headers,
    ) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };

    let collected = collect(shared, body).await;
    drop(pending);
    let (bytes, _budget) = match collected {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return too_large(shared.max_body_size),
        Err(BodyError::OverBudget) => return over_budget(),
        Err(BodyError::Read(e)) => {
            return status(
                StatusCode::BAD_REQUEST,
                format!("Failed to read request body: {e}"),
            )
        }
    };

    let accept_encoding = parts
        .headers
        .get_all(lhttp::header::ACCEPT_ENCODING)
        .iter()
        .cloned()
        .collect::<Vec<_>>();
    let mut request = Request::from_parts(parts, bytes);
    request.extensions_mut().insert(RouteInfo {
        process_id: matched.process_id,
        route: matched.route,
        remaining: matched.remaining,
        peer: Some(peer),
    });
    if let Some(principal) = admitted.principal {
        request.extensions_mut().insert(principal);
    }
    if let Some(claims) = admitted.claims {
        request.extensions_mut().insert(claims);
    }

    let response = match call(&handler, request).await {
        Some(r) => r,
        None => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Request handler panicked",
        ),
    };
    let mut headers = lhttp::HeaderMap::new();
    for v in accept_encoding {
        headers.append(lhttp::header::ACCEPT_ENCODING, v);
    }
    lhttp::maybe_gzip(&headers, response)
}

/// Runs a handler, turning a panic (while building or polling its future)
/// into `None` so one bad request cannot take the server down.
async fn call(handler: &Handler, request: Request) -> Option<Response> {
    let future = std::panic::catch_unwind(AssertUnwindSafe(|| handler(request))).ok()?;
    CatchUnwind { future }.await
}

struct CatchUnwind {
    future: Pin<Box<dyn Future<Output = Response> + Send>>,
}

impl Future for CatchUnwind {
    type Output = Option<Response>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        let future = &mut self.future;
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(r)) => Poll::Ready(Some(r)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => {
                tracing::error!("HTTP handler panicked");
                Poll::Ready(None)
            }
        }
    }
}

async fn handle_message(
    shared: &Shared,
    parts: ::http::request::Parts,
    body: Incoming,
    pending: Option<BodyPending>,
) -> Response {
    let path = parts.uri.path();
    let Some((to, name)) = routing::message_target(path) else {
        // Upstream: 400 for a path not starting with '/', 500 when the
        // receiver id cannot be decoded.
        let code = if path.starts_with('/') {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        return status(code, format!("Failed to decode message path '{path}'"));
    };
    let from = message::sender(&parts.headers);
    let collected = collect(shared, body).await;
    drop(pending);
    let (body, _budget) = match collected {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return too_large(shared.max_body_size),
        Err(BodyError::OverBudget) => return over_budget(),
        Err(BodyError::Read(e)) => {
            return status(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Failed to read message body: {e}"),
            )
        }
    };
    // Upstream answers nothing to peers whose User-Agent says libprocess/;
    // hyper must answer every request, and libprocess peers read and discard
    // answers on their outbound sockets, so we always answer.
    let Some(tx) = shared.processes.message_channel(&to) else {
        tracing::debug!("message {name} from {from} to unknown process '{to}'");
        return status(StatusCode::NOT_FOUND, Body::empty());
    };
    let delivered = tx.send(Message {
        from,
        to,
        name,
        body,
    });
    match delivered {
        Ok(()) => status(StatusCode::ACCEPTED, Body::empty()),
        // The process stopped listening: it is gone.
        Err(_) => status(StatusCode::NOT_FOUND, Body::empty()),
    }
}
