//! The scheduler driver against a scripted master built from our
//! libprocess crate: status transitions, the rule that only the detected
//! master's pid is believed, implicit acknowledgement, and TEARDOWN on stop.
#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Message, Server, Transport, Upid};
use mesos_driver::scheduler::Config;
use mesos_driver::{Scheduler, SchedulerDriver, Status};
use mesos_proto::mesos::internal::{FrameworkRegisteredMessage, StatusUpdate, StatusUpdateMessage};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::*;
use prost::{Message as _, Name};

struct Recorder(mpsc::Sender<String>);

impl Scheduler for Recorder {
    fn registered(&mut self, _: &SchedulerDriver, id: &FrameworkId, _: &MasterInfo) {
        let _ = self.0.send(format!("registered {}", id.value));
    }
    fn reregistered(&mut self, _: &SchedulerDriver, _: &MasterInfo) {
        let _ = self.0.send("reregistered".into());
    }
    fn disconnected(&mut self, _: &SchedulerDriver) {
        let _ = self.0.send("disconnected".into());
    }
    fn resource_offers(&mut self, _: &SchedulerDriver, offers: &[Offer]) {
        let _ = self.0.send(format!("offers {}", offers.len()));
    }
    fn offer_rescinded(&mut self, _: &SchedulerDriver, _: &OfferId) {
        let _ = self.0.send("rescinded".into());
    }
    fn status_update(&mut self, _: &SchedulerDriver, status: &TaskStatus) {
        let _ = self.0.send(format!(
            "update {} uuid={}",
            status.task_id.value,
            status.uuid.is_some()
        ));
    }
    fn framework_message(&mut self, _: &SchedulerDriver, _: &ExecutorId, _: &SlaveId, _: &[u8]) {
        let _ = self.0.send("message".into());
    }
    fn slave_lost(&mut self, _: &SchedulerDriver, _: &SlaveId) {
        let _ = self.0.send("slaveLost".into());
    }
    fn executor_lost(&mut self, _: &SchedulerDriver, _: &ExecutorId, _: &SlaveId, _: i32) {
        let _ = self.0.send("executorLost".into());
    }
    fn error(&mut self, _: &SchedulerDriver, message: &str) {
        let _ = self.0.send(format!("error {message}"));
    }
}

fn config(master: String) -> Config {
    Config {
        framework: FrameworkInfo {
            user: "u".into(),
            name: "unit".into(),
            ..Default::default()
        },
        master,
        implicit_acknowledgements: true,
        credential: None,
        suppressed_roles: vec![],
    }
}

fn next_call(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Message>) -> (Upid, Call) {
    loop {
        let m = rx.blocking_recv().unwrap();
        if m.name == Call::full_name() {
            return (m.from.clone(), Call::decode(m.body.as_ref()).unwrap());
        }
    }
}

