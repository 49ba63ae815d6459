//! The Mesos master, reimplemented: the v1 scheduler API, the v0 agent
//! protocol, the allocator and the state endpoints, all on the libprocess
//! wire protocol so stock Mesos clients and agents work unmodified.
//!
//! Layout:
//! - [`flags`]: the command line (stout conventions);
//! - [`master`]: the actor owning all cluster state;
//! - [`allocator`]: DRF allocation (pure computation);
//! - [`registry`]: the record of admitted / unreachable / gone agents;
//! - [`agents`]: the v0 agent protocol (message decoding and building);
//! - [`drivers`]: the v0 scheduler driver protocol (libmesos frameworks),
//!   re-exported from `mesos-v0-codec`, which the driver library shares;
//! - [`http`]: the HTTP surfaces (scheduler API, state, process endpoints);
//! - [`leadership`]: election over ZooKeeper (`--zk`) and the message gate
//!   that keeps a standby master from acting as the leader;
//! - [`resources`]: master-specific resource projections;
//! - [`snapshot`]: the immutable state view read by HTTP handlers;
//! - [`logging`]: subscriber setup from the logging flags.
//!
//! [`start`] wires them together: it binds the libprocess server, builds
//! the `MasterInfo`, spawns the actor and installs the routes.

// `FrameworkInfo.role` and `Resource.role` are deprecated in the protos but
// are exactly what non-MULTI_ROLE frameworks and old clients speak.
#![allow(deprecated)]
// Tests may unwrap (project rule); production code never does.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod agents;
pub mod allocator;
pub use mesos_v0_codec::master as drivers;
pub mod flags;
pub mod http;
pub mod leadership;
pub mod logging;
pub mod master;
pub mod registry;
pub mod resources;
pub mod snapshot;
#[cfg(test)]
mod testing;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use libprocess::{Server, Transport, Upid};
use mesos_proto::mesos::v1::{master_info, Address, MasterInfo};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::allocator::{AllocatorOptions, HierarchicalDrf};
use crate::flags::{Flags, MESOS_VERSION};
use crate::http::{HttpContext, Leadership};
use crate::master::MasterHandle;
use crate::registry::{
    FileStore, MemoryStore, RegistrarOptions, Store, ZooKeeperStore, ZooKeeperStoreOptions,
};

