//! `mesos-agent`: parses flags, sets up logging, runs the agent.
//! Exits 1 on bad flags or a failed start.

use std::process::ExitCode;

use mesos_agent::flags::{Flags, Parsed};

fn main() -> ExitCode {
    let flags = match Flags::load(std::env::args()) {
        Ok(Parsed::Run(flags)) => *flags,
        Ok(Parsed::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    init_logging(&flags);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Failed to start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(mesos_agent::run(flags)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}

/// `RUST_LOG` wins; otherwise `--logging_level` (INFO, WARNING, ERROR).
/// Logs go to `<log_dir>/mesos-agent.log` when `--log_dir` is set, and to
/// stderr unless `--quiet`. The filter stays reloadable for the agent's
/// logging level (`/logging/toggle`).
fn init_logging(flags: &Flags) {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let level = match flags.logging_level.to_ascii_uppercase().as_str() {
        "ERROR" => "error",
        "WARNING" | "WARN" => "warn",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let file = flags.log_dir.as_ref().and_then(|dir| {
        std::fs::create_dir_all(dir).ok()?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(mesos_agent::LOG_FILE))
            .ok()
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // `/logging/toggle` raises the verbosity: any level above 0 logs debug.
    macro_rules! init {
        ($builder:expr) => {{
            let builder = $builder.with_filter_reloading();
            let handle = builder.reload_handle();
            mesos_agent::logging::install_applier(move |verbosity| {
                let filter = if verbosity > 0 { "debug" } else { level };
                // The subscriber lives as long as the process.
                let _ = handle.reload(tracing_subscriber::EnvFilter::new(filter));
            });
            builder.init()
        }};
    }
    match (file, flags.quiet) {
        (Some(file), true) => init!(builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))),
        (Some(file), false) => init!(builder
            .with_ansi(false)
            .with_writer(std::io::stderr.and(std::sync::Mutex::new(file)))),
        (None, _) => init!(builder.with_writer(std::io::stderr)),
    }
}
