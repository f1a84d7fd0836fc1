//! The simulator against a real `nats-server`, seen from the e-license service's side: issued
//! licenses go in on the `ELICENSE` stream, acknowledgements come back on it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, AckKind, stream};
use futures::{StreamExt, TryStreamExt};
use residence_elicense_platform_simulator::{Args, consumer_config, durable_name, run};
use residence_events::elicense;
use residence_events::partner::{LICENSE_ISSUED_SCHEMA, LicenseAcknowledged};
use residence_launcher::{NatsServer, RunDir, ensure_nats_server, project_root};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

const PLATFORM: &str = "henan-elicense";
const IDENTIFIER: &str = "1.2.156.3005.2.11100000000000000.411721000000.XP2026120100001.001.7";
const CASE_NUMBER: &str = "XP2026120100001";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// How long any one expected thing may take to happen.
const DEADLINE: Duration = Duration::from_secs(20);

/// A nats-server with JetStream and the `ELICENSE` stream, a run folder, and the simulator.
struct Harness {
    jetstream: jetstream::Context,
    stream: stream::Stream,
    record_file: PathBuf,
    shutdown: CancellationToken,
    simulator: Option<JoinHandle<Result<()>>>,
    nats: NatsServer,
    _dir: RunDir,
}

impl Harness {
    /// Starts nats-server and creates the stream the way the services do.
    async fn start() -> Result<Self> {
        let binary = ensure_nats_server(&project_root()?).await?;
        let dir = RunDir::new("elicense-simulator-test")?;
        let nats = NatsServer::start(&binary, &dir.path().join("nats")).await?;
        let jetstream = jetstream::new(async_nats::connect(nats.url()).await?);
        let config = stream::Config {
            name: "ELICENSE".to_owned(),
            subjects: vec!["elicense.v1.>".to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        };
        let stream = jetstream.get_or_create_stream(config).await?;
        Ok(Self {
            jetstream,
            stream,
            record_file: dir.path().join("records").join("licenses.jsonl"),
            shutdown: CancellationToken::new(),
            simulator: None,
            nats,
            _dir: dir,
        })
    }

    fn run_simulator(&mut self, reject_share: f64) {
        let args = Args {
            reject_share,
            record_file: Some(self.record_file.clone()),
            ..Args::new(&self.nats.url(), PLATFORM)
        };
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

    /// Publishes `payload` as the e-license service would, returning its stream sequence.
    async fn publish_issued(&self, payload: Vec<u8>, event_id: &str) -> Result<u64> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", event_id);
        headers.insert("ce-id", event_id);
        headers.insert("ce-type", elicense::LICENSE_ISSUED);
        headers.insert("ce-source", "/residence/elicense");
        headers.insert("ce-subject", CASE_NUMBER);
        headers.insert("traceparent", TRACEPARENT);
        let ack = self
            .jetstream
            .publish_with_headers(elicense::LICENSE_ISSUED, headers, payload.into())
            .await?
            .await?;
        Ok(ack.sequence)
    }

    /// Waits until the simulator's consumer has acknowledged everything up to `sequence`.
    async fn wait_acked(&self, sequence: u64) -> Result<()> {
        let until = Instant::now() + DEADLINE;
        let name = durable_name(PLATFORM);
        loop {
            let consumer = self.stream.get_consumer::<pull::Config>(&name);
            if let Ok(mut consumer) = consumer.await
                && consumer.info().await?.ack_floor.stream_sequence >= sequence
            {
                return Ok(());
            }
            if Instant::now() >= until {
                bail!("license {sequence} was not acknowledged within {DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Reads the first acknowledgement stored on the stream, with its headers.
    async fn first_acknowledgement(&self) -> Result<(LicenseAcknowledged, HeaderMap)> {
        let config = pull::Config {
            filter_subject: elicense::LICENSE_ACKNOWLEDGED.to_owned(),
            ack_policy: AckPolicy::None,
            ..Default::default()
        };
        let mut messages = self
            .stream
            .create_consumer(config)
            .await?
            .messages()
            .await?;
        let message = timeout(DEADLINE, messages.next())
            .await
            .context("no acknowledgement arrived")?
            .context("acknowledgement stream ended")??;
        let acknowledgement = serde_json::from_slice(&message.payload)?;
        Ok((acknowledgement, message.headers.clone().unwrap_or_default()))
    }

    /// How many acknowledgements the stream holds.
    async fn acknowledgement_count(&self) -> Result<usize> {
        let subjects = self
            .stream
            .info_with_subjects(elicense::LICENSE_ACKNOWLEDGED)
            .await?;
        let counts: Vec<(String, usize)> = subjects.try_collect().await?;
        Ok(counts.into_iter().map(|(_, count)| count).sum())
    }
}

fn issued_license() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schema": LICENSE_ISSUED_SCHEMA,
        "identifier": IDENTIFIER,
        "version": 1,
        "license_name": "居住证",
        "license_type_code": "11100000000000000",
        "license_number": "411721202600001",
        "issuing_authority": "西平县公安局",
        "issuing_authority_code": "411721000000",
        "issued_on": "2026-12-01",
        "valid_until": "2027-12-01",
        "holder": {"name": "张三", "id_number": "411721199001011237"},
        "residence_address": "西平县柏城街道西平大道1号",
        "case_number": CASE_NUMBER,
    }))
    .expect("license encodes")
}

fn records(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path)?;
    let lines = text.lines().map(serde_json::from_str);
    Ok(lines.collect::<Result<_, _>>()?)
}

