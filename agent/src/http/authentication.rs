//! Which agent endpoints are in which HTTP authentication realm, and the
//! authenticators `--authenticate_http_readonly`/`_readwrite`/`_executors`
//! install: `basic` with `--http_credentials`, `jwt` with
//! `--jwt_secret_key`, per `--http_authenticators` (upstream's realms,
//! route assignment and defaults).
//!
//! Owns the path → realm table only; libprocess applies it to every route
//! in one place. A route missing from the table is read-write, so an
//! endpoint added later is protected by default.

use std::sync::Arc;

use libprocess::authentication::{
    Authentication, Authenticator, BasicAuthenticator, CombinedAuthenticator, Credentials, RealmOf,
};
use mesos_authentication::jwt::{JwtAuthenticator, SecretKey};

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
            // Authenticated with `--authenticate_http_executors`.
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

/// `--http_authenticators`, or upstream's default for the flags given.
fn authenticator_names(flags: &Flags) -> Result<Vec<&str>, String> {
    let names = match &flags.http_authenticators {
        Some(names) => names.as_str(),
        None if flags.authenticate_http_executors => "basic,jwt",
        None => "basic",
    };
    let names: Vec<&str> = names.split(',').filter(|n| !n.is_empty()).collect();
    if let Some(module) = names.iter().find(|n| !matches!(**n, "basic" | "jwt")) {
        return Err(format!(
            "Flag '--http_authenticators={}' is not supported: '{module}' is a module, and \
             modules are not loaded by this build (the built-in 'basic' and 'jwt' are)",
            flags.http_authenticators.as_deref().unwrap_or_default()
        ));
    }
    Ok(names)
}

/// The authenticator of `realm`: one, or several combined in order
/// (upstream's `initializeHttpAuthenticators`).
fn realm_authenticator(
    realm: &str,
    flag: &str,
    names: &[&str],
    credentials: Option<&Credentials>,
    key: Option<&SecretKey>,
) -> Result<Arc<dyn Authenticator>, String> {
    if names.is_empty() {
        return Err(format!(
            "No HTTP authenticators specified for realm '{realm}'"
        ));
    }
    let mut authenticators: Vec<Arc<dyn Authenticator>> = Vec::with_capacity(names.len());
    for name in names {
        let authenticator: Arc<dyn Authenticator> = match *name {
            "basic" => match credentials {
                Some(credentials) => Arc::new(BasicAuthenticator::new(realm, credentials.clone())),
                None => {
                    return Err(format!(
                        "Failed to create HTTP authenticator module 'basic': No credentials \
                         provided for the default 'basic' HTTP authenticator for realm '{realm}' \
                         (--{flag} needs --http_credentials)"
                    ))
                }
            },
            _ => match key {
                Some(key) => Arc::new(JwtAuthenticator::new(realm, key.clone())),
                None => {
                    return Err(format!(
                        "Failed to create HTTP authenticator module 'jwt': No secret key \
                         provided for the default 'jwt' HTTP authenticator for realm '{realm}' \
                         (--{flag} needs --jwt_secret_key)"
                    ))
                }
            },
        };
        authenticators.push(authenticator);
    }
    if authenticators.len() == 1 {
        return Ok(authenticators.remove(0));
    }
    Ok(Arc::new(CombinedAuthenticator::new(authenticators)))
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
    let names = authenticator_names(flags)?;
    let key = crate::agent::executor_secret_key(flags)?;
    let table: RealmOf = Arc::new(realm_of);
    let mut authentication = Authentication::new(table);
    if authorizer.acls().is_some() {
        authentication = authentication.with_authorization(authorize_endpoints(authorizer));
    }
    // Upstream's order, so the first failing realm is the one named.
    for (on, realm, flag) in [
        (
            flags.authenticate_http_executors,
            EXECUTOR_REALM,
            "authenticate_http_executors",
        ),
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
    ] {
        if on {
            let authenticator =
                realm_authenticator(realm, flag, &names, credentials.as_ref(), key.as_ref())?;
            authentication = authentication.with(realm, authenticator);
        }
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
#[allow(clippy::unwrap_used)]
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

    fn flags(extra: &[&str]) -> Flags {
        let mut args = vec![
            "mesos-agent",
            "--master=127.0.0.1:5050",
            "--work_dir=/tmp/x",
        ];
        args.extend_from_slice(extra);
        stout::flags::load(args).unwrap()
    }

    #[test]
    fn http_authenticators_default_as_upstream() {
        assert_eq!(authenticator_names(&flags(&[])).unwrap(), ["basic"]);
        assert_eq!(
            authenticator_names(&flags(&["--authenticate_http_executors"])).unwrap(),
            ["basic", "jwt"]
        );
        assert_eq!(
            authenticator_names(&flags(&[
                "--authenticate_http_executors",
                "--http_authenticators=jwt"
            ]))
            .unwrap(),
            ["jwt"]
        );
        let module = flags(&["--http_authenticators=basic,my_module"]);
        let refused = authenticator_names(&module).unwrap_err();
        assert!(refused.contains("'my_module' is a module"), "{refused}");
    }
}
