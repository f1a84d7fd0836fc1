//! Reviews accepted applications as they arrive.

use std::sync::Arc;

use chrono::Utc;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle, consumer};
use residence_events::{self as events, ApplicationAccepted, ReviewCompleted, ReviewOutcome};
use residence_item::ServiceItem;
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, Set};

use crate::entity::review;

/// Durable consumer name.
pub const CONSUMER: &str = "review-accepted-applications";
/// Subjects consumed.
pub const SUBJECTS: &[&str] = &[events::APPLICATION_ACCEPTED.subject];

/// Runs the checks on `residence.v1.application.accepted`. Idempotent: one review per case.
#[derive(Debug)]
pub struct ReviewHandler {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    pub item: Arc<ServiceItem>,
}

impl Handler for ReviewHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let accepted: ApplicationAccepted = match event.json() {
            Ok(accepted) => accepted,
            Err(outcome) => return outcome,
        };
        match self.review(event, accepted).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl ReviewHandler {
    async fn review(
        &self,
        event: &Incoming,
        accepted: ApplicationAccepted,
    ) -> Result<Outcome, DbErr> {
        let application = accepted.application;
        let case_number = application.case_number.clone();
        let findings = crate::checks::run(&application, &self.item);
        let outcome = if findings.is_empty() {
            ReviewOutcome::Passed
        } else {
            ReviewOutcome::Failed
        };
        let now = Utc::now();

        let txn = begin_write(&self.db).await?;
        let already_reviewed = review::Entity::find_by_id(case_number.clone())
            .one(&txn)
            .await?
            .is_some();
        if !consumer::claim(&txn, CONSUMER, &event.id).await? || already_reviewed {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }
        review::ActiveModel {
            case_number: Set(case_number.clone()),
            outcome: Set(outcome_code(outcome).to_owned()),
            findings: Set(serde_json::to_string(&findings).unwrap_or_else(|_| "[]".into())),
            reviewed_at: Set(now),
        }
        .insert(&txn)
        .await?;
        let completed = ReviewCompleted {
            application,
            outcome,
            findings,
            reviewed_at: now,
        };
        self.outbox
            .enqueue(&txn, events::REVIEW_COMPLETED, &case_number, &completed)
            .await?;
        txn.commit().await?;
        self.relay.notify();
        tracing::info!(case.number = %case_number, outcome = outcome_code(outcome), "case reviewed");
        Ok(Outcome::Done)
    }
}

/// Stored and logged name of an outcome.
pub fn outcome_code(outcome: ReviewOutcome) -> &'static str {
    match outcome {
        ReviewOutcome::Passed => "passed",
        ReviewOutcome::Failed => "failed",
    }
}
