//! Dead letters end to end against a real nats-server: a consumer parks what it cannot
//! process, an operator lists it, and a replay brings it back exactly once.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::pull};
use residence_eventing::deadletter::{DeadLetters, ParkedEvent};
use residence_eventing::{ConsumerSpec, Handler, Incoming, Outcome, run_consumer, streams};
use residence_launcher::{NatsServer, RunDir, ensure_nats_server, project_root};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long any one expected thing may take to happen.
const DEADLINE: Duration = Duration::from_secs(20);

const CONSUMER: &str = "deadletter-test";
const SUBJECT: &str = "residence.v1.test.happened";
const CASE_NUMBER: &str = "XP-2026-000001";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Takes JSON payloads, and any payload once it is "fixed"; remembers the ids it processed
/// in an in-memory inbox and the effects it had, one per id.
#[derive(Default)]
struct Recorder {
    accept_anything: AtomicBool,
    inbox: Mutex<HashSet<String>>,
    effects: Mutex<Vec<String>>,
    deliveries: Mutex<Vec<String>>,
}

impl Recorder {
    fn effects(&self) -> Vec<String> {
        self.effects.lock().unwrap().clone()
    }

    fn deliveries_of(&self, id: &str) -> usize {
        let deliveries = self.deliveries.lock().unwrap();
        deliveries.iter().filter(|seen| *seen == id).count()
    }
}

impl Handler for Recorder {
    async fn handle(&self, event: &Incoming) -> Outcome {
        self.deliveries.lock().unwrap().push(event.id.clone());
        if !self.accept_anything.load(Ordering::SeqCst)
            && let Err(poison) = event.json::<serde_json::Value>()
        {
            return poison;
        }
        if self.inbox.lock().unwrap().insert(event.id.clone()) {
            self.effects.lock().unwrap().push(event.id.clone());
        }
        Outcome::Done
    }
}

/// A nats-server with the system's streams and a [`Recorder`] consuming [`SUBJECT`].
struct Harness {
    jetstream: jetstream::Context,
    recorder: Arc<Recorder>,
    shutdown: CancellationToken,
    consumer: Option<JoinHandle<()>>,
    _nats: NatsServer,
    _dir: RunDir,
}

impl Harness {
    async fn start(prefix: &str) -> Result<Self> {
        let binary = ensure_nats_server(&project_root()?).await?;
        let dir = RunDir::new(prefix)?;
        let nats = NatsServer::start(&binary, &dir.path().join("nats")).await?;
        let jetstream = jetstream::new(async_nats::connect(nats.url()).await?);
        streams::ensure_all(&jetstream)
            .await
            .map_err(anyhow::Error::from_boxed)?;

        let recorder = Arc::new(Recorder::default());
        let shutdown = CancellationToken::new();
        let spec = ConsumerSpec::new(CONSUMER, streams::RESIDENCE, &[SUBJECT]);
        let consumer = tokio::spawn(run_consumer(
            jetstream.clone(),
            spec,
            recorder.clone(),
            shutdown.clone(),
        ));
        Ok(Self {
            jetstream,
            recorder,
            shutdown,
            consumer: Some(consumer),
            _nats: nats,
            _dir: dir,
        })
    }

    async fn dead_letters(&self) -> Result<DeadLetters> {
        Ok(DeadLetters::open(self.jetstream.clone()).await?)
    }

    async fn parked(&self) -> Result<Vec<ParkedEvent>> {
        Ok(self.dead_letters().await?.list(Some(CONSUMER)).await?)
    }

    /// Publishes an event the way the relay does and returns its stream sequence.
    async fn publish(&self, id: &str, payload: &[u8]) -> Result<u64> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", id);
        headers.insert("ce-id", id);
        headers.insert("ce-type", SUBJECT);
        headers.insert("ce-subject", CASE_NUMBER);
        headers.insert("traceparent", TRACEPARENT);
        let stored = self
            .jetstream
            .publish_with_headers(SUBJECT, headers, payload.to_vec().into())
            .await?
            .await?;
        Ok(stored.sequence)
    }

    /// Waits until the consumer has settled everything up to stream sequence `sequence`.
    async fn wait_settled(&self, sequence: u64) -> Result<()> {
        let stream = self.jetstream.get_stream(streams::RESIDENCE).await?;
        wait_for(&format!("message {sequence} to be settled"), || async {
            let Ok(mut consumer) = stream.get_consumer::<pull::Config>(CONSUMER).await else {
                return Ok(false);
            };
            Ok(consumer.info().await?.ack_floor.stream_sequence >= sequence)
        })
        .await
    }

    /// Waits until exactly `count` events are parked and returns them.
    async fn wait_parked(&self, count: usize) -> Result<Vec<ParkedEvent>> {
        wait_for(&format!("{count} parked events"), || async {
            Ok(self.parked().await?.len() == count)
        })
        .await?;
        self.parked().await
    }

    async fn stop(mut self) -> Result<()> {
        self.shutdown.cancel();
        let consumer = self.consumer.take().context("consumer is not running")?;
        tokio::time::timeout(DEADLINE, consumer)
            .await
            .context("consumer did not stop")??;
        Ok(())
    }
}

