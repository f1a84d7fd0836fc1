//! Tests of the rules against DOMAIN.md, the shared hand-checked cases and generated inputs.

mod cases;
mod domain;
mod edges;
mod properties;

use chrono::NaiveDate;
use residence_rules::{Calendar, IdNumber, YearSchedule};

/// The calendar shipped in `deploy/calendars`, read at compile time for tests only.
fn shipped_calendar() -> Calendar {
    let files = [
        include_str!("../../../../deploy/calendars/2025.toml"),
        include_str!("../../../../deploy/calendars/2026.toml"),
    ];
    let schedules = files.map(|text| YearSchedule::from_toml(text).unwrap());
    Calendar::new(schedules.into()).unwrap()
}

/// The day the rule evaluations take as today, fixed so that the tests answer alike on any
/// day.
fn today() -> NaiveDate {
    date("2026-12-04")
}

/// A date from `YYYY-MM-DD`, for readable tests.
fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Completes 17 digits with the check character that makes them a valid number, found by
/// trying every candidate so the tests do not restate the algorithm.
fn with_check_char(first17: &str) -> String {
    let candidates = "0123456789X".chars().map(|c| format!("{first17}{c}"));
    let valid: Vec<_> = candidates
        .filter(|raw| IdNumber::parse(raw).is_ok())
        .collect();
    assert_eq!(valid.len(), 1, "exactly one check character fits {first17}");
    valid.into_iter().next().unwrap()
}
