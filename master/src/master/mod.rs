//! The master actor: one tokio task that owns all cluster state —
//! frameworks, agents, tasks, offers — and is the only code that changes it.
//!
//! Everything reaches it as a message: [`Command`]s from HTTP handlers and
//! timers, libprocess [`Message`]s from agents (and observers), and `exited`
//! notices from the transport. Handlers elsewhere never touch state; they
//! send a command and, for calls that answer synchronously, wait on a
//! oneshot. After each batch of work the actor runs a pending allocation
//! and publishes a fresh [`Snapshot`] for readers.
//!
//! Durable changes (admitting, updating, removing agents, marking them
//! unreachable or gone) go through the [`Registrar`]: the actor queues the
//! operation with a [`Continuation`] and carries on; the registrar's answer
//! comes back as a message, and only then does the actor act (reply to the
//! agent, tell frameworks), re-checking its state first because the world
//! may have changed meanwhile (upstream `registerSlave` → `_registerSlave`).
//! A failed write is never acted on: it ends the actor, and with it this
//! master's leadership.
//!
//! The actor serves as leader only after [`MasterHandle::recover`] (called
//! by the leadership code once elected) has recovered the registry; until
//! then it drops agent and scheduler traffic as upstream does.
//!
//! Submodules: [`scheduler`] handles scheduler calls, [`agent`] the agent
//! protocol, [`recovery`] registry recovery and the continuations,
//! [`events`] builds what schedulers receive, [`state`] holds the records,
//! [`validation`] checks input, [`connection`] runs subscription streams.

mod agent;
mod authentication;
pub mod authorization;
pub mod connection;
pub mod drain;
mod driver;
pub mod events;
pub mod framework_metrics;
pub mod inverse_offers;
pub mod maintenance;
pub mod operations;
pub mod quota;
mod recovery;
mod removal;
pub mod requests;
mod scheduler;
mod snapshot;
pub mod state;
pub mod state_events;
pub mod validation;

use crate::allocator as alloc;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libprocess::authentication::Principal;
use libprocess::{Message, Processes, Transport, Upid};
use mesos_proto::ids::{AgentId, FrameworkId, TaskId};
use mesos_proto::is_terminal_state;
use mesos_proto::mesos::internal::{StatusUpdate, StatusUpdateMessage};
use mesos_proto::mesos::v1::scheduler::{call, Call, Event};
use mesos_proto::mesos::v1::{MasterInfo, TaskState, TaskStatus};
use mesos_proto::mesos::{self as v0, task_status};
use mesos_proto::resources::Resources;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::allocator::{Allocator, FrameworkCapabilities, FrameworkSpec};
use crate::flags::Flags;
use crate::registry::{Completion, Registrar, RegistrarOptions, Store};
use crate::snapshot::Snapshot;
use connection::HttpConnection;
use state::{Agent, Connection, Framework, FrameworkState, OfferRecord};

pub use recovery::{
    removal_limit as recovery_removal_limit, Continuation, MarkGoneError, RecoverError,
};
pub use removal::parse_rate_limit as parse_agent_removal_rate_limit;

/// Work for the actor.
#[derive(Debug)]
pub enum Command {
    /// A SUBSCRIBE that passed the HTTP checks; its stream is already open.
    Subscribe {
        subscribe: Box<call::Subscribe>,
        connection: HttpConnection,
    },
    /// Any other scheduler call.
    Call {
        call: Box<Call>,
        /// The `Mesos-Stream-Id` request header, if present.
        stream_id: Option<String>,
        /// Who the request authenticated as (`--authenticate_http_frameworks`);
        /// it must be the framework's principal.
        principal: Option<Principal>,
        reply: oneshot::Sender<CallResult>,
    },
    /// The client side of a subscription stream went away.
    StreamClosed {
        stream_id: String,
    },
    Timer(Timer),
    /// A reader wants a snapshot that includes every change processed so
    /// far (sent only when the published one is stale).
    Snapshot {
        reply: oneshot::Sender<Arc<Snapshot>>,
    },
    /// A reader wants the current metrics only (`/metrics/snapshot`):
    /// answered at the end of the batch like [`Command::Snapshot`], without
    /// building a whole snapshot.
    Metrics {
        reply: oneshot::Sender<BTreeMap<String, f64>>,
    },
    /// Elected: recover the registry, then serve as leader. Answered when
    /// recovery is done (at once if it already is).
    Recover {
        reply: oneshot::Sender<Result<(), RecoverError>>,
    },
    /// The operator's MARK_AGENT_GONE: answered once the registry recorded
    /// the agent as gone and its tasks were transitioned.
    MarkAgentGone {
        agent_id: AgentId,
        reply: oneshot::Sender<Result<(), MarkGoneError>>,
    },
    /// The operator's TEARDOWN of a framework (`/master/teardown` and the
    /// operator API's TEARDOWN).
    Teardown {
        framework_id: String,
        reply: oneshot::Sender<Result<(), requests::TeardownError>>,
    },
    /// An operator's maintenance change; answered once the registry holds
    /// it.
    Maintenance {
        command: maintenance::MaintenanceCommand,
        approval: maintenance::MachineApproval,
        reply: oneshot::Sender<Result<(), maintenance::MaintenanceError>>,
    },
    /// The operator API's SUBSCRIBE.
    OperatorSubscribe {
        reply: oneshot::Sender<Result<state_events::Subscription, state_events::SubscribeError>>,
    },
    /// The allocator's account of why frameworks got no offers.
    AllocatorExplain {
        reply: oneshot::Sender<alloc::Explain>,
    },
    /// UPDATE_QUOTA (and the deprecated SET/REMOVE_QUOTA forms).
    UpdateQuota {
        configs: Vec<mesos_proto::mesos::quota::QuotaConfig>,
        force: bool,
        reply: quota::OperatorReply,
    },
    GetQuota {
        reply: oneshot::Sender<
            Result<Vec<mesos_proto::mesos::quota::QuotaConfig>, quota::OperatorError>,
        >,
    },
    UpdateWeights {
        weights: Vec<v0::WeightInfo>,
        reply: quota::OperatorReply,
    },
    /// RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES,
    /// DESTROY_VOLUMES on an agent's free resources.
    OperatorOperation {
        agent_id: String,
        operation: Box<mesos_proto::mesos::v1::offer::Operation>,
        principal: Option<String>,
        reply: quota::OperatorReply,
    },
    GetWeights {
        reply: oneshot::Sender<Result<Vec<v0::WeightInfo>, quota::OperatorError>>,
    },
    /// A v0 authentication session ended.
    Authentication(authentication::Completed),
    /// DRAIN_AGENT, DEACTIVATE_AGENT, REACTIVATE_AGENT.
    Drain {
        command: drain::DrainCommand,
        reply: drain::DrainReply,
    },
}

/// What a scheduler call did, when it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Queued for processing (asynchronous calls).
    Accepted,
    /// Processed before answering (UPDATE_FRAMEWORK).
    Done,
}

/// Why a scheduler call was refused. The HTTP layer maps each variant to
/// a status code; the driver protocol sends the message as a
/// `FrameworkErrorMessage`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("Framework cannot be found")]
    FrameworkNotFound,
    #[error("Framework is not subscribed")]
    NotSubscribed,
    #[error("Framework is not connected via HTTP")]
    NotConnectedViaHttp,
    #[error("All non-subscribe calls should include the 'Mesos-Stream-Id' header")]
    MissingStreamId,
    #[error(
        "The stream ID '{stream_id}' included in this request didn't match the stream ID \
         currently associated with framework ID {framework_id}"
    )]
    StreamIdMismatch {
        stream_id: String,
        framework_id: String,
    },
    /// The request authenticated as another principal than the
    /// framework's (HTTP 400, as upstream).
    #[error("{}", validation::principal_mismatch(.authenticated, .framework))]
    PrincipalMismatch {
        authenticated: String,
        framework: String,
    },
    #[error("{0}")]
    InvalidCall(String),
    /// The authorizer refused the call (HTTP 403).
    #[error("{0}")]
    Unauthorized(String),
    #[error("Master has not finished recovery")]
    NotRecovered,
    #[error("Unknown call type")]
    UnknownCall,
    #[error("Master is shutting down")]
    ShuttingDown,
}

/// The actor's answer to a scheduler call.
pub type CallResult = Result<CallOutcome, CallError>;

/// Timers the actor sets for itself. Each carries what is needed to tell
/// whether it is still relevant when it fires.
#[derive(Debug, Clone)]
pub enum Timer {
    Allocate,
    OfferTimeout {
        offer_id: String,
    },
    /// `--offer_timeout` for an inverse offer.
    InverseOfferTimeout {
        offer_id: String,
    },
    FailoverTimeout {
        framework_id: String,
        epoch: u64,
    },
    Ping {
        agent_id: AgentId,
        epoch: u64,
    },
    AgentReregisterTimeout {
        agent_id: AgentId,
        epoch: u64,
    },
    /// `--agent_reregister_timeout` after recovery: agents from the
    /// registry that have not come back are marked unreachable.
    RecoveredAgentsTimeout,
    /// The next `--agent_removal_rate_limit` permit is due.
    RemovalPermit,
    /// `--registry_gc_interval` passed: prune old unreachable/gone agents.
    RegistryGc,
}

