//! The master's command line, read the way stout reads it: `--name=value`,
//! `--bool_flag` / `--no-bool_flag`, every flag also from `MESOS_<NAME>`, and
//! `--name=file:///path` meaning "the value is in that file" (those
//! conventions live in [`stout::flags`]).
//!
//! Owns the master's flag list, defaults and validation, and their `/flags`
//! text form. It never starts anything.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::net::IpAddr;

use clap::{ArgAction, Parser};
use stout::flags::{boolean, duration, fetch, ip, number, string};

pub use stout::Duration;

/// The version we speak on the wire and report everywhere.
pub const MESOS_VERSION: &str = "1.11.0";

/// Flags of the master; names and defaults follow `src/master/flags.cpp`
/// (plus the logging flags it inherits). Flags that only configure features
/// we do not have are accepted at their defaults so existing command lines
/// keep working, and shown in `/flags`; security flags that ask for
/// authentication or authorization are refused (see `validate`).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "mesos-master",
    about = "Mesos master (Rust reimplementation, speaks Mesos 1.11.0)",
    rename_all = "snake_case",
    disable_version_flag = true
)]
pub struct Flags {
    /// Show version and exit.
    #[arg(long, env = "MESOS_VERSION", default_value = "false", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub version: bool,

    /// IP address to listen on.
    #[arg(long, env = "MESOS_IP", value_parser = ip)]
    pub ip: Option<IpAddr>,

    /// Port to listen on.
    #[arg(long, env = "MESOS_PORT", default_value = "5050", value_parser = number::<u16>)]
    pub port: u16,

    /// IP address advertised to reach this master.
    #[arg(long, env = "MESOS_ADVERTISE_IP", value_parser = ip)]
    pub advertise_ip: Option<IpAddr>,

    /// Port advertised to reach this master.
    #[arg(long, env = "MESOS_ADVERTISE_PORT", value_parser = number::<u16>)]
    pub advertise_port: Option<u16>,

    /// The hostname the master advertises.
    #[arg(long, env = "MESOS_HOSTNAME", value_parser = string)]
    pub hostname: Option<String>,

    /// Whether to look up the hostname when `--hostname` is not given.
    #[arg(long, env = "MESOS_HOSTNAME_LOOKUP", default_value = "true", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub hostname_lookup: bool,

    /// Path of the master work directory.
    #[arg(long, env = "MESOS_WORK_DIR", value_parser = string)]
    pub work_dir: Option<String>,

    /// Persistence strategy for the registry: `replicated_log` or `in_memory`.
    #[arg(long, env = "MESOS_REGISTRY", default_value = "replicated_log", value_parser = parse_registry)]
    pub registry: String,

    /// Size of the replicated log quorum.
    #[arg(long, env = "MESOS_QUORUM", value_parser = number::<usize>)]
    pub quorum: Option<usize>,

    /// ZooKeeper URL for leader election.
    #[arg(long, env = "MESOS_ZK", value_parser = string)]
    pub zk: Option<String>,

    /// ZooKeeper session timeout.
    #[arg(long, env = "MESOS_ZK_SESSION_TIMEOUT", default_value = "10secs", value_parser = duration)]
    pub zk_session_timeout: Duration,

    /// Human readable name for the cluster.
    #[arg(long, env = "MESOS_CLUSTER", value_parser = string)]
    pub cluster: Option<String>,

    /// Comma-separated allocation roles frameworks may use (deprecated).
    #[arg(long, env = "MESOS_ROLES", value_parser = string)]
    pub roles: Option<String>,

    /// `role=weight,role=weight`.
    #[arg(long, env = "MESOS_WEIGHTS", value_parser = string)]
    pub weights: Option<String>,

    /// Time between batch allocations.
    #[arg(long, env = "MESOS_ALLOCATION_INTERVAL", default_value = "1secs", value_parser = duration)]
    pub allocation_interval: Duration,

