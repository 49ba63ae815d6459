//! Test helpers: an in-process master on 127.0.0.1:0, a raw HTTP/1.1
//! client (plain and chunked/RecordIO streaming), and a fake agent that
//! speaks the libprocess protocol. Compiled for tests only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Message, Server, Transport, Upid};
use mesos_proto::mesos::v1::scheduler::Event;
use mesos_proto::recordio;
use prost::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::flags::Flags;
use crate::registry::store::{Fetched, StoreError, StoreFuture, Version};
use crate::registry::{MemoryStore, Store};
use crate::Running;

/// A registry store for fault tests: a memory store whose writes can be
/// held until released, or made to fail. `writes` counts store calls
/// begun, so tests wait on "the write is in flight" as a condition.
pub struct TestStore {
    inner: MemoryStore,
    hold: std::sync::atomic::AtomicBool,
    fail: std::sync::atomic::AtomicBool,
    permits: tokio::sync::Semaphore,
    writes: tokio::sync::watch::Sender<usize>,
    hold_fetch: std::sync::atomic::AtomicBool,
    fetch_permits: tokio::sync::Semaphore,
}

impl TestStore {
    /// A store holding `registry` (as a previous leader left it).
    pub async fn with(registry: &mesos_proto::mesos::internal::Registry) -> Arc<TestStore> {
        let store = Arc::new(TestStore {
            inner: MemoryStore::new(),
            hold: Default::default(),
            fail: Default::default(),
            permits: tokio::sync::Semaphore::new(0),
            writes: tokio::sync::watch::channel(0).0,
            hold_fetch: Default::default(),
            fetch_permits: tokio::sync::Semaphore::new(0),
        });
        let bytes = bytes::Bytes::from(prost::Message::encode_to_vec(registry));
        store
            .inner
            .store(bytes, Version::default())
            .await
            .expect("memory store");
        store
    }

    /// Writes from now on wait for [`TestStore::release`].
    pub fn hold_writes(&self) {
        self.hold.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Lets `n` held writes through.
    pub fn release(&self, n: usize) {
        self.permits.add_permits(n);
    }

    /// Fetches (registry recovery) from now on wait for
    /// [`TestStore::release_fetches`].
    pub fn hold_fetches(&self) {
        self.hold_fetch
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Lets `n` held fetches through.
    pub fn release_fetches(&self, n: usize) {
        self.fetch_permits.add_permits(n);
    }

    /// Writes from now on fail (a held one too, once released).
    pub fn fail_writes(&self) {
        self.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn writes(&self) -> usize {
        *self.writes.borrow()
    }

    /// Waits until `n` writes have begun.
    pub async fn wait_for_writes(&self, n: usize) {
        let mut writes = self.writes.subscribe();
        writes.wait_for(|w| *w >= n).await.expect("store alive");
    }

    /// The registry as last committed.
    pub async fn registry(&self) -> mesos_proto::mesos::internal::Registry {
        let fetched = self.inner.fetch().await.expect("memory store");
        prost::Message::decode(fetched.bytes.as_ref()).expect("registry decodes")
    }
}

impl Store for TestStore {
    fn fetch(&self) -> StoreFuture<'_, Fetched> {
        Box::pin(async move {
            if self.hold_fetch.load(std::sync::atomic::Ordering::SeqCst) {
                self.fetch_permits
                    .acquire()
                    .await
                    .map_err(|_| StoreError::new("closed"))?
                    .forget();
            }
            self.inner.fetch().await
        })
    }

    fn store(&self, bytes: bytes::Bytes, expected: Version) -> StoreFuture<'_, Option<Version>> {
        Box::pin(async move {
            self.writes.send_modify(|w| *w += 1);
            if self.hold.load(std::sync::atomic::Ordering::SeqCst) {
                self.permits
                    .acquire()
                    .await
                    .map_err(|_| StoreError::new("closed"))?
                    .forget();
            }
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::new("injected write failure"));
            }
            self.inner.store(bytes, expected).await
        })
    }

    fn describe(&self) -> String {
        "test store".into()
    }
}

/// Starts a master on 127.0.0.1 with an ephemeral port and fast allocation.
pub async fn start_master(extra: &[&str]) -> Running {
    start_master_with(extra, Arc::new(MemoryStore::new())).await
}

