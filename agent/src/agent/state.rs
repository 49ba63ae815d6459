//! The agent's bookkeeping of frameworks, executors and tasks (upstream
//! `Framework` and `Executor` in `slave/slave.hpp`).
//!
//! Pure data and the state transitions that upstream keeps on these structs:
//! queueing tasks until the executor subscribes, moving tasks between
//! queued → launched → terminated → completed as updates arrive, and the
//! resource accounting. It never sends anything or starts processes.
//!
//! An executor is two parts: its [`ExecutorRecord`] (what the checkpoint
//! under `meta/` holds and recovery rebuilds) and its [`ExecutorLive`]
//! (connection, process, queued tasks, lifecycle state), which only the
//! running actor has. Recovery builds records first and then attaches live
//! handles.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use libprocess::Upid;
use mesos_proto::ids::{ContainerId, ExecutorId, FrameworkId, TaskId};
use mesos_proto::is_terminal_state;
use mesos_proto::mesos::framework_info::capability::Type as FrameworkCapability;
use mesos_proto::mesos::v1::executor::Event as ExecutorEvent;
use mesos_proto::mesos::{
    ExecutorInfo, FrameworkInfo, Resource, Task, TaskGroupInfo, TaskInfo, TaskState, TaskStatus,
};
use mesos_proto::resources::Resources;
use tokio::sync::mpsc;

/// `MAX_COMPLETED_TASKS_PER_EXECUTOR`.
pub const MAX_COMPLETED_TASKS_PER_EXECUTOR: usize = 200;
/// `MAX_COMPLETED_FRAMEWORKS`.
pub const MAX_COMPLETED_FRAMEWORKS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameworkState {
    Running,
    Terminating,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorState {
    /// Launched (or launching); waiting for SUBSCRIBE / registration.
    Registering,
    Running,
    /// Asked to shut down; killed after the grace period.
    Terminating,
    /// The process is gone; kept until its tasks' updates are acknowledged.
    Terminated,
}

impl ExecutorState {
    pub fn name(&self) -> &'static str {
        match self {
            ExecutorState::Registering => "REGISTERING",
            ExecutorState::Running => "RUNNING",
            ExecutorState::Terminating => "TERMINATING",
            ExecutorState::Terminated => "TERMINATED",
        }
    }
}

/// How the agent talks to a subscribed executor.
#[derive(Debug, Clone)]
pub enum Connection {
    /// v1 HTTP executor: events go to the stream of its SUBSCRIBE call.
    Http {
        id: u64,
        events: mpsc::UnboundedSender<ExecutorEvent>,
    },
    /// v0 executor driver: libprocess messages to its pid.
    Pid(Upid),
}

/// Why an executor ended, when the agent decided it before the process did.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTermination {
    pub state: TaskState,
    pub reason: i32,
    pub message: String,
}

/// The part of an executor that `meta/` checkpoints hold and recovery
/// rebuilds: what it is, where it runs, and its launched, terminated and
/// completed tasks. Never holds a process, connection or timer, so what a
/// recovery rebuilt can be compared with what was checkpointed.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorRecord {
    pub id: ExecutorId,
    pub framework_id: FrameworkId,
    pub info: ExecutorInfo,
    pub container_id: ContainerId,
    /// The run's sandbox (derived from the ids above).
    pub directory: PathBuf,
    /// Whether its framework checkpoints (only then is any of this written).
    pub checkpoint: bool,
    /// True for command executors the agent made for a command task
    /// (derived from `info`).
    pub generated_for_command_task: bool,
    pub launched_tasks: BTreeMap<TaskId, Task>,
    /// Terminal tasks whose updates are not all acknowledged yet.
    pub terminated_tasks: BTreeMap<TaskId, Task>,
    pub completed_tasks: VecDeque<Task>,
}

impl ExecutorRecord {
    pub fn new(
        framework_id: FrameworkId,
        info: ExecutorInfo,
        container_id: ContainerId,
        directory: PathBuf,
        checkpoint: bool,
        generated_for_command_task: bool,
    ) -> Self {
        ExecutorRecord {
            id: ExecutorId::from(&info.executor_id),
            framework_id,
            info,
            container_id,
            directory,
            checkpoint,
            generated_for_command_task,
            launched_tasks: BTreeMap::new(),
            terminated_tasks: BTreeMap::new(),
            completed_tasks: VecDeque::new(),
        }
    }

