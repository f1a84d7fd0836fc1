//! The simulator against a real `nats-server`, seen from the courier service's side: waybill
//! requests go in on the `LOGISTICS` stream through the consumer the courier service creates,
//! parcel statuses come back on it.

use anyhow::Result;
use async_nats::HeaderMap;
use residence_events::logistics;
use residence_events::partner::ParcelStatus;
use residence_logistics_partner_simulator::{Args, feed, run};
use residence_simulator_kit::testing::{Harness, TRACEPARENT, event_headers};

const STREAM: &str = "LOGISTICS";
const PARTNER: &str = "ems";
/// The parcel reference of the fixture.
const REFERENCE: &str = "XP-20261201-0001";

fn waybill_request() -> Vec<u8> {
    include_bytes!("fixtures/waybill_request.json").to_vec()
}

async fn start() -> Result<Harness> {
    Harness::start("logistics-simulator-test").await
}

/// Creates the stream and the partner's consumer, as the courier service does.
async fn create_feed(harness: &Harness) -> Result<()> {
    harness.create_stream(STREAM, "logistics.v1.>").await?;
    harness.create_consumer(&feed(PARTNER)).await
}

/// Flags for the simulator against `harness`, with a fixed seed and a record file.
fn args(harness: &Harness, failure_share: f64) -> Args {
    Args {
        failure_share,
        seed: Some(11),
        record_file: Some(harness.record_file().to_owned()),
        ..Args::new(&harness.nats_url(), PARTNER)
    }
}

/// Publishes `payload` as the courier service would, returning its stream sequence.
async fn publish_request(harness: &Harness, payload: Vec<u8>, event_id: &str) -> Result<u64> {
    let event_type = "logistics.v1.waybill.requested";
    let headers = event_headers(event_id, event_type, "/residence/courier");
    let subject = logistics::waybill_requested(PARTNER);
    harness.publish(&subject, headers, payload).await
}

/// Reads the first `count` statuses stored for the partner, with their headers.
async fn read_statuses(harness: &Harness, count: usize) -> Result<Vec<(ParcelStatus, HeaderMap)>> {
    let messages = harness
        .read(STREAM, &logistics::status(PARTNER, "*"), count)
        .await?;
    let mut statuses = Vec::with_capacity(count);
    for message in messages {
        let status: ParcelStatus = serde_json::from_slice(&message.payload)?;
        let subject = logistics::status(PARTNER, &status.status);
        assert_eq!(message.subject.as_str(), subject);
        statuses.push((status, message.headers.clone().unwrap_or_default()));
    }
    Ok(statuses)
}

/// Checks that the stream holds exactly four statuses, one per status subject.
async fn assert_each_status_stored_once(harness: &Harness) -> Result<()> {
    let filter = logistics::status(PARTNER, ">");
    let counts = harness.stored_per_subject(STREAM, &filter).await?;
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(counts.values().all(|&count| count == 1), "{counts:?}");
    Ok(())
}

#[tokio::test]
async fn delivers_a_parcel_and_reports_each_status_once_when_asked_twice() -> Result<()> {
    let mut harness = start().await?;
    create_feed(&harness).await?;
    publish_request(&harness, b"{not json".to_vec(), "event-0").await?;
    publish_request(&harness, waybill_request(), "event-1").await?;
    let args = args(&harness, 0.0);
    harness.spawn_simulator(|shutdown| run(args, shutdown));

    let statuses = read_statuses(&harness, 4).await?;
    let names: Vec<&str> = statuses
        .iter()
        .map(|(status, _)| status.status.as_str())
        .collect();
    assert_eq!(names, ["accepted", "picked_up", "in_transit", "delivered"]);
    let (delivered, headers) = &statuses[3];
    assert_eq!(delivered.schema, "logistics.v1.parcel_status");
    assert_eq!(delivered.parcel_reference, REFERENCE);
    assert_eq!(delivered.signed_by.as_deref(), Some("张三"));
    let header = |name: &str| headers.get(name).map(|value| value.as_str());
    assert_eq!(header("Nats-Msg-Id"), Some("XP-20261201-0001:delivered"));
    assert_eq!(header("traceparent"), Some(TRACEPARENT));

    // The same request again, as a re-published outbox row would arrive.
    let again = publish_request(&harness, waybill_request(), "event-2").await?;
    harness.wait_acked(&feed(PARTNER), again).await?;
    assert_each_status_stored_once(&harness).await?;

    // One parcel on the partner's books, however often it was requested.
    let records = harness.records()?;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["parcel_reference"], REFERENCE);
    assert_eq!(records[0]["redelivered"], false);
    assert!(records[0]["received_at"].is_string());
    harness.stop_simulator().await
}

#[tokio::test]
async fn a_request_redelivered_after_a_crash_adds_no_second_status() -> Result<()> {
    let mut harness = start().await?;
    create_feed(&harness).await?;
    let sequence = publish_request(&harness, waybill_request(), "event-1").await?;

    let accepted = serde_json::json!({
        "schema": "logistics.v1.parcel_status",
        "parcel_reference": REFERENCE,
        "status": "accepted",
        "at": "2026-12-01T08:00:01Z",
    });
    let subject = logistics::status(PARTNER, "accepted");
    let message_id = "XP-20261201-0001:accepted";
    harness
        .crash_after_answering(&feed(PARTNER), &subject, message_id, &accepted)
        .await?;

    let args = args(&harness, 1.0);
    harness.spawn_simulator(|shutdown| run(args, shutdown));
    harness.wait_acked(&feed(PARTNER), sequence).await?;

    let statuses = read_statuses(&harness, 4).await?;
    let failed = &statuses[3].0;
    assert_eq!(failed.status, "failed");
    assert!(!failed.reason.as_deref().unwrap_or_default().is_empty());
    assert_each_status_stored_once(&harness).await?;

    let records = harness.records()?;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["redelivered"], true);
    harness.stop_simulator().await
}

#[tokio::test]
async fn waits_for_the_consumer_the_services_create_and_paces_statuses() -> Result<()> {
    let mut harness = start().await?;
    let args = Args {
        latency_ms: 50,
        ..args(&harness, 0.0)
    };
    harness.spawn_simulator(|shutdown| run(args, shutdown));

    harness.create_stream(STREAM, "logistics.v1.>").await?;
    publish_request(&harness, waybill_request(), "event-1").await?;
    create_feed(&harness).await?;
    let statuses = read_statuses(&harness, 4).await?;
    let gap = statuses[3].0.at - statuses[0].0.at;
    assert!(
        gap >= chrono::TimeDelta::milliseconds(150),
        "statuses {gap} apart"
    );
    harness.stop_simulator().await
}

#[tokio::test]
async fn stops_promptly_while_waiting_for_its_consumer() -> Result<()> {
    let mut harness = start().await?;
    let args = args(&harness, 0.1);
    harness.spawn_simulator(|shutdown| run(args, shutdown));
    harness.stop_simulator().await?;
    assert!(
        harness.record_file().exists(),
        "record file is created at start-up"
    );
    Ok(())
}
