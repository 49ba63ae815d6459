//! Executor authentication tokens (`--jwt_secret_key`,
//! `--authenticate_http_executors`), as upstream's agent does it: every
//! executor it launches gets, in `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`, an
//! HS256 token whose claims name its framework (`fid`), executor (`eid`)
//! and container (`cid`); with `--authenticate_http_executors` the
//! executor realm only admits requests bearing a token the agent signed
//! (libprocess answers 401 otherwise), and a call is only acted on when
//! the authenticated principal's claims name exactly the call's framework
//! and executor and that executor's current container (403 otherwise).
//!
//! Owns reading the key and the claims check. Never logs a token or the
//! key; the token itself is signed and verified in
//! `mesos_authentication::jwt`.

use std::collections::BTreeMap;

use mesos_authentication::jwt::{self, SecretKey};

use super::Agent;
use crate::flags::Flags;

/// Who an executor call authenticated as, when its realm authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorPrincipal {
    /// A token's claims (the `Bearer` authenticator).
    Claims(BTreeMap<String, String>),
    /// A principal with a value and no claims (HTTP Basic).
    Value(String),
}

impl std::fmt::Display for ExecutorPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecutorPrincipal::Value(value) => f.write_str(value),
            // Claim values are the executor's own ids, not secrets.
            ExecutorPrincipal::Claims(claims) => {
                let claims = serde_json::to_string(claims).unwrap_or_default();
                write!(f, "{{\"claims\":{claims}}}")
            }
        }
    }
}

/// Reads `--jwt_secret_key`, and refuses `--authenticate_http_executors`
/// without it (both end the start, as upstream's agent exits).
pub fn secret_key(flags: &Flags) -> Result<Option<SecretKey>, String> {
    let Some(path) = &flags.jwt_secret_key else {
        if flags.authenticate_http_executors {
            return Err(
                "--jwt_secret_key must be specified when --authenticate_http_executors is \
                 set to true"
                    .to_string(),
            );
        }
        return Ok(None);
    };
    let bytes = std::fs::read(path)
        .map_err(|e| format!("Failed to read the file specified by --jwt_secret_key: {e}"))?;
    warn_if_open(path);
    Ok(Some(SecretKey::new(bytes)))
}

/// Upstream only warns when others may read the key.
fn warn_if_open(path: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    match std::fs::metadata(path) {
        Err(e) => tracing::warn!("Failed to stat jwt secret key file '{path}': {e}"),
        Ok(meta) if meta.permissions().mode() & 0o007 != 0 => tracing::warn!(
            "Permissions on executor secret key file '{path}' are too open; it is \
             recommended that your key file is NOT accessible by others"
        ),
        Ok(_) => {}
    }
}

/// The claims of the token for one executor container.
pub fn executor_claims(
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> BTreeMap<String, String> {
    [
        ("fid", framework_id),
        ("eid", executor_id),
        ("cid", container_id),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Whether `principal` may speak for executor `executor_id` of framework
/// `framework_id` running in `container_id` (upstream's
/// `verifyExecutorClaims`); `Err` is the 403 body.
pub fn verify_executor_claims(
    principal: &ExecutorPrincipal,
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> Result<(), String> {
    let claim = |name: &str| match principal {
        ExecutorPrincipal::Claims(claims) => claims.get(name).map(String::as_str),
        ExecutorPrincipal::Value(_) => None,
    };
    if claim("fid") != Some(framework_id) {
        return Err(format!(
            "Authenticated principal '{principal}' does not contain an 'fid' claim with the \
             framework ID {framework_id}, which is set in the call"
        ));
    }
    if claim("eid") != Some(executor_id) {
        return Err(format!(
            "Authenticated principal '{principal}' does not contain an 'eid' claim with the \
             executor ID {executor_id}, which is set in the call"
        ));
    }
    if claim("cid") != Some(container_id) {
        return Err(format!(
            "Authenticated principal '{principal}' does not contain a 'cid' claim with the \
             correct active ContainerID"
        ));
    }
    Ok(())
}

impl Agent {
    /// The token for an executor about to launch in `container_id`, when
    /// the agent has a key (`--jwt_secret_key`, with or without
    /// `--authenticate_http_executors`, as upstream).
    pub(crate) fn executor_token(
        &self,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
    ) -> Option<String> {
        let key = self.executor_secret.as_ref()?;
        Some(jwt::create(
            &executor_claims(framework_id, executor_id, container_id),
            key,
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::new(b"agent key".to_vec())
    }

    fn claims_of(token: &str) -> ExecutorPrincipal {
        ExecutorPrincipal::Claims(jwt::verify(token, &key(), 0).unwrap())
    }

    #[test]
    fn executor_token_names_framework_executor_and_container() {
        let token = jwt::create(&executor_claims("f-1", "e-1", "c-1"), &key());
        let principal = claims_of(&token);
        assert_eq!(
            verify_executor_claims(&principal, "f-1", "e-1", "c-1"),
            Ok(())
        );
    }

    #[test]
    fn another_executors_token_is_forbidden() {
        let token = jwt::create(&executor_claims("f-1", "e-2", "c-2"), &key());
        let principal = claims_of(&token);
        let why = verify_executor_claims(&principal, "f-1", "e-1", "c-1").unwrap_err();
        assert!(
            why.contains("does not contain an 'eid' claim with the executor ID e-1"),
            "{why}"
        );
        let why = verify_executor_claims(&principal, "f-2", "e-2", "c-2").unwrap_err();
        assert!(
            why.contains("'fid' claim with the framework ID f-2"),
            "{why}"
        );
        // The same executor relaunched in a new container: the old token is stale.
        let why = verify_executor_claims(&principal, "f-1", "e-2", "c-3").unwrap_err();
        assert!(
            why.contains("'cid' claim with the correct active ContainerID"),
            "{why}"
        );
    }

    #[test]
    fn basic_principal_cannot_speak_for_an_executor() {
        let principal = ExecutorPrincipal::Value("ops".into());
        let why = verify_executor_claims(&principal, "f-1", "e-1", "c-1").unwrap_err();
        assert_eq!(
            why,
            "Authenticated principal 'ops' does not contain an 'fid' claim with the \
             framework ID f-1, which is set in the call"
        );
    }
}
