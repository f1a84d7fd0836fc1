//! Fresh databases for one test, brought to the latest schema by the service's own migrator.

use std::path::Path;

use anyhow::Result;
use residence_launcher::RunDir;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

/// A new SQLite database for `service` in `run`'s folder, migrated by `M`. The database goes
/// when the folder does.
pub async fn sqlite<M: MigratorTrait>(run: &RunDir, service: &str) -> Result<DatabaseConnection> {
    migrated::<M>(service, &sqlite_url(run.path(), service)).await
}

/// Where a SQLite database for `service` in `dir` lives; the file is made on first connect.
pub fn sqlite_url(dir: &Path, service: &str) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        dir.join(format!("{service}.db")).display()
    )
}

/// Connects `service` to the empty database at `url` as the service itself does, then applies
/// every migration of `M`.
pub async fn migrated<M: MigratorTrait>(service: &str, url: &str) -> Result<DatabaseConnection> {
    let db = residence_runtime::database::connect(service, url).await?;
    M::up(&db, None).await?;
    Ok(db)
}
