//! Handling one message: decode, verify its signature with the trusted keys, record, then
//! publish the platform's acknowledgement.
//!
//! Idempotent: the acknowledgement is published with `Nats-Msg-Id` =
//! `ack:<platform>:<identifier>` (`ack:<platform>:revoked:<identifier>` for a revocation),
//! and whether a license is rejected or left unanswered depends only on its identifier and
//! its signature, so handling a message again publishes the same acknowledgement, which the
//! stream drops.

use std::path::PathBuf;
use std::sync::RwLock;

use async_nats::jetstream::{self, Message};
use chrono::{DateTime, Utc};
use residence_events::elicense;
use residence_events::partner::{
    LICENSE_ACKNOWLEDGED_SCHEMA, LICENSE_REVOKED_SCHEMA, LicenseAcknowledged, LicenseAction,
    LicenseIssuedMessage, LicenseRevokedMessage,
};
use residence_license::{PublicKeys, SignatureProblem, verify};
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

/// Why a license whose signature does not verify is rejected.
const BAD_SIGNATURE: &str = "电子证照签名验证失败";
/// Why a license whose identifier is malformed is rejected.
const BAD_IDENTIFIER: &str = "证照标识格式或校验位错误";
/// Why a license whose QR payload does not verify is rejected.
const BAD_QR_PAYLOAD: &str = "电子证照二维码签名验证失败";
/// Why a revocation whose signature does not verify is rejected.
const BAD_REVOCATION: &str = "撤销通知签名验证失败";

/// Mixed into the seed of the unanswered share, so it does not follow the rejected one.
const UNANSWERED_SEED: u64 = 0x5349_4c45_4e54;

/// The licenses the platform rejects: about `share` (0.0 to 1.0) of them, the same ones on
/// every platform and in every run.
pub(crate) fn rejections(share: f64) -> StableShare {
    StableShare::new(share, 0, REJECTION_REASONS)
}

/// The licenses the platform never answers: about `share` of them, stable like rejections.
pub(crate) fn unanswered(share: f64) -> StableShare {
    StableShare::new(share, UNANSWERED_SEED, &["unanswered"])
}

/// One line of the record file, per issued-license message handled.
#[derive(Debug, Serialize)]
struct Received<'a> {
    identifier: &'a str,
    case_number: &'a str,
    version: u32,
    /// The signature, identifier and QR payload all verified.
    verified: bool,
    received_at: DateTime<Utc>,
}

/// The public keys the platform trusts, read from the file the county handed out.
#[derive(Debug)]
pub(crate) struct Trust {
    path: PathBuf,
    keys: RwLock<PublicKeys>,
}

impl Trust {
    /// Reads the keys; fails when none can be read.
    pub(crate) fn read(path: PathBuf) -> anyhow::Result<Self> {
        let keys = PublicKeys::read(&path)?;
        anyhow::ensure!(!keys.is_empty(), "no public keys in {}", path.display());
        Ok(Self {
            path,
            keys: RwLock::new(keys),
        })
    }

    /// The keys, read again first when `key_id` is not among them: the county may have
    /// rotated its key and handed out a new document.
    fn keys_for(&self, key_id: &str) -> PublicKeys {
        let known = |keys: &PublicKeys| keys.key_ids().any(|id| id.as_str() == key_id);
        let held = self
            .keys
            .read()
            .map(|keys| keys.clone())
            .unwrap_or_default();
        if known(&held) {
            return held;
        }
        match PublicKeys::read(&self.path) {
            Ok(fresh) => {
                tracing::info!(
                    key.id = key_id,
                    "trusted keys read again for an unknown key"
                );
                if let Ok(mut keys) = self.keys.write() {
                    *keys = fresh.clone();
                }
                fresh
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the trusted keys again");
                held
            }
        }
    }
}

/// Registers the licenses one platform receives.
#[derive(Debug)]
pub(crate) struct Platform {
    pub(crate) jetstream: jetstream::Context,
    /// The platform code sent in every acknowledgement.
    pub(crate) name: String,
    pub(crate) rejections: StableShare,
    pub(crate) unanswered: StableShare,
    pub(crate) trust: Trust,
    pub(crate) recorder: Recorder,
}

/// Issued licenses, from `platform-<platform>-licenses`.
pub(crate) struct Issued<'a>(pub(crate) &'a Platform);

/// Revocations, from `platform-<platform>-revocations`.
pub(crate) struct Revoked<'a>(pub(crate) &'a Platform);

impl Handler for Issued<'_> {
    fn span(&self, delivery: Delivery) -> tracing::Span {
        tracing::info_span!(
            "issued_license",
            stream.sequence = delivery.stream_sequence,
            delivered = delivery.count,
            license.identifier = tracing::field::Empty,
        )
    }

    async fn handle(&self, message: &Message, _delivery: Delivery) -> Outcome {
        let platform = self.0;
        let license = match decode_license(&message.payload) {
            Ok(license) => license,
            Err(reason) => return Outcome::Invalid(reason),
        };
        let identifier = license.license.identifier.as_str();
        tracing::Span::current().record("license.identifier", identifier);

        let keys = platform.trust.keys_for(&license.signature.key_id);
        let verification = verify::document(&license, &keys);
        let received = Received {
            identifier,
            case_number: &license.license.case_number,
            version: license.license.version,
            verified: verification.is_authentic(),
            received_at: Utc::now(),
        };
        // A license already on file was sent again; answer it again, record it once.
        if let Err(error) = platform.recorder.append_new(identifier, &received).await {
            return Outcome::Retry(format!("{error:#}"));
        }
        tracing::info!(
            version = license.license.version,
            verified = verification.is_authentic(),
            "issued license received"
        );

        let rejection = if verification.check_character.is_err() {
            Some(BAD_IDENTIFIER)
        } else if verification.signature.is_err() {
            Some(BAD_SIGNATURE)
        } else if !verification.is_authentic() {
            Some(BAD_QR_PAYLOAD)
        } else {
            platform.rejections.reason_for(identifier)
        };
        platform
            .answer(message, identifier, LicenseAction::Issued, rejection)
            .await
    }
}

