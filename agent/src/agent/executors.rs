//! Executor lifecycle in the actor: creating sandboxes, launching
//! containers, the registration/shutdown timeouts, termination (failing the
//! executor's live tasks), and talking to executors over either protocol:
//! the v1 HTTP executor API (SUBSCRIBE streams) or the v0 executor driver
//! (libprocess messages). Upstream `Slave::launchExecutor`, `subscribe`,
//! `registerExecutor`, `executorTerminated`, `_shutdownExecutor`, ...

use libprocess::Upid;
use mesos_proto::convert::{devolve, evolve};
use mesos_proto::ids::{ContainerId, ExecutorId, FrameworkId};
use mesos_proto::mesos::executor_info::Type as ExecutorType;
use mesos_proto::mesos::internal as msgs;
use mesos_proto::mesos::task_status::Reason;
use mesos_proto::mesos::v1;
use mesos_proto::mesos::v1::executor::{call, event, Call as ExecutorCall, Event as ExecutorEvent};
use mesos_proto::mesos::{self as v0, KillPolicy, SlaveId, TaskGroupInfo, TaskInfo, TaskState};
use tokio::sync::mpsc;

use super::state::{
    Connection, Executor, ExecutorState, FrameworkState, PendingTermination,
    MAX_COMPLETED_FRAMEWORKS,
};
use super::tasks::{agent_update, executor_update, UpdateSource};
use super::{
    Agent, AgentState, CallError, CallReply, ExecutorPrincipal, ExecutorStream, Input, StreamClosed,
};
use crate::containerizer::environment::{executor_environment, shutdown_grace_period, ExecutorEnv};
use crate::containerizer::{ContainerEvent, LaunchSpec};
use crate::paths;

/// What the agent tells an executor, whichever protocol it speaks.
#[derive(Debug, Clone)]
pub(crate) enum ToExecutor {
    Launch(Box<TaskInfo>),
    LaunchGroup(Box<TaskGroupInfo>),
    Kill {
        task_id: v0::TaskId,
        kill_policy: Option<KillPolicy>,
    },
    Acknowledged {
        task_id: v0::TaskId,
        uuid: Vec<u8>,
    },
    Message(Vec<u8>),
    Shutdown,
}

