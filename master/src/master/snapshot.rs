//! Building the immutable [`Snapshot`] (and the metrics in it) from the
//! actor's state. Read-only over the state.

use std::collections::BTreeMap;

use mesos_proto::is_terminal_state;
use mesos_proto::mesos::v1::TaskState;
use mesos_proto::resources::Resources;

use super::state::{Agent, Framework, FrameworkState};
use super::{now_secs, Master};
use crate::snapshot::{AgentView, FrameworkView, Snapshot};

impl Master {
    pub(super) fn build_snapshot(&self) -> Snapshot {
        let frameworks = self
            .frameworks
            .values()
            .map(|f| self.framework_view(f))
            .collect();
        let completed_frameworks = self
            .completed_frameworks
            .iter()
            .rev()
            .map(|f| self.framework_view(f))
            .collect();
        // Each agent's use walks its tasks: computed once, for its view and
        // for the metrics.
        let used: Vec<Resources> = self.agents.values().map(|a| self.agent_used(a)).collect();
        let agents = self
            .agents
            .values()
            .zip(&used)
            .map(|(a, used)| self.agent_view(a, used))
            .collect();
        let recovered_agents = self
            .recovered_agents
            .values()
            .map(|recovered| std::sync::Arc::clone(&recovered.view))
            .collect();
        Snapshot {
            generation: self.generation,
            master_info: self.info.clone(),
            pid: self.pid.to_string(),
            start_time: self.start_time,
            elected_time: self.elected_time,
            frameworks,
            completed_frameworks,
            agents,
            recovered_agents,
            unreachable_agents: self.unreachable_agents.len(),
            metrics: self.metrics_with(&used),
            maintenance: self.maintenance.clone(),
            maintenance_status: self.maintenance_cluster_status(),
            quotas: self.quota_configs(),
            weights: self.weights.clone(),
        }
    }

    /// Resources the framework's live tasks and executors use.
    fn framework_used(&self, framework: &Framework) -> Resources {
        let mut used = Resources::new();
        for task in framework.tasks.values() {
            if !is_terminal_state(task.state) && task.state != TaskState::TaskUnreachable as i32 {
                used += Resources::from(task.resources.clone());
            }
        }
        for agent in self.agents.values() {
            if let Some(executors) = agent.executors.get(framework.id.as_str()) {
                for executor in executors.values() {
                    used += Resources::from(executor.resources.clone());
                }
            }
        }
        used
    }

    fn framework_offered(&self, framework: &Framework) -> Resources {
        let mut offered = Resources::new();
        for offer_id in &framework.offers {
            if let Some(record) = self.offers.get(offer_id) {
                offered += &record.resources;
            }
        }
        offered
    }

    pub(super) fn framework_view(&self, framework: &Framework) -> FrameworkView {
        let executors = self
            .agents
            .values()
            .flat_map(|agent| {
                agent
                    .executors
                    .get(framework.id.as_str())
                    .into_iter()
                    .flat_map(|e| e.values())
                    .map(|e| (agent.id.to_string(), e.clone()))
            })
            .collect();
        FrameworkView {
            info: framework.info.clone(),
            pid: framework
                .connection
                .as_ref()
                .and_then(super::state::Connection::pid)
                .or(framework.last_pid.as_ref())
                .map(|pid| pid.to_string()),
            active: framework.active,
            connected: framework.connected(),
            recovered: framework.state == FrameworkState::Recovered,
            multi_role: framework.capabilities().multi_role,
            registered_time: framework.registered_time,
            reregistered_time: framework.reregistered_time,
            unregistered_time: framework.unregistered_time,
            used_resources: self.framework_used(framework).into_vec(),
            offered_resources: self.framework_offered(framework).into_vec(),
            tasks: framework.tasks.shared().cloned().collect(),
            unreachable_tasks: framework.unreachable_tasks.shared().cloned().collect(),
            completed_tasks: framework.completed_tasks.iter().cloned().collect(),
            offers: framework
                .offers
                .iter()
                .filter_map(|id| self.offers.get(id))
                .map(|r| r.offer.clone())
                .collect(),
            inverse_offers: self.framework_inverse_offers(framework.id.as_str()),
            executors,
            offer_constraints: framework.offer_constraints.clone(),
        }
    }

    pub(super) fn agent_used(&self, agent: &Agent) -> Resources {
        let mut used = Resources::new();
        for resources_of in self.used_on_agent(agent).values() {
            used += resources_of;
        }
        used
    }

