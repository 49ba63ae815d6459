//! `POST /api/v1` (= `/master/api/v1`, and any longer path not claimed by
//! a longer route, such as `/api/v1/operator`): the master's v1 Operator
//! API (upstream `Master::Http::api`).
//!
//! Owns the checks in upstream's order (leader, method, `Content-Type`,
//! parsing, call validation, `Accept`), the building of `master::Response`
//! protos from the published snapshot, and the SUBSCRIBE stream's
//! encoding (RecordIO, SUBSCRIBED first, HEARTBEAT every 15 s). State
//! changes go to the actor through typed `MasterHandle` methods; this
//! module never holds master state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use libprocess::http::{header, HeaderValue, Method, StatusCode};
use libprocess::{Body, Request, Response};
use mesos_proto::mesos::v1::master::call::Type as CallType;
use mesos_proto::mesos::v1::master::response::{
    self, get_agents, get_executors, get_frameworks, GetAgents, GetExecutors, GetFrameworks,
    GetTasks,
};
use mesos_proto::mesos::v1::master::{event, Call, Event, Response as MasterResponse};
use mesos_proto::mesos::v1::{
    agent_info, quota, AgentId, FrameworkId, Resource, Role, Task, TimeInfo, VersionInfo,
    WeightInfo,
};
use prost::Message as _;
use tokio::sync::mpsc;

use mesos_authorizer::{Action, Object};

use super::authorization::{principal, Admitted, EventFilter};
use super::futures_response::ResponseFuture;
use super::render::{RenderKey, TaskFragments};
use super::{parse_call_body, require_method, HttpContext, HttpError};
use crate::flags::MESOS_VERSION;
use crate::master::connection::{ContentType, HEARTBEAT_INTERVAL};
use crate::master::maintenance::MaintenanceCommand;
use crate::master::requests::{OperationError, OperationOutcome, OperationRequest, TeardownError};
use crate::master::state_events::{Published, StateEvent, SubscribeError, Subscription};
use crate::master::MarkGoneError;
use crate::snapshot::{AgentView, FrameworkView, Snapshot};

pub fn handle(context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        match serve(&context, request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    })
}

async fn serve(context: &HttpContext, request: Request) -> Result<Response, HttpError> {
    context.check_leader(&request)?;
    require_method(&request, &[Method::POST], "POST")?;
    let call: Call = parse_call_body(&request)?;
    validate(&call)
        .map_err(|e| HttpError::BadRequest(format!("Failed to validate master::Call: {e}")))?;
    let accept = ContentType::negotiate(request.headers()).ok_or_else(|| {
        HttpError::NotAcceptable(format!(
            "Expecting 'Accept' to allow '{}' or '{}'",
            ContentType::PROTOBUF,
            ContentType::JSON
        ))
    })?;
    let kind = call_type(&call);
    tracing::info!("Processing call {}", kind.as_str_name());
    authorize_call(context, &request, kind, &call).await?;
    match kind {
        CallType::Unknown => Err(HttpError::NotImplemented),
        CallType::Subscribe => subscribe(context, &request, accept).await,
        CallType::SetLoggingLevel => {
            let set = call.set_logging_level.unwrap_or_default();
            let nanos = u64::try_from(set.duration.nanoseconds).map_err(|_| {
                HttpError::BadRequest("Expecting 'duration' to be non-negative".to_string())
            })?;
            let duration = std::time::Duration::from_nanos(nanos);
            crate::logging::toggle(set.level, duration)
                .map_err(|e| HttpError::Internal(e.to_string()))?;
            Ok(ok_empty())
        }
        CallType::ListFiles | CallType::ReadFile => {
            let path = call
                .list_files
                .map(|l| l.path)
                .or(call.read_file.map(|r| r.path))
                .unwrap_or_default();
            // The master attaches no files, so no path resolves.
            Err(HttpError::NotFoundMessage(format!(
                "Path '{path}' does not exist"
            )))
        }
        CallType::Teardown => {
            let id = call
                .teardown
                .map(|t| t.framework_id.value)
                .unwrap_or_default();
            context.master.teardown(&id).await.map_err(|e| match e {
                TeardownError::FrameworkNotFound => HttpError::BadRequest(e.to_string()),
                TeardownError::NotRecovered | TeardownError::ShuttingDown => {
                    HttpError::ServiceUnavailable(e.to_string())
                }
            })?;
            Ok(ok_empty())
        }
        CallType::MarkAgentGone => {
            let id = call
                .mark_agent_gone
                .map(|m| m.agent_id.value)
                .unwrap_or_default();
            context
                .master
                .mark_agent_gone(&id)
                .await
                .map_err(|e| match e {
                    MarkGoneError::NotFound(_) => HttpError::NotFoundMessage(e.to_string()),
                    _ => HttpError::ServiceUnavailable(e.to_string()),
                })?;
            Ok(ok_empty())
        }
        CallType::UpdateMaintenanceSchedule
        | CallType::StartMaintenance
        | CallType::StopMaintenance => {
            let command = maintenance_command(kind, call);
            super::maintenance::change(context, &request, command).await?;
            Ok(ok_empty())
        }
        kind => match operation_request(kind, call) {
            Some(request) => match context.master.apply_operation(request).await {
                Ok(OperationOutcome::Done) => Ok(ok_empty()),
                Ok(OperationOutcome::Accepted) => Ok(libprocess::http::response(
                    StatusCode::ACCEPTED,
                    Body::empty(),
                )),
                Err(error) => Err(operation_error(error)),
            },
            // Unfiltered reads share one encoding per snapshot, made off the
            // request threads; views filtered for a principal make their own.
            None if is_state_read(kind) && !context.views_restricted() => {
                let snapshot = context.master.snapshot().await;
                let key = RenderKey::Operator {
                    call: kind as i32,
                    protobuf: accept == ContentType::Protobuf,
                };
                let renders = Arc::clone(&context.renders);
                let body = context
                    .renders
                    .render(key, &snapshot, move |snapshot| {
                        if kind == CallType::GetState && accept == ContentType::Protobuf {
                            return encode_get_state(snapshot, &mut renders.encoded_tasks());
                        }
                        state_read(kind, snapshot)
                            .map(|response| encode(&response, accept))
                            .unwrap_or_default()
                    })
                    .await?;
                Ok(encoded_body(body, accept))
            }
            None => {
                let snapshot = context.viewable(&request, context.master.snapshot().await);
                let mut response = answer(context, &request, kind, &snapshot)?;
                if let Some(roles) = response.get_roles.as_mut() {
                    roles
                        .roles
                        .retain(|role| context.may_view_role(&request, &role.name));
                }
                Ok(encoded(&response, accept))
            }
        },
    }
}

