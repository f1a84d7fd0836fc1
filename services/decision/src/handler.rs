//! Decides reviewed cases as they arrive.

use std::sync::Arc;

use chrono::Utc;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle, consumer};
use residence_events::{self as events, DecisionApproved, DecisionDenied, ReviewCompleted};
use residence_item::ServiceItem;
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, Set};

use crate::decide::{Decision, decide};
use crate::entity::decision;

/// Durable consumer name.
pub const CONSUMER: &str = "decision-reviewed-cases";
/// Subjects consumed.
pub const SUBJECTS: &[&str] = &[events::REVIEW_COMPLETED.subject];

/// Decides on `residence.v1.review.completed`. Idempotent: one decision per case.
#[derive(Debug)]
pub struct DecisionHandler {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    pub item: Arc<ServiceItem>,
}

impl Handler for DecisionHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let review: ReviewCompleted = match event.json() {
            Ok(review) => review,
            Err(outcome) => return outcome,
        };
        match self.decide(event, review).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl DecisionHandler {
    async fn decide(&self, event: &Incoming, review: ReviewCompleted) -> Result<Outcome, DbErr> {
        let case_number = review.application.case_number.clone();
        let decision = decide(&review, &self.item);
        let now = Utc::now();

        let txn = begin_write(&self.db).await?;
        let already_decided = decision::Entity::find_by_id(case_number.clone())
            .one(&txn)
            .await?
            .is_some();
        if !consumer::claim(&txn, CONSUMER, &event.id).await? || already_decided {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }
        let outcome = match decision {
            Decision::Approve(endorsement) => {
                record(
                    &txn,
                    &case_number,
                    "approved",
                    Some(&endorsement),
                    None,
                    &[],
                    now,
                )
                .await?;
                let approved = DecisionApproved {
                    application: review.application,
                    endorsement,
                    decided_at: now,
                };
                self.outbox
                    .enqueue(&txn, events::DECISION_APPROVED, &case_number, &approved)
                    .await?;
                "approved"
            }
            Decision::Deny {
                legal_basis,
                reasons,
            } => {
                record(
                    &txn,
                    &case_number,
                    "denied",
                    None,
                    Some(&legal_basis),
                    &reasons,
                    now,
                )
                .await?;
                let denied = DecisionDenied {
                    case_number: case_number.clone(),
                    legal_basis,
                    reasons,
                    decided_at: now,
                };
                self.outbox
                    .enqueue(&txn, events::DECISION_DENIED, &case_number, &denied)
                    .await?;
                "denied"
            }
        };
        txn.commit().await?;
        self.relay.notify();
        tracing::info!(case.number = %case_number, outcome, "case decided");
        Ok(Outcome::Done)
    }
}

async fn record<C: sea_orm::ConnectionTrait>(
    txn: &C,
    case_number: &str,
    outcome: &str,
    endorsement: Option<&events::Endorsement>,
    legal_basis: Option<&str>,
    reasons: &[String],
    now: chrono::DateTime<Utc>,
) -> Result<(), DbErr> {
    decision::ActiveModel {
        case_number: Set(case_number.to_owned()),
        outcome: Set(outcome.to_owned()),
        endorsement: Set(endorsement.map(|e| serde_json::to_string(e).unwrap_or_default())),
        legal_basis: Set(legal_basis.map(str::to_owned)),
        reasons: Set(serde_json::to_string(reasons).unwrap_or_else(|_| "[]".into())),
        decided_at: Set(now),
        reversed_at: Set(None),
        reversal_reason: Set(None),
        reversed_by: Set(None),
    }
    .insert(txn)
    .await?;
    Ok(())
}
