//! Sealing the rows a database held before its columns were sealed, so that an upgraded
//! deployment does not keep them in the clear until they happen to be written again (a closed
//! case never is).

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IdenStatic};

use crate::{PREFIX, keys};

/// A column sealed at rest, named as in the database: its table, the table's primary key
/// (one column) and the column itself.
#[derive(Clone, Copy, Debug)]
pub struct SealedColumn {
    pub table: &'static str,
    pub key: &'static str,
    pub column: &'static str,
}

impl SealedColumn {
    /// `column` of `entity`, found by `key`, named as the entity names them.
    pub fn of<E: EntityTrait>(entity: E, key: E::Column, column: E::Column) -> Self {
        Self {
            table: entity.table_name(),
            key: key.as_str(),
            column: column.as_str(),
        }
    }
}

/// Every service's outbox payloads.
pub const OUTBOX_PAYLOAD: SealedColumn = SealedColumn {
    table: "outbox",
    key: "id",
    column: "payload",
};

/// Seals each value of `columns` still in the clear with the process's data key; returns how
/// many were sealed. A value changed meanwhile by the service is left to that write.
pub async fn seal_legacy_rows(
    db: &DatabaseConnection,
    columns: &[SealedColumn],
) -> Result<u64, DbErr> {
    let mut sealed = 0;
    for column in columns {
        let table = Alias::new(column.table);
        let value = Alias::new(column.column);
        let key_text = || Func::cast_as(Expr::col(Alias::new(column.key)), Alias::new("TEXT"));
        let select = Query::select()
            .expr_as(key_text(), Alias::new("row_key"))
            .expr_as(Expr::col(value.clone()), Alias::new("plain"))
            .from(table.clone())
            .and_where(Expr::col(value.clone()).is_not_null())
            .and_where(Expr::col(value.clone()).not_like(format!("{PREFIX}%")))
            .to_owned();
        for row in db.query_all(&select).await? {
            let key: String = row.try_get("", "row_key")?;
            let plain: String = row.try_get("", "plain")?;
            let update = Query::update()
                .table(table.clone())
                .value(value.clone(), keys().seal(&plain))
                .and_where(Expr::expr(key_text()).eq(key))
                .and_where(Expr::col(value.clone()).eq(plain))
                .to_owned();
            sealed += db.execute(&update).await?.rows_affected();
        }
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_from_before_sealing_are_sealed_once() {
        let dir = std::env::temp_dir().join(format!("sealing-legacy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("service.db").display());
        let db = sea_orm::Database::connect(&url).await.unwrap();
        db.execute_unprepared(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);
             CREATE TABLE cases (case_number TEXT PRIMARY KEY, application TEXT);
             INSERT INTO outbox VALUES (1, '{\"id_number\":\"411721199001011237\"}');
             INSERT INTO cases VALUES ('CASE-1', '{\"name\":\"测试\"}'), ('CASE-2', NULL);",
        )
        .await
        .unwrap();
        let already = keys().seal("{}");
        db.execute_unprepared(&format!("INSERT INTO cases VALUES ('CASE-3', '{already}')"))
            .await
            .unwrap();
        let cases = SealedColumn {
            table: "cases",
            key: "case_number",
            column: "application",
        };

        let columns = [OUTBOX_PAYLOAD, cases];
        assert_eq!(seal_legacy_rows(&db, &columns).await.unwrap(), 2);
        assert_eq!(seal_legacy_rows(&db, &columns).await.unwrap(), 0);

        let stored: Vec<String> = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT payload AS v FROM outbox UNION ALL \
                 SELECT application AS v FROM cases WHERE application IS NOT NULL",
            ))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get("", "v").unwrap())
            .collect();
        assert_eq!(stored.len(), 3);
        assert!(
            stored.iter().all(|value| value.starts_with(PREFIX)),
            "{stored:?}"
        );
        let opened: Vec<String> = stored.iter().map(|v| keys().open(v).unwrap()).collect();
        assert!(opened.contains(&"{\"id_number\":\"411721199001011237\"}".to_owned()));
        assert!(opened.contains(&"{\"name\":\"测试\"}".to_owned()));
        assert_eq!(stored.iter().filter(|v| **v == already).count(), 1);

        db.close().await.unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
