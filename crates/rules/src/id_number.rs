//! Citizen identity numbers (公民身份号码, GB 11643) and the residents' permit numbers of Hong
//! Kong, Macao and Taiwan residents, which share the format.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::mask::mask_id_number;

/// Weights of the first 17 digits in the GB 11643 check (ISO 7064 MOD 11-2).
const CHECK_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// Check character indexed by the weighted sum modulo 11.
const CHECK_CHARS: [u8; 11] = *b"10X98765432";

/// Province-level codes allowed as the first two digits, as inclusive ranges.
const PROVINCE_CODES: [(u8, u8); 8] = [
    (11, 15),
    (21, 23),
    (31, 37),
    (41, 46),
    (50, 54),
    (61, 65),
    (71, 71),
    (81, 83),
];

/// Why a string is not a usable identity number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum IdNumberError {
    /// Not 17 digits followed by a digit or `X`.
    #[error("expected 18 characters: 17 digits then a digit or X")]
    Format,
    /// The first two digits are not a province-level region code.
    #[error("expected the first two digits to be a province-level region code")]
    Region,
    /// Digits 7 to 14 are not a real date, or the date lies after today.
    #[error("expected digits 7 to 14 to be a real birth date, not in the future")]
    BirthDate,
    /// The last character does not match the first 17 digits.
    #[error("the check character does not match the first 17 digits")]
    Checksum,
    /// A 15-digit first-generation number, no longer a valid document since 2013-01-01.
    #[error("15-digit first-generation numbers are no longer valid since 2013-01-01")]
    Legacy15,
}

impl IdNumberError {
    /// Stable machine-readable code: `format`, `region`, `birth_date`, `checksum` or `legacy_15`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Format => "format",
            Self::Region => "region",
            Self::BirthDate => "birth_date",
            Self::Checksum => "checksum",
            Self::Legacy15 => "legacy_15",
        }
    }
}

/// Sex encoded by the parity of the sequence number (odd is male).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// 男
    Male,
    /// 女
    Female,
}

impl Sex {
    /// Stable code: `male` or `female`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Male => "male",
            Self::Female => "female",
        }
    }
}

/// Whose document the number belongs to, read from its first six digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderKind {
    /// A mainland citizen's identity card.
    Citizen,
    /// A Hong Kong residents' permit (prefix `810000`).
    HongKong,
    /// A Macao residents' permit (prefix `820000`).
    Macao,
    /// A Taiwan residents' permit (prefix `830000`).
    Taiwan,
}

impl HolderKind {
    /// Stable code: `citizen`, `hong_kong`, `macao` or `taiwan`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::HongKong => "hong_kong",
            Self::Macao => "macao",
            Self::Taiwan => "taiwan",
        }
    }

    /// True for 港澳台居民居住证 holders, whose permits have no annual endorsement.
    pub fn is_hong_kong_macao_taiwan(&self) -> bool {
        !matches!(self, Self::Citizen)
    }

    fn from_region(region: &str) -> Self {
        match region {
            "810000" => Self::HongKong,
            "820000" => Self::Macao,
            "830000" => Self::Taiwan,
            _ => Self::Citizen,
        }
    }
}

/// A validated 18-character identity number, normalised (trimmed, upper-case `X`).
///
/// `Debug` prints the masked form so the number cannot leak through logs by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber {
    text: String,
    birth_date: NaiveDate,
}

impl IdNumber {
    /// Parses and validates a number without reference to today's date.
    ///
    /// Checks run in this order, and the first failure is reported: shape (or a 15-digit
    /// legacy number), region, birth date, check character. Use [`IdNumber::parse_on`] to also
    /// reject a birth date in the future.
    pub fn parse(raw: &str) -> Result<Self, IdNumberError> {
        let text = normalize(raw)?;
        check_region(&text)?;
        let birth_date = read_birth_date(&text).ok_or(IdNumberError::BirthDate)?;
        check_checksum(&text)?;
        Ok(Self { text, birth_date })
    }

    /// Like [`IdNumber::parse`], and also rejects a birth date after `today` with `BirthDate`.
    pub fn parse_on(raw: &str, today: NaiveDate) -> Result<Self, IdNumberError> {
        let number = Self::parse(raw)?;
        if number.birth_date > today {
            return Err(IdNumberError::BirthDate);
        }
        Ok(number)
    }

