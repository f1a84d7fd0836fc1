//! A simulated e-license platform (电子证照平台, e.g. the provincial one) for the demo and the
//! integration tests.
//!
//! It behaves as the outside platform would: it reads issued licenses from
//! `elicense.v1.license.issued` and revocations from `elicense.v1.license.revoked`, verifies
//! their SM2 signatures with the public key document the county handed out, registers or
//! rejects them, and answers on `elicense.v1.license.acknowledged`, using only the subjects and
//! JSON schemas of the partner contract.

mod platform;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use residence_events::elicense;
use residence_simulator_kit::{Feed, Recorder, parse_code, parse_share};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The login flags, shared with the other simulators.
pub use residence_simulator_kit::Login;

/// Command-line flags of `elicense-platform-simulator`; each also reads an environment variable.
#[derive(Clone, Debug, Parser)]
#[command(name = "elicense-platform-simulator", version, about)]
pub struct Args {
    /// NATS server to connect to.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// How the platform logs in. With a user, the simulator only binds to the consumers the
    /// e-license service keeps, as the platform account allows no more; without one it
    /// creates them when missing.
    #[command(flatten)]
    pub login: Login,

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

    /// The county's public key document (or a directory of key documents and SPKI PEM
    /// files): licenses and revocations must be signed by one of its keys. Read again when a
    /// message names a key it does not hold, so a rotation needs no restart.
    #[arg(long, env = "ELICENSE_SIMULATOR_TRUSTED_KEYS")]
    pub trusted_keys: PathBuf,

    /// Share of licenses the platform never answers, from 0.0 to 1.0, as a platform that
    /// is down or loses messages would. Which ones depends only on the identifier, so a
    /// license sent again goes unanswered again.
    #[arg(
        long,
        env = "ELICENSE_SIMULATOR_UNANSWERED_SHARE",
        default_value_t = 0.0,
        value_parser = parse_share
    )]
    pub unanswered_share: f64,
}

impl Args {
    /// Flags for `platform` trusting the keys in `trusted_keys`, every other option at its
    /// default, for tests and embedding.
    pub fn new(nats_url: &str, platform: &str, trusted_keys: PathBuf) -> Self {
        Self {
            nats_url: nats_url.to_owned(),
            login: Login::default(),
            platform: platform.to_owned(),
            record_file: None,
            reject_share: 0.0,
            trusted_keys,
            unanswered_share: 0.0,
        }
    }
}

/// Registers issued licenses and revocations until `shutdown` is cancelled, then finishes
/// the messages in flight and returns.
///
/// Waits for the `ELICENSE` stream if the services have not created it yet. Fails at once if
/// the trusted keys cannot be read.
pub async fn run(args: Args, shutdown: CancellationToken) -> anyhow::Result<()> {
    let trust = platform::Trust::read(args.trusted_keys.clone())
        .with_context(|| format!("trusted keys {}", args.trusted_keys.display()))?;
    let recorder = Recorder::open(args.record_file.clone(), "identifier").await?;
    let client_name = format!("elicense-platform-simulator:{}", args.platform);
    let connection = args.login.connect(&args.nats_url, &client_name).await?;

    let platform = platform::Platform {
        jetstream: connection.jetstream().clone(),
        name: args.platform.clone(),
        rejections: platform::rejections(args.reject_share),
        unanswered: platform::unanswered(args.unanswered_share),
        trust,
        recorder,
    };
    let settings = tracing::info_span!(
        "simulator",
        platform = %args.platform,
        reject_share = args.reject_share,
        unanswered_share = args.unanswered_share,
    );
    let licenses = feed(&args.platform);
    let revocations = revocation_feed(&args.platform);
    let issued = platform::Issued(&platform);
    let revoked = platform::Revoked(&platform);
    let both = async {
        if args.login.nats_user.is_some() {
            tokio::join!(
                connection.serve_existing(&licenses, &issued, &shutdown),
                connection.serve_existing(&revocations, &revoked, &shutdown),
            );
        } else {
            tokio::join!(
                connection.serve(&licenses, &issued, &shutdown),
                connection.serve(&revocations, &revoked, &shutdown),
            );
        }
    };
    both.instrument(settings).await;
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

/// Where `platform` reads revocations: the durable consumer
/// `platform-<platform>-revocations` on the revoked-license subject of the `ELICENSE` stream.
pub fn revocation_feed(platform: &str) -> Feed {
    Feed {
        stream: "ELICENSE",
        durable_name: format!("platform-{platform}-revocations"),
        filter_subject: elicense::LICENSE_REVOKED.to_owned(),
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
            "--nats-user=gov-elicense",
            "--nats-password-file=/run/secrets/nats",
            "--js-api-prefix=JS.SERVICES.API",
            "--platform=gov-elicense",
            "--record-file=/tmp/licenses.jsonl",
            "--reject-share=0.5",
            "--trusted-keys=/etc/residence/public-keys.json",
            "--unanswered-share=0.25",
        ])
        .unwrap();
        assert_eq!(args.platform, "gov-elicense");
        assert_eq!(args.login.nats_user.as_deref(), Some("gov-elicense"));
        assert_eq!(args.login.js_api_prefix, "JS.SERVICES.API");
        assert_eq!(args.reject_share, 0.5);
        assert_eq!(args.unanswered_share, 0.25);
        assert_eq!(
            args.trusted_keys,
            PathBuf::from("/etc/residence/public-keys.json")
        );
        assert_eq!(args.record_file, Some(PathBuf::from("/tmp/licenses.jsonl")));
    }

    #[test]
    fn refuses_out_of_range_values() {
        let parse = |flag: &str| {
            Args::try_parse_from(["elicense-platform-simulator", "--trusted-keys=k.json", flag])
        };
        assert!(parse("--reject-share=2").is_err());
        assert!(parse("--unanswered-share=-1").is_err());
        assert!(parse("--platform=henan.elicense").is_err());
        assert!(Args::try_parse_from(["elicense-platform-simulator"]).is_err());
    }
}
