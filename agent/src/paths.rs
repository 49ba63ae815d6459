//! The on-disk sandbox layout under `--work_dir` (upstream `slave/paths.cpp`):
//! `<work_dir>/slaves/<sid>/frameworks/<fid>/executors/<eid>/runs/<cid>`,
//! with a `runs/latest` symlink to the newest run.
//!
//! Owns path construction and directory creation only. Ids come from the
//! master; they are checked so that no id can escape the work directory.

use std::path::{Path, PathBuf};

use crate::error::AgentError;

/// Refuses ids that would change the directory structure.
pub fn check_id(kind: &str, id: &str) -> Result<(), AgentError> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        return Err(AgentError::Launch(format!(
            "{kind} ID '{id}' cannot be used as a directory name"
        )));
    }
    Ok(())
}

pub fn slave_path(work_dir: &Path, slave_id: &str) -> PathBuf {
    work_dir.join("slaves").join(slave_id)
}

pub fn framework_path(work_dir: &Path, slave_id: &str, framework_id: &str) -> PathBuf {
    slave_path(work_dir, slave_id)
        .join("frameworks")
        .join(framework_id)
}

pub fn executor_path(
    work_dir: &Path,
    slave_id: &str,
    framework_id: &str,
    executor_id: &str,
) -> PathBuf {
    framework_path(work_dir, slave_id, framework_id)
        .join("executors")
        .join(executor_id)
}

