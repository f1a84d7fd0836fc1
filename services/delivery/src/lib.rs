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

use std::sync::Arc;

use residence_eventing::{ConsumerSpec, OutboxWriter, Relay, run_consumer, streams};
use residence_proto::v1::delivery_service_server::DeliveryServiceServer;
use residence_runtime::{CommonArgs, database, grpc, messaging, shutdown};
use sea_orm_migration::MigratorTrait;

/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50054;

/// Command-line flags of the delivery service.
#[derive(Debug, clap::Parser)]
#[command(name = "residence-delivery", about = "送达 for 居住证签注")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs the service until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    // Everything that can be wrong with the configuration fails here, before any port is bound.
    let item = args.common.load_item()?;
    let offers_courier = item.offers_courier();

    let db = database::connect("delivery", &args.common.database_url("delivery")).await?;
    migration::Migrator::up(&db, None).await?;
    let messaging = messaging::connect(&args.common.nats_url, "delivery").await?;
    let listener = grpc::bind(args.common.grpc_addr_or(DEFAULT_PORT)).await?;
    let shutdown = shutdown::on_signal();

    let relay = Relay::new(db.clone(), messaging.jetstream.clone());
    let relay_handle = relay.handle();
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));
    let outbox = OutboxWriter::new("delivery");

    let decisions = ConsumerSpec::new(decisions::CONSUMER, streams::RESIDENCE, decisions::SUBJECTS);
    let decisions_task = tokio::spawn(run_consumer(
        messaging.jetstream.clone(),
        decisions,
        Arc::new(decisions::DecisionHandler {
            db: db.clone(),
            outbox: outbox.clone(),
            relay: relay_handle.clone(),
            offers_courier,
        }),
        shutdown.clone(),
    ));
    let reports = ConsumerSpec::new(reports::CONSUMER, streams::RESIDENCE, reports::SUBJECTS);
    let reports_task = tokio::spawn(run_consumer(
        messaging.jetstream.clone(),
        reports,
        Arc::new(reports::ReportHandler {
            db: db.clone(),
            outbox: outbox.clone(),
            relay: relay_handle.clone(),
        }),
        shutdown.clone(),
    ));

    let api = api::DeliveryApi {
        store: store::Store { db, outbox },
        relay: relay_handle,
    };
    let (_health, health_service) = grpc::health::<DeliveryServiceServer<api::DeliveryApi>>().await;
    tracing::info!(addr = %listener.local_addr()?, offers_courier, "delivery serving");
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(grpc::reflection()?)
        .add_service(DeliveryServiceServer::new(api))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            grpc::until(&shutdown),
        )
        .await?;

    shutdown.cancel();
    let _ = tokio::join!(relay_task, decisions_task, reports_task);
    Ok(())
}
