//! The Mesos protobuf ⇄ JSON mapping (stout's `JSON::protobuf` / `protobuf::parse`,
//! not the proto3 JSON mapping).
//!
//! This module owns the conversion between protobuf messages and the JSON text
//! that Mesos endpoints and clients exchange:
//!
//! - **writing** ([`encode`], [`encode_into`], [`to_value`], [`encode_dynamic`]):
//!   proto field names, enum value names, bare JSON numbers for every integer,
//!   rapidjson-style doubles (`64.0`, bare `NaN`/`Infinity`/`-Infinity`), padded
//!   standard base64 for bytes, empty repeated fields omitted, maps as objects,
//!   unset fields written only when they declare an explicit, non-deprecated
//!   `[default = …]`, keys in declaration order, single-line ASCII output;
//! - **reading** ([`decode`], [`from_value`], [`decode_dynamic`]): lookup by proto
//!   field name only, unknown keys ignored, `null` = unset, strings accepted for
//!   numbers and bools, bare `NaN`/`Infinity` tolerated, lenient base64, required
//!   fields checked afterwards ("Missing required fields: …").
//!
//! Both directions work on the protobuf wire bytes with a per-message "plan"
//! built once from [`crate::FILE_DESCRIPTOR_SET`]: writing walks the encoded
//! bytes directly (no `DynamicMessage` per message, one output `String`),
//! reading builds wire bytes from the JSON and lets prost decode them.
//!
//! Deliberate differences from upstream, all lenient or cosmetic:
//! non-ASCII text is written as `\uXXXX` escapes (upstream writes raw UTF-8;
//! some clients count characters); map entries are written sorted by key
//! (upstream order is unspecified); reading also accepts the legacy
//! `[{"key":…,"value":…}]` form for maps and a lone value for a repeated field
//! (upstream adds it as one element too); floats given for integer fields are
//! truncated like C++ but out-of-range values are errors instead of wrapping.
//!
//! This module must never panic on any input (JSON text, JSON values or
//! protobuf bytes), never recurse deeper than [`MAX_DEPTH`] message levels, and
//! does no I/O.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use base64::Engine as _;
use prost_reflect::{DescriptorPool, Kind};
use serde_json::{Map, Value};

/// Most levels of messages nested below the root accepted in either
/// direction (hostile inputs get an error instead of exhausting the stack).
/// Equal to prost's decode recursion limit, so any message prost decoded can
/// be written, and anything read here prost can decode.
pub const MAX_DEPTH: usize = 100;

/// Everything that can go wrong converting between JSON and protobuf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The input is not JSON (also for truncated input).
    #[error("Failed to parse JSON: {0}")]
    Syntax(String),
    /// Parsing succeeded but required fields are absent (paths like
    /// `framework_info.user` or `resources[0].name`).
    #[error("Missing required fields: {}", .0.join(", "))]
    MissingRequiredFields(Vec<String>),
    /// A JSON value does not fit the protobuf field it is given for.
    #[error("{0}")]
    Invalid(String),
    /// Messages nest deeper than [`MAX_DEPTH`].
    #[error("Message nesting exceeds the maximum depth of {MAX_DEPTH}")]
    TooDeep,
    /// The protobuf type name is not in the descriptor set.
    #[error("Unknown protobuf message type '{0}'")]
    UnknownType(String),
    /// Protobuf bytes given for writing are malformed.
    #[error("Failed to decode protobuf '{type_name}': {reason}")]
    InvalidProtobuf {
        /// Full name of the message type being decoded.
        type_name: String,
        /// What was wrong with the bytes.
        reason: String,
    },
    /// The embedded descriptor set could not be loaded (a build problem).
    #[error("Protobuf descriptors unavailable: {0}")]
    Descriptors(String),
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/// Writes `msg` as Mesos JSON (single line, ASCII only).
///
/// A message built by prost always converts; the only failure is nesting
/// deeper than [`MAX_DEPTH`], in which case `{}` is returned (use
/// [`try_encode`] to see the error).
pub fn encode<M: prost::Message + prost::Name>(msg: &M) -> String {
    try_encode(msg).unwrap_or_else(|_| "{}".to_owned())
}

/// Like [`encode`] but reports failures.
pub fn try_encode<M: prost::Message + prost::Name>(msg: &M) -> Result<String, JsonError> {
    let bytes = msg.encode_to_vec();
    let mut out = String::with_capacity(json_capacity(bytes.len()));
    write_root(&M::full_name(), &bytes, &mut TextSink::new(&mut out))?;
    Ok(out)
}

/// Mesos JSON is typically 3-4 times the protobuf size; reserving that up
/// front avoids re-copying large documents while they grow.
fn json_capacity(protobuf_len: usize) -> usize {
    protobuf_len.saturating_mul(4).saturating_add(64)
}

/// Appends the Mesos JSON of `msg` to `out` (for callers assembling larger
/// documents without an intermediate `String`). On failure (nesting deeper than
/// [`MAX_DEPTH`]) `out` is left unchanged.
pub fn encode_into<M: prost::Message + prost::Name>(
    msg: &M,
    out: &mut String,
) -> Result<(), JsonError> {
    let bytes = msg.encode_to_vec();
    let mark = out.len();
    let result = write_root(&M::full_name(), &bytes, &mut TextSink::new(out));
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// The Mesos JSON of `msg` as a `serde_json::Value`.
///
/// `Value` cannot hold NaN or ±Infinity, so those doubles become the strings
/// `"NaN"`, `"Infinity"` and `"-Infinity"` (which [`from_value`] accepts back).
/// Object keys come out sorted (serde_json's map), not in declaration order.
/// On failure (nesting deeper than [`MAX_DEPTH`]) an empty object is returned.
pub fn to_value<M: prost::Message + prost::Name>(msg: &M) -> Value {
    let bytes = msg.encode_to_vec();
    let mut sink = ValueSink::default();
    match write_root(&M::full_name(), &bytes, &mut sink) {
        Ok(()) => sink.root.unwrap_or_else(|| Value::Object(Map::new())),
        Err(_) => Value::Object(Map::new()),
    }
}

/// Parses Mesos JSON text into `M`.
pub fn decode<M: prost::Message + prost::Name + Default>(bytes: &[u8]) -> Result<M, JsonError> {
    let value = parse_json(bytes)?;
    from_value(&value)
}

/// Converts an already parsed JSON value into `M`.
pub fn from_value<M: prost::Message + prost::Name + Default>(v: &Value) -> Result<M, JsonError> {
    let type_name = M::full_name();
    let wire = value_to_wire(&type_name, v)?;
    M::decode(wire.as_slice()).map_err(|e| JsonError::InvalidProtobuf {
        type_name,
        reason: e.to_string(),
    })
}

/// Writes the protobuf bytes of message type `type_name` (e.g.
/// `"mesos.v1.scheduler.Call"`) as Mesos JSON. Malformed bytes are an error.
pub fn encode_dynamic(type_name: &str, protobuf_bytes: &[u8]) -> Result<String, JsonError> {
    let mut out = String::with_capacity(json_capacity(protobuf_bytes.len()));
    write_root(type_name, protobuf_bytes, &mut TextSink::new(&mut out))?;
    Ok(out)
}

/// Parses Mesos JSON text as message type `type_name` and returns its
/// protobuf encoding.
pub fn decode_dynamic(type_name: &str, json_bytes: &[u8]) -> Result<Vec<u8>, JsonError> {
    let value = parse_json(json_bytes)?;
    value_to_wire(type_name, &value)
}

// ---------------------------------------------------------------------------
// Schema: per-message plans built once from the descriptor set
// ---------------------------------------------------------------------------

/// Protobuf field types; message and enum types index into [`Schema`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Double,
    Float,
    Int32,
    Int64,
    UInt32,
    UInt64,
    SInt32,
    SInt64,
    Fixed32,
    Fixed64,
    SFixed32,
    SFixed64,
    Bool,
    Str,
    Bytes,
    Enum(u32),
    Message(u32),
}

impl Ty {
    fn wire_type(self) -> u8 {
        match self {
            Ty::Double | Ty::Fixed64 | Ty::SFixed64 => 1,
            Ty::Float | Ty::Fixed32 | Ty::SFixed32 => 5,
            Ty::Str | Ty::Bytes | Ty::Message(_) => 2,
            _ => 0,
        }
    }

    fn packable(self) -> bool {
        !matches!(self, Ty::Str | Ty::Bytes | Ty::Message(_))
    }
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Singular,
    List,
    Map { entry: u32, key: Ty, value: Ty },
}

/// A scalar default value, kept both as data (for `Value` output) and as
/// pre-rendered JSON text (for the text writer's hot path).
#[derive(Debug)]
struct DefaultValue {
    scalar: DefaultScalar,
    text: Box<str>,
}

#[derive(Debug)]
enum DefaultScalar {
    F64(f64),
    I64(i64),
    U64(u64),
    Bool(bool),
    Str(Box<str>),
    Bytes(Box<[u8]>),
}

#[derive(Debug)]
struct FieldPlan {
    name: Box<str>,
    /// `"name":` ready to append.
    json_key: Box<str>,
    number: u32,
    ty: Ty,
    shape: Shape,
    required: bool,
    /// Present when an unset singular field must still be written.
    default: Option<DefaultValue>,
}

#[derive(Debug)]
enum NumberIndex {
    /// `table[number]` = declaration index, `u32::MAX` if none.
    Dense(Vec<u32>),
    /// Sorted `(number, declaration index)` for messages with huge numbers.
    Sorted(Vec<(u32, u32)>),
}

#[derive(Debug)]
struct MessagePlan {
    full_name: Box<str>,
    /// Declaration order.
    fields: Vec<FieldPlan>,
    by_number: NumberIndex,
    by_name: HashMap<Box<str>, u32>,
}

impl MessagePlan {
    fn field_index(&self, number: u32) -> Option<usize> {
        match &self.by_number {
            NumberIndex::Dense(table) => match table.get(number as usize) {
                Some(&i) if i != u32::MAX => Some(i as usize),
                _ => None,
            },
            NumberIndex::Sorted(pairs) => pairs
                .binary_search_by_key(&number, |&(n, _)| n)
                .ok()
                .and_then(|at| pairs.get(at))
                .map(|&(_, i)| i as usize),
        }
    }
}

#[derive(Debug)]
struct EnumPlan {
    /// Sorted by number; for aliases the first declared name is kept.
    by_number: Vec<(i32, Box<str>)>,
    by_name: HashMap<Box<str>, i32>,
}

impl EnumPlan {
    fn name(&self, number: i32) -> Option<&str> {
        self.by_number
            .binary_search_by_key(&number, |(n, _)| *n)
            .ok()
            .and_then(|at| self.by_number.get(at))
            .map(|(_, name)| &**name)
    }
}

#[derive(Debug)]
struct Schema {
    messages: Vec<MessagePlan>,
    enums: Vec<EnumPlan>,
    by_name: HashMap<Box<str>, u32>,
}

impl Schema {
    fn message(&self, index: u32) -> Result<&MessagePlan, JsonError> {
        self.messages
            .get(index as usize)
            .ok_or_else(|| JsonError::Descriptors(format!("no message #{index}")))
    }

    fn enum_plan(&self, index: u32) -> Result<&EnumPlan, JsonError> {
        self.enums
            .get(index as usize)
            .ok_or_else(|| JsonError::Descriptors(format!("no enum #{index}")))
    }

    fn lookup(&self, type_name: &str) -> Result<u32, JsonError> {
        let name = type_name.strip_prefix('.').unwrap_or(type_name);
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| JsonError::UnknownType(name.to_owned()))
    }
}

static SCHEMA: LazyLock<Result<Schema, String>> = LazyLock::new(build_schema);

fn schema() -> Result<&'static Schema, JsonError> {
    SCHEMA
        .as_ref()
        .map_err(|e| JsonError::Descriptors(e.clone()))
}

