//! The v1 scheduler interface served by the v0 driver (what `V0Mesos`
//! runs), as upstream's `V0ToV1Adapter` behaves: v1 calls become driver
//! calls, driver callbacks become v1 events.
//!
//! Owns, on one adapter thread, the events waiting for the scheduler's
//! SUBSCRIBE, whether SUBSCRIBE was sent, the framework id and the
//! heartbeat timer; every callback of the v1 scheduler runs there, one at
//! a time. The driver (started at once, explicit acknowledgements)
//! registers on its own; `connected` follows each (re-)registration, and
//! the queued `SUBSCRIBED` is delivered when the scheduler subscribes.
//! Never talks to the master itself: the driver does.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mesos_proto::convert::{devolve, evolve};
use mesos_proto::mesos::v1::scheduler::{call, event, Call, Event};
use mesos_proto::mesos::{
    self as v0, ExecutorId, FrameworkId, MasterInfo, Offer, OfferId, SlaveId, TaskStatus,
};

use crate::scheduler::Config;
use crate::v1::{validate, Callbacks, Flow};
use crate::{Scheduler, SchedulerDriver};

/// The heartbeat interval the adapter announces and keeps (upstream's
/// master default).
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// A v0 driver behind the v1 interface. Dropping it ends the driver (as
/// deleting upstream's does, without tearing the framework down) and the
/// adapter thread.
pub struct V0Mesos {
    input: mpsc::Sender<Input>,
    driver: SchedulerDriver,
    running: Arc<AtomicBool>,
}

impl std::fmt::Debug for V0Mesos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V0Mesos")
            .field("driver", &self.driver)
            .finish()
    }
}

impl V0Mesos {
    /// Starts a v0 driver for `framework` on `master` and the adapter that
    /// serves `callbacks`.
    pub fn new(
        framework: mesos_proto::mesos::v1::FrameworkInfo,
        master: &str,
        credential: Option<mesos_proto::mesos::v1::Credential>,
        callbacks: Box<dyn Callbacks>,
    ) -> Result<V0Mesos, crate::Error> {
        let (input, inbox) = mpsc::channel();
        let running = Arc::new(AtomicBool::new(true));
        let driver = SchedulerDriver::new(
            Box::new(Forward {
                input: input.clone(),
            }),
            Config {
                framework: devolve(&framework),
                master: master.to_string(),
                implicit_acknowledgements: false,
                credential: credential.as_ref().map(devolve),
                suppressed_roles: Vec::new(),
            },
        );
        let adapter = Adapter {
            callbacks,
            driver: driver.clone(),
            subscribe_call: false,
            pending: VecDeque::new(),
            framework_id: None,
            heartbeat: None,
            running: running.clone(),
        };
        std::thread::Builder::new()
            .name("mesos-v0-adapter".into())
            .spawn(move || adapter.run(inbox))
            .map_err(|e| crate::Error::Endpoint(format!("failed to start the adapter: {e}")))?;
        driver.start();
        Ok(V0Mesos {
            input,
            driver,
            running,
        })
    }

    /// Handles `call` on the adapter thread (asynchronously).
    pub fn send(&self, call: Call) {
        let _ = self.input.send(Input::Send(Box::new(call)));
    }
}

impl Drop for V0Mesos {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        let _ = self.input.send(Input::Stop);
        self.driver.terminate();
    }
}

enum Input {
    Registered(FrameworkId, MasterInfo),
    Reregistered(MasterInfo),
    Disconnected,
    Offers(Vec<Offer>),
    Rescinded(OfferId),
    Update(Box<TaskStatus>),
    Message(ExecutorId, SlaveId, Vec<u8>),
    SlaveLost(SlaveId),
    ExecutorLost(ExecutorId, SlaveId, i32),
    Error(String),
    Send(Box<Call>),
    Stop,
}

/// The driver's scheduler: hands every callback to the adapter thread.
struct Forward {
    input: mpsc::Sender<Input>,
}

impl Forward {
    fn forward(&self, input: Input) {
        let _ = self.input.send(input);
    }
}

