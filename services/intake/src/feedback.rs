//! What applicants do with a case besides supplying materials: withdraw it before the
//! decision, and rate it once it is closed (好差评); and the follow-up tasks (差评整改) that
//! dissatisfied ratings open for staff.

use chrono::{DateTime, Utc};
use residence_audit::{APPLICANT, Entry};
use residence_eventing::db::{begin_write, is_unique_violation};
use residence_events::{
    self as events, CaseWithdrawalRequested, FollowUpChanged, NotificationKind, RatingSubmitted,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::entity::{case, follow_up, rating};
use crate::status;
use crate::store::{Store, add_step, lock_case};

/// Where a withdrawal stands.
#[derive(Debug)]
pub enum Withdrawal {
    /// The case is withdrawn.
    Done(case::Model),
    /// The decision service has yet to confirm that the case was not decided first.
    Requested(case::Model),
    /// Too late: the case is decided or otherwise closed.
    Refused(String),
}

/// One rating (好差评).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rating {
    /// `web`, `app`, `sms`, `window` or `hotline`.
    pub channel: &'static str,
    /// 1 (非常不满意) to 5 (非常满意).
    pub level: u8,
    pub comment: String,
}

impl Rating {
    /// Whether the rating opens a follow-up task: 不满意 or 非常不满意.
    pub fn is_dissatisfied(&self) -> bool {
        self.level <= 2
    }
}

/// What rating a case did.
#[derive(Debug)]
pub enum Rated {
    /// Recorded, with the follow-up task it opened.
    New(rating::Model, Option<follow_up::Model>),
    /// The same rating through the same channel was recorded before.
    Replayed(rating::Model, Option<follow_up::Model>),
    /// The case was already rated differently through this channel.
    AlreadyRated,
    /// The case is still open.
    Open(String),
}

/// What closing a follow-up did.
#[derive(Debug)]
pub enum Closed {
    Done(follow_up::Model),
    NotFound,
    /// It was closed before with a different outcome.
    Conflict(follow_up::Model),
}

