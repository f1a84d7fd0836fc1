//! The e-license service process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Defaults, then the configuration file, the environment and the flags, checked before
    // anything is opened or bound.
    let args = residence_runtime::config_file::parse::<residence_elicense::Args>("elicense");
    let _telemetry = residence_runtime::telemetry::init("elicense", args.common.log_format)?;
    residence_elicense::run(args).await
}
