//! `residence`: the operator's command line.

use std::process::ExitCode;

use clap::Parser;
use residence_cli::cli::{self, Cli};

fn main() -> ExitCode {
    cli::run(Cli::parse())
}
