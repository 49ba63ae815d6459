//! `mesos-execute`: runs one command as a task, upstream-compatible
//! (`src/cli/execute.cpp`): same flags, same lines on stdout.
//!
//! Subscribes as "mesos-execute instance", waits for an offer that fits
//! `--resources`, launches one task named `--name`, prints every status
//! update, acknowledges it, and exits when the task is terminal. Unlike
//! upstream (which always exits 0 and leaves the framework to time out) it
//! exits non-zero unless the task FINISHED, and tears the framework down.
//! Task groups, container images, volumes and HDFS packages are not supported.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mesos_proto::mesos::v1::framework_info::{capability, Capability};
use mesos_proto::mesos::v1::scheduler::event;
use mesos_proto::mesos::v1::{
    environment, task_status, AgentId, CommandInfo, Environment, FrameworkInfo, TaskId, TaskInfo,
    TaskState, TaskStatus,
};
use mesos_proto::resources::Resources;
use mesos_scheduler_client::resources::{self, OfferResources};
use mesos_scheduler_client::{Client, ContentType, Credential};

/// Flags, named as upstream names them (`--name=value`; booleans also as
/// `--flag`, `--flag=false` or `--no-flag`).
#[derive(Parser, Debug)]
#[command(
    name = "mesos-execute",
    about = "Runs one command as a Mesos task.",
    rename_all = "snake_case"
)]
struct Flags {
    /// Mesos master (e.g., IP:PORT).
    #[arg(long)]
    master: String,

    /// Name for the command (also the task id).
    #[arg(long)]
    name: Option<String>,

    /// A JSON TaskInfo, or a path to one (`file:///path` or `/path`);
    /// `agent_id` need not be set. Excludes --name/--command/--env.
    #[arg(long)]
    task: Option<String>,

    /// Whether the command is a shell command (`sh -c`); if not, it is split
    /// on whitespace into the executable and its full argv.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true", default_value = "true")]
    shell: bool,

    /// Command to launch.
    #[arg(long)]
    command: Option<String>,

    /// Environment variables as a JSON object (`{"name":"value"}`) or a
    /// `file:///path` holding one.
    #[arg(long)]
    env: Option<String>,

    /// Resources for the command.
    #[arg(long, default_value = "cpus:1;mem:128")]
    resources: String,

    /// Enable checkpointing for the framework.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    checkpoint: bool,

    /// Comma-separated optional capabilities (only GPU_RESOURCES is accepted).
    #[arg(long)]
    framework_capabilities: Option<String>,

    /// Enable partition awareness for the framework.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true", default_value = "true")]
    partition_aware: bool,

    /// Containerizer to be used (only `mesos`).
    #[arg(long, default_value = "mesos")]
    containerizer: String,

    /// Role to use when registering.
    #[arg(long, default_value = "*")]
    role: String,

    /// Kill the task this long after TASK_RUNNING (e.g., 10secs, 2mins).
    #[arg(long, value_parser = parse_duration)]
    kill_after: Option<Duration>,

    /// The principal to use for framework authentication (also put in
    /// FrameworkInfo).
    #[arg(long)]
    principal: Option<String>,

    /// The secret to use for framework authentication: with --principal,
    /// sent as HTTP Basic on every call.
    #[arg(long)]
    secret: Option<String>,

    /// `json` or `protobuf` (the default), for calls and events.
    #[arg(long, default_value = "protobuf")]
    content_type: String,

    /// Framework name (an extension; upstream always uses this default).
    #[arg(long, default_value = "mesos-execute instance")]
    framework_name: String,
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!("expected true or false, got '{other}'")),
    }
}

fn parse_duration(value: &str) -> Result<Duration, stout::Error> {
    stout::Duration::parse(value).map(Duration::from)
}

/// Rewrites stout's `--no-flag` into `--flag=false` for clap.
fn stout_args(args: impl Iterator<Item = String>) -> Vec<String> {
    args.map(|arg| match arg.strip_prefix("--no-") {
        Some(name) if !name.contains('=') => format!("--{name}=false"),
        _ => arg,
    })
    .collect()
}

