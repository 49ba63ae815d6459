//! `mesos-executor`: the command executor binary the agent launches for
//! tasks without an executor of their own. See the library docs.

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Parser;
use mesos_executor::{Config, Flags};

fn main() -> ExitCode {
    // Everything we log ends up in the sandbox's `stderr` file.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let flags = match Flags::try_parse() {
        Ok(flags) => flags,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // Like stout: usage on stderr, exit 1.
            let _ = e.print();
            return ExitCode::FAILURE;
        }
    };
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let config = match Config::from_env(&flags, &env) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };

    // One thread is plenty for one task, and keeps the footprint small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Failed to start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(mesos_executor::run(config));
    tracing::info!("Exiting: {outcome:?}");
    if outcome.exit_code() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
