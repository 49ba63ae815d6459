//! Actor tests: a real actor with a recording outbox in place of the
//! network, a fake `mesos-executor` script in place of the command
//! executor, and executor API calls injected as inputs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Message, Upid};
use mesos_proto::mesos::internal as msgs;
use mesos_proto::mesos::task_status::{Reason, Source};
use mesos_proto::mesos::v1::executor::{call, event, Call, Event};
use mesos_proto::mesos::{
    command_info, executor_info, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    SlaveId, TaskGroupInfo, TaskId, TaskInfo, TaskState,
};
use mesos_proto::resources::Resources;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot, Notify};

use super::*;
use crate::files::Files;
use crate::flags::Parsed;

#[path = "drain_tests.rs"]
mod drain;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<(Upid, String, Bytes)>>,
    links: Mutex<Vec<Upid>>,
    notify: Notify,
}

impl Outbox for Recorder {
    fn send(&self, to: &Upid, name: &str, body: Bytes) {
        self.sent
            .lock()
            .unwrap()
            .push((to.clone(), name.to_string(), body));
        self.notify.notify_waiters();
    }
    fn link(&self, to: &Upid) {
        self.links.lock().unwrap().push(to.clone());
    }
}

struct Harness {
    inbox: mpsc::UnboundedSender<Input>,
    messages: mpsc::UnboundedSender<Message>,
    out: Arc<Recorder>,
    /// Index of the first recorded message not yet consumed by `expect`.
    cursor: Mutex<usize>,
    master: Upid,
    work_dir: tempfile::TempDir,
    _launcher: tempfile::TempDir,
    files: Files,
    actor: tokio::task::JoinHandle<()>,
}

/// The fake command executor: records its argv and environment, then waits
/// until the test creates `exit_now` in its sandbox (or 20 s pass, so a
/// failed test leaves nothing behind) and exits with 3.
const FAKE_EXECUTOR: &str = r#"#!/bin/sh
echo "$@" > argv.txt
env > env.txt
i=0
while [ ! -f exit_now ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
exit 3
"#;

fn harness(extra: &[&str]) -> Harness {
    harness_in(tempfile::tempdir().unwrap(), extra)
}

/// A harness on an existing work directory, recovering what is
/// checkpointed there.
fn harness_in(work_dir: tempfile::TempDir, extra: &[&str]) -> Harness {
    let recovered = crate::recovery::recover(work_dir.path(), true).unwrap();
    let launcher = tempfile::tempdir().unwrap();
    let executor = launcher.path().join("mesos-executor");
    std::fs::write(&executor, FAKE_EXECUTOR).unwrap();
    std::fs::set_permissions(
        &executor,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let work = format!("--work_dir={}", work_dir.path().display());
    let launcher_flag = format!("--launcher_dir={}", launcher.path().display());
    let mut args = vec![
        "mesos-agent",
        "--master=127.0.0.1:5050",
        &work,
        &launcher_flag,
        "--registration_backoff_factor=10ms",
        "--ip=127.0.0.1",
        "--resources=cpus:4;mem:4096;disk:1000;ports:[31000-32000]",
    ];
    args.extend_from_slice(extra);
    let flags = match Flags::load(args).unwrap() {
        Parsed::Run(f) => Arc::new(*f),
        Parsed::Print(_) => unreachable!(),
    };
    let resources =
        crate::info::detect_resources(flags.resources.as_deref(), "*", work_dir.path()).unwrap();
    let self_pid: Upid = "slave(1)@127.0.0.1:5051".parse().unwrap();
    let info = crate::info::slave_info("agent-host".into(), 5051, &resources, vec![]);
    let config = AgentConfig {
        flags: flags.clone(),
        self_pid,
        info,
        total_resources: resources,
        master: crate::registration::parse_master("127.0.0.1:5050")
            .unwrap()
            .into(),
        launcher_dir: launcher.path().to_path_buf(),
        native_library: None,
        recovered,
        authenticatee: None,
        executor_secret: crate::agent::executor_secret_key(&flags).unwrap(),
    };
    let (inbox_tx, inbox_rx) = mpsc::unbounded_channel();
    let (messages_tx, messages_rx) = mpsc::unbounded_channel();
    let (_exited_tx, exited_rx) = mpsc::unbounded_channel();
    let (containers_tx, containers_rx) = mpsc::unbounded_channel();
    let (retries_tx, retries_rx) = mpsc::unbounded_channel();
    let fetcher = crate::fetcher::Fetcher::new(None, None, Duration::from_secs(5)).unwrap();
    let containerizer = Containerizer::new(fetcher, true, containers_tx)
        .with_runtime_dir(work_dir.path().join("runtime"));
    let out = Arc::new(Recorder::default());
    let files = Files::default();
    let agent = Agent::new(
        config,
        out.clone(),
        containerizer,
        files.clone(),
        inbox_tx.clone(),
        retries_tx,
    );
    let actor = tokio::spawn(agent.run(AgentInputs {
        inputs: inbox_rx,
        messages: messages_rx,
        exited: exited_rx,
        containers: containers_rx,
        retries: retries_rx,
    }));
    // Keep the exited sender alive for the actor's lifetime.
    std::mem::forget(_exited_tx);
    Harness {
        inbox: inbox_tx,
        messages: messages_tx,
        out,
        cursor: Mutex::new(0),
        master: "master@127.0.0.1:5050".parse().unwrap(),
        work_dir,
        _launcher: launcher,
        files,
        actor,
    }
}

impl Harness {
    /// Stops the agent (SIGTERM-style: executors are left running; the
    /// fake executor exits by itself within 20 s).
    async fn finish(self) {
        self.inbox
            .send(Input::Shutdown { graceful: false })
            .unwrap();
        tokio::time::timeout(WAIT, self.actor)
            .await
            .unwrap()
            .unwrap();
    }

    fn deliver<M: prost::Message + prost::Name>(&self, from: &Upid, message: &M) {
        self.messages
            .send(Message {
                from: from.clone(),
                to: AGENT_ID.to_string(),
                name: M::full_name(),
                body: Bytes::from(message.encode_to_vec()),
            })
            .unwrap();
    }

    /// Waits for the next message of type `M` sent after the cursor and
    /// moves the cursor past it.
    async fn expect<M: prost::Message + prost::Name + Default>(&self) -> (Upid, M) {
        let name = M::full_name();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let notified = self.out.notify.notified();
            {
                let sent = self.out.sent.lock().unwrap();
                let mut cursor = self.cursor.lock().unwrap();
                if let Some(i) = (*cursor..sent.len()).find(|i| sent[*i].1 == name) {
                    *cursor = i + 1;
                    let (to, _, body) = &sent[i];
                    return (to.clone(), M::decode(&body[..]).unwrap());
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("no {name} was sent; sent: {:?}", self.names());
            }
        }
    }

    /// Waits until every message delivered so far was handled: messages
    /// and HTTP calls reach the actor on different channels, so tests that
    /// mix them order them with this barrier (a ping whose pong is awaited).
    async fn sync(&self) {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // At the master's address: pings from elsewhere are refused.
        let barrier: Upid = format!("barrier({n})@127.0.0.1:5050").parse().unwrap();
        self.deliver(&barrier, &msgs::PingSlaveMessage { connected: true });
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let notified = self.out.notify.notified();
            if self
                .out
                .sent
                .lock()
                .unwrap()
                .iter()
                .any(|(to, _, _)| *to == barrier)
            {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("the actor did not answer the barrier ping");
            }
        }
    }

    fn names(&self) -> Vec<String> {
        self.out
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|(_, n, _)| n.clone())
            .collect()
    }

    async fn register(&self) -> String {
        let (to, m) = self.expect::<msgs::RegisterSlaveMessage>().await;
        assert_eq!(to, self.master);
        assert_eq!(m.version.as_deref(), Some("1.11.0"));
        assert!(m.slave.id.is_none());
        self.deliver(
            &self.master,
            &msgs::SlaveRegisteredMessage {
                slave_id: SlaveId { value: "S1".into() },
                connection: Some(msgs::MasterSlaveConnection {
                    total_ping_timeout_seconds: Some(75.0),
                }),
            },
        );
        self.wait_registered().await;
        "S1".into()
    }

    async fn wait_registered(&self) {
        for _ in 0..200 {
            let metrics = self.query(Query::Metrics).await;
            if metrics["slave/registered"] == 1.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("agent did not register");
    }

    async fn query<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Query) -> T {
        let (tx, rx) = oneshot::channel();
        self.inbox.send(Input::Query(make(tx))).unwrap();
        tokio::time::timeout(WAIT, rx).await.unwrap().unwrap()
    }

    async fn state(&self) -> serde_json::Value {
        self.query(Query::State).await
    }

    async fn call(&self, call: Call) -> CallReply {
        self.call_as(call, None).await
    }

    /// A call as libprocess passes it on once the executor realm
    /// authenticated it as `principal`.
    async fn call_as(&self, call: Call, principal: Option<ExecutorPrincipal>) -> CallReply {
        let (tx, rx) = oneshot::channel();
        self.inbox
            .send(Input::ExecutorCall {
                call: Box::new(call),
                principal,
                reply: tx,
            })
            .unwrap();
        tokio::time::timeout(WAIT, rx).await.unwrap().unwrap()
    }

    async fn subscribe(&self, framework: &str, executor: &str) -> EventReader {
        let c = Call {
            subscribe: Some(call::Subscribe::default()),
            ..executor_call(framework, executor, call::Type::Subscribe)
        };
        match self.call(c).await {
            CallReply::Stream(stream) => EventReader { stream },
            other => panic!("SUBSCRIBE failed: {other:?}"),
        }
    }

    /// The sandbox of the executor's latest run.
    fn sandbox(&self, framework: &str, executor: &str) -> PathBuf {
        crate::paths::executor_latest_run_path(self.work_dir.path(), "S1", framework, executor)
    }
}

