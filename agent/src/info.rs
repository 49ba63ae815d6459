//! What the agent tells the master and operators about itself: `SlaveInfo`
//! (hostname, port, resources, attributes) and [`build_info`] (the one
//! source of the version facts in `/version`, `/state` and `GET_VERSION`).
//!
//! Owns resource detection (upstream `Containerizer::resources`): anything
//! `--resources` does not name gets a default — cpus from the machine, mem =
//! total − 1 GB (half when under 2 GB), disk = size of the `--work_dir`
//! filesystem − 5 GB (half when under 10 GB), ports `[31000-32000]` — and
//! parsing of `--attributes` (`rack:r1;zone:z`). Reads the machine, never the
//! network.

use std::path::Path;

use mesos_proto::mesos::value::{Range, Ranges, Scalar, Set, Text, Type as ValueType};
use mesos_proto::mesos::{Attribute, SlaveInfo};
use mesos_proto::resources::Resources;

use crate::error::AgentError;

const GB_IN_MB: u64 = 1024;
pub const DEFAULT_PORTS: &str = "[31000-32000]";

/// The agent's total resources: `--resources` plus detected defaults.
pub fn detect_resources(
    flag: Option<&str>,
    default_role: &str,
    work_dir: &Path,
) -> Result<Resources, AgentError> {
    let text = flag.unwrap_or("");
    let mut resources = if text.trim().is_empty() {
        Resources::new()
    } else {
        Resources::parse(text, default_role)
            .map_err(|e| AgentError::Flag(format!("Failed to parse --resources: {e}")))?
    };
    // Like upstream, a name mentioned anywhere in the flag suppresses its default.
    let mentioned = |name: &str| text.contains(name);
    let mut defaults = Vec::new();
    if !mentioned("cpus") {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        defaults.push(format!("cpus:{cpus}"));
    }
    if !mentioned("mem") {
        let total_mb = total_memory_mb().unwrap_or(2 * GB_IN_MB);
        let mem = if total_mb >= 2 * GB_IN_MB {
            total_mb - GB_IN_MB
        } else {
            total_mb / 2
        };
        defaults.push(format!("mem:{mem}"));
    }
    if !mentioned("disk") {
        let total_mb = filesystem_size_mb(work_dir).unwrap_or(10 * GB_IN_MB);
        let disk = if total_mb >= 10 * GB_IN_MB {
            total_mb - 5 * GB_IN_MB
        } else {
            total_mb / 2
        };
        defaults.push(format!("disk:{disk}"));
    }
    if !mentioned("ports") {
        defaults.push(format!("ports:{DEFAULT_PORTS}"));
    }
    if !defaults.is_empty() {
        let parsed = Resources::parse(&defaults.join(";"), default_role)
            .map_err(|e| AgentError::Flag(format!("Failed to build default resources: {e}")))?;
        resources += parsed;
    }
    Ok(resources)
}

/// `MemTotal` from `/proc/meminfo`, in MB.
fn total_memory_mb() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Total size of the filesystem holding `path` (creating nothing), in MB.
fn filesystem_size_mb(path: &Path) -> Option<u64> {
    // The work dir may not exist yet; measure its nearest existing ancestor.
    let existing = path.ancestors().find(|p| p.exists())?;
    let stat = nix::sys::statvfs::statvfs(existing).ok()?;
    let bytes = (stat.blocks() as u64).saturating_mul(stat.fragment_size() as u64);
    Some(bytes / (1024 * 1024))
}

/// Parses `--attributes`: `name:value;...` where a value is a scalar, ranges
/// (`[1-10,20-30]`), a set (`{a,b}`) or text.
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, AgentError> {
    let mut out = Vec::new();
    for token in text.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        let (name, value) = token.split_once(':').ok_or_else(|| {
            AgentError::Flag(format!(
                "Invalid attribute '{token}': expecting 'name:value'"
            ))
        })?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(AgentError::Flag(format!(
                "Invalid attribute '{token}': empty name"
            )));
        }
        out.push(parse_attribute(name, value)?);
    }
    Ok(out)
}

