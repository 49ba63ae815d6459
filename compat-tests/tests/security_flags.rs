//! Security flags never fail open: every authentication, authorization and
//! TLS switch of upstream's master and agent that this build does not
//! implement yet makes the real binary refuse to start, naming the flag;
//! the same flags at their harmless defaults still start it, and the ones
//! that are enforced (v0 CRAM-MD5, see `cram_md5_authentication.rs`) start
//! with what they need.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compat_tests::{free_port, http_get, our_binary, Spawned};

/// How a start attempt ended.
enum Outcome {
    /// Exited by itself with this code and stderr.
    Refused(Option<i32>, String),
    /// Still running and answering `/health`.
    Serving,
}

fn start(binary: &str, flags: &[&str], env: &[(&str, &str)]) -> Outcome {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut command = Command::new(our_binary(binary));
    command
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--work_dir={}", work.path().display()));
    if binary == "mesos-agent" {
        // Nobody listens there; the agent serves its endpoints regardless.
        command.arg(format!("--master=127.0.0.1:{}", free_port()));
    }
    let child = command
        .args(flags)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut spawned = Spawned {
        name: binary.to_string(),
        child,
    };
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = spawned.child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = spawned.child.stderr.take() {
                use std::io::Read;
                let _ = pipe.read_to_string(&mut stderr);
            }
            return Outcome::Refused(status.code(), stderr);
        }
        if http_get(&addr, "/health")
            .map(|r| r.status == 200)
            .unwrap_or(false)
        {
            return Outcome::Serving;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{binary} {flags:?} neither refused nor served /health within 30s");
}

fn assert_refused(binary: &str, flags: &[&str], env: &[(&str, &str)], names: &str) {
    match start(binary, flags, env) {
        Outcome::Refused(code, stderr) => {
            assert_eq!(code, Some(1), "{binary} {flags:?} {env:?}: {stderr}");
            assert!(
                stderr.contains(names),
                "{binary} {flags:?} {env:?}: stderr does not name '{names}': {stderr}"
            );
        }
        Outcome::Serving => panic!("{binary} {flags:?} {env:?} started: fails open"),
    }
}

fn assert_serving(binary: &str, flags: &[&str], env: &[(&str, &str)]) {
    match start(binary, flags, env) {
        Outcome::Serving => {}
        Outcome::Refused(code, stderr) => {
            panic!("{binary} {flags:?} {env:?} refused ({code:?}) a harmless value: {stderr}")
        }
    }
}

/// Refused at start: unimplemented, or (HTTP authentication, enforced
/// since) unenforceable as given, e.g. without credentials.
const MASTER_REFUSED: &[(&str, &str)] = &[
    (
        "--authenticate_http_readonly=true",
        "authenticate_http_readonly",
    ),
    (
        "--authenticate_http_readwrite=true",
        "authenticate_http_readwrite",
    ),
    ("--authenticate_http", "authenticate_http_readwrite"),
    (
        "--authenticate_http_frameworks=true",
        "authenticate_http_frameworks",
    ),
    // A credentials file that cannot be read.
    ("--credentials=/etc/mesos/credentials", "credentials"),
    ("--acls={\"register_framework\":[]}", "acls"),
    ("--authorizers=my_authorizer", "authorizers"),
    ("--authenticators=my_authenticator", "authenticators"),
    ("--http_authenticators=my_http", "http_authenticators"),
    (
        "--http_framework_authenticators=digest",
        "http_framework_authenticators",
    ),
];

const AGENT_REFUSED: &[(&str, &str)] = &[
    // A credential file that cannot be read.
    ("--credential=/etc/mesos/credential", "credential"),
    ("--http_credentials=/etc/mesos/http", "http_credentials"),
    (
        "--authenticate_http_readonly=true",
        "authenticate_http_readonly",
    ),
    (
        "--authenticate_http_readwrite",
        "authenticate_http_readwrite",
    ),
    // Executor authentication without a key, or with one that cannot be
    // read (enforced: `executor_authentication.rs`).
    (
        "--authenticate_http_executors=true",
        "authenticate_http_executors",
    ),
    ("--jwt_secret_key=/etc/mesos/jwt", "jwt_secret_key"),
    ("--executor_secret_key=/etc/mesos/jwt", "jwt_secret_key"),
    ("--acls={\"register_framework\":[]}", "acls"),
    ("--authorizer=my_authorizer", "authorizer"),
    ("--authenticatee=my_authenticatee", "authenticatee"),
    ("--http_authenticators=my_http", "http_authenticators"),
];

#[test]
fn master_refuses_every_security_flag_it_cannot_enforce() {
    for (flag, name) in MASTER_REFUSED {
        assert_refused("mesos-master", &[flag], &[], name);
    }
}

#[test]
fn agent_refuses_every_security_flag_it_cannot_enforce() {
    for (flag, name) in AGENT_REFUSED {
        assert_refused("mesos-agent", &[flag], &[], name);
    }
}

#[test]
fn security_flags_from_the_environment_are_refused_too() {
    assert_refused(
        "mesos-master",
        &[],
        &[("MESOS_AUTHENTICATORS", "my_authenticator")],
        "authenticators",
    );
    assert_refused(
        "mesos-agent",
        &[],
        &[("MESOS_CREDENTIAL", "/etc/mesos/credential")],
        "credential",
    );
}

