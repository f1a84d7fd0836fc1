//! Decision's writes: recording a decision with its event, by the rules or by the deciding
//! officer, or a withdrawal instead of one, and the officer's queue of referred cases.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use residence_audit::Entry;
use residence_eventing::db::{begin_write, is_unique_violation};
use residence_eventing::{OutboxWriter, RelayHandle};
use residence_events::{
    self as events, Application, CaseWithdrawalRequested, DecisionApproved, DecisionDenied,
    DecisionWithdrawn,
};
use residence_item::ServiceItem;
use residence_staff::Staff;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};
use tonic::Status;

use crate::decide::{Decision, endorse};
use crate::entity::{decision, pending, pending_state};

/// Stored outcome of an approval.
pub const APPROVED: &str = "approved";
/// Stored outcome of a denial.
pub const DENIED: &str = "denied";
/// Stored outcome of a case its applicant withdrew before any decision (撤回申请).
pub const WITHDRAWN: &str = "withdrawn";

/// A decision about to be recorded.
#[derive(Debug)]
pub struct Decided {
    pub application: Application,
    pub decision: Decision,
    /// The deciding officer; `None` when the rules decided alone.
    pub decided_by: Option<String>,
    pub town_code: String,
}

/// Records `decided` and enqueues `residence.v1.decision.approved` or `.denied`.
pub async fn record<C: ConnectionTrait>(
    txn: &C,
    outbox: &OutboxWriter,
    decided: Decided,
    now: DateTime<Utc>,
) -> Result<decision::Model, DbErr> {
    let case_number = decided.application.case_number.clone();
    let mut row = decision::ActiveModel {
        case_number: Set(case_number.clone()),
        decided_at: Set(now),
        reversed_at: Set(None),
        reversal_reason: Set(None),
        reversed_by: Set(None),
        decided_by: Set(decided.decided_by),
        town_code: Set(Some(decided.town_code)),
        ..Default::default()
    };
    match decided.decision {
        Decision::Approve(endorsement) => {
            row.outcome = Set(APPROVED.to_owned());
            row.endorsement = Set(Some(to_json(&endorsement)?.into()));
            row.legal_basis = Set(None);
            row.reasons = Set("[]".to_owned());
            let approved = DecisionApproved {
                application: decided.application,
                endorsement,
                decided_at: now,
            };
            outbox
                .enqueue(txn, events::DECISION_APPROVED, &case_number, &approved)
                .await?;
        }
        Decision::Deny {
            legal_basis,
            reasons,
        } => {
            row.outcome = Set(DENIED.to_owned());
            row.endorsement = Set(None);
            row.legal_basis = Set(Some(legal_basis.clone()));
            row.reasons = Set(to_json(&reasons)?);
            let denied = DecisionDenied {
                case_number: case_number.clone(),
                legal_basis,
                reasons,
                decided_at: now,
            };
            outbox
                .enqueue(txn, events::DECISION_DENIED, &case_number, &denied)
                .await?;
        }
    }
    row.insert(txn).await
}

/// Records the withdrawal of an undecided case instead of a decision, closes its wait for the
/// officer if it has one, and enqueues `residence.v1.decision.withdrawn`. Fails with a unique
/// violation when a decision was recorded meanwhile: that decision stands.
pub async fn withdraw<C: ConnectionTrait>(
    txn: &C,
    outbox: &OutboxWriter,
    requested: &CaseWithdrawalRequested,
    now: DateTime<Utc>,
) -> Result<decision::Model, DbErr> {
    let case_number = requested.case_number.clone();
    let waiting = pending::Entity::find_by_id(case_number.clone())
        .one(txn)
        .await?;
    let withdrawn = decision::ActiveModel {
        case_number: Set(case_number.clone()),
        outcome: Set(WITHDRAWN.to_owned()),
        endorsement: Set(None),
        legal_basis: Set(None),
        reasons: Set("[]".to_owned()),
        decided_at: Set(now),
        reversed_at: Set(None),
        reversal_reason: Set(None),
        reversed_by: Set(None),
        decided_by: Set(None),
        town_code: Set(waiting.as_ref().map(|w| w.town_code.clone())),
    }
    .insert(txn)
    .await?;

    if let Some(waiting) = waiting {
        let mut active = waiting.into_active_model();
        active.state = Set(pending_state::WITHDRAWN.to_owned());
        active.decided_at = Set(Some(now));
        active.update(txn).await?;
    }
    let event = DecisionWithdrawn {
        case_number: case_number.clone(),
        reason: requested.reason.clone(),
        withdrawn_at: now,
    };
    outbox
        .enqueue(txn, events::DECISION_WITHDRAWN, &case_number, &event)
        .await?;
    Ok(withdrawn)
}