/// The authorization each call needs (upstream's checks per call), 403
/// when refused. Read calls are filtered instead ([`HttpContext::viewable`]);
/// maintenance calls are authorized per machine (`super::maintenance`).
async fn authorize_call(
    context: &HttpContext,
    request: &Request,
    kind: CallType,
    call: &Call,
) -> Result<(), HttpError> {
    let simple = |action: Action| context.authorize(request, action, Object::Any);
    match kind {
        CallType::GetFlags => simple(Action::ViewFlags),
        CallType::SetLoggingLevel => simple(Action::SetLogLevel),
        CallType::MarkAgentGone => simple(Action::MarkAgentGone),
        CallType::DrainAgent => {
            simple(Action::DrainAgent)?;
            // Draining that ends in marking the agent gone needs that
            // permission too.
            if call
                .drain_agent
                .as_ref()
                .is_some_and(|d| d.mark_gone == Some(true))
            {
                simple(Action::MarkAgentGone)?;
            }
            Ok(())
        }
        CallType::DeactivateAgent => simple(Action::DeactivateAgent),
        CallType::ReactivateAgent => simple(Action::ReactivateAgent),
        CallType::Teardown => {
            let id = call
                .teardown
                .as_ref()
                .map(|t| t.framework_id.value.as_str())
                .unwrap_or("");
            let snapshot = context.master.snapshot().await;
            match snapshot
                .frameworks
                .iter()
                .find(|f| f.info.id.as_ref().is_some_and(|i| i.value == id))
            {
                Some(view) => context.authorize(
                    request,
                    Action::TeardownFramework,
                    Object::Framework(&view.info),
                ),
                // An unknown framework is the actor's 400.
                None => Ok(()),
            }
        }
        CallType::ReserveResources => match &call.reserve_resources {
            Some(r) => context.authorize_resources(request, Action::ReserveResources, &r.resources),
            None => Ok(()),
        },
        CallType::UnreserveResources => match &call.unreserve_resources {
            Some(r) => {
                context.authorize_resources(request, Action::UnreserveResources, &r.resources)
            }
            None => Ok(()),
        },
        CallType::CreateVolumes => match &call.create_volumes {
            Some(c) => context.authorize_resources(request, Action::CreateVolume, &c.volumes),
            None => Ok(()),
        },
        CallType::DestroyVolumes => match &call.destroy_volumes {
            Some(d) => context.authorize_resources(request, Action::DestroyVolume, &d.volumes),
            None => Ok(()),
        },
        CallType::GrowVolume => match &call.grow_volume {
            Some(g) => context.authorize_resources(
                request,
                Action::ResizeVolume,
                std::slice::from_ref(&g.volume),
            ),
            None => Ok(()),
        },
        CallType::ShrinkVolume => match &call.shrink_volume {
            Some(s) => context.authorize_resources(
                request,
                Action::ResizeVolume,
                std::slice::from_ref(&s.volume),
            ),
            None => Ok(()),
        },
        CallType::UpdateQuota => call
            .update_quota
            .iter()
            .flat_map(|u| u.quota_configs.iter())
            .try_for_each(|c| {
                context.authorize(request, Action::UpdateQuota, Object::Role(&c.role))
            }),
        CallType::SetQuota => match &call.set_quota {
            Some(set) => context.authorize(
                request,
                Action::UpdateQuota,
                Object::Role(set.quota_request.role.as_deref().unwrap_or("*")),
            ),
            None => Ok(()),
        },
        CallType::RemoveQuota => match &call.remove_quota {
            Some(remove) => {
                context.authorize(request, Action::UpdateQuota, Object::Role(&remove.role))
            }
            None => Ok(()),
        },
        CallType::UpdateWeights => call
            .update_weights
            .iter()
            .flat_map(|u| u.weight_infos.iter())
            .try_for_each(|w| {
                context.authorize(
                    request,
                    Action::UpdateWeight,
                    Object::Role(w.role.as_deref().unwrap_or("*")),
                )
            }),
        _ => Ok(()),
    }
}

/// The one mapping of operation refusals to status codes.
fn operation_error(error: OperationError) -> HttpError {
    match error {
        OperationError::NotSupported(_) => HttpError::NotImplementedMessage(error.to_string()),
        OperationError::Invalid(message) => HttpError::BadRequest(message),
        OperationError::Conflict(message) => HttpError::Conflict(message),
        OperationError::NotFound(message) => HttpError::NotFoundMessage(message),
        OperationError::NotRecovered | OperationError::ShuttingDown => {
            HttpError::ServiceUnavailable(error.to_string())
        }
    }
}

fn call_type(call: &Call) -> CallType {
    call.r#type
        .and_then(|t| CallType::try_from(t).ok())
        .unwrap_or(CallType::Unknown)
}

fn ok_empty() -> Response {
    libprocess::http::response(StatusCode::OK, Body::empty())
}

/// A 200 carrying the response in the negotiated encoding.
fn encoded(response: &MasterResponse, accept: ContentType) -> Response {
    encoded_body(encode(response, accept), accept)
}

fn encode(response: &MasterResponse, accept: ContentType) -> Bytes {
    match accept {
        ContentType::Json => Bytes::from(mesos_proto::json::encode(response)),
        ContentType::Protobuf => Bytes::from(response.encode_to_vec()),
    }
}

/// A 200 carrying `body`, already in the `accept` encoding.
fn encoded_body(body: Bytes, accept: ContentType) -> Response {
    let mut reply = libprocess::http::response(StatusCode::OK, Body::full(body));
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(accept.mime()),
    );
    reply
}

/// Upstream's `validation::master::call::validate`: the type, and the
/// message each call type requires.
pub fn validate(call: &Call) -> Result<(), String> {
    let Some(raw) = call.r#type else {
        return Err("Expecting 'type' to be present".to_string());
    };
    let kind = CallType::try_from(raw).unwrap_or(CallType::Unknown);
    let require = |present: bool, field: &str| {
        if present {
            Ok(())
        } else {
            Err(format!("Expecting '{field}' to be present"))
        }
    };
    match kind {
        CallType::SetLoggingLevel => require(call.set_logging_level.is_some(), "set_logging_level"),
        CallType::ListFiles => require(call.list_files.is_some(), "list_files"),
        CallType::ReadFile => require(call.read_file.is_some(), "read_file"),
        CallType::UpdateWeights => require(call.update_weights.is_some(), "update_weights"),
        CallType::ReserveResources => {
            require(call.reserve_resources.is_some(), "reserve_resources")
        }
        CallType::UnreserveResources => {
            require(call.unreserve_resources.is_some(), "unreserve_resources")
        }
        CallType::CreateVolumes => require(call.create_volumes.is_some(), "create_volumes"),
        CallType::DestroyVolumes => require(call.destroy_volumes.is_some(), "destroy_volumes"),
        CallType::GrowVolume => require(call.grow_volume.is_some(), "grow_volume"),
        CallType::ShrinkVolume => require(call.shrink_volume.is_some(), "shrink_volume"),
        CallType::UpdateMaintenanceSchedule => require(
            call.update_maintenance_schedule.is_some(),
            "update_maintenance_schedule",
        ),
        CallType::StartMaintenance => {
            require(call.start_maintenance.is_some(), "start_maintenance")
        }
        CallType::StopMaintenance => require(call.stop_maintenance.is_some(), "stop_maintenance"),
        CallType::DrainAgent => require(call.drain_agent.is_some(), "drain_agent"),
        CallType::DeactivateAgent => require(call.deactivate_agent.is_some(), "deactivate_agent"),
        CallType::ReactivateAgent => require(call.reactivate_agent.is_some(), "reactivate_agent"),
        CallType::UpdateQuota => require(call.update_quota.is_some(), "update_quota"),
        CallType::SetQuota => require(call.set_quota.is_some(), "set_quota"),
        CallType::RemoveQuota => require(call.remove_quota.is_some(), "remove_quota"),
        CallType::Teardown => require(call.teardown.is_some(), "teardown"),
        CallType::MarkAgentGone => require(call.mark_agent_gone.is_some(), "mark_agent_gone"),
        _ => Ok(()),
    }
}

