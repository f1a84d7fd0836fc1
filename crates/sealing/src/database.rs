//! The data key a database was sealed with, recorded in the database itself, so that a service
//! started with another key (a lost key file made again, a replica given the wrong file)
//! stops at start instead of reporting ready and failing on every sealed row.

use anyhow::bail;
use sea_orm::sea_query::{Alias, ColumnDef, Expr, Query, Table};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::DataKeys;

/// The table of data key ids, one row per key that sealed rows in this database.
const TABLE: &str = "data_keys";

/// Records `keys` in `db` if no key is recorded yet; fails, naming both key ids, if the
/// database was sealed under another key.
pub async fn check_database(db: &DatabaseConnection, keys: &DataKeys) -> anyhow::Result<()> {
    let table = Alias::new(TABLE);
    let key_id = Alias::new("key_id");
    let recorded_at = Alias::new("recorded_at");
    let create = Table::create()
        .table(table.clone())
        .if_not_exists()
        .col(
            ColumnDef::new(key_id.clone())
                .string()
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new(recorded_at.clone()).string().not_null())
        .to_owned();
    db.execute(&create).await?;

    let select = Query::select()
        .column(key_id.clone())
        .from(table.clone())
        .to_owned();
    let recorded: Vec<String> = db
        .query_all(&select)
        .await?
        .iter()
        .filter_map(|row| row.try_get::<String>("", "key_id").ok())
        .collect();
    if recorded.iter().any(|id| id == keys.id()) {
        return Ok(());
    }
    if !recorded.is_empty() {
        bail!(
            "this database was sealed with data key {}, but the data key file gives key {}: \
             start the service with the key file the database was written with (a key file \
             made by this start can be deleted)",
            recorded.join(", "),
            keys.id()
        );
    }
    let insert = Query::insert()
        .into_table(table)
        .columns([key_id, recorded_at])
        .values_panic([Expr::val(keys.id()), Expr::val(now_in_seconds())])
        .to_owned();
    db.execute(&insert).await?;
    tracing::info!(key.id = keys.id(), "data key recorded in the database");
    Ok(())
}

/// Seconds since the Unix epoch, as text: when the key was first recorded.
fn now_in_seconds() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_accepts_only_the_key_it_was_sealed_with() {
        let dir = std::env::temp_dir().join(format!("sealing-db-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("service.db").display());
        let db = sea_orm::Database::connect(&url).await.unwrap();
        let first = DataKeys::new(&[1; 32]).unwrap();
        let other = DataKeys::new(&[2; 32]).unwrap();

        check_database(&db, &first).await.unwrap();
        check_database(&db, &first).await.unwrap();
        let error = check_database(&db, &other).await.unwrap_err().to_string();
        assert!(
            error.contains(first.id()) && error.contains(other.id()),
            "{error}"
        );

        db.close().await.unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
