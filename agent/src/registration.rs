//! Finding the master and the registration handshake's pure parts
//! (upstream `Slave::detected`, `doReliableRegistration`, `ping`).
//!
//! Owns: parsing `--master` (`host:port`, `id@host:port`, or `zk://` for
//! a leader detected in ZooKeeper), resolving it to the master's UPID, the random backoff
//! (first attempt after a random delay in [0, factor], then retries after a
//! random delay in [0, min(2ⁿ·factor, 1 min)]), the capabilities the agent
//! advertises, and building `RegisterSlaveMessage`. The actor decides when
//! to send; this module never sends or keeps state.

use std::time::Duration;

use libprocess::Upid;
use mesos_proto::mesos::internal::RegisterSlaveMessage;
use mesos_proto::mesos::slave_info::{capability::Type as CapabilityType, Capability};
use mesos_proto::mesos::SlaveInfo;
use rand::Rng;

use crate::error::AgentError;
use crate::flags::MESOS_VERSION;

/// `REGISTER_RETRY_INTERVAL_MAX`.
pub const REGISTER_RETRY_INTERVAL_MAX: Duration = Duration::from_secs(60);

/// `DEFAULT_MASTER_PING_TIMEOUT`: agent_ping_timeout (15 s) × max_agent_ping_timeouts (5).
pub const DEFAULT_MASTER_PING_TIMEOUT: Duration = Duration::from_secs(75);

/// Where the master is, as given by `--master`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterAddress {
    /// The process id, `master` unless `--master=id@host:port` said otherwise.
    pub id: String,
    pub host: String,
    pub port: u16,
}

/// Where the agent learns who the master is.
#[derive(Debug, Clone)]
pub enum MasterSource {
    /// A fixed master (`--master=host:port`).
    Address(MasterAddress),
    /// The leader a ZooKeeper detector currently reports (`None` while no
    /// leader is known).
    Detected(tokio::sync::watch::Receiver<Option<mesos_proto::mesos::MasterInfo>>),
}

impl From<MasterAddress> for MasterSource {
    fn from(address: MasterAddress) -> Self {
        MasterSource::Address(address)
    }
}

/// `--master` parsed: a fixed address or a ZooKeeper group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterFlag {
    Address(MasterAddress),
    ZooKeeper(mesos_detector::ZkUrl),
}

/// Parses `--master` in any of its forms (a `file://` value was already
/// read by the flags).
pub fn parse_master_flag(value: &str) -> Result<MasterFlag, AgentError> {
    if value.trim().starts_with("zk://") {
        return mesos_detector::ZkUrl::parse(value)
            .map(MasterFlag::ZooKeeper)
            .map_err(|e| AgentError::Master(format!("Failed to parse --master: {e}")));
    }
    parse_master(value).map(MasterFlag::Address)
}

/// The UPID a detected `MasterInfo` names (its `pid`, else its address).
pub fn master_pid(info: &mesos_proto::mesos::MasterInfo) -> Option<Upid> {
    if let Some(pid) = info.pid.as_deref().and_then(|p| p.parse().ok()) {
        return Some(pid);
    }
    let ip = std::net::Ipv4Addr::from(info.ip.to_ne_bytes());
    let port = u16::try_from(info.port).ok()?;
    Some(Upid::new("master", std::net::IpAddr::V4(ip), port))
}

