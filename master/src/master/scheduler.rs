//! Scheduler calls, as the actor handles them (upstream `Master::subscribe`,
//! `accept`, `decline`, `kill`, `reconcile`, ...).
//!
//! Every function here runs inside the actor; HTTP-level checks (method,
//! media types, parsing, call validation) already happened in
//! `http::scheduler`.

use crate::allocator as alloc;
use std::collections::BTreeSet;
use std::time::Duration;

use libprocess::authentication::Principal;
use mesos_proto::ids::AgentId;
use mesos_proto::is_terminal_state;
use mesos_proto::mesos::internal::{
    FrameworkToExecutorMessage, ShutdownExecutorMessage, StatusUpdateAcknowledgementMessage,
};
use mesos_proto::mesos::v1::offer::operation::Type as OperationType;
use mesos_proto::mesos::v1::scheduler::call::{self, Type as CallType};
use mesos_proto::mesos::v1::scheduler::event::Type as EventType;
use mesos_proto::mesos::v1::scheduler::Call;
use mesos_proto::mesos::v1::{
    self, health_check, offer, FrameworkId, FrameworkInfo, OperationState, TaskInfo, TaskState,
};
use mesos_proto::mesos::{self as v0, task_status::Reason};
use mesos_proto::resources::Resources;
use tracing::{info, warn};

use super::authorization;
use super::connection::HttpConnection;
use super::operations;
use super::state::{Connection, Framework, FrameworkState};
use super::validation::{self, TaskContext};
use super::{allocator_now, events, now_secs, CallError, CallOutcome, CallResult, Master};
use crate::agents;

/// Upstream caps `refuse_seconds` at a year.
const MAX_REFUSE: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `Filters.refuse_seconds` (default 5 s) as a filter duration; `None` for
/// zero (no filter). Invalid (negative, NaN) values use the default.
pub fn refuse_duration(filters: Option<&v1::Filters>) -> Option<Duration> {
    let seconds = filters.and_then(|f| f.refuse_seconds).unwrap_or(5.0);
    let seconds = if seconds.is_nan() || seconds < 0.0 {
        warn!("Using the default refuse_seconds (5) because {seconds} is invalid");
        5.0
    } else {
        seconds
    };
    if seconds == 0.0 {
        return None;
    }
    if seconds >= MAX_REFUSE.as_secs_f64() {
        return Some(MAX_REFUSE);
    }
    Some(Duration::from_secs_f64(seconds))
}

impl Master {
    // ---- SUBSCRIBE ----------------------------------------------------------

    /// The checks every subscription passes, HTTP or driver, in upstream's
    /// order: the FrameworkInfo itself; for a driver at `driver`, its v0
    /// authentication, which settles the principal (a missing one becomes
    /// the authenticated one; an HTTP framework's was settled by the HTTP
    /// layer); the suppressed roles and offer constraints; then
    /// REGISTER_FRAMEWORK as the settled principal, so an ACL never sees a
    /// principal the framework did not prove. Returns the suppressed roles.
    pub(super) fn validate_subscription(
        &self,
        info: &mut v1::FrameworkInfo,
        suppressed_roles: &[String],
        offer_constraints: Option<&v1::scheduler::OfferConstraints>,
        driver: Option<&libprocess::Upid>,
    ) -> Result<BTreeSet<String>, String> {
        validation::validate_framework(
            info,
            self.role_whitelist.as_deref(),
            self.flags.root_submissions,
            |id| self.completed_frameworks.iter().any(|f| f.id == id),
        )?;
        if let Some(from) = driver {
            self.framework_authenticated(info, from)?;
        }
        let suppressed =
            validation::validate_framework_options(info, suppressed_roles, offer_constraints)?;
        authorization::authorize_registration(&self.authorizer, info)?;
        Ok(suppressed)
    }

    /// `Master::subscribe(HttpConnection, ...)` and `_subscribe`: problems
    /// are reported in-band (ERROR, then the stream closes).
    pub(super) fn subscribe(&mut self, subscribe: call::Subscribe, connection: HttpConnection) {
        let mut info = subscribe.framework_info;
        let is_new = info.id.as_ref().is_none_or(|id| id.value.is_empty());
        self.count(if is_new {
            "master/messages_register_framework"
        } else {
            "master/messages_reregister_framework"
        });
        info!(
            "Received subscription request for HTTP framework '{}'",
            info.name
        );

        let name = info.name.clone();
        let refuse = |connection: HttpConnection, message: String| {
            info!("Refusing subscription of framework '{name}': {message}");
            connection.send(&events::error(&message));
            // Dropping the connection closes the stream.
            drop(connection);
        };

        let suppressed = match self.validate_subscription(
            &mut info,
            &subscribe.suppressed_roles,
            subscribe.offer_constraints.as_ref(),
            None,
        ) {
            Ok(suppressed) => suppressed,
            Err(error) => return refuse(connection, error),
        };

        info!(
            "Subscribing framework '{}' with checkpointing {}",
            info.name,
            if info.checkpoint.unwrap_or(false) {
                "enabled"
            } else {
                "disabled"
            }
        );
        let now = now_secs();

        if is_new {
            let id = self.new_framework_id();
            info.id = Some(FrameworkId { value: id.clone() });
            let mut framework = Framework::new(info, FrameworkState::Connected, now);
            framework.suppressed_roles = suppressed;
            framework.offer_constraints = subscribe.offer_constraints;
            framework.epoch = self.next_epoch();
            framework.active = true;
            framework.metrics.call(CallType::Subscribe);
            framework.metrics.event_of(EventType::Subscribed);
            connection.send(&events::subscribed(&id, &self.info));
            connection.start_heartbeats(framework.metrics.heartbeats());
            framework.connection = Some(Connection::Http(connection));
            let spec = Self::allocator_spec(&framework);
            self.frameworks.insert(framework.id.clone(), framework);
            self.allocator.add_framework(
                &alloc::FrameworkId::from(&id),
                spec,
                Default::default(),
                true,
            );
            info!("Added framework {id}");
            self.emit_framework(&id, true);
            self.request_allocation();
            return;
        }

        let id = info
            .id
            .as_ref()
            .map(|id| id.value.clone())
            .unwrap_or_default();
        if !self.frameworks.contains_key(id.as_str()) {
            // Never seen here (e.g. after a master restart): rebuild it from
            // the FrameworkInfo it brings.
            self.recover_framework(info.clone());
        }
        let Some(framework) = self.frameworks.get(id.as_str()) else {
            return;
        };
        // `user` and `checkpoint` cannot change on re-subscription; upstream
        // silently keeps the old values (MESOS-703).
        info.user = framework.info.user.clone();
        info.checkpoint = framework.info.checkpoint;
        if let Err(error) = validation::validate_framework_update(&framework.info, &info) {
            return refuse(connection, error);
        }
        let recovered = framework.state == FrameworkState::Recovered;
        self.update_framework_info(&id, info, suppressed, subscribe.offer_constraints);

        let epoch = self.next_epoch();
        let Some(framework) = self.frameworks.get_mut(id.as_str()) else {
            return;
        };
        framework.epoch = epoch;
        framework.reregistered_time = now;
        if recovered {
            framework.registered_time = now;
        }
        // A driver framework moving to HTTP leaves its pid's v0
        // authentication behind (upstream clears it on this upgrade).
        let upgraded_pid = framework.pid().cloned();
        // Only one subscription per framework: the old stream hears why.
        let old_driver = match framework.connection.take() {
            Some(Connection::Http(old)) if framework.state == FrameworkState::Connected => {
                old.send(&events::error("Framework failed over"));
                None
            }
            Some(Connection::Pid(pid)) if framework.state == FrameworkState::Connected => Some(pid),
            _ => None,
        };
        framework.state = FrameworkState::Connected;
        framework.last_pid = None;
        let offers: Vec<String> = framework.offers.iter().cloned().collect();
        if let Some(pid) = upgraded_pid {
            self.authentication.forget(&pid);
        }
        if let Some(pid) = old_driver {
            self.send(
                &pid,
                &mesos_proto::mesos::internal::FrameworkErrorMessage {
                    message: "Framework failed over".to_string(),
                },
            );
        }
        // The new stream never saw these offers: take them back quietly,
        // they will be offered again.
        for offer_id in offers {
            self.discard_offer(&offer_id, None);
        }
        // Inverse offers likewise (upstream `failoverFramework`).
        self.drop_framework_inverse_offers(&id, false);
        let Some(framework) = self.frameworks.get_mut(id.as_str()) else {
            return;
        };
        framework.metrics.call(CallType::Subscribe);
        framework.metrics.event_of(EventType::Subscribed);
        connection.send(&events::subscribed(&id, &self.info));
        connection.start_heartbeats(framework.metrics.heartbeats());
        framework.connection = Some(Connection::Http(connection));
        if !framework.active {
            framework.active = true;
            self.allocator
                .activate_framework(&alloc::FrameworkId::from(&id));
        }
        info!(
            "Framework {id} {}",
            if recovered {
                "reconnected"
            } else {
                "failed over"
            }
        );
        self.send_framework_updates(&id);
        self.request_allocation();
    }

