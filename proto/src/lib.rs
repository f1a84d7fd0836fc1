//! Generated protobuf and gRPC types of the `residence.v1` API.
//!
//! The `.proto` files beside this crate are compiled on every build, so the Rust types can never
//! drift from them.

#![allow(
    clippy::doc_lazy_continuation,
    reason = "generated code copies proto comments as is"
)]

/// The `residence.v1` package.
pub mod v1 {
    tonic::include_proto!("residence.v1");

    /// Encoded `FileDescriptorSet` of every `residence.v1` file, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/residence_v1_descriptor.bin"));
}
