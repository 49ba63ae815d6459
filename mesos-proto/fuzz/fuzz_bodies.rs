//! The bodies of the `mesos-proto` fuzz targets, shared (through `#[path]`)
//! by the cargo-fuzz binaries in `fuzz_targets/` and by the ordinary test
//! `mesos-proto/tests/fuzz_corpus_replay.rs`, which replays every corpus and
//! regression file through them.
//!
//! Each body must return normally for every input; a panic (including a
//! failed `assert!`) is a finding. Beyond "no panic" they check properties
//! that must hold for anything the decoders accept: re-encoding is stable,
//! v0 ⇄ v1 conversion round-trips, RecordIO decoding does not depend on how
//! the stream is chunked, and parsed `Resources` obey their arithmetic.

#![allow(dead_code)] // Each fuzz binary uses one body.

use mesos_proto::mesos::v1;
use mesos_proto::mesos::v1::resource::reservation_info::Type as ReservationType;
use mesos_proto::{convert, json, recordio, resources};
use prost::Message;

/// JSON bodies as the v1 HTTP APIs receive them. Anything that decodes must
/// re-encode to JSON that decodes to the same JSON again.
pub fn json_decode(data: &[u8]) {
    json_round_trip::<v1::scheduler::Call>(data);
    json_round_trip::<v1::executor::Call>(data);
    json_round_trip::<v1::master::Call>(data);
    json_round_trip::<v1::agent::Call>(data);
}

fn json_round_trip<M: Message + prost::Name + Default>(data: &[u8]) {
    let Ok(message) = json::decode::<M>(data) else {
        return;
    };
    let first = json::encode(&message);
    let again = match json::decode::<M>(first.as_bytes()) {
        Ok(again) => again,
        Err(e) => panic!("{}: own JSON does not decode: {e}\n{first}", M::full_name()),
    };
    let second = json::encode(&again);
    assert_eq!(first, second, "{}: JSON is not stable", M::full_name());
    assert!(first.is_ascii(), "{}: JSON is not ASCII", M::full_name());
    let _ = json::to_value(&message);
}

/// Equal messages. `==` fails on NaN doubles and byte comparison on map
/// fields (prost writes a `HashMap` in hash order); the JSON value (NaN as
/// `"NaN"`, maps as objects) covers a NaN in a message that has a map.
fn same<M: Message + prost::Name + PartialEq>(a: &M, b: &M) -> bool {
    a == b || a.encode_to_vec() == b.encode_to_vec() || json::to_value(a) == json::to_value(b)
}

/// Protobuf bytes → message → bytes must be stable; JSON writing must not
/// fail for a decoded message.
fn proto_round_trip<M: Message + prost::Name + Default + PartialEq>(data: &[u8]) -> Option<M> {
    let message = M::decode(data).ok()?;
    let bytes = message.encode_to_vec();
    let again = match M::decode(bytes.as_slice()) {
        Ok(again) => again,
        Err(e) => panic!("{}: own encoding does not decode: {e}", M::full_name()),
    };
    assert!(
        same(&message, &again),
        "{}: encoding is not stable",
        M::full_name()
    );
    // prost limits recursion to 100 levels on decode, like json's MAX_DEPTH,
    // so a decoded message is always writable.
    let text = match json::try_encode(&message) {
        Ok(text) => text,
        Err(e) => panic!("{}: cannot write JSON: {e}", M::full_name()),
    };
    // Reading it back may legitimately fail (e.g. an enum number the schema
    // does not know is not written), but must not panic.
    let _ = json::decode::<M>(text.as_bytes());
    Some(message)
}

/// `v1.scheduler.Call` protobuf bodies; also v1 → v0 → v1.
pub fn scheduler_call_proto(data: &[u8]) {
    let Some(call) = proto_round_trip::<v1::scheduler::Call>(data) else {
        return;
    };
    let v0 = convert::devolve_scheduler_call(&call);
    let back = convert::evolve_scheduler_call(&v0);
    assert!(same(&call, &back), "scheduler Call changed through v0");
}

