//! Runs the logistics partner simulator until SIGTERM or Ctrl-C.

use clap::Parser;
use residence_logistics_partner_simulator::{Args, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    residence_simulator_kit::run_until_signal(|shutdown| run(args, shutdown)).await
}
