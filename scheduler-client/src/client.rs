//! The v1 Scheduler HTTP API client (`docs/scheduler-http-api.md`).
//!
//! Owns the scheduler-side rules of the protocol (checklist §1):
//! - SUBSCRIBE goes on its own connection and is never reused for other calls;
//! - every other call goes on one separate persistent connection and carries
//!   `Mesos-Stream-Id`;
//! - a 307 is followed, its protocol-relative `Location` naming the leader;
//! - a subscription with no event (heartbeats included) for 5 × the heartbeat
//!   interval is reported dead.
//!
//! It never makes scheduling decisions and never re-subscribes on its own:
//! callers see the error and decide (a framework with `failover_timeout` 0 is
//! gone anyway when its connection drops).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use base64::Engine as _;
use http_body_util::BodyExt;
use hyper::header::{AUTHORIZATION, LOCATION, WWW_AUTHENTICATE};
use hyper::StatusCode;
use mesos_proto::mesos::v1::scheduler::{call, event, Call, Event};
use mesos_proto::mesos::v1::{
    offer, AgentId, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId, TaskId,
    TaskInfo, TaskStatus,
};
use tokio::sync::mpsc;

use crate::http::{self, Connection, ContentType, Endpoint, RecordReader};
use crate::Error;

/// Where the master serves the scheduler API (`/master/api/v1/scheduler`
/// is the same endpoint through the delegate).
pub const SCHEDULER_PATH: &str = "/api/v1/scheduler";

/// Upstream's hard-coded heartbeat interval, assumed until SUBSCRIBED says otherwise.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// How many heartbeat intervals may pass silently before the stream is dead.
pub const MISSED_HEARTBEATS: u32 = 5;

/// How many 307s in a row we follow before giving up (a redirect loop).
const MAX_REDIRECTS: usize = 8;

/// How many events may wait in the queue before the reader stops reading
/// (TCP then pushes back on the master).
const EVENT_QUEUE: usize = 1024;

/// A connection to a master's scheduler API. Cheap to clone; clones share the
/// call connection and the subscription identity.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    content_type: ContentType,
    /// `Authorization` for every request, from the caller's credential.
    authorization: Option<String>,
    /// The master we currently talk to (changes when a 307 names the leader).
    master: StdMutex<Endpoint>,
    /// Set by a successful SUBSCRIBE; filled into calls.
    session: StdMutex<Option<Session>>,
    /// Persistent connections for non-SUBSCRIBE calls, one call in flight on
    /// each: hyper's HTTP/1.1 client does not pipeline, and a scheduler that
    /// acknowledges updates as they arrive (while it launches and declines)
    /// must not queue every call behind the previous one's round trip.
    /// Calls made one after another by one task still go out in order.
    calls: Vec<CallSlot>,
    next_slot: AtomicUsize,
    /// With `zk://`: the detector whose leader `master` follows.
    _detector: Option<mesos_detector::MasterDetector>,
}

type CallSlot = tokio::sync::Mutex<Option<(Endpoint, Connection)>>;

/// How many calls may be in flight at once.
const CALL_CONNECTIONS: usize = 4;

/// A principal and its secret, sent as HTTP Basic on every request (as
/// upstream's scheduler library does with `--authenticate_http_frameworks`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The principal.
    pub principal: String,
    /// The secret.
    pub secret: String,
}

impl Credential {
    /// The `Authorization` header value.
    fn authorization(&self) -> String {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.principal, self.secret));
        format!("Basic {token}")
    }
}

// Secrets never reach logs.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// The realm of a `WWW-Authenticate` challenge (`Basic realm="..."`).
fn challenge_realm<B>(response: &hyper::Response<B>) -> String {
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (_, after) = v.split_once("realm=")?;
            let after = after.trim_start();
            Some(match after.strip_prefix('"') {
                Some(quoted) => quoted.split('"').next().unwrap_or_default().to_string(),
                None => after
                    .split([',', ' '])
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            })
        })
        .unwrap_or_default()
}

#[derive(Clone)]
struct Session {
    framework_id: FrameworkId,
    stream_id: String,
}

impl Client {
    /// Prepares a client for the master at `host:port` or `http://host:port`
    /// and checks that it accepts connections. With `zk://...` (or a
    /// `file://` holding one) it waits for ZooKeeper to name a leader and
    /// then follows the leader as it changes.
    pub async fn connect(master: &str, content_type: ContentType) -> Result<Client, Error> {
        Client::connect_with(master, content_type, None).await
    }