    /// The normalised number. Personal data: never log it, use [`IdNumber::masked`].
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Date of birth from digits 7 to 14.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// Sex from the parity of the 17th digit.
    pub fn sex(&self) -> Sex {
        let digit = self.text.as_bytes().get(16).copied().unwrap_or(b'0');
        // ASCII '0' is even, so the byte has the parity of the digit.
        if digit % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Citizen or Hong Kong, Macao or Taiwan resident, from the first six digits.
    pub fn holder_kind(&self) -> HolderKind {
        HolderKind::from_region(self.text.get(0..6).unwrap_or_default())
    }

    /// The number masked for display, e.g. `411721********1237`.
    pub fn masked(&self) -> String {
        mask_id_number(&self.text)
    }

    /// Age in full years (周岁) on `date`; 0 before birth.
    ///
    /// A birthday on February 29 is reached on March 1 in common years.
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        let birth = self.birth_date;
        let had_birthday = (date.month(), date.day()) >= (birth.month(), birth.day());
        let years = date.year() - birth.year() - i32::from(!had_birthday);
        u32::try_from(years).unwrap_or(0)
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdNumber").field(&self.masked()).finish()
    }
}

/// Trims, upper-cases a trailing `x` and checks the 18-character shape.
fn normalize(raw: &str) -> Result<String, IdNumberError> {
    let trimmed = raw.trim();
    if trimmed.len() == 15 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdNumberError::Legacy15);
    }
    let bytes = trimmed.as_bytes();
    let is_check_x = |i: usize, b: u8| i == 17 && matches!(b, b'X' | b'x');
    let shape_ok = bytes.len() == 18
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || is_check_x(i, *b));
    if !shape_ok {
        return Err(IdNumberError::Format);
    }
    Ok(trimmed.to_ascii_uppercase())
}