    /// Builds a framework from a `FrameworkInfo` we have no record of
    /// (`Master::recoverFramework`): attaches the tasks and executors agents
    /// reported for it.
    pub(super) fn recover_framework(&mut self, info: FrameworkInfo) {
        let mut framework = Framework::new(info, FrameworkState::Recovered, now_secs());
        let id = framework.id.clone();
        if id.as_str().is_empty() || self.frameworks.contains_key(&id) {
            return;
        }
        framework.epoch = self.next_epoch();
        let spec = Self::allocator_spec(&framework);
        self.frameworks.insert(id.clone(), framework);
        // Allocations of its tasks are already known from the agents.
        self.allocator
            .add_framework(&id, spec, Default::default(), false);
        info!("Recovered framework {id}");
        self.emit_framework(id.as_str(), true);
    }

    /// `Master::updateFramework`: new info, suppressed roles and offer
    /// constraints; offers for roles it left are rescinded.
    pub(super) fn update_framework_info(
        &mut self,
        framework_id: &str,
        info: FrameworkInfo,
        suppressed: BTreeSet<String>,
        offer_constraints: Option<v1::scheduler::OfferConstraints>,
    ) {
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        framework.info = info;
        framework.suppressed_roles = suppressed;
        framework.offer_constraints = offer_constraints;
        let roles = framework.roles();
        let spec = Self::allocator_spec(framework);
        let stale: Vec<String> = framework
            .offers
            .iter()
            .filter(|offer_id| {
                self.offers.get(*offer_id).is_some_and(|record| {
                    record
                        .offer
                        .allocation_info
                        .as_ref()
                        .and_then(|a| a.role.as_ref())
                        .is_some_and(|role| !roles.contains(role))
                })
            })
            .cloned()
            .collect();
        self.allocator
            .update_framework(&alloc::FrameworkId::from(framework_id), spec);
        for offer_id in stale {
            self.rescind_offer(&offer_id, None);
        }
    }

    /// Broadcasts the framework's info to every agent (executors may be
    /// running without tasks).
    /// Also the point where operator subscribers hear FRAMEWORK_UPDATED.
    pub(super) fn send_framework_updates(&mut self, framework_id: &str) {
        self.emit_framework(framework_id, false);
        let Some(framework) = self.frameworks.get(framework_id) else {
            return;
        };
        let message = agents::update_framework(&framework.info, &framework.pid_string());
        let pids: Vec<_> = self
            .agents
            .values()
            .filter(|a| a.connected)
            .map(|a| a.pid.clone())
            .collect();
        for pid in pids {
            self.send(&pid, &message);
        }
    }

    /// The subscription stream of some framework closed.
    pub(super) fn stream_closed(&mut self, stream_id: &str) {
        let framework_id = self
            .frameworks
            .values()
            .find(|f| {
                f.connected()
                    && f.connection
                        .as_ref()
                        .and_then(Connection::stream_id)
                        .is_some_and(|id| id == stream_id)
            })
            .map(|f| f.id.clone());
        // A stale stream (the framework re-subscribed since) is ignored.
        if let Some(framework_id) = framework_id {
            self.framework_disconnected(framework_id.as_str());
        }
    }

    // ---- other calls --------------------------------------------------------

    /// Step 9 of the scheduler handler (framework, principal, connection,
    /// stream id) and dispatch. `principal` is who the request
    /// authenticated as; a framework without a principal matches none.
    pub(super) fn handle_call(
        &mut self,
        call: Call,
        stream_id: Option<String>,
        principal: Option<&Principal>,
    ) -> CallResult {
        let framework_id = call
            .framework_id
            .as_ref()
            .map(|id| id.value.clone())
            .unwrap_or_default();
        let Some(framework) = self.frameworks.get_mut(framework_id.as_str()) else {
            return Err(CallError::FrameworkNotFound);
        };
        // Upstream counts every call of a known framework, refused or not.
        if let Some(kind) = validation::call_type(&call) {
            framework.metrics.call(kind);
        }
        let framework = &*framework;
        if let Some(Principal(authenticated)) = principal {
            let own = framework.info.principal.as_deref().unwrap_or("");
            if authenticated != own {
                return Err(CallError::PrincipalMismatch {
                    authenticated: authenticated.clone(),
                    framework: own.to_string(),
                });
            }
        }
        if !framework.connected() {
            return Err(CallError::NotSubscribed);
        }
        let Some(current) = framework
            .connection
            .as_ref()
            .and_then(Connection::stream_id)
        else {
            return Err(CallError::NotConnectedViaHttp);
        };
        let Some(stream_id) = stream_id else {
            return Err(CallError::MissingStreamId);
        };
        if stream_id != current {
            return Err(CallError::StreamIdMismatch {
                stream_id,
                framework_id,
            });
        }
        self.dispatch(&framework_id, call)
    }