/// The typed request for a state-changing call, `None` for reads.
fn operation_request(kind: CallType, call: Call) -> Option<OperationRequest> {
    Some(match kind {
        CallType::ReserveResources => {
            OperationRequest::ReserveResources(Box::new(call.reserve_resources?))
        }
        CallType::UnreserveResources => {
            OperationRequest::UnreserveResources(Box::new(call.unreserve_resources?))
        }
        CallType::CreateVolumes => OperationRequest::CreateVolumes(Box::new(call.create_volumes?)),
        CallType::DestroyVolumes => {
            OperationRequest::DestroyVolumes(Box::new(call.destroy_volumes?))
        }
        CallType::GrowVolume => OperationRequest::GrowVolume(Box::new(call.grow_volume?)),
        CallType::ShrinkVolume => OperationRequest::ShrinkVolume(Box::new(call.shrink_volume?)),
        CallType::UpdateQuota => OperationRequest::UpdateQuota(Box::new(call.update_quota?)),
        CallType::SetQuota => OperationRequest::SetQuota(Box::new(call.set_quota?)),
        CallType::RemoveQuota => OperationRequest::RemoveQuota(Box::new(call.remove_quota?)),
        CallType::UpdateWeights => OperationRequest::UpdateWeights(Box::new(call.update_weights?)),
        CallType::DrainAgent => OperationRequest::DrainAgent(Box::new(call.drain_agent?)),
        CallType::DeactivateAgent => {
            OperationRequest::DeactivateAgent(Box::new(call.deactivate_agent?))
        }
        CallType::ReactivateAgent => {
            OperationRequest::ReactivateAgent(Box::new(call.reactivate_agent?))
        }
        _ => return None,
    })
}

/// The maintenance change a (validated) UPDATE_MAINTENANCE_SCHEDULE,
/// START_MAINTENANCE or STOP_MAINTENANCE call asks for.
fn maintenance_command(kind: CallType, call: Call) -> MaintenanceCommand {
    use mesos_proto::convert::devolve;
    let machines = |ids: &[mesos_proto::mesos::v1::MachineId]| ids.iter().map(devolve).collect();
    match kind {
        CallType::StartMaintenance => MaintenanceCommand::Start(machines(
            &call.start_maintenance.unwrap_or_default().machines,
        )),
        CallType::StopMaintenance => MaintenanceCommand::Stop(machines(
            &call.stop_maintenance.unwrap_or_default().machines,
        )),
        _ => MaintenanceCommand::UpdateSchedule(devolve(
            &call
                .update_maintenance_schedule
                .unwrap_or_default()
                .schedule,
        )),
    }
}

/// Answers a read call from the snapshot.
/// The answer to a read of the whole state or a large part of it, which
/// depends on the snapshot alone (so its encoding can be cached per
/// snapshot); `None` for other calls.
fn state_read(kind: CallType, snapshot: &Snapshot) -> Option<MasterResponse> {
    use response::Type as R;
    let mut out = MasterResponse::default();
    let typed = |t: R| Some(t as i32);
    match kind {
        CallType::GetState => {
            out.r#type = typed(R::GetState);
            out.get_state = Some(get_state(snapshot));
        }
        CallType::GetAgents => {
            out.r#type = typed(R::GetAgents);
            out.get_agents = Some(get_agents_of(snapshot));
        }
        CallType::GetFrameworks => {
            out.r#type = typed(R::GetFrameworks);
            out.get_frameworks = Some(get_frameworks_of(snapshot));
        }
        CallType::GetExecutors => {
            out.r#type = typed(R::GetExecutors);
            out.get_executors = Some(get_executors_of(snapshot));
        }
        CallType::GetTasks => {
            out.r#type = typed(R::GetTasks);
            out.get_tasks = Some(get_tasks_of(snapshot));
        }
        _ => return None,
    }
    Some(out)
}

fn is_state_read(kind: CallType) -> bool {
    matches!(
        kind,
        CallType::GetState
            | CallType::GetAgents
            | CallType::GetFrameworks
            | CallType::GetExecutors
            | CallType::GetTasks
    )
}

