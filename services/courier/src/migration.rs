//! Courier's schema.

use residence_eventing::migration::{CreateOutboxAndInbox, create_table_for};
use sea_orm_migration::prelude::*;

use crate::entity::waybill;

/// Runs courier's migrations in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateOutboxAndInbox), Box::new(CreateWaybills)]
    }
}

struct CreateWaybills;

impl MigrationName for CreateWaybills {
    fn name(&self) -> &str {
        "m20261201_000002_create_waybills"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateWaybills {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, waybill::Entity).await
    }
}
