//! Working days (工作日) for time limits: Monday to Friday, minus the State Council's holidays,
//! plus its make-up working days. Each year's schedule is data, loaded by the caller.

mod schedule;

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Serialize;

pub use schedule::{CalendarError, YearSchedule};

/// Weekdays in any run of seven consecutive days.
const WORKING_DAYS_PER_WEEK: u32 = 5;

/// A computed due date and whether it rests on published schedules only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct DueDate {
    /// The working day the limit ends on (at the end of that day).
    pub date: NaiveDate,
    /// False when a day looked at lies in a year without a loaded schedule, so weekends alone
    /// decided it and a later holiday notice may move it.
    pub confirmed: bool,
}

/// The working-day calendar over all loaded year schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    schedules: BTreeMap<i32, YearSchedule>,
}

impl Calendar {
    /// Builds a calendar, validating each schedule and rejecting a year given twice.
    pub fn new(schedules: Vec<YearSchedule>) -> Result<Self, CalendarError> {
        let mut by_year = BTreeMap::new();
        for schedule in schedules {
            schedule.validate()?;
            let year = schedule.year;
            if by_year.insert(year, schedule.sorted()).is_some() {
                return Err(CalendarError::DuplicateYear(year));
            }
        }
        Ok(Self { schedules: by_year })
    }

    /// The years with a loaded schedule, ascending.
    pub fn years(&self) -> Vec<i32> {
        self.schedules.keys().copied().collect()
    }

    /// The loaded schedule for `year`, if any.
    pub fn schedule(&self, year: i32) -> Option<&YearSchedule> {
        self.schedules.get(&year)
    }

    /// True when the schedule for `year` is loaded.
    pub fn is_confirmed(&self, year: i32) -> bool {
        self.schedules.contains_key(&year)
    }

    /// True when `date` is a working day; a year without a schedule counts weekends only.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        let weekday = !matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        match self.schedules.get(&date.year()) {
            Some(schedule) if schedule.is_makeup_working_day(date) => true,
            Some(schedule) if schedule.is_holiday(date) => false,
            _ => weekday,
        }
    }

    /// The day a limit of `n` working days ends when counting starts the day after `from`.
    ///
    /// The day of acceptance is not counted (民法典 Art. 201), so accepted on D with `n = 1`
    /// the limit ends with the first working day after D. With `n = 0` it is `from` itself,
    /// confirmed. Beyond the last representable date it saturates there, unconfirmed.
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> DueDate {
        let mut walk = Walk {
            calendar: self,
            day: from,
            confirmed: true,
        };
        let mut remaining = n;
        while remaining > 0 {
            let Some(left) = walk.skip_unscheduled_weeks(remaining) else {
                return DueDate::SATURATED;
            };
            remaining = left;
            if !walk.step() {
                return DueDate::SATURATED;
            }
            if self.is_working_day(walk.day) {
                remaining -= 1;
            }
        }
        walk.due()
    }

    /// `date` if it is a working day, otherwise the next one (民法典 Art. 203).
    pub fn next_working_day_on_or_after(&self, date: NaiveDate) -> DueDate {
        let confirmed = self.is_confirmed(date.year());
        let mut walk = Walk {
            calendar: self,
            day: date,
            confirmed,
        };
        while !self.is_working_day(walk.day) {
            if !walk.step() {
                return DueDate::SATURATED;
            }
        }
        walk.due()
    }

    /// A warning for operators when due dates are about to rest on weekends alone.
    ///
    /// From December 1 on, warns when next year's schedule is missing; at any time, warns when
    /// the current year's is missing.
    pub fn missing_next_year_warning(&self, today: NaiveDate) -> Option<String> {
        let year = today.year();
        let missing = if !self.is_confirmed(year) {
            year
        } else if today.month() == 12 && !self.is_confirmed(year + 1) {
            year + 1
        } else {
            return None;
        };
        Some(format!(
            "holiday schedule for {missing} is not loaded: working days in {missing} count \
             weekends only and due dates are marked unconfirmed until it is"
        ))
    }

    fn last_year(&self) -> Option<i32> {
        self.schedules.keys().next_back().copied()
    }
}

impl DueDate {
    /// What a count returns when it runs past the last representable date.
    const SATURATED: Self = Self {
        date: NaiveDate::MAX,
        confirmed: false,
    };
}

/// A day-by-day walk that remembers whether every day it looked at had a schedule.
struct Walk<'a> {
    calendar: &'a Calendar,
    day: NaiveDate,
    confirmed: bool,
}

