//! Codec benchmark: how fast the master can write and read its biggest
//! messages. Builds a master-state-sized v1 `master::Response` (GET_STATE
//! with 10,000 tasks, their executors, 100 agents and 20 frameworks) and a
//! typical stream event, then times protobuf and Mesos-JSON encode/decode,
//! and RecordIO framing, printing best-of-N throughput.
//!
//! Run in release: `cargo run -p mesos-proto --release --bin codec-bench`
//! (`-- --tasks N --runs N` to change the size and repetitions). This is a
//! measuring tool, not a test: it asserts nothing about speed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mesos_proto::mesos::v1::{
    master, resource, scheduler, task_status, value, AgentId, AgentInfo, Attribute, ExecutorId,
    ExecutorInfo, FrameworkId, FrameworkInfo, Label, Labels, Resource, Task, TaskId, TaskState,
    TaskStatus, TimeInfo,
};
use mesos_proto::{json, recordio};
use prost::Message;

const AGENTS: usize = 100;
const FRAMEWORKS: usize = 20;

fn scalar(name: &str, value: f64, role: &str) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value }),
        allocation_info: Some(resource::AllocationInfo {
            role: Some(role.into()),
        }),
        ..Default::default()
    }
}

fn ports(begin: u64, end: u64, role: &str) -> Resource {
    Resource {
        name: "ports".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(Box::new(value::Ranges {
            range: vec![value::Range { begin, end }],
        })),
        allocation_info: Some(resource::AllocationInfo {
            role: Some(role.into()),
        }),
        ..Default::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels {
        labels: pairs
            .iter()
            .map(|(k, v)| Label {
                key: (*k).into(),
                value: Some((*v).into()),
            })
            .collect(),
    }
}

fn framework_id(i: usize) -> FrameworkId {
    FrameworkId {
        value: format!("9c4ea5a4-6a0c-4f4e-8c53-0d8e4c3b2a10-{i:04}"),
    }
}

fn agent_id(i: usize) -> AgentId {
    AgentId {
        value: format!("9c4ea5a4-6a0c-4f4e-8c53-0d8e4c3b2a10-S{i}"),
    }
}

fn status(task: &TaskId, agent: &AgentId, state: TaskState, t: f64) -> TaskStatus {
    TaskStatus {
        task_id: task.clone(),
        state: state as i32,
        source: Some(task_status::Source::Executor as i32),
        agent_id: Some(agent.clone()),
        executor_id: Some(ExecutorId {
            value: task.value.clone(),
        }),
        timestamp: Some(t),
        uuid: Some((0u8..16).collect()),
        healthy: Some(true),
        labels: Some(labels(&[("status", "ok")])),
        ..Default::default()
    }
}

fn state_response(tasks: usize) -> master::Response {
    let mut response_tasks = Vec::with_capacity(tasks);
    let mut executors = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let role = format!("role-{}", i % FRAMEWORKS);
        let task_id = TaskId {
            value: format!("app-{}.instance-{i:06}", i % 500),
        };
        let agent = agent_id(i % AGENTS);
        let port = 31000 + (i as u64 % 1000);
        let resources = vec![
            scalar("cpus", 0.5, &role),
            scalar("mem", 256.0, &role),
            ports(port, port + 1, &role),
        ];
        executors.push(master::response::get_executors::Executor {
            executor_info: ExecutorInfo {
                executor_id: ExecutorId {
                    value: task_id.value.clone(),
                },
                framework_id: Some(framework_id(i % FRAMEWORKS)),
                resources: vec![scalar("cpus", 0.1, &role), scalar("mem", 32.0, &role)],
                name: Some(format!("Command Executor (Task: {})", task_id.value)),
                ..Default::default()
            },
            agent_id: agent.clone(),
        });
        response_tasks.push(Task {
            name: format!("app-{}", i % 500),
            task_id: task_id.clone(),
            framework_id: framework_id(i % FRAMEWORKS),
            executor_id: None,
            agent_id: agent.clone(),
            state: TaskState::TaskRunning as i32,
            resources,
            statuses: vec![
                status(&task_id, &agent, TaskState::TaskStarting, 1.7e9 + i as f64),
                status(
                    &task_id,
                    &agent,
                    TaskState::TaskRunning,
                    1.7e9 + i as f64 + 0.25,
                ),
            ],
            status_update_state: Some(TaskState::TaskRunning as i32),
            status_update_uuid: Some((0u8..16).collect()),
            labels: Some(labels(&[
                ("app", "web"),
                ("team", "payments"),
                ("version", "42"),
            ])),
            user: Some("nobody".into()),
            ..Default::default()
        });
    }

    let agents = (0..AGENTS)
        .map(|i| master::response::get_agents::Agent {
            agent_info: AgentInfo {
                hostname: format!("agent-{i:03}.dc1.example.com"),
                port: Some(5051),
                resources: vec![
                    scalar("cpus", 64.0, "*"),
                    scalar("mem", 262_144.0, "*"),
                    scalar("disk", 1_000_000.0, "*"),
                    ports(31000, 32000, "*"),
                ],
                attributes: vec![Attribute {
                    name: "rack".into(),
                    r#type: value::Type::Text as i32,
                    text: Some(value::Text {
                        value: format!("r{}", i % 10),
                    }),
                    ..Default::default()
                }],
                id: Some(agent_id(i)),
                ..Default::default()
            },
            active: true,
            version: "1.11.0".into(),
            pid: Some(format!("slave(1)@10.0.{}.{}:5051", i / 250, i % 250)),
            registered_time: Some(TimeInfo {
                nanoseconds: 1_700_000_000_000_000_000,
            }),
            total_resources: vec![scalar("cpus", 64.0, "*"), scalar("mem", 262_144.0, "*")],
            allocated_resources: vec![scalar("cpus", 50.0, "*"), scalar("mem", 25_600.0, "*")],
            ..Default::default()
        })
        .collect();

    let frameworks = (0..FRAMEWORKS)
        .map(|i| master::response::get_frameworks::Framework {
            framework_info: FrameworkInfo {
                user: "root".into(),
                name: format!("marathon-{i}"),
                id: Some(framework_id(i)),
                failover_timeout: Some(604_800.0),
                checkpoint: Some(true),
                roles: vec![format!("role-{i}")],
                hostname: Some("scheduler.example.com".into()),
                ..Default::default()
            },
            active: true,
            connected: true,
            recovered: false,
            registered_time: Some(TimeInfo {
                nanoseconds: 1_700_000_000_000_000_000,
            }),
            allocated_resources: vec![scalar("cpus", 250.0, &format!("role-{i}"))],
            ..Default::default()
        })
        .collect();

    master::Response {
        r#type: Some(master::response::Type::GetState as i32),
        get_state: Some(master::response::GetState {
            get_tasks: Some(master::response::GetTasks {
                tasks: response_tasks,
                ..Default::default()
            }),
            get_executors: Some(master::response::GetExecutors {
                executors,
                ..Default::default()
            }),
            get_frameworks: Some(master::response::GetFrameworks {
                frameworks,
                ..Default::default()
            }),
            get_agents: Some(master::response::GetAgents {
                agents,
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

fn update_event() -> scheduler::Event {
    let task = TaskId {
        value: "app-1.instance-000001".into(),
    };
    scheduler::Event {
        r#type: Some(scheduler::event::Type::Update as i32),
        update: Some(scheduler::event::Update {
            status: status(&task, &agent_id(1), TaskState::TaskRunning, 1.7e9),
        }),
        ..Default::default()
    }
}

/// Best (shortest) wall time of `runs` runs of `f`.
fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

struct Row {
    what: String,
    bytes: usize,
    messages: usize,
    time: Duration,
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<44} {:>12} {:>10} {:>11} {:>14}",
        "operation", "bytes/op", "best ms", "MB/s", "messages/s"
    );
    for row in rows {
        let secs = row.time.as_secs_f64().max(1e-9);
        println!(
            "{:<44} {:>12} {:>10.3} {:>11.1} {:>14.0}",
            row.what,
            row.bytes,
            secs * 1e3,
            row.bytes as f64 / secs / 1e6,
            row.messages as f64 / secs
        );
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let tasks = arg("--tasks", 10_000);
    let runs = arg("--runs", 7);
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run with --release for meaningful figures");
    }

    let state = state_response(tasks);
    let proto = state.encode_to_vec();
    let text = json::encode(&state);
    let mut rows = Vec::new();

    let what = format!("GET_STATE ({tasks} tasks)");
    rows.push(Row {
        what: format!("{what} protobuf encode"),
        bytes: proto.len(),
        messages: 1,
        time: best_of(runs, || {
            black_box(black_box(&state).encode_to_vec());
        }),
    });
    rows.push(Row {
        what: format!("{what} protobuf decode"),
        bytes: proto.len(),
        messages: 1,
        time: best_of(runs, || {
            black_box(master::Response::decode(black_box(proto.as_slice())).ok());
        }),
    });
    rows.push(Row {
        what: format!("{what} JSON encode"),
        bytes: text.len(),
        messages: 1,
        time: best_of(runs, || {
            black_box(json::encode(black_box(&state)));
        }),
    });
    let decoded = json::decode::<master::Response>(text.as_bytes());
    rows.push(Row {
        what: format!("{what} JSON decode"),
        bytes: text.len(),
        messages: 1,
        time: best_of(runs, || {
            black_box(json::decode::<master::Response>(black_box(text.as_bytes())).ok());
        }),
    });

    // Many small messages: a stream of UPDATE events.
    const EVENTS: usize = 10_000;
    let event = update_event();
    let event_proto = event.encode_to_vec();
    let event_text = json::encode(&event);
    rows.push(Row {
        what: format!("{EVENTS} x UPDATE event protobuf encode"),
        bytes: event_proto.len() * EVENTS,
        messages: EVENTS,
        time: best_of(runs, || {
            for _ in 0..EVENTS {
                black_box(black_box(&event).encode_to_vec());
            }
        }),
    });
    rows.push(Row {
        what: format!("{EVENTS} x UPDATE event protobuf decode"),
        bytes: event_proto.len() * EVENTS,
        messages: EVENTS,
        time: best_of(runs, || {
            for _ in 0..EVENTS {
                black_box(scheduler::Event::decode(black_box(event_proto.as_slice())).ok());
            }
        }),
    });
    rows.push(Row {
        what: format!("{EVENTS} x UPDATE event JSON encode"),
        bytes: event_text.len() * EVENTS,
        messages: EVENTS,
        time: best_of(runs, || {
            for _ in 0..EVENTS {
                black_box(json::encode(black_box(&event)));
            }
        }),
    });
    rows.push(Row {
        what: format!("{EVENTS} x UPDATE event JSON decode"),
        bytes: event_text.len() * EVENTS,
        messages: EVENTS,
        time: best_of(runs, || {
            for _ in 0..EVENTS {
                black_box(json::decode::<scheduler::Event>(black_box(event_text.as_bytes())).ok());
            }
        }),
    });

    // RecordIO framing of that JSON stream, and decoding it in 1 KiB chunks.
    let mut stream = bytes::BytesMut::new();
    for _ in 0..EVENTS {
        recordio::encode_into(event_text.as_bytes(), &mut stream);
    }
    rows.push(Row {
        what: format!("{EVENTS} x RecordIO encode_into"),
        bytes: stream.len(),
        messages: EVENTS,
        time: best_of(runs, || {
            let mut out = bytes::BytesMut::with_capacity(stream.len());
            for _ in 0..EVENTS {
                recordio::encode_into(black_box(event_text.as_bytes()), &mut out);
            }
            black_box(out);
        }),
    });
    let mut decoded_records = 0;
    rows.push(Row {
        what: format!("{EVENTS} x RecordIO decode (1 KiB chunks)"),
        bytes: stream.len(),
        messages: EVENTS,
        time: best_of(runs, || {
            let mut decoder = recordio::Decoder::new(1 << 20);
            decoded_records = 0;
            for chunk in stream.chunks(1024) {
                decoder.feed(chunk);
                while let Ok(Some(record)) = decoder.next_record() {
                    black_box(record);
                    decoded_records += 1;
                }
            }
        }),
    });

    println!(
        "GET_STATE: {tasks} tasks, {AGENTS} agents, {FRAMEWORKS} frameworks; protobuf {} bytes, JSON {} bytes; best of {runs} runs",
        proto.len(),
        text.len()
    );
    print_table(&rows);

    // Sanity checks on what was measured (a broken codec would otherwise
    // benchmark as fast).
    match decoded {
        Ok(back) if back == state => {}
        Ok(_) => eprintln!("warning: JSON round trip of GET_STATE changed the message"),
        Err(e) => eprintln!("warning: JSON decode of GET_STATE failed: {e}"),
    }
    if decoded_records != EVENTS {
        eprintln!("warning: RecordIO decoded {decoded_records} of {EVENTS} records");
    }
}
