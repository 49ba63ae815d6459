//! The local authorizer seen from outside: real `mesos-master` and
//! `mesos-agent` processes with upstream's `--acls` JSON, real `curl` as
//! the operator (HTTP Basic principals), real pymesos frameworks.
//!
//! Every ACL kind the master or agent acts on is checked three ways: an
//! ACL that allows the principal, one that denies it, and a principal no
//! ACL names (which falls back to `permissive`, tried true and false).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use compat_tests::*;
use serde_json::Value;

/// `ops` is granted by every ACL, `guest` denied by every ACL, `other` is
/// named by none.
const CREDENTIALS: &str = r#"{"credentials":[
    {"principal":"ops","secret":"o"},
    {"principal":"guest","secret":"g"},
    {"principal":"other","secret":"x"},
    {"principal":"alice-ops","secret":"a"},
    {"principal":"bob-ops","secret":"b"},
    {"principal":"fw","secret":"f"}]}"#;

fn secret(principal: &str) -> &'static str {
    match principal {
        "ops" => "o",
        "guest" => "g",
        "other" => "x",
        "alice-ops" => "a",
        "bob-ops" => "b",
        _ => "f",
    }
}

/// One request through `curl` as `user` (with its secret): (status, body).
fn curl(
    addr: &str,
    method: &str,
    path: &str,
    user: Option<&str>,
    body: CurlBody<'_>,
) -> (u16, String) {
    let basic = user.map(|u| format!("{u}:{}", secret(u)));
    let answer = fixture::curl(addr, method, path, basic.as_deref(), body);
    (answer.code, answer.body)
}

fn get(addr: &str, path: &str, user: &str) -> (u16, Value) {
    let (code, body) = curl(addr, "GET", path, Some(user), CurlBody::None);
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn v1(addr: &str, user: &str, call: &str) -> (u16, Value) {
    let (code, body) = curl(addr, "POST", "/api/v1", Some(user), CurlBody::Json(call));
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    fixture::write_file(dir, name, text).display().to_string()
}

/// A master with HTTP Basic on both operator realms and `acls`, plus
/// optionally one agent with the same credentials and `agent_acls`.
struct Secured {
    master: String,
    agent: String,
    work: tempfile::TempDir,
    procs: Vec<Spawned>,
}

impl Secured {
    fn master(acls: &str, extra: &[String]) -> Secured {
        let work = tempfile::tempdir().expect("tempdir");
        let credentials = write(work.path(), "credentials.json", CREDENTIALS);
        let acls = write(work.path(), "acls.json", acls);
        let port = free_port();
        let log = std::fs::File::create(work.path().join("master.log")).expect("log");
        let child = Command::new(our_binary("mesos-master"))
            .arg("--ip=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!(
                "--work_dir={}",
                work.path().join("master").display()
            ))
            .arg("--authenticate_http_readonly")
            .arg("--authenticate_http_readwrite")
            .arg(format!("--credentials={credentials}"))
            .arg(format!("--acls={acls}"))
            .args(extra)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn mesos-master");
        let master = format!("127.0.0.1:{port}");
        let procs = vec![Spawned {
            name: "mesos-master".into(),
            child,
        }];
        wait_for(Duration::from_secs(20), "master /health", || {
            http_get(&master, "/health").is_ok_and(|r| r.status == 200)
        });
        Secured {
            master,
            agent: String::new(),
            work,
            procs,
        }
    }

    /// Starts an agent; waits for it to register unless `expect_refusal`.
    fn agent(&mut self, acls: Option<&str>, expect_refusal: bool) {
        self.agent_with(
            acls,
            expect_refusal,
            "cpus:4;mem:4096;disk:4096;ports:[31000-32000]",
        );
    }

    /// [`Secured::agent`] with the agent's `--resources`.
    fn agent_with(&mut self, acls: Option<&str>, expect_refusal: bool, resources: &str) {
        let credentials = write(self.work.path(), "http_credentials.json", CREDENTIALS);
        let port = free_port();
        let log = std::fs::File::create(self.work.path().join("agent.log")).expect("log");
        let mut cmd = Command::new(our_binary("mesos-agent"));
        cmd.arg(format!("--master={}", self.master))
            .arg("--ip=127.0.0.1")
            .arg("--hostname=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!(
                "--work_dir={}",
                self.work.path().join("agent").display()
            ))
            .arg(format!("--resources={resources}"))
            .arg("--registration_backoff_factor=10ms")
            .arg("--switch_user=false")
            .arg("--authenticate_http_readonly")
            .arg("--authenticate_http_readwrite")
            .arg(format!("--http_credentials={credentials}"));
        if let Some(acls) = acls {
            cmd.arg(format!(
                "--acls={}",
                write(self.work.path(), "agent_acls.json", acls)
            ));
        }
        let child = cmd
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn mesos-agent");
        self.procs.push(Spawned {
            name: "mesos-agent".into(),
            child,
        });
        self.agent = format!("127.0.0.1:{port}");
        if expect_refusal {
            return;
        }
        wait_for(Duration::from_secs(30), "agent registration", || {
            self.agents() == 1
        });
    }

    fn agents(&self) -> usize {
        let (_, state) = get(&self.master, "/master/slaves", "ops");
        state["slaves"].as_array().map_or(0, Vec::len)
    }

    fn master_log(&self) -> String {
        std::fs::read_to_string(self.work.path().join("master.log")).unwrap_or_default()
    }

    /// Runs the pymesos framework of `compat-tests/clients` with
    /// `FrameworkInfo.user` = `user` and the declared `principal`.
    fn pymesos(&self, scenario: &str, user: &str, principal: &str, extra: &[&str]) -> Vec<Value> {
        let mut cmd = Command::new(venv_python());
        cmd.arg(client_script("pymesos_scheduler.py"))
            .arg(format!("--master={}", self.master))
            .arg(format!("--scenario={scenario}"))
            .arg(format!("--framework-principal={principal}"))
            .arg("--timeout=30")
            .args(extra)
            .env("USER", user);
        let (events, _output, _status) = run_client(cmd, Duration::from_secs(60));
        events
    }
}

