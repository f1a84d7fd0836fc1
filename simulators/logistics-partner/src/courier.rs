//! Handling one waybill request: decode, record, then publish the parcel's statuses.
//!
//! Idempotent: every status is published with `Nats-Msg-Id` = `<parcel_reference>:<status>`
//! and the ending is a pure function of the parcel reference, so handling a request again
//! publishes the same statuses, which the stream drops as duplicates.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, Message};
use chrono::Utc;
use residence_events::logistics;
use residence_events::partner::WaybillRequest;
use residence_events::partner::{PARCEL_STATUS_SCHEMA, ParcelStatus, WAYBILL_REQUEST_SCHEMA};

use crate::choice::{Ending, Plan};
use crate::consumer::{Outcome, report_progress};
use crate::record::{Received, Recorder};

/// Longest parcel reference accepted; it becomes part of a header value.
const MAX_REFERENCE_LEN: usize = 128;

/// Publishes the statuses of the parcels one partner is asked to carry.
#[derive(Debug)]
pub(crate) struct Courier {
    pub(crate) jetstream: jetstream::Context,
    pub(crate) partner: String,
    pub(crate) plan: Plan,
    /// Pause before each status after the first.
    pub(crate) latency: Duration,
    pub(crate) recorder: Recorder,
}

impl Courier {
    /// Handles one delivery of a waybill request; `redelivered` when the broker sent it before.
    pub(crate) async fn handle(&self, message: &Message, redelivered: bool) -> Outcome {
        let request = match decode(&message.payload) {
            Ok(request) => request,
            Err(reason) => return Outcome::Invalid(reason),
        };
        let reference = request.parcel_reference.as_str();
        tracing::Span::current().record("parcel.reference", reference);

        let received = Received {
            parcel_reference: reference,
            received_at: Utc::now(),
            redelivered,
        };
        if let Err(error) = self.recorder.append(&received).await {
            return Outcome::Retry(format!("{error:#}"));
        }
        tracing::info!(redelivered, "waybill request received");

        let traceparent = message
            .headers
            .as_ref()
            .and_then(|h| h.get("traceparent"))
            .cloned();
        let ending = self.plan.ending(reference);
        for (step, status) in statuses(&request, &ending).into_iter().enumerate() {
            if step > 0 {
                self.pause(message).await;
            }
            if let Err(error) = self.publish(status, traceparent.as_ref()).await {
                return Outcome::Retry(error);
            }
        }

        match ending {
            Ending::Delivered => tracing::info!("parcel delivered"),
            Ending::Failed(_) => tracing::info!("parcel could not be delivered"),
        }
        Outcome::Done
    }

    /// Waits the configured latency, first restarting the request's ack wait.
    async fn pause(&self, message: &Message) {
        if self.latency.is_zero() {
            return;
        }
        report_progress(message).await;
        tokio::time::sleep(self.latency).await;
    }

    /// Publishes one status, stamped now, and waits for the stream to store it.
    async fn publish(
        &self,
        mut status: ParcelStatus,
        traceparent: Option<&async_nats::HeaderValue>,
    ) -> Result<(), String> {
        status.at = Utc::now();
        let subject = logistics::status(&self.partner, &status.status);
        let payload = serde_json::to_vec(&status).map_err(|error| error.to_string())?;

        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", message_id(&status).as_str());
        headers.insert("content-type", "application/json");
        if let Some(traceparent) = traceparent {
            headers.insert("traceparent", traceparent.clone());
        }

        let ack = self
            .jetstream
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(|error| format!("publish status {}: {error}", status.status))?
            .await
            .map_err(|error| format!("store status {}: {error}", status.status))?;
        tracing::debug!(status = %status.status, duplicate = ack.duplicate, "status published");
        Ok(())
    }
}

/// The deduplication id of a status: `<parcel_reference>:<status>`.
fn message_id(status: &ParcelStatus) -> String {
    format!("{}:{}", status.parcel_reference, status.status)
}

