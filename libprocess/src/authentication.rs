//! HTTP authentication per realm, as upstream's libprocess does it: each
//! route belongs to at most one realm, and a realm with an authenticator
//! installed admits only requests that authenticate (401 with
//! `WWW-Authenticate` otherwise). The authenticated principal travels with
//! the request as a [`Principal`] extension, or, for a principal known only
//! by the claims of a token, as a [`Claims`] extension.
//!
//! Owns credential parsing, the Basic authenticator, the combination of
//! several authenticators in one realm, and the realm table.
//! Never decides what a principal may do (that is authorization) and never
//! logs secrets; secrets are compared in constant time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use subtle::ConstantTimeEq;

use crate::http::{self as lhttp, Response, StatusCode};

/// The principal a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(pub String);

/// The claims of a principal that has no value (upstream's
/// `Principal::claims`, as a bearer token carries them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims(pub BTreeMap<String, String>);

/// Principals and their secrets (upstream's `Credentials` message).
#[derive(Clone, Default)]
pub struct Credentials {
    secrets: HashMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Principals only: secrets never reach a log.
        let mut principals: Vec<&String> = self.secrets.keys().collect();
        principals.sort();
        f.debug_struct("Credentials")
            .field("principals", &principals)
            .finish()
    }
}

impl Credentials {
    /// Parses upstream's formats: JSON `{"credentials":[{"principal":…,
    /// "secret":…}]}` or text, one `principal secret` pair a line.
    pub fn parse(text: &str) -> Result<Credentials, String> {
        let mut secrets = HashMap::new();
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') {
            let value: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| format!("Failed to parse credentials as JSON: {e}"))?;
            let list = value
                .get("credentials")
                .and_then(|c| c.as_array())
                .ok_or("Failed to parse credentials: expected a 'credentials' array")?;
            for entry in list {
                let principal = entry
                    .get("principal")
                    .and_then(|p| p.as_str())
                    .ok_or("Failed to parse credentials: each needs a string 'principal'")?;
                let secret = entry.get("secret").and_then(|s| s.as_str()).unwrap_or("");
                secrets.insert(principal.to_string(), secret.as_bytes().to_vec());
            }
        } else {
            for line in text.lines() {
                let mut words = line.split_whitespace();
                let (Some(principal), secret, None) = (words.next(), words.next(), words.next())
                else {
                    if line.trim().is_empty() {
                        continue;
                    }
                    return Err(
                        "Invalid credential format: expecting 'principal secret' per line"
                            .to_string(),
                    );
                };
                secrets.insert(
                    principal.to_string(),
                    secret.unwrap_or("").as_bytes().to_vec(),
                );
            }
        }
        Ok(Credentials { secrets })
    }

    /// Reads a credentials file (a `file://` prefix is allowed, as upstream).
    pub fn from_path(path: &str) -> Result<Credentials, String> {
        let path = path.strip_prefix("file://").unwrap_or(path);
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("Failed to read credentials file '{path}': {e}"))?;
        Credentials::parse(&text)
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The secret of `principal`, for exchanges that need it (CRAM-MD5).
    pub fn secret(&self, principal: &str) -> Option<&[u8]> {
        self.secrets.get(principal).map(Vec::as_slice)
    }

    /// Whether `secret` is `principal`'s, in time independent of where a
    /// wrong secret differs.
    pub fn check(&self, principal: &str, secret: &[u8]) -> bool {
        match self.secrets.get(principal) {
            Some(expected) => bool::from(expected.as_slice().ct_eq(secret)),
            None => false,
        }
    }
}

/// What an authenticator made of a request.
pub enum Outcome {
    Authenticated(Principal),
    /// A principal known only by its claims.
    Claimed(Claims),
    /// Answer this instead of calling the handler (401 or 403).
    Refused(Response),
}

/// An HTTP authenticator for one realm (upstream's
/// `process::http::authentication::Authenticator`).
pub trait Authenticator: Send + Sync {
    /// The scheme name, `Basic` for the built-in one (as upstream's).
    fn scheme(&self) -> &str;
    fn authenticate(&self, headers: &lhttp::HeaderMap) -> Outcome;
}

/// HTTP Basic against a credentials table (upstream's `BasicAuthenticator`).
pub struct BasicAuthenticator {
    realm: String,
    credentials: Credentials,
}

