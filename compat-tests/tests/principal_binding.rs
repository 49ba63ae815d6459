//! A framework and an agent are bound to the principal they authenticated
//! as, seen from outside with real `mesos-master` and `mesos-agent`
//! processes (upstream `master_authorization_tests.cpp` and
//! `authentication_tests.cpp` scenarios):
//! - agent registration is authorized (`register_agents`) as the principal
//!   the agent proved with CRAM-MD5, and an agent whose connection broke
//!   must authenticate again before it re-registers;
//! - a v0 framework (mesos-go 0.0.6) that authenticated without naming a
//!   principal is registered, and authorized (`register_frameworks`), as
//!   the principal it proved;
//! - a v0 scheduler whose driver went away (its pid's link broke) must
//!   authenticate again before it fails over;
//! - on the v1 scheduler API with HTTP Basic, a SUBSCRIBE naming another
//!   principal and any call sent as another principal than the
//!   framework's are answered 400 with upstream's text, and a
//!   re-subscription cannot change the framework's principal;
//! - nested-container calls on the agent's operator API are authorized
//!   for the request's principal on the executor running the parent
//!   container.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use compat_tests::*;
use mesos_proto::mesos as v0;
use mesos_proto::mesos::internal as msgs;
use prost::Message as _;
use serde_json::{json, Value};

const CREDENTIALS: &str = r#"{"credentials": [
  {"principal": "a", "secret": "a-secret"},
  {"principal": "b", "secret": "b-secret"},
  {"principal": "framework", "secret": "framework-secret"}
]}"#;

fn agent_ports(cluster: &Cluster) -> Vec<(i64, bool)> {
    let slaves = http_get(&cluster.master, "/master/slaves").expect("/master/slaves");
    slaves.json()["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["port"].as_i64()?, s["active"].as_bool()?)))
        .collect()
}

#[test]
fn agent_registration_is_authorized_as_the_authenticated_principal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = write_file(dir.path(), "credentials.json", CREDENTIALS);
    let a = write_file(
        dir.path(),
        "a.json",
        r#"{"principal": "a", "secret": "a-secret"}"#,
    );
    let b = write_file(
        dir.path(),
        "b.json",
        r#"{"principal": "b", "secret": "b-secret"}"#,
    );
    let acls = r#"{"register_agents": [
        {"principals": {"values": ["a"]}, "agents": {"type": "ANY"}},
        {"principals": {"type": "ANY"}, "agents": {"type": "NONE"}}
    ]}"#;
    // Cluster::start waits for the registration of its agent, which
    // authenticates as `a`.
    let mut cluster = Cluster::start(ClusterOptions {
        master_flags: vec![
            "--authenticate_agents=true".to_string(),
            format!("--credentials={}", credentials.display()),
            format!("--acls={acls}"),
        ],
        agent_flags: vec![
            format!("--credential={}", a.display()),
            "--authentication_backoff_factor=100ms".to_string(),
        ],
        ..Default::default()
    });
    let a_port: i64 = cluster
        .agent
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("agent port");
    let a_pid = format!("slave(1)@127.0.0.1:{a_port}");
    assert!(
        cluster.master_log().contains(&format!(
            "Successfully authenticated principal 'a' at {a_pid}"
        )),
        "{}",
        cluster.logs()
    );

    // `b` proves who it is, and is then not authorized to register.
    let (mut b_agent, b_port) =
        cluster.extra_agent(dir.path(), "b", &[format!("--credential={}", b.display())]);
    let b_pid = format!("slave(1)@127.0.0.1:{b_port}");
    cluster.wait_for_master_log(
        "b's refusal",
        &[
            &format!("Successfully authenticated principal 'b' at {b_pid}"),
            &format!(
                "Refusing registration of agent at {b_pid} (127.0.0.1): Not authorized to \
                 register agent providing resources 'cpus:1; mem:512; disk:512; ports:[31000-32000]' \
                 with principal 'b'"
            ),
        ],
    );
    assert!(matches!(b_agent.child.try_wait(), Ok(None)));
    assert_eq!(agent_ports(&cluster), vec![(a_port, true)]);

    // `a`'s process dies: its connection breaks and the master forgets
    // its authentication, so a re-registration from its pid that did not
    // authenticate again is refused.
    let agent_id = cluster.master_state().expect("/master/state")["slaves"][0]["id"]
        .as_str()
        .expect("agent id")
        .to_string();
    cluster.stop_agent("KILL", Duration::from_secs(10));
    cluster.wait_for_master_log(
        "the master to see a's exit",
        &[&format!("Agent {agent_id} at {a_pid} disconnected")],
    );
    let forged = msgs::ReregisterSlaveMessage {
        slave: v0::SlaveInfo {
            hostname: "127.0.0.1".to_string(),
            port: Some(a_port as i32),
            id: Some(v0::SlaveId {
                value: agent_id.clone(),
            }),
            ..Default::default()
        },
        version: Some("1.11.0".to_string()),
        ..Default::default()
    };
    let status = http_request(
        &cluster.master,
        "POST",
        "/master/mesos.internal.ReregisterSlaveMessage",
        &[("Libprocess-From", &a_pid)],
        &forged.encode_to_vec(),
    )
    .expect("post")
    .status;
    assert_eq!(status, 202);
    cluster.wait_for_master_log(
        "the re-registration's refusal",
        &[&format!(
            "Refusing re-registration of agent at {a_pid} because it is not authenticated"
        )],
    );
    assert_eq!(agent_ports(&cluster), vec![(a_port, false)]);

    // Restarted, `a` authenticates again and re-registers (authorized as
    // `a` again).
    cluster.start_agent();
    wait_for(Duration::from_secs(30), "a's re-registration", || {
        agent_ports(&cluster) == vec![(a_port, true)]
    });
    assert_eq!(
        cluster
            .master_log()
            .matches(&format!(
                "Successfully authenticated principal 'a' at {a_pid}"
            ))
            .count(),
        2,
        "{}",
        cluster.logs()
    );
    cluster.assert_alive();
}

