//! Outbound libprocess messaging: one persistent connection per peer
//! address, links, and `exited` notifications (checklist §6, gotchas 3–7).
//!
//! Owns the outbound side only: a per-destination task that lazily connects,
//! writes upstream-framed message requests pipelined without waiting for
//! answers, reads and discards whatever the peer answers (so the peer never
//! blocks on a full socket buffer), and reports linked peers once when the
//! connection breaks. Never reads messages: inbound traffic arrives on our
//! own server, because libprocess connections are one-way.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::faults::{FaultFilter, Faults, FilterAction};
use crate::ssl::{self, Tls};
use crate::{message, Upid};

/// Decides whether to drop an outbound message: `filter(from, to, name)`
/// returning `true` drops it (like upstream's `process::Filter`). For
/// delays and partitions use [`Faults`] with [`Transport::with_faults`].
pub type MessageFilter = Arc<dyn Fn(&Upid, &Upid, &str) -> bool + Send + Sync>;

/// How long a connection attempt may take before the messages waiting on it
/// are dropped (and linked peers reported exited). Upstream relies on the
/// kernel's SYN timeout (minutes); a bound keeps a black-holed peer from
/// stalling a queue forever while staying well above normal RTTs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends libprocess messages. Cheap to clone; all clones share connections.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    peers: Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Command>>>,
    exited: mpsc::UnboundedSender<Upid>,
    filter: Option<FaultFilter>,
    /// How connections handshake: `Ok(None)` plaintext, `Err` a TLS
    /// environment that could not be loaded (every connection fails).
    tls: Result<Option<Arc<Tls>>, String>,
    /// Runtime to spawn peer tasks on when `send` is called off-runtime.
    runtime: Option<tokio::runtime::Handle>,
}

enum Command {
    Send(Bytes),
    Link(Upid),
    /// Write nothing queued after this before the instant (a delayed
    /// message follows it).
    Hold(tokio::time::Instant),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peers = self.inner.peers.lock().map(|p| p.len()).unwrap_or(0);
        f.debug_struct("Transport")
            .field("peers", &peers)
            .field("filtered", &self.inner.filter.is_some())
            .finish()
    }
}

impl Transport {
    /// A transport and the receiver of its `exited` events: each linked UPID
    /// whose connection broke (or could not be made) is reported once per
    /// `link` call.
    ///
    /// Connections use TLS when this process's `LIBPROCESS_SSL_*`
    /// environment enables it.
    pub fn new() -> (Transport, mpsc::UnboundedReceiver<Upid>) {
        Self::build(None, ssl::process_tls())
    }

    /// Like [`Transport::new`], with a filter that can drop messages.
    pub fn with_filter(filter: MessageFilter) -> (Transport, mpsc::UnboundedReceiver<Upid>) {
        let filter: FaultFilter = Arc::new(move |from, to, name| {
            if filter(from, to, name) {
                FilterAction::Drop
            } else {
                FilterAction::Deliver
            }
        });
        Self::build(Some(filter), ssl::process_tls())
    }

    /// Like [`Transport::new`], with messages dropped, delayed or
    /// partitioned as `faults` says at the moment each is sent.
    pub fn with_faults(faults: &Faults) -> (Transport, mpsc::UnboundedReceiver<Upid>) {
        Self::build(Some(faults.filter()), ssl::process_tls())
    }

    /// Like [`Transport::new`], handshaking with `tls` (plaintext with
    /// `None`) whatever the environment says.
    pub fn with_tls(tls: Option<Arc<Tls>>) -> (Transport, mpsc::UnboundedReceiver<Upid>) {
        Self::build(None, Ok(tls))
    }

    fn build(
        filter: Option<FaultFilter>,
        tls: Result<Option<Arc<Tls>>, String>,
    ) -> (Transport, mpsc::UnboundedReceiver<Upid>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Inner {
            peers: Mutex::new(HashMap::new()),
            exited: tx,
            filter,
            tls,
            runtime: tokio::runtime::Handle::try_current().ok(),
        };
        (
            Transport {
                inner: Arc::new(inner),
            },
            rx,
        )
    }

    /// Sends `body` as message `name` from `from` to `to`. Never blocks and
    /// never fails: like upstream, a message that cannot be delivered is
    /// dropped (a linked peer is then reported exited). Messages to one
    /// destination address are written in call order.
    pub fn send(&self, from: &Upid, to: &Upid, name: &str, body: Bytes) {
        let action = match &self.inner.filter {
            Some(filter) => filter(from, to, name),
            None => FilterAction::Deliver,
        };
        match action {
            FilterAction::Deliver => {}
            FilterAction::Drop => {
                tracing::debug!("filtered message {name} from {from} to {to}");
                return;
            }
            FilterAction::Delay(delay) => {
                tracing::debug!("delaying message {name} from {from} to {to} by {delay:?}");
                let until = tokio::time::Instant::now() + delay;
                self.dispatch(to.address(), Command::Hold(until));
            }
        }
        let bytes = message::encode(from, to, name, &body);
        self.dispatch(to.address(), Command::Send(bytes));
    }

