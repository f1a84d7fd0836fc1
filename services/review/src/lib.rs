//! 审核: the review service runs the automatic checks on every accepted case and records its
//! findings; the deciding officer's service acts on them.

pub mod api;
pub mod checks;
pub mod entity;
pub mod handler;
pub mod migration;

use std::sync::Arc;

use residence_eventing::{ConsumerSpec, streams};
use residence_proto::v1::review_service_server::ReviewServiceServer;
use residence_runtime::{CommonArgs, Service};

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
    // Everything that can be wrong with the configuration fails here, before any port is bound.
    let item = Arc::new(args.common.load_item()?);

    let mut service =
        Service::start::<migration::Migrator>("review", &args.common, DEFAULT_PORT).await?;
    let spec = ConsumerSpec::new(handler::CONSUMER, streams::RESIDENCE, handler::SUBJECTS);
    let handler = handler::ReviewHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        item,
    };
    service.consume(spec, handler);

    let api = api::ReviewApi {
        db: service.db().clone(),
    };
    tracing::info!(addr = %service.local_addr(), "review serving");
    service.serve(ReviewServiceServer::new(api)).await
}
