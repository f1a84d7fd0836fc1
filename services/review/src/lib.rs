//! 审核: the review service runs the automatic checks on every accepted case and records its
//! findings; the deciding officer's service acts on them.

pub mod api;
pub mod checks;
pub mod entity;
pub mod handler;
pub mod migration;

use std::sync::Arc;

use residence_eventing::{ConsumerSpec, OutboxWriter, Relay, run_consumer, streams};
use residence_proto::v1::review_service_server::ReviewServiceServer;
use residence_runtime::{CommonArgs, database, grpc, messaging, shutdown};
use sea_orm_migration::MigratorTrait;

/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50052;

/// Command-line flags of the review service.
#[derive(Debug, clap::Parser)]
#[command(name = "residence-review", about = "审核 for 居住证签注")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs the service until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let item = Arc::new(args.common.load_item()?);
    let db = database::connect("review", &args.common.database_url("review")).await?;
    migration::Migrator::up(&db, None).await?;
    let messaging = messaging::connect(&args.common.nats_url, "review").await?;
    let listener = grpc::bind(args.common.grpc_addr_or(DEFAULT_PORT)).await?;
    let shutdown = shutdown::on_signal();

    let relay = Relay::new(db.clone(), messaging.jetstream.clone());
    let handler = handler::ReviewHandler {
        db: db.clone(),
        outbox: OutboxWriter::new("review"),
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

    let api = api::ReviewApi { db };
    let (_health, health_service) = grpc::health::<ReviewServiceServer<api::ReviewApi>>().await;
    tracing::info!(addr = %listener.local_addr()?, "review serving");
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(grpc::reflection()?)
        .add_service(ReviewServiceServer::new(api))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            grpc::until(&shutdown),
        )
        .await?;

    shutdown.cancel();
    let _ = tokio::join!(relay_task, consumer_task);
    Ok(())
}
