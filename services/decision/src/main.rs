//! The decision service process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Defaults, then the configuration file, the environment and the flags, checked before
    // anything is opened or bound.
    let args = residence_runtime::config_file::parse::<residence_decision::Args>("decision");
    let _telemetry = residence_runtime::telemetry::init("decision", args.common.log_format)?;
    residence_decision::run(args).await
}
