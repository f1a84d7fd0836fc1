//! Recording what the e-license platform made of each license it was sent, issued or revoked:
//! the `elicense-platform-acks` consumer.
//!
//! Idempotent: each acknowledgement is claimed in the inbox. The latest acknowledgement wins:
//! an acceptance clears an earlier rejection and the other way round. A rejection raises
//! `residence.v1.license.incident`; the reason stays on the record, visible to operators
//! through `ListPlatformProblems`, and out of logs and events.

use chrono::Utc;
use residence_eventing::consumer::claim;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::partner::{LICENSE_ACKNOWLEDGED_SCHEMA, LicenseAcknowledged, LicenseAction};
use residence_events::{LicenseIncidentKind, elicense};
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel,
    Set,
};

use crate::entity::{license, message_state, platform_message};
use crate::platform;

/// Durable consumer name.
pub const CONSUMER: &str = "elicense-platform-acks";

/// Subjects this consumer follows, on the `ELICENSE` stream.
pub const SUBJECTS: &[&str] = &[elicense::LICENSE_ACKNOWLEDGED];

/// Longest platform name accepted.
const MAX_PLATFORM_LENGTH: usize = 64;

/// Longest rejection reason kept; longer ones are cut.
const MAX_REASON_LENGTH: usize = 500;

/// Records acknowledgements on licenses. Idempotent: see the module documentation.
#[derive(Debug)]
pub struct AcknowledgementHandler {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    /// The platforms licenses are sent to (`--platforms`): an answer naming another is parked.
    pub platforms: Vec<String>,
}

impl Handler for AcknowledgementHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let ack: LicenseAcknowledged = match event.json() {
            Ok(ack) => ack,
            Err(outcome) => return outcome,
        };
        if let Err(problem) = check(&ack) {
            return Outcome::Poison(problem);
        }
        let platform = ack.platform.trim();
        if !self.platforms.iter().any(|known| known == platform) {
            return Outcome::Poison(format!(
                "platform {platform:?} is not one licenses are sent to ({})",
                self.platforms.join(", ")
            ));
        }
        match self.record(event, &ack).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl AcknowledgementHandler {
    async fn record(&self, event: &Incoming, ack: &LicenseAcknowledged) -> Result<Outcome, DbErr> {
        let txn = begin_write(&self.db).await?;
        if !claim(&txn, CONSUMER, &event.id).await? {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }
        let identifier = ack.identifier.trim();
        let Some(found) = license::Entity::find_by_id(identifier.to_owned())
            .one(&txn)
            .await?
        else {
            return Ok(Outcome::Poison(format!(
                "no license {identifier} was issued here"
            )));
        };

        let case_number = found.case_number.clone();
        if ack.action == LicenseAction::Issued {
            record_on_license(&txn, found, ack).await?;
        }
        let raised = self.record_on_message(&txn, identifier, ack).await?;
        txn.commit().await?;
        if raised {
            self.relay.notify();
        }

        // The reason is stored, not logged: a platform may quote the holder's data in it.
        let platform = ack.platform.trim();
        let action = ack.action.code();
        if ack.accepted {
            tracing::info!(
                case.number = %case_number,
                license.identifier = %identifier,
                license.action = action,
                platform,
                "license acknowledged by the e-license platform"
            );
        } else {
            tracing::warn!(
                case.number = %case_number,
                license.identifier = %identifier,
                license.action = action,
                platform,
                "license rejected by the e-license platform; the reason is on the record"
            );
        }
        Ok(Outcome::Done)
    }

    /// Settles the message the acknowledgement answers. Returns whether an incident was
    /// raised. Licenses sent before messages were tracked have none.
    async fn record_on_message(
        &self,
        txn: &DatabaseTransaction,
        identifier: &str,
        ack: &LicenseAcknowledged,
    ) -> Result<bool, DbErr> {
        let Some(message) = platform::find(txn, identifier, ack.action).await? else {
            return Ok(false);
        };
        let was_rejected = message.state == message_state::REJECTED;
        let mut active = message.into_active_model();
        active.platform = Set(Some(ack.platform.trim().to_owned()));
        active.ack_due_at = Set(None);
        active.updated_at = Set(Utc::now());
        if ack.accepted {
            active.state = Set(message_state::ACCEPTED.to_owned());
            active.reason = Set(None);
        } else {
            active.state = Set(message_state::REJECTED.to_owned());
            active.reason = Set(Some(rejection_reason(ack.reason.as_deref())));
        }
        let message: platform_message::Model = active.update(txn).await?;
        if ack.accepted || was_rejected {
            return Ok(false);
        }
        let kind = LicenseIncidentKind::Rejected;
        platform::raise_incident(txn, &self.outbox, &message, kind).await?;
        Ok(true)
    }
}

