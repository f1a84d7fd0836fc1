//! Intake's schema.

use residence_audit::CreateAuditRecords;
use residence_eventing::migration::{CreateOutboxAndInbox, add_missing_columns, create_table_for};
use sea_orm_migration::prelude::*;

use crate::entity::{case, clock, follow_up, rating, resend, sequence, step};

/// Runs intake's migrations in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutboxAndInbox),
            Box::new(CreateCases),
            Box::new(CreateClocks),
            Box::new(CreateCaseResends),
            Box::new(CreateAuditRecords),
            Box::new(AddApplicantFeedback),
        ]
    }
}

struct CreateCases;

impl MigrationName for CreateCases {
    fn name(&self) -> &str {
        "m20261201_000002_create_cases"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCases {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, case::Entity).await?;
        create_table_for(manager, step::Entity).await?;
        create_table_for(manager, sequence::Entity).await
    }
}

struct CreateClocks;

impl MigrationName for CreateClocks {
    fn name(&self) -> &str {
        "m20261204_000003_create_case_clocks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateClocks {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, clock::Entity).await
    }
}

struct CreateCaseResends;

impl MigrationName for CreateCaseResends {
    fn name(&self) -> &str {
        "m20261204_000004_create_case_resends"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCaseResends {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, resend::Entity).await
    }
}

/// Towns on cases, withdrawals, rating invitations, ratings and their follow-up tasks.
struct AddApplicantFeedback;

impl MigrationName for AddApplicantFeedback {
    fn name(&self) -> &str {
        "m20261204_000006_add_applicant_feedback"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddApplicantFeedback {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            ColumnDef::new(case::Column::TownCode)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(case::Column::WithdrawalRequestedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(case::Column::RatingInvitedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ];
        add_missing_columns(manager, case::Entity, columns).await?;
        create_table_for(manager, rating::Entity).await?;
        create_table_for(manager, follow_up::Entity).await
    }
}