    /// Timeout within which an agent must answer a ping.
    #[arg(long, alias = "slave_ping_timeout", env = "MESOS_AGENT_PING_TIMEOUT",
          default_value = "15secs", value_parser = duration)]
    pub agent_ping_timeout: Duration,

    /// Missed pings before an agent is marked unreachable.
    #[arg(long, alias = "max_slave_ping_timeouts", env = "MESOS_MAX_AGENT_PING_TIMEOUTS",
          default_value = "5", value_parser = number::<usize>)]
    pub max_agent_ping_timeouts: usize,

    /// Timeout within which an agent is expected to reregister.
    #[arg(long, alias = "slave_reregister_timeout", env = "MESOS_AGENT_REREGISTER_TIMEOUT",
          default_value = "10mins", value_parser = duration)]
    pub agent_reregister_timeout: Duration,

    /// Duration before an offer is rescinded; unset means never.
    #[arg(long, env = "MESOS_OFFER_TIMEOUT", value_parser = duration)]
    pub offer_timeout: Option<Duration>,

    /// Completed frameworks kept in memory.
    #[arg(long, env = "MESOS_MAX_COMPLETED_FRAMEWORKS", default_value = "50", value_parser = number::<usize>)]
    pub max_completed_frameworks: usize,

    /// Completed tasks per framework kept in memory.
    #[arg(long, env = "MESOS_MAX_COMPLETED_TASKS_PER_FRAMEWORK", default_value = "1000",
          value_parser = number::<usize>)]
    pub max_completed_tasks_per_framework: usize,

    /// Unreachable tasks per framework kept in memory.
    #[arg(long, env = "MESOS_MAX_UNREACHABLE_TASKS_PER_FRAMEWORK", default_value = "1000",
          value_parser = number::<usize>)]
    pub max_unreachable_tasks_per_framework: usize,

    /// Maximum simultaneous operator event stream subscribers.
    #[arg(long, env = "MESOS_MAX_OPERATOR_EVENT_STREAM_SUBSCRIBERS", default_value = "1000",
          value_parser = number::<usize>)]
    pub max_operator_event_stream_subscribers: usize,

    /// Minimum allocatable resource quantities, `a:1;b:2|c:3`.
    #[arg(long, env = "MESOS_MIN_ALLOCATABLE_RESOURCES", default_value = "cpus:0.01|mem:32",
          value_parser = string)]
    pub min_allocatable_resources: String,

    /// Only offer agents with GPUs to GPU_RESOURCES frameworks.
    #[arg(long, env = "MESOS_FILTER_GPU_RESOURCES", default_value = "true", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub filter_gpu_resources: bool,

    /// Can root submit frameworks?
    #[arg(long, env = "MESOS_ROOT_SUBMISSIONS", default_value = "true", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub root_submissions: bool,

    /// Allocator implementation; only the built-in one exists.
    #[arg(long, env = "MESOS_ALLOCATOR", default_value = "hierarchical", value_parser = string)]
    pub allocator: String,

    /// Sorter between roles (`drf`).
    #[arg(long, alias = "user_sorter", env = "MESOS_ROLE_SORTER", default_value = "drf",
          value_parser = string)]
    pub role_sorter: String,

    /// Sorter between a role's frameworks (`drf`).
    #[arg(long, env = "MESOS_FRAMEWORK_SORTER", default_value = "drf", value_parser = string)]
    pub framework_sorter: String,

    /// Only frameworks that authenticated (CRAM-MD5, against `--credentials`) may register.
    #[arg(long, alias = "authenticate", env = "MESOS_AUTHENTICATE_FRAMEWORKS", default_value = "false",
          num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set,
          value_parser = boolean)]
    pub authenticate_frameworks: bool,

    /// Only agents that authenticated (CRAM-MD5, against `--credentials`) may register.
    #[arg(long, alias = "authenticate_slaves", env = "MESOS_AUTHENTICATE_AGENTS", default_value = "false",
          num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set,
          value_parser = boolean)]
    pub authenticate_agents: bool,

    /// Authenticate read-write HTTP endpoints.
    #[arg(long, alias = "authenticate_http", env = "MESOS_AUTHENTICATE_HTTP_READWRITE",
          default_value = "false", num_args = 0..=1, default_missing_value = "true",
          action = ArgAction::Set, value_parser = boolean)]
    pub authenticate_http_readwrite: bool,

    /// Authenticate read-only HTTP endpoints.
    #[arg(long, env = "MESOS_AUTHENTICATE_HTTP_READONLY", default_value = "false", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub authenticate_http_readonly: bool,

    /// Authenticate HTTP frameworks.
    #[arg(long, env = "MESOS_AUTHENTICATE_HTTP_FRAMEWORKS", default_value = "false", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub authenticate_http_frameworks: bool,

    /// Path to a credentials file.
    #[arg(long, env = "MESOS_CREDENTIALS", value_parser = string)]
    pub credentials: Option<String>,

    /// ACLs (JSON or file).
    #[arg(long, env = "MESOS_ACLS", value_parser = string)]
    pub acls: Option<String>,

    /// Authenticator implementation.
    #[arg(long, env = "MESOS_AUTHENTICATORS", default_value = "crammd5", value_parser = string)]
    pub authenticators: String,

    /// Authorizer implementation.
    #[arg(long, env = "MESOS_AUTHORIZERS", default_value = "local", value_parser = string)]
    pub authorizers: String,

    /// HTTP authenticator implementation.
    #[arg(long, env = "MESOS_HTTP_AUTHENTICATORS", default_value = "basic", value_parser = string)]
    pub http_authenticators: String,

    /// HTTP framework authenticator implementation.
    #[arg(long, env = "MESOS_HTTP_FRAMEWORK_AUTHENTICATORS", value_parser = string)]
    pub http_framework_authenticators: Option<String>,

    /// How long a v0 authentication session may take before it is discarded.
    #[arg(long, env = "MESOS_AUTHENTICATION_V0_TIMEOUT", default_value = "15secs",
          value_parser = duration)]
    pub authentication_v0_timeout: Duration,

    /// Framework rate limits (JSON or file).
    #[arg(long, env = "MESOS_RATE_LIMITS", value_parser = string)]
    pub rate_limits: Option<String>,

    /// Endpoint firewall rules (JSON or file): `disabled_endpoints` answer 403.
    #[arg(long, env = "MESOS_FIREWALL_RULES", value_parser = string)]
    pub firewall_rules: Option<String>,

    /// Agent whitelist file.
    #[arg(long, env = "MESOS_WHITELIST", value_parser = string)]
    pub whitelist: Option<String>,

    /// Modules (JSON or file).
    #[arg(long, env = "MESOS_MODULES", value_parser = string)]
    pub modules: Option<String>,

    /// Directory of module manifests.
    #[arg(long, env = "MESOS_MODULES_DIR", value_parser = string)]
    pub modules_dir: Option<String>,

    /// Hook modules.
    #[arg(long, env = "MESOS_HOOKS", value_parser = string)]
    pub hooks: Option<String>,

    /// Directory of the web UI assets.
    #[arg(long, env = "MESOS_WEBUI_DIR", default_value = "/usr/local/share/mesos/webui",
          value_parser = string)]
    pub webui_dir: String,

    /// Registry fetch timeout.
    #[arg(long, env = "MESOS_REGISTRY_FETCH_TIMEOUT", default_value = "1mins", value_parser = duration)]
    pub registry_fetch_timeout: Duration,

    /// Registry store timeout.
    #[arg(long, env = "MESOS_REGISTRY_STORE_TIMEOUT", default_value = "20secs", value_parser = duration)]
    pub registry_store_timeout: Duration,

    /// Deprecated and disabled upstream; must stay false.
    #[arg(long, env = "MESOS_REGISTRY_STRICT", default_value = "false", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub registry_strict: bool,

    /// How often to garbage collect the registry.
    #[arg(long, env = "MESOS_REGISTRY_GC_INTERVAL", default_value = "15mins", value_parser = duration)]
    pub registry_gc_interval: Duration,

    /// Maximum age of unreachable/gone agent records.
    #[arg(long, env = "MESOS_REGISTRY_MAX_AGENT_AGE", default_value = "2weeks", value_parser = duration)]
    pub registry_max_agent_age: Duration,

    /// Maximum count of unreachable/gone agent records.
    #[arg(long, env = "MESOS_REGISTRY_MAX_AGENT_COUNT", default_value = "102400", value_parser = number::<usize>)]
    pub registry_max_agent_count: usize,

    /// Automatically initialise the replicated log.
    #[arg(long, env = "MESOS_LOG_AUTO_INITIALIZE", default_value = "true", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub log_auto_initialize: bool,

    /// Limit on agents removed after a failover.
    #[arg(long, alias = "recovery_slave_removal_limit", env = "MESOS_RECOVERY_AGENT_REMOVAL_LIMIT",
          default_value = "100%", value_parser = string)]
    pub recovery_agent_removal_limit: String,

    /// Rate at which unhealthy agents are removed.
    #[arg(long, alias = "slave_removal_rate_limit", env = "MESOS_AGENT_REMOVAL_RATE_LIMIT",
          value_parser = string)]
    pub agent_removal_rate_limit: Option<String>,

    /// Only agents with a domain may register.
    #[arg(long, env = "MESOS_REQUIRE_AGENT_DOMAIN", default_value = "false", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub require_agent_domain: bool,

    /// The master's fault domain (JSON or file).
    #[arg(long, env = "MESOS_DOMAIN", value_parser = string)]
    pub domain: Option<String>,

    /// Publish per-framework metrics.
    #[arg(long, env = "MESOS_PUBLISH_PER_FRAMEWORK_METRICS", default_value = "true", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub publish_per_framework_metrics: bool,

    /// Expose memory profiling.
    #[arg(long, env = "MESOS_MEMORY_PROFILING", default_value = "false", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub memory_profiling: bool,

    /// Directory for log files.
    #[arg(long, env = "MESOS_LOG_DIR", value_parser = string)]
    pub log_dir: Option<String>,

    /// Minimum level logged (`INFO`, `WARNING`, `ERROR`).
    #[arg(long, env = "MESOS_LOGGING_LEVEL", default_value = "INFO", value_parser = parse_logging_level)]
    pub logging_level: String,

    /// Disable logging to stderr.
    #[arg(long, env = "MESOS_QUIET", default_value = "false", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub quiet: bool,

    /// An externally managed log file shown in the web UI.
    #[arg(long, env = "MESOS_EXTERNAL_LOG_FILE", value_parser = string)]
    pub external_log_file: Option<String>,

    /// Seconds logs may be buffered.
    #[arg(long, env = "MESOS_LOGBUFSECS", default_value = "0", value_parser = number::<usize>)]
    pub logbufsecs: usize,

    /// Initialise driver logging.
    #[arg(long, env = "MESOS_INITIALIZE_DRIVER_LOGGING", default_value = "true", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
    pub initialize_driver_logging: bool,
}

