//! One year's holiday schedule as published by the State Council, and its TOML form.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;
use thiserror::Error;

use crate::dates::parse_iso;

/// Why a holiday schedule or a set of schedules was rejected. Each message names the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    /// The text is not TOML, or a field is missing, unknown or of the wrong type.
    #[error("calendar file does not match the expected format: {0}")]
    Toml(String),
    /// `year` is outside the dates this crate can represent.
    #[error("year: expected a calendar year between 1 and 9999, got {0}")]
    Year(i32),
    /// `source` is empty.
    #[error("source: expected the notice that published the schedule, got an empty string")]
    MissingSource,
    /// A date is not written as `YYYY-MM-DD` or does not exist.
    #[error("{field}: expected a real date written YYYY-MM-DD, got {value:?}")]
    Date {
        /// The field holding the value, e.g. `holidays[2].to`.
        field: String,
        /// The text that was found.
        value: String,
    },
    /// A date lies outside the schedule's year.
    #[error("{field}: expected a date in {year}, got {date}")]
    OutsideYear {
        /// The field holding the date.
        field: String,
        /// The offending date.
        date: NaiveDate,
        /// The schedule's year.
        year: i32,
    },
    /// A holiday range ends before it starts.
    #[error("{field}: expected `to` on or after `from`, got {from} to {to}")]
    Unordered {
        /// The range, e.g. `holidays[1]`.
        field: String,
        /// First day of the range.
        from: NaiveDate,
        /// Last day of the range.
        to: NaiveDate,
    },
    /// A make-up working day falls on Monday to Friday, which is a working day anyway.
    #[error("{field}: expected a Saturday or Sunday for a make-up working day, got {date}")]
    MakeupOnWeekday {
        /// The field holding the date.
        field: String,
        /// The offending date.
        date: NaiveDate,
    },
    /// A date is listed both as a holiday and as a make-up working day.
    #[error("{field}: {date} is also listed as a holiday")]
    HolidayAndMakeup {
        /// The make-up working day's field.
        field: String,
        /// The date in both lists.
        date: NaiveDate,
    },
    /// Two schedules were given for the same year.
    #[error("year: expected one schedule per year, got {0} twice")]
    DuplicateYear(i32),
}

/// The State Council's holiday arrangement (节假日安排) for one year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearSchedule {
    /// The calendar year the schedule covers.
    pub year: i32,
    /// Days off, including the weekends inside holiday periods.
    pub holidays: Vec<NaiveDate>,
    /// Weekend days worked in exchange (调休上班日).
    pub makeup_working_days: Vec<NaiveDate>,
    /// The notice that published the schedule, e.g. `国办发明电〔2025〕7号`.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    year: i32,
    source: String,
    #[serde(default)]
    holidays: Vec<HolidayRange>,
    #[serde(default)]
    makeup_working_days: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayRange {
    name: Option<String>,
    from: String,
    to: Option<String>,
}

impl YearSchedule {
    /// Reads one year's schedule from TOML text; the caller reads the file.
    ///
    /// The format, with dates as quoted `YYYY-MM-DD` strings and `to` optional for one day:
    ///
    /// ```toml
    /// year = 2026
    /// source = "国办发明电〔2025〕7号"
    /// holidays = [
    ///   { name = "元旦", from = "2026-01-01", to = "2026-01-03" },
    /// ]
    /// makeup_working_days = ["2026-01-04"]
    /// ```
    pub fn from_toml(text: &str) -> Result<Self, CalendarError> {
        let file: ScheduleFile =
            toml::from_str(text).map_err(|e| CalendarError::Toml(e.to_string()))?;
        check_year(file.year)?;
        let mut holidays = Vec::new();
        for (index, range) in file.holidays.iter().enumerate() {
            holidays.extend(expand_range(range, index, file.year)?);
        }
        let makeup_working_days = file
            .makeup_working_days
            .iter()
            .enumerate()
            .map(|(index, value)| parse_date(&format!("makeup_working_days[{index}]"), value))
            .collect::<Result<Vec<_>, _>>()?;
        let schedule = Self {
            year: file.year,
            holidays,
            makeup_working_days,
            source: file.source,
        };
        schedule.validate()?;
        Ok(schedule.sorted())
    }

