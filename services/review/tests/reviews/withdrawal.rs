//! Withdrawn cases in review: `residence.v1.decision.withdrawn` takes an open task (waiting,
//! claimed or returned) out of the queue for good, once; a case with no open task keeps what
//! it has; a withdrawal ahead of the acceptance keeps the case out of the queue.

use residence_eventing::{Handler, Outcome};
use residence_events as events;
use residence_proto::v1::{self as pb, review_service_server::ReviewService};
use residence_review::entity::{outcome, task_state};
use residence_staff::Role;
use tonic::{Code, Status};

use crate::app::*;

const CLOSED: &str = "the applicant withdrew the application; the case is closed";

/// Every action a reviewer may take on `case_number`, as the API answers them.
async fn every_action(app: &TestApp, case_number: &str) -> Vec<Result<pb::ReviewTask, Status>> {
    let number = case_number.to_owned();
    let api = &app.api;
    let claim = pb::ClaimReviewRequest {
        case_number: number.clone(),
    };
    let release = pb::ReleaseReviewRequest {
        case_number: number.clone(),
        reason: String::new(),
    };
    let approve = pb::ApproveReviewRequest {
        case_number: number.clone(),
        note: "经核实无误".into(),
    };
    let give_back = pb::ReturnForSupplementRequest {
        case_number: number.clone(),
        missing_materials: vec![pb::MaterialKind::ProofOfResidence as i32],
        note: "居住证明不清晰".into(),
    };
    let refer = pb::ReferReviewRequest {
        case_number: number,
        findings: vec![pb::Finding {
            code: "address_outside_jurisdiction".into(),
            message: "居住地址不在本县".into(),
        }],
    };
    let answers = [
        api.claim_review(as_staff(Role::Reviewer, claim)).await,
        api.release_review(as_staff(Role::Reviewer, release)).await,
        api.approve_review(as_staff(Role::Reviewer, approve)).await,
        api.return_for_supplement(as_staff(Role::Reviewer, give_back))
            .await,
        api.refer_review(as_staff(Role::Reviewer, refer)).await,
    ];
    answers
        .into_iter()
        .map(|answer| answer.map(|task| task.into_inner()))
        .collect()
}

async fn claim(app: &TestApp, case_number: &str) {
    let claim = pb::ClaimReviewRequest {
        case_number: case_number.into(),
    };
    let claimed = app.api.claim_review(as_staff(Role::Reviewer, claim)).await;
    assert_eq!(claimed.unwrap().into_inner().claimed_by, REVIEWER);
}

#[tokio::test]
async fn an_open_task_of_a_withdrawn_case_leaves_the_queue_for_good() {
    let app = spawn_app().await;
    for case_number in ["CASE-W", "CASE-C", "CASE-R", "CASE-OPEN"] {
        app.accept(case_number, ADDRESS_ELSEWHERE).await;
    }
    claim(&app, "CASE-C").await;
    claim(&app, "CASE-R").await;
    let give_back = pb::ReturnForSupplementRequest {
        case_number: "CASE-R".into(),
        missing_materials: vec![pb::MaterialKind::ProofOfResidence as i32],
        note: "居住证明不清晰".into(),
    };
    let returned = app
        .api
        .return_for_supplement(as_staff(Role::Reviewer, give_back))
        .await;
    assert_eq!(
        returned.unwrap().into_inner().state,
        pb::ReviewTaskState::Returned as i32
    );

    for case_number in ["CASE-W", "CASE-C", "CASE-R"] {
        let event_id = format!("withdrawn-{case_number}");
        assert_eq!(app.withdraw(&event_id, case_number).await, Outcome::Done);
    }

    assert_eq!(app.queue().await, ["CASE-OPEN"]);
    for case_number in ["CASE-W", "CASE-C", "CASE-R"] {
        let task = app.task(case_number).await.unwrap();
        assert_eq!(task.state, task_state::WITHDRAWN, "{case_number}");
        assert_eq!(task.claimed_by, None);
        let review = app.review(case_number).await.unwrap();
        assert_eq!(review.outcome, outcome::WITHDRAWN);
        for answer in every_action(&app, case_number).await {
            let status = answer.unwrap_err();
            assert_eq!(status.code(), Code::FailedPrecondition, "{case_number}");
            assert_eq!(status.message(), CLOSED);
        }
        let actions = app.actions(case_number).await;
        assert_eq!(actions.first().map(String::as_str), Some("review.checked"));
        assert_eq!(actions.last().map(String::as_str), Some("review.withdrawn"));
        // Nothing goes on to the decision.
        let completed = events::REVIEW_COMPLETED.subject;
        assert!(
            !app.events_of(case_number)
                .await
                .iter()
                .any(|s| s == completed)
        );
    }
}

