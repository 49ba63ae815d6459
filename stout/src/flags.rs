//! stout's command-line conventions (`3rdparty/stout/include/stout/flags/`),
//! applied to a binary's own `clap` flag list:
//!
//! - every flag also comes from the environment as `MESOS_<FLAG>` (the
//!   command line wins);
//! - a value `file:///path` means "the value is that file's content";
//! - booleans take `--flag`, `--flag=true|false|1|0` and `--no-flag`;
//! - unknown flags are refused with upstream's message;
//! - `-` and `_` are interchangeable in names, and `--name value` works
//!   besides `--name=value` (lenient extensions kept from our binaries).
//!
//! Owns argv normalisation, the `MESOS_` fallback and the per-type value
//! parsers ([`string`], [`path`], [`boolean`], [`number`], [`ip`],
//! [`duration`]) for `#[arg(value_parser = ...)]`. It never holds a flag
//! list, defaults or cross-flag validation: those stay in each binary.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{ArgAction, Command, Parser};

use crate::{Duration, Error};

/// The environment prefix of every Mesos binary's flags.
pub const ENV_PREFIX: &str = "MESOS_";

/// Parses a full argv (argv[0] included) plus the `MESOS_*` environment
/// into `F`, with stout's conventions (see the module docs).
///
/// `Err(Error::Help(text))` is `--help`; `Err(Error::Invalid(message))` a
/// refused command line, with the whole message for the user.
pub fn load<F, I, T>(args: I) -> Result<F, Error>
where
    F: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut command = with_env_fallback(F::command());
    command.build();
    let args = normalize(&command, args.into_iter().map(Into::into).collect())?;
    let outcome = command
        .try_get_matches_from_mut(args)
        .and_then(|matches| F::from_arg_matches(&matches));
    outcome.map_err(|error| match error.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
            Error::Help(error.to_string())
        }
        _ => Error::Invalid(error.format(&mut command).to_string()),
    })
}

/// Gives every flag without an explicit `env` its `MESOS_<FLAG>` variable,
/// so no flag can miss the convention.
fn with_env_fallback(command: Command) -> Command {
    command.mut_args(|arg| {
        if arg.get_env().is_some() || !matches!(arg.get_action(), ArgAction::Set) {
            return arg;
        }
        let Some(name) = arg.get_long().map(str::to_ascii_uppercase) else {
            return arg;
        };
        arg.env(format!("{ENV_PREFIX}{name}"))
    })
}

/// The long names and aliases `command` knows, each with whether it is a
/// boolean flag (a value-taking flag whose parser yields `bool`).
fn known_flags(command: &Command) -> BTreeMap<String, bool> {
    let mut known = BTreeMap::new();
    for arg in command.get_arguments() {
        let boolean = matches!(arg.get_action(), ArgAction::Set)
            && arg.get_value_parser().type_id() == TypeId::of::<bool>();
        let names = arg
            .get_long()
            .into_iter()
            .chain(arg.get_all_aliases().unwrap_or_default());
        for name in names {
            known.insert(name.to_string(), boolean);
        }
    }
    known
}

