//! Following courier deliveries: a delivered parcel completes the delivery, a failed one sends
//! the permit back to the window.

use chrono::{DateTime, Utc};
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::{
    self as events, CourierDelivered, CourierFailed, DeliveryCompleted, DeliveryOutcome,
    DeliveryRerouted,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Set};

use crate::entity::delivery;
use crate::rules::{self, Office, Report, ReportEffect};
use crate::store::move_from;

/// Durable consumer name.
pub const CONSUMER: &str = "delivery-courier-reports";

/// Subjects this consumer follows.
pub const SUBJECTS: &[&str] = &[
    events::COURIER_DELIVERED.subject,
    events::COURIER_FAILED.subject,
];

/// One courier report, whichever event carried it.
#[derive(Clone, Debug)]
struct CourierReport {
    case_number: String,
    parcel_reference: String,
    report: Report,
    /// Why delivery failed; empty for a delivered parcel.
    reason: String,
    at: DateTime<Utc>,
}

/// Applies courier reports to deliveries. Idempotent: each event is claimed in the inbox, and
/// reports on deliveries that are final or already back at the window change nothing.
#[derive(Debug)]
pub struct ReportHandler {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    /// Where a permit the courier could not deliver can be collected, as the applicant is told.
    pub office: Office,
}

impl Handler for ReportHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let report = match decode(event) {
            Ok(report) => report,
            Err(outcome) => return outcome,
        };
        match self.apply(event, &report).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl ReportHandler {
    async fn apply(&self, event: &Incoming, report: &CourierReport) -> Result<Outcome, DbErr> {
        let txn = begin_write(&self.db).await?;
        if !residence_eventing::consumer::claim(&txn, CONSUMER, &event.id).await? {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }
        let case_number = report.case_number.as_str();
        let Some(current) = delivery::Entity::find_by_id(case_number.to_owned())
            .one(&txn)
            .await?
        else {
            // The approval may still be on its way; redelivery is bounded by max_deliver.
            txn.rollback().await?;
            return Ok(Outcome::Retry(format!(
                "no delivery for case {case_number} yet"
            )));
        };
        let effect = match rules::on_report(&current.method, &current.state, report.report) {
            Ok(effect) => effect,
            Err(reason) => {
                txn.rollback().await?;
                return Ok(Outcome::Poison(reason));
            }
        };

        let (moved, state) = match effect {
            ReportEffect::Ignore => {
                txn.commit().await?;
                tracing::debug!(
                    case.number = %case_number,
                    state = %current.state,
                    "late courier report ignored"
                );
                return Ok(Outcome::Done);
            }
            ReportEffect::Deliver => (self.deliver(&txn, report).await?, rules::DELIVERED),
            ReportEffect::Reroute => (
                self.reroute(&txn, report).await?,
                rules::AWAITING_COLLECTION,
            ),
        };
        if !moved {
            txn.rollback().await?;
            return Ok(Outcome::Retry(format!(
                "delivery of case {case_number} changed while applying a courier report"
            )));
        }
        txn.commit().await?;
        self.relay.notify();
        tracing::info!(
            case.number = %case_number,
            parcel.reference = %report.parcel_reference,
            state,
            "courier report applied"
        );
        Ok(Outcome::Done)
    }

    /// Completes a shipped delivery; false when it was no longer shipped.
    async fn deliver<C: ConnectionTrait>(
        &self,
        txn: &C,
        report: &CourierReport,
    ) -> Result<bool, DbErr> {
        let changes = delivery::ActiveModel {
            state: Set(rules::DELIVERED.to_owned()),
            parcel_reference: Set(Some(report.parcel_reference.clone())),
            completed_at: Set(Some(report.at)),
            updated_at: Set(Utc::now()),
            ..Default::default()
        };
        if !move_from(txn, &report.case_number, rules::SHIPPED, changes).await? {
            return Ok(false);
        }
        let completed = DeliveryCompleted {
            case_number: report.case_number.clone(),
            outcome: DeliveryOutcome::Delivered,
            completed_at: report.at,
        };
        self.outbox
            .enqueue(
                txn,
                events::DELIVERY_COMPLETED,
                &report.case_number,
                &completed,
            )
            .await?;
        Ok(true)
    }

    /// Sends a shipped permit back to the window; false when it was no longer shipped.
    async fn reroute<C: ConnectionTrait>(
        &self,
        txn: &C,
        report: &CourierReport,
    ) -> Result<bool, DbErr> {
        let now = Utc::now();
        let changes = delivery::ActiveModel {
            state: Set(rules::AWAITING_COLLECTION.to_owned()),
            parcel_reference: Set(Some(report.parcel_reference.clone())),
            fallback_reason: Set(Some(report.reason.clone())),
            updated_at: Set(now),
            ..Default::default()
        };
        if !move_from(txn, &report.case_number, rules::SHIPPED, changes).await? {
            return Ok(false);
        }
        let rerouted = DeliveryRerouted {
            case_number: report.case_number.clone(),
            reason: report.reason.clone(),
            rerouted_at: now,
            notice: rules::reroute_notice(&report.reason, &self.office),
        };
        self.outbox
            .enqueue(
                txn,
                events::DELIVERY_REROUTED,
                &report.case_number,
                &rerouted,
            )
            .await?;
        Ok(true)
    }
}

fn decode(event: &Incoming) -> Result<CourierReport, Outcome> {
    let subject = event.subject.as_str();
    if subject == events::COURIER_DELIVERED.subject {
        let delivered: CourierDelivered = event.json()?;
        Ok(CourierReport {
            case_number: delivered.case_number,
            parcel_reference: delivered.parcel_reference,
            report: Report::Delivered,
            reason: String::new(),
            at: delivered.delivered_at,
        })
    } else if subject == events::COURIER_FAILED.subject {
        let failed: CourierFailed = event.json()?;
        Ok(CourierReport {
            case_number: failed.case_number,
            parcel_reference: failed.parcel_reference,
            report: Report::Failed,
            reason: failed.reason,
            at: failed.failed_at,
        })
    } else {
        Err(Outcome::Poison(format!("unexpected subject {subject}")))
    }
}
