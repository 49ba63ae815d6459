//! Pacing and forgetting agents: `--agent_removal_rate_limit` (agents that
//! failed their health checks are marked unreachable at most N per
//! duration, so a network partition cannot empty the cluster at once) and
//! the registry's garbage collection of old unreachable and gone entries
//! (`--registry_gc_interval`, `--registry_max_agent_age`,
//! `--registry_max_agent_count`).
//!
//! Owns the limiter's queue and the choice of entries to prune. It never
//! writes the registry itself: pruning goes through the registrar like
//! every other durable change, and the in-memory lists shrink only after
//! the write committed.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use mesos_proto::ids::AgentId;
use mesos_proto::mesos as v0;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Continuation, Master, Timer};
use crate::registry::Operation;

/// `--agent_removal_rate_limit=N/duration`: the spacing between permits.
pub fn parse_rate_limit(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "Invalid --agent_removal_rate_limit '{text}': expected \
             <number of agents>/<duration>, e.g. 1/10mins"
        )
    };
    let (count, window) = text.split_once('/').ok_or_else(invalid)?;
    let count: u32 = count.trim().parse().map_err(|_| invalid())?;
    let window = stout::duration::Duration::parse(window.trim()).map_err(|_| invalid())?;
    if count == 0 || window.secs_f64() <= 0.0 {
        return Err(invalid());
    }
    Ok(window.to_std() / count)
}

/// Upstream's `RateLimiter` as the master uses it: permits are handed out
/// in request order, one per `interval`; a request whose agent recovered
/// meanwhile is skipped and does not use a permit.
#[derive(Debug)]
pub struct RemovalLimiter {
    interval: Duration,
    last_grant: Option<Instant>,
    /// Agent id and observer epoch of each waiting request.
    queue: VecDeque<(AgentId, u64)>,
    armed: bool,
}

impl RemovalLimiter {
    pub fn new(interval: Duration) -> Self {
        RemovalLimiter {
            interval,
            last_grant: None,
            queue: VecDeque::new(),
            armed: false,
        }
    }

    /// When the next permit may be granted.
    fn next_permit(&self, now: Instant) -> Instant {
        match self.last_grant {
            Some(last) => (last + self.interval).max(now),
            None => now,
        }
    }
}

/// The ids to prune from one list (`Master::doRegistryGc`): entries older
/// than `max_age`, and the oldest beyond `max_count`.
pub fn prune_candidates(
    entries: &BTreeMap<AgentId, v0::TimeInfo>,
    now_nanos: i64,
    max_age: Duration,
    max_count: usize,
) -> Vec<AgentId> {
    let mut by_age: Vec<(&AgentId, i64)> =
        entries.iter().map(|(id, t)| (id, t.nanoseconds)).collect();
    by_age.sort_by_key(|(id, nanos)| (*nanos, (*id).clone()));
    let max_age = i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX);
    let excess = by_age.len().saturating_sub(max_count);
    by_age
        .iter()
        .enumerate()
        .filter(|(index, (_, nanos))| *index < excess || now_nanos.saturating_sub(*nanos) > max_age)
        .map(|(_, (id, _))| (*id).clone())
        .collect()
}

