//! A license row as the documents platforms and holders receive: the license itself, its
//! signed issuance message, and its signed revocation.

use chrono::{DateTime, Utc};
use residence_events::partner::{
    LICENSE_ISSUED_SCHEMA, LICENSE_REVOKED_SCHEMA, License, LicenseHolder, LicenseIssuedMessage,
    LicenseRevokedMessage, LicenseSignature,
};
use residence_license::identifier::Identifier;
use residence_license::keys::SignatureProblem;
use residence_license::{ALGORITHM, PublicKeys, SigningKeys, canonical};

use crate::entity::license;

/// The license a row records. The type code is the one in its identifier, the code it was
/// issued under, whatever the service is configured with now.
pub fn license_of(row: &license::Model) -> License {
    let type_code = Identifier::parse(&row.identifier)
        .map(|identifier| identifier.type_code().to_owned())
        .unwrap_or_default();
    License {
        identifier: row.identifier.clone(),
        version: u32::try_from(row.version).unwrap_or_default(),
        supersedes: row.supersedes.clone(),
        license_name: row.license_name.clone(),
        license_type_code: type_code,
        license_number: row.license_number.to_string(),
        issuing_authority: row.issuing_authority.clone(),
        issuing_authority_code: row.issuer_code.clone(),
        issued_on: row.issued_on,
        valid_from: row.issued_on,
        valid_until: row.valid_until,
        holder: LicenseHolder {
            name: row.holder_name.to_string(),
            id_number: row.license_number.to_string(),
        },
        residence_address: row.residence_address.to_string(),
        case_number: row.case_number.clone(),
    }
}

/// The row's signature as the messages carry it; `None` for a license issued unsigned.
pub fn signature_of(row: &license::Model) -> Option<LicenseSignature> {
    Some(LicenseSignature {
        algorithm: ALGORITHM.to_owned(),
        form: canonical::LICENSE_FORM.to_owned(),
        key_id: row.key_id.clone()?,
        value: row.signature.clone()?,
    })
}

/// `elicense.v1.license.issued` for a signed row: the signed license document.
pub fn issued_message(row: &license::Model) -> Option<LicenseIssuedMessage> {
    Some(LicenseIssuedMessage {
        schema: LICENSE_ISSUED_SCHEMA.to_owned(),
        license: license_of(row),
        signature: signature_of(row)?,
        qr_payload: row.qr_payload.clone()?,
    })
}

/// Whether the row, as stored now, still verifies with its signature.
pub fn check_record(row: &license::Model, keys: &PublicKeys) -> Result<(), SignatureProblem> {
    let signature = signature_of(row).ok_or(SignatureProblem::Unsigned)?;
    let form = canonical::license(&license_of(row));
    keys.verify(canonical::LICENSE_FORM, &form, &signature)
}

/// `elicense.v1.license.revoked` for a revoked row, signed with the active key.
pub fn revoked_message(row: &license::Model, keys: &SigningKeys) -> LicenseRevokedMessage {
    let mut message = LicenseRevokedMessage {
        schema: LICENSE_REVOKED_SCHEMA.to_owned(),
        identifier: row.identifier.clone(),
        version: u32::try_from(row.version).unwrap_or_default(),
        reason: row.revocation_reason.clone().unwrap_or_default(),
        revoked_at: row.revoked_at.unwrap_or(row.created_at),
        case_number: row.case_number.clone(),
        signature: LicenseSignature {
            algorithm: String::new(),
            form: String::new(),
            key_id: String::new(),
            value: String::new(),
        },
    };
    let form = canonical::revocation(&message);
    message.signature = keys.sign(canonical::REVOCATION_FORM, &form);
    message
}

/// `time` without its fraction of a second: revocation times are signed in whole seconds.
pub fn whole_seconds(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(time.timestamp(), 0).unwrap_or(time)
}
