//! The `ExecutorInfo` for a task (upstream `Slave::getExecutorInfo`): a
//! task's own executor, or a command executor the agent makes for a command
//! task. Pure.

use std::path::Path;
use std::time::Duration;

use mesos_proto::mesos::{
    CommandInfo, DurationInfo, ExecutorId, ExecutorInfo, FrameworkInfo, TaskInfo,
};
use mesos_proto::resources::Resources;

/// The command executor's file name in `--launcher_dir`.
pub const MESOS_EXECUTOR: &str = "mesos-executor";
/// `DEFAULT_EXECUTOR_CPUS`, `DEFAULT_EXECUTOR_MEM`.
pub const EXECUTOR_OVERHEAD: &str = "cpus:0.1;mem:32";
/// `process::MAX_REAP_INTERVAL()`.
const MAX_REAP_INTERVAL: Duration = Duration::from_secs(1);

/// `Command Executor (Task: <id>) (Command: sh -c '<first 12 chars>...')`.
pub fn command_executor_name(task: &TaskInfo) -> String {
    let id = &task.task_id.value;
    let command = task.command.clone().unwrap_or_default();
    let described = if command.shell.unwrap_or(true) {
        match &command.value {
            None => "(Command: NO COMMAND)".to_string(),
            Some(v) => format!("(Command: sh -c '{}')", abbreviate(v, "...")),
        }
    } else {
        match &command.value {
            None => "(Command: NO EXECUTABLE)".to_string(),
            Some(v) => {
                let args = format!("{v}, {}", command.arguments.join(", "));
                format!("(Command: [{}])", abbreviate(&args, "..."))
            }
        }
    };
    format!("Command Executor (Task: {id}) {described}")
}

/// Longer than 15 bytes: the first 12 plus `suffix` (on a char boundary).
fn abbreviate(text: &str, suffix: &str) -> String {
    if text.len() > 15 {
        let mut end = 12;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}{suffix}", &text[..end])
    } else {
        text.to_string()
    }
}

/// The task's executor, or the command executor for a command task.
#[allow(deprecated)] // `ExecutorInfo.source` is deprecated but upstream still fills it.
pub fn executor_info_for(
    framework: &FrameworkInfo,
    task: &TaskInfo,
    launcher_dir: &Path,
) -> ExecutorInfo {
    if let Some(executor) = &task.executor {
        return executor.clone();
    }
    let command = task.command.clone().unwrap_or_default();
    let mut executor = ExecutorInfo {
        executor_id: ExecutorId {
            value: task.task_id.value.clone(),
        },
        framework_id: framework.id.clone(),
        container: task.container.clone(),
        name: Some(command_executor_name(task)),
        source: Some(task.task_id.value.clone()),
        labels: task.labels.clone(),
        discovery: task.discovery.clone(),
        ..Default::default()
    };

    let mut executor_command = CommandInfo {
        uris: command.uris.clone(),
        environment: command.environment.clone(),
        user: command.user.clone(),
        ..Default::default()
    };
    let path = launcher_dir.join(MESOS_EXECUTOR);
    match std::fs::canonicalize(&path) {
        Ok(real) => {
            executor_command.shell = Some(false);
            executor_command.value = Some(real.display().to_string());
            executor_command.arguments = vec![
                MESOS_EXECUTOR.to_string(),
                format!("--launcher_dir={}", launcher_dir.display()),
            ];
        }
        Err(e) => {
            // Like upstream: the executor then fails visibly in its sandbox.
            executor_command.shell = Some(true);
            executor_command.value = Some(format!("echo '{}: {e}'; exit 1", path.display()));
        }
    }
    executor.command = Some(executor_command);

    if let Some(grace) = task
        .kill_policy
        .as_ref()
        .and_then(|k| k.grace_period.as_ref())
    {
        let nanos = grace.nanoseconds.max(0) as u128
            + MAX_REAP_INTERVAL.as_nanos()
            + Duration::from_secs(1).as_nanos();
        executor.shutdown_grace_period = Some(DurationInfo {
            nanoseconds: i64::try_from(nanos).unwrap_or(i64::MAX),
        });
    }

    // The executor's own allowance, in the task's role.
    let mut overhead = Resources::parse(EXECUTOR_OVERHEAD, "*").unwrap_or_default();
    let role = task
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()));
    if let Some(role) = role {
        overhead.allocate(&role);
    }
    executor.resources = overhead.to_v0();
    executor
}

