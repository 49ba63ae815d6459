//! Which master endpoints are in which HTTP authentication realm, and the
//! authenticators `--authenticate_http_*` install (upstream's realms and
//! route assignment).
//!
//! Also builds the master's authorizer from `--acls`, refusing kinds it
//! could not enforce, and installs its `get_endpoints` check per route.
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
pub fn from_flags(
    flags: &Flags,
    authorizer: Arc<mesos_authorizer::Authorizer>,
) -> Result<Authentication, String> {
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
    if authorizer.acls().is_some() {
        authentication = authentication.with_authorization(authorize_endpoints(authorizer));
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

/// ACL kinds of upstream's that govern actions this master never takes
/// (agent containers, resource providers, images, disks): accepted, as
/// upstream's master accepts them, since nothing here could ignore them.
const AGENT_ONLY_KINDS: &[&str] = &[
    "access_sandboxes",
    "access_mesos_logs",
    "launch_nested_containers_as_user",
    "launch_nested_containers_under_parent_with_user",
    "kill_nested_containers",
    "wait_nested_containers",
    "launch_nested_container_sessions_as_user",
    "launch_nested_container_sessions_under_parent_with_user",
    "attach_containers_input",
    "attach_containers_output",
    "view_containers",
    "remove_nested_containers",
    "launch_standalone_containers",
    "kill_standalone_containers",
    "wait_standalone_containers",
    "remove_standalone_containers",
    "view_standalone_containers",
    "modify_resource_provider_configs",
    "mark_resource_providers_gone",
    "view_resource_providers",
    "prune_images",
    "create_block_disks",
    "destroy_block_disks",
    "create_mount_disks",
    "destroy_mount_disks",
    "destroy_raw_disks",
];

/// `--acls` as the master's authorizer. Every kind is enforced where
/// upstream's master checks it, or governs nothing the master does.
pub fn authorizer_from_flags(flags: &Flags) -> Result<mesos_authorizer::Authorizer, String> {
    let authorizer = mesos_authorizer::Authorizer::from_flag(flags.acls.as_deref())?;
    if let Some(kind) = authorizer
        .acls()
        .into_iter()
        .flat_map(|a| a.kinds())
        .find(|k| !MASTER_KINDS.contains(k) && !AGENT_ONLY_KINDS.contains(k))
    {
        return Err(format!(
            "Flag '--acls' with '{kind}' ACLs is not supported by this build; refusing to \
             start rather than ignore them"
        ));
    }
    Ok(authorizer)
}

/// The kinds the master enforces.
const MASTER_KINDS: &[&str] = &[
    "register_frameworks",
    "run_tasks",
    "teardown_frameworks",
    "reserve_resources",
    "unreserve_resources",
    "create_volumes",
    "destroy_volumes",
    "resize_volumes",
    "get_quotas",
    "update_quotas",
    "view_roles",
    "update_weights",
    "get_endpoints",
    "view_frameworks",
    "view_tasks",
    "view_executors",
    "view_flags",
    "set_log_level",
    "register_agents",
    "update_maintenance_schedules",
    "get_maintenance_schedules",
    "start_maintenances",
    "stop_maintenances",
    "get_maintenance_statuses",
    "drain_agents",
    "deactivate_agents",
    "reactivate_agents",
    "mark_agents_gone",
];

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
