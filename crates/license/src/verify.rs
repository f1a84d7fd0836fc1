//! Offline verification: whether a signed license document or a QR payload is authentic,
//! using nothing but the published public keys.
//!
//! A license document is the JSON of `elicense.v1.license.issued` (what a platform receives
//! and what `residence license export` writes). It is authentic when its identifier is well
//! formed with the right check character, its signature verifies over its canonical form with
//! a published key, and its QR payload is signed and describes it. Whether the license is
//! still current is an online question for the issuer.

use residence_events::partner::{
    LICENSE_ISSUED_SCHEMA, LicenseIssuedMessage, LicenseRevokedMessage,
};

use crate::canonical;
use crate::identifier::{Identifier, Malformed};
use crate::keys::{PublicKeys, SignatureProblem};
use crate::qr::{self, QrClaims, QrProblem};

/// Longest document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Why a text is not a license document at all. Never quotes the document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("a license document is at most {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("not a license document: {0}")]
    Json(String),
    #[error("the document's schema must be {LICENSE_ISSUED_SCHEMA}")]
    Schema,
}

/// The outcome of checking one license, offline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The identifier the license claims.
    pub identifier: String,
    /// The key the signature names.
    pub key_id: String,
    /// The identifier's shape and check character.
    pub check_character: Result<(), Malformed>,
    /// The signature over the license (or over the QR payload).
    pub signature: Result<(), SignatureProblem>,
    /// For a document: its QR payload is signed and describes it.
    pub qr: Option<Result<(), QrProblem>>,
}

impl Verification {
    /// True when every check passed.
    pub fn is_authentic(&self) -> bool {
        self.check_character.is_ok() && self.signature.is_ok() && !matches!(self.qr, Some(Err(_)))
    }

    /// What failed, one sentence each; empty when authentic.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(problem) = &self.check_character {
            problems.push(format!("identifier: {problem}"));
        }
        if let Err(problem) = &self.signature {
            problems.push(format!("signature: {problem}"));
        }
        if let Some(Err(problem)) = &self.qr {
            problems.push(format!("qr payload: {problem}"));
        }
        problems
    }
}

