//! Inverse offers for maintenance (upstream `Master::inverseOffer`,
//! `acceptInverseOffers`, `declineInverseOffers`, `updateUnavailability`,
//! and the hierarchical allocator's `updateUnavailability`,
//! `updateInverseOffer`, `generateInverseOffers`, `getInverseOfferStatuses`).
//!
//! An agent on a DRAINING machine has an unavailability (its window's).
//! Every allocation cycle, each active, connected framework with tasks,
//! executors or offers on such an agent is sent one inverse offer for it
//! (empty resources: the whole agent), unless one is outstanding or the
//! framework's answer filtered it (`refuse_seconds`). The framework's
//! ACCEPT or DECLINE is recorded per agent and shown by the maintenance
//! status; a new unavailability (or none) starts the record afresh and
//! rescinds what was outstanding, as do the agent going away and the
//! framework leaving.
//!
//! Inverse offers hold no resources, so the allocator has no part in them:
//! the actor keeps the whole account here ([`InverseOfferState`]) and the
//! allocator stays a pure resource calculation. Like upstream, answers are
//! not persisted: a new leader asks again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mesos_proto::ids::{AgentId, FrameworkId};
use mesos_proto::mesos::allocator::{inverse_offer_status::Status, InverseOfferStatus};
use mesos_proto::mesos::maintenance::ClusterStatus;
use mesos_proto::mesos::v1::{self, scheduler::call};
use mesos_proto::mesos::{self as v0, Unavailability};
use tracing::{info, warn};

use super::maintenance::machine_matches;
use super::scheduler::refuse_duration;
use super::{allocator_now, events, now_secs, Master, Timer};

/// One agent's maintenance: its unavailability and the frameworks'
/// latest answers to it.
#[derive(Debug, Clone)]
struct AgentMaintenance {
    unavailability: Unavailability,
    statuses: BTreeMap<FrameworkId, InverseOfferStatus>,
}

/// Why an answer to an inverse offer was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("Inverse offer {0} is no longer valid")]
    Unknown(String),
    #[error("Inverse offer {0} has invalid framework")]
    OtherFramework(String),
}

/// The master's account of maintenance inverse offers. Pure state: the
/// actor sends the events.
#[derive(Debug, Clone, Default)]
pub struct InverseOfferState {
    agents: BTreeMap<AgentId, AgentMaintenance>,
    /// Outstanding inverse offers by id.
    offers: BTreeMap<String, v1::InverseOffer>,
    /// Refusals from answers: framework → agent → until when.
    filters: BTreeMap<FrameworkId, BTreeMap<AgentId, Instant>>,
}

fn offer_agent(offer: &v1::InverseOffer) -> &str {
    offer.agent_id.as_ref().map_or("", |id| id.value.as_str())
}

impl InverseOfferState {
    /// The agent's unavailability, if its machine is DRAINING.
    pub fn unavailability(&self, agent_id: &str) -> Option<&Unavailability> {
        self.agents.get(agent_id).map(|m| &m.unavailability)
    }

    /// Gives the agent a new unavailability (or none). On a change the
    /// answers so far and the filters on the agent are forgotten (upstream
    /// makes frameworks reassess); returns whether it changed. Outstanding
    /// inverse offers of the agent are the caller's to rescind.
    pub fn set_unavailability(
        &mut self,
        agent_id: &str,
        unavailability: Option<Unavailability>,
    ) -> bool {
        if self.unavailability(agent_id) == unavailability.as_ref() {
            return false;
        }
        for filters in self.filters.values_mut() {
            filters.remove(agent_id);
        }
        match unavailability {
            Some(unavailability) => {
                self.agents.insert(
                    AgentId::from(agent_id),
                    AgentMaintenance {
                        unavailability,
                        statuses: BTreeMap::new(),
                    },
                );
            }
            None => {
                self.agents.remove(agent_id);
            }
        }
        true
    }

    /// Agents with an unavailability.
    pub fn agents(&self) -> impl Iterator<Item = &AgentId> {
        self.agents.keys()
    }

    pub fn get(&self, offer_id: &str) -> Option<&v1::InverseOffer> {
        self.offers.get(offer_id)
    }

    /// Whether the framework has an inverse offer outstanding for the
    /// agent (upstream's `offersOutstanding`).
    pub fn outstanding(&self, framework_id: &str, agent_id: &str) -> bool {
        self.offers
            .values()
            .any(|o| o.framework_id.value == framework_id && offer_agent(o) == agent_id)
    }

