//! The environment an executor starts with (upstream `executorEnvironment`
//! in `slave/slave.cpp` plus the Mesos containerizer's merge order).
//!
//! Lowest to highest priority: the agent's own environment (only when
//! `--executor_environment_variables` is unset), `LIBPROCESS_IP` copied from
//! the agent, `--executor_environment_variables`, a default `PATH`,
//! `LIBPROCESS_PORT=0`, `MESOS_NATIVE_*LIBRARY` when a library exists, the
//! `MESOS_*` variables of the checklist §2 table, `MESOS_SANDBOX`, and last
//! the executor's own `CommandInfo.environment` (secret variables skipped).
//! Pure: the caller passes in the agent environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mesos_proto::mesos::environment::variable::Type as VariableType;
use mesos_proto::mesos::ExecutorInfo;

use crate::flags::Flags;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the table needs besides the flags.
pub struct ExecutorEnv<'a> {
    pub executor: &'a ExecutorInfo,
    pub directory: &'a Path,
    pub slave_id: &'a str,
    /// `slave(1)@ip:port`.
    pub slave_pid: &'a str,
    /// `ip:port`.
    pub agent_endpoint: &'a str,
    pub checkpoint: bool,
    /// A JNI/native library to advertise, when one was found.
    pub native_library: Option<PathBuf>,
    /// The executor's token, when the agent signs them (`--jwt_secret_key`).
    pub authentication_token: Option<&'a str>,
}

/// Builds the executor's complete environment.
pub fn executor_environment(
    flags: &Flags,
    input: &ExecutorEnv<'_>,
    agent_env: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    let agent_env: BTreeMap<String, String> = agent_env.into_iter().collect();
    let mut env = BTreeMap::new();
    if flags.executor_environment_variables.is_none() {
        env.extend(agent_env.clone());
    }

    // `executorEnvironment()` proper.
    if let Some(ip) = agent_env.get("LIBPROCESS_IP") {
        env.insert("LIBPROCESS_IP".into(), ip.clone());
    }
    if let Some(vars) = &flags.executor_environment_variables {
        env.extend(vars.0.clone());
    }
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.to_string());
    env.insert("LIBPROCESS_PORT".into(), "0".into());
    if let Some(lib) = &input.native_library {
        let lib = lib.display().to_string();
        env.entry("MESOS_NATIVE_JAVA_LIBRARY".into())
            .or_insert_with(|| lib.clone());
        env.entry("MESOS_NATIVE_LIBRARY".into()).or_insert(lib);
    }
    let framework_id = input
        .executor
        .framework_id
        .as_ref()
        .map(|f| f.value.clone())
        .unwrap_or_default();
    let directory = input.directory.display().to_string();
    env.insert("MESOS_FRAMEWORK_ID".into(), framework_id);
    env.insert(
        "MESOS_EXECUTOR_ID".into(),
        input.executor.executor_id.value.clone(),
    );
    env.insert("MESOS_DIRECTORY".into(), directory.clone());
    env.insert("MESOS_SLAVE_ID".into(), input.slave_id.to_string());
    env.insert("MESOS_SLAVE_PID".into(), input.slave_pid.to_string());
    env.insert(
        "MESOS_AGENT_ENDPOINT".into(),
        input.agent_endpoint.to_string(),
    );
    env.insert(
        "MESOS_CHECKPOINT".into(),
        if input.checkpoint { "1" } else { "0" }.into(),
    );
    env.insert(
        "MESOS_HTTP_COMMAND_EXECUTOR".into(),
        if flags.http_command_executor {
            "1"
        } else {
            "0"
        }
        .into(),
    );
    env.insert(
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
        shutdown_grace_period(flags, input.executor).to_string(),
    );
    if input.checkpoint {
        env.insert(
            "MESOS_RECOVERY_TIMEOUT".into(),
            flags.recovery_timeout.to_string(),
        );
        env.insert(
            "MESOS_SUBSCRIPTION_BACKOFF_MAX".into(),
            flags.executor_reregistration_timeout.to_string(),
        );
    }

    if let Some(token) = input.authentication_token {
        env.insert(
            "MESOS_EXECUTOR_AUTHENTICATION_TOKEN".into(),
            token.to_string(),
        );
    }

    // The containerizer's additions.
    env.insert("MESOS_SANDBOX".into(), directory);
    if let Some(command_env) = input
        .executor
        .command
        .as_ref()
        .and_then(|c| c.environment.as_ref())
    {
        for variable in &command_env.variables {
            let kind = variable.r#type.unwrap_or(VariableType::Value as i32);
            if kind == VariableType::Secret as i32 {
                continue;
            }
            env.insert(
                variable.name.clone(),
                variable.value.clone().unwrap_or_default(),
            );
        }
    }
    env
}