impl Scheduler for Forward {
    fn registered(&mut self, _: &SchedulerDriver, id: &FrameworkId, master: &MasterInfo) {
        self.forward(Input::Registered(id.clone(), master.clone()));
    }
    fn reregistered(&mut self, _: &SchedulerDriver, master: &MasterInfo) {
        self.forward(Input::Reregistered(master.clone()));
    }
    fn disconnected(&mut self, _: &SchedulerDriver) {
        self.forward(Input::Disconnected);
    }
    fn resource_offers(&mut self, _: &SchedulerDriver, offers: &[Offer]) {
        self.forward(Input::Offers(offers.to_vec()));
    }
    fn offer_rescinded(&mut self, _: &SchedulerDriver, offer_id: &OfferId) {
        self.forward(Input::Rescinded(offer_id.clone()));
    }
    fn status_update(&mut self, _: &SchedulerDriver, status: &TaskStatus) {
        self.forward(Input::Update(Box::new(status.clone())));
    }
    fn framework_message(
        &mut self,
        _: &SchedulerDriver,
        executor_id: &ExecutorId,
        slave_id: &SlaveId,
        data: &[u8],
    ) {
        self.forward(Input::Message(
            executor_id.clone(),
            slave_id.clone(),
            data.to_vec(),
        ));
    }
    fn slave_lost(&mut self, _: &SchedulerDriver, slave_id: &SlaveId) {
        self.forward(Input::SlaveLost(slave_id.clone()));
    }
    fn executor_lost(
        &mut self,
        _: &SchedulerDriver,
        executor_id: &ExecutorId,
        slave_id: &SlaveId,
        status: i32,
    ) {
        self.forward(Input::ExecutorLost(
            executor_id.clone(),
            slave_id.clone(),
            status,
        ));
    }
    fn error(&mut self, _: &SchedulerDriver, message: &str) {
        self.forward(Input::Error(message.to_string()));
    }
}

