//! The posix containerizer: runs executors as plain processes.
//!
//! A launch fetches the executor's URIs into the sandbox, then starts the
//! command through the `mesos-containerizer launch` helper, which gives the
//! executor a session of its own, with stdin on `/dev/null` and
//! stdout/stderr appended to the sandbox's `stdout`/`stderr` files, in the
//! sandbox as working directory, and reaps it. The session id (the
//! executor's pid) is what makes a container's processes findable after
//! the executor died or the agent restarted: when the executor ends, every
//! process left in its session is killed before `Terminated` is reported,
//! so its resources are never offered while its tasks still run.
//! `destroy` kills the session and the process tree with SIGKILL (or
//! cancels a launch still fetching). A container whose processes survive
//! that cleanup counts as a destroy error (upstream
//! `containerizer/mesos/container_destroy_errors`).
//!
//! After an agent restart the executors are no longer our children:
//! [`Containerizer::recover`] re-attaches to one by pid and watches it by
//! polling `/proc`. Every launched container's pid is recorded under
//! `<work_dir>/runtime/containers/<id>/pid` (the work directory, not a
//! host-wide runtime directory, so agents sharing a host never see each
//! other's containers), which is how [`Containerizer::orphans`] finds
//! containers that no checkpoint accounts for.
//!
//! Progress is reported as [`ContainerEvent`]s on the channel given at
//! construction: `Launched` once the process runs, `Terminated` exactly once
//! per launched or recovered container (including failed launches).
//!
//! Executors run as the task's user only when the agent runs as root with
//! `--switch_user` and the user exists; otherwise as the agent's user.
//! No isolation or resource enforcement (posix isolation). It never touches
//! agent bookkeeping.

pub mod environment;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesos_proto::mesos::CommandInfo;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{Gid, Pid, Uid, User};
use tokio::sync::{mpsc, Notify};

use crate::fetcher::Fetcher;

/// Everything needed to start one executor container.
#[derive(Clone)]
pub struct LaunchSpec {
    pub container_id: String,
    /// The sandbox (run directory), already created.
    pub directory: PathBuf,
    pub command: CommandInfo,
    pub environment: BTreeMap<String, String>,
    /// The user the executor should run as, if any.
    pub user: Option<String>,
    /// Where the executor's pid is checkpointed (a checkpointing
    /// framework's executor). It is written before the executor may run, so
    /// an agent that dies mid-launch never leaves behind an executor that
    /// its next run cannot find.
    pub forked_pid_file: Option<PathBuf>,
}

impl std::fmt::Debug for LaunchSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Variable names only: the environment carries the executor's
        // authentication token.
        f.debug_struct("LaunchSpec")
            .field("container_id", &self.container_id)
            .field("directory", &self.directory)
            .field("command", &self.command)
            .field("environment", &self.environment.keys().collect::<Vec<_>>())
            .field("user", &self.user)
            .field("forked_pid_file", &self.forked_pid_file)
            .finish()
    }
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
    /// The `mesos-containerizer` helper; without it executors get only a
    /// process group (and a dead executor's escaped children are missed).
    launcher: Option<PathBuf>,
    /// Where container pids are recorded; `None` records nothing.
    runtime_dir: Option<PathBuf>,
    /// How often a recovered executor is checked for liveness.
    poll_interval: Duration,
    /// Containers whose session could not be emptied; shared with the
    /// tasks that clean containers up.
    destroy_errors: Arc<AtomicU64>,
}

