//! HTTP Basic authentication seen from outside: real `mesos-master` and
//! `mesos-agent` started with upstream's `--authenticate_http_*` flags and
//! credential files, real `curl` and pymesos 0.3.15 as clients.

use std::process::{Command, Stdio};
use std::time::Duration;

use compat_tests::*;

const CREDENTIALS: &str = r#"{"credentials":[{"principal":"ops","secret":"s3cret"},{"principal":"fw","secret":"fw-pass"}]}"#;

/// `curl` with optional `user:password`, no body.
fn curl(addr: &str, method: &str, path: &str, user: Option<&str>) -> CurlAnswer {
    fixture::curl(addr, method, path, user, CurlBody::None)
}

fn start(binary: &str, flags: &[String]) -> (String, Spawned, tempfile::TempDir) {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = Command::new(our_binary(binary))
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
    (
        addr,
        Spawned {
            name: binary.to_string(),
            child,
        },
        work,
    )
}

fn credentials_file(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("credentials.json");
    std::fs::write(&path, CREDENTIALS).expect("credentials");
    path.display().to_string()
}

#[test]
fn master_readonly_and_readwrite_realms_demand_basic_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = credentials_file(&dir);
    let (addr, _master, _work) = start(
        "mesos-master",
        &[
            "--authenticate_http_readonly".to_string(),
            "--authenticate_http_readwrite=true".to_string(),
            format!("--credentials={creds}"),
        ],
    );
    for path in [
        "/master/state",
        "/master/state-summary",
        "/master/frameworks",
        "/metrics/snapshot",
    ] {
        let a = curl(&addr, "GET", path, None);
        assert_eq!(a.code, 401, "{path} without credentials");
        assert_eq!(
            a.header("www-authenticate"),
            Some("Basic realm=\"mesos-master-readonly\""),
            "{path}"
        );
        assert_eq!(
            curl(&addr, "GET", path, Some("ops:wrong")).code,
            401,
            "{path}"
        );
        assert_eq!(
            curl(&addr, "GET", path, Some("nobody:s3cret")).code,
            401,
            "{path}"
        );
        assert_eq!(
            curl(&addr, "GET", path, Some("ops:s3cret")).code,
            200,
            "{path}"
        );
    }
    // Never authenticated, as upstream.
    assert_eq!(curl(&addr, "GET", "/health", None).code, 200);
    assert_eq!(curl(&addr, "GET", "/version", None).code, 200);
}

#[test]
fn master_readwrite_realm_guards_operator_endpoints_and_leaves_readonly_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = credentials_file(&dir);
    let (addr, _master, _work) = start(
        "mesos-master",
        &[
            "--authenticate_http_readwrite=true".to_string(),
            format!("--credentials={creds}"),
        ],
    );
    // Upstream's readwrite endpoints, reads among them (the quota, weights
    // and schedule are operator data), and the operator API.
    for (method, path) in [
        ("POST", "/master/teardown"),
        ("POST", "/master/reserve"),
        ("POST", "/master/unreserve"),
        ("POST", "/master/create-volumes"),
        ("POST", "/master/destroy-volumes"),
        ("POST", "/master/machine/down"),
        ("POST", "/master/machine/up"),
        ("GET", "/master/maintenance/schedule"),
        ("GET", "/master/quota"),
        ("GET", "/master/weights"),
        ("POST", "/api/v1"),
        ("POST", "/master/api/v1"),
        ("GET", "/logging/toggle"),
    ] {
        let a = curl(&addr, method, path, None);
        assert_eq!(a.code, 401, "{method} {path} without credentials");
        assert_eq!(
            a.header("www-authenticate"),
            Some("Basic realm=\"mesos-master-readwrite\""),
            "{method} {path}"
        );
        assert_eq!(
            curl(&addr, method, path, Some("ops:wrong")).code,
            401,
            "{method} {path}"
        );
        // Past authentication the endpoint judges the (empty) request.
        let code = curl(&addr, method, path, Some("ops:s3cret")).code;
        assert!(code != 401 && code != 403, "{method} {path}: {code}");
    }
    assert_eq!(curl(&addr, "GET", "/master/state", None).code, 200);
    assert_eq!(curl(&addr, "GET", "/master/flags", None).code, 200);
    assert_eq!(curl(&addr, "GET", "/metrics/snapshot", None).code, 200);
}

