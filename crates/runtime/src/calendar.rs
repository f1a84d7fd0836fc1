//! The holiday calendar as data: one `YYYY.toml` per year in a directory, read at start and
//! again while the service runs, so an operator can add next year's file without a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::NaiveDate;
use residence_rules::calendar::{Calendar, CalendarError, YearSchedule};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::time;

/// Why the calendar directory could not be loaded; each names the directory or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum CalendarLoadError {
    /// The directory is missing or cannot be listed.
    #[error("cannot read calendar directory {}: {cause}", dir.display())]
    Directory { dir: PathBuf, cause: std::io::Error },
    /// A file in it cannot be read.
    #[error("cannot read calendar {}: {cause}", file.display())]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// What the file system said.
        cause: std::io::Error,
    },
    /// A file is not a valid year schedule.
    #[error("calendar {} is not valid: {cause}", file.display())]
    Invalid { file: PathBuf, cause: CalendarError },
    /// Two files give a schedule for the same year.
    #[error(
        "calendar {} gives {year} again, already given by {}",
        file.display(),
        first.display()
    )]
    DuplicateYear {
        /// The later file, in name order.
        file: PathBuf,
        /// The file that gave the year first.
        first: PathBuf,
        /// The year given twice.
        year: i32,
    },
}

impl CalendarLoadError {
    /// The directory or file at fault.
    pub fn path(&self) -> &Path {
        match self {
            Self::Directory { dir, .. } => dir,
            Self::Unreadable { file, .. }
            | Self::Invalid { file, .. }
            | Self::DuplicateYear { file, .. } => file,
        }
    }
}

/// Loads every `YYYY.toml` in `dir` into a calendar. Years without a file are computed from
/// weekends alone and reported as unconfirmed.
pub fn load_calendar(dir: &Path) -> Result<Calendar, CalendarLoadError> {
    let mut by_year: BTreeMap<i32, (PathBuf, YearSchedule)> = BTreeMap::new();
    for file in schedule_files(dir)? {
        let schedule = read_schedule(&file)?;
        if let Some((first, _)) = by_year.get(&schedule.year) {
            return Err(CalendarLoadError::DuplicateYear {
                first: first.clone(),
                year: schedule.year,
                file,
            });
        }
        by_year.insert(schedule.year, (file, schedule));
    }
    let schedules = by_year
        .into_values()
        .map(|(_, schedule)| schedule)
        .collect();
    // Each schedule was validated on reading and no year repeats, so this cannot fail; the
    // error still names the directory rather than panicking.
    Calendar::new(schedules).map_err(|cause| CalendarLoadError::Invalid {
        file: dir.to_owned(),
        cause,
    })
}

/// The `.toml` files in `dir`, sorted so that errors and duplicates come out the same way on
/// every run.
fn schedule_files(dir: &Path) -> Result<Vec<PathBuf>, CalendarLoadError> {
    let directory = |cause| CalendarLoadError::Directory {
        dir: dir.to_owned(),
        cause,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(directory)? {
        let path = entry.map_err(directory)?.path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_schedule(file: &Path) -> Result<YearSchedule, CalendarLoadError> {
    let text = std::fs::read_to_string(file).map_err(|cause| CalendarLoadError::Unreadable {
        file: file.to_owned(),
        cause,
    })?;
    YearSchedule::from_toml(&text).map_err(|cause| CalendarLoadError::Invalid {
        file: file.to_owned(),
        cause,
    })
}

/// The calendar every part of a service reads, replaced as a whole when the directory is read
/// again. Cheap to clone; clones share the same calendar.
#[derive(Clone, Debug)]
pub struct SharedCalendar {
    dir: Arc<Path>,
    current: Arc<RwLock<Arc<Calendar>>>,
}

/// What a reload found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The files say something new; the calendar was replaced.
    Changed,
    /// The files say what the calendar already held.
    Unchanged,
}

impl SharedCalendar {
    /// Loads the calendar in `dir`.
    pub fn load(dir: &Path) -> Result<Self, CalendarLoadError> {
        let calendar = load_calendar(dir)?;
        Ok(Self {
            dir: Arc::from(dir),
            current: Arc::new(RwLock::new(Arc::new(calendar))),
        })
    }

    /// The directory the calendar is read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The calendar as last loaded. Hold on to it for one computation, so that the computation
    /// sees one version throughout.
    pub fn current(&self) -> Arc<Calendar> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&current)
    }

    /// Reads the directory again. On an error the previous calendar stays in use.
    pub fn reload(&self) -> Result<Reloaded, CalendarLoadError> {
        let fresh = load_calendar(&self.dir)?;
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if **current == fresh {
            return Ok(Reloaded::Unchanged);
        }
        *current = Arc::new(fresh);
        Ok(Reloaded::Changed)
    }
}

