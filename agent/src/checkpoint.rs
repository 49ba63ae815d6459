//! Crash-safe files under `<work_dir>/meta` (upstream `slave/state.hpp`
//! `checkpoint` and stout `protobuf::write`/`read`).
//!
//! Owns the byte-level formats only: whole files are replaced atomically
//! (write a temporary file beside the target, fsync it, rename it over the
//! target, fsync the directory), so a crash leaves either the old or the
//! new content, never a mix. Protobuf records are length-prefixed (a
//! native-endian `u32` size, then the message), which is what upstream's
//! agent writes, so either agent can read the other's checkpoint. Append
//! files (`task.updates`) are fsynced after every record; a torn last
//! record from a crash is dropped and cut off when read.
//!
//! [`Checkpointer`] maps the agent's records onto that layout. It never
//! decides what to checkpoint or when.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use mesos_proto::mesos::internal::{status_update_record, StatusUpdate, StatusUpdateRecord};
use mesos_proto::mesos::{ExecutorInfo, FrameworkInfo, SlaveInfo, Task};
use prost::Message;

use crate::error::AgentError;
use crate::paths::{self, RunIds};

/// Upper bound for one record: a corrupt length must not make us allocate
/// gigabytes.
pub const MAX_RECORD_SIZE: usize = 64 * 1024 * 1024;

/// Replaces `path` with `data` atomically, creating parent directories.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), AgentError> {
    let dir = path
        .parent()
        .ok_or_else(|| AgentError::io("Checkpoint path has no parent", path, not_found()))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| AgentError::io("Failed to create checkpoint directory", dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        // The target is untouched; the temporary file is only garbage.
        let _ = std::fs::remove_file(&temp);
        AgentError::io("Failed to checkpoint", path, e)
    })
}

/// Checkpoints one protobuf message as a single length-prefixed record.
pub fn write_message<M: Message>(path: &Path, message: &M) -> Result<(), AgentError> {
    write_atomic(path, &encode_record(message))
}

/// Checkpoints a text value (pids, UPIDs).
pub fn write_text(path: &Path, text: &str) -> Result<(), AgentError> {
    write_atomic(path, text.as_bytes())
}

/// Appends one record and fsyncs it.
pub fn append_message<M: Message>(path: &Path, message: &M) -> Result<(), AgentError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| AgentError::io("Failed to create checkpoint directory", dir, e))?;
    }
    let result = (|| {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        file.write_all(&encode_record(message))?;
        file.sync_data()
    })();
    result.map_err(|e| AgentError::io("Failed to append checkpoint record", path, e))
}

/// One record as the checkpoint files hold it: a native-endian `u32`
/// length, then the message.
pub fn encode_record<M: Message>(message: &M) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_ne_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads a single-record file; `Ok(None)` when it does not exist.
pub fn read_message<M: Message + Default>(path: &Path) -> Result<Option<M>, AgentError> {
    let Some(data) = read_bytes(path)? else {
        return Ok(None);
    };
    let (records, complete) = split_records(&data);
    match records.first() {
        Some(body) if complete == data.len() && records.len() == 1 => M::decode(*body)
            .map(Some)
            .map_err(|e| AgentError::io("Failed to decode checkpoint", path, invalid(e))),
        _ => Err(AgentError::io(
            "Checkpoint is not one complete record",
            path,
            invalid("truncated or trailing data"),
        )),
    }
}

/// Reads every record of an append file. A torn trailing record (a crash
/// during an append) is dropped and cut off the file, so later appends
/// follow the last complete record.
pub fn read_messages<M: Message + Default>(path: &Path) -> Result<Vec<M>, AgentError> {
    let Some(data) = read_bytes(path)? else {
        return Ok(Vec::new());
    };
    let (records, complete) = split_records(&data);
    let mut out = Vec::with_capacity(records.len());
    for body in records {
        out.push(
            M::decode(body).map_err(|e| {
                AgentError::io("Failed to decode checkpoint record", path, invalid(e))
            })?,
        );
    }
    if complete < data.len() {
        tracing::warn!(
            "Dropping a partial record at the end of '{}' ({} bytes)",
            path.display(),
            data.len() - complete
        );
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| {
                f.set_len(complete as u64)?;
                f.sync_all()
            })
            .map_err(|e| AgentError::io("Failed to truncate a partial record", path, e))?;
    }
    Ok(out)
}

