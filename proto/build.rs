//! Compiles `residence/v1/*.proto` with protox (no `protoc` binary needed) and writes the
//! descriptor set that server reflection serves.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "residence/v1/common.proto",
    "residence/v1/intake.proto",
    "residence/v1/review.proto",
    "residence/v1/decision.proto",
    "residence/v1/delivery.proto",
    "residence/v1/elicense.proto",
    "residence/v1/supervision.proto",
];

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-changed=residence");
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let descriptors = protox::compile(PROTOS, [&manifest_dir])?;
    std::fs::write(
        out_dir.join("residence_v1_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
