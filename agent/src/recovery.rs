//! Reading the checkpoint back after a restart (upstream `slave/state.cpp`):
//! agent → frameworks → executors → runs → tasks, from the layout in
//! [`crate::paths`], into plain durable records.
//!
//! Owns interpretation of what is on disk: what a missing file means (the
//! agent died before writing it, so the entity is skipped), which run is
//! the latest, which updates are acknowledged. With `strict` a file that
//! cannot be read fails recovery; without it the entity is skipped and
//! counted in `errors`. It never touches processes or agent bookkeeping;
//! the actor decides what to do with what was found.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use mesos_proto::mesos::internal::{status_update_record, StatusUpdate, StatusUpdateRecord};
use mesos_proto::mesos::{ExecutorInfo, FrameworkInfo, SlaveInfo, Task};

use crate::checkpoint;
use crate::error::AgentError;
use crate::paths::{self, RunIds};

/// What a previous run of this agent left under `<work_dir>/meta`.
#[derive(Debug, Default)]
pub struct RecoveredAgent {
    pub id: String,
    pub info: SlaveInfo,
    /// True when the host rebooted since the checkpoint (`boot_id` changed):
    /// no executor can have survived.
    pub rebooted: bool,
    pub frameworks: BTreeMap<String, RecoveredFramework>,
    /// The drain the previous run had not finished.
    pub drain_config: Option<mesos_proto::mesos::DrainConfig>,
    /// Entities skipped because their files could not be read (non-strict).
    pub errors: usize,
}

#[derive(Debug)]
pub struct RecoveredFramework {
    pub id: String,
    pub info: FrameworkInfo,
    pub pid: Option<String>,
    pub executors: BTreeMap<String, RecoveredExecutor>,
}

#[derive(Debug)]
pub struct RecoveredExecutor {
    pub id: String,
    pub info: ExecutorInfo,
    /// The latest run, unless it already completed.
    pub run: Option<RecoveredRun>,
}

#[derive(Debug, Default)]
pub struct RecoveredRun {
    pub container_id: String,
    /// `None`: the agent died before the executor was forked.
    pub forked_pid: Option<i32>,
    /// A v0 executor's libprocess pid, once it registered.
    pub libprocess_pid: Option<String>,
    /// The executor speaks the v1 HTTP API.
    pub http: bool,
    pub tasks: BTreeMap<String, RecoveredTask>,
}

#[derive(Debug)]
pub struct RecoveredTask {
    pub info: Task,
    /// Every update received, in order.
    pub updates: Vec<StatusUpdate>,
    /// Uuids of the acknowledged ones.
    pub acks: HashSet<Vec<u8>>,
}

impl RecoveredTask {
    /// Updates not acknowledged yet, in order: the ones to forward again.
    pub fn unacknowledged(&self) -> Vec<StatusUpdate> {
        self.updates
            .iter()
            .filter(|u| !u.uuid.as_ref().is_some_and(|id| self.acks.contains(id)))
            .cloned()
            .collect()
    }
}

/// This boot's id, from the kernel.
pub fn current_boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Reads the checkpoint; `Ok(None)` when there is none (first start, or
/// `meta/slaves/latest` was removed to start as a new agent).
pub fn recover(work_dir: &Path, strict: bool) -> Result<Option<RecoveredAgent>, AgentError> {
    let latest = paths::latest_slave_path(work_dir);
    let target = match std::fs::read_link(&latest) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(AgentError::io(
                "Failed to read the latest agent link",
                latest,
                e,
            ))
        }
    };
    let Some(id) = target
        .file_name()
        .and_then(|n| n.to_str())
        .map(String::from)
    else {
        return Err(AgentError::io(
            "The latest agent link has no agent id",
            latest,
            std::io::Error::from(std::io::ErrorKind::InvalidData),
        ));
    };
    let Some(info) = checkpoint::read_message::<SlaveInfo>(&paths::slave_info_path(work_dir, &id))?
    else {
        // Died between linking and writing slave.info is impossible (the
        // info is written first); no info means no usable agent.
        return Ok(None);
    };
    let previous_boot = checkpoint::read_text(&paths::boot_id_path(work_dir))?;
    let rebooted = match (previous_boot, current_boot_id()) {
        (Some(old), Some(now)) => old != now,
        _ => false,
    };
    let drain_config = checkpoint::read_message(&paths::drain_config_path(work_dir, &id))?;
    let mut agent = RecoveredAgent {
        id: id.clone(),
        info,
        rebooted,
        drain_config,
        ..Default::default()
    };
    let frameworks_dir = paths::slave_meta_path(work_dir, &id).join("frameworks");
    for framework_id in subdirectories(&frameworks_dir)? {
        match recover_framework(work_dir, &id, &framework_id, strict, &mut agent.errors) {
            Ok(Some(f)) => {
                agent.frameworks.insert(framework_id, f);
            }
            Ok(None) => {}
            Err(e) if strict => return Err(e),
            Err(e) => {
                tracing::warn!("Skipping framework {framework_id}: {e}");
                agent.errors += 1;
            }
        }
    }
    Ok(Some(agent))
}

