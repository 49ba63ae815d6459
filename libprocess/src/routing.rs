//! libprocess request routing as pure functions (checklist §0).
//!
//! Owns: turning a request path into (process id, route, remaining path) by
//! the upstream rules (`ProcessManager::handle`, `ProcessBase::consume`):
//! the first segment names a process (percent-decoded); an unknown process or
//! `/` is delegated to `/<delegate><path>`; the longest route prefix wins
//! (`/a/b/c` → `/a/b` → `/a`); a trailing `/` (and empty segments) is ignored;
//! any path containing `/..` is not found. Also splits message paths
//! (`/<receiver id>/<message name>`) and decodes query strings.
//!
//! Never does I/O or looks at methods/headers; the server decides what is a
//! message and what is an HTTP request.

/// Where an HTTP request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The (decoded) id of the process owning the route, e.g. `master`.
    pub process_id: String,
    /// The matched route in normalized form (`/state`, `/api/v1/scheduler`,
    /// or `/` for a process's root route).
    pub route: String,
    /// Whatever followed the route, normalized: `""` or `/x/y`.
    pub remaining: String,
}

/// Normalizes a route or path: drop empty segments (so trailing and doubled
/// `/` vanish) and keep a single leading `/`. The root is `/`.
pub fn normalize_route(path: &str) -> String {
    let tokens: Vec<&str> = tokenize(path);
    format!("/{}", tokens.join("/"))
}

fn tokenize(path: &str) -> Vec<&str> {
    path.split('/').filter(|t| !t.is_empty()).collect()
}

/// Routes `path` (the URL path without the query).
///
/// `is_known(id)` says whether a process with that id exists (routes or a
/// message channel registered); `has_route(id, route)` whether that process
/// has the normalized `route`. Returns `None` for "404 Not Found".
pub fn route(
    path: &str,
    delegate: &str,
    is_known: impl Fn(&str) -> bool,
    has_route: impl Fn(&str, &str) -> bool,
) -> Option<RouteMatch> {
    // Relative paths are never served (upstream: `find("/..")` → 404).
    if path.contains("/..") || !path.starts_with('/') {
        return None;
    }
    let tokens = tokenize(path);

    // Pick the receiving process and the tokens after its id.
    let (process_id, rest): (String, &[&str]) = match tokens.split_first() {
        Some((first, rest)) => match percent_decode(first) {
            Some(id) if is_known(&id) => (id, rest),
            _ => (delegate.to_string(), &tokens[..]),
        },
        None => (delegate.to_string(), &[]),
    };
    if process_id.is_empty() || !is_known(&process_id) {
        return None;
    }

    // Longest prefix first. The root route `/` only matches an empty rest,
    // as upstream's dirname loop never reaches "" from a non-empty name.
    if rest.is_empty() {
        return has_route(&process_id, "/").then(|| RouteMatch {
            process_id,
            route: "/".to_string(),
            remaining: String::new(),
        });
    }
    for n in (1..=rest.len()).rev() {
        let candidate = format!("/{}", rest[..n].join("/"));
        if has_route(&process_id, &candidate) {
            let remaining = if n == rest.len() {
                String::new()
            } else {
                format!("/{}", rest[n..].join("/"))
            };
            return Some(RouteMatch {
                process_id,
                route: candidate,
                remaining,
            });
        }
    }
    None
}

/// The path as the delegating process sees it: unchanged when its first
/// segment names a known process, else prefixed with `/<delegate>` (the
/// root becomes `/<delegate>`). Firewall rules compare this path, so a
/// rule for `/master/state` also covers `/state`. The path is not
/// normalized: a rule names an endpoint exactly as clients spell it.
pub fn delegated_path(path: &str, delegate: &str, is_known: impl Fn(&str) -> bool) -> String {
    match tokenize(path).first() {
        None => format!("/{delegate}"),
        Some(first) if percent_decode(first).is_some_and(|id| is_known(&id)) => path.to_string(),
        Some(_) => format!("/{delegate}{path}"),
    }
}

/// Splits a message path `/<receiver id>/<name>` into the percent-decoded
/// receiver id and the (raw) message name. The name may be empty (upstream
/// still delivers such a message). `None` if the path does not start with
/// `/` or the id is not valid percent-encoding.
pub fn message_target(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix('/')?;
    let (id, name) = match rest.split_once('/') {
        Some((id, name)) => (id, name),
        None => (rest, ""),
    };
    Some((percent_decode(id)?, name.to_string()))
}

