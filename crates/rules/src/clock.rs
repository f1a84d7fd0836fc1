//! The time-limit clock (办理时限): a limit in working days that starts the day after
//! acceptance, stops while the case waits on the applicant (补正) and resumes with the time
//! left when they answer.
//!
//! A limit of `n` working days ends at the end of its due date, China time. Counting works in
//! whole working days: the day a clock starts or resumes is not counted (民法典 Art. 201), and a
//! working day on which the clock pauses counts as used, so pausing and resuming never gives
//! back a day the office already had.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::Serialize;

use crate::calendar::{Calendar, DueDate};

/// Midnight in China (UTC+8) is 16:00 UTC the day before.
const CHINA_MIDNIGHT_IN_UTC: NaiveTime = NaiveTime::MIN
    .overflowing_add_signed(TimeDelta::hours(16))
    .0;

/// Which limit a clock tracks. A service item states both; they are often equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// 法定办理时限: set by law.
    Legal,
    /// 承诺办理时限: what the office promises, never longer than the legal one.
    Promised,
}

impl LimitKind {
    /// Both kinds, legal first.
    pub const ALL: [Self; 2] = [Self::Legal, Self::Promised];

    /// Stable lower-case name, used in stored rows and events.
    pub fn code(self) -> &'static str {
        match self {
            Self::Legal => "legal",
            Self::Promised => "promised",
        }
    }

    /// Parses [`LimitKind::code`].
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

/// A running or paused clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// The limit in working days.
    pub working_days: u32,
    /// Working days used before the clock last started.
    pub used: u32,
    /// The day the clock last started: acceptance, or the applicant's answer. Not counted.
    pub started_on: NaiveDate,
    /// Set while the case waits on the applicant.
    pub paused_on: Option<NaiveDate>,
}

impl Clock {
    /// A clock started by accepting a case on `accepted_on`.
    pub fn start(working_days: u32, accepted_on: NaiveDate) -> Self {
        Self {
            working_days,
            used: 0,
            started_on: accepted_on,
            paused_on: None,
        }
    }

    /// Working days left when the clock last started.
    pub fn remaining(&self) -> u32 {
        self.working_days.saturating_sub(self.used)
    }

    /// The day the limit ends, as things stand. While paused this is where it would end if the
    /// clock had not stopped; it moves when the clock resumes.
    ///
    /// With nothing left (paused on or after the due date, then resumed) the limit ends with
    /// the day of resumption, or the next working day if that is a rest day.
    pub fn due(&self, calendar: &Calendar) -> DueDate {
        match self.remaining() {
            0 => calendar.next_working_day_on_or_after(self.started_on),
            left => calendar.add_working_days(self.started_on, left),
        }
    }

    /// Stops the clock on `on`, when the case starts waiting on the applicant. Pausing a paused
    /// clock changes nothing.
    pub fn pause(self, on: NaiveDate, calendar: &Calendar) -> Self {
        if self.paused_on.is_some() {
            return self;
        }
        let used =
            self.used + working_days_between(calendar, self.started_on, on, self.remaining());
        Self {
            used,
            paused_on: Some(on),
            ..self
        }
    }

    /// Restarts a paused clock on `on`, when the applicant answers, with the days left.
    /// Resuming a running clock changes nothing.
    pub fn resume(self, on: NaiveDate) -> Self {
        if self.paused_on.is_none() {
            return self;
        }
        Self {
            started_on: on.max(self.started_on),
            paused_on: None,
            ..self
        }
    }
}

/// Working days in `(after, up_to]`, counting no further than `at_most`.
fn working_days_between(
    calendar: &Calendar,
    after: NaiveDate,
    up_to: NaiveDate,
    at_most: u32,
) -> u32 {
    let mut count = 0;
    let mut day = after;
    while count < at_most && day < up_to {
        let Some(next) = day.checked_add_days(Days::new(1)) else {
            break;
        };
        day = next;
        if calendar.is_working_day(day) {
            count += 1;
        }
    }
    count
}

