//! v0 authentication in the master (upstream `Master::authenticate`,
//! `_authenticate`, `authenticationTimeout`, and the `authenticating` /
//! `authenticated` maps): an `AuthenticateMessage` starts a CRAM-MD5
//! session, the outcome marks the client's pid authenticated with a
//! principal, and registrations are checked against it.
//!
//! Owns both maps and the running sessions. Never runs the exchange
//! itself (that is `mesos_authentication::session`, off the actor's loop)
//! and never decides anything else about a framework or an agent: the
//! actor asks [`V0Authentication`] and acts on the answer.

use std::collections::HashMap;
use std::sync::Arc;

use libprocess::{Message, Processes, Transport, Upid};
use mesos_authentication::session::{Session, Sessions};
use mesos_authentication::{Credentials, Outcome};
use mesos_proto::mesos::v1::FrameworkInfo;
use prost::Name;
use tracing::{info, warn};

use super::{Command, Master};
use crate::flags::Flags;

/// Registrations queued behind one authentication, at most (an honest
/// client sends one, then waits).
const MAX_DEFERRED: usize = 8;

/// Sessions in progress at once, at most: each lives until it ends or
/// `--authentication_v0_timeout`, so a flood of requests for made-up pids
/// costs a bounded amount; beyond it a request is answered with an error
/// (the client retries, as it does after any error).
const MAX_SESSIONS: usize = 4096;

/// The end of a session, sent to the actor.
#[derive(Debug)]
pub struct Completed {
    pid: Upid,
    session: u64,
    outcome: Outcome,
}

/// The master's authentication state.
#[derive(Debug)]
pub struct V0Authentication {
    sessions: Sessions,
    /// Client pid → the session authenticating it and the registrations
    /// that arrived meanwhile (replayed when it ends).
    authenticating: HashMap<Upid, Pending>,
    /// Client pid → the principal it proved.
    authenticated: HashMap<Upid, String>,
    next_session: u64,
}

#[derive(Debug)]
struct Pending {
    id: u64,
    _session: Session,
    deferred: Vec<Message>,
}

/// Messages that wait for an authentication in progress (upstream queues
/// SUBSCRIBE and agent (re-)registration behind `authenticating[from]`).
fn waits_for_authentication(name: &str) -> bool {
    use mesos_proto::mesos::internal::{
        RegisterFrameworkMessage, RegisterSlaveMessage, ReregisterFrameworkMessage,
        ReregisterSlaveMessage,
    };
    name == RegisterFrameworkMessage::full_name()
        || name == ReregisterFrameworkMessage::full_name()
        || name == RegisterSlaveMessage::full_name()
        || name == ReregisterSlaveMessage::full_name()
        || name == mesos_proto::mesos::scheduler::Call::full_name()
}

impl V0Authentication {
    /// Reads `--credentials` (validated with the flags, so a failure here
    /// leaves an authenticator that refuses everyone, as upstream's does
    /// when it has no credentials).
    pub fn new(
        flags: &Flags,
        transport: Transport,
        processes: Processes,
        pid: &Upid,
        hostname: String,
    ) -> V0Authentication {
        let credentials = match &flags.credentials {
            Some(path) => Credentials::from_path(path).unwrap_or_else(|error| {
                warn!("{error}; v0 authentication requests will be refused");
                Credentials::default()
            }),
            None => {
                warn!("No credentials provided, authentication requests will be refused");
                Credentials::default()
            }
        };
        V0Authentication {
            sessions: Sessions {
                transport,
                processes,
                ip: pid.ip,
                port: pid.port,
                credentials: Arc::new(credentials),
                hostname,
            },
            authenticating: HashMap::new(),
            authenticated: HashMap::new(),
            next_session: 0,
        }
    }

    /// Queues `message` if its sender is being authenticated; gives it
    /// back when the actor should handle it now.
    pub fn defer(&mut self, message: Message) -> Option<Message> {
        if !waits_for_authentication(&message.name) {
            return Some(message);
        }
        let Some(pending) = self.authenticating.get_mut(&message.from) else {
            return Some(message);
        };
        if pending.deferred.len() < MAX_DEFERRED {
            info!(
                "Queuing up '{}' from {} because authentication is still in progress",
                message.name, message.from
            );
            pending.deferred.push(message);
        } else {
            warn!(
                "Dropping '{}' from {}: too many requests wait for its authentication",
                message.name, message.from
            );
        }
        None
    }

    /// The principal `pid` authenticated as, if it did.
    pub fn principal(&self, pid: &Upid) -> Option<&str> {
        self.authenticated.get(pid).map(String::as_str)
    }

    /// Forgets `pid`'s authentication (it disconnected, or its framework
    /// or agent was removed or failed over elsewhere; it authenticates
    /// again before registering). Whether there was one.
    pub fn forget(&mut self, pid: &Upid) -> bool {
        self.authenticated.remove(pid).is_some()
    }

