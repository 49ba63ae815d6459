//! Helpers on protobuf messages that every component needs, after upstream's
//! `src/common/protobuf_utils.cpp` and libprotobuf's `ParseFromString`:
//!
//! - [`is_terminal_state`] (and `TaskState::is_terminal` on the v0 and v1
//!   enums): the task states no update can follow;
//! - [`decode_checked`]: decoding that refuses messages with absent
//!   `required` fields, as C++ `ParseFromString` does (prost fills them with
//!   defaults instead). The JSON codec ([`crate::json`]) does the same check
//!   for JSON input.
//!
//! The required-field check walks the wire bytes with a per-message plan
//! built once from [`crate::FILE_DESCRIPTOR_SET`], and only descends into
//! fields whose type has a required field somewhere below it. It never
//! panics on any input, never recurses deeper than [`crate::json::MAX_DEPTH`]
//! message levels, and does no I/O.

use std::collections::HashMap;
use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, Kind};

use crate::json::MAX_DEPTH;
use crate::mesos;

/// Whether no status update can follow a task in `state` (upstream
/// `protobuf::isTerminalState`). v0 and v1 `TaskState` share their numbers,
/// so this serves both; unknown numbers are not terminal.
pub fn is_terminal_state(state: i32) -> bool {
    use mesos::v1::TaskState::*;
    matches!(
        mesos::v1::TaskState::try_from(state),
        Ok(TaskFinished
            | TaskFailed
            | TaskKilled
            | TaskLost
            | TaskError
            | TaskDropped
            | TaskGone
            | TaskGoneByOperator)
    )
}

impl mesos::v1::TaskState {
    /// See [`is_terminal_state`].
    pub fn is_terminal(self) -> bool {
        is_terminal_state(self as i32)
    }
}

impl mesos::TaskState {
    /// See [`is_terminal_state`].
    pub fn is_terminal(self) -> bool {
        is_terminal_state(self as i32)
    }
}

/// Why protobuf bytes were refused by [`decode_checked`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a valid encoding of the message.
    #[error("Failed to parse {type_name}: {reason}")]
    Malformed {
        /// Full name of the message type.
        type_name: String,
        /// What prost found wrong.
        reason: String,
    },
    /// The message decoded but required fields are absent (paths like
    /// `subscribe.framework_info.user` or `resources[1].name`, as C++
    /// `InitializationErrorString` writes them).
    #[error("Missing required fields: {}", .0.join(", "))]
    MissingRequiredFields(Vec<String>),
    /// The message type is not in the descriptor set (a build problem).
    #[error("Unknown protobuf message type '{0}'")]
    UnknownType(String),
    /// The embedded descriptor set could not be loaded (a build problem).
    #[error("Protobuf descriptors unavailable: {0}")]
    Descriptors(String),
}

/// Decodes `M` like C++ `ParseFromString`: malformed bytes and messages with
/// absent `required` fields (at any depth) are errors.
pub fn decode_checked<M: prost::Message + prost::Name + Default>(
    bytes: &[u8],
) -> Result<M, DecodeError> {
    let message = M::decode(bytes).map_err(|e| DecodeError::Malformed {
        type_name: M::full_name(),
        reason: e.to_string(),
    })?;
    check_required(&M::full_name(), bytes)?;
    Ok(message)
}

/// Checks that the encoded message of type `type_name` has every required
/// field set, at any depth (C++ `IsInitialized`). Bytes that cannot be
/// walked are [`DecodeError::Malformed`].
pub fn check_required(type_name: &str, bytes: &[u8]) -> Result<(), DecodeError> {
    let plans = plans()?;
    let name = type_name.strip_prefix('.').unwrap_or(type_name);
    let root = *plans
        .by_name
        .get(name)
        .ok_or_else(|| DecodeError::UnknownType(name.to_string()))?;
    let mut walker = Walker {
        plans,
        missing: Vec::new(),
    };
    walker
        .message(root, &[bytes], "", 0)
        .map_err(|reason| DecodeError::Malformed {
            type_name: name.to_string(),
            reason: reason.to_string(),
        })?;
    if walker.missing.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::MissingRequiredFields(walker.missing))
    }
}

// ---------------------------------------------------------------------------
// Plans: per message, the fields that matter for the check.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Singular,
    List,
    /// A map whose values are messages; `string_key` says whether keys are
    /// text (written as-is in paths) or numbers.
    Map {
        string_key: bool,
    },
}