#[tokio::test]
async fn a_repeated_withdrawal_changes_nothing() {
    let app = spawn_app().await;
    app.accept("CASE-1", ADDRESS_ELSEWHERE).await;
    assert_eq!(app.withdraw("withdrawn-1", "CASE-1").await, Outcome::Done);
    let first = app.task("CASE-1").await.unwrap();

    assert_eq!(app.withdraw("withdrawn-1", "CASE-1").await, Outcome::Done);
    assert_eq!(app.withdraw("withdrawn-2", "CASE-1").await, Outcome::Done);

    assert_eq!(app.task("CASE-1").await.unwrap(), first);
    let actions = app.actions("CASE-1").await;
    assert_eq!(actions, ["review.checked", "review.withdrawn"]);
}

#[tokio::test]
async fn a_case_without_an_open_task_keeps_its_review() {
    let app = spawn_app().await;
    app.accept("CASE-PASSED", ADDRESS_HERE).await;
    app.accept("CASE-REFERRED", ADDRESS_ELSEWHERE).await;
    claim(&app, "CASE-REFERRED").await;
    let refer = pb::ReferReviewRequest {
        case_number: "CASE-REFERRED".into(),
        findings: vec![pb::Finding {
            code: "address_outside_jurisdiction".into(),
            message: "居住地址不在本县".into(),
        }],
    };
    let referred = app.api.refer_review(as_staff(Role::Reviewer, refer)).await;
    referred.unwrap();

    for case_number in ["CASE-PASSED", "CASE-REFERRED"] {
        let event_id = format!("withdrawn-{case_number}");
        assert_eq!(app.withdraw(&event_id, case_number).await, Outcome::Done);
    }

    assert_eq!(app.task("CASE-PASSED").await, None);
    let passed = app.review("CASE-PASSED").await.unwrap();
    assert_eq!(passed.outcome, outcome::PASSED);
    let referred = app.task("CASE-REFERRED").await.unwrap();
    assert_eq!(referred.state, task_state::REFERRED);
    let review = app.review("CASE-REFERRED").await.unwrap();
    assert_eq!(review.outcome, outcome::REFERRED);
    for case_number in ["CASE-PASSED", "CASE-REFERRED"] {
        let actions = app.actions(case_number).await;
        assert!(
            !actions.iter().any(|a| a == "review.withdrawn"),
            "{actions:?}"
        );
    }
}

#[tokio::test]
async fn a_withdrawal_ahead_of_the_acceptance_keeps_the_case_out_of_the_queue() {
    let app = spawn_app().await;
    assert_eq!(app.withdraw("withdrawn-1", "CASE-1").await, Outcome::Done);
    app.accept("CASE-1", ADDRESS_ELSEWHERE).await;

    assert!(app.queue().await.is_empty());
    assert_eq!(app.task("CASE-1").await, None);
    let review = app.review("CASE-1").await.unwrap();
    assert_eq!(review.outcome, outcome::WITHDRAWN);
    assert!(app.events_of("CASE-1").await.is_empty());
    assert_eq!(app.actions("CASE-1").await, ["review.withdrawn"]);
}

#[tokio::test]
async fn an_undecodable_withdrawal_is_poison() {
    let app = spawn_app().await;
    let event = incoming(
        "withdrawn-1",
        events::DECISION_WITHDRAWN.subject,
        &serde_json::json!({ "case": "CASE-1" }),
    );
    let outcome = app.withdrawals.handle(&event).await;
    assert!(matches!(outcome, Outcome::Poison(_)), "{outcome:?}");
}
