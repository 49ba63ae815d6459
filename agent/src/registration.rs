//! Finding the master and the registration handshake's pure parts
//! (upstream `Slave::detected`, `doReliableRegistration`, `ping`).
//!
//! Owns: parsing `--master` (`host:port` or `id@host:port`; `zk://` is
//! refused for now), resolving it to the master's UPID, the random backoff
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

/// Parses `--master` (a `file://` value was already read by the flags).
pub fn parse_master(value: &str) -> Result<MasterAddress, AgentError> {
    let value = value.trim();
    if value.starts_with("zk://") {
        return Err(AgentError::Master(
            "ZooKeeper master detection (--master=zk://...) is not supported yet; \
             use --master=host:port"
                .to_string(),
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
        assert!(parse_master("zk://a:2181/mesos")
            .unwrap_err()
            .to_string()
            .contains("not supported"));
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
