//! The containerizer with the real `mesos-containerizer` launch helper:
//! executors get a session of their own, whatever they leave behind dies
//! with them before `Terminated` is reported, and an executor that is not
//! our child (after an agent restart) is watched by pid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesos_agent::containerizer::{
    is_alive, proc_stat, session_members, ContainerEvent, Containerizer, LaunchSpec,
};
use mesos_agent::fetcher::Fetcher;
use mesos_proto::mesos::CommandInfo;
use tokio::sync::mpsc;

fn helper() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mesos-containerizer"))
}

fn containerizer(runtime: &Path) -> (Containerizer, mpsc::UnboundedReceiver<ContainerEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let fetcher = Fetcher::new(None, None, Duration::from_secs(5)).expect("fetcher");
    let c = Containerizer::new(fetcher, false, tx)
        .with_launcher(Some(helper()))
        .with_runtime_dir(runtime.to_path_buf())
        .with_poll_interval(Duration::from_millis(20));
    (c, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<ContainerEvent>) -> ContainerEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("an event in time")
        .expect("the channel is open")
}

async fn read_pid(path: &Path) -> i32 {
    for _ in 0..500 {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never appeared", path.display());
}

#[tokio::test]
async fn leftovers_of_an_exited_executor_die_before_it_is_reported_terminated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut c, mut rx) = containerizer(&dir.path().join("runtime"));
    let mut environment = BTreeMap::new();
    environment.insert("PATH".to_string(), "/usr/bin:/bin".to_string());
    c.launch(LaunchSpec {
        container_id: "c1".into(),
        directory: dir.path().to_path_buf(),
        command: CommandInfo {
            // The executor leaves a child behind and waits until told to go.
            value: Some(
                "sleep 1000 & echo $! > child; while [ ! -e go ]; do sleep 0.02; done".into(),
            ),
            ..Default::default()
        },
        environment,
        user: None,
        // Through the helper: it waits for the go-ahead until this is written.
        forked_pid_file: Some(dir.path().join("meta/forked.pid")),
    });
    let pid = match next(&mut rx).await {
        ContainerEvent::Launched { pid, .. } => pid,
        other => panic!("unexpected {other:?}"),
    };
    let child = read_pid(&dir.path().join("child")).await;
    assert_eq!(
        proc_stat(pid).map(|s| s.session),
        Some(pid),
        "a session leader"
    );
    assert_eq!(proc_stat(child).map(|s| s.session), Some(pid));
    assert!(
        std::fs::read_to_string(dir.path().join("runtime/containers/c1/pid"))
            .expect("pid record")
            .trim()
            == pid.to_string()
    );

    assert_eq!(
        std::fs::read_to_string(dir.path().join("meta/forked.pid")).expect("forked pid"),
        pid.to_string()
    );

    std::fs::write(dir.path().join("go"), b"").expect("go");
    match next(&mut rx).await {
        ContainerEvent::Terminated { status, .. } => assert_eq!(status, Some(0)),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!is_alive(child), "the leftover child survived its executor");
    assert!(session_members(pid).is_empty());
    assert!(!dir.path().join("runtime/containers/c1").exists());
}

#[tokio::test]
async fn a_recovered_executor_is_watched_and_destroyed_by_pid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut c, mut rx) = containerizer(&dir.path().join("runtime"));
    // As a previous agent run would have left it: a session of its own.
    let mut executor = std::process::Command::new(helper())
        .args(["launch", "/bin/sh", "sh", "-c", "sleep 1000 & wait"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // The go-ahead the agent sends once it recorded the pid.
    std::io::Write::write_all(&mut executor.stdin.take().expect("stdin"), b"1").expect("go-ahead");
    let pid = executor.id() as i32;
    for _ in 0..500 {
        if session_members(pid).len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(session_members(pid).len(), 2, "sh and sleep");
    c.recover("c2", Some(pid));
    assert_eq!(c.pid("c2"), Some(pid));
    // Still running: nothing is reported.
    assert!(tokio::time::timeout(Duration::from_millis(200), rx.recv())
        .await
        .is_err());
    c.destroy("c2");
    match next(&mut rx).await {
        ContainerEvent::Terminated {
            container_id,
            status,
            launch_error,
        } => {
            assert_eq!(container_id, "c2");
            assert_eq!(status, None, "not our child: no wait status");
            assert_eq!(launch_error, None);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(session_members(pid).is_empty());
    let _ = executor.wait();
}

#[tokio::test]
async fn a_recovered_pid_that_is_gone_is_terminated_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut c, mut rx) = containerizer(&dir.path().join("runtime"));
    let mut gone = std::process::Command::new("true").spawn().expect("spawn");
    let pid = gone.id() as i32;
    gone.wait().expect("wait");
    c.recover("c3", Some(pid));
    assert!(matches!(
        next(&mut rx).await,
        ContainerEvent::Terminated { status: None, .. }
    ));
    c.recover("c4", None);
    assert!(matches!(
        next(&mut rx).await,
        ContainerEvent::Terminated { status: None, .. }
    ));
}