/// The audit action of a recorded decision.
pub fn audit_code(decision: &decision::Model) -> &'static str {
    match decision.outcome.as_str() {
        APPROVED => "decision.approved",
        WITHDRAWN => "decision.withdrawn",
        _ => "decision.denied",
    }
}

/// What the deciding officer rules on a referred case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ruling {
    /// Approve despite the findings, saying why.
    Approve { note: String },
    /// Deny on this legal basis, for these reasons.
    Deny {
        legal_basis: String,
        reasons: Vec<String>,
    },
}

/// Why a ruling was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("no referred case waiting for the deciding officer with this number")]
    NotFound,
    #[error("the applicant withdrew the application")]
    Withdrawn,
    #[error("{0}")]
    Scope(Status),
    #[error("{0}")]
    Precondition(String),
    #[error(transparent)]
    Database(#[from] DbErr),
}

impl From<Refused> for Status {
    fn from(refused: Refused) -> Status {
        match refused {
            Refused::NotFound => Status::not_found(refused.to_string()),
            Refused::Withdrawn => Status::failed_precondition(refused.to_string()),
            Refused::Scope(status) => status,
            Refused::Precondition(message) => Status::failed_precondition(message),
            Refused::Database(error) => residence_runtime::grpc::internal(error),
        }
    }
}

/// The deciding officer's desk: referred cases and rulings on them.
#[derive(Debug, Clone)]
pub struct Officer {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    pub item: Arc<ServiceItem>,
}

impl Officer {
    /// Records `ruling` by `staff` on the referred case `case_number`. Repeating the same
    /// ruling returns the decision unchanged; a case the applicant withdrew is refused.
    pub async fn rule(
        &self,
        staff: &Staff,
        case_number: &str,
        ruling: Ruling,
    ) -> Result<decision::Model, Refused> {
        match self.rule_once(staff, case_number, ruling.clone()).await {
            // A withdrawal or another ruling committed first; only PostgreSQL lets writers
            // overlap. Its decision is the answer.
            Err(Refused::Database(error)) if is_unique_violation(&error) => {
                let made = decision::Entity::find_by_id(case_number.to_owned())
                    .one(&self.db)
                    .await?
                    .ok_or(Refused::NotFound)?;
                repeated(made, staff, &ruling)
            }
            result => result,
        }
    }

    async fn rule_once(
        &self,
        staff: &Staff,
        case_number: &str,
        ruling: Ruling,
    ) -> Result<decision::Model, Refused> {
        let now = Utc::now();
        let txn = begin_write(&self.db).await?;
        let found = pending::Entity::find_by_id(case_number.to_owned())
            .one(&txn)
            .await?;
        let Some(waiting) = found else {
            // A case withdrawn before a reviewer referred it never waited for the officer.
            let made = decision::Entity::find_by_id(case_number.to_owned())
                .one(&txn)
                .await?;
            let withdrawn = made.is_some_and(|made| made.outcome == WITHDRAWN);
            return Err(if withdrawn {
                Refused::Withdrawn
            } else {
                Refused::NotFound
            });
        };
        staff
            .require_area(&waiting.town_code)
            .map_err(Refused::Scope)?;
        if waiting.state != pending_state::PENDING {
            let made = decision::Entity::find_by_id(case_number.to_owned())
                .one(&txn)
                .await?
                .ok_or(Refused::NotFound)?;
            txn.commit().await?;
            return repeated(made, staff, &ruling);
        }

        let application: Application = from_json(&waiting.application)?;
        let (decision, reason) = match ruling {
            Ruling::Approve { note } => match endorse(&application, &self.item) {
                Ok(endorsement) => (Decision::Approve(endorsement), note),
                Err(why) => {
                    return Err(Refused::Precondition(format!(
                        "the rules allow no endorsement ({why}); deny the case instead"
                    )));
                }
            },
            Ruling::Deny {
                legal_basis,
                reasons,
            } => {
                let reason = format!("{legal_basis}: {}", reasons.join("；"));
                let decision = Decision::Deny {
                    legal_basis,
                    reasons,
                };
                (decision, reason)
            }
        };
        let decided = Decided {
            application,
            decision,
            decided_by: Some(staff.id.clone()),
            town_code: waiting.town_code.clone(),
        };
        let made = record(&txn, &self.outbox, decided, now).await?;
        let mut active = waiting.into_active_model();
        active.state = Set(pending_state::DECIDED.to_owned());
        active.decided_at = Set(Some(now));
        active.update(&txn).await?;
        let entry = Entry::new(case_number, &staff.id, staff.role.code(), audit_code(&made));
        residence_audit::append(&txn, &entry.because(reason), now).await?;
        txn.commit().await?;
        self.relay.notify();
        tracing::info!(
            case.number = %case_number,
            staff.id = %staff.id,
            outcome = %made.outcome,
            "referred case decided by the officer"
        );
        Ok(made)
    }

