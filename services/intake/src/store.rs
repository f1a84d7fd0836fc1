//! Intake's writes: each one changes cases and enqueues its events in one transaction.

use chrono::{DateTime, NaiveDate, Utc};
use residence_audit::{APPLICANT, Entry};
use residence_eventing::OutboxWriter;
use residence_eventing::db::{begin_write, is_unique_violation};
use residence_events::{
    self as events, AgentSummary, Application, ApplicationAccepted, ApplicationReceived,
    ApplicationRefused, NotificationKind, ReasonItem,
};
use residence_item::ServiceItem;
use residence_rules::materials::MaterialKind;
use residence_runtime::SharedCalendar;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, Set,
};

use crate::entity::{case, sequence, step};
use crate::request::Submission;
use crate::status;
use crate::verdict::Verdict;

/// Everything a write needs besides its input.
#[derive(Clone, Debug)]
pub struct Store {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub item: std::sync::Arc<ServiceItem>,
    /// The holiday calendar; an operator may reload it while the service runs.
    pub calendar: SharedCalendar,
    /// How long before a time limit runs out its warning goes out.
    pub warning_ahead: chrono::TimeDelta,
    /// Writes the applicant's messages.
    pub notifier: crate::notify::Notifier,
}

/// A submission's result.
#[derive(Debug)]
pub enum Created {
    /// A new case.
    New(case::Model),
    /// The same client request id was seen before with the same request.
    Replayed(case::Model),
    /// The same client request id was seen before with a different request.
    Conflict,
}

impl Store {
    /// The due date of a case accepted on `today`: the item's legal time limit in working days.
    pub fn due_date(&self, today: NaiveDate) -> residence_rules::DueDate {
        self.calendar
            .current()
            .add_working_days(today, self.item.time_limits.legal_working_days)
    }

    /// Looks a case up by the client's request id.
    pub async fn by_request_id(&self, id: &str) -> Result<Option<case::Model>, DbErr> {
        case::Entity::find()
            .filter(case::Column::ClientRequestId.eq(id))
            .one(&self.db)
            .await
    }

    /// Looks a case up by number.
    pub async fn by_number(&self, case_number: &str) -> Result<Option<case::Model>, DbErr> {
        case::Entity::find_by_id(case_number.to_owned())
            .one(&self.db)
            .await
    }

    /// The steps of a case, oldest first.
    pub async fn steps(&self, case_number: &str) -> Result<Vec<step::Model>, DbErr> {
        use sea_orm::QueryOrder;
        step::Entity::find()
            .filter(step::Column::CaseNumber.eq(case_number))
            .order_by_asc(step::Column::Id)
            .all(&self.db)
            .await
    }