/// Errors that stop the master.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Failed to bind the master's HTTP server: {0}")]
    Bind(#[from] libprocess::Error),
    #[error("Invalid configuration: {0}")]
    Config(String),
    #[error("Failed to initialize logging: {0}")]
    Logging(String),
    #[error("The master actor stopped unexpectedly")]
    ActorStopped,
    #[error("{0}")]
    LeadershipLost(#[from] leadership::LeadershipLost),
    #[error("Failed to open the registry: {0}")]
    Registry(String),
    #[error("{0}")]
    Recovery(#[from] master::RecoverError),
}

/// A started master.
pub struct Running {
    /// Where the HTTP server listens.
    pub local_addr: SocketAddr,
    /// `master@ip:port` as advertised.
    pub pid: Upid,
    pub info: MasterInfo,
    pub handle: MasterHandle,
    /// Leadership as the HTTP handlers and the message gate see it.
    pub leadership: watch::Receiver<Leadership>,
    /// With `--zk`: the election, which ends only when leadership is lost
    /// (registry recovery runs inside it, upon election).
    pub election: Option<JoinHandle<leadership::LeadershipLost>>,
    pub server: JoinHandle<()>,
    pub actor: JoinHandle<()>,
    /// Without `--zk`: registry recovery (and the switch to leading).
    pub recovery: Option<JoinHandle<Result<(), master::RecoverError>>>,
}

/// Binds, builds the `MasterInfo`, spawns the actor and serves.
pub async fn start(flags: Flags) -> Result<Running, Error> {
    let registry = registry_store(&flags).await?;
    start_with_registry(flags, registry).await
}

/// [`start`] with a given registry store (tests inject faulty ones).
pub async fn start_with_registry(flags: Flags, registry: Arc<dyn Store>) -> Result<Running, Error> {
    let flags = Arc::new(flags);
    let bind_ip = flags
        .ip
        .or_else(|| env_ip("LIBPROCESS_IP"))
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let zk = flags.zk_url().map_err(Error::Config)?;
    // Without ZooKeeper this master is elected from the start but leads
    // only once it recovered the registry, as an elected master with
    // ZooKeeper does: until then it drops messages and its v1 APIs answer
    // 503. With ZooKeeper, a follower until elected (and recovered).
    let (leadership_tx, leadership_rx) = watch::channel(if zk.is_some() {
        Leadership::Following(None)
    } else {
        Leadership::Recovering
    });
    let (message_tx, message_rx) = mpsc::unbounded_channel();
    let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
    let disabled_endpoints = flags.disabled_endpoints().map_err(Error::Config)?;
    let server = Server::builder("master")
        .messages("master", incoming_tx)
        .disabled_endpoints(disabled_endpoints)
        .bind(SocketAddr::new(bind_ip, flags.port))
        .await?;
    let local_addr = server.local_addr();

    let advertise_ip = flags
        .advertise_ip
        .or_else(|| env_ip("LIBPROCESS_ADVERTISE_IP"))
        .unwrap_or_else(|| {
            if bind_ip.is_unspecified() {
                resolve_own_ip()
            } else {
                bind_ip
            }
        });
    let advertise_port = flags
        .advertise_port
        .or_else(|| {
            std::env::var("LIBPROCESS_ADVERTISE_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
        })
        .unwrap_or(local_addr.port());
    if advertise_ip.is_loopback() {
        warn!(
            "Master bound to loopback interface! Cannot communicate with remote schedulers or \
             agents. You might want to set '--ip' flag to a routable IP address."
        );
    }
    let hostname = match &flags.hostname {
        Some(hostname) => hostname.clone(),
        None if flags.hostname_lookup => lookup_hostname(advertise_ip),
        None => advertise_ip.to_string(),
    };
    let pid = Upid::new("master", advertise_ip, advertise_port);
    let info = master_info(&pid, &hostname);

    let (transport, exited) = Transport::new();
    let processes = server.processes();
    let allocator = HierarchicalDrf::new(AllocatorOptions {
        allocation_interval: flags.allocation_interval.to_std(),
        min_allocatable: resources::parse_min_allocatable(&flags.min_allocatable_resources)
            .map_err(Error::Config)?,
        filter_gpu_resources: flags.filter_gpu_resources,
        weights: flags.parsed_weights().map_err(Error::Config)?,
        // A chunk of agents per actor turn keeps pings and reads flowing
        // while a cycle over a large cluster runs.
        max_agents_per_cycle: 2_000,
    });
    // Parsed before anything runs, so bad ACLs refuse to start.
    let authorizer =
        Arc::new(http::authentication::authorizer_from_flags(&flags).map_err(Error::Config)?);
    let (handle, actor) = master::spawn(
        master::Config {
            flags: flags.clone(),
            info: info.clone(),
            pid: pid.clone(),
            transport,
            processes: processes.clone(),
            message_tx: message_tx.clone(),
            allocator: Box::new(allocator),
            registry,
            registrar: RegistrarOptions {
                fetch_timeout: flags.registry_fetch_timeout.to_std(),
                store_timeout: flags.registry_store_timeout.to_std(),
                write_reports: None,
            },
            authorizer: authorizer.clone(),
        },
        message_rx,
        exited,
    );
    leadership::gate(incoming_rx, message_tx, leadership_rx.clone());
    // Without ZooKeeper this master is elected at once and leads after
    // recovering the registry; with it, recovery runs upon election.
    let (election, recovery) = match zk {
        Some(zk) => {
            info!("Contending for leadership at {zk}");
            let election = leadership::Election {
                zk,
                session_timeout: flags.zk_session_timeout.to_std(),
                info: info.clone(),
            };
            let recover_handle = handle.clone();
            let recovery: leadership::Recovery = Box::new(move || {
                Box::pin(async move { recover_handle.recover().await.map_err(|e| e.to_string()) })
            });
            (
                Some(tokio::spawn(election.run(leadership_tx, recovery))),
                None,
            )
        }
        None => (
            None,
            Some(tokio::spawn(recover_then_lead(
                handle.clone(),
                leadership_tx,
            ))),
        ),
    };
    // Before serving: no request is ever answered unauthenticated.
    processes.set_authentication(
        http::authentication::from_flags(&flags, authorizer.clone()).map_err(Error::Config)?,
    );
    http::install_routes(
        &processes,
        HttpContext {
            master: handle.clone(),
            flags,
            leadership: leadership_rx.clone(),
            authorizer,
            renders: Default::default(),
        },
    );
    let server = server.serve();
    info!(
        "Master {} ({hostname}) listening on {local_addr}, advertised as {pid}",
        info.id
    );
    Ok(Running {
        local_addr,
        pid,
        info,
        handle,
        leadership: leadership_rx,
        election,
        server,
        actor,
        recovery,
    })
}

/// The registry store the flags ask for: memory for `--registry=in_memory`;
/// for `--registry=replicated_log`, ZooKeeper (beside the election's
/// znodes, under `<zk path>/registry`) when `--zk` is set, else the file in
/// `--work_dir`. A ZooKeeper that is down at start is waited for, as
/// upstream's master waits: it cannot lead without one anyway.
pub async fn registry_store(flags: &Flags) -> Result<Arc<dyn Store>, Error> {
    if flags.registry == "in_memory" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    if let Some(zk) = flags.zk_url().map_err(Error::Config)? {
        let options = ZooKeeperStoreOptions {
            servers: zk.servers.clone(),
            path: format!("{}/registry", zk.path.trim_end_matches('/')),
            credentials: zk.auth.clone(),
            session_timeout: flags.zk_session_timeout.to_std(),
            chunk_size: registry::zookeeper::DEFAULT_CHUNK_SIZE,
        };
        let mut delay = std::time::Duration::from_millis(500);
        loop {
            match ZooKeeperStore::connect(options.clone()).await {
                Ok(store) => {
                    info!("Using the registry in ZooKeeper at {zk}/registry");
                    return Ok(Arc::new(store));
                }
                Err(e) => {
                    warn!("{e}; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(10));
                }
            }
        }
    }
    let work_dir = flags.work_dir.as_deref().ok_or_else(|| {
        Error::Config("--work_dir needed for replicated log based registry".into())
    })?;
    let store = FileStore::open(work_dir).map_err(|e| Error::Registry(e.to_string()))?;
    info!("Using the {}", store.describe());
    Ok(Arc::new(store))
}

/// Recovers the registry, then tells the HTTP layer this master leads.
/// On failure the actor has already stopped acting; the process exits.
pub async fn recover_then_lead(
    handle: MasterHandle,
    leadership: watch::Sender<Leadership>,
) -> Result<(), master::RecoverError> {
    match handle.recover().await {
        Ok(()) => {
            info!("Recovered the registry; serving as the leading master");
            leadership.send_replace(Leadership::Leading);
            Ok(())
        }
        Err(error) => {
            leadership.send_replace(Leadership::Following(None));
            Err(error)
        }
    }
}

/// Runs the master until its actor stops (it normally never does) or the
/// process is interrupted.
pub async fn run(flags: Flags) -> Result<(), Error> {
    let mut running = start(flags).await?;
    if let Some(recovery) = running.recovery.as_mut() {
        if let Ok(Err(error)) = recovery.await {
            return Err(Error::Recovery(error));
        }
    }
    let election = async {
        match running.election {
            Some(election) => match election.await {
                Ok(lost) => lost,
                Err(e) => {
                    leadership::LeadershipLost::Lost(format!("the election task failed: {e}"))
                }
            },
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        // The actor only stops when it must no longer lead (a failed
        // registry write, the recovery removal limit): exit, as upstream.
        _ = running.actor => Err(Error::ActorStopped),
        // A master that stops leading exits (upstream's EXIT(EXIT_FAILURE)).
        lost = election => Err(Error::LeadershipLost(lost)),
        _ = tokio::signal::ctrl_c() => {
            info!("Master terminating");
            Ok(())
        }
    }
}

/// `MasterInfo` as upstream fills it: a fresh UUID id; `ip` is the IPv4
/// address's network-order bytes read as a host integer (MESOS-1201).
pub fn master_info(pid: &Upid, hostname: &str) -> MasterInfo {
    let ip = match pid.ip {
        IpAddr::V4(v4) => u32::from_ne_bytes(v4.octets()),
        IpAddr::V6(_) => 0,
    };
    MasterInfo {
        id: uuid::Uuid::new_v4().to_string(),
        ip,
        port: u32::from(pid.port),
        pid: Some(pid.to_string()),
        hostname: Some(hostname.to_string()),
        version: Some(MESOS_VERSION.to_string()),
        address: Some(Address {
            hostname: Some(hostname.to_string()),
            ip: Some(pid.ip.to_string()),
            port: i32::from(pid.port),
        }),
        domain: None,
        capabilities: [
            master_info::capability::Type::AgentUpdate,
            master_info::capability::Type::AgentDraining,
            master_info::capability::Type::QuotaV2,
        ]
        .into_iter()
        .map(|kind| master_info::Capability {
            r#type: Some(kind as i32),
        })
        .collect(),
    }
}

fn env_ip(name: &str) -> Option<IpAddr> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The IP our hostname resolves to (libprocess does this when bound to
/// 0.0.0.0), preferring IPv4; loopback as the last resort.
fn resolve_own_ip() -> IpAddr {
    let fallback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let Ok(hostname) = nix::unistd::gethostname() else {
        return fallback;
    };
    let Some(hostname) = hostname.to_str() else {
        return fallback;
    };
    (hostname, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.find(|a| a.is_ipv4()).map(|a| a.ip()))
        .unwrap_or(fallback)
}

/// Reverse lookup of our IP the cheap way: `/etc/hosts`, then `localhost`
/// for loopback, then the machine's hostname.
fn lookup_hostname(ip: IpAddr) -> String {
    if let Ok(hosts) = std::fs::read_to_string("/etc/hosts") {
        for line in hosts.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_whitespace();
            if fields.next().and_then(|f| f.parse::<IpAddr>().ok()) == Some(ip) {
                if let Some(name) = fields.next() {
                    return name.to_string();
                }
            }
        }
    }
    if ip.is_loopback() {
        return "localhost".to_string();
    }
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_info_ip_is_network_order() {
        let pid: Upid = "master@10.0.0.1:5050".parse().unwrap();
        let info = master_info(&pid, "m");
        // On little-endian hosts 10.0.0.1 reads as 16777226 (checklist §5).
        assert_eq!(info.ip.to_ne_bytes(), [10, 0, 0, 1]);
        if cfg!(target_endian = "little") {
            assert_eq!(info.ip, 16_777_226);
        }
        assert_eq!(info.pid.as_deref(), Some("master@10.0.0.1:5050"));
        assert_eq!(info.version.as_deref(), Some("1.11.0"));
        assert_eq!(info.capabilities.len(), 3);
        assert_eq!(info.address.unwrap().ip.as_deref(), Some("10.0.0.1"));
    }
}
