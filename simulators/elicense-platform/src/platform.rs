//! Handling one issued license: decode, record, then publish the platform's acknowledgement.
//!
//! Idempotent: the acknowledgement is published with `Nats-Msg-Id` =
//! `ack:<platform>:<identifier>` and the verdict is a pure function of the identifier, so
//! handling a license again publishes the same acknowledgement, which the stream drops.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, Message};
use chrono::Utc;
use residence_events::elicense;
use residence_events::partner::{
    LICENSE_ACKNOWLEDGED_SCHEMA, LICENSE_ISSUED_SCHEMA, LicenseAcknowledged, LicenseIssuedMessage,
};

use crate::choice::{Rejections, Verdict};
use crate::consumer::Outcome;
use crate::record::{Received, Recorder};

/// Longest license identifier accepted; it becomes part of a header value.
const MAX_IDENTIFIER_LEN: usize = 128;

/// Registers the licenses one platform receives.
#[derive(Debug)]
pub(crate) struct Platform {
    pub(crate) jetstream: jetstream::Context,
    /// The platform code sent in every acknowledgement.
    pub(crate) name: String,
    pub(crate) rejections: Rejections,
    pub(crate) recorder: Recorder,
}

impl Platform {
    /// Handles one delivery of an issued-license message.
    pub(crate) async fn handle(&self, message: &Message) -> Outcome {
        let license = match decode(&message.payload) {
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

        let verdict = self.rejections.verdict(identifier);
        let traceparent = message.headers.as_ref().and_then(|h| h.get("traceparent"));
        if let Err(error) = self.acknowledge(identifier, &verdict, traceparent).await {
            return Outcome::Retry(error);
        }
        match verdict {
            Verdict::Accepted => tracing::info!("license registered"),
            Verdict::Rejected(_) => tracing::info!("license rejected"),
        }
        Outcome::Done
    }

    /// Publishes the acknowledgement of `identifier` and waits for the stream to store it.
    async fn acknowledge(
        &self,
        identifier: &str,
        verdict: &Verdict,
        traceparent: Option<&async_nats::HeaderValue>,
    ) -> Result<(), String> {
        let acknowledgement = self.acknowledgement(identifier, verdict);
        let payload = serde_json::to_vec(&acknowledgement).map_err(|error| error.to_string())?;

        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", message_id(&self.name, identifier).as_str());
        headers.insert("content-type", "application/json");
        if let Some(traceparent) = traceparent {
            headers.insert("traceparent", traceparent.clone());
        }

        let subject = elicense::LICENSE_ACKNOWLEDGED;
        let ack = self
            .jetstream
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(|error| format!("publish acknowledgement: {error}"))?
            .await
            .map_err(|error| format!("store acknowledgement: {error}"))?;
        tracing::debug!(duplicate = ack.duplicate, "acknowledgement published");
        Ok(())
    }

    fn acknowledgement(&self, identifier: &str, verdict: &Verdict) -> LicenseAcknowledged {
        let reason = match verdict {
            Verdict::Accepted => None,
            Verdict::Rejected(reason) => Some((*reason).to_owned()),
        };
        LicenseAcknowledged {
            schema: LICENSE_ACKNOWLEDGED_SCHEMA.to_owned(),
            identifier: identifier.to_owned(),
            platform: self.name.clone(),
            accepted: reason.is_none(),
            reason,
            at: Utc::now(),
        }
    }
}

/// The deduplication id of an acknowledgement: `ack:<platform>:<identifier>`.
fn message_id(platform: &str, identifier: &str) -> String {
    format!("ack:{platform}:{identifier}")
}

/// Decodes and checks a license. Errors never quote the payload, which holds personal data.
fn decode(payload: &[u8]) -> Result<LicenseIssuedMessage, String> {
    let license: LicenseIssuedMessage = serde_json::from_slice(payload).map_err(|error| {
        format!(
            "payload is not an issued license: {:?} error at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        )
    })?;
    if license.schema != LICENSE_ISSUED_SCHEMA {
        let schema: String = license.schema.chars().take(64).collect();
        return Err(format!(
            "expected schema {LICENSE_ISSUED_SCHEMA}, got {schema:?}"
        ));
    }
    check_identifier(&license.identifier)?;
    Ok(license)
}

/// An identifier must be usable in a header value: 1 to 128 visible ASCII characters.
fn check_identifier(identifier: &str) -> Result<(), String> {
    let valid = !identifier.is_empty()
        && identifier.len() <= MAX_IDENTIFIER_LEN
        && identifier.bytes().all(|byte| byte.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err("expected an identifier of 1 to 128 visible ascii characters".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn license_json(schema: &str, identifier: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schema": schema,
            "identifier": identifier,
            "version": 1,
            "license_name": "居住证",
            "license_type_code": "11100000000000000",
            "license_number": "411721202600001",
            "issuing_authority": "西平县公安局",
            "issuing_authority_code": "411721000000",
            "issued_on": "2026-12-01",
            "valid_until": "2027-12-01",
            "holder": {"name": "张三", "id_number": "411721199001011237"},
            "residence_address": "西平县柏城街道西平大道1号",
            "case_number": "XP2026120100001",
        }))
        .unwrap()
    }

    #[test]
    fn decodes_a_valid_license() {
        let license = decode(&license_json(LICENSE_ISSUED_SCHEMA, "1.2.156.3005.2.X")).unwrap();
        assert_eq!(license.version, 1);
    }

    #[test]
    fn refuses_other_schemas_and_bad_identifiers() {
        assert!(decode(&license_json("elicense.v2.license_issued", "1.2.X")).is_err());
        assert!(decode(&license_json(LICENSE_ISSUED_SCHEMA, "")).is_err());
        assert!(decode(&license_json(LICENSE_ISSUED_SCHEMA, "1.2 X")).is_err());
    }

    #[test]
    fn decode_errors_never_quote_the_payload() {
        let payload =
            br#"{"schema": "elicense.v1.license_issued", "identifier": 411721199001011237}"#;
        let error = decode(payload).unwrap_err();
        assert!(!error.contains("411721199001011237"), "{error}");
    }

    #[test]
    fn message_ids_name_the_platform_and_the_identifier() {
        assert_eq!(
            message_id("henan-elicense", "1.2.X"),
            "ack:henan-elicense:1.2.X"
        );
    }
}
