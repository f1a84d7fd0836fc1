//! Reversing an approval through the API against a real SQLite database: the decision records
//! it with the officer the token names, `residence.v1.decision.reversed` goes into the outbox
//! once, the audit trail records it, and only approvals can be reversed, only by a decider.

use std::sync::Arc;

use chrono::Utc;
use ed25519_dalek::SigningKey;
use residence_audit::audit_record;
use residence_decision::api::DecisionApi;
use residence_decision::entity::decision;
use residence_decision::migration::Migrator;
use residence_decision::store::Officer;
use residence_eventing::entity::outbox;
use residence_eventing::{OutboxWriter, RelayHandle};
use residence_events::{self as events, DecisionReversed};
use residence_item::ServiceItem;
use residence_proto::v1::{self as pb, decision_service_server::DecisionService};
use residence_staff::{BearerToken, Claims, Role, Scope, StaffAuth, StaffKeys};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use sea_orm_migration::MigratorTrait;
use tonic::service::Interceptor;
use tonic::{Code, Request};

const KEY: [u8; 32] = [9; 32];

struct TestApp {
    api: DecisionApi,
    dir: std::path::PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Best effort: a leftover temporary folder does no harm.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn spawn_app() -> TestApp {
    let dir = std::env::temp_dir().join(format!("decision-test-{}", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}?mode=rwc", dir.join("decision.db").display());
    let db = residence_runtime::database::connect("decision", &url)
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    for (case_number, outcome) in [("CASE-A", "approved"), ("CASE-D", "denied")] {
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
            town_code: Set(Some("412824101".to_owned())),
        }
        .insert(&db)
        .await
        .unwrap();
    }
    TestApp { api: api(db), dir }
}

fn api(db: DatabaseConnection) -> DecisionApi {
    let item = ServiceItem::parse(include_str!("../../../deploy/service-item.toml")).unwrap();
    let mut keys = StaffKeys::default();
    keys.insert(SigningKey::from_bytes(&KEY).verifying_key());
    DecisionApi {
        officer: Officer {
            db,
            outbox: OutboxWriter::new("decision"),
            relay: RelayHandle::default(),
            item: Arc::new(item),
        },
        staff: StaffAuth::new(keys, "412824"),
    }
}

/// `message` as sent by `role` with id `officer-7`, scoped to the whole county.
fn as_staff<T>(role: Role, message: T) -> Request<T> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: "officer-7".into(),
        role,
        scope: Scope::parse("412824").unwrap(),
        iat: now,
        exp: now + 600,
    };
    let token = residence_staff::token::issue(&claims, &SigningKey::from_bytes(&KEY)).unwrap();
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

fn request(case_number: &str, reason: &str) -> Request<pb::ReverseDecisionRequest> {
    let message = pb::ReverseDecisionRequest {
        case_number: case_number.to_owned(),
        reason: reason.to_owned(),
    };
    as_staff(Role::Decider, message)
}

async fn reversals(app: &TestApp) -> Vec<DecisionReversed> {
    outbox::Entity::find()
        .filter(outbox::Column::Subject.eq(events::DECISION_REVERSED.subject))
        .all(&app.api.officer.db)
        .await
        .unwrap()
        .iter()
        .map(|row| serde_json::from_str(&row.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn an_approval_is_reversed_once() {
    let app = spawn_app().await;
    let reason = "经复查，居住证明材料不实";
    let reversed = app.api.reverse_decision(request("CASE-A", reason)).await;
    let reversed = reversed.unwrap().into_inner();
    assert_eq!(reversed.reversal_reason, reason);
    assert_eq!(reversed.reversed_by, "officer-7");
    assert!(!reversed.reversed_at.is_empty());

    let again = app
        .api
        .reverse_decision(request("CASE-A", "另一个理由"))
        .await;
    assert_eq!(again.unwrap().into_inner(), reversed);

    let [event] = reversals(&app).await.try_into().unwrap();
    assert_eq!(event.case_number, "CASE-A");
    assert_eq!(event.reason, reason);
    assert_eq!(event.officer_id, "officer-7");
    assert_eq!(event.reversed_at.timestamp_subsec_nanos(), 0);

    let get = pb::GetDecisionRequest {
        case_number: "CASE-A".to_owned(),
    };
    let read = app.api.get_decision(as_staff(Role::Supervisor, get)).await;
    assert_eq!(read.unwrap().into_inner(), reversed);

    let trail = audit_record::Entity::find()
        .filter(audit_record::Column::CaseNumber.eq("CASE-A"))
        .all(&app.api.officer.db)
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = trail
        .iter()
        .map(|r| (r.action.as_str(), r.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("decision.reversed", "officer-7"),
            ("decision.read", "officer-7")
        ]
    );
}

#[tokio::test]
async fn only_a_decider_with_a_token_may_reverse() {
    let app = spawn_app().await;
    let message = pb::ReverseDecisionRequest {
        case_number: "CASE-A".to_owned(),
        reason: "理由充分".to_owned(),
    };
    let anonymous = app
        .api
        .reverse_decision(Request::new(message.clone()))
        .await;
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);
    for role in [Role::Reviewer, Role::Operator, Role::Supervisor] {
        let refused = app
            .api
            .reverse_decision(as_staff(role, message.clone()))
            .await;
        assert_eq!(
            refused.unwrap_err().code(),
            Code::PermissionDenied,
            "{role}"
        );
    }
    assert!(reversals(&app).await.is_empty());
}

#[tokio::test]
async fn only_approvals_can_be_reversed() {
    let app = spawn_app().await;
    let denied = app
        .api
        .reverse_decision(request("CASE-D", "理由充分"))
        .await;
    assert_eq!(denied.unwrap_err().code(), Code::FailedPrecondition);
    let unknown = app
        .api
        .reverse_decision(request("CASE-X", "理由充分"))
        .await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
    let bad = app.api.reverse_decision(request("CASE-A", " ")).await;
    assert_eq!(bad.unwrap_err().code(), Code::InvalidArgument);
    assert!(reversals(&app).await.is_empty());
}

#[tokio::test]
async fn decisions_made_before_reversals_existed_can_be_reversed() {
    let dir = std::env::temp_dir().join(format!("decision-upgrade-{}", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}?mode=rwc", dir.join("decision.db").display());
    let db = residence_runtime::database::connect("decision", &url)
        .await
        .unwrap();
    Migrator::up(&db, Some(1)).await.unwrap();
    // The decisions table as the first release created it, with one approval.
    let statements = [
        r#"CREATE TABLE "decisions" (
            "case_number" varchar NOT NULL PRIMARY KEY,
            "outcome" varchar NOT NULL,
            "endorsement" text NULL,
            "legal_basis" varchar NULL,
            "reasons" text NOT NULL,
            "decided_at" timestamp_with_timezone_text NOT NULL
        )"#,
        "INSERT INTO seaql_migrations (version, applied_at) \
         VALUES ('m20261201_000002_create_decisions', 0)",
        "INSERT INTO decisions VALUES ('CASE-OLD', 'approved', NULL, NULL, '[]', \
         '2025-12-02T01:30:00+00:00')",
    ];
    for sql in statements {
        db.execute_unprepared(sql).await.unwrap();
    }

    Migrator::up(&db, None).await.unwrap();

    let app = TestApp { api: api(db), dir };
    let reversed = app
        .api
        .reverse_decision(request("CASE-OLD", "理由充分"))
        .await;
    assert!(!reversed.unwrap().into_inner().reversed_at.is_empty());
    assert_eq!(reversals(&app).await.len(), 1);
}
