//! Courier delivery through the whole running system when the logistics partner cannot
//! deliver: the permit falls back to the window, the applicant is told why and where, the
//! clerk hands it over, and every message the courier service and the partner exchanged
//! matches the partner contract and carries no personal data beyond the allowed fields.
//!
//! The service binaries must be built first (`cargo build --workspace --bins`).

use anyhow::{Result, ensure};
use residence_cli::system::{Service, System, SystemOptions};
use residence_courier::entity::waybill;
use residence_events::logistics;
use residence_launcher::project_root;
use residence_proto::v1 as pb;
use residence_runtime::time::china_today;
use residence_system_tests::asyncapi::{Contract, ensure_none};
use residence_system_tests::capture::{self, Stored};
use residence_system_tests::system::{finish, wait_for_status};
use sea_orm::{Database, EntityTrait};

/// Synthetic holders: valid GB 11643 numbers of no real person.
const HOLDERS: [&str; 3] = [
    "411721199001011237",
    "41172119880517108X",
    "412824198507153217",
];
const ADDRESS: &str = "河南省驻马店市西平县五沟营镇东街村三组12号";

fn courier_application(id_number: &str) -> pb::SubmitApplicationRequest {
    let kinds = [
        pb::MaterialKind::ResidencePermit,
        pb::MaterialKind::IdCard,
        pb::MaterialKind::ProofOfResidence,
    ];
    pb::SubmitApplicationRequest {
        client_request_id: uuid::Uuid::new_v4().to_string(),
        channel: pb::Channel::Online as i32,
        applicant: Some(pb::Applicant {
            name: "测试申请人".into(),
            id_number: id_number.into(),
            phone: "13800000000".into(),
        }),
        permit: Some(pb::Permit {
            valid_until: (china_today() + chrono::Duration::days(10)).to_string(),
        }),
        residence_address: ADDRESS.into(),
        address_change: None,
        delivery: Some(pb::Delivery {
            method: pb::DeliveryMethod::Courier as i32,
            recipient_name: "测试收件人".into(),
            recipient_phone: "13900000000".into(),
            recipient_address: ADDRESS.into(),
        }),
        materials: kinds
            .into_iter()
            .enumerate()
            .map(|(index, kind)| pb::Material {
                kind: kind as i32,
                reference: format!("scan-{index}"),
            })
            .collect(),
        agent: None,
    }
}

#[tokio::test]
async fn an_undeliverable_permit_falls_back_to_the_window_and_the_applicant_is_told() -> Result<()>
{
    let options = SystemOptions {
        courier_failure_share: 1.0,
        run_prefix: "logistics-fallback".into(),
        ..SystemOptions::default()
    };
    let system = System::start(options).await?;
    let result = exercise(&system).await;
    finish(system, result).await
}

async fn exercise(system: &System) -> Result<()> {
    let mut intake = system.intake_client()?;
    let mut delivery = system.delivery_client()?;
    let mut submitted = Vec::new();
    for holder in HOLDERS {
        let response = intake
            .submit_application(courier_application(holder))
            .await?
            .into_inner();
        ensure!(
            response.status() == pb::CaseStatus::Accepted,
            "{response:?}"
        );
        submitted.push(response);
    }

    for case in &submitted {
        let track = wait_for_status(system, case, pb::CaseStatus::ReadyForPickup).await?;
        let notes: Vec<&str> = track
            .history
            .iter()
            .map(|step| step.note.as_str())
            .collect();
        ensure!(
            notes
                .iter()
                .any(|note| note.contains("中国邮政速递物流（EMS）")),
            "the shipped step names the partner: {notes:?}"
        );
        let told = notes.last().copied().unwrap_or_default();
        ensure!(
            told.contains("未能送达") && told.contains("西平县五沟营镇人民政府"),
            "the applicant is told why and where: {told}"
        );

        let waiting = delivery
            .get_delivery(pb::GetDeliveryRequest {
                case_number: case.case_number.clone(),
            })
            .await?
            .into_inner();
        ensure!(waiting.state() == pb::DeliveryState::AwaitingCollection);
        ensure!(!waiting.fallback_reason.is_empty(), "the partner's reason");
        let collected = delivery
            .record_collection(pb::RecordCollectionRequest {
                case_number: case.case_number.clone(),
                clerk_id: "窗口03".into(),
                collected_by: "holder".into(),
            })
            .await?
            .into_inner();
        ensure!(collected.state() == pb::DeliveryState::Collected);
    }

    // The chosen partner is recorded with each waybill.
    let courier_db = Database::connect(system.database_url(Service::Courier)).await?;
    let waybills = waybill::Entity::find().all(&courier_db).await?;
    ensure!(waybills.len() == HOLDERS.len(), "{waybills:?}");
    ensure!(
        waybills
            .iter()
            .all(|w| w.partner == "ems" && w.state == "failed")
    );

    check_published(system).await
}

/// Every message of the round trips, read back from the streams, against the contract.
async fn check_published(system: &System) -> Result<()> {
    let client = async_nats::connect(system.nats_url()).await?;
    let jetstream = async_nats::jetstream::new(client);
    let mut messages: Vec<Stored> = Vec::new();
    for stream in ["LOGISTICS", "RESIDENCE"] {
        messages.extend(capture::stored(&jetstream, stream).await?);
    }
    messages.extend(capture::stored(&jetstream, &logistics::status_stream("ems")).await?);

    let count = |subject: &str| messages.iter().filter(|m| m.subject == subject).count();
    ensure!(count(&logistics::waybill_requested("ems")) == HOLDERS.len());
    for status in ["accepted", "picked_up", "in_transit", "failed"] {
        ensure!(
            count(&logistics::status("ems", status)) == HOLDERS.len(),
            "{status}"
        );
    }
    let from_courier = messages
        .iter()
        .filter(|m| m.header("ce-source") == Some("/residence/courier"))
        .count();
    ensure!(
        from_courier >= 3 * HOLDERS.len(),
        "requests, dispatches, failures"
    );

    let contract = Contract::load(&project_root()?.join("deploy/asyncapi.yaml"))?;
    ensure_none(
        "logistics messages",
        &capture::logistics_problems(&contract, &messages)?,
    )
}
