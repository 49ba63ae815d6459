//! The local authorizer seen from outside: a real `mesos-master` with
//! upstream's `--acls` JSON, real `curl` as the client. Only the
//! `get_endpoints` kind is enforced so far; every other kind, and
//! `permissive: false`, must refuse to start.

use std::process::{Command, Stdio};
use std::time::Duration;

use compat_tests::*;

const CREDENTIALS: &str =
    r#"{"credentials":[{"principal":"ops","secret":"o"},{"principal":"fw","secret":"f"}]}"#;

fn curl_code(addr: &str, path: &str, user: Option<&str>) -> u16 {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "--max-time",
        "10",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ]);
    if let Some(user) = user {
        cmd.arg("-u").arg(user);
    }
    let out = cmd
        .arg(format!("http://{addr}{path}"))
        .stdin(Stdio::null())
        .output()
        .expect("curl is installed (.ci/setup-tls.sh)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn master(flags: &[String]) -> (String, Spawned, tempfile::TempDir) {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = Command::new(our_binary("mesos-master"))
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--work_dir={}", work.path().join("work").display()))
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let addr = format!("127.0.0.1:{port}");
    wait_for(Duration::from_secs(20), "/health", || {
        http_get(&addr, "/health").is_ok_and(|r| r.status == 200)
    });
    let spawned = Spawned {
        name: "mesos-master".into(),
        child,
    };
    (addr, spawned, work)
}

#[test]
fn get_endpoints_acls_allow_deny_and_default_to_permissive() {
    let work = tempfile::tempdir().expect("tempdir");
    let creds = work.path().join("credentials.json");
    std::fs::write(&creds, CREDENTIALS).expect("credentials");
    // As a file, the other form upstream accepts.
    let acls = work.path().join("acls.json");
    std::fs::write(
        &acls,
        r#"{"get_endpoints": [
             {"principals": {"values": ["ops"]}, "paths": {"values": ["/metrics/snapshot"]}},
             {"principals": {"values": ["fw"]}, "paths": {"type": "NONE"}}
           ]}"#,
    )
    .expect("acls");
    let (addr, _master, _w) = master(&[
        "--authenticate_http_readonly".to_string(),
        format!("--credentials={}", creds.display()),
        format!("--acls={}", acls.display()),
    ]);
    // Allowed by the first ACL.
    assert_eq!(curl_code(&addr, "/metrics/snapshot", Some("ops:o")), 200);
    // Denied by the second.
    assert_eq!(curl_code(&addr, "/metrics/snapshot", Some("fw:f")), 403);
    // Authentication still comes first.
    assert_eq!(curl_code(&addr, "/metrics/snapshot", None), 401);
    // Endpoints get_endpoints does not govern are unaffected.
    assert_eq!(curl_code(&addr, "/master/state", Some("fw:f")), 200);
}

#[test]
fn get_endpoints_acls_apply_to_unauthenticated_requests_as_any() {
    let (addr, _master, _w) = master(&[
        r#"--acls={"get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"type": "NONE"}}]}"#
            .to_string(),
    ]);
    assert_eq!(curl_code(&addr, "/metrics/snapshot", None), 403);
    assert_eq!(curl_code(&addr, "/master/state", None), 200);

    // An ACL for a named principal says nothing about an anonymous
    // request, which then falls back to permissive.
    let (addr, _master, _w) = master(&[
        r#"--acls={"get_endpoints": [{"principals": {"values": ["ops"]}, "paths": {"type": "NONE"}}]}"#
            .to_string(),
    ]);
    assert_eq!(curl_code(&addr, "/metrics/snapshot", None), 200);
}

#[test]
fn acls_this_build_cannot_enforce_refuse_to_start() {
    for (acls, names) in [
        (
            r#"{"register_frameworks": [{"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}]}"#,
            "register_frameworks",
        ),
        (r#"{"permissive": false}"#, "permissive"),
        (r#"{"get_endpoint": []}"#, "get_endpoint"),
        (
            r#"{"get_endpoints": [{"principals": {"type": "ANY"}}]}"#,
            "paths",
        ),
        ("/nonexistent/acls.json", "/nonexistent/acls.json"),
    ] {
        let work = tempfile::tempdir().expect("tempdir");
        let out = Command::new(our_binary("mesos-master"))
            .arg("--ip=127.0.0.1")
            .arg(format!("--port={}", free_port()))
            .arg(format!("--work_dir={}", work.path().display()))
            .arg(format!("--acls={acls}"))
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{acls}: {stderr}");
        assert!(stderr.contains(names), "{acls}: {stderr}");
    }
}