    /// Checks the invariants a schedule built in code must also hold: a non-empty source, every
    /// date in `year`, make-up days on weekends and never also holidays.
    pub fn validate(&self) -> Result<(), CalendarError> {
        check_year(self.year)?;
        if self.source.trim().is_empty() {
            return Err(CalendarError::MissingSource);
        }
        for (index, date) in self.holidays.iter().enumerate() {
            check_in_year(&format!("holidays[{index}]"), *date, self.year)?;
        }
        let holidays: BTreeSet<_> = self.holidays.iter().collect();
        for (index, date) in self.makeup_working_days.iter().enumerate() {
            check_makeup_day(
                &format!("makeup_working_days[{index}]"),
                *date,
                self.year,
                &holidays,
            )?;
        }
        Ok(())
    }

    /// True when `date` is one of the schedule's days off.
    pub(crate) fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.binary_search(&date).is_ok()
    }

    /// True when `date` is one of the schedule's make-up working days.
    pub(crate) fn is_makeup_working_day(&self, date: NaiveDate) -> bool {
        self.makeup_working_days.binary_search(&date).is_ok()
    }

    /// Sorts and deduplicates both lists so lookups can binary-search.
    pub(crate) fn sorted(mut self) -> Self {
        self.holidays.sort_unstable();
        self.holidays.dedup();
        self.makeup_working_days.sort_unstable();
        self.makeup_working_days.dedup();
        self
    }
}

fn check_year(year: i32) -> Result<(), CalendarError> {
    if (1..=9999).contains(&year) {
        Ok(())
    } else {
        Err(CalendarError::Year(year))
    }
}

fn parse_date(field: &str, value: &str) -> Result<NaiveDate, CalendarError> {
    parse_iso(value).ok_or_else(|| CalendarError::Date {
        field: field.to_owned(),
        value: value.to_owned(),
    })
}

fn check_in_year(field: &str, date: NaiveDate, year: i32) -> Result<(), CalendarError> {
    if date.year() == year {
        return Ok(());
    }
    Err(CalendarError::OutsideYear {
        field: field.to_owned(),
        date,
        year,
    })
}

fn check_makeup_day(
    field: &str,
    date: NaiveDate,
    year: i32,
    holidays: &BTreeSet<&NaiveDate>,
) -> Result<(), CalendarError> {
    check_in_year(field, date, year)?;
    let field = field.to_owned();
    if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        return Err(CalendarError::MakeupOnWeekday { field, date });
    }
    if holidays.contains(&date) {
        return Err(CalendarError::HolidayAndMakeup { field, date });
    }
    Ok(())
}

