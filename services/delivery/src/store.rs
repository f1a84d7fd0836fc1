//! Delivery's reads and the collection write; every write changes the delivery and enqueues
//! its event in one transaction.

use chrono::{DateTime, Utc};
use residence_audit::Entry;
use residence_eventing::OutboxWriter;
use residence_eventing::db::begin_write;
use residence_events::{self as events, DeliveryCompleted, DeliveryOutcome};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::entity::delivery;
use crate::rules::{self, CollectionEffect};

/// Everything the API needs to read and write deliveries.
#[derive(Clone, Debug)]
pub struct Store {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
}

/// Who handed a permit over at the window, and to whom.
#[derive(Clone, Debug)]
pub struct Collection {
    pub case_number: String,
    pub clerk_id: String,
    /// `holder` or `agent`.
    pub collected_by: &'static str,
}

/// What became of a collection.
#[derive(Debug)]
pub enum Collected {
    /// Recorded now.
    Now(delivery::Model),
    /// Recorded before; returned unchanged.
    Before(delivery::Model),
    /// No delivery for this case.
    NotFound,
    /// The delivery is not waiting at the window; the reason says why.
    Refused(&'static str),
    /// Another writer changed the delivery at the same moment.
    Raced,
}

impl Store {
    /// The delivery of a case.
    pub async fn by_case(&self, case_number: &str) -> Result<Option<delivery::Model>, DbErr> {
        delivery::Entity::find_by_id(case_number.to_owned())
            .one(&self.db)
            .await
    }

    /// Case numbers of permits waiting at the window, oldest delivery first.
    pub async fn awaiting_collection(&self, limit: u64) -> Result<Vec<String>, DbErr> {
        let rows = delivery::Entity::find()
            .filter(delivery::Column::State.eq(rules::AWAITING_COLLECTION))
            .order_by_asc(delivery::Column::StartedAt)
            .order_by_asc(delivery::Column::CaseNumber)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|row| row.case_number).collect())
    }

    /// Records that a permit waiting at the window was collected, and completes the delivery;
    /// `recorded_by` goes into the case's audit trail with it. Idempotent: a collected
    /// delivery is returned unchanged.
    pub async fn record_collection(
        &self,
        collection: &Collection,
        recorded_by: &residence_staff::Staff,
        now: DateTime<Utc>,
    ) -> Result<Collected, DbErr> {
        let txn = begin_write(&self.db).await?;
        let Some(current) = delivery::Entity::find_by_id(collection.case_number.clone())
            .one(&txn)
            .await?
        else {
            return Ok(Collected::NotFound);
        };
        match rules::on_collection(&current.state) {
            Err(reason) => return Ok(Collected::Refused(reason)),
            Ok(CollectionEffect::AlreadyCollected) => return Ok(Collected::Before(current)),
            Ok(CollectionEffect::Collect) => {}
        }

        let changes = delivery::ActiveModel {
            state: Set(rules::COLLECTED.to_owned()),
            collected_by: Set(Some(collection.collected_by.to_owned())),
            clerk_id: Set(Some(collection.clerk_id.clone())),
            completed_at: Set(Some(now)),
            updated_at: Set(now),
            ..Default::default()
        };
        let case_number = &collection.case_number;
        if !move_from(&txn, case_number, rules::AWAITING_COLLECTION, changes).await? {
            return Ok(Collected::Raced);
        }
        let completed = DeliveryCompleted {
            case_number: case_number.clone(),
            outcome: DeliveryOutcome::Collected,
            completed_at: now,
        };
        self.outbox
            .enqueue(&txn, events::DELIVERY_COMPLETED, case_number, &completed)
            .await?;
        let role = recorded_by.role.code();
        let entry =
            Entry::new(case_number, &recorded_by.id, role, "delivery.collected").because(format!(
                "collected by the {} at {}",
                collection.collected_by, collection.clerk_id
            ));
        residence_audit::append(&txn, &entry, now).await?;
        let model = delivery::Entity::find_by_id(case_number.clone())
            .one(&txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(case_number.clone()))?;
        txn.commit().await?;
        Ok(Collected::Now(model))
    }
}

/// Applies `changes` to the delivery of `case_number` only while it is still in `from`.
/// Returns false when another writer moved it first, so the caller can start over.
pub async fn move_from<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
    from: &str,
    changes: delivery::ActiveModel,
) -> Result<bool, DbErr> {
    let updated = delivery::Entity::update_many()
        .set(changes)
        .filter(delivery::Column::CaseNumber.eq(case_number))
        .filter(delivery::Column::State.eq(from))
        .exec(txn)
        .await?;
    Ok(updated.rows_affected == 1)
}