/// The warning to log on `today`, if any, given the day the last one was logged: a schedule
/// is missing (next year's from December on, see [`Calendar::missing_next_year_warning`]),
/// and nothing was logged yet today.
pub fn warning_due(
    calendar: &Calendar,
    today: NaiveDate,
    last_warned_on: Option<NaiveDate>,
) -> Option<String> {
    if last_warned_on == Some(today) {
        return None;
    }
    calendar.missing_next_year_warning(today)
}

/// Starts the task that keeps `calendar` current until `shutdown`: it reads the directory
/// again every `every` and on SIGHUP, and warns at start and at most once a China day while a
/// schedule is missing.
pub fn spawn_watch(
    calendar: SharedCalendar,
    every: Duration,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    // Registered before returning, so that a SIGHUP from now on reloads instead of ending
    // the process.
    let hangup = match signal(SignalKind::hangup()) {
        Ok(hangup) => Some(hangup),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; the calendar reloads on a timer");
            None
        }
    };
    tokio::spawn(watch(calendar, every, hangup, shutdown))
}

async fn watch(
    calendar: SharedCalendar,
    every: Duration,
    mut hangup: Option<Signal>,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_warned_on = None;
    loop {
        let today = time::china_today();
        if let Some(warning) = warning_due(&calendar.current(), today, last_warned_on) {
            let dir = calendar.dir().display();
            tracing::warn!(%warning, calendar.dir = %dir, "holiday calendar incomplete");
            last_warned_on = Some(today);
        }

        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
            Some(()) = next_hangup(&mut hangup) => {
                tracing::info!("reloading the holiday calendar on SIGHUP");
            }
        }
        reload_logged(&calendar);
    }
}

async fn next_hangup(hangup: &mut Option<Signal>) -> Option<()> {
    match hangup {
        Some(hangup) => hangup.recv().await,
        None => std::future::pending().await,
    }
}

