//! The scheduler driver's end of the v0 protocol: the messages a master
//! (or, for framework messages, an agent) sends to a framework pid.

use libprocess::Message;
use mesos_proto::mesos::internal::{
    ExecutorToFrameworkMessage, ExitedExecutorMessage, FrameworkErrorMessage,
    FrameworkRegisteredMessage, FrameworkReregisteredMessage, LostSlaveMessage,
    RescindResourceOfferMessage, ResourceOffersMessage, StatusUpdateMessage,
};
use prost::Name;

use crate::{parse, DecodeError};

/// A message for a scheduler driver, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum SchedulerMessage {
    Registered(FrameworkRegisteredMessage),
    Reregistered(FrameworkReregisteredMessage),
    Offers(ResourceOffersMessage),
    Rescind(RescindResourceOfferMessage),
    StatusUpdate(Box<StatusUpdateMessage>),
    LostSlave(LostSlaveMessage),
    ExitedExecutor(ExitedExecutorMessage),
    FrameworkMessage(ExecutorToFrameworkMessage),
    Error(FrameworkErrorMessage),
}

/// Decodes a message addressed to a scheduler driver by its type name.
pub fn decode(message: &Message) -> Result<SchedulerMessage, DecodeError> {
    let name = message.name.as_str();
    Ok(if name == FrameworkRegisteredMessage::full_name() {
        SchedulerMessage::Registered(parse(message)?)
    } else if name == FrameworkReregisteredMessage::full_name() {
        SchedulerMessage::Reregistered(parse(message)?)
    } else if name == ResourceOffersMessage::full_name() {
        SchedulerMessage::Offers(parse(message)?)
    } else if name == RescindResourceOfferMessage::full_name() {
        SchedulerMessage::Rescind(parse(message)?)
    } else if name == StatusUpdateMessage::full_name() {
        SchedulerMessage::StatusUpdate(Box::new(parse(message)?))
    } else if name == LostSlaveMessage::full_name() {
        SchedulerMessage::LostSlave(parse(message)?)
    } else if name == ExitedExecutorMessage::full_name() {
        SchedulerMessage::ExitedExecutor(parse(message)?)
    } else if name == ExecutorToFrameworkMessage::full_name() {
        SchedulerMessage::FrameworkMessage(parse(message)?)
    } else if name == FrameworkErrorMessage::full_name() {
        SchedulerMessage::Error(parse(message)?)
    } else {
        return Err(DecodeError::Unknown(name.to_string()));
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use mesos_proto::mesos as v0;

    fn message(name: String, body: Vec<u8>) -> Message {
        Message {
            from: "master@127.0.0.1:5050".parse().unwrap(),
            to: "scheduler-1".into(),
            name,
            body: Bytes::from(body),
        }
    }

    #[test]
    fn decodes_registered_and_refuses_garbage() {
        let registered = FrameworkRegisteredMessage {
            framework_id: v0::FrameworkId { value: "F".into() },
            master_info: v0::MasterInfo::default(),
        };
        let m = message(
            FrameworkRegisteredMessage::full_name(),
            prost::Message::encode_to_vec(&registered),
        );
        assert_eq!(
            decode(&m).unwrap(),
            SchedulerMessage::Registered(registered)
        );
        let bad = message(FrameworkRegisteredMessage::full_name(), vec![0xff, 0xff]);
        assert!(matches!(decode(&bad), Err(DecodeError::Malformed { .. })));
        let unknown = message("mesos.internal.Nope".into(), vec![]);
        assert!(matches!(decode(&unknown), Err(DecodeError::Unknown(_))));
    }
}