/// Rewrites argv from stout's syntax into what clap parses, refusing
/// unknown flags and misused `--no-` with upstream's messages.
fn normalize(command: &Command, args: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let known = known_flags(command);
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    // argv[0] is the program, never a flag.
    out.extend(args.next());
    for arg in args.by_ref() {
        let Some(text) = arg.to_str() else {
            return Err(Error::Invalid(format!(
                "Failed to load flag '{}': not valid UTF-8",
                arg.to_string_lossy()
            )));
        };
        if text == "--" {
            // stout stops reading flags here; clap then refuses the rest.
            out.push(arg);
            break;
        }
        // Values of `--name value`, and stray words clap will refuse.
        let Some(body) = text.strip_prefix("--") else {
            out.push(arg);
            continue;
        };
        let (given, value) = match body.split_once('=') {
            Some((given, value)) => (given, Some(value)),
            None => (body, None),
        };
        let name = given.replace('-', "_");
        if let Some(&boolean) = known.get(&name) {
            out.push(match value {
                // stout: `--flag=` is `--flag`.
                Some("") if boolean => format!("--{name}=true").into(),
                Some(value) => format!("--{name}={value}").into(),
                None => format!("--{name}").into(),
            });
            continue;
        }
        let negated = name
            .strip_prefix("no_")
            .and_then(|flag| known.get(flag).map(|&boolean| (flag, boolean)));
        match (negated, value) {
            (Some((flag, true)), None | Some("")) => out.push(format!("--{flag}=false").into()),
            (Some((flag, true)), Some(value)) => {
                return Err(Error::Invalid(format!(
                    "Failed to load boolean flag '{flag}' via '{given}' with value '{value}'"
                )))
            }
            (Some((flag, false)), _) => {
                return Err(Error::Invalid(format!(
                    "Failed to load non-boolean flag '{flag}' via '{given}'"
                )))
            }
            (None, _) => {
                return Err(Error::Invalid(format!(
                    "Failed to load unknown flag '{given}'"
                )))
            }
        }
    }
    out.extend(args);
    Ok(out)
}

/// stout's `fetch`: a value `file:///path` is replaced by the file's
/// content. Trailing line endings are dropped (upstream keeps them and then
/// fails on most types; editors always add one).
pub fn fetch(value: &str) -> Result<String, Error> {
    match value.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path)
            .map(|content| content.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|error| Error::Value(format!("Error reading file '{path}': {error}"))),
        None => Ok(value.to_string()),
    }
}

/// A string flag.
pub fn string(value: &str) -> Result<String, Error> {
    fetch(value)
}

/// A path flag (fetched like a string: only upstream's `Path` type skips
/// fetching, and Mesos' directory flags are strings).
pub fn path(value: &str) -> Result<PathBuf, Error> {
    fetch(value).map(PathBuf::from)
}

/// stout's `parse<bool>`: `true`/`1` or `false`/`0`.
pub fn boolean(value: &str) -> Result<bool, Error> {
    match fetch(value)?.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(Error::Value(format!(
            "Expecting a boolean (e.g., true or false), got '{other}'"
        ))),
    }
}

/// A number of type `T` (`number::<u16>` for ports, `number::<usize>` for
/// counts), with stout's `numify` message.
pub fn number<T: FromStr>(value: &str) -> Result<T, Error> {
    let text = fetch(value)?;
    text.trim()
        .parse()
        .map_err(|_| Error::Value(format!("Failed to convert '{text}' to number")))
}

/// An IP address.
pub fn ip(value: &str) -> Result<IpAddr, Error> {
    let text = fetch(value)?;
    text.trim()
        .parse()
        .map_err(|_| Error::Value(format!("Failed to parse IP address '{text}'")))
}

