//! Dates as the law counts them: in China Standard Time (UTC+8).

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, Utc};

/// China Standard Time.
pub fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// The calendar date of `instant` in China.
pub fn china_date(instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&china()).date_naive()
}

/// Today in China.
pub fn china_today() -> NaiveDate {
    china_date(Utc::now())
}

/// `instant` as RFC 3339 in China time, for people and API responses.
pub fn china_rfc3339(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&china())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Where a service reads the current instant: the system clock when it serves, a fixed instant
/// when a test replays dated cases through the same code.
#[derive(Clone)]
pub struct TimeSource(std::sync::Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl TimeSource {
    /// The system clock.
    pub fn system() -> Self {
        Self(std::sync::Arc::new(Utc::now))
    }

    /// Always `instant`.
    pub fn fixed(instant: DateTime<Utc>) -> Self {
        Self(std::sync::Arc::new(move || instant))
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for TimeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TimeSource").field(&self.now()).finish()
    }
}
