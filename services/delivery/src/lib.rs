//! 送达: the delivery service starts the delivery of every approved endorsement, by courier
//! when the application asked for it and the service item offers it, else at the window; it
//! follows the courier's reports, records collections at the window and closes the case.

pub mod api;
pub mod decisions;
pub mod entity;
pub mod migration;
pub mod reports;
pub mod rules;
pub mod store;

use residence_eventing::{ConsumerSpec, streams};
use residence_proto::v1::delivery_service_server::DeliveryServiceServer;
use residence_runtime::{CommonArgs, Service};
use residence_sealing::SealedColumn;
use residence_staff::StaffArgs;

/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50054;

/// Command-line flags of the delivery service.
#[derive(Debug, clap::Parser)]
#[command(name = "residence-delivery", about = "送达 for 居住证签注")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub staff: StaffArgs,
}

/// Runs the service until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    // Everything that can be wrong with the configuration fails here, before any port is bound.
    let item = args.common.load_item()?;
    let offers_courier = item.offers_courier();
    let staff = args
        .staff
        .load(&args.common.data_dir, &item.implementing_body.region_code)?;

    let mut service =
        Service::start::<migration::Migrator>("delivery", &args.common, DEFAULT_PORT).await?;
    service.seal_legacy_rows(&[SealedColumn::of(
        entity::delivery::Entity,
        entity::delivery::Column::CaseNumber,
        entity::delivery::Column::Recipient,
    )]);
    let decisions = ConsumerSpec::new(decisions::CONSUMER, streams::RESIDENCE, decisions::SUBJECTS);
    let decision_handler = decisions::DecisionHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        offers_courier,
    };
    service.consume(decisions, decision_handler);
    let reports = ConsumerSpec::new(reports::CONSUMER, streams::RESIDENCE, reports::SUBJECTS);
    let report_handler = reports::ReportHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        office: rules::Office {
            name: item.implementing_body.name.clone(),
            address: item.implementing_body.address.clone(),
        },
    };
    service.consume(reports, report_handler);

    let store = store::Store {
        db: service.db().clone(),
        outbox: service.outbox(),
    };
    let api = api::DeliveryApi {
        store,
        relay: service.relay(),
        staff,
    };
    tracing::info!(addr = %service.local_addr(), offers_courier, "delivery serving");
    service.serve(DeliveryServiceServer::new(api)).await
}
