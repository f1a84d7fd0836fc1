//! The harness: the service's handlers, watch and API over a fresh SQLite database and a fresh
//! key directory in a run folder, and the events they are fed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use residence_elicense::acknowledgement::AcknowledgementHandler;
use residence_elicense::api::ElicenseApi;
use residence_elicense::entity::{license, platform_message};
use residence_elicense::issuance::{IssuanceHandler, Issuer};
use residence_elicense::keys::{self, KeySettings};
use residence_elicense::migration::Migrator;
use residence_elicense::platform::{AckPolicy, AckWatch};
use residence_elicense::revocation::RevocationHandler;
use residence_eventing::entity::outbox;
use residence_eventing::{Incoming, OutboxWriter, RelayHandle};
use residence_events::partner::{self, LicenseAcknowledged, LicenseAction};
use residence_events::{self as events, DecisionApproved, DecisionReversed};
use residence_launcher::RunDir;
use residence_license::{KeyId, SigningKeys};
use residence_proto::v1::{self as pb, elicense_service_server::ElicenseService};
use residence_staff::Role;
use residence_test_support::{database, records, staff};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use tonic::Request;

pub use residence_test_support::fixtures::ID_NUMBER;
pub use residence_test_support::incoming;

/// `message` as an operator of the county sends it.
pub fn as_operator<T>(message: T) -> Request<T> {
    staff::request("operator-1", Role::Operator, message)
}

/// The key every test app signs with first.
pub const FIRST_KEY: &str = "k2026";

/// What every test app issues under.
pub const TYPE_CODE: &str = "340101";
pub const ISSUER_CODE: &str = "114128240059672296";

/// The service's handlers, watch and API over one database, driven by the tests directly.
pub struct TestApp {
    pub db: DatabaseConnection,
    pub keys: Arc<SigningKeys>,
    pub policy: AckPolicy,
    pub issuance: IssuanceHandler,
    pub acks: AcknowledgementHandler,
    pub revocations: RevocationHandler,
    pub watch: AckWatch,
    pub api: ElicenseApi,
    /// Where the app keeps its signing keys and writes its public key document.
    pub dir: PathBuf,
    /// The run folder [`spawn_app`] made for the database and `dir`, removed with the app.
    _run: Option<RunDir>,
}

/// Where a test app keeps its keys, and where it writes its public key document.
pub fn key_settings(dir: &Path, active: &str) -> KeySettings {
    KeySettings {
        dir: dir.join("signing-keys"),
        active: KeyId::parse(active).unwrap(),
        document_file: dir.join("public-keys.json"),
    }
}

/// A fresh app signing with [`FIRST_KEY`]; the platform has `policy` to answer.
pub async fn spawn_app(policy: AckPolicy) -> TestApp {
    let run = RunDir::new("elicense-test").unwrap();
    let db = database::sqlite::<Migrator>(&run, "elicense")
        .await
        .unwrap();
    let dir = run.path().to_owned();
    let keys = Arc::new(keys::load(&key_settings(&dir, FIRST_KEY)).unwrap());
    let mut app = app_with(db, keys, policy, dir);
    app._run = Some(run);
    app
}

/// The authority every test app issues as.
pub fn issuer() -> Arc<Issuer> {
    Arc::new(Issuer {
        license_type_code: TYPE_CODE.to_owned(),
        issuer_code: ISSUER_CODE.to_owned(),
        license_name: "居住证".to_owned(),
    })
}

/// The handlers, watch and API over `db`, signing with `keys`.
pub fn app_with(
    db: DatabaseConnection,
    keys: Arc<SigningKeys>,
    policy: AckPolicy,
    dir: PathBuf,
) -> TestApp {
    let outbox = OutboxWriter::new("elicense");
    TestApp {
        issuance: IssuanceHandler {
            db: db.clone(),
            outbox: outbox.clone(),
            relay: RelayHandle::default(),
            issuer: issuer(),
            keys: keys.clone(),
            acks: policy,
        },
        acks: AcknowledgementHandler {
            db: db.clone(),
            outbox: outbox.clone(),
            relay: RelayHandle::default(),
            platforms: vec!["henan-elicense".to_owned()],
        },
        revocations: RevocationHandler {
            db: db.clone(),
            outbox: outbox.clone(),
            relay: RelayHandle::default(),
            keys: keys.clone(),
            acks: policy,
        },
        watch: AckWatch {
            db: db.clone(),
            outbox,
            relay: RelayHandle::default(),
            policy,
        },
        api: ElicenseApi {
            db: db.clone(),
            keys: Arc::new(keys.public_keys()),
            staff: staff::auth(),
        },
        keys,
        policy,
        db,
        dir,
        _run: None,
    }
}

