//! Set-up that several end-to-end tests share: files in a test's scratch
//! directory, the master's log, a second agent against a running
//! cluster, the mesos-go and pymesos clients started the usual way, and
//! waiting on a condition while a client runs.
//!
//! Owns nothing beyond the processes and files each call returns; the
//! scenarios themselves stay in `tests/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{
    build_mesos_go_scheduler, client_script, free_port, http_request, our_binary, venv_python,
    BackgroundClient, Cluster, RawResponse, Spawned,
};

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

/// POSTs a JSON `body` to `path`.
pub fn post_json(addr: &str, path: &str, body: &str) -> RawResponse {
    http_request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .expect("post")
}

/// mesos-go 0.0.6's v0 scheduler (built into `dir`) against `master`,
/// running one command task, with `extra` flags before the log flags.
pub fn mesos_go_command(dir: &Path, master: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(build_mesos_go_scheduler(dir));
    cmd.arg(format!("--master={master}"))
        .arg("--scenario=command")
        .arg("--timeout=60s")
        .args(extra)
        .arg("-logtostderr")
        .arg("-v=1");
    cmd
}

/// A pymesos client script against `cluster` that runs a long task and
/// stops when the returned file appears.
pub fn stoppable_pymesos(cluster: &Cluster, script: &str) -> (BackgroundClient, PathBuf) {
    let stop = cluster.work_dir.join("stop-scheduler");
    let mut cmd = Command::new(venv_python());
    cmd.arg(client_script(script))
        .arg(format!("--master={}", cluster.master))
        .arg("--command=sleep 1000")
        .arg(format!("--stop-file={}", stop.display()));
    (BackgroundClient::start(cmd), stop)
}

impl Cluster {
    /// The master's log so far.
    pub fn master_log(&self) -> String {
        std::fs::read_to_string(self.work_dir.join("master.log")).unwrap_or_default()
    }

    /// Waits (30 s at most) until the master's log holds each of `lines`;
    /// on timeout fails with both logs.
    pub fn wait_for_master_log(&self, what: &str, lines: &[&str]) {
        crate::wait_for_or(
            Duration::from_secs(30),
            &format!("{what}: {lines:?}"),
            || {
                let log = self.master_log();
                lines.iter().all(|line| log.contains(line))
            },
            || self.logs(),
        );
    }

    /// Another agent against this cluster's master, on its own port and
    /// work directory under `dir` (its log is `dir/<name>.log`), with
    /// `flags` after the usual ones. Returns it with its port.
    pub fn extra_agent(&self, dir: &Path, name: &str, flags: &[String]) -> (Spawned, u16) {
        let port = free_port();
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
        let child = Command::new(our_binary("mesos-agent"))
            .arg(format!("--master={}", self.master))
            .arg("--ip=127.0.0.1")
            .arg("--hostname=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--work_dir={}", dir.join(name).display()))
            .arg("--resources=cpus:1;mem:512;disk:512")
            .arg("--registration_backoff_factor=10ms")
            .arg("--authentication_backoff_factor=100ms")
            .args(flags)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn mesos-agent");
        (
            Spawned {
                name: name.to_string(),
                child,
            },
            port,
        )
    }

    /// Waits (60 s at most) for `check` while `client` runs, failing at
    /// once if the master or agent exits, and on timeout with the
    /// client's output and both logs.
    pub fn wait_with_client(
        &mut self,
        client: &BackgroundClient,
        what: &str,
        mut check: impl FnMut(&Cluster, &BackgroundClient) -> bool,
    ) {
        self.wait_while_alive_or(
            Duration::from_secs(60),
            what,
            |cluster| check(cluster, client),
            || format!("--- client ---\n{}\n", client.output()),
        );
    }
}
