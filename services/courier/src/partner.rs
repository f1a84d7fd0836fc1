//! The partner contract: what a logistics partner is sent and what it may report, checked
//! before anything is stored.
//!
//! A partner receives a parcel reference and the name, phone and address of the recipient and
//! the sender, nothing more: never an ID number, birth date or permit data.

use chrono::{DateTime, Utc};
use residence_events::partner::{
    PARCEL_STATUS_SCHEMA, ParcelStatus, Party, WAYBILL_REQUEST_SCHEMA, WaybillRequest,
};
use residence_events::{Recipient, logistics};
use residence_runtime::validate;

use crate::parcel;

/// The waybill request a partner receives for one parcel.
pub fn waybill_request(
    parcel_reference: &str,
    recipient: Party,
    sender: &Party,
    requested_at: DateTime<Utc>,
) -> WaybillRequest {
    WaybillRequest {
        schema: WAYBILL_REQUEST_SCHEMA.to_owned(),
        parcel_reference: parcel_reference.to_owned(),
        recipient,
        sender: sender.clone(),
        requested_at,
    }
}

/// The recipient as a partner sees it; an incomplete recipient cannot be shipped to.
pub fn recipient(recipient: &Recipient) -> Result<Party, String> {
    let fields = [
        ("name", &recipient.name),
        ("phone", &recipient.phone),
        ("address", &recipient.address),
    ];
    if let Some((field, _)) = fields.iter().find(|(_, value)| value.trim().is_empty()) {
        return Err(format!("courier delivery has no recipient {field}"));
    }
    Ok(Party {
        name: recipient.name.trim().to_owned(),
        phone: recipient.phone.trim().to_owned(),
        address: recipient.address.trim().to_owned(),
    })
}

/// A partner's report on a parcel, checked against the subject it arrived on.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusReport {
    /// The partner token of the subject: who sent it.
    pub partner: String,
    pub parcel_reference: String,
    /// One of [`logistics::STATUSES`].
    pub status: &'static str,
    pub at: DateTime<Utc>,
    /// Who signed; set for `delivered`.
    pub signed_by: Option<String>,
    /// Why; set for `failed` and `returned`.
    pub reason: Option<String>,
}

/// Reads a status report from `subject` (`logistics.v1.{partner}.status.{status}`) and its
/// JSON payload. The error says what is wrong without repeating the payload's values, which
/// may be personal data.
pub fn read_status(subject: &str, payload: &[u8]) -> Result<StatusReport, String> {
    let (partner, subject_status) = subject_tokens(subject)?;
    let report: ParcelStatus = serde_json::from_slice(payload).map_err(|error| {
        format!(
            "payload is not a valid parcel status ({:?} error at line {} column {})",
            error.classify(),
            error.line(),
            error.column()
        )
    })?;
    if report.schema != PARCEL_STATUS_SCHEMA {
        return Err(format!("payload schema must be {PARCEL_STATUS_SCHEMA}"));
    }
    let Some(status) = logistics::STATUSES
        .iter()
        .copied()
        .find(|known| *known == report.status)
    else {
        return Err(format!(
            "unknown status; expected one of {}",
            logistics::STATUSES.join(", ")
        ));
    };
    if status != subject_status {
        return Err(format!(
            "payload status {status} does not match the subject's status {subject_status}"
        ));
    }
    let parcel_reference = validate::line(&report.parcel_reference, 1, 64)
        .map_err(|problem| format!("parcel_reference {problem}"))?;
    let signed_by = required_for(status == parcel::DELIVERED, "signed_by", &report.signed_by)?;
    let failed = matches!(status, parcel::FAILED | parcel::RETURNED);
    let reason = required_for(failed, "reason", &report.reason)?;
    Ok(StatusReport {
        partner: partner.to_owned(),
        parcel_reference,
        status,
        at: report.at,
        signed_by,
        reason,
    })
}

