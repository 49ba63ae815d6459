//! Entries in ZooKeeper, one znode per name, and the session that reaches
//! them.
//!
//! The storage owns one ZooKeeper session at a time. It connects on the
//! first operation (authenticating if credentials are given), rides out
//! connection loss by retrying, and replaces an expired session with a new
//! one, as upstream's storage process does. Unlike upstream, which queues
//! an operation for as long as ZooKeeper stays away, every operation here
//! has a deadline (`operation_timeout`) after which it fails with
//! [`Error::Timeout`], so a caller never waits forever.
//!
//! A retried write is told apart from a lost race: the new entry carries a
//! fresh uuid, so finding that uuid in ZooKeeper on a retry means the first
//! attempt landed before the connection dropped.

use std::time::Duration;

use prost::Message;
use tokio::time::Instant;
use tracing::{debug, info};
use zookeeper_client::{Acl, Acls, AuthId, Client, CreateMode, Permission, SessionState};

use crate::{Entry, Error, MAX_ENTRY_SIZE};

const MIN_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// ZooKeeper credentials: a scheme (`digest`) and its bytes
/// (`user:password`).
#[derive(Clone)]
pub struct Authentication {
    pub scheme: String,
    pub credentials: Vec<u8>,
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never log the credentials.
        f.debug_struct("Authentication")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// Where the entries live and how to reach them.
#[derive(Debug, Clone)]
pub struct ZooKeeperStorageOptions {
    /// `host1:port1,host2:port2`.
    pub servers: String,
    /// The parent znode of the entries, e.g. `/chronos/state`; created
    /// with its parents on the first store.
    pub znode: String,
    pub session_timeout: Duration,
    pub auth: Option<Authentication>,
    /// How long one operation may take, reconnects and retries included.
    pub operation_timeout: Duration,
}

impl ZooKeeperStorageOptions {
    /// Options with the operation deadline set to the session timeout
    /// (what a framework chose as "ZooKeeper is gone"). Both are kept
    /// within [1 s, 1 h]: ZooKeeper negotiates sessions into a far smaller
    /// range anyway, and a caller's `Long.MAX_VALUE` must not overflow a
    /// deadline.
    pub fn new(
        servers: impl Into<String>,
        znode: impl Into<String>,
        session_timeout: Duration,
    ) -> ZooKeeperStorageOptions {
        let session_timeout = session_timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT);
        ZooKeeperStorageOptions {
            servers: servers.into(),
            znode: znode.into(),
            session_timeout,
            auth: None,
            operation_timeout: session_timeout,
        }
    }
}

/// See the module documentation.
pub struct ZooKeeperStorage {
    servers: String,
    /// Without its trailing slash, as upstream strips it; empty for `/`.
    znode: String,
    session_timeout: Duration,
    operation_timeout: Duration,
    auth: Option<Authentication>,
    /// `OPEN_ACL_UNSAFE`, or read for anyone and everything for the
    /// creator when credentials are given (upstream's
    /// `EVERYONE_READ_CREATOR_ALL`).
    acls: Vec<Acl>,
    session: tokio::sync::Mutex<Option<Client>>,
}

impl std::fmt::Debug for ZooKeeperStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZooKeeperStorage")
            .field("servers", &self.servers)
            .field("znode", &self.znode)
            .finish_non_exhaustive()
    }
}

/// What one attempt of an operation came to, short of success.
enum Step {
    /// Worth another attempt (connection loss, an expired session).
    Retry(zookeeper_client::Error),
    Fail(Error),
}

fn retryable(error: &zookeeper_client::Error) -> bool {
    use zookeeper_client::Error as Zk;
    matches!(
        error,
        Zk::ConnectionLoss
            | Zk::Timeout
            | Zk::SessionExpired
            | Zk::SessionMoved
            | Zk::ClientClosed
            | Zk::Throttled
            | Zk::NoHosts
    )
}

