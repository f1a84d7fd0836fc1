//! A real nats-server with JetStream and the system's streams, and what tests do with it:
//! publish events as another service would, wait for a consumer to catch up, and read back
//! what was published.

use anyhow::Result;
use async_nats::jetstream::{self, consumer::pull};
use futures::TryStreamExt;
use residence_eventing::envelope::{Envelope, to_header_map};
use residence_eventing::streams;
use residence_events::EventType;
use residence_launcher::{NatsServer, RunDir, ensure_nats_server, project_root};
use serde::Serialize;

use crate::wait::wait_until;

/// A nats-server of this test alone, with every stream the services use. The server is killed
/// when this value is dropped.
pub struct Broker {
    jetstream: jetstream::Context,
    nats: NatsServer,
}

impl Broker {
    /// Starts a nats-server with its data in `run`'s folder and creates the streams.
    pub async fn start(run: &RunDir) -> Result<Broker> {
        let binary = ensure_nats_server(&project_root()?).await?;
        let nats = NatsServer::start(&binary, &run.path().join("nats")).await?;
        let jetstream = jetstream::new(async_nats::connect(nats.url()).await?);
        streams::ensure_all(&jetstream)
            .await
            .map_err(anyhow::Error::from_boxed)?;
        Ok(Broker { jetstream, nats })
    }

    /// The address clients connect to.
    pub fn url(&self) -> String {
        self.nats.url()
    }

    /// A JetStream client of the server.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Publishes `payload` as `source` would publish an `event_type` event about
    /// `case_number`, with `event_id` as its id, and waits for the stream to store it.
    pub async fn publish<T: Serialize>(
        &self,
        event_type: EventType,
        source: &str,
        case_number: &str,
        event_id: &str,
        payload: &T,
    ) -> Result<()> {
        let mut envelope = Envelope::new(event_type.subject, source, case_number);
        envelope.id = event_id.to_owned();
        let headers = to_header_map(&envelope.headers());
        let payload = serde_json::to_vec(payload)?.into();
        self.jetstream
            .publish_with_headers(event_type.subject, headers, payload)
            .await?
            .await?;
        Ok(())
    }

    /// Waits until the durable consumer `durable` on `stream` has nothing pending or
    /// unacknowledged.
    pub async fn wait_consumed(&self, stream: &str, durable: &str) -> Result<()> {
        wait_until(&format!("{durable} to catch up"), || async {
            let Ok(stream) = self.jetstream.get_stream(stream).await else {
                return false;
            };
            let Ok(mut consumer) = stream.get_consumer::<pull::Config>(durable).await else {
                return false;
            };
            consumer
                .info()
                .await
                .is_ok_and(|info| info.num_pending == 0 && info.num_ack_pending == 0)
        })
        .await
    }

    /// How many messages `stream` holds on `subject`.
    pub async fn stored(&self, stream: &str, subject: &str) -> Result<usize> {
        let stream = self.jetstream.get_stream(stream).await?;
        let subjects: Vec<(String, usize)> = stream
            .info_with_subjects(subject)
            .await?
            .try_collect()
            .await?;
        Ok(subjects.into_iter().map(|(_, count)| count).sum())
    }

    /// The messages `stream` holds on `subject`, oldest first, with their headers, read by a
    /// consumer of its own that acknowledges nothing.
    pub async fn read(&self, stream: &str, subject: &str) -> Result<Vec<jetstream::Message>> {
        let count = self.stored(stream, subject).await?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let config = pull::Config {
            filter_subject: subject.to_owned(),
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        };
        let consumer = self
            .jetstream
            .get_stream(stream)
            .await?
            .create_consumer(config)
            .await?;
        let mut messages = consumer.fetch().max_messages(count).messages().await?;
        let mut read = Vec::new();
        while let Some(message) = messages
            .try_next()
            .await
            .map_err(anyhow::Error::from_boxed)?
        {
            read.push(message);
        }
        Ok(read)
    }
}