/// What the actor is built from.
pub struct Config {
    pub flags: Arc<Flags>,
    /// This master's info (id, pid, address, version, capabilities).
    pub info: MasterInfo,
    /// `master@ip:port`, the sender of every message we send.
    pub pid: Upid,
    pub transport: Transport,
    /// To register `slave-observer(N)` processes at run time.
    pub processes: Processes,
    /// The channel messages to `master` arrive on (observers share it).
    pub message_tx: mpsc::UnboundedSender<Message>,
    pub allocator: Box<dyn Allocator>,
    /// Where the registry lives (memory, file, ZooKeeper).
    pub registry: Arc<dyn Store>,
    pub registrar: RegistrarOptions,
    /// `--acls`: what frameworks and agents may do.
    pub authorizer: Arc<mesos_authorizer::Authorizer>,
}

/// A cheap handle to the actor for HTTP handlers.
#[derive(Clone, Debug)]
pub struct MasterHandle {
    commands: mpsc::UnboundedSender<Command>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    /// Set by the actor when its state changed after the last published
    /// snapshot (a plain flag: readers only use it to decide whether to ask
    /// for a fresh one).
    stale: Arc<AtomicBool>,
}

impl MasterHandle {
    /// Hands a subscription to the actor; false if the actor is gone.
    pub fn subscribe(&self, subscribe: call::Subscribe, connection: HttpConnection) -> bool {
        self.commands
            .send(Command::Subscribe {
                subscribe: Box::new(subscribe),
                connection,
            })
            .is_ok()
    }

    /// Subscribes to the operator event stream.
    pub async fn subscribe_operator(
        &self,
    ) -> Result<state_events::Subscription, state_events::SubscribeError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::OperatorSubscribe { reply })
            .map_err(|_| state_events::SubscribeError::ShuttingDown)?;
        answer
            .await
            .map_err(|_| state_events::SubscribeError::ShuttingDown)?
    }

    /// The operator's TEARDOWN: removes the framework and its tasks.
    pub async fn teardown(&self, framework_id: &str) -> Result<(), requests::TeardownError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Teardown {
                framework_id: framework_id.to_string(),
                reply,
            })
            .map_err(|_| requests::TeardownError::ShuttingDown)?;
        answer
            .await
            .map_err(|_| requests::TeardownError::ShuttingDown)?
    }

    /// Applies a reservation, volume, quota, weight, maintenance or
    /// draining request.
    pub async fn apply_operation(
        &self,
        request: requests::OperationRequest,
    ) -> Result<requests::OperationOutcome, requests::OperationError> {
        requests::apply(self, request).await
    }

    /// Runs a non-SUBSCRIBE call, sent by a request that authenticated as
    /// `principal` (if it did).
    pub async fn call(
        &self,
        call: Call,
        stream_id: Option<String>,
        principal: Option<Principal>,
    ) -> CallResult {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Call {
                call: Box::new(call),
                stream_id,
                principal,
                reply,
            })
            .map_err(|_| CallError::ShuttingDown)?;
        answer.await.map_err(|_| CallError::ShuttingDown)?
    }

    /// Recovers the registry and starts serving as leader: the step the
    /// leadership code runs once this master is elected (at start without
    /// ZooKeeper). An error means the master must stop; the actor has
    /// already stopped acting.
    pub async fn recover(&self) -> Result<(), RecoverError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Recover { reply })
            .map_err(|_| RecoverError::Stopped)?;
        answer.await.map_err(|_| RecoverError::Stopped)?
    }

    /// MARK_AGENT_GONE; returns once the registry committed it.
    pub async fn mark_agent_gone(&self, agent_id: &str) -> Result<(), MarkGoneError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::MarkAgentGone {
                agent_id: agent_id.into(),
                reply,
            })
            .map_err(|_| MarkGoneError::Stopped)?;
        answer.await.map_err(|_| MarkGoneError::Stopped)?
    }

    /// Applies a maintenance change for a request that may act on the
    /// machines `approval` approves; returns once the registry holds it.
    pub async fn change_maintenance(
        &self,
        command: maintenance::MaintenanceCommand,
        approval: maintenance::MachineApproval,
    ) -> Result<(), maintenance::MaintenanceError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Maintenance {
                command,
                approval,
                reply,
            })
            .map_err(|_| maintenance::MaintenanceError::Stopped)?;
        answer
            .await
            .map_err(|_| maintenance::MaintenanceError::Stopped)?
    }

    /// Replaces the maintenance schedule (`/maintenance/schedule` POST,
    /// the operator API's UPDATE_MAINTENANCE_SCHEDULE); returns once the
    /// registry holds it.
    pub async fn update_maintenance_schedule(
        &self,
        schedule: mesos_proto::mesos::maintenance::Schedule,
    ) -> Result<(), maintenance::MaintenanceError> {
        self.change_maintenance(
            maintenance::MaintenanceCommand::UpdateSchedule(schedule),
            maintenance::MachineApproval::all(),
        )
        .await
    }

    /// Takes DRAINING machines DOWN (`/machine/down`, START_MAINTENANCE);
    /// their agents are shut down and removed.
    pub async fn start_maintenance(
        &self,
        machines: Vec<mesos_proto::mesos::MachineId>,
    ) -> Result<(), maintenance::MaintenanceError> {
        self.change_maintenance(
            maintenance::MaintenanceCommand::Start(machines),
            maintenance::MachineApproval::all(),
        )
        .await
    }

    /// Brings DOWN machines UP (`/machine/up`, STOP_MAINTENANCE).
    pub async fn stop_maintenance(
        &self,
        machines: Vec<mesos_proto::mesos::MachineId>,
    ) -> Result<(), maintenance::MaintenanceError> {
        self.change_maintenance(
            maintenance::MaintenanceCommand::Stop(machines),
            maintenance::MachineApproval::all(),
        )
        .await
    }

    /// DRAINING and DOWN machines with the frameworks' answers to inverse
    /// offers (`/maintenance/status`, GET_MAINTENANCE_STATUS), including
    /// every change made so far.
    pub async fn maintenance_status(&self) -> mesos_proto::mesos::maintenance::ClusterStatus {
        self.snapshot().await.maintenance_status.clone()
    }

    /// The schedule (`/maintenance/schedule` GET, GET_MAINTENANCE_SCHEDULE).
    pub async fn maintenance_schedule(&self) -> mesos_proto::mesos::maintenance::Schedule {
        self.snapshot().await.maintenance.schedule()
    }

    /// Why frameworks did or did not get offers (`None` if the actor is
    /// gone). The clock is the allocator's, so `filtered_until` compares to
    /// [`allocator_now`].
    pub async fn allocator_explain(&self) -> Option<alloc::Explain> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::AllocatorExplain { reply })
            .ok()?;
        answer.await.ok()
    }

    /// The master's metrics, including every change processed before this
    /// call: computed by the actor at the end of its batch without building
    /// a snapshot (a state reader's rebuild is not this caller's to pay
    /// for), or the published ones if the actor is gone.
    pub async fn metrics(&self) -> BTreeMap<String, f64> {
        let (reply, fresh) = oneshot::channel();
        if self.commands.send(Command::Metrics { reply }).is_ok() {
            if let Ok(metrics) = fresh.await {
                return metrics;
            }
        }
        self.snapshot.borrow().metrics.clone()
    }

    /// The last published snapshot, without waiting for the actor.
    pub fn published(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// UPDATE_QUOTA: each config replaces its role's quota (no guarantees
    /// and no limits removes it). Answers once the registry holds it;
    /// without `force`, guarantees above the cluster's capacity conflict.
    pub async fn update_quota(
        &self,
        configs: Vec<mesos_proto::mesos::quota::QuotaConfig>,
        force: bool,
    ) -> Result<(), quota::OperatorError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::UpdateQuota {
                configs,
                force,
                reply,
            })
            .map_err(|_| quota::OperatorError::Stopped)?;
        answer.await.map_err(|_| quota::OperatorError::Stopped)?
    }

    async fn operator_operation(
        &self,
        agent_id: &str,
        operation: mesos_proto::mesos::v1::offer::Operation,
        principal: Option<String>,
    ) -> Result<(), quota::OperatorError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::OperatorOperation {
                agent_id: agent_id.to_string(),
                operation: Box::new(operation),
                principal,
                reply,
            })
            .map_err(|_| quota::OperatorError::Stopped)?;
        answer.await.map_err(|_| quota::OperatorError::Stopped)?
    }

    /// RESERVE_RESOURCES: dynamically reserves free resources of the agent
    /// (each resource carries its reservation stack, either format).
    pub async fn reserve_resources(
        &self,
        agent_id: &str,
        resources: Vec<mesos_proto::mesos::v1::Resource>,
        principal: Option<String>,
    ) -> Result<(), quota::OperatorError> {
        use mesos_proto::mesos::v1::offer::{operation, Operation};
        let operation = Operation {
            r#type: Some(operation::Type::Reserve as i32),
            reserve: Some(operation::Reserve {
                resources,
                source: Vec::new(),
            }),
            ..Default::default()
        };
        self.operator_operation(agent_id, operation, principal)
            .await
    }

    /// UNRESERVE_RESOURCES.
    pub async fn unreserve_resources(
        &self,
        agent_id: &str,
        resources: Vec<mesos_proto::mesos::v1::Resource>,
        principal: Option<String>,
    ) -> Result<(), quota::OperatorError> {
        use mesos_proto::mesos::v1::offer::{operation, Operation};
        let operation = Operation {
            r#type: Some(operation::Type::Unreserve as i32),
            unreserve: Some(operation::Unreserve { resources }),
            ..Default::default()
        };
        self.operator_operation(agent_id, operation, principal)
            .await
    }

    /// CREATE_VOLUMES.
    pub async fn create_volumes(
        &self,
        agent_id: &str,
        volumes: Vec<mesos_proto::mesos::v1::Resource>,
        principal: Option<String>,
    ) -> Result<(), quota::OperatorError> {
        use mesos_proto::mesos::v1::offer::{operation, Operation};
        let operation = Operation {
            r#type: Some(operation::Type::Create as i32),
            create: Some(operation::Create { volumes }),
            ..Default::default()
        };
        self.operator_operation(agent_id, operation, principal)
            .await
    }

    /// DESTROY_VOLUMES.
    pub async fn destroy_volumes(
        &self,
        agent_id: &str,
        volumes: Vec<mesos_proto::mesos::v1::Resource>,
        principal: Option<String>,
    ) -> Result<(), quota::OperatorError> {
        use mesos_proto::mesos::v1::offer::{operation, Operation};
        let operation = Operation {
            r#type: Some(operation::Type::Destroy as i32),
            destroy: Some(operation::Destroy { volumes }),
            ..Default::default()
        };
        self.operator_operation(agent_id, operation, principal)
            .await
    }

    /// GROW_VOLUME: `addition` (the same kind of disk) joins the volume.
    /// Needs the agent's RESIZE_VOLUME capability.
    pub async fn grow_volume(
        &self,
        agent_id: &str,
        volume: mesos_proto::mesos::v1::Resource,
        addition: mesos_proto::mesos::v1::Resource,
        principal: Option<String>,
    ) -> Result<(), quota::OperatorError> {
        use mesos_proto::mesos::v1::offer::{operation, Operation};
        let operation = Operation {
            r#type: Some(operation::Type::GrowVolume as i32),
            grow_volume: Some(operation::GrowVolume { volume, addition }),
            ..Default::default()
        };
        self.operator_operation(agent_id, operation, principal)
            .await
    }

    /// SHRINK_VOLUME: `subtract` of the volume goes back as plain disk.
    pub async fn shrink_volume(
        &self,
        agent_id: &str,
        volume: mesos_proto::mesos::v1::Resource,
        subtract: f64,
        principal: Option<String>,
    ) -> Result<(), quota::OperatorError> {
        use mesos_proto::mesos::v1::offer::{operation, Operation};
        let operation = Operation {
            r#type: Some(operation::Type::ShrinkVolume as i32),
            shrink_volume: Some(operation::ShrinkVolume {
                volume,
                subtract: mesos_proto::mesos::v1::value::Scalar { value: subtract },
            }),
            ..Default::default()
        };
        self.operator_operation(agent_id, operation, principal)
            .await
    }

    /// GET_QUOTA: every role's quota.
    pub async fn get_quota(
        &self,
    ) -> Result<Vec<mesos_proto::mesos::quota::QuotaConfig>, quota::OperatorError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::GetQuota { reply })
            .map_err(|_| quota::OperatorError::Stopped)?;
        answer.await.map_err(|_| quota::OperatorError::Stopped)?
    }

    /// UPDATE_WEIGHTS: answers once the registry holds the new weights.
    pub async fn update_weights(
        &self,
        weights: Vec<v0::WeightInfo>,
    ) -> Result<(), quota::OperatorError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::UpdateWeights { weights, reply })
            .map_err(|_| quota::OperatorError::Stopped)?;
        answer.await.map_err(|_| quota::OperatorError::Stopped)?
    }

    /// GET_WEIGHTS: the roles whose weight was set.
    pub async fn get_weights(&self) -> Result<Vec<v0::WeightInfo>, quota::OperatorError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::GetWeights { reply })
            .map_err(|_| quota::OperatorError::Stopped)?;
        answer.await.map_err(|_| quota::OperatorError::Stopped)?
    }

    /// What subscription streams call when their client goes away.
    pub fn stream_closed_notifier(&self) -> impl FnOnce(String) + Send + 'static {
        let commands = self.commands.clone();
        move |stream_id| {
            let _ = commands.send(Command::StreamClosed { stream_id });
        }
    }

    /// The master's state, including every change it processed before this
    /// call. Snapshots are built on demand: building one walks every task,
    /// so the actor never pays for it per event, only when someone reads
    /// after a change; an unchanged state is served from the last snapshot
    /// without touching the actor.
    pub async fn snapshot(&self) -> Arc<Snapshot> {
        if self.stale.load(Ordering::Acquire) {
            let (reply, fresh) = oneshot::channel();
            if self.commands.send(Command::Snapshot { reply }).is_ok() {
                if let Ok(snapshot) = fresh.await {
                    return snapshot;
                }
            }
        }
        self.snapshot.borrow().clone()
    }
}

