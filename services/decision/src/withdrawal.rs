//! Ends undecided cases at their applicant's request (撤回申请). The decision service alone
//! says whether a case was decided or withdrawn: both insert the case's one `decisions` row, so
//! whichever commits first stands and the other changes nothing.

use chrono::Utc;
use residence_audit::Entry;
use residence_eventing::db::{begin_write, is_unique_violation};
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle, consumer};
use residence_events::{self as events, CaseWithdrawalRequested};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};

use crate::entity::decision;
use crate::store;

/// Durable consumer name.
pub const CONSUMER: &str = "decision-withdrawals";
/// Subjects consumed.
pub const SUBJECTS: &[&str] = &[events::CASE_WITHDRAWAL_REQUESTED.subject];

/// Withdraws on `residence.v1.case.withdrawal_requested` and answers with
/// `residence.v1.decision.withdrawn`, unless the case was decided first: then its decision
/// event is the answer and nothing more is published. Idempotent: each event is claimed in the
/// inbox, and a case is withdrawn at most once.
#[derive(Debug)]
pub struct WithdrawalHandler {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
}

impl Handler for WithdrawalHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let requested: CaseWithdrawalRequested = match event.json() {
            Ok(requested) => requested,
            Err(outcome) => return outcome,
        };
        let case_number = requested.case_number.clone();
        match self.withdraw(event, requested).await {
            Ok(outcome) => outcome,
            // A decision committed first (only PostgreSQL lets writers overlap): it stands.
            Err(error) if is_unique_violation(&error) => {
                tracing::info!(case.number = %case_number, "withdrawal came after the decision");
                Outcome::Done
            }
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl WithdrawalHandler {
    async fn withdraw(
        &self,
        event: &Incoming,
        requested: CaseWithdrawalRequested,
    ) -> Result<Outcome, DbErr> {
        let case_number = requested.case_number.clone();
        let now = Utc::now();

        let txn = begin_write(&self.db).await?;
        let decided = decision::Entity::find_by_id(case_number.clone())
            .one(&txn)
            .await?;
        if !consumer::claim(&txn, CONSUMER, &event.id).await? {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }
        if let Some(decided) = decided {
            // Intake learns the outcome from the decision's own event, published already.
            txn.commit().await?;
            tracing::info!(
                case.number = %case_number,
                outcome = %decided.outcome,
                "withdrawal came after the decision"
            );
            return Ok(Outcome::Done);
        }

        let withdrawn = store::withdraw(&txn, &self.outbox, &requested, now).await?;
        let entry = Entry::system(&case_number, "decision", store::audit_code(&withdrawn));
        residence_audit::append(&txn, &entry.because(requested.reason), now).await?;
        txn.commit().await?;
        self.relay.notify();
        // The reason stays out of the log: it is the applicant's own words.
        tracing::info!(case.number = %case_number, "case withdrawn at the applicant's request");
        Ok(Outcome::Done)
    }
}