/// Like [`start_master`], over the given registry store.
pub async fn start_master_with(extra: &[&str], registry: Arc<dyn Store>) -> Running {
    let running = spawn_master(extra, registry).await;
    // Serve only once leading, as a real master does after recovery.
    running.handle.recover().await.expect("master recovers");
    let mut leadership = running.leadership.clone();
    leadership
        .wait_for(|l| *l == crate::http::Leadership::Leading)
        .await
        .expect("master leads");
    running
}

/// A started master that may still be recovering its registry.
pub async fn spawn_master(extra: &[&str], registry: Arc<dyn Store>) -> Running {
    let mut args = vec![
        "mesos-master".to_string(),
        "--ip=127.0.0.1".to_string(),
        "--port=0".to_string(),
        "--registry=in_memory".to_string(),
        "--allocation_interval=50ms".to_string(),
        "--hostname=localhost".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let flags = match Flags::load(args) {
        Ok(flags) => flags,
        Err(outcome) => panic!("bad test flags: {outcome:?}"),
    };
    crate::start_with_registry(flags, registry)
        .await
        .expect("master starts")
}

/// A complete (non-streaming) HTTP answer.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads the status line and headers; returns them and any body bytes
/// already read.
async fn read_head(stream: &mut TcpStream) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed before headers");
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let rest = buffer[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, headers, rest)
}

/// One request on a fresh connection; the whole answer.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpAnswer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut all_headers = headers.to_vec();
    all_headers.push(("Connection", "close"));
    stream
        .write_all(&request_bytes(method, path, &all_headers, body))
        .await
        .expect("write");
    let (status, headers, mut rest) = read_head(&mut stream).await;
    let mut remaining = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut remaining)).await;
    rest.extend_from_slice(&remaining);
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(&rest).0 } else { rest };
    HttpAnswer {
        status,
        headers,
        body,
    }
}

/// Decodes as many complete chunks as `data` holds; returns the payload and
/// the number of bytes consumed, plus whether the last chunk was seen.
fn dechunk(data: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_end) = data[at..].windows(2).position(|w| w == b"\r\n") else {
            return (out, at);
        };
        let size_text = String::from_utf8_lossy(&data[at..at + line_end]).into_owned();
        let Ok(size) = usize::from_str_radix(size_text.trim(), 16) else {
            return (out, at);
        };
        let start = at + line_end + 2;
        if size == 0 {
            return (out, data.len());
        }
        if data.len() < start + size + 2 {
            return (out, at);
        }
        out.extend_from_slice(&data[start..start + size]);
        at = start + size + 2;
    }
}

/// A SUBSCRIBE stream read incrementally.
pub struct Stream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    stream: TcpStream,
    raw: Vec<u8>,
    decoder: recordio::Decoder,
    pub json: bool,
}

impl Stream {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn stream_id(&self) -> String {
        self.header("Mesos-Stream-Id")
            .expect("stream id")
            .to_string()
    }

    /// The next event, or `None` when the stream ended or nothing came
    /// within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Ok(Some(record)) = self.decoder.next_record() {
                return Some(if self.json {
                    mesos_proto::json::decode::<Event>(&record).expect("JSON event")
                } else {
                    <Event as prost::Message>::decode(record.as_ref()).expect("protobuf event")
                });
            }
            let (payload, consumed) = dechunk(&self.raw);
            if consumed > 0 {
                self.decoder.feed(&payload);
                self.raw.drain(..consumed);
                continue;
            }
            let mut chunk = [0u8; 8192];
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await;
            match read {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.raw.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub async fn next(&mut self) -> Option<Event> {
        self.next_within(Duration::from_secs(10)).await
    }

    /// Skips heartbeats.
    pub async fn next_non_heartbeat(&mut self) -> Option<Event> {
        loop {
            let event = self.next().await?;
            if event.r#type
                != Some(mesos_proto::mesos::v1::scheduler::event::Type::Heartbeat as i32)
            {
                return Some(event);
            }
        }
    }
}