#[test]
fn v0_framework_is_registered_and_authorized_as_its_authenticated_principal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = write_file(dir.path(), "credentials.json", CREDENTIALS);
    // Only `framework` may register; a registration without a principal
    // (as a missing FrameworkInfo.principal would be) may not.
    let acls = r#"{"register_frameworks": [
        {"principals": {"values": ["framework"]}, "roles": {"type": "ANY"}},
        {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}
    ]}"#;
    let mut cluster = Cluster::start(ClusterOptions {
        master_flags: vec![
            "--authenticate_frameworks=true".to_string(),
            format!("--credentials={}", credentials.display()),
            format!("--acls={acls}"),
            "--authentication_v0_timeout=5secs".to_string(),
        ],
        ..Default::default()
    });
    let (events, output, status) = run_client(
        mesos_go_command(
            dir.path(),
            &cluster.master,
            &[
                "--principal=framework",
                "--secret=framework-secret",
                "--omit-framework-principal",
            ],
        ),
        Duration::from_secs(90),
    );
    assert!(
        status.success(),
        "mesos-go framework failed ({status}):\n{output}\n{}",
        cluster.logs()
    );
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "update")
        .filter_map(|e| e["state"].as_str())
        .collect();
    assert_eq!(states.last(), Some(&"TASK_FINISHED"), "{events:?}");
    assert!(
        cluster.master_log().contains(
            "Setting 'principal' in FrameworkInfo to 'framework' because the framework \
             authenticated with that principal but did not set it in FrameworkInfo"
        ),
        "{}",
        cluster.logs()
    );
    let state = cluster.master_state().expect("/master/state");
    let all: Vec<Value> = ["frameworks", "completed_frameworks"]
        .iter()
        .flat_map(|k| state[*k].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(all.len(), 1, "{state}");
    assert_eq!(all[0]["principal"], "framework", "{state}");

    // Another proven principal, filled in the same way, is not authorized.
    let (events, output, _status) = run_client(
        mesos_go_command(
            dir.path(),
            &cluster.master,
            &[
                "--principal=a",
                "--secret=a-secret",
                "--omit-framework-principal",
            ],
        ),
        Duration::from_secs(90),
    );
    let error = events
        .iter()
        .find(|e| e["event"] == "error")
        .unwrap_or_else(|| panic!("no error callback: {output}"));
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Not authorized to register framework")),
        "{error}"
    );
    assert!(
        !events.iter().any(|e| e["event"] == "registered"),
        "{events:?}"
    );
    cluster.assert_alive();
}

