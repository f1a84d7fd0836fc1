//! The delivery service process.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = residence_delivery::Args::parse();
    let _telemetry = residence_runtime::telemetry::init("delivery", args.common.log_format)?;
    residence_delivery::run(args).await
}
