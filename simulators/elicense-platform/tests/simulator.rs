//! The simulator against a real `nats-server`, seen from the e-license service's side: issued
//! licenses and revocations go in on the `ELICENSE` stream, acknowledgements come back on it.
//! The messages are the published examples, signed with the example key the simulator is
//! told to trust.

use std::path::PathBuf;

use anyhow::Result;
use async_nats::HeaderMap;
use residence_elicense_platform_simulator::{Args, feed, revocation_feed, run};
use residence_events::elicense;
use residence_events::partner::{LicenseAcknowledged, LicenseAction};
use residence_simulator_kit::testing::{Harness, TRACEPARENT, event_headers, json_with};

const STREAM: &str = "ELICENSE";
const PLATFORM: &str = "henan-elicense";
/// The identifier and case number of the example license.
const IDENTIFIER: &str = "1.2.156.3005.2.340101.114128240059672296.3F9A0C71B2E4.002.F";
const CASE_NUMBER: &str = "1141282400596722961000709005000-20261204-000123-E";
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/license/tests/fixtures"
);

fn issued_license() -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/signed-license.json")).unwrap()
}

fn revoked_license() -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/revoked-license.json")).unwrap()
}

fn trusted_keys() -> PathBuf {
    PathBuf::from(format!("{FIXTURES}/public-keys.json"))
}

/// Starts nats-server and creates the stream the way the services do.
async fn start() -> Result<Harness> {
    let harness = Harness::start("elicense-simulator-test").await?;
    harness.create_stream(STREAM, "elicense.v1.>").await?;
    Ok(harness)
}

fn run_simulator(harness: &mut Harness, reject_share: f64) {
    run_simulator_with(harness, reject_share, 0.0);
}

fn run_simulator_with(harness: &mut Harness, reject_share: f64, unanswered_share: f64) {
    let args = Args {
        reject_share,
        unanswered_share,
        record_file: Some(harness.record_file().to_owned()),
        ..Args::new(&harness.nats_url(), PLATFORM, trusted_keys())
    };
    harness.spawn_simulator(|shutdown| run(args, shutdown));
}

/// Publishes `payload` as the e-license service would, returning its stream sequence.
async fn publish_issued(harness: &Harness, payload: Vec<u8>, event_id: &str) -> Result<u64> {
    publish_on(harness, elicense::LICENSE_ISSUED, payload, event_id).await
}

async fn publish_on(
    harness: &Harness,
    subject: &str,
    payload: Vec<u8>,
    event_id: &str,
) -> Result<u64> {
    let mut headers = event_headers(event_id, subject, "/residence/elicense");
    headers.insert("ce-subject", CASE_NUMBER);
    harness.publish(subject, headers, payload).await
}

/// Reads the first acknowledgement stored on the stream, with its headers.
async fn first_acknowledgement(harness: &Harness) -> Result<(LicenseAcknowledged, HeaderMap)> {
    let subject = elicense::LICENSE_ACKNOWLEDGED;
    let message = harness.read(STREAM, subject, 1).await?.remove(0);
    let acknowledgement = serde_json::from_slice(&message.payload)?;
    Ok((acknowledgement, message.headers.clone().unwrap_or_default()))
}

/// How many acknowledgements the stream holds.
async fn acknowledgement_count(harness: &Harness) -> Result<usize> {
    let subject = elicense::LICENSE_ACKNOWLEDGED;
    let counts = harness.stored_per_subject(STREAM, subject).await?;
    Ok(counts.values().sum())
}

#[tokio::test]
async fn acknowledges_a_license_once_even_when_it_comes_twice() -> Result<()> {
    let mut harness = start().await?;
    publish_issued(&harness, b"[1, 2".to_vec(), "event-0").await?;
    publish_issued(&harness, issued_license(), "event-1").await?;
    run_simulator(&mut harness, 0.0);

    let (acknowledgement, headers) = first_acknowledgement(&harness).await?;
    assert_eq!(acknowledgement.schema, "elicense.v1.license_acknowledged");
    assert_eq!(acknowledgement.identifier, IDENTIFIER);
    assert_eq!(acknowledgement.platform, PLATFORM);
    assert!(acknowledgement.accepted, "{:?}", acknowledgement.reason);
    assert_eq!(acknowledgement.action, LicenseAction::Issued);
    assert_eq!(acknowledgement.reason, None);
    let header = |name: &str| headers.get(name).map(|value| value.as_str().to_owned());
    let expected_id = format!("ack:{PLATFORM}:{IDENTIFIER}");
    assert_eq!(header("Nats-Msg-Id"), Some(expected_id));
    assert_eq!(header("traceparent").as_deref(), Some(TRACEPARENT));

    // The same license again, as a re-published outbox row would arrive.
    let again = publish_issued(&harness, issued_license(), "event-2").await?;
    harness.wait_acked(&feed(PLATFORM), again).await?;
    assert_eq!(acknowledgement_count(&harness).await?, 1);

    // Recorded once, as a platform keys its register on the identifier.
    let records = harness.records()?;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["identifier"], IDENTIFIER);
    assert_eq!(records[0]["case_number"], CASE_NUMBER);
    assert_eq!(records[0]["version"], 2);
    assert_eq!(records[0]["verified"], true);
    assert!(records[0]["received_at"].is_string());
    harness.stop_simulator().await
}