/// Reads a text file, trimmed; `Ok(None)` when it does not exist.
pub fn read_text(path: &Path) -> Result<Option<String>, AgentError> {
    Ok(read_bytes(path)?.map(|b| String::from_utf8_lossy(&b).trim().to_string()))
}

fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>, AgentError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AgentError::io("Failed to open checkpoint", path, e)),
    };
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| AgentError::io("Failed to read checkpoint", path, e))?;
    Ok(Some(data))
}

/// The complete records in `data` and the length they cover.
fn split_records(data: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while data.len() - at >= 4 {
        let mut size = [0u8; 4];
        size.copy_from_slice(&data[at..at + 4]);
        let size = u32::from_ne_bytes(size) as usize;
        if size > MAX_RECORD_SIZE || data.len() - at - 4 < size {
            break;
        }
        records.push(&data[at + 4..at + 4 + size]);
        at += 4 + size;
    }
    (records, at)
}

fn not_found() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::NotFound)
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

/// Writes the agent's durable records in upstream's layout. Every method
/// returns the failed write as an error: the caller must not act on a
/// change it could not make durable.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    work_dir: PathBuf,
}

impl Checkpointer {
    pub fn new(work_dir: PathBuf) -> Self {
        Checkpointer { work_dir }
    }

    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// `slave.info`, the boot id, then `slaves/latest` (last, so a crash in
    /// between leaves the previous agent or none, never a half-written one).
    pub fn agent(&self, info: &SlaveInfo) -> Result<(), AgentError> {
        let id = info
            .id
            .as_ref()
            .map(|i| i.value.as_str())
            .unwrap_or_default();
        paths::check_id("Agent", id)?;
        write_message(&paths::slave_info_path(&self.work_dir, id), info)?;
        if let Some(boot) = crate::recovery::current_boot_id() {
            write_text(&paths::boot_id_path(&self.work_dir), &boot)?;
        }
        paths::replace_symlink(
            &paths::slave_meta_path(&self.work_dir, id),
            &paths::latest_slave_path(&self.work_dir),
        )
    }

    pub fn framework(
        &self,
        slave_id: &str,
        info: &FrameworkInfo,
        pid: Option<&str>,
    ) -> Result<(), AgentError> {
        let id = info
            .id
            .as_ref()
            .map(|i| i.value.as_str())
            .unwrap_or_default();
        paths::check_id("Framework", id)?;
        write_message(
            &paths::framework_info_path(&self.work_dir, slave_id, id),
            info,
        )?;
        write_text(
            &paths::framework_pid_path(&self.work_dir, slave_id, id),
            pid.unwrap_or(""),
        )
    }

    /// `executor.info` and a new run as `runs/latest`.
    pub fn executor(
        &self,
        slave_id: &str,
        framework_id: &str,
        info: &ExecutorInfo,
        container_id: &str,
    ) -> Result<(), AgentError> {
        let executor_id = info.executor_id.value.as_str();
        write_message(
            &paths::executor_info_path(&self.work_dir, slave_id, framework_id, executor_id),
            info,
        )?;
        let run = paths::run_meta_path(
            &self.work_dir,
            slave_id,
            framework_id,
            executor_id,
            container_id,
        );
        std::fs::create_dir_all(&run)
            .map_err(|e| AgentError::io("Failed to create run checkpoint directory", &run, e))?;
        let latest = paths::executor_meta_path(&self.work_dir, slave_id, framework_id, executor_id)
            .join("runs")
            .join("latest");
        paths::replace_symlink(&run, &latest)
    }

    pub fn forked_pid(&self, ids: &RunIds<'_>, pid: i32) -> Result<(), AgentError> {
        write_text(&ids.forked_pid(&self.work_dir), &pid.to_string())
    }

    /// Where the containerizer writes an executor's pid before the executor
    /// may run.
    pub fn forked_pid_path(&self, ids: &RunIds<'_>) -> PathBuf {
        ids.forked_pid(&self.work_dir)
    }

    pub fn libprocess_pid(&self, ids: &RunIds<'_>, pid: &str) -> Result<(), AgentError> {
        write_text(&ids.libprocess_pid(&self.work_dir), pid)
    }

