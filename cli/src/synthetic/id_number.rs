//! Building identity numbers (GB 11643) for made-up people.

use chrono::NaiveDate;

/// Weights of the first 17 digits in the check (ISO 7064 MOD 11-2).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The check character for each weighted sum modulo 11.
const CHECK_CHARACTERS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The check character of the first 17 digits of a number, or `None` when `body` is not
/// exactly 17 ASCII digits.
pub fn check_character(body: &str) -> Option<char> {
    if body.len() != WEIGHTS.len() {
        return None;
    }
    let mut sum = 0;
    for (digit, weight) in body.chars().zip(WEIGHTS) {
        sum += digit.to_digit(10)? * weight;
    }
    Some(CHECK_CHARACTERS[(sum % 11) as usize])
}

/// An 18-character number for a holder registered in `region` (6 digits), born on
/// `birth_date`, with sequence number `sequence` (1 to 999; odd for men), and its check
/// character.
pub fn build(region: &str, birth_date: NaiveDate, sequence: u32) -> String {
    let body = format!(
        "{region}{}{:03}",
        birth_date.format("%Y%m%d"),
        sequence % 1000
    );
    let check = check_character(&body).unwrap_or('0');
    format!("{body}{check}")
}

/// The same number with a different, wrong, check character.
pub fn with_wrong_check(number: &str) -> String {
    let (body, check) = number.split_at(number.len().saturating_sub(1));
    let wrong = CHECK_CHARACTERS
        .iter()
        .find(|candidate| candidate.to_string() != check)
        .copied()
        .unwrap_or('0');
    format!("{body}{wrong}")
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use residence_rules::{IdNumber, IdNumberError};

    use super::*;

    #[test]
    fn matches_the_published_examples() {
        assert_eq!(check_character("41172119900101123"), Some('7'));
        assert_eq!(check_character("41172119880517108"), Some('X'));
        assert_eq!(check_character("4117211990010112"), None);
        assert_eq!(check_character("4117211990010112a"), None);
    }

    #[test]
    fn the_rules_accept_exactly_the_computed_check_character() {
        let mut rng = StdRng::seed_from_u64(11643);
        for _ in 0..2_000 {
            let birth = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap()
                + chrono::Days::new(rng.gen_range(0..25_000));
            let region = if rng.gen_bool(0.5) {
                "412824"
            } else {
                "411721"
            };
            let number = build(region, birth, rng.gen_range(1..1000));

            let parsed = IdNumber::parse(&number).unwrap();
            assert_eq!(parsed.birth_date(), birth);
            let wrong = with_wrong_check(&number);
            assert_ne!(wrong, number);
            assert_eq!(IdNumber::parse(&wrong), Err(IdNumberError::Checksum));
        }
    }
}