fn master_framework(cluster: &Cluster, id: &str) -> Option<Value> {
    cluster.master_state()?["frameworks"]
        .as_array()?
        .iter()
        .find(|f| f["id"] == id)
        .cloned()
}

#[test]
fn v0_scheduler_that_failed_over_must_authenticate_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = write_file(dir.path(), "credentials.json", CREDENTIALS);
    let mut cluster = Cluster::start(ClusterOptions {
        master_flags: vec![
            "--authenticate_frameworks=true".to_string(),
            format!("--credentials={}", credentials.display()),
            "--authentication_v0_timeout=5secs".to_string(),
        ],
        ..Default::default()
    });
    let auth = ["--principal=framework", "--secret=framework-secret"];
    let mut first = mesos_go_command(dir.path(), &cluster.master, &auth);
    first.args(["--scenario=failover-first", "--failover-timeout=300"]);
    let (events, output, status) = run_client(first, Duration::from_secs(90));
    assert!(status.success(), "{output}\n{}", cluster.logs());
    let framework_id = events
        .iter()
        .find(|e| e["event"] == "registered")
        .and_then(|e| e["framework_id"].as_str())
        .unwrap_or_else(|| panic!("not registered: {output}"))
        .to_string();

    // The driver exited without unregistering: its pid's link broke.
    wait_for(
        Duration::from_secs(20),
        "the framework to disconnect",
        || master_framework(&cluster, &framework_id).is_some_and(|f| f["active"] == false),
    );
    let old_pid = master_framework(&cluster, &framework_id).expect("framework")["pid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(old_pid.starts_with("scheduler"), "{old_pid}");

    // A failover from the old pid that did not authenticate again is
    // refused, although that pid once proved the principal.
    let forged = msgs::ReregisterFrameworkMessage {
        framework: v0::FrameworkInfo {
            user: "root".to_string(),
            name: "forged".to_string(),
            id: Some(v0::FrameworkId {
                value: framework_id.clone(),
            }),
            principal: Some("framework".to_string()),
            failover_timeout: Some(300.0),
            ..Default::default()
        },
        failover: true,
    };
    let status = http_request(
        &cluster.master,
        "POST",
        "/master/mesos.internal.ReregisterFrameworkMessage",
        &[("Libprocess-From", &old_pid)],
        &forged.encode_to_vec(),
    )
    .expect("post")
    .status;
    assert_eq!(status, 202);
    cluster.wait_for_master_log(
        "the unauthenticated failover's refusal",
        &[&format!(
            "Refusing subscription of framework 'forged' at {old_pid}: Framework at {old_pid} \
             is not authenticated"
        )],
    );
    let framework = master_framework(&cluster, &framework_id).expect("framework");
    assert_eq!(framework["active"], false, "{framework}");
    assert_eq!(framework["pid"], old_pid.as_str(), "{framework}");

    // A new driver that authenticates takes the framework over.
    let mut second = mesos_go_command(dir.path(), &cluster.master, &auth);
    second.args([
        "--scenario=failover-second",
        "--failover-timeout=300",
        &format!("--framework-id={framework_id}"),
    ]);
    let (events, output, status) = run_client(second, Duration::from_secs(90));
    assert!(status.success(), "{output}\n{}", cluster.logs());
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "registered" && e["framework_id"] == framework_id.as_str()),
        "{events:?}"
    );
    assert_eq!(
        cluster
            .master_log()
            .matches("Successfully authenticated principal 'framework' at scheduler")
            .count(),
        2,
        "{}",
        cluster.logs()
    );
    cluster.assert_alive();
}

