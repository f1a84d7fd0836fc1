//! Withdrawing cases against a real SQLite database, events handed to the handlers directly:
//! an undecided case is withdrawn once with `residence.v1.decision.withdrawn` and can then be
//! neither decided nor reversed; a withdrawal after the decision publishes nothing; repeated
//! requests change nothing; the withdrawal event is published again on a resend request.

use residence_decision::entity::{pending, pending_state};
use residence_decision::store;
use residence_eventing::{Handler, Outcome};
use residence_events::{self as events, DecisionWithdrawn};
use residence_proto::v1::{self as pb, decision_service_server::DecisionService};
use residence_staff::Role;
use sea_orm::EntityTrait;
use tonic::{Code, Status};

use crate::app::*;

const WITHDREW: &str = "the applicant withdrew the application";

async fn review(app: &TestApp, event_id: &str, review: &events::ReviewCompleted) {
    let event = review_completed(event_id, review);
    assert_eq!(app.reviewed.handle(&event).await, Outcome::Done);
}

async fn withdraw(app: &TestApp, event_id: &str, case_number: &str) {
    let event = withdrawal_requested(event_id, &withdrawal(case_number));
    assert_eq!(app.withdrawals.handle(&event).await, Outcome::Done);
}

async fn approve(app: &TestApp, case_number: &str) -> Result<pb::GetDecisionResponse, Status> {
    let message = pb::ApproveDecisionRequest {
        case_number: case_number.to_owned(),
        note: "经核实，居住地址属实".to_owned(),
    };
    let approved = app.api.approve_decision(as_staff(Role::Decider, message));
    approved.await.map(|response| response.into_inner())
}

async fn deny(app: &TestApp, case_number: &str) -> Result<pb::GetDecisionResponse, Status> {
    let message = pb::DenyDecisionRequest {
        case_number: case_number.to_owned(),
        legal_basis: "《居住证暂行条例》第十条".to_owned(),
        reasons: vec!["居住地址不在本县".to_owned()],
    };
    let denied = app.api.deny_decision(as_staff(Role::Decider, message));
    denied.await.map(|response| response.into_inner())
}

async fn pending_cases(app: &TestApp) -> Vec<String> {
    let message = pb::ListPendingDecisionsRequest::default();
    let listed = app
        .api
        .list_pending_decisions(as_staff(Role::Decider, message))
        .await;
    let listed = listed.unwrap().into_inner().pending;
    listed.into_iter().map(|p| p.case_number).collect()
}

async fn get(app: &TestApp, case_number: &str) -> pb::GetDecisionResponse {
    let message = pb::GetDecisionRequest {
        case_number: case_number.to_owned(),
    };
    let read = app
        .api
        .get_decision(as_staff(Role::Supervisor, message))
        .await;
    read.unwrap().into_inner()
}

async fn withdrawals(app: &TestApp, case_number: &str) -> Vec<DecisionWithdrawn> {
    let rows = app
        .outbox_on(events::DECISION_WITHDRAWN.subject, case_number)
        .await;
    rows.iter()
        .map(|row| serde_json::from_str(&row.payload).unwrap())
        .collect()
}

fn assert_withdrawn(refused: Result<pb::GetDecisionResponse, Status>) {
    let status = refused.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(status.message(), WITHDREW);
}

#[tokio::test]
async fn a_referred_case_withdrawn_leaves_the_desk_and_takes_no_ruling() {
    let app = spawn_app().await;
    review(&app, "review-1", &referred("CASE-1")).await;
    review(&app, "review-2", &referred("CASE-2")).await;
    assert_eq!(pending_cases(&app).await, ["CASE-1", "CASE-2"]);

    withdraw(&app, "withdrawal-1", "CASE-1").await;

    let [event] = withdrawals(&app, "CASE-1").await.try_into().unwrap();
    assert_eq!(event.case_number, "CASE-1");
    assert_eq!(event.reason, withdrawal("CASE-1").reason);
    assert_eq!(pending_cases(&app).await, ["CASE-2"]);
    let waiting = pending::Entity::find_by_id("CASE-1".to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.state, pending_state::WITHDRAWN);

    let read = get(&app, "CASE-1").await;
    assert_eq!(read.outcome, pb::DecisionOutcome::Withdrawn as i32);
    assert_eq!(read.endorsement, None);
    assert_eq!(
        (read.legal_basis.as_str(), read.decided_by.as_str()),
        ("", "")
    );
    assert!(read.reasons.is_empty() && !read.decided_at.is_empty());
    assert_eq!(
        app.decision("CASE-1").await.unwrap().town_code.as_deref(),
        Some(TOWN)
    );

    assert_withdrawn(approve(&app, "CASE-1").await);
    assert_withdrawn(deny(&app, "CASE-1").await);
    let reversal = pb::ReverseDecisionRequest {
        case_number: "CASE-1".to_owned(),
        reason: "理由充分".to_owned(),
    };
    let reversed = app
        .api
        .reverse_decision(as_staff(Role::Decider, reversal))
        .await;
    let status = reversed.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("withdrawn"),
        "{}",
        status.message()
    );
    assert_eq!(
        app.events_of("CASE-1").await,
        [events::DECISION_WITHDRAWN.subject]
    );

    // The other referred case is still the officer's to decide.
    assert_eq!(approve(&app, "CASE-2").await.unwrap().decided_by, OFFICER);

    let trail = app.trail("CASE-1").await;
    let actions: Vec<&str> = trail.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "decision.awaiting_officer",
            "decision.withdrawn",
            "decision.read"
        ]
    );
    assert_eq!(trail[1].role, residence_audit::SYSTEM);
    assert_eq!(trail[1].reason, withdrawal("CASE-1").reason);
}

