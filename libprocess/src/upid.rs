//! `Upid`: the address of a libprocess process, `id@ip:port`.
//!
//! Owns parsing and formatting of UPIDs exactly as they appear on the wire
//! (`Libprocess-From`, `MasterInfo.pid`, `StatusUpdateMessage.pid`, ...).
//! Never does I/O, except [`Upid::resolve`], which is the explicit, async
//! way to accept a hostname (upstream resolves hostnames while parsing; we
//! keep `FromStr` pure and IP-only so parsing can never block).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use crate::Error;

/// A libprocess process id: `id@ip:port`, e.g. `master@10.0.0.1:5050` or
/// `slave(1)@10.0.0.2:5051`.
///
/// Equality (and hashing, ordering) compares the id, the IP **and** the port,
/// as upstream does: the v0 driver drops master messages whose sender is not
/// exactly the detected `MasterInfo.pid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Upid {
    pub id: String,
    pub ip: IpAddr,
    pub port: u16,
}

impl Default for Upid {
    /// The empty UPID (`@0.0.0.0:0`), which is what upstream yields for a
    /// sender it cannot parse.
    fn default() -> Self {
        Upid {
            id: String::new(),
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
        }
    }
}

impl Upid {
    pub fn new(id: impl Into<String>, ip: IpAddr, port: u16) -> Self {
        Upid {
            id: id.into(),
            ip,
            port,
        }
    }

    /// A UPID for process `id` listening on `addr`.
    pub fn from_addr(id: impl Into<String>, addr: SocketAddr) -> Self {
        Upid::new(id, addr.ip(), addr.port())
    }

    /// The `ip:port` that messages to this process are sent to.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// True for the empty UPID (no id, unspecified IP, port 0), i.e. a sender
    /// that could not be determined; never reply to it.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty() && self.ip.is_unspecified() && self.port == 0
    }

    /// Parses `id@host:port` where `host` may also be a hostname, resolving it
    /// (first IPv4 address preferred, like upstream's `net::getIP(host, AF_INET)`).
    pub async fn resolve(s: &str) -> Result<Upid, Error> {
        let (id, host, port) = split(s)?;
        if let Some(ip) = parse_ip(host) {
            return Ok(Upid::new(id, ip, port));
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Error::Resolve {
                host: host.to_string(),
                reason: e.to_string(),
            })?
            .collect();
        let chosen = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .ok_or_else(|| Error::Resolve {
                host: host.to_string(),
                reason: "no addresses".to_string(),
            })?;
        Ok(Upid::new(id, chosen.ip(), port))
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{}@{}:{}", self.id, ip, self.port),
            IpAddr::V6(ip) => write!(f, "{}@[{}]:{}", self.id, ip, self.port),
        }
    }
}

fn invalid(input: &str, reason: &'static str) -> Error {
    Error::InvalidUpid {
        input: input.to_string(),
        reason,
    }
}

/// Splits `id@host:port` into its parts. The id is everything before the
/// first `@` (it may be empty, as upstream allows); the port follows the
/// last `:`.
fn split(s: &str) -> Result<(&str, &str, u16), Error> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(invalid(s, "empty"));
    }
    if trimmed.chars().any(char::is_whitespace) {
        return Err(invalid(s, "contains whitespace"));
    }
    let (id, rest) = trimmed
        .split_once('@')
        .ok_or_else(|| invalid(s, "missing '@'"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| invalid(s, "missing ':port'"))?;
    if host.is_empty() {
        return Err(invalid(s, "missing host"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| invalid(s, "port is not a number in 0-65535"))?;
    Ok((id, host, port))
}

fn parse_ip(host: &str) -> Option<IpAddr> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

impl FromStr for Upid {
    type Err = Error;

    /// Parses `id@ip:port` with an IPv4 literal or a bracketed IPv6 literal.
    /// Surrounding whitespace is ignored (upstream trims `Libprocess-From`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, host, port) = split(s)?;
        let ip = parse_ip(host).ok_or_else(|| invalid(s, "host is not an IP address"))?;
        Ok(Upid::new(id, ip, port))
    }
}

impl TryFrom<&str> for Upid {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl TryFrom<String> for Upid {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Upid> for String {
    fn from(u: Upid) -> String {
        u.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn parses_and_formats_ids_with_punctuation() {
        for s in [
            "master@10.0.0.1:5050",
            "slave(1)@10.0.0.2:5051",
            "scheduler-7c0f3c4e-1d2b-4f1a-9a47-0f1e2d3c4b5a@10.0.0.3:41234",
            "executor(1)@127.0.0.1:1",
            "slave-observer(12)@192.168.1.1:5050",
            "a.b.c@1.2.3.4:0",
            "@0.0.0.0:0",
        ] {
            let u: Upid = s.parse().unwrap();
            assert_eq!(u.to_string(), s);
        }
        let u: Upid = "slave(1)@10.0.0.2:5051".parse().unwrap();
        assert_eq!(u.id, "slave(1)");
        assert_eq!(u.ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(u.port, 5051);
        assert_eq!(u.address(), "10.0.0.2:5051".parse().unwrap());
    }

    #[test]
    fn ipv6_in_brackets() {
        let u: Upid = "master@[::1]:5050".parse().unwrap();
        assert_eq!(u.ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(u.to_string(), "master@[::1]:5050");
    }

    #[test]
    fn trims_surrounding_whitespace() {
        let u: Upid = "  master@1.2.3.4:5050 \r\n".parse().unwrap();
        assert_eq!(u, Upid::new("master", "1.2.3.4".parse().unwrap(), 5050));
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "   ",
            "master",
            "master@",
            "master@1.2.3.4",
            "master@1.2.3.4:",
            "master@1.2.3.4:65536",
            "master@1.2.3.4:-1",
            "master@1.2.3.4:50x",
            "master@:5050",
            "master@host.example:5050",
            "master@1.2.3:5050",
            "master@::1:5050",
            "mas ter@1.2.3.4:5050",
        ] {
            let err = s.parse::<Upid>().unwrap_err();
            assert!(err.to_string().contains("invalid UPID"), "{s}: {err}");
        }
    }

    #[test]
    fn equality_is_id_ip_and_port() {
        let a: Upid = "master@10.0.0.1:5050".parse().unwrap();
        assert_eq!(a, "master@10.0.0.1:5050".parse().unwrap());
        assert_ne!(a, "master@10.0.0.1:5051".parse().unwrap());
        assert_ne!(a, "master@127.0.0.1:5050".parse().unwrap());
        assert_ne!(a, "slave@10.0.0.1:5050".parse().unwrap());
    }

    #[test]
    fn empty_upid() {
        assert!(Upid::default().is_empty());
        assert_eq!(Upid::default().to_string(), "@0.0.0.0:0");
        assert!(!"master@1.2.3.4:1".parse::<Upid>().unwrap().is_empty());
    }

    #[tokio::test]
    async fn resolve_accepts_ips_and_localhost() {
        let u = Upid::resolve("master@1.2.3.4:5050").await.unwrap();
        assert_eq!(u.to_string(), "master@1.2.3.4:5050");
        let u = Upid::resolve("master@localhost:5050").await.unwrap();
        assert!(u.ip.is_loopback());
        assert_eq!(u.port, 5050);
        assert!(Upid::resolve("master@nope.invalid.:1").await.is_err());
    }
}
