//! The time-limit clocks of accepted cases (办理时限监督).
//!
//! Each accepted case gets one clock per limit the service item states (legal and promised).
//! A clock stops for good at the decision, pauses while the case waits on the applicant and
//! resumes with the days left. A watcher task raises one warning before a limit runs out and
//! one overdue event after it, each carrying the case number and no personal data.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use residence_eventing::db::begin_write;
use residence_eventing::{OutboxWriter, RelayHandle};
use residence_events::{self as events, CaseTimeLimit, EventType};
use residence_item::ServiceItem;
use residence_rules::calendar::Calendar;
use residence_rules::clock::{self as rules, Clock, LimitKind};
use residence_runtime::calendar::SharedCalendar;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};
use tokio_util::sync::CancellationToken;

use crate::entity::{case, clock};

const RUNNING: &str = "running";
const PAUSED: &str = "paused";
const STOPPED: &str = "stopped";

/// Clocks looked at per pass of the watcher; the rest wait for the next pass.
const BATCH: u64 = 256;

/// How far ahead of a deadline the warning goes out, by default.
pub const DEFAULT_WARNING_AHEAD: TimeDelta = TimeDelta::hours(8);

/// Starts the clocks of a case accepted on `accepted_on`. Returns the legal due date.
pub async fn start<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
    item: &ServiceItem,
    calendar: &Calendar,
    accepted_on: NaiveDate,
    warning_ahead: TimeDelta,
    now: DateTime<Utc>,
) -> Result<residence_rules::DueDate, DbErr> {
    let mut legal_due = None;
    for kind in LimitKind::ALL {
        let working_days = limit_of(item, kind);
        let running = Clock::start(working_days, accepted_on);
        let due = running.due(calendar);
        if kind == LimitKind::Legal {
            legal_due = Some(due);
        }
        clock::ActiveModel {
            case_number: Set(case_number.to_owned()),
            limit_kind: Set(kind.code().to_owned()),
            working_days: Set(to_i32(working_days)),
            used_days: Set(0),
            started_on: Set(accepted_on),
            paused_on: Set(None),
            due_on: Set(due.date),
            due_on_confirmed: Set(due.confirmed),
            deadline_at: Set(rules::deadline(due.date)),
            warn_at: Set(rules::warning_time(due.date, warning_ahead)),
            state: Set(RUNNING.to_owned()),
            warned_at: Set(None),
            overdue_at: Set(None),
            stopped_at: Set(None),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
    }
    legal_due.ok_or_else(|| DbErr::Custom("no legal time limit".to_owned()))
}

/// Pauses a case's running clocks on `on`: a reviewer returned the case for supplement, and
/// it waits on the applicant.
pub async fn pause<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
    calendar: &Calendar,
    on: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for row in clocks_of(txn, case_number, RUNNING).await? {
        let paused = rules_clock(&row).pause(on, calendar);
        let mut active = row.into_active_model();
        active.used_days = Set(to_i32(paused.used));
        active.paused_on = Set(paused.paused_on);
        active.state = Set(PAUSED.to_owned());
        active.updated_at = Set(now);
        active.update(txn).await?;
    }
    Ok(())
}

/// Resumes a case's paused clocks on `on` with the days left, and moves their deadlines: the
/// applicant answered the reviewer's notice. Returns the new legal due date, if the case had a
/// paused legal clock.
pub async fn resume<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
    calendar: &Calendar,
    on: NaiveDate,
    warning_ahead: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Option<residence_rules::DueDate>, DbErr> {
    let mut legal_due = None;
    for row in clocks_of(txn, case_number, PAUSED).await? {
        let resumed = rules_clock(&row).resume(on);
        let due = resumed.due(calendar);
        if row.limit_kind == LimitKind::Legal.code() {
            legal_due = Some(due);
        }
        let warn_at = rules::warning_time(due.date, warning_ahead);
        let mut active = row.clone().into_active_model();
        active.started_on = Set(resumed.started_on);
        active.paused_on = Set(None);
        active.due_on = Set(due.date);
        active.due_on_confirmed = Set(due.confirmed);
        active.deadline_at = Set(rules::deadline(due.date));
        active.warn_at = Set(warn_at);
        // A deadline that moved past its warning earns a fresh warning.
        if row.warned_at.is_some() && warn_at > now {
            active.warned_at = Set(None);
        }
        active.state = Set(RUNNING.to_owned());
        active.updated_at = Set(now);
        active.update(txn).await?;
    }
    Ok(legal_due)
}

