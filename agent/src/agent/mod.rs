//! The agent actor: ONE task owns all agent state (the master, registration,
//! frameworks, executors, tasks, the status update manager, the
//! containerizer) and is fed by channels: libprocess messages, `exited`
//! events, container events, status-update retry timers, and [`Input`]s from
//! the HTTP handlers and its own timers.
//!
//! This module holds the actor, its inputs, message dispatch and the
//! master-facing protocol (detection, registration, pings); the task path
//! lives in `tasks.rs`, executor lifecycle and the executor API in
//! `executors.rs`, who may send which message in `trust.rs` (checked before
//! any message is acted on), and the read-only views (`/state`, metrics) in
//! `views.rs`. Nothing here blocks: slow work (fetching, DNS, processes)
//! runs in spawned tasks that report back as inputs.

mod authentication;
mod drain;
pub mod executor_info;
mod executor_token;
mod executors;
mod operator_views;
mod recover;
pub mod resources;
pub mod state;
mod tasks;
mod trust;
pub mod views;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use libprocess::{Message, Transport, Upid};
use mesos_proto::ids::{ContainerId, ExecutorId, FrameworkId};
use mesos_proto::mesos::internal as msgs;
use mesos_proto::mesos::v1::agent::response as agent_api;
use mesos_proto::mesos::v1::executor::{Call as ExecutorCall, Event as ExecutorEvent};
use mesos_proto::mesos::SlaveInfo;
use mesos_proto::resources::Resources;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::Checkpointer;
use crate::containerizer::{ContainerEvent, Containerizer};
use crate::files::Files;
use crate::flags::Flags;
use crate::registration::{
    self, MasterSource, DEFAULT_MASTER_PING_TIMEOUT, REGISTER_RETRY_INTERVAL_MAX,
};
use crate::status_update_manager::{RetryTimer, StatusUpdateManager};

pub use authentication::{credential, Authenticatee};
pub use executor_token::{secret_key as executor_secret_key, ExecutorPrincipal};
pub use state::{ExecutorState, FrameworkState};

/// The agent's libprocess process id (`ID::generate("slave")`).
pub const AGENT_ID: &str = "slave(1)";

/// Where outbound libprocess messages go; the transport in production, a
/// recorder in tests.
pub trait Outbox: Send + Sync + 'static {
    fn send(&self, to: &Upid, name: &str, body: Bytes);
    fn link(&self, to: &Upid);
}

/// [`Outbox`] over a libprocess [`Transport`], sending as the agent.
pub struct TransportOutbox {
    pub transport: Transport,
    pub from: Upid,
}

impl Outbox for TransportOutbox {
    fn send(&self, to: &Upid, name: &str, body: Bytes) {
        self.transport.send(&self.from, to, name, body);
    }
    fn link(&self, to: &Upid) {
        self.transport.link(to);
    }
}

/// Why the actor refused an executor API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The call names a framework or executor this agent does not know.
    Invalid(String),
    /// The executor has not subscribed yet.
    Forbidden(String),
    /// A call type this agent does not know.
    NotImplemented,
}

/// The answer to an executor API call.
#[derive(Debug)]
pub enum CallReply {
    Accepted,
    /// SUBSCRIBE succeeded: the executor's events, in order.
    Stream(ExecutorStream),
    Error(CallError),
}

/// A subscribed executor's events. The stream ends when the actor drops the
/// connection; dropping it (the client went away) tells the actor, through
/// [`StreamClosed`].
#[derive(Debug)]
pub struct ExecutorStream {
    pub events: mpsc::UnboundedReceiver<ExecutorEvent>,
    pub closed: StreamClosed,
}

/// Sends [`Input::ExecutorStreamClosed`] for its connection when dropped.
#[derive(Debug)]
pub struct StreamClosed {
    inbox: mpsc::UnboundedSender<Input>,
    framework_id: FrameworkId,
    executor_id: ExecutorId,
    connection_id: u64,
}

