//! Runs the e-license platform simulator until SIGTERM or Ctrl-C.

use clap::Parser;
use residence_elicense_platform_simulator::{Args, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    residence_simulator_kit::run_until_signal(|shutdown| run(args, shutdown)).await
}
