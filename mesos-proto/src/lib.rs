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

#[cfg(test)]
mod tests {
    use super::mesos::{self as v0, v1};
    use std::mem::size_of;

    /// A master holds hundreds of thousands of tasks and their resources:
    /// the rarely set big fields (`Resource.disk`, `Resource.reservation`,
    /// `Task.container`, ...) must stay boxed (see build.rs), else every
    /// entry carries them inline.
    #[test]
    fn resources_and_tasks_stay_small() {
        for (name, size, limit) in [
            ("v1::Resource", size_of::<v1::Resource>(), 200),
            ("v0::Resource", size_of::<v0::Resource>(), 200),
            ("v1::Task", size_of::<v1::Task>(), 512),
            ("v0::Task", size_of::<v0::Task>(), 512),
        ] {
            assert!(size <= limit, "{name} is {size} bytes (limit {limit})");
        }
    }
}
