//! The manual review queue's writes. Each one re-reads the task inside its transaction, checks
//! that the reviewer may act on it, changes it, enqueues what follows and appends to the case's
//! audit trail, all in one transaction.

use chrono::{DateTime, Utc};
use residence_audit::Entry;
use residence_eventing::db::begin_write;
use residence_eventing::{OutboxWriter, RelayHandle};
use residence_events::{
    self as events, Application, Finding, ReasonItem, ReviewCompleted, ReviewOutcome,
    ReviewSupplementRequested,
};
use residence_rules::materials::MaterialKind;
use residence_staff::Staff;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};
use tonic::Status;

use crate::entity::{outcome, review, task, task_state};

/// What a reviewer does with a case.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Take it from the queue.
    Claim,
    /// Put it back, saying why (may be empty).
    Release { reason: String },
    /// Clear the findings: the decision follows by itself.
    Approve { note: String },
    /// 补正: one notice of everything missing.
    Return {
        missing: Vec<MaterialKind>,
        note: String,
    },
    /// Refer with findings to the deciding officer.
    Refer { findings: Vec<Finding> },
}

impl Action {
    fn audit_code(&self) -> &'static str {
        match self {
            Self::Claim => "review.claimed",
            Self::Release { .. } => "review.released",
            Self::Approve { .. } => "review.approved",
            Self::Return { .. } => "review.returned",
            Self::Refer { .. } => "review.referred",
        }
    }
}

/// Why an action was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("no case under manual review with this number")]
    NotFound,
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
            Refused::Scope(status) => status,
            Refused::Precondition(message) => Status::failed_precondition(message),
            Refused::Database(error) => residence_runtime::grpc::internal(error),
        }
    }
}

/// The queue and what it needs to pass cases on.
#[derive(Debug, Clone)]
pub struct Queue {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
}

impl Queue {
    /// Applies `action` by `staff` to the task of `case_number` and returns the task as it
    /// stands afterwards. Repeating an action that already took effect changes nothing.
    pub async fn act(
        &self,
        staff: &Staff,
        case_number: &str,
        action: Action,
    ) -> Result<task::Model, Refused> {
        let now = Utc::now();
        let txn = begin_write(&self.db).await?;
        let task = task::Entity::find_by_id(case_number.to_owned())
            .one(&txn)
            .await?
            .ok_or(Refused::NotFound)?;
        staff
            .require_area(&task.town_code)
            .map_err(Refused::Scope)?;
        if already_done(&task, staff, &action) {
            txn.commit().await?;
            return Ok(task);
        }
        check_may_act(&task, staff, &action)?;

        let reason = self.apply(&txn, &task, staff, &action, now).await?;
        let updated = update(&txn, task, staff, &action, now).await?;
        let entry = Entry::new(
            case_number,
            &staff.id,
            staff.role.code(),
            action.audit_code(),
        );
        residence_audit::append(&txn, &entry.because(reason), now).await?;
        txn.commit().await?;
        self.relay.notify();
        tracing::info!(
            case.number = %case_number,
            staff.id = %staff.id,
            action = action.audit_code(),
            "manual review step"
        );
        Ok(updated)
    }

    /// What follows from `action` besides the task itself: the review's outcome and the
    /// events. Returns the audit reason.
    async fn apply<C: ConnectionTrait>(
        &self,
        txn: &C,
        task: &task::Model,
        staff: &Staff,
        action: &Action,
        now: DateTime<Utc>,
    ) -> Result<String, DbErr> {
        let case_number = task.case_number.as_str();
        match action {
            Action::Claim => Ok(String::new()),
            Action::Release { reason } => Ok(reason.clone()),
            Action::Approve { note } => {
                finish_review(txn, case_number, outcome::PASSED, &[], now).await?;
                self.complete(txn, task, ReviewOutcome::Passed, Vec::new(), now)
                    .await?;
                Ok(note.clone())
            }
            Action::Return { missing, note } => {
                let requested = ReviewSupplementRequested {
                    case_number: case_number.to_owned(),
                    missing: notice(missing, note),
                    requested_by: staff.id.clone(),
                    requested_at: now,
                };
                let event = events::REVIEW_SUPPLEMENT_REQUESTED;
                self.outbox
                    .enqueue(txn, event, case_number, &requested)
                    .await?;
                let kinds: Vec<&str> = missing.iter().map(MaterialKind::code).collect();
                Ok(format!("{}: {note}", kinds.join(", ")))
            }
            Action::Refer { findings } => {
                finish_review(txn, case_number, outcome::REFERRED, findings, now).await?;
                self.complete(txn, task, ReviewOutcome::Failed, findings.to_vec(), now)
                    .await?;
                let codes: Vec<&str> = findings.iter().map(|f| f.code.as_str()).collect();
                Ok(codes.join(", "))
            }
        }
    }

