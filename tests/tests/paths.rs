//! Every path of an application through the running system, on SQLite and on PostgreSQL:
//! courier delivery, pickup at the window, refusal at acceptance, manual review of an address
//! outside the jurisdiction referred to the deciding officer and denied, and a supplement
//! round trip. Each test starts its own nats-server (and PostgreSQL), every
//! service and both simulators as separate processes, and talks to them over real sockets.
//!
//! The service binaries must be built first (`cargo build --workspace --bins`); `scripts/test`
//! does that.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use residence_cli::system::{Database, System, SystemOptions};
use residence_proto::v1 as pb;
use residence_runtime::time::china_today;
use residence_system_tests::system::{finish, wait_for_license, wait_for_status};

/// Synthetic holders: valid GB 11643 numbers of no real person.
const HOLDER_MALE: &str = "411721199001011237";
const HOLDER_FEMALE: &str = "41172119880517108X";
const HOLDER_THIRD: &str = "412824198507153217";
const IN_COUNTY: &str = "河南省驻马店市西平县五沟营镇东街村三组12号";
const OUT_OF_COUNTY: &str = "河南省驻马店市遂平县车站街道建设路8号";

fn date_in(days: i64) -> String {
    (china_today() + chrono::Duration::days(days)).to_string()
}

fn materials(with_proof: bool) -> Vec<pb::Material> {
    let mut kinds = vec![pb::MaterialKind::ResidencePermit, pb::MaterialKind::IdCard];
    if with_proof {
        kinds.push(pb::MaterialKind::ProofOfResidence);
    }
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| pb::Material {
            kind: kind as i32,
            reference: format!("scan-{i}"),
        })
        .collect()
}

fn application(
    id_number: &str,
    valid_until: String,
    address: &str,
) -> pb::SubmitApplicationRequest {
    pb::SubmitApplicationRequest {
        client_request_id: uuid::Uuid::new_v4().to_string(),
        channel: pb::Channel::Online as i32,
        applicant: Some(pb::Applicant {
            name: "测试申请人".into(),
            id_number: id_number.into(),
            phone: "13800000000".into(),
        }),
        permit: Some(pb::Permit { valid_until }),
        residence_address: address.into(),
        address_change: None,
        delivery: Some(pb::Delivery {
            method: pb::DeliveryMethod::Pickup as i32,
            ..Default::default()
        }),
        materials: materials(true),
        agent: None,
    }
}

fn by_courier(mut request: pb::SubmitApplicationRequest) -> pb::SubmitApplicationRequest {
    request.delivery = Some(pb::Delivery {
        method: pb::DeliveryMethod::Courier as i32,
        recipient_name: "测试申请人".into(),
        recipient_phone: "13800000000".into(),
        recipient_address: IN_COUNTY.into(),
    });
    request
}

async fn every_path(database: Database) -> Result<()> {
    let options = SystemOptions {
        database,
        courier_failure_share: 0.0,
        run_prefix: format!("paths-{}", database.code()),
        ..SystemOptions::default()
    };
    let system = System::start(options).await?;
    let result = exercise(&system).await;
    finish(system, result).await
}

