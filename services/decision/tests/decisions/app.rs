//! The harness: the service's handlers and API over a fresh database (SQLite in a temporary
//! folder unless a test brings PostgreSQL), staff tokens, and the events they are fed.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use ed25519_dalek::SigningKey;
use residence_audit::audit_record;
use residence_decision::api::DecisionApi;
use residence_decision::entity::decision;
use residence_decision::handler::DecisionHandler;
use residence_decision::migration::Migrator;
use residence_decision::store::Officer;
use residence_decision::withdrawal::WithdrawalHandler;
use residence_eventing::entity::outbox;
use residence_eventing::{Incoming, OutboxWriter, RelayHandle};
use residence_events::{
    self as events, Application, CaseWithdrawalRequested, Channel, DeliveryMethod, DeliveryRequest,
    Finding, Holder, ReviewCompleted, ReviewOutcome, Timeliness,
};
use residence_item::ServiceItem;
use residence_staff::{BearerToken, Claims, Role, Scope, StaffAuth, StaffKeys};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use sea_orm_migration::MigratorTrait;
use tonic::Request;
use tonic::service::Interceptor;

/// The seed of the key staff tokens in these tests are signed with.
const STAFF_KEY: [u8; 32] = [9; 32];

/// The staff id every test token names.
pub const OFFICER: &str = "officer-7";

/// The town the addresses of [`application`] lie in.
pub const TOWN: &str = "412824101";

pub struct TestApp {
    pub db: DatabaseConnection,
    pub api: DecisionApi,
    pub reviewed: DecisionHandler,
    pub withdrawals: WithdrawalHandler,
    pub dir: Option<PathBuf>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Best effort: a leftover temporary folder does no harm.
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A fresh app over a new SQLite database.
pub async fn spawn_app() -> TestApp {
    let dir = std::env::temp_dir().join(format!("decision-test-{}", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}?mode=rwc", dir.join("decision.db").display());
    let mut app = app_at(&url).await;
    app.dir = Some(dir);
    app
}

/// A fresh app over the empty database at `url`, migrated first.
pub async fn app_at(url: &str) -> TestApp {
    let db = residence_runtime::database::connect("decision", url)
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    app_with(db)
}

/// The county's service item, as deployed.
pub fn item() -> Arc<ServiceItem> {
    let text = include_str!("../../../../deploy/service-item.toml");
    Arc::new(ServiceItem::parse(text).unwrap())
}

/// The handlers and API over `db`, migrated already.
pub fn app_with(db: DatabaseConnection) -> TestApp {
    let item = item();
    let outbox = OutboxWriter::new("decision");
    let mut keys = StaffKeys::default();
    keys.insert(SigningKey::from_bytes(&STAFF_KEY).verifying_key());
    TestApp {
        api: DecisionApi {
            officer: Officer {
                db: db.clone(),
                outbox: outbox.clone(),
                relay: RelayHandle::default(),
                item: Arc::clone(&item),
            },
            staff: StaffAuth::new(keys, "412824"),
        },
        reviewed: DecisionHandler {
            db: db.clone(),
            outbox: outbox.clone(),
            relay: RelayHandle::default(),
            item,
        },
        withdrawals: WithdrawalHandler {
            db: db.clone(),
            outbox,
            relay: RelayHandle::default(),
        },
        db,
        dir: None,
    }
}

/// `message` as sent by [`OFFICER`] in `role`, scoped to the whole county.
pub fn as_staff<T>(role: Role, message: T) -> Request<T> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: OFFICER.into(),
        role,
        scope: Scope::parse("412824").unwrap(),
        iat: now,
        exp: now + 600,
    };
    let key = SigningKey::from_bytes(&STAFF_KEY);
    let token = residence_staff::token::issue(&claims, &key).unwrap();
    let metadata = BearerToken::new(&token)
        .unwrap()
        .call(Request::new(()))
        .unwrap()
        .into_parts()
        .0;
    let mut request = Request::new(message);
    *request.metadata_mut() = metadata;
    request
}

/// An on-time application of a synthetic holder in [`TOWN`]: the rules approve it.
pub fn application(case_number: &str) -> Application {
    let date = |text: &str| text.parse::<NaiveDate>().unwrap();
    Application {
        case_number: case_number.into(),
        channel: Channel::Window,
        holder: Holder {
            name: "测试人".into(),
            id_number: "411721199001011237".into(),
            phone: "13800000000".into(),
        },
        permit_valid_until: date("2026-03-10"),
        applied_on: date("2026-02-10"),
        timeliness: Timeliness::OnTime,
        residence_address: "河南省驻马店市西平县五沟营镇东街1号".into(),
        address_change: None,
        delivery: DeliveryRequest {
            method: DeliveryMethod::Pickup,
            recipient: None,
        },
        agent: None,
    }
}

