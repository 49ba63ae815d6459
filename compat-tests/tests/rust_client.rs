//! Our own scheduler library (`mesos-scheduler-client`) speaking protobuf,
//! and `mesos-execute`, against a real master and agent.

use std::process::Command;
use std::time::Duration;

use compat_tests::*;
use mesos_proto::mesos::v1::scheduler::event;
use mesos_proto::mesos::v1::{
    value, CommandInfo, FrameworkInfo, Resource, TaskId, TaskInfo, TaskState,
};
use mesos_scheduler_client::{Client, ContentType};

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

#[test]
fn protobuf_scheduler_launches_a_command_task_and_acknowledges_its_updates() {
    let mut cluster = Cluster::for_clients();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (fw, task_id, states) = rt.block_on(async {
        let client = Client::connect(&cluster.master, ContentType::Protobuf)
            .await
            .expect("connect");
        let info = FrameworkInfo {
            user: "root".into(),
            name: "rust protobuf compat".into(),
            ..Default::default()
        };
        let mut sub = client.subscribe(info).await.expect("subscribe");
        let fw = sub.framework_id.value.clone();
        let task_id = "proto-task".to_string();
        let mut states = Vec::new();
        let mut launched = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, sub.recv()).await {
            let ev = ev.expect("event");
            if let Some(event::Offers { offers }) = ev.offers {
                for offer in offers {
                    if launched {
                        client
                            .decline(vec![offer.id.clone()], None)
                            .await
                            .expect("decline");
                        continue;
                    }
                    launched = true;
                    let task = TaskInfo {
                        name: "echo over protobuf".into(),
                        task_id: TaskId {
                            value: task_id.clone(),
                        },
                        agent_id: offer.agent_id.clone(),
                        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
                        command: Some(CommandInfo {
                            value: Some("echo hello".into()),
                            shell: Some(true),
                            ..Default::default()
                        }),
                        ..Default::default()
                    };
                    client.launch(&offer, vec![task]).await.expect("launch");
                }
            }
            if let Some(event::Update { status }) = ev.update {
                assert!(status.agent_id.is_some(), "update without agent_id");
                states.push(status.state);
                assert!(
                    client.acknowledge(&status).await.expect("ack"),
                    "executor updates carry a uuid"
                );
                if status.state == TaskState::TaskFinished as i32 {
                    break;
                }
            }
        }
        client.teardown().await.expect("teardown");
        (fw, task_id, states)
    });
    let names: Vec<&str> = states
        .iter()
        .map(|s| {
            TaskState::try_from(*s)
                .map(|s| s.as_str_name())
                .unwrap_or("?")
        })
        .collect();
    assert_eq!(
        names,
        ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
        "{}",
        cluster.logs()
    );
    let path = format!("/frameworks/{fw}/executors/{task_id}/runs/latest/stdout");
    let r = http_get(
        &cluster.agent,
        &format!("/files/read?path={}&offset=0", urlencode(&path)),
    )
    .expect("read");
    assert_eq!(r.json()["data"].as_str().map(str::trim), Some("hello"));
    // Teardown moved the framework to completed_frameworks.
    wait_for(Duration::from_secs(10), "framework teardown", || {
        cluster.master_state().is_some_and(|s| {
            s["completed_frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["id"] == fw.as_str())
        })
    });
    cluster.assert_alive();
}

#[test]
fn mesos_execute_runs_a_command_to_completion() {
    let mut cluster = Cluster::for_clients();
    let mut cmd = Command::new(our_binary("mesos-execute"));
    cmd.arg(format!("--master={}", cluster.master))
        .arg("--name=compat-execute")
        .arg("--command=echo hi from mesos-execute")
        .arg("--resources=cpus:0.1;mem:32");
    let (_, output, status) = run_client(cmd, Duration::from_secs(60));
    assert!(status.success(), "{output}\n{}", cluster.logs());
    assert!(output.contains("TASK_RUNNING"), "{output}");
    assert!(output.contains("TASK_FINISHED"), "{output}");
    cluster.assert_alive();
}
