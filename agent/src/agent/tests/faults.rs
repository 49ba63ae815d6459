//! The agent over a real libprocess transport whose faults the test
//! programs (dropped messages, partitions), on paused tokio time, against a
//! fake master the test drives: upstream `FaultToleranceTest`, `SlaveTest`
//! and `StatusUpdateManagerTest` scenarios about an unreliable network.

use libprocess::{Faults, Server, Transport};
use mesos_proto::mesos::MasterInfo;
use tokio::sync::watch;
use tokio::time::Instant;

use super::*;
use crate::registration::MasterSource;
use crate::status_update_manager::RETRY_INTERVAL_MIN;

/// How much virtual time a wait may take: registration backoff alone may
/// reach `REGISTER_RETRY_INTERVAL_MAX` (a minute) between attempts.
const PATIENCE: Duration = Duration::from_secs(300);

/// A libprocess peer standing in for a master: `master@127.0.0.1:<port>`,
/// sending through a transport that obeys the test's faults.
struct FakeMaster {
    pid: Upid,
    transport: Transport,
    messages: mpsc::UnboundedReceiver<Message>,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeMaster {
    async fn start(faults: &Faults) -> FakeMaster {
        let (tx, messages) = mpsc::unbounded_channel();
        let server = Server::builder("master")
            .messages("master", tx)
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let pid = Upid::from_addr("master", server.local_addr());
        let (transport, _exited) = Transport::with_faults(faults);
        FakeMaster {
            pid,
            transport,
            messages,
            _server: server.serve(),
        }
    }

    fn send<M: prost::Message + prost::Name>(&self, to: &Upid, message: &M) {
        self.transport.send_message(&self.pid, to, message);
    }

    /// The next message named `M`, skipping others (pongs, mostly).
    async fn expect<M: prost::Message + prost::Name + Default>(&mut self) -> (Upid, M) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let message = tokio::time::timeout_at(deadline, self.messages.recv())
                .await
                .unwrap_or_else(|_| panic!("no {} reached {}", M::full_name(), self.pid))
                .expect("the master's server runs");
            if message.name == M::full_name() {
                return (message.from, M::decode(&message.body[..]).unwrap());
            }
        }
    }

    fn info(&self) -> MasterInfo {
        MasterInfo {
            id: format!("master-{}", self.pid.port),
            pid: Some(self.pid.to_string()),
            port: u32::from(self.pid.port),
            ..Default::default()
        }
    }
}

/// A real agent actor behind its own libprocess server, sending through a
/// transport that obeys the same faults.
struct Agent {
    pid: Upid,
    inbox: mpsc::UnboundedSender<Input>,
    work_dir: tempfile::TempDir,
    _launcher: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

impl Agent {
    async fn start(master: MasterSource, faults: &Faults) -> Agent {
        let work_dir = tempfile::tempdir().unwrap();
        let launcher = tempfile::tempdir().unwrap();
        let executor = launcher.path().join("mesos-executor");
        std::fs::write(&executor, FAKE_EXECUTOR).unwrap();
        std::fs::set_permissions(
            &executor,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let (messages_tx, messages_rx) = mpsc::unbounded_channel();
        let server = Server::builder(AGENT_ID)
            .messages(AGENT_ID, messages_tx)
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let pid = Upid::from_addr(AGENT_ID, server.local_addr());
        let work = format!("--work_dir={}", work_dir.path().display());
        let launcher_flag = format!("--launcher_dir={}", launcher.path().display());
        let args = vec![
            "mesos-agent",
            "--master=127.0.0.1:5050",
            &work,
            &launcher_flag,
            "--ip=127.0.0.1",
            "--resources=cpus:4;mem:4096;disk:1000;ports:[31000-32000]",
        ];
        let flags = match Flags::load(args).unwrap() {
            Parsed::Run(f) => Arc::new(*f),
            Parsed::Print(_) => unreachable!(),
        };
        let resources =
            crate::info::detect_resources(flags.resources.as_deref(), "*", work_dir.path())
                .unwrap();
        let info = crate::info::slave_info("agent-host".into(), pid.port, &resources, vec![]);
        let config = AgentConfig {
            flags,
            self_pid: pid.clone(),
            info,
            total_resources: resources,
            master,
            launcher_dir: launcher.path().to_path_buf(),
            native_library: None,
            recovered: None,
            authenticatee: None,
            executor_secret: None,
        };
        let (transport, exited_rx) = Transport::with_faults(faults);
        let out = Arc::new(TransportOutbox {
            transport,
            from: pid.clone(),
        });
        let (inbox_tx, inbox_rx) = mpsc::unbounded_channel();
        let (containers_tx, containers_rx) = mpsc::unbounded_channel();
        let (retries_tx, retries_rx) = mpsc::unbounded_channel();
        let fetcher = crate::fetcher::Fetcher::new(None, None, Duration::from_secs(5)).unwrap();
        let containerizer = Containerizer::new(fetcher, true, containers_tx)
            .with_runtime_dir(work_dir.path().join("runtime"));
        let actor = crate::agent::Agent::new(
            config,
            out,
            containerizer,
            Files::default(),
            inbox_tx.clone(),
            retries_tx,
        );
        tokio::spawn(actor.run(AgentInputs {
            inputs: inbox_rx,
            messages: messages_rx,
            exited: exited_rx,
            containers: containers_rx,
            retries: retries_rx,
        }));
        Agent {
            pid,
            inbox: inbox_tx,
            work_dir,
            _launcher: launcher,
            _server: server.serve(),
        }
    }

    async fn fixed(master: &FakeMaster, faults: &Faults) -> Agent {
        let address = crate::registration::parse_master(&master.pid.to_string()).unwrap();
        Agent::start(address.into(), faults).await
    }

    async fn query<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Query) -> T {
        let (tx, rx) = oneshot::channel();
        self.inbox
            .send(Input::Query(make(tx)))
            .expect("the agent actor runs");
        tokio::time::timeout(WAIT, rx)
            .await
            .expect("the agent answers")
            .expect("the agent actor runs")
    }

