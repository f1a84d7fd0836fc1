//! Reading back what a service recorded for others to see: the events in its outbox and the
//! case's audit trail, in the order they were written.

use chrono::Utc;
use residence_audit::audit_record;
use residence_eventing::entity::outbox;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};

/// The subjects of every event enqueued for `case_number`, oldest first.
pub async fn outbox_subjects(
    db: &DatabaseConnection,
    case_number: &str,
) -> Result<Vec<String>, DbErr> {
    let rows = outbox::Entity::find()
        .filter(outbox::Column::CaseNumber.eq(case_number))
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| row.subject).collect())
}

/// The outbox rows on `subject`, oldest first.
pub async fn outbox_on(
    db: &DatabaseConnection,
    subject: &str,
) -> Result<Vec<outbox::Model>, DbErr> {
    outbox::Entity::find()
        .filter(outbox::Column::Subject.eq(subject))
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await
}

/// Marks every outbox row published, as the relay would after the broker took them, for tests
/// that run no relay.
pub async fn mark_published(db: &DatabaseConnection) -> Result<(), DbErr> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::PublishedAt, Expr::value(Utc::now()))
        .filter(outbox::Column::PublishedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The audit trail of `case_number`, oldest entry first.
pub async fn audit_trail(
    db: &DatabaseConnection,
    case_number: &str,
) -> Result<Vec<audit_record::Model>, DbErr> {
    audit_record::Entity::find()
        .filter(audit_record::Column::CaseNumber.eq(case_number))
        .order_by_asc(audit_record::Column::Seq)
        .all(db)
        .await
}
