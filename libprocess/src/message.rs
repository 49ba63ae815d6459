//! libprocess messages: the value type, the exact outbound request framing,
//! and recognition of inbound requests as messages (checklist §6).
//!
//! Owns the bytes of `POST /<to.id>/<name>` requests and the rule "a POST
//! with `Libprocess-From`, or a `User-Agent` starting with `libprocess/`, is
//! a message". Never touches sockets (see `transport` and `server`).

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Method};

use crate::Upid;

/// One libprocess message as delivered to a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The sender, from `Libprocess-From` (or the `User-Agent`). The empty
    /// UPID ([`Upid::is_empty`]) when the sender could not be parsed, as
    /// upstream does; never reply to it.
    pub from: Upid,
    /// The receiving process id (percent-decoded first path segment).
    pub to: String,
    /// The full protobuf type name, e.g. `mesos.internal.RegisterSlaveMessage`.
    pub name: String,
    /// The serialized protobuf (possibly empty, e.g. `PongSlaveMessage`).
    pub body: Bytes,
}

const USER_AGENT_PREFIX: &str = "libprocess/";

/// Whether a request is a libprocess message rather than an HTTP call:
/// a POST carrying `Libprocess-From`, or a POST whose `User-Agent` starts
/// with `libprocess/` (upstream's `libprocess(request)`).
pub fn is_message(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::POST {
        return false;
    }
    if headers.contains_key("libprocess-from") {
        return true;
    }
    headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with(USER_AGENT_PREFIX))
}

/// The sender of a message request: `Libprocess-From` trimmed, else whatever
/// follows `libprocess/` in the `User-Agent`. Anything unparsable (including
/// the bare `User-Agent: libprocess/` upstream's own tests send) yields the
/// empty UPID, which is what upstream's `UPID(string)` constructor gives.
pub fn sender(headers: &HeaderMap) -> Upid {
    let raw = match headers.get("libprocess-from") {
        Some(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
        None => {
            let ua = headers
                .get(http::header::USER_AGENT)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            match ua.find(USER_AGENT_PREFIX) {
                Some(i) => ua[i + USER_AGENT_PREFIX.len()..].to_string(),
                None => String::new(),
            }
        }
    };
    raw.trim().parse().unwrap_or_default()
}

/// Encodes a message as the HTTP/1.1 request upstream's `MessageEncoder`
/// writes: no `Content-Length`; a non-empty body is sent as exactly one chunk
/// followed by the last-chunk; an empty body has no `Transfer-Encoding`.
///
/// Deviation: upstream sends an empty `Host:`; we send the receiver's
/// `ip:port`, which every HTTP/1.1 server (libprocess included) accepts.
pub fn encode(from: &Upid, to: &Upid, name: &str, body: &[u8]) -> Bytes {
    let mut head = String::with_capacity(160 + name.len());
    head.push_str("POST ");
    // An empty id would make a `//` path; upstream skips it the same way.
    if !to.id.is_empty() {
        head.push('/');
        head.push_str(&to.id);
    }
    head.push('/');
    head.push_str(name);
    head.push_str(" HTTP/1.1\r\n");
    head.push_str(&format!(
        "User-Agent: libprocess/{from}\r\nLibprocess-From: {from}\r\nConnection: Keep-Alive\r\nHost: {}\r\n",
        to.address()
    ));
    let mut out = BytesMut::with_capacity(head.len() + body.len() + 32);
    if body.is_empty() {
        head.push_str("\r\n");
        out.put_slice(head.as_bytes());
    } else {
        head.push_str(&format!(
            "Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            body.len()
        ));
        out.put_slice(head.as_bytes());
        out.put_slice(body);
        out.put_slice(b"\r\n0\r\n\r\n");
    }
    out.freeze()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn upid(s: &str) -> Upid {
        s.parse().unwrap()
    }

    #[test]
    fn encodes_non_empty_body_as_one_chunk() {
        let bytes = encode(
            &upid("slave(1)@10.0.0.2:5051"),
            &upid("master@10.0.0.1:5050"),
            "mesos.internal.RegisterSlaveMessage",
            &[0xAB; 26],
        );
        let mut expected = b"POST /master/mesos.internal.RegisterSlaveMessage HTTP/1.1\r\n\
User-Agent: libprocess/slave(1)@10.0.0.2:5051\r\n\
Libprocess-From: slave(1)@10.0.0.2:5051\r\n\
Connection: Keep-Alive\r\n\
Host: 10.0.0.1:5050\r\n\
Transfer-Encoding: chunked\r\n\
\r\n\
1a\r\n"
            .to_vec();
        expected.extend_from_slice(&[0xAB; 26]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[test]
    fn encodes_empty_body_without_transfer_encoding() {
        let bytes = encode(
            &upid("slave(1)@10.0.0.2:5051"),
            &upid("slave-observer(3)@10.0.0.1:5050"),
            "mesos.internal.PongSlaveMessage",
            &[],
        );
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            "POST /slave-observer(3)/mesos.internal.PongSlaveMessage HTTP/1.1\r\n\
User-Agent: libprocess/slave(1)@10.0.0.2:5051\r\n\
Libprocess-From: slave(1)@10.0.0.2:5051\r\n\
Connection: Keep-Alive\r\n\
Host: 10.0.0.1:5050\r\n\
\r\n"
        );
    }

    #[test]
    fn empty_receiver_id_has_no_double_slash() {
        let bytes = encode(&upid("a@1.1.1.1:1"), &upid("@2.2.2.2:2"), "x", &[]);
        assert!(bytes.starts_with(b"POST /x HTTP/1.1\r\n"));
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn recognizes_messages() {
        let from = headers(&[("libprocess-from", "a@1.2.3.4:5")]);
        let ua = headers(&[("user-agent", "libprocess/a@1.2.3.4:5")]);
        let bare_ua = headers(&[("user-agent", "libprocess/")]);
        let curl = headers(&[("user-agent", "curl/8.0 libprocess/")]);
        assert!(is_message(&Method::POST, &from));
        assert!(is_message(&Method::POST, &ua));
        assert!(is_message(&Method::POST, &bare_ua));
        assert!(!is_message(&Method::POST, &curl));
        assert!(!is_message(&Method::GET, &from));
        assert!(!is_message(&Method::POST, &HeaderMap::new()));
    }

    #[test]
    fn sender_prefers_libprocess_from_and_trims() {
        let h = headers(&[
            ("libprocess-from", "  master@1.2.3.4:5050  "),
            ("user-agent", "libprocess/other@9.9.9.9:9"),
        ]);
        assert_eq!(sender(&h), upid("master@1.2.3.4:5050"));
        let h = headers(&[("user-agent", "libprocess/slave(1)@1.2.3.4:5051")]);
        assert_eq!(sender(&h), upid("slave(1)@1.2.3.4:5051"));
    }

    #[test]
    fn unparsable_sender_is_empty_upid() {
        assert!(sender(&headers(&[("user-agent", "libprocess/")])).is_empty());
        assert!(sender(&headers(&[("libprocess-from", "garbage")])).is_empty());
        assert!(sender(&HeaderMap::new()).is_empty());
    }
}
