//! Reading a run back: case times from the services' databases, costs per application, and
//! CPU and memory from `/proc`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::SERVICES;
use crate::summary::query::{Store, count};
use crate::summary::{parse_timestamp, percentile};
use crate::system::{Service, System};

/// Kernel clock ticks per second for `/proc/<pid>/stat` times: 100 on every Linux build this
/// runs on (x86_64 and aarch64 fix `USER_HZ` at 100).
const TICKS_PER_SECOND: f64 = 100.0;

/// p50, p99 and maximum, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    pub samples: usize,
}

impl Percentiles {
    fn of(mut millis: Vec<u64>) -> Self {
        millis.sort_unstable();
        Self {
            p50_ms: percentile(&millis, 50.0),
            p99_ms: percentile(&millis, 99.0),
            max_ms: millis.last().copied().unwrap_or(0),
            samples: millis.len(),
        }
    }
}

/// Latency of one stage: from the step before it to its own.
#[derive(Clone, Debug, Serialize)]
pub struct StageLatency {
    pub stage: String,
    pub latency: Percentiles,
}

/// One service process's resources.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessUsage {
    pub name: String,
    /// User and system CPU time spent between the idle reading and the end of the run.
    pub cpu_seconds: f64,
    /// Peak resident memory (`VmHWM`) at the end of the run.
    pub peak_mib: f64,
    /// Resident memory (`VmRSS`) when idle after start.
    pub idle_mib: f64,
}

/// A reading of one process.
#[derive(Clone, Debug)]
pub struct Reading {
    name: String,
    cpu_ticks: u64,
    rss_kib: u64,
    hwm_kib: u64,
}

/// Reads every service process now.
pub fn usage_now(system: &System) -> Vec<Reading> {
    SERVICES
        .iter()
        .filter_map(|service| {
            let process = system.process(service.name())?;
            let pid = process.pid()?;
            read_process(service.name(), pid)
        })
        .collect()
}

fn read_process(name: &str, pid: u32) -> Option<Reading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some(Reading {
        name: name.to_owned(),
        cpu_ticks: utime + stime,
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    })
}

/// Per process: CPU between the two readings, peak memory at the second, idle at the first.
pub fn usage_between(idle: &[Reading], busy: &[Reading]) -> Vec<ProcessUsage> {
    busy.iter()
        .map(|end| {
            let start = idle.iter().find(|reading| reading.name == end.name);
            let ticks = end
                .cpu_ticks
                .saturating_sub(start.map_or(0, |start| start.cpu_ticks));
            ProcessUsage {
                name: end.name.clone(),
                cpu_seconds: ticks as f64 / TICKS_PER_SECOND,
                peak_mib: end.hwm_kib as f64 / 1024.0,
                idle_mib: start.map_or(0, |start| start.rss_kib) as f64 / 1024.0,
            }
        })
        .collect()
}

async fn open(system: &System, service: Service) -> Result<Store> {
    Store::open(&super::sources(system).databases, service).await
}

/// Waits until `expected` cases are closed with their license known to intake, or the
/// timeout passes. Returns how many were.
pub async fn wait_for_completion(
    system: &System,
    expected: usize,
    timeout: Duration,
) -> Result<usize> {
    let deadline = Instant::now() + timeout;
    let intake = open(system, Service::Intake).await?;
    let sql = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE is_final AND license_identifier IS NOT NULL",
        intake.table("cases")
    );
    let mut done = 0;
    while Instant::now() < deadline {
        done = usize::try_from(count(&intake.query_one(&sql).await?, "n")?).unwrap_or(0);
        if done >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    intake.close().await;
    if done < expected {
        eprintln!("only {done} of {expected} cases completed before the timeout");
    }
    Ok(done)
}

/// One case's times, each read from the service that made it happen.
#[derive(Clone, Debug, Default)]
pub struct CaseTimes {
    pub instants: HashMap<&'static str, DateTime<Utc>>,
}

impl CaseTimes {
    fn at(&self, name: &str) -> Option<DateTime<Utc>> {
        self.instants.get(name).copied()
    }

    /// Delivered with its license issued: the later of the two.
    fn completed_at(&self) -> Option<DateTime<Utc>> {
        Some(self.at("delivered")?.max(self.at("licensed")?))
    }
}

/// Where each instant of a case is read: service, table, time column, name.
const INSTANTS: [(Service, &str, &str, &str); 9] = [
    (Service::Intake, "cases", "received_at", "received"),
    (Service::Intake, "cases", "accepted_at", "accepted"),
    (Service::Review, "reviews", "reviewed_at", "reviewed"),
    (Service::Decision, "decisions", "decided_at", "decided"),
    (
        Service::Delivery,
        "deliveries",
        "started_at",
        "delivery started",
    ),
    (
        Service::Courier,
        "waybills",
        "requested_at",
        "waybill requested",
    ),
    (Service::Delivery, "deliveries", "completed_at", "delivered"),
    (Service::Elicense, "licenses", "created_at", "licensed"),
    (Service::Intake, "cases", "closed_at", "closed in intake"),
];

