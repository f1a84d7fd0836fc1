//! Delivery's schema.

use residence_audit::CreateAuditRecords;
use residence_eventing::migration::{CreateOutboxAndInbox, create_table_for};
use sea_orm_migration::prelude::*;

use crate::entity::delivery;

/// Runs delivery's migrations in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutboxAndInbox),
            Box::new(CreateDeliveries),
            Box::new(CreateAuditRecords),
        ]
    }
}

struct CreateDeliveries;

impl MigrationName for CreateDeliveries {
    fn name(&self) -> &str {
        "m20261201_000002_create_deliveries"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDeliveries {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, delivery::Entity).await
    }
}
