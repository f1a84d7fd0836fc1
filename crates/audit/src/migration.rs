//! The migration that creates the audit table; each service's migrator lists it.
//!
//! The database itself keeps the table append-only: a trigger refuses every update and
//! delete. Someone with the rights to drop the trigger can still change rows, which is what
//! the hash chain is for.

use sea_orm::{DbBackend, Schema};
use sea_orm_migration::prelude::*;

use crate::entity::audit_record;

/// Creates `audit_records` and its append-only triggers.
#[derive(Debug, Default)]
pub struct CreateAuditRecords;

impl MigrationName for CreateAuditRecords {
    fn name(&self) -> &str {
        "m20261220_000100_create_audit_records"
    }
}

const SQLITE_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records \
     BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records \
     BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
];

const POSTGRES_TRIGGERS: &[&str] = &[
    "CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger \
     LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$",
    "DROP TRIGGER IF EXISTS audit_records_append_only ON audit_records",
    "CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records \
     FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()",
];

#[async_trait::async_trait]
impl MigrationTrait for CreateAuditRecords {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let schema = Schema::new(backend);
        let table = schema
            .create_table_from_entity(audit_record::Entity)
            .if_not_exists()
            .to_owned();
        manager.create_table(table).await?;
        for mut index in schema.create_index_from_entity(audit_record::Entity) {
            manager
                .create_index(index.if_not_exists().to_owned())
                .await?;
        }
        let triggers = match backend {
            DbBackend::Sqlite => SQLITE_TRIGGERS,
            DbBackend::Postgres => POSTGRES_TRIGGERS,
            _ => &[],
        };
        let connection = manager.get_connection();
        for sql in triggers {
            connection.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(audit_record::Entity).to_owned())
            .await
    }
}
