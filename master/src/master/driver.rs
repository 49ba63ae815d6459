//! v0 frameworks (libmesos scheduler drivers) in the actor: subscription by
//! UPID with the `force` failover rules, calls checked against the sender,
//! and events delivered as `mesos.internal.*` messages (upstream
//! `Master::subscribe(const UPID&, ...)`, `_subscribe`, `receive`,
//! `failoverFramework`, `exited`).

use crate::allocator as alloc;
use libprocess::Upid;
use mesos_proto::mesos::internal::{
    FrameworkErrorMessage, FrameworkRegisteredMessage, FrameworkReregisteredMessage, StatusUpdate,
    StatusUpdateMessage,
};
use mesos_proto::mesos::v1::scheduler::call::{self, Type as CallType};
use mesos_proto::mesos::v1::scheduler::{Call, Event};
use mesos_proto::mesos::v1::FrameworkId;
use mesos_proto::mesos::{self as v0};
use tracing::{info, warn};

use super::state::{Connection, Framework, FrameworkState};
use super::{now_secs, validation, Master};
use crate::drivers::{self, DriverEvent, DriverMessage};

impl Master {
    /// `counted`: the message was a `scheduler::Call` (counted in the
    /// framework's metrics), not a legacy message translated into one.
    pub(super) fn handle_driver_message(
        &mut self,
        from: Upid,
        message: DriverMessage,
        counted: bool,
    ) {
        match message {
            DriverMessage::Call { call, force } => self.driver_call(from, *call, force, counted),
            DriverMessage::Deactivate { framework_id } => {
                self.count("master/messages_deactivate_framework");
                let ok = self
                    .frameworks
                    .get(framework_id.as_str())
                    .is_some_and(|f| f.pid() == Some(&from) && f.connected());
                if ok {
                    self.deactivate_framework(&framework_id, true);
                } else {
                    warn!("Ignoring deactivate framework message for {framework_id} from {from}");
                }
            }
            DriverMessage::Refuse(reason) => {
                info!("Refusing registration request of framework at {from}: {reason}");
                self.send(&from, &FrameworkErrorMessage { message: reason });
            }
            DriverMessage::Authenticate { pid } => self.authenticate(from, pid),
        }
    }

    /// `Master::receive(const UPID&, scheduler::Call&&)`.
    fn driver_call(&mut self, from: Upid, call: Call, force: bool, counted: bool) {
        if let Err(error) = validation::validate_call(&call, None) {
            warn!("Dropping call from {from}: {error}");
            return;
        }
        if validation::call_type(&call) == Some(CallType::Subscribe) {
            if let Some(subscribe) = call.subscribe {
                self.subscribe_driver(from, subscribe, force);
            }
            return;
        }
        let framework_id = call
            .framework_id
            .as_ref()
            .map(|id| id.value.clone())
            .unwrap_or_default();
        let Some(framework) = self.frameworks.get_mut(framework_id.as_str()) else {
            warn!("Dropping call from {from}: Framework cannot be found");
            return;
        };
        if framework.pid() != Some(&from) {
            warn!("Dropping call from {from}: Call is not from registered framework");
            return;
        }
        if let Some(kind) = validation::call_type(&call).filter(|_| counted) {
            framework.metrics.call(kind);
        }
        let framework = &*framework;
        if !framework.connected() {
            info!("Refusing call from framework {framework_id}: Framework disconnected");
            self.send(
                &from,
                &FrameworkErrorMessage {
                    message: "Framework disconnected".to_string(),
                },
            );
            return;
        }
        match validation::call_type(&call) {
            Some(CallType::AcknowledgeOperationStatus) | Some(CallType::ReconcileOperations) => {
                warn!("Dropping call from {from}: operation calls are not supported by the v0 API");
            }
            _ => {
                if let Err(error) = self.dispatch(&framework_id, call) {
                    self.send(
                        &from,
                        &FrameworkErrorMessage {
                            message: error.to_string(),
                        },
                    );
                }
            }
        }
    }