    /// Encodes `msg` and sends it under its full protobuf type name.
    pub fn send_message<M: prost::Message + prost::Name>(&self, from: &Upid, to: &Upid, msg: &M) {
        self.send(from, to, &M::full_name(), Bytes::from(msg.encode_to_vec()));
    }

    /// Links to `to`: makes sure a connection to its address exists and,
    /// when that connection breaks (or cannot be made), reports `to` once on
    /// the exited receiver. Link again after reconnecting to keep watching.
    pub fn link(&self, to: &Upid) {
        self.dispatch(to.address(), Command::Link(to.clone()));
    }

    fn dispatch(&self, addr: SocketAddr, cmd: Command) {
        let Ok(mut peers) = self.inner.peers.lock() else {
            tracing::error!("transport peer table poisoned; dropping message to {addr}");
            return;
        };
        let cmd = match peers.get(&addr) {
            Some(tx) => match tx.send(cmd) {
                Ok(()) => return,
                // The peer task is gone (runtime shut down); start a new one.
                Err(mpsc::error::SendError(cmd)) => cmd,
            },
            None => cmd,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let task = run_peer(addr, rx, self.inner.exited.clone(), self.inner.tls.clone());
        let spawned = match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(task);
                true
            }
            Err(_) => match &self.inner.runtime {
                Some(handle) => {
                    handle.spawn(task);
                    true
                }
                None => false,
            },
        };
        if !spawned {
            tracing::error!("no tokio runtime to send to {addr}; message dropped");
            return;
        }
        // Cannot fail: the receiver was just moved into the task.
        let _ = tx.send(cmd);
        // Forget retired peer tasks while we hold the lock anyway.
        peers.retain(|_, tx| !tx.is_closed());
        peers.insert(addr, tx);
    }
}

/// An open outbound connection: the write half plus the task that drains
/// (and discards) the read half and finishes when the peer closes.
struct Connection {
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    reader: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn connect(
    addr: SocketAddr,
    tls: &Result<Option<Arc<Tls>>, String>,
) -> std::io::Result<Connection> {
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| timed_out())??;
    // Messages are small and latency matters more than packet count.
    stream.set_nodelay(true)?;
    let (read, writer): (
        Box<dyn AsyncRead + Send + Unpin>,
        Box<dyn AsyncWrite + Send + Unpin>,
    ) = match tls {
        Ok(None) => {
            let (read, write) = stream.into_split();
            (Box::new(read), Box::new(write))
        }
        Ok(Some(tls)) => {
            // Peers are addressed by IP (UPIDs carry no host names).
            let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
            let stream =
                tokio::time::timeout(CONNECT_TIMEOUT, tls.connector().connect(name, stream))
                    .await
                    .map_err(|_| timed_out())??;
            tls.verify_server(stream.get_ref().1, addr.ip(), None)
                .await
                .map_err(std::io::Error::other)?;
            let (read, write) = tokio::io::split(stream);
            (Box::new(read), Box::new(write))
        }
        Err(e) => return Err(std::io::Error::other(format!("TLS unavailable: {e}"))),
    };
    connection(read, writer)
}

