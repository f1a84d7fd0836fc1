//! The e-license service's schema.

use residence_eventing::migration::{CreateOutboxAndInbox, add_missing_columns, create_table_for};
use sea_orm_migration::prelude::*;

use crate::entity::{license, platform_message};

/// Runs the e-license service's migrations in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutboxAndInbox),
            Box::new(CreateLicenses),
            Box::new(SignAndTrackLicenses),
            Box::new(residence_audit::CreateAuditRecords),
        ]
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

/// Signatures, QR payloads and revocation on licenses; the messages to the platforms. One
/// column per statement: SQLite alters one column at a time.
struct SignAndTrackLicenses;

impl MigrationName for SignAndTrackLicenses {
    fn name(&self) -> &str {
        "m20261215_000003_sign_and_track_licenses"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SignAndTrackLicenses {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            ColumnDef::new(license::Column::Signature)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(license::Column::KeyId)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(license::Column::QrPayload)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(license::Column::RevokedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(license::Column::RevocationReason)
                .text()
                .null()
                .to_owned(),
        ];
        add_missing_columns(manager, license::Entity, columns).await?;
        // Verification tells which version replaced a license.
        let by_supersedes = Index::create()
            .name("idx-licenses-supersedes")
            .table(license::Entity)
            .col(license::Column::Supersedes)
            .if_not_exists()
            .to_owned();
        manager.create_index(by_supersedes).await?;
        create_table_for(manager, platform_message::Entity).await
    }
}
