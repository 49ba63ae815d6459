//! `POST /api/v1/executor` (also `/slave(1)/api/v1/executor`): the v1
//! executor API (upstream `slave/http.cpp: Http::executor`, checklist §2).
//!
//! Owns the handler's checks in upstream order — 405 for non-POST, 400/415
//! for `Content-Type`, 400 for bodies that do not parse or calls that fail
//! `validateExecutorCall`, 406 for an unacceptable `Accept` on SUBSCRIBE,
//! 202 for HEARTBEAT before any lookup — and the event stream encoding
//! (RecordIO records of JSON or protobuf `Event`s, `Content-Type` = the
//! message type, a HEARTBEAT every 30 minutes). Authentication (401) has
//! happened before, in libprocess; the authenticated principal is passed
//! on. Framework/executor lookups (400), the token's claims (403) and
//! everything else happen in the actor.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use libprocess::authentication::{Claims, Principal};
use libprocess::{Body, Request, Response};
use mesos_proto::mesos::task_status::Source;
use mesos_proto::mesos::v1::executor::{call, event, Call, Event};
use mesos_proto::mesos::v1::TaskState;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use super::{
    accepts_media_type, error, reply, ContentType, HttpContext, APPLICATION_JSON,
    APPLICATION_PROTOBUF,
};
use crate::agent::{CallError, CallReply, ExecutorPrincipal, ExecutorStream, Input};

/// `DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL`.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30 * 60);

pub async fn handle(ctx: Arc<HttpContext>, request: Request) -> Response {
    if request.method() != http::Method::POST {
        let mut r = error(
            http::StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "Expecting one of {{ 'POST' }}, but received '{}'",
                request.method()
            ),
        );
        r.headers_mut()
            .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
        return r;
    }
    let call = match decode_call(&request) {
        Ok(call) => call,
        Err(response) => return response,
    };
    if let Err(e) = validate(&call) {
        return error(
            http::StatusCode::BAD_REQUEST,
            format!("Failed to validate Executor::Call: {e}"),
        );
    }
    let kind = call
        .r#type
        .and_then(|t| call::Type::try_from(t).ok())
        .unwrap_or(call::Type::Unknown);
    let mut accept = ContentType::Json;
    match kind {
        call::Type::Subscribe => {
            // An absent `Accept` allows everything; JSON is preferred.
            if accepts_media_type(request.headers(), APPLICATION_JSON) {
                accept = ContentType::Json;
            } else if accepts_media_type(request.headers(), APPLICATION_PROTOBUF) {
                accept = ContentType::Protobuf;
            } else {
                return error(
                    http::StatusCode::NOT_ACCEPTABLE,
                    format!("Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'"),
                );
            }
        }
        // Before any lookup: the ids may be dummies.
        call::Type::Heartbeat => return reply(http::StatusCode::ACCEPTED, Body::empty(), None),
        _ => {}
    }

    let (tx, rx) = oneshot::channel();
    let sent = ctx.agent.inbox.send(Input::ExecutorCall {
        call: Box::new(call),
        principal: principal_of(&request),
        reply: tx,
    });
    let answer = match sent {
        Ok(()) => rx.await.ok(),
        Err(_) => None,
    };
    match answer {
        None => error(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "Agent is shutting down",
        ),
        Some(CallReply::Accepted) => reply(http::StatusCode::ACCEPTED, Body::empty(), None),
        Some(CallReply::Error(e)) => call_error_response(e),
        Some(CallReply::Stream(stream)) => reply(
            http::StatusCode::OK,
            Body::stream(event_stream(accept, stream)),
            Some(accept.as_str()),
        ),
    }
}

/// Who libprocess authenticated the request as (the executor realm is
/// authenticated only with `--authenticate_http_executors`): a token's
/// claims, or a Basic principal.
fn principal_of(request: &Request) -> Option<ExecutorPrincipal> {
    let extensions = request.extensions();
    if let Some(Claims(claims)) = extensions.get::<Claims>() {
        return Some(ExecutorPrincipal::Claims(claims.clone()));
    }
    extensions
        .get::<Principal>()
        .map(|Principal(value)| ExecutorPrincipal::Value(value.clone()))
}

/// Upstream's codes for the actor's refusals.
fn call_error_response(e: CallError) -> Response {
    match e {
        CallError::Invalid(m) => error(http::StatusCode::BAD_REQUEST, m),
        CallError::Forbidden(m) => error(http::StatusCode::FORBIDDEN, m),
        CallError::NotImplemented => error(http::StatusCode::NOT_IMPLEMENTED, ""),
    }
}

