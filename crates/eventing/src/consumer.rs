//! Durable pull consumers with explicit acks, bounded redelivery and dead-lettering.
//!
//! A [`Handler`] decides what an event means and returns an [`Outcome`]; the ack decision is
//! made here, in one place: done → ack; retry → nak with back-off until `max_deliver`, then
//! dead-letter; poison → dead-letter at once. Dead-lettered events keep their original headers
//! and gain the reason, so an operator can inspect and replay them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use bytes::Bytes;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::envelope::header;

/// What became of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Processed now or before: acknowledge.
    Done,
    /// A transient failure (database busy, broker down): deliver again after a back-off.
    Retry(String),
    /// Can never be processed (undecodable, invalid): park it on the dead-letter subject.
    Poison(String),
}

impl<E: std::fmt::Display> From<E> for Outcome
where
    E: Into<anyhow::Error>,
{
    /// Any error is treated as transient; handlers return `Poison` explicitly.
    fn from(error: E) -> Self {
        Outcome::Retry(error.to_string())
    }
}

/// One delivered message, with its envelope read from the headers.
#[derive(Debug)]
pub struct Incoming {
    /// `ce-id`, else `Nats-Msg-Id`, else `{stream}:{sequence}`: the inbox key.
    pub id: String,
    /// The NATS subject it arrived on.
    pub subject: String,
    /// `ce-subject`: the case number, when the publisher set it.
    pub case_number: Option<String>,
    pub payload: Bytes,
    pub headers: Option<async_nats::HeaderMap>,
    /// How many times it has been delivered, this time included.
    pub delivered: i64,
}

impl Incoming {
    fn from_message(message: &jetstream::Message) -> Self {
        let headers = message.headers.clone();
        let header = |name: &str| {
            headers
                .as_ref()
                .and_then(|map| map.get(name))
                .map(|value| value.to_string())
        };
        let info = message.info().ok();
        let fallback_id = info
            .as_ref()
            .map(|info| format!("{}:{}", info.stream, info.stream_sequence))
            .unwrap_or_else(|| format!("unsequenced:{}", uuid::Uuid::now_v7()));
        Self {
            id: header(header::ID)
                .or_else(|| header(header::MSG_ID))
                .unwrap_or(fallback_id),
            subject: message.subject.to_string(),
            case_number: header(header::SUBJECT),
            payload: message.payload.clone(),
            headers,
            delivered: info.map(|info| info.delivered).unwrap_or(1),
        }
    }

    /// Decodes the JSON payload; a payload that does not decode is poison.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Outcome> {
        serde_json::from_slice(&self.payload).map_err(|error| {
            Outcome::Poison(format!(
                "payload is not a valid {}: {error}",
                short_type::<T>()
            ))
        })
    }
}

fn short_type<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    name.rsplit("::").next().unwrap_or(name)
}

/// Processes one kind of event. Implementations must be idempotent: the same event may be
/// delivered more than once, and must then change nothing (claim it in the inbox).
pub trait Handler: Send + Sync + 'static {
    /// Handles one event.
    fn handle(&self, event: &Incoming) -> impl Future<Output = Outcome> + Send;
}

/// A durable consumer's configuration.
#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    /// Durable name, shared by every replica of the service.
    pub durable: String,
    /// Stream to consume from.
    pub stream: String,
    /// Subjects to receive.
    pub subjects: Vec<String>,
    /// Deliveries before an event that keeps failing is dead-lettered.
    pub max_deliver: i64,
    /// How long the server waits for an ack before delivering again.
    pub ack_wait: Duration,
    /// Events handled at once. Events of one case always go to the same worker, one after the
    /// other in stream order; events of different cases run side by side.
    pub workers: usize,
}

impl ConsumerSpec {
    /// A consumer with default limits: 8 deliveries, 30 s ack wait, 8 workers.
    pub fn new(durable: &str, stream: &str, subjects: &[&str]) -> Self {
        Self {
            durable: durable.to_owned(),
            stream: stream.to_owned(),
            subjects: subjects
                .iter()
                .map(|subject| (*subject).to_owned())
                .collect(),
            max_deliver: 8,
            ack_wait: Duration::from_secs(30),
            workers: 8,
        }
    }

    fn pull_config(&self) -> pull::Config {
        let (filter_subject, filter_subjects) = match self.subjects.as_slice() {
            [one] => (one.clone(), Vec::new()),
            many => (String::new(), many.to_vec()),
        };
        pull::Config {
            durable_name: Some(self.durable.clone()),
            filter_subject,
            filter_subjects,
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: self.max_deliver,
            max_ack_pending: 1000,
            ..Default::default()
        }
    }
}

