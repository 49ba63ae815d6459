//! The posix containerizer: runs executors as plain processes.
//!
//! A launch fetches the executor's URIs into the sandbox, then starts the
//! command in its own process group with stdin on `/dev/null` and
//! stdout/stderr appended to the sandbox's `stdout`/`stderr` files, in the
//! sandbox as working directory, and reaps it. `destroy` kills the whole
//! process tree with SIGKILL (or cancels a launch still fetching).
//! Progress is reported as [`ContainerEvent`]s on the channel given at
//! construction: `Launched` once the process runs, `Terminated` exactly once
//! per launched container (including failed launches).
//!
//! Executors run as the task's user only when the agent runs as root with
//! `--switch_user` and the user exists; otherwise as the agent's user.
//! No isolation or resource enforcement (posix isolation). It never touches
//! agent bookkeeping.

pub mod environment;

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use mesos_proto::mesos::CommandInfo;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{Gid, Pid, Uid, User};
use tokio::sync::{mpsc, Notify};

use crate::fetcher::Fetcher;

/// Everything needed to start one executor container.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub container_id: String,
    /// The sandbox (run directory), already created.
    pub directory: PathBuf,
    pub command: CommandInfo,
    pub environment: BTreeMap<String, String>,
    /// The user the executor should run as, if any.
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerEvent {
    Launched {
        container_id: String,
        pid: i32,
    },
    Terminated {
        container_id: String,
        /// The raw wait status (`WSTRINGIFY`-able), `None` when the process
        /// never ran or could not be waited for.
        status: Option<i32>,
        /// Set when the container failed before its process ran.
        launch_error: Option<String>,
    },
}

#[derive(Default)]
struct State {
    pid: Option<i32>,
    destroyed: bool,
}

struct Container {
    state: Mutex<State>,
    cancel: Notify,
}

pub struct Containerizer {
    fetcher: Fetcher,
    switch_user: bool,
    events: mpsc::UnboundedSender<ContainerEvent>,
    containers: HashMap<String, Arc<Container>>,
}

impl Containerizer {
    pub fn new(
        fetcher: Fetcher,
        switch_user: bool,
        events: mpsc::UnboundedSender<ContainerEvent>,
    ) -> Self {
        Containerizer {
            fetcher,
            switch_user,
            events,
            containers: HashMap::new(),
        }
    }

    /// Starts fetching and launching in the background.
    pub fn launch(&mut self, spec: LaunchSpec) {
        let container = Arc::new(Container {
            state: Mutex::new(State::default()),
            cancel: Notify::new(),
        });
        self.containers
            .insert(spec.container_id.clone(), container.clone());
        let fetcher = self.fetcher.clone();
        let events = self.events.clone();
        let run_as = if self.switch_user {
            run_as(spec.user.as_deref())
        } else {
            None
        };
        tokio::spawn(run_container(spec, container, fetcher, events, run_as));
    }

    /// The executor process id, once it runs.
    pub fn pid(&self, container_id: &str) -> Option<i32> {
        let container = self.containers.get(container_id)?;
        lock(&container.state).pid
    }

    /// Kills the container's processes (SIGKILL to the process tree and its
    /// process group), or aborts a launch that has not started the process.
    pub fn destroy(&mut self, container_id: &str) {
        let Some(container) = self.containers.get(container_id) else {
            return;
        };
        let pid = {
            let mut state = lock(&container.state);
            state.destroyed = true;
            state.pid
        };
        container.cancel.notify_one();
        if let Some(pid) = pid {
            tracing::info!("Destroying container {container_id} (pid {pid})");
            kill_tree(pid);
        }
    }

    /// Forgets a container after its `Terminated` event.
    pub fn remove(&mut self, container_id: &str) {
        self.containers.remove(container_id);
    }

