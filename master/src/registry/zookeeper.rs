//! The registry in ZooKeeper, for masters run with `--zk`.
//!
//! ZooKeeper refuses znodes over 1 MB (`jute.maxbuffer`), and the registry
//! of a large cluster is several times that, so the serialized registry is
//! split into chunk znodes under the base path, and the base znode itself
//! holds a small JSON manifest naming the chunks of the current registry
//! (with its size and a checksum):
//!
//! ```text
//! <path>                      {"format":1,"size":N,"fnv1a64":"…","chunks":["<nonce>-000000",…]}
//! <path>/<nonce>-000000       bytes [0, chunk_size)
//! <path>/<nonce>-000001       …
//! ```
//!
//! A store writes the new chunks under fresh names (nothing refers to them
//! yet), then commits by setting the manifest with the version of the base
//! znode it last saw. A deposed leader's commit therefore fails with a bad
//! version and its chunks are never referenced; chunks of earlier
//! registries are deleted after each commit. Readers only follow the
//! manifest, so a half-finished store is invisible.
//!
//! The store owns its ZooKeeper session: when the session is lost, every
//! later call fails, which ends the master's leadership as it must.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde_json::json;
use tracing::{debug, warn};
use zookeeper_client::{Acl, Acls, AuthId, Client, CreateMode, Permission};

use super::store::{Fetched, Store, StoreError, StoreFuture, Version};

/// Half of ZooKeeper's default 1 MB request limit: ZooKeeper copes badly
/// with requests near the limit (slow to log and replicate), and a 40,000
/// agent registry is still only a few dozen chunks.
pub const DEFAULT_CHUNK_SIZE: usize = 512 * 1024;

/// Where and how to connect.
#[derive(Clone)]
pub struct ZooKeeperStoreOptions {
    /// `host1:port1,host2:port2`.
    pub servers: String,
    /// Absolute path of the base znode, e.g. `/mesos/registry`; created
    /// with its parents if missing.
    pub path: String,
    /// ZooKeeper `digest` credentials (`user`, `password`), as given in a
    /// `zk://user:pass@…` URL.
    pub credentials: Option<(String, String)>,
    pub session_timeout: Duration,
    /// Bytes per chunk znode.
    pub chunk_size: usize,
}

impl std::fmt::Debug for ZooKeeperStoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never log the password.
        f.debug_struct("ZooKeeperStoreOptions")
            .field("servers", &self.servers)
            .field("path", &self.path)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("session_timeout", &self.session_timeout)
            .field("chunk_size", &self.chunk_size)
            .finish()
    }
}

impl ZooKeeperStoreOptions {
    pub fn new(servers: impl Into<String>, path: impl Into<String>) -> Self {
        ZooKeeperStoreOptions {
            servers: servers.into(),
            path: path.into(),
            credentials: None,
            session_timeout: Duration::from_secs(10),
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// The ZooKeeper store. See the module documentation.
pub struct ZooKeeperStore {
    client: Client,
    path: String,
    servers: String,
    chunk_size: usize,
    /// `OPEN_ACL_UNSAFE`, or read for anyone and everything for the
    /// creator when credentials are given (as upstream's ZooKeeper nodes).
    acls: Vec<Acl>,
}

impl std::fmt::Debug for ZooKeeperStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZooKeeperStore")
            .field("servers", &self.servers)
            .field("path", &self.path)
            .finish()
    }
}

fn zk_error(what: &str, path: &str, error: zookeeper_client::Error) -> StoreError {
    StoreError::new(format!("ZooKeeper {what} of '{path}' failed: {error}"))
}

/// FNV-1a, 64 bits: a cheap check that the chunks add up to what the
/// manifest describes.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

struct Manifest {
    size: usize,
    hash: u64,
    chunks: Vec<String>,
}

impl Manifest {
    fn encode(&self) -> Vec<u8> {
        json!({
            "format": 1,
            "size": self.size,
            "fnv1a64": format!("{:016x}", self.hash),
            "chunks": self.chunks,
        })
        .to_string()
        .into_bytes()
    }