impl StreamClosed {
    pub fn new(
        inbox: mpsc::UnboundedSender<Input>,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        connection_id: u64,
    ) -> StreamClosed {
        StreamClosed {
            inbox,
            framework_id: framework_id.clone(),
            executor_id: executor_id.clone(),
            connection_id,
        }
    }
}

impl Drop for StreamClosed {
    fn drop(&mut self) {
        // The actor is gone at shutdown; nothing to tell then.
        let _ = self.inbox.send(Input::ExecutorStreamClosed {
            framework_id: std::mem::take(&mut self.framework_id),
            executor_id: std::mem::take(&mut self.executor_id),
            connection_id: self.connection_id,
        });
    }
}

/// Read-only questions from the HTTP endpoints.
#[derive(Debug)]
pub enum Query {
    /// The legacy `/state` object.
    State(oneshot::Sender<serde_json::Value>),
    /// The `slave/*` metrics.
    Metrics(oneshot::Sender<BTreeMap<String, f64>>),
    /// The running executors, for `/monitor/statistics` and `/containers`.
    Containers(oneshot::Sender<Vec<views::ContainerEntry>>),
    /// Whether recovered executors are still reconnecting (upstream's
    /// `RECOVERING` state, in which the v1 operator calls are refused).
    Recovering(oneshot::Sender<bool>),
    /// The v1 operator views.
    Frameworks(oneshot::Sender<agent_api::GetFrameworks>),
    Executors(oneshot::Sender<agent_api::GetExecutors>),
    Tasks(oneshot::Sender<agent_api::GetTasks>),
    V1State(oneshot::Sender<agent_api::GetState>),
    AgentInfo(oneshot::Sender<agent_api::GetAgent>),
}