fn event(kind: event::Type) -> ExecutorEvent {
    ExecutorEvent {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

impl Agent {
    /// Creates the executor's sandbox and bookkeeping (upstream
    /// `Framework::addExecutor`).
    pub(crate) fn add_executor(
        &mut self,
        framework_id: &FrameworkId,
        info: mesos_proto::mesos::ExecutorInfo,
    ) -> Result<(), String> {
        let slave_id = self.slave_id();
        let executor_id = ExecutorId::from(&info.executor_id);
        let container_id = ContainerId::from(uuid::Uuid::new_v4().to_string());
        let framework = self
            .frameworks
            .get(framework_id)
            .ok_or_else(|| format!("Unknown framework {framework_id}"))?;
        let user = if self.flags.switch_user {
            info.command
                .as_ref()
                .and_then(|c| c.user.clone())
                .or_else(|| Some(framework.info.user.clone()).filter(|u| !u.is_empty()))
        } else {
            None
        };
        let checkpoint = framework.info.checkpoint.unwrap_or(false);
        let framework_user = framework.info.user.clone();
        let directory = paths::create_executor_directory(
            self.flags.work_dir(),
            &slave_id,
            framework_id.as_str(),
            executor_id.as_str(),
            container_id.as_str(),
        )
        .map_err(|e| e.to_string())?;
        let generated = super::executor_info::is_command_executor(&info, &self.launcher_dir);
        tracing::info!(
            "Launching executor '{executor_id}' of framework {framework_id} in work directory '{}'",
            directory.display()
        );
        let owner = sandbox_owner(&info, &framework_user);
        self.attach_sandbox(framework_id, &executor_id, &directory, owner);

        let executor = Executor::new(
            framework_id.clone(),
            info,
            container_id,
            directory,
            user,
            checkpoint,
            generated,
        );
        // Durable before the container exists, so a restart finds it.
        self.checkpoint_executor(&executor.durable);
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework.executors.insert(executor_id, executor);
        }
        Ok(())
    }

    /// Serves the sandbox under its real path and both "latest" aliases.
    pub(crate) fn attach_sandbox(
        &self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        directory: &std::path::Path,
        owner: String,
    ) {
        let (framework_id, executor_id) = (framework_id.as_str(), executor_id.as_str());
        let owner = crate::files::Owner::Sandbox { user: owner };
        let latest = paths::executor_latest_run_path(
            self.flags.work_dir(),
            &self.slave_id(),
            framework_id,
            executor_id,
        );
        self.files
            .attach_owned(&latest.display().to_string(), directory, owner.clone());
        self.files.attach_owned(
            &paths::executor_virtual_path(framework_id, executor_id),
            directory,
            owner.clone(),
        );
        self.files
            .attach_owned(&directory.display().to_string(), directory, owner);
    }

    /// Starts the executor's container (upstream `Slave::launchExecutor`).
    pub(crate) fn launch_executor(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        task: Option<TaskInfo>,
    ) {
        let slave_id = self.slave_id();
        let Some(framework) = self.frameworks.get(framework_id) else {
            return;
        };
        if framework.state == FrameworkState::Terminating {
            tracing::warn!(
                "Ignoring launching executor '{executor_id}' because the framework is terminating"
            );
            return;
        }
        let Some(executor) = framework.executors.get(executor_id) else {
            return;
        };
        if matches!(
            executor.state(),
            ExecutorState::Terminating | ExecutorState::Terminated
        ) {
            let word = if executor.state() == ExecutorState::Terminating {
                "terminating"
            } else {
                "terminated"
            };
            self.fail_launch(framework_id, executor_id, format!("Executor {word}"));
            return;
        }
        let mut info = executor.durable.info.clone();
        let is_default = info.r#type == Some(ExecutorType::Default as i32);
        if is_default && info.command.is_none() {
            self.fail_launch(
                framework_id,
                executor_id,
                "The default executor (ExecutorInfo.type=DEFAULT) is not supported by this agent yet; \
                 use a CUSTOM executor with a CommandInfo"
                    .to_string(),
            );
            return;
        }
        let Some(command) = info.command.clone() else {
            self.fail_launch(
                framework_id,
                executor_id,
                "ExecutorInfo has no CommandInfo to run".to_string(),
            );
            return;
        };
        // The containerizer sees the executor's and the first task's resources.
        if let Some(task) = &task {
            info.resources.extend(task.resources.iter().cloned());
        }
        let endpoint = format!("{}:{}", self.self_pid.ip, self.self_pid.port);
        let token = self.executor_token(
            framework_id.as_str(),
            executor_id.as_str(),
            executor.durable.container_id.as_str(),
        );
        let input = ExecutorEnv {
            executor: &info,
            directory: &executor.durable.directory,
            slave_id: &slave_id,
            slave_pid: &self.self_pid.to_string(),
            agent_endpoint: &endpoint,
            checkpoint: framework.info.checkpoint.unwrap_or(false),
            native_library: self.native_library.clone(),
            authentication_token: token.as_deref(),
        };
        let environment = executor_environment(&self.flags, &input, self.agent_environment());
        let container_id = executor.durable.container_id.clone();
        let spec = LaunchSpec {
            container_id: container_id.to_string(),
            directory: executor.durable.directory.clone(),
            command,
            environment,
            user: executor.live.user.clone(),
            forked_pid_file: executor.durable.checkpoint.then(|| {
                self.checkpointer
                    .forked_pid_path(&executor.durable.run_ids(&slave_id))
            }),
        };
        tracing::info!("Launching container {container_id} for executor '{executor_id}' of framework {framework_id}");
        self.containerizer.launch(spec);
        self.schedule(
            self.flags.executor_registration_timeout.0,
            Input::ExecutorRegistrationTimeout {
                framework_id: framework_id.clone(),
                executor_id: executor_id.clone(),
                container_id,
            },
        );
    }

    /// The agent's environment as executors inherit it. Upstream's agent
    /// exports `--ip`/`--advertise_ip` as `LIBPROCESS_IP` and
    /// `LIBPROCESS_ADVERTISE_IP` at startup, so executors see them too.
    fn agent_environment(&self) -> Vec<(String, String)> {
        // `vars_os`: a non-UTF-8 variable must not abort the launch (it is skipped).
        let mut env: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let mut set = |key: &str, value: String| {
            env.retain(|(k, _)| k != key);
            env.push((key.to_string(), value));
        };
        if let Some(ip) = self.flags.ip.filter(|ip| !ip.is_unspecified()) {
            set("LIBPROCESS_IP", ip.to_string());
        }
        if let Some(ip) = self.flags.advertise_ip {
            set("LIBPROCESS_ADVERTISE_IP", ip.to_string());
        }
        env
    }

    /// The executor could not be started: its tasks fail now.
    fn fail_launch(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        message: String,
    ) {
        tracing::error!(
            "Failed to launch executor '{executor_id}' of framework {framework_id}: {message}"
        );
        self.counters.container_launch_errors += 1;
        if let Some(executor) = self.executor_mut(framework_id, executor_id) {
            executor
                .live
                .pending_termination
                .get_or_insert(PendingTermination {
                    state: TaskState::TaskFailed,
                    reason: Reason::ContainerLaunchFailed as i32,
                    message,
                });
        }
        self.executor_terminated(framework_id, executor_id, None);
    }

    fn executor_by_container(&self, container_id: &str) -> Option<(FrameworkId, ExecutorId)> {
        self.frameworks.values().find_map(|f| {
            f.executors
                .values()
                .find(|e| e.durable.container_id == container_id)
                .map(|e| (f.id.clone(), e.id().clone()))
        })
    }

    pub(crate) fn container_event(&mut self, event: ContainerEvent) {
        match event {
            ContainerEvent::Launched { container_id, pid } => {
                let Some((framework_id, executor_id)) = self.executor_by_container(&container_id)
                else {
                    tracing::warn!("Killing unknown container {container_id}");
                    self.containerizer.destroy(&container_id);
                    return;
                };
                let framework_terminating = self
                    .frameworks
                    .get(&framework_id)
                    .is_some_and(|f| f.state == FrameworkState::Terminating);
                let Some(executor) = self.executor_mut(&framework_id, &executor_id) else {
                    return;
                };
                // The containerizer checkpointed the pid already.
                executor.live.os_pid = Some(pid);
                if executor.state() == ExecutorState::Terminating || framework_terminating {
                    tracing::warn!("Killing executor '{executor_id}' because it is terminating");
                    self.containerizer.destroy(&container_id);
                }
            }
            ContainerEvent::Terminated {
                container_id,
                status,
                launch_error,
            } => {
                self.containerizer.remove(&container_id);
                let Some((framework_id, executor_id)) = self.executor_by_container(&container_id)
                else {
                    return;
                };
                if let Some(error) = launch_error {
                    self.counters.container_launch_errors += 1;
                    if let Some(executor) = self.executor_mut(&framework_id, &executor_id) {
                        executor
                            .live
                            .pending_termination
                            .get_or_insert(PendingTermination {
                                state: TaskState::TaskFailed,
                                reason: Reason::ContainerLaunchFailed as i32,
                                message: format!("Failed to launch container: {error}"),
                            });
                    }
                }
                self.executor_terminated(&framework_id, &executor_id, status);
            }
        }
    }

    /// The executor's process is gone (upstream `executorTerminated`).
    pub(crate) fn executor_terminated(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        status: Option<i32>,
    ) {
        let slave_id = self.slave_id();
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let framework_terminating = framework.state == FrameworkState::Terminating;
        let Some(executor) = framework.executors.get_mut(executor_id) else {
            return;
        };
        if executor.state() == ExecutorState::Terminated {
            return;
        }
        let was_reconnecting = executor.live.reconnecting;
        executor.live.reconnecting = false;
        tracing::info!(
            "Executor '{executor_id}' of framework {framework_id} {}",
            describe_wait_status(status)
        );
        self.counters.executors_terminated += 1;
        executor.live.state = ExecutorState::Terminated;
        // Dropping the sender ends the executor's event stream.
        executor.live.connection = None;
        let generated = executor.durable.generated_for_command_task;
        let pending = executor.live.pending_termination.clone();
        let mut live: Vec<String> = executor
            .durable
            .launched_tasks
            .values()
            .filter(|t| !mesos_proto::is_terminal_state(t.state))
            .map(|t| t.task_id.value.clone())
            .collect();
        live.extend(
            executor
                .live
                .queued_tasks
                .iter()
                .map(|t| t.task_id.value.clone()),
        );

        if !framework_terminating {
            let (state, reason, message) = match pending {
                Some(p) => (p.state, p.reason, p.message),
                None => (
                    TaskState::TaskFailed,
                    Reason::ExecutorTerminated as i32,
                    "Executor terminated".to_string(),
                ),
            };
            let reason = Reason::try_from(reason).unwrap_or(Reason::ExecutorTerminated);
            for task_id in live {
                let update = agent_update(
                    framework_id,
                    &slave_id,
                    &task_id,
                    state,
                    reason,
                    &message,
                    Some(executor_id),
                );
                self.status_update(update, UpdateSource::Agent);
            }
        }
        // The master does not track command executors.
        if !generated {
            self.send_exited_executor(framework_id, executor_id, status.unwrap_or(-1));
        }
        let incomplete = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.executors.get(executor_id))
            .is_some_and(|e| e.incomplete_tasks());
        if self.state == AgentState::Terminating || framework_terminating || !incomplete {
            self.remove_executor(framework_id, executor_id);
        }
        self.remove_framework_if_idle(framework_id);
        if was_reconnecting {
            self.executor_reconnected(framework_id, executor_id);
        }
    }

    /// Moves a terminated executor to the completed list.
    pub(crate) fn remove_executor(&mut self, framework_id: &FrameworkId, executor_id: &ExecutorId) {
        let max = self.flags.max_completed_executors_per_framework;
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        match framework.executors.get(executor_id) {
            Some(e) if e.state() == ExecutorState::Terminated => {}
            _ => return,
        }
        if let Some(executor) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.executors.get(executor_id))
        {
            self.checkpoint_completed(&executor.durable);
        }
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        tracing::info!("Cleaning up executor '{executor_id}' of framework {framework_id}");
        // Sandboxes stay on disk (no garbage collection yet); only the
        // `/files` entry of a run evicted from the completed list goes.
        if let Some(evicted) = framework.destroy_executor(executor_id, max) {
            self.files
                .detach(&evicted.durable.directory.display().to_string());
        }
    }

    pub(crate) fn remove_framework_if_idle(&mut self, framework_id: &FrameworkId) {
        let idle = self.frameworks.get(framework_id).is_some_and(|f| f.idle());
        if !idle {
            return;
        }
        tracing::info!("Cleaning up framework {framework_id}");
        self.sum.cleanup(framework_id.as_str());
        if let Some(framework) = self.frameworks.remove(framework_id) {
            self.completed_frameworks.push_back(framework);
            while self.completed_frameworks.len() > MAX_COMPLETED_FRAMEWORKS {
                self.completed_frameworks.pop_front();
            }
        }
        self.update_drain_status();
        if self.state == AgentState::Terminating && self.frameworks.is_empty() {
            self.done = true;
        }
    }

    pub(crate) fn shutdown_executor_message(
        &mut self,
        from: &Upid,
        message: msgs::ShutdownExecutorMessage,
    ) {
        let framework_id = message
            .framework_id
            .as_ref()
            .map(FrameworkId::from)
            .unwrap_or_default();
        let executor_id = message
            .executor_id
            .as_ref()
            .map(ExecutorId::from)
            .unwrap_or_default();
        if !self.is_master(from) {
            tracing::warn!("Ignoring shutdown executor message for executor '{executor_id}' from {from}: not the registered master");
            return;
        }
        tracing::info!(
            "Asked to shut down executor '{executor_id}' of framework {framework_id} by {from}"
        );
        if self.state != AgentState::Running && self.state != AgentState::Terminating {
            tracing::warn!("Ignoring shutdown executor message because the agent has not yet registered with the master");
            return;
        }
        let state = match self.frameworks.get(&framework_id) {
            Some(f) if f.state == FrameworkState::Running => {
                f.executors.get(&executor_id).map(|e| e.state())
            }
            _ => None,
        };
        match state {
            Some(ExecutorState::Registering | ExecutorState::Running) => {
                self.shutdown_executor(&framework_id, &executor_id)
            }
            other => {
                tracing::warn!("Ignoring shutdown of executor '{executor_id}' in state {other:?}")
            }
        }
    }

    /// Asks the executor to shut down and kills it after its grace period
    /// (upstream `_shutdownExecutor`).
    pub(crate) fn shutdown_executor(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
    ) {
        let flags = self.flags.clone();
        let Some(executor) = self.executor_mut(framework_id, executor_id) else {
            return;
        };
        if !matches!(
            executor.state(),
            ExecutorState::Registering | ExecutorState::Running
        ) {
            return;
        }
        tracing::info!("Shutting down executor '{executor_id}' of framework {framework_id}");
        executor.live.state = ExecutorState::Terminating;
        let grace = shutdown_grace_period(&flags, &executor.durable.info);
        let container_id = executor.durable.container_id.clone();
        // Dropped on the floor if the executor has not subscribed yet.
        self.send_to_executor(framework_id, executor_id, ToExecutor::Shutdown);
        self.schedule(
            grace.0,
            Input::ShutdownExecutorTimeout {
                framework_id: framework_id.clone(),
                executor_id: executor_id.clone(),
                container_id,
            },
        );
    }

    pub(crate) fn shutdown_executor_timeout(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        container_id: &ContainerId,
    ) {
        let Some(executor) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.executors.get(executor_id))
        else {
            return;
        };
        if executor.durable.container_id != *container_id {
            return;
        }
        if executor.state() == ExecutorState::Terminating {
            tracing::info!("Killing executor '{executor_id}' of framework {framework_id}");
            self.containerizer.destroy(container_id.as_str());
        }
    }

    pub(crate) fn executor_registration_timeout(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        container_id: &ContainerId,
    ) {
        let timeout = self.flags.executor_registration_timeout;
        match self.frameworks.get(framework_id) {
            Some(f) if f.state == FrameworkState::Running => {}
            _ => return,
        }
        let Some(executor) = self.executor_mut(framework_id, executor_id) else {
            return;
        };
        if executor.durable.container_id != *container_id
            || executor.state() != ExecutorState::Registering
        {
            return;
        }
        tracing::info!("Terminating executor '{executor_id}' of framework {framework_id} because it did not register within {timeout}");
        executor.live.state = ExecutorState::Terminating;
        executor.live.pending_termination = Some(PendingTermination {
            state: TaskState::TaskFailed,
            reason: Reason::ExecutorRegistrationTimeout as i32,
            message: format!("Executor did not register within {timeout}"),
        });
        self.containerizer.destroy(container_id.as_str());
    }

    /// Sends to a subscribed executor; dropped when it has no connection.
    pub(crate) fn send_to_executor(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        message: ToExecutor,
    ) {
        let slave_id = self.slave_id();
        let Some(framework) = self.frameworks.get(framework_id) else {
            return;
        };
        let Some(executor) = framework.executors.get(executor_id) else {
            return;
        };
        match &executor.live.connection {
            None => {
                tracing::debug!("Dropping {message:?} for executor '{executor_id}': not connected")
            }
            Some(Connection::Http { events, .. }) => {
                let ev = match message {
                    ToExecutor::Launch(task) => ExecutorEvent {
                        launch: Some(event::Launch {
                            task: evolve(&*task),
                        }),
                        ..event(event::Type::Launch)
                    },
                    ToExecutor::LaunchGroup(group) => ExecutorEvent {
                        launch_group: Some(event::LaunchGroup {
                            task_group: evolve(&*group),
                        }),
                        ..event(event::Type::LaunchGroup)
                    },
                    ToExecutor::Kill {
                        task_id,
                        kill_policy,
                    } => ExecutorEvent {
                        kill: Some(event::Kill {
                            task_id: evolve(&task_id),
                            kill_policy: kill_policy.as_ref().map(evolve),
                        }),
                        ..event(event::Type::Kill)
                    },
                    ToExecutor::Acknowledged { task_id, uuid } => ExecutorEvent {
                        acknowledged: Some(event::Acknowledged {
                            task_id: evolve(&task_id),
                            uuid,
                        }),
                        ..event(event::Type::Acknowledged)
                    },
                    ToExecutor::Message(data) => ExecutorEvent {
                        message: Some(event::Message { data }),
                        ..event(event::Type::Message)
                    },
                    ToExecutor::Shutdown => event(event::Type::Shutdown),
                };
                // A closed stream is noticed through ExecutorStreamClosed.
                let _ = events.send(ev);
            }
            Some(Connection::Pid(pid)) => {
                let pid = pid.clone();
                let framework_pid = framework.pid.clone().unwrap_or_default().to_string();
                let fid = framework_id.to_proto();
                let sid = SlaveId { value: slave_id };
                match message {
                    ToExecutor::Launch(task) => self.send(
                        &pid,
                        &msgs::RunTaskMessage {
                            framework: framework.info.clone(),
                            task: *task,
                            pid: Some(framework_pid),
                            ..Default::default()
                        },
                    ),
                    ToExecutor::LaunchGroup(_) => {
                        tracing::error!("Executor '{executor_id}' uses the v0 driver, which cannot run task groups")
                    }
                    ToExecutor::Kill {
                        task_id,
                        kill_policy,
                    } => self.send(
                        &pid,
                        &msgs::KillTaskMessage {
                            framework_id: fid,
                            task_id,
                            kill_policy,
                        },
                    ),
                    ToExecutor::Acknowledged { task_id, uuid } => self.send(
                        &pid,
                        &msgs::StatusUpdateAcknowledgementMessage {
                            slave_id: sid,
                            framework_id: fid,
                            task_id,
                            uuid,
                        },
                    ),
                    ToExecutor::Message(data) => self.send(
                        &pid,
                        &msgs::FrameworkToExecutorMessage {
                            slave_id: sid,
                            framework_id: fid,
                            executor_id: executor_id.to_proto(),
                            data,
                        },
                    ),
                    ToExecutor::Shutdown => {
                        self.send(&pid, &msgs::ShutdownExecutorMessage::default())
                    }
                }
            }
        }
    }

    /// Hands queued tasks to a running executor (upstream `___run`).
    pub(crate) fn deliver_queued(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        tasks: Vec<TaskInfo>,
        groups: Vec<TaskGroupInfo>,
    ) {
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if framework.state == FrameworkState::Terminating {
            return;
        }
        let framework_info = framework.info.clone();
        let Some(executor) = framework.executors.get_mut(executor_id) else {
            return;
        };
        if executor.state() != ExecutorState::Running {
            return;
        }
        let mut outgoing = Vec::new();
        for task in tasks {
            // Killed in the meantime: its update was already sent.
            let Some(task) = executor.live.dequeue_task(&task.task_id.value) else {
                continue;
            };
            executor.durable.add_launched_task(&task, &framework_info);
            tracing::info!(
                "Sending queued task '{}' to executor '{executor_id}'",
                task.task_id.value
            );
            outgoing.push(ToExecutor::Launch(Box::new(task)));
        }
        for group in groups {
            if !group
                .tasks
                .iter()
                .any(|t| executor.live.is_queued(&t.task_id.value))
            {
                continue;
            }
            for task in &group.tasks {
                if let Some(task) = executor.live.dequeue_task(&task.task_id.value) {
                    executor.durable.add_launched_task(&task, &framework_info);
                }
            }
            tracing::info!("Sending queued task group to executor '{executor_id}'");
            outgoing.push(ToExecutor::LaunchGroup(Box::new(group)));
        }
        for message in outgoing {
            self.send_to_executor(framework_id, executor_id, message);
        }
    }

    /// The queued tasks, split into lone tasks and task groups.
    fn split_queued(executor: &Executor) -> (Vec<TaskInfo>, Vec<TaskGroupInfo>) {
        let queue = &executor.live;
        let grouped = |t: &TaskInfo| {
            queue
                .queued_task_groups
                .iter()
                .any(|g| g.tasks.iter().any(|x| x.task_id == t.task_id))
        };
        let single = queue
            .queued_tasks
            .iter()
            .filter(|t| !grouped(t))
            .cloned()
            .collect();
        (single, queue.queued_task_groups.clone())
    }

    /// A v0 executor driver registers (upstream `registerExecutor`).
    pub(crate) fn register_executor(
        &mut self,
        from: &Upid,
        message: msgs::RegisterExecutorMessage,
    ) {
        let framework_id = FrameworkId::from(&message.framework_id);
        let executor_id = ExecutorId::from(&message.executor_id);
        tracing::info!(
            "Got registration for executor '{executor_id}' of framework {framework_id} from {from}"
        );
        let shutdown = |agent: &Agent, why: &str| {
            tracing::warn!(
                "Shutting down executor '{executor_id}' of framework {framework_id}: {why}"
            );
            agent.send(from, &msgs::ShutdownExecutorMessage::default());
        };
        if self.state == AgentState::Terminating {
            return shutdown(self, "the agent is terminating");
        }
        let state = match self.frameworks.get(&framework_id) {
            None => return shutdown(self, "the framework does not exist"),
            Some(f) if f.state == FrameworkState::Terminating => {
                return shutdown(self, "the framework is terminating")
            }
            Some(f) => f.executors.get(&executor_id).map(|e| e.state()),
        };
        match state {
            None => shutdown(self, "unknown executor"),
            Some(ExecutorState::Registering) => {
                let info = self.info.clone();
                let Some(framework) = self.frameworks.get_mut(&framework_id) else {
                    return;
                };
                let framework_info = framework.info.clone();
                let Some(executor) = framework.executors.get_mut(&executor_id) else {
                    return;
                };
                executor.live.state = ExecutorState::Running;
                executor.live.connection = Some(Connection::Pid(from.clone()));
                self.out.link(from);
                let executor = &self.frameworks[&framework_id].executors[&executor_id];
                self.checkpoint_connection(&executor.durable, Some(from));
                if !executor.durable.ever_sent_task() && executor.live.queued_tasks.is_empty() {
                    tracing::warn!("Shutting down registering executor '{executor_id}' because it has no tasks to run");
                    self.shutdown_executor(&framework_id, &executor_id);
                    return;
                }
                let registered = msgs::ExecutorRegisteredMessage {
                    executor_info: executor.durable.info.clone(),
                    framework_id: message.framework_id.clone(),
                    framework_info,
                    slave_id: info.id.clone().unwrap_or_default(),
                    slave_info: info,
                };
                let (single, groups) = Self::split_queued(executor);
                self.send(from, &registered);
                self.deliver_queued(&framework_id, &executor_id, single, groups);
            }
            Some(state) => shutdown(self, &format!("it is in unexpected state {}", state.name())),
        }
    }

    /// A v1 executor API call (the HTTP handler already validated it).
    pub(crate) fn executor_call(
        &mut self,
        call: ExecutorCall,
        principal: Option<&ExecutorPrincipal>,
    ) -> CallReply {
        let framework_id = FrameworkId::new(&call.framework_id.value);
        let executor_id = ExecutorId::new(&call.executor_id.value);
        let kind = call
            .r#type
            .and_then(|t| call::Type::try_from(t).ok())
            .unwrap_or(call::Type::Unknown);
        let Some(framework) = self.frameworks.get(&framework_id) else {
            return CallReply::Error(CallError::Invalid("Framework cannot be found".into()));
        };
        let Some(executor) = framework.executors.get(&executor_id) else {
            return CallReply::Error(CallError::Invalid("Executor cannot be found".into()));
        };
        let registering = executor.state() == ExecutorState::Registering;
        let task_id = call.update.as_ref().map(|u| u.status.task_id.value.clone());
        // The token's claims first (upstream's order), then, beyond
        // upstream, an update or message only over the executor's own live
        // subscription and only for its own tasks.
        if let Err(why) = self.executor_call_allowed(
            framework_id.as_str(),
            executor_id.as_str(),
            principal,
            task_id.as_deref(),
            kind,
        ) {
            return CallReply::Error(CallError::Forbidden(why));
        }
        if registering && kind != call::Type::Subscribe {
            return CallReply::Error(CallError::Forbidden("Executor is not subscribed".into()));
        }
        match kind {
            call::Type::Subscribe => {
                let subscribe = call.subscribe.unwrap_or_default();
                self.subscribe(&framework_id, &executor_id, subscribe)
            }
            call::Type::Update => {
                let Some(update) = call.update else {
                    return CallReply::Error(CallError::Invalid(
                        "Expecting 'update' to be present".into(),
                    ));
                };
                let update = executor_update(
                    &devolve(&call.framework_id),
                    devolve(&update.status),
                    &self.slave_id(),
                );
                self.status_update(update, UpdateSource::HttpExecutor);
                CallReply::Accepted
            }
            call::Type::Message => {
                let data = call.message.map(|m| m.data).unwrap_or_default();
                self.executor_message(&framework_id, &executor_id, data);
                CallReply::Accepted
            }
            call::Type::Heartbeat => CallReply::Accepted,
            call::Type::Unknown => CallReply::Error(CallError::NotImplemented),
        }
    }

    /// SUBSCRIBE: opens the executor's event stream (upstream `subscribe`).
    fn subscribe(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        subscribe: call::Subscribe,
    ) -> CallReply {
        tracing::info!("Received Subscribe request for HTTP executor '{executor_id}' of framework {framework_id}");
        let connection_id = self.next_connection_id;
        self.next_connection_id += 1;
        let (events, rx) = mpsc::unbounded_channel();
        let body = ExecutorStream {
            events: rx,
            closed: StreamClosed::new(self.inbox.clone(), framework_id, executor_id, connection_id),
        };

        let framework_terminating = self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.state == FrameworkState::Terminating);
        let agent_terminating = self.state == AgentState::Terminating;
        let Some(executor) = self.executor_mut(framework_id, executor_id) else {
            return CallReply::Error(CallError::Invalid("Executor cannot be found".into()));
        };
        let terminal = matches!(
            executor.state(),
            ExecutorState::Terminating | ExecutorState::Terminated
        );
        if agent_terminating || framework_terminating || terminal {
            tracing::warn!("Shutting down executor '{executor_id}': the agent, framework or executor is terminating");
            let _ = events.send(event(event::Type::Shutdown));
            return CallReply::Stream(body);
        }
        if executor.live.connection.is_some() {
            tracing::warn!("Closing already existing connection from executor '{executor_id}'");
        }
        executor.live.state = ExecutorState::Running;
        executor.live.connection = Some(Connection::Http {
            id: connection_id,
            events,
        });
        if let Some(executor) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.executors.get(executor_id))
        {
            self.checkpoint_connection(&executor.durable, None);
        }

        let slave_id = self.slave_id();
        let call_framework = framework_id.to_proto();
        for update in subscribe.unacknowledged_updates {
            let update = executor_update(&call_framework, devolve(&update.status), &slave_id);
            self.status_update(update, UpdateSource::HttpExecutor);
        }
        let unacked: Vec<String> = subscribe
            .unacknowledged_tasks
            .iter()
            .map(|t| t.task_id.value.clone())
            .collect();
        let Some(framework) = self.frameworks.get(framework_id) else {
            return CallReply::Stream(body);
        };
        let dropped_state = if super::state::has_capability(
            &framework.info,
            mesos_proto::mesos::framework_info::capability::Type::PartitionAware,
        ) {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        let staging: Vec<String> = framework
            .executors
            .get(executor_id)
            .map(|e| {
                e.durable
                    .launched_tasks
                    .values()
                    .filter(|t| {
                        t.state == TaskState::TaskStaging as i32
                            && !unacked.contains(&t.task_id.value)
                    })
                    .map(|t| t.task_id.value.clone())
                    .collect()
            })
            .unwrap_or_default();
        for task_id in staging {
            let update = agent_update(
                framework_id,
                &slave_id,
                &task_id,
                dropped_state,
                Reason::SlaveRestarted,
                "Task launched during agent restart",
                Some(executor_id),
            );
            self.status_update(update, UpdateSource::Agent);
        }

        let Some(framework) = self.frameworks.get(framework_id) else {
            return CallReply::Stream(body);
        };
        let Some(executor) = framework.executors.get(executor_id) else {
            return CallReply::Stream(body);
        };
        if !executor.durable.ever_sent_task() && executor.live.queued_tasks.is_empty() {
            tracing::warn!(
                "Shutting down executor '{executor_id}' because it has never been sent a task and all of \
                 its queued tasks have been killed before delivery"
            );
            self.shutdown_executor(framework_id, executor_id);
            return CallReply::Stream(body);
        }
        let subscribed = ExecutorEvent {
            subscribed: Some(event::Subscribed {
                executor_info: evolve(&executor.durable.info),
                framework_info: evolve(&framework.info),
                agent_info: evolve::<_, v1::AgentInfo>(&self.info),
                container_id: Some(v1::ContainerId {
                    value: executor.durable.container_id.to_string(),
                    parent: None,
                }),
            }),
            ..event(event::Type::Subscribed)
        };
        if let Some(Connection::Http { events, .. }) = &executor.live.connection {
            let _ = events.send(subscribed);
        }
        let (single, groups) = Self::split_queued(executor);
        self.deliver_queued(framework_id, executor_id, single, groups);
        self.executor_reconnected(framework_id, executor_id);
        CallReply::Stream(body)
    }

    pub(crate) fn executor_stream_closed(
        &mut self,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        connection_id: u64,
    ) {
        let Some(executor) = self.executor_mut(framework_id, executor_id) else {
            return;
        };
        if matches!(&executor.live.connection, Some(Connection::Http { id, .. }) if *id == connection_id)
        {
            tracing::info!(
                "Closed HTTP connection of executor '{executor_id}' of framework {framework_id}"
            );
            executor.live.connection = None;
        }
    }
}

/// `WSTRINGIFY`-like text for logs.
fn describe_wait_status(status: Option<i32>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        None => "has terminated with unknown status".to_string(),
        Some(raw) => {
            let s = std::process::ExitStatus::from_raw(raw);
            match (s.code(), s.signal()) {
                (Some(code), _) => format!("exited with status {code}"),
                (_, Some(signal)) => format!("terminated with signal {signal}"),
                _ => format!("terminated with wait status {raw}"),
            }
        }
    }
}

/// The user whose sandbox an executor's is: its command's, else its
/// framework's (upstream's object of `access_sandboxes`).
pub(crate) fn sandbox_owner(
    info: &mesos_proto::mesos::ExecutorInfo,
    framework_user: &str,
) -> String {
    info.command
        .as_ref()
        .and_then(|c| c.user.clone())
        .unwrap_or_else(|| framework_user.to_string())
}
