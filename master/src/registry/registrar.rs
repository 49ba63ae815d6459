//! The registrar (upstream `registrar.cpp`): the one writer of the
//! registry, a task of its own between the master actor and a [`Store`].
//!
//! The actor hands it operations tagged with a continuation and goes on
//! with other work; the registrar answers each one on the completion
//! channel, in the order it received them, only after the write holding it
//! committed. Operations are written in batches: the first one queued
//! starts a write of everything queued at that moment; whatever arrives
//! while that write is in flight waits and goes in the next batch, so a
//! burst of N operations costs a handful of writes, not N.
//!
//! Before anything else a new leader asks for recovery: the registry is
//! fetched, this master's info is recorded in it, and that first write
//! proves the store accepts our writes (a deposed leader's fails on the
//! version). Any failed fetch or write — I/O error, timeout, version
//! mismatch — puts the registrar in an error state: the batch and every
//! later operation fail with that error, because a leader that cannot
//! write must stop acting (upstream aborts the master). The registrar
//! never decides what an operation means for agents or frameworks.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libprocess::metrics::Timer;

use bytes::Bytes;
use mesos_proto::mesos::internal::Registry;
use mesos_proto::mesos::MasterInfo;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{error, info};

use super::operations::{apply, AgentIndex, Operation};
use super::store::{Store, Version};
use super::RegistryError;

/// Timeouts for store calls (`--registry_fetch_timeout`,
/// `--registry_store_timeout`).
#[derive(Debug, Clone)]
pub struct RegistrarOptions {
    pub fetch_timeout: Duration,
    pub store_timeout: Duration,
    /// Told about every write (batch size, bytes, time); for tests and
    /// benchmarks.
    pub write_reports: Option<mpsc::UnboundedSender<WriteReport>>,
}

impl Default for RegistrarOptions {
    fn default() -> Self {
        RegistrarOptions {
            fetch_timeout: Duration::from_secs(60),
            store_timeout: Duration::from_secs(20),
            write_reports: None,
        }
    }
}

/// One committed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteReport {
    /// Operations in the batch (the recovery write counts one).
    pub operations: usize,
    /// Size of the stored registry.
    pub bytes: usize,
    /// From the start of the store call to its commit.
    pub elapsed: Duration,
}

/// What the registrar answers on the completion channel.
#[derive(Debug)]
pub enum Completion<T> {
    /// The answer to [`Registrar::recover`]: the registry as recovered
    /// (with this master recorded in it).
    Recovered(Result<Arc<Registry>, RegistryError>),
    /// The answer to [`Registrar::apply`]: whether the operation changed
    /// the registry, once its batch committed.
    Applied {
        tag: T,
        result: Result<bool, RegistryError>,
    },
}

enum Request<T> {
    Recover(Box<MasterInfo>),
    Apply(Operation, T),
}

/// Counters for `/metrics/snapshot` (`registrar/*`).
#[derive(Debug, Default)]
pub struct RegistrarMetrics {
    queued: AtomicUsize,
    registry_size_bytes: AtomicUsize,
    writes: AtomicU64,
    last_store_ms: AtomicU64,
    /// `registrar/state_fetch_ms` and `registrar/state_store_ms`.
    fetch_timer: Mutex<Timer>,
    store_timer: Mutex<Timer>,
}

