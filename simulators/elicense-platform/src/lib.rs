//! A simulated e-license platform (电子证照平台, e.g. the provincial one) for the demo and the
//! integration tests.
//!
//! It behaves as the outside platform would: it reads issued licenses from
//! `elicense.v1.license.issued`, registers them, and answers on `elicense.v1.license.acknowledged`,
//! using only the subjects and JSON schemas of the partner contract.

mod choice;
mod consumer;
mod platform;
mod record;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

pub use consumer::{consumer_config, durable_name};

/// How long shutting down waits for the last acks to reach the broker.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Command-line flags of `elicense-platform-simulator`; each also reads an environment variable.
#[derive(Clone, Debug, Parser)]
#[command(name = "elicense-platform-simulator", version, about)]
pub struct Args {
    /// NATS server to connect to.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// Platform code, sent in every acknowledgement (letters, digits, `-`, `_`).
    #[arg(
        long,
        env = "ELICENSE_SIMULATOR_PLATFORM",
        default_value = "henan-elicense",
        value_parser = parse_platform
    )]
    pub platform: String,

    /// File to append one JSON line to per issued license received.
    #[arg(long, env = "ELICENSE_SIMULATOR_RECORD_FILE")]
    pub record_file: Option<PathBuf>,

    /// Share of licenses the platform rejects, from 0.0 to 1.0. Which ones depends only on
    /// the license identifier, so a license delivered again gets the same answer.
    #[arg(
        long,
        env = "ELICENSE_SIMULATOR_REJECT_SHARE",
        default_value_t = 0.0,
        value_parser = parse_share
    )]
    pub reject_share: f64,
}

impl Args {
    /// Flags for `platform` with every other option at its default, for tests and embedding.
    pub fn new(nats_url: &str, platform: &str) -> Self {
        Self {
            nats_url: nats_url.to_owned(),
            platform: platform.to_owned(),
            record_file: None,
            reject_share: 0.0,
        }
    }
}

/// Registers issued licenses until `shutdown` is cancelled, then finishes the license in
/// flight and returns.
///
/// Waits for the `ELICENSE` stream if the services have not created it yet.
pub async fn run(args: Args, shutdown: CancellationToken) -> anyhow::Result<()> {
    let recorder = record::Recorder::open(args.record_file.clone()).await?;
    let client = connect(
        &args.nats_url,
        &format!("elicense-platform-simulator:{}", args.platform),
    )
    .await?;
    let jetstream = async_nats::jetstream::new(client.clone());

    let platform = platform::Platform {
        jetstream: jetstream.clone(),
        name: args.platform.clone(),
        rejections: choice::Rejections::new(args.reject_share),
        recorder,
    };
    let reject_share = args.reject_share;
    tracing::info!(platform = %args.platform, reject_share, "simulator started");
    consumer::serve(&jetstream, &args.platform, &platform, &shutdown).await;

    flush(&client).await;
    tracing::info!(platform = %args.platform, "simulator stopped");
    Ok(())
}

/// Connects to `url`, retrying in the background while the server is not up yet.
async fn connect(url: &str, client_name: &str) -> anyhow::Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .name(client_name)
        .retry_on_initial_connect()
        .connect(url)
        .await
        .with_context(|| format!("connect to nats at {url}"))
}

/// Sends the last acks before the connection closes, without hanging on a broker that is gone.
async fn flush(client: &async_nats::Client) {
    match tokio::time::timeout(FLUSH_TIMEOUT, client.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "could not flush the last acks to nats"),
        Err(_) => tracing::warn!("nats did not take the last acks in time"),
    }
}

fn parse_platform(value: &str) -> Result<String, String> {
    let valid = !value.is_empty()
        && value.len() <= 32
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(value.to_owned())
    } else {
        Err("expected 1 to 32 ascii letters, digits, `-` or `_`".to_owned())
    }
}

fn parse_share(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err("expected a number from 0.0 to 1.0".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_flag() {
        let args = Args::try_parse_from([
            "elicense-platform-simulator",
            "--nats-url=nats://127.0.0.1:4333",
            "--platform=gov-elicense",
            "--record-file=/tmp/licenses.jsonl",
            "--reject-share=0.5",
        ])
        .unwrap();
        assert_eq!(args.platform, "gov-elicense");
        assert_eq!(args.reject_share, 0.5);
        assert_eq!(args.record_file, Some(PathBuf::from("/tmp/licenses.jsonl")));
    }

    #[test]
    fn refuses_out_of_range_values() {
        let parse = |flag: &str| Args::try_parse_from(["elicense-platform-simulator", flag]);
        assert!(parse("--reject-share=2").is_err());
        assert!(parse("--reject-share=abc").is_err());
        assert!(parse("--platform=henan.elicense").is_err());
        assert!(parse("--platform=").is_err());
    }
}