async fn exercise(system: &System) -> Result<()> {
    let mut intake = system.intake_client()?;
    let mut delivery = system.delivery_client()?;
    let mut decision = system.decision_client()?;
    let mut elicense = system.elicense_client()?;

    // Courier: accepted, approved, shipped and delivered by the partner, license issued.
    let courier_request = by_courier(application(HOLDER_MALE, date_in(10), IN_COUNTY));
    let courier = intake
        .submit_application(courier_request.clone())
        .await?
        .into_inner();
    assert_eq!(courier.status(), pb::CaseStatus::Accepted, "{courier:?}");
    assert!(!courier.due_on.is_empty());

    // The same request again is the same case.
    let replay = intake
        .submit_application(courier_request)
        .await?
        .into_inner();
    assert!(replay.replayed);
    assert_eq!(replay.case_number, courier.case_number);
    assert_eq!(replay.access_code, courier.access_code);

    // Pickup, late (after valid_until): accepted and, once collected, closed.
    let pickup = intake
        .submit_application(application(HOLDER_FEMALE, date_in(-20), IN_COUNTY))
        .await?
        .into_inner();
    assert_eq!(pickup.status(), pb::CaseStatus::Accepted, "{pickup:?}");

    // Too early: refused at once with a field-level reason, as pre-review foretold.
    let early_request = application(HOLDER_MALE, date_in(90), IN_COUNTY);
    let verdict = intake
        .pre_review_application(early_request.clone())
        .await?
        .into_inner();
    assert!(!verdict.acceptable);
    let early = intake.submit_application(early_request).await?.into_inner();
    assert_eq!(
        verdict.reasons, early.reasons,
        "pre-review and submission agree"
    );
    assert_eq!(early.status(), pb::CaseStatus::Refused);
    assert!(
        early
            .reasons
            .iter()
            .any(|r| r.code == "too_early" && r.field == "permit.valid_until")
    );

    // Outside the jurisdiction: accepted, sent to a reviewer, referred with the finding and
    // denied by the deciding officer with the legal basis.
    let outside = intake
        .submit_application(application(HOLDER_FEMALE, date_in(5), OUT_OF_COUNTY))
        .await?
        .into_inner();
    assert_eq!(outside.status(), pb::CaseStatus::Accepted);

    // Missing the proof: one notice, then accepted once supplied.
    let mut incomplete_request = application(HOLDER_THIRD, date_in(3), IN_COUNTY);
    incomplete_request.materials = materials(false);
    let verdict = intake
        .pre_review_application(incomplete_request.clone())
        .await?
        .into_inner();
    assert!(!verdict.acceptable && verdict.reasons.is_empty());
    assert_eq!(verdict.missing_materials.len(), 1);
    let incomplete = intake
        .submit_application(incomplete_request)
        .await?
        .into_inner();
    assert_eq!(incomplete.status(), pb::CaseStatus::SupplementRequired);
    assert_eq!(
        incomplete.reasons.len(),
        1,
        "one notice listing the missing proof"
    );
    let supplemented = intake
        .supplement_materials(pb::SupplementMaterialsRequest {
            case_number: incomplete.case_number.clone(),
            access_code: incomplete.access_code.clone(),
            materials: vec![pb::Material {
                kind: pb::MaterialKind::ProofOfEmployment as i32,
                reference: "contract-1".into(),
            }],
        })
        .await?
        .into_inner();
    assert_eq!(supplemented.status(), pb::CaseStatus::Accepted);

    let delivered = wait_for_status(system, &courier, pb::CaseStatus::Delivered).await?;
    assert!(delivered.is_final);
    assert!(!delivered.parcel_reference.is_empty());
    assert!(!delivered.new_valid_until.is_empty());

    wait_for_status(system, &outside, pb::CaseStatus::InManualReview).await?;
    refer_and_deny(system, &outside.case_number).await?;
    let denied = wait_for_status(system, &outside, pb::CaseStatus::Denied).await?;
    assert!(denied.is_final);
    let denial = decision
        .get_decision(pb::GetDecisionRequest {
            case_number: outside.case_number.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(denial.outcome(), pb::DecisionOutcome::Denied);
    assert!(denial.legal_basis.contains("居住证暂行条例"));
    assert_eq!(denial.decided_by, "officer-1");

    for case in [&pickup, &supplemented] {
        wait_for_status(system, case, pb::CaseStatus::ReadyForPickup).await?;
        let collected = delivery
            .record_collection(pb::RecordCollectionRequest {
                case_number: case.case_number.clone(),
                clerk_id: "clerk-001".into(),
                collected_by: "holder".into(),
            })
            .await?
            .into_inner();
        assert_eq!(collected.state(), pb::DeliveryState::Collected);
        wait_for_status(system, case, pb::CaseStatus::Collected).await?;
    }

    // The late endorsement restarts from the application day.
    let late = decision
        .get_decision(pb::GetDecisionRequest {
            case_number: pickup.case_number.clone(),
        })
        .await?
        .into_inner();
    let endorsement = late
        .endorsement
        .context("approved case has an endorsement")?;
    assert_eq!(endorsement.timeliness, "late");
    assert_eq!(
        endorsement.valid_until,
        (china_today() + chrono::Months::new(12)).to_string()
    );

    // One license per approval, verifiable; none for the denial. Each holder here has one.
    for case in [&courier, &pickup, &supplemented] {
        let license = wait_for_license(system, &case.case_number).await?;
        assert!(license.valid, "{license:?}");
        assert_eq!(license.status(), pb::LicenseStatus::Current);
        let verified = elicense
            .verify_license(pb::VerifyLicenseRequest {
                identifier: license.identifier.clone(),
            })
            .await?
            .into_inner();
        assert!(verified.valid);
        assert!(!verified.masked_id_number.contains("19900101"));
    }
    let none = elicense
        .get_license_by_case(pb::GetLicenseByCaseRequest {
            case_number: outside.case_number,
        })
        .await;
    assert_eq!(none.map(|_| ()).unwrap_err().code(), tonic::Code::NotFound);

    // The refused case never reached review.
    let mut review = system.review_client()?;
    let not_reviewed = review
        .get_review(pb::GetReviewRequest {
            case_number: early.case_number,
        })
        .await;
    assert_eq!(
        not_reviewed.map(|_| ()).unwrap_err().code(),
        tonic::Code::NotFound
    );
    Ok(())
}

/// The reviewer claims the case and refers it with the automatic finding; the deciding
/// officer denies it.
async fn refer_and_deny(system: &System, case_number: &str) -> Result<()> {
    let mut review = system.review_client()?;
    let claimed = review
        .claim_review(pb::ClaimReviewRequest {
            case_number: case_number.to_owned(),
        })
        .await?
        .into_inner();
    let [finding] = claimed.findings.try_into().ok().context("one finding")?;
    assert_eq!(finding.code, "address_outside_jurisdiction");
    review
        .refer_review(pb::ReferReviewRequest {
            case_number: case_number.to_owned(),
            findings: vec![finding.clone()],
        })
        .await?;

    let mut decision = system.decision_client()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pending = decision
            .list_pending_decisions(pb::ListPendingDecisionsRequest::default())
            .await?
            .into_inner()
            .pending;
        if pending.iter().any(|p| p.case_number == case_number) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("case {case_number} never reached the deciding officer");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    decision
        .deny_decision(pb::DenyDecisionRequest {
            case_number: case_number.to_owned(),
            legal_basis: "《居住证暂行条例》第二条、第十条".into(),
            reasons: vec![finding.message],
        })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_on_sqlite() -> Result<()> {
    every_path(Database::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_on_postgres() -> Result<()> {
    every_path(Database::Postgres).await
}
