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
