//! The review service process.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = residence_review::Args::parse();
    let _telemetry = residence_runtime::telemetry::init("review", args.common.log_format)?;
    residence_review::run(args).await
}
