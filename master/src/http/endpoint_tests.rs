//! The scheduler handler's status-code table and the process/state
//! endpoints, against an in-process master on 127.0.0.1 over raw HTTP.

use std::time::Duration;

use mesos_proto::mesos::v1::scheduler::event::Type as EventType;
use prost::Message as _;
use serde_json::json;

use crate::testing::{call, http, start_master, subscribe, subscribe_raw};

fn subscribe_body() -> serde_json::Value {
    json!({
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": {"user": "root", "name": "t", "failover_timeout": 60.0}}
    })
}

#[tokio::test]
async fn scheduler_status_code_table() {
    let master = start_master(&[]).await;
    let addr = master.local_addr;
    let path = "/api/v1/scheduler";

    // 405 with Allow: POST.
    let answer = http(addr, "GET", path, &[], b"").await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("Allow"), Some("POST"));

    // 400 without Content-Type.
    let answer = http(addr, "POST", path, &[], b"{}").await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.text(), "Expecting 'Content-Type' to be present");

    // 415 for anything but the two exact media types.
    let answer = http(addr, "POST", path, &[("Content-Type", "text/plain")], b"{}").await;
    assert_eq!(answer.status, 415);
    let answer = http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json; charset=utf-8")],
        b"{}",
    )
    .await;
    assert_eq!(answer.status, 415);

    // 400 for bodies that do not parse.
    let answer = http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        b"{nope",
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.text().starts_with("Failed to parse body into JSON"),
        "{}",
        answer.text()
    );
    let answer = http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/x-protobuf")],
        &[0xff, 0xff, 0xff],
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.text(), "Failed to parse body into Call protobuf");
    let answer = http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}}"#,
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.text().contains("framework_info.user"),
        "{}",
        answer.text()
    );

    // 400 from call validation.
    let answer = call(
        addr,
        None,
        &json!({"type": "ACCEPT", "framework_id": {"value": "x"}}),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.text(),
        "Failed to validate scheduler::Call: Expecting 'accept' to be present"
    );
    let answer = call(addr, None, &json!({})).await;
    assert_eq!(answer.status, 400);

    // 406 when SUBSCRIBE's Accept allows neither type.
    let answer = http(
        addr,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Accept", "text/html"),
        ],
        subscribe_body().to_string().as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 406);

    // 400 for SUBSCRIBE with a stream id.
    let answer = http(
        addr,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Mesos-Stream-Id", "x"),
        ],
        subscribe_body().to_string().as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.text(),
        "Subscribe calls should not include the 'Mesos-Stream-Id' header"
    );

    // 400 for an unknown framework.
    let answer = call(
        addr,
        Some("s"),
        &json!({"type": "REVIVE", "framework_id": {"value": "nope"}}),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.text(), "Framework cannot be found");

    // A subscription: 200, message content type, stream id, SUBSCRIBED then
    // HEARTBEAT at once.
    let mut stream = subscribe(addr, &subscribe_body()).await;
    assert_eq!(stream.status, 200);
    assert_eq!(stream.header("Content-Type"), Some("application/json"));
    assert_eq!(stream.header("Transfer-Encoding"), Some("chunked"));
    assert!(stream.header("Content-Length").is_none());
    let stream_id = stream.stream_id();
    let subscribed = stream.next().await.unwrap();
    assert_eq!(subscribed.r#type, Some(EventType::Subscribed as i32));
    let details = subscribed.subscribed.unwrap();
    assert_eq!(details.heartbeat_interval_seconds, Some(15.0));
    let master_info = details.master_info.unwrap();
    assert_eq!(master_info.version.as_deref(), Some("1.11.0"));
    assert_eq!(
        master_info.pid.as_deref(),
        Some(master.pid.to_string().as_str())
    );
    let framework_id = details.framework_id.value;
    assert!(framework_id.starts_with(&format!("{}-", master_info.id)));
    assert!(framework_id.ends_with("-0000"), "{framework_id}");
    let heartbeat = stream.next().await.unwrap();
    assert_eq!(heartbeat.r#type, Some(EventType::Heartbeat as i32));
    let fid = json!({"value": framework_id});

    // 400 without / with a wrong stream id; 202 with the right one.
    let answer = call(addr, None, &json!({"type": "REVIVE", "framework_id": fid})).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.text(),
        "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
    );
    let answer = call(
        addr,
        Some("other"),
        &json!({"type": "REVIVE", "framework_id": fid}),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(answer.text().contains("didn't match the stream ID"));
    let answer = call(
        addr,
        Some(&stream_id),
        &json!({"type": "REVIVE", "framework_id": fid}),
    )
    .await;
    assert_eq!(answer.status, 202);
    let answer = call(
        addr,
        Some(&stream_id),
        &json!({"type": "RECONCILE_OPERATIONS", "framework_id": fid, "reconcile_operations": {}}),
    )
    .await;
    assert_eq!(answer.status, 202);

    // UPDATE_FRAMEWORK is synchronous: 200, or 400 for an invalid update.
    let update = |info: serde_json::Value| {
        json!({"type": "UPDATE_FRAMEWORK", "framework_id": fid,
               "update_framework": {"framework_info": info}})
    };
    let mut info = json!({"user": "root", "name": "renamed", "id": fid, "failover_timeout": 60.0});
    let answer = call(addr, Some(&stream_id), &update(info.clone())).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    info["user"] = json!("someone-else");
    let answer = call(addr, Some(&stream_id), &update(info)).await;
    assert_eq!(answer.status, 400);
    assert!(answer
        .text()
        .starts_with("FrameworkInfo update is not valid"));

    // An UNKNOWN call passes validation and gets 501.
    let answer = call(
        addr,
        Some(&stream_id),
        &json!({"type": "UNKNOWN", "framework_id": fid}),
    )
    .await;
    assert_eq!(answer.status, 501);

    // Closing the stream disconnects the framework: 403 afterwards (it has
    // a failover timeout, so it is kept).
    drop(stream);
    let mut status = 0;
    for _ in 0..100 {
        let answer = call(
            addr,
            Some(&stream_id),
            &json!({"type": "REVIVE", "framework_id": fid}),
        )
        .await;
        status = answer.status;
        if status == 403 {
            assert_eq!(answer.text(), "Framework is not subscribed");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 403);
}

#[tokio::test]
async fn protobuf_subscription_and_master_prefix() {
    let master = start_master(&[]).await;
    let call = mesos_proto::mesos::v1::scheduler::Call {
        r#type: Some(mesos_proto::mesos::v1::scheduler::call::Type::Subscribe as i32),
        subscribe: Some(mesos_proto::mesos::v1::scheduler::call::Subscribe {
            framework_info: mesos_proto::mesos::v1::FrameworkInfo {
                user: "u".into(),
                name: "pb".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut stream = subscribe_raw(
        master.local_addr,
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Accept", "application/x-protobuf"),
        ],
        &call.encode_to_vec(),
        false,
    )
    .await;
    assert_eq!(stream.status, 200);
    assert_eq!(
        stream.header("Content-Type"),
        Some("application/x-protobuf")
    );
    let event = stream.next().await.unwrap();
    assert_eq!(event.r#type, Some(EventType::Subscribed as i32));
}

#[tokio::test]
async fn invalid_framework_info_is_an_in_band_error() {
    let master = start_master(&[]).await;
    // MULTI_ROLE framework that also sets the single `role`.
    let mut stream = subscribe(
        master.local_addr,
        &json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "u", "name": "bad", "role": "a",
            "capabilities": [{"type": "MULTI_ROLE"}]}}}),
    )
    .await;
    assert_eq!(stream.status, 200);
    let event = stream.next().await.unwrap();
    assert_eq!(event.r#type, Some(EventType::Error as i32));
    assert!(event
        .error
        .unwrap()
        .message
        .contains("'FrameworkInfo.role' must not be set"));
    // Then the stream ends, without a heartbeat.
    assert!(stream.next_within(Duration::from_secs(2)).await.is_none());
}

#[tokio::test]
async fn failover_sends_error_to_the_old_stream() {
    let master = start_master(&[]).await;
    let mut first = subscribe(master.local_addr, &subscribe_body()).await;
    let framework_id = first
        .next()
        .await
        .unwrap()
        .subscribed
        .unwrap()
        .framework_id
        .value;
    let mut again = subscribe_body();
    again["framework_id"] = json!({"value": framework_id});
    again["subscribe"]["framework_info"]["id"] = json!({"value": framework_id});
    let mut second = subscribe(master.local_addr, &again).await;
    assert_eq!(second.status, 200);
    let subscribed = second.next().await.unwrap();
    assert_eq!(
        subscribed.subscribed.unwrap().framework_id.value,
        framework_id
    );
    assert_ne!(first.stream_id(), second.stream_id());
    let error = first.next_non_heartbeat().await.unwrap();
    assert_eq!(error.r#type, Some(EventType::Error as i32));
    assert_eq!(error.error.unwrap().message, "Framework failed over");
    assert!(first.next_within(Duration::from_secs(2)).await.is_none());
}

#[tokio::test]
async fn process_endpoints() {
    let master = start_master(&["--cluster=c1"]).await;
    let addr = master.local_addr;
    let answer = http(addr, "GET", "/version", &[], b"").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["version"], "1.11.0");

    let answer = http(addr, "GET", "/health", &[], b"").await;
    assert_eq!(answer.status, 200);
    assert!(answer.body.is_empty());
    let answer = http(addr, "GET", "/master/health", &[], b"").await;
    assert_eq!(answer.status, 200);

    for path in ["/redirect", "/master/redirect"] {
        let answer = http(addr, "GET", path, &[], b"").await;
        assert_eq!(answer.status, 307);
        let port = addr.port();
        assert_eq!(
            answer.header("Location"),
            Some(format!("//localhost:{port}").as_str())
        );
    }
    let answer = http(addr, "GET", "/master/redirect/x", &[], b"").await;
    assert_eq!(answer.status, 404);

    let answer = http(addr, "GET", "/flags", &[], b"").await;
    assert_eq!(answer.json()["flags"]["cluster"], "c1");
    assert_eq!(answer.json()["flags"]["allocation_interval"], "50ms");

    let answer = http(addr, "GET", "/metrics/snapshot", &[], b"").await;
    let metrics = answer.json();
    assert_eq!(metrics["master/elected"], 1.0);
    assert_eq!(metrics["master/slaves_active"], 0.0);
    assert!(metrics["master/uptime_secs"].as_f64().unwrap() >= 0.0);

    for path in [
        "/state",
        "/master/state",
        "/master/state.json",
        "/state.json",
    ] {
        let answer = http(addr, "GET", path, &[], b"").await;
        assert_eq!(answer.status, 200, "{path}");
        let state = answer.json();
        assert_eq!(state["version"], "1.11.0");
        assert_eq!(state["cluster"], "c1");
        assert_eq!(state["pid"], master.pid.to_string());
        assert_eq!(state["leader"], master.pid.to_string());
        assert_eq!(
            state["capabilities"],
            json!(["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"])
        );
        assert_eq!(state["orphan_tasks"], json!([]));
        assert!(state["slaves"].as_array().unwrap().is_empty());
    }
    let answer = http(addr, "GET", "/master/state?jsonp=JSON_CALLBACK", &[], b"").await;
    assert_eq!(answer.header("Content-Type"), Some("text/javascript"));
    let text = answer.text();
    assert!(
        text.starts_with("JSON_CALLBACK({") && text.ends_with("})"),
        "{text}"
    );

    let answer = http(addr, "GET", "/master/state-summary", &[], b"").await;
    assert_eq!(answer.json()["hostname"], "localhost");
    let answer = http(addr, "GET", "/master/frameworks", &[], b"").await;
    assert_eq!(answer.json()["unregistered_frameworks"], json!([]));
    let answer = http(addr, "GET", "/master/slaves", &[], b"").await;
    assert_eq!(answer.json()["recovered_slaves"], json!([]));
    let answer = http(addr, "GET", "/master/tasks", &[], b"").await;
    assert_eq!(answer.json()["tasks"], json!([]));
    let answer = http(addr, "GET", "/master/roles", &[], b"").await;
    assert_eq!(answer.json()["roles"], json!([]));
}

#[tokio::test]
async fn allocator_explain_lists_subscribed_framework() {
    let master = start_master(&[]).await;
    let addr = master.local_addr;
    let mut stream = subscribe(addr, &subscribe_body()).await;
    let framework_id = stream
        .next()
        .await
        .unwrap()
        .subscribed
        .unwrap()
        .framework_id
        .value;
    let answer = http(addr, "GET", "/master/allocator/explain", &[], b"").await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    let frameworks = body["frameworks"].as_array().unwrap();
    assert_eq!(frameworks.len(), 1);
    assert_eq!(frameworks[0]["framework_id"], framework_id.as_str());
    assert_eq!(frameworks[0]["active"], true);
    assert_eq!(frameworks[0]["roles"][0]["role"], "*");
    assert_eq!(frameworks[0]["roles"][0]["suppressed"], false);
    let answer = http(addr, "POST", "/master/allocator/explain", &[], b"").await;
    assert_eq!(answer.status, 405);
}