#[tokio::test]
async fn acknowledges_a_license_once_even_when_it_comes_twice() -> Result<()> {
    let mut harness = Harness::start().await?;
    harness.publish_issued(b"[1, 2".to_vec(), "event-0").await?;
    harness.publish_issued(issued_license(), "event-1").await?;
    harness.run_simulator(0.0);

    let (acknowledgement, headers) = harness.first_acknowledgement().await?;
    assert_eq!(acknowledgement.schema, "elicense.v1.license_acknowledged");
    assert_eq!(acknowledgement.identifier, IDENTIFIER);
    assert_eq!(acknowledgement.platform, PLATFORM);
    assert!(acknowledgement.accepted);
    assert_eq!(acknowledgement.reason, None);
    let message_id = headers
        .get("Nats-Msg-Id")
        .map(|value| value.as_str().to_owned());
    assert_eq!(message_id, Some(format!("ack:{PLATFORM}:{IDENTIFIER}")));
    let traceparent = headers.get("traceparent").map(|value| value.as_str());
    assert_eq!(traceparent, Some(TRACEPARENT));

    // The same license again, as a re-published outbox row would arrive.
    let again = harness.publish_issued(issued_license(), "event-2").await?;
    harness.wait_acked(again).await?;
    assert_eq!(harness.acknowledgement_count().await?, 1);

    let records = records(&harness.record_file)?;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["identifier"], IDENTIFIER);
    assert_eq!(records[0]["case_number"], CASE_NUMBER);
    assert_eq!(records[0]["version"], 1);
    assert!(records[1]["received_at"].is_string());
    harness.stop_simulator().await
}

#[tokio::test]
async fn rejects_licenses_with_a_reason_when_asked_to() -> Result<()> {
    let mut harness = Harness::start().await?;
    let sequence = harness.publish_issued(issued_license(), "event-1").await?;
    harness.run_simulator(1.0);
    harness.wait_acked(sequence).await?;

    let (acknowledgement, _) = harness.first_acknowledgement().await?;
    assert!(!acknowledgement.accepted);
    assert!(!acknowledgement.reason.unwrap_or_default().is_empty());
    harness.stop_simulator().await
}

#[tokio::test]
async fn a_license_redelivered_after_a_crash_adds_no_second_acknowledgement() -> Result<()> {
    let mut harness = Harness::start().await?;
    let sequence = harness.publish_issued(issued_license(), "event-1").await?;

    // An earlier run took the license, acknowledged it, and died before settling the message.
    let consumer = harness
        .stream
        .get_or_create_consumer(&durable_name(PLATFORM), consumer_config(PLATFORM))
        .await?;
    let mut batch = consumer.fetch().max_messages(1).messages().await?;
    let taken = batch.next().await.context("license was not delivered")?;
    let taken = taken.map_err(anyhow::Error::from_boxed)?;
    let earlier = serde_json::json!({
        "schema": "elicense.v1.license_acknowledged",
        "identifier": IDENTIFIER,
        "platform": PLATFORM,
        "accepted": true,
        "at": "2026-12-01T08:00:01Z",
    });
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("ack:{PLATFORM}:{IDENTIFIER}"));
    let payload = serde_json::to_vec(&earlier)?;
    let subject = elicense::LICENSE_ACKNOWLEDGED;
    harness
        .jetstream
        .publish_with_headers(subject, headers, payload.into())
        .await?
        .await?;
    taken
        .ack_with(AckKind::Nak(None))
        .await
        .map_err(anyhow::Error::from_boxed)?;

    harness.run_simulator(0.0);
    harness.wait_acked(sequence).await?;
    assert_eq!(harness.acknowledgement_count().await?, 1);
    assert_eq!(records(&harness.record_file)?.len(), 1);
    harness.stop_simulator().await
}
