//! The records the actor keeps: frameworks, agents, tasks, offers.
//!
//! Plain data plus small invariant-keeping helpers; only the actor
//! (`master::Master`) owns and mutates these. Nothing here sends messages.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use libprocess::Upid;
use mesos_proto::ids::{AgentId, FrameworkId};
use mesos_proto::mesos::v1::{
    self, framework_info::capability::Type as FrameworkCapability, ExecutorInfo, FrameworkInfo,
    Offer, Task,
};
use mesos_proto::resources::Resources;

use super::connection::HttpConnection;

/// How a framework is reached.
#[derive(Debug)]
pub enum Connection {
    /// A v1 HTTP scheduler's SUBSCRIBE stream.
    Http(HttpConnection),
    /// A v0 driver's libprocess process.
    Pid(Upid),
}

impl Connection {
    pub fn stream_id(&self) -> Option<&str> {
        match self {
            Connection::Http(http) => Some(&http.stream_id),
            Connection::Pid(_) => None,
        }
    }

    pub fn pid(&self) -> Option<&Upid> {
        match self {
            Connection::Http(_) => None,
            Connection::Pid(pid) => Some(pid),
        }
    }
}

/// Capabilities of a framework that change what the master sends it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub multi_role: bool,
    pub reservation_refinement: bool,
    pub partition_aware: bool,
    pub task_killing_state: bool,
    pub gpu_resources: bool,
    pub revocable_resources: bool,
    pub region_aware: bool,
    pub shared_resources: bool,
}

impl Capabilities {
    pub fn of(info: &FrameworkInfo) -> Self {
        let has = |wanted: FrameworkCapability| {
            info.capabilities
                .iter()
                .any(|c| c.r#type == Some(wanted as i32))
        };
        Capabilities {
            multi_role: has(FrameworkCapability::MultiRole),
            reservation_refinement: has(FrameworkCapability::ReservationRefinement),
            partition_aware: has(FrameworkCapability::PartitionAware),
            task_killing_state: has(FrameworkCapability::TaskKillingState),
            gpu_resources: has(FrameworkCapability::GpuResources),
            revocable_resources: has(FrameworkCapability::RevocableResources),
            region_aware: has(FrameworkCapability::RegionAware),
            shared_resources: has(FrameworkCapability::SharedResources),
        }
    }
}

/// The roles of a framework: `roles` if MULTI_ROLE, else the single `role`
/// (default `*`).
pub fn framework_roles(info: &FrameworkInfo) -> BTreeSet<String> {
    if Capabilities::of(info).multi_role {
        info.roles.iter().cloned().collect()
    } else {
        BTreeSet::from([info.role.clone().unwrap_or_else(|| "*".to_string())])
    }
}

/// Connection state as upstream tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameworkState {
    /// Known only from an agent's re-registration; never subscribed here.
    Recovered,
    Connected,
    Disconnected,
}

#[derive(Debug)]
pub struct Framework {
    pub id: FrameworkId,
    pub info: FrameworkInfo,
    pub state: FrameworkState,
    pub connection: Option<Connection>,
    pub active: bool,
    pub registered_time: f64,
    pub reregistered_time: f64,
    pub unregistered_time: f64,
    /// Bumped on every (re)subscription; a failover timer only fires if the
    /// framework has not re-subscribed since it was set.
    pub epoch: u64,
    pub suppressed_roles: BTreeSet<String>,
    /// Upstream's per-framework counters.
    pub metrics: super::framework_metrics::FrameworkMetrics,
    pub offer_constraints: Option<v1::scheduler::OfferConstraints>,
    /// Non-terminal (or terminal but unacknowledged) tasks.
    pub tasks: TaskMap,
    pub unreachable_tasks: TaskMap,
    pub completed_tasks: VecDeque<Arc<Task>>,
    pub offers: BTreeSet<String>,
    /// The last driver UPID of a v0 framework.
    pub last_pid: Option<Upid>,
}