    /// Upstream `validateFrameworkAuthentication`.
    pub fn check_framework(
        &self,
        required: bool,
        info: &FrameworkInfo,
        from: &Upid,
    ) -> Result<(), String> {
        if self.authenticating.contains_key(from) {
            return Err("Re-authentication in progress".to_string());
        }
        let authenticated = self.authenticated.get(from);
        if required && authenticated.is_none() {
            return Err(format!("Framework at {from} is not authenticated"));
        }
        if let (Some(principal), Some(authenticated)) = (&info.principal, authenticated) {
            if principal != authenticated {
                return Err(format!(
                    "Framework principal '{principal}' does not match authenticated principal \
                     '{authenticated}'"
                ));
            }
        }
        Ok(())
    }
}

impl Master {
    /// `AuthenticateMessage` from `from` (the authenticatee process) for
    /// client `pid`.
    pub(super) fn authenticate(&mut self, from: Upid, pid: String) {
        self.count("master/messages_authenticate");
        let pid = match pid.parse::<Upid>() {
            Ok(pid) => pid,
            Err(error) => {
                warn!("Dropping authentication request from {from}: {error}");
                self.count("master/dropped_messages");
                return;
            }
        };
        let erased = self.authentication.authenticated.remove(&pid).is_some();
        // A new request discards one in progress (its session is dropped
        // and its queued registrations with it, as upstream discards them).
        if self.authentication.authenticating.remove(&pid).is_some() {
            info!("Re-authenticating {pid}; discarding outstanding authentication");
        } else {
            info!(
                "Authenticating {pid}{}",
                if erased {
                    "; clearing previous authentication"
                } else {
                    ""
                }
            );
        }
        if self.authentication.authenticating.len() >= MAX_SESSIONS {
            warn!("Refusing to authenticate {pid}: {MAX_SESSIONS} authentications in progress");
            self.send(
                &from,
                &mesos_proto::mesos::internal::AuthenticationErrorMessage {
                    error: Some("Too many authentications in progress".to_string()),
                },
            );
            return;
        }
        self.authentication.next_session += 1;
        let id = self.authentication.next_session;
        let commands = self.commands_tx.clone();
        let client = pid.clone();
        let session = self.authentication.sessions.start(
            from,
            self.flags.authentication_v0_timeout.to_std(),
            move |outcome| {
                let _ = commands.send(Command::Authentication(Completed {
                    pid: client,
                    session: id,
                    outcome,
                }));
            },
        );
        self.authentication.authenticating.insert(
            pid,
            Pending {
                id,
                _session: session,
                deferred: Vec::new(),
            },
        );
    }

    /// Upstream `_authenticate`: records the outcome, then handles the
    /// registrations that waited for it.
    pub(super) fn authentication_completed(&mut self, completed: Completed) {
        let Completed {
            pid,
            session,
            outcome,
        } = completed;
        let current = self
            .authentication
            .authenticating
            .get(&pid)
            .is_some_and(|p| p.id == session);
        if !current {
            info!("Ignoring stale authentication result of {pid}");
            return;
        }
        let Some(pending) = self.authentication.authenticating.remove(&pid) else {
            return;
        };
        let replay = match outcome {
            Outcome::Authenticated(principal) => {
                info!("Successfully authenticated principal '{principal}' at {pid}");
                self.authentication.authenticated.insert(pid, principal);
                true
            }
            Outcome::Refused => {
                info!("Authentication of {pid} was unsuccessful: Invalid credentials");
                true
            }
            Outcome::Error(error) => {
                warn!("An error occurred while attempting to authenticate {pid}: {error}");
                false
            }
        };
        if replay {
            for message in pending.deferred {
                self.handle_message(message);
            }
        }
    }

    /// Whether an agent at `from` may register (`reregistration` false)
    /// or re-register; logs the refusal.
    pub(super) fn agent_authenticated(&mut self, from: &Upid, reregistration: bool) -> bool {
        if !self.flags.authenticate_agents || self.authentication.principal(from).is_some() {
            return true;
        }
        warn!(
            "Refusing {} of agent at {from} because it is not authenticated",
            if reregistration {
                "re-registration"
            } else {
                "registration"
            }
        );
        false
    }

    /// The framework checks of a v0 subscription: `Err` is the
    /// `FrameworkErrorMessage` to send. Fills in a missing principal with
    /// the authenticated one, as upstream does.
    pub(super) fn framework_authenticated(
        &self,
        info: &mut FrameworkInfo,
        from: &Upid,
    ) -> Result<(), String> {
        self.authentication
            .check_framework(self.flags.authenticate_frameworks, info, from)?;
        if info.principal.is_none() {
            if let Some(principal) = self.authentication.principal(from) {
                warn!(
                    "Setting 'principal' in FrameworkInfo to '{principal}' because the framework \
                     authenticated with that principal but did not set it in FrameworkInfo"
                );
                info.principal = Some(principal.to_string());
            }
        }
        Ok(())
    }
}