fn main() -> ExitCode {
    let flags = Flags::parse_from(stout_args(std::env::args()));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Failed to start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(flags)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// What to launch, prepared from the flags.
struct Plan {
    framework_info: FrameworkInfo,
    task: TaskInfo,
    requests: Resources,
    role: String,
}

fn plan(flags: &Flags) -> Result<Plan, String> {
    if flags.containerizer != "mesos" {
        return Err(format!(
            "Unsupported containerizer: {} (only 'mesos')",
            flags.containerizer
        ));
    }
    let task = match &flags.task {
        Some(task) => {
            if flags.name.is_some() || flags.command.is_some() || flags.env.is_some() {
                return Err(
                    "'--name, --command, --env' can only be set when '--task' is not set"
                        .to_string(),
                );
            }
            task_from_json(task)?
        }
        None => task_from_flags(flags)?,
    };
    let requests = if flags.task.is_some() {
        Resources::try_from_vec(task.resources.clone())
            .map_err(|e| format!("Invalid resources in --task: {e}"))?
    } else {
        resources::parse(&flags.resources)
            .map_err(|e| format!("Failed to parse resources '{}': {e}", flags.resources))?
    };

    let mut capabilities = vec![
        capability::Type::ReservationRefinement,
        capability::Type::TaskKillingState,
        capability::Type::RevocableResources,
    ];
    if flags.partition_aware {
        capabilities.push(capability::Type::PartitionAware);
    }
    for name in flags
        .framework_capabilities
        .iter()
        .flat_map(|c| c.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        match capability::Type::from_str_name(name) {
            Some(capability::Type::GpuResources) => {
                capabilities.push(capability::Type::GpuResources)
            }
            Some(_) => {
                return Err(format!(
                    "Flags '--framework_capabilities' specifies an unsupported capability '{name}'"
                ))
            }
            None => {
                return Err(format!(
                    "Flags '--framework_capabilities' specifies an unknown capability '{name}'"
                ))
            }
        }
    }

    #[allow(deprecated)] // A single-role framework registers with `role`, like upstream.
    let framework_info = FrameworkInfo {
        user: current_user()?,
        name: flags.framework_name.clone(),
        role: Some(flags.role.clone()),
        checkpoint: Some(flags.checkpoint),
        principal: flags.principal.clone(),
        capabilities: capabilities
            .into_iter()
            .map(|t| Capability {
                r#type: Some(t as i32),
            })
            .collect(),
        ..Default::default()
    };
    Ok(Plan {
        framework_info,
        task,
        requests,
        role: flags.role.clone(),
    })
}

fn task_from_flags(flags: &Flags) -> Result<TaskInfo, String> {
    let name = flags.name.clone().ok_or("Missing required option --name")?;
    let command = flags
        .command
        .clone()
        .ok_or("Missing required option --command")?;
    let mut info = CommandInfo {
        shell: Some(flags.shell),
        ..Default::default()
    };
    if flags.shell {
        info.value = Some(command);
    } else {
        let argv: Vec<String> = command.split_whitespace().map(str::to_string).collect();
        info.value = Some(argv.first().cloned().ok_or("--command is empty")?);
        info.arguments = argv;
    }
    if let Some(env) = &flags.env {
        info.environment = Some(environment_from_json(env)?);
    }
    Ok(TaskInfo {
        name: name.clone(),
        task_id: TaskId { value: name },
        command: Some(info),
        ..Default::default()
    })
}

/// Reads a flag value that is either inline JSON or a path to a file with it.
fn json_flag(value: &str) -> Result<serde_json::Value, String> {
    let text = if let Some(path) = value.strip_prefix("file://") {
        std::fs::read_to_string(path).map_err(|e| format!("Failed to read '{path}': {e}"))?
    } else if value.starts_with('/') {
        std::fs::read_to_string(value).map_err(|e| format!("Failed to read '{value}': {e}"))?
    } else {
        value.to_string()
    };
    serde_json::from_str(&text).map_err(|e| format!("Failed to parse JSON: {e}"))
}

fn environment_from_json(value: &str) -> Result<Environment, String> {
    let json = json_flag(value)?;
    let object = json
        .as_object()
        .ok_or("--env must be a JSON object of names to values")?;
    // Sorted, so the task sees a stable order.
    let variables: BTreeMap<&String, String> = object
        .iter()
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k, value)
        })
        .collect();
    Ok(Environment {
        variables: variables
            .into_iter()
            .map(|(name, value)| environment::Variable {
                name: name.clone(),
                value: Some(value),
                ..Default::default()
            })
            .collect(),
    })
}

fn task_from_json(value: &str) -> Result<TaskInfo, String> {
    let mut json = json_flag(value)?;
    // `agent_id` is required by the schema but filled from the offer.
    if let Some(object) = json.as_object_mut() {
        object
            .entry("agent_id")
            .or_insert_with(|| serde_json::json!({ "value": "" }));
    }
    mesos_proto::json::from_value::<TaskInfo>(&json)
        .map_err(|e| format!("Failed to parse --task: {e}"))
}