/// Opens a SUBSCRIBE stream with a JSON body.
pub async fn subscribe(addr: SocketAddr, body: &serde_json::Value) -> Stream {
    subscribe_raw(
        addr,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
        true,
    )
    .await
}

pub async fn subscribe_raw(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    body: &[u8],
    json: bool,
) -> Stream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(&request_bytes("POST", "/api/v1/scheduler", headers, body))
        .await
        .expect("write");
    let (status, headers, raw) = read_head(&mut stream).await;
    Stream {
        status,
        headers,
        stream,
        raw,
        decoder: recordio::Decoder::new(64 * 1024 * 1024),
        json,
    }
}

/// A JSON call with a stream id; the whole answer.
pub async fn call(
    addr: SocketAddr,
    stream_id: Option<&str>,
    body: &serde_json::Value,
) -> HttpAnswer {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(id) = stream_id {
        headers.push(("Mesos-Stream-Id", id));
    }
    http(
        addr,
        "POST",
        "/api/v1/scheduler",
        &headers,
        body.to_string().as_bytes(),
    )
    .await
}

/// A libprocess peer standing in for an agent: `slave(1)@127.0.0.1:<port>`.
pub struct FakeAgent {
    pub pid: Upid,
    pub transport: Transport,
    pub messages: mpsc::UnboundedReceiver<Message>,
    /// The server's processes, for helpers the peer runs (e.g. a v0
    /// authenticatee).
    pub processes: libprocess::Processes,
    /// The fake agent's server; abort it to make the agent vanish.
    #[allow(dead_code)]
    pub server: tokio::task::JoinHandle<()>,
}

impl FakeAgent {
    pub async fn start() -> FakeAgent {
        Self::start_as("slave(1)").await
    }

    /// A peer with another process id (e.g. a v0 scheduler driver).
    pub async fn start_as(id: &str) -> FakeAgent {
        Self::start_with_faults(id, &libprocess::Faults::new()).await
    }

    /// A peer whose outbound messages go through `faults` (drop, delay,
    /// partition rules the test changes while it runs).
    pub async fn start_with_faults(id: &str, faults: &libprocess::Faults) -> FakeAgent {
        let (tx, messages) = mpsc::unbounded_channel();
        let server = Server::builder(id)
            .messages(id, tx)
            .bind("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("fake peer binds");
        let pid = Upid::from_addr(id, server.local_addr());
        let processes = server.processes();
        let (transport, _exited) = Transport::with_faults(faults);
        FakeAgent {
            pid,
            transport,
            messages,
            processes,
            server: server.serve(),
        }
    }

    pub fn send<M: prost::Message + Name>(&self, to: &Upid, message: &M) {
        self.transport.send_message(&self.pid, to, message);
    }

    /// Authenticates this peer's pid with the master at `master` (v0
    /// CRAM-MD5, from an authenticatee process of the peer's server).
    pub async fn authenticate(
        &self,
        master: &Upid,
        principal: &str,
        secret: &str,
    ) -> mesos_authentication::authenticatee::ClientOutcome {
        let credential = mesos_authentication::Credential {
            principal: principal.to_string(),
            secret: secret.as_bytes().to_vec(),
        };
        tokio::time::timeout(
            Duration::from_secs(10),
            mesos_authentication::session::authenticate(
                &self.transport,
                &self.processes,
                self.pid.ip,
                self.pid.port,
                master,
                &self.pid,
                credential,
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("no authentication outcome within 10s"))
    }

    /// The next message named `M`, answering pings on the way unless
    /// `M` is the ping itself.
    pub async fn expect<M: prost::Message + Name + Default>(&mut self) -> (Upid, M) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let message = tokio::time::timeout_at(deadline, self.messages.recv())
                .await
                .unwrap_or_else(|_| panic!("no {} within 10s", M::full_name()))
                .expect("agent channel open");
            if message.name == M::full_name() {
                return (
                    message.from.clone(),
                    M::decode(message.body.as_ref()).expect("decodes"),
                );
            }
            if message.name == mesos_proto::mesos::internal::PingSlaveMessage::full_name() {
                self.transport.send(
                    &self.pid,
                    &message.from,
                    "mesos.internal.PongSlaveMessage",
                    Bytes::new(),
                );
            }
        }
    }
}
