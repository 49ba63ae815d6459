//! The `mesos-containerizer launch` helper runs the executor only after the
//! agent's go-ahead on its stdin (sent once the pid is checkpointed).

#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::io::Write;
use std::process::{Command, Stdio};

fn helper(marker: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mesos-containerizer"));
    // The "executor" records that it ran and whether its stdin is empty.
    c.args([
        "launch",
        "/bin/sh",
        "sh",
        "-c",
        &format!(
            "if read x; then echo stdin >{0}; else echo ran >{0}; fi",
            marker.display()
        ),
    ]);
    c
}

#[test]
fn agent_gone_before_the_go_ahead_means_no_executor_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let mut child = helper(&marker)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The agent dies: its end of the pipe closes without a byte.
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Not launching the executor"));
    assert!(!marker.exists(), "the executor ran without the go-ahead");
}

#[test]
fn the_go_ahead_runs_the_executor_with_an_empty_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let mut child = helper(&marker).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // More than the go-ahead is never read by the executor: it gets /dev/null.
    stdin.write_all(b"1more\n").unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
}