    /// Ids of containers not yet removed.
    pub fn container_ids(&self) -> Vec<String> {
        self.containers.keys().cloned().collect()
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // A poisoned lock only means a panic elsewhere; the state is still valid.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

async fn run_container(
    spec: LaunchSpec,
    container: Arc<Container>,
    fetcher: Fetcher,
    events: mpsc::UnboundedSender<ContainerEvent>,
    run_as: Option<(Uid, Gid)>,
) {
    let container_id = spec.container_id.clone();
    let fail = |message: String| {
        tracing::warn!("Container {container_id} failed to launch: {message}");
        append_to(&spec.directory.join("stderr"), &message);
        // The actor may be gone at shutdown; nothing to report to then.
        let _ = events.send(ContainerEvent::Terminated {
            container_id: container_id.clone(),
            status: None,
            launch_error: Some(message),
        });
    };

    let uris = spec.command.uris.clone();
    if !uris.is_empty() {
        let fetched = tokio::select! {
            result = fetcher.fetch_all(&uris, &spec.directory) => result.map_err(|e| e.to_string()),
            _ = container.cancel.notified() => Err("container destroyed during fetch".to_string()),
        };
        if let Err(e) = fetched {
            fail(format!(
                "Failed to fetch all URIs for container '{container_id}': {e}"
            ));
            return;
        }
    }

    if let Some((uid, gid)) = run_as {
        if let Err(e) = chown_tree(&spec.directory, uid, gid) {
            fail(format!(
                "Failed to chown sandbox '{}': {e}",
                spec.directory.display()
            ));
            return;
        }
    }

    let mut command = match build_command(&spec.command, &spec.directory) {
        Ok(command) => command,
        Err(e) => {
            fail(e);
            return;
        }
    };
    let (stdout, stderr) = match (
        open_log(&spec.directory, "stdout"),
        open_log(&spec.directory, "stderr"),
    ) {
        (Ok(out), Ok(err)) => (out, err),
        (Err(e), _) | (_, Err(e)) => {
            fail(e);
            return;
        }
    };
    command
        .env_clear()
        .envs(&spec.environment)
        .current_dir(&spec.directory)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // Its own process group, so the whole executor can be signalled.
        .process_group(0)
        .kill_on_drop(false);
    if let Some((uid, gid)) = run_as {
        command.uid(uid.as_raw()).gid(gid.as_raw());
    }

    // Spawn under the lock so a concurrent destroy either sees the pid or
    // stops the spawn.
    let spawned = {
        let mut state = lock(&container.state);
        if state.destroyed {
            None
        } else {
            let child = command.spawn();
            if let Ok(child) = &child {
                state.pid = child.id().map(|p| p as i32);
            }
            Some(child)
        }
    };
    let mut child = match spawned {
        None => {
            fail("container destroyed during launch".to_string());
            return;
        }
        Some(Err(e)) => {
            fail(format!("Failed to execute the executor command: {e}"));
            return;
        }
        Some(Ok(child)) => child,
    };
    let pid = child.id().map(|p| p as i32).unwrap_or(-1);
    tracing::info!("Launched container {container_id} with pid {pid}");
    let _ = events.send(ContainerEvent::Launched {
        container_id: container_id.clone(),
        pid,
    });

    let status = match child.wait().await {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            Some(status.into_raw())
        }
        Err(e) => {
            tracing::error!("Failed to wait for container {container_id}: {e}");
            None
        }
    };
    let _ = events.send(ContainerEvent::Terminated {
        container_id,
        status,
        launch_error: None,
    });
}

/// `shell=true` (the default) runs `sh -c value`; `shell=false` runs `value`
/// with `arguments` as the whole argv (argv[0] included).
pub fn build_command(
    command: &CommandInfo,
    directory: &Path,
) -> Result<tokio::process::Command, String> {
    let value = command.value.clone().unwrap_or_default();
    if command.shell.unwrap_or(true) {
        let mut c = tokio::process::Command::new("/bin/sh");
        c.arg0("sh").arg("-c").arg(value);
        return Ok(c);
    }
    if value.is_empty() {
        return Err("The executor command has no value to execute".to_string());
    }
    let program = if value.contains('/') && !value.starts_with('/') {
        directory.join(&value)
    } else {
        PathBuf::from(&value)
    };
    let mut c = tokio::process::Command::new(program);
    if let Some((argv0, rest)) = command.arguments.split_first() {
        c.arg0(argv0).args(rest);
    }
    Ok(c)
}

fn open_log(directory: &Path, name: &str) -> Result<std::fs::File, String> {
    let path = directory.join(name);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("Failed to open '{}': {e}", path.display()))
}

