//! The v1 Scheduler API as a raw HTTP client sees it: status codes, headers
//! and the SUBSCRIBE stream's framing, including bad input. Runs against our
//! master, or any master given by `MESOS_COMPAT_MASTER`/`_AGENT`.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use compat_tests::*;
use serde_json::{json, Value};

const JSON: &str = "application/json";

fn post(cluster: &Cluster, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    http_request(&cluster.master, "POST", "/api/v1/scheduler", headers, body)
        .expect("POST /api/v1/scheduler")
}

fn subscribe_body() -> Vec<u8> {
    json!({
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": {"user": "root", "name": "raw http", "failover_timeout": 60.0}}
    })
    .to_string()
    .into_bytes()
}

/// An open SUBSCRIBE stream, read record by record.
struct Stream {
    reader: BufReader<TcpStream>,
    pending: Vec<u8>,
    stream_id: String,
    content_type: String,
}

impl Stream {
    fn open(addr: &str, body: &[u8], accept: &str) -> (u16, Option<Stream>) {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let head = format!(
            "POST /api/v1/scheduler HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: {accept}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(body).expect("write");
        let mut reader = BufReader::new(s);
        let (status, headers) = read_response_head(&mut reader).expect("response head");
        if status != 200 {
            return (status, None);
        }
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert!(
            get("transfer-encoding").contains("chunked"),
            "stream is not chunked: {headers:?}"
        );
        let stream = Stream {
            reader,
            pending: Vec::new(),
            stream_id: get("mesos-stream-id"),
            content_type: get("content-type"),
        };
        (status, Some(stream))
    }

    /// The next RecordIO record, parsed as JSON.
    fn next_event(&mut self) -> Value {
        loop {
            if let Some(nl) = self.pending.iter().position(|b| *b == b'\n') {
                let len: usize = std::str::from_utf8(&self.pending[..nl])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("bad RecordIO header {:?}", &self.pending[..nl]));
                assert!(len > 0, "RecordIO length is never 0");
                if self.pending.len() >= nl + 1 + len {
                    let record: Vec<u8> = self.pending.drain(..nl + 1 + len).skip(nl + 1).collect();
                    return serde_json::from_slice(&record).expect("event is JSON");
                }
            }
            let size = read_chunk_size(&mut self.reader).expect("chunk size");
            assert!(size > 0, "stream ended");
            let mut chunk = vec![0; size + 2];
            self.reader.read_exact(&mut chunk).expect("chunk");
            chunk.truncate(size);
            self.pending.extend_from_slice(&chunk);
        }
    }
}

/// Marathon refuses masters older than 1.5.0; versions compare numerically.
fn at_least_1_5(v: &str) -> bool {
    let parts: Vec<u64> = v.split('.').filter_map(|p| p.parse().ok()).collect();
    parts.len() == 3 && (parts[0], parts[1]) >= (1, 5)
}

fn decline(fw: &str) -> Vec<u8> {
    json!({"framework_id": {"value": fw}, "type": "DECLINE", "decline": {"offer_ids": []}})
        .to_string()
        .into_bytes()
}

#[test]
fn subscribe_streams_subscribed_then_an_immediate_heartbeat() {
    let cluster = Cluster::for_clients();
    let (status, stream) = Stream::open(&cluster.master, &subscribe_body(), JSON);
    assert_eq!(status, 200);
    let mut stream = stream.expect("stream");
    assert_eq!(stream.content_type, JSON);
    assert!(!stream.stream_id.is_empty() && stream.stream_id.len() <= 128);
    let subscribed = stream.next_event();
    assert_eq!(subscribed["type"], "SUBSCRIBED", "{subscribed}");
    assert_eq!(subscribed["subscribed"]["heartbeat_interval_seconds"], 15.0);
    let fw = subscribed["subscribed"]["framework_id"]["value"]
        .as_str()
        .expect("framework id");
    assert!(
        fw.ends_with("-0000") || cluster.external,
        "first framework id: {fw}"
    );
    let master_info = &subscribed["subscribed"]["master_info"];
    assert!(
        master_info["version"].as_str().is_some_and(at_least_1_5),
        "{master_info}"
    );
    assert_eq!(stream.next_event()["type"], "HEARTBEAT");
}

