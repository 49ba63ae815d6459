//! Mesos wire types and the codecs every other crate speaks.
//!
//! - the prost-generated types for every upstream package, under their
//!   protobuf package paths: `mesos::v1::scheduler::Call`, `mesos::internal::RunTaskMessage`, ...
//!   (every message implements `prost::Name`, so its full type name is known);
//! - [`json`]: the Mesos JSON mapping (stout's, not proto3's);
//! - [`recordio`]: the `<length>\n<bytes>` stream framing;
//! - [`convert`]: v0 ⇄ v1 re-encoding between twin messages;
//! - [`resources`]: the `Resources` arithmetic with upstream semantics;
//! - [`protobuf`]: terminal task states and decoding with required-field
//!   checks (upstream `protobuf_utils` and `ParseFromString`);
//! - [`ids`]: typed framework, executor, task, container and agent ids for
//!   the state daemons keep.
//!
//! This crate does no I/O.

#[allow(clippy::all, missing_docs, rust_2018_idioms)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/_includes.rs"));
}
pub use generated::*;

pub mod convert;
pub mod ids;
pub mod json;
pub mod legacy_json;
pub mod protobuf;
pub mod recordio;
pub mod resources;
pub mod scheduler_call;

pub use protobuf::{decode_checked, is_terminal_state, DecodeError};

/// The encoded `FileDescriptorSet` of every file under `vendor-protos/`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mesos_descriptor_set.bin"));