/// Stops a case's clocks for good: the case is decided.
pub async fn stop<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    clock::Entity::update_many()
        .col_expr(clock::Column::State, STOPPED.into())
        .col_expr(clock::Column::StoppedAt, Some(now).into())
        .col_expr(clock::Column::UpdatedAt, now.into())
        .filter(clock::Column::CaseNumber.eq(case_number))
        .filter(clock::Column::State.ne(STOPPED))
        .exec(txn)
        .await?;
    Ok(())
}

/// Raises warnings and overdue events; see [`Watcher::pass`].
#[derive(Debug, Clone)]
pub struct Watcher {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    pub calendar: SharedCalendar,
    pub warning_ahead: TimeDelta,
}

/// What one pass of the watcher did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub warnings: usize,
    pub overdue: usize,
    pub redated: usize,
}

impl Watcher {
    /// Runs passes every `every` until `shutdown`.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match self.pass(Utc::now()).await {
                Ok(pass) if pass != Pass::default() => {
                    tracing::info!(
                        warnings = pass.warnings,
                        overdue = pass.overdue,
                        redated = pass.redated,
                        "time-limit clocks checked"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "time-limit clock pass failed; will retry"),
            }
        }
    }

    /// One pass at `now`: re-dates due dates that rested on a missing holiday calendar, then
    /// raises the warnings and overdue events that have come due. Each event is raised once:
    /// the row is marked in the transaction that writes the event to the outbox.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<Pass, DbErr> {
        let mut pass = Pass {
            redated: self.redate_unconfirmed(now).await?,
            ..Pass::default()
        };
        let candidates = clock::Entity::find()
            .filter(clock::Column::State.eq(RUNNING))
            .filter(
                clock::Column::WarnedAt
                    .is_null()
                    .and(clock::Column::WarnAt.lte(now))
                    .or(clock::Column::OverdueAt
                        .is_null()
                        .and(clock::Column::DeadlineAt.lte(now))),
            )
            .order_by_asc(clock::Column::DeadlineAt)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        for candidate in candidates {
            if let Some(raised) = self.raise(&candidate, now).await? {
                if raised == events::CASE_OVERDUE {
                    pass.overdue += 1;
                } else {
                    pass.warnings += 1;
                }
            }
        }
        if pass.warnings + pass.overdue > 0 {
            self.relay.notify();
        }
        Ok(pass)
    }

    /// Raises what has come due on one clock, re-read inside the transaction.
    async fn raise(
        &self,
        candidate: &clock::Model,
        now: DateTime<Utc>,
    ) -> Result<Option<EventType>, DbErr> {
        let txn = begin_write(&self.db).await?;
        let key = (candidate.case_number.clone(), candidate.limit_kind.clone());
        let Some(row) = clock::Entity::find_by_id(key).one(&txn).await? else {
            return Ok(None);
        };
        let event = if row.state != RUNNING {
            None
        } else if row.overdue_at.is_none() && row.deadline_at <= now {
            Some(events::CASE_OVERDUE)
        } else if row.warned_at.is_none() && row.warn_at <= now {
            Some(events::CASE_DEADLINE_APPROACHING)
        } else {
            None
        };
        let Some(event) = event else {
            txn.commit().await?;
            return Ok(None);
        };
        let status = case::Entity::find_by_id(row.case_number.clone())
            .one(&txn)
            .await?
            .map_or_else(String::new, |case| case.status);
        let payload = CaseTimeLimit {
            case_number: row.case_number.clone(),
            limit: row.limit_kind.clone(),
            working_days: u32::try_from(row.working_days).unwrap_or_default(),
            due_on: row.due_on,
            due_on_confirmed: row.due_on_confirmed,
            deadline: row.deadline_at,
            status,
        };
        let mut active = row.clone().into_active_model();
        if event == events::CASE_OVERDUE {
            // Past the deadline the warning is moot; never send it afterwards.
            active.overdue_at = Set(Some(now));
            if row.warned_at.is_none() {
                active.warned_at = Set(Some(now));
            }
        } else {
            active.warned_at = Set(Some(now));
        }
        active.updated_at = Set(now);
        active.update(&txn).await?;
        self.outbox
            .enqueue(&txn, event, &row.case_number, &payload)
            .await?;
        txn.commit().await?;
        if event == events::CASE_OVERDUE {
            tracing::warn!(case.number = %row.case_number, limit = %row.limit_kind, "case overdue");
        } else {
            tracing::info!(
                case.number = %row.case_number,
                limit = %row.limit_kind,
                "case deadline approaching"
            );
        }
        Ok(Some(event))
    }

    /// Recomputes unconfirmed due dates of clocks not yet overdue, now that an operator may
    /// have loaded the missing year's holiday calendar. Returns how many moved or became
    /// confirmed.
    async fn redate_unconfirmed(&self, now: DateTime<Utc>) -> Result<usize, DbErr> {
        let rows = clock::Entity::find()
            .filter(clock::Column::State.eq(RUNNING))
            .filter(clock::Column::DueOnConfirmed.eq(false))
            .filter(clock::Column::OverdueAt.is_null())
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let mut redated = 0;
        for row in rows {
            let due = rules_clock(&row).due(&self.calendar.current());
            if due.date == row.due_on && due.confirmed == row.due_on_confirmed {
                continue;
            }
            let txn = begin_write(&self.db).await?;
            let legal = row.limit_kind == LimitKind::Legal.code();
            let case_number = row.case_number.clone();
            let mut active = row.into_active_model();
            active.due_on = Set(due.date);
            active.due_on_confirmed = Set(due.confirmed);
            active.deadline_at = Set(rules::deadline(due.date));
            active.warn_at = Set(rules::warning_time(due.date, self.warning_ahead));
            active.updated_at = Set(now);
            active.update(&txn).await?;
            if legal {
                set_case_due(&txn, &case_number, due, now).await?;
            }
            txn.commit().await?;
            redated += 1;
        }
        Ok(redated)
    }
}