fn connection(
    mut read: Box<dyn AsyncRead + Send + Unpin>,
    writer: Box<dyn AsyncWrite + Send + Unpin>,
) -> std::io::Result<Connection> {
    let reader = tokio::spawn(async move {
        // Answers (202s) are read and discarded; EOF or an error means the
        // connection broke.
        let mut buf = vec![0u8; 8192];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    Ok(Connection { writer, reader })
}

/// The UPIDs linked through one peer connection, in link order. The set
/// makes a repeated link O(1): a master links every agent behind one
/// address (simulated agents, agents sharing a host), so a scan of the
/// list would make registering N agents cost N².
#[derive(Default)]
struct Linked {
    order: Vec<Upid>,
    set: std::collections::HashSet<Upid>,
}

/// Reports every linked UPID once and forgets the links.
fn report_exited(linked: &mut Linked, exited: &mpsc::UnboundedSender<Upid>) {
    linked.set.clear();
    for upid in linked.order.drain(..) {
        tracing::debug!("link to {upid} broke; reporting exited");
        let _ = exited.send(upid);
    }
}

fn add_link(linked: &mut Linked, upid: Upid) {
    if linked.set.insert(upid.clone()) {
        linked.order.push(upid);
    }
}

/// The task owning the connection to one peer address.
async fn run_peer(
    addr: SocketAddr,
    mut commands: mpsc::UnboundedReceiver<Command>,
    exited: mpsc::UnboundedSender<Upid>,
    tls: Result<Option<Arc<Tls>>, String>,
) {
    let mut conn: Option<Connection> = None;
    let mut linked = Linked::default();
    let mut batch: Vec<u8> = Vec::new();
    // A hold met while batching: the batch before it is written first.
    let mut pending: Option<Command> = None;

    loop {
        if let Some(Command::Hold(until)) = pending.take() {
            tokio::time::sleep_until(until).await;
        }
        let cmd = match conn.as_mut() {
            Some(c) => tokio::select! {
                biased;
                _ = &mut c.reader => {
                    tracing::debug!("connection to {addr} closed by peer");
                    conn = None;
                    report_exited(&mut linked, &exited);
                    retire(&mut commands);
                    continue;
                }
                cmd = commands.recv() => cmd,
            },
            None => commands.recv().await,
        };
        // Every `Transport` clone is gone: close the connection and stop.
        let Some(cmd) = cmd else { return };
        if let Command::Hold(until) = cmd {
            tokio::time::sleep_until(until).await;
            continue;
        }

        if conn.is_none() {
            match connect(addr, &tls).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!("failed to connect to {addr}: {e}");
                    // Like upstream, everything queued on a failed connect is
                    // dropped and linked peers have exited.
                    if let Command::Link(upid) = cmd {
                        add_link(&mut linked, upid);
                    }
                    while let Ok(queued) = commands.try_recv() {
                        if let Command::Link(upid) = queued {
                            add_link(&mut linked, upid);
                        }
                    }
                    report_exited(&mut linked, &exited);
                    retire(&mut commands);
                    continue;
                }
            }
        }

        // Gather everything already queued into one write (pipelining).
        batch.clear();
        let mut next = Some(cmd);
        while let Some(cmd) = next {
            match cmd {
                Command::Send(bytes) => batch.extend_from_slice(&bytes),
                Command::Link(upid) => add_link(&mut linked, upid),
                hold @ Command::Hold(_) => {
                    pending = Some(hold);
                    break;
                }
            }
            if batch.len() >= 1 << 20 {
                break;
            }
            next = commands.try_recv().ok();
        }
        if batch.is_empty() {
            continue;
        }
        let Some(c) = conn.as_mut() else { continue };
        // TLS buffers records: flush so the batch leaves now.
        let written = match c.writer.write_all(&batch).await {
            Ok(()) => c.writer.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            tracing::debug!("failed to write to {addr}: {e}");
            conn = None;
            report_exited(&mut linked, &exited);
            retire(&mut commands);
        }
    }
}

/// Lets an idle peer task end once its connection is gone, so a long-lived
/// transport does not keep one task per address it ever talked to. Closing
/// makes later `send`s fail over to a fresh task (see `dispatch`); commands
/// already queued are still processed before `recv` yields `None`.
fn retire(commands: &mut mpsc::UnboundedReceiver<Command>) {
    commands.close();
}

/// Writes `bytes` (framed messages) on a connection of its own, blocking,
/// and waits (within `timeout` per step) for the peer's first answer bytes,
/// so a last message is not lost when the caller exits right after. Uses
/// TLS as this process's `LIBPROCESS_SSL_*` environment says, like
/// [`Transport`].
pub fn send_blocking(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> std::io::Result<()> {
    let tls =
        ssl::process_tls().map_err(|e| std::io::Error::other(format!("TLS unavailable: {e}")))?;
    send_blocking_with(tls.as_deref(), addr, bytes, timeout)
}

/// [`send_blocking`] with `tls` (plaintext with `None`) whatever the
/// environment says.
pub fn send_blocking_with(
    tls: Option<&Tls>,
    addr: SocketAddr,
    bytes: &[u8],
    timeout: Duration,
) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_read_timeout(Some(timeout))?;
    let mut answer = [0u8; 64];
    match tls {
        None => {
            let mut stream = stream;
            stream.write_all(bytes)?;
            let _ = stream.read(&mut answer)?;
        }
        Some(tls) => {
            let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
            let connection = rustls::ClientConnection::new(tls.client_config(), name)
                .map_err(std::io::Error::other)?;
            let mut stream = rustls::StreamOwned::new(connection, stream);
            // The handshake first, so whose certificate it is can be
            // checked before anything is sent.
            while stream.conn.is_handshaking() {
                stream.conn.complete_io(&mut stream.sock)?;
            }
            tls.verify_server_blocking(&stream.conn, addr.ip())
                .map_err(std::io::Error::other)?;
            stream.write_all(bytes)?;
            stream.flush()?;
            let _ = stream.read(&mut answer)?;
        }
    }
    Ok(())
}