    /// Whether an answer's filter still holds back inverse offers of the
    /// agent to the framework at `now`.
    pub fn is_filtered(&self, framework_id: &str, agent_id: &str, now: Instant) -> bool {
        self.filters
            .get(framework_id)
            .and_then(|f| f.get(agent_id))
            .is_some_and(|until| now < *until)
    }

    pub fn add(&mut self, offer: v1::InverseOffer) {
        self.offers.insert(offer.id.value.clone(), offer);
    }

    /// Forgets an outstanding inverse offer (no answer recorded).
    pub fn remove(&mut self, offer_id: &str) -> Option<v1::InverseOffer> {
        self.offers.remove(offer_id)
    }

    /// Outstanding inverse offer ids of the agent.
    pub fn offers_on_agent(&self, agent_id: &str) -> Vec<String> {
        self.offers
            .values()
            .filter(|o| offer_agent(o) == agent_id)
            .map(|o| o.id.value.clone())
            .collect()
    }

    /// Outstanding inverse offers of the framework.
    pub fn offers_of_framework<'a>(
        &'a self,
        framework_id: &'a str,
    ) -> impl Iterator<Item = &'a v1::InverseOffer> + 'a {
        self.offers
            .values()
            .filter(move |o| o.framework_id.value == framework_id)
    }

    /// The framework's answer (`updateInverseOffer` with a status): the
    /// inverse offer is used up, the answer recorded with `timestamp`, and
    /// `refuse` (from the answer's filters) holds back the next one.
    pub fn answer(
        &mut self,
        framework_id: &str,
        offer_id: &str,
        status: Status,
        timestamp: f64,
        refuse: Option<Duration>,
        now: Instant,
    ) -> Result<(), AnswerError> {
        let offer = self
            .offers
            .get(offer_id)
            .ok_or_else(|| AnswerError::Unknown(offer_id.to_string()))?;
        if offer.framework_id.value != framework_id {
            return Err(AnswerError::OtherFramework(offer_id.to_string()));
        }
        let agent_id = AgentId::from(offer_agent(offer));
        self.offers.remove(offer_id);
        let framework = FrameworkId::from(framework_id);
        if let Some(maintenance) = self.agents.get_mut(&agent_id) {
            maintenance.statuses.insert(
                framework.clone(),
                InverseOfferStatus {
                    status: status as i32,
                    framework_id: v0::FrameworkId {
                        value: framework_id.to_string(),
                    },
                    timestamp: v0::TimeInfo {
                        nanoseconds: (timestamp * 1e9) as i64,
                    },
                },
            );
        }
        if let Some(refuse) = refuse {
            self.filters
                .entry(framework)
                .or_default()
                .insert(agent_id, now + refuse);
        }
        Ok(())
    }

    /// Upstream clears a framework's inverse offer filters when it is
    /// deactivated or revives.
    pub fn clear_filters(&mut self, framework_id: &str) {
        self.filters.remove(framework_id);
    }

    /// The agent is gone: its unavailability and filters go too. Returns
    /// its outstanding inverse offers (removed), for the caller to rescind.
    pub fn forget_agent(&mut self, agent_id: &str) -> Vec<v1::InverseOffer> {
        self.agents.remove(agent_id);
        for filters in self.filters.values_mut() {
            filters.remove(agent_id);
        }
        self.offers_on_agent(agent_id)
            .iter()
            .filter_map(|id| self.offers.remove(id))
            .collect()
    }

    /// The answers recorded for the agent.
    pub fn statuses(&self, agent_id: &str) -> impl Iterator<Item = &InverseOfferStatus> {
        self.agents
            .get(agent_id)
            .into_iter()
            .flat_map(|m| m.statuses.values())
    }

    pub fn len(&self) -> usize {
        self.offers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offers.is_empty()
    }
}

impl Master {
    /// What the maintenance schedule says about the agent now.
    fn scheduled_unavailability(&self, agent_id: &AgentId) -> Option<Unavailability> {
        let agent = self.agents.get(agent_id)?;
        self.maintenance
            .unavailability(&agent.info.hostname, &agent.pid.ip.to_string())
    }

