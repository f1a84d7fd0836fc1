//! The review service process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Defaults, then the configuration file, the environment and the flags, checked before
    // anything is opened or bound.
    let args = residence_runtime::config_file::parse::<residence_review::Args>("review");
    let _telemetry = residence_runtime::telemetry::init("review", args.common.log_format)?;
    residence_review::run(args).await
}
