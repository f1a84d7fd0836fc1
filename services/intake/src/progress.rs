//! Following a case through the later stages: intake owns the case and its status, so it
//! consumes what review, decision, delivery, courier and e-license report.

use std::sync::Arc;

use chrono::Utc;
use residence_audit::Entry;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, Outcome};
use residence_events::{
    self as events, DeliveryMethod, DeliveryOutcome, NotificationKind, ReasonItem,
};
use residence_item::ServiceItem;
use residence_runtime::SharedCalendar;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, QuerySelect, Set,
};

use crate::entity::case;
use crate::notify::{self, Notifier};
use crate::status;
use crate::store::{add_step_with_note, to_json};

/// Durable consumer name.
pub const CONSUMER: &str = "intake-case-progress";

/// Subjects this consumer follows.
pub const SUBJECTS: &[&str] = &[
    events::REVIEW_QUEUED.subject,
    events::REVIEW_SUPPLEMENT_REQUESTED.subject,
    events::REVIEW_COMPLETED.subject,
    events::DECISION_APPROVED.subject,
    events::DECISION_DENIED.subject,
    events::DELIVERY_STARTED.subject,
    events::DELIVERY_REROUTED.subject,
    events::DELIVERY_COMPLETED.subject,
    events::COURIER_DISPATCHED.subject,
    events::LICENSE_ISSUED.subject,
    events::DECISION_WITHDRAWN.subject,
];

