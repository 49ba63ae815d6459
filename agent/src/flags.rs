//! The agent's command-line flags, with upstream names, defaults and syntax.
//!
//! Owns the agent's flag list, defaults and validation, and the `/flags`
//! view. The stout conventions (`--name=value` or `--name value`, `--name`
//! for true and `--no-name` for false on booleans, `MESOS_<NAME>`
//! environment fallbacks, `file://` values, stout durations, unknown flags
//! refused so the binary exits with 1) come from [`stout::flags`].
//! It must never touch the network or the agent state.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Parser};
use stout::flags::{boolean, duration, fetch, ip, number, path, string};
use stout::Duration;

use crate::error::AgentError;

/// The version this agent reports (`RegisterSlaveMessage.version`, `/version`).
pub const MESOS_VERSION: &str = "1.11.0";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "mesos-agent",
    about = "Mesos agent: runs tasks for frameworks on this machine.",
    disable_version_flag = true
)]
pub struct Flags {
    /// May be one of `host:port`, `master@host:port`,
    /// `zk://[user:pass@]host1:port1,host2:port2/path` (the leader elected in
    /// ZooKeeper) or `file:///path` (a file holding one of those).
    #[arg(long = "master", env = "MESOS_MASTER", value_parser = string)]
    pub master: Option<String>,

    /// Directory for the sandboxes and the agent's metadata. Required.
    #[arg(long = "work_dir", env = "MESOS_WORK_DIR", value_parser = path)]
    pub work_dir: Option<PathBuf>,

    /// Total consumable resources, e.g. `cpus:2;mem:1024;ports:[31000-32000]`,
    /// or a JSON array of Resource objects.
    #[arg(long = "resources", env = "MESOS_RESOURCES", value_parser = string)]
    pub resources: Option<String>,

    /// Attributes of the machine, e.g. `rack:r1;zone:z`.
    #[arg(long = "attributes", env = "MESOS_ATTRIBUTES", value_parser = string)]
    pub attributes: Option<String>,

    #[arg(long = "port", env = "MESOS_PORT", default_value_t = 5051, value_parser = number::<u16>)]
    pub port: u16,

    /// IP address to listen on (all interfaces when unset).
    #[arg(long = "ip", env = "MESOS_IP", value_parser = ip)]
    pub ip: Option<IpAddr>,

    #[arg(long = "hostname", env = "MESOS_HOSTNAME", value_parser = string)]
    pub hostname: Option<String>,