pub fn executor_run_path(
    work_dir: &Path,
    slave_id: &str,
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> PathBuf {
    executor_path(work_dir, slave_id, framework_id, executor_id)
        .join("runs")
        .join(container_id)
}

pub fn executor_latest_run_path(
    work_dir: &Path,
    slave_id: &str,
    framework_id: &str,
    executor_id: &str,
) -> PathBuf {
    executor_path(work_dir, slave_id, framework_id, executor_id)
        .join("runs")
        .join("latest")
}

/// The `/files` path that hides the work directory and agent id.
pub fn executor_virtual_path(framework_id: &str, executor_id: &str) -> String {
    format!("/frameworks/{framework_id}/executors/{executor_id}/runs/latest")
}

/// Creates the run directory and points `runs/latest` at it.
pub fn create_executor_directory(
    work_dir: &Path,
    slave_id: &str,
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> Result<PathBuf, AgentError> {
    check_id("Agent", slave_id)?;
    check_id("Framework", framework_id)?;
    check_id("Executor", executor_id)?;
    check_id("Container", container_id)?;

    let run = executor_run_path(work_dir, slave_id, framework_id, executor_id, container_id);
    std::fs::create_dir_all(&run)
        .map_err(|e| AgentError::io("Failed to create executor directory", &run, e))?;

    let latest = executor_latest_run_path(work_dir, slave_id, framework_id, executor_id);
    // Replace any previous run's link; a dangling or missing one is fine.
    match std::fs::remove_file(&latest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(AgentError::io(
                "Failed to remove the 'latest' symlink",
                &latest,
                e,
            ))
        }
    }
    std::os::unix::fs::symlink(&run, &latest)
        .map_err(|e| AgentError::io("Failed to symlink the 'latest' run directory", &latest, e))?;
    Ok(run)
}

// ---------------------------------------------------------------------------
// Checkpoint layout (upstream `paths.hpp`), under `<work_dir>/meta`:
// slaves/latest -> slaves/<sid>; slaves/<sid>/slave.info;
// .../frameworks/<fid>/{framework.info,framework.pid};
// .../executors/<eid>/executor.info; .../executors/<eid>/runs/latest;
// .../runs/<cid>/{pids/forked.pid,pids/libprocess.pid,http.marker};
// .../runs/<cid>/tasks/<tid>/{task.info,task.updates}.
// ---------------------------------------------------------------------------

pub fn meta_root(work_dir: &Path) -> PathBuf {
    work_dir.join("meta")
}

pub fn boot_id_path(work_dir: &Path) -> PathBuf {
    meta_root(work_dir).join("boot_id")
}

pub fn latest_slave_path(work_dir: &Path) -> PathBuf {
    meta_root(work_dir).join("slaves").join("latest")
}

pub fn slave_meta_path(work_dir: &Path, slave_id: &str) -> PathBuf {
    meta_root(work_dir).join("slaves").join(slave_id)
}

pub fn slave_info_path(work_dir: &Path, slave_id: &str) -> PathBuf {
    slave_meta_path(work_dir, slave_id).join("slave.info")
}

/// The drain config of a draining agent (upstream `drain.config`).
pub fn drain_config_path(work_dir: &Path, slave_id: &str) -> PathBuf {
    slave_meta_path(work_dir, slave_id).join("drain.config")
}

pub fn framework_meta_path(work_dir: &Path, slave_id: &str, framework_id: &str) -> PathBuf {
    slave_meta_path(work_dir, slave_id)
        .join("frameworks")
        .join(framework_id)
}

pub fn framework_info_path(work_dir: &Path, slave_id: &str, framework_id: &str) -> PathBuf {
    framework_meta_path(work_dir, slave_id, framework_id).join("framework.info")
}

pub fn framework_pid_path(work_dir: &Path, slave_id: &str, framework_id: &str) -> PathBuf {
    framework_meta_path(work_dir, slave_id, framework_id).join("framework.pid")
}

pub fn executor_meta_path(
    work_dir: &Path,
    slave_id: &str,
    framework_id: &str,
    executor_id: &str,
) -> PathBuf {
    framework_meta_path(work_dir, slave_id, framework_id)
        .join("executors")
        .join(executor_id)
}

pub fn executor_info_path(
    work_dir: &Path,
    slave_id: &str,
    framework_id: &str,
    executor_id: &str,
) -> PathBuf {
    executor_meta_path(work_dir, slave_id, framework_id, executor_id).join("executor.info")
}

pub fn run_meta_path(
    work_dir: &Path,
    slave_id: &str,
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> PathBuf {
    executor_meta_path(work_dir, slave_id, framework_id, executor_id)
        .join("runs")
        .join(container_id)
}

/// The ids of one executor run, for the per-run checkpoint paths.
#[derive(Debug, Clone, Copy)]
pub struct RunIds<'a> {
    pub slave_id: &'a str,
    pub framework_id: &'a str,
    pub executor_id: &'a str,
    pub container_id: &'a str,
}

impl RunIds<'_> {
    pub fn meta(&self, work_dir: &Path) -> PathBuf {
        run_meta_path(
            work_dir,
            self.slave_id,
            self.framework_id,
            self.executor_id,
            self.container_id,
        )
    }

    pub fn forked_pid(&self, work_dir: &Path) -> PathBuf {
        self.meta(work_dir).join("pids").join("forked.pid")
    }

    pub fn libprocess_pid(&self, work_dir: &Path) -> PathBuf {
        self.meta(work_dir).join("pids").join("libprocess.pid")
    }

    pub fn http_marker(&self, work_dir: &Path) -> PathBuf {
        self.meta(work_dir).join("http.marker")
    }

    pub fn task_meta(&self, work_dir: &Path, task_id: &str) -> PathBuf {
        self.meta(work_dir).join("tasks").join(task_id)
    }

    pub fn task_info(&self, work_dir: &Path, task_id: &str) -> PathBuf {
        self.task_meta(work_dir, task_id).join("task.info")
    }

    pub fn task_updates(&self, work_dir: &Path, task_id: &str) -> PathBuf {
        self.task_meta(work_dir, task_id).join("task.updates")
    }
}

