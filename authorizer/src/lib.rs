//! Mesos's local authorizer (`--authorizers=local`, `--acls`): upstream's
//! ACL JSON decoded into typed rules, and the decision for one request as
//! upstream's local authorizer makes it (first ACL whose subject and object
//! both match decides; none matching falls back to `permissive`).
//!
//! Owns parsing and evaluation only. Never knows where an action is
//! enforced; components ask [`Acls::allowed`] with the action and the
//! request's subject and object. Kinds this build does not enforce yet are
//! reported by [`Acls::kinds`], so a component can refuse to start rather
//! than accept ACLs it would ignore.

use std::collections::BTreeMap;

mod request;

pub use request::{task_info_user, Action, Approver, Authorizer, Object};

/// One side of an ACL (upstream's `ACL.Entity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entity {
    Any,
    None,
    /// Listed values (upstream's default type, `SOME`).
    Some(Vec<String>),
}

impl Entity {
    fn parse(value: &serde_json::Value, at: &str) -> Result<Entity, String> {
        let object = value
            .as_object()
            .ok_or_else(|| format!("Invalid ACL entity at '{at}': expecting an object"))?;
        for key in object.keys() {
            if key != "type" && key != "values" {
                return Err(format!(
                    "Invalid ACL entity at '{at}': unknown field '{key}'"
                ));
            }
        }
        match object.get("type").map(|t| t.as_str()) {
            Some(Some("ANY")) => return Ok(Entity::Any),
            Some(Some("NONE")) => return Ok(Entity::None),
            Some(Some("SOME")) | None => {}
            Some(_) => {
                return Err(format!(
                    "Invalid ACL entity at '{at}': 'type' must be ANY, NONE or SOME"
                ))
            }
        }
        let values = match object.get("values") {
            None => Vec::new(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        format!("Invalid ACL entity at '{at}': 'values' must be strings")
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(format!(
                    "Invalid ACL entity at '{at}': 'values' must be an array"
                ))
            }
        };
        Ok(Entity::Some(values))
    }
}

/// One rule: who (subject) may act on what (object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub subject: Entity,
    pub object: Entity,
}

/// An ACL kind: its JSON key, and the field names of its subject and
/// object (upstream's `mesos/authorizer/acls.proto`).
struct Kind {
    key: &'static str,
    subject: &'static str,
    object: &'static str,
}

/// Every kind of upstream's `ACLs` message.
const KINDS: &[Kind] = &[
    Kind {
        key: "register_frameworks",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "run_tasks",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "teardown_frameworks",
        subject: "principals",
        object: "framework_principals",
    },
    Kind {
        key: "reserve_resources",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "unreserve_resources",
        subject: "principals",
        object: "reserver_principals",
    },
    Kind {
        key: "create_volumes",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "destroy_volumes",
        subject: "principals",
        object: "creator_principals",
    },
    Kind {
        key: "resize_volumes",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "get_quotas",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "update_quotas",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "view_roles",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "update_weights",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "get_endpoints",
        subject: "principals",
        object: "paths",
    },
    Kind {
        key: "view_frameworks",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "view_tasks",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "view_executors",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "access_sandboxes",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "access_mesos_logs",
        subject: "principals",
        object: "logs",
    },
    Kind {
        key: "view_flags",
        subject: "principals",
        object: "flags",
    },
    Kind {
        key: "launch_nested_containers_as_user",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "launch_nested_containers_under_parent_with_user",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "kill_nested_containers",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "wait_nested_containers",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "launch_nested_container_sessions_as_user",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "launch_nested_container_sessions_under_parent_with_user",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "attach_containers_input",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "attach_containers_output",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "view_containers",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "set_log_level",
        subject: "principals",
        object: "level",
    },
    Kind {
        key: "remove_nested_containers",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "register_agents",
        subject: "principals",
        object: "agents",
    },
    Kind {
        key: "update_maintenance_schedules",
        subject: "principals",
        object: "machines",
    },
    Kind {
        key: "get_maintenance_schedules",
        subject: "principals",
        object: "machines",
    },
    Kind {
        key: "start_maintenances",
        subject: "principals",
        object: "machines",
    },
    Kind {
        key: "stop_maintenances",
        subject: "principals",
        object: "machines",
    },
    Kind {
        key: "get_maintenance_statuses",
        subject: "principals",
        object: "machines",
    },
    Kind {
        key: "drain_agents",
        subject: "principals",
        object: "agents",
    },
    Kind {
        key: "deactivate_agents",
        subject: "principals",
        object: "agents",
    },
    Kind {
        key: "reactivate_agents",
        subject: "principals",
        object: "agents",
    },
    Kind {
        key: "mark_agents_gone",
        subject: "principals",
        object: "agents",
    },
    Kind {
        key: "launch_standalone_containers",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "kill_standalone_containers",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "wait_standalone_containers",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "remove_standalone_containers",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "view_standalone_containers",
        subject: "principals",
        object: "users",
    },
    Kind {
        key: "modify_resource_provider_configs",
        subject: "principals",
        object: "resource_providers",
    },
    Kind {
        key: "mark_resource_providers_gone",
        subject: "principals",
        object: "resource_providers",
    },
    Kind {
        key: "view_resource_providers",
        subject: "principals",
        object: "resource_providers",
    },
    Kind {
        key: "prune_images",
        subject: "principals",
        object: "images",
    },
    Kind {
        key: "create_block_disks",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "destroy_block_disks",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "create_mount_disks",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "destroy_mount_disks",
        subject: "principals",
        object: "roles",
    },
    Kind {
        key: "destroy_raw_disks",
        subject: "principals",
        object: "roles",
    },
];