/// Whether `executor` runs `<launcher_dir>/mesos-executor` (upstream
/// `isGeneratedForCommandTask`).
pub fn is_command_executor(executor: &ExecutorInfo, launcher_dir: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(launcher_dir.join(MESOS_EXECUTOR)) else {
        return false;
    };
    executor
        .command
        .as_ref()
        .and_then(|c| c.value.as_deref())
        .is_some_and(|v| v.contains(&*real.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::{FrameworkId, KillPolicy, TaskId};

    fn task(value: &str) -> TaskInfo {
        TaskInfo {
            name: "t".into(),
            task_id: TaskId {
                value: "task-1".into(),
            },
            command: Some(CommandInfo {
                value: Some(value.into()),
                ..Default::default()
            }),
            resources: {
                let mut r = Resources::parse("cpus:1;mem:128", "*").unwrap();
                r.allocate("web");
                r.to_v0()
            },
            ..Default::default()
        }
    }

    fn framework() -> FrameworkInfo {
        FrameworkInfo {
            id: Some(FrameworkId { value: "F".into() }),
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_upstream() {
        assert_eq!(
            command_executor_name(&task("sleep 1000 && echo done")),
            "Command Executor (Task: task-1) (Command: sh -c 'sleep 1000 &...')"
        );
        assert_eq!(
            command_executor_name(&task("sleep 10")),
            "Command Executor (Task: task-1) (Command: sh -c 'sleep 10')"
        );
        let mut argv = task("/bin/echo");
        let command = argv.command.as_mut().unwrap();
        command.shell = Some(false);
        command.arguments = vec!["echo".into(), "hello".into()];
        assert_eq!(
            command_executor_name(&argv),
            "Command Executor (Task: task-1) (Command: [/bin/echo, e...])"
        );
        let mut none = task("x");
        none.command.as_mut().unwrap().value = None;
        assert_eq!(
            command_executor_name(&none),
            "Command Executor (Task: task-1) (Command: NO COMMAND)"
        );
    }

    #[test]
    #[allow(deprecated)]
    fn command_executor_runs_mesos_executor() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MESOS_EXECUTOR), "").unwrap();
        let mut t = task("sleep 10");
        t.kill_policy = Some(KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: 3_000_000_000,
            }),
        });
        let e = executor_info_for(&framework(), &t, dir.path());
        assert_eq!(e.executor_id.value, "task-1");
        assert_eq!(e.source.as_deref(), Some("task-1"));
        assert_eq!(e.framework_id.as_ref().unwrap().value, "F");
        let command = e.command.as_ref().unwrap();
        assert_eq!(command.shell, Some(false));
        let real = dir.path().canonicalize().unwrap().join(MESOS_EXECUTOR);
        assert_eq!(command.value.as_deref(), Some(real.to_str().unwrap()));
        assert_eq!(
            command.arguments,
            vec![
                "mesos-executor".to_string(),
                format!("--launcher_dir={}", dir.path().display())
            ]
        );
        assert_eq!(e.shutdown_grace_period.unwrap().nanoseconds, 5_000_000_000);
        let r = Resources::from_v0(&e.resources);
        assert_eq!(r.scalar("cpus"), 0.1);
        assert_eq!(r.scalar("mem"), 32.0);
        assert!(e
            .resources
            .iter()
            .all(|r| r.allocation_info.as_ref().unwrap().role.as_deref() == Some("web")));
        assert!(is_command_executor(&e, dir.path()));
    }

    #[test]
    fn missing_mesos_executor_fails_visibly() {
        let dir = tempfile::tempdir().unwrap();
        let e = executor_info_for(&framework(), &task("sleep 10"), dir.path());
        let command = e.command.unwrap();
        assert_eq!(command.shell, Some(true));
        assert!(command.value.unwrap().contains("exit 1"));
    }

    #[test]
    fn custom_executors_are_used_as_given() {
        let mut t = task("x");
        t.command = None;
        t.executor = Some(ExecutorInfo {
            executor_id: ExecutorId {
                value: "custom".into(),
            },
            ..Default::default()
        });
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            executor_info_for(&framework(), &t, dir.path())
                .executor_id
                .value,
            "custom"
        );
    }
}