/// A minute to answer, one re-send.
pub fn minute_policy() -> AckPolicy {
    AckPolicy {
        timeout: Duration::from_secs(60),
        resends: 1,
    }
}

pub fn approval(case_number: &str, valid_until: NaiveDate) -> DecisionApproved {
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
            "issuing_authority_code": ISSUER_CODE,
            "timeliness": "on_time"
        },
        "decided_at": "2026-12-02T01:30:00Z"
    });
    serde_json::from_value(json).unwrap()
}

pub fn reversal(case_number: &str) -> DecisionReversed {
    DecisionReversed {
        case_number: case_number.to_owned(),
        reason: "经复查，居住证明材料不实".to_owned(),
        officer_id: "officer-7".to_owned(),
        reversed_at: Utc.with_ymd_and_hms(2026, 12, 9, 2, 30, 0).unwrap(),
    }
}

pub fn approved(id: &str, approval: &DecisionApproved) -> Incoming {
    incoming(id, events::DECISION_APPROVED.subject, approval)
}

pub fn reversed(id: &str, reversal: &DecisionReversed) -> Incoming {
    incoming(id, events::DECISION_REVERSED.subject, reversal)
}

pub fn acknowledgement(
    identifier: &str,
    action: LicenseAction,
    accepted: bool,
) -> LicenseAcknowledged {
    LicenseAcknowledged {
        schema: partner::LICENSE_ACKNOWLEDGED_SCHEMA.to_owned(),
        identifier: identifier.to_owned(),
        action,
        platform: "henan-elicense".to_owned(),
        accepted,
        reason: (!accepted).then(|| "证照类型代码未登记".to_owned()),
        at: Utc.with_ymd_and_hms(2026, 12, 2, 3, 0, 0).unwrap(),
    }
}

pub fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

impl TestApp {
    pub async fn licenses(&self) -> Vec<license::Model> {
        license::Entity::find()
            .order_by_asc(license::Column::Version)
            .all(&self.db)
            .await
            .unwrap()
    }

    pub async fn messages(&self) -> Vec<platform_message::Model> {
        platform_message::Entity::find()
            .order_by_asc(platform_message::Column::CreatedAt)
            .all(&self.db)
            .await
            .unwrap()
    }

    /// The outbox rows on `subject`, oldest first.
    pub async fn outbox_on(&self, subject: &str) -> Vec<outbox::Model> {
        records::outbox_on(&self.db, subject).await.unwrap()
    }

    /// Marks every outbox row published, as the relay would.
    pub async fn publish_outbox(&self) {
        records::mark_published(&self.db).await.unwrap();
    }

    /// Runs the watch as if `after` had passed.
    pub async fn watch_after(&self, after: Duration) -> residence_elicense::platform::Round {
        let now: DateTime<Utc> = Utc::now() + chrono::Duration::from_std(after).unwrap();
        self.watch.check(now).await.unwrap()
    }

    pub async fn verify(&self, identifier: &str) -> pb::VerifyLicenseResponse {
        let request = pb::VerifyLicenseRequest {
            identifier: identifier.to_owned(),
        };
        self.api
            .verify_license(Request::new(request))
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn verify_document(
        &self,
        document: pb::verify_license_document_request::Document,
    ) -> pb::VerifyLicenseResponse {
        let request = pb::VerifyLicenseDocumentRequest {
            document: Some(document),
        };
        self.api
            .verify_license_document(Request::new(request))
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn by_case(
        &self,
        case_number: &str,
    ) -> Result<pb::VerifyLicenseResponse, tonic::Status> {
        let request = pb::GetLicenseByCaseRequest {
            case_number: case_number.to_owned(),
        };
        let response = self.api.get_license_by_case(as_operator(request)).await?;
        Ok(response.into_inner())
    }

    pub async fn problems(&self) -> Vec<pb::PlatformProblem> {
        let request = pb::ListPlatformProblemsRequest { limit: 0 };
        self.api
            .list_platform_problems(as_operator(request))
            .await
            .unwrap()
            .into_inner()
            .problems
    }
}