/// Everything the actor reacts to, other than the channels it selects on.
#[derive(Debug)]
pub enum Input {
    /// A v1 executor API call (already decoded and validated).
    ExecutorCall {
        call: Box<ExecutorCall>,
        /// Who the request authenticated as, when the executor realm
        /// authenticates (`--authenticate_http_executors`).
        principal: Option<ExecutorPrincipal>,
        reply: oneshot::Sender<CallReply>,
    },
    /// The HTTP stream of a subscribed executor ended.
    ExecutorStreamClosed {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        connection_id: u64,
    },
    Query(Query),
    /// The master address resolved (or failed to).
    MasterDetected(Result<Upid, String>),
    /// The ZooKeeper detector knows no leader any more.
    MasterLost,
    /// Time for a registration attempt.
    RegistrationTimer {
        generation: u64,
        backoff: Duration,
    },
    PingTimeout {
        generation: u64,
    },
    ExecutorRegistrationTimeout {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        container_id: ContainerId,
    },
    ShutdownExecutorTimeout {
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        container_id: ContainerId,
    },
    /// `--executor_reregistration_timeout` after recovery started.
    ReregisterExecutorTimeout,
    /// Start an authentication attempt with a timeout in `[min, max]`.
    Authenticate {
        generation: u64,
        min: Duration,
        max: Duration,
    },
    /// An authentication attempt ended.
    Authenticated {
        generation: u64,
        min: Duration,
        max: Duration,
        outcome: mesos_authentication::ClientOutcome,
    },
    /// Stop: `graceful` shuts executors down and unregisters from the master
    /// (SIGUSR1); otherwise (SIGTERM/SIGINT) the agent just exits and leaves
    /// its executors running, to be recovered at the next start.
    Shutdown {
        graceful: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// No master, or not (re-)registered with it yet.
    Disconnected,
    Running,
    Terminating,
}

impl AgentState {
    fn name(&self) -> &'static str {
        match self {
            AgentState::Disconnected => "DISCONNECTED",
            AgentState::Running => "RUNNING",
            AgentState::Terminating => "TERMINATING",
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub valid_status_updates: u64,
    pub invalid_status_updates: u64,
    pub valid_framework_messages: u64,
    pub invalid_framework_messages: u64,
    pub executors_terminated: u64,
    pub container_launch_errors: u64,
}

/// Fixed facts the actor starts with.
pub struct AgentConfig {
    pub flags: Arc<Flags>,
    pub self_pid: Upid,
    pub info: SlaveInfo,
    pub total_resources: Resources,
    pub master: MasterSource,
    pub launcher_dir: PathBuf,
    /// The JNI/native library advertised to executors, if found.
    pub native_library: Option<PathBuf>,
    /// What the previous run of this agent checkpointed, if anything.
    pub recovered: Option<crate::recovery::RecoveredAgent>,
    /// Set with `--credential`: authenticate before (re-)registering.
    pub authenticatee: Option<Authenticatee>,
    /// `--jwt_secret_key`: executors get tokens signed with it.
    pub executor_secret: Option<mesos_authentication::jwt::SecretKey>,
}

/// The channels the actor reads.
pub struct AgentInputs {
    pub inputs: mpsc::UnboundedReceiver<Input>,
    pub messages: mpsc::UnboundedReceiver<Message>,
    pub exited: mpsc::UnboundedReceiver<Upid>,
    pub containers: mpsc::UnboundedReceiver<ContainerEvent>,
    pub retries: mpsc::UnboundedReceiver<RetryTimer>,
}

pub struct Agent {
    pub(crate) flags: Arc<Flags>,
    pub(crate) self_pid: Upid,
    pub(crate) info: SlaveInfo,
    pub(crate) total_resources: Resources,
    pub(crate) launcher_dir: PathBuf,
    pub(crate) native_library: Option<PathBuf>,
    pub(crate) state: AgentState,
    pub(crate) master_address: MasterSource,
    pub(crate) master: Option<Upid>,
    pub(crate) frameworks: BTreeMap<FrameworkId, state::Framework>,
    pub(crate) completed_frameworks: VecDeque<state::Framework>,
    pub(crate) out: Arc<dyn Outbox>,
    pub(crate) sum: StatusUpdateManager,
    pub(crate) containerizer: Containerizer,
    pub(crate) files: Files,
    /// The actor's own input channel, for timers and spawned work.
    pub(crate) inbox: mpsc::UnboundedSender<Input>,
    pub(crate) registration_generation: u64,
    pub(crate) ping_generation: u64,
    pub(crate) ping_timeout: Duration,
    pub(crate) resource_version: Vec<u8>,
    pub(crate) start_time: f64,
    pub(crate) counters: Counters,
    pub(crate) next_connection_id: u64,
    /// Set when the actor should stop after this input.
    pub(crate) done: bool,
    pub(crate) checkpointer: Checkpointer,
    /// The checkpoint read at start, until `run` recovers from it.
    pub(crate) recovered: Option<crate::recovery::RecoveredAgent>,
    /// Recovered executors are reconnecting; the master is not contacted
    /// until they are back or timed out.
    pub(crate) recovering: bool,
    pub(crate) authenticatee: Option<Authenticatee>,
    pub(crate) executor_secret: Option<mesos_authentication::jwt::SecretKey>,
    /// Messages refused for their sender (see `trust`), logged per sender.
    pub(crate) refusals: libprocess::RefusalLog,
    /// Set while draining (checkpointed in `drain.config`).
    pub(crate) drain_config: Option<mesos_proto::mesos::DrainConfig>,
    /// When this run started draining, seconds since the epoch.
    pub(crate) drain_started: Option<f64>,
}

pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Agent {
    pub fn new(
        config: AgentConfig,
        out: Arc<dyn Outbox>,
        containerizer: Containerizer,
        files: Files,
        inbox: mpsc::UnboundedSender<Input>,
        retries: mpsc::UnboundedSender<RetryTimer>,
    ) -> Agent {
        let checkpointer = Checkpointer::new(config.flags.work_dir().to_path_buf());
        Agent {
            checkpointer,
            recovered: config.recovered,
            recovering: false,
            authenticatee: config.authenticatee,
            executor_secret: config.executor_secret,
            flags: config.flags,
            self_pid: config.self_pid,
            info: config.info,
            total_resources: config.total_resources,
            launcher_dir: config.launcher_dir,
            native_library: config.native_library,
            state: AgentState::Disconnected,
            master_address: config.master,
            master: None,
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            out,
            sum: StatusUpdateManager::new(retries),
            containerizer,
            files,
            inbox,
            registration_generation: 0,
            ping_generation: 0,
            ping_timeout: DEFAULT_MASTER_PING_TIMEOUT,
            resource_version: uuid::Uuid::new_v4().as_bytes().to_vec(),
            start_time: now_secs(),
            counters: Counters::default(),
            next_connection_id: 1,
            done: false,
            refusals: libprocess::RefusalLog::default(),
            drain_config: None,
            drain_started: None,
        }
    }

    /// Runs until shut down.
    pub async fn run(mut self, mut inputs: AgentInputs) {
        tracing::info!("Mesos agent started on {}", self.self_pid);
        if self.self_pid.ip.is_loopback() {
            tracing::warn!(
                "Agent bound to loopback interface! Cannot communicate with remote master(s). \
                 You might want to set '--ip' flag to a routable IP address."
            );
        }
        let recovered = self.recovered.take();
        if !self.recover(recovered).await {
            return;
        }
        if !self.recovering {
            self.detect_master(Duration::ZERO);
        }
        while !self.done {
            tokio::select! {
                Some(input) = inputs.inputs.recv() => self.handle_input(input),
                Some(message) = inputs.messages.recv() => self.handle_message(message),
                Some(pid) = inputs.exited.recv() => self.exited(pid),
                Some(event) = inputs.containers.recv() => self.container_event(event),
                Some(timer) = inputs.retries.recv() => {
                    if let Some(update) = self.sum.on_timer(timer) {
                        self.forward(update);
                    }
                }
                else => break,
            }
        }
        tracing::info!("Agent terminating");
    }

    pub(crate) fn slave_id(&self) -> String {
        self.info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default()
    }

    /// Sends a protobuf message to a libprocess peer.
    pub(crate) fn send<M: prost::Message + prost::Name>(&self, to: &Upid, message: &M) {
        self.out
            .send(to, &M::full_name(), Bytes::from(message.encode_to_vec()));
    }

    /// Sends to the master, if one is known.
    pub(crate) fn send_to_master<M: prost::Message + prost::Name>(&self, message: &M) {
        if let Some(master) = &self.master {
            self.send(master, message);
        }
    }

    /// Runs `input` on this actor after `delay`.
    pub(crate) fn schedule(&self, delay: Duration, input: Input) {
        let inbox = self.inbox.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // The actor is gone at shutdown; the timer no longer matters.
            let _ = inbox.send(input);
        });
    }

