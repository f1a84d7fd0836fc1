//! Calendar arithmetic shared by the rules: strict ISO dates and month steps that clamp.

use chrono::{Months, NaiveDate};

/// Parses exactly `YYYY-MM-DD` into a real date.
pub(crate) fn parse_iso(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    let year = text.get(0..4)?.parse().ok()?;
    let month = text.get(5..7)?.parse().ok()?;
    let day = text.get(8..10)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Adds whole months; a day missing from the target month becomes its last day (民法典 Art. 202).
///
/// Saturates at the last representable date instead of failing.
pub(crate) fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// Subtracts whole months with the same clamping as [`add_months`].
///
/// Saturates at the first representable date instead of failing.
pub(crate) fn sub_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_sub_months(Months::new(months))
        .unwrap_or(NaiveDate::MIN)
}

/// Adds one year, so 2024-02-29 becomes 2025-02-28.
pub(crate) fn add_year(date: NaiveDate) -> NaiveDate {
    add_months(date, 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        parse_iso(text).unwrap()
    }

    #[test]
    fn parse_iso_accepts_only_the_strict_shape() {
        assert_eq!(
            parse_iso("2026-03-10"),
            NaiveDate::from_ymd_opt(2026, 3, 10)
        );
        for bad in [
            "2026-3-10",
            "2026/03/10",
            "20260310",
            "2026-02-30",
            " 2026-03-10",
            "２０２６-03-10",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn month_steps_clamp_to_the_month_end() {
        assert_eq!(sub_months(date("2026-03-31"), 1), date("2026-02-28"));
        assert_eq!(sub_months(date("2024-03-31"), 1), date("2024-02-29"));
        assert_eq!(add_year(date("2024-02-29")), date("2025-02-28"));
        assert_eq!(add_year(NaiveDate::MAX), NaiveDate::MAX);
        assert_eq!(sub_months(NaiveDate::MIN, 1), NaiveDate::MIN);
    }
}
