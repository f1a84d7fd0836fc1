//! Malformed requests get INVALID_ARGUMENT naming every bad field, and change nothing.

use anyhow::Result;
use residence_cli::system::{System, SystemOptions};
use residence_proto::v1 as pb;
use tonic_types::StatusExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_field_is_named() -> Result<()> {
    let options = SystemOptions {
        run_prefix: "validation".into(),
        ..SystemOptions::default()
    };
    let system = System::start(options).await?;
    let result = check(&system).await;
    system.stop().await?;
    result
}

async fn check(system: &System) -> Result<()> {
    let mut intake = system.intake_client()?;
    let request = pb::SubmitApplicationRequest {
        client_request_id: "short".into(),
        channel: 42,
        applicant: Some(pb::Applicant {
            name: "张\u{200B}三".into(),
            id_number: "４１１７２１１９９００１０１１２３７".into(),
            phone: "   ".into(),
        }),
        permit: Some(pb::Permit {
            valid_until: "2026-02-30".into(),
        }),
        residence_address: "\u{0007}".into(),
        address_change: None,
        delivery: Some(pb::Delivery {
            method: 0,
            ..Default::default()
        }),
        materials: vec![pb::Material {
            kind: 99,
            reference: String::new(),
        }],
        agent: None,
    };
    let status = intake.submit_application(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let details = status.get_error_details();
    let violations = details
        .bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .clone();
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    for field in [
        "client_request_id",
        "channel",
        "applicant.name",
        "applicant.id_number",
        "applicant.phone",
        "permit.valid_until",
        "residence_address",
        "delivery.method",
        "materials[0].kind",
        "materials[0].reference",
    ] {
        assert!(fields.contains(&field), "{field} missing from {fields:?}");
    }

    // Nothing was recorded: tracking an unknown case finds nothing.
    let track = intake
        .track_case(pb::TrackCaseRequest {
            case_number: "1141282400596722961000709005000-20261204-000001-X".into(),
            access_code: "ABCDEFGH".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(track.code(), tonic::Code::NotFound);
    Ok(())
}