    /// Runs a call of a connected framework (HTTP or driver) and answers
    /// with the HTTP status upstream uses.
    pub(super) fn dispatch(&mut self, framework_id: &str, call: Call) -> CallResult {
        let framework_id = framework_id.to_string();
        let accepted = Ok(CallOutcome::Accepted);
        match validation::call_type(&call) {
            Some(CallType::Teardown) => {
                info!("Processing TEARDOWN call for framework {framework_id}");
                self.count("master/messages_unregister_framework");
                self.remove_framework(&framework_id);
                accepted
            }
            Some(CallType::Accept) => {
                if let Some(accept) = call.accept {
                    self.accept(&framework_id, accept);
                }
                accepted
            }
            Some(CallType::Decline) => {
                if let Some(decline) = call.decline {
                    self.decline(&framework_id, decline);
                }
                accepted
            }
            Some(CallType::AcceptInverseOffers) => {
                if let Some(accept) = call.accept_inverse_offers {
                    self.accept_inverse_offers(&framework_id, accept);
                }
                accepted
            }
            Some(CallType::DeclineInverseOffers) => {
                if let Some(decline) = call.decline_inverse_offers {
                    self.decline_inverse_offers(&framework_id, decline);
                }
                accepted
            }
            Some(CallType::Revive) => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                self.revive(&framework_id, roles);
                accepted
            }
            Some(CallType::Suppress) => {
                let roles = call.suppress.map(|s| s.roles).unwrap_or_default();
                self.suppress(&framework_id, roles);
                accepted
            }
            Some(CallType::Kill) => {
                if let Some(kill) = call.kill {
                    self.kill(&framework_id, kill);
                }
                accepted
            }
            Some(CallType::Shutdown) => {
                if let Some(shutdown) = call.shutdown {
                    self.shutdown_executor(&framework_id, shutdown);
                }
                accepted
            }
            Some(CallType::Acknowledge) => {
                if let Some(ack) = call.acknowledge {
                    self.acknowledge(&framework_id, ack);
                }
                accepted
            }
            Some(CallType::AcknowledgeOperationStatus) => {
                self.count("master/messages_operation_status_update_acknowledgement");
                self.count("master/invalid_operation_status_update_acknowledgements");
                warn!(
                    "Ignoring ACKNOWLEDGE_OPERATION_STATUS of framework {framework_id}: the \
                     operation is unknown"
                );
                accepted
            }
            Some(CallType::Reconcile) => {
                let tasks = call.reconcile.map(|r| r.tasks).unwrap_or_default();
                self.reconcile(&framework_id, tasks);
                accepted
            }
            Some(CallType::ReconcileOperations) => {
                let operations = call
                    .reconcile_operations
                    .map(|r| r.operations)
                    .unwrap_or_default();
                self.reconcile_operations(&framework_id, operations);
                accepted
            }
            Some(CallType::Message) => {
                if let Some(message) = call.message {
                    self.framework_message(&framework_id, message);
                }
                accepted
            }
            Some(CallType::Request) => {
                info!("Processing REQUEST call for framework {framework_id}");
                self.count("master/messages_resource_request");
                accepted
            }
            Some(CallType::UpdateFramework) => match call.update_framework {
                Some(update) => self.update_framework_call(&framework_id, update),
                None => Err(CallError::InvalidCall(
                    "Expecting 'update_framework' to be present".to_string(),
                )),
            },
            Some(CallType::Subscribe) => Err(CallError::InvalidCall(
                "Subscribe calls are handled separately".to_string(),
            )),
            Some(CallType::Unknown) | None => {
                warn!("Received 'UNKNOWN' call");
                Err(CallError::UnknownCall)
            }
        }
    }

    /// UPDATE_FRAMEWORK: synchronous, 200 / 400.
    fn update_framework_call(
        &mut self,
        framework_id: &str,
        update: call::UpdateFramework,
    ) -> CallResult {
        info!("Processing UPDATE_FRAMEWORK call for framework {framework_id}");
        let completed: BTreeSet<String> = self
            .completed_frameworks
            .iter()
            .map(|f| f.id.to_string())
            .collect();
        if let Err(error) = validation::validate_framework(
            &update.framework_info,
            self.role_whitelist.as_deref(),
            self.flags.root_submissions,
            |id| completed.contains(id),
        ) {
            return Err(CallError::InvalidCall(format!(
                "Supplied FrameworkInfo is not valid: {error}"
            )));
        }
        let Some(framework) = self.frameworks.get(framework_id) else {
            return Err(CallError::FrameworkNotFound);
        };
        if let Err(error) =
            validation::validate_framework_update(&framework.info, &update.framework_info)
        {
            return Err(CallError::InvalidCall(format!(
                "FrameworkInfo update is not valid: {error}"
            )));
        }
        let suppressed = match validation::validate_framework_options(
            &update.framework_info,
            &update.suppressed_roles,
            update.offer_constraints.as_ref(),
        ) {
            Ok(suppressed) => suppressed,
            Err(error) => {
                return Err(CallError::InvalidCall(format!(
                    "'UpdateFramework' call is not valid: {error}"
                )))
            }
        };
        // Upstream answers an unauthorized update 403.
        authorization::authorize_registration(&self.authorizer, &update.framework_info)
            .map_err(CallError::Unauthorized)?;
        let changed = framework.info != update.framework_info;
        self.update_framework_info(
            framework_id,
            update.framework_info,
            suppressed,
            update.offer_constraints,
        );
        if changed {
            self.send_framework_updates(framework_id);
        }
        self.request_allocation();
        Ok(CallOutcome::Done)
    }

    /// Tells the framework an operation was dropped (OPERATION_ERROR when it
    /// asked for feedback with an id); always logged.
    pub(super) fn drop_operation(
        &mut self,
        framework_id: &str,
        operation: &offer::Operation,
        message: &str,
    ) {
        let kind = OperationType::try_from(operation.r#type.unwrap_or(0))
            .map_or("UNKNOWN", |t| t.as_str_name());
        warn!("Dropping {kind} operation from framework {framework_id}: {message}");
        if let Some(id) = &operation.id {
            let status =
                events::operation_status(OperationState::OperationError, id, message, None);
            self.send_event(framework_id, &events::update_operation_status(status));
        }
    }

    /// Sends master-generated updates for every task of a launch operation.
    fn fail_launch(
        &mut self,
        framework_id: &str,
        tasks: &[TaskInfo],
        state: TaskState,
        reason: Reason,
        message: &str,
    ) {
        let caps = self
            .frameworks
            .get(framework_id)
            .map(Framework::capabilities)
            .unwrap_or_default();
        let state = events::state_for(state, caps);
        let now = now_secs();
        for task in tasks {
            let update = events::master_update(
                framework_id,
                Some(&task.agent_id.value),
                &task.task_id.value,
                state,
                message,
                reason,
                None,
                now,
            );
            match state {
                TaskState::TaskLost => self.count("master/tasks_lost"),
                TaskState::TaskDropped => self.count("master/tasks_dropped"),
                TaskState::TaskError => self.count("master/tasks_error"),
                _ => {}
            }
            self.forward(update, "");
        }
    }

    /// The tasks a launch operation carries.
    fn launch_tasks(operation: &offer::Operation) -> Vec<TaskInfo> {
        match OperationType::try_from(operation.r#type.unwrap_or(0)) {
            Ok(OperationType::Launch) => operation
                .launch
                .as_ref()
                .map(|l| l.task_infos.clone())
                .unwrap_or_default(),
            Ok(OperationType::LaunchGroup) => operation
                .launch_group
                .as_ref()
                .map(|l| l.task_group.tasks.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Offer ids must be distinct, outstanding, this framework's, for one
    /// role and one agent (`validation::offer::validate`).
    fn validate_offers(&self, framework_id: &str, offer_ids: &[v1::OfferId]) -> Result<(), String> {
        if offer_ids.is_empty() {
            return Err("No offers specified".to_string());
        }
        let mut seen = BTreeSet::new();
        for id in offer_ids {
            if !seen.insert(&id.value) {
                return Err(format!("Duplicate offer {} in offer list", id.value));
            }
        }
        let mut role: Option<&str> = None;
        let mut agent: Option<&str> = None;
        for id in offer_ids {
            let Some(record) = self.offers.get(&id.value) else {
                return Err(format!("Offer {} is no longer valid", id.value));
            };
            if record.offer.framework_id.value != framework_id {
                return Err(format!(
                    "Offer {} has invalid framework {} while framework {framework_id} is expected",
                    id.value, record.offer.framework_id.value
                ));
            }
            let this_role = record
                .offer
                .allocation_info
                .as_ref()
                .and_then(|a| a.role.as_deref())
                .unwrap_or("*");
            match role {
                Some(first) if first != this_role => {
                    return Err(format!(
                        "Aggregated offers must be allocated to the same role. Offer {} uses \
                         role '{this_role} but another is using role '{first}",
                        id.value
                    ))
                }
                _ => role = Some(this_role),
            }
            let this_agent = record.offer.agent_id.value.as_str();
            match agent {
                Some(first) if first != this_agent => {
                    return Err(format!(
                        "Aggregated offers must belong to one single agent. Offer {} uses agent \
                         {this_agent} and agent {first}",
                        id.value
                    ))
                }
                _ => agent = Some(this_agent),
            }
        }
        Ok(())
    }

    /// ACCEPT (`Master::accept` + `_accept`). Operations run in order on
    /// what is still offered: LAUNCH and LAUNCH_GROUP here, RESERVE,
    /// UNRESERVE, CREATE and DESTROY in `operations.rs`; the others
    /// (GROW/SHRINK_VOLUME, CREATE/DESTROY_DISK) are dropped with
    /// OPERATION_ERROR when they carry an id. What is left is declined with
    /// the call's filters.
    fn accept(&mut self, framework_id: &str, accept: call::Accept) {
        for operation in &accept.operations {
            if operation.r#type == Some(OperationType::Launch as i32) {
                if operation
                    .launch
                    .as_ref()
                    .is_some_and(|l| !l.task_infos.is_empty())
                {
                    self.count("master/messages_launch_tasks");
                } else {
                    self.count("master/messages_decline_offers");
                }
            }
        }

        if let Err(error) = self.validate_offers(framework_id, &accept.offer_ids) {
            for id in &accept.offer_ids {
                if self.offers.contains_key(&id.value) {
                    self.discard_offer(&id.value, None);
                }
            }
            warn!("ACCEPT call used invalid offers: {error}");
            for operation in &accept.operations {
                let tasks = Self::launch_tasks(operation);
                let is_launch = matches!(
                    OperationType::try_from(operation.r#type.unwrap_or(0)),
                    Ok(OperationType::Launch | OperationType::LaunchGroup)
                );
                if !is_launch {
                    self.drop_operation(
                        framework_id,
                        operation,
                        &format!("Operation attempted with invalid offers: {error}"),
                    );
                    continue;
                }
                self.fail_launch(
                    framework_id,
                    &tasks,
                    TaskState::TaskDropped,
                    Reason::InvalidOffers,
                    &format!("Task launched with invalid offers: {error}"),
                );
            }
            return;
        }

        // All offers are valid: same agent, same role.
        let first = &accept.offer_ids[0].value;
        let Some(first) = self.offers.get(first) else {
            return;
        };
        let agent_id = AgentId::from(&first.offer.agent_id.value);
        let role = first
            .offer
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.clone())
            .unwrap_or_else(|| "*".to_string());

        let mut offered = Resources::new();
        let mut accepted = 0;
        for id in &accept.offer_ids {
            if let Some(record) = self.remove_offer(&id.value) {
                offered += &record.resources;
                accepted += 1;
            }
        }
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework.metrics.offers_accepted(accepted);
        }
        let refuse = refuse_duration(accept.filters.as_ref());

        let agent_connected = self.agents.get(&agent_id).is_some_and(|a| a.connected);
        if !agent_connected {
            let removed = !self.agents.contains_key(&agent_id);
            for operation in &accept.operations {
                self.fail_launch(
                    framework_id,
                    &Self::launch_tasks(operation),
                    TaskState::TaskDropped,
                    if removed {
                        Reason::SlaveRemoved
                    } else {
                        Reason::SlaveDisconnected
                    },
                    if removed {
                        "Agent removed"
                    } else {
                        "Agent disconnected"
                    },
                );
            }
            self.allocator.recover_resources(
                &alloc::FrameworkId::from(framework_id),
                &agent_id,
                &offered,
                None,
                allocator_now(),
            );
            return;
        }

        let mut remaining = offered.clone();
        for operation in accept.operations {
            let operation = normalize_operation(operation, framework_id, &role);
            let kind = OperationType::try_from(operation.r#type.unwrap_or(0));
            match kind {
                Ok(OperationType::Launch) => {
                    if operation.id.is_some() {
                        self.fail_launch(
                            framework_id,
                            &Self::launch_tasks(&operation),
                            TaskState::TaskError,
                            Reason::TaskInvalid,
                            "The `id` field cannot be set on LAUNCH operations",
                        );
                        continue;
                    }
                    let tasks = operation.launch.map(|l| l.task_infos).unwrap_or_default();
                    for task in tasks {
                        remaining =
                            self.launch_task(framework_id, agent_id.as_str(), task, remaining);
                    }
                }
                Ok(OperationType::LaunchGroup) => {
                    if operation.id.is_some() {
                        self.fail_launch(
                            framework_id,
                            &Self::launch_tasks(&operation),
                            TaskState::TaskError,
                            Reason::TaskGroupInvalid,
                            "The `id` field cannot be set on LAUNCH_GROUP operations",
                        );
                        continue;
                    }
                    if let Some(group) = operation.launch_group {
                        remaining =
                            self.launch_group(framework_id, agent_id.as_str(), group, remaining);
                    }
                }
                Ok(kind) if operations::is_resource_operation(kind) => {
                    remaining = self.apply_offer_operation(
                        framework_id,
                        agent_id.as_str(),
                        &operation,
                        remaining,
                    );
                }
                Ok(kind) if kind != OperationType::Unknown => {
                    self.drop_operation(
                        framework_id,
                        &operation,
                        &format!(
                            "Operation {} is not supported by this master",
                            kind.as_str_name()
                        ),
                    );
                }
                _ => warn!("Ignoring unknown operation from framework {framework_id}"),
            }
        }

        // What was offered but not used is declined with the call's filter.
        if !remaining.is_empty() {
            self.allocator.recover_resources(
                &alloc::FrameworkId::from(framework_id),
                &agent_id,
                &remaining,
                refuse,
                allocator_now(),
            );
        }
    }

    /// Runs `validate` with the context for a task of `framework_id` on
    /// `agent_id`. The context borrows the master's state: a LAUNCH of many
    /// tasks must not copy the framework's task ids once per task.
    fn with_task_context<R>(
        &self,
        framework_id: &str,
        agent_id: &str,
        validate: impl FnOnce(&TaskContext<'_>) -> R,
    ) -> R {
        let framework = self.frameworks.get(framework_id);
        let agent = self.agents.get(agent_id);
        let executors = agent.and_then(|a| a.executors.get(framework_id));
        let exists = |id: &str| framework.is_some_and(|f| f.tasks.contains_key(id));
        let was_unreachable =
            |id: &str| framework.is_some_and(|f| f.unreachable_tasks.contains_key(id));
        let existing = |id: &str| executors.and_then(|e| e.get(id)).cloned();
        let context = TaskContext {
            framework_id,
            agent_id,
            task_exists: &exists,
            unreachable_task_exists: &was_unreachable,
            existing_executor: &existing,
            agent_supports_limits: agent.is_some_and(|a| a.capabilities.task_resource_limits),
        };
        validate(&context)
    }

    /// Validates and launches one task of a LAUNCH; returns what is left
    /// of `available`.
    fn launch_task(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        task: TaskInfo,
        available: Resources,
    ) -> Resources {
        let unauthorized = self
            .frameworks
            .get(framework_id)
            .and_then(|f| authorization::authorize_launch(&self.authorizer, &task, &f.info).err());
        if let Some(error) = unauthorized {
            self.fail_launch(
                framework_id,
                std::slice::from_ref(&task),
                TaskState::TaskError,
                Reason::TaskUnauthorized,
                &error,
            );
            return available;
        }
        let validated = self.with_task_context(framework_id, agent_id, |context| {
            let consumed = validation::validate_task(&task, context, &available)?;
            let launch_executor = match &task.executor {
                Some(executor) => {
                    (context.existing_executor)(&executor.executor_id.value).is_none()
                }
                None => true,
            };
            Ok::<_, String>((consumed, launch_executor))
        });
        let (consumed, launch_executor) = match validated {
            Ok(validated) => validated,
            Err(error) => {
                self.fail_launch(
                    framework_id,
                    std::slice::from_ref(&task),
                    TaskState::TaskError,
                    Reason::TaskInvalid,
                    &error,
                );
                return available;
            }
        };
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return available;
        };
        if let Some(executor) = &task.executor {
            if launch_executor {
                agent.add_executor(framework_id, executor.clone());
            }
        }
        agent.add_task(framework_id, &task.task_id.value);
        let pre_refinement = agent.wants_pre_refinement();
        let agent_pid = agent.pid.clone();
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return available;
        };
        framework
            .tasks
            .insert(task.task_id.value.clone(), new_task(&task, framework_id));
        info!(
            "Launching task {} of framework {framework_id} with resources {} on agent {agent_id}",
            task.task_id.value,
            Resources::from(task.resources.clone())
        );
        let message = agents::run_task(
            &framework.info,
            &task,
            &framework.pid_string(),
            launch_executor,
            pre_refinement,
        );
        framework.metrics.operation(OperationType::Launch);
        self.send(&agent_pid, &message);
        self.emit_task_added(framework_id, &task.task_id.value);
        &available - &consumed
    }

    /// Validates and launches a LAUNCH_GROUP; returns what is left.
    fn launch_group(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        group: offer::operation::LaunchGroup,
        available: Resources,
    ) -> Resources {
        let executor = group.executor;
        let task_group = group.task_group;
        // Only the first refusal is reported, for every task of the group.
        let unauthorized = self.frameworks.get(framework_id).and_then(|f| {
            task_group
                .tasks
                .iter()
                .find_map(|t| authorization::authorize_launch(&self.authorizer, t, &f.info).err())
        });
        if let Some(error) = unauthorized {
            self.fail_launch(
                framework_id,
                &task_group.tasks,
                TaskState::TaskError,
                Reason::TaskGroupUnauthorized,
                &error,
            );
            return available;
        }
        let validated = self.with_task_context(framework_id, agent_id, |context| {
            let consumed =
                validation::validate_task_group(&task_group, &executor, context, &available)?;
            let launch_executor =
                (context.existing_executor)(&executor.executor_id.value).is_none();
            Ok::<_, String>((consumed, launch_executor))
        });
        let (consumed, launch_executor) = match validated {
            Ok(validated) => validated,
            Err(error) => {
                self.fail_launch(
                    framework_id,
                    &task_group.tasks,
                    TaskState::TaskError,
                    Reason::TaskGroupInvalid,
                    &error,
                );
                return available;
            }
        };
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return available;
        };
        if launch_executor {
            agent.add_executor(framework_id, executor.clone());
        }
        for task in &task_group.tasks {
            agent.add_task(framework_id, &task.task_id.value);
        }
        let pre_refinement = agent.wants_pre_refinement();
        let agent_pid = agent.pid.clone();
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return available;
        };
        for task in &task_group.tasks {
            framework
                .tasks
                .insert(task.task_id.value.clone(), new_task(task, framework_id));
        }
        let ids: Vec<&str> = task_group
            .tasks
            .iter()
            .map(|t| t.task_id.value.as_str())
            .collect();
        info!(
            "Launching task group {{ {} }} of framework {framework_id} on agent {agent_id}",
            ids.join(", ")
        );
        let message = agents::run_task_group(
            &framework.info,
            &executor,
            &task_group,
            launch_executor,
            pre_refinement,
        );
        framework.metrics.operation(OperationType::LaunchGroup);
        self.send(&agent_pid, &message);
        for task in &task_group.tasks {
            self.emit_task_added(framework_id, &task.task_id.value);
        }
        &available - &consumed
    }

    /// DECLINE: the offers go back with the filter.
    fn decline(&mut self, framework_id: &str, decline: call::Decline) {
        let refuse = refuse_duration(decline.filters.as_ref());
        info!(
            "Processing DECLINE call for offers: [ {} ] for framework {framework_id}",
            decline
                .offer_ids
                .iter()
                .map(|o| o.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.count("master/messages_decline_offers");
        let mut declined = 0;
        for id in &decline.offer_ids {
            let ours = self
                .offers
                .get(&id.value)
                .is_some_and(|r| r.offer.framework_id.value == framework_id);
            if ours {
                self.discard_offer(&id.value, refuse);
                declined += 1;
            } else {
                warn!(
                    "Ignoring decline of offer {} since it is no longer valid",
                    id.value
                );
            }
        }
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            framework.metrics.offers_declined(declined);
        }
    }

    /// Roles named by REVIVE/SUPPRESS must be valid and the framework's;
    /// one bad role drops the whole call.
    fn call_roles(
        &self,
        framework_id: &str,
        roles: Vec<String>,
        what: &str,
    ) -> Option<BTreeSet<String>> {
        let framework_roles = self.frameworks.get(framework_id)?.roles();
        for role in &roles {
            if let Err(error) = validation::validate_role(role) {
                warn!("Dropping {what} call from framework {framework_id}: role '{role}' is invalid: {error}");
                return None;
            }
            if !framework_roles.contains(role) {
                warn!(
                    "Dropping {what} call from framework {framework_id}: role '{role}' is not \
                     one of the frameworks's subscribed roles"
                );
                return None;
            }
        }
        Some(roles.into_iter().collect())
    }

    fn revive(&mut self, framework_id: &str, roles: Vec<String>) {
        info!("Processing REVIVE call for framework {framework_id}");
        self.count("master/messages_revive_offers");
        let Some(roles) = self.call_roles(framework_id, roles, "REVIVE") else {
            return;
        };
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            if roles.is_empty() {
                framework.suppressed_roles.clear();
            } else {
                framework.suppressed_roles.retain(|r| !roles.contains(r));
            }
        }
        self.allocator.revive(
            &alloc::FrameworkId::from(framework_id),
            &roles.iter().map(alloc::Role::from).collect(),
        );
        // Upstream's revive also lifts the inverse offer filters.
        self.inverse_offers.clear_filters(framework_id);
        self.request_allocation();
    }

    fn suppress(&mut self, framework_id: &str, roles: Vec<String>) {
        info!("Processing SUPPRESS call for framework {framework_id}");
        self.count("master/messages_suppress_offers");
        let Some(roles) = self.call_roles(framework_id, roles, "SUPPRESS") else {
            return;
        };
        if let Some(framework) = self.frameworks.get_mut(framework_id) {
            if roles.is_empty() {
                framework.suppressed_roles = framework.roles();
            } else {
                framework.suppressed_roles.extend(roles.iter().cloned());
            }
        }
        self.allocator.suppress(
            &alloc::FrameworkId::from(framework_id),
            &roles.iter().map(alloc::Role::from).collect(),
        );
    }

    /// KILL: unknown tasks are answered by reconciliation.
    fn kill(&mut self, framework_id: &str, kill: call::Kill) {
        let task_id = kill.task_id.value.clone();
        info!("Processing KILL call for task '{task_id}' of framework {framework_id}");
        self.count("master/messages_kill_task");
        let task_agent = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(&task_id))
            .map(|t| t.agent_id.value.clone());
        let Some(task_agent) = task_agent else {
            warn!(
                "Cannot kill task {task_id} of framework {framework_id} because it is unknown; \
                 performing reconciliation"
            );
            self.reconcile(
                framework_id,
                vec![call::reconcile::Task {
                    task_id: kill.task_id,
                    agent_id: kill.agent_id,
                }],
            );
            return;
        };
        if let Some(agent_id) = &kill.agent_id {
            if agent_id.value != task_agent {
                warn!(
                    "Cannot kill task {task_id} of agent {} of framework {framework_id} because \
                     it belongs to different agent {task_agent}",
                    agent_id.value
                );
                return;
            }
        }
        let Some(agent) = self.agents.get_mut(task_agent.as_str()) else {
            return;
        };
        agent
            .killed_tasks
            .insert((framework_id.to_string(), task_id.clone()));
        if agent.connected {
            let pid = agent.pid.clone();
            let message = agents::kill_task(framework_id, &task_id, kill.kill_policy.as_ref());
            self.send(&pid, &message);
        } else {
            warn!(
                "Cannot kill task {task_id} of framework {framework_id} because the agent \
                 {task_agent} is disconnected. Kill will be retried if the agent reregisters"
            );
        }
    }

    fn shutdown_executor(&mut self, framework_id: &str, shutdown: call::Shutdown) {
        let Some(agent) = self.agents.get(shutdown.agent_id.value.as_str()) else {
            warn!(
                "Unable to shutdown executor '{}' of framework {framework_id} of unknown agent {}",
                shutdown.executor_id.value, shutdown.agent_id.value
            );
            return;
        };
        info!(
            "Processing SHUTDOWN call for executor '{}' of framework {framework_id} on agent {}",
            shutdown.executor_id.value, shutdown.agent_id.value
        );
        let message = ShutdownExecutorMessage {
            executor_id: Some(v0::ExecutorId {
                value: shutdown.executor_id.value.clone(),
            }),
            framework_id: Some(v0::FrameworkId {
                value: framework_id.to_string(),
            }),
        };
        let pid = agent.pid.clone();
        self.send(&pid, &message);
    }

    /// ACKNOWLEDGE: forwarded to the agent; a terminal task whose last
    /// update is acknowledged is removed.
    fn acknowledge(&mut self, framework_id: &str, ack: call::Acknowledge) {
        self.count("master/messages_status_update_acknowledgement");
        let agent_id = AgentId::from(&ack.agent_id.value);
        let task_id = ack.task_id.value.clone();
        let Some(agent) = self.agents.get(&agent_id) else {
            warn!(
                "Cannot send status update acknowledgement for task {task_id} of framework \
                 {framework_id} to agent {agent_id} because agent is not registered"
            );
            self.count("master/invalid_status_update_acknowledgements");
            return;
        };
        if !agent.connected {
            warn!(
                "Cannot send status update acknowledgement for task {task_id} of framework \
                 {framework_id} to agent {agent_id} because agent is disconnected"
            );
            self.count("master/invalid_status_update_acknowledgements");
            return;
        }
        let pid = agent.pid.clone();
        let acknowledged_terminal = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(&task_id))
            .is_some_and(|task| {
                task.status_update_state.is_some_and(is_terminal_state)
                    && task.status_update_uuid.as_deref() == Some(ack.uuid.as_slice())
            });
        if acknowledged_terminal {
            self.remove_task(framework_id, &task_id, false);
            self.check_drained(&agent_id);
        }
        info!("Processing ACKNOWLEDGE call for task {task_id} of framework {framework_id} on agent {agent_id}");
        let message = StatusUpdateAcknowledgementMessage {
            slave_id: agent_id.to_proto(),
            framework_id: v0::FrameworkId {
                value: framework_id.to_string(),
            },
            task_id: v0::TaskId { value: task_id },
            uuid: ack.uuid,
        };
        self.send(&pid, &message);
        self.count("master/valid_status_update_acknowledgements");
    }

    /// RECONCILE (`Master::reconcile`): implicit for an empty list, else
    /// one answer per task; all SOURCE_MASTER / REASON_RECONCILIATION
    /// without uuid.
    pub(super) fn reconcile(&mut self, framework_id: &str, tasks: Vec<call::reconcile::Task>) {
        self.count("master/messages_reconcile_tasks");
        let Some(framework) = self.frameworks.get(framework_id) else {
            return;
        };
        let caps = framework.capabilities();
        let now = now_secs();
        let mut updates = Vec::new();
        let latest = |task: &v1::Task| -> TaskState {
            TaskState::try_from(task.status_update_state.unwrap_or(task.state))
                .unwrap_or(TaskState::TaskStaging)
        };
        if tasks.is_empty() {
            info!("Performing implicit task state reconciliation for framework {framework_id}");
            for task in framework.tasks.values() {
                let mut update = events::master_update(
                    framework_id,
                    Some(&task.agent_id.value),
                    &task.task_id.value,
                    latest(task),
                    "Reconciliation: Latest task state",
                    Reason::Reconciliation,
                    task.executor_id.as_ref().map(|e| e.value.as_str()),
                    now,
                );
                copy_task_health(task, &mut update.status);
                updates.push(update);
            }
        } else {
            info!(
                "Performing explicit task state reconciliation for {} tasks of framework \
                 {framework_id}",
                tasks.len()
            );
            for wanted in tasks {
                let agent_id = wanted.agent_id.as_ref().map(|a| a.value.clone());
                let task_id = wanted.task_id.value.clone();
                if let Some(task) = framework.tasks.get(&task_id) {
                    let mut update = events::master_update(
                        framework_id,
                        Some(&task.agent_id.value),
                        &task_id,
                        latest(task),
                        "Reconciliation: Latest task state",
                        Reason::Reconciliation,
                        task.executor_id.as_ref().map(|e| e.value.as_str()),
                        now,
                    );
                    copy_task_health(task, &mut update.status);
                    updates.push(update);
                    continue;
                }
                let recovered = match agent_id.as_deref() {
                    Some(id) => self.recovered_agents.contains_key(id),
                    None => !self.recovered_agents.is_empty(),
                };
                if recovered {
                    info!(
                        "Dropping reconciliation of task {task_id} for framework {framework_id} \
                         because agents have not yet reregistered with the master"
                    );
                    continue;
                }
                let (state, message, unreachable_time) = match agent_id.as_deref() {
                    Some(id) if self.agents.contains_key(id) => (
                        TaskState::TaskGone,
                        "Reconciliation: Task is unknown to the agent",
                        None,
                    ),
                    Some(id) if self.unreachable_agents.contains_key(id) => (
                        TaskState::TaskUnreachable,
                        "Reconciliation: Task is unreachable",
                        self.unreachable_agents.get(id).cloned(),
                    ),
                    Some(id) if self.gone_agents.contains_key(id) => (
                        TaskState::TaskGoneByOperator,
                        "Reconciliation: Task is gone",
                        None,
                    ),
                    _ => (
                        TaskState::TaskUnknown,
                        "Reconciliation: Task is unknown",
                        None,
                    ),
                };
                let mut update = events::master_update(
                    framework_id,
                    agent_id.as_deref(),
                    &task_id,
                    events::state_for(state, caps),
                    message,
                    Reason::Reconciliation,
                    None,
                    now,
                );
                update.status.unreachable_time = unreachable_time;
                updates.push(update);
            }
        }
        for update in updates {
            self.forward(update, "");
        }
    }

    /// RECONCILE_OPERATIONS: this master tracks no operations, so each asked
    /// operation is answered from what is known of its agent.
    fn reconcile_operations(
        &mut self,
        framework_id: &str,
        operations: Vec<call::reconcile_operations::Operation>,
    ) {
        self.count("master/messages_reconcile_operations");
        for operation in operations {
            let agent_id = operation.agent_id.as_ref().map(|a| a.value.clone());
            let (state, message) = match agent_id.as_deref() {
                Some(id) if self.recovered_agents.contains_key(id) => (
                    OperationState::OperationRecovering,
                    "Reconciliation: Agent is recovered but has not re-registered",
                ),
                Some(id) if self.agents.contains_key(id) => (
                    OperationState::OperationUnknown,
                    "Reconciliation: Operation is unknown",
                ),
                Some(id) if self.unreachable_agents.contains_key(id) => (
                    OperationState::OperationUnreachable,
                    "Reconciliation: Agent is unreachable",
                ),
                Some(id) if self.gone_agents.contains_key(id) => (
                    OperationState::OperationGoneByOperator,
                    "Reconciliation: Agent marked gone by operator",
                ),
                Some(_) => (
                    OperationState::OperationUnknown,
                    "Reconciliation: Both operation and agent are unknown",
                ),
                None => (
                    OperationState::OperationUnknown,
                    "Reconciliation: Operation is unknown and no 'agent_id' was provided",
                ),
            };
            let mut status = events::operation_status(
                state,
                &operation.operation_id,
                message,
                agent_id.as_deref(),
            );
            status.resource_provider_id = operation.resource_provider_id;
            self.send_event(framework_id, &events::update_operation_status(status));
        }
    }

    /// MESSAGE: relayed to the executor through its agent.
    fn framework_message(&mut self, framework_id: &str, message: call::Message) {
        self.count("master/messages_framework_to_executor");
        let Some(agent) = self.agents.get(message.agent_id.value.as_str()) else {
            warn!(
                "Cannot send framework message for framework {framework_id} to agent {} \
                 because agent is not registered",
                message.agent_id.value
            );
            self.count("master/invalid_framework_to_executor_messages");
            return;
        };
        if !agent.connected {
            warn!(
                "Cannot send framework message for framework {framework_id} to agent {} \
                 because agent is disconnected",
                message.agent_id.value
            );
            self.count("master/invalid_framework_to_executor_messages");
            return;
        }
        let pid = agent.pid.clone();
        let relayed = FrameworkToExecutorMessage {
            slave_id: v0::SlaveId {
                value: message.agent_id.value,
            },
            framework_id: v0::FrameworkId {
                value: framework_id.to_string(),
            },
            executor_id: v0::ExecutorId {
                value: message.executor_id.value,
            },
            data: message.data,
        };
        self.send(&pid, &relayed);
        self.count("master/valid_framework_to_executor_messages");
    }
}