/// Writes the legal due date onto the case, where tracking shows it.
pub async fn set_case_due<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
    due: residence_rules::DueDate,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    case::Entity::update_many()
        .col_expr(case::Column::DueOn, Some(due.date).into())
        .col_expr(case::Column::DueOnConfirmed, due.confirmed.into())
        .col_expr(case::Column::UpdatedAt, now.into())
        .filter(case::Column::CaseNumber.eq(case_number))
        .exec(txn)
        .await?;
    Ok(())
}

async fn clocks_of<C: ConnectionTrait>(
    txn: &C,
    case_number: &str,
    state: &str,
) -> Result<Vec<clock::Model>, DbErr> {
    clock::Entity::find()
        .filter(clock::Column::CaseNumber.eq(case_number))
        .filter(clock::Column::State.eq(state))
        .all(txn)
        .await
}

fn rules_clock(row: &clock::Model) -> Clock {
    Clock {
        working_days: u32::try_from(row.working_days).unwrap_or_default(),
        used: u32::try_from(row.used_days).unwrap_or_default(),
        started_on: row.started_on,
        paused_on: row.paused_on,
    }
}

fn limit_of(item: &ServiceItem, kind: LimitKind) -> u32 {
    match kind {
        LimitKind::Legal => item.time_limits.legal_working_days,
        LimitKind::Promised => item.time_limits.promised_working_days,
    }
}

fn to_i32(days: u32) -> i32 {
    i32::try_from(days).unwrap_or(i32::MAX)
}
