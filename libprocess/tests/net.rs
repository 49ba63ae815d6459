//! End-to-end tests over real sockets on 127.0.0.1: message round trips,
//! pipelining, links/exited, routing status codes, gzip and streaming.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use libprocess::http::{response, StatusCode};
use libprocess::{handler, Body, Message, RequestExt, Server, Transport, Upid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A server with one message-receiving process `id` (also the delegate).
async fn message_server(
    id: &str,
) -> (
    Upid,
    mpsc::UnboundedReceiver<Message>,
    tokio::task::JoinHandle<()>,
) {
    message_server_at(id, localhost()).await
}

async fn message_server_at(
    id: &str,
    addr: SocketAddr,
) -> (
    Upid,
    mpsc::UnboundedReceiver<Message>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = Server::builder(id)
        .messages(id, tx)
        .bind(addr)
        .await
        .unwrap();
    let upid = Upid::from_addr(id, server.local_addr());
    (upid, rx, server.serve())
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<Message>) -> Message {
    timeout(WAIT, rx.recv())
        .await
        .expect("timed out")
        .expect("closed")
}

#[tokio::test]
async fn message_round_trip_between_two_servers() {
    let (master, mut master_rx, _m) = message_server("master").await;
    let (slave, mut slave_rx, _s) = message_server("slave(1)").await;
    let (master_transport, _mx) = Transport::new();
    let (slave_transport, _sx) = Transport::new();

    // Chunked body.
    let body = Bytes::from_static(b"\x0a\x03abc\x12\x00binary\r\n0\r\n\r\n");
    slave_transport.send(
        &slave,
        &master,
        "mesos.internal.RegisterSlaveMessage",
        body.clone(),
    );
    let m = recv(&mut master_rx).await;
    assert_eq!(m.from, slave);
    assert_eq!(m.to, "master");
    assert_eq!(m.name, "mesos.internal.RegisterSlaveMessage");
    assert_eq!(m.body, body);

    // The answer travels over the master's own outbound connection.
    master_transport.send(
        &master,
        &m.from,
        "mesos.internal.PingSlaveMessage",
        Bytes::new(),
    );
    let m = recv(&mut slave_rx).await;
    assert_eq!(m.from, master);
    assert_eq!(m.to, "slave(1)");
    assert_eq!(m.name, "mesos.internal.PingSlaveMessage");
    assert!(m.body.is_empty());

    // Empty body (no Transfer-Encoding) back to the master.
    slave_transport.send(
        &slave,
        &master,
        "mesos.internal.PongSlaveMessage",
        Bytes::new(),
    );
    let m = recv(&mut master_rx).await;
    assert_eq!(m.name, "mesos.internal.PongSlaveMessage");
    assert!(m.body.is_empty());
}

#[tokio::test]
async fn send_message_uses_the_protobuf_full_name() {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Ping {
        #[prost(string, tag = "1")]
        text: String,
    }
    impl prost::Name for Ping {
        const NAME: &'static str = "Ping";
        const PACKAGE: &'static str = "test.pkg";
    }
    let (to, mut rx, _s) = message_server("p").await;
    let (t, _x) = Transport::new();
    let from: Upid = "sender@127.0.0.1:1".parse().unwrap();
    t.send_message(&from, &to, &Ping { text: "hi".into() });
    let m = recv(&mut rx).await;
    assert_eq!(m.name, "test.pkg.Ping");
    let decoded: Ping = prost::Message::decode(m.body).unwrap();
    assert_eq!(decoded.text, "hi");
}

#[tokio::test]
async fn thousand_messages_arrive_in_order() {
    let (to, mut rx, _s) = message_server("sink").await;
    let (t, _x) = Transport::new();
    let from: Upid = "src@127.0.0.1:9".parse().unwrap();
    for i in 0..1000u32 {
        // Mix empty and chunked bodies.
        let body = if i % 7 == 0 {
            Bytes::new()
        } else {
            Bytes::from(i.to_string())
        };
        t.send(&from, &to, &format!("m{i}"), body);
    }
    for i in 0..1000u32 {
        let m = recv(&mut rx).await;
        assert_eq!(m.name, format!("m{i}"));
        if i % 7 != 0 {
            assert_eq!(m.body, Bytes::from(i.to_string()));
        }
    }
}

#[tokio::test]
async fn filter_drops_messages() {
    let (to, mut rx, _s) = message_server("p").await;
    let (t, _x) = Transport::with_filter(Arc::new(|_, _, name| name == "drop.me"));
    let from: Upid = "src@127.0.0.1:9".parse().unwrap();
    t.send(&from, &to, "drop.me", Bytes::from_static(b"x"));
    t.send(&from, &to, "keep.me", Bytes::from_static(b"y"));
    assert_eq!(recv(&mut rx).await.name, "keep.me");
}

// A slow link: the delayed message arrives after its delay and the ones
// sent after it wait behind it, so per-peer order holds.
#[tokio::test]
async fn delayed_message_keeps_its_place_in_the_peers_order() {
    let (to, mut rx, _s) = message_server("p").await;
    let faults = libprocess::Faults::new();
    faults.delay_messages("slow", Duration::from_millis(300));
    let (t, _x) = Transport::with_faults(&faults);
    let from: Upid = "src@127.0.0.1:9".parse().unwrap();
    let sent = std::time::Instant::now();
    t.send(&from, &to, "first", Bytes::new());
    t.send(&from, &to, "slow", Bytes::new());
    t.send(&from, &to, "after", Bytes::new());
    assert_eq!(recv(&mut rx).await.name, "first");
    assert_eq!(recv(&mut rx).await.name, "slow");
    assert!(sent.elapsed() >= Duration::from_millis(300));
    assert_eq!(recv(&mut rx).await.name, "after");
}

// A partition drops both ways until healed; then messages flow again.
#[tokio::test]
async fn partition_drops_until_healed() {
    let (to, mut rx, _s) = message_server("p").await;
    let faults = libprocess::Faults::new();
    let from: Upid = "src@127.0.0.1:9".parse().unwrap();
    faults.partition(from.address(), to.address());
    let (t, _x) = Transport::with_faults(&faults);
    t.send(&from, &to, "lost", Bytes::new());
    faults.heal();
    t.send(&from, &to, "delivered", Bytes::new());
    assert_eq!(recv(&mut rx).await.name, "delivered");
}

/// A minimal raw HTTP/1.1 client, so tests see exact framing.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        Raw {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = timeout(WAIT, self.stream.read(&mut chunk))
            .await
            .expect("read timed out")
            .unwrap();
        assert!(n > 0, "unexpected EOF");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8(self.buf[..i].to_vec()).unwrap();
                self.buf.drain(..i + 2);
                return line;
            }
            self.fill().await;
        }
    }

    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill().await;
        }
        self.buf.drain(..n).collect()
    }

    async fn head(&mut self) -> (u16, Vec<(String, String)>) {
        let status_line = self.line().await;
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                return (status, headers);
            }
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }

    /// The next chunk of a chunked body; `None` at the last-chunk.
    async fn chunk(&mut self) -> Option<Vec<u8>> {
        let size = usize::from_str_radix(self.line().await.trim(), 16).unwrap();
        if size == 0 {
            assert_eq!(self.line().await, "");
            return None;
        }
        let data = self.take(size).await;
        assert_eq!(self.take(2).await, b"\r\n");
        Some(data)
    }

    async fn response(&mut self) -> RawResponse {
        let (status, headers) = self.head().await;
        let mut r = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if let Some(len) = r.header("content-length") {
            let len: usize = len.parse().unwrap();
            r.body = self.take(len).await;
        } else if r.header("transfer-encoding") == Some("chunked") {
            while let Some(c) = self.chunk().await {
                r.body.extend_from_slice(&c);
            }
        }
        r
    }

    async fn request(&mut self, bytes: &[u8]) -> RawResponse {
        self.write(bytes).await;
        self.response().await
    }
}

