//! The v1 scheduler library (what `V1Mesos` runs): master detection, the
//! two persistent HTTP connections to the detected master, the SUBSCRIBE
//! stream, and every other call with `Mesos-Stream-Id`, as upstream's
//! `mesos::v1::scheduler::Mesos` behaves.
//!
//! Owns, on one actor task, the connection state (`DISCONNECTED` →
//! `CONNECTING` → `CONNECTED` → `SUBSCRIBING` → `SUBSCRIBED`), the
//! connection id that tells current answers from stale ones, and the stream
//! id. Callbacks run one at a time, in order, on a thread of their own.
//!
//! Semantics kept from upstream:
//! - `connected` once both connections to a newly detected master are up
//!   (after a random delay of up to `MESOS_CONNECTION_DELAY_MAX`, 2 s);
//! - `disconnected` when a connection breaks, the event stream ends or
//!   fails, `reconnect` is asked for, or another master is detected, if
//!   `connected` had been called; the master is then detected again;
//! - SUBSCRIBE is only sent when connected (not subscribing or subscribed),
//!   every other call only when subscribed; others are dropped with a
//!   warning, and so is a call that does not validate;
//! - a 503, 404 or 307 answer is logged (the scheduler retries; a 307 means
//!   the detector has not yet caught up with the leader), any other failure
//!   status becomes an `ERROR` event, and so does an event that does not
//!   decode (the stream goes on);
//! - heartbeats are delivered as events; watching them is the scheduler's
//!   business, as upstream leaves it.
//!
//! Never retries a call by itself and never decides anything for the
//! scheduler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::BodyExt;
use hyper::StatusCode;
use mesos_proto::mesos::v1::scheduler::{call, event, Call, Event};
use mesos_proto::mesos::v1::Credential;
use mesos_proto::mesos::MasterInfo;
use mesos_scheduler_client::http::{self as v1http, Connection, RecordReader};
pub use mesos_scheduler_client::ContentType;
use mesos_scheduler_client::Endpoint;
use tokio::sync::{mpsc, watch};

use crate::{detector, Error};

type Body = http_body_util::Full<bytes::Bytes>;

/// What a v1 scheduler is told; called one at a time on the library's
/// callback thread. [`Flow::Abort`] (the scheduler failed, e.g. a Java
/// callback threw) ends the library: nothing more is delivered.
pub trait Callbacks: Send {
    fn connected(&mut self) -> Flow;
    fn disconnected(&mut self) -> Flow;
    fn received(&mut self, event: Event) -> Flow;
}

/// Whether the library goes on after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Abort,
}

/// Upstream's `--connection_delay_max` default.
const DEFAULT_CONNECTION_DELAY_MAX: Duration = Duration::from_secs(2);

/// A running v1 scheduler library. Dropping it closes its connections and
/// ends its threads; callbacks not yet delivered are dropped.
pub struct Mesos {
    input: mpsc::UnboundedSender<Input>,
    running: Arc<AtomicBool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Mesos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesos").finish_non_exhaustive()
    }
}

impl Mesos {
    /// Starts detecting `master` (`host:port`, `master@host:port`,
    /// `zk://…`, `file://…`) and connecting to it. A master string that
    /// cannot be detected is an error here (upstream exits the process).
    pub fn new(
        master: &str,
        content_type: ContentType,
        credential: Option<Credential>,
        callbacks: Box<dyn Callbacks>,
    ) -> Result<Mesos, Error> {
        let delay = crate::scheduler::env_duration(
            "MESOS_CONNECTION_DELAY_MAX",
            DEFAULT_CONNECTION_DELAY_MAX,
        );
        Mesos::start(master, content_type, credential, callbacks, delay)
    }