/// The endpoints a `get_endpoints` ACL may list: the ones upstream's
/// master and agent ask it about. Any other path in an ACL is refused when
/// the ACLs are read, so a rule that could never apply is not mistaken for
/// protection.
pub const AUTHORIZABLE_ENDPOINTS: &[&str] = &[
    "/containers",
    "/containerizer/debug",
    "/files/debug",
    "/logging/toggle",
    "/metrics/snapshot",
    "/monitor/statistics",
];

/// Kinds whose object may only be `ANY` or `NONE` (the local authorizer
/// compares nothing of their objects, so listed values could never
/// match), with the name their refusal gives.
const ANY_OR_NONE: &[(&str, &str)] = &[
    ("access_mesos_logs", "AccessMesosLog"),
    ("view_flags", "ViewFlags"),
    ("set_log_level", "SetLogLevel"),
    ("register_agents", "RegisterAgent"),
    ("update_maintenance_schedules", "UpdateMaintenanceSchedule"),
    ("get_maintenance_schedules", "GetMaintenanceSchedule"),
    ("start_maintenances", "StartMaintenance"),
    ("stop_maintenances", "StopMaintenance"),
    ("get_maintenance_statuses", "GetMaintenanceStatus"),
    ("drain_agents", "DrainAgent"),
    ("deactivate_agents", "DeactivateAgent"),
    ("reactivate_agents", "ReactivateAgent"),
    ("launch_standalone_containers", "LaunchStandaloneContainer"),
    ("kill_standalone_containers", "KillStandaloneContainer"),
    ("wait_standalone_containers", "WaitStandaloneContainer"),
    ("remove_standalone_containers", "RemoveStandaloneContainer"),
    ("view_standalone_containers", "ViewStandaloneContainer"),
    ("mark_resource_providers_gone", "MarkResourceProvidersGone"),
    ("view_resource_providers", "ViewResourceProvider"),
    (
        "modify_resource_provider_configs",
        "ModifyResourceProviderConfig",
    ),
    ("prune_images", "PruneImages"),
];

/// The parsed `--acls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acls {
    pub permissive: bool,
    rules: BTreeMap<&'static str, Vec<Acl>>,
}

impl Default for Acls {
    fn default() -> Self {
        Acls {
            permissive: true,
            rules: BTreeMap::new(),
        }
    }
}