fn build_schema() -> Result<Schema, String> {
    let pool = DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())?;
    let messages: Vec<_> = pool.all_messages().collect();
    let enums: Vec<_> = pool.all_enums().collect();

    let mut message_index = HashMap::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        message_index.insert(Box::<str>::from(m.full_name()), index_u32(i)?);
    }
    let mut enum_index = HashMap::with_capacity(enums.len());
    for (i, e) in enums.iter().enumerate() {
        enum_index.insert(Box::<str>::from(e.full_name()), index_u32(i)?);
    }

    let mut enum_plans = Vec::with_capacity(enums.len());
    for e in &enums {
        let mut by_number: Vec<(i32, Box<str>)> =
            e.values().map(|v| (v.number(), v.name().into())).collect();
        // Stable sort + dedup keeps the first declared alias, like C++'s
        // FindValueByNumber.
        by_number.sort_by_key(|(n, _)| *n);
        by_number.dedup_by_key(|(n, _)| *n);
        let by_name = e.values().map(|v| (v.name().into(), v.number())).collect();
        enum_plans.push(EnumPlan { by_number, by_name });
    }

    let ty_of = |kind: Kind| -> Result<Ty, String> {
        Ok(match kind {
            Kind::Double => Ty::Double,
            Kind::Float => Ty::Float,
            Kind::Int32 => Ty::Int32,
            Kind::Int64 => Ty::Int64,
            Kind::Uint32 => Ty::UInt32,
            Kind::Uint64 => Ty::UInt64,
            Kind::Sint32 => Ty::SInt32,
            Kind::Sint64 => Ty::SInt64,
            Kind::Fixed32 => Ty::Fixed32,
            Kind::Fixed64 => Ty::Fixed64,
            Kind::Sfixed32 => Ty::SFixed32,
            Kind::Sfixed64 => Ty::SFixed64,
            Kind::Bool => Ty::Bool,
            Kind::String => Ty::Str,
            Kind::Bytes => Ty::Bytes,
            Kind::Message(m) => Ty::Message(
                *message_index
                    .get(m.full_name())
                    .ok_or_else(|| format!("unresolved message {}", m.full_name()))?,
            ),
            Kind::Enum(e) => Ty::Enum(
                *enum_index
                    .get(e.full_name())
                    .ok_or_else(|| format!("unresolved enum {}", e.full_name()))?,
            ),
        })
    };

    let mut plans = Vec::with_capacity(messages.len());
    for m in &messages {
        let mut fields = Vec::new();
        // The raw descriptor lists fields in declaration order, which is the
        // order upstream writes them in.
        for proto in &m.descriptor_proto().field {
            let number = u32::try_from(proto.number())
                .map_err(|_| format!("bad field number in {}", m.full_name()))?;
            let fd = m
                .get_field(number)
                .ok_or_else(|| format!("missing field {number} in {}", m.full_name()))?;
            let ty = ty_of(fd.kind())?;
            let shape = if fd.is_map() {
                match fd.kind() {
                    Kind::Message(entry) => Shape::Map {
                        entry: match ty {
                            Ty::Message(i) => i,
                            _ => return Err("map entry is not a message".to_owned()),
                        },
                        key: ty_of(entry.map_entry_key_field().kind())?,
                        value: ty_of(entry.map_entry_value_field().kind())?,
                    },
                    _ => return Err("map field without entry message".to_owned()),
                }
            } else if fd.is_list() {
                Shape::List
            } else {
                Shape::Singular
            };
            let deprecated = proto
                .options
                .as_ref()
                .and_then(|o| o.deprecated)
                .unwrap_or(false);
            let default =
                if matches!(shape, Shape::Singular) && proto.default_value.is_some() && !deprecated
                {
                    render_default(&fd.default_value(), ty, &enum_plans)
                } else {
                    None
                };
            let name: Box<str> = fd.name().into();
            let mut json_key = String::with_capacity(name.len() + 3);
            write_json_string(&mut json_key, &name);
            json_key.push(':');
            fields.push(FieldPlan {
                name,
                json_key: json_key.into(),
                number,
                ty,
                shape,
                required: fd.is_required(),
                default,
            });
        }

        let max_number = fields.iter().map(|f| f.number).max().unwrap_or(0);
        let by_number = if max_number <= 4096 {
            let mut table = vec![u32::MAX; max_number as usize + 1];
            for (i, f) in fields.iter().enumerate() {
                if let Some(slot) = table.get_mut(f.number as usize) {
                    *slot = index_u32(i)?;
                }
            }
            NumberIndex::Dense(table)
        } else {
            let mut pairs = Vec::with_capacity(fields.len());
            for (i, f) in fields.iter().enumerate() {
                pairs.push((f.number, index_u32(i)?));
            }
            pairs.sort_unstable();
            NumberIndex::Sorted(pairs)
        };
        let mut by_name = HashMap::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            by_name.insert(f.name.clone(), index_u32(i)?);
        }
        plans.push(MessagePlan {
            full_name: m.full_name().into(),
            fields,
            by_number,
            by_name,
        });
    }

    Ok(Schema {
        messages: plans,
        enums: enum_plans,
        by_name: message_index,
    })
}

fn index_u32(i: usize) -> Result<u32, String> {
    u32::try_from(i).map_err(|_| "descriptor set too large".to_owned())
}

fn render_default(
    value: &prost_reflect::Value,
    ty: Ty,
    enums: &[EnumPlan],
) -> Option<DefaultValue> {
    use prost_reflect::Value as R;
    let scalar = match (value, ty) {
        (R::F64(v), _) => DefaultScalar::F64(*v),
        (R::F32(v), _) => DefaultScalar::F64(f64::from(*v)),
        (R::I32(v), _) => DefaultScalar::I64(i64::from(*v)),
        (R::I64(v), _) => DefaultScalar::I64(*v),
        (R::U32(v), _) => DefaultScalar::U64(u64::from(*v)),
        (R::U64(v), _) => DefaultScalar::U64(*v),
        (R::Bool(v), _) => DefaultScalar::Bool(*v),
        (R::String(v), _) => DefaultScalar::Str(v.as_str().into()),
        (R::Bytes(v), _) => DefaultScalar::Bytes(v.to_vec().into()),
        (R::EnumNumber(n), Ty::Enum(e)) => {
            DefaultScalar::Str(enums.get(e as usize)?.name(*n)?.into())
        }
        _ => return None,
    };
    let mut text = String::new();
    let mut sink = TextSink::new(&mut text);
    sink.default_scalar(&scalar);
    Some(DefaultValue {
        scalar,
        text: text.into(),
    })
}

// ---------------------------------------------------------------------------
// Writing: protobuf wire bytes → JSON
// ---------------------------------------------------------------------------

/// Receives the JSON structure as the writer walks a message.
trait Sink {
    fn key(&mut self, field: &FieldPlan);
    fn map_key(&mut self, key: &MapKey<'_>);
    fn begin_object(&mut self);
    fn end_object(&mut self);
    fn begin_array(&mut self);
    fn end_array(&mut self);
    fn string(&mut self, s: &str);
    fn bytes(&mut self, b: &[u8]);
    fn int(&mut self, v: i64);
    fn uint(&mut self, v: u64);
    fn double(&mut self, v: f64);
    fn boolean(&mut self, v: bool);
    fn default_value(&mut self, d: &DefaultValue);
}

/// Writes compact JSON text straight into a `String`.
struct TextSink<'a> {
    out: &'a mut String,
    need_comma: bool,
}

impl<'a> TextSink<'a> {
    fn new(out: &'a mut String) -> Self {
        TextSink {
            out,
            need_comma: false,
        }
    }

    fn comma(&mut self) {
        if self.need_comma {
            self.out.push(',');
        }
    }

    fn default_scalar(&mut self, d: &DefaultScalar) {
        match d {
            DefaultScalar::F64(v) => self.double(*v),
            DefaultScalar::I64(v) => self.int(*v),
            DefaultScalar::U64(v) => self.uint(*v),
            DefaultScalar::Bool(v) => self.boolean(*v),
            DefaultScalar::Str(v) => self.string(v),
            DefaultScalar::Bytes(v) => self.bytes(v),
        }
    }
}

impl Sink for TextSink<'_> {
    fn key(&mut self, field: &FieldPlan) {
        self.comma();
        self.out.push_str(&field.json_key);
        self.need_comma = false;
    }

    fn map_key(&mut self, key: &MapKey<'_>) {
        self.comma();
        match key {
            MapKey::Str(s) => write_json_string(self.out, s),
            MapKey::Int(v) => {
                self.out.push('"');
                write_i64(self.out, *v);
                self.out.push('"');
            }
            MapKey::UInt(v) => {
                self.out.push('"');
                write_u64(self.out, *v);
                self.out.push('"');
            }
            MapKey::Bool(v) => self.out.push_str(if *v { "\"true\"" } else { "\"false\"" }),
        }
        self.out.push(':');
        self.need_comma = false;
    }

    fn begin_object(&mut self) {
        self.comma();
        self.out.push('{');
        self.need_comma = false;
    }

    fn end_object(&mut self) {
        self.out.push('}');
        self.need_comma = true;
    }

    fn begin_array(&mut self) {
        self.comma();
        self.out.push('[');
        self.need_comma = false;
    }

    fn end_array(&mut self) {
        self.out.push(']');
        self.need_comma = true;
    }

    fn string(&mut self, s: &str) {
        self.comma();
        write_json_string(self.out, s);
        self.need_comma = true;
    }

    fn bytes(&mut self, b: &[u8]) {
        self.comma();
        self.out.push('"');
        base64::engine::general_purpose::STANDARD.encode_string(b, self.out);
        self.out.push('"');
        self.need_comma = true;
    }

    fn int(&mut self, v: i64) {
        self.comma();
        write_i64(self.out, v);
        self.need_comma = true;
    }

    fn uint(&mut self, v: u64) {
        self.comma();
        write_u64(self.out, v);
        self.need_comma = true;
    }

    fn double(&mut self, v: f64) {
        self.comma();
        write_double(self.out, v);
        self.need_comma = true;
    }

    fn boolean(&mut self, v: bool) {
        self.comma();
        self.out.push_str(if v { "true" } else { "false" });
        self.need_comma = true;
    }

    fn default_value(&mut self, d: &DefaultValue) {
        self.comma();
        self.out.push_str(&d.text);
        self.need_comma = true;
    }
}

/// Builds a `serde_json::Value` tree.
#[derive(Default)]
struct ValueSink {
    stack: Vec<Frame>,
    root: Option<Value>,
}

enum Frame {
    Object(Map<String, Value>, Option<String>),
    Array(Vec<Value>),
}

impl ValueSink {
    fn put(&mut self, v: Value) {
        match self.stack.last_mut() {
            Some(Frame::Object(map, key)) => {
                if let Some(k) = key.take() {
                    map.insert(k, v);
                }
            }
            Some(Frame::Array(items)) => items.push(v),
            None => self.root = Some(v),
        }
    }

    fn set_key(&mut self, k: String) {
        if let Some(Frame::Object(_, key)) = self.stack.last_mut() {
            *key = Some(k);
        }
    }
}

impl Sink for ValueSink {
    fn key(&mut self, field: &FieldPlan) {
        self.set_key(field.name.to_string());
    }

    fn map_key(&mut self, key: &MapKey<'_>) {
        let k = match key {
            MapKey::Str(s) => (*s).to_owned(),
            MapKey::Int(v) => v.to_string(),
            MapKey::UInt(v) => v.to_string(),
            MapKey::Bool(v) => v.to_string(),
        };
        self.set_key(k);
    }

    fn begin_object(&mut self) {
        self.stack.push(Frame::Object(Map::new(), None));
    }

    fn end_object(&mut self) {
        if let Some(Frame::Object(map, _)) = self.stack.pop() {
            self.put(Value::Object(map));
        }
    }

    fn begin_array(&mut self) {
        self.stack.push(Frame::Array(Vec::new()));
    }

    fn end_array(&mut self) {
        if let Some(Frame::Array(items)) = self.stack.pop() {
            self.put(Value::Array(items));
        }
    }

    fn string(&mut self, s: &str) {
        self.put(Value::String(s.to_owned()));
    }

    fn bytes(&mut self, b: &[u8]) {
        self.put(Value::String(
            base64::engine::general_purpose::STANDARD.encode(b),
        ));
    }

    fn int(&mut self, v: i64) {
        self.put(Value::from(v));
    }

    fn uint(&mut self, v: u64) {
        self.put(Value::from(v));
    }

    fn double(&mut self, v: f64) {
        let value = match serde_json::Number::from_f64(v) {
            Some(n) => Value::Number(n),
            None if v.is_nan() => Value::String("NaN".to_owned()),
            None if v > 0.0 => Value::String("Infinity".to_owned()),
            None => Value::String("-Infinity".to_owned()),
        };
        self.put(value);
    }

    fn boolean(&mut self, v: bool) {
        self.put(Value::Bool(v));
    }

