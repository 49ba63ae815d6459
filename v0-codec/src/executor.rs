//! The executor driver's end of the v0 protocol: the messages an agent
//! sends to an executor pid.

use libprocess::Message;
use mesos_proto::mesos::internal::{
    ExecutorRegisteredMessage, ExecutorReregisteredMessage, FrameworkToExecutorMessage,
    KillTaskMessage, ReconnectExecutorMessage, RunTaskMessage, ShutdownExecutorMessage,
    StatusUpdateAcknowledgementMessage,
};
use prost::Name;

use crate::{parse, DecodeError};

/// A message for an executor driver, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorMessage {
    Registered(Box<ExecutorRegisteredMessage>),
    Reregistered(ExecutorReregisteredMessage),
    Reconnect(ReconnectExecutorMessage),
    RunTask(Box<RunTaskMessage>),
    KillTask(KillTaskMessage),
    Acknowledgement(StatusUpdateAcknowledgementMessage),
    FrameworkMessage(FrameworkToExecutorMessage),
    Shutdown(ShutdownExecutorMessage),
}

/// Decodes a message addressed to an executor driver by its type name.
pub fn decode(message: &Message) -> Result<ExecutorMessage, DecodeError> {
    let name = message.name.as_str();
    Ok(if name == ExecutorRegisteredMessage::full_name() {
        ExecutorMessage::Registered(Box::new(parse(message)?))
    } else if name == ExecutorReregisteredMessage::full_name() {
        ExecutorMessage::Reregistered(parse(message)?)
    } else if name == ReconnectExecutorMessage::full_name() {
        ExecutorMessage::Reconnect(parse(message)?)
    } else if name == RunTaskMessage::full_name() {
        ExecutorMessage::RunTask(Box::new(parse(message)?))
    } else if name == KillTaskMessage::full_name() {
        ExecutorMessage::KillTask(parse(message)?)
    } else if name == StatusUpdateAcknowledgementMessage::full_name() {
        ExecutorMessage::Acknowledgement(parse(message)?)
    } else if name == FrameworkToExecutorMessage::full_name() {
        ExecutorMessage::FrameworkMessage(parse(message)?)
    } else if name == ShutdownExecutorMessage::full_name() {
        ExecutorMessage::Shutdown(parse(message)?)
    } else {
        return Err(DecodeError::Unknown(name.to_string()));
    })
}
