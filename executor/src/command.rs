//! Turning a task's `CommandInfo` into a running process, and its wait
//! status into Mesos words.
//!
//! Owns: the argv (`sh -c value`, or `value` with the full `arguments` argv),
//! the task environment (ours, then `--task_environment`, then the command's
//! variables, secrets skipped, then `MESOS_ALLOCATION_ROLE`), spawning in a
//! fresh process group so a kill reaches the whole tree, signalling that
//! group, and the terminal state and message for a wait status. It never
//! talks to the agent.

use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use mesos_proto::mesos::v1::{environment, CommandInfo, Environment, TaskInfo, TaskState};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// What to exec: the program and the whole argv (argv[0] included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argv {
    /// Looked up in `PATH` unless it contains a `/`.
    pub program: String,
    /// argv, argv[0] included.
    pub args: Vec<String>,
}

/// The argv for `command`. `shell` (the default) is `sh -c <value>`;
/// otherwise `value` is exec'd with `arguments` as the full argv (argv[0]
/// included), and with `value` alone as argv[0] when `arguments` is empty.
pub fn argv(command: &CommandInfo) -> Result<Argv, String> {
    let value = command.value.clone();
    if command.shell() {
        let value = value.ok_or("Shell command of the task is not specified")?;
        Ok(Argv {
            program: "sh".to_string(),
            args: vec!["sh".to_string(), "-c".to_string(), value],
        })
    } else {
        let value = value.ok_or("Executable of the task is not specified")?;
        let args = if command.arguments.is_empty() {
            vec![value.clone()]
        } else {
            command.arguments.clone()
        };
        Ok(Argv {
            program: value,
            args,
        })
    }
}

/// The task's environment, by increasing priority: `base` (the executor's
/// own, minus the authentication token), `isolator` (`--task_environment`),
/// the command's variables, then `MESOS_ALLOCATION_ROLE`. Secret variables
/// are skipped: nothing resolves them here.
pub fn environment(
    base: impl IntoIterator<Item = (String, String)>,
    isolator: Option<&Environment>,
    command: Option<&Environment>,
    allocation_role: Option<&str>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = base
        .into_iter()
        .filter(|(name, _)| name != "MESOS_EXECUTOR_AUTHENTICATION_TOKEN")
        .collect();
    for variables in [isolator, command].into_iter().flatten() {
        for variable in &variables.variables {
            if variable.r#type() == environment::variable::Type::Secret {
                continue;
            }
            let value = variable.value.clone().unwrap_or_default();
            if env.get(&variable.name).is_some_and(|old| *old != value) {
                tracing::info!("Overwriting environment variable '{}'", variable.name);
            }
            env.insert(variable.name.clone(), value);
        }
    }
    if let Some(role) = allocation_role {
        env.insert("MESOS_ALLOCATION_ROLE".to_string(), role.to_string());
    }
    env
}

/// The role the task's resources are allocated to (all of a task's
/// resources share one role), if the agent filled it in.
pub fn allocation_role(task: &TaskInfo) -> Option<&str> {
    task.resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.as_deref()))
}

/// A relative executable (no `/`) that is not on `PATH` but sits in the
/// working directory is run from there, like upstream's launcher.
fn resolve(program: &str, env: &BTreeMap<String, String>, cwd: Option<&Path>) -> PathBuf {
    if program.contains('/') {
        return PathBuf::from(program);
    }
    let on_path = env
        .get("PATH")
        .map(|path| std::env::split_paths(path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    if !on_path {
        if let Some(local) = cwd.map(|dir| dir.join(program)).filter(|p| p.is_file()) {
            return local;
        }
    }
    PathBuf::from(program)
}

/// Starts the task in its own process group (pgid = its pid), with
/// stdout/stderr inherited (the sandbox files the agent gave us).
pub fn spawn(
    argv: &Argv,
    env: &BTreeMap<String, String>,
    cwd: Option<&Path>,
) -> std::io::Result<tokio::process::Child> {
    let program = resolve(&argv.program, env, cwd);
    let mut command = std::process::Command::new(&program);
    if let Some(argv0) = argv.args.first() {
        command.arg0(argv0);
    }
    command
        .args(argv.args.iter().skip(1))
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        // A group of its own: killpg reaches the task's children too, and
        // not us. posix_spawn can do this without a fork of our own.
        .process_group(0);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    tokio::process::Command::from(command).spawn()
}

/// Sends `signal` to the task's process group, falling back to the process
/// itself if the group is gone (like upstream's killtree fallback).
pub fn signal_tree(pid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pid) else {
        tracing::error!("pid {pid} is out of range");
        return;
    };
    let pid = Pid::from_raw(raw);
    if let Err(group_error) = nix::sys::signal::killpg(pid, signal) {
        if let Err(e) = nix::sys::signal::kill(pid, signal) {
            tracing::warn!(
                "failed to send {signal} to the process group {pid} ({group_error}) and to the process ({e})"
            );
        }
    }
}

/// Upstream's `WSTRINGIFY`: `exited with status N` or
/// `terminated with signal <strsignal text>`.
pub fn describe(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("terminated with signal {}", strsignal(signal)),
        (None, None) => format!("ended with wait status {}", status.into_raw()),
    }
}

