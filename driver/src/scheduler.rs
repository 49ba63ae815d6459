//! The v0 scheduler driver (`MesosSchedulerDriver`): status values, the
//! registration loop with randomized backoff, re-registration when the
//! detected master changes, failover, implicit and explicit
//! acknowledgements, and every scheduler call, as libmesos behaves.
//!
//! Owns the driver status (behind a lock, read by every method) and, on its
//! actor thread, everything else: the detected master, the connection
//! flag, offers seen and the agent pids they came from. Never blocks a
//! caller on the network: methods queue commands for the actor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libprocess::{Message, Upid};
use mesos_proto::mesos::internal::{DeactivateFrameworkMessage, FrameworkToExecutorMessage};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{
    self as v0, framework_info, offer, task_status, Credential, ExecutorId, Filters, FrameworkId,
    FrameworkInfo, MasterInfo, Offer, OfferId, Request, SlaveId, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use mesos_v0_codec::scheduler::{decode, SchedulerMessage};

use crate::endpoint::{Endpoint, Inbound};
use crate::{detector, Error, Status};

/// The callbacks of a framework, called one at a time on the driver's actor
/// thread, in the order upstream's driver delivers them.
pub trait Scheduler: Send {
    fn registered(&mut self, driver: &SchedulerDriver, id: &FrameworkId, master: &MasterInfo);
    fn reregistered(&mut self, driver: &SchedulerDriver, master: &MasterInfo);
    fn disconnected(&mut self, driver: &SchedulerDriver);
    fn resource_offers(&mut self, driver: &SchedulerDriver, offers: &[Offer]);
    fn offer_rescinded(&mut self, driver: &SchedulerDriver, offer_id: &OfferId);
    fn status_update(&mut self, driver: &SchedulerDriver, status: &TaskStatus);
    fn framework_message(
        &mut self,
        driver: &SchedulerDriver,
        executor_id: &ExecutorId,
        slave_id: &SlaveId,
        data: &[u8],
    );
    fn slave_lost(&mut self, driver: &SchedulerDriver, slave_id: &SlaveId);
    fn executor_lost(
        &mut self,
        driver: &SchedulerDriver,
        executor_id: &ExecutorId,
        slave_id: &SlaveId,
        status: i32,
    );
    fn error(&mut self, driver: &SchedulerDriver, message: &str);
}

/// Upstream's cap on the registration backoff.
const REGISTRATION_RETRY_INTERVAL_MAX: Duration = Duration::from_secs(60);
/// `MESOS_REGISTRATION_BACKOFF_FACTOR`'s default.
const DEFAULT_REGISTRATION_BACKOFF_FACTOR: Duration = Duration::from_secs(2);

/// How long `stop()` waits for the actor to hand the teardown to the
/// master: the final send's own bound, plus what is queued before it.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What a framework gives the driver.
#[derive(Debug, Clone)]
pub struct Config {
    pub framework: FrameworkInfo,
    pub master: String,
    pub implicit_acknowledgements: bool,
    pub credential: Option<Credential>,
    pub suppressed_roles: Vec<String>,
}

enum Command {
    Stop {
        failover: bool,
        /// Told once the actor has sent its last message, so `stop()` can
        /// return only after the master has the teardown.
        sent: std::sync::mpsc::SyncSender<()>,
    },
    Abort,
    /// The driver object went away (`finalize`): end without TEARDOWN.
    Terminate,
    Kill(TaskId),
    Accept {
        offer_ids: Vec<OfferId>,
        operations: Vec<offer::Operation>,
        filters: Filters,
    },
    Decline(OfferId, Filters),
    Revive(Vec<String>),
    Suppress(Vec<String>),
    Acknowledge(Box<TaskStatus>),
    Message(ExecutorId, SlaveId, Vec<u8>),
    Reconcile(Vec<TaskStatus>),
    Request(Vec<Request>),
    UpdateFramework(Box<FrameworkInfo>, Vec<String>),
}

struct State {
    status: Status,
    commands: Option<mpsc::Sender<Inbound<Command>>>,
    scheduler: Option<Box<dyn Scheduler>>,
    actor: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    config: Config,
    state: Mutex<State>,
    changed: Condvar,
    /// Cleared by `abort`; the actor drops messages and callbacks once it is
    /// (upstream's `running` flag, read without the lock).
    running: Arc<AtomicBool>,
}

/// A v0 scheduler driver. Cheap to clone; clones are the same driver.
#[derive(Clone)]
pub struct SchedulerDriver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SchedulerDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerDriver")
            .field("framework", &self.shared.config.framework.name)
            .field("master", &self.shared.config.master)
            .finish()
    }
}

