//! Reviews accepted applications as they arrive: a case with no finding passes on to the
//! decision at once; a case with findings waits in its town's queue for a reviewer.

use std::sync::Arc;

use chrono::Utc;
use residence_audit::Entry;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle, consumer};
use residence_events::{
    self as events, ApplicationAccepted, Finding, ReviewCompleted, ReviewOutcome, ReviewQueued,
};
use residence_item::ServiceItem;
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, Set};

use crate::entity::{outcome, review, task, task_state};
use crate::store::to_json;

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
        let town = self.item.town_for(&application.residence_address);
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
        let stored = if findings.is_empty() {
            outcome::PASSED
        } else {
            outcome::PENDING
        };
        review::ActiveModel {
            case_number: Set(case_number.clone()),
            outcome: Set(stored.to_owned()),
            findings: Set(to_json(&findings)?),
            reviewed_at: Set(now),
            town_code: Set(Some(town.code.clone())),
        }
        .insert(&txn)
        .await?;
        let codes: Vec<String> = findings.iter().map(|f| f.code.clone()).collect();
        let checked = Entry::system(&case_number, "review", "review.checked");
        let reason = if codes.is_empty() {
            "no finding: passed".to_owned()
        } else {
            format!("to the review queue of {}: {}", town.code, codes.join(", "))
        };
        residence_audit::append(&txn, &checked.because(reason), now).await?;

        if findings.is_empty() {
            let completed = ReviewCompleted {
                application,
                outcome: ReviewOutcome::Passed,
                findings,
                reviewed_at: now,
            };
            self.outbox
                .enqueue(&txn, events::REVIEW_COMPLETED, &case_number, &completed)
                .await?;
        } else {
            self.queue(&txn, application, &findings, &town.code, now)
                .await?;
            let queued = ReviewQueued {
                case_number: case_number.clone(),
                town_code: town.code.clone(),
                findings: codes,
                queued_at: now,
            };
            self.outbox
                .enqueue(&txn, events::REVIEW_QUEUED, &case_number, &queued)
                .await?;
        }
        txn.commit().await?;
        self.relay.notify();
        tracing::info!(case.number = %case_number, outcome = stored, town = %town.code, "case reviewed");
        Ok(Outcome::Done)
    }

    async fn queue<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        application: events::Application,
        findings: &[Finding],
        town_code: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), DbErr> {
        task::ActiveModel {
            case_number: Set(application.case_number.clone()),
            town_code: Set(town_code.to_owned()),
            state: Set(task_state::WAITING.to_owned()),
            findings: Set(to_json(findings)?),
            application: Set(to_json(&application)?.into()),
            claimed_by: Set(None),
            returned_once: Set(false),
            supplied: Set("[]".to_owned()),
            decided_by: Set(None),
            note: Set(None),
            queued_at: Set(now),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
        Ok(())
    }
}

/// Stored and logged name of an outcome.
pub fn outcome_code(outcome: ReviewOutcome) -> &'static str {
    match outcome {
        ReviewOutcome::Passed => outcome::PASSED,
        ReviewOutcome::Failed => outcome::REFERRED,
    }
}