impl BasicAuthenticator {
    pub fn new(realm: &str, credentials: Credentials) -> BasicAuthenticator {
        BasicAuthenticator {
            realm: realm.to_string(),
            credentials,
        }
    }

    fn unauthorized(&self, why: &str) -> Outcome {
        let mut response = lhttp::response(StatusCode::UNAUTHORIZED, why.to_string());
        if let Ok(value) = lhttp::HeaderValue::from_str(&format!("Basic realm=\"{}\"", self.realm))
        {
            response
                .headers_mut()
                .insert(lhttp::header::WWW_AUTHENTICATE, value);
        }
        Outcome::Refused(response)
    }
}

impl Authenticator for BasicAuthenticator {
    fn scheme(&self) -> &str {
        "Basic"
    }

    fn authenticate(&self, headers: &lhttp::HeaderMap) -> Outcome {
        let Some(value) = headers.get(lhttp::header::AUTHORIZATION) else {
            return self.unauthorized("Missing authorization header");
        };
        let Ok(value) = value.to_str() else {
            return self.unauthorized("Malformed 'Authorization' request header");
        };
        let mut parts = value.splitn(2, ' ');
        let (Some(scheme), Some(encoded)) = (parts.next(), parts.next()) else {
            return self.unauthorized("Malformed 'Authorization' request header");
        };
        if scheme != "Basic" {
            return self.unauthorized("Expecting 'Authorization' header of the form 'Basic ...'");
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return self.unauthorized("Failed to decode 'Authorization' header");
        };
        // Split at the first ':'; the secret may itself contain colons.
        let Some(colon) = decoded.iter().position(|b| *b == b':') else {
            return self.unauthorized("Malformed 'Authorization' request header");
        };
        let (principal, secret) = (&decoded[..colon], &decoded[colon + 1..]);
        let Ok(principal) = std::str::from_utf8(principal) else {
            return self.unauthorized("Authentication failed");
        };
        if self.credentials.check(principal, secret) {
            Outcome::Authenticated(Principal(principal.to_string()))
        } else {
            self.unauthorized("Authentication failed")
        }
    }
}

/// Several authenticators in one realm, tried in order (upstream's
/// `CombinedAuthenticator`): the first that authenticates wins. When all
/// refuse, any 401 makes a 401 whose `WWW-Authenticate` joins theirs with
/// `,` and whose body joins their non-empty bodies, each introduced by its
/// scheme; otherwise the 403s are joined the same way.
pub struct CombinedAuthenticator {
    authenticators: Vec<Arc<dyn Authenticator>>,
    scheme: String,
}

impl CombinedAuthenticator {
    pub fn new(authenticators: Vec<Arc<dyn Authenticator>>) -> CombinedAuthenticator {
        let scheme = authenticators
            .iter()
            .map(|a| a.scheme().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        CombinedAuthenticator {
            authenticators,
            scheme,
        }
    }
}

impl Authenticator for CombinedAuthenticator {
    fn scheme(&self) -> &str {
        &self.scheme
    }