fn current_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_string())
}

impl SchedulerDriver {
    /// A driver for `config.framework`, not started. An empty `user` is
    /// filled in with the current user, as upstream does.
    pub fn new(scheduler: Box<dyn Scheduler>, mut config: Config) -> SchedulerDriver {
        if config.framework.user.is_empty() {
            config.framework.user = current_user();
        }
        SchedulerDriver {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(State {
                    status: Status::NotStarted,
                    commands: None,
                    scheduler: Some(scheduler),
                    actor: None,
                }),
                changed: Condvar::new(),
                running: Arc::new(AtomicBool::new(false)),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update under this lock is a single assignment; a panic
        // elsewhere cannot leave it half-written.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> Status {
        self.lock().status
    }

    /// Starts detecting the master and registering. Only acts once.
    pub fn start(&self) -> Status {
        let mut state = self.lock();
        if state.status != Status::NotStarted {
            return state.status;
        }
        let Some(mut scheduler) = state.scheduler.take() else {
            return state.status;
        };
        let started = (|| -> Result<_, Error> {
            // Parse first, so a bad master string starts nothing.
            detector::parse(&self.shared.config.master)?;
            let (tx, rx) = mpsc::channel();
            let id = format!("scheduler-{}", uuid::Uuid::new_v4());
            let endpoint = Endpoint::start(&id, tx.clone())?;
            let runtime = endpoint
                .runtime()
                .cloned()
                .ok_or_else(|| Error::Endpoint("the driver runtime is gone".into()))?;
            let detection = detector::detect(&self.shared.config.master, &runtime)?;
            endpoint.watch_leader(detection, tx.clone());
            Ok((tx, rx, endpoint))
        })();
        let (tx, rx, endpoint) = match started {
            Ok(parts) => parts,
            Err(e) => {
                // Upstream reports a detector failure through `error` and
                // stays unstarted; the callback runs without the lock so it
                // may call back into the driver.
                drop(state);
                tracing::error!("{e}");
                scheduler.error(self, &e.to_string());
                self.lock().scheduler = Some(scheduler);
                return Status::NotStarted;
            }
        };
        self.shared.running.store(true, Ordering::SeqCst);
        let process = SchedulerProcess::new(self.clone(), scheduler, endpoint, tx.clone());
        let spawned = std::thread::Builder::new()
            .name("mesos-scheduler".into())
            .spawn(move || process.run(rx));
        match spawned {
            Ok(handle) => {
                state.actor = Some(handle);
                state.commands = Some(tx);
                state.status = Status::Running;
            }
            Err(e) => {
                tracing::error!("failed to start the scheduler driver thread: {e}");
                state.status = Status::Aborted;
            }
        }
        self.shared.changed.notify_all();
        state.status
    }

    /// Stops the driver. With `failover`, the framework stays registered on
    /// the master (its failover timeout runs) so another driver can take
    /// over; without, the framework is torn down.
    pub fn stop(&self, failover: bool) -> Status {
        let mut state = self.lock();
        if state.status != Status::Running && state.status != Status::Aborted {
            return state.status;
        }
        // No callback runs once stop() has returned, even for events that
        // were already queued.
        self.shared.running.store(false, Ordering::SeqCst);
        let (sent, teardown_sent) = std::sync::mpsc::sync_channel(1);
        let queued = state.commands.as_ref().is_some_and(|tx| {
            tx.send(Inbound::Command(Command::Stop { failover, sent }))
                .is_ok()
        });
        // A program commonly exits right after stop(): wait (bounded) until
        // the actor has handed the teardown to the master, unless this is
        // the actor's own thread (stop() called from a callback), which
        // sends it once the callback returns.
        let on_actor = state
            .actor
            .as_ref()
            .is_some_and(|a| a.thread().id() == std::thread::current().id());
        let aborted = state.status == Status::Aborted;
        state.status = Status::Stopped;
        self.shared.changed.notify_all();
        drop(state);
        if queued && !on_actor {
            let _ = teardown_sent.recv_timeout(STOP_WAIT);
        }
        if aborted {
            Status::Aborted
        } else {
            Status::Stopped
        }
    }

    /// Aborts: the master deactivates the framework (no more offers) and the
    /// driver drops everything it receives until stopped.
    pub fn abort(&self) -> Status {
        let mut state = self.lock();
        if state.status != Status::Running {
            return state.status;
        }
        self.shared.running.store(false, Ordering::SeqCst);
        if let Some(tx) = &state.commands {
            let _ = tx.send(Inbound::Command(Command::Abort));
        }
        state.status = Status::Aborted;
        self.shared.changed.notify_all();
        state.status
    }

    /// Blocks until the driver is stopped or aborted.
    pub fn join(&self) -> Status {
        let mut state = self.lock();
        if state.status != Status::Running {
            return state.status;
        }
        while state.status == Status::Running {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        state.status
    }

    /// `start` then `join`.
    pub fn run(&self) -> Status {
        let status = self.start();
        if status != Status::Running {
            return status;
        }
        self.join()
    }

    /// Ends the actor without telling the master anything, as deleting an
    /// upstream driver does; waits for the actor thread unless called on it.
    pub fn terminate(&self) {
        let (tx, actor) = {
            let mut state = self.lock();
            (state.commands.take(), state.actor.take())
        };
        if let Some(tx) = tx {
            let _ = tx.send(Inbound::Command(Command::Terminate));
        }
        if let Some(actor) = actor {
            if actor.thread().id() != std::thread::current().id() {
                let _ = actor.join();
            }
        }
    }

    fn command(&self, command: Command) -> Status {
        let state = self.lock();
        if state.status != Status::Running {
            return state.status;
        }
        if let Some(tx) = &state.commands {
            let _ = tx.send(Inbound::Command(command));
        }
        state.status
    }

    pub fn kill_task(&self, task_id: TaskId) -> Status {
        self.command(Command::Kill(task_id))
    }

    pub fn launch_tasks(
        &self,
        offer_ids: Vec<OfferId>,
        tasks: Vec<TaskInfo>,
        filters: Filters,
    ) -> Status {
        let operation = offer::Operation {
            r#type: Some(offer::operation::Type::Launch as i32),
            launch: Some(offer::operation::Launch { task_infos: tasks }),
            ..Default::default()
        };
        self.accept_offers(offer_ids, vec![operation], filters)
    }

    pub fn accept_offers(
        &self,
        offer_ids: Vec<OfferId>,
        operations: Vec<offer::Operation>,
        filters: Filters,
    ) -> Status {
        self.command(Command::Accept {
            offer_ids,
            operations,
            filters,
        })
    }

    pub fn decline_offer(&self, offer_id: OfferId, filters: Filters) -> Status {
        self.command(Command::Decline(offer_id, filters))
    }

    pub fn revive_offers(&self, roles: Vec<String>) -> Status {
        self.command(Command::Revive(roles))
    }

    pub fn suppress_offers(&self, roles: Vec<String>) -> Status {
        self.command(Command::Suppress(roles))
    }

    /// Explicit acknowledgement; refused while implicit acknowledgements
    /// are on (upstream aborts the process there; we refuse and log).
    pub fn acknowledge_status_update(&self, status: TaskStatus) -> Status {
        if self.shared.config.implicit_acknowledgements {
            tracing::error!(
                "Cannot call acknowledgeStatusUpdate: implicit acknowledgements are enabled"
            );
            return self.status();
        }
        self.command(Command::Acknowledge(Box::new(status)))
    }

    pub fn send_framework_message(
        &self,
        executor_id: ExecutorId,
        slave_id: SlaveId,
        data: Vec<u8>,
    ) -> Status {
        self.command(Command::Message(executor_id, slave_id, data))
    }

    pub fn reconcile_tasks(&self, statuses: Vec<TaskStatus>) -> Status {
        self.command(Command::Reconcile(statuses))
    }

    pub fn request_resources(&self, requests: Vec<Request>) -> Status {
        self.command(Command::Request(requests))
    }

    pub fn update_framework(&self, info: FrameworkInfo, suppressed_roles: Vec<String>) -> Status {
        self.command(Command::UpdateFramework(Box::new(info), suppressed_roles))
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(crate) fn env_duration(name: &str, default: Duration) -> Duration {
    match std::env::var(name) {
        Ok(text) => match stout::duration::Duration::parse(&text) {
            Ok(d) => d.0,
            Err(e) => {
                tracing::warn!("ignoring {name}='{text}': {e}");
                default
            }
        },
        Err(_) => default,
    }
}

fn random_fraction() -> f64 {
    rand::random::<f64>()
}

/// The actor: owns the connection state and calls the scheduler.
struct SchedulerProcess {
    driver: SchedulerDriver,
    scheduler: Box<dyn Scheduler>,
    endpoint: Endpoint,
    framework: FrameworkInfo,
    suppressed_roles: Vec<String>,
    implicit_acknowledgements: bool,
    running: Arc<AtomicBool>,
    master: Option<MasterInfo>,
    master_pid: Option<Upid>,
    connected: bool,
    /// Whether the next SUBSCRIBE forces a failover (a driver started with
    /// an existing framework id takes the framework over).
    failover: bool,
    backoff_factor: Duration,
    next_registration: Option<(Instant, Duration)>,
    /// Offer id → agent id → agent pid, from offers not yet answered.
    saved_offers: HashMap<String, HashMap<String, Upid>>,
    /// Agent id → agent pid for agents we launched on (framework messages
    /// go straight to them).
    saved_slave_pids: HashMap<String, Upid>,
    /// With a credential, CRAM-MD5 authentication precedes registration.
    authentication: Option<Authentication>,
    /// For results of background work (authentication attempts).
    inbox: mpsc::Sender<Inbound<Command>>,
}

/// The driver's authentication state (upstream `authenticating`,
/// `authenticated`, the `MESOS_AUTHENTICATION_*` timeouts).
struct Authentication {
    credential: mesos_authentication::Credential,
    timeout_min: Duration,
    timeout_max: Duration,
    backoff_factor: Duration,
    /// The attempt in flight with its timeout range; results of others
    /// are stale.
    attempt: u64,
    in_flight: Option<(u64, Duration, Duration)>,
    authenticated: bool,
}

impl SchedulerProcess {
    fn new(
        driver: SchedulerDriver,
        scheduler: Box<dyn Scheduler>,
        endpoint: Endpoint,
        inbox: mpsc::Sender<Inbound<Command>>,
    ) -> Self {
        let config = driver.shared.config.clone();
        let failover = config
            .framework
            .id
            .as_ref()
            .is_some_and(|id| !id.value.is_empty());
        let authentication = config.credential.as_ref().map(|c| Authentication {
            credential: mesos_authentication::Credential {
                principal: c.principal.clone(),
                secret: c.secret.clone().unwrap_or_default().into_bytes(),
            },
            timeout_min: env_duration("MESOS_AUTHENTICATION_TIMEOUT_MIN", Duration::from_secs(5)),
            timeout_max: env_duration("MESOS_AUTHENTICATION_TIMEOUT_MAX", Duration::from_secs(60)),
            backoff_factor: env_duration(
                "MESOS_AUTHENTICATION_BACKOFF_FACTOR",
                Duration::from_secs(1),
            ),
            attempt: 0,
            in_flight: None,
            authenticated: false,
        });
        SchedulerProcess {
            running: driver.shared.running.clone(),
            driver,
            scheduler,
            endpoint,
            framework: config.framework,
            suppressed_roles: config.suppressed_roles,
            implicit_acknowledgements: config.implicit_acknowledgements,
            master: None,
            master_pid: None,
            connected: false,
            failover,
            backoff_factor: env_duration(
                "MESOS_REGISTRATION_BACKOFF_FACTOR",
                DEFAULT_REGISTRATION_BACKOFF_FACTOR,
            ),
            next_registration: None,
            saved_offers: HashMap::new(),
            saved_slave_pids: HashMap::new(),
            authentication,
            inbox,
        }
    }

    fn running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    fn run(mut self, inbox: mpsc::Receiver<Inbound<Command>>) {
        loop {
            let input = match self.next_registration {
                Some((at, _)) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    match inbox.recv_timeout(wait) {
                        Ok(input) => Some(input),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
                None => match inbox.recv() {
                    Ok(input) => Some(input),
                    Err(_) => return,
                },
            };
            match input {
                None => {
                    if let Some((_, backoff)) = self.next_registration.take() {
                        self.register(backoff);
                    }
                }
                Some(Inbound::Message(message, arrived)) => self.handle_message(message, arrived),
                Some(Inbound::Exited(_)) => {
                    // The v0 driver notices master changes only through its
                    // detector, never through broken connections.
                }
                Some(Inbound::Detected(leader)) => self.detected(leader),
                Some(Inbound::Authenticated { attempt, outcome }) => {
                    self.authenticated(attempt, outcome)
                }
                Some(Inbound::Command(command)) => {
                    if !self.handle_command(command) {
                        return;
                    }
                }
            }
        }
    }

    fn frameworks_id(&self) -> Option<FrameworkId> {
        self.framework.id.clone().filter(|id| !id.value.is_empty())
    }

    fn detected(&mut self, leader: Option<MasterInfo>) {
        if self.connected {
            self.connected = false;
            if self.running() {
                self.scheduler.disconnected(&self.driver);
            }
        }
        self.next_registration = None;
        self.master_pid = leader
            .as_ref()
            .and_then(|m| m.pid.as_deref())
            .and_then(|pid| pid.parse().ok());
        self.master = leader;
        match &self.master_pid {
            Some(pid) => {
                tracing::info!("New master detected at {pid}");
                if let Some(auth) = &self.authentication {
                    let (min, max) = (auth.timeout_min, auth.timeout_max);
                    let first_max = (min + auth.backoff_factor * 2).min(max);
                    self.authenticate(min, first_max);
                } else {
                    tracing::info!(
                        "No credentials provided. Attempting to register without authentication"
                    );
                    self.register(self.backoff_factor);
                }
            }
            None => tracing::info!("No master detected"),
        }
    }

    /// Starts an authentication attempt with a timeout drawn from
    /// `[min, max]` (upstream `SchedulerProcess::authenticate`).
    fn authenticate(&mut self, min: Duration, max: Duration) {
        if !self.running() {
            return;
        }
        let Some(master) = self.master_pid.clone() else {
            return;
        };
        let Some(auth) = self.authentication.as_mut() else {
            return;
        };
        auth.authenticated = false;
        auth.attempt += 1;
        auth.in_flight = Some((auth.attempt, min, max));
        let timeout = if max > min {
            min + (max - min).mul_f64(random_fraction())
        } else {
            min
        };
        tracing::info!("Authenticating with master {master}");
        self.endpoint.authenticate(
            &master,
            auth.credential.clone(),
            timeout,
            auth.attempt,
            self.inbox.clone(),
        );
    }

    /// Upstream `_authenticate`: register once authenticated, retry with a
    /// wider timeout range after an error, give up (error callback) when
    /// the master refused the credential.
    fn authenticated(&mut self, attempt: u64, outcome: mesos_authentication::ClientOutcome) {
        use mesos_authentication::ClientOutcome;
        let live = self.running() && self.master_pid.is_some();
        let master = self
            .master_pid
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default();
        let Some(auth) = self.authentication.as_mut() else {
            return;
        };
        let Some((current, min, max)) = auth.in_flight else {
            return;
        };
        if current != attempt || !live {
            return;
        }
        auth.in_flight = None;
        match outcome {
            ClientOutcome::Authenticated => {
                tracing::info!("Successfully authenticated with master {master}");
                auth.authenticated = true;
                self.register(self.backoff_factor);
            }
            ClientOutcome::Refused => {
                tracing::error!("Master {master} refused authentication");
                self.driver.abort();
                self.scheduler
                    .error(&self.driver, "Master refused authentication");
            }
            ClientOutcome::Error(error) => {
                tracing::info!("Failed to authenticate with master {master}: {error}");
                let grown = (min + (max - min) * 2).min(auth.timeout_max);
                self.authenticate(min, grown);
            }
        }
    }

    /// Sends SUBSCRIBE and schedules the next attempt after a random delay
    /// in [0, backoff], doubling the bound each time (capped at a minute and
    /// at a tenth of the failover timeout).
    fn register(&mut self, mut backoff: Duration) {
        if !self.running() || self.connected {
            return;
        }
        if self
            .authentication
            .as_ref()
            .is_some_and(|a| !a.authenticated)
        {
            return;
        }
        let Some(master) = self.master_pid.clone() else {
            return;
        };
        let framework_id = self.frameworks_id();
        let call = Call {
            r#type: Some(call::Type::Subscribe as i32),
            framework_id: framework_id.clone(),
            subscribe: Some(call::Subscribe {
                framework_info: self.framework.clone(),
                force: Some(self.failover),
                suppressed_roles: self.suppressed_roles.clone(),
                offer_constraints: None,
            }),
            ..Default::default()
        };
        tracing::info!(
            "{} framework {} with master {master}",
            if framework_id.is_some() {
                "Re-registering"
            } else {
                "Registering"
            },
            self.framework.name
        );
        self.endpoint.send(&master, &call);
        backoff = backoff.min(REGISTRATION_RETRY_INTERVAL_MAX);
        if let Some(timeout) = self.framework.failover_timeout {
            if timeout.is_finite() && timeout > 0.0 {
                backoff = backoff.min(Duration::from_secs_f64(timeout / 10.0));
            }
        }
        let delay = backoff.mul_f64(random_fraction());
        self.next_registration = Some((Instant::now() + delay, backoff * 2));
    }

    /// Whether a message claiming to come from the master really does.
    fn is_master(&self, from: &Upid) -> bool {
        self.master_pid.as_ref() == Some(from)
    }

    fn handle_message(&mut self, message: Message, arrived: SystemTime) {
        let decoded = match decode(&message) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::warn!("Dropping message from {}: {e}", message.from);
                return;
            }
        };
        if !self.running() {
            tracing::debug!(
                "Ignoring {} because the driver is not running",
                message.name
            );
            return;
        }
        let from = message.from;
        match decoded {
            SchedulerMessage::Registered(m) => {
                if self.connected || !self.is_master(&from) {
                    tracing::info!("Ignoring framework registered message from {from}");
                    return;
                }
                tracing::info!("Framework registered with {}", m.framework_id.value);
                self.framework.id = Some(m.framework_id.clone());
                self.connected = true;
                self.failover = false;
                self.next_registration = None;
                self.scheduler
                    .registered(&self.driver, &m.framework_id, &m.master_info);
            }
            SchedulerMessage::Reregistered(m) => {
                if self.connected || !self.is_master(&from) {
                    tracing::info!("Ignoring framework re-registered message from {from}");
                    return;
                }
                tracing::info!("Framework re-registered with {}", m.framework_id.value);
                self.framework.id = Some(m.framework_id.clone());
                self.connected = true;
                self.failover = false;
                self.next_registration = None;
                self.scheduler.reregistered(&self.driver, &m.master_info);
            }
            SchedulerMessage::Offers(m) => {
                if !self.connected || !self.is_master(&from) {
                    return;
                }
                for (i, offer) in m.offers.iter().enumerate() {
                    let pid = m.pids.get(i).and_then(|p| p.parse::<Upid>().ok());
                    if let Some(pid) = pid {
                        self.saved_offers
                            .entry(offer.id.value.clone())
                            .or_default()
                            .insert(offer.slave_id.value.clone(), pid);
                    }
                }
                // For the callback latency benchmark: when the offers reached
                // this driver, in microseconds since the epoch.
                tracing::debug!(
                    target: "mesos_driver::latency",
                    arrived_us = arrived
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_micros())
                        .unwrap_or(0),
                    "offers"
                );
                self.scheduler.resource_offers(&self.driver, &m.offers);
            }
            SchedulerMessage::Rescind(m) => {
                if !self.connected || !self.is_master(&from) {
                    return;
                }
                self.saved_offers.remove(&m.offer_id.value);
                self.scheduler.offer_rescinded(&self.driver, &m.offer_id);
            }
            SchedulerMessage::StatusUpdate(m) => {
                if !self.connected || !self.is_master(&from) {
                    return;
                }
                self.status_update(m.update);
            }
            SchedulerMessage::LostSlave(m) => {
                if !self.connected || !self.is_master(&from) {
                    return;
                }
                self.saved_slave_pids.remove(&m.slave_id.value);
                self.scheduler.slave_lost(&self.driver, &m.slave_id);
            }
            SchedulerMessage::ExitedExecutor(m) => {
                if !self.connected || !self.is_master(&from) {
                    return;
                }
                self.scheduler
                    .executor_lost(&self.driver, &m.executor_id, &m.slave_id, m.status);
            }
            SchedulerMessage::FrameworkMessage(m) => {
                // Sent straight from the agent, so there is no sender check.
                self.scheduler.framework_message(
                    &self.driver,
                    &m.executor_id,
                    &m.slave_id,
                    &m.data,
                );
            }
            SchedulerMessage::Error(m) => {
                if !self.is_master(&from) {
                    return;
                }
                self.driver.abort();
                self.scheduler.error(&self.driver, &m.message);
            }
        }
    }

    /// Delivers an update, then (implicit acknowledgements) acknowledges it
    /// if it carried a uuid; the callback sees the uuid only in that case.
    fn status_update(&mut self, update: v0::internal::StatusUpdate) {
        let mut status = update.status.clone();
        match update.uuid.as_ref().filter(|u| !u.is_empty()) {
            Some(uuid) => status.uuid = Some(uuid.clone()),
            None => status.uuid = None,
        }
        if status.slave_id.is_none() {
            status.slave_id = update.slave_id.clone();
        }
        self.scheduler.status_update(&self.driver, &status);
        if self.implicit_acknowledgements && self.running() {
            self.acknowledge(&status);
        }
    }

    fn acknowledge(&self, status: &TaskStatus) {
        let (Some(uuid), Some(slave_id), Some(master)) =
            (&status.uuid, &status.slave_id, &self.master_pid)
        else {
            return;
        };
        if !self.connected {
            return;
        }
        let call = Call {
            r#type: Some(call::Type::Acknowledge as i32),
            framework_id: self.frameworks_id(),
            acknowledge: Some(call::Acknowledge {
                slave_id: slave_id.clone(),
                task_id: status.task_id.clone(),
                uuid: uuid.clone(),
            }),
            ..Default::default()
        };
        self.endpoint.send(master, &call);
    }

    fn send_call(&self, mut call: Call) {
        if let Some(master) = &self.master_pid {
            call.framework_id = self.frameworks_id();
            self.endpoint.send(master, &call);
        }
    }

    /// Handles a command; `false` ends the actor.
    fn handle_command(&mut self, command: Command) -> bool {
        match command {
            Command::Stop { failover, sent } => {
                if self.connected && !failover {
                    if let Some(master) = self.master_pid.clone() {
                        let call = Call {
                            r#type: Some(call::Type::Teardown as i32),
                            framework_id: self.frameworks_id(),
                            ..Default::default()
                        };
                        self.endpoint.send_final(&master, &call);
                    }
                }
                let _ = sent.try_send(());
                return false;
            }
            Command::Terminate => return false,
            Command::Abort => {
                if self.connected {
                    if let (Some(master), Some(id)) =
                        (self.master_pid.clone(), self.frameworks_id())
                    {
                        self.endpoint
                            .send(&master, &DeactivateFrameworkMessage { framework_id: id });
                    }
                }
            }
            _ if !self.connected => self.while_disconnected(command),
            Command::Kill(task_id) => self.send_call(Call {
                r#type: Some(call::Type::Kill as i32),
                kill: Some(call::Kill {
                    task_id,
                    slave_id: None,
                    kill_policy: None,
                }),
                ..Default::default()
            }),
            Command::Accept {
                offer_ids,
                operations,
                filters,
            } => {
                if operations.iter().any(|o| o.id.is_some()) {
                    tracing::error!(
                        "Dropping ACCEPT: operation ids are not supported by the v0 driver"
                    );
                    return true;
                }
                for offer_id in &offer_ids {
                    if let Some(agents) = self.saved_offers.remove(&offer_id.value) {
                        let launches = operations
                            .iter()
                            .any(|o| o.launch.as_ref().is_some_and(|l| !l.task_infos.is_empty()));
                        if launches {
                            self.saved_slave_pids.extend(agents);
                        }
                    }
                }
                self.send_call(Call {
                    r#type: Some(call::Type::Accept as i32),
                    accept: Some(call::Accept {
                        offer_ids,
                        operations,
                        filters: Some(filters),
                    }),
                    ..Default::default()
                });
            }
            Command::Decline(offer_id, filters) => {
                self.saved_offers.remove(&offer_id.value);
                self.send_call(Call {
                    r#type: Some(call::Type::Decline as i32),
                    decline: Some(call::Decline {
                        offer_ids: vec![offer_id],
                        filters: Some(filters),
                    }),
                    ..Default::default()
                });
            }
            Command::Revive(roles) => self.send_call(Call {
                r#type: Some(call::Type::Revive as i32),
                revive: Some(call::Revive { roles }),
                ..Default::default()
            }),
            Command::Suppress(roles) => self.send_call(Call {
                r#type: Some(call::Type::Suppress as i32),
                suppress: Some(call::Suppress { roles }),
                ..Default::default()
            }),
            Command::Acknowledge(status) => {
                if status.uuid.is_none() {
                    tracing::warn!(
                        "Not acknowledging the update of task {}: it carries no uuid",
                        status.task_id.value
                    );
                } else {
                    self.acknowledge(&status);
                }
            }
            Command::Message(executor_id, slave_id, data) => {
                match (
                    self.saved_slave_pids.get(&slave_id.value),
                    self.frameworks_id(),
                ) {
                    (Some(pid), Some(framework_id)) => {
                        let message = FrameworkToExecutorMessage {
                            slave_id,
                            framework_id,
                            executor_id,
                            data,
                        };
                        self.endpoint.send(&pid.clone(), &message);
                    }
                    _ => self.send_call(Call {
                        r#type: Some(call::Type::Message as i32),
                        message: Some(call::Message {
                            slave_id,
                            executor_id,
                            data,
                        }),
                        ..Default::default()
                    }),
                }
            }
            Command::Reconcile(statuses) => self.send_call(Call {
                r#type: Some(call::Type::Reconcile as i32),
                reconcile: Some(call::Reconcile {
                    tasks: statuses
                        .into_iter()
                        .map(|s| call::reconcile::Task {
                            task_id: s.task_id,
                            slave_id: s.slave_id,
                        })
                        .collect(),
                }),
                ..Default::default()
            }),
            Command::Request(requests) => self.send_call(Call {
                r#type: Some(call::Type::Request as i32),
                request: Some(call::Request { requests }),
                ..Default::default()
            }),
            Command::UpdateFramework(info, suppressed_roles) => {
                let mut info = *info;
                if info.id.is_none() {
                    info.id = self.frameworks_id();
                }
                self.framework = info.clone();
                self.suppressed_roles = suppressed_roles.clone();
                self.send_call(Call {
                    r#type: Some(call::Type::UpdateFramework as i32),
                    update_framework: Some(call::UpdateFramework {
                        framework_info: info,
                        suppressed_roles,
                        offer_constraints: None,
                    }),
                    ..Default::default()
                });
            }
        }
        true
    }

    /// Calls made while disconnected are dropped, except launches: every
    /// task in them is reported lost (dropped for partition-aware
    /// frameworks) at once, as upstream's driver does.
    fn while_disconnected(&mut self, command: Command) {
        let Command::Accept { operations, .. } = command else {
            tracing::info!("Ignoring a call while disconnected from the master");
            return;
        };
        let partition_aware = self
            .framework
            .capabilities
            .iter()
            .any(|c| c.r#type == Some(framework_info::capability::Type::PartitionAware as i32));
        let state = if partition_aware {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        let Some(framework_id) = self.frameworks_id() else {
            return;
        };
        for operation in operations {
            let Some(launch) = operation.launch else {
                continue;
            };
            for task in launch.task_infos {
                let status = TaskStatus {
                    task_id: task.task_id,
                    state: state as i32,
                    source: Some(task_status::Source::Master as i32),
                    reason: Some(task_status::Reason::MasterDisconnected as i32),
                    message: Some("Master disconnected".to_string()),
                    slave_id: Some(task.slave_id.clone()),
                    timestamp: Some(now_secs()),
                    ..Default::default()
                };
                let update = v0::internal::StatusUpdate {
                    framework_id: framework_id.clone(),
                    executor_id: None,
                    slave_id: Some(task.slave_id),
                    status,
                    timestamp: now_secs(),
                    uuid: None,
                    latest_state: None,
                };
                self.status_update(update);
            }
        }
    }
}