fn append_to(path: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        // Best effort: the message also goes to the agent log and the task status.
        let _ = writeln!(f, "{line}");
    }
}

/// The uid/gid to run as: only possible as root, and only for a known user.
fn run_as(user: Option<&str>) -> Option<(Uid, Gid)> {
    let user = user?;
    if !Uid::effective().is_root() {
        return None;
    }
    match User::from_name(user) {
        // Already that user: setting uid/gid anyway would make the spawn
        // fall back from posix_spawn to fork, which copies the agent's page
        // tables for every executor.
        Ok(Some(u)) if u.uid == Uid::effective() && u.gid == Gid::effective() => None,
        Ok(Some(u)) => Some((u.uid, u.gid)),
        _ => {
            tracing::warn!("User '{user}' does not exist on this agent; running the executor as the agent's user");
            None
        }
    }
}

fn chown_tree(path: &Path, uid: Uid, gid: Gid) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid.as_raw()), Some(gid.as_raw()))?;
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Parent pid of every process, from `/proc/<pid>/stat`.
fn process_parents() -> HashMap<i32, i32> {
    let mut parents = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return parents;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name may contain spaces and parentheses; fields
        // after the last ')' are: state ppid ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            parents.insert(pid, ppid);
        }
    }
    parents
}

/// `pid` and all its descendants.
pub fn process_tree(pid: i32) -> Vec<i32> {
    let parents = process_parents();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (child, parent) in parents {
        children.entry(parent).or_default().push(child);
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        if let Some(kids) = children.get(&tree[i]) {
            tree.extend(kids.iter().copied());
        }
        i += 1;
    }
    tree
}

