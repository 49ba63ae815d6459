//! The agent's v1 Operator API (`/api/v1`) and legacy endpoints against a
//! real `mesos-master` and `mesos-agent` running a finished, a running and a
//! killed task (upstream `AgentAPITest` scenarios): every call in JSON and
//! protobuf, upstream's status codes for bad input, the legacy endpoints'
//! keys in upstream's order, and pymesos's operator client.

use std::process::Command;
use std::time::Duration;

use compat_tests::*;
use mesos_proto::mesos::v1::agent::{call, response, Call, Response};
use mesos_proto::mesos::v1::scheduler::event;
use mesos_proto::mesos::v1::{
    value, CommandInfo, FrameworkInfo, Resource, TaskId, TaskInfo, TaskState,
};
use mesos_scheduler_client::{Client, ContentType};
use prost::Message as _;
use serde_json::Value;

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

fn task(id: &str, agent: &mesos_proto::mesos::v1::AgentId, command: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: agent.clone(),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        command: Some(CommandInfo {
            value: Some(command.into()),
            shell: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// POSTs a JSON call (no `Accept`), returning the response.
fn post_json(agent: &str, path: &str, body: &str, extra: &[(&str, &str)]) -> RawResponse {
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend_from_slice(extra);
    http_request(agent, "POST", path, &headers, body.as_bytes()).expect("POST /api/v1")
}

fn json_call(agent: &str, body: &str) -> Value {
    let r = post_json(agent, "/api/v1", body, &[]);
    assert_eq!(r.status, 200, "{body}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"), "{body}");
    r.json()
}

fn protobuf_call(agent: &str, call: &Call) -> Response {
    let r = http_request(
        agent,
        "POST",
        "/slave(1)/api/v1",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Accept", "application/x-protobuf"),
        ],
        &call.encode_to_vec(),
    )
    .expect("POST /api/v1");
    assert_eq!(r.status, 200, "{call:?}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    Response::decode(&r.body[..]).expect("a v1.agent.Response")
}

fn of_type(kind: call::Type) -> Call {
    Call {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// Task id → state name over every list of a JSON `GetTasks`.
fn json_task_states(get_tasks: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for list in [
        "pending_tasks",
        "queued_tasks",
        "launched_tasks",
        "terminated_tasks",
        "completed_tasks",
    ] {
        for t in get_tasks[list].as_array().into_iter().flatten() {
            out.push((
                list.to_string(),
                t["task_id"]["value"].as_str().unwrap_or("").to_string(),
                t["state"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn assert_sorted(v: &Value, what: &str) {
    let k = keys(v);
    let mut s = k.clone();
    s.sort();
    assert_eq!(k, s, "{what} keys are not in upstream's (sorted) order");
}

/// `expected` appear in this order among `actual` (others may be between).
fn assert_in_order(actual: &[&str], expected: &[&str], what: &str) {
    let positions: Vec<usize> = expected
        .iter()
        .map(|k| {
            actual
                .iter()
                .position(|a| a == k)
                .unwrap_or_else(|| panic!("{what} lacks '{k}': {actual:?}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{what} keys out of upstream's order: {actual:?}"
    );
}

#[test]
fn agent_operator_api_and_legacy_endpoints_with_running_finished_and_killed_tasks() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt
        .block_on(Client::connect(&cluster.master, ContentType::Json))
        .expect("connect");
    let info = FrameworkInfo {
        user: "root".into(),
        name: "agent operator api".into(),
        ..Default::default()
    };
    let mut sub = rt.block_on(client.subscribe(info)).expect("subscribe");
    let fw = sub.framework_id.value.clone();

    // Launch three tasks; kill one once it runs; wait for the end states.
    let mut states = std::collections::BTreeMap::<String, i32>::new();
    let mut launched = false;
    let mut kill_sent = false;
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let done = states.get("finish") == Some(&(TaskState::TaskFinished as i32))
                && states.get("run") == Some(&(TaskState::TaskRunning as i32))
                && states.get("kill") == Some(&(TaskState::TaskKilled as i32));
            if done {
                break;
            }
            let ev = tokio::time::timeout_at(deadline, sub.recv())
                .await
                .expect("tasks reached their states in time")
                .expect("subscription open")
                .expect("event");
            if let Some(event::Offers { offers }) = ev.offers {
                for offer in offers {
                    if launched {
                        client.decline(vec![offer.id.clone()], None).await.ok();
                        continue;
                    }
                    launched = true;
                    let tasks = vec![
                        task("finish", &offer.agent_id, "echo hello"),
                        task("run", &offer.agent_id, "sleep 1000"),
                        task("kill", &offer.agent_id, "sleep 1000"),
                    ];
                    client.launch(&offer, tasks).await.expect("launch");
                }
            }
            if let Some(event::Update { status }) = ev.update {
                client.acknowledge(&status).await.ok();
                states.insert(status.task_id.value.clone(), status.state);
                if status.task_id.value == "kill"
                    && status.state == TaskState::TaskRunning as i32
                    && !kill_sent
                {
                    kill_sent = true;
                    client
                        .kill(status.task_id.clone(), status.agent_id.clone())
                        .await
                        .expect("kill");
                }
            }
        }
    });
    let agent = cluster.agent.clone();
    let sandbox = format!("/frameworks/{fw}/executors/finish/runs/latest");
    // The agent learns of the terminal states before the scheduler does,
    // but give the acknowledgements a moment to settle the completed lists.
    wait_for(
        Duration::from_secs(20),
        "finished and killed tasks completed",
        || {
            let v = json_call(&agent, r#"{"type":"GET_TASKS"}"#);
            let t = json_task_states(&v["get_tasks"]);
            t.iter()
                .any(|(_, id, s)| id == "finish" && s == "TASK_FINISHED")
                && t.iter()
                    .any(|(_, id, s)| id == "kill" && s == "TASK_KILLED")
        },
    );

    // GET_HEALTH, both encodings, and the longer paths routed by prefix.
    let v = json_call(&agent, r#"{"type":"GET_HEALTH"}"#);
    assert_eq!(v["type"], "GET_HEALTH");
    assert_eq!(v["get_health"]["healthy"], true);
    for path in ["/api/v1/operator", "/slave(1)/api/v1", "/api/v1?x=1"] {
        let r = post_json(&agent, path, r#"{"type":"GET_HEALTH"}"#, &[]);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let p = protobuf_call(&agent, &of_type(call::Type::GetHealth));
    assert_eq!(p.r#type, Some(response::Type::GetHealth as i32));
    assert!(p.get_health.expect("get_health").healthy);

    // GET_FLAGS: every flag, as {name, value}.
    let v = json_call(&agent, r#"{"type":"GET_FLAGS"}"#);
    let flags = v["get_flags"]["flags"].as_array().expect("flags");
    assert!(flags
        .iter()
        .any(|f| f["name"] == "port" && f["value"] == agent.rsplit(':').next().expect("a port")));
    let p = protobuf_call(&agent, &of_type(call::Type::GetFlags));
    assert_eq!(p.get_flags.expect("get_flags").flags.len(), flags.len());

    // GET_VERSION.
    let v = json_call(&agent, r#"{"type":"GET_VERSION"}"#);
    let vi = &v["get_version"]["version_info"];
    assert_eq!(vi["version"], "1.11.0");
    assert!(vi["build_time"].is_number() && vi["build_date"].is_string());
    let p = protobuf_call(&agent, &of_type(call::Type::GetVersion));
    assert_eq!(p.get_version.expect("v").version_info.version, "1.11.0");

    // GET_METRICS: the agent's snapshot as {name, value}.
    let v = json_call(
        &agent,
        r#"{"type":"GET_METRICS","get_metrics":{"timeout":{"nanoseconds":5000000000}}}"#,
    );
    let metrics = v["get_metrics"]["metrics"].as_array().expect("metrics");
    let metric = |name: &str| {
        metrics
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["value"].as_f64())
    };
    assert_eq!(metric("slave/tasks_running"), Some(1.0));
    assert_eq!(metric("slave/tasks_finished"), Some(1.0));
    assert_eq!(metric("slave/tasks_killed"), Some(1.0));
    assert_eq!(metric("slave/registered"), Some(1.0));
    let p = protobuf_call(&agent, &of_type(call::Type::GetMetrics));
    assert!(p.get_metrics.expect("m").metrics.len() >= metrics.len() - 8);

    // GET_LOGGING_LEVEL / SET_LOGGING_LEVEL (200, empty body).
    let v = json_call(&agent, r#"{"type":"GET_LOGGING_LEVEL"}"#);
    assert_eq!(v["get_logging_level"]["level"], 0);
    let r = post_json(
        &agent,
        "/api/v1",
        r#"{"type":"SET_LOGGING_LEVEL","set_logging_level":{"level":1,"duration":{"nanoseconds":60000000000}}}"#,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty());
    let p = protobuf_call(&agent, &of_type(call::Type::GetLoggingLevel));
    assert_eq!(p.get_logging_level.expect("l").level, 1);
    let r = http_get(&agent, "/logging/toggle").expect("toggle");
    assert_eq!(r.text().trim(), "1");
    assert_eq!(
        http_get(&agent, "/logging/toggle?level=0&duration=1secs")
            .expect("toggle")
            .status,
        200
    );
    assert_eq!(
        http_get(&agent, "/logging/toggle?level=1")
            .expect("t")
            .status,
        400
    );
    assert_eq!(
        http_get(&agent, "/logging/toggle?level=x&duration=1secs")
            .expect("t")
            .status,
        400
    );

    // LIST_FILES / READ_FILE on the finished task's sandbox.
    let v = json_call(
        &agent,
        &format!(r#"{{"type":"LIST_FILES","list_files":{{"path":"{sandbox}"}}}}"#),
    );
    let infos = v["list_files"]["file_infos"].clone();
    let stdout = infos
        .as_array()
        .expect("file_infos")
        .iter()
        .find(|f| f["path"] == format!("{sandbox}/stdout"))
        .expect("stdout listed")
        .clone();
    assert!(stdout["size"].as_u64().unwrap_or(0) >= 6);
    assert!(stdout["mtime"]["nanoseconds"].is_number());
    assert!(stdout["uid"].is_string() && stdout["mode"].is_number());
    let v = json_call(
        &agent,
        &format!(r#"{{"type":"READ_FILE","read_file":{{"path":"{sandbox}/stdout","offset":0}}}}"#),
    );
    // `bytes` are base64 in JSON: "hello\n".
    assert_eq!(v["read_file"]["data"], "aGVsbG8K");
    assert_eq!(v["read_file"]["size"], 6);
    let p = protobuf_call(
        &agent,
        &Call {
            read_file: Some(call::ReadFile {
                path: format!("{sandbox}/stdout"),
                offset: 1,
                length: Some(3),
            }),
            ..of_type(call::Type::ReadFile)
        },
    );
    let read = p.read_file.expect("read_file");
    assert_eq!((read.size, &read.data[..]), (6, &b"ell"[..]));
    let r = post_json(
        &agent,
        "/api/v1",
        r#"{"type":"READ_FILE","read_file":{"path":"/no/such/file","offset":0}}"#,
        &[],
    );
    assert_eq!(r.status, 404);

    // GET_STATE / GET_TASKS: v1 names (agent_id), every task where upstream lists it.
    let v = json_call(&agent, r#"{"type":"GET_STATE"}"#);
    let state = &v["get_state"];
    let tasks = json_task_states(&state["get_tasks"]);
    assert!(
        tasks
            .iter()
            .any(|(l, id, s)| l == "launched_tasks" && id == "run" && s == "TASK_RUNNING"),
        "{tasks:?}"
    );
    assert!(tasks
        .iter()
        .any(|(_, id, s)| id == "finish" && s == "TASK_FINISHED"));
    assert!(tasks
        .iter()
        .any(|(_, id, s)| id == "kill" && s == "TASK_KILLED"));
    let running = &state["get_tasks"]["launched_tasks"][0];
    assert!(running["agent_id"]["value"].is_string(), "{running}");
    assert!(running.get("slave_id").is_none());
    assert_eq!(
        state["get_frameworks"]["frameworks"][0]["framework_info"]["name"],
        "agent operator api"
    );
    let p = protobuf_call(&agent, &of_type(call::Type::GetState));
    let ps = p.get_state.expect("get_state");
    let pt = ps.get_tasks.expect("get_tasks");
    assert_eq!(pt.launched_tasks.len(), 1);
    assert_eq!(
        pt.terminated_tasks.len() + pt.completed_tasks.len(),
        2,
        "{pt:?}"
    );
    let v = json_call(&agent, r#"{"type":"GET_TASKS"}"#);
    assert_eq!(json_task_states(&v["get_tasks"]), tasks);

    // GET_FRAMEWORKS / GET_EXECUTORS.
    let v = json_call(&agent, r#"{"type":"GET_FRAMEWORKS"}"#);
    assert_eq!(
        v["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"],
        fw.as_str()
    );
    let p = protobuf_call(&agent, &of_type(call::Type::GetFrameworks));
    assert_eq!(p.get_frameworks.expect("f").frameworks.len(), 1);
    let v = json_call(&agent, r#"{"type":"GET_EXECUTORS"}"#);
    let ex = &v["get_executors"];
    let ids = |list: &str| -> Vec<String> {
        ex[list]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                e["executor_info"]["executor_id"]["value"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    assert_eq!(ids("executors"), ["run"]);
    let mut completed = ids("completed_executors");
    completed.sort();
    assert_eq!(completed, ["finish", "kill"]);
    let p = protobuf_call(&agent, &of_type(call::Type::GetExecutors));
    assert_eq!(p.get_executors.expect("e").executors.len(), 1);

    // GET_CONTAINERS: the running executor's container with its statistics.
    let v = json_call(&agent, r#"{"type":"GET_CONTAINERS"}"#);
    let containers = v["get_containers"]["containers"]
        .as_array()
        .expect("containers");
    let c = containers
        .iter()
        .find(|c| c["executor_id"]["value"] == "run")
        .expect("the running executor's container");
    assert_eq!(c["framework_id"]["value"], fw.as_str());
    assert!(c["container_id"]["value"].is_string());
    assert!(c["resource_statistics"]["timestamp"].is_number());
    assert!(c["container_status"]["executor_pid"].is_number());
    let p = protobuf_call(&agent, &of_type(call::Type::GetContainers));
    assert!(!p.get_containers.expect("c").containers.is_empty());

    // GET_OPERATIONS, GET_AGENT, GET_RESOURCE_PROVIDERS.
    let v = json_call(&agent, r#"{"type":"GET_OPERATIONS"}"#);
    assert_eq!(v["type"], "GET_OPERATIONS");
    assert!(v["get_operations"].is_object());
    let v = json_call(&agent, r#"{"type":"GET_AGENT"}"#);
    let ai = &v["get_agent"]["agent_info"];
    assert_eq!(ai["hostname"], "127.0.0.1");
    assert!(ai["id"]["value"].is_string());
    let p = protobuf_call(&agent, &of_type(call::Type::GetAgent));
    assert_eq!(
        p.get_agent.expect("a").agent_info.expect("info").hostname,
        "127.0.0.1"
    );
    let v = json_call(&agent, r#"{"type":"GET_RESOURCE_PROVIDERS"}"#);
    assert_eq!(v["type"], "GET_RESOURCE_PROVIDERS");
    assert!(v["get_resource_providers"].is_object());

    // Bad input gets upstream's codes.
    let r = http_get(&agent, "/api/v1").expect("GET");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = http_request(&agent, "POST", "/api/v1", &[], b"{}").expect("no content type");
    assert_eq!(r.status, 400);
    let r = http_request(
        &agent,
        "POST",
        "/api/v1",
        &[("Content-Type", "text/plain")],
        b"{}",
    )
    .expect("text");
    assert_eq!(r.status, 415);
    let r = post_json(&agent, "/api/v1", "{not json", &[]);
    assert_eq!(r.status, 400);
    let r = post_json(&agent, "/api/v1", r#"{"type":"LIST_FILES"}"#, &[]);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("'list_files'"), "{}", r.text());
    let r = post_json(
        &agent,
        "/api/v1",
        r#"{"type":"GET_HEALTH"}"#,
        &[("Accept", "text/html")],
    );
    assert_eq!(r.status, 406);
    let r = post_json(
        &agent,
        "/api/v1",
        r#"{"type":"GET_HEALTH"}"#,
        &[("Accept", "application/json;q=0, */*;q=0.1")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    for body in [
        r#"{"type":"LAUNCH_CONTAINER","launch_container":{"container_id":{"value":"c"}}}"#,
        r#"{"type":"WAIT_NESTED_CONTAINER","wait_nested_container":{"container_id":{"value":"c"}}}"#,
        r#"{"type":"PRUNE_IMAGES","prune_images":{}}"#,
    ] {
        let r = post_json(&agent, "/api/v1", body, &[]);
        assert_eq!(r.status, 501, "{body}: {}", r.text());
    }
    let r = http_request(
        &agent,
        "POST",
        "/api/v1",
        &[("Content-Type", "application/x-protobuf")],
        b"\xff\xff\xff",
    )
    .expect("garbage");
    assert_eq!(r.status, 400);

    // Legacy endpoints: shapes, upstream's key order, JSONP.
    for path in ["/slave(1)/state", "/state", "/slave(1)/state.json"] {
        let r = http_get(&agent, path).expect("state");
        assert_eq!(r.status, 200, "{path}");
        let s = r.json();
        assert_in_order(
            &keys(&s),
            &[
                "version",
                "build_date",
                "build_time",
                "build_user",
                "start_time",
                "id",
                "pid",
                "hostname",
                "capabilities",
                "resources",
                "reserved_resources",
                "unreserved_resources",
                "reserved_resources_full",
                "unreserved_resources_full",
                "reserved_resources_allocated",
                "unreserved_resources_allocated",
                "resource_providers",
                "attributes",
                "master_hostname",
                "flags",
                "frameworks",
                "completed_frameworks",
            ],
            path,
        );
        let f = &s["frameworks"][0];
        assert_in_order(
            &keys(f),
            &[
                "id",
                "name",
                "user",
                "failover_timeout",
                "checkpoint",
                "hostname",
                "role",
                "executors",
                "completed_executors",
            ],
            "framework",
        );
        assert_in_order(
            &keys(&f["executors"][0]),
            &[
                "id",
                "name",
                "source",
                "container",
                "directory",
                "resources",
                "tasks",
                "queued_tasks",
                "completed_tasks",
            ],
            "executor",
        );
        assert!(f["executors"][0]["tasks"][0]["slave_id"].is_string());
    }
    let r = http_get(&agent, "/slave(1)/state?jsonp=cb").expect("jsonp");
    assert_eq!(r.header("content-type"), Some("text/javascript"));
    assert!(
        r.text().starts_with("cb({\"version\""),
        "{}",
        &r.text()[..40]
    );
    assert!(r.text().ends_with(')'));

    let r = http_get(&agent, "/slave(1)/flags").expect("flags");
    assert_eq!(keys(&r.json()), ["flags"]);
    assert_sorted(&r.json()["flags"], "/flags");
    for path in ["/slave(1)/health", "/health"] {
        let r = http_get(&agent, path).expect("health");
        assert_eq!((r.status, r.body.len()), (200, 0), "{path}");
    }
    let r = http_get(&agent, "/version").expect("version");
    assert_sorted(&r.json(), "/version");
    assert_eq!(r.json()["version"], "1.11.0");
    for path in [
        "/monitor/statistics",
        "/monitor/statistics.json",
        "/slave(1)/monitor/statistics",
    ] {
        let r = http_get(&agent, path).expect("statistics");
        let items = r.json();
        let item = items
            .as_array()
            .and_then(|a| a.iter().find(|i| i["executor_id"] == "run"))
            .unwrap_or_else(|| panic!("{path}: {}", r.text()))
            .clone();
        assert_eq!(
            keys(&item),
            [
                "executor_id",
                "executor_name",
                "framework_id",
                "source",
                "statistics"
            ]
        );
        assert_sorted(&item["statistics"], "statistics");
        assert!(item["statistics"]["mem_limit_bytes"].is_number());
    }
    let r = http_get(&agent, "/containers").expect("containers");
    let item = r.json()[0].clone();
    assert_eq!(
        keys(&item),
        [
            "container_id",
            "executor_id",
            "executor_name",
            "framework_id",
            "source",
            "statistics",
            "status"
        ]
    );
    assert!(item["status"]["executor_pid"].is_number());
    let r = http_get(&agent, "/containers?jsonp=f").expect("containers");
    assert!(r.text().starts_with("f(["));

    // pymesos's operator client: JSON to /api/v1/operator, no Accept.
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script("pymesos_operator_agent.py"))
        .arg(&agent)
        .arg(&sandbox);
    let (lines, output, status) = run_client(cmd, Duration::from_secs(60));
    assert!(status.success(), "{output}");
    let answer = |name: &str| -> Value {
        let line = lines
            .iter()
            .find(|l| l["call"] == name)
            .unwrap_or_else(|| panic!("pymesos made no {name}: {output}"));
        assert!(line.get("error").is_none(), "{name}: {line}");
        line["response"].clone()
    };
    assert_eq!(answer("GET_HEALTH")["get_health"]["healthy"], true);
    assert!(answer("GET_FLAGS")["get_flags"]["flags"].is_array());
    assert_eq!(
        answer("GET_VERSION")["get_version"]["version_info"]["version"],
        "1.11.0"
    );
    assert!(answer("GET_METRICS")["get_metrics"]["metrics"].is_array());
    assert_eq!(answer("SET_LOGGING_LEVEL"), serde_json::json!({}));
    assert_eq!(answer("GET_LOGGING_LEVEL")["get_logging_level"]["level"], 1);
    assert!(answer("LIST_FILES")["list_files"]["file_infos"].is_array());
    assert_eq!(answer("READ_FILE")["read_file"]["data"], "aGVsbG8K");
    assert_eq!(
        json_task_states(&answer("GET_STATE")["get_state"]["get_tasks"]),
        tasks
    );
    assert_eq!(
        answer("GET_FRAMEWORKS")["get_frameworks"]["frameworks"][0]["framework_info"]["name"],
        "agent operator api"
    );
    assert!(answer("GET_EXECUTORS")["get_executors"]["executors"].is_array());
    assert_eq!(json_task_states(&answer("GET_TASKS")["get_tasks"]), tasks);
    assert!(answer("GET_CONTAINERS")["get_containers"]["containers"].is_array());

    rt.block_on(client.teardown()).ok();
    cluster.assert_alive();
}