#[test]
fn agent_realms_demand_http_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = credentials_file(&dir);
    let (addr, _agent, _work) = start(
        "mesos-agent",
        &[
            format!("--master=127.0.0.1:{}", free_port()),
            "--authenticate_http_readonly=true".to_string(),
            "--authenticate_http_readwrite=true".to_string(),
            format!("--http_credentials={creds}"),
        ],
    );
    let a = curl(&addr, "GET", "/slave(1)/state", None);
    assert_eq!(a.code, 401);
    assert_eq!(
        a.header("www-authenticate"),
        Some("Basic realm=\"mesos-agent-readonly\"")
    );
    assert_eq!(
        curl(&addr, "GET", "/slave(1)/state", Some("ops:bad")).code,
        401
    );
    assert_eq!(
        curl(&addr, "GET", "/slave(1)/state", Some("ops:s3cret")).code,
        200
    );
    assert_eq!(curl(&addr, "GET", "/files/debug", None).code, 401);
    assert_eq!(curl(&addr, "GET", "/slave(1)/health", None).code, 200);
}

fn pymesos(master: &str, extra: &[&str]) -> (Vec<serde_json::Value>, String, bool) {
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_scheduler.py"))
        .arg(format!("--master={master}"))
        .args(extra);
    let (events, output, status) = run_client(cmd, Duration::from_secs(90));
    (events, output, status.success())
}

#[test]
fn pymesos_authenticates_with_basic_and_its_principal_must_match() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = credentials_file(&dir);
    let cluster = Cluster::start(ClusterOptions {
        master_flags: vec![
            "--authenticate_http_frameworks".to_string(),
            "--http_framework_authenticators=basic".to_string(),
            format!("--credentials={creds}"),
        ],
        ..ClusterOptions::default()
    });
    let (events, output, ok) = pymesos(
        &cluster.master,
        &["--scenario=command", "--principal=fw", "--secret=fw-pass"],
    );
    assert!(
        ok,
        "pymesos with credentials failed:\n{output}\n{}",
        cluster.logs()
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "update" && e["state"] == "TASK_FINISHED"),
        "{output}"
    );

    // Without credentials: 401, never registered.
    let (events, output, ok) = pymesos(&cluster.master, &["--scenario=command", "--timeout=8"]);
    assert!(
        !ok && !events.iter().any(|e| e["event"] == "registered"),
        "{output}"
    );
    let a = curl(&cluster.master, "POST", "/api/v1/scheduler", None);
    assert_eq!(a.code, 401);
    assert_eq!(
        a.header("www-authenticate"),
        Some("Basic realm=\"mesos-master-scheduler\"")
    );

    // A wrong secret, and a principal other than the authenticated one.
    let (events, output, ok) = pymesos(
        &cluster.master,
        &[
            "--scenario=command",
            "--timeout=8",
            "--principal=fw",
            "--secret=nope",
        ],
    );
    assert!(
        !ok && !events.iter().any(|e| e["event"] == "registered"),
        "{output}"
    );
    let (events, output, ok) = pymesos(
        &cluster.master,
        &[
            "--scenario=command",
            "--timeout=8",
            "--principal=fw",
            "--secret=fw-pass",
            "--framework-principal=ops",
        ],
    );
    assert!(
        !ok && !events.iter().any(|e| e["event"] == "registered"),
        "{output}"
    );
}

#[test]
fn unenforceable_http_authentication_flags_refuse_to_start() {
    for (binary, flags, names) in [
        (
            "mesos-master",
            vec!["--authenticate_http_readonly"],
            "credentials",
        ),
        (
            "mesos-master",
            vec!["--authenticate_http_frameworks", "--credentials=/dev/null"],
            "http_framework_authenticators",
        ),
        (
            "mesos-agent",
            vec!["--authenticate_http_readwrite"],
            "http_credentials",
        ),
    ] {
        let work = tempfile::tempdir().expect("tempdir");
        let out = Command::new(our_binary(binary))
            .arg("--ip=127.0.0.1")
            .arg(format!("--port={}", free_port()))
            .arg(format!("--work_dir={}", work.path().display()))
            .args(if binary == "mesos-agent" {
                vec![format!("--master=127.0.0.1:{}", free_port())]
            } else {
                vec![]
            })
            .args(&flags)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{binary} {flags:?}: {stderr}");
        assert!(stderr.contains(names), "{binary} {flags:?}: {stderr}");
    }
}