impl ZooKeeperStorage {
    /// Checks the options; connecting waits for the first operation.
    pub fn new(options: ZooKeeperStorageOptions) -> Result<ZooKeeperStorage, Error> {
        let znode = options.znode.trim_end_matches('/').to_string();
        if !options.znode.starts_with('/') || znode.contains("//") {
            return Err(Error::InvalidZnode(options.znode));
        }
        let acls = match &options.auth {
            Some(_) => vec![
                Acl::new(Permission::READ, AuthId::anyone()),
                Acl::new(Permission::ALL, AuthId::authed()),
            ],
            None => vec![Acl::new(Permission::ALL, AuthId::anyone())],
        };
        Ok(ZooKeeperStorage {
            servers: options.servers,
            znode,
            session_timeout: options.session_timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT),
            operation_timeout: options.operation_timeout.min(MAX_TIMEOUT),
            auth: options.auth,
            acls,
            session: tokio::sync::Mutex::new(None),
        })
    }

    pub fn znode(&self) -> &str {
        if self.znode.is_empty() {
            "/"
        } else {
            &self.znode
        }
    }

    /// `<znode>/<name>`, for a name that is one znode.
    fn path(&self, name: &str) -> Result<String, Error> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(Error::InvalidName(name.to_string()));
        }
        Ok(format!("{}/{name}", self.znode))
    }

    /// The entry stored under `name`, if any.
    pub async fn get(&self, name: &str) -> Result<Option<Entry>, Error> {
        let path = self.path(name)?;
        self.run("get", |client, _| {
            let path = path.clone();
            async move {
                match client.get_data(&path).await {
                    Ok((bytes, _)) => decode(&path, &bytes).map(Some),
                    Err(zookeeper_client::Error::NoNode) => Ok(None),
                    Err(e) => Err(zk_step("get", &path, e)),
                }
            }
        })
        .await
    }

    /// Writes `entry` if the stored entry's uuid is `expected` (or there
    /// is no entry yet): `true` when written, `false` when another writer
    /// changed or created it first.
    pub async fn set(&self, entry: &Entry, expected: &[u8]) -> Result<bool, Error> {
        let path = self.path(&entry.name)?;
        let data = entry.encode_to_vec();
        if data.len() > MAX_ENTRY_SIZE {
            return Err(Error::TooBig);
        }
        let create = CreateMode::Persistent.with_acls(Acls::new(&self.acls));
        self.run("set", |client, retried| {
            let (path, data, create) = (path.clone(), data.clone(), create.clone());
            async move {
                match client.get_data(&path).await {
                    Ok((bytes, stat)) => {
                        let current = decode(&path, &bytes)?;
                        if retried && current.uuid == entry.uuid {
                            // Our earlier attempt landed.
                            return Ok(true);
                        }
                        if current.uuid != expected {
                            return Ok(false);
                        }
                        match client.set_data(&path, &data, Some(stat.version)).await {
                            Ok(_) => Ok(true),
                            Err(zookeeper_client::Error::BadVersion) => Ok(false),
                            Err(e) => Err(zk_step("set", &path, e)),
                        }
                    }
                    Err(zookeeper_client::Error::NoNode) => {
                        if !self.znode.is_empty() {
                            if let Err(e) = client.mkdir(&self.znode, &create).await {
                                return Err(zk_step("create", &self.znode, e));
                            }
                        }
                        match client.create(&path, &data, &create).await {
                            Ok(_) => Ok(true),
                            // Lost a race with another writer.
                            Err(zookeeper_client::Error::NodeExists) => Ok(false),
                            Err(e) => Err(zk_step("create", &path, e)),
                        }
                    }
                    Err(e) => Err(zk_step("get", &path, e)),
                }
            }
        })
        .await
    }

    /// Deletes the entry if it still has `entry`'s uuid: `true` when
    /// deleted, `false` when it changed or is gone.
    pub async fn expunge(&self, entry: &Entry) -> Result<bool, Error> {
        let path = self.path(&entry.name)?;
        self.run("expunge", |client, _| {
            let path = path.clone();
            async move {
                match client.get_data(&path).await {
                    Ok((bytes, stat)) => {
                        let current = decode(&path, &bytes)?;
                        if current.uuid != entry.uuid {
                            return Ok(false);
                        }
                        match client.delete(&path, Some(stat.version)).await {
                            Ok(()) => Ok(true),
                            Err(
                                zookeeper_client::Error::BadVersion
                                | zookeeper_client::Error::NoNode,
                            ) => Ok(false),
                            Err(e) => Err(zk_step("delete", &path, e)),
                        }
                    }
                    Err(zookeeper_client::Error::NoNode) => Ok(false),
                    Err(e) => Err(zk_step("get", &path, e)),
                }
            }
        })
        .await
    }

    /// The names of the entries. A parent znode that does not exist yet
    /// (nothing stored) has none; upstream fails here instead.
    pub async fn names(&self) -> Result<Vec<String>, Error> {
        let znode = self.znode().to_string();
        self.run("names", |client, _| {
            let znode = znode.clone();
            async move {
                match client.list_children(&znode).await {
                    Ok(mut names) => {
                        names.sort();
                        Ok(names)
                    }
                    Err(zookeeper_client::Error::NoNode) => Ok(Vec::new()),
                    Err(e) => Err(zk_step("list", &znode, e)),
                }
            }
        })
        .await
    }

    /// Runs `attempt` against a live session until it succeeds, fails for
    /// good, or the operation deadline passes. `attempt` learns whether an
    /// earlier attempt may have reached ZooKeeper.
    async fn run<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut(Client, bool) -> Fut,
        Fut: std::future::Future<Output = Result<T, Step>>,
    {
        let deadline = Instant::now() + self.operation_timeout;
        let mut tries: u32 = 0;
        loop {
            let last = match self.client(deadline).await {
                Ok(client) => {
                    let id = client.session_id();
                    match tokio::time::timeout_at(deadline, attempt(client, tries > 0)).await {
                        Ok(Ok(value)) => return Ok(value),
                        Ok(Err(Step::Fail(e))) => return Err(e),
                        Ok(Err(Step::Retry(e))) => {
                            if matches!(
                                e,
                                zookeeper_client::Error::SessionExpired
                                    | zookeeper_client::Error::ClientClosed
                            ) {
                                self.forget(id).await;
                            }
                            e.to_string()
                        }
                        Err(_) => "no answer".to_string(),
                    }
                }
                Err(Step::Fail(e)) => return Err(e),
                Err(Step::Retry(e)) => e.to_string(),
            };
            tries += 1;
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    timeout: self.operation_timeout,
                    servers: self.servers.clone(),
                    last,
                });
            }
            debug!("ZooKeeper {what} will be retried: {last}");
            let backoff = Duration::from_millis(50u64 << tries.min(5));
            tokio::time::sleep_until((now + backoff).min(deadline)).await;
        }
    }

    /// The current session, or a new one when there is none or it ended.
    async fn client(&self, deadline: Instant) -> Result<Client, Step> {
        let mut session = self.session.lock().await;
        if let Some(client) = session.as_ref() {
            match client.state() {
                SessionState::AuthFailed => {
                    return Err(Step::Fail(self.auth_error()));
                }
                state if state.is_terminated() => {
                    info!("ZooKeeper session of the state storage ended ({state:?}); reconnecting");
                    *session = None;
                }
                _ => return Ok(client.clone()),
            }
        }
        let mut connector = Client::connector().with_session_timeout(self.session_timeout);
        if let Some(auth) = &self.auth {
            connector = connector.with_auth(&auth.scheme, &auth.credentials);
        }
        match tokio::time::timeout_at(deadline, connector.connect(&self.servers)).await {
            Ok(Ok(client)) => {
                *session = Some(client.clone());
                Ok(client)
            }
            Ok(Err(zookeeper_client::Error::AuthFailed)) => Err(Step::Fail(self.auth_error())),
            Ok(Err(zookeeper_client::Error::BadArguments(why))) => {
                Err(Step::Fail(Error::ZooKeeper {
                    what: format!("connect to '{}'", self.servers),
                    reason: why.to_string(),
                }))
            }
            Ok(Err(e)) => Err(Step::Retry(e)),
            Err(_) => Err(Step::Retry(zookeeper_client::Error::Timeout)),
        }
    }

    /// Drops the session `id` (not a newer one another caller made).
    async fn forget(&self, id: zookeeper_client::SessionId) {
        let mut session = self.session.lock().await;
        if session.as_ref().is_some_and(|c| c.session_id() == id) {
            *session = None;
        }
    }

    fn auth_error(&self) -> Error {
        Error::Authentication(
            self.auth
                .as_ref()
                .map(|a| a.scheme.clone())
                .unwrap_or_default(),
        )
    }
}

