//! The sweeper: finds cases that stopped advancing and asks every service to publish their
//! events again.
//!
//! Events are never lost while the broker keeps them: outboxes, durable consumers and inboxes
//! see to that. When the broker itself loses them (its store wiped, or restored from an old
//! backup) the events still sit in the producers' outboxes. Intake owns every case, so it is
//! the one that notices a case waiting longer than its stage budget and publishes
//! `residence.v1.case.resend_requested`; each service then re-publishes its outbox rows for
//! that case and consumers skip what they already processed.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use residence_eventing::db::begin_write;
use residence_eventing::{OutboxWriter, RelayHandle};
use residence_events::{self as events, CaseResendRequested};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};
use tokio_util::sync::CancellationToken;

use crate::entity::{case, resend};
use crate::status;

/// Cases looked at per pass.
const BATCH: u64 = 200;

/// Requests for one case are spaced by the budget times the attempts so far, up to this.
const LONGEST_SPACING: TimeDelta = TimeDelta::hours(1);

/// Statuses in which a case waits on the services, never on a person.
const WAITING_ON_SERVICES: [&str; 3] = [status::ACCEPTED, status::REVIEWED, status::APPROVED];

/// Statuses in which a case waits on a reviewer or the deciding officer.
const WAITING_ON_STAFF: [&str; 2] = [status::IN_MANUAL_REVIEW, status::AWAITING_DECISION];

/// Statuses of approved cases, which must end up with an electronic license.
const APPROVED_FAMILY: [&str; 5] = [
    status::APPROVED,
    status::SHIPPED,
    status::READY_FOR_PICKUP,
    status::DELIVERED,
    status::COLLECTED,
];

/// How long a case may wait before the sweeper acts.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Review, decision, the start of delivery and the license: seconds normally.
    pub stage: TimeDelta,
    /// With the courier: the partner's own pace, hours or days.
    pub courier: TimeDelta,
    /// With a reviewer or the deciding officer: people's pace, a working day or more.
    pub staff: TimeDelta,
}

/// Finds stuck cases and requests their events again.
#[derive(Debug, Clone)]
pub struct Sweeper {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    pub budgets: Budgets,
}

impl Sweeper {
    /// Sweeps every `every` until `shutdown`.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.pass(Utc::now()).await {
                tracing::warn!(%error, "sweep failed; will retry");
            }
        }
    }

    /// One sweep at `now`. Returns how many resend requests it made.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<usize, DbErr> {
        let stage_cutoff = now - self.budgets.stage;
        let courier_cutoff = now - self.budgets.courier;
        let staff_cutoff = now - self.budgets.staff;
        let stuck = Condition::any()
            .add(
                case::Column::Status
                    .is_in(WAITING_ON_SERVICES)
                    .and(case::Column::UpdatedAt.lt(stage_cutoff)),
            )
            .add(
                case::Column::Status
                    .eq(status::SHIPPED)
                    .and(case::Column::UpdatedAt.lt(courier_cutoff)),
            )
            .add(
                case::Column::Status
                    .is_in(WAITING_ON_STAFF)
                    .and(case::Column::UpdatedAt.lt(staff_cutoff)),
            )
            .add(
                case::Column::Status
                    .is_in(APPROVED_FAMILY)
                    .and(case::Column::LicenseIdentifier.is_null())
                    .and(case::Column::UpdatedAt.lt(stage_cutoff)),
            )
            // A withdrawal the decision service has not answered, whoever holds the case.
            .add(
                case::Column::WithdrawalRequestedAt
                    .lt(stage_cutoff)
                    .and(case::Column::IsFinal.eq(false)),
            );
        let candidates = case::Entity::find()
            .filter(stuck)
            .order_by_asc(case::Column::UpdatedAt)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let mut requested = 0;
        for candidate in candidates {
            if self.request(&candidate, now).await? {
                requested += 1;
            }
        }
        if requested > 0 {
            self.relay.notify();
        }
        Ok(requested)
    }

    /// Requests one case's events again unless a request for it is recent enough.
    async fn request(&self, case: &case::Model, now: DateTime<Utc>) -> Result<bool, DbErr> {
        let txn = begin_write(&self.db).await?;
        let previous = resend::Entity::find_by_id(case.case_number.clone())
            .one(&txn)
            .await?;
        // A request made while the case sat in this status and still waits its turn.
        if let Some(previous) = &previous
            && previous.status == case.status
            && previous.last_requested_at + self.spacing(&case.status, previous.attempts) > now
        {
            txn.commit().await?;
            return Ok(false);
        }
        let attempt = match &previous {
            Some(previous) if previous.status == case.status => previous.attempts + 1,
            _ => 1,
        };
        let row = resend::ActiveModel {
            case_number: Set(case.case_number.clone()),
            status: Set(case.status.clone()),
            attempts: Set(attempt),
            last_requested_at: Set(now),
        };
        match previous {
            Some(previous) => {
                let mut active = previous.into_active_model();
                active.status = row.status;
                active.attempts = row.attempts;
                active.last_requested_at = row.last_requested_at;
                active.update(&txn).await?;
            }
            None => {
                row.insert(&txn).await?;
            }
        }
        let request = CaseResendRequested {
            case_number: case.case_number.clone(),
            status: case.status.clone(),
            stuck_since: case.updated_at,
            attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
        };
        self.outbox
            .enqueue(
                &txn,
                events::CASE_RESEND_REQUESTED,
                &case.case_number,
                &request,
            )
            .await?;
        txn.commit().await?;
        if attempt >= 3 {
            tracing::warn!(
                case.number = %case.case_number,
                status = %case.status,
                attempt,
                "case still stuck after asking for its events again"
            );
        } else {
            tracing::info!(
                case.number = %case.case_number,
                status = %case.status,
                attempt,
                "case stuck; asking for its events again"
            );
        }
        Ok(true)
    }

    /// How long to wait after the `attempts`-th request before the next, for a case stuck in
    /// `status`: the budget times the attempts, so a case that stays stuck is asked for less
    /// and less often.
    fn spacing(&self, status: &str, attempts: i32) -> TimeDelta {
        let budget = if status == status::SHIPPED {
            self.budgets.courier
        } else {
            self.budgets.stage
        };
        (budget * attempts.clamp(1, 60)).min(LONGEST_SPACING.max(budget))
    }
}