/// How often [`Containerizer::recover`] checks a re-attached executor.
pub const RECOVERED_POLL_INTERVAL: Duration = Duration::from_millis(500);

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
            launcher: None,
            runtime_dir: None,
            poll_interval: RECOVERED_POLL_INTERVAL,
            destroy_errors: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Containers whose processes survived their destruction so far.
    pub fn destroy_errors(&self) -> u64 {
        self.destroy_errors.load(Ordering::Relaxed)
    }

    /// The fetcher's counts of container fetches.
    pub fn fetches(&self) -> &crate::fetcher::FetchCounts {
        self.fetcher.counts()
    }

    /// Launches through the `mesos-containerizer` helper at `path`.
    pub fn with_launcher(mut self, path: Option<PathBuf>) -> Self {
        self.launcher = path;
        self
    }

    /// Records container pids under `dir/containers/<id>/pid`.
    pub fn with_runtime_dir(mut self, dir: PathBuf) -> Self {
        self.runtime_dir = Some(dir);
        self
    }

    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Re-attaches to a running executor after an agent restart: it is
    /// watched by pid, and `Terminated` (without a wait status: it is not
    /// our child) follows once it is gone and its session is cleaned up.
    /// A pid that is already gone is reported terminated at once.
    pub fn recover(&mut self, container_id: &str, pid: Option<i32>) {
        let container = Arc::new(Container {
            state: Mutex::new(State {
                pid,
                destroyed: false,
            }),
            cancel: Notify::new(),
        });
        self.containers.insert(container_id.to_string(), container);
        let events = self.events.clone();
        let id = container_id.to_string();
        let interval = self.poll_interval;
        let record = self.record_path(container_id);
        let destroy_errors = Arc::clone(&self.destroy_errors);
        tokio::spawn(async move {
            if let Some(pid) = pid {
                let mut ticker = tokio::time::interval(interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while is_alive(pid) {
                    ticker.tick().await;
                }
                tracing::info!("Recovered container {id} (pid {pid}) has terminated");
                if !kill_session(pid).await {
                    destroy_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Some(record) = record {
                let _ = std::fs::remove_dir_all(record);
            }
            let _ = events.send(ContainerEvent::Terminated {
                container_id: id,
                status: None,
                launch_error: None,
            });
        });
    }

    /// Containers recorded under the runtime directory that are not in
    /// `known`: left by a previous agent run and not recoverable (their
    /// framework did not checkpoint, or `--recover=cleanup`). Returns
    /// their ids and pids.
    pub fn orphans(&self, known: &HashSet<String>) -> Vec<(String, i32)> {
        let Some(dir) = self.runtime_dir.as_ref().map(|d| d.join("containers")) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(String::from) else {
                continue;
            };
            if known.contains(&id) {
                continue;
            }
            let pid = std::fs::read_to_string(entry.path().join("pid"))
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            match pid {
                Some(pid) => out.push((id, pid)),
                // Died before the pid was written: nothing can be running.
                None => {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        out
    }

    /// Kills an orphan container's session and forgets its record.
    pub async fn destroy_orphan(&self, container_id: &str, pid: i32) {
        if is_alive(pid) {
            tracing::info!("Killing orphan container {container_id} (pid {pid})");
            kill_tree(pid);
        }
        if !kill_session(pid).await {
            self.destroy_errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(record) = self.record_path(container_id) {
            let _ = std::fs::remove_dir_all(record);
        }
    }

    fn record_path(&self, container_id: &str) -> Option<PathBuf> {
        self.runtime_dir
            .as_ref()
            .map(|d| d.join("containers").join(container_id))
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
        let setup = Setup {
            fetcher,
            events,
            run_as,
            launcher: self.launcher.clone(),
            record: self.record_path(&spec.container_id),
            destroy_errors: Arc::clone(&self.destroy_errors),
        };
        tokio::spawn(run_container(spec, container, setup));
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
            // Processes that left the tree are still in the session.
            for member in session_members(pid) {
                let _ = kill(Pid::from_raw(member), Signal::SIGKILL);
            }
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

/// What a launch needs besides its spec.
struct Setup {
    fetcher: Fetcher,
    events: mpsc::UnboundedSender<ContainerEvent>,
    run_as: Option<(Uid, Gid)>,
    launcher: Option<PathBuf>,
    record: Option<PathBuf>,
    destroy_errors: Arc<AtomicU64>,
}

async fn run_container(spec: LaunchSpec, container: Arc<Container>, setup: Setup) {
    let Setup {
        fetcher,
        events,
        run_as,
        launcher,
        record,
        destroy_errors,
    } = setup;
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

    // Every launch goes through the fetcher, with or without URIs, so its
    // counts are per container as upstream's are.
    let uris = spec.command.uris.clone();
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

    if let Some((uid, gid)) = run_as {
        if let Err(e) = chown_tree(&spec.directory, uid, gid) {
            fail(format!(
                "Failed to chown sandbox '{}': {e}",
                spec.directory.display()
            ));
            return;
        }
    }

    let argv = match executor_argv(&spec.command, &spec.directory) {
        Ok(argv) => argv,
        Err(e) => {
            fail(e);
            return;
        }
    };
    // The helper would only report a missing executable after the fork.
    if argv.program.components().count() > 1 && !argv.program.is_file() {
        fail(format!(
            "Failed to execute the executor command: '{}' does not exist",
            argv.program.display()
        ));
        return;
    }
    let mut command = argv.command(launcher.as_deref());
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
    // The helper waits on its stdin for the go-ahead (see below); without
    // it the executor reads nothing.
    let stdin = if launcher.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    command
        .env_clear()
        .envs(&spec.environment)
        .current_dir(&spec.directory)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(false);
    if launcher.is_none() {
        // Without the helper's session, a process group at least lets the
        // whole executor be signalled.
        command.process_group(0);
    }
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
    // The pid is durable before the executor runs: the helper blocks until
    // it reads the go-ahead byte, and exits without running anything when
    // its stdin closes first (this agent died in between).
    if let Some(path) = &spec.forked_pid_file {
        if let Err(e) = crate::checkpoint::write_text(path, &pid.to_string()) {
            kill_tree(pid);
            let _ = child.wait().await;
            fail(format!("Failed to checkpoint the executor's pid: {e}"));
            return;
        }
    }
    if let Some(mut go) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        // A helper that already died is reported by the wait below.
        let _ = go.write_all(b"1").await;
    }
    tracing::info!("Launched container {container_id} with pid {pid}");
    if let Some(record) = &record {
        // Best effort: without it only an orphan of a non-checkpointing
        // framework could be missed after a crash.
        if let Err(e) = crate::checkpoint::write_text(&record.join("pid"), &pid.to_string()) {
            tracing::warn!("Failed to record the pid of container {container_id}: {e}");
        }
    }
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
    // Whatever the executor left running in its session dies with it.
    if !kill_session(pid).await {
        destroy_errors.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(record) = &record {
        let _ = std::fs::remove_dir_all(record);
    }
    let _ = events.send(ContainerEvent::Terminated {
        container_id,
        status,
        launch_error: None,
    });
}

/// The program to run and its whole argv (argv[0] included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorArgv {
    pub program: PathBuf,
    pub argv: Vec<String>,
}

impl ExecutorArgv {
    /// The process to spawn: through the launch helper when there is one.
    pub fn command(&self, launcher: Option<&Path>) -> tokio::process::Command {
        match launcher {
            Some(helper) => {
                let mut c = tokio::process::Command::new(helper);
                c.arg("launch").arg(&self.program).args(&self.argv);
                c
            }
            None => {
                let mut c = tokio::process::Command::new(&self.program);
                if let Some((argv0, rest)) = self.argv.split_first() {
                    c.arg0(argv0).args(rest);
                }
                c
            }
        }
    }
}

/// `shell=true` (the default) runs `sh -c value`; `shell=false` runs `value`
/// with `arguments` as the whole argv (argv[0] included).
pub fn executor_argv(command: &CommandInfo, directory: &Path) -> Result<ExecutorArgv, String> {
    let value = command.value.clone().unwrap_or_default();
    if command.shell.unwrap_or(true) {
        return Ok(ExecutorArgv {
            program: PathBuf::from("/bin/sh"),
            argv: vec!["sh".into(), "-c".into(), value],
        });
    }
    if value.is_empty() {
        return Err("The executor command has no value to execute".to_string());
    }
    let program = if value.contains('/') && !value.starts_with('/') {
        directory.join(&value)
    } else {
        PathBuf::from(&value)
    };
    let mut argv = command.arguments.clone();
    if argv.is_empty() {
        argv.push(value);
    }
    Ok(ExecutorArgv { program, argv })
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

/// The fields of `/proc/<pid>/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<ProcStat> {
    // The command name may contain spaces and parentheses; fields after
    // the last ')' are: state ppid pgrp session ...
    let rest = stat.rfind(')').map(|i| &stat[i + 1..])?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    Some(ProcStat {
        state,
        ppid,
        pgrp,
        session,
    })
}

/// Whether `pid` runs (a zombie has finished running).
pub fn is_alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// `/proc/<pid>/stat` of every process.
fn all_processes() -> Vec<(i32, ProcStat)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            Some((pid, proc_stat(pid)?))
        })
        .collect()
}

/// Parent pid of every process.
fn process_parents() -> HashMap<i32, i32> {
    all_processes()
        .into_iter()
        .map(|(pid, s)| (pid, s.ppid))
        .collect()
}

/// Live (non-zombie) members of session `sid`.
pub fn session_members(sid: i32) -> Vec<i32> {
    all_processes()
        .into_iter()
        .filter(|(_, s)| s.session == sid && s.state != 'Z' && s.state != 'X')
        .map(|(pid, _)| pid)
        .collect()
}

/// How long [`kill_session`] keeps trying before it gives up on a process
/// that does not die (e.g. stuck in uninterruptible sleep).
const SESSION_KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// SIGKILLs every process of session `sid` until none is left; false when
/// some survive [`SESSION_KILL_TIMEOUT`]. The session is never ours: the
/// agent's own session is refused (and nothing is left to fail then).
pub async fn kill_session(sid: i32) -> bool {
    if sid <= 1 || nix::unistd::getsid(None).map(|s| s.as_raw()) == Ok(sid) {
        return true;
    }
    let deadline = tokio::time::Instant::now() + SESSION_KILL_TIMEOUT;
    loop {
        let members = session_members(sid);
        if members.is_empty() {
            return true;
        }
        tracing::info!(
            "Killing {} leftover process(es) of session {sid}",
            members.len()
        );
        for pid in members {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::error!("Processes of session {sid} survive SIGKILL; giving up");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

/// SIGKILL to a process, its process group, every descendant and every
/// member of the session it leads.
pub fn kill_process_tree(pid: i32) {
    kill_tree(pid);
    for member in session_members(pid) {
        let _ = kill(Pid::from_raw(member), Signal::SIGKILL);
    }
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
            forked_pid_file: None,
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
    async fn a_checkpointing_executors_pid_is_on_disk_once_it_is_launched() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("meta").join("forked.pid");
        let (mut c, mut rx) = containerizer();
        c.launch(LaunchSpec {
            forked_pid_file: Some(pid_file.clone()),
            ..spec(dir.path(), shell("sleep 30"))
        });
        let ContainerEvent::Launched { pid, .. } = next(&mut rx).await else {
            panic!("not launched");
        };
        assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
        c.destroy("c1");
        assert!(matches!(
            next(&mut rx).await,
            ContainerEvent::Terminated { .. }
        ));
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
