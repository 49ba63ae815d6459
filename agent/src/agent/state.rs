//! The agent's bookkeeping of frameworks, executors and tasks (upstream
//! `Framework` and `Executor` in `slave/slave.hpp`).
//!
//! Pure data and the state transitions that upstream keeps on these structs:
//! queueing tasks until the executor subscribes, moving tasks between
//! queued → launched → terminated → completed as updates arrive, and the
//! resource accounting. It never sends anything or starts processes.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use libprocess::Upid;
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

#[derive(Debug)]
pub struct Executor {
    pub id: String,
    pub framework_id: String,
    pub info: ExecutorInfo,
    pub container_id: String,
    pub directory: PathBuf,
    pub user: Option<String>,
    pub checkpoint: bool,
    pub state: ExecutorState,
    pub connection: Option<Connection>,
    /// Tasks waiting for the executor, in arrival order.
    pub queued_tasks: Vec<TaskInfo>,
    pub queued_task_groups: Vec<TaskGroupInfo>,
    pub launched_tasks: BTreeMap<String, Task>,
    /// Terminal tasks whose updates are not all acknowledged yet.
    pub terminated_tasks: BTreeMap<String, Task>,
    pub completed_tasks: VecDeque<Task>,
    /// True for command executors the agent made for a command task.
    pub generated_for_command_task: bool,
    pub pending_termination: Option<PendingTermination>,
    /// The executor's OS process id, once launched.
    pub os_pid: Option<i32>,
    /// Recovered after an agent restart and not reconnected yet.
    pub reconnecting: bool,
}