fn answer(
    context: &HttpContext,
    request: &Request,
    kind: CallType,
    snapshot: &Snapshot,
) -> Result<MasterResponse, HttpError> {
    use response::Type as R;
    if let Some(out) = state_read(kind, snapshot) {
        return Ok(out);
    }
    let mut out = MasterResponse::default();
    let typed = |t: R| Some(t as i32);
    match kind {
        CallType::GetHealth => {
            out.r#type = typed(R::GetHealth);
            out.get_health = Some(response::GetHealth { healthy: true });
        }
        CallType::GetFlags => {
            out.r#type = typed(R::GetFlags);
            out.get_flags = Some(response::GetFlags {
                flags: context
                    .flags
                    .to_map()
                    .into_iter()
                    .map(|(name, value)| mesos_proto::mesos::v1::Flag {
                        name,
                        value: Some(value),
                    })
                    .collect(),
            });
        }
        CallType::GetVersion => {
            out.r#type = typed(R::GetVersion);
            out.get_version = Some(response::GetVersion {
                version_info: version_info(),
            });
        }
        CallType::GetMetrics => {
            out.r#type = typed(R::GetMetrics);
            out.get_metrics = Some(response::GetMetrics {
                metrics: snapshot
                    .metrics
                    .iter()
                    .map(|(name, value)| mesos_proto::mesos::v1::Metric {
                        name: name.clone(),
                        value: Some(*value),
                    })
                    .collect(),
            });
        }
        CallType::GetLoggingLevel => {
            out.r#type = typed(R::GetLoggingLevel);
            out.get_logging_level = Some(response::GetLoggingLevel {
                level: crate::logging::level(),
            });
        }
        CallType::GetOperations => {
            out.r#type = typed(R::GetOperations);
            out.get_operations = Some(response::GetOperations::default());
        }
        CallType::GetRoles => {
            out.r#type = typed(R::GetRoles);
            out.get_roles = Some(response::GetRoles {
                roles: roles(snapshot, &snapshot.weights),
            });
        }
        CallType::GetWeights => {
            out.r#type = typed(R::GetWeights);
            out.get_weights = Some(response::GetWeights {
                weight_infos: snapshot
                    .weights
                    .iter()
                    .map(|(role, weight)| WeightInfo {
                        weight: *weight,
                        role: Some(role.clone()),
                    })
                    .collect(),
            });
        }
        CallType::GetMaster => {
            out.r#type = typed(R::GetMaster);
            out.get_master = Some(response::GetMaster {
                master_info: Some(snapshot.master_info.clone()),
                start_time: Some(snapshot.start_time),
                elected_time: snapshot.elected_time,
            });
        }
        CallType::GetMaintenanceStatus => {
            out.r#type = typed(R::GetMaintenanceStatus);
            out.get_maintenance_status = Some(response::GetMaintenanceStatus {
                status: mesos_proto::convert::evolve(&super::maintenance::visible_status(
                    context,
                    request,
                    snapshot.maintenance_status.clone(),
                )),
            });
        }
        CallType::GetMaintenanceSchedule => {
            out.r#type = typed(R::GetMaintenanceSchedule);
            out.get_maintenance_schedule = Some(response::GetMaintenanceSchedule {
                schedule: mesos_proto::convert::evolve(&super::maintenance::visible_schedule(
                    context,
                    request,
                    snapshot.maintenance.schedule(),
                )),
            });
        }
        CallType::GetQuota => {
            out.r#type = typed(R::GetQuota);
            out.get_quota = Some(response::GetQuota {
                status: quota_status(&snapshot.quotas),
            });
        }
        other => {
            return Err(HttpError::Internal(format!(
                "Unexpected call {} for a read",
                other.as_str_name()
            )))
        }
    }
    Ok(out)
}

/// GET_QUOTA's status: the configs, and the deprecated `infos` (each
/// role's guarantee as scalar resources) older clients read.
fn quota_status(configs: &[mesos_proto::mesos::quota::QuotaConfig]) -> quota::QuotaStatus {
    let infos = configs
        .iter()
        .filter(|config| !config.guarantees.is_empty())
        .map(|config| {
            let mut names: Vec<&String> = config.guarantees.keys().collect();
            names.sort();
            quota::QuotaInfo {
                role: Some(config.role.clone()),
                principal: None,
                guarantee: names
                    .into_iter()
                    .map(|name| mesos_proto::mesos::v1::Resource {
                        name: name.clone(),
                        r#type: mesos_proto::mesos::v1::value::Type::Scalar as i32,
                        scalar: Some(mesos_proto::mesos::v1::value::Scalar {
                            value: config.guarantees[name].value,
                        }),
                        ..Default::default()
                    })
                    .collect(),
            }
        })
        .collect();
    quota::QuotaStatus {
        infos,
        configs: configs.iter().map(mesos_proto::convert::evolve).collect(),
    }
}

pub fn version_info() -> VersionInfo {
    VersionInfo {
        version: MESOS_VERSION.to_string(),
        build_date: Some(stout::build_info::build_date()),
        build_time: Some(stout::build_info::build_time() as f64),
        build_user: Some(stout::build_info::build_user().to_string()),
        git_sha: stout::build_info::git_sha().map(str::to_string),
        git_branch: stout::build_info::git_branch().map(str::to_string),
        git_tag: stout::build_info::git_tag().map(str::to_string),
    }
}

fn time(secs: f64) -> TimeInfo {
    TimeInfo {
        nanoseconds: (secs * 1e9) as i64,
    }
}

pub fn agent(view: &AgentView) -> get_agents::Agent {
    get_agents::Agent {
        agent_info: view.info.clone(),
        active: view.active,
        deactivated: Some(view.deactivated),
        drain_info: view.drain_info,
        estimated_drain_start_time: view.drain_info.and(view.estimated_drain_start_time).map(
            |secs| TimeInfo {
                // Whole seconds, as upstream reports it.
                nanoseconds: (secs.trunc() * 1e9) as i64,
            },
        ),
        version: view.version.clone(),
        pid: Some(view.pid.clone()),
        registered_time: Some(time(view.registered_time)),
        reregistered_time: view.reregistered_time.map(time),
        total_resources: view.total.clone(),
        allocated_resources: view.used.clone(),
        offered_resources: view.offered.clone(),
        capabilities: view
            .capabilities
            .iter()
            .filter_map(|name| agent_info::capability::Type::from_str_name(name))
            .map(|t| agent_info::Capability {
                r#type: Some(t as i32),
            })
            .collect(),
        ..Default::default()
    }
}

pub fn framework(view: &FrameworkView, completed: bool) -> get_frameworks::Framework {
    get_frameworks::Framework {
        framework_info: view.info.clone(),
        active: view.active,
        connected: view.connected,
        recovered: view.recovered,
        registered_time: (view.registered_time > 0.0).then(|| time(view.registered_time)),
        reregistered_time: (view.reregistered_time > 0.0
            && view.reregistered_time != view.registered_time)
            .then(|| time(view.reregistered_time)),
        unregistered_time: (completed && view.unregistered_time > 0.0)
            .then(|| time(view.unregistered_time)),
        offers: view.offers.clone(),
        inverse_offers: view.inverse_offers.clone(),
        allocated_resources: view.used_resources.clone(),
        offered_resources: view.offered_resources.clone(),
        offer_constraints: view.offer_constraints.clone(),
    }
}

fn get_agents_of(snapshot: &Snapshot) -> GetAgents {
    GetAgents {
        agents: snapshot.agents.iter().map(agent).collect(),
        recovered_agents: snapshot
            .recovered_agents
            .iter()
            .map(|info| (**info).clone())
            .collect(),
    }
}

fn get_frameworks_of(snapshot: &Snapshot) -> GetFrameworks {
    GetFrameworks {
        frameworks: snapshot
            .frameworks
            .iter()
            .map(|f| framework(f, false))
            .collect(),
        completed_frameworks: snapshot
            .completed_frameworks
            .iter()
            .map(|f| framework(f, true))
            .collect(),
        recovered_frameworks: Vec::new(),
    }
}

