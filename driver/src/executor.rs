//! The v0 executor driver (`MesosExecutorDriver`): reads its identity from
//! the `MESOS_*` environment the agent sets, registers with the agent,
//! re-registers when a recovering agent asks (checkpointing frameworks),
//! sends status updates with fresh uuids and re-sends unacknowledged ones.
//!
//! Owns the driver status behind a lock and, on its actor thread, the
//! connection state, the launched tasks and the unacknowledged updates.
//! Never blocks a caller on the network.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libprocess::{Message, Upid};
use mesos_proto::mesos::internal::{
    ExecutorToFrameworkMessage, RegisterExecutorMessage, ReregisterExecutorMessage, StatusUpdate,
    StatusUpdateMessage,
};
use mesos_proto::mesos::{
    ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, SlaveId, SlaveInfo, TaskId, TaskInfo,
    TaskState, TaskStatus,
};
use mesos_v0_codec::executor::{decode, ExecutorMessage};

use crate::endpoint::{Endpoint, Inbound};
use crate::{Error, Status};

/// The callbacks of an executor, called one at a time on the driver's
/// actor thread.
pub trait Executor: Send {
    fn registered(
        &mut self,
        driver: &ExecutorDriver,
        executor: &ExecutorInfo,
        framework: &FrameworkInfo,
        slave: &SlaveInfo,
    );
    fn reregistered(&mut self, driver: &ExecutorDriver, slave: &SlaveInfo);
    fn disconnected(&mut self, driver: &ExecutorDriver);
    fn launch_task(&mut self, driver: &ExecutorDriver, task: &TaskInfo);
    fn kill_task(&mut self, driver: &ExecutorDriver, task_id: &TaskId);
    fn framework_message(&mut self, driver: &ExecutorDriver, data: &[u8]);
    fn shutdown(&mut self, driver: &ExecutorDriver);
    fn error(&mut self, driver: &ExecutorDriver, message: &str);
}

/// What the agent tells an executor through its environment.
#[derive(Debug, Clone)]
pub struct Environment {
    pub slave_pid: Upid,
    pub slave_id: SlaveId,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub directory: String,
    pub checkpoint: bool,
    pub recovery_timeout: Duration,
    pub shutdown_grace_period: Duration,
    pub local: bool,
}

fn required(name: &'static str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| Error::Environment {
        name,
        reason: "not set".into(),
    })
}

fn duration(name: &'static str, default: Duration) -> Result<Duration, Error> {
    match std::env::var(name) {
        Ok(text) => stout::duration::Duration::parse(&text)
            .map(|d| d.0)
            .map_err(|e| Error::Environment {
                name,
                reason: e.to_string(),
            }),
        Err(_) => Ok(default),
    }
}

impl Environment {
    /// Reads `MESOS_SLAVE_PID`, `MESOS_SLAVE_ID`, `MESOS_FRAMEWORK_ID`,
    /// `MESOS_EXECUTOR_ID`, `MESOS_DIRECTORY` (all required) and the
    /// optional `MESOS_CHECKPOINT`, `MESOS_RECOVERY_TIMEOUT`,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD` and `MESOS_LOCAL`.
    pub fn from_env() -> Result<Environment, Error> {
        let pid = required("MESOS_SLAVE_PID")?;
        let slave_pid = pid.trim().parse::<Upid>().map_err(|e| Error::Environment {
            name: "MESOS_SLAVE_PID",
            reason: e.to_string(),
        })?;
        Ok(Environment {
            slave_pid,
            slave_id: SlaveId {
                value: required("MESOS_SLAVE_ID")?,
            },
            framework_id: FrameworkId {
                value: required("MESOS_FRAMEWORK_ID")?,
            },
            executor_id: ExecutorId {
                value: required("MESOS_EXECUTOR_ID")?,
            },
            directory: required("MESOS_DIRECTORY")?,
            checkpoint: std::env::var("MESOS_CHECKPOINT").is_ok_and(|v| v == "1"),
            recovery_timeout: duration("MESOS_RECOVERY_TIMEOUT", Duration::from_secs(15 * 60))?,
            shutdown_grace_period: duration(
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                Duration::from_secs(5),
            )?,
            local: std::env::var("MESOS_LOCAL").is_ok(),
        })
    }
}