// ---- v1 scheduler API with HTTP Basic ---------------------------------------

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// A SUBSCRIBE stream: the answer's head, then RecordIO events.
struct Subscription {
    status: u16,
    headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
    pending: Vec<u8>,
}

impl Subscription {
    fn open(master: &str, authorization: &str, body: &Value) -> Subscription {
        let mut s = TcpStream::connect(master).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let body = body.to_string();
        let request = format!(
            "POST /api/v1/scheduler HTTP/1.1\r\nHost: {master}\r\nContent-Type: \
             application/json\r\nAccept: application/json\r\nAuthorization: \
             {authorization}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(request.as_bytes()).expect("write");
        let mut reader = BufReader::new(s);
        let (status, headers) = read_response_head(&mut reader).expect("response head");
        Subscription {
            status,
            headers,
            reader,
            pending: Vec::new(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body of a non-200 answer (Content-Length).
    fn body(&mut self) -> String {
        let len: usize = self
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).expect("body");
        String::from_utf8_lossy(&body).into_owned()
    }

    /// The next event that is not a heartbeat (None when the stream ends).
    fn next_event(&mut self) -> Option<Value> {
        loop {
            if let Some(newline) = self.pending.iter().position(|b| *b == b'\n') {
                let len: usize = std::str::from_utf8(&self.pending[..newline])
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                if self.pending.len() > newline + len {
                    let record: Vec<u8> = self.pending.drain(..=newline + len).collect();
                    let event: Value = serde_json::from_slice(&record[newline + 1..]).ok()?;
                    if event["type"] != "HEARTBEAT" {
                        return Some(event);
                    }
                    continue;
                }
            }
            let size = read_chunk_size(&mut self.reader).ok()?;
            if size == 0 {
                return None;
            }
            let mut chunk = vec![0; size + 2];
            self.reader.read_exact(&mut chunk).ok()?;
            chunk.truncate(size);
            self.pending.extend_from_slice(&chunk);
        }
    }
}

fn subscribe_body(framework_id: Option<&str>, principal: Option<&str>) -> Value {
    let mut info = json!({"user": "root", "name": "principal-binding", "roles": ["*"],
                          "capabilities": [{"type": "MULTI_ROLE"}]});
    let mut call = json!({"type": "SUBSCRIBE"});
    if let Some(id) = framework_id {
        info["id"] = json!({"value": id});
        call["framework_id"] = json!({"value": id});
    }
    if let Some(principal) = principal {
        info["principal"] = json!(principal);
    }
    call["subscribe"] = json!({ "framework_info": info });
    call
}

fn call(master: &str, authorization: &str, stream_id: &str, body: &Value) -> (u16, String) {
    let r = http_request(
        master,
        "POST",
        "/api/v1/scheduler",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", authorization),
            ("Mesos-Stream-Id", stream_id),
        ],
        body.to_string().as_bytes(),
    )
    .expect("call");
    (r.status, r.text())
}

#[test]
fn http_framework_calls_must_come_from_the_framework_principal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = write_file(
        dir.path(),
        "credentials.json",
        r#"{"credentials":[{"principal":"fw","secret":"fw-pass"},{"principal":"ops","secret":"s3cret"}]}"#,
    );
    let mut cluster = Cluster::start(ClusterOptions {
        master_flags: vec![
            "--authenticate_http_frameworks".to_string(),
            "--http_framework_authenticators=basic".to_string(),
            format!("--credentials={}", credentials.display()),
        ],
        ..Default::default()
    });
    let fw = basic("fw", "fw-pass");
    let ops = basic("ops", "s3cret");

    // A SUBSCRIBE claiming another principal than the authenticated one.
    let mut refused = Subscription::open(&cluster.master, &fw, &subscribe_body(None, Some("ops")));
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.body(),
        "Failed to validate scheduler::Call: Authenticated principal 'fw' does not match \
         principal 'ops' set in `FrameworkInfo`"
    );

