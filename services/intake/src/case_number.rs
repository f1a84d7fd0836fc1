//! Case numbers: implementation code, date, sequence and a check character.
//!
//! `1141282400596722961000709005000-20261204-000123-E`: unique per deployment because the
//! sequence is allocated in the database, never reused because the sequence only grows.

use chrono::NaiveDate;

/// Formats a case number from its parts.
pub fn format(implementation_code: &str, day: NaiveDate, sequence: i64) -> String {
    let body = format!("{implementation_code}{}{sequence:06}", day.format("%Y%m%d"));
    let check = residence_rules::check_character::mod_37_36(&body).unwrap_or('0');
    format!(
        "{implementation_code}-{}-{sequence:06}-{check}",
        day.format("%Y%m%d")
    )
}

/// Whether `case_number`'s check character is right.
pub fn is_well_formed(case_number: &str) -> bool {
    let Some((body, check)) = case_number.rsplit_once('-') else {
        return false;
    };
    let compact: String = body.chars().filter(|c| *c != '-').collect();
    let mut chars = check.chars();
    match (chars.next(), chars.next()) {
        (Some(check), None) => residence_rules::check_character::mod_37_36(&compact) == Some(check),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let number = format("1141282400596722961000709005000", day, 123);
        assert!(number.starts_with("1141282400596722961000709005000-20261204-000123-"));
        assert!(is_well_formed(&number));
        let tampered = number.replace("-000123-", "-000124-");
        assert!(!is_well_formed(&tampered));
    }
}
