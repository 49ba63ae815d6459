//! Which agent endpoints are in which HTTP authentication realm, and the
//! authenticators `--authenticate_http_readonly`/`_readwrite` install with
//! `--http_credentials` (upstream's realms and route assignment).
//!
//! Owns the path → realm table only; libprocess applies it to every route
//! in one place. A route missing from the table is read-write, so an
//! endpoint added later is protected by default.

use std::sync::Arc;

use libprocess::authentication::{Authentication, BasicAuthenticator, Credentials, RealmOf};

use crate::agent::AGENT_ID;
use crate::flags::Flags;

pub const READONLY_REALM: &str = "mesos-agent-readonly";
pub const READWRITE_REALM: &str = "mesos-agent-readwrite";
pub const EXECUTOR_REALM: &str = "mesos-agent-executor";

/// The realm of `route` of process `process_id`; `None` is never
/// authenticated.
pub fn realm_of(process_id: &str, route: &str) -> Option<&'static str> {
    if process_id == AGENT_ID {
        return match route {
            "/health" => None,
            // Executor authentication (tokens) is not implemented and its
            // flag refuses to start, so this realm never has an authenticator.
            "/api/v1/executor" => Some(EXECUTOR_REALM),
            "/state"
            | "/state.json"
            | "/flags"
            | "/monitor/statistics"
            | "/monitor/statistics.json"
            | "/containers"
            | "/containerizer/debug" => Some(READONLY_REALM),
            _ => Some(READWRITE_REALM),
        };
    }
    match process_id {
        "version" | "__processes__" => None,
        "metrics" | "files" => Some(READONLY_REALM),
        _ => Some(READWRITE_REALM),
    }
}

/// The authentication the flags ask for; `Err` when it cannot be enforced.
pub fn from_flags(
    flags: &Flags,
    authorizer: Arc<mesos_authorizer::Authorizer>,
) -> Result<Authentication, String> {
    // A credentials file is read even when no realm uses it yet, so a bad
    // path is found at start.
    let credentials = match &flags.http_credentials {
        Some(path) => Some(
            Credentials::from_path(path)
                .map_err(|e| format!("Failed to load --http_credentials: {e}"))?,
        ),
        None => None,
    };
    let table: RealmOf = Arc::new(realm_of);
    let mut authentication = Authentication::new(table);
    if authorizer.acls().is_some() {
        authentication = authentication.with_authorization(authorize_endpoints(authorizer));
    }
    let realms: Vec<(&str, &str)> = [
        (
            flags.authenticate_http_readonly,
            READONLY_REALM,
            "authenticate_http_readonly",
        ),
        (
            flags.authenticate_http_readwrite,
            READWRITE_REALM,
            "authenticate_http_readwrite",
        ),
    ]
    .into_iter()
    .filter_map(|(on, realm, flag)| on.then_some((realm, flag)))
    .collect();
    if realms.is_empty() {
        return Ok(authentication);
    }
    if flags.http_authenticators != "basic" {
        return Err(format!(
            "Flag '--http_authenticators={}' is not supported: only the 'basic' HTTP \
             authenticator is implemented",
            flags.http_authenticators
        ));
    }
    let Some(credentials) = credentials else {
        return Err(format!(
            "No credentials provided for the default 'basic' HTTP authenticator for realm \
             '{}' (--{} needs --http_credentials)",
            realms[0].0, realms[0].1
        ));
    };
    for (realm, _) in realms {
        authentication = authentication.with(
            realm,
            Arc::new(BasicAuthenticator::new(realm, credentials.clone())),
        );
    }
    Ok(authentication)
}

/// The agent endpoints `get_endpoints` ACLs govern (upstream's
/// authorizable endpoints), by libprocess process and route.
fn authorizable_endpoint(process_id: &str, route: &str) -> Option<&'static str> {
    match (process_id, route) {
        ("metrics", "/snapshot") => Some("/metrics/snapshot"),
        ("files", "/debug") => Some("/files/debug"),
        ("logging", "/toggle") => Some("/logging/toggle"),
        (AGENT_ID, "/monitor/statistics" | "/monitor/statistics.json") => {
            Some("/monitor/statistics")
        }
        (AGENT_ID, "/containers") => Some("/containers"),
        (AGENT_ID, "/containerizer/debug") => Some("/containerizer/debug"),
        _ => None,
    }
}

/// `get_endpoints` as libprocess's per-route check.
fn authorize_endpoints(
    authorizer: Arc<mesos_authorizer::Authorizer>,
) -> libprocess::authentication::Authorize {
    Arc::new(move |principal, process_id, route| {
        authorizer.may_get_endpoint(
            principal.map(|p| p.0.as_str()),
            authorizable_endpoint(process_id, route),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realms_follow_upstream() {
        assert_eq!(realm_of(AGENT_ID, "/state"), Some(READONLY_REALM));
        assert_eq!(realm_of(AGENT_ID, "/api/v1"), Some(READWRITE_REALM));
        assert_eq!(realm_of(AGENT_ID, "/health"), None);
        assert_eq!(realm_of("files", "/browse"), Some(READONLY_REALM));
        assert_eq!(realm_of("version", "/"), None);
        assert_eq!(realm_of(AGENT_ID, "/new-endpoint"), Some(READWRITE_REALM));
    }
}
