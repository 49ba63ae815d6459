//! Master detection for the drivers: the master string a framework passes
//! (`host:port`, `master@host:port`, `file:///path` whose content is a
//! master string, or `zk://…`) becomes a watch of the current leading
//! master's `MasterInfo` (`None` while there is no leader).
//!
//! This is the seam ZooKeeper detection plugs into: [`detect`] runs on the
//! driver's runtime and hands the driver a [`Detection`], a
//! `tokio::sync::watch::Receiver<Option<MasterInfo>>` plus whatever must stay
//! alive to keep it updated. That is what `mesos-detector`'s
//! `MasterDetector` yields, so the `zk://` arm below only has to build one
//! and keep it in `guard`. Never talks to a master itself.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use libprocess::Upid;
use mesos_detector::MasterUrl;
use mesos_proto::mesos::{Address, MasterInfo};
use tokio::sync::watch;

use crate::Error;

fn invalid(master: &str, reason: impl Into<String>) -> Error {
    Error::Detector {
        master: master.to_string(),
        reason: reason.into(),
    }
}

/// Parses a master string as libmesos does, with the one parser the master,
/// the agent and every client share (a `file://` string is read once and
/// replaced by its content; `master@` is the only process id accepted).
pub fn parse(master: &str) -> Result<MasterUrl, Error> {
    mesos_detector::parse_master(master).map_err(|e| invalid(master, e.to_string()))
}

/// Host and port of a standalone master's `host:port`, brackets dropped
/// from an IPv6 literal. The shared parser has already checked the form.
fn host_and_port(master: &str, address: &str) -> Result<(String, u16), Error> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| invalid(master, "expected host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid(master, format!("invalid port '{port}'")))?;
    if port == 0 {
        return Err(invalid(master, "port 0 names no master"));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port))
}

/// The `MasterInfo` upstream builds from a standalone master's pid (the
/// driver only accepts messages whose sender equals `MasterInfo.pid`).
pub fn master_info(upid: &Upid, hostname: &str) -> MasterInfo {
    let ip = match upid.ip {
        // MasterInfo.ip is the IPv4 address in network byte order.
        IpAddr::V4(v4) => u32::from_ne_bytes(v4.octets()),
        IpAddr::V6(_) => 0,
    };
    MasterInfo {
        id: format!("{upid}-{}", uuid::Uuid::new_v4()),
        ip,
        port: u32::from(upid.port),
        pid: Some(upid.to_string()),
        hostname: Some(hostname.to_string()),
        address: Some(Address {
            hostname: Some(hostname.to_string()),
            ip: Some(upid.ip.to_string()),
            port: i32::from(upid.port),
        }),
        ..Default::default()
    }
}

fn resolve(master: &str, host: &str, port: u16) -> Result<IpAddr, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| invalid(master, format!("failed to resolve '{host}': {e}")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.ip())
        .ok_or_else(|| invalid(master, format!("'{host}' has no address")))
}

/// A running detection: the current leader, and what keeps it current.
pub struct Detection {
    pub leader: watch::Receiver<Option<MasterInfo>>,
    /// Kept alive as long as the driver watches `leader` (e.g. a ZooKeeper
    /// session); `None` for a standalone master.
    pub guard: Option<Box<dyn std::any::Any + Send>>,
}

/// Starts detecting the leading master named by `master`, on `runtime`
/// (the driver's own). The returned receiver holds the current leader and
/// changes when it does.
pub fn detect(master: &str, runtime: &tokio::runtime::Handle) -> Result<Detection, Error> {
    let _context = runtime.enter();
    let parsed = parse(master)?;
    match &parsed {
        MasterUrl::Standalone(address) => {
            let (host, port) = host_and_port(master, address)?;
            let ip = resolve(master, &host, port)?;
            let upid = Upid::new("master", ip, port);
            let (tx, rx) = watch::channel(Some(master_info(&upid, &host)));
            // A standalone leader never changes; dropping the sender keeps
            // the value readable and ends the watch after the first read.
            drop(tx);
            Ok(Detection {
                leader: rx,
                guard: None,
            })
        }
        // The ZooKeeper detector (one copy, shared with master, agent and
        // clients) keeps its session alive for as long as it is held.
        MasterUrl::ZooKeeper(_) => {
            let detector = mesos_detector::MasterDetector::start(
                &parsed,
                mesos_detector::DEFAULT_SESSION_TIMEOUT,
            )
            .map_err(|e| invalid(master, e.to_string()))?;
            Ok(Detection {
                leader: detector.leader(),
                guard: Some(Box::new(detector)),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_master_string_forms() {
        let standalone = |s: &str| match parse(s).unwrap() {
            MasterUrl::Standalone(address) => host_and_port(s, &address).unwrap(),
            other => panic!("{s} parsed as {other:?}"),
        };
        assert_eq!(standalone("127.0.0.1:5050"), ("127.0.0.1".into(), 5050));
        assert_eq!(
            standalone("master@10.0.0.1:5051"),
            ("10.0.0.1".into(), 5051)
        );
        assert_eq!(standalone("[::1]:5052"), ("::1".into(), 5052));
        assert!(matches!(
            parse("zk://127.0.0.1:2181/mesos").unwrap(),
            MasterUrl::ZooKeeper(_)
        ));
        assert!(parse("127.0.0.1").is_err());
        assert!(parse("127.0.0.1:notaport").is_err());
        assert!(parse("@1.2.3.4:5").is_err());
        // libmesos builds the pid as `master@<host:port>`, so another id is
        // not a master string.
        assert!(parse("other@1.2.3.4:5").is_err());
        assert!(host_and_port("x:0", "x:0").is_err());
    }

    #[test]
    fn file_master_reads_the_file() {
        let dir = std::env::temp_dir().join(format!("driver-detector-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("master");
        std::fs::write(&file, "127.0.0.1:5099\n").unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let detection = detect(&format!("file://{}", file.display()), rt.handle()).unwrap();
        let info = detection.leader.borrow().clone().unwrap();
        assert_eq!(info.pid.as_deref(), Some("master@127.0.0.1:5099"));
        assert_eq!(info.port, 5099);
        assert!(detect("file:///nonexistent/master", rt.handle()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