/// `v1.executor.Call` protobuf bodies; also v1 → v0 → v1.
pub fn executor_call_proto(data: &[u8]) {
    let Some(call) = proto_round_trip::<v1::executor::Call>(data) else {
        return;
    };
    let v0: mesos_proto::mesos::executor::Call = convert::devolve(&call);
    let back: v1::executor::Call = convert::evolve(&v0);
    assert!(same(&call, &back), "executor Call changed through v0");
}

/// `v1.master.Call` protobuf bodies; also v1 → v0 → v1 when the drain grace
/// period is a normalised duration (others legitimately change value).
pub fn master_call_proto(data: &[u8]) {
    let Some(call) = proto_round_trip::<v1::master::Call>(data) else {
        return;
    };
    let v0 = convert::devolve_master_call(&call);
    let back = convert::evolve_master_call(&v0);
    let normalised = call
        .drain_agent
        .as_ref()
        .and_then(|d| d.max_grace_period.as_ref())
        .is_none_or(|d| {
            (0..1_000_000_000).contains(&d.nanos) && (0..=9_000_000_000).contains(&d.seconds)
        });
    if normalised {
        assert!(same(&call, &back), "master Call changed through v0");
    }
}

/// A RecordIO stream. `data[0]` picks the chunk sizes, `data[1]` the
/// decoder's record size limit, the rest is the stream. Decoding it in
/// chunks must give exactly what decoding it whole gives.
pub fn recordio_decode(data: &[u8]) {
    let [pattern, limit, stream @ ..] = data else {
        return;
    };
    let max = usize::from(*limit) * 8;

    let whole = decode_stream(max, std::iter::once(stream));

    let mut chunks = Vec::new();
    let mut rest = stream;
    let mut i = 0usize;
    while !rest.is_empty() {
        // Sizes 1..=16 cycling with the pattern byte.
        let size = (usize::from(pattern.rotate_left(i as u32 % 8)) % 16 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
        i += 1;
    }
    let chunked = decode_stream(max, chunks.into_iter());
    assert_eq!(whole, chunked, "chunking changed the result");

    // What decoded must re-encode to a stream that decodes the same way.
    let (records, _) = &whole;
    let mut out = bytes::BytesMut::new();
    for record in records {
        recordio::encode_into(record, &mut out);
    }
    let (again, error) = decode_stream(max, std::iter::once(&out[..]));
    assert_eq!(&again, records);
    assert_eq!(error, None);
}

type Decoded = (Vec<bytes::Bytes>, Option<recordio::RecordIoError>);

fn decode_stream<'a>(max: usize, chunks: impl Iterator<Item = &'a [u8]>) -> Decoded {
    let mut decoder = recordio::Decoder::new(max);
    let mut records = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk);
        loop {
            match decoder.next_record() {
                Ok(Some(record)) => {
                    assert!(record.len() <= max, "record over the limit");
                    records.push(record);
                }
                Ok(None) => break,
                Err(e) => return (records, Some(e)),
            }
        }
    }
    (records, None)
}

/// The agent `--resources` text (or JSON array). Whatever parses must obey
/// the arithmetic laws and survive the pre-refinement format round trip.
pub fn resources_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = resources::Resources::parse(text, "*") else {
        return;
    };
    for resource in parsed.iter() {
        assert!(
            resources::validate(resource).is_ok(),
            "parse kept an invalid resource"
        );
    }
    let double = &parsed + &parsed;
    assert!(double.contains(&parsed));
    let same = parsed.clone();
    assert!((&parsed - &same).is_empty(), "r - r is not empty");
    assert!(parsed.contains(&(&double - &parsed)));
    // The old format has nowhere to put a principal or labels on a STATIC
    // reservation (upstream drops them too), so only compare without those.
    let representable = parsed.iter().all(|r| {
        r.reservations.iter().all(|res| {
            res.r#type() != ReservationType::Static
                || (res.principal.is_none() && res.labels.is_none())
        })
    });
    let mut pre = parsed.to_pre_refinement();
    resources::from_pre_refinement(&mut pre);
    let back = resources::Resources::try_from_vec(pre);
    assert!(back.is_ok(), "pre-refinement format is invalid");
    if representable {
        assert!(
            back.is_ok_and(|r| r == parsed),
            "pre-refinement round trip changed {parsed}"
        );
    }
    let _ = parsed.to_string();
}
