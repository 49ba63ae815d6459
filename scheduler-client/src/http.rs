//! HTTP/1.1 plumbing shared by the v1 streaming APIs (scheduler and executor).
//!
//! Owns: parsing peer addresses ([`Endpoint`]), the two body encodings
//! ([`ContentType`]), opening one persistent HTTP/1.1 connection
//! ([`connect`]), building a v1 `POST` ([`post_request`]) and reading a
//! RecordIO stream of messages off a response body ([`RecordReader`]).
//!
//! It never decides protocol policy (which connection carries which call,
//! redirects, retries): the scheduler [`crate::Client`] and the executor do.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use prost::{Message, Name};

use crate::Error;

/// Largest event we accept on a stream. Offers for big clusters are large,
/// but a length beyond this is a broken stream, not an event.
pub const MAX_RECORD_SIZE: usize = 256 * 1024 * 1024;

/// The sender half of one HTTP/1.1 connection.
pub type Connection = SendRequest<Full<Bytes>>;

/// A peer: `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// Parses `host:port`, `http://host:port[/...]` or the protocol-relative
    /// `//host:port[/...]` that upstream masters put in a 307 `Location`.
    /// Any path is dropped: callers keep their own.
    ///
    /// `https://host:port` is accepted only when this process's
    /// `LIBPROCESS_SSL_*` environment turns TLS on: every connection then
    /// uses TLS (as upstream's libprocess does), and without it an `https`
    /// address must not silently become plaintext.
    pub fn parse(address: &str) -> Result<Endpoint, Error> {
        let tls = libprocess::ssl::process_tls().map(|tls| tls.is_some());
        Endpoint::parse_with(address, tls)
    }

    /// [`Endpoint::parse`] with TLS on (`Ok(true)`), off (`Ok(false)`) or
    /// misconfigured (`Err`, why) whatever the environment says.
    fn parse_with(address: &str, tls: Result<bool, String>) -> Result<Endpoint, Error> {
        let invalid = |reason: &str| Error::InvalidAddress {
            address: address.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = address.trim();
        let rest = if let Some(rest) = trimmed.strip_prefix("http://") {
            rest
        } else if let Some(rest) = trimmed.strip_prefix("https://") {
            match tls {
                Ok(true) => rest,
                Ok(false) => {
                    return Err(invalid(
                        "'https://' needs TLS, and LIBPROCESS_SSL_ENABLED is not true",
                    ))
                }
                Err(why) => return Err(invalid(&format!("'https://' needs TLS: {why}"))),
            }
        } else if let Some(rest) = trimmed.strip_prefix("//") {
            rest
        } else if trimmed.contains("://") {
            return Err(invalid(
                "only plain 'host:port', 'http://host:port' or (with \
                 LIBPROCESS_SSL_ENABLED=true) 'https://host:port' is supported \
                 (no 'zk://' detection here)",
            ));
        } else {
            trimmed
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| invalid("unterminated '[' in an IPv6 address"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| invalid("missing ':port'"))?;
            (host, port)
        } else {
            authority
                .rsplit_once(':')
                .ok_or_else(|| invalid("missing ':port'"))?
        };
        if host.is_empty() {
            return Err(invalid("empty host"));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| invalid("the port is not a number between 0 and 65535"))?;
        Ok(Endpoint {
            host: host.to_string(),
            port,
        })
    }

    /// `host:port`, with brackets around an IPv6 literal (for `Host:` and logs).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s)
    }
}

/// The body encoding of v1 calls and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ContentType {
    /// `application/x-protobuf` (what the upstream C++ libraries use).
    #[default]
    Protobuf,
    /// `application/json` (Mesos JSON, not proto3 JSON).
    Json,
}

impl ContentType {
    /// The media type for `Content-Type` / `Accept`.
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Protobuf => "application/x-protobuf",
            ContentType::Json => "application/json",
        }
    }

    /// Encodes one message.
    pub fn encode<M: Message + Name>(self, message: &M) -> Bytes {
        match self {
            ContentType::Protobuf => Bytes::from(message.encode_to_vec()),
            ContentType::Json => Bytes::from(mesos_proto::json::encode(message)),
        }
    }

    /// Decodes one message.
    pub fn decode<M: Message + Name + Default>(self, bytes: &[u8]) -> Result<M, Error> {
        match self {
            ContentType::Protobuf => M::decode(bytes).map_err(|e| Error::Decode {
                what: M::full_name(),
                reason: e.to_string(),
            }),
            ContentType::Json => mesos_proto::json::decode(bytes).map_err(|e| Error::Decode {
                what: M::full_name(),
                reason: e.to_string(),
            }),
        }
    }
}

impl FromStr for ContentType {
    type Err = Error;

    /// Accepts what upstream's `--content_type` accepts: `protobuf`, `json`
    /// or the full media types.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "protobuf" | "application/x-protobuf" => Ok(ContentType::Protobuf),
            "json" | "application/json" => Ok(ContentType::Json),
            other => Err(Error::Invalid(format!("Invalid content type '{other}'"))),
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mime())
    }
}

/// Opens one HTTP/1.1 connection (TCP_NODELAY: calls are small and latency
/// matters) and drives it on a background task.
///
/// The returned `JoinHandle` finishes when the connection closes, which is
/// how callers notice a peer going away.
pub async fn connect(
    endpoint: &Endpoint,
) -> Result<(Connection, tokio::task::JoinHandle<()>), Error> {
    let address = endpoint.authority();
    let stream = tokio::net::TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|source| Error::Connect {
            address: address.clone(),
            source,
        })?;
    // A failure here only costs latency.
    let _ = stream.set_nodelay(true);
    // TLS as this process's `LIBPROCESS_SSL_*` environment says, like every
    // libprocess peer (an executor inherits the agent's).
    let tls = libprocess::ssl::process_tls().map_err(|e| Error::Connect {
        address: address.clone(),
        source: std::io::Error::other(format!("TLS unavailable: {e}")),
    })?;
    match tls {
        None => drive(stream, address).await,
        Some(tls) => {
            let stream = tls
                .connect(&endpoint.host, stream)
                .await
                .map_err(|source| Error::Connect {
                    address: address.clone(),
                    source,
                })?;
            drive(stream, address).await
        }
    }
}