/// Decodes `%XX` escapes and `+` (as a space), like stout's `http::decode`.
/// `None` on a malformed escape or a result that is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex_value(*bytes.get(i + 1)?)?;
                let lo = hex_value(*bytes.get(i + 2)?)?;
                out.push(hi * 16 + lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a query string like upstream's `http::query::decode`: pairs are
/// separated by `&` or `;`, split at the first `=` (a key without `=` gets
/// ""), keys and values percent-decoded. Malformed pairs are skipped rather
/// than failing the whole request. Order and duplicates are kept.
pub fn decode_query(query: &str) -> Vec<(String, String)> {
    query
        .split(['&', ';'])
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    /// A process table: master (delegate) and slave(1) with some routes,
    /// `metrics` with `/snapshot`, and `scheduler-1` known only for messages.
    fn table() -> HashMap<&'static str, HashSet<&'static str>> {
        let mut t = HashMap::new();
        t.insert(
            "master",
            [
                "/state",
                "/api/v1/scheduler",
                "/api/v1",
                "/maintenance/schedule",
                "/health",
            ]
            .into_iter()
            .collect(),
        );
        t.insert("slave(1)", ["/state", "/", "/api/v1/executor"].into());
        t.insert("metrics", ["/snapshot"].into());
        t.insert("scheduler-1", HashSet::new());
        t
    }

    fn r(path: &str) -> Option<(String, String, String)> {
        r_with(path, "master")
    }

    fn r_with(path: &str, delegate: &str) -> Option<(String, String, String)> {
        let t = table();
        route(
            path,
            delegate,
            |id| t.contains_key(id),
            |id, route| t.get(id).is_some_and(|r| r.contains(route)),
        )
        .map(|m| (m.process_id, m.route, m.remaining))
    }

    fn m(p: &str, route: &str, rest: &str) -> Option<(String, String, String)> {
        Some((p.to_string(), route.to_string(), rest.to_string()))
    }

    #[test]
    fn explicit_process_prefix() {
        assert_eq!(r("/master/state"), m("master", "/state", ""));
        assert_eq!(r("/metrics/snapshot"), m("metrics", "/snapshot", ""));
        assert_eq!(r("/slave(1)/state"), m("slave(1)", "/state", ""));
    }

    #[test]
    fn unknown_first_segment_is_delegated() {
        assert_eq!(r("/state"), m("master", "/state", ""));
        assert_eq!(r("/api/v1/scheduler"), m("master", "/api/v1/scheduler", ""));
        assert_eq!(r_with("/state", "slave(1)"), m("slave(1)", "/state", ""));
        // The delegate's own id is known, so both forms reach it.
        assert_eq!(
            r("/master/api/v1/scheduler"),
            m("master", "/api/v1/scheduler", "")
        );
    }

    #[test]
    fn root_goes_to_delegate_root_route() {
        assert_eq!(r("/"), None, "master has no `/` route");
        assert_eq!(r(""), None);
        assert_eq!(r_with("/", "slave(1)"), m("slave(1)", "/", ""));
        assert_eq!(r("/slave(1)"), m("slave(1)", "/", ""));
        assert_eq!(r("/slave(1)/"), m("slave(1)", "/", ""));
    }

    #[test]
    fn root_route_does_not_catch_sub_paths() {
        assert_eq!(r("/slave(1)/nope"), None);
    }

    #[test]
    fn longest_prefix_wins() {
        assert_eq!(r("/master/api/v1"), m("master", "/api/v1", ""));
        assert_eq!(
            r("/master/api/v1/scheduler/x/y"),
            m("master", "/api/v1/scheduler", "/x/y")
        );
        assert_eq!(r("/master/api/v1/other"), m("master", "/api/v1", "/other"));
        assert_eq!(r("/api/v1/other/z"), m("master", "/api/v1", "/other/z"));
        assert_eq!(r("/master/api"), None);
        assert_eq!(
            r("/maintenance/schedule"),
            m("master", "/maintenance/schedule", "")
        );
    }

    #[test]
    fn trailing_and_doubled_slashes_are_ignored() {
        assert_eq!(r("/master/state/"), m("master", "/state", ""));
        assert_eq!(r("/state/"), m("master", "/state", ""));
        assert_eq!(r("//master//state//"), m("master", "/state", ""));
    }

    #[test]
    fn percent_encoded_process_id() {
        assert_eq!(r("/slave%281%29/state"), m("slave(1)", "/state", ""));
        assert_eq!(r("/slave%281)/state"), m("slave(1)", "/state", ""));
        // A malformed escape is not a known process: delegated, then 404.
        assert_eq!(r("/slave%2/state"), None);
    }

    #[test]
    fn dot_dot_is_not_found() {
        assert_eq!(r("/master/../state"), None);
        assert_eq!(r("/.."), None);
        assert_eq!(r("/master/state/.."), None);
        assert_eq!(r("/master/..state"), None);
        // A `..` not preceded by `/` is not a relative path.
        assert_eq!(
            r("/master/state.."),
            None,
            "no such route, but not rejected early"
        );
    }

    #[test]
    fn unknown_routes_are_not_found() {
        assert_eq!(r("/master/nope"), None);
        assert_eq!(r("/nope"), None);
        assert_eq!(r("/metrics"), None);
        // Known for messages only: no routes at all.
        assert_eq!(r("/scheduler-1/anything"), None);
        // The delegate is not registered at all.
        assert_eq!(r_with("/state", "ghost"), None);
        assert_eq!(r_with("/", ""), None);
    }

    #[test]
    fn relative_or_weird_paths_are_not_found() {
        assert_eq!(r("*"), None);
        assert_eq!(r("state"), None);
    }

    #[test]
    fn normalizes_routes() {
        assert_eq!(normalize_route("/api/v1/"), "/api/v1");
        assert_eq!(normalize_route("api//v1"), "/api/v1");
        assert_eq!(normalize_route("/"), "/");
        assert_eq!(normalize_route(""), "/");
    }

    #[test]
    fn message_targets() {
        assert_eq!(
            message_target("/master/mesos.internal.RegisterSlaveMessage"),
            Some((
                "master".to_string(),
                "mesos.internal.RegisterSlaveMessage".to_string()
            ))
        );
        assert_eq!(
            message_target("/slave%281%29/mesos.internal.RunTaskMessage"),
            Some((
                "slave(1)".to_string(),
                "mesos.internal.RunTaskMessage".to_string()
            ))
        );
        assert_eq!(
            message_target("/executor(1)/a/b"),
            Some(("executor(1)".to_string(), "a/b".to_string()))
        );
        assert_eq!(
            message_target("/master"),
            Some(("master".to_string(), String::new()))
        );
        assert_eq!(message_target("master/x"), None);
        assert_eq!(message_target("/ma%zzster/x"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%E2%9C%93").as_deref(), Some("\u{2713}"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%g0"), None);
        assert_eq!(percent_decode("%FF"), None, "not UTF-8");
    }

    #[test]
    fn query_decoding() {
        assert_eq!(
            decode_query("path=%2Ftmp%2Fx&offset=0;length=10&flag&&a=b=c"),
            vec![
                ("path".to_string(), "/tmp/x".to_string()),
                ("offset".to_string(), "0".to_string()),
                ("length".to_string(), "10".to_string()),
                ("flag".to_string(), String::new()),
                ("a".to_string(), "b=c".to_string()),
            ]
        );
        assert_eq!(
            decode_query("bad=%zz&ok=1"),
            vec![("ok".to_string(), "1".to_string())]
        );
        assert!(decode_query("").is_empty());
    }

    #[test]
    fn firewall_paths_are_seen_after_delegation() {
        let known = |id: &str| id == "master" || id == "metrics";
        assert_eq!(delegated_path("/", "master", known), "/master");
        assert_eq!(delegated_path("/state", "master", known), "/master/state");
        assert_eq!(
            delegated_path("/master/state", "master", known),
            "/master/state"
        );
        assert_eq!(
            delegated_path("/metrics/snapshot", "master", known),
            "/metrics/snapshot"
        );
        assert_eq!(delegated_path("/state/", "master", known), "/master/state/");
        assert_eq!(
            delegated_path("/nobody/x", "master", known),
            "/master/nobody/x"
        );
    }
}