fn event(kind: event::Type) -> Event {
    Event {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

struct Adapter {
    callbacks: Box<dyn Callbacks>,
    driver: SchedulerDriver,
    /// Whether the scheduler has sent SUBSCRIBE since the last
    /// (re-)registration; events wait in `pending` until it has.
    subscribe_call: bool,
    pending: VecDeque<Event>,
    framework_id: Option<FrameworkId>,
    /// When the next HEARTBEAT is due, once subscribed.
    heartbeat: Option<Instant>,
    running: Arc<AtomicBool>,
}

impl Adapter {
    fn run(mut self, inbox: mpsc::Receiver<Input>) {
        loop {
            let input = match self.heartbeat {
                None => inbox.recv().ok(),
                Some(due) => {
                    match inbox.recv_timeout(due.saturating_duration_since(Instant::now())) {
                        Ok(input) => Some(input),
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            self.heartbeat = Some(Instant::now() + HEARTBEAT_INTERVAL);
                            self.received(event(event::Type::Heartbeat));
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => None,
                    }
                }
            };
            let Some(input) = input else {
                return;
            };
            if !self.running.load(Ordering::SeqCst) {
                return;
            }
            match input {
                Input::Stop => return,
                Input::Send(call) => self.send(*call),
                Input::Registered(id, master) => self.registered(id, master),
                Input::Reregistered(master) => match self.framework_id.clone() {
                    Some(id) => self.registered(id, master),
                    None => tracing::error!("re-registered before registering"),
                },
                Input::Disconnected => self.disconnected(),
                Input::Offers(offers) => {
                    let mut e = event(event::Type::Offers);
                    e.offers = Some(event::Offers {
                        offers: offers.iter().map(evolve).collect(),
                    });
                    self.received(e);
                }
                Input::Rescinded(offer_id) => {
                    let mut e = event(event::Type::Rescind);
                    e.rescind = Some(event::Rescind {
                        offer_id: evolve(&offer_id),
                    });
                    self.received(e);
                }
                Input::Update(status) => {
                    let mut e = event(event::Type::Update);
                    e.update = Some(event::Update {
                        status: evolve(status.as_ref()),
                    });
                    self.received(e);
                }
                Input::Message(executor_id, slave_id, data) => {
                    let mut e = event(event::Type::Message);
                    e.message = Some(event::Message {
                        agent_id: evolve(&slave_id),
                        executor_id: evolve(&executor_id),
                        data,
                    });
                    self.received(e);
                }
                Input::SlaveLost(slave_id) => {
                    let mut e = event(event::Type::Failure);
                    e.failure = Some(event::Failure {
                        agent_id: Some(evolve(&slave_id)),
                        ..Default::default()
                    });
                    self.received(e);
                }
                Input::ExecutorLost(executor_id, slave_id, status) => {
                    let mut e = event(event::Type::Failure);
                    e.failure = Some(event::Failure {
                        agent_id: Some(evolve(&slave_id)),
                        executor_id: Some(evolve(&executor_id)),
                        status: Some(status),
                    });
                    self.received(e);
                }
                Input::Error(message) => {
                    // The v1 contract: events only after `connected`. An
                    // error before any registration would otherwise never
                    // reach a scheduler that subscribes on `connected`.
                    if !self.subscribe_call {
                        tracing::info!("Implicitly connecting the scheduler to send an error");
                        self.callback(|c| c.connected());
                    }
                    let mut e = event(event::Type::Error);
                    e.error = Some(event::Error { message });
                    self.received(e);
                }
            }
        }
    }

    /// Calls the scheduler; one that throws aborts the driver, and nothing
    /// more is delivered.
    fn callback(&mut self, f: impl FnOnce(&mut dyn Callbacks) -> Flow) {
        if !self.running.load(Ordering::SeqCst) {
            return;
        }
        if f(self.callbacks.as_mut()) == Flow::Abort {
            self.running.store(false, Ordering::SeqCst);
            self.driver.abort();
        }
    }

    fn registered(&mut self, id: FrameworkId, master: MasterInfo) {
        tracing::info!("Registered with the Mesos master; invoking connected callback");
        self.callback(|c| c.connected());
        self.framework_id = Some(id.clone());
        let mut subscribed = event(event::Type::Subscribed);
        subscribed.subscribed = Some(event::Subscribed {
            framework_id: evolve(&id),
            heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL.as_secs_f64()),
            master_info: Some(evolve(&master)),
        });
        self.received(subscribed);
        self.received(event(event::Type::Heartbeat));
    }

    fn disconnected(&mut self) {
        // Offers die with the connection and updates can be reconciled, so
        // what waited for SUBSCRIBE may go.
        tracing::info!(
            "Dropping {} pending event(s) because master disconnected",
            self.pending.len()
        );
        self.pending.clear();
        self.subscribe_call = false;
        self.heartbeat = None;
        tracing::info!("Disconnected with the Mesos master; invoking disconnected callback");
        self.callback(|c| c.disconnected());
    }

    fn received(&mut self, event: Event) {
        self.pending.push_back(event);
        if self.subscribe_call {
            self.flush();
        }
    }

    fn flush(&mut self) {
        while let Some(event) = self.pending.pop_front() {
            self.callback(|c| c.received(event));
        }
    }

    fn send(&mut self, call: Call) {
        if let Err(why) = validate(&call) {
            tracing::warn!(
                "Dropping {}: due to error {why}",
                call.r#type().as_str_name()
            );
            return;
        }
        let d = &self.driver;
        match call.r#type() {
            call::Type::Subscribe => {
                // The driver registered on its own; the queued SUBSCRIBED
                // (or error) is what answers this.
                self.subscribe_call = true;
                self.heartbeat = Some(Instant::now() + HEARTBEAT_INTERVAL);
                self.flush();
            }
            call::Type::Teardown => {
                d.stop(false);
            }
            call::Type::Accept => {
                let accept = call.accept.unwrap_or_default();
                d.accept_offers(
                    accept.offer_ids.iter().map(devolve).collect(),
                    accept.operations.iter().map(devolve).collect(),
                    accept.filters.as_ref().map(devolve).unwrap_or_default(),
                );
            }
            call::Type::Decline => {
                let decline = call.decline.unwrap_or_default();
                let filters: v0::Filters =
                    decline.filters.as_ref().map(devolve).unwrap_or_default();
                for offer_id in &decline.offer_ids {
                    d.decline_offer(devolve(offer_id), filters);
                }
            }
            call::Type::Revive => {
                d.revive_offers(call.revive.map(|r| r.roles).unwrap_or_default());
            }
            call::Type::Suppress => {
                d.suppress_offers(call.suppress.map(|s| s.roles).unwrap_or_default());
            }
            call::Type::Kill => {
                if let Some(kill) = call.kill {
                    d.kill_task(devolve(&kill.task_id));
                }
            }
            call::Type::Acknowledge => {
                if let Some(ack) = call.acknowledge {
                    d.acknowledge_status_update(TaskStatus {
                        task_id: devolve(&ack.task_id),
                        slave_id: Some(devolve(&ack.agent_id)),
                        uuid: Some(ack.uuid),
                        ..Default::default()
                    });
                }
            }
            call::Type::Reconcile => {
                let tasks = call.reconcile.map(|r| r.tasks).unwrap_or_default();
                d.reconcile_tasks(
                    tasks
                        .iter()
                        .map(|t| TaskStatus {
                            task_id: devolve(&t.task_id),
                            ..Default::default()
                        })
                        .collect(),
                );
            }
            call::Type::Message => {
                if let Some(message) = call.message {
                    d.send_framework_message(
                        devolve(&message.executor_id),
                        devolve(&message.agent_id),
                        message.data,
                    );
                }
            }
            call::Type::Request => {
                let requests = call.request.map(|r| r.requests).unwrap_or_default();
                d.request_resources(requests.iter().map(devolve).collect());
            }
            call::Type::AcknowledgeOperationStatus | call::Type::ReconcileOperations => {
                // Operation feedback has no v0 driver counterpart.
            }
            other => {
                tracing::error!("Received an unexpected {} call", other.as_str_name());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::{TaskId, TaskState};

    struct Recorder(mpsc::Sender<String>);

    impl Callbacks for Recorder {
        fn connected(&mut self) -> Flow {
            let _ = self.0.send("connected".into());
            Flow::Continue
        }
        fn disconnected(&mut self) -> Flow {
            let _ = self.0.send("disconnected".into());
            Flow::Continue
        }
        fn received(&mut self, event: Event) -> Flow {
            let mut line = event.r#type().as_str_name().to_string();
            if let Some(update) = &event.update {
                let agent = update.status.agent_id.as_ref().map(|a| a.value.as_str());
                line = format!(
                    "{line} {} {} {}",
                    update.status.task_id.value,
                    update.status.state().as_str_name(),
                    agent.unwrap_or("-")
                );
            }
            if let Some(subscribed) = &event.subscribed {
                line = format!("{line} {}", subscribed.framework_id.value);
            }
            let _ = self.0.send(line);
            Flow::Continue
        }
    }

    struct Nobody;

    impl Scheduler for Nobody {
        fn registered(&mut self, _: &SchedulerDriver, _: &FrameworkId, _: &MasterInfo) {}
        fn reregistered(&mut self, _: &SchedulerDriver, _: &MasterInfo) {}
        fn disconnected(&mut self, _: &SchedulerDriver) {}
        fn resource_offers(&mut self, _: &SchedulerDriver, _: &[Offer]) {}
        fn offer_rescinded(&mut self, _: &SchedulerDriver, _: &OfferId) {}
        fn status_update(&mut self, _: &SchedulerDriver, _: &TaskStatus) {}
        fn framework_message(
            &mut self,
            _: &SchedulerDriver,
            _: &ExecutorId,
            _: &SlaveId,
            _: &[u8],
        ) {
        }
        fn slave_lost(&mut self, _: &SchedulerDriver, _: &SlaveId) {}
        fn executor_lost(&mut self, _: &SchedulerDriver, _: &ExecutorId, _: &SlaveId, _: i32) {}
        fn error(&mut self, _: &SchedulerDriver, _: &str) {}
    }

    /// An adapter over a driver that is never started, on its own thread.
    fn adapter() -> (mpsc::Sender<Input>, mpsc::Receiver<String>) {
        let (tx, callbacks) = mpsc::channel();
        let driver = SchedulerDriver::new(
            Box::new(Nobody),
            Config {
                framework: Default::default(),
                master: "127.0.0.1:1".into(),
                implicit_acknowledgements: false,
                credential: None,
                suppressed_roles: Vec::new(),
            },
        );
        let adapter = Adapter {
            callbacks: Box::new(Recorder(tx)),
            driver,
            subscribe_call: false,
            pending: VecDeque::new(),
            framework_id: None,
            heartbeat: None,
            running: Arc::new(AtomicBool::new(true)),
        };
        let (input, inbox) = mpsc::channel();
        std::thread::spawn(move || adapter.run(inbox));
        (input, callbacks)
    }

    fn next(rx: &mpsc::Receiver<String>) -> String {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("a callback in time")
    }

    fn subscribe() -> Input {
        Input::Send(Box::new(Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe::default()),
            ..Default::default()
        }))
    }

    fn update(task: &str) -> Input {
        Input::Update(Box::new(TaskStatus {
            task_id: TaskId { value: task.into() },
            state: TaskState::TaskRunning as i32,
            slave_id: Some(SlaveId { value: "S0".into() }),
            ..Default::default()
        }))
    }

    // Registration makes `connected`; SUBSCRIBED (and a HEARTBEAT) wait for
    // the scheduler's SUBSCRIBE, and driver callbacks then arrive as
    // events (a v0 update carries its agent as `agent_id`).
    #[test]
    fn registration_connects_and_subscribed_waits_for_subscribe() {
        let (input, rx) = adapter();
        let id = FrameworkId {
            value: "fw-1".into(),
        };
        input
            .send(Input::Registered(id, MasterInfo::default()))
            .unwrap();
        assert_eq!(next(&rx), "connected");
        input.send(update("early")).unwrap();
        input.send(subscribe()).unwrap();
        assert_eq!(next(&rx), "SUBSCRIBED fw-1");
        assert_eq!(next(&rx), "HEARTBEAT");
        assert_eq!(next(&rx), "UPDATE early TASK_RUNNING S0");
        input.send(update("t1")).unwrap();
        assert_eq!(next(&rx), "UPDATE t1 TASK_RUNNING S0");
    }

    // SUBSCRIBED waits for SUBSCRIBE, and a disconnection drops it (the
    // scheduler hears `disconnected`, not a stale SUBSCRIBED); after the
    // re-registration only the new SUBSCRIBED arrives.
    #[test]
    fn disconnection_drops_pending_events_and_reregistration_reconnects() {
        let (input, rx) = adapter();
        let id = FrameworkId {
            value: "fw-1".into(),
        };
        input
            .send(Input::Registered(id, MasterInfo::default()))
            .unwrap();
        assert_eq!(next(&rx), "connected");
        input.send(Input::Disconnected).unwrap();
        assert_eq!(next(&rx), "disconnected");
        input
            .send(Input::Reregistered(MasterInfo::default()))
            .unwrap();
        assert_eq!(next(&rx), "connected");
        input.send(subscribe()).unwrap();
        assert_eq!(next(&rx), "SUBSCRIBED fw-1");
        assert_eq!(next(&rx), "HEARTBEAT");
        input.send(update("t1")).unwrap();
        assert_eq!(next(&rx), "UPDATE t1 TASK_RUNNING S0");
    }

    // An error before any SUBSCRIBE connects the scheduler first, so that
    // it can subscribe and see it.
    #[test]
    fn an_error_before_subscribing_connects_the_scheduler() {
        let (input, rx) = adapter();
        input.send(Input::Error("refused".into())).unwrap();
        assert_eq!(next(&rx), "connected");
        input.send(subscribe()).unwrap();
        assert_eq!(next(&rx), "ERROR");
    }
}
