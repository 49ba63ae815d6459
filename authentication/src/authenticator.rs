//! The server's side of one exchange (upstream's
//! `CRAMMD5AuthenticatorSession`): offer the mechanisms, answer START with
//! a challenge, check the response of the STEP that follows.
//!
//! Owns one session's state. Never does I/O: each input yields the message
//! to send back and, once the exchange ended, its [`Outcome`]. A message
//! out of order or malformed ends the session with an error, as Cyrus SASL
//! does (`SASL_BADPROT`), never with a panic.

use std::sync::Arc;

use mesos_proto::mesos::internal::{
    AuthenticationCompletedMessage, AuthenticationErrorMessage, AuthenticationFailedMessage,
    AuthenticationMechanismsMessage, AuthenticationStepMessage,
};

use crate::cram_md5::{self, MECHANISM};
use crate::messages::{Outbound, ServerInbound};
use crate::Credentials;

/// How an exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The client proved it holds this principal's secret.
    Authenticated(String),
    /// Unknown principal or wrong secret (`AuthenticationFailedMessage`).
    Refused,
    /// A protocol error (`AuthenticationErrorMessage`), or the session was
    /// discarded or timed out.
    Error(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Starting,
    Stepping,
    Done,
}

/// One server session.
pub struct Authenticator {
    credentials: Arc<Credentials>,
    challenge: Vec<u8>,
    status: Status,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// What one input produced: a message for the client and, when the
/// exchange is over, how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub reply: Outbound,
    pub outcome: Option<Outcome>,
}

impl Turn {
    fn error(message: impl Into<String>) -> Turn {
        let error = message.into();
        Turn {
            reply: Outbound::of(&AuthenticationErrorMessage {
                error: Some(error.clone()),
            }),
            outcome: Some(Outcome::Error(error)),
        }
    }
}

impl Authenticator {
    /// A session that will send `challenge` (see [`cram_md5::challenge`]).
    pub fn new(credentials: Arc<Credentials>, challenge: Vec<u8>) -> Authenticator {
        Authenticator {
            credentials,
            challenge,
            status: Status::Starting,
        }
    }

    /// The first message of the session, sent when it is created.
    pub fn mechanisms() -> Outbound {
        Outbound::of(&AuthenticationMechanismsMessage {
            mechanisms: vec![MECHANISM.to_string()],
        })
    }

    /// Whether the exchange is over (nothing more will be accepted).
    pub fn is_done(&self) -> bool {
        self.status == Status::Done
    }

    /// Ends the session with an error (a message that did not decode).
    pub fn fail(&mut self, error: String) -> Turn {
        self.status = Status::Done;
        Turn::error(error)
    }

    /// Handles a message from the client.
    pub fn receive(&mut self, inbound: ServerInbound) -> Turn {
        let turn = match (self.status, inbound) {
            (Status::Done, _) => Turn::error("Authentication already ended"),
            (Status::Starting, ServerInbound::Start { mechanism, data }) => {
                if mechanism != MECHANISM {
                    Turn::error(format!(
                        "Unsupported mechanism '{}'",
                        mechanism.chars().take(64).collect::<String>()
                    ))
                } else if !data.is_empty() {
                    Turn::error("CRAM-MD5 does not accept initial data")
                } else {
                    self.status = Status::Stepping;
                    return Turn {
                        reply: Outbound::of(&AuthenticationStepMessage {
                            data: self.challenge.clone(),
                        }),
                        outcome: None,
                    };
                }
            }
            (Status::Starting, ServerInbound::Step { .. }) => {
                Turn::error("Unexpected authentication 'step' received")
            }
            (Status::Stepping, ServerInbound::Start { .. }) => {
                Turn::error("Unexpected authentication 'start' received")
            }
            (Status::Stepping, ServerInbound::Step { data }) => self.verify(&data),
        };
        self.status = Status::Done;
        turn
    }

