//! The maintenance endpoints: `/maintenance/schedule` (GET the schedule,
//! POST a new one), `/maintenance/status` (GET), and `/machine/down`,
//! `/machine/up` (POST a JSON array of machine ids). Bodies are decoded
//! here into typed values; the actor validates and applies them.
//!
//! Also owns the per-machine authorization every maintenance request
//! gets, legacy or v1 operator call alike: reads show only the machines
//! the principal may see, a change needs every machine it names approved.

use std::sync::Arc;

use libprocess::http::{Method, StatusCode};
use libprocess::{Body, Request};
use mesos_proto::mesos::maintenance::{ClusterStatus, Schedule};
use mesos_proto::mesos::MachineId;
use serde_json::Value;

use mesos_authorizer::{Action, Object};

use super::authorization::{forbidden, principal};
use super::futures_response::ResponseFuture;
use super::{json_response, require_method, HttpContext, HttpError};
use crate::master::maintenance::{MachineApproval, MaintenanceCommand, MaintenanceError};

/// The schedule as `request`'s principal may see it (GET_MAINTENANCE_SCHEDULE
/// per machine): each window keeps its visible machines, and a window
/// left with none is dropped.
pub fn visible_schedule(context: &HttpContext, request: &Request, schedule: Schedule) -> Schedule {
    let approver = context
        .authorizer
        .approver(Action::GetMaintenanceSchedule, principal(request));
    if approver.approves_all() {
        return schedule;
    }
    let mut schedule = schedule;
    for window in &mut schedule.windows {
        window
            .machine_ids
            .retain(|id| approver.approved(Object::Machine(id)));
    }
    schedule.windows.retain(|w| !w.machine_ids.is_empty());
    schedule
}

/// The DRAINING and DOWN machines `request`'s principal may see
/// (GET_MAINTENANCE_STATUS per machine).
pub fn visible_status(
    context: &HttpContext,
    request: &Request,
    status: ClusterStatus,
) -> ClusterStatus {
    let approver = context
        .authorizer
        .approver(Action::GetMaintenanceStatus, principal(request));
    if approver.approves_all() {
        return status;
    }
    let mut status = status;
    status
        .draining_machines
        .retain(|m| approver.approved(Object::Machine(&m.id)));
    status
        .down_machines
        .retain(|id| approver.approved(Object::Machine(id)));
    status
}

/// Applies a maintenance change for `request`: the actor validates it,
/// then asks for each machine it names whether the principal may act on
/// it (403 at the first refused).
pub async fn change(
    context: &HttpContext,
    request: &Request,
    command: MaintenanceCommand,
) -> Result<(), HttpError> {
    let action = match command {
        MaintenanceCommand::UpdateSchedule(_) => Action::UpdateMaintenanceSchedule,
        MaintenanceCommand::Start(_) => Action::StartMaintenance,
        MaintenanceCommand::Stop(_) => Action::StopMaintenance,
    };
    let authorizer = Arc::clone(&context.authorizer);
    let subject = principal(request).map(str::to_string);
    let approval = MachineApproval::new(move |id| {
        authorizer.authorized(action, subject.as_deref(), Object::Machine(id))
    });
    context
        .master
        .change_maintenance(command, approval)
        .await
        .map_err(|error| match error {
            MaintenanceError::Invalid(message) => HttpError::BadRequest(message),
            MaintenanceError::Refused(_) => forbidden(request, action),
            other => HttpError::ServiceUnavailable(other.to_string()),
        })
}

/// Which maintenance endpoint a route serves.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint {
    Schedule,
    Status,
    Down,
    Up,
}

fn parse_json(body: &[u8]) -> Result<Value, HttpError> {
    serde_json::from_slice(body)
        .map_err(|e| HttpError::BadRequest(format!("Failed to parse JSON: {e}")))
}

fn parse_machines(body: &[u8]) -> Result<Vec<MachineId>, HttpError> {
    let Value::Array(items) = parse_json(body)? else {
        return Err(HttpError::BadRequest(
            "Expecting a JSON array of machine ids".to_string(),
        ));
    };
    items
        .iter()
        .map(|item| {
            mesos_proto::json::from_value::<MachineId>(item)
                .map_err(|e| HttpError::BadRequest(format!("Failed to parse machine id: {e}")))
        })
        .collect()
}

pub fn handle(context: Arc<HttpContext>, endpoint: Endpoint, request: Request) -> ResponseFuture {
    Box::pin(async move {
        let result = async {
            context.check_leader(&request)?;
            let master = &context.master;
            match endpoint {
                Endpoint::Schedule => {
                    require_method(&request, &[Method::GET, Method::POST], "GET, POST")?;
                    if request.method() == Method::GET {
                        let schedule = master.maintenance_schedule().await;
                        let schedule = visible_schedule(&context, &request, schedule);
                        return Ok(Some(mesos_proto::json::to_value(&schedule)));
                    }
                    let value = parse_json(request.body())?;
                    if !value.is_object() {
                        return Err(HttpError::BadRequest("Expecting a JSON object".to_string()));
                    }
                    let schedule = mesos_proto::json::from_value::<Schedule>(&value)
                        .map_err(|e| HttpError::BadRequest(e.to_string()))?;
                    change(
                        &context,
                        &request,
                        MaintenanceCommand::UpdateSchedule(schedule),
                    )
                    .await?;
                    Ok(None)
                }
                Endpoint::Status => {
                    require_method(&request, &[Method::GET], "GET")?;
                    let status = master.maintenance_status().await;
                    let status = visible_status(&context, &request, status);
                    Ok(Some(mesos_proto::json::to_value(&status)))
                }
                Endpoint::Down | Endpoint::Up => {
                    require_method(&request, &[Method::POST], "POST")?;
                    let machines = parse_machines(request.body())?;
                    let command = match endpoint {
                        Endpoint::Down => MaintenanceCommand::Start(machines),
                        _ => MaintenanceCommand::Stop(machines),
                    };
                    change(&context, &request, command).await?;
                    Ok(None)
                }
            }
        }
        .await;
        match result {
            Ok(Some(value)) => json_response(&request, &value),
            Ok(None) => libprocess::http::response(StatusCode::OK, Body::empty()),
            Err(error) => error.into_response(),
        }
    })
}
