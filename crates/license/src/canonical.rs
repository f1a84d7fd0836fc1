//! The canonical forms: the exact bytes a signature covers.
//!
//! A canonical form is UTF-8 text of one line per field, every line ended by a line feed
//! (0x0A), the last one included. The first line names the form (`residence-license/1`); each
//! other line is `name=value`, the names and their order fixed by the form. Values are written
//! as they appear in the JSON message: not trimmed, not normalised, dates as `YYYY-MM-DD`, the
//! version as a decimal number without leading zeros, an absent value as nothing after the
//! `=`. Inside a value `\` is written `\\`, a line feed `\n` and a carriage return `\r`;
//! nothing else is escaped. A verifier rebuilds the form from the message it received and
//! checks the signature over it, so a change to any signed field breaks the signature.

use chrono::SecondsFormat;
use residence_events::partner::{License, LicenseRevokedMessage};
use sm3::{Digest, Sm3};

/// The canonical form of a license, version 1.
pub const LICENSE_FORM: &str = "residence-license/1";

/// The canonical form of a revocation, version 1.
pub const REVOCATION_FORM: &str = "residence-license-revocation/1";

/// The lines of [`LICENSE_FORM`] after the first, in order.
pub const LICENSE_FIELDS: [&str; 15] = [
    "identifier",
    "version",
    "supersedes",
    "license_name",
    "license_type_code",
    "license_number",
    "issuing_authority",
    "issuing_authority_code",
    "issued_on",
    "valid_from",
    "valid_until",
    "holder_name",
    "holder_id_number",
    "residence_address",
    "case_number",
];

/// The lines of [`REVOCATION_FORM`] after the first, in order.
pub const REVOCATION_FIELDS: [&str; 5] = [
    "identifier",
    "version",
    "case_number",
    "reason",
    "revoked_at",
];

/// The bytes a license signature covers.
pub fn license(license: &License) -> Vec<u8> {
    let values = [
        license.identifier.clone(),
        license.version.to_string(),
        license.supersedes.clone().unwrap_or_default(),
        license.license_name.clone(),
        license.license_type_code.clone(),
        license.license_number.clone(),
        license.issuing_authority.clone(),
        license.issuing_authority_code.clone(),
        license.issued_on.to_string(),
        license.valid_from.to_string(),
        license.valid_until.to_string(),
        license.holder.name.clone(),
        license.holder.id_number.clone(),
        license.residence_address.clone(),
        license.case_number.clone(),
    ];
    write(LICENSE_FORM, &LICENSE_FIELDS, &values)
}

/// The bytes a revocation signature covers. `revoked_at` is written in UTC with whole seconds
/// and a `Z`, as the message carries it: `2026-12-05T08:00:00Z`.
pub fn revocation(revocation: &LicenseRevokedMessage) -> Vec<u8> {
    let values = [
        revocation.identifier.clone(),
        revocation.version.to_string(),
        revocation.case_number.clone(),
        revocation.reason.clone(),
        revocation
            .revoked_at
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    ];
    write(REVOCATION_FORM, &REVOCATION_FIELDS, &values)
}

/// SM3 of a license's canonical form: what its QR payload is bound to.
pub fn license_digest(license: &License) -> [u8; 32] {
    Sm3::digest(self::license(license)).into()
}

fn write(form: &str, names: &[&str], values: &[String]) -> Vec<u8> {
    let mut text = String::with_capacity(512);
    text.push_str(form);
    text.push('\n');
    for (name, value) in names.iter().zip(values) {
        text.push_str(name);
        text.push('=');
        escape_into(&mut text, value);
        text.push('\n');
    }
    text.into_bytes()
}

