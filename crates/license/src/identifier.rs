//! License identifiers (电子证照标识) as public implementations of GB/T 36904 write them:
//! `1.2.156.3005.2.{type code}.{issuer code}.{serial}.{version}.{check}`.
//!
//! The version has three digits; the check character is ISO 7064 MOD 37,36 over the segments
//! after the prefix with the dots removed.

use std::fmt;

use residence_rules::check_character::mod_37_36;

/// What every identifier starts with.
pub const PREFIX: &str = "1.2.156.3005.2.";

/// The highest version three digits can carry.
pub const MAX_VERSION: u32 = 999;

/// Longest type code, issuer code or serial accepted.
const MAX_SEGMENT_LENGTH: usize = 32;

/// Why a text is not a well-formed identifier, worded for the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("must start with {PREFIX}")]
    Prefix,
    #[error(
        "must have 5 segments after the prefix (type, issuer, serial, version, check), got {0}"
    )]
    SegmentCount(usize),
    #[error("the {0} must be 1 to 32 digits or capital letters")]
    Segment(&'static str),
    #[error("the version must be 3 digits from 001 to 999")]
    Version,
    #[error("the check character must be a single digit or capital letter")]
    CheckLength,
    #[error("the check character does not match the rest of the identifier")]
    Check,
}

/// One license identifier, its check character computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identifier {
    type_code: String,
    issuer_code: String,
    serial: String,
    version: u32,
    check: char,
}

impl Identifier {
    /// Builds the identifier of `version` of the license with these codes and serial.
    pub fn new(
        type_code: &str,
        issuer_code: &str,
        serial: &str,
        version: u32,
    ) -> Result<Self, Malformed> {
        segment("license type code", type_code)?;
        segment("issuer code", issuer_code)?;
        segment("serial", serial)?;
        if !(1..=MAX_VERSION).contains(&version) {
            return Err(Malformed::Version);
        }
        let body = format!("{type_code}{issuer_code}{serial}{version:03}");
        let check = mod_37_36(&body).ok_or(Malformed::Check)?;
        Ok(Self {
            type_code: type_code.to_owned(),
            issuer_code: issuer_code.to_owned(),
            serial: serial.to_owned(),
            version,
            check,
        })
    }

    /// Reads an identifier, checking its shape and its check character.
    pub fn parse(text: &str) -> Result<Self, Malformed> {
        let rest = text.strip_prefix(PREFIX).ok_or(Malformed::Prefix)?;
        let segments: Vec<&str> = rest.split('.').collect();
        let [type_code, issuer_code, serial, version, check] = segments.as_slice() else {
            return Err(Malformed::SegmentCount(segments.len()));
        };
        let version = parse_version(version)?;
        let identifier = Self::new(type_code, issuer_code, serial, version)?;

        let mut check_chars = check.chars();
        let (Some(given), None) = (check_chars.next(), check_chars.next()) else {
            return Err(Malformed::CheckLength);
        };
        if given != identifier.check {
            return Err(Malformed::Check);
        }
        Ok(identifier)
    }

    /// 证照类型代码.
    pub fn type_code(&self) -> &str {
        &self.type_code
    }

    /// The issuer code: the issuing body's credit code.
    pub fn issuer_code(&self) -> &str {
        &self.issuer_code
    }

    /// The serial every version of one holder's license shares.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The version, 1 for a first license.
    pub fn version(&self) -> u32 {
        self.version
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}.{}.{}.{:03}.{}",
            self.type_code, self.issuer_code, self.serial, self.version, self.check
        )
    }
}

/// Checks one code segment: digits and capital letters only, so the check character covers it.
pub fn segment(name: &'static str, value: &str) -> Result<(), Malformed> {
    let well_formed = (1..=MAX_SEGMENT_LENGTH).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    if well_formed {
        Ok(())
    } else {
        Err(Malformed::Segment(name))
    }
}

fn parse_version(text: &str) -> Result<u32, Malformed> {
    if text.len() != 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed::Version);
    }
    text.parse().map_err(|_| Malformed::Version)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "340101";
    const ISSUER: &str = "114128240059672296";
    const SERIAL: &str = "3FA85F6457B2";

    fn sample(version: u32) -> Identifier {
        Identifier::new(TYPE, ISSUER, SERIAL, version).unwrap()
    }

    #[test]
    fn an_identifier_reads_back_as_built() {
        let built = sample(1);
        let text = built.to_string();
        assert!(text.starts_with("1.2.156.3005.2.340101.114128240059672296.3FA85F6457B2.001."));
        assert_eq!(Identifier::parse(&text), Ok(built));
    }

    #[test]
    fn the_check_character_covers_the_segments_without_dots() {
        let text = sample(2).to_string();
        let check = text.chars().last().unwrap();
        let body = format!("{TYPE}{ISSUER}{SERIAL}002");
        assert_eq!(mod_37_36(&body), Some(check));
    }

    #[test]
    fn versions_are_written_with_three_digits() {
        assert!(sample(7).to_string().contains(".007."));
        assert!(sample(42).to_string().contains(".042."));
        assert!(sample(999).to_string().contains(".999."));
        assert_eq!(sample(12).version(), 12);
        assert_eq!(
            Identifier::new(TYPE, ISSUER, SERIAL, 0),
            Err(Malformed::Version)
        );
        assert_eq!(
            Identifier::new(TYPE, ISSUER, SERIAL, 1000),
            Err(Malformed::Version)
        );
    }

    #[test]
    fn one_changed_character_is_detected() {
        let text = sample(3).to_string();
        for (index, original) in text.char_indices().skip(PREFIX.len()) {
            if original == '.' {
                continue;
            }
            for replacement in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars() {
                if replacement == original {
                    continue;
                }
                let mut changed = text.clone();
                changed.replace_range(index..index + 1, &replacement.to_string());
                assert!(
                    Identifier::parse(&changed).is_err(),
                    "{changed} should be rejected"
                );
            }
        }
    }

    #[test]
    fn malformed_identifiers_say_what_is_wrong() {
        let text = sample(1).to_string();
        assert_eq!(
            Identifier::parse(&text.replacen("3005", "3006", 1)),
            Err(Malformed::Prefix)
        );
        assert_eq!(
            Identifier::parse(&format!("{PREFIX}340101.1141.001.X")),
            Err(Malformed::SegmentCount(4))
        );
        assert_eq!(
            Identifier::parse(&text.replace(".001.", ".01.")),
            Err(Malformed::Version)
        );
        assert_eq!(
            Identifier::parse(&text.replace(SERIAL, "3fa85f6457b2")),
            Err(Malformed::Segment("serial"))
        );
        assert_eq!(
            Identifier::parse(&format!("{text}0")),
            Err(Malformed::CheckLength)
        );
    }

    #[test]
    fn segments_must_be_digits_and_capitals() {
        assert!(segment("serial", "ABC123").is_ok());
        assert!(segment("serial", "").is_err());
        assert!(segment("serial", "abc").is_err());
        assert!(segment("serial", "AB-1").is_err());
        assert!(segment("serial", &"A".repeat(33)).is_err());
    }
}
