//! The command executor against a fake agent on 127.0.0.1: real tasks
//! (`sh`), the real v1 executor protocol, scripted agent answers.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use mesos_executor::{Config, Flags, Outcome};
use mesos_proto::mesos::v1::executor::{call, event, Call, Event};
use mesos_proto::mesos::v1::framework_info::{capability, Capability};
use mesos_proto::mesos::v1::resource::AllocationInfo;
use mesos_proto::mesos::v1::{
    environment, task_status, AgentId, AgentInfo, CommandInfo, DurationInfo, Environment,
    ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy, Resource, TaskId, TaskInfo,
    TaskState, TaskStatus,
};
use mesos_scheduler_client::test_support::{record, FakeRequest, FakeServer};
use mesos_scheduler_client::ContentType;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Generous: tests run beside heavy builds on a small machine.
const STEP: Duration = Duration::from_secs(20);

struct Agent {
    server: FakeServer,
    content_type: ContentType,
    feed: Option<mpsc::Sender<Bytes>>,
    subscribe_connection: u64,
}

impl Agent {
    async fn start(content_type: ContentType) -> Agent {
        Agent {
            server: FakeServer::start().await.unwrap(),
            content_type,
            feed: None,
            subscribe_connection: u64::MAX,
        }
    }

    async fn next(&mut self) -> (Call, FakeRequest) {
        let request = tokio::time::timeout(STEP, self.server.next_request())
            .await
            .expect("the executor went quiet")
            .expect("the fake agent stopped");
        assert_eq!(request.path, "/slave(1)/api/v1/executor");
        assert_eq!(request.header("content-type"), self.content_type.mime());
        assert_eq!(request.header("accept"), self.content_type.mime());
        let call: Call = self.content_type.decode(&request.body).unwrap();
        assert_eq!(call.framework_id.value, "fw-1");
        assert_eq!(call.executor_id.value, "task-1");
        (call, request)
    }

    /// Waits for SUBSCRIBE, answers 200 and sends SUBSCRIBED.
    async fn accept_subscribe(&mut self, capabilities: &[capability::Type]) -> call::Subscribe {
        let (call, request) = self.next().await;
        assert_eq!(call.r#type(), call::Type::Subscribe);
        self.subscribe_connection = request.connection;
        let feed = request.respond_stream(200, &[("Content-Type", self.content_type.mime())]);
        self.feed = Some(feed);
        self.send(Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                executor_info: ExecutorInfo {
                    executor_id: ExecutorId {
                        value: "task-1".into(),
                    },
                    ..Default::default()
                },
                framework_info: FrameworkInfo {
                    user: "test".into(),
                    name: "fake".into(),
                    id: Some(FrameworkId {
                        value: "fw-1".into(),
                    }),
                    capabilities: capabilities
                        .iter()
                        .map(|t| Capability {
                            r#type: Some(*t as i32),
                        })
                        .collect(),
                    ..Default::default()
                },
                agent_info: AgentInfo {
                    hostname: "fake-agent".into(),
                    ..Default::default()
                },
                container_id: None,
            }),
            ..Default::default()
        })
        .await;
        call.subscribe.unwrap()
    }

    async fn send(&mut self, event: Event) {
        let feed = self.feed.as_ref().expect("not subscribed");
        feed.send(record(self.content_type, &event)).await.unwrap();
    }

    async fn launch(&mut self, task: TaskInfo) {
        self.send(Event {
            r#type: Some(event::Type::Launch as i32),
            launch: Some(event::Launch { task }),
            ..Default::default()
        })
        .await;
    }

    async fn kill(&mut self, policy: Option<KillPolicy>) {
        self.send(Event {
            r#type: Some(event::Type::Kill as i32),
            kill: Some(event::Kill {
                task_id: TaskId {
                    value: "task-1".into(),
                },
                kill_policy: policy,
            }),
            ..Default::default()
        })
        .await;
    }

    /// The next UPDATE (answered 202), checked for the executor's invariants.
    async fn update(&mut self) -> TaskStatus {
        let (call, request) = self.next().await;
        assert_eq!(call.r#type(), call::Type::Update, "expected an UPDATE");
        assert_ne!(
            request.connection, self.subscribe_connection,
            "UPDATE must not use the SUBSCRIBE connection"
        );
        request.respond(202, &[], "");
        let status = call.update.unwrap().status;
        assert_eq!(status.source, Some(task_status::Source::Executor as i32));
        assert_eq!(status.executor_id.as_ref().unwrap().value, "task-1");
        assert_eq!(status.uuid.as_ref().unwrap().len(), 16);
        assert!(status.timestamp.unwrap() > 1.0e9);
        status
    }

    async fn expect_update(&mut self, state: TaskState) -> TaskStatus {
        let status = self.update().await;
        assert_eq!(
            TaskState::try_from(status.state).unwrap(),
            state,
            "unexpected update {status:?}"
        );
        status
    }

    async fn ack(&mut self, status: &TaskStatus) {
        self.send(Event {
            r#type: Some(event::Type::Acknowledged as i32),
            acknowledged: Some(event::Acknowledged {
                task_id: status.task_id.clone(),
                uuid: status.uuid.clone().unwrap(),
            }),
            ..Default::default()
        })
        .await;
    }

    /// Ends the event stream, as an agent that goes away would.
    fn close_stream(&mut self) {
        self.feed = None;
    }
}

