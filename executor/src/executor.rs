//! The command executor's protocol and task state machine.
//!
//! One loop owns all state; everything asynchronous (connecting, the
//! SUBSCRIBE stream, sending calls, waiting for the task) runs on small tasks
//! that report back as [`Input`]s tagged with the connection generation, so
//! reports from a connection we already dropped are ignored.
//!
//! Protocol rules kept here (checklist §2, §9; `src/executor/executor.cpp`,
//! `src/launcher/executor.cpp`):
//! - two connections per attempt: SUBSCRIBE and its event stream on one,
//!   every other call on the other; SUBSCRIBE is retried every second until
//!   the agent answers 200;
//! - non-SUBSCRIBE calls are dropped while not subscribed: the unacknowledged
//!   updates (and the task, until its first ACK) go out again in the next
//!   SUBSCRIBE instead;
//! - losing the agent without checkpointing shuts the task down and exits;
//!   with checkpointing we reconnect with random backoff (≤
//!   `MESOS_SUBSCRIPTION_BACKOFF_MAX`) for up to `MESOS_RECOVERY_TIMEOUT`;
//! - TASK_STARTING, then TASK_RUNNING once spawned, then one terminal update;
//!   the executor exits once the terminal update is acknowledged (or after
//!   the fail-safe).
//!
//! It never runs more than one task and never reads the task's output.

use std::process::ExitStatus;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::StatusCode;
use mesos_proto::mesos::v1::executor::{call, event, Call, Event};
use mesos_proto::mesos::v1::framework_info::capability;
use mesos_proto::mesos::v1::{
    task_status, FrameworkInfo, KillPolicy, TaskId, TaskInfo, TaskState, TaskStatus,
};
use mesos_scheduler_client::http::{self, Connection, RecordReader};
use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::command::{self, KillCause};
use crate::kill::{self, Escalation};
use crate::Config;

/// The shortest wait between two reconnection attempts.
const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// How the executor ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The terminal update was acknowledged.
    Acknowledged,
    /// The agent asked us to shut down and there was nothing left to report.
    ShutDown,
    /// The shutdown grace period passed before everything was reported.
    ShutdownTimedOut,
    /// The agent went away for good (no checkpointing, or recovery timed out).
    AgentLost,
    /// The terminal update was never acknowledged.
    NoAcknowledgement,
    /// Something that should not happen did (e.g. KILL before LAUNCH).
    Aborted(String),
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Acknowledged | Outcome::ShutDown => 0,
            _ => 1,
        }
    }
}

/// Runs the executor until it is done.
pub async fn run(config: Config) -> Outcome {
    CommandExecutor::new(config).run().await
}

/// Reports from the helper tasks to the loop.
enum Input {
    Connected {
        generation: u64,
        subscribe: Connection,
        calls: Connection,
    },
    Disconnected {
        generation: u64,
        reason: String,
    },
    SubscribeRefused {
        generation: u64,
        status: StatusCode,
        body: String,
        connection: Connection,
    },
    Subscribed {
        generation: u64,
    },
    Event {
        generation: u64,
        event: Box<Event>,
    },
    Reaped {
        status: std::io::Result<ExitStatus>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    Connecting,
    Connected,
    Subscribing,
    Subscribed,
}

struct TaskData {
    info: TaskInfo,
    /// Whether any of its updates has been acknowledged (then the agent
    /// knows the task and it is not resent on re-subscription).
    acknowledged: bool,
}

struct CommandExecutor {
    config: Config,
    inputs_tx: mpsc::UnboundedSender<Input>,
    inputs: mpsc::UnboundedReceiver<Input>,

    state: State,
    /// Bumped on every (re)connection attempt; stale reports are ignored.
    generation: u64,
    subscribe_connection: Option<Connection>,
    calls: Option<mpsc::UnboundedSender<Call>>,

    framework_info: Option<FrameworkInfo>,
    task: Option<TaskData>,
    /// Unacknowledged updates, oldest first.
    unacknowledged: Vec<(Uuid, call::Update)>,

    launched: bool,
    terminated: bool,
    kill_cause: KillCause,
    pid: Option<u32>,
    kill_policy: Option<KillPolicy>,
    escalation: Option<Escalation>,
    sigkill_sent: bool,
    agent_lost: bool,