    fn start(
        master: &str,
        content_type: ContentType,
        credential: Option<Credential>,
        callbacks: Box<dyn Callbacks>,
        connection_delay_max: Duration,
    ) -> Result<Mesos, Error> {
        if master.trim() == "local" {
            return Err(Error::Detector {
                master: master.to_string(),
                reason: "launching a local cluster is not supported by this library".into(),
            });
        }
        detector::parse(master)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mesos-v1-io")
            .enable_all()
            .build()
            .map_err(|e| Error::Endpoint(e.to_string()))?;
        let detection = detector::detect(master, runtime.handle())?;
        let running = Arc::new(AtomicBool::new(true));
        let (deliver, deliveries) = std::sync::mpsc::channel::<Callback>();
        let (input, inbox) = mpsc::unbounded_channel();
        let (flag, abort) = (running.clone(), input.clone());
        std::thread::Builder::new()
            .name("mesos-v1-scheduler".into())
            .spawn(move || run_callbacks(callbacks, deliveries, flag, abort))
            .map_err(|e| Error::Endpoint(format!("failed to start the callback thread: {e}")))?;
        let process = Process {
            state: State::Disconnected,
            connection_id: None,
            next_id: 0,
            master: None,
            subscribe: None,
            calls: None,
            connection_tasks: Vec::new(),
            reader: None,
            subscription: 0,
            stream_id: None,
            content_type,
            authorization: credential.map(|c| {
                let pair = format!("{}:{}", c.principal, c.secret.unwrap_or_default());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }),
            connection_delay_max,
            deliver,
            input: input.clone(),
        };
        runtime.spawn(process.run(inbox, detection));
        Ok(Mesos {
            input,
            running,
            runtime: Some(runtime),
        })
    }

    /// Sends `call` (asynchronously, in order with the calls before it).
    pub fn send(&self, call: Call) {
        let _ = self.input.send(Input::Send(Box::new(call)));
    }

    /// Drops the connections and detects the master again (ignored while
    /// disconnected).
    pub fn reconnect(&self) {
        let _ = self.input.send(Input::Reconnect);
    }
}

impl Drop for Mesos {
    fn drop(&mut self) {
        // Nothing queued is delivered once the library is gone.
        self.running.store(false, Ordering::SeqCst);
        if let Some(runtime) = self.runtime.take() {
            // Closes every connection without waiting; the callback thread
            // ends when the actor's sender goes with the runtime.
            runtime.shutdown_background();
        }
    }
}

enum Callback {
    Connected,
    Disconnected,
    Received(Box<Event>),
}

fn run_callbacks(
    mut callbacks: Box<dyn Callbacks>,
    deliveries: std::sync::mpsc::Receiver<Callback>,
    running: Arc<AtomicBool>,
    abort: mpsc::UnboundedSender<Input>,
) {
    while let Ok(callback) = deliveries.recv() {
        if !running.load(Ordering::SeqCst) {
            break;
        }
        let flow = match callback {
            Callback::Connected => callbacks.connected(),
            Callback::Disconnected => callbacks.disconnected(),
            Callback::Received(event) => callbacks.received(*event),
        };
        if flow == Flow::Abort {
            tracing::error!(
                "the scheduler failed in a callback; closing the connection to the master"
            );
            running.store(false, Ordering::SeqCst);
            let _ = abort.send(Input::Abort);
            break;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    Connecting,
    Connected,
    Subscribing,
    Subscribed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Disconnected => "DISCONNECTED",
            State::Connecting => "CONNECTING",
            State::Connected => "CONNECTED",
            State::Subscribing => "SUBSCRIBING",
            State::Subscribed => "SUBSCRIBED",
        }
    }
}

/// Where calls go: the detected master's scheduler endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MasterUrl {
    endpoint: Endpoint,
    /// `/<master process id>/api/v1/scheduler`.
    path: String,
}

impl MasterUrl {
    fn of(info: &MasterInfo) -> Option<MasterUrl> {
        let pid: Option<libprocess::Upid> = info.pid.as_deref().and_then(|p| p.parse().ok());
        match pid {
            Some(pid) => Some(MasterUrl {
                endpoint: Endpoint {
                    host: pid.ip.to_string(),
                    port: pid.port,
                },
                path: format!("/{}/api/v1/scheduler", pid.id),
            }),
            None => {
                let address = info.address.as_ref()?;
                let host = address.ip.clone().or_else(|| address.hostname.clone())?;
                Some(MasterUrl {
                    endpoint: Endpoint {
                        host,
                        port: u16::try_from(address.port).ok()?,
                    },
                    path: "/master/api/v1/scheduler".to_string(),
                })
            }
        }
    }
}

impl std::fmt::Display for MasterUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.endpoint.authority(), self.path)
    }
}

