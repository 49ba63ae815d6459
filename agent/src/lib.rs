//! The Mesos agent (`mesos-agent`), wire-compatible with upstream Apache
//! Mesos 1.11: it registers with a master over the v0 libprocess protocol,
//! launches executors (the command executor for command tasks, or a
//! framework's own), serves the v1 executor API and the v0 executor driver
//! protocol, relays status updates reliably, and serves the agent's HTTP
//! endpoints.
//!
//! Layout: [`flags`] (command line), [`info`] (what the agent reports about
//! itself), [`registration`] (finding the master), [`agent`] (the actor that
//! owns all state), [`status_update_manager`], [`containerizer`] (processes,
//! sandboxes, environment), [`fetcher`], [`paths`], [`files`] (the sandbox
//! file table), [`logging`] (the verbosity), [`http`] (endpoints: the only
//! module that knows HTTP; the actor answers it with typed results).
//! [`run`] wires them together.

// Tests may unwrap; library code may not (checked by the non-test build).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod agent;
pub mod checkpoint;
pub mod containerizer;
pub mod error;
pub mod fetcher;
pub mod files;
pub mod flags;
pub mod http;
pub mod info;
pub mod logging;
pub mod paths;
pub mod recovery;
pub mod registration;
pub mod status_update_manager;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libprocess::{Server, Transport, Upid};
use tokio::sync::mpsc;

use crate::agent::{Agent, AgentConfig, AgentInputs, Input, TransportOutbox, AGENT_ID};
use crate::containerizer::Containerizer;
use crate::error::AgentError;
use crate::fetcher::Fetcher;
use crate::files::Files;
use crate::flags::Flags;
use crate::http::{AgentHandle, HttpContext};

/// A started agent: where it listens and the handle to stop it.
pub struct Running {
    pub pid: Upid,
    pub inbox: mpsc::UnboundedSender<Input>,
    pub done: tokio::task::JoinHandle<()>,
}