    pub fn add_launched_task(&mut self, task: &TaskInfo, framework: &FrameworkInfo) {
        let t = create_task(task, TaskState::TaskStaging, framework);
        self.launched_tasks.insert(TaskId::from(&task.task_id), t);
    }

    /// The checkpoint paths of this executor's run.
    pub fn run_ids<'a>(&'a self, slave_id: &'a str) -> crate::paths::RunIds<'a> {
        crate::paths::RunIds {
            slave_id,
            framework_id: self.framework_id.as_str(),
            executor_id: self.id.as_str(),
            container_id: self.container_id.as_str(),
        }
    }

    /// Applies a status to a launched or terminated task (upstream
    /// `Executor::updateTaskState` for tasks past the queue).
    pub fn update_task_state(&mut self, status: &TaskStatus) -> Result<(), String> {
        let task_id = status.task_id.value.as_str();
        if let Some(task) = self.launched_tasks.remove(task_id) {
            self.update_launched_task(task, status);
            return Ok(());
        }
        match self.terminated_tasks.get(task_id) {
            Some(task) => Err(format!(
                "Task {task_id} is already terminated with state {}",
                state_name(task.state)
            )),
            None => Err(format!("Task {task_id} is unknown to executor {}", self.id)),
        }
    }

    fn update_launched_task(&mut self, mut task: Task, status: &TaskStatus) {
        let task_id = TaskId::from(&status.task_id);
        task.state = status.state;
        let mut stored = status.clone();
        // Like upstream: the task keeps its statuses without their data.
        stored.data = None;
        task.statuses.push(stored);
        if is_terminal_state(status.state) {
            self.terminated_tasks.insert(task_id, task);
        } else {
            self.launched_tasks.insert(task_id, task);
        }
    }

    /// A terminated task's updates are all acknowledged.
    pub fn complete_task(&mut self, task_id: &str) {
        if let Some(task) = self.terminated_tasks.remove(task_id) {
            self.completed_tasks.push_back(task);
            while self.completed_tasks.len() > MAX_COMPLETED_TASKS_PER_EXECUTOR {
                self.completed_tasks.pop_front();
            }
        }
    }

    /// Whether any task was ever handed to the executor: one is launched, or
    /// a finished one has a status from the executor (tasks killed before
    /// delivery only have agent-made statuses).
    pub fn ever_sent_task(&self) -> bool {
        let from_executor = |t: &Task| {
            t.statuses
                .iter()
                .any(|s| s.source == Some(mesos_proto::mesos::task_status::Source::Executor as i32))
        };
        !self.launched_tasks.is_empty()
            || self.terminated_tasks.values().any(from_executor)
            || self.completed_tasks.iter().any(from_executor)
    }
}

/// The part of an executor that lives only as long as this agent process:
/// its lifecycle state, its connection, its OS process, why it is being
/// ended, and the tasks waiting for it to subscribe. Recovery attaches a
/// fresh one to each rebuilt [`ExecutorRecord`].
#[derive(Debug)]
pub struct ExecutorLive {
    pub state: ExecutorState,
    pub connection: Option<Connection>,
    /// The user the executor runs as (`--switch_user`), for its launch.
    pub user: Option<String>,
    /// Tasks waiting for the executor, in arrival order.
    pub queued_tasks: Vec<TaskInfo>,
    pub queued_task_groups: Vec<TaskGroupInfo>,
    pub pending_termination: Option<PendingTermination>,
    /// The executor's OS process id, once launched (or recovered).
    pub os_pid: Option<i32>,
    /// Recovered after an agent restart and not reconnected yet.
    pub reconnecting: bool,
}

impl ExecutorLive {
    pub fn new(user: Option<String>) -> Self {
        ExecutorLive {
            state: ExecutorState::Registering,
            connection: None,
            user,
            queued_tasks: Vec::new(),
            queued_task_groups: Vec::new(),
            pending_termination: None,
            os_pid: None,
            reconnecting: false,
        }
    }