    /// `Master::subscribe(const UPID&, ...)` and `_subscribe`.
    fn subscribe_driver(&mut self, from: Upid, subscribe: call::Subscribe, force: bool) {
        let mut info = subscribe.framework_info;
        let is_new = info.id.as_ref().is_none_or(|id| id.value.is_empty());
        self.count(if is_new {
            "master/messages_register_framework"
        } else {
            "master/messages_reregister_framework"
        });
        let name = info.name.clone();
        let refuse = |master: &Master, message: String| {
            info!("Refusing subscription of framework '{name}' at {from}: {message}");
            master.send(&from, &FrameworkErrorMessage { message });
        };
        let suppressed = match self.validate_subscription(
            &mut info,
            &subscribe.suppressed_roles,
            subscribe.offer_constraints.as_ref(),
            Some(&from),
        ) {
            Ok(suppressed) => suppressed,
            Err(error) => return refuse(self, error),
        };
        info!(
            "Received SUBSCRIBE call for framework '{}' at {from}",
            info.name
        );
        let now = now_secs();

        if is_new {
            // A retry of a registration that already succeeded.
            if let Some(existing) = self
                .frameworks
                .values()
                .find(|f| f.pid() == Some(&from))
                .map(|f| f.id.clone())
            {
                info!("Framework {existing} already subscribed, resending acknowledgement");
                self.send_registered(&from, existing.as_str(), false);
                return;
            }
            let id = self.new_framework_id();
            info.id = Some(FrameworkId { value: id.clone() });
            let mut framework = Framework::new(info, FrameworkState::Connected, now);
            framework.suppressed_roles = suppressed;
            framework.offer_constraints = subscribe.offer_constraints;
            framework.epoch = self.next_epoch();
            framework.active = true;
            framework.connection = Some(Connection::Pid(from.clone()));
            framework.last_pid = Some(from.clone());
            let spec = Self::allocator_spec(&framework);
            self.frameworks.insert(framework.id.clone(), framework);
            self.transport.link(&from);
            self.allocator.add_framework(
                &alloc::FrameworkId::from(&id),
                spec,
                Default::default(),
                true,
            );
            info!("Added framework {id} at {from}");
            self.emit_framework(&id, true);
            self.send_registered(&from, &id, false);
            self.request_allocation();
            return;
        }

        let id = info
            .id
            .as_ref()
            .map(|id| id.value.clone())
            .unwrap_or_default();
        // Another framework already uses this pid.
        if self
            .frameworks
            .values()
            .any(|f| f.id != id.as_str() && f.connected() && f.pid() == Some(&from))
        {
            warn!("Dropping SUBSCRIBE call for framework '{}': another framework is connected at {from}", info.name);
            return;
        }
        if !self.frameworks.contains_key(id.as_str()) {
            self.recover_framework(info.clone());
        }
        let Some(framework) = self.frameworks.get(id.as_str()) else {
            return;
        };
        info.user = framework.info.user.clone();
        info.checkpoint = framework.info.checkpoint;
        if let Err(error) = validation::validate_framework_update(&framework.info, &info) {
            return refuse(self, error);
        }
        let recovered = framework.state == FrameworkState::Recovered;
        if !recovered && framework.pid() != Some(&from) && !force {
            warn!("Disallowing subscription attempt of framework {id} because it is not expected from {from}");
            return refuse(self, "Framework failed over".to_string());
        }
        self.update_framework_info(&id, info, suppressed, subscribe.offer_constraints);
        let epoch = self.next_epoch();
        let Some(framework) = self.frameworks.get_mut(id.as_str()) else {
            return;
        };
        framework.epoch = epoch;
        framework.reregistered_time = now;
        if recovered {
            framework.registered_time = now;
        }
        let was_connected = framework.connected();
        let previous_pid = framework.last_pid.clone();
        let old = framework.connection.take();
        let offers: Vec<String> = framework.offers.iter().cloned().collect();
        // Without `force` the pid is the known one (checked above): a plain
        // reconnection. With it, or for a recovered framework: a failover.
        let failover = recovered || force;
        // The old connection hears it has been replaced (not a driver that
        // simply reconnects on the same pid).
        match &old {
            Some(Connection::Http(http)) if was_connected => {
                http.send(&super::events::error("Framework failed over"));
            }
            Some(Connection::Pid(pid)) if was_connected && pid != &from => {
                self.send(
                    pid,
                    &FrameworkErrorMessage {
                        message: "Framework failed over".to_string(),
                    },
                );
            }
            _ => {}
        }
        // The pid the framework leaves (failed over to `from`, or moved
        // from HTTP) keeps no authentication: were it to register again
        // it would have to prove who it is again.
        if let Some(pid) = old
            .as_ref()
            .and_then(Connection::pid)
            .or(previous_pid.as_ref())
        {
            if pid != &from {
                self.authentication.forget(pid);
            }
        }
        drop(old);
        for offer_id in offers {
            if failover {
                self.discard_offer(&offer_id, None);
            } else {
                // The driver may have missed replies while disconnected.
                self.rescind_offer(&offer_id, None);
            }
        }
        // Inverse offers likewise (upstream `failoverFramework`, `_subscribe`).
        self.drop_framework_inverse_offers(&id, !failover);
        self.transport.link(&from);
        let Some(framework) = self.frameworks.get_mut(id.as_str()) else {
            return;
        };
        framework.state = FrameworkState::Connected;
        framework.connection = Some(Connection::Pid(from.clone()));
        framework.last_pid = Some(from.clone());
        if !framework.active {
            framework.active = true;
            self.allocator
                .activate_framework(&alloc::FrameworkId::from(&id));
        }
        // MESOS-786: a failover gets FrameworkRegisteredMessage.
        self.send_registered(&from, &id, !failover);
        info!(
            "Framework {id} {} at {from}",
            if failover {
                "failed over"
            } else {
                "reregistered"
            }
        );
        self.send_framework_updates(&id);
        self.request_allocation();
    }

