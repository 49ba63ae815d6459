//! Media types and content negotiation for the Mesos HTTP APIs, shared by
//! the master, the agent and every client crate: the one copy of the
//! `Accept` matching rule, the v1 API media types, and JSONP wrapping.
//!
//! Owns only header and query parsing; it never decides what an endpoint
//! serves or which status an endpoint answers with beyond the negotiation
//! result itself.

use bytes::Bytes;

use crate::http::{header, HeaderMap, HeaderValue, Response, StatusCode};

pub const APPLICATION_JSON: &str = "application/json";
pub const APPLICATION_PROTOBUF: &str = "application/x-protobuf";
pub const APPLICATION_RECORDIO: &str = "application/recordio";
pub const TEXT_JAVASCRIPT: &str = "text/javascript";

/// The two encodings of the v1 APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    Json,
    Protobuf,
}

impl ContentType {
    pub const JSON: &'static str = APPLICATION_JSON;
    pub const PROTOBUF: &'static str = APPLICATION_PROTOBUF;

    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Json => APPLICATION_JSON,
            ContentType::Protobuf => APPLICATION_PROTOBUF,
        }
    }

    /// Alias of [`ContentType::mime`].
    pub fn as_str(self) -> &'static str {
        self.mime()
    }

    /// The request's `Content-Type`, ignoring parameters (`; charset=…`):
    /// `Ok(None)` when absent, `Err(value)` when it is neither v1 type.
    pub fn of_request(headers: &HeaderMap) -> Result<Option<ContentType>, String> {
        let Some(value) = headers.get(header::CONTENT_TYPE) else {
            return Ok(None);
        };
        let text = value.to_str().unwrap_or("");
        let essence = text.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case(APPLICATION_JSON) {
            Ok(Some(ContentType::Json))
        } else if essence.eq_ignore_ascii_case(APPLICATION_PROTOBUF) {
            Ok(Some(ContentType::Protobuf))
        } else {
            Err(text.to_string())
        }
    }

    /// The response type for a v1 call, as upstream picks it: JSON when
    /// `Accept` allows it, else protobuf, else `None` (answer 406).
    pub fn negotiate(headers: &HeaderMap) -> Option<ContentType> {
        if accepts_media_type(headers, APPLICATION_JSON) {
            Some(ContentType::Json)
        } else if accepts_media_type(headers, APPLICATION_PROTOBUF) {
            Some(ContentType::Protobuf)
        } else {
            None
        }
    }
}

/// Whether `Accept` allows `media` (upstream's `Request::acceptsMediaType`):
/// no header accepts everything; otherwise the most specific matching range
/// (`type/subtype` over `type/*` over `*/*`) decides, and q=0 refuses, so
/// `application/json;q=0, */*` refuses JSON.
pub fn accepts_media_type(headers: &HeaderMap, media: &str) -> bool {
    let mut values = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .peekable();
    if values.peek().is_none() {
        return headers.get(header::ACCEPT).is_none();
    }
    let media = media.to_ascii_lowercase();
    let kind = media.split_once('/').map(|(k, _)| k).unwrap_or(&media);
    // (specificity, q) of the most specific matching range so far.
    let mut best: Option<(u8, f64)> = None;
    for item in values.flat_map(|v| v.split(',')) {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if range.is_empty() {
            continue;
        }
        let mut q = 1.0_f64;
        for parameter in parts {
            if let Some((name, value)) = parameter.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    q = value.trim().parse().unwrap_or(0.0);
                }
            }
        }
        let specificity = match range.split_once('/') {
            Some((k, s)) if k == kind && s == &media[kind.len() + 1..] => 3,
            Some((k, "*")) if k == kind => 2,
            Some(("*", "*")) => 1,
            None if range == "*" => 1,
            _ => continue,
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.is_some_and(|(_, q)| q > 0.0)
}

/// A 200 answer carrying JSON text, wrapped as `cb(<json>)` with
/// `text/javascript` when `jsonp` names a callback (no trailing `;`, as
/// upstream writes it).
pub fn json_response(json: impl Into<String>, jsonp: Option<&str>) -> Response {
    json_bytes_response(Bytes::from(json.into()), jsonp)
}

/// [`json_response`] for JSON already rendered to bytes (a cached body is
/// sent without a copy unless it must be wrapped).
pub fn json_bytes_response(json: Bytes, jsonp: Option<&str>) -> Response {
    let (body, content_type) = match jsonp {
        Some(callback) if !callback.is_empty() => {
            let mut wrapped = Vec::with_capacity(json.len() + callback.len() + 2);
            wrapped.extend_from_slice(callback.as_bytes());
            wrapped.push(b'(');
            wrapped.extend_from_slice(&json);
            wrapped.push(b')');
            (Bytes::from(wrapped), TEXT_JAVASCRIPT)
        }
        _ => (json, APPLICATION_JSON),
    };
    let mut response = crate::http::response(StatusCode::OK, body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::ACCEPT, HeaderValue::from_str(v).expect("header"));
        }
        headers
    }

    #[test]
    fn no_accept_header_accepts_everything() {
        assert!(accepts_media_type(&HeaderMap::new(), APPLICATION_PROTOBUF));
        assert_eq!(
            ContentType::negotiate(&HeaderMap::new()),
            Some(ContentType::Json)
        );
    }

    #[test]
    fn the_most_specific_range_decides() {
        let h = accept(&["application/json;q=0, */*"]);
        assert!(!accepts_media_type(&h, APPLICATION_JSON));
        assert!(accepts_media_type(&h, APPLICATION_PROTOBUF));
        assert_eq!(ContentType::negotiate(&h), Some(ContentType::Protobuf));

        let h = accept(&["application/*;q=0", "application/json"]);
        assert!(accepts_media_type(&h, APPLICATION_JSON));
        assert!(!accepts_media_type(&h, APPLICATION_PROTOBUF));
    }

    #[test]
    fn wildcards_and_case() {
        assert!(accepts_media_type(&accept(&["*/*"]), APPLICATION_JSON));
        assert!(accepts_media_type(&accept(&["*"]), APPLICATION_JSON));
        assert!(accepts_media_type(
            &accept(&["Application/*; Q=0.5"]),
            APPLICATION_JSON
        ));
        assert!(!accepts_media_type(
            &accept(&["text/html"]),
            APPLICATION_JSON
        ));
        assert_eq!(ContentType::negotiate(&accept(&["text/html"])), None);
        assert!(!accepts_media_type(
            &accept(&["application/json;q=abc"]),
            APPLICATION_JSON
        ));
    }

    #[test]
    fn request_content_type_ignores_parameters() {
        let mut h = HeaderMap::new();
        assert_eq!(ContentType::of_request(&h), Ok(None));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(ContentType::of_request(&h), Ok(Some(ContentType::Json)));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(ContentType::of_request(&h), Err("text/plain".to_string()));
    }

    #[test]
    fn jsonp_wraps_without_semicolon() {
        let r = json_response("{}", Some("cb"));
        assert_eq!(r.body().as_bytes(), Some(&b"cb({})"[..]));
        assert_eq!(r.headers()[header::CONTENT_TYPE], TEXT_JAVASCRIPT);
        let r = json_response("{}", Some(""));
        assert_eq!(r.headers()[header::CONTENT_TYPE], APPLICATION_JSON);
    }
}
