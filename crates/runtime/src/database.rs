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
    if let Some(file) = sqlite_file(url) {
        create_private(&file)?;
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

/// Creates `file` empty (which SQLite takes as an empty database) and readable by this
/// service's user only, unless it exists: SQLite gives its journal files the same mode.
fn create_private(file: &std::path::Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot create {}", file.display())),
    }
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

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn sqlite_files_are_private_to_the_service() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("database-mode-{}", std::process::id()));
        let file = dir.join("intake.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let db = connect("intake", &url).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('synthetic')")
            .await
            .unwrap();
        for name in ["intake.db", "intake.db-wal"] {
            let mode = std::fs::metadata(dir.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        db.close().await.unwrap();
        // An existing file is opened as it is.
        let db = connect("intake", &url).await.unwrap();
        db.close().await.unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
