//! Electronic licenses (电子证照) as platforms receive and check them: GB/T 36904 identifiers,
//! the canonical form a signature covers, SM2-over-SM3 signatures with rotating keys, the
//! compact signed QR payload, and offline verification. Shared by the e-license service, the
//! operator CLI and the platform simulator, so that signing and checking can never disagree.

pub mod canonical;
pub mod identifier;
pub mod keys;
pub mod qr;
pub mod verify;

pub use keys::{
    ALGORITHM, DISTINGUISHING_ID, KeyDocument, KeyError, KeyId, PublicKeys, SignatureProblem,
    SigningKeys,
};
pub use verify::Verification;

/// A holder's name with every character but the first masked: `王小明` becomes `王**`.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
pub(crate) mod sample {
    use residence_events::partner::{License, LicenseHolder};

    use crate::identifier::Identifier;

    /// The identifier of `version` of the sample holder's license.
    pub fn identifier(version: u32) -> String {
        Identifier::new("340101", "114128240059672296", "3FA85F6457B2", version)
            .unwrap()
            .to_string()
    }

    /// A license of a synthetic holder, as the e-license service would issue it.
    pub fn license() -> License {
        License {
            identifier: identifier(2),
            version: 2,
            supersedes: Some(identifier(1)),
            license_name: "居住证".to_owned(),
            license_type_code: "340101".to_owned(),
            license_number: "411721199001011237".to_owned(),
            issuing_authority: "西平县公安局".to_owned(),
            issuing_authority_code: "114128240059672296".to_owned(),
            issued_on: "2026-12-02".parse().unwrap(),
            valid_from: "2026-12-02".parse().unwrap(),
            valid_until: "2027-12-10".parse().unwrap(),
            holder: LicenseHolder {
                name: "王小明".to_owned(),
                id_number: "411721199001011237".to_owned(),
            },
            residence_address: "河南省驻马店市西平县五沟营镇人民路1号".to_owned(),
            case_number: "1141282400596722961000709005000-20261202-000001-K".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_only_their_first_character() {
        assert_eq!(mask_name("王小明"), "王**");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_name("Li"), "L*");
        assert_eq!(mask_name("  王五 "), "王*");
        assert_eq!(mask_name(""), "");
    }
}