/// Binds the server and starts the actor; returns once it is listening.
pub async fn start(flags: Flags) -> Result<Running, AgentError> {
    let flags = Arc::new(flags);
    let master_flag = registration::parse_master_flag(flags.master.as_deref().unwrap_or(""))?;
    warn_about_unsupported(&flags);
    let work_dir = flags.work_dir().to_path_buf();
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| AgentError::io("Failed to create agent work directory", &work_dir, e))?;
    let resources =
        info::detect_resources(flags.resources.as_deref(), &flags.default_role, &work_dir)?;
    let attributes = match &flags.attributes {
        Some(text) => info::parse_attributes(text)?,
        None => Vec::new(),
    };

    let (inbox_tx, inbox_rx) = mpsc::unbounded_channel();
    let master = match master_flag {
        registration::MasterFlag::Address(address) => registration::MasterSource::Address(address),
        registration::MasterFlag::ZooKeeper(zk) => {
            tracing::info!("Detecting the leading master at {zk}");
            let detector = mesos_detector::MasterDetector::start(
                &mesos_detector::MasterUrl::ZooKeeper(zk),
                flags.zk_session_timeout.0,
            )
            .map_err(|e| AgentError::Master(e.to_string()))?;
            let leader = detector.leader();
            tokio::spawn(follow_detected_leader(detector, inbox_tx.clone()));
            registration::MasterSource::Detected(leader)
        }
    };
    let (messages_tx, messages_rx) = mpsc::unbounded_channel();
    let files = Files::default();
    let authorizer = Arc::new(
        mesos_authorizer::Authorizer::from_flag(flags.acls.as_deref()).map_err(AgentError::Flag)?,
    );
    if let Some(log) = flags.log_dir.as_ref().map(|d| d.join(LOG_FILE)) {
        files.attach_owned("/slave/log", &log, files::Owner::Log);
    }
    let ctx = Arc::new(HttpContext {
        agent: AgentHandle {
            inbox: inbox_tx.clone(),
        },
        files: files.clone(),
        flags: flags.to_map(),
        logging: logging::LoggingLevel::default(),
        authorizer: authorizer.clone(),
    });
    let authentication =
        http::authentication::from_flags(&flags, authorizer).map_err(AgentError::Flag)?;
    let builder = http::routes(
        Server::builder(AGENT_ID)
            .messages(AGENT_ID, messages_tx)
            .authentication(authentication),
        ctx,
    );
    let bind_ip = flags.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let server = builder
        .bind(SocketAddr::new(bind_ip, flags.port))
        .await
        .map_err(|e| AgentError::Server(e.to_string()))?;
    let local = server.local_addr();
    let ip = advertised_ip(&flags, local.ip()).await;
    let port = flags.advertise_port.unwrap_or(local.port());
    let self_pid = Upid::new(AGENT_ID, ip, port);
    let hostname = flags
        .hostname
        .clone()
        .or_else(|| {
            if flags.hostname_lookup {
                info::local_hostname()
            } else {
                None
            }
        })
        .unwrap_or_else(|| ip.to_string());
    let slave_info = info::slave_info(hostname, port, &resources, attributes);
    tracing::info!("Agent resources: {resources}");
    tracing::info!("Agent hostname: {}", slave_info.hostname);

    let executor_secret = agent::executor_secret_key(&flags).map_err(AgentError::Flag)?;
    let (transport, exited_rx) = Transport::new();
    let authenticatee = agent::credential(&flags)
        .map_err(AgentError::Flag)?
        .map(|credential| {
            tracing::info!("Agent using credential for: {}", credential.principal);
            agent::Authenticatee {
                credential,
                transport: transport.clone(),
                processes: server.processes(),
                ip,
                port,
            }
        });
    let out = Arc::new(TransportOutbox {
        transport,
        from: self_pid.clone(),
    });
    let (containers_tx, containers_rx) = mpsc::unbounded_channel();
    let fetcher = Fetcher::new(
        flags.frameworks_home.as_ref().map(PathBuf::from),
        flags.hadoop_home.as_ref().map(PathBuf::from),
        flags.fetcher_stall_timeout.0,
    )?;
    let containerizer = Containerizer::new(fetcher, flags.switch_user, containers_tx)
        .with_launcher(find_launch_helper(&flags.launcher_dir()))
        .with_runtime_dir(work_dir.join("runtime"));
    let recovered = recovery::recover(&work_dir, flags.strict).map_err(|e| {
        AgentError::Recovery(format!(
            "{e}. If recovery failed because of a change in configuration and you want to \
             keep the current agent id, revert the change; to start as a new agent, remove \
             '{}'",
            paths::latest_slave_path(&work_dir).display()
        ))
    })?;
    // Reservations and volumes of a previous run are part of the total
    // before the master hears from us.
    let checkpointed = agent::resources::read_checkpointed(&work_dir)?;
    let resources = agent::resources::apply_checkpointed(&resources, &checkpointed)?;
    agent::resources::create_volume_directories(&work_dir, &checkpointed)?;
    let (retries_tx, retries_rx) = mpsc::unbounded_channel();
    let launcher_dir = flags.launcher_dir();
    let native_library = find_native_library(&launcher_dir);
    let config = AgentConfig {
        flags: flags.clone(),
        self_pid: self_pid.clone(),
        info: slave_info,
        total_resources: resources,
        master,
        launcher_dir,
        native_library,
        recovered,
        authenticatee,
        executor_secret,
    };
    let agent = Agent::new(
        config,
        out,
        containerizer,
        files,
        inbox_tx.clone(),
        retries_tx,
    );
    let inputs = AgentInputs {
        inputs: inbox_rx,
        messages: messages_rx,
        exited: exited_rx,
        containers: containers_rx,
        retries: retries_rx,
    };
    let serving = server.serve();
    let done = tokio::spawn(async move {
        agent.run(inputs).await;
        serving.abort();
    });
    Ok(Running {
        pid: self_pid,
        inbox: inbox_tx,
        done,
    })
}

