//! Revoking the license of a reversed decision: the `elicense-reversals` consumer.
//!
//! Idempotent: the event is claimed in the inbox, and a revoked license is never revoked
//! again. The license of the reversed case is revoked whatever version it is: a superseded
//! one too, since its decision no longer stands; the holder's other versions are untouched.
//! The platforms get a signed `elicense.v1.license.revoked`, tracked until they acknowledge
//! it like an issued license.

use std::sync::Arc;

use residence_eventing::consumer::claim;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::partner::LicenseAction;
use residence_events::{self as events, DecisionReversed, LicenseRevoked};
use residence_license::SigningKeys;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, Set,
};

use crate::document;
use crate::entity::{license, status};
use crate::platform::{self, AckPolicy};

/// Durable consumer name.
pub const CONSUMER: &str = "elicense-reversals";

/// Subjects this consumer follows.
pub const SUBJECTS: &[&str] = &[events::DECISION_REVERSED.subject];

/// Revokes the licenses of reversed decisions. Idempotent: see the module documentation.
#[derive(Debug)]
pub struct RevocationHandler {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    /// Signs the revocation messages.
    pub keys: Arc<SigningKeys>,
    pub acks: AckPolicy,
}

impl Handler for RevocationHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let reversal: DecisionReversed = match event.json() {
            Ok(reversal) => reversal,
            Err(outcome) => return outcome,
        };
        if reversal.case_number.trim().is_empty() {
            return Outcome::Poison("reversal has no case number".to_owned());
        }
        match self.revoke(event, &reversal).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl RevocationHandler {
    async fn revoke(
        &self,
        event: &Incoming,
        reversal: &DecisionReversed,
    ) -> Result<Outcome, DbErr> {
        let case_number = reversal.case_number.trim();
        let txn = begin_write(&self.db).await?;
        if !claim(&txn, CONSUMER, &event.id).await? {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }
        let found = license::Entity::find()
            .filter(license::Column::CaseNumber.eq(case_number))
            .one(&txn)
            .await?;
        let Some(found) = found else {
            // The approval may still be on its way: try again later, the claim rolled back.
            return Ok(Outcome::Retry(format!(
                "no license issued for case {case_number} yet"
            )));
        };
        if found.status == status::REVOKED {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }

        let mut active = found.into_active_model();
        active.status = Set(status::REVOKED.to_owned());
        active.revoked_at = Set(Some(document::whole_seconds(reversal.reversed_at)));
        active.revocation_reason = Set(Some(reversal.reason.trim().to_owned()));
        let revoked = active.update(&txn).await?;

        let message = document::revoked_message(&revoked, &self.keys);
        let internal = LicenseRevoked {
            case_number: revoked.case_number.clone(),
            identifier: revoked.identifier.clone(),
            revoked_at: message.revoked_at,
        };
        self.outbox
            .enqueue(&txn, events::LICENSE_REVOKED, case_number, &internal)
            .await?;
        let subject = events::elicense::LICENSE_REVOKED;
        let sent = self
            .outbox
            .enqueue_on(&txn, subject, case_number, &message)
            .await?;
        let action = LicenseAction::Revoked;
        platform::track(&txn, &sent, &revoked.identifier, action, &self.acks).await?;
        txn.commit().await?;

        self.relay.notify();
        tracing::info!(
            case.number = %case_number,
            license.identifier = %revoked.identifier,
            license.version = revoked.version,
            "license revoked"
        );
        Ok(Outcome::Done)
    }
}