    /// The referred cases waiting in the towns under `area`, oldest first.
    pub async fn waiting(&self, area: &str, limit: u64) -> Result<Vec<pending::Model>, DbErr> {
        // A withdrawal that overlapped the referral on PostgreSQL may leave a row pending.
        let decided = Query::select()
            .column(decision::Column::CaseNumber)
            .from(decision::Entity)
            .to_owned();
        pending::Entity::find()
            .filter(pending::Column::State.eq(pending_state::PENDING))
            .filter(pending::Column::CaseNumber.not_in_subquery(decided))
            .filter(pending::Column::TownCode.starts_with(area))
            .order_by_asc(pending::Column::ReferredAt)
            .limit(limit)
            .all(&self.db)
            .await
    }
}

/// A ruling on a case decided already: the same ruling by the same officer gets the decision
/// back, anything else is refused, and any ruling on a withdrawn case.
fn repeated(
    made: decision::Model,
    staff: &Staff,
    ruling: &Ruling,
) -> Result<decision::Model, Refused> {
    if made.outcome == WITHDRAWN {
        return Err(Refused::Withdrawn);
    }
    let wanted = match ruling {
        Ruling::Approve { .. } => APPROVED,
        Ruling::Deny { .. } => DENIED,
    };
    if made.outcome == wanted && made.decided_by.as_deref() == Some(staff.id.as_str()) {
        return Ok(made);
    }
    Err(Refused::Precondition(format!(
        "the case was {} already by {}",
        made.outcome,
        made.decided_by.as_deref().unwrap_or("the rules")
    )))
}

/// Serialises a stored JSON column.
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, DbErr> {
    serde_json::to_string(value).map_err(|error| DbErr::Custom(format!("cannot encode: {error}")))
}

/// Reads a stored JSON column.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, DbErr> {
    serde_json::from_str(text).map_err(|error| DbErr::Custom(format!("cannot decode: {error}")))
}

#[cfg(test)]
mod tests {
    use residence_staff::{Role, Scope};

    use super::*;

    fn made(outcome: &str, decided_by: Option<&str>) -> decision::Model {
        decision::Model {
            case_number: "C-1".into(),
            outcome: outcome.into(),
            endorsement: None,
            legal_basis: None,
            reasons: "[]".into(),
            decided_at: Utc::now(),
            reversed_at: None,
            reversal_reason: None,
            reversed_by: None,
            decided_by: decided_by.map(str::to_owned),
            town_code: None,
        }
    }

    fn officer() -> Staff {
        Staff {
            id: "officer-7".into(),
            role: Role::Decider,
            scope: Scope::parse("412824").unwrap(),
        }
    }

    fn approve() -> Ruling {
        Ruling::Approve {
            note: "经核实".into(),
        }
    }

    fn deny() -> Ruling {
        Ruling::Deny {
            legal_basis: "《居住证暂行条例》第十条".into(),
            reasons: vec!["居住地址不在本县".into()],
        }
    }

    #[test]
    fn no_ruling_stands_on_a_withdrawn_case() {
        for ruling in [approve(), deny()] {
            let refused = repeated(made(WITHDRAWN, None), &officer(), &ruling).unwrap_err();
            let status = Status::from(refused);
            assert_eq!(status.code(), tonic::Code::FailedPrecondition);
            assert_eq!(status.message(), "the applicant withdrew the application");
        }
    }

    #[test]
    fn only_the_same_ruling_by_the_same_officer_repeats() {
        let approved = made(APPROVED, Some("officer-7"));
        assert_eq!(
            repeated(approved.clone(), &officer(), &approve()).unwrap(),
            approved
        );
        let refused = repeated(approved, &officer(), &deny()).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("approved already by officer-7")
        );
        let by_rules = made(DENIED, None);
        let refused = repeated(by_rules, &officer(), &deny()).unwrap_err();
        assert!(refused.to_string().contains("by the rules"), "{refused}");
    }

    #[test]
    fn every_outcome_has_its_audit_action() {
        assert_eq!(audit_code(&made(APPROVED, None)), "decision.approved");
        assert_eq!(audit_code(&made(DENIED, None)), "decision.denied");
        assert_eq!(audit_code(&made(WITHDRAWN, None)), "decision.withdrawn");
    }
}