    /// [`Client::connect`], sending `credential` (if any) as HTTP Basic on
    /// every request. A 401 answer is [`Error::Unauthorized`].
    pub async fn connect_with(
        master: &str,
        content_type: ContentType,
        credential: Option<Credential>,
    ) -> Result<Client, Error> {
        let (endpoint, detector) = if master.starts_with("zk://") || master.starts_with("file://") {
            let invalid = |reason: String| Error::InvalidAddress {
                address: master.to_string(),
                reason,
            };
            match mesos_detector::parse_master(master).map_err(|e| invalid(e.to_string()))? {
                mesos_detector::MasterUrl::Standalone(address) => {
                    (Endpoint::parse(&address)?, None)
                }
                url @ mesos_detector::MasterUrl::ZooKeeper(_) => {
                    let detector = mesos_detector::MasterDetector::start(
                        &url,
                        mesos_detector::DEFAULT_SESSION_TIMEOUT,
                    )
                    .map_err(|e| invalid(e.to_string()))?;
                    let mut leader = detector.leader();
                    let endpoint = loop {
                        if let Some(endpoint) = leader
                            .borrow_and_update()
                            .as_ref()
                            .and_then(leader_endpoint)
                        {
                            break endpoint;
                        }
                        leader
                            .changed()
                            .await
                            .map_err(|_| invalid("master detection failed".to_string()))?;
                    };
                    (endpoint, Some(detector))
                }
            }
        } else {
            (Endpoint::parse(master)?, None)
        };
        let leader = detector.as_ref().map(|d| d.leader());
        let (connection, _driver) = http::connect(&endpoint).await?;
        let client = Client {
            inner: Arc::new(Inner {
                content_type,
                authorization: credential.as_ref().map(Credential::authorization),
                master: StdMutex::new(endpoint.clone()),
                session: StdMutex::new(None),
                calls: {
                    let mut first = Some((endpoint.clone(), connection));
                    (0..CALL_CONNECTIONS)
                        .map(|_| tokio::sync::Mutex::new(first.take()))
                        .collect()
                },
                next_slot: AtomicUsize::new(0),
                _detector: detector,
            }),
        };
        if let Some(leader) = leader {
            tokio::spawn(follow_leader(Arc::downgrade(&client.inner), leader));
        }
        Ok(client)
    }

    /// The encoding used for calls and events.
    pub fn content_type(&self) -> ContentType {
        self.inner.content_type
    }

    /// The master currently talked to (the leader, after redirects).
    pub fn master(&self) -> Endpoint {
        lock(&self.inner.master).clone()
    }

    /// The framework id of the current subscription, if any.
    pub fn framework_id(&self) -> Option<FrameworkId> {
        lock(&self.inner.session)
            .as_ref()
            .map(|s| s.framework_id.clone())
    }

    /// Subscribes (or re-subscribes, when `framework_info.id` is set) and
    /// waits for the `SUBSCRIBED` event.
    ///
    /// A 200 followed by an `ERROR` event (upstream's in-band refusal) is
    /// [`Error::Subscribe`]; a non-200 answer is [`Error::Status`].
    pub async fn subscribe(&self, framework_info: FrameworkInfo) -> Result<Subscription, Error> {
        self.subscribe_with(call::Subscribe {
            framework_info,
            ..Default::default()
        })
        .await
    }

    /// Like [`Client::subscribe`], with the whole `Subscribe` message
    /// (suppressed roles, offer constraints).
    pub async fn subscribe_with(&self, subscribe: call::Subscribe) -> Result<Subscription, Error> {
        let content_type = self.inner.content_type;
        let subscribe_call = Call {
            framework_id: subscribe.framework_info.id.clone(),
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(subscribe),
            ..Default::default()
        };
        let body = content_type.encode(&subscribe_call);

        let mut redirects = 0;
        let (endpoint, sender, response) = loop {
            let endpoint = self.master();
            let (mut sender, _driver) = http::connect(&endpoint).await?;
            let extra: Vec<(&str, &str)> = self
                .inner
                .authorization
                .as_deref()
                .map(|a| (AUTHORIZATION.as_str(), a))
                .into_iter()
                .collect();
            let request = http::post_request(
                &endpoint,
                SCHEDULER_PATH,
                content_type,
                body.clone(),
                &extra,
            )?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|source| Error::Http {
                    address: endpoint.authority(),
                    source,
                })?;
            match response.status() {
                StatusCode::OK => break (endpoint, sender, response),
                StatusCode::TEMPORARY_REDIRECT => {
                    redirects += 1;
                    self.follow_redirect(&response, redirects)?;
                }
                StatusCode::UNAUTHORIZED => {
                    return Err(Error::Unauthorized {
                        call: "SUBSCRIBE".to_string(),
                        realm: challenge_realm(&response),
                        body: http::body_text(response.into_body()).await,
                    })
                }
                status => {
                    return Err(Error::Status {
                        call: "SUBSCRIBE".to_string(),
                        status: status.as_u16(),
                        body: http::body_text(response.into_body()).await,
                    })
                }
            }
        };

