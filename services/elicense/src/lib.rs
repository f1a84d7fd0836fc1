//! 电子证照: the e-license service issues a signed electronic license for every approved
//! endorsement, as a new version that supersedes the holder's earlier one, hands it to the
//! e-license platform until the platform acknowledges it, revokes it when the decision is
//! reversed, and lets anyone verify a license over gRPC.

// TODO(elicense): the license is a signed JSON document and QR payload; the fixed-layout OFD
// file with an electronic seal that 国务院令716 describes is not produced yet.

pub mod acknowledgement;
pub mod api;
pub mod document;
pub mod entity;
pub mod feeds;
pub mod holder;
pub mod issuance;
pub mod keys;
pub mod migration;
pub mod platform;
pub mod revocation;

pub use residence_license::identifier;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use residence_eventing::{ConsumerSpec, streams};
use residence_item::ServiceItem;
use residence_license::KeyId;
use residence_proto::v1::elicense_service_server::ElicenseServiceServer;
use residence_runtime::{CommonArgs, Service};
use residence_sealing::SealedColumn;

/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50056;

/// How often the platforms' consumers are checked for and made again if missing.
const FEED_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The key id signing licenses when none is configured.
pub const DEFAULT_SIGNING_KEY_ID: &str = "key-1";

/// The license type code used when none is configured. A placeholder: the code is assigned by
/// the e-license platform the county reports to, and identifiers issued with the placeholder
/// will not be recognised there.
pub const PLACEHOLDER_LICENSE_TYPE_CODE: &str = "340101";

/// Command-line flags of the e-license service.
#[derive(Debug, clap::Parser)]
#[command(name = "residence-elicense", about = "电子证照 for 居住证签注")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub staff: residence_staff::StaffArgs,

    /// 证照类型代码: the license type code the county's e-license platform assigned to the
    /// residence permit (digits and capital letters). The default is a placeholder; set the
    /// assigned code before issuing real licenses.
    #[arg(
        long,
        env = "RESIDENCE_LICENSE_TYPE_CODE",
        default_value = PLACEHOLDER_LICENSE_TYPE_CODE
    )]
    pub license_type_code: String,

    /// Directory of the SM2 signing keys, one PKCS#8 PEM file per key id (`<key id>.pem`),
    /// readable by this service only [default: <data-dir>/elicense-signing-keys]. Keep every
    /// key that signed a license still in use: licenses name their key.
    #[arg(long, env = "RESIDENCE_ELICENSE_SIGNING_KEY_DIR")]
    pub signing_key_dir: Option<PathBuf>,

    /// The key that signs new licenses (1 to 32 letters, digits, `-` or `_`). If its file is
    /// missing a new key is made, with a warning. Switch to a new id to rotate keys.
    #[arg(
        long,
        env = "RESIDENCE_ELICENSE_SIGNING_KEY_ID",
        default_value = DEFAULT_SIGNING_KEY_ID,
        value_parser = parse_key_id
    )]
    pub signing_key_id: String,

    /// Where to write the public key document (JSON, every key in the key directory) at each
    /// start, for operators to hand to platforms and verifiers [default:
    /// <data-dir>/elicense-public-keys.json].
    #[arg(long, env = "RESIDENCE_ELICENSE_PUBLIC_KEYS_FILE")]
    pub public_keys_file: Option<PathBuf>,

    /// Seconds the e-license platform has to acknowledge a license message, counted from its
    /// publication, before it is sent again (1 to 86400).
    #[arg(
        long,
        env = "RESIDENCE_ELICENSE_ACK_TIMEOUT_SECS",
        default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub ack_timeout_secs: u64,

    /// Times an unacknowledged license message is sent again before an incident is raised
    /// (0 to 20).
    #[arg(
        long,
        env = "RESIDENCE_ELICENSE_ACK_RESENDS",
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(0..=20)
    )]
    pub ack_resends: u32,

    /// The e-license platforms that receive licenses, comma-separated codes (letters, digits,
    /// `-`, `_`). For each the service keeps the durable consumers
    /// `platform-<code>-licenses` and `platform-<code>-revocations`, which the platform's
    /// NATS user reads through.
    #[arg(
        long,
        env = "RESIDENCE_ELICENSE_PLATFORMS",
        default_value = feeds::DEFAULT_PLATFORMS,
        value_parser = check_platforms
    )]
    pub platforms: String,
}

