//! Closes the review of a case its applicant withdrew: its manual review task leaves the
//! town's queue and no reviewer works on it any more.

use chrono::{DateTime, Utc};
use residence_audit::Entry;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, Outcome, consumer};
use residence_events::{self as events, DecisionWithdrawn};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, Set,
};

use crate::entity::{outcome, review, task, task_state};

/// Durable consumer name.
pub const CONSUMER: &str = "review-withdrawn-cases";
/// Subjects consumed.
pub const SUBJECTS: &[&str] = &[events::DECISION_WITHDRAWN.subject];

/// Closes reviews on `residence.v1.decision.withdrawn`. Idempotent: each event is claimed in
/// the inbox, and only an open task (waiting, claimed or returned) closes. A case with no open
/// task (it passed the checks, or a reviewer finished with it) needs nothing.
#[derive(Debug)]
pub struct WithdrawalHandler {
    pub db: DatabaseConnection,
}

impl Handler for WithdrawalHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let withdrawn: DecisionWithdrawn = match event.json() {
            Ok(withdrawn) => withdrawn,
            Err(outcome) => return outcome,
        };
        match self.close(event, withdrawn).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl WithdrawalHandler {
    async fn close(
        &self,
        event: &Incoming,
        withdrawn: DecisionWithdrawn,
    ) -> Result<Outcome, DbErr> {
        let case_number = withdrawn.case_number;
        let now = Utc::now();
        let txn = begin_write(&self.db).await?;
        if !consumer::claim(&txn, CONSUMER, &event.id).await? {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }
        let reviewed = review::Entity::find_by_id(case_number.clone())
            .one(&txn)
            .await?;
        let open_task = task::Entity::find_by_id(case_number.clone())
            .one(&txn)
            .await?
            .filter(|task| task_state::OPEN.contains(&task.state.as_str()));

        let reason = match (reviewed, open_task) {
            (None, _) => {
                // The acceptance has yet to reach review (it lags behind): a review recorded
                // as withdrawn makes it queue nothing when it comes.
                record_early(&txn, &case_number, now).await?;
                "withdrawn before the checks ran".to_owned()
            }
            (Some(reviewed), Some(task)) => {
                let was = task.state.clone();
                close_task(&txn, reviewed, task, now).await?;
                format!("the task was {was}")
            }
            (Some(_), None) => {
                txn.commit().await?;
                return Ok(Outcome::Done);
            }
        };
        let entry = Entry::system(&case_number, "review", "review.withdrawn")
            .because(format!("the applicant withdrew the application; {reason}"));
        residence_audit::append(&txn, &entry, now).await?;
        txn.commit().await?;
        tracing::info!(case.number = %case_number, "withdrawn case closed in review");
        Ok(Outcome::Done)
    }
}

/// Records the review of a case withdrawn before the checks ran.
async fn record_early<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    review::ActiveModel {
        case_number: Set(case_number.to_owned()),
        outcome: Set(outcome::WITHDRAWN.to_owned()),
        findings: Set("[]".to_owned()),
        reviewed_at: Set(now),
        town_code: Set(None),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Takes an open task out of the queue and ends its review.
async fn close_task<C: ConnectionTrait>(
    txn: &C,
    reviewed: review::Model,
    task: task::Model,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut active = task.into_active_model();
    active.state = Set(task_state::WITHDRAWN.to_owned());
    active.claimed_by = Set(None);
    active.updated_at = Set(now);
    active.update(txn).await?;
    let mut active = reviewed.into_active_model();
    active.outcome = Set(outcome::WITHDRAWN.to_owned());
    active.reviewed_at = Set(now);
    active.update(txn).await?;
    Ok(())
}