struct EventReader {
    stream: crate::agent::ExecutorStream,
}

impl EventReader {
    async fn next(&mut self) -> Option<Event> {
        tokio::time::timeout(WAIT, self.stream.events.recv())
            .await
            .expect("no event")
    }

    async fn expect(&mut self, kind: event::Type) -> Event {
        let e = self
            .next()
            .await
            .unwrap_or_else(|| panic!("stream ended before {kind:?}"));
        assert_eq!(e.r#type, Some(kind as i32), "unexpected event {e:?}");
        e
    }
}

fn executor_call(framework: &str, executor: &str, kind: call::Type) -> Call {
    Call {
        framework_id: mesos_proto::mesos::v1::FrameworkId {
            value: framework.into(),
        },
        executor_id: mesos_proto::mesos::v1::ExecutorId {
            value: executor.into(),
        },
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn update_call(framework: &str, executor: &str, task: &str, state: TaskState) -> (Call, Vec<u8>) {
    let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
    let status = mesos_proto::mesos::v1::TaskStatus {
        task_id: mesos_proto::mesos::v1::TaskId { value: task.into() },
        state: state as i32,
        source: Some(Source::Executor as i32),
        uuid: Some(uuid.clone()),
        executor_id: Some(mesos_proto::mesos::v1::ExecutorId {
            value: executor.into(),
        }),
        ..Default::default()
    };
    let c = Call {
        update: Some(call::Update { status }),
        ..executor_call(framework, executor, call::Type::Update)
    };
    (c, uuid)
}

/// A v0 update for task `task` of executor `custom` of framework F1.
fn update_for(task: &str, state: TaskState) -> msgs::StatusUpdate {
    let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
    msgs::StatusUpdate {
        framework_id: FrameworkId { value: "F1".into() },
        executor_id: Some(ExecutorId {
            value: "custom".into(),
        }),
        slave_id: Some(SlaveId { value: "S1".into() }),
        status: mesos_proto::mesos::TaskStatus {
            task_id: TaskId { value: task.into() },
            state: state as i32,
            slave_id: Some(SlaveId { value: "S1".into() }),
            ..Default::default()
        },
        timestamp: 1.0,
        uuid: Some(uuid),
        latest_state: None,
    }
}

fn framework(id: &str) -> FrameworkInfo {
    FrameworkInfo {
        user: String::new(),
        name: "test-framework".into(),
        id: Some(FrameworkId { value: id.into() }),
        ..Default::default()
    }
}

fn command_task(id: &str, command: &str) -> TaskInfo {
    TaskInfo {
        name: format!("task {id}"),
        task_id: TaskId { value: id.into() },
        slave_id: SlaveId { value: "S1".into() },
        resources: Resources::parse("cpus:1;mem:128", "*").unwrap().to_v0(),
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn run_task(task: TaskInfo, pid: Option<&str>) -> msgs::RunTaskMessage {
    msgs::RunTaskMessage {
        framework: framework("F1"),
        task,
        pid: pid.map(String::from),
        launch_executor: Some(true),
        ..Default::default()
    }
}

async fn wait_for_file(path: &Path) -> String {
    for _ in 0..400 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.is_empty() {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{} never appeared", path.display());
}

#[tokio::test]
async fn registers_and_answers_pings_to_the_sender() {
    let h = harness(&[]);
    h.register().await;
    assert!(h.out.links.lock().unwrap().contains(&h.master));
    let observer: Upid = "slave-observer(1)@127.0.0.1:5050".parse().unwrap();
    h.deliver(&observer, &msgs::PingSlaveMessage { connected: true });
    let (to, pong) = h.expect::<msgs::PongSlaveMessage>().await;
    assert_eq!(to, observer);
    assert_eq!(pong.encode_to_vec().len(), 0, "pongs are empty");

    // connected=false forces a re-registration with the agent's id.
    h.deliver(&observer, &msgs::PingSlaveMessage { connected: false });
    let (_, m) = h.expect::<msgs::ReregisterSlaveMessage>().await;
    assert_eq!(m.slave.id.unwrap().value, "S1");
    assert_eq!(m.version.as_deref(), Some("1.11.0"));
    h.finish().await;
}

#[tokio::test]
async fn registration_from_someone_else_is_ignored() {
    let h = harness(&[]);
    h.expect::<msgs::RegisterSlaveMessage>().await;
    let impostor: Upid = "master@127.0.0.2:6060".parse().unwrap();
    h.deliver(
        &impostor,
        &msgs::SlaveRegisteredMessage {
            slave_id: SlaveId { value: "S9".into() },
            connection: None,
        },
    );
    // Registration keeps being retried.
    h.expect::<msgs::RegisterSlaveMessage>().await;
    let metrics = h.query(Query::Metrics).await;
    assert_eq!(metrics["slave/registered"], 0.0);
    h.finish().await;
}

#[tokio::test]
async fn master_messages_from_anyone_but_the_registered_master_are_refused() {
    let h = harness(&[]);
    // Before registration even the real master's tasks wait.
    h.expect::<msgs::RegisterSlaveMessage>().await;
    h.deliver(&h.master, &run_task(command_task("early", "true"), None));
    h.sync().await;
    assert!(h.state().await["frameworks"].as_array().unwrap().is_empty());
    h.register().await;
    // The master's id and port at another IP, another port, another id.
    for impostor in [
        "master@127.0.0.2:5050",
        "master@127.0.0.1:5051",
        "master2@127.0.0.1:5050",
    ] {
        let impostor: Upid = impostor.parse().unwrap();
        h.deliver(&impostor, &run_task(command_task("forged", "true"), None));
        h.deliver(&impostor, &msgs::SlaveReregisteredMessage::default());
        h.deliver(
            &impostor,
            &msgs::ShutdownMessage {
                message: Some("forged".into()),
            },
        );
    }
    // A ping from outside the master's address cannot force re-registration.
    let outsider: Upid = "slave-observer(1)@127.0.0.9:5050".parse().unwrap();
    h.deliver(&outsider, &msgs::PingSlaveMessage { connected: false });
    h.sync().await;
    assert!(h.state().await["frameworks"].as_array().unwrap().is_empty());
    let metrics = h.query(Query::Metrics).await;
    assert_eq!(
        metrics["slave/registered"], 1.0,
        "still registered, still up"
    );
    assert!(!h
        .names()
        .contains(&"mesos.internal.ReregisterSlaveMessage".to_string()));
    h.finish().await;
}

#[tokio::test]
async fn command_task_runs_through_the_executor_api() {
    let h = harness(&[]);
    h.register().await;
    h.deliver(
        &h.master,
        &run_task(
            command_task("t1", "sleep 1000 && echo done"),
            Some("scheduler-1@127.0.0.1:7000"),
        ),
    );

    // The command executor starts in its sandbox with the §2 environment.
    let sandbox = h.sandbox("F1", "t1");
    let env = wait_for_file(&sandbox.join("env.txt")).await;
    let real_sandbox = std::fs::read_link(&sandbox).unwrap();
    for expected in [
        "MESOS_FRAMEWORK_ID=F1".to_string(),
        "MESOS_EXECUTOR_ID=t1".to_string(),
        "MESOS_SLAVE_ID=S1".to_string(),
        "MESOS_SLAVE_PID=slave(1)@127.0.0.1:5051".to_string(),
        "MESOS_AGENT_ENDPOINT=127.0.0.1:5051".to_string(),
        format!("MESOS_DIRECTORY={}", real_sandbox.display()),
        format!("MESOS_SANDBOX={}", real_sandbox.display()),
        "MESOS_CHECKPOINT=0".to_string(),
        "MESOS_HTTP_COMMAND_EXECUTOR=0".to_string(),
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=5secs".to_string(),
        "LIBPROCESS_PORT=0".to_string(),
        "LIBPROCESS_IP=127.0.0.1".to_string(),
    ] {
        assert!(
            env.lines().any(|l| l == expected),
            "missing {expected} in\n{env}"
        );
    }
    let argv = wait_for_file(&sandbox.join("argv.txt")).await;
    assert_eq!(
        argv.trim(),
        format!("--launcher_dir={}", h._launcher.path().display())
    );
    let debug = h.files.table();
    assert!(debug.contains_key("/frameworks/F1/executors/t1/runs/latest"));

    // Before SUBSCRIBE: other calls are refused.
    let (update, _) = update_call("F1", "t1", "t1", TaskState::TaskRunning);
    match h.call(update).await {
        CallReply::Error(CallError::Forbidden(m)) => {
            assert_eq!(m, "Executor is not subscribed");
        }
        other => panic!("unexpected {other:?}"),
    }

    let mut events = h.subscribe("F1", "t1").await;
    let subscribed = events
        .expect(event::Type::Subscribed)
        .await
        .subscribed
        .unwrap();
    assert_eq!(subscribed.executor_info.executor_id.value, "t1");
    assert_eq!(
        subscribed.executor_info.name.as_deref(),
        Some("Command Executor (Task: t1) (Command: sh -c 'sleep 1000 &...')")
    );
    assert_eq!(subscribed.framework_info.name, "test-framework");
    assert_eq!(subscribed.agent_info.id.unwrap().value, "S1");
    assert!(subscribed.container_id.is_some());
    let launch = events.expect(event::Type::Launch).await.launch.unwrap();
    assert_eq!(launch.task.task_id.value, "t1");

    // STARTING then RUNNING: only one unacknowledged update at a time.
    let (starting, starting_uuid) = update_call("F1", "t1", "t1", TaskState::TaskStarting);
    assert!(matches!(h.call(starting).await, CallReply::Accepted));
    let acked = events
        .expect(event::Type::Acknowledged)
        .await
        .acknowledged
        .unwrap();
    assert_eq!(acked.uuid, starting_uuid);
    let (to, forwarded) = h.expect::<msgs::StatusUpdateMessage>().await;
    assert_eq!(to, h.master);
    assert_eq!(forwarded.pid.as_deref(), Some("slave(1)@127.0.0.1:5051"));
    let update = forwarded.update;
    assert_eq!(update.status.state, TaskState::TaskStarting as i32);
    assert_eq!(update.status.uuid.as_deref(), Some(&starting_uuid[..]));
    assert_eq!(update.latest_state, Some(TaskState::TaskStarting as i32));
    assert_eq!(update.status.source, Some(Source::Executor as i32));
    assert!(update
        .status
        .container_status
        .as_ref()
        .unwrap()
        .container_id
        .is_some());

    let (running, running_uuid) = update_call("F1", "t1", "t1", TaskState::TaskRunning);
    assert!(matches!(h.call(running).await, CallReply::Accepted));
    events.expect(event::Type::Acknowledged).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        h.names()
            .iter()
            .filter(|n| n.ends_with("StatusUpdateMessage"))
            .count(),
        1,
        "RUNNING waits for the STARTING ack"
    );
    h.deliver(
        &h.master,
        &msgs::StatusUpdateAcknowledgementMessage {
            slave_id: SlaveId { value: "S1".into() },
            framework_id: FrameworkId { value: "F1".into() },
            task_id: TaskId { value: "t1".into() },
            uuid: starting_uuid,
        },
    );
    let (_, forwarded) = h.expect::<msgs::StatusUpdateMessage>().await;
    assert_eq!(forwarded.update.uuid.as_deref(), Some(&running_uuid[..]));
    assert_eq!(
        forwarded.update.latest_state,
        Some(TaskState::TaskRunning as i32)
    );

    // The legacy state shows the framework, executor and task.
    let state = h.state().await;
    assert_eq!(state["id"], "S1");
    let fw = &state["frameworks"][0];
    assert_eq!(fw["id"], "F1");
    let ex = &fw["executors"][0];
    assert_eq!(ex["id"], "t1");
    assert_eq!(ex["source"], "t1");
    assert_eq!(ex["resources"]["cpus"], 1.1);
    assert_eq!(ex["resources"]["mem"], 160.0);
    assert_eq!(ex["tasks"][0]["state"], "TASK_RUNNING");
    assert_eq!(
        ex["tasks"][0]["executor_id"], "",
        "command tasks have no executor id"
    );
    let metrics = h.query(Query::Metrics).await;
    assert_eq!(metrics["slave/tasks_running"], 1.0);
    assert_eq!(metrics["slave/executors_running"], 1.0);

    // Framework messages flow both ways.
    h.deliver(
        &h.master,
        &msgs::FrameworkToExecutorMessage {
            slave_id: SlaveId { value: "S1".into() },
            framework_id: FrameworkId { value: "F1".into() },
            executor_id: ExecutorId { value: "t1".into() },
            data: b"ping".to_vec(),
        },
    );
    assert_eq!(
        events
            .expect(event::Type::Message)
            .await
            .message
            .unwrap()
            .data,
        b"ping"
    );
    let message = Call {
        message: Some(call::Message {
            data: b"pong".to_vec(),
        }),
        ..executor_call("F1", "t1", call::Type::Message)
    };
    assert!(matches!(h.call(message).await, CallReply::Accepted));
    let (to, m) = h.expect::<msgs::ExecutorToFrameworkMessage>().await;
    assert_eq!(
        to.to_string(),
        "scheduler-1@127.0.0.1:7000",
        "v0 schedulers get it directly"
    );
    assert_eq!(m.data, b"pong");

    // A kill goes to the executor with its policy.
    h.deliver(
        &h.master,
        &msgs::KillTaskMessage {
            framework_id: FrameworkId { value: "F1".into() },
            task_id: TaskId { value: "t1".into() },
            kill_policy: None,
        },
    );
    let kill = events.expect(event::Type::Kill).await.kill.unwrap();
    assert_eq!(kill.task_id.value, "t1");

    // The executor dies: the task fails, reported by the agent.
    std::fs::write(sandbox.join("exit_now"), "").unwrap();
    assert!(events.next().await.is_none(), "the stream closes");
    h.deliver(
        &h.master,
        &msgs::StatusUpdateAcknowledgementMessage {
            slave_id: SlaveId { value: "S1".into() },
            framework_id: FrameworkId { value: "F1".into() },
            task_id: TaskId { value: "t1".into() },
            uuid: running_uuid,
        },
    );
    let (_, failed) = h.expect::<msgs::StatusUpdateMessage>().await;
    let status = &failed.update.status;
    assert_eq!(status.state, TaskState::TaskFailed as i32);
    assert_eq!(status.reason, Some(Reason::ExecutorTerminated as i32));
    assert_eq!(status.source, Some(Source::Slave as i32));
    assert_eq!(status.message.as_deref(), Some("Executor terminated"));
    // Command executors are not reported to the master.
    assert!(!h
        .names()
        .iter()
        .any(|n| n.ends_with("ExitedExecutorMessage")));

    // Once the terminal update is acknowledged everything is completed.
    h.deliver(
        &h.master,
        &msgs::StatusUpdateAcknowledgementMessage {
            slave_id: SlaveId { value: "S1".into() },
            framework_id: FrameworkId { value: "F1".into() },
            task_id: TaskId { value: "t1".into() },
            uuid: failed.update.uuid.unwrap(),
        },
    );
    let mut completed = false;
    for _ in 0..200 {
        let state = h.state().await;
        if state["frameworks"].as_array().unwrap().is_empty() {
            let done = &state["completed_frameworks"][0]["completed_executors"][0];
            assert_eq!(done["completed_tasks"][0]["state"], "TASK_FAILED");
            completed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(completed, "framework was not completed");
    h.finish().await;
}

#[tokio::test]
async fn executor_gets_a_token_naming_it_and_only_that_token_speaks_for_it() {
    let secret = tempfile::tempdir().unwrap();
    let key_path = secret.path().join("jwt_secret_key");
    std::fs::write(&key_path, "harness key").unwrap();
    let key_flag = format!("--jwt_secret_key={}", key_path.display());
    let h = harness(&[
        "--authenticate_http_executors",
        &key_flag,
        "--http_authenticators=jwt",
    ]);
    h.register().await;
    h.deliver(&h.master, &run_task(command_task("t1", "sleep 1000"), None));
    let env = wait_for_file(&h.sandbox("F1", "t1").join("env.txt")).await;
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("MESOS_EXECUTOR_AUTHENTICATION_TOKEN="))
        .unwrap_or_else(|| panic!("no token in\n{env}"));
    let key = mesos_authentication::jwt::SecretKey::new(b"harness key".to_vec());
    let claims = mesos_authentication::jwt::verify(token, &key, 0).unwrap();
    let state = h.state().await;
    let container = state["frameworks"][0]["executors"][0]["container"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(claims.get("fid").map(String::as_str), Some("F1"));
    assert_eq!(claims.get("eid").map(String::as_str), Some("t1"));
    assert_eq!(claims.get("cid"), Some(&container));

    let subscribe = || Call {
        subscribe: Some(call::Subscribe::default()),
        ..executor_call("F1", "t1", call::Type::Subscribe)
    };
    // Another executor's token, and a Basic principal, are forbidden.
    let mut other = claims.clone();
    other.insert("eid".into(), "t2".into());
    for principal in [
        ExecutorPrincipal::Claims(other),
        ExecutorPrincipal::Value("ops".into()),
    ] {
        match h.call_as(subscribe(), Some(principal)).await {
            CallReply::Error(CallError::Forbidden(m)) => {
                assert!(m.starts_with("Authenticated principal"), "{m}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Its own token subscribes.
    match h
        .call_as(subscribe(), Some(ExecutorPrincipal::Claims(claims)))
        .await
    {
        CallReply::Stream(_) => {}
        other => panic!("its own token was refused: {other:?}"),
    }
    h.finish().await;
}

#[tokio::test]
async fn unknown_framework_and_executor_are_bad_requests() {
    let h = harness(&[]);
    h.register().await;
    match h
        .call(executor_call("nope", "e", call::Type::Subscribe))
        .await
    {
        CallReply::Error(CallError::Invalid(m)) => {
            assert_eq!(m, "Framework cannot be found");
        }
        other => panic!("unexpected {other:?}"),
    }
    h.deliver(&h.master, &run_task(command_task("t1", "sleep 1"), None));
    wait_for_file(&h.sandbox("F1", "t1").join("env.txt")).await;
    match h
        .call(executor_call("F1", "other", call::Type::Subscribe))
        .await
    {
        CallReply::Error(CallError::Invalid(m)) => {
            assert_eq!(m, "Executor cannot be found");
        }
        other => panic!("unexpected {other:?}"),
    }
    h.finish().await;
}

#[tokio::test]
async fn killing_a_queued_task_answers_for_the_executor_and_shuts_it_down() {
    let h = harness(&["--executor_shutdown_grace_period=200ms"]);
    h.register().await;
    h.deliver(&h.master, &run_task(command_task("t1", "sleep 1000"), None));
    let sandbox = h.sandbox("F1", "t1");
    wait_for_file(&sandbox.join("env.txt")).await;
    h.deliver(
        &h.master,
        &msgs::KillTaskMessage {
            framework_id: FrameworkId { value: "F1".into() },
            task_id: TaskId { value: "t1".into() },
            kill_policy: None,
        },
    );
    let (_, killed) = h.expect::<msgs::StatusUpdateMessage>().await;
    assert_eq!(killed.update.status.state, TaskState::TaskKilled as i32);
    assert_eq!(
        killed.update.status.reason,
        Some(Reason::TaskKilledDuringLaunch as i32)
    );
    assert_eq!(
        killed.update.status.message.as_deref(),
        Some("Killed before delivery to the executor")
    );

    // The executor never got a task: a SUBSCRIBE now gets SHUTDOWN, and the
    // process is killed after the grace period.
    let mut events = h.subscribe("F1", "t1").await;
    events.expect(event::Type::Shutdown).await;
    let mut killed = false;
    for _ in 0..400 {
        let metrics = h.query(Query::Metrics).await;
        if metrics["slave/executors_terminated"] == 1.0 {
            killed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(killed, "executor was not killed");
    h.finish().await;
}

#[tokio::test]
async fn executors_that_never_subscribe_are_destroyed() {
    let h = harness(&["--executor_registration_timeout=300ms"]);
    h.register().await;
    h.deliver(&h.master, &run_task(command_task("t1", "sleep 1000"), None));
    let (_, failed) = h.expect::<msgs::StatusUpdateMessage>().await;
    let status = failed.update.status;
    assert_eq!(status.state, TaskState::TaskFailed as i32);
    assert_eq!(
        status.reason,
        Some(Reason::ExecutorRegistrationTimeout as i32)
    );
    assert_eq!(
        status.message.as_deref(),
        Some("Executor did not register within 300ms")
    );
    h.finish().await;
}

#[tokio::test]
async fn fetch_failures_fail_the_task_without_starting_the_executor() {
    let h = harness(&[]);
    h.register().await;
    let mut task = command_task("t1", "true");
    task.command.as_mut().unwrap().uris.push(command_info::Uri {
        value: "/no/such/file.tgz".into(),
        ..Default::default()
    });
    h.deliver(&h.master, &run_task(task, None));
    let (_, failed) = h.expect::<msgs::StatusUpdateMessage>().await;
    let status = failed.update.status;
    assert_eq!(status.state, TaskState::TaskFailed as i32);
    assert_eq!(status.reason, Some(Reason::ContainerLaunchFailed as i32));
    let message = status.message.unwrap();
    assert!(
        message.starts_with("Failed to launch container: Failed to fetch all URIs"),
        "{message}"
    );
    assert!(message.contains("/no/such/file.tgz"), "{message}");
    assert!(!h.sandbox("F1", "t1").join("env.txt").exists());
    h.finish().await;
}

#[tokio::test]
async fn default_executor_groups_fail_clearly() {
    let h = harness(&[]);
    h.register().await;
    let executor = ExecutorInfo {
        r#type: Some(executor_info::Type::Default as i32),
        executor_id: ExecutorId {
            value: "default".into(),
        },
        framework_id: Some(FrameworkId { value: "F1".into() }),
        resources: Resources::parse("cpus:0.1;mem:32", "*").unwrap().to_v0(),
        ..Default::default()
    };
    let mut a = command_task("a", "true");
    let mut b = command_task("b", "true");
    a.command = None;
    b.command = None;
    h.deliver(
        &h.master,
        &msgs::RunTaskGroupMessage {
            framework: framework("F1"),
            executor,
            task_group: TaskGroupInfo { tasks: vec![a, b] },
            launch_executor: Some(true),
            ..Default::default()
        },
    );
    let (_, first) = h.expect::<msgs::StatusUpdateMessage>().await;
    let status = first.update.status;
    assert_eq!(status.state, TaskState::TaskFailed as i32);
    assert_eq!(status.reason, Some(Reason::ContainerLaunchFailed as i32));
    assert!(status.message.unwrap().contains("default executor"));
    // Custom executors are reported to the master.
    let (_, exited) = h.expect::<msgs::ExitedExecutorMessage>().await;
    assert_eq!(exited.executor_id.value, "default");
    h.finish().await;
}

#[tokio::test]
async fn custom_executors_can_use_the_v0_driver_protocol() {
    let h = harness(&[]);
    h.register().await;
    let executor = ExecutorInfo {
        executor_id: ExecutorId {
            value: "custom".into(),
        },
        framework_id: Some(FrameworkId { value: "F1".into() }),
        command: Some(CommandInfo {
            value: Some("env > env.txt; exec sleep 20".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut task = command_task("t1", "unused");
    task.command = None;
    task.executor = Some(executor);
    h.deliver(
        &h.master,
        &run_task(task, Some("scheduler-1@127.0.0.1:7000")),
    );
    wait_for_file(&h.sandbox("F1", "custom").join("env.txt")).await;

    let driver: Upid = "executor(1)@127.0.0.1:40000".parse().unwrap();
    h.deliver(
        &driver,
        &msgs::RegisterExecutorMessage {
            framework_id: FrameworkId { value: "F1".into() },
            executor_id: ExecutorId {
                value: "custom".into(),
            },
        },
    );
    let (to, registered) = h.expect::<msgs::ExecutorRegisteredMessage>().await;
    assert_eq!(to, driver);
    assert_eq!(registered.slave_id.value, "S1");
    let (to, run) = h.expect::<msgs::RunTaskMessage>().await;
    assert_eq!(to, driver);
    assert_eq!(run.task.task_id.value, "t1");

    let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
    let update = msgs::StatusUpdate {
        framework_id: FrameworkId { value: "F1".into() },
        executor_id: Some(ExecutorId {
            value: "custom".into(),
        }),
        slave_id: Some(SlaveId { value: "S1".into() }),
        status: mesos_proto::mesos::TaskStatus {
            task_id: TaskId { value: "t1".into() },
            state: TaskState::TaskRunning as i32,
            slave_id: Some(SlaveId { value: "S1".into() }),
            ..Default::default()
        },
        timestamp: 1.0,
        uuid: Some(uuid.clone()),
        latest_state: None,
    };
    h.deliver(
        &driver,
        &msgs::StatusUpdateMessage {
            update,
            pid: Some(driver.to_string()),
        },
    );
    // Forwarded first (taken over by the status update manager), then acked.
    let (_, forwarded) = h.expect::<msgs::StatusUpdateMessage>().await;
    assert_eq!(forwarded.update.status.uuid.as_deref(), Some(&uuid[..]));
    let (to, ack) = h.expect::<msgs::StatusUpdateAcknowledgementMessage>().await;
    assert_eq!(to, driver);
    assert_eq!(ack.uuid, uuid);

    // Another pid cannot speak for this executor: not over libprocess...
    let forger: Upid = "executor(1)@127.0.0.1:40001".parse().unwrap();
    let mut forged = update_for("t1", TaskState::TaskFailed);
    h.deliver(
        &forger,
        &msgs::StatusUpdateMessage {
            update: forged.clone(),
            pid: Some(forger.to_string()),
        },
    );
    // ...nor by naming the real one as the pid...
    forged.uuid = Some(uuid::Uuid::new_v4().as_bytes().to_vec());
    h.deliver(
        &forger,
        &msgs::StatusUpdateMessage {
            update: forged,
            pid: Some(driver.to_string()),
        },
    );
    // ...nor over the v1 API, which needs a live subscription.
    let (update, _) = update_call("F1", "custom", "t1", TaskState::TaskFailed);
    match h.call(update).await {
        CallReply::Error(CallError::Forbidden(m)) => assert!(m.contains("not subscribed"), "{m}"),
        other => panic!("expected 403, got {other:?}"),
    }
    h.sync().await;
    let state = h.state().await;
    let task = &state["frameworks"][0]["executors"][0]["tasks"][0];
    assert_eq!(task["state"], "TASK_RUNNING", "{state}");

    // Shutting the framework down reaches the driver, then the process is
    // killed and the master hears about the custom executor.
    h.deliver(
        &h.master,
        &msgs::ShutdownFrameworkMessage {
            framework_id: FrameworkId { value: "F1".into() },
        },
    );
    let (to, _) = h.expect::<msgs::ShutdownExecutorMessage>().await;
    assert_eq!(to, driver);
    h.finish().await;
}

#[tokio::test]
async fn tasks_for_another_agent_id_are_ignored() {
    let h = harness(&[]);
    h.register().await;
    let mut task = command_task("t1", "true");
    task.slave_id.value = "OLD".into();
    h.deliver(&h.master, &run_task(task, None));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.state().await["frameworks"].as_array().unwrap().is_empty());
    h.finish().await;
}

#[tokio::test]
async fn framework_updates_and_executor_shutdowns() {
    let h = harness(&["--executor_shutdown_grace_period=300ms"]);
    h.register().await;
    h.deliver(
        &h.master,
        &run_task(
            command_task("t1", "sleep 1000"),
            Some("scheduler-1@127.0.0.1:7000"),
        ),
    );
    h.sync().await;
    let mut events = h.subscribe("F1", "t1").await;
    events.expect(event::Type::Subscribed).await;
    events.expect(event::Type::Launch).await;

    // The framework became an HTTP framework: messages now go via the master.
    h.deliver(
        &h.master,
        &msgs::UpdateFrameworkMessage {
            framework_id: FrameworkId { value: "F1".into() },
            pid: Some(String::new()),
            framework_info: Some(framework("F1")),
        },
    );
    h.sync().await;
    let message = Call {
        message: Some(call::Message {
            data: b"hi".to_vec(),
        }),
        ..executor_call("F1", "t1", call::Type::Message)
    };
    assert!(matches!(h.call(message).await, CallReply::Accepted));
    let (to, _) = h.expect::<msgs::ExecutorToFrameworkMessage>().await;
    assert_eq!(to, h.master);

    // Shutdown: SHUTDOWN event, then the process is killed after the grace
    // period and the launched task fails.
    h.deliver(
        &h.master,
        &msgs::ShutdownExecutorMessage {
            executor_id: Some(ExecutorId { value: "t1".into() }),
            framework_id: Some(FrameworkId { value: "F1".into() }),
        },
    );
    events.expect(event::Type::Shutdown).await;
    assert!(
        events.next().await.is_none(),
        "the stream ends when the process dies"
    );
    let (_, failed) = h.expect::<msgs::StatusUpdateMessage>().await;
    assert_eq!(failed.update.status.state, TaskState::TaskFailed as i32);
    assert_eq!(
        failed.update.status.reason,
        Some(Reason::ExecutorTerminated as i32)
    );
    h.finish().await;
}

// ---------------------------------------------------------------------------
// Recovery (upstream `slave_recovery_tests.cpp`), on paused time: the
// checkpoint is written as a previous agent run would have left it.
// ---------------------------------------------------------------------------

mod recovery {
    use super::*;
    use crate::checkpoint::Checkpointer;
    use crate::paths::RunIds;
    use mesos_proto::mesos::Task;

    /// A live process standing in for an executor that survived the agent.
    struct Dummy(std::process::Child);

    impl Dummy {
        fn start() -> Dummy {
            Dummy(
                std::process::Command::new("sleep")
                    .arg("100")
                    .spawn()
                    .unwrap(),
            )
        }
        fn pid(&self) -> i32 {
            self.0.id() as i32
        }
        /// Whether it still runs (SIGKILL leaves a zombie of this test).
        fn running(&mut self) -> bool {
            self.0.try_wait().unwrap().is_none()
        }

        /// Whether the process is gone within 10 s of real time: a SIGKILL
        /// is delivered asynchronously, so "killed" is a condition to wait
        /// for, not a state to read at once (the tests run on paused tokio
        /// time, so this waits on the OS clock).
        fn exits(&mut self) -> bool {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while self.running() {
                if std::time::Instant::now() > deadline {
                    return false;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            true
        }
    }

    impl Drop for Dummy {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn status_update(task: &str, state: TaskState) -> msgs::StatusUpdate {
        msgs::StatusUpdate {
            framework_id: FrameworkId { value: "F1".into() },
            executor_id: Some(ExecutorId { value: "E1".into() }),
            slave_id: Some(SlaveId { value: "S1".into() }),
            status: mesos_proto::mesos::TaskStatus {
                task_id: TaskId { value: task.into() },
                state: state as i32,
                slave_id: Some(SlaveId { value: "S1".into() }),
                uuid: None,
                ..Default::default()
            },
            timestamp: 1.0,
            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
            latest_state: None,
        }
    }

    const IDS: RunIds<'static> = RunIds {
        slave_id: "S1",
        framework_id: "F1",
        executor_id: "E1",
        container_id: "C1",
    };

    /// Agent S1 with framework F1 (checkpointing, PARTITION_AWARE when
    /// asked), executor E1 in run C1 at `pid`, task T1: STARTING
    /// acknowledged, RUNNING not yet. Returns the RUNNING update.
    fn checkpointed(
        work_dir: &Path,
        pid: Option<i32>,
        http: bool,
        libprocess: Option<&str>,
    ) -> msgs::StatusUpdate {
        let cp = Checkpointer::new(work_dir.to_path_buf());
        let resources =
            Resources::parse("cpus:4;mem:4096;disk:1000;ports:[31000-32000]", "*").unwrap();
        let mut info = crate::info::slave_info("agent-host".into(), 5051, &resources, vec![]);
        info.id = Some(SlaveId { value: "S1".into() });
        cp.agent(&info).unwrap();
        let mut fw = framework("F1");
        fw.checkpoint = Some(true);
        cp.framework("S1", &fw, None).unwrap();
        let executor = ExecutorInfo {
            executor_id: ExecutorId { value: "E1".into() },
            framework_id: Some(FrameworkId { value: "F1".into() }),
            command: Some(CommandInfo {
                value: Some("custom-executor".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        cp.executor("S1", "F1", &executor, "C1").unwrap();
        if let Some(pid) = pid {
            cp.forked_pid(&IDS, pid).unwrap();
        }
        if http {
            cp.http_marker(&IDS).unwrap();
        }
        if let Some(p) = libprocess {
            cp.libprocess_pid(&IDS, p).unwrap();
        }
        let task = Task {
            name: "T1".into(),
            task_id: TaskId { value: "T1".into() },
            framework_id: FrameworkId { value: "F1".into() },
            executor_id: Some(ExecutorId { value: "E1".into() }),
            slave_id: SlaveId { value: "S1".into() },
            state: TaskState::TaskStaging as i32,
            ..Default::default()
        };
        cp.task(&IDS, &task).unwrap();
        let starting = status_update("T1", TaskState::TaskStarting);
        let running = status_update("T1", TaskState::TaskRunning);
        cp.update(&IDS, "T1", &starting).unwrap();
        cp.ack(&IDS, "T1", starting.uuid.as_deref().unwrap())
            .unwrap();
        cp.update(&IDS, "T1", &running).unwrap();
        running
    }

    /// Records of T1's `task.updates`, as (is-ack, uuid).
    fn records(work_dir: &Path) -> Vec<(bool, Vec<u8>)> {
        let records: Vec<msgs::StatusUpdateRecord> =
            crate::checkpoint::read_messages(&IDS.task_updates(work_dir, "T1")).unwrap();
        records
            .into_iter()
            .map(|r| {
                let ack = r.r#type == msgs::status_update_record::Type::Ack as i32;
                let uuid = if ack {
                    r.uuid.unwrap()
                } else {
                    r.update.unwrap().uuid.unwrap()
                };
                (ack, uuid)
            })
            .collect()
    }

    /// Acknowledges forwarded updates until one that is not RUNNING
    /// arrives (a stream forwards one update at a time).
    async fn next_terminal(h: &Harness) -> msgs::StatusUpdateMessage {
        loop {
            let (_, u) = h.expect::<msgs::StatusUpdateMessage>().await;
            if u.update.status.state != TaskState::TaskRunning as i32 {
                return u;
            }
            h.deliver(
                &h.master,
                &msgs::StatusUpdateAcknowledgementMessage {
                    slave_id: SlaveId { value: "S1".into() },
                    framework_id: FrameworkId { value: "F1".into() },
                    task_id: TaskId { value: "T1".into() },
                    uuid: u.update.uuid.clone().unwrap(),
                },
            );
        }
    }

    fn reregistered() -> msgs::SlaveReregisteredMessage {
        msgs::SlaveReregisteredMessage {
            slave_id: SlaveId { value: "S1".into() },
            reconciliations: Vec::new(),
            connection: Some(msgs::MasterSlaveConnection {
                total_ping_timeout_seconds: Some(75.0),
            }),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reconnected_http_executor_keeps_its_task_and_the_agent_its_id() {
        let work = tempfile::tempdir().unwrap();
        let mut executor = Dummy::start();
        let running = checkpointed(work.path(), Some(executor.pid()), true, None);
        // A container of a non-checkpointing framework from the last run.
        let mut orphan = Dummy::start();
        crate::checkpoint::write_text(
            &work.path().join("runtime/containers/orphan/pid"),
            &orphan.pid().to_string(),
        )
        .unwrap();

        let h = harness_in(work, &[]);
        h.sync().await;
        assert!(
            !h.names().iter().any(|n| n.contains("RegisterSlave")),
            "no registration before the executor is back: {:?}",
            h.names()
        );
        assert!(orphan.exits(), "the orphan container was killed");

        let mut events = h.subscribe("F1", "E1").await;
        let subscribed = events.expect(event::Type::Subscribed).await;
        assert_eq!(
            subscribed.subscribed.unwrap().container_id.unwrap().value,
            "C1"
        );
        let (to, m) = h.expect::<msgs::ReregisterSlaveMessage>().await;
        assert_eq!(to, h.master);
        assert_eq!(m.slave.id.unwrap().value, "S1", "same agent id");
        assert_eq!(m.tasks.len(), 1);
        assert_eq!(m.tasks[0].state, TaskState::TaskRunning as i32);
        assert_eq!(m.executor_infos[0].executor_id.value, "E1");
        assert_eq!(m.frameworks[0].id.as_ref().unwrap().value, "F1");

        h.deliver(&h.master, &reregistered());
        // The update the scheduler never acknowledged goes out again, same uuid.
        let (_, forwarded) = h.expect::<msgs::StatusUpdateMessage>().await;
        assert_eq!(forwarded.update.uuid, running.uuid);
        h.deliver(
            &h.master,
            &msgs::StatusUpdateAcknowledgementMessage {
                slave_id: SlaveId { value: "S1".into() },
                framework_id: FrameworkId { value: "F1".into() },
                task_id: TaskId { value: "T1".into() },
                uuid: running.uuid.clone().unwrap(),
            },
        );
        h.sync().await;
        let recorded = records(h.work_dir.path());
        assert_eq!(
            recorded.last(),
            Some(&(true, running.uuid.clone().unwrap())),
            "the acknowledgement is checkpointed"
        );
        assert!(executor.running(), "the executor was never touched");
    }

    #[tokio::test(start_paused = true)]
    async fn executor_not_reregistering_in_time_is_destroyed_and_its_task_lost() {
        let work = tempfile::tempdir().unwrap();
        let mut executor = Dummy::start();
        checkpointed(work.path(), Some(executor.pid()), true, None);
        let h = harness_in(work, &["--executor_reregistration_timeout=2secs"]);
        // Nobody re-subscribes: the timeout (virtual time) ends recovery.
        let (_, m) = h.expect::<msgs::ReregisterSlaveMessage>().await;
        assert_eq!(m.slave.id.unwrap().value, "S1");
        h.deliver(&h.master, &reregistered());
        let lost = next_terminal(&h).await;
        assert!(executor.exits(), "the late executor was killed");
        assert_eq!(lost.update.status.state, TaskState::TaskLost as i32);
        assert_eq!(
            lost.update.status.reason,
            Some(Reason::ExecutorReregistrationTimeout as i32)
        );
        h.expect::<msgs::ExitedExecutorMessage>().await;
    }

    #[tokio::test(start_paused = true)]
    async fn executor_that_died_while_the_agent_was_down_fails_its_task() {
        let work = tempfile::tempdir().unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let pid = gone.id() as i32;
        gone.wait().unwrap();
        checkpointed(work.path(), Some(pid), true, None);
        let h = harness_in(work, &[]);
        // No executor to wait for: the agent re-registers at once.
        h.expect::<msgs::ReregisterSlaveMessage>().await;
        h.deliver(&h.master, &reregistered());
        let failed = next_terminal(&h).await;
        assert_eq!(failed.update.status.state, TaskState::TaskFailed as i32);
        assert_eq!(
            failed.update.status.reason,
            Some(Reason::ExecutorTerminated as i32)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn v0_executor_is_asked_to_reconnect_and_reregisters() {
        let work = tempfile::tempdir().unwrap();
        let executor = Dummy::start();
        let v0 = "executor(1)@127.0.0.1:40001";
        checkpointed(work.path(), Some(executor.pid()), false, Some(v0));
        let h = harness_in(work, &[]);
        let (to, reconnect) = h.expect::<msgs::ReconnectExecutorMessage>().await;
        assert_eq!(to.to_string(), v0);
        assert_eq!(reconnect.slave_id.value, "S1");
        let finished = status_update("T1", TaskState::TaskFinished);
        h.deliver(
            &v0.parse().unwrap(),
            &msgs::ReregisterExecutorMessage {
                executor_id: ExecutorId { value: "E1".into() },
                framework_id: FrameworkId { value: "F1".into() },
                tasks: Vec::new(),
                updates: vec![finished.clone()],
            },
        );
        let (to, _) = h.expect::<msgs::ExecutorReregisteredMessage>().await;
        assert_eq!(to.to_string(), v0);
        let (to, ack) = h.expect::<msgs::StatusUpdateAcknowledgementMessage>().await;
        assert_eq!(to.to_string(), v0, "the executor's update is taken over");
        assert_eq!(Some(ack.uuid), finished.uuid);
        let (_, m) = h.expect::<msgs::ReregisterSlaveMessage>().await;
        assert_eq!(m.tasks[0].state, TaskState::TaskFinished as i32);
        drop(executor);
    }

    #[tokio::test(start_paused = true)]
    async fn recover_cleanup_kills_recovered_executors_and_exits() {
        let work = tempfile::tempdir().unwrap();
        let mut executor = Dummy::start();
        checkpointed(work.path(), Some(executor.pid()), true, None);
        let h = harness_in(work, &["--recover=cleanup"]);
        tokio::time::timeout(WAIT, &mut { h.actor })
            .await
            .expect("the agent exits after cleaning up")
            .unwrap();
        assert!(executor.exits(), "the recovered executor was killed");
        assert!(
            !crate::paths::latest_slave_path(h.work_dir.path()).exists(),
            "the next start is a new agent"
        );
        assert!(
            h.out.sent.lock().unwrap().is_empty(),
            "no master was contacted"
        );
    }
}

mod faults;