impl RegistrarMetrics {
    /// `registrar/queued_operations`.
    pub fn queued_operations(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// `registrar/registry_size_bytes`.
    pub fn registry_size_bytes(&self) -> usize {
        self.registry_size_bytes.load(Ordering::Relaxed)
    }

    /// Committed writes so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// `registrar/state_store_ms` of the last write.
    pub fn last_store_ms(&self) -> u64 {
        self.last_store_ms.load(Ordering::Relaxed)
    }

    /// Adds the `registrar/*` metrics (upstream `Registrar::Metrics`) to
    /// `metrics`: the gauges, and the fetch and store timers once they
    /// have samples.
    pub fn export(&self, metrics: &mut std::collections::BTreeMap<String, f64>) {
        metrics.insert(
            "registrar/queued_operations".to_string(),
            self.queued_operations() as f64,
        );
        metrics.insert(
            "registrar/registry_size_bytes".to_string(),
            self.registry_size_bytes() as f64,
        );
        // A poisoned lock only means a writer panicked mid-record; the
        // samples it holds are still whole numbers.
        let fetch = self.fetch_timer.lock().unwrap_or_else(|e| e.into_inner());
        fetch.export("registrar/state_fetch_ms", metrics);
        drop(fetch);
        let store = self.store_timer.lock().unwrap_or_else(|e| e.into_inner());
        store.export("registrar/state_store_ms", metrics);
    }

    fn record(timer: &Mutex<Timer>, elapsed: Duration) {
        timer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(elapsed);
    }
}

/// The actor's handle to the registrar. `T` is the continuation the actor
/// wants back with each answer.
pub struct Registrar<T> {
    requests: mpsc::UnboundedSender<Request<T>>,
    metrics: Arc<RegistrarMetrics>,
}

impl<T> std::fmt::Debug for Registrar<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("queued", &self.metrics.queued_operations())
            .finish()
    }
}

impl<T: Send + 'static> Registrar<T> {
    /// Starts the registrar over `store`; answers go to `completions`.
    /// The queue towards the registrar is unbounded on purpose: the actor
    /// must never wait on it, and its length is bounded by the agents and
    /// operators that can have an operation pending at once.
    pub fn spawn(
        store: Arc<dyn Store>,
        options: RegistrarOptions,
        completions: mpsc::UnboundedSender<Completion<T>>,
    ) -> (Registrar<T>, JoinHandle<()>) {
        let (requests, receiver) = mpsc::unbounded_channel();
        let metrics = Arc::new(RegistrarMetrics::default());
        let task = tokio::spawn(run(
            store,
            options,
            receiver,
            completions,
            Arc::clone(&metrics),
        ));
        (Registrar { requests, metrics }, task)
    }

    /// Asks for the registry, recording `master` as the leader in it.
    pub fn recover(&self, master: MasterInfo) {
        let _ = self.requests.send(Request::Recover(Box::new(master)));
    }

    /// Queues `operation`; its answer comes back tagged with `tag`.
    pub fn apply(&self, operation: Operation, tag: T) {
        self.metrics.queued.fetch_add(1, Ordering::Relaxed);
        let _ = self.requests.send(Request::Apply(operation, tag));
    }

    pub fn metrics(&self) -> Arc<RegistrarMetrics> {
        Arc::clone(&self.metrics)
    }
}

/// The committed registry and what is needed to write the next one.
struct Committed {
    registry: Registry,
    ids: AgentIndex,
    version: Version,
}

struct Writer {
    store: Arc<dyn Store>,
    options: RegistrarOptions,
    metrics: Arc<RegistrarMetrics>,
}

impl Writer {
    /// Applies `operations` to a copy of the committed registry and stores
    /// it; on success the copy becomes the committed registry.
    async fn write(
        &self,
        committed: &mut Committed,
        operations: &[Operation],
    ) -> Result<Vec<bool>, RegistryError> {
        let mut next = committed.registry.clone();
        let mut ids = committed.ids.clone();
        let results: Vec<bool> = operations
            .iter()
            .map(|operation| apply(operation, &mut next, &mut ids))
            .collect();
        let bytes = Bytes::from(next.encode_to_vec());
        let size = bytes.len();
        let started = tokio::time::Instant::now();
        let stored = tokio::time::timeout(
            self.options.store_timeout,
            self.store.store(bytes, committed.version),
        )
        .await
        .map_err(|_| RegistryError::Timeout {
            what: "store",
            after: self.options.store_timeout,
        })?
        .map_err(|e| RegistryError::Storage(e.0))?;
        let Some(version) = stored else {
            return Err(RegistryError::VersionMismatch);
        };
        let elapsed = started.elapsed();
        committed.registry = next;
        committed.ids = ids;
        committed.version = version;
        self.metrics.writes.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .registry_size_bytes
            .store(size, Ordering::Relaxed);
        self.metrics
            .last_store_ms
            .store(elapsed.as_millis() as u64, Ordering::Relaxed);
        RegistrarMetrics::record(&self.metrics.store_timer, elapsed);
        if let Some(reports) = &self.options.write_reports {
            let _ = reports.send(WriteReport {
                operations: operations.len(),
                bytes: size,
                elapsed,
            });
        }
        info!(
            "Applied {} operations; updated the registry ({size} bytes) in {elapsed:?}",
            operations.len()
        );
        Ok(results)
    }