/// Points `link` at `target`, replacing any previous link atomically
/// (a new link under a temporary name, renamed over the old one).
pub fn replace_symlink(target: &Path, link: &Path) -> Result<(), AgentError> {
    let dir = link
        .parent()
        .ok_or_else(|| AgentError::Launch(format!("'{}' has no parent", link.display())))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| AgentError::io("Failed to create directory", dir, e))?;
    let temp = dir.join(format!(".latest.tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp)
        .map_err(|e| AgentError::io("Failed to create symlink", &temp, e))?;
    std::fs::rename(&temp, link).map_err(|e| AgentError::io("Failed to replace symlink", link, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_upstream() {
        let w = Path::new("/var/lib/mesos");
        assert_eq!(
            executor_run_path(w, "S1", "F1", "E1", "C1"),
            Path::new("/var/lib/mesos/slaves/S1/frameworks/F1/executors/E1/runs/C1")
        );
        assert_eq!(
            executor_latest_run_path(w, "S1", "F1", "E1"),
            Path::new("/var/lib/mesos/slaves/S1/frameworks/F1/executors/E1/runs/latest")
        );
        assert_eq!(
            executor_virtual_path("F1", "E1"),
            "/frameworks/F1/executors/E1/runs/latest"
        );
    }

    #[test]
    fn meta_layout_matches_upstream() {
        let w = Path::new("/w");
        assert_eq!(latest_slave_path(w), Path::new("/w/meta/slaves/latest"));
        assert_eq!(
            slave_info_path(w, "S1"),
            Path::new("/w/meta/slaves/S1/slave.info")
        );
        assert_eq!(
            framework_pid_path(w, "S1", "F1"),
            Path::new("/w/meta/slaves/S1/frameworks/F1/framework.pid")
        );
        assert_eq!(
            executor_info_path(w, "S1", "F1", "E1"),
            Path::new("/w/meta/slaves/S1/frameworks/F1/executors/E1/executor.info")
        );
        let run = RunIds {
            slave_id: "S1",
            framework_id: "F1",
            executor_id: "E1",
            container_id: "C1",
        };
        let base = "/w/meta/slaves/S1/frameworks/F1/executors/E1/runs/C1";
        assert_eq!(
            run.forked_pid(w),
            Path::new(&format!("{base}/pids/forked.pid"))
        );
        assert_eq!(
            run.libprocess_pid(w),
            Path::new(&format!("{base}/pids/libprocess.pid"))
        );
        assert_eq!(
            run.http_marker(w),
            Path::new(&format!("{base}/http.marker"))
        );
        assert_eq!(
            run.task_updates(w, "T1"),
            Path::new(&format!("{base}/tasks/T1/task.updates"))
        );
        assert_eq!(
            run.task_info(w, "T1"),
            Path::new(&format!("{base}/tasks/T1/task.info"))
        );
    }

    #[test]
    fn replace_symlink_swaps_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("slaves/latest");
        replace_symlink(Path::new("a"), &link).unwrap();
        replace_symlink(Path::new("b"), &link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("b"));
    }

    #[test]
    fn creates_run_dir_and_latest_link() {
        let dir = tempfile::tempdir().unwrap();
        let first = create_executor_directory(dir.path(), "S", "F", "E", "c1").unwrap();
        assert!(first.is_dir());
        let latest = executor_latest_run_path(dir.path(), "S", "F", "E");
        assert_eq!(std::fs::read_link(&latest).unwrap(), first);
        let second = create_executor_directory(dir.path(), "S", "F", "E", "c2").unwrap();
        assert_eq!(std::fs::read_link(&latest).unwrap(), second);
    }

    #[test]
    fn refuses_escaping_ids() {
        let dir = tempfile::tempdir().unwrap();
        assert!(create_executor_directory(dir.path(), "S", "F", "..", "c").is_err());
        assert!(create_executor_directory(dir.path(), "S", "F/x", "E", "c").is_err());
        assert!(create_executor_directory(dir.path(), "S", "F", "E", "").is_err());
    }
}
