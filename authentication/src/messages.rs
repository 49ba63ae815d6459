//! The exchange's messages, decoded by protobuf type name. Every body is
//! bounded by [`MAX_BODY`] before it is decoded, so a peer cannot make a
//! session hold more than a few kilobytes.

use libprocess::{Message, Upid};
use mesos_proto::mesos::internal::{
    AuthenticateMessage, AuthenticationCompletedMessage, AuthenticationErrorMessage,
    AuthenticationFailedMessage, AuthenticationMechanismsMessage, AuthenticationStartMessage,
    AuthenticationStepMessage,
};
use prost::Name;

/// Largest body of an authentication message we decode. CRAM-MD5's
/// longest honest message is a response of about a kilobyte.
pub const MAX_BODY: usize = 16 * 1024;

/// Most mechanisms a server may offer us.
pub const MAX_MECHANISMS: usize = 64;

/// Longest error text kept from a peer.
pub const MAX_ERROR: usize = 1024;

/// A message that is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unexpected message '{0}'")]
    Unexpected(String),
    #[error("'{0}' is larger than {MAX_BODY} bytes")]
    TooLarge(String),
    #[error("malformed '{name}': {reason}")]
    Malformed { name: String, reason: String },
}

fn parse<M: prost::Message + Default>(message: &Message) -> Result<M, DecodeError> {
    if message.body.len() > MAX_BODY {
        return Err(DecodeError::TooLarge(message.name.clone()));
    }
    M::decode(message.body.as_ref()).map_err(|e| DecodeError::Malformed {
        name: message.name.clone(),
        reason: e.to_string(),
    })
}

/// What an authenticator session receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerInbound {
    Start { mechanism: String, data: Vec<u8> },
    Step { data: Vec<u8> },
}

/// Decodes a message addressed to an authenticator session.
pub fn decode_server(message: &Message) -> Result<ServerInbound, DecodeError> {
    let name = message.name.as_str();
    if name == AuthenticationStartMessage::full_name() {
        let m: AuthenticationStartMessage = parse(message)?;
        Ok(ServerInbound::Start {
            mechanism: m.mechanism,
            data: m.data.unwrap_or_default(),
        })
    } else if name == AuthenticationStepMessage::full_name() {
        let m: AuthenticationStepMessage = parse(message)?;
        Ok(ServerInbound::Step { data: m.data })
    } else {
        Err(DecodeError::Unexpected(name.to_string()))
    }
}

/// What an authenticatee receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientInbound {
    Mechanisms(Vec<String>),
    Step(Vec<u8>),
    Completed,
    Failed,
    Error(String),
}

/// Decodes a message addressed to an authenticatee.
pub fn decode_client(message: &Message) -> Result<ClientInbound, DecodeError> {
    let name = message.name.as_str();
    if name == AuthenticationMechanismsMessage::full_name() {
        let m: AuthenticationMechanismsMessage = parse(message)?;
        if m.mechanisms.len() > MAX_MECHANISMS {
            return Err(DecodeError::Malformed {
                name: name.to_string(),
                reason: format!("more than {MAX_MECHANISMS} mechanisms"),
            });
        }
        Ok(ClientInbound::Mechanisms(m.mechanisms))
    } else if name == AuthenticationStepMessage::full_name() {
        let m: AuthenticationStepMessage = parse(message)?;
        Ok(ClientInbound::Step(m.data))
    } else if name == AuthenticationCompletedMessage::full_name() {
        let _: AuthenticationCompletedMessage = parse(message)?;
        Ok(ClientInbound::Completed)
    } else if name == AuthenticationFailedMessage::full_name() {
        let _: AuthenticationFailedMessage = parse(message)?;
        Ok(ClientInbound::Failed)
    } else if name == AuthenticationErrorMessage::full_name() {
        let m: AuthenticationErrorMessage = parse(message)?;
        let mut error = m.error.unwrap_or_default();
        if error.len() > MAX_ERROR {
            let mut cut = MAX_ERROR;
            while !error.is_char_boundary(cut) {
                cut -= 1;
            }
            error.truncate(cut);
        }
        Ok(ClientInbound::Error(error))
    } else {
        Err(DecodeError::Unexpected(name.to_string()))
    }
}

/// An `AuthenticateMessage`: the pid of the client (framework or agent)
/// being authenticated.
pub fn decode_authenticate(message: &Message) -> Result<Upid, DecodeError> {
    let m: AuthenticateMessage = parse(message)?;
    m.pid.parse::<Upid>().map_err(|e| DecodeError::Malformed {
        name: message.name.clone(),
        reason: e.to_string(),
    })
}

/// Whether `name` is `AuthenticateMessage`'s.
pub fn is_authenticate(name: &str) -> bool {
    name == AuthenticateMessage::full_name()
}

/// An encoded message: its type name and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub name: String,
    pub body: Vec<u8>,
}

impl Outbound {
    pub fn of<M: prost::Message + Name>(message: &M) -> Outbound {
        Outbound {
            name: M::full_name(),
            body: message.encode_to_vec(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use prost::Message as _;

    fn message(name: String, body: Vec<u8>) -> Message {
        Message {
            from: "a@127.0.0.1:1".parse().unwrap(),
            to: "b".into(),
            name,
            body: Bytes::from(body),
        }
    }

    #[test]
    fn oversized_and_garbage_bodies_are_refused() {
        let big = message(
            AuthenticationStepMessage::full_name(),
            vec![0; MAX_BODY + 1],
        );
        assert!(matches!(decode_server(&big), Err(DecodeError::TooLarge(_))));
        let garbage = message(AuthenticationStartMessage::full_name(), vec![0xff, 0xff]);
        assert!(matches!(
            decode_server(&garbage),
            Err(DecodeError::Malformed { .. })
        ));
        let other = message("mesos.internal.Nope".into(), vec![]);
        assert!(matches!(
            decode_server(&other),
            Err(DecodeError::Unexpected(_))
        ));
        let bad_pid = message(
            AuthenticateMessage::full_name(),
            AuthenticateMessage {
                pid: "no-at-sign".into(),
            }
            .encode_to_vec(),
        );
        assert!(decode_authenticate(&bad_pid).is_err());
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        let m = message(
            AuthenticationErrorMessage::full_name(),
            AuthenticationErrorMessage {
                error: Some("é".repeat(MAX_ERROR)),
            }
            .encode_to_vec(),
        );
        match decode_client(&m).unwrap() {
            ClientInbound::Error(e) => assert!(e.len() <= MAX_ERROR),
            other => panic!("unexpected {other:?}"),
        }
    }
}