async fn drive<S>(
    stream: S,
    address: String,
) -> Result<(Connection, tokio::task::JoinHandle<()>), Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| Error::Http {
            address: address.clone(),
            source,
        })?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("connection to {address} ended: {e}");
        }
    });
    Ok((sender, driver))
}

/// Builds a v1 API `POST`: `Content-Type` and `Accept` set to `content_type`,
/// `Host` set (hyper's low-level client does not add it), plus `extra` headers.
pub fn post_request(
    endpoint: &Endpoint,
    path: &str,
    content_type: ContentType,
    body: Bytes,
    extra: &[(&str, &str)],
) -> Result<Request<Full<Bytes>>, Error> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(HOST, endpoint.authority())
        .header(CONTENT_TYPE, content_type.mime())
        .header(ACCEPT, content_type.mime());
    for (name, value) in extra {
        let value = HeaderValue::from_str(value)
            .map_err(|e| Error::Request(format!("bad value for header {name}: {e}")))?;
        builder = builder.header(*name, value);
    }
    builder
        .body(Full::new(body))
        .map_err(|e| Error::Request(e.to_string()))
}

/// Reads a whole (non-streaming) body as text, for error messages.
pub async fn body_text(body: Incoming) -> String {
    match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(e) => format!("(failed to read the body: {e})"),
    }
}

/// Decodes a RecordIO stream of messages from a response body.
pub struct RecordReader {
    body: Incoming,
    decoder: mesos_proto::recordio::Decoder,
    content_type: ContentType,
}

impl RecordReader {
    /// Wraps a streaming response body whose records are `content_type`.
    pub fn new(body: Incoming, content_type: ContentType) -> RecordReader {
        RecordReader {
            body,
            decoder: mesos_proto::recordio::Decoder::new(MAX_RECORD_SIZE),
            content_type,
        }
    }

    /// The next raw record; `Ok(None)` when the peer ended the stream.
    pub async fn next_record(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            if let Some(record) = self.decoder.next_record()? {
                return Ok(Some(record));
            }
            match self.body.frame().await {
                None => {
                    if self.decoder.has_partial_record() {
                        tracing::debug!("event stream ended inside a record");
                    }
                    return Ok(None);
                }
                Some(Err(source)) => {
                    return Err(Error::Http {
                        address: "event stream".to_string(),
                        source,
                    })
                }
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.decoder.feed(data);
                    }
                }
            }
        }
    }

    /// The next decoded message; `Ok(None)` when the peer ended the stream.
    pub async fn next<M: Message + Name + Default>(&mut self) -> Result<Option<M>, Error> {
        match self.next_record().await? {
            None => Ok(None),
            Some(record) => self.content_type.decode(&record).map(Some),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_forms() {
        let plain = Endpoint::parse("127.0.0.1:5050").unwrap();
        assert_eq!(plain.host, "127.0.0.1");
        assert_eq!(plain.port, 5050);
        assert_eq!(
            Endpoint::parse("http://master.example:5050/").unwrap().host,
            "master.example"
        );
        let relative = Endpoint::parse("//10.0.0.2:5051/master/api/v1/scheduler?x=1").unwrap();
        assert_eq!((relative.host.as_str(), relative.port), ("10.0.0.2", 5051));
        let v6 = Endpoint::parse("[::1]:5050").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.authority(), "[::1]:5050");
    }

    #[test]
    fn endpoint_refusals() {
        for bad in [
            "localhost",
            "zk://a:2181/mesos",
            "https://a:1",
            ":5050",
            "a:99999",
            "[::1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn https_only_with_tls() {
        let tls = Endpoint::parse_with("https://127.0.0.1:5050/", Ok(true)).unwrap();
        assert_eq!((tls.host.as_str(), tls.port), ("127.0.0.1", 5050));
        let off = Endpoint::parse_with("https://127.0.0.1:5050", Ok(false)).unwrap_err();
        assert!(off.to_string().contains("LIBPROCESS_SSL_ENABLED"), "{off}");
        let broken =
            Endpoint::parse_with("https://127.0.0.1:5050", Err("no key".to_string())).unwrap_err();
        assert!(broken.to_string().contains("no key"), "{broken}");
        // Plain forms are unaffected by TLS (the connection decides).
        assert!(Endpoint::parse_with("127.0.0.1:5050", Ok(true)).is_ok());
    }

    #[test]
    fn content_type_names() {
        assert_eq!("json".parse::<ContentType>().unwrap(), ContentType::Json);
        assert_eq!(
            "application/x-protobuf".parse::<ContentType>().unwrap(),
            ContentType::Protobuf
        );
        assert!("xml".parse::<ContentType>().is_err());
    }

    #[test]
    fn protobuf_round_trip() {
        let id = mesos_proto::mesos::v1::FrameworkId {
            value: "f-1".to_string(),
        };
        let bytes = ContentType::Protobuf.encode(&id);
        let back: mesos_proto::mesos::v1::FrameworkId =
            ContentType::Protobuf.decode(&bytes).unwrap();
        assert_eq!(back, id);
        assert!(ContentType::Protobuf
            .decode::<mesos_proto::mesos::v1::FrameworkId>(b"\xff\xff")
            .is_err());
    }
}
