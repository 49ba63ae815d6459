//! `--registry=in_memory` (and, until a persistent store exists, every
//! registry): the registry kept in process memory, lost on restart. After a
//! master restart agents re-register and are readmitted.

use mesos_proto::mesos::internal::registry::{
    GoneSlave, GoneSlaves, Slave, Slaves, UnreachableSlave, UnreachableSlaves,
};
use mesos_proto::mesos::internal::Registry as RegistryState;
use mesos_proto::mesos::{SlaveId, SlaveInfo, TimeInfo};

use super::{Registry, RegistryError};

/// The registry state held in memory.
#[derive(Debug, Default)]
pub struct InMemoryRegistry {
    state: RegistryState,
}

impl InMemoryRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    fn admitted(&mut self) -> &mut Vec<Slave> {
        &mut self.state.slaves.get_or_insert_with(Slaves::default).slaves
    }

    fn unreachable(&mut self) -> &mut Vec<UnreachableSlave> {
        &mut self
            .state
            .unreachable
            .get_or_insert_with(UnreachableSlaves::default)
            .slaves
    }

    fn gone(&mut self) -> &mut Vec<GoneSlave> {
        &mut self
            .state
            .gone
            .get_or_insert_with(GoneSlaves::default)
            .slaves
    }

    fn position(&mut self, id: &SlaveId) -> Option<usize> {
        self.admitted()
            .iter()
            .position(|slave| slave.info.id.as_ref() == Some(id))
    }
}

fn id_of(info: &SlaveInfo) -> SlaveId {
    info.id.clone().unwrap_or_default()
}

impl Registry for InMemoryRegistry {
    fn recover(&mut self) -> Result<RegistryState, RegistryError> {
        Ok(self.state.clone())
    }

    fn admit(&mut self, info: &SlaveInfo) -> Result<bool, RegistryError> {
        let id = id_of(info);
        let known_unreachable = self.unreachable().iter().any(|s| s.id == id);
        if self.position(&id).is_some() || known_unreachable {
            return Ok(false);
        }
        self.admitted().push(Slave {
            info: info.clone(),
            ..Default::default()
        });
        Ok(true)
    }

    fn update(&mut self, info: &SlaveInfo) -> Result<bool, RegistryError> {
        let id = id_of(info);
        match self.position(&id) {
            Some(index) => {
                self.admitted()[index].info = info.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn mark_reachable(&mut self, info: &SlaveInfo) -> Result<bool, RegistryError> {
        let id = id_of(info);
        self.unreachable().retain(|s| s.id != id);
        match self.position(&id) {
            Some(index) => self.admitted()[index].info = info.clone(),
            None => self.admitted().push(Slave {
                info: info.clone(),
                ..Default::default()
            }),
        }
        Ok(true)
    }

    fn mark_unreachable(
        &mut self,
        info: &SlaveInfo,
        time: TimeInfo,
    ) -> Result<bool, RegistryError> {
        let id = id_of(info);
        let Some(index) = self.position(&id) else {
            return Ok(false);
        };
        self.admitted().remove(index);
        self.unreachable().push(UnreachableSlave {
            id,
            timestamp: time,
            ..Default::default()
        });
        Ok(true)
    }

    fn mark_gone(&mut self, id: &SlaveId, time: TimeInfo) -> Result<bool, RegistryError> {
        let admitted = self.position(id);
        let before = self.unreachable().len();
        self.unreachable().retain(|s| &s.id != id);
        let was_unreachable = self.unreachable().len() != before;
        if let Some(index) = admitted {
            self.admitted().remove(index);
        } else if !was_unreachable {
            return Ok(false);
        }
        self.gone().push(GoneSlave {
            id: id.clone(),
            timestamp: time,
        });
        Ok(true)
    }

    fn remove(&mut self, info: &SlaveInfo) -> Result<bool, RegistryError> {
        let id = id_of(info);
        match self.position(&id) {
            Some(index) => {
                self.admitted().remove(index);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> SlaveInfo {
        SlaveInfo {
            hostname: "host".into(),
            id: Some(SlaveId { value: id.into() }),
            ..Default::default()
        }
    }

    fn time() -> TimeInfo {
        TimeInfo { nanoseconds: 42 }
    }

    #[test]
    fn admit_is_once_per_id() {
        let mut registry = InMemoryRegistry::new();
        assert!(registry.admit(&info("S0")).unwrap());
        assert!(!registry.admit(&info("S0")).unwrap());
        assert!(registry.admit(&info("S1")).unwrap());
        let state = registry.recover().unwrap();
        assert_eq!(state.slaves.unwrap().slaves.len(), 2);
    }

    #[test]
    fn unreachable_then_reachable() {
        let mut registry = InMemoryRegistry::new();
        registry.admit(&info("S0")).unwrap();
        assert!(registry.mark_unreachable(&info("S0"), time()).unwrap());
        assert!(!registry.mark_unreachable(&info("S0"), time()).unwrap());
        // An unreachable id cannot be admitted as new.
        assert!(!registry.admit(&info("S0")).unwrap());
        assert!(registry.mark_reachable(&info("S0")).unwrap());
        let state = registry.recover().unwrap();
        assert_eq!(state.slaves.unwrap().slaves.len(), 1);
        assert!(state.unreachable.unwrap().slaves.is_empty());
    }

    #[test]
    fn remove_and_gone() {
        let mut registry = InMemoryRegistry::new();
        registry.admit(&info("S0")).unwrap();
        registry.admit(&info("S1")).unwrap();
        assert!(registry.remove(&info("S0")).unwrap());
        assert!(!registry.remove(&info("S0")).unwrap());
        assert!(registry
            .mark_gone(&SlaveId { value: "S1".into() }, time())
            .unwrap());
        assert!(!registry
            .mark_gone(&SlaveId { value: "S9".into() }, time())
            .unwrap());
        let state = registry.recover().unwrap();
        assert!(state.slaves.unwrap().slaves.is_empty());
        assert_eq!(state.gone.unwrap().slaves.len(), 1);
    }

    #[test]
    fn update_only_known() {
        let mut registry = InMemoryRegistry::new();
        assert!(!registry.update(&info("S0")).unwrap());
        registry.admit(&info("S0")).unwrap();
        let mut changed = info("S0");
        changed.hostname = "other".into();
        assert!(registry.update(&changed).unwrap());
        let state = registry.recover().unwrap();
        assert_eq!(state.slaves.unwrap().slaves[0].info.hostname, "other");
    }
}
