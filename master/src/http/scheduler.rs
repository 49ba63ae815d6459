//! `POST /api/v1/scheduler` (= `/master/api/v1/scheduler`): the v1
//! scheduler API's HTTP layer (upstream `Master::Http::scheduler`).
//!
//! Owns the checks that happen before the actor is involved, in upstream's
//! order: leader, method, `Content-Type`, body parsing, call validation,
//! `Accept` (SUBSCRIBE and RECONCILE_OPERATIONS only), `Mesos-Stream-Id` on
//! SUBSCRIBE. Then SUBSCRIBE opens the event stream and hands it to the
//! actor; other calls are answered by the actor (framework lookups, stream
//! id, dispatch).

use std::sync::{Arc, LazyLock};

use libprocess::http::{header, HeaderValue, Method, StatusCode};
use libprocess::{Body, Request, RequestExt, Response};
use mesos_proto::json::JsonError;
use mesos_proto::mesos::v1::scheduler::call::Type as CallType;
use mesos_proto::mesos::v1::scheduler::Call;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage, Value};

use super::futures_response::ResponseFuture;
use super::{accepts_media_type, require_method, HttpContext, HttpError};
use crate::master::connection::{ContentType, HttpConnection};
use crate::master::validation;

/// The request header naming the caller's subscription stream.
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

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
    let call = parse_call(&request)?;
    validation::validate_call(&call)
        .map_err(|e| HttpError::BadRequest(format!("Failed to validate scheduler::Call: {e}")))?;
    let kind = validation::call_type(&call);

    let accept = if matches!(
        kind,
        Some(CallType::Subscribe | CallType::ReconcileOperations)
    ) {
        Some(negotiate(&request)?)
    } else {
        None
    };

    if kind == Some(CallType::Subscribe) {
        if request.headers().contains_key(STREAM_ID_HEADER) {
            return Err(HttpError::BadRequest(
                "Subscribe calls should not include the 'Mesos-Stream-Id' header".to_string(),
            ));
        }
        let content_type = accept.unwrap_or(ContentType::Json);
        let Some(subscribe) = call.subscribe else {
            return Err(HttpError::BadRequest(
                "Expecting 'subscribe' to be present".to_string(),
            ));
        };
        let (connection, body) =
            HttpConnection::open(content_type, context.master.stream_closed_notifier());
        let stream_id = connection.stream_id.clone();
        if !context.master.subscribe(subscribe, connection) {
            return Err(HttpError::ServiceUnavailable(
                "Master is shutting down".to_string(),
            ));
        }
        let mut response = libprocess::http::response(StatusCode::OK, body);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type.mime()),
        );
        if let Ok(value) = HeaderValue::from_str(&stream_id) {
            headers.insert(STREAM_ID_HEADER, value);
        }
        return Ok(response);
    }

    let stream_id = request.header_str(STREAM_ID_HEADER).map(str::to_string);
    let reply = context
        .master
        .call(call, stream_id)
        .await
        .ok_or_else(|| HttpError::ServiceUnavailable("Master is shutting down".to_string()))?;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = libprocess::http::response(status, Body::full(reply.body.clone()));
    if !reply.body.is_empty() {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    Ok(response)
}

/// The response media type: JSON whenever acceptable, else protobuf.
fn negotiate(request: &Request) -> Result<ContentType, HttpError> {
    if accepts_media_type(request, ContentType::JSON) {
        Ok(ContentType::Json)
    } else if accepts_media_type(request, ContentType::PROTOBUF) {
        Ok(ContentType::Protobuf)
    } else {
        Err(HttpError::NotAcceptable(format!(
            "Expecting 'Accept' to allow '{}' or '{}'",
            ContentType::PROTOBUF,
            ContentType::JSON
        )))
    }
}

/// `Content-Type` must be exactly one of the two media types (upstream
/// compares the header string, parameters included).
fn parse_call(request: &Request) -> Result<Call, HttpError> {
    let Some(content_type) = request.headers().get(header::CONTENT_TYPE) else {
        return Err(HttpError::BadRequest(
            "Expecting 'Content-Type' to be present".to_string(),
        ));
    };
    let body = request.body();
    match content_type.to_str().unwrap_or("") {
        ContentType::PROTOBUF => {
            let failed =
                || HttpError::BadRequest("Failed to parse body into Call protobuf".to_string());
            let call = Call::decode(body.as_ref()).map_err(|_| failed())?;
            check_initialized::<Call>(body).map_err(|_| failed())?;
            Ok(call)
        }
        ContentType::JSON => mesos_proto::json::decode::<Call>(body).map_err(|error| match error {
            JsonError::Syntax(reason) => {
                HttpError::BadRequest(format!("Failed to parse body into JSON: {reason}"))
            }
            other => HttpError::BadRequest(format!(
                "Failed to convert JSON into Call protobuf: {other}"
            )),
        }),
        _ => Err(HttpError::UnsupportedMediaType(format!(
            "Expecting 'Content-Type' of {} or {}",
            ContentType::JSON,
            ContentType::PROTOBUF
        ))),
    }
}

static POOL: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(mesos_proto::FILE_DESCRIPTOR_SET).ok());

/// protobuf's `IsInitialized`: every required field, at any depth, is set
/// (prost decodes missing required fields as defaults, upstream refuses).
pub fn check_initialized<M: prost::Name>(bytes: &[u8]) -> Result<(), String> {
    let pool = POOL
        .as_ref()
        .ok_or_else(|| "protobuf descriptors unavailable".to_string())?;
    let descriptor = pool
        .get_message_by_name(&M::full_name())
        .ok_or_else(|| format!("unknown message {}", M::full_name()))?;
    let message = DynamicMessage::decode(descriptor, bytes).map_err(|e| e.to_string())?;
    let mut missing = Vec::new();
    missing_required(&message, "", &mut missing, 0);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("Missing required fields: {}", missing.join(", ")))
    }
}

fn missing_required(
    message: &DynamicMessage,
    prefix: &str,
    missing: &mut Vec<String>,
    depth: usize,
) {
    if depth > 100 {
        return;
    }
    for field in message.descriptor().fields() {
        let path = format!("{prefix}{}", field.name());
        if field.cardinality() == prost_reflect::Cardinality::Required && !message.has_field(&field)
        {
            missing.push(path.clone());
            continue;
        }
        if !message.has_field(&field) {
            continue;
        }
        match message.get_field(&field).as_ref() {
            Value::Message(inner) => {
                missing_required(inner, &format!("{path}."), missing, depth + 1)
            }
            Value::List(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let Value::Message(inner) = item {
                        missing_required(inner, &format!("{path}[{index}]."), missing, depth + 1);
                    }
                }
            }
            Value::Map(entries) => {
                for (key, item) in entries {
                    if let Value::Message(inner) = item {
                        missing_required(inner, &format!("{path}[{key:?}]."), missing, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::scheduler::call;
    use mesos_proto::mesos::v1::FrameworkInfo;

    #[test]
    fn required_fields_are_checked_in_protobuf_bodies() {
        let call = Call {
            r#type: Some(CallType::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: FrameworkInfo {
                    user: "u".into(),
                    name: "n".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(check_initialized::<Call>(&call.encode_to_vec()).is_ok());

        // Without `subscribe.framework_info` (a required message field).
        // type = SUBSCRIBE (field 2), subscribe = {} (field 3, empty).
        let bytes = [0x10, 0x01, 0x1a, 0x00];
        let error = check_initialized::<Call>(&bytes).unwrap_err();
        assert!(error.contains("subscribe.framework_info"), "{error}");
    }
}