/// Reads a license document, checking only that it is one.
pub fn parse_document(bytes: &[u8]) -> Result<LicenseIssuedMessage, DocumentError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge);
    }
    let document: LicenseIssuedMessage = serde_json::from_slice(bytes).map_err(|error| {
        DocumentError::Json(format!(
            "{:?} error at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        ))
    })?;
    if document.schema != LICENSE_ISSUED_SCHEMA {
        return Err(DocumentError::Schema);
    }
    Ok(document)
}

/// Checks a license document against the published keys.
pub fn document(document: &LicenseIssuedMessage, keys: &PublicKeys) -> Verification {
    let license = &document.license;
    let form = canonical::license(license);
    let qr = qr::decode(&document.qr_payload).and_then(|payload| {
        if !payload.claims.describe(license) {
            return Err(QrProblem::OtherLicense);
        }
        payload.verify(keys).map_err(|_| QrProblem::OtherLicense)
    });
    Verification {
        identifier: license.identifier.clone(),
        key_id: document.signature.key_id.clone(),
        check_character: check_character(&license.identifier, license.version),
        signature: keys.verify(canonical::LICENSE_FORM, &form, &document.signature),
        qr: Some(qr),
    }
}

/// Checks a QR payload against the published keys; returns what it claims.
pub fn qr_payload(text: &str, keys: &PublicKeys) -> Result<(QrClaims, Verification), QrProblem> {
    let payload = qr::decode(text)?;
    let verification = Verification {
        identifier: payload.claims.id.clone(),
        key_id: payload.key_id.clone(),
        check_character: check_character(&payload.claims.id, payload.claims.ver),
        signature: payload.verify(keys),
        qr: None,
    };
    Ok((payload.claims, verification))
}

/// Checks the signature of a revocation against the published keys.
pub fn revocation(
    revocation: &LicenseRevokedMessage,
    keys: &PublicKeys,
) -> Result<(), SignatureProblem> {
    let form = canonical::revocation(revocation);
    keys.verify(canonical::REVOCATION_FORM, &form, &revocation.signature)
}

/// The identifier is well formed, its check character right, and its version the one given.
fn check_character(identifier: &str, version: u32) -> Result<(), Malformed> {
    let parsed = Identifier::parse(identifier)?;
    if parsed.version() == version {
        Ok(())
    } else {
        Err(Malformed::Version)
    }
}

#[cfg(test)]
mod tests {
    use residence_events::partner::LicenseIssuedMessage;
    use serde_json::Value;

    use super::*;
    use crate::keys::{KeyId, SigningKeys};
    use crate::sample;

    fn signed(keys: &SigningKeys) -> LicenseIssuedMessage {
        let license = sample::license();
        let form = canonical::license(&license);
        LicenseIssuedMessage {
            schema: LICENSE_ISSUED_SCHEMA.to_owned(),
            signature: keys.sign(canonical::LICENSE_FORM, &form),
            qr_payload: qr::encode(&license, keys),
            license,
        }
    }

    fn keys() -> SigningKeys {
        SigningKeys::generate(&KeyId::parse("k1").unwrap(), &[])
    }

    /// Every string and number in the document, as a JSON pointer.
    fn leaves(value: &Value, pointer: String, into: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, nested) in map {
                    leaves(nested, format!("{pointer}/{key}"), into);
                }
            }
            Value::String(_) | Value::Number(_) => into.push(pointer),
            _ => {}
        }
    }

    /// The first character of `text` replaced by another one of the same kind.
    fn flip_first(text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        chars[0] = match chars[0] {
            '0'..='8' => ((chars[0] as u8) + 1) as char,
            '9' => '0',
            'A' => 'B',
            c if c.is_ascii_alphabetic() => 'A',
            '王' => '汪',
            _ => '张',
        };
        chars.into_iter().collect()
    }

    #[test]
    fn a_signed_document_is_authentic() {
        let keys = keys();
        let verification = document(&signed(&keys), &keys.public_keys());
        assert!(verification.is_authentic(), "{:?}", verification.problems());
        assert_eq!(verification.key_id, "k1");
    }

    #[test]
    fn tampering_with_any_field_is_detected() {
        let keys = keys();
        let public = keys.public_keys();
        let original = serde_json::to_value(signed(&keys)).unwrap();
        let mut pointers = Vec::new();
        leaves(&original, String::new(), &mut pointers);
        assert!(pointers.len() >= 20, "{pointers:?}");

        for pointer in pointers {
            let mut changed = original.clone();
            let leaf = changed.pointer_mut(&pointer).unwrap();
            *leaf = match leaf {
                Value::String(text) => Value::String(flip_first(text)),
                Value::Number(number) => (number.as_u64().unwrap() + 1).into(),
                _ => unreachable!(),
            };
            let bytes = serde_json::to_vec(&changed).unwrap();
            let authentic = parse_document(&bytes)
                .map(|parsed| document(&parsed, &public).is_authentic())
                .unwrap_or(false);
            assert!(!authentic, "a change to {pointer} went unnoticed");
        }
    }

    #[test]
    fn one_changed_character_anywhere_in_the_file_is_detected() {
        let keys = keys();
        let public = keys.public_keys();
        let text = serde_json::to_string_pretty(&signed(&keys)).unwrap();
        let mut checked = 0;
        for (index, original) in text.char_indices() {
            if original.is_whitespace() {
                continue;
            }
            let replacement = match original {
                'A' => 'B',
                '"' | ':' | ',' | '{' | '}' => 'x',
                c if c.is_ascii_digit() => {
                    if c == '1' {
                        '2'
                    } else {
                        '1'
                    }
                }
                c if c.is_ascii() => 'A',
                _ => '某',
            };
            let mut changed = text.clone();
            changed.replace_range(index..index + original.len_utf8(), &replacement.to_string());
            let authentic = parse_document(changed.as_bytes())
                .map(|parsed| document(&parsed, &public).is_authentic())
                .unwrap_or(false);
            assert!(!authentic, "a change at byte {index} went unnoticed");
            checked += 1;
        }
        assert!(checked > 500, "{checked}");
    }

    #[test]
    fn a_forged_check_character_or_version_is_reported_as_such() {
        let keys = keys();
        let mut forged = signed(&keys);
        forged.license.version = 3;
        let verification = document(&forged, &keys.public_keys());
        assert_eq!(verification.check_character, Err(Malformed::Version));
        assert!(verification.signature.is_err());
        assert_eq!(verification.problems().len(), 3);
    }

    #[test]
    fn documents_must_be_license_documents() {
        assert!(matches!(
            parse_document(b"[1, 2"),
            Err(DocumentError::Json(_))
        ));
        let keys = keys();
        let mut other = serde_json::to_value(signed(&keys)).unwrap();
        other["schema"] = "elicense.v2.license_issued".into();
        let bytes = serde_json::to_vec(&other).unwrap();
        assert_eq!(parse_document(&bytes).unwrap_err(), DocumentError::Schema);
        let error = parse_document(br#"{"holder": {"id_number": "411721199001011237"}}"#);
        assert!(!error.unwrap_err().to_string().contains("411721"));
    }

    #[test]
    fn a_qr_payload_verifies_offline_and_names_its_license() {
        let keys = keys();
        let text = signed(&keys).qr_payload;
        let (claims, verification) = qr_payload(&text, &keys.public_keys()).unwrap();
        assert!(verification.is_authentic(), "{:?}", verification.problems());
        assert_eq!(claims.id, sample::identifier(2));

        let stranger = SigningKeys::generate(&KeyId::parse("k1").unwrap(), &[]);
        let (_, verification) = qr_payload(&text, &stranger.public_keys()).unwrap();
        assert_eq!(verification.signature, Err(SignatureProblem::Mismatch));
    }
}