/// glibc's `strsignal` texts (Linux numbering), which upstream's messages use.
pub fn strsignal(signal: i32) -> String {
    let text = match signal {
        1 => "Hangup",
        2 => "Interrupt",
        3 => "Quit",
        4 => "Illegal instruction",
        5 => "Trace/breakpoint trap",
        6 => "Aborted",
        7 => "Bus error",
        8 => "Floating point exception",
        9 => "Killed",
        10 => "User defined signal 1",
        11 => "Segmentation fault",
        12 => "User defined signal 2",
        13 => "Broken pipe",
        14 => "Alarm clock",
        15 => "Terminated",
        16 => "Stack fault",
        17 => "Child exited",
        18 => "Continued",
        19 => "Stopped (signal)",
        20 => "Stopped",
        21 => "Stopped (tty input)",
        22 => "Stopped (tty output)",
        23 => "Urgent I/O condition",
        24 => "CPU time limit exceeded",
        25 => "File size limit exceeded",
        26 => "Virtual timer expired",
        27 => "Profiling timer expired",
        28 => "Window changed",
        29 => "I/O possible",
        30 => "Power failure",
        31 => "Bad system call",
        // glibc reserves 32 and 33 for its threads; SIGRTMIN is 34.
        34..=64 => return format!("Real-time signal {}", signal - 34),
        _ => return format!("Unknown signal {signal}"),
    };
    text.to_string()
}

/// Why the task is being killed, which decides its terminal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillCause {
    /// Not killed by us.
    None,
    /// KILL or SHUTDOWN.
    Requested,
    /// `TaskInfo.max_completion_time` passed.
    MaxCompletionTime,
}

