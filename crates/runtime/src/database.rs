//! The service's own database: a SQLite file by default, PostgreSQL when a URL says so.

use std::time::Duration;

use anyhow::Context;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

/// Connects to `url` for `service`.
///
/// SQLite: WAL journal, full sync, a 10 s busy timeout, foreign keys on; the file and its
/// folder are created if missing. PostgreSQL: the service works in its own schema, named after
/// it, so several services may share one database.
pub async fn connect(service: &str, url: &str) -> anyhow::Result<DatabaseConnection> {
    if url.starts_with("sqlite:") {
        connect_sqlite(url).await
    } else {
        connect_postgres(service, url).await
    }
    .with_context(|| format!("cannot open the {service} database"))
}

async fn connect_sqlite(url: &str) -> anyhow::Result<DatabaseConnection> {
    if let Some(parent) = sqlite_file(url).and_then(|file| file.parent().map(|p| p.to_owned()))
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(4)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    Ok(Database::connect(options).await?)
}

async fn connect_postgres(service: &str, url: &str) -> anyhow::Result<DatabaseConnection> {
    let schema = service.replace('-', "_");
    let bootstrap = Database::connect(quiet(ConnectOptions::new(url))).await?;
    let created = bootstrap
        .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
        .await;
    match created {
        Ok(_) => {}
        // Two replicas creating the schema at once: the loser sees a duplicate error.
        Err(error) if error.to_string().contains("already exists") => {}
        Err(error) => return Err(error.into()),
    }
    bootstrap.close().await?;

    let mut options = quiet(ConnectOptions::new(url));
    options
        .max_connections(10)
        .min_connections(1)
        .set_schema_search_path(schema);
    Ok(Database::connect(options).await?)
}

fn quiet(mut options: ConnectOptions) -> ConnectOptions {
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(30));
    options
}

/// The file of a SQLite URL; none for other databases and in-memory SQLite.
pub(crate) fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}