/// An answer to a call, as the actor needs it.
enum Answer {
    /// The request failed (connection reset, ...).
    Failed(String),
    /// 200 to SUBSCRIBE: the stream and the connection carrying it.
    Stream {
        response: hyper::Response<hyper::body::Incoming>,
        connection: Connection,
    },
    /// Any other status, with the body read; SUBSCRIBE's connection comes
    /// back for the next attempt.
    Status {
        status: StatusCode,
        body: String,
        connection: Option<Connection>,
    },
}

enum Input {
    Send(Box<Call>),
    Reconnect,
    /// The scheduler failed: close everything and stop detecting.
    Abort,
    Connect {
        id: u64,
    },
    Connected {
        id: u64,
        result: Result<[(Connection, tokio::task::JoinHandle<()>); 2], String>,
    },
    Closed {
        id: u64,
        what: &'static str,
    },
    Answer {
        id: u64,
        call: call::Type,
        answer: Answer,
    },
    Read {
        id: u64,
        subscription: u64,
        read: Read,
    },
}

enum Read {
    Event(Box<Event>),
    Undecodable(String),
    Failed(String),
    End,
}

enum Detected {
    /// The current detection was given up (a broken connection).
    Discarded,
    Leader(Option<Box<MasterInfo>>),
}

struct Process {
    state: State,
    /// Tells the current connection attempt from stale ones.
    connection_id: Option<u64>,
    next_id: u64,
    master: Option<MasterUrl>,
    /// The SUBSCRIBE connection, while no SUBSCRIBE is in flight on it.
    subscribe: Option<Connection>,
    /// Queue of the non-SUBSCRIBE connection's sender task.
    calls: Option<mpsc::UnboundedSender<(call::Type, hyper::Request<Body>)>>,
    /// Connection drivers and helpers of the current connection id.
    connection_tasks: Vec<tokio::task::AbortHandle>,
    reader: Option<tokio::task::AbortHandle>,
    subscription: u64,
    stream_id: Option<String>,
    content_type: ContentType,
    authorization: Option<String>,
    connection_delay_max: Duration,
    deliver: std::sync::mpsc::Sender<Callback>,
    input: mpsc::UnboundedSender<Input>,
}

impl Process {
    async fn run(
        mut self,
        mut inbox: mpsc::UnboundedReceiver<Input>,
        detection: detector::Detection,
    ) {
        let detector::Detection { mut leader, guard } = detection;
        // The detector (a ZooKeeper session) lives as long as the actor.
        let _guard = guard;
        let first = leader.borrow_and_update().clone();
        self.detected(Detected::Leader(first.map(Box::new)), &leader);
        let mut watching = true;
        loop {
            tokio::select! {
                input = inbox.recv() => match input {
                    Some(Input::Abort) | None => break,
                    Some(input) => self.handle(input, &leader),
                },
                changed = leader.changed(), if watching => {
                    if changed.is_err() {
                        // A standalone master: it never changes.
                        watching = false;
                        continue;
                    }
                    let next = leader.borrow_and_update().clone();
                    self.detected(Detected::Leader(next.map(Box::new)), &leader);
                }
            }
        }
        self.disconnect();
    }

    fn handle(&mut self, input: Input, leader: &watch::Receiver<Option<MasterInfo>>) {
        match input {
            Input::Send(call) => self.send(*call),
            Input::Reconnect => self.reconnect(leader),
            Input::Abort => {}
            Input::Connect { id } => self.connect(id),
            Input::Connected { id, result } => self.connected(id, result, leader),
            Input::Closed { id, what } => self.disconnected(id, what, leader),
            Input::Answer { id, call, answer } => self.answered(id, call, answer),
            Input::Read {
                id,
                subscription,
                read,
            } => self.read(id, subscription, read, leader),
        }
    }

    fn callback(&self, callback: Callback) {
        let _ = self.deliver.send(callback);
    }

