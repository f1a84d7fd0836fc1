//! The staff desks of the demo: a reviewer who works the manual review queue, the deciding
//! officer who decides the cases the reviewer refers, and an operator who follows up
//! dissatisfied ratings, each with a staff token.
//!
//! The reviewer refers a case whose address lies outside the jurisdiction, with that finding,
//! and clears every other finding (a guardian applying for a child, whose relationship proof
//! is on file); the officer denies what was referred, on the legal basis below. A case its
//! applicant withdrew is refused to them (FAILED_PRECONDITION) and left alone. The operator
//! closes every open follow-up task with what was done.

use std::time::Duration;

use residence_proto::v1 as pb;
use residence_proto::v1::decision_service_client::DecisionServiceClient;
use residence_proto::v1::review_service_client::ReviewServiceClient;
use residence_proto::v1::supervision_service_client::SupervisionServiceClient;
use tokio::sync::watch;
use tokio::time::Instant;

use super::drive::{call, with_retry};
use super::ledger::Ledger;
use crate::staff::StaffChannel;

/// Time between two looks at a queue.
const DESK_INTERVAL: Duration = Duration::from_millis(500);

/// Cases asked for per look.
const DESK_BATCH: u32 = 100;

/// The finding the reviewer refers instead of clearing.
const REFERRED_FINDING: &str = "address_outside_jurisdiction";

/// Why the reviewer clears the other findings.
const APPROVAL_NOTE: &str = "监护人身份证明及关系证明已核对，与申请一致。";

/// What the officer denies a referred case on.
const DENIAL_BASIS: &str = "《居住证暂行条例》第二条、第十条";

/// What the operator did about a dissatisfied rating (整改情况).
const FOLLOW_UP_OUTCOME: &str =
    "已电话回访申请人，说明办理依据和进度，对相关窗口人员进行了提醒，申请人表示理解。";

/// The reviewer: claims every waiting case, then refers or approves it, until told to stop.
/// A case whose applicant is about to withdraw it waits until the withdrawal is settled.
pub(super) async fn reviewer(
    review: &ReviewServiceClient<StaffChannel>,
    ledger: &Ledger,
    mut done: watch::Receiver<bool>,
    deadline: Instant,
) {
    while !*done.borrow() {
        let request = pb::ListReviewQueueRequest {
            area_code: String::new(),
            limit: DESK_BATCH,
        };
        let queue = call(review.clone().list_review_queue(request)).await;
        let waiting = queue
            .map(|queue| queue.tasks)
            .unwrap_or_default()
            .into_iter()
            .filter(|task| task.state() == pb::ReviewTaskState::Waiting)
            .filter(|task| !ledger.held_for_withdrawal(&task.case_number));
        for task in waiting {
            work(review, ledger, task, deadline).await;
        }
        tokio::select! {
            () = tokio::time::sleep(DESK_INTERVAL) => {}
            _ = done.changed() => {}
        }
    }
}

/// Claims one case and finishes it. A case another desk took meanwhile, or its applicant
/// withdrew, is refused with FAILED_PRECONDITION and left alone.
async fn work(
    review: &ReviewServiceClient<StaffChannel>,
    ledger: &Ledger,
    task: pb::ReviewTask,
    deadline: Instant,
) {
    let case_number = task.case_number.clone();
    let claim = pb::ClaimReviewRequest {
        case_number: case_number.clone(),
    };
    let claimed = with_retry(ledger, deadline, || {
        let mut review = review.clone();
        let claim = claim.clone();
        async move { review.claim_review(claim).await }
    });
    if claimed.await.is_err() {
        return;
    }
    let referred: Vec<pb::Finding> = task
        .findings
        .into_iter()
        .filter(|finding| finding.code == REFERRED_FINDING)
        .collect();
    // A refusal (the case moved on or was withdrawn meanwhile) leaves it to tracking to see
    // where it went.
    let _ = if referred.is_empty() {
        let approve = pb::ApproveReviewRequest {
            case_number,
            note: APPROVAL_NOTE.to_owned(),
        };
        with_retry(ledger, deadline, || {
            let mut review = review.clone();
            let approve = approve.clone();
            async move { review.approve_review(approve).await }
        })
        .await
    } else {
        let refer = pb::ReferReviewRequest {
            case_number,
            findings: referred,
        };
        with_retry(ledger, deadline, || {
            let mut review = review.clone();
            let refer = refer.clone();
            async move { review.refer_review(refer).await }
        })
        .await
    };
}

/// The deciding officer: denies every referred case with the legal basis, until told to stop.
pub(super) async fn officer(
    decision: &DecisionServiceClient<StaffChannel>,
    ledger: &Ledger,
    mut done: watch::Receiver<bool>,
    deadline: Instant,
) {
    while !*done.borrow() {
        let request = pb::ListPendingDecisionsRequest {
            area_code: String::new(),
            limit: DESK_BATCH,
        };
        let pending = call(decision.clone().list_pending_decisions(request)).await;
        for case in pending.map(|list| list.pending).unwrap_or_default() {
            let deny = pb::DenyDecisionRequest {
                case_number: case.case_number,
                legal_basis: DENIAL_BASIS.to_owned(),
                reasons: case.findings.into_iter().map(|f| f.message).collect(),
            };
            // Denying twice denies once; a case decided or withdrawn meanwhile is simply not
            // denied.
            let _ = with_retry(ledger, deadline, || {
                let mut decision = decision.clone();
                let deny = deny.clone();
                async move { decision.deny_decision(deny).await }
            })
            .await;
        }
        tokio::select! {
            () = tokio::time::sleep(DESK_INTERVAL) => {}
            _ = done.changed() => {}
        }
    }
}

/// The operator: closes every open follow-up task of a dissatisfied rating with what was
/// done, until told to stop.
pub(super) async fn operator(
    supervision: &SupervisionServiceClient<StaffChannel>,
    ledger: &Ledger,
    mut done: watch::Receiver<bool>,
    deadline: Instant,
) {
    while !*done.borrow() {
        let request = pb::ListFollowUpsRequest {
            area_code: String::new(),
            open_only: true,
            limit: DESK_BATCH,
        };
        let open = call(supervision.clone().list_follow_ups(request)).await;
        for task in open.map(|list| list.follow_ups).unwrap_or_default() {
            let close = pb::CloseFollowUpRequest {
                follow_up_id: task.follow_up_id,
                outcome: FOLLOW_UP_OUTCOME.to_owned(),
            };
            // Closing twice with the same outcome closes once; a refusal is tried again on
            // the next look.
            let closed = with_retry(ledger, deadline, || {
                let mut supervision = supervision.clone();
                let close = close.clone();
                async move { supervision.close_follow_up(close).await }
            });
            if let Ok(task) = closed.await {
                ledger.follow_up_closed(&task.follow_up_id);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(DESK_INTERVAL) => {}
            _ = done.changed() => {}
        }
    }
}