fn get_executors_of(snapshot: &Snapshot) -> GetExecutors {
    GetExecutors {
        executors: snapshot
            .frameworks
            .iter()
            .flat_map(|f| f.executors.iter())
            .map(|(agent_id, info)| get_executors::Executor {
                executor_info: info.clone(),
                agent_id: AgentId {
                    value: agent_id.clone(),
                },
            })
            .collect(),
        orphan_executors: Vec::new(),
    }
}

fn get_tasks_of(snapshot: &Snapshot) -> GetTasks {
    let mut tasks = GetTasks::default();
    for view in &snapshot.frameworks {
        tasks.tasks.extend(view.tasks.iter().map(|t| (**t).clone()));
        tasks
            .unreachable_tasks
            .extend(view.unreachable_tasks.iter().map(|t| (**t).clone()));
        tasks
            .completed_tasks
            .extend(view.completed_tasks.iter().map(|t| (**t).clone()));
    }
    for view in &snapshot.completed_frameworks {
        tasks
            .completed_tasks
            .extend(view.tasks.iter().map(|t| (**t).clone()));
        tasks
            .completed_tasks
            .extend(view.completed_tasks.iter().map(|t| (**t).clone()));
    }
    tasks
}

/// The GET_STATE response in protobuf, as `encode` writes it, each task
/// copied from `fragments` (encoded once per version of the task).
fn encode_get_state(snapshot: &Snapshot, fragments: &mut TaskFragments<Vec<u8>>) -> Bytes {
    use prost::encoding::{encode_key, encode_varint, WireType};
    let frameworks = || snapshot.frameworks.iter();
    let completed = || snapshot.completed_frameworks.iter();
    // In `get_tasks_of`'s lists and order.
    let tasks = || frameworks().flat_map(|f| &f.tasks);
    let unreachable = || frameworks().flat_map(|f| &f.unreachable_tasks);
    let completed_tasks = || {
        frameworks()
            .flat_map(|f| &f.completed_tasks)
            .chain(completed().flat_map(|f| f.tasks.iter().chain(&f.completed_tasks)))
    };
    fragments.refresh(
        tasks().chain(unreachable()).chain(completed_tasks()),
        |task| task.encode_to_vec(),
    );
    let field = |out: &mut Vec<u8>, tag: u32, bytes: &[u8]| {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    };
    // `GetTasks` fields in the order prost writes them (by field number).
    let mut get_tasks = Vec::new();
    let mut write = |tag: u32, list: &mut dyn Iterator<Item = &Arc<Task>>| {
        for task in list {
            match fragments.get(task) {
                Some(encoded) => field(&mut get_tasks, tag, encoded),
                None => field(&mut get_tasks, tag, &task.encode_to_vec()),
            }
        }
    };
    write(2, &mut tasks());
    write(3, &mut completed_tasks());
    write(5, &mut unreachable());
    let rest = response::GetState {
        get_tasks: None,
        get_executors: Some(get_executors_of(snapshot)),
        get_frameworks: Some(get_frameworks_of(snapshot)),
        get_agents: Some(get_agents_of(snapshot)),
    }
    .encode_to_vec();
    let mut get_state = Vec::with_capacity(get_tasks.len() + rest.len() + 16);
    field(&mut get_state, 1, &get_tasks);
    drop(get_tasks);
    get_state.extend_from_slice(&rest);
    let mut out = MasterResponse {
        r#type: Some(response::Type::GetState as i32),
        ..Default::default()
    }
    .encode_to_vec();
    out.reserve(get_state.len() + 16);
    field(&mut out, 9, &get_state);
    Bytes::from(out)
}

pub fn get_state(snapshot: &Snapshot) -> response::GetState {
    response::GetState {
        get_tasks: Some(get_tasks_of(snapshot)),
        get_executors: Some(get_executors_of(snapshot)),
        get_frameworks: Some(get_frameworks_of(snapshot)),
        get_agents: Some(get_agents_of(snapshot)),
    }
}

/// Roles known from weights and subscribed frameworks, with what is
/// allocated to each.
fn roles(snapshot: &Snapshot, weights: &BTreeMap<String, f64>) -> Vec<Role> {
    let mut members: BTreeMap<String, BTreeSet<String>> = weights
        .keys()
        .map(|role| (role.clone(), BTreeSet::new()))
        .collect();
    for view in &snapshot.frameworks {
        let names: Vec<String> = if view.multi_role {
            view.info.roles.clone()
        } else {
            vec![view.info.role.clone().unwrap_or_else(|| "*".to_string())]
        };
        let id = view
            .info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default();
        for name in names {
            members.entry(name).or_default().insert(id.clone());
        }
    }
    members
        .into_iter()
        .map(|(name, frameworks)| {
            let resources: Vec<Resource> = snapshot
                .frameworks
                .iter()
                .flat_map(|f| f.used_resources.iter())
                .filter(|r| {
                    r.allocation_info
                        .as_ref()
                        .and_then(|a| a.role.as_deref())
                        .is_some_and(|role| role == name)
                })
                .cloned()
                .collect();
            Role {
                weight: weights.get(&name).copied().unwrap_or(1.0),
                frameworks: frameworks
                    .into_iter()
                    .map(|value| FrameworkId { value })
                    .collect(),
                resources,
                name,
            }
        })
        .collect()
}

// ---- SUBSCRIBE --------------------------------------------------------------

async fn subscribe(
    context: &HttpContext,
    request: &Request,
    accept: ContentType,
) -> Result<Response, HttpError> {
    let mut subscription = context
        .master
        .subscribe_operator()
        .await
        .map_err(|e| match e {
            SubscribeError::TooManySubscribers
            | SubscribeError::NotRecovered
            | SubscribeError::ShuttingDown => HttpError::ServiceUnavailable(e.to_string()),
        })?;
    // Changes queue up in the subscription meanwhile: none is lost or
    // shown twice, whatever the render takes.
    let render = move |state: &Snapshot| stream_head(state, accept);
    let head = if context.views_restricted() {
        subscription.state = context.viewable(request, subscription.state);
        super::render::render_uncached(Arc::clone(&subscription.state), render).await?
    } else {
        // Subscribers arriving together share the actor's snapshot, so
        // they share this one rendering of it too.
        let key = RenderKey::Subscribed {
            protobuf: accept == ContentType::Protobuf,
        };
        context
            .renders
            .render(key, &subscription.state, render)
            .await?
    };
    let filter = EventFilter::new(
        context.authorizer.clone(),
        principal(request).map(str::to_string),
        &subscription.state,
    );
    let stream = EventStream::new(subscription, head, filter, accept);
    let mut response = libprocess::http::response(StatusCode::OK, Body::source(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(accept.mime()),
    );
    Ok(response)
}

/// SUBSCRIBED with `state`, then the first HEARTBEAT.
fn stream_head(state: &Snapshot, accept: ContentType) -> Bytes {
    let mut head = encode_event(&subscribed(state), accept).to_vec();
    head.extend_from_slice(&encode_event(&heartbeat(), accept));
    Bytes::from(head)
}

/// One operator event as a RecordIO record.
pub fn encode_event(event: &Event, content_type: ContentType) -> Bytes {
    match content_type {
        ContentType::Json => {
            mesos_proto::recordio::encode(mesos_proto::json::encode(event).as_bytes())
        }
        ContentType::Protobuf => mesos_proto::recordio::encode(&event.encode_to_vec()),
    }
}

pub fn subscribed(snapshot: &Snapshot) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            get_state: Some(get_state(snapshot)),
            heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL.as_secs_f64()),
        }),
        ..Default::default()
    }
}

