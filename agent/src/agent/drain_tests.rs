//! Draining on the agent actor (upstream `Slave::drain`): the config is
//! checkpointed, the task is killed with the draining reason, new tasks
//! are refused, and the checkpoint goes once no framework is left.

use super::*;
use mesos_proto::mesos::{DrainConfig, DurationInfo};

fn drain_message(grace_secs: i64) -> msgs::DrainSlaveMessage {
    msgs::DrainSlaveMessage {
        config: DrainConfig {
            max_grace_period: Some(DurationInfo {
                nanoseconds: grace_secs * 1_000_000_000,
            }),
            mark_gone: Some(false),
        },
    }
}

#[tokio::test]
async fn drain_kills_tasks_refuses_new_ones_and_ends_with_the_last_framework() {
    let h = harness(&["--executor_shutdown_grace_period=200ms"]);
    h.register().await;
    h.deliver(&h.master, &run_task(command_task("t1", "sleep 1000"), None));
    wait_for_file(&h.sandbox("F1", "t1").join("env.txt")).await;

    h.deliver(&h.master, &drain_message(0));
    let (_, killed) = h.expect::<msgs::StatusUpdateMessage>().await;
    assert_eq!(killed.update.status.state, TaskState::TaskKilled as i32);
    assert_eq!(
        killed.update.status.reason,
        Some(Reason::SlaveDraining as i32)
    );
    let checkpoint = crate::paths::drain_config_path(h.work_dir.path(), "S1");
    let stored: Option<DrainConfig> = crate::checkpoint::read_message(&checkpoint).unwrap();
    assert_eq!(stored, Some(drain_message(0).config));
    let agent = h.query(Query::AgentInfo).await;
    assert_eq!(
        agent.drain_config.and_then(|c| c.max_grace_period),
        Some(mesos_proto::mesos::v1::DurationInfo { nanoseconds: 0 })
    );
    assert!(agent.estimated_drain_start_time.is_some());
    assert_eq!(
        h.state().await["drain_config"]["max_grace_period"]["nanoseconds"],
        0
    );

    // A task arriving while draining is dropped, with the draining reason.
    h.deliver(&h.master, &run_task(command_task("t2", "sleep 1000"), None));
    let (_, dropped) = h.expect::<msgs::StatusUpdateMessage>().await;
    assert_eq!(dropped.update.status.task_id.value, "t2");
    assert_eq!(dropped.update.status.state, TaskState::TaskLost as i32);
    assert_eq!(
        dropped.update.status.reason,
        Some(Reason::SlaveDraining as i32)
    );
    assert_eq!(
        dropped.update.status.message.as_deref(),
        Some("Task was received while agent was already draining")
    );

    // The executor that never got its task is shut down; once the kill is
    // acknowledged the framework goes, and draining is over on the agent.
    let mut events = h.subscribe("F1", "t1").await;
    events.expect(event::Type::Shutdown).await;
    h.deliver(
        &h.master,
        &msgs::StatusUpdateAcknowledgementMessage {
            slave_id: SlaveId { value: "S1".into() },
            framework_id: FrameworkId { value: "F1".into() },
            task_id: TaskId { value: "t1".into() },
            uuid: killed.update.uuid.clone().unwrap_or_default(),
        },
    );
    for _ in 0..400 {
        if h.query(Query::AgentInfo).await.drain_config.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(h.query(Query::AgentInfo).await.drain_config.is_none());
    assert!(!checkpoint.exists());
    h.finish().await;
}

// Upstream replays a checkpointed drain after a restart (`__recover`);
// with nothing left to kill, draining is over and the checkpoint goes.
#[tokio::test]
async fn a_checkpointed_drain_is_replayed_after_a_restart() {
    let h = harness(&[]);
    h.register().await;
    let Harness {
        work_dir,
        inbox,
        actor,
        ..
    } = h;
    inbox.send(Input::Shutdown { graceful: false }).unwrap();
    tokio::time::timeout(WAIT, actor).await.unwrap().unwrap();
    let checkpoint = crate::paths::drain_config_path(work_dir.path(), "S1");
    crate::checkpoint::write_message(&checkpoint, &drain_message(5).config).unwrap();

    let h = harness_in(work_dir, &[]);
    for _ in 0..400 {
        if !checkpoint.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!checkpoint.exists(), "the replayed drain did not end");
    assert!(h.query(Query::AgentInfo).await.drain_config.is_none());
    h.finish().await;
}
