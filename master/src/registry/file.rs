//! The registry in a file under `--work_dir`: what `--registry=replicated_log`
//! means for a master without `--zk`.
//!
//! Owns `<work_dir>/registry` (the serialized `mesos.internal.Registry`) and
//! `<work_dir>/registry.lock`. Every store writes a temporary file, syncs
//! it, renames it over the old one and syncs the directory, so after a
//! crash at any point the file holds either the old or the new registry,
//! never a mix. An exclusive `flock` on the lock file, held for the
//! store's life, keeps a second master from using the same directory;
//! with a single writer the version is a counter kept in memory. All file
//! work runs on tokio's blocking pool, never on the caller's thread.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use nix::fcntl::{Flock, FlockArg};

use super::store::{Fetched, Store, StoreError, StoreFuture, Version};

const REGISTRY_FILE: &str = "registry";
const TEMPORARY_FILE: &str = "registry.tmp";
const LOCK_FILE: &str = "registry.lock";

/// The file store. See the module documentation.
pub struct FileStore {
    dir: PathBuf,
    /// The version last fetched or stored. A std mutex: held only to read
    /// or bump the counter, never across await.
    version: Arc<Mutex<Version>>,
    /// Held, never read: dropping it releases the lock.
    _lock: Flock<File>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore").field("dir", &self.dir).finish()
    }
}

impl FileStore {
    /// Opens (creating if needed) the registry directory and takes its
    /// lock; fails if another process holds it.
    pub fn open(dir: impl AsRef<Path>) -> Result<FileStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::new(format!("Failed to create '{}': {e}", dir.display())))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                StoreError::new(format!("Failed to open '{}': {e}", lock_path.display()))
            })?;
        let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
            StoreError::new(format!(
                "Failed to lock '{}' (is another master using this --work_dir?): {e}",
                lock_path.display()
            ))
        })?;
        Ok(FileStore {
            dir,
            version: Arc::new(Mutex::new(Version::default())),
            _lock: lock,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(REGISTRY_FILE)
    }
}

fn read(path: &Path) -> Result<Bytes, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Bytes::from(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Bytes::new()),
        Err(e) => Err(StoreError::new(format!(
            "Failed to read '{}': {e}",
            path.display()
        ))),
    }
}

/// write, fsync, rename, fsync the directory.
fn write_atomically(dir: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let temporary = dir.join(TEMPORARY_FILE);
    let target = dir.join(REGISTRY_FILE);
    let fail = |what: &str, path: &Path, e: std::io::Error| {
        StoreError::new(format!("Failed to {what} '{}': {e}", path.display()))
    };
    let mut file = File::create(&temporary).map_err(|e| fail("create", &temporary, e))?;
    file.write_all(bytes)
        .map_err(|e| fail("write", &temporary, e))?;
    file.sync_all().map_err(|e| fail("sync", &temporary, e))?;
    drop(file);
    std::fs::rename(&temporary, &target).map_err(|e| fail("rename", &temporary, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("sync", dir, e))?;
    Ok(())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::new(format!("registry file task failed: {e}")))?
}

impl Store for FileStore {
    fn fetch(&self) -> StoreFuture<'_, Fetched> {
        let path = self.path();
        let version = Arc::clone(&self.version);
        Box::pin(async move {
            let bytes = blocking(move || read(&path)).await?;
            let version = *version
                .lock()
                .map_err(|_| StoreError::new("registry version lock poisoned"))?;
            Ok(Fetched { bytes, version })
        })
    }

    fn store(&self, bytes: Bytes, expected: Version) -> StoreFuture<'_, Option<Version>> {
        let dir = self.dir.clone();
        let version = Arc::clone(&self.version);
        Box::pin(async move {
            {
                let current = version
                    .lock()
                    .map_err(|_| StoreError::new("registry version lock poisoned"))?;
                if *current != expected {
                    return Ok(None);
                }
            }
            blocking(move || write_atomically(&dir, &bytes)).await?;
            let mut current = version
                .lock()
                .map_err(|_| StoreError::new("registry version lock poisoned"))?;
            *current = Version(expected.0 + 1);
            Ok(Some(*current))
        })
    }

    fn describe(&self) -> String {
        format!("registry file '{}'", self.path().display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = FileStore::open(dir.path()).unwrap();
            let fetched = store.fetch().await.unwrap();
            assert!(fetched.bytes.is_empty());
            let v = store
                .store(Bytes::from_static(b"one"), fetched.version)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                store
                    .store(Bytes::from_static(b"stale"), fetched.version)
                    .await
                    .unwrap(),
                None
            );
            store
                .store(Bytes::from_static(b"two"), v)
                .await
                .unwrap()
                .unwrap();
        }
        let store = FileStore::open(dir.path()).unwrap();
        assert_eq!(&store.fetch().await.unwrap().bytes[..], b"two");
        assert!(!dir.path().join(TEMPORARY_FILE).exists());
    }

    #[tokio::test]
    async fn second_master_on_same_work_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = FileStore::open(dir.path()).unwrap();
        let error = FileStore::open(dir.path()).unwrap_err();
        assert!(error.0.contains("another master"), "{error}");
    }

    #[tokio::test]
    async fn leftover_temporary_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TEMPORARY_FILE), b"half-written").unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        assert!(store.fetch().await.unwrap().bytes.is_empty());
    }
}