        let stream_id = response
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| Error::Subscribe("the answer carries no Mesos-Stream-Id".to_string()))?;

        let mut reader = RecordReader::new(response.into_body(), content_type);
        let first_wait = DEFAULT_HEARTBEAT_INTERVAL * MISSED_HEARTBEATS;
        let first: Event = match tokio::time::timeout(first_wait, reader.next()).await {
            Err(_) => return Err(Error::HeartbeatTimeout(first_wait)),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(None)) => return Err(Error::Disconnected),
            Ok(Ok(Some(event))) => event,
        };
        let subscribed = match (first.r#type(), first.subscribed, first.error) {
            (event::Type::Subscribed, Some(subscribed), _) => subscribed,
            (event::Type::Error, _, Some(error)) => return Err(Error::Subscribe(error.message)),
            (other, _, _) => {
                return Err(Error::Subscribe(format!(
                    "expected SUBSCRIBED as the first event, got {}",
                    other.as_str_name()
                )))
            }
        };

        let heartbeat_interval = subscribed
            .heartbeat_interval_seconds
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_HEARTBEAT_INTERVAL);

        *lock(&self.inner.session) = Some(Session {
            framework_id: subscribed.framework_id.clone(),
            stream_id: stream_id.clone(),
        });
        // The call connection must follow the leader we subscribed with.
        {
            let mut calls = self.call_slot().await;
            if calls.as_ref().map(|(e, _)| e != &endpoint).unwrap_or(false) {
                *calls = None;
            }
        }

        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        let watchdog = heartbeat_interval * MISSED_HEARTBEATS;
        let reader_task = tokio::spawn(read_events(reader, sender, tx, watchdog));

        Ok(Subscription {
            framework_id: subscribed.framework_id,
            stream_id,
            heartbeat_interval,
            master_info: subscribed.master_info,
            events,
            reader_task,
        })
    }

    /// Sends a non-SUBSCRIBE call on the call connection, with
    /// `Mesos-Stream-Id`. Fills `framework_id` from the subscription when the
    /// call has none. Returns the status (202, or 200 for UPDATE_FRAMEWORK);
    /// anything else is [`Error::Status`] with the master's reason.
    pub async fn call(&self, mut call: Call) -> Result<StatusCode, Error> {
        let call_name = call.r#type().as_str_name().to_string();
        let session = lock(&self.inner.session).clone();
        if call.framework_id.is_none() {
            call.framework_id = session.as_ref().map(|s| s.framework_id.clone());
        }
        let body = self.inner.content_type.encode(&call);
        let mut extra = Vec::new();
        if let Some(session) = &session {
            extra.push(("Mesos-Stream-Id", session.stream_id.as_str()));
        }
        if let Some(authorization) = &self.inner.authorization {
            extra.push((AUTHORIZATION.as_str(), authorization.as_str()));
        }

        let mut redirects = 0;
        loop {
            let mut calls = self.call_slot().await;
            let master = self.master();
            let reusable = matches!(&*calls, Some((e, c)) if *e == master && !c.is_closed());
            if !reusable {
                let (connection, _driver) = http::connect(&master).await?;
                *calls = Some((master.clone(), connection));
            }
            let Some((_, connection)) = calls.as_mut() else {
                return Err(Error::Request("no call connection".to_string()));
            };
            let request = http::post_request(
                &master,
                SCHEDULER_PATH,
                self.inner.content_type,
                body.clone(),
                &extra,
            )?;
            let sent = match connection.ready().await {
                Ok(()) => connection.send_request(request).await,
                Err(e) => Err(e),
            };
            let response = match sent {
                Ok(response) => response,
                Err(source) => {
                    // The connection is unusable; the next call opens a new one.
                    *calls = None;
                    return Err(Error::Http {
                        address: master.authority(),
                        source,
                    });
                }
            };
            let status = response.status();
            if status == StatusCode::TEMPORARY_REDIRECT {
                redirects += 1;
                self.follow_redirect(&response, redirects)?;
                // Drain so the connection could be reused, then drop it: the
                // leader is elsewhere.
                let _ = response.into_body().collect().await;
                *calls = None;
                continue;
            }
            if status.is_success() {
                // Drain so the next call can use the connection.
                let _ = response.into_body().collect().await;
                return Ok(status);
            }
            if status == StatusCode::UNAUTHORIZED {
                return Err(Error::Unauthorized {
                    call: call_name,
                    realm: challenge_realm(&response),
                    body: http::body_text(response.into_body()).await,
                });
            }
            return Err(Error::Status {
                call: call_name,
                status: status.as_u16(),
                body: http::body_text(response.into_body()).await,
            });
        }
    }

    /// A free call connection slot, or (all busy) the next one in turn.
    async fn call_slot(&self) -> tokio::sync::MutexGuard<'_, Option<(Endpoint, Connection)>> {
        for slot in &self.inner.calls {
            if let Ok(guard) = slot.try_lock() {
                return guard;
            }
        }
        let next = self.inner.next_slot.fetch_add(1, Ordering::Relaxed) % self.inner.calls.len();
        self.inner.calls[next].lock().await
    }

    fn follow_redirect<B>(
        &self,
        response: &hyper::Response<B>,
        redirects: usize,
    ) -> Result<(), Error> {
        if redirects > MAX_REDIRECTS {
            return Err(Error::Redirect(format!(
                "gave up after {MAX_REDIRECTS} redirects in a row"
            )));
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Redirect("307 without a Location header".to_string()))?;
        let leader = Endpoint::parse(location)
            .map_err(|e| Error::Redirect(format!("unusable Location '{location}': {e}")))?;
        tracing::info!("redirected to the leading master at {leader}");
        *lock(&self.inner.master) = leader;
        Ok(())
    }

    /// `ACCEPT`: use `offer_ids` for `operations`. Unused resources count as
    /// declined with `filters` (upstream's default refusal is 5 s).
    pub async fn accept(
        &self,
        offer_ids: Vec<OfferId>,
        operations: Vec<offer::Operation>,
        filters: Option<Filters>,
    ) -> Result<StatusCode, Error> {
        self.call(Call {
            r#type: Some(call::Type::Accept as i32),
            accept: Some(call::Accept {
                offer_ids,
                operations,
                filters,
            }),
            ..Default::default()
        })
        .await
    }

    /// Launches `tasks` on one offer (one `LAUNCH` operation). Each task's
    /// `agent_id` is set to the offer's; what the tasks leave unused is
    /// declined with the default 5 s refusal.
    pub async fn launch(&self, offer: &Offer, tasks: Vec<TaskInfo>) -> Result<StatusCode, Error> {
        self.launch_with(offer, tasks, None).await
    }

    /// [`Client::launch`] with explicit `filters` for the unused resources.
    pub async fn launch_with(
        &self,
        offer: &Offer,
        tasks: Vec<TaskInfo>,
        filters: Option<Filters>,
    ) -> Result<StatusCode, Error> {
        let task_infos = tasks
            .into_iter()
            .map(|mut task| {
                task.agent_id = offer.agent_id.clone();
                task
            })
            .collect();
        self.accept(
            vec![offer.id.clone()],
            vec![launch_operation(task_infos)],
            filters,
        )
        .await
    }

    /// `DECLINE` the offers.
    pub async fn decline(
        &self,
        offer_ids: Vec<OfferId>,
        filters: Option<Filters>,
    ) -> Result<StatusCode, Error> {
        self.call(Call {
            r#type: Some(call::Type::Decline as i32),
            decline: Some(call::Decline { offer_ids, filters }),
            ..Default::default()
        })
        .await
    }

    /// `ACKNOWLEDGE` a status update. Only updates with a `uuid` may be
    /// acknowledged (master-generated ones have none): returns `Ok(false)`
    /// without sending anything for those.
    pub async fn acknowledge(&self, status: &TaskStatus) -> Result<bool, Error> {
        let Some(uuid) = status.uuid.clone() else {
            return Ok(false);
        };
        let agent_id = status.agent_id.clone().ok_or_else(|| {
            Error::Invalid(format!(
                "cannot acknowledge the update of task '{}': it has no agent_id",
                status.task_id.value
            ))
        })?;
        self.call(Call {
            r#type: Some(call::Type::Acknowledge as i32),
            acknowledge: Some(call::Acknowledge {
                agent_id,
                task_id: status.task_id.clone(),
                uuid,
            }),
            ..Default::default()
        })
        .await?;
        Ok(true)
    }

    /// `KILL` a task.
    pub async fn kill(
        &self,
        task_id: TaskId,
        agent_id: Option<AgentId>,
    ) -> Result<StatusCode, Error> {
        self.call(Call {
            r#type: Some(call::Type::Kill as i32),
            kill: Some(call::Kill {
                task_id,
                agent_id,
                kill_policy: None,
            }),
            ..Default::default()
        })
        .await
    }

    /// `RECONCILE` the given tasks; an empty list asks for all known tasks.
    pub async fn reconcile(
        &self,
        tasks: Vec<(TaskId, Option<AgentId>)>,
    ) -> Result<StatusCode, Error> {
        self.call(Call {
            r#type: Some(call::Type::Reconcile as i32),
            reconcile: Some(call::Reconcile {
                tasks: tasks
                    .into_iter()
                    .map(|(task_id, agent_id)| call::reconcile::Task { task_id, agent_id })
                    .collect(),
            }),
            ..Default::default()
        })
        .await
    }

    /// `REVIVE` offers for `roles` (empty: all roles).
    pub async fn revive(&self, roles: Vec<String>) -> Result<StatusCode, Error> {
        self.call(Call {
            r#type: Some(call::Type::Revive as i32),
            revive: Some(call::Revive { roles }),
            ..Default::default()
        })
        .await
    }

    /// `SUPPRESS` offers for `roles` (empty: all roles).
    pub async fn suppress(&self, roles: Vec<String>) -> Result<StatusCode, Error> {
        self.call(Call {
            r#type: Some(call::Type::Suppress as i32),
            suppress: Some(call::Suppress { roles }),
            ..Default::default()
        })
        .await
    }

    /// `TEARDOWN`: removes the framework and kills all its tasks.
    pub async fn teardown(&self) -> Result<StatusCode, Error> {
        self.call(Call {
            r#type: Some(call::Type::Teardown as i32),
            ..Default::default()
        })
        .await
    }
}

