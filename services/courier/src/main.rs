//! The courier dispatch service process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Defaults, then the configuration file, the environment and the flags, checked before
    // anything is opened or bound.
    let args = residence_runtime::config_file::parse::<residence_courier::Args>("courier");
    let _telemetry = residence_runtime::telemetry::init("courier", args.common.log_format)?;
    residence_courier::run(args).await
}