enum Command {
    Stop,
    Abort,
    Terminate,
    StatusUpdate(Box<TaskStatus>),
    Message(Vec<u8>),
}

struct State {
    status: Status,
    commands: Option<mpsc::Sender<Inbound<Command>>>,
    executor: Option<Box<dyn Executor>>,
    actor: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    aborted: Arc<AtomicBool>,
}

/// A v0 executor driver. Cheap to clone; clones are the same driver.
#[derive(Clone)]
pub struct ExecutorDriver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ExecutorDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorDriver")
            .field("status", &self.status())
            .finish()
    }
}

impl ExecutorDriver {
    pub fn new(executor: Box<dyn Executor>) -> ExecutorDriver {
        ExecutorDriver {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    status: Status::NotStarted,
                    commands: None,
                    executor: Some(executor),
                    actor: None,
                }),
                changed: Condvar::new(),
                aborted: Arc::new(AtomicBool::new(false)),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Single-assignment updates only; poisoning cannot tear them.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> Status {
        self.lock().status
    }

    /// Reads the environment, starts the endpoint and registers with the
    /// agent. A missing variable is reported through `error` and aborts.
    pub fn start(&self) -> Status {
        let mut state = self.lock();
        if state.status != Status::NotStarted {
            return state.status;
        }
        let Some(mut executor) = state.executor.take() else {
            return state.status;
        };
        let started = (|| -> Result<_, Error> {
            let env = Environment::from_env()?;
            let (tx, rx) = mpsc::channel();
            let endpoint =
                Endpoint::start(&format!("executor-{}", uuid::Uuid::new_v4()), tx.clone())?;
            Ok((env, tx, rx, endpoint))
        })();
        let (env, tx, rx, endpoint) = match started {
            Ok(parts) => parts,
            Err(e) => {
                tracing::error!("{e}");
                state.status = Status::Aborted;
                self.shared.changed.notify_all();
                drop(state);
                executor.error(self, &e.to_string());
                return Status::Aborted;
            }
        };
        let process = ExecutorProcess {
            driver: self.clone(),
            executor,
            endpoint,
            aborted: self.shared.aborted.clone(),
            slave: env.slave_pid.clone(),
            env,
            connected: false,
            tasks: HashMap::new(),
            updates: HashMap::new(),
            recovery_deadline: None,
        };
        let spawned = std::thread::Builder::new()
            .name("mesos-executor".into())
            .spawn(move || process.run(rx));
        match spawned {
            Ok(handle) => {
                state.actor = Some(handle);
                state.commands = Some(tx);
                state.status = Status::Running;
            }
            Err(e) => {
                tracing::error!("failed to start the executor driver thread: {e}");
                state.status = Status::Aborted;
            }
        }
        self.shared.changed.notify_all();
        state.status
    }

    pub fn stop(&self) -> Status {
        let mut state = self.lock();
        if state.status != Status::Running && state.status != Status::Aborted {
            return state.status;
        }
        self.shared.aborted.store(true, Ordering::SeqCst);
        if let Some(tx) = &state.commands {
            let _ = tx.send(Inbound::Command(Command::Stop));
        }
        let aborted = state.status == Status::Aborted;
        state.status = Status::Stopped;
        self.shared.changed.notify_all();
        if aborted {
            Status::Aborted
        } else {
            Status::Stopped
        }
    }

    pub fn abort(&self) -> Status {
        let mut state = self.lock();
        if state.status != Status::Running {
            return state.status;
        }
        self.shared.aborted.store(true, Ordering::SeqCst);
        if let Some(tx) = &state.commands {
            let _ = tx.send(Inbound::Command(Command::Abort));
        }
        state.status = Status::Aborted;
        self.shared.changed.notify_all();
        state.status
    }