/// The instant a limit ending on `due` runs out: midnight at the end of that day, China time
/// (UTC+8, no daylight saving), which is 16:00 UTC on `due`.
pub fn deadline(due: NaiveDate) -> DateTime<Utc> {
    due.and_time(CHINA_MIDNIGHT_IN_UTC).and_utc()
}

/// When to warn before a limit ending on `due` runs out: `ahead` before the deadline, but never
/// before the due date itself begins.
pub fn warning_time(due: NaiveDate, ahead: TimeDelta) -> DateTime<Utc> {
    let end = deadline(due);
    let due_day_begins = end - TimeDelta::days(1);
    (end - ahead.max(TimeDelta::zero())).max(due_day_begins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::YearSchedule;

    fn calendar() -> Calendar {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/calendars/2026.toml"
        ))
        .unwrap();
        Calendar::new(vec![YearSchedule::from_toml(&text).unwrap()]).unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn accepted_on_a_friday_is_due_on_monday() {
        let clock = Clock::start(1, date("2026-03-06"));
        assert_eq!(clock.due(&calendar()).date, date("2026-03-09"));
    }

    #[test]
    fn accepted_before_spring_festival_is_due_after_it() {
        // 2026-02-14 is a make-up working day, 02-15..23 the holiday.
        let clock = Clock::start(1, date("2026-02-13"));
        assert_eq!(clock.due(&calendar()).date, date("2026-02-14"));
        let clock = Clock::start(1, date("2026-02-14"));
        assert_eq!(clock.due(&calendar()).date, date("2026-02-24"));
    }

    #[test]
    fn a_pause_on_the_day_of_acceptance_keeps_the_whole_limit() {
        let calendar = calendar();
        let paused = Clock::start(1, date("2026-03-02")).pause(date("2026-03-02"), &calendar);
        assert_eq!(paused.used, 0);
        let resumed = paused.resume(date("2026-03-05"));
        assert_eq!(resumed.due(&calendar).date, date("2026-03-06"));
    }

    #[test]
    fn a_pause_on_the_due_date_leaves_the_day_of_resumption() {
        let calendar = calendar();
        let paused = Clock::start(1, date("2026-03-02")).pause(date("2026-03-03"), &calendar);
        assert_eq!(paused.used, 1);
        // Answered on a Saturday: the limit ends with the next working day.
        let resumed = paused.resume(date("2026-03-07"));
        assert_eq!(resumed.due(&calendar).date, date("2026-03-09"));
    }

    #[test]
    fn rest_days_while_paused_and_running_are_not_counted() {
        let calendar = calendar();
        // Three working days, accepted Friday, paused Tuesday: Monday and Tuesday used.
        let paused = Clock::start(3, date("2026-03-06")).pause(date("2026-03-10"), &calendar);
        assert_eq!(paused.used, 2);
        let resumed = paused.resume(date("2026-03-13"));
        assert_eq!(resumed.remaining(), 1);
        assert_eq!(resumed.due(&calendar).date, date("2026-03-16"));
    }

    #[test]
    fn pausing_twice_or_resuming_a_running_clock_changes_nothing() {
        let calendar = calendar();
        let clock = Clock::start(2, date("2026-03-02"));
        assert_eq!(clock.resume(date("2026-03-04")), clock);
        let paused = clock.pause(date("2026-03-03"), &calendar);
        assert_eq!(paused.pause(date("2026-03-05"), &calendar), paused);
    }

    #[test]
    fn a_limit_runs_out_at_midnight_china_time() {
        let end = deadline(date("2026-03-03"));
        assert_eq!(end.to_rfc3339(), "2026-03-03T16:00:00+00:00");
        let warn = warning_time(date("2026-03-03"), TimeDelta::hours(8));
        assert_eq!(warn.to_rfc3339(), "2026-03-03T08:00:00+00:00");
        // Never earlier than the start of the due date, China time.
        let warn = warning_time(date("2026-03-03"), TimeDelta::days(3));
        assert_eq!(warn.to_rfc3339(), "2026-03-02T16:00:00+00:00");
    }

    #[test]
    fn limit_kinds_round_trip_their_codes() {
        for kind in LimitKind::ALL {
            assert_eq!(LimitKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(LimitKind::from_code("other"), None);
    }
}
