//! The libprocess endpoint of one driver: a small tokio runtime that serves
//! the driver's process id over HTTP and carries its outbound messages.
//!
//! Owns the runtime, the server and the transport; hands inbound messages,
//! `exited` notifications and detector changes to the driver's actor thread
//! through one channel. Never interprets a message.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use libprocess::{Message, Processes, Server, Transport, Upid};
use mesos_authentication::{session, ClientOutcome, Credential};
use mesos_proto::mesos::MasterInfo;

use crate::detector::Detection;
use crate::Error;

/// Something the actor thread must handle, besides its own commands.
pub(crate) enum Inbound<C> {
    /// A message and when our endpoint handed it over (wall clock, so it
    /// can be compared with timestamps taken in the JVM).
    Message(Message, SystemTime),
    Exited(Upid),
    Detected(Option<MasterInfo>),
    Command(C),
    /// Authentication attempt `attempt` ended.
    Authenticated {
        attempt: u64,
        outcome: ClientOutcome,
    },
}

pub(crate) struct Endpoint {
    runtime: Option<tokio::runtime::Runtime>,
    pub transport: Transport,
    pub pid: Upid,
    /// The server's process table (the authenticatee registers there).
    processes: Processes,
}

/// How long a last message (TEARDOWN on `stop`) may take to be written
/// before the endpoint goes away.
const FINAL_SEND_TIMEOUT: Duration = Duration::from_secs(2);

fn env_ip(name: &str) -> Option<IpAddr> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// The IP other processes reach us on: `LIBPROCESS_ADVERTISE_IP`, else
/// `LIBPROCESS_IP`, else this host's name resolved (IPv4 first), like
/// libprocess; loopback when the hostname does not resolve.
fn advertised_ip(bound: IpAddr) -> IpAddr {
    if let Some(ip) = env_ip("LIBPROCESS_ADVERTISE_IP") {
        return ip;
    }
    if !bound.is_unspecified() {
        return bound;
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let resolved: Vec<SocketAddr> = (hostname.trim(), 0)
        .to_socket_addrs()
        .map(|a| a.collect())
        .unwrap_or_default();
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

impl Endpoint {
    /// Starts serving process `id` on `LIBPROCESS_IP:LIBPROCESS_PORT`
    /// (any address and a free port by default); everything inbound goes to
    /// `inbound`.
    pub fn start<C: Send + 'static>(
        id: &str,
        inbound: mpsc::Sender<Inbound<C>>,
    ) -> Result<Endpoint, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mesos-driver-io")
            .enable_all()
            .build()
            .map_err(|e| Error::Endpoint(e.to_string()))?;
        let ip = env_ip("LIBPROCESS_IP").unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let port = match std::env::var("LIBPROCESS_PORT") {
            Ok(p) => p
                .trim()
                .parse::<u16>()
                .map_err(|e| Error::Endpoint(format!("LIBPROCESS_PORT '{p}': {e}")))?,
            Err(_) => 0,
        };
        let (transport, pid, processes) = runtime.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
            let server = Server::builder(id)
                .messages(id, tx)
                .bind(SocketAddr::new(ip, port))
                .await
                .map_err(|e| Error::Endpoint(e.to_string()))?;
            let local = server.local_addr();
            let processes = server.processes();
            server.serve();
            let (transport, mut exited) = Transport::new();
            let messages = inbound.clone();
            tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if messages
                        .send(Inbound::Message(m, SystemTime::now()))
                        .is_err()
                    {
                        return;
                    }
                }
            });
            tokio::spawn(async move {
                while let Some(upid) = exited.recv().await {
                    if inbound.send(Inbound::Exited(upid)).is_err() {
                        return;
                    }
                }
            });
            let advertised_port = std::env::var("LIBPROCESS_ADVERTISE_PORT")
                .ok()
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(local.port());
            let pid = Upid::new(id, advertised_ip(local.ip()), advertised_port);
            Ok::<_, Error>((transport, pid, processes))
        })?;
        Ok(Endpoint {
            runtime: Some(runtime),
            transport,
            pid,
            processes,
        })
    }

    /// Forwards every change of the detector's leader to the actor.
    pub fn watch_leader<C: Send + 'static>(
        &self,
        detection: Detection,
        inbound: mpsc::Sender<Inbound<C>>,
    ) {
        let Detection { mut leader, guard } = detection;
        if let Some(runtime) = &self.runtime {
            runtime.spawn(async move {
                // The detector lives as long as this watch.
                let _guard = guard;
                let first = leader.borrow_and_update().clone();
                if inbound.send(Inbound::Detected(first)).is_err() {
                    return;
                }
                while leader.changed().await.is_ok() {
                    let next = leader.borrow_and_update().clone();
                    if inbound.send(Inbound::Detected(next)).is_err() {
                        return;
                    }
                }
            });
        }
    }

    /// Runs one CRAM-MD5 attempt with `master` for our pid in the
    /// background, bounded by `timeout`; the outcome arrives as
    /// [`Inbound::Authenticated`].
    pub fn authenticate<C: Send + 'static>(
        &self,
        master: &Upid,
        credential: Credential,
        timeout: Duration,
        attempt: u64,
        inbound: mpsc::Sender<Inbound<C>>,
    ) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        let (transport, processes) = (self.transport.clone(), self.processes.clone());
        let (master, client) = (master.clone(), self.pid.clone());
        runtime.spawn(async move {
            let exchange = session::authenticate(
                &transport,
                &processes,
                client.ip,
                client.port,
                &master,
                &client,
                credential,
            );
            let outcome = tokio::time::timeout(timeout, exchange)
                .await
                .unwrap_or_else(|_| ClientOutcome::Error("Authentication timed out".into()));
            let _ = inbound.send(Inbound::Authenticated { attempt, outcome });
        });
    }

    /// The driver's runtime, for detectors that spawn tasks.
    pub fn runtime(&self) -> Option<&tokio::runtime::Handle> {
        self.runtime.as_ref().map(|r| r.handle())
    }

    pub fn send<M: prost::Message + prost::Name>(&self, to: &Upid, message: &M) {
        self.transport.send_message(&self.pid, to, message);
    }

    /// Sends a last message on a connection of its own and waits (bounded)
    /// until the peer has answered, so it is not lost when the endpoint is
    /// shut down right after. Best effort, like every libprocess send.
    pub fn send_final<M: prost::Message + prost::Name>(&self, to: &Upid, message: &M) {
        let bytes =
            libprocess::message::encode(&self.pid, to, &M::full_name(), &message.encode_to_vec());
        let sent = libprocess::transport::send_blocking(to.address(), &bytes, FINAL_SEND_TIMEOUT);
        if let Err(e) = sent {
            tracing::warn!("failed to send {} to {to}: {e}", M::full_name());
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Stops the server (closing its sockets) and the transport's
            // connection tasks without waiting on them.
            runtime.shutdown_background();
        }
    }
}
