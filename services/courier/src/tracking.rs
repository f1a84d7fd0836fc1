//! Following parcels: partners' status reports move waybills, and the final ones are passed on
//! to the delivery service.

use residence_eventing::db::begin_write;
use residence_eventing::{ConsumerSpec, Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::{self as events, CourierDelivered, CourierFailed, logistics};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};

use crate::entity::waybill;
use crate::partner::{self, StatusReport};
use crate::{acceptance, parcel};

/// The durable consumer of `partner`'s status reports, such as `courier-status-ems`.
pub fn consumer(partner: &str) -> String {
    format!("courier-status-{partner}")
}

/// The consumer of `partner`'s status reports, on that partner's own status stream.
pub fn spec(partner: &str) -> ConsumerSpec {
    let subject = logistics::status(partner, ">");
    ConsumerSpec::new(
        &consumer(partner),
        &logistics::status_stream(partner),
        &[subject.as_str()],
    )
}

/// Applies one partner's status reports to waybills. Idempotent and safe out of order: each
/// report is claimed in the inbox under the partner's own consumer, so one partner's message
/// ids never shadow another's, and only a report further along than the waybill moves it.
#[derive(Debug)]
pub struct TrackingHandler {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    /// The durable consumer name, from [`consumer`]: the inbox key.
    pub consumer: String,
}

impl Handler for TrackingHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let report = match partner::read_status(&event.subject, &event.payload) {
            Ok(report) => report,
            Err(reason) => return Outcome::Poison(reason),
        };
        match self.apply(event, &report).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl TrackingHandler {
    async fn apply(&self, event: &Incoming, report: &StatusReport) -> Result<Outcome, DbErr> {
        let txn = begin_write(&self.db).await?;
        if !residence_eventing::consumer::claim(&txn, &self.consumer, &event.id).await? {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }
        let reference = report.parcel_reference.as_str();
        let Some(current) = waybill::Entity::find_by_id(reference.to_owned())
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Ok(Outcome::Poison(format!(
                "unknown parcel reference {reference}"
            )));
        };
        if current.partner != report.partner {
            txn.rollback().await?;
            return Ok(Outcome::Poison(format!(
                "partner {} reported on parcel {reference} of partner {}; rejected as forged",
                report.partner, current.partner
            )));
        }
        if !parcel::moves(&current.state, report.status) {
            txn.commit().await?;
            tracing::debug!(
                parcel.reference = %reference,
                state = %current.state,
                status = report.status,
                "parcel report changes nothing"
            );
            return Ok(Outcome::Done);
        }

        if !self.advance(&txn, &current, report).await? {
            txn.rollback().await?;
            return Ok(Outcome::Retry(format!(
                "waybill {reference} changed while applying a status report"
            )));
        }
        // The partner has the waybill: it is no longer requested again.
        let watched = acceptance::end(&txn, reference).await?;
        let late = watched.is_some_and(|watch| watch.incident_raised_at.is_some());
        let announced = self.announce(&txn, &current, report).await?;
        txn.commit().await?;
        let case_number = current.case_number.as_str();
        if late {
            tracing::info!(
                case.number = %case_number,
                parcel.reference = %reference,
                partner = %current.partner,
                "partner took a waybill after it was raised as an incident"
            );
        }
        if announced {
            self.relay.notify();
            tracing::info!(
                case.number = %case_number,
                parcel.reference = %reference,
                status = report.status,
                "parcel finished"
            );
        } else {
            tracing::debug!(
                case.number = %case_number,
                parcel.reference = %reference,
                status = report.status,
                "parcel moved"
            );
        }
        Ok(Outcome::Done)
    }

    /// Moves the waybill to the reported status while it is still in the state it was read
    /// in; false when another writer moved it first.
    async fn advance<C: ConnectionTrait>(
        &self,
        txn: &C,
        current: &waybill::Model,
        report: &StatusReport,
    ) -> Result<bool, DbErr> {
        let mut changes = waybill::ActiveModel {
            state: Set(report.status.to_owned()),
            updated_at: Set(chrono::Utc::now()),
            ..Default::default()
        };
        if let Some(signed_by) = &report.signed_by {
            changes.signed_by = Set(Some(signed_by.clone().into()));
        }
        if let Some(reason) = &report.reason {
            changes.failure_reason = Set(Some(reason.clone()));
        }
        let updated = waybill::Entity::update_many()
            .set(changes)
            .filter(waybill::Column::ParcelReference.eq(current.parcel_reference.as_str()))
            .filter(waybill::Column::State.eq(current.state.as_str()))
            .exec(txn)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Tells the delivery service how a parcel ended; false for a parcel still on its way.
    async fn announce<C: ConnectionTrait>(
        &self,
        txn: &C,
        waybill: &waybill::Model,
        report: &StatusReport,
    ) -> Result<bool, DbErr> {
        let case_number = waybill.case_number.as_str();
        match report.status {
            parcel::DELIVERED => {
                let delivered = CourierDelivered {
                    case_number: case_number.to_owned(),
                    partner: waybill.partner.clone(),
                    parcel_reference: waybill.parcel_reference.clone(),
                    delivered_at: report.at,
                    signed_by: report.signed_by.clone().unwrap_or_default(),
                };
                self.outbox
                    .enqueue(txn, events::COURIER_DELIVERED, case_number, &delivered)
                    .await?;
            }
            parcel::FAILED | parcel::RETURNED => {
                let failed = CourierFailed {
                    case_number: case_number.to_owned(),
                    partner: waybill.partner.clone(),
                    parcel_reference: waybill.parcel_reference.clone(),
                    reason: report.reason.clone().unwrap_or_default(),
                    failed_at: report.at,
                };
                self.outbox
                    .enqueue(txn, events::COURIER_FAILED, case_number, &failed)
                    .await?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
