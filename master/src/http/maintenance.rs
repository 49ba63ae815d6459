//! The maintenance endpoints: `/maintenance/schedule` (GET the schedule,
//! POST a new one), `/maintenance/status` (GET), and `/machine/down`,
//! `/machine/up` (POST a JSON array of machine ids). Bodies are decoded
//! here into typed values; the actor validates and applies them.

use std::sync::Arc;

use libprocess::http::{Method, StatusCode};
use libprocess::{Body, Request};
use mesos_proto::mesos::maintenance::Schedule;
use mesos_proto::mesos::MachineId;
use serde_json::Value;

use mesos_authorizer::{Action, Object};

use super::futures_response::ResponseFuture;
use super::{json_response, require_method, HttpContext, HttpError};
use crate::master::maintenance::MaintenanceError;

/// Which maintenance endpoint a route serves.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint {
    Schedule,
    Status,
    Down,
    Up,
}

fn map_error(error: MaintenanceError) -> HttpError {
    match error {
        MaintenanceError::Invalid(message) => HttpError::BadRequest(message),
        other => HttpError::ServiceUnavailable(other.to_string()),
    }
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
                        context.authorize(&request, Action::GetMaintenanceSchedule, Object::Any)?;
                        let schedule = master.maintenance_schedule().await;
                        return Ok(Some(mesos_proto::json::to_value(&schedule)));
                    }
                    context.authorize(&request, Action::UpdateMaintenanceSchedule, Object::Any)?;
                    let value = parse_json(request.body())?;
                    if !value.is_object() {
                        return Err(HttpError::BadRequest("Expecting a JSON object".to_string()));
                    }
                    let schedule = mesos_proto::json::from_value::<Schedule>(&value)
                        .map_err(|e| HttpError::BadRequest(e.to_string()))?;
                    master
                        .update_maintenance_schedule(schedule)
                        .await
                        .map_err(map_error)?;
                    Ok(None)
                }
                Endpoint::Status => {
                    require_method(&request, &[Method::GET], "GET")?;
                    context.authorize(&request, Action::GetMaintenanceStatus, Object::Any)?;
                    let status = master.maintenance_status().await;
                    Ok(Some(mesos_proto::json::to_value(&status)))
                }
                Endpoint::Down | Endpoint::Up => {
                    require_method(&request, &[Method::POST], "POST")?;
                    let action = match endpoint {
                        Endpoint::Down => Action::StartMaintenance,
                        _ => Action::StopMaintenance,
                    };
                    context.authorize(&request, action, Object::Any)?;
                    let machines = parse_machines(request.body())?;
                    let result = match endpoint {
                        Endpoint::Down => master.start_maintenance(machines).await,
                        _ => master.stop_maintenance(machines).await,
                    };
                    result.map_err(map_error)?;
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
