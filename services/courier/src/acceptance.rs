//! Waybills a partner has not accepted: requested again once the acceptance timeout passes,
//! and raised as an incident for an operator when the allowed requests are used up.
//!
//! A waybill is watched from the transaction that first requests it until the partner's first
//! status report on it. A repeated request is the same message under a new event id, so
//! JetStream stores it again even within its duplicate window; the partner recognises the
//! parcel by its reference.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use residence_eventing::db::begin_write;
use residence_eventing::entity::outbox;
use residence_eventing::{OutboxWriter, RelayHandle};
use residence_events::partner::WaybillRequest;
use residence_events::{self as events, CourierIncident, CourierIncidentKind};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use tokio_util::sync::CancellationToken;

use crate::entity::{acceptance, waybill};

/// Waybills looked at per pass.
const BATCH: u64 = 200;

/// How long partners have to accept a waybill, and how often it is asked for.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// How long a partner may take to accept a waybill before it is requested again.
    pub timeout: TimeDelta,
    /// How many times a waybill is requested in all, the first included, before it is raised
    /// as an incident.
    pub max_requests: u32,
}

/// Starts watching a waybill requested now, in the transaction that requests it.
pub async fn watch<C: ConnectionTrait>(
    txn: &C,
    parcel_reference: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    acceptance::ActiveModel {
        parcel_reference: Set(parcel_reference.to_owned()),
        requests: Set(1),
        first_requested_at: Set(now),
        last_requested_at: Set(now),
        incident_raised_at: Set(None),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Stops watching a waybill its partner reported on. Returns the watch it ended, if any.
pub async fn end<C: ConnectionTrait>(
    txn: &C,
    parcel_reference: &str,
) -> Result<Option<acceptance::Model>, DbErr> {
    let watched = acceptance::Entity::find_by_id(parcel_reference.to_owned())
        .one(txn)
        .await?;
    if watched.is_some() {
        acceptance::Entity::delete_by_id(parcel_reference.to_owned())
            .exec(txn)
            .await?;
    }
    Ok(watched)
}

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Waybills requested from their partner again.
    pub requested_again: usize,
    /// Waybills raised as incidents.
    pub incidents: usize,
}

/// What became of one overdue waybill.
enum Step {
    RequestedAgain,
    Incident,
    /// Accepted, or handled by another replica, while it was looked at.
    Unchanged,
}

/// Finds waybills waiting too long for acceptance and acts on them.
#[derive(Clone, Debug)]
pub struct Watch {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    pub policy: Policy,
}

impl Watch {
    /// Runs a pass every `every` until `shutdown`, first calling `before_pass` (which keeps
    /// the partners' consumers in place).
    pub async fn run<F, Fut>(self, every: Duration, shutdown: CancellationToken, before_pass: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            before_pass().await;
            if let Err(error) = self.pass(Utc::now()).await {
                tracing::warn!(%error, "acceptance check failed; will retry");
            }
        }
    }

    /// One pass at `now`: every waybill whose last request is older than the timeout is
    /// requested again, or raised as an incident once it was requested the most times.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<Pass, DbErr> {
        let cutoff = now - self.policy.timeout;
        let overdue = acceptance::Entity::find()
            .filter(acceptance::Column::IncidentRaisedAt.is_null())
            .filter(acceptance::Column::LastRequestedAt.lte(cutoff))
            .order_by_asc(acceptance::Column::LastRequestedAt)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let mut pass = Pass::default();
        for watched in overdue {
            match self.settle(&watched, now).await? {
                Step::RequestedAgain => pass.requested_again += 1,
                Step::Incident => pass.incidents += 1,
                Step::Unchanged => {}
            }
        }
        if pass != Pass::default() {
            self.relay.notify();
        }
        Ok(pass)
    }

    async fn settle(&self, watched: &acceptance::Model, now: DateTime<Utc>) -> Result<Step, DbErr> {
        let txn = begin_write(&self.db).await?;
        let reference = watched.parcel_reference.as_str();
        let Some(waybill) = waybill::Entity::find_by_id(reference.to_owned())
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Ok(Step::Unchanged);
        };
        let may_ask_again =
            u32::try_from(watched.requests).unwrap_or(u32::MAX) < self.policy.max_requests;
        let request = if may_ask_again {
            last_request(&txn, &waybill).await?
        } else {
            None
        };

        let mut changes = acceptance::ActiveModel {
            last_requested_at: Set(now),
            ..Default::default()
        };
        match &request {
            Some(_) => changes.requests = Set(watched.requests + 1),
            None => changes.incident_raised_at = Set(Some(now)),
        }
        // Only while nobody else changed the watch since it was read.
        let updated = acceptance::Entity::update_many()
            .set(changes)
            .filter(acceptance::Column::ParcelReference.eq(reference))
            .filter(acceptance::Column::Requests.eq(watched.requests))
            .filter(acceptance::Column::IncidentRaisedAt.is_null())
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(Step::Unchanged);
        }

        let step = match request {
            Some(request) => {
                let subject = events::logistics::waybill_requested(&waybill.partner);
                self.outbox
                    .enqueue_on(&txn, &subject, reference, &request)
                    .await?;
                Step::RequestedAgain
            }
            None => {
                let incident = CourierIncident {
                    case_number: waybill.case_number.clone(),
                    partner: waybill.partner.clone(),
                    parcel_reference: reference.to_owned(),
                    kind: CourierIncidentKind::WaybillNotAccepted,
                    requests: u32::try_from(watched.requests).unwrap_or(0),
                    first_requested_at: watched.first_requested_at,
                    raised_at: now,
                };
                self.outbox
                    .enqueue(
                        &txn,
                        events::COURIER_INCIDENT,
                        &waybill.case_number,
                        &incident,
                    )
                    .await?;
                Step::Incident
            }
        };
        txn.commit().await?;
        log(&step, &waybill, watched.requests);
        Ok(step)
    }
}

/// The waybill request last sent for `waybill`, from the outbox; none once the outbox no
/// longer keeps it.
async fn last_request<C: ConnectionTrait>(
    txn: &C,
    waybill: &waybill::Model,
) -> Result<Option<WaybillRequest>, DbErr> {
    let subject = events::logistics::waybill_requested(&waybill.partner);
    let row = outbox::Entity::find()
        .filter(outbox::Column::Subject.eq(subject))
        .filter(outbox::Column::CaseNumber.eq(waybill.parcel_reference.as_str()))
        .order_by_desc(outbox::Column::Id)
        .one(txn)
        .await?;
    Ok(row.and_then(|row| serde_json::from_str(&row.payload).ok()))
}

fn log(step: &Step, waybill: &waybill::Model, requests: i32) {
    let case_number = waybill.case_number.as_str();
    let reference = waybill.parcel_reference.as_str();
    let partner = waybill.partner.as_str();
    match step {
        Step::RequestedAgain => tracing::info!(
            case.number = %case_number,
            parcel.reference = %reference,
            partner,
            requests = requests + 1,
            "waybill not accepted in time; requested again"
        ),
        Step::Incident => tracing::warn!(
            case.number = %case_number,
            parcel.reference = %reference,
            partner,
            requests,
            incident = CourierIncidentKind::WaybillNotAccepted.code(),
            "waybill never accepted by its partner; raised as an incident for an operator"
        ),
        Step::Unchanged => {}
    }
}