impl Args {
    /// The signing key settings, the defaults under the data directory.
    pub fn key_settings(&self) -> anyhow::Result<keys::KeySettings> {
        let data_dir = &self.common.data_dir;
        Ok(keys::KeySettings {
            dir: self
                .signing_key_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("elicense-signing-keys")),
            active: KeyId::parse(&self.signing_key_id)?,
            document_file: self
                .public_keys_file
                .clone()
                .unwrap_or_else(|| data_dir.join("elicense-public-keys.json")),
        })
    }

    /// How long the platform has to acknowledge, and how often a license is re-sent.
    pub fn ack_policy(&self) -> platform::AckPolicy {
        platform::AckPolicy {
            timeout: Duration::from_secs(self.ack_timeout_secs),
            resends: self.ack_resends,
        }
    }
}

fn check_platforms(text: &str) -> Result<String, String> {
    feeds::parse_platforms(text).map(|codes| codes.join(","))
}

fn parse_key_id(text: &str) -> Result<String, String> {
    KeyId::parse(text)
        .map(|key_id| key_id.to_string())
        .map_err(|error| error.to_string())
}

/// Runs the service until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    // Everything that can be wrong with the configuration fails here, before any port is bound.
    let item = args.common.load_item()?;
    let issuer = Arc::new(issuer(&args, &item)?);
    if issuer.license_type_code == PLACEHOLDER_LICENSE_TYPE_CODE {
        tracing::warn!(
            license_type_code = PLACEHOLDER_LICENSE_TYPE_CODE,
            "license type code is the placeholder; set RESIDENCE_LICENSE_TYPE_CODE to the code \
             the e-license platform assigned"
        );
    }

    let signing_keys = Arc::new(keys::load(&args.key_settings()?)?);
    let staff = args
        .staff
        .load(&args.common.data_dir, &item.implementing_body.region_code)?;
    let ack_policy = args.ack_policy();

    let mut service =
        Service::start::<migration::Migrator>("elicense", &args.common, DEFAULT_PORT).await?;
    service.seal_legacy_rows(&[
        SealedColumn::of(
            entity::license::Entity,
            entity::license::Column::Identifier,
            entity::license::Column::LicenseNumber,
        ),
        SealedColumn::of(
            entity::license::Entity,
            entity::license::Column::Identifier,
            entity::license::Column::HolderName,
        ),
        SealedColumn::of(
            entity::license::Entity,
            entity::license::Column::Identifier,
            entity::license::Column::ResidenceAddress,
        ),
    ]);
    let approvals = ConsumerSpec::new(issuance::CONSUMER, streams::RESIDENCE, issuance::SUBJECTS);
    let issuance_handler = issuance::IssuanceHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        issuer,
        keys: signing_keys.clone(),
        acks: ack_policy,
    };
    service.consume(approvals, issuance_handler);
    let reversals = ConsumerSpec::new(
        revocation::CONSUMER,
        streams::RESIDENCE,
        revocation::SUBJECTS,
    );
    let revocation_handler = revocation::RevocationHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        keys: signing_keys.clone(),
        acks: ack_policy,
    };
    service.consume(reversals, revocation_handler);
    let acks = ConsumerSpec::new(
        acknowledgement::CONSUMER,
        streams::ELICENSE,
        acknowledgement::SUBJECTS,
    );
    let platforms = feeds::parse_platforms(&args.platforms).map_err(anyhow::Error::msg)?;
    let acknowledgement_handler = acknowledgement::AcknowledgementHandler {
        platforms: platforms.clone(),
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
    };
    service.consume(acks, acknowledgement_handler);
    let watch = platform::AckWatch {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        policy: ack_policy,
    };
    service.spawn(|shutdown| watch.run(shutdown));
    let jetstream = service.jetstream();
    service.spawn(|shutdown| async move {
        // The platforms' consumers, created again should the broker lose them.
        loop {
            if let Err(error) = feeds::ensure(&jetstream, &platforms).await {
                tracing::warn!(%error, "could not create the e-license platforms' consumers yet");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(FEED_CHECK_INTERVAL) => {}
            }
        }
    });

    let api = api::ElicenseApi {
        db: service.db().clone(),
        keys: Arc::new(signing_keys.public_keys()),
        staff,
    };
    tracing::info!(addr = %service.local_addr(), "elicense serving");
    service.serve(ElicenseServiceServer::new(api)).await
}

/// The codes every identifier carries, checked so that a bad one stops start-up.
fn issuer(args: &Args, item: &ServiceItem) -> anyhow::Result<issuance::Issuer> {
    let license_type_code = args.license_type_code.trim().to_ascii_uppercase();
    identifier::segment("license type code", &license_type_code)
        .context("--license-type-code (RESIDENCE_LICENSE_TYPE_CODE) is not usable")?;
    let issuer_code = item
        .implementing_body
        .credit_code
        .trim()
        .to_ascii_uppercase();
    identifier::segment("issuer code", &issuer_code)
        .context("service item field `implementing_body.credit_code` is not usable")?;
    Ok(issuance::Issuer {
        license_type_code,
        issuer_code,
        license_name: item.result_name.trim().to_owned(),
    })
}