fn config(agent: &Agent, sandbox: &std::path::Path, extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("MESOS_FRAMEWORK_ID".into(), "fw-1".into());
    env.insert("MESOS_EXECUTOR_ID".into(), "task-1".into());
    env.insert(
        "MESOS_SLAVE_PID".into(),
        format!("slave(1)@{}", agent.server.authority()),
    );
    env.insert("MESOS_SANDBOX".into(), sandbox.display().to_string());
    env.insert(
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
        "5secs".into(),
    );
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let mut config = Config::from_env(&Flags::default(), &env).unwrap();
    config.content_type = agent.content_type;
    config.subscribe_retry_interval = Duration::from_millis(100);
    config
}

fn task(command: CommandInfo) -> TaskInfo {
    TaskInfo {
        name: "task-1".into(),
        task_id: TaskId {
            value: "task-1".into(),
        },
        agent_id: AgentId {
            value: "agent-1".into(),
        },
        command: Some(command),
        ..Default::default()
    }
}

fn shell(script: &str) -> CommandInfo {
    CommandInfo {
        value: Some(script.into()),
        ..Default::default()
    }
}

fn start(config: Config) -> JoinHandle<Outcome> {
    tokio::spawn(mesos_executor::run(config))
}

async fn outcome(executor: JoinHandle<Outcome>) -> Outcome {
    tokio::time::timeout(STEP, executor)
        .await
        .expect("the executor did not exit")
        .unwrap()
}

#[tokio::test]
async fn a_finished_task_is_reported_and_the_executor_exits_on_the_last_ack() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    let executor = start(config(&agent, sandbox.path(), &[]));

    let subscribe = agent.accept_subscribe(&[]).await;
    assert!(subscribe.unacknowledged_tasks.is_empty());
    assert!(subscribe.unacknowledged_updates.is_empty());

    agent.launch(task(shell("exit 0"))).await;
    let starting = agent.expect_update(TaskState::TaskStarting).await;
    let running = agent.expect_update(TaskState::TaskRunning).await;
    let finished = agent.expect_update(TaskState::TaskFinished).await;
    assert_eq!(
        finished.message.as_deref(),
        Some("Command exited with status 0")
    );
    assert_ne!(starting.uuid, running.uuid);

    agent.ack(&starting).await;
    agent.ack(&running).await;
    // Not done until the terminal update is acknowledged.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!executor.is_finished());
    agent.ack(&finished).await;
    assert_eq!(outcome(executor).await, Outcome::Acknowledged);
}

#[tokio::test]
async fn a_failing_task_over_json() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Json).await;
    let executor = start(config(&agent, sandbox.path(), &[]));
    agent.accept_subscribe(&[]).await;
    agent.launch(task(shell("exit 3"))).await;
    agent.expect_update(TaskState::TaskStarting).await;
    agent.expect_update(TaskState::TaskRunning).await;
    let failed = agent.expect_update(TaskState::TaskFailed).await;
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 3")
    );
    agent.ack(&failed).await;
    assert_eq!(outcome(executor).await, Outcome::Acknowledged);
}

#[tokio::test]
async fn non_shell_commands_use_the_full_argv() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    let executor = start(config(&agent, sandbox.path(), &[]));
    agent.accept_subscribe(&[]).await;
    agent
        .launch(task(CommandInfo {
            shell: Some(false),
            value: Some("/bin/sh".into()),
            arguments: vec!["sh".into(), "-c".into(), "exit 4".into()],
            ..Default::default()
        }))
        .await;
    agent.expect_update(TaskState::TaskStarting).await;
    agent.expect_update(TaskState::TaskRunning).await;
    let failed = agent.expect_update(TaskState::TaskFailed).await;
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 4")
    );
    agent.ack(&failed).await;
    assert_eq!(outcome(executor).await, Outcome::Acknowledged);
}