/// What an event changes on a case.
#[derive(Debug, Default)]
struct Change {
    status: Option<&'static str>,
    new_valid_until: Option<chrono::NaiveDate>,
    parcel_reference: Option<String>,
    license_identifier: Option<String>,
    /// What the new step says, when it says more than its status does.
    note: Option<String>,
    /// The case was decided: its time-limit clocks stop.
    decided: bool,
    /// A reviewer returned the case for supplement with this notice: it waits on the
    /// applicant, and its time-limit clocks stand still.
    returned: Option<Vec<ReasonItem>>,
    /// What the applicant's message for the new status says besides the case number.
    values: Vec<(&'static str, String)>,
}

/// Applies progress events to cases. Idempotent: each event is claimed in the inbox.
#[derive(Debug)]
pub struct ProgressHandler {
    pub db: DatabaseConnection,
    /// The service item, for the names of the logistics partners.
    pub item: Arc<ServiceItem>,
    /// The holiday calendar, for the working days a paused clock has used.
    pub calendar: SharedCalendar,
    /// Writes the applicant's messages.
    pub notifier: Notifier,
}

impl Handler for ProgressHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let (case_number, change) = match decode(event, &self.item) {
            Ok(decoded) => decoded,
            Err(outcome) => return outcome,
        };
        match self.apply(event, &case_number, change).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl ProgressHandler {
    async fn apply(
        &self,
        event: &Incoming,
        case_number: &str,
        change: Change,
    ) -> Result<Outcome, DbErr> {
        let txn = begin_write(&self.db).await?;
        if !residence_eventing::consumer::claim(&txn, CONSUMER, &event.id).await? {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }
        let Some(case) = case::Entity::find_by_id(case_number.to_owned())
            .lock_exclusive()
            .one(&txn)
            .await?
        else {
            return Ok(Outcome::Poison(format!("no case {case_number} in intake")));
        };
        let now = Utc::now();
        let returned = change.returned.is_some();
        let new_status = change.status.filter(|next| {
            may_move(&case.status, next)
                || (returned && may_return(&case.status))
                || (*next == status::WITHDRAWN && !status::is_final(&case.status))
        });
        // A withdrawal the applicant asked for is answered by the decision or by the
        // withdrawal itself, whichever the decision service saw first.
        let withdrawal_answered = change.decided && case.withdrawal_requested_at.is_some();
        let too_late = withdrawal_answered && new_status != Some(status::WITHDRAWN);
        let mut active = case.into_active_model();
        if withdrawal_answered {
            active.withdrawal_requested_at = Set(None);
        }
        active.updated_at = Set(now);
        if let Some(next) = new_status {
            active.status = Set(next.to_owned());
            if status::is_final(next) {
                active.is_final = Set(true);
                active.closed_at = Set(Some(now));
            }
        }
        if let Some(date) = change.new_valid_until {
            active.new_valid_until = Set(Some(date));
        }
        if let Some(parcel) = change.parcel_reference {
            active.parcel_reference = Set(Some(parcel));
        }
        if let Some(identifier) = change.license_identifier {
            active.license_identifier = Set(Some(identifier));
        }
        let paused = new_status.and(change.returned.as_ref());
        if let Some(notice) = paused {
            // Tracking shows the reviewer's notice as the case's reasons.
            active.reasons = Set(to_json(notice)?);
        }
        let case = active.update(&txn).await?;
        if change.decided {
            // The time limits run to the decision; delivery is not counted.
            crate::clock::stop(&txn, case_number, now).await?;
        }
        if paused.is_some() {
            let today = residence_runtime::time::china_date(now);
            let calendar = self.calendar.current();
            crate::clock::pause(&txn, case_number, &calendar, today, now).await?;
            let entry = Entry::system(case_number, "intake", "case.clock_paused")
                .because("returned by review for supplement; waiting on the applicant");
            residence_audit::append(&txn, &entry, now).await?;
        }
        let values: Vec<(&str, &str)> = change
            .values
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        // An event redelivered after later ones (its first delivery was never acknowledged):
        // the case moved on without it, but its step and message are still owed.
        let late = change
            .status
            .filter(|next| new_status.is_none() && arrived_late(&case.status, next));
        if let Some(late) = late
            && !has_step(&txn, case_number, late).await?
        {
            let note = change.note.as_deref().unwrap_or(status::note(late));
            add_step_with_note(&txn, case_number, late, note, now).await?;
            if let Some(kind) = notification(late) {
                self.notifier.send(&txn, &case, kind, &values, now).await?;
            }
        }
        if let Some(next) = new_status {
            let note = change.note.as_deref().unwrap_or(status::note(next));
            add_step_with_note(&txn, case_number, next, note, now).await?;
            if let Some(kind) = notification(next) {
                self.notifier.send(&txn, &case, kind, &values, now).await?;
            }
            // Told right after the decision itself.
            if too_late {
                self.notifier
                    .send(&txn, &case, NotificationKind::WithdrawalTooLate, &[], now)
                    .await?;
            }
            if next == status::WITHDRAWN {
                let entry = Entry::system(case_number, "intake", "case.withdrawn")
                    .because("the decision service confirmed the applicant's withdrawal");
                residence_audit::append(&txn, &entry, now).await?;
            }
            if status::is_final(next) {
                self.notifier.invite_rating(&txn, &case, now).await?;
                tracing::info!(case.number = %case_number, status = next, "case closed");
            }
        }
        if too_late && new_status.is_none() {
            self.notifier
                .send(&txn, &case, NotificationKind::WithdrawalTooLate, &[], now)
                .await?;
        }
        txn.commit().await?;
        Ok(Outcome::Done)
    }
}

/// The applicant's message for a case that reached `status`, if they get one.
fn notification(status: &str) -> Option<NotificationKind> {
    Some(match status {
        status::SUPPLEMENT_REQUIRED => NotificationKind::SupplementRequired,
        status::APPROVED => NotificationKind::Approved,
        status::DENIED => NotificationKind::Denied,
        status::SHIPPED => NotificationKind::Shipped,
        status::READY_FOR_PICKUP => NotificationKind::ReadyForPickup,
        status::DELIVERED => NotificationKind::Delivered,
        status::COLLECTED => NotificationKind::Collected,
        status::WITHDRAWN => NotificationKind::Withdrawn,
        _ => return None,
    })
}

/// Whether an event for `next` comes after the case already moved past it, on the way to
/// delivery: the approval, the shipment and the wait at the window each owe the applicant a
/// step and a message even when a later event overtook them.
fn arrived_late(current: &str, next: &str) -> bool {
    matches!(
        next,
        status::APPROVED | status::SHIPPED | status::READY_FOR_PICKUP
    ) && current != next
        && rank(next) < rank(current)
        && !matches!(
            current,
            status::WITHDRAWN | status::DENIED | status::REFUSED
        )
}

/// Whether `case_number`'s history has a step with `status`.
async fn has_step<C: sea_orm::ConnectionTrait>(
    txn: &C,
    case_number: &str,
    status: &str,
) -> Result<bool, DbErr> {
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    let steps = crate::entity::step::Entity::find()
        .filter(crate::entity::step::Column::CaseNumber.eq(case_number))
        .filter(crate::entity::step::Column::Status.eq(status))
        .count(txn)
        .await?;
    Ok(steps > 0)
}

/// Whether a case may move from `current` to `next`. Final cases never move, nor do cases
/// waiting for the applicant's materials: only the applicant's answer moves those. Otherwise
/// moves go forward only, except that a failed courier delivery goes back to the window.
fn may_move(current: &str, next: &str) -> bool {
    if status::is_final(current) || current == next || current == status::SUPPLEMENT_REQUIRED {
        return false;
    }
    rank(next) > rank(current) || (current == status::SHIPPED && next == status::READY_FOR_PICKUP)
}

/// Whether a reviewer's return for supplement may take a case in `current` back to the
/// applicant: only while it is under review.
fn may_return(current: &str) -> bool {
    matches!(current, status::ACCEPTED | status::IN_MANUAL_REVIEW)
}

fn rank(status: &str) -> u8 {
    match status {
        status::RECEIVED => 0,
        status::SUPPLEMENT_REQUIRED => 1,
        status::ACCEPTED => 2,
        status::IN_MANUAL_REVIEW => 3,
        status::REVIEWED => 4,
        status::AWAITING_DECISION => 5,
        status::APPROVED => 6,
        status::READY_FOR_PICKUP => 7,
        status::SHIPPED => 8,
        _ => 9,
    }
}

fn decode(event: &Incoming, item: &ServiceItem) -> Result<(String, Change), Outcome> {
    let subject = event.subject.as_str();
    let decoded = if subject == events::REVIEW_QUEUED.subject {
        let e: events::ReviewQueued = event.json()?;
        let change = Change {
            status: Some(status::IN_MANUAL_REVIEW),
            ..Change::default()
        };
        (e.case_number, change)
    } else if subject == events::REVIEW_SUPPLEMENT_REQUESTED.subject {
        let e: events::ReviewSupplementRequested = event.json()?;
        let change = Change {
            status: Some(status::SUPPLEMENT_REQUIRED),
            note: Some("审核需补正材料（一次性告知），办理时限暂停计算".to_owned()),
            values: vec![("reasons", notify::reasons_text(&e.missing))],
            returned: Some(e.missing),
            ..Change::default()
        };
        (e.case_number, change)
    } else if subject == events::REVIEW_COMPLETED.subject {
        let e: events::ReviewCompleted = event.json()?;
        let next = match e.outcome {
            events::ReviewOutcome::Passed => status::REVIEWED,
            events::ReviewOutcome::Failed => status::AWAITING_DECISION,
        };
        let change = Change {
            status: Some(next),
            ..Change::default()
        };
        (e.application.case_number, change)
    } else if subject == events::DECISION_APPROVED.subject {
        let e: events::DecisionApproved = event.json()?;
        let change = Change {
            status: Some(status::APPROVED),
            new_valid_until: Some(e.endorsement.valid_until),
            decided: true,
            values: vec![("new_valid_until", e.endorsement.valid_until.to_string())],
            ..Change::default()
        };
        (e.application.case_number, change)
    } else if subject == events::DECISION_DENIED.subject {
        let e: events::DecisionDenied = event.json()?;
        (
            e.case_number,
            Change {
                status: Some(status::DENIED),
                decided: true,
                values: vec![
                    (
                        "reasons",
                        notify::join(e.reasons.iter().map(String::as_str)),
                    ),
                    ("legal_basis", e.legal_basis),
                ],
                ..Change::default()
            },
        )
    } else if subject == events::DELIVERY_STARTED.subject {
        let e: events::DeliveryStarted = event.json()?;
        // A courier case shows as shipped once the courier service has dispatched it.
        let next = (e.method == DeliveryMethod::Pickup).then_some(status::READY_FOR_PICKUP);
        (
            e.case_number,
            Change {
                status: next,
                values: pickup_values(item, String::new()),
                ..Change::default()
            },
        )
    } else if subject == events::DELIVERY_REROUTED.subject {
        let e: events::DeliveryRerouted = event.json()?;
        // The applicant reads why the parcel did not come and where to collect the permit.
        let values = pickup_values(item, e.notice.clone());
        let note = (!e.notice.is_empty()).then_some(e.notice);
        (
            e.case_number,
            Change {
                status: Some(status::READY_FOR_PICKUP),
                note,
                values,
                ..Change::default()
            },
        )
    } else if subject == events::DELIVERY_COMPLETED.subject {
        let e: events::DeliveryCompleted = event.json()?;
        let next = match e.outcome {
            DeliveryOutcome::Delivered => status::DELIVERED,
            DeliveryOutcome::Collected => status::COLLECTED,
        };
        (
            e.case_number,
            Change {
                status: Some(next),
                ..Change::default()
            },
        )
    } else if subject == events::COURIER_DISPATCHED.subject {
        let e: events::CourierDispatched = event.json()?;
        let change = Change {
            status: Some(status::SHIPPED),
            values: vec![
                ("partner", partner_name(item, &e.partner).to_owned()),
                ("parcel_reference", e.parcel_reference.clone()),
            ],
            parcel_reference: Some(e.parcel_reference),
            note: Some(shipped_note(item, &e.partner)),
            ..Change::default()
        };
        (e.case_number, change)
    } else if subject == events::LICENSE_ISSUED.subject {
        let e: events::LicenseIssued = event.json()?;
        (
            e.case_number,
            Change {
                license_identifier: Some(e.identifier),
                ..Change::default()
            },
        )
    } else if subject == events::DECISION_WITHDRAWN.subject {
        let e: events::DecisionWithdrawn = event.json()?;
        (
            e.case_number,
            Change {
                status: Some(status::WITHDRAWN),
                decided: true,
                ..Change::default()
            },
        )
    } else {
        return Err(Outcome::Poison(format!("unexpected subject {subject}")));
    };
    Ok(decoded)
}

/// The shipped step names the partner carrying the permit, as the service item calls it.
fn shipped_note(item: &ServiceItem, partner: &str) -> String {
    let name = partner_name(item, partner);
    format!("{}（{name}）", status::note(status::SHIPPED))
}

fn partner_name<'a>(item: &'a ServiceItem, partner: &'a str) -> &'a str {
    item.delivery
        .partners
        .iter()
        .find(|known| known.code == partner)
        .map_or(partner, |known| known.name.as_str())
}

/// Where to collect the permit, and why it waits there when a delivery failed.
fn pickup_values(item: &ServiceItem, notice: String) -> Vec<(&'static str, String)> {
    vec![
        ("pickup_place", item.implementing_body.address.clone()),
        ("notice", notice),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_step_names_the_partner() {
        let item = ServiceItem::parse(include_str!("../../../deploy/service-item.toml")).unwrap();
        assert_eq!(
            shipped_note(&item, "ems"),
            "已交寄快递（中国邮政速递物流（EMS））"
        );
        assert_eq!(shipped_note(&item, "sf"), "已交寄快递（sf）");
    }

    #[test]
    fn cases_only_move_forward_and_never_leave_a_final_status() {
        assert!(may_move(status::ACCEPTED, status::REVIEWED));
        assert!(may_move(status::APPROVED, status::SHIPPED));
        assert!(may_move(status::SHIPPED, status::READY_FOR_PICKUP));
        assert!(may_move(status::READY_FOR_PICKUP, status::COLLECTED));
        assert!(!may_move(status::APPROVED, status::REVIEWED));
        assert!(!may_move(status::DELIVERED, status::SHIPPED));
        assert!(!may_move(status::DENIED, status::APPROVED));
        assert!(!may_move(status::SHIPPED, status::SHIPPED));
    }

    #[test]
    fn manual_review_moves_forward_and_only_the_applicant_ends_a_supplement_wait() {
        assert!(may_move(status::ACCEPTED, status::IN_MANUAL_REVIEW));
        assert!(may_move(
            status::IN_MANUAL_REVIEW,
            status::AWAITING_DECISION
        ));
        assert!(may_move(status::AWAITING_DECISION, status::DENIED));
        assert!(may_move(status::IN_MANUAL_REVIEW, status::REVIEWED));
        assert!(!may_move(
            status::AWAITING_DECISION,
            status::IN_MANUAL_REVIEW
        ));
        assert!(!may_move(
            status::SUPPLEMENT_REQUIRED,
            status::IN_MANUAL_REVIEW
        ));
        assert!(may_return(status::IN_MANUAL_REVIEW));
        assert!(!may_return(status::APPROVED));
    }
}