/// `ExecutorInfo.shutdown_grace_period`, else `--executor_shutdown_grace_period`.
pub fn shutdown_grace_period(flags: &Flags, executor: &ExecutorInfo) -> stout::Duration {
    match &executor.shutdown_grace_period {
        // Negative counts as zero.
        Some(d) => stout::Duration::from_nanos(d.nanoseconds),
        None => flags.executor_shutdown_grace_period,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::Parsed;
    use mesos_proto::mesos::{
        environment, CommandInfo, DurationInfo, Environment, ExecutorId, FrameworkId,
    };

    fn flags(extra: &[&str]) -> Flags {
        let mut args = vec![
            "mesos-agent",
            "--master=127.0.0.1:5050",
            "--work_dir=/tmp/w",
        ];
        args.extend_from_slice(extra);
        match Flags::load(args).unwrap() {
            Parsed::Run(f) => *f,
            Parsed::Print(_) => unreachable!(),
        }
    }

    fn executor() -> ExecutorInfo {
        ExecutorInfo {
            executor_id: ExecutorId { value: "E1".into() },
            framework_id: Some(FrameworkId { value: "F1".into() }),
            command: Some(CommandInfo {
                environment: Some(Environment {
                    variables: vec![
                        environment::Variable {
                            name: "USER_VAR".into(),
                            value: Some("x".into()),
                            ..Default::default()
                        },
                        environment::Variable {
                            name: "MESOS_SANDBOX".into(),
                            value: Some("/override".into()),
                            ..Default::default()
                        },
                        environment::Variable {
                            name: "SECRET".into(),
                            r#type: Some(VariableType::Secret as i32),
                            ..Default::default()
                        },
                    ],
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn build(flags: &Flags, executor: &ExecutorInfo, checkpoint: bool) -> BTreeMap<String, String> {
        let input = ExecutorEnv {
            executor,
            directory: Path::new("/w/slaves/S/frameworks/F1/executors/E1/runs/C"),
            slave_id: "S",
            slave_pid: "slave(1)@10.0.0.2:5051",
            agent_endpoint: "10.0.0.2:5051",
            checkpoint,
            native_library: None,
            authentication_token: None,
        };
        let agent_env = vec![
            ("HOME".to_string(), "/root".to_string()),
            ("LIBPROCESS_IP".to_string(), "10.0.0.2".to_string()),
            ("LIBPROCESS_PORT".to_string(), "5051".to_string()),
        ];
        executor_environment(flags, &input, agent_env)
    }

    #[test]
    fn executor_gets_its_authentication_token() {
        let executor = executor();
        let mut input = ExecutorEnv {
            executor: &executor,
            directory: Path::new("/w"),
            slave_id: "S",
            slave_pid: "slave(1)@10.0.0.2:5051",
            agent_endpoint: "10.0.0.2:5051",
            checkpoint: false,
            native_library: None,
            authentication_token: None,
        };
        let env = executor_environment(&flags(&[]), &input, Vec::new());
        assert!(!env.contains_key("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"));
        input.authentication_token = Some("a.b.c");
        let env = executor_environment(&flags(&[]), &input, Vec::new());
        assert_eq!(env["MESOS_EXECUTOR_AUTHENTICATION_TOKEN"], "a.b.c");
    }

    #[test]
    fn matches_the_checklist_table() {
        let env = build(&flags(&[]), &executor(), false);
        assert_eq!(env["MESOS_FRAMEWORK_ID"], "F1");
        assert_eq!(env["MESOS_EXECUTOR_ID"], "E1");
        assert_eq!(env["MESOS_SLAVE_ID"], "S");
        assert_eq!(env["MESOS_SLAVE_PID"], "slave(1)@10.0.0.2:5051");
        assert_eq!(env["MESOS_AGENT_ENDPOINT"], "10.0.0.2:5051");
        assert_eq!(
            env["MESOS_DIRECTORY"],
            "/w/slaves/S/frameworks/F1/executors/E1/runs/C"
        );
        assert_eq!(env["MESOS_CHECKPOINT"], "0");
        assert_eq!(env["MESOS_HTTP_COMMAND_EXECUTOR"], "0");
        assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs");
        assert_eq!(env["LIBPROCESS_PORT"], "0");
        assert_eq!(env["LIBPROCESS_IP"], "10.0.0.2");
        assert_eq!(env["HOME"], "/root", "the agent environment is inherited");
        assert_eq!(env["PATH"], DEFAULT_PATH);
        assert_eq!(env["USER_VAR"], "x");
        assert_eq!(
            env["MESOS_SANDBOX"], "/override",
            "CommandInfo.environment wins"
        );
        assert!(!env.contains_key("SECRET"));
        assert!(!env.contains_key("MESOS_RECOVERY_TIMEOUT"));
        assert!(!env.contains_key("MESOS_SUBSCRIPTION_BACKOFF_MAX"));
    }

    #[test]
    fn checkpointing_adds_recovery_variables() {
        let env = build(&flags(&["--http_command_executor"]), &executor(), true);
        assert_eq!(env["MESOS_CHECKPOINT"], "1");
        assert_eq!(env["MESOS_HTTP_COMMAND_EXECUTOR"], "1");
        assert_eq!(env["MESOS_RECOVERY_TIMEOUT"], "15mins");
        assert_eq!(env["MESOS_SUBSCRIPTION_BACKOFF_MAX"], "2secs");
    }

    #[test]
    fn explicit_executor_environment_replaces_inheritance() {
        let f =
            flags(&["--executor_environment_variables={\"PATH\":\"/opt/bin\",\"FOO\":\"bar\"}"]);
        let mut exec = executor();
        exec.shutdown_grace_period = Some(DurationInfo {
            nanoseconds: 3_000_000_000,
        });
        let env = build(&f, &exec, false);
        assert!(!env.contains_key("HOME"));
        assert_eq!(env["PATH"], "/opt/bin");
        assert_eq!(env["FOO"], "bar");
        assert_eq!(env["LIBPROCESS_IP"], "10.0.0.2", "still copied");
        assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "3secs");
    }
}