    /// Brings the agent's unavailability in line with the schedule
    /// (`Master::updateUnavailability` for one agent): on a change, its
    /// offers are rescinded so they come back carrying the news, and its
    /// outstanding inverse offers are rescinded so new ones are made for
    /// the new window.
    pub(super) fn sync_unavailability(&mut self, agent_id: &AgentId) {
        let unavailability = self.scheduled_unavailability(agent_id);
        if self.inverse_offers.unavailability(agent_id.as_str()) == unavailability.as_ref() {
            return;
        }
        match &unavailability {
            Some(u) => info!(
                "Updating unavailability of agent {agent_id}, starting at {}s",
                u.start.nanoseconds as f64 / 1e9
            ),
            None => info!("Removing unavailability of agent {agent_id}"),
        }
        let offers: Vec<String> = self
            .agents
            .get(agent_id)
            .map(|a| a.offers.iter().cloned().collect())
            .unwrap_or_default();
        for offer_id in offers {
            self.rescind_offer(&offer_id, None);
        }
        for offer_id in self.inverse_offers.offers_on_agent(agent_id.as_str()) {
            self.rescind_inverse_offer(&offer_id);
        }
        self.inverse_offers
            .set_unavailability(agent_id.as_str(), unavailability);
        self.request_allocation();
    }

    /// After a maintenance change: every agent's unavailability follows
    /// the new schedule and modes.
    pub(super) fn sync_all_unavailability(&mut self) {
        let known: BTreeSet<AgentId> = self
            .agents
            .keys()
            .chain(self.inverse_offers.agents())
            .cloned()
            .collect();
        for agent_id in known {
            if self.removing.contains(&agent_id) {
                // Going (its machine went DOWN): its removal rescinds its
                // inverse offers; rescinding its offers now would only
                // have them made again before it goes.
                continue;
            }
            if self.agents.contains_key(&agent_id) {
                self.sync_unavailability(&agent_id);
            } else {
                self.forget_agent_inverse_offers(&agent_id);
            }
        }
    }

    /// The agent left (removed, unreachable, gone): its inverse offers are
    /// rescinded and its maintenance record dropped (upstream
    /// `removeSlave` / `markUnreachable`).
    pub(super) fn forget_agent_inverse_offers(&mut self, agent_id: &AgentId) {
        for offer in self.inverse_offers.forget_agent(agent_id.as_str()) {
            self.send_rescind_inverse_offer(&offer);
        }
    }

    /// The agent was deactivated or disconnected: its inverse offers are
    /// rescinded; new ones follow once it is active again.
    pub(super) fn rescind_agent_inverse_offers(&mut self, agent_id: &AgentId) {
        for offer_id in self.inverse_offers.offers_on_agent(agent_id.as_str()) {
            self.rescind_inverse_offer(&offer_id);
        }
    }

    /// The framework was deactivated or removed: its inverse offers go
    /// (rescinded if asked) and its filters are cleared.
    pub(super) fn remove_framework_inverse_offers(&mut self, framework_id: &str, rescind: bool) {
        self.drop_framework_inverse_offers(framework_id, rescind);
        self.inverse_offers.clear_filters(framework_id);
    }

    /// The framework's outstanding inverse offers go (rescinded if asked):
    /// its new connection never saw them; new ones follow.
    pub(super) fn drop_framework_inverse_offers(&mut self, framework_id: &str, rescind: bool) {
        let ids: Vec<String> = self
            .inverse_offers
            .offers_of_framework(framework_id)
            .map(|o| o.id.value.clone())
            .collect();
        for offer_id in ids {
            if rescind {
                self.rescind_inverse_offer(&offer_id);
            } else {
                self.inverse_offers.remove(&offer_id);
            }
        }
    }

    fn rescind_inverse_offer(&mut self, offer_id: &str) {
        if let Some(offer) = self.inverse_offers.remove(offer_id) {
            self.send_rescind_inverse_offer(&offer);
        }
    }

    fn send_rescind_inverse_offer(&mut self, offer: &v1::InverseOffer) {
        info!(
            "Rescinding inverse offer {} of framework {}",
            offer.id.value, offer.framework_id.value
        );
        self.mark_changed();
        self.send_event(
            &offer.framework_id.value,
            &events::rescind_inverse_offer(&offer.id.value),
        );
    }

    /// `--offer_timeout` passed for an inverse offer.
    pub(super) fn inverse_offer_timeout(&mut self, offer_id: &str) {
        if self.inverse_offers.get(offer_id).is_some() {
            info!("Rescinding inverse offer {offer_id} after --offer_timeout");
            self.rescind_inverse_offer(offer_id);
        }
    }

    /// Frameworks with something on the agent: tasks that hold resources,
    /// executors, outstanding offers (upstream: offered or allocated).
    fn frameworks_on_agent(&self, agent_id: &AgentId) -> BTreeSet<String> {
        let Some(agent) = self.agents.get(agent_id) else {
            return BTreeSet::new();
        };
        let mut frameworks: BTreeSet<String> = self.used_on_agent(agent).into_keys().collect();
        frameworks.extend(
            agent
                .offers
                .iter()
                .filter_map(|id| self.offers.get(id))
                .map(|r| r.offer.framework_id.value.clone()),
        );
        frameworks
    }

