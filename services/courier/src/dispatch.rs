//! Dispatching courier deliveries: each one becomes a waybill and a request to the partner.

use chrono::{DateTime, Utc};
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::partner::Party;
use residence_events::{self as events, CourierDispatched, DeliveryMethod, DeliveryStarted};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};

use crate::entity::waybill;
use crate::{acceptance, parcel, partner};

/// Durable consumer name.
pub const CONSUMER: &str = "courier-deliveries";

/// Subjects this consumer follows.
pub const SUBJECTS: &[&str] = &[events::DELIVERY_STARTED.subject];

/// Sends every courier delivery to the logistics partner. Idempotent: each event is claimed in
/// the inbox, and a case has at most one waybill.
#[derive(Debug)]
pub struct DispatchHandler {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    /// The code of the partner new waybills go to (the service item's first enabled
    /// partner), or none when the service item offers no courier delivery.
    pub partner: Option<String>,
    /// The implementing body as the sender of every parcel.
    pub sender: Party,
}

impl Handler for DispatchHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let started: DeliveryStarted = match event.json() {
            Ok(started) => started,
            Err(outcome) => return outcome,
        };
        if started.method == DeliveryMethod::Pickup {
            return Outcome::Done;
        }
        let Some(partner) = &self.partner else {
            return Outcome::Poison("the service item does not offer courier delivery".into());
        };
        let recipient = match started.recipient.as_ref().map(partner::recipient) {
            Some(Ok(recipient)) => recipient,
            Some(Err(reason)) => return Outcome::Poison(reason),
            None => return Outcome::Poison("courier delivery has no recipient".into()),
        };
        match self
            .dispatch(event, &started.case_number, partner, recipient)
            .await
        {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl DispatchHandler {
    async fn dispatch(
        &self,
        event: &Incoming,
        case_number: &str,
        partner: &str,
        recipient: Party,
    ) -> Result<Outcome, DbErr> {
        let txn = begin_write(&self.db).await?;
        if !residence_eventing::consumer::claim(&txn, CONSUMER, &event.id).await? {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }

        let now = Utc::now();
        let reference = parcel::new_reference();
        let inserted = waybill::Entity::insert(new_waybill(&reference, case_number, partner, now))
            .on_conflict(
                OnConflict::column(waybill::Column::CaseNumber)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        if inserted == 0 {
            // The case was dispatched before, from another delivery event.
            txn.commit().await?;
            tracing::debug!(case.number = %case_number, "waybill already requested");
            return Ok(Outcome::Done);
        }

        // The partner knows the parcel by its reference only, also in the envelope.
        let request = partner::waybill_request(&reference, recipient, &self.sender, now);
        let subject = events::logistics::waybill_requested(partner);
        self.outbox
            .enqueue_on(&txn, &subject, &reference, &request)
            .await?;
        acceptance::watch(&txn, &reference, now).await?;
        let dispatched = CourierDispatched {
            case_number: case_number.to_owned(),
            partner: partner.to_owned(),
            parcel_reference: reference.clone(),
            dispatched_at: now,
        };
        self.outbox
            .enqueue(&txn, events::COURIER_DISPATCHED, case_number, &dispatched)
            .await?;
        txn.commit().await?;
        self.relay.notify();
        tracing::info!(
            case.number = %case_number,
            parcel.reference = %reference,
            partner,
            "waybill requested"
        );
        Ok(Outcome::Done)
    }
}

fn new_waybill(
    reference: &str,
    case_number: &str,
    partner: &str,
    now: DateTime<Utc>,
) -> waybill::ActiveModel {
    waybill::ActiveModel {
        parcel_reference: Set(reference.to_owned()),
        case_number: Set(case_number.to_owned()),
        partner: Set(partner.to_owned()),
        state: Set(parcel::REQUESTED.to_owned()),
        signed_by: Set(None),
        failure_reason: Set(None),
        requested_at: Set(now),
        updated_at: Set(now),
    }
}
