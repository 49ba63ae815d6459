//! The agent over real sockets on 127.0.0.1: it registers with a fake
//! libprocess master, pongs to the pinging observer, and serves its HTTP
//! endpoints under both the short and the `/slave(1)` forms.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::time::Duration;

use bytes::Bytes;
use libprocess::{Message, Server, Transport, Upid};
use mesos_agent::agent::Input;
use mesos_agent::flags::{Flags, Parsed};
use mesos_proto::mesos::internal as msgs;
use prost::Message as _;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

async fn next_named(rx: &mut mpsc::UnboundedReceiver<Message>, name: &str) -> Message {
    loop {
        let m = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {name} received"))
            .expect("channel closed");
        if m.name == name {
            return m;
        }
    }
}

#[tokio::test]
async fn registers_pongs_and_serves_endpoints() {
    // A fake master: a `master` process and an observer for pings.
    let (master_tx, mut master_rx) = mpsc::unbounded_channel();
    let (observer_tx, mut observer_rx) = mpsc::unbounded_channel();
    let server = Server::builder("master")
        .messages("master", master_tx)
        .messages("slave-observer(1)", observer_tx)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let master_addr = server.local_addr();
    let serving = server.serve();
    let master_pid = Upid::from_addr("master", master_addr);
    let observer_pid = Upid::from_addr("slave-observer(1)", master_addr);

    let work_dir = tempfile::tempdir().unwrap();
    let args = vec![
        "mesos-agent".to_string(),
        format!("--master={master_addr}"),
        format!("--work_dir={}", work_dir.path().display()),
        "--ip=127.0.0.1".to_string(),
        "--port=0".to_string(),
        "--registration_backoff_factor=10ms".to_string(),
        "--resources=cpus:2;mem:512;disk:100;ports:[31000-31010]".to_string(),
        "--attributes=rack:r1".to_string(),
    ];
    let flags = match Flags::load(args).unwrap() {
        Parsed::Run(f) => *f,
        Parsed::Print(_) => unreachable!(),
    };
    let agent = mesos_agent::start(flags).await.unwrap();
    let base = format!("http://{}:{}", agent.pid.ip, agent.pid.port);

    let register = next_named(&mut master_rx, "mesos.internal.RegisterSlaveMessage").await;
    assert_eq!(register.from, agent.pid);
    let m = msgs::RegisterSlaveMessage::decode(&register.body[..]).unwrap();
    assert_eq!(m.version.as_deref(), Some("1.11.0"));
    assert_eq!(m.slave.port, Some(i32::from(agent.pid.port)));
    assert_eq!(m.slave.attributes[0].name, "rack");

    let (transport, _exited) = Transport::new();
    transport.send_message(
        &master_pid,
        &agent.pid,
        &msgs::SlaveRegisteredMessage {
            slave_id: mesos_proto::mesos::SlaveId { value: "S1".into() },
            connection: None,
        },
    );
    transport.send_message(
        &observer_pid,
        &agent.pid,
        &msgs::PingSlaveMessage { connected: true },
    );
    let pong = next_named(&mut observer_rx, "mesos.internal.PongSlaveMessage").await;
    assert_eq!(pong.from, agent.pid);
    assert_eq!(pong.body, Bytes::new());

    let client = reqwest::Client::new();
    let get = |path: &str| {
        let url = format!("{base}{path}");
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };

    // Registered: the state says so under both paths.
    let mut state = serde_json::Value::Null;
    for _ in 0..200 {
        let (status, body) = get("/state").await;
        assert_eq!(status, 200);
        state = serde_json::from_str(&body).unwrap();
        if state["id"] == "S1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state["id"], "S1");
    assert_eq!(state["pid"], agent.pid.to_string());
    assert_eq!(state["resources"]["cpus"], 2.0);
    assert_eq!(state["resources"]["ports"], "[31000-31010]");
    assert_eq!(state["attributes"]["rack"], "r1");
    assert_eq!(state["master_hostname"], "127.0.0.1");
    let (status, body) = get("/slave(1)/state").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"],
        "S1"
    );

    let (status, body) = get("/slave%281%29/health").await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (_, body) = get("/metrics/snapshot").await;
    let metrics: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(metrics["slave/registered"], 1.0);
    assert_eq!(metrics["slave/cpus_total"], 2.0);
    let (_, body) = get("/version").await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["version"],
        "1.11.0"
    );
    let (_, body) = get("/flags").await;
    let flags: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(flags["flags"]["registration_backoff_factor"], "10ms");
    assert_eq!(get("/files/debug").await.0, 200);
    assert_eq!(get("/files/browse").await.0, 400);
    assert_eq!(get("/monitor/statistics").await.1, "[]");

    let (status, _) = get("/api/v1/executor").await;
    assert_eq!(status, 405);
    let r = client
        .post(format!("{base}/slave(1)/api/v1/executor"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    agent
        .inbox
        .send(Input::Shutdown { graceful: false })
        .unwrap();
    tokio::time::timeout(WAIT, agent.done)
        .await
        .unwrap()
        .unwrap();
    serving.abort();
}
