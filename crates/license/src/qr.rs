//! The compact signed payload printed as a license's QR code, checkable offline.
//!
//! `RP1.<payload>.<signature>.<key id>`: `RP1` names this format; the payload is a compact
//! JSON object ([`QrClaims`]) and the signature the raw SM2 `r || s` over exactly those payload
//! bytes, both in base64url without padding; the key id is the signing key's. The payload holds
//! the holder's data masked only, and the SM3 digest of the full license's canonical form, so
//! an online check can tell that the code belongs to the license on record.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use residence_events::partner::License;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyId, PublicKeys, SignatureProblem, SigningKeys};
use crate::{canonical, mask_name};

/// The first part of every payload.
pub const PREFIX: &str = "RP1";

/// Bytes of the license digest a payload carries: the first half of its SM3 digest.
const DIGEST_BYTES: usize = 16;

/// Longest payload text accepted.
const MAX_LENGTH: usize = 2048;

/// What a QR payload says about its license.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrClaims {
    /// The license identifier.
    pub id: String,
    /// The license version.
    pub ver: u32,
    /// 有效期起始.
    pub from: NaiveDate,
    /// 有效期截止.
    pub until: NaiveDate,
    /// The holder's name, all but the first character masked.
    pub holder: String,
    /// The holder's ID number, masked (`411721********1237`).
    pub holder_id: String,
    /// SM3 of the license's canonical form, first 16 bytes, base64url without padding.
    pub digest: String,
}

impl QrClaims {
    /// The claims of `license`.
    pub fn of(license: &License) -> Self {
        Self {
            id: license.identifier.clone(),
            ver: license.version,
            from: license.valid_from,
            until: license.valid_until,
            holder: mask_name(&license.holder.name),
            holder_id: residence_rules::mask_id_number(&license.holder.id_number),
            digest: digest_of(license),
        }
    }

    /// Whether these claims describe `license`, down to its digest.
    pub fn describe(&self, license: &License) -> bool {
        *self == Self::of(license)
    }
}

/// Why a text is not a well-formed QR payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QrProblem {
    #[error("a QR payload has four parts, RP1.<payload>.<signature>.<key id>")]
    Shape,
    #[error("the QR payload is not base64url JSON of the expected claims")]
    Payload,
    #[error("the QR payload's signature is not base64url")]
    SignatureEncoding,
    #[error("the QR payload does not match the license it was given with")]
    OtherLicense,
}

/// A QR payload taken apart; its signature not yet checked.
#[derive(Clone, Debug)]
pub struct QrPayload {
    pub claims: QrClaims,
    pub key_id: String,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// The payload for `license`, signed with the active key.
pub fn encode(license: &License, keys: &SigningKeys) -> String {
    let payload = serde_json::to_vec(&QrClaims::of(license)).expect("claims encode as JSON");
    let signature = keys.sign_raw(&payload);
    format!(
        "{PREFIX}.{}.{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(signature),
        keys.active()
    )
}

/// Takes `text` apart, surrounding spaces ignored.
pub fn decode(text: &str) -> Result<QrPayload, QrProblem> {
    let text = text.trim();
    if text.len() > MAX_LENGTH {
        return Err(QrProblem::Shape);
    }
    let parts: Vec<&str> = text.split('.').collect();
    let [PREFIX, payload, signature, key_id] = parts.as_slice() else {
        return Err(QrProblem::Shape);
    };
    if KeyId::parse(key_id).is_err() {
        return Err(QrProblem::Shape);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| QrProblem::Payload)?;
    let claims = serde_json::from_slice(&payload).map_err(|_| QrProblem::Payload)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| QrProblem::SignatureEncoding)?;
    Ok(QrPayload {
        claims,
        key_id: (*key_id).to_owned(),
        payload,
        signature,
    })
}

impl QrPayload {
    /// Checks the signature over the payload bytes with the published keys.
    pub fn verify(&self, keys: &PublicKeys) -> Result<(), SignatureProblem> {
        keys.verify_raw(&self.key_id, &self.payload, &self.signature)
    }
}

/// The digest a payload carries for `license`.
pub fn digest_of(license: &License) -> String {
    URL_SAFE_NO_PAD.encode(&canonical::license_digest(license)[..DIGEST_BYTES])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    fn keys() -> SigningKeys {
        SigningKeys::generate(&KeyId::parse("k1").unwrap(), &[])
    }

    #[test]
    fn a_payload_is_short_and_verifies_offline() {
        let keys = keys();
        let license = sample::license();
        let text = encode(&license, &keys);
        assert!(text.starts_with("RP1."), "{text}");
        assert!(text.ends_with(".k1"), "{text}");
        assert!(text.len() < 400, "{} characters", text.len());

        let payload = decode(&text).unwrap();
        assert_eq!(payload.verify(&keys.public_keys()), Ok(()));
        assert!(payload.claims.describe(&license));
        assert_eq!(payload.claims.holder, "王**");
        assert_eq!(payload.claims.holder_id, "411721********1237");
    }

    #[test]
    fn the_payload_holds_no_unmasked_personal_data() {
        let text = encode(&sample::license(), &keys());
        let payload = URL_SAFE_NO_PAD
            .decode(text.split('.').nth(1).unwrap())
            .unwrap();
        let json = String::from_utf8(payload).unwrap();
        assert!(!json.contains("411721199001011237"), "{json}");
        assert!(!json.contains("小明"), "{json}");
        assert!(!json.contains("人民路"), "{json}");
    }

    #[test]
    fn any_changed_character_is_caught() {
        let keys = keys();
        let public = keys.public_keys();
        let text = encode(&sample::license(), &keys);
        for (index, original) in text.char_indices() {
            let replacement = if original == 'A' { 'B' } else { 'A' };
            let mut changed = text.clone();
            changed.replace_range(index..index + 1, &replacement.to_string());
            let verdict = decode(&changed).map(|payload| payload.verify(&public));
            assert!(
                !matches!(verdict, Ok(Ok(()))),
                "a change at {index} went unnoticed"
            );
        }
    }

    #[test]
    fn a_payload_of_another_license_does_not_describe_this_one() {
        let text = encode(&sample::license(), &keys());
        let mut other = sample::license();
        other.residence_address.push('X');
        assert!(!decode(&text).unwrap().claims.describe(&other));
    }

    #[test]
    fn malformed_payloads_say_what_is_wrong() {
        assert_eq!(decode("RP1.abc").unwrap_err(), QrProblem::Shape);
        assert_eq!(decode("RP2.e30.AAAA.k1").unwrap_err(), QrProblem::Shape);
        assert_eq!(decode("RP1.e30.AAAA.k.1").unwrap_err(), QrProblem::Shape);
        assert_eq!(decode("RP1.e30.AAAA.k1").unwrap_err(), QrProblem::Payload);
        assert_eq!(decode(&"RP1.".repeat(600)).unwrap_err(), QrProblem::Shape);
    }
}