    fn default_value(&mut self, d: &DefaultValue) {
        match &d.scalar {
            DefaultScalar::F64(v) => self.double(*v),
            DefaultScalar::I64(v) => self.int(*v),
            DefaultScalar::U64(v) => self.uint(*v),
            DefaultScalar::Bool(v) => self.boolean(*v),
            DefaultScalar::Str(v) => self.string(v),
            DefaultScalar::Bytes(v) => self.bytes(v),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum MapKey<'a> {
    Str(&'a str),
    Int(i64),
    UInt(u64),
    Bool(bool),
}

/// One occurrence of a known field in a message's wire bytes.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// Declaration index of the field.
    field: u32,
    /// The value's bytes (for length-delimited values, without the length).
    start: usize,
    end: usize,
}

/// A decoded scalar, borrowing strings and bytes from the input.
enum Scalar<'a> {
    Int(i64),
    UInt(u64),
    Double(f64),
    Bool(bool),
    Str(&'a str),
    Bytes(&'a [u8]),
    Enum(i32),
}

struct Writer<'s> {
    schema: &'s Schema,
    /// Records of every message on the current path, used as a stack so the
    /// walk allocates nothing per message.
    records: Vec<Record>,
    /// Type name of the root message, for error messages.
    root_name: &'s str,
}

fn write_root<S: Sink>(type_name: &str, bytes: &[u8], sink: &mut S) -> Result<(), JsonError> {
    let schema = schema()?;
    let root = schema.lookup(type_name)?;
    let mut writer = Writer {
        schema,
        records: Vec::with_capacity(64),
        root_name: type_name,
    };
    writer.message(root, bytes, sink, 0)
}

impl Writer<'_> {
    fn bad(&self, reason: impl Into<String>) -> JsonError {
        JsonError::InvalidProtobuf {
            type_name: self.root_name.to_owned(),
            reason: reason.into(),
        }
    }

    fn message<S: Sink>(
        &mut self,
        msg: u32,
        buf: &[u8],
        sink: &mut S,
        depth: usize,
    ) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        let base = self.records.len();
        let result = self.message_at(msg, buf, sink, depth, base);
        self.records.truncate(base);
        result
    }

    fn message_at<S: Sink>(
        &mut self,
        msg: u32,
        buf: &[u8],
        sink: &mut S,
        depth: usize,
        base: usize,
    ) -> Result<(), JsonError> {
        let schema = self.schema;
        let plan = schema.message(msg)?;
        self.scan(plan, buf)?;
        let end = self.records.len();
        if let Some(recs) = self.records.get_mut(base..end) {
            // prost writes fields in tag order, which often differs from
            // declaration order; the stable sort keeps repeated values in order.
            if !recs.is_sorted_by_key(|r| r.field) {
                recs.sort_by_key(|r| r.field);
            }
        }

        sink.begin_object();
        let mut i = base;
        for (index, field) in plan.fields.iter().enumerate() {
            let run_start = i;
            while self
                .records
                .get(i)
                .is_some_and(|r| r.field as usize == index)
            {
                i += 1;
            }
            if run_start == i {
                if let Some(default) = &field.default {
                    sink.key(field);
                    sink.default_value(default);
                } else if field.required && matches!(field.shape, Shape::Singular) {
                    // prost always writes required fields except inside map
                    // values equal to `Default`, which it leaves out whole;
                    // its structs hold required fields as plain values, so an
                    // absent one stands for its zero value.
                    self.absent_required(field, sink)?;
                }
                continue;
            }
            match field.shape {
                Shape::Singular => self.singular(field, buf, run_start, i, sink, depth)?,
                Shape::List => self.list(field, buf, run_start, i, sink, depth)?,
                Shape::Map { key, value, .. } => {
                    sink.key(field);
                    self.map(key, value, buf, run_start, i, sink, depth)?;
                }
            }
        }
        sink.end_object();
        Ok(())
    }

    fn absent_required<S: Sink>(&self, field: &FieldPlan, sink: &mut S) -> Result<(), JsonError> {
        match field.ty {
            Ty::Message(_) => {}
            Ty::Enum(e) => {
                if let Some(name) = self.schema.enum_plan(e)?.name(0) {
                    sink.key(field);
                    sink.string(name);
                }
            }
            ty => {
                sink.key(field);
                emit_zero(sink, ty);
            }
        }
        Ok(())
    }

    /// Records every known field of `buf` on the record stack.
    fn scan(&mut self, plan: &MessagePlan, buf: &[u8]) -> Result<(), JsonError> {
        let mut pos = 0;
        while pos < buf.len() {
            let key = read_varint(buf, &mut pos).map_err(|e| self.bad(e))?;
            let number = key >> 3;
            let wire_type = (key & 7) as u8;
            if number == 0 || number > 536_870_911 {
                return Err(self.bad(format!("invalid field number {number}")));
            }
            let (start, end) = skip_value(buf, &mut pos, wire_type).map_err(|e| self.bad(e))?;
            let Some(index) = plan.field_index(number as u32) else {
                continue; // Unknown field: upstream drops it from JSON too.
            };
            let Some(field) = plan.fields.get(index) else {
                continue;
            };
            let expected = field.ty.wire_type();
            let packed =
                !matches!(field.shape, Shape::Singular) && field.ty.packable() && wire_type == 2;
            if wire_type != expected && !packed {
                return Err(self.bad(format!(
                    "wire type {wire_type} does not match field '{}' of {}",
                    field.name, plan.full_name
                )));
            }
            self.records.push(Record {
                field: index as u32,
                start,
                end,
            });
        }
        Ok(())
    }

    fn record(&self, at: usize) -> Result<Record, JsonError> {
        self.records
            .get(at)
            .copied()
            .ok_or_else(|| self.bad("internal record index out of range"))
    }

    fn slice<'b>(&self, buf: &'b [u8], r: Record) -> Result<&'b [u8], JsonError> {
        buf.get(r.start..r.end)
            .ok_or_else(|| self.bad("value out of bounds"))
    }

    fn singular<S: Sink>(
        &mut self,
        field: &FieldPlan,
        buf: &[u8],
        from: usize,
        to: usize,
        sink: &mut S,
        depth: usize,
    ) -> Result<(), JsonError> {
        let last = self.record(to - 1)?;
        match field.ty {
            Ty::Message(m) => {
                sink.key(field);
                if to - from == 1 {
                    self.message(m, self.slice(buf, last)?, sink, depth + 1)
                } else {
                    // Protobuf merges repeated occurrences of a singular
                    // message, which is what parsing their concatenation does.
                    let mut merged = Vec::new();
                    for at in from..to {
                        let r = self.record(at)?;
                        merged.extend_from_slice(self.slice(buf, r)?);
                    }
                    self.message(m, &merged, sink, depth + 1)
                }
            }
            Ty::Enum(e) => {
                let data = self.slice(buf, last)?;
                let number = read_varint(data, &mut 0).map_err(|e| self.bad(e))? as i32;
                match self.schema.enum_plan(e)?.name(number) {
                    Some(name) => {
                        sink.key(field);
                        sink.string(name);
                    }
                    // proto2 keeps unknown enum numbers out of the field, so
                    // C++ sees it as unset.
                    None => {
                        if let Some(default) = &field.default {
                            sink.key(field);
                            sink.default_value(default);
                        }
                    }
                }
                Ok(())
            }
            ty => {
                let data = self.slice(buf, last)?;
                let scalar = read_scalar(ty, data, &mut 0).map_err(|e| self.bad(e))?;
                sink.key(field);
                emit_scalar(sink, scalar);
                Ok(())
            }
        }
    }

    fn list<S: Sink>(
        &mut self,
        field: &FieldPlan,
        buf: &[u8],
        from: usize,
        to: usize,
        sink: &mut S,
        depth: usize,
    ) -> Result<(), JsonError> {
        if let Ty::Enum(e) = field.ty {
            // Unknown enum numbers are dropped; a list of only those is empty
            // and therefore omitted.
            let plan = self.schema.enum_plan(e)?;
            let mut any = false;
            for at in from..to {
                let data = self.slice(buf, self.record(at)?)?;
                let mut pos = 0;
                while pos < data.len() {
                    let n = read_varint(data, &mut pos).map_err(|e| self.bad(e))? as i32;
                    any |= plan.name(n).is_some();
                }
            }
            if !any {
                return Ok(());
            }
        }

        sink.key(field);
        sink.begin_array();
        for at in from..to {
            let r = self.record(at)?;
            let data = self.slice(buf, r)?;
            match field.ty {
                Ty::Message(m) => self.message(m, data, sink, depth + 1)?,
                Ty::Str | Ty::Bytes => {
                    let scalar = read_scalar(field.ty, data, &mut 0).map_err(|e| self.bad(e))?;
                    emit_scalar(sink, scalar);
                }
                ty => {
                    // One value, or a packed run of them.
                    let mut pos = 0;
                    while pos < data.len() {
                        match read_scalar(ty, data, &mut pos).map_err(|e| self.bad(e))? {
                            Scalar::Enum(n) => {
                                if let Ty::Enum(e) = ty {
                                    if let Some(name) = self.schema.enum_plan(e)?.name(n) {
                                        sink.string(name);
                                    }
                                }
                            }
                            scalar => emit_scalar(sink, scalar),
                        }
                    }
                }
            }
        }
        sink.end_array();
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn map<S: Sink>(
        &mut self,
        key_ty: Ty,
        value_ty: Ty,
        buf: &[u8],
        from: usize,
        to: usize,
        sink: &mut S,
        depth: usize,
    ) -> Result<(), JsonError> {
        // (key, value bytes if present); C++ map iteration order is
        // unspecified, we sort by key for stable output.
        let mut entries: Vec<(MapKey<'_>, Option<&[u8]>)> = Vec::with_capacity(to - from);
        for at in from..to {
            let entry = self.slice(buf, self.record(at)?)?;
            let mut key = None;
            let mut value = None;
            let mut pos = 0;
            while pos < entry.len() {
                let tag = read_varint(entry, &mut pos).map_err(|e| self.bad(e))?;
                let wire_type = (tag & 7) as u8;
                let (start, end) =
                    skip_value(entry, &mut pos, wire_type).map_err(|e| self.bad(e))?;
                let data = entry
                    .get(start..end)
                    .ok_or_else(|| self.bad("value out of bounds"))?;
                match tag >> 3 {
                    1 if wire_type == key_ty.wire_type() => key = Some(data),
                    2 if wire_type == value_ty.wire_type() => value = Some(data),
                    1 | 2 => return Err(self.bad("wrong wire type in map entry")),
                    _ => {}
                }
            }
            let key = match key {
                Some(data) => match read_scalar(key_ty, data, &mut 0).map_err(|e| self.bad(e))? {
                    Scalar::Str(s) => MapKey::Str(s),
                    Scalar::Int(v) => MapKey::Int(v),
                    Scalar::UInt(v) => MapKey::UInt(v),
                    Scalar::Bool(v) => MapKey::Bool(v),
                    _ => return Err(self.bad("unsupported map key type")),
                },
                None => match key_ty {
                    Ty::Str => MapKey::Str(""),
                    Ty::Bool => MapKey::Bool(false),
                    Ty::UInt32 | Ty::UInt64 | Ty::Fixed32 | Ty::Fixed64 => MapKey::UInt(0),
                    _ => MapKey::Int(0),
                },
            };
            entries.push((key, value));
        }
        entries.sort_by_key(|(k, _)| *k);

        sink.begin_object();
        for (i, (key, value)) in entries.iter().enumerate() {
            // Later entries with the same key win, as in protobuf parsing.
            if entries.get(i + 1).is_some_and(|(next, _)| next == key) {
                continue;
            }
            match (value_ty, value) {
                (Ty::Message(m), v) => {
                    sink.map_key(key);
                    self.message(m, v.unwrap_or(&[]), sink, depth + 1)?;
                }
                (Ty::Enum(e), v) => {
                    let number = match v {
                        Some(data) => read_varint(data, &mut 0).map_err(|e| self.bad(e))? as i32,
                        None => 0,
                    };
                    // Entries whose enum number is unknown are dropped.
                    if let Some(name) = self.schema.enum_plan(e)?.name(number) {
                        sink.map_key(key);
                        sink.string(name);
                    }
                }
                (ty, Some(data)) => {
                    let scalar = read_scalar(ty, data, &mut 0).map_err(|e| self.bad(e))?;
                    sink.map_key(key);
                    emit_scalar(sink, scalar);
                }
                (ty, None) => {
                    sink.map_key(key);
                    emit_zero(sink, ty);
                }
            }
        }
        sink.end_object();
        Ok(())
    }
}

fn emit_scalar<S: Sink>(sink: &mut S, scalar: Scalar<'_>) {
    match scalar {
        Scalar::Int(v) => sink.int(v),
        Scalar::UInt(v) => sink.uint(v),
        Scalar::Double(v) => sink.double(v),
        Scalar::Bool(v) => sink.boolean(v),
        Scalar::Str(v) => sink.string(v),
        Scalar::Bytes(v) => sink.bytes(v),
        // Callers resolve enum names; a bare number never reaches JSON.
        Scalar::Enum(_) => {}
    }
}

/// The implicit value of an absent map value of scalar type.
fn emit_zero<S: Sink>(sink: &mut S, ty: Ty) {
    match ty {
        Ty::Double | Ty::Float => sink.double(0.0),
        Ty::Bool => sink.boolean(false),
        Ty::Str => sink.string(""),
        Ty::Bytes => sink.bytes(&[]),
        Ty::UInt32 | Ty::UInt64 | Ty::Fixed32 | Ty::Fixed64 => sink.uint(0),
        _ => sink.int(0),
    }
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, &'static str> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return Err("varint overflows 64 bits");
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 63 {
            return Err("varint overflows 64 bits");
        }
    }
}

