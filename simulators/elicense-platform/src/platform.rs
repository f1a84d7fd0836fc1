//! Handling one issued license: decode, record, then publish the platform's acknowledgement.
//!
//! Idempotent: the acknowledgement is published with `Nats-Msg-Id` =
//! `ack:<platform>:<identifier>` and whether the license is rejected depends only on the
//! identifier, so handling a license again publishes the same acknowledgement, which the
//! stream drops.

use async_nats::jetstream::{self, Message};
use chrono::{DateTime, Utc};
use residence_events::elicense;
use residence_events::partner::{
    LICENSE_ACKNOWLEDGED_SCHEMA, LICENSE_ISSUED_SCHEMA, LicenseAcknowledged, LicenseIssuedMessage,
};
use residence_simulator_kit::{
    Delivery, Handler, Outcome, Recorder, StableShare, check_key, check_schema, decode,
    publish_answer,
};
use serde::Serialize;

/// Reasons a platform gives when it will not register a license (不予入库原因).
const REJECTION_REASONS: &[&str] = &[
    "持证人身份信息核验未通过",
    "证照类型代码未在平台目录中登记",
    "签发机构代码与证照目录不一致",
];

/// The licenses the platform rejects: about `share` (0.0 to 1.0) of them, the same ones on
/// every platform and in every run.
pub(crate) fn rejections(share: f64) -> StableShare {
    StableShare::new(share, 0, REJECTION_REASONS)
}

/// One line of the record file.
#[derive(Debug, Serialize)]
struct Received<'a> {
    identifier: &'a str,
    case_number: &'a str,
    version: u32,
    received_at: DateTime<Utc>,
}

/// Registers the licenses one platform receives.
#[derive(Debug)]
pub(crate) struct Platform {
    pub(crate) jetstream: jetstream::Context,
    /// The platform code sent in every acknowledgement.
    pub(crate) name: String,
    pub(crate) rejections: StableShare,
    pub(crate) recorder: Recorder,
}

impl Handler for Platform {
    fn span(&self, delivery: Delivery) -> tracing::Span {
        tracing::info_span!(
            "issued_license",
            stream.sequence = delivery.stream_sequence,
            delivered = delivery.count,
            license.identifier = tracing::field::Empty,
        )
    }

    async fn handle(&self, message: &Message, _delivery: Delivery) -> Outcome {
        let license = match decode_license(&message.payload) {
            Ok(license) => license,
            Err(reason) => return Outcome::Invalid(reason),
        };
        let identifier = license.identifier.as_str();
        tracing::Span::current().record("license.identifier", identifier);

        let received = Received {
            identifier,
            case_number: &license.case_number,
            version: license.version,
            received_at: Utc::now(),
        };
        if let Err(error) = self.recorder.append(&received).await {
            return Outcome::Retry(format!("{error:#}"));
        }
        tracing::info!(version = license.version, "issued license received");

        let rejection = self.rejections.reason_for(identifier);
        let acknowledgement = self.acknowledgement(identifier, rejection);
        let message_id = message_id(&self.name, identifier);
        let subject = elicense::LICENSE_ACKNOWLEDGED.to_owned();
        let published = publish_answer(
            &self.jetstream,
            message,
            subject,
            &message_id,
            &acknowledgement,
        );
        match published.await {
            Ok(stored) => {
                tracing::debug!(duplicate = stored.duplicate, "acknowledgement published")
            }
            Err(error) => return Outcome::Retry(format!("acknowledgement: {error:#}")),
        }

        match rejection {
            None => tracing::info!("license registered"),
            Some(_) => tracing::info!("license rejected"),
        }
        Outcome::Done
    }
}

impl Platform {
    /// The platform's answer on `identifier`: accepted, or rejected for `rejection`.
    fn acknowledgement(&self, identifier: &str, rejection: Option<&str>) -> LicenseAcknowledged {
        LicenseAcknowledged {
            schema: LICENSE_ACKNOWLEDGED_SCHEMA.to_owned(),
            identifier: identifier.to_owned(),
            platform: self.name.clone(),
            accepted: rejection.is_none(),
            reason: rejection.map(str::to_owned),
            at: Utc::now(),
        }
    }
}

/// The deduplication id of an acknowledgement: `ack:<platform>:<identifier>`.
fn message_id(platform: &str, identifier: &str) -> String {
    format!("ack:{platform}:{identifier}")
}

/// Decodes and checks a license. Errors never quote the payload, which holds personal data.
fn decode_license(payload: &[u8]) -> Result<LicenseIssuedMessage, String> {
    let license: LicenseIssuedMessage = decode(payload, "an issued license")?;
    check_schema(&license.schema, LICENSE_ISSUED_SCHEMA)?;
    check_key("identifier", &license.identifier)?;
    Ok(license)
}

#[cfg(test)]
mod tests {
    use residence_simulator_kit::testing::json_with;

    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/issued_license.json");

    #[test]
    fn decodes_a_valid_license() {
        let license = decode_license(FIXTURE.as_bytes()).unwrap();
        assert_eq!(license.version, 1);
    }

    #[test]
    fn refuses_other_schemas_and_bad_identifiers() {
        let other_schema = json_with(FIXTURE, &[("schema", "elicense.v2.license_issued")]);
        assert!(decode_license(&other_schema).is_err());
        let bad_identifier = json_with(FIXTURE, &[("identifier", "1.2 X")]);
        assert!(decode_license(&bad_identifier).is_err());
    }

    #[test]
    fn message_ids_name_the_platform_and_the_identifier() {
        assert_eq!(
            message_id("henan-elicense", "1.2.X"),
            "ack:henan-elicense:1.2.X"
        );
    }

    #[test]
    fn the_same_licenses_are_rejected_in_every_release() {
        let rejections = rejections(0.5);
        let verdicts: Vec<_> = ["1.2.X.5", "1.2.X.6", "1.2.X.8"]
            .into_iter()
            .map(|identifier| rejections.reason_for(identifier))
            .collect();
        let expected = [
            None,
            Some("证照类型代码未在平台目录中登记"),
            Some("签发机构代码与证照目录不一致"),
        ];
        assert_eq!(verdicts, expected);
    }
}
