//! The master's v1 Operator API (`POST /api/v1`) against real `mesos-master`
//! and `mesos-agent` processes with pymesos frameworks driving tasks:
//! every GET call in JSON and protobuf, upstream's status codes for bad
//! input, the SUBSCRIBE event stream, and pymesos's own operator client.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use compat_tests::*;
use mesos_proto::mesos::v1::master::{Event, Response};
use prost::Message as _;
use serde_json::{json, Value};

const JSON: &str = "application/json";
const PROTOBUF: &str = "application/x-protobuf";

fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    http_request(addr, "POST", path, headers, body).expect("POST")
}

/// A call in JSON with no `Accept` (JSON, like pymesos).
fn call_json(addr: &str, call: &Value) -> RawResponse {
    post(
        addr,
        "/api/v1",
        &[("Content-Type", JSON)],
        call.to_string().as_bytes(),
    )
}

/// The same call sent and answered in protobuf, decoded and re-encoded as
/// JSON so both encodings are checked by the same assertions.
fn call_protobuf(addr: &str, call: &Value) -> Value {
    let bytes = mesos_proto::json::decode::<mesos_proto::mesos::v1::master::Call>(
        call.to_string().as_bytes(),
    )
    .expect("call")
    .encode_to_vec();
    let r = post(
        addr,
        "/master/api/v1",
        &[("Content-Type", PROTOBUF), ("Accept", PROTOBUF)],
        &bytes,
    );
    assert_eq!(r.status, 200, "{call}: {}", r.text());
    assert_eq!(r.header("content-type"), Some(PROTOBUF));
    let response = Response::decode(&r.body[..]).expect("protobuf Response");
    mesos_proto::json::to_value(&response)
}

fn get(addr: &str, kind: &str) -> Value {
    let r = call_json(addr, &json!({ "type": kind }));
    assert_eq!(r.status, 200, "{kind}: {}", r.text());
    assert_eq!(r.header("content-type"), Some(JSON), "{kind}");
    let value = r.json();
    assert_eq!(value["type"], kind, "{value}");
    value
}

/// A SUBSCRIBE stream read in a thread; records decoded to JSON values.
struct Subscriber {
    events: Arc<Mutex<Vec<Value>>>,
}

impl Subscriber {
    fn start(addr: &str, accept: &'static str) -> Subscriber {
        let mut stream = TcpStream::connect(addr).expect("connect");
        let (content_type, body) = if accept == JSON {
            (JSON, br#"{"type":"SUBSCRIBE"}"#.to_vec())
        } else {
            (PROTOBUF, vec![0x08, 18])
        };
        let head = format!(
            "POST /api/v1/operator HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
             Accept: {accept}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("write");
        stream.write_all(&body).expect("write");
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_response_head(&mut reader).expect("head");
        assert_eq!(status, 200);
        assert!(headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v == accept));
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        std::thread::spawn(move || {
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let Ok(size) = read_chunk_size(&mut reader) else {
                    return;
                };
                if size == 0 {
                    return;
                }
                let mut chunk = vec![0; size + 2];
                if reader.read_exact(&mut chunk).is_err() {
                    return;
                }
                pending.extend_from_slice(&chunk[..size]);
                // RecordIO: "<length>\n<record>".
                while let Some(newline) = pending.iter().position(|b| *b == b'\n') {
                    let length: usize = std::str::from_utf8(&pending[..newline])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .expect("record length");
                    if pending.len() < newline + 1 + length {
                        break;
                    }
                    let record: Vec<u8> = pending.drain(..newline + 1 + length).collect();
                    let record = &record[newline + 1..];
                    let value = if accept == JSON {
                        serde_json::from_slice(record).expect("JSON event")
                    } else {
                        mesos_proto::json::to_value(&Event::decode(record).expect("event"))
                    };
                    sink.lock().expect("lock").push(value);
                }
            }
        });
        Subscriber { events }
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().expect("lock").clone()
    }

    fn types(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_string())
            .filter(|t| t != "HEARTBEAT")
            .collect()
    }
}

