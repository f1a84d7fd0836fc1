//! The partner contract, `deploy/asyncapi.yaml`: a consistent AsyncAPI 3.0 document whose
//! examples are valid against their schemas, and one that matches the code: the subjects the
//! services use, the messages the courier service builds for logistics partners, and the
//! status reports it accepts from them.

use anyhow::{Context, Result, ensure};
use chrono::Utc;
use residence_courier::{parcel, partner, privacy};
use residence_eventing::Envelope;
use residence_events::partner::{PARCEL_STATUS_SCHEMA, Party, WAYBILL_REQUEST_SCHEMA};
use residence_events::{Recipient, logistics};
use residence_launcher::project_root;
use residence_system_tests::asyncapi::{Contract, ensure_none, fill};
use serde_json::{Value, json};

fn contract() -> Result<Contract> {
    Contract::load(&project_root()?.join("deploy/asyncapi.yaml"))
}

fn text_at<'a>(contract: &'a Contract, pointer: &str) -> Result<&'a str> {
    contract
        .at(pointer)?
        .as_str()
        .with_context(|| format!("#{pointer} is not a string"))
}

#[test]
fn the_document_is_a_consistent_asyncapi_3_document() -> Result<()> {
    ensure_none("deploy/asyncapi.yaml", &contract()?.problems())
}

#[test]
fn logistics_channels_are_the_subjects_the_services_use() -> Result<()> {
    let contract = contract()?;
    let requests = text_at(&contract, "/channels/waybillRequested/address")?;
    let filled = fill(requests, &[("partner", "ems")])?;
    assert_eq!(filled, logistics::waybill_requested("ems"));

    let statuses = text_at(&contract, "/channels/parcelStatus/address")?;
    for status in logistics::STATUSES {
        let filled = fill(statuses, &[("partner", "zto"), ("status", status)])?;
        assert_eq!(filled, logistics::status("zto", status));
    }
    let documented = contract.at("/channels/parcelStatus/parameters/status/enum")?;
    assert_eq!(documented, &json!(logistics::STATUSES));
    let in_payload = contract.at("/components/schemas/ParcelStatus/properties/status/enum")?;
    assert_eq!(in_payload, &json!(logistics::STATUSES));

    let request_schema = "/components/schemas/WaybillRequest/properties/schema/const";
    assert_eq!(text_at(&contract, request_schema)?, WAYBILL_REQUEST_SCHEMA);
    let status_schema = "/components/schemas/ParcelStatus/properties/schema/const";
    assert_eq!(text_at(&contract, status_schema)?, PARCEL_STATUS_SCHEMA);
    Ok(())
}

#[test]
fn a_waybill_request_as_the_courier_builds_it_matches_the_contract() -> Result<()> {
    let contract = contract()?;
    let recipient = partner::recipient(&Recipient {
        name: " 王小明 ".to_owned(),
        phone: "13800000000".to_owned(),
        address: "河南省驻马店市西平县五沟营镇人民路18号".to_owned(),
    })
    .map_err(anyhow::Error::msg)?;
    let sender = Party {
        name: "西平县五沟营镇人民政府".to_owned(),
        phone: "0396-6000000".to_owned(),
        address: "驻马店市西平县五沟营镇".to_owned(),
    };
    let reference = parcel::new_reference();
    let request = partner::waybill_request(&reference, recipient, &sender, Utc::now());
    let payload = serde_json::to_value(&request)?;
    ensure_none(
        "waybill request payload",
        &contract.payload_problems("waybillRequest", &payload)?,
    )?;
    ensure_none("waybill request fields", &privacy::problems(&payload))?;

    // The envelope the outbox publishes it with.
    let subject = logistics::waybill_requested("ems");
    let envelope = Envelope::new(&subject, "/residence/courier", &reference);
    let headers = serde_json::to_value(envelope.headers())?;
    ensure_none(
        "waybill request headers",
        &contract.header_problems("waybillRequest", &headers)?,
    )?;
    assert_eq!(headers["ce-subject"], reference.as_str(), "no case number");
    Ok(())
}