    // Without a principal the framework gets the authenticated one.
    let mut stream = Subscription::open(&cluster.master, &fw, &subscribe_body(None, None));
    assert_eq!(stream.status, 200);
    let stream_id = stream
        .header("mesos-stream-id")
        .expect("Mesos-Stream-Id")
        .to_string();
    let subscribed = stream.next_event().expect("SUBSCRIBED");
    assert_eq!(subscribed["type"], "SUBSCRIBED", "{subscribed}");
    let framework_id = subscribed["subscribed"]["framework_id"]["value"]
        .as_str()
        .expect("framework id")
        .to_string();
    let state = cluster.master_state().expect("/master/state");
    assert_eq!(state["frameworks"][0]["principal"], "fw", "{state}");

    // Any other call must come from the framework's principal.
    let revive = json!({"type": "REVIVE", "framework_id": {"value": framework_id}});
    assert_eq!(
        call(&cluster.master, &ops, &stream_id, &revive),
        (
            400,
            "Authenticated principal 'ops' does not match principal 'fw' set in `FrameworkInfo`"
                .to_string()
        )
    );
    assert_eq!(
        call(&cluster.master, &fw, &stream_id, &revive),
        (202, String::new())
    );
    // Upstream's order: an unknown framework is reported first.
    let unknown = json!({"type": "REVIVE", "framework_id": {"value": "no-such-framework"}});
    assert_eq!(
        call(&cluster.master, &ops, &stream_id, &unknown),
        (400, "Framework cannot be found".to_string())
    );

    // A re-subscription as another principal cannot take the framework.
    let mut takeover = Subscription::open(
        &cluster.master,
        &ops,
        &subscribe_body(Some(&framework_id), None),
    );
    assert_eq!(takeover.status, 200);
    let error = takeover.next_event().expect("ERROR");
    assert_eq!(error["type"], "ERROR", "{error}");
    assert_eq!(
        error["error"]["message"], "Changing framework's principal is not allowed.",
        "{error}"
    );
    // The framework is still the first stream's, with its principal.
    assert_eq!(
        call(&cluster.master, &fw, &stream_id, &revive),
        (202, String::new())
    );
    let state = cluster.master_state().expect("/master/state");
    assert_eq!(state["frameworks"][0]["principal"], "fw", "{state}");
    assert_eq!(state["frameworks"][0]["active"], true, "{state}");
    cluster.assert_alive();
}

// ---- nested containers on the agent's operator API ------------------------

/// Subscribes a framework (user `root`) that runs one long command task;
/// returns once the task runs, keeping the scheduler in the background.
fn run_sleeping_task(cluster: &Cluster) -> tokio::runtime::Runtime {
    use mesos_proto::mesos::v1::scheduler::event;
    use mesos_proto::mesos::v1::{
        value, CommandInfo, FrameworkInfo, Resource, TaskId, TaskInfo, TaskState,
    };
    use mesos_scheduler_client::{Client, ContentType};
    let scalar = |name: &str, v: f64| Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (running_tx, running_rx) = std::sync::mpsc::channel();
    let master = cluster.master.clone();
    rt.spawn(async move {
        let client = Client::connect(&master, ContentType::Protobuf)
            .await
            .expect("connect");
        let info = FrameworkInfo {
            user: "root".into(),
            name: "nested".into(),
            ..Default::default()
        };
        let mut sub = client.subscribe(info).await.expect("subscribe");
        let mut launched = false;
        while let Some(Ok(ev)) = sub.recv().await {
            if let Some(event::Offers { offers }) = ev.offers {
                for offer in offers {
                    if launched {
                        let _ = client.decline(vec![offer.id.clone()], None).await;
                        continue;
                    }
                    launched = true;
                    let task = TaskInfo {
                        name: "sleeper".into(),
                        task_id: TaskId {
                            value: "sleeper".into(),
                        },
                        agent_id: offer.agent_id.clone(),
                        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
                        command: Some(CommandInfo {
                            value: Some("sleep 600".into()),
                            shell: Some(true),
                            ..Default::default()
                        }),
                        ..Default::default()
                    };
                    client.launch(&offer, vec![task]).await.expect("launch");
                }
            }
            if let Some(event::Update { status }) = ev.update {
                let _ = client.acknowledge(&status).await;
                if status.state == TaskState::TaskRunning as i32 {
                    let _ = running_tx.send(());
                }
            }
        }
    });
    running_rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("task never ran\n{}", cluster.logs()));
    rt
}

