//! HS256 JSON Web Tokens for executor authentication: the agent signs, for
//! each executor it launches, a token whose claims name the executor
//! (`fid`, `eid`, `cid`), and its executor HTTP realm admits requests that
//! carry a token it signed (`Authorization: Bearer <token>`). The format
//! and the error messages follow upstream's libprocess `JWT` and
//! `JWTAuthenticator`, so executors and operators see the same answers.
//!
//! Owns encoding, verification and the `Bearer` authenticator. Never logs
//! a token or the key, compares signatures in constant time only, and
//! accepts no algorithm but HS256 (an unsigned `none` token is refused).
//! What the claims allow is for the caller to decide.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use libprocess::authentication::{Authenticator, Claims, Outcome};
use libprocess::http::{self as lhttp, StatusCode};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// base64url without padding when encoding; padding optional when decoding.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The header every token we sign carries (keys in upstream's order).
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The key tokens are signed with (`--jwt_secret_key`'s contents).
/// `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey(Arc<Vec<u8>>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    pub fn new(bytes: Vec<u8>) -> SecretKey {
        SecretKey(Arc::new(bytes))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        }
    }
}

/// Why a token was refused. The messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("Expected 3 components in token, got {0}")]
    Components(usize),
    #[error("Failed to decode token header: {0}")]
    Header(String),
    #[error("Failed to locate 'alg' in token JSON header")]
    NoAlg,
    #[error("Token 'alg' field is not a string")]
    AlgNotString,
    #[error("Token 'typ' is not a string")]
    TypNotString,
    #[error("Unsupported token algorithm: {0}")]
    UnsupportedAlg(String),
    #[error("Token 'crit' field is unsupported")]
    Crit,
    #[error("Token 'alg' value \"{0}\" does not match, expected \"HS256\"")]
    WrongAlg(String),
    #[error("Failed to decode token payload: {0}")]
    Payload(String),
    #[error("JSON payload 'exp' field is not a number")]
    ExpNotNumber,
    #[error("Token has expired: exp({exp}) < now({now})")]
    Expired { exp: i64, now: i64 },
    #[error("Failed to base64url-decode token signature: {0}")]
    SignatureEncoding(String),
    #[error("Token signature does not match")]
    Signature,
}

/// Signs a token whose payload is `claims` (all strings), as upstream's
/// `JWT::create(payload, secret)`.
pub fn create(claims: &BTreeMap<String, String>, key: &SecretKey) -> String {
    // A map of strings always serializes.
    let payload = serde_json::to_string(claims).unwrap_or_else(|_| "{}".to_string());
    let signing_input = format!(
        "{}.{}",
        BASE64URL.encode(HEADER),
        BASE64URL.encode(payload.as_bytes())
    );
    let mut mac = key.mac();
    mac.update(signing_input.as_bytes());
    let signature = mac.finalize().into_bytes();
    format!("{signing_input}.{}", BASE64URL.encode(signature))
}

/// A base64url component decoded and parsed as a JSON object.
fn decode_object(component: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let bytes = BASE64URL
        .decode(component)
        .map_err(|e| format!("Failed to base64url-decode: {e}"))?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err("Failed to parse into JSON: not a JSON object".to_string()),
        Err(e) => Err(format!("Failed to parse into JSON: {e}")),
    }
}

/// Verifies `token` against `key` at `now` (seconds since the epoch) and
/// returns its claims, non-string values as their JSON text (upstream's
/// `JWT::parse(token, secret)` and the authenticator's claim mapping).
pub fn verify(
    token: &str,
    key: &SecretKey,
    now: i64,
) -> Result<BTreeMap<String, String>, JwtError> {
    let components: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = components[..] else {
        return Err(JwtError::Components(components.len()));
    };

    let header_json = decode_object(header).map_err(JwtError::Header)?;
    if let Some(typ) = header_json.get("typ") {
        if !typ.is_string() {
            return Err(JwtError::TypNotString);
        }
    }
    let alg = match header_json.get("alg") {
        None => return Err(JwtError::NoAlg),
        Some(serde_json::Value::String(alg)) => alg.as_str(),
        Some(_) => return Err(JwtError::AlgNotString),
    };
    if !matches!(alg, "none" | "HS256" | "RS256") {
        return Err(JwtError::UnsupportedAlg(alg.to_string()));
    }
    if header_json.contains_key("crit") {
        return Err(JwtError::Crit);
    }
    if alg != "HS256" {
        return Err(JwtError::WrongAlg(alg.to_string()));
    }

    let payload_json = decode_object(payload).map_err(JwtError::Payload)?;
    if let Some(exp) = payload_json.get("exp") {
        let exp = match exp {
            serde_json::Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .unwrap_or(i64::MAX),
            _ => return Err(JwtError::ExpNotNumber),
        };
        if exp < now {
            return Err(JwtError::Expired { exp, now });
        }
    }

    let signature = BASE64URL
        .decode(signature)
        .map_err(|e| JwtError::SignatureEncoding(e.to_string()))?;
    let mut mac = key.mac();
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| JwtError::Signature)?;

    Ok(payload_json
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect())
}