fn check_region(text: &str) -> Result<(), IdNumberError> {
    let province: u8 = text.get(0..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let known = PROVINCE_CODES
        .iter()
        .any(|(low, high)| (*low..=*high).contains(&province));
    if known {
        Ok(())
    } else {
        Err(IdNumberError::Region)
    }
}

fn read_birth_date(text: &str) -> Option<NaiveDate> {
    let year = text.get(6..10)?.parse().ok()?;
    let month = text.get(10..12)?.parse().ok()?;
    let day = text.get(12..14)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The check character the first 17 digits call for.
fn expected_check_char(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(CHECK_WEIGHTS)
        .map(|(digit, weight)| u32::from(digit.saturating_sub(b'0')) * weight)
        .sum();
    let index = usize::try_from(sum % 11).unwrap_or(0);
    CHECK_CHARS.get(index).copied().unwrap_or(b'?')
}

fn check_checksum(text: &str) -> Result<(), IdNumberError> {
    let Some((last, digits)) = text.as_bytes().split_last() else {
        return Err(IdNumberError::Format);
    };
    if expected_check_char(digits) == *last {
        Ok(())
    } else {
        Err(IdNumberError::Checksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Completes 17 digits with their check character.
    fn complete(first17: &str) -> String {
        let check = expected_check_char(first17.as_bytes()) as char;
        format!("{first17}{check}")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn reads_a_valid_number() {
        let number = IdNumber::parse("411721199001011237").unwrap();
        assert_eq!(number.as_str(), "411721199001011237");
        assert_eq!(number.birth_date(), date(1990, 1, 1));
        assert_eq!(number.sex(), Sex::Male);
        assert_eq!(number.holder_kind(), HolderKind::Citizen);
        assert_eq!(number.masked(), "411721********1237");
    }

    #[test]
    fn normalises_spaces_and_lower_case_x() {
        let number = IdNumber::parse(" \u{3000}41172119880517108x\t").unwrap();
        assert_eq!(number.as_str(), "41172119880517108X");
        assert_eq!(number.sex(), Sex::Female);
    }

    #[test]
    fn rejects_bad_shapes() {
        for raw in [
            "",
            "41172119900101123",
            "4117211990010112377",
            "41172119900101123Y",
            "4117211990010X1237",
            "４11721199001011237",
            "411721 199001011237",
        ] {
            assert_eq!(IdNumber::parse(raw), Err(IdNumberError::Format), "{raw:?}");
        }
    }

    #[test]
    fn rejects_legacy_fifteen_digit_numbers() {
        assert_eq!(
            IdNumber::parse(" 412824900101123 "),
            Err(IdNumberError::Legacy15)
        );
    }

    #[test]
    fn region_is_checked_before_date_and_checksum() {
        assert_eq!(
            IdNumber::parse("99172119900230123X"),
            Err(IdNumberError::Region)
        );
        for province in ["10", "16", "24", "38", "47", "55", "66", "72", "80", "84"] {
            let raw = complete(&format!("{province}172119900101123"));
            assert_eq!(IdNumber::parse(&raw), Err(IdNumberError::Region), "{raw}");
        }
    }

    #[test]
    fn every_province_level_code_is_accepted() {
        for (low, high) in PROVINCE_CODES {
            for province in low..=high {
                let raw = complete(&format!("{province}000019900101123"));
                assert!(IdNumber::parse(&raw).is_ok(), "{raw}");
            }
        }
    }

    #[test]
    fn abolished_region_codes_stay_valid() {
        assert!(IdNumber::parse(&complete("41282419900101123")).is_ok());
        assert!(IdNumber::parse(&complete("41172119900101123")).is_ok());
    }

    #[test]
    fn birth_date_must_be_real() {
        assert_eq!(
            IdNumber::parse(&complete("41172119000229123")),
            Err(IdNumberError::BirthDate)
        );
        assert_eq!(
            IdNumber::parse(&complete("41172119901301123")),
            Err(IdNumberError::BirthDate)
        );
        assert_eq!(
            IdNumber::parse("411721199002301230"),
            Err(IdNumberError::BirthDate)
        );
        let leap = IdNumber::parse(&complete("41172120000229123")).unwrap();
        assert_eq!(leap.birth_date(), date(2000, 2, 29));
    }

    #[test]
    fn parse_on_rejects_a_future_birth_date() {
        let raw = complete("41172120260601123");
        assert!(IdNumber::parse(&raw).is_ok());
        assert!(IdNumber::parse_on(&raw, date(2026, 6, 1)).is_ok());
        assert_eq!(
            IdNumber::parse_on(&raw, date(2026, 5, 31)),
            Err(IdNumberError::BirthDate)
        );
    }

    #[test]
    fn checksum_is_verified() {
        assert_eq!(
            IdNumber::parse("411721199001011230"),
            Err(IdNumberError::Checksum)
        );
    }

    #[test]
    fn reads_hong_kong_macao_taiwan_prefixes() {
        for (prefix, kind) in [
            ("810000", HolderKind::HongKong),
            ("820000", HolderKind::Macao),
            ("830000", HolderKind::Taiwan),
            ("810100", HolderKind::Citizen),
        ] {
            let number = IdNumber::parse(&complete(&format!("{prefix}19950315004"))).unwrap();
            assert_eq!(number.holder_kind(), kind);
            assert_eq!(
                kind.is_hong_kong_macao_taiwan(),
                kind != HolderKind::Citizen
            );
        }
    }

    #[test]
    fn age_counts_full_years() {
        let number = IdNumber::parse(&complete("41172120100615123")).unwrap();
        assert_eq!(number.age_on(date(2026, 6, 14)), 15);
        assert_eq!(number.age_on(date(2026, 6, 15)), 16);
        assert_eq!(number.age_on(date(2000, 1, 1)), 0);
        let leap = IdNumber::parse(&complete("41172120080229123")).unwrap();
        assert_eq!(leap.age_on(date(2024, 2, 29)), 16);
        assert_eq!(leap.age_on(date(2025, 2, 28)), 16);
        assert_eq!(leap.age_on(date(2025, 3, 1)), 17);
    }

    #[test]
    fn debug_output_is_masked() {
        let number = IdNumber::parse("411721199001011237").unwrap();
        assert_eq!(format!("{number:?}"), "IdNumber(\"411721********1237\")");
    }

    #[test]
    fn codes_are_stable() {
        let codes = [
            IdNumberError::Format,
            IdNumberError::Region,
            IdNumberError::BirthDate,
            IdNumberError::Checksum,
            IdNumberError::Legacy15,
        ]
        .map(|e| e.code());
        assert_eq!(
            codes,
            ["format", "region", "birth_date", "checksum", "legacy_15"]
        );
        assert_eq!([Sex::Male.code(), Sex::Female.code()], ["male", "female"]);
    }
}