fn escape_into(text: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => text.push_str("\\\\"),
            '\n' => text.push_str("\\n"),
            '\r' => text.push_str("\\r"),
            other => text.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use residence_events::partner::{LICENSE_REVOKED_SCHEMA, LicenseSignature};

    use super::*;
    use crate::sample;

    #[test]
    fn the_license_form_is_one_line_per_field_in_a_fixed_order() {
        let form = String::from_utf8(license(&sample::license())).unwrap();
        let (second, first) = (sample::identifier(2), sample::identifier(1));
        let expected = format!(
            "residence-license/1\n\
            identifier={second}\n\
            version=2\n\
            supersedes={first}\n\
            license_name=居住证\n\
            license_type_code=340101\n\
            license_number=411721199001011237\n\
            issuing_authority=西平县公安局\n\
            issuing_authority_code=114128240059672296\n\
            issued_on=2026-12-02\n\
            valid_from=2026-12-02\n\
            valid_until=2027-12-10\n\
            holder_name=王小明\n\
            holder_id_number=411721199001011237\n\
            residence_address=河南省驻马店市西平县五沟营镇人民路1号\n\
            case_number=1141282400596722961000709005000-20261202-000001-K\n"
        );
        assert_eq!(form, expected);
    }

    #[test]
    fn a_first_version_has_an_empty_supersedes_line() {
        let mut first = sample::license();
        first.supersedes = None;
        let form = String::from_utf8(license(&first)).unwrap();
        assert!(form.contains("\nsupersedes=\nlicense_name="), "{form}");
    }

    #[test]
    fn values_are_kept_as_they_are_except_for_three_escapes() {
        let mut odd = sample::license();
        odd.residence_address = " 人民路\\1号\n二楼\r ".to_owned();
        let form = String::from_utf8(license(&odd)).unwrap();
        assert!(
            form.contains("\nresidence_address= 人民路\\\\1号\\n二楼\\r \n"),
            "{form}"
        );
        // Escaping keeps distinct values distinct: no value can forge a line of its own.
        let mut forged = sample::license();
        forged.residence_address = "人民路1号\ncase_number=X".to_owned();
        assert_ne!(license(&forged), license(&sample::license()));
        assert_eq!(
            String::from_utf8(license(&forged)).unwrap().lines().count(),
            16
        );
    }

    #[test]
    fn every_field_changes_the_form() {
        let base = license(&sample::license());
        let changes: Vec<fn(&mut License)> = vec![
            |l| l.identifier.push('0'),
            |l| l.version += 1,
            |l| l.supersedes = None,
            |l| l.license_name.push('X'),
            |l| l.license_type_code.push('1'),
            |l| l.license_number.push('1'),
            |l| l.issuing_authority.push('X'),
            |l| l.issuing_authority_code.push('1'),
            |l| l.issued_on = l.issued_on.succ_opt().unwrap(),
            |l| l.valid_from = l.valid_from.succ_opt().unwrap(),
            |l| l.valid_until = l.valid_until.succ_opt().unwrap(),
            |l| l.holder.name.push('X'),
            |l| l.holder.id_number.push('1'),
            |l| l.residence_address.push('X'),
            |l| l.case_number.push('1'),
        ];
        assert_eq!(changes.len(), LICENSE_FIELDS.len());
        for (change, field) in changes.into_iter().zip(LICENSE_FIELDS) {
            let mut changed = sample::license();
            change(&mut changed);
            assert_ne!(license(&changed), base, "{field} is not covered");
        }
    }

    #[test]
    fn the_revocation_form_writes_whole_seconds_in_utc() {
        let revocation = LicenseRevokedMessage {
            schema: LICENSE_REVOKED_SCHEMA.to_owned(),
            identifier: "1.2.156.3005.2.340101.1.2.001.X".to_owned(),
            version: 1,
            reason: "申请材料虚假".to_owned(),
            revoked_at: Utc.with_ymd_and_hms(2026, 12, 5, 8, 0, 0).unwrap(),
            case_number: "CASE-1".to_owned(),
            signature: LicenseSignature {
                algorithm: String::new(),
                form: String::new(),
                key_id: String::new(),
                value: String::new(),
            },
        };
        let form = String::from_utf8(self::revocation(&revocation)).unwrap();
        assert_eq!(
            form,
            "residence-license-revocation/1\nidentifier=1.2.156.3005.2.340101.1.2.001.X\n\
             version=1\ncase_number=CASE-1\nreason=申请材料虚假\nrevoked_at=2026-12-05T08:00:00Z\n"
        );
    }
}