    fn verify(&self, data: &[u8]) -> Turn {
        let response = match cram_md5::parse_response(data) {
            Ok(response) => response,
            Err(error) => return Turn::error(error.to_string()),
        };
        // An unknown principal is checked against an empty secret so both
        // refusals cost the same.
        let (known, secret) = match self.credentials.secret(response.principal) {
            Some(secret) => (true, secret),
            None => (false, &[][..]),
        };
        if response.verify(secret, &self.challenge) && known {
            Turn {
                reply: Outbound::of(&AuthenticationCompletedMessage {}),
                outcome: Some(Outcome::Authenticated(response.principal.to_string())),
            }
        } else {
            Turn {
                reply: Outbound::of(&AuthenticationFailedMessage {}),
                outcome: Some(Outcome::Refused),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prost::Name;

    const CHALLENGE: &[u8] = b"<1896.697170952@postoffice.reston.mci.net>";

    fn authenticator() -> Authenticator {
        let credentials = Credentials::parse("tim tanstaaftanstaaf\nbob secret\n").unwrap();
        Authenticator::new(Arc::new(credentials), CHALLENGE.to_vec())
    }

    fn start() -> ServerInbound {
        ServerInbound::Start {
            mechanism: MECHANISM.into(),
            data: vec![],
        }
    }

    #[test]
    fn rfc2195_exchange_completes() {
        let mut a = authenticator();
        let challenge = a.receive(start());
        assert_eq!(challenge.reply.name, AuthenticationStepMessage::full_name());
        assert_eq!(challenge.outcome, None);
        let done = a.receive(ServerInbound::Step {
            data: b"tim b913a602c7eda7a495b4e6e7334d3890".to_vec(),
        });
        assert_eq!(done.reply.name, AuthenticationCompletedMessage::full_name());
        assert_eq!(done.outcome, Some(Outcome::Authenticated("tim".into())));
        assert!(a.is_done());
        // Nothing is accepted after the end.
        let again = a.receive(start());
        assert!(matches!(again.outcome, Some(Outcome::Error(_))));
    }

    #[test]
    fn wrong_secret_and_unknown_principal_are_refused() {
        for response in [
            cram_md5::response("tim", b"wrong", CHALLENGE).unwrap(),
            cram_md5::response("eve", b"", CHALLENGE).unwrap(),
            cram_md5::response("bob", b"tanstaaftanstaaf", CHALLENGE).unwrap(),
        ] {
            let mut a = authenticator();
            a.receive(start());
            let done = a.receive(ServerInbound::Step { data: response });
            assert_eq!(done.reply.name, AuthenticationFailedMessage::full_name());
            assert_eq!(done.outcome, Some(Outcome::Refused));
        }
    }

    #[test]
    fn malformed_steps_are_errors() {
        let bad_steps: Vec<Vec<u8>> = vec![
            vec![],
            b"tim".to_vec(),
            b"tim zz13a602c7eda7a495b4e6e7334d3890".to_vec(),
            vec![0xff; 40],
            vec![b'a'; 100_000],
        ];
        for data in bad_steps {
            let mut a = authenticator();
            a.receive(start());
            let done = a.receive(ServerInbound::Step { data });
            assert_eq!(done.reply.name, AuthenticationErrorMessage::full_name());
            assert!(matches!(done.outcome, Some(Outcome::Error(_))));
        }
    }

    #[test]
    fn out_of_order_and_unsupported_starts_are_errors() {
        let mut a = authenticator();
        let step_first = a.receive(ServerInbound::Step { data: vec![] });
        assert!(matches!(step_first.outcome, Some(Outcome::Error(_))));

        let mut a = authenticator();
        let plain = a.receive(ServerInbound::Start {
            mechanism: "PLAIN".into(),
            data: vec![],
        });
        assert!(matches!(plain.outcome, Some(Outcome::Error(_))));

        let mut a = authenticator();
        let initial = a.receive(ServerInbound::Start {
            mechanism: MECHANISM.into(),
            data: b"x".to_vec(),
        });
        assert!(matches!(initial.outcome, Some(Outcome::Error(_))));

        let mut a = authenticator();
        a.receive(start());
        let twice = a.receive(start());
        assert!(matches!(twice.outcome, Some(Outcome::Error(_))));
    }
}