impl Store {
    /// Withdraws `case` at its applicant's request. A case not yet accepted ends here and now;
    /// an accepted one is handed to the decision service, the only one that knows whether it
    /// was decided first. Repeating a withdrawal answers the same.
    pub async fn withdraw(
        &self,
        case_number: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Withdrawal, DbErr> {
        let txn = begin_write(&self.db).await?;
        let case = lock_case(&txn, case_number).await?;
        if case.status == status::WITHDRAWN {
            return Ok(Withdrawal::Done(case));
        }
        if case.is_final || status::is_decided(&case.status) {
            return Ok(Withdrawal::Refused(format!(
                "case is {}: only an undecided case can be withdrawn",
                case.status
            )));
        }
        if case.withdrawal_requested_at.is_some() {
            return Ok(Withdrawal::Requested(case));
        }
        let entry = Entry::new(
            case_number,
            APPLICANT,
            APPLICANT,
            "case.withdrawal_requested",
        )
        .because(reason.to_owned());
        residence_audit::append(&txn, &entry, now).await?;

        let mut active = case.clone().into_active_model();
        active.updated_at = Set(now);
        if case.accepted_at.is_none() {
            // Nobody but intake has seen the case yet.
            active.status = Set(status::WITHDRAWN.to_owned());
            active.is_final = Set(true);
            active.closed_at = Set(Some(now));
            let case = active.update(&txn).await?;
            add_step(&txn, case_number, status::WITHDRAWN, now).await?;
            self.notifier
                .send(&txn, &case, NotificationKind::Withdrawn, &[], now)
                .await?;
            self.notifier.invite_rating(&txn, &case, now).await?;
            txn.commit().await?;
            return Ok(Withdrawal::Done(case));
        }
        active.withdrawal_requested_at = Set(Some(now));
        let case = active.update(&txn).await?;
        let requested = CaseWithdrawalRequested {
            case_number: case_number.to_owned(),
            reason: reason.to_owned(),
            requested_at: now,
        };
        self.outbox
            .enqueue(
                &txn,
                events::CASE_WITHDRAWAL_REQUESTED,
                case_number,
                &requested,
            )
            .await?;
        txn.commit().await?;
        Ok(Withdrawal::Requested(case))
    }

    /// Records `rating` of a closed case; a dissatisfied one opens a follow-up task due in
    /// the item's working days.
    pub async fn rate(
        &self,
        case: &case::Model,
        rating: &Rating,
        now: DateTime<Utc>,
    ) -> Result<Rated, DbErr> {
        if !case.is_final {
            return Ok(Rated::Open(format!(
                "case is {}: it can be rated once it is closed",
                case.status
            )));
        }
        if let Some(known) = self.known_rating(case, rating).await? {
            return Ok(known);
        }
        match self.insert_rating(case, rating, now).await {
            Ok(rated) => Ok(rated),
            // Another call rated the same case through the same channel at the same time.
            Err(error) if is_unique_violation(&error) => Ok(self
                .known_rating(case, rating)
                .await?
                .unwrap_or(Rated::AlreadyRated)),
            Err(error) => Err(error),
        }
    }

    async fn known_rating(
        &self,
        case: &case::Model,
        rating: &Rating,
    ) -> Result<Option<Rated>, DbErr> {
        let key = (case.case_number.clone(), rating.channel.to_owned());
        let Some(existing) = rating::Entity::find_by_id(key).one(&self.db).await? else {
            return Ok(None);
        };
        if existing.level != i32::from(rating.level) || existing.comment != rating.comment {
            return Ok(Some(Rated::AlreadyRated));
        }
        let task = follow_up::Entity::find_by_id(follow_up_id(&case.case_number, rating.channel))
            .one(&self.db)
            .await?;
        Ok(Some(Rated::Replayed(existing, task)))
    }

    async fn insert_rating(
        &self,
        case: &case::Model,
        rating: &Rating,
        now: DateTime<Utc>,
    ) -> Result<Rated, DbErr> {
        let town_code = self.town_of(case)?;
        let txn = begin_write(&self.db).await?;
        let model = rating::ActiveModel {
            case_number: Set(case.case_number.clone()),
            channel: Set(rating.channel.to_owned()),
            level: Set(i32::from(rating.level)),
            comment: Set(rating.comment.clone()),
            town_code: Set(town_code.clone()),
            rated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        let submitted = RatingSubmitted {
            case_number: case.case_number.clone(),
            town_code: town_code.clone(),
            channel: rating.channel.to_owned(),
            level: rating.level,
            rated_at: now,
        };
        self.outbox
            .enqueue(
                &txn,
                events::RATING_SUBMITTED,
                &case.case_number,
                &submitted,
            )
            .await?;
        let entry = Entry::new(&case.case_number, APPLICANT, APPLICANT, "case.rated")
            .because(format!("level {} through {}", rating.level, rating.channel));
        residence_audit::append(&txn, &entry, now).await?;

        let mut task = None;
        if rating.is_dissatisfied() {
            let today = residence_runtime::time::china_date(now);
            let due = self
                .calendar
                .current()
                .add_working_days(today, self.item.time_limits.follow_up_working_days);
            let opened = follow_up::ActiveModel {
                id: Set(follow_up_id(&case.case_number, rating.channel)),
                case_number: Set(case.case_number.clone()),
                town_code: Set(town_code),
                channel: Set(rating.channel.to_owned()),
                level: Set(i32::from(rating.level)),
                comment: Set(rating.comment.clone()),
                opened_at: Set(now),
                due_on: Set(due.date),
                due_on_confirmed: Set(due.confirmed),
                outcome: Set(None),
                closed_at: Set(None),
                closed_by: Set(None),
            }
            .insert(&txn)
            .await?;
            self.outbox
                .enqueue(
                    &txn,
                    events::FOLLOW_UP_OPENED,
                    &case.case_number,
                    &follow_up_event(&opened),
                )
                .await?;
            let entry = Entry::system(&case.case_number, "intake", "follow_up.opened")
                .because(format!("{} due {}", opened.id, opened.due_on));
            residence_audit::append(&txn, &entry, now).await?;
            task = Some(opened);
        }
        txn.commit().await?;
        Ok(Rated::New(model, task))
    }

    /// The ratings of a case, one per channel.
    pub async fn ratings(&self, case_number: &str) -> Result<Vec<rating::Model>, DbErr> {
        rating::Entity::find()
            .filter(rating::Column::CaseNumber.eq(case_number))
            .order_by_asc(rating::Column::RatedAt)
            .all(&self.db)
            .await
    }

    /// The follow-up tasks of the towns `area` covers, oldest first.
    pub async fn follow_ups(
        &self,
        area: &residence_staff::Scope,
        open_only: bool,
        limit: u64,
    ) -> Result<Vec<follow_up::Model>, DbErr> {
        let mut query = follow_up::Entity::find()
            .filter(follow_up::Column::TownCode.starts_with(area.as_str()))
            .order_by_asc(follow_up::Column::OpenedAt)
            .order_by_asc(follow_up::Column::Id);
        if open_only {
            query = query.filter(follow_up::Column::ClosedAt.is_null());
        }
        query.limit(limit).all(&self.db).await
    }

    /// One follow-up task.
    pub async fn follow_up(&self, id: &str) -> Result<Option<follow_up::Model>, DbErr> {
        follow_up::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await
    }

    /// Records `outcome` on an open follow-up task and closes it; `staff_id` did it.
    pub async fn close_follow_up(
        &self,
        id: &str,
        outcome: &str,
        staff: &residence_staff::Staff,
        now: DateTime<Utc>,
    ) -> Result<Closed, DbErr> {
        let txn = begin_write(&self.db).await?;
        let Some(task) = follow_up::Entity::find_by_id(id.to_owned())
            .lock_exclusive()
            .one(&txn)
            .await?
        else {
            return Ok(Closed::NotFound);
        };
        if let Some(recorded) = &task.outcome {
            return Ok(if recorded == outcome {
                Closed::Done(task)
            } else {
                Closed::Conflict(task)
            });
        }
        let case_number = task.case_number.clone();
        let mut active = task.into_active_model();
        active.outcome = Set(Some(outcome.to_owned()));
        active.closed_at = Set(Some(now));
        active.closed_by = Set(Some(staff.id.clone()));
        let task = active.update(&txn).await?;
        self.outbox
            .enqueue(
                &txn,
                events::FOLLOW_UP_CLOSED,
                &case_number,
                &follow_up_event(&task),
            )
            .await?;
        let entry = Entry::new(
            &case_number,
            &staff.id,
            staff.role.code(),
            "follow_up.closed",
        )
        .because(outcome.to_owned());
        residence_audit::append(&txn, &entry, now).await?;
        txn.commit().await?;
        Ok(Closed::Done(task))
    }

    /// The town whose staff work `case`.
    pub fn town_of(&self, case: &case::Model) -> Result<String, DbErr> {
        if let Some(code) = &case.town_code {
            return Ok(code.clone());
        }
        let submission: crate::request::Submission = crate::store::from_json(&case.application)?;
        Ok(self.item.town_for(&submission.residence_address).code)
    }
}

/// One task per rating: the case and the channel it came through.
pub fn follow_up_id(case_number: &str, channel: &str) -> String {
    format!("FU-{case_number}-{channel}")
}

fn follow_up_event(task: &follow_up::Model) -> FollowUpChanged {
    FollowUpChanged {
        follow_up_id: task.id.clone(),
        case_number: task.case_number.clone(),
        town_code: task.town_code.clone(),
        level: u8::try_from(task.level).unwrap_or(0),
        due_on: task.due_on,
        opened_at: task.opened_at,
        closed_at: task.closed_at,
        closed_by: task.closed_by.clone(),
    }
}
