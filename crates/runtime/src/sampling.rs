//! Gauges read from the service's own database every few seconds: the outbox backlog and
//! the age of its oldest row. A service adds its own samplers with [`every`].

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

/// How often sampled gauges are refreshed.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Samples the outbox backlog into `residence_outbox_backlog` and
/// `residence_outbox_oldest_age_seconds` until `shutdown`.
pub async fn outbox(db: DatabaseConnection, shutdown: CancellationToken) {
    every(SAMPLE_EVERY, shutdown, || sample_outbox(&db)).await;
}

async fn sample_outbox(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    let backlog = residence_eventing::outbox::backlog(db).await?;
    let metrics = residence_metrics::global();
    metrics
        .outbox_backlog
        .set(i64::try_from(backlog.rows).unwrap_or(i64::MAX));
    let age = backlog.oldest.map_or(0.0, |oldest| {
        let age = chrono::Utc::now() - oldest;
        age.num_milliseconds().max(0) as f64 / 1000.0
    });
    metrics.outbox_oldest_age.set(age);
    Ok(())
}

/// Runs `sample` now and then every `period` until `shutdown`; a failed sample is logged at
/// debug (readiness reports an unreachable database) and the gauges keep their last values.
pub async fn every<F, Fut, E>(period: Duration, shutdown: CancellationToken, mut sample: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    loop {
        if let Err(error) = sample().await {
            tracing::debug!(%error, "metrics could not be sampled");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}
