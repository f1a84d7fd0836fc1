//! Read-only queries against the services' own databases.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, QueryResult, Statement,
};

use super::Databases;
use super::stats::{CaseTimes, parse_timestamp, surplus_of_counts};
use crate::system::Service;

/// One service's database, opened read-only.
pub(crate) struct Store {
    connection: DatabaseConnection,
    /// The service's PostgreSQL schema; `None` for its own SQLite file.
    schema: Option<&'static str>,
}

/// Case counts from intake's `cases` table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct CaseCounts {
    pub submitted: u64,
    pub accepted: u64,
    pub refused: u64,
    pub not_final: u64,
}

impl Store {
    /// Opens `service`'s database: its SQLite file in read-only mode, or the shared
    /// PostgreSQL database in read-only transactions.
    pub(crate) async fn open(databases: &Databases, service: Service) -> Result<Store> {
        let (url, schema) = match databases {
            Databases::Sqlite { data_dir } => {
                let file = data_dir.join(format!("{}.db", service.name()));
                anyhow::ensure!(file.is_file(), "{} does not exist", file.display());
                (format!("sqlite://{}?mode=ro", file.display()), None)
            }
            Databases::Postgres { url } => (read_only_postgres(url), Some(service.name())),
        };
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        let connection = Database::connect(options)
            .await
            .with_context(|| format!("cannot open the {service} database"))?;
        Ok(Store { connection, schema })
    }

    /// Closes the connection.
    pub(crate) async fn close(self) {
        // Nothing was written, so a failed close loses nothing.
        let _ = self.connection.close().await;
    }

    /// Intake's case counts.
    pub(super) async fn case_counts(&self) -> Result<CaseCounts> {
        let sql = format!(
            "SELECT COUNT(*) AS submitted, COUNT(accepted_at) AS accepted, \
             COALESCE(SUM(CASE WHEN status = 'refused' THEN 1 ELSE 0 END), 0) AS refused, \
             COALESCE(SUM(CASE WHEN is_final THEN 0 ELSE 1 END), 0) AS not_final \
             FROM {}",
            self.table("cases")
        );
        let row = self.query_one(&sql).await?;
        Ok(CaseCounts {
            submitted: column(&row, "submitted")?,
            accepted: column(&row, "accepted")?,
            refused: column(&row, "refused")?,
            not_final: column(&row, "not_final")?,
        })
    }

    /// Refusal reason codes of refused cases, each with how many cases it refused.
    pub(super) async fn refusals_by_reason(
        &self,
    ) -> Result<std::collections::BTreeMap<String, u64>> {
        let sql = format!(
            "SELECT reasons FROM {} WHERE status = 'refused'",
            self.table("cases")
        );
        let mut counts = std::collections::BTreeMap::new();
        for row in self.query_all(&sql).await? {
            let reasons: String = row.try_get("", "reasons")?;
            let reasons: Vec<serde_json::Value> = serde_json::from_str(&reasons)
                .with_context(|| "a refused case's reasons are not a JSON array")?;
            let codes: std::collections::BTreeSet<&str> = reasons
                .iter()
                .filter_map(|reason| reason["code"].as_str())
                .collect();
            for code in codes {
                *counts.entry(code.to_owned()).or_default() += 1;
            }
        }
        Ok(counts)
    }

    /// Cases that were sent a supplement notice (补正) and were accepted once answered.
    pub(super) async fn supplement_round_trips(&self) -> Result<u64> {
        let sql = format!(
            "SELECT COUNT(DISTINCT case_number) AS n FROM {} WHERE status = 'supplement_required' \
             AND case_number IN (SELECT case_number FROM {} WHERE accepted_at IS NOT NULL)",
            self.table("case_steps"),
            self.table("cases")
        );
        count(&self.query_one(&sql).await?, "n")
    }

    /// Every case's receipt and closing time; rows whose times cannot be read are counted.
    pub(super) async fn case_times(&self) -> Result<(Vec<CaseTimes>, u64)> {
        let sql = format!(
            "SELECT CAST(received_at AS TEXT) AS received_at, \
             CAST(closed_at AS TEXT) AS closed_at FROM {}",
            self.table("cases")
        );
        let mut times = Vec::new();
        let mut unreadable = 0;
        for row in self.query_all(&sql).await? {
            let received: Option<String> = row.try_get("", "received_at")?;
            let closed: Option<String> = row.try_get("", "closed_at")?;
            let received_at = received.as_deref().and_then(parse_timestamp);
            let closed_at = closed.as_deref().map(parse_timestamp);
            match (received_at, closed_at) {
                (Some(received_at), None) => times.push(CaseTimes {
                    received_at,
                    closed_at: None,
                }),
                (Some(received_at), Some(Some(closed_at))) => times.push(CaseTimes {
                    received_at,
                    closed_at: Some(closed_at),
                }),
                _ => unreadable += 1,
            }
        }
        Ok((times, unreadable))
    }