    subscribe_retry_at: Option<Instant>,
    backoff_at: Option<Instant>,
    recovery_deadline: Option<Instant>,
    completion_deadline: Option<Instant>,
    terminal_ack_deadline: Option<Instant>,
    shutdown_deadline: Option<Instant>,
    heartbeat_at: Option<Instant>,

    outcome: Option<Outcome>,
}

impl CommandExecutor {
    fn new(config: Config) -> CommandExecutor {
        let (inputs_tx, inputs) = mpsc::unbounded_channel();
        CommandExecutor {
            config,
            inputs_tx,
            inputs,
            state: State::Disconnected,
            generation: 0,
            subscribe_connection: None,
            calls: None,
            framework_info: None,
            task: None,
            unacknowledged: Vec::new(),
            launched: false,
            terminated: false,
            kill_cause: KillCause::None,
            pid: None,
            kill_policy: None,
            escalation: None,
            sigkill_sent: false,
            agent_lost: false,
            subscribe_retry_at: None,
            backoff_at: None,
            recovery_deadline: None,
            completion_deadline: None,
            terminal_ack_deadline: None,
            shutdown_deadline: None,
            heartbeat_at: None,
            outcome: None,
        }
    }

    async fn run(mut self) -> Outcome {
        self.connect();
        loop {
            if let Some(outcome) = self.outcome.take() {
                self.finish();
                return outcome;
            }
            let deadline = self.next_deadline();
            tokio::select! {
                input = self.inputs.recv() => {
                    // We hold a sender, so the channel never closes.
                    if let Some(input) = input {
                        self.handle(input);
                    }
                }
                _ = sleep_until(deadline) => self.fire_timers(Instant::now()),
            }
        }
    }