    /// The inverse offers of this allocation cycle
    /// (`generateInverseOffers` and `Master::inverseOffer`).
    pub(super) fn generate_inverse_offers(&mut self) {
        let now = allocator_now();
        let agents: Vec<AgentId> = self.inverse_offers.agents().cloned().collect();
        let mut by_framework: BTreeMap<String, Vec<v1::InverseOffer>> = BTreeMap::new();
        for agent_id in agents {
            let Some(unavailability) = self
                .inverse_offers
                .unavailability(agent_id.as_str())
                .cloned()
            else {
                continue;
            };
            let Some(url) = self
                .agents
                .get(&agent_id)
                .filter(|a| a.active && a.connected)
                .map(|agent| v1::Url {
                    scheme: "http".to_string(),
                    address: v1::Address {
                        hostname: Some(agent.info.hostname.clone()),
                        ip: Some(agent.pid.ip.to_string()),
                        port: i32::from(agent.pid.port),
                    },
                    path: Some(format!("/{}", agent.pid.id)),
                    ..Default::default()
                })
            else {
                continue;
            };
            for framework_id in self.frameworks_on_agent(&agent_id) {
                let wanted = self
                    .frameworks
                    .get(framework_id.as_str())
                    .is_some_and(|f| f.active && f.connected());
                if !wanted
                    || self
                        .inverse_offers
                        .outstanding(&framework_id, agent_id.as_str())
                    || self
                        .inverse_offers
                        .is_filtered(&framework_id, agent_id.as_str(), now)
                {
                    continue;
                }
                // One id sequence for offers and inverse offers, as
                // upstream: an OfferID names either.
                let offer = v1::InverseOffer {
                    id: v1::OfferId {
                        value: self.new_offer_id(),
                    },
                    url: Some(url.clone()),
                    framework_id: v1::FrameworkId {
                        value: framework_id.clone(),
                    },
                    agent_id: Some(v1::AgentId {
                        value: agent_id.to_string(),
                    }),
                    unavailability: mesos_proto::convert::evolve(&unavailability),
                    resources: Vec::new(),
                };
                if let Some(timeout) = self.flags.offer_timeout {
                    self.schedule(
                        timeout.to_std(),
                        Timer::InverseOfferTimeout {
                            offer_id: offer.id.value.clone(),
                        },
                    );
                }
                self.inverse_offers.add(offer.clone());
                by_framework.entry(framework_id).or_default().push(offer);
            }
        }
        if by_framework.is_empty() {
            return;
        }
        self.mark_changed();
        for (framework_id, offers) in by_framework {
            let ids: Vec<&str> = offers.iter().map(|o| o.id.value.as_str()).collect();
            info!(
                "Sending inverse offers [ {} ] to framework {framework_id}",
                ids.join(", ")
            );
            self.send_event(&framework_id, &events::inverse_offers(offers));
        }
    }

