//! A cluster with history, for tests that read what a busy master and
//! agent report: one finished task, one killed task and one running task
//! (of a framework that stays subscribed), and one torn-down framework.

use std::time::Duration;

use mesos_proto::mesos::v1::scheduler::event;
use mesos_proto::mesos::v1::{
    value, CommandInfo, FrameworkInfo, Resource, TaskId, TaskInfo, TaskState,
};
use mesos_scheduler_client::{Client, ContentType};

use crate::{wait_for, Cluster, ClusterOptions};

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

fn task(id: &str, command: &str, agent_id: Option<mesos_proto::mesos::v1::AgentId>) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: agent_id.expect("offer has an agent id"),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        command: Some(CommandInfo {
            value: Some(command.into()),
            shell: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Starts a cluster with one finished task, one killed task and one running task
/// (of a framework that stays subscribed), and one torn-down framework.
/// Returns the cluster and the runtime that keeps the live framework's
/// subscription open.
pub fn busy_cluster() -> (
    Cluster,
    tokio::runtime::Runtime,
    tokio::task::JoinHandle<()>,
) {
    let cluster = Cluster::start(ClusterOptions::default());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let master = cluster.master.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let live = rt.spawn(async move {
        let client = Client::connect(&master, ContentType::Protobuf)
            .await
            .expect("connect");
        let info = FrameworkInfo {
            user: "root".into(),
            name: "metrics busy framework".into(),
            ..Default::default()
        };
        let mut sub = client.subscribe(info).await.expect("subscribe");
        let mut launched = false;
        let mut killed = false;
        let mut done = [false; 3]; // finished, killed, running
        while let Some(ev) = sub.recv().await {
            let Ok(ev) = ev else { break };
            if let Some(event::Offers { offers }) = ev.offers {
                for offer in offers {
                    if launched {
                        let _ = client.decline(vec![offer.id.clone()], None).await;
                        continue;
                    }
                    launched = true;
                    let tasks = vec![
                        task("finishes", "true", Some(offer.agent_id.clone())),
                        task("killed", "sleep 600", Some(offer.agent_id.clone())),
                        task("runs", "sleep 600", Some(offer.agent_id.clone())),
                    ];
                    client.launch(&offer, tasks).await.expect("launch");
                }
            }
            if let Some(event::Update { status }) = ev.update {
                let _ = client.acknowledge(&status).await;
                let id = status.task_id.value.as_str();
                let state = status.state;
                if id == "killed" && state == TaskState::TaskRunning as i32 && !killed {
                    killed = true;
                    client
                        .kill(status.task_id.clone(), status.agent_id.clone())
                        .await
                        .expect("kill");
                }
                match (id, TaskState::try_from(state)) {
                    ("finishes", Ok(TaskState::TaskFinished)) => done[0] = true,
                    ("killed", Ok(TaskState::TaskKilled)) => done[1] = true,
                    ("runs", Ok(TaskState::TaskRunning)) => done[2] = true,
                    _ => {}
                }
                if done.iter().all(|d| *d) {
                    let _ = ready_tx.send(());
                }
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(90))
        .unwrap_or_else(|_| panic!("tasks did not settle\n{}", cluster.logs()));

    // A framework that registers and tears itself down.
    rt.block_on(async {
        let client = Client::connect(&cluster.master, ContentType::Json)
            .await
            .expect("connect");
        let info = FrameworkInfo {
            user: "root".into(),
            name: "metrics completed framework".into(),
            ..Default::default()
        };
        let _sub = client.subscribe(info).await.expect("subscribe");
        client.teardown().await.expect("teardown");
    });
    wait_for(Duration::from_secs(20), "completed framework", || {
        cluster.master_state().is_some_and(|s| {
            s["completed_frameworks"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
        })
    });
    (cluster, rt, live)
}