    #[arg(long = "hostname_lookup", env = "MESOS_HOSTNAME_LOOKUP", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
          value_parser = boolean)]
    pub hostname_lookup: bool,

    /// IP address advertised to the master and executors.
    #[arg(long = "advertise_ip", env = "MESOS_ADVERTISE_IP", value_parser = ip)]
    pub advertise_ip: Option<IpAddr>,

    #[arg(long = "advertise_port", env = "MESOS_ADVERTISE_PORT", value_parser = number::<u16>)]
    pub advertise_port: Option<u16>,

    /// Isolation mechanisms; accepted for compatibility, only posix isolation
    /// (no enforcement) is implemented.
    #[arg(long = "isolation", env = "MESOS_ISOLATION", default_value = "posix/cpu,posix/mem",
          value_parser = string)]
    pub isolation: String,

    #[arg(long = "containerizers", env = "MESOS_CONTAINERIZERS", default_value = "mesos",
          value_parser = string)]
    pub containerizers: String,

    #[arg(long = "executor_registration_timeout", env = "MESOS_EXECUTOR_REGISTRATION_TIMEOUT",
          default_value = "1mins", value_parser = duration)]
    pub executor_registration_timeout: Duration,

    #[arg(long = "executor_shutdown_grace_period", env = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
          default_value = "5secs", value_parser = duration)]
    pub executor_shutdown_grace_period: Duration,

    #[arg(long = "executor_reregistration_timeout",
          env = "MESOS_EXECUTOR_REREGISTRATION_TIMEOUT", default_value = "2secs",
          value_parser = duration)]
    pub executor_reregistration_timeout: Duration,

    #[arg(long = "recovery_timeout", env = "MESOS_RECOVERY_TIMEOUT", default_value = "15mins",
          value_parser = duration)]
    pub recovery_timeout: Duration,

    #[arg(long = "registration_backoff_factor", env = "MESOS_REGISTRATION_BACKOFF_FACTOR",
          default_value = "1secs", value_parser = duration)]
    pub registration_backoff_factor: Duration,

    /// ZooKeeper session timeout of the master detector (`--master=zk://`).
    #[arg(long = "zk_session_timeout", env = "MESOS_ZK_SESSION_TIMEOUT",
          default_value = "10secs", value_parser = duration)]
    pub zk_session_timeout: Duration,

    /// Directory holding `mesos-executor`; defaults to the directory of this
    /// binary.
    #[arg(long = "launcher_dir", env = "MESOS_LAUNCHER_DIR", value_parser = path)]
    pub launcher_dir: Option<PathBuf>,

    /// Makes the command executor use the v1 HTTP executor API.
    #[arg(long = "http_command_executor", env = "MESOS_HTTP_COMMAND_EXECUTOR",
          default_value_t = false, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_parser = boolean)]
    pub http_command_executor: bool,

    /// Run executors as the task's user. Honoured only when the agent runs as
    /// root; otherwise executors run as the agent's user.
    #[arg(long = "switch_user", env = "MESOS_SWITCH_USER", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
          value_parser = boolean)]
    pub switch_user: bool,

    /// `reconnect` or `cleanup`.
    #[arg(long = "recover", env = "MESOS_RECOVER", default_value = "reconnect",
          value_parser = parse_recover)]
    pub recover: String,

    #[arg(long = "strict", env = "MESOS_STRICT", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
          value_parser = boolean)]
    pub strict: bool,

    #[arg(long = "fetcher_cache_dir", env = "MESOS_FETCHER_CACHE_DIR",
          default_value = "/tmp/mesos/fetch", value_parser = path)]
    pub fetcher_cache_dir: PathBuf,

    #[arg(long = "fetcher_cache_size", env = "MESOS_FETCHER_CACHE_SIZE", default_value = "2GB",
          value_parser = string)]
    pub fetcher_cache_size: String,

    #[arg(long = "fetcher_stall_timeout", env = "MESOS_FETCHER_STALL_TIMEOUT",
          default_value = "1mins", value_parser = duration)]
    pub fetcher_stall_timeout: Duration,

    /// Prepended to relative executor commands and URIs.
    #[arg(long = "frameworks_home", env = "MESOS_FRAMEWORKS_HOME", value_parser = string)]
    pub frameworks_home: Option<String>,

    #[arg(long = "hadoop_home", env = "MESOS_HADOOP_HOME", value_parser = string)]
    pub hadoop_home: Option<String>,

    /// JSON object of environment variables for executors. When set,
    /// executors no longer inherit the agent's environment.
    #[arg(long = "executor_environment_variables",
          env = "MESOS_EXECUTOR_ENVIRONMENT_VARIABLES", value_parser = parse_env_object)]
    pub executor_environment_variables: Option<EnvObject>,

    #[arg(long = "default_role", env = "MESOS_DEFAULT_ROLE", default_value = "*",
          value_parser = string)]
    pub default_role: String,

    #[arg(long = "gc_delay", env = "MESOS_GC_DELAY", default_value = "1weeks",
          value_parser = duration)]
    pub gc_delay: Duration,

    #[arg(long = "disk_watch_interval", env = "MESOS_DISK_WATCH_INTERVAL", default_value = "1mins",
          value_parser = duration)]
    pub disk_watch_interval: Duration,

    #[arg(long = "max_completed_executors_per_framework",
          env = "MESOS_MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK", default_value_t = 150,
          value_parser = number::<usize>)]
    pub max_completed_executors_per_framework: usize,

    #[arg(long = "runtime_dir", env = "MESOS_RUNTIME_DIR", default_value = "/var/run/mesos",
          value_parser = path)]
    pub runtime_dir: PathBuf,

    #[arg(long = "sandbox_directory", env = "MESOS_SANDBOX_DIRECTORY",
          default_value = "/mnt/mesos/sandbox", value_parser = string)]
    pub sandbox_directory: String,

    #[arg(long = "logging_level", env = "MESOS_LOGGING_LEVEL", default_value = "INFO",
          value_parser = string)]
    pub logging_level: String,

    #[arg(long = "log_dir", env = "MESOS_LOG_DIR", value_parser = path)]
    pub log_dir: Option<PathBuf>,

    #[arg(long = "quiet", env = "MESOS_QUIET", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_parser = boolean)]
    pub quiet: bool,

    #[arg(long = "systemd_enable_support", env = "MESOS_SYSTEMD_ENABLE_SUPPORT",
          default_value_t = false, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_parser = boolean)]
    pub systemd_enable_support: bool,

    /// Authenticatee for registering with the master; only the built-in
    /// `crammd5` (modules are not loaded).
    #[arg(long = "authenticatee", env = "MESOS_AUTHENTICATEE", default_value = "crammd5",
          value_parser = string)]
    pub authenticatee: String,

    /// The principal and secret used to authenticate with the master (CRAM-MD5).
    #[arg(long = "credential", env = "MESOS_CREDENTIAL", value_parser = string)]
    pub credential: Option<String>,

    /// Credentials of HTTP clients; refused.
    #[arg(long = "http_credentials", env = "MESOS_HTTP_CREDENTIALS", value_parser = string)]
    pub http_credentials: Option<String>,

    /// Authenticate read-only HTTP endpoints; refused when true.
    #[arg(long = "authenticate_http_readonly", env = "MESOS_AUTHENTICATE_HTTP_READONLY",
          default_value_t = false, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_parser = boolean)]
    pub authenticate_http_readonly: bool,

    /// Authenticate read-write HTTP endpoints; refused when true.
    #[arg(long = "authenticate_http_readwrite", env = "MESOS_AUTHENTICATE_HTTP_READWRITE",
          default_value_t = false, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_parser = boolean)]
    pub authenticate_http_readwrite: bool,

    /// Authenticate HTTP executors: the executor API admits only requests
    /// with a token the agent signed (needs `--jwt_secret_key`).
    #[arg(long = "authenticate_http_executors", env = "MESOS_AUTHENTICATE_HTTP_EXECUTORS",
          default_value_t = false, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_parser = boolean)]
    pub authenticate_http_executors: bool,

    /// HTTP authenticators, comma-separated: the built-in `basic` and
    /// `jwt` only (modules are not loaded). Unset: `basic`, and
    /// `basic,jwt` with `--authenticate_http_executors`, as upstream.
    #[arg(long = "http_authenticators", env = "MESOS_HTTP_AUTHENTICATORS",
          value_parser = string)]
    pub http_authenticators: Option<String>,

    /// Authorizer module; refused unless the default.
    #[arg(long = "authorizer", env = "MESOS_AUTHORIZER", default_value = "local",
          value_parser = string)]
    pub authorizer: String,

    /// ACLs (JSON or file) for the local authorizer.
    #[arg(long = "acls", env = "MESOS_ACLS", value_parser = string)]
    pub acls: Option<String>,

    /// File with the key executor tokens are signed with; every executor
    /// then gets one in `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`.
    #[arg(long = "jwt_secret_key", alias = "executor_secret_key", env = "MESOS_JWT_SECRET_KEY",
          value_parser = string)]
    pub jwt_secret_key: Option<String>,

    /// Growth of the authentication timeout range after each failed attempt.
    #[arg(long = "authentication_backoff_factor", env = "MESOS_AUTHENTICATION_BACKOFF_FACTOR",
          default_value = "1secs", value_parser = duration)]
    pub authentication_backoff_factor: Duration,

    /// Shortest timeout of one authentication attempt.
    #[arg(long = "authentication_timeout_min", env = "MESOS_AUTHENTICATION_TIMEOUT_MIN",
          default_value = "5secs", value_parser = duration)]
    pub authentication_timeout_min: Duration,

    /// Longest timeout of one authentication attempt.
    #[arg(long = "authentication_timeout_max", env = "MESOS_AUTHENTICATION_TIMEOUT_MAX",
          default_value = "1mins", value_parser = duration)]
    pub authentication_timeout_max: Duration,

    /// Prints the version and exits.
    #[arg(long = "version", default_value_t = false, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_parser = boolean)]
    pub version: bool,
}