    pub(crate) fn handle_input(&mut self, input: Input) {
        match input {
            Input::ExecutorCall {
                call,
                principal,
                reply,
            } => {
                let answer = self.executor_call(*call, principal.as_ref());
                // The client may have hung up; nothing to answer then.
                let _ = reply.send(answer);
            }
            Input::ExecutorStreamClosed {
                framework_id,
                executor_id,
                connection_id,
            } => self.executor_stream_closed(&framework_id, &executor_id, connection_id),
            Input::Query(query) => self.query(query),
            Input::MasterDetected(result) => self.master_detected(result),
            Input::MasterLost => self.master_lost(),
            Input::RegistrationTimer {
                generation,
                backoff,
            } => self.registration_timer(generation, backoff),
            Input::PingTimeout { generation } => {
                if generation == self.ping_generation && self.state == AgentState::Running {
                    tracing::info!(
                        "No pings from master received within {:?}",
                        self.ping_timeout
                    );
                    self.redetect();
                }
            }
            Input::ExecutorRegistrationTimeout {
                framework_id,
                executor_id,
                container_id,
            } => self.executor_registration_timeout(&framework_id, &executor_id, &container_id),
            Input::ShutdownExecutorTimeout {
                framework_id,
                executor_id,
                container_id,
            } => self.shutdown_executor_timeout(&framework_id, &executor_id, &container_id),
            Input::ReregisterExecutorTimeout => self.reregister_executor_timeout(),
            Input::Authenticate {
                generation,
                min,
                max,
            } => self.authenticate(generation, min, max),
            Input::Authenticated {
                generation,
                min,
                max,
                outcome,
            } => self.authenticated(generation, min, max, outcome),
            Input::Shutdown { graceful } => self.shutdown(graceful, None),
        }
    }

