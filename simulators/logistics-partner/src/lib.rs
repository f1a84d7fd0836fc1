//! A simulated logistics partner (物流合作方, e.g. EMS) for the demo and the integration tests.
//!
//! It behaves as an outside courier would: it reads waybill requests from
//! `logistics.v1.<partner>.waybill.requested` and reports `accepted`, `picked_up` and then
//! `delivered` or `failed`, using only the subjects and JSON schemas of the partner contract.

mod choice;
mod consumer;
mod courier;
mod record;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

pub use consumer::{consumer_config, durable_name};

/// How long shutting down waits for the last acks to reach the broker.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest delay between two statuses. The simulator reports progress before each pause,
/// so one pause only has to fit in the consumer's 30-second ack wait.
const MAX_LATENCY_MS: u64 = 20_000;

/// Command-line flags of `logistics-partner-simulator`; each also reads an environment variable.
#[derive(Clone, Debug, Parser)]
#[command(name = "logistics-partner-simulator", version, about)]
pub struct Args {
    /// NATS server to connect to.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// Partner code: the `{partner}` token of the subjects (letters, digits, `-`, `_`).
    #[arg(
        long,
        env = "LOGISTICS_SIMULATOR_PARTNER",
        default_value = "ems",
        value_parser = parse_partner
    )]
    pub partner: String,

    /// Share of parcels whose delivery fails, from 0.0 to 1.0.
    #[arg(
        long,
        env = "LOGISTICS_SIMULATOR_FAILURE_SHARE",
        default_value_t = 0.1,
        value_parser = parse_share
    )]
    pub failure_share: f64,

    /// Seed for choosing which parcels fail. The choice depends only on the seed and the
    /// parcel reference, so it is the same after a restart; without a seed, 0 is used.
    #[arg(long, env = "LOGISTICS_SIMULATOR_SEED")]
    pub seed: Option<u64>,

    /// File to append one JSON line to per waybill request received.
    #[arg(long, env = "LOGISTICS_SIMULATOR_RECORD_FILE")]
    pub record_file: Option<PathBuf>,

    /// Delay between two statuses of a parcel, in milliseconds (at most 20000).
    #[arg(
        long,
        env = "LOGISTICS_SIMULATOR_LATENCY_MS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u64).range(..=MAX_LATENCY_MS)
    )]
    pub latency_ms: u64,
}

impl Args {
    /// Flags for `partner` with every other option at its default, for tests and embedding.
    pub fn new(nats_url: &str, partner: &str) -> Self {
        Self {
            nats_url: nats_url.to_owned(),
            partner: partner.to_owned(),
            failure_share: 0.1,
            seed: None,
            record_file: None,
            latency_ms: 0,
        }
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

/// Serves waybill requests until `shutdown` is cancelled, then finishes the request in
/// flight and returns.
///
/// Waits for the `LOGISTICS` stream if the services have not created it yet.
pub async fn run(args: Args, shutdown: CancellationToken) -> anyhow::Result<()> {
    let recorder = record::Recorder::open(args.record_file.clone()).await?;
    let client = connect(
        &args.nats_url,
        &format!("logistics-partner-simulator:{}", args.partner),
    )
    .await?;
    let jetstream = async_nats::jetstream::new(client.clone());

    let courier = courier::Courier {
        jetstream: jetstream.clone(),
        partner: args.partner.clone(),
        plan: choice::Plan::new(args.failure_share, args.seed.unwrap_or(0)),
        latency: args.latency(),
        recorder,
    };
    let failure_share = args.failure_share;
    tracing::info!(partner = %args.partner, failure_share, "simulator started");
    consumer::serve(&jetstream, &args.partner, &courier, &shutdown).await;

    flush(&client).await;
    tracing::info!(partner = %args.partner, "simulator stopped");
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

fn parse_partner(value: &str) -> Result<String, String> {
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
            "logistics-partner-simulator",
            "--nats-url=nats://127.0.0.1:4333",
            "--partner=sf-express",
            "--failure-share=0.25",
            "--seed=7",
            "--record-file=/tmp/waybills.jsonl",
            "--latency-ms=20",
        ])
        .unwrap();
        assert_eq!(args.partner, "sf-express");
        assert_eq!(args.failure_share, 0.25);
        assert_eq!(args.seed, Some(7));
        assert_eq!(args.latency(), Duration::from_millis(20));
    }

    #[test]
    fn refuses_out_of_range_values() {
        let parse = |flag: &str| Args::try_parse_from(["logistics-partner-simulator", flag]);
        assert!(parse("--failure-share=1.5").is_err());
        assert!(parse("--failure-share=-0.1").is_err());
        assert!(parse("--partner=ems.cn").is_err());
        assert!(parse("--partner=*").is_err());
        assert!(parse("--latency-ms=60000").is_err());
    }
}