    fn authenticate(&self, headers: &lhttp::HeaderMap) -> Outcome {
        let mut refusals = Vec::with_capacity(self.authenticators.len());
        for authenticator in &self.authenticators {
            match authenticator.authenticate(headers) {
                Outcome::Refused(response) => refusals.push((authenticator.scheme(), response)),
                admitted => return admitted,
            }
        }
        let unauthorized = refusals
            .iter()
            .any(|(_, r)| r.status() == StatusCode::UNAUTHORIZED);
        let wanted = if unauthorized {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        let mut challenges = Vec::new();
        let mut bodies = Vec::new();
        for (scheme, response) in &refusals {
            if response.status() != wanted {
                continue;
            }
            if let Some(challenge) = response
                .headers()
                .get(lhttp::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
            {
                challenges.push(challenge.to_string());
            }
            if let Some(body) = response.body().as_bytes().filter(|b| !b.is_empty()) {
                bodies.push(format!(
                    "\"{scheme}\" authenticator returned:\n{}",
                    String::from_utf8_lossy(body)
                ));
            }
        }
        let mut response = lhttp::response(wanted, bodies.join("\n\n"));
        if unauthorized {
            if let Ok(value) = lhttp::HeaderValue::from_str(&challenges.join(",")) {
                response
                    .headers_mut()
                    .insert(lhttp::header::WWW_AUTHENTICATE, value);
            }
        }
        Outcome::Refused(response)
    }
}

/// Who a request authenticated as: a principal, or claims, or neither
/// (an open route).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    pub principal: Option<Principal>,
    pub claims: Option<Claims>,
}

/// Which realm a route is in: `realm(process_id, route)`, `None` for
/// routes that are never authenticated (`/health`, for instance).
pub type RealmOf = Arc<dyn Fn(&str, &str) -> Option<&'static str> + Send + Sync>;

/// Whether a request may reach `route` of `process_id`:
/// `authorize(principal, process_id, route)` (upstream's authorization
/// callbacks for endpoints such as `/metrics/snapshot`); `false` is 403.
pub type Authorize = Arc<dyn Fn(Option<&Principal>, &str, &str) -> bool + Send + Sync>;

/// The realm table and the authenticators installed per realm. A realm
/// without an authenticator is open, as upstream's.
#[derive(Clone, Default)]
pub struct Authentication {
    realm_of: Option<RealmOf>,
    authenticators: HashMap<String, Arc<dyn Authenticator>>,
    authorize: Option<Authorize>,
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let realms: Vec<&String> = self.authenticators.keys().collect();
        f.debug_struct("Authentication")
            .field("authenticated_realms", &realms)
            .finish()
    }
}

impl Authentication {
    pub fn new(realm_of: RealmOf) -> Authentication {
        Authentication {
            realm_of: Some(realm_of),
            authenticators: HashMap::new(),
            authorize: None,
        }
    }

    /// Requires authentication with `authenticator` in `realm`.
    pub fn with(mut self, realm: &str, authenticator: Arc<dyn Authenticator>) -> Self {
        self.authenticators.insert(realm.to_string(), authenticator);
        self
    }

    /// Checks every request's access to its route after authentication.
    pub fn with_authorization(mut self, authorize: Authorize) -> Self {
        self.authorize = Some(authorize);
        self
    }

    /// Authenticates and authorizes a request to `route` of `process_id`:
    /// `Err` is the answer to give instead (401 or 403); an empty
    /// [`Admitted`] lets it through unauthenticated.
    pub fn admit(
        &self,
        process_id: &str,
        route: &str,
        headers: &lhttp::HeaderMap,
    ) -> Result<Admitted, Box<Response>> {
        let admitted = match self.authenticate(process_id, route, headers) {
            None => Admitted::default(),
            Some(Outcome::Authenticated(principal)) => Admitted {
                principal: Some(principal),
                claims: None,
            },
            Some(Outcome::Claimed(claims)) => Admitted {
                principal: None,
                claims: Some(claims),
            },
            Some(Outcome::Refused(response)) => return Err(Box::new(response)),
        };
        let principal = admitted.principal.as_ref();
        if let Some(authorize) = &self.authorize {
            if !authorize(principal, process_id, route) {
                return Err(Box::new(lhttp::response(
                    StatusCode::FORBIDDEN,
                    lhttp::Body::empty(),
                )));
            }
        }
        Ok(admitted)
    }

