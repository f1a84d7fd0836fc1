//! One test per rule of DOMAIN.md that this crate encodes, in the order DOMAIN.md gives them.

use residence_rules::address_change::{self, MoveOutcome, MoveScope};
use residence_rules::endorsement::{self, Outcome, assess, assess_with, first_valid_until};
use residence_rules::materials::{
    AgentInfo, AgentRelation, MaterialKind, MissingItem, PROOFS_OF_GROUND, agent_allowed, missing,
};
use residence_rules::{
    AgentPolicy, Calendar, DueDate, HolderKind, IdNumber, IdNumberError, PermitKind, Refusal, Sex,
    Switches, YearSchedule, mask_id_number,
};

use crate::{date, shipped_calendar, with_check_char};

// Who may apply.

#[test]
fn a_minor_under_16_may_act_through_a_guardian_or_close_relative() {
    let defaults = Switches::default();
    assert_eq!(
        agent_allowed(15, AgentRelation::Guardian, &defaults),
        Ok(())
    );
    assert_eq!(
        agent_allowed(15, AgentRelation::CloseRelative, &defaults),
        Ok(())
    );
    assert_eq!(
        agent_allowed(15, AgentRelation::Other, &defaults),
        Err(Refusal::AgentNotAllowed)
    );
}

#[test]
fn adults_may_use_an_agent_per_the_switch_defaulting_to_family() {
    let defaults = Switches::default();
    assert_eq!(
        defaults.agent_for_adults,
        AgentPolicy::GuardianOrCloseRelative
    );
    assert_eq!(
        agent_allowed(30, AgentRelation::CloseRelative, &defaults),
        Ok(())
    );
    assert_eq!(
        agent_allowed(30, AgentRelation::Other, &defaults),
        Err(Refusal::AgentNotAllowed)
    );
    let in_person = Switches {
        agent_for_adults: AgentPolicy::InPersonOnly,
        ..defaults
    };
    assert_eq!(
        agent_allowed(30, AgentRelation::Guardian, &in_person),
        Err(Refusal::InPersonRequired)
    );
}

#[test]
fn hong_kong_macao_taiwan_permits_have_no_annual_endorsement() {
    let number = IdNumber::parse("810000199503150046").unwrap();
    assert_eq!(number.holder_kind(), HolderKind::HongKong);
    let kind = PermitKind::of_holder(number.holder_kind());
    let assessment = assess(date("2026-03-10"), date("2026-03-01"), kind);
    assert_eq!(assessment.outcome, Outcome::Refused);
    assert_eq!(assessment.refusal, Some(Refusal::NoAnnualEndorsement));
    assert!(
        Refusal::NoAnnualEndorsement
            .explanation_zh()
            .contains("换领")
    );
    assert_eq!(kind.validity_years(), 5);
}

// When to endorse.

#[test]
fn the_window_is_the_month_before_valid_until_both_ends_included() {
    let valid_until = date("2026-03-10");
    let kind = PermitKind::Residence;
    assert_eq!(
        assess(valid_until, date("2026-02-09"), kind).outcome,
        Outcome::TooEarly
    );
    assert_eq!(
        assess(valid_until, date("2026-02-10"), kind).outcome,
        Outcome::OnTime
    );
    assert_eq!(
        assess(valid_until, date("2026-03-10"), kind).outcome,
        Outcome::OnTime
    );
    assert_eq!(
        assess(valid_until, date("2026-03-11"), kind).outcome,
        Outcome::Late
    );
}

#[test]
fn month_arithmetic_clamps_to_the_last_day() {
    let window = assess(
        date("2026-03-31"),
        date("2026-03-31"),
        PermitKind::Residence,
    );
    assert_eq!(window.window_opens, date("2026-02-28"));
    assert_eq!(first_valid_until(date("2024-02-29")), date("2025-02-28"));
}

#[test]
fn an_early_endorser_loses_no_days() {
    let on_time = assess(
        date("2026-03-10"),
        date("2026-02-10"),
        PermitKind::Residence,
    );
    assert_eq!(on_time.new_valid_until, Some(date("2027-03-10")));
    assert_eq!(on_time.residence_counted_from, None);
}

#[test]
fn too_early_is_refused_with_the_opening_date() {
    let early = assess(
        date("2026-03-10"),
        date("2026-01-05"),
        PermitKind::Residence,
    );
    assert_eq!(early.outcome, Outcome::TooEarly);
    assert_eq!(early.window_opens, date("2026-02-10"));
    assert_eq!(early.new_valid_until, None);
}

