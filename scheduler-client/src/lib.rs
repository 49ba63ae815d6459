//! A v1 Scheduler HTTP API client (protobuf or JSON), the building block of
//! our scheduler library and of `mesos-execute` / `bench-launch`.
//!
//! - [`Client`] / [`Subscription`]: SUBSCRIBE and the event stream, the other
//!   calls on their own connection (checklist §1, "Scheduler-side rules");
//! - [`http`]: HTTP/1.1 + RecordIO plumbing, also used by the command executor;
//! - [`resources`]: dividing an offer among tasks, in the offer's format.
//!
//! This crate never makes scheduling decisions and never retries on its own.

pub mod client;
mod error;
pub mod http;
pub mod resources;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

pub use client::{launch_operation, Client, Credential, Subscription};
pub use error::Error;
pub use http::{ContentType, Endpoint};
