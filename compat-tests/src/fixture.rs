//! Set-up that several end-to-end tests share: files in a test's scratch
//! directory, the master's log, a second agent against a running
//! cluster, the mesos-go and pymesos clients started the usual way,
//! waiting on a condition while a client runs, and requests through
//! `curl` (a client of its own, with HTTP Basic and form bodies).
//!
//! Owns nothing beyond the processes and files each call returns; the
//! scenarios themselves stay in `tests/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{
    build_mesos_go_scheduler, client_script, free_port, http_request, our_binary, venv_python,
    BackgroundClient, Cluster, RawResponse, Spawned,
};

/// The body of a [`curl`] request.
pub enum CurlBody<'a> {
    None,
    /// Sent with `Content-Type` and `Accept` `application/json`.
    Json(&'a str),
    /// `key=value` pairs, each URL-encoded by curl.
    Form(&'a [(&'a str, String)]),
}

/// What [`curl`] got back; `code` is 0 when no answer came.
#[derive(Debug)]
pub struct CurlAnswer {
    pub code: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl CurlAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One request through `curl` to `http://addr/path`, with HTTP Basic when
/// `user` (`name:secret`) is given; at most 10 s.
pub fn curl(
    addr: &str,
    method: &str,
    path: &str,
    user: Option<&str>,
    body: CurlBody<'_>,
) -> CurlAnswer {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-i", "--max-time", "10", "-X", method]);
    if let Some(user) = user {
        cmd.arg("-u").arg(user);
    }
    match body {
        CurlBody::None => {}
        CurlBody::Json(json) => {
            cmd.args([
                "-H",
                "Content-Type: application/json",
                "-H",
                "Accept: application/json",
                "--data-binary",
                json,
            ]);
        }
        CurlBody::Form(pairs) => {
            for (key, value) in pairs {
                cmd.arg("--data-urlencode").arg(format!("{key}={value}"));
            }
        }
    }
    let out = cmd
        .arg(format!("http://{addr}{path}"))
        .stdin(Stdio::null())
        .output()
        .expect("curl is installed (.ci/setup-tls.sh)");
    parse_curl_output(&String::from_utf8_lossy(&out.stdout))
}

/// Splits `curl -i` output into the final answer's status, headers and
/// body (interim `1xx` heads are skipped).
fn parse_curl_output(mut text: &str) -> CurlAnswer {
    loop {
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let code: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if (100..200).contains(&code) && !rest.is_empty() {
            text = rest;
            continue;
        }
        let headers = lines
            .filter_map(|l| {
                let (name, value) = l.split_once(':')?;
                Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
            })
            .collect();
        return CurlAnswer {
            code,
            headers,
            body: rest.to_string(),
        };
    }
}

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

#[cfg(test)]
mod tests {
    use super::parse_curl_output;

    #[test]
    fn curl_output_skips_interim_heads() {
        let answer = parse_curl_output(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\n\
             WWW-Authenticate: Basic realm=\"mesos\"\r\n\r\n{\"a\":1}",
        );
        assert_eq!(answer.code, 401);
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Basic realm=\"mesos\"")
        );
        assert_eq!(answer.json()["a"], 1);
        assert_eq!(parse_curl_output("").code, 0);
    }
}
