//! Helpers for the simulators' integration tests: a real nats-server with JetStream in a fresh
//! run folder per test, the simulator as a task, and the services' side of the streams.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, AckKind, Message, stream};
use futures::{StreamExt, TryStreamExt};
use residence_launcher::{NatsServer, RunDir, ensure_nats_server, project_root};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

use crate::Feed;

/// The trace context of every event [`event_headers`] builds.
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// How long any one expected thing may take to happen.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The headers the services put on an event: its ids, CloudEvents type and source, and
/// [`TRACEPARENT`].
pub fn event_headers(event_id: &str, event_type: &str, source: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", event_id);
    headers.insert("ce-id", event_id);
    headers.insert("ce-type", event_type);
    headers.insert("ce-source", source);
    headers.insert("traceparent", TRACEPARENT);
    headers
}

/// A nats-server with JetStream, a run folder, and the simulator once spawned.
pub struct Harness {
    jetstream: jetstream::Context,
    record_file: PathBuf,
    shutdown: CancellationToken,
    simulator: Option<JoinHandle<Result<()>>>,
    nats: NatsServer,
    _dir: RunDir,
}

impl Harness {
    /// Starts nats-server in a fresh run folder whose name starts with `prefix`.
    pub async fn start(prefix: &str) -> Result<Self> {
        let binary = ensure_nats_server(&project_root()?).await?;
        let dir = RunDir::new(prefix)?;
        let nats = NatsServer::start(&binary, &dir.path().join("nats")).await?;
        let client = async_nats::connect(nats.url()).await?;
        Ok(Self {
            jetstream: jetstream::new(client),
            record_file: dir.path().join("records").join("record.jsonl"),
            shutdown: CancellationToken::new(),
            simulator: None,
            nats,
            _dir: dir,
        })
    }

    /// The server's URL, for the simulator's flags.
    pub fn nats_url(&self) -> String {
        self.nats.url()
    }

    /// Where the simulator should keep its record file, in a folder that does not exist yet.
    pub fn record_file(&self) -> &Path {
        &self.record_file
    }

    /// The lines of the record file, decoded.
    pub fn records(&self) -> Result<Vec<serde_json::Value>> {
        let text = std::fs::read_to_string(&self.record_file)?;
        let lines = text.lines().map(serde_json::from_str);
        Ok(lines.collect::<Result<_, _>>()?)
    }

    /// Creates the stream `name` over `subjects` (such as `logistics.v1.>`) the way the
    /// services do: on file, dropping repeats of a message id within ten minutes.
    pub async fn create_stream(&self, name: &str, subjects: &str) -> Result<stream::Stream> {
        let config = stream::Config {
            name: name.to_owned(),
            subjects: vec![subjects.to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        };
        Ok(self.jetstream.get_or_create_stream(config).await?)
    }

    /// Creates the durable consumer of `feed` with the feed's own settings, as the services
    /// do for a partner that only binds to its consumer.
    pub async fn create_consumer(&self, feed: &Feed) -> Result<()> {
        let stream = self.jetstream.get_stream(feed.stream).await?;
        stream
            .get_or_create_consumer(&feed.durable_name, feed.consumer_config())
            .await?;
        Ok(())
    }

    /// Spawns the simulator; `run` gets the token that [`Harness::stop_simulator`] cancels.
    pub fn spawn_simulator<Run>(&mut self, run: impl FnOnce(CancellationToken) -> Run)
    where
        Run: Future<Output = Result<()>> + Send + 'static,
    {
        self.simulator = Some(tokio::spawn(run(self.shutdown.clone())));
    }

    /// Cancels the simulator and checks that it returns cleanly.
    pub async fn stop_simulator(&mut self) -> Result<()> {
        self.shutdown.cancel();
        let task = self.simulator.take().context("simulator was not started")?;
        timeout(DEADLINE, task)
            .await
            .context("simulator did not stop")???;
        Ok(())
    }

    /// Publishes `payload` with `headers` and returns its stream sequence.
    pub async fn publish(
        &self,
        subject: &str,
        headers: HeaderMap,
        payload: Vec<u8>,
    ) -> Result<u64> {
        let stored = self
            .jetstream
            .publish_with_headers(subject.to_owned(), headers, payload.into())
            .await?
            .await?;
        Ok(stored.sequence)
    }

    /// Waits until the consumer of `feed` has acknowledged everything up to `sequence`.
    pub async fn wait_acked(&self, feed: &Feed, sequence: u64) -> Result<()> {
        let until = Instant::now() + DEADLINE;
        loop {
            let stream = self.jetstream.get_stream(feed.stream).await?;
            if let Ok(mut consumer) = stream
                .get_consumer::<pull::Config>(&feed.durable_name)
                .await
                && consumer.info().await?.ack_floor.stream_sequence >= sequence
            {
                return Ok(());
            }
            if Instant::now() >= until {
                bail!("message {sequence} was not acknowledged within {DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Plays an earlier run of the simulator that took the next message of `feed`, stored
    /// `answer` on `subject` with `message_id`, and died before acknowledging: the message
    /// is delivered again.
    pub async fn crash_after_answering(
        &self,
        feed: &Feed,
        subject: &str,
        message_id: &str,
        answer: &serde_json::Value,
    ) -> Result<()> {
        let stream = self.jetstream.get_stream(feed.stream).await?;
        let consumer = stream
            .get_or_create_consumer(&feed.durable_name, feed.consumer_config())
            .await?;
        let mut batch = consumer.fetch().max_messages(1).messages().await?;
        let taken = batch.next().await.context("message was not delivered")?;
        let taken = taken.map_err(anyhow::Error::from_boxed)?;

        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", message_id);
        self.publish(subject, headers, serde_json::to_vec(answer)?)
            .await?;

        taken
            .ack_with(AckKind::Nak(None))
            .await
            .map_err(anyhow::Error::from_boxed)
    }

    /// Reads the first `count` messages stored on `subject` (wildcards allowed) of `stream`.
    pub async fn read(&self, stream: &str, subject: &str, count: usize) -> Result<Vec<Message>> {
        let config = pull::Config {
            filter_subject: subject.to_owned(),
            ack_policy: AckPolicy::None,
            ..Default::default()
        };
        let stream = self.jetstream.get_stream(stream).await?;
        let mut messages = stream.create_consumer(config).await?.messages().await?;
        let mut read = Vec::with_capacity(count);
        while read.len() < count {
            let message = timeout(DEADLINE, messages.next())
                .await
                .with_context(|| format!("only {} of {count} messages arrived", read.len()))?
                .context("message stream ended")??;
            read.push(message);
        }
        Ok(read)
    }

    /// How many messages `stream` holds on each subject matching `filter`.
    pub async fn stored_per_subject(
        &self,
        stream: &str,
        filter: &str,
    ) -> Result<BTreeMap<String, usize>> {
        let stream = self.jetstream.get_stream(stream).await?;
        let subjects = stream.info_with_subjects(filter).await?;
        Ok(subjects.try_collect().await?)
    }
}

/// The JSON `fixture` with some of its top-level fields set to other strings, encoded.
pub fn json_with(fixture: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_str(fixture).expect("fixture is json");
    for (name, value) in fields {
        json[*name] = (*value).into();
    }
    serde_json::to_vec(&json).expect("fixture encodes")
}
