//! 收件 and 受理: the intake service receives applications over gRPC, accepts or refuses them
//! by the rules, owns each case's number, access code, status and history, and follows the
//! case through the later stages by their events.

pub mod access;
pub mod api;
pub mod case_number;
pub mod entity;
pub mod migration;
pub mod progress;
pub mod request;
pub mod status;
pub mod store;
pub mod verdict;

use std::path::PathBuf;
use std::sync::Arc;

use residence_eventing::{ConsumerSpec, OutboxWriter, Relay, run_consumer, streams};
use residence_proto::v1::intake_service_server::IntakeServiceServer;
use residence_runtime::{CommonArgs, database, grpc, messaging, shutdown, time};
use sea_orm_migration::MigratorTrait;

/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50051;

/// Command-line flags of the intake service.
#[derive(Debug, clap::Parser)]
#[command(name = "residence-intake", about = "收件 and 受理 for 居住证签注")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    /// File holding the secret that derives applicants' access codes; created on first start.
    /// Every intake replica must read the same file.
    #[arg(long, env = "RESIDENCE_ACCESS_CODE_KEY_FILE")]
    pub access_code_key_file: Option<PathBuf>,
}

/// Runs the service until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    // Everything that can be wrong with the configuration fails here, before any port is bound.
    let item = Arc::new(args.common.load_item()?);
    let calendar = Arc::new(args.common.load_calendar()?);
    if let Some(warning) = calendar.missing_next_year_warning(time::china_today()) {
        tracing::warn!(%warning, "holiday calendar incomplete");
    }
    let key_file = args
        .access_code_key_file
        .clone()
        .unwrap_or_else(|| args.common.data_dir.join("intake-access-code.key"));
    let access = Arc::new(access::AccessCodes::from_key_file(&key_file)?);

    let db = database::connect("intake", &args.common.database_url("intake")).await?;
    migration::Migrator::up(&db, None).await?;
    let messaging = messaging::connect(&args.common.nats_url, "intake").await?;
    let listener = grpc::bind(args.common.grpc_addr_or(DEFAULT_PORT)).await?;
    let shutdown = shutdown::on_signal();

    let relay = Relay::new(db.clone(), messaging.jetstream.clone());
    let relay_handle = relay.handle();
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));
    let progress = ConsumerSpec::new(progress::CONSUMER, streams::RESIDENCE, progress::SUBJECTS);
    let progress_task = tokio::spawn(run_consumer(
        messaging.jetstream.clone(),
        progress,
        Arc::new(progress::ProgressHandler { db: db.clone() }),
        shutdown.clone(),
    ));

    let store = store::Store {
        db,
        outbox: OutboxWriter::new("intake"),
        item,
        calendar,
    };
    let api = api::IntakeApi {
        store,
        access,
        relay: relay_handle,
    };
    let (_health, health_service) = grpc::health::<IntakeServiceServer<api::IntakeApi>>().await;
    tracing::info!(addr = %listener.local_addr()?, "intake serving");
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(grpc::reflection()?)
        .add_service(IntakeServiceServer::new(api))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            grpc::until(&shutdown),
        )
        .await?;

    shutdown.cancel();
    let _ = tokio::join!(relay_task, progress_task);
    Ok(())
}