/// `--executor_environment_variables`: a JSON object whose values are all
/// strings (upstream validates the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvObject(pub BTreeMap<String, String>);

/// What the command line asked for.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Flags>),
    /// `--help` or `--version`: print this on stdout and exit 0.
    Print(String),
}

impl Flags {
    /// Parses `args` (including argv[0]) and the `MESOS_*` environment.
    /// Errors carry the whole message for the user; the caller exits 1.
    pub fn load<I, T>(args: I) -> Result<Parsed, AgentError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let flags: Flags = match stout::flags::load(args) {
            Ok(flags) => flags,
            Err(stout::Error::Help(text)) => return Ok(Parsed::Print(text)),
            Err(e) => return Err(AgentError::Flag(e.to_string())),
        };
        if flags.version {
            return Ok(Parsed::Print(format!("mesos {MESOS_VERSION}\n")));
        }
        if flags.master.is_none() {
            return Err(AgentError::Flag("Missing required option --master".into()));
        }
        if flags.work_dir.is_none() {
            return Err(AgentError::Flag(
                "Flag 'work_dir' is required, but it was not provided".into(),
            ));
        }
        if flags.registration_backoff_factor.0 > std::time::Duration::from_secs(60) {
            return Err(AgentError::Flag(format!(
                "Invalid value '{}' for --registration_backoff_factor: Must be less than 1mins",
                flags.registration_backoff_factor
            )));
        }
        flags.refuse_unsupported_security()?;
        libprocess::ssl::check_process_environment().map_err(AgentError::Flag)?;
        Ok(Parsed::Run(Box::new(flags)))
    }

    /// Modules are not loaded, so a command line that names one (an
    /// authenticatee or authorizer other than the built-in) is refused,
    /// naming the flag, rather than accepted and ignored. The security
    /// flags that are implemented are checked here as upstream checks them
    /// at start: files are read, and combinations that cannot work fail.
    fn refuse_unsupported_security(&self) -> Result<(), AgentError> {
        let refuse = |flag: &str, value: &str| {
            Err(AgentError::Flag(format!(
                "Flag '--{flag}={value}' is not supported: modules are not loaded by this \
                 build; refusing to start rather than run unprotected (remove the flag or set \
                 it to its default)"
            )))
        };
        // `--jwt_secret_key` is read, and `--authenticate_http_executors`
        // needs it (`agent::executor_token`).
        crate::agent::executor_secret_key(self).map_err(AgentError::Flag)?;
        // `--authenticate_http_readonly`/`_readwrite`/`_executors` with
        // `--http_credentials` and the key are enforced
        // (`http::authentication`).
        let authorizer = mesos_authorizer::Authorizer::from_flag(self.acls.as_deref())
            .map_err(AgentError::Flag)?;
        crate::http::authentication::from_flags(self, std::sync::Arc::new(authorizer))
            .map_err(AgentError::Flag)?;
        // `--credential` is read and used to authenticate with CRAM-MD5
        // (`agent::authentication`); an unreadable file fails the start.
        crate::agent::credential(self).map_err(AgentError::Flag)?;
        for (flag, value, default) in [
            ("authenticatee", &self.authenticatee, "crammd5"),
            ("authorizer", &self.authorizer, "local"),
        ] {
            if value != default {
                return refuse(flag, value);
            }
        }
        Ok(())
    }

    /// `--work_dir`, which `load` guarantees is present.
    pub fn work_dir(&self) -> &Path {
        self.work_dir.as_deref().unwrap_or(Path::new("/tmp/mesos"))
    }

    /// `--launcher_dir`, or the directory of the running binary.
    pub fn launcher_dir(&self) -> PathBuf {
        if let Some(dir) = &self.launcher_dir {
            return dir.clone();
        }
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The `/flags` view: every flag that has a value, stringified as
    /// upstream prints it.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        let opt = |v: &Option<String>| v.clone();
        if let Some(v) = opt(&self.master) {
            put("master", v);
        }
        put("work_dir", self.work_dir().display().to_string());
        if let Some(v) = opt(&self.resources) {
            put("resources", v);
        }
        if let Some(v) = opt(&self.attributes) {
            put("attributes", v);
        }
        put("port", self.port.to_string());
        if let Some(v) = self.ip {
            put("ip", v.to_string());
        }
        if let Some(v) = opt(&self.hostname) {
            put("hostname", v);
        }
        put("hostname_lookup", self.hostname_lookup.to_string());
        if let Some(v) = self.advertise_ip {
            put("advertise_ip", v.to_string());
        }
        if let Some(v) = self.advertise_port {
            put("advertise_port", v.to_string());
        }
        put("isolation", self.isolation.clone());
        put("containerizers", self.containerizers.clone());
        put(
            "executor_registration_timeout",
            self.executor_registration_timeout.to_string(),
        );
        put(
            "executor_shutdown_grace_period",
            self.executor_shutdown_grace_period.to_string(),
        );
        put(
            "executor_reregistration_timeout",
            self.executor_reregistration_timeout.to_string(),
        );
        put("recovery_timeout", self.recovery_timeout.to_string());
        put(
            "registration_backoff_factor",
            self.registration_backoff_factor.to_string(),
        );
        put("zk_session_timeout", self.zk_session_timeout.to_string());
        put("launcher_dir", self.launcher_dir().display().to_string());
        put(
            "http_command_executor",
            self.http_command_executor.to_string(),
        );
        put("switch_user", self.switch_user.to_string());
        put("recover", self.recover.clone());
        put("strict", self.strict.to_string());
        put(
            "fetcher_cache_dir",
            self.fetcher_cache_dir.display().to_string(),
        );
        put("fetcher_cache_size", self.fetcher_cache_size.clone());
        put(
            "fetcher_stall_timeout",
            self.fetcher_stall_timeout.to_string(),
        );
        if let Some(v) = opt(&self.frameworks_home) {
            put("frameworks_home", v);
        }
        if let Some(v) = opt(&self.hadoop_home) {
            put("hadoop_home", v);
        }
        if let Some(env) = &self.executor_environment_variables {
            put("executor_environment_variables", env.to_json().to_string());
        }
        put("default_role", self.default_role.clone());
        put("gc_delay", self.gc_delay.to_string());
        put("disk_watch_interval", self.disk_watch_interval.to_string());
        put(
            "max_completed_executors_per_framework",
            self.max_completed_executors_per_framework.to_string(),
        );
        put("runtime_dir", self.runtime_dir.display().to_string());
        put("sandbox_directory", self.sandbox_directory.clone());
        put("logging_level", self.logging_level.clone());
        if let Some(v) = &self.log_dir {
            put("log_dir", v.display().to_string());
        }
        put("quiet", self.quiet.to_string());
        put("authenticatee", self.authenticatee.clone());
        put(
            "authenticate_http_readonly",
            self.authenticate_http_readonly.to_string(),
        );
        put(
            "authenticate_http_readwrite",
            self.authenticate_http_readwrite.to_string(),
        );
        put(
            "authenticate_http_executors",
            self.authenticate_http_executors.to_string(),
        );
        if let Some(v) = &self.http_authenticators {
            put("http_authenticators", v.clone());
        }
        put("authorizer", self.authorizer.clone());
        put(
            "authentication_backoff_factor",
            self.authentication_backoff_factor.to_string(),
        );
        put(
            "authentication_timeout_min",
            self.authentication_timeout_min.to_string(),
        );
        put(
            "authentication_timeout_max",
            self.authentication_timeout_max.to_string(),
        );
        put(
            "systemd_enable_support",
            self.systemd_enable_support.to_string(),
        );
        m
    }
}