    /// Records a new application: 收件, then 受理, 不予受理 or a supplement notice, as the
    /// verdict says. Idempotent on the client request id, also under concurrent retries.
    pub async fn create(
        &self,
        submission: &Submission,
        verdict: &Verdict,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Created, DbErr> {
        if let Some(existing) = self.by_request_id(&submission.client_request_id).await? {
            return Ok(replay_or_conflict(existing, digest));
        }
        match self.insert_new(submission, verdict, digest, now).await {
            Ok(created) => Ok(Created::New(created)),
            Err(error) if is_unique_violation(&error) => {
                // A concurrent submission with the same request id won the race.
                let existing = self.by_request_id(&submission.client_request_id).await?;
                existing
                    .map(|case| replay_or_conflict(case, digest))
                    .ok_or(error)
            }
            Err(error) => Err(error),
        }
    }

    async fn insert_new(
        &self,
        submission: &Submission,
        verdict: &Verdict,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<case::Model, DbErr> {
        let today = residence_runtime::time::china_date(now);
        let txn = begin_write(&self.db).await?;
        let sequence = next_sequence(&txn, today).await?;
        let case_number =
            crate::case_number::format(&self.item.codes.implementation, today, sequence);

        let model = case::ActiveModel {
            case_number: Set(case_number.clone()),
            client_request_id: Set(submission.client_request_id.clone()),
            request_digest: Set(digest.to_owned()),
            channel: Set(submission.channel.code().to_owned()),
            status: Set(status::RECEIVED.to_owned()),
            is_final: Set(false),
            delivery_method: Set(submission.delivery.method.code().to_owned()),
            masked_id_number: Set(residence_rules::mask_id_number(&submission.id_number)),
            application: Set(to_json(submission)?.into()),
            materials: Set(to_json(&material_codes(&submission.materials))?),
            reasons: Set("[]".to_owned()),
            received_at: Set(now),
            accepted_at: Set(None),
            due_on: Set(None),
            due_on_confirmed: Set(false),
            closed_at: Set(None),
            new_valid_until: Set(None),
            parcel_reference: Set(None),
            license_identifier: Set(None),
            updated_at: Set(now),
            town_code: Set(Some(self.item.town_for(&submission.residence_address).code)),
            withdrawal_requested_at: Set(None),
            rating_invited_at: Set(None),
        }
        .insert(&txn)
        .await?;
        add_step(&txn, &case_number, status::RECEIVED, now).await?;
        let received = ApplicationReceived {
            case_number: case_number.clone(),
            channel: submission.channel,
            received_at: now,
        };
        self.outbox
            .enqueue(&txn, events::APPLICATION_RECEIVED, &case_number, &received)
            .await?;
        self.notifier
            .send(&txn, &model, NotificationKind::Received, &[], now)
            .await?;

        let model = self.conclude(&txn, model, submission, verdict, now).await?;
        let entry = Entry::new(&case_number, APPLICANT, APPLICANT, "case.submitted").because(
            format!("{}, then {}", submission.channel.code(), model.status),
        );
        residence_audit::append(&txn, &entry, now).await?;
        txn.commit().await?;
        Ok(model)
    }

    /// Adds supplied materials to a case waiting for them and concludes it again: at
    /// acceptance by the rules, after a reviewer's return by handing it back to review.
    /// `None` when the case no longer waits for materials: another answer or a withdrawal came
    /// first.
    pub async fn supplement(
        &self,
        case: case::Model,
        supplied: &[MaterialKind],
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Option<case::Model>, DbErr> {
        if case.accepted_at.is_some() {
            return self.answer_review(case, supplied, today, now).await;
        }
        let mut submission: Submission = from_json(&case.application)?;
        for kind in supplied {
            if !submission.materials.contains(kind) {
                submission.materials.push(*kind);
            }
        }
        let switches = self.item.rules;
        let verdict =
            crate::verdict::assess(&submission, today, &self.calendar.current(), &switches);

        let txn = begin_write(&self.db).await?;
        // Re-read, locked, inside the transaction: another supplement or a withdrawal may
        // have come first.
        let current = lock_case(&txn, &case.case_number).await?;
        if current.status != status::SUPPLEMENT_REQUIRED {
            txn.commit().await?;
            return Ok(None);
        }
        let mut active = current.into_active_model();
        active.application = Set(to_json(&submission)?.into());
        active.materials = Set(to_json(&material_codes(&submission.materials))?);
        let model = active.update(&txn).await?;
        let model = self
            .conclude(&txn, model, &submission, &verdict, now)
            .await?;
        let codes: Vec<&str> = supplied.iter().map(MaterialKind::code).collect();
        let entry = Entry::new(
            &model.case_number,
            APPLICANT,
            APPLICANT,
            "case.supplemented",
        )
        .because(format!("{}, then {}", codes.join(", "), model.status));
        residence_audit::append(&txn, &entry, now).await?;
        txn.commit().await?;
        Ok(Some(model))
    }

    /// The applicant's answer to a reviewer's notice: the materials are added, the clocks run
    /// again with the days they had left, and the case goes back to its reviewer's queue.
    async fn answer_review(
        &self,
        case: case::Model,
        supplied: &[MaterialKind],
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Option<case::Model>, DbErr> {
        let txn = begin_write(&self.db).await?;
        // Re-read, locked, inside the transaction: another answer or a withdrawal may have
        // come first.
        let current = lock_case(&txn, &case.case_number).await?;
        if current.status != status::SUPPLEMENT_REQUIRED {
            txn.commit().await?;
            return Ok(None);
        }
        let case_number = current.case_number.clone();
        let mut submission: Submission = from_json(&current.application)?;
        for kind in supplied {
            if !submission.materials.contains(kind) {
                submission.materials.push(*kind);
            }
        }
        let calendar = self.calendar.current();
        let due = crate::clock::resume(
            &txn,
            &case_number,
            &calendar,
            today,
            self.warning_ahead,
            now,
        )
        .await?;
        let mut active = current.into_active_model();
        active.application = Set(to_json(&submission)?.into());
        active.materials = Set(to_json(&material_codes(&submission.materials))?);
        active.status = Set(status::IN_MANUAL_REVIEW.to_owned());
        active.reasons = Set("[]".to_owned());
        active.updated_at = Set(now);
        if let Some(due) = due {
            active.due_on = Set(Some(due.date));
            active.due_on_confirmed = Set(due.confirmed);
        }
        let model = active.update(&txn).await?;
        let note = "已补正材料，办理时限恢复计算，退回审核";
        add_step_with_note(&txn, &case_number, status::IN_MANUAL_REVIEW, note, now).await?;

        let codes: Vec<String> = supplied.iter().map(|kind| kind.code().to_owned()).collect();
        let supplemented = events::ApplicationSupplemented {
            case_number: case_number.clone(),
            materials: codes.clone(),
            due_on: due.map(|due| due.date),
            supplemented_at: now,
        };
        self.outbox
            .enqueue(
                &txn,
                events::APPLICATION_SUPPLEMENTED,
                &case_number,
                &supplemented,
            )
            .await?;
        let entry = Entry::new(&case_number, APPLICANT, APPLICANT, "case.supplemented")
            .because(format!("answered review's notice: {}", codes.join(", ")));
        residence_audit::append(&txn, &entry, now).await?;
        txn.commit().await?;
        Ok(Some(model))
    }

    /// Moves a received (or supplemented) case to accepted, refused or waiting for materials.
    async fn conclude<C: ConnectionTrait>(
        &self,
        txn: &C,
        model: case::Model,
        submission: &Submission,
        verdict: &Verdict,
        now: DateTime<Utc>,
    ) -> Result<case::Model, DbErr> {
        let case_number = model.case_number.clone();
        let mut active = model.into_active_model();
        active.updated_at = Set(now);

        if !verdict.refusals.is_empty() {
            active.status = Set(status::REFUSED.to_owned());
            active.is_final = Set(true);
            active.closed_at = Set(Some(now));
            active.reasons = Set(to_json(&verdict.refusals)?);
            let model = active.update(txn).await?;
            add_step(txn, &case_number, status::REFUSED, now).await?;
            let refused = ApplicationRefused {
                case_number: case_number.clone(),
                reasons: verdict.refusals.clone(),
                refused_at: now,
            };
            self.outbox
                .enqueue(txn, events::APPLICATION_REFUSED, &case_number, &refused)
                .await?;
            let reasons = crate::notify::reasons_text(&verdict.refusals);
            self.notifier
                .send(
                    txn,
                    &model,
                    NotificationKind::Refused,
                    &[("reasons", &reasons)],
                    now,
                )
                .await?;
            self.notifier.invite_rating(txn, &model, now).await?;
            return Ok(model);
        }

        if !verdict.missing.is_empty() {
            let missing = verdict.missing_reasons();
            active.status = Set(status::SUPPLEMENT_REQUIRED.to_owned());
            active.reasons = Set(to_json(&missing)?);
            let model = active.update(txn).await?;
            add_step(txn, &case_number, status::SUPPLEMENT_REQUIRED, now).await?;
            let reasons = crate::notify::reasons_text(&missing);
            self.notifier
                .send(
                    txn,
                    &model,
                    NotificationKind::SupplementRequired,
                    &[("reasons", &reasons)],
                    now,
                )
                .await?;
            return Ok(model);
        }

        let today = residence_runtime::time::china_date(now);
        let calendar = self.calendar.current();
        let due = crate::clock::start(
            txn,
            &case_number,
            &self.item,
            &calendar,
            today,
            self.warning_ahead,
            now,
        )
        .await?;
        active.status = Set(status::ACCEPTED.to_owned());
        active.accepted_at = Set(Some(now));
        active.due_on = Set(Some(due.date));
        active.due_on_confirmed = Set(due.confirmed);
        active.reasons = Set("[]".to_owned());
        let model = active.update(txn).await?;
        add_step(txn, &case_number, status::ACCEPTED, now).await?;

        let accepted = ApplicationAccepted {
            application: application(&case_number, submission, verdict, today),
            accepted_at: now,
            due_on: due.date,
            due_on_confirmed: due.confirmed,
        };
        self.outbox
            .enqueue(txn, events::APPLICATION_ACCEPTED, &case_number, &accepted)
            .await?;
        let due_on = due.date.to_string();
        self.notifier
            .send(
                txn,
                &model,
                NotificationKind::Accepted,
                &[("due_on", &due_on)],
                now,
            )
            .await?;
        Ok(model)
    }
}

/// What later stages need to know, built from an accepted submission.
fn application(
    case_number: &str,
    submission: &Submission,
    verdict: &Verdict,
    today: NaiveDate,
) -> Application {
    Application {
        case_number: case_number.to_owned(),
        channel: submission.channel,
        holder: events::Holder {
            name: submission.name.clone(),
            id_number: submission
                .holder_id(today)
                .map(|id| id.as_str().to_owned())
                .unwrap_or_else(|_| submission.id_number.clone()),
            phone: submission.phone.clone(),
        },
        permit_valid_until: submission.permit_valid_until,
        applied_on: today,
        timeliness: verdict.timeliness.unwrap_or(events::Timeliness::OnTime),
        residence_address: submission.residence_address.clone(),
        address_change: verdict.address_change.clone(),
        delivery: submission.delivery.clone(),
        agent: submission.agent.as_ref().map(|agent| AgentSummary {
            name: agent.name.clone(),
            relation: match agent.relation {
                residence_rules::materials::AgentRelation::Guardian => "guardian",
                residence_rules::materials::AgentRelation::CloseRelative => "close_relative",
                residence_rules::materials::AgentRelation::Other => "other",
            }
            .to_owned(),
        }),
    }
}

fn replay_or_conflict(existing: case::Model, digest: &str) -> Created {
    if existing.request_digest == digest {
        Created::Replayed(existing)
    } else {
        Created::Conflict
    }
}

/// Allocates the next sequence number of `day`; the row lock serialises concurrent callers.
async fn next_sequence<C: ConnectionTrait>(txn: &C, day: NaiveDate) -> Result<i64, DbErr> {
    let key = day.format("%Y%m%d").to_string();
    sequence::Entity::insert(sequence::ActiveModel {
        day: Set(key.clone()),
        last: Set(0),
    })
    .on_conflict(
        OnConflict::column(sequence::Column::Day)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    sequence::Entity::update_many()
        .col_expr(
            sequence::Column::Last,
            sea_orm::sea_query::ExprTrait::add(
                sea_orm::sea_query::Expr::col(sequence::Column::Last),
                1,
            ),
        )
        .filter(sequence::Column::Day.eq(key.clone()))
        .exec(txn)
        .await?;
    let row = sequence::Entity::find_by_id(key.clone())
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("case sequence {key}")))?;
    Ok(row.last)
}

/// The case, its row locked until `txn` ends (`SELECT … FOR UPDATE` on PostgreSQL; SQLite
/// write transactions hold the whole database): every write that reads a case to decide what
/// to do with it reads it through here, so two such writes never both act on the same state.
pub async fn lock_case<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
) -> Result<case::Model, DbErr> {
    use sea_orm::QuerySelect;
    case::Entity::find_by_id(case_number.to_owned())
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(case_number.to_owned()))
}

/// Appends one step to a case's history.
pub async fn add_step<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
    status: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    add_step_with_note(txn, case_number, status, status::note(status), at).await
}

/// Appends a step to a case's history that says `note` instead of its status's usual note.
pub async fn add_step_with_note<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
    status: &str,
    note: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    step::ActiveModel {
        case_number: Set(case_number.to_owned()),
        status: Set(status.to_owned()),
        note: Set(note.to_owned()),
        at: Set(at),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

fn material_codes(materials: &[MaterialKind]) -> Vec<&'static str> {
    materials.iter().map(MaterialKind::code).collect()
}

/// Serialises a stored JSON column.
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, DbErr> {
    serde_json::to_string(value).map_err(|error| DbErr::Custom(format!("cannot encode: {error}")))
}

/// Reads a stored JSON column.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, DbErr> {
    serde_json::from_str(text).map_err(|error| DbErr::Custom(format!("cannot decode: {error}")))
}

/// Reasons stored on a case.
pub fn reasons(case: &case::Model) -> Vec<ReasonItem> {
    from_json(&case.reasons).unwrap_or_default()
}
