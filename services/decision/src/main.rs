//! The decision service process.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = residence_decision::Args::parse();
    let _telemetry = residence_runtime::telemetry::init("decision", args.common.log_format)?;
    residence_decision::run(args).await
}