    /// The handles of an executor recovered from its checkpoint: it is
    /// reconnecting, with the process the checkpoint names (if any).
    pub fn recovered(os_pid: Option<i32>) -> Self {
        ExecutorLive {
            os_pid,
            reconnecting: true,
            ..ExecutorLive::new(None)
        }
    }

    pub fn enqueue_task(&mut self, task: TaskInfo) {
        self.queued_tasks.push(task);
    }

    pub fn enqueue_task_group(&mut self, group: TaskGroupInfo) {
        self.queued_tasks.extend(group.tasks.iter().cloned());
        self.queued_task_groups.push(group);
    }

    pub fn is_queued(&self, task_id: &str) -> bool {
        self.queued_tasks.iter().any(|t| t.task_id.value == task_id)
    }

    /// The queued group holding `task_id`, if the task came in a group.
    pub fn queued_task_group(&self, task_id: &str) -> Option<&TaskGroupInfo> {
        self.queued_task_groups
            .iter()
            .find(|g| g.tasks.iter().any(|t| t.task_id.value == task_id))
    }

    /// Removes a queued task (and its group once the group is empty).
    pub fn dequeue_task(&mut self, task_id: &str) -> Option<TaskInfo> {
        let index = self
            .queued_tasks
            .iter()
            .position(|t| t.task_id.value == task_id)?;
        let task = self.queued_tasks.remove(index);
        let queued = &self.queued_tasks;
        self.queued_task_groups.retain(|g| {
            g.tasks
                .iter()
                .any(|t| queued.iter().any(|q| q.task_id == t.task_id))
        });
        Some(task)
    }
}

/// An executor: its durable record and its live handles.
#[derive(Debug)]
pub struct Executor {
    pub durable: ExecutorRecord,
    pub live: ExecutorLive,
}

impl Executor {
    pub fn new(
        framework_id: FrameworkId,
        info: ExecutorInfo,
        container_id: ContainerId,
        directory: PathBuf,
        user: Option<String>,
        checkpoint: bool,
        generated_for_command_task: bool,
    ) -> Self {
        Executor {
            durable: ExecutorRecord::new(
                framework_id,
                info,
                container_id,
                directory,
                checkpoint,
                generated_for_command_task,
            ),
            live: ExecutorLive::new(user),
        }
    }

    pub fn id(&self) -> &ExecutorId {
        &self.durable.id
    }

    pub fn state(&self) -> ExecutorState {
        self.live.state
    }

    pub fn has_task(&self, task_id: &str) -> bool {
        self.live.is_queued(task_id)
            || self.durable.launched_tasks.contains_key(task_id)
            || self.durable.terminated_tasks.contains_key(task_id)
    }

    /// Applies a status to its task (upstream `Executor::updateTaskState`):
    /// a queued task is launched by it, a launched one moves on.
    pub fn update_task_state(
        &mut self,
        status: &TaskStatus,
        framework: &FrameworkInfo,
    ) -> Result<(), String> {
        match self.live.dequeue_task(&status.task_id.value) {
            Some(info) => {
                let task = create_task(&info, TaskState::TaskStaging, framework);
                self.durable.update_launched_task(task, status);
                Ok(())
            }
            None => self.durable.update_task_state(status),
        }
    }

    /// Tasks that are not yet completed.
    pub fn incomplete_tasks(&self) -> bool {
        !self.live.queued_tasks.is_empty()
            || !self.durable.launched_tasks.is_empty()
            || !self.durable.terminated_tasks.is_empty()
    }

    /// The executor's own resources plus those of its live tasks.
    pub fn allocated_resources(&self) -> Resources {
        let mut r = Resources::from_v0(&self.durable.info.resources);
        for task in &self.live.queued_tasks {
            r += Resources::from_v0(&task.resources);
        }
        for task in self.durable.launched_tasks.values() {
            if !is_terminal_state(task.state) {
                r += Resources::from_v0(&task.resources);
            }
        }
        r
    }
}

#[derive(Debug)]
pub struct Framework {
    pub id: FrameworkId,
    /// Checkpointed (with `pid`) for checkpointing frameworks.
    pub info: FrameworkInfo,
    /// The v0 scheduler's pid; `None` for HTTP schedulers.
    pub pid: Option<Upid>,
    pub state: FrameworkState,
    pub executors: BTreeMap<ExecutorId, Executor>,
    pub completed_executors: VecDeque<Executor>,
}

