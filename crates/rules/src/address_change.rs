//! Endorsing a change of residence address (居住地址变更签注).

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, DueDate};
pub use crate::endorsement::Refusal;

/// Natural days after the move within which the new address must be endorsed.
pub const DAYS_TO_ENDORSE_MOVE: u64 = 15;

/// How far the holder moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveScope {
    /// Within the same county or city district: endorse at the new place.
    WithinCounty,
    /// To another county: a new residence registration, not an endorsement.
    CrossCounty,
}

impl MoveScope {
    /// Stable code: `within_county` or `cross_county`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::WithinCounty => "within_county",
            Self::CrossCounty => "cross_county",
        }
    }
}

/// Whether the address change was reported in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveOutcome {
    /// On or before the deadline.
    OnTime,
    /// After the deadline: still accepted, flagged late.
    Late,
    /// Not an endorsement; see the refusal.
    Refused,
}

impl MoveOutcome {
    /// Stable code: `on_time`, `late` or `refused`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OnTime => "on_time",
            Self::Late => "late",
            Self::Refused => "refused",
        }
    }
}

/// The result of checking an address-change application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct MoveAssessment {
    /// Whether it was in time, late or refused.
    pub outcome: MoveOutcome,
    /// The last day to endorse the move, reported even when refused.
    pub deadline: DueDate,
    /// Why it was refused, when the outcome is `Refused`.
    pub refusal: Option<Refusal>,
}

/// The last day to endorse a move made on `moved_on`.
///
/// Fifteen natural days, the day of moving not counted; a last day that is not a working day
/// moves to the next working day (民法典 Art. 203), and a make-up working day counts as one.
pub fn deadline(moved_on: NaiveDate, calendar: &Calendar) -> DueDate {
    let last_day = moved_on
        .checked_add_days(Days::new(DAYS_TO_ENDORSE_MOVE))
        .unwrap_or(NaiveDate::MAX);
    calendar.next_working_day_on_or_after(last_day)
}

/// Assesses an address-change application made on `applied_on` for a move on `moved_on`.
///
/// A move across counties is refused with [`Refusal::CrossCountyMove`]. An application dated
/// before the move counts as on time.
pub fn assess(
    moved_on: NaiveDate,
    applied_on: NaiveDate,
    scope: MoveScope,
    calendar: &Calendar,
) -> MoveAssessment {
    let deadline = deadline(moved_on, calendar);
    let (outcome, refusal) = match scope {
        MoveScope::CrossCounty => (MoveOutcome::Refused, Some(Refusal::CrossCountyMove)),
        MoveScope::WithinCounty if applied_on <= deadline.date => (MoveOutcome::OnTime, None),
        MoveScope::WithinCounty => (MoveOutcome::Late, None),
    };
    MoveAssessment {
        outcome,
        deadline,
        refusal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::YearSchedule;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// National Day 2026 and its make-up Saturday.
    fn calendar() -> Calendar {
        let schedule = YearSchedule {
            year: 2026,
            holidays: (1..=7).map(|d| date(2026, 10, d)).collect(),
            makeup_working_days: vec![date(2026, 10, 10)],
            source: "test".into(),
        };
        Calendar::new(vec![schedule]).unwrap()
    }

    #[test]
    fn deadline_is_fifteen_days_moved_past_holidays() {
        let moved = assess(
            date(2026, 9, 20),
            date(2026, 10, 6),
            MoveScope::WithinCounty,
            &calendar(),
        );
        assert_eq!(moved.outcome, MoveOutcome::OnTime);
        assert_eq!(
            moved.deadline,
            DueDate {
                date: date(2026, 10, 8),
                confirmed: true
            }
        );
    }

    #[test]
    fn a_make_up_saturday_is_a_working_deadline() {
        assert_eq!(
            deadline(date(2026, 9, 25), &calendar()).date,
            date(2026, 10, 10)
        );
        assert_eq!(
            deadline(date(2026, 9, 26), &calendar()).date,
            date(2026, 10, 12)
        );
    }

    #[test]
    fn after_the_deadline_is_late() {
        let moved = assess(
            date(2026, 9, 1),
            date(2026, 9, 17),
            MoveScope::WithinCounty,
            &calendar(),
        );
        assert_eq!(moved.deadline.date, date(2026, 9, 16));
        assert_eq!(moved.outcome, MoveOutcome::Late);
        assert_eq!(moved.refusal, None);
    }

    #[test]
    fn cross_county_is_refused_with_the_deadline() {
        let moved = assess(
            date(2026, 9, 20),
            date(2026, 9, 25),
            MoveScope::CrossCounty,
            &calendar(),
        );
        assert_eq!(moved.outcome, MoveOutcome::Refused);
        assert_eq!(moved.refusal, Some(Refusal::CrossCountyMove));
        assert_eq!(moved.deadline.date, date(2026, 10, 8));
    }
}
