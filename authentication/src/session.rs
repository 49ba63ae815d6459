//! The state machines as libprocess processes: each server session is a
//! process `crammd5-authenticator-session(N)` and each client attempt a
//! process `crammd5-authenticatee(N)` on the owner's server, as upstream
//! spawns them, so the peer can address replies to them.
//!
//! Owns the tasks and their process ids (removed when the task ends or is
//! dropped). Never decides what an outcome means for the owner; the master,
//! the agent and the driver are told and decide.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use libprocess::{Message, Processes, Transport, Upid};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::authenticatee::{Authenticatee, ClientOutcome, ClientTurn};
use crate::authenticator::{Authenticator, Outcome};
use crate::messages::{self, Outbound};
use crate::{cram_md5, generate_id, Credential, Credentials};

/// Most messages a session or attempt will queue before it stops reading
/// (an honest peer sends at most two).
const MAX_QUEUED: usize = 64;

/// A process id registered on a server for as long as this lives.
struct Registered {
    processes: Processes,
    id: String,
}

impl Registered {
    fn new(processes: &Processes, prefix: &str) -> (Registered, mpsc::UnboundedReceiver<Message>) {
        let id = generate_id(prefix);
        let (tx, rx) = mpsc::unbounded_channel();
        processes.add_messages(&id, tx);
        (
            Registered {
                processes: processes.clone(),
                id,
            },
            rx,
        )
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.processes.remove(&self.id);
    }
}