/// Seconds since the epoch, for `exp`.
fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `Authorization: Bearer <token>` against tokens signed with one key
/// (upstream's `JWTAuthenticator`, scheme `Bearer`, its `WWW-Authenticate`
/// challenges). An admitted request carries the token's claims.
pub struct JwtAuthenticator {
    realm: String,
    key: SecretKey,
}

impl JwtAuthenticator {
    pub fn new(realm: &str, key: SecretKey) -> JwtAuthenticator {
        JwtAuthenticator {
            realm: realm.to_string(),
            key,
        }
    }

    fn unauthorized(&self, error: Option<&str>) -> Outcome {
        // Without any credentials the challenge names no error (RFC 6750 §3.1).
        let challenge = match error {
            None => format!("Bearer realm=\"{}\"", self.realm),
            Some(description) => format!(
                "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"{description}\"",
                self.realm
            ),
        };
        let mut response = lhttp::response(StatusCode::UNAUTHORIZED, lhttp::Body::empty());
        let value = lhttp::HeaderValue::from_str(&challenge).unwrap_or_else(|_| {
            // A description with bytes a header cannot hold (from the
            // token itself) is dropped, the challenge kept.
            lhttp::HeaderValue::from_str(&format!(
                "Bearer realm=\"{}\", error=\"invalid_token\"",
                self.realm
            ))
            .unwrap_or_else(|_| lhttp::HeaderValue::from_static("Bearer"))
        });
        response
            .headers_mut()
            .insert(lhttp::header::WWW_AUTHENTICATE, value);
        Outcome::Refused(response)
    }
}

impl Authenticator for JwtAuthenticator {
    fn scheme(&self) -> &str {
        "Bearer"
    }