/// An ACL kind, the name of its object field, and a request it governs:
/// (method, path, body) for the principal.
type Request = fn(&str) -> (&'static str, String, Option<String>);

fn form(resources_field: &str, resources: &str) -> Option<String> {
    Some(format!("F|slaveId=nope|{resources_field}={resources}"))
}

fn reserved(who: &str) -> String {
    format!(
        r#"[{{"name":"cpus","type":"SCALAR","scalar":{{"value":1}},
             "reservations":[{{"type":"DYNAMIC","role":"r","principal":"{who}"}}]}}]"#
    )
}

fn volume(who: &str) -> String {
    format!(
        r#"[{{"name":"disk","type":"SCALAR","scalar":{{"value":8}},
             "reservations":[{{"type":"DYNAMIC","role":"r","principal":"{who}"}}],
             "disk":{{"persistence":{{"id":"v-{who}","principal":"{who}"}},
                      "volume":{{"mode":"RW","container_path":"data"}}}}}}]"#
    )
}

fn v1_call(body: String) -> (&'static str, String, Option<String>) {
    ("POST", "/api/v1".to_string(), Some(body))
}

const MASTER_KINDS: &[(&str, &str, Request)] = &[
    ("view_flags", "flags", |_| {
        ("GET", "/master/flags".into(), None)
    }),
    ("get_endpoints", "paths", |_| {
        ("GET", "/metrics/snapshot".into(), None)
    }),
    ("update_quotas", "roles", |who| {
        (
            "POST",
            "/master/quota".into(),
            Some(format!(
                r#"{{"role":"q-{who}","force":true,"guarantee":[{{"name":"cpus","type":"SCALAR","scalar":{{"value":1}}}}]}}"#
            )),
        )
    }),
    ("update_weights", "roles", |who| {
        (
            "PUT",
            "/master/weights".into(),
            Some(format!(r#"[{{"role":"w-{who}","weight":2.0}}]"#)),
        )
    }),
    // The maintenance kinds are per machine: see
    // `maintenance_schedule_is_filtered_and_updates_need_every_machine`.
    ("set_log_level", "level", |_| {
        v1_call(
            r#"{"type":"SET_LOGGING_LEVEL","set_logging_level":{"level":0,"duration":{"nanoseconds":1000000}}}"#
                .into(),
        )
    }),
    ("mark_agents_gone", "agents", |_| {
        v1_call(
            r#"{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"nope"}}}"#.into(),
        )
    }),
    ("drain_agents", "agents", |_| {
        v1_call(r#"{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"nope"}}}"#.into())
    }),
    ("deactivate_agents", "agents", |_| {
        v1_call(
            r#"{"type":"DEACTIVATE_AGENT","deactivate_agent":{"agent_id":{"value":"nope"}}}"#
                .into(),
        )
    }),
    ("reactivate_agents", "agents", |_| {
        v1_call(
            r#"{"type":"REACTIVATE_AGENT","reactivate_agent":{"agent_id":{"value":"nope"}}}"#
                .into(),
        )
    }),
    ("reserve_resources", "roles", |who| {
        (
            "POST",
            "/master/reserve".into(),
            form("resources", &reserved(who)),
        )
    }),
    ("unreserve_resources", "reserver_principals", |who| {
        (
            "POST",
            "/master/unreserve".into(),
            form("resources", &reserved(who)),
        )
    }),
    ("create_volumes", "roles", |who| {
        (
            "POST",
            "/master/create-volumes".into(),
            form("volumes", &volume(who)),
        )
    }),
    ("destroy_volumes", "creator_principals", |who| {
        (
            "POST",
            "/master/destroy-volumes".into(),
            form("volumes", &volume(who)),
        )
    }),
    ("resize_volumes", "roles", |who| {
        let volume = volume(who);
        let volume = volume.trim().trim_start_matches('[').trim_end_matches(']');
        v1_call(format!(
            r#"{{"type":"GROW_VOLUME","grow_volume":{{"agent_id":{{"value":"nope"}},"volume":{volume},
                "addition":{{"name":"disk","type":"SCALAR","scalar":{{"value":8}},
                  "reservations":[{{"type":"DYNAMIC","role":"r","principal":"{who}"}}]}}}}}}"#
        ))
    }),
];

/// `ops` allowed, `guest` denied, for every kind given.
fn allow_ops_deny_guest(permissive: bool, kinds: &[(&str, &str)]) -> String {
    let rules: Vec<String> = kinds
        .iter()
        .map(|(kind, object)| {
            format!(
                r#""{kind}": [
                    {{"principals": {{"values": ["ops"]}}, "{object}": {{"type": "ANY"}}}},
                    {{"principals": {{"values": ["guest"]}}, "{object}": {{"type": "NONE"}}}}]"#
            )
        })
        .collect();
    format!(r#"{{"permissive": {permissive}, {}}}"#, rules.join(",\n"))
}

fn send(addr: &str, user: &str, request: (&'static str, String, Option<String>)) -> (u16, String) {
    let (method, path, body) = request;
    match body.as_deref() {
        None => curl(addr, method, &path, Some(user), CurlBody::None),
        Some(form) if form.starts_with("F|") => {
            let pairs: Vec<(&str, String)> = form[2..]
                .split('|')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k, v.to_string()))
                .collect();
            curl(addr, method, &path, Some(user), CurlBody::Form(&pairs))
        }
        Some(json) => curl(addr, method, &path, Some(user), CurlBody::Json(json)),
    }
}