#[test]
fn late_suspends_use_then_restarts_residence_from_the_late_day() {
    assert_eq!(
        endorsement::suspended_from(date("2026-03-10")),
        date("2026-03-11")
    );
    let late = assess(
        date("2026-03-10"),
        date("2026-05-20"),
        PermitKind::Residence,
    );
    assert_eq!(late.outcome, Outcome::Late);
    assert_eq!(late.new_valid_until, Some(date("2027-05-20")));
    assert_eq!(late.residence_counted_from, Some(date("2026-05-20")));
}

#[test]
fn re_registration_after_six_months_late_is_a_switch_default_off() {
    let valid_until = date("2025-03-10");
    let applied_on = date("2026-05-20");
    assert_eq!(
        assess(valid_until, applied_on, PermitKind::Residence).outcome,
        Outcome::Late
    );
    let switches = Switches {
        reregister_after_months_late: Some(6),
        ..Switches::default()
    };
    let refused = assess_with(valid_until, applied_on, PermitKind::Residence, &switches);
    assert_eq!(refused.refusal, Some(Refusal::ReregistrationRequired));
}

// Change of address.

#[test]
fn a_move_within_the_county_has_fifteen_days_extended_past_days_off() {
    let calendar = shipped_calendar();
    let moved = address_change::assess(
        date("2026-09-20"),
        date("2026-10-08"),
        MoveScope::WithinCounty,
        &calendar,
    );
    assert_eq!(
        moved.deadline,
        DueDate {
            date: date("2026-10-08"),
            confirmed: true
        }
    );
    assert_eq!(moved.outcome, MoveOutcome::OnTime);
    let plain = address_change::deadline(date("2026-03-02"), &calendar);
    assert_eq!(plain.date, date("2026-03-17"));
}

#[test]
fn a_make_up_working_day_can_be_the_last_day_of_a_move() {
    let deadline = address_change::deadline(date("2026-01-30"), &shipped_calendar());
    assert_eq!(deadline.date, date("2026-02-14"));
}

#[test]
fn a_move_reported_after_the_deadline_is_accepted_and_flagged_late() {
    let moved = address_change::assess(
        date("2026-03-02"),
        date("2026-03-18"),
        MoveScope::WithinCounty,
        &shipped_calendar(),
    );
    assert_eq!(moved.outcome, MoveOutcome::Late);
    assert_eq!(moved.refusal, None);
}

#[test]
fn a_move_across_counties_is_refused_and_says_so() {
    let moved = address_change::assess(
        date("2026-09-20"),
        date("2026-09-25"),
        MoveScope::CrossCounty,
        &shipped_calendar(),
    );
    assert_eq!(moved.outcome, MoveOutcome::Refused);
    assert_eq!(moved.refusal, Some(Refusal::CrossCountyMove));
    assert!(Refusal::CrossCountyMove.explanation_zh().contains("半年"));
}

// Working days and the 1-working-day clock.

#[test]
fn the_day_of_acceptance_is_not_counted() {
    let due = shipped_calendar().add_working_days(date("2026-03-02"), 1);
    assert_eq!(
        due,
        DueDate {
            date: date("2026-03-03"),
            confirmed: true
        }
    );
}

#[test]
fn working_days_are_weekdays_minus_holidays_plus_make_up_days() {
    let calendar = shipped_calendar();
    assert!(calendar.is_working_day(date("2026-03-02")));
    assert!(!calendar.is_working_day(date("2026-03-07")));
    assert!(!calendar.is_working_day(date("2026-10-05")));
    assert!(calendar.is_working_day(date("2026-10-10")));
}

#[test]
fn shipped_schedules_match_the_state_council_notices() {
    let calendar = shipped_calendar();
    assert_eq!(calendar.years(), [2025, 2026]);
    let expected = [
        (2025, "国办发明电〔2024〕12号", 1 + 8 + 3 + 5 + 3 + 8, 5),
        (2026, "国办发明电〔2025〕7号", 3 + 9 + 3 + 5 + 3 + 3 + 7, 6),
    ];
    for (year, source, holidays, makeups) in expected {
        let schedule = calendar.schedule(year).unwrap();
        assert_eq!(schedule.source, source);
        assert_eq!(schedule.holidays.len(), holidays, "{year}");
        assert_eq!(schedule.makeup_working_days.len(), makeups, "{year}");
    }
    for day in [
        "2025-01-26",
        "2025-02-08",
        "2025-04-27",
        "2025-09-28",
        "2025-10-11",
    ] {
        assert!(calendar.is_working_day(date(day)), "{day}");
    }
    for day in [
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    ] {
        assert!(calendar.is_working_day(date(day)), "{day}");
    }
}

