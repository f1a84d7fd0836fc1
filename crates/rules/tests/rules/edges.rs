//! Edge cases derived from DOMAIN.md beyond the shared cases: leap days, month ends, make-up
//! days, the 2025 Spring Festival and year boundaries.

use residence_rules::address_change::{self, MoveOutcome, MoveScope};
use residence_rules::endorsement::{Outcome, assess, first_valid_until};
use residence_rules::eval::eval_line;
use residence_rules::{DueDate, IdNumber, IdNumberError, PermitKind, mask_id_number};
use serde_json::json;

use crate::{date, shipped_calendar, today, with_check_char};

#[test]
fn century_leap_rules_apply_to_birth_dates() {
    assert_eq!(
        IdNumber::parse("411721190002291230"),
        Err(IdNumberError::BirthDate)
    );
    assert_eq!(
        IdNumber::parse("411721210002291230"),
        Err(IdNumberError::BirthDate)
    );
    let leap = IdNumber::parse(&with_check_char("41172120000229123")).unwrap();
    assert_eq!(leap.birth_date(), date("2000-02-29"));
}

#[test]
fn a_future_birth_date_needs_today_to_be_rejected() {
    let raw = with_check_char("41172120270101123");
    assert!(IdNumber::parse(&raw).is_ok());
    assert_eq!(
        IdNumber::parse_on(&raw, date("2026-12-31")),
        Err(IdNumberError::BirthDate)
    );
}

#[test]
fn window_opening_clamps_at_each_month_end() {
    let opens = |valid_until| assess(date(valid_until), date(valid_until), PermitKind::Residence);
    assert_eq!(opens("2026-03-31").window_opens, date("2026-02-28"));
    assert_eq!(opens("2024-03-31").window_opens, date("2024-02-29"));
    assert_eq!(opens("2026-05-31").window_opens, date("2026-04-30"));
    assert_eq!(opens("2026-01-15").window_opens, date("2025-12-15"));
}

#[test]
fn leap_day_validity_clamps_every_way() {
    let on_time = assess(
        date("2024-02-29"),
        date("2024-02-01"),
        PermitKind::Residence,
    );
    assert_eq!(on_time.new_valid_until, Some(date("2025-02-28")));
    let late = assess(
        date("2024-01-31"),
        date("2024-02-29"),
        PermitKind::Residence,
    );
    assert_eq!(late.outcome, Outcome::Late);
    assert_eq!(late.new_valid_until, Some(date("2025-02-28")));
    assert_eq!(first_valid_until(date("2023-02-28")), date("2024-02-28"));
}

#[test]
fn a_make_up_saturday_is_a_working_day() {
    let calendar = shipped_calendar();
    assert!(calendar.is_working_day(date("2025-02-08")));
    let due = calendar.add_working_days(date("2025-02-07"), 1);
    assert_eq!(
        due,
        DueDate {
            date: date("2025-02-08"),
            confirmed: true
        }
    );
    let due = calendar.add_working_days(date("2025-01-25"), 1);
    assert_eq!(due.date, date("2025-01-26"));
}

#[test]
fn due_dates_skip_the_2025_spring_festival() {
    let due = shipped_calendar().add_working_days(date("2025-01-27"), 1);
    assert_eq!(
        due,
        DueDate {
            date: date("2025-02-05"),
            confirmed: true
        }
    );
}

#[test]
fn several_working_days_cross_national_day_2025() {
    let due = shipped_calendar().add_working_days(date("2025-09-30"), 3);
    assert_eq!(
        due,
        DueDate {
            date: date("2025-10-11"),
            confirmed: true
        }
    );
}

#[test]
fn acceptance_on_a_holiday_counts_from_the_next_working_day() {
    let calendar = shipped_calendar();
    assert_eq!(
        calendar.add_working_days(date("2026-02-15"), 1).date,
        date("2026-02-24")
    );
    assert_eq!(
        calendar.add_working_days(date("2026-01-01"), 1).date,
        date("2026-01-04")
    );
}

#[test]
fn crossing_from_2025_into_2026_stays_confirmed() {
    let due = shipped_calendar().add_working_days(date("2025-12-31"), 1);
    assert_eq!(
        due,
        DueDate {
            date: date("2026-01-04"),
            confirmed: true
        }
    );
}

#[test]
fn a_date_in_2027_is_unconfirmed() {
    let calendar = shipped_calendar();
    assert_eq!(
        calendar.add_working_days(date("2026-12-31"), 1),
        DueDate {
            date: date("2027-01-01"),
            confirmed: false
        }
    );
    let deadline = address_change::deadline(date("2026-12-20"), &calendar);
    assert_eq!(
        deadline,
        DueDate {
            date: date("2027-01-04"),
            confirmed: false
        }
    );
    assert!(
        calendar
            .missing_next_year_warning(date("2026-12-01"))
            .is_some()
    );
    assert_eq!(calendar.missing_next_year_warning(date("2025-12-01")), None);
}

#[test]
fn a_move_deadline_over_national_day_2025() {
    let moved = address_change::assess(
        date("2025-09-16"),
        date("2025-10-09"),
        MoveScope::WithinCounty,
        &shipped_calendar(),
    );
    assert_eq!(moved.deadline.date, date("2025-10-09"));
    assert_eq!(moved.outcome, MoveOutcome::OnTime);
}

#[test]
fn masking_short_and_wide_input() {
    assert_eq!(mask_id_number("4117211237"), "**********");
    assert_eq!(
        mask_id_number("４１１７２１１９９００１０１１２３７"),
        "４１１７２１********１２３７"
    );
}

#[test]
fn eval_normalises_id_numbers_like_parse() {
    let line =
        r#"{"id": "n", "rule": "id_number", "input": {"id_number": " 41172119880517108x "}}"#;
    let answer = eval_line(line, &shipped_calendar(), today());
    assert_eq!(answer["result"]["normalized"], json!("41172119880517108X"));
}

#[test]
fn eval_refuses_a_holder_not_born_yet() {
    let born_tomorrow = with_check_char("41172120261205123");
    let line = json!({"id": "f", "rule": "id_number", "input": {"id_number": born_tomorrow}});
    let answer = eval_line(&line.to_string(), &shipped_calendar(), today());
    assert_eq!(answer["result"]["valid"], json!(false));
    assert_eq!(answer["result"]["error"], json!("birth_date"));

    let born_today = with_check_char("41172120261204123");
    let line = json!({"id": "t", "rule": "id_number", "input": {"id_number": born_today}});
    let answer = eval_line(&line.to_string(), &shipped_calendar(), today());
    assert_eq!(answer["result"]["valid"], json!(true));
}

#[test]
fn eval_masks_a_valid_number_as_it_is_kept() {
    let line = r#"{"id": "m", "rule": "mask", "input": {"id_number": " 41172119880517108x "}}"#;
    let answer = eval_line(line, &shipped_calendar(), today());
    assert_eq!(answer["result"]["masked"], json!("411721********108X"));
}
