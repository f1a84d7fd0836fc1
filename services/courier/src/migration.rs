//! Courier's schema.

use residence_eventing::migration::{CreateOutboxAndInbox, create_table_for};
use sea_orm_migration::prelude::*;

use crate::entity::{acceptance, waybill};

/// Runs courier's migrations in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutboxAndInbox),
            Box::new(CreateWaybills),
            Box::new(CreateWaybillAcceptances),
        ]
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

struct CreateWaybillAcceptances;

impl MigrationName for CreateWaybillAcceptances {
    fn name(&self) -> &str {
        "m20261205_000003_create_waybill_acceptances"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateWaybillAcceptances {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, acceptance::Entity).await?;
        // Waybills requested before the table existed are watched from now on as well.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO waybill_acceptances \
                 (parcel_reference, requests, first_requested_at, last_requested_at) \
                 SELECT parcel_reference, 1, requested_at, requested_at \
                 FROM waybills WHERE state = 'requested'",
            )
            .await?;
        Ok(())
    }
}