impl Acls {
    /// Parses upstream's ACL JSON. Unknown kinds and fields are errors, so
    /// a typo can never silently drop a rule; so are listed values for a
    /// kind that compares no object value ([`ANY_OR_NONE`]).
    pub fn parse(text: &str) -> Result<Acls, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("Failed to parse ACLs as JSON: {e}"))?;
        let object = value
            .as_object()
            .ok_or("Failed to parse ACLs: expecting a JSON object")?;
        let mut acls = Acls::default();
        for (key, value) in object {
            if key == "permissive" {
                acls.permissive = value
                    .as_bool()
                    .ok_or("Failed to parse ACLs: 'permissive' must be a boolean")?;
                continue;
            }
            if key == "fetch_endpoints" {
                // Deprecated upstream spelling, still a distinct kind there.
                return Err("ACL kind 'fetch_endpoints' is not supported".to_string());
            }
            let kind = KINDS
                .iter()
                .find(|k| k.key == key)
                .ok_or_else(|| format!("Failed to parse ACLs: unknown ACL kind '{key}'"))?;
            let items = value
                .as_array()
                .ok_or_else(|| format!("Failed to parse ACLs: '{key}' must be an array"))?;
            let mut rules = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let at = format!("{key}[{i}]");
                let fields = item
                    .as_object()
                    .ok_or_else(|| format!("Invalid ACL at '{at}': expecting an object"))?;
                for field in fields.keys() {
                    if field != kind.subject && field != kind.object {
                        return Err(format!("Invalid ACL at '{at}': unknown field '{field}'"));
                    }
                }
                let entity = |name: &str| -> Result<Entity, String> {
                    match fields.get(name) {
                        Some(v) => Entity::parse(v, &format!("{at}.{name}")),
                        None => Err(format!("Invalid ACL at '{at}': missing '{name}'")),
                    }
                };
                let object = entity(kind.object)?;
                if let (Entity::Some(_), Some((_, name))) =
                    (&object, ANY_OR_NONE.iter().find(|(k, _)| *k == kind.key))
                {
                    return Err(format!("ACL.{name} type must be either NONE or ANY"));
                }
                if let (Entity::Some(paths), "get_endpoints") = (&object, kind.key) {
                    if let Some(path) = paths
                        .iter()
                        .find(|p| !AUTHORIZABLE_ENDPOINTS.contains(&p.as_str()))
                    {
                        return Err(format!("Path: '{path}' is not an authorizable path"));
                    }
                }
                rules.push(Acl {
                    subject: entity(kind.subject)?,
                    object,
                });
            }
            acls.rules.insert(kind.key, rules);
        }
        Ok(acls)
    }

    /// `--acls` as given: inline JSON, or a path (optionally `file://`).
    pub fn from_flag(value: &str) -> Result<Acls, String> {
        let trimmed = value.trim_start();
        if trimmed.starts_with('{') {
            return Acls::parse(value);
        }
        let path = value.strip_prefix("file://").unwrap_or(value);
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("Failed to read ACLs file '{path}': {e}"))?;
        Acls::parse(&text)
    }

    /// Whether `kind` has any rules.
    pub fn has_rules(&self, kind: &str) -> bool {
        self.rules.get(kind).is_some_and(|r| !r.is_empty())
    }

    /// The ACL kinds that have rules.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.rules.keys().copied()
    }

    /// Whether `subject` (the authenticated principal, `None` when the
    /// request was not authenticated) may do `action` on `object` (`None`
    /// when the request names no object).
    pub fn allowed(&self, action: &str, subject: Option<&str>, object: Option<&str>) -> bool {
        let subject = request_entity(subject);
        let object = request_entity(object);
        for acl in self.rules.get(action).into_iter().flatten() {
            if matches(&subject, &acl.subject) && matches(&object, &acl.object) {
                return allows(&subject, &acl.subject) && allows(&object, &acl.object);
            }
        }
        self.permissive
    }
}

fn request_entity(value: Option<&str>) -> Entity {
    match value {
        Some(v) => Entity::Some(vec![v.to_string()]),
        None => Entity::Any,
    }
}

fn subset(request: &[String], acl: &[String]) -> bool {
    request.iter().all(|v| acl.contains(v))
}

/// Whether an ACL is about this request at all.
fn matches(request: &Entity, acl: &Entity) -> bool {
    match request {
        Entity::None => *acl == Entity::None,
        Entity::Any => matches!(acl, Entity::Any | Entity::None),
        Entity::Some(values) => match acl {
            Entity::Any | Entity::None => true,
            Entity::Some(acl_values) => subset(values, acl_values),
        },
    }
}

