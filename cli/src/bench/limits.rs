//! The limits underneath: how fast the same nats-server stores and hands out messages of our
//! size, and how many small transactions per second the same database commits, measured the
//! way the services use them.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_nats::jetstream::{self, consumer::pull, stream};
use futures::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;

use super::measure::Costs;
use crate::system::{Database, Service, System};

/// Messages published and consumed in the broker measurement.
const MESSAGES: usize = 20_000;
/// Publishes in flight before waiting for their acknowledgements, as the relay batches.
const PUBLISH_WINDOW: usize = 256;
/// How long each database measurement writes.
const DATABASE_SECONDS: f64 = 3.0;
/// Writers in the PostgreSQL measurement: one per service and then some, as in a run.
const POSTGRES_WRITERS: usize = 8;

/// The measured limits.
#[derive(Clone, Debug, Serialize)]
pub struct Limits {
    /// Payload size used, the mean size of the run's events.
    pub message_bytes: usize,
    /// Acknowledged publishes per second, pipelined.
    pub jetstream_publish_per_s: f64,
    /// Messages fetched and acknowledged per second by one pull consumer.
    pub jetstream_consume_per_s: f64,
    /// Small write transactions committed per second.
    pub database_commits_per_s: f64,
    /// How the commits were made.
    pub database_method: String,
    /// Commits one application costs in its busiest database (from the run).
    pub busiest_database_commits: f64,
}

impl Limits {
    /// The applications per second these limits allow at `costs`: the broker bound and the
    /// database bound, whichever is lower. SQLite files are separate per service, so their
    /// bound is the busiest file's; PostgreSQL takes every service's commits.
    pub fn bound(&self, costs: &Costs, database: Database) -> f64 {
        let broker_rate = self
            .jetstream_publish_per_s
            .min(self.jetstream_consume_per_s);
        let broker = broker_rate / costs.messages_per_application.max(f64::MIN_POSITIVE);
        let commits = match database {
            Database::Sqlite => costs.busiest_database_commits,
            Database::Postgres => costs.commits_per_application,
        };
        let database = self.database_commits_per_s / commits.max(f64::MIN_POSITIVE);
        broker.min(database)
    }
}

/// Measures both, on `system`'s servers.
pub async fn measure(system: &System, costs: &Costs) -> Result<Limits> {
    let message_bytes = costs.average_message_bytes.clamp(64, 64 * 1024);
    let (jetstream_publish_per_s, jetstream_consume_per_s) =
        broker(&system.nats_url(), message_bytes).await?;
    let (database_commits_per_s, database_method) = database(system).await?;
    Ok(Limits {
        message_bytes,
        jetstream_publish_per_s,
        jetstream_consume_per_s,
        database_commits_per_s,
        database_method,
        busiest_database_commits: costs.busiest_database_commits,
    })
}

async fn broker(url: &str, message_bytes: usize) -> Result<(f64, f64)> {
    let client = async_nats::connect(url).await.context("connect to nats")?;
    let context = jetstream::new(client);
    let name = "BENCH_LIMITS";
    let _ = context.delete_stream(name).await;
    let bench = context
        .create_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec!["bench.limits".to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .context("create the measurement stream")?;
    let payload = bytes::Bytes::from(vec![b'x'; message_bytes]);

    let started = Instant::now();
    let mut sent = 0;
    while sent < MESSAGES {
        let window = PUBLISH_WINDOW.min(MESSAGES - sent);
        let mut acks = Vec::with_capacity(window);
        for _ in 0..window {
            acks.push(context.publish("bench.limits", payload.clone()).await?);
        }
        for ack in acks {
            ack.await?;
        }
        sent += window;
    }
    let publish_rate = MESSAGES as f64 / started.elapsed().as_secs_f64();

    let consumer = bench
        .create_consumer(pull::Config {
            durable_name: Some("bench".to_owned()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            max_ack_pending: 10_000,
            ..Default::default()
        })
        .await?;
    let started = Instant::now();
    let mut messages = consumer.messages().await?;
    let mut received = 0;
    while received < MESSAGES {
        let Some(message) = messages.next().await else {
            break;
        };
        message?
            .ack()
            .await
            .map_err(|error| anyhow::anyhow!("ack failed: {error}"))?;
        received += 1;
    }
    let consume_rate = received as f64 / started.elapsed().as_secs_f64();
    let _ = context.delete_stream(name).await;
    Ok((publish_rate, consume_rate))
}

async fn database(system: &System) -> Result<(f64, String)> {
    match system.database() {
        Database::Sqlite => {
            let file = system.data_dir().join("bench-limits.db");
            let url = format!("sqlite://{}", file.display());
            // The same settings as every service's file: WAL, full sync, busy timeout.
            let db = residence_runtime::database::connect("bench-limits", &url).await?;
            prepare(&db).await?;
            let rate = commits(&db, 1).await?;
            db.close().await?;
            let _ = std::fs::remove_file(&file);
            Ok((rate, "SQLite, one writer, WAL, synchronous=FULL".to_owned()))
        }
        Database::Postgres => {
            let url = system.database_url(Service::Intake);
            let db = residence_runtime::database::connect("bench-limits", &url).await?;
            prepare(&db).await?;
            let rate = commits(&db, POSTGRES_WRITERS).await?;
            db.execute_unprepared("DROP SCHEMA IF EXISTS bench_limits CASCADE")
                .await?;
            db.close().await?;
            Ok((
                rate,
                format!("PostgreSQL, {POSTGRES_WRITERS} concurrent writers"),
            ))
        }
    }
}

async fn prepare(db: &DatabaseConnection) -> Result<()> {
    db.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS bench_commits (id BIGINT PRIMARY KEY, body TEXT NOT NULL)",
    )
    .await?;
    Ok(())
}

/// Single-row write transactions per second from `writers` concurrent writers.
async fn commits(db: &DatabaseConnection, writers: usize) -> Result<f64> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let db = db.clone();
        tasks.spawn(async move {
            let mut done = 0u64;
            let mut id = (writer as u64) << 40;
            while started.elapsed().as_secs_f64() < DATABASE_SECONDS {
                let txn = residence_eventing::db::begin_write(&db).await?;
                txn.execute_unprepared(&format!(
                    "INSERT INTO bench_commits (id, body) VALUES ({id}, 'a small event row')"
                ))
                .await?;
                txn.commit().await?;
                id += 1;
                done += 1;
            }
            Ok::<u64, sea_orm::DbErr>(done)
        });
    }
    let mut total = 0;
    while let Some(joined) = tasks.join_next().await {
        total += joined.context("a writer failed")??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
