//! Decides reviewed cases as they arrive: a case that passed review by the rules at once, a
//! case referred with findings by waiting for the deciding officer.

use std::sync::Arc;

use chrono::Utc;
use residence_audit::Entry;
use residence_eventing::db::{begin_write, is_unique_violation};
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle, consumer};
use residence_events::{self as events, ReviewCompleted, ReviewOutcome};
use residence_item::ServiceItem;
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, Set};

use crate::decide::decide;
use crate::entity::{decision, pending, pending_state};
use crate::store::{self, to_json};

/// Durable consumer name.
pub const CONSUMER: &str = "decision-reviewed-cases";
/// Subjects consumed.
pub const SUBJECTS: &[&str] = &[events::REVIEW_COMPLETED.subject];

/// Decides on `residence.v1.review.completed`. Idempotent: one decision, or one wait for the
/// officer, per case. A case its applicant withdrew keeps its withdrawal and is not decided.
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
            // The case was withdrawn or decided meanwhile (only PostgreSQL lets writers
            // overlap): that stands.
            Err(error) if is_unique_violation(&error) => Outcome::Done,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl DecisionHandler {
    async fn decide(&self, event: &Incoming, review: ReviewCompleted) -> Result<Outcome, DbErr> {
        let case_number = review.application.case_number.clone();
        let town = self.item.town_for(&review.application.residence_address);
        let now = Utc::now();

        let txn = begin_write(&self.db).await?;
        // Decided, or withdrawn by the applicant before review finished.
        let already_decided = decision::Entity::find_by_id(case_number.clone())
            .one(&txn)
            .await?
            .is_some();
        let already_waiting = pending::Entity::find_by_id(case_number.clone())
            .one(&txn)
            .await?
            .is_some();
        let first = consumer::claim(&txn, CONSUMER, &event.id).await?;
        if !first || already_decided || already_waiting {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }

        let outcome = if review.outcome == ReviewOutcome::Failed {
            // Referred with findings: the deciding officer decides.
            pending::ActiveModel {
                case_number: Set(case_number.clone()),
                town_code: Set(town.code.clone()),
                state: Set(pending_state::PENDING.to_owned()),
                application: Set(to_json(&review.application)?.into()),
                findings: Set(to_json(&review.findings)?),
                referred_at: Set(now),
                decided_at: Set(None),
            }
            .insert(&txn)
            .await?;
            let codes: Vec<&str> = review.findings.iter().map(|f| f.code.as_str()).collect();
            let waiting = Entry::system(&case_number, "decision", "decision.awaiting_officer")
                .because(codes.join(", "));
            residence_audit::append(&txn, &waiting, now).await?;
            "awaiting officer"
        } else {
            let decision = decide(&review.application, &self.item);
            let decided = store::Decided {
                application: review.application,
                decision,
                decided_by: None,
                town_code: town.code.clone(),
            };
            let recorded = store::record(&txn, &self.outbox, decided, now).await?;
            let entry = Entry::system(&case_number, "decision", store::audit_code(&recorded));
            let reason = recorded.legal_basis.clone().unwrap_or_default();
            residence_audit::append(&txn, &entry.because(reason), now).await?;
            if recorded.outcome == store::APPROVED {
                "approved"
            } else {
                "denied"
            }
        };
        txn.commit().await?;
        self.relay.notify();
        tracing::info!(case.number = %case_number, outcome, "case decided");
        Ok(Outcome::Done)
    }
}