#[test]
fn an_unpublished_year_counts_weekends_only_and_is_unconfirmed() {
    let calendar = shipped_calendar();
    assert!(!calendar.is_confirmed(2027));
    let due = calendar.add_working_days(date("2027-01-29"), 1);
    assert_eq!(
        due,
        DueDate {
            date: date("2027-02-01"),
            confirmed: false
        }
    );
}

#[test]
fn a_new_year_loads_from_data_without_a_rebuild() {
    let text = "year = 2027\nsource = \"test notice\"\nholidays = [{ from = \"2027-01-01\" }]\n";
    let mut schedules = vec![YearSchedule::from_toml(text).unwrap()];
    schedules.push(shipped_calendar().schedule(2026).unwrap().clone());
    let calendar = Calendar::new(schedules).unwrap();
    let due = calendar.add_working_days(date("2026-12-31"), 1);
    assert_eq!(
        due,
        DueDate {
            date: date("2027-01-04"),
            confirmed: true
        }
    );
}

// Materials.

#[test]
fn one_notice_lists_every_missing_material() {
    let agent = AgentInfo {
        relation: AgentRelation::CloseRelative,
    };
    let items = missing(&[MaterialKind::IdCard], Some(&agent));
    assert_eq!(
        items,
        [
            MissingItem::Material(MaterialKind::ResidencePermit),
            MissingItem::OneOf(PROOFS_OF_GROUND.to_vec()),
            MissingItem::Material(MaterialKind::AgentIdCard),
            MissingItem::Material(MaterialKind::ProofOfRelationship),
        ]
    );
}

#[test]
fn any_one_proof_of_residence_employment_or_study_suffices() {
    for proof in PROOFS_OF_GROUND {
        let provided = [MaterialKind::ResidencePermit, MaterialKind::IdCard, proof];
        assert_eq!(missing(&provided, None), []);
    }
}

// Identity numbers.

#[test]
fn an_identity_number_reads_region_birth_date_sequence_and_check() {
    let number = IdNumber::parse("41172119880517108X").unwrap();
    assert_eq!(number.birth_date(), date("1988-05-17"));
    assert_eq!(number.sex(), Sex::Female);
    assert_eq!(
        IdNumber::parse("411721199001011237").unwrap().sex(),
        Sex::Male
    );
    assert_eq!(
        IdNumber::parse("411721199001011230"),
        Err(IdNumberError::Checksum)
    );
}

#[test]
fn lower_case_x_and_surrounding_spaces_are_normalised() {
    let number = IdNumber::parse("  41172119880517108x ").unwrap();
    assert_eq!(number.as_str(), "41172119880517108X");
}

#[test]
fn the_birth_date_must_be_real() {
    // Checked before the check character, so any final character gives the same error.
    assert_eq!(
        IdNumber::parse("411721190002291230"),
        Err(IdNumberError::BirthDate)
    );
    assert!(IdNumber::parse(&with_check_char("41172120000229123")).is_ok());
}

#[test]
fn the_first_two_digits_must_be_a_province_level_code() {
    assert_eq!(
        IdNumber::parse("99172119900101123X"),
        Err(IdNumberError::Region)
    );
    assert!(IdNumber::parse(&with_check_char("71000019900101123")).is_ok());
    assert_eq!(
        IdNumber::parse(&format!("72{}", &with_check_char("71000019900101123")[2..])),
        Err(IdNumberError::Region)
    );
}

#[test]
fn abolished_region_codes_stay_valid() {
    assert!(IdNumber::parse(&with_check_char("41282419900101123")).is_ok());
}

#[test]
fn fifteen_digit_numbers_are_refused() {
    assert_eq!(
        IdNumber::parse("412824900101123"),
        Err(IdNumberError::Legacy15)
    );
    assert_eq!(IdNumberError::Legacy15.code(), "legacy_15");
}

#[test]
fn permit_prefixes_mark_hong_kong_macao_and_taiwan() {
    for (prefix, kind) in [
        ("820000", HolderKind::Macao),
        ("830000", HolderKind::Taiwan),
        ("810000", HolderKind::HongKong),
    ] {
        let number = IdNumber::parse(&with_check_char(&format!("{prefix}19950315004"))).unwrap();
        assert_eq!(number.holder_kind(), kind);
        assert!(kind.is_hong_kong_macao_taiwan());
    }
}

// Personal information.

#[test]
fn masking_keeps_the_first_six_and_last_four() {
    assert_eq!(mask_id_number("411721199001011237"), "411721********1237");
    let number = IdNumber::parse("411721199001011237").unwrap();
    assert_eq!(number.masked(), "411721********1237");
    assert!(!format!("{number:?}").contains("19900101"));
}