fn current_user() -> Result<String, String> {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => Ok(user.name),
        Ok(None) => std::env::var("USER").map_err(|_| format!("No username for uid {uid}")),
        Err(e) => Err(format!("Failed to get username: {e}")),
    }
}

/// How long a master failover may take before mesos-execute gives up.
const RESUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(300);

async fn resubscribe(
    client: &Client,
    info: mesos_proto::mesos::v1::FrameworkInfo,
) -> Result<mesos_scheduler_client::Subscription, String> {
    let deadline = tokio::time::Instant::now() + RESUBSCRIBE_TIMEOUT;
    loop {
        match client.subscribe(info.clone()).await {
            Ok(subscription) => return Ok(subscription),
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("Failed to re-subscribe: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(format!("Failed to re-subscribe: {e}")),
        }
    }
}

async fn run(flags: Flags) -> Result<ExitCode, String> {
    let content_type: ContentType = flags.content_type.parse().map_err(|e| format!("{e}"))?;
    let plan = plan(&flags)?;

    let credential = match (&flags.principal, &flags.secret) {
        (Some(principal), Some(secret)) => Some(Credential {
            principal: principal.clone(),
            secret: secret.clone(),
        }),
        // A secret nobody would send must not look like authentication.
        (None, Some(_)) => return Err("--secret requires --principal".to_string()),
        _ => None,
    };
    let client = Client::connect_with(&flags.master, content_type, credential)
        .await
        .map_err(|e| e.to_string())?;
    let mut subscription = client
        .subscribe(plan.framework_info.clone())
        .await
        .map_err(|e| e.to_string())?;
    println!("Subscribed with ID {}", subscription.framework_id.value);

    // With ZooKeeper the client follows the leader: after a master
    // failover, subscribe again under the same framework id.
    let follows_leader = flags.master.starts_with("zk://") || flags.master.starts_with("file://");
    let mut launched = false;
    let outcome = loop {
        let event = match subscription.recv().await {
            Some(Ok(event)) => event,
            lost => {
                let reason = match lost {
                    Some(Err(e)) => format!("Lost the master: {e}"),
                    _ => "Lost the master".to_string(),
                };
                if !follows_leader {
                    break Err(reason);
                }
                eprintln!("{reason}; re-subscribing with the leading master");
                let mut info = plan.framework_info.clone();
                info.id = Some(subscription.framework_id.clone());
                match resubscribe(&client, info).await {
                    Ok(again) => {
                        println!("Re-subscribed with ID {}", again.framework_id.value);
                        subscription = again;
                        continue;
                    }
                    Err(e) => break Err(e),
                }
            }
        };
        match event.r#type() {
            event::Type::Offers => {
                for offer in event.offers.map(|o| o.offers).unwrap_or_default() {
                    let taken = if launched {
                        None
                    } else {
                        OfferResources::new(&offer.resources).take(&plan.requests, &plan.role)
                    };
                    match taken {
                        Some(resources) => {
                            let mut task = plan.task.clone();
                            task.resources = resources;
                            client
                                .launch(&offer, vec![task])
                                .await
                                .map_err(|e| format!("Failed to launch: {e}"))?;
                            println!(
                                "Submitted task '{}' to agent '{}'",
                                plan.task.name, offer.agent_id.value
                            );
                            launched = true;
                        }
                        None => {
                            let declined = client.decline(vec![offer.id.clone()], None).await;
                            if let Err(e) = declined {
                                tracing::warn!("failed to decline offer {}: {e}", offer.id.value);
                            }
                            if launched {
                                // Nothing more to launch: stop the offers.
                                let _ = client.suppress(Vec::new()).await;
                            }
                        }
                    }
                }
            }
            event::Type::Update => {
                let Some(update) = event.update else { continue };
                let status = update.status;
                print_status(&status);
                if let Err(e) = client.acknowledge(&status).await {
                    tracing::warn!("failed to acknowledge: {e}");
                }
                let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskRunning);
                if state == TaskState::TaskRunning {
                    if let Some(after) = flags.kill_after {
                        schedule_kill(&client, after, &status);
                    }
                }
                if state.is_terminal() {
                    break Ok(state);
                }
            }
            event::Type::Error => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                break Err(format!("Received an ERROR event: {message}"));
            }
            _ => {}
        }
    };

    // Upstream leaves the framework to its failover timeout; we clean up.
    if let Err(e) = client.teardown().await {
        tracing::warn!("teardown failed: {e}");
    }
    drop(subscription);
    match outcome? {
        TaskState::TaskFinished => Ok(ExitCode::SUCCESS),
        _ => Ok(ExitCode::FAILURE),
    }
}

