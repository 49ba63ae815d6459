//! The executor's configuration: the agent-provided environment
//! (checklist §2) and the command-line flags (`src/launcher/executor.cpp`).
//!
//! Owns reading and validating them, with upstream's messages. It never
//! touches the network or the task.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mesos_proto::mesos::v1::{CommandInfo, Environment, ExecutorId, FrameworkId};
use mesos_scheduler_client::{ContentType, Endpoint};

use crate::Error;

/// Upstream's `DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// How long to wait for the agent to acknowledge the terminal update
/// (upstream's fail-safe for the HTTP command executor).
pub const DEFAULT_TERMINAL_ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// The command-line flags. The agent passes `--launcher_dir`; the others are
/// upstream's and honoured where they make sense without a container image.
/// Unknown flags are refused (like stout), so the agent must not invent any.
#[derive(Parser, Debug, Default)]
#[command(
    name = "mesos-executor",
    about = "The Mesos command executor.",
    rename_all = "snake_case"
)]
pub struct Flags {
    /// Directory path of Mesos binaries (accepted; we launch tasks directly).
    #[arg(long)]
    pub launcher_dir: Option<String>,

    /// The working directory for the task (default: the sandbox).
    #[arg(long)]
    pub working_directory: Option<PathBuf>,

    /// The sandbox directory as the task sees it (default: MESOS_SANDBOX).
    #[arg(long)]
    pub sandbox_directory: Option<PathBuf>,

    /// A JSON `CommandInfo` that replaces the task's command.
    #[arg(long)]
    pub task_command: Option<String>,

    /// A JSON `Environment` added to the task's environment before the
    /// command's own variables.
    #[arg(long)]
    pub task_environment: Option<String>,
}

/// Everything the executor needs to run.
/// The agent's token for this executor. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(pub String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `MESOS_FRAMEWORK_ID`.
    pub framework_id: FrameworkId,
    /// `MESOS_EXECUTOR_ID`.
    pub executor_id: ExecutorId,
    /// The agent, from `MESOS_SLAVE_PID` (else `MESOS_AGENT_ENDPOINT`).
    pub agent: Endpoint,
    /// `/<agent process id>/api/v1/executor`.
    pub agent_path: String,
    /// Where the task runs (`--working_directory`, else the sandbox).
    pub working_directory: Option<PathBuf>,
    /// `MESOS_CHECKPOINT=1`: survive agent restarts by re-subscribing.
    pub checkpoint: bool,
    /// `MESOS_RECOVERY_TIMEOUT` (only with checkpointing).
    pub recovery_timeout: Duration,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX` (only with checkpointing).
    pub max_backoff: Duration,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
    pub shutdown_grace_period: Duration,
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`, sent as a bearer token.
    pub authentication_token: Option<Token>,
    /// Encoding of calls and events (protobuf, like upstream).
    pub content_type: ContentType,
    /// How long to wait for the ACK of the terminal update before giving up.
    pub terminal_ack_timeout: Duration,
    /// How often SUBSCRIBE is retried while the agent refuses it.
    pub subscribe_retry_interval: Duration,
    /// How often a HEARTBEAT call is sent (upstream: 30 minutes).
    pub heartbeat_interval: Duration,
    /// `--task_command`.
    pub task_command: Option<CommandInfo>,
    /// `--task_environment`.
    pub task_environment: Option<Environment>,
}

impl Config {
    /// Builds the configuration from the flags and the environment.
    pub fn from_env(flags: &Flags, env: &HashMap<String, String>) -> Result<Config, Error> {
        let required = |name: &'static str| env.get(name).cloned().ok_or(Error::MissingEnv(name));
        let duration_var = |name: &'static str| -> Result<Option<Duration>, Error> {
            env.get(name)
                .map(|value| {
                    stout::Duration::parse(value)
                        .map(Duration::from)
                        .map_err(|e| Error::BadEnv {
                            name,
                            value: value.clone(),
                            reason: e.to_string(),
                        })
                })
                .transpose()
        };

        let framework_id = FrameworkId {
            value: required("MESOS_FRAMEWORK_ID")?,
        };
        let executor_id = ExecutorId {
            value: required("MESOS_EXECUTOR_ID")?,
        };
        let (agent, agent_path) = agent_endpoint(env)?;