    pub(super) fn agent_view(&self, agent: &Agent, used: &Resources) -> AgentView {
        let mut offered = Resources::new();
        for offer_id in &agent.offers {
            if let Some(record) = self.offers.get(offer_id) {
                offered += &record.resources;
            }
        }
        AgentView {
            info: agent.info.clone(),
            pid: agent.pid.to_string(),
            registered_time: agent.registered_time,
            reregistered_time: agent.reregistered_time,
            total: agent.total.to_vec(),
            used: used.to_vec(),
            offered: offered.into_vec(),
            active: agent.active,
            deactivated: self.drain.is_deactivated(&agent.id),
            drain_info: self
                .drain
                .drain_info(&agent.id)
                .map(mesos_proto::convert::evolve),
            estimated_drain_start_time: self.drain.started(&agent.id),
            version: agent.version.clone(),
            capabilities: agent.capabilities.names.clone(),
        }
    }

    /// Upstream's master metrics (`src/master/metrics.cpp`) that have a
    /// meaning here.
    pub(super) fn metrics(&self) -> BTreeMap<String, f64> {
        let used: Vec<Resources> = self.agents.values().map(|a| self.agent_used(a)).collect();
        self.metrics_with(&used)
    }

    /// The metrics, given each agent's used resources (in `self.agents`
    /// order).
    fn metrics_with(&self, agents_used: &[Resources]) -> BTreeMap<String, f64> {
        let mut metrics: BTreeMap<String, f64> = self
            .counters
            .iter()
            .map(|(name, value)| (name.to_string(), *value as f64))
            .collect();
        let mut put = |name: &str, value: f64| {
            metrics.insert(name.to_string(), value);
        };
        // Upstream's `elected()` is true from the election on, while the
        // registry is still being recovered.
        put(
            "master/elected",
            if self.recovery.is_elected() { 1.0 } else { 0.0 },
        );
        let [messages, dispatches, http_requests] = self.event_queue;
        put("master/event_queue_messages", messages as f64);
        put("master/event_queue_dispatches", dispatches as f64);
        put("master/event_queue_http_requests", http_requests as f64);
        // The allocator runs inside the actor's turn, so no dispatch to it
        // ever waits in a queue of its own.
        put("allocator/event_queue_dispatches", 0.0);
        put("allocator/mesos/event_queue_dispatches", 0.0);
        put(
            "master/uptime_secs",
            (now_secs() - self.start_time).max(0.0),
        );

        let agents = self.agents.values();
        put(
            "master/slaves_connected",
            agents.clone().filter(|a| a.connected).count() as f64,
        );
        put(
            "master/slaves_disconnected",
            agents.clone().filter(|a| !a.connected).count() as f64,
        );
        put(
            "master/slaves_active",
            agents.clone().filter(|a| a.active).count() as f64,
        );
        put(
            "master/slaves_inactive",
            agents.clone().filter(|a| !a.active).count() as f64,
        );
        put(
            "master/slaves_unreachable",
            self.unreachable_agents.len() as f64,
        );

        let frameworks = self.frameworks.values();
        put(
            "master/frameworks_connected",
            frameworks.clone().filter(|f| f.connected()).count() as f64,
        );
        put(
            "master/frameworks_disconnected",
            frameworks.clone().filter(|f| !f.connected()).count() as f64,
        );
        put(
            "master/frameworks_active",
            frameworks.clone().filter(|f| f.active).count() as f64,
        );
        put(
            "master/frameworks_inactive",
            frameworks.clone().filter(|f| !f.active).count() as f64,
        );
        put("master/outstanding_offers", self.offers.len() as f64);

        let mut by_state: BTreeMap<i32, usize> = BTreeMap::new();
        for task in self.frameworks.values().flat_map(|f| f.tasks.values()) {
            *by_state.entry(task.state).or_default() += 1;
        }
        let count_state =
            |state: TaskState| by_state.get(&(state as i32)).copied().unwrap_or(0) as f64;
        put("master/tasks_staging", count_state(TaskState::TaskStaging));
        put(
            "master/tasks_starting",
            count_state(TaskState::TaskStarting),
        );
        put("master/tasks_running", count_state(TaskState::TaskRunning));
        put("master/tasks_killing", count_state(TaskState::TaskKilling));
        put(
            "master/tasks_unreachable",
            self.frameworks
                .values()
                .map(|f| f.unreachable_tasks.len())
                .sum::<usize>() as f64,
        );

        // One pass over the agents, each agent's used resources computed
        // once (they walk its tasks), for every resource name at once.
        const NAMES: [&str; 4] = ["cpus", "mem", "disk", "gpus"];
        #[derive(Default, Clone, Copy)]
        struct Sums {
            total: f64,
            used: f64,
            revocable_total: f64,
            revocable_used: f64,
            allocator_total: f64,
            taken: f64,
        }
        let mut sums = [Sums::default(); 4];
        for (agent, used) in self.agents.values().zip(agents_used) {
            let info_total = Resources::from(agent.info.resources.clone());
            let used = used.clone();
            let used_plain = used.non_revocable();
            let used_revocable = used.revocable();
            let total_revocable = agent.total.revocable();
            let mut taken = used;
            for offer_id in &agent.offers {
                if let Some(record) = self.offers.get(offer_id) {
                    taken += &record.resources;
                }
            }
            for (sum, name) in sums.iter_mut().zip(NAMES) {
                sum.total += info_total.scalar(name);
                sum.used += used_plain.scalar(name);
                sum.revocable_total += total_revocable.scalar(name);
                sum.revocable_used += used_revocable.scalar(name);
                sum.allocator_total += agent.total.scalar(name);
                sum.taken += taken.scalar(name);
            }
        }
        let percent = |used: f64, total: f64| if total > 0.0 { used / total } else { 0.0 };
        for (sum, name) in sums.iter().zip(NAMES) {
            put(&format!("master/{name}_total"), sum.total);
            put(&format!("master/{name}_used"), sum.used);
            put(
                &format!("master/{name}_percent"),
                percent(sum.used, sum.total),
            );
            put(
                &format!("master/{name}_revocable_total"),
                sum.revocable_total,
            );
            put(&format!("master/{name}_revocable_used"), sum.revocable_used);
            put(
                &format!("master/{name}_revocable_percent"),
                percent(sum.revocable_used, sum.revocable_total),
            );
        }
        put(
            "master/operator_event_stream_subscribers",
            self.subscribers.connected() as f64,
        );

        // The allocator's view of the pool (upstream
        // `allocator/mesos/resources/<name>/{total,offered_or_allocated}`).
        for (sum, name) in sums.iter().zip(NAMES) {
            put(
                &format!("allocator/mesos/resources/{name}/total"),
                sum.allocator_total,
            );
            put(
                &format!("allocator/mesos/resources/{name}/offered_or_allocated"),
                sum.taken,
            );
        }
        self.allocator.metrics(super::allocator_now(), &mut metrics);
        if self.flags.publish_per_framework_metrics {
            for framework in self.frameworks.values() {
                framework_gauges(framework, &mut metrics);
            }
        }
        self.allocation_run
            .export("allocator/mesos/allocation_run_ms", &mut metrics);
        self.allocation_latency
            .export("allocator/mesos/allocation_run_latency_ms", &mut metrics);
        self.registrar.metrics().export(&mut metrics);
        metrics
    }
}