impl Framework {
    pub fn new(info: FrameworkInfo, state: FrameworkState, now: f64) -> Self {
        let id = info
            .id
            .as_ref()
            .map(|id| FrameworkId::from(&id.value))
            .unwrap_or_default();
        Framework {
            id,
            info,
            state,
            connection: None,
            active: false,
            registered_time: now,
            reregistered_time: now,
            unregistered_time: 0.0,
            epoch: 0,
            suppressed_roles: BTreeSet::new(),
            metrics: Default::default(),
            offer_constraints: None,
            tasks: TaskMap::default(),
            unreachable_tasks: TaskMap::default(),
            completed_tasks: VecDeque::new(),
            offers: BTreeSet::new(),
            last_pid: None,
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        Capabilities::of(&self.info)
    }

    pub fn roles(&self) -> BTreeSet<String> {
        framework_roles(&self.info)
    }

    pub fn connected(&self) -> bool {
        self.state == FrameworkState::Connected
    }

    /// The driver's UPID for v0 frameworks (kept while disconnected, as
    /// upstream does, so a failover can be recognised).
    pub fn pid(&self) -> Option<&Upid> {
        self.connection
            .as_ref()
            .and_then(Connection::pid)
            .or(self.last_pid.as_ref())
    }

    /// The scheduler pid as agents and `/state` want it: the UPID of a v0
    /// driver, empty for HTTP frameworks.
    pub fn pid_string(&self) -> String {
        self.connection
            .as_ref()
            .and_then(Connection::pid)
            .map(|pid| pid.to_string())
            .unwrap_or_default()
    }

    /// Keeps at most `limit` completed tasks, dropping the oldest.
    pub fn add_completed_task(&mut self, task: Arc<Task>, limit: usize) {
        if limit == 0 {
            return;
        }
        while self.completed_tasks.len() >= limit {
            self.completed_tasks.pop_front();
        }
        self.completed_tasks.push_back(task);
    }

    pub fn add_unreachable_task(&mut self, task: Arc<Task>, limit: usize) {
        if limit == 0 {
            return;
        }
        while self.unreachable_tasks.len() >= limit {
            let Some(first) = self.unreachable_tasks.keys().next().cloned() else {
                break;
            };
            self.unreachable_tasks.remove(&first);
        }
        self.unreachable_tasks
            .insert_shared(task.task_id.value.clone(), task);
    }
}

/// Tasks by id. Each is kept behind an `Arc` shared with the published
/// snapshots, so building a snapshot copies a pointer per task instead of
/// the task; a change copies the task only while a snapshot still holds it.
/// Reads hand out `&Task`, so callers see plain tasks.
#[derive(Debug, Default)]
pub struct TaskMap(BTreeMap<String, Arc<Task>>);

impl TaskMap {
    pub fn get(&self, task_id: &str) -> Option<&Task> {
        self.0.get(task_id).map(Arc::as_ref)
    }

    pub fn get_mut(&mut self, task_id: &str) -> Option<&mut Task> {
        self.0.get_mut(task_id).map(Arc::make_mut)
    }

    pub fn contains_key(&self, task_id: &str) -> bool {
        self.0.contains_key(task_id)
    }

    /// Stores a task decoded or built here, trimmed first.
    pub fn insert(&mut self, task_id: String, task: Task) -> Option<Arc<Task>> {
        self.0.insert(task_id, stored_task(task))
    }

    /// Stores a task already in stored form (moved between lists).
    pub fn insert_shared(&mut self, task_id: String, task: Arc<Task>) -> Option<Arc<Task>> {
        self.0.insert(task_id, task)
    }

    pub fn remove(&mut self, task_id: &str) -> Option<Arc<Task>> {
        self.0.remove(task_id)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &Task> {
        self.0.values().map(Arc::as_ref)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Task)> {
        self.0.iter().map(|(id, task)| (id, task.as_ref()))
    }

    /// The shared tasks, for snapshots.
    pub fn shared(&self) -> impl Iterator<Item = &Arc<Task>> {
        self.0.values()
    }
}

impl IntoIterator for TaskMap {
    type Item = (String, Arc<Task>);
    type IntoIter = std::collections::btree_map::IntoIter<String, Arc<Task>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A task as the master keeps it: shared, with its lists trimmed to their
/// length (decoding grows them by doubling, and at hundreds of thousands of
/// tasks the spare capacity costs more than what the tasks hold).
pub fn stored_task(mut task: Task) -> Arc<Task> {
    compact_task(&mut task);
    Arc::new(task)
}

/// Gives back the spare capacity of a task's lists.
pub fn compact_task(task: &mut Task) {
    task.resources.shrink_to_fit();
    for resource in &mut task.resources {
        resource.reservations.shrink_to_fit();
    }
    task.statuses.shrink_to_fit();
    if let Some(labels) = task.labels.as_mut() {
        labels.labels.shrink_to_fit();
    }
}

/// An agent's `SlaveInfo` as the registry holds it, kept encoded: `info`
/// already has it decoded, and this copy is only compared on
/// re-registration and decoded again for the rare registry operation, so
/// holding a second decoded struct per agent would be wasted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryInfo(Box<[u8]>);

impl RegistryInfo {
    pub fn new(info: &mesos_proto::mesos::SlaveInfo) -> Self {
        RegistryInfo(prost::Message::encode_to_vec(info).into_boxed_slice())
    }

