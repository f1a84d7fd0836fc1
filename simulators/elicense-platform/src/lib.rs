//! A simulated e-license platform (电子证照平台, e.g. the provincial one) for the demo and the
//! integration tests.
//!
//! It behaves as the outside platform would: it reads issued licenses from
//! `elicense.v1.license.issued`, registers them, and answers on `elicense.v1.license.acknowledged`,
//! using only the subjects and JSON schemas of the partner contract.

mod platform;

use std::path::PathBuf;

use clap::Parser;
use residence_events::elicense;
use residence_simulator_kit::{Connection, Feed, Recorder, parse_code, parse_share};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

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
        value_parser = parse_code
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
    let recorder = Recorder::open(args.record_file.clone()).await?;
    let client_name = format!("elicense-platform-simulator:{}", args.platform);
    let connection = Connection::open(&args.nats_url, &client_name).await?;

    let platform = platform::Platform {
        jetstream: connection.jetstream().clone(),
        name: args.platform.clone(),
        rejections: platform::rejections(args.reject_share),
        recorder,
    };
    let settings = tracing::info_span!(
        "simulator",
        platform = %args.platform,
        reject_share = args.reject_share,
    );
    let feed = feed(&args.platform);
    connection
        .serve(&feed, &platform, &shutdown)
        .instrument(settings)
        .await;
    Ok(())
}

/// Where `platform` reads issued licenses: the durable consumer
/// `platform-<platform>-licenses` on the issued-license subject of the `ELICENSE` stream.
pub fn feed(platform: &str) -> Feed {
    Feed {
        stream: "ELICENSE",
        durable_name: format!("platform-{platform}-licenses"),
        filter_subject: elicense::LICENSE_ISSUED.to_owned(),
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
        assert!(parse("--platform=henan.elicense").is_err());
    }
}
