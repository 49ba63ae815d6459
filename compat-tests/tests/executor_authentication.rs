//! Executor authentication seen from outside: a real `mesos-master` and
//! `mesos-agent` with upstream's `--authenticate_http_executors` and
//! `--jwt_secret_key`, pymesos 0.3.15 as the framework and our
//! `mesos-executor` as the command executor (it must send its token, or
//! its SUBSCRIBE is refused and the task never runs). Forged executor
//! calls are made with `curl`-like raw HTTP and tokens signed by Python's
//! own `hmac` module, so neither side of the signature is our code.
//!
//! pymesos's executor does not send `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`
//! (0.3.15 has no bearer support), so it cannot run under these flags;
//! the command executor is the client here.

use std::process::Command;
use std::time::Duration;

use compat_tests::*;
use serde_json::{json, Value};

const KEY: &str = "an executor secret key for the compat tests";
const REALM: &str = "mesos-agent-executor";

/// An HS256 token over `claims`, signed with `key` by Python's standard
/// library (an implementation independent of ours).
fn python_token(key: &str, claims: &Value) -> String {
    let script = r#"
import base64, hashlib, hmac, json, sys
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
payload = b64(sys.argv[2].encode())
signing = (header + "." + payload).encode()
sig = hmac.new(sys.argv[1].encode(), signing, hashlib.sha256).digest()
print(header + "." + payload + "." + b64(sig))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(key)
        .arg(claims.to_string())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A MESSAGE call from executor `executor` of framework `framework`.
fn message_call(framework: &str, executor: &str) -> Vec<u8> {
    json!({
        "type": "MESSAGE",
        "framework_id": {"value": framework},
        "executor_id": {"value": executor},
        "message": {"data": "aGVsbG8="}
    })
    .to_string()
    .into_bytes()
}

fn post_executor(agent: &str, authorization: Option<&str>, body: &[u8]) -> RawResponse {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(value) = authorization {
        headers.push(("Authorization", value));
    }
    http_request(agent, "POST", "/api/v1/executor", &headers, body).expect("POST /api/v1/executor")
}

fn cluster(dir: &tempfile::TempDir) -> Cluster {
    let key = dir.path().join("jwt_secret_key");
    std::fs::write(&key, KEY).expect("key");
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, "ops s3cret\n").expect("credentials");
    Cluster::start(ClusterOptions {
        agent_flags: vec![
            "--authenticate_http_executors".to_string(),
            format!("--jwt_secret_key={}", key.display()),
            format!("--http_credentials={}", credentials.display()),
            "--http_command_executor".to_string(),
        ],
        ..ClusterOptions::default()
    })
}

fn scheduler(cluster: &Cluster, scenario: &str, timeout: &str) -> Command {
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_scheduler.py"))
        .arg(format!("--master={}", cluster.master))
        .arg(format!("--scenario={scenario}"))
        .arg(format!("--timeout={timeout}"));
    cmd
}

fn states(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "update")
        .map(|e| e["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn command_task_runs_with_executor_authentication_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster(&dir);
    let (events, output, status) = run_client(
        scheduler(&cluster, "command", "60"),
        Duration::from_secs(90),
    );
    assert!(status.success(), "{output}\n{}", cluster.logs());
    assert_eq!(
        states(&events),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
        "{output}\n{}",
        cluster.logs()
    );
    // The updates came over the executor's authenticated HTTP subscription.
    assert!(
        cluster
            .logs()
            .contains("Received Subscribe request for HTTP executor"),
        "{}",
        cluster.logs()
    );
    // The token reaches the executor, never the task, and never a log.
    assert!(!cluster.logs().contains(KEY));
    cluster.assert_alive();
}

#[test]
fn forged_executor_calls_are_refused_with_401_or_403() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster(&dir);
    let client = BackgroundClient::start(scheduler(&cluster, "hold", "300"));
    wait_for(Duration::from_secs(60), "the task to run", || {
        states(&client.events()).iter().any(|s| s == "TASK_RUNNING")
    });
    let state = cluster.agent_state().expect("agent /state");
    let framework = &state["frameworks"][0];
    let fid = framework["id"].as_str().expect("framework id").to_string();
    let executor = &framework["executors"][0];
    let eid = executor["id"].as_str().expect("executor id").to_string();
    let cid = executor["container"]
        .as_str()
        .expect("executor container")
        .to_string();
    let body = message_call(&fid, &eid);

    // No credentials: both schemes are offered, as upstream's combined
    // `basic,jwt` authenticator does.
    let r = post_executor(&cluster.agent, None, &body);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some(format!("Basic realm=\"{REALM}\",Bearer realm=\"{REALM}\"").as_str())
    );

    // Not a token.
    let r = post_executor(&cluster.agent, Some("Bearer not-a-token"), &body);
    assert_eq!(r.status, 401, "{}", r.text());
    let challenge = r.header("WWW-Authenticate").unwrap_or_default().to_string();
    assert!(
        challenge.contains(&format!(
            "Bearer realm=\"{REALM}\", error=\"invalid_token\""
        )),
        "{challenge}"
    );

    // The right claims signed with a guessed key.
    let claims = json!({"fid": fid, "eid": eid, "cid": cid});
    let guessed = python_token("a guessed key", &claims);
    let r = post_executor(&cluster.agent, Some(&format!("Bearer {guessed}")), &body);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.header("WWW-Authenticate")
            .unwrap_or_default()
            .contains("Token signature does not match"),
        "{:?}",
        r.headers
    );

    // A genuine token of another executor speaking for this one.
    let other = python_token(
        KEY,
        &json!({"fid": fid, "eid": "another-executor", "cid": "another-container"}),
    );
    let r = post_executor(&cluster.agent, Some(&format!("Bearer {other}")), &body);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("'eid' claim"), "{}", r.text());

    // This executor's ids but a container that is not its current one.
    let stale = python_token(
        KEY,
        &json!({"fid": fid, "eid": eid, "cid": "old-container"}),
    );
    let r = post_executor(&cluster.agent, Some(&format!("Bearer {stale}")), &body);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("'cid' claim"), "{}", r.text());

    // An operator's Basic credentials authenticate but name no executor.
    // `ops:s3cret` in base64.
    let r = post_executor(&cluster.agent, Some("Basic b3BzOnMzY3JldA=="), &body);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("'fid' claim"), "{}", r.text());

    // Control: the executor's own claims, signed with the agent's key, are
    // accepted, so the refusals above are about the tokens.
    let own = python_token(KEY, &claims);
    let r = post_executor(&cluster.agent, Some(&format!("Bearer {own}")), &body);
    assert_eq!(r.status, 202, "{}", r.text());
    // That is the very token the agent gave the executor (same claims, same
    // key, same encoding); it is never logged.
    assert!(!cluster.logs().contains(&own), "a token was logged");

    // Nothing forged disturbed the task.
    assert!(
        !states(&client.events())
            .iter()
            .any(|s| s != "TASK_STARTING" && s != "TASK_RUNNING"),
        "{}",
        client.output()
    );
    cluster.assert_alive();
}