    async fn recover(&self, master: MasterInfo) -> Result<Committed, RegistryError> {
        info!("Recovering registrar from the {}", self.store.describe());
        let started = tokio::time::Instant::now();
        let fetched = tokio::time::timeout(self.options.fetch_timeout, self.store.fetch())
            .await
            .map_err(|_| RegistryError::Timeout {
                what: "fetch",
                after: self.options.fetch_timeout,
            })?
            .map_err(|e| RegistryError::Storage(e.0))?;
        RegistrarMetrics::record(&self.metrics.fetch_timer, started.elapsed());
        let registry = if fetched.bytes.is_empty() {
            Registry::default()
        } else {
            Registry::decode(fetched.bytes.as_ref())
                .map_err(|e| RegistryError::Corrupt(e.to_string()))?
        };
        info!(
            "Successfully fetched the registry ({} bytes) in {:?}",
            fetched.bytes.len(),
            started.elapsed()
        );
        let mut committed = Committed {
            ids: AgentIndex::of(&registry),
            registry,
            version: fetched.version,
        };
        self.write(&mut committed, &[Operation::SetMaster(Box::new(master))])
            .await?;
        info!("Successfully recovered registrar");
        Ok(committed)
    }
}

async fn run<T>(
    store: Arc<dyn Store>,
    options: RegistrarOptions,
    mut requests: mpsc::UnboundedReceiver<Request<T>>,
    completions: mpsc::UnboundedSender<Completion<T>>,
    metrics: Arc<RegistrarMetrics>,
) {
    let writer = Writer {
        store,
        options,
        metrics: Arc::clone(&metrics),
    };
    let mut committed: Option<Committed> = None;
    let mut failure: Option<RegistryError> = None;
    while let Some(first) = requests.recv().await {
        let mut batch: Vec<(Operation, T)> = Vec::new();
        let mut recoveries: Vec<Box<MasterInfo>> = Vec::new();
        let mut take = |request: Request<T>| match request {
            Request::Recover(master) => recoveries.push(master),
            Request::Apply(operation, tag) => batch.push((operation, tag)),
        };
        take(first);
        // Everything queued right now goes in this batch.
        while let Ok(request) = requests.try_recv() {
            take(request);
        }
        metrics.queued.fetch_sub(batch.len(), Ordering::Relaxed);

        // Recovery comes first: operations queued behind it wait for it.
        for master in recoveries {
            let answer = match (&committed, &failure) {
                (Some(committed), _) => Ok(Arc::new(committed.registry.clone())),
                (None, Some(failure)) => Err(failure.clone()),
                (None, None) => match writer.recover(*master).await {
                    Ok(recovered) => {
                        let registry = Arc::new(recovered.registry.clone());
                        committed = Some(recovered);
                        Ok(registry)
                    }
                    Err(error) => {
                        error!("Registrar aborting: failed to recover: {error}");
                        failure = Some(error.clone());
                        Err(error)
                    }
                },
            };
            if completions.send(Completion::Recovered(answer)).is_err() {
                return;
            }
        }
        if batch.is_empty() {
            continue;
        }

        let outcome = match (&mut committed, &failure) {
            (_, Some(failure)) => Err(RegistryError::Aborted(failure.to_string())),
            (None, None) => Err(RegistryError::NotRecovered),
            (Some(committed), None) => {
                let operations: Vec<Operation> = batch
                    .iter()
                    .map(|(operation, _)| operation.clone())
                    .collect();
                let written = writer.write(committed, &operations).await;
                if let Err(error) = &written {
                    error!("Registrar aborting: failed to update registry: {error}");
                    failure = Some(error.clone());
                }
                written
            }
        };
        for (index, (_, tag)) in batch.into_iter().enumerate() {
            let result = match &outcome {
                Ok(results) => Ok(results[index]),
                Err(error) => Err(error.clone()),
            };
            if completions
                .send(Completion::Applied { tag, result })
                .is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::store::{Fetched, MemoryStore, StoreError, StoreFuture};
    use mesos_proto::mesos::{SlaveId, SlaveInfo};
    use tokio::sync::Mutex as AsyncMutex;

    fn info(id: &str) -> SlaveInfo {
        SlaveInfo {
            hostname: "host".into(),
            id: Some(SlaveId { value: id.into() }),
            ..Default::default()
        }
    }

    fn master() -> MasterInfo {
        MasterInfo {
            id: "master-1".into(),
            ip: 1,
            port: 5050,
            ..Default::default()
        }
    }

    /// A store whose writes wait until the test lets them through, and
    /// that can be told to fail.
    struct GatedStore {
        inner: MemoryStore,
        started: mpsc::UnboundedSender<()>,
        gate: AsyncMutex<mpsc::UnboundedReceiver<Result<(), StoreError>>>,
    }

    impl Store for GatedStore {
        fn fetch(&self) -> StoreFuture<'_, Fetched> {
            self.inner.fetch()
        }

        fn store(&self, bytes: Bytes, expected: Version) -> StoreFuture<'_, Option<Version>> {
            Box::pin(async move {
                let _ = self.started.send(());
                let verdict = self.gate.lock().await.recv().await;
                match verdict {
                    Some(Ok(())) => self.inner.store(bytes, expected).await,
                    Some(Err(error)) => Err(error),
                    None => Err(StoreError::new("gate closed")),
                }
            })
        }

        fn describe(&self) -> String {
            "gated".into()
        }
    }

    struct Harness {
        registrar: Registrar<u32>,
        completions: mpsc::UnboundedReceiver<Completion<u32>>,
        started: mpsc::UnboundedReceiver<()>,
        gate: mpsc::UnboundedSender<Result<(), StoreError>>,
        reports: mpsc::UnboundedReceiver<WriteReport>,
    }

    fn harness() -> Harness {
        let (started_tx, started) = mpsc::unbounded_channel();
        let (gate, gate_rx) = mpsc::unbounded_channel();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let store = Arc::new(GatedStore {
            inner: MemoryStore::new(),
            started: started_tx,
            gate: AsyncMutex::new(gate_rx),
        });
        let (completions_tx, completions) = mpsc::unbounded_channel();
        let (registrar, _task) = Registrar::spawn(
            store,
            RegistrarOptions {
                write_reports: Some(reports_tx),
                ..Default::default()
            },
            completions_tx,
        );
        Harness {
            registrar,
            completions,
            started,
            gate,
            reports,
        }
    }

    impl Harness {
        async fn recovered(&mut self) -> Arc<Registry> {
            self.registrar.recover(master());
            self.started.recv().await.unwrap();
            self.gate.send(Ok(())).unwrap();
            match self.completions.recv().await.unwrap() {
                Completion::Recovered(result) => result.unwrap(),
                other => panic!("unexpected {other:?}"),
            }
        }

        async fn applied(&mut self) -> (u32, Result<bool, RegistryError>) {
            match self.completions.recv().await.unwrap() {
                Completion::Applied { tag, result } => (tag, result),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    // Upstream RegistrarTest.Recover: recovery records the master.
    #[tokio::test(start_paused = true)]
    async fn recover_records_the_master() {
        let mut h = harness();
        let registry = h.recovered().await;
        assert_eq!(registry.master.as_ref().unwrap().info.id, "master-1");
        assert_eq!(h.reports.recv().await.unwrap().operations, 1);
    }

    // Upstream RegistrarTest.Admit + Bug: operations before recovery fail.
    #[tokio::test(start_paused = true)]
    async fn apply_before_recover_fails() {
        let mut h = harness();
        h.registrar
            .apply(Operation::AdmitAgent(Box::new(info("S0"))), 7);
        assert_eq!(h.applied().await, (7, Err(RegistryError::NotRecovered)));
    }

    // Operations queued while a write is in flight share the next write,
    // and every answer comes only after its own batch committed.
    #[tokio::test(start_paused = true)]
    async fn operations_queued_during_a_write_share_the_next_write() {
        let mut h = harness();
        h.recovered().await;
        h.reports.recv().await.unwrap();

        h.registrar
            .apply(Operation::AdmitAgent(Box::new(info("S0"))), 0);
        h.started.recv().await.unwrap();
        // The first write is in flight: these three queue behind it.
        for (tag, id) in [(1, "S1"), (2, "S2"), (3, "S0")] {
            h.registrar
                .apply(Operation::AdmitAgent(Box::new(info(id))), tag);
        }
        assert!(h.completions.try_recv().is_err(), "answered before commit");
        h.gate.send(Ok(())).unwrap();
        assert_eq!(h.applied().await, (0, Ok(true)));
        assert_eq!(h.reports.recv().await.unwrap().operations, 1);

        h.started.recv().await.unwrap();
        assert!(h.completions.try_recv().is_err(), "answered before commit");
        h.gate.send(Ok(())).unwrap();
        assert_eq!(h.applied().await, (1, Ok(true)));
        assert_eq!(h.applied().await, (2, Ok(true)));
        // S0 was already admitted by the first batch.
        assert_eq!(h.applied().await, (3, Ok(false)));
        assert_eq!(h.reports.recv().await.unwrap().operations, 3);
        assert_eq!(h.registrar.metrics().writes(), 3);
        assert_eq!(h.registrar.metrics().queued_operations(), 0);
    }

    // A failed write fails its batch and everything after it.
    #[tokio::test(start_paused = true)]
    async fn failed_write_aborts_the_registrar() {
        let mut h = harness();
        h.recovered().await;
        h.registrar
            .apply(Operation::AdmitAgent(Box::new(info("S0"))), 0);
        h.started.recv().await.unwrap();
        h.registrar
            .apply(Operation::AdmitAgent(Box::new(info("S1"))), 1);
        h.gate.send(Err(StoreError::new("disk on fire"))).unwrap();
        let (tag, result) = h.applied().await;
        assert_eq!(tag, 0);
        assert_eq!(result, Err(RegistryError::Storage("disk on fire".into())));
        let (tag, result) = h.applied().await;
        assert_eq!(tag, 1);
        assert!(
            matches!(result, Err(RegistryError::Aborted(_))),
            "{result:?}"
        );
        // Nothing was written after the failure.
        assert!(h.started.try_recv().is_err());
    }

    // Upstream registrar's store timeout: a hung store fails the write.
    #[tokio::test(start_paused = true)]
    async fn store_timeout_aborts_the_registrar() {
        let mut h = harness();
        h.recovered().await;
        h.registrar
            .apply(Operation::AdmitAgent(Box::new(info("S0"))), 0);
        h.started.recv().await.unwrap();
        // Never let the write through: the 20 s store timeout fires.
        let (_, result) = h.applied().await;
        assert!(
            matches!(result, Err(RegistryError::Timeout { .. })),
            "{result:?}"
        );
    }

    // A deposed leader (its version is stale) cannot write.
    #[tokio::test(start_paused = true)]
    async fn deposed_leader_write_is_a_version_mismatch() {
        let store = Arc::new(MemoryStore::new());
        let (tx, mut completions) = mpsc::unbounded_channel();
        let (first, _t1) = Registrar::<u32>::spawn(store.clone(), Default::default(), tx.clone());
        first.recover(master());
        assert!(matches!(
            completions.recv().await.unwrap(),
            Completion::Recovered(Ok(_))
        ));
        // A second leader recovers from the same store.
        let (second, _t2) = Registrar::<u32>::spawn(store.clone(), Default::default(), tx);
        second.recover(master());
        assert!(matches!(
            completions.recv().await.unwrap(),
            Completion::Recovered(Ok(_))
        ));
        first.apply(Operation::AdmitAgent(Box::new(info("S0"))), 1);
        match completions.recv().await.unwrap() {
            Completion::Applied { tag: 1, result } => {
                assert_eq!(result, Err(RegistryError::VersionMismatch))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
