//! The legacy operator endpoints: `/master/quota` (GET; POST sets a
//! role's quota, upstream's deprecated SET_QUOTA form; DELETE
//! `/master/quota/<role>` removes it), `/master/weights` (GET, PUT), and
//! `/master/reserve`, `/master/unreserve`, `/master/create-volumes`,
//! `/master/destroy-volumes` (POST form `slaveId=…&resources=<JSON>` or
//! `volumes=<JSON>`; 202 once applied).
//!
//! Owns the decoding of their JSON bodies into typed requests and the
//! rendering of the answers; the rules and the registry writes are the
//! actor's (`master::quota`). It never reads or changes master state
//! itself.

use std::collections::HashMap;
use std::sync::Arc;

use libprocess::http::{Method, StatusCode};
use libprocess::{Body, Request, Response};
use mesos_proto::mesos::quota::QuotaConfig;
use mesos_proto::mesos::value::Scalar;
use mesos_proto::mesos::WeightInfo;
use mesos_proto::resources::scalar_add;
use serde_json::{json, Map, Value};

use mesos_authorizer::{Action, Object};

use super::authorization::principal;
use super::futures_response::ResponseFuture;
use super::{json_response, require_method, HttpContext, HttpError};
use crate::master::quota::OperatorError;

/// Bodies above this are refused before parsing.
const MAX_BODY: usize = 1 << 20;

fn operator_error(error: OperatorError) -> HttpError {
    match error {
        OperatorError::Invalid(message) => HttpError::BadRequest(message),
        OperatorError::Conflict(message) => HttpError::Conflict(message),
        OperatorError::NotRecovered => {
            HttpError::ServiceUnavailable("Master has not finished recovery".to_string())
        }
        OperatorError::Stopped => {
            HttpError::ServiceUnavailable("Master is shutting down".to_string())
        }
    }
}

fn ok() -> Response {
    libprocess::http::response(StatusCode::OK, Body::empty())
}