    /// Whether `info` is what the registry holds. Encoding is deterministic,
    /// so equal infos encode alike; the rare false "changed" (a float such
    /// as -0.0 against 0.0) only costs a registry write.
    pub fn matches(&self, info: &mesos_proto::mesos::SlaveInfo) -> bool {
        *self == RegistryInfo::new(info)
    }

    pub fn decode(&self) -> mesos_proto::mesos::SlaveInfo {
        // Bytes this type encoded itself always decode.
        prost::Message::decode(&*self.0).unwrap_or_default()
    }
}

/// An agent from the registry that has not re-registered since this
/// master recovered: its `SlaveInfo` and the v1 form the state endpoints
/// show, converted once here rather than in every snapshot.
#[derive(Debug)]
pub struct RecoveredAgent {
    pub info: mesos_proto::mesos::SlaveInfo,
    pub view: Arc<v1::AgentInfo>,
}

impl RecoveredAgent {
    pub fn new(info: mesos_proto::mesos::SlaveInfo) -> Self {
        let mut view: v1::AgentInfo = mesos_proto::convert::evolve(&info);
        mesos_proto::resources::from_pre_refinement(&mut view.resources);
        RecoveredAgent {
            info,
            view: Arc::new(view),
        }
    }
}

/// Agent capabilities the master cares about.
#[derive(Clone, Debug, Default)]
pub struct AgentCapabilities {
    pub names: Vec<String>,
    pub multi_role: bool,
    pub reservation_refinement: bool,
    pub resource_provider: bool,
    pub agent_operation_feedback: bool,
    pub task_resource_limits: bool,
    pub agent_draining: bool,
}

impl AgentCapabilities {
    pub fn from_v0(capabilities: &[mesos_proto::mesos::slave_info::Capability]) -> Self {
        use mesos_proto::mesos::slave_info::capability::Type;
        let mut out = AgentCapabilities::default();
        for capability in capabilities {
            let Some(kind) = capability.r#type.and_then(|t| Type::try_from(t).ok()) else {
                continue;
            };
            out.names.push(kind.as_str_name().to_string());
            match kind {
                Type::MultiRole => out.multi_role = true,
                Type::ReservationRefinement => out.reservation_refinement = true,
                Type::ResourceProvider => out.resource_provider = true,
                Type::AgentOperationFeedback => out.agent_operation_feedback = true,
                Type::TaskResourceLimits => out.task_resource_limits = true,
                Type::AgentDraining => out.agent_draining = true,
                _ => {}
            }
        }
        out
    }
}

/// The health check of one agent (upstream `SlaveObserver`).
#[derive(Debug)]
pub struct Observer {
    /// Process id `slave-observer(N)`, registered with the server.
    pub id: String,
    /// A ping is outstanding (no pong since the last ping).
    pub pinged: bool,
    pub timeouts: usize,
    /// Waiting for an `--agent_removal_rate_limit` permit to be marked
    /// unreachable; a pong cancels it.
    pub unreachable_pending: bool,
    /// Distinguishes this observer's timers from an earlier one's.
    pub epoch: u64,
}

#[derive(Debug)]
pub struct Agent {
    pub id: AgentId,
    /// With `id` set; resources as the agent reported them.
    pub info: v1::AgentInfo,
    /// The `SlaveInfo` as the registry holds it, to tell whether a
    /// re-registration changes it (and needs a registry write).
    pub registry_info: RegistryInfo,
    pub pid: Upid,
    pub version: String,
    pub capabilities: AgentCapabilities,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub connected: bool,
    pub active: bool,
    /// Everything the agent has (unallocated).
    pub total: Resources,
    /// framework id → executor id → executor.
    pub executors: BTreeMap<String, BTreeMap<String, ExecutorInfo>>,
    /// framework id → task ids (the tasks live in the framework).
    pub tasks: BTreeMap<String, BTreeSet<String>>,
    /// Tasks a KILL was sent for, resent on re-registration if still alive.
    pub killed_tasks: BTreeSet<(String, String)>,
    pub offers: BTreeSet<String>,
    pub observer: Observer,
    /// Bumped when the agent disconnects; the re-register timer compares.
    pub disconnect_epoch: u64,
}

impl Agent {
    pub fn has_executor(&self, framework_id: &str, executor_id: &str) -> bool {
        self.executors
            .get(framework_id)
            .is_some_and(|e| e.contains_key(executor_id))
    }

