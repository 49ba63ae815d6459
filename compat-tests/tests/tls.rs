//! libprocess TLS seen from outside: real `mesos-master` and `mesos-agent`
//! processes configured by upstream's `LIBPROCESS_SSL_*` variables, real
//! `curl` (OpenSSL) as the HTTPS client, certificates made by the real
//! `openssl` command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use compat_tests::{free_port, http_get, http_request, our_binary, wait_for, Spawned};

/// A CA, a certificate for 127.0.0.1 (and `localhost`, its name in reverse
/// DNS, which upstream's default hostname validation checks) signed by it (used by master, agent
/// and as a trusted client certificate), and a self-signed certificate the
/// CA never signed.
struct Pki {
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is installed (.ci/setup-tls.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .expect("ext");
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=test-ca",
            ],
        );
        for name in ["node", "stranger"] {
            openssl(
                d,
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            );
        }
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "node.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "node.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        // Signed by itself, not by the CA.
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "stranger.csr",
                "-signkey",
                "stranger.key",
                "-out",
                "stranger.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The environment of a TLS-enabled process, plus `extra`.
    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = vec![
            ("LIBPROCESS_SSL_ENABLED".to_string(), "true".to_string()),
            (
                "LIBPROCESS_SSL_CERT_FILE".to_string(),
                self.path("node.pem"),
            ),
            ("LIBPROCESS_SSL_KEY_FILE".to_string(), self.path("node.key")),
            ("LIBPROCESS_SSL_CA_FILE".to_string(), self.path("ca.pem")),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }
}

struct Node {
    addr: String,
    process: Spawned,
    log: PathBuf,
    _work: tempfile::TempDir,
}

