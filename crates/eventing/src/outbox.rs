//! Writing events to the outbox inside the caller's transaction.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};
use serde::Serialize;

use crate::entity::outbox;
use crate::envelope::Envelope;

/// Writes events for one service: knows its CloudEvents source.
#[derive(Clone, Debug)]
pub struct OutboxWriter {
    source: String,
}

impl OutboxWriter {
    /// A writer for the service named `service` (source `/residence/{service}`).
    pub fn new(service: &str) -> Self {
        Self {
            source: format!("/residence/{service}"),
        }
    }

    /// Enqueues an internal event of `event_type` about `case_number`.
    pub async fn enqueue<C: ConnectionTrait, T: Serialize>(
        &self,
        txn: &C,
        event_type: residence_events::EventType,
        case_number: &str,
        payload: &T,
    ) -> Result<Envelope, DbErr> {
        enqueue(
            txn,
            &self.source,
            event_type.subject,
            event_type.name(),
            case_number,
            payload,
        )
        .await
    }

    /// Enqueues a partner-facing message on `subject` (its type is the subject too).
    pub async fn enqueue_on<C: ConnectionTrait, T: Serialize>(
        &self,
        txn: &C,
        subject: &str,
        case_number: &str,
        payload: &T,
    ) -> Result<Envelope, DbErr> {
        enqueue(txn, &self.source, subject, subject, case_number, payload).await
    }
}

/// Writes one event to the outbox using `txn`, which must be the transaction that makes the
/// state change the event describes.
pub async fn enqueue<C: ConnectionTrait, T: Serialize>(
    txn: &C,
    source: &str,
    subject: &str,
    event_type: &str,
    case_number: &str,
    payload: &T,
) -> Result<Envelope, DbErr> {
    let envelope = Envelope::new(event_type, source, case_number);
    let payload = serde_json::to_string(payload)
        .map_err(|error| DbErr::Custom(format!("event payload does not serialize: {error}")))?;
    let headers = serde_json::to_string(&envelope.headers())
        .map_err(|error| DbErr::Custom(format!("event headers do not serialize: {error}")))?;

    outbox::ActiveModel {
        event_id: Set(envelope.id.clone()),
        subject: Set(subject.to_owned()),
        case_number: Set(case_number.to_owned()),
        headers: Set(headers),
        payload: Set(payload.into()),
        created_at: Set(Utc::now()),
        published_at: Set(None),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(envelope)
}

/// Rows waiting for the relay: how many, and when the oldest was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    pub rows: u64,
    pub oldest: Option<chrono::DateTime<Utc>>,
}

/// The outbox rows of `db` not yet published.
pub async fn backlog<C: ConnectionTrait>(db: &C) -> Result<Backlog, DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

    let unpublished = || outbox::Entity::find().filter(outbox::Column::PublishedAt.is_null());
    let rows = sea_orm::PaginatorTrait::count(unpublished(), db).await?;
    let oldest = unpublished()
        .order_by_asc(outbox::Column::Id)
        .select_only()
        .column(outbox::Column::CreatedAt)
        .into_tuple::<chrono::DateTime<Utc>>()
        .one(db)
        .await?;
    Ok(Backlog { rows, oldest })
}

#[cfg(test)]
mod tests {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Schema};

    use super::*;

    #[tokio::test]
    async fn the_backlog_counts_unpublished_rows_and_dates_the_oldest() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let schema = Schema::new(db.get_database_backend());
        db.execute(&schema.create_table_from_entity(outbox::Entity))
            .await
            .unwrap();
        assert_eq!(backlog(&db).await.unwrap(), Backlog::default());

        let before = Utc::now();
        for case in ["CASE-1", "CASE-2"] {
            enqueue(
                &db,
                "/residence/test",
                "test.v1.done",
                "test.v1.done",
                case,
                &1,
            )
            .await
            .unwrap();
        }
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::PublishedAt,
                sea_orm::sea_query::Expr::value(Utc::now()),
            )
            .filter(outbox::Column::CaseNumber.eq("CASE-1"))
            .exec(&db)
            .await
            .unwrap();

        let left = backlog(&db).await.unwrap();
        assert_eq!(left.rows, 1);
        assert!(left.oldest.unwrap() >= before);
    }
}