#[test]
fn only_the_detected_master_is_believed_and_updates_are_acknowledged() {
    std::env::set_var("LIBPROCESS_IP", "127.0.0.1");
    std::env::set_var("MESOS_REGISTRATION_BACKOFF_FACTOR", "50ms");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, mut inbox) = tokio::sync::mpsc::unbounded_channel();
    let (server, transport) = rt.block_on(async {
        let server = Server::builder("master")
            .messages("master", tx)
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let (transport, _exited) = Transport::new();
        (server, transport)
    });
    let master = Upid::from_addr("master", server.local_addr());
    let _serving = {
        let _guard = rt.enter();
        server.serve()
    };

    let (events_tx, events) = mpsc::channel();
    let driver = SchedulerDriver::new(
        Box::new(Recorder(events_tx)),
        config(master.address().to_string()),
    );
    assert_eq!(driver.status(), Status::NotStarted);
    assert_eq!(driver.start(), Status::Running);
    assert_eq!(driver.start(), Status::Running);

    let (scheduler, subscribe) = next_call(&mut inbox);
    assert_eq!(subscribe.r#type, Some(call::Type::Subscribe as i32));
    assert_eq!(subscribe.subscribe.unwrap().force, Some(false));

    let registered = FrameworkRegisteredMessage {
        framework_id: FrameworkId { value: "F1".into() },
        master_info: MasterInfo::default(),
    };
    let _guard = rt.enter();
    // An impostor first: dropped, exactly as upstream's driver does.
    let impostor = Upid::new("master", master.ip, 1);
    let forged = FrameworkRegisteredMessage {
        framework_id: FrameworkId {
            value: "IMPOSTOR".into(),
        },
        master_info: MasterInfo::default(),
    };
    transport.send_message(&impostor, &scheduler, &forged);
    transport.send_message(&master, &scheduler, &registered);
    assert_eq!(
        events.recv_timeout(Duration::from_secs(10)).unwrap(),
        "registered F1"
    );

    let update = |uuid: Option<Vec<u8>>| StatusUpdateMessage {
        update: StatusUpdate {
            framework_id: FrameworkId { value: "F1".into() },
            executor_id: None,
            slave_id: Some(SlaveId { value: "S1".into() }),
            status: TaskStatus {
                task_id: TaskId { value: "T1".into() },
                state: TaskState::TaskRunning as i32,
                ..Default::default()
            },
            timestamp: 0.0,
            uuid,
            latest_state: None,
        },
        pid: Some("slave(1)@127.0.0.1:5051".into()),
    };
    transport.send_message(&master, &scheduler, &update(None));
    assert_eq!(
        events.recv_timeout(Duration::from_secs(10)).unwrap(),
        "update T1 uuid=false"
    );
    transport.send_message(&master, &scheduler, &update(Some(vec![7; 16])));
    assert_eq!(
        events.recv_timeout(Duration::from_secs(10)).unwrap(),
        "update T1 uuid=true"
    );
    // Only the update that carried a uuid is acknowledged. SUBSCRIBE
    // retries sent before the registration arrived (50 ms backoff on a
    // loaded machine) may still be queued ahead of it.
    let ack = loop {
        let (_, call) = next_call(&mut inbox);
        if call.r#type != Some(call::Type::Subscribe as i32) {
            break call;
        }
    };
    assert_eq!(ack.r#type, Some(call::Type::Acknowledge as i32));
    let ack = ack.acknowledge.unwrap();
    assert_eq!((ack.slave_id.value.as_str(), ack.uuid), ("S1", vec![7; 16]));

    // A malformed message is dropped; the driver keeps running.
    transport.send(
        &master,
        &scheduler,
        &StatusUpdateMessage::full_name(),
        Bytes::from_static(&[0xff, 0x01]),
    );
    assert_eq!(driver.status(), Status::Running);

    assert_eq!(driver.stop(false), Status::Stopped);
    let (_, teardown) = next_call(&mut inbox);
    assert_eq!(teardown.r#type, Some(call::Type::Teardown as i32));
    assert_eq!(teardown.framework_id.unwrap().value, "F1");
    assert_eq!(driver.join(), Status::Stopped);
    assert_eq!(driver.abort(), Status::Stopped);
    assert!(events.try_recv().is_err());
}

#[test]
fn abort_then_stop_reports_aborted() {
    std::env::set_var("LIBPROCESS_IP", "127.0.0.1");
    let (events_tx, _events) = mpsc::channel();
    // Nothing listens on port 1: the driver keeps retrying meanwhile.
    let driver = SchedulerDriver::new(Box::new(Recorder(events_tx)), config("127.0.0.1:1".into()));
    assert_eq!(
        driver.kill_task(TaskId { value: "x".into() }),
        Status::NotStarted
    );
    assert_eq!(driver.start(), Status::Running);
    assert_eq!(driver.abort(), Status::Aborted);
    assert_eq!(driver.join(), Status::Aborted);
    assert_eq!(
        driver.kill_task(TaskId { value: "x".into() }),
        Status::Aborted
    );
    assert_eq!(driver.stop(false), Status::Aborted);
    assert_eq!(driver.status(), Status::Stopped);
    driver.terminate();
}

#[test]
fn an_unparsable_master_is_reported_through_error() {
    let (events_tx, events) = mpsc::channel();
    let driver = SchedulerDriver::new(Box::new(Recorder(events_tx)), config("nonsense".into()));
    assert_eq!(driver.start(), Status::NotStarted);
    let error = events.try_recv().unwrap();
    assert!(
        error.starts_with("error failed to create a master detector for 'nonsense'"),
        "{error}"
    );
}