impl EnvObject {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    }
}

fn parse_recover(s: &str) -> Result<String, stout::Error> {
    let v = fetch(s)?;
    match v.as_str() {
        "reconnect" | "cleanup" => Ok(v),
        other => Err(stout::Error::Value(format!(
            "Unknown option for 'recover' flag {other}; expected 'reconnect' or 'cleanup'"
        ))),
    }
}

fn parse_env_object(s: &str) -> Result<EnvObject, stout::Error> {
    let v = fetch(s)?;
    let json: serde_json::Value = serde_json::from_str(&v)
        .map_err(|e| stout::Error::Value(format!("Failed to parse JSON: {e}")))?;
    let object = json.as_object().ok_or_else(|| {
        stout::Error::Value(
            "Expecting a JSON object for --executor_environment_variables".to_string(),
        )
    })?;
    let mut out = BTreeMap::new();
    for (key, value) in object {
        match value {
            serde_json::Value::String(s) => {
                out.insert(key.clone(), s.clone());
            }
            _ => {
                return Err(stout::Error::Value(format!(
                    "`executor_environment_variables` must only contain string values: \
                     '{key}' is not a string"
                )))
            }
        }
    }
    Ok(EnvObject(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(args: &[&str]) -> Result<Flags, AgentError> {
        let mut all = vec!["mesos-agent"];
        all.extend_from_slice(args);
        match Flags::load(all)? {
            Parsed::Run(f) => Ok(*f),
            Parsed::Print(p) => panic!("unexpected print: {p}"),
        }
    }

    #[test]
    fn defaults_match_upstream() {
        let f = run(&["--master=127.0.0.1:5050", "--work_dir=/tmp/a"]).unwrap();
        assert_eq!(f.port, 5051);
        assert_eq!(f.executor_registration_timeout.0, Duration::from_secs(60));
        assert_eq!(f.executor_shutdown_grace_period.0, Duration::from_secs(5));
        assert_eq!(f.registration_backoff_factor.0, Duration::from_secs(1));
        assert_eq!(f.isolation, "posix/cpu,posix/mem");
        assert!(f.switch_user);
        assert!(f.strict);
        assert!(!f.http_command_executor);
        assert_eq!(f.recover, "reconnect");
        assert_eq!(f.default_role, "*");
        assert_eq!(f.work_dir(), Path::new("/tmp/a"));
        let map = f.to_map();
        assert_eq!(map["executor_registration_timeout"], "1mins");
        assert_eq!(map["switch_user"], "true");
        assert_eq!(map["port"], "5051");
    }

    #[test]
    fn parses_values_and_booleans() {
        let f = run(&[
            "--master=master@10.0.0.1:5050",
            "--work_dir",
            "/w",
            "--port=5052",
            "--ip=127.0.0.1",
            "--no-switch_user",
            "--http_command_executor",
            "--strict=false",
            "--executor_shutdown_grace_period=10secs",
            "--attributes=rack:r1;zone:z",
            "--executor_environment_variables={\"PATH\":\"/bin\",\"A\":\"b\"}",
        ])
        .unwrap();
        assert_eq!(f.master.as_deref(), Some("master@10.0.0.1:5050"));
        assert_eq!(f.port, 5052);
        assert_eq!(f.ip, Some("127.0.0.1".parse().unwrap()));
        assert!(!f.switch_user);
        assert!(f.http_command_executor);
        assert!(!f.strict);
        assert_eq!(f.executor_shutdown_grace_period.to_string(), "10secs");
        assert_eq!(f.attributes.as_deref(), Some("rack:r1;zone:z"));
        let env = f.executor_environment_variables.unwrap();
        assert_eq!(env.0["PATH"], "/bin");
    }

    #[test]
    fn refuses_unknown_flags_and_bad_values() {
        assert!(run(&["--master=a:1", "--work_dir=/w", "--no_such_flag=1"]).is_err());
        assert!(run(&[
            "--master=a:1",
            "--work_dir=/w",
            "--executor_shutdown_grace_period=5s"
        ])
        .is_err());
        assert!(run(&["--master=a:1", "--work_dir=/w", "--recover=bogus"]).is_err());
        assert!(run(&[
            "--master=a:1",
            "--work_dir=/w",
            "--executor_environment_variables={\"A\":1}"
        ])
        .is_err());
        assert!(run(&[
            "--master=a:1",
            "--work_dir=/w",
            "--registration_backoff_factor=2mins"
        ])
        .is_err());
        let missing = run(&["--master=a:1"]).unwrap_err().to_string();
        assert!(missing.contains("work_dir"), "{missing}");
    }

    #[test]
    fn reads_file_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master");
        std::fs::write(&path, "10.1.2.3:5050\n").unwrap();
        let arg = format!("--master=file://{}", path.display());
        let f = run(&[&arg, "--work_dir=/w"]).unwrap();
        assert_eq!(f.master.as_deref(), Some("10.1.2.3:5050"));
        assert!(run(&["--master=file:///no/such/file", "--work_dir=/w"]).is_err());
    }

    #[test]
    fn help_and_version_print() {
        assert!(matches!(
            Flags::load(["mesos-agent", "--help"]).unwrap(),
            Parsed::Print(_)
        ));
        match Flags::load(["mesos-agent", "--version"]).unwrap() {
            Parsed::Print(s) => assert_eq!(s, "mesos 1.11.0\n"),
            Parsed::Run(_) => panic!("expected print"),
        }
    }
}
