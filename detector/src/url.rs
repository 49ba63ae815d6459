//! Master addresses as users write them: `host:port`, `master@host:port`,
//! `zk://[user:pass@]host1:port1,host2:port2/path`, or `file:///path`
//! naming a file that holds one of those.

use crate::Error;

/// Where to find the leading master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterUrl {
    /// A fixed master, as `host:port` (a leading `master@` is dropped).
    Standalone(String),
    /// Elected masters under a ZooKeeper path.
    ZooKeeper(ZkUrl),
}

/// A parsed `zk://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// The ZooKeeper connect string, `h1:p1,h2:p2`.
    pub servers: String,
    /// The group's znode; `/` when the URL names none.
    pub path: String,
    /// `digest` credentials (`user`, `password`) from the URL's userinfo.
    pub auth: Option<(String, String)>,
}

// Credentials never reach logs.
impl std::fmt::Debug for ZkUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkUrl")
            .field("servers", &self.servers)
            .field("path", &self.path)
            .field("auth", &self.auth.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl std::fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is masked: this form is for logs and flags output.
        match &self.auth {
            Some((user, _)) => write!(f, "zk://{user}:****@{}{}", self.servers, self.path),
            None => write!(f, "zk://{}{}", self.servers, self.path),
        }
    }
}

/// Longest URL (or URL file) accepted; anything longer is not a master URL.
const MAX_URL_LEN: usize = 64 * 1024;

impl ZkUrl {
    /// Parses `zk://[user:pass@]servers[/path]`. As upstream: the path is
    /// everything from the first `/` after the servers (`/` if none), and
    /// the credentials are what precedes the last `@` of the authority.
    pub fn parse(url: &str) -> Result<ZkUrl, Error> {
        let url = url.trim();
        let rest = url.strip_prefix("zk://").ok_or_else(|| {
            Error::InvalidUrl("Expecting 'zk://' at the beginning of the URL".into())
        })?;
        let (authority, path) = match rest.find('/') {
            Some(index) => (&rest[..index], &rest[index..]),
            None => (rest, "/"),
        };
        let (credentials, servers) = match authority.rfind('@') {
            Some(index) => (Some(&authority[..index]), &authority[index + 1..]),
            None => (None, authority),
        };
        if servers.is_empty() || servers.split(',').any(|server| server.trim().is_empty()) {
            return Err(Error::InvalidUrl(format!(
                "Expecting 'host:port[,host:port...]' after 'zk://' in '{url}'"
            )));
        }
        if path.contains("//") {
            return Err(Error::InvalidUrl(format!(
                "Invalid ZooKeeper path '{path}'"
            )));
        }
        let auth = match credentials {
            None => None,
            Some(credentials) => {
                let (user, pass) = credentials.split_once(':').ok_or_else(|| {
                    Error::InvalidUrl("Expecting 'user:password' credentials before '@'".into())
                })?;
                Some((user.to_string(), pass.to_string()))
            }
        };
        // ZooKeeper refuses a trailing '/' (except on the root itself); the
        // group lives at the same znode either way.
        let path = match path.trim_end_matches('/') {
            "" => "/".to_string(),
            trimmed => trimmed.to_string(),
        };
        Ok(ZkUrl {
            servers: servers.to_string(),
            path,
            auth,
        })
    }

    /// The znode of a child of the group.
    pub(crate) fn child(&self, name: &str) -> String {
        if self.path == "/" {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.path)
        }
    }
}

/// Parses a master address: `zk://...`, `file:///path` (the file holds the
/// address; upstream's deprecated form), `master@host:port` or `host:port`.
pub fn parse_master(s: &str) -> Result<MasterUrl, Error> {
    parse_master_at_depth(s, 0)
}

fn parse_master_at_depth(s: &str, depth: u8) -> Result<MasterUrl, Error> {
    let s = s.trim();
    if s.len() > MAX_URL_LEN {
        return Err(Error::InvalidUrl("Master URL is too long".into()));
    }
    if s.starts_with("zk://") {
        return ZkUrl::parse(s).map(MasterUrl::ZooKeeper);
    }
    if let Some(path) = s.strip_prefix("file://") {
        // A file naming another file would let a loop stall startup.
        if depth > 0 {
            return Err(Error::InvalidUrl(format!(
                "'{s}' in a master file names another file"
            )));
        }
        let contents = read_bounded(path)?;
        return parse_master_at_depth(&contents, depth + 1);
    }
    let address = s.strip_prefix("master@").unwrap_or(s);
    let (host, port) = address.rsplit_once(':').ok_or_else(|| {
        Error::InvalidUrl(format!(
            "Failed to parse '{s}': expecting 'zk://...', 'file://...', 'host:port' or 'master@host:port'"
        ))
    })?;
    if host.is_empty() || host.contains(['/', '@', ' ']) || port.parse::<u16>().is_err() {
        return Err(Error::InvalidUrl(format!(
            "Failed to parse '{s}': expecting 'host:port' with a numeric port"
        )));
    }
    Ok(MasterUrl::Standalone(address.to_string()))
}

