//! Issuance, supersession, acknowledgement and verification against a real SQLite database,
//! with events handed to the handlers directly (no broker needed).

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use residence_elicense::acknowledgement::AcknowledgementHandler;
use residence_elicense::api::ElicenseApi;
use residence_elicense::entity::{license, status};
use residence_elicense::issuance::{IssuanceHandler, Issuer};
use residence_elicense::migration::Migrator;
use residence_eventing::entity::outbox;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::partner::{self, LicenseAcknowledged, LicenseIssuedMessage};
use residence_events::{self as events, DecisionApproved};
use residence_proto::v1::{self as pb, elicense_service_server::ElicenseService};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use sea_orm_migration::MigratorTrait;
use tonic::Request;

const ID_NUMBER: &str = "411721199001011237";

struct TestApp {
    db: DatabaseConnection,
    issuance: IssuanceHandler,
    acks: AcknowledgementHandler,
    api: ElicenseApi,
    dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Best effort: a leftover temporary folder does no harm.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn spawn_app() -> TestApp {
    let dir = std::env::temp_dir().join(format!("elicense-test-{}", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}?mode=rwc", dir.join("elicense.db").display());
    let db = residence_runtime::database::connect("elicense", &url)
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    let issuer = Issuer {
        license_type_code: "340101".to_owned(),
        issuer_code: "114128240059672296".to_owned(),
        license_name: "居住证".to_owned(),
    };
    TestApp {
        issuance: IssuanceHandler {
            db: db.clone(),
            outbox: OutboxWriter::new("elicense"),
            relay: RelayHandle::default(),
            issuer: Arc::new(issuer),
        },
        acks: AcknowledgementHandler { db: db.clone() },
        api: ElicenseApi { db: db.clone() },
        db,
        dir,
    }
}

fn approval(case_number: &str, valid_until: NaiveDate) -> DecisionApproved {
    let json = serde_json::json!({
        "application": {
            "case_number": case_number,
            "channel": "window",
            "holder": { "name": "王小明", "id_number": ID_NUMBER, "phone": "13800000000" },
            "permit_valid_until": "2026-12-10",
            "applied_on": "2026-12-01",
            "timeliness": "on_time",
            "residence_address": "河南省驻马店市西平县五沟营镇人民路1号",
            "delivery": { "method": "pickup" }
        },
        "endorsement": {
            "residence_address": "河南省驻马店市西平县五沟营镇人民路1号",
            "valid_until": valid_until,
            "issuing_authority": "西平县公安局",
            "issuing_authority_code": "114128240059672296",
            "timeliness": "on_time"
        },
        "decided_at": "2026-12-02T01:30:00Z"
    });
    serde_json::from_value(json).unwrap()
}

fn incoming<T: serde::Serialize>(id: &str, subject: &str, payload: &T) -> Incoming {
    Incoming {
        id: id.to_owned(),
        subject: subject.to_owned(),
        case_number: None,
        payload: bytes::Bytes::from(serde_json::to_vec(payload).unwrap()),
        headers: None,
        delivered: 1,
    }
}

fn approved(id: &str, approval: &DecisionApproved) -> Incoming {
    incoming(id, events::DECISION_APPROVED.subject, approval)
}

fn acknowledgement(identifier: &str, accepted: bool) -> LicenseAcknowledged {
    LicenseAcknowledged {
        schema: partner::LICENSE_ACKNOWLEDGED_SCHEMA.to_owned(),
        identifier: identifier.to_owned(),
        platform: "henan-elicense".to_owned(),
        accepted,
        reason: (!accepted).then(|| "证照类型代码未登记".to_owned()),
        at: Utc.with_ymd_and_hms(2026, 12, 2, 3, 0, 0).unwrap(),
    }
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

impl TestApp {
    async fn licenses(&self) -> Vec<license::Model> {
        license::Entity::find()
            .order_by_asc(license::Column::Version)
            .all(&self.db)
            .await
            .unwrap()
    }

    async fn outbox_on(&self, subject: &str) -> Vec<outbox::Model> {
        outbox::Entity::find()
            .filter(outbox::Column::Subject.eq(subject))
            .order_by_asc(outbox::Column::Id)
            .all(&self.db)
            .await
            .unwrap()
    }

    async fn verify(&self, identifier: &str) -> pb::VerifyLicenseResponse {
        let request = pb::VerifyLicenseRequest {
            identifier: identifier.to_owned(),
        };
        self.api
            .verify_license(Request::new(request))
            .await
            .unwrap()
            .into_inner()
    }

    async fn by_case(&self, case_number: &str) -> Result<pb::VerifyLicenseResponse, tonic::Status> {
        let request = pb::GetLicenseByCaseRequest {
            case_number: case_number.to_owned(),
        };
        let response = self.api.get_license_by_case(Request::new(request)).await?;
        Ok(response.into_inner())
    }
}

#[tokio::test]
async fn an_approval_issues_a_first_license_and_tells_the_platform() {
    let app = spawn_app().await;
    let event = approved("event-1", &approval("CASE-1", date("2027-12-10")));

    assert_eq!(app.issuance.handle(&event).await, Outcome::Done);

    let licenses = app.licenses().await;
    assert_eq!(licenses.len(), 1);
    let first = &licenses[0];
    assert_eq!(first.version, 1);
    assert_eq!(first.status, status::CURRENT);
    assert_eq!(first.supersedes, None);
    assert_eq!(first.issued_on, date("2026-12-02"));
    assert!(
        first
            .identifier
            .starts_with("1.2.156.3005.2.340101.114128240059672296.")
    );
    assert!(first.identifier.contains(".001."));
    assert!(!first.identifier.contains(ID_NUMBER));

    let internal = app.outbox_on(events::LICENSE_ISSUED.subject).await;
    assert_eq!(internal.len(), 1);
    assert!(!internal[0].payload.contains(ID_NUMBER));
    let platform = app.outbox_on(events::elicense::LICENSE_ISSUED).await;
    assert_eq!(platform.len(), 1);
    let message: LicenseIssuedMessage = serde_json::from_str(&platform[0].payload).unwrap();
    assert_eq!(message.schema, partner::LICENSE_ISSUED_SCHEMA);
    assert_eq!(message.identifier, first.identifier);
    assert_eq!(message.license_name, "居住证");
    assert_eq!(message.license_type_code, "340101");
    assert_eq!(message.license_number, ID_NUMBER);
    assert_eq!(message.holder.id_number, ID_NUMBER);
    assert_eq!(message.issuing_authority, "西平县公安局");
    assert_eq!(message.issuing_authority_code, "114128240059672296");
    assert_eq!(message.valid_until, date("2027-12-10"));
    assert_eq!(message.case_number, "CASE-1");

    let verified = app.verify(&first.identifier.to_lowercase()).await;
    assert!(verified.valid, "{}", verified.problem);
    assert_eq!(verified.status, pb::LicenseStatus::Current as i32);
    assert_eq!(verified.masked_holder_name, "王**");
    assert_eq!(verified.masked_id_number, "411721********1237");
    assert_eq!(verified.version, 1);
    assert_eq!(verified.valid_until, "2027-12-10");
}

#[tokio::test]
async fn a_replayed_approval_never_issues_a_second_license() {
    let app = spawn_app().await;
    let approval = approval("CASE-1", date("2027-12-10"));

    assert_eq!(
        app.issuance.handle(&approved("event-1", &approval)).await,
        Outcome::Done
    );
    assert_eq!(
        app.issuance.handle(&approved("event-1", &approval)).await,
        Outcome::Done
    );
    assert_eq!(
        app.issuance.handle(&approved("event-2", &approval)).await,
        Outcome::Done
    );

    assert_eq!(app.licenses().await.len(), 1);
    assert_eq!(app.outbox_on(events::LICENSE_ISSUED.subject).await.len(), 1);
    assert_eq!(
        app.outbox_on(events::elicense::LICENSE_ISSUED).await.len(),
        1
    );
}

#[tokio::test]
async fn the_next_endorsement_supersedes_the_earlier_license() {
    let app = spawn_app().await;
    let first = approved("event-1", &approval("CASE-1", date("2027-12-10")));
    let second = approved("event-2", &approval("CASE-2", date("2028-12-10")));

    assert_eq!(app.issuance.handle(&first).await, Outcome::Done);
    assert_eq!(app.issuance.handle(&second).await, Outcome::Done);

    let licenses = app.licenses().await;
    let [old, new] = licenses.as_slice() else {
        panic!("expected two licenses, got {}", licenses.len());
    };
    assert_eq!(old.status, status::SUPERSEDED);
    assert_eq!(new.status, status::CURRENT);
    assert_eq!(new.version, 2);
    assert_eq!(new.supersedes.as_deref(), Some(old.identifier.as_str()));
    let serial = |identifier: &str| identifier.split('.').nth(7).unwrap().to_owned();
    assert_eq!(serial(&old.identifier), serial(&new.identifier));
    assert!(new.identifier.contains(".002."));

    let message: LicenseIssuedMessage =
        serde_json::from_str(&app.outbox_on(events::elicense::LICENSE_ISSUED).await[1].payload)
            .unwrap();
    assert_eq!(message.supersedes.as_deref(), Some(old.identifier.as_str()));

    let old_case = app.by_case("CASE-1").await.unwrap();
    assert_eq!(old_case.status, pb::LicenseStatus::Superseded as i32);
    assert_eq!(
        app.by_case("CASE-2").await.unwrap().identifier,
        new.identifier
    );
}

#[tokio::test]
async fn platform_acknowledgements_are_recorded() {
    let app = spawn_app().await;
    let event = approved("event-1", &approval("CASE-1", date("2027-12-10")));
    app.issuance.handle(&event).await;
    let identifier = app.licenses().await[0].identifier.clone();
    let subject = events::elicense::LICENSE_ACKNOWLEDGED;

    let rejected = incoming("ack-1", subject, &acknowledgement(&identifier, false));
    assert_eq!(app.acks.handle(&rejected).await, Outcome::Done);
    let license = &app.licenses().await[0];
    assert_eq!(
        license.rejected_reason.as_deref(),
        Some("证照类型代码未登记")
    );
    assert_eq!(license.acknowledged_at, None);

    let accepted = incoming("ack-2", subject, &acknowledgement(&identifier, true));
    assert_eq!(app.acks.handle(&accepted).await, Outcome::Done);
    let license = &app.licenses().await[0];
    assert_eq!(license.rejected_reason, None);
    assert_eq!(license.ack_platform.as_deref(), Some("henan-elicense"));
    assert!(license.acknowledged_at.is_some());

    let unknown = acknowledgement("1.2.156.3005.2.340101.X.Y.001.Z", true);
    let outcome = app.acks.handle(&incoming("ack-3", subject, &unknown)).await;
    assert!(matches!(outcome, Outcome::Poison(_)), "{outcome:?}");
}

#[tokio::test]
async fn verification_explains_what_is_wrong() {
    let app = spawn_app().await;
    let event = approved("event-1", &approval("CASE-1", date("2027-12-10")));
    app.issuance.handle(&event).await;
    let identifier = app.licenses().await[0].identifier.clone();

    let mut tampered = identifier.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let response = app.verify(&tampered).await;
    assert!(!response.valid);
    assert!(
        response.problem.contains("check character"),
        "{}",
        response.problem
    );

    let foreign = residence_elicense::identifier::Identifier::new("340101", "ABC", "DEF", 1)
        .unwrap()
        .to_string();
    let response = app.verify(&foreign).await;
    assert!(!response.valid);
    assert_eq!(response.problem, "not issued here");

    let response = app.verify("not an identifier").await;
    assert!(!response.valid);
    assert!(response.problem.contains("1.2.156.3005.2."));

    let empty = app
        .api
        .verify_license(Request::new(pb::VerifyLicenseRequest::default()))
        .await;
    assert_eq!(empty.unwrap_err().code(), tonic::Code::InvalidArgument);
    assert_eq!(
        app.by_case("CASE-9").await.unwrap_err().code(),
        tonic::Code::NotFound
    );
}

#[tokio::test]
async fn approvals_without_a_holder_are_poison() {
    let app = spawn_app().await;
    let mut approval = approval("CASE-1", date("2027-12-10"));
    approval.application.holder.id_number = " ".to_owned();

    let outcome = app.issuance.handle(&approved("event-1", &approval)).await;

    assert!(matches!(outcome, Outcome::Poison(_)), "{outcome:?}");
    assert!(app.licenses().await.is_empty());
}