/// The master's normalisation of an operation (`Master::accept`): resources
/// in the post-refinement format carrying the offer's allocation role,
/// `ExecutorInfo.framework_id` filled in, health check types inferred, and
/// LAUNCH_GROUP tasks given their executor.
fn normalize_operation(
    mut operation: offer::Operation,
    framework_id: &str,
    role: &str,
) -> offer::Operation {
    fn fix(list: &mut [v1::Resource], role: &str) {
        mesos_proto::resources::from_pre_refinement(list);
        for resource in list.iter_mut() {
            if resource.allocation_info.is_none() {
                resource.allocation_info = Some(v1::resource::AllocationInfo {
                    role: Some(role.to_string()),
                });
            }
        }
    }
    fn fix_executor(executor: &mut v1::ExecutorInfo, framework_id: &str, role: &str) {
        fix(&mut executor.resources, role);
        if executor.framework_id.is_none() {
            executor.framework_id = Some(FrameworkId {
                value: framework_id.to_string(),
            });
        }
    }
    fn fix_task(task: &mut TaskInfo, framework_id: &str, role: &str) {
        fix(&mut task.resources, role);
        if let Some(executor) = task.executor.as_mut() {
            fix_executor(executor, framework_id, role);
        }
        if let Some(check) = task.health_check.as_mut() {
            if check.r#type.is_none() {
                if check.command.is_some() && check.http.is_none() {
                    check.r#type = Some(health_check::Type::Command as i32);
                } else if check.http.is_some() && check.command.is_none() {
                    check.r#type = Some(health_check::Type::Http as i32);
                }
            }
        }
    }
    if let Some(launch) = operation.launch.as_mut() {
        for task in &mut launch.task_infos {
            fix_task(task, framework_id, role);
        }
    }
    if let Some(group) = operation.launch_group.as_mut() {
        fix_executor(&mut group.executor, framework_id, role);
        let executor = group.executor.clone();
        for task in &mut group.task_group.tasks {
            if task.executor.is_none() {
                task.executor = Some(executor.clone());
            }
            fix_task(task, framework_id, role);
        }
    }
    for list in [
        operation.reserve.as_mut().map(|r| &mut r.resources),
        operation.unreserve.as_mut().map(|r| &mut r.resources),
        operation.create.as_mut().map(|c| &mut c.volumes),
        operation.destroy.as_mut().map(|d| &mut d.volumes),
    ]
    .into_iter()
    .flatten()
    {
        fix(list, role);
    }
    operation
}