/// Why the command line was refused; `main` prints it and exits 1.
#[derive(Debug)]
pub enum FlagsOutcome {
    /// `--help`: print and exit 0.
    Help(String),
    /// `--version`: print and exit 0.
    Version,
    /// Invalid command line: print and exit 1.
    Invalid(String),
}

impl Flags {
    /// Parses a full argv (argv[0] included) plus the `MESOS_*` environment.
    pub fn load<I, T>(args: I) -> Result<Flags, FlagsOutcome>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let flags: Flags = stout::flags::load(args).map_err(|error| match error {
            stout::Error::Help(text) => FlagsOutcome::Help(text),
            other => FlagsOutcome::Invalid(other.to_string()),
        })?;
        if flags.version {
            return Err(FlagsOutcome::Version);
        }
        flags.validate().map_err(FlagsOutcome::Invalid)?;
        Ok(flags)
    }

    /// Cross-flag checks that upstream makes in `flags.cpp` and `main.cpp`.
    fn validate(&self) -> Result<(), String> {
        if self.agent_ping_timeout < Duration::from_secs(1)
            || self.agent_ping_timeout > Duration::from_mins(15)
        {
            return Err(
                "Expected `--agent_ping_timeout` to be between 1secs and 15mins".to_string(),
            );
        }
        if self.max_agent_ping_timeouts < 1 {
            return Err("Expected `--max_agent_ping_timeouts` to be at least 1".to_string());
        }
        if self.agent_reregister_timeout < Duration::from_mins(10) {
            return Err(format!(
                "Invalid value '{}' for --agent_reregister_timeout: Must be at least 10mins",
                self.agent_reregister_timeout
            ));
        }
        if self.registry_strict {
            return Err(
                "Support for '--registry_strict' has been disabled and will be \
                        removed in a future version of Mesos"
                    .to_string(),
            );
        }
        let zk = self.zk_url()?;
        if let Some(quorum) = self.quorum {
            if quorum < 1 {
                return Err("Expected `--quorum` to be at least 1".to_string());
            }
        }
        if zk.is_some() && self.registry == "replicated_log" && self.quorum.is_none() {
            return Err(
                "Need to specify --quorum for replicated log based registry when using ZooKeeper"
                    .to_string(),
            );
        }
        if self.zk_session_timeout <= Duration::from_nanos(0) {
            return Err("Expected `--zk_session_timeout` to be positive".to_string());
        }
        if self.registry == "replicated_log" && self.work_dir.is_none() {
            return Err("--work_dir needed for replicated log based registry".to_string());
        }
        if self.allocation_interval <= Duration::from_nanos(0) {
            return Err("Expected `--allocation_interval` to be positive".to_string());
        }
        self.parsed_weights()?;
        if let Some(limit) = &self.agent_removal_rate_limit {
            crate::master::parse_agent_removal_rate_limit(limit)?;
        }
        crate::master::recovery_removal_limit(&self.recovery_agent_removal_limit)?;
        self.refuse_unsupported_security()?;
        self.refuse_unimplemented_features()?;
        self.disabled_endpoints()?;
        libprocess::ssl::check_process_environment()?;
        Ok(())
    }

    /// HTTP Basic and v0 (CRAM-MD5) authentication are enforced; modules
    /// are not loaded, so a command line that names another authenticator
    /// or authorizer is refused, naming the flag: an operator must never
    /// believe a cluster is protected when it is not.
    fn refuse_unsupported_security(&self) -> Result<(), String> {
        let refuse = |flag: &str, value: &str| {
            Err(format!(
                "Flag '--{flag}={value}' is not supported: only the built-in 'crammd5' and \
                 'basic' authenticators and the 'local' authorizer are available; refusing to \
                 start rather than run unprotected (remove the flag or set it to its default)"
            ))
        };
        // `--authenticate_frameworks` and `--authenticate_agents` are
        // enforced with CRAM-MD5 against `--credentials` (see
        // `master::authentication`); `--credentials` is also the HTTP Basic
        // table, and `--authenticate_http_*` are enforced, see
        // `http::authentication`.
        let authorizer = crate::http::authentication::authorizer_from_flags(self)?;
        crate::http::authentication::from_flags(self, std::sync::Arc::new(authorizer))?;
        for (flag, value, default) in [
            ("authenticators", &self.authenticators, "crammd5"),
            ("authorizers", &self.authorizers, "local"),
            ("http_authenticators", &self.http_authenticators, "basic"),
        ] {
            if value != default {
                return refuse(flag, value);
            }
        }
        Ok(())
    }

    /// Flags for features this master does not have are accepted only at
    /// their defaults: set, they would be ignored, and an operator would
    /// believe the cluster behaves as they asked.
    fn refuse_unimplemented_features(&self) -> Result<(), String> {
        let refuse = |flag: &str, what: &str| {
            Err(format!(
                "Flag '--{flag}' is not supported: {what}; refusing to start rather than \
                 ignore it (remove the flag)"
            ))
        };
        for (flag, value, what) in [
            ("modules", &self.modules, "modules are not loaded"),
            ("modules_dir", &self.modules_dir, "modules are not loaded"),
            ("hooks", &self.hooks, "hook modules are not loaded"),
            (
                "rate_limits",
                &self.rate_limits,
                "framework message rate limiting is not implemented",
            ),
            (
                "whitelist",
                &self.whitelist,
                "the agent whitelist is not implemented (every agent is offered)",
            ),
        ] {
            if value.is_some() {
                return refuse(flag, what);
            }
        }
        for (flag, value) in [
            ("role_sorter", &self.role_sorter),
            ("framework_sorter", &self.framework_sorter),
        ] {
            if value != "drf" {
                return refuse(flag, "the only sorter is 'drf'");
            }
        }
        if self.memory_profiling {
            return refuse("memory_profiling", "memory profiling is not available");
        }
        Ok(())
    }

    /// The endpoints `--firewall_rules` disables (its `disabled_endpoints`
    /// rule's `paths`), empty without the flag. The value is upstream's
    /// `Firewall` message in JSON; fields it does not know are ignored, as
    /// stout's protobuf parsing ignores them.
    pub fn disabled_endpoints(&self) -> Result<HashSet<String>, String> {
        let Some(rules) = &self.firewall_rules else {
            return Ok(HashSet::new());
        };
        let invalid = |why: &str| format!("Failed to parse '--firewall_rules': {why}");
        let value: serde_json::Value =
            serde_json::from_str(rules).map_err(|e| invalid(&e.to_string()))?;
        let object = value
            .as_object()
            .ok_or_else(|| invalid("expected a JSON object"))?;
        let Some(rule) = object.get("disabled_endpoints") else {
            return Ok(HashSet::new());
        };
        let paths = match rule.as_object().map(|rule| rule.get("paths")) {
            None => return Err(invalid("'disabled_endpoints' must be an object")),
            Some(None) => return Ok(HashSet::new()),
            Some(Some(paths)) => paths
                .as_array()
                .ok_or_else(|| invalid("'disabled_endpoints.paths' must be an array"))?,
        };
        paths
            .iter()
            .map(|path| {
                path.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid("'disabled_endpoints.paths' must hold strings"))
            })
            .collect()
    }

    /// `--zk` parsed: a `zk://` URL, given directly or in a `file://`.
    pub fn zk_url(&self) -> Result<Option<mesos_detector::ZkUrl>, String> {
        let Some(zk) = &self.zk else {
            return Ok(None);
        };
        match mesos_detector::parse_master(zk) {
            Ok(mesos_detector::MasterUrl::ZooKeeper(url)) => Ok(Some(url)),
            Ok(mesos_detector::MasterUrl::Standalone(_)) => Err(format!(
                "Failed to parse --zk: expecting 'zk://[user:pass@]host:port[,host:port]/path', got '{zk}'"
            )),
            Err(e) => Err(format!("Failed to parse --zk: {e}")),
        }
    }

    /// `--weights` as a role → weight map.
    pub fn parsed_weights(&self) -> Result<BTreeMap<String, f64>, String> {
        let mut weights = BTreeMap::new();
        let Some(text) = &self.weights else {
            return Ok(weights);
        };
        for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (role, weight) = pair
                .split_once('=')
                .ok_or_else(|| format!("Invalid weight '{pair}': expecting 'role=weight'"))?;
            let weight: f64 = weight
                .trim()
                .parse()
                .map_err(|_| format!("Invalid weight '{pair}': weight is not a number"))?;
            if weight.is_nan() || weight <= 0.0 || !weight.is_finite() {
                return Err(format!("Invalid weight '{pair}': weights must be positive"));
            }
            weights.insert(role.trim().to_string(), weight);
        }
        Ok(weights)
    }

    /// `--roles` as a whitelist, if given.
    pub fn role_whitelist(&self) -> Option<Vec<String>> {
        self.roles.as_ref().map(|roles| {
            roles
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect()
        })
    }

    /// Every flag that has a value, in its stout text form, for `/flags`
    /// and the `flags` key of `/state`.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        let mut put = |name: &str, value: String| {
            map.insert(name.to_string(), value);
        };
        let opt = |value: &Option<String>| value.clone();

        put("version", self.version.to_string());
        if let Some(ip) = self.ip {
            put("ip", ip.to_string());
        }
        put("port", self.port.to_string());
        if let Some(ip) = self.advertise_ip {
            put("advertise_ip", ip.to_string());
        }
        if let Some(port) = self.advertise_port {
            put("advertise_port", port.to_string());
        }
        for (name, value) in [
            ("hostname", opt(&self.hostname)),
            ("work_dir", opt(&self.work_dir)),
            ("zk", opt(&self.zk)),
            ("cluster", opt(&self.cluster)),
            ("roles", opt(&self.roles)),
            ("weights", opt(&self.weights)),
            ("credentials", opt(&self.credentials)),
            ("acls", opt(&self.acls)),
            (
                "http_framework_authenticators",
                opt(&self.http_framework_authenticators),
            ),
            ("rate_limits", opt(&self.rate_limits)),
            ("firewall_rules", opt(&self.firewall_rules)),
            ("whitelist", opt(&self.whitelist)),
            ("modules", opt(&self.modules)),
            ("modules_dir", opt(&self.modules_dir)),
            ("hooks", opt(&self.hooks)),
            (
                "agent_removal_rate_limit",
                opt(&self.agent_removal_rate_limit),
            ),
            ("domain", opt(&self.domain)),
            ("log_dir", opt(&self.log_dir)),
            ("external_log_file", opt(&self.external_log_file)),
        ] {
            if let Some(value) = value {
                put(name, value);
            }
        }
        if let Some(quorum) = self.quorum {
            put("quorum", quorum.to_string());
        }
        if let Some(timeout) = self.offer_timeout {
            put("offer_timeout", timeout.to_string());
        }
        for (name, value) in [
            ("hostname_lookup", self.hostname_lookup),
            ("filter_gpu_resources", self.filter_gpu_resources),
            ("root_submissions", self.root_submissions),
            ("authenticate_frameworks", self.authenticate_frameworks),
            ("authenticate_agents", self.authenticate_agents),
            (
                "authenticate_http_readwrite",
                self.authenticate_http_readwrite,
            ),
            (
                "authenticate_http_readonly",
                self.authenticate_http_readonly,
            ),
            (
                "authenticate_http_frameworks",
                self.authenticate_http_frameworks,
            ),
            ("registry_strict", self.registry_strict),
            ("log_auto_initialize", self.log_auto_initialize),
            ("require_agent_domain", self.require_agent_domain),
            (
                "publish_per_framework_metrics",
                self.publish_per_framework_metrics,
            ),
            ("memory_profiling", self.memory_profiling),
            ("quiet", self.quiet),
            ("initialize_driver_logging", self.initialize_driver_logging),
        ] {
            put(name, value.to_string());
        }
        for (name, value) in [
            ("zk_session_timeout", self.zk_session_timeout),
            ("allocation_interval", self.allocation_interval),
            ("agent_ping_timeout", self.agent_ping_timeout),
            ("agent_reregister_timeout", self.agent_reregister_timeout),
            ("authentication_v0_timeout", self.authentication_v0_timeout),
            ("registry_fetch_timeout", self.registry_fetch_timeout),
            ("registry_store_timeout", self.registry_store_timeout),
            ("registry_gc_interval", self.registry_gc_interval),
            ("registry_max_agent_age", self.registry_max_agent_age),
        ] {
            put(name, value.to_string());
        }
        for (name, value) in [
            ("max_agent_ping_timeouts", self.max_agent_ping_timeouts),
            ("max_completed_frameworks", self.max_completed_frameworks),
            (
                "max_completed_tasks_per_framework",
                self.max_completed_tasks_per_framework,
            ),
            (
                "max_unreachable_tasks_per_framework",
                self.max_unreachable_tasks_per_framework,
            ),
            (
                "max_operator_event_stream_subscribers",
                self.max_operator_event_stream_subscribers,
            ),
            ("registry_max_agent_count", self.registry_max_agent_count),
            ("logbufsecs", self.logbufsecs),
        ] {
            put(name, value.to_string());
        }
        for (name, value) in [
            ("registry", &self.registry),
            ("min_allocatable_resources", &self.min_allocatable_resources),
            ("allocator", &self.allocator),
            ("role_sorter", &self.role_sorter),
            ("framework_sorter", &self.framework_sorter),
            ("authenticators", &self.authenticators),
            ("authorizers", &self.authorizers),
            ("http_authenticators", &self.http_authenticators),
            ("webui_dir", &self.webui_dir),
            (
                "recovery_agent_removal_limit",
                &self.recovery_agent_removal_limit,
            ),
            ("logging_level", &self.logging_level),
        ] {
            put(name, value.clone());
        }
        map
    }
}

