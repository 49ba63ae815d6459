//! Checkpointed resources: dynamic reservations and persistent volumes the
//! master applied to this agent (upstream `Slave::checkpointResources` and
//! `syncCheckpointedResources`).
//!
//! Owns `meta/resources/resources.info` and the volume directories under
//! `<work_dir>/volumes/roles/<role>/<id>`. The new set is written durably
//! before anything acts on it: a restart finds exactly what the master was
//! told, and the agent's total, re-registration and task sandboxes follow
//! from it. It never decides what is reserved; the master does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use libprocess::Upid;
use mesos_proto::mesos::internal as msgs;
use mesos_proto::mesos::v1::Resource;
use mesos_proto::resources::{
    is_dynamically_reserved, is_persistent_volume, reservation_role, Resources,
};

use super::Agent;
use crate::checkpoint;
use crate::error::AgentError;

/// `<work_dir>/meta/resources/resources.info`.
pub fn resources_info_path(work_dir: &Path) -> PathBuf {
    crate::paths::meta_root(work_dir)
        .join("resources")
        .join("resources.info")
}

/// Where a persistent volume lives. A `/` in a hierarchical role would
/// make a nested directory that another role's volume could shadow, so it
/// is written as a space (a character no role may contain).
pub fn volume_path(work_dir: &Path, role: &str, id: &str) -> PathBuf {
    work_dir
        .join("volumes")
        .join("roles")
        .join(role.replace('/', " "))
        .join(id)
}

fn needs_checkpointing(resource: &Resource) -> bool {
    is_dynamically_reserved(resource) || is_persistent_volume(resource)
}

/// The role and id of a persistent volume; `None` for other resources
/// and for ids that would escape the volumes directory.
fn volume_key(resource: &Resource) -> Option<(String, String)> {
    let id = resource.disk.as_ref()?.persistence.as_ref()?.id.clone();
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        return None;
    }
    let role = reservation_role(resource)?.to_string();
    if role.contains("..") || role.contains('\0') {
        return None;
    }
    Some((role, id))
}

/// The checkpointed set as a file: one length-prefixed record per
/// resource, as upstream writes a repeated message.
fn encode(resources: &Resources) -> Vec<u8> {
    let mut out = Vec::new();
    for resource in resources.to_v0() {
        out.extend_from_slice(&checkpoint::encode_record(&resource));
    }
    out
}

/// Reads the checkpointed resources of a previous run (empty if none).
pub fn read_checkpointed(work_dir: &Path) -> Result<Resources, AgentError> {
    let path = resources_info_path(work_dir);
    let records: Vec<mesos_proto::mesos::Resource> = checkpoint::read_messages(&path)?;
    Ok(Resources::from_v0(&records))
}

/// What checkpointed resources were made from: unreserved, and volumes
/// back to plain disk.
fn unreserved_form(checkpointed: &Resources) -> Resources {
    checkpointed
        .to_unreserved()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(disk) = r.disk.as_mut() {
                disk.persistence = None;
                disk.volume = None;
                if disk.source.is_none() {
                    r.disk = None;
                }
            }
            r.shared = None;
            r
        })
        .collect()
}

/// The agent's total: `base` (from `--resources`) with the checkpointed
/// resources in place of their unreserved form. Fails when `base` does
/// not have them (the flags changed under a reservation or volume).
pub fn apply_checkpointed(
    base: &Resources,
    checkpointed: &Resources,
) -> Result<Resources, AgentError> {
    let plain = unreserved_form(checkpointed);
    if !base.contains(&plain) {
        return Err(AgentError::Recovery(format!(
            "Checkpointed resources {checkpointed} are incompatible with agent resources {base}"
        )));
    }
    let mut total = base - &plain;
    total += checkpointed;
    Ok(total)
}