    async fn complete<C: ConnectionTrait>(
        &self,
        txn: &C,
        task: &task::Model,
        outcome: ReviewOutcome,
        findings: Vec<Finding>,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let application: Application = from_json(&task.application)?;
        let completed = ReviewCompleted {
            application,
            outcome,
            findings,
            reviewed_at: now,
        };
        self.outbox
            .enqueue(txn, events::REVIEW_COMPLETED, &task.case_number, &completed)
            .await?;
        Ok(())
    }

    /// The open tasks of the towns under `area`, oldest first.
    pub async fn open_tasks(&self, area: &str, limit: u64) -> Result<Vec<task::Model>, DbErr> {
        task::Entity::find()
            .filter(task::Column::State.is_in(task_state::OPEN))
            .filter(task::Column::TownCode.starts_with(area))
            .order_by_asc(task::Column::QueuedAt)
            .limit(limit)
            .all(&self.db)
            .await
    }
}

/// The one notice: every missing material, then the reviewer's note.
fn notice(missing: &[MaterialKind], note: &str) -> Vec<ReasonItem> {
    let mut items: Vec<ReasonItem> = missing
        .iter()
        .map(|kind| ReasonItem {
            code: "material_missing".into(),
            field: "materials".into(),
            message: format!("审核需补正材料：{}", kind.name_zh()),
        })
        .collect();
    items.push(ReasonItem {
        code: "review_note".into(),
        field: String::new(),
        message: format!("审核意见：{note}"),
    });
    items
}

/// Whether `action` by `staff` already took effect, so repeating it changes nothing.
fn already_done(task: &task::Model, staff: &Staff, action: &Action) -> bool {
    let by_staff = |who: &Option<String>| who.as_deref() == Some(staff.id.as_str());
    match action {
        Action::Claim => task.state == task_state::CLAIMED && by_staff(&task.claimed_by),
        Action::Approve { .. } => task.state == task_state::APPROVED && by_staff(&task.decided_by),
        Action::Refer { .. } => task.state == task_state::REFERRED && by_staff(&task.decided_by),
        Action::Release { .. } | Action::Return { .. } => false,
    }
}

/// Refuses `action` unless the task is in a state that allows it for `staff`.
fn check_may_act(task: &task::Model, staff: &Staff, action: &Action) -> Result<(), Refused> {
    if task.state == task_state::WITHDRAWN {
        return Err(Refused::Precondition(
            "the applicant withdrew the application; the case is closed".to_owned(),
        ));
    }
    if *action == Action::Claim {
        return match task.state.as_str() {
            task_state::WAITING => Ok(()),
            task_state::CLAIMED => Err(Refused::Precondition(format!(
                "the case is held by reviewer {}",
                task.claimed_by.as_deref().unwrap_or("unknown")
            ))),
            state => Err(Refused::Precondition(format!(
                "the case is {state}, not waiting for a reviewer"
            ))),
        };
    }
    let held_by_staff =
        task.state == task_state::CLAIMED && task.claimed_by.as_deref() == Some(staff.id.as_str());
    if !held_by_staff {
        return Err(Refused::Precondition(match task.state.as_str() {
            task_state::WAITING => "claim the case first".to_owned(),
            task_state::CLAIMED => format!(
                "the case is held by reviewer {}",
                task.claimed_by.as_deref().unwrap_or("unknown")
            ),
            state => format!("the case is {state}"),
        }));
    }
    if matches!(action, Action::Return { .. }) && task.returned_once {
        return Err(Refused::Precondition(
            "the case was returned for supplement once already: one notice lists everything \
             (一次性告知); approve or refer it"
                .to_owned(),
        ));
    }
    Ok(())
}