    /// Row counts of `table` per value of `column`, such as decisions per outcome.
    pub(super) async fn count_by(&self, table: &str, column: &str) -> Result<HashMap<String, u64>> {
        let sql = format!(
            "SELECT CAST({column} AS TEXT) AS label, COUNT(*) AS n FROM {} GROUP BY {column}",
            self.table(table)
        );
        let mut counts = HashMap::new();
        for row in self.query_all(&sql).await? {
            let label: Option<String> = row.try_get("", "label")?;
            counts.insert(label.unwrap_or_default(), count(&row, "n")?);
        }
        Ok(counts)
    }

    /// Rows of `table` beyond one per distinct combination of `columns`.
    pub(super) async fn surplus(&self, table: &str, columns: &str) -> Result<u64> {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM {} GROUP BY {columns} HAVING COUNT(*) > 1",
            self.table(table)
        );
        let counts = self
            .query_all(&sql)
            .await?
            .iter()
            .map(|row| count(row, "n"))
            .collect::<Result<Vec<u64>>>()?;
        Ok(surplus_of_counts(counts))
    }

    /// Rows of `table` for which the SQL `condition` holds.
    pub(super) async fn count_where(&self, table: &str, condition: &str) -> Result<u64> {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE {condition}",
            self.table(table)
        );
        count(&self.query_one(&sql).await?, "n")
    }

    /// Distinct values of `column` in the rows of `table` for which the SQL `condition` holds.
    pub(super) async fn distinct_where(
        &self,
        table: &str,
        column: &str,
        condition: &str,
    ) -> Result<u64> {
        let sql = format!(
            "SELECT COUNT(DISTINCT {column}) AS n FROM {} WHERE {condition}",
            self.table(table)
        );
        count(&self.query_one(&sql).await?, "n")
    }

    /// The case numbers of intake's cases in `status`, sorted.
    pub(super) async fn cases_in(&self, status: &str) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT case_number FROM {} WHERE status = {} ORDER BY case_number",
            self.table("cases"),
            quoted(status)
        );
        self.query_all(&sql)
            .await?
            .iter()
            .map(|row| Ok(row.try_get("", "case_number")?))
            .collect()
    }

    /// Distinct values of `column` in `table`.
    pub(super) async fn distinct(&self, table: &str, column: &str) -> Result<u64> {
        let sql = format!(
            "SELECT COUNT(DISTINCT {column}) AS n FROM {}",
            self.table(table)
        );
        count(&self.query_one(&sql).await?, "n")
    }

    pub(crate) fn table(&self, name: &str) -> String {
        match self.schema {
            Some(schema) => format!("{schema}.{name}"),
            None => name.to_owned(),
        }
    }

    pub(crate) async fn query_one(&self, sql: &str) -> Result<QueryResult> {
        let statement = Statement::from_string(self.connection.get_database_backend(), sql);
        self.connection
            .query_one_raw(statement)
            .await
            .with_context(|| format!("query failed: {sql}"))?
            .with_context(|| format!("query returned no row: {sql}"))
    }

    pub(crate) async fn query_all(&self, sql: &str) -> Result<Vec<QueryResult>> {
        let statement = Statement::from_string(self.connection.get_database_backend(), sql);
        self.connection
            .query_all_raw(statement)
            .await
            .with_context(|| format!("query failed: {sql}"))
    }
}

pub(crate) fn count(row: &QueryResult, name: &str) -> Result<u64> {
    let value: i64 = row.try_get("", name)?;
    Ok(u64::try_from(value).unwrap_or(0))
}

fn column(row: &QueryResult, name: &str) -> Result<u64> {
    count(row, name).with_context(|| format!("column {name}"))
}

/// `value` as an SQL string literal.
pub(super) fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `values` as the list of an SQL `IN (...)`; `NULL` for none, which matches nothing.
pub(super) fn in_list(values: &[String]) -> String {
    if values.is_empty() {
        return "NULL".to_owned();
    }
    let quoted: Vec<String> = values.iter().map(|value| quoted(value)).collect();
    quoted.join(", ")
}

/// The same database, with every transaction of the session read-only.
fn read_only_postgres(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options%5Bdefault_transaction_read_only%5D=on")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_sessions_are_read_only() {
        assert_eq!(
            read_only_postgres("postgres://postgres@127.0.0.1:5432/residence"),
            "postgres://postgres@127.0.0.1:5432/residence\
             ?options%5Bdefault_transaction_read_only%5D=on"
        );
        assert!(read_only_postgres("postgres://h/db?sslmode=disable").contains("&options"));
    }

    #[test]
    fn values_are_quoted_for_sql() {
        assert_eq!(quoted("withdrawn"), "'withdrawn'");
        assert_eq!(quoted("o'brien"), "'o''brien'");
        assert_eq!(in_list(&["C1".into(), "C2".into()]), "'C1', 'C2'");
        assert_eq!(in_list(&[]), "NULL");
    }
}