    fn decode(bytes: &[u8]) -> Result<Manifest, StoreError> {
        let bad = |why: &str| StoreError::new(format!("Invalid registry manifest: {why}"));
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(&e.to_string()))?;
        if value["format"].as_u64() != Some(1) {
            return Err(bad("unknown format"));
        }
        let size = value["size"].as_u64().ok_or_else(|| bad("no size"))? as usize;
        let hash = value["fnv1a64"]
            .as_str()
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| bad("no checksum"))?;
        let chunks = value["chunks"]
            .as_array()
            .ok_or_else(|| bad("no chunks"))?
            .iter()
            .map(|c| {
                c.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("chunk name"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if chunks.iter().any(|c| c.is_empty() || c.contains('/')) {
            return Err(bad("chunk name"));
        }
        Ok(Manifest { size, hash, chunks })
    }
}

impl ZooKeeperStore {
    /// Connects (within the session timeout) and makes sure the base
    /// znode exists.
    pub async fn connect(options: ZooKeeperStoreOptions) -> Result<ZooKeeperStore, StoreError> {
        if !options.path.starts_with('/') || options.path.len() < 2 || options.path.ends_with('/') {
            return Err(StoreError::new(format!(
                "Invalid ZooKeeper registry path '{}'",
                options.path
            )));
        }
        if options.chunk_size == 0 {
            return Err(StoreError::new("ZooKeeper chunk size must be positive"));
        }
        let mut connector = Client::connector();
        connector.session_timeout(options.session_timeout);
        let acls = match &options.credentials {
            Some((user, password)) => {
                connector.auth(
                    "digest".to_string(),
                    format!("{user}:{password}").into_bytes(),
                );
                vec![
                    Acl::new(Permission::READ, AuthId::anyone()),
                    Acl::new(Permission::ALL, AuthId::authed()),
                ]
            }
            None => vec![Acl::new(Permission::ALL, AuthId::anyone())],
        };
        let client = connector.connect(&options.servers).await.map_err(|e| {
            StoreError::new(format!(
                "Failed to connect to ZooKeeper at '{}': {e}",
                options.servers
            ))
        })?;
        let store = ZooKeeperStore {
            client,
            path: options.path,
            servers: options.servers,
            chunk_size: options.chunk_size,
            acls,
        };
        let create = CreateMode::Persistent.with_acls(Acls::new(&store.acls));
        match store.client.mkdir(&store.path, &create).await {
            Ok(()) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => return Err(zk_error("create", &store.path, e)),
        }
        Ok(store)
    }

    fn child(&self, name: &str) -> String {
        format!("{}/{name}", self.path)
    }

    async fn fetch_inner(&self) -> Result<Fetched, StoreError> {
        let (manifest, stat) = self
            .client
            .get_data(&self.path)
            .await
            .map_err(|e| zk_error("read", &self.path, e))?;
        let version = Version(i64::from(stat.version));
        if manifest.is_empty() {
            return Ok(Fetched {
                bytes: Bytes::new(),
                version,
            });
        }
        let manifest = Manifest::decode(&manifest)?;
        let mut bytes = BytesMut::with_capacity(manifest.size);
        for name in &manifest.chunks {
            let path = self.child(name);
            let (chunk, _) = self
                .client
                .get_data(&path)
                .await
                .map_err(|e| zk_error("read", &path, e))?;
            if bytes.len() + chunk.len() > manifest.size {
                return Err(StoreError::new(
                    "Registry chunks exceed the manifest's size",
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.len() != manifest.size || fnv1a64(&bytes) != manifest.hash {
            return Err(StoreError::new(
                "Registry chunks do not match the manifest (size or checksum)",
            ));
        }
        Ok(Fetched {
            bytes: bytes.freeze(),
            version,
        })
    }

    async fn store_inner(
        &self,
        bytes: Bytes,
        expected: Version,
    ) -> Result<Option<Version>, StoreError> {
        let Ok(expected_version) = i32::try_from(expected.0) else {
            return Ok(None);
        };
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let create = CreateMode::Persistent.with_acls(Acls::new(&self.acls));
        let mut chunks = Vec::new();
        for (index, chunk) in bytes.chunks(self.chunk_size).enumerate() {
            let name = format!("{nonce}-{index:06}");
            let path = self.child(&name);
            if let Err(e) = self.client.create(&path, chunk, &create).await {
                self.delete_chunks(&chunks).await;
                return Err(zk_error("create", &path, e));
            }
            chunks.push(name);
        }
        let manifest = Manifest {
            size: bytes.len(),
            hash: fnv1a64(&bytes),
            chunks,
        };
        match self
            .client
            .set_data(&self.path, &manifest.encode(), Some(expected_version))
            .await
        {
            Ok(stat) => {
                self.delete_unreferenced(&manifest.chunks).await;
                Ok(Some(Version(i64::from(stat.version))))
            }
            Err(zookeeper_client::Error::BadVersion) => {
                warn!("Registry in ZooKeeper was written by another master");
                self.delete_chunks(&manifest.chunks).await;
                Ok(None)
            }
            Err(e) => Err(zk_error("write", &self.path, e)),
        }
    }

    /// Best effort: a chunk left behind only costs space, and the next
    /// commit deletes it.
    async fn delete_chunks(&self, names: &[String]) {
        for name in names {
            let path = self.child(name);
            if let Err(e) = self.client.delete(&path, None).await {
                debug!("Failed to delete registry chunk '{path}': {e}");
            }
        }
    }

    async fn delete_unreferenced(&self, current: &[String]) {
        match self.client.list_children(&self.path).await {
            Ok(children) => {
                let old: Vec<String> = children
                    .into_iter()
                    .filter(|c| !current.contains(c))
                    .collect();
                self.delete_chunks(&old).await;
            }
            Err(e) => debug!("Failed to list registry chunks under '{}': {e}", self.path),
        }
    }
}

impl Store for ZooKeeperStore {
    fn fetch(&self) -> StoreFuture<'_, Fetched> {
        Box::pin(self.fetch_inner())
    }

    fn store(&self, bytes: Bytes, expected: Version) -> StoreFuture<'_, Option<Version>> {
        Box::pin(self.store_inner(bytes, expected))
    }

    fn describe(&self) -> String {
        format!("ZooKeeper registry at '{}{}'", self.servers, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_and_checks() {
        let manifest = Manifest {
            size: 3,
            hash: fnv1a64(b"abc"),
            chunks: vec!["n-000000".into()],
        };
        let decoded = Manifest::decode(&manifest.encode()).unwrap();
        assert_eq!(decoded.size, 3);
        assert_eq!(decoded.hash, manifest.hash);
        assert_eq!(decoded.chunks, manifest.chunks);
        assert!(Manifest::decode(b"{}").is_err());
        assert!(Manifest::decode(b"not json").is_err());
        assert!(
            Manifest::decode(br#"{"format":1,"size":1,"fnv1a64":"00","chunks":["../x"]}"#).is_err()
        );
    }
}