impl Executor {
    pub fn new(
        framework_id: &str,
        info: ExecutorInfo,
        container_id: String,
        directory: PathBuf,
        user: Option<String>,
        checkpoint: bool,
        generated_for_command_task: bool,
    ) -> Self {
        Executor {
            id: info.executor_id.value.clone(),
            framework_id: framework_id.to_string(),
            info,
            container_id,
            directory,
            user,
            checkpoint,
            state: ExecutorState::Registering,
            connection: None,
            queued_tasks: Vec::new(),
            queued_task_groups: Vec::new(),
            launched_tasks: BTreeMap::new(),
            terminated_tasks: BTreeMap::new(),
            completed_tasks: VecDeque::new(),
            generated_for_command_task,
            pending_termination: None,
            os_pid: None,
            reconnecting: false,
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

    pub fn add_launched_task(&mut self, task: &TaskInfo, framework: &FrameworkInfo) {
        let t = create_task(task, TaskState::TaskStaging, framework);
        self.launched_tasks.insert(task.task_id.value.clone(), t);
    }

    /// The checkpoint paths of this executor's run.
    pub fn run_ids<'a>(&'a self, slave_id: &'a str) -> crate::paths::RunIds<'a> {
        crate::paths::RunIds {
            slave_id,
            framework_id: &self.framework_id,
            executor_id: &self.id,
            container_id: &self.container_id,
        }
    }

    pub fn has_task(&self, task_id: &str) -> bool {
        self.is_queued(task_id)
            || self.launched_tasks.contains_key(task_id)
            || self.terminated_tasks.contains_key(task_id)
    }

    /// Applies a status to its task (upstream `Executor::updateTaskState`).
    pub fn update_task_state(
        &mut self,
        status: &TaskStatus,
        framework: &FrameworkInfo,
    ) -> Result<(), String> {
        let task_id = status.task_id.value.clone();
        let terminal = is_terminal_state(status.state);
        let mut task = if let Some(info) = self.dequeue_task(&task_id) {
            create_task(&info, TaskState::TaskStaging, framework)
        } else if let Some(task) = self.launched_tasks.remove(&task_id) {
            task
        } else if let Some(task) = self.terminated_tasks.get(&task_id) {
            return Err(format!(
                "Task {task_id} is already terminated with state {}",
                state_name(task.state)
            ));
        } else {
            return Err(format!("Task {task_id} is unknown to executor {}", self.id));
        };
        task.state = status.state;
        let mut stored = status.clone();
        // Like upstream: the task keeps its statuses without their data.
        stored.data = None;
        task.statuses.push(stored);
        if terminal {
            self.terminated_tasks.insert(task_id, task);
        } else {
            self.launched_tasks.insert(task_id, task);
        }
        Ok(())
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

    /// Tasks that are not yet completed.
    pub fn incomplete_tasks(&self) -> bool {
        !self.queued_tasks.is_empty()
            || !self.launched_tasks.is_empty()
            || !self.terminated_tasks.is_empty()
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

    /// The executor's own resources plus those of its live tasks.
    pub fn allocated_resources(&self) -> Resources {
        let mut r = Resources::from_v0(&self.info.resources);
        for task in &self.queued_tasks {
            r += Resources::from_v0(&task.resources);
        }
        for task in self.launched_tasks.values() {
            if !is_terminal_state(task.state) {
                r += Resources::from_v0(&task.resources);
            }
        }
        r
    }
}

#[derive(Debug)]
pub struct Framework {
    pub info: FrameworkInfo,
    /// The v0 scheduler's pid; `None` for HTTP schedulers.
    pub pid: Option<Upid>,
    pub state: FrameworkState,
    pub executors: BTreeMap<String, Executor>,
    pub completed_executors: VecDeque<Executor>,
}

impl Framework {
    pub fn new(info: FrameworkInfo, pid: Option<Upid>) -> Self {
        Framework {
            info,
            pid,
            state: FrameworkState::Running,
            executors: BTreeMap::new(),
            completed_executors: VecDeque::new(),
        }
    }

    pub fn id(&self) -> String {
        self.info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default()
    }

    pub fn has_capability(&self, capability: FrameworkCapability) -> bool {
        has_capability(&self.info, capability)
    }

    /// The executor that holds `task_id` (queued, launched or terminated).
    pub fn executor_id_for_task(&self, task_id: &str) -> Option<String> {
        // A command executor's id is its task's id: look there first so the
        // common case does not scan every executor of the framework.
        if let Some(e) = self.executors.get(task_id).filter(|e| e.has_task(task_id)) {
            return Some(e.id.clone());
        }
        self.executors
            .values()
            .find(|e| e.has_task(task_id))
            .map(|e| e.id.clone())
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
        executor_id: &str,
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
        discovery: task.discovery.clone(),
        container: task.container.clone(),
        health_check: task.health_check.clone(),
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
    use mesos_proto::mesos::{ExecutorId, FrameworkId, TaskId};

    fn framework() -> FrameworkInfo {
        FrameworkInfo {
            id: Some(FrameworkId { value: "F".into() }),
            ..Default::default()
        }
    }

    fn task(id: &str) -> TaskInfo {
        TaskInfo {
            task_id: TaskId { value: id.into() },
            resources: Resources::parse("cpus:1;mem:10", "*").unwrap().to_v0(),
            ..Default::default()
        }
    }

    fn status(id: &str, state: TaskState) -> TaskStatus {
        TaskStatus {
            task_id: TaskId { value: id.into() },
            state: state as i32,
            data: Some(b"payload".to_vec()),
            ..Default::default()
        }
    }

    fn executor() -> Executor {
        let info = ExecutorInfo {
            executor_id: ExecutorId { value: "E".into() },
            resources: Resources::parse("cpus:0.1;mem:32", "*").unwrap().to_v0(),
            ..Default::default()
        };
        Executor::new(
            "F",
            info,
            "C".into(),
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
        e.enqueue_task(task("t1"));
        assert!(e.is_queued("t1"));
        assert!(!e.ever_sent_task());
        assert_eq!(e.allocated_resources().scalar("cpus"), 1.1);

        let info = e.dequeue_task("t1").unwrap();
        e.add_launched_task(&info, &fw);
        assert!(e.ever_sent_task());
        assert_eq!(e.launched_tasks["t1"].state, TaskState::TaskStaging as i32);

        e.update_task_state(&status("t1", TaskState::TaskRunning), &fw)
            .unwrap();
        assert_eq!(e.launched_tasks["t1"].state, TaskState::TaskRunning as i32);
        assert_eq!(
            e.launched_tasks["t1"].statuses[0].data, None,
            "data is dropped"
        );

        e.update_task_state(&status("t1", TaskState::TaskFinished), &fw)
            .unwrap();
        assert!(e.terminated_tasks.contains_key("t1"));
        assert_eq!(e.allocated_resources().scalar("cpus"), 0.1);
        assert!(e
            .update_task_state(&status("t1", TaskState::TaskFailed), &fw)
            .is_err());
        assert!(e.incomplete_tasks());

        e.complete_task("t1");
        assert!(!e.incomplete_tasks());
        assert_eq!(e.completed_tasks.len(), 1);
    }

    #[test]
    fn terminal_update_for_a_queued_task_dequeues_it() {
        let fw = framework();
        let mut e = executor();
        e.enqueue_task_group(TaskGroupInfo {
            tasks: vec![task("a"), task("b")],
        });
        assert!(e.queued_task_group("a").is_some());
        e.update_task_state(&status("a", TaskState::TaskKilled), &fw)
            .unwrap();
        assert!(!e.is_queued("a"));
        assert!(e.terminated_tasks.contains_key("a"));
        assert_eq!(
            e.queued_task_groups.len(),
            1,
            "group stays while b is queued"
        );
        e.update_task_state(&status("b", TaskState::TaskKilled), &fw)
            .unwrap();
        assert!(e.queued_task_groups.is_empty());
    }

    #[test]
    fn completed_executors_are_bounded() {
        let mut f = Framework::new(framework(), None);
        for i in 0..3 {
            let mut e = executor();
            e.id = format!("E{i}");
            f.executors.insert(e.id.clone(), e);
        }
        assert!(f.destroy_executor("E0", 2).is_none());
        assert!(f.destroy_executor("E1", 2).is_none());
        assert_eq!(
            f.destroy_executor("E2", 2).map(|e| e.id),
            Some("E0".to_string())
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