    /// Authenticates a request to `route` of `process_id`: `None` lets it
    /// through unauthenticated (open realm or no realm).
    pub fn authenticate(
        &self,
        process_id: &str,
        route: &str,
        headers: &lhttp::HeaderMap,
    ) -> Option<Outcome> {
        let realm = self.realm_of.as_ref()?(process_id, route)?;
        let authenticator = self.authenticators.get(realm)?;
        Some(authenticator.authenticate(headers))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn basic(user: &str, secret: &str) -> lhttp::HeaderMap {
        let mut h = lhttp::HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        h.insert(
            lhttp::header::AUTHORIZATION,
            lhttp::HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
        );
        h
    }

    fn credentials() -> Credentials {
        Credentials::parse(r#"{"credentials":[{"principal":"ops","secret":"s:3cret"}]}"#).unwrap()
    }

    #[test]
    fn credentials_parse_json_and_text_and_hide_secrets() {
        let c = credentials();
        assert!(c.check("ops", b"s:3cret") && !c.check("ops", b"s:3cre") && !c.check("x", b""));
        let t = Credentials::parse("alice  a-secret\n\nbob b\n").unwrap();
        assert!(t.check("alice", b"a-secret") && t.check("bob", b"b"));
        assert!(Credentials::parse("a b c").is_err());
        assert!(Credentials::parse(r#"{"credentials":[{"secret":"x"}]}"#).is_err());
        assert!(!format!("{c:?}").contains("3cret"));
    }

    #[test]
    fn basic_admits_the_right_secret_only() {
        let auth = BasicAuthenticator::new("mesos-master-readonly", credentials());
        match auth.authenticate(&basic("ops", "s:3cret")) {
            Outcome::Authenticated(p) => assert_eq!(p, Principal("ops".into())),
            _ => panic!("refused the right secret"),
        }
        for headers in [
            basic("ops", "wrong"),
            basic("nobody", "s:3cret"),
            lhttp::HeaderMap::new(),
        ] {
            match auth.authenticate(&headers) {
                Outcome::Authenticated(_) | Outcome::Claimed(_) => {
                    panic!("admitted a wrong secret")
                }
                Outcome::Refused(r) => {
                    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
                    assert_eq!(
                        r.headers()[lhttp::header::WWW_AUTHENTICATE],
                        "Basic realm=\"mesos-master-readonly\""
                    );
                }
            }
        }
    }

    #[test]
    fn realms_without_authenticator_are_open() {
        let table: RealmOf = Arc::new(|_, route| match route {
            "/state" => Some("ro"),
            "/teardown" => Some("rw"),
            _ => None,
        });
        let a = Authentication::new(table)
            .with("ro", Arc::new(BasicAuthenticator::new("ro", credentials())));
        assert!(a
            .authenticate("master", "/state", &lhttp::HeaderMap::new())
            .is_some());
        assert!(a
            .authenticate("master", "/teardown", &lhttp::HeaderMap::new())
            .is_none());
        assert!(a
            .authenticate("master", "/health", &lhttp::HeaderMap::new())
            .is_none());
    }

    /// Admits a fixed `Authorization` value as claims; refuses anything
    /// else with its own challenge.
    struct Token;

    impl Authenticator for Token {
        fn scheme(&self) -> &str {
            "Bearer"
        }

        fn authenticate(&self, headers: &lhttp::HeaderMap) -> Outcome {
            if headers
                .get(lhttp::header::AUTHORIZATION)
                .map(|v| v.as_bytes())
                == Some(b"Bearer t")
            {
                let claims = [("fid".to_string(), "f".to_string())].into();
                return Outcome::Claimed(Claims(claims));
            }
            let mut r = lhttp::response(StatusCode::UNAUTHORIZED, lhttp::Body::empty());
            r.headers_mut().insert(
                lhttp::header::WWW_AUTHENTICATE,
                lhttp::HeaderValue::from_static("Bearer realm=\"x\""),
            );
            Outcome::Refused(r)
        }
    }

    #[test]
    fn combined_authenticator_admits_either_and_joins_challenges() {
        let combined = CombinedAuthenticator::new(vec![
            Arc::new(BasicAuthenticator::new("x", credentials())),
            Arc::new(Token),
        ]);
        assert!(matches!(
            combined.authenticate(&basic("ops", "s:3cret")),
            Outcome::Authenticated(_)
        ));
        let mut bearer = lhttp::HeaderMap::new();
        bearer.insert(
            lhttp::header::AUTHORIZATION,
            lhttp::HeaderValue::from_static("Bearer t"),
        );
        match combined.authenticate(&bearer) {
            Outcome::Claimed(Claims(c)) => assert_eq!(c.get("fid").map(String::as_str), Some("f")),
            _ => panic!("the second authenticator's token was refused"),
        }
        let Outcome::Refused(r) = combined.authenticate(&lhttp::HeaderMap::new()) else {
            panic!("admitted a request without credentials");
        };
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[lhttp::header::WWW_AUTHENTICATE],
            "Basic realm=\"x\",Bearer realm=\"x\""
        );
        // Only non-empty bodies are kept, each naming its scheme.
        let body = String::from_utf8_lossy(r.body().as_bytes().unwrap()).to_string();
        assert_eq!(
            body,
            "\"Basic\" authenticator returned:\nMissing authorization header"
        );
    }
}