#[test]
fn tls_settings_that_cannot_be_honoured_are_refused_by_master_and_agent() {
    // Enabled TLS is implemented (tests/tls.rs); what it cannot do refuses.
    let cert = [
        ("LIBPROCESS_SSL_ENABLED", "true"),
        ("LIBPROCESS_SSL_CERT_FILE", "/nonexistent/cert.pem"),
        ("LIBPROCESS_SSL_KEY_FILE", "/nonexistent/key.pem"),
    ];
    for binary in ["mesos-master", "mesos-agent"] {
        assert_refused(
            binary,
            &[],
            &[("LIBPROCESS_SSL_ENABLED", "maybe")],
            "LIBPROCESS_SSL_ENABLED",
        );
        assert_refused(
            binary,
            &[],
            &[("LIBPROCESS_SSL_ENABLED", "true")],
            "LIBPROCESS_SSL_KEY_FILE",
        );
        assert_refused(binary, &[], &cert[..], "/nonexistent/cert.pem");
        for (name, value) in [
            ("LIBPROCESS_SSL_CIPHERS", "AES128-SHA:RC4-SHA"),
            ("LIBPROCESS_SSL_ENABLE_TLS_V1_0", "true"),
            ("LIBPROCESS_SSL_ENABLE_SSL_V3", "true"),
            ("LIBPROCESS_SSL_VERIFICATION_DEPTH", "2"),
            ("LIBPROCESS_SSL_ECDH_CURVES", "P-521"),
            ("LIBPROCESS_SSL_NO_SUCH_SETTING", "true"),
        ] {
            let mut env = cert.to_vec();
            env.push((name, value));
            assert_refused(binary, &[], &env, name);
        }
    }
}

#[test]
fn harmless_defaults_still_start_master_and_agent() {
    assert_serving(
        "mesos-master",
        &[
            "--authenticate_agents=false",
            "--authenticate_frameworks=false",
            "--no-authenticate_http_readonly",
            "--authenticate_http_readwrite=false",
            "--authenticate_http_frameworks=false",
            "--authenticators=crammd5",
            "--authorizers=local",
            "--http_authenticators=basic",
            "--authentication_v0_timeout=15secs",
        ],
        &[
            ("LIBPROCESS_SSL_ENABLED", "false"),
            ("LIBPROCESS_SSL_CERT_FILE", "/nonexistent"),
        ],
    );
    assert_serving(
        "mesos-agent",
        &[
            "--authenticate_http_readonly=false",
            "--authenticate_http_readwrite=false",
            "--authenticate_http_executors=false",
            "--authenticatee=crammd5",
            "--authorizer=local",
            "--http_authenticators=basic",
            "--authentication_backoff_factor=1secs",
        ],
        &[("LIBPROCESS_SSL_ENABLED", "0")],
    );
}

#[test]
fn v0_authentication_flags_start_master_and_agent_with_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, "agent secret\nframework secret\n").expect("write");
    let credential = dir.path().join("credential.json");
    std::fs::write(&credential, r#"{"principal":"agent","secret":"secret"}"#).expect("write");
    let credentials_flag = format!("--credentials={}", credentials.display());
    let credential_flag = format!("--credential={}", credential.display());
    assert_serving(
        "mesos-master",
        &[
            "--authenticate_agents",
            "--authenticate_frameworks=true",
            &credentials_flag,
            "--authenticators=crammd5",
            "--authentication_v0_timeout=30secs",
        ],
        &[],
    );
    // Upstream starts without credentials too; every attempt is refused.
    assert_serving("mesos-master", &["--authenticate"], &[]);
    assert_serving(
        "mesos-agent",
        &[
            &credential_flag,
            "--authenticatee=crammd5",
            "--authentication_backoff_factor=2secs",
            "--authentication_timeout_min=10secs",
            "--authentication_timeout_max=2mins",
        ],
        &[],
    );
    // An empty credential file is refused, naming the flag.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").expect("write");
    assert_refused(
        "mesos-agent",
        &[&format!("--credential={}", empty.display())],
        &[],
        "--credential",
    );
}

#[test]
fn executor_authentication_starts_only_with_what_it_needs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("jwt_secret_key");
    std::fs::write(&key, "a-secret-key").expect("write");
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, "ops s3cret\n").expect("write");
    let key_flag = format!("--jwt_secret_key={}", key.display());
    let credentials_flag = format!("--http_credentials={}", credentials.display());
    // Upstream's message, naming both flags.
    assert_refused(
        "mesos-agent",
        &["--authenticate_http_executors"],
        &[],
        "--jwt_secret_key must be specified when --authenticate_http_executors is set to true",
    );
    // Unset `--http_authenticators` means `basic,jwt`, and `basic` needs
    // credentials, as upstream.
    assert_refused(
        "mesos-agent",
        &["--authenticate_http_executors", &key_flag],
        &[],
        "No credentials provided for the default 'basic' HTTP authenticator for realm \
         'mesos-agent-executor'",
    );
    assert_serving(
        "mesos-agent",
        &[
            "--authenticate_http_executors",
            &key_flag,
            &credentials_flag,
        ],
        &[],
    );
    assert_serving(
        "mesos-agent",
        &[
            "--authenticate_http_executors",
            &key_flag,
            "--http_authenticators=jwt",
        ],
        &[],
    );
    // A key alone signs tokens and authenticates nothing.
    assert_serving("mesos-agent", &[&key_flag], &[]);
    assert_refused(
        "mesos-agent",
        &[
            "--authenticate_http_readonly",
            &key_flag,
            "--http_authenticators=jwt,digest",
        ],
        &[],
        "http_authenticators",
    );
}