    pub fn http_marker(&self, ids: &RunIds<'_>) -> Result<(), AgentError> {
        write_text(&ids.http_marker(&self.work_dir), "")
    }

    pub fn task(&self, ids: &RunIds<'_>, task: &Task) -> Result<(), AgentError> {
        write_message(&ids.task_info(&self.work_dir, &task.task_id.value), task)
    }

    pub fn update(
        &self,
        ids: &RunIds<'_>,
        task_id: &str,
        update: &StatusUpdate,
    ) -> Result<(), AgentError> {
        let record = StatusUpdateRecord {
            r#type: status_update_record::Type::Update as i32,
            update: Some(update.clone()),
            uuid: None,
        };
        append_message(&ids.task_updates(&self.work_dir, task_id), &record)
    }

    pub fn ack(&self, ids: &RunIds<'_>, task_id: &str, uuid: &[u8]) -> Result<(), AgentError> {
        let record = StatusUpdateRecord {
            r#type: status_update_record::Type::Ack as i32,
            update: None,
            uuid: Some(uuid.to_vec()),
        };
        append_message(&ids.task_updates(&self.work_dir, task_id), &record)
    }

    /// The run is over and fully reported; recovery skips it from now on.
    pub fn completed(&self, ids: &RunIds<'_>) -> Result<(), AgentError> {
        write_text(
            &ids.meta(&self.work_dir).join(crate::recovery::SENTINEL),
            "",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::SlaveId;

    fn info(host: &str) -> SlaveInfo {
        SlaveInfo {
            hostname: host.into(),
            id: Some(SlaveId { value: "S1".into() }),
            ..Default::default()
        }
    }

    #[test]
    fn message_round_trip_uses_length_prefixed_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/slave.info");
        write_message(&path, &info("h1")).unwrap();
        let raw = std::fs::read(&path).unwrap();
        let body = info("h1").encode_to_vec();
        assert_eq!(&raw[..4], &(body.len() as u32).to_ne_bytes());
        assert_eq!(&raw[4..], &body[..]);
        assert_eq!(read_message::<SlaveInfo>(&path).unwrap(), Some(info("h1")));
        assert_eq!(
            read_message::<SlaveInfo>(&dir.path().join("missing")).unwrap(),
            None
        );
    }

    #[test]
    fn a_crash_before_the_rename_leaves_the_old_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slave.info");
        write_message(&path, &info("old")).unwrap();
        // What a crash between writing the temporary file and the rename
        // leaves behind: a stray temporary with (part of) the new content.
        let temp = dir.path().join(format!(".slave.info.tmp.{}", 4242));
        std::fs::write(&temp, &encode_record(&info("new"))[..7]).unwrap();
        assert_eq!(read_message::<SlaveInfo>(&path).unwrap(), Some(info("old")));
        // The next write replaces the target completely.
        write_message(&path, &info("new")).unwrap();
        assert_eq!(read_message::<SlaveInfo>(&path).unwrap(), Some(info("new")));
    }

    #[test]
    fn a_torn_single_record_is_an_error_not_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slave.info");
        std::fs::write(&path, &encode_record(&info("h"))[..5]).unwrap();
        assert!(read_message::<SlaveInfo>(&path).is_err());
        // An absurd length is refused without allocating it.
        std::fs::write(&path, u32::MAX.to_ne_bytes()).unwrap();
        assert!(read_message::<SlaveInfo>(&path).is_err());
    }

    #[test]
    fn appended_records_survive_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("task.updates");
        append_message(&path, &info("1")).unwrap();
        append_message(&path, &info("2")).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&encode_record(&info("3"))[..6]).unwrap();
        drop(f);
        let read: Vec<SlaveInfo> = read_messages(&path).unwrap();
        assert_eq!(read, vec![info("1"), info("2")]);
        // The tail was cut, so a new append is readable after the others.
        append_message(&path, &info("4")).unwrap();
        let read: Vec<SlaveInfo> = read_messages(&path).unwrap();
        assert_eq!(read, vec![info("1"), info("2"), info("4")]);
    }

    #[test]
    fn text_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pids/forked.pid");
        write_text(&path, "1234").unwrap();
        assert_eq!(read_text(&path).unwrap().as_deref(), Some("1234"));
    }
}
