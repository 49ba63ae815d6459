//! v0 authentication with SASL CRAM-MD5 against real processes: a master
//! with `--authenticate_frameworks` / `--authenticate_agents` and
//! `--credentials`, agents with `--credential`, and mesos-go 0.0.6's pure-Go
//! v0 driver (its own CRAM-MD5 client) as the framework.
//!
//! Scenarios follow upstream's `authentication_tests.cpp`: an authenticated
//! framework registers and runs a task; a wrong secret is refused; an
//! unauthenticated framework gets `FrameworkErrorMessage`; an agent with a
//! credential registers while one without, or with a wrong secret, does not.

use std::path::Path;
use std::time::Duration;

use compat_tests::*;
use serde_json::Value;

const CREDENTIALS_JSON: &str = r#"{"credentials": [
  {"principal": "agent", "secret": "agent-secret"},
  {"principal": "framework", "secret": "framework-secret"}
]}"#;

/// A cluster whose master requires authentication of `what` ("frameworks"
/// or "agents"), with the agent configured by `agent_flags`.
fn cluster(dir: &Path, what: &str, agent_flags: Vec<String>) -> Cluster {
    let credentials = write_file(dir, "credentials.json", CREDENTIALS_JSON);
    Cluster::start(ClusterOptions {
        master_flags: vec![
            format!("--authenticate_{what}=true"),
            format!("--credentials={}", credentials.display()),
            "--authentication_v0_timeout=5secs".to_string(),
        ],
        agent_flags,
        ..Default::default()
    })
}

fn frameworks(cluster: &Cluster) -> Vec<Value> {
    cluster
        .master_state()
        .and_then(|s| s["frameworks"].as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn authenticated_v0_framework_registers_and_runs_a_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster(dir.path(), "frameworks", vec![]);
    let cmd = mesos_go_command(
        dir.path(),
        &cluster.master,
        &["--principal=framework", "--secret=framework-secret"],
    );
    let (events, output, status) = run_client(cmd, Duration::from_secs(90));
    assert!(
        status.success(),
        "mesos-go framework failed ({status}):\n{output}\n{}",
        cluster.logs()
    );
    cluster.assert_alive();
    assert!(
        events.iter().any(|e| e["event"] == "registered"),
        "{events:?}"
    );
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "update")
        .filter_map(|e| e["state"].as_str())
        .collect();
    assert_eq!(states.last(), Some(&"TASK_FINISHED"), "{events:?}");
    let log = cluster.master_log();
    assert!(
        log.contains("Successfully authenticated principal 'framework' at scheduler(1)@127.0.0.1:"),
        "{}",
        cluster.logs()
    );
    // The framework (torn down now) kept its authenticated principal.
    let state = cluster.master_state().expect("/master/state");
    let all: Vec<Value> = ["frameworks", "completed_frameworks"]
        .iter()
        .flat_map(|k| state[*k].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(all.len(), 1, "{state}");
    assert_eq!(all[0]["principal"], "framework", "{state}");
}

#[test]
fn v0_framework_with_a_wrong_secret_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster(dir.path(), "frameworks", vec![]);
    let client = BackgroundClient::start(mesos_go_command(
        dir.path(),
        &cluster.master,
        &["--principal=framework", "--secret=not-the-secret"],
    ));
    // The master refuses the exchange and the driver hears it.
    wait_for(Duration::from_secs(30), "the master's refusal", || {
        cluster
            .master_log()
            .contains("was unsuccessful: Invalid credentials")
    });
    wait_for(Duration::from_secs(30), "the driver's refusal", || {
        client.output().contains("refused authentication")
    });
    assert!(
        !client.events().iter().any(|e| e["event"] == "registered"),
        "{:?}",
        client.events()
    );
    assert!(frameworks(&cluster).is_empty(), "{}", cluster.logs());
    cluster.assert_alive();
}