/// The terminal state for a reaped task, in upstream's order of precedence:
/// max completion time → FAILED, killed → KILLED, exit 0 → FINISHED,
/// anything else → FAILED.
pub fn terminal_state(status: &ExitStatus, cause: KillCause) -> TaskState {
    match cause {
        KillCause::MaxCompletionTime => TaskState::TaskFailed,
        KillCause::Requested => TaskState::TaskKilled,
        KillCause::None if status.success() => TaskState::TaskFinished,
        KillCause::None => TaskState::TaskFailed,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::resource::AllocationInfo;
    use mesos_proto::mesos::v1::Resource;

    fn exit(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn signaled(signal: i32) -> ExitStatus {
        ExitStatus::from_raw(signal)
    }

    #[test]
    fn shell_is_the_default() {
        let command = CommandInfo {
            value: Some("echo $HOME && ls".into()),
            ..Default::default()
        };
        assert_eq!(
            argv(&command).unwrap(),
            Argv {
                program: "sh".into(),
                args: vec!["sh".into(), "-c".into(), "echo $HOME && ls".into()],
            }
        );
    }

    #[test]
    fn non_shell_arguments_are_the_full_argv() {
        let command = CommandInfo {
            shell: Some(false),
            value: Some("/bin/busybox".into()),
            arguments: vec!["ls".into(), "-l".into()],
            ..Default::default()
        };
        let argv = argv(&command).unwrap();
        assert_eq!(argv.program, "/bin/busybox");
        assert_eq!(argv.args, vec!["ls", "-l"]);

        let bare = CommandInfo {
            shell: Some(false),
            value: Some("true".into()),
            ..Default::default()
        };
        assert_eq!(super::argv(&bare).unwrap().args, vec!["true"]);
    }

    #[test]
    fn a_command_needs_a_value() {
        assert!(argv(&CommandInfo::default()).is_err());
        assert!(argv(&CommandInfo {
            shell: Some(false),
            ..Default::default()
        })
        .is_err());
    }

    fn variable(name: &str, value: &str, secret: bool) -> environment::Variable {
        environment::Variable {
            name: name.into(),
            value: Some(value.into()),
            r#type: Some(if secret {
                environment::variable::Type::Secret as i32
            } else {
                environment::variable::Type::Value as i32
            }),
            ..Default::default()
        }
    }

    #[test]
    fn environment_priorities() {
        let base = vec![
            ("A".to_string(), "base".to_string()),
            ("B".to_string(), "base".to_string()),
            (
                "MESOS_EXECUTOR_AUTHENTICATION_TOKEN".to_string(),
                "jwt".to_string(),
            ),
            ("MESOS_ALLOCATION_ROLE".to_string(), "stale".to_string()),
        ];
        let isolator = Environment {
            variables: vec![
                variable("B", "isolator", false),
                variable("C", "isolator", false),
            ],
        };
        let command = Environment {
            variables: vec![
                variable("C", "command", false),
                variable("A", "secret", true),
            ],
        };
        let env = environment(base, Some(&isolator), Some(&command), Some("web"));
        assert_eq!(env["A"], "base");
        assert_eq!(env["B"], "isolator");
        assert_eq!(env["C"], "command");
        assert_eq!(env["MESOS_ALLOCATION_ROLE"], "web");
        assert!(!env.contains_key("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"));
    }

    #[test]
    fn allocation_role_comes_from_the_resources() {
        let mut task = TaskInfo::default();
        assert_eq!(allocation_role(&task), None);
        task.resources.push(Resource {
            name: "cpus".into(),
            allocation_info: Some(AllocationInfo {
                role: Some("analytics".into()),
            }),
            ..Default::default()
        });
        assert_eq!(allocation_role(&task), Some("analytics"));
    }

    #[test]
    fn messages_match_upstream() {
        assert_eq!(describe(&exit(0)), "exited with status 0");
        assert_eq!(describe(&exit(3)), "exited with status 3");
        assert_eq!(describe(&signaled(15)), "terminated with signal Terminated");
        assert_eq!(describe(&signaled(9)), "terminated with signal Killed");
        assert_eq!(strsignal(11), "Segmentation fault");
        assert_eq!(strsignal(36), "Real-time signal 2");
        assert_eq!(strsignal(99), "Unknown signal 99");
    }

    #[test]
    fn terminal_state_precedence() {
        use KillCause::*;
        assert_eq!(terminal_state(&exit(0), None), TaskState::TaskFinished);
        assert_eq!(terminal_state(&exit(1), None), TaskState::TaskFailed);
        assert_eq!(terminal_state(&signaled(11), None), TaskState::TaskFailed);
        assert_eq!(
            terminal_state(&signaled(15), Requested),
            TaskState::TaskKilled
        );
        // A killed task that exits cleanly on SIGTERM is still KILLED.
        assert_eq!(terminal_state(&exit(0), Requested), TaskState::TaskKilled);
        assert_eq!(
            terminal_state(&signaled(9), MaxCompletionTime),
            TaskState::TaskFailed
        );
    }

    #[tokio::test]
    async fn spawns_with_env_cwd_and_own_process_group() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("local-tool"), "#!/bin/sh\necho local:$1\n").unwrap();
        let mut perms = std::fs::metadata(dir.path().join("local-tool"))
            .unwrap()
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(dir.path().join("local-tool"), perms).unwrap();

        let mut env = BTreeMap::new();
        env.insert("PATH".to_string(), "/usr/bin:/bin".to_string());
        env.insert("GREETING".to_string(), "hello".to_string());
        let shell = argv(&CommandInfo {
            value: Some(
                "echo $GREETING > out; pwd >> out; ps -o pgid= -p $$ | tr -d ' ' >> out; echo $$ >> out; ./local-tool x >> out"
                    .into(),
            ),
            ..Default::default()
        })
        .unwrap();
        let mut child = spawn(&shell, &env, Some(dir.path())).unwrap();
        assert!(child.wait().await.unwrap().success());
        let out = std::fs::read_to_string(dir.path().join("out")).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "hello");
        assert_eq!(
            std::fs::canonicalize(lines[1]).unwrap(),
            std::fs::canonicalize(dir.path()).unwrap()
        );
        // pgid == pid: the task leads its own group.
        assert_eq!(lines[2], lines[3]);
        assert_eq!(lines[4], "local:x");

        // A relative executable that is not on PATH runs from the sandbox.
        let direct = argv(&CommandInfo {
            shell: Some(false),
            value: Some("local-tool".into()),
            arguments: vec!["local-tool".into(), "y".into()],
            ..Default::default()
        })
        .unwrap();
        let mut child = spawn(&direct, &env, Some(dir.path())).unwrap();
        assert!(child.wait().await.unwrap().success());
    }

    #[tokio::test]
    async fn signal_tree_reaches_grandchildren() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = BTreeMap::new();
        env.insert("PATH".to_string(), "/usr/bin:/bin".to_string());
        // The shell waits on a background sleep; both must die.
        let shell = argv(&CommandInfo {
            value: Some("sleep 30 & echo $! > bg; wait".into()),
            ..Default::default()
        })
        .unwrap();
        let mut child = spawn(&shell, &env, Some(dir.path())).unwrap();
        let pid = child.id().unwrap();
        let bg_file = dir.path().join("bg");
        while !bg_file.exists() || std::fs::read_to_string(&bg_file).unwrap().trim().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let bg: i32 = std::fs::read_to_string(&bg_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        signal_tree(pid, Signal::SIGKILL);
        let status = child.wait().await.unwrap();
        assert_eq!(describe(&status), "terminated with signal Killed");
        // The grandchild got the signal too (it is gone, or a zombie of init).
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let alive = nix::sys::signal::kill(Pid::from_raw(bg), None).is_ok()
            && std::fs::read_to_string(format!("/proc/{bg}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
        assert!(!alive, "the background sleep survived");
    }
}
