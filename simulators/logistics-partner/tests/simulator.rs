//! The simulator against a real `nats-server`, seen from the courier service's side: waybill
//! requests go in on the `LOGISTICS` stream, parcel statuses come back on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, AckKind, stream};
use futures::{StreamExt, TryStreamExt};
use residence_events::logistics;
use residence_events::partner::{ParcelStatus, WAYBILL_REQUEST_SCHEMA};
use residence_launcher::{NatsServer, RunDir, ensure_nats_server, project_root};
use residence_logistics_partner_simulator::{Args, consumer_config, durable_name, run};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

const PARTNER: &str = "ems";
const REFERENCE: &str = "XP-20261201-0001";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// How long any one expected thing may take to happen.
const DEADLINE: Duration = Duration::from_secs(20);

/// A nats-server with JetStream, a run folder, and the simulator once started.
struct Harness {
    jetstream: jetstream::Context,
    record_file: PathBuf,
    shutdown: CancellationToken,
    simulator: Option<JoinHandle<Result<()>>>,
    nats: NatsServer,
    _dir: RunDir,
}

impl Harness {
    async fn start() -> Result<Self> {
        let binary = ensure_nats_server(&project_root()?).await?;
        let dir = RunDir::new("logistics-simulator-test")?;
        let nats = NatsServer::start(&binary, &dir.path().join("nats")).await?;
        let client = async_nats::connect(nats.url()).await?;
        Ok(Self {
            jetstream: jetstream::new(client),
            record_file: dir.path().join("records").join("waybills.jsonl"),
            shutdown: CancellationToken::new(),
            simulator: None,
            nats,
            _dir: dir,
        })
    }

    fn args(&self, failure_share: f64) -> Args {
        let url = self.nats.url();
        Args {
            failure_share,
            seed: Some(11),
            record_file: Some(self.record_file.clone()),
            ..Args::new(&url, PARTNER)
        }
    }

    fn run_simulator(&mut self, failure_share: f64) {
        self.run_simulator_with(self.args(failure_share));
    }

    fn run_simulator_with(&mut self, args: Args) {
        self.simulator = Some(tokio::spawn(run(args, self.shutdown.clone())));
    }

    /// Cancels the simulator and checks that it returns cleanly.
    async fn stop_simulator(&mut self) -> Result<()> {
        self.shutdown.cancel();
        let task = self.simulator.take().context("simulator was not started")?;
        timeout(DEADLINE, task)
            .await
            .context("simulator did not stop")???;
        Ok(())
    }

    /// Creates the stream the way the services do.
    async fn create_stream(&self) -> Result<stream::Stream> {
        let config = stream::Config {
            name: "LOGISTICS".to_owned(),
            subjects: vec!["logistics.v1.>".to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        };
        Ok(self.jetstream.get_or_create_stream(config).await?)
    }

    /// Publishes `payload` as the courier service would, returning its stream sequence.
    async fn publish_request(&self, payload: Vec<u8>, event_id: &str) -> Result<u64> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", event_id);
        headers.insert("ce-id", event_id);
        headers.insert("ce-type", "logistics.v1.waybill.requested");
        headers.insert("ce-source", "/residence/courier");
        headers.insert("traceparent", TRACEPARENT);
        let subject = logistics::waybill_requested(PARTNER);
        let ack = self
            .jetstream
            .publish_with_headers(subject, headers, payload.into())
            .await?
            .await?;
        Ok(ack.sequence)
    }

    /// Waits until the simulator's consumer has acknowledged everything up to `sequence`.
    async fn wait_acked(&self, sequence: u64) -> Result<()> {
        let until = Instant::now() + DEADLINE;
        loop {
            let stream = self.jetstream.get_stream("LOGISTICS").await?;
            if let Ok(mut consumer) = stream
                .get_consumer::<pull::Config>(&durable_name(PARTNER))
                .await
                && consumer.info().await?.ack_floor.stream_sequence >= sequence
            {
                return Ok(());
            }
            if Instant::now() >= until {
                bail!("request {sequence} was not acknowledged within {DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Checks that the stream holds exactly three statuses, one per status subject.
    async fn assert_each_status_stored_once(&self) -> Result<()> {
        let stream = self.jetstream.get_stream("LOGISTICS").await?;
        let filter = logistics::status(PARTNER, ">");
        let counts: BTreeMap<String, usize> = stream
            .info_with_subjects(filter)
            .await?
            .try_collect()
            .await?;
        assert_eq!(counts.len(), 3, "{counts:?}");
        assert!(counts.values().all(|&count| count == 1), "{counts:?}");
        Ok(())
    }
}

fn waybill_request() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schema": WAYBILL_REQUEST_SCHEMA,
        "parcel_reference": REFERENCE,
        "recipient": {"name": "张三", "phone": "13800000000", "address": "西平县柏城街道西平大道1号"},
        "sender": {"name": "西平县公安局", "phone": "03966222110", "address": "西平县柏城街道"},
        "requested_at": "2026-12-01T08:00:00Z",
    }))
    .expect("request encodes")
}