    fn send_registered(&mut self, to: &Upid, framework_id: &str, reregistered: bool) {
        // The driver's SUBSCRIBED event (upstream counts either message so).
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework
                .metrics
                .event_of(mesos_proto::mesos::v1::scheduler::event::Type::Subscribed);
        }
        let framework_id = v0::FrameworkId {
            value: framework_id.to_string(),
        };
        let master_info: v0::MasterInfo = mesos_proto::convert::devolve(&self.info);
        if reregistered {
            self.send(
                to,
                &FrameworkReregisteredMessage {
                    framework_id,
                    master_info,
                },
            );
        } else {
            self.send(
                to,
                &FrameworkRegisteredMessage {
                    framework_id,
                    master_info,
                },
            );
        }
    }

    /// Delivers an event to a v0 driver as the message it understands.
    pub(super) fn send_to_driver(&self, pid: &Upid, framework_id: &str, event: &Event) {
        let agent_pid = |agent_id: &str| {
            self.agents
                .get(agent_id)
                .map(|a| a.pid.to_string())
                .unwrap_or_default()
        };
        match drivers::to_driver(event, framework_id, agent_pid) {
            Some(DriverEvent::Offers(m)) => self.send(pid, &m),
            Some(DriverEvent::Rescind(m)) => self.send(pid, &m),
            Some(DriverEvent::InverseOffers(m)) => self.send(pid, &m),
            Some(DriverEvent::RescindInverseOffer(m)) => self.send(pid, &m),
            Some(DriverEvent::Message(m)) => self.send(pid, &m),
            Some(DriverEvent::LostAgent(m)) => self.send(pid, &m),
            Some(DriverEvent::ExitedExecutor(m)) => self.send(pid, &m),
            Some(DriverEvent::Error(m)) => self.send(pid, &m),
            None => {}
        }
    }

    /// A status update for a v0 driver: the message itself, with the pid
    /// that tells the driver whether to acknowledge.
    pub(super) fn send_update_to_driver(
        &self,
        pid: &Upid,
        update: StatusUpdate,
        acknowledgee: &str,
    ) {
        self.send(
            pid,
            &StatusUpdateMessage {
                update,
                pid: Some(acknowledgee.to_string()),
            },
        );
    }

    /// The link to a driver broke (`Master::exited` for frameworks).
    pub(super) fn driver_exited(&mut self, pid: &Upid) -> bool {
        let Some(framework_id) = self
            .frameworks
            .values()
            .find(|f| f.connected() && f.pid() == Some(pid))
            .map(|f| f.id.clone())
        else {
            return false;
        };
        self.send(
            pid,
            &FrameworkErrorMessage {
                message: "Framework disconnected".to_string(),
            },
        );
        self.framework_disconnected(framework_id.as_str());
        true
    }
}
