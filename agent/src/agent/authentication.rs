//! The agent's v0 authentication with the master before it (re-)registers
//! (upstream `Slave::authenticate`, `_authenticate`): each attempt runs the
//! CRAM-MD5 exchange with a timeout drawn from a range that grows after
//! every failed attempt, up to `--authentication_timeout_max`.
//!
//! Owns when to try and what an outcome means for registration. Never runs
//! the exchange itself (`mesos_authentication::session` does, on a task)
//! and never exits the agent: a refusal is logged and retried after the
//! longest timeout, so a credential fixed on the master lets the agent in.

use std::net::IpAddr;
use std::time::Duration;

use libprocess::{Processes, Transport, Upid};
use mesos_authentication::{session, ClientOutcome, Credential};
use rand::Rng;

use super::{Agent, AgentState, Input};

/// What the agent authenticates with (`--credential`), and the server its
/// authenticatee process lives on.
#[derive(Clone)]
pub struct Authenticatee {
    pub credential: Credential,
    pub transport: Transport,
    pub processes: Processes,
    pub ip: IpAddr,
    pub port: u16,
}

impl std::fmt::Debug for Authenticatee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticatee")
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

/// A timeout drawn from `[min, max]`.
fn timeout_between(min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    rand::thread_rng().gen_range(min..=max)
}

impl Agent {
    /// After a master is detected: authenticate first when a credential is
    /// configured; `false` means register directly.
    pub(super) fn start_authentication(&mut self, delay: Duration) -> bool {
        if self.authenticatee.is_none() {
            return false;
        }
        let min = self.flags.authentication_timeout_min.0;
        let max = (min + self.flags.authentication_backoff_factor.0 * 2)
            .min(self.flags.authentication_timeout_max.0);
        self.schedule(
            delay,
            Input::Authenticate {
                generation: self.registration_generation,
                min,
                max,
            },
        );
        true
    }

    pub(super) fn authenticate(&mut self, generation: u64, min: Duration, max: Duration) {
        if generation != self.registration_generation || self.state != AgentState::Disconnected {
            return;
        }
        let (Some(master), Some(authenticatee)) = (self.master.clone(), self.authenticatee.clone())
        else {
            return;
        };
        tracing::info!("Authenticating with master {master}");
        self.out.link(&master);
        let client: Upid = self.self_pid.clone();
        let inbox = self.inbox.clone();
        let timeout = timeout_between(min, max);
        tokio::spawn(async move {
            let attempt = session::authenticate(
                &authenticatee.transport,
                &authenticatee.processes,
                authenticatee.ip,
                authenticatee.port,
                &master,
                &client,
                authenticatee.credential,
            );
            let outcome = match tokio::time::timeout(timeout, attempt).await {
                Ok(outcome) => outcome,
                Err(_) => ClientOutcome::Error("Authentication timed out".to_string()),
            };
            let _ = inbox.send(Input::Authenticated {
                generation,
                min,
                max,
                outcome,
            });
        });
    }

    pub(super) fn authenticated(
        &mut self,
        generation: u64,
        min: Duration,
        max: Duration,
        outcome: ClientOutcome,
    ) {
        if generation != self.registration_generation || self.state != AgentState::Disconnected {
            tracing::info!("Ignoring the result of a stale authentication attempt");
            return;
        }
        let Some(master) = self.master.clone() else {
            tracing::info!("Ignoring _authenticate because the master is lost");
            return;
        };
        // The range grows: [min, min + factor·2ⁿ], capped at the flag.
        let grown = (min + (max - min) * 2).min(self.flags.authentication_timeout_max.0);
        match outcome {
            ClientOutcome::Authenticated => {
                tracing::info!("Successfully authenticated with master {master}");
                let factor = self.flags.registration_backoff_factor.0;
                self.registration_timer(generation, factor * 2);
            }
            ClientOutcome::Refused => {
                tracing::error!(
                    "Master {master} refused authentication; retrying in {grown:?} (check \
                     --credential against the master's --credentials)"
                );
                self.schedule(
                    grown,
                    Input::Authenticate {
                        generation,
                        min,
                        max: grown,
                    },
                );
            }
            ClientOutcome::Error(error) => {
                tracing::warn!("Failed to authenticate with master {master}: {error}");
                self.authenticate(generation, min, grown);
            }
        }
    }
}

/// The agent's `--credential`, read at start.
pub fn credential(flags: &crate::flags::Flags) -> Result<Option<Credential>, String> {
    match &flags.credential {
        None => Ok(None),
        Some(path) => Credential::from_path(path)
            .map(Some)
            .map_err(|e| format!("{e} (see --credential flag)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_stay_in_range() {
        let (min, max) = (Duration::from_secs(5), Duration::from_secs(7));
        for _ in 0..100 {
            let t = timeout_between(min, max);
            assert!(t >= min && t <= max);
        }
        assert_eq!(timeout_between(max, min), max);
    }
}