/// Turns one `{ from, to }` entry into its days, checking order and year.
fn expand_range(
    range: &HolidayRange,
    index: usize,
    year: i32,
) -> Result<Vec<NaiveDate>, CalendarError> {
    let field = match &range.name {
        Some(name) => format!("holidays[{index}] ({name})"),
        None => format!("holidays[{index}]"),
    };
    let from_field = format!("{field}.from");
    let to_field = format!("{field}.to");
    let from = parse_date(&from_field, &range.from)?;
    let to = match &range.to {
        Some(value) => parse_date(&to_field, value)?,
        None => from,
    };
    check_in_year(&from_field, from, year)?;
    check_in_year(&to_field, to, year)?;
    if to < from {
        return Err(CalendarError::Unordered { field, from, to });
    }
    Ok(from.iter_days().take_while(|day| *day <= to).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        parse_iso(text).unwrap()
    }

    const SAMPLE: &str = r#"
        year = 2026
        source = "国办发明电〔2025〕7号"
        holidays = [
          { name = "春节", from = "2026-02-15", to = "2026-02-23" },
          { name = "元旦", from = "2026-01-01", to = "2026-01-03" },
          { from = "2026-05-01" },
        ]
        makeup_working_days = ["2026-02-14", "2026-01-04"]
    "#;

    fn with(field_line: &str) -> String {
        format!("year = 2026\nsource = \"test\"\n{field_line}\n")
    }

    #[test]
    fn reads_ranges_and_single_days_sorted() {
        let schedule = YearSchedule::from_toml(SAMPLE).unwrap();
        assert_eq!(schedule.year, 2026);
        assert_eq!(schedule.source, "国办发明电〔2025〕7号");
        assert_eq!(schedule.holidays.len(), 9 + 3 + 1);
        assert_eq!(schedule.holidays.first(), Some(&date("2026-01-01")));
        assert_eq!(schedule.holidays.last(), Some(&date("2026-05-01")));
        assert_eq!(
            schedule.makeup_working_days,
            [date("2026-01-04"), date("2026-02-14")]
        );
    }

    #[test]
    fn names_the_field_of_a_bad_date() {
        let err = YearSchedule::from_toml(&with(
            r#"holidays = [{ name = "元旦", from = "2026-01-01", to = "2026-02-30" }]"#,
        ))
        .unwrap_err();
        assert_eq!(
            err,
            CalendarError::Date {
                field: "holidays[0] (元旦).to".into(),
                value: "2026-02-30".into()
            }
        );
        assert!(
            err.to_string()
                .starts_with("holidays[0] (元旦).to: expected")
        );
    }

    #[test]
    fn rejects_dates_outside_the_year() {
        let err = YearSchedule::from_toml(&with(r#"makeup_working_days = ["2025-12-28"]"#));
        assert!(matches!(err, Err(CalendarError::OutsideYear { field, .. })
            if field == "makeup_working_days[0]"));
        let err = YearSchedule::from_toml(&with(r#"holidays = [{ from = "2025-12-31" }]"#));
        assert!(matches!(err, Err(CalendarError::OutsideYear { field, .. })
            if field == "holidays[0].from"));
    }

    #[test]
    fn rejects_a_reversed_range() {
        let err = YearSchedule::from_toml(&with(
            r#"holidays = [{ from = "2026-10-07", to = "2026-10-01" }]"#,
        ));
        assert!(
            matches!(err, Err(CalendarError::Unordered { field, .. }) if field == "holidays[0]")
        );
    }

    #[test]
    fn rejects_a_day_both_off_and_worked() {
        let err = YearSchedule::from_toml(&with(
            "holidays = [{ from = \"2026-02-14\" }]\nmakeup_working_days = [\"2026-02-14\"]",
        ));
        assert_eq!(
            err,
            Err(CalendarError::HolidayAndMakeup {
                field: "makeup_working_days[0]".into(),
                date: date("2026-02-14"),
            })
        );
    }

    #[test]
    fn rejects_a_make_up_day_on_a_weekday() {
        let err = YearSchedule::from_toml(&with(r#"makeup_working_days = ["2026-01-05"]"#));
        assert!(matches!(err, Err(CalendarError::MakeupOnWeekday { .. })));
    }

    #[test]
    fn rejects_unknown_fields_missing_source_and_bad_toml() {
        assert!(matches!(
            YearSchedule::from_toml(&with("makeup_days = []")),
            Err(CalendarError::Toml(_))
        ));
        assert!(matches!(
            YearSchedule::from_toml("year = 2026"),
            Err(CalendarError::Toml(_))
        ));
        assert!(matches!(
            YearSchedule::from_toml("year = ["),
            Err(CalendarError::Toml(_))
        ));
        let empty_source = "year = 2026\nsource = \" \"";
        assert_eq!(
            YearSchedule::from_toml(empty_source),
            Err(CalendarError::MissingSource)
        );
        let huge_year = "year = 300000\nsource = \"x\"";
        assert_eq!(
            YearSchedule::from_toml(huge_year),
            Err(CalendarError::Year(300000))
        );
    }

    #[test]
    fn validate_checks_schedules_built_in_code() {
        let schedule = YearSchedule {
            year: 2026,
            holidays: vec![date("2027-01-01")],
            makeup_working_days: vec![],
            source: "test".into(),
        };
        assert!(matches!(
            schedule.validate(),
            Err(CalendarError::OutsideYear { .. })
        ));
    }
}