/// SIGKILL to the executor's process group and every descendant (tasks
/// may have moved to their own groups).
fn kill_tree(pid: i32) {
    let tree = process_tree(pid);
    // Errors mean the process is already gone, which is the goal.
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    for p in tree {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::time::Duration;

    fn spec(dir: &Path, command: CommandInfo) -> LaunchSpec {
        let mut environment = BTreeMap::new();
        environment.insert("GREETING".to_string(), "hi".to_string());
        environment.insert("PATH".to_string(), environment::DEFAULT_PATH.to_string());
        LaunchSpec {
            container_id: "c1".into(),
            directory: dir.to_path_buf(),
            command,
            environment,
            user: None,
        }
    }

    fn shell(value: &str) -> CommandInfo {
        CommandInfo {
            value: Some(value.into()),
            ..Default::default()
        }
    }

    fn containerizer() -> (Containerizer, mpsc::UnboundedReceiver<ContainerEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let fetcher = Fetcher::new(None, None, Duration::from_secs(5)).unwrap();
        (Containerizer::new(fetcher, true, tx), rx)
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<ContainerEvent>) -> ContainerEvent {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn runs_in_the_sandbox_with_logs_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, mut rx) = containerizer();
        c.launch(spec(
            dir.path(),
            shell("echo $GREETING; pwd; echo oops >&2; read x || exit 3"),
        ));
        assert!(matches!(
            next(&mut rx).await,
            ContainerEvent::Launched { .. }
        ));
        match next(&mut rx).await {
            ContainerEvent::Terminated {
                status,
                launch_error,
                ..
            } => {
                assert_eq!(launch_error, None);
                let status = std::process::ExitStatus::from_raw(status.unwrap());
                assert_eq!(status.code(), Some(3), "stdin is /dev/null");
            }
            other => panic!("unexpected {other:?}"),
        }
        let stdout = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
        let canonical = dir.path().canonicalize().unwrap();
        assert_eq!(stdout, format!("hi\n{}\n", canonical.display()));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stderr")).unwrap(),
            "oops\n"
        );
    }

    #[tokio::test]
    async fn argv_commands_get_their_argv0() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, mut rx) = containerizer();
        let command = CommandInfo {
            shell: Some(false),
            value: Some("/bin/sh".into()),
            arguments: vec![
                "my-name".into(),
                "-c".into(),
                "tr '\\0' ' ' < /proc/$$/cmdline; echo; echo $0 $1".into(),
                "zero".into(),
                "one".into(),
            ],
            ..Default::default()
        };
        c.launch(spec(dir.path(), command));
        next(&mut rx).await;
        next(&mut rx).await;
        let out = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
        assert!(out.starts_with("my-name -c "), "{out}");
        assert!(out.ends_with("\nzero one\n"), "{out}");
    }

    #[tokio::test]
    async fn destroy_kills_the_process_tree() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, mut rx) = containerizer();
        // The child escapes into its own process group, like a task might.
        c.launch(spec(
            dir.path(),
            shell("setsid sleep 1000 & echo $! > child; sleep 1000"),
        ));
        let pid = match next(&mut rx).await {
            ContainerEvent::Launched { pid, .. } => pid,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(c.pid("c1"), Some(pid));
        let child_file = dir.path().join("child");
        let mut child_pid = None;
        for _ in 0..100 {
            if let Ok(s) = std::fs::read_to_string(&child_file) {
                if let Ok(p) = s.trim().parse::<i32>() {
                    child_pid = Some(p);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let child_pid = child_pid.unwrap();
        // Wait until the child has really become `sleep` in its own session.
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.destroy("c1");
        match next(&mut rx).await {
            ContainerEvent::Terminated { status, .. } => {
                let status = std::process::ExitStatus::from_raw(status.unwrap());
                assert_eq!(status.signal(), Some(9));
            }
            other => panic!("unexpected {other:?}"),
        }
        // The escaped child is gone too (it may linger as a zombie of init).
        let mut gone = false;
        for _ in 0..100 {
            let stat =
                std::fs::read_to_string(format!("/proc/{child_pid}/stat")).unwrap_or_default();
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next().map(String::from));
            if stat.is_empty() || state.as_deref() == Some("Z") {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "escaped child {child_pid} survived");
    }

    #[tokio::test]
    async fn fetch_failures_end_the_container_without_running_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, mut rx) = containerizer();
        let mut command = shell("touch ran");
        command.uris.push(mesos_proto::mesos::command_info::Uri {
            value: "/no/such/archive.tgz".into(),
            ..Default::default()
        });
        c.launch(spec(dir.path(), command));
        match next(&mut rx).await {
            ContainerEvent::Terminated {
                status: None,
                launch_error: Some(e),
                ..
            } => {
                assert!(
                    e.contains("Failed to fetch all URIs for container 'c1'"),
                    "{e}"
                );
                assert!(e.contains("/no/such/archive.tgz"), "{e}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!dir.path().join("ran").exists());
        assert!(std::fs::read_to_string(dir.path().join("stderr"))
            .unwrap()
            .contains("Failed to fetch"));
    }

    #[tokio::test]
    async fn missing_executables_fail_the_launch() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, mut rx) = containerizer();
        let command = CommandInfo {
            shell: Some(false),
            value: Some("/no/such/mesos-executor".into()),
            ..Default::default()
        };
        c.launch(spec(dir.path(), command));
        match next(&mut rx).await {
            ContainerEvent::Terminated {
                launch_error: Some(e),
                ..
            } => assert!(e.contains("Failed to execute"), "{e}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
