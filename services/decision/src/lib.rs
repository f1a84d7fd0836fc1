//! 决定: the decision service approves a reviewed case and computes the endorsement (new
//! validity, residence address, issuing authority), or denies it with the legal basis.

pub mod api;
pub mod decide;
pub mod entity;
pub mod handler;
pub mod migration;

use std::sync::Arc;

use residence_eventing::{ConsumerSpec, OutboxWriter, Relay, run_consumer, streams};
use residence_proto::v1::decision_service_server::DecisionServiceServer;
use residence_runtime::{CommonArgs, database, grpc, messaging, shutdown};
use sea_orm_migration::MigratorTrait;

/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50053;

/// Command-line flags of the decision service.
#[derive(Debug, clap::Parser)]
#[command(name = "residence-decision", about = "决定 for 居住证签注")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs the service until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let item = Arc::new(args.common.load_item()?);
    let db = database::connect("decision", &args.common.database_url("decision")).await?;
    migration::Migrator::up(&db, None).await?;
    let messaging = messaging::connect(&args.common.nats_url, "decision").await?;
    let listener = grpc::bind(args.common.grpc_addr_or(DEFAULT_PORT)).await?;
    let shutdown = shutdown::on_signal();

    let relay = Relay::new(db.clone(), messaging.jetstream.clone());
    let handler = handler::DecisionHandler {
        db: db.clone(),
        outbox: OutboxWriter::new("decision"),
        relay: relay.handle(),
        item,
    };
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));
    let spec = ConsumerSpec::new(handler::CONSUMER, streams::RESIDENCE, handler::SUBJECTS);
    let consumer_task = tokio::spawn(run_consumer(
        messaging.jetstream.clone(),
        spec,
        Arc::new(handler),
        shutdown.clone(),
    ));

    let api = api::DecisionApi { db };
    let (_health, health_service) = grpc::health::<DecisionServiceServer<api::DecisionApi>>().await;
    tracing::info!(addr = %listener.local_addr()?, "decision serving");
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(grpc::reflection()?)
        .add_service(DecisionServiceServer::new(api))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            grpc::until(&shutdown),
        )
        .await?;

    shutdown.cancel();
    let _ = tokio::join!(relay_task, consumer_task);
    Ok(())
}
