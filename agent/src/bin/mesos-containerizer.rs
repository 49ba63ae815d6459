//! `mesos-containerizer launch <program> <argv0> [args...]`: the agent's
//! launch helper. It puts the executor in a session of its own (so every
//! process of the container can be found and killed by session id, even
//! after the executor itself died and its children were re-parented), then
//! replaces itself with the executor, keeping the pid the agent recorded.
//!
//! It does nothing else: environment, working directory and output files
//! are set up by the agent before it runs this.

use std::ffi::CString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (program, argv) = match args.split_first() {
        Some((verb, rest)) if verb == "launch" && rest.len() >= 2 => (&rest[0], &rest[1..]),
        _ => {
            eprintln!("Usage: mesos-containerizer launch <program> <argv0> [args...]");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = nix::unistd::setsid() {
        eprintln!("Failed to create a new session for the executor: {e}");
        return ExitCode::from(1);
    }
    let to_c = |s: &str| CString::new(s).map_err(|_| format!("'{s}' contains a NUL byte"));
    let program_c = match to_c(program) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let argv_c: Result<Vec<CString>, String> = argv.iter().map(|a| to_c(a)).collect();
    let argv_c = match argv_c {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    // A bare name is looked up in PATH, like the shell would.
    let error = if program.contains('/') {
        nix::unistd::execv(&program_c, &argv_c)
    } else {
        nix::unistd::execvp(&program_c, &argv_c)
    };
    let Err(e) = error;
    eprintln!("Failed to execute '{program}': {e}");
    ExitCode::from(127)
}
