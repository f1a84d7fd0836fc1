//! The simulator's one connection to NATS, from connecting to the last flushed ack.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use tokio_util::sync::CancellationToken;

use crate::consumer::{self, Feed, Handler};

/// How long shutting down waits for the last acks to reach the broker.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// A NATS connection and its JetStream context.
#[derive(Debug)]
pub struct Connection {
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

impl Connection {
    /// Connects to `url` as `client_name`, retrying in the background while the server is not
    /// up yet.
    pub async fn open(url: &str, client_name: &str) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name(client_name)
            .retry_on_initial_connect()
            .connect(url)
            .await
            .with_context(|| format!("connect to nats at {url}"))?;
        let jetstream = jetstream::new(client.clone());
        Ok(Self { client, jetstream })
    }

    /// The JetStream context, for publishing answers.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Hands every message of `feed` to `handler` until `shutdown` is cancelled, then finishes
    /// the message in flight and flushes the last acks. Waits for the stream if the services
    /// have not created it yet.
    pub async fn serve(&self, feed: &Feed, handler: &impl Handler, shutdown: &CancellationToken) {
        let durable_name = &feed.durable_name;
        tracing::info!(stream = feed.stream, consumer = %durable_name, "simulator started");
        consumer::serve(&self.jetstream, feed, handler, shutdown).await;

        self.flush().await;
        tracing::info!(consumer = %durable_name, "simulator stopped");
    }

    /// Sends the last acks, without hanging on a broker that is gone.
    async fn flush(&self) {
        match tokio::time::timeout(FLUSH_TIMEOUT, self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "could not flush the last acks to nats"),
            Err(_) => tracing::warn!("nats did not take the last acks in time"),
        }
    }
}