#[tokio::test]
async fn a_withdrawal_after_the_decision_publishes_nothing() {
    let app = spawn_app().await;
    review(&app, "review-1", &passed("CASE-1")).await;
    review(&app, "review-2", &referred("CASE-2")).await;
    deny(&app, "CASE-2").await.unwrap();

    withdraw(&app, "withdrawal-1", "CASE-1").await;
    withdraw(&app, "withdrawal-2", "CASE-2").await;

    assert_eq!(
        app.events_of("CASE-1").await,
        [events::DECISION_APPROVED.subject]
    );
    assert_eq!(
        app.events_of("CASE-2").await,
        [events::DECISION_DENIED.subject]
    );
    assert_eq!(
        app.decision("CASE-1").await.unwrap().outcome,
        store::APPROVED
    );
    assert_eq!(app.decision("CASE-2").await.unwrap().outcome, store::DENIED);
    for case_number in ["CASE-1", "CASE-2"] {
        let trail = app.trail(case_number).await;
        assert!(trail.iter().all(|r| r.action != "decision.withdrawn"));
    }
    // The denial stands as the officer made it, and repeating it still answers.
    assert_eq!(deny(&app, "CASE-2").await.unwrap().decided_by, OFFICER);
}

#[tokio::test]
async fn a_repeated_withdrawal_changes_nothing() {
    let app = spawn_app().await;
    review(&app, "review-1", &referred("CASE-1")).await;
    withdraw(&app, "withdrawal-1", "CASE-1").await;
    let first = app.decision("CASE-1").await.unwrap();

    // The same event delivered again, and a second request from the applicant.
    withdraw(&app, "withdrawal-1", "CASE-1").await;
    withdraw(&app, "withdrawal-2", "CASE-1").await;

    assert_eq!(app.decision("CASE-1").await.unwrap(), first);
    assert_eq!(withdrawals(&app, "CASE-1").await.len(), 1);
    let trail = app.trail("CASE-1").await;
    let withdrawn = trail.iter().filter(|r| r.action == "decision.withdrawn");
    assert_eq!(withdrawn.count(), 1);
}

#[tokio::test]
async fn a_case_withdrawn_during_review_is_never_decided() {
    let app = spawn_app().await;
    withdraw(&app, "withdrawal-1", "CASE-1").await;
    assert_eq!(app.decision("CASE-1").await.unwrap().town_code, None);

    // Review finishes afterwards, either way: the withdrawal stands.
    review(&app, "review-1", &passed("CASE-1")).await;
    review(&app, "review-2", &referred("CASE-1")).await;

    assert_eq!(
        app.events_of("CASE-1").await,
        [events::DECISION_WITHDRAWN.subject]
    );
    assert_eq!(
        app.decision("CASE-1").await.unwrap().outcome,
        store::WITHDRAWN
    );
    assert!(pending_cases(&app).await.is_empty());
    assert_withdrawn(approve(&app, "CASE-1").await);
    assert_withdrawn(deny(&app, "CASE-1").await);
    let unknown = approve(&app, "CASE-9").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn a_resend_request_publishes_the_withdrawal_again() {
    let app = spawn_app().await;
    withdraw(&app, "withdrawal-1", "CASE-1").await;
    let [row] = app
        .outbox_on(events::DECISION_WITHDRAWN.subject, "CASE-1")
        .await
        .try_into()
        .unwrap();
    app.mark_published().await;

    let queued = residence_eventing::resend::republish(&app.db, "CASE-1").await;
    assert_eq!(queued.unwrap(), 1);

    let [again] = app
        .outbox_on(events::DECISION_WITHDRAWN.subject, "CASE-1")
        .await
        .try_into()
        .unwrap();
    assert_eq!(again.event_id, row.event_id);
    assert_eq!(again.published_at, None);
}

#[tokio::test]
async fn an_undecodable_request_is_poison() {
    let app = spawn_app().await;
    let event = incoming(
        "withdrawal-1",
        events::CASE_WITHDRAWAL_REQUESTED.subject,
        &serde_json::json!({ "case": "CASE-1" }),
    );
    let outcome = app.withdrawals.handle(&event).await;
    assert!(matches!(outcome, Outcome::Poison(_)), "{outcome:?}");
    assert_eq!(app.decision("CASE-1").await, None);
}