#[test]
fn non_subscribe_calls_check_framework_and_stream_id() {
    let mut cluster = Cluster::for_clients();
    let ct = [("Content-Type", JSON)];

    // Unknown framework: 400.
    let r = post(
        &cluster,
        &[("Content-Type", JSON), ("Mesos-Stream-Id", "x")],
        &decline("no-such-framework"),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("Framework cannot be found"),
        "{}",
        r.text()
    );

    let (_, stream) = Stream::open(&cluster.master, &subscribe_body(), JSON);
    let mut stream = stream.expect("stream");
    let subscribed = stream.next_event();
    let fw = subscribed["subscribed"]["framework_id"]["value"]
        .as_str()
        .expect("id")
        .to_string();

    // Missing stream id: 400.
    let r = post(&cluster, &ct, &decline(&fw));
    assert_eq!(r.status, 400, "{}", r.text());
    // A stream id that is not this framework's stream: 400.
    let r = post(
        &cluster,
        &[
            ("Content-Type", JSON),
            ("Mesos-Stream-Id", "not-the-stream"),
        ],
        &decline(&fw),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    // The right one: 202.
    let sid = stream.stream_id.clone();
    let r = post(
        &cluster,
        &[("Content-Type", JSON), ("Mesos-Stream-Id", &sid)],
        &decline(&fw),
    );
    assert_eq!(r.status, 202, "{}", r.text());

    // A SUBSCRIBE that carries a stream id: 400.
    let r = post(
        &cluster,
        &[("Content-Type", JSON), ("Mesos-Stream-Id", &sid)],
        &subscribe_body(),
    );
    assert_eq!(r.status, 400, "{}", r.text());

    // Protobuf works on the same endpoint: a DECLINE in binary.
    use mesos_proto::mesos::v1::scheduler::{call, Call};
    use mesos_proto::mesos::v1::FrameworkId;
    use prost::Message;
    let call = Call {
        framework_id: Some(FrameworkId { value: fw.clone() }),
        r#type: Some(call::Type::Decline as i32),
        decline: Some(call::Decline {
            offer_ids: vec![],
            filters: None,
        }),
        ..Default::default()
    };
    let r = post(
        &cluster,
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Mesos-Stream-Id", &sid),
        ],
        &call.encode_to_vec(),
    );
    assert_eq!(r.status, 202, "{}", r.text());

    // Once the stream is gone the framework is known but not subscribed: 403.
    drop(stream);
    wait_for(
        Duration::from_secs(10),
        "403 for a disconnected framework",
        || {
            post(
                &cluster,
                &[("Content-Type", JSON), ("Mesos-Stream-Id", &sid)],
                &decline(&fw),
            )
            .status
                == 403
        },
    );
    cluster.assert_alive();
}

#[test]
fn bad_requests_get_upstream_status_codes_and_the_master_keeps_running() {
    let mut cluster = Cluster::for_clients();
    let body = subscribe_body();

    let r = http_request(&cluster.master, "GET", "/api/v1/scheduler", &[], &[]).expect("GET");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST"));

    let r = post(&cluster, &[], &body);
    assert_eq!(r.status, 400, "missing Content-Type: {}", r.text());

    let r = post(&cluster, &[("Content-Type", "text/plain")], &body);
    assert_eq!(r.status, 415, "{}", r.text());

    let r = post(
        &cluster,
        &[("Content-Type", JSON)],
        b"{\"type\": \"SUBSCRIBE\", \"subscribe\": ",
    );
    assert_eq!(r.status, 400, "truncated JSON: {}", r.text());
    assert!(!r.body.is_empty(), "a 400 says what is wrong");

    let r = post(&cluster, &[("Content-Type", JSON)], br#"{"type": 1}"#);
    assert_eq!(r.status, 400, "number for an enum: {}", r.text());

    let r = post(
        &cluster,
        &[("Content-Type", JSON)],
        br#"{"type": "SUBSCRIBE"}"#,
    );
    assert_eq!(r.status, 400, "SUBSCRIBE without subscribe: {}", r.text());

    let r = post(
        &cluster,
        &[("Content-Type", "application/x-protobuf")],
        &[0xff, 0xff, 0xff, 0x0f, 0x01],
    );
    assert_eq!(r.status, 400, "malformed protobuf: {}", r.text());

    let (status, _) = Stream::open(&cluster.master, &body, "text/html");
    assert_eq!(status, 406, "SUBSCRIBE with an Accept we cannot serve");

    // A libprocess message with a garbage body is answered and dropped.
    if !cluster.external {
        let r = http_request(
            &cluster.master,
            "POST",
            "/master/mesos.internal.RegisterSlaveMessage",
            &[("Libprocess-From", "slave(1)@127.0.0.1:1")],
            &[0xde, 0xad, 0xbe, 0xef],
        )
        .expect("message");
        assert_eq!(r.status, 202);
    }

    let r = http_get(&cluster.master, "/health").expect("health");
    assert_eq!(r.status, 200);
    cluster.assert_alive();
}

#[test]
fn state_and_version_endpoints_answer_on_both_path_forms() {
    let cluster = Cluster::for_clients();
    let v = http_get(&cluster.master, "/version")
        .expect("version")
        .json();
    assert!(v["version"].as_str().is_some_and(at_least_1_5), "{v}");
    let a = http_get(&cluster.master, "/state").expect("state");
    let b = http_get(&cluster.master, "/master/state").expect("master/state");
    assert_eq!(a.status, 200);
    assert_eq!(b.status, 200);
    let state = b.json();
    assert!(
        state["leader"]
            .as_str()
            .is_some_and(|l| l.starts_with("master@")),
        "{state}"
    );
    assert_eq!(state["slaves"].as_array().map(|s| s.len()), Some(1));
    let slave = &state["slaves"][0];
    assert!(slave["resources"]["cpus"].is_number(), "{slave}");
    let jsonp = http_get(&cluster.master, "/master/state?jsonp=cb").expect("jsonp");
    assert!(jsonp.text().starts_with("cb(") && jsonp.text().ends_with(')'));
    let metrics = http_get(&cluster.master, "/metrics/snapshot")
        .expect("metrics")
        .json();
    assert_eq!(metrics["master/elected"], 1.0);
    assert_eq!(metrics["master/slaves_active"], 1.0);
    let agent = http_get(&cluster.agent, "/state")
        .expect("agent state")
        .json();
    assert!(
        agent["pid"]
            .as_str()
            .is_some_and(|p| p.starts_with("slave(1)@")),
        "{agent}"
    );
}
