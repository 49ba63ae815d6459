//! `mesos-master`: parses flags, sets up logging, runs the master.

use std::process::ExitCode;

use mesos_master::flags::{Flags, FlagsOutcome, MESOS_VERSION};

fn main() -> ExitCode {
    let flags = match Flags::load(std::env::args_os()) {
        Ok(flags) => flags,
        Err(FlagsOutcome::Help(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(FlagsOutcome::Version) => {
            println!("mesos {MESOS_VERSION}");
            return ExitCode::SUCCESS;
        }
        Err(FlagsOutcome::Invalid(message)) => {
            eprintln!("{}", message.trim_end());
            eprintln!("See 'mesos-master --help' for the available flags");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = mesos_master::logging::init(&flags) {
        eprintln!("Failed to initialize logging: {error}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Failed to start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(mesos_master::run(flags)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