fn heartbeat() -> Event {
    Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Default::default()
    }
}

/// The v1 event for a state change.
pub fn to_event(change: &StateEvent) -> Event {
    let mut out = Event::default();
    match change {
        StateEvent::TaskAdded(task) => {
            out.r#type = Some(event::Type::TaskAdded as i32);
            out.task_added = Some(event::TaskAdded {
                task: (**task).clone(),
            });
        }
        StateEvent::TaskUpdated {
            framework_id,
            status,
            state,
        } => {
            out.r#type = Some(event::Type::TaskUpdated as i32);
            out.task_updated = Some(event::TaskUpdated {
                framework_id: FrameworkId {
                    value: framework_id.clone(),
                },
                status: (**status).clone(),
                state: *state,
            });
        }
        StateEvent::AgentAdded(view) => {
            out.r#type = Some(event::Type::AgentAdded as i32);
            out.agent_added = Some(event::AgentAdded { agent: agent(view) });
        }
        StateEvent::AgentRemoved { agent_id } => {
            out.r#type = Some(event::Type::AgentRemoved as i32);
            out.agent_removed = Some(event::AgentRemoved {
                agent_id: AgentId {
                    value: agent_id.clone(),
                },
            });
        }
        StateEvent::FrameworkAdded(view) => {
            out.r#type = Some(event::Type::FrameworkAdded as i32);
            out.framework_added = Some(event::FrameworkAdded {
                framework: framework(view, false),
            });
        }
        StateEvent::FrameworkUpdated(view) => {
            out.r#type = Some(event::Type::FrameworkUpdated as i32);
            out.framework_updated = Some(event::FrameworkUpdated {
                framework: framework(view, false),
            });
        }
        StateEvent::FrameworkRemoved(info) => {
            out.r#type = Some(event::Type::FrameworkRemoved as i32);
            out.framework_removed = Some(event::FrameworkRemoved {
                framework_info: (**info).clone(),
            });
        }
    }
    out
}

/// Bytes of queued changes put into one write at most (past it, the rest
/// goes in the next one).
const WRITE_BATCH: usize = 64 * 1024;

/// Changes taken from the queue per look at it.
const RECV_BATCH: usize = 64;

/// After a write of changes, the stream waits this long before it looks
/// at its queue again, so a burst of changes goes out in a few writes
/// rather than one per change, and the actor's sends meanwhile wake no
/// one: a hundred subscribers then cost the master a few writes per
/// interval instead of a hundred per change. A change after a quiet spell
/// is written at once; a write of many changes does not wait (changes
/// that come that fast already share writes, and waiting would only fill
/// the subscriber's queue).
const COALESCE: std::time::Duration = std::time::Duration::from_millis(25);

/// How long a dropped subscriber's stream has to end before its connection
/// is closed: a client still reading gets the stream's end; one that
/// stopped reading (no write completes, so the stream is never polled to
/// its end) is disconnected.
const CUT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// A SUBSCRIBE stream's body: SUBSCRIBED and a first HEARTBEAT, then each
/// change the subscriber may see, and a HEARTBEAT every 15 s.
///
/// The connection that writes the stream polls it directly, so the actor's
/// queue wakes that connection and nothing else; whatever has queued up
/// since the last write goes out as one chunk (one write), each change
/// encoded once per media type for every subscriber. Ends when the actor
/// drops the subscriber (its queue was full: it does not keep up) or stops.
struct EventStream {
    /// SUBSCRIBED and the first HEARTBEAT, until written.
    head: Option<Bytes>,
    events: mpsc::Receiver<Arc<Published>>,
    /// Resolves when the actor dropped this subscriber: the stream ends at
    /// once, without writing what is still queued.
    dropped: tokio::sync::oneshot::Receiver<()>,
    /// Resolves with `dropped`: taken by the server, which closes the
    /// connection [`CUT_GRACE`] later unless the stream ended by then.
    cut: Option<tokio::sync::oneshot::Receiver<()>>,
    filter: Option<EventFilter>,
    accept: ContentType,
    beat: Bytes,
    heartbeats: tokio::time::Interval,
    /// Taken from the queue, to be encoded (kept for its allocation).
    received: Vec<Arc<Published>>,
    /// Set after a write of changes: the queue is not looked at until it
    /// fires (see [`COALESCE`]).
    hold: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// The actor dropped this subscriber or stopped: nothing more comes
    /// (what the queue held is written first in the latter case).
    ended: bool,
}

impl EventStream {
    fn new(
        subscription: Subscription,
        head: Bytes,
        filter: Option<EventFilter>,
        accept: ContentType,
    ) -> EventStream {
        let Subscription {
            state,
            events,
            dropped,
            cut,
        } = subscription;
        // The filter has what it needs from the state.
        drop(state);
        let start = tokio::time::Instant::now() + HEARTBEAT_INTERVAL;
        let mut heartbeats = tokio::time::interval_at(start, HEARTBEAT_INTERVAL);
        // A stream that could not be written for a while gets one beat,
        // not every one it missed.
        heartbeats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        EventStream {
            head: Some(head),
            events,
            dropped,
            cut: Some(cut),
            filter,
            accept,
            beat: encode_event(&heartbeat(), accept),
            heartbeats,
            received: Vec::with_capacity(RECV_BATCH),
            hold: None,
            ended: false,
        }
    }

    /// The encoded changes the subscriber may see among those received.
    fn encode_received(&mut self, out: &mut Batch) {
        // One memo slot per media type on the shared event.
        let slot = match self.accept {
            ContentType::Json => 0,
            ContentType::Protobuf => 1,
        };
        let accept = self.accept;
        for published in self.received.drain(..) {
            let admitted = match self.filter.as_mut() {
                Some(filter) => filter.admit(&published.change),
                None => Admitted::Whole,
            };
            match admitted {
                Admitted::Hidden => {}
                Admitted::Whole => out.push(
                    published.encoded(slot, |change| encode_event(&to_event(change), accept)),
                ),
                // This subscriber's own copy: not the shared encoding.
                Admitted::Redacted(change) => out.push(encode_event(&to_event(&change), accept)),
            }
        }
    }
}