impl Node {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn start(binary: &str, env: &[(String, String)], extra_flags: &[String]) -> Node {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let log = work.path().join("log");
    let file = std::fs::File::create(&log).expect("log");
    let child = Command::new(our_binary(binary))
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--work_dir={}", work.path().join("work").display()))
        .args(extra_flags)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .spawn()
        .expect("spawn");
    Node {
        addr: format!("127.0.0.1:{port}"),
        process: Spawned {
            name: binary.to_string(),
            child,
        },
        log,
        _work: work,
    }
}

/// `curl` over https: the status code, or `None` when no HTTP answer came
/// (handshake refused, connection closed).
fn curl(pki: &Pki, addr: &str, path: &str, client: Option<&str>) -> (Option<u16>, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}"])
        .arg("--cacert")
        .arg(pki.path("ca.pem"));
    if let Some(name) = client {
        cmd.arg("--cert")
            .arg(pki.path(&format!("{name}.pem")))
            .arg("--key")
            .arg(pki.path(&format!("{name}.key")));
    }
    let out = cmd
        .arg(format!("https://{addr}{path}"))
        .stdin(Stdio::null())
        .output()
        .expect("curl is installed (.ci/setup-tls.sh)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
    let code = code.trim().parse::<u16>().ok().filter(|c| *c != 0);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (code, format!("{body}{stderr}"))
}

fn wait_https_health(pki: &Pki, node: &mut Node, client: Option<&str>) {
    let addr = node.addr.clone();
    for _ in 0..200 {
        if let Ok(Some(status)) = node.process.child.try_wait() {
            panic!("{} exited ({status}):\n{}", node.process.name, node.logs());
        }
        if curl(pki, &addr, "/health", client).0 == Some(200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{addr} never answered https /health:\n{}", node.logs());
}

/// Whether plaintext HTTP gets an answer at all.
fn plaintext_answers(addr: &str) -> bool {
    http_get(addr, "/health").is_ok_and(|r| r.status == 200)
}

#[test]
fn tls_master_and_agent_register_and_curl_reads_master_state_over_https() {
    let pki = Pki::new();
    // Both sides verify each other: the agent checks the master's
    // certificate, the master demands the agent's.
    let env = pki.env(&[("LIBPROCESS_SSL_REQUIRE_CERT", "true")]);
    let mut master = start("mesos-master", &env, &[]);
    wait_https_health(&pki, &mut master, Some("node"));
    let mut agent = start(
        "mesos-agent",
        &env,
        &[
            format!("--master={}", master.addr),
            "--hostname=127.0.0.1".to_string(),
            "--resources=cpus:2;mem:1024".to_string(),
            "--registration_backoff_factor=10ms".to_string(),
        ],
    );
    wait_https_health(&pki, &mut agent, Some("node"));
    let mut state = serde_json::Value::Null;
    wait_for(
        Duration::from_secs(30),
        "agent registration over TLS",
        || {
            let (code, body) = curl(&pki, &master.addr, "/master/state", Some("node"));
            if code == Some(200) {
                state = serde_json::from_str(body.trim()).unwrap_or_default();
            }
            state["slaves"].as_array().is_some_and(|a| a.len() == 1)
        },
    );
    assert_eq!(state["slaves"][0]["hostname"], "127.0.0.1", "{state}");
    assert_eq!(state["activated_slaves"], 1.0, "{state}");
    // Plaintext is refused on both ports without downgrade support.
    assert!(
        !plaintext_answers(&master.addr),
        "master answered plaintext"
    );
    assert!(!plaintext_answers(&agent.addr), "agent answered plaintext");
}

#[test]
fn tls_without_downgrade_refuses_plaintext_and_with_it_accepts_both() {
    let pki = Pki::new();
    let mut strict = start("mesos-master", &pki.env(&[]), &[]);
    wait_https_health(&pki, &mut strict, None);
    assert!(
        !plaintext_answers(&strict.addr),
        "plaintext accepted without downgrade"
    );

    let mut lenient = start(
        "mesos-master",
        &pki.env(&[("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "true")]),
        &[],
    );
    wait_https_health(&pki, &mut lenient, None);
    assert!(
        plaintext_answers(&lenient.addr),
        "downgrade refused plaintext"
    );
    // The newer upstream spelling of the same setting.
    let mut alias = start(
        "mesos-master",
        &pki.env(&[("LIBPROCESS_SSL_ENABLE_DOWNGRADE", "true")]),
        &[],
    );
    wait_https_health(&pki, &mut alias, None);
    assert!(
        plaintext_answers(&alias.addr),
        "ENABLE_DOWNGRADE refused plaintext"
    );
}

#[test]
fn tls_require_cert_refuses_clients_without_a_trusted_certificate() {
    let pki = Pki::new();
    let mut master = start(
        "mesos-master",
        &pki.env(&[("LIBPROCESS_SSL_REQUIRE_CERT", "true")]),
        &[],
    );
    wait_https_health(&pki, &mut master, Some("node"));
    let (code, output) = curl(&pki, &master.addr, "/master/state", Some("stranger"));
    assert_eq!(
        code, None,
        "an untrusted client certificate was served: {output}"
    );
    let (code, output) = curl(&pki, &master.addr, "/master/state", None);
    assert_eq!(
        code, None,
        "a client without certificate was served: {output}"
    );
    assert_eq!(
        curl(&pki, &master.addr, "/master/state", Some("node")).0,
        Some(200)
    );

    // A forged internal message in plaintext never reaches the master.
    let forged = http_request(
        &master.addr,
        "POST",
        "/master/mesos.internal.RegisterSlaveMessage",
        &[("Libprocess-From", "slave(1)@127.0.0.1:5051")],
        b"garbage",
    );
    assert!(
        forged.is_err(),
        "plaintext message was answered: {:?}",
        forged.map(|r| r.status)
    );
}

#[test]
fn tls_client_verification_refuses_an_untrusted_master() {
    let pki = Pki::new();
    // The master presents a certificate its CA never signed.
    let master_env = vec![
        ("LIBPROCESS_SSL_ENABLED".to_string(), "true".to_string()),
        (
            "LIBPROCESS_SSL_CERT_FILE".to_string(),
            pki.path("stranger.pem"),
        ),
        (
            "LIBPROCESS_SSL_KEY_FILE".to_string(),
            pki.path("stranger.key"),
        ),
    ];
    let mut master = start("mesos-master", &master_env, &[]);
    wait_for(Duration::from_secs(20), "master https", || {
        let out = Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("https://{}/health", master.addr))
            .output();
        out.is_ok_and(|o| o.stdout == b"200")
    });
    let agent_env = pki.env(&[("LIBPROCESS_SSL_VERIFY_CERT", "true")]);
    let mut agent = start(
        "mesos-agent",
        &agent_env,
        &[
            format!("--master={}", master.addr),
            "--hostname=127.0.0.1".to_string(),
            "--registration_backoff_factor=10ms".to_string(),
        ],
    );
    wait_https_health(&pki, &mut agent, None);
    // The agent refuses the master's certificate during the handshake; the
    // master sees the refusal (twice: the agent retried) before we look.
    wait_for(
        Duration::from_secs(20),
        "refused handshakes at the master",
        || {
            master
                .logs()
                .lines()
                .filter(|l| l.contains("TLS handshake with") && l.contains("failed"))
                .count()
                >= 2
        },
    );
    let out = Command::new("curl")
        .args(["-sk"])
        .arg(format!("https://{}/master/state", master.addr))
        .output()
        .expect("curl");
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).expect("state JSON");
    assert_eq!(
        state["slaves"].as_array().map(|a| a.len()),
        Some(0),
        "agent registered with a master whose certificate it cannot verify: {state}\n{}",
        agent.logs()
    );
    let _ = master.process.child.try_wait();
}

#[test]
fn tls_pymesos_runs_a_command_task_with_the_executor_on_tls() {
    let pki = Pki::new();
    // pymesos speaks plaintext only: the master accepts it by downgrade.
    // The agent does not downgrade, so the command executor (which
    // inherits the agent's environment) must reach it over TLS.
    let mut master = start(
        "mesos-master",
        &pki.env(&[("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "true")]),
        &[],
    );
    wait_https_health(&pki, &mut master, None);
    let mut agent = start(
        "mesos-agent",
        &pki.env(&[]),
        &[
            format!("--master={}", master.addr),
            "--hostname=127.0.0.1".to_string(),
            "--resources=cpus:2;mem:1024".to_string(),
            "--registration_backoff_factor=10ms".to_string(),
        ],
    );
    wait_https_health(&pki, &mut agent, None);
    assert!(!plaintext_answers(&agent.addr), "agent answered plaintext");
    wait_for(
        Duration::from_secs(30),
        "agent registration over TLS",
        || {
            http_get(&master.addr, "/master/state")
                .ok()
                .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
                .is_some_and(|s| s["slaves"].as_array().is_some_and(|a| a.len() == 1))
        },
    );
    let mut cmd = Command::new(compat_tests::venv_python());
    cmd.arg(compat_tests::client_script("pymesos_scheduler.py"))
        .arg(format!("--master={}", master.addr))
        .arg("--scenario=command");
    let (events, output, status) = compat_tests::run_client(cmd, Duration::from_secs(90));
    assert!(
        status.success()
            && events
                .iter()
                .any(|e| e["event"] == "update" && e["state"] == "TASK_FINISHED"),
        "{output}\n---- agent ----\n{}",
        agent.logs()
    );
}

/// `curl` POSTing `body` over https without a client certificate: the status
/// code, or `None` when no HTTP answer came (handshake refused).
fn curl_post_without_certificate(
    pki: &Pki,
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (Option<u16>, String) {
    let file = pki.dir.path().join("forged.bin");
    std::fs::write(&file, body).expect("body");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}"])
        .arg("--cacert")
        .arg(pki.path("ca.pem"));
    for (name, value) in headers {
        cmd.arg("-H").arg(format!("{name}: {value}"));
    }
    let out = cmd
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("https://{addr}{path}"))
        .stdin(Stdio::null())
        .output()
        .expect("curl is installed (.ci/setup-tls.sh)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
    let code = code.trim().parse::<u16>().ok().filter(|c| *c != 0);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (code, format!("{body}{stderr}"))
}

fn mesos_execute(env: &[(String, String)], master: &str, extra: &[&str]) -> (String, bool) {
    let mut cmd = Command::new(our_binary("mesos-execute"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg(format!("--master={master}"))
        .arg("--name=tls-execute")
        .arg("--command=echo hi over tls")
        .arg("--resources=cpus:0.1;mem:32")
        .args(extra);
    let (_, output, status) = compat_tests::run_client(cmd, Duration::from_secs(90));
    (output, status.success())
}

/// Issue #10's TLS scenario with client certificates required everywhere:
/// our `mesos-execute` (the Rust scheduler client) runs a task over TLS,
/// authenticating with HTTP Basic, and a forged RunTaskMessage is refused
/// by the agent both in plaintext and over TLS without a client
/// certificate.
#[test]
fn tls_required_client_certs_mesos_execute_runs_a_task_and_forged_run_task_is_refused() {
    use mesos_proto::mesos as v0;
    use mesos_proto::mesos::internal as msgs;
    use prost::{Message, Name};

    let pki = Pki::new();
    let credentials = pki.dir.path().join("credentials.json");
    std::fs::write(
        &credentials,
        r#"{"credentials":[{"principal":"fw","secret":"fw-pass"}]}"#,
    )
    .expect("credentials");
    let env = pki.env(&[("LIBPROCESS_SSL_REQUIRE_CERT", "true")]);
    let mut master = start(
        "mesos-master",
        &env,
        &[
            "--authenticate_http_frameworks=true".to_string(),
            "--http_framework_authenticators=basic".to_string(),
            format!("--credentials={}", credentials.display()),
        ],
    );
    wait_https_health(&pki, &mut master, Some("node"));
    let marker = pki.dir.path().join("forged-task-ran");
    let mut agent = start(
        "mesos-agent",
        &env,
        &[
            format!("--master={}", master.addr),
            "--hostname=127.0.0.1".to_string(),
            "--resources=cpus:2;mem:1024".to_string(),
            "--registration_backoff_factor=10ms".to_string(),
        ],
    );
    wait_https_health(&pki, &mut agent, Some("node"));
    let mut agent_id = String::new();
    wait_for(
        Duration::from_secs(30),
        "agent registration over TLS",
        || {
            let (code, body) = curl(&pki, &master.addr, "/master/state", Some("node"));
            let state: serde_json::Value = if code == Some(200) {
                serde_json::from_str(body.trim()).unwrap_or_default()
            } else {
                serde_json::Value::Null
            };
            agent_id = state["slaves"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            !agent_id.is_empty()
        },
    );
    let https_master = format!("https://{}", master.addr);

    // Without TLS in its environment the client refuses an https address
    // instead of speaking plaintext.
    let (output, ok) = mesos_execute(&[], &https_master, &[]);
    assert!(!ok && output.contains("LIBPROCESS_SSL_ENABLED"), "{output}");
    // Over TLS without a secret: the master's 401 names its realm.
    let (output, ok) = mesos_execute(&env, &https_master, &["--principal=fw"]);
    assert!(
        !ok && output.contains("401") && output.contains("mesos-master-scheduler"),
        "{output}"
    );
    // Over TLS with the credential: the task runs to completion.
    let (output, ok) = mesos_execute(&env, &https_master, &["--principal=fw", "--secret=fw-pass"]);
    assert!(
        ok && output.contains("TASK_RUNNING") && output.contains("TASK_FINISHED"),
        "{output}\n---- master ----\n{}\n---- agent ----\n{}",
        master.logs(),
        agent.logs()
    );

    // A RunTaskMessage "from the master" asking for a command as root.
    let run = msgs::RunTaskMessage {
        framework: v0::FrameworkInfo {
            user: "root".into(),
            name: "forged".into(),
            id: Some(v0::FrameworkId {
                value: "forged-framework".into(),
            }),
            ..Default::default()
        },
        task: v0::TaskInfo {
            name: "forged".into(),
            task_id: v0::TaskId {
                value: "forged".into(),
            },
            slave_id: v0::SlaveId {
                value: agent_id.clone(),
            },
            command: Some(v0::CommandInfo {
                value: Some(format!("touch {}", marker.display())),
                shell: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let path = format!("/slave(1)/{}", msgs::RunTaskMessage::full_name());
    let from = format!("master@{}", master.addr);
    let headers = [("Libprocess-From", from.as_str())];
    let handshakes_failed = |log: &str| {
        log.lines()
            .filter(|l| l.contains("TLS handshake with") && l.contains("failed"))
            .count()
    };
    let failed_before = handshakes_failed(&agent.logs());

    // Plaintext: the connection is closed without an answer.
    let plain = http_request(&agent.addr, "POST", &path, &headers, &run.encode_to_vec());
    assert!(
        plain.is_err(),
        "plaintext forgery answered {:?}",
        plain.map(|r| r.status)
    );
    // TLS without a client certificate: refused in the handshake.
    let (code, output) =
        curl_post_without_certificate(&pki, &agent.addr, &path, &headers, &run.encode_to_vec());
    assert!(
        code.is_none_or(|c| c >= 400),
        "forgery without a client certificate answered {code:?}: {output}"
    );
    // The agent's TLS layer refused that handshake (plaintext refusals are
    // only logged at debug level).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while handshakes_failed(&agent.logs()) <= failed_before {
        assert!(
            std::time::Instant::now() < deadline,
            "no refused handshake in the agent's log:\n{}",
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // No task ran: the agent knows none but mesos-execute's, and the
    // forged command left no trace.
    let (code, body) = curl(&pki, &agent.addr, "/state", Some("node"));
    assert_eq!(code, Some(200), "{body}");
    assert!(
        !body.contains("forged"),
        "the agent knows the forged task: {body}"
    );
    assert!(!marker.exists(), "the forged task ran");
    assert!(
        agent.process.child.try_wait().ok().flatten().is_none(),
        "agent exited:\n{}",
        agent.logs()
    );
}