async fn update<C: ConnectionTrait>(
    txn: &C,
    task: task::Model,
    staff: &Staff,
    action: &Action,
    now: DateTime<Utc>,
) -> Result<task::Model, DbErr> {
    let mut active = task.into_active_model();
    active.updated_at = Set(now);
    match action {
        Action::Claim => {
            active.state = Set(task_state::CLAIMED.to_owned());
            active.claimed_by = Set(Some(staff.id.clone()));
        }
        Action::Release { .. } => {
            active.state = Set(task_state::WAITING.to_owned());
            active.claimed_by = Set(None);
        }
        Action::Approve { note } => {
            active.state = Set(task_state::APPROVED.to_owned());
            active.decided_by = Set(Some(staff.id.clone()));
            active.note = Set(Some(note.clone()));
        }
        Action::Return { note, .. } => {
            active.state = Set(task_state::RETURNED.to_owned());
            active.claimed_by = Set(None);
            active.returned_once = Set(true);
            active.note = Set(Some(note.clone()));
        }
        Action::Refer { findings } => {
            active.state = Set(task_state::REFERRED.to_owned());
            active.decided_by = Set(Some(staff.id.clone()));
            let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
            active.note = Set(Some(messages.join("；")));
        }
    }
    active.update(txn).await
}

/// Records the review's final outcome and findings.
async fn finish_review<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
    outcome: &str,
    findings: &[Finding],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let Some(row) = review::Entity::find_by_id(case_number.to_owned())
        .one(txn)
        .await?
    else {
        return Err(DbErr::RecordNotFound(format!("review of {case_number}")));
    };
    let mut active = row.into_active_model();
    active.outcome = Set(outcome.to_owned());
    if !findings.is_empty() {
        active.findings = Set(to_json(findings)?);
    }
    active.reviewed_at = Set(now);
    active.update(txn).await?;
    Ok(())
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

    fn task_in(state: &str, claimed_by: Option<&str>) -> task::Model {
        task::Model {
            case_number: "C-1".into(),
            town_code: "412824101".into(),
            state: state.into(),
            findings: "[]".into(),
            application: "{}".into(),
            claimed_by: claimed_by.map(str::to_owned),
            returned_once: false,
            supplied: "[]".into(),
            decided_by: None,
            note: None,
            queued_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn reviewer() -> Staff {
        Staff {
            id: "reviewer-1".into(),
            role: Role::Reviewer,
            scope: Scope::parse("412824").unwrap(),
        }
    }

    fn every_action() -> [Action; 5] {
        [
            Action::Claim,
            Action::Release {
                reason: String::new(),
            },
            Action::Approve {
                note: "经核实".into(),
            },
            Action::Return {
                missing: vec![MaterialKind::ProofOfResidence],
                note: "不清晰".into(),
            },
            Action::Refer {
                findings: Vec::new(),
            },
        ]
    }

    #[test]
    fn nobody_acts_on_a_withdrawn_task() {
        let withdrawn = task_in(task_state::WITHDRAWN, None);
        for action in every_action() {
            assert!(!already_done(&withdrawn, &reviewer(), &action));
            let refused = check_may_act(&withdrawn, &reviewer(), &action).unwrap_err();
            assert!(
                refused.to_string().contains("withdrew"),
                "{action:?}: {refused}"
            );
        }
    }

    #[test]
    fn the_holder_of_a_claimed_task_may_finish_it() {
        let claimed = task_in(task_state::CLAIMED, Some("reviewer-1"));
        assert!(already_done(&claimed, &reviewer(), &Action::Claim));
        for action in every_action().into_iter().skip(1) {
            assert!(
                check_may_act(&claimed, &reviewer(), &action).is_ok(),
                "{action:?}"
            );
        }
    }
}