fn parse_attribute(name: &str, value: &str) -> Result<Attribute, AgentError> {
    let bad = |why: &str| AgentError::Flag(format!("Invalid attribute '{name}:{value}': {why}"));
    let mut attribute = Attribute {
        name: name.to_string(),
        ..Default::default()
    };
    if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        let mut ranges = Vec::new();
        for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (begin, end) = part
                .split_once('-')
                .ok_or_else(|| bad("expecting 'begin-end'"))?;
            let begin: u64 = begin.trim().parse().map_err(|_| bad("bad range bound"))?;
            let end: u64 = end.trim().parse().map_err(|_| bad("bad range bound"))?;
            if begin > end {
                return Err(bad("range begin is greater than its end"));
            }
            ranges.push(Range { begin, end });
        }
        attribute.r#type = ValueType::Ranges as i32;
        attribute.ranges = Some(Ranges { range: ranges });
    } else if let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
        let item = inner
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        attribute.r#type = ValueType::Set as i32;
        attribute.set = Some(Set { item });
    } else if let Some(number) = value.parse::<f64>().ok().filter(|v| v.is_finite()) {
        attribute.r#type = ValueType::Scalar as i32;
        attribute.scalar = Some(Scalar { value: number });
    } else {
        attribute.r#type = ValueType::Text as i32;
        attribute.text = Some(Text {
            value: value.to_string(),
        });
    }
    Ok(attribute)
}

/// This machine's name (used when `--hostname` is unset and lookups are on).
pub fn local_hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
}

/// Builds the `SlaveInfo` sent in `RegisterSlaveMessage`: resources in the
/// pre-reservation-refinement format, as upstream's `downgradeResources`.
#[allow(deprecated)] // `SlaveInfo.checkpoint` is deprecated but upstream still sets it.
pub fn slave_info(
    hostname: String,
    port: u16,
    resources: &Resources,
    attributes: Vec<Attribute>,
) -> SlaveInfo {
    let resources = resources
        .to_pre_refinement()
        .iter()
        .map(mesos_proto::convert::devolve)
        .collect();
    SlaveInfo {
        hostname,
        port: Some(i32::from(port)),
        resources,
        attributes,
        id: None,
        domain: None,
        checkpoint: Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_defaults_for_missing_resources() {
        let dir = tempfile::tempdir().unwrap();
        let r = detect_resources(None, "*", dir.path()).unwrap();
        assert!(r.scalar("cpus") >= 1.0);
        assert!(r.scalar("mem") > 0.0);
        assert!(r.scalar("disk") > 0.0);
        assert_eq!(r.ports(), vec![(31000, 32000)]);
    }

    #[test]
    fn flag_resources_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let r =
            detect_resources(Some("cpus:2;mem:1024;ports:[5000-5010]"), "*", dir.path()).unwrap();
        assert_eq!(r.scalar("cpus"), 2.0);
        assert_eq!(r.scalar("mem"), 1024.0);
        assert_eq!(r.ports(), vec![(5000, 5010)]);
        assert!(r.scalar("disk") > 0.0, "disk still detected");
        assert!(detect_resources(Some("cpus:abc"), "*", dir.path()).is_err());
    }

    #[test]
    fn parses_attributes_of_every_type() {
        let attrs =
            parse_attributes("rack:r1;zone:z;level:3.5;ports:[1-10,20-30];tags:{a,b}").unwrap();
        assert_eq!(attrs.len(), 5);
        assert_eq!(attrs[0].r#type, ValueType::Text as i32);
        assert_eq!(attrs[0].text.as_ref().unwrap().value, "r1");
        assert_eq!(attrs[2].r#type, ValueType::Scalar as i32);
        assert_eq!(attrs[2].scalar.unwrap().value, 3.5);
        assert_eq!(attrs[3].ranges.as_ref().unwrap().range.len(), 2);
        assert_eq!(attrs[4].set.as_ref().unwrap().item, vec!["a", "b"]);
        assert!(parse_attributes("novalue").is_err());
        assert!(parse_attributes("r:[5-1]").is_err());
    }

    #[test]
    fn slave_info_uses_pre_refinement_resources() {
        let r = Resources::parse("cpus(role1):2;mem:10", "*").unwrap();
        let info = slave_info("h".into(), 5051, &r, vec![]);
        assert_eq!(info.port, Some(5051));
        #[allow(deprecated)]
        let roles: Vec<_> = info.resources.iter().map(|r| r.role.clone()).collect();
        assert!(roles.contains(&Some("role1".to_string())));
        assert!(roles.contains(&Some("*".to_string())));
    }
}

/// Facts about this build, as `/version` and `GET_VERSION` report them.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildInfo {
    pub version: String,
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    pub build_date: String,
    /// Seconds since the epoch.
    pub build_time: u64,
    pub build_user: String,
    pub git_sha: Option<String>,
    pub git_branch: Option<String>,
    pub git_tag: Option<String>,
}

/// This build's facts, from the workspace's shared build-info module.
pub fn build_info() -> BuildInfo {
    use stout::build_info as build;
    BuildInfo {
        version: crate::flags::MESOS_VERSION.to_string(),
        build_date: build::build_date(),
        build_time: build::build_time(),
        build_user: build::build_user().to_string(),
        git_sha: build::git_sha().map(str::to_string),
        git_branch: build::git_branch().map(str::to_string),
        git_tag: build::git_tag().map(str::to_string),
    }
}