fn parse_body(request: &Request) -> Result<Value, HttpError> {
    let body = request.body();
    if body.len() > MAX_BODY {
        return Err(HttpError::BadRequest(format!(
            "Request body of {} bytes exceeds the limit of {MAX_BODY} bytes",
            body.len()
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| HttpError::BadRequest(format!("Failed to parse JSON body: {e}")))
}

/// The deprecated `QuotaRequest` form: a role, a list of scalar resources
/// (guarantee and limit at once) and `force`.
fn quota_request(body: &Value) -> Result<(QuotaConfig, bool), HttpError> {
    let role = body.get("role").and_then(Value::as_str).ok_or_else(|| {
        HttpError::BadRequest("Failed to parse set quota request: missing 'role'".into())
    })?;
    let force = body.get("force").and_then(Value::as_bool).unwrap_or(false);
    let mut amounts: HashMap<String, Scalar> = HashMap::new();
    if let Some(list) = body.get("guarantee") {
        let list = list.as_array().ok_or_else(|| {
            HttpError::BadRequest(
                "Failed to parse set quota request: 'guarantee' must be an array".into(),
            )
        })?;
        for resource in list {
            let name = resource
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let value = resource
                .get("scalar")
                .and_then(|s| s.get("value"))
                .and_then(Value::as_f64)
                .ok_or_else(|| {
                    HttpError::BadRequest(format!(
                        "Failed to validate set quota request: quota resource '{name}' must be \
                         a scalar"
                    ))
                })?;
            if name.is_empty() {
                return Err(HttpError::BadRequest(
                    "Failed to validate set quota request: a resource has no name".into(),
                ));
            }
            if resource.get("reservations").is_some()
                || resource.get("role").and_then(Value::as_str).unwrap_or("*") != "*"
            {
                return Err(HttpError::BadRequest(format!(
                    "Failed to validate set quota request: quota resource '{name}' must not \
                     be reserved"
                )));
            }
            let entry = amounts
                .entry(name.to_string())
                .or_insert(Scalar { value: 0.0 });
            entry.value = scalar_add(entry.value, value);
        }
    }
    if amounts.is_empty() {
        return Err(HttpError::BadRequest(
            "Failed to validate set quota request: the guarantee is empty".into(),
        ));
    }
    Ok((
        QuotaConfig {
            role: role.to_string(),
            guarantees: amounts.clone(),
            limits: amounts,
        },
        force,
    ))
}

fn render_scalars(map: &HashMap<String, Scalar>) -> Value {
    let mut names: Vec<&String> = map.keys().collect();
    names.sort();
    Value::Object(
        names
            .into_iter()
            .map(|name| (name.clone(), json!({ "value": map[name].value })))
            .collect::<Map<String, Value>>(),
    )
}

/// `QuotaStatus` as JSON: the configs, and each as the older `infos`
/// (guarantees as a resource list) for clients that read only those.
pub fn render_quota(configs: &[QuotaConfig]) -> Value {
    let infos: Vec<Value> = configs
        .iter()
        .map(|config| {
            let mut names: Vec<&String> = config.guarantees.keys().collect();
            names.sort();
            let guarantee: Vec<Value> = names
                .into_iter()
                .map(|name| {
                    json!({
                        "name": name,
                        "type": "SCALAR",
                        "scalar": { "value": config.guarantees[name].value },
                        "role": "*",
                    })
                })
                .collect();
            json!({ "role": config.role, "guarantee": guarantee })
        })
        .collect();
    let configs: Vec<Value> = configs
        .iter()
        .map(|config| {
            json!({
                "role": config.role,
                "guarantees": render_scalars(&config.guarantees),
                "limits": render_scalars(&config.limits),
            })
        })
        .collect();
    json!({ "infos": infos, "configs": configs })
}

/// `/master/quota` and `/master/quota/<role>`.
pub fn quota(context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        match handle_quota(&context, &request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    })
}

async fn handle_quota(context: &HttpContext, request: &Request) -> Result<Response, HttpError> {
    require_method(
        request,
        &[Method::GET, Method::HEAD, Method::POST, Method::DELETE],
        "GET, POST, DELETE",
    )?;
    let method = request.method().clone();
    if method == Method::GET || method == Method::HEAD {
        let mut configs = context.master.get_quota().await.map_err(operator_error)?;
        configs.retain(|c| {
            context.authorizer.authorized(
                Action::GetQuota,
                principal(request),
                Object::Role(&c.role),
            )
        });
        return Ok(json_response(request, &render_quota(&configs)));
    }
    if method == Method::POST {
        let body = parse_body(request)?;
        let (config, force) = quota_request(&body)?;
        context.authorize(request, Action::UpdateQuota, Object::Role(&config.role))?;
        let existing = context.master.get_quota().await.map_err(operator_error)?;
        if existing.iter().any(|c| c.role == config.role) {
            return Err(HttpError::BadRequest(
                "Failed to validate set quota request: Can not set quota for a role that \
                 already has quota"
                    .to_string(),
            ));
        }
        context
            .master
            .update_quota(vec![config], force)
            .await
            .map_err(operator_error)?;
        return Ok(ok());
    }
    // DELETE /master/quota/<role>
    let path = request.uri().path();
    let role = path
        .split_once("/quota/")
        .map(|(_, role)| role.trim_matches('/'))
        .unwrap_or_default();
    if role.is_empty() {
        return Err(HttpError::BadRequest(
            "Failed to parse remove quota request: no role given in the path".to_string(),
        ));
    }
    context.authorize(request, Action::UpdateQuota, Object::Role(role))?;
    let existing = context.master.get_quota().await.map_err(operator_error)?;
    if !existing.iter().any(|c| c.role == role) {
        return Err(HttpError::BadRequest(format!(
            "Failed to validate remove quota request for role '{role}': No quota exists for \
             this role"
        )));
    }
    let removal = QuotaConfig {
        role: role.to_string(),
        ..Default::default()
    };
    context
        .master
        .update_quota(vec![removal], true)
        .await
        .map_err(operator_error)?;
    Ok(ok())
}

fn weights_request(body: &Value) -> Result<Vec<WeightInfo>, HttpError> {
    let list = body.as_array().ok_or_else(|| {
        HttpError::BadRequest("Failed to parse update weights request: expected an array".into())
    })?;
    list.iter()
        .map(|entry| {
            let weight = entry.get("weight").and_then(Value::as_f64).ok_or_else(|| {
                HttpError::BadRequest(
                    "Failed to parse update weights request: each entry needs a numeric 'weight'"
                        .into(),
                )
            })?;
            let role = entry.get("role").and_then(Value::as_str).ok_or_else(|| {
                HttpError::BadRequest(
                    "Failed to parse update weights request: each entry needs a 'role'".into(),
                )
            })?;
            Ok(WeightInfo {
                weight,
                role: Some(role.to_string()),
            })
        })
        .collect()
}

/// `/master/weights`: GET lists the roles' weights, PUT updates them.
pub fn weights(context: Arc<HttpContext>, request: Request) -> ResponseFuture {
    Box::pin(async move {
        let result: Result<Response, HttpError> = async {
            require_method(
                &request,
                &[Method::GET, Method::HEAD, Method::PUT],
                "GET, PUT",
            )?;
            if request.method() == Method::PUT {
                let weights = weights_request(&parse_body(&request)?)?;
                for weight in &weights {
                    let role = weight.role.as_deref().unwrap_or("*");
                    context.authorize(&request, Action::UpdateWeight, Object::Role(role))?;
                }
                context
                    .master
                    .update_weights(weights)
                    .await
                    .map_err(operator_error)?;
                return Ok(ok());
            }
            let weights = context.master.get_weights().await.map_err(operator_error)?;
            let list: Vec<Value> = weights
                .iter()
                .filter(|w| context.may_view_role(&request, w.role.as_deref().unwrap_or("*")))
                .map(|w| json!({ "weight": w.weight, "role": w.role }))
                .collect();
            Ok(json_response(&request, &Value::Array(list)))
        }
        .await;
        match result {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    })
}

/// Which resource operation a form endpoint asks for.
#[derive(Clone, Copy, Debug)]
pub enum ResourceEndpoint {
    Reserve,
    Unreserve,
    CreateVolumes,
    DestroyVolumes,
}

impl ResourceEndpoint {
    /// The form field carrying the resources.
    fn field(self) -> &'static str {
        match self {
            ResourceEndpoint::Reserve | ResourceEndpoint::Unreserve => "resources",
            ResourceEndpoint::CreateVolumes | ResourceEndpoint::DestroyVolumes => "volumes",
        }
    }
}

/// Decodes `slaveId=…&<field>=<JSON array of Resource>`.
fn resource_form(
    request: &Request,
    endpoint: ResourceEndpoint,
) -> Result<(String, Vec<mesos_proto::mesos::v1::Resource>), HttpError> {
    let body = request.body();
    if body.len() > MAX_BODY {
        return Err(HttpError::BadRequest(format!(
            "Request body of {} bytes exceeds the limit of {MAX_BODY} bytes",
            body.len()
        )));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| HttpError::BadRequest("Unable to decode query string: not UTF-8".into()))?;
    let form = libprocess::routing::decode_query(&text.replace('+', " "));
    let get = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let agent_id = get("slaveId")
        .ok_or_else(|| HttpError::BadRequest("Missing 'slaveId' query parameter".into()))?;
    let field = endpoint.field();
    let json = get(field)
        .ok_or_else(|| HttpError::BadRequest(format!("Missing '{field}' query parameter")))?;
    let value: Value = serde_json::from_str(&json).map_err(|e| {
        HttpError::BadRequest(format!("Error in parsing '{field}' query parameter: {e}"))
    })?;
    let list = value.as_array().ok_or_else(|| {
        HttpError::BadRequest(format!(
            "Error in parsing '{field}' query parameter: expected an array"
        ))
    })?;
    let mut resources = Vec::with_capacity(list.len());
    for item in list {
        let resource: mesos_proto::mesos::v1::Resource = mesos_proto::json::from_value(item)
            .map_err(|e| {
                HttpError::BadRequest(format!("Error in parsing '{field}' query parameter: {e}"))
            })?;
        resources.push(resource);
    }
    Ok((agent_id, resources))
}

/// POST `/master/reserve`, `/master/unreserve`, `/master/create-volumes`,
/// `/master/destroy-volumes`.
pub fn resource_operation(
    context: Arc<HttpContext>,
    request: Request,
    endpoint: ResourceEndpoint,
) -> ResponseFuture {
    Box::pin(async move {
        let result: Result<Response, HttpError> = async {
            require_method(&request, &[Method::POST], "POST")?;
            let (agent_id, resources) = resource_form(&request, endpoint)?;
            let action = match endpoint {
                ResourceEndpoint::Reserve => Action::ReserveResources,
                ResourceEndpoint::Unreserve => Action::UnreserveResources,
                ResourceEndpoint::CreateVolumes => Action::CreateVolume,
                ResourceEndpoint::DestroyVolumes => Action::DestroyVolume,
            };
            context.authorize_resources(&request, action, &resources)?;
            let master = &context.master;
            let who = principal(&request).map(str::to_string);
            let answer = match endpoint {
                ResourceEndpoint::Reserve => {
                    master.reserve_resources(&agent_id, resources, who).await
                }
                ResourceEndpoint::Unreserve => {
                    master.unreserve_resources(&agent_id, resources, who).await
                }
                ResourceEndpoint::CreateVolumes => {
                    master.create_volumes(&agent_id, resources, who).await
                }
                ResourceEndpoint::DestroyVolumes => {
                    master.destroy_volumes(&agent_id, resources, who).await
                }
            };
            answer.map_err(operator_error)?;
            Ok(libprocess::http::response(
                StatusCode::ACCEPTED,
                Body::empty(),
            ))
        }
        .await;
        match result {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_quota_body_sums_scalars_into_guarantee_and_limit() {
        let body = json!({
            "role": "eng",
            "force": true,
            "guarantee": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}},
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 512}}
            ]
        });
        let (config, force) = quota_request(&body).unwrap();
        assert!(force);
        assert_eq!(config.guarantees["cpus"].value, 2.0);
        assert_eq!(config.limits["mem"].value, 512.0);
        let rendered = render_quota(&[config]);
        assert_eq!(rendered["configs"][0]["guarantees"]["cpus"]["value"], 2.0);
        assert_eq!(rendered["infos"][0]["guarantee"][0]["name"], "cpus");
    }

    #[test]
    fn bad_quota_and_weight_bodies_are_refused() {
        assert!(quota_request(&json!({"guarantee": []})).is_err());
        assert!(quota_request(&json!({"role": "eng", "guarantee": []})).is_err());
        assert!(quota_request(&json!({
            "role": "eng",
            "guarantee": [{"name": "cpus", "role": "eng", "scalar": {"value": 1}}]
        }))
        .is_err());
        assert!(weights_request(&json!({"role": "eng"})).is_err());
        assert!(weights_request(&json!([{"role": "eng"}])).is_err());
        let weights = weights_request(&json!([{"role": "eng", "weight": 2.5}])).unwrap();
        assert_eq!(weights[0].weight, 2.5);
    }
}
