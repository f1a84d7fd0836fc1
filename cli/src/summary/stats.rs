//! The arithmetic of a summary: percentiles, duplicate counts and timestamps as stored.

use std::collections::HashMap;
use std::hash::Hash;

use chrono::{DateTime, NaiveDateTime, Utc};

/// How long cases took, read from the intake database.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    /// From the first case received to the last case closed.
    pub elapsed_ms: u64,
    /// Final cases per second over `elapsed_ms`.
    pub throughput_per_s: f64,
    /// Median time from receipt to the final status.
    pub latency_p50_ms: u64,
    /// 99th percentile of the time from receipt to the final status.
    pub latency_p99_ms: u64,
}

/// One case's receipt and, once final, closing time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaseTimes {
    /// `cases.received_at`.
    pub received_at: DateTime<Utc>,
    /// `cases.closed_at`, set when the case reached a final status.
    pub closed_at: Option<DateTime<Utc>>,
}

/// Latency percentiles over the closed cases and throughput over the span the cases cover.
///
/// A case closed before it was received (clock trouble) counts as 0 ms. With no closed case
/// every figure is 0.
pub fn timing(cases: &[CaseTimes]) -> Timing {
    let mut latencies: Vec<u64> = cases
        .iter()
        .filter_map(|case| Some(millis_between(case.received_at, case.closed_at?)))
        .collect();
    latencies.sort_unstable();

    let first_received = cases.iter().map(|case| case.received_at).min();
    let last_closed = cases.iter().filter_map(|case| case.closed_at).max();
    let elapsed_ms = match (first_received, last_closed) {
        (Some(first), Some(last)) => millis_between(first, last),
        _ => 0,
    };
    let throughput_per_s = if elapsed_ms == 0 {
        0.0
    } else {
        round_to_hundredths(latencies.len() as f64 * 1000.0 / elapsed_ms as f64)
    };

    Timing {
        elapsed_ms,
        throughput_per_s,
        latency_p50_ms: percentile(&latencies, 50.0),
        latency_p99_ms: percentile(&latencies, 99.0),
    }
}

/// The nearest-rank `p`th percentile of `sorted` (ascending): the smallest value with at
/// least `p` percent of the values at or below it. 0 for no values.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p.clamp(0.0, 100.0) / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// How many of `keys` repeat an earlier one: the count beyond one per distinct key.
pub fn surplus<K: Hash + Eq>(keys: impl IntoIterator<Item = K>) -> u64 {
    let mut seen: HashMap<K, u64> = HashMap::new();
    for key in keys {
        *seen.entry(key).or_default() += 1;
    }
    surplus_of_counts(seen.into_values())
}

/// The count beyond one per group, given each group's size.
pub fn surplus_of_counts(counts: impl IntoIterator<Item = u64>) -> u64 {
    counts
        .into_iter()
        .map(|count| count.saturating_sub(1))
        .sum()
}

/// Reads a timestamp the way SQLite or PostgreSQL hand it back as text: RFC 3339, with a
/// space instead of the `T`, with a `+00:00`, `+00` or `Z` offset, or with none (taken as UTC).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.to_utc());
    }
    let with_offset = ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"];
    if let Some(instant) = with_offset
        .iter()
        .find_map(|format| DateTime::parse_from_str(text, format).ok())
    {
        return Some(instant.to_utc());
    }
    let without_offset = text.strip_suffix(" UTC").unwrap_or(text);
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(without_offset, format).ok())
        .map(|naive| naive.and_utc())
}

fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_milliseconds()).unwrap_or(0)
}

fn round_to_hundredths(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(seconds: i64, millis: u32) -> DateTime<Utc> {
        let base = Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 0).unwrap();
        base + chrono::Duration::seconds(seconds) + chrono::Duration::milliseconds(millis.into())
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), 50);
        assert_eq!(percentile(&values, 99.0), 99);
        assert_eq!(percentile(&values, 100.0), 100);
        assert_eq!(percentile(&values, 0.0), 1);
        assert_eq!(percentile(&[7], 50.0), 7);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 99.0), 4);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn surplus_counts_repeats_beyond_the_first() {
        assert_eq!(surplus(["a", "b", "c"]), 0);
        assert_eq!(surplus(["a", "a", "b", "a", "c", "c"]), 3);
        assert_eq!(surplus(Vec::<&str>::new()), 0);
        assert_eq!(surplus([("case-1", "accepted"), ("case-1", "accepted")]), 1);
        assert_eq!(surplus([("case-1", "accepted"), ("case-1", "approved")]), 0);
        assert_eq!(surplus_of_counts([1, 3, 2, 0]), 3);
    }

    #[test]
    fn timing_spans_first_receipt_to_last_close() {
        let cases = [
            CaseTimes {
                received_at: at(0, 0),
                closed_at: Some(at(2, 0)),
            },
            CaseTimes {
                received_at: at(1, 0),
                closed_at: Some(at(1, 500)),
            },
            CaseTimes {
                received_at: at(3, 0),
                closed_at: None,
            },
            CaseTimes {
                received_at: at(4, 0),
                closed_at: Some(at(8, 0)),
            },
        ];
        let timing = timing(&cases);
        assert_eq!(timing.elapsed_ms, 8_000);
        assert_eq!(timing.latency_p50_ms, 2_000);
        assert_eq!(timing.latency_p99_ms, 4_000);
        assert_eq!(timing.throughput_per_s, 0.38);
        assert_eq!(super::timing(&[]), Timing::default());
    }

    #[test]
    fn reads_timestamps_as_both_databases_print_them() {
        let expected = at(0, 123);
        let sqlite = parse_timestamp("2026-12-04 08:00:00.123456+00:00").unwrap();
        assert_eq!(sqlite.timestamp_millis(), expected.timestamp_millis());
        let rfc3339 = parse_timestamp("2026-12-04T08:00:00.123456Z").unwrap();
        assert_eq!(rfc3339, sqlite);
        let postgres = parse_timestamp("2026-12-04 16:00:00.123456+08").unwrap();
        assert_eq!(postgres, sqlite);
        let postgres_utc = parse_timestamp("2026-12-04 08:00:00.123456+00").unwrap();
        assert_eq!(postgres_utc, sqlite);
        let naive = parse_timestamp("2026-12-04 08:00:00.123456").unwrap();
        assert_eq!(naive, sqlite);
        assert_eq!(parse_timestamp("2026-12-04 08:00:00+00:00"), Some(at(0, 0)));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }
}
