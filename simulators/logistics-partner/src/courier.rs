//! Handling one waybill request: decode, record, then publish the parcel's statuses.
//!
//! Idempotent: every status is published with `Nats-Msg-Id` = `<parcel_reference>:<status>`
//! and whether the parcel fails depends only on the seed and the parcel reference, so
//! handling a request again publishes the same statuses, which the stream drops as duplicates.

use std::time::Duration;

use async_nats::jetstream::{self, Message};
use chrono::{DateTime, Utc};
use residence_events::logistics;
use residence_events::partner::{
    PARCEL_STATUS_SCHEMA, ParcelStatus, WAYBILL_REQUEST_SCHEMA, WaybillRequest,
};
use residence_simulator_kit::{
    Delivery, Handler, Outcome, Recorder, StableShare, check_key, check_schema, decode,
    publish_answer, report_progress,
};
use serde::Serialize;

/// Reasons a courier gives when it cannot deliver (投递失败原因).
const FAILURE_REASONS: &[&str] = &[
    "收件人电话无法接通，三次投递失败",
    "收件地址不详，无法投递",
    "收件人拒收",
    "收件人长期不在，超过保管期限",
];

/// The parcels that fail: about `share` (0.0 to 1.0) of them, picked by `seed`.
pub(crate) fn failures(share: f64, seed: u64) -> StableShare {
    StableShare::new(share, seed, FAILURE_REASONS)
}

/// One line of the record file.
#[derive(Debug, Serialize)]
struct Received<'a> {
    parcel_reference: &'a str,
    received_at: DateTime<Utc>,
    /// The broker had delivered this request before (its delivery count is above one).
    redelivered: bool,
}

/// Publishes the statuses of the parcels one partner is asked to carry.
#[derive(Debug)]
pub(crate) struct Courier {
    pub(crate) jetstream: jetstream::Context,
    pub(crate) partner: String,
    pub(crate) failures: StableShare,
    /// Pause before each status after the first.
    pub(crate) latency: Duration,
    pub(crate) recorder: Recorder,
}

impl Handler for Courier {
    fn span(&self, delivery: Delivery) -> tracing::Span {
        tracing::info_span!(
            "waybill_request",
            stream.sequence = delivery.stream_sequence,
            delivered = delivery.count,
            parcel.reference = tracing::field::Empty,
        )
    }

    async fn handle(&self, message: &Message, delivery: Delivery) -> Outcome {
        let request = match decode_request(&message.payload) {
            Ok(request) => request,
            Err(reason) => return Outcome::Invalid(reason),
        };
        let reference = request.parcel_reference.as_str();
        tracing::Span::current().record("parcel.reference", reference);

        let redelivered = delivery.is_redelivery();
        let received = Received {
            parcel_reference: reference,
            received_at: Utc::now(),
            redelivered,
        };
        // A parcel already on file was requested again: report its statuses again, but it
        // stays one parcel.
        if let Err(error) = self.recorder.append_new(reference, &received).await {
            return Outcome::Retry(format!("{error:#}"));
        }
        tracing::info!(redelivered, "waybill request received");

        let failure = self.failures.reason_for(reference);
        for (step, status) in statuses(&request, failure).into_iter().enumerate() {
            if step > 0 {
                self.pause(message).await;
            }
            if let Err(error) = self.publish(message, status).await {
                return Outcome::Retry(error);
            }
        }

        match failure {
            None => tracing::info!("parcel delivered"),
            Some(_) => tracing::info!("parcel could not be delivered"),
        }
        Outcome::Done
    }
}

impl Courier {
    /// Waits the configured latency, first restarting the request's ack wait.
    async fn pause(&self, request: &Message) {
        if self.latency.is_zero() {
            return;
        }
        report_progress(request).await;
        tokio::time::sleep(self.latency).await;
    }