    /// Leaves no task behind.
    fn finish(&mut self) {
        if self.launched && !self.terminated {
            if let Some(pid) = self.pid {
                tracing::warn!(
                    "Exiting with the task still running; killing process tree at {pid}"
                );
                command::signal_tree(pid, Signal::SIGKILL);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let escalation = self
            .escalation
            .filter(|_| !self.sigkill_sent && !self.terminated)
            .map(|e| e.deadline());
        [
            self.subscribe_retry_at,
            self.backoff_at,
            self.recovery_deadline,
            self.completion_deadline,
            self.terminal_ack_deadline,
            self.shutdown_deadline,
            self.heartbeat_at,
            escalation,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn fire_timers(&mut self, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);

        if due(self.escalation.map(|e| e.deadline())) && !self.sigkill_sent && !self.terminated {
            self.sigkill_sent = true;
            if let Some(pid) = self.pid {
                tracing::info!(
                    "Process {pid} did not terminate after its grace period, \
                     sending SIGKILL to process tree at {pid}"
                );
                command::signal_tree(pid, Signal::SIGKILL);
            }
        }
        if due(self.completion_deadline) {
            self.completion_deadline = None;
            self.max_completion_time_reached();
        }
        if due(self.subscribe_retry_at) {
            self.subscribe_retry_at = None;
            self.do_reliable_registration();
        }
        if due(self.backoff_at) {
            self.backoff_at = None;
            self.backoff();
        }
        if due(self.recovery_deadline) {
            self.recovery_deadline = None;
            if matches!(self.state, State::Disconnected | State::Connecting) {
                tracing::info!(
                    "Recovery timeout of {} exceeded; Shutting down",
                    stout::Duration::from(self.config.recovery_timeout)
                );
                self.backoff_at = None;
                self.agent_lost = true;
                self.shutdown();
            }
        }
        if due(self.heartbeat_at) {
            self.heartbeat_at = Some(now + self.config.heartbeat_interval);
            if self.state == State::Subscribed {
                self.send(self.call(call::Type::Heartbeat));
            }
        }
        if due(self.terminal_ack_deadline) {
            self.terminal_ack_deadline = None;
            tracing::error!("Did not receive ACK for the terminal status update from the agent");
            self.outcome.get_or_insert(Outcome::NoAcknowledgement);
        }
        if due(self.shutdown_deadline) {
            self.shutdown_deadline = None;
            tracing::warn!(
                "Shutdown grace period of {} passed; exiting",
                stout::Duration::from(self.config.shutdown_grace_period)
            );
            self.outcome.get_or_insert(Outcome::ShutdownTimedOut);
        }
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Connected {
                generation,
                subscribe,
                calls,
            } if generation == self.generation => self.connected(subscribe, calls),
            Input::Disconnected { generation, reason } if generation == self.generation => {
                self.disconnected(&reason)
            }
            Input::SubscribeRefused {
                generation,
                status,
                body,
                connection,
            } if generation == self.generation => {
                // The agent may still be recovering (503) or setting up its
                // routes (404); the retry timer sends SUBSCRIBE again.
                if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::NOT_FOUND {
                    tracing::warn!("Received '{status}' ({body}) for SUBSCRIBE");
                } else {
                    tracing::error!("Received unexpected '{status}' ({body}) for SUBSCRIBE");
                }
                self.state = State::Connected;
                self.subscribe_connection = Some(connection);
            }
            Input::Subscribed { generation } if generation == self.generation => {
                self.state = State::Subscribed;
                self.subscribe_retry_at = None;
            }
            Input::Event { generation, event }
                if generation == self.generation && self.state == State::Subscribed =>
            {
                self.received(*event)
            }
            Input::Reaped { status } => self.reaped(status),
            _ => tracing::debug!("Ignoring a report from a stale connection"),
        }
    }

    // ---- Connection management -------------------------------------------------

    fn connect(&mut self) {
        self.generation += 1;
        let generation = self.generation;
        self.state = State::Connecting;
        self.subscribe_connection = None;
        self.calls = None;
        let agent = self.config.agent.clone();
        let inputs = self.inputs_tx.clone();
        tokio::spawn(async move {
            let connections = match http::connect(&agent).await {
                Ok(first) => http::connect(&agent).await.map(|second| (first, second)),
                Err(e) => Err(e),
            };
            match connections {
                Ok(((subscribe, subscribe_driver), (calls, calls_driver))) => {
                    let _ = inputs.send(Input::Connected {
                        generation,
                        subscribe,
                        calls,
                    });
                    // Either connection closing means we lost the agent.
                    let reason = tokio::select! {
                        _ = subscribe_driver => "Subscribe connection interrupted",
                        _ = calls_driver => "Non-subscribe connection interrupted",
                    };
                    let _ = inputs.send(Input::Disconnected {
                        generation,
                        reason: reason.to_string(),
                    });
                }
                Err(e) => {
                    let _ = inputs.send(Input::Disconnected {
                        generation,
                        reason: e.to_string(),
                    });
                }
            }
        });
    }

    fn connected(&mut self, subscribe: Connection, calls: Connection) {
        tracing::info!("Connected with the agent");
        self.state = State::Connected;
        self.recovery_deadline = None;
        self.subscribe_connection = Some(subscribe);
        let (tx, rx) = mpsc::unbounded_channel();
        self.calls = Some(tx);
        tokio::spawn(send_calls(
            self.generation,
            self.config.clone(),
            calls,
            rx,
            self.inputs_tx.clone(),
        ));
        self.heartbeat_at = Some(Instant::now() + self.config.heartbeat_interval);
        self.do_reliable_registration();
    }

    fn disconnected(&mut self, reason: &str) {
        tracing::info!("Disconnected from agent: {reason}");
        let was_connected = matches!(
            self.state,
            State::Connected | State::Subscribing | State::Subscribed
        );
        // Drop both connections; reports from them are stale from now on.
        self.generation += 1;
        self.state = State::Disconnected;
        self.subscribe_connection = None;
        self.calls = None;
        self.subscribe_retry_at = None;
        self.heartbeat_at = None;

        if self.recovery_deadline.is_some() {
            // A reconnection attempt failed; the backoff timer tries again.
            return;
        }
        if self.config.checkpoint && was_connected {
            self.recovery_deadline = Some(Instant::now() + self.config.recovery_timeout);
            self.backoff();
        } else {
            self.agent_lost = true;
            self.shutdown();
        }
    }

    fn backoff(&mut self) {
        if matches!(
            self.state,
            State::Connected | State::Subscribing | State::Subscribed
        ) {
            return;
        }
        self.connect();
        // The floor keeps a tiny maximum from superseding every attempt
        // before its TCP connect can complete.
        let wait = self
            .config
            .max_backoff
            .mul_f64(random_fraction())
            .max(MIN_BACKOFF);
        tracing::debug!(
            "Will retry connecting with the agent again in {}",
            stout::Duration::from(wait)
        );
        self.backoff_at = Some(Instant::now() + wait);
    }

    /// Sends SUBSCRIBE if connected and not already subscribing, and keeps
    /// trying every second until subscribed.
    fn do_reliable_registration(&mut self) {
        if matches!(
            self.state,
            State::Subscribed | State::Disconnected | State::Connecting
        ) {
            return;
        }
        self.subscribe_retry_at = Some(Instant::now() + self.config.subscribe_retry_interval);
        if self.state != State::Connected {
            // A SUBSCRIBE is in flight; upstream drops the retry.
            return;
        }
        let Some(connection) = self.subscribe_connection.take() else {
            return;
        };
        let mut subscribe = call::Subscribe {
            unacknowledged_updates: self.unacknowledged.iter().map(|(_, u)| u.clone()).collect(),
            ..Default::default()
        };
        if let Some(task) = self.task.as_ref().filter(|t| !t.acknowledged) {
            subscribe.unacknowledged_tasks.push(task.info.clone());
        }
        let mut call = self.call(call::Type::Subscribe);
        call.subscribe = Some(subscribe);
        self.state = State::Subscribing;
        tokio::spawn(subscribe_and_read(
            self.generation,
            self.config.clone(),
            connection,
            call,
            self.inputs_tx.clone(),
        ));
    }

    fn call(&self, kind: call::Type) -> Call {
        Call {
            executor_id: self.config.executor_id.clone(),
            framework_id: self.config.framework_id.clone(),
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    /// Sends a non-SUBSCRIBE call, or drops it when not subscribed.
    fn send(&self, call: Call) {
        match (&self.calls, self.state) {
            (Some(calls), State::Subscribed) => {
                // The sender task only ends with its connection, which is
                // then reported; a lost call is covered by re-subscription.
                let _ = calls.send(call);
            }
            _ => tracing::warn!(
                "Dropping {}: Executor is in state {:?}",
                call.r#type().as_str_name(),
                self.state
            ),
        }
    }

    // ---- Events ----------------------------------------------------------------

    fn received(&mut self, event: Event) {
        tracing::info!("Received {} event", event.r#type().as_str_name());
        match event.r#type() {
            event::Type::Subscribed => {
                if let Some(subscribed) = event.subscribed {
                    tracing::info!("Subscribed executor on {}", subscribed.agent_info.hostname);
                    self.framework_info = Some(subscribed.framework_info);
                }
            }
            event::Type::Launch => {
                if let Some(launch) = event.launch {
                    self.launch(launch.task);
                }
            }
            event::Type::LaunchGroup => {
                // Only the default executor runs task groups.
                tracing::error!("LAUNCH_GROUP event is not supported");
                self.shutdown();
            }
            event::Type::Kill => {
                if let Some(kill) = event.kill {
                    self.kill_requested(&kill.task_id, kill.kill_policy.as_ref());
                }
            }
            event::Type::Acknowledged => {
                if let Some(acknowledged) = event.acknowledged {
                    self.acknowledged(&acknowledged.uuid);
                }
            }
            event::Type::Shutdown => self.shutdown(),
            event::Type::Error => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                tracing::error!("Error: {message}");
            }
            event::Type::Message | event::Type::Heartbeat => {}
            event::Type::Unknown => tracing::warn!("Received an UNKNOWN event and ignored"),
        }
    }

    fn launch(&mut self, task: TaskInfo) {
        if self.launched {
            let status = self.status(
                &task.task_id,
                TaskState::TaskFailed,
                None,
                Some("Attempted to run multiple tasks using a \"command\" executor".to_string()),
            );
            self.forward(status);
            return;
        }
        let task_id = task.task_id.clone();
        self.task = Some(TaskData {
            info: task.clone(),
            acknowledged: false,
        });
        let starting = self.status(&task_id, TaskState::TaskStarting, None, None);
        self.forward(starting);
        self.kill_policy = task.kill_policy;

        let Some(command) = self
            .config
            .task_command
            .clone()
            .or_else(|| task.command.clone())
        else {
            self.launch_failed(
                &task_id,
                format!("Expecting task '{}' to have a command", task_id.value),
            );
            return;
        };
        if task.health_check.is_some() {
            tracing::warn!(
                "Task '{}' has a health check; health checks are not supported by this \
                 executor yet and it is ignored",
                task_id.value
            );
        }
        if task.check.is_some() {
            tracing::warn!(
                "Task '{}' has a check; checks are not supported by this executor yet \
                 and it is ignored",
                task_id.value
            );
        }
        let argv = match command::argv(&command) {
            Ok(argv) => argv,
            Err(message) => {
                self.launch_failed(&task_id, format!("{message} (task '{}')", task_id.value));
                return;
            }
        };
        let env = command::environment(
            own_environment(),
            self.config.task_environment.as_ref(),
            command.environment.as_ref(),
            command::allocation_role(&task),
        );

        if let Some(max) = task
            .max_completion_time
            .as_ref()
            .filter(|d| d.nanoseconds > 0)
        {
            let max = Duration::from_nanos(max.nanoseconds.unsigned_abs());
            tracing::info!(
                "Task {} has a max completion time of {}",
                task_id.value,
                stout::Duration::from(max)
            );
            self.completion_deadline = Some(Instant::now() + max);
        }

        tracing::info!("Starting task {}", task_id.value);
        let mut child = match command::spawn(&argv, &env, self.config.working_directory.as_deref())
        {
            Ok(child) => child,
            Err(e) => {
                self.completion_deadline = None;
                self.launch_failed(&task_id, format!("Failed to launch the task: {e}"));
                return;
            }
        };
        self.pid = child.id();
        tracing::info!("Forked command at {}", self.pid.unwrap_or_default());
        let inputs = self.inputs_tx.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let _ = inputs.send(Input::Reaped { status });
        });

        let running = self.status(&task_id, TaskState::TaskRunning, None, None);
        self.forward(running);
        self.launched = true;
    }

    /// The task could not be started: it is over, with TASK_FAILED.
    fn launch_failed(&mut self, task_id: &TaskId, message: String) {
        tracing::error!("{message}");
        self.launched = true;
        self.terminated = true;
        let failed = self.status(task_id, TaskState::TaskFailed, None, Some(message));
        self.forward(failed);
        self.await_terminal_ack();
    }

    fn kill_requested(&mut self, task_id: &TaskId, policy: Option<&KillPolicy>) {
        // Any kill supersedes the max completion time.
        self.completion_deadline = None;
        if !self.launched {
            // Upstream aborts here too (MESOS-8297): the agent lost our LAUNCH.
            tracing::error!(
                "Terminating because kill task message has been received before the task has been launched"
            );
            self.outcome.get_or_insert(Outcome::Aborted(
                "KILL received before the task was launched".to_string(),
            ));
            return;
        }
        if self.task.as_ref().map(|t| &t.info.task_id) != Some(task_id) {
            tracing::warn!("Ignoring kill for unknown task {}", task_id.value);
            return;
        }
        let grace = kill::grace_period(policy, self.kill_policy.as_ref());
        tracing::info!(
            "Received kill for task {} with grace period of {}",
            task_id.value,
            stout::Duration::from(grace)
        );
        self.kill(grace, KillCause::Requested);
    }

    fn max_completion_time_reached(&mut self) {
        if self.terminated || self.escalation.is_some() {
            return;
        }
        if let Some(task) = &self.task {
            tracing::info!(
                "Killing task {} which exceeded its maximum completion time",
                task.info.task_id.value
            );
        }
        self.kill(Duration::ZERO, KillCause::MaxCompletionTime);
    }

    fn kill(&mut self, grace: Duration, cause: KillCause) {
        if self.terminated || !self.launched {
            return;
        }
        let now = Instant::now();
        if let Some(escalation) = self.escalation.as_mut() {
            if !self.sigkill_sent && escalation.shorten(now, grace) {
                tracing::info!(
                    "Rescheduling escalation to SIGKILL in {} from now",
                    stout::Duration::from(escalation.deadline().saturating_duration_since(now))
                );
            }
            return;
        }
        let Some(task_id) = self.task.as_ref().map(|t| t.info.task_id.clone()) else {
            return;
        };
        self.kill_cause = cause;
        if cause != KillCause::MaxCompletionTime && self.framework_has_task_killing_state() {
            let killing = self.status(&task_id, TaskState::TaskKilling, None, None);
            self.forward(killing);
        }
        if let Some(pid) = self.pid {
            tracing::info!("Sending SIGTERM to process tree at pid {pid}");
            command::signal_tree(pid, Signal::SIGTERM);
        }
        tracing::info!(
            "Scheduling escalation to SIGKILL in {} from now",
            stout::Duration::from(grace)
        );
        self.escalation = Some(Escalation::begin(now, grace));
    }

    fn framework_has_task_killing_state(&self) -> bool {
        self.framework_info.as_ref().is_some_and(|f| {
            f.capabilities
                .iter()
                .any(|c| c.r#type == Some(capability::Type::TaskKillingState as i32))
        })
    }

    fn reaped(&mut self, status: std::io::Result<ExitStatus>) {
        self.terminated = true;
        self.completion_deadline = None;
        let Some(task_id) = self.task.as_ref().map(|t| t.info.task_id.clone()) else {
            return;
        };
        let (state, reason, message) = match status {
            Ok(status) => {
                let reason = (self.kill_cause == KillCause::MaxCompletionTime)
                    .then_some(task_status::Reason::MaxCompletionTimeReached);
                (
                    command::terminal_state(&status, self.kill_cause),
                    reason,
                    format!("Command {}", command::describe(&status)),
                )
            }
            Err(e) => (
                TaskState::TaskFailed,
                None,
                format!("Failed to get exit status for Command: {e}"),
            ),
        };
        tracing::info!("{message} (pid: {})", self.pid.unwrap_or_default());
        let update = self.status(&task_id, state, reason, Some(message));
        self.forward(update);
        self.await_terminal_ack();
    }

    fn await_terminal_ack(&mut self) {
        if self.agent_lost {
            // Nobody will ever acknowledge it.
            self.outcome.get_or_insert(Outcome::AgentLost);
            return;
        }
        self.terminal_ack_deadline = Some(Instant::now() + self.config.terminal_ack_timeout);
    }

    fn acknowledged(&mut self, uuid: &[u8]) {
        let Ok(uuid) = Uuid::from_slice(uuid) else {
            tracing::warn!("Received an acknowledgement with an invalid uuid");
            return;
        };
        let Some(position) = self.unacknowledged.iter().position(|(u, _)| *u == uuid) else {
            tracing::warn!("Received acknowledgement {uuid} for unknown status update");
            return;
        };
        let (_, update) = self.unacknowledged.remove(position);
        if let Some(task) = self.task.as_mut() {
            task.acknowledged = true;
        }
        let state = TaskState::try_from(update.status.state).unwrap_or(TaskState::TaskRunning);
        if state.is_terminal() && Some(&update.status.task_id) == self.task_id() {
            self.outcome.get_or_insert(Outcome::Acknowledged);
        }
    }

    fn task_id(&self) -> Option<&TaskId> {
        self.task.as_ref().map(|t| &t.info.task_id)
    }

    fn shutdown(&mut self) {
        tracing::info!("Shutting down");
        if self.shutdown_deadline.is_none() {
            // Upstream's library kills the executor after this long anyway.
            self.shutdown_deadline = Some(Instant::now() + self.config.shutdown_grace_period);
        }
        if self.launched && !self.terminated {
            self.kill(
                kill::shutdown_grace_period(self.config.shutdown_grace_period),
                KillCause::Requested,
            );
        } else if !self.launched {
            let outcome = if self.agent_lost {
                Outcome::AgentLost
            } else {
                Outcome::ShutDown
            };
            self.outcome.get_or_insert(outcome);
        } else if self.agent_lost {
            // Terminated, but the ACK can no longer come.
            self.outcome.get_or_insert(Outcome::AgentLost);
        }
    }

    // ---- Status updates --------------------------------------------------------

    fn status(
        &self,
        task_id: &TaskId,
        state: TaskState,
        reason: Option<task_status::Reason>,
        message: Option<String>,
    ) -> TaskStatus {
        TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            message,
            source: Some(task_status::Source::Executor as i32),
            reason: reason.map(|r| r as i32),
            executor_id: Some(self.config.executor_id.clone()),
            timestamp: Some(now_seconds()),
            uuid: Some(Uuid::new_v4().as_bytes().to_vec()),
            ..Default::default()
        }
    }

    /// Records the update as unacknowledged and sends it.
    fn forward(&mut self, status: TaskStatus) {
        let uuid = status
            .uuid
            .as_deref()
            .and_then(|u| Uuid::from_slice(u).ok())
            .unwrap_or_else(Uuid::new_v4);
        tracing::info!(
            "Sending {} for task {}",
            TaskState::try_from(status.state)
                .map(|s| s.as_str_name())
                .unwrap_or("an update"),
            status.task_id.value
        );
        let update = call::Update { status };
        self.unacknowledged.push((uuid, update.clone()));
        let mut call = self.call(call::Type::Update);
        call.update = Some(update);
        self.send(call);
    }
}

/// SUBSCRIBE on its own connection, then forward the event stream.
async fn subscribe_and_read(
    generation: u64,
    config: Config,
    mut connection: Connection,
    call: Call,
    inputs: mpsc::UnboundedSender<Input>,
) {
    let disconnected = |reason: String| Input::Disconnected { generation, reason };
    let request = match build_request(&config, config.content_type.encode(&call)) {
        Ok(request) => request,
        Err(e) => {
            let _ = inputs.send(disconnected(e.to_string()));
            return;
        }
    };
    let sent = match connection.ready().await {
        Ok(()) => connection.send_request(request).await,
        Err(e) => Err(e),
    };
    let response = match sent {
        Ok(response) => response,
        Err(e) => {
            let _ = inputs.send(disconnected(format!("SUBSCRIBE failed: {e}")));
            return;
        }
    };
    let status = response.status();
    if status != StatusCode::OK {
        let body = http::body_text(response.into_body()).await;
        let _ = inputs.send(Input::SubscribeRefused {
            generation,
            status,
            body,
            connection,
        });
        return;
    }
    if inputs.send(Input::Subscribed { generation }).is_err() {
        return;
    }
    let mut reader = RecordReader::new(response.into_body(), config.content_type);
    loop {
        match reader.next::<Event>().await {
            Ok(Some(event)) => {
                let event = Box::new(event);
                if inputs.send(Input::Event { generation, event }).is_err() {
                    return;
                }
            }
            Ok(None) => {
                let _ = inputs.send(disconnected(
                    "End-Of-File received from agent. The agent closed the event stream"
                        .to_string(),
                ));
                return;
            }
            Err(e @ mesos_scheduler_client::Error::Decode { .. }) => {
                // The framing is intact; only this event is lost.
                tracing::error!("Failed to de-serialize event: {e}");
            }
            Err(e) => {
                let _ = inputs.send(disconnected(format!(
                    "Failed to decode the stream of events: {e}"
                )));
                return;
            }
        }
    }
}

/// Sends non-SUBSCRIBE calls in order on the second connection.
async fn send_calls(
    generation: u64,
    config: Config,
    mut connection: Connection,
    mut calls: mpsc::UnboundedReceiver<Call>,
    inputs: mpsc::UnboundedSender<Input>,
) {
    while let Some(call) = calls.recv().await {
        let name = call.r#type().as_str_name();
        let request = match build_request(&config, config.content_type.encode(&call)) {
            Ok(request) => request,
            Err(e) => {
                tracing::error!("Dropping {name}: {e}");
                continue;
            }
        };
        let sent = match connection.ready().await {
            Ok(()) => connection.send_request(request).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(response) => {
                let status = response.status();
                let body = http::body_text(response.into_body()).await;
                if status != StatusCode::ACCEPTED {
                    tracing::warn!("Received '{status}' ({body}) for {name}");
                }
            }
            Err(e) => {
                tracing::error!("Request for call type {name} failed: {e}");
                let _ = inputs.send(Input::Disconnected {
                    generation,
                    reason: format!("Request for call type {name} failed: {e}"),
                });
                return;
            }
        }
    }
}

fn build_request(
    config: &Config,
    body: Bytes,
) -> Result<hyper::Request<http_body_util::Full<Bytes>>, mesos_scheduler_client::Error> {
    let bearer = config
        .authentication_token
        .as_ref()
        .map(|token| format!("Bearer {}", token.0));
    let mut headers = Vec::new();
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer.as_str()));
    }
    http::post_request(
        &config.agent,
        &config.agent_path,
        config.content_type,
        body,
        &headers,
    )
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The executor's environment, as UTF-8 pairs (others cannot be expressed in
/// a Mesos `Environment` anyway).
fn own_environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// A uniform value in [0, 1) from the OS random source behind `uuid` (the
/// low 53 bits of a v4 UUID are all random).
fn random_fraction() -> f64 {
    (Uuid::new_v4().as_u128() & ((1u128 << 53) - 1)) as f64 / (1u64 << 53) as f64
}