/// Reloads `calendar`, logging what changed, or the error and that the old calendar stays.
fn reload_logged(calendar: &SharedCalendar) {
    match calendar.reload() {
        Ok(Reloaded::Changed) => {
            let years = calendar.current().years();
            tracing::info!(calendar.years = ?years, "holiday calendar reloaded");
        }
        Ok(Reloaded::Unchanged) => tracing::debug!("holiday calendar unchanged"),
        Err(error) => tracing::error!(
            calendar.path = %error.path().display(),
            %error,
            "holiday calendar not reloaded; keeping the previous one"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A calendar directory under the system's temporary folder, removed on drop.
    struct CalendarDir(PathBuf);

    impl CalendarDir {
        fn new(name: &str) -> Self {
            let unique = format!("residence-calendar-{name}-{}", std::process::id());
            let dir = std::env::temp_dir().join(unique);
            // Left over from an earlier run that was killed; nothing else uses the name.
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, file: &str, text: &str) {
            std::fs::write(self.0.join(file), text).unwrap();
        }

        fn write_year(&self, year: i32) {
            let text = format!(
                "year = {year}\nsource = \"test notice\"\n\
                 holidays = [{{ name = \"元旦\", from = \"{year}-01-01\" }}]\n"
            );
            self.write(&format!("{year}.toml"), &text);
        }
    }

    impl Drop for CalendarDir {
        fn drop(&mut self) {
            // Best effort: a leftover temporary folder does no harm.
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_file_added_later_is_confirmed_after_a_reload() {
        let dir = CalendarDir::new("added");
        dir.write_year(2026);
        let calendar = SharedCalendar::load(&dir.0).unwrap();
        let reader = calendar.clone();
        assert!(!reader.current().is_confirmed(2027));

        dir.write_year(2027);
        assert_eq!(calendar.reload().unwrap(), Reloaded::Changed);

        assert_eq!(reader.current().years(), [2026, 2027]);
        assert!(!reader.current().is_working_day(date("2027-01-01")));
        assert_eq!(calendar.reload().unwrap(), Reloaded::Unchanged);
    }

    #[test]
    fn a_malformed_file_on_reload_keeps_the_previous_calendar() {
        let dir = CalendarDir::new("malformed");
        dir.write_year(2026);
        let calendar = SharedCalendar::load(&dir.0).unwrap();

        dir.write("2027.toml", "year = 2027\nsource = \"\"\n");
        let error = calendar.reload().unwrap_err();

        assert_eq!(error.path(), dir.0.join("2027.toml"));
        assert!(error.to_string().contains("2027.toml"), "{error}");
        assert_eq!(calendar.current().years(), [2026]);
    }

    #[test]
    fn an_unreadable_directory_on_reload_keeps_the_previous_calendar() {
        let dir = CalendarDir::new("vanished");
        dir.write_year(2026);
        let calendar = SharedCalendar::load(&dir.0).unwrap();

        std::fs::remove_dir_all(&dir.0).unwrap();
        let error = calendar.reload().unwrap_err();

        assert!(
            matches!(error, CalendarLoadError::Directory { .. }),
            "{error}"
        );
        assert_eq!(calendar.current().years(), [2026]);
    }

    #[test]
    fn a_malformed_file_at_start_names_the_file() {
        let dir = CalendarDir::new("start");
        dir.write(
            "2026.toml",
            "year = 2026\nsource = \"notice\"\nholidays = 3\n",
        );

        let error = SharedCalendar::load(&dir.0).unwrap_err();

        assert_eq!(error.path(), dir.0.join("2026.toml"));
    }

    #[test]
    fn two_files_for_one_year_name_both() {
        let dir = CalendarDir::new("twice");
        dir.write_year(2026);
        dir.write("2026-copy.toml", "year = 2026\nsource = \"notice\"\n");

        let error = load_calendar(&dir.0).unwrap_err().to_string();

        assert!(error.contains("2026-copy.toml"), "{error}");
        assert!(error.contains("2026.toml"), "{error}");
    }

    #[test]
    fn files_other_than_toml_are_ignored() {
        let dir = CalendarDir::new("other");
        dir.write_year(2026);
        dir.write("README", "not a calendar");
        dir.write("2027.toml.swp", "half written");

        assert_eq!(load_calendar(&dir.0).unwrap().years(), [2026]);
    }

    #[test]
    fn next_year_missing_warns_from_december_once_a_day() {
        let only_2026 = Calendar::new(vec![
            YearSchedule::from_toml("year = 2026\nsource = \"notice\"\n").unwrap(),
        ])
        .unwrap();

        assert_eq!(warning_due(&only_2026, date("2026-11-30"), None), None);
        let first = warning_due(&only_2026, date("2026-12-01"), None).unwrap();
        assert!(first.contains("2027"), "{first}");

        let same_day = Some(date("2026-12-01"));
        assert_eq!(warning_due(&only_2026, date("2026-12-01"), same_day), None);
        assert!(warning_due(&only_2026, date("2026-12-02"), same_day).is_some());
    }

    #[test]
    fn no_warning_once_next_year_is_loaded() {
        let both = Calendar::new(vec![
            YearSchedule::from_toml("year = 2026\nsource = \"notice\"\n").unwrap(),
            YearSchedule::from_toml("year = 2027\nsource = \"notice\"\n").unwrap(),
        ])
        .unwrap();

        assert_eq!(warning_due(&both, date("2026-12-31"), None), None);
    }

    #[tokio::test]
    async fn the_watch_reloads_on_its_timer_and_stops_on_shutdown() {
        let dir = CalendarDir::new("watch");
        dir.write_year(2026);
        let calendar = SharedCalendar::load(&dir.0).unwrap();
        let shutdown = CancellationToken::new();
        let every = Duration::from_millis(20);
        let task = spawn_watch(calendar.clone(), every, shutdown.clone());

        dir.write_year(2027);
        let reloaded = async {
            while !calendar.current().is_confirmed(2027) {
                tokio::time::sleep(every).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), reloaded)
            .await
            .expect("the watch did not pick up the new file");

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the watch did not stop")
            .unwrap();
    }
}