    /// ACCEPT_INVERSE_OFFERS and DECLINE_INVERSE_OFFERS: each valid inverse
    /// offer's answer is recorded with the call's filters (none without
    /// `filters`, as upstream); invalid ids are logged and skipped.
    pub(super) fn answer_inverse_offers(
        &mut self,
        framework_id: &str,
        offer_ids: &[v1::OfferId],
        filters: Option<&v1::Filters>,
        status: Status,
    ) {
        let name = match status {
            Status::Accept => "ACCEPT_INVERSE_OFFERS",
            _ => "DECLINE_INVERSE_OFFERS",
        };
        if offer_ids.is_empty() {
            warn!("{name} call of framework {framework_id} used invalid offers: No inverse offers specified");
            return;
        }
        info!(
            "Processing {name} call for inverse offers: [ {} ] for framework {framework_id}",
            offer_ids
                .iter()
                .map(|o| o.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        // No filters, no filter: upstream installs one only when given.
        let refuse = filters.and_then(|f| refuse_duration(Some(f)));
        let now = allocator_now();
        let timestamp = now_secs();
        let mut answered = false;
        for id in offer_ids {
            match self.inverse_offers.answer(
                framework_id,
                &id.value,
                status,
                timestamp,
                refuse,
                now,
            ) {
                Ok(()) => answered = true,
                Err(error) => warn!("Ignoring {name} of framework {framework_id}: {error}"),
            }
        }
        if answered {
            self.mark_changed();
        }
    }

    pub(super) fn accept_inverse_offers(
        &mut self,
        framework_id: &str,
        accept: call::AcceptInverseOffers,
    ) {
        self.answer_inverse_offers(
            framework_id,
            &accept.inverse_offer_ids,
            accept.filters.as_ref(),
            Status::Accept,
        );
    }

    pub(super) fn decline_inverse_offers(
        &mut self,
        framework_id: &str,
        decline: call::DeclineInverseOffers,
    ) {
        self.answer_inverse_offers(
            framework_id,
            &decline.inverse_offer_ids,
            decline.filters.as_ref(),
            Status::Decline,
        );
    }

    /// `/maintenance/status` with the answers: each DRAINING machine lists
    /// the answers recorded for the agents on it.
    pub(super) fn maintenance_cluster_status(&self) -> ClusterStatus {
        self.maintenance.status_with(|machine| {
            self.agents
                .values()
                .filter(|a| machine_matches(machine, &a.info.hostname, &a.pid.ip.to_string()))
                .flat_map(|a| self.inverse_offers.statuses(a.id.as_str()).cloned())
                .collect()
        })
    }

    /// The framework's outstanding inverse offers (GET_FRAMEWORKS).
    pub(super) fn framework_inverse_offers(&self, framework_id: &str) -> Vec<v1::InverseOffer> {
        self.inverse_offers
            .offers_of_framework(framework_id)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailability(start: i64) -> Unavailability {
        Unavailability {
            start: v0::TimeInfo { nanoseconds: start },
            duration: None,
        }
    }

    fn offer(id: &str, framework: &str, agent: &str) -> v1::InverseOffer {
        v1::InverseOffer {
            id: v1::OfferId { value: id.into() },
            framework_id: v1::FrameworkId {
                value: framework.into(),
            },
            agent_id: Some(v1::AgentId {
                value: agent.into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn answers_are_recorded_and_filter_until_they_expire() {
        let mut state = InverseOfferState::default();
        assert!(state.set_unavailability("S1", Some(unavailability(1))));
        assert!(!state.set_unavailability("S1", Some(unavailability(1))));
        state.add(offer("O1", "F1", "S1"));
        assert!(state.outstanding("F1", "S1"));
        let now = Instant::now();
        assert_eq!(
            state.answer("F2", "O1", Status::Accept, 1.0, None, now),
            Err(AnswerError::OtherFramework("O1".into()))
        );
        state
            .answer(
                "F1",
                "O1",
                Status::Decline,
                2.0,
                Some(Duration::from_secs(10)),
                now,
            )
            .unwrap();
        assert!(!state.outstanding("F1", "S1"));
        assert_eq!(
            state.answer("F1", "O1", Status::Accept, 1.0, None, now),
            Err(AnswerError::Unknown("O1".into()))
        );
        let statuses: Vec<_> = state.statuses("S1").cloned().collect();
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0].status, Status::Decline as i32);
        assert_eq!(statuses[0].framework_id.value, "F1");
        assert_eq!(statuses[0].timestamp.nanoseconds, 2_000_000_000);
        assert!(state.is_filtered("F1", "S1", now + Duration::from_secs(9)));
        assert!(!state.is_filtered("F1", "S1", now + Duration::from_secs(10)));
        assert!(!state.is_filtered("F2", "S1", now));
    }

    #[test]
    fn a_new_unavailability_forgets_answers_and_filters() {
        let mut state = InverseOfferState::default();
        state.set_unavailability("S1", Some(unavailability(1)));
        state.add(offer("O1", "F1", "S1"));
        let now = Instant::now();
        state
            .answer(
                "F1",
                "O1",
                Status::Accept,
                1.0,
                Some(Duration::from_secs(60)),
                now,
            )
            .unwrap();
        assert!(state.set_unavailability("S1", Some(unavailability(2))));
        assert_eq!(state.statuses("S1").count(), 0);
        assert!(!state.is_filtered("F1", "S1", now));
        assert!(state.set_unavailability("S1", None));
        assert!(state.unavailability("S1").is_none());
    }

    #[test]
    fn a_forgotten_agent_hands_back_its_outstanding_offers() {
        let mut state = InverseOfferState::default();
        state.set_unavailability("S1", Some(unavailability(1)));
        state.set_unavailability("S2", Some(unavailability(1)));
        state.add(offer("O1", "F1", "S1"));
        state.add(offer("O2", "F1", "S2"));
        let gone = state.forget_agent("S1");
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].id.value, "O1");
        assert_eq!(state.len(), 1);
        assert_eq!(state.offers_of_framework("F1").count(), 1);
        assert!(state.unavailability("S1").is_none());
    }
}
