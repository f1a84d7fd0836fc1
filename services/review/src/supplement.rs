//! Puts a case the applicant supplemented back in its town's review queue, with what they
//! supplied, for a reviewer to check again.

use chrono::Utc;
use residence_audit::Entry;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, Outcome, consumer};
use residence_events::{self as events, ApplicationSupplemented};
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, Set};

use crate::entity::{task, task_state};
use crate::store::to_json;

/// Durable consumer name.
pub const CONSUMER: &str = "review-supplemented-applications";
/// Subjects consumed.
pub const SUBJECTS: &[&str] = &[events::APPLICATION_SUPPLEMENTED.subject];

/// Re-queues returned cases on `residence.v1.application.supplemented`. Idempotent: each
/// event is claimed in the inbox, and only a returned task moves.
#[derive(Debug)]
pub struct SupplementHandler {
    pub db: DatabaseConnection,
}

impl Handler for SupplementHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let supplemented: ApplicationSupplemented = match event.json() {
            Ok(supplemented) => supplemented,
            Err(outcome) => return outcome,
        };
        match self.requeue(event, supplemented).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl SupplementHandler {
    async fn requeue(
        &self,
        event: &Incoming,
        supplemented: ApplicationSupplemented,
    ) -> Result<Outcome, DbErr> {
        let case_number = supplemented.case_number.clone();
        let now = Utc::now();
        let txn = begin_write(&self.db).await?;
        if !consumer::claim(&txn, CONSUMER, &event.id).await? {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }
        let Some(task) = task::Entity::find_by_id(case_number.clone())
            .one(&txn)
            .await?
        else {
            return Ok(Outcome::Poison(format!(
                "no review task for case {case_number}"
            )));
        };
        if task.state != task_state::RETURNED {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }
        let mut active = task.into_active_model();
        active.state = Set(task_state::WAITING.to_owned());
        active.supplied = Set(to_json(&supplemented.materials)?);
        active.updated_at = Set(now);
        active.update(&txn).await?;
        let entry = Entry::system(&case_number, "review", "review.requeued")
            .because(format!("supplied: {}", supplemented.materials.join(", ")));
        residence_audit::append(&txn, &entry, now).await?;
        txn.commit().await?;
        tracing::info!(case.number = %case_number, "supplemented case back in the review queue");
        Ok(Outcome::Done)
    }
}