#[test]
fn every_master_acl_kind_allows_denies_and_falls_back_to_permissive() {
    let kinds: Vec<(&str, &str)> = MASTER_KINDS.iter().map(|(k, o, _)| (*k, *o)).collect();
    for permissive in [true, false] {
        let cluster = Secured::master(&allow_ops_deny_guest(permissive, &kinds), &[]);
        for (kind, _, request) in MASTER_KINDS {
            for (who, allowed) in [("ops", true), ("guest", false), ("other", permissive)] {
                let (code, body) = send(&cluster.master, who, request(who));
                assert!(code != 0 && code != 401, "{kind} as {who}: {code} {body}");
                if allowed {
                    assert_ne!(
                        code, 403,
                        "{kind} as {who} (permissive {permissive}): {body}"
                    );
                } else {
                    assert_eq!(
                        code, 403,
                        "{kind} as {who} (permissive {permissive}): {body}"
                    );
                }
            }
        }
    }
}

#[test]
fn agent_acl_kinds_allow_deny_and_fall_back_to_permissive() {
    // The agent's own kinds: flags, endpoints, logging, containers.
    type AgentRequest = fn() -> (&'static str, String, Option<String>);
    const AGENT_KINDS: &[(&str, &str, AgentRequest)] = &[
        ("view_flags", "flags", || ("GET", "/flags".into(), None)),
        ("get_endpoints", "paths", || {
            ("GET", "/monitor/statistics".into(), None)
        }),
        ("set_log_level", "level", || {
            v1_call(
                r#"{"type":"SET_LOGGING_LEVEL","set_logging_level":{"level":0,"duration":{"nanoseconds":1000000}}}"#
                    .into(),
            )
        }),
        ("launch_nested_containers_as_user", "users", || {
            v1_call(
                r#"{"type":"LAUNCH_NESTED_CONTAINER","launch_nested_container":{"container_id":{"value":"c","parent":{"value":"p"}}}}"#
                    .into(),
            )
        }),
        ("kill_nested_containers", "users", || {
            v1_call(
                r#"{"type":"KILL_NESTED_CONTAINER","kill_nested_container":{"container_id":{"value":"c","parent":{"value":"p"}}}}"#
                    .into(),
            )
        }),
    ];
    let kinds: Vec<(&str, &str)> = AGENT_KINDS.iter().map(|(k, o, _)| (*k, *o)).collect();
    for permissive in [true, false] {
        let acls = allow_ops_deny_guest(permissive, &kinds);
        // The master lets the agent in; the agent enforces its own ACLs.
        let mut cluster = Secured::master(r#"{"permissive": true}"#, &[]);
        cluster.agent(Some(&acls), false);
        for (kind, _, request) in AGENT_KINDS {
            for (who, allowed) in [("ops", true), ("guest", false), ("other", permissive)] {
                let (code, body) = send(&cluster.agent, who, request());
                assert!(code != 0 && code != 401, "{kind} as {who}: {code} {body}");
                if allowed {
                    assert_ne!(
                        code, 403,
                        "{kind} as {who} (permissive {permissive}): {body}"
                    );
                } else {
                    assert_eq!(
                        code, 403,
                        "{kind} as {who} (permissive {permissive}): {body}"
                    );
                }
            }
        }
    }
}

#[test]
fn register_agents_acl_refuses_an_agent_and_permissive_default_admits_it() {
    let mut refused = Secured::master(
        r#"{"register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "NONE"}}]}"#,
        &[],
    );
    refused.agent(None, true);
    wait_for(
        Duration::from_secs(20),
        "the refusal in the master log",
        || {
            refused
                .master_log()
                .contains("Not authorized to register agent")
        },
    );
    assert_eq!(refused.agents(), 0);

    // Unauthenticated agents have no principal: an ACL naming one does not
    // apply, and `permissive: false` then refuses.
    let mut strict = Secured::master(
        r#"{"permissive": false, "register_agents": [{"principals": {"values": ["agent"]}, "agents": {"type": "ANY"}}]}"#,
        &[],
    );
    strict.agent(None, true);
    wait_for(
        Duration::from_secs(20),
        "the refusal in the master log",
        || {
            strict
                .master_log()
                .contains("Not authorized to register agent")
        },
    );
    assert_eq!(strict.agents(), 0);

    let mut admitted = Secured::master(
        r#"{"register_agents": [{"principals": {"values": ["agent"]}, "agents": {"type": "NONE"}}]}"#,
        &[],
    );
    admitted.agent(None, false);
    assert_eq!(admitted.agents(), 1);
}

fn updates(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "update")
        .map(|e| {
            (
                e["state"].as_str().unwrap_or_default().to_string(),
                e["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn registered_id(events: &[Value]) -> Option<String> {
    events
        .iter()
        .find(|e| e["event"] == "registered")
        .and_then(|e| e["framework_id"].as_str())
        .map(str::to_string)
}

#[test]
fn frameworks_register_launch_and_are_torn_down_as_acls_say() {
    let acls = r#"{"permissive": false,
        "register_frameworks": [
            {"principals": {"values": ["fw-denied"]}, "roles": {"type": "NONE"}},
            {"principals": {"type": "ANY"}, "roles": {"values": ["*"]}}],
        "run_tasks": [
            {"principals": {"values": ["fw-norun"]}, "users": {"type": "NONE"}},
            {"principals": {"type": "ANY"}, "users": {"values": ["alice"]}}],
        "teardown_frameworks": [
            {"principals": {"values": ["ops"]}, "framework_principals": {"values": ["fw-ok"]}},
            {"principals": {"values": ["guest"]}, "framework_principals": {"type": "NONE"}}],
        "view_frameworks": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
        "view_tasks": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
        "view_executors": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
        "view_roles": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
        "view_flags": [{"principals": {"type": "ANY"}, "flags": {"type": "ANY"}}],
        "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
        "get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"type": "ANY"}}]}"#;
    let mut cluster = Secured::master(acls, &[]);
    cluster.agent(None, false);

    // REGISTER_FRAMEWORK refused: an ERROR event, no framework.
    let events = cluster.pymesos("command", "alice", "fw-denied", &[]);
    assert!(registered_id(&events).is_none(), "{events:?}");
    let error = events
        .iter()
        .find(|e| e["event"] == "error")
        .unwrap_or_else(|| panic!("no error event: {events:?}"));
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Not authorized to register framework"),
        "{error}"
    );

    // RUN_TASK refused for this principal: TASK_ERROR, unauthorized.
    let events = cluster.pymesos("command", "alice", "fw-norun", &[]);
    assert!(registered_id(&events).is_some(), "{events:?}");
    assert_eq!(
        updates(&events),
        [(
            "TASK_ERROR".to_string(),
            "REASON_TASK_UNAUTHORIZED".to_string()
        )]
    );

    // RUN_TASK as a user no ACL grants, with permissive false: refused.
    let events = cluster.pymesos("command", "carol", "fw-ok", &[]);
    assert_eq!(
        updates(&events)[0].1,
        "REASON_TASK_UNAUTHORIZED",
        "{events:?}"
    );

    // Allowed: the task runs to completion.
    let events = cluster.pymesos("command", "alice", "fw-ok", &[]);
    assert_eq!(
        updates(&events).last().map(|u| u.0.as_str()),
        Some("TASK_FINISHED"),
        "{events:?}"
    );

    // TEARDOWN_FRAMEWORK: a framework that stays after its scheduler left.
    let events = cluster.pymesos("disconnect", "alice", "fw-ok", &["--failover-timeout=600"]);
    let id = registered_id(&events).expect("registered");
    let teardown = |who: &str| {
        curl(
            &cluster.master,
            "POST",
            "/master/teardown",
            Some(who),
            CurlBody::Form(&[("frameworkId", id.clone())]),
        )
        .0
    };
    assert_eq!(teardown("guest"), 403);
    assert_eq!(teardown("other"), 403);
    assert_eq!(teardown("ops"), 200);
    let (_, frameworks) = get(&cluster.master, "/master/frameworks", "ops");
    assert_eq!(frameworks["frameworks"].as_array().map(Vec::len), Some(0));
}

/// curl posting an operator SUBSCRIBE as `user`, reading the stream for
/// at most `seconds`.
fn subscribe_with_curl(addr: &str, user: &str, seconds: u32) -> Command {
    let mut curl = Command::new("curl");
    curl.args(["-s", "-N", "--max-time", &seconds.to_string(), "-X", "POST"])
        .arg("-u")
        .arg(format!("{user}:{}", secret(user)))
        .args([
            "-H",
            "Content-Type: application/json",
            "-H",
            "Accept: application/json",
            "--data-binary",
            r#"{"type":"SUBSCRIBE"}"#,
        ])
        .arg(format!("http://{addr}/api/v1"))
        .stdin(Stdio::null());
    curl
}

/// The first event of an operator SUBSCRIBE stream (RecordIO over a
/// response that stays open; curl stops reading after a few seconds).
fn operator_subscribed(addr: &str, user: &str) -> Value {
    let out = subscribe_with_curl(addr, user, 3).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let Some((length, rest)) = text.split_once('\n') else {
        return Value::Null;
    };
    let length: usize = length.trim().parse().unwrap_or(0);
    rest.get(..length)
        .and_then(|record| serde_json::from_str(record).ok())
        .unwrap_or(Value::Null)
}

fn framework_users(value: &Value, key: &str) -> BTreeSet<String> {
    value[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["user"].as_str().map(str::to_string))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn state_endpoints_show_each_principal_only_what_it_may_view() {
    // alice-ops sees alice's frameworks and tasks, bob-ops bob's, ops all;
    // guest sees no task and no flags; other falls back to permissive.
    let views = |kind: &str| {
        format!(
            r#""{kind}": [
                {{"principals": {{"values": ["alice-ops"]}}, "users": {{"values": ["alice"]}}}},
                {{"principals": {{"values": ["alice-ops"]}}, "users": {{"type": "NONE"}}}},
                {{"principals": {{"values": ["bob-ops"]}}, "users": {{"values": ["bob"]}}}},
                {{"principals": {{"values": ["bob-ops"]}}, "users": {{"type": "NONE"}}}},
                {{"principals": {{"values": ["guest"]}}, "users": {{"type": "NONE"}}}}]"#
        )
    };
    let acls = format!(
        r#"{{"permissive": true, {}, {}, {}, {}, {},
            "view_flags": [{{"principals": {{"values": ["guest"]}}, "flags": {{"type": "NONE"}}}}],
            "view_roles": [{{"principals": {{"values": ["bob-ops"]}}, "roles": {{"type": "NONE"}}}}],
            "get_quotas": [{{"principals": {{"values": ["bob-ops"]}}, "roles": {{"type": "NONE"}}}}]}}"#,
        views("view_frameworks"),
        views("view_tasks"),
        views("view_executors"),
        views("access_sandboxes"),
        views("view_containers"),
    );
    let mut cluster = Secured::master(&acls, &[]);
    cluster.agent(Some(&acls), false);
    let alice = cluster.pymesos("disconnect", "alice", "fw", &["--failover-timeout=600"]);
    let bob = cluster.pymesos("disconnect", "bob", "fw", &["--failover-timeout=600"]);
    let alice_id = registered_id(&alice).expect("alice registered");
    let bob_id = registered_id(&bob).expect("bob registered");
    let m = &cluster.master;

    // /master/state and /master/frameworks.
    for (who, users) in [
        ("ops", set(&["alice", "bob"])),
        ("other", set(&["alice", "bob"])),
        ("alice-ops", set(&["alice"])),
        ("bob-ops", set(&["bob"])),
        ("guest", set(&[])),
    ] {
        let (code, state) = get(m, "/master/state", who);
        assert_eq!(code, 200);
        assert_eq!(
            framework_users(&state, "frameworks"),
            users,
            "/state as {who}"
        );
        let (_, frameworks) = get(m, "/master/frameworks", who);
        assert_eq!(
            framework_users(&frameworks, "frameworks"),
            users,
            "/frameworks as {who}"
        );
        let (_, summary) = get(m, "/master/state-summary", who);
        assert_eq!(
            summary["frameworks"].as_array().map(Vec::len),
            Some(users.len()),
            "/state-summary as {who}"
        );
        let (_, tasks) = get(m, "/master/tasks", who);
        let task_frameworks: BTreeSet<String> = tasks["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["framework_id"].as_str().map(str::to_string))
            .collect();
        let expected: BTreeSet<String> = users
            .iter()
            .map(|u| {
                if u == "alice" {
                    alice_id.clone()
                } else {
                    bob_id.clone()
                }
            })
            .collect();
        assert_eq!(task_frameworks, expected, "/tasks as {who}");
        // v1 GET_FRAMEWORKS and GET_TASKS.
        let (_, answer) = v1(m, who, r#"{"type":"GET_FRAMEWORKS"}"#);
        let v1_users: BTreeSet<String> = answer["get_frameworks"]["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["framework_info"]["user"].as_str().map(str::to_string))
            .collect();
        assert_eq!(v1_users, users, "GET_FRAMEWORKS as {who}");
        let (_, answer) = v1(m, who, r#"{"type":"GET_TASKS"}"#);
        let count = answer["get_tasks"]["tasks"].as_array().map_or(0, Vec::len);
        assert_eq!(count, users.len(), "GET_TASKS as {who}: {answer}");
        // The operator event stream starts from the same filtered state.
        let subscribed = operator_subscribed(m, who);
        let stream_users: BTreeSet<String> = subscribed["subscribed"]["get_state"]
            ["get_frameworks"]["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["framework_info"]["user"].as_str().map(str::to_string))
            .collect();
        assert_eq!(stream_users, users, "SUBSCRIBED as {who}: {subscribed}");
        // The agent's v1 reads.
        let (_, answer) = v1(&cluster.agent, who, r#"{"type":"GET_FRAMEWORKS"}"#);
        let agent_users: BTreeSet<String> = answer["get_frameworks"]["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["framework_info"]["user"].as_str().map(str::to_string))
            .collect();
        assert_eq!(
            agent_users, users,
            "agent GET_FRAMEWORKS as {who}: {answer}"
        );
        let (_, answer) = v1(&cluster.agent, who, r#"{"type":"GET_TASKS"}"#);
        let count = answer["get_tasks"]["launched_tasks"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(count, users.len(), "agent GET_TASKS as {who}: {answer}");
        // The agent's /containers shows only the viewable frameworks'.
        let (code, containers) = get(&cluster.agent, "/containers", who);
        assert_eq!(code, 200);
        let container_frameworks: BTreeSet<String> = containers
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["framework_id"].as_str().map(str::to_string))
            .collect();
        assert_eq!(container_frameworks, expected, "agent /containers as {who}");
        // The agent's /state filters the same way.
        let (code, state) = get(&cluster.agent, "/state", who);
        assert_eq!(code, 200);
        assert_eq!(
            framework_users(&state, "frameworks"),
            users,
            "agent /state as {who}"
        );
    }

    // Flags: hidden from guest in /state, 403 on /flags and GET_FLAGS.
    let (_, state) = get(m, "/master/state", "guest");
    assert!(state.get("flags").is_none());
    let (_, state) = get(m, "/master/state", "ops");
    assert!(state["flags"].is_object());
    assert_eq!(get(m, "/master/flags", "guest").0, 403);
    assert_eq!(v1(m, "guest", r#"{"type":"GET_FLAGS"}"#).0, 403);
    assert_eq!(get(&cluster.agent, "/flags", "guest").0, 403);
    assert_eq!(get(&cluster.agent, "/flags", "ops").0, 200);

    // Roles and quotas: bob-ops may view none.
    let weights = r#"[{"role":"analytics","weight":2.0}]"#;
    assert_eq!(
        curl(
            m,
            "PUT",
            "/master/weights",
            Some("ops"),
            CurlBody::Json(weights)
        )
        .0,
        200
    );
    let quota = r#"{"role":"analytics","force":true,"guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}"#;
    assert_eq!(
        curl(
            m,
            "POST",
            "/master/quota",
            Some("ops"),
            CurlBody::Json(quota)
        )
        .0,
        200
    );
    let roles = |who: &str| -> BTreeSet<String> {
        get(m, "/master/roles", who).1["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect()
    };
    // The frameworks' role.
    assert!(roles("ops").contains("*"), "{:?}", roles("ops"));
    assert!(roles("bob-ops").is_empty());
    let (_, w) = get(m, "/master/weights", "bob-ops");
    assert_eq!(w.as_array().map(Vec::len), Some(0), "{w}");
    let (_, w) = get(m, "/master/weights", "ops");
    assert_eq!(w.as_array().map(Vec::len), Some(1), "{w}");
    let (_, q) = get(m, "/master/quota", "bob-ops");
    assert!(!q.to_string().contains("analytics"), "{q}");
    let (_, q) = get(m, "/master/quota", "ops");
    assert!(q.to_string().contains("analytics"), "{q}");

    // Reservations to a role bob-ops may not view leave its agent view.
    let agent_id = get(m, "/master/slaves", "ops").1["slaves"][0]["id"]
        .as_str()
        .expect("agent id")
        .to_string();
    let (code, body) = curl(
        m,
        "POST",
        "/master/reserve",
        Some("ops"),
        CurlBody::Form(&[("slaveId", agent_id), ("resources", reserved("ops"))]),
    );
    assert_eq!(code, 202, "{body}");
    let reserved_roles = |who: &str| -> Vec<String> {
        let (_, slaves) = get(m, "/master/slaves", who);
        slaves["slaves"][0]["reserved_resources"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(reserved_roles("ops"), ["r"]);
    assert!(reserved_roles("bob-ops").is_empty());

    // Sandboxes: each principal reads only its user's.
    let sandbox = |fw: &str, events: &[Value]| {
        let task = events
            .iter()
            .find(|e| e["event"] == "launch")
            .and_then(|e| e["task_id"].as_str())
            .expect("launched")
            .to_string();
        format!(
            "/files/browse?path={}",
            urlencode(&format!("/frameworks/{fw}/executors/{task}/runs/latest"))
        )
    };
    let alice_sandbox = sandbox(&alice_id, &alice);
    let bob_sandbox = sandbox(&bob_id, &bob);
    assert_eq!(get(&cluster.agent, &alice_sandbox, "alice-ops").0, 200);
    assert_eq!(get(&cluster.agent, &alice_sandbox, "bob-ops").0, 403);
    assert_eq!(get(&cluster.agent, &bob_sandbox, "bob-ops").0, 200);
    assert_eq!(get(&cluster.agent, &bob_sandbox, "guest").0, 403);
    assert_eq!(get(&cluster.agent, &bob_sandbox, "other").0, 200);
}

#[test]
fn get_endpoints_acls_apply_to_unauthenticated_requests_as_any() {
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let start = |acls: &str| {
        let child = Command::new(our_binary("mesos-master"))
            .arg("--ip=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--work_dir={}", work.path().display()))
            .arg(format!("--acls={acls}"))
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
                name: "mesos-master".into(),
                child,
            },
        )
    };
    let code = |addr: &str, path: &str| curl(addr, "GET", path, None, CurlBody::None).0;
    let (addr, master) =
        start(r#"{"get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"type": "NONE"}}]}"#);
    assert_eq!(code(&addr, "/metrics/snapshot"), 403);
    assert_eq!(code(&addr, "/master/state"), 200);
    drop(master);

    // An ACL for a named principal says nothing about an anonymous
    // request, which then falls back to permissive.
    let (addr, _master) = start(
        r#"{"get_endpoints": [{"principals": {"values": ["ops"]}, "paths": {"type": "NONE"}}]}"#,
    );
    assert_eq!(code(&addr, "/metrics/snapshot"), 200);
}

#[test]
fn malformed_acls_refuse_to_start() {
    for (acls, names) in [
        (r#"{"get_endpoint": []}"#, "get_endpoint"),
        (
            r#"{"get_endpoints": [{"principals": {"type": "ANY"}}]}"#,
            "paths",
        ),
        (r#"{"permissive": "no"}"#, "permissive"),
        (
            r#"{"start_maintenances": [{"principals": {"type": "ANY"}, "machines": {"values": ["h1"]}}]}"#,
            "ACL.StartMaintenance type must be either NONE or ANY",
        ),
        (
            r#"{"get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"values": ["/master/state"]}}]}"#,
            "Path: '/master/state' is not an authorizable path",
        ),
        ("/nonexistent/acls.json", "/nonexistent/acls.json"),
    ] {
        for binary in ["mesos-master", "mesos-agent"] {
            let work = tempfile::tempdir().expect("tempdir");
            let mut cmd = Command::new(our_binary(binary));
            cmd.arg("--ip=127.0.0.1")
                .arg(format!("--port={}", free_port()))
                .arg(format!("--work_dir={}", work.path().display()))
                .arg(format!("--acls={acls}"));
            if binary == "mesos-agent" {
                cmd.arg("--master=127.0.0.1:1");
            }
            let out = cmd.output().expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{binary} {acls}: {stderr}");
            assert!(stderr.contains(names), "{binary} {acls}: {stderr}");
        }
    }
}

// Upstream `_drainAgent`: a drain that ends in marking the agent gone also
// needs MARK_AGENT_GONE; without `mark_gone`, DRAIN_AGENT alone suffices.
#[test]
fn drain_with_mark_gone_also_needs_mark_agents_gone() {
    let acls = r#"{"permissive": true,
        "drain_agents": [{"principals": {"values": ["ops"]}, "agents": {"type": "ANY"}}],
        "mark_agents_gone": [{"principals": {"values": ["ops"]}, "agents": {"type": "NONE"}}]}"#;
    let cluster = Secured::master(acls, &[]);
    let drain = |mark_gone: bool| {
        v1(
            &cluster.master,
            "ops",
            &format!(
                r#"{{"type":"DRAIN_AGENT","drain_agent":{{"agent_id":{{"value":"nope"}},"mark_gone":{mark_gone}}}}}"#
            ),
        )
        .0
    };
    assert_eq!(drain(true), 403);
    // Authorized: the unknown agent is the master's 400.
    assert_eq!(drain(false), 400);
}

/// A window of one hour for `hosts`, starting far in the future.
fn window(hosts: &[&str]) -> String {
    let ids: Vec<String> = hosts
        .iter()
        .map(|h| format!(r#"{{"hostname":"{h}"}}"#))
        .collect();
    format!(
        r#"{{"machine_ids":[{}],"unavailability":{{"start":{{"nanoseconds":4000000000000000000}},
            "duration":{{"nanoseconds":3600000000000}}}}}}"#,
        ids.join(",")
    )
}

fn hostnames<'a>(ids: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    ids.into_iter()
        .filter_map(|id| id["hostname"].as_str().map(str::to_string))
        .collect()
}

/// The hostnames of the schedule's windows, window by window.
fn windows(schedule: &Value) -> Vec<BTreeSet<String>> {
    schedule["windows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| hostnames(w["machine_ids"].as_array().into_iter().flatten()))
        .collect()
}

/// (draining, down) hostnames of a maintenance status.
fn status_hosts(status: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    (
        hostnames(
            status["draining_machines"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| &m["id"]),
        ),
        hostnames(status["down_machines"].as_array().into_iter().flatten()),
    )
}

// Upstream `Master::Http` maintenance handlers with the local authorizer:
// reads leave out the machines the principal may not see (with machine
// ACLs only ANY or NONE, all or none of them), a change is refused (403)
// unless every machine it names is approved, and that is asked only after
// the request was found valid.
#[test]
fn maintenance_schedule_is_filtered_and_updates_need_every_machine() {
    let kinds = [
        "get_maintenance_schedules",
        "update_maintenance_schedules",
        "start_maintenances",
        "stop_maintenances",
        "get_maintenance_statuses",
    ];
    let kinds: Vec<(&str, &str)> = kinds.iter().map(|k| (*k, "machines")).collect();
    for permissive in [true, false] {
        let cluster = Secured::master(&allow_ops_deny_guest(permissive, &kinds), &[]);
        let m = &cluster.master;
        let post = |path: &str, who: &str, body: &str| {
            let (code, body) = curl(m, "POST", path, Some(who), CurlBody::Json(body));
            assert_ne!(code, 401, "{path} as {who}: {body}");
            code
        };
        let schedule = format!(
            r#"{{"windows":[{},{}]}}"#,
            window(&["h1"]),
            window(&["h2", "h3"])
        );
        let scheduled = vec![set(&["h1"]), set(&["h2", "h3"])];

        // UPDATE: refused for a principal not approved for the machines;
        // the schedule stays as it was.
        assert_eq!(post("/master/maintenance/schedule", "ops", &schedule), 200);
        assert_eq!(
            post("/master/maintenance/schedule", "guest", &schedule),
            403
        );
        let other = if permissive { 200 } else { 403 };
        assert_eq!(
            post("/master/maintenance/schedule", "other", &schedule),
            other
        );
        let v1_update = format!(
            r#"{{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{{"schedule":{schedule}}}}}"#
        );
        assert_eq!(v1(m, "guest", &v1_update).0, 403);
        assert_eq!(v1(m, "ops", &v1_update).0, 200);
        // Invalid and refused: the validation answers first.
        let invalid = format!(r#"{{"windows":[{}]}}"#, window(&["h1", "h1"]));
        assert_eq!(post("/master/maintenance/schedule", "guest", &invalid), 400);

        // GET schedule and status, legacy and v1: all machines or none.
        for (who, sees) in [("ops", true), ("guest", false), ("other", permissive)] {
            let (code, got) = get(m, "/master/maintenance/schedule", who);
            assert_eq!(code, 200, "{who}");
            let expected = if sees { scheduled.clone() } else { Vec::new() };
            assert_eq!(windows(&got), expected, "schedule as {who}: {got}");
            let (code, got) = v1(m, who, r#"{"type":"GET_MAINTENANCE_SCHEDULE"}"#);
            assert_eq!(code, 200, "{who}");
            assert_eq!(
                windows(&got["get_maintenance_schedule"]["schedule"]),
                expected,
                "GET_MAINTENANCE_SCHEDULE as {who}: {got}"
            );
            let draining = if sees {
                set(&["h1", "h2", "h3"])
            } else {
                set(&[])
            };
            let (code, got) = get(m, "/master/maintenance/status", who);
            assert_eq!(code, 200, "{who}");
            assert_eq!(
                status_hosts(&got),
                (draining.clone(), set(&[])),
                "{who}: {got}"
            );
            let (_, got) = v1(m, who, r#"{"type":"GET_MAINTENANCE_STATUS"}"#);
            assert_eq!(
                status_hosts(&got["get_maintenance_status"]["status"]),
                (draining, set(&[])),
                "GET_MAINTENANCE_STATUS as {who}: {got}"
            );
        }

        // START (machine/down) and STOP (machine/up), legacy and v1.
        let h1 = r#"[{"hostname":"h1"}]"#;
        assert_eq!(post("/master/machine/down", "guest", h1), 403);
        // Not scheduled: invalid before any authorization.
        assert_eq!(
            post("/master/machine/down", "guest", r#"[{"hostname":"h9"}]"#),
            400
        );
        assert_eq!(post("/master/machine/down", "other", h1), other);
        if !permissive {
            assert_eq!(post("/master/machine/down", "ops", h1), 200);
        }
        let start =
            r#"{"type":"START_MAINTENANCE","start_maintenance":{"machines":[{"hostname":"h2"}]}}"#;
        assert_eq!(v1(m, "guest", start).0, 403);
        assert_eq!(v1(m, "ops", start).0, 200);
        let (_, got) = get(m, "/master/maintenance/status", "ops");
        assert_eq!(
            status_hosts(&got),
            (set(&["h3"]), set(&["h1", "h2"])),
            "{got}"
        );
        let (_, got) = get(m, "/master/maintenance/status", "guest");
        assert_eq!(status_hosts(&got), (set(&[]), set(&[])), "{got}");

        assert_eq!(post("/master/machine/up", "guest", h1), 403);
        assert_eq!(post("/master/machine/up", "other", h1), other);
        if !permissive {
            assert_eq!(post("/master/machine/up", "ops", h1), 200);
        }
        let stop =
            r#"{"type":"STOP_MAINTENANCE","stop_maintenance":{"machines":[{"hostname":"h2"}]}}"#;
        assert_eq!(v1(m, "guest", stop).0, 403);
        assert_eq!(v1(m, "ops", stop).0, 200);
        let (_, got) = get(m, "/master/maintenance/schedule", "ops");
        assert_eq!(windows(&got), vec![set(&["h3"])], "{got}");

        // Clearing the schedule changes every machine it held: a principal
        // refused them may not (upstream asks only about the machines the
        // new schedule names, so it would allow this).
        assert_eq!(
            post("/master/maintenance/schedule", "guest", r#"{"windows":[]}"#),
            403
        );
        let (_, got) = get(m, "/master/maintenance/schedule", "ops");
        assert_eq!(windows(&got), vec![set(&["h3"])], "{got}");
        assert_eq!(
            post("/master/maintenance/schedule", "other", r#"{"windows":[]}"#),
            other
        );
        if !permissive {
            assert_eq!(
                post("/master/maintenance/schedule", "ops", r#"{"windows":[]}"#),
                200
            );
            let (_, got) = get(m, "/master/maintenance/schedule", "ops");
            assert!(windows(&got).is_empty(), "{got}");
        }
    }
}

/// An operator SUBSCRIBE stream read by `curl` into a file, decoded on
/// demand (JSON records).
struct OperatorStream {
    out: std::path::PathBuf,
    _curl: Spawned,
}

impl OperatorStream {
    fn start(addr: &str, user: &str, dir: &Path) -> OperatorStream {
        let out = dir.join(format!("stream-{user}.recordio"));
        let file = std::fs::File::create(&out).expect("stream file");
        let child = subscribe_with_curl(addr, user, 120)
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .expect("curl");
        OperatorStream {
            out,
            _curl: Spawned {
                name: "curl".into(),
                child,
            },
        }
    }

    /// The complete records so far.
    fn events(&self) -> Vec<Value> {
        let bytes = std::fs::read(&self.out).unwrap_or_default();
        let mut rest = bytes.as_slice();
        let mut events = Vec::new();
        while let Some(newline) = rest.iter().position(|b| *b == b'\n') {
            let Some(length) = std::str::from_utf8(&rest[..newline])
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
            else {
                break;
            };
            let Some(record) = rest.get(newline + 1..newline + 1 + length) else {
                break;
            };
            events.push(serde_json::from_slice(record).unwrap_or(Value::Null));
            rest = &rest[newline + 1 + length..];
        }
        events
    }

    fn of_type(&self, kind: &str) -> Option<Value> {
        self.events().into_iter().find(|e| e["type"] == kind)
    }
}

/// The roles resources are reserved to (the innermost of each), with `*`
/// for unreserved ones.
fn reserved_roles<'a>(resources: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    resources
        .into_iter()
        .map(|r| {
            r["reservations"]
                .as_array()
                .and_then(|list| list.last())
                .and_then(|last| last["role"].as_str())
                // The pre-refinement form.
                .or(r["role"].as_str())
                .unwrap_or("*")
                .to_string()
        })
        .collect()
}

fn agent_roles(agent: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    (
        reserved_roles(agent["total_resources"].as_array().into_iter().flatten()),
        reserved_roles(
            agent["agent_info"]["resources"]
                .as_array()
                .into_iter()
                .flatten(),
        ),
    )
}

// Upstream `Master::Subscribers::Subscriber::send`: AGENT_ADDED carries
// only the resources of roles the subscriber may view (VIEW_ROLE), as its
// GET_STATE shows them.
#[test]
fn operator_stream_hides_reservations_of_unviewable_roles() {
    let acls = r#"{"permissive": true,
        "view_roles": [
            {"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}},
            {"principals": {"values": ["alice-ops"]}, "roles": {"values": ["r"]}},
            {"principals": {"values": ["alice-ops"]}, "roles": {"type": "NONE"}},
            {"principals": {"values": ["guest"]}, "roles": {"type": "NONE"}}]}"#;
    let mut cluster = Secured::master(acls, &[]);
    let streams: Vec<(&str, OperatorStream)> = ["ops", "alice-ops", "guest", "other"]
        .into_iter()
        .map(|who| {
            (
                who,
                OperatorStream::start(&cluster.master, who, cluster.work.path()),
            )
        })
        .collect();
    wait_for(
        Duration::from_secs(20),
        "SUBSCRIBED on every stream",
        || {
            streams
                .iter()
                .all(|(_, s)| s.of_type("SUBSCRIBED").is_some())
        },
    );
    cluster.agent_with(None, false, "cpus:2;cpus(r):1;cpus(s):1;mem:1024;disk:1024");
    wait_for(
        Duration::from_secs(20),
        "AGENT_ADDED on every stream",
        || {
            streams
                .iter()
                .all(|(_, s)| s.of_type("AGENT_ADDED").is_some())
        },
    );
    for (who, stream) in &streams {
        let expected = match *who {
            "ops" | "other" => set(&["*", "r", "s"]),
            "alice-ops" => set(&["*", "r"]),
            _ => set(&["*"]),
        };
        let added = stream.of_type("AGENT_ADDED").expect("AGENT_ADDED");
        let streamed = agent_roles(&added["agent_added"]["agent"]);
        assert_eq!(
            streamed,
            (expected.clone(), expected.clone()),
            "{who}: {added}"
        );
        // The same as the principal's GET_STATE.
        let (code, state) = v1(&cluster.master, who, r#"{"type":"GET_STATE"}"#);
        assert_eq!(code, 200, "{who}");
        let agent = &state["get_state"]["get_agents"]["agents"][0];
        assert_eq!(agent_roles(agent), streamed, "GET_STATE as {who}: {state}");
    }
}