fn parse_registry(value: &str) -> Result<String, stout::Error> {
    let text = fetch(value)?;
    match text.as_str() {
        "replicated_log" | "in_memory" => Ok(text),
        other => Err(stout::Error::Value(format!(
            "'{other}' is not a supported registry; use 'replicated_log' or 'in_memory'"
        ))),
    }
}

fn parse_logging_level(value: &str) -> Result<String, stout::Error> {
    let text = fetch(value)?;
    match text.as_str() {
        "INFO" | "WARNING" | "ERROR" => Ok(text),
        other => Err(stout::Error::Value(format!(
            "'{other}' is not a valid logging level. Possible values for \
             'logging_level' flag are: 'INFO', 'WARNING', 'ERROR'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(args: &[&str]) -> Result<Flags, FlagsOutcome> {
        let mut argv = vec!["mesos-master"];
        argv.extend_from_slice(args);
        Flags::load(argv)
    }

    #[test]
    fn zk_needs_quorum_with_the_replicated_log() {
        let zk = "--zk=zk://127.0.0.1:2181/mesos";
        assert!(load(&[zk, "--work_dir=/tmp/m"]).is_err());
        assert!(load(&[zk, "--work_dir=/tmp/m", "--quorum=0"]).is_err());
        let flags = load(&[zk, "--work_dir=/tmp/m", "--quorum=1"]).ok().unwrap();
        let url = flags.zk_url().unwrap().unwrap();
        assert_eq!(url.servers, "127.0.0.1:2181");
        assert_eq!(url.path, "/mesos");
        assert!(load(&[zk, "--registry=in_memory"]).is_ok());
    }

    #[test]
    fn zk_must_be_a_zookeeper_url() {
        assert!(load(&["--zk=127.0.0.1:2181", "--registry=in_memory"]).is_err());
        assert!(load(&["--zk=zk://", "--registry=in_memory"]).is_err());
        assert!(load(&["--zk=file:///nonexistent/zk", "--registry=in_memory"]).is_err());
        assert!(load(&[
            "--zk=zk://h:1/m",
            "--registry=in_memory",
            "--zk_session_timeout=0secs"
        ])
        .is_err());
    }

    #[test]
    fn defaults_follow_upstream() {
        let flags = load(&["--work_dir=/tmp/x"]).unwrap();
        assert_eq!(flags.port, 5050);
        assert_eq!(flags.allocation_interval, Duration::from_secs(1));
        assert_eq!(flags.agent_ping_timeout, Duration::from_secs(15));
        assert_eq!(flags.max_agent_ping_timeouts, 5);
        assert_eq!(flags.offer_timeout, None);
        assert_eq!(flags.max_completed_frameworks, 50);
        assert_eq!(flags.max_completed_tasks_per_framework, 1000);
        assert!(flags.hostname_lookup);
        let map = flags.to_map();
        assert_eq!(map["allocation_interval"], "1secs");
        assert_eq!(map["agent_ping_timeout"], "15secs");
        assert_eq!(map["work_dir"], "/tmp/x");
        assert!(!map.contains_key("offer_timeout"));
    }

    #[test]
    fn parses_values_and_stout_durations() {
        let flags = load(&[
            "--ip=127.0.0.1",
            "--port=5051",
            "--work_dir=/w",
            "--offer_timeout=30secs",
            "--weights=a=2,b=0.5",
            "--no-hostname_lookup",
            "--quiet",
        ])
        .unwrap();
        assert_eq!(flags.ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(flags.port, 5051);
        assert_eq!(flags.offer_timeout, Some(Duration::from_secs(30)));
        assert!(!flags.hostname_lookup);
        assert!(flags.quiet);
        let weights = flags.parsed_weights().unwrap();
        assert_eq!(weights["a"], 2.0);
        assert_eq!(weights["b"], 0.5);
    }

    #[test]
    fn dashes_in_names_are_accepted() {
        let flags = load(&["--work-dir=/w", "--allocation-interval=2secs"]).unwrap();
        assert_eq!(flags.work_dir.as_deref(), Some("/w"));
        assert_eq!(flags.allocation_interval, Duration::from_secs(2));
    }

    #[test]
    fn rejects_non_stout_duration() {
        match load(&["--work_dir=/w", "--allocation_interval=5s"]) {
            Err(FlagsOutcome::Invalid(message)) => {
                assert!(message.contains("Unknown duration unit 's'"), "{message}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_unknown_flags() {
        match load(&["--work_dir=/w", "--no_such_flag=1"]) {
            Err(FlagsOutcome::Invalid(message)) => assert!(message.contains("no_such_flag")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn requires_work_dir_for_replicated_log() {
        match load(&[]) {
            Err(FlagsOutcome::Invalid(message)) => assert!(message.contains("--work_dir")),
            other => panic!("unexpected {other:?}"),
        }
        assert!(load(&["--registry=in_memory"]).is_ok());
    }

    #[test]
    fn reads_values_from_files() {
        let dir = std::env::temp_dir().join(format!("master-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("timeout");
        std::fs::write(&file, "45secs\n").unwrap();
        let flags = load(&[
            "--work_dir=/w",
            &format!("--offer_timeout=file://{}", file.display()),
        ])
        .unwrap();
        assert_eq!(flags.offer_timeout, Some(Duration::from_secs(45)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn validates_ping_timeout_range() {
        assert!(matches!(
            load(&["--work_dir=/w", "--agent_ping_timeout=100ms"]),
            Err(FlagsOutcome::Invalid(_))
        ));
        assert!(matches!(
            load(&["--work_dir=/w", "--max_agent_ping_timeouts=0"]),
            Err(FlagsOutcome::Invalid(_))
        ));
    }

    #[test]
    fn version_flag() {
        assert!(matches!(load(&["--version"]), Err(FlagsOutcome::Version)));
    }

    #[test]
    fn firewall_rules_name_disabled_endpoints_and_bad_rules_refuse_to_start() {
        let flags = load(&[
            "--registry=in_memory",
            r#"--firewall_rules={"disabled_endpoints":{"paths":["/files/browse","/master/state"]}}"#,
        ])
        .expect("valid rules");
        let paths = flags.disabled_endpoints().expect("parsed");
        assert_eq!(paths.len(), 2);
        assert!(paths.contains("/files/browse") && paths.contains("/master/state"));
        for bad in [
            "--firewall_rules=[]",
            "--firewall_rules={not json",
            r#"--firewall_rules={"disabled_endpoints":{"paths":"/master/state"}}"#,
            r#"--firewall_rules={"disabled_endpoints":{"paths":[1]}}"#,
        ] {
            assert!(
                matches!(
                    load(&["--registry=in_memory", bad]),
                    Err(FlagsOutcome::Invalid(_))
                ),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn flags_for_features_we_lack_refuse_to_start_when_set() {
        for flag in [
            "--modules={}",
            "--modules_dir=/tmp",
            "--hooks=a",
            "--rate_limits={}",
            "--whitelist=/tmp/agents",
            "--role_sorter=random",
            "--framework_sorter=random",
            "--memory_profiling",
        ] {
            match load(&["--registry=in_memory", flag]) {
                Err(FlagsOutcome::Invalid(message)) => {
                    let name = flag
                        .trim_start_matches("--")
                        .split('=')
                        .next()
                        .unwrap_or("");
                    assert!(message.contains(name), "{flag}: {message}");
                }
                other => panic!("{flag} was not refused: {other:?}"),
            }
        }
        assert!(load(&["--registry=in_memory", "--role_sorter=drf"]).is_ok());
    }
}