impl Handler for Revoked<'_> {
    fn span(&self, delivery: Delivery) -> tracing::Span {
        tracing::info_span!(
            "revoked_license",
            stream.sequence = delivery.stream_sequence,
            delivered = delivery.count,
            license.identifier = tracing::field::Empty,
        )
    }

    async fn handle(&self, message: &Message, _delivery: Delivery) -> Outcome {
        let platform = self.0;
        let revocation = match decode_revocation(&message.payload) {
            Ok(revocation) => revocation,
            Err(reason) => return Outcome::Invalid(reason),
        };
        let identifier = revocation.identifier.as_str();
        tracing::Span::current().record("license.identifier", identifier);

        let keys = platform.trust.keys_for(&revocation.signature.key_id);
        let verified = verify::revocation(&revocation, &keys);
        tracing::info!(verified = verified.is_ok(), "revocation received");
        let rejection = verified.err().map(|_: SignatureProblem| BAD_REVOCATION);
        platform
            .answer(message, identifier, LicenseAction::Revoked, rejection)
            .await
    }
}

impl Platform {
    /// Publishes the acknowledgement of `message`, unless the identifier is one the platform
    /// leaves unanswered.
    async fn answer(
        &self,
        message: &Message,
        identifier: &str,
        action: LicenseAction,
        rejection: Option<&str>,
    ) -> Outcome {
        if self.unanswered.reason_for(identifier).is_some() {
            tracing::info!(action = action.code(), "license left unanswered");
            return Outcome::Done;
        }
        let acknowledgement = self.acknowledgement(identifier, action, rejection);
        let message_id = message_id(&self.name, action, identifier);
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

        let action = action.code();
        match rejection {
            None => tracing::info!(action, "license message accepted"),
            Some(_) => tracing::info!(action, "license message rejected"),
        }
        Outcome::Done
    }

    /// The platform's answer on `identifier`: accepted, or rejected for `rejection`.
    fn acknowledgement(
        &self,
        identifier: &str,
        action: LicenseAction,
        rejection: Option<&str>,
    ) -> LicenseAcknowledged {
        LicenseAcknowledged {
            schema: LICENSE_ACKNOWLEDGED_SCHEMA.to_owned(),
            identifier: identifier.to_owned(),
            action,
            platform: self.name.clone(),
            accepted: rejection.is_none(),
            reason: rejection.map(str::to_owned),
            at: Utc::now(),
        }
    }
}

/// The deduplication id of an acknowledgement: `ack:<platform>:<identifier>` for an issued
/// license, `ack:<platform>:revoked:<identifier>` for a revocation.
fn message_id(platform: &str, action: LicenseAction, identifier: &str) -> String {
    match action {
        LicenseAction::Issued => format!("ack:{platform}:{identifier}"),
        LicenseAction::Revoked => format!("ack:{platform}:revoked:{identifier}"),
    }
}

/// Decodes and checks a license. Errors never quote the payload, which holds personal data.
fn decode_license(payload: &[u8]) -> Result<LicenseIssuedMessage, String> {
    let license = verify::parse_document(payload).map_err(|error| error.to_string())?;
    check_key("identifier", &license.license.identifier)?;
    Ok(license)
}

/// Decodes and checks a revocation.
fn decode_revocation(payload: &[u8]) -> Result<LicenseRevokedMessage, String> {
    let revocation: LicenseRevokedMessage = decode(payload, "a revoked license")?;
    check_schema(&revocation.schema, LICENSE_REVOKED_SCHEMA)?;
    check_key("identifier", &revocation.identifier)?;
    Ok(revocation)
}

#[cfg(test)]
mod tests {
    use residence_simulator_kit::testing::json_with;

    use super::*;

    const FIXTURE: &str =
        include_str!("../../../crates/license/tests/fixtures/signed-license.json");

    #[test]
    fn decodes_a_valid_license() {
        let license = decode_license(FIXTURE.as_bytes()).unwrap();
        assert_eq!(license.license.version, 2);
    }

    #[test]
    fn refuses_other_schemas_and_bad_identifiers() {
        let other_schema = json_with(FIXTURE, &[("schema", "elicense.v2.license_issued")]);
        assert!(decode_license(&other_schema).is_err());
        let bad_identifier = json_with(FIXTURE, &[("identifier", "1.2 X")]);
        assert!(decode_license(&bad_identifier).is_err());
    }

    #[test]
    fn message_ids_name_the_platform_the_action_and_the_identifier() {
        let issued = message_id("henan-elicense", LicenseAction::Issued, "1.2.X");
        assert_eq!(issued, "ack:henan-elicense:1.2.X");
        let revoked = message_id("henan-elicense", LicenseAction::Revoked, "1.2.X");
        assert_eq!(revoked, "ack:henan-elicense:revoked:1.2.X");
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

    #[test]
    fn every_license_is_answered_by_default_and_none_when_asked() {
        assert_eq!(unanswered(0.0).reason_for("1.2.X.5"), None);
        assert!(unanswered(1.0).reason_for("1.2.X.5").is_some());
    }
}