        let checkpoint = env.get("MESOS_CHECKPOINT").map(String::as_str) == Some("1");
        let (recovery_timeout, max_backoff) = if checkpoint {
            (
                duration_var("MESOS_RECOVERY_TIMEOUT")?
                    .ok_or(Error::MissingEnv("MESOS_RECOVERY_TIMEOUT"))?,
                duration_var("MESOS_SUBSCRIPTION_BACKOFF_MAX")?
                    .ok_or(Error::MissingEnv("MESOS_SUBSCRIPTION_BACKOFF_MAX"))?,
            )
        } else {
            (Duration::ZERO, Duration::ZERO)
        };
        let shutdown_grace_period = duration_var("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD")?
            .unwrap_or(DEFAULT_SHUTDOWN_GRACE_PERIOD);

        let working_directory = flags
            .working_directory
            .clone()
            .or_else(|| flags.sandbox_directory.clone())
            .or_else(|| env.get("MESOS_SANDBOX").map(PathBuf::from))
            .or_else(|| env.get("MESOS_DIRECTORY").map(PathBuf::from));

        let task_command = flags
            .task_command
            .as_deref()
            .map(|json| {
                mesos_proto::json::decode::<CommandInfo>(json.as_bytes()).map_err(|e| {
                    Error::BadFlag {
                        flag: "task_command",
                        reason: e.to_string(),
                    }
                })
            })
            .transpose()?;
        let task_environment = flags
            .task_environment
            .as_deref()
            .map(|json| {
                mesos_proto::json::decode::<Environment>(json.as_bytes()).map_err(|e| {
                    Error::BadFlag {
                        flag: "task_environment",
                        reason: e.to_string(),
                    }
                })
            })
            .transpose()?;

        Ok(Config {
            framework_id,
            executor_id,
            agent,
            agent_path,
            working_directory,
            checkpoint,
            recovery_timeout,
            max_backoff,
            shutdown_grace_period,
            authentication_token: env
                .get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN")
                .cloned()
                .map(Token),
            content_type: ContentType::Protobuf,
            terminal_ack_timeout: DEFAULT_TERMINAL_ACK_TIMEOUT,
            subscribe_retry_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(30 * 60),
            task_command,
            task_environment,
        })
    }
}