fn send(transport: &Transport, from: &Upid, to: &Upid, outbound: Outbound) {
    transport.send(from, to, &outbound.name, Bytes::from(outbound.body));
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where the server's sessions live and what they check against.
#[derive(Clone)]
pub struct Sessions {
    pub transport: Transport,
    pub processes: Processes,
    /// The address of the server `processes` is served on.
    pub ip: IpAddr,
    pub port: u16,
    pub credentials: Arc<Credentials>,
    /// Put in challenges (only for uniqueness, as Cyrus SASL does).
    pub hostname: String,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("ip", &self.ip)
            .field("port", &self.port)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// A running server session; dropping it discards the session.
#[derive(Debug)]
pub struct Session {
    task: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sessions {
    /// Starts a session with `authenticatee` (the process that sent the
    /// `AuthenticateMessage`); `done` is told how it ended, unless the
    /// session is dropped first. It ends with an error after `timeout`.
    pub fn start(
        &self,
        authenticatee: Upid,
        timeout: Duration,
        done: impl FnOnce(Outcome) + Send + 'static,
    ) -> Session {
        let sessions = self.clone();
        let task = tokio::spawn(async move {
            let (registered, mut inbox) =
                Registered::new(&sessions.processes, "crammd5-authenticator-session");
            let me = Upid::new(registered.id.clone(), sessions.ip, sessions.port);
            let challenge =
                cram_md5::challenge(rand::random::<u64>(), unix_secs(), &sessions.hostname);
            let mut authenticator =
                Authenticator::new(Arc::clone(&sessions.credentials), challenge);
            send(
                &sessions.transport,
                &me,
                &authenticatee,
                Authenticator::mechanisms(),
            );
            let exchange = async {
                let mut received = 0usize;
                while let Some(message) = inbox.recv().await {
                    received += 1;
                    if message.from != authenticatee {
                        warn!(
                            "Ignoring '{}' from {} in a session with {authenticatee}",
                            message.name, message.from
                        );
                        if received > MAX_QUEUED {
                            break;
                        }
                        continue;
                    }
                    let turn = match messages::decode_server(&message) {
                        Ok(inbound) => authenticator.receive(inbound),
                        Err(error) => authenticator.fail(error.to_string()),
                    };
                    send(&sessions.transport, &me, &authenticatee, turn.reply);
                    if let Some(outcome) = turn.outcome {
                        return outcome;
                    }
                }
                Outcome::Error("Authentication session ended".to_string())
            };
            let outcome = match tokio::time::timeout(timeout, exchange).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    warn!("Authentication of {authenticatee} timed out");
                    Outcome::Error("Authentication timed out".to_string())
                }
            };
            drop(registered);
            done(outcome);
        });
        Session { task }
    }
}

/// Authenticates `client` with the master at `master` using `credential`,
/// from a process of our own on the server behind `processes` (at
/// `ip:port`). Dropping the future abandons the attempt; callers bound it
/// with their authentication timeout.
pub async fn authenticate(
    transport: &Transport,
    processes: &Processes,
    ip: IpAddr,
    port: u16,
    master: &Upid,
    client: &Upid,
    credential: Credential,
) -> ClientOutcome {
    let (registered, mut inbox) = Registered::new(processes, "crammd5-authenticatee");
    let me = Upid::new(registered.id.clone(), ip, port);
    info!("Authenticating {client} with master {master}");
    send(transport, &me, master, Authenticatee::authenticate(client));
    let mut authenticatee = Authenticatee::new(credential);
    // The session that offered mechanisms; later messages must come from it.
    let mut authenticator: Option<Upid> = None;
    let mut received = 0usize;
    while let Some(message) = inbox.recv().await {
        received += 1;
        if received > MAX_QUEUED {
            break;
        }
        if authenticator.as_ref().is_some_and(|a| *a != message.from) {
            return ClientOutcome::Error(format!("Unexpected authenticator pid {}", message.from));
        }
        let inbound = match messages::decode_client(&message) {
            Ok(inbound) => inbound,
            Err(error) => return ClientOutcome::Error(error.to_string()),
        };
        match authenticatee.receive(inbound) {
            ClientTurn::Reply(outbound) => {
                authenticator = Some(message.from.clone());
                send(transport, &me, &message.from, outbound);
            }
            ClientTurn::Done(outcome) => return outcome,
        }
    }
    ClientOutcome::Error("Authentication attempt ended".to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use libprocess::Server;
    use std::net::{Ipv4Addr, SocketAddr};

    async fn server(id: &str) -> (Processes, u16) {
        let server = Server::builder(id)
            .bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
            .await
            .unwrap();
        let processes = server.processes();
        let port = server.local_addr().port();
        server.serve();
        (processes, port)
    }

    /// A master-like process that starts a session per AuthenticateMessage.
    async fn master(credentials: &str) -> (Upid, mpsc::UnboundedReceiver<(Upid, Outcome)>) {
        let (processes, port) = server("master").await;
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        processes.add_messages("master", tx);
        let (transport, _exited) = Transport::new();
        let sessions = Sessions {
            transport,
            processes,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            credentials: Arc::new(Credentials::parse(credentials).unwrap()),
            hostname: "test".into(),
        };
        let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut live = Vec::new();
            while let Some(m) = rx.recv().await {
                let client = messages::decode_authenticate(&m).unwrap();
                let outcomes = outcomes_tx.clone();
                live.push(sessions.start(m.from, Duration::from_secs(5), move |o| {
                    let _ = outcomes.send((client, o));
                }));
            }
        });
        (
            Upid::new("master", IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            outcomes_rx,
        )
    }

    async fn attempt(master: &Upid, secret: &str) -> ClientOutcome {
        let (processes, port) = server("slave(1)").await;
        let (transport, _exited) = Transport::new();
        let client = Upid::new("slave(1)", IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let outcome = tokio::time::timeout(
            Duration::from_secs(10),
            authenticate(
                &transport,
                &processes,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                port,
                master,
                &client,
                Credential {
                    principal: "agent".into(),
                    secret: secret.as_bytes().to_vec(),
                },
            ),
        )
        .await
        .unwrap();
        // The attempt's process is gone once it ended.
        assert!(!processes.contains("crammd5-authenticatee(1)"));
        outcome
    }

    #[tokio::test]
    async fn exchange_over_libprocess_succeeds_and_refuses() {
        let (master, mut outcomes) = master("agent s3cret").await;
        assert_eq!(
            attempt(&master, "s3cret").await,
            ClientOutcome::Authenticated
        );
        let (client, outcome) = outcomes.recv().await.unwrap();
        assert_eq!(client.id, "slave(1)");
        assert_eq!(outcome, Outcome::Authenticated("agent".into()));

        assert_eq!(attempt(&master, "wrong").await, ClientOutcome::Refused);
        assert_eq!(outcomes.recv().await.unwrap().1, Outcome::Refused);
    }
}