fn pymesos(cluster: &Cluster, scenario: &str, extra: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_scheduler.py"))
        .arg(format!("--master={}", cluster.master))
        .arg(format!("--scenario={scenario}"))
        .args(extra);
    let (events, output, status) = run_client(cmd, Duration::from_secs(90));
    assert!(status.success(), "{scenario}: {output}\n{}", cluster.logs());
    events
}

fn task_states(updates: &[Value]) -> Vec<(String, String)> {
    updates
        .iter()
        .filter(|e| e["type"] == "TASK_UPDATED")
        .map(|e| {
            (
                e["task_updated"]["status"]["task_id"]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["task_updated"]["state"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn second_agent(cluster: &Cluster) -> (Spawned, String) {
    let port = free_port();
    let dir = cluster.work_dir.join("agent2");
    let log = std::fs::File::create(cluster.work_dir.join("agent2.log")).expect("log");
    let child = Command::new(our_binary("mesos-agent"))
        .arg(format!("--master={}", cluster.master))
        .arg("--ip=127.0.0.1")
        .arg("--hostname=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--work_dir={}", dir.display()))
        .arg("--resources=cpus:1;mem:256;disk:256")
        .arg("--registration_backoff_factor=10ms")
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn mesos-agent");
    (
        Spawned {
            name: "mesos-agent (2)".into(),
            child,
        },
        format!("127.0.0.1:{port}"),
    )
}

#[test]
fn operator_api_serves_state_streams_events_and_refuses_bad_input() {
    let cluster = Cluster::start(ClusterOptions::default());
    let addr = cluster.master.clone();
    let json_stream = Subscriber::start(&addr, JSON);
    let proto_stream = Subscriber::start(&addr, PROTOBUF);

    // SUBSCRIBED carries the full state (the first agent) and the interval.
    wait_for(Duration::from_secs(10), "SUBSCRIBED", || {
        json_stream.events().len() >= 2 && proto_stream.events().len() >= 2
    });
    for stream in [&json_stream, &proto_stream] {
        let events = stream.events();
        assert_eq!(events[0]["type"], "SUBSCRIBED");
        assert_eq!(events[0]["subscribed"]["heartbeat_interval_seconds"], 15.0);
        let agents = &events[0]["subscribed"]["get_state"]["get_agents"]["agents"];
        assert_eq!(agents.as_array().map(Vec::len), Some(1), "{}", events[0]);
        assert_eq!(events[1]["type"], "HEARTBEAT");
    }

    // AGENT_ADDED for a new agent.
    let (agent2, _agent2_addr) = second_agent(&cluster);
    wait_for(Duration::from_secs(30), "second agent", || {
        cluster.registered_agents() >= 2
    });

    // A killed task, a finished task (each framework then torn down, so
    // completed), and a running task whose framework stays.
    pymesos(&cluster, "kill", &[]);
    pymesos(&cluster, "command", &[]);
    pymesos(&cluster, "disconnect", &["--failover-timeout=600"]);

    // A RUNNING update that reaches the master after the task finished
    // carries the latest state, so the finished task may skip RUNNING.
    wait_for(Duration::from_secs(30), "task and framework events", || {
        let removed = json_stream
            .types()
            .iter()
            .filter(|t| *t == "FRAMEWORK_REMOVED")
            .count();
        let states = task_states(&json_stream.events());
        let count = |state: &str| states.iter().filter(|(_, s)| s == state).count();
        removed >= 2
            && count("TASK_KILLED") == 1
            && count("TASK_FINISHED") == 1
            && count("TASK_RUNNING") >= 2
    });

    // ---- GET calls, JSON and protobuf ------------------------------------
    let health = get(&addr, "GET_HEALTH");
    assert_eq!(health["get_health"]["healthy"], true);
    let flags = get(&addr, "GET_FLAGS");
    let flag_list = flags["get_flags"]["flags"].as_array().expect("flags");
    assert!(flag_list
        .iter()
        .any(|f| f["name"] == "max_operator_event_stream_subscribers" && f["value"] == "1000"));
    let version = get(&addr, "GET_VERSION");
    assert!(version["get_version"]["version_info"]["version"].is_string());
    assert!(version["get_version"]["version_info"]["build_time"].is_number());
    let metrics = get(&addr, "GET_METRICS");
    assert!(metrics["get_metrics"]["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .any(|m| m["name"] == "master/elected" && m["value"].is_number()));
    let master = get(&addr, "GET_MASTER");
    assert!(master["get_master"]["master_info"]["id"].is_string());
    assert!(master["get_master"]["start_time"].is_number());
    assert!(master["get_master"]["elected_time"].is_number());

    let tasks = get(&addr, "GET_TASKS");
    let state_of = |list: &Value| -> Vec<String> {
        list.as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t["state"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(state_of(&tasks["get_tasks"]["tasks"]), ["TASK_RUNNING"]);
    let mut completed = state_of(&tasks["get_tasks"]["completed_tasks"]);
    completed.sort();
    assert_eq!(completed, ["TASK_FINISHED", "TASK_KILLED"], "{tasks}");
    let running = &tasks["get_tasks"]["tasks"][0];
    for key in [
        "task_id",
        "framework_id",
        "agent_id",
        "name",
        "resources",
        "statuses",
    ] {
        assert!(!running[key].is_null(), "task without {key}: {running}");
    }
    assert!(running["task_id"]["value"].is_string());

    let frameworks = get(&addr, "GET_FRAMEWORKS");
    let live = &frameworks["get_frameworks"]["frameworks"];
    assert_eq!(live.as_array().map(Vec::len), Some(1), "{frameworks}");
    assert!(live[0]["framework_info"]["id"]["value"].is_string());
    assert_eq!(live[0]["connected"], false);
    assert_eq!(live[0]["active"], false);
    assert!(live[0]["registered_time"]["nanoseconds"].is_number());
    let done = &frameworks["get_frameworks"]["completed_frameworks"];
    assert_eq!(done.as_array().map(Vec::len), Some(2), "{frameworks}");
    assert!(done[0]["unregistered_time"]["nanoseconds"].is_number());

    let agents = get(&addr, "GET_AGENTS");
    let agent_list = agents["get_agents"]["agents"].as_array().expect("agents");
    assert_eq!(agent_list.len(), 2);
    for agent in agent_list {
        assert_eq!(agent["active"], true);
        assert!(agent["agent_info"]["id"]["value"].is_string());
        assert!(agent["agent_info"]["hostname"].is_string());
        assert!(agent["pid"]
            .as_str()
            .is_some_and(|p| p.starts_with("slave(1)@")));
        assert!(agent["registered_time"]["nanoseconds"].is_number());
        assert!(agent["total_resources"].is_array());
        assert!(agent["version"].is_string());
    }

    let state = get(&addr, "GET_STATE");
    for key in ["get_tasks", "get_executors", "get_frameworks", "get_agents"] {
        assert!(
            state["get_state"][key].is_object(),
            "GET_STATE without {key}"
        );
    }
    assert_eq!(state["get_state"]["get_tasks"], tasks["get_tasks"]);
    assert!(get(&addr, "GET_EXECUTORS")["get_executors"].is_object());
    assert!(get(&addr, "GET_OPERATIONS")["get_operations"].is_object());
    let roles = get(&addr, "GET_ROLES");
    assert!(roles["get_roles"]["roles"]
        .as_array()
        .is_some_and(|r| r.iter().any(|role| role["name"] == "*")));
    assert!(get(&addr, "GET_WEIGHTS")["get_weights"].is_object());
    assert!(get(&addr, "GET_QUOTA")["get_quota"]["status"].is_object());
    assert!(get(&addr, "GET_MAINTENANCE_STATUS")["get_maintenance_status"]["status"].is_object());
    assert!(
        get(&addr, "GET_MAINTENANCE_SCHEDULE")["get_maintenance_schedule"]["schedule"].is_object()
    );
    assert_eq!(
        get(&addr, "GET_LOGGING_LEVEL")["get_logging_level"]["level"],
        0
    );

    // Protobuf answers carry the same content.
    for kind in [
        "GET_TASKS",
        "GET_AGENTS",
        "GET_FRAMEWORKS",
        "GET_HEALTH",
        "GET_VERSION",
    ] {
        let protobuf = call_protobuf(&addr, &json!({ "type": kind }));
        assert_eq!(protobuf, get(&addr, kind), "{kind}");
    }
    assert_eq!(
        call_protobuf(&addr, &json!({"type": "GET_STATE"}))["get_state"]["get_tasks"],
        tasks["get_tasks"]
    );

    // ---- bad input -----------------------------------------------------------
    let r = http_request(&addr, "GET", "/api/v1", &[], &[]).expect("GET");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = post(&addr, "/api/v1", &[], br#"{"type":"GET_HEALTH"}"#);
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "Expecting 'Content-Type' to be present");
    let r = post(&addr, "/api/v1", &[("Content-Type", "text/plain")], b"x");
    assert_eq!(r.status, 415);
    let r = post(&addr, "/api/v1", &[("Content-Type", JSON)], b"{not json");
    assert_eq!(r.status, 400);
    assert!(
        r.text().starts_with("Failed to parse body into JSON"),
        "{}",
        r.text()
    );
    let r = post(
        &addr,
        "/api/v1",
        &[("Content-Type", PROTOBUF)],
        &[0xff, 0xff],
    );
    assert_eq!(r.status, 400);
    let r = call_json(&addr, &json!({"type": "TEARDOWN"}));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "Failed to validate master::Call: Expecting 'teardown' to be present"
    );
    let r = post(
        &addr,
        "/api/v1?jsonp=ignored",
        &[("Content-Type", JSON), ("Accept", "text/html")],
        br#"{"type":"GET_HEALTH"}"#,
    );
    assert_eq!(r.status, 406);
    let r = call_json(&addr, &json!({"type": "UNKNOWN"}));
    assert_eq!(r.status, 501);
    let r = call_json(
        &addr,
        &json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": "nope"}}}),
    );
    assert_eq!(r.status, 400);
    let r = call_json(
        &addr,
        &json!({"type": "READ_FILE", "read_file": {"path": "/nowhere", "offset": 0}}),
    );
    assert_eq!(r.status, 404);
    let r = call_json(
        &addr,
        &json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": "nope"}}}),
    );
    assert_eq!(r.status, 404);
    // ---- Operations reach the owners of reservations, quota, weights and
    // maintenance; draining is refused as a call this master cannot apply.
    let agent_id = agent_list[1]["agent_info"]["id"]["value"]
        .as_str()
        .expect("present")
        .to_string();
    let reserved = |cpus: f64| {
        json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus},
                "reservations": [{"type": "DYNAMIC", "role": "ops"}]}])
    };
    let r = call_json(
        &addr,
        &json!({"type": "RESERVE_RESOURCES", "reserve_resources": {
            "agent_id": {"value": agent_id}, "resources": reserved(0.1)}}),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let reservations = get(&addr, "GET_AGENTS")["get_agents"]["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .find(|a| a["agent_info"]["id"]["value"] == agent_id.as_str())
        .expect("the agent")["total_resources"]
        .to_string();
    assert!(reservations.contains("\"ops\""), "{reservations}");
    let r = call_json(
        &addr,
        &json!({"type": "RESERVE_RESOURCES", "reserve_resources": {
            "agent_id": {"value": agent_id}, "resources": reserved(1000.0)}}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let r = call_json(
        &addr,
        &json!({"type": "UNRESERVE_RESOURCES", "unreserve_resources": {
            "agent_id": {"value": agent_id}, "resources": reserved(0.1)}}),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let r = call_json(
        &addr,
        &json!({"type": "UPDATE_QUOTA", "update_quota": {"force": true, "quota_configs": [
            {"role": "ops", "guarantees": {"cpus": {"value": 0.5}},
             "limits": {"cpus": {"value": 1.0}}}]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let quota = get(&addr, "GET_QUOTA");
    assert_eq!(
        quota["get_quota"]["status"]["configs"][0]["limits"]["cpus"]["value"], 1.0,
        "{quota}"
    );
    let r = call_json(
        &addr,
        &json!({"type": "UPDATE_WEIGHTS", "update_weights": {
            "weight_infos": [{"role": "ops", "weight": 2.5}]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let weights = get(&addr, "GET_WEIGHTS");
    assert_eq!(
        weights["get_weights"]["weight_infos"][0],
        json!({"weight": 2.5, "role": "ops"})
    );
    let r = call_json(
        &addr,
        &json!({"type": "UPDATE_MAINTENANCE_SCHEDULE", "update_maintenance_schedule": {
            "schedule": {"windows": [{
                "machine_ids": [{"hostname": "maintained-host"}],
                "unavailability": {"start": {"nanoseconds": 1}}}]}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let schedule = get(&addr, "GET_MAINTENANCE_SCHEDULE");
    assert_eq!(
        schedule["get_maintenance_schedule"]["schedule"]["windows"][0]["machine_ids"][0]
            ["hostname"],
        "maintained-host"
    );
    // Draining is answered by the master (the scenarios are in
    // `agent_draining.rs`); an agent it does not know is upstream's 400.
    let r = call_json(
        &addr,
        &json!({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": "no-such-agent"}}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("Unknown agent"), "{}", r.text());

    // ---- TEARDOWN and MARK_AGENT_GONE work for real -------------------------
    let fw = live[0]["framework_info"]["id"]["value"]
        .as_str()
        .expect("present");
    let r = call_json(
        &addr,
        &json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": fw}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The agent without the running task (the small one, if it has none).
    let gone = agent_list
        .iter()
        .map(|a| {
            a["agent_info"]["id"]["value"]
                .as_str()
                .expect("present")
                .to_string()
        })
        .find(|id| *id != running["agent_id"]["value"])
        .expect("an agent without the running task");
    let r = call_json(
        &addr,
        &json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": gone}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    wait_for(Duration::from_secs(20), "AGENT_REMOVED", || {
        [&json_stream, &proto_stream].iter().all(|s| {
            s.types().iter().any(|t| t == "AGENT_REMOVED")
                && s.types()
                    .iter()
                    .filter(|t| *t == "FRAMEWORK_REMOVED")
                    .count()
                    >= 3
        })
    });

    // ---- the event sequence, the same in both encodings ---------------------
    let json_events: Vec<Value> = json_stream
        .events()
        .into_iter()
        .filter(|e| e["type"] != "HEARTBEAT")
        .collect();
    let proto_events: Vec<Value> = proto_stream
        .events()
        .into_iter()
        .filter(|e| e["type"] != "HEARTBEAT")
        .collect();
    assert_eq!(json_stream.types(), proto_stream.types());
    assert_eq!(json_events[1..], proto_events[1..]);
    let types = json_stream.types();
    let first = |t: &str| types.iter().position(|x| x == t).unwrap_or(usize::MAX);
    assert_eq!(types[0], "SUBSCRIBED");
    assert!(first("AGENT_ADDED") < first("FRAMEWORK_ADDED"), "{types:?}");
    assert!(first("FRAMEWORK_ADDED") < first("TASK_ADDED"), "{types:?}");
    assert!(first("TASK_ADDED") < first("TASK_UPDATED"), "{types:?}");
    assert!(
        first("TASK_UPDATED") < first("FRAMEWORK_REMOVED"),
        "{types:?}"
    );
    assert_eq!(
        types.last().map(String::as_str),
        Some("AGENT_REMOVED"),
        "{types:?}"
    );
    let added = json_events
        .iter()
        .find(|e| e["type"] == "AGENT_ADDED")
        .expect("present");
    assert!(added["agent_added"]["agent"]["agent_info"]["id"]["value"].is_string());
    let task = json_events
        .iter()
        .find(|e| e["type"] == "TASK_ADDED")
        .expect("present");
    assert_eq!(task["task_added"]["task"]["state"], "TASK_STAGING");
    // The killed task: RUNNING then KILLED, each once.
    let states = task_states(&json_events);
    let killed_id = states
        .iter()
        .find(|(_, s)| s == "TASK_KILLED")
        .map(|(id, _)| id.clone())
        .expect("TASK_KILLED");
    let of_killed: Vec<&str> = states
        .iter()
        .filter(|(id, _)| *id == killed_id)
        .map(|(_, s)| s.as_str())
        .filter(|s| *s != "TASK_STARTING")
        .collect();
    assert_eq!(of_killed, ["TASK_RUNNING", "TASK_KILLED"], "{states:?}");
    let removed = json_events
        .iter()
        .find(|e| e["type"] == "AGENT_REMOVED")
        .expect("present");
    assert_eq!(removed["agent_removed"]["agent_id"]["value"], gone);

    // The agent marked gone is told to shut down, so only the master is
    // checked here.
    drop(agent2);
    let health = http_get(&addr, "/health").expect("master /health");
    assert_eq!(health.status, 200, "{}", cluster.logs());
}

#[test]
fn pymesos_operator_client_gets_every_answer() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    pymesos(&cluster, "command", &[]);
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_operator.py"))
        .arg(format!("--master={}", cluster.master));
    let (lines, output, status) = run_client(cmd, Duration::from_secs(60));
    assert!(status.success(), "{output}");
    let answer = |call: &str| -> Value {
        lines
            .iter()
            .find(|l| l["call"] == call)
            .unwrap_or_else(|| panic!("no {call} in {output}"))
            .clone()
    };
    for call in [
        "GET_HEALTH",
        "GET_FLAGS",
        "GET_VERSION",
        "GET_METRICS",
        "GET_LOGGING_LEVEL",
        "GET_STATE",
        "GET_AGENTS",
        "GET_FRAMEWORKS",
        "GET_EXECUTORS",
        "GET_TASKS",
        "GET_ROLES",
        "GET_WEIGHTS",
        "GET_MASTER",
        "GET_MAINTENANCE_STATUS",
        "GET_MAINTENANCE_SCHEDULE",
        "GET_QUOTA",
    ] {
        let line = answer(call);
        assert_eq!(line["ok"], true, "{call}: {line}");
        assert_eq!(line["result"]["type"], call, "{line}");
    }
    assert_eq!(answer("SET_LOGGING_LEVEL")["ok"], true);
    assert_eq!(
        answer("GET_HEALTH")["result"]["get_health"]["healthy"],
        true
    );
    let tasks = &answer("GET_TASKS")["result"]["get_tasks"]["completed_tasks"];
    assert_eq!(tasks[0]["state"], "TASK_FINISHED", "{tasks}");
    let agents = &answer("GET_AGENTS")["result"]["get_agents"]["agents"];
    assert_eq!(agents.as_array().map(Vec::len), Some(1));
    // pymesos's own SUBSCRIBE stream parser follows a framework's life.
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_operator.py"))
        .arg(format!("--master={}", cluster.master))
        .args(["--subscribe", "--listen=60"]);
    let listener = BackgroundClient::start(cmd);
    let heard = |event: &str| listener.events().iter().any(|e| e["event"] == event);
    wait_for(Duration::from_secs(30), "pymesos SUBSCRIBED", || {
        heard("SUBSCRIBED")
    });
    pymesos(&cluster, "command", &[]);
    wait_for(Duration::from_secs(30), "pymesos FRAMEWORK_REMOVED", || {
        heard("FRAMEWORK_REMOVED")
    });
    let events: Vec<String> = listener
        .events()
        .iter()
        .filter_map(|e| e["event"].as_str().map(str::to_string))
        .collect();
    let position = |e: &str| events.iter().position(|x| x == e).unwrap_or(usize::MAX);
    assert!(
        position("SUBSCRIBED") < position("FRAMEWORK_ADDED"),
        "{events:?}"
    );
    assert!(
        position("FRAMEWORK_ADDED") < position("TASK_ADDED"),
        "{events:?}"
    );
    assert!(
        position("TASK_ADDED") < position("TASK_UPDATED"),
        "{events:?}"
    );
    assert!(
        position("TASK_UPDATED") < position("FRAMEWORK_REMOVED"),
        "{events:?}"
    );
    assert!(
        listener
            .events()
            .iter()
            .any(|e| e["event"] == "TASK_UPDATED" && e["state"] == "TASK_FINISHED"),
        "{}",
        listener.output()
    );
    drop(listener);

    // The master serves no files: 404 from the driver's point of view.
    let files = answer("LIST_FILES");
    assert_eq!(files["ok"], false);
    assert!(
        files["error"].as_str().unwrap_or_default().contains("404"),
        "{files}"
    );
    cluster.assert_alive();
}