/// Reads the statuses stored for the partner, in order, with their headers.
async fn read_statuses(
    stream: &stream::Stream,
    count: usize,
) -> Result<Vec<(ParcelStatus, HeaderMap)>> {
    let config = pull::Config {
        filter_subject: logistics::status(PARTNER, "*"),
        ack_policy: AckPolicy::None,
        ..Default::default()
    };
    let consumer = stream.create_consumer(config).await?;
    let mut messages = consumer.messages().await?;
    let mut statuses = Vec::new();
    while statuses.len() < count {
        let message = timeout(DEADLINE, messages.next())
            .await
            .with_context(|| format!("only {} of {count} statuses arrived", statuses.len()))?
            .context("status stream ended")??;
        let status: ParcelStatus = serde_json::from_slice(&message.payload)?;
        assert_eq!(
            message.subject.as_str(),
            logistics::status(PARTNER, &status.status)
        );
        statuses.push((status, message.headers.clone().unwrap_or_default()));
    }
    Ok(statuses)
}

fn records(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path)?;
    let lines = text.lines().map(serde_json::from_str);
    Ok(lines.collect::<Result<_, _>>()?)
}

#[tokio::test]
async fn delivers_a_parcel_and_reports_each_status_once_when_asked_twice() -> Result<()> {
    let mut harness = Harness::start().await?;
    let stream = harness.create_stream().await?;
    harness
        .publish_request(b"{not json".to_vec(), "event-0")
        .await?;
    harness
        .publish_request(waybill_request(), "event-1")
        .await?;
    harness.run_simulator(0.0);

    let statuses = read_statuses(&stream, 3).await?;
    let names: Vec<&str> = statuses
        .iter()
        .map(|(status, _)| status.status.as_str())
        .collect();
    assert_eq!(names, ["accepted", "picked_up", "delivered"]);
    let (delivered, headers) = &statuses[2];
    assert_eq!(delivered.schema, "logistics.v1.parcel_status");
    assert_eq!(delivered.parcel_reference, REFERENCE);
    assert_eq!(delivered.signed_by.as_deref(), Some("张三"));
    let message_id = headers.get("Nats-Msg-Id").map(|value| value.as_str());
    assert_eq!(message_id, Some("XP-20261201-0001:delivered"));
    assert_eq!(
        headers.get("traceparent").map(|value| value.as_str()),
        Some(TRACEPARENT)
    );

    // The same request again, as a re-published outbox row would arrive.
    let again = harness
        .publish_request(waybill_request(), "event-2")
        .await?;
    harness.wait_acked(again).await?;
    harness.assert_each_status_stored_once().await?;

    let records = records(&harness.record_file)?;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["parcel_reference"], REFERENCE);
    assert_eq!(records[1]["redelivered"], false);
    assert!(records[0]["received_at"].is_string());
    harness.stop_simulator().await
}

#[tokio::test]
async fn a_request_redelivered_after_a_crash_adds_no_second_status() -> Result<()> {
    let mut harness = Harness::start().await?;
    let stream = harness.create_stream().await?;
    let sequence = harness
        .publish_request(waybill_request(), "event-1")
        .await?;

    // An earlier run took the request, reported `accepted`, and died before acknowledging.
    let consumer = stream
        .get_or_create_consumer(&durable_name(PARTNER), consumer_config(PARTNER))
        .await?;
    let mut batch = consumer.fetch().max_messages(1).messages().await?;
    let taken = batch.next().await.context("request was not delivered")?;
    let taken = taken.map_err(anyhow::Error::from_boxed)?;
    let accepted = serde_json::json!({
        "schema": "logistics.v1.parcel_status",
        "parcel_reference": REFERENCE,
        "status": "accepted",
        "at": "2026-12-01T08:00:01Z",
    });
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", "XP-20261201-0001:accepted");
    let subject = logistics::status(PARTNER, "accepted");
    let payload = serde_json::to_vec(&accepted)?;
    harness
        .jetstream
        .publish_with_headers(subject, headers, payload.into())
        .await?
        .await?;
    taken
        .ack_with(AckKind::Nak(None))
        .await
        .map_err(anyhow::Error::from_boxed)?;

    harness.run_simulator(1.0);
    harness.wait_acked(sequence).await?;

    let statuses = read_statuses(&stream, 3).await?;
    let failed = &statuses[2].0;
    assert_eq!(failed.status, "failed");
    assert!(!failed.reason.as_deref().unwrap_or_default().is_empty());
    harness.assert_each_status_stored_once().await?;

    let records = records(&harness.record_file)?;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["redelivered"], true);
    harness.stop_simulator().await
}

#[tokio::test]
async fn waits_for_the_stream_the_services_create_and_paces_statuses() -> Result<()> {
    let mut harness = Harness::start().await?;
    let args = Args {
        latency_ms: 50,
        ..harness.args(0.0)
    };
    harness.run_simulator_with(args);

    let stream = harness.create_stream().await?;
    harness
        .publish_request(waybill_request(), "event-1")
        .await?;
    let statuses = read_statuses(&stream, 3).await?;
    let gap = statuses[2].0.at - statuses[0].0.at;
    assert!(
        gap >= chrono::TimeDelta::milliseconds(100),
        "statuses {gap} apart"
    );
    harness.stop_simulator().await
}

#[tokio::test]
async fn stops_promptly_while_waiting_for_the_stream() -> Result<()> {
    let mut harness = Harness::start().await?;
    harness.run_simulator(0.1);
    harness.stop_simulator().await?;
    assert!(
        harness.record_file.exists(),
        "record file is created at start-up"
    );
    Ok(())
}
