//! Reversing an approval through the API against a real SQLite database: the decision records
//! it with the officer the token names, `residence.v1.decision.reversed` goes into the outbox
//! once, the audit trail records it, and only approvals can be reversed, only by a decider.

use residence_decision::migration::Migrator;
use residence_eventing::entity::outbox;
use residence_events::{self as events, DecisionReversed};
use residence_launcher::RunDir;
use residence_proto::v1::{self as pb, decision_service_server::DecisionService};
use residence_staff::Role;
use residence_test_support::database;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sea_orm_migration::MigratorTrait;
use tonic::{Code, Request};

use crate::app::*;

/// A fresh app with an approval (`CASE-A`) and a denial (`CASE-D`) on record.
async fn spawn_decided() -> TestApp {
    let app = spawn_app().await;
    app.insert_decision("CASE-A", "approved").await;
    app.insert_decision("CASE-D", "denied").await;
    app
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
        .all(&app.db)
        .await
        .unwrap()
        .iter()
        .map(|row| serde_json::from_str(&row.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn an_approval_is_reversed_once() {
    let app = spawn_decided().await;
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

    let trail = app.trail("CASE-A").await;
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
    let app = spawn_decided().await;
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
    let app = spawn_decided().await;
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
    let run = RunDir::new("decision-upgrade").unwrap();
    let url = database::sqlite_url(run.path(), "decision");
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

    let app = app_with(db);
    let reversed = app
        .api
        .reverse_decision(request("CASE-OLD", "理由充分"))
        .await;
    assert!(!reversed.unwrap().into_inner().reversed_at.is_empty());
    assert_eq!(reversals(&app).await.len(), 1);
}
