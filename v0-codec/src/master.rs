//! The master's end of the v0 scheduler driver protocol (libmesos
//! `MesosSchedulerDriver`): decoding what drivers send to `master` into v1
//! scheduler calls, and building the `mesos.internal.*` messages drivers
//! understand from the v1 events the master produces.
//!
//! Owns only the translation; the master actor decides what to do.

use libprocess::Message;
use mesos_proto::convert::{evolve, evolve_scheduler_call};
use mesos_proto::mesos::internal::{
    DeactivateFrameworkMessage, ExecutorToFrameworkMessage, ExitedExecutorMessage,
    FrameworkErrorMessage, FrameworkToExecutorMessage, InverseOffersMessage, KillTaskMessage,
    LaunchTasksMessage, LostSlaveMessage, ReconcileTasksMessage, RegisterFrameworkMessage,
    ReregisterFrameworkMessage, RescindInverseOfferMessage, RescindResourceOfferMessage,
    ResourceRequestMessage, ReviveOffersMessage, StatusUpdateAcknowledgementMessage,
    UnregisterFrameworkMessage,
};
use mesos_proto::mesos::v1::scheduler::call::{self, Type as CallType};
use mesos_proto::mesos::v1::scheduler::{event, Call, Event};
use mesos_proto::mesos::v1::{self, offer};
use mesos_proto::mesos::{self as v0, scheduler as v0_scheduler};
use prost::Name;

use crate::{parse, DecodeError};

/// A driver message, decoded.
#[derive(Debug)]
pub enum DriverMessage {
    /// A scheduler call; `force` is SUBSCRIBE's v0-only failover flag.
    Call { call: Box<Call>, force: bool },
    /// `DeactivateFrameworkMessage` (the driver's `abort()`).
    Deactivate { framework_id: String },
    /// A legacy registration that upstream refuses, with the reason.
    Refuse(String),
    /// `AuthenticateMessage`: the pid (framework or agent) to authenticate;
    /// the message's sender is the authenticatee process.
    Authenticate { pid: String },
}

fn typed(kind: CallType, framework_id: &v0::FrameworkId) -> Call {
    Call {
        r#type: Some(kind as i32),
        framework_id: Some(v1::FrameworkId {
            value: framework_id.value.clone(),
        }),
        ..Default::default()
    }
}