/// The partner and status tokens of a status subject.
fn subject_tokens(subject: &str) -> Result<(&str, &str), String> {
    match subject.split('.').collect::<Vec<_>>().as_slice() {
        ["logistics", "v1", partner, "status", status] if !partner.is_empty() => {
            Ok((partner, status))
        }
        _ => Err(format!(
            "subject {subject} is not logistics.v1.{{partner}}.status.{{status}}"
        )),
    }
}

/// A text field that `required` makes mandatory; checked as plain text when present.
fn required_for(
    required: bool,
    field: &str,
    value: &Option<String>,
) -> Result<Option<String>, String> {
    match value.as_deref() {
        Some(text) => validate::line(text, 1, 200)
            .map(Some)
            .map_err(|problem| format!("{field} {problem}")),
        None if required => Err(format!("{field} is required for this status")),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn party(name: &str) -> Party {
        Party {
            name: name.into(),
            phone: "13800000000".into(),
            address: "驻马店市西平县五沟营镇某村1号".into(),
        }
    }

    fn keys(value: &serde_json::Value) -> BTreeSet<&str> {
        value
            .as_object()
            .expect("a JSON object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn waybill_requests_carry_only_the_allowed_fields() {
        let sender = party("西平县五沟营镇人民政府");
        let request = waybill_request("XP0123456789AB", party("王小明"), &sender, Utc::now());
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(
            keys(&json),
            BTreeSet::from([
                "schema",
                "parcel_reference",
                "recipient",
                "sender",
                "requested_at"
            ])
        );
        for side in ["recipient", "sender"] {
            assert_eq!(
                keys(&json[side]),
                BTreeSet::from(["name", "phone", "address"])
            );
        }
        assert_eq!(json["schema"], WAYBILL_REQUEST_SCHEMA);
    }

    #[test]
    fn incomplete_recipients_are_refused() {
        let mut recipient = Recipient {
            name: " 王小明 ".into(),
            phone: "13800000000".into(),
            address: "西平县".into(),
        };
        assert_eq!(super::recipient(&recipient).unwrap().name, "王小明");
        recipient.address = "  ".into();
        assert!(
            super::recipient(&recipient)
                .unwrap_err()
                .contains("address")
        );
    }

    fn status_json(status: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"schema":"{PARCEL_STATUS_SCHEMA}","parcel_reference":"XP0123456789AB",
            "status":"{status}","at":"2026-12-04T08:00:00Z"{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn status_reports_are_read_from_subject_and_payload() {
        let report = read_status(
            "logistics.v1.ems.status.delivered",
            &status_json("delivered", r#","signed_by":"王小明""#),
        )
        .unwrap();
        assert_eq!(report.partner, "ems");
        assert_eq!(report.status, "delivered");
        assert_eq!(report.signed_by.as_deref(), Some("王小明"));

        let moving = read_status(
            "logistics.v1.ems.status.in_transit",
            &status_json("in_transit", ""),
        );
        assert!(moving.is_ok());
    }

    #[test]
    fn bad_status_reports_say_why() {
        let cases = [
            ("logistics.v1.ems.status.delivered", b"{".to_vec(), "valid"),
            (
                "logistics.v1.ems.status.lost",
                status_json("lost", ""),
                "unknown status",
            ),
            (
                "logistics.v1.ems.status.delivered",
                status_json("failed", r#","reason":"无人签收""#),
                "does not match",
            ),
            (
                "logistics.v1.ems.status.delivered",
                status_json("delivered", ""),
                "signed_by",
            ),
            (
                "logistics.v1.ems.status.failed",
                status_json("failed", ""),
                "reason",
            ),
            (
                "logistics.v1.ems.status",
                status_json("failed", ""),
                "subject",
            ),
        ];
        for (subject, payload, expected) in cases {
            let error = read_status(subject, &payload).unwrap_err();
            assert!(error.contains(expected), "{subject}: {error}");
        }
    }

    #[test]
    fn decoding_errors_do_not_echo_values() {
        let payload = status_json("delivered", r#","signed_by":13800000000"#);
        let error = read_status("logistics.v1.ems.status.delivered", &payload).unwrap_err();
        assert!(!error.contains("13800000000"), "{error}");
    }
}
