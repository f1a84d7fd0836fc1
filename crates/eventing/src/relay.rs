//! The outbox relay: publishes committed outbox rows to JetStream, oldest first.
//!
//! Each row is published with `Nats-Msg-Id` set to its event id, so a row published twice (a
//! crash between the publish and the update, or two replicas racing) is stored once. Rows are
//! sent in a pipelined batch and marked published once JetStream has acknowledged them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::entity::outbox;
use crate::envelope::to_header_map;

/// Wakes the relay after a commit, so events leave without waiting for the next poll.
#[derive(Clone, Debug, Default)]
pub struct RelayHandle {
    wake: Arc<Notify>,
}

impl RelayHandle {
    /// Tells the relay there are new rows.
    pub fn notify(&self) {
        self.wake.notify_one();
    }
}

/// Publishes the outbox of one service.
#[derive(Debug)]
pub struct Relay {
    db: DatabaseConnection,
    jetstream: jetstream::Context,
    handle: RelayHandle,
    /// Rows published per round trip.
    batch_size: u64,
    /// How often to look for rows when nobody woke the relay (other replicas, restarts).
    poll_interval: Duration,
    /// How long published rows are kept for re-publication.
    retention: chrono::Duration,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("outbox query failed: {0}")]
    Database(#[from] DbErr),
    #[error("publish failed: {0}")]
    Publish(String),
    #[error("stored headers are not a JSON object of strings: {0}")]
    Headers(#[from] serde_json::Error),
}

impl Relay {
    /// A relay for `db`'s outbox publishing to `jetstream`.
    pub fn new(db: DatabaseConnection, jetstream: jetstream::Context) -> Self {
        Self {
            db,
            jetstream,
            handle: RelayHandle::default(),
            batch_size: 256,
            poll_interval: Duration::from_millis(500),
            retention: chrono::Duration::days(7),
        }
    }

    /// The handle that wakes this relay.
    pub fn handle(&self) -> RelayHandle {
        self.handle.clone()
    }

    /// Publishes until `shutdown` fires; then returns after the batch in flight.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        let mut last_cleanup = tokio::time::Instant::now();
        loop {
            match self.publish_batch().await {
                Ok(published) if published as u64 == self.batch_size => {
                    failures = 0;
                    continue;
                }
                Ok(_) => failures = 0,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(%error, failures, "outbox relay could not publish");
                    }
                    // A broker that lost its store has no streams to take the events: make
                    // them again. Cheap when they exist; fails quietly while it is down.
                    if let Err(error) = crate::streams::ensure_all(&self.jetstream).await {
                        tracing::debug!(%error, "streams could not be checked");
                    }
                }
            }
            if last_cleanup.elapsed() > Duration::from_secs(3600) {
                self.delete_expired().await;
                last_cleanup = tokio::time::Instant::now();
            }
            let pause = if failures == 0 {
                self.poll_interval
            } else {
                Duration::from_millis(200 * u64::from(failures.min(10)))
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.handle.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Publishes one batch of unpublished rows; returns how many were published.
    async fn publish_batch(&self) -> Result<usize, RelayError> {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(self.batch_size)
            .all(&self.db)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }

        let mut pending = Vec::with_capacity(rows.len());
        for row in &rows {
            let headers: BTreeMap<String, String> = serde_json::from_str(&row.headers)?;
            let payload = Bytes::from(row.payload.clone().into_inner());
            let ack = self
                .jetstream
                .publish_with_headers(row.subject.clone(), to_header_map(&headers), payload)
                .await
                .map_err(|error| RelayError::Publish(error.to_string()));
            pending.push((row.id, row.subject.as_str(), ack));
        }

        let mut published = Vec::with_capacity(rows.len());
        let mut first_error = None;
        for (id, subject, ack) in pending {
            let acked = match ack {
                Ok(future) => future
                    .await
                    .map_err(|error| RelayError::Publish(error.to_string())),
                Err(error) => Err(error),
            };
            match acked {
                Ok(_) => {
                    crate::metrics::published(subject);
                    published.push(id);
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }

        self.mark_published(&published).await?;
        match first_error {
            Some(error) => Err(error),
            None => Ok(published.len()),
        }
    }

    async fn mark_published(&self, ids: &[i64]) -> Result<(), DbErr> {
        if ids.is_empty() {
            return Ok(());
        }
        outbox::Entity::update_many()
            .col_expr(outbox::Column::PublishedAt, Expr::value(Utc::now()))
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn delete_expired(&self) {
        let cutoff = Utc::now() - self.retention;
        let deleted = outbox::Entity::delete_many()
            .filter(outbox::Column::PublishedAt.lt(cutoff))
            .exec(&self.db)
            .await;
        if let Err(error) = deleted {
            tracing::warn!(%error, "could not delete expired outbox rows");
        }
    }
}