fn recover_framework(
    work_dir: &Path,
    slave_id: &str,
    framework_id: &str,
    strict: bool,
    errors: &mut usize,
) -> Result<Option<RecoveredFramework>, AgentError> {
    let Some(info) = checkpoint::read_message::<FrameworkInfo>(&paths::framework_info_path(
        work_dir,
        slave_id,
        framework_id,
    ))?
    else {
        tracing::warn!("No framework info for framework {framework_id}; skipping it");
        return Ok(None);
    };
    let pid = checkpoint::read_text(&paths::framework_pid_path(work_dir, slave_id, framework_id))?
        .filter(|p| !p.is_empty());
    let mut framework = RecoveredFramework {
        id: framework_id.to_string(),
        info,
        pid,
        executors: BTreeMap::new(),
    };
    let executors_dir =
        paths::framework_meta_path(work_dir, slave_id, framework_id).join("executors");
    for executor_id in subdirectories(&executors_dir)? {
        match recover_executor(work_dir, slave_id, framework_id, &executor_id) {
            Ok(Some(e)) => {
                framework.executors.insert(executor_id, e);
            }
            Ok(None) => {}
            Err(e) if strict => return Err(e),
            Err(e) => {
                tracing::warn!("Skipping executor '{executor_id}': {e}");
                *errors += 1;
            }
        }
    }
    Ok(Some(framework))
}

fn recover_executor(
    work_dir: &Path,
    slave_id: &str,
    framework_id: &str,
    executor_id: &str,
) -> Result<Option<RecoveredExecutor>, AgentError> {
    let Some(info) = checkpoint::read_message::<ExecutorInfo>(&paths::executor_info_path(
        work_dir,
        slave_id,
        framework_id,
        executor_id,
    ))?
    else {
        tracing::warn!("No executor info for executor '{executor_id}'; skipping it");
        return Ok(None);
    };
    let runs =
        paths::executor_meta_path(work_dir, slave_id, framework_id, executor_id).join("runs");
    let latest = std::fs::read_link(runs.join("latest"))
        .ok()
        .and_then(|t| t.file_name().and_then(|n| n.to_str()).map(String::from));
    let mut run = None;
    if let Some(container_id) = latest {
        let ids = RunIds {
            slave_id,
            framework_id,
            executor_id,
            container_id: &container_id,
        };
        if !ids.meta(work_dir).join(SENTINEL).exists() {
            run = Some(recover_run(work_dir, &ids)?);
        }
    }
    Ok(Some(RecoveredExecutor {
        id: executor_id.to_string(),
        info,
        run,
    }))
}

/// Marks a run completed: recovery leaves it alone from then on.
pub const SENTINEL: &str = "executor.sentinel";

fn recover_run(work_dir: &Path, ids: &RunIds<'_>) -> Result<RecoveredRun, AgentError> {
    let forked_pid = match checkpoint::read_text(&ids.forked_pid(work_dir))? {
        None => None,
        Some(text) => Some(text.parse::<i32>().map_err(|_| {
            AgentError::io(
                "Invalid forked pid",
                ids.forked_pid(work_dir),
                std::io::Error::from(std::io::ErrorKind::InvalidData),
            )
        })?),
    };
    let mut run = RecoveredRun {
        container_id: ids.container_id.to_string(),
        forked_pid,
        libprocess_pid: checkpoint::read_text(&ids.libprocess_pid(work_dir))?
            .filter(|p| !p.is_empty()),
        http: ids.http_marker(work_dir).exists(),
        tasks: BTreeMap::new(),
    };
    for task_id in subdirectories(&ids.meta(work_dir).join("tasks"))? {
        let Some(info) = checkpoint::read_message::<Task>(&ids.task_info(work_dir, &task_id))?
        else {
            continue;
        };
        let records: Vec<StatusUpdateRecord> =
            checkpoint::read_messages(&ids.task_updates(work_dir, &task_id))?;
        let mut task = RecoveredTask {
            info,
            updates: Vec::new(),
            acks: HashSet::new(),
        };
        for record in records {
            if record.r#type == status_update_record::Type::Ack as i32 {
                if let Some(uuid) = record.uuid {
                    task.acks.insert(uuid);
                }
            } else if let Some(update) = record.update {
                task.updates.push(update);
            }
        }
        run.tasks.insert(task_id, task);
    }
    Ok(run)
}