impl Framework {
    pub fn new(info: FrameworkInfo, pid: Option<Upid>) -> Self {
        Framework {
            id: info.id.as_ref().map(FrameworkId::from).unwrap_or_default(),
            info,
            pid,
            state: FrameworkState::Running,
            executors: BTreeMap::new(),
            completed_executors: VecDeque::new(),
        }
    }

    pub fn has_capability(&self, capability: FrameworkCapability) -> bool {
        has_capability(&self.info, capability)
    }

    /// The executor that holds `task_id` (queued, launched or terminated).
    pub fn executor_id_for_task(&self, task_id: &str) -> Option<ExecutorId> {
        // A command executor's id is its task's id: look there first so the
        // common case does not scan every executor of the framework.
        if let Some(e) = self.executors.get(task_id).filter(|e| e.has_task(task_id)) {
            return Some(e.id().clone());
        }
        self.executors
            .values()
            .find(|e| e.has_task(task_id))
            .map(|e| e.id().clone())
    }

    pub fn has_task(&self, task_id: &str) -> bool {
        self.executor_id_for_task(task_id).is_some()
    }

    /// No executors left: the framework can be removed.
    pub fn idle(&self) -> bool {
        self.executors.is_empty()
    }

    pub fn allocated_resources(&self) -> Resources {
        let mut r = Resources::new();
        for e in self.executors.values() {
            r += e.allocated_resources();
        }
        r
    }

    /// Moves an executor to the completed list; returns one evicted from
    /// that bounded list, if any.
    pub fn destroy_executor(
        &mut self,
        executor_id: &ExecutorId,
        max_completed: usize,
    ) -> Option<Executor> {
        let executor = self.executors.remove(executor_id)?;
        self.completed_executors.push_back(executor);
        if self.completed_executors.len() > max_completed {
            return self.completed_executors.pop_front();
        }
        None
    }
}

pub fn has_capability(info: &FrameworkInfo, capability: FrameworkCapability) -> bool {
    info.capabilities
        .iter()
        .any(|c| c.r#type == Some(capability as i32))
}

pub fn state_name(state: i32) -> &'static str {
    TaskState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("TASK_UNKNOWN")
}

/// The agent's record of a task (upstream `protobuf::createTask`).
pub fn create_task(task: &TaskInfo, state: TaskState, framework: &FrameworkInfo) -> Task {
    Task {
        name: task.name.clone(),
        task_id: task.task_id.clone(),
        framework_id: framework.id.clone().unwrap_or_default(),
        executor_id: task.executor.as_ref().map(|e| e.executor_id.clone()),
        slave_id: task.slave_id.clone(),
        state: state as i32,
        resources: task.resources.clone(),
        statuses: Vec::new(),
        status_update_state: None,
        status_update_uuid: None,
        labels: task.labels.clone(),
        discovery: task.discovery.clone().map(Box::new),
        container: task.container.clone().map(Box::new),
        health_check: task.health_check.clone().map(Box::new),
        kill_policy: task.kill_policy,
        user: task.command.as_ref().and_then(|c| c.user.clone()),
        limits: task.limits.clone(),
    }
}

