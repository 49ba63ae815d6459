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

/// A self-signed certificate for 127.0.0.1 and for the name reverse DNS
/// gives it (`localhost`), and the TLS configuration of a
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
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
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

/// A self-signed certificate with `subject` and `extension` (none when
/// empty) in its own directory under `dir`, and a configuration presenting
/// and trusting it with `extra` settings.
fn tls_named(
    dir: &Path,
    name: &str,
    subject: &str,
    extension: &str,
    extra: &[(&str, &str)],
) -> Arc<Tls> {
    let dir = dir.join(name);
    if !dir.exists() {
        std::fs::create_dir(&dir).unwrap();
        let mut args = vec![
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out",
            "cert.pem", "-days", "2", "-subj", subject,
        ];
        if !extension.is_empty() {
            args.extend(["-addext", extension]);
        }
        openssl(&dir, &args);
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

/// One blocking send with `client` to a server presenting `server`'s
/// certificate: `Err` is why the client refused it.
async fn send_to(server: Arc<Tls>, client: Arc<Tls>) -> Result<(), String> {
    let (to, _rx, _server) = tls_server(Some(server)).await;
    let from = Upid::new("source", "127.0.0.1".parse().unwrap(), 1);
    let bytes = libprocess::message::encode(&from, &to, "ping", b"x");
    let addr = to.address();
    tokio::task::spawn_blocking(move || {
        libprocess::transport::send_blocking_with(
            Some(&client),
            addr,
            &bytes,
            Duration::from_secs(10),
        )
    })
    .await
    .unwrap()
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn hostname_validation_schemes_check_the_names_upstream_checks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let verify = ("LIBPROCESS_SSL_VERIFY_CERT", "true");
    let ipadd = ("LIBPROCESS_SSL_VERIFY_IPADD", "true");
    let openssl_scheme = ("LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME", "openssl");
    let ip_only = |extra: &[(&str, &str)]| {
        tls_named(
            d,
            "ip",
            "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1",
            extra,
        )
    };
    let server = ip_only(&[]);

    // legacy: 127.0.0.1 is `localhost` in reverse DNS, which the
    // certificate does not name; its IP counts only with VERIFY_IPADD.
    let refused = send_to(server.clone(), ip_only(&[verify])).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("does not match peer hostname name: localhost")),
        "{refused:?}"
    );
    assert_eq!(
        send_to(server.clone(), ip_only(&[verify, ipadd])).await,
        Ok(())
    );
    // The common name counts when no alternative name matches.
    let by_name = |extra: &[(&str, &str)]| tls_named(d, "cn", "/CN=localhost", "", extra);
    assert_eq!(send_to(by_name(&[]), by_name(&[verify])).await, Ok(()));

    // openssl: the address connected to is checked, which needs VERIFY_IPADD.
    let refused = send_to(server.clone(), ip_only(&[verify, openssl_scheme])).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("No DNS name given and IP address verification is disabled")),
        "{refused:?}"
    );
    assert_eq!(
        send_to(server.clone(), ip_only(&[verify, ipadd, openssl_scheme])).await,
        Ok(())
    );
    let other_ip = tls_named(d, "other", "/CN=other", "subjectAltName=IP:10.1.2.3", &[]);
    let refused = send_to(
        other_ip,
        tls_named(
            d,
            "other",
            "/CN=other",
            "",
            &[verify, ipadd, openssl_scheme],
        ),
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
}
