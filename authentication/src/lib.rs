//! SASL CRAM-MD5 authentication of v0 frameworks and agents, one copy for
//! the master (authenticator) and for agents and scheduler drivers
//! (authenticatee), speaking upstream's `mesos.internal.Authenticat*`
//! messages:
//!
//! ```text
//! authenticatee                        master / authenticator session
//!   AuthenticateMessage{pid} ───────▶  master
//!                           ◀───────   AuthenticationMechanismsMessage
//!   AuthenticationStartMessage ─────▶  session
//!                           ◀───────   AuthenticationStepMessage(challenge)
//!   AuthenticationStepMessage ──────▶  session
//!                           ◀───────   Completed | Failed | Error
//! ```
//!
//! Modules:
//! - [`cram_md5`]: the mechanism (challenge, response, verification).
//! - [`messages`]: decoding the exchange's messages, bounded in size.
//! - [`authenticator`]: the server's state machine (no I/O).
//! - [`authenticatee`]: the client's state machine (no I/O).
//! - [`session`]: both state machines run as libprocess processes.
//! - [`jwt`]: HS256 tokens for executors and their `Bearer` authenticator.
//!
//! Owns the exchange only. Never decides what an authenticated principal
//! may do, never logs a secret, and never panics on what a peer sends.

pub mod authenticatee;
pub mod authenticator;
pub mod cram_md5;
pub mod jwt;
pub mod messages;
pub mod session;

pub use authenticatee::{Authenticatee, ClientOutcome};
pub use authenticator::{Authenticator, Outcome};
pub use libprocess::authentication::Credentials;

use std::sync::atomic::{AtomicU64, Ordering};

/// A principal and its secret (upstream's `Credential`), for the
/// authenticatee. `Debug` shows the principal only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub principal: String,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Failed to read credential file '{path}': {reason}")]
    ReadCredential { path: String, reason: String },
    #[error("Empty credential file '{0}'")]
    EmptyCredential(String),
    #[error("Failed to parse credential file '{path}': {reason}")]
    ParseCredential { path: String, reason: String },
}

impl Credential {
    /// Parses an agent's `--credential` file as upstream reads it: JSON
    /// `{"principal": …, "secret": …}` or text `principal secret` (the first
    /// line that has words).
    pub fn parse(text: &str, path: &str) -> Result<Credential, Error> {
        let parse_error = |reason: String| Error::ParseCredential {
            path: path.to_string(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(Error::EmptyCredential(path.to_string()));
        }
        if trimmed.starts_with('{') {
            let value: serde_json::Value =
                serde_json::from_str(trimmed).map_err(|e| parse_error(e.to_string()))?;
            let principal = value
                .get("principal")
                .and_then(|p| p.as_str())
                .filter(|p| !p.is_empty())
                .ok_or_else(|| parse_error("expected a string 'principal'".to_string()))?;
            let secret = match value.get("secret") {
                None => "",
                Some(s) => s
                    .as_str()
                    .ok_or_else(|| parse_error("'secret' must be a string".to_string()))?,
            };
            return Ok(Credential {
                principal: principal.to_string(),
                secret: secret.as_bytes().to_vec(),
            });
        }
        let line = trimmed
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(principal), Some(secret), None) => Ok(Credential {
                principal: principal.to_string(),
                secret: secret.as_bytes().to_vec(),
            }),
            _ => Err(parse_error(
                "Invalid credential format: expecting 'principal secret'".to_string(),
            )),
        }
    }

    /// Reads a credential file (a `file://` prefix is allowed).
    pub fn from_path(path: &str) -> Result<Credential, Error> {
        let path = path.strip_prefix("file://").unwrap_or(path);
        let text = std::fs::read_to_string(path).map_err(|e| Error::ReadCredential {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        Credential::parse(&text, path)
    }
}

/// A process id unique in this process, as libprocess's `ID::generate`
/// makes them: `prefix(N)`.
pub fn generate_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}({})", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn credential_file_formats() {
        let json = Credential::parse(r#"{"principal":"agent","secret":"s3"}"#, "f").unwrap();
        assert_eq!(json.principal, "agent");
        assert_eq!(json.secret, b"s3");
        let text = Credential::parse("\n agent  s3 \n", "f").unwrap();
        assert_eq!(text, json);
        assert!(matches!(
            Credential::parse("  \n", "f"),
            Err(Error::EmptyCredential(_))
        ));
        assert!(Credential::parse("one two three", "f").is_err());
        assert!(Credential::parse(r#"{"secret":"x"}"#, "f").is_err());
        assert!(!format!("{json:?}").contains("s3"));
    }

    #[test]
    fn ids_are_unique() {
        assert_ne!(generate_id("x"), generate_id("x"));
    }
}