fn read_bounded(path: &str) -> Result<String, Error> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| Error::InvalidUrl(format!("Failed to read master URL file '{path}': {e}")))?;
    let mut contents = String::new();
    file.take(MAX_URL_LEN as u64 + 1)
        .read_to_string(&mut contents)
        .map_err(|e| Error::InvalidUrl(format!("Failed to read master URL file '{path}': {e}")))?;
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(user: &str, pass: &str) -> Option<(String, String)> {
        Some((user.to_string(), pass.to_string()))
    }

    // Upstream ZooKeeperURLTest.URL, case by case.
    #[test]
    fn zookeeper_url() {
        let url = ZkUrl::parse("zk://host1:port1").unwrap();
        assert_eq!(url.auth, None);
        assert_eq!(url.servers, "host1:port1");
        assert_eq!(url.path, "/");

        let url = ZkUrl::parse("zk://jake:1@host1:port1").unwrap();
        assert_eq!(url.auth, auth("jake", "1"));
        assert_eq!(url.servers, "host1:port1");
        assert_eq!(url.path, "/");

        let url = ZkUrl::parse("zk://jake:1@host1:port1/").unwrap();
        assert_eq!(url.auth, auth("jake", "1"));
        assert_eq!(url.path, "/");

        let url = ZkUrl::parse("zk://jake:1@host1:port1,host2:port2").unwrap();
        assert_eq!(url.servers, "host1:port1,host2:port2");
        assert_eq!(url.path, "/");

        let url = ZkUrl::parse("zk://jake:1@host1:port1,host2:port2/").unwrap();
        assert_eq!(url.servers, "host1:port1,host2:port2");
        assert_eq!(url.path, "/");

        let url = ZkUrl::parse("zk://jake:1@host1:port1,host2:port2/path/to/znode").unwrap();
        assert_eq!(url.auth, auth("jake", "1"));
        assert_eq!(url.servers, "host1:port1,host2:port2");
        assert_eq!(url.path, "/path/to/znode");
    }

    #[test]
    fn zookeeper_url_rejects_malformed() {
        assert!(ZkUrl::parse("http://host:1/mesos").is_err());
        assert!(ZkUrl::parse("zk:///mesos").is_err());
        assert!(ZkUrl::parse("zk://a:1,,b:2/mesos").is_err());
        assert!(ZkUrl::parse("zk://a:1//mesos").is_err());
        assert!(ZkUrl::parse("zk://nopassword@a:1/mesos").is_err());
    }

    #[test]
    fn credentials_stay_out_of_logs() {
        let url = ZkUrl::parse("zk://user:secret@a:1/mesos").unwrap();
        assert!(!format!("{url}").contains("secret"));
        assert!(!format!("{url:?}").contains("secret"));
    }

    #[test]
    fn master_addresses() {
        assert_eq!(
            parse_master("master@10.0.0.1:5050").unwrap(),
            MasterUrl::Standalone("10.0.0.1:5050".into())
        );
        assert_eq!(
            parse_master(" localhost:5050 ").unwrap(),
            MasterUrl::Standalone("localhost:5050".into())
        );
        assert!(matches!(
            parse_master("zk://127.0.0.1:2181/mesos").unwrap(),
            MasterUrl::ZooKeeper(ZkUrl { ref path, .. }) if path == "/mesos"
        ));
        assert!(parse_master("localhost").is_err());
        assert!(parse_master("localhost:notaport").is_err());
        assert!(parse_master("").is_err());
    }

    #[test]
    fn master_address_from_file() {
        let dir = std::env::temp_dir().join(format!("mesos-detector-url-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("master");
        std::fs::write(&file, "zk://a:1,b:2/mesos\n").unwrap();
        let url = parse_master(&format!("file://{}", file.display())).unwrap();
        assert!(
            matches!(url, MasterUrl::ZooKeeper(ZkUrl { ref servers, .. }) if servers == "a:1,b:2")
        );
        std::fs::write(&file, format!("file://{}", file.display())).unwrap();
        assert!(parse_master(&format!("file://{}", file.display())).is_err());
        assert!(parse_master("file:///nonexistent/mesos-master-url").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