impl Master {
    /// `SlaveObserver::markUnreachable`: an agent failed its health
    /// checks. Without a rate limit it is marked at once; with one it waits
    /// for a permit, and a pong meanwhile cancels it.
    pub(super) fn schedule_unreachable(&mut self, agent_id: &AgentId) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let Some(limiter) = self.removal_limiter.as_mut() else {
            self.mark_unreachable(agent_id, "health check timed out");
            return;
        };
        if agent.observer.unreachable_pending {
            return;
        }
        agent.observer.unreachable_pending = true;
        info!(
            "Scheduling transition of agent {agent_id} to UNREACHABLE because of health check timeout"
        );
        limiter
            .queue
            .push_back((agent_id.clone(), agent.observer.epoch));
        self.count("master/slave_unreachable_scheduled");
        self.arm_removal_limiter();
    }

    /// A pong arrived: a pending transition is cancelled.
    pub(super) fn cancel_unreachable(&mut self, agent_id: &AgentId) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        if agent.observer.unreachable_pending {
            agent.observer.unreachable_pending = false;
            info!("Canceling transition of agent {agent_id} to UNREACHABLE because a pong was received");
            self.count("master/slave_unreachable_canceled");
        }
    }

    fn arm_removal_limiter(&mut self) {
        let Some(limiter) = self.removal_limiter.as_mut() else {
            return;
        };
        if limiter.armed || limiter.queue.is_empty() {
            return;
        }
        limiter.armed = true;
        let now = Instant::now();
        let delay = limiter.next_permit(now).saturating_duration_since(now);
        self.schedule(delay, Timer::RemovalPermit);
    }

    /// A permit is due: it goes to the oldest request whose agent is still
    /// unhealthy.
    pub(super) fn removal_permit(&mut self) {
        let Some(limiter) = self.removal_limiter.as_mut() else {
            return;
        };
        limiter.armed = false;
        while let Some((agent_id, epoch)) = limiter.queue.pop_front() {
            let still_wanted = self.agents.get_mut(&agent_id).is_some_and(|agent| {
                let wanted = agent.observer.epoch == epoch && agent.observer.unreachable_pending;
                if wanted {
                    agent.observer.unreachable_pending = false;
                }
                wanted
            });
            if still_wanted {
                limiter.last_grant = Some(Instant::now());
                self.mark_unreachable_now(&agent_id, "health check timed out");
                break;
            }
        }
        self.arm_removal_limiter();
    }

    /// Arms the first registry GC after recovery.
    pub(super) fn start_registry_gc(&mut self) {
        self.schedule(self.flags.registry_gc_interval.to_std(), Timer::RegistryGc);
    }

    /// `Master::doRegistryGc`: prune unreachable and gone entries by age
    /// and count; the lists shrink once the registry committed.
    pub(super) fn registry_gc(&mut self) {
        let now = (super::now_secs() * 1e9) as i64;
        let max_age = self.flags.registry_max_agent_age.to_std();
        let max_count = self.flags.registry_max_agent_count;
        let unreachable = prune_candidates(&self.unreachable_agents, now, max_age, max_count);
        let gone = prune_candidates(&self.gone_agents, now, max_age, max_count);
        if unreachable.is_empty() && gone.is_empty() {
            self.start_registry_gc();
            return;
        }
        info!(
            "Attempting to remove {} unreachable and {} gone agents from the registry",
            unreachable.len(),
            gone.len()
        );
        let ids = |list: &[AgentId]| list.iter().map(AgentId::to_proto).collect();
        self.registrar.apply(
            Operation::Prune {
                unreachable: ids(&unreachable),
                gone: ids(&gone),
            },
            Continuation::Pruned { unreachable, gone },
        );
    }

    /// `Master::_doRegistryGc`: forget the pruned agents (and the tasks of
    /// the unreachable ones), then arm the next collection.
    pub(super) fn registry_pruned(&mut self, unreachable: Vec<AgentId>, gone: Vec<AgentId>) {
        let mut removed = 0;
        for agent_id in &unreachable {
            if self.unreachable_agents.remove(agent_id).is_none() {
                warn!("Agent {agent_id} was pruned from the registry but is no longer unreachable");
                continue;
            }
            if let Some(by_framework) = self.unreachable_tasks.remove(agent_id) {
                for (framework_id, task_ids) in by_framework {
                    if let Some(framework) = self.frameworks.get_mut(framework_id.as_str()) {
                        for task_id in task_ids {
                            framework.unreachable_tasks.remove(task_id.as_str());
                        }
                    }
                }
            }
            removed += 1;
        }
        for agent_id in &gone {
            if self.gone_agents.remove(agent_id).is_some() {
                removed += 1;
            }
        }
        info!("Garbage collected {removed} agents from the registry");
        self.start_registry_gc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(secs: i64) -> v0::TimeInfo {
        v0::TimeInfo {
            nanoseconds: secs * 1_000_000_000,
        }
    }

    #[test]
    fn rate_limits_parse_as_upstream_writes_them() {
        assert_eq!(parse_rate_limit("1/20mins"), Ok(Duration::from_secs(1200)));
        assert_eq!(parse_rate_limit("4/2secs"), Ok(Duration::from_millis(500)));
        for bad in ["", "1", "0/1mins", "x/1mins", "1/", "1/abc", "-1/1secs"] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prune_by_age_and_by_count() {
        let entries: BTreeMap<AgentId, v0::TimeInfo> = [("a", 10), ("b", 50), ("c", 30), ("d", 90)]
            .into_iter()
            .map(|(id, t)| (AgentId::from(id), time(t)))
            .collect();
        let now = 100 * 1_000_000_000;
        // Older than 60 s: a (90 s old) and c (70 s old).
        let mut by_age = prune_candidates(&entries, now, Duration::from_secs(60), 100);
        by_age.sort();
        assert_eq!(by_age, ["a", "c"]);
        // At most two: the two oldest go.
        assert_eq!(
            prune_candidates(&entries, now, Duration::from_secs(1000), 2),
            ["a", "c"]
        );
        assert!(prune_candidates(&entries, now, Duration::from_secs(1000), 4).is_empty());
        assert_eq!(
            prune_candidates(&entries, now, Duration::from_secs(1000), 0).len(),
            4
        );
    }
}