fn get(path: &str, extra_headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra_headers}\r\n").into_bytes()
}

#[tokio::test]
async fn raw_message_requests_and_status_codes() {
    let (to, mut rx, _s) = message_server("slave(1)").await;
    let mut c = Raw::connect(to.address()).await;

    // A peer identifying itself only through `User-Agent: libprocess/`
    // (upstream's own test): delivered with the empty sender.
    let r = c
        .request(b"POST /slave(1)/handler HTTP/1.1\r\nUser-Agent: libprocess/\r\nContent-Length: 11\r\n\r\nhello world")
        .await;
    assert_eq!(r.status, 202);
    let m = recv(&mut rx).await;
    assert!(m.from.is_empty());
    assert_eq!(m.name, "handler");
    assert_eq!(&m.body[..], b"hello world");

    // User-Agent with a real pid.
    let r = c
        .request(
            b"POST /slave(1)/x.Y HTTP/1.1\r\nUser-Agent: libprocess/master@10.0.0.1:5050\r\n\r\n",
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(recv(&mut rx).await.from.to_string(), "master@10.0.0.1:5050");

    // Percent-encoded receiver, trimmed Libprocess-From, chunked in two.
    let r = c
        .request(
            b"POST /slave%281%29/a.B HTTP/1.1\r\nLibprocess-From:   m@1.2.3.4:5  \r\n\
Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .await;
    assert_eq!(r.status, 202);
    let m = recv(&mut rx).await;
    assert_eq!(m.from.to_string(), "m@1.2.3.4:5");
    assert_eq!(m.to, "slave(1)");
    assert_eq!(&m.body[..], b"abcde");

    // Unknown receiver: 404, nothing delivered.
    let r = c
        .request(b"POST /nobody/a.B HTTP/1.1\r\nLibprocess-From: m@1.2.3.4:5\r\n\r\n")
        .await;
    assert_eq!(r.status, 404);

    // Libprocess-From on a GET is not a message (and no route: 404).
    let r = c
        .request(b"GET /slave(1)/a.B HTTP/1.1\r\nLibprocess-From: m@1.2.3.4:5\r\n\r\n")
        .await;
    assert_eq!(r.status, 404);

    // Pipelined: three messages in one write, three answers in order.
    c.write(
        b"POST /slave(1)/one HTTP/1.1\r\nLibprocess-From: m@1.2.3.4:5\r\n\r\n\
POST /nobody/two HTTP/1.1\r\nLibprocess-From: m@1.2.3.4:5\r\n\r\n\
POST /slave(1)/three HTTP/1.1\r\nLibprocess-From: m@1.2.3.4:5\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(c.response().await.status, 202);
    assert_eq!(c.response().await.status, 404);
    assert_eq!(c.response().await.status, 202);
    assert_eq!(recv(&mut rx).await.name, "one");
    let m = recv(&mut rx).await;
    assert_eq!(m.name, "three");
    assert_eq!(&m.body[..], b"z");
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn transport_writes_upstream_framing() {
    // A fake peer that records the raw bytes the transport writes.
    let listener = tokio::net::TcpListener::bind(localhost()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (t, _x) = Transport::new();
    let from: Upid = "scheduler-1@127.0.0.1:4000".parse().unwrap();
    let to = Upid::from_addr("master", addr);
    t.send(
        &from,
        &to,
        "mesos.scheduler.Call",
        Bytes::from_static(b"0123456789abcdefg"),
    );
    t.send(&from, &to, "mesos.internal.Empty", Bytes::new());
    let (mut s, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let expected = format!(
        "POST /master/mesos.scheduler.Call HTTP/1.1\r\n\
User-Agent: libprocess/scheduler-1@127.0.0.1:4000\r\n\
Libprocess-From: scheduler-1@127.0.0.1:4000\r\n\
Connection: Keep-Alive\r\nHost: {addr}\r\n\
Transfer-Encoding: chunked\r\n\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n\
POST /master/mesos.internal.Empty HTTP/1.1\r\n\
User-Agent: libprocess/scheduler-1@127.0.0.1:4000\r\n\
Libprocess-From: scheduler-1@127.0.0.1:4000\r\n\
Connection: Keep-Alive\r\nHost: {addr}\r\n\r\n"
    );
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let mut buf = [0u8; 1024];
        let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(String::from_utf8(got).unwrap(), expected);
}

#[tokio::test]
async fn transport_discards_answers_so_the_peer_never_blocks() {
    // A peer that answers every message with a large body: if the transport
    // did not drain its socket, both sides' buffers would fill and later
    // messages would never arrive.
    let listener = tokio::net::TcpListener::bind(localhost()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (t, _x) = Transport::new();
    let from: Upid = "a@127.0.0.1:1".parse().unwrap();
    let to = Upid::from_addr("b", addr);
    for _ in 0..200 {
        t.send(&from, &to, "n", Bytes::new());
    }
    let (mut s, _) = listener.accept().await.unwrap();
    let answer = vec![b'x'; 64 * 1024];
    let mut seen = 0usize;
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 8192];
    while seen < 200 {
        let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        pending.extend_from_slice(&buf[..n]);
        while let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..i + 4);
            seen += 1;
            timeout(WAIT, s.write_all(&answer)).await.unwrap().unwrap();
        }
    }
}

#[tokio::test]
async fn link_reports_exited_once_when_the_peer_goes_away() {
    let (peer, mut peer_rx, peer_server) = message_server("slave(1)").await;
    let (t, mut exited) = Transport::new();
    let me: Upid = "master@127.0.0.1:5050".parse().unwrap();
    t.link(&peer);
    t.link(&peer); // linking twice still reports once
    t.send(&me, &peer, "hello", Bytes::from_static(b"1"));
    assert_eq!(recv(&mut peer_rx).await.name, "hello");

    peer_server.abort();
    let gone = timeout(WAIT, exited.recv()).await.unwrap().unwrap();
    assert_eq!(gone, peer);
    assert!(
        timeout(Duration::from_millis(500), exited.recv())
            .await
            .is_err(),
        "exited reported more than once"
    );

    // The next send reconnects (here to a new server on the same port).
    drop(peer_rx);
    let (peer2, mut peer2_rx, _s2) = message_server_at("slave(1)", peer.address()).await;
    assert_eq!(peer2, peer);
    t.send(&me, &peer, "again", Bytes::new());
    assert_eq!(recv(&mut peer2_rx).await.name, "again");
    // Not linked any more: no exited for that connection's sends.
    assert!(exited.try_recv().is_err());
}

#[tokio::test]
async fn link_to_unreachable_peer_reports_exited() {
    // Grab a free port and close it again.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (t, mut exited) = Transport::new();
    let ghost = Upid::from_addr("slave(1)", addr);
    let other = Upid::from_addr("executor(1)", addr);
    t.send(
        &"m@127.0.0.1:1".parse().unwrap(),
        &ghost,
        "dropped",
        Bytes::new(),
    );
    t.link(&ghost);
    t.link(&other);
    let mut got = vec![
        timeout(WAIT, exited.recv()).await.unwrap().unwrap(),
        timeout(WAIT, exited.recv()).await.unwrap().unwrap(),
    ];
    got.sort();
    let mut want = vec![ghost, other];
    want.sort();
    assert_eq!(got, want);
    assert!(timeout(Duration::from_millis(300), exited.recv())
        .await
        .is_err());
}

/// An HTTP server: delegate `master` with a few routes, plus `metrics`.
async fn http_server() -> (
    SocketAddr,
    tokio::task::JoinHandle<()>,
    libprocess::Processes,
) {
    let info = handler(|req| async move {
        let body = format!(
            "{}|{}|{}|{:?}|{}|{}",
            req.process_id(),
            req.route(),
            req.remaining_path(),
            req.query_params(),
            req.peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            String::from_utf8_lossy(req.body()),
        );
        response(StatusCode::OK, body)
    });
    let (msg_tx, _msg_rx) = mpsc::unbounded_channel();
    let server = Server::builder("master")
        .route("master", "/state", info.clone())
        .route("master", "/api/v1/scheduler", info.clone())
        .route("master", "/api/v1", info.clone())
        .route("metrics", "/snapshot", info.clone())
        .route(
            "master",
            "/big",
            handler(|_| async { response(StatusCode::OK, "y".repeat(5000)) }),
        )
        .route(
            "master",
            "/panic",
            handler(|_| async {
                panic!("boom");
            }),
        )
        .messages("scheduler-1", msg_tx)
        .max_body_size(1000)
        .bind(localhost())
        .await
        .unwrap();
    let addr = server.local_addr();
    let processes = server.processes();
    (addr, server.serve(), processes)
}

#[tokio::test]
async fn http_routing_and_status_codes() {
    let (addr, _s, processes) = http_server().await;
    let mut c = Raw::connect(addr).await;

    let r = c.request(&get("/master/state", "")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "master|/state||[]|127.0.0.1|"
    );
    // Delegation and trailing slash.
    let r = c.request(&get("/state/", "")).await;
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "master|/state||[]|127.0.0.1|"
    );
    // Longest prefix, remaining path, query.
    let r = c.request(&get("/api/v1/scheduler/x/y?a=1&b=%2F", "")).await;
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        r#"master|/api/v1/scheduler|/x/y|[("a", "1"), ("b", "/")]|127.0.0.1|"#
    );
    let r = c.request(&get("/master/api/v1/other", "")).await;
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "master|/api/v1|/other|[]|127.0.0.1|"
    );
    let r = c.request(&get("/metrics/snapshot", "")).await;
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "metrics|/snapshot||[]|127.0.0.1|"
    );
    // POST body reaches the handler (not a message: no libprocess headers).
    let r = c
        .request(
            b"POST /master/api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody",
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8(r.body).unwrap().ends_with("|body"));

    for path in [
        "/",
        "/nope",
        "/master/nope",
        "/master/../state",
        "/metrics",
        "/scheduler-1/x",
    ] {
        let r = c.request(&get(path, "")).await;
        assert_eq!(r.status, 404, "{path}");
    }

    // 413 over the body limit.
    let big = format!(
        "POST /master/state HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n{}",
        "z".repeat(1001)
    );
    let mut c2 = Raw::connect(addr).await;
    assert_eq!(c2.request(big.as_bytes()).await.status, 413);

    // A panicking handler gives 500 and the server keeps serving.
    let mut c3 = Raw::connect(addr).await;
    assert_eq!(c3.request(&get("/master/panic", "")).await.status, 500);
    let mut c4 = Raw::connect(addr).await;
    assert_eq!(c4.request(&get("/master/state", "")).await.status, 200);

    // Processes added at run time are routed, and then known (no delegation).
    processes.add_route(
        "files",
        "/read",
        handler(|_| async { response(StatusCode::OK, "files") }),
    );
    let r = c4.request(&get("/files/read", "")).await;
    assert_eq!(String::from_utf8(r.body).unwrap(), "files");
    processes.remove("files");
    assert_eq!(c4.request(&get("/files/read", "")).await.status, 404);

    // Messages to a process added at run time.
    let (tx, mut rx) = mpsc::unbounded_channel();
    processes.add_messages("slave-observer(1)", tx);
    let r = c4
        .request(b"POST /slave-observer(1)/mesos.internal.PongSlaveMessage HTTP/1.1\r\nLibprocess-From: slave(1)@127.0.0.1:5051\r\n\r\n")
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(recv(&mut rx).await.name, "mesos.internal.PongSlaveMessage");
    // A dropped receiver means the process is gone.
    drop(rx);
    let r = c4
        .request(b"POST /slave-observer(1)/x HTTP/1.1\r\nLibprocess-From: slave(1)@127.0.0.1:5051\r\n\r\n")
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn gzip_for_large_bodies_only_when_accepted() {
    let (addr, _s, _p) = http_server().await;
    let mut c = Raw::connect(addr).await;

    let r = c
        .request(&get("/master/big", "Accept-Encoding: gzip\r\n"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, "y".repeat(5000));

    let r = c.request(&get("/master/big", "")).await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body.len(), 5000);

    // Small bodies stay plain.
    let r = c
        .request(&get("/master/state", "Accept-Encoding: gzip\r\n"))
        .await;
    assert_eq!(r.header("content-encoding"), None);
}

type Slot = Arc<Mutex<Option<mpsc::Sender<Bytes>>>>;

async fn streaming_server() -> (
    SocketAddr,
    Slot,
    mpsc::UnboundedReceiver<()>,
    tokio::task::JoinHandle<()>,
) {
    let slot: Slot = Arc::new(Mutex::new(None));
    let (started_tx, started_rx) = mpsc::unbounded_channel();
    let s = slot.clone();
    let server = Server::builder("master")
        .route(
            "master",
            "/api/v1/scheduler",
            handler(move |_| {
                let s = s.clone();
                let started = started_tx.clone();
                async move {
                    let (tx, rx) = mpsc::channel(16);
                    *s.lock().unwrap() = Some(tx);
                    let _ = started.send(());
                    let mut r = response(StatusCode::OK, Body::stream(rx));
                    r.headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    r
                }
            }),
        )
        .bind(localhost())
        .await
        .unwrap();
    let addr = server.local_addr();
    (addr, slot, started_rx, server.serve())
}

#[tokio::test]
async fn streaming_body_is_chunked_and_never_compressed() {
    let (addr, slot, mut started, _s) = streaming_server().await;
    let mut c = Raw::connect(addr).await;
    c.write(&get("/api/v1/scheduler", "Accept-Encoding: gzip\r\n"))
        .await;
    timeout(WAIT, started.recv()).await.unwrap().unwrap();
    let tx = slot.lock().unwrap().take().unwrap();
    let big = Bytes::from(vec![b'r'; 4096]);
    tx.send(Bytes::from_static(b"20\n{\"type\":\"SUBSCRIBED\"}"))
        .await
        .unwrap();
    let (status, headers) = c.head().await;
    assert_eq!(status, 200);
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(h("transfer-encoding").as_deref(), Some("chunked"));
    assert_eq!(h("content-length"), None);
    assert_eq!(h("content-encoding"), None);
    assert_eq!(h("content-type").as_deref(), Some("application/json"));
    assert_eq!(c.chunk().await.unwrap(), b"20\n{\"type\":\"SUBSCRIBED\"}");
    tx.send(big.clone()).await.unwrap();
    let mut got = Vec::new();
    while got.len() < big.len() {
        got.extend(c.chunk().await.unwrap());
    }
    assert_eq!(got, big);
    drop(tx);
    assert_eq!(c.chunk().await, None);
    // The connection stays usable after the stream ends.
    c.write(&get("/nope", "")).await;
    assert_eq!(c.response().await.status, 404);
}

#[tokio::test]
async fn closing_a_streaming_client_resolves_sender_closed() {
    let (addr, slot, mut started, _s) = streaming_server().await;
    let mut c = Raw::connect(addr).await;
    // Like a SUBSCRIBE call: a POST with a body.
    c.write(
        b"POST /master/api/v1/scheduler HTTP/1.1\r\nHost: x\r\n\
Content-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"type\":\"SUBSCRIBE\"}",
    )
    .await;
    timeout(WAIT, started.recv()).await.unwrap().unwrap();
    let tx = slot.lock().unwrap().take().unwrap();
    tx.send(Bytes::from_static(b"hello")).await.unwrap();
    let (status, _) = c.head().await;
    assert_eq!(status, 200);
    assert_eq!(c.chunk().await.unwrap(), b"hello");

    // Nothing is being written when the client goes away.
    drop(c);
    let start = std::time::Instant::now();
    timeout(Duration::from_secs(1), tx.closed())
        .await
        .expect("stream sender not closed within 1s of the client disconnecting");
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(tx.send(Bytes::from_static(b"late")).await.is_err());
}

/// A `Body::source` fed by a channel: everything ready goes out joined.
struct Joined {
    rx: mpsc::UnboundedReceiver<Bytes>,
    /// Dropped with the source: tells the test the body was dropped.
    _gone: tokio::sync::oneshot::Sender<()>,
}

impl libprocess::ChunkSource for Joined {
    fn poll_chunk(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Bytes>> {
        use std::task::Poll;
        let mut out = Vec::new();
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => out.extend_from_slice(&chunk),
                Poll::Ready(None) if out.is_empty() => return Poll::Ready(None),
                Poll::Ready(None) | Poll::Pending if !out.is_empty() => {
                    return Poll::Ready(Some(Bytes::from(out)))
                }
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

type SourceSlot = Arc<
    Mutex<
        Option<(
            mpsc::UnboundedSender<Bytes>,
            tokio::sync::oneshot::Receiver<()>,
        )>,
    >,
>;

async fn source_server() -> (SocketAddr, SourceSlot, tokio::task::JoinHandle<()>) {
    let slot: SourceSlot = Arc::new(Mutex::new(None));
    let s = slot.clone();
    let server = Server::builder("master")
        .route(
            "master",
            "/api/v1",
            handler(move |_| {
                let s = s.clone();
                async move {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let (gone_tx, gone_rx) = tokio::sync::oneshot::channel();
                    // Ready before the answer's head is even written.
                    tx.send(Bytes::from_static(b"first;")).unwrap();
                    tx.send(Bytes::from_static(b"second;")).unwrap();
                    *s.lock().unwrap() = Some((tx, gone_rx));
                    response(StatusCode::OK, Body::source(Joined { rx, _gone: gone_tx }))
                }
            }),
        )
        .bind(localhost())
        .await
        .unwrap();
    let addr = server.local_addr();
    (addr, slot, server.serve())
}

#[tokio::test]
async fn a_source_body_writes_what_is_ready_in_one_chunk() {
    let (addr, slot, _s) = source_server().await;
    let mut c = Raw::connect(addr).await;
    c.write(&get("/api/v1", "Accept-Encoding: gzip\r\n")).await;
    let (status, headers) = c.head().await;
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked"));
    assert!(!headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-encoding")));
    assert_eq!(c.chunk().await.unwrap(), b"first;second;");
    let (tx, _gone) = slot.lock().unwrap().take().unwrap();
    tx.send(Bytes::from_static(b"third")).unwrap();
    assert_eq!(c.chunk().await.unwrap(), b"third");
    // The source ending ends the stream; the connection stays usable.
    drop(tx);
    assert_eq!(c.chunk().await, None);
    c.write(&get("/nope", "")).await;
    assert_eq!(c.response().await.status, 404);
}

#[tokio::test]
async fn a_source_body_is_dropped_when_its_client_goes_away() {
    let (addr, slot, _s) = source_server().await;
    let mut c = Raw::connect(addr).await;
    c.write(&get("/api/v1", "")).await;
    assert_eq!(c.head().await.0, 200);
    assert_eq!(c.chunk().await.unwrap(), b"first;second;");
    let (_tx, gone) = slot.lock().unwrap().take().unwrap();
    drop(c);
    timeout(WAIT, gone)
        .await
        .expect("the source outlived its client")
        .unwrap_err();
}

/// A source with more to write than any socket buffer holds, which can be
/// cut through its abort signal.
struct Flood {
    cut: Option<tokio::sync::oneshot::Receiver<()>>,
    _gone: tokio::sync::oneshot::Sender<()>,
}

impl libprocess::ChunkSource for Flood {
    fn poll_chunk(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Bytes>> {
        std::task::Poll::Ready(Some(Bytes::from(vec![b'f'; 64 * 1024])))
    }

    fn take_abort(&mut self) -> Option<libprocess::Abort> {
        let cut = self.cut.take()?;
        Some(Box::pin(async move {
            let _ = cut.await;
        }))
    }
}

// A client that stopped reading blocks every write, so its stream is never
// polled again; the producer's abort signal still closes the connection.
#[tokio::test]
async fn an_aborted_source_closes_a_connection_whose_client_stopped_reading() {
    type Ends = (
        tokio::sync::oneshot::Sender<()>,
        tokio::sync::oneshot::Receiver<()>,
    );
    let slot: Arc<Mutex<Option<Ends>>> = Arc::new(Mutex::new(None));
    let s = slot.clone();
    let server = Server::builder("master")
        .route(
            "master",
            "/api/v1",
            handler(move |_| {
                let s = s.clone();
                async move {
                    let (cut_tx, cut) = tokio::sync::oneshot::channel();
                    let (gone_tx, gone) = tokio::sync::oneshot::channel();
                    *s.lock().unwrap() = Some((cut_tx, gone));
                    response(
                        StatusCode::OK,
                        Body::source(Flood {
                            cut: Some(cut),
                            _gone: gone_tx,
                        }),
                    )
                }
            }),
        )
        .bind(localhost())
        .await
        .unwrap();
    let addr = server.local_addr();
    let _s = server.serve();
    let mut c = Raw::connect(addr).await;
    c.write(&get("/api/v1", "")).await;
    assert_eq!(c.head().await.0, 200);
    let (cut, mut gone) = loop {
        if let Some(ends) = slot.lock().unwrap().take() {
            break ends;
        }
        tokio::task::yield_now().await;
    };
    // The client reads nothing more: the server fills the socket and
    // blocks. The stream lives on until it is cut.
    assert!(timeout(Duration::from_millis(200), &mut gone)
        .await
        .is_err());
    drop(cut);
    timeout(WAIT, gone)
        .await
        .expect("the connection outlived the abort")
        .unwrap_err();
    // The client sees the connection end (after what was buffered).
    let mut sink = vec![0u8; 1 << 20];
    let ended = timeout(WAIT, async {
        loop {
            match c.stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the client never saw the connection close");
}

#[tokio::test]
async fn a_half_closed_client_still_gets_its_whole_answer() {
    let server = Server::builder("slave(1)")
        .route(
            "slave(1)",
            "/slow",
            handler(|_| async {
                // Answered well after the client closed its sending side.
                tokio::time::sleep(Duration::from_millis(200)).await;
                response(StatusCode::OK, Body::full(vec![b'x'; 100_000]))
            }),
        )
        .route(
            "slave(1)",
            "/file",
            handler(|_| async {
                let (tx, rx) = mpsc::channel(4);
                tokio::spawn(async move {
                    for _ in 0..10 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        if tx.send(Bytes::from(vec![b'y'; 10_000])).await.is_err() {
                            return;
                        }
                    }
                });
                response(StatusCode::OK, Body::finite_stream(rx))
            }),
        )
        .bind(localhost())
        .await
        .unwrap();
    let addr = server.local_addr();
    let _s = server.serve();
    for (path, byte) in [("/slave(1)/slow", b'x'), ("/slave(1)/file", b'y')] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        stream.shutdown().await.unwrap();
        let mut answer = Vec::new();
        timeout(WAIT, stream.read_to_end(&mut answer))
            .await
            .expect("the connection closes after the answer")
            .unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 200"), "{path}: {text:.200}");
        let head_end = text.find("\r\n\r\n").expect("a whole head") + 4;
        let body = answer[head_end..].iter().filter(|b| **b == byte).count();
        assert_eq!(body, 100_000, "{path}: the whole body arrives");
    }
}

#[tokio::test]
async fn a_new_client_at_the_cap_sheds_the_longest_idle_connection() {
    let server = Server::builder("master")
        .route(
            "master",
            "/health",
            handler(|_| async { response(StatusCode::OK, Body::empty()) }),
        )
        .max_connections(2)
        .bind(localhost())
        .await
        .unwrap();
    let addr = server.local_addr();
    let _s = server.serve();

    let mut oldest = Raw::connect(addr).await;
    assert_eq!(oldest.request(&get("/health", "")).await.status, 200);
    let mut younger = Raw::connect(addr).await;
    assert_eq!(younger.request(&get("/health", "")).await.status, 200);

    // A third client is served at once; the oldest idle one is closed.
    let mut third = Raw::connect(addr).await;
    assert_eq!(third.request(&get("/health", "")).await.status, 200);
    let mut buf = [0u8; 64];
    let read = timeout(WAIT, oldest.stream.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "oldest not shed: {read:?}"
    );
    assert_eq!(younger.request(&get("/health", "")).await.status, 200);
}

#[tokio::test]
async fn a_stalled_request_head_is_closed_after_the_header_timeout() {
    let server = Server::builder("master")
        .route(
            "master",
            "/health",
            handler(|_| async { response(StatusCode::OK, Body::empty()) }),
        )
        .header_timeout(Duration::from_millis(200))
        .bind(localhost())
        .await
        .unwrap();
    let addr = server.local_addr();
    let _s = server.serve();

    let mut stalled = Raw::connect(addr).await;
    stalled.write(b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
    let mut silent = Raw::connect(addr).await;
    let mut buf = [0u8; 64];
    for c in [&mut stalled, &mut silent] {
        let read = timeout(Duration::from_secs(10), c.stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "not closed: {read:?}"
        );
    }
    // A prompt client is unaffected.
    let mut prompt = Raw::connect(addr).await;
    assert_eq!(prompt.request(&get("/health", "")).await.status, 200);
}

#[tokio::test]
async fn stream_flows_while_a_pipelined_request_waits_behind_it() {
    let (addr, slot, mut started, _s) = streaming_server().await;
    let mut c = Raw::connect(addr).await;
    let mut both = get("/api/v1/scheduler", "");
    both.extend_from_slice(&get("/nope", ""));
    c.write(&both).await;
    timeout(WAIT, started.recv()).await.unwrap().unwrap();
    let tx = slot.lock().unwrap().take().unwrap();
    tx.send(Bytes::from_static(b"event")).await.unwrap();
    assert_eq!(c.head().await.0, 200);
    assert_eq!(c.chunk().await.unwrap(), b"event");
    drop(tx);
    assert_eq!(c.chunk().await, None);
    assert_eq!(c.response().await.status, 404);
}