/// The agent's address and executor API path: from `MESOS_SLAVE_PID`
/// (`slave(1)@10.0.0.1:5051` → `/slave(1)/api/v1/executor`), which every
/// stock executor library uses, else from `MESOS_AGENT_ENDPOINT`.
fn agent_endpoint(env: &HashMap<String, String>) -> Result<(Endpoint, String), Error> {
    if let Some(pid) = env.get("MESOS_SLAVE_PID") {
        let bad = |reason: &str| Error::BadEnv {
            name: "MESOS_SLAVE_PID",
            value: pid.clone(),
            reason: reason.to_string(),
        };
        let (id, address) = pid
            .split_once('@')
            .ok_or_else(|| bad("expected '<id>@<ip>:<port>'"))?;
        if id.is_empty() {
            return Err(bad("empty process id"));
        }
        let endpoint = Endpoint::parse(address).map_err(|e| bad(&e.to_string()))?;
        return Ok((endpoint, format!("/{id}/api/v1/executor")));
    }
    if let Some(address) = env.get("MESOS_AGENT_ENDPOINT") {
        let endpoint = Endpoint::parse(address).map_err(|e| Error::BadEnv {
            name: "MESOS_AGENT_ENDPOINT",
            value: address.clone(),
            reason: e.to_string(),
        })?;
        return Ok((endpoint, "/slave(1)/api/v1/executor".to_string()));
    }
    Err(Error::MissingEnv("MESOS_SLAVE_PID"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut map: HashMap<String, String> = [
            ("MESOS_FRAMEWORK_ID", "fw-1"),
            ("MESOS_EXECUTOR_ID", "task-1"),
            ("MESOS_SLAVE_PID", "slave(1)@127.0.0.1:5051"),
            ("MESOS_DIRECTORY", "/var/sandbox"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            if v.is_empty() {
                map.remove(*k);
            } else {
                map.insert(k.to_string(), v.to_string());
            }
        }
        map
    }

    #[test]
    fn derives_the_agent_url_from_the_pid() {
        let config = Config::from_env(&Flags::default(), &env(&[])).unwrap();
        assert_eq!(config.agent.authority(), "127.0.0.1:5051");
        assert_eq!(config.agent_path, "/slave(1)/api/v1/executor");
        assert_eq!(config.framework_id.value, "fw-1");
        assert_eq!(config.executor_id.value, "task-1");
        assert_eq!(config.shutdown_grace_period, Duration::from_secs(5));
        assert!(!config.checkpoint);
        assert_eq!(
            config.working_directory,
            Some(PathBuf::from("/var/sandbox"))
        );
    }

    #[test]
    fn falls_back_to_the_agent_endpoint() {
        let config = Config::from_env(
            &Flags::default(),
            &env(&[
                ("MESOS_SLAVE_PID", ""),
                ("MESOS_AGENT_ENDPOINT", "10.1.2.3:5052"),
            ]),
        )
        .unwrap();
        assert_eq!(config.agent.authority(), "10.1.2.3:5052");
        assert_eq!(config.agent_path, "/slave(1)/api/v1/executor");
    }

    #[test]
    fn missing_ids_are_reported_like_upstream() {
        let error =
            Config::from_env(&Flags::default(), &env(&[("MESOS_FRAMEWORK_ID", "")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Expecting 'MESOS_FRAMEWORK_ID' to be set in the environment"
        );
        assert!(
            Config::from_env(&Flags::default(), &env(&[("MESOS_SLAVE_PID", "garbage")])).is_err()
        );
    }

    #[test]
    fn durations_use_stout_syntax() {
        let config = Config::from_env(
            &Flags::default(),
            &env(&[("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "250ms")]),
        )
        .unwrap();
        assert_eq!(config.shutdown_grace_period, Duration::from_millis(250));
        let error = Config::from_env(
            &Flags::default(),
            &env(&[("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5s")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with(
                "Failed to parse value '5s' of 'MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD'"
            ),
            "{error}"
        );
    }

    #[test]
    fn checkpointing_needs_its_timeouts() {
        assert!(Config::from_env(&Flags::default(), &env(&[("MESOS_CHECKPOINT", "1")])).is_err());
        let config = Config::from_env(
            &Flags::default(),
            &env(&[
                ("MESOS_CHECKPOINT", "1"),
                ("MESOS_RECOVERY_TIMEOUT", "15mins"),
                ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
            ]),
        )
        .unwrap();
        assert!(config.checkpoint);
        assert_eq!(config.recovery_timeout, Duration::from_secs(900));
        assert_eq!(config.max_backoff, Duration::from_secs(2));
        // "true" is not "1".
        let config =
            Config::from_env(&Flags::default(), &env(&[("MESOS_CHECKPOINT", "true")])).unwrap();
        assert!(!config.checkpoint);
    }

    #[test]
    fn flags_are_upstream_names_and_unknown_ones_are_refused() {
        let flags = Flags::try_parse_from([
            "mesos-executor",
            "--launcher_dir=/usr/libexec/mesos",
            "--working_directory=/work",
        ])
        .unwrap();
        assert_eq!(flags.launcher_dir.as_deref(), Some("/usr/libexec/mesos"));
        let config = Config::from_env(&flags, &env(&[])).unwrap();
        assert_eq!(config.working_directory, Some(PathBuf::from("/work")));
        assert!(Flags::try_parse_from(["mesos-executor", "--rootfs=/x"]).is_err());
    }

    #[test]
    fn task_command_flag_is_mesos_json() {
        let flags = Flags::try_parse_from([
            "mesos-executor",
            r#"--task_command={"value":"echo hi","shell":true}"#,
        ])
        .unwrap();
        let config = Config::from_env(&flags, &env(&[])).unwrap();
        assert_eq!(
            config.task_command.unwrap().value.as_deref(),
            Some("echo hi")
        );
        let flags = Flags::try_parse_from(["mesos-executor", "--task_command=[1]"]).unwrap();
        assert!(Config::from_env(&flags, &env(&[])).is_err());
    }
}