/// Review passed `case_number` on to the rules.
pub fn passed(case_number: &str) -> ReviewCompleted {
    ReviewCompleted {
        application: application(case_number),
        outcome: ReviewOutcome::Passed,
        findings: Vec::new(),
        reviewed_at: Utc::now(),
    }
}

/// A reviewer referred `case_number` with a finding to the deciding officer.
pub fn referred(case_number: &str) -> ReviewCompleted {
    let finding = Finding {
        code: "address_outside_jurisdiction".into(),
        message: "居住地址需人工核实。".into(),
    };
    ReviewCompleted {
        outcome: ReviewOutcome::Failed,
        findings: vec![finding],
        ..passed(case_number)
    }
}

/// The applicant of `case_number` asks to withdraw it.
pub fn withdrawal(case_number: &str) -> CaseWithdrawalRequested {
    CaseWithdrawalRequested {
        case_number: case_number.into(),
        reason: "已在外地办理，申请撤回".into(),
        requested_at: Utc::now(),
    }
}

pub fn incoming<T: serde::Serialize>(id: &str, subject: &str, payload: &T) -> Incoming {
    Incoming {
        id: id.to_owned(),
        subject: subject.to_owned(),
        case_number: None,
        payload: bytes::Bytes::from(serde_json::to_vec(payload).unwrap()),
        headers: None,
        delivered: 1,
    }
}

pub fn review_completed(id: &str, review: &ReviewCompleted) -> Incoming {
    incoming(id, events::REVIEW_COMPLETED.subject, review)
}

pub fn withdrawal_requested(id: &str, request: &CaseWithdrawalRequested) -> Incoming {
    incoming(id, events::CASE_WITHDRAWAL_REQUESTED.subject, request)
}

impl TestApp {
    /// Records `outcome` on `case_number` as if decided earlier by the rules.
    pub async fn insert_decision(&self, case_number: &str, outcome: &str) {
        decision::ActiveModel {
            case_number: Set(case_number.to_owned()),
            outcome: Set(outcome.to_owned()),
            endorsement: Set(None),
            legal_basis: Set(None),
            reasons: Set("[]".to_owned()),
            decided_at: Set(Utc::now()),
            reversed_at: Set(None),
            reversal_reason: Set(None),
            reversed_by: Set(None),
            decided_by: Set(None),
            town_code: Set(Some(TOWN.to_owned())),
        }
        .insert(&self.db)
        .await
        .unwrap();
    }

    /// The outbox rows of `case_number` on `subject`, oldest first.
    pub async fn outbox_on(&self, subject: &str, case_number: &str) -> Vec<outbox::Model> {
        outbox::Entity::find()
            .filter(outbox::Column::Subject.eq(subject))
            .filter(outbox::Column::CaseNumber.eq(case_number))
            .order_by_asc(outbox::Column::Id)
            .all(&self.db)
            .await
            .unwrap()
    }

    /// The subjects of every event enqueued for `case_number`, oldest first.
    pub async fn events_of(&self, case_number: &str) -> Vec<String> {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::CaseNumber.eq(case_number))
            .order_by_asc(outbox::Column::Id)
            .all(&self.db)
            .await
            .unwrap();
        rows.into_iter().map(|row| row.subject).collect()
    }

    /// The case's audit trail, oldest first.
    pub async fn trail(&self, case_number: &str) -> Vec<audit_record::Model> {
        audit_record::Entity::find()
            .filter(audit_record::Column::CaseNumber.eq(case_number))
            .order_by_asc(audit_record::Column::Seq)
            .all(&self.db)
            .await
            .unwrap()
    }

    /// Marks every outbox row published, as the relay would.
    pub async fn mark_published(&self) {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::PublishedAt, Expr::value(Utc::now()))
            .filter(outbox::Column::PublishedAt.is_null())
            .exec(&self.db)
            .await
            .unwrap();
    }

    /// The decision on `case_number`, if any.
    pub async fn decision(&self, case_number: &str) -> Option<decision::Model> {
        decision::Entity::find_by_id(case_number.to_owned())
            .one(&self.db)
            .await
            .unwrap()
    }
}