impl libprocess::ChunkSource for EventStream {
    fn poll_chunk(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Bytes>> {
        use std::future::Future as _;
        use std::task::Poll;
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(head));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        if std::pin::Pin::new(&mut self.dropped).poll(cx).is_ready() {
            self.ended = true;
            return Poll::Ready(None);
        }
        if let Some(hold) = self.hold.as_mut() {
            if hold.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.hold = None;
        }
        let mut out = Batch::default();
        let mut drained = false;
        let mut taken = 0;
        while out.len() < WRITE_BATCH {
            match self
                .events
                .poll_recv_many(cx, &mut self.received, RECV_BATCH)
            {
                Poll::Ready(0) => {
                    self.ended = true;
                    break;
                }
                Poll::Ready(n) => {
                    taken += n;
                    self.encode_received(&mut out);
                }
                Poll::Pending => {
                    drained = true;
                    break;
                }
            }
        }
        let changes = out.len() > 0;
        // After the changes, as the event order had it when a change and a
        // beat were due together.
        if self.heartbeats.poll_tick(cx).is_ready() {
            out.push(self.beat.clone());
        }
        match out.take() {
            Some(chunk) => {
                // Changes that come this fast already share writes; a hold
                // would only let the queue fill up.
                if changes && drained && taken < RECV_BATCH {
                    self.hold = Some(Box::pin(tokio::time::sleep(COALESCE)));
                }
                Poll::Ready(Some(chunk))
            }
            None if self.ended => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    fn take_abort(&mut self) -> Option<libprocess::Abort> {
        let cut = self.cut.take()?;
        Some(Box::pin(async move {
            let _ = cut.await;
            tokio::time::sleep(CUT_GRACE).await;
        }))
    }
}

/// Encoded records bound for one write: a single record is passed on as
/// it is (shared with every subscriber), several are joined.
#[derive(Default)]
struct Batch {
    first: Option<Bytes>,
    joined: Vec<u8>,
}

impl Batch {
    fn push(&mut self, record: Bytes) {
        match self.first.take() {
            None if self.joined.is_empty() => self.first = Some(record),
            first => {
                if let Some(first) = first {
                    self.joined.extend_from_slice(&first);
                }
                self.joined.extend_from_slice(&record);
            }
        }
    }

    fn len(&self) -> usize {
        self.first.as_ref().map_or(self.joined.len(), Bytes::len)
    }

    fn take(&mut self) -> Option<Bytes> {
        match self.first.take() {
            Some(first) => Some(first),
            None if self.joined.is_empty() => None,
            None => Some(Bytes::from(std::mem::take(&mut self.joined))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Kick = (
        tokio::sync::oneshot::Sender<()>,
        tokio::sync::oneshot::Sender<()>,
    );

    fn subscription() -> (mpsc::Sender<Arc<Published>>, Kick, Subscription) {
        let (tx, rx) = mpsc::channel(8);
        let (kick, dropped) = tokio::sync::oneshot::channel();
        let (kick_cut, cut) = tokio::sync::oneshot::channel();
        (
            tx,
            (kick, kick_cut),
            Subscription {
                state: Arc::new(Snapshot::default()),
                events: rx,
                dropped,
                cut,
            },
        )
    }

    // The spliced GET_STATE must be the bytes the whole-message encode
    // writes, with fragments cached, missing or stale.
    #[test]
    fn get_state_with_cached_task_encodings_matches_the_plain_encode() {
        use crate::snapshot::FrameworkView;
        use mesos_proto::mesos::v1::{FrameworkInfo, TaskId, TaskState};
        let task = |id: &str, state: TaskState| {
            Arc::new(Task {
                name: id.into(),
                task_id: TaskId { value: id.into() },
                framework_id: FrameworkId { value: "F".into() },
                agent_id: AgentId { value: "S".into() },
                state: state as i32,
                ..Default::default()
            })
        };
        let view = FrameworkView {
            info: FrameworkInfo {
                id: Some(FrameworkId { value: "F".into() }),
                user: "u".into(),
                name: "n".into(),
                ..Default::default()
            },
            tasks: vec![
                task("a", TaskState::TaskRunning),
                task("b", TaskState::TaskRunning),
            ],
            unreachable_tasks: vec![task("u", TaskState::TaskUnreachable)],
            completed_tasks: vec![task("c", TaskState::TaskFinished)],
            ..Default::default()
        };
        let mut snapshot = Snapshot {
            frameworks: vec![view.clone()],
            completed_frameworks: vec![view],
            ..Default::default()
        };
        let plain = |snapshot: &Snapshot| {
            encode(
                &state_read(CallType::GetState, snapshot).unwrap(),
                ContentType::Protobuf,
            )
        };
        let mut fragments = TaskFragments::default();
        assert_eq!(
            encode_get_state(&snapshot, &mut fragments),
            plain(&snapshot)
        );
        assert_eq!(
            encode_get_state(&snapshot, &mut fragments),
            plain(&snapshot)
        );
        let mut changed = Arc::clone(&snapshot.frameworks[0].tasks[1]);
        Arc::make_mut(&mut changed).state = TaskState::TaskKilled as i32;
        snapshot.frameworks[0].tasks[1] = changed;
        assert_eq!(
            encode_get_state(&snapshot, &mut fragments),
            plain(&snapshot)
        );
    }

    fn removed(id: &str) -> Arc<Published> {
        Arc::new(Published::new(StateEvent::AgentRemoved {
            agent_id: id.into(),
        }))
    }

    fn stream(subscription: Subscription, accept: ContentType) -> EventStream {
        let head = stream_head(&subscription.state, accept);
        EventStream::new(subscription, head, None, accept)
    }

    async fn next(stream: &mut EventStream) -> Option<Bytes> {
        use libprocess::ChunkSource as _;
        std::future::poll_fn(|cx| stream.poll_chunk(cx)).await
    }

    /// The records of a JSON chunk.
    fn decode(chunk: &Bytes) -> Vec<serde_json::Value> {
        let mut decoder = mesos_proto::recordio::Decoder::new(usize::MAX);
        decoder.feed(chunk);
        let mut out = Vec::new();
        while let Some(record) = decoder.next_record().unwrap() {
            out.push(serde_json::from_slice(&record).unwrap());
        }
        assert!(!decoder.has_partial_record());
        out
    }

    fn types(chunk: &Bytes) -> Vec<String> {
        decode(chunk)
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_subscriber_ends_without_what_is_still_queued() {
        let (tx, kick, subscription) = subscription();
        let mut stream = stream(subscription, ContentType::Json);
        assert!(next(&mut stream).await.is_some());
        tx.send(removed("a1")).await.unwrap();
        drop(kick);
        assert!(next(&mut stream).await.is_none());
        assert!(next(&mut stream).await.is_none());
    }

    // The server closes the connection of a dropped subscriber whose stream
    // has not ended a grace period later (its client stopped reading).
    #[tokio::test(start_paused = true)]
    async fn a_dropped_subscriber_is_cut_after_the_grace_period() {
        use libprocess::ChunkSource as _;
        let (_tx, kick, subscription) = subscription();
        let mut stream = stream(subscription, ContentType::Json);
        let abort = stream.take_abort().unwrap();
        assert!(stream.take_abort().is_none());
        let started = tokio::time::Instant::now();
        let cut = tokio::spawn(abort);
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
        assert!(!cut.is_finished());
        drop(kick);
        cut.await.unwrap();
        assert!(tokio::time::Instant::now() - started >= HEARTBEAT_INTERVAL + CUT_GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn changes_after_a_write_wait_for_the_coalescing_interval_and_share_one_write() {
        let (tx, _kick, subscription) = subscription();
        let mut stream = stream(subscription, ContentType::Json);
        next(&mut stream).await.unwrap();
        // After a quiet spell a change is written at once.
        let start = tokio::time::Instant::now();
        tx.send(removed("a1")).await.unwrap();
        assert_eq!(types(&next(&mut stream).await.unwrap()), ["AGENT_REMOVED"]);
        assert_eq!(tokio::time::Instant::now(), start);
        // The next two wait out the interval, then go out together.
        tx.send(removed("a2")).await.unwrap();
        tx.send(removed("a3")).await.unwrap();
        let chunk = decode(&next(&mut stream).await.unwrap());
        assert_eq!(tokio::time::Instant::now() - start, COALESCE);
        let ids: Vec<_> = chunk
            .iter()
            .map(|e| e["agent_removed"]["agent_id"]["value"].clone())
            .collect();
        assert_eq!(ids, ["a2", "a3"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_of_many_changes_does_not_wait() {
        let (tx, rx) = mpsc::channel(4 * RECV_BATCH);
        let (_tx, _kick, mut subscription) = subscription();
        subscription.events = rx;
        let mut stream = stream(subscription, ContentType::Json);
        next(&mut stream).await.unwrap();
        let start = tokio::time::Instant::now();
        for i in 0..RECV_BATCH {
            tx.send(removed(&format!("a{i}"))).await.unwrap();
        }
        assert_eq!(decode(&next(&mut stream).await.unwrap()).len(), RECV_BATCH);
        tx.send(removed("late")).await.unwrap();
        assert_eq!(types(&next(&mut stream).await.unwrap()), ["AGENT_REMOVED"]);
        assert_eq!(tokio::time::Instant::now(), start);
    }

    #[tokio::test(start_paused = true)]
    async fn subscribed_then_heartbeat_then_events_then_heartbeat_every_15s() {
        let (tx, _kick, subscription) = subscription();
        let mut stream = stream(subscription, ContentType::Json);
        let head = decode(&next(&mut stream).await.unwrap());
        assert_eq!(head.len(), 2);
        assert_eq!(head[0]["type"], "SUBSCRIBED");
        assert_eq!(head[0]["subscribed"]["heartbeat_interval_seconds"], 15.0);
        assert!(head[0]["subscribed"]["get_state"].is_object());
        assert_eq!(head[1]["type"], "HEARTBEAT");
        tx.send(removed("a1")).await.unwrap();
        let removed = decode(&next(&mut stream).await.unwrap());
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0]["type"], "AGENT_REMOVED");
        assert_eq!(removed[0]["agent_removed"]["agent_id"]["value"], "a1");
        let before = tokio::time::Instant::now();
        assert_eq!(types(&next(&mut stream).await.unwrap()), ["HEARTBEAT"]);
        assert!(
            tokio::time::Instant::now() - before
                >= HEARTBEAT_INTERVAL - std::time::Duration::from_millis(1)
        );
        // The actor dropping the subscription ends the stream.
        drop(tx);
        assert!(next(&mut stream).await.is_none());
    }

    // What queued up while the connection was busy goes out in one write,
    // in the actor's order; once the queue has ended, what it held is
    // still written before the stream ends.
    #[tokio::test(start_paused = true)]
    async fn queued_changes_go_out_in_one_chunk_in_order() {
        let (tx, _kick, subscription) = subscription();
        let mut stream = stream(subscription, ContentType::Json);
        next(&mut stream).await.unwrap();
        for id in ["a1", "a2", "a3"] {
            tx.send(removed(id)).await.unwrap();
        }
        drop(tx);
        let chunk = decode(&next(&mut stream).await.unwrap());
        let ids: Vec<_> = chunk
            .iter()
            .map(|e| e["agent_removed"]["agent_id"]["value"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a1", "a2", "a3"]);
        assert!(next(&mut stream).await.is_none());
    }

    // A change is encoded once per media type: every subscriber taking that
    // type writes the very same bytes.
    #[tokio::test(start_paused = true)]
    async fn subscribers_of_one_media_type_share_a_change_encoding() {
        let mut senders = Vec::new();
        let mut streams = Vec::new();
        for accept in [ContentType::Json, ContentType::Json, ContentType::Protobuf] {
            let (tx, kick, subscription) = subscription();
            let mut stream = stream(subscription, accept);
            next(&mut stream).await.unwrap();
            senders.push((tx, kick));
            streams.push(stream);
        }
        let change = removed("a1");
        for (tx, _) in &senders {
            tx.send(Arc::clone(&change)).await.unwrap();
        }
        let mut chunks = Vec::new();
        for stream in &mut streams {
            chunks.push(next(stream).await.unwrap());
        }
        assert_eq!(chunks[0].as_ptr(), chunks[1].as_ptr());
        assert_ne!(chunks[0], chunks[2]);
        let mut decoder = mesos_proto::recordio::Decoder::new(usize::MAX);
        decoder.feed(&chunks[2]);
        let event = Event::decode(decoder.next_record().unwrap().unwrap()).unwrap();
        assert_eq!(event.r#type, Some(event::Type::AgentRemoved as i32));
    }

    #[test]
    fn validation_names_the_missing_message() {
        let call = Call {
            r#type: Some(CallType::Teardown as i32),
            ..Default::default()
        };
        assert_eq!(
            validate(&call),
            Err("Expecting 'teardown' to be present".to_string())
        );
        assert_eq!(
            validate(&Call::default()),
            Err("Expecting 'type' to be present".to_string())
        );
        let call = Call {
            r#type: Some(CallType::GetState as i32),
            ..Default::default()
        };
        assert_eq!(validate(&call), Ok(()));
    }

    #[test]
    fn operation_refusals_map_to_upstream_statuses() {
        let status = |e: OperationError| operation_error(e).status();
        assert_eq!(
            status(OperationError::NotSupported("RESERVE_RESOURCES")),
            StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(
            status(OperationError::Conflict("x".into())),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(OperationError::Invalid("x".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(OperationError::NotRecovered),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
