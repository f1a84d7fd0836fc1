//! 电子证照: the e-license service issues an electronic license for every approved endorsement,
//! as a new version that supersedes the holder's earlier one, hands it to the e-license platform,
//! records the platform's acknowledgement, and lets anyone verify a license over gRPC.

// TODO(elicense): licenses are not signed yet (SM2 over SM3, in an OFD file), acknowledgements
// that never come are not timed out and re-sent, and licenses cannot be revoked.

pub mod acknowledgement;
pub mod api;
pub mod entity;
pub mod holder;
pub mod identifier;
pub mod issuance;
pub mod migration;

use std::sync::Arc;

use anyhow::Context;
use residence_eventing::{ConsumerSpec, streams};
use residence_item::ServiceItem;
use residence_proto::v1::elicense_service_server::ElicenseServiceServer;
use residence_runtime::{CommonArgs, Service};

/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50056;

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

    /// 证照类型代码: the license type code the county's e-license platform assigned to the
    /// residence permit (digits and capital letters). The default is a placeholder; set the
    /// assigned code before issuing real licenses.
    #[arg(
        long,
        env = "RESIDENCE_LICENSE_TYPE_CODE",
        default_value = PLACEHOLDER_LICENSE_TYPE_CODE
    )]
    pub license_type_code: String,
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

    let mut service =
        Service::start::<migration::Migrator>("elicense", &args.common, DEFAULT_PORT).await?;
    let approvals = ConsumerSpec::new(issuance::CONSUMER, streams::RESIDENCE, issuance::SUBJECTS);
    let issuance_handler = issuance::IssuanceHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        issuer,
    };
    service.consume(approvals, issuance_handler);
    let acks = ConsumerSpec::new(
        acknowledgement::CONSUMER,
        streams::ELICENSE,
        acknowledgement::SUBJECTS,
    );
    let acknowledgement_handler = acknowledgement::AcknowledgementHandler {
        db: service.db().clone(),
    };
    service.consume(acks, acknowledgement_handler);

    let api = api::ElicenseApi {
        db: service.db().clone(),
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