#[tokio::test]
async fn the_task_gets_its_environment_sandbox_and_role() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    let executor = start(config(&agent, sandbox.path(), &[]));
    agent.accept_subscribe(&[]).await;
    let mut command = shell("echo \"$FOO $MESOS_ALLOCATION_ROLE\" > out; pwd >> out");
    command.environment = Some(Environment {
        variables: vec![environment::Variable {
            name: "FOO".into(),
            value: Some("bar".into()),
            ..Default::default()
        }],
    });
    let mut info = task(command);
    info.resources.push(Resource {
        name: "cpus".into(),
        allocation_info: Some(AllocationInfo {
            role: Some("web".into()),
        }),
        ..Default::default()
    });
    agent.launch(info).await;
    agent.expect_update(TaskState::TaskStarting).await;
    agent.expect_update(TaskState::TaskRunning).await;
    let finished = agent.expect_update(TaskState::TaskFinished).await;
    agent.ack(&finished).await;
    assert_eq!(outcome(executor).await, Outcome::Acknowledged);

    let out = std::fs::read_to_string(sandbox.path().join("out")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "bar web");
    assert_eq!(
        std::fs::canonicalize(lines[1]).unwrap(),
        std::fs::canonicalize(sandbox.path()).unwrap()
    );
}

#[tokio::test]
async fn kill_sends_killing_then_killed_when_the_framework_can_handle_it() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    let executor = start(config(&agent, sandbox.path(), &[]));
    agent
        .accept_subscribe(&[capability::Type::TaskKillingState])
        .await;
    agent.launch(task(shell("sleep 30"))).await;
    agent.expect_update(TaskState::TaskStarting).await;
    agent.expect_update(TaskState::TaskRunning).await;
    agent.kill(None).await;
    agent.expect_update(TaskState::TaskKilling).await;
    let killed = agent.expect_update(TaskState::TaskKilled).await;
    assert_eq!(
        killed.message.as_deref(),
        Some("Command terminated with signal Terminated")
    );
    agent.ack(&killed).await;
    assert_eq!(outcome(executor).await, Outcome::Acknowledged);
}

#[tokio::test]
async fn kill_escalates_to_sigkill_after_the_grace_period() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    let executor = start(config(&agent, sandbox.path(), &[]));
    agent.accept_subscribe(&[]).await;
    // The whole group ignores SIGTERM (ignored dispositions survive exec).
    agent
        .launch(task(shell("trap '' TERM; touch ready; sleep 30; true")))
        .await;
    agent.expect_update(TaskState::TaskStarting).await;
    agent.expect_update(TaskState::TaskRunning).await;
    while !sandbox.path().join("ready").exists() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    agent
        .kill(Some(KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: 300_000_000,
            }),
        }))
        .await;
    // No TASK_KILLING: the framework lacks TASK_KILLING_STATE.
    let killed = agent.expect_update(TaskState::TaskKilled).await;
    assert_eq!(
        killed.message.as_deref(),
        Some("Command terminated with signal Killed")
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    agent.ack(&killed).await;
    assert_eq!(outcome(executor).await, Outcome::Acknowledged);
}

#[tokio::test]
async fn max_completion_time_fails_the_task() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    let executor = start(config(&agent, sandbox.path(), &[]));
    agent
        .accept_subscribe(&[capability::Type::TaskKillingState])
        .await;
    let mut info = task(shell("sleep 30"));
    info.max_completion_time = Some(DurationInfo {
        nanoseconds: 200_000_000,
    });
    agent.launch(info).await;
    agent.expect_update(TaskState::TaskStarting).await;
    agent.expect_update(TaskState::TaskRunning).await;
    // No TASK_KILLING for a max-completion kill, even with the capability.
    let failed = agent.expect_update(TaskState::TaskFailed).await;
    assert_eq!(
        failed.reason,
        Some(task_status::Reason::MaxCompletionTimeReached as i32)
    );
    assert!(failed
        .message
        .as_deref()
        .unwrap()
        .starts_with("Command terminated with signal"));
    agent.ack(&failed).await;
    assert_eq!(outcome(executor).await, Outcome::Acknowledged);
}

#[tokio::test]
async fn a_second_launch_is_refused() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    let executor = start(config(&agent, sandbox.path(), &[]));
    agent.accept_subscribe(&[]).await;
    agent.launch(task(shell("sleep 30"))).await;
    agent.expect_update(TaskState::TaskStarting).await;
    agent.expect_update(TaskState::TaskRunning).await;
    let mut second = task(shell("true"));
    second.task_id.value = "task-2".into();
    agent.launch(second).await;
    let refused = agent.expect_update(TaskState::TaskFailed).await;
    assert_eq!(refused.task_id.value, "task-2");
    assert_eq!(
        refused.message.as_deref(),
        Some("Attempted to run multiple tasks using a \"command\" executor")
    );
    agent.kill(None).await;
    let killed = agent.expect_update(TaskState::TaskKilled).await;
    agent.ack(&killed).await;
    assert_eq!(outcome(executor).await, Outcome::Acknowledged);
}

