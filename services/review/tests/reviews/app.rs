//! The harness: the service's handlers and API over a fresh SQLite database in a temporary
//! folder, staff tokens, and the events they are fed.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use ed25519_dalek::SigningKey;
use residence_audit::audit_record;
use residence_eventing::entity::outbox;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::{
    self as events, Application, ApplicationAccepted, Channel, DecisionWithdrawn, DeliveryMethod,
    DeliveryRequest, Holder, Timeliness,
};
use residence_item::ServiceItem;
use residence_proto::v1::{self as pb, review_service_server::ReviewService};
use residence_review::api::ReviewApi;
use residence_review::entity::{review, task};
use residence_review::handler::ReviewHandler;
use residence_review::migration::Migrator;
use residence_review::store::Queue;
use residence_review::withdrawal::WithdrawalHandler;
use residence_staff::{BearerToken, Claims, Role, Scope, StaffAuth, StaffKeys};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use sea_orm_migration::MigratorTrait;
use tonic::Request;
use tonic::service::Interceptor;

/// The seed of the key staff tokens in these tests are signed with.
const STAFF_KEY: [u8; 32] = [7; 32];

/// The staff id every test token names.
pub const REVIEWER: &str = "reviewer-1";

/// An address the checks send to a person: it lies outside the county.
pub const ADDRESS_ELSEWHERE: &str = "河南省驻马店市遂平县车站街3号";

/// An address in the county, which the checks pass.
pub const ADDRESS_HERE: &str = "河南省驻马店市西平县五沟营镇东街1号";

pub struct TestApp {
    pub db: DatabaseConnection,
    pub api: ReviewApi,
    pub accepted: ReviewHandler,
    pub withdrawals: WithdrawalHandler,
    dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Best effort: a leftover temporary folder does no harm.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh app over a new SQLite database.
pub async fn spawn_app() -> TestApp {
    let dir = std::env::temp_dir().join(format!("review-test-{}", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}?mode=rwc", dir.join("review.db").display());
    let db = residence_runtime::database::connect("review", &url)
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();

    let text = include_str!("../../../../deploy/service-item.toml");
    let item = Arc::new(ServiceItem::parse(text).unwrap());
    let outbox = OutboxWriter::new("review");
    let mut keys = StaffKeys::default();
    keys.insert(SigningKey::from_bytes(&STAFF_KEY).verifying_key());
    TestApp {
        api: ReviewApi {
            db: db.clone(),
            queue: Queue {
                db: db.clone(),
                outbox: outbox.clone(),
                relay: RelayHandle::default(),
            },
            staff: StaffAuth::new(keys, "412824"),
        },
        accepted: ReviewHandler {
            db: db.clone(),
            outbox,
            relay: RelayHandle::default(),
            item,
        },
        withdrawals: WithdrawalHandler { db: db.clone() },
        db,
        dir,
    }
}

/// `message` as sent by [`REVIEWER`] in `role`, scoped to the whole county.
pub fn as_staff<T>(role: Role, message: T) -> Request<T> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: REVIEWER.into(),
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

/// An on-time application of a synthetic adult holder living at `address`.
pub fn application(case_number: &str, address: &str) -> Application {
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
        residence_address: address.into(),
        address_change: None,
        delivery: DeliveryRequest {
            method: DeliveryMethod::Pickup,
            recipient: None,
        },
        agent: None,
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

/// The decision service's answer to the withdrawal of `case_number`.
pub fn withdrawn(case_number: &str) -> DecisionWithdrawn {
    DecisionWithdrawn {
        case_number: case_number.into(),
        reason: "已在外地办理，申请撤回".into(),
        withdrawn_at: Utc::now(),
    }
}

impl TestApp {
    /// Intake accepted `case_number` of a holder living at `address`.
    pub async fn accept(&self, case_number: &str, address: &str) {
        let accepted = ApplicationAccepted {
            application: application(case_number, address),
            accepted_at: Utc::now(),
            due_on: "2026-02-11".parse().unwrap(),
            due_on_confirmed: true,
        };
        let id = format!("accepted-{case_number}");
        let event = incoming(&id, events::APPLICATION_ACCEPTED.subject, &accepted);
        assert_eq!(self.accepted.handle(&event).await, Outcome::Done);
    }

    /// Hands `residence.v1.decision.withdrawn` of `case_number` to the handler, as `event_id`.
    pub async fn withdraw(&self, event_id: &str, case_number: &str) -> Outcome {
        let payload = withdrawn(case_number);
        let event = incoming(event_id, events::DECISION_WITHDRAWN.subject, &payload);
        self.withdrawals.handle(&event).await
    }

    /// The case numbers in the county's queue, oldest first.
    pub async fn queue(&self) -> Vec<String> {
        let message = pb::ListReviewQueueRequest::default();
        let listed = self
            .api
            .list_review_queue(as_staff(Role::Reviewer, message))
            .await;
        let tasks = listed.unwrap().into_inner().tasks;
        tasks.into_iter().map(|task| task.case_number).collect()
    }

    pub async fn task(&self, case_number: &str) -> Option<task::Model> {
        task::Entity::find_by_id(case_number.to_owned())
            .one(&self.db)
            .await
            .unwrap()
    }

    pub async fn review(&self, case_number: &str) -> Option<review::Model> {
        review::Entity::find_by_id(case_number.to_owned())
            .one(&self.db)
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

    /// The actions in the case's audit trail, oldest first.
    pub async fn actions(&self, case_number: &str) -> Vec<String> {
        let trail = audit_record::Entity::find()
            .filter(audit_record::Column::CaseNumber.eq(case_number))
            .order_by_asc(audit_record::Column::Seq)
            .all(&self.db)
            .await
            .unwrap();
        trail.into_iter().map(|record| record.action).collect()
    }
}