fn agent_call(cluster: &Cluster, authorization: &str, body: &Value) -> (u16, String) {
    let r = http_request(
        &cluster.agent,
        "POST",
        "/api/v1",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            ("Authorization", authorization),
        ],
        body.to_string().as_bytes(),
    )
    .expect("agent call");
    (r.status, r.text())
}

#[test]
fn nested_container_calls_are_authorized_on_the_parent_executor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = write_file(
        dir.path(),
        "http_credentials.json",
        r#"{"credentials":[{"principal":"ops","secret":"s3cret"},{"principal":"guest","secret":"g"}]}"#,
    );
    let acls = write_file(
        dir.path(),
        "acls.json",
        r#"{
          "launch_nested_containers_as_user": [
            {"principals": {"values": ["ops"]}, "users": {"values": ["alice"]}},
            {"principals": {"type": "ANY"}, "users": {"type": "NONE"}}],
          "kill_nested_containers": [
            {"principals": {"values": ["ops"]}, "users": {"values": ["root"]}},
            {"principals": {"type": "ANY"}, "users": {"type": "NONE"}}]
        }"#,
    );
    let mut cluster = Cluster::start(ClusterOptions {
        agent_flags: vec![
            "--switch_user=false".to_string(),
            "--authenticate_http_readwrite".to_string(),
            format!("--http_credentials={}", credentials.display()),
            format!("--acls={}", acls.display()),
        ],
        ..Default::default()
    });
    let _scheduler = run_sleeping_task(&cluster);
    let ops = basic("ops", "s3cret");
    let guest = basic("guest", "g");

    let (code, body) = agent_call(&cluster, &ops, &json!({"type": "GET_CONTAINERS"}));
    assert_eq!(code, 200, "{body}");
    let containers: Value = serde_json::from_str(&body).expect("json");
    let parent = containers["get_containers"]["containers"][0]["container_id"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("no container: {containers}"))
        .to_string();

    let launch = |parent: &str, user: Option<&str>| {
        let mut command = json!({"value": "true"});
        if let Some(user) = user {
            command["user"] = json!(user);
        }
        json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
            "container_id": {"value": "nested", "parent": {"value": parent}},
            "command": command}})
    };
    let kill = |parent: &str| {
        json!({"type": "KILL_NESTED_CONTAINER", "kill_nested_container": {
            "container_id": {"value": "nested", "parent": {"value": parent}}}})
    };
    // Authorized, this agent then answers that it runs no nested
    // containers (501); refused, 403.
    let unsupported = |(code, body): (u16, String)| {
        assert_eq!(code, 501, "{body}");
    };
    let forbidden = |(code, body): (u16, String)| {
        assert_eq!(code, 403, "{body}");
    };
    // A launch is judged by the user its command names.
    unsupported(agent_call(&cluster, &ops, &launch(&parent, Some("alice"))));
    forbidden(agent_call(&cluster, &ops, &launch(&parent, Some("bob"))));
    forbidden(agent_call(
        &cluster,
        &guest,
        &launch(&parent, Some("alice")),
    ));
    // A kill by the user of the executor running the parent (the
    // framework's, `root`); under an unknown parent, by the container id.
    unsupported(agent_call(&cluster, &ops, &kill(&parent)));
    forbidden(agent_call(&cluster, &guest, &kill(&parent)));
    forbidden(agent_call(&cluster, &ops, &kill("no-such-container")));
    cluster.assert_alive();
}