/// The master's record of a freshly launched task (TASK_STAGING).
fn new_task(task: &TaskInfo, framework_id: &str) -> v1::Task {
    v1::Task {
        name: task.name.clone(),
        task_id: task.task_id.clone(),
        framework_id: FrameworkId {
            value: framework_id.to_string(),
        },
        executor_id: task.executor.as_ref().map(|e| e.executor_id.clone()),
        agent_id: task.agent_id.clone(),
        state: TaskState::TaskStaging as i32,
        resources: task.resources.clone(),
        statuses: Vec::new(),
        status_update_state: None,
        status_update_uuid: None,
        labels: task.labels.clone(),
        discovery: task.discovery.clone().map(Box::new),
        container: task.container.clone().map(Box::new),
        health_check: task.health_check.clone().map(Box::new),
        kill_policy: task.kill_policy,
        user: task.command.as_ref().and_then(|c| c.user.clone()),
        limits: task.limits.clone(),
    }
}

/// Reconciliation answers carry the task's last health and check status.
fn copy_task_health(task: &v1::Task, status: &mut v0::TaskStatus) {
    if let Some(last) = task.statuses.last() {
        status.healthy = last.healthy;
        status.check_status = last
            .check_status
            .as_ref()
            .map(mesos_proto::convert::devolve);
        status.container_status = last
            .container_status
            .as_ref()
            .map(mesos_proto::convert::devolve);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuse_seconds_defaults_and_caps() {
        assert_eq!(refuse_duration(None), Some(Duration::from_secs(5)));
        let f = |s: f64| v1::Filters {
            refuse_seconds: Some(s),
        };
        assert_eq!(refuse_duration(Some(&f(0.0))), None);
        assert_eq!(
            refuse_duration(Some(&f(-1.0))),
            Some(Duration::from_secs(5))
        );
        assert_eq!(refuse_duration(Some(&f(1e12))), Some(MAX_REFUSE));
        assert_eq!(
            refuse_duration(Some(&f(2.5))),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            refuse_duration(Some(&v1::Filters {
                refuse_seconds: None
            })),
            Some(Duration::from_secs(5))
        );
    }
}