    fn detected(&mut self, detected: Detected, leader: &watch::Receiver<Option<MasterInfo>>) {
        if matches!(
            self.state,
            State::Connected | State::Subscribing | State::Subscribed
        ) {
            self.callback(Callback::Disconnected);
        }
        self.disconnect();
        match detected {
            Detected::Discarded => {
                tracing::info!("Re-detecting master");
                self.master = None;
                // Detecting again yields the current leader at once, if
                // there is one.
                let current = leader.borrow().clone();
                if current.is_some() {
                    self.detected(Detected::Leader(current.map(Box::new)), leader);
                }
            }
            Detected::Leader(None) => {
                tracing::info!("Lost leading master");
                self.master = None;
            }
            Detected::Leader(Some(info)) => {
                let Some(url) = MasterUrl::of(&info) else {
                    tracing::warn!("ignoring a detected master without an address: {info:?}");
                    self.master = None;
                    return;
                };
                tracing::info!(
                    "New master detected at {}",
                    info.pid.as_deref().unwrap_or("?")
                );
                self.master = Some(url);
                self.next_id += 1;
                let id = self.next_id;
                self.connection_id = Some(id);
                let delay = self.connection_delay_max.mul_f64(rand::random::<f64>());
                tracing::debug!("waiting {delay:?} before connecting to the master");
                let input = self.input.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = input.send(Input::Connect { id });
                });
            }
        }
    }

    fn connect(&mut self, id: u64) {
        if self.connection_id != Some(id) {
            tracing::debug!("ignoring a connection attempt for a stale connection");
            return;
        }
        let Some(master) = self.master.clone() else {
            return;
        };
        self.state = State::Connecting;
        let input = self.input.clone();
        tokio::spawn(async move {
            let (a, b) = tokio::join!(
                v1http::connect(&master.endpoint),
                v1http::connect(&master.endpoint)
            );
            let result = match (a, b) {
                (Ok(a), Ok(b)) => Ok([a, b]),
                (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
            };
            let _ = input.send(Input::Connected { id, result });
        });
    }

    fn connected(
        &mut self,
        id: u64,
        result: Result<[(Connection, tokio::task::JoinHandle<()>); 2], String>,
        leader: &watch::Receiver<Option<MasterInfo>>,
    ) {
        if self.connection_id != Some(id) {
            tracing::debug!("ignoring the connections of a stale attempt");
            return;
        }
        let [(subscribe, subscribe_task), (calls, calls_task)] = match result {
            Ok(connections) => connections,
            Err(failure) => {
                tracing::warn!("failed to connect to the master: {failure}");
                self.disconnected(id, "Connection attempt failed", leader);
                return;
            }
        };
        if let Some(master) = &self.master {
            tracing::info!("Connected with the master at {master}");
        }
        self.state = State::Connected;
        self.subscribe = Some(subscribe);
        self.connection_tasks = vec![subscribe_task.abort_handle(), calls_task.abort_handle()];
        for (task, what) in [
            (subscribe_task, "Subscribe connection interrupted"),
            (calls_task, "Non-subscribe connection interrupted"),
        ] {
            let input = self.input.clone();
            let watcher = tokio::spawn(async move {
                let _ = task.await;
                let _ = input.send(Input::Closed { id, what });
            });
            self.connection_tasks.push(watcher.abort_handle());
        }
        let (queue, requests) = mpsc::unbounded_channel();
        let sender = tokio::spawn(send_calls(calls, requests, id, self.input.clone()));
        self.connection_tasks.push(sender.abort_handle());
        self.calls = Some(queue);
        self.callback(Callback::Connected);
    }

    fn disconnected(
        &mut self,
        id: u64,
        failure: &str,
        leader: &watch::Receiver<Option<MasterInfo>>,
    ) {
        if self.connection_id != Some(id) {
            tracing::debug!("ignoring a disconnection of a stale connection");
            return;
        }
        tracing::info!("{failure}");
        self.detected(Detected::Discarded, leader);
    }

    fn disconnect(&mut self) {
        for task in self.connection_tasks.drain(..) {
            task.abort();
        }
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
        self.state = State::Disconnected;
        self.subscribe = None;
        self.calls = None;
        self.connection_id = None;
    }

    fn reconnect(&mut self, leader: &watch::Receiver<Option<MasterInfo>>) {
        if self.state == State::Disconnected {
            tracing::debug!("ignoring a reconnect request while disconnected");
            return;
        }
        if let Some(id) = self.connection_id {
            self.disconnected(id, "Received reconnect request from scheduler", leader);
        }
    }

    fn drop_call(&self, kind: &str, why: &str) {
        tracing::warn!("Dropping {kind}: {why}");
    }

    fn send(&mut self, call: Call) {
        let kind = call
            .r#type
            .and_then(|t| call::Type::try_from(t).ok())
            .unwrap_or(call::Type::Unknown);
        if let Err(why) = validate(&call) {
            self.drop_call(kind.as_str_name(), &why);
            return;
        }
        let subscribe = kind == call::Type::Subscribe;
        if subscribe && self.state != State::Connected {
            // A retry while one is in flight, or already subscribed.
            self.drop_call(
                kind.as_str_name(),
                &format!("Scheduler is in state {}", self.state.name()),
            );
            return;
        }
        if !subscribe && self.state != State::Subscribed {
            self.drop_call(
                kind.as_str_name(),
                &format!("Scheduler is in state {}", self.state.name()),
            );
            return;
        }
        let (Some(master), Some(id)) = (self.master.clone(), self.connection_id) else {
            return;
        };
        tracing::debug!("Sending {} call to {master}", kind.as_str_name());
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(authorization) = &self.authorization {
            headers.push(("Authorization", authorization));
        }
        if !subscribe {
            if let Some(stream_id) = &self.stream_id {
                headers.push(("Mesos-Stream-Id", stream_id));
            }
        }
        let body = self.content_type.encode(&call);
        let request = match v1http::post_request(
            &master.endpoint,
            &master.path,
            self.content_type,
            body,
            &headers,
        ) {
            Ok(request) => request,
            Err(e) => {
                self.drop_call(kind.as_str_name(), &e.to_string());
                return;
            }
        };
        if subscribe {
            let Some(mut connection) = self.subscribe.take() else {
                return;
            };
            self.state = State::Subscribing;
            let input = self.input.clone();
            tokio::spawn(async move {
                let answer = match send_on(&mut connection, request).await {
                    Err(failure) => Answer::Failed(failure),
                    Ok(response) if response.status() == StatusCode::OK => Answer::Stream {
                        response,
                        connection,
                    },
                    Ok(response) => Answer::Status {
                        status: response.status(),
                        body: v1http::body_text(response.into_body()).await,
                        connection: Some(connection),
                    },
                };
                let _ = input.send(Input::Answer {
                    id,
                    call: kind,
                    answer,
                });
            });
        } else if let Some(calls) = &self.calls {
            let _ = calls.send((kind, request));
        }
    }

    fn answered(&mut self, id: u64, kind: call::Type, answer: Answer) {
        // A new master may have been detected before the answer came.
        if self.connection_id != Some(id) {
            return;
        }
        let (status, body) = match answer {
            Answer::Failed(failure) => {
                // A failover or a network blip; the broken connection or
                // the detector will tell.
                tracing::error!(
                    "Request for call type {} failed: {failure}",
                    kind.as_str_name()
                );
                return;
            }
            Answer::Stream {
                response,
                connection,
            } => {
                self.subscribed(id, response, connection);
                return;
            }
            Answer::Status {
                status,
                body,
                connection,
            } => {
                if connection.is_some() {
                    self.subscribe = connection;
                }
                (status, body)
            }
        };
        if status.is_success() {
            return;
        }
        if kind == call::Type::Subscribe {
            // Not subscribed (e.g. the master is still recovering): the
            // scheduler may try again.
            self.state = State::Connected;
        }
        if matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::NOT_FOUND
                | StatusCode::TEMPORARY_REDIRECT
        ) {
            tracing::warn!("Received '{status}' ({body}) for {}", kind.as_str_name());
            return;
        }
        self.error(format!(
            "Received unexpected '{status}' ({body}) for {}",
            kind.as_str_name()
        ));
    }

    fn subscribed(
        &mut self,
        id: u64,
        response: hyper::Response<hyper::body::Incoming>,
        connection: Connection,
    ) {
        let Some(stream_id) = response
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
        else {
            // Upstream treats this as impossible; a master that does it
            // cannot be talked to, so detect again.
            tracing::error!("the SUBSCRIBE answer carries no Mesos-Stream-Id");
            self.state = State::Connected;
            self.subscribe = Some(connection);
            return;
        };
        self.state = State::Subscribed;
        self.stream_id = Some(stream_id);
        self.subscription += 1;
        let subscription = self.subscription;
        let mut reader = RecordReader::new(response.into_body(), self.content_type);
        let input = self.input.clone();
        let task = tokio::spawn(async move {
            // The stream's connection lives exactly as long as this task.
            let _connection = connection;
            loop {
                let read = match reader.next::<Event>().await {
                    Ok(Some(event)) => Read::Event(Box::new(event)),
                    Ok(None) => Read::End,
                    Err(e @ mesos_scheduler_client::Error::Decode { .. }) => {
                        Read::Undecodable(e.to_string())
                    }
                    Err(e) => Read::Failed(e.to_string()),
                };
                let last = matches!(read, Read::End | Read::Failed(_));
                let sent = input.send(Input::Read {
                    id,
                    subscription,
                    read,
                });
                if last || sent.is_err() {
                    return;
                }
            }
        });
        self.reader = Some(task.abort_handle());
    }

    fn read(
        &mut self,
        id: u64,
        subscription: u64,
        read: Read,
        leader: &watch::Receiver<Option<MasterInfo>>,
    ) {
        if self.connection_id != Some(id)
            || self.subscription != subscription
            || self.reader.is_none()
        {
            tracing::debug!("ignoring an event from an old stream");
            return;
        }
        match read {
            Read::Failed(failure) => {
                tracing::error!("Failed to decode the stream of events: {failure}");
                self.disconnected(id, "the event stream broke", leader);
            }
            Read::End => {
                tracing::error!(
                    "End-Of-File received from master. The master closed the event stream"
                );
                self.disconnected(id, "the event stream ended", leader);
            }
            Read::Undecodable(failure) => {
                self.error(format!("Failed to de-serialize event: {failure}"));
            }
            Read::Event(event) => self.receive(*event, false),
        }
    }

    fn receive(&mut self, event: Event, injected: bool) {
        if !injected && self.state != State::Subscribed {
            tracing::warn!(
                "Ignoring {} event because we're no longer subscribed",
                event.r#type().as_str_name()
            );
            return;
        }
        self.callback(Callback::Received(Box::new(event)));
    }

    /// Delivers a locally made `ERROR` event.
    fn error(&mut self, message: String) {
        let event = Event {
            r#type: Some(event::Type::Error as i32),
            error: Some(event::Error { message }),
            ..Default::default()
        };
        self.receive(event, true);
    }
}