#[test]
fn unauthenticated_v0_framework_gets_a_framework_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster(dir.path(), "frameworks", vec![]);
    let (events, output, _status) = run_client(
        mesos_go_command(dir.path(), &cluster.master, &[]),
        Duration::from_secs(90),
    );
    let error = events
        .iter()
        .find(|e| e["event"] == "error")
        .unwrap_or_else(|| panic!("no error callback: {output}"));
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Framework at scheduler(1)@127.0.0.1:")
            && message.ends_with("is not authenticated"),
        "{error}"
    );
    assert!(
        !events.iter().any(|e| e["event"] == "registered"),
        "{events:?}"
    );
    assert!(frameworks(&cluster).is_empty(), "{}", cluster.logs());
    cluster.assert_alive();
}

#[test]
fn framework_principal_must_match_the_authenticated_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster(dir.path(), "frameworks", vec![]);
    let (events, output, _status) = run_client(
        mesos_go_command(
            dir.path(),
            &cluster.master,
            &[
                "--principal=framework",
                "--secret=framework-secret",
                "--framework-principal=agent",
            ],
        ),
        Duration::from_secs(90),
    );
    let error = events
        .iter()
        .find(|e| e["event"] == "error")
        .unwrap_or_else(|| panic!("no error callback: {output}"));
    assert_eq!(
        error["message"],
        "Framework principal 'agent' does not match authenticated principal 'framework'",
        "{error}"
    );
    assert!(frameworks(&cluster).is_empty(), "{}", cluster.logs());
    cluster.assert_alive();
}

/// A short first authentication timeout, so an agent whose attempt fails
/// retries within the test's wait.
fn fast_retry() -> String {
    "--authentication_timeout_min=1secs".to_string()
}

#[test]
fn agent_with_credential_registers_and_agents_without_or_with_a_wrong_secret_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write_file(
        dir.path(),
        "credential.json",
        r#"{"principal": "agent", "secret": "agent-secret"}"#,
    );
    // Cluster::start waits for this agent's registration.
    let mut cluster = cluster(
        dir.path(),
        "agents",
        vec![format!("--credential={}", good.display())],
    );
    assert!(
        cluster
            .master_log()
            .contains("Successfully authenticated principal 'agent' at slave(1)@"),
        "{}",
        cluster.logs()
    );

    let (mut without, without_port) = cluster.extra_agent(dir.path(), "without", &[fast_retry()]);
    // The text form of a credential file.
    let wrong = write_file(dir.path(), "wrong.txt", "agent not-the-secret\n");
    let (mut wrong_agent, wrong_port) = cluster.extra_agent(
        dir.path(),
        "wrong",
        &[fast_retry(), format!("--credential={}", wrong.display())],
    );

    wait_for(
        Duration::from_secs(30),
        "the unauthenticated agent's refusal",
        || {
            cluster.master_log().contains(&format!(
            "Refusing registration of agent at slave(1)@127.0.0.1:{without_port} because it is \
             not authenticated"
        ))
        },
    );
    wait_for(
        Duration::from_secs(30),
        "the wrong secret's refusal",
        || {
            cluster.master_log().contains(&format!(
                "Authentication of slave(1)@127.0.0.1:{wrong_port} was unsuccessful: Invalid \
             credentials"
            ))
        },
    );
    // The refused agent keeps running and retrying rather than exiting.
    let agent_log = || std::fs::read_to_string(dir.path().join("wrong.log")).unwrap_or_default();
    wait_for(Duration::from_secs(30), "the refused agent's retry", || {
        agent_log().matches("refused authentication").count() >= 2
    });
    assert!(
        matches!(wrong_agent.child.try_wait(), Ok(None)),
        "{}",
        agent_log()
    );
    assert!(matches!(without.child.try_wait(), Ok(None)));

    let slaves = http_get(&cluster.master, "/master/slaves").expect("/master/slaves");
    assert_eq!(slaves.status, 200);
    let slaves = slaves.json();
    let ports: Vec<i64> = slaves["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["port"].as_i64())
        .collect();
    assert_eq!(ports.len(), 1, "{slaves}");
    assert_ne!(ports[0], i64::from(without_port));
    assert_ne!(ports[0], i64::from(wrong_port));
    cluster.assert_alive();
}

