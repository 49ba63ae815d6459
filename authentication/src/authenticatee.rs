//! The client's side of one exchange (upstream's
//! `CRAMMD5Authenticatee`): ask the master to authenticate a pid, pick
//! CRAM-MD5 from the offered mechanisms, answer the challenge.
//!
//! Owns one attempt's state. Never does I/O and never retries; the agent
//! and the driver decide when to try again.

use mesos_proto::mesos::internal::{
    AuthenticateMessage, AuthenticationStartMessage, AuthenticationStepMessage,
};

use crate::cram_md5::{self, MECHANISM};
use crate::messages::{ClientInbound, Outbound};
use crate::Credential;

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutcome {
    Authenticated,
    /// The master refused our credential (`AuthenticationFailedMessage`).
    Refused,
    /// A protocol error, an error from the master, or a timeout.
    Error(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Starting,
    Stepping,
    Done,
}

/// What one input produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTurn {
    /// Reply to the sender of the input.
    Reply(Outbound),
    Done(ClientOutcome),
}

/// One attempt.
pub struct Authenticatee {
    credential: Credential,
    status: Status,
}

impl std::fmt::Debug for Authenticatee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticatee")
            .field("principal", &self.credential.principal)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Authenticatee {
    pub fn new(credential: Credential) -> Authenticatee {
        Authenticatee {
            credential,
            status: Status::Starting,
        }
    }

    /// The first message, sent to the master: authenticate `client`.
    pub fn authenticate(client: &libprocess::Upid) -> Outbound {
        Outbound::of(&AuthenticateMessage {
            pid: client.to_string(),
        })
    }

    /// Handles a message from the authenticator.
    pub fn receive(&mut self, inbound: ClientInbound) -> ClientTurn {
        let outcome = match (self.status, inbound) {
            (Status::Done, _) => return ClientTurn::Done(ClientOutcome::Error("ended".into())),
            (_, ClientInbound::Failed) => ClientOutcome::Refused,
            (_, ClientInbound::Error(error)) => {
                ClientOutcome::Error(format!("Authentication error: {error}"))
            }
            (Status::Starting, ClientInbound::Mechanisms(mechanisms)) => {
                if mechanisms.iter().any(|m| m == MECHANISM) {
                    self.status = Status::Stepping;
                    return ClientTurn::Reply(Outbound::of(&AuthenticationStartMessage {
                        mechanism: MECHANISM.to_string(),
                        data: Some(Vec::new()),
                    }));
                }
                ClientOutcome::Error("failed to identify a compatible mechanism".into())
            }
            (Status::Stepping, ClientInbound::Step(challenge)) => {
                if challenge.is_empty() {
                    ClientOutcome::Error("challenge data may not be empty".into())
                } else if let Some(response) = cram_md5::response(
                    &self.credential.principal,
                    &self.credential.secret,
                    &challenge,
                ) {
                    return ClientTurn::Reply(Outbound::of(&AuthenticationStepMessage {
                        data: response,
                    }));
                } else {
                    ClientOutcome::Error("failed to compute the CRAM-MD5 response".into())
                }
            }
            (Status::Stepping, ClientInbound::Completed) => ClientOutcome::Authenticated,
            (_, ClientInbound::Mechanisms(_)) => {
                ClientOutcome::Error("Unexpected authentication 'mechanisms' received".into())
            }
            (_, ClientInbound::Step(_)) => {
                ClientOutcome::Error("Unexpected authentication 'step' received".into())
            }
            (_, ClientInbound::Completed) => {
                ClientOutcome::Error("Unexpected authentication 'completed' received".into())
            }
        };
        self.status = Status::Done;
        ClientTurn::Done(outcome)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::authenticator::{Authenticator, Outcome};
    use crate::messages::ServerInbound;
    use crate::Credentials;
    use prost::Message as _;
    use std::sync::Arc;

    fn client(secret: &str) -> Authenticatee {
        Authenticatee::new(Credential {
            principal: "tim".into(),
            secret: secret.as_bytes().to_vec(),
        })
    }

    /// Runs both state machines against each other.
    fn exchange(secret: &str) -> (ClientOutcome, Option<Outcome>) {
        let credentials = Arc::new(Credentials::parse("tim tanstaaftanstaaf").unwrap());
        let mut server = Authenticator::new(credentials, b"<1.2@h>".to_vec());
        let mut client = client(secret);
        let mechanisms = mesos_proto::mesos::internal::AuthenticationMechanismsMessage::decode(
            Authenticator::mechanisms().body.as_slice(),
        )
        .unwrap();
        let ClientTurn::Reply(start) =
            client.receive(ClientInbound::Mechanisms(mechanisms.mechanisms))
        else {
            panic!("no start")
        };
        let start = AuthenticationStartMessage::decode(start.body.as_slice()).unwrap();
        let challenge = server.receive(ServerInbound::Start {
            mechanism: start.mechanism,
            data: start.data.unwrap_or_default(),
        });
        let challenge = AuthenticationStepMessage::decode(challenge.reply.body.as_slice()).unwrap();
        let ClientTurn::Reply(step) = client.receive(ClientInbound::Step(challenge.data)) else {
            panic!("no step")
        };
        let step = AuthenticationStepMessage::decode(step.body.as_slice()).unwrap();
        let done = server.receive(ServerInbound::Step { data: step.data });
        let inbound = if done.outcome == Some(Outcome::Refused) {
            ClientInbound::Failed
        } else {
            ClientInbound::Completed
        };
        match client.receive(inbound) {
            ClientTurn::Done(outcome) => (outcome, done.outcome),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn both_ends_agree() {
        assert_eq!(
            exchange("tanstaaftanstaaf"),
            (
                ClientOutcome::Authenticated,
                Some(Outcome::Authenticated("tim".into()))
            )
        );
        assert_eq!(
            exchange("nope"),
            (ClientOutcome::Refused, Some(Outcome::Refused))
        );
    }

    #[test]
    fn unexpected_messages_end_the_attempt() {
        let mut c = client("x");
        assert!(matches!(
            c.receive(ClientInbound::Step(b"<1@h>".to_vec())),
            ClientTurn::Done(ClientOutcome::Error(_))
        ));
        let mut c = client("x");
        assert!(matches!(
            c.receive(ClientInbound::Mechanisms(vec!["PLAIN".into()])),
            ClientTurn::Done(ClientOutcome::Error(_))
        ));
        let mut c = client("x");
        assert!(matches!(
            c.receive(ClientInbound::Error("No authenticator loaded".into())),
            ClientTurn::Done(ClientOutcome::Error(_))
        ));
    }
}