/// Upstream's per-framework gauges under `master/frameworks/<name>/<id>/`
/// (the name percent-encoded as libprocess encodes it): `subscribed`,
/// `tasks/active/<state>` for every non-terminal state, and the allocator's
/// `roles/<role>/suppressed`, and the counters the framework's record keeps
/// (calls, events, offers, operations, terminal tasks).
fn framework_gauges(framework: &Framework, out: &mut BTreeMap<String, f64>) {
    let prefix = format!(
        "master/frameworks/{}/{}/",
        encode_name(&framework.info.name),
        framework.id
    );
    out.insert(
        format!("{prefix}subscribed"),
        if framework.connected() { 1.0 } else { 0.0 },
    );
    for state in [
        TaskState::TaskStaging,
        TaskState::TaskStarting,
        TaskState::TaskRunning,
        TaskState::TaskKilling,
        TaskState::TaskUnreachable,
        TaskState::TaskUnknown,
    ] {
        let count = if state == TaskState::TaskUnreachable {
            framework.unreachable_tasks.len()
        } else {
            framework
                .tasks
                .values()
                .filter(|t| t.state == state as i32)
                .count()
        };
        out.insert(
            format!(
                "{prefix}tasks/active/{}",
                state.as_str_name().to_ascii_lowercase()
            ),
            count as f64,
        );
    }
    for role in framework.roles() {
        let suppressed = framework.suppressed_roles.contains(&role);
        out.insert(
            format!("{prefix}roles/{role}/suppressed"),
            if suppressed { 1.0 } else { 0.0 },
        );
    }
    framework.metrics.export(&prefix, out);
}

/// Percent-encodes what libprocess's `http::encode` encodes: reserved and
/// unsafe characters, controls and non-ASCII bytes, so a name with `/` or
/// spaces stays one path component.
fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        // Space and everything below it, and non-ASCII bytes, are encoded.
        let plain = (0x21..=0x7F).contains(&byte) && !b"$&+,/:;=?@\"<>#%{}|\\^~[]`".contains(&byte);
        if plain {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode_name;

    // As libprocess encodes a framework name in its metric prefix.
    #[test]
    fn framework_names_are_percent_encoded_like_libprocess() {
        assert_eq!(encode_name("my framework/v2"), "my%20framework%2Fv2");
        assert_eq!(encode_name("a-b_c.d"), "a-b_c.d");
        assert_eq!(encode_name("caf\u{e9}~"), "caf%C3%A9%7E");
    }
}