impl Walk<'_> {
    /// Moves to the next day; false when there is none.
    fn step(&mut self) -> bool {
        let Some(next) = self.day.succ_opt() else {
            return false;
        };
        self.day = next;
        self.confirmed &= self.calendar.is_confirmed(next.year());
        true
    }

    /// Past the last schedule every seven days hold five working days, so whole weeks are
    /// jumped at once while more than a week's worth remains. Returns the working days left,
    /// or `None` when the jump runs past the last representable date.
    fn skip_unscheduled_weeks(&mut self, remaining: u32) -> Option<u32> {
        let year = self.day.year();
        let past_schedules = self.calendar.last_year().is_none_or(|last| year > last);
        if remaining <= WORKING_DAYS_PER_WEEK || !past_schedules {
            return Some(remaining);
        }
        let weeks = (remaining - 1) / WORKING_DAYS_PER_WEEK;
        self.day = self.day.checked_add_days(Days::new(u64::from(weeks) * 7))?;
        self.confirmed = false;
        Some(remaining - weeks * WORKING_DAYS_PER_WEEK)
    }

    fn due(&self) -> DueDate {
        DueDate {
            date: self.day,
            confirmed: self.confirmed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A small 2026 schedule: Spring Festival and its two make-up Saturdays.
    fn calendar() -> Calendar {
        let schedule = YearSchedule {
            year: 2026,
            holidays: (15..=23).map(|d| date(2026, 2, d)).collect(),
            makeup_working_days: vec![date(2026, 2, 28), date(2026, 2, 14)],
            source: "test".into(),
        };
        Calendar::new(vec![schedule]).unwrap()
    }

    #[test]
    fn working_days_follow_the_schedule_then_weekends() {
        let calendar = calendar();
        assert!(calendar.is_working_day(date(2026, 2, 13)));
        assert!(calendar.is_working_day(date(2026, 2, 14)));
        assert!(!calendar.is_working_day(date(2026, 2, 16)));
        assert!(!calendar.is_working_day(date(2026, 3, 1)));
        assert!(calendar.is_working_day(date(2027, 1, 1)));
        assert!(!calendar.is_working_day(date(2027, 1, 2)));
    }

    #[test]
    fn the_day_of_acceptance_is_not_counted() {
        let calendar = calendar();
        let due = calendar.add_working_days(date(2026, 2, 13), 1);
        assert_eq!(
            due,
            DueDate {
                date: date(2026, 2, 14),
                confirmed: true
            }
        );
        let due = calendar.add_working_days(date(2026, 2, 14), 1);
        assert_eq!(
            due,
            DueDate {
                date: date(2026, 2, 24),
                confirmed: true
            }
        );
        let due = calendar.add_working_days(date(2026, 2, 14), 0);
        assert_eq!(
            due,
            DueDate {
                date: date(2026, 2, 14),
                confirmed: true
            }
        );
    }

    #[test]
    fn days_in_unloaded_years_are_unconfirmed() {
        let calendar = calendar();
        let due = calendar.add_working_days(date(2026, 12, 31), 1);
        assert_eq!(
            due,
            DueDate {
                date: date(2027, 1, 1),
                confirmed: false
            }
        );
        let due = calendar.next_working_day_on_or_after(date(2025, 12, 27));
        assert_eq!(
            due,
            DueDate {
                date: date(2025, 12, 29),
                confirmed: false
            }
        );
    }

    #[test]
    fn week_jumps_agree_with_counting_day_by_day() {
        let calendar = calendar();
        let start = date(2026, 12, 20);
        for n in 0..40 {
            let mut day = start;
            let mut left = n;
            while left > 0 {
                day = day.succ_opt().unwrap();
                left -= u32::from(calendar.is_working_day(day));
            }
            assert_eq!(calendar.add_working_days(start, n).date, day, "n = {n}");
        }
    }

    #[test]
    fn huge_counts_saturate_without_panicking() {
        let calendar = calendar();
        let due = calendar.add_working_days(date(2026, 1, 1), u32::MAX);
        assert_eq!(due, DueDate::SATURATED);
        assert_eq!(
            calendar.add_working_days(NaiveDate::MAX, 1),
            DueDate::SATURATED
        );
        assert_eq!(
            Calendar::new(vec![])
                .unwrap()
                .add_working_days(date(1, 1, 1), u32::MAX)
                .date,
            NaiveDate::MAX
        );
    }

    #[test]
    fn rejects_a_year_given_twice() {
        let twice = vec![
            calendar().schedules[&2026].clone(),
            calendar().schedules[&2026].clone(),
        ];
        assert_eq!(
            Calendar::new(twice),
            Err(CalendarError::DuplicateYear(2026))
        );
    }

    #[test]
    fn warns_in_december_about_next_year() {
        let calendar = calendar();
        assert_eq!(calendar.missing_next_year_warning(date(2026, 11, 30)), None);
        let warning = calendar
            .missing_next_year_warning(date(2026, 12, 1))
            .unwrap();
        assert!(warning.contains("2027"), "{warning}");
        let warning = calendar
            .missing_next_year_warning(date(2027, 3, 1))
            .unwrap();
        assert!(warning.contains("2027"), "{warning}");
    }

    #[test]
    fn lists_loaded_years() {
        assert_eq!(calendar().years(), [2026]);
        assert!(calendar().is_confirmed(2026));
        assert!(!calendar().is_confirmed(2025));
        assert_eq!(
            calendar().schedule(2026).map(|s| s.source.as_str()),
            Some("test")
        );
    }
}