/// A stout duration (`5secs`; `5s` is refused).
pub fn duration(value: &str) -> Result<Duration, Error> {
    Duration::parse(fetch(value)?.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// A flag list using every parser, in the shape the binaries use.
    #[derive(Parser, Debug)]
    #[command(
        name = "test-binary",
        rename_all = "snake_case",
        disable_version_flag = true
    )]
    struct Flags {
        #[arg(long, value_parser = string)]
        work_dir: Option<String>,

        #[arg(long, alias = "slave_ping_timeout", default_value = "15secs",
              value_parser = duration)]
        agent_ping_timeout: Duration,

        #[arg(long, default_value = "5050", value_parser = number::<u16>)]
        port: u16,

        #[arg(long, value_parser = ip)]
        ip: Option<IpAddr>,

        #[arg(long, value_parser = path)]
        launcher_dir: Option<PathBuf>,

        #[arg(long, alias = "authenticate", default_value = "false", num_args = 0..=1,
              default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
        authenticate_frameworks: bool,

        #[arg(long, default_value = "true", num_args = 0..=1,
              default_missing_value = "true", action = ArgAction::Set, value_parser = boolean)]
        hostname_lookup: bool,

        /// Only read by `environment_fills_in_and_the_command_line_wins`.
        #[arg(long, value_parser = string)]
        cluster: Option<String>,

        /// An explicit `env` is kept as written.
        #[arg(long, env = "TEST_BINARY_CUSTOM", value_parser = string)]
        custom: Option<String>,
    }

    fn load_flags(args: &[&str]) -> Result<Flags, Error> {
        let mut argv = vec!["test-binary"];
        argv.extend_from_slice(args);
        load(argv)
    }

    fn invalid(args: &[&str]) -> String {
        match load_flags(args) {
            Err(Error::Invalid(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn reads_values_and_defaults() {
        let flags = load_flags(&["--work_dir=/w", "--port=5051", "--ip=127.0.0.1"]).unwrap();
        assert_eq!(flags.work_dir.as_deref(), Some("/w"));
        assert_eq!(flags.port, 5051);
        assert_eq!(flags.ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(flags.agent_ping_timeout, Duration::from_secs(15));
        assert!(!flags.authenticate_frameworks);
        assert!(flags.hostname_lookup);
    }

    #[test]
    fn booleans_take_every_stout_form() {
        let flags = load_flags(&["--authenticate_frameworks", "--no-hostname_lookup"]).unwrap();
        assert!(flags.authenticate_frameworks);
        assert!(!flags.hostname_lookup);
        let flags = load_flags(&["--authenticate_frameworks=1", "--hostname_lookup=0"]).unwrap();
        assert!(flags.authenticate_frameworks);
        assert!(!flags.hostname_lookup);
        let flags = load_flags(&["--authenticate_frameworks=", "--no-hostname_lookup="]).unwrap();
        assert!(flags.authenticate_frameworks);
        assert!(!flags.hostname_lookup);
        // Aliases and `_` after `no` are negatable too.
        assert!(
            !load_flags(&["--no-authenticate"])
                .unwrap()
                .authenticate_frameworks
        );
        assert!(
            !load_flags(&["--no_hostname_lookup"])
                .unwrap()
                .hostname_lookup
        );
        let message = invalid(&["--hostname_lookup=maybe"]);
        assert!(
            message.contains("Expecting a boolean (e.g., true or false), got 'maybe'"),
            "{message}"
        );
    }

    #[test]
    fn misused_negation_is_refused_with_upstreams_message() {
        assert_eq!(
            invalid(&["--no-hostname_lookup=true"]),
            "Failed to load boolean flag 'hostname_lookup' via 'no-hostname_lookup' \
             with value 'true'"
        );
        assert_eq!(
            invalid(&["--no-port"]),
            "Failed to load non-boolean flag 'port' via 'no-port'"
        );
    }

    #[test]
    fn unknown_flags_are_refused_with_upstreams_message() {
        assert_eq!(
            invalid(&["--no_such_flag=1"]),
            "Failed to load unknown flag 'no_such_flag'"
        );
        assert_eq!(invalid(&["--bogus"]), "Failed to load unknown flag 'bogus'");
        assert_eq!(
            invalid(&["--no-bogus"]),
            "Failed to load unknown flag 'no-bogus'"
        );
    }

    #[test]
    fn dashes_aliases_and_separate_values_are_accepted() {
        let flags = load_flags(&[
            "--work-dir=/w",
            "--slave_ping_timeout=20secs",
            "--launcher_dir",
            "/usr/libexec/mesos",
        ])
        .unwrap();
        assert_eq!(flags.work_dir.as_deref(), Some("/w"));
        assert_eq!(flags.agent_ping_timeout, Duration::from_secs(20));
        assert_eq!(
            flags.launcher_dir,
            Some(PathBuf::from("/usr/libexec/mesos"))
        );
    }

    #[test]
    fn bad_values_name_the_flag_and_the_reason() {
        let message = invalid(&["--agent_ping_timeout=5s"]);
        assert!(message.contains("agent_ping_timeout"), "{message}");
        assert!(message.contains("Unknown duration unit 's'"), "{message}");
        let message = invalid(&["--port=http"]);
        assert!(
            message.contains("Failed to convert 'http' to number"),
            "{message}"
        );
        let message = invalid(&["--ip=localhost"]);
        assert!(
            message.contains("Failed to parse IP address 'localhost'"),
            "{message}"
        );
        assert!(invalid(&["--port"]).contains("port"));
    }

    #[test]
    fn duplicates_and_stray_words_are_refused() {
        invalid(&["--port=1", "--port=2"]);
        invalid(&["stray"]);
        invalid(&["--", "--port=1"]);
    }

    #[test]
    fn help_is_reported_apart() {
        match load_flags(&["--help"]) {
            Err(Error::Help(text)) => assert!(text.contains("--work_dir"), "{text}"),
            other => panic!("expected help, got {other:?}"),
        }
    }

    #[test]
    fn values_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("timeout");
        std::fs::write(&file, "45secs\n").unwrap();
        let name = dir.path().join("name");
        std::fs::write(&name, " spaced name \r\n").unwrap();
        let flags = load_flags(&[
            &format!("--agent_ping_timeout=file://{}", file.display()),
            &format!("--work_dir=file://{}", name.display()),
        ])
        .unwrap();
        assert_eq!(flags.agent_ping_timeout, Duration::from_secs(45));
        assert_eq!(flags.work_dir.as_deref(), Some(" spaced name "));
        let message = invalid(&["--work_dir=file:///no/such/file"]);
        assert!(
            message.contains("Error reading file '/no/such/file'"),
            "{message}"
        );
    }

    #[test]
    fn value_parsers_trim_typed_values_only() {
        assert_eq!(number::<usize>(" 7 ").unwrap(), 7);
        assert!(number::<usize>("-1").is_err());
        assert!(boolean(" true").unwrap());
        assert_eq!(duration(" 2secs ").unwrap(), Duration::from_secs(2));
        assert_eq!(string(" kept ").unwrap(), " kept ");
        assert_eq!(path("/a b").unwrap(), PathBuf::from("/a b"));
    }

    #[test]
    fn every_flag_falls_back_to_its_mesos_variable() {
        let command = with_env_fallback(Flags::command());
        let env = |id: &str| {
            command
                .get_arguments()
                .find(|arg| arg.get_id() == id)
                .and_then(|arg| arg.get_env())
                .map(|env| env.to_string_lossy().into_owned())
        };
        assert_eq!(env("work_dir").as_deref(), Some("MESOS_WORK_DIR"));
        assert_eq!(
            env("agent_ping_timeout").as_deref(),
            Some("MESOS_AGENT_PING_TIMEOUT")
        );
        assert_eq!(
            env("hostname_lookup").as_deref(),
            Some("MESOS_HOSTNAME_LOOKUP")
        );
        assert_eq!(env("custom").as_deref(), Some("TEST_BINARY_CUSTOM"));
        assert_eq!(env("help"), None);
    }

    #[test]
    fn environment_fills_in_and_the_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cluster");
        std::fs::write(&file, "from-file\n").unwrap();
        // No other test reads `--cluster`, so setting its variable here
        // cannot disturb them.
        std::env::set_var("MESOS_CLUSTER", "from-env");
        assert_eq!(
            load_flags(&[]).unwrap().cluster.as_deref(),
            Some("from-env")
        );
        assert_eq!(
            load_flags(&["--cluster=from-cli"])
                .unwrap()
                .cluster
                .as_deref(),
            Some("from-cli")
        );
        std::env::set_var("MESOS_CLUSTER", format!("file://{}", file.display()));
        assert_eq!(
            load_flags(&[]).unwrap().cluster.as_deref(),
            Some("from-file")
        );
        std::env::remove_var("MESOS_CLUSTER");
    }

    #[test]
    fn non_utf8_arguments_are_refused() {
        use std::os::unix::ffi::OsStringExt;
        let args = vec![
            OsString::from("test-binary"),
            OsString::from_vec(b"--work_dir=\xff".to_vec()),
        ];
        match load::<Flags, _, _>(args) {
            Err(Error::Invalid(message)) => assert!(message.contains("not valid UTF-8")),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