#[tokio::test]
async fn a_missing_terminal_ack_trips_the_fail_safe() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    let mut config = config(&agent, sandbox.path(), &[]);
    config.terminal_ack_timeout = Duration::from_millis(200);
    let executor = start(config);
    agent.accept_subscribe(&[]).await;
    agent.launch(task(shell("true"))).await;
    agent.expect_update(TaskState::TaskStarting).await;
    agent.expect_update(TaskState::TaskRunning).await;
    agent.expect_update(TaskState::TaskFinished).await;
    let ended = outcome(executor).await;
    assert_eq!(ended, Outcome::NoAcknowledgement);
    assert_eq!(ended.exit_code(), 1);
}

#[tokio::test]
async fn losing_the_agent_without_checkpointing_kills_the_task_and_exits() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    let executor = start(config(
        &agent,
        sandbox.path(),
        &[("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "2secs")],
    ));
    agent.accept_subscribe(&[]).await;
    agent
        .launch(task(shell("echo $$ > pid; exec sleep 30")))
        .await;
    agent.expect_update(TaskState::TaskStarting).await;
    agent.expect_update(TaskState::TaskRunning).await;
    let pid_file = sandbox.path().join("pid");
    while std::fs::read_to_string(&pid_file)
        .map(|s| s.trim().is_empty())
        .unwrap_or(true)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    agent.close_stream();
    let ended = outcome(executor).await;
    assert_eq!(ended, Outcome::AgentLost);
    assert_eq!(ended.exit_code(), 1);
    // The task was reaped by the executor, so the pid is gone.
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err());
}

#[tokio::test]
async fn with_checkpointing_it_resubscribes_with_what_was_not_acknowledged() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    let executor = start(config(
        &agent,
        sandbox.path(),
        &[
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "10secs"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "100ms"),
        ],
    ));
    agent.accept_subscribe(&[]).await;
    agent.launch(task(shell("exit 0"))).await;
    let starting = agent.expect_update(TaskState::TaskStarting).await;
    let running = agent.expect_update(TaskState::TaskRunning).await;
    let finished = agent.expect_update(TaskState::TaskFinished).await;

    // The agent restarts before acknowledging anything.
    agent.close_stream();
    let subscribe = agent.accept_subscribe(&[]).await;
    assert_eq!(subscribe.unacknowledged_tasks.len(), 1);
    assert_eq!(subscribe.unacknowledged_tasks[0].task_id.value, "task-1");
    let resent: Vec<Option<Vec<u8>>> = subscribe
        .unacknowledged_updates
        .iter()
        .map(|u| u.status.uuid.clone())
        .collect();
    assert_eq!(
        resent,
        vec![starting.uuid, running.uuid, finished.uuid.clone()]
    );

    agent.ack(&finished).await;
    assert_eq!(outcome(executor).await, Outcome::Acknowledged);
}

#[tokio::test]
async fn subscribe_is_retried_while_the_agent_refuses_it() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    let executor = start(config(&agent, sandbox.path(), &[]));
    let (call, request) = agent.next().await;
    assert_eq!(call.r#type(), call::Type::Subscribe);
    request.respond(503, &[], "Agent has not finished recovery");
    agent.accept_subscribe(&[]).await;
    agent
        .send(Event {
            r#type: Some(event::Type::Shutdown as i32),
            ..Default::default()
        })
        .await;
    assert_eq!(outcome(executor).await, Outcome::ShutDown);
}

#[tokio::test]
async fn shutdown_kills_the_task_and_reports_it() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(ContentType::Protobuf).await;
    // 2 s of shutdown grace leaves 0 s for SIGTERM → SIGKILL.
    let executor = start(config(
        &agent,
        sandbox.path(),
        &[("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "2secs")],
    ));
    agent.accept_subscribe(&[]).await;
    agent.launch(task(shell("sleep 30"))).await;
    agent.expect_update(TaskState::TaskStarting).await;
    agent.expect_update(TaskState::TaskRunning).await;
    agent
        .send(Event {
            r#type: Some(event::Type::Shutdown as i32),
            ..Default::default()
        })
        .await;
    let killed = agent.expect_update(TaskState::TaskKilled).await;
    agent.ack(&killed).await;
    assert_eq!(outcome(executor).await, Outcome::Acknowledged);
}

#[tokio::test]
async fn the_executor_exits_when_the_agent_is_unreachable() {
    // Nothing listens on this port once the listener is dropped.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("MESOS_FRAMEWORK_ID".into(), "fw-1".into());
    env.insert("MESOS_EXECUTOR_ID".into(), "task-1".into());
    env.insert(
        "MESOS_SLAVE_PID".into(),
        format!("slave(1)@127.0.0.1:{port}"),
    );
    let config = Config::from_env(&Flags::default(), &env).unwrap();
    assert_eq!(outcome(start(config)).await, Outcome::AgentLost);
}