/// Tells the actor about every change of the detected leader (upstream's
/// `Slave::detected` loop). Owns the detector, so detection lives as long as
/// the actor's inbox; a detector that fails for good stops the agent, as
/// upstream's "Failed to detect a master" does.
async fn follow_detected_leader(
    detector: mesos_detector::MasterDetector,
    inbox: mpsc::UnboundedSender<Input>,
) {
    let mut leader = detector.leader();
    let mut first = true;
    loop {
        let current = leader.borrow_and_update().clone();
        // At start "no leader" is the actor's state already.
        if first && current.is_none() {
            first = false;
            if leader.changed().await.is_err() {
                tracing::error!("Failed to detect a master: detection stopped");
                let _ = inbox.send(Input::Shutdown { graceful: false });
                return;
            }
            continue;
        }
        first = false;
        let input = match current.as_ref() {
            Some(info) => match registration::master_pid(info) {
                Some(pid) => Input::MasterDetected(Ok(pid)),
                None => {
                    tracing::warn!("The detected leader {} has no usable pid", info.id);
                    Input::MasterLost
                }
            },
            None => Input::MasterLost,
        };
        if inbox.send(input).is_err() {
            return;
        }
        if leader.changed().await.is_err() {
            tracing::error!("Failed to detect a master: detection stopped");
            let _ = inbox.send(Input::Shutdown { graceful: false });
            return;
        }
    }
}

/// The agent's log file name inside `--log_dir`.
pub const LOG_FILE: &str = "mesos-agent.log";

/// Runs the agent until a signal or the master stops it.
pub async fn run(flags: Flags) -> Result<(), AgentError> {
    let running = start(flags).await?;
    let inbox = running.inbox.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int), Ok(mut usr1)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::user_defined1()),
        ) else {
            tracing::error!("Failed to install signal handlers");
            return;
        };
        let graceful = tokio::select! {
            _ = term.recv() => false,
            _ = int.recv() => false,
            _ = usr1.recv() => true,
        };
        let _ = inbox.send(Input::Shutdown { graceful });
    });
    running
        .done
        .await
        .map_err(|e| AgentError::Server(format!("agent task failed: {e}")))
}

/// `--advertise_ip`, else `--ip`, else `LIBPROCESS_IP`, else what this
/// host's name resolves to (preferring a non-loopback IPv4 address).
async fn advertised_ip(flags: &Flags, bound: IpAddr) -> IpAddr {
    if let Some(ip) = flags.advertise_ip {
        return ip;
    }
    if !bound.is_unspecified() {
        return bound;
    }
    if let Some(ip) = std::env::var("LIBPROCESS_IP")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return ip;
    }
    if let Some(host) = flags.hostname.clone().or_else(info::local_hostname) {
        if let Ok(addrs) = tokio::net::lookup_host((host.as_str(), 0)).await {
            let addrs: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            if let Some(ip) = addrs
                .iter()
                .find(|ip| ip.is_ipv4() && !ip.is_loopback())
                .or_else(|| addrs.first())
            {
                return *ip;
            }
        }
    }
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// Flags that are accepted for compatibility but change nothing here.
fn warn_about_unsupported(flags: &Flags) {
    let other_isolators: Vec<&str> = flags
        .isolation
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty() && !i.starts_with("posix/"))
        .collect();
    if !other_isolators.is_empty() {
        tracing::warn!(
            "Isolators {other_isolators:?} are not supported; executors run without isolation (posix)"
        );
    }
    if flags.containerizers.split(',').any(|c| c.trim() != "mesos") {
        tracing::warn!(
            "Only the 'mesos' containerizer (plain processes) is supported; ignoring --containerizers={}",
            flags.containerizers
        );
    }
}

/// The `mesos-containerizer` launch helper: next to this binary, else in
/// the launcher directory.
fn find_launch_helper(launcher_dir: &Path) -> Option<PathBuf> {
    let name = "mesos-containerizer";
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)));
    let found = beside
        .filter(|p| p.is_file())
        .or_else(|| Some(launcher_dir.join(name)).filter(|p| p.is_file()));
    if found.is_none() {
        tracing::warn!("'{name}' not found: executors run without a session of their own");
    }
    found
}

/// A native Mesos library next to the launcher (for Java executors).
fn find_native_library(launcher_dir: &Path) -> Option<PathBuf> {
    let names = ["libmesos.so", "libmesos-1.11.0.so"];
    let dirs = [launcher_dir.to_path_buf(), launcher_dir.join("../lib")];
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
}
