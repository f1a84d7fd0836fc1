//! What a run did, counted from the services' own databases and the partner simulators'
//! record files, never from the client's bookkeeping.

pub(crate) mod query;
mod records;
mod stats;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use records::{RecordTally, tally};
pub use stats::{
    CaseTimes, Timing, parse_timestamp, percentile, surplus, surplus_of_counts, timing,
};

use query::Store;

use crate::system::{Service, Simulator};

/// The services whose databases a summary reads.
const SERVICES_READ: [Service; 6] = [
    Service::Intake,
    Service::Review,
    Service::Decision,
    Service::Delivery,
    Service::Courier,
    Service::Elicense,
];

/// Where the services keep their state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Databases {
    /// One SQLite file per service, `<data_dir>/<service>.db`.
    Sqlite {
        /// The services' data folder.
        data_dir: PathBuf,
    },
    /// One PostgreSQL database; each service's tables live in the schema named after it.
    Postgres {
        /// The database URL.
        url: String,
    },
}

/// Everything a summary reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sources {
    /// The services' databases.
    pub databases: Databases,
    /// The folder holding the simulators' `<simulator>.jsonl` record files.
    pub records_dir: PathBuf,
}

/// Side effects that happened more than once, each the count beyond one per key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicates {
    /// Courier `waybills` rows beyond one per case.
    pub waybills: u64,
    /// E-license `licenses` rows beyond one per case.
    pub licenses: u64,
    /// Intake `case_steps` rows beyond one per case, status and note (a case may pass a status
    /// twice, as when a reviewer returns it, but never with the same note).
    pub case_steps: u64,
    /// Logistics partner records beyond one per parcel reference.
    pub logistics_records: u64,
    /// E-license platform records beyond one per license identifier.
    pub platform_records: u64,
}

impl Duplicates {
    /// All duplicate effects together.
    pub fn total(&self) -> u64 {
        self.waybills
            + self.licenses
            + self.case_steps
            + self.logistics_records
            + self.platform_records
    }
}

/// Counts of one run. Serialises to the JSON object the demo prints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Rows in intake `cases`.
    pub submitted: u64,
    /// Cases with `accepted_at` set (受理).
    pub accepted: u64,
    /// Cases refused at acceptance (不予受理).
    pub refused: u64,
    /// Refused cases per refusal reason code; a case refused for two reasons counts under both.
    pub refusals_by_reason: std::collections::BTreeMap<String, u64>,
    /// Cases sent one supplement notice (补正) and accepted once the applicant answered.
    pub supplement_round_trips: u64,
    /// Cases the automatic checks sent to a reviewer (rows in review `review_tasks`).
    #[serde(default)]
    pub manual_reviews: u64,
    /// Of those, cases a reviewer returned to the applicant for supplement.
    #[serde(default)]
    pub returned_by_review: u64,
    /// Cases a reviewer referred with findings to the deciding officer.
    #[serde(default)]
    pub referred_to_officer: u64,
    /// Decisions the deciding officer made on referred cases (`decided_by` set).
    #[serde(default)]
    pub decided_by_officer: u64,
    /// Decisions with outcome `approved`.
    pub approved: u64,
    /// Decisions with outcome `denied`.
    pub denied: u64,
    /// Deliveries in state `delivered`.
    pub delivered_by_courier: u64,
    /// Deliveries in state `collected`.
    pub collected_in_person: u64,
    /// Cases with at least one e-license.
    pub licenses_issued: u64,
    /// Distinct license identifiers the e-license platform recorded.
    pub licenses_acknowledged: u64,
    /// Cases not in a final status.
    pub not_final: u64,
    /// The sum of [`Duplicates`].
    pub duplicate_effects: u64,
    /// Where the duplicate effects are.
    pub duplicates: Duplicates,
    /// From the first case received to the last case closed.
    pub elapsed_ms: u64,
    /// Final cases per second over `elapsed_ms`.
    pub throughput_per_s: f64,
    /// Median time from receipt to final status.
    pub latency_p50_ms: u64,
    /// 99th percentile of the time from receipt to final status.
    pub latency_p99_ms: u64,
    /// Sources that could not be read, or rows that made no sense; empty when all is well.
    pub problems: Vec<String>,
}

impl Summary {
    /// Reads every source. A source that cannot be read leaves its counts at 0 and adds a
    /// line to `problems` instead of failing the whole summary.
    pub async fn collect(sources: &Sources) -> Summary {
        let mut summary = Summary::default();
        for service in SERVICES_READ {
            let read = match Store::open(&sources.databases, service).await {
                Ok(store) => {
                    let read = summary.read(service, &store).await;
                    store.close().await;
                    read
                }
                Err(error) => Err(error),
            };
            if let Err(error) = read {
                summary
                    .problems
                    .push(format!("{service} database: {error:#}"));
            }
        }
        summary.read_records(sources);
        summary.duplicate_effects = summary.duplicates.total();
        summary
    }

    /// Whether the run ended well: every case final, no duplicate effect, nothing unread.
    pub fn is_clean(&self) -> bool {
        self.not_final == 0 && self.duplicate_effects == 0 && self.problems.is_empty()
    }

    /// Cases in a final status.
    pub fn final_cases(&self) -> u64 {
        self.submitted.saturating_sub(self.not_final)
    }