    pub fn add_task(&mut self, framework_id: &str, task_id: &str) {
        self.tasks
            .entry(framework_id.to_string())
            .or_default()
            .insert(task_id.to_string());
    }

    pub fn remove_task(&mut self, framework_id: &str, task_id: &str) {
        if let Some(tasks) = self.tasks.get_mut(framework_id) {
            tasks.remove(task_id);
            if tasks.is_empty() {
                self.tasks.remove(framework_id);
            }
        }
        self.killed_tasks
            .remove(&(framework_id.to_string(), task_id.to_string()));
    }

    pub fn add_executor(&mut self, framework_id: &str, executor: ExecutorInfo) {
        self.executors
            .entry(framework_id.to_string())
            .or_default()
            .insert(executor.executor_id.value.clone(), executor);
    }

    pub fn remove_executor(
        &mut self,
        framework_id: &str,
        executor_id: &str,
    ) -> Option<ExecutorInfo> {
        let executors = self.executors.get_mut(framework_id)?;
        let removed = executors.remove(executor_id);
        if executors.is_empty() {
            self.executors.remove(framework_id);
        }
        removed
    }

    /// The pre- or post-refinement format the agent understands.
    pub fn wants_pre_refinement(&self) -> bool {
        !self.capabilities.reservation_refinement
    }
}

/// An outstanding offer, as stored (post-refinement, with allocation info).
#[derive(Debug, Clone)]
pub struct OfferRecord {
    pub offer: Offer,
    pub resources: Resources,
}

/// Resources a task holds while alive.
pub fn task_resources(task: &Task) -> Resources {
    Resources::from(task.resources.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::{TaskId, TaskStatus};

    fn task(id: &str) -> Task {
        let mut task = Task {
            task_id: TaskId { value: id.into() },
            ..Default::default()
        };
        // Pushed one by one, as decoding does, so capacity runs ahead.
        for resource in Resources::parse("cpus:1;mem:2;disk:3", "*")
            .expect("resources")
            .to_vec()
        {
            task.resources.push(resource);
        }
        task.statuses.push(TaskStatus::default());
        task
    }

    #[test]
    fn stored_tasks_hold_no_spare_capacity() {
        let mut tasks = TaskMap::default();
        let unstored = task("t");
        assert!(unstored.resources.capacity() > unstored.resources.len());
        tasks.insert("t".into(), unstored);
        let stored = tasks.get("t").expect("stored");
        assert_eq!(stored.resources.capacity(), stored.resources.len());
        assert_eq!(stored.statuses.capacity(), stored.statuses.len());
    }

    #[test]
    fn a_snapshot_shares_tasks_and_keeps_its_copy_when_one_changes() {
        let mut tasks = TaskMap::default();
        tasks.insert("t".into(), task("t"));
        let snapshot: Vec<Arc<Task>> = tasks.shared().cloned().collect();
        assert!(std::ptr::eq(
            snapshot[0].as_ref(),
            tasks.get("t").expect("stored")
        ));
        let before = snapshot[0].state;
        tasks.get_mut("t").expect("stored").state = before + 1;
        assert_eq!(snapshot[0].state, before);
        assert_eq!(tasks.get("t").expect("stored").state, before + 1);
    }

    #[test]
    fn registry_info_tells_a_changed_agent_info_and_decodes_back() {
        let info = mesos_proto::mesos::SlaveInfo {
            hostname: "host".into(),
            resources: Resources::parse("cpus:4;mem:1024", "*")
                .expect("resources")
                .to_v0(),
            ..Default::default()
        };
        let stored = RegistryInfo::new(&info);
        assert!(stored.matches(&info.clone()));
        assert_eq!(stored.decode(), info);
        let mut changed = info.clone();
        changed.hostname = "other".into();
        assert!(!stored.matches(&changed));
    }
}