/// A client that starts a v0 authentication and then never answers the
/// mechanisms: the master gives up after `--authentication_v0_timeout`
/// (not its 15 s default), drops the registration that waited behind the
/// exchange, and lets the same pid start over.
#[test]
fn stalled_v0_authentication_times_out_after_authentication_v0_timeout() {
    use mesos_proto::mesos::internal as msgs;
    use prost::Message as _;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = write_file(dir.path(), "credentials.json", CREDENTIALS_JSON);
    let mut cluster = Cluster::start(ClusterOptions {
        master_flags: vec![
            "--authenticate_frameworks=true".to_string(),
            format!("--credentials={}", credentials.display()),
            "--authentication_v0_timeout=2secs".to_string(),
        ],
        ..Default::default()
    });

    // The stalled client's processes: it takes the master's messages (so
    // the exchange really waits on it, not on a refused connection) and
    // answers none of them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if header == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    seen.lock().expect("lock").push(request.trim().to_string());
                    let _ = reader
                        .get_mut()
                        .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
                }
            });
        }
    });
    let authenticatee = format!("authenticatee(1)@127.0.0.1:{port}");
    let scheduler = format!("scheduler(1)@127.0.0.1:{port}");
    let post = |from: &str, name: &str, body: Vec<u8>| {
        let status = http_request(
            &cluster.master,
            "POST",
            &format!("/master/mesos.internal.{name}"),
            &[("Libprocess-From", from)],
            &body,
        )
        .expect("post")
        .status;
        assert_eq!(status, 202, "{name}");
    };
    let authenticate = msgs::AuthenticateMessage {
        pid: scheduler.clone(),
    }
    .encode_to_vec();
    let register = msgs::RegisterFrameworkMessage {
        framework: mesos_proto::mesos::FrameworkInfo {
            user: "root".to_string(),
            name: "stalled".to_string(),
            principal: Some("framework".to_string()),
            ..Default::default()
        },
    }
    .encode_to_vec();

    let started = std::time::Instant::now();
    post(&authenticatee, "AuthenticateMessage", authenticate.clone());
    post(&scheduler, "RegisterFrameworkMessage", register);
    wait_for(Duration::from_secs(10), "the mechanisms offer", || {
        received
            .lock()
            .expect("lock")
            .iter()
            .any(|r| r.contains("AuthenticationMechanismsMessage"))
    });
    cluster.wait_for_master_log(
        "the timeout",
        &[
            &format!("Authentication of {authenticatee} timed out"),
            &format!(
                "An error occurred while attempting to authenticate {scheduler}: \
                 Authentication timed out"
            ),
        ],
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(12),
        "the exchange ended after {waited:?}, not after the 2 s flag"
    );
    // The registration that waited behind the exchange is dropped, not
    // handled as an unauthenticated one.
    assert!(frameworks(&cluster).is_empty(), "{}", cluster.logs());
    assert!(
        !cluster
            .master_log()
            .contains("Refusing subscription of framework 'stalled'"),
        "{}",
        cluster.master_log()
    );

    // The session is gone: the same pid can start again.
    post(&authenticatee, "AuthenticateMessage", authenticate);
    let attempt = format!("Authenticating {scheduler}");
    wait_for(Duration::from_secs(10), "the second attempt", || {
        cluster.master_log().matches(&attempt).count() == 2
    });
    let log = cluster.master_log();
    assert!(
        !log.contains(&format!(
            "Re-authenticating {scheduler}; discarding outstanding authentication"
        )),
        "{log}"
    );
    cluster.assert_alive();
}