fn schedule_kill(client: &Client, after: Duration, status: &TaskStatus) {
    let client = client.clone();
    let task_id = status.task_id.clone();
    let agent_id: Option<AgentId> = status.agent_id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        println!(
            "Asked to kill task '{}' on agent '{}'",
            task_id.value,
            agent_id
                .as_ref()
                .map(|a| a.value.as_str())
                .unwrap_or_default()
        );
        if let Err(e) = client.kill(task_id, agent_id).await {
            eprintln!("Failed to kill the task: {e}");
        }
    });
}

/// Prints an update exactly like upstream.
fn print_status(status: &TaskStatus) {
    let state = TaskState::try_from(status.state)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| status.state.to_string());
    println!(
        "Received status update {state} for task '{}'",
        status.task_id.value
    );
    if let Some(message) = &status.message {
        println!("  message: '{message}'");
    }
    if let Some(source) = status.source {
        if let Ok(source) = task_status::Source::try_from(source) {
            println!("  source: {}", source.as_str_name());
        }
    }
    if let Some(reason) = status.reason {
        if let Ok(reason) = task_status::Reason::try_from(reason) {
            println!("  reason: {}", reason.as_str_name());
        }
    }
    if let Some(healthy) = status.healthy {
        // C++ streams print a bool as 1 or 0.
        println!("  healthy?: {}", u8::from(healthy));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        let mut argv = vec!["mesos-execute", "--master=127.0.0.1:5050"];
        argv.extend_from_slice(args);
        Flags::try_parse_from(argv).unwrap()
    }

    #[test]
    fn defaults_match_upstream() {
        let f = flags(&["--name=t", "--command=echo hi"]);
        assert!(f.shell);
        assert!(!f.checkpoint);
        assert!(f.partition_aware);
        assert_eq!(f.resources, "cpus:1;mem:128");
        assert_eq!(f.role, "*");
        let plan = plan(&f).unwrap();
        let command = plan.task.command.unwrap();
        assert!(command.shell());
        assert_eq!(command.value.as_deref(), Some("echo hi"));
        assert_eq!(plan.task.task_id.value, "t");
        assert_eq!(plan.framework_info.name, "mesos-execute instance");
        let caps: Vec<i32> = plan
            .framework_info
            .capabilities
            .iter()
            .filter_map(|c| c.r#type)
            .collect();
        assert!(caps.contains(&(capability::Type::TaskKillingState as i32)));
        assert!(caps.contains(&(capability::Type::PartitionAware as i32)));
    }

    #[test]
    fn boolean_flags_take_every_stout_form() {
        assert!(!flags(&["--shell=false"]).shell);
        assert!(flags(&["--checkpoint"]).checkpoint);
        assert!(
            !Flags::try_parse_from(["x", "--master=m:1", "--partition_aware=false"])
                .unwrap()
                .partition_aware
        );
        let rewritten = stout_args(["--no-shell", "--no-x=1"].iter().map(|s| s.to_string()));
        assert_eq!(rewritten, vec!["--shell=false", "--no-x=1"]);
        assert!(
            !Flags::try_parse_from(stout_args(
                ["x", "--master=m:1", "--no-partition_aware"]
                    .iter()
                    .map(|s| s.to_string())
            ))
            .unwrap()
            .partition_aware
        );
    }

    #[test]
    fn unknown_flags_and_bad_values_are_refused() {
        assert!(Flags::try_parse_from(["x", "--master=m:1", "--bogus=1"]).is_err());
        assert!(Flags::try_parse_from(["x", "--master=m:1", "--kill_after=5s"]).is_err());
        assert_eq!(
            flags(&["--kill_after=2secs"]).kill_after,
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn non_shell_commands_become_a_full_argv() {
        let plan = plan(&flags(&[
            "--name=t",
            "--shell=false",
            "--command=/bin/echo a b",
        ]))
        .unwrap();
        let command = plan.task.command.unwrap();
        assert!(!command.shell());
        assert_eq!(command.value.as_deref(), Some("/bin/echo"));
        assert_eq!(command.arguments, vec!["/bin/echo", "a", "b"]);
    }

    #[test]
    fn missing_name_or_command_is_refused() {
        assert!(plan(&flags(&["--command=true"])).is_err());
        assert!(plan(&flags(&["--name=t"])).is_err());
    }

    #[test]
    fn env_flag_becomes_command_environment() {
        let plan = plan(&flags(&[
            "--name=t",
            "--command=true",
            r#"--env={"B":"2","A":"x y"}"#,
        ]))
        .unwrap();
        let env = plan.task.command.unwrap().environment.unwrap();
        let pairs: Vec<(String, String)> = env
            .variables
            .into_iter()
            .map(|v| (v.name, v.value.unwrap_or_default()))
            .collect();
        assert_eq!(
            pairs,
            vec![("A".into(), "x y".into()), ("B".into(), "2".into())]
        );
    }

    #[test]
    fn task_flag_takes_a_json_task_info() {
        let json = r#"{"name":"j","task_id":{"value":"j1"},
            "resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.1}}],
            "command":{"value":"sleep 1"}}"#;
        let planned = plan(&flags(&[&format!("--task={json}")])).unwrap();
        assert_eq!(planned.task.task_id.value, "j1");
        assert_eq!(planned.requests.len(), 1);
        assert!(plan(&flags(&[&format!("--task={json}"), "--name=x"])).is_err());
    }

    mod against_a_fake_master {
        use super::*;
        use mesos_proto::mesos::v1::scheduler::{call, Call, Event};
        use mesos_proto::mesos::v1::{FrameworkId, Offer, OfferId};
        use mesos_scheduler_client::test_support::{record, FakeRequest, FakeServer};
        use prost::Message as _;
        use tokio::sync::mpsc;

        async fn next_call(master: &mut FakeServer) -> (Call, FakeRequest) {
            let request = tokio::time::timeout(Duration::from_secs(20), master.next_request())
                .await
                .unwrap()
                .unwrap();
            (Call::decode(request.body.clone()).unwrap(), request)
        }

        /// Expects a call of `kind`, answers 202, returns it.
        async fn expect(master: &mut FakeServer, kind: call::Type) -> Call {
            let (call, request) = next_call(master).await;
            assert_eq!(call.r#type(), kind, "unexpected call {call:?}");
            assert_eq!(request.header("mesos-stream-id"), "s-1");
            request.respond(202, &[], "");
            call
        }

        async fn subscribe(master: &mut FakeServer) -> (Call, mpsc::Sender<bytes::Bytes>) {
            let (call, request) = next_call(master).await;
            assert_eq!(call.r#type(), call::Type::Subscribe);
            let feed = request.respond_stream(
                200,
                &[
                    ("Content-Type", "application/x-protobuf"),
                    ("Mesos-Stream-Id", "s-1"),
                ],
            );
            let subscribed = Event {
                r#type: Some(event::Type::Subscribed as i32),
                subscribed: Some(event::Subscribed {
                    framework_id: FrameworkId {
                        value: "fw-9".into(),
                    },
                    heartbeat_interval_seconds: Some(15.0),
                    master_info: None,
                }),
                ..Default::default()
            };
            feed.send(record(ContentType::Protobuf, &subscribed))
                .await
                .unwrap();
            (call, feed)
        }

        fn offer(id: &str, resources: &str) -> Offer {
            Offer {
                id: OfferId { value: id.into() },
                framework_id: FrameworkId {
                    value: "fw-9".into(),
                },
                agent_id: AgentId {
                    value: "agent-7".into(),
                },
                hostname: "localhost".into(),
                resources: resources::parse(resources).unwrap().into_vec(),
                ..Default::default()
            }
        }

        fn update(state: TaskState, uuid: Option<Vec<u8>>) -> Event {
            Event {
                r#type: Some(event::Type::Update as i32),
                update: Some(event::Update {
                    status: TaskStatus {
                        task_id: TaskId {
                            value: "hello".into(),
                        },
                        state: state as i32,
                        agent_id: Some(AgentId {
                            value: "agent-7".into(),
                        }),
                        uuid,
                        ..Default::default()
                    },
                }),
                ..Default::default()
            }
        }

        #[tokio::test]
        async fn launches_on_the_first_offer_that_fits_and_exits_0_when_finished() {
            let mut master = FakeServer::start().await.unwrap();
            let mut f = flags(&[
                "--name=hello",
                "--command=echo hi",
                "--resources=cpus:0.5;mem:64",
            ]);
            f.master = master.authority();
            let running = tokio::spawn(run(f));

            let (call, feed) = subscribe(&mut master).await;
            let info = call.subscribe.unwrap().framework_info;
            assert_eq!(info.name, "mesos-execute instance");
            assert!(!info.user.is_empty());

            let offers = Event {
                r#type: Some(event::Type::Offers as i32),
                offers: Some(event::Offers {
                    offers: vec![
                        offer("small", "cpus:0.1;mem:1024"),
                        offer("big", "cpus:2;mem:1024"),
                    ],
                }),
                ..Default::default()
            };
            feed.send(record(ContentType::Protobuf, &offers))
                .await
                .unwrap();
            let declined = expect(&mut master, call::Type::Decline).await;
            assert_eq!(declined.decline.unwrap().offer_ids[0].value, "small");
            let accepted = expect(&mut master, call::Type::Accept).await;
            assert_eq!(accepted.framework_id.unwrap().value, "fw-9");
            let accept = accepted.accept.unwrap();
            assert_eq!(accept.offer_ids[0].value, "big");
            let task = &accept.operations[0].launch.as_ref().unwrap().task_infos[0];
            assert_eq!(task.task_id.value, "hello");
            assert_eq!(task.agent_id.value, "agent-7");
            assert_eq!(
                task.command.as_ref().unwrap().value.as_deref(),
                Some("echo hi")
            );
            let amounts: Vec<(String, f64)> = task
                .resources
                .iter()
                .map(|r| (r.name.clone(), r.scalar.unwrap().value))
                .collect();
            assert_eq!(amounts, vec![("cpus".into(), 0.5), ("mem".into(), 64.0)]);

            feed.send(record(
                ContentType::Protobuf,
                &update(TaskState::TaskRunning, Some(vec![1; 16])),
            ))
            .await
            .unwrap();
            let ack = expect(&mut master, call::Type::Acknowledge).await;
            assert_eq!(ack.acknowledge.unwrap().uuid, vec![1; 16]);
            feed.send(record(
                ContentType::Protobuf,
                &update(TaskState::TaskFinished, Some(vec![2; 16])),
            ))
            .await
            .unwrap();
            expect(&mut master, call::Type::Acknowledge).await;
            expect(&mut master, call::Type::Teardown).await;
            assert_eq!(running.await.unwrap().unwrap(), ExitCode::SUCCESS);
        }

        #[tokio::test]
        async fn kill_after_kills_and_a_killed_task_exits_non_zero() {
            let mut master = FakeServer::start().await.unwrap();
            let mut f = flags(&["--name=hello", "--command=sleep 100", "--kill_after=100ms"]);
            f.master = master.authority();
            let running = tokio::spawn(run(f));
            let (_, feed) = subscribe(&mut master).await;
            let offers = Event {
                r#type: Some(event::Type::Offers as i32),
                offers: Some(event::Offers {
                    offers: vec![offer("o", "cpus:4;mem:4096")],
                }),
                ..Default::default()
            };
            feed.send(record(ContentType::Protobuf, &offers))
                .await
                .unwrap();
            expect(&mut master, call::Type::Accept).await;
            feed.send(record(
                ContentType::Protobuf,
                &update(TaskState::TaskRunning, Some(vec![1; 16])),
            ))
            .await
            .unwrap();
            expect(&mut master, call::Type::Acknowledge).await;
            let kill = expect(&mut master, call::Type::Kill).await.kill.unwrap();
            assert_eq!(kill.task_id.value, "hello");
            assert_eq!(kill.agent_id.unwrap().value, "agent-7");
            // A master-generated update (no uuid) is not acknowledged.
            feed.send(record(
                ContentType::Protobuf,
                &update(TaskState::TaskKilled, None),
            ))
            .await
            .unwrap();
            expect(&mut master, call::Type::Teardown).await;
            assert_eq!(running.await.unwrap().unwrap(), ExitCode::FAILURE);
        }
    }

    #[test]
    fn only_gpu_capability_is_accepted() {
        assert!(plan(&flags(&[
            "--name=t",
            "--command=true",
            "--framework_capabilities=GPU_RESOURCES"
        ]))
        .is_ok());
        assert!(plan(&flags(&[
            "--name=t",
            "--command=true",
            "--framework_capabilities=MULTI_ROLE"
        ]))
        .is_err());
        assert!(plan(&flags(&[
            "--name=t",
            "--command=true",
            "--framework_capabilities=NOPE"
        ]))
        .is_err());
    }
}
