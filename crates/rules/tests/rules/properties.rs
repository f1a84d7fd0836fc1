//! Properties that must hold for every input, checked with generated cases.

use chrono::{Datelike, Days, NaiveDate};
use proptest::prelude::*;
use residence_rules::endorsement::{Outcome, assess, first_valid_until};
use residence_rules::eval::eval_line;
use residence_rules::{Calendar, Clock, IdNumber, PermitKind, mask_id_number};
use serde_json::json;

use crate::{shipped_calendar, today, with_check_char};

/// Any date from 1900 to about 2100.
fn any_date() -> impl Strategy<Value = NaiveDate> {
    let start = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
    (0u64..73_000).prop_map(move |days| start + Days::new(days))
}

/// A date around the shipped schedules, 2024 to 2027.
fn near_date() -> impl Strategy<Value = NaiveDate> {
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    (0u64..1_461).prop_map(move |days| start + Days::new(days))
}

/// A valid 18-character number.
fn valid_number() -> impl Strategy<Value = String> {
    let regions = prop::sample::select(vec!["411721", "412824", "110101", "650102", "810000"]);
    let birth = any_date().prop_filter("born before 2100", |d| d.year() < 2100);
    (regions, birth, 0u32..1000).prop_map(|(region, birth, sequence)| {
        with_check_char(&format!("{region}{}{sequence:03}", birth.format("%Y%m%d")))
    })
}

fn last_day_of_month(year: i32, month: u32) -> u32 {
    (28..=31)
        .rev()
        .find(|d| NaiveDate::from_ymd_opt(year, month, *d).is_some())
        .unwrap()
}

proptest! {
    #[test]
    fn a_paused_clock_resumes_with_exactly_the_days_left(
        accepted in near_date(),
        limit in 1u32..10,
        pause_after in 0u64..20,
        wait in 0u64..30,
    ) {
        let calendar = shipped_calendar();
        let paused_on = accepted + Days::new(pause_after);
        let resumed_on = paused_on + Days::new(wait);
        let paused = Clock::start(limit, accepted).pause(paused_on, &calendar);
        let resumed = paused.resume(resumed_on);
        let due = resumed.due(&calendar).date;
        prop_assert!(calendar.is_working_day(due));
        prop_assert!(due >= resumed_on);
        // Days used before the pause plus days counted after resuming make the whole limit,
        // unless the limit had run out before the pause: then it ends with the first working
        // day from the answer on.
        let counted_after = resumed_on.iter_days().skip(1).take_while(|d| *d <= due)
            .filter(|d| calendar.is_working_day(*d)).count() as u32;
        if paused.used < limit {
            prop_assert_eq!(paused.used + counted_after, limit);
        } else {
            prop_assert_eq!(due, calendar.next_working_day_on_or_after(resumed_on).date);
        }
        // Waiting never shortens the limit: the resumed due date is never before the original.
        prop_assert!(due >= Clock::start(limit, accepted).due(&calendar).date);
    }

    #[test]
    fn a_valid_number_survives_spaces_and_lower_case_x(
        number in valid_number(),
        left in "[ \t]{0,3}",
        right in "[ \t\u{3000}]{0,3}",
    ) {
        let padded = format!("{left}{}{right}", number.to_lowercase());
        let parsed = IdNumber::parse(&padded).unwrap();
        prop_assert_eq!(parsed.as_str(), number.as_str());
    }

    #[test]
    fn a_due_date_is_a_working_day_strictly_after_acceptance(from in near_date(), n in 1u32..40) {
        let calendar = shipped_calendar();
        let due = calendar.add_working_days(from, n);
        prop_assert!(due.date > from);
        prop_assert!(calendar.is_working_day(due.date));
        let counted = from.iter_days().skip(1).take_while(|d| *d <= due.date)
            .filter(|d| calendar.is_working_day(*d)).count();
        prop_assert_eq!(counted, n as usize);
        let first_counted = from.succ_opt().unwrap();
        let loaded = (first_counted.year()..=due.date.year()).all(|y| calendar.is_confirmed(y));
        prop_assert_eq!(due.confirmed, loaded);
    }

    #[test]
    fn adding_a_year_never_yields_a_nonexistent_date(issued_on in any_date()) {
        let valid_until = first_valid_until(issued_on);
        prop_assert_eq!(valid_until.year(), issued_on.year() + 1);
        prop_assert_eq!(valid_until.month(), issued_on.month());
        let last = last_day_of_month(valid_until.year(), valid_until.month());
        prop_assert_eq!(valid_until.day(), issued_on.day().min(last));
    }

    #[test]
    fn the_window_always_ends_on_valid_until(valid_until in any_date(), applied_on in any_date()) {
        let assessment = assess(valid_until, applied_on, PermitKind::Residence);
        prop_assert_eq!(assessment.window_closes, valid_until);
        prop_assert!(assessment.window_opens < valid_until);
        let inside = (assessment.window_opens..=valid_until).contains(&applied_on);
        prop_assert_eq!(assessment.outcome == Outcome::OnTime, inside);
    }

    #[test]
    fn masking_keeps_length(raw in any::<String>()) {
        prop_assert_eq!(mask_id_number(&raw).chars().count(), raw.chars().count());
    }

    #[test]
    fn eval_answers_every_line(line in any::<String>(), word in "[a-z_]{1,20}", n in any::<i64>()) {
        let calendar = Calendar::new(vec![]).unwrap();
        let due = json!({ "accepted_on": "2026-01-01", "working_days": n });
        let lines = [
            line,
            json!({ "id": 1, "rule": word, "input": { "id_number": n.to_string() } }).to_string(),
            json!({ "id": 1, "rule": "due", "input": due }).to_string(),
        ];
        for line in lines {
            let answer = eval_line(&line, &calendar, today());
            prop_assert!(answer.get("result").is_some_and(|r| r.is_object()));
        }
    }
}