/// Gives every resource without `allocation_info` the framework's only role
/// (upstream `injectAllocationInfo`; old masters omit it).
#[allow(deprecated)] // `FrameworkInfo.role` is how single-role frameworks name their role.
pub fn inject_allocation_info(resources: &mut [Resource], framework: &FrameworkInfo) {
    let role = if has_capability(framework, FrameworkCapability::MultiRole) {
        match framework.roles.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        }
    } else {
        Some(framework.role.clone().unwrap_or_else(|| "*".to_string()))
    };
    let Some(role) = role else { return };
    for resource in resources {
        if resource.allocation_info.is_none() {
            resource.allocation_info = Some(mesos_proto::mesos::resource::AllocationInfo {
                role: Some(role.clone()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos;

    fn framework() -> FrameworkInfo {
        FrameworkInfo {
            id: Some(mesos::FrameworkId { value: "F".into() }),
            ..Default::default()
        }
    }

    fn task(id: &str) -> TaskInfo {
        TaskInfo {
            task_id: mesos::TaskId { value: id.into() },
            resources: Resources::parse("cpus:1;mem:10", "*").unwrap().to_v0(),
            ..Default::default()
        }
    }

    fn status(id: &str, state: TaskState) -> TaskStatus {
        TaskStatus {
            task_id: mesos::TaskId { value: id.into() },
            state: state as i32,
            data: Some(b"payload".to_vec()),
            ..Default::default()
        }
    }

    fn executor() -> Executor {
        let info = ExecutorInfo {
            executor_id: mesos::ExecutorId { value: "E".into() },
            resources: Resources::parse("cpus:0.1;mem:32", "*").unwrap().to_v0(),
            ..Default::default()
        };
        Executor::new(
            FrameworkId::new("F"),
            info,
            ContainerId::new("C"),
            PathBuf::from("/tmp"),
            None,
            false,
            true,
        )
    }

    #[test]
    fn tasks_move_from_queued_to_completed() {
        let fw = framework();
        let mut e = executor();
        e.live.enqueue_task(task("t1"));
        assert!(e.live.is_queued("t1"));
        assert!(!e.durable.ever_sent_task());
        assert_eq!(e.allocated_resources().scalar("cpus"), 1.1);

        let info = e.live.dequeue_task("t1").unwrap();
        e.durable.add_launched_task(&info, &fw);
        assert!(e.durable.ever_sent_task());
        assert_eq!(
            e.durable.launched_tasks["t1"].state,
            TaskState::TaskStaging as i32
        );

        e.update_task_state(&status("t1", TaskState::TaskRunning), &fw)
            .unwrap();
        assert_eq!(
            e.durable.launched_tasks["t1"].state,
            TaskState::TaskRunning as i32
        );
        assert_eq!(
            e.durable.launched_tasks["t1"].statuses[0].data, None,
            "data is dropped"
        );

        e.update_task_state(&status("t1", TaskState::TaskFinished), &fw)
            .unwrap();
        assert!(e.durable.terminated_tasks.contains_key("t1"));
        assert_eq!(e.allocated_resources().scalar("cpus"), 0.1);
        assert!(e
            .update_task_state(&status("t1", TaskState::TaskFailed), &fw)
            .is_err());
        assert!(e.incomplete_tasks());

        e.durable.complete_task("t1");
        assert!(!e.incomplete_tasks());
        assert_eq!(e.durable.completed_tasks.len(), 1);
    }

    #[test]
    fn terminal_update_for_a_queued_task_dequeues_it() {
        let fw = framework();
        let mut e = executor();
        e.live.enqueue_task_group(TaskGroupInfo {
            tasks: vec![task("a"), task("b")],
        });
        assert!(e.live.queued_task_group("a").is_some());
        e.update_task_state(&status("a", TaskState::TaskKilled), &fw)
            .unwrap();
        assert!(!e.live.is_queued("a"));
        assert!(e.durable.terminated_tasks.contains_key("a"));
        assert_eq!(
            e.live.queued_task_groups.len(),
            1,
            "group stays while b is queued"
        );
        e.update_task_state(&status("b", TaskState::TaskKilled), &fw)
            .unwrap();
        assert!(e.live.queued_task_groups.is_empty());
    }

    #[test]
    fn completed_executors_are_bounded() {
        let mut f = Framework::new(framework(), None);
        for i in 0..3 {
            let mut e = executor();
            e.durable.id = ExecutorId::from(format!("E{i}"));
            f.executors.insert(e.id().clone(), e);
        }
        assert!(f.destroy_executor(&"E0".into(), 2).is_none());
        assert!(f.destroy_executor(&"E1".into(), 2).is_none());
        assert_eq!(
            f.destroy_executor(&"E2".into(), 2).map(|e| e.durable.id),
            Some(ExecutorId::new("E0"))
        );
        assert!(f.idle());
    }

    #[test]
    #[allow(deprecated)]
    fn allocation_info_is_injected_for_single_role_frameworks() {
        let mut fw = framework();
        fw.role = Some("web".into());
        let mut resources = task("t").resources;
        inject_allocation_info(&mut resources, &fw);
        assert!(resources.iter().all(|r| r
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
            == Some("web")));
    }
}
