//! The intake service process.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = residence_intake::Args::parse();
    let _telemetry = residence_runtime::telemetry::init("intake", args.common.log_format)?;
    residence_intake::run(args).await
}