#[tokio::test]
async fn rejects_licenses_with_a_reason_when_asked_to() -> Result<()> {
    let mut harness = start().await?;
    let sequence = publish_issued(&harness, issued_license(), "event-1").await?;
    run_simulator(&mut harness, 1.0);
    harness.wait_acked(&feed(PLATFORM), sequence).await?;

    let (acknowledgement, _) = first_acknowledgement(&harness).await?;
    assert!(!acknowledgement.accepted);
    assert!(!acknowledgement.reason.unwrap_or_default().is_empty());
    harness.stop_simulator().await
}

#[tokio::test]
async fn a_license_redelivered_after_a_crash_adds_no_second_acknowledgement() -> Result<()> {
    let mut harness = start().await?;
    let sequence = publish_issued(&harness, issued_license(), "event-1").await?;

    let earlier = serde_json::json!({
        "schema": "elicense.v1.license_acknowledged",
        "identifier": IDENTIFIER,
        "platform": PLATFORM,
        "accepted": true,
        "at": "2026-12-01T08:00:01Z",
    });
    let subject = elicense::LICENSE_ACKNOWLEDGED;
    let message_id = format!("ack:{PLATFORM}:{IDENTIFIER}");
    harness
        .crash_after_answering(&feed(PLATFORM), subject, &message_id, &earlier)
        .await?;

    run_simulator(&mut harness, 0.0);
    harness.wait_acked(&feed(PLATFORM), sequence).await?;
    assert_eq!(acknowledgement_count(&harness).await?, 1);
    assert_eq!(harness.records()?.len(), 1);
    harness.stop_simulator().await
}

#[tokio::test]
async fn rejects_a_license_changed_after_signing() -> Result<()> {
    let mut harness = start().await?;
    let fixture = String::from_utf8(issued_license())?;
    let changed = json_with(
        &fixture,
        &[("residence_address", "河南省驻马店市西平县某地")],
    );
    let sequence = publish_issued(&harness, changed, "event-1").await?;
    run_simulator(&mut harness, 0.0);
    harness.wait_acked(&feed(PLATFORM), sequence).await?;

    let (acknowledgement, _) = first_acknowledgement(&harness).await?;
    assert!(!acknowledgement.accepted);
    assert_eq!(
        acknowledgement.reason.as_deref(),
        Some("电子证照签名验证失败")
    );
    assert_eq!(harness.records()?[0]["verified"], false);
    harness.stop_simulator().await
}

#[tokio::test]
async fn leaves_licenses_unanswered_when_asked_to() -> Result<()> {
    let mut harness = start().await?;
    let sequence = publish_issued(&harness, issued_license(), "event-1").await?;
    run_simulator_with(&mut harness, 0.0, 1.0);
    harness.wait_acked(&feed(PLATFORM), sequence).await?;

    assert_eq!(harness.records()?.len(), 1);
    assert_eq!(acknowledgement_count(&harness).await?, 0);
    harness.stop_simulator().await
}

#[tokio::test]
async fn acknowledges_a_signed_revocation() -> Result<()> {
    let mut harness = start().await?;
    let subject = elicense::LICENSE_REVOKED;
    let sequence = publish_on(&harness, subject, revoked_license(), "event-1").await?;
    run_simulator(&mut harness, 0.0);
    harness
        .wait_acked(&revocation_feed(PLATFORM), sequence)
        .await?;

    let (acknowledgement, headers) = first_acknowledgement(&harness).await?;
    assert_eq!(acknowledgement.action, LicenseAction::Revoked);
    assert!(acknowledgement.accepted, "{:?}", acknowledgement.reason);
    let message_id = headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned());
    assert_eq!(
        message_id,
        Some(format!("ack:{PLATFORM}:revoked:{IDENTIFIER}"))
    );

    // A revocation of another identifier does not match its signature: refused.
    let fixture = String::from_utf8(revoked_license())?;
    let forged = json_with(
        &fixture,
        &[("identifier", "1.2.156.3005.2.340101.1.2.001.X")],
    );
    let sequence = publish_on(&harness, subject, forged, "event-2").await?;
    harness
        .wait_acked(&revocation_feed(PLATFORM), sequence)
        .await?;
    let answers = harness
        .read(STREAM, elicense::LICENSE_ACKNOWLEDGED, 2)
        .await?;
    let second: LicenseAcknowledged = serde_json::from_slice(&answers[1].payload)?;
    assert!(!second.accepted);
    assert_eq!(second.reason.as_deref(), Some("撤销通知签名验证失败"));
    harness.stop_simulator().await
}