/// Every case's instants, from the services' own tables.
pub async fn read_cases(system: &System) -> Result<Vec<CaseTimes>> {
    let mut cases: HashMap<String, CaseTimes> = HashMap::new();
    for (service, table, column, name) in INSTANTS {
        let store = open(system, service).await?;
        let sql = format!(
            "SELECT case_number, CAST({column} AS TEXT) AS at FROM {} WHERE {column} IS NOT NULL",
            store.table(table)
        );
        for row in store.query_all(&sql).await? {
            let number: String = row.try_get("", "case_number")?;
            let at: Option<String> = row.try_get("", "at")?;
            if let Some(at) = at.as_deref().and_then(parse_timestamp) {
                // The earliest counts: a license's first version, say.
                cases
                    .entry(number)
                    .or_default()
                    .instants
                    .entry(name)
                    .and_modify(|earlier| *earlier = (*earlier).min(at))
                    .or_insert(at);
            }
        }
        store.close().await;
    }
    Ok(cases.into_values().collect())
}

fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_milliseconds()).unwrap_or(0)
}

/// Submission (收件) to closed with the license, per completed case.
pub fn end_to_end(cases: &[CaseTimes]) -> Percentiles {
    Percentiles::of(
        cases
            .iter()
            .filter_map(|case| Some(millis(case.at("received")?, case.completed_at()?)))
            .collect(),
    )
}

/// Completed cases per second from the first submission to the last completion.
pub fn throughput(cases: &[CaseTimes]) -> f64 {
    let first = cases.iter().filter_map(|case| case.at("received")).min();
    let last = cases.iter().filter_map(CaseTimes::completed_at).max();
    let completed = cases
        .iter()
        .filter(|case| case.completed_at().is_some())
        .count();
    match (first, last) {
        (Some(first), Some(last)) if last > first => {
            completed as f64 / ((last - first).num_milliseconds() as f64 / 1000.0)
        }
        _ => 0.0,
    }
}

/// The stages in order: name, from, to.
const STAGES: [(&str, &str, &str); 8] = [
    ("受理 accept", "received", "accepted"),
    ("审核 review", "accepted", "reviewed"),
    ("决定 decide", "reviewed", "decided"),
    ("送达 start", "decided", "delivery started"),
    ("courier dispatch", "delivery started", "waybill requested"),
    ("送达 deliver", "waybill requested", "delivered"),
    ("e-license", "decided", "licensed"),
    ("intake follows", "delivered", "closed in intake"),
];

/// Latency per stage over the cases that passed it.
pub fn stage_latencies(cases: &[CaseTimes]) -> Vec<StageLatency> {
    STAGES
        .iter()
        .map(|(stage, from, to)| StageLatency {
            stage: (*stage).to_owned(),
            latency: Percentiles::of(
                cases
                    .iter()
                    .filter_map(|case| Some(millis(case.at(from)?, case.at(to)?)))
                    .collect(),
            ),
        })
        .collect()
}

/// What one application cost, counted from the run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Costs {
    /// Events published through outboxes, plus the partner's status reports.
    pub messages_per_application: f64,
    /// Transactions that wrote: one per event a consumer applied (its inbox row), one per
    /// submission.
    pub commits_per_application: f64,
    /// The most of those commits that land in any one service's database.
    pub busiest_database_commits: f64,
    /// Mean payload size of the published events.
    pub average_message_bytes: usize,
}

/// Counts outbox and inbox rows in every service's database.
pub async fn costs(system: &System, applications: usize) -> Result<Costs> {
    if applications == 0 {
        bail!("no application was submitted");
    }
    let mut messages = 0u64;
    let mut bytes = 0u64;
    let mut commits = 0u64;
    let mut busiest = 0u64;
    for service in SERVICES {
        let store = open(system, service).await?;
        let sql = format!(
            "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(payload)), 0) AS bytes FROM {}",
            store.table("outbox")
        );
        let row = store.query_one(&sql).await?;
        let rows = count(&row, "n")?;
        messages += rows;
        // The payloads are sealed at rest: count the events' own size.
        bytes += residence_sealing::plain_bytes(count(&row, "bytes")?, rows);
        let sql = format!("SELECT COUNT(*) AS n FROM {}", store.table("inbox"));
        let mut applied = count(&store.query_one(&sql).await?, "n")?;
        if service == Service::Intake {
            applied += applications as u64;
        }
        commits += applied;
        busiest = busiest.max(applied);
        store.close().await;
    }
    // The partner answers every waybill with four statuses: accepted, picked up, in transit,
    // delivered.
    let partner_statuses = 4 * applications as u64;
    let per = |total: u64| total as f64 / applications as f64;
    Ok(Costs {
        messages_per_application: per(messages + partner_statuses),
        commits_per_application: per(commits),
        busiest_database_commits: per(busiest),
        average_message_bytes: usize::try_from(bytes / messages.max(1)).unwrap_or(1024),
    })
}
