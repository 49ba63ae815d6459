//! Where the registry is kept: one trait, three stores.
//!
//! A store holds one serialized `mesos.internal.Registry` and a version.
//! [`Store::store`] replaces it only if the version is still the one last
//! fetched or stored by this writer, so a deposed leader's write fails
//! (`Ok(None)`, upstream's "version mismatch") instead of overwriting its
//! successor's. Stores never block the caller's thread: file I/O runs on
//! the blocking pool, ZooKeeper is asynchronous.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use bytes::Bytes;

/// A future returned by a store.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Opaque version of the stored registry (a counter for the file and
/// memory stores, the root znode's version for ZooKeeper).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Version(pub i64);

/// What [`Store::fetch`] found: the serialized registry (empty when none
/// was ever stored) and its version.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub bytes: Bytes,
    pub version: Version,
}

/// A store failed (I/O, ZooKeeper session, corrupt data).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct StoreError(pub String);

impl StoreError {
    pub fn new(message: impl Into<String>) -> Self {
        StoreError(message.into())
    }
}

/// A durable (or, for `in_memory`, not) home for the registry.
pub trait Store: Send + Sync + 'static {
    /// Reads the registry and its version.
    fn fetch(&self) -> StoreFuture<'_, Fetched>;

    /// Replaces the registry if `expected` is still current; the new
    /// version, or `None` when someone else wrote in between.
    fn store(&self, bytes: Bytes, expected: Version) -> StoreFuture<'_, Option<Version>>;

    /// For logs: what and where.
    fn describe(&self) -> String;
}

/// `--registry=in_memory`: lost when the process exits.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// A std mutex: held only to copy a `Bytes` handle, never across await.
    state: Mutex<Fetched>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn fetch(&self) -> StoreFuture<'_, Fetched> {
        let result = self
            .state
            .lock()
            .map(|state| state.clone())
            .map_err(|_| StoreError::new("in-memory registry lock poisoned"));
        Box::pin(async move { result })
    }

    fn store(&self, bytes: Bytes, expected: Version) -> StoreFuture<'_, Option<Version>> {
        let result = match self.state.lock() {
            Ok(mut state) if state.version == expected => {
                state.version = Version(expected.0 + 1);
                state.bytes = bytes;
                Ok(Some(state.version))
            }
            Ok(_) => Ok(None),
            Err(_) => Err(StoreError::new("in-memory registry lock poisoned")),
        };
        Box::pin(async move { result })
    }

    fn describe(&self) -> String {
        "in-memory registry".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_is_versioned() {
        let store = MemoryStore::new();
        let first = store.fetch().await.unwrap();
        assert!(first.bytes.is_empty());
        let v1 = store
            .store(Bytes::from_static(b"a"), first.version)
            .await
            .unwrap()
            .unwrap();
        // A writer holding the old version is refused.
        assert_eq!(
            store
                .store(Bytes::from_static(b"b"), first.version)
                .await
                .unwrap(),
            None
        );
        assert!(store
            .store(Bytes::from_static(b"c"), v1)
            .await
            .unwrap()
            .is_some());
        assert_eq!(&store.fetch().await.unwrap().bytes[..], b"c");
    }
}
