//! Recording what the e-license platform made of each license: the `elicense-platform-acks`
//! consumer.
//!
//! Idempotent: each acknowledgement is claimed in the inbox. The latest acknowledgement of a
//! license wins: an acceptance clears an earlier rejection and the other way round.

use residence_eventing::consumer::claim;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, Outcome};
use residence_events::elicense;
use residence_events::partner::{LICENSE_ACKNOWLEDGED_SCHEMA, LicenseAcknowledged};
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, Set};

use crate::entity::license;

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
        let mut active = found.into_active_model();
        active.ack_platform = Set(Some(ack.platform.trim().to_owned()));
        if ack.accepted {
            active.acknowledged_at = Set(Some(ack.at));
            active.rejected_reason = Set(None);
        } else {
            active.acknowledged_at = Set(None);
            active.rejected_reason = Set(Some(rejection_reason(ack.reason.as_deref())));
        }
        active.update(&txn).await?;
        txn.commit().await?;

        // The reason is stored, not logged: a platform may quote the holder's data in it.
        if ack.accepted {
            tracing::info!(
                case.number = %case_number,
                license.identifier = %identifier,
                platform = %ack.platform.trim(),
                "license registered by the e-license platform"
            );
        } else {
            tracing::warn!(
                case.number = %case_number,
                license.identifier = %identifier,
                platform = %ack.platform.trim(),
                "license rejected by the e-license platform; the reason is on the license"
            );
        }
        Ok(Outcome::Done)
    }
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
        Some(reason) => reason.chars().take(MAX_REASON_LENGTH).collect(),
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