/// Names of the subdirectories of `dir` (none when it does not exist),
/// skipping the `latest` links.
fn subdirectories(dir: &Path) -> Result<Vec<String>, AgentError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(AgentError::io(
                "Failed to list checkpoint directory",
                dir,
                e,
            ))
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| AgentError::io("Failed to list checkpoint directory", dir, e))?;
        let path: PathBuf = entry.path();
        if path.is_symlink() || !path.is_dir() {
            continue;
        }
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpointer;
    use mesos_proto::mesos::{ExecutorId, FrameworkId, SlaveId, TaskId, TaskState, TaskStatus};

    fn update(task: &str, state: TaskState) -> StatusUpdate {
        StatusUpdate {
            framework_id: FrameworkId { value: "F".into() },
            status: TaskStatus {
                task_id: TaskId { value: task.into() },
                state: state as i32,
                ..Default::default()
            },
            timestamp: 1.0,
            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
            ..Default::default()
        }
    }

    fn task(id: &str) -> Task {
        Task {
            name: id.into(),
            task_id: TaskId { value: id.into() },
            framework_id: FrameworkId { value: "F".into() },
            slave_id: SlaveId { value: "S".into() },
            state: TaskState::TaskStaging as i32,
            ..Default::default()
        }
    }

    #[test]
    fn nothing_checkpointed_means_nothing_recovered() {
        let dir = tempfile::tempdir().unwrap();
        assert!(recover(dir.path(), true).unwrap().is_none());
    }

    #[test]
    fn round_trip_of_agent_framework_executor_run_and_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path();
        let cp = Checkpointer::new(w.to_path_buf());
        let info = SlaveInfo {
            hostname: "h".into(),
            id: Some(SlaveId { value: "S".into() }),
            ..Default::default()
        };
        cp.agent(&info).unwrap();
        let fw = FrameworkInfo {
            id: Some(FrameworkId { value: "F".into() }),
            checkpoint: Some(true),
            ..Default::default()
        };
        cp.framework("S", &fw, Some("scheduler(1)@1.2.3.4:5"))
            .unwrap();
        let exec = ExecutorInfo {
            executor_id: ExecutorId { value: "E".into() },
            ..Default::default()
        };
        cp.executor("S", "F", &exec, "C1").unwrap();
        let ids = RunIds {
            slave_id: "S",
            framework_id: "F",
            executor_id: "E",
            container_id: "C1",
        };
        cp.forked_pid(&ids, 4242).unwrap();
        cp.http_marker(&ids).unwrap();
        cp.task(&ids, &task("t1")).unwrap();
        let running = update("t1", TaskState::TaskRunning);
        let finished = update("t1", TaskState::TaskFinished);
        cp.update(&ids, "t1", &running).unwrap();
        cp.ack(&ids, "t1", running.uuid.as_deref().unwrap())
            .unwrap();
        cp.update(&ids, "t1", &finished).unwrap();

        let agent = recover(w, true).unwrap().unwrap();
        assert_eq!(agent.id, "S");
        assert_eq!(agent.info.hostname, "h");
        assert!(!agent.rebooted);
        let f = &agent.frameworks["F"];
        assert_eq!(f.pid.as_deref(), Some("scheduler(1)@1.2.3.4:5"));
        let run = f.executors["E"].run.as_ref().unwrap();
        assert_eq!(run.container_id, "C1");
        assert_eq!(run.forked_pid, Some(4242));
        assert!(run.http);
        assert_eq!(run.libprocess_pid, None);
        let t = &run.tasks["t1"];
        assert_eq!(t.updates.len(), 2);
        assert_eq!(t.unacknowledged(), vec![finished]);

        // A completed run is not recovered as live.
        cp.completed(&ids).unwrap();
        let agent = recover(w, true).unwrap().unwrap();
        assert!(agent.frameworks["F"].executors["E"].run.is_none());
    }

    #[test]
    fn a_new_run_replaces_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path();
        let cp = Checkpointer::new(w.to_path_buf());
        cp.agent(&SlaveInfo {
            id: Some(SlaveId { value: "S".into() }),
            ..Default::default()
        })
        .unwrap();
        let fw = FrameworkInfo {
            id: Some(FrameworkId { value: "F".into() }),
            ..Default::default()
        };
        cp.framework("S", &fw, None).unwrap();
        let exec = ExecutorInfo {
            executor_id: ExecutorId { value: "E".into() },
            ..Default::default()
        };
        cp.executor("S", "F", &exec, "C1").unwrap();
        cp.executor("S", "F", &exec, "C2").unwrap();
        let agent = recover(w, true).unwrap().unwrap();
        let run = agent.frameworks["F"].executors["E"].run.as_ref().unwrap();
        assert_eq!(run.container_id, "C2");
        assert_eq!(run.forked_pid, None, "died before forking");
    }

    #[test]
    fn strict_fails_on_corrupt_files_and_non_strict_skips_them() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path();
        let cp = Checkpointer::new(w.to_path_buf());
        cp.agent(&SlaveInfo {
            id: Some(SlaveId { value: "S".into() }),
            ..Default::default()
        })
        .unwrap();
        let fw = FrameworkInfo {
            id: Some(FrameworkId { value: "F".into() }),
            ..Default::default()
        };
        cp.framework("S", &fw, None).unwrap();
        std::fs::write(paths::framework_info_path(w, "S", "F"), b"\x05\x00").unwrap();
        assert!(recover(w, true).is_err());
        let agent = recover(w, false).unwrap().unwrap();
        assert!(agent.frameworks.is_empty());
        assert_eq!(agent.errors, 1);
    }
}
