//! TLS between our own server and both client paths (the async transport
//! and the blocking last-message send), over real sockets on 127.0.0.1,
//! with certificates made by the real `openssl` command line.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use libprocess::ssl::{settings, Tls};
use libprocess::{Server, Transport, Upid};
use tokio::sync::mpsc;
use tokio::time::timeout;

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (.ci/setup-tls.sh)")
        .status
        .success();
    assert!(ok, "openssl {args:?}");
}

/// A self-signed certificate for 127.0.0.1, and the TLS configuration of a
/// process that presents it and (with `verify`) trusts only it.
fn tls(dir: &Path, extra: &[(&str, &str)]) -> Arc<Tls> {
    if !dir.join("cert.pem").exists() {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
        );
    }
    let path = |f: &str| dir.join(f).display().to_string();
    let mut vars = vec![
        ("LIBPROCESS_SSL_ENABLED".to_string(), "true".to_string()),
        ("LIBPROCESS_SSL_CERT_FILE".to_string(), path("cert.pem")),
        ("LIBPROCESS_SSL_KEY_FILE".to_string(), path("key.pem")),
        ("LIBPROCESS_SSL_CA_FILE".to_string(), path("cert.pem")),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Arc::new(Tls::new(&settings(vars).unwrap()).unwrap().unwrap())
}

async fn tls_server(
    tls: Option<Arc<Tls>>,
) -> (
    Upid,
    mpsc::UnboundedReceiver<libprocess::Message>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = Server::builder("sink")
        .messages("sink", tx)
        .tls(tls)
        .bind("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr();
    (
        Upid::new("sink", addr.ip(), addr.port()),
        rx,
        server.serve(),
    )
}

#[tokio::test]
async fn transport_and_blocking_send_speak_tls_to_a_tls_server() {
    let dir = tempfile::tempdir().unwrap();
    let tls = tls(dir.path(), &[("LIBPROCESS_SSL_REQUIRE_CERT", "true")]);
    let (to, mut rx, _server) = tls_server(Some(tls.clone())).await;
    let from = Upid::new("source", "127.0.0.1".parse().unwrap(), 1);

    let (transport, _exited) = Transport::with_tls(Some(tls.clone()));
    transport.send(&from, &to, "ping", Bytes::from_static(b"one"));
    let got = timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.name.as_str(), &got.body[..]), ("ping", &b"one"[..]));

    let bytes = libprocess::message::encode(&from, &to, "last", b"two");
    let addr = to.address();
    let blocking_tls = tls.clone();
    tokio::task::spawn_blocking(move || {
        libprocess::transport::send_blocking_with(
            Some(&blocking_tls),
            addr,
            &bytes,
            Duration::from_secs(10),
        )
    })
    .await
    .unwrap()
    .unwrap();
    let got = timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.name.as_str(), &got.body[..]), ("last", &b"two"[..]));
}

#[tokio::test]
async fn plaintext_transport_cannot_reach_a_tls_server_without_downgrade() {
    let dir = tempfile::tempdir().unwrap();
    let tls = tls(dir.path(), &[]);
    let (to, mut rx, _server) = tls_server(Some(tls)).await;
    let from = Upid::new("source", "127.0.0.1".parse().unwrap(), 1);
    let (transport, mut exited) = Transport::with_tls(None);
    transport.link(&to);
    transport.send(&from, &to, "ping", Bytes::from_static(b"plain"));
    // The server drops the connection: the link is reported broken and the
    // message never arrives.
    let broken = timeout(Duration::from_secs(10), exited.recv())
        .await
        .unwrap();
    assert_eq!(broken, Some(to.clone()));
    assert!(rx.try_recv().is_err());

    // With downgrade support the same plaintext message is delivered.
    let lenient = tls_downgrading(dir.path());
    let (to, mut rx, _server) = tls_server(Some(lenient)).await;
    let (transport, _exited) = Transport::with_tls(None);
    transport.send(&from, &to, "ping", Bytes::from_static(b"plain"));
    let got = timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.body[..], b"plain");
}

fn tls_downgrading(dir: &Path) -> Arc<Tls> {
    tls(dir, &[("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "true")])
}