    fn authenticate(&self, headers: &lhttp::HeaderMap) -> Outcome {
        let Some(value) = headers.get(lhttp::header::AUTHORIZATION) else {
            return self.unauthorized(None);
        };
        let value = String::from_utf8_lossy(value.as_bytes());
        let parts: Vec<&str> = value.split(' ').collect();
        let [scheme, token] = parts[..] else {
            return self.unauthorized(Some("Malformed 'Authorization' header"));
        };
        if scheme != "Bearer" {
            return self.unauthorized(Some(&format!("Scheme '{scheme}' unsupported")));
        }
        match verify(token, &self.key, now_secs()) {
            Err(e) => self.unauthorized(Some(&format!("Invalid JWT: {e}"))),
            Ok(claims) if claims.is_empty() => self.unauthorized(Some("JWT claims missing")),
            Ok(claims) => Outcome::Claimed(Claims(claims)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::new(b"72kUKUFtghAjNbIOvLzfF2RxNBfeM64Bri8g9WhpyaunwqRB".to_vec())
    }

    fn executor_claims() -> BTreeMap<String, String> {
        [("fid", "f-1"), ("eid", "e-1"), ("cid", "c-1")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn bearer(token: &str) -> lhttp::HeaderMap {
        let mut h = lhttp::HeaderMap::new();
        h.insert(
            lhttp::header::AUTHORIZATION,
            lhttp::HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    fn challenge(outcome: Outcome) -> String {
        match outcome {
            Outcome::Refused(r) => {
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
                r.headers()[lhttp::header::WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .to_string()
            }
            _ => panic!("admitted"),
        }
    }

    /// A token signed by hand from its parts, for forged headers.
    fn sign(header: &str, payload: &str, key: &SecretKey) -> String {
        let input = format!("{}.{}", BASE64URL.encode(header), BASE64URL.encode(payload));
        let mut mac = key.mac();
        mac.update(input.as_bytes());
        format!("{input}.{}", BASE64URL.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn jwt_create_then_parse_round_trips_the_claims() {
        let token = create(&executor_claims(), &key());
        assert_eq!(token.split('.').count(), 3);
        assert!(!token.contains('='), "base64url without padding");
        assert_eq!(
            verify(&token, &key(), now_secs()).unwrap(),
            executor_claims()
        );
    }

    #[test]
    fn jwt_header_is_upstreams() {
        let token = create(&executor_claims(), &key());
        let header = token.split('.').next().unwrap();
        assert_eq!(BASE64URL.decode(header).unwrap(), HEADER.as_bytes());
        // Known answer (computed independently with Python's hmac module).
        let claims: BTreeMap<String, String> = [("sub".to_string(), "x".to_string())].into();
        let token = create(&claims, &SecretKey::new(b"k".to_vec()));
        assert_eq!(
            token,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0.\
             ZQBNfODvZbWEZlqkYu9Hjz8pREszIDnoFi82AvAUXvI"
        );
    }

    #[test]
    fn jwt_parse_refuses_another_key_and_tampered_parts() {
        let token = create(&executor_claims(), &key());
        let other = SecretKey::new(b"another key".to_vec());
        assert_eq!(verify(&token, &other, 0), Err(JwtError::Signature));
        // A payload swapped for another executor's keeps the old signature.
        let mut forged = executor_claims();
        forged.insert("eid".into(), "e-2".into());
        let forged_payload = create(&forged, &other);
        let parts: Vec<&str> = token.split('.').collect();
        let swapped = format!(
            "{}.{}.{}",
            parts[0],
            forged_payload.split('.').nth(1).unwrap(),
            parts[2]
        );
        assert_eq!(verify(&swapped, &key(), 0), Err(JwtError::Signature));
        assert_eq!(verify("a.b", &key(), 0), Err(JwtError::Components(2)));
        assert_eq!(
            verify(&format!("{token}.x"), &key(), 0),
            Err(JwtError::Components(4))
        );
        assert!(matches!(
            verify(&format!("{}.{}.!!", parts[0], parts[1]), &key(), 0),
            Err(JwtError::SignatureEncoding(_))
        ));
    }

    #[test]
    fn jwt_parse_refuses_unsigned_and_other_algorithms() {
        let payload = r#"{"fid":"f-1"}"#;
        let none = format!(
            "{}.{}.",
            BASE64URL.encode(r#"{"alg":"none","typ":"JWT"}"#),
            BASE64URL.encode(payload)
        );
        assert_eq!(
            verify(&none, &key(), 0),
            Err(JwtError::WrongAlg("none".into()))
        );
        let rs = sign(r#"{"alg":"RS256"}"#, payload, &key());
        assert_eq!(
            verify(&rs, &key(), 0),
            Err(JwtError::WrongAlg("RS256".into()))
        );
        let odd = sign(r#"{"alg":"HS512"}"#, payload, &key());
        assert_eq!(
            verify(&odd, &key(), 0),
            Err(JwtError::UnsupportedAlg("HS512".into()))
        );
        let crit = sign(r#"{"alg":"HS256","crit":["exp"]}"#, payload, &key());
        assert_eq!(verify(&crit, &key(), 0), Err(JwtError::Crit));
        let no_alg = sign(r#"{"typ":"JWT"}"#, payload, &key());
        assert_eq!(verify(&no_alg, &key(), 0), Err(JwtError::NoAlg));
    }

    #[test]
    fn jwt_parse_refuses_expired_tokens() {
        let token = sign(r#"{"alg":"HS256"}"#, r#"{"fid":"f","exp":100}"#, &key());
        assert_eq!(
            verify(&token, &key(), 101),
            Err(JwtError::Expired { exp: 100, now: 101 })
        );
        let claims = verify(&token, &key(), 100).unwrap();
        assert_eq!(claims.get("exp").map(String::as_str), Some("100"));
        let bad = sign(r#"{"alg":"HS256"}"#, r#"{"exp":"soon"}"#, &key());
        assert_eq!(verify(&bad, &key(), 0), Err(JwtError::ExpNotNumber));
    }

    #[test]
    fn jwt_authenticator_challenges_as_upstream() {
        let auth = JwtAuthenticator::new("mesos-agent-executor", key());
        assert_eq!(
            challenge(auth.authenticate(&lhttp::HeaderMap::new())),
            "Bearer realm=\"mesos-agent-executor\""
        );
        let mut basic = lhttp::HeaderMap::new();
        basic.insert(
            lhttp::header::AUTHORIZATION,
            lhttp::HeaderValue::from_static("Basic b3BzOnNlY3JldA=="),
        );
        assert_eq!(
            challenge(auth.authenticate(&basic)),
            "Bearer realm=\"mesos-agent-executor\", error=\"invalid_token\", \
             error_description=\"Scheme 'Basic' unsupported\""
        );
        let mut malformed = lhttp::HeaderMap::new();
        malformed.insert(
            lhttp::header::AUTHORIZATION,
            lhttp::HeaderValue::from_static("Bearer"),
        );
        assert_eq!(
            challenge(auth.authenticate(&malformed)),
            "Bearer realm=\"mesos-agent-executor\", error=\"invalid_token\", \
             error_description=\"Malformed 'Authorization' header\""
        );
        let forged = create(&executor_claims(), &SecretKey::new(b"guess".to_vec()));
        assert_eq!(
            challenge(auth.authenticate(&bearer(&forged))),
            "Bearer realm=\"mesos-agent-executor\", error=\"invalid_token\", \
             error_description=\"Invalid JWT: Token signature does not match\""
        );
        let empty = create(&BTreeMap::new(), &key());
        assert_eq!(
            challenge(auth.authenticate(&bearer(&empty))),
            "Bearer realm=\"mesos-agent-executor\", error=\"invalid_token\", \
             error_description=\"JWT claims missing\""
        );
        match auth.authenticate(&bearer(&create(&executor_claims(), &key()))) {
            Outcome::Claimed(Claims(claims)) => assert_eq!(claims, executor_claims()),
            _ => panic!("refused a token it signed"),
        }
    }

    #[test]
    fn secret_key_debug_hides_the_key() {
        assert!(!format!("{:?}", key()).contains("72kU"));
    }
}