/// Creates the directories of `checkpointed`'s volumes (upstream creates
/// them when a volume is checkpointed, before any task uses it).
pub fn create_volume_directories(
    work_dir: &Path,
    checkpointed: &Resources,
) -> Result<(), AgentError> {
    for volume in checkpointed.iter() {
        if let Some((role, id)) = volume_key(volume) {
            let path = volume_path(work_dir, &role, &id);
            std::fs::create_dir_all(&path)
                .map_err(|e| AgentError::io("Failed to create persistent volume", &path, e))?;
        }
    }
    Ok(())
}

impl Agent {
    /// The checkpointed part of the agent's total, for (re-)registration.
    pub(crate) fn checkpointed_resources(&self) -> Vec<mesos_proto::mesos::Resource> {
        self.total_resources.filter(needs_checkpointing).to_v0()
    }

    /// `CheckpointResourcesMessage`: the master's whole new checkpointed
    /// set. Written first; then destroyed volumes are removed and new ones
    /// created, and the total follows.
    pub(crate) fn checkpoint_resources(
        &mut self,
        from: &Upid,
        message: msgs::CheckpointResourcesMessage,
    ) {
        if !self.is_master(from) {
            tracing::warn!("Ignoring checkpoint resources message from {from}: not the master");
            return;
        }
        let new = Resources::from_v0(&message.resources);
        if let Some(bad) = new.iter().find(|r| !needs_checkpointing(r)) {
            tracing::error!(
                "Ignoring checkpoint resources message from {from}: {} is neither dynamically \
                 reserved nor a persistent volume",
                Resources::from(bad.clone())
            );
            return;
        }
        let old = self.total_resources.filter(needs_checkpointing);
        if old == new {
            return;
        }
        let mut base = &self.total_resources - &old;
        base += &unreserved_form(&old);
        let total = match apply_checkpointed(&base, &new) {
            Ok(total) => total,
            Err(e) => {
                tracing::error!("Ignoring checkpoint resources message from {from}: {e}");
                return;
            }
        };
        let work_dir = self.flags.work_dir().to_path_buf();
        let path = resources_info_path(&work_dir);
        if let Err(e) = checkpoint::write_atomic(&path, &encode(&new)) {
            // Not acted on: the master's view and ours differ until it
            // resends, which a re-registration makes it do.
            tracing::error!("Failed to checkpoint resources {new}: {e}");
            return;
        }
        tracing::info!("Checkpointed resources {new}");
        let keep: BTreeSet<(String, String)> = new.iter().filter_map(volume_key).collect();
        for volume in old.iter() {
            let Some(key) = volume_key(volume) else {
                continue;
            };
            if keep.contains(&key) {
                continue;
            }
            let dir = volume_path(&work_dir, &key.0, &key.1);
            tracing::info!(
                "Deleting persistent volume '{}' at '{}'",
                key.1,
                dir.display()
            );
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::error!(
                        "Failed to delete persistent volume '{}': {e}",
                        dir.display()
                    );
                }
            }
        }
        if let Err(e) = create_volume_directories(&work_dir, &new) {
            tracing::error!("{e}");
        }
        self.total_resources = total;
    }

    /// Checkpointed resources (reservations, volumes) that `resources` use
    /// but the agent does not hold: the master and agent disagree, and the
    /// task must not run (upstream drops it with REASON_RESOURCES_UNKNOWN).
    pub(crate) fn unknown_checkpointed(
        &self,
        resources: &[mesos_proto::mesos::Resource],
    ) -> Option<String> {
        let mut wanted = Resources::from_v0(resources).filter(needs_checkpointing);
        wanted.unallocate();
        let held = self.total_resources.filter(needs_checkpointing);
        (!held.contains(&wanted.filter(|r| r.shared.is_none()))).then(|| {
            format!(
                "The checkpointed resources being used by the task or task group are unknown to \
                 the agent: {wanted}"
            )
        })
    }

    /// Links the persistent volumes that `resources` use into `sandbox` at
    /// their `container_path` (what upstream does without filesystem
    /// isolation).
    pub(crate) fn link_volumes(
        &self,
        sandbox: &Path,
        resources: &[mesos_proto::mesos::Resource],
    ) -> Result<(), String> {
        let work_dir = self.flags.work_dir();
        for resource in Resources::from_v0(resources).iter() {
            let Some((role, id)) = volume_key(resource) else {
                continue;
            };
            let Some(container_path) = resource
                .disk
                .as_ref()
                .and_then(|d| d.volume.as_ref())
                .map(|v| v.container_path.clone())
            else {
                continue;
            };
            if container_path.starts_with('/') || container_path.split('/').any(|p| p == "..") {
                return Err(format!(
                    "Persistent volume '{id}' has an invalid container path '{container_path}'"
                ));
            }
            let target = volume_path(work_dir, &role, &id);
            let link = sandbox.join(&container_path);
            if link.symlink_metadata().is_ok() {
                continue;
            }
            if let Some(parent) = link.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("Failed to create '{}': {e}", parent.display()))?;
            }
            std::os::unix::fs::symlink(&target, &link).map_err(|e| {
                format!(
                    "Failed to link persistent volume '{}' at '{}': {e}",
                    target.display(),
                    link.display()
                )
            })?;
            tracing::info!(
                "Linked persistent volume '{}' into the sandbox at '{}'",
                target.display(),
                link.display()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::resource::{
        disk_info::Persistence, reservation_info::Type as ReservationType, DiskInfo,
        ReservationInfo,
    };
    use mesos_proto::mesos::v1::{value, Volume};

    fn scalar(name: &str, value: f64) -> Resource {
        Resource {
            name: name.to_string(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value }),
            ..Default::default()
        }
    }

    fn reserved(mut resource: Resource, role: &str) -> Resource {
        resource.reservations.push(ReservationInfo {
            r#type: Some(ReservationType::Dynamic as i32),
            role: Some(role.to_string()),
            ..Default::default()
        });
        resource
    }

    fn volume(mut disk: Resource, id: &str) -> Resource {
        disk.disk = Some(Box::new(DiskInfo {
            persistence: Some(Persistence {
                id: id.to_string(),
                principal: None,
            }),
            volume: Some(Volume {
                container_path: "data".to_string(),
                mode: mesos_proto::mesos::v1::volume::Mode::Rw as i32,
                ..Default::default()
            }),
            source: None,
        }));
        disk
    }

    #[test]
    fn checkpointed_resources_replace_their_unreserved_form() {
        let base: Resources = vec![scalar("cpus", 4.0), scalar("disk", 100.0)].into();
        let checkpointed: Resources = vec![
            reserved(scalar("cpus", 1.0), "eng"),
            volume(reserved(scalar("disk", 10.0), "eng"), "v1"),
        ]
        .into();
        let total = apply_checkpointed(&base, &checkpointed).unwrap();
        assert_eq!(total.unreserved().scalar("cpus"), 3.0);
        assert_eq!(total.unreserved().scalar("disk"), 90.0);
        assert_eq!(total.persistent_volumes().scalar("disk"), 10.0);

        let too_much: Resources = vec![reserved(scalar("cpus", 8.0), "eng")].into();
        assert!(apply_checkpointed(&base, &too_much).is_err());
    }

    #[test]
    fn resources_info_round_trips_and_volumes_get_directories() {
        let dir = tempfile::tempdir().unwrap();
        let checkpointed: Resources = vec![
            reserved(scalar("mem", 64.0), "eng/web"),
            volume(reserved(scalar("disk", 10.0), "eng/web"), "v1"),
        ]
        .into();
        let path = resources_info_path(dir.path());
        checkpoint::write_atomic(&path, &encode(&checkpointed)).unwrap();
        assert_eq!(read_checkpointed(dir.path()).unwrap(), checkpointed);
        create_volume_directories(dir.path(), &checkpointed).unwrap();
        assert!(volume_path(dir.path(), "eng/web", "v1").is_dir());
        assert!(dir.path().join("volumes/roles/eng web/v1").is_dir());
    }

    #[test]
    fn volume_ids_cannot_escape() {
        let bad = volume(reserved(scalar("disk", 1.0), "eng"), "../x");
        assert!(volume_key(&bad).is_none());
    }
}
