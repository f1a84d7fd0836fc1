//! The e-license service process.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = residence_elicense::Args::parse();
    let _telemetry = residence_runtime::telemetry::init("elicense", args.common.log_format)?;
    residence_elicense::run(args).await
}
