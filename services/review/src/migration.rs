//! Review's schema.

use residence_audit::CreateAuditRecords;
use residence_eventing::migration::{CreateOutboxAndInbox, create_table_for};
use sea_orm::EntityName;
use sea_orm_migration::prelude::*;

use crate::entity::{review, task};

/// Runs review's migrations in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutboxAndInbox),
            Box::new(CreateReviews),
            Box::new(CreateAuditRecords),
            Box::new(CreateReviewTasks),
        ]
    }
}

struct CreateReviews;

impl MigrationName for CreateReviews {
    fn name(&self) -> &str {
        "m20261201_000002_create_reviews"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateReviews {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, review::Entity).await
    }
}

/// The manual review queue, and the town of every review.
struct CreateReviewTasks;

impl MigrationName for CreateReviewTasks {
    fn name(&self) -> &str {
        "m20261220_000003_create_review_tasks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateReviewTasks {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, task::Entity).await?;
        // A database made after this change got the column with its table.
        let table = review::Entity.table_name();
        if !manager.has_column(table, "town_code").await? {
            let alter = Table::alter()
                .table(review::Entity)
                .add_column(ColumnDef::new(review::Column::TownCode).string().null())
                .to_owned();
            manager.alter_table(alter).await?;
        }
        Ok(())
    }
}