/// Reads the body per `Content-Type` (exact match, like upstream).
// The error is the finished response, built at most once per request.
#[allow(clippy::result_large_err)]
fn decode_call(request: &Request) -> Result<Call, Response> {
    let Some(content_type) = request.headers().get(http::header::CONTENT_TYPE) else {
        return Err(error(
            http::StatusCode::BAD_REQUEST,
            "Expecting 'Content-Type' to be present",
        ));
    };
    let content_type = content_type.to_str().unwrap_or("");
    let body = request.body();
    if content_type == APPLICATION_PROTOBUF {
        // Like C++ `ParseFromString`, absent required fields fail the parse.
        mesos_proto::decode_checked::<Call>(body).map_err(|_| {
            error(
                http::StatusCode::BAD_REQUEST,
                "Failed to parse body into Call protobuf",
            )
        })
    } else if content_type == APPLICATION_JSON {
        mesos_proto::json::decode::<Call>(body).map_err(|e| {
            let message = match e {
                mesos_proto::json::JsonError::Syntax(s) => {
                    format!("Failed to parse body into JSON: {s}")
                }
                other => format!("Failed to convert JSON into Call protobuf: {other}"),
            };
            error(http::StatusCode::BAD_REQUEST, message)
        })
    } else {
        Err(error(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}"),
        ))
    }
}

/// `validateExecutorCall`.
pub fn validate(call: &Call) -> Result<(), String> {
    let Some(kind) = call.r#type else {
        return Err("Expecting 'type' to be present".into());
    };
    if call.executor_id.value.is_empty() {
        return Err("Expecting 'executor_id' to be present".into());
    }
    if call.framework_id.value.is_empty() {
        return Err("Expecting 'framework_id' to be present".into());
    }
    match call::Type::try_from(kind).unwrap_or(call::Type::Unknown) {
        call::Type::Subscribe if call.subscribe.is_none() => {
            Err("Expecting 'subscribe' to be present".into())
        }
        call::Type::Update => {
            let Some(update) = &call.update else {
                return Err("Expecting 'update' to be present".into());
            };
            let status = &update.status;
            let Some(uuid) = &status.uuid else {
                return Err("Expecting 'uuid' to be present".into());
            };
            if uuid::Uuid::from_slice(uuid).is_err() {
                return Err(format!(
                    "Invalid UUID: expected 16 bytes, got {}",
                    uuid.len()
                ));
            }
            if let Some(executor_id) = &status.executor_id {
                if executor_id.value != call.executor_id.value {
                    return Err(format!(
                        "ExecutorID in Call: {} does not match ExecutorID in TaskStatus: {}",
                        call.executor_id.value, executor_id.value
                    ));
                }
            }
            if status.source.unwrap_or(Source::Master as i32) != Source::Executor as i32 {
                return Err(format!(
                    "Received Call from executor {} of framework {} with invalid source, expecting 'SOURCE_EXECUTOR'",
                    call.executor_id.value, call.framework_id.value
                ));
            }
            if status.state == TaskState::TaskStaging as i32 {
                return Err(format!(
                    "Received TASK_STAGING from executor {} of framework {} which is not allowed",
                    call.executor_id.value, call.framework_id.value
                ));
            }
            Ok(())
        }
        call::Type::Message if call.message.is_none() => {
            Err("Expecting 'message' to be present".into())
        }
        _ => Ok(()),
    }
}

/// Encodes one event as a RecordIO record.
pub fn encode_event(event: &Event, content: ContentType) -> Bytes {
    let record = match content {
        ContentType::Json => mesos_proto::json::encode(event).into_bytes(),
        ContentType::Protobuf => event.encode_to_vec(),
    };
    mesos_proto::recordio::encode(&record)
}

