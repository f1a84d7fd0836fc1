//! Re-publication on request: when the case owner sees a case stuck beyond its stage budget it
//! publishes `residence.v1.case.resend_requested`, and every service publishes its outbox
//! events for that case again.
//!
//! This is what brings cases home after the broker lost messages (a JetStream store wiped or
//! restored from an old backup): the events are still in the producers' outboxes, keep their
//! event ids, and consumers ignore the ones they already processed.

use chrono::{DateTime, Utc};
use residence_events as events;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::consumer::{ConsumerSpec, Handler, Incoming, Outcome};
use crate::entity::outbox;
use crate::relay::RelayHandle;
use crate::streams;

/// The consumer of resend requests of `service`; every replica of it shares the durable name.
pub fn spec(service: &str) -> ConsumerSpec {
    ConsumerSpec::new(
        &format!("{service}-resend"),
        streams::RESIDENCE,
        &[events::CASE_RESEND_REQUESTED.subject],
    )
}

/// Marks a case's published outbox rows unpublished, so the relay publishes them again.
#[derive(Debug, Clone)]
pub struct ResendHandler {
    pub db: DatabaseConnection,
    pub relay: RelayHandle,
}

impl Handler for ResendHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let request: events::CaseResendRequested = match event.json() {
            Ok(request) => request,
            Err(outcome) => return outcome,
        };
        match republish(&self.db, &request.case_number).await {
            Ok(0) => Outcome::Done,
            Ok(rows) => {
                tracing::info!(case.number = %request.case_number, rows, "events of a stuck case published again");
                self.relay.notify();
                Outcome::Done
            }
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

/// Queues every published event of `case_number` for publication again, except resend
/// requests themselves. Returns how many rows were queued. Idempotent: each event keeps its
/// id, so JetStream drops a copy it still holds and consumers ignore one they processed.
pub async fn republish(db: &DatabaseConnection, case_number: &str) -> Result<u64, DbErr> {
    let updated = outbox::Entity::update_many()
        .col_expr(
            outbox::Column::PublishedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(outbox::Column::CaseNumber.eq(case_number))
        .filter(outbox::Column::PublishedAt.is_not_null())
        .filter(outbox::Column::Subject.ne(events::CASE_RESEND_REQUESTED.subject))
        .exec(db)
        .await?;
    Ok(updated.rows_affected)
}