/// Starts the actor. `messages` carries libprocess messages addressed to
/// `master` and the observers; `exited` the transport's exited notices.
pub fn spawn(
    config: Config,
    messages: mpsc::UnboundedReceiver<Message>,
    exited: mpsc::UnboundedReceiver<Upid>,
) -> (MasterHandle, JoinHandle<()>) {
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
    let (completions_tx, completions_rx) = mpsc::unbounded_channel();
    let master = Master::new(config, commands_tx.clone(), snapshot_tx, completions_tx);
    let stale = Arc::clone(&master.stale);
    let task = tokio::spawn(master.run(commands_rx, messages, exited, completions_rx));
    (
        MasterHandle {
            commands: commands_tx,
            snapshot: snapshot_rx,
            stale,
        },
        task,
    )
}

/// Runs `work`, a walk over the whole state (hundreds of milliseconds for a
/// large cluster), without holding up the other tasks queued on this
/// runtime worker: on a multi-threaded runtime they move to another
/// thread meanwhile, so a cheap request never waits behind it. (A
/// current-thread runtime, as in tests, has nowhere to move them.)
fn off_the_workers<T>(work: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// A pong only resets its agent's health check, which no reader sees (a
/// canceled unreachable transition counts, and so marks the change).
fn is_pong(message: &Message) -> bool {
    message.to != "master" && message.name == "mesos.internal.PongSlaveMessage"
}

/// Seconds since the epoch, as upstream's `Clock::now().secs()`.
pub fn now_secs() -> f64 {
    #[cfg(test)]
    {
        test_clock::now_secs()
    }
    #[cfg(not(test))]
    {
        wall_secs()
    }
}

fn wall_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// In unit tests the master's clock follows tokio's, so timestamps and
/// ages (registry GC) move with paused time, as upstream's `Clock::pause`
/// moves `Clock::now()`. Each test runs its runtime on its own thread.
#[cfg(test)]
mod test_clock {
    use std::cell::Cell;

    thread_local! {
        static BASE: Cell<Option<(f64, tokio::time::Instant)>> = const { Cell::new(None) };
    }

    pub fn now_secs() -> f64 {
        BASE.with(|base| {
            let (wall, instant) = base.get().unwrap_or_else(|| {
                let pair = (super::wall_secs(), tokio::time::Instant::now());
                base.set(Some(pair));
                pair
            });
            wall + tokio::time::Instant::now()
                .saturating_duration_since(instant)
                .as_secs_f64()
        })
    }
}

/// The allocator's clock (tokio's, so paused time works in tests).
pub fn allocator_now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Counters shown in `/metrics/snapshot`, all present from the start.
const COUNTERS: &[&str] = &[
    "master/dropped_messages",
    "master/invalid_executor_to_framework_messages",
    "master/invalid_framework_to_executor_messages",
    "master/invalid_operation_status_update_acknowledgements",
    "master/invalid_status_update_acknowledgements",
    "master/invalid_status_updates",
    "master/messages_authenticate",
    "master/messages_decline_offers",
    "master/messages_deactivate_framework",
    "master/messages_executor_to_framework",
    "master/messages_exited_executor",
    "master/messages_framework_to_executor",
    "master/messages_kill_task",
    "master/messages_launch_tasks",
    "master/messages_operation_status_update",
    "master/messages_operation_status_update_acknowledgement",
    "master/messages_reconcile_operations",
    "master/messages_reconcile_tasks",
    "master/messages_register_framework",
    "master/messages_register_slave",
    "master/messages_reregister_framework",
    "master/messages_reregister_slave",
    "master/messages_resource_request",
    "master/messages_revive_offers",
    "master/messages_status_update",
    "master/messages_status_update_acknowledgement",
    "master/messages_suppress_offers",
    "master/messages_unregister_framework",
    "master/messages_unregister_slave",
    "master/messages_update_slave",
    "master/recovery_slave_removals",
    "master/slave_registrations",
    "master/slave_removals",
    "master/slave_removals/reason_registered",
    "master/slave_removals/reason_unhealthy",
    "master/slave_removals/reason_unregistered",
    "master/slave_reregistrations",
    "master/slave_unreachable_canceled",
    "master/slave_unreachable_completed",
    "master/slave_unreachable_scheduled",
    "master/tasks_dropped",
    "master/tasks_error",
    "master/tasks_failed",
    "master/tasks_finished",
    "master/tasks_gone",
    "master/tasks_gone_by_operator",
    "master/tasks_killed",
    "master/tasks_lost",
    "master/valid_executor_to_framework_messages",
    "master/valid_framework_to_executor_messages",
    "master/valid_operation_status_update_acknowledgements",
    "master/valid_status_update_acknowledgements",
    "master/valid_status_updates",
    "allocator/mesos/allocation_runs",
];

/// Timers shown in `/metrics/snapshot` (with upstream's statistics).
pub const TIMERS: &[&str] = &[
    "allocator/mesos/allocation_run_ms",
    "allocator/mesos/allocation_run_latency_ms",
    "registrar/state_fetch_ms",
    "registrar/state_store_ms",
];

/// What `/metrics/prometheus` needs to know about the master's metrics.
pub const METRIC_TABLES: libprocess::metrics::Tables = libprocess::metrics::Tables {
    counters: COUNTERS,
    timers: TIMERS,
    help: METRIC_HELP,
};

/// Descriptions of the best-known metrics (upstream `docs/monitoring.md`).
const METRIC_HELP: &[(&str, &str)] = &[
    ("master/elected", "Whether this is the elected master"),
    ("master/uptime_secs", "Uptime in seconds"),
    ("master/slaves_active", "Number of active agents"),
    ("master/slaves_connected", "Number of connected agents"),
    (
        "master/slaves_disconnected",
        "Number of disconnected agents",
    ),
    ("master/slaves_inactive", "Number of inactive agents"),
    ("master/slaves_unreachable", "Number of unreachable agents"),
    ("master/frameworks_active", "Number of active frameworks"),
    (
        "master/frameworks_connected",
        "Number of connected frameworks",
    ),
    (
        "master/frameworks_disconnected",
        "Number of disconnected frameworks",
    ),
    (
        "master/frameworks_inactive",
        "Number of inactive frameworks",
    ),
    (
        "master/outstanding_offers",
        "Number of outstanding resource offers",
    ),
    ("master/tasks_staging", "Number of staging tasks"),
    ("master/tasks_starting", "Number of starting tasks"),
    ("master/tasks_running", "Number of running tasks"),
    ("master/tasks_killing", "Number of tasks being killed"),
    ("master/tasks_unreachable", "Number of unreachable tasks"),
    ("master/tasks_finished", "Number of finished tasks"),
    ("master/tasks_failed", "Number of failed tasks"),
    ("master/tasks_killed", "Number of killed tasks"),
    ("master/tasks_lost", "Number of lost tasks"),
    ("master/tasks_error", "Number of tasks that were invalid"),
    ("master/tasks_dropped", "Number of dropped tasks"),
    ("master/tasks_gone", "Number of gone tasks"),
    (
        "master/tasks_gone_by_operator",
        "Number of tasks marked gone by an operator",
    ),
    ("master/dropped_messages", "Number of dropped messages"),
    (
        "master/event_queue_messages",
        "Number of messages in the event queue",
    ),
    (
        "master/event_queue_dispatches",
        "Number of dispatches in the event queue",
    ),
    (
        "master/event_queue_http_requests",
        "Number of HTTP requests in the event queue",
    ),
    ("master/cpus_total", "Number of CPUs"),
    ("master/cpus_used", "Number of allocated CPUs"),
    ("master/cpus_percent", "Fraction of allocated CPUs"),
    ("master/mem_total", "Total memory in MB"),
    ("master/mem_used", "Allocated memory in MB"),
    ("master/mem_percent", "Fraction of allocated memory"),
    ("master/disk_total", "Disk space in MB"),
    ("master/disk_used", "Allocated disk space in MB"),
    ("master/disk_percent", "Fraction of allocated disk space"),
    ("master/gpus_total", "Number of GPUs"),
    ("master/gpus_used", "Number of allocated GPUs"),
    ("master/gpus_percent", "Fraction of allocated GPUs"),
    (
        "master/slave_registrations",
        "Number of agents that were able to cleanly re-join the cluster",
    ),
    ("master/slave_removals", "Number of agents removed"),
    (
        "master/recovery_slave_removals",
        "Number of agents not reregistered during master failover",
    ),
    (
        "allocator/event_queue_dispatches",
        "Number of dispatch events in the allocator's event queue",
    ),
    (
        "allocator/mesos/allocation_runs",
        "Number of times the allocation algorithm has run",
    ),
    (
        "allocator/mesos/allocation_run_ms",
        "Time spent in the allocation algorithm in ms",
    ),
    (
        "allocator/mesos/allocation_run_latency_ms",
        "Allocation batch latency in ms",
    ),
    ("registrar/queued_operations", "Number of queued operations"),
    ("registrar/registry_size_bytes", "Registry size in bytes"),
    ("registrar/state_fetch_ms", "Registry read latency in ms"),
    ("registrar/state_store_ms", "Registry write latency in ms"),
];

/// The actor's state. See the module documentation.
pub struct Master {
    flags: Arc<Flags>,
    authorizer: Arc<mesos_authorizer::Authorizer>,
    info: MasterInfo,
    pid: Upid,
    transport: Transport,
    processes: Processes,
    message_tx: mpsc::UnboundedSender<Message>,
    commands_tx: mpsc::UnboundedSender<Command>,
    allocator: Box<dyn Allocator>,
    registrar: Registrar<Continuation>,
    /// Where recovery stands; traffic is dropped until it is done.
    recovery: recovery::Recovery,
    /// Set when the actor must stop acting (a failed registry write, the
    /// recovery removal limit): nothing is handled after it.
    aborted: Option<String>,
    /// Registry transitions in flight (upstream `slaves.registering`,
    /// `reregistering`, `markingUnreachable`, `markingGone`, `removing`):
    /// each blocks conflicting transitions of the same agent.
    registering: BTreeSet<Upid>,
    reregistering: BTreeSet<AgentId>,
    marking_unreachable: BTreeSet<AgentId>,
    marking_gone: BTreeSet<AgentId>,
    removing: BTreeSet<AgentId>,
    /// `--agent_removal_rate_limit`, when set.
    removal_limiter: Option<removal::RemovalLimiter>,
    role_whitelist: Option<Vec<String>>,

    frameworks: BTreeMap<FrameworkId, Framework>,
    completed_frameworks: VecDeque<Framework>,
    agents: BTreeMap<AgentId, Agent>,
    /// Agent id by pid and by observer process id, so a message or an
    /// exited notice finds its agent without a scan of every agent.
    agent_pids: HashMap<Upid, AgentId>,
    agent_observers: HashMap<String, AgentId>,
    /// Agents' messages refused for their sender, logged per sender.
    refusals: libprocess::RefusalLog,
    /// Agents in the registry that have not re-registered since we started.
    recovered_agents: BTreeMap<AgentId, state::RecoveredAgent>,
    unreachable_agents: BTreeMap<AgentId, v0::TimeInfo>,
    gone_agents: BTreeMap<AgentId, v0::TimeInfo>,
    /// Agents removed while this master ran (upstream `slaves.removed`).
    removed_agents: BTreeSet<AgentId>,
    /// The maintenance schedule and machine modes, as committed.
    maintenance: maintenance::MaintenanceState,
    /// Agents' unavailability, outstanding inverse offers and answers.
    inverse_offers: inverse_offers::InverseOfferState,
    /// Deactivated and draining agents, as committed.
    drain: drain::DrainState,
    /// Tasks of unreachable agents: agent id → framework id → task ids.
    unreachable_tasks: BTreeMap<AgentId, BTreeMap<FrameworkId, Vec<TaskId>>>,
    offers: BTreeMap<String, OfferRecord>,

    next_framework_id: u64,
    next_offer_id: u64,
    next_agent_id: u64,
    next_observer_id: u64,
    next_epoch: u64,
    counters: BTreeMap<&'static str, u64>,
    start_time: f64,
    /// When this master was last elected (upstream `electedTime`): set when
    /// the leadership code asks it to recover, so before recovery finishes;
    /// `None` on a master that was never elected.
    elected_time: Option<f64>,
    allocation_requested: bool,
    /// When the oldest unserved allocation request was made.
    allocation_requested_at: Option<std::time::Instant>,
    allocation_run: libprocess::metrics::Timer,
    allocation_latency: libprocess::metrics::Timer,
    /// Queue lengths at the end of the last batch: libprocess messages and
    /// exited notices, registrar completions, commands (HTTP calls, timers).
    event_queue: [usize; 3],
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    /// Shared with every [`MasterHandle`]: the published snapshot is stale.
    /// Set before a change is made (see [`Master::mark_changed`]), cleared
    /// only once a snapshot with every change is published.
    stale: Arc<AtomicBool>,
    snapshot_waiters: Vec<oneshot::Sender<Arc<Snapshot>>>,
    metrics_waiters: Vec<oneshot::Sender<BTreeMap<String, f64>>>,
    /// The generation of the last published snapshot.
    generation: u64,
    /// Operator API event streams.
    subscribers: state_events::Subscribers,
    /// Role → quota, as the registry holds it.
    quotas: BTreeMap<String, mesos_proto::mesos::quota::QuotaConfig>,
    /// Role → weight, for roles whose weight was set.
    weights: BTreeMap<String, f64>,
    /// v0 (CRAM-MD5) authentication of framework and agent pids.
    authentication: authentication::V0Authentication,
}

impl Master {
    fn new(
        config: Config,
        commands_tx: mpsc::UnboundedSender<Command>,
        snapshot_tx: watch::Sender<Arc<Snapshot>>,
        completions_tx: mpsc::UnboundedSender<Completion<Continuation>>,
    ) -> Master {
        let now = now_secs();
        let (registrar, _) = Registrar::spawn(config.registry, config.registrar, completions_tx);
        // Validated with the flags, so a parse failure cannot happen here.
        let removal_limiter = config
            .flags
            .agent_removal_rate_limit
            .as_deref()
            .and_then(|text| removal::parse_rate_limit(text).ok())
            .map(removal::RemovalLimiter::new);
        let authentication = authentication::V0Authentication::new(
            &config.flags,
            config.transport.clone(),
            config.processes.clone(),
            &config.pid,
            config.info.hostname.clone().unwrap_or_default(),
        );
        Master {
            authentication,
            role_whitelist: config.flags.role_whitelist(),
            flags: config.flags,
            authorizer: config.authorizer,
            info: config.info,
            pid: config.pid,
            transport: config.transport,
            processes: config.processes,
            message_tx: config.message_tx,
            commands_tx,
            allocator: config.allocator,
            registrar,
            recovery: recovery::Recovery::default(),
            aborted: None,
            registering: BTreeSet::new(),
            reregistering: BTreeSet::new(),
            marking_unreachable: BTreeSet::new(),
            marking_gone: BTreeSet::new(),
            removing: BTreeSet::new(),
            removal_limiter,
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            agents: BTreeMap::new(),
            agent_pids: HashMap::new(),
            agent_observers: HashMap::new(),
            refusals: libprocess::RefusalLog::default(),
            recovered_agents: BTreeMap::new(),
            unreachable_agents: BTreeMap::new(),
            gone_agents: BTreeMap::new(),
            removed_agents: BTreeSet::new(),
            unreachable_tasks: BTreeMap::new(),
            maintenance: maintenance::MaintenanceState::default(),
            inverse_offers: inverse_offers::InverseOfferState::default(),
            drain: drain::DrainState::default(),
            offers: BTreeMap::new(),
            next_framework_id: 0,
            next_offer_id: 0,
            next_agent_id: 0,
            next_observer_id: 1,
            next_epoch: 1,
            counters: COUNTERS.iter().map(|name| (*name, 0)).collect(),
            start_time: now,
            elected_time: None,
            allocation_requested: false,
            allocation_requested_at: None,
            allocation_run: libprocess::metrics::Timer::new(),
            allocation_latency: libprocess::metrics::Timer::new(),
            event_queue: [0; 3],
            snapshot_tx,
            stale: Arc::new(AtomicBool::new(true)),
            snapshot_waiters: Vec::new(),
            metrics_waiters: Vec::new(),
            generation: 0,
            subscribers: state_events::Subscribers::default(),
            quotas: BTreeMap::new(),
            weights: BTreeMap::new(),
        }
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut messages: mpsc::UnboundedReceiver<Message>,
        mut exited: mpsc::UnboundedReceiver<Upid>,
        mut completions: mpsc::UnboundedReceiver<Completion<Continuation>>,
    ) {
        self.start_allocation_ticker();
        self.publish_snapshot();
        info!(
            "Master {} ({}) started on {}",
            self.info.id,
            self.info.hostname.as_deref().unwrap_or(""),
            self.pid
        );
        loop {
            tokio::select! {
                Some(command) = commands.recv() => self.handle_command(command),
                Some(message) = messages.recv() => {
                    if !is_pong(&message) {
                        self.mark_changed();
                    }
                    self.handle_message(message)
                }
                Some(pid) = exited.recv() => {
                    self.mark_changed();
                    self.handle_exited(pid)
                }
                Some(completion) = completions.recv() => self.handle_completion(completion),
                else => break,
            }
            // Finish what is already queued before allocating and
            // publishing, bounded so readers see progress under load.
            for _ in 0..1024 {
                let mut progressed = false;
                if let Ok(command) = commands.try_recv() {
                    self.handle_command(command);
                    progressed = true;
                }
                if let Ok(message) = messages.try_recv() {
                    if !is_pong(&message) {
                        self.mark_changed();
                    }
                    self.handle_message(message);
                    progressed = true;
                }
                if let Ok(pid) = exited.try_recv() {
                    self.mark_changed();
                    self.handle_exited(pid);
                    progressed = true;
                }
                if let Ok(completion) = completions.try_recv() {
                    self.handle_completion(completion);
                    progressed = true;
                }
                if !progressed || self.aborted.is_some() {
                    break;
                }
            }
            if let Some(reason) = &self.aborted {
                error!("Master {} stops leading: {reason}", self.info.id);
                self.recovery.fail(RecoverError::Aborted(reason.clone()));
                break;
            }
            // Changed agents and frameworks (recoveries, revives, new
            // agents) are allocated at the end of the batch that changed
            // them: one cycle for a whole burst, sooner than the interval.
            if self.allocation_requested || self.allocator.has_pending() {
                self.allocation_requested = false;
                self.allocate();
            }
            if !self.snapshot_waiters.is_empty() || !self.metrics_waiters.is_empty() {
                self.event_queue = [
                    messages.len() + exited.len(),
                    completions.len(),
                    commands.len(),
                ];
            }
            if self.snapshot_waiters.is_empty() && !self.metrics_waiters.is_empty() {
                let metrics = off_the_workers(|| self.metrics());
                for reply in self.metrics_waiters.drain(..) {
                    let _ = reply.send(metrics.clone());
                }
            }
            if !self.snapshot_waiters.is_empty() {
                let snapshot = self.publish_snapshot();
                for reply in self.snapshot_waiters.drain(..) {
                    let _ = reply.send(Arc::clone(&snapshot));
                }
                for reply in self.metrics_waiters.drain(..) {
                    let _ = reply.send(snapshot.metrics.clone());
                }
            }
        }
    }

    fn handle_command(&mut self, command: Command) {
        if self.aborted.is_some() {
            return;
        }
        let command = match command {
            Command::Snapshot { reply } => {
                // Answered once the batch is processed, so it includes it.
                self.snapshot_waiters.push(reply);
                return;
            }
            Command::Metrics { reply } => {
                self.metrics_waiters.push(reply);
                return;
            }
            Command::Recover { reply } => {
                self.mark_changed();
                self.start_recovery(reply);
                return;
            }
            // Until recovered, upstream drops all framework traffic.
            Command::Call { reply, .. } if !self.recovery.is_done() => {
                let _ = reply.send(Err(CallError::NotRecovered));
                return;
            }
            Command::Subscribe { .. } if !self.recovery.is_done() => {
                warn!("Dropping SUBSCRIBE: not recovered yet");
                self.count("master/dropped_messages");
                return;
            }
            Command::Teardown { reply, .. } if !self.recovery.is_done() => {
                let _ = reply.send(Err(requests::TeardownError::NotRecovered));
                return;
            }
            Command::OperatorSubscribe { reply } if !self.recovery.is_done() => {
                let _ = reply.send(Err(state_events::SubscribeError::NotRecovered));
                return;
            }
            Command::MarkAgentGone { reply, .. } if !self.recovery.is_done() => {
                let _ = reply.send(Err(MarkGoneError::NotRecovered));
                return;
            }
            Command::Maintenance { reply, .. } if !self.recovery.is_done() => {
                let _ = reply.send(Err(maintenance::MaintenanceError::NotRecovered));
                return;
            }
            Command::UpdateQuota { reply, .. }
            | Command::UpdateWeights { reply, .. }
            | Command::OperatorOperation { reply, .. }
                if !self.recovery.is_done() =>
            {
                let _ = reply.send(Err(quota::OperatorError::NotRecovered));
                return;
            }
            Command::GetQuota { reply } if !self.recovery.is_done() => {
                let _ = reply.send(Err(quota::OperatorError::NotRecovered));
                return;
            }
            Command::Drain { reply, .. } if !self.recovery.is_done() => {
                let _ = reply.send(Err(requests::OperationError::NotRecovered));
                return;
            }
            Command::GetWeights { reply } if !self.recovery.is_done() => {
                let _ = reply.send(Err(quota::OperatorError::NotRecovered));
                return;
            }
            command => command,
        };
        // Health checks change nothing a reader sees unless they escalate,
        // which counts (and so marks the state changed). At 10,000 agents
        // they arrive hundreds of times a second: were they changes, every
        // read would rebuild the snapshot.
        // Allocation ticks likewise: an allocation that makes offers marks
        // the change itself.
        // A new operator subscriber changes only the subscriber gauge,
        // which metrics readers get computed afresh; were it a change, each
        // of many subscribers arriving together would rebuild the snapshot.
        if !matches!(
            command,
            Command::Timer(Timer::Ping { .. } | Timer::Allocate)
                | Command::OperatorSubscribe { .. }
        ) {
            self.mark_changed();
        }
        match command {
            Command::Subscribe {
                subscribe,
                connection,
            } => self.subscribe(*subscribe, connection),
            Command::Call {
                call,
                stream_id,
                principal,
                reply,
            } => {
                let answer = self.handle_call(*call, stream_id, principal.as_ref());
                // The client may have gone; nothing to do then.
                let _ = reply.send(answer);
            }
            Command::StreamClosed { stream_id } => self.stream_closed(&stream_id),
            Command::Timer(timer) => self.handle_timer(timer),
            Command::MarkAgentGone { agent_id, reply } => self.mark_agent_gone(agent_id, reply),
            Command::Snapshot { .. } | Command::Metrics { .. } | Command::Recover { .. } => {}
            Command::OperatorSubscribe { reply } => self.operator_subscribe(reply),
            Command::Teardown {
                framework_id,
                reply,
            } => {
                let answer = if self.frameworks.contains_key(framework_id.as_str()) {
                    info!("Tearing down framework {framework_id} (operator request)");
                    self.remove_framework(&framework_id);
                    Ok(())
                } else {
                    Err(requests::TeardownError::FrameworkNotFound)
                };
                let _ = reply.send(answer);
            }
            Command::AllocatorExplain { reply } => {
                let _ = reply.send(self.allocator.explain(allocator_now()));
            }
            Command::Maintenance {
                command,
                approval,
                reply,
            } => self.maintenance(command, approval, reply),
            Command::UpdateQuota {
                configs,
                force,
                reply,
            } => self.update_quota(configs, force, reply),
            Command::OperatorOperation {
                agent_id,
                operation,
                principal,
                reply,
            } => self.operator_operation(&agent_id, *operation, principal, reply),
            Command::GetQuota { reply } => {
                let _ = reply.send(Ok(self.quota_configs()));
            }
            Command::UpdateWeights { weights, reply } => self.update_weights(weights, reply),
            Command::GetWeights { reply } => {
                let _ = reply.send(Ok(self.weight_infos()));
            }
            Command::Authentication(completed) => self.authentication_completed(completed),
            Command::Drain { command, reply } => self.drain_command(command, reply),
        }
    }

    fn handle_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Allocate => self.request_allocation(),
            Timer::OfferTimeout { offer_id } => {
                if self.offers.contains_key(&offer_id) {
                    info!("Rescinding offer {offer_id} after --offer_timeout");
                    self.rescind_offer(&offer_id, None);
                }
            }
            Timer::InverseOfferTimeout { offer_id } => self.inverse_offer_timeout(&offer_id),
            Timer::FailoverTimeout {
                framework_id,
                epoch,
            } => self.failover_timeout(&framework_id, epoch),
            Timer::Ping { agent_id, epoch } => self.ping_timeout(&agent_id, epoch),
            Timer::AgentReregisterTimeout { agent_id, epoch } => {
                self.agent_reregister_timeout(&agent_id, epoch)
            }
            Timer::RecoveredAgentsTimeout => self.recovered_agents_timeout(),
            Timer::RemovalPermit => self.removal_permit(),
            Timer::RegistryGc => self.registry_gc(),
        }
    }

    // ---- helpers shared by the scheduler and agent halves ------------------

    fn count(&mut self, name: &'static str) {
        *self.counters.entry(name).or_default() += 1;
        // Counters are part of the snapshot.
        self.mark_changed();
    }

    fn next_epoch(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch
    }

    /// Fires `timer` after `delay`.
    fn schedule(&self, delay: Duration, timer: Timer) {
        let commands = self.commands_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = commands.send(Command::Timer(timer));
        });
    }

    fn start_allocation_ticker(&self) {
        let commands = self.commands_tx.clone();
        let interval = self.flags.allocation_interval.to_std();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if commands.send(Command::Timer(Timer::Allocate)).is_err() {
                    break;
                }
            }
        });
    }

    /// Asks for an allocation at the end of this batch (upstream allocates
    /// at once when frameworks or agents are added or revived). The wait
    /// until it runs is `allocator/mesos/allocation_run_latency_ms`.
    fn request_allocation(&mut self) {
        self.allocation_requested = true;
        self.allocation_requested_at
            .get_or_insert_with(std::time::Instant::now);
    }

    fn send<M: prost::Message + prost::Name>(&self, to: &Upid, message: &M) {
        self.transport.send_message(&self.pid, to, message);
    }

    /// Sends an event to a connected framework; silently dropped otherwise
    /// (upstream drops events for disconnected frameworks).
    fn send_event(&mut self, framework_id: &str, event: &Event) {
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        // Counted even when dropped, as upstream's `Framework::send`.
        framework.metrics.event(event);
        let framework = &*framework;
        if !framework.connected() {
            return;
        }
        let driver = match &framework.connection {
            Some(Connection::Http(http)) => {
                if !http.send(event) {
                    debug!("Stream of framework {framework_id} is gone; event dropped");
                }
                None
            }
            Some(Connection::Pid(pid)) => Some(pid.clone()),
            None => None,
        };
        if let Some(pid) = driver {
            self.send_to_driver(&pid, framework_id, event);
        }
    }

    /// `Master::forward`: records the update's uuid on the task (so the
    /// acknowledgement can be matched) and sends UPDATE. `pid` is the agent
    /// for agent updates and empty for master-generated ones (no ack).
    fn forward(&mut self, update: StatusUpdate, pid: &str) {
        let framework_id = update.framework_id.value.clone();
        let mut driver = None;
        if let Some(framework) = self.frameworks.get_mut(framework_id.as_str()) {
            if let Some(task) = framework.tasks.get_mut(&update.status.task_id.value) {
                if let Some(uuid) = update.uuid.clone() {
                    task.status_update_state = Some(update.status.state);
                    task.status_update_uuid = Some(uuid);
                }
            }
            if framework.connected() {
                driver = framework
                    .connection
                    .as_ref()
                    .and_then(Connection::pid)
                    .cloned();
            }
        }
        if let Some(driver) = driver {
            if let Some(framework) = self.frameworks.get_mut(framework_id.as_str()) {
                framework
                    .metrics
                    .event_of(mesos_proto::mesos::v1::scheduler::event::Type::Update);
            }
            self.send_update_to_driver(&driver, update, pid);
            return;
        }
        let event = mesos_proto::convert::evolve_status_update(&StatusUpdateMessage {
            update,
            pid: Some(pid.to_string()),
        });
        self.send_event(&framework_id, &event);
    }

    fn new_framework_id(&mut self) -> String {
        let id = format!("{}-{:04}", self.info.id, self.next_framework_id);
        self.next_framework_id += 1;
        id
    }

    fn new_offer_id(&mut self) -> String {
        let id = format!("{}-O{}", self.info.id, self.next_offer_id);
        self.next_offer_id += 1;
        id
    }

    fn new_agent_id(&mut self) -> AgentId {
        let id = AgentId::from(format!("{}-S{}", self.info.id, self.next_agent_id));
        self.next_agent_id += 1;
        id
    }

    fn is_completed_framework(&self, framework_id: &str) -> bool {
        self.completed_frameworks
            .iter()
            .any(|f| f.id == framework_id)
    }

    fn allocator_spec(framework: &Framework) -> FrameworkSpec {
        let caps = framework.capabilities();
        FrameworkSpec {
            roles: framework.roles().iter().map(alloc::Role::from).collect(),
            capabilities: FrameworkCapabilities {
                gpu_resources: caps.gpu_resources,
                revocable_resources: caps.revocable_resources,
                reservation_refinement: caps.reservation_refinement,
            },
            suppressed_roles: framework
                .suppressed_roles
                .iter()
                .map(alloc::Role::from)
                .collect(),
        }
    }

    // ---- offers -------------------------------------------------------------

    /// One allocation cycle: turn the allocator's decisions into offers.
    /// A cycle cut short by `max_agents_per_cycle` asks for the next chunk
    /// behind whatever is queued, so the mailbox is served in between.
    fn allocate(&mut self) {
        let started = std::time::Instant::now();
        if let Some(requested) = self.allocation_requested_at.take() {
            self.allocation_latency
                .record(started.saturating_duration_since(requested));
        }
        let allocations = self.allocator.allocate(allocator_now());
        self.allocation_run.record(started.elapsed());
        // Not `count`: a cycle that offers nothing changes no state, and
        // readers would otherwise rebuild the snapshot every interval
        // (`/metrics/snapshot` asks the actor, so it still sees the count).
        *self
            .counters
            .entry("allocator/mesos/allocation_runs")
            .or_default() += 1;
        if !allocations.is_empty() {
            self.mark_changed();
        }
        if self.allocator.has_pending() {
            let _ = self.commands_tx.send(Command::Timer(Timer::Allocate));
        }
        let mut by_framework: BTreeMap<FrameworkId, Vec<mesos_proto::mesos::v1::Offer>> =
            BTreeMap::new();
        for allocation in allocations {
            let framework_ok = self
                .frameworks
                .get(allocation.framework_id.as_str())
                .is_some_and(|f| f.connected() && f.active);
            let agent_ok = self
                .agents
                .get(&allocation.agent_id)
                .is_some_and(|a| a.active && a.connected);
            if !framework_ok || !agent_ok {
                self.allocator.recover_resources(
                    &allocation.framework_id,
                    &allocation.agent_id,
                    &allocation.resources,
                    None,
                    allocator_now(),
                );
                continue;
            }
            let offer_id = self.new_offer_id();
            let Some(agent) = self.agents.get_mut(&allocation.agent_id) else {
                continue;
            };
            let executor_ids = agent
                .executors
                .get(allocation.framework_id.as_str())
                .map(|executors| {
                    executors
                        .keys()
                        .map(|id| mesos_proto::mesos::v1::ExecutorId { value: id.clone() })
                        .collect()
                })
                .unwrap_or_default();
            let offer = mesos_proto::mesos::v1::Offer {
                id: mesos_proto::mesos::v1::OfferId {
                    value: offer_id.clone(),
                },
                framework_id: mesos_proto::mesos::v1::FrameworkId {
                    value: allocation.framework_id.to_string(),
                },
                agent_id: mesos_proto::mesos::v1::AgentId {
                    value: agent.id.to_string(),
                },
                hostname: agent.info.hostname.clone(),
                url: Some(mesos_proto::mesos::v1::Url {
                    scheme: "http".to_string(),
                    address: mesos_proto::mesos::v1::Address {
                        hostname: Some(agent.info.hostname.clone()),
                        ip: Some(agent.pid.ip.to_string()),
                        port: i32::from(agent.pid.port),
                    },
                    path: Some(format!("/{}", agent.pid.id)),
                    ..Default::default()
                }),
                domain: agent.info.domain.clone(),
                resources: allocation.resources.to_vec(),
                attributes: agent.info.attributes.clone(),
                executor_ids,
                // Offers of an agent on a DRAINING machine say when it goes.
                unavailability: self
                    .inverse_offers
                    .unavailability(allocation.agent_id.as_str())
                    .map(mesos_proto::convert::evolve),
                allocation_info: Some(mesos_proto::mesos::v1::resource::AllocationInfo {
                    role: Some(allocation.role.to_string()),
                }),
            };
            agent.offers.insert(offer_id.clone());
            if let Some(framework) = self.frameworks.get_mut(allocation.framework_id.as_str()) {
                framework.offers.insert(offer_id.clone());
                by_framework
                    .entry(allocation.framework_id.clone())
                    .or_default()
                    .push(events::offer_for(&offer, framework.capabilities()));
            }
            self.offers.insert(
                offer_id.clone(),
                OfferRecord {
                    offer,
                    resources: allocation.resources,
                },
            );
            if let Some(timeout) = self.flags.offer_timeout {
                self.schedule(timeout.to_std(), Timer::OfferTimeout { offer_id });
            }
        }
        for (framework_id, offers) in by_framework {
            let ids: Vec<&str> = offers.iter().map(|o| o.id.value.as_str()).collect();
            info!(
                "Sending offers [ {} ] to framework {framework_id}",
                ids.join(", ")
            );
            self.send_event(framework_id.as_str(), &events::offers(offers));
        }
        // Upstream makes inverse offers in the same cycle, after offers.
        self.generate_inverse_offers();
    }

    /// Forgets an offer (no message), returning it.
    fn remove_offer(&mut self, offer_id: &str) -> Option<OfferRecord> {
        let record = self.offers.remove(offer_id)?;
        if let Some(framework) = self
            .frameworks
            .get_mut(record.offer.framework_id.value.as_str())
        {
            framework.offers.remove(offer_id);
        }
        if let Some(agent) = self.agents.get_mut(record.offer.agent_id.value.as_str()) {
            agent.offers.remove(offer_id);
        }
        debug!("Removing offer {offer_id}");
        Some(record)
    }

    /// Takes the offer back quietly, giving the resources back to the
    /// allocator (with an optional refusal filter).
    fn discard_offer(&mut self, offer_id: &str, refuse: Option<Duration>) {
        if let Some(record) = self.remove_offer(offer_id) {
            self.allocator.recover_resources(
                &alloc::FrameworkId::from(&record.offer.framework_id.value),
                &alloc::AgentId::from(&record.offer.agent_id.value),
                &record.resources,
                refuse,
                allocator_now(),
            );
        }
    }

    /// Takes the offer back and tells the framework (RESCIND).
    fn rescind_offer(&mut self, offer_id: &str, refuse: Option<Duration>) {
        let Some(framework_id) = self
            .offers
            .get(offer_id)
            .map(|r| r.offer.framework_id.value.clone())
        else {
            return;
        };
        if let Some(framework) = self.frameworks.get_mut(framework_id.as_str()) {
            framework.metrics.offer_rescinded();
        }
        self.send_event(&framework_id, &events::rescind(offer_id));
        self.discard_offer(offer_id, refuse);
    }

    // ---- frameworks ---------------------------------------------------------

    /// Stops offers to the framework and takes back its outstanding offers.
    fn deactivate_framework(&mut self, framework_id: &str, rescind: bool) {
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if !framework.active {
            return;
        }
        info!("Deactivating framework {framework_id}");
        framework.active = false;
        let offers: Vec<String> = framework.offers.iter().cloned().collect();
        self.remove_framework_inverse_offers(framework_id, rescind);
        self.allocator
            .deactivate_framework(&alloc::FrameworkId::from(framework_id));
        for offer_id in offers {
            if rescind {
                self.rescind_offer(&offer_id, None);
            } else {
                self.discard_offer(&offer_id, None);
            }
        }
    }

    /// The framework's connection is gone: deactivate it and start the
    /// failover timer (`Master::_exited`).
    fn framework_disconnected(&mut self, framework_id: &str) {
        info!("Framework {framework_id} disconnected");
        self.deactivate_framework(framework_id, true);
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        framework.state = FrameworkState::Disconnected;
        framework.connection = None;
        let timeout = framework.info.failover_timeout.unwrap_or(0.0);
        let delay = crate::flags::Duration::from_secs_f64(timeout)
            .map(|d| d.to_std())
            .unwrap_or_default();
        let epoch = framework.epoch;
        self.emit_framework(framework_id, false);
        info!(
            "Giving framework {framework_id} {} to failover",
            crate::flags::Duration::from_nanos(delay.as_nanos().min(i64::MAX as u128) as i64)
        );
        self.schedule(
            delay,
            Timer::FailoverTimeout {
                framework_id: framework_id.to_string(),
                epoch,
            },
        );
    }

    fn failover_timeout(&mut self, framework_id: &str, epoch: u64) {
        let expired = self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| !f.connected() && f.epoch == epoch);
        if expired {
            info!("Framework failover timeout, removing framework {framework_id}");
            self.remove_framework(framework_id);
        }
    }

    /// `Master::removeFramework`: kill everything, forget the framework and
    /// keep it among the completed ones.
    fn remove_framework(&mut self, framework_id: &str) {
        if !self.frameworks.contains_key(framework_id) {
            return;
        }
        info!("Removing framework {framework_id}");
        if let Some(pid) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.pid())
            .cloned()
        {
            self.authentication.forget(&pid);
        }
        self.deactivate_framework(framework_id, false);
        let shutdown = mesos_proto::mesos::internal::ShutdownFrameworkMessage {
            framework_id: v0::FrameworkId {
                value: framework_id.to_string(),
            },
        };
        let pids: Vec<Upid> = self
            .agents
            .values()
            .filter(|a| a.connected)
            .map(|a| a.pid.clone())
            .collect();
        for pid in pids {
            self.send(&pid, &shutdown);
        }
        let now = now_secs();
        let task_ids: Vec<(String, String, Option<String>)> = self
            .frameworks
            .get(framework_id)
            .map(|f| {
                f.tasks
                    .values()
                    .map(|t| {
                        (
                            t.task_id.value.clone(),
                            t.agent_id.value.clone(),
                            t.executor_id.as_ref().map(|e| e.value.clone()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let message = format!("Framework {framework_id} removed");
        for (task_id, agent_id, executor_id) in task_ids {
            let update = events::master_update(
                framework_id,
                Some(&agent_id),
                &task_id,
                TaskState::TaskKilled,
                &message,
                task_status::Reason::FrameworkRemoved,
                executor_id.as_deref(),
                now,
            );
            self.update_task(framework_id, &task_id, &update);
            self.remove_task(framework_id, &task_id, false);
        }
        // Unreachable tasks become completed too.
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            let unreachable: Vec<_> = std::mem::take(&mut framework.unreachable_tasks)
                .into_iter()
                .map(|(_, task)| task)
                .collect();
            for mut task in unreachable {
                let task_mut = Arc::make_mut(&mut task);
                task_mut.state = TaskState::TaskKilled as i32;
                let status = mesos_proto::convert::evolve::<_, TaskStatus>(
                    &events::master_update(
                        framework_id,
                        Some(&task_mut.agent_id.value.clone()),
                        &task_mut.task_id.value.clone(),
                        TaskState::TaskKilled,
                        &message,
                        task_status::Reason::FrameworkRemoved,
                        None,
                        now,
                    )
                    .status,
                );
                task_mut.statuses.push(status);
                framework.add_completed_task(task, self.flags.max_completed_tasks_per_framework);
            }
        }
        // Executors: resources go back.
        let executors: Vec<(AgentId, String)> = self
            .agents
            .iter()
            .flat_map(|(agent_id, agent)| {
                agent
                    .executors
                    .get(framework_id)
                    .map(|e| e.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |executor_id| (agent_id.clone(), executor_id))
            })
            .collect();
        for (agent_id, executor_id) in executors {
            self.remove_executor(&agent_id, framework_id, &executor_id);
        }
        self.allocator
            .remove_framework(&alloc::FrameworkId::from(framework_id));
        let Some(mut framework) = self.frameworks.remove(framework_id) else {
            return;
        };
        self.emit(|_| {
            Some(state_events::StateEvent::FrameworkRemoved(Box::new(
                framework.info.clone(),
            )))
        });
        framework.connection = None;
        framework.state = FrameworkState::Disconnected;
        framework.active = false;
        framework.unregistered_time = now;
        if self.flags.max_completed_frameworks > 0 {
            while self.completed_frameworks.len() >= self.flags.max_completed_frameworks {
                self.completed_frameworks.pop_front();
            }
            self.completed_frameworks.push_back(framework);
        }
    }

    // ---- tasks and executors ------------------------------------------------

    /// `Master::updateTask`: applies a status update to the task's record and
    /// gives its resources back when it became terminal or unreachable.
    fn update_task(&mut self, framework_id: &str, task_id: &str, update: &StatusUpdate) {
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(task) = framework.tasks.get_mut(task_id) else {
            return;
        };
        let status: TaskStatus = mesos_proto::convert::evolve(&update.status);
        let new_state = update.latest_state.unwrap_or(update.status.state);
        let gone =
            |state: i32| is_terminal_state(state) || state == TaskState::TaskUnreachable as i32;
        let released = !gone(task.state) && gone(new_state);
        let state_changed = !is_terminal_state(task.state) && task.state != new_state;
        if !is_terminal_state(task.state) {
            task.state = new_state;
        }
        if state_changed {
            framework.metrics.task_state(new_state);
        }
        if task
            .statuses
            .last()
            .is_some_and(|s| s.state == status.state)
        {
            task.statuses.pop();
        }
        let mut kept = status.clone();
        // Status data can be large and is not needed for state (MESOS-1746).
        kept.data = None;
        task.statuses.push(kept);
        let resources = Resources::from(task.resources.clone());
        let agent_id = task.agent_id.value.clone();
        let latest_state = task.state;
        if state_changed {
            self.emit(|_| {
                Some(state_events::StateEvent::TaskUpdated {
                    framework_id: framework_id.to_string(),
                    status: Box::new(status.clone()),
                    state: latest_state,
                })
            });
        }
        if released {
            self.allocator.recover_resources(
                &alloc::FrameworkId::from(framework_id),
                &alloc::AgentId::from(&agent_id),
                &resources,
                None,
                allocator_now(),
            );
            // Counted by the state the task reached, not by the update being
            // forwarded: a TASK_RUNNING update can carry `latest_state`
            // TASK_FINISHED when the task ended before RUNNING was acked.
            match TaskState::try_from(new_state) {
                Ok(TaskState::TaskFinished) => self.count("master/tasks_finished"),
                Ok(TaskState::TaskFailed) => self.count("master/tasks_failed"),
                Ok(TaskState::TaskKilled) => self.count("master/tasks_killed"),
                Ok(TaskState::TaskLost) => self.count("master/tasks_lost"),
                Ok(TaskState::TaskError) => self.count("master/tasks_error"),
                Ok(TaskState::TaskDropped) => self.count("master/tasks_dropped"),
                Ok(TaskState::TaskGone) => self.count("master/tasks_gone"),
                Ok(TaskState::TaskGoneByOperator) => self.count("master/tasks_gone_by_operator"),
                _ => {}
            }
        }
    }

    /// `Master::removeTask`: drops the task from its agent and framework,
    /// keeping it as completed (or unreachable).
    fn remove_task(&mut self, framework_id: &str, task_id: &str, unreachable: bool) {
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(task) = framework.tasks.remove(task_id) else {
            return;
        };
        let agent_id = AgentId::from(&task.agent_id.value);
        if !is_terminal_state(task.state) && task.state != TaskState::TaskUnreachable as i32 {
            warn!(
                "Removing task {task_id} of framework {framework_id} in non-terminal state {}",
                TaskState::try_from(task.state).map_or("UNKNOWN", |s| s.as_str_name())
            );
            self.allocator.recover_resources(
                &alloc::FrameworkId::from(framework_id),
                &agent_id,
                &Resources::from(task.resources.clone()),
                None,
                allocator_now(),
            );
        }
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if unreachable {
            framework.add_unreachable_task(task, self.flags.max_unreachable_tasks_per_framework);
            self.unreachable_tasks
                .entry(agent_id.clone())
                .or_default()
                .entry(framework_id.into())
                .or_default()
                .push(task_id.into());
        } else {
            framework.add_completed_task(task, self.flags.max_completed_tasks_per_framework);
        }
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            agent.remove_task(framework_id, task_id);
        }
    }

    /// Forgets an executor, giving its resources back.
    fn remove_executor(&mut self, agent_id: &AgentId, framework_id: &str, executor_id: &str) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let Some(executor) = agent.remove_executor(framework_id, executor_id) else {
            return;
        };
        info!("Removing executor '{executor_id}' of framework {framework_id} on agent {agent_id}");
        self.allocator.recover_resources(
            &alloc::FrameworkId::from(framework_id),
            agent_id,
            &Resources::from(executor.resources),
            None,
            allocator_now(),
        );
    }

    /// Resources in use on an agent per framework (non-terminal tasks and
    /// executors), as the allocator tracks them.
    fn used_on_agent(&self, agent: &Agent) -> BTreeMap<String, Resources> {
        let mut used: BTreeMap<String, Resources> = BTreeMap::new();
        for (framework_id, task_ids) in &agent.tasks {
            let Some(framework) = self.frameworks.get(framework_id.as_str()) else {
                continue;
            };
            for task_id in task_ids {
                if let Some(task) = framework.tasks.get(task_id) {
                    if !is_terminal_state(task.state)
                        && task.state != TaskState::TaskUnreachable as i32
                    {
                        let entry = used.entry(framework_id.clone()).or_default();
                        *entry += state::task_resources(task);
                    }
                }
            }
        }
        for (framework_id, executors) in &agent.executors {
            for executor in executors.values() {
                let entry = used.entry(framework_id.clone()).or_default();
                *entry += Resources::from(executor.resources.clone());
            }
        }
        used
    }

    // ---- publishing ---------------------------------------------------------

    /// Called before the state changes, not after the batch: a change may
    /// be answered within the batch (a reply, an offer, SlaveReregistered),
    /// and whoever heard the answer must not read a snapshot from before
    /// it. Readers who see the flag ask the actor, which answers once the
    /// batch is done.
    fn mark_changed(&self) {
        self.stale.store(true, Ordering::Release);
    }

    fn publish_snapshot(&mut self) -> Arc<Snapshot> {
        self.generation += 1;
        let snapshot = Arc::new(off_the_workers(|| self.build_snapshot()));
        self.snapshot_tx.send_replace(Arc::clone(&snapshot));
        // Cleared only once the new snapshot is in the channel: a reader
        // who sees the flag clear finds this snapshot there, never the one
        // before (at start, the empty placeholder).
        self.stale.store(false, Ordering::Release);
        snapshot
    }
}

#[cfg(test)]
mod authentication_tests;
#[cfg(test)]
mod drain_tests;
#[cfg(test)]
mod inverse_offers_tests;
#[cfg(test)]
mod registry_tests;
#[cfg(test)]
mod removal_tests;
#[cfg(test)]
mod tests;