/// Advances `pos` past one value of `wire_type`, returning the value's span.
fn skip_value(buf: &[u8], pos: &mut usize, wire_type: u8) -> Result<(usize, usize), &'static str> {
    let start;
    match wire_type {
        0 => {
            start = *pos;
            read_varint(buf, pos)?;
        }
        1 | 5 => {
            start = *pos;
            let width = if wire_type == 1 { 8 } else { 4 };
            let end = start.checked_add(width).ok_or("length overflow")?;
            if end > buf.len() {
                return Err("truncated fixed-width value");
            }
            *pos = end;
        }
        2 => {
            let len = read_varint(buf, pos)?;
            let len = usize::try_from(len).map_err(|_| "length overflow")?;
            start = *pos;
            let end = start.checked_add(len).ok_or("length overflow")?;
            if end > buf.len() {
                return Err("truncated length-delimited value");
            }
            *pos = end;
        }
        3 | 4 => return Err("groups are not supported"),
        _ => return Err("invalid wire type"),
    }
    Ok((start, *pos))
}

fn read_fixed<const N: usize>(buf: &[u8], pos: &mut usize) -> Result<[u8; N], &'static str> {
    let end = pos.checked_add(N).ok_or("length overflow")?;
    let bytes: [u8; N] = buf
        .get(*pos..end)
        .and_then(|s| s.try_into().ok())
        .ok_or("truncated fixed-width value")?;
    *pos = end;
    Ok(bytes)
}

fn read_scalar<'a>(ty: Ty, buf: &'a [u8], pos: &mut usize) -> Result<Scalar<'a>, &'static str> {
    Ok(match ty {
        Ty::Double => Scalar::Double(f64::from_le_bytes(read_fixed(buf, pos)?)),
        Ty::Float => Scalar::Double(f64::from(f32::from_le_bytes(read_fixed(buf, pos)?))),
        Ty::Fixed64 => Scalar::UInt(u64::from_le_bytes(read_fixed(buf, pos)?)),
        Ty::SFixed64 => Scalar::Int(i64::from_le_bytes(read_fixed(buf, pos)?)),
        Ty::Fixed32 => Scalar::UInt(u64::from(u32::from_le_bytes(read_fixed(buf, pos)?))),
        Ty::SFixed32 => Scalar::Int(i64::from(i32::from_le_bytes(read_fixed(buf, pos)?))),
        // Truncating casts below are the protobuf wire semantics.
        Ty::Int32 => Scalar::Int(i64::from(read_varint(buf, pos)? as i32)),
        Ty::Int64 => Scalar::Int(read_varint(buf, pos)? as i64),
        Ty::UInt32 => Scalar::UInt(u64::from(read_varint(buf, pos)? as u32)),
        Ty::UInt64 => Scalar::UInt(read_varint(buf, pos)?),
        Ty::SInt32 => {
            let n = read_varint(buf, pos)? as u32;
            Scalar::Int(i64::from((n >> 1) as i32 ^ -((n & 1) as i32)))
        }
        Ty::SInt64 => {
            let n = read_varint(buf, pos)?;
            Scalar::Int((n >> 1) as i64 ^ -((n & 1) as i64))
        }
        Ty::Bool => Scalar::Bool(read_varint(buf, pos)? != 0),
        Ty::Enum(_) => Scalar::Enum(read_varint(buf, pos)? as i32),
        Ty::Str => {
            let data = buf.get(*pos..).unwrap_or(&[]);
            *pos = buf.len();
            Scalar::Str(std::str::from_utf8(data).map_err(|_| "invalid UTF-8 in string field")?)
        }
        Ty::Bytes => {
            let data = buf.get(*pos..).unwrap_or(&[]);
            *pos = buf.len();
            Scalar::Bytes(data)
        }
        Ty::Message(_) => return Err("message is not a scalar"),
    })
}

/// Appends `s` as a JSON string literal: ASCII only (non-ASCII as `\uXXXX`,
/// surrogate pairs above the BMP, because some clients count characters), `/`
/// left alone.
fn write_json_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if (0x20..0x80).contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        // `run` and `i` always sit on char boundaries: we only stop at ASCII
        // bytes or at the first byte of a multi-byte char.
        out.push_str(s.get(run..i).unwrap_or_default());
        if b < 0x80 {
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                0x08 => out.push_str("\\b"),
                0x0c => out.push_str("\\f"),
                _ => {
                    out.push_str("\\u00");
                    out.push(HEX[usize::from(b >> 4)] as char);
                    out.push(HEX[usize::from(b & 0xf)] as char);
                }
            }
            i += 1;
        } else {
            let c = s
                .get(i..)
                .and_then(|rest| rest.chars().next())
                .unwrap_or('\u{fffd}');
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[usize::from((*unit >> shift) & 0xf)] as char);
                }
            }
            i += c.len_utf8().max(1);
        }
        run = i;
    }
    out.push_str(s.get(run..).unwrap_or_default());
    out.push('"');
}

fn write_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Only ASCII digits were written, so this never falls back.
    out.push_str(std::str::from_utf8(buf.get(at..).unwrap_or_default()).unwrap_or("0"));
}

fn write_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    write_u64(out, v.unsigned_abs());
}