/// A status report as the guide tells partners to write it.
fn status_report(status: &str) -> Value {
    let mut report = json!({
        "schema": PARCEL_STATUS_SCHEMA,
        "parcel_reference": "XP3F9A0C71B2E4",
        "status": status,
        "at": "2026-12-05T10:42:17+08:00",
    });
    if status == "delivered" {
        report["signed_by"] = json!("王小明");
    }
    if matches!(status, "failed" | "returned") {
        report["reason"] = json!("收件人拒收");
    }
    report
}

#[test]
fn the_courier_accepts_exactly_the_status_reports_the_contract_allows() -> Result<()> {
    let contract = contract()?;
    let mut reports: Vec<(String, Value)> = logistics::STATUSES
        .iter()
        .map(|status| ((*status).to_owned(), status_report(status)))
        .collect();
    let mut unsigned = status_report("delivered");
    unsigned
        .as_object_mut()
        .context("an object")?
        .remove("signed_by");
    reports.push(("delivered".to_owned(), unsigned));
    let mut unexplained = status_report("returned");
    unexplained
        .as_object_mut()
        .context("an object")?
        .remove("reason");
    reports.push(("returned".to_owned(), unexplained));
    let mut other_schema = status_report("accepted");
    other_schema["schema"] = json!("logistics.v2.parcel_status");
    reports.push(("accepted".to_owned(), other_schema));

    for (status, report) in reports {
        let documented = contract
            .payload_problems("parcelStatus", &report)?
            .is_empty();
        let subject = logistics::status("ems", &status);
        let accepted = partner::read_status(&subject, &serde_json::to_vec(&report)?).is_ok();
        ensure!(
            documented == accepted,
            "{report}: the contract says valid={documented}, the courier accepts={accepted}"
        );
    }
    let headers = json!({"Nats-Msg-Id": "XP3F9A0C71B2E4:delivered"});
    ensure_none(
        "status headers",
        &contract.header_problems("parcelStatus", &headers)?,
    )
}

#[test]
fn applicant_notifications_as_intake_builds_them_match_the_contract() -> Result<()> {
    use residence_events::{
        Channel, NOTIFICATION_REQUESTED, NOTIFICATION_SCHEMA, NotificationKind,
        NotificationRequested,
    };
    let contract = contract()?;
    let address = text_at(&contract, "/channels/applicantNotification/address")?;
    assert_eq!(address, NOTIFICATION_REQUESTED.subject);
    let kinds: Vec<&str> = NotificationKind::ALL.iter().map(|k| k.code()).collect();
    let documented = "/components/schemas/ApplicantNotification/properties/kind/enum";
    assert_eq!(contract.at(documented)?, &json!(kinds));

    for kind in NotificationKind::ALL {
        let message = NotificationRequested {
            schema: NOTIFICATION_SCHEMA.to_owned(),
            notification_id: format!("C-20261204-000001-{}-1", kind.code()),
            case_number: "C-20261204-000001".to_owned(),
            kind,
            channel: Channel::Online,
            phone: "13800000000".to_owned(),
            text: "【西平县居住证签注】您的居住证签注申请已收件。".to_owned(),
            requested_at: Utc::now(),
        };
        let payload = serde_json::to_value(&message)?;
        ensure_none(
            kind.code(),
            &contract.payload_problems("applicantNotification", &payload)?,
        )?;
    }
    // The documented example is one intake's gateway consumer can read.
    let example = contract.at("/components/messages/applicantNotification/examples/0/payload")?;
    let read: NotificationRequested = serde_json::from_value(example.clone())?;
    assert_eq!(read.kind, NotificationKind::Accepted);

    let envelope = Envelope::new(NOTIFICATION_REQUESTED.subject, "/residence/intake", "C-1");
    let headers = serde_json::to_value(envelope.headers())?;
    ensure_none(
        "notification headers",
        &contract.header_problems("applicantNotification", &headers)?,
    )
}