#[derive(Debug)]
struct FieldPlan {
    name: Box<str>,
    number: u32,
    required: bool,
    shape: Shape,
    /// The message type of the field (for maps: of the value), if any.
    message: Option<u32>,
}

#[derive(Debug)]
struct MessagePlan {
    /// Declaration order, which is the order missing fields are reported in.
    fields: Vec<FieldPlan>,
    /// Whether this message or one below it has a required field; walks
    /// skip everything else.
    checked: bool,
}

#[derive(Debug)]
struct Plans {
    messages: Vec<MessagePlan>,
    by_name: HashMap<Box<str>, u32>,
}

static PLANS: LazyLock<Result<Plans, String>> = LazyLock::new(build_plans);

fn plans() -> Result<&'static Plans, DecodeError> {
    PLANS
        .as_ref()
        .map_err(|e| DecodeError::Descriptors(e.clone()))
}

fn build_plans() -> Result<Plans, String> {
    let pool = DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())?;
    let descriptors: Vec<_> = pool.all_messages().collect();
    let mut by_name = HashMap::with_capacity(descriptors.len());
    for (i, m) in descriptors.iter().enumerate() {
        let index = u32::try_from(i).map_err(|_| "too many message types".to_string())?;
        by_name.insert(Box::<str>::from(m.full_name()), index);
    }
    let index_of = |full_name: &str| -> Result<u32, String> {
        by_name
            .get(full_name)
            .copied()
            .ok_or_else(|| format!("unresolved message {full_name}"))
    };

    let mut messages = Vec::with_capacity(descriptors.len());
    for m in &descriptors {
        let mut fields = Vec::new();
        for proto in &m.descriptor_proto().field {
            let number = u32::try_from(proto.number())
                .map_err(|_| format!("bad field number in {}", m.full_name()))?;
            let field = m
                .get_field(number)
                .ok_or_else(|| format!("missing field {number} in {}", m.full_name()))?;
            let (shape, message) = match field.kind() {
                Kind::Message(entry) if field.is_map() => {
                    let value = match entry.map_entry_value_field().kind() {
                        Kind::Message(v) => Some(index_of(v.full_name())?),
                        _ => None,
                    };
                    let string_key = matches!(entry.map_entry_key_field().kind(), Kind::String);
                    (Shape::Map { string_key }, value)
                }
                Kind::Message(inner) => {
                    let shape = if field.is_list() {
                        Shape::List
                    } else {
                        Shape::Singular
                    };
                    (shape, Some(index_of(inner.full_name())?))
                }
                _ => (Shape::Singular, None),
            };
            let required = field.is_required();
            if required || message.is_some() {
                fields.push(FieldPlan {
                    name: field.name().into(),
                    number,
                    required,
                    shape,
                    message,
                });
            }
        }
        let checked = fields.iter().any(|f| f.required);
        messages.push(MessagePlan { fields, checked });
    }

    // Propagate `checked` up through message-typed fields until stable
    // (recursive types make this a fixpoint, not one pass).
    loop {
        let mut changed = false;
        for i in 0..messages.len() {
            if messages[i].checked {
                continue;
            }
            let below = messages[i]
                .fields
                .iter()
                .filter_map(|f| f.message)
                .any(|m| messages.get(m as usize).is_some_and(|p| p.checked));
            if below {
                messages[i].checked = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Fields leading nowhere that matters are dropped from the walk.
    let checked: Vec<bool> = messages.iter().map(|m| m.checked).collect();
    for plan in &mut messages {
        plan.fields.retain(|f| {
            f.required
                || f.message
                    .is_some_and(|m| checked.get(m as usize) == Some(&true))
        });
    }
    Ok(Plans { messages, by_name })
}

// ---------------------------------------------------------------------------
// The walk over wire bytes.
// ---------------------------------------------------------------------------

struct Walker<'p> {
    plans: &'p Plans,
    missing: Vec<String>,
}

/// What one field contributed while scanning a message.
#[derive(Default)]
struct Seen<'b> {
    present: bool,
    /// Singular message: every occurrence (protobuf merges them).
    parts: Vec<&'b [u8]>,
    /// Repeated message: one element per occurrence.
    items: Vec<&'b [u8]>,
    /// Map with message values: (key as written in paths, value parts),
    /// later entries replacing earlier ones with the same key.
    entries: Vec<(String, Vec<&'b [u8]>)>,
}

impl Walker<'_> {
    /// Checks one message given as the concatenation of `chunks` (several
    /// chunks when a singular field occurred more than once: protobuf merges
    /// them, so required fields may come from any of them).
    fn message(
        &mut self,
        index: u32,
        chunks: &[&[u8]],
        prefix: &str,
        depth: usize,
    ) -> Result<(), &'static str> {
        if depth > MAX_DEPTH {
            return Err("message nesting too deep");
        }
        let plans = self.plans;
        let plan = plans
            .messages
            .get(index as usize)
            .ok_or("unknown message type")?;
        if !plan.checked {
            return Ok(());
        }
        let mut seen: Vec<Seen<'_>> = plan.fields.iter().map(|_| Seen::default()).collect();
        for chunk in chunks {
            let mut pos = 0;
            while pos < chunk.len() {
                let key = read_varint(chunk, &mut pos)?;
                let number = u32::try_from(key >> 3).map_err(|_| "bad field number")?;
                let wire_type = (key & 7) as u8;
                let (start, end) = skip_value(chunk, &mut pos, wire_type, number, 0)?;
                let Some(at) = plan.fields.iter().position(|f| f.number == number) else {
                    continue;
                };
                let field = &plan.fields[at];
                let slot = &mut seen[at];
                slot.present = true;
                if field.message.is_none() || wire_type != 2 {
                    continue;
                }
                let payload = chunk.get(start..end).ok_or("truncated field")?;
                match field.shape {
                    Shape::Singular => slot.parts.push(payload),
                    Shape::List => slot.items.push(payload),
                    Shape::Map { string_key } => {
                        let (key, value) = map_entry(payload, string_key)?;
                        slot.entries.retain(|(k, _)| *k != key);
                        slot.entries.push((key, value));
                    }
                }
            }
        }
        for (field, slot) in plan.fields.iter().zip(&seen) {
            if field.required && !slot.present {
                self.missing.push(format!("{prefix}{}", field.name));
                continue;
            }
            let Some(inner) = field.message else { continue };
            if !slot.parts.is_empty() {
                let path = format!("{prefix}{}.", field.name);
                self.message(inner, &slot.parts, &path, depth + 1)?;
            }
            for (i, item) in slot.items.iter().enumerate() {
                let path = format!("{prefix}{}[{i}].", field.name);
                self.message(inner, &[item], &path, depth + 1)?;
            }
            for (key, value) in &slot.entries {
                let path = format!("{prefix}{}[{key}].", field.name);
                self.message(inner, value, &path, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// The key (as text) and the value parts of one map entry. An absent value
/// is an empty message, as protobuf reads it.
fn map_entry(entry: &[u8], string_key: bool) -> Result<(String, Vec<&[u8]>), &'static str> {
    let mut key = if string_key {
        String::new()
    } else {
        "0".to_string()
    };
    let mut value: Vec<&[u8]> = Vec::new();
    let mut pos = 0;
    while pos < entry.len() {
        let tag = read_varint(entry, &mut pos)?;
        let wire_type = (tag & 7) as u8;
        let number = u32::try_from(tag >> 3).map_err(|_| "bad field number")?;
        let (start, end) = skip_value(entry, &mut pos, wire_type, number, 0)?;
        let payload = entry.get(start..end).ok_or("truncated field")?;
        match (number, wire_type) {
            (1, 2) => key = String::from_utf8_lossy(payload).into_owned(),
            (1, 0) => {
                let mut at = 0;
                key = read_varint(payload, &mut at)?.to_string();
            }
            (2, 2) => value.push(payload),
            _ => {}
        }
    }
    if value.is_empty() {
        value.push(&[]);
    }
    Ok((key, value))
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, &'static str> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return Err("varint overflow");
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long")
}

/// Skips one value of `wire_type` at `pos`, returning the span of its
/// payload (for varints and fixed values: the encoded bytes; for groups:
/// the group's contents).
fn skip_value(
    buf: &[u8],
    pos: &mut usize,
    wire_type: u8,
    number: u32,
    depth: usize,
) -> Result<(usize, usize), &'static str> {
    let start = *pos;
    match wire_type {
        0 => {
            read_varint(buf, pos)?;
        }
        1 => *pos = pos.checked_add(8).ok_or("truncated fixed64")?,
        5 => *pos = pos.checked_add(4).ok_or("truncated fixed32")?,
        2 => {
            let len = usize::try_from(read_varint(buf, pos)?).map_err(|_| "length overflow")?;
            let begin = *pos;
            *pos = begin.checked_add(len).ok_or("length overflow")?;
            if *pos > buf.len() {
                return Err("truncated length-delimited field");
            }
            return Ok((begin, *pos));
        }
        3 => {
            // A group (proto2 only; unknown here, skipped to its end tag).
            if depth > MAX_DEPTH {
                return Err("group nesting too deep");
            }
            loop {
                let tag = read_varint(buf, pos)?;
                let inner_type = (tag & 7) as u8;
                let inner_number = u32::try_from(tag >> 3).map_err(|_| "bad field number")?;
                if inner_type == 4 {
                    if inner_number != number {
                        return Err("mismatched end group");
                    }
                    return Ok((start, *pos));
                }
                skip_value(buf, pos, inner_type, inner_number, depth + 1)?;
            }
        }
        _ => return Err("invalid wire type"),
    }
    if *pos > buf.len() {
        return Err("truncated field");
    }
    Ok((start, *pos))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::mesos::v1::scheduler::{call, Call};
    use crate::mesos::v1::{self, FrameworkInfo, TaskState};
    use prost::Message as _;

    #[test]
    fn terminal_states_match_upstream() {
        let terminal = [
            TaskState::TaskFinished,
            TaskState::TaskFailed,
            TaskState::TaskKilled,
            TaskState::TaskLost,
            TaskState::TaskError,
            TaskState::TaskDropped,
            TaskState::TaskGone,
            TaskState::TaskGoneByOperator,
        ];
        let live = [
            TaskState::TaskStaging,
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskKilling,
            TaskState::TaskUnreachable,
            TaskState::TaskUnknown,
        ];
        for state in terminal {
            assert!(is_terminal_state(state as i32), "{state:?}");
            assert!(state.is_terminal());
        }
        for state in live {
            assert!(!is_terminal_state(state as i32), "{state:?}");
            assert!(!state.is_terminal());
        }
        // v0 shares the numbers.
        assert!(mesos::TaskState::TaskFinished.is_terminal());
        assert!(!mesos::TaskState::TaskRunning.is_terminal());
        assert!(!is_terminal_state(-1));
        assert!(!is_terminal_state(1000));
    }

    fn subscribe(framework_info: FrameworkInfo) -> Call {
        Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn complete_messages_decode() {
        let call = subscribe(FrameworkInfo {
            user: "u".into(),
            name: "n".into(),
            ..Default::default()
        });
        let decoded: Call = decode_checked(&call.encode_to_vec()).unwrap();
        assert_eq!(decoded, call);
        // No required fields at all: an empty body is a valid Call.
        assert_eq!(decode_checked::<Call>(&[]).unwrap(), Call::default());
    }

    #[test]
    fn absent_required_fields_are_listed_with_paths() {
        // type = SUBSCRIBE (field 2), subscribe = {} (field 3, empty).
        let error = decode_checked::<Call>(&[0x10, 0x01, 0x1a, 0x00]).unwrap_err();
        assert_eq!(
            error,
            DecodeError::MissingRequiredFields(vec!["subscribe.framework_info".into()])
        );
        assert_eq!(
            error.to_string(),
            "Missing required fields: subscribe.framework_info"
        );

        // prost writes required strings even when empty, so build the
        // bytes by hand: framework_info = { name: "n" } without `user`.
        let info = [0x12, 0x01, b'n']; // field 2 (name) = "n"
        let mut subscribe = vec![0x0a, info.len() as u8];
        subscribe.extend_from_slice(&info);
        let mut bytes = vec![0x10, 0x01, 0x1a, subscribe.len() as u8];
        bytes.extend_from_slice(&subscribe);
        let error = decode_checked::<Call>(&bytes).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Missing required fields: subscribe.framework_info.user"
        );
    }

    #[test]
    fn repeated_elements_are_indexed() {
        // An offer whose second resource lacks its (required) name.
        let mut offer = v1::Offer {
            id: v1::OfferId { value: "o".into() },
            framework_id: v1::FrameworkId { value: "f".into() },
            agent_id: v1::AgentId { value: "a".into() },
            hostname: "h".into(),
            ..Default::default()
        };
        let good = v1::Resource {
            name: "cpus".into(),
            r#type: v1::value::Type::Scalar as i32,
            ..Default::default()
        };
        offer.resources = vec![good.clone(), good];
        let bytes = offer.encode_to_vec();
        assert!(decode_checked::<v1::Offer>(&bytes).is_ok());

        // Re-encode with resource[1] stripped of field 1 (name).
        let mut stripped = offer.clone();
        stripped.resources.truncate(1);
        let mut bytes = stripped.encode_to_vec();
        let resource = [0x10, 0x00]; // type = SCALAR only
        bytes.push(0x2a); // field 5 (resources), length-delimited
        bytes.push(resource.len() as u8);
        bytes.extend_from_slice(&resource);
        assert_eq!(
            decode_checked::<v1::Offer>(&bytes).unwrap_err(),
            DecodeError::MissingRequiredFields(vec!["resources[1].name".into()])
        );
    }

    #[test]
    fn repeated_singular_messages_merge_before_the_check() {
        // framework_info given twice: once with name, once with user.
        let part = |number: u8, text: u8| [(number << 3) | 2, 1, text];
        let mut subscribe = Vec::new();
        for piece in [part(2, b'n'), part(1, b'u')] {
            subscribe.push(0x0a);
            subscribe.push(piece.len() as u8);
            subscribe.extend_from_slice(&piece);
        }
        let mut bytes = vec![0x10, 0x01, 0x1a, subscribe.len() as u8];
        bytes.extend_from_slice(&subscribe);
        let call = decode_checked::<Call>(&bytes).unwrap();
        let info = call.subscribe.unwrap().framework_info;
        assert_eq!((info.user.as_str(), info.name.as_str()), ("u", "n"));
    }

    #[test]
    fn map_values_are_checked_by_key() {
        // TaskInfo.limits is map<string, Value.Scalar> (`value` required).
        let task = v1::TaskInfo {
            name: "t".into(),
            task_id: v1::TaskId { value: "t".into() },
            agent_id: v1::AgentId { value: "a".into() },
            ..Default::default()
        };
        let mut bytes = task.encode_to_vec();
        // limits entry { key: "mem", value: {} }
        let entry = [0x0a, 3, b'm', b'e', b'm', 0x12, 0x00];
        bytes.push(15 << 3 | 2); // field 15 (limits), length-delimited
        bytes.push(entry.len() as u8);
        bytes.extend_from_slice(&entry);
        assert_eq!(
            decode_checked::<v1::TaskInfo>(&bytes).unwrap_err(),
            DecodeError::MissingRequiredFields(vec!["limits[mem].value".into()])
        );
    }

    #[test]
    fn malformed_bytes_are_refused_without_panicking() {
        for bytes in [
            &[0x1a, 0x05, 0x00][..],
            &[0xff; 11][..],
            &[0x0b][..],
            &[0x1a][..],
        ] {
            assert!(matches!(
                decode_checked::<Call>(bytes),
                Err(DecodeError::Malformed { .. })
            ));
        }
        assert!(matches!(
            check_required("no.such.Type", &[]),
            Err(DecodeError::UnknownType(_))
        ));
    }

    #[test]
    fn mutated_bytes_never_panic_and_agree_with_prost() {
        let valid = subscribe(FrameworkInfo {
            user: "u".into(),
            name: "n".into(),
            roles: vec!["a".into(), "b".into()],
            ..Default::default()
        })
        .encode_to_vec();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut bytes = valid.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, next() as u8),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let checked = decode_checked::<Call>(&bytes);
            let plain = Call::decode(bytes.as_slice());
            match checked {
                Ok(call) => assert_eq!(Ok(call), plain.map_err(|_| ())),
                Err(DecodeError::Malformed { .. }) => assert!(plain.is_err()),
                Err(DecodeError::MissingRequiredFields(paths)) => {
                    assert!(plain.is_ok());
                    assert!(!paths.is_empty());
                }
                Err(other) => panic!("unexpected {other}"),
            }
        }
    }

    #[test]
    fn walk_handles_unknown_fields_and_groups() {
        // Unknown field 99 (varint) and an unknown group 98 before `type`.
        let mut bytes = vec![0x98, 0x06, 0x01]; // field 99, varint 1
        bytes.extend_from_slice(&[0x93, 0x06, 0x08, 0x01, 0x94, 0x06]); // group 98 { 1: 1 }
        bytes.extend_from_slice(&[0x10, 0x01, 0x1a, 0x00]);
        assert!(check_required("mesos.v1.scheduler.Call", &bytes).is_err());
        assert_eq!(
            check_required("mesos.v1.scheduler.Call", &bytes[..9]),
            Ok(())
        );
    }
}