async fn send_on(
    connection: &mut Connection,
    request: hyper::Request<Body>,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    connection.ready().await.map_err(|e| e.to_string())?;
    connection
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

/// Sends the non-SUBSCRIBE calls of one connection in order, one in flight
/// (HTTP/1.1 without pipelining), and reports each answer.
async fn send_calls(
    mut connection: Connection,
    mut requests: mpsc::UnboundedReceiver<(call::Type, hyper::Request<Body>)>,
    id: u64,
    input: mpsc::UnboundedSender<Input>,
) {
    while let Some((kind, request)) = requests.recv().await {
        let answer = match send_on(&mut connection, request).await {
            Err(failure) => Answer::Failed(failure),
            Ok(response) => {
                let status = response.status();
                let body = match response.into_body().collect().await {
                    Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                    Err(e) => format!("(failed to read the body: {e})"),
                };
                Answer::Status {
                    status,
                    body,
                    connection: None,
                }
            }
        };
        if input
            .send(Input::Answer {
                id,
                call: kind,
                answer,
            })
            .is_err()
        {
            return;
        }
    }
}

/// The call's structure, by the same rules the master applies.
pub use mesos_proto::scheduler_call::validate_call as validate;

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::{FrameworkId, FrameworkInfo, OfferId};
    use mesos_scheduler_client::test_support::{record, FakeRequest, FakeServer};
    use prost::Message as _;

    /// Every callback as a line, in order.
    struct Recorder(mpsc::UnboundedSender<String>);

    impl Callbacks for Recorder {
        fn connected(&mut self) -> Flow {
            let _ = self.0.send("connected".into());
            Flow::Continue
        }
        fn disconnected(&mut self) -> Flow {
            let _ = self.0.send("disconnected".into());
            Flow::Continue
        }
        fn received(&mut self, event: Event) -> Flow {
            let line = match &event.error {
                Some(error) => format!("ERROR {}", error.message),
                None => event.r#type().as_str_name().to_string(),
            };
            let _ = self.0.send(line);
            Flow::Continue
        }
    }

    const WAIT: Duration = Duration::from_secs(20);

    fn start(server: &FakeServer) -> (Mesos, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mesos = Mesos::start(
            &server.authority(),
            ContentType::Protobuf,
            None,
            Box::new(Recorder(tx)),
            Duration::ZERO,
        )
        .unwrap();
        (mesos, rx)
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("a callback in time")
            .expect("the library is alive")
    }

    async fn next_call(server: &mut FakeServer) -> (FakeRequest, Call) {
        let request = tokio::time::timeout(WAIT, server.next_request())
            .await
            .expect("a request in time")
            .expect("the server is alive");
        let call = Call::decode(request.body.as_ref()).unwrap();
        (request, call)
    }

    fn subscribe_call() -> Call {
        Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: FrameworkInfo {
                    user: "u".into(),
                    name: "v1-test".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn decline_call() -> Call {
        Call {
            r#type: Some(call::Type::Decline as i32),
            framework_id: Some(FrameworkId {
                value: "fw-1".into(),
            }),
            decline: Some(call::Decline {
                offer_ids: vec![OfferId {
                    value: "o-1".into(),
                }],
                filters: None,
            }),
            ..Default::default()
        }
    }

    fn subscribed() -> Event {
        Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: FrameworkId {
                    value: "fw-1".into(),
                },
                heartbeat_interval_seconds: Some(15.0),
                master_info: None,
            }),
            ..Default::default()
        }
    }

    fn heartbeat() -> Event {
        Event {
            r#type: Some(event::Type::Heartbeat as i32),
            ..Default::default()
        }
    }

    /// Connects, subscribes and returns the event stream's sender.
    async fn subscribe(
        server: &mut FakeServer,
        mesos: &Mesos,
        rx: &mut mpsc::UnboundedReceiver<String>,
    ) -> tokio::sync::mpsc::Sender<bytes::Bytes> {
        assert_eq!(next(rx).await, "connected");
        mesos.send(subscribe_call());
        let (request, call) = next_call(server).await;
        assert_eq!(call.r#type(), call::Type::Subscribe);
        assert_eq!(request.path, "/master/api/v1/scheduler");
        assert!(request.header("Mesos-Stream-Id").is_empty());
        let stream = request.respond_stream(
            200,
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Mesos-Stream-Id", "stream-1"),
            ],
        );
        stream
            .send(record(ContentType::Protobuf, &subscribed()))
            .await
            .unwrap();
        assert_eq!(next(rx).await, "SUBSCRIBED");
        stream
    }

    // SchedulerTest.Subscribe: connected once both connections are up, the
    // SUBSCRIBE stream's events in order, and later calls on the other
    // connection with the stream id; a call made before SUBSCRIBED is
    // dropped, so the master first sees SUBSCRIBE.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscribe_then_calls_carry_the_stream_id() {
        let mut server = FakeServer::start().await.unwrap();
        let (mesos, mut rx) = start(&server);
        let stream = {
            // Dropped: not subscribed yet.
            mesos.send(decline_call());
            subscribe(&mut server, &mesos, &mut rx).await
        };
        stream
            .send(record(ContentType::Protobuf, &heartbeat()))
            .await
            .unwrap();
        assert_eq!(next(&mut rx).await, "HEARTBEAT");
        mesos.send(decline_call());
        let (request, call) = next_call(&mut server).await;
        assert_eq!(call.r#type(), call::Type::Decline);
        assert_eq!(request.header("Mesos-Stream-Id"), "stream-1");
        request.respond(202, &[], "");
    }

    // An event that does not decode reaches the scheduler as an ERROR and
    // the stream goes on (it never takes the process down).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_malformed_event_is_an_error_event_and_the_stream_goes_on() {
        let mut server = FakeServer::start().await.unwrap();
        let (mesos, mut rx) = start(&server);
        let stream = subscribe(&mut server, &mesos, &mut rx).await;
        stream
            .send(mesos_proto::recordio::encode(b"\xff\xff\xff garbage"))
            .await
            .unwrap();
        let error = next(&mut rx).await;
        assert!(
            error.starts_with("ERROR Failed to de-serialize event"),
            "{error}"
        );
        stream
            .send(record(ContentType::Protobuf, &heartbeat()))
            .await
            .unwrap();
        assert_eq!(next(&mut rx).await, "HEARTBEAT");
    }

    // SchedulerTest.MasterFailover-like: the master closes the stream, the
    // scheduler is told `disconnected`, and the library connects again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_stream_ending_disconnects_and_connects_again() {
        let mut server = FakeServer::start().await.unwrap();
        let (mesos, mut rx) = start(&server);
        let stream = subscribe(&mut server, &mesos, &mut rx).await;
        drop(stream);
        assert_eq!(next(&mut rx).await, "disconnected");
        assert_eq!(next(&mut rx).await, "connected");
        // Subscribing again works on the new connections.
        mesos.send(subscribe_call());
        let (_, call) = next_call(&mut server).await;
        assert_eq!(call.r#type(), call::Type::Subscribe);
    }

    // `reconnect()` drops a live connection: disconnected, then connected.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reconnect_disconnects_and_connects_again() {
        let mut server = FakeServer::start().await.unwrap();
        let (mesos, mut rx) = start(&server);
        let _stream = subscribe(&mut server, &mesos, &mut rx).await;
        mesos.reconnect();
        assert_eq!(next(&mut rx).await, "disconnected");
        assert_eq!(next(&mut rx).await, "connected");
    }

    // A 503 to SUBSCRIBE (a recovering master) is only logged and the
    // scheduler may subscribe again; any other failure is an ERROR event.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_subscribe_answers() {
        let mut server = FakeServer::start().await.unwrap();
        let (mesos, mut rx) = start(&server);
        assert_eq!(next(&mut rx).await, "connected");
        mesos.send(subscribe_call());
        let (request, _) = next_call(&mut server).await;
        let subscribe_connection = request.connection;
        request.respond(503, &[], "Master is recovering");
        // Retried as a scheduler does: the library drops the retries made
        // before the 503 is in, then sends one on the same connection.
        let deadline = tokio::time::Instant::now() + WAIT;
        let request = loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no retried SUBSCRIBE"
            );
            mesos.send(subscribe_call());
            let retry = Duration::from_millis(100);
            if let Ok(Some(request)) = tokio::time::timeout(retry, server.next_request()).await {
                break request;
            }
        };
        let call = Call::decode(request.body.as_ref()).unwrap();
        assert_eq!(call.r#type(), call::Type::Subscribe);
        assert_eq!(
            request.connection, subscribe_connection,
            "SUBSCRIBE keeps its connection"
        );
        request.respond(400, &[], "Bad FrameworkInfo");
        assert_eq!(
            next(&mut rx).await,
            "ERROR Received unexpected '400 Bad Request' (Bad FrameworkInfo) for SUBSCRIBE"
        );
    }

    // A master that is not there yet: no callback until it is reachable,
    // then `connected`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connects_once_the_master_is_reachable() {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _mesos = Mesos::start(
            &format!("127.0.0.1:{port}"),
            ContentType::Protobuf,
            None,
            Box::new(Recorder(tx)),
            Duration::from_millis(50),
        )
        .unwrap();
        let _listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        assert_eq!(next(&mut rx).await, "connected");
    }

    #[test]
    fn calls_are_validated_as_upstream_does() {
        assert!(validate(&subscribe_call()).is_ok());
        assert!(validate(&decline_call()).is_ok());
        let mut no_id = decline_call();
        no_id.framework_id = None;
        assert_eq!(
            validate(&no_id).unwrap_err(),
            "Expecting 'framework_id' to be present"
        );
        let mut no_decline = decline_call();
        no_decline.decline = None;
        assert_eq!(
            validate(&no_decline).unwrap_err(),
            "Expecting 'decline' to be present"
        );
        let mut mismatch = subscribe_call();
        mismatch.framework_id = Some(FrameworkId { value: "x".into() });
        assert!(validate(&mismatch).is_err());
        assert!(validate(&Call::default()).is_err());
    }

    #[test]
    fn an_unknown_master_string_is_refused() {
        let (tx, _rx) = mpsc::unbounded_channel();
        assert!(Mesos::new(
            "local",
            ContentType::Protobuf,
            None,
            Box::new(Recorder(tx.clone()))
        )
        .is_err());
        assert!(Mesos::new(
            "not a master",
            ContentType::Protobuf,
            None,
            Box::new(Recorder(tx))
        )
        .is_err());
    }
}
