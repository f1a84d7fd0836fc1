//! The migration that creates the outbox and inbox tables; every service's migrator lists it
//! first.

use sea_orm::{EntityTrait, Schema};
use sea_orm_migration::prelude::*;

use crate::entity::{inbox, outbox};

/// Creates `outbox` and `inbox`.
#[derive(Debug, Default)]
pub struct CreateOutboxAndInbox;

impl MigrationName for CreateOutboxAndInbox {
    fn name(&self) -> &str {
        "m20261201_000001_create_outbox_and_inbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOutboxAndInbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table_for(manager, outbox::Entity).await?;
        create_table_for(manager, inbox::Entity).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(inbox::Entity).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(outbox::Entity).to_owned())
            .await
    }
}

/// Creates the table of an entity with its indexes, as the entity declares them.
///
/// Used by first migrations only: a later change to a table gets its own explicit migration.
pub async fn create_table_for<E: EntityTrait>(
    manager: &SchemaManager<'_>,
    entity: E,
) -> Result<(), DbErr> {
    let schema = Schema::new(manager.get_database_backend());
    manager
        .create_table(
            schema
                .create_table_from_entity(entity)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
    for mut index in schema.create_index_from_entity(entity) {
        manager
            .create_index(index.if_not_exists().to_owned())
            .await?;
    }
    Ok(())
}

/// Adds each of `columns` to `entity`'s table unless it is there already: a database created
/// after the column joined the entity got it with its table. One column per statement, since
/// SQLite alters one column at a time.
pub async fn add_missing_columns<E: EntityTrait>(
    manager: &SchemaManager<'_>,
    entity: E,
    columns: impl IntoIterator<Item = ColumnDef>,
) -> Result<(), DbErr> {
    for mut column in columns {
        let name = column.get_column_name();
        if manager.has_column(entity.table_name(), &name).await? {
            continue;
        }
        let alter = Table::alter()
            .table(entity)
            .add_column(&mut column)
            .to_owned();
        manager.alter_table(alter).await?;
    }
    Ok(())
}
