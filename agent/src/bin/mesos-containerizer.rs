//! `mesos-containerizer launch <program> <argv0> [args...]`: the agent's
//! launch helper. It puts the executor in a session of its own (so every
//! process of the container can be found and killed by session id, even
//! after the executor itself died and its children were re-parented), then
//! replaces itself with the executor, keeping the pid the agent recorded.
//!
//! Before anything else it waits for one byte on stdin, which the agent
//! sends once it has checkpointed this process's pid; if stdin closes first
//! (the agent died in between), it exits without running the executor, so
//! no executor runs that a restarted agent could not find. The executor then
//! gets `/dev/null` as stdin.
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
    if let Err(e) = wait_for_go_ahead() {
        eprintln!("Not launching the executor: {e}");
        return ExitCode::from(1);
    }
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

/// Reads the agent's one-byte go-ahead from stdin, then puts `/dev/null`
/// in its place.
fn wait_for_go_ahead() -> Result<(), String> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let mut byte = [0u8; 1];
    let mut stdin = std::io::stdin().lock();
    loop {
        match stdin.read(&mut byte) {
            Ok(1) => break,
            Ok(_) => return Err("the agent went away before it recorded the executor".into()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("failed to read the agent's go-ahead: {e}")),
        }
    }
    let null = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    nix::unistd::dup2(null.as_raw_fd(), 0).map_err(|e| format!("dup2 /dev/null: {e}"))?;
    Ok(())
}
