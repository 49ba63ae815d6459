//! `POST /api/v1/scheduler` (= `/master/api/v1/scheduler`): the v1
//! scheduler API's HTTP layer (upstream `Master::Http::scheduler`).
//!
//! Owns the checks that happen before the actor is involved, in upstream's
//! order: leader, method, `Content-Type`, body parsing, call validation,
//! `Accept` (SUBSCRIBE and RECONCILE_OPERATIONS only), `Mesos-Stream-Id` on
//! SUBSCRIBE. Then SUBSCRIBE opens the event stream and hands it to the
//! actor; other calls are answered by the actor (framework lookups, stream
//! id, dispatch).

use std::sync::Arc;

use libprocess::http::{header, HeaderValue, Method, StatusCode};
use libprocess::{Body, Request, RequestExt, Response};
use mesos_proto::mesos::v1::scheduler::call::Type as CallType;
use mesos_proto::mesos::v1::scheduler::Call;

use super::futures_response::ResponseFuture;
use libprocess::authentication::Principal;

use super::{accepts_media_type, require_method, HttpContext, HttpError};
use crate::master::connection::{ContentType, HttpConnection};
use crate::master::{validation, CallOutcome};

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
    // With `--authenticate_http_frameworks` the request carries the
    // principal it authenticated as; the framework must be that one.
    let principal = request.extensions().get::<Principal>().cloned();
    validation::validate_call(&call, principal.as_ref())
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
        let Some(mut subscribe) = call.subscribe else {
            return Err(HttpError::BadRequest(
                "Expecting 'subscribe' to be present".to_string(),
            ));
        };
        // A framework that authenticated without naming a principal is
        // registered (and authorized) as the one it proved; a different
        // one was refused by the validation above.
        if let Some(Principal(principal)) = principal {
            let info = &mut subscribe.framework_info;
            if info.principal.is_none() {
                tracing::warn!(
                    "Setting 'principal' in FrameworkInfo to '{principal}' because the framework \
                     authenticated with that principal but did not set it in FrameworkInfo"
                );
                info.principal = Some(principal);
            }
        }
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
    let status = match context.master.call(call, stream_id, principal).await? {
        CallOutcome::Accepted => StatusCode::ACCEPTED,
        CallOutcome::Done => StatusCode::OK,
    };
    Ok(libprocess::http::response(status, Body::empty()))
}

/// The response media type: JSON whenever acceptable, else protobuf.
fn negotiate(request: &Request) -> Result<ContentType, HttpError> {
    if accepts_media_type(request.headers(), ContentType::JSON) {
        Ok(ContentType::Json)
    } else if accepts_media_type(request.headers(), ContentType::PROTOBUF) {
        Ok(ContentType::Protobuf)
    } else {
        Err(HttpError::NotAcceptable(format!(
            "Expecting 'Accept' to allow '{}' or '{}'",
            ContentType::PROTOBUF,
            ContentType::JSON
        )))
    }
}

/// The scheduler's call, parsed as upstream parses it.
fn parse_call(request: &Request) -> Result<Call, HttpError> {
    super::parse_call_body(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::v1::scheduler::call;
    use mesos_proto::mesos::v1::FrameworkInfo;
    use prost::Message as _;

    fn protobuf_request(body: Vec<u8>) -> Request {
        hyper::Request::builder()
            .method(Method::POST)
            .uri("/api/v1/scheduler")
            .header(header::CONTENT_TYPE, ContentType::PROTOBUF)
            .body(bytes::Bytes::from(body))
            .unwrap()
    }

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
        assert_eq!(
            parse_call(&protobuf_request(call.encode_to_vec())),
            Ok(call)
        );

        // Without `subscribe.framework_info` (a required message field).
        // type = SUBSCRIBE (field 2), subscribe = {} (field 3, empty).
        assert_eq!(
            parse_call(&protobuf_request(vec![0x10, 0x01, 0x1a, 0x00])),
            Err(HttpError::BadRequest(
                "Failed to parse body into Call protobuf".to_string()
            ))
        );
    }
}
