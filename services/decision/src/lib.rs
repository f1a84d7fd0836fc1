//! 决定: the decision service approves a reviewed case and computes the endorsement (new
//! validity, residence address, issuing authority), or denies it with the legal basis.

pub mod api;
pub mod decide;
pub mod entity;
pub mod handler;
pub mod migration;

use std::sync::Arc;

use residence_eventing::{ConsumerSpec, streams};
use residence_proto::v1::decision_service_server::DecisionServiceServer;
use residence_runtime::{CommonArgs, Service};

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
    // Everything that can be wrong with the configuration fails here, before any port is bound.
    let item = Arc::new(args.common.load_item()?);

    let mut service =
        Service::start::<migration::Migrator>("decision", &args.common, DEFAULT_PORT).await?;
    let spec = ConsumerSpec::new(handler::CONSUMER, streams::RESIDENCE, handler::SUBJECTS);
    let handler = handler::DecisionHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        item,
    };
    service.consume(spec, handler);

    let api = api::DecisionApi {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
    };
    tracing::info!(addr = %service.local_addr(), "decision serving");
    service.serve(DecisionServiceServer::new(api)).await
}