/// Runs `handler` on `spec`'s consumer until `shutdown` fires, reconnecting after failures.
/// The message in flight when shutdown comes is finished and settled first.
pub async fn run_consumer<H: Handler>(
    jetstream: jetstream::Context,
    spec: ConsumerSpec,
    handler: Arc<H>,
    shutdown: CancellationToken,
) {
    crate::metrics::consumer_started(&spec);
    let mut attempt = 0u32;
    while !shutdown.is_cancelled() {
        match consume(&jetstream, &spec, &handler, &shutdown).await {
            Ok(()) => return,
            Err(error) => {
                attempt = attempt.saturating_add(1);
                if attempt == 1 || attempt.is_multiple_of(10) {
                    tracing::warn!(consumer = %spec.durable, %error, attempt, "consumer interrupted");
                }
                let pause = Duration::from_millis(250 * u64::from(attempt.min(20)));
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

async fn consume<H: Handler>(
    jetstream: &jetstream::Context,
    spec: &ConsumerSpec,
    handler: &Arc<H>,
    shutdown: &CancellationToken,
) -> Result<(), async_nats::Error> {
    // Made again if the broker lost it; the consumer below likewise.
    let stream = crate::streams::ensure(jetstream, &spec.stream).await?;
    let consumer: pull::Stream = stream
        .get_or_create_consumer::<pull::Config>(&spec.durable, spec.pull_config())
        .await?
        .stream()
        // Two missed heartbeats end the stream, so a consumer the broker lost is made again
        // within seconds rather than waiting out the default.
        .heartbeat(Duration::from_secs(3))
        .expires(Duration::from_secs(15))
        .messages()
        .await?;
    tracing::debug!(consumer = %spec.durable, "consuming");
    let mut messages = consumer;
    let workers = Workers::start(jetstream, spec, handler);
    let ended = loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            next = messages.next() => next,
        };
        match next {
            Some(Ok(message)) => workers.dispatch(message).await,
            Some(Err(error)) => break Err(error.into()),
            None => break Err("message stream ended".into()),
        }
    };
    // Events already handed to a worker are finished and settled before returning.
    workers.finish().await;
    ended
}

/// The workers of one consumer, each handling its share of the cases in order.
struct Workers {
    queues: Vec<tokio::sync::mpsc::Sender<jetstream::Message>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    fn start<H: Handler>(
        jetstream: &jetstream::Context,
        spec: &ConsumerSpec,
        handler: &Arc<H>,
    ) -> Self {
        let count = spec.workers.max(1);
        let mut queues = Vec::with_capacity(count);
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let (queue, mut inbox) = tokio::sync::mpsc::channel::<jetstream::Message>(32);
            let jetstream = jetstream.clone();
            let spec = spec.clone();
            let handler = Arc::clone(handler);
            tasks.push(tokio::spawn(async move {
                while let Some(message) = inbox.recv().await {
                    process(&jetstream, &spec, handler.as_ref(), message).await;
                }
            }));
            queues.push(queue);
        }
        Self { queues, tasks }
    }

    /// Queues `message` on the worker of its case (or of its subject when it names no case).
    async fn dispatch(&self, message: jetstream::Message) {
        let key = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(header::SUBJECT))
            .map_or_else(|| message.subject.to_string(), |value| value.to_string());
        let index = worker_of(&key, self.queues.len());
        if let Some(queue) = self.queues.get(index)
            && let Err(unsent) = queue.send(message).await
        {
            // The worker is gone (it panicked): leave the event unacked for redelivery.
            tracing::warn!(subject = %unsent.0.subject, "consumer worker stopped; event will be redelivered");
        }
    }

    async fn finish(self) {
        drop(self.queues);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The worker for `key`: stable, so one case's events always meet the same worker.
fn worker_of(key: &str, workers: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    usize::try_from(hasher.finish() % workers.max(1) as u64).unwrap_or(0)
}

async fn process<H: Handler>(
    jetstream: &jetstream::Context,
    spec: &ConsumerSpec,
    handler: &H,
    message: jetstream::Message,
) {
    let event = Incoming::from_message(&message);
    let span = tracing::info_span!(
        "consume",
        otel.name = %format_args!("{} process", event.subject),
        otel.kind = "consumer",
        consumer = %spec.durable,
        event.subject = %event.subject,
        event.id = %event.id,
        case.number = event.case_number.as_deref().unwrap_or(""),
        delivered = event.delivered,
    );
    crate::trace::adopt_parent(&span, event.headers.as_ref());

    let started = std::time::Instant::now();
    let outcome = handler.handle(&event).instrument(span.clone()).await;
    crate::metrics::handled(spec, &event, &outcome, started.elapsed());
    settle(jetstream, spec, &message, &event, outcome)
        .instrument(span)
        .await;
}

async fn settle(
    jetstream: &jetstream::Context,
    spec: &ConsumerSpec,
    message: &jetstream::Message,
    event: &Incoming,
    outcome: Outcome,
) {
    let acked = match outcome {
        Outcome::Done => {
            // Counted per replica when several share a consumer, to see the work spread.
            tracing::debug!("event handled");
            message.ack().await
        }
        Outcome::Retry(reason) if event.delivered >= spec.max_deliver => {
            let reason = format!("gave up after {} deliveries: {reason}", event.delivered);
            dead_letter(jetstream, spec, message, event, &reason).await
        }
        Outcome::Retry(reason) => {
            let reason = residence_rules::mask_id_numbers(&reason);
            tracing::debug!(%reason, "event will be retried");
            message
                .ack_with(AckKind::Nak(Some(backoff(event.delivered))))
                .await
        }
        Outcome::Poison(reason) => dead_letter(jetstream, spec, message, event, &reason).await,
    };
    if let Err(error) = acked {
        // The server will redeliver after ack_wait; the inbox makes that harmless.
        tracing::warn!(%error, "could not settle event");
    }
}

/// Redelivery delay after the `delivered`-th failed attempt.
fn backoff(delivered: i64) -> Duration {
    const STEPS_MS: [u64; 6] = [200, 1_000, 2_000, 5_000, 10_000, 30_000];
    let index = usize::try_from(delivered.saturating_sub(1))
        .unwrap_or(0)
        .min(STEPS_MS.len() - 1);
    Duration::from_millis(STEPS_MS[index])
}

async fn dead_letter(
    jetstream: &jetstream::Context,
    spec: &ConsumerSpec,
    message: &jetstream::Message,
    event: &Incoming,
    reason: &str,
) -> Result<(), async_nats::Error> {
    use crate::deadletter::parked_header;

    // A reason may quote the bad input (a partner's message): no ID number in the header or
    // the log line.
    let reason = residence_rules::mask_id_numbers(reason);
    let reason = reason.as_str();
    // The stream sequence keeps the id when a redelivery of this message is parked again
    // after a crash, and changes it for a replayed copy, which the duplicate window of the
    // dead-letter stream would otherwise drop when it fails again.
    let sequence = message.info().map_or(0, |info| info.stream_sequence);
    let message_id = format!("deadletter:{}:{}:{sequence}", spec.durable, event.id);
    let deliveries = event.delivered.to_string();
    let mut headers = event.headers.clone().unwrap_or_default();
    headers.insert(header::MSG_ID, message_id.as_str());
    headers.insert(parked_header::REASON, header_safe(reason).as_str());
    headers.insert(parked_header::CONSUMER, spec.durable.as_str());
    headers.insert(parked_header::ORIGINAL_SUBJECT, event.subject.as_str());
    headers.insert(parked_header::ORIGINAL_ID, event.id.as_str());
    headers.insert(parked_header::DELIVERIES, deliveries.as_str());

    let subject = residence_events::dead_letter_subject(&spec.durable);
    let published = async {
        jetstream
            .publish_with_headers(subject, headers, event.payload.clone())
            .await?
            .await?;
        Ok::<(), async_nats::Error>(())
    }
    .await;
    match published {
        Ok(()) => {
            crate::metrics::dead_lettered(spec);
            tracing::warn!(%reason, "event dead-lettered");
            message.ack_with(AckKind::Term).await
        }
        Err(error) => {
            tracing::warn!(%error, "could not dead-letter event; it will be redelivered");
            message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                .await
        }
    }
}

/// Header values may not contain control characters; keep them short as well.
fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect()
}

/// Records that `consumer` processed `event_id`, inside the transaction that applies the
/// event's effects. Returns false when it was processed before: the caller then changes
/// nothing and acknowledges.
pub async fn claim<C: sea_orm::ConnectionTrait>(
    txn: &C,
    consumer: &str,
    event_id: &str,
) -> Result<bool, sea_orm::DbErr> {
    use sea_orm::sea_query::OnConflict;
    use sea_orm::{EntityTrait, Set};

    use crate::entity::inbox;

    let row = inbox::ActiveModel {
        consumer: Set(consumer.to_owned()),
        event_id: Set(event_id.to_owned()),
        processed_at: Set(chrono::Utc::now()),
    };
    let inserted = inbox::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([inbox::Column::Consumer, inbox::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert!(backoff(2) > backoff(1));
        assert_eq!(backoff(100), Duration::from_secs(30));
        assert_eq!(backoff(-3), Duration::from_millis(200));
    }

    #[test]
    fn one_case_always_meets_the_same_worker() {
        let first = worker_of("CASE-1", 8);
        assert!(first < 8);
        assert_eq!(worker_of("CASE-1", 8), first);
        assert_eq!(worker_of("anything", 1), 0);
        let spread: std::collections::BTreeSet<usize> = (0..64)
            .map(|n| worker_of(&format!("CASE-{n}"), 8))
            .collect();
        assert!(spread.len() > 4, "{spread:?}");
    }

    #[test]
    fn header_values_lose_control_characters() {
        assert_eq!(header_safe("a\r\nb"), "a  b");
    }
}
