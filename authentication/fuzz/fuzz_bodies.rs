//! The body of the `mesos-authentication` fuzz target, shared (through
//! `#[path]`) by the cargo-fuzz binary in `fuzz_targets/` and by the
//! ordinary test `authentication/tests/fuzz_corpus_replay.rs`, which replays
//! every corpus and regression file through it.
//!
//! `sasl_exchange`: the input is what a client sends an authenticator: as
//! the raw data of the STEP that answers the challenge, and as the protobuf
//! body of a START or STEP message. Beyond "no panic" it checks that every
//! input ends the session (one reply, one outcome) and that a session only
//! authenticates a principal whose secret produced exactly that response.
//!
//! `jwt_verify`: the input is an executor's bearer token. Beyond "no
//! panic" it checks that a token accepted under one key is refused under
//! another, and that its claims, signed again, verify to the same claims.

#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use libprocess::Message;
use mesos_authentication::authenticator::{Authenticator, Outcome};
use mesos_authentication::messages::{self, ServerInbound};
use mesos_authentication::{cram_md5, Credentials};
use prost::Name;

const CHALLENGE: &[u8] = b"<1896.697170952@postoffice.reston.mci.net>";
const CREDENTIALS: &str = "tim tanstaaftanstaaf\nagent agent-secret\n";

fn started() -> Authenticator {
    let credentials = Credentials::parse(CREDENTIALS).unwrap_or_default();
    let mut authenticator = Authenticator::new(Arc::new(credentials), CHALLENGE.to_vec());
    let turn = authenticator.receive(ServerInbound::Start {
        mechanism: cram_md5::MECHANISM.to_string(),
        data: Vec::new(),
    });
    assert!(
        turn.outcome.is_none(),
        "a proper START must not end the session"
    );
    authenticator
}

fn check_step(data: &[u8]) {
    let mut authenticator = started();
    let turn = authenticator.receive(ServerInbound::Step {
        data: data.to_vec(),
    });
    assert!(authenticator.is_done(), "a STEP must end the session");
    match turn.outcome {
        Some(Outcome::Authenticated(principal)) => {
            let credentials = Credentials::parse(CREDENTIALS).unwrap_or_default();
            let secret = credentials.secret(&principal).unwrap_or_default();
            let expected = cram_md5::response(&principal, secret, CHALLENGE).unwrap_or_default();
            assert_eq!(
                data.to_ascii_lowercase(),
                expected,
                "authenticated '{principal}' without its response"
            );
        }
        Some(_) => {}
        None => panic!("a STEP left the session open"),
    }
    // Nothing is accepted afterwards.
    let after = authenticator.receive(ServerInbound::Step {
        data: data.to_vec(),
    });
    assert!(matches!(after.outcome, Some(Outcome::Error(_))));
}

fn message(name: String, body: &[u8]) -> Option<Message> {
    Some(Message {
        from: "crammd5-authenticatee(1)@127.0.0.1:1".parse().ok()?,
        to: "crammd5-authenticator-session(1)".into(),
        name,
        body: Bytes::copy_from_slice(body),
    })
}

pub fn sasl_exchange(data: &[u8]) {
    let _ = cram_md5::parse_response(data);
    check_step(data);
    use mesos_proto::mesos::internal::{AuthenticationStartMessage, AuthenticationStepMessage};
    for name in [
        AuthenticationStartMessage::full_name(),
        AuthenticationStepMessage::full_name(),
    ] {
        let Some(m) = message(name, data) else {
            continue;
        };
        match messages::decode_server(&m) {
            Ok(ServerInbound::Step { data }) => check_step(&data),
            Ok(start @ ServerInbound::Start { .. }) => {
                let credentials = Credentials::parse(CREDENTIALS).unwrap_or_default();
                let mut fresh = Authenticator::new(Arc::new(credentials), CHALLENGE.to_vec());
                let turn = fresh.receive(start);
                // A START either challenges or ends the session with an error.
                assert!(matches!(turn.outcome, None | Some(Outcome::Error(_))));
            }
            Err(_) => {}
        }
        let _ = messages::decode_client(&m);
    }
}

const JWT_KEY: &[u8] = b"fuzzing key";

pub fn jwt_verify(data: &[u8]) {
    use libprocess::authentication::Authenticator as _;
    use mesos_authentication::jwt::{self, JwtAuthenticator, SecretKey};
    let key = SecretKey::new(JWT_KEY.to_vec());
    let token = String::from_utf8_lossy(data);
    if let Ok(claims) = jwt::verify(&token, &key, 0) {
        let other = SecretKey::new(b"another key".to_vec());
        assert!(
            jwt::verify(&token, &other, 0).is_err(),
            "a token verified under two keys"
        );
        // Claims that were all strings survive a new signature unchanged.
        let again = jwt::create(&claims, &key);
        if let Ok(reparsed) = jwt::verify(&again, &key, 0) {
            if !claims.contains_key("exp") {
                assert_eq!(reparsed, claims, "claims changed when signed again");
            }
        }
    }
    if let Ok(value) = libprocess::http::HeaderValue::from_bytes(&[b"Bearer ", data].concat()) {
        let mut headers = libprocess::http::HeaderMap::new();
        headers.insert(libprocess::http::header::AUTHORIZATION, value);
        let _ = JwtAuthenticator::new("fuzz", key).authenticate(&headers);
    }
}