/// The platform's answer on an issued license, on the license itself.
async fn record_on_license(
    txn: &DatabaseTransaction,
    found: license::Model,
    ack: &LicenseAcknowledged,
) -> Result<(), DbErr> {
    let mut active = found.into_active_model();
    active.ack_platform = Set(Some(ack.platform.trim().to_owned()));
    if ack.accepted {
        active.acknowledged_at = Set(Some(ack.at));
        active.rejected_reason = Set(None);
    } else {
        active.acknowledged_at = Set(None);
        active.rejected_reason = Set(Some(rejection_reason(ack.reason.as_deref())));
    }
    active.update(txn).await?;
    Ok(())
}

/// What an acknowledgement must carry; anything else is poison.
fn check(ack: &LicenseAcknowledged) -> Result<(), String> {
    if ack.schema != LICENSE_ACKNOWLEDGED_SCHEMA {
        return Err(format!(
            "schema must be {LICENSE_ACKNOWLEDGED_SCHEMA}, got {:?}",
            ack.schema
        ));
    }
    if ack.identifier.trim().is_empty() {
        return Err("acknowledgement has no license identifier".into());
    }
    let platform = ack.platform.trim();
    if platform.is_empty()
        || platform.chars().count() > MAX_PLATFORM_LENGTH
        || platform.chars().any(char::is_control)
    {
        return Err(format!(
            "platform must be 1 to {MAX_PLATFORM_LENGTH} characters without control characters"
        ));
    }
    Ok(())
}

fn rejection_reason(reason: Option<&str>) -> String {
    let reason = reason.map(str::trim).filter(|reason| !reason.is_empty());
    match reason {
        // A platform may quote the holder's ID number: kept masked, as everywhere else.
        Some(reason) => residence_rules::mask_id_numbers(reason)
            .chars()
            .take(MAX_REASON_LENGTH)
            .collect(),
        None => "the platform gave no reason".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(schema: &str, platform: &str) -> LicenseAcknowledged {
        LicenseAcknowledged {
            schema: schema.to_owned(),
            identifier: "1.2.156.3005.2.340101.114128240059672296.3FA85F6457B2.001.X".to_owned(),
            action: LicenseAction::Issued,
            platform: platform.to_owned(),
            accepted: false,
            reason: None,
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn acknowledgements_need_the_schema_and_a_platform() {
        assert!(check(&ack(LICENSE_ACKNOWLEDGED_SCHEMA, "henan-elicense")).is_ok());
        assert!(check(&ack("elicense.v2.license_acknowledged", "henan-elicense")).is_err());
        assert!(check(&ack(LICENSE_ACKNOWLEDGED_SCHEMA, "  ")).is_err());
        assert!(check(&ack(LICENSE_ACKNOWLEDGED_SCHEMA, "a\nb")).is_err());
    }

    #[test]
    fn rejection_reasons_keep_no_id_number() {
        let reason = rejection_reason(Some("持证人身份证号411721199001011237不符"));
        assert!(!reason.contains("411721199001011237"), "{reason}");
        assert!(reason.contains("411721********1237"), "{reason}");
    }

    #[test]
    fn rejection_reasons_are_never_empty_and_bounded() {
        assert_eq!(rejection_reason(None), "the platform gave no reason");
        assert_eq!(rejection_reason(Some("  ")), "the platform gave no reason");
        assert_eq!(
            rejection_reason(Some(" 证照类型代码未登记 ")),
            "证照类型代码未登记"
        );
        assert_eq!(
            rejection_reason(Some(&"长".repeat(900))).chars().count(),
            MAX_REASON_LENGTH
        );
    }
}