/// The statuses to report in order: accepted, picked up, then the ending.
fn statuses(request: &WaybillRequest, ending: &Ending) -> Vec<ParcelStatus> {
    let status = |name: &str| ParcelStatus {
        schema: PARCEL_STATUS_SCHEMA.to_owned(),
        parcel_reference: request.parcel_reference.clone(),
        status: name.to_owned(),
        at: Utc::now(),
        signed_by: None,
        reason: None,
    };
    let last = match ending {
        Ending::Delivered => ParcelStatus {
            signed_by: Some(request.recipient.name.clone()),
            ..status("delivered")
        },
        Ending::Failed(reason) => ParcelStatus {
            reason: Some((*reason).to_owned()),
            ..status("failed")
        },
    };
    vec![status("accepted"), status("picked_up"), last]
}

/// Decodes and checks a request. Errors never quote the payload, which holds personal data.
fn decode(payload: &[u8]) -> Result<WaybillRequest, String> {
    let request: WaybillRequest = serde_json::from_slice(payload).map_err(|error| {
        format!(
            "payload is not a waybill request: {:?} error at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        )
    })?;
    if request.schema != WAYBILL_REQUEST_SCHEMA {
        let schema: String = request.schema.chars().take(64).collect();
        return Err(format!(
            "expected schema {WAYBILL_REQUEST_SCHEMA}, got {schema:?}"
        ));
    }
    check_reference(&request.parcel_reference)?;
    Ok(request)
}

/// A reference must be usable in a header value: 1 to 128 visible ASCII characters.
fn check_reference(reference: &str) -> Result<(), String> {
    let valid = !reference.is_empty()
        && reference.len() <= MAX_REFERENCE_LEN
        && reference.bytes().all(|byte| byte.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err("expected a parcel_reference of 1 to 128 visible ascii characters".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_json(schema: &str, reference: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schema": schema,
            "parcel_reference": reference,
            "recipient": {"name": "张三", "phone": "13800000000", "address": "西平县柏城街道"},
            "sender": {"name": "西平县公安局", "phone": "03960000000", "address": "西平县"},
            "requested_at": "2026-12-01T08:00:00Z",
        }))
        .unwrap()
    }

    #[test]
    fn decodes_a_valid_request() {
        let request = decode(&request_json(WAYBILL_REQUEST_SCHEMA, "XP-1")).unwrap();
        assert_eq!(request.parcel_reference, "XP-1");
    }

    #[test]
    fn refuses_other_schemas_and_bad_references() {
        assert!(decode(&request_json("logistics.v2.waybill_request", "XP-1")).is_err());
        assert!(decode(&request_json(WAYBILL_REQUEST_SCHEMA, "")).is_err());
        assert!(decode(&request_json(WAYBILL_REQUEST_SCHEMA, "XP 1\n")).is_err());
    }

    #[test]
    fn decode_errors_never_quote_the_payload() {
        let payload =
            br#"{"schema": "logistics.v1.waybill_request", "parcel_reference": 13800000000}"#;
        let error = decode(payload).unwrap_err();
        assert!(!error.contains("13800000000"), "{error}");
    }

    #[test]
    fn a_delivered_parcel_is_signed_by_the_recipient() {
        let request = decode(&request_json(WAYBILL_REQUEST_SCHEMA, "XP-1")).unwrap();
        let names: Vec<_> = statuses(&request, &Ending::Delivered)
            .into_iter()
            .map(|status| (status.status, status.signed_by, status.reason))
            .collect();
        assert_eq!(
            names,
            [
                ("accepted".to_owned(), None, None),
                ("picked_up".to_owned(), None, None),
                ("delivered".to_owned(), Some("张三".to_owned()), None),
            ]
        );
    }

    #[test]
    fn a_failed_parcel_carries_the_reason_and_its_message_id() {
        let request = decode(&request_json(WAYBILL_REQUEST_SCHEMA, "XP-1")).unwrap();
        let last = statuses(&request, &Ending::Failed("收件人拒收"))
            .pop()
            .unwrap();
        assert_eq!(last.reason.as_deref(), Some("收件人拒收"));
        assert_eq!(message_id(&last), "XP-1:failed");
    }
}
