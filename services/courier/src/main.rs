//! The courier dispatch service process.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = residence_courier::Args::parse();
    let _telemetry = residence_runtime::telemetry::init("courier", args.common.log_format)?;
    residence_courier::run(args).await
}
