//! 审核: the review service runs the automatic checks on every accepted case. A case with no
//! finding goes on to the decision at once; a case with findings waits in its town's manual
//! review queue, where a reviewer approves it, returns it to the applicant for supplement
//! (补正), or refers it with findings to the deciding officer. A case its applicant withdrew
//! leaves the queue.

pub mod api;
pub mod checks;
pub mod entity;
pub mod handler;
pub mod migration;
pub mod store;
pub mod supplement;
pub mod withdrawal;

use std::sync::Arc;

use residence_eventing::{ConsumerSpec, streams};
use residence_proto::v1::review_service_server::ReviewServiceServer;
use residence_runtime::{CommonArgs, Service};
use residence_sealing::SealedColumn;
use residence_staff::StaffArgs;

/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50052;

/// Command-line flags of the review service.
#[derive(Debug, clap::Parser)]
#[command(name = "residence-review", about = "审核 for 居住证签注")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub staff: StaffArgs,
}

/// Runs the service until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    // Everything that can be wrong with the configuration fails here, before any port is bound.
    let item = Arc::new(args.common.load_item()?);
    let staff = args
        .staff
        .load(&args.common.data_dir, &item.implementing_body.region_code)?;

    let mut service =
        Service::start::<migration::Migrator>("review", &args.common, DEFAULT_PORT).await?;
    service.seal_legacy_rows(&[SealedColumn::of(
        entity::task::Entity,
        entity::task::Column::CaseNumber,
        entity::task::Column::Application,
    )]);
    let spec = ConsumerSpec::new(handler::CONSUMER, streams::RESIDENCE, handler::SUBJECTS);
    let handler = handler::ReviewHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        item,
    };
    service.consume(spec, handler);
    let spec = ConsumerSpec::new(
        supplement::CONSUMER,
        streams::RESIDENCE,
        supplement::SUBJECTS,
    );
    let supplements = supplement::SupplementHandler {
        db: service.db().clone(),
    };
    service.consume(spec, supplements);
    let spec = ConsumerSpec::new(
        withdrawal::CONSUMER,
        streams::RESIDENCE,
        withdrawal::SUBJECTS,
    );
    let withdrawals = withdrawal::WithdrawalHandler {
        db: service.db().clone(),
    };
    service.consume(spec, withdrawals);

    let api = api::ReviewApi {
        db: service.db().clone(),
        queue: store::Queue {
            db: service.db().clone(),
            outbox: service.outbox(),
            relay: service.relay(),
        },
        staff,
    };
    tracing::info!(addr = %service.local_addr(), "review serving");
    service.serve(ReviewServiceServer::new(api)).await
}