    pub fn join(&self) -> Status {
        let mut state = self.lock();
        while state.status == Status::Running {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        state.status
    }

    pub fn run(&self) -> Status {
        let status = self.start();
        if status != Status::Running {
            return status;
        }
        self.join()
    }

    /// Ends the actor without a word to the agent (the driver object went
    /// away); waits for the actor thread unless called on it.
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

    /// Sends a status update; TASK_STAGING is refused and aborts the driver,
    /// as upstream's driver does.
    pub fn send_status_update(&self, status: TaskStatus) -> Status {
        if status.state == TaskState::TaskStaging as i32 {
            tracing::error!(
                "Executor is not allowed to send TASK_STAGING status updates. Aborting!"
            );
            return self.abort();
        }
        self.command(Command::StatusUpdate(Box::new(status)))
    }

    pub fn send_framework_message(&self, data: Vec<u8>) -> Status {
        self.command(Command::Message(data))
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
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn is_terminal(state: i32) -> bool {
    mesos_proto::is_terminal_state(state)
}

struct ExecutorProcess {
    driver: ExecutorDriver,
    executor: Box<dyn Executor>,
    endpoint: Endpoint,
    aborted: Arc<AtomicBool>,
    env: Environment,
    slave: Upid,
    connected: bool,
    /// Launched tasks not yet known terminal and acknowledged.
    tasks: HashMap<String, TaskInfo>,
    /// Unacknowledged updates by uuid.
    updates: HashMap<Vec<u8>, StatusUpdate>,
    recovery_deadline: Option<Instant>,
}

impl ExecutorProcess {
    fn run(mut self, inbox: mpsc::Receiver<Inbound<Command>>) {
        self.endpoint.transport.link(&self.slave);
        self.endpoint.send(
            &self.slave,
            &RegisterExecutorMessage {
                framework_id: self.env.framework_id.clone(),
                executor_id: self.env.executor_id.clone(),
            },
        );
        loop {
            let input = match self.recovery_deadline {
                Some(at) => {
                    match inbox.recv_timeout(at.saturating_duration_since(Instant::now())) {
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
                    self.recovery_deadline = None;
                    if !self.connected {
                        tracing::info!(
                            "Agent did not reconnect within the recovery timeout; shutting down"
                        );
                        self.shutdown();
                    }
                }
                Some(Inbound::Message(message, _)) => self.handle_message(message),
                Some(Inbound::Exited(pid)) => self.exited(pid),
                Some(Inbound::Detected(_)) | Some(Inbound::Authenticated { .. }) => {}
                Some(Inbound::Command(command)) => {
                    if !self.handle_command(command) {
                        return;
                    }
                }
            }
        }
    }

    fn aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    fn exited(&mut self, pid: Upid) {
        if self.aborted() || pid != self.slave {
            return;
        }
        if self.env.checkpoint && self.connected {
            // A checkpointing agent may come back and reconnect us.
            self.connected = false;
            tracing::info!(
                "Agent exited, waiting up to {:?} for it to recover",
                self.env.recovery_timeout
            );
            self.executor.disconnected(&self.driver);
            self.recovery_deadline = Some(Instant::now() + self.env.recovery_timeout);
            return;
        }
        tracing::info!("Agent exited; shutting down (the framework does not checkpoint)");
        self.shutdown();
    }

    /// The executor is told to shut down; unless running inside a local
    /// cluster, the process exits once the grace period is over.
    fn shutdown(&mut self) {
        if !self.env.local {
            let grace = self.env.shutdown_grace_period;
            let _ = std::thread::Builder::new()
                .name("mesos-executor-shutdown".into())
                .spawn(move || {
                    std::thread::sleep(grace);
                    tracing::warn!(
                        "Executor did not exit within the shutdown grace period; exiting"
                    );
                    std::process::exit(1);
                });
        }
        self.executor.shutdown(&self.driver);
        self.aborted.store(true, Ordering::SeqCst);
    }

    fn handle_message(&mut self, message: Message) {
        let decoded = match decode(&message) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::warn!("Dropping message from {}: {e}", message.from);
                return;
            }
        };
        if self.aborted() {
            tracing::debug!("Ignoring {} because the driver is aborted", message.name);
            return;
        }
        match decoded {
            ExecutorMessage::Registered(m) => {
                tracing::info!("Executor registered on agent {}", m.slave_id.value);
                self.connected = true;
                self.recovery_deadline = None;
                self.executor.registered(
                    &self.driver,
                    &m.executor_info,
                    &m.framework_info,
                    &m.slave_info,
                );
            }
            ExecutorMessage::Reregistered(m) => {
                if m.slave_id != self.env.slave_id {
                    tracing::warn!("Ignoring re-registration from a different agent");
                    return;
                }
                tracing::info!("Executor re-registered on agent {}", m.slave_id.value);
                self.connected = true;
                self.recovery_deadline = None;
                self.executor.reregistered(&self.driver, &m.slave_info);
            }
            ExecutorMessage::Reconnect(m) => {
                if m.slave_id != self.env.slave_id {
                    tracing::warn!("Ignoring reconnect from a different agent");
                    return;
                }
                tracing::info!("Received reconnect request from agent {}", m.slave_id.value);
                self.slave = message.from;
                self.endpoint.transport.link(&self.slave);
                let reregister = ReregisterExecutorMessage {
                    executor_id: self.env.executor_id.clone(),
                    framework_id: self.env.framework_id.clone(),
                    tasks: self.tasks.values().cloned().collect(),
                    updates: self.updates.values().cloned().collect(),
                };
                self.endpoint.send(&self.slave, &reregister);
            }
            ExecutorMessage::RunTask(m) => {
                self.tasks
                    .insert(m.task.task_id.value.clone(), m.task.clone());
                self.executor.launch_task(&self.driver, &m.task);
            }
            ExecutorMessage::KillTask(m) => self.executor.kill_task(&self.driver, &m.task_id),
            ExecutorMessage::Acknowledgement(m) => {
                if let Some(update) = self.updates.remove(&m.uuid) {
                    if is_terminal(update.status.state) {
                        self.tasks.remove(&m.task_id.value);
                    }
                }
            }
            ExecutorMessage::FrameworkMessage(m) => {
                self.executor.framework_message(&self.driver, &m.data)
            }
            ExecutorMessage::Shutdown(_) => self.shutdown(),
        }
    }

    fn handle_command(&mut self, command: Command) -> bool {
        match command {
            Command::Stop | Command::Terminate => return false,
            Command::Abort => {}
            Command::StatusUpdate(status) => {
                let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
                let mut status = *status;
                status.uuid = Some(uuid.clone());
                status.timestamp = Some(status.timestamp.unwrap_or_else(now_secs));
                if status.slave_id.is_none() {
                    status.slave_id = Some(self.env.slave_id.clone());
                }
                if status.executor_id.is_none() {
                    status.executor_id = Some(self.env.executor_id.clone());
                }
                if status.source.is_none() {
                    status.source = Some(mesos_proto::mesos::task_status::Source::Executor as i32);
                }
                let update = StatusUpdate {
                    framework_id: self.env.framework_id.clone(),
                    executor_id: Some(self.env.executor_id.clone()),
                    slave_id: Some(self.env.slave_id.clone()),
                    status,
                    timestamp: now_secs(),
                    uuid: Some(uuid.clone()),
                    latest_state: None,
                };
                self.updates.insert(uuid, update.clone());
                let message = StatusUpdateMessage {
                    update,
                    pid: Some(self.endpoint.pid.to_string()),
                };
                self.endpoint.send(&self.slave, &message);
            }
            Command::Message(data) => {
                let message = ExecutorToFrameworkMessage {
                    slave_id: self.env.slave_id.clone(),
                    framework_id: self.env.framework_id.clone(),
                    executor_id: self.env.executor_id.clone(),
                    data,
                };
                self.endpoint.send(&self.slave, &message);
            }
        }
        true
    }
}