fn subscribe(info: &v0::FrameworkInfo) -> Call {
    let info: v1::FrameworkInfo = evolve(info);
    Call {
        r#type: Some(CallType::Subscribe as i32),
        framework_id: info.id.clone().filter(|id| !id.value.is_empty()),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Decodes a driver message; `None` if `message` is not one.
pub fn decode(message: &Message) -> Option<Result<DriverMessage, DecodeError>> {
    let name = message.name.as_str();
    let call = |call: Call| {
        Ok(DriverMessage::Call {
            call: Box::new(call),
            force: false,
        })
    };
    let result = if name == v0_scheduler::Call::full_name() {
        parse::<v0_scheduler::Call>(message).map(|v0_call| {
            let force = v0_call
                .subscribe
                .as_ref()
                .and_then(|s| s.force)
                .unwrap_or(false);
            DriverMessage::Call {
                call: Box::new(evolve_scheduler_call(&v0_call)),
                force,
            }
        })
    } else if name == RegisterFrameworkMessage::full_name() {
        parse::<RegisterFrameworkMessage>(message).map(|m| {
            if m.framework
                .id
                .as_ref()
                .is_some_and(|id| !id.value.is_empty())
            {
                DriverMessage::Refuse("Registering with 'id' already set".to_string())
            } else {
                DriverMessage::Call {
                    call: Box::new(subscribe(&m.framework)),
                    force: false,
                }
            }
        })
    } else if name == ReregisterFrameworkMessage::full_name() {
        parse::<ReregisterFrameworkMessage>(message).map(|m| {
            if m.framework.id.as_ref().is_none_or(|id| id.value.is_empty()) {
                DriverMessage::Refuse("Re-registering without an 'id'".to_string())
            } else {
                DriverMessage::Call {
                    call: Box::new(subscribe(&m.framework)),
                    force: m.failover,
                }
            }
        })
    } else if name == UnregisterFrameworkMessage::full_name() {
        parse::<UnregisterFrameworkMessage>(message)
            .and_then(|m| call(typed(CallType::Teardown, &m.framework_id)))
    } else if name == DeactivateFrameworkMessage::full_name() {
        parse::<DeactivateFrameworkMessage>(message).map(|m| DriverMessage::Deactivate {
            framework_id: m.framework_id.value,
        })
    } else if name == LaunchTasksMessage::full_name() {
        parse::<LaunchTasksMessage>(message).and_then(|m| {
            let offer_ids: Vec<v1::OfferId> = m.offer_ids.iter().map(evolve).collect();
            let filters: Option<v1::Filters> = Some(evolve(&m.filters));
            let mut c = if m.tasks.is_empty() {
                let mut c = typed(CallType::Decline, &m.framework_id);
                c.decline = Some(call::Decline { offer_ids, filters });
                c
            } else {
                let mut c = typed(CallType::Accept, &m.framework_id);
                c.accept = Some(call::Accept {
                    offer_ids,
                    operations: vec![offer::Operation {
                        r#type: Some(offer::operation::Type::Launch as i32),
                        launch: Some(offer::operation::Launch {
                            task_infos: m.tasks.iter().map(evolve).collect(),
                        }),
                        ..Default::default()
                    }],
                    filters,
                });
                c
            };
            c.framework_id = Some(v1::FrameworkId {
                value: m.framework_id.value,
            });
            call(c)
        })
    } else if name == ReviveOffersMessage::full_name() {
        parse::<ReviveOffersMessage>(message).and_then(|m| {
            let mut c = typed(CallType::Revive, &m.framework_id);
            c.revive = Some(call::Revive { roles: m.roles });
            call(c)
        })
    } else if name == KillTaskMessage::full_name() {
        parse::<KillTaskMessage>(message).and_then(|m| {
            let mut c = typed(CallType::Kill, &m.framework_id);
            c.kill = Some(call::Kill {
                task_id: evolve(&m.task_id),
                agent_id: None,
                kill_policy: None,
            });
            call(c)
        })
    } else if name == StatusUpdateAcknowledgementMessage::full_name() {
        parse::<StatusUpdateAcknowledgementMessage>(message).and_then(|m| {
            let mut c = typed(CallType::Acknowledge, &m.framework_id);
            c.acknowledge = Some(call::Acknowledge {
                agent_id: evolve(&m.slave_id),
                task_id: evolve(&m.task_id),
                uuid: m.uuid,
            });
            call(c)
        })
    } else if name == FrameworkToExecutorMessage::full_name() {
        parse::<FrameworkToExecutorMessage>(message).and_then(|m| {
            let mut c = typed(CallType::Message, &m.framework_id);
            c.message = Some(call::Message {
                agent_id: evolve(&m.slave_id),
                executor_id: evolve(&m.executor_id),
                data: m.data,
            });
            call(c)
        })
    } else if name == ResourceRequestMessage::full_name() {
        parse::<ResourceRequestMessage>(message).and_then(|m| {
            let mut c = typed(CallType::Request, &m.framework_id);
            c.request = Some(call::Request {
                requests: m.requests.iter().map(evolve).collect(),
            });
            call(c)
        })
    } else if name == ReconcileTasksMessage::full_name() {
        parse::<ReconcileTasksMessage>(message).and_then(|m| {
            let mut c = typed(CallType::Reconcile, &m.framework_id);
            c.reconcile = Some(call::Reconcile {
                tasks: m
                    .statuses
                    .iter()
                    .map(|s| call::reconcile::Task {
                        task_id: evolve(&s.task_id),
                        agent_id: s.slave_id.as_ref().map(evolve),
                    })
                    .collect(),
            });
            call(c)
        })
    } else if name == v0::internal::AuthenticateMessage::full_name() {
        parse::<v0::internal::AuthenticateMessage>(message)
            .map(|m| DriverMessage::Authenticate { pid: m.pid })
    } else {
        return None;
    };
    Some(result)
}

/// A message for a v0 driver, built from a v1 event.
#[derive(Debug, PartialEq)]
pub enum DriverEvent {
    Offers(v0::internal::ResourceOffersMessage),
    Rescind(RescindResourceOfferMessage),
    InverseOffers(InverseOffersMessage),
    RescindInverseOffer(RescindInverseOfferMessage),
    Message(ExecutorToFrameworkMessage),
    LostAgent(LostSlaveMessage),
    ExitedExecutor(ExitedExecutorMessage),
    Error(FrameworkErrorMessage),
}

/// The driver form of `event` for framework `framework_id`. `agent_pid`
/// gives the agent UPID string for offers and inverse offers (their
/// messages' `pids`).
/// SUBSCRIBED and UPDATE are sent by the actor directly (they need facts
/// the event lacks); HEARTBEAT and operation updates have no v0 form.
pub fn to_driver(
    event: &Event,
    framework_id: &str,
    agent_pid: impl Fn(&str) -> String,
) -> Option<DriverEvent> {
    let kind = event.r#type.and_then(|t| event::Type::try_from(t).ok())?;
    let framework = v0::FrameworkId {
        value: framework_id.to_string(),
    };
    match kind {
        event::Type::Offers => {
            let offers = &event.offers.as_ref()?.offers;
            Some(DriverEvent::Offers(v0::internal::ResourceOffersMessage {
                offers: offers.iter().map(mesos_proto::convert::devolve).collect(),
                pids: offers
                    .iter()
                    .map(|o| agent_pid(&o.agent_id.value))
                    .collect(),
            }))
        }
        event::Type::Rescind => Some(DriverEvent::Rescind(RescindResourceOfferMessage {
            offer_id: mesos_proto::convert::devolve(&event.rescind.as_ref()?.offer_id),
        })),
        event::Type::InverseOffers => {
            let offers = &event.inverse_offers.as_ref()?.inverse_offers;
            Some(DriverEvent::InverseOffers(InverseOffersMessage {
                inverse_offers: offers.iter().map(mesos_proto::convert::devolve).collect(),
                pids: offers
                    .iter()
                    .map(|o| agent_pid(o.agent_id.as_ref().map_or("", |id| id.value.as_str())))
                    .collect(),
            }))
        }
        event::Type::RescindInverseOffer => Some(DriverEvent::RescindInverseOffer(
            RescindInverseOfferMessage {
                inverse_offer_id: mesos_proto::convert::devolve(
                    &event.rescind_inverse_offer.as_ref()?.inverse_offer_id,
                ),
            },
        )),
        event::Type::Message => {
            let message = event.message.as_ref()?;
            Some(DriverEvent::Message(ExecutorToFrameworkMessage {
                slave_id: mesos_proto::convert::devolve(&message.agent_id),
                framework_id: framework,
                executor_id: mesos_proto::convert::devolve(&message.executor_id),
                data: message.data.clone(),
            }))
        }
        event::Type::Failure => {
            let failure = event.failure.as_ref()?;
            let slave_id: v0::SlaveId = failure
                .agent_id
                .as_ref()
                .map(mesos_proto::convert::devolve)
                .unwrap_or_default();
            Some(match &failure.executor_id {
                Some(executor_id) => DriverEvent::ExitedExecutor(ExitedExecutorMessage {
                    slave_id,
                    framework_id: framework,
                    executor_id: mesos_proto::convert::devolve(executor_id),
                    status: failure.status.unwrap_or(0),
                }),
                None => DriverEvent::LostAgent(LostSlaveMessage { slave_id }),
            })
        }
        event::Type::Error => Some(DriverEvent::Error(FrameworkErrorMessage {
            message: event.error.as_ref()?.message.clone(),
        })),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use libprocess::Upid;

    fn message<M: prost::Message + Name>(msg: &M) -> Message {
        Message {
            from: "scheduler-1@127.0.0.1:4000".parse::<Upid>().unwrap(),
            to: "master".into(),
            name: M::full_name(),
            body: Bytes::from(msg.encode_to_vec()),
        }
    }

    #[test]
    fn v0_subscribe_keeps_force_and_fields() {
        let v0_call = v0_scheduler::Call {
            r#type: Some(v0_scheduler::call::Type::Subscribe as i32),
            framework_id: Some(v0::FrameworkId { value: "F".into() }),
            subscribe: Some(v0_scheduler::call::Subscribe {
                framework_info: v0::FrameworkInfo {
                    user: "u".into(),
                    name: "spark".into(),
                    id: Some(v0::FrameworkId { value: "F".into() }),
                    ..Default::default()
                },
                force: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        match decode(&message(&v0_call)).unwrap().unwrap() {
            DriverMessage::Call { call, force } => {
                assert!(force);
                assert_eq!(call.subscribe.unwrap().framework_info.name, "spark");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn legacy_launch_becomes_accept_or_decline() {
        let launch = LaunchTasksMessage {
            framework_id: v0::FrameworkId { value: "F".into() },
            offer_ids: vec![v0::OfferId { value: "O".into() }],
            filters: v0::Filters::default(),
            tasks: vec![],
        };
        match decode(&message(&launch)).unwrap().unwrap() {
            DriverMessage::Call { call, .. } => {
                assert_eq!(call.r#type, Some(CallType::Decline as i32));
                assert_eq!(call.decline.unwrap().offer_ids[0].value, "O");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn registration_with_id_is_refused() {
        let register = RegisterFrameworkMessage {
            framework: v0::FrameworkInfo {
                user: "u".into(),
                name: "n".into(),
                id: Some(v0::FrameworkId { value: "x".into() }),
                ..Default::default()
            },
        };
        assert!(matches!(
            decode(&message(&register)).unwrap().unwrap(),
            DriverMessage::Refuse(_)
        ));
    }

    #[test]
    fn offers_carry_parallel_pids() {
        let event = Event {
            r#type: Some(event::Type::Offers as i32),
            offers: Some(event::Offers {
                offers: vec![v1::Offer {
                    agent_id: v1::AgentId { value: "S1".into() },
                    ..Default::default()
                }],
            }),
            ..Default::default()
        };
        match to_driver(&event, "F", |id| format!("slave(1)@{id}:5051")).unwrap() {
            DriverEvent::Offers(m) => {
                assert_eq!(m.pids, vec!["slave(1)@S1:5051".to_string()]);
                assert_eq!(m.offers[0].slave_id.value, "S1");
            }
            other => panic!("unexpected {other:?}"),
        }
        let lost = Event {
            r#type: Some(event::Type::Failure as i32),
            failure: Some(event::Failure {
                agent_id: Some(v1::AgentId { value: "S1".into() }),
                executor_id: None,
                status: None,
            }),
            ..Default::default()
        };
        assert!(matches!(
            to_driver(&lost, "F", |_| String::new()),
            Some(DriverEvent::LostAgent(_))
        ));
    }

    #[test]
    fn inverse_offers_carry_parallel_pids_and_rescinds_their_id() {
        let event = Event {
            r#type: Some(event::Type::InverseOffers as i32),
            inverse_offers: Some(event::InverseOffers {
                inverse_offers: vec![v1::InverseOffer {
                    id: v1::OfferId { value: "O7".into() },
                    agent_id: Some(v1::AgentId { value: "S1".into() }),
                    framework_id: v1::FrameworkId { value: "F".into() },
                    ..Default::default()
                }],
            }),
            ..Default::default()
        };
        match to_driver(&event, "F", |id| format!("slave(1)@{id}:5051")).unwrap() {
            DriverEvent::InverseOffers(m) => {
                assert_eq!(m.pids, vec!["slave(1)@S1:5051".to_string()]);
                assert_eq!(m.inverse_offers[0].id.value, "O7");
                assert_eq!(
                    m.inverse_offers[0]
                        .slave_id
                        .as_ref()
                        .map(|s| s.value.as_str()),
                    Some("S1")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let rescind = Event {
            r#type: Some(event::Type::RescindInverseOffer as i32),
            rescind_inverse_offer: Some(event::RescindInverseOffer {
                inverse_offer_id: v1::OfferId { value: "O7".into() },
            }),
            ..Default::default()
        };
        match to_driver(&rescind, "F", |_| String::new()).unwrap() {
            DriverEvent::RescindInverseOffer(m) => assert_eq!(m.inverse_offer_id.value, "O7"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