fn decode(path: &str, bytes: &[u8]) -> Result<Entry, Step> {
    mesos_proto::decode_checked::<Entry>(bytes).map_err(|e| {
        Step::Fail(Error::Corrupt {
            path: path.to_string(),
            reason: e.to_string(),
        })
    })
}

fn zk_step(what: &str, path: &str, error: zookeeper_client::Error) -> Step {
    if retryable(&error) {
        Step::Retry(error)
    } else if matches!(error, zookeeper_client::Error::AuthFailed) {
        Step::Fail(Error::ZooKeeper {
            what: format!("{what} of '{path}'"),
            reason: "authentication failed".to_string(),
        })
    } else {
        Step::Fail(Error::ZooKeeper {
            what: format!("{what} of '{path}'"),
            reason: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(znode: &str) -> Result<ZooKeeperStorage, Error> {
        ZooKeeperStorage::new(ZooKeeperStorageOptions::new(
            "127.0.0.1:1",
            znode,
            Duration::from_secs(1),
        ))
    }

    #[test]
    fn the_znode_must_be_absolute_and_loses_its_trailing_slash() {
        assert!(matches!(storage("state"), Err(Error::InvalidZnode(_))));
        assert!(matches!(storage("/a//b"), Err(Error::InvalidZnode(_))));
        let s = storage("/chronos/state/").expect("valid");
        assert_eq!(s.znode(), "/chronos/state");
        assert_eq!(s.path("x").ok().as_deref(), Some("/chronos/state/x"));
        let root = storage("/").expect("valid");
        assert_eq!(root.znode(), "/");
        assert_eq!(root.path("x").ok().as_deref(), Some("/x"));
    }

    #[test]
    fn timeouts_stay_within_bounds() {
        let huge = ZooKeeperStorageOptions::new("h:1", "/s", Duration::from_secs(u64::MAX));
        assert_eq!(huge.session_timeout, MAX_TIMEOUT);
        assert_eq!(huge.operation_timeout, MAX_TIMEOUT);
        let zero = ZooKeeperStorageOptions::new("h:1", "/s", Duration::ZERO);
        assert_eq!(zero.session_timeout, MIN_TIMEOUT);
        let mut options = zero.clone();
        options.operation_timeout = Duration::MAX;
        let storage = ZooKeeperStorage::new(options).expect("valid");
        assert_eq!(storage.operation_timeout, MAX_TIMEOUT);
    }

    #[test]
    fn a_name_is_one_znode() {
        let s = storage("/s").expect("valid");
        for bad in ["", ".", "..", "a/b", "a\0"] {
            assert!(matches!(s.path(bad), Err(Error::InvalidName(_))), "{bad:?}");
        }
    }

    #[test]
    fn credentials_never_reach_debug_output() {
        let auth = Authentication {
            scheme: "digest".into(),
            credentials: b"user:secret".to_vec(),
        };
        assert!(!format!("{auth:?}").contains("secret"));
    }
}