    async fn read(&mut self, service: Service, store: &Store) -> anyhow::Result<()> {
        match service {
            Service::Intake => self.read_intake(store).await?,
            Service::Decision => {
                let outcomes = store.count_by("decisions", "outcome").await?;
                self.approved = outcomes.get("approved").copied().unwrap_or(0);
                self.denied = outcomes.get("denied").copied().unwrap_or(0);
                let by_officer = "decided_by IS NOT NULL";
                self.decided_by_officer = store.count_where("decisions", by_officer).await?;
            }
            Service::Delivery => {
                let states = store.count_by("deliveries", "state").await?;
                self.delivered_by_courier = states.get("delivered").copied().unwrap_or(0);
                self.collected_in_person = states.get("collected").copied().unwrap_or(0);
            }
            Service::Courier => {
                self.duplicates.waybills = store.surplus("waybills", "case_number").await?;
            }
            Service::Elicense => {
                self.licenses_issued = store.distinct("licenses", "case_number").await?;
                self.duplicates.licenses = store.surplus("licenses", "case_number").await?;
            }
            Service::Review => {
                let states = store.count_by("review_tasks", "state").await?;
                self.manual_reviews = states.values().sum();
                self.referred_to_officer = states.get("referred").copied().unwrap_or(0);
                self.returned_by_review =
                    store.count_where("review_tasks", "returned_once").await?;
            }
        }
        Ok(())
    }

    async fn read_intake(&mut self, store: &Store) -> anyhow::Result<()> {
        let counts = store.case_counts().await?;
        self.submitted = counts.submitted;
        self.accepted = counts.accepted;
        self.refused = counts.refused;
        self.not_final = counts.not_final;
        self.refusals_by_reason = store.refusals_by_reason().await?;
        self.supplement_round_trips = store.supplement_round_trips().await?;
        let step = "case_number, status, note";
        self.duplicates.case_steps = store.surplus("case_steps", step).await?;

        let (times, unreadable) = store.case_times().await?;
        if unreadable > 0 {
            self.problems.push(format!(
                "intake database: {unreadable} cases with unreadable times"
            ));
        }
        self.set_timing(timing(&times));
        Ok(())
    }

    fn set_timing(&mut self, timing: Timing) {
        self.elapsed_ms = timing.elapsed_ms;
        self.throughput_per_s = timing.throughput_per_s;
        self.latency_p50_ms = timing.latency_p50_ms;
        self.latency_p99_ms = timing.latency_p99_ms;
    }

    fn read_records(&mut self, sources: &Sources) {
        let logistics = Simulator::LogisticsPartner.record_file(&sources.records_dir);
        match tally(&logistics, "parcel_reference") {
            Ok(tally) => {
                self.duplicates.logistics_records = tally.surplus;
                self.note_unreadable(Simulator::LogisticsPartner, &tally);
            }
            Err(error) => self
                .problems
                .push(format!("{}: {error}", logistics.display())),
        }

        let platform = Simulator::ElicensePlatform.record_file(&sources.records_dir);
        match tally(&platform, "identifier") {
            Ok(tally) => {
                self.licenses_acknowledged = tally.distinct;
                self.duplicates.platform_records = tally.surplus;
                self.note_unreadable(Simulator::ElicensePlatform, &tally);
            }
            Err(error) => self
                .problems
                .push(format!("{}: {error}", platform.display())),
        }
    }

    fn note_unreadable(&mut self, simulator: Simulator, tally: &RecordTally) {
        if tally.unreadable > 0 {
            self.problems.push(format!(
                "{} records: {} of {} lines unreadable",
                simulator.name(),
                tally.unreadable,
                tally.lines
            ));
        }
    }
}

impl fmt::Display for Summary {
    /// A two-column table for people.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = [
            ("submitted", self.submitted),
            ("accepted", self.accepted),
            ("refused", self.refused),
            ("supplement round trips", self.supplement_round_trips),
            ("manual reviews", self.manual_reviews),
            ("  returned for supplement", self.returned_by_review),
            ("  referred to the officer", self.referred_to_officer),
            ("approved", self.approved),
            ("denied", self.denied),
            ("  by the officer", self.decided_by_officer),
            ("delivered by courier", self.delivered_by_courier),
            ("collected in person", self.collected_in_person),
            ("licenses issued", self.licenses_issued),
            ("licenses acknowledged", self.licenses_acknowledged),
            ("not final", self.not_final),
            ("duplicate effects", self.duplicate_effects),
        ];
        for (label, value) in counts {
            writeln!(f, "  {label:<26}{value:>10}")?;
        }
        if !self.refusals_by_reason.is_empty() {
            let reasons: Vec<String> = self
                .refusals_by_reason
                .iter()
                .map(|(code, n)| format!("{code} {n}"))
                .collect();
            writeln!(f, "    refused for: {}", reasons.join(", "))?;
        }
        let d = &self.duplicates;
        if d.total() > 0 {
            writeln!(
                f,
                "    waybills {}, licenses {}, case steps {}, logistics records {}, \
                 platform records {}",
                d.waybills, d.licenses, d.case_steps, d.logistics_records, d.platform_records
            )?;
        }
        writeln!(
            f,
            "  {:<26}{:>10.1} s",
            "elapsed",
            self.elapsed_ms as f64 / 1000.0
        )?;
        writeln!(
            f,
            "  {:<26}{:>10.2} cases/s",
            "throughput", self.throughput_per_s
        )?;
        writeln!(f, "  {:<26}{:>10} ms", "latency p50", self.latency_p50_ms)?;
        writeln!(f, "  {:<26}{:>10} ms", "latency p99", self.latency_p99_ms)?;
        for problem in &self.problems {
            writeln!(f, "  problem: {problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
