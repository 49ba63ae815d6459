//! Which master endpoints are in which HTTP authentication realm, and the
//! authenticators `--authenticate_http_*` install (upstream's realms and
//! route assignment).
//!
//! Owns the path → realm table only; libprocess applies it to every route
//! in one place, so handlers never check credentials themselves. A route
//! missing from the table is read-write: an endpoint added later is
//! protected by default, never left open by omission.

use std::sync::Arc;

use libprocess::authentication::{Authentication, BasicAuthenticator, Credentials, RealmOf};

use crate::flags::Flags;

pub const READONLY_REALM: &str = "mesos-master-readonly";
pub const READWRITE_REALM: &str = "mesos-master-readwrite";
pub const FRAMEWORK_REALM: &str = "mesos-master-scheduler";

/// The realm of `route` of process `process_id`; `None` is never
/// authenticated.
pub fn realm_of(process_id: &str, route: &str) -> Option<&'static str> {
    match (process_id, route) {
        ("master", "/api/v1/scheduler") => Some(FRAMEWORK_REALM),
        // The web UI's static files are served to anyone, as upstream's
        // `provide`d assets are; the data they load is authenticated.
        ("master", "/health" | "/redirect" | "/" | "/app" | "/assets") => None,
        (
            "master",
            "/state"
            | "/state.json"
            | "/state-summary"
            | "/frameworks"
            | "/slaves"
            | "/tasks"
            | "/tasks.json"
            | "/roles"
            | "/roles.json"
            | "/flags"
            | "/allocator/explain"
            | "/maintenance/status",
        ) => Some(READONLY_REALM),
        ("version", _) | ("__processes__", _) => None,
        ("metrics", _) | ("files", _) => Some(READONLY_REALM),
        _ => Some(READWRITE_REALM),
    }
}

/// The authentication the flags ask for. `Err` when they cannot be
/// enforced (no credentials, an authenticator other than `basic`).
pub fn from_flags(flags: &Flags) -> Result<Authentication, String> {
    let wanted: Vec<(&str, &str, &str)> = [
        (
            flags.authenticate_http_readonly,
            READONLY_REALM,
            flags.http_authenticators.as_str(),
            "http_authenticators",
        ),
        (
            flags.authenticate_http_readwrite,
            READWRITE_REALM,
            flags.http_authenticators.as_str(),
            "http_authenticators",
        ),
        (
            flags.authenticate_http_frameworks,
            FRAMEWORK_REALM,
            flags.http_framework_authenticators.as_deref().unwrap_or(""),
            "http_framework_authenticators",
        ),
    ]
    .into_iter()
    .filter(|(on, ..)| *on)
    .map(|(_, realm, names, flag)| (realm, names, flag))
    .collect();
    // A credentials file is read even when no realm uses it yet, so a bad
    // path is found at start, as upstream finds it.
    let credentials = match &flags.credentials {
        Some(path) => Some(
            Credentials::from_path(path)
                .map_err(|e| format!("Failed to load --credentials: {e}"))?,
        ),
        None => None,
    };
    let table: RealmOf = Arc::new(realm_of);
    let mut authentication = Authentication::new(table);
    if flags.authenticate_http_frameworks && flags.http_framework_authenticators.is_none() {
        return Err(
            "Missing `--http_framework_authenticators` flag. This must be used in \
                    conjunction with `--authenticate_http_frameworks`"
                .to_string(),
        );
    }
    if let Some(names) = flags
        .http_framework_authenticators
        .as_deref()
        .filter(|n| *n != "basic")
    {
        return Err(format!(
            "Flag '--http_framework_authenticators={names}' is not supported: only the \
             'basic' HTTP authenticator is implemented"
        ));
    }
    if let Some(acls) = &flags.acls {
        authentication = authentication.with_authorization(authorize_endpoints(acls)?);
    }
    for (realm, names, flag) in wanted {
        if names != "basic" {
            return Err(format!(
                "Flag '--{flag}={names}' is not supported: only the 'basic' HTTP \
                 authenticator is implemented"
            ));
        }
        let Some(credentials) = &credentials else {
            return Err(format!(
                "No credentials provided for the default 'basic' HTTP authenticator for \
                 realm '{realm}' (--{} needs --credentials)",
                enabling_flag(realm)
            ));
        };
        authentication = authentication.with(
            realm,
            Arc::new(BasicAuthenticator::new(realm, credentials.clone())),
        );
    }
    Ok(authentication)
}

/// The endpoints `get_endpoints` ACLs govern on the master (upstream's
/// authorizable endpoints), by libprocess process and route.
fn authorizable_endpoint(process_id: &str, route: &str) -> Option<&'static str> {
    match (process_id, route) {
        ("metrics", "/snapshot") => Some("/metrics/snapshot"),
        ("files", "/debug") => Some("/files/debug"),
        ("logging", "/toggle") => Some("/logging/toggle"),
        _ => None,
    }
}

/// `--acls` as an endpoint check. Only `get_endpoints` is enforced so far:
/// any other kind, or `permissive: false` (which would deny every action
/// no ACL grants), refuses to start rather than be ignored.
fn authorize_endpoints(flag: &str) -> Result<libprocess::authentication::Authorize, String> {
    let acls = mesos_authorizer::Acls::from_flag(flag).map_err(|e| format!("--acls: {e}"))?;
    if let Some(kind) = acls.kinds().find(|k| *k != "get_endpoints") {
        return Err(format!(
            "Flag '--acls' with '{kind}' ACLs is not supported: only 'get_endpoints' is \
             enforced by this build; refusing to start rather than ignore them"
        ));
    }
    if !acls.permissive {
        return Err(
            "Flag '--acls' with \"permissive\": false is not supported: it governs \
                    every action, and only 'get_endpoints' is enforced by this build"
                .to_string(),
        );
    }
    let acls = Arc::new(acls);
    Ok(Arc::new(
        move |principal, process_id, route| match authorizable_endpoint(process_id, route) {
            Some(path) => {
                acls.allowed("get_endpoints", principal.map(|p| p.0.as_str()), Some(path))
            }
            None => true,
        },
    ))
}

fn enabling_flag(realm: &str) -> &'static str {
    match realm {
        READONLY_REALM => "authenticate_http_readonly",
        READWRITE_REALM => "authenticate_http_readwrite",
        _ => "authenticate_http_frameworks",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realms_follow_upstream() {
        assert_eq!(realm_of("master", "/state"), Some(READONLY_REALM));
        assert_eq!(realm_of("master", "/teardown"), Some(READWRITE_REALM));
        assert_eq!(realm_of("master", "/api/v1"), Some(READWRITE_REALM));
        assert_eq!(
            realm_of("master", "/api/v1/scheduler"),
            Some(FRAMEWORK_REALM)
        );
        assert_eq!(realm_of("master", "/health"), None);
        assert_eq!(realm_of("metrics", "/snapshot"), Some(READONLY_REALM));
        assert_eq!(realm_of("version", "/"), None);
        // Unknown routes are protected, not open.
        assert_eq!(realm_of("master", "/something-new"), Some(READWRITE_REALM));
    }
}