/// Whether a matching ACL grants the request.
fn allows(request: &Entity, acl: &Entity) -> bool {
    match request {
        Entity::None | Entity::Any => *acl == Entity::Any,
        Entity::Some(values) => match acl {
            Entity::Any => true,
            Entity::None => false,
            Entity::Some(acl_values) => subset(values, acl_values),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_acl_decides_and_permissive_is_the_fallback() {
        let acls = Acls::parse(
            r#"{"permissive": false,
                "get_endpoints": [
                  {"principals": {"values": ["ops"]}, "paths": {"values": ["/metrics/snapshot"]}},
                  {"principals": {"values": ["guest"]}, "paths": {"type": "NONE"}},
                  {"principals": {"type": "ANY"}, "paths": {"values": ["/files/debug"]}}
                ]}"#,
        )
        .unwrap();
        assert!(acls.allowed("get_endpoints", Some("ops"), Some("/metrics/snapshot")));
        assert!(!acls.allowed("get_endpoints", Some("guest"), Some("/metrics/snapshot")));
        assert!(!acls.allowed("get_endpoints", Some("guest"), Some("/files/debug")));
        assert!(acls.allowed("get_endpoints", Some("other"), Some("/files/debug")));
        assert!(acls.allowed("get_endpoints", None, Some("/files/debug")));
        // Nothing matches: not permissive.
        assert!(!acls.allowed("get_endpoints", Some("other"), Some("/metrics/snapshot")));
        assert!(!acls.allowed("register_frameworks", Some("ops"), Some("*")));
    }

    #[test]
    fn permissive_default_allows_unmatched_requests() {
        let acls = Acls::parse(
            r#"{"register_frameworks": [{"principals": {"values": ["a"]}, "roles": {"values": ["prod"]}}]}"#,
        )
        .unwrap();
        assert!(acls.permissive);
        assert!(acls.allowed("register_frameworks", Some("a"), Some("prod")));
        assert!(acls.allowed("register_frameworks", Some("b"), Some("dev")));
        assert!(acls.allowed("run_tasks", None, Some("root")));
        // An unauthenticated subject (ANY) is only granted by ANY.
        let any = Acls::parse(
            r#"{"permissive": false, "run_tasks": [{"principals": {"values": ["a"]}, "users": {"type": "ANY"}}]}"#,
        )
        .unwrap();
        assert!(!any.allowed("run_tasks", None, Some("root")));
        assert!(any.allowed("run_tasks", Some("a"), Some("root")));
    }

    #[test]
    fn malformed_acls_are_refused() {
        for bad in [
            "[]",
            r#"{"permissive": "no"}"#,
            r#"{"register_framework": []}"#,
            r#"{"run_tasks": [{"principals": {"values": ["a"]}}]}"#,
            r#"{"run_tasks": [{"principals": {"values": ["a"]}, "roles": {"type": "ANY"}}]}"#,
            r#"{"run_tasks": [{"principals": {"type": "SOMETIMES"}, "users": {"type": "ANY"}}]}"#,
        ] {
            assert!(Acls::parse(bad).is_err(), "{bad}");
        }
        for kind in [
            "update_maintenance_schedules",
            "get_maintenance_statuses",
            "view_flags",
        ] {
            let (_, name) = ANY_OR_NONE.iter().find(|(k, _)| *k == kind).unwrap();
            let object = KINDS.iter().find(|k| k.key == kind).unwrap().object;
            let some = format!(
                r#"{{"{kind}": [{{"principals": {{"type": "ANY"}}, "{object}": {{"values": ["h1"]}}}}]}}"#
            );
            assert_eq!(
                Acls::parse(&some),
                Err(format!("ACL.{name} type must be either NONE or ANY"))
            );
            let none = some.replace(r#"{"values": ["h1"]}"#, r#"{"type": "NONE"}"#);
            assert!(Acls::parse(&none).is_ok(), "{none}");
        }
        let ok = Acls::parse(
            r#"{"get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"type": "ANY"}}]}"#,
        )
        .unwrap();
        assert_eq!(ok.kinds().collect::<Vec<_>>(), vec!["get_endpoints"]);
        let listed = |paths: &str| {
            Acls::parse(&format!(
                r#"{{"get_endpoints": [{{"principals": {{"type": "ANY"}}, "paths": {{"values": {paths}}}}}]}}"#
            ))
        };
        assert!(listed(r#"["/metrics/snapshot", "/monitor/statistics"]"#).is_ok());
        assert_eq!(
            listed(r#"["/metrics/snapshot", "/master/state"]"#),
            Err("Path: '/master/state' is not an authorizable path".to_string())
        );
    }
}