/// A fixed buffer for formatting one float without allocating.
struct StackBuf {
    buf: [u8; 48],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(std::fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes a double the way rapidjson's `Writer::Double` does (shortest
/// round-trip digits; integral values keep `.0`; exponent form below 1e-6
/// and from 1e21 on; bare `NaN`/`Infinity`/`-Infinity`).
fn write_double(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    let mut sci = StackBuf {
        buf: [0; 48],
        len: 0,
    };
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`.
    if write!(sci, "{:e}", v.abs()).is_err() {
        let _ = write!(out, "{v:?}");
        return;
    }
    let text = sci.buf.get(..sci.len).unwrap_or_default();
    let Some(e_at) = text.iter().position(|&b| b == b'e') else {
        let _ = write!(out, "{v:?}");
        return;
    };
    let (mantissa, exponent) = text.split_at(e_at);
    let exponent: i32 = std::str::from_utf8(exponent.get(1..).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 24];
    let mut length = 0usize;
    for &b in mantissa {
        if b.is_ascii_digit() {
            if let Some(slot) = digits.get_mut(length) {
                *slot = b;
                length += 1;
            }
        }
    }
    let digits = digits.get(..length).unwrap_or_default();
    let push_digits = |out: &mut String, ds: &[u8]| {
        for &d in ds {
            out.push(d as char);
        }
    };

    if v < 0.0 {
        out.push('-');
    }
    // Value = 0.d1d2…dn × 10^kk, as in rapidjson's Prettify.
    let kk = exponent + 1;
    let len = length as i32;
    if (len..=21).contains(&kk) {
        push_digits(out, digits);
        for _ in len..kk {
            out.push('0');
        }
        out.push_str(".0");
    } else if 0 < kk && kk <= 21 {
        let (int_part, frac) = digits.split_at(kk as usize);
        push_digits(out, int_part);
        out.push('.');
        push_digits(out, frac);
    } else if -6 < kk && kk <= 0 {
        out.push_str("0.");
        for _ in kk..0 {
            out.push('0');
        }
        push_digits(out, digits);
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        push_digits(out, first);
        if !rest.is_empty() {
            out.push('.');
            push_digits(out, rest);
        }
        out.push('e');
        write_i64(out, i64::from(kk - 1));
    }
}

// ---------------------------------------------------------------------------
// Reading: JSON → protobuf wire bytes
// ---------------------------------------------------------------------------

/// Parses JSON text, tolerating the bare `NaN`, `Infinity` and `-Infinity`
/// tokens upstream writes (they become strings, which double fields accept).
fn parse_json(bytes: &[u8]) -> Result<Value, JsonError> {
    let text = quote_non_finite_tokens(bytes);
    serde_json::from_slice(&text).map_err(|e| JsonError::Syntax(e.to_string()))
}

fn quote_non_finite_tokens(input: &[u8]) -> Cow<'_, [u8]> {
    const TOKENS: [&[u8]; 3] = [b"NaN", b"Infinity", b"-Infinity"];
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
        } else if matches!(b, b'N' | b'I' | b'-') {
            let rest = input.get(i..).unwrap_or_default();
            if let Some(token) = TOKENS.iter().find(|t| rest.starts_with(t)) {
                let buf = out.get_or_insert_with(|| Vec::with_capacity(input.len() + 16));
                buf.extend_from_slice(input.get(copied..i).unwrap_or_default());
                buf.push(b'"');
                buf.extend_from_slice(token);
                buf.push(b'"');
                i += token.len();
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    match out {
        Some(mut buf) => {
            buf.extend_from_slice(input.get(copied..).unwrap_or_default());
            Cow::Owned(buf)
        }
        None => Cow::Borrowed(input),
    }
}

fn value_to_wire(type_name: &str, value: &Value) -> Result<Vec<u8>, JsonError> {
    let schema = schema()?;
    let root = schema.lookup(type_name)?;
    let Value::Object(object) = value else {
        return Err(JsonError::Invalid("Expecting a JSON object".to_owned()));
    };
    let mut out = Vec::new();
    let mut missing = Vec::new();
    let mut reader = Reader {
        schema,
        missing: &mut missing,
    };
    reader.object(root, object, &mut out, "", 0)?;
    if !missing.is_empty() {
        return Err(JsonError::MissingRequiredFields(missing));
    }
    Ok(out)
}

struct Reader<'s, 'm> {
    schema: &'s Schema,
    /// Paths of required fields found absent, reported after parsing.
    missing: &'m mut Vec<String>,
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn not_expecting(v: &Value, field: &str) -> JsonError {
    JsonError::Invalid(format!(
        "Not expecting a JSON {} for field '{field}'",
        kind_of(v)
    ))
}

impl Reader<'_, '_> {
    fn object(
        &mut self,
        msg: u32,
        object: &Map<String, Value>,
        out: &mut Vec<u8>,
        prefix: &str,
        depth: usize,
    ) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        let plan = self.schema.message(msg)?;
        for (key, value) in object {
            // Proto field names only; unknown keys are ignored like upstream.
            let Some(&index) = plan.by_name.get(key.as_str()) else {
                continue;
            };
            let Some(field) = plan.fields.get(index as usize) else {
                continue;
            };
            if value.is_null() {
                continue;
            }
            match field.shape {
                Shape::Singular => {
                    if value.is_array() {
                        return Err(JsonError::Invalid(format!(
                            "Not expecting a JSON array for field '{}'",
                            field.name
                        )));
                    }
                    let path = || format!("{prefix}{}.", field.name);
                    self.field_value(field, field.ty, value, out, &path, depth)?;
                }
                Shape::List => {
                    // Upstream adds a lone value given for a repeated field.
                    let items = match value {
                        Value::Array(items) => items.as_slice(),
                        single => std::slice::from_ref(single),
                    };
                    let mut count = 0usize;
                    for item in items {
                        if item.is_null() {
                            continue;
                        }
                        if item.is_array() {
                            return Err(JsonError::Invalid(format!(
                                "Not expecting a nested JSON array for field '{}'",
                                field.name
                            )));
                        }
                        let path = || format!("{prefix}{}[{count}].", field.name);
                        self.field_value(field, field.ty, item, out, &path, depth)?;
                        count += 1;
                    }
                }
                Shape::Map {
                    entry,
                    key,
                    value: value_ty,
                } => {
                    self.map(field, entry, key, value_ty, value, out, prefix, depth)?;
                }
            }
        }
        for field in plan.fields.iter().filter(|f| f.required) {
            if object.get(&*field.name).is_none_or(Value::is_null) {
                self.missing.push(format!("{prefix}{}", field.name));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn map(
        &mut self,
        field: &FieldPlan,
        entry: u32,
        key_ty: Ty,
        value_ty: Ty,
        value: &Value,
        out: &mut Vec<u8>,
        prefix: &str,
        depth: usize,
    ) -> Result<(), JsonError> {
        match value {
            Value::Object(entries) => {
                for (key, item) in entries {
                    if item.is_null() {
                        continue;
                    }
                    if item.is_array() {
                        return Err(JsonError::Invalid(format!(
                            "Not expecting a JSON array for a value of map field '{}'",
                            field.name
                        )));
                    }
                    if let Ty::Enum(e) = value_ty {
                        // Unknown enum names drop the entry, as for optional fields.
                        if self.enum_number(e, item, &field.name, false)?.is_none() {
                            continue;
                        }
                    }
                    write_tag(out, field.number, 2);
                    let start = out.len();
                    write_map_key(out, key_ty, key, &field.name)?;
                    let value_field = FieldPlan {
                        name: field.name.clone(),
                        json_key: Box::default(),
                        number: 2,
                        ty: value_ty,
                        shape: Shape::Singular,
                        required: false,
                        default: None,
                    };
                    let path = || format!("{prefix}{}[{key}].", field.name);
                    self.field_value(&value_field, value_ty, item, out, &path, depth)?;
                    prefix_length(out, start);
                }
                Ok(())
            }
            // The entry-list form older writers produce for maps.
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::Null => {}
                        Value::Object(o) => {
                            write_tag(out, field.number, 2);
                            let start = out.len();
                            let path = format!("{prefix}{}[{i}].", field.name);
                            self.object(entry, o, out, &path, depth + 1)?;
                            prefix_length(out, start);
                        }
                        other => return Err(not_expecting(other, &field.name)),
                    }
                }
                Ok(())
            }
            other => Err(not_expecting(other, &field.name)),
        }
    }

    /// Writes one (non-null, non-array) JSON value for `field` as wire bytes.
    fn field_value(
        &mut self,
        field: &FieldPlan,
        ty: Ty,
        value: &Value,
        out: &mut Vec<u8>,
        path: &dyn Fn() -> String,
        depth: usize,
    ) -> Result<(), JsonError> {
        let name = &*field.name;
        let number = field.number;
        match ty {
            Ty::Message(m) => {
                let Value::Object(object) = value else {
                    return Err(not_expecting(value, name));
                };
                write_tag(out, number, 2);
                let start = out.len();
                self.object(m, object, out, &path(), depth + 1)?;
                prefix_length(out, start);
            }
            Ty::Enum(e) => {
                if let Some(n) = self.enum_number(e, value, name, field.required)? {
                    write_tag(out, number, 0);
                    write_varint(out, n as i64 as u64);
                }
            }
            Ty::Str => {
                let Value::String(s) = value else {
                    return Err(not_expecting(value, name));
                };
                write_tag(out, number, 2);
                write_varint(out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            Ty::Bytes => {
                let Value::String(s) = value else {
                    return Err(not_expecting(value, name));
                };
                let bytes = decode_base64(s).map_err(|e| {
                    JsonError::Invalid(format!("Failed to base64 decode bytes field '{name}': {e}"))
                })?;
                write_tag(out, number, 2);
                write_varint(out, bytes.len() as u64);
                out.extend_from_slice(&bytes);
            }
            Ty::Bool => {
                let b = match value {
                    Value::Bool(b) => *b,
                    Value::String(s) if s == "true" => true,
                    Value::String(s) if s == "false" => false,
                    Value::String(s) => {
                        return Err(JsonError::Invalid(format!(
                            "Failed to convert '{s}' to boolean for field '{name}'"
                        )))
                    }
                    other => return Err(not_expecting(other, name)),
                };
                write_tag(out, number, 0);
                write_varint(out, u64::from(b));
            }
            Ty::Double | Ty::Float => {
                let f = json_f64(value, name)?;
                if ty == Ty::Double {
                    write_tag(out, number, 1);
                    out.extend_from_slice(&f.to_le_bytes());
                } else {
                    write_tag(out, number, 5);
                    out.extend_from_slice(&(f as f32).to_le_bytes());
                }
            }
            Ty::Int32 | Ty::SInt32 | Ty::SFixed32 => {
                let v = json_i64(value, name, i64::from(i32::MIN), i64::from(i32::MAX))?;
                let v = v as i32; // In range: checked above.
                match ty {
                    Ty::SFixed32 => {
                        write_tag(out, number, 5);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                    Ty::SInt32 => {
                        write_tag(out, number, 0);
                        write_varint(out, u64::from(((v << 1) ^ (v >> 31)) as u32));
                    }
                    _ => {
                        write_tag(out, number, 0);
                        write_varint(out, i64::from(v) as u64);
                    }
                }
            }
            Ty::Int64 | Ty::SInt64 | Ty::SFixed64 => {
                let v = json_i64(value, name, i64::MIN, i64::MAX)?;
                match ty {
                    Ty::SFixed64 => {
                        write_tag(out, number, 1);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                    Ty::SInt64 => {
                        write_tag(out, number, 0);
                        write_varint(out, ((v << 1) ^ (v >> 63)) as u64);
                    }
                    _ => {
                        write_tag(out, number, 0);
                        write_varint(out, v as u64);
                    }
                }
            }
            Ty::UInt32 | Ty::Fixed32 => {
                let v = json_u64(value, name, u64::from(u32::MAX))?;
                if ty == Ty::Fixed32 {
                    write_tag(out, number, 5);
                    out.extend_from_slice(&(v as u32).to_le_bytes());
                } else {
                    write_tag(out, number, 0);
                    write_varint(out, v);
                }
            }
            Ty::UInt64 | Ty::Fixed64 => {
                let v = json_u64(value, name, u64::MAX)?;
                if ty == Ty::Fixed64 {
                    write_tag(out, number, 1);
                    out.extend_from_slice(&v.to_le_bytes());
                } else {
                    write_tag(out, number, 0);
                    write_varint(out, v);
                }
            }
        }
        Ok(())
    }

    /// The number for an enum given by name; `None` when an unknown name is
    /// dropped (optional and repeated fields).
    fn enum_number(
        &self,
        e: u32,
        value: &Value,
        name: &str,
        required: bool,
    ) -> Result<Option<i32>, JsonError> {
        match value {
            Value::String(s) => match self.schema.enum_plan(e)?.by_name.get(s.as_str()) {
                Some(&n) => Ok(Some(n)),
                None if required => Err(JsonError::Invalid(format!(
                    "Failed to find enum for '{s}' (field '{name}')"
                ))),
                None => Ok(None),
            },
            Value::Number(n) => Err(JsonError::Invalid(format!(
                "Expected enum name for field '{name}', got number {n}"
            ))),
            other => Err(not_expecting(other, name)),
        }
    }
}

fn json_f64(value: &Value, name: &str) -> Result<f64, JsonError> {
    match value {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| JsonError::Invalid(format!("Invalid number for field '{name}'"))),
        // Covers "Infinity", "-Infinity" and "NaN" (also produced from the
        // bare tokens by `parse_json`).
        Value::String(s) => s.parse::<f64>().map_err(|_| {
            JsonError::Invalid(format!(
                "Failed to convert '{s}' to number for field '{name}'"
            ))
        }),
        other => Err(not_expecting(other, name)),
    }
}

fn out_of_range(value: &Value, name: &str) -> JsonError {
    JsonError::Invalid(format!("Value {value} is out of range for field '{name}'"))
}

/// 2^63, exactly representable; bounds for float → integer conversion.
const TWO_POW_63: f64 = (1u64 << 63) as f64;

fn json_i64(value: &Value, name: &str, min: i64, max: i64) -> Result<i64, JsonError> {
    let v = match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i
            } else if n.as_u64().is_some() {
                return Err(out_of_range(value, name));
            } else {
                // A float: C++ truncates toward zero; we do too, but refuse
                // values that do not fit instead of wrapping.
                let f = n.as_f64().unwrap_or(f64::NAN).trunc();
                if !(-TWO_POW_63..TWO_POW_63).contains(&f) {
                    return Err(out_of_range(value, name));
                }
                f as i64
            }
        }
        Value::String(s) => s.parse::<i64>().map_err(|_| {
            JsonError::Invalid(format!(
                "Failed to convert '{s}' to integer for field '{name}'"
            ))
        })?,
        other => return Err(not_expecting(other, name)),
    };
    if v < min || v > max {
        return Err(out_of_range(value, name));
    }
    Ok(v)
}

fn json_u64(value: &Value, name: &str, max: u64) -> Result<u64, JsonError> {
    let v = match value {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u
            } else if n.as_i64().is_some() {
                return Err(out_of_range(value, name));
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN).trunc();
                if !(0.0..2.0 * TWO_POW_63).contains(&f) {
                    return Err(out_of_range(value, name));
                }
                f as u64
            }
        }
        Value::String(s) => s.parse::<u64>().map_err(|_| {
            JsonError::Invalid(format!(
                "Failed to convert '{s}' to unsigned integer for field '{name}'"
            ))
        })?,
        other => return Err(not_expecting(other, name)),
    };
    if v > max {
        return Err(out_of_range(value, name));
    }
    Ok(v)
}

/// Writes a map key (always a JSON object key string) as entry field 1.
fn write_map_key(out: &mut Vec<u8>, ty: Ty, key: &str, field: &str) -> Result<(), JsonError> {
    let bad = || JsonError::Invalid(format!("Invalid key '{key}' for map field '{field}'"));
    match ty {
        Ty::Str => {
            write_tag(out, 1, 2);
            write_varint(out, key.len() as u64);
            out.extend_from_slice(key.as_bytes());
        }
        Ty::Bool => {
            let b = match key {
                "true" => true,
                "false" => false,
                _ => return Err(bad()),
            };
            write_tag(out, 1, 0);
            write_varint(out, u64::from(b));
        }
        Ty::Int32 | Ty::SInt32 | Ty::SFixed32 => {
            let v: i32 = key.parse().map_err(|_| bad())?;
            match ty {
                Ty::SFixed32 => {
                    write_tag(out, 1, 5);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Ty::SInt32 => {
                    write_tag(out, 1, 0);
                    write_varint(out, u64::from(((v << 1) ^ (v >> 31)) as u32));
                }
                _ => {
                    write_tag(out, 1, 0);
                    write_varint(out, i64::from(v) as u64);
                }
            }
        }
        Ty::Int64 | Ty::SInt64 | Ty::SFixed64 => {
            let v: i64 = key.parse().map_err(|_| bad())?;
            match ty {
                Ty::SFixed64 => {
                    write_tag(out, 1, 1);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Ty::SInt64 => {
                    write_tag(out, 1, 0);
                    write_varint(out, ((v << 1) ^ (v >> 63)) as u64);
                }
                _ => {
                    write_tag(out, 1, 0);
                    write_varint(out, v as u64);
                }
            }
        }
        Ty::UInt32 | Ty::Fixed32 => {
            let v: u32 = key.parse().map_err(|_| bad())?;
            if ty == Ty::Fixed32 {
                write_tag(out, 1, 5);
                out.extend_from_slice(&v.to_le_bytes());
            } else {
                write_tag(out, 1, 0);
                write_varint(out, u64::from(v));
            }
        }
        Ty::UInt64 | Ty::Fixed64 => {
            let v: u64 = key.parse().map_err(|_| bad())?;
            if ty == Ty::Fixed64 {
                write_tag(out, 1, 1);
                out.extend_from_slice(&v.to_le_bytes());
            } else {
                write_tag(out, 1, 0);
                write_varint(out, v);
            }
        }
        _ => return Err(bad()),
    }
    Ok(())
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn write_tag(out: &mut Vec<u8>, number: u32, wire_type: u8) {
    write_varint(out, (u64::from(number) << 3) | u64::from(wire_type));
}

/// Inserts the varint length of `out[start..]` at `start` (the body was
/// written in place to avoid a buffer per nested message).
fn prefix_length(out: &mut Vec<u8>, start: usize) {
    let mut len = out.len().saturating_sub(start) as u64;
    let mut prefix = [0u8; 10];
    let mut n = 0;
    while let Some(slot) = prefix.get_mut(n) {
        n += 1;
        if len < 0x80 {
            *slot = len as u8;
            break;
        }
        *slot = (len as u8) | 0x80;
        len >>= 7;
    }
    let at = start.min(out.len());
    out.splice(at..at, prefix.iter().take(n).copied());
}

/// Lenient standard base64: padding optional, ASCII whitespace ignored,
/// URL-safe characters rejected.
fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let compact: Cow<'_, str> = if s.bytes().any(|b| b.is_ascii_whitespace()) {
        Cow::Owned(s.chars().filter(|c| !c.is_ascii_whitespace()).collect())
    } else {
        Cow::Borrowed(s)
    };
    LENIENT
        .decode(compact.as_bytes())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::mesos::v1;
    use crate::mesos::v1::scheduler::{call, event, Call, Event};

    fn text<M: prost::Message + prost::Name>(m: &M) -> String {
        let s = encode(m);
        assert!(s.is_ascii(), "output must be ASCII: {s}");
        assert!(!s.contains('\n'), "output must be one line: {s}");
        s
    }

    fn err_of<M: prost::Message + prost::Name + Default + std::fmt::Debug>(
        json: &str,
    ) -> JsonError {
        decode::<M>(json.as_bytes()).expect_err("expected an error")
    }

    fn scalar_resource(name: &str, value: f64) -> v1::Resource {
        v1::Resource {
            name: name.to_owned(),
            r#type: v1::value::Type::Scalar as i32,
            scalar: Some(v1::value::Scalar { value }),
            allocation_info: Some(v1::resource::AllocationInfo {
                role: Some("*".to_owned()),
            }),
            ..Default::default()
        }
    }

    // --- Real request bodies ------------------------------------------------

    /// What pymesos 0.3.x `gen_request` posts (json.dumps: ", "/": " separators,
    /// `failover_timeout` as an int).
    const PYMESOS_SUBSCRIBE: &str = r#"{"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "test", "hostname": "h", "failover_timeout": 100, "capabilities": [{"type": "MULTI_ROLE"}], "roles": ["*"]}}}"#;

    #[test]
    fn pymesos_subscribe_round_trip() {
        let call: Call = decode(PYMESOS_SUBSCRIBE.as_bytes()).unwrap();
        assert_eq!(call.r#type, Some(call::Type::Subscribe as i32));
        let info = &call.subscribe.as_ref().unwrap().framework_info;
        assert_eq!(info.user, "root");
        assert_eq!(info.name, "test");
        assert_eq!(info.hostname.as_deref(), Some("h"));
        assert_eq!(info.failover_timeout, Some(100.0));
        assert_eq!(info.roles, vec!["*".to_owned()]);
        assert_eq!(
            info.capabilities[0].r#type,
            Some(v1::framework_info::capability::Type::MultiRole as i32)
        );
        // Declaration order, `100.0`, the `checkpoint` default, no deprecated `role`.
        assert_eq!(
            text(&call),
            r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"test","failover_timeout":100.0,"checkpoint":false,"roles":["*"],"hostname":"h","capabilities":[{"type":"MULTI_ROLE"}]}}}"#
        );
        // Re-reading our output gives the same message plus the defaults.
        let again: Call = decode(text(&call).as_bytes()).unwrap();
        assert_eq!(
            again.subscribe.as_ref().unwrap().framework_info.checkpoint,
            Some(false)
        );
        assert_eq!(text(&again), text(&call));
    }

    #[test]
    fn mesos_go_style_body_with_nulls() {
        let body = r#"{"framework_id":{"value":"fw-1"},"type":"DECLINE","subscribe":null,"accept":null,
            "decline":{"offer_ids":[{"value":"o-1"},null,{"value":"o-2"}],"filters":{"refuse_seconds":null}},
            "kill":null}"#;
        let call: Call = decode(body.as_bytes()).unwrap();
        assert_eq!(call.r#type, Some(call::Type::Decline as i32));
        assert!(call.subscribe.is_none() && call.accept.is_none() && call.kill.is_none());
        let decline = call.decline.as_ref().unwrap();
        assert_eq!(decline.offer_ids.len(), 2);
        assert_eq!(decline.filters.as_ref().unwrap().refuse_seconds, None);
        // The unset `refuse_seconds` is written with its declared default.
        assert_eq!(
            text(&call),
            r#"{"framework_id":{"value":"fw-1"},"type":"DECLINE","decline":{"offer_ids":[{"value":"o-1"},{"value":"o-2"}],"filters":{"refuse_seconds":5.0}}}"#
        );
    }

    #[test]
    fn unknown_slave_id_key_is_ignored() {
        // A v0-style `slave_id` in a v1 body: ignored, not an error.
        let body = r#"{"framework_id":{"value":"fw"},"type":"KILL","kill":{"task_id":{"value":"t1"},"slave_id":{"value":"s1"}}}"#;
        let call: Call = decode(body.as_bytes()).unwrap();
        let kill = call.kill.unwrap();
        assert_eq!(kill.task_id.value, "t1");
        assert!(kill.agent_id.is_none());

        // ...but where `agent_id` is required its absence is reported.
        let body = r#"{"framework_id":{"value":"fw"},"type":"ACKNOWLEDGE","acknowledge":{"slave_id":{"value":"s1"},"task_id":{"value":"t1"},"uuid":"AAEC"}}"#;
        assert_eq!(
            err_of::<Call>(body).to_string(),
            "Missing required fields: acknowledge.agent_id"
        );
    }

    #[test]
    fn acknowledge_with_base64_uuid() {
        let body = r#"{"framework_id": {"value": "d1e2-0001"}, "type": "ACKNOWLEDGE", "acknowledge": {"agent_id": {"value": "a-S0"}, "task_id": {"value": "task-1"}, "uuid": "IbU3uP5jR8uJ4WpQ0XNTCA=="}}"#;
        let call: Call = decode(body.as_bytes()).unwrap();
        let ack = call.acknowledge.as_ref().unwrap();
        assert_eq!(
            ack.uuid,
            vec![
                0x21, 0xb5, 0x37, 0xb8, 0xfe, 0x63, 0x47, 0xcb, 0x89, 0xe1, 0x6a, 0x50, 0xd1, 0x73,
                0x53, 0x08
            ]
        );
        assert_eq!(
            text(&call),
            r#"{"framework_id":{"value":"d1e2-0001"},"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a-S0"},"task_id":{"value":"task-1"},"uuid":"IbU3uP5jR8uJ4WpQ0XNTCA=="}}"#
        );
        // Lenient base64: no padding, embedded whitespace.
        let lenient = body.replace("IbU3uP5jR8uJ4WpQ0XNTCA==", r"IbU3uP5j R8uJ4WpQ\n0XNTCA");
        let call2: Call = decode(lenient.as_bytes()).unwrap();
        assert_eq!(call2, call);
    }

    // --- Real response shapes -----------------------------------------------

    fn master_info() -> v1::MasterInfo {
        v1::MasterInfo {
            id: "5f2a-master".to_owned(),
            ip: 16_777_343,
            port: 5050,
            pid: Some("master@127.0.0.1:5050".to_owned()),
            hostname: Some("localhost".to_owned()),
            version: Some("1.11.0".to_owned()),
            address: Some(v1::Address {
                hostname: Some("localhost".to_owned()),
                ip: Some("127.0.0.1".to_owned()),
                port: 5050,
            }),
            domain: None,
            capabilities: vec![v1::master_info::Capability {
                r#type: Some(v1::master_info::capability::Type::AgentUpdate as i32),
            }],
        }
    }

    #[test]
    fn subscribed_event() {
        let event = Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: v1::FrameworkId {
                    value: "5f2a-0000".to_owned(),
                },
                heartbeat_interval_seconds: Some(15.0),
                master_info: Some(master_info()),
            }),
            ..Default::default()
        };
        assert_eq!(
            text(&event),
            r#"{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"5f2a-0000"},"heartbeat_interval_seconds":15.0,"master_info":{"id":"5f2a-master","ip":16777343,"port":5050,"pid":"master@127.0.0.1:5050","hostname":"localhost","version":"1.11.0","address":{"hostname":"localhost","ip":"127.0.0.1","port":5050},"capabilities":[{"type":"AGENT_UPDATE"}]}}}"#
        );
        assert_eq!(decode::<Event>(text(&event).as_bytes()).unwrap(), event);
    }

    fn offers_event() -> Event {
        let ports = v1::Resource {
            name: "ports".to_owned(),
            r#type: v1::value::Type::Ranges as i32,
            ranges: Some(Box::new(v1::value::Ranges {
                range: vec![
                    v1::value::Range {
                        begin: 31000,
                        end: 31999,
                    },
                    v1::value::Range {
                        begin: 33000,
                        end: 33000,
                    },
                ],
            })),
            allocation_info: Some(v1::resource::AllocationInfo {
                role: Some("*".to_owned()),
            }),
            ..Default::default()
        };
        let disks = v1::Resource {
            name: "disks".to_owned(),
            r#type: v1::value::Type::Set as i32,
            set: Some(Box::new(v1::value::Set {
                item: vec!["sda".to_owned(), "sdb".to_owned()],
            })),
            allocation_info: Some(v1::resource::AllocationInfo {
                role: Some("*".to_owned()),
            }),
            ..Default::default()
        };
        let offer = v1::Offer {
            id: v1::OfferId {
                value: "o-1".to_owned(),
            },
            framework_id: v1::FrameworkId {
                value: "fw".to_owned(),
            },
            agent_id: v1::AgentId {
                value: "a-S0".to_owned(),
            },
            hostname: "agent1".to_owned(),
            url: Some(v1::Url {
                scheme: "http".to_owned(),
                address: v1::Address {
                    hostname: Some("agent1".to_owned()),
                    ip: Some("10.0.0.2".to_owned()),
                    port: 5051,
                },
                path: Some("/slave(1)".to_owned()),
                query: vec![],
                fragment: None,
            }),
            domain: None,
            resources: vec![
                scalar_resource("cpus", 4.0),
                scalar_resource("mem", 64.0),
                scalar_resource("disk", 0.25),
                ports,
                disks,
            ],
            attributes: vec![
                v1::Attribute {
                    name: "rack".to_owned(),
                    r#type: v1::value::Type::Text as i32,
                    text: Some(v1::value::Text {
                        value: "r1".to_owned(),
                    }),
                    ..Default::default()
                },
                v1::Attribute {
                    name: "level".to_owned(),
                    r#type: v1::value::Type::Scalar as i32,
                    scalar: Some(v1::value::Scalar { value: 2.5 }),
                    ..Default::default()
                },
            ],
            executor_ids: vec![],
            unavailability: None,
            allocation_info: Some(v1::resource::AllocationInfo {
                role: Some("*".to_owned()),
            }),
        };
        Event {
            r#type: Some(event::Type::Offers as i32),
            offers: Some(event::Offers {
                offers: vec![offer],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn offers_event_exact_text() {
        let event = offers_event();
        let expected = concat!(
            r#"{"type":"OFFERS","offers":{"offers":[{"id":{"value":"o-1"},"framework_id":{"value":"fw"},"agent_id":{"value":"a-S0"},"hostname":"agent1","#,
            r#""url":{"scheme":"http","address":{"hostname":"agent1","ip":"10.0.0.2","port":5051},"path":"/slave(1)"},"#,
            r#""resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":4.0},"allocation_info":{"role":"*"}},"#,
            r#"{"name":"mem","type":"SCALAR","scalar":{"value":64.0},"allocation_info":{"role":"*"}},"#,
            r#"{"name":"disk","type":"SCALAR","scalar":{"value":0.25},"allocation_info":{"role":"*"}},"#,
            r#"{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31999},{"begin":33000,"end":33000}]},"allocation_info":{"role":"*"}},"#,
            r#"{"name":"disks","type":"SET","set":{"item":["sda","sdb"]},"allocation_info":{"role":"*"}}],"#,
            r#""attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}},{"name":"level","type":"SCALAR","scalar":{"value":2.5}}],"#,
            r#""allocation_info":{"role":"*"}}]}}"#
        );
        assert_eq!(text(&event), expected);
        assert!(
            !expected.contains(r#""role":"*","#),
            "deprecated Resource.role default must not appear"
        );
        assert_eq!(decode::<Event>(expected.as_bytes()).unwrap(), event);

        // Dynamic forms agree with the typed ones.
        let bytes = prost::Message::encode_to_vec(&event);
        assert_eq!(
            encode_dynamic("mesos.v1.scheduler.Event", &bytes).unwrap(),
            expected
        );
        let back = decode_dynamic(".mesos.v1.scheduler.Event", expected.as_bytes()).unwrap();
        assert_eq!(
            <Event as prost::Message>::decode(back.as_slice()).unwrap(),
            event
        );
    }

    #[test]
    fn to_value_matches_text() {
        let event = offers_event();
        let from_text: Value = serde_json::from_str(&encode(&event)).unwrap();
        assert_eq!(to_value(&event), from_text);
        assert_eq!(
            to_value(&event)["offers"]["offers"][0]["resources"][1]["scalar"]["value"],
            serde_json::json!(64.0)
        );
        assert_eq!(from_value::<Event>(&to_value(&event)).unwrap(), event);
    }

    #[test]
    fn map_entry_list_form_is_accepted() {
        // Writers without map support emit maps as repeated key/value entries.
        let body = r#"{"name":"t","task_id":{"value":"t1"},"agent_id":{"value":"a1"},
            "limits":[{"key":"cpus","value":{"value":2.0}},null]}"#;
        let task: v1::TaskInfo = decode(body.as_bytes()).unwrap();
        assert_eq!(
            task.limits.get("cpus"),
            Some(&v1::value::Scalar { value: 2.0 })
        );
        // prost leaves a map value equal to `Default` off the wire; its zero
        // required `value` is still written, so the JSON reads back.
        let mut task = v1::TaskInfo::default();
        task.limits
            .insert("x".to_owned(), v1::value::Scalar::default());
        assert!(
            text(&task).contains(r#""limits":{"x":{"value":0.0}}"#),
            "{}",
            text(&task)
        );
    }

    #[test]
    fn encode_into_appends() {
        let mut out = String::from("[");
        encode_into(
            &v1::FrameworkId {
                value: "a".to_owned(),
            },
            &mut out,
        )
        .unwrap();
        out.push(',');
        encode_into(
            &v1::FrameworkId {
                value: "b".to_owned(),
            },
            &mut out,
        )
        .unwrap();
        out.push(']');
        assert_eq!(out, r#"[{"value":"a"},{"value":"b"}]"#);
    }

    // --- Writing rules ------------------------------------------------------

    #[test]
    fn explicit_defaults_are_written_when_unset() {
        let command = v1::CommandInfo::default();
        assert_eq!(text(&command), r#"{"shell":true}"#);
        let uri = v1::command_info::Uri {
            value: "http://x/y.tgz".to_owned(),
            ..Default::default()
        };
        assert_eq!(text(&uri), r#"{"value":"http://x/y.tgz","extract":true}"#);
        let health = v1::HealthCheck::default();
        assert_eq!(
            text(&health),
            r#"{"delay_seconds":15.0,"interval_seconds":10.0,"timeout_seconds":20.0,"consecutive_failures":3,"grace_period_seconds":10.0}"#
        );
        // Set values win over defaults, including values equal to the default.
        let filters = v1::Filters {
            refuse_seconds: Some(0.5),
        };
        assert_eq!(text(&filters), r#"{"refuse_seconds":0.5}"#);
        let info = v1::FrameworkInfo {
            user: "u".to_owned(),
            name: "n".to_owned(),
            #[allow(deprecated)]
            role: Some("web".to_owned()),
            checkpoint: Some(true),
            ..Default::default()
        };
        assert_eq!(
            text(&info),
            r#"{"user":"u","name":"n","failover_timeout":0.0,"checkpoint":true,"role":"web"}"#
        );
    }

    #[test]
    fn maps_are_objects() {
        let mut task = v1::TaskInfo {
            name: "t".to_owned(),
            task_id: v1::TaskId {
                value: "t1".to_owned(),
            },
            agent_id: v1::AgentId {
                value: "a1".to_owned(),
            },
            ..Default::default()
        };
        task.limits
            .insert("mem".to_owned(), v1::value::Scalar { value: 128.0 });
        task.limits
            .insert("cpus".to_owned(), v1::value::Scalar { value: 0.5 });
        let json = text(&task);
        assert!(
            json.contains(r#""limits":{"cpus":{"value":0.5},"mem":{"value":128.0}}"#),
            "{json}"
        );
        assert_eq!(decode::<v1::TaskInfo>(json.as_bytes()).unwrap(), task);
        // A bare number as a map value is rejected, like upstream.
        let bad = r#"{"name":"t","task_id":{"value":"t1"},"agent_id":{"value":"a1"},"limits":{"mem":512.0}}"#;
        assert!(matches!(err_of::<v1::TaskInfo>(bad), JsonError::Invalid(_)));
        // Required fields inside map values are checked.
        let missing = r#"{"name":"t","task_id":{"value":"t1"},"agent_id":{"value":"a1"},"limits":{"mem":{}}}"#;
        assert_eq!(
            err_of::<v1::TaskInfo>(missing).to_string(),
            "Missing required fields: limits[mem].value"
        );
    }

    #[test]
    fn integers_are_bare_numbers() {
        let range = v1::value::Range {
            begin: 0,
            end: u64::MAX,
        };
        assert_eq!(text(&range), r#"{"begin":0,"end":18446744073709551615}"#);
        assert_eq!(
            decode::<v1::value::Range>(text(&range).as_bytes()).unwrap(),
            range
        );
        let time = v1::TimeInfo {
            nanoseconds: i64::MIN,
        };
        assert_eq!(text(&time), r#"{"nanoseconds":-9223372036854775808}"#);
        assert_eq!(
            decode::<v1::TimeInfo>(text(&time).as_bytes()).unwrap(),
            time
        );
        let address = v1::Address {
            hostname: None,
            ip: None,
            port: -1,
        };
        assert_eq!(text(&address), r#"{"port":-1}"#);
    }

    #[test]
    fn doubles_follow_rapidjson() {
        let cases: &[(f64, &str)] = &[
            (64.0, "64.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.5, "0.5"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (123.456, "123.456"),
            (1e20, "100000000000000000000.0"),
            (1e21, "1e21"),
            (1.5e300, "1.5e300"),
            (1e-6, "0.000001"),
            (1.25e-7, "1.25e-7"),
            (-1e-7, "-1e-7"),
            (f64::MAX, "1.7976931348623157e308"),
            (5e-324, "5e-324"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for &(v, want) in cases {
            let mut s = String::new();
            write_double(&mut s, v);
            assert_eq!(s, want, "for {v:e}");
        }
        // Floats are widened to double first, as C++ does.
        let mut s = String::new();
        write_double(&mut s, f64::from(0.1f32));
        assert_eq!(s, "0.10000000149011612");
    }

    #[test]
    fn non_finite_doubles_round_trip() {
        let scalar = v1::value::Scalar { value: f64::NAN };
        assert_eq!(text(&scalar), r#"{"value":NaN}"#);
        assert_eq!(to_value(&scalar), serde_json::json!({"value": "NaN"}));
        let inf = v1::value::Scalar {
            value: f64::NEG_INFINITY,
        };
        assert_eq!(text(&inf), r#"{"value":-Infinity}"#);
        for (json, check) in [
            (r#"{"value":NaN}"#, f64::is_nan as fn(f64) -> bool),
            (r#"{"value": Infinity }"#, |v: f64| v == f64::INFINITY),
            (r#"{"value":-Infinity}"#, |v: f64| v == f64::NEG_INFINITY),
            (r#"{"value":"Infinity"}"#, |v: f64| v == f64::INFINITY),
            (r#"{"value":"-Infinity"}"#, |v: f64| v == f64::NEG_INFINITY),
            (r#"{"value":"NaN"}"#, f64::is_nan),
        ] {
            let s: v1::value::Scalar = decode(json.as_bytes()).unwrap();
            assert!(check(s.value), "{json}");
        }
        // Tokens inside strings are left alone.
        let label: v1::Label = decode(br#"{"key":"NaN","value":"-Infinity \" NaN"}"#).unwrap();
        assert_eq!(label.value.as_deref(), Some("-Infinity \" NaN"));
    }

    #[test]
    fn strings_are_ascii_escaped() {
        let label = v1::Label {
            key: "h\u{e9}llo/\u{1f600}".to_owned(),
            value: Some("q\"b\\n\n\t\u{1}\u{7f}".to_owned()),
        };
        assert_eq!(
            text(&label),
            r#"{"key":"h\u00e9llo/\ud83d\ude00","value":"q\"b\\n\n\t\u0001\u007f"}"#
                .replace("\\u007f", "\u{7f}")
        );
        assert_eq!(decode::<v1::Label>(text(&label).as_bytes()).unwrap(), label);
    }

    #[test]
    fn repeated_enums_drop_unknown_values() {
        // CapabilityInfo.capabilities: repeated enum, values 999 unknown.
        let known = v1::capability_info::Capability::Chown as i32;
        let info = v1::CapabilityInfo {
            capabilities: vec![known, 999],
        };
        assert_eq!(text(&info), r#"{"capabilities":["CHOWN"]}"#);
        let unknown_only = v1::CapabilityInfo {
            capabilities: vec![999],
        };
        assert_eq!(text(&unknown_only), "{}");
        // Packed encoding is accepted too (field 1, wire type 2).
        // CHOWN = 1000 and DAC_OVERRIDE = 1001 as varints.
        let packed = [0x0a, 0x04, 0xe8, 0x07, 0xe9, 0x07];
        assert_eq!(
            encode_dynamic("mesos.v1.CapabilityInfo", &packed).unwrap(),
            r#"{"capabilities":["CHOWN","DAC_OVERRIDE"]}"#
        );
        // Unknown names in a repeated enum are dropped on reading.
        let info: v1::CapabilityInfo =
            decode(br#"{"capabilities":["CHOWN","NO_SUCH_CAP"]}"#).unwrap();
        assert_eq!(info.capabilities, vec![known]);
    }

    #[test]
    fn unknown_enum_number_in_optional_field_is_unset() {
        let call = Call {
            r#type: Some(12345),
            ..Default::default()
        };
        assert_eq!(text(&call), "{}");
    }

    #[test]
    fn duplicate_singular_messages_merge() {
        // Two occurrences of FrameworkID field 1 in Call: protobuf merges them.
        let bytes = [0x0a, 0x03, 0x0a, 0x01, b'a', 0x0a, 0x03, 0x0a, 0x01, b'b'];
        assert_eq!(
            encode_dynamic("mesos.v1.scheduler.Call", &bytes).unwrap(),
            r#"{"framework_id":{"value":"b"}}"#
        );
    }

    // --- Reading rules ------------------------------------------------------

    #[test]
    fn strings_accepted_for_numbers_and_bools() {
        let info: v1::FrameworkInfo =
            decode(br#"{"user":"u","name":"n","failover_timeout":"100.5","checkpoint":"true"}"#)
                .unwrap();
        assert_eq!(info.failover_timeout, Some(100.5));
        assert_eq!(info.checkpoint, Some(true));
        let address: v1::Address = decode(br#"{"port":"5050"}"#).unwrap();
        assert_eq!(address.port, 5050);
        let range: v1::value::Range = decode(br#"{"begin":"1","end":2.0}"#).unwrap();
        assert_eq!((range.begin, range.end), (1, 2));
    }

    #[test]
    fn unknown_enum_names() {
        // Optional: dropped.
        let call: Call = decode(br#"{"type":"NOT_A_CALL"}"#).unwrap();
        assert_eq!(call.r#type, None);
        // Required: an error.
        let err = err_of::<v1::Resource>(r#"{"name":"cpus","type":"BOGUS"}"#);
        assert!(
            err.to_string().contains("Failed to find enum for 'BOGUS'"),
            "{err}"
        );
    }

    #[test]
    fn camel_case_names_are_not_fields() {
        let info: v1::FrameworkInfo =
            decode(br#"{"user":"u","name":"n","failoverTimeout":5,"webuiUrl":"x"}"#).unwrap();
        assert_eq!(info.failover_timeout, None);
        assert_eq!(info.webui_url, None);
    }

    #[test]
    fn single_value_for_repeated_field_is_one_element() {
        let info: v1::FrameworkInfo = decode(br#"{"user":"u","name":"n","roles":"web"}"#).unwrap();
        assert_eq!(info.roles, vec!["web".to_owned()]);
    }

    // --- Errors -------------------------------------------------------------

    #[test]
    fn number_for_enum_is_an_error() {
        let err = err_of::<Call>(r#"{"type":1}"#);
        assert_eq!(
            err.to_string(),
            "Expected enum name for field 'type', got number 1"
        );
    }

    #[test]
    fn missing_required_fields_are_listed() {
        let err =
            err_of::<Call>(r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}}"#);
        assert_eq!(
            err.to_string(),
            "Missing required fields: subscribe.framework_info.user"
        );
        let err = err_of::<v1::Offer>(
            r#"{"id":{"value":"o"},"framework_id":{},"agent_id":{"value":"a"},"resources":[{"name":"cpus","type":"SCALAR"},{"type":"SCALAR"}]}"#,
        );
        assert_eq!(
            err,
            JsonError::MissingRequiredFields(vec![
                "framework_id.value".to_owned(),
                "resources[1].name".to_owned(),
                "hostname".to_owned(),
            ])
        );
    }

    #[test]
    fn array_for_singular_field_is_an_error() {
        let err = err_of::<Call>(r#"{"framework_id":[{"value":"x"}]}"#);
        assert_eq!(
            err.to_string(),
            "Not expecting a JSON array for field 'framework_id'"
        );
    }

    #[test]
    fn wrong_json_types_are_errors() {
        assert!(matches!(
            err_of::<v1::Label>(r#"{"key":5}"#),
            JsonError::Invalid(_)
        ));
        assert!(matches!(
            err_of::<Call>(r#"{"framework_id":"x"}"#),
            JsonError::Invalid(_)
        ));
        assert!(matches!(
            err_of::<v1::FrameworkInfo>(r#"{"user":"u","name":"n","checkpoint":1}"#),
            JsonError::Invalid(_)
        ));
        assert!(matches!(
            err_of::<v1::FrameworkInfo>(r#"{"user":"u","name":"n","checkpoint":"yes"}"#),
            JsonError::Invalid(_)
        ));
        assert_eq!(
            err_of::<Call>("[1,2]").to_string(),
            "Expecting a JSON object"
        );
        assert_eq!(
            err_of::<Call>("\"x\"").to_string(),
            "Expecting a JSON object"
        );
    }

    #[test]
    fn out_of_range_integers_are_errors() {
        for body in [
            r#"{"port":3000000000}"#,
            r#"{"port":-2147483649}"#,
            r#"{"port":"99999999999"}"#,
            r#"{"port":1e300}"#,
        ] {
            assert!(
                matches!(err_of::<v1::Address>(body), JsonError::Invalid(_)),
                "{body}"
            );
        }
        for body in [
            r#"{"begin":-1,"end":1}"#,
            r#"{"begin":1,"end":18446744073709551616}"#,
            r#"{"begin":"-1","end":1}"#,
        ] {
            assert!(
                matches!(err_of::<v1::value::Range>(body), JsonError::Invalid(_)),
                "{body}"
            );
        }
        // uint32 MasterInfo.ip
        let body = r#"{"id":"m","ip":4294967296,"port":5050}"#;
        assert!(matches!(
            err_of::<v1::MasterInfo>(body),
            JsonError::Invalid(_)
        ));
    }

    #[test]
    fn invalid_base64_is_an_error() {
        let base = r#"{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"UUID"}"#;
        for bad in ["not base64!!", "ab-_", "A", "AB=C"] {
            let body = base.replace("UUID", bad);
            let err = err_of::<call::Acknowledge>(&body);
            assert!(
                err.to_string()
                    .starts_with("Failed to base64 decode bytes field 'uuid'"),
                "{bad}: {err}"
            );
        }
        for good in ["AQI", "AQI=", "A Q I =", ""] {
            let body = base.replace("UUID", good);
            let ack: call::Acknowledge = decode(body.as_bytes()).unwrap();
            assert_eq!(
                ack.uuid,
                if good.is_empty() { vec![] } else { vec![1, 2] },
                "{good}"
            );
        }
    }

    fn nested_container_json(depth: usize) -> String {
        let mut s = String::new();
        for _ in 0..depth {
            s.push_str(r#"{"value":"c","parent":"#);
        }
        s.push_str(r#"{"value":"root"}"#);
        for _ in 0..depth {
            s.push('}');
        }
        s
    }

    #[test]
    fn deep_nesting_is_an_error() {
        // ContainerID.parent is recursive.
        // Exactly MAX_DEPTH levels below the root work both ways (prost's
        // decode limit too); one more does not.
        let deepest: v1::ContainerId = decode(nested_container_json(MAX_DEPTH).as_bytes()).unwrap();
        assert_eq!(encode(&deepest), nested_container_json(MAX_DEPTH));
        assert_eq!(
            err_of::<v1::ContainerId>(&nested_container_json(MAX_DEPTH + 1)),
            JsonError::TooDeep
        );
        let bytes = prost::Message::encode_to_vec(&deepest);
        assert!(<v1::ContainerId as prost::Message>::decode(bytes.as_slice()).is_ok());
        assert!(encode_dynamic("mesos.v1.ContainerID", &bytes).is_ok());
        let deeper = v1::ContainerId {
            value: "c".to_owned(),
            parent: Some(Box::new(deepest)),
        };
        assert_eq!(try_encode(&deeper), Err(JsonError::TooDeep));
        assert_eq!(
            err_of::<v1::ContainerId>(&nested_container_json(110)),
            JsonError::TooDeep
        );
        // Far deeper than serde's own limit: a syntax error, no stack overflow.
        assert!(matches!(
            err_of::<v1::ContainerId>(&nested_container_json(100_000)),
            JsonError::Syntax(_)
        ));
        let arrays = "[".repeat(100_000);
        assert!(matches!(
            err_of::<v1::ContainerId>(&arrays),
            JsonError::Syntax(_)
        ));

        // Writing: a 150-deep ContainerID cannot be written.
        let mut id = v1::ContainerId {
            value: "root".to_owned(),
            parent: None,
        };
        for _ in 0..150 {
            id = v1::ContainerId {
                value: "c".to_owned(),
                parent: Some(Box::new(id)),
            };
        }
        assert_eq!(try_encode(&id), Err(JsonError::TooDeep));
        assert_eq!(encode(&id), "{}");
        assert_eq!(to_value(&id), serde_json::json!({}));
        let mut out = String::from("x");
        assert!(encode_into(&id, &mut out).is_err());
        assert_eq!(out, "x");
    }

    #[test]
    fn truncated_and_malformed_json_are_errors() {
        let full = PYMESOS_SUBSCRIBE.as_bytes();
        for cut in 0..full.len() {
            let err = decode::<Call>(&full[..cut]).expect_err("truncated input must fail");
            assert!(matches!(err, JsonError::Syntax(_)), "cut {cut}: {err}");
            assert!(err.to_string().starts_with("Failed to parse JSON: "));
        }
        for bad in [
            "",
            "{",
            "{\"type\":}",
            "{\"type\":\"SUBSCRIBE\",}",
            "NaN",
            "{\"a\":NaNa}",
            "\u{0}",
        ] {
            assert!(decode::<Call>(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(decode::<Call>(&[0xff, 0xfe, b'{']).is_err());
    }

    #[test]
    fn unknown_type_names() {
        assert_eq!(
            encode_dynamic("mesos.v1.NoSuchThing", &[]),
            Err(JsonError::UnknownType("mesos.v1.NoSuchThing".to_owned()))
        );
        assert!(matches!(
            decode_dynamic("nope", b"{}"),
            Err(JsonError::UnknownType(_))
        ));
    }

    #[test]
    fn malformed_protobuf_is_an_error() {
        for bytes in [
            &[0x0a][..],             // truncated length
            &[0x0a, 0x05, 0x0a][..], // length past the end
            &[0x08][..],             // truncated varint
            &[0x0b][..],             // group
            &[0x00, 0x01][..],       // field number 0
            &[0x09, 1, 2, 3][..],    // truncated fixed64 (wire type mismatch too)
            &[0x0a, 0x02, 0x0a, 0x80][..],
        ] {
            assert!(
                matches!(
                    encode_dynamic("mesos.v1.scheduler.Call", bytes),
                    Err(JsonError::InvalidProtobuf { .. })
                ),
                "{bytes:?}"
            );
        }
        // Invalid UTF-8 in a string field.
        assert!(encode_dynamic("mesos.v1.FrameworkID", &[0x0a, 0x01, 0xff]).is_err());
    }

    /// Tiny deterministic PRNG for the robustness tests.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let types = [
            "mesos.v1.scheduler.Call",
            "mesos.v1.scheduler.Event",
            "mesos.v1.TaskInfo",
            "mesos.v1.ContainerID",
            "mesos.v1.CapabilityInfo",
            "mesos.internal.RunTaskMessage",
        ];
        let seed_json = encode(&offers_event()).into_bytes();
        let seed_pb = prost::Message::encode_to_vec(&offers_event());
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut oks = 0;
        let mut json_oks = 0;
        for round in 0..3000 {
            let ty = types[round % types.len()];
            // Random protobuf bytes, and mutated valid ones.
            let len = (rng.next() % 64) as usize;
            let random: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let _ = encode_dynamic(ty, &random);
            let mut mutated = seed_pb.clone();
            for _ in 0..3 {
                let at = (rng.next() as usize) % mutated.len();
                mutated[at] = rng.next() as u8;
            }
            if encode_dynamic("mesos.v1.scheduler.Event", &mutated).is_ok() {
                oks += 1;
            }
            // Mutated JSON.
            let mut json = seed_json.clone();
            for _ in 0..2 {
                let at = (rng.next() as usize) % json.len();
                json[at] = b"{}[]\",:0-9aNI\\ e"[(rng.next() % 16) as usize];
            }
            // Whatever reads must write stably.
            if let Ok(pb) = decode_dynamic("mesos.v1.scheduler.Event", &json) {
                let first = encode_dynamic("mesos.v1.scheduler.Event", &pb).unwrap();
                let pb2 = decode_dynamic("mesos.v1.scheduler.Event", first.as_bytes()).unwrap();
                let second = encode_dynamic("mesos.v1.scheduler.Event", &pb2).unwrap();
                assert_eq!(first, second);
                json_oks += 1;
            }
            let _ = decode_dynamic(ty, &random);
        }
        assert!(oks > 0, "some protobuf mutations should still decode");
        assert!(json_oks > 0, "some JSON mutations should still decode");
    }

    #[test]
    fn v0_and_v1_json_differ_only_in_names() {
        let v0 = crate::mesos::SlaveId {
            value: "s".to_owned(),
        };
        assert_eq!(text(&v0), r#"{"value":"s"}"#);
        let v0_offer = crate::mesos::Offer {
            id: crate::mesos::OfferId {
                value: "o".to_owned(),
            },
            framework_id: crate::mesos::FrameworkId {
                value: "f".to_owned(),
            },
            slave_id: crate::mesos::SlaveId {
                value: "s".to_owned(),
            },
            hostname: "h".to_owned(),
            ..Default::default()
        };
        assert_eq!(
            text(&v0_offer),
            r#"{"id":{"value":"o"},"framework_id":{"value":"f"},"slave_id":{"value":"s"},"hostname":"h"}"#
        );
    }

    /// Timing for a 10,000-task `GetTasks` (run with `--release -- --ignored
    /// --nocapture`); also checks that the big document round-trips.
    #[test]
    #[ignore]
    fn bench_ten_thousand_tasks() {
        use crate::mesos::v1::master::response;
        let mut tasks = Vec::new();
        for i in 0..10_000 {
            let status = v1::TaskStatus {
                task_id: v1::TaskId {
                    value: format!("task-{i}"),
                },
                state: v1::TaskState::TaskRunning as i32,
                source: Some(v1::task_status::Source::Executor as i32),
                agent_id: Some(v1::AgentId {
                    value: "agent-S1".to_owned(),
                }),
                timestamp: Some(1_700_000_000.123_456),
                uuid: Some(vec![7; 16]),
                container_status: Some(v1::ContainerStatus {
                    container_id: Some(v1::ContainerId {
                        value: format!("c-{i}"),
                        parent: None,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            tasks.push(v1::Task {
                name: format!("task {i}"),
                task_id: v1::TaskId {
                    value: format!("task-{i}"),
                },
                framework_id: v1::FrameworkId {
                    value: "fw-0001".to_owned(),
                },
                executor_id: None,
                agent_id: v1::AgentId {
                    value: "agent-S1".to_owned(),
                },
                state: v1::TaskState::TaskRunning as i32,
                resources: vec![scalar_resource("cpus", 0.1), scalar_resource("mem", 32.0)],
                statuses: vec![status.clone(), status],
                labels: Some(v1::Labels {
                    labels: vec![v1::Label {
                        key: "k".to_owned(),
                        value: Some("v".to_owned()),
                    }],
                }),
                ..Default::default()
            });
        }
        let state = response::GetTasks {
            tasks,
            ..Default::default()
        };
        let start = std::time::Instant::now();
        let json = encode(&state);
        let t_text = start.elapsed();
        let start = std::time::Instant::now();
        let value = to_value(&state);
        let t_value = start.elapsed();
        let start = std::time::Instant::now();
        let back: response::GetTasks = decode(json.as_bytes()).unwrap();
        let t_decode = start.elapsed();
        let start = std::time::Instant::now();
        let pb = prost::Message::encode_to_vec(&state);
        let t_prost = start.elapsed();
        assert_eq!(back, state);
        assert!(value.is_object());
        eprintln!("json {} bytes (pb {}): encode {t_text:?}, to_value {t_value:?}, decode {t_decode:?}, prost encode {t_prost:?}", json.len(), pb.len());
    }
}
