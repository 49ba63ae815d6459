//! Our `vendor-protos/` must describe exactly the upstream wire schema:
//! every message, field (name, number, label, type, type name, default,
//! deprecation, oneof), every enum value and every file option, as listed in
//! `../shared/reference/mesos-wire-schema.json`.
//!
//! The descriptor set compared here is the one `mesos-proto` compiled from
//! our .proto files, so this test checks the very types the binaries use.

use std::collections::BTreeMap;
use std::path::PathBuf;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};
use serde_json::{json, Map, Value};

fn schema_path() -> PathBuf {
    if let Ok(p) = std::env::var("MESOS_WIRE_SCHEMA") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/mesos-wire-schema.json")
}

fn type_name(t: Type) -> &'static str {
    match t {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Group => "group",
        Type::Message => "message",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Enum => "enum",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
    }
}

fn label_name(l: Label) -> &'static str {
    match l {
        Label::Optional => "optional",
        Label::Required => "required",
        Label::Repeated => "repeated",
    }
}

/// Renders one message (and, recursively, its nested types) in the schema's
/// shape, so that the two sides can be compared as JSON values.
fn walk_message(prefix: &str, m: &DescriptorProto, msgs: &mut Vec<Value>, enums: &mut Vec<Value>) {
    let name = format!("{prefix}.{}", m.name());
    let mut fields = Vec::new();
    for f in &m.field {
        let mut o = Map::new();
        o.insert("name".into(), json!(f.name()));
        o.insert("number".into(), json!(f.number()));
        o.insert("label".into(), json!(label_name(f.label())));
        o.insert("type".into(), json!(type_name(f.r#type())));
        if let Some(t) = &f.type_name {
            o.insert("type_name".into(), json!(t.trim_start_matches('.')));
        }
        if let Some(d) = &f.default_value {
            o.insert("default".into(), json!(d));
        }
        if f.options.as_ref().is_some_and(|o| o.deprecated()) {
            o.insert("deprecated".into(), json!(true));
        }
        if let Some(i) = f.oneof_index {
            let oneof = m
                .oneof_decl
                .get(i as usize)
                .map(|d| d.name())
                .unwrap_or("?");
            o.insert("oneof".into(), json!(oneof));
        }
        fields.push(Value::Object(o));
    }
    msgs.push(json!({"name": name, "fields": fields}));
    for n in &m.nested_type {
        walk_message(&name, n, msgs, enums);
    }
    for e in &m.enum_type {
        enums.push(walk_enum(&name, e));
    }
}

fn walk_enum(prefix: &str, e: &EnumDescriptorProto) -> Value {
    let values: Vec<Value> = e
        .value
        .iter()
        .map(|v| json!([v.name(), v.number()]))
        .collect();
    json!({"name": format!("{prefix}.{}", e.name()), "values": values})
}

/// Differences between two JSON values, one line each, with a path.
fn diff(path: &str, ours: &Value, theirs: &Value, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, bv) in b {
                match a.get(k) {
                    Some(av) => diff(&format!("{path}.{k}"), av, bv, out),
                    None => out.push(format!("{path}.{k}: missing in ours (upstream {bv})")),
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                out.push(format!("{path}.{k}: extra in ours ({})", a[k]));
            }
        }
        _ if ours == theirs => {}
        _ => out.push(format!("{path}: ours {ours} != upstream {theirs}")),
    }
}

/// Keys a list of named items by name so that order does not hide or fake a
/// difference; field order inside a message is compared separately.
fn by_name(items: &[Value]) -> Value {
    let mut m = Map::new();
    for it in items {
        let name = it["name"].as_str().unwrap_or_default().to_string();
        m.insert(name, it.clone());
    }
    Value::Object(m)
}

fn fields_by_number(msg: &Value) -> Value {
    let mut m = Map::new();
    if let Some(fields) = msg["fields"].as_array() {
        for f in fields {
            m.insert(f["number"].to_string(), f.clone());
        }
    }
    Value::Object(m)
}

#[test]
fn our_protos_match_the_upstream_wire_schema_field_for_field() {
    let raw = std::fs::read_to_string(schema_path()).unwrap_or_else(|e| {
        panic!(
            "cannot read the wire schema at {}: {e}",
            schema_path().display()
        )
    });
    let schema: Value = serde_json::from_str(&raw).expect("wire schema is JSON");
    let fds = FileDescriptorSet::decode(mesos_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let ours: BTreeMap<&str, _> = fds.file.iter().map(|f| (f.name(), f)).collect();

    let mut diffs = Vec::new();
    let mut compared = (0usize, 0usize, 0usize);
    for file in schema["files"].as_array().expect("files") {
        let path = file["path"].as_str().unwrap_or_default();
        let Some(f) = ours.get(path) else {
            diffs.push(format!("{path}: file missing in vendor-protos"));
            continue;
        };
        compared.0 += 1;
        let mut top = Vec::new();
        top.push(("package", json!(f.package())));
        top.push((
            "syntax",
            json!(f.syntax.clone().unwrap_or_else(|| "proto2".into())),
        ));
        top.push(("imports", json!(f.dependency)));
        let mut opts = Map::new();
        if let Some(o) = &f.options {
            if let Some(p) = &o.java_package {
                opts.insert("java_package".into(), json!(p));
            }
            if let Some(c) = &o.java_outer_classname {
                opts.insert("java_outer_classname".into(), json!(c));
            }
        }
        top.push(("options", Value::Object(opts)));
        for (k, v) in top {
            diff(&format!("{path}:{k}"), &v, &file[k], &mut diffs);
        }

        let (mut msgs, mut enums) = (Vec::new(), Vec::new());
        for m in &f.message_type {
            walk_message(f.package(), m, &mut msgs, &mut enums);
        }
        for e in &f.enum_type {
            enums.push(walk_enum(f.package(), e));
        }
        let theirs_msgs = file["messages"].as_array().cloned().unwrap_or_default();
        let theirs_enums = file["enums"].as_array().cloned().unwrap_or_default();
        compared.1 += theirs_msgs.len();
        compared.2 += theirs_enums.len();

        let (ours_m, theirs_m) = (by_name(&msgs), by_name(&theirs_msgs));
        for (name, tm) in theirs_m.as_object().into_iter().flatten() {
            match ours_m.get(name) {
                None => diffs.push(format!("{path}: message {name} missing in ours")),
                Some(om) => {
                    diff(
                        &format!("{path}:{name}"),
                        &fields_by_number(om),
                        &fields_by_number(tm),
                        &mut diffs,
                    );
                    let order = |m: &Value| -> Vec<Value> {
                        m["fields"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|f| f["number"].clone())
                            .collect()
                    };
                    if order(om) != order(tm) {
                        diffs.push(format!("{path}:{name}: field declaration order differs"));
                    }
                }
            }
        }
        for name in ours_m.as_object().into_iter().flatten().map(|(k, _)| k) {
            if theirs_m.get(name).is_none() {
                diffs.push(format!("{path}: message {name} extra in ours"));
            }
        }
        diff(
            &format!("{path}:enums"),
            &by_name(&enums),
            &by_name(&theirs_enums),
            &mut diffs,
        );
    }

    for d in &diffs {
        println!("DIFF {d}");
    }
    println!(
        "compared {} files, {} messages, {} enums: {} differences",
        compared.0,
        compared.1,
        compared.2,
        diffs.len()
    );
    assert!(
        compared.0 >= 44,
        "the schema lists 44 files; compared only {}",
        compared.0
    );
    assert!(
        diffs.is_empty(),
        "{} differences from the upstream wire schema (see DIFF lines)",
        diffs.len()
    );
}
