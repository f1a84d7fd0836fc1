//! The e-license service's schema.

use residence_eventing::migration::{CreateOutboxAndInbox, create_table_for};
use sea_orm_migration::prelude::*;

use crate::entity::license;

/// Runs the e-license service's migrations in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateOutboxAndInbox), Box::new(CreateLicenses)]
    }
}

struct CreateLicenses;

impl MigrationName for CreateLicenses {
    fn name(&self) -> &str {
        "m20261201_000002_create_licenses"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateLicenses {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, license::Entity).await
    }
}
