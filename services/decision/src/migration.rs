//! Decision's schema.

use residence_audit::CreateAuditRecords;
use residence_eventing::migration::{CreateOutboxAndInbox, add_missing_columns, create_table_for};
use sea_orm_migration::prelude::*;

use crate::entity::{decision, pending};

/// Runs decision's migrations in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutboxAndInbox),
            Box::new(CreateDecisions),
            Box::new(AddReversals),
            Box::new(CreateAuditRecords),
            Box::new(AddOfficerDecisions),
        ]
    }
}

struct CreateDecisions;

impl MigrationName for CreateDecisions {
    fn name(&self) -> &str {
        "m20261201_000002_create_decisions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDecisions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, decision::Entity).await
    }
}

/// Adds the reversal of an approval to decisions. One column per statement: SQLite alters
/// one column at a time.
struct AddReversals;

impl MigrationName for AddReversals {
    fn name(&self) -> &str {
        "m20261215_000003_add_decision_reversals"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddReversals {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            ColumnDef::new(decision::Column::ReversedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(decision::Column::ReversalReason)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(decision::Column::ReversedBy)
                .string()
                .null()
                .to_owned(),
        ];
        add_missing_columns(manager, decision::Entity, columns).await
    }
}

/// The deciding officer's queue of referred cases, and who decided and for which town.
struct AddOfficerDecisions;

impl MigrationName for AddOfficerDecisions {
    fn name(&self) -> &str {
        "m20261220_000005_add_officer_decisions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddOfficerDecisions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, pending::Entity).await?;
        let columns = [
            ColumnDef::new(decision::Column::DecidedBy)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(decision::Column::TownCode)
                .string()
                .null()
                .to_owned(),
        ];
        add_missing_columns(manager, decision::Entity, columns).await
    }
}
