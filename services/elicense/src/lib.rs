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
use residence_eventing::{ConsumerSpec, OutboxWriter, Relay, run_consumer, streams};
use residence_item::ServiceItem;
use residence_proto::v1::elicense_service_server::ElicenseServiceServer;
use residence_runtime::{CommonArgs, database, grpc, messaging, shutdown};
use sea_orm_migration::MigratorTrait;

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

    let db = database::connect("elicense", &args.common.database_url("elicense")).await?;
    migration::Migrator::up(&db, None).await?;
    let messaging = messaging::connect(&args.common.nats_url, "elicense").await?;
    let listener = grpc::bind(args.common.grpc_addr_or(DEFAULT_PORT)).await?;
    let shutdown = shutdown::on_signal();

    let relay = Relay::new(db.clone(), messaging.jetstream.clone());
    let issuance = issuance::IssuanceHandler {
        db: db.clone(),
        outbox: OutboxWriter::new("elicense"),
        relay: relay.handle(),
        issuer,
    };
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));
    let approvals = ConsumerSpec::new(issuance::CONSUMER, streams::RESIDENCE, issuance::SUBJECTS);
    let approvals_task = tokio::spawn(run_consumer(
        messaging.jetstream.clone(),
        approvals,
        Arc::new(issuance),
        shutdown.clone(),
    ));
    let acks = ConsumerSpec::new(
        acknowledgement::CONSUMER,
        streams::ELICENSE,
        acknowledgement::SUBJECTS,
    );
    let acks_task = tokio::spawn(run_consumer(
        messaging.jetstream.clone(),
        acks,
        Arc::new(acknowledgement::AcknowledgementHandler { db: db.clone() }),
        shutdown.clone(),
    ));

    let api = api::ElicenseApi { db };
    let (_health, health_service) = grpc::health::<ElicenseServiceServer<api::ElicenseApi>>().await;
    tracing::info!(addr = %listener.local_addr()?, "elicense serving");
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(grpc::reflection()?)
        .add_service(ElicenseServiceServer::new(api))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            grpc::until(&shutdown),
        )
        .await?;

    shutdown.cancel();
    let _ = tokio::join!(relay_task, approvals_task, acks_task);
    Ok(())
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