    /// Publishes one status of `request`, stamped now, and waits for the stream to store it.
    async fn publish(&self, request: &Message, mut status: ParcelStatus) -> Result<(), String> {
        status.at = Utc::now();
        let subject = logistics::status(&self.partner, &status.status);
        let stored = publish_answer(
            &self.jetstream,
            request,
            subject,
            &message_id(&status),
            &status,
        )
        .await
        .map_err(|error| format!("status {}: {error:#}", status.status))?;
        tracing::debug!(status = %status.status, duplicate = stored.duplicate, "status published");
        Ok(())
    }
}

/// The deduplication id of a status: `<parcel_reference>:<status>`.
fn message_id(status: &ParcelStatus) -> String {
    format!("{}:{}", status.parcel_reference, status.status)
}

/// The statuses to report in order: accepted, picked up, in transit, then delivered or, with
/// a `failure` reason, failed.
fn statuses(request: &WaybillRequest, failure: Option<&str>) -> Vec<ParcelStatus> {
    let status = |name: &str| ParcelStatus {
        schema: PARCEL_STATUS_SCHEMA.to_owned(),
        parcel_reference: request.parcel_reference.clone(),
        status: name.to_owned(),
        at: Utc::now(),
        signed_by: None,
        reason: None,
    };
    let last = match failure {
        None => ParcelStatus {
            signed_by: Some(request.recipient.name.clone()),
            ..status("delivered")
        },
        Some(reason) => ParcelStatus {
            reason: Some(reason.to_owned()),
            ..status("failed")
        },
    };
    vec![
        status("accepted"),
        status("picked_up"),
        status("in_transit"),
        last,
    ]
}

/// Decodes and checks a request. Errors never quote the payload, which holds personal data.
fn decode_request(payload: &[u8]) -> Result<WaybillRequest, String> {
    let request: WaybillRequest = decode(payload, "a waybill request")?;
    check_schema(&request.schema, WAYBILL_REQUEST_SCHEMA)?;
    check_key("parcel_reference", &request.parcel_reference)?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use residence_simulator_kit::testing::json_with;

    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/waybill_request.json");

    fn request(reference: &str) -> WaybillRequest {
        decode_request(&json_with(FIXTURE, &[("parcel_reference", reference)])).unwrap()
    }

    #[test]
    fn decodes_a_valid_request() {
        assert_eq!(request("XP-1").parcel_reference, "XP-1");
    }

    #[test]
    fn refuses_other_schemas_and_bad_references() {
        let other_schema = json_with(FIXTURE, &[("schema", "logistics.v2.waybill_request")]);
        assert!(decode_request(&other_schema).is_err());
        let bad_reference = json_with(FIXTURE, &[("parcel_reference", "XP 1\n")]);
        assert!(decode_request(&bad_reference).is_err());
    }

    #[test]
    fn a_delivered_parcel_is_signed_by_the_recipient() {
        let names: Vec<_> = statuses(&request("XP-1"), None)
            .into_iter()
            .map(|status| (status.status, status.signed_by, status.reason))
            .collect();
        assert_eq!(
            names,
            [
                ("accepted".to_owned(), None, None),
                ("picked_up".to_owned(), None, None),
                ("in_transit".to_owned(), None, None),
                ("delivered".to_owned(), Some("张三".to_owned()), None),
            ]
        );
    }

    #[test]
    fn a_failed_parcel_carries_the_reason_and_its_message_id() {
        let last = statuses(&request("XP-1"), Some("收件人拒收"))
            .pop()
            .unwrap();
        assert_eq!(last.reason.as_deref(), Some("收件人拒收"));
        assert_eq!(message_id(&last), "XP-1:failed");
    }

    #[test]
    fn a_seed_fails_the_same_parcels_in_every_release() {
        let failures = failures(0.5, 11);
        let endings: Vec<_> = ["XP-1", "XP-3", "XP-4", "XP-6"]
            .into_iter()
            .map(|reference| failures.reason_for(reference))
            .collect();
        let expected = [
            Some("收件地址不详，无法投递"),
            Some("收件人拒收"),
            None,
            Some("收件人电话无法接通，三次投递失败"),
        ];
        assert_eq!(endings, expected);
    }
}