/// Parses a fixed `--master` address (`host:port`, `id@host:port`).
pub fn parse_master(value: &str) -> Result<MasterAddress, AgentError> {
    let value = value.trim();
    if value.starts_with("zk://") {
        return Err(AgentError::Master(
            "'{value}' is a ZooKeeper URL, not a master address".replace("{value}", value),
        ));
    }
    let (id, address) = match value.split_once('@') {
        Some((id, address)) if !id.is_empty() => (id.to_string(), address),
        Some((_, address)) => ("master".to_string(), address),
        None => ("master".to_string(), value),
    };
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| AgentError::Master(format!("'{value}' is not of the form host:port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(AgentError::Master(format!("'{value}' has no host")));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| AgentError::Master(format!("'{value}' has an invalid port")))?;
    Ok(MasterAddress {
        id,
        host: host.to_string(),
        port,
    })
}

/// Resolves the master's host to the UPID messages go to.
pub async fn resolve_master(address: &MasterAddress) -> Result<Upid, AgentError> {
    let text = if address.host.contains(':') {
        format!("{}@[{}]:{}", address.id, address.host, address.port)
    } else {
        format!("{}@{}:{}", address.id, address.host, address.port)
    };
    Upid::resolve(&text)
        .await
        .map_err(|e| AgentError::Master(e.to_string()))
}

/// A random delay in [0, max].
pub fn random_delay(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let fraction: f64 = rand::thread_rng().gen_range(0.0..=1.0);
    max.mul_f64(fraction)
}

/// The capabilities this agent advertises: only those whose protocol it
/// implements.
pub fn agent_capabilities() -> Vec<Capability> {
    [
        CapabilityType::MultiRole,
        CapabilityType::HierarchicalRole,
        CapabilityType::ReservationRefinement,
        CapabilityType::TaskResourceLimits,
        // A resized volume arrives as a new checkpointed set; its
        // directory is kept (no disk quota is enforced here).
        CapabilityType::ResizeVolume,
        // DrainSlaveMessage kills the tasks and checkpoints the config.
        CapabilityType::AgentDraining,
    ]
    .into_iter()
    .map(|t| Capability {
        r#type: Some(t as i32),
    })
    .collect()
}

/// The first-registration message: `info` without an id.
pub fn register_message(info: &SlaveInfo, resource_version: &[u8]) -> RegisterSlaveMessage {
    let mut slave = info.clone();
    slave.id = None;
    RegisterSlaveMessage {
        slave,
        checkpointed_resources: Vec::new(),
        version: Some(MESOS_VERSION.to_string()),
        agent_capabilities: agent_capabilities(),
        resource_version_uuid: Some(mesos_proto::mesos::Uuid {
            value: resource_version.to_vec(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_master_forms() {
        assert_eq!(
            parse_master("127.0.0.1:5050").unwrap(),
            MasterAddress {
                id: "master".into(),
                host: "127.0.0.1".into(),
                port: 5050
            }
        );
        assert_eq!(
            parse_master("master@10.0.0.1:5050").unwrap(),
            MasterAddress {
                id: "master".into(),
                host: "10.0.0.1".into(),
                port: 5050
            }
        );
        assert_eq!(parse_master("[::1]:5050").unwrap().host, "::1");
        assert!(parse_master("zk://a:2181/mesos").is_err());
        match parse_master_flag("zk://a:2181,b:2181/mesos").unwrap() {
            MasterFlag::ZooKeeper(url) => {
                assert_eq!(url.servers, "a:2181,b:2181");
                assert_eq!(url.path, "/mesos");
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_master_flag("zk://").is_err());
        assert!(matches!(
            parse_master_flag("master@127.0.0.1:5050").unwrap(),
            MasterFlag::Address(_)
        ));
        assert!(parse_master("nohost").is_err());
        assert!(parse_master("h:notaport").is_err());
    }

    #[tokio::test]
    async fn resolves_to_a_master_upid() {
        let upid = resolve_master(&parse_master("127.0.0.1:5050").unwrap())
            .await
            .unwrap();
        assert_eq!(upid.to_string(), "master@127.0.0.1:5050");
        let upid = resolve_master(&parse_master("localhost:5050").unwrap())
            .await
            .unwrap();
        assert_eq!(upid.port, 5050);
    }

    #[test]
    fn random_delay_stays_in_bounds() {
        for _ in 0..100 {
            assert!(random_delay(Duration::from_secs(1)) <= Duration::from_secs(1));
        }
        assert_eq!(random_delay(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn register_message_has_version_and_capabilities() {
        let info = SlaveInfo {
            hostname: "h".into(),
            id: Some(mesos_proto::mesos::SlaveId { value: "S1".into() }),
            ..Default::default()
        };
        let m = register_message(&info, &[1; 16]);
        assert_eq!(m.version.as_deref(), Some("1.11.0"));
        assert!(m.slave.id.is_none());
        let types: Vec<i32> = m
            .agent_capabilities
            .iter()
            .filter_map(|c| c.r#type)
            .collect();
        assert!(types.contains(&(CapabilityType::MultiRole as i32)));
        assert!(types.contains(&(CapabilityType::ReservationRefinement as i32)));
    }
}