    async fn registered(&self) -> bool {
        self.query(Query::Metrics).await["slave/registered"] == 1.0
    }

    /// Polls the agent until it is (or is not) registered; returns when.
    async fn wait_registered(&self, registered: bool) -> Instant {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self.registered().await == registered {
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "the agent never became registered={registered}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls `/state` until `done` holds.
    async fn wait_state(&self, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done(&self.query(Query::State).await) {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(&self, call: Call) -> CallReply {
        let (tx, rx) = oneshot::channel();
        self.inbox
            .send(Input::ExecutorCall {
                call: Box::new(call),
                principal: None,
                reply: tx,
            })
            .unwrap();
        tokio::time::timeout(WAIT, rx).await.unwrap().unwrap()
    }
}

fn registered_message(total_ping_timeout: f64) -> msgs::SlaveRegisteredMessage {
    msgs::SlaveRegisteredMessage {
        slave_id: SlaveId { value: "S1".into() },
        connection: Some(msgs::MasterSlaveConnection {
            total_ping_timeout_seconds: Some(total_ping_timeout),
        }),
    }
}

fn reregistered_message(total_ping_timeout: f64) -> msgs::SlaveReregisteredMessage {
    msgs::SlaveReregisteredMessage {
        slave_id: SlaveId { value: "S1".into() },
        connection: Some(msgs::MasterSlaveConnection {
            total_ping_timeout_seconds: Some(total_ping_timeout),
        }),
        ..Default::default()
    }
}

/// Lets `agent` register with `master` as S1.
async fn register(master: &mut FakeMaster, agent: &Agent, total_ping_timeout: f64) {
    let (from, _) = master.expect::<msgs::RegisterSlaveMessage>().await;
    assert_eq!(from, agent.pid);
    master.send(&from, &registered_message(total_ping_timeout));
    agent.wait_registered(true).await;
}

// Upstream FaultToleranceTest.SlaveReliableRegistration: the master's
// SlaveRegisteredMessage is lost; the agent keeps registering, each retry
// within its doubled backoff bound, and is registered by the first reply
// that gets through.
#[tokio::test(start_paused = true)]
async fn lost_slave_registered_message_is_retried_with_backoff_until_one_arrives() {
    let faults = Faults::new();
    let mut master = FakeMaster::start(&faults).await;
    faults.drop_messages("mesos.internal.SlaveRegisteredMessage");
    let agent = Agent::fixed(&master, &faults).await;

    let mut attempts = Vec::new();
    for _ in 0..4 {
        let (from, message) = master.expect::<msgs::RegisterSlaveMessage>().await;
        assert_eq!(from, agent.pid);
        assert!(message.slave.id.is_none(), "a first registration");
        attempts.push(Instant::now());
        master.send(&from, &registered_message(600.0));
    }
    assert!(!agent.registered().await, "every reply was dropped");
    // `--registration_backoff_factor` is 1secs: the n-th retry comes at
    // most 2^n seconds after the previous attempt.
    let slack = Duration::from_millis(100);
    for (n, pair) in attempts.windows(2).enumerate() {
        let bound = Duration::from_secs(2u64.pow(n as u32 + 1));
        assert!(
            pair[1] - pair[0] <= bound + slack,
            "retry {} came after {:?}, beyond its backoff {bound:?}",
            n + 1,
            pair[1] - pair[0]
        );
    }

    faults.heal();
    register(&mut master, &agent, 600.0).await;
    let state = agent.query(Query::State).await;
    assert_eq!(state["id"], "S1");
}

// Upstream StatusUpdateManagerTest.RetryStatusUpdate, with a second update
// queued behind the first: while the master's acknowledgements are lost,
// the agent re-sends the same update (same uuid) on the doubling retry
// interval and never the next one; once an acknowledgement gets through,
// the next update follows.
#[tokio::test(start_paused = true)]
async fn lost_acknowledgement_retries_the_same_update_and_holds_back_the_next() {
    let faults = Faults::new();
    let mut master = FakeMaster::start(&faults).await;
    let agent = Agent::fixed(&master, &faults).await;
    register(&mut master, &agent, 3600.0).await;

    master.send(&agent.pid, &run_task(command_task("t1", "sleep 100"), None));
    // The task arrives over the network, the call through the inbox.
    agent
        .wait_state("the task queued", |s| {
            s["frameworks"][0]["executors"][0]["queued_tasks"][0]["id"] == "t1"
        })
        .await;
    let subscribe = Call {
        subscribe: Some(call::Subscribe::default()),
        ..executor_call("F1", "t1", call::Type::Subscribe)
    };
    let mut events = match agent.call(subscribe).await {
        CallReply::Stream(stream) => EventReader { stream },
        other => panic!("SUBSCRIBE failed: {other:?}"),
    };
    events.expect(event::Type::Subscribed).await;
    events.expect(event::Type::Launch).await;

    faults.drop_messages("mesos.internal.StatusUpdateAcknowledgementMessage");
    let (running, running_uuid) = update_call("F1", "t1", "t1", TaskState::TaskRunning);
    let (finished, finished_uuid) = update_call("F1", "t1", "t1", TaskState::TaskFinished);
    assert!(matches!(agent.call(running).await, CallReply::Accepted));
    assert!(matches!(agent.call(finished).await, CallReply::Accepted));
    events.expect(event::Type::Acknowledged).await;
    events.expect(event::Type::Acknowledged).await;

    let ack = |update: &msgs::StatusUpdate| msgs::StatusUpdateAcknowledgementMessage {
        slave_id: SlaveId { value: "S1".into() },
        framework_id: update.framework_id.clone(),
        task_id: update.status.task_id.clone(),
        uuid: update.uuid.clone().unwrap_or_default(),
    };
    let mut sent_at = Vec::new();
    for _ in 0..3 {
        let (from, message) = master.expect::<msgs::StatusUpdateMessage>().await;
        assert_eq!(from, agent.pid);
        assert_eq!(
            message.update.status.state,
            TaskState::TaskRunning as i32,
            "the next update went out before the first was acknowledged"
        );
        assert_eq!(message.update.uuid.as_deref(), Some(&running_uuid[..]));
        sent_at.push(Instant::now());
        master.send(&from, &ack(&message.update)); // lost
    }
    // Upstream's retry interval: 10 s, then doubling.
    assert!(sent_at[1] - sent_at[0] >= RETRY_INTERVAL_MIN);
    assert!(sent_at[2] - sent_at[1] >= RETRY_INTERVAL_MIN * 2);

    faults.heal();
    let (from, message) = master.expect::<msgs::StatusUpdateMessage>().await;
    assert_eq!(message.update.uuid.as_deref(), Some(&running_uuid[..]));
    master.send(&from, &ack(&message.update));
    let (from, message) = master.expect::<msgs::StatusUpdateMessage>().await;
    assert_eq!(message.update.status.state, TaskState::TaskFinished as i32);
    assert_eq!(message.update.uuid.as_deref(), Some(&finished_uuid[..]));
    master.send(&from, &ack(&message.update));

    // Let the fake executor go.
    let sandbox = crate::paths::executor_latest_run_path(agent.work_dir.path(), "S1", "F1", "t1");
    std::fs::write(sandbox.join("exit_now"), "").unwrap();
}

// Upstream's rule that an agent acts only on its detected master (e.g.
// MasterTest / FaultToleranceTest with a failed-over master): after the
// leader moves, the deposed master's ping (asking to re-register), shutdown
// and task launch are dropped; the agent stays registered with the new
// leader.
#[tokio::test(start_paused = true)]
async fn messages_from_a_deposed_master_are_dropped_and_the_registration_kept() {
    let faults = Faults::new();
    let mut old = FakeMaster::start(&faults).await;
    let mut new = FakeMaster::start(&faults).await;
    let (leader, detected) = watch::channel(Some(old.info()));
    let agent = Agent::start(MasterSource::Detected(detected), &faults).await;
    register(&mut old, &agent, 3600.0).await;

    // The detector reports the new leader (as `follow_detected_leader` does).
    leader.send_replace(Some(new.info()));
    agent
        .inbox
        .send(Input::MasterDetected(Ok(new.pid.clone())))
        .unwrap();
    let (from, message) = new.expect::<msgs::ReregisterSlaveMessage>().await;
    assert_eq!(from, agent.pid);
    assert_eq!(message.slave.id, Some(SlaveId { value: "S1".into() }));
    new.send(&from, &reregistered_message(3600.0));
    agent.wait_registered(true).await;

    old.send(&agent.pid, &msgs::PingSlaveMessage { connected: false });
    old.send(
        &agent.pid,
        &msgs::ShutdownMessage {
            message: Some("deposed".into()),
        },
    );
    old.send(&agent.pid, &run_task(command_task("t1", "sleep 100"), None));
    // Messages on one link arrive in order: the agent answers this one (an
    // executor registering for a framework it does not know) with a
    // shutdown, so the deposed master's earlier messages were all handled.
    old.send(
        &agent.pid,
        &msgs::RegisterExecutorMessage {
            framework_id: FrameworkId {
                value: "unknown".into(),
            },
            executor_id: ExecutorId { value: "e".into() },
        },
    );
    old.expect::<msgs::ShutdownExecutorMessage>().await;

    assert!(agent.registered().await, "the agent kept its registration");
    let state = agent.query(Query::State).await;
    assert_eq!(
        state["frameworks"],
        serde_json::json!([]),
        "no task was run"
    );
    // And the new leader still has it: its ping is answered.
    new.send(&agent.pid, &msgs::PingSlaveMessage { connected: true });
    new.expect::<msgs::PongSlaveMessage>().await;
}

// Upstream SlaveTest.PingTimeoutNoPings / PartitionTest: once the master is
// partitioned away, the agent waits out the ping timeout the master gave it
// (`--agent_ping_timeout` × `--max_agent_ping_timeouts`), then forgets the
// master and detects it again; when the network heals it re-registers under
// the same id.
#[tokio::test(start_paused = true)]
async fn partitioned_agent_redetects_after_missed_pings_and_reregisters_when_healed() {
    const AGENT_PING_TIMEOUT: u64 = 5;
    const MAX_AGENT_PING_TIMEOUTS: u64 = 3;
    let total = Duration::from_secs(AGENT_PING_TIMEOUT * MAX_AGENT_PING_TIMEOUTS);
    let faults = Faults::new();
    let mut master = FakeMaster::start(&faults).await;
    let agent = Agent::fixed(&master, &faults).await;
    register(&mut master, &agent, total.as_secs_f64()).await;

    // A healthy link: pings every `--agent_ping_timeout`, each answered.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(AGENT_PING_TIMEOUT)).await;
        master.send(&agent.pid, &msgs::PingSlaveMessage { connected: true });
        master.expect::<msgs::PongSlaveMessage>().await;
    }
    assert!(agent.registered().await);
    let last_ping = Instant::now();

    faults.partition(agent.pid.address(), master.pid.address());
    let lost = agent.wait_registered(false).await;
    let waited = lost - last_ping;
    assert!(
        waited >= total && waited < total + Duration::from_secs(AGENT_PING_TIMEOUT),
        "the agent gave up on the master after {waited:?}, not after {total:?}"
    );

    // The partition lasts: the first re-registration attempts are lost too.
    tokio::time::sleep(Duration::from_secs(30)).await;
    faults.heal();
    let (from, message) = master.expect::<msgs::ReregisterSlaveMessage>().await;
    assert_eq!(from, agent.pid);
    assert_eq!(message.slave.id, Some(SlaveId { value: "S1".into() }));
    master.send(&from, &reregistered_message(total.as_secs_f64()));
    agent.wait_registered(true).await;
}