/// Encodes an executor's event stream as the HTTP body: RecordIO records,
/// with a HEARTBEAT every 30 minutes. The body ends after the queued events
/// once the actor drops the connection; when the client goes away first,
/// dropping the stream's [`crate::agent::StreamClosed`] tells the actor.
pub fn event_stream(content: ContentType, stream: ExecutorStream) -> mpsc::Receiver<Bytes> {
    let (body_tx, body_rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let ExecutorStream { mut events, closed } = stream;
        let mut heartbeat = tokio::time::interval_at(
            tokio::time::Instant::now() + HEARTBEAT_INTERVAL,
            HEARTBEAT_INTERVAL,
        );
        loop {
            let next = tokio::select! {
                e = events.recv() => match e {
                    Some(e) => e,
                    None => break,
                },
                _ = heartbeat.tick() => Event {
                    r#type: Some(event::Type::Heartbeat as i32),
                    ..Default::default()
                },
                _ = body_tx.closed() => break,
            };
            if body_tx.send(encode_event(&next, content)).await.is_err() {
                break;
            }
        }
        drop(closed);
    });
    body_rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::StreamClosed;
    use mesos_proto::mesos::v1::{ExecutorId, FrameworkId, TaskId, TaskStatus};

    fn call(kind: call::Type) -> Call {
        Call {
            executor_id: ExecutorId { value: "E".into() },
            framework_id: FrameworkId { value: "F".into() },
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    fn update(status: TaskStatus) -> Call {
        Call {
            update: Some(call::Update { status }),
            ..call(call::Type::Update)
        }
    }

    fn good_status() -> TaskStatus {
        TaskStatus {
            task_id: TaskId { value: "t".into() },
            state: TaskState::TaskRunning as i32,
            source: Some(Source::Executor as i32),
            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
            ..Default::default()
        }
    }

    #[test]
    fn validation_matches_upstream() {
        assert!(validate(&update(good_status())).is_ok());
        let mut no_type = call(call::Type::Heartbeat);
        no_type.r#type = None;
        assert!(validate(&no_type).unwrap_err().contains("'type'"));
        let mut no_executor = call(call::Type::Heartbeat);
        no_executor.executor_id.value.clear();
        assert!(validate(&no_executor).unwrap_err().contains("executor_id"));
        assert!(validate(&call(call::Type::Subscribe))
            .unwrap_err()
            .contains("subscribe"));
        assert!(validate(&call(call::Type::Message))
            .unwrap_err()
            .contains("message"));

        let mut s = good_status();
        s.uuid = None;
        assert!(validate(&update(s)).unwrap_err().contains("uuid"));
        let mut s = good_status();
        s.uuid = Some(vec![1, 2, 3]);
        assert!(validate(&update(s)).is_err());
        let mut s = good_status();
        s.source = None;
        assert!(validate(&update(s))
            .unwrap_err()
            .contains("SOURCE_EXECUTOR"));
        let mut s = good_status();
        s.state = TaskState::TaskStaging as i32;
        assert!(validate(&update(s)).unwrap_err().contains("TASK_STAGING"));
        let mut s = good_status();
        s.executor_id = Some(ExecutorId {
            value: "other".into(),
        });
        assert!(validate(&update(s)).unwrap_err().contains("does not match"));
    }

    fn request(method: &str, content_type: Option<&str>, body: &str) -> Request {
        let mut b = http::Request::builder()
            .method(method)
            .uri("/api/v1/executor");
        if let Some(ct) = content_type {
            b = b.header("Content-Type", ct);
        }
        b.body(Bytes::from(body.to_string())).unwrap()
    }

    fn ctx() -> (Arc<HttpContext>, mpsc::UnboundedReceiver<Input>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let ctx = HttpContext {
            agent: super::super::AgentHandle { inbox: tx },
            files: super::super::files::Files::default(),
            flags: Default::default(),
            logging: Default::default(),
            authorizer: Default::default(),
        };
        (Arc::new(ctx), rx)
    }

    #[tokio::test]
    async fn handler_rejects_bad_requests_with_upstream_codes() {
        let (ctx, _rx) = ctx();
        let r = handle(ctx.clone(), request("GET", None, "")).await;
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()[http::header::ALLOW], "POST");
        assert_eq!(
            handle(ctx.clone(), request("POST", None, "{}"))
                .await
                .status(),
            400
        );
        let r = handle(
            ctx.clone(),
            request("POST", Some("application/json; charset=utf-8"), "{}"),
        )
        .await;
        assert_eq!(r.status(), 415);
        assert_eq!(
            handle(
                ctx.clone(),
                request("POST", Some("application/json"), "{not json")
            )
            .await
            .status(),
            400
        );
        assert_eq!(
            handle(
                ctx.clone(),
                request("POST", Some("application/x-protobuf"), "\u{ff}garbage")
            )
            .await
            .status(),
            400
        );
        // Missing required executor_id.
        let r = handle(
            ctx.clone(),
            request(
                "POST",
                Some("application/json"),
                r#"{"type":"HEARTBEAT","framework_id":{"value":"F"}}"#,
            ),
        )
        .await;
        assert_eq!(r.status(), 400);
        let body = r#"{"type":"SUBSCRIBE","executor_id":{"value":"E"},"framework_id":{"value":"F"},"subscribe":{}}"#;
        let mut req = request("POST", Some("application/json"), body);
        req.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("text/html"),
        );
        assert_eq!(handle(ctx.clone(), req).await.status(), 406);
        let heartbeat =
            r#"{"type":"HEARTBEAT","executor_id":{"value":"E"},"framework_id":{"value":"F"}}"#;
        assert_eq!(
            handle(ctx, request("POST", Some("application/json"), heartbeat))
                .await
                .status(),
            202
        );
    }

    #[tokio::test]
    async fn protobuf_calls_missing_required_fields_are_refused() {
        let (ctx, mut rx) = ctx();
        let protobuf = |bytes: Vec<u8>| {
            http::Request::builder()
                .method("POST")
                .uri("/api/v1/executor")
                .header("Content-Type", APPLICATION_PROTOBUF)
                .body(Bytes::from(bytes))
                .unwrap()
        };
        // MESSAGE with `message: {}`: `data` (required) is absent. prost
        // alone would decode it as empty data and relay the call.
        let mut message = call(call::Type::Message).encode_to_vec();
        message.extend_from_slice(&[6 << 3 | 2, 0x00]);
        // UPDATE whose status has no `state` (required): prost would read
        // TASK_STARTING.
        let status = good_status();
        let mut status_bytes = Vec::new();
        prost::encoding::message::encode(1, &status.task_id, &mut status_bytes);
        prost::encoding::bytes::encode(11, status.uuid.as_ref().unwrap(), &mut status_bytes);
        prost::encoding::int32::encode(9, &(Source::Executor as i32), &mut status_bytes);
        let mut update_bytes = Vec::new();
        prost::encoding::bytes::encode(1, &status_bytes, &mut update_bytes);
        let mut update = call(call::Type::Update).encode_to_vec();
        prost::encoding::bytes::encode(5, &update_bytes, &mut update);

        for bytes in [message, update] {
            let r =
                tokio::time::timeout(Duration::from_secs(5), handle(ctx.clone(), protobuf(bytes)))
                    .await
                    .expect("refused before reaching the actor");
            assert_eq!(r.status(), 400);
            let body = r.into_body().collect_bytes().await;
            assert_eq!(&body[..], b"Failed to parse body into Call protobuf");
        }
        assert!(rx.try_recv().is_err());

        // The same calls with every required field reach the actor.
        let mut message = call(call::Type::Message);
        message.message = Some(call::Message {
            data: b"hi".to_vec(),
        });
        let relayed = tokio::spawn(handle(ctx, protobuf(message.encode_to_vec())));
        match rx.recv().await {
            Some(Input::ExecutorCall { call, reply, .. }) => {
                assert_eq!(call.message.unwrap().data, b"hi");
                reply.send(CallReply::Accepted).unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(relayed.await.unwrap().status(), 202);
    }

    #[tokio::test]
    async fn handler_relays_calls_to_the_actor() {
        let (ctx, mut rx) = ctx();
        let actor = tokio::spawn(async move {
            match rx.recv().await {
                Some(Input::ExecutorCall { reply, .. }) => {
                    let (events, rx) = mpsc::unbounded_channel();
                    let (inbox, _closed) = mpsc::unbounded_channel();
                    events
                        .send(Event {
                            r#type: Some(event::Type::Heartbeat as i32),
                            ..Default::default()
                        })
                        .unwrap();
                    let stream = ExecutorStream {
                        events: rx,
                        closed: StreamClosed::new(inbox, &"F".into(), &"E".into(), 1),
                    };
                    reply.send(CallReply::Stream(stream)).unwrap();
                }
                other => panic!("unexpected {other:?}"),
            }
        });
        let body = r#"{"type":"SUBSCRIBE","executor_id":{"value":"E"},"framework_id":{"value":"F"},"subscribe":{}}"#;
        let mut req = request("POST", Some("application/json"), body);
        req.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/x-protobuf"),
        );
        let r = handle(ctx, req).await;
        actor.await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()[http::header::CONTENT_TYPE],
            "application/x-protobuf"
        );
        let bytes = r.into_body().collect_bytes().await;
        let mut decoder = mesos_proto::recordio::Decoder::new(1 << 20);
        decoder.feed(&bytes);
        let record = decoder.next_record().unwrap().unwrap();
        let event = Event::decode(&record[..]).unwrap();
        assert_eq!(event.r#type, Some(event::Type::Heartbeat as i32));
    }

    #[tokio::test(start_paused = true)]
    async fn streams_heartbeat_and_report_closing() {
        let (events, rx) = mpsc::unbounded_channel();
        let (inbox, mut closed_rx) = mpsc::unbounded_channel();
        let stream = ExecutorStream {
            events: rx,
            closed: StreamClosed::new(inbox, &"F".into(), &"E".into(), 7),
        };
        let mut body = event_stream(ContentType::Json, stream);
        tokio::time::sleep(HEARTBEAT_INTERVAL + Duration::from_secs(1)).await;
        let record = body.recv().await.unwrap();
        let text = String::from_utf8(record.to_vec()).unwrap();
        assert!(text.ends_with(r#"{"type":"HEARTBEAT"}"#), "{text}");
        drop(events);
        assert!(body.recv().await.is_none());
        assert!(matches!(
            closed_rx.recv().await,
            Some(Input::ExecutorStreamClosed {
                connection_id: 7,
                ..
            })
        ));
    }
}
