//! The body of the `mesos-authorizer` fuzz target, shared (through
//! `#[path]`) by the cargo-fuzz binary in `fuzz_targets/` and by the
//! ordinary test `authorizer/tests/fuzz_corpus_replay.rs`, which replays
//! every corpus and regression file through it.
//!
//! The input is an `--acls` value. Beyond "no panic" it checks what any
//! accepted document must satisfy: inline JSON and the parser agree, an
//! action without rules falls back to `permissive`, answers do not change
//! between two identical questions, and re-serializing the JSON does not
//! change what it means.

#![allow(dead_code)]

use mesos_authorizer::{Acls, Authorizer};

/// Subjects and objects asked about: absent, empty, and the strings that
/// occur in the seeds (so listed values are hit, not only ANY/NONE).
const NAMES: &[Option<&str>] = &[
    None,
    Some(""),
    Some("foo"),
    Some("bar"),
    Some("ops"),
    Some("*"),
    Some("/metrics/snapshot"),
    Some("root"),
];

pub fn acls_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Acls::parse(text);
    if text.trim_start().starts_with('{') {
        assert_eq!(
            Acls::from_flag(text),
            parsed,
            "--acls inline and the parser disagree"
        );
    }
    let Ok(acls) = parsed else {
        return;
    };
    let kinds: Vec<&'static str> = acls.kinds().collect();
    for kind in &kinds {
        for subject in NAMES {
            for object in NAMES {
                let first = acls.allowed(kind, *subject, *object);
                assert_eq!(first, acls.allowed(kind, *subject, *object));
                // An empty rule list is no rule at all.
                if !acls.has_rules(kind) {
                    assert_eq!(first, acls.permissive, "empty '{kind}' decided a request");
                }
            }
        }
    }
    // Layout is not meaning: the same document re-serialized parses the same.
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let compact = value.to_string();
        assert_eq!(
            Acls::parse(&compact).as_ref().ok(),
            Some(&acls),
            "re-serialized ACLs parse differently"
        );
    }
    // An action no rule names is decided by `permissive` alone.
    for subject in NAMES {
        assert_eq!(
            acls.allowed("no_such_action", *subject, Some("x")),
            acls.permissive
        );
    }
    let authorizer = Authorizer::new(Some(acls.clone()));
    for subject in NAMES {
        for endpoint in NAMES {
            let _ = authorizer.may_get_endpoint(*subject, *endpoint);
        }
    }
}
