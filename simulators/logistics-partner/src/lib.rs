//! A simulated logistics partner (物流合作方, e.g. EMS) for the demo and the integration tests.
//!
//! It behaves as an outside courier following `docs/partners/logistics.md` would: it connects
//! with its partner credentials, binds to the durable consumer the county created for it,
//! reads waybill requests from `logistics.v1.<partner>.waybill.requested` and reports
//! `accepted`, `picked_up`, `in_transit` and then `delivered` or `failed`, using only the
//! subjects and JSON schemas of the partner contract.

mod courier;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use residence_events::logistics;
use residence_simulator_kit::{Feed, Recorder, parse_code, parse_share};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The longest delay between two statuses. The simulator reports progress before each pause,
/// so one pause only has to fit in the consumer's 30-second ack wait.
const MAX_LATENCY_MS: u64 = 20_000;

/// The login flags, shared with the other simulators.
pub use residence_simulator_kit::Login;

/// Command-line flags of `logistics-partner-simulator`; each also reads an environment variable.
#[derive(Clone, Debug, Parser)]
#[command(name = "logistics-partner-simulator", version, about)]
pub struct Args {
    /// NATS server to connect to.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// How the partner logs in.
    #[command(flatten)]
    pub login: Login,

    /// Partner code: the `{partner}` token of the subjects (letters, digits, `-`, `_`).
    #[arg(
        long,
        env = "LOGISTICS_SIMULATOR_PARTNER",
        default_value = "ems",
        value_parser = parse_code
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
            login: Login::default(),
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
/// Waits for its consumer if the courier service has not created it yet.
pub async fn run(args: Args, shutdown: CancellationToken) -> anyhow::Result<()> {
    let recorder = Recorder::open(args.record_file.clone(), "parcel_reference").await?;
    let client_name = format!("logistics-partner-simulator:{}", args.partner);
    let connection = args.login.connect(&args.nats_url, &client_name).await?;

    let courier = courier::Courier {
        jetstream: connection.jetstream().clone(),
        partner: args.partner.clone(),
        failures: courier::failures(args.failure_share, args.seed.unwrap_or(0)),
        latency: args.latency(),
        recorder,
    };
    let settings = tracing::info_span!(
        "simulator",
        partner = %args.partner,
        failure_share = args.failure_share,
    );
    let feed = feed(&args.partner);
    connection
        .serve_existing(&feed, &courier, &shutdown)
        .instrument(settings)
        .await;
    Ok(())
}

/// Where `partner` reads its waybill requests: the durable consumer
/// `partner-<partner>-waybills` on the partner's subject of the `LOGISTICS` stream, which the
/// courier service creates.
pub fn feed(partner: &str) -> Feed {
    Feed {
        stream: "LOGISTICS",
        durable_name: logistics::waybill_consumer(partner),
        filter_subject: logistics::waybill_requested(partner),
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
        assert!(args.login.credentials().unwrap().is_none());
    }

    #[test]
    fn credentials_need_a_user_and_a_password_file() {
        let parse = |flags: &[&str]| {
            let argv = ["logistics-partner-simulator"].iter().chain(flags);
            Args::try_parse_from(argv)
        };
        assert!(parse(&["--nats-user=ems"]).is_err());
        assert!(parse(&["--nats-password-file=/run/secrets/ems"]).is_err());
        let args = parse(&["--nats-user=ems", "--nats-password-file=/nonexistent/ems"]).unwrap();
        assert!(
            args.login.credentials().is_err(),
            "the password file does not exist"
        );
    }

    #[test]
    fn refuses_out_of_range_values() {
        let parse = |flag: &str| Args::try_parse_from(["logistics-partner-simulator", flag]);
        assert!(parse("--failure-share=1.5").is_err());
        assert!(parse("--partner=ems.cn").is_err());
        assert!(parse("--latency-ms=60000").is_err());
    }
}
