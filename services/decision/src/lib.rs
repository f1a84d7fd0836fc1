//! 决定: the decision service approves a reviewed case and computes the endorsement (new
//! validity, residence address, issuing authority), or denies it with the legal basis. Cases
//! that passed review are decided by the rules at once; cases a reviewer referred with
//! findings wait for the deciding officer. An applicant may withdraw a case until it is
//! decided; whichever comes first, decision or withdrawal, stands.

pub mod api;
pub mod decide;
pub mod entity;
pub mod handler;
pub mod migration;
pub mod store;
pub mod withdrawal;

use std::sync::Arc;

use residence_eventing::{ConsumerSpec, streams};
use residence_proto::v1::decision_service_server::DecisionServiceServer;
use residence_runtime::{CommonArgs, Service};
use residence_sealing::SealedColumn;
use residence_staff::StaffArgs;

/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50053;

/// Command-line flags of the decision service.
#[derive(Debug, clap::Parser)]
#[command(name = "residence-decision", about = "决定 for 居住证签注")]
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
        Service::start::<migration::Migrator>("decision", &args.common, DEFAULT_PORT).await?;
    service.seal_legacy_rows(&[
        SealedColumn::of(
            entity::pending::Entity,
            entity::pending::Column::CaseNumber,
            entity::pending::Column::Application,
        ),
        SealedColumn::of(
            entity::decision::Entity,
            entity::decision::Column::CaseNumber,
            entity::decision::Column::Endorsement,
        ),
    ]);
    let spec = ConsumerSpec::new(handler::CONSUMER, streams::RESIDENCE, handler::SUBJECTS);
    let handler = handler::DecisionHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        item: Arc::clone(&item),
    };
    service.consume(spec, handler);
    let spec = ConsumerSpec::new(
        withdrawal::CONSUMER,
        streams::RESIDENCE,
        withdrawal::SUBJECTS,
    );
    let withdrawals = withdrawal::WithdrawalHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
    };
    service.consume(spec, withdrawals);

    let api = api::DecisionApi {
        officer: store::Officer {
            db: service.db().clone(),
            outbox: service.outbox(),
            relay: service.relay(),
            item,
        },
        staff,
    };
    tracing::info!(addr = %service.local_addr(), "decision serving");
    service.serve(DecisionServiceServer::new(api)).await
}