async fn wait_for<Check, Checked>(what: &str, mut check: Check) -> Result<()>
where
    Check: FnMut() -> Checked,
    Checked: Future<Output = Result<bool>>,
{
    let until = Instant::now() + DEADLINE;
    while !check().await? {
        if Instant::now() >= until {
            bail!("waited {DEADLINE:?} for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn header<'a>(parked: &'a ParkedEvent, name: &str) -> Option<&'a str> {
    parked.headers.get(name).map(|value| value.as_str())
}

#[tokio::test]
async fn a_parked_event_is_listed_and_replayed_exactly_once() -> Result<()> {
    let harness = Harness::start("eventing-deadletter").await?;
    harness.publish("good-1", br#"{"n": 1}"#).await?;
    let bad_sequence = harness.publish("bad-1", b"not json").await?;
    harness.wait_settled(bad_sequence).await?;

    let parked = harness.wait_parked(1).await?;
    let first = &parked[0];
    assert_eq!(first.consumer, CONSUMER);
    assert_eq!(first.original_subject.as_deref(), Some(SUBJECT));
    assert_eq!(first.original_id.as_deref(), Some("bad-1"));
    assert_eq!(first.case_number.as_deref(), Some(CASE_NUMBER));
    assert_eq!(first.deliveries, Some(1));
    assert!(first.reason.contains("payload is not a valid"));
    assert_eq!(header(first, "traceparent"), Some(TRACEPARENT));
    assert_eq!(header(first, "ce-type"), Some(SUBJECT));
    assert_eq!(&first.payload[..], b"not json");
    assert_eq!(harness.recorder.effects(), ["good-1"]);

    // Listing reads without consuming: the same event is there on every look.
    let again = harness.parked().await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].sequence, first.sequence);

    // Replayed while the handler still rejects it: parked again, under a new sequence.
    let dead_letters = harness.dead_letters().await?;
    let replayed = dead_letters.replay(first).await?;
    assert_eq!(replayed.subject, SUBJECT);
    assert_eq!(replayed.stream, streams::RESIDENCE);
    assert!(!replayed.duplicate);
    harness.wait_settled(replayed.stream_sequence).await?;
    let parked = harness.wait_parked(1).await?;
    let second = &parked[0];
    assert_ne!(second.sequence, first.sequence);
    assert_eq!(second.original_id.as_deref(), Some("bad-1"));
    assert!(second.reason.contains("payload is not a valid"));
    assert!(dead_letters.get(first.sequence).await?.is_none());

    // Fixed: the replay is processed once and leaves the dead-letter stream.
    let recorder = &harness.recorder;
    recorder.accept_anything.store(true, Ordering::SeqCst);
    let replayed = dead_letters.replay(second).await?;
    harness.wait_settled(replayed.stream_sequence).await?;
    assert_eq!(recorder.effects(), ["good-1", "bad-1"]);
    assert_eq!(recorder.deliveries_of("bad-1"), 3);
    assert!(harness.parked().await?.is_empty());

    harness.stop().await
}

#[tokio::test]
async fn replaying_an_event_already_processed_changes_nothing() -> Result<()> {
    let harness = Harness::start("eventing-deadletter-repeat").await?;
    let sequence = harness.publish("done-1", br#"{"n": 1}"#).await?;
    harness.wait_settled(sequence).await?;
    assert_eq!(harness.recorder.effects(), ["done-1"]);

    // A copy of the processed event sits in the dead-letter stream, as if an earlier
    // delivery had been parked while another one went through.
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", "deadletter:deadletter-test:done-1:1");
    headers.insert("ce-id", "done-1");
    headers.insert("x-dead-letter-reason", "gave up after 8 deliveries: busy");
    headers.insert("x-dead-letter-consumer", CONSUMER);
    headers.insert("x-original-subject", SUBJECT);
    headers.insert("x-original-id", "done-1");
    headers.insert("x-deliveries", "8");
    let dead_letter_subject = residence_events::dead_letter_subject(CONSUMER);
    harness
        .jetstream
        .publish_with_headers(dead_letter_subject, headers, br#"{"n": 1}"#.to_vec().into())
        .await?
        .await?;

    let parked = harness.wait_parked(1).await?;
    assert_eq!(parked[0].deliveries, Some(8));
    let dead_letters = harness.dead_letters().await?;
    let replayed = dead_letters.replay(&parked[0]).await?;
    harness.wait_settled(replayed.stream_sequence).await?;

    assert_eq!(harness.recorder.deliveries_of("done-1"), 2);
    assert_eq!(harness.recorder.effects(), ["done-1"]);
    assert!(harness.parked().await?.is_empty());

    harness.stop().await
}