    fn handle_message(&mut self, message: Message) {
        let from = message.from.clone();
        if !self.trusts(&from, &message.name) {
            return;
        }
        let body = &message.body[..];
        macro_rules! decode {
            ($t:ty) => {
                match <$t>::decode(body) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!("Dropping malformed {} from {}: {}", message.name, from, e);
                        return;
                    }
                }
            };
        }
        match message.name.as_str() {
            "mesos.internal.SlaveRegisteredMessage" => {
                let m = decode!(msgs::SlaveRegisteredMessage);
                self.registered(&from, m);
            }
            "mesos.internal.SlaveReregisteredMessage" => {
                let m = decode!(msgs::SlaveReregisteredMessage);
                self.reregistered(&from, m);
            }
            "mesos.internal.PingSlaveMessage" => {
                let m = decode!(msgs::PingSlaveMessage);
                self.ping(&from, m.connected);
            }
            "mesos.internal.RunTaskMessage" => {
                let m = decode!(msgs::RunTaskMessage);
                self.run_task(&from, m);
            }
            "mesos.internal.RunTaskGroupMessage" => {
                let m = decode!(msgs::RunTaskGroupMessage);
                self.run_task_group(&from, m);
            }
            "mesos.internal.KillTaskMessage" => {
                let m = decode!(msgs::KillTaskMessage);
                self.kill_task(&from, m);
            }
            "mesos.internal.ShutdownExecutorMessage" => {
                let m = decode!(msgs::ShutdownExecutorMessage);
                self.shutdown_executor_message(&from, m);
            }
            "mesos.internal.ShutdownFrameworkMessage" => {
                let m = decode!(msgs::ShutdownFrameworkMessage);
                self.shutdown_framework(Some(&from), &FrameworkId::from(&m.framework_id));
            }
            "mesos.internal.FrameworkToExecutorMessage" => {
                let m = decode!(msgs::FrameworkToExecutorMessage);
                if !self.trusts_for_framework(&from, &message.name, &m.framework_id.value) {
                    return;
                }
                self.scheduler_message(m);
            }
            "mesos.internal.UpdateFrameworkMessage" => {
                let m = decode!(msgs::UpdateFrameworkMessage);
                self.update_framework(m);
            }
            "mesos.internal.StatusUpdateAcknowledgementMessage" => {
                let m = decode!(msgs::StatusUpdateAcknowledgementMessage);
                self.status_update_acknowledgement(&from, m);
            }
            "mesos.internal.RegisterExecutorMessage" => {
                let m = decode!(msgs::RegisterExecutorMessage);
                self.register_executor(&from, m);
            }
            "mesos.internal.ReregisterExecutorMessage" => {
                let m = decode!(msgs::ReregisterExecutorMessage);
                self.reregister_executor(&from, m);
            }
            "mesos.internal.StatusUpdateMessage" => {
                let m = decode!(msgs::StatusUpdateMessage);
                // The acknowledgement goes to the sender, which must be the
                // executor itself (an update naming another pid is refused).
                if m.pid
                    .as_deref()
                    .is_some_and(|p| p.parse::<Upid>().ok().as_ref() != Some(&from))
                {
                    self.refuse(&from, &message.name, "the update names another sender pid");
                    return;
                }
                let executor_id = m.update.executor_id.as_ref().map(|e| e.value.clone());
                if !self.trusts_executor(
                    &from,
                    &message.name,
                    &m.update.framework_id.value,
                    executor_id.as_deref(),
                    Some(&m.update.status.task_id.value),
                ) {
                    return;
                }
                self.status_update(m.update, tasks::UpdateSource::Executor(from));
            }
            "mesos.internal.ExecutorToFrameworkMessage" => {
                let m = decode!(msgs::ExecutorToFrameworkMessage);
                if !self.trusts_executor(
                    &from,
                    &message.name,
                    &m.framework_id.value,
                    Some(&m.executor_id.value),
                    None,
                ) {
                    return;
                }
                self.executor_message(
                    &FrameworkId::from(&m.framework_id),
                    &ExecutorId::from(&m.executor_id),
                    m.data,
                );
            }
            "mesos.internal.ShutdownMessage" => {
                let m = decode!(msgs::ShutdownMessage);
                if !self.is_master(&from) {
                    tracing::warn!("Ignoring shutdown message from {from}: not the master");
                    return;
                }
                self.shutdown(true, m.message);
            }
            "mesos.internal.CheckpointResourcesMessage" => {
                let m = decode!(msgs::CheckpointResourcesMessage);
                self.checkpoint_resources(&from, m);
            }
            "mesos.internal.DrainSlaveMessage" => {
                let m = decode!(msgs::DrainSlaveMessage);
                self.drain(m);
            }
            "mesos.internal.ApplyOperationMessage"
            | "mesos.internal.ReconcileOperationsMessage"
            | "mesos.internal.AcknowledgeOperationStatusMessage" => {
                tracing::warn!("Ignoring unsupported {} from {}", message.name, from);
            }
            other => tracing::warn!("Dropping unknown message {other} from {from}"),
        }
    }

    // ---------------------------------------------------------------------
    // Master detection and (re-)registration.
    // ---------------------------------------------------------------------

    /// Resolves the master address (after `delay`) in the background.
    fn detect_master(&self, delay: Duration) {
        let address = match &self.master_address {
            MasterSource::Address(address) => address.clone(),
            MasterSource::Detected(leader) => {
                // The detector's changes arrive on their own (see
                // `follow_detected_leader`); here the current leader, if
                // any, is re-announced so registration starts again.
                let current = leader.borrow().as_ref().and_then(registration::master_pid);
                if let Some(pid) = current {
                    let inbox = self.inbox.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = inbox.send(Input::MasterDetected(Ok(pid)));
                    });
                }
                return;
            }
        };
        let inbox = self.inbox.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let result = registration::resolve_master(&address)
                .await
                .map_err(|e| e.to_string());
            let _ = inbox.send(Input::MasterDetected(result));
        });
    }

    /// Forgets the master and detects it again (ping timeout, lost link,
    /// `connected=false`).
    fn redetect(&mut self) {
        if self.state != AgentState::Terminating {
            self.state = AgentState::Disconnected;
        }
        self.sum.pause();
        self.master = None;
        self.registration_generation += 1;
        self.ping_generation += 1;
        self.detect_master(Duration::ZERO);
    }

    fn master_detected(&mut self, result: Result<Upid, String>) {
        // A ZooKeeper detector reports leaders at any time; while recovering,
        // registration must wait (it would announce no tasks), and
        // `finish_recovery` asks for the current leader again.
        if self.state == AgentState::Terminating || self.recovering {
            return;
        }
        match result {
            Err(e) => {
                tracing::error!("Failed to detect the master: {e}; retrying");
                self.detect_master(
                    self.flags
                        .registration_backoff_factor
                        .0
                        .max(Duration::from_secs(1)),
                );
            }
            Ok(master) => {
                tracing::info!("New master detected at {master}");
                self.state = AgentState::Disconnected;
                self.sum.pause();
                self.master = Some(master);
                self.registration_generation += 1;
                let factor = self.flags.registration_backoff_factor.0;
                // A random delay first so that agents do not all register
                // (or authenticate) at once.
                let delay = registration::random_delay(factor);
                if self.start_authentication(delay) {
                    return;
                }
                self.schedule(
                    delay,
                    Input::RegistrationTimer {
                        generation: self.registration_generation,
                        backoff: factor * 2,
                    },
                );
            }
        }
    }

    /// Upstream's `detected(None)`: no leader, so no registration until the
    /// detector names one; messages from the old master are dropped
    /// (`is_master` no longer matches it).
    fn master_lost(&mut self) {
        if self.state == AgentState::Terminating {
            return;
        }
        tracing::info!("Lost leading master; detecting a new one");
        self.state = AgentState::Disconnected;
        self.sum.pause();
        self.master = None;
        self.registration_generation += 1;
        self.ping_generation += 1;
    }

    fn registration_timer(&mut self, generation: u64, backoff: Duration) {
        if generation != self.registration_generation || self.state != AgentState::Disconnected {
            return;
        }
        let Some(master) = self.master.clone() else {
            return;
        };
        self.out.link(&master);
        if self.info.id.is_none() {
            tracing::info!("Registering with master {master}");
            let mut message = registration::register_message(&self.info, &self.resource_version);
            message.checkpointed_resources = self.checkpointed_resources();
            self.send(&master, &message);
        } else {
            tracing::info!("Re-registering with master {master}");
            let message = self.reregister_message();
            self.send(&master, &message);
        }
        let backoff = backoff.min(REGISTER_RETRY_INTERVAL_MAX);
        self.schedule(
            registration::random_delay(backoff),
            Input::RegistrationTimer {
                generation,
                backoff: backoff * 2,
            },
        );
    }

    fn registered(&mut self, from: &Upid, message: msgs::SlaveRegisteredMessage) {
        if !self.is_master(from) {
            tracing::warn!(
                "Ignoring registration message from {from} because it is not the expected master"
            );
            return;
        }
        self.ping_timeout = ping_timeout(message.connection.as_ref());
        match self.state {
            AgentState::Disconnected => {
                tracing::info!(
                    "Registered with master {from}; given agent ID {}",
                    message.slave_id.value
                );
                self.state = AgentState::Running;
                self.registration_generation += 1;
                self.info.id = Some(message.slave_id);
                self.checkpoint_agent();
                for update in self.sum.resume() {
                    self.forward(update);
                }
                self.arm_ping_timer();
            }
            AgentState::Running => {
                if self.info.id.as_ref() != Some(&message.slave_id) {
                    tracing::error!(
                        "Registered but got wrong id: {} (expected: {}); committing suicide",
                        message.slave_id.value,
                        self.slave_id()
                    );
                    std::process::exit(1);
                }
                tracing::warn!("Already registered with master {from}");
            }
            AgentState::Terminating => {
                tracing::warn!("Ignoring registration because agent is terminating")
            }
        }
    }

    fn reregistered(&mut self, from: &Upid, message: msgs::SlaveReregisteredMessage) {
        if !self.is_master(from) {
            tracing::warn!("Ignoring re-registration message from {from} because it is not the expected master");
            return;
        }
        if self.info.id.as_ref() != Some(&message.slave_id) {
            tracing::error!(
                "Re-registered but got wrong id: {} (expected: {}); committing suicide",
                message.slave_id.value,
                self.slave_id()
            );
            std::process::exit(1);
        }
        self.ping_timeout = ping_timeout(message.connection.as_ref());
        match self.state {
            AgentState::Disconnected => {
                tracing::info!("Re-registered with master {from}");
                self.state = AgentState::Running;
                self.registration_generation += 1;
                for update in self.sum.resume() {
                    self.forward(update);
                }
                self.arm_ping_timer();
            }
            AgentState::Running => tracing::warn!("Already re-registered with master {from}"),
            AgentState::Terminating => {
                tracing::warn!("Ignoring re-registration because agent is terminating");
                return;
            }
        }
        for reconcile in message.reconciliations {
            self.reconcile(reconcile);
        }
    }

    fn arm_ping_timer(&mut self) {
        self.ping_generation += 1;
        self.schedule(
            self.ping_timeout,
            Input::PingTimeout {
                generation: self.ping_generation,
            },
        );
    }

    /// Answers every ping (even while not registered, like upstream) with
    /// an empty pong to the sender, which is the master's observer.
    fn ping(&mut self, from: &Upid, connected: bool) {
        if !connected && self.state == AgentState::Running {
            tracing::info!(
                "Master marked the agent as disconnected but the agent considers itself registered! \
                 Forcing re-registration."
            );
            self.redetect();
        }
        self.arm_ping_timer();
        if !from.is_empty() {
            self.send(from, &msgs::PongSlaveMessage {});
        }
    }

    fn exited(&mut self, pid: Upid) {
        tracing::info!("Got exited event for {pid}");
        let is_master = self.master.as_ref() == Some(&pid);
        if is_master && self.state == AgentState::Running {
            tracing::warn!("Master disconnected! Detecting the master again");
            self.redetect();
        }
    }

    fn reregister_message(&self) -> msgs::ReregisterSlaveMessage {
        let mut message = msgs::ReregisterSlaveMessage {
            slave: self.info.clone(),
            version: Some(crate::flags::MESOS_VERSION.to_string()),
            agent_capabilities: registration::agent_capabilities(),
            resource_version_uuid: Some(mesos_proto::mesos::Uuid {
                value: self.resource_version.clone(),
            }),
            checkpointed_resources: self.checkpointed_resources(),
            ..Default::default()
        };
        for framework in self.frameworks.values() {
            message.frameworks.push(framework.info.clone());
            for executor in framework.executors.values() {
                let record = &executor.durable;
                message
                    .tasks
                    .extend(record.launched_tasks.values().cloned());
                message
                    .tasks
                    .extend(record.terminated_tasks.values().cloned());
                for task in &executor.live.queued_tasks {
                    message.tasks.push(state::create_task(
                        task,
                        mesos_proto::mesos::TaskState::TaskStaging,
                        &framework.info,
                    ));
                }
                // The master does not track command executors.
                if !record.generated_for_command_task
                    && executor.state() != ExecutorState::Terminated
                {
                    let mut info = record.info.clone();
                    if info.framework_id.is_none() {
                        info.framework_id = framework.info.id.clone();
                    }
                    message.executor_infos.push(info);
                }
            }
        }
        for framework in &self.completed_frameworks {
            let mut archived = msgs::archive::Framework {
                framework_info: framework.info.clone(),
                pid: framework.pid.as_ref().map(|p| p.to_string()),
                tasks: Vec::new(),
            };
            for executor in &framework.completed_executors {
                archived
                    .tasks
                    .extend(executor.durable.terminated_tasks.values().cloned());
                archived
                    .tasks
                    .extend(executor.durable.completed_tasks.iter().cloned());
            }
            message.completed_frameworks.push(archived);
        }
        message
    }

    /// Stops the agent. Graceful (SIGUSR1, master's `ShutdownMessage`): shut
    /// every framework down and stop once they are gone. Otherwise
    /// (SIGTERM/SIGINT): stop now and leave the executors running; the next
    /// start recovers those of checkpointing frameworks and cleans up the
    /// others (which, like upstream's, exit on their own when they lose the
    /// agent).
    fn shutdown(&mut self, graceful: bool, message: Option<String>) {
        tracing::info!(
            "Agent asked to shut down{}",
            message.map(|m| format!(": {m}")).unwrap_or_default()
        );
        if !graceful {
            tracing::info!("Agent terminating; executors are left running to be recovered");
            self.done = true;
            return;
        }
        if self.state == AgentState::Running {
            if let Some(id) = self.info.id.clone() {
                self.send_to_master(&msgs::UnregisterSlaveMessage { slave_id: id });
            }
        }
        self.state = AgentState::Terminating;
        let ids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
        for id in ids {
            self.shutdown_framework(None, &id);
        }
        if self.frameworks.is_empty() {
            self.done = true;
        }
    }
}

fn ping_timeout(connection: Option<&msgs::MasterSlaveConnection>) -> Duration {
    connection
        .and_then(|c| c.total_ping_timeout_seconds)
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs(s as u64))
        .unwrap_or(DEFAULT_MASTER_PING_TIMEOUT)
}

#[cfg(test)]
mod tests;