/// A `LAUNCH` operation for `tasks`.
pub fn launch_operation(tasks: Vec<TaskInfo>) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::Launch as i32),
        launch: Some(offer::operation::Launch { task_infos: tasks }),
        ..Default::default()
    }
}

/// An open subscription: the events after `SUBSCRIBED`.
///
/// Dropping it closes the subscription connection (which, for a framework
/// with `failover_timeout` 0, tears it down on the master).
pub struct Subscription {
    /// The id the master assigned (or confirmed).
    pub framework_id: FrameworkId,
    /// The `Mesos-Stream-Id` of this subscription.
    pub stream_id: String,
    /// The heartbeat interval announced in `SUBSCRIBED`.
    pub heartbeat_interval: Duration,
    /// The leading master, as announced in `SUBSCRIBED`.
    pub master_info: Option<MasterInfo>,
    events: mpsc::Receiver<Result<Event, Error>>,
    reader_task: tokio::task::JoinHandle<()>,
}

impl Subscription {
    /// The next event (heartbeats included). `Some(Err(_))` is final: the
    /// stream broke, went silent past the watchdog, or ended; `None` follows.
    pub async fn recv(&mut self) -> Option<Result<Event, Error>> {
        self.events.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.reader_task.abort();
    }
}

/// Reads events until the stream ends, breaks or goes silent for `watchdog`.
async fn read_events(
    mut reader: RecordReader,
    // Held so the subscription connection lives exactly as long as this task.
    _sender: Connection,
    tx: mpsc::Sender<Result<Event, Error>>,
    watchdog: Duration,
) {
    loop {
        let outcome = match tokio::time::timeout(watchdog, reader.next::<Event>()).await {
            Err(_) => Err(Error::HeartbeatTimeout(watchdog)),
            Ok(Ok(None)) => Err(Error::Disconnected),
            Ok(Ok(Some(event))) => Ok(event),
            Ok(Err(e @ Error::Decode { .. })) => {
                // The framing is intact, so only this one event is lost.
                tracing::warn!("skipping an undecodable event: {e}");
                continue;
            }
            Ok(Err(e)) => Err(e),
        };
        let last = outcome.is_err();
        if tx.send(outcome).await.is_err() || last {
            return;
        }
    }
}

fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind; keep going.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The scheduler API endpoint of a detected master.
fn leader_endpoint(info: &mesos_proto::mesos::MasterInfo) -> Option<Endpoint> {
    let host = info
        .address
        .as_ref()
        .and_then(|a| a.ip.clone().or_else(|| a.hostname.clone()))
        .unwrap_or_else(|| std::net::Ipv4Addr::from(info.ip.to_ne_bytes()).to_string());
    let port = u16::try_from(info.port).ok()?;
    Some(Endpoint { host, port })
}

/// Points the client at each newly detected leader; ends with the client
/// (its detector then stops and the channel closes).
async fn follow_leader(
    inner: std::sync::Weak<Inner>,
    mut leader: tokio::sync::watch::Receiver<Option<mesos_proto::mesos::MasterInfo>>,
) {
    while leader.changed().await.is_ok() {
        let Some(endpoint) = leader
            .borrow_and_update()
            .as_ref()
            .and_then(leader_endpoint)
        else {
            tracing::info!("No leading master is detected");
            continue;
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        tracing::info!("New leading master detected at {}", endpoint.authority());
        *lock(&inner.master) = endpoint;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_support::{record, FakeRequest, FakeServer};
    use mesos_proto::mesos::v1::TaskState;
    use prost::Message as _;

    fn framework_info() -> FrameworkInfo {
        FrameworkInfo {
            user: "test".into(),
            name: "client-test".into(),
            ..Default::default()
        }
    }

    fn subscribed_event(heartbeat: f64) -> Event {
        Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: FrameworkId {
                    value: "fw-1".into(),
                },
                heartbeat_interval_seconds: Some(heartbeat),
                master_info: None,
            }),
            ..Default::default()
        }
    }

    fn heartbeat_event() -> Event {
        Event {
            r#type: Some(event::Type::Heartbeat as i32),
            ..Default::default()
        }
    }

    fn offers_event() -> Event {
        Event {
            r#type: Some(event::Type::Offers as i32),
            offers: Some(event::Offers {
                offers: vec![Offer {
                    id: OfferId {
                        value: "o-1".into(),
                    },
                    framework_id: FrameworkId {
                        value: "fw-1".into(),
                    },
                    agent_id: AgentId {
                        value: "a-1".into(),
                    },
                    hostname: "localhost".into(),
                    resources: crate::resources::parse("cpus:2;mem:1024")
                        .unwrap()
                        .into_vec(),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }
    }

    /// Answers a SUBSCRIBE with 200, a stream id, and returns the stream feed.
    fn accept_subscribe(
        request: FakeRequest,
        content_type: ContentType,
    ) -> mpsc::Sender<bytes::Bytes> {
        request.respond_stream(
            200,
            &[
                ("Content-Type", content_type.mime()),
                ("Mesos-Stream-Id", "stream-1"),
            ],
        )
    }

    /// A client subscribed to `server`, the stream feed, and the number of
    /// the connection that carries the subscription.
    async fn subscribed_client(
        server: &mut FakeServer,
    ) -> (Client, Subscription, mpsc::Sender<bytes::Bytes>, u64) {
        let client = Client::connect(&server.authority(), ContentType::Protobuf)
            .await
            .unwrap();
        let subscribing = tokio::spawn({
            let client = client.clone();
            async move { client.subscribe(framework_info()).await }
        });
        let request = server.next_request().await.unwrap();
        let connection = request.connection;
        let feed = accept_subscribe(request, ContentType::Protobuf);
        feed.send(record(ContentType::Protobuf, &subscribed_event(15.0)))
            .await
            .unwrap();
        let subscription = subscribing.await.unwrap().unwrap();
        (client, subscription, feed, connection)
    }

    #[tokio::test]
    async fn subscribe_reads_events_split_at_any_byte() {
        let mut server = FakeServer::start().await.unwrap();
        let client = Client::connect(&server.authority(), ContentType::Protobuf)
            .await
            .unwrap();
        let subscribing = tokio::spawn({
            let client = client.clone();
            async move { client.subscribe(framework_info()).await }
        });

        let request = server.next_request().await.unwrap();
        assert_eq!(request.path, SCHEDULER_PATH);
        assert_eq!(request.header("content-type"), "application/x-protobuf");
        assert_eq!(request.header("accept"), "application/x-protobuf");
        assert_eq!(request.header("mesos-stream-id"), "");
        let call = Call::decode(request.body.clone()).unwrap();
        assert_eq!(call.r#type(), call::Type::Subscribe);
        assert_eq!(call.subscribe.unwrap().framework_info.name, "client-test");

        let feed = accept_subscribe(request, ContentType::Protobuf);
        let mut stream = Vec::new();
        for event in [subscribed_event(15.0), heartbeat_event(), offers_event()] {
            stream.extend_from_slice(&record(ContentType::Protobuf, &event));
        }
        // Three bytes per chunk: records and lengths straddle chunks.
        for chunk in stream.chunks(3) {
            feed.send(bytes::Bytes::copy_from_slice(chunk))
                .await
                .unwrap();
        }

        let mut subscription = subscribing.await.unwrap().unwrap();
        assert_eq!(subscription.framework_id.value, "fw-1");
        assert_eq!(subscription.stream_id, "stream-1");
        assert_eq!(subscription.heartbeat_interval, Duration::from_secs(15));
        assert_eq!(client.framework_id().unwrap().value, "fw-1");

        let first = subscription.recv().await.unwrap().unwrap();
        assert_eq!(first.r#type(), event::Type::Heartbeat);
        let second = subscription.recv().await.unwrap().unwrap();
        assert_eq!(second.r#type(), event::Type::Offers);
        assert_eq!(second.offers.unwrap().offers[0].id.value, "o-1");

        // The master ending the stream is reported once, then nothing.
        drop(feed);
        assert!(matches!(
            subscription.recv().await,
            Some(Err(Error::Disconnected))
        ));
        assert!(subscription.recv().await.is_none());
    }

    #[tokio::test]
    async fn calls_use_their_own_connection_with_the_stream_id() {
        let mut server = FakeServer::start().await.unwrap();
        let (client, _subscription, _feed, subscribe_connection) =
            subscribed_client(&mut server).await;

        let declining = tokio::spawn({
            let client = client.clone();
            async move {
                client
                    .decline(
                        vec![OfferId {
                            value: "o-1".into(),
                        }],
                        None,
                    )
                    .await
            }
        });
        let request = server.next_request().await.unwrap();
        assert_ne!(request.connection, subscribe_connection);
        assert_eq!(request.header("mesos-stream-id"), "stream-1");
        let call = Call::decode(request.body.clone()).unwrap();
        assert_eq!(call.r#type(), call::Type::Decline);
        assert_eq!(call.framework_id.unwrap().value, "fw-1");
        let call_connection = request.connection;
        request.respond(202, &[], "");
        assert_eq!(declining.await.unwrap().unwrap(), StatusCode::ACCEPTED);

        // A refusal carries the master's reason; the connection is reused.
        let killing = tokio::spawn({
            let client = client.clone();
            async move { client.kill(TaskId { value: "t".into() }, None).await }
        });
        let request = server.next_request().await.unwrap();
        assert_eq!(request.connection, call_connection);
        request.respond(400, &[], "Framework cannot be found");
        match killing.await.unwrap() {
            Err(Error::Status { call, status, body }) => {
                assert_eq!((call.as_str(), status), ("KILL", 400));
                assert_eq!(body, "Framework cannot be found");
            }
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn acknowledge_only_updates_with_a_uuid() {
        let mut server = FakeServer::start().await.unwrap();
        let (client, _subscription, _feed, _) = subscribed_client(&mut server).await;
        let mut status = TaskStatus {
            task_id: TaskId { value: "t".into() },
            state: TaskState::TaskRunning as i32,
            agent_id: Some(AgentId {
                value: "a-1".into(),
            }),
            ..Default::default()
        };
        // No uuid: a master-generated update, never acknowledged.
        assert!(!client.acknowledge(&status).await.unwrap());

        status.uuid = Some(vec![7; 16]);
        let acking = tokio::spawn({
            let client = client.clone();
            async move { client.acknowledge(&status).await }
        });
        let request = server.next_request().await.unwrap();
        let call = Call::decode(request.body.clone()).unwrap();
        let ack = call.acknowledge.unwrap();
        assert_eq!(ack.uuid, vec![7; 16]);
        assert_eq!(ack.agent_id.value, "a-1");
        request.respond(202, &[], "");
        assert!(acking.await.unwrap().unwrap());
    }

    #[tokio::test]
    async fn follows_a_protocol_relative_redirect() {
        let mut standby = FakeServer::start().await.unwrap();
        let mut leader = FakeServer::start().await.unwrap();
        let client = Client::connect(&standby.authority(), ContentType::Protobuf)
            .await
            .unwrap();
        let subscribing = tokio::spawn({
            let client = client.clone();
            async move { client.subscribe(framework_info()).await }
        });

        let request = standby.next_request().await.unwrap();
        let location = format!("//{}/master/api/v1/scheduler", leader.authority());
        request.respond(307, &[("Location", location.as_str())], "");

        let request = leader.next_request().await.unwrap();
        assert_eq!(
            Call::decode(request.body.clone()).unwrap().r#type(),
            call::Type::Subscribe
        );
        let feed = accept_subscribe(request, ContentType::Protobuf);
        feed.send(record(ContentType::Protobuf, &subscribed_event(15.0)))
            .await
            .unwrap();
        let _subscription = subscribing.await.unwrap().unwrap();
        assert_eq!(client.master().port, leader.addr().port());

        // Later calls go to the leader too.
        let tearing_down = tokio::spawn({
            let client = client.clone();
            async move { client.teardown().await }
        });
        let request = leader.next_request().await.unwrap();
        assert_eq!(
            Call::decode(request.body.clone()).unwrap().r#type(),
            call::Type::Teardown
        );
        request.respond(202, &[], "");
        assert_eq!(tearing_down.await.unwrap().unwrap(), StatusCode::ACCEPTED);
    }

    #[tokio::test]
    async fn a_credential_goes_on_every_request_and_a_401_names_the_realm() {
        let mut server = FakeServer::start().await.unwrap();
        let credential = Credential {
            principal: "alice".into(),
            secret: "s3cret".into(),
        };
        assert!(!format!("{credential:?}").contains("s3cret"));
        let client =
            Client::connect_with(&server.authority(), ContentType::Protobuf, Some(credential))
                .await
                .unwrap();
        // base64("alice:s3cret")
        let expected = "Basic YWxpY2U6czNjcmV0";
        let subscribing = tokio::spawn({
            let client = client.clone();
            async move { client.subscribe(framework_info()).await }
        });
        let request = server.next_request().await.unwrap();
        assert_eq!(request.header("authorization"), expected);
        let feed = accept_subscribe(request, ContentType::Protobuf);
        feed.send(record(ContentType::Protobuf, &subscribed_event(15.0)))
            .await
            .unwrap();
        let _subscription = subscribing.await.unwrap().unwrap();

        let tearing_down = tokio::spawn({
            let client = client.clone();
            async move { client.teardown().await }
        });
        let request = server.next_request().await.unwrap();
        assert_eq!(request.header("authorization"), expected);
        request.respond(
            401,
            &[("WWW-Authenticate", "Basic realm=\"mesos-master-scheduler\"")],
            "",
        );
        match tearing_down.await.unwrap() {
            Err(Error::Unauthorized { call, realm, .. }) => {
                assert_eq!(
                    (call.as_str(), realm.as_str()),
                    ("TEARDOWN", "mesos-master-scheduler")
                );
            }
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_401_refuses_the_subscription_with_the_realm() {
        let mut server = FakeServer::start().await.unwrap();
        let client = Client::connect(&server.authority(), ContentType::Protobuf)
            .await
            .unwrap();
        let subscribing = tokio::spawn(async move { client.subscribe(framework_info()).await });
        let request = server.next_request().await.unwrap();
        assert_eq!(request.header("authorization"), "");
        request.respond(
            401,
            &[("WWW-Authenticate", "Basic realm=\"mesos-master-scheduler\"")],
            "",
        );
        let Err(error) = subscribing.await.unwrap() else {
            panic!("a 401 must refuse the subscription");
        };
        assert!(
            error.to_string().contains("realm 'mesos-master-scheduler'"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_redirect_without_location_is_an_error() {
        let mut server = FakeServer::start().await.unwrap();
        let client = Client::connect(&server.authority(), ContentType::Protobuf)
            .await
            .unwrap();
        let subscribing = tokio::spawn(async move { client.subscribe(framework_info()).await });
        server.next_request().await.unwrap().respond(307, &[], "");
        assert!(matches!(
            subscribing.await.unwrap(),
            Err(Error::Redirect(_))
        ));
    }

    #[tokio::test]
    async fn an_error_event_refuses_the_subscription() {
        let mut server = FakeServer::start().await.unwrap();
        let client = Client::connect(&server.authority(), ContentType::Protobuf)
            .await
            .unwrap();
        let subscribing = tokio::spawn(async move { client.subscribe(framework_info()).await });
        let feed = accept_subscribe(server.next_request().await.unwrap(), ContentType::Protobuf);
        let error = Event {
            r#type: Some(event::Type::Error as i32),
            error: Some(event::Error {
                message: "Role 'x y' is invalid".into(),
            }),
            ..Default::default()
        };
        feed.send(record(ContentType::Protobuf, &error))
            .await
            .unwrap();
        drop(feed);
        match subscribing.await.unwrap() {
            Err(Error::Subscribe(message)) => assert_eq!(message, "Role 'x y' is invalid"),
            other => panic!("expected an in-band refusal, got {:?}", other.err()),
        }
    }

    #[tokio::test]
    async fn a_non_200_subscribe_is_a_status_error() {
        let mut server = FakeServer::start().await.unwrap();
        let client = Client::connect(&server.authority(), ContentType::Protobuf)
            .await
            .unwrap();
        let subscribing = tokio::spawn(async move { client.subscribe(framework_info()).await });
        server
            .next_request()
            .await
            .unwrap()
            .respond(503, &[], "Master has not finished recovery");
        match subscribing.await.unwrap() {
            Err(Error::Status { status, body, .. }) => {
                assert_eq!(status, 503);
                assert_eq!(body, "Master has not finished recovery");
            }
            other => panic!("expected a 503, got {:?}", other.err()),
        }
    }

    #[tokio::test]
    async fn a_silent_stream_trips_the_heartbeat_watchdog() {
        let mut server = FakeServer::start().await.unwrap();
        let client = Client::connect(&server.authority(), ContentType::Protobuf)
            .await
            .unwrap();
        let subscribing = tokio::spawn(async move { client.subscribe(framework_info()).await });
        let feed = accept_subscribe(server.next_request().await.unwrap(), ContentType::Protobuf);
        // 20 ms heartbeats: the watchdog fires after 100 ms of silence.
        feed.send(record(ContentType::Protobuf, &subscribed_event(0.02)))
            .await
            .unwrap();
        let mut subscription = subscribing.await.unwrap().unwrap();
        // Heartbeats keep it alive...
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(40)).await;
            feed.send(record(ContentType::Protobuf, &heartbeat_event()))
                .await
                .unwrap();
            let event = subscription.recv().await.unwrap().unwrap();
            assert_eq!(event.r#type(), event::Type::Heartbeat);
        }
        // ...silence kills it, although the connection is still open.
        let started = tokio::time::Instant::now();
        match subscription.recv().await {
            Some(Err(Error::HeartbeatTimeout(after))) => {
                assert_eq!(after, Duration::from_millis(100));
            }
            other => panic!("expected the watchdog, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(90));
        drop(feed);
    }

    #[tokio::test]
    async fn speaks_json_when_asked() {
        let mut server = FakeServer::start().await.unwrap();
        let client = Client::connect(&server.authority(), ContentType::Json)
            .await
            .unwrap();
        let subscribing = tokio::spawn({
            let client = client.clone();
            async move { client.subscribe(framework_info()).await }
        });
        let request = server.next_request().await.unwrap();
        assert_eq!(request.header("content-type"), "application/json");
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "SUBSCRIBE");
        assert_eq!(body["subscribe"]["framework_info"]["user"], "test");

        let feed = accept_subscribe(request, ContentType::Json);
        feed.send(record(ContentType::Json, &subscribed_event(15.0)))
            .await
            .unwrap();
        feed.send(record(ContentType::Json, &offers_event()))
            .await
            .unwrap();
        let mut subscription = subscribing.await.unwrap().unwrap();
        let offers = subscription.recv().await.unwrap().unwrap();
        let offer = &offers.offers.unwrap().offers[0];
        assert_eq!(offer.agent_id.value, "a-1");

        let launching = tokio::spawn({
            let client = client.clone();
            let offer = offer.clone();
            async move {
                let task = TaskInfo {
                    name: "t".into(),
                    task_id: TaskId { value: "t".into() },
                    ..Default::default()
                };
                client.launch(&offer, vec![task]).await
            }
        });
        let request = server.next_request().await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "ACCEPT");
        assert_eq!(body["framework_id"]["value"], "fw-1");
        let task = &body["accept"]["operations"][0]["launch"]["task_infos"][0];
        assert_eq!(task["agent_id"]["value"], "a-1");
        request.respond(202, &[], "");
        assert_eq!(launching.await.unwrap().unwrap(), StatusCode::ACCEPTED);
    }
}
