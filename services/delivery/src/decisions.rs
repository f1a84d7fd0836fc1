//! Starting deliveries: every approval gets one delivery, by courier or at the window.

use chrono::Utc;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::{self as events, DecisionApproved, DeliveryStarted};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};

use crate::entity::delivery;
use crate::rules::{self, Start};

/// Durable consumer name.
pub const CONSUMER: &str = "delivery-decisions";

/// Subjects this consumer follows.
pub const SUBJECTS: &[&str] = &[events::DECISION_APPROVED.subject];

/// Starts the delivery of each approved case. Idempotent: each event is claimed in the inbox,
/// and a case that already has a delivery keeps it.
#[derive(Debug)]
pub struct DecisionHandler {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    /// Whether the service item offers courier delivery, read at start.
    pub offers_courier: bool,
}

impl Handler for DecisionHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let approved: DecisionApproved = match event.json() {
            Ok(approved) => approved,
            Err(outcome) => return outcome,
        };
        let application = approved.application;
        let start = rules::start(&application.delivery, self.offers_courier);
        match self.begin(event, &application.case_number, start).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl DecisionHandler {
    async fn begin(
        &self,
        event: &Incoming,
        case_number: &str,
        start: Start,
    ) -> Result<Outcome, DbErr> {
        let txn = begin_write(&self.db).await?;
        if !residence_eventing::consumer::claim(&txn, CONSUMER, &event.id).await? {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }

        let now = Utc::now();
        let recipient = start
            .recipient
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|error| DbErr::Custom(format!("cannot encode recipient: {error}")))?;
        let row = delivery::ActiveModel {
            case_number: Set(case_number.to_owned()),
            method: Set(start.method.code().to_owned()),
            state: Set(start.state.to_owned()),
            recipient: Set(recipient.map(Into::into)),
            parcel_reference: Set(None),
            fallback_reason: Set(start.fallback_reason.map(str::to_owned)),
            collected_by: Set(None),
            clerk_id: Set(None),
            started_at: Set(now),
            completed_at: Set(None),
            updated_at: Set(now),
        };
        let inserted = delivery::Entity::insert(row)
            .on_conflict(
                OnConflict::column(delivery::Column::CaseNumber)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        if inserted == 0 {
            // Another approval event for the same case: its delivery has already started.
            txn.commit().await?;
            tracing::debug!(case.number = %case_number, "delivery already started");
            return Ok(Outcome::Done);
        }

        let started = DeliveryStarted {
            case_number: case_number.to_owned(),
            method: start.method,
            recipient: start.recipient,
            started_at: now,
        };
        self.outbox
            .enqueue(&txn, events::DELIVERY_STARTED, case_number, &started)
            .await?;
        txn.commit().await?;
        self.relay.notify();
        tracing::info!(
            case.number = %case_number,
            method = start.method.code(),
            state = start.state,
            fell_back = start.fallback_reason.is_some(),
            "delivery started"
        );
        Ok(Outcome::Done)
    }
}
