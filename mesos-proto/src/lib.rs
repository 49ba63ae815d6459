//! Mesos wire types and codecs.

#[allow(clippy::all, missing_docs, rust_2018_idioms)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/_includes.rs"));
}
pub use generated::*;

/// The encoded `FileDescriptorSet` of every file under `vendor-protos/`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mesos_descriptor_set.bin"));
